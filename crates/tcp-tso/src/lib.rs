//! Split TCP GSO super-packets into MSS-sized segments, the way the Linux kernel does.
//!
//! A TUN with TSO enabled hands userspace TCP super-packets of up to 64 KB behind a
//! `virtio_net_hdr`; a tunnel must send segments that fit the path. This crate turns one
//! super-packet into its segments, byte for byte what the kernel's software GSO
//! (`tcp_gso_segment`, `inet_gso_segment`, `ipv6_gso_segment`; rule book §5.1) would
//! produce, with complete IP and TCP checksums. It needs no TUN: a userspace netstack or a
//! VMM serving a virtio-net device can use it as is. `no_std`, no allocation, no `unsafe`.
//!
//! Output goes into caller-provided storage, either
//! - one contiguous slab, segments laid out back to back as `[headroom][segment]…` so the
//!   caller can prepend a tunnel header without another copy ([`split`], and
//!   [`split_in_place`] when the super-packet was read into that same slab), or
//! - separate buffers ([`split_to_buffers`]), or
//! - headers only ([`split_headers`]): each segment's IP + TCP headers go into a small
//!   header buffer and its payload stays where it is in the super-packet, summed but not
//!   copied — for a consumer that takes a segment as two parts (a `writev`, a userspace
//!   netstack, `tcp-gro`'s two-part packets).
//!
//! When storage runs out, as many whole segments as fit are written and
//! [`SplitError::OutOfRoom`] says how many and where to resume. Non-GSO packets pass through:
//! a `NEEDS_CSUM` checksum is finished, `DATA_VALID` is reported as [`CsumState::KernelVerified`].
//!
//! Decisions where the input leaves room for choice (all checked against Linux 6.18 by
//! `linux-tun/tests/kernel_tso.rs`):
//! - `hdr_len` is ignored; the header length is `csum_start` + TCP data offset × 4.
//! - CWR stays on the first segment only, with or without the GSO ECN bit; FIN and PSH only
//!   on the last; IPv4 IDs increment (TUN cannot express `FIXEDID`).
//! - A payload not above `gso_size` (including none) gives one segment when payload + TCP
//!   option bytes is not above it either: the packet as it was, with its checksum finished
//!   as `skb_checksum_help` finishes it (a zero result stored as 0xffff), since the kernel
//!   passes such a write on unsplit. When `payload ≤ gso_size < payload + options` the kernel
//!   drops the packet and nothing comes out: [`SplitError::NothingToSegment`] (rule book
//!   §5.4.1–§5.4.2).
//! - TCP checksums are derived from the partial sum in the checksum field, as
//!   `tcp_gso_segment` derives them: whatever pseudo-header the sender summed (an IPv6 Routing
//!   header's final destination, rule book §5.4.3) carries over to every segment.
//! - `gso_size` 0xffff (`GSO_BY_FRAGS`) is refused, as the kernel refuses it (§5.4.4).
//!
//! ```
//! use tcp_tso::{split, CsumState, Span};
//! use virtio_net_hdr::VirtioNetHdr;
//!
//! // A 3 × 1000-byte IPv4 super-packet as read from a TUN, with its virtio header.
//! let packet = virtio_net_hdr::testdata::ipv4_tcp_super_packet(3, 1000);
//! let hdr = VirtioNetHdr::tcp_gso(inet_hdr::IpVersion::V4, 20, 20, 1000, false);
//!
//! let mut slab = [0u8; 4096];
//! let mut spans = [Span::default(); 8];
//! let out = split(&hdr, &packet, 0, &mut slab, 16, &mut spans)?;
//! assert_eq!((out.segments, out.csum), (3, CsumState::Complete));
//! for span in &spans[..out.segments] {
//!     let seg = &slab[span.offset..span.offset + span.len];
//!     assert_eq!(seg.len(), 20 + 20 + 1000);
//!     assert!(inet_csum::verify(&seg[..20])); // IPv4 header checksum
//!     // 16 bytes of headroom in front of each segment belong to the caller.
//!     assert!(span.offset >= 16);
//! }
//! # Ok::<(), tcp_tso::SplitError>(())
//! ```
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod error;
mod plan;
pub mod testdata;

