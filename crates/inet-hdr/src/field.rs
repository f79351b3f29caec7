//! Where each header field lies, for code that reads or compares wire bytes without a header
//! view: the offset of a one-byte field (`usize`) or the byte range of a wider one ([`Field`]).
//!
//! Every value is derived from the header struct (`offset_of!` and the field's size), so a
//! name here can never disagree with [`Ipv4Header`](crate::Ipv4Header) and its siblings, and
//! each is a constant: `be32(p, tcp::ACK.start)` compiles to the same load as
//! `be32(p, 8)`. A few ranges span several adjacent fields that are read or compared as one
//! word (the IPv4 address pair, the TCP flag word); each says which. What bits mean (masks,
//! flag bits, lengths) stays on the header types.
//!
//! ```
//! use inet_hdr::field::{ipv4, tcp};
//! // An IPv4 header (protocol TCP, 10.0.0.1 → 10.0.0.2) and a TCP header (window 64240).
//! let p = [
//!     0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
//!     0x30, 0x39, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xfa, 0xf0, 0, 0, 0, 0,
//! ];
//! assert_eq!(p[ipv4::PROTOCOL], inet_hdr::Protocol::TCP.0);
//! assert_eq!(p[ipv4::DST], [10, 0, 0, 2]);
//! let l4 = inet_hdr::Ipv4Header::LEN;
//! let window = &p[l4..][tcp::WINDOW];
//! assert_eq!(u16::from_be_bytes([window[0], window[1]]), 64240);
//! ```

/// The bytes of a multi-byte field, relative to the start of its header.
pub type Field = core::ops::Range<usize>;

/// Width of every Internet checksum field (IPv4 header, TCP, UDP): a partial checksum at
/// `csum_start + csum_offset` needs this many bytes there.
pub const CHECKSUM_LEN: usize = core::mem::size_of::<u16>();

/// The bytes of field `$f` of the `#[repr(C)]` header struct `$t`.
macro_rules! span {
    ($t:ty, $f:ident) => {{
        const fn size<T, F>(_: fn(&T) -> &F) -> usize {
            core::mem::size_of::<F>()
        }
        let at = core::mem::offset_of!($t, $f);
        at..at + size(|h: &$t| &h.$f)
    }};
}

/// IPv4 header fields (RFC 791).
pub mod ipv4 {
    use super::Field;
    use crate::Ipv4Header as H;
    use core::mem::offset_of;

    /// Version (high nibble) and IHL (low nibble).
    pub const VERSION_IHL: usize = offset_of!(H, version_ihl);
    /// Type of service (DSCP + ECN).
    pub const TOS: usize = offset_of!(H, tos);
    /// Total length.
    pub const TOTAL_LEN: Field = span!(H, total_len);
    /// Identification.
    pub const ID: Field = span!(H, id);
    /// Reserved/DF/MF flags and fragment offset.
    pub const FLAGS_FRAG_OFF: Field = span!(H, flags_frag_off);
    /// Time to live.
    pub const TTL: usize = offset_of!(H, ttl);
    /// Protocol.
    pub const PROTOCOL: usize = offset_of!(H, protocol);
    /// Header checksum.
    pub const CHECKSUM: Field = span!(H, checksum);
    /// Source address.
    pub const SRC: Field = span!(H, src);
    /// Destination address.
    pub const DST: Field = span!(H, dst);
    /// Source then destination address: 8 bytes a flow key or pseudo header reads as one.
    pub const ADDRS: Field = SRC.start..DST.end;
    /// Flags and fragment offset, TTL, protocol: the 32-bit word GRO compares as one.
    pub const FRAG_TTL_PROTOCOL: Field = FLAGS_FRAG_OFF.start..PROTOCOL + 1;

    const _: () = assert!(SRC.end == DST.start);
    const _: () = assert!(FLAGS_FRAG_OFF.end == TTL && TTL + 1 == PROTOCOL);
}

