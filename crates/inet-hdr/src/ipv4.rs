//! IPv4 header (RFC 791).

use zerocopy::byteorder::network_endian::U16;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::{Ecn, ParseError, Protocol};

/// The fixed 20-byte IPv4 header. Options, if any, follow it (`ihl() > 5`).
///
/// | offset | field |
/// |---|---|
/// | 0 | version (4 bits), IHL (4 bits) |
/// | 1 | TOS (DSCP + ECN) |
/// | 2 | total length |
/// | 4 | identification |
/// | 6 | flags (reserved, DF, MF) + fragment offset |
/// | 8 | TTL |
/// | 9 | protocol |
/// | 10 | header checksum |
/// | 12 | source |
/// | 16 | destination |
///
/// ```
/// use inet_hdr::Ipv4Header;
/// // TTL 64, DF, TCP, 10.0.0.1 → 10.0.0.2, valid checksum 0x26cd; 20 bytes of TCP follow.
/// let mut packet = vec![0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0x26, 0xcd, 10, 0, 0, 1, 10, 0, 0, 2];
/// packet.resize(40, 0);
/// let (ip, _) = Ipv4Header::ref_from_packet(&packet).unwrap();
/// assert_eq!((ip.version(), ip.ihl(), ip.header_len()), (4, 5, 20));
/// assert!(ip.dont_fragment() && !ip.more_fragments());
/// assert!(ip.verify_checksum(&packet));
/// ```
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct Ipv4Header {
    /// Version (high nibble) and IHL in 32-bit words (low nibble).
    pub version_ihl: u8,
    /// Type of service: DSCP (high 6 bits) and ECN (low 2 bits).
    pub tos: u8,
    /// Total length of the datagram, header included.
    pub total_len: U16,
    /// Identification.
    pub id: U16,
    /// Reserved bit (0x8000), DF (0x4000), MF (0x2000), fragment offset (13 bits, 8-byte units).
    pub flags_frag_off: U16,
    /// Time to live.
    pub ttl: u8,
    /// L4 protocol.
    pub protocol: u8,
    /// Header checksum.
    pub checksum: U16,
    /// Source address.
    pub src: [u8; 4],
    /// Destination address.
    pub dst: [u8; 4],
}

impl Ipv4Header {
    /// Size of the fixed header.
    pub const LEN: usize = core::mem::size_of::<Ipv4Header>();
    /// The version/IHL byte of a header without options (`0x45`): what GRO requires
    /// (`inet_gro_receive`: `*(u8 *)iph != 0x45` is passed up alone).
    pub const VERSION_IHL_NO_OPTIONS: u8 = (4 << 4) | (Self::LEN / 4) as u8;
    /// Reserved ("evil") flag bit in [`flags_frag_off`](Self::flags_frag_off).
    pub const FLAG_RESERVED: u16 = 0x8000;
    /// Don't Fragment.
    pub const FLAG_DF: u16 = 0x4000;
    /// More Fragments (bit 0x20 of byte 6 — not 0x80).
    pub const FLAG_MF: u16 = 0x2000;
    /// Fragment offset mask.
    pub const FRAG_OFFSET_MASK: u16 = 0x1fff;

    /// View the fixed header at the start of `packet`; returns it and the bytes after it.
    ///
    /// # Errors
    /// [`ParseError::Truncated`] if `packet` is shorter than 20 bytes.
    #[inline]
    pub fn ref_from_packet(packet: &[u8]) -> Result<(&Self, &[u8]), ParseError> {
        Self::ref_from_prefix(packet).map_err(|_| ParseError::Truncated)
    }

    /// Mutable view of the fixed header at the start of `packet`.
    ///
    /// # Errors
    /// [`ParseError::Truncated`] if `packet` is shorter than 20 bytes.
    #[inline]
    pub fn mut_from_packet(packet: &mut [u8]) -> Result<(&mut Self, &mut [u8]), ParseError> {
        Self::mut_from_prefix(packet).map_err(|_| ParseError::Truncated)
    }

