#![doc = include_str!("../README.md")]
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

use core::ops::Range;

pub use inet_csum::ChecksumStatus;

#[cfg(feature = "alloc")]
mod output;
mod source;

#[cfg(feature = "std")]
pub use output::IoSliceBuf;
#[cfg(feature = "alloc")]
pub use output::{Drain, Output, Outputs, Payloads, TooSmall};
pub use source::PacketSource;
/// The virtio header an [`Output`] is written behind (`vnet_hdr` returns it), re-exported so a
/// user of the outputs needs no other dependency.
#[cfg(feature = "alloc")]
pub use virtio_net_hdr::VirtioNetHdr;

/// Where one output segment (an IP packet) lies in the caller's slab; the headroom bytes
/// before `offset` are free for the caller.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    /// Offset of the segment's first byte in the slab.
    pub offset: usize,
    /// Segment length.
    pub len: usize,
}

impl Span {
    /// The byte range of the segment, for indexing the slab.
    ///
    /// ```
    /// assert_eq!(offload_buf::Span { offset: 8, len: 4 }.range(), 8..12);
    /// ```
    #[inline]
    pub fn range(&self) -> Range<usize> {
        self.offset..self.offset + self.len
    }
}

/// Caller storage that segments (or their headers) are laid out in, back to back as
/// `[headroom][segment][headroom][segment]…` from its start. The `headroom` bytes before
/// each segment are left untouched and belong to that segment alone, e.g. for a tunnel
/// header written later without moving the packet.
///
/// ```
/// let mut buf = [0u8; 2048];
/// let slab = offload_buf::Slab::new(&mut buf, 16);
/// assert_eq!((slab.len(), slab.headroom()), (2048, 16));
/// ```
#[derive(Debug)]
pub struct Slab<'a> {
    buf: &'a mut [u8],
    headroom: usize,
}

impl<'a> Slab<'a> {
    /// Storage `buf`, with `headroom` free bytes before each segment.
    #[inline]
    pub fn new(buf: &'a mut [u8], headroom: usize) -> Self {
        Slab { buf, headroom }
    }

    /// The free bytes before each segment.
    #[inline]
    pub fn headroom(&self) -> usize {
        self.headroom
    }

    /// Bytes of storage.
    #[inline]
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether the storage has no bytes.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The storage and the headroom, for the splitter that fills it.
    ///
    /// ```
    /// let mut buf = [0u8; 64];
    /// let (storage, headroom) = offload_buf::Slab::new(&mut buf, 8).into_parts();
    /// assert_eq!((storage.len(), headroom), (64, 8));
    /// ```
    #[inline]
    pub fn into_parts(self) -> (&'a mut [u8], usize) {
        (self.buf, self.headroom)
    }
}

/// One segment of a headers-only split: the segment is the bytes at `header` in the caller's
/// header slab followed by the bytes at `payload` in the super-packet, which is not copied.
///
/// ```
/// use offload_buf::{SegmentRef, Span};
/// let seg = SegmentRef {
///     header: Span { offset: 0, len: 28 },
///     payload: Span { offset: 28, len: 1200 },
/// };
/// assert_eq!(seg.header.len + seg.payload.len, 1228);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SegmentRef {
    /// The segment's headers in the header slab. Empty for a plain packet passed through.
    pub header: Span,
    /// The segment's payload in the input packet, not copied.
    pub payload: Span,
}

/// What one split call produced.
///
/// ```
/// use offload_buf::{ChecksumStatus, Split};
/// let out = Split { segments: 3, checksum: ChecksumStatus::KnownGood, used: 3 * 1516 };
/// assert_eq!(out.used / out.segments, 1516);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Split {
    /// Segments written by this call.
    pub segments: usize,
    /// What is known about the written segments' checksums: [`ChecksumStatus::KnownGood`]
    /// when this call computed them (or the kernel marked the packet `DATA_VALID`),
    /// [`ChecksumStatus::Unverified`] for a plain packet passed through as received. Hand it
    /// to a coalescer as is.
    pub checksum: ChecksumStatus,
    /// Slab bytes used, headroom included (0 when each segment went to a buffer of its own).
    pub used: usize,
}
