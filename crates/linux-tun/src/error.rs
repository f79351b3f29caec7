//! Typed errors. Syscall failures keep their `std::io::Error`.

use std::fmt;
use std::io;

/// Why opening, configuring or using a device failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `open("/dev/net/tun")` failed (module missing, no permission).
    #[error("open /dev/net/tun: {0}")]
    Open(#[source] io::Error),
    /// An ioctl or interface operation failed.
    #[error("{op} on {name:?}: {source}")]
    Device {
        /// The operation, to match on (its `Display` is the system call's name).
        op: DeviceOp,
        /// The device name (empty before the kernel assigned one).
        name: String,
        /// The kernel's answer.
        #[source]
        source: io::Error,
    },
    /// The interface name is longer than 15 bytes or contains `/`, a space or NUL.
    #[error("invalid interface name {0:?}")]
    InvalidName(String),
    /// A configuration value is out of range or inconsistent.
    #[error("invalid configuration: {0}")]
    InvalidConfig(&'static str),
    /// An offload mask with bits this crate cannot serve (outside
    /// [`OffloadFlags::ALL`](crate::OffloadFlags::ALL): it splits TCP and UDP super-packets,
    /// not UDP-tunnel ones).
    #[error("unsupported offload bits {0:#x}")]
    UnsupportedOffload(u32),
    /// The kernel refused an rtnetlink request about the device (an address or a route), or
    /// the request could not be made. The kernel's errno is `source.raw_os_error()`: e.g.
    /// `EEXIST` (`io::ErrorKind::AlreadyExists`) when the address or route is already there,
    /// `EADDRNOTAVAIL` or `ESRCH` when the one to delete is not.
    ///
    /// ```no_run
    /// use std::io::ErrorKind;
    /// use linux_tun::{DeviceOp, Error, Tun};
    /// let ctl = Tun::builder().name("tun0").up().open()?.control();
    /// match ctl.add_address("10.8.0.1".parse()?, 24) {
    ///     Ok(()) => {}
    ///     // Configured already (by an earlier run of this program, say): nothing to do.
    ///     Err(Error::Netlink { op: DeviceOp::AddAddress, source, .. })
    ///         if source.kind() == ErrorKind::AlreadyExists => {}
    ///     Err(e) => return Err(e.into()),
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "netlink")]
    #[cfg_attr(docsrs, doc(cfg(feature = "netlink")))]
    #[error("{op} on {name:?}: {source}")]
    Netlink {
        /// The request, to match on (its `Display` is the rtnetlink message type).
        op: DeviceOp,
        /// The device name.
        name: String,
        /// The kernel's answer: the errno of its `NLMSG_ERROR` reply, or of the socket call
        /// that failed; `InvalidData` for a reply that does not parse.
        #[source]
        source: io::Error,
    },
    /// A read or write failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl Error {
    pub(crate) fn device(op: DeviceOp, name: &str, source: io::Error) -> Error {
        Error::Device {
            op,
            name: name.to_owned(),
            source,
        }
    }
}

