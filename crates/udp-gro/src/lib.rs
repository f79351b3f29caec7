#![doc = include_str!("../README.md")]
//!
//! # In more detail
//!
//! [`Coalescer`] takes a batch of IP packets of any protocol and flow, merges UDP datagrams
//! exactly as the kernel's UDP GRO would (`udp_gro_receive_segment`, rule book §2.5) and yields
//! [`Output`]s in write order:
//!
//! - a merged super-packet is the first datagram's **patched headers** followed by **payload
//!   slices still living in the input buffers** ([`Output::payloads`], [`Output::io_slices`]),
//!   so a device can `writev` it without copying payload; [`Output::materialize`] copies it
//!   into one contiguous buffer for users without scatter-gather;
//! - every other packet is passed through untouched with a zeroed (plain) virtio header.
//!
//! The outputs are `offload-buf`'s, the same types `tcp-gro` yields: a device writes TCP and
//! UDP super-packets with one code path. The coalescer owns all of its tables and reuses them
//! batch after batch: after warm-up a batch allocates nothing. The crate is `no_std` +
//! `alloc`; the `std` feature (default) adds the `IoSlice` helpers.
//!
//! # What merges
//! Exactly what the kernel's UDP GRO (6.10 and later; 6.18 here) merges for a `UDP_GRO` socket
//! or a device with `rx-udp-gro-forwarding` (rule book §2.5), appended in arrival order — UDP
//! has no sequence numbers, so nothing is ever reordered:
//! - one flow: same addresses and ports, and (IPv6) the same flow label and byte-identical
//!   Hop-by-Hop/Routing/Destination Options headers;
//! - datagrams the size of the first merge; a shorter one merges and ends the packet; a
//!   longer one completes the packet and starts the next;
//! - at most [`MAX_SEGMENTS`] (64, `UDP_GRO_CNT_MAX`) datagrams and [`MAX_MERGED_LEN`]
//!   (65535) bytes per merged packet ([`Config`] can lower both);
//! - equal TTL, TOS (ECN included) and DF, or (IPv6) traffic class and hop limit: a change
//!   completes the packet and starts the next;
//! - IPv4 IDs that increment by one, or (DF=1 only, our decision: rule book §0) are all equal;
//!   a jump, or a switch between the two, completes the packet and starts the next.
//!
//! Never merged, and passed through alone without touching what is held for their flow: a UDP
//! checksum of 0 (IPv4 and IPv6), a checksum that fails, an empty datagram, a UDP length other
//! than the IP payload's, IPv4 options, fragments (MF, an offset, an IPv6 Fragment header),
//! a bad IPv4 header checksum. A datagram with the reserved IPv4 flag bit is never merged
//! either, but completes its flow's packet.
//!
//! # Checksums
//! With [`ChecksumStatus::Unverified`] a datagram is verified before it joins a packet or
//! completes one, and the first datagram of a packet when the batch is drained (a datagram that
//! stays alone is written unchanged, so it is never summed). A bad datagram is written alone
//! and unchanged, behind a zeroed header; if a packet's first datagram turns out bad, it is
//! written alone and the rest of the packet forms its own.
//!
//! ```
//! use udp_gro::{ChecksumStatus, Coalescer, Config};
//! # /// An IPv4 UDP datagram 10.0.0.1:40000 → 10.0.0.2:4433 (DF, TTL 64), IPv4 ID `id`, `len`
//! # /// payload bytes, checksums valid.
//! # fn datagram(id: u16, len: usize) -> Vec<u8> {
//! #     let mut p = vec![
//! #         0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
//! #         0x9c, 0x40, 0x11, 0x51, 0, 0, 0, 0,
//! #     ];
//! #     p[2..4].copy_from_slice(&((28 + len) as u16).to_be_bytes());
//! #     p[4..6].copy_from_slice(&id.to_be_bytes());
//! #     p[24..26].copy_from_slice(&((8 + len) as u16).to_be_bytes());
//! #     p.resize(28 + len, 0xab);
//! #     let ip = inet_csum::header_checksum(&p[..20]);
//! #     p[10..12].copy_from_slice(&ip.to_be_bytes());
//! #     let udp = inet_csum::pseudo_header_v4([10, 0, 0, 1], [10, 0, 0, 2], 17, (8 + len) as u16)
//! #         .add(&p[20..])
//! #         .finish();
//! #     p[26..28].copy_from_slice(&udp.to_be_bytes());
//! #     p
//! # }
//!
//! // Four datagrams of one flow (`datagram(ip_id, payload_len)`, IPv4); the third is corrupt.
//! let mut packets: Vec<Vec<u8>> = (0..4).map(|i| datagram(1 + i, 1200)).collect();
//! packets[2][100] ^= 0xff;
//!
//! let mut gro = Coalescer::new(Config::default());
//! for (i, p) in packets.iter().enumerate() {
//!     gro.push(i, p, ChecksumStatus::Unverified);
//! }
//! let outs: Vec<_> = gro.drain(&packets).collect();
//! assert_eq!(outs.len(), 3);
//! // The two before it merge; the corrupt one is written alone, unchanged.
//! assert!(outs[0].is_merged());
//! assert_eq!(outs[0].indices(), &[0, 1]);
//! assert_eq!(outs[1].indices(), &[2]);
//! assert_eq!(outs[1].vnet_hdr(), virtio_net_hdr::VirtioNetHdr::plain());
//! // The last one's IPv4 ID is one ahead of what the packet's third member needs (the kernel
//! // counts members, and the corrupt datagram never was one): it starts a packet of its own.
//! assert_eq!(outs[2].indices(), &[3]);
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

extern crate alloc;

mod coalesce;
mod config;
mod datagram;
mod emit;
mod rules;
mod table;
mod verify;

pub use coalesce::Coalescer;
pub use config::{Config, MAX_MERGED_LEN, MAX_SEGMENTS};
/// What is known about a pushed datagram's checksum. A merged super-packet is written with
/// `NEEDS_CSUM`, so the kernel computes a fresh checksum over each datagram it cuts back out,
/// and a corrupt datagram merged blindly would be blessed: an
/// [`Unverified`](ChecksumStatus::Unverified) datagram is verified (as `udp4_gro_receive`
/// does) and a bad one passes through alone and unmodified; a
/// [`KnownGood`](ChecksumStatus::KnownGood) one (authenticated by a tunnel's crypto, or from
/// our own split) skips that work.
pub use inet_csum::ChecksumStatus;
// The types this crate's signatures return, so a user needs no other dependency. The outputs
// and the packet source are `offload-buf`'s, shared with every coalescer.
#[cfg(feature = "std")]
pub use offload_buf::IoSliceBuf;
pub use offload_buf::{Drain, Output, PacketSource, Payloads, TooSmall};
pub use virtio_net_hdr::{Flags, GsoType, VirtioNetHdr};