use core::ops::Range;

pub use error::{Malformed, SplitError};
pub use plan::Plan;
use virtio_net_hdr::VirtioNetHdr;
use zerocopy::byteorder::ByteOrder;

/// Where one output segment (an IP packet) lies in the caller's slab; the `headroom` bytes
/// before `offset` are free for the caller (e.g. a tunnel header) and belong to this segment
/// alone.
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
    /// assert_eq!(tcp_tso::Span { offset: 8, len: 4 }.range(), 8..12);
    /// ```
    pub fn range(&self) -> Range<usize> {
        self.offset..self.offset + self.len
    }
}

/// One segment of a [`split_headers`] split: the segment is the bytes at `header` in the
/// caller's header buffer followed by the bytes at `payload` in the super-packet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SegmentRef {
    /// The segment's headers in the header buffer (`headroom` free bytes before them). Empty
    /// for a plain packet passed through.
    pub header: Span,
    /// The segment's payload in the input packet, not copied.
    pub payload: Span,
}

/// Checksum state of what was produced, so the next stage knows what it may skip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CsumState {
    /// Every IP and L4 checksum was computed or finished here.
    Complete,
    /// `DATA_VALID`: the kernel verified the checksum; the packet was passed through untouched.
    KernelVerified,
    /// A plain packet (flags 0): passed through untouched, checksums as received.
    AsReceived,
}

/// What one call produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Split {
    /// Segments written by this call.
    pub segments: usize,
    /// Checksum state of the written segments.
    pub csum: CsumState,
    /// Slab bytes used, headroom included (0 for [`split_to_buffers`]).
    pub used: usize,
}

/// Split (or pass through / finish) one packet read from a TUN into `slab`, starting with
/// segment index `first_segment` (0 normally; `resume_at` after
/// [`OutOfRoom`](SplitError::OutOfRoom)). Segments are laid out back to back as
/// `[headroom][segment][headroom][segment]…` from the start of the slab; `spans[k]` describes
/// the k-th segment written.
///
/// # Errors
/// [`SplitError::OutOfRoom`] when `spans` or `slab` run out (the segments it counts are
/// written and complete); [`SplitError::ResumePastEnd`] if `first_segment` is not below
/// [`segment_count`]; otherwise a typed error for a malformed header or packet, before
/// anything is written.
///
/// ```
/// use tcp_tso::{split, Span, SplitError};
/// use virtio_net_hdr::VirtioNetHdr;
/// let packet = virtio_net_hdr::testdata::ipv4_tcp_super_packet(5, 100);
/// let hdr = VirtioNetHdr::tcp_gso(inet_hdr::IpVersion::V4, 20, 20, 100, false);
/// let (mut slab, mut spans) = ([0u8; 2048], [Span::default(); 2]);
/// // Two spans for five segments: two are written, resume at segment 2.
/// let err = split(&hdr, &packet, 0, &mut slab, 0, &mut spans).unwrap_err();
/// assert!(matches!(err, SplitError::OutOfRoom { written: 2, resume_at: 2, .. }));
/// let mut more = [Span::default(); 3];
/// let out = split(&hdr, &packet, 2, &mut slab, 0, &mut more)?;
/// assert_eq!(out.segments, 3);
/// # Ok::<(), SplitError>(())
/// ```
pub fn split<O: ByteOrder>(
    hdr: &VirtioNetHdr<O>,
    packet: &[u8],
    first_segment: usize,
    slab: &mut [u8],
    headroom: usize,
    spans: &mut [Span],
) -> Result<Split, SplitError> {
    let plan = Plan::new(hdr, packet)?;
    split_planned(&plan, packet, first_segment, slab, headroom, spans)
}

