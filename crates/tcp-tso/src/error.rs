//! Typed errors: one variant per reason, so callers match on structure, never on text.

use inet_hdr::ParseError;
use offload_buf::PlanError;
use virtio_net_hdr::{Error as HeaderError, GsoKind};

/// Why a packet could not be split (or finished).
///
/// [`OutOfRoom`](SplitError::OutOfRoom) is the only variant after which output exists: the
/// segments it counts are complete and the call can be repeated from `resume_at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SplitError {
    /// The virtio header is malformed or disagrees with the packet (as decoded by
    /// [`VirtioNetHdr::decode`](virtio_net_hdr::VirtioNetHdr::decode)): `gso_size` 0,
    /// `csum_start` outside the packet or below the minimum IP header, a TCP data offset
    /// below 5 or past the end, the IP version not matching the GSO type, `csum_start` not
    /// at the TCP header, …
    Header(HeaderError),
    /// A GSO type this crate does not split (UDP_L4).
    Unsupported(GsoKind),
    /// The IP packet behind a TCP GSO header is malformed.
    Malformed(Malformed),
    /// Not every segment fit. `written` whole segments were written by this call (all of
    /// them complete, reported in order); call again with `first_segment = resume_at` and
    /// more room to continue. Nothing is half-written.
    OutOfRoom {
        /// Segments written by this call.
        written: usize,
        /// Index (within the packet) of the first segment not written.
        resume_at: usize,
        /// Bytes of the slab used by the written segments (headroom included); 0 for
        /// [`split_to_buffers`](crate::Plan::split_to_buffers).
        used: usize,
    },
    /// `first_segment` is not below the packet's segment count.
    ResumePastEnd {
        /// The requested first segment.
        first_segment: usize,
        /// How many segments the packet has.
        segments: usize,
    },
    /// The `input` range of [`split_in_place`](crate::Plan::split_in_place) does not lie inside
    /// the slab.
    InputOutsideSlab {
        /// Start of the range.
        start: usize,
        /// End of the range.
        end: usize,
        /// Slab length.
        slab_len: usize,
    },
    /// [`finish_in_place`](crate::Plan::finish_in_place) was given a GSO header: the packet must be
    /// split, not finished.
    NeedsSplit,
    /// A `*_planned` call was given a packet of another length than the one its
    /// [`Plan`](crate::Plan) was built for.
    PlanMismatch {
        /// Length of the packet the plan was built for.
        planned: usize,
        /// Length of the packet given.
        len: usize,
    },
    /// `payload ≤ gso_size < payload + TCP option bytes`: the kernel drops such a packet and
    /// nothing comes out (rule book §5.4.1). `virtio_net_hdr_to_skb` marks it GSO because it
    /// counts a fixed 20-byte TCP header; `tcp_gso_segment`, which counts the real one, then
    /// finds no payload beyond `gso_size` to segment.
    NothingToSegment {
        /// Payload bytes after the TCP header.
        payload: usize,
        /// TCP option bytes (data offset × 4 − 20).
        tcp_options: usize,
        /// `gso_size`.
        gso_size: usize,
    },
}

/// What is wrong with the IP packet behind a TCP GSO header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Malformed {
    /// The IP header could not be parsed, or its length field disagrees with the packet
    /// length (`inet_hdr::classify`).
    Ip(ParseError),
    /// The L4 protocol (after any IPv6 Hop-by-Hop/Routing/Destination-Options headers) is
    /// not TCP.
    NotTcp(u8),
    /// An IPv4 fragment or an IPv6 Fragment header: the kernel's GSO has no handler for it
    /// (`inet_gso_segment` / `ipv6_gso_segment`).
    Fragment,
}

impl SplitError {
    /// The shared split's error (`offload-buf`'s), as this crate's variant of the same name.
    #[inline]
    pub(crate) fn from_plan(e: PlanError) -> SplitError {
        match e {
            PlanError::OutOfRoom {
                written,
                resume_at,
                used,
            } => SplitError::OutOfRoom {
                written,
                resume_at,
                used,
            },
            PlanError::ResumePastEnd {
                first_segment,
                segments,
            } => SplitError::ResumePastEnd {
                first_segment,
                segments,
            },
            PlanError::InputOutsideSlab {
                start,
                end,
                slab_len,
            } => SplitError::InputOutsideSlab {
                start,
                end,
                slab_len,
            },
            PlanError::NeedsSplit => SplitError::NeedsSplit,
            PlanError::PlanMismatch { planned, len } => SplitError::PlanMismatch { planned, len },
        }
    }
}

impl From<HeaderError> for SplitError {
    fn from(e: HeaderError) -> Self {
        SplitError::Header(e)
    }
}

impl From<Malformed> for SplitError {
    fn from(e: Malformed) -> Self {
        SplitError::Malformed(e)
    }
}

impl core::fmt::Display for SplitError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SplitError::Header(e) => write!(f, "bad virtio header: {e}"),
            SplitError::Unsupported(k) => write!(f, "GSO type {k:?} is not split by tcp-tso"),
            SplitError::Malformed(m) => write!(f, "malformed super-packet: {m}"),
            SplitError::OutOfRoom {
                written,
                resume_at,
                used,
            } => write!(
                f,
                "out of room after {written} segments ({used} bytes); resume at segment {resume_at}"
            ),
            SplitError::ResumePastEnd {
                first_segment,
                segments,
            } => write!(
                f,
                "first segment {first_segment} is past the packet's {segments} segments"
            ),
            SplitError::InputOutsideSlab {
                start,
                end,
                slab_len,
            } => write!(
                f,
                "input range {start}..{end} is not inside the {slab_len}-byte slab"
            ),
            SplitError::NeedsSplit => f.write_str("a GSO packet must be split, not finished"),
            SplitError::PlanMismatch { planned, len } => write!(
                f,
                "the plan is for a {planned}-byte packet, this one has {len} bytes"
            ),
            SplitError::NothingToSegment {
                payload,
                tcp_options,
                gso_size,
            } => write!(
                f,
                "payload {payload} ≤ gso_size {gso_size} < payload + {tcp_options} TCP option bytes: \
                 nothing to segment, the kernel drops it"
            ),
        }
    }
}

impl core::fmt::Display for Malformed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Malformed::Ip(e) => write!(f, "{e}"),
            Malformed::NotTcp(p) => write!(f, "L4 protocol {p} is not TCP"),
            Malformed::Fragment => f.write_str("IP fragments cannot be segmented"),
        }
    }
}

impl core::error::Error for SplitError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            SplitError::Header(e) => Some(e),
            SplitError::Malformed(m) => Some(m),
            _ => None,
        }
    }
}

impl core::error::Error for Malformed {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Malformed::Ip(e) => Some(e),
            _ => None,
        }
    }
}