/// Which device operation an [`Error::Device`] (or, with the `netlink` feature, an
/// `Error::Netlink`) comes from, so a caller can tell, say, a refused MTU from a refused
/// offload mask without comparing strings. Displays as the system call (`TUNSETOFFLOAD`,
/// `SIOCSIFMTU`, …) or the rtnetlink message (`RTM_NEWADDR`, …).
///
/// ```
/// use linux_tun::DeviceOp;
/// assert_eq!(DeviceOp::SetMtu.to_string(), "SIOCSIFMTU");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DeviceOp {
    /// Attach the descriptor to a device, creating it if needed (`TUNSETIFF`).
    SetIff,
    /// Read an adopted descriptor's name and flags (`TUNGETIFF`).
    GetIff,
    /// Set the virtio header length (`TUNSETVNETHDRSZ`).
    SetVnetHdrLen,
    /// Read the virtio header length (`TUNGETVNETHDRSZ`).
    GetVnetHdrLen,
    /// Set the offload mask (`TUNSETOFFLOAD`).
    SetOffload,
    /// Set or clear persistence (`TUNSETPERSIST`).
    SetPersist,
    /// Attach or detach a queue (`TUNSETQUEUE`).
    SetQueue,
    /// Set the user allowed to attach without `CAP_NET_ADMIN` (`TUNSETOWNER`).
    SetOwner,
    /// Set the group allowed to attach without `CAP_NET_ADMIN` (`TUNSETGROUP`).
    SetGroup,
    /// Read the MTU (`SIOCGIFMTU`).
    GetMtu,
    /// Set the MTU (`SIOCSIFMTU`).
    SetMtu,
    /// Read the transmit queue length (`SIOCGIFTXQLEN`).
    GetTxQueueLen,
    /// Set the transmit queue length (`SIOCSIFTXQLEN`).
    SetTxQueueLen,
    /// Read the interface index (`SIOCGIFINDEX`).
    GetIndex,
    /// Read the link flags (`SIOCGIFFLAGS`).
    GetLinkFlags,
    /// Bring the link up or down (`SIOCSIFFLAGS`).
    SetLinkFlags,
    /// Switch the descriptor between blocking and non-blocking (`fcntl(F_SETFL)`).
    SetFileFlags,
    /// Create the socket for MTU and link ioctls in the device's namespace (`socket`).
    ControlSocket,
    /// Open the rtnetlink socket in the device's namespace (`socket(AF_NETLINK)`).
    #[cfg(feature = "netlink")]
    #[cfg_attr(docsrs, doc(cfg(feature = "netlink")))]
    NetlinkSocket,
    /// Add an address (`RTM_NEWADDR`).
    #[cfg(feature = "netlink")]
    #[cfg_attr(docsrs, doc(cfg(feature = "netlink")))]
    AddAddress,
    /// Delete an address (`RTM_DELADDR`).
    #[cfg(feature = "netlink")]
    #[cfg_attr(docsrs, doc(cfg(feature = "netlink")))]
    DeleteAddress,
    /// List addresses (`RTM_GETADDR`).
    #[cfg(feature = "netlink")]
    #[cfg_attr(docsrs, doc(cfg(feature = "netlink")))]
    GetAddresses,
    /// Add a route (`RTM_NEWROUTE`).
    #[cfg(feature = "netlink")]
    #[cfg_attr(docsrs, doc(cfg(feature = "netlink")))]
    AddRoute,
    /// Delete a route (`RTM_DELROUTE`).
    #[cfg(feature = "netlink")]
    #[cfg_attr(docsrs, doc(cfg(feature = "netlink")))]
    DeleteRoute,
}

impl fmt::Display for DeviceOp {
    /// The system call or ioctl, as the kernel's headers name it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeviceOp::SetIff => "TUNSETIFF",
            DeviceOp::GetIff => "TUNGETIFF",
            DeviceOp::SetVnetHdrLen => "TUNSETVNETHDRSZ",
            DeviceOp::GetVnetHdrLen => "TUNGETVNETHDRSZ",
            DeviceOp::SetOffload => "TUNSETOFFLOAD",
            DeviceOp::SetPersist => "TUNSETPERSIST",
            DeviceOp::SetQueue => "TUNSETQUEUE",
            DeviceOp::SetOwner => "TUNSETOWNER",
            DeviceOp::SetGroup => "TUNSETGROUP",
            DeviceOp::GetMtu => "SIOCGIFMTU",
            DeviceOp::SetMtu => "SIOCSIFMTU",
            DeviceOp::GetTxQueueLen => "SIOCGIFTXQLEN",
            DeviceOp::SetTxQueueLen => "SIOCSIFTXQLEN",
            DeviceOp::GetIndex => "SIOCGIFINDEX",
            DeviceOp::GetLinkFlags => "SIOCGIFFLAGS",
            DeviceOp::SetLinkFlags => "SIOCSIFFLAGS",
            DeviceOp::SetFileFlags => "F_SETFL",
            DeviceOp::ControlSocket => "socket",
            #[cfg(feature = "netlink")]
            DeviceOp::NetlinkSocket => "socket(AF_NETLINK)",
            #[cfg(feature = "netlink")]
            DeviceOp::AddAddress => "RTM_NEWADDR",
            #[cfg(feature = "netlink")]
            DeviceOp::DeleteAddress => "RTM_DELADDR",
            #[cfg(feature = "netlink")]
            DeviceOp::GetAddresses => "RTM_GETADDR",
            #[cfg(feature = "netlink")]
            DeviceOp::AddRoute => "RTM_NEWROUTE",
            #[cfg(feature = "netlink")]
            DeviceOp::DeleteRoute => "RTM_DELROUTE",
        })
    }
}

