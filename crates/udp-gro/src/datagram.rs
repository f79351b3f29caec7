//! One pushed packet as GRO sees it: [`parse`] turns it into a [`Dgram`] (or says it is not a
//! UDP datagram GRO looks at), with the flow hash the flow table files it under.

use inet_hdr::field::{Field, ipv4, ipv6, udp};
use inet_hdr::{IpVersion, Ipv4Header, Ipv6Header, Protocol, UdpHeader, classify_prefix};

/// A UDP datagram as GRO sees it. Every offset here is already bounds-checked against `header`.
///
/// A datagram is held as (header, payload): `header` is the whole packet and `payload` empty,
/// or, for a datagram pushed in two parts (see
/// [`Coalescer::push_parts`](crate::Coalescer::push_parts)), `header` is exactly its IP + UDP
/// headers and `payload` its payload.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Dgram<'p> {
    pub(crate) header: &'p [u8],
    pub(crate) payload: &'p [u8],
    pub(crate) version: IpVersion,
    pub(crate) l4_off: usize,
    /// IP + UDP header length: `l4_off` + 8.
    pub(crate) hdr_len: usize,
    /// UDP payload length (at least 1).
    pub(crate) payload_len: usize,
    /// IPv4 identification (0 for IPv6).
    pub(crate) id: u16,
    /// IPv4 DF (false for IPv6).
    pub(crate) df: bool,
    pub(crate) hash: u64,
    /// Whether the datagram may join or start a run at all. The one that may not (the IPv4
    /// reserved flag bit) still completes its flow's held run.
    pub(crate) candidate: bool,
}

impl Dgram<'_> {
    /// The bytes of the IP and UDP headers.
    #[inline]
    pub(crate) fn hdr(&self) -> &[u8] {
        &self.header[..self.hdr_len]
    }
}

/// Parse `header` followed by `payload` (empty for a packet in one piece) as a UDP datagram GRO
/// looks at, or `None` if the kernel passes it up without touching a held packet of its flow:
/// not UDP, malformed, an IP length field that is not the packet's length, IPv4 options or a
/// fragment, a bad IPv4 header checksum, an IPv6 Fragment header (`inet_gro_receive`,
/// `ipv6_gro_receive`: rule book §2.2 items 1–3, §2.3), a UDP checksum of 0, or a UDP length
/// that is not the IP payload's or leaves the datagram empty (`udp_gro_receive_segment`
/// flushes them before looking for the flow: rule book §2.5). A two-part packet whose header
/// part is not exactly its IP + UDP headers is also `None`: it is passed through whole.
#[inline]
pub(crate) fn parse<'p>(header: &'p [u8], payload: &'p [u8]) -> Option<Dgram<'p>> {
    let total = header.len() + payload.len();
    let info = classify_prefix(header, total).ok()?;
    if info.protocol != Protocol::UDP || info.fragment {
        return None;
    }
    let (id, df, reserved) = match info.version {
        IpVersion::V4 => {
            let (ip, _) = Ipv4Header::ref_from_packet(header).ok()?;
            // inet_gro_receive: `*(u8 *)iph != 0x45` (options) and a bad header checksum are
            // passed up alone (rule book §2.2 items 1 and 3).
            if header[ipv4::VERSION_IHL] != Ipv4Header::VERSION_IHL_NO_OPTIONS
                || !ip.verify_checksum(header)
            {
                return None;
            }
            (ip.id(), ip.dont_fragment(), ip.reserved_flag())
        }
        IpVersion::V6 => (0, false, false),
    };
    let l4_off = info.l4_offset;
    let (udp, _) = UdpHeader::ref_from_packet(header.get(l4_off..)?).ok()?;
    let hdr_len = l4_off + UdpHeader::LEN;
    if !payload.is_empty() && header.len() != hdr_len {
        return None;
    }
    // udp_gro_receive_segment: "requires non zero csum, for symmetry with GSO", and "Do not
    // deal with padded or malicious packets": the UDP length must be the IP payload's and
    // more than the header (rule book §2.5).
    let ulen = usize::from(udp.len());
    if udp.checksum() == 0 || ulen != total - l4_off || ulen <= UdpHeader::LEN {
        return None;
    }
    Some(Dgram {
        header,
        payload,
        version: info.version,
        l4_off,
        hdr_len,
        payload_len: total - hdr_len,
        id,
        df,
        hash: flow_hash(header, info.version, l4_off),
        // inet_gro_receive item 4: the reserved IPv4 flag bit flushes; the datagram cannot
        // merge but does complete its flow's held packet.
        candidate: !reserved,
    })
}

/// Header words are read with [`be32`] / [`be64`] at the start of these fields (by the flow
/// hash here and the comparisons in [`rules`](crate::rules)): their widths are the words'.
const _: () = {
    const fn width(f: Field) -> usize {
        f.end - f.start
    }
    assert!(width(ipv4::FRAG_TTL_PROTOCOL) == 4 && width(ipv4::ADDRS) == 8);
    assert!(width(ipv6::VERSION_TC_FLOW) == 4);
    assert!(width(ipv6::SRC) == 2 * 8 && width(ipv6::DST) == 2 * 8);
    assert!(width(udp::PORTS) == 4);
};

#[inline]
fn word4(p: &[u8], at: usize) -> [u8; 4] {
    let mut b = [0u8; 4];
    b.copy_from_slice(&p[at..at + 4]);
    b
}

/// Big-endian u32 at `at` (bounds already established by the caller's parse).
#[inline]
pub(crate) fn be32(p: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(word4(p, at))
}

/// Big-endian u64 at `at` (bounds already established by the caller's parse).
#[inline]
pub(crate) fn be64(p: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&p[at..at + 8]);
    u64::from_be_bytes(b)
}

/// Hash of the words that identify a flow: addresses, ports, and the IPv6 flow label. The
/// words are folded with independent XORs (rotated so that equal words, such as a source equal
/// to a destination, do not cancel) and mixed by one folded multiply. Collisions are resolved
/// by [`same_flow`](crate::rules::same_flow).
#[inline]
fn flow_hash(p: &[u8], version: IpVersion, l4_off: usize) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let ports = u64::from(be32(p, l4_off + udp::PORTS.start));
    let x = match version {
        // Source and destination address: one 64-bit word.
        IpVersion::V4 => be64(p, ipv4::ADDRS.start) ^ ports.rotate_left(23),
        IpVersion::V6 => {
            const SRC: usize = ipv6::SRC.start;
            const DST: usize = ipv6::DST.start;
            let word = be32(p, ipv6::VERSION_TC_FLOW.start);
            let flow = u64::from(word & Ipv6Header::VERSION_FLOW_MASK);
            be64(p, SRC)
                ^ be64(p, SRC + 8).rotate_left(13)
                ^ be64(p, DST).rotate_left(29)
                ^ be64(p, DST + 8).rotate_left(43)
                ^ (ports << 20 | flow)
        }
    };
    // Folded 64×64→128 multiply: every output bit depends on every input bit.
    let m = u128::from(x) * u128::from(K);
    (m as u64) ^ ((m >> 64) as u64)
}
