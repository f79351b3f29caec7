//! UDP header (RFC 768).

use zerocopy::byteorder::network_endian::U16;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::ParseError;

/// The 8-byte UDP header.
///
/// | offset | field |
/// |---|---|
/// | 0 | source port |
/// | 2 | destination port |
/// | 4 | length (header + data) |
/// | 6 | checksum (0 = none over IPv4; a computed 0 is sent as 0xffff) |
///
/// ```
/// let (udp, _) = inet_hdr::UdpHeader::ref_from_packet(&[0, 53, 0x9c, 0x40, 0, 8, 0, 0]).unwrap();
/// assert_eq!((udp.src_port(), udp.dst_port(), udp.len()), (53, 40000, 8));
/// ```
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct UdpHeader {
    /// Source port.
    pub src_port: U16,
    /// Destination port.
    pub dst_port: U16,
    /// Length of header and data.
    pub len: U16,
    /// Checksum.
    pub checksum: U16,
}

impl UdpHeader {
    /// Size of the header.
    pub const LEN: usize = core::mem::size_of::<UdpHeader>();

    /// View the header at the start of `datagram`.
    ///
    /// # Errors
    /// [`ParseError::Truncated`] if fewer than 8 bytes.
    #[inline]
    pub fn ref_from_packet(datagram: &[u8]) -> Result<(&Self, &[u8]), ParseError> {
        Self::ref_from_prefix(datagram).map_err(|_| ParseError::Truncated)
    }
    /// Mutable view of the header at the start of `datagram`.
    ///
    /// # Errors
    /// [`ParseError::Truncated`] if fewer than 8 bytes.
    #[inline]
    pub fn mut_from_packet(datagram: &mut [u8]) -> Result<(&mut Self, &mut [u8]), ParseError> {
        Self::mut_from_prefix(datagram).map_err(|_| ParseError::Truncated)
    }
    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        self.src_port.get()
    }
    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        self.dst_port.get()
    }
    /// Length field.
    #[allow(clippy::len_without_is_empty)]
    #[inline]
    pub fn len(&self) -> u16 {
        self.len.get()
    }
    /// Set the length field.
    #[inline]
    pub fn set_len(&mut self, len: u16) {
        self.len.set(len);
    }
    /// Checksum.
    #[inline]
    pub fn checksum(&self) -> u16 {
        self.checksum.get()
    }
    /// Set the checksum.
    #[inline]
    pub fn set_checksum(&mut self, c: u16) {
        self.checksum.set(c);
    }
}
