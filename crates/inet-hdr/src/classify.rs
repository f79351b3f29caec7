//! Classify an IP packet: version, header lengths, L4 protocol and offset.

use crate::{Ipv4Header, Ipv6ExtHeader, Ipv6Header, ParseError, Protocol};

/// IP version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IpVersion {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

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
/// // IPv6 (payload length 20, next header TCP), then a 20-byte TCP header.
/// let mut packet = vec![0x60, 0, 0, 0, 0, 20, 6, 64];
/// packet.resize(40, 0xfd); // source and destination
/// packet.extend_from_slice(&[0x9c, 0x40, 0x14, 0x51, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02]);
/// packet.resize(60, 0);
/// let info = classify(&packet).unwrap();
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
/// // IPv4 (total length 1040, TCP), then a 20-byte TCP header: 1000 bytes of payload follow
/// // elsewhere.
/// let headers = [
///     0x45, 0, 0x04, 0x10, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
///     0x9c, 0x40, 0x14, 0x51, 0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x10, 0xff, 0xff, 0, 0, 0, 0,
/// ];
/// let info = classify_prefix(&headers, 1040)?;
/// assert_eq!((info.l4_offset, info.protocol), (20, Protocol::TCP));
/// assert!(matches!(classify_prefix(&headers, 1041), Err(ParseError::LengthMismatch { .. })));
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
