#![doc = include_str!("../README.md")]
//!
//! # In more detail
//!
//! A tunnel receives MSS-sized TCP segments and must write them to a TUN. Writing a batch as a
//! few 64 KB super-packets instead of dozens of 1.5 KB packets is where the throughput comes
//! from. [`Coalescer`] takes a batch of IP packets of any protocol and flow, merges TCP segments
//! exactly as the kernel's GRO would (rule book §2 and §6), and yields [`Output`]s in write order:
//!
//! - a merged super-packet is the first segment's **patched headers** followed by **payload
//!   slices still living in the input buffers** ([`Output::payloads`], [`Output::io_slices`]), so
//!   a device can `writev` it without copying payload; [`Output::materialize`] copies it into one
//!   contiguous buffer for users without scatter-gather;
//! - every other packet is passed through untouched with a zeroed (plain) virtio header.
//!
//! The coalescer owns all of its tables and reuses them batch after batch: after warm-up a batch
//! allocates nothing. The crate is `no_std` + `alloc`; the `std` feature (default) adds the
//! `IoSlice` helpers.
//!
//! # What merges
//! Exactly what the kernel's GRO (≥ 6.10) would merge (rule book §2, §6): same addresses, ports
//! and (IPv6) flow label and byte-identical Hop-by-Hop/Routing/Destination Options headers;
//! equal TTL, TOS and DF (IPv6: traffic class and hop limit); equal ACK number, data offset,
//! window, option bytes and flags but PSH/FIN; adjacent sequence numbers; IPv4 IDs that
//! increment by one, or (DF=1 only) are all equal; payload 1..=first segment's size, a shorter,
//! PSH or FIN segment ending the run; at most 65535 bytes merged. IPv4 options, fragments,
//! IPv6 Fragment headers, SYN/RST/URG and empty segments never merge. Our decisions (rule book
//! §0), where kernels differ:
//! - a CWR segment never merges — it completes the run in front of it and is written alone — so
//!   a super-packet never carries CWR and the GSO ECN bit is never set;
//! - DF=0 segments with equal IDs do not merge;
//! - a segment that ends where a held run begins is prepended (out-of-order arrival within a
//!   batch; [`Config::out_of_order`] turns this off);
//! - a fixed-ID run is written with its first ID: TUN cannot say `FIXEDID`, so the kernel
//!   re-segments it with incrementing IDs (harmless with DF=1, RFC 6864).
//!
//! A same-flow packet that cannot merge (an ACK without data, a header change) completes the
//! flow's runs, so nothing written later of the flow overtakes it.
//!
//! # Checksums
//! With [`ChecksumStatus::Unverified`] a segment is verified before it joins a run, and a run's first
//! segment when the run is drained (a segment that stays alone is written unchanged, so it is
//! never summed). A bad segment is written alone and unchanged; if a run's first segment turns
//! out bad, it is written alone and the rest of the run forms its own packet.
//!
//! ```
//! use tcp_gro::{ChecksumStatus, Coalescer, Config};
//!
//! /// An IPv4 TCP segment 10.0.0.1:40000 → 10.0.0.2:5201 (DF, TTL 64, ACK, window 502), `len`
//! /// payload bytes, checksums valid.
//! fn segment(seq: u32, ip_id: u16, len: usize) -> Vec<u8> {
//!     let mut p = vec![
//!         0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
//!         0x9c, 0x40, 0x14, 0x51, 0, 0, 0, 0, 0, 0, 0, 1, 0x50, 0x10, 0x01, 0xf6, 0, 0, 0, 0,
//!     ];
//!     p[2..4].copy_from_slice(&((40 + len) as u16).to_be_bytes());
//!     p[4..6].copy_from_slice(&ip_id.to_be_bytes());
//!     p[24..28].copy_from_slice(&seq.to_be_bytes());
//!     p.resize(40 + len, 0xab);
//!     let ip = inet_csum::header_checksum(&p[..20]);
//!     p[10..12].copy_from_slice(&ip.to_be_bytes());
//!     let tcp = inet_csum::pseudo_header_v4([10, 0, 0, 1], [10, 0, 0, 2], 6, (20 + len) as u16)
//!         .add(&p[20..])
//!         .finish();
//!     p[36..38].copy_from_slice(&tcp.to_be_bytes());
//!     p
//! }
//!
//! // Three in-order 1000-byte segments of one flow and an unrelated UDP-ish packet.
//! let mut packets: Vec<Vec<u8>> = (0..3u32)
//!     .map(|i| segment(1000 * i, 7 + i as u16, 1000))
//!     .collect();
//! packets.push(vec![0x45, 0, 0, 20, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 9, 10, 0, 0, 8]);
//!
//! let mut gro = Coalescer::new(Config::default());
//! for (i, p) in packets.iter().enumerate() {
//!     gro.push(i, p, ChecksumStatus::Unverified);
//! }
//! let outs: Vec<_> = gro.drain(&packets).collect();
//! assert_eq!(outs.len(), 2);
//! assert!(outs[0].is_merged());
//! assert_eq!(outs[0].indices(), &[0, 1, 2]);
//! assert_eq!(outs[0].len(), 40 + 3000);
//! assert_eq!(outs[0].vnet_hdr().gso_size(), 1000);
//! assert!(!outs[1].is_merged()); // passed through
//! assert_eq!(outs[1].vnet_hdr(), virtio_net_hdr::VirtioNetHdr::plain());
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod coalesce;
mod config;
mod emit;
mod rules;
mod segment;
mod table;
mod verify;

pub use coalesce::Coalescer;
pub use config::{Config, MAX_MERGED_LEN};
/// What is known about a pushed segment's checksums. A merged super-packet is written with
/// `NEEDS_CSUM`, so the kernel computes a fresh checksum over the merged payload and a corrupt
/// segment merged blindly would be blessed: an [`Unverified`](ChecksumStatus::Unverified)
/// segment is verified (as `tcp4_gro_receive` does) and a bad one passes through alone and
/// unmodified; a [`KnownGood`](ChecksumStatus::KnownGood) one (from our own split, or
/// authenticated by a tunnel's crypto) skips that work.
pub use inet_csum::ChecksumStatus;
// The types this crate's signatures return, so a user needs no other dependency. The outputs
// and the packet source are `offload-buf`'s, shared with every coalescer: a writer handles TCP
// and UDP outputs with the same code.
#[cfg(feature = "std")]
pub use offload_buf::IoSliceBuf;
pub use offload_buf::{Drain, Output, PacketSource, Payloads, TooSmall};
pub use virtio_net_hdr::{Flags, GsoType, VirtioNetHdr};
