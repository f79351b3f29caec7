#![doc = include_str!("../README.md")]
//!
//! # Vocabulary
//! The same as `tcp-tso`'s, so a reader serves both with one set of storage: each output
//! datagram is a *segment* of the super-packet.
//! - [`Plan::new`] decodes and validates the virtio header against the packet once: how many
//!   segments, how long each, how much storage they need ([`Plan::room`],
//!   [`Plan::header_room`]).
//! - The plan then writes the segments into caller storage:
//!   - [`Plan::split`]: into a [`Slab`] (a buffer and the headroom to leave before each
//!     segment, e.g. for a tunnel header), laid out as `[headroom][segment]…`, each segment's
//!     place recorded as a [`Span`];
//!   - [`Plan::split_headers`]: only each segment's IP + UDP headers go into the slab; its
//!     payload stays in the super-packet, summed but not copied ([`SegmentRef`]) — for a
//!     consumer that takes a segment as two parts (a `writev`);
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
//! # Decisions
//! Where the input leaves room for choice; each checked against Linux 6.18 by
//! `linux-tun/tests/kernel_uso.rs` (rule book = `docs/kernel-offload-rules.md` in the
//! repository, §5.3):
//! - `hdr_len` is ignored; the header length is `csum_start` + 8.
//! - Every datagram but the last carries `gso_size` bytes of payload; each gets its own UDP
//!   length, IPv4 total length and header checksum (IPv4 IDs increment from the
//!   super-packet's, wrapping: the kernel has no fixed-ID mode for UDP), or IPv6 payload
//!   length (extension headers counted).
//! - UDP checksums are derived from the partial sum in the checksum field, as
//!   `__udp_gso_segment` derives them: the UDP length *field* is taken out of it and each
//!   datagram's length put in. Whatever the sender summed carries over — an IPv6 Routing
//!   header's final destination, or a length field that does not match the packet (the
//!   datagrams then carry the checksums the kernel would give them, which do not verify). A
//!   zero result is stored as 0xffff (`CSUM_MANGLED_0`); a 0 in the super-packet's field is
//!   a partial sum like any other, not "no checksum".
//! - A payload not above `gso_size` (including none) gives one datagram: the packet as
//!   written, only its checksum finished as `skb_checksum_help` finishes it. The kernel's
//!   virtio parser does not make it GSO, so no GSO code looks at it: it is a `NEEDS_CSUM`
//!   packet with the checksum at `csum_start` + 6, whatever lies there (an IPv6 fragment
//!   included), and [`Plan::finish_in_place`] finishes it too.
//! - `gso_size` 0 and 0xffff (`GSO_BY_FRAGS`), and a payload above `gso_size` ×
//!   [`UDP_MAX_SEGMENTS`](VirtioNetHdr::UDP_MAX_SEGMENTS) (128), are refused
//!   ([`SplitError::Header`]), as the kernel refuses such a header on a write; no sender
//!   makes one. So a plan never has more than 128 segments.
//! - An IPv4 fragment is split with its fragment fields copied into every datagram, as
//!   `inet_gso_segment` copies them (the kernel forwards such a write so); an IPv6 Fragment
//!   header is refused ([`Malformed::Fragment`]): `ipv6_gso_segment` has no handler for it
//!   and the kernel drops the packet.
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
