//! Typed errors: one variant per reason, so callers match on structure, never on text.

use inet_hdr::ParseError;
use offload_buf::PlanError;
use virtio_net_hdr::{Error as HeaderError, GsoKind};

/// Why a packet could not be split (or finished).
///
/// [`OutOfRoom`](SplitError::OutOfRoom) is the only variant after which output exists: the
/// datagrams it counts are complete and the call can be repeated from `resume_at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SplitError {
    /// The virtio header is malformed or disagrees with the packet (as decoded by
    /// [`VirtioNetHdr::decode`](virtio_net_hdr::VirtioNetHdr::decode)): `gso_size` 0 or
    /// `GSO_BY_FRAGS`, `csum_start` outside the packet or below the minimum IP header, the GSO
    /// ECN bit, `csum_start` not at the UDP header, more than
    /// [`UDP_MAX_SEGMENTS`](virtio_net_hdr::VirtioNetHdr::UDP_MAX_SEGMENTS) segments, …
    Header(HeaderError),
    /// A GSO type this crate does not split (TCPV4, TCPV6).
    Unsupported(GsoKind),
    /// The IP packet behind a `UDP_L4` header is malformed.
    Malformed(Malformed),
    /// Not every datagram fit. `written` whole datagrams were written by this call (all of
    /// them complete, reported in order); call again with `first_segment = resume_at` and
    /// more room to continue. Nothing is half-written.
    OutOfRoom {
        /// Datagrams written by this call.
        written: usize,
        /// Index (within the packet) of the first datagram not written.
        resume_at: usize,
        /// Bytes of the slab used by the written datagrams (headroom included); 0 for
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
    /// A `Plan` method was given a packet of another length than the one its
    /// [`Plan`](crate::Plan) was built for.
    PlanMismatch {
        /// Length of the packet the plan was built for.
        planned: usize,
        /// Length of the packet given.
        len: usize,
    },
}

/// What is wrong with the IP packet behind a `UDP_L4` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Malformed {
    /// The IP header could not be parsed, or its length field disagrees with the packet
    /// length (`inet_hdr::classify`).
    Ip(ParseError),
    /// The L4 protocol (after any IPv6 Hop-by-Hop/Routing/Destination-Options headers) is
    /// not UDP.
    NotUdp(u8),
    /// An IPv6 Fragment header: `ipv6_gso_segment` has no handler for it and the kernel drops
    /// the packet. (An IPv4 fragment is split, its fragment fields copied into every
    /// datagram, as `inet_gso_segment` copies them.)
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
            SplitError::Unsupported(k) => write!(f, "GSO type {k:?} is not split by udp-gso"),
            SplitError::Malformed(m) => write!(f, "malformed super-packet: {m}"),
            SplitError::OutOfRoom {
                written,
                resume_at,
                used,
            } => write!(
                f,
                "out of room after {written} datagrams ({used} bytes); resume at segment {resume_at}"
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
        }
    }
}

impl core::fmt::Display for Malformed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Malformed::Ip(e) => write!(f, "{e}"),
            Malformed::NotUdp(p) => write!(f, "L4 protocol {p} is not UDP"),
            Malformed::Fragment => f.write_str("IPv6 fragments cannot be segmented"),
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
