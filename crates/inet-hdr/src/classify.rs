//! Classify an IP packet: version, header lengths, L4 protocol and offset.

use crate::{Ipv4Header, Ipv6ExtHeader, Ipv6Header, Protocol};

/// IP version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IpVersion {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

/// Why a packet could not be classified.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParseError {
    /// The buffer ends before a header it must contain.
    Truncated,
    /// The first nibble is neither 4 nor 6.
    BadVersion(u8),
    /// IPv4 IHL below 5.
    BadIhl(u8),
    /// The IP length field disagrees with the buffer length.
    LengthMismatch {
        /// Packet length according to the header.
        header: usize,
        /// Bytes actually present.
        actual: usize,
    },
    /// TCP data offset below 5 or past the end of the packet.
    BadDataOffset(u8),
}

impl core::fmt::Display for ParseError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ParseError::Truncated => f.write_str("packet truncated"),
            ParseError::BadVersion(v) => write!(f, "IP version {v} is neither 4 nor 6"),
            ParseError::BadIhl(i) => write!(f, "IPv4 IHL {i} is below 5"),
            ParseError::LengthMismatch { header, actual } => {
                write!(
                    f,
                    "IP length field says {header} bytes, buffer holds {actual}"
                )
            }
            ParseError::BadDataOffset(d) => write!(f, "TCP data offset {d} is invalid"),
        }
    }
}

impl core::error::Error for ParseError {}

/// What [`classify`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpInfo {
    /// IP version.
    pub version: IpVersion,
    /// Length of the IP header: IHL×4 for IPv4; 40 plus every Hop-by-Hop, Routing and
    /// Destination Options header for IPv6. Equal to [`l4_offset`](Self::l4_offset).
    pub l3_len: usize,
    /// Offset of the L4 header (or of the IPv6 Fragment header, if [`fragment`](Self::fragment)).
    pub l4_offset: usize,
    /// The L4 protocol: IPv4 protocol, or the first IPv6 next header that is not Hop-by-Hop,
    /// Routing or Destination Options ([`Protocol::FRAGMENT`] for an IPv6 fragment).
    pub protocol: Protocol,
    /// IPv4 MF or fragment offset set, or an IPv6 Fragment header present.
    pub fragment: bool,
    /// IPv4 header with options (IHL > 5).
    pub ipv4_options: bool,
}

/// Classify an IP packet. The IP length field must equal `packet.len()` exactly (a super-packet
/// or segment read from a TUN has no trailing bytes).
///
/// # Errors
/// A [`ParseError`] naming the first problem found.
///
/// ```
/// use inet_hdr::{classify, IpVersion, ParseError, Protocol};
/// let info = classify(inet_hdr::testdata::IPV6_TCP_SYN).unwrap();
/// assert_eq!((info.version, info.l4_offset, info.protocol), (IpVersion::V6, 40, Protocol::TCP));
/// assert_eq!(classify(&[0x45, 0, 0]), Err(ParseError::Truncated));
/// assert_eq!(classify(&[0x75; 40]), Err(ParseError::BadVersion(7)));
/// ```
#[inline]
pub fn classify(packet: &[u8]) -> Result<IpInfo, ParseError> {
    classify_prefix(packet, packet.len())
}