/// [`split`] with a [`Plan`] already built for `packet` (saves decoding the header twice
/// when the caller sized its storage with the plan first).
///
/// # Errors
/// As [`split`]; [`SplitError::PlanMismatch`] if `packet` is not as long as the packet the
/// plan was built for.
///
/// ```
/// use tcp_tso::{split_planned, Plan, Span};
/// use virtio_net_hdr::VirtioNetHdr;
/// let packet = virtio_net_hdr::testdata::ipv4_tcp_super_packet(4, 500);
/// let hdr = VirtioNetHdr::tcp_gso(inet_hdr::IpVersion::V4, 20, 20, 500, false);
/// let plan = Plan::new(&hdr, &packet)?;
/// let mut slab = vec![0u8; plan.room(0, 32)];
/// let mut spans = vec![Span::default(); plan.segments()];
/// let out = split_planned(&plan, &packet, 0, &mut slab, 32, &mut spans)?;
/// assert_eq!((out.segments, out.used), (4, slab.len()));
/// # Ok::<(), tcp_tso::SplitError>(())
/// ```
pub fn split_planned(
    plan: &Plan,
    packet: &[u8],
    first_segment: usize,
    slab: &mut [u8],
    headroom: usize,
    spans: &mut [Span],
) -> Result<Split, SplitError> {
    plan.check_len(packet)?;
    let n = plan.segments();
    resume_check(first_segment, n)?;
    let mut pos = 0usize;
    let mut written = 0usize;
    for i in first_segment..n {
        let len = plan.segment_len(i);
        let start = pos.saturating_add(headroom);
        let end = start.saturating_add(len);
        let Some(span) = spans.get_mut(written) else {
            break;
        };
        if end > slab.len() {
            break;
        }
        plan.write(packet, i, &mut slab[start..end])?;
        *span = Span { offset: start, len };
        pos = end;
        written += 1;
    }
    finish_call(plan, first_segment, written, pos)
}

fn finish_call(
    plan: &Plan,
    first_segment: usize,
    written: usize,
    used: usize,
) -> Result<Split, SplitError> {
    if first_segment + written < plan.segments() {
        return Err(SplitError::OutOfRoom {
            written,
            resume_at: first_segment + written,
            used,
        });
    }
    Ok(Split {
        segments: written,
        csum: plan.csum_state(),
        used,
    })
}

/// Same as [`split`], into separate caller buffers: the k-th segment written goes to
/// `bufs[k][..lens[k]]`. Stops (with [`OutOfRoom`](SplitError::OutOfRoom)) at the first
/// missing buffer or length slot, or a buffer too short for its segment.
///
/// # Errors
/// As [`split`].
///
/// ```
/// use tcp_tso::split_to_buffers;
/// use virtio_net_hdr::VirtioNetHdr;
/// let packet = virtio_net_hdr::testdata::ipv4_tcp_super_packet(2, 1400);
/// let hdr = VirtioNetHdr::tcp_gso(inet_hdr::IpVersion::V4, 20, 20, 1400, false);
/// let mut bufs = vec![vec![0u8; 1500]; 4];
/// let mut lens = [0usize; 4];
/// let out = split_to_buffers(&hdr, &packet, 0, &mut bufs, &mut lens)?;
/// assert_eq!((out.segments, lens[0], lens[1]), (2, 1440, 1440));
/// # Ok::<(), tcp_tso::SplitError>(())
/// ```
pub fn split_to_buffers<O: ByteOrder, B: AsMut<[u8]>>(
    hdr: &VirtioNetHdr<O>,
    packet: &[u8],
    first_segment: usize,
    bufs: &mut [B],
    lens: &mut [usize],
) -> Result<Split, SplitError> {
    let plan = Plan::new(hdr, packet)?;
    let n = plan.segments();
    resume_check(first_segment, n)?;
    let mut written = 0usize;
    for i in first_segment..n {
        let len = plan.segment_len(i);
        let (Some(buf), Some(slot)) = (bufs.get_mut(written), lens.get_mut(written)) else {
            break;
        };
        let Some(dst) = buf.as_mut().get_mut(..len) else {
            break;
        };
        plan.write(packet, i, dst)?;
        *slot = len;
        written += 1;
    }
    finish_call(&plan, first_segment, written, 0)
}

