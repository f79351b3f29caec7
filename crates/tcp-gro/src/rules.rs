//! The merge rules (rule book §2, §6): which segments are one flow ([`same_flow`]), which may
//! share a packet ([`same_class`]), and how a run may grow ([`RunState`]: appending, and
//! prepending a segment that arrived early). [`parse_continuation`] fuses `parse`,
//! [`same_flow`] and [`same_class`] for the hot path and must agree with them, so it lives
//! beside them.

use inet_hdr::field::{ipv4, ipv6, tcp};
use inet_hdr::{IpVersion, Ipv4Header, Ipv6Header, TcpFlags, TcpHeader};

use crate::segment::{Seg, TAIL_FLAGS, be32, be64, same_bytes};

/// The TCP flag word (data offset, reserved bits, flags, window) bits that must be equal for
/// two segments to merge: all but PSH and FIN.
const FLAG_WORD_MASK: u32 = !TcpFlags(TAIL_FLAGS).flag_word_bits();

/// Same flow as the held run whose header copy is `held` (rule book §2.1–2.4): same version,
/// addresses and ports; for IPv6 also the same flow label, next header and byte-identical
/// extension headers (`ipv6_gro_receive`: a difference there is "another flow", not a flush).
/// IPv4 protocol is TCP for both (checked at parse).
#[inline(always)]
pub(crate) fn same_flow(held: &[u8], held_version: IpVersion, held_l4: usize, s: &Seg<'_>) -> bool {
    if held_version != s.version || held_l4 != s.l4_off {
        return false;
    }
    let p = s.header;
    let ip_same = match s.version {
        IpVersion::V4 => be64(held, ipv4::ADDRS.start) == be64(p, ipv4::ADDRS.start),
        IpVersion::V6 => {
            const WORD: usize = ipv6::VERSION_TC_FLOW.start;
            (be32(held, WORD) ^ be32(p, WORD)) & Ipv6Header::VERSION_FLOW_MASK == 0
                && held[ipv6::NEXT_HEADER] == p[ipv6::NEXT_HEADER]
                && same_bytes(
                    &held[ipv6::SRC.start..held_l4],
                    &p[ipv6::SRC.start..held_l4],
                )
        }
    };
    let ports = held_l4 + tcp::PORTS.start;
    ip_same && be32(held, ports) == be32(p, ports)
}

/// Everything but sequence number, length, IPv4 ID, checksums and the tail flags equal, given
/// [`same_flow`] (rule book §6 items 3–5):
/// - IPv4 (`inet_gro_flush`): TOS byte, TTL, DF — and the rest of the fragment word, which is
///   zero for every segment that gets here;
/// - IPv6 (`ipv6_gro_flush`): traffic class and hop limit;
/// - TCP (`tcp_gro_receive`): ACK number, the flag word (data offset, reserved bits, every flag
///   but PSH/FIN, window) and every option byte.
///
/// The urgent pointer is not compared (the kernel does not either: URG segments never merge).
#[inline]
pub(crate) fn same_class(held: &[u8], s: &Seg<'_>) -> bool {
    let p = s.header;
    let l4 = s.l4_off;
    let ip_same = match s.version {
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
    };
    // ACK number, then the flag word (data offset, reserved, flags but PSH/FIN, window).
    // Equal data offsets mean equal header lengths.
    let (ack, flag_word) = (l4 + tcp::ACK.start, l4 + tcp::FLAG_WORD.start);
    ip_same
        && be32(held, ack) == be32(p, ack)
        && (be32(held, flag_word) ^ be32(p, flag_word)) & FLAG_WORD_MASK == 0
        && held.len() == s.hdr_len
        && (s.hdr_len == l4 + TcpHeader::LEN
            || same_bytes(
                &held[l4 + TcpHeader::LEN..],
                &p[l4 + TcpHeader::LEN..s.hdr_len],
            ))
}

