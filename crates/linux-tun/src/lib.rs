//! Linux TUN devices with segmentation offload.
#![deny(unsafe_code)]

mod device;
mod error;
mod recv;
mod send;
mod stats;
#[allow(unsafe_code)]
mod sys;

pub use device::{Builder, Capabilities, Control, OffloadFlags, Tun};
pub use error::{Error, PacketError, PushError, SendError};
pub use recv::{IterMut, Reader, RecvBatch, RecvPacket, RecvPacketMut};
pub use send::{Checksum, GRO_DISABLE_AFTER, SendBatch, Writer};
pub use stats::{DropReason, Event, Stats};