/// [`split`] without moving the payload: each segment's headers (IP + TCP, with its
/// per-segment fields and complete checksums) are written into `headers`, laid out as
/// `[headroom][headers][headroom][headers]…`, and `segs[k]` says where the k-th segment's
/// headers and payload lie. The payload is summed in `packet` but not copied, so a segment is
/// `headers[seg.header.range()]` followed by `packet[seg.payload.range()]` — the same bytes
/// [`split`] would write. Consecutive segments' payloads are adjacent in `packet`.
///
/// A non-GSO packet is one segment: a plain (or `DATA_VALID`) packet has an empty header part
/// and the whole packet as payload; a `NEEDS_CSUM` packet's bytes up to its checksum field
/// are copied into the header part with the checksum finished. [`Plan::header_room`] says
/// how much header buffer a packet needs.
///
/// # Errors
/// As [`split`]: [`SplitError::OutOfRoom`] when `segs` or `headers` run out (resumable from
/// `resume_at`; `used` counts header-buffer bytes), a typed error for a malformed packet.
///
/// ```
/// use tcp_tso::{split, split_headers, SegmentRef, Span};
/// use virtio_net_hdr::VirtioNetHdr;
/// let packet = virtio_net_hdr::testdata::ipv4_tcp_super_packet(3, 1000);
/// let hdr = VirtioNetHdr::tcp_gso(inet_hdr::IpVersion::V4, 20, 20, 1000, false);
///
/// let mut headers = [0u8; 256];
/// let mut segs = [SegmentRef::default(); 4];
/// let out = split_headers(&hdr, &packet, 0, &mut headers, 8, &mut segs)?;
/// assert_eq!((out.segments, out.used), (3, 3 * (8 + 40)));
///
/// // The same bytes as a copying split.
/// let (mut slab, mut spans) = (vec![0u8; 4000], [Span::default(); 4]);
/// split(&hdr, &packet, 0, &mut slab, 0, &mut spans)?;
/// for (s, span) in segs.iter().zip(&spans).take(3) {
///     let two_part = [&headers[s.header.range()], &packet[s.payload.range()]].concat();
///     assert_eq!(two_part, slab[span.range()]);
/// }
/// assert_eq!(segs[1].payload.offset, segs[0].payload.offset + 1000); // adjacent payloads
/// # Ok::<(), tcp_tso::SplitError>(())
/// ```
pub fn split_headers<O: ByteOrder>(
    hdr: &VirtioNetHdr<O>,
    packet: &[u8],
    first_segment: usize,
    headers: &mut [u8],
    headroom: usize,
    segs: &mut [SegmentRef],
) -> Result<Split, SplitError> {
    let plan = Plan::new(hdr, packet)?;
    split_headers_planned(&plan, packet, first_segment, headers, headroom, segs)
}

