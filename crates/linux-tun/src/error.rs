//! Typed errors. Syscall failures keep their `std::io::Error`.

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
        /// The operation (`TUNSETIFF`, `TUNSETOFFLOAD`, `SIOCSIFMTU`, …).
        op: &'static str,
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
    pub(crate) fn device(op: &'static str, name: &str, source: io::Error) -> Error {
        Error::Device {
            op,
            name: name.to_owned(),
            source,
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
