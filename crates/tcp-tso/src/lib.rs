#![doc = include_str!("../README.md")]
//!
//! # Vocabulary
//! - [`Plan::new`] decodes and validates the virtio header against the packet once: how many
//!   segments, how long each, how much storage they need ([`Plan::room`],
//!   [`Plan::header_room`]).
//! - The plan then writes the segments into caller storage:
//!   - [`Plan::split`]: into a [`Slab`] (a buffer and the headroom to leave before each
//!     segment, e.g. for a tunnel header), laid out as `[headroom][segment]…`, each segment's
//!     place recorded as a [`Span`];
//!   - [`Plan::split_headers`]: only each segment's IP + TCP headers go into the slab; its
//!     payload stays in the super-packet, summed but not copied ([`SegmentRef`]) — for a
//!     consumer that takes a segment as two parts (a `writev`, `tcp-gro`'s two-part packets);
//!   - [`Plan::split_to_buffers`]: one caller buffer per segment;
//!   - [`Plan::split_in_place`]: the super-packet already lies in the slab it is split into.
//! - [`Plan::finish_in_place`] completes a non-GSO packet (`NEEDS_CSUM`) where it lies.
//!
//! Every split reports a [`Split`] whose [`ChecksumStatus`] a coalescer takes as is. When
//! storage runs out, as many whole segments as fit are written and
//! [`SplitError::OutOfRoom`] says how many and where to resume (the `first_segment` of the
//! next call). Non-GSO packets pass through: a `NEEDS_CSUM` checksum is finished,
//! `DATA_VALID` is reported as [`ChecksumStatus::KnownGood`], a plain packet as
//! [`ChecksumStatus::Unverified`].
//!
//! Decisions where the input leaves room for choice (all checked against Linux 6.18 by
//! `linux-tun/tests/kernel_tso.rs`; rule book = `docs/kernel-offload-rules.md` in the repository):
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
#![no_std]
#![forbid(unsafe_code)]

mod error;
mod plan;
mod split;

pub use error::{Malformed, SplitError};
pub use plan::Plan;

// The types this crate's signatures take and return, so a user needs no other dependency: the
// storage shapes are `offload-buf`'s, shared with every splitter (one shape for TCP and UDP).
pub use inet_csum::ChecksumStatus;
pub use inet_hdr::{IpVersion, ParseError};
pub use offload_buf::{SegmentRef, Slab, Span, Split};
pub use virtio_net_hdr::{
    Error as HeaderError, Flags, GsoKind, GsoType, Offload, VirtioNetHdr, VirtioNetHdrLe,
};