/// IPv6 fixed-header fields (RFC 8200).
pub mod ipv6 {
    use super::Field;
    use crate::Ipv6Header as H;
    use core::mem::offset_of;

    /// Version, traffic class and flow label: one 32-bit word (masks on
    /// [`Ipv6Header`](crate::Ipv6Header)).
    pub const VERSION_TC_FLOW: Field = span!(H, version_tc_flow);
    /// Payload length.
    pub const PAYLOAD_LEN: Field = span!(H, payload_len);
    /// Next header.
    pub const NEXT_HEADER: usize = offset_of!(H, next_header);
    /// Hop limit.
    pub const HOP_LIMIT: usize = offset_of!(H, hop_limit);
    /// Next header then hop limit, compared as one.
    pub const NEXT_HEADER_HOP_LIMIT: Field = NEXT_HEADER..HOP_LIMIT + 1;
    /// Source address.
    pub const SRC: Field = span!(H, src);
    /// Destination address.
    pub const DST: Field = span!(H, dst);
    /// Source then destination address (32 bytes; extension headers follow).
    pub const ADDRS: Field = SRC.start..DST.end;

    const _: () = assert!(NEXT_HEADER + 1 == HOP_LIMIT);
    const _: () = assert!(SRC.end == DST.start);
}

/// TCP fixed-header fields (RFC 9293). Options start at [`TcpHeader::LEN`](crate::TcpHeader::LEN).
pub mod tcp {
    use super::Field;
    use crate::TcpHeader as H;
    use core::mem::offset_of;

    /// Source port.
    pub const SRC_PORT: Field = span!(H, src_port);
    /// Destination port.
    pub const DST_PORT: Field = span!(H, dst_port);
    /// Source then destination port: the 32-bit word that tells flows apart.
    pub const PORTS: Field = SRC_PORT.start..DST_PORT.end;
    /// Sequence number.
    pub const SEQ: Field = span!(H, seq);
    /// Acknowledgment number.
    pub const ACK: Field = span!(H, ack);
    /// Data offset (high nibble), reserved bits and AE.
    pub const DATA_OFFSET: usize = offset_of!(H, data_offset_reserved);
    /// Flags (CWR … FIN).
    pub const FLAGS: usize = offset_of!(H, flags);
    /// Receive window.
    pub const WINDOW: Field = span!(H, window);
    /// Checksum.
    pub const CHECKSUM: Field = span!(H, checksum);
    /// Urgent pointer.
    pub const URGENT_PTR: Field = span!(H, urgent_ptr);
    /// Data offset, reserved bits, flags and window: the kernel's `tcp_flag_word`, which GRO
    /// compares as one 32-bit word (flag bits in it:
    /// [`TcpFlags::flag_word_bits`](crate::TcpFlags::flag_word_bits)).
    pub const FLAG_WORD: Field = DATA_OFFSET..WINDOW.end;

    const _: () = assert!(SRC_PORT.end == DST_PORT.start);
    const _: () = assert!(DATA_OFFSET + 1 == FLAGS && FLAGS + 1 == WINDOW.start);
    // `TcpFlags::flag_word_bits` places the flags byte where the flag word holds it.
    const _: () = assert!(
        crate::TcpFlags::CWR.flag_word_bits()
            == (crate::TcpFlags::CWR.bits() as u32) << (8 * (FLAG_WORD.end - 1 - FLAGS))
    );
}

/// UDP header fields (RFC 768).
pub mod udp {
    use super::Field;
    use crate::UdpHeader as H;

    /// Source port.
    pub const SRC_PORT: Field = span!(H, src_port);
    /// Destination port.
    pub const DST_PORT: Field = span!(H, dst_port);
    /// Source then destination port: the 32-bit word that tells flows apart.
    pub const PORTS: Field = SRC_PORT.start..DST_PORT.end;
    /// Length of header and data.
    pub const LENGTH: Field = span!(H, len);
    /// Checksum.
    pub const CHECKSUM: Field = span!(H, checksum);
}
