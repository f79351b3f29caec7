//! The merge rules (rule book §2.5): which datagrams are one flow ([`same_flow`]), which may
//! share a packet ([`same_class`]), and how a run may grow ([`RunState`]: appending only — UDP
//! has no sequence numbers, so datagrams are merged in the order they arrive and never moved).
//! [`parse_continuation`] fuses `parse`, [`same_flow`] and [`same_class`] for the hot path and
//! must agree with them, so it lives beside them.

use inet_hdr::field::{ipv4, ipv6, udp};
use inet_hdr::{IpVersion, Ipv4Header, Ipv6Header, UdpHeader};

use crate::datagram::{Dgram, be32, be64};

/// Same flow as the held run whose header copy is `held` (rule book §2.5): same version,
/// addresses and ports; for IPv6 also the same flow label, next header and byte-identical
/// extension headers (`ipv6_gro_receive`: a difference there is "another flow", not a
/// flush). The IPv4 protocol is UDP for both (checked at parse).
#[inline]
pub(crate) fn same_flow(
    held: &[u8],
    held_version: IpVersion,
    held_l4: usize,
    d: &Dgram<'_>,
) -> bool {
    if held_version != d.version || held_l4 != d.l4_off {
        return false;
    }
    let p = d.header;
    let ip_same = match d.version {
        // inet_gro_receive: protocol, saddr, daddr.
        IpVersion::V4 => be64(held, ipv4::ADDRS.start) == be64(p, ipv4::ADDRS.start),
        IpVersion::V6 => {
            const WORD: usize = ipv6::VERSION_TC_FLOW.start;
            (be32(held, WORD) ^ be32(p, WORD)) & Ipv6Header::VERSION_FLOW_MASK == 0
                && held[ipv6::NEXT_HEADER] == p[ipv6::NEXT_HEADER]
                && held[ipv6::SRC.start..held_l4] == p[ipv6::SRC.start..held_l4]
        }
    };
    // udp_gro_receive_segment: "Match ports only, as csum is always non zero".
    let ports = held_l4 + udp::PORTS.start;
    ip_same && be32(held, ports) == be32(p, ports)
}

/// The IP fields that must be equal for two datagrams of a flow to share a packet, given
/// [`same_flow`] (`gro_receive_network_flush`, called by `udp_gro_receive_segment` since
/// Linux 6.10; rule book §2.2, §2.3, §2.5):
/// - IPv4 (`inet_gro_flush`): TOS byte (ECN included), TTL, DF — and the rest of the fragment
///   word, which is zero for every candidate;
/// - IPv6 (`ipv6_gro_flush`): traffic class (ECN included) and hop limit.
///
/// A datagram that differs completes the held run and starts a new one.
#[inline]
pub(crate) fn same_class(held: &[u8], d: &Dgram<'_>) -> bool {
    let p = d.header;
    match d.version {
        // TOS, and flags/fragment + TTL (the word but its last byte, the protocol).
        IpVersion::V4 => {
            const WORD: usize = ipv4::FRAG_TTL_PROTOCOL.start;
            held[ipv4::TOS] == p[ipv4::TOS] && be32(held, WORD) >> 8 == be32(p, WORD) >> 8
        }
        IpVersion::V6 => {
            const WORD: usize = ipv6::VERSION_TC_FLOW.start;
            (be32(held, WORD) ^ be32(p, WORD)) & Ipv6Header::TRAFFIC_CLASS_MASK == 0
                && held[ipv6::HOP_LIMIT] == p[ipv6::HOP_LIMIT]
        }
    }
}

