//! The splitting every protocol shares: [`Plan`] writes the segments of one super-packet into
//! the caller's storage; the protocol supplies only its per-segment header fields
//! ([`Segmenter`]).

use core::fmt;
use core::ops::Range;

use inet_csum::{Accumulator, ChecksumStatus};

use crate::{SegmentRef, Slab, Span, Split};

/// Length of a transport checksum field.
const CHECKSUM_LEN: usize = 2;

/// What one protocol's splitter (`tcp-tso`, `udp-gso`) adds to the shared split: the sizes of
/// a super-packet's segmentation, found when it validates the packet's headers, and the
/// rewrite of the header fields that differ from segment to segment (lengths, IDs, sequence
/// numbers, flags, checksums). Everything else — which bytes each segment holds, where it goes in the
/// caller's storage, `NEEDS_CSUM` and pass-through packets — is [`Plan`]'s.
///
/// ```
/// use offload_buf::{Plan, Segmenter, Slab, Span};
///
/// /// A toy protocol: a 4-byte header carrying the segment's length and index.
/// #[derive(Clone, Copy, Debug, PartialEq, Eq)]
/// struct Toy { hl: usize, mss: usize, payload: usize }
/// impl Toy {
///     fn new(len: usize, hl: usize, mss: usize) -> Toy { Toy { hl, mss, payload: len - hl } }
/// }
/// impl Segmenter for Toy {
///     fn header_len(&self) -> usize { self.hl }
///     fn gso_size(&self) -> usize { self.mss }
///     fn payload_len(&self) -> usize { self.payload }
///     fn segments(&self) -> usize { self.payload.div_ceil(self.mss).max(1) }
///     fn patch(&self, segment: &mut [u8], len: usize, i: usize, _payload_sum: u16) {
///         segment[..2].copy_from_slice(&(len as u16).to_be_bytes());
///         segment[2..4].copy_from_slice(&(i as u16).to_be_bytes());
///     }
/// }
///
/// // 4 header bytes and 10 payload bytes, 4 payload bytes per segment.
/// let packet = [[0u8; 4].as_slice(), b"0123456789"].concat();
/// let plan = Plan::segmented(Toy::new(packet.len(), 4, 4)).unwrap();
/// let (mut buf, mut spans) = ([0u8; 64], [Span::default(); 3]);
/// plan.split(&packet, 0, Slab::new(&mut buf, 0), &mut spans)?;
/// assert_eq!(buf[spans[2].range()], *b"\0\x06\0\x0289");
/// # Ok::<(), offload_buf::PlanError>(())
/// ```
pub trait Segmenter {
    /// Header bytes (IP + transport) at the front of the super-packet, copied into every
    /// segment.
    fn header_len(&self) -> usize;

    /// Payload bytes per segment (`gso_size`, not 0); the last segment carries the rest.
    fn gso_size(&self) -> usize;

    /// Payload bytes of the super-packet, after its headers.
    fn payload_len(&self) -> usize;

    /// How many segments: the payload in `gso_size` pieces, rounded up, and at least 1.
    /// Called per segment: an implementation returns a stored value.
    fn segments(&self) -> usize;

    /// Rewrite the per-segment header fields of segment `i`, which is `len` bytes long:
    /// `segment` starts with the segment's headers (copied from the super-packet, or from
    /// segment 0 when splitting in place: every field that differs must be written, not
    /// adjusted), followed by its payload or not (a headers-only split), and `payload_sum`
    /// is the ones'-complement sum of the segment's payload, folded to 16 bits. `segment` is
    /// at least the plan's header length.
    fn patch(&self, segment: &mut [u8], len: usize, i: usize, payload_sum: u16);
}

/// A validated description of what one packet turns into — how many segments, how long each
/// is — and the writing of those segments into a [`Slab`] (whole, or headers only) or into
/// buffers of their own. A protocol's splitter builds one per packet: a packet passed through
/// ([`plain`](Plan::plain)), a `NEEDS_CSUM` packet whose checksum is finished as the kernel's
/// `skb_checksum_help` finishes it ([`partial`](Plan::partial)), or a super-packet cut into
/// segments of `gso_size` payload bytes behind a copy of its headers, each patched by the
/// protocol's [`Segmenter`] ([`segmented`](Plan::segmented)). It holds no borrow, so a caller
/// can size its storage ([`room`](Plan::room)) before splitting.
///
/// ```
/// use offload_buf::{ChecksumStatus, Plan, Segmenter};
/// # #[derive(Clone, Copy, Debug, PartialEq, Eq)]
/// # struct Toy { hl: usize, mss: usize, payload: usize }
/// # impl Toy {
/// #     fn new(len: usize, hl: usize, mss: usize) -> Toy { Toy { hl, mss, payload: len - hl } }
/// # }
/// # impl Segmenter for Toy {
/// #     fn header_len(&self) -> usize { self.hl }
/// #     fn gso_size(&self) -> usize { self.mss }
/// #     fn payload_len(&self) -> usize { self.payload }
/// #     fn segments(&self) -> usize { self.payload.div_ceil(self.mss).max(1) }
/// #     fn patch(&self, segment: &mut [u8], len: usize, i: usize, _sum: u16) {
/// #         segment[..2].copy_from_slice(&(len as u16).to_be_bytes());
/// #         segment[2..4].copy_from_slice(&(i as u16).to_be_bytes());
/// #     }
/// # }
/// // 4 header bytes and 10 payload bytes in segments of 4 payload bytes: 8 + 8 + 6 bytes.
/// let plan = Plan::segmented(Toy::new(14, 4, 4)).unwrap();
/// assert_eq!(plan.segments(), 3);
/// assert_eq!((plan.segment_len(0), plan.segment_len(2)), (8, 6));
/// assert_eq!(plan.room(0, 16), 3 * 16 + 22);
/// assert_eq!(plan.checksum_status(), ChecksumStatus::KnownGood);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan<S> {
    kind: Kind<S>,
    /// Length of the input packet.
    len: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind<S> {
    /// Passed through untouched.
    Plain(ChecksumStatus),
    /// Non-GSO NEEDS_CSUM: finish the checksum at `start + offset`.
    Partial { start: usize, offset: usize },
    /// Segmentation.
    Segmented(S),
}

/// Payload bytes of segment `i` (below `segments`).
#[inline]
fn payload_of<S: Segmenter>(g: &S, i: usize) -> usize {
    (g.payload_len() - i * g.gso_size()).min(g.gso_size())
}

