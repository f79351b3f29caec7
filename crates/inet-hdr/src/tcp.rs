//! TCP header (RFC 9293, RFC 3168 ECN flags).

use zerocopy::byteorder::network_endian::{U16, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::ParseError;

/// TCP flags (byte 13 of the header).
///
/// ```
/// use inet_hdr::TcpFlags;
/// let f = TcpFlags::ACK | TcpFlags::PSH;
/// assert!(f.contains(TcpFlags::PSH) && !f.contains(TcpFlags::FIN));
/// assert_eq!(f.bits(), 0x18);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// FIN.
    pub const FIN: TcpFlags = TcpFlags(0x01);
    /// SYN.
    pub const SYN: TcpFlags = TcpFlags(0x02);
    /// RST.
    pub const RST: TcpFlags = TcpFlags(0x04);
    /// PSH.
    pub const PSH: TcpFlags = TcpFlags(0x08);
    /// ACK.
    pub const ACK: TcpFlags = TcpFlags(0x10);
    /// URG.
    pub const URG: TcpFlags = TcpFlags(0x20);
    /// ECE (ECN echo).
    pub const ECE: TcpFlags = TcpFlags(0x40);
    /// CWR (congestion window reduced).
    pub const CWR: TcpFlags = TcpFlags(0x80);
    /// No flags.
    pub const EMPTY: TcpFlags = TcpFlags(0);

    /// Raw bits.
    #[inline]
    pub const fn bits(self) -> u8 {
        self.0
    }
    /// These flags as bits of the 32-bit flag word (`field::tcp::FLAG_WORD`: data offset,
    /// flags, window), as the
    /// kernel's `TCP_FLAG_*` constants are: to mask or compare flag words without unpacking
    /// them.
    ///
    /// ```
    /// use inet_hdr::TcpFlags;
    /// assert_eq!(TcpFlags::CWR.flag_word_bits(), 0x0080_0000);
    /// ```
    #[inline]
    pub const fn flag_word_bits(self) -> u32 {
        // The flags byte is the second of the word (its bits 16..24).
        (self.0 as u32) << 16
    }
    /// Whether every flag of `other` is set.
    #[inline]
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }
    /// Whether any flag of `other` is set.
    #[inline]
    pub const fn intersects(self, other: TcpFlags) -> bool {
        self.0 & other.0 != 0
    }
    /// These flags without those of `other`.
    #[inline]
    pub const fn without(self, other: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 & !other.0)
    }
}

impl core::ops::BitOr for TcpFlags {
    type Output = TcpFlags;
    #[inline]
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

impl core::ops::BitAnd for TcpFlags {
    type Output = TcpFlags;
    #[inline]
    fn bitand(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 & rhs.0)
    }
}

/// The fixed 20-byte TCP header. Options (`data_offset() > 5`) follow it.
///
/// | offset | field |
/// |---|---|
/// | 0 | source port |
/// | 2 | destination port |
/// | 4 | sequence number |
/// | 8 | acknowledgment number |
/// | 12 | data offset (4 bits), reserved (3 bits), AE/NS (1 bit) |
/// | 13 | flags: CWR ECE URG ACK PSH RST SYN FIN |
/// | 14 | window |
/// | 16 | checksum |
/// | 18 | urgent pointer |
///
/// ```
/// use inet_hdr::{TcpHeader, TcpFlags};
/// // 40000 → 5201, SYN, data offset 6: MSS 1460 follows the fixed 20 bytes.
/// let segment = [
///     0x9c, 0x40, 0x14, 0x51, 0, 0, 0, 1, 0, 0, 0, 0, 0x60, 0x02, 0xff, 0xff, 0, 0, 0, 0,
///     2, 4, 0x05, 0xb4,
/// ];
/// let (tcp, options) = TcpHeader::ref_from_packet(&segment).unwrap();
/// assert_eq!((tcp.src_port(), tcp.dst_port()), (40000, 5201));
/// assert_eq!((tcp.header_len(), options), (24, &[2, 4, 0x05, 0xb4][..]));
/// assert_eq!(tcp.flags(), TcpFlags::SYN);
/// ```
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct TcpHeader {
    /// Source port.
    pub src_port: U16,
    /// Destination port.
    pub dst_port: U16,
    /// Sequence number.
    pub seq: U32,
    /// Acknowledgment number.
    pub ack: U32,
    /// Data offset (high nibble, 32-bit words), reserved bits and AE (low nibble).
    pub data_offset_reserved: u8,
    /// Flags.
    pub flags: u8,
    /// Receive window.
    pub window: U16,
    /// Checksum.
    pub checksum: U16,
    /// Urgent pointer.
    pub urgent_ptr: U16,
}

impl TcpHeader {
    /// Size of the fixed header.
    pub const LEN: usize = core::mem::size_of::<TcpHeader>();
    /// Largest header (data offset 15).
    pub const MAX_LEN: usize = 60;

    /// View the fixed header at the start of `segment`.
    ///
    /// # Errors
    /// [`ParseError::Truncated`] if fewer than 20 bytes.
    #[inline]
    pub fn ref_from_packet(segment: &[u8]) -> Result<(&Self, &[u8]), ParseError> {
        Self::ref_from_prefix(segment).map_err(|_| ParseError::Truncated)
    }

    /// Mutable view of the fixed header at the start of `segment`.
    ///
    /// # Errors
    /// [`ParseError::Truncated`] if fewer than 20 bytes.
    #[inline]
    pub fn mut_from_packet(segment: &mut [u8]) -> Result<(&mut Self, &mut [u8]), ParseError> {
        Self::mut_from_prefix(segment).map_err(|_| ParseError::Truncated)
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
    /// Sequence number.
    #[inline]
    pub fn seq(&self) -> u32 {
        self.seq.get()
    }
    /// Set the sequence number.
    #[inline]
    pub fn set_seq(&mut self, seq: u32) {
        self.seq.set(seq);
    }
    /// Acknowledgment number.
    #[inline]
    pub fn ack(&self) -> u32 {
        self.ack.get()
    }
    /// Data offset in 32-bit words.
    #[inline]
    pub const fn data_offset(&self) -> u8 {
        self.data_offset_reserved >> 4
    }
    /// Header length in bytes (data offset × 4; valid headers have 20..=60).
    #[inline]
    pub const fn header_len(&self) -> usize {
        self.data_offset() as usize * 4
    }
    /// The reserved bits and AE (low nibble of byte 12).
    #[inline]
    pub const fn reserved(&self) -> u8 {
        self.data_offset_reserved & 0x0f
    }
    /// Flags.
    #[inline]
    pub const fn flags(&self) -> TcpFlags {
        TcpFlags(self.flags)
    }
    /// Set the flags.
    #[inline]
    pub fn set_flags(&mut self, flags: TcpFlags) {
        self.flags = flags.0;
    }
    /// Receive window.
    #[inline]
    pub fn window(&self) -> u16 {
        self.window.get()
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
    /// Urgent pointer.
    #[inline]
    pub fn urgent_ptr(&self) -> u16 {
        self.urgent_ptr.get()
    }
    /// The 32-bit flag word at offset 12 (data offset, reserved, flags, window) —
    /// `tcp_flag_word()`, which GRO compares between segments.
    #[inline]
    pub fn flag_word(&self) -> u32 {
        u32::from_be_bytes([
            self.data_offset_reserved,
            self.flags,
            self.window.to_bytes()[0],
            self.window.to_bytes()[1],
        ])
    }
}
