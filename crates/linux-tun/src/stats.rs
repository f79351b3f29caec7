//! Counters and events: what the device did that the caller did not ask for (drops,
//! fallbacks), so it is never silent.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Something noteworthy happened on the device; delivered to the
/// [`on_event`](crate::Builder::on_event) hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A frame read from the kernel was malformed and dropped (see [`DropReason`]).
    MalformedRead(DropReason),
    /// The kernel rejected a super-packet write with `EINVAL`; its `segments` were written
    /// one by one instead (nothing lost).
    GsoWriteRejected {
        /// How many segments were written individually.
        segments: usize,
    },
    /// After `rejections` rejected super-packet writes, write coalescing was turned off for
    /// the device ([`Capabilities::gro`](crate::Capabilities::gro) is now false).
    GroDisabled {
        /// Rejections seen.
        rejections: u64,
    },
    /// After `rejections` rejected UDP super-packet (USO) writes, UDP write coalescing was
    /// turned off for the device ([`Capabilities::udp_gro`](crate::Capabilities::udp_gro) is
    /// now false); TCP coalescing is left as it was.
    UdpGroDisabled {
        /// UDP rejections seen.
        rejections: u64,
    },
}

/// Why a frame read from the kernel was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DropReason {
    /// Shorter than the virtio header, or empty.
    Truncated,
    /// The virtio header was invalid for the packet behind it.
    BadHeader(virtio_net_hdr::Error),
    /// The packet could not be split or its checksum finished.
    BadPacket,
    /// Larger than the read buffer or than an empty batch can hold.
    TooLarge,
    /// A super-packet whose payload is not above `gso_size` but whose payload + TCP options
    /// is: the kernel's software GSO drops it, and so does the reader (rule book §5.4.1).
    NothingToSegment,
}

pub(crate) type EventHook = Arc<dyn Fn(&Event) + Send + Sync>;

/// A snapshot of the device's counters (all queues and halves opened from one handle).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Frames read from the kernel (a super-packet counts once).
    pub frames_read: u64,
    /// Of those, super-packets that were split.
    pub super_packets_read: u64,
    /// Packets delivered to callers (segments counted individually).
    pub packets_delivered: u64,
    /// Frames dropped because they were malformed or too large, or because the kernel's
    /// segmentation would drop them ([`DropReason::NothingToSegment`]).
    pub dropped_malformed: u64,
    /// `write`/`writev` calls that succeeded.
    pub writes: u64,
    /// Of those, super-packet (GSO) writes.
    pub gso_writes: u64,
    /// Input packets written (segments of a super-packet counted individually).
    pub packets_written: u64,
    /// Packets the kernel refused individually (reported per packet to the caller).
    pub packets_rejected: u64,
    /// Super-packet writes rejected with `EINVAL` and written as segments instead.
    pub gso_rejections: u64,
    /// Whether write coalescing was turned off after repeated rejections.
    pub gro_disabled: bool,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) frames_read: AtomicU64,
    pub(crate) super_packets_read: AtomicU64,
    pub(crate) packets_delivered: AtomicU64,
    pub(crate) dropped_malformed: AtomicU64,
    pub(crate) writes: AtomicU64,
    pub(crate) gso_writes: AtomicU64,
    pub(crate) packets_written: AtomicU64,
    pub(crate) packets_rejected: AtomicU64,
    pub(crate) gso_rejections: AtomicU64,
    pub(crate) gro_disabled: std::sync::atomic::AtomicBool,
}

pub(crate) fn bump(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn snapshot(&self) -> Stats {
        let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Stats {
            frames_read: l(&self.frames_read),
            super_packets_read: l(&self.super_packets_read),
            packets_delivered: l(&self.packets_delivered),
            dropped_malformed: l(&self.dropped_malformed),
            writes: l(&self.writes),
            gso_writes: l(&self.gso_writes),
            packets_written: l(&self.packets_written),
            packets_rejected: l(&self.packets_rejected),
            gso_rejections: l(&self.gso_rejections),
            gro_disabled: self.gro_disabled.load(Ordering::Relaxed),
        }
    }
}
