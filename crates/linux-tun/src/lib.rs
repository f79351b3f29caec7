//! Linux TUN devices with segmentation offload.
#![deny(unsafe_code)]

#[cfg(feature = "tokio")]
mod async_io;
mod device;
mod error;
mod recv;
mod send;
mod stats;
#[allow(unsafe_code)]
mod sys;

#[cfg(feature = "tokio")]
pub use async_io::{AsyncReader, AsyncTun, AsyncWriter};
pub use device::{Builder, Capabilities, Control, OffloadFlags, Tun};
pub use error::{Error, PacketError, PushError, SendError};
pub use recv::{IterMut, Reader, RecvBatch, RecvPacket, RecvPacketMut};
pub use send::{Checksum, GRO_DISABLE_AFTER, SendBatch, Writer};
pub use stats::{DropReason, Event, Stats};