/// Why a [`Plan`]'s split or finish stopped: the call's storage or arguments, never the packet
/// (the packet's faults are found when the plan is built). Each splitter reports these as its
/// own error's variants of the same names.
///
/// [`OutOfRoom`](PlanError::OutOfRoom) is the only variant after which output exists: the
/// segments it counts are complete and the call can be repeated from `resume_at`.
///
/// ```
/// use offload_buf::PlanError;
/// let e = PlanError::ResumePastEnd { first_segment: 3, segments: 3 };
/// assert_eq!(e.to_string(), "first segment 3 is past the packet's 3 segments");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanError {
    /// Not every segment fit. `written` whole segments were written by this call (all of
    /// them complete, reported in order); call again with `first_segment = resume_at` and
    /// more room to continue. Nothing is half-written.
    OutOfRoom {
        /// Segments written by this call.
        written: usize,
        /// Index (within the packet) of the first segment not written.
        resume_at: usize,
        /// Bytes of the slab used by the written segments (headroom included); 0 for
        /// [`split_to_buffers`](Plan::split_to_buffers).
        used: usize,
    },
    /// `first_segment` is not below the packet's segment count.
    ResumePastEnd {
        /// The requested first segment.
        first_segment: usize,
        /// How many segments the packet has.
        segments: usize,
    },
    /// The `input` range of [`split_in_place`](Plan::split_in_place) does not lie inside the
    /// slab.
    InputOutsideSlab {
        /// Start of the range.
        start: usize,
        /// End of the range.
        end: usize,
        /// Slab length.
        slab_len: usize,
    },
    /// [`finish_in_place`](Plan::finish_in_place) was given a segmented plan: the packet must
    /// be split, not finished.
    NeedsSplit,
    /// A [`Plan`] method was given a packet of another length than the one the plan was built
    /// for.
    PlanMismatch {
        /// Length of the packet the plan was built for.
        planned: usize,
        /// Length of the packet given.
        len: usize,
    },
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::OutOfRoom {
                written,
                resume_at,
                used,
            } => write!(
                f,
                "out of room after {written} segments ({used} bytes); resume at segment {resume_at}"
            ),
            PlanError::ResumePastEnd {
                first_segment,
                segments,
            } => write!(
                f,
                "first segment {first_segment} is past the packet's {segments} segments"
            ),
            PlanError::InputOutsideSlab {
                start,
                end,
                slab_len,
            } => write!(
                f,
                "input range {start}..{end} is not inside the {slab_len}-byte slab"
            ),
            PlanError::NeedsSplit => f.write_str("a GSO packet must be split, not finished"),
            PlanError::PlanMismatch { planned, len } => write!(
                f,
                "the plan is for a {planned}-byte packet, this one has {len} bytes"
            ),
        }
    }
}

impl core::error::Error for PlanError {}

impl<S: Segmenter> Plan<S> {
    /// A `len`-byte packet passed through untouched as one segment, its checksums `checksum`
    /// (the kernel's `DATA_VALID` is [`KnownGood`](ChecksumStatus::KnownGood), no offload
    /// [`Unverified`](ChecksumStatus::Unverified)).
    ///
    /// ```
    /// use offload_buf::{ChecksumStatus, Plan, Segmenter};
    /// # struct Toy { hl: usize, mss: usize, payload: usize }
    /// # impl Toy {
    /// #     fn new(len: usize, hl: usize, mss: usize) -> Toy { Toy { hl, mss, payload: len - hl } }
    /// # }
    /// # impl Segmenter for Toy {
    /// #     fn header_len(&self) -> usize { self.hl }
    /// #     fn gso_size(&self) -> usize { self.mss }
    /// #     fn payload_len(&self) -> usize { self.payload }
    /// #     fn segments(&self) -> usize { self.payload.div_ceil(self.mss).max(1) }
    /// #     fn patch(&self, _: &mut [u8], _: usize, _: usize, _: u16) {}
    /// # }
    /// let plan = Plan::<Toy>::plain(60, ChecksumStatus::Unverified);
    /// assert_eq!((plan.segments(), plan.segment_len(0)), (1, 60));
    /// assert_eq!(plan.checksum_status(), ChecksumStatus::Unverified);
    /// ```
    #[inline]
    pub fn plain(len: usize, checksum: ChecksumStatus) -> Self {
        Plan {
            kind: Kind::Plain(checksum),
            len,
        }
    }

    /// A `len`-byte `NEEDS_CSUM` packet, one segment: the checksum over `csum_start..` (whose
    /// field, at `csum_start + csum_offset`, holds the sender's partial sum) is finished as
    /// the kernel's `skb_checksum_help` finishes it, a result of 0 stored as 0xffff
    /// (`CSUM_MANGLED_0`). `None` if the checksum field does not lie inside the packet.
    ///
    /// ```
    /// use offload_buf::{ChecksumStatus, Plan, Segmenter};
    /// # struct Toy { hl: usize, mss: usize, payload: usize }
    /// # impl Toy {
    /// #     fn new(len: usize, hl: usize, mss: usize) -> Toy { Toy { hl, mss, payload: len - hl } }
    /// # }
    /// # impl Segmenter for Toy {
    /// #     fn header_len(&self) -> usize { self.hl }
    /// #     fn gso_size(&self) -> usize { self.mss }
    /// #     fn payload_len(&self) -> usize { self.payload }
    /// #     fn segments(&self) -> usize { self.payload.div_ceil(self.mss).max(1) }
    /// #     fn patch(&self, _: &mut [u8], _: usize, _: usize, _: u16) {}
    /// # }
    /// // The checksum field is bytes 2..4 of the 6 summed from byte 0.
    /// let mut packet = [0x12, 0x34, 0, 0, 0x00, 0x01];
    /// let plan = Plan::<Toy>::partial(6, 0, 2).unwrap();
    /// assert_eq!(plan.finish_in_place(&mut packet), Ok(ChecksumStatus::KnownGood));
    /// assert_eq!(packet[2..4], (!0x1235u16).to_be_bytes());
    /// assert!(Plan::<Toy>::partial(6, 4, 1).is_none()); // field at 5..7: past the end
    /// ```
    #[inline]
    pub fn partial(len: usize, csum_start: usize, csum_offset: usize) -> Option<Self> {
        let end = csum_start
            .checked_add(csum_offset)?
            .checked_add(CHECKSUM_LEN)?;
        if end > len {
            return None;
        }
        Some(Plan {
            kind: Kind::Partial {
                start: csum_start,
                offset: csum_offset,
            },
            len,
        })
    }

    /// A super-packet of `segmenter.header_len()` header bytes and
    /// `segmenter.payload_len()` payload bytes, cut into segments of `gso_size` payload bytes
    /// (the last one the rest; a packet with no more payload than that is one segment): each
    /// segment is a copy of the headers, then its payload, the headers patched by `segmenter`.
    /// `None` if the sizes do not agree (`gso_size` 0, or `segments` not the payload in
    /// `gso_size` pieces).
    ///
    /// ```
    /// use offload_buf::{Plan, Segmenter};
    /// # #[derive(Clone, Copy)]
    /// # struct Toy { hl: usize, mss: usize, payload: usize }
    /// # impl Toy {
    /// #     fn new(len: usize, hl: usize, mss: usize) -> Toy { Toy { hl, mss, payload: len - hl } }
    /// # }
    /// # impl Segmenter for Toy {
    /// #     fn header_len(&self) -> usize { self.hl }
    /// #     fn gso_size(&self) -> usize { self.mss }
    /// #     fn payload_len(&self) -> usize { self.payload }
    /// #     fn segments(&self) -> usize { self.payload.div_ceil(self.mss).max(1) }
    /// #     fn patch(&self, _: &mut [u8], _: usize, _: usize, _: u16) {}
    /// # }
    /// // 40 header bytes and 3000 payload bytes, 1000 per segment.
    /// let plan = Plan::segmented(Toy::new(3040, 40, 1000)).unwrap();
    /// assert_eq!((plan.segments(), plan.segment_len(2)), (3, 1040));
    /// assert_eq!(Plan::segmented(Toy::new(40, 40, 1000)).unwrap().segments(), 1); // no payload
    /// assert!(Plan::segmented(Toy::new(3040, 40, 0)).is_none());
    /// ```
    #[inline]
    pub fn segmented(segmenter: S) -> Option<Self> {
        let (mss, payload) = (segmenter.gso_size(), segmenter.payload_len());
        let len = segmenter.header_len().checked_add(payload)?;
        if mss == 0 || segmenter.segments() != payload.div_ceil(mss).max(1) {
            return None;
        }
        Some(Plan {
            kind: Kind::Segmented(segmenter),
            len,
        })
    }

