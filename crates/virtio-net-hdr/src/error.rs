//! One typed error per rule.

/// Why a header was rejected or could not be decoded. Each variant names the kernel rule
/// (rule book §3.3/§3.4) it mirrors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// The buffer is shorter than the virtio header.
    Truncated,
    /// `gso_type & !ECN` is not TCPV4, UDP, TCPV6 or UDP_L4 (`virtio_net_hdr_to_skb`).
    UnknownGsoType(u8),
    /// A GSO type this operation does not handle (e.g. UFO on read).
    UnsupportedGsoType(u8),
    /// `gso_size == 0` with a GSO type.
    ZeroGsoSize,
    /// `gso_size == GSO_BY_FRAGS` (0xFFFF): `virtio_net_hdr_to_skb` refuses it on a write, and
    /// no read carries it (rule book §5.4.4).
    GsoByFrags,
    /// `hdr_len` (after the NEEDS_CSUM adjustment) exceeds the packet (`tun_get_user`).
    HdrLenTooLong {
        /// The effective `hdr_len`.
        hdr_len: usize,
        /// Packet length.
        packet_len: usize,
    },
    /// `csum_start + max(thlen, csum_offset + 2)` lies past the end of the packet
    /// (`pskb_may_pull` / `skb_partial_csum_set`).
    CsumOutOfBounds {
        /// `csum_start`.
        csum_start: usize,
        /// `csum_offset`.
        csum_offset: usize,
        /// Packet length.
        packet_len: usize,
    },
    /// `csum_start` below the minimum network header (20, or 40 for TCPV6).
    CsumStartTooSmall {
        /// `csum_start`.
        csum_start: usize,
        /// The minimum.
        min: usize,
    },
    /// `csum_offset` is not the checksum field of the GSO type's L4 header (16 TCP, 6 UDP).
    BadCsumOffset {
        /// Required value.
        expected: usize,
        /// Found.
        found: usize,
    },
    /// The ECN bit with UDP_L4.
    EcnNotAllowed,
    /// UDP_L4 payload above `gso_size × UDP_MAX_SEGMENTS`.
    TooManySegments,
    /// UDP_L4 without NEEDS_CSUM (kernel), or any GSO without NEEDS_CSUM (our writer contract
    /// and our reader: the kernel never hands one out).
    GsoWithoutNeedsCsum,
    /// The packet's first nibble is neither 4 nor 6 (`tun_get_user` with `IFF_NO_PI`).
    BadIpVersion(u8),
    /// The IP version disagrees with the GSO type (TCPV4 over IPv6 or TCPV6 over IPv4).
    VersionMismatch,
    /// TCP data offset below 5 or the TCP header past the end of the packet.
    BadTcpDataOffset(u8),
    /// GSO with a payload not larger than `gso_size`: the kernel may accept it and then drop
    /// it at segmentation (rule book §3.3 items 5–6). Our writers never emit it.
    PayloadNotAboveGsoSize {
        /// Payload after the real L4 header.
        payload: usize,
        /// `gso_size`.
        gso_size: usize,
    },
    /// The IP packet behind the header does not parse (`inet_hdr::classify`): the kernel's IP
    /// input (`ip_rcv` / `ipv6_rcv`) would drop it after `virtio_net_hdr_to_skb` let it
    /// through. Our writers never emit it.
    Ip(inet_hdr::ParseError),
    /// `csum_start` is not the L4 header offset of the packet.
    CsumStartNotL4 {
        /// `csum_start`.
        csum_start: usize,
        /// Where the packet's L4 header is.
        l4_offset: usize,
    },
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Error::Truncated => f.write_str("buffer shorter than the virtio header"),
            Error::UnknownGsoType(t) => write!(f, "unknown GSO type {t:#04x}"),
            Error::UnsupportedGsoType(t) => write!(f, "unsupported GSO type {t:#04x}"),
            Error::ZeroGsoSize => f.write_str("gso_size is 0"),
            Error::GsoByFrags => f.write_str("gso_size is GSO_BY_FRAGS (0xffff)"),
            Error::HdrLenTooLong {
                hdr_len,
                packet_len,
            } => {
                write!(f, "hdr_len {hdr_len} exceeds packet length {packet_len}")
            }
            Error::CsumOutOfBounds {
                csum_start,
                csum_offset,
                packet_len,
            } => write!(
                f,
                "checksum at {csum_start}+{csum_offset} lies outside the {packet_len}-byte packet"
            ),
            Error::CsumStartTooSmall { csum_start, min } => {
                write!(f, "csum_start {csum_start} is below the minimum {min}")
            }
            Error::BadCsumOffset { expected, found } => {
                write!(f, "csum_offset {found}, expected {expected}")
            }
            Error::EcnNotAllowed => f.write_str("ECN bit not allowed with UDP_L4"),
            Error::TooManySegments => f.write_str("UDP_L4 payload exceeds gso_size × 128"),
            Error::GsoWithoutNeedsCsum => f.write_str("GSO without NEEDS_CSUM"),
            Error::BadIpVersion(v) => write!(f, "IP version {v} is neither 4 nor 6"),
            Error::VersionMismatch => f.write_str("IP version does not match the GSO type"),
            Error::BadTcpDataOffset(d) => write!(f, "TCP data offset {d} is invalid"),
            Error::PayloadNotAboveGsoSize { payload, gso_size } => {
                write!(f, "GSO payload {payload} is not above gso_size {gso_size}")
            }
            Error::Ip(e) => write!(f, "IP packet: {e}"),
            Error::CsumStartNotL4 {
                csum_start,
                l4_offset,
            } => {
                write!(
                    f,
                    "csum_start {csum_start} is not the L4 offset {l4_offset}"
                )
            }
        }
    }
}

impl core::error::Error for Error {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Error::Ip(e) => Some(e),
            _ => None,
        }
    }
}