/// [`parse`](crate::datagram::parse) for a packet expected to continue a held run, whose
/// header copy is `held` (the IP + UDP headers of a candidate `parse` accepted: `version`, UDP
/// at `l4_off`, flow hash `hash`): `Some` only if `parse(header, payload)` would give exactly
/// the returned candidate datagram **and** [`same_flow`] and [`same_class`] with `held` hold.
/// Every byte those checks and `parse`'s validity checks read is compared with `held` (equal
/// bytes pass the same checks) or checked as `parse` checks it, so this is one pass of word
/// compares instead of a parse, a hash and a lookup. `None` promises nothing: the caller takes
/// the general path.
#[inline]
pub(crate) fn parse_continuation<'p>(
    held: &[u8],
    version: IpVersion,
    l4_off: usize,
    hash: u64,
    header: &'p [u8],
    payload: &'p [u8],
) -> Option<Dgram<'p>> {
    let hdr_len = held.len();
    // This bounds every read below.
    if header.len() < hdr_len || hdr_len != l4_off + UdpHeader::LEN {
        return None;
    }
    let p = &header[..hdr_len];
    // Ports first: the cheapest word that tells another flow apart.
    let ports = l4_off + udp::PORTS.start;
    if be32(p, ports) != be32(held, ports) {
        return None;
    }
    // A candidate carries payload. A payload held apart follows exactly the headers.
    let total = header.len() + payload.len();
    if total <= hdr_len || (!payload.is_empty() && header.len() != hdr_len) {
        return None;
    }
    let (id, df) = match version {
        IpVersion::V4 => {
            let (ip, _) = Ipv4Header::ref_from_packet(p).ok()?;
            // Version/IHL and TOS (0x45: no options, rule book §2.2 item 1); the flags +
            // fragment, TTL and protocol word (DF, no MF, offset or reserved bit, protocol
            // UDP); the addresses — all equal to the held header's; total length exact
            // (`classify`); header checksum valid (item 3).
            const WORD: usize = ipv4::FRAG_TTL_PROTOCOL.start;
            const ADDRS: usize = ipv4::ADDRS.start;
            if be32(p, ipv4::VERSION_IHL) >> 16 != be32(held, ipv4::VERSION_IHL) >> 16
                || be32(p, WORD) != be32(held, WORD)
                || be64(p, ADDRS) != be64(held, ADDRS)
                || usize::from(ip.total_len()) != total
                || !inet_csum::verify_header(&p[..Ipv4Header::LEN])
            {
                return None;
            }
            (ip.id(), ip.dont_fragment())
        }
        IpVersion::V6 => {
            let (ip, _) = Ipv6Header::ref_from_packet(p).ok()?;
            // Version, traffic class, flow label; next header and hop limit; addresses and the
            // extension headers (equal bytes walk to the same `l4_off`); payload length exact
            // (`classify`).
            const WORD: usize = ipv6::VERSION_TC_FLOW.start;
            if be32(p, WORD) != be32(held, WORD)
                || p[ipv6::NEXT_HEADER_HOP_LIMIT] != held[ipv6::NEXT_HEADER_HOP_LIMIT]
                || p[ipv6::SRC.start..l4_off] != held[ipv6::SRC.start..l4_off]
                || Ipv6Header::LEN + usize::from(ip.payload_len()) != total
            {
                return None;
            }
            (0, false)
        }
    };
    // UDP: a non-zero checksum, and a length that is the IP payload's (more than the header:
    // `total > hdr_len` above).
    let (udp, _) = UdpHeader::ref_from_packet(&p[l4_off..]).ok()?;
    if udp.checksum() == 0 || usize::from(udp.len()) != total - l4_off {
        return None;
    }
    Some(Dgram {
        header,
        payload,
        version,
        l4_off,
        hdr_len,
        payload_len: total - hdr_len,
        id,
        df,
        // The hash covers only bytes compared equal above.
        hash,
        candidate: true,
    })
}

/// How a run's IPv4 IDs continue (`inet_gro_flush`; rule book §0 and §2.2): the second
/// datagram decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IdMode {
    /// One datagram so far (or IPv6).
    Open,
    /// Each datagram's ID is the previous one's + 1 (u16 wrap).
    Incrementing,
    /// Every ID equal — accepted only with DF=1 (RFC 6864 atomic datagrams); DF=0 equal IDs do
    /// not merge (our decision, rule book §0). The kernel re-segments such a run with
    /// incrementing IDs (`inet_gso_segment`: UDP GSO has no fixed-ID flag).
    Fixed,
}