    /// How many segments the packet turns into (1 for a packet passed through or finished).
    ///
    /// ```
    /// use offload_buf::{Plan, Segmenter};
    /// # struct Toy { hl: usize, mss: usize, payload: usize }
    /// # impl Toy {
    /// #     fn new(len: usize, hl: usize, mss: usize) -> Toy { Toy { hl, mss, payload: len - hl } }
    /// # }
    /// # impl Segmenter for Toy {
    /// #     fn header_len(&self) -> usize { self.hl }
    /// #     fn gso_size(&self) -> usize { self.mss }
    /// #     fn payload_len(&self) -> usize { self.payload }
    /// #     fn segments(&self) -> usize { self.payload.div_ceil(self.mss).max(1) }
    /// #     fn patch(&self, _: &mut [u8], _: usize, _: usize, _: u16) {}
    /// # }
    /// assert_eq!(Plan::segmented(Toy::new(3001, 1, 1000)).unwrap().segments(), 3);
    /// assert_eq!(Plan::segmented(Toy::new(3002, 1, 1000)).unwrap().segments(), 4);
    /// ```
    #[inline]
    pub fn segments(&self) -> usize {
        match &self.kind {
            Kind::Segmented(g) => g.segments(),
            _ => 1,
        }
    }

    /// Length of segment `i`, or 0 if `i` is not below [`segments`](Self::segments).
    ///
    /// ```
    /// use offload_buf::{Plan, Segmenter};
    /// # struct Toy { hl: usize, mss: usize, payload: usize }
    /// # impl Toy {
    /// #     fn new(len: usize, hl: usize, mss: usize) -> Toy { Toy { hl, mss, payload: len - hl } }
    /// # }
    /// # impl Segmenter for Toy {
    /// #     fn header_len(&self) -> usize { self.hl }
    /// #     fn gso_size(&self) -> usize { self.mss }
    /// #     fn payload_len(&self) -> usize { self.payload }
    /// #     fn segments(&self) -> usize { self.payload.div_ceil(self.mss).max(1) }
    /// #     fn patch(&self, _: &mut [u8], _: usize, _: usize, _: u16) {}
    /// # }
    /// let plan = Plan::segmented(Toy::new(2540, 40, 1000)).unwrap();
    /// assert_eq!([plan.segment_len(0), plan.segment_len(2), plan.segment_len(3)], [1040, 540, 0]);
    /// ```
    #[inline]
    pub fn segment_len(&self, i: usize) -> usize {
        if i >= self.segments() {
            return 0;
        }
        match &self.kind {
            Kind::Segmented(g) => g.header_len() + payload_of(g, i),
            _ => self.len,
        }
    }

    /// Slab bytes needed to write segments `first_segment..` with `headroom` bytes before
    /// each (0 if `first_segment` is past the end; `usize::MAX` if it overflows).
    ///
    /// ```
    /// use offload_buf::{Plan, Segmenter};
    /// # struct Toy { hl: usize, mss: usize, payload: usize }
    /// # impl Toy {
    /// #     fn new(len: usize, hl: usize, mss: usize) -> Toy { Toy { hl, mss, payload: len - hl } }
    /// # }
    /// # impl Segmenter for Toy {
    /// #     fn header_len(&self) -> usize { self.hl }
    /// #     fn gso_size(&self) -> usize { self.mss }
    /// #     fn payload_len(&self) -> usize { self.payload }
    /// #     fn segments(&self) -> usize { self.payload.div_ceil(self.mss).max(1) }
    /// #     fn patch(&self, _: &mut [u8], _: usize, _: usize, _: u16) {}
    /// # }
    /// let plan = Plan::segmented(Toy::new(2540, 40, 1000)).unwrap();
    /// assert_eq!(plan.room(0, 16), 3 * (16 + 40) + 2500);
    /// assert_eq!(plan.room(2, 16), 16 + 40 + 500);
    /// assert_eq!(plan.room(0, usize::MAX), usize::MAX);
    /// ```
    pub fn room(&self, first_segment: usize, headroom: usize) -> usize {
        let n = self.segments();
        if first_segment >= n {
            return 0;
        }
        match &self.kind {
            Kind::Segmented(g) => {
                // Saturating: an absurd headroom asks for more room than any slab has.
                let count = n - first_segment;
                let rest = g.payload_len() - (first_segment * g.gso_size()).min(g.payload_len());
                count
                    .saturating_mul(headroom.saturating_add(g.header_len()))
                    .saturating_add(rest)
            }
            _ => headroom.saturating_add(self.len),
        }
    }

    /// Header-slab bytes [`split_headers`](Self::split_headers) needs for segments
    /// `first_segment..` with `headroom` bytes before each (0 if `first_segment` is past the
    /// end; `usize::MAX` if it overflows).
    ///
    /// ```
    /// use offload_buf::{ChecksumStatus, Plan, Segmenter};
    /// # struct Toy { hl: usize, mss: usize, payload: usize }
    /// # impl Toy {
    /// #     fn new(len: usize, hl: usize, mss: usize) -> Toy { Toy { hl, mss, payload: len - hl } }
    /// # }
    /// # impl Segmenter for Toy {
    /// #     fn header_len(&self) -> usize { self.hl }
    /// #     fn gso_size(&self) -> usize { self.mss }
    /// #     fn payload_len(&self) -> usize { self.payload }
    /// #     fn segments(&self) -> usize { self.payload.div_ceil(self.mss).max(1) }
    /// #     fn patch(&self, _: &mut [u8], _: usize, _: usize, _: u16) {}
    /// # }
    /// assert_eq!(Plan::segmented(Toy::new(3040, 40, 1000)).unwrap().header_room(0, 16), 3 * (16 + 40));
    /// // A packet passed through has no header part, only its headroom.
    /// assert_eq!(Plan::<Toy>::plain(60, ChecksumStatus::KnownGood).header_room(0, 16), 16);
    /// ```
    pub fn header_room(&self, first_segment: usize, headroom: usize) -> usize {
        let n = self.segments();
        if first_segment >= n {
            return 0;
        }
        (n - first_segment).saturating_mul(headroom.saturating_add(self.header_part_len()))
    }

    /// The checksum state of the segments this plan produces:
    /// [`KnownGood`](ChecksumStatus::KnownGood) when the split or finish computes them, the
    /// plain packet's own otherwise.
    ///
    /// ```
    /// use offload_buf::{ChecksumStatus, Plan, Segmenter};
    /// # struct Toy { hl: usize, mss: usize, payload: usize }
    /// # impl Toy {
    /// #     fn new(len: usize, hl: usize, mss: usize) -> Toy { Toy { hl, mss, payload: len - hl } }
    /// # }
    /// # impl Segmenter for Toy {
    /// #     fn header_len(&self) -> usize { self.hl }
    /// #     fn gso_size(&self) -> usize { self.mss }
    /// #     fn payload_len(&self) -> usize { self.payload }
    /// #     fn segments(&self) -> usize { self.payload.div_ceil(self.mss).max(1) }
    /// #     fn patch(&self, _: &mut [u8], _: usize, _: usize, _: u16) {}
    /// # }
    /// assert_eq!(Plan::<Toy>::partial(60, 20, 6).unwrap().checksum_status(), ChecksumStatus::KnownGood);
    /// ```
    #[inline]
    pub fn checksum_status(&self) -> ChecksumStatus {
        match &self.kind {
            Kind::Plain(s) => *s,
            _ => ChecksumStatus::KnownGood,
        }
    }

