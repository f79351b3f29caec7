#![doc = include_str!("../README.md")]
//!
//! # In more detail
//!
//! Each header is a `#[repr(C)]` zerocopy struct over the wire bytes with network-endian fields
//! and named accessors: every field offset the offload crates use is named exactly once, here.
//! [`classify`] inspects an IP packet and reports its version, L3 header length (walking IPv6
//! extension headers), L4 protocol and offset, or a typed [`ParseError`]. [`field`] names where
//! each field lies, for hot paths that compare raw header words.
//!
//! ```
//! use inet_hdr::{classify, IpVersion, Ipv4Header, TcpHeader, Protocol};
//! // IPv4 (TTL 64, DF, valid header checksum) 10.0.0.1 → 10.0.0.2, then a TCP SYN 40000 → 5201.
//! let packet = [
//!     0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0x26, 0xcd, 10, 0, 0, 1, 10, 0, 0, 2,
//!     0x9c, 0x40, 0x14, 0x51, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0,
//! ];
//! let info = classify(&packet)?;
//! assert_eq!(info.version, IpVersion::V4);
//! assert_eq!(info.protocol, Protocol::TCP);
//! let (ip, _) = Ipv4Header::ref_from_packet(&packet)?;
//! assert_eq!(ip.ttl(), 64);
//! let (tcp, _) = TcpHeader::ref_from_packet(&packet[info.l4_offset..])?;
//! assert!(tcp.flags().contains(inet_hdr::TcpFlags::SYN));
//! # Ok::<(), inet_hdr::ParseError>(())
//! ```
#![no_std]
#![forbid(unsafe_code)]

mod classify;
mod error;
pub mod field;
mod ipv4;
mod ipv6;
mod tcp;
mod udp;

pub use classify::{IpInfo, IpVersion, classify, classify_prefix};
pub use error::ParseError;
pub use ipv4::Ipv4Header;
pub use ipv6::{Ipv6ExtHeader, Ipv6Header};
pub use tcp::{TcpFlags, TcpHeader};
pub use udp::UdpHeader;
pub use zerocopy;

/// IP protocol / IPv6 next-header numbers (IANA) that the offload code names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Protocol(pub u8);

impl Protocol {
    /// IPv6 Hop-by-Hop Options.
    pub const HOP_BY_HOP: Protocol = Protocol(0);
    /// TCP.
    pub const TCP: Protocol = Protocol(6);
    /// UDP.
    pub const UDP: Protocol = Protocol(17);
    /// IPv6 Routing header.
    pub const ROUTING: Protocol = Protocol(43);
    /// IPv6 Fragment header.
    pub const FRAGMENT: Protocol = Protocol(44);
    /// IPv6 No Next Header.
    pub const NO_NEXT: Protocol = Protocol(59);
    /// IPv6 Destination Options.
    pub const DEST_OPTS: Protocol = Protocol(60);
}

/// ECN codepoint (RFC 3168), the low two bits of the IPv4 TOS / IPv6 traffic class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ecn {
    /// Not ECN-capable transport.
    NotEct = 0,
    /// ECT(1).
    Ect1 = 1,
    /// ECT(0).
    Ect0 = 2,
    /// Congestion experienced.
    Ce = 3,
}

impl Ecn {
    /// Decode from the low two bits of a TOS / traffic-class byte.
    ///
    /// ```
    /// assert_eq!(inet_hdr::Ecn::from_tos(0x03), inet_hdr::Ecn::Ce);
    /// ```
    #[inline]
    pub const fn from_tos(tos: u8) -> Ecn {
        match tos & 3 {
            0 => Ecn::NotEct,
            1 => Ecn::Ect1,
            2 => Ecn::Ect0,
            _ => Ecn::Ce,
        }
    }
}
