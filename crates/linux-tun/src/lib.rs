//! Linux TUN devices with segmentation offload.
//!
//! (crate documentation grows with the batch API)
#![deny(unsafe_code)]

mod device;
mod error;
mod stats;
#[allow(unsafe_code)]
mod sys;

pub use device::{Builder, Capabilities, Control, OffloadFlags, Tun};
pub use error::{Error, PacketError, PushError, SendError};
pub use stats::{DropReason, Event, Stats};