/// [`classify`] for a packet held in parts: `head` is its first part (it must hold the IP
/// header and any IPv6 extension headers) and `total_len` its whole length, which the IP
/// length field must equal. `classify_prefix(p, p.len())` is `classify(p)`.
///
/// # Errors
/// As [`classify`]; [`ParseError::Truncated`] when a header reaches past `head`.
///
/// ```
/// use inet_hdr::{classify_prefix, ParseError, Protocol};
/// let syn = inet_hdr::testdata::IPV4_TCP_SYN;
/// // The IP and TCP headers alone, the rest of the packet elsewhere.
/// let info = classify_prefix(&syn[..40], syn.len())?;
/// assert_eq!((info.l4_offset, info.protocol), (20, Protocol::TCP));
/// assert!(matches!(classify_prefix(&syn[..40], 41), Err(ParseError::LengthMismatch { .. })));
/// # Ok::<(), ParseError>(())
/// ```
#[inline]
pub fn classify_prefix(head: &[u8], total_len: usize) -> Result<IpInfo, ParseError> {
    // Bytes past the packet's length are not part of it.
    let head = head.get(..total_len).unwrap_or(head);
    let first = *head.first().ok_or(ParseError::Truncated)?;
    match first >> 4 {
        4 => classify_v4(head, total_len),
        6 => classify_v6(head, total_len),
        v => Err(ParseError::BadVersion(v)),
    }
}

fn classify_v4(packet: &[u8], len: usize) -> Result<IpInfo, ParseError> {
    let (ip, _) = Ipv4Header::ref_from_packet(packet)?;
    if ip.ihl() < 5 {
        return Err(ParseError::BadIhl(ip.ihl()));
    }
    let hl = ip.header_len();
    if packet.len() < hl {
        return Err(ParseError::Truncated);
    }
    let total = usize::from(ip.total_len());
    if total != len {
        return Err(ParseError::LengthMismatch {
            header: total,
            actual: len,
        });
    }
    Ok(IpInfo {
        version: IpVersion::V4,
        l3_len: hl,
        l4_offset: hl,
        protocol: ip.protocol(),
        fragment: ip.is_fragment(),
        ipv4_options: ip.has_options(),
    })
}