/// [`parse`](crate::segment::parse) for a packet expected to continue a held run, whose
/// header copy is `held` (a header `parse` accepted from a candidate, `version`, TCP at
/// `l4_off`, flow hash `hash`): `Some` only if `parse(header, payload)` would give exactly the
/// returned candidate segment **and** [`same_flow`] and [`same_class`] with `held` hold. Every
/// byte that those checks and `parse`'s validity checks read is compared with `held` (equal
/// bytes pass the same checks), so this is one pass of word compares instead of a parse, a
/// hash and a lookup. `None` promises nothing: the caller takes the general path.
#[inline]
pub(crate) fn parse_continuation<'p>(
    held: &[u8],
    version: IpVersion,
    l4_off: usize,
    hash: u64,
    header: &'p [u8],
    payload: &'p [u8],
) -> Option<Seg<'p>> {
    let hdr_len = held.len();
    let total = header.len() + payload.len();
    // A candidate carries payload; this also bounds every read below. A payload held apart
    // follows exactly the headers.
    if total <= hdr_len
        || header.len() < hdr_len
        || (!payload.is_empty() && header.len() != hdr_len)
        || hdr_len < l4_off + TcpHeader::LEN
    {
        return None;
    }
    let p = &header[..hdr_len];
    // Ports first: the cheapest word that tells another flow apart (interleaved flows miss
    // here).
    let ports = l4_off + tcp::PORTS.start;
    if be32(p, ports) != be32(held, ports) {
        return None;
    }
    let (id, df) = match version {
        IpVersion::V4 => {
            let (ip, _) = Ipv4Header::ref_from_packet(p).ok()?;
            // Version/IHL and TOS (0x45: no options, rule book §2.2 item 1), the flags +
            // fragment, TTL and protocol word (DF and a zero fragment offset, protocol TCP)
            // and the addresses equal to the held header's; total length exact
            // (`classify`); header checksum valid (item 3) — over the fixed 20 bytes, not
            // `verify_checksum`'s IHL-sized slice: a constant length compiles to a few
            // straight adds (measured 1.97 vs 1.76 µs per 44-segment batch).
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
            // Version, traffic class, flow label; next header and hop limit; addresses and
            // the extension headers (equal bytes walk to the same `l4_off`); payload length
            // exact (`classify`).
            const WORD: usize = ipv6::VERSION_TC_FLOW.start;
            if be32(p, WORD) != be32(held, WORD)
                || p[ipv6::NEXT_HEADER_HOP_LIMIT] != held[ipv6::NEXT_HEADER_HOP_LIMIT]
                || !same_bytes(&p[ipv6::SRC.start..l4_off], &held[ipv6::SRC.start..l4_off])
                || Ipv6Header::LEN + usize::from(ip.payload_len()) != total
            {
                return None;
            }
            (0, false)
        }
    };
    // TCP: ports (above), ACK number, the flag word but PSH/FIN (so the same data offset,
    // hence the same `hdr_len`, and no SYN/RST/URG/CWR: the held header has none), options.
    let (ack, flag_word) = (l4_off + tcp::ACK.start, l4_off + tcp::FLAG_WORD.start);
    if be32(p, ack) != be32(held, ack)
        || (be32(p, flag_word) ^ be32(held, flag_word)) & FLAG_WORD_MASK != 0
        || !same_bytes(
            &p[l4_off + TcpHeader::LEN..],
            &held[l4_off + TcpHeader::LEN..],
        )
    {
        return None;
    }
    let (tcp, _) = TcpHeader::ref_from_packet(&p[l4_off..]).ok()?;
    Some(Seg {
        header,
        payload,
        version,
        l4_off,
        hdr_len,
        payload_len: total - hdr_len,
        seq: tcp.seq(),
        flags: tcp.flags().bits(),
        id,
        df,
        // The hash covers only bytes compared equal above.
        hash,
        candidate: true,
    })
}

/// How a run's IPv4 IDs continue (`inet_gro_flush`, kernel ≥ 6.10; rule book §0 and §2.2): the
/// second segment decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IdMode {
    /// One segment so far (or IPv6).
    Open,
    /// Each segment's ID is the previous one's + 1 (u16 wrap).
    Incrementing,
    /// Every ID equal — accepted only with DF=1 (RFC 6864 atomic datagrams); DF=0 equal IDs do
    /// not merge (our decision, rule book §0). The kernel re-segments such a run with
    /// incrementing IDs, since TUN cannot express `SKB_GSO_TCP_FIXEDID`.
    Fixed,
}

/// What the merge rules know of a held run: enough to decide whether a segment may join it,
/// and to follow it when one does. The flow table keeps one beside each run's members and
/// header copy.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RunState {
    pub(crate) version: IpVersion,
    /// IP + TCP header length, the same for every member (`same_class`).
    pub(crate) hdr_len: u32,
    /// Members.
    pub(crate) count: u32,
    /// The first segment's payload length: `gso_size`, and the most any later segment may carry.
    pub(crate) mss: u32,
    /// Payload bytes of all members.
    pub(crate) payload: u32,
    pub(crate) start_seq: u32,
    pub(crate) end_seq: u32,
    pub(crate) first_id: u16,
    pub(crate) id_mode: IdMode,
    pub(crate) df: bool,
    /// PSH/FIN of the tail segment (OR-ed into the merged header, `tcp_gro_receive`).
    pub(crate) tail_flags: u8,
    /// No segment may be appended: the tail is short or carries PSH/FIN (`out_check_final`).
    pub(crate) tail_closed: bool,
    /// Completed by a same-flow packet that could not merge: nothing may join any more.
    pub(crate) closed: bool,
}

