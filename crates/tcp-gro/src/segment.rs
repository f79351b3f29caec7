//! One pushed packet as GRO sees it: [`parse`] turns it into a [`Seg`] (or says it is not a
//! TCP segment GRO looks at), with the flow hash the flow table files it under.

use inet_hdr::field::{Field, ipv4, ipv6, tcp};
use inet_hdr::{IpVersion, Ipv4Header, Ipv6Header, Protocol, TcpFlags, TcpHeader, classify_prefix};

/// TCP flags that may differ between merged segments: only the last may carry them
/// (`tcp_gro_receive`: `~(TCP_FLAG_CWR | TCP_FLAG_FIN | TCP_FLAG_PSH)`; CWR is handled apart,
/// rule book §0).
pub(crate) const TAIL_FLAGS: u8 = TcpFlags::PSH.0 | TcpFlags::FIN.0;
/// Flags that stop a segment from ever joining or starting a run: URG/RST/SYN end coalescing
/// (`tcp_gro_receive` `out_check_final`), and a CWR segment always stands alone (rule book §0:
/// the 6.18 kernel flushes on CWR).
const LONE_FLAGS: u8 = TcpFlags::URG.0 | TcpFlags::RST.0 | TcpFlags::SYN.0 | TcpFlags::CWR.0;

/// A TCP segment as GRO sees it. Every offset here is already bounds-checked against `header`.
///
/// A segment is held as (header, payload): `header` is the whole packet and `payload` empty,
/// or, for a segment pushed in two parts (see
/// [`Coalescer::push_parts`](crate::Coalescer::push_parts)), `header` is exactly its IP + TCP
/// headers and `payload` its payload.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Seg<'p> {
    pub(crate) header: &'p [u8],
    pub(crate) payload: &'p [u8],
    pub(crate) version: IpVersion,
    pub(crate) l4_off: usize,
    pub(crate) hdr_len: usize,
    pub(crate) payload_len: usize,
    pub(crate) seq: u32,
    pub(crate) flags: u8,
    /// IPv4 identification (0 for IPv6).
    pub(crate) id: u16,
    /// IPv4 DF (false for IPv6).
    pub(crate) df: bool,
    pub(crate) hash: u64,
    /// Whether the segment may join or start a run at all (the flow check still applies to the
    /// others: a same-flow packet that cannot merge completes the held run).
    pub(crate) candidate: bool,
}

impl Seg<'_> {
    /// The bytes of the IP and TCP headers.
    #[inline]
    pub(crate) fn hdr(&self) -> &[u8] {
        &self.header[..self.hdr_len]
    }
}

/// Parse `header` followed by `payload` (empty for a packet in one piece) as a GRO-able TCP
/// segment, or `None` if the kernel would pass it up without looking at TCP (not TCP,
/// malformed, IPv4 options or fragment, bad IPv4 header checksum, IPv6 Fragment header): such
/// packets never touch the flow table. A two-part packet whose header part is not exactly its
/// IP + TCP headers is also `None`: it is passed through whole, as if it were not TCP.
#[inline]
pub(crate) fn parse<'p>(header: &'p [u8], payload: &'p [u8]) -> Option<Seg<'p>> {
    let total = header.len() + payload.len();
    let info = classify_prefix(header, total).ok()?;
    if info.protocol != Protocol::TCP || info.fragment {
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
    let (tcp, _) = TcpHeader::ref_from_packet(&header[l4_off..]).ok()?;
    let thl = tcp.header_len();
    // tcp_gro_pull_header: doff·4 < 20 is passed up alone.
    if thl < TcpHeader::LEN || header.len() - l4_off < thl {
        return None;
    }
    let hdr_len = l4_off + thl;
    if !payload.is_empty() && header.len() != hdr_len {
        return None;
    }
    let payload_len = total - hdr_len;
    let flags = tcp.flags().bits();
    // inet_gro_receive item 4: the reserved IPv4 flag bit flushes. A zero-length segment fails
    // `(len - 1) >= mss`. Either way the segment cannot merge but does complete its flow's run.
    let candidate = !reserved && payload_len > 0 && flags & LONE_FLAGS == 0;
    Some(Seg {
        header,
        payload,
        version: info.version,
        l4_off,
        hdr_len,
        payload_len,
        seq: tcp.seq(),
        flags,
        id,
        df,
        hash: flow_hash(header, info.version, l4_off),
        candidate,
    })
}

/// Header words are read with [`be32`] / [`be64`] at the start of these fields (by the flow
/// hash here and the comparisons in [`rules`](crate::rules)): their widths are the words'.
const _: () = {
    const fn width(f: Field) -> usize {
        f.end - f.start
    }
    assert!(width(ipv4::FRAG_TTL_PROTOCOL) == 4 && width(ipv4::ADDRS) == 8);
    // `be32(p, ipv4::VERSION_IHL) >> 16` keeps version/IHL and TOS.
    assert!(ipv4::TOS == ipv4::VERSION_IHL + 1);
    assert!(width(ipv6::VERSION_TC_FLOW) == 4);
    assert!(width(ipv6::SRC) == 2 * 8 && width(ipv6::DST) == 2 * 8);
    assert!(width(tcp::PORTS) == 4 && width(tcp::ACK) == 4 && width(tcp::FLAG_WORD) == 4);
};

#[inline]
fn word4(p: &[u8], at: usize) -> [u8; 4] {
    let mut b = [0u8; 4];
    b.copy_from_slice(&p[at..at + 4]);
    b
}

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

/// `a == b` for header bytes of a variable, short length (TCP options, IPv6 addresses with
/// extension headers): overlapping 8-byte word compares instead of the `memcmp` call a slice
/// compare of unknown length becomes (a call per segment on the hot path).
#[inline(always)]
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n < 8 {
        return a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0;
    }
    let word = |s: &[u8], at: usize| u64::from_ne_bytes(s[at..at + 8].try_into().unwrap_or([0; 8]));
    let mut diff = word(a, n - 8) ^ word(b, n - 8);
    let mut at = 0;
    while at + 8 < n {
        diff |= word(a, at) ^ word(b, at);
        at += 8;
    }
    diff == 0
}

/// Hash of the words that identify a flow: addresses, ports, and the IPv6 flow label.
/// The words are folded with independent XORs (rotated so that equal words, such as a
/// source equal to a destination, do not cancel) and mixed by one folded multiply: the lookup
/// waits on this value, and a multiply per word made a serial chain of ~45 cycles for IPv6.
/// Collisions are resolved by [`same_flow`](crate::rules::same_flow).
#[inline]
fn flow_hash(p: &[u8], version: IpVersion, l4_off: usize) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let ports = u64::from(be32(p, l4_off + tcp::PORTS.start));
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

#[cfg(test)]
mod tests {
    use super::same_bytes;

    /// `same_bytes` agrees with `==` at every length a header comparison can take, with one
    /// differing byte at each position (first, middle and last words alike) and unequal
    /// lengths.
    #[test]
    fn same_bytes_is_slice_equality() {
        let a: [u8; 72] = core::array::from_fn(|i| (i * 37 + 11) as u8);
        for n in 0..=a.len() {
            assert!(same_bytes(&a[..n], &a[..n]), "length {n}");
            for at in 0..n {
                let mut b = a;
                b[at] ^= 0x80;
                assert!(!same_bytes(&a[..n], &b[..n]), "length {n}, byte {at}");
            }
            if n > 0 {
                assert!(
                    !same_bytes(&a[..n], &a[..n - 1]),
                    "lengths {n} and {}",
                    n - 1
                );
            }
        }
    }
}