/// [`split_headers`] with a [`Plan`] already built for `packet` (e.g. to check
/// [`Plan::header_room`] before splitting, without decoding the header twice).
///
/// # Errors
/// As [`split_planned`].
///
/// ```
/// use tcp_tso::{split_headers_planned, Plan, SegmentRef};
/// use virtio_net_hdr::VirtioNetHdr;
/// let packet = virtio_net_hdr::testdata::ipv4_tcp_super_packet(4, 500);
/// let hdr = VirtioNetHdr::tcp_gso(inet_hdr::IpVersion::V4, 20, 20, 500, false);
/// let plan = Plan::new(&hdr, &packet)?;
/// let mut headers = vec![0u8; plan.header_room(0, 8)];
/// let mut segs = vec![SegmentRef::default(); plan.segments()];
/// let out = split_headers_planned(&plan, &packet, 0, &mut headers, 8, &mut segs)?;
/// assert_eq!((out.segments, out.used), (4, headers.len()));
/// assert!(split_headers_planned(&plan, &packet[..100], 0, &mut headers, 8, &mut segs).is_err());
/// # Ok::<(), tcp_tso::SplitError>(())
/// ```
pub fn split_headers_planned(
    plan: &Plan,
    packet: &[u8],
    first_segment: usize,
    headers: &mut [u8],
    headroom: usize,
    segs: &mut [SegmentRef],
) -> Result<Split, SplitError> {
    plan.check_len(packet)?;
    let n = plan.segments();
    resume_check(first_segment, n)?;
    let hl = plan.header_part_len();
    let mut pos = 0usize;
    let mut written = 0usize;
    for i in first_segment..n {
        let start = pos.saturating_add(headroom);
        let end = start.saturating_add(hl);
        let Some(seg) = segs.get_mut(written) else {
            break;
        };
        if end > headers.len() {
            break;
        }
        let payload = plan.write_headers(packet, i, &mut headers[start..end]);
        *seg = SegmentRef {
            header: Span {
                offset: start,
                len: hl,
            },
            payload,
        };
        pos = end;
        written += 1;
    }
    finish_call(plan, first_segment, written, pos)
}

/// Number of segments `packet` splits into (1 for a non-GSO packet).
///
/// # Errors
/// As [`split`], for a malformed header or packet.
///
/// ```
/// use virtio_net_hdr::VirtioNetHdr;
/// let packet = virtio_net_hdr::testdata::ipv4_tcp_super_packet(3, 100);
/// let hdr = VirtioNetHdr::tcp_gso(inet_hdr::IpVersion::V4, 20, 20, 64, false);
/// assert_eq!(tcp_tso::segment_count(&hdr, &packet), Ok(5)); // 300 bytes / 64
/// assert_eq!(tcp_tso::segment_count(&VirtioNetHdr::plain(), &packet), Ok(1));
/// ```
pub fn segment_count<O: ByteOrder>(
    hdr: &VirtioNetHdr<O>,
    packet: &[u8],
) -> Result<usize, SplitError> {
    Ok(Plan::new(hdr, packet)?.segments())
}

/// A non-GSO packet already in place (e.g. read straight into the slab): finish a
/// `NEEDS_CSUM` checksum in place, as the kernel's `skb_checksum_help` does; report a plain or
/// `DATA_VALID` packet's state without touching it.
///
/// # Errors
/// [`SplitError::NeedsSplit`] for a GSO header; a typed error for a malformed header.
///
/// ```
/// use tcp_tso::{finish_in_place, CsumState};
/// use virtio_net_hdr::VirtioNetHdr;
/// // One TCP segment whose checksum field holds the pseudo-header sum (CHECKSUM_PARTIAL).
/// let mut packet = virtio_net_hdr::testdata::ipv4_tcp_super_packet(1, 100);
/// let hdr = VirtioNetHdr::needs_csum(20, 16);
/// assert_eq!(finish_in_place(&hdr, &mut packet), Ok(CsumState::Complete));
/// let pseudo = inet_csum::pseudo_header_v4([10, 0, 0, 1], [10, 0, 0, 2], 6, 120);
/// assert_eq!(pseudo.add(&packet[20..]).fold(), 0xffff); // TCP checksum now valid
/// ```
pub fn finish_in_place<O: ByteOrder>(
    hdr: &VirtioNetHdr<O>,
    packet: &mut [u8],
) -> Result<CsumState, SplitError> {
    Plan::new(hdr, packet)?.finish(packet)
}