/// Why [`Reader::recv`](crate::Reader::recv) returned no packets.
///
/// The device can be deleted under a running reader (`ip link del`): the kernel then answers
/// a blocked read with `EFAULT` and every later one with `EBADFD` (`tun_ring_recv`,
/// `tun_chr_read_iter`). Both are recognised and reported as
/// [`DeviceRemoved`](Self::DeviceRemoved), at once and on every later call, so a data path
/// can stop cleanly instead of printing the kernel's puzzling messages or retrying forever.
///
/// ```no_run
/// use linux_tun::{RecvBatch, RecvError, Tun};
/// let (mut rx, _tx) = Tun::builder().name("tun0").up().open()?.into_halves();
/// let mut batch = RecvBatch::new(128, 0);
/// loop {
///     match rx.recv(&mut batch) {
///         Ok(_) => { /* … forward the batch … */ }
///         Err(RecvError::DeviceRemoved) => {
///             eprintln!("{} was removed; shutting down", rx.control().name());
///             break;
///         }
///         Err(e) => return Err(e.into()),
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecvError {
    /// Non-blocking mode and nothing is queued.
    #[error("would block: nothing queued")]
    WouldBlock,
    /// The device was deleted: no read of this queue will return a packet again, and every
    /// later call returns this at once.
    #[error("the device was removed")]
    DeviceRemoved,
    /// The read failed for another reason; the kernel's answer.
    #[error("read failed: {0}")]
    Io(#[source] io::Error),
}

impl From<RecvError> for io::Error {
    /// For `?` in code that speaks `io::Error`: `WouldBlock` keeps its kind, a removed device
    /// is `NotFound` (carrying the [`RecvError`]), anything else is the kernel's error.
    fn from(e: RecvError) -> io::Error {
        match e {
            RecvError::WouldBlock => io::ErrorKind::WouldBlock.into(),
            RecvError::DeviceRemoved => io::Error::new(io::ErrorKind::NotFound, e),
            RecvError::Io(e) => e,
        }
    }
}

/// Why a [`SendBatch`](crate::SendBatch) could not be sent completely.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The device is non-blocking and the kernel returned `EAGAIN` after `written` packets of
    /// the batch were written; they were removed from the batch, the rest stay queued in it.
    #[error("would block after {written} packets were written")]
    WouldBlock {
        /// Input packets written before `EAGAIN`.
        written: usize,
    },
    /// The device was deleted (the kernel answers writes with `EBADFD` once it is gone, and
    /// with `EIO` while it is being taken down, see [`LinkDown`](Self::LinkDown)): nothing
    /// will be written to this queue again, and every later call returns this at once.
    /// `written` packets were written and removed from the batch, the rest stay queued.
    #[error("the device was removed after {written} packets were written")]
    DeviceRemoved {
        /// Input packets written before the device went away.
        written: usize,
    },
    /// The link is down (`EIO`: `tun_get_user` drops what is written to a device that is not
    /// up). `written` packets were written and removed from the batch, the rest stay queued.
    /// A deleted device is taken down first, so a writer may see this just before
    /// [`DeviceRemoved`](Self::DeviceRemoved).
    #[error("the link is down after {written} packets were written")]
    LinkDown {
        /// Input packets written before the kernel refused.
        written: usize,
    },
    /// A write failed for another reason that is not about one packet; `written` packets
    /// were written and removed from the batch, the rest stay queued.
    #[error("write failed after {written} packets were written: {source}")]
    Io {
        /// Input packets written before the failure.
        written: usize,
        /// The kernel's answer.
        #[source]
        source: io::Error,
    },
}

/// Why [`SendBatch::push`](crate::SendBatch::push) refused a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// The batch already holds its capacity of packets.
    #[error("batch is full")]
    Full,
    /// The packet is empty or longer than 65535 bytes.
    #[error("packet length {0} is not in 1..=65535")]
    BadLength(usize),
}

/// Why one packet of a batch was not written (the others were).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PacketError {
    /// The kernel refused the packet itself (`EINVAL`: not IPv4/IPv6, bad lengths).
    #[error("kernel rejected the packet: {0}")]
    Rejected(#[source] io::Error),
    /// The packet does not fit the device (`EMSGSIZE`, or longer than the MTU allows).
    #[error("packet too large: {0}")]
    TooLarge(#[source] io::Error),
}
