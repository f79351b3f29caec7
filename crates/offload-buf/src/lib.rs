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
mod buckets;
#[cfg(feature = "alloc")]
mod output;
mod plan;
mod source;

#[cfg(feature = "alloc")]
pub use buckets::Buckets;
#[cfg(feature = "std")]
pub use output::IoSliceBuf;
#[cfg(feature = "alloc")]
pub use output::{Drain, Output, Outputs, Payloads, TooSmall};
pub use plan::{Plan, PlanError, Segmenter};
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

    /// The layout every splitter writes: parts `parts` (`part_len(i)` bytes each) back to back
    /// from the slab's start, each behind `headroom` free bytes; `write` fills part `i` and
    /// returns what to record for it in `records`. Stops at the first part without a record
    /// slot or room, and returns how many parts were written and the slab bytes used (headroom
    /// included); `write`'s first error ends it.
    ///
    /// ```
    /// use offload_buf::{Slab, Span};
    /// let mut buf = [0u8; 120];
    /// let mut spans = [Span::default(); 4];
    /// // Four 30-byte parts behind 8 bytes of headroom: three fit in 120 bytes.
    /// let (written, used) = Slab::new(&mut buf, 8)
    ///     .lay_out(0..4, &mut spans, |_| 30, |i, dst, span| {
    ///         dst.fill(i as u8);
    ///         Ok::<_, ()>(span)
    ///     })
    ///     .unwrap();
    /// assert_eq!((written, used), (3, 3 * (8 + 30)));
    /// assert_eq!(spans[2], Span { offset: 84, len: 30 });
    /// ```
    #[inline]
    pub fn lay_out<T, E>(
        self,
        parts: Range<usize>,
        records: &mut [T],
        part_len: impl Fn(usize) -> usize,
        mut write: impl FnMut(usize, &mut [u8], Span) -> Result<T, E>,
    ) -> Result<(usize, usize), E> {
        let (buf, headroom) = (self.buf, self.headroom);
        let mut pos = 0usize;
        let mut written = 0usize;
        for i in parts {
            let len = part_len(i);
            let start = pos.saturating_add(headroom);
            let end = start.saturating_add(len);
            let Some(record) = records.get_mut(written) else {
                break;
            };
            if end > buf.len() {
                break;
            }
            *record = write(i, &mut buf[start..end], Span { offset: start, len })?;
            pos = end;
            written += 1;
        }
        Ok((written, pos))
    }
}

/// Where a super-packet lying in a slab at `input` must start so that splitting it in place
/// into `segments` segments, each `header_len` bytes of headers behind `headroom` bytes and
/// laid out from the slab's start, never overwrites input bytes still to be read; moves it to
/// the end of the slab (`buf`) when it starts too early, and returns its start.
///
/// Writing front to back is safe when the input starts at least
/// `segments · (headroom + header_len) − header_len` in: segment k's output then ends by the
/// end of its own payload in the input. A slab that holds the whole layout (headroom, every
/// segment's headers and the payload) satisfies that at its end. With `header_len` 0 (a
/// packet passed whole: one move) the input stays where it is.
///
/// ```
/// // 3 segments of 28 header bytes behind 4 bytes of headroom: the input must start at
/// // 3 · 32 − 28 = 68 or later.
/// let mut buf = [0u8; 200];
/// assert_eq!(offload_buf::place_input(&mut buf, 70..150, 3, 4, 28), 70);
/// buf[10] = 7;
/// assert_eq!(offload_buf::place_input(&mut buf, 10..90, 3, 4, 28), 120);
/// assert_eq!(buf[120], 7);
/// ```
pub fn place_input(
    buf: &mut [u8],
    input: Range<usize>,
    segments: usize,
    headroom: usize,
    header_len: usize,
) -> usize {
    let at = input.start;
    if header_len > 0 && at + header_len < segments * (headroom + header_len) {
        let to = buf.len() - input.len();
        buf.copy_within(input, to);
        return to;
    }
    at
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