    /// Write segments `first_segment..` of `packet` (the packet this plan was built for) into
    /// `slab`, recording the k-th segment written in `spans[k]`. `first_segment` is 0, or the
    /// `resume_at` of an earlier [`OutOfRoom`](PlanError::OutOfRoom).
    ///
    /// # Errors
    /// [`PlanError::OutOfRoom`] when `spans` or the slab run out (the segments it counts are
    /// written and complete); [`PlanError::ResumePastEnd`] if `first_segment` is not below
    /// [`segments`](Self::segments); [`PlanError::PlanMismatch`] if `packet` is not the plan's
    /// packet (its length differs), before anything is written.
    ///
    /// ```
    /// use offload_buf::{Plan, PlanError, Segmenter, Slab, Span};
    /// # struct Toy { hl: usize, mss: usize, payload: usize }
    /// # impl Toy {
    /// #     fn new(len: usize, hl: usize, mss: usize) -> Toy { Toy { hl, mss, payload: len - hl } }
    /// # }
    /// # impl Segmenter for Toy {
    /// #     fn header_len(&self) -> usize { self.hl }
    /// #     fn gso_size(&self) -> usize { self.mss }
    /// #     fn payload_len(&self) -> usize { self.payload }
    /// #     fn segments(&self) -> usize { self.payload.div_ceil(self.mss).max(1) }
    /// #     fn patch(&self, segment: &mut [u8], _: usize, i: usize, _: u16) {
    /// #         segment[0] = i as u8;
    /// #     }
    /// # }
    /// // A 1-byte header (patched to the segment index), 5 × 100 payload bytes.
    /// let packet = [7u8; 501];
    /// let plan = Plan::segmented(Toy::new(501, 1, 100)).unwrap();
    /// let (mut buf, mut spans) = ([0u8; 1024], [Span::default(); 2]);
    /// let err = plan.split(&packet, 0, Slab::new(&mut buf, 0), &mut spans).unwrap_err();
    /// assert_eq!(err, PlanError::OutOfRoom { written: 2, resume_at: 2, used: 202 });
    /// let mut more = [Span::default(); 3];
    /// let out = plan.split(&packet, 2, Slab::new(&mut buf, 0), &mut more)?;
    /// assert_eq!((out.segments, buf[more[0].offset]), (3, 2));
    /// # Ok::<(), PlanError>(())
    /// ```
    #[inline]
    pub fn split(
        &self,
        packet: &[u8],
        first_segment: usize,
        slab: Slab<'_>,
        spans: &mut [Span],
    ) -> Result<Split, PlanError> {
        self.check_len(packet)?;
        self.lay_out(
            first_segment,
            slab,
            spans,
            |i| self.segment_len(i),
            |i, dst, span| {
                self.write(packet, i, dst);
                span
            },
        )
    }

    /// [`split`](Self::split) without moving the payload: each segment's headers (patched,
    /// with complete checksums) are laid out in `headers`, and `segs[k]` says where the k-th
    /// segment's headers and payload lie. The payload is summed in `packet` but not copied, so
    /// a segment is `header bytes` followed by `packet[seg.payload.range()]` — the same bytes
    /// [`split`](Self::split) would write. Consecutive segments' payloads are adjacent in
    /// `packet`.
    ///
    /// A plain packet has an empty header part and the whole packet as payload; a
    /// `NEEDS_CSUM` packet's bytes up to its checksum field are copied into the header part
    /// with the checksum finished. [`header_room`](Self::header_room) says how much header
    /// storage a packet needs.
    ///
    /// # Errors
    /// As [`split`](Self::split) (`used` in [`OutOfRoom`](PlanError::OutOfRoom) counts
    /// header-slab bytes).
    ///
    /// ```
    /// use offload_buf::{Plan, Segmenter, SegmentRef, Slab, Span};
    /// # struct Toy { hl: usize, mss: usize, payload: usize }
    /// # impl Toy {
    /// #     fn new(len: usize, hl: usize, mss: usize) -> Toy { Toy { hl, mss, payload: len - hl } }
    /// # }
    /// # impl Segmenter for Toy {
    /// #     fn header_len(&self) -> usize { self.hl }
    /// #     fn gso_size(&self) -> usize { self.mss }
    /// #     fn payload_len(&self) -> usize { self.payload }
    /// #     fn segments(&self) -> usize { self.payload.div_ceil(self.mss).max(1) }
    /// #     fn patch(&self, segment: &mut [u8], _: usize, i: usize, _: u16) {
    /// #         segment[0] = i as u8;
    /// #     }
    /// # }
    /// let packet = [[9u8].as_slice(), &[7u8; 300]].concat();
    /// let plan = Plan::segmented(Toy::new(301, 1, 100)).unwrap();
    /// let (mut headers, mut segs) = ([0u8; 64], [SegmentRef::default(); 3]);
    /// let out = plan.split_headers(&packet, 0, Slab::new(&mut headers, 8), &mut segs)?;
    /// assert_eq!((out.segments, out.used), (3, 3 * (8 + 1)));
    /// assert_eq!(segs[2].header, Span { offset: 26, len: 1 });
    /// assert_eq!((headers[26], segs[2].payload), (2, Span { offset: 201, len: 100 }));
    /// # Ok::<(), offload_buf::PlanError>(())
    /// ```
    #[inline]
    pub fn split_headers(
        &self,
        packet: &[u8],
        first_segment: usize,
        headers: Slab<'_>,
        segs: &mut [SegmentRef],
    ) -> Result<Split, PlanError> {
        self.check_len(packet)?;
        let hl = self.header_part_len();
        self.lay_out(
            first_segment,
            headers,
            segs,
            |_| hl,
            |i, dst, header| SegmentRef {
                header,
                payload: self.write_headers(packet, i, dst),
            },
        )
    }

    /// [`split`](Self::split) into separate caller buffers: the k-th segment written goes to
    /// `bufs[k][..lens[k]]`. Stops (with [`OutOfRoom`](PlanError::OutOfRoom)) at the first
    /// missing buffer or length slot, or a buffer too short for its segment.
    ///
    /// # Errors
    /// As [`split`](Self::split).
    ///
    /// ```
    /// use offload_buf::{Plan, PlanError, Segmenter};
    /// # struct Toy { hl: usize, mss: usize, payload: usize }
    /// # impl Toy {
    /// #     fn new(len: usize, hl: usize, mss: usize) -> Toy { Toy { hl, mss, payload: len - hl } }
    /// # }
    /// # impl Segmenter for Toy {
    /// #     fn header_len(&self) -> usize { self.hl }
    /// #     fn gso_size(&self) -> usize { self.mss }
    /// #     fn payload_len(&self) -> usize { self.payload }
    /// #     fn segments(&self) -> usize { self.payload.div_ceil(self.mss).max(1) }
    /// #     fn patch(&self, _: &mut [u8], _: usize, _: usize, _: u16) {}
    /// # }
    /// let plan = Plan::segmented(Toy::new(2840, 40, 1400)).unwrap();
    /// let (mut bufs, mut lens) = (vec![vec![0u8; 1500]; 1], [0usize; 1]);
    /// let err = plan.split_to_buffers(&[1u8; 2840], 0, &mut bufs, &mut lens).unwrap_err();
    /// assert_eq!(err, PlanError::OutOfRoom { written: 1, resume_at: 1, used: 0 });
    /// assert_eq!(lens[0], 1440);
    /// ```
    pub fn split_to_buffers<B: AsMut<[u8]>>(
        &self,
        packet: &[u8],
        first_segment: usize,
        bufs: &mut [B],
        lens: &mut [usize],
    ) -> Result<Split, PlanError> {
        self.check_len(packet)?;
        let n = self.segments();
        resume_check(first_segment, n)?;
        let mut written = 0usize;
        for i in first_segment..n {
            let len = self.segment_len(i);
            let (Some(buf), Some(slot)) = (bufs.get_mut(written), lens.get_mut(written)) else {
                break;
            };
            let Some(dst) = buf.as_mut().get_mut(..len) else {
                break;
            };
            self.write(packet, i, dst);
            *slot = len;
            written += 1;
        }
        self.finish_call(first_segment, written, 0)
    }