fn classify_v6(packet: &[u8], len: usize) -> Result<IpInfo, ParseError> {
    let (ip, _) = Ipv6Header::ref_from_packet(packet)?;
    let total = Ipv6Header::LEN + usize::from(ip.payload_len());
    if total != len {
        return Err(ParseError::LengthMismatch {
            header: total,
            actual: len,
        });
    }
    let mut next = ip.next_header();
    let mut off = Ipv6Header::LEN;
    // Walk the extension headers GRO/GSO skip (`ipv6_gro_pull_exthdrs`,
    // INET6_PROTO_GSO_EXTHDR: Hop-by-Hop, Routing, Destination Options). Each is ≥ 8 bytes, so
    // the walk is bounded by the packet length.
    while matches!(
        next,
        Protocol::HOP_BY_HOP | Protocol::ROUTING | Protocol::DEST_OPTS
    ) {
        let (ext, _) = Ipv6ExtHeader::ref_from_packet(&packet[off..])?;
        let len = ext.header_len();
        if packet.len() - off < len {
            return Err(ParseError::Truncated);
        }
        next = ext.next_header();
        off += len;
    }
    Ok(IpInfo {
        version: IpVersion::V6,
        l3_len: off,
        l4_offset: off,
        protocol: next,
        fragment: next == Protocol::FRAGMENT,
        ipv4_options: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::{IPV4_TCP_SYN, IPV6_TCP_SYN};

    #[test]
    fn v4_syn() {
        let i = classify(IPV4_TCP_SYN).unwrap();
        assert_eq!(
            i,
            IpInfo {
                version: IpVersion::V4,
                l3_len: 20,
                l4_offset: 20,
                protocol: Protocol::TCP,
                fragment: false,
                ipv4_options: false
            }
        );
    }

    #[test]
    fn v4_errors() {
        let mut p = IPV4_TCP_SYN.to_vec();
        p[0] = 0x44;
        assert_eq!(classify(&p), Err(ParseError::BadIhl(4)));
        p[0] = 0x4f; // 60-byte header claimed in a 60-byte packet: fine structurally
        assert!(classify(&p).is_ok());
        assert_eq!(classify(&p[..59]), Err(ParseError::Truncated)); // IHL 15 needs 60 bytes
        p[0] = 0x45;
        assert_eq!(
            classify(&p[..59]),
            Err(ParseError::LengthMismatch {
                header: 60,
                actual: 59
            })
        );
        assert_eq!(classify(&p[..19]), Err(ParseError::Truncated));
        let mut q = IPV4_TCP_SYN.to_vec();
        q.push(0);
        assert_eq!(
            classify(&q),
            Err(ParseError::LengthMismatch {
                header: 60,
                actual: 61
            })
        );
        assert_eq!(classify(&[]), Err(ParseError::Truncated));
    }

    #[test]
    fn v4_fragment_bits() {
        let mut p = IPV4_TCP_SYN.to_vec();
        // MF is 0x20 in byte 6 (not 0x80, which is the reserved bit).
        p[6] = 0x20;
        assert!(classify(&p).unwrap().fragment);
        p[6] = 0x80;
        assert!(!classify(&p).unwrap().fragment);
        p[6] = 0x00;
        p[7] = 0x01;
        assert!(classify(&p).unwrap().fragment);
    }

    fn with_ext(kinds: &[(u8, usize)], last: u8) -> [u8; 200] {
        // Build an IPv6 packet (no valid checksum needed) with the given extension headers.
        let mut p = [0u8; 200];
        p[..40].copy_from_slice(&IPV6_TCP_SYN[..40]);
        let mut off = 40;
        let mut next_at = 6;
        for &(kind, len) in kinds {
            p[next_at] = kind;
            p[off + 1] = (len / 8 - 1) as u8;
            next_at = off;
            off += len;
        }
        p[next_at] = last;
        let plen = (200 - 40) as u16;
        p[4..6].copy_from_slice(&plen.to_be_bytes());
        p
    }

    #[test]
    fn v6_ext_headers() {
        let p = with_ext(&[(0, 8), (43, 24), (60, 16)], 6);
        let i = classify(&p).unwrap();
        assert_eq!(
            (i.l4_offset, i.protocol, i.fragment),
            (88, Protocol::TCP, false)
        );
        let p = with_ext(&[(60, 8)], 44);
        let i = classify(&p).unwrap();
        assert_eq!(
            (i.l4_offset, i.protocol, i.fragment),
            (48, Protocol::FRAGMENT, true)
        );
        // An extension header claiming more than the packet holds.
        let mut p = with_ext(&[(60, 8)], 6);
        p[41] = 40;
        assert_eq!(classify(&p), Err(ParseError::Truncated));
    }

    #[test]
    fn v6_length() {
        assert_eq!(
            classify(&IPV6_TCP_SYN[..79]),
            Err(ParseError::LengthMismatch {
                header: 80,
                actual: 79
            })
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            if let Ok(i) = classify(&bytes) {
                proptest::prop_assert!(i.l4_offset <= bytes.len());
            }
        }

        /// A packet's prefix reaching its L4 header classifies as the whole packet; a shorter
        /// one is `Truncated` or the same error `classify` gives.
        #[test]
        fn prefix_is_the_packet(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300), cut in 0usize..300, v6 in proptest::bool::ANY) {
            let mut bytes = bytes;
            // Give the length field a chance to agree.
            if v6 && bytes.len() >= 40 {
                bytes[0] = 0x60;
                let l = (bytes.len() - 40) as u16;
                bytes[4..6].copy_from_slice(&l.to_be_bytes());
            } else if bytes.len() >= 20 {
                bytes[0] = 0x45;
                let l = bytes.len() as u16;
                bytes[2..4].copy_from_slice(&l.to_be_bytes());
            }
            let whole = classify(&bytes);
            let cut = cut.min(bytes.len());
            let part = classify_prefix(&bytes[..cut], bytes.len());
            match whole {
                Ok(i) if cut >= i.l4_offset => proptest::prop_assert_eq!(part, Ok(i)),
                Ok(_) => proptest::prop_assert_eq!(part, Err(ParseError::Truncated)),
                Err(e) => proptest::prop_assert!(part == Err(e) || part == Err(ParseError::Truncated)),
            }
        }
    }
}
