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
    /// An offload mask with bits this crate cannot serve (it splits TCP only).
    #[error("unsupported offload bits {0:#x}")]
    UnsupportedOffload(u32),
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

/// Which device operation an [`Error::Device`] comes from, so a caller can tell, say, a refused
/// MTU from a refused offload mask without comparing strings. Displays as the system call
/// (`TUNSETOFFLOAD`, `SIOCSIFMTU`, …).
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
        })
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
    /// A write failed for a reason that is not about one packet (device gone, queue detached);
    /// `written` packets were written and removed from the batch, the rest stay queued.
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
