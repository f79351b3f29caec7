//! IPv6 header (RFC 8200) and the generic extension-header prefix.

use zerocopy::byteorder::network_endian::{U16, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::{Ecn, ParseError, Protocol};

/// The fixed 40-byte IPv6 header.
///
/// | offset | field |
/// |---|---|
/// | 0 | version (4 bits), traffic class (8 bits), flow label (20 bits) |
/// | 4 | payload length (everything after this header, extension headers included) |
/// | 6 | next header |
/// | 7 | hop limit |
/// | 8 | source |
/// | 24 | destination |
///
/// ```
/// use inet_hdr::Ipv6Header;
/// // Flow label 0x12345, no payload, next header TCP, hop limit 64, fd00::1 → fd00::2.
/// let mut packet = vec![0x60, 0x01, 0x23, 0x45, 0, 0, 6, 64];
/// packet.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
/// packet.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
/// let (ip, _) = Ipv6Header::ref_from_packet(&packet).unwrap();
/// assert_eq!(ip.version(), 6);
/// assert_eq!(ip.hop_limit(), 64);
/// assert_eq!(ip.flow_label(), 0x12345);
/// ```
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct Ipv6Header {
    /// Version (4 bits), traffic class (8 bits), flow label (20 bits).
    pub version_tc_flow: U32,
    /// Payload length: bytes after this 40-byte header (extension headers included).
    pub payload_len: U16,
    /// Next header.
    pub next_header: u8,
    /// Hop limit.
    pub hop_limit: u8,
    /// Source address.
    pub src: [u8; 16],
    /// Destination address.
    pub dst: [u8; 16],
}

impl Ipv6Header {
    /// Size of the fixed header.
    pub const LEN: usize = core::mem::size_of::<Ipv6Header>();
    /// Mask of the traffic-class bits of the first word (`field::ipv6::VERSION_TC_FLOW`):
    /// what GRO's same-class test compares (`ipv6_gro_flush`).
    pub const TRAFFIC_CLASS_MASK: u32 = 0x0FF0_0000;
    /// Mask of the flow-label bits of the first word.
    pub const FLOW_LABEL_MASK: u32 = 0x000F_FFFF;
    /// Mask of the version + flow label bits of the first word (what GRO's same-flow test
    /// compares: `0xF00FFFFF`).
    pub const VERSION_FLOW_MASK: u32 = !Self::TRAFFIC_CLASS_MASK;

    /// View the fixed header at the start of `packet`.
    ///
    /// # Errors
    /// [`ParseError::Truncated`] if `packet` is shorter than 40 bytes.
    #[inline]
    pub fn ref_from_packet(packet: &[u8]) -> Result<(&Self, &[u8]), ParseError> {
        Self::ref_from_prefix(packet).map_err(|_| ParseError::Truncated)
    }

    /// Mutable view of the fixed header at the start of `packet`.
    ///
    /// # Errors
    /// [`ParseError::Truncated`] if `packet` is shorter than 40 bytes.
    #[inline]
    pub fn mut_from_packet(packet: &mut [u8]) -> Result<(&mut Self, &mut [u8]), ParseError> {
        Self::mut_from_prefix(packet).map_err(|_| ParseError::Truncated)
    }

    /// IP version (6 for a valid header).
    #[inline]
    pub fn version(&self) -> u8 {
        (self.version_tc_flow.get() >> 28) as u8
    }
    /// Traffic class (8 bits, DSCP + ECN).
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        ((self.version_tc_flow.get() & Self::TRAFFIC_CLASS_MASK) >> 20) as u8
    }
    /// ECN codepoint (low 2 bits of the traffic class).
    #[inline]
    pub fn ecn(&self) -> Ecn {
        Ecn::from_tos(self.traffic_class())
    }
    /// Flow label (20 bits).
    #[inline]
    pub fn flow_label(&self) -> u32 {
        self.version_tc_flow.get() & Self::FLOW_LABEL_MASK
    }
    /// Payload length.
    #[inline]
    pub fn payload_len(&self) -> u16 {
        self.payload_len.get()
    }
    /// Set the payload length.
    #[inline]
    pub fn set_payload_len(&mut self, len: u16) {
        self.payload_len.set(len);
    }
    /// Next header after the fixed header.
    #[inline]
    pub const fn next_header(&self) -> Protocol {
        Protocol(self.next_header)
    }
    /// Hop limit.
    #[inline]
    pub const fn hop_limit(&self) -> u8 {
        self.hop_limit
    }
}

/// The two-byte prefix shared by Hop-by-Hop, Routing and Destination Options headers
/// (RFC 8200 §4.3–4.6): next header and length in 8-octet units, not counting the first 8.
///
/// ```
/// use inet_hdr::Ipv6ExtHeader;
/// let (e, _) = Ipv6ExtHeader::ref_from_packet(&[6, 0, 1, 4, 0, 0, 0, 0]).unwrap();
/// assert_eq!(e.header_len(), 8);
/// ```
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct Ipv6ExtHeader {
    /// Next header.
    pub next_header: u8,
    /// Header extension length in 8-octet units, not including the first 8 octets.
    pub hdr_ext_len: u8,
}

impl Ipv6ExtHeader {
    /// View the extension-header prefix at the start of `bytes`.
    ///
    /// # Errors
    /// [`ParseError::Truncated`] if fewer than 2 bytes.
    #[inline]
    pub fn ref_from_packet(bytes: &[u8]) -> Result<(&Self, &[u8]), ParseError> {
        Self::ref_from_prefix(bytes).map_err(|_| ParseError::Truncated)
    }
    /// Next header.
    #[inline]
    pub const fn next_header(&self) -> Protocol {
        Protocol(self.next_header)
    }
    /// Whole length of this extension header in bytes: `(hdr_ext_len + 1) * 8`.
    #[inline]
    pub const fn header_len(&self) -> usize {
        (self.hdr_ext_len as usize + 1) * 8
    }
}
