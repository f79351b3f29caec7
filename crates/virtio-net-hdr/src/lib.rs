#![doc = include_str!("../README.md")]
//!
//! # In more detail
//!
//! - [`VirtioNetHdr`] (10 bytes) and [`VirtioNetHdrV1`] (12 bytes, `num_buffers`): zerocopy
//!   structs, host-native byte order by default (what TUN uses without `TUNSETVNETLE`),
//!   [`VirtioNetHdrLe`] for little-endian.
//! - Typed [`Flags`] and [`GsoType`]; unknown values are representable and rejected by
//!   validation, never a panic.
//! - [`VirtioNetHdr::decode`]: what a splitter needs from a header read from TUN, with the real
//!   header length derived from `csum_start` and the TCP data offset (the kernel's `hdr_len` is
//!   only a hint — rule book §3.4).
//! - [`VirtioNetHdr::check_kernel`]: accept or reject a header exactly as the kernel's
//!   `tun_get_user` / `virtio_net_hdr_to_skb` would (rule book §3.3), and
//!   [`VirtioNetHdr::check_emit`], the stricter contract our writers keep.
//! - Builders for the headers GRO writes: [`VirtioNetHdr::tcp_gso`],
//!   [`VirtioNetHdr::needs_csum`], [`VirtioNetHdr::plain`].
//!
//! ```
//! use virtio_net_hdr::{VirtioNetHdr, Offload, GsoKind};
//! # let mut buf = vec![0u8; 10];
//! # VirtioNetHdr::tcp_gso(inet_hdr::IpVersion::V4, 20, 20, 100, false).write_to(&mut buf[..]).unwrap();
//! # buf.extend_from_slice(&[
//! #     0x45, 0, 0x01, 0x54, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
//! #     0x9c, 0x40, 0x14, 0x51, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 0xff, 0xff, 0, 0, 0, 0,
//! # ]);
//! # buf.resize(10 + 340, 0xab);
//! // A buffer read from a TUN: 10-byte header, then the IP packet.
//! let (hdr, packet) = VirtioNetHdr::ref_from_packet(&buf)?;
//! match hdr.decode(packet)? {
//!     Offload::Gso(gso) => {
//!         assert_eq!(gso.kind, GsoKind::TcpV4);
//!         assert_eq!((gso.gso_size, gso.header_len), (100, 40));
//!     }
//!     other => panic!("expected GSO, got {other:?}"),
//! }
//! # Ok::<(), virtio_net_hdr::Error>(())
//! ```
#![no_std]
#![forbid(unsafe_code)]

mod error;
mod hdr;
mod validate;

pub use error::Error;
pub use hdr::{Flags, GsoType, VirtioNetHdr, VirtioNetHdrLe, VirtioNetHdrV1, VirtioNetHdrV1Le};
// The types this crate's signatures take and return: the IP version `VirtioNetHdr::tcp_gso`
// and `GsoKind::ip_version` speak of, the parse error `Error::Ip` carries.
pub use inet_hdr::{IpVersion, ParseError};
pub use validate::{Gso, GsoKind, Offload};