    /// IP version (4 for a valid header).
    #[inline]
    pub const fn version(&self) -> u8 {
        self.version_ihl >> 4
    }
    /// Header length in 32-bit words.
    #[inline]
    pub const fn ihl(&self) -> u8 {
        self.version_ihl & 0x0f
    }
    /// Header length in bytes (IHL × 4).
    #[inline]
    pub const fn header_len(&self) -> usize {
        self.ihl() as usize * 4
    }
    /// Whether the header carries options (IHL ≠ 5).
    #[inline]
    pub const fn has_options(&self) -> bool {
        self.ihl() != 5
    }
    /// DSCP (high 6 bits of TOS).
    #[inline]
    pub const fn dscp(&self) -> u8 {
        self.tos >> 2
    }
    /// ECN codepoint (low 2 bits of TOS).
    #[inline]
    pub const fn ecn(&self) -> Ecn {
        Ecn::from_tos(self.tos)
    }
    /// Total length.
    #[inline]
    pub fn total_len(&self) -> u16 {
        self.total_len.get()
    }
    /// Set the total length.
    #[inline]
    pub fn set_total_len(&mut self, len: u16) {
        self.total_len.set(len);
    }
    /// Identification.
    #[inline]
    pub fn id(&self) -> u16 {
        self.id.get()
    }
    /// Set the identification.
    #[inline]
    pub fn set_id(&mut self, id: u16) {
        self.id.set(id);
    }
    /// Don't Fragment flag.
    #[inline]
    pub fn dont_fragment(&self) -> bool {
        self.flags_frag_off.get() & Self::FLAG_DF != 0
    }
    /// More Fragments flag.
    #[inline]
    pub fn more_fragments(&self) -> bool {
        self.flags_frag_off.get() & Self::FLAG_MF != 0
    }
    /// Reserved flag bit.
    #[inline]
    pub fn reserved_flag(&self) -> bool {
        self.flags_frag_off.get() & Self::FLAG_RESERVED != 0
    }
    /// Fragment offset in 8-byte units.
    #[inline]
    pub fn fragment_offset(&self) -> u16 {
        self.flags_frag_off.get() & Self::FRAG_OFFSET_MASK
    }
    /// Whether this is a fragment (MF set or a non-zero offset): `ip_is_fragment`.
    #[inline]
    pub fn is_fragment(&self) -> bool {
        self.flags_frag_off.get() & (Self::FLAG_MF | Self::FRAG_OFFSET_MASK) != 0
    }
    /// Time to live.
    #[inline]
    pub const fn ttl(&self) -> u8 {
        self.ttl
    }
    /// L4 protocol.
    #[inline]
    pub const fn protocol(&self) -> Protocol {
        Protocol(self.protocol)
    }
    /// Stored header checksum.
    #[inline]
    pub fn checksum(&self) -> u16 {
        self.checksum.get()
    }
    /// Set the stored header checksum.
    #[inline]
    pub fn set_checksum(&mut self, c: u16) {
        self.checksum.set(c);
    }

    /// Compute the header checksum over the header in `packet` (options included, per IHL)
    /// with the checksum field taken as zero. Returns `None` if `packet` is shorter than IHL×4
    /// or IHL < 5.
    ///
    /// ```
    /// let p = [0x45, 0, 0, 20, 0, 1, 0x40, 0, 64, 6, 0x26, 0xe1, 10, 0, 0, 1, 10, 0, 0, 2];
    /// let (ip, _) = inet_hdr::Ipv4Header::ref_from_packet(&p).unwrap();
    /// assert_eq!(inet_hdr::Ipv4Header::compute_checksum(&p), Some(ip.checksum()));
    /// ```
    #[inline]
    pub fn compute_checksum(packet: &[u8]) -> Option<u16> {
        let (h, _) = Self::ref_from_prefix(packet).ok()?;
        let hl = h.header_len();
        if hl < Self::LEN || packet.len() < hl {
            return None;
        }
        // Everything but the checksum field itself.
        let at = core::mem::offset_of!(Ipv4Header, checksum);
        let c = inet_csum::Accumulator::new()
            .add(&packet[..at])
            .add(&packet[at + core::mem::size_of::<U16>()..hl]);
        Some(c.finish())
    }

    /// Whether the header checksum over `packet`'s header (per IHL) is valid
    /// (`ip_fast_csum(iph, ihl) == 0`).
    #[inline]
    pub fn verify_checksum(&self, packet: &[u8]) -> bool {
        let hl = self.header_len();
        hl >= Self::LEN && packet.len() >= hl && inet_csum::verify_header(&packet[..hl])
    }

    /// Recompute and store the checksum of a fixed 20-byte header (no options).
    ///
    /// ```
    /// let mut p = [0x45, 0, 0, 20, 0, 1, 0x40, 0, 64, 6, 0x26, 0xe1, 10, 0, 0, 1, 10, 0, 0, 2];
    /// let (ip, _) = inet_hdr::Ipv4Header::mut_from_packet(&mut p).unwrap();
    /// let good = ip.checksum();
    /// ip.set_checksum(0);
    /// ip.set_total_len(ip.total_len());
    /// ip.fill_checksum();
    /// assert_eq!(ip.checksum(), good);
    /// ```
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.checksum.set(0);
        let c = inet_csum::header_checksum(zerocopy::IntoBytes::as_bytes(self));
        self.checksum.set(c);
    }
}