impl RunState {
    /// A run of the one candidate segment `seg`.
    #[inline]
    pub(crate) fn new(seg: &Seg<'_>) -> Self {
        let len = seg.payload_len as u32;
        let tail_flags = seg.flags & TAIL_FLAGS;
        RunState {
            version: seg.version,
            hdr_len: seg.hdr_len as u32,
            count: 1,
            mss: len,
            payload: len,
            start_seq: seg.seq,
            end_seq: seg.seq.wrapping_add(len),
            first_id: seg.id,
            id_mode: IdMode::Open,
            df: seg.df,
            tail_flags,
            // A PSH/FIN segment may still be prepended to, never appended to.
            tail_closed: tail_flags != 0,
            closed: false,
        }
    }

    /// Whether `seg` (of the run's flow and class) may be appended to the run's tail
    /// (`tcp_gro_receive`, rule book §2.4 items 3–9) with the merged packet at most `max_len`
    /// bytes, and the run's IPv4 ID mode after it.
    #[inline]
    pub(crate) fn can_append(&self, seg: &Seg<'_>, max_len: usize) -> Option<IdMode> {
        let len = seg.payload_len as u32;
        if self.tail_closed
            || seg.seq != self.end_seq
            // `(len - 1) >= mss` flushes: larger than the first segment (or empty).
            || len > self.mss
            || (self.hdr_len + self.payload + len) as usize > max_len
        {
            return None;
        }
        self.next_id_mode(seg, self.first_id.wrapping_add(self.count as u16))
    }

    /// Follow the run as `seg` is appended ([`can_append`](Self::can_append) gave `id_mode`).
    #[inline]
    pub(crate) fn append(&mut self, seg: &Seg<'_>, id_mode: IdMode) {
        let len = seg.payload_len as u32;
        self.count += 1;
        self.payload += len;
        self.end_seq = self.end_seq.wrapping_add(len);
        self.id_mode = id_mode;
        self.tail_flags = seg.flags & TAIL_FLAGS;
        // out_check_final: a shorter, PSH or FIN segment ends the run.
        self.tail_closed = len < self.mss || self.tail_flags != 0;
    }

    /// Whether `seg`, which would end where the run begins (out-of-order arrival, rule book
    /// §0), may be prepended with the merged packet at most `max_len` bytes: the result must be
    /// what in-order arrival would have built, so `seg` becomes the first segment and must
    /// satisfy every rule as such.
    #[inline]
    pub(crate) fn can_prepend(&self, seg: &Seg<'_>, max_len: usize) -> Option<IdMode> {
        let len = seg.payload_len as u32;
        let fits = if self.count == 1 {
            // The old head becomes the tail: it may be shorter than the new first segment.
            len >= self.mss
        } else {
            // Every non-last segment must be exactly the first one's size.
            len == self.mss
        };
        if !fits
            || seg.flags & TAIL_FLAGS != 0
            || seg.seq.wrapping_add(len) != self.start_seq
            || (self.hdr_len + self.payload + len) as usize > max_len
        {
            return None;
        }
        match self.version {
            IpVersion::V6 => Some(IdMode::Open),
            IpVersion::V4 => {
                if self.id_mode != IdMode::Fixed && seg.id == self.first_id.wrapping_sub(1) {
                    Some(IdMode::Incrementing)
                } else if self.id_mode != IdMode::Incrementing && seg.id == self.first_id && seg.df
                {
                    Some(IdMode::Fixed)
                } else {
                    None
                }
            }
        }
    }

    /// Follow the run as `seg` is prepended ([`can_prepend`](Self::can_prepend) gave
    /// `id_mode`).
    #[inline]
    pub(crate) fn prepend(&mut self, seg: &Seg<'_>, id_mode: IdMode) {
        let len = seg.payload_len as u32;
        if self.count == 1 {
            self.tail_closed = self.mss < len || self.tail_flags != 0;
        }
        self.count += 1;
        self.mss = len;
        self.payload += len;
        self.start_seq = seg.seq;
        self.first_id = seg.id;
        self.id_mode = id_mode;
    }

    /// The IPv4 ID rule for appending (`inet_gro_flush`): `id == first_id + count`, or (DF=1
    /// only) `id == first_id`; the second segment fixes the mode. `None` if the segment may not
    /// join.
    #[inline]
    fn next_id_mode(&self, seg: &Seg<'_>, incremented: u16) -> Option<IdMode> {
        if self.version == IpVersion::V6 {
            return Some(IdMode::Open);
        }
        match self.id_mode {
            IdMode::Incrementing if seg.id == incremented => Some(IdMode::Incrementing),
            IdMode::Fixed if seg.id == self.first_id => Some(IdMode::Fixed),
            IdMode::Open if seg.id == incremented => Some(IdMode::Incrementing),
            IdMode::Open if seg.id == self.first_id && self.df && seg.df => Some(IdMode::Fixed),
            _ => None,
        }
    }
}