/// In-place variant of [`split`]: the super-packet sits inside `slab` at `input`; the
/// segments are laid out from the start of the slab exactly as [`split`] lays them out, with
/// the same bytes.
///
/// Splitting in place consumes the input, so it is all or nothing: if `spans` or the slab
/// cannot take every segment ([`Plan::room`] bytes), nothing is written and
/// [`OutOfRoom`](SplitError::OutOfRoom) reports `written: 0, resume_at: 0` with the input
/// intact (retry with more room, or [`split`] it elsewhere). The input may lie anywhere in the
/// slab; it is cheapest where it ends the slab or starts at least `Plan::room(0, headroom) −
/// input.len()` bytes in (otherwise it is first moved to the end of the slab, one extra copy).
///
/// # Errors
/// As [`split`], plus [`SplitError::InputOutsideSlab`].
///
/// ```
/// use tcp_tso::{split, split_in_place, Span};
/// use virtio_net_hdr::VirtioNetHdr;
/// let packet = virtio_net_hdr::testdata::ipv4_tcp_super_packet(3, 1000);
/// let hdr = VirtioNetHdr::tcp_gso(inet_hdr::IpVersion::V4, 20, 20, 1000, false);
///
/// let mut slab = vec![0u8; 4000];
/// let at = slab.len() - packet.len();
/// slab[at..].copy_from_slice(&packet); // e.g. read from the TUN straight into the slab
/// let mut spans = [Span::default(); 4];
/// let out = split_in_place(&hdr, &mut slab, at..4000, 12, &mut spans)?;
///
/// let (mut other, mut other_spans) = (vec![0u8; 4000], [Span::default(); 4]);
/// split(&hdr, &packet, 0, &mut other, 12, &mut other_spans)?;
/// assert_eq!(spans, other_spans);
/// for s in &spans[..out.segments] {
///     assert_eq!(slab[s.range()], other[s.range()]);
/// }
/// # Ok::<(), tcp_tso::SplitError>(())
/// ```
pub fn split_in_place<O: ByteOrder>(
    hdr: &VirtioNetHdr<O>,
    slab: &mut [u8],
    input: Range<usize>,
    headroom: usize,
    spans: &mut [Span],
) -> Result<Split, SplitError> {
    let Some(packet) = slab.get(input.clone()) else {
        return Err(SplitError::InputOutsideSlab {
            start: input.start,
            end: input.end,
            slab_len: slab.len(),
        });
    };
    let plan = Plan::new(hdr, packet)?;
    let n = plan.segments();
    let total = plan.room(0, headroom);
    if spans.len() < n || slab.len() < total {
        return Err(SplitError::OutOfRoom {
            written: 0,
            resume_at: 0,
            used: 0,
        });
    }
    let len = input.len();
    let hl = plan.header_len();
    let mut at = input.start;
    // Writing segments front to back never overwrites input bytes still to be read when
    // the input starts at least n·(headroom + hl) − hl in: segment k's output then ends by
    // the end of its own payload in the input. Otherwise move the input to the end of the
    // slab, which satisfies that because the slab holds `total` bytes.
    // (A non-GSO packet is one memmove, safe anywhere.)
    if hl > 0 && at + hl < n * (headroom + hl) {
        let to = slab.len() - len;
        slab.copy_within(input, to);
        at = to;
    }
    let mut pos = 0usize;
    for (i, span) in spans.iter_mut().enumerate().take(n) {
        let seg_len = plan.segment_len(i);
        let start = pos + headroom;
        // Segment 0 takes its headers from the input; later ones from the finished segment
        // 0, which nothing overwrites.
        let header = if i == 0 { at } else { headroom };
        plan.write_in_place(slab, at, header, i, start)?;
        *span = Span {
            offset: start,
            len: seg_len,
        };
        pos = start + seg_len;
    }
    finish_call(&plan, 0, n, pos)
}

/// A resumed split must start at a segment that exists.
fn resume_check(first_segment: usize, segments: usize) -> Result<(), SplitError> {
    if first_segment >= segments {
        return Err(SplitError::ResumePastEnd {
            first_segment,
            segments,
        });
    }
    Ok(())
}