    /// [`split`](Self::split) for a super-packet that already lies inside the slab, at
    /// `input`; the plan was built for `&buf[input]`. The segments are laid out from the start
    /// of the slab exactly as [`split`](Self::split) lays them out, with the same bytes.
    ///
    /// Splitting in place consumes the input, so it is all or nothing: if `spans` or the slab
    /// cannot take every segment ([`room`](Self::room) bytes), nothing is written and
    /// [`OutOfRoom`](PlanError::OutOfRoom) reports `written: 0, resume_at: 0` with the input
    /// intact. The input may lie anywhere in the slab; it is cheapest where it ends the slab
    /// or starts at least `room(0, headroom) − input.len()` bytes in (otherwise it is first
    /// moved to the end of the slab, one extra copy: [`place_input`](crate::place_input)).
    ///
    /// # Errors
    /// As [`split`](Self::split), plus [`PlanError::InputOutsideSlab`].
    ///
    /// ```
    /// use offload_buf::{Plan, Segmenter, Slab, Span};
    /// # struct Toy { hl: usize, mss: usize, payload: usize }
    /// # impl Toy {
    /// #     fn new(len: usize, hl: usize, mss: usize) -> Toy { Toy { hl, mss, payload: len - hl } }
    /// # }
    /// # impl Segmenter for Toy {
    /// #     fn header_len(&self) -> usize { self.hl }
    /// #     fn gso_size(&self) -> usize { self.mss }
    /// #     fn payload_len(&self) -> usize { self.payload }
    /// #     fn segments(&self) -> usize { self.payload.div_ceil(self.mss).max(1) }
    /// #     fn patch(&self, segment: &mut [u8], _: usize, i: usize, _: u16) {
    /// #         segment[0] = i as u8;
    /// #     }
    /// # }
    /// let packet: Vec<u8> = (0..=255).collect();
    /// let plan = Plan::segmented(Toy::new(256, 1, 100)).unwrap();
    /// let mut buf = [0u8; 512];
    /// buf[256..].copy_from_slice(&packet);
    /// let mut spans = [Span::default(); 3];
    /// let out = plan.split_in_place(Slab::new(&mut buf, 4), 256..512, &mut spans)?;
    ///
    /// let (mut other, mut other_spans) = ([0u8; 512], [Span::default(); 3]);
    /// plan.split(&packet, 0, Slab::new(&mut other, 4), &mut other_spans)?;
    /// assert_eq!((out.segments, spans), (3, other_spans));
    /// for s in &spans {
    ///     assert_eq!(buf[s.range()], other[s.range()]);
    /// }
    /// # Ok::<(), offload_buf::PlanError>(())
    /// ```
    pub fn split_in_place(
        &self,
        slab: Slab<'_>,
        input: Range<usize>,
        spans: &mut [Span],
    ) -> Result<Split, PlanError> {
        let (buf, headroom) = slab.into_parts();
        let Some(packet) = buf.get(input.clone()) else {
            return Err(PlanError::InputOutsideSlab {
                start: input.start,
                end: input.end,
                slab_len: buf.len(),
            });
        };
        self.check_len(packet)?;
        let n = self.segments();
        let total = self.room(0, headroom);
        if spans.len() < n || buf.len() < total {
            return Err(PlanError::OutOfRoom {
                written: 0,
                resume_at: 0,
                used: 0,
            });
        }
        // Front to back without overwriting input still to be read: the slab holds `total`
        // bytes, so the input fits where `place_input` moves it (a non-GSO packet, no headers
        // to repeat, stays).
        let at = crate::place_input(buf, input, n, headroom, self.header_len());
        let mut pos = 0usize;
        for (i, span) in spans.iter_mut().enumerate().take(n) {
            let seg_len = self.segment_len(i);
            let start = pos + headroom;
            // Segment 0 takes its headers from the input; later ones from the finished
            // segment 0, which nothing overwrites.
            let header = if i == 0 { at } else { headroom };
            self.write_in_place(buf, at, header, i, start);
            *span = Span {
                offset: start,
                len: seg_len,
            };
            pos = start + seg_len;
        }
        self.finish_call(0, n, pos)
    }

    /// Complete a packet passed through where it lies: finish a `NEEDS_CSUM` checksum in
    /// place, as the kernel's `skb_checksum_help` does; report a plain packet's status without
    /// touching it.
    ///
    /// # Errors
    /// [`PlanError::NeedsSplit`] for a segmented plan; [`PlanError::PlanMismatch`] if
    /// `packet` is not the plan's packet (its length differs).
    ///
    /// ```
    /// use offload_buf::{ChecksumStatus, Plan, PlanError, Segmenter};
    /// # struct Toy { hl: usize, mss: usize, payload: usize }
    /// # impl Toy {
    /// #     fn new(len: usize, hl: usize, mss: usize) -> Toy { Toy { hl, mss, payload: len - hl } }
    /// # }
    /// # impl Segmenter for Toy {
    /// #     fn header_len(&self) -> usize { self.hl }
    /// #     fn gso_size(&self) -> usize { self.mss }
    /// #     fn payload_len(&self) -> usize { self.payload }
    /// #     fn segments(&self) -> usize { self.payload.div_ceil(self.mss).max(1) }
    /// #     fn patch(&self, _: &mut [u8], _: usize, _: usize, _: u16) {}
    /// # }
    /// let mut packet = [0u8; 60];
    /// let plain = Plan::<Toy>::plain(60, ChecksumStatus::KnownGood);
    /// assert_eq!(plain.finish_in_place(&mut packet), Ok(ChecksumStatus::KnownGood));
    /// let split = Plan::segmented(Toy::new(60, 40, 10)).unwrap();
    /// assert_eq!(split.finish_in_place(&mut packet), Err(PlanError::NeedsSplit));
    /// ```
    pub fn finish_in_place(&self, packet: &mut [u8]) -> Result<ChecksumStatus, PlanError> {
        self.check_len(packet)?;
        match &self.kind {
            Kind::Plain(s) => Ok(*s),
            Kind::Partial { start, offset } => {
                let sum = Accumulator::new().add(&packet[*start..]);
                store_partial(packet, *start + *offset, sum);
                Ok(ChecksumStatus::KnownGood)
            }
            Kind::Segmented(_) => Err(PlanError::NeedsSplit),
        }
    }