/// What the merge rules know of a held run: enough to decide whether a datagram may join it.
/// The flow table keeps one beside each run's members and header copy.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RunState {
    pub(crate) version: IpVersion,
    /// IP + UDP header length, the same for every member (`same_flow`).
    pub(crate) hdr_len: u32,
    /// Members.
    pub(crate) count: u32,
    /// The first datagram's payload length: `gso_size`, and the most any later datagram may
    /// carry.
    pub(crate) gso_size: u32,
    /// Payload bytes of all members.
    pub(crate) payload: u32,
    pub(crate) first_id: u16,
    pub(crate) id_mode: IdMode,
    pub(crate) df: bool,
    /// Whether a datagram may still join: false once the kernel would have completed the
    /// packet (a shorter datagram joined, or it holds `max_segments`), or once a datagram of
    /// the flow could not join.
    pub(crate) open: bool,
}

impl RunState {
    /// A run of the one candidate datagram `d`, closed at once if `max_segments` is 1 or
    /// less.
    #[inline]
    pub(crate) fn new(d: &Dgram<'_>, max_segments: u32) -> Self {
        let len = d.payload_len as u32;
        RunState {
            version: d.version,
            hdr_len: d.hdr_len as u32,
            count: 1,
            gso_size: len,
            payload: len,
            first_id: d.id,
            id_mode: IdMode::Open,
            df: d.df,
            open: max_segments > 1,
        }
    }

    /// Whether `d` (of the run's flow and class) may be appended
    /// (`udp_gro_receive_segment`, rule book §2.5) with the merged packet at most `max_len`
    /// bytes, and the run's IPv4 ID mode after it.
    #[inline]
    pub(crate) fn can_append(&self, d: &Dgram<'_>, max_len: usize) -> Option<IdMode> {
        let len = d.payload_len as u32;
        // `ulen > ntohs(uh2->len)` completes the held packet: larger than the first; and
        // `skb_gro_receive`'s size limit.
        if !self.open
            || len > self.gso_size
            || (self.hdr_len + self.payload + len) as usize > max_len
        {
            return None;
        }
        self.next_id_mode(d, self.first_id.wrapping_add(self.count as u16))
    }

    /// Follow the run as `d` is appended ([`can_append`](Self::can_append) gave `id_mode`).
    #[inline]
    pub(crate) fn append(&mut self, d: &Dgram<'_>, id_mode: IdMode, max_segments: u32) {
        let len = d.payload_len as u32;
        self.count += 1;
        self.payload += len;
        self.id_mode = id_mode;
        // `ulen != ntohs(uh2->len) || count >= UDP_GRO_CNT_MAX`: a shorter datagram, or the
        // last one the packet may hold, completes it.
        self.open = len == self.gso_size && self.count < max_segments;
    }

    /// The IPv4 ID rule (`inet_gro_flush`): `id == first_id + count`, or (DF=1 only)
    /// `id == first_id`; the second datagram fixes the mode. `None` if the datagram may not
    /// join.
    #[inline]
    fn next_id_mode(&self, d: &Dgram<'_>, incremented: u16) -> Option<IdMode> {
        if self.version == IpVersion::V6 {
            return Some(IdMode::Open);
        }
        match self.id_mode {
            IdMode::Incrementing if d.id == incremented => Some(IdMode::Incrementing),
            IdMode::Fixed if d.id == self.first_id => Some(IdMode::Fixed),
            IdMode::Open if d.id == incremented => Some(IdMode::Incrementing),
            IdMode::Open if d.id == self.first_id && self.df && d.df => Some(IdMode::Fixed),
            _ => None,
        }
    }
}