    /// `packet` must be as long as the one the plan was built for: every offset the plan
    /// writes or reads is then inside it.
    #[inline]
    fn check_len(&self, packet: &[u8]) -> Result<(), PlanError> {
        if packet.len() != self.len {
            return Err(PlanError::PlanMismatch {
                planned: self.len,
                len: packet.len(),
            });
        }
        Ok(())
    }

    /// Header length copied into every segment, or 0 for a packet passed through.
    #[inline]
    fn header_len(&self) -> usize {
        match &self.kind {
            Kind::Segmented(g) => g.header_len(),
            _ => 0,
        }
    }

    /// Length of the header part [`write_headers`](Self::write_headers) writes per segment.
    #[inline]
    fn header_part_len(&self) -> usize {
        match &self.kind {
            Kind::Plain(_) => 0,
            Kind::Partial { start, offset } => *start + *offset + CHECKSUM_LEN,
            Kind::Segmented(g) => g.header_len(),
        }
    }

    /// Write segment `i` of `packet` into `dst` (exactly `segment_len(i)` bytes), the payload
    /// copied and summed in one pass.
    #[inline]
    fn write(&self, packet: &[u8], i: usize, dst: &mut [u8]) {
        match &self.kind {
            Kind::Plain(_) => dst.copy_from_slice(packet),
            Kind::Partial { start, offset } => {
                dst[..*start].copy_from_slice(&packet[..*start]);
                let sum = inet_csum::copy_and_sum(&mut dst[*start..], &packet[*start..]);
                store_partial(dst, *start + *offset, sum);
            }
            Kind::Segmented(g) => {
                let hl = g.header_len();
                copy_headers(dst, packet, hl);
                let from = hl + i * g.gso_size();
                let p = dst.len() - hl;
                let sum = inet_csum::copy_and_sum(&mut dst[hl..], &packet[from..from + p]);
                g.patch(dst, hl + p, i, sum.fold());
            }
        }
    }

    /// Write the headers of segment `i` into `dst` and say where its payload lies in
    /// `packet`: the payload is summed where it is, not copied. `dst` is exactly
    /// [`header_part_len`](Self::header_part_len) bytes. A plain packet has no header part (its
    /// payload is the whole packet); a `NEEDS_CSUM` one carries its bytes up to and including
    /// the finished checksum field in the header part.
    #[inline]
    fn write_headers(&self, packet: &[u8], i: usize, dst: &mut [u8]) -> Span {
        match &self.kind {
            Kind::Plain(_) => Span {
                offset: 0,
                len: self.len,
            },
            Kind::Partial { start, offset } => {
                let end = *start + *offset + CHECKSUM_LEN;
                dst.copy_from_slice(&packet[..end]);
                let sum = Accumulator::new().add(&packet[*start..]);
                store_partial(dst, *start + *offset, sum);
                Span {
                    offset: end,
                    len: self.len - end,
                }
            }
            Kind::Segmented(g) => {
                let hl = g.header_len();
                copy_exact_headers(dst, &packet[..hl]);
                let p = payload_of(g, i);
                let from = hl + i * g.gso_size();
                let sum = Accumulator::new().add(&packet[from..from + p]);
                g.patch(dst, hl + p, i, sum.fold());
                Span {
                    offset: from,
                    len: p,
                }
            }
        }
    }

    /// Write segment `i` in place: the segment goes to `slab[dst..dst + segment_len(i)]`,
    /// its payload is read from the input packet at `slab[input..]`, its header from
    /// `slab[header..]` (the input for segment 0, the finished segment 0 after that: the
    /// fields that differ are all rewritten absolutely). The caller guarantees that the
    /// destination ends no later than the payload source ends and starts no later than it
    /// starts, so bytes still to be read are never overwritten.
    #[inline]
    fn write_in_place(&self, slab: &mut [u8], input: usize, header: usize, i: usize, dst: usize) {
        let seg_len = self.segment_len(i);
        match &self.kind {
            Kind::Plain(_) => slab.copy_within(input..input + self.len, dst),
            Kind::Partial { start, offset } => {
                slab.copy_within(input..input + self.len, dst);
                let seg = &mut slab[dst..dst + seg_len];
                let sum = Accumulator::new().add(&seg[*start..]);
                store_partial(seg, *start + *offset, sum);
            }
            Kind::Segmented(g) => {
                let hl = g.header_len();
                slab.copy_within(header..header + hl, dst);
                let src = input + hl + i * g.gso_size();
                let p = seg_len - hl;
                let to = dst + hl;
                let sum = if to + p <= src {
                    let (front, back) = slab.split_at_mut(src);
                    inet_csum::copy_and_sum(&mut front[to..to + p], &back[..p])
                } else {
                    // Overlapping move (only where the output catches up with the input):
                    // memmove, then sum the destination.
                    slab.copy_within(src..src + p, to);
                    Accumulator::new().add(&slab[to..to + p])
                };
                g.patch(&mut slab[dst..dst + seg_len], seg_len, i, sum.fold());
            }
        }
    }

    /// The one layout of [`split`](Self::split) and [`split_headers`](Self::split_headers)
    /// ([`Slab::lay_out`]): part `i` (`part_len(i)` bytes) goes behind the slab's headroom,
    /// back to back from its start, and `write` fills it and returns what to record for it.
    #[inline]
    fn lay_out<T>(
        &self,
        first_segment: usize,
        slab: Slab<'_>,
        records: &mut [T],
        part_len: impl Fn(usize) -> usize,
        mut write: impl FnMut(usize, &mut [u8], Span) -> T,
    ) -> Result<Split, PlanError> {
        let n = self.segments();
        resume_check(first_segment, n)?;
        let (written, used) =
            slab.lay_out(first_segment..n, records, part_len, |i, dst, span| {
                Ok::<_, PlanError>(write(i, dst, span))
            })?;
        self.finish_call(first_segment, written, used)
    }

    /// The result of a call that wrote `written` segments from `first_segment` on.
    #[inline]
    fn finish_call(
        &self,
        first_segment: usize,
        written: usize,
        used: usize,
    ) -> Result<Split, PlanError> {
        if first_segment + written < self.segments() {
            return Err(PlanError::OutOfRoom {
                written,
                resume_at: first_segment + written,
                used,
            });
        }
        Ok(Split {
            segments: written,
            checksum: self.checksum_status(),
            used,
        })
    }
}

/// A resumed split must start at a segment that exists.
#[inline]
fn resume_check(first_segment: usize, segments: usize) -> Result<(), PlanError> {
    if first_segment >= segments {
        return Err(PlanError::ResumePastEnd {
            first_segment,
            segments,
        });
    }
    Ok(())
}

/// Store a finished checksum the way `skb_checksum_help` does: the folded sum (which
/// includes the partial value already in the field), inverted; a result of 0 is stored as
/// 0xffff (`CSUM_MANGLED_0`), which matters for UDP where 0 means "no checksum".
#[inline]
fn store_partial(packet: &mut [u8], at: usize, sum: Accumulator) {
    let mut c = sum.finish();
    if c == 0 {
        c = 0xffff;
    }
    packet[at..at + 2].copy_from_slice(&c.to_be_bytes());
}

/// Copy the `hl` header bytes of `packet` to the front of `dst`, before the payload is
/// written after them. Headers are short and their length varies, so a plain copy is a
/// `memcpy` call per segment; when both sides are long enough, one fixed-size move of 64 or
/// 128 bytes does it instead (the bytes past `hl` are overwritten by the payload copy that
/// follows).
#[inline(always)]
fn copy_headers(dst: &mut [u8], packet: &[u8], hl: usize) {
    if hl <= 64
        && let (Some(d), Some(s)) = (dst.first_chunk_mut::<64>(), packet.first_chunk::<64>())
    {
        *d = *s;
    } else if hl <= 128
        && let (Some(d), Some(s)) = (dst.first_chunk_mut::<128>(), packet.first_chunk::<128>())
    {
        *d = *s;
    } else {
        copy_headers_exact(dst, packet, hl);
    }
}

/// `dst.copy_from_slice(src)` for headers (`dst` exactly their length): two overlapping
/// fixed-size moves for the usual 16–128 bytes, where a plain copy of a length known only at
/// run time is a `memcpy` call per segment.
#[inline(always)]
fn copy_exact_headers(dst: &mut [u8], src: &[u8]) {
    let n = dst.len();
    if src.len() != n {
        copy_headers_exact(dst, src, n);
    } else if (64..=128).contains(&n) {
        copy_two::<64>(dst, src);
    } else if (32..64).contains(&n) {
        copy_two::<32>(dst, src);
    } else if (16..32).contains(&n) {
        copy_two::<16>(dst, src);
    } else {
        copy_headers_exact(dst, src, n);
    }
}

/// Copy `src` to `dst` (equal lengths from `N` to `2N`) as its first and its last `N` bytes.
#[inline(always)]
fn copy_two<const N: usize>(dst: &mut [u8], src: &[u8]) {
    if let (Some(d), Some(s)) = (dst.first_chunk_mut::<N>(), src.first_chunk::<N>()) {
        *d = *s;
    }
    if let (Some(d), Some(s)) = (dst.last_chunk_mut::<N>(), src.last_chunk::<N>()) {
        *d = *s;
    }
}

/// The rare case of [`copy_headers`]: kept out of line so the compiler does not fold the
/// fixed-size moves into one variable-length `memcpy` call.
#[cold]
#[inline(never)]
fn copy_headers_exact(dst: &mut [u8], packet: &[u8], hl: usize) {
    dst[..hl].copy_from_slice(&packet[..hl]);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every tier of `copy_headers` (64-byte move, 128-byte move, exact copy) leaves the
    /// first `hl` bytes equal to the packet's and nothing written past `dst`.
    #[test]
    fn copy_headers_every_tier() {
        let packet: [u8; 300] = core::array::from_fn(|i| (i * 31 + 7) as u8);
        for hl in [20, 28, 40, 48, 60, 64, 65, 100, 128, 129, 200] {
            for dst_len in [hl, hl + 1, 63, 64, 127, 128, 129, 300] {
                if dst_len < hl {
                    continue;
                }
                for pkt_len in [hl, 64, 128, 300] {
                    if pkt_len < hl {
                        continue;
                    }
                    let mut dst = [0xeeu8; 300];
                    copy_headers(&mut dst[..dst_len], &packet[..pkt_len], hl);
                    assert_eq!(
                        dst[..hl],
                        packet[..hl],
                        "hl {hl} dst {dst_len} pkt {pkt_len}"
                    );
                    assert!(dst[dst_len..].iter().all(|&b| b == 0xee), "wrote past dst");
                }
            }
        }
    }

    /// `copy_exact_headers` copies every length exactly, in each tier and at the tiers'
    /// edges, and writes nothing past `dst`.
    #[test]
    fn copy_exact_headers_every_length() {
        let src: [u8; 200] = core::array::from_fn(|i| (i * 29 + 3) as u8);
        for n in 0..=200 {
            let mut dst = [0xeeu8; 201];
            copy_exact_headers(&mut dst[..n], &src[..n]);
            assert_eq!(dst[..n], src[..n], "length {n}");
            assert_eq!(dst[n], 0xee, "wrote past {n}");
        }
    }

    /// A toy protocol: a 6-byte header holding the segment's length, its index and its
    /// payload sum.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct Toy {
        hl: usize,
        mss: usize,
        payload: usize,
    }
    impl Toy {
        fn new(len: usize, hl: usize, mss: usize) -> Toy {
            Toy {
                hl,
                mss,
                payload: len - hl,
            }
        }
    }

    impl Segmenter for Toy {
        fn header_len(&self) -> usize {
            self.hl
        }
        fn gso_size(&self) -> usize {
            self.mss
        }
        fn payload_len(&self) -> usize {
            self.payload
        }
        fn segments(&self) -> usize {
            self.payload.div_ceil(self.mss).max(1)
        }
        fn patch(&self, segment: &mut [u8], len: usize, i: usize, payload_sum: u16) {
            segment[..2].copy_from_slice(&(len as u16).to_be_bytes());
            segment[2..4].copy_from_slice(&(i as u16).to_be_bytes());
            segment[4..6].copy_from_slice(&payload_sum.to_be_bytes());
        }
    }

    /// The header followed by `payload` bytes counting up from 1.
    fn packet(payload: usize) -> [u8; 256] {
        let mut p = [0u8; 256];
        p[..6].copy_from_slice(b"HEADER");
        for (k, b) in p[6..6 + payload].iter_mut().enumerate() {
            *b = (k + 1) as u8;
        }
        p
    }

    /// Exact bytes of every segment, and the same bytes from every split shape: whole
    /// segments, headers + payload, buffers of their own, in place (input at the slab's end
    /// and at its start, which moves it first).
    #[test]
    fn every_split_shape_writes_the_same_segments() {
        let pkt = packet(10);
        let pkt = &pkt[..16];
        let plan = Plan::segmented(Toy::new(16, 6, 4)).unwrap();
        assert_eq!(plan.segments(), 3);

        let (mut buf, mut spans) = ([0u8; 64], [Span::default(); 3]);
        let out = plan
            .split(pkt, 0, Slab::new(&mut buf, 2), &mut spans)
            .unwrap();
        assert_eq!(
            out,
            Split {
                segments: 3,
                checksum: ChecksumStatus::KnownGood,
                used: 3 * (2 + 6) + 10
            }
        );
        // Sums of the payloads [1 2 3 4], [5 6 7 8], [9 10]: 0x0406, 0x0c0e, 0x090a.
        let want: [&[u8]; 3] = [
            &[0, 10, 0, 0, 0x04, 0x06, 1, 2, 3, 4],
            &[0, 10, 0, 1, 0x0c, 0x0e, 5, 6, 7, 8],
            &[0, 8, 0, 2, 0x09, 0x0a, 9, 10],
        ];
        for (s, w) in spans.iter().zip(want) {
            assert_eq!(&buf[s.range()], w);
        }
        assert_eq!(
            spans.map(|s| s.offset),
            [2, 2 + 10 + 2, 2 + 10 + 2 + 10 + 2]
        );

        let (mut headers, mut segs) = ([0u8; 32], [SegmentRef::default(); 3]);
        let out = plan
            .split_headers(pkt, 0, Slab::new(&mut headers, 1), &mut segs)
            .unwrap();
        assert_eq!((out.segments, out.used), (3, 3 * 7));
        for (s, w) in segs.iter().zip(want) {
            let mut two = [0u8; 16];
            let (h, p) = (s.header.len, s.payload.len);
            two[..h].copy_from_slice(&headers[s.header.range()]);
            two[h..h + p].copy_from_slice(&pkt[s.payload.range()]);
            assert_eq!(&two[..h + p], w);
        }

        let mut bufs = [[0u8; 10]; 3];
        let mut lens = [0usize; 3];
        plan.split_to_buffers(pkt, 0, &mut bufs, &mut lens).unwrap();
        for ((b, l), w) in bufs.iter().zip(lens).zip(want) {
            assert_eq!(&b[..l], w);
        }

        for at in [64 - 16, 0] {
            let mut slab = [0u8; 64];
            slab[at..at + 16].copy_from_slice(pkt);
            let mut in_place = [Span::default(); 3];
            plan.split_in_place(Slab::new(&mut slab, 2), at..at + 16, &mut in_place)
                .unwrap();
            assert_eq!(in_place, spans, "input at {at}");
            for (s, w) in in_place.iter().zip(want) {
                assert_eq!(&slab[s.range()], w, "input at {at}");
            }
        }
    }

    /// A segmenter's sizes are taken only when they agree: every index a split computes from
    /// them is then inside the packet.
    #[test]
    fn segmented_refuses_sizes_that_disagree() {
        /// Header length, gso_size, payload length, segments.
        struct Sizes(usize, usize, usize, usize);
        impl Segmenter for Sizes {
            fn header_len(&self) -> usize {
                self.0
            }
            fn gso_size(&self) -> usize {
                self.1
            }
            fn payload_len(&self) -> usize {
                self.2
            }
            fn segments(&self) -> usize {
                self.3
            }
            fn patch(&self, _: &mut [u8], _: usize, _: usize, _: u16) {}
        }
        let plan = Plan::segmented(Sizes(6, 4, 10, 3)).unwrap();
        assert_eq!(
            (plan.segments(), plan.segment_len(2), plan.room(0, 0)),
            (3, 8, 28)
        );
        assert!(Plan::segmented(Sizes(6, 4, 10, 4)).is_none()); // a segment too many
        assert!(Plan::segmented(Sizes(6, 4, 10, 2)).is_none()); // a segment too few
        assert!(Plan::segmented(Sizes(6, 0, 10, 3)).is_none()); // gso_size 0
        assert!(Plan::segmented(Sizes(usize::MAX, 4, 10, 3)).is_none()); // length overflows
        assert_eq!(
            Plan::segmented(Sizes(6, 4, 0, 1)).map(|p| p.segment_len(0)),
            Some(6)
        );
    }

    /// Out of room: whole segments only, resumable; in place: nothing written.
    #[test]
    fn out_of_room_and_resume() {
        let pkt = packet(10);
        let pkt = &pkt[..16];
        let plan = Plan::segmented(Toy::new(16, 6, 4)).unwrap();
        let (mut buf, mut spans) = ([0u8; 25], [Span::default(); 3]);
        let err = plan.split(pkt, 0, Slab::new(&mut buf, 2), &mut spans);
        assert_eq!(
            err,
            Err(PlanError::OutOfRoom {
                written: 2,
                resume_at: 2,
                used: 24
            })
        );
        let out = plan
            .split(pkt, 2, Slab::new(&mut buf, 2), &mut spans)
            .unwrap();
        assert_eq!((out.segments, spans[0]), (1, Span { offset: 2, len: 8 }));
        assert_eq!(buf[2..10], [0, 8, 0, 2, 0x09, 0x0a, 9, 10]);
        assert_eq!(
            plan.split(pkt, 3, Slab::new(&mut buf, 2), &mut spans),
            Err(PlanError::ResumePastEnd {
                first_segment: 3,
                segments: 3
            })
        );
        assert_eq!(
            plan.split(&pkt[1..], 0, Slab::new(&mut buf, 2), &mut spans),
            Err(PlanError::PlanMismatch {
                planned: 16,
                len: 15
            })
        );

        // 3 × (2 + 6) + 10 = 34 bytes needed.
        let mut slab = [0u8; 32];
        slab[16..].copy_from_slice(pkt);
        let before = slab;
        assert_eq!(
            plan.split_in_place(Slab::new(&mut slab, 2), 16..32, &mut spans),
            Err(PlanError::OutOfRoom {
                written: 0,
                resume_at: 0,
                used: 0
            })
        );
        assert_eq!(slab, before);
        assert_eq!(
            plan.split_in_place(Slab::new(&mut slab, 2), 16..33, &mut spans),
            Err(PlanError::InputOutsideSlab {
                start: 16,
                end: 33,
                slab_len: 32
            })
        );
    }

    /// `NEEDS_CSUM`: the checksum finished as `skb_checksum_help` finishes it, in every shape;
    /// a zero result stored as 0xffff.
    #[test]
    fn partial_finished_in_every_shape() {
        // Bytes 2..4 hold the partial sum; the rest sums with it to 0x1234 + 0x0001.
        let pkt = [0xaa, 0xbb, 0x12, 0x34, 0x00, 0x01];
        let plan = Plan::<Toy>::partial(6, 2, 0).unwrap();
        let want = [0xaa, 0xbb, 0xed, 0xca, 0x00, 0x01]; // !0x1235
        let mut done = pkt;
        assert_eq!(
            plan.finish_in_place(&mut done),
            Ok(ChecksumStatus::KnownGood)
        );
        assert_eq!(done, want);

        let (mut buf, mut spans) = ([0u8; 16], [Span::default(); 1]);
        plan.split(&pkt, 0, Slab::new(&mut buf, 3), &mut spans)
            .unwrap();
        assert_eq!(buf[spans[0].range()], want);

        let (mut headers, mut segs) = ([0u8; 16], [SegmentRef::default(); 1]);
        plan.split_headers(&pkt, 0, Slab::new(&mut headers, 0), &mut segs)
            .unwrap();
        assert_eq!(headers[segs[0].header.range()], want[..4]);
        assert_eq!(segs[0].payload, Span { offset: 4, len: 2 });

        let mut slab = [0u8; 16];
        slab[10..].copy_from_slice(&pkt);
        plan.split_in_place(Slab::new(&mut slab, 3), 10..16, &mut spans)
            .unwrap();
        assert_eq!(slab[spans[0].range()], want);

        // Sum 0xffff: stored as 0xffff, not 0.
        let mut zero = [0xff, 0xff, 0x00, 0x00];
        let plan = Plan::<Toy>::partial(4, 0, 2).unwrap();
        plan.finish_in_place(&mut zero).unwrap();
        assert_eq!(zero, [0xff, 0xff, 0xff, 0xff]);
        assert!(Plan::<Toy>::partial(4, usize::MAX, 2).is_none());
    }

    /// A plain packet is copied as is, one segment, its status reported as given.
    #[test]
    fn plain_passes_through() {
        let pkt = [1u8, 2, 3, 4, 5];
        let plan = Plan::<Toy>::plain(5, ChecksumStatus::Unverified);
        let (mut buf, mut spans) = ([0u8; 16], [Span::default(); 1]);
        let out = plan
            .split(&pkt, 0, Slab::new(&mut buf, 1), &mut spans)
            .unwrap();
        assert_eq!(out.checksum, ChecksumStatus::Unverified);
        assert_eq!(buf[spans[0].range()], pkt);
        let (mut headers, mut segs) = ([0u8; 4], [SegmentRef::default(); 1]);
        plan.split_headers(&pkt, 0, Slab::new(&mut headers, 0), &mut segs)
            .unwrap();
        assert_eq!(
            segs[0],
            SegmentRef {
                header: Span { offset: 0, len: 0 },
                payload: Span { offset: 0, len: 5 }
            }
        );
        assert_eq!(plan.room(0, 3), 8);
        assert_eq!(plan.header_room(0, 3), 3);
        assert_eq!(plan.room(1, 3), 0);
    }
}
