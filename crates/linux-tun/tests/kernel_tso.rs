//! Ground truth for `tcp-tso`: the kernel's own software GSO.
//!
//! Topology (rule book §1.1): one private namespace with IPv4/IPv6
//! forwarding on and rp_filter off; TUN A with a vnet header, into which we write a
//! super-packet with a GSO header as if a peer had sent it; TUN B with no offloads (and no
//! vnet header), so the kernel must segment the forwarded super-packet in software
//! (`tcp_gso_segment` + `inet_gso_segment` / `ipv6_gso_segment`) before handing it to us. We
//! read the segments from B and compare them byte for byte with what `tcp_tso::Plan::split` makes
//! of the same input. A write the kernel passes on unsplit (rule book §5.4) comes out as one
//! packet with its checksum finished by `skb_checksum_help`; a write it drops comes out as
//! nothing, which `tcp_tso` must answer with [`SplitError::NothingToSegment`].
//!
//! After each write we send a marker packet of another flow through the same path and read
//! until it arrives: everything the write produced is in B's queue before it, so "nothing
//! more" (and "nothing at all") is observed, not waited for.
//!
//! Forwarding changes the IPv4/IPv6 header, which a split must not do. So we apply exactly
//! that to our segments — TTL − 1 with `ip_decrease_ttl`'s incremental checksum update, the
//! router's address in a Record Route option with room, hop limit − 1 — and recompute the
//! IPv4 header checksum where the kernel does (`ip_forward_options` after a Record Route
//! entry, `inet_gso_segment` for every segment), and then require equality of every byte,
//! TCP checksum included (none of these fields is covered by it).

use std::time::{Duration, Instant};

use inet_hdr::{IpVersion, Ipv4Header, Protocol, TcpFlags, TcpHeader, classify};
use linux_tun::Tun;
use tcp_tso::{Plan, Slab, Span, SplitError};
use testkit::packet::TcpPacket;
use testkit::{Netns, require_root};
use virtio_net_hdr::{Error as HdrError, VirtioNetHdr};

const SRC4: [u8; 4] = [10, 88, 1, 2];
const DST4: [u8; 4] = [10, 88, 2, 2];
const SRC6: [u8; 16] = [0xfd, 0x88, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
const DST6: [u8; 16] = [0xfd, 0x88, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
/// B's address: what the forwarding hop writes into an IPv4 Record Route option
/// (`ip_rt_get_source`, the route's preferred source).
const ROUTER4: [u8; 4] = [10, 88, 2, 1];
/// B's MTU: a segment (or an unsplit packet) must fit it to be forwarded.
const MTU_B: usize = 9216;
/// Ports of the marker flow.
const MARKER_PORT: u16 = 9;

/// One write into A: the virtio header and the packet behind it.
#[derive(Clone, Debug)]
struct Input {
    hdr: VirtioNetHdr,
    pkt: Vec<u8>,
}

impl Input {
    fn of(sp: &TcpPacket) -> Input {
        let (hdr, pkt) = sp.build_gso();
        Input { hdr, pkt }
    }

    fn frame(&self) -> Vec<u8> {
        let mut frame = self.hdr.to_bytes().to_vec();
        frame.extend_from_slice(&self.pkt);
        frame
    }

    /// IP version, TCP ports and the IPv4 TOS of the packet (to tell its segments apart).
    fn flow(&self) -> (IpVersion, [u8; 4], u8) {
        flow_of(&self.pkt).expect("inputs are TCP packets")
    }

    /// IP + TCP header length.
    fn header_len(&self) -> usize {
        let l4 = classify(&self.pkt).unwrap().l4_offset;
        let (tcp, _) = TcpHeader::ref_from_packet(&self.pkt[l4..]).unwrap();
        l4 + tcp.header_len()
    }
}

fn flow_of(p: &[u8]) -> Option<(IpVersion, [u8; 4], u8)> {
    let info = classify(p).ok()?;
    if info.protocol != Protocol::TCP {
        return None;
    }
    let ports = p.get(info.l4_offset..info.l4_offset + 4)?.try_into().ok()?;
    let tos = if info.version == IpVersion::V4 {
        p[1]
    } else {
        0
    };
    Some((info.version, ports, tos))
}

/// The namespace and its two TUNs; dropping it removes the devices and the namespace (the
/// `Netns` guard also on panic).
struct Oracle {
    a: Tun,
    b: Tun,
    buf: Vec<u8>,
    _ns: Netns,
}

impl Oracle {
    fn new(prefix: &str) -> Oracle {
        let ns = Netns::new(prefix).unwrap();
        for (k, v) in [
            ("net.ipv4.ip_forward", "1"),
            ("net.ipv6.conf.all.forwarding", "1"),
            ("net.ipv4.conf.all.rp_filter", "0"),
            ("net.ipv4.conf.default.rp_filter", "0"),
        ] {
            ns.sysctl(k, v).unwrap();
        }
        let (a, b) = ns
            .run(|| {
                (
                    Tun::builder().name("tsoa").offload(true).up().open(),
                    Tun::builder()
                        .name("tsob")
                        .offload(false)
                        .mtu(MTU_B as u32)
                        .blocking(false)
                        .up()
                        .open(),
                )
            })
            .unwrap();
        let (a, b) = (a.unwrap(), b.unwrap());
        for args in [
            &["addr", "add", "10.88.1.1/24", "dev", "tsoa"][..],
            &["addr", "add", "10.88.2.1/24", "dev", "tsob"],
            &["-6", "addr", "add", "fd88:1::1/64", "dev", "tsoa", "nodad"],
            &["-6", "addr", "add", "fd88:2::1/64", "dev", "tsob", "nodad"],
            // TUN drops what exceeds txqueuelen (default 500) unread: one super-packet here
            // becomes up to 2000 segments at once.
            &["link", "set", "tsob", "txqueuelen", "10000"],
        ] {
            ns.ip(args).unwrap();
        }
        Oracle {
            a,
            b,
            buf: vec![0u8; 65_600],
            _ns: ns,
        }
    }

    /// Write `input` into A and collect what the kernel forwards to B of its flow, up to the
    /// marker written right after it (other traffic on B, e.g. router solicitations, is
    /// skipped).
    fn kernel_output(&mut self, input: &Input) -> Vec<Vec<u8>> {
        let frame = input.frame();
        assert_eq!(self.a.write_raw(&frame).unwrap(), frame.len());
        let flow = input.flow();
        // The marker shares the IPv4 TOS, so B's qdisc (pfifo_fast: a band per priority,
        // which forwarding derives from the TOS) keeps it behind the write's segments.
        let marker = marker(flow.2);
        let marker_flow = marker.flow();
        let frame = marker.frame();
        assert_eq!(self.a.write_raw(&frame).unwrap(), frame.len());
        let mut out = Vec::new();
        // A guard against hanging if the kernel drops the marker, not a timing assertion.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.b.read_raw(&mut self.buf) {
                Ok(n) => {
                    let p = &self.buf[..n];
                    match flow_of(p) {
                        Some(f) if f == marker_flow => return out,
                        Some(f) if f == flow => out.push(p.to_vec()),
                        _ => {}
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(
                        Instant::now() < deadline,
                        "the marker never came; {} segments before it",
                        out.len()
                    );
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => panic!("read from B: {e}"),
            }
        }
    }
}

/// A small IPv4 packet of its own flow, passed on unsplit.
fn marker(tos: u8) -> Input {
    let mut sp = v4(8, 1000);
    (sp.src_port, sp.dst_port, sp.tos) = (MARKER_PORT, MARKER_PORT, tos);
    Input::of(&sp)
}

/// `ip_decrease_ttl`: TTL − 1 and the checksum updated incrementally, on the 16-bit value as
/// the host loads it (so the 0x0000/0xffff choice is the kernel's, not a recomputation's).
fn ip_decrease_ttl(ip: &mut [u8]) {
    let check = u32::from(u16::from_ne_bytes([ip[10], ip[11]]));
    let check = check + u32::from(u16::from_ne_bytes(0x0100u16.to_be_bytes()));
    let check = check + u32::from(check >= 0xffff);
    ip[10..12].copy_from_slice(&(check as u16).to_ne_bytes());
    ip[8] -= 1;
}

/// `ip_options_compile` + `ip_forward_options`: a Record Route option with room for another
/// address gets the router's, and its pointer moves on. Whether anything changed.
fn record_route(opts: &mut [u8]) -> bool {
    let mut changed = false;
    let mut i = 0;
    while i < opts.len() {
        match opts[i] {
            0 => break,
            1 => i += 1,
            kind => {
                let len = usize::from(opts[i + 1]);
                if kind == 7 {
                    let ptr = usize::from(opts[i + 2]);
                    if ptr + 3 <= len {
                        opts[i + ptr - 1..i + ptr + 3].copy_from_slice(&ROUTER4);
                        opts[i + 2] += 4;
                        changed = true;
                    }
                }
                i += len;
            }
        }
    }
    changed
}

/// What forwarding does to one of our segments (see the module comment). `unsplit`: the
/// kernel passed the write on as one packet, so no GSO recomputed its IPv4 header checksum.
fn forward_hop(seg: &mut [u8], unsplit: bool) {
    if seg[0] >> 4 == 6 {
        seg[7] -= 1;
        return;
    }
    let ihl = usize::from(seg[0] & 0x0f) * 4;
    ip_decrease_ttl(seg);
    let changed = record_route(&mut seg[Ipv4Header::LEN..ihl]);
    if changed || !unsplit {
        // ip_send_check, over the options too.
        seg[10..12].fill(0);
        let c = inet_csum::header_checksum(&seg[..ihl]);
        seg[10..12].copy_from_slice(&c.to_be_bytes());
    }
}

/// `Plan::split` of the input, unchanged by any hop.
fn split_all(input: &Input) -> Result<Vec<Vec<u8>>, SplitError> {
    let plan = Plan::new(&input.hdr, &input.pkt)?;
    let mut slab = vec![0u8; plan.room(0, 0)];
    let mut spans = vec![Span::default(); plan.segments()];
    let out = plan.split(&input.pkt, 0, Slab::new(&mut slab, 0), &mut spans)?;
    Ok(spans[..out.segments]
        .iter()
        .map(|s| slab[s.range()].to_vec())
        .collect())
}

/// Our segments, with the forwarding hop applied.
fn our_segments(input: &Input) -> Result<Vec<Vec<u8>>, SplitError> {
    let mut segs = split_all(input)?;
    let unsplit = segs.len() == 1;
    for seg in &mut segs {
        forward_hop(seg, unsplit);
    }
    Ok(segs)
}

/// What one comparison found, when the two agree.
#[derive(Debug, PartialEq)]
enum Agreed {
    /// This many segments, byte for byte.
    Segments(usize),
    /// Nothing came out, and tcp-tso said `NothingToSegment`.
    Dropped,
}

/// Compare the kernel's output for `input` with ours.
fn compare(oracle: &mut Oracle, what: &str, input: &Input) -> Result<Agreed, String> {
    let ours = our_segments(input);
    let theirs = oracle.kernel_output(input);
    let ours = match ours {
        Err(SplitError::NothingToSegment { .. }) if theirs.is_empty() => {
            return Ok(Agreed::Dropped);
        }
        Err(e) => {
            return Err(format!(
                "{what}: tcp-tso says \"{e}\", the kernel forwarded {} segments",
                theirs.len()
            ));
        }
        Ok(ours) => ours,
    };
    if theirs.len() != ours.len() {
        return Err(format!(
            "{what}: the kernel forwarded {} segments, tcp-tso made {}",
            theirs.len(),
            ours.len()
        ));
    }
    for (i, (k, o)) in theirs.iter().zip(&ours).enumerate() {
        if k != o {
            let at = k.iter().zip(o.iter()).position(|(x, y)| x != y);
            return Err(format!(
                "{what}: segment {i} of {} differs (kernel {} bytes, ours {}; first difference at {at:?})\nkernel {:02x?}\nours   {:02x?}",
                ours.len(),
                k.len(),
                o.len(),
                &k[..k.len().min(96)],
                &o[..o.len().min(96)]
            ));
        }
    }
    Ok(Agreed::Segments(ours.len()))
}

fn assert_same(oracle: &mut Oracle, what: &str, input: &Input) -> Agreed {
    compare(oracle, what, input).unwrap_or_else(|e| panic!("{e}"))
}

fn v4(payload: usize, mss: u16) -> TcpPacket {
    let mut sp = TcpPacket::super_v4(payload, mss);
    (sp.src4, sp.dst4) = (SRC4, DST4);
    sp
}

fn v6(payload: usize, mss: u16) -> TcpPacket {
    let mut sp = TcpPacket::super_v6(payload, mss);
    (sp.src6, sp.dst6) = (SRC6, DST6);
    sp
}

const TIMESTAMPS: [u8; 12] = [1, 1, 8, 10, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88];

/// IPv6 extension headers between the IPv6 and TCP headers, in RFC 8200 §4.1 order.
#[derive(Clone, Debug, Default)]
struct Ext6 {
    /// Hop-by-Hop Options header length (0 for none, else a multiple of 8).
    hop_by_hop: usize,
    /// A type 0 Routing header: segments left and its addresses (the last is the final
    /// destination while segments are left).
    routing: Option<(u8, Vec<[u8; 16]>)>,
    /// Destination Options header length (0 for none).
    dest_opts: usize,
}

impl Ext6 {
    /// The destination the sender's pseudo-header uses (RFC 8200 §8.1).
    fn final_destination(&self, dst: [u8; 16]) -> [u8; 16] {
        match &self.routing {
            Some((left, addrs)) if *left > 0 => *addrs.last().expect("an address"),
            _ => dst,
        }
    }
}

/// `sp` (IPv6) with the extension headers of `ext`, its partial checksum summed with the
/// final destination as a sender computes it.
fn with_ext6(sp: &TcpPacket, ext: &Ext6) -> Input {
    let mut sp = sp.clone();
    let mut chain: Vec<(u8, usize)> = Vec::new();
    if ext.hop_by_hop > 0 {
        chain.push((Protocol::HOP_BY_HOP.0, ext.hop_by_hop));
    }
    if let Some((_, addrs)) = &ext.routing {
        chain.push((Protocol::ROUTING.0, 8 + 16 * addrs.len()));
    }
    if ext.dest_opts > 0 {
        chain.push((Protocol::DEST_OPTS.0, ext.dest_opts));
    }
    // The builder leaves room for the chain (as one Destination Options header).
    sp.ipv6_dest_opts = chain.iter().map(|c| c.1).sum();
    let (hdr, mut pkt) = sp.build_gso();
    pkt[6] = chain.first().map_or(Protocol::TCP.0, |c| c.0);
    let mut at = 40;
    for (k, &(kind, len)) in chain.iter().enumerate() {
        let h = &mut pkt[at..at + len];
        h.fill(0);
        h[0] = chain.get(k + 1).map_or(Protocol::TCP.0, |c| c.0);
        h[1] = (len / 8 - 1) as u8;
        match (&ext.routing, kind) {
            (Some((left, addrs)), 43) => {
                // Type 0, segments left, 4 reserved bytes, the addresses.
                h[3] = *left;
                for (i, a) in addrs.iter().enumerate() {
                    h[8 + 16 * i..24 + 16 * i].copy_from_slice(a);
                }
            }
            (_, 0) => {
                // One option filling the header, of a type to skip when unknown (0x1e,
                // RFC 4727): routers parse Hop-by-Hop options, and `ip6_parse_tlv` drops a
                // packet with more than 7 bytes of padding in a row.
                h[2] = 0x1e;
                h[3] = (len - 4) as u8;
            }
            _ => {
                // One PadN option filling the header.
                h[2] = 1;
                h[3] = (len - 4) as u8;
            }
        }
        at += len;
    }
    let l4_len = (pkt.len() - at) as u32;
    let pseudo = inet_csum::pseudo_header_v6(&sp.src6, &ext.final_destination(sp.dst6), 6, l4_len);
    pkt[at + 16..at + 18].copy_from_slice(&pseudo.fold().to_be_bytes());
    Input { hdr, pkt }
}

/// Rewrite the first two payload bytes of every segment `pick` selects (among those with at
/// least two) so that its TCP checksum sums to zero: the sum before inversion is 0xffff.
/// Returns how many segments were rewritten, and whether the input is passed on unsplit.
fn zero_sum(input: &mut Input, pick: impl Fn(usize, usize) -> bool) -> (usize, bool) {
    let Ok(plan) = Plan::new(&input.hdr, &input.pkt) else {
        return (0, false);
    };
    let (l4, hl) = (classify(&input.pkt).unwrap().l4_offset, input.header_len());
    let (n, mss) = (plan.segments(), usize::from(input.hdr.gso_size()));
    // Payload offsets inside a segment's TCP segment are even (the header is 4-byte
    // aligned), so the two bytes are one 16-bit word of its sum: first 0, then the checksum
    // computed over that 0 (the one's complement of the rest) makes the sum 0xffff.
    let spots: Vec<(usize, usize)> = (0..n)
        .filter(|&i| pick(i, n) && plan.segment_len(i) >= hl + 2)
        .map(|i| (i, hl + i * mss))
        .collect();
    for &(_, at) in &spots {
        input.pkt[at..at + 2].fill(0);
    }
    let segs = split_all(input).expect("planned");
    for &(i, at) in &spots {
        let c = [segs[i][l4 + 16], segs[i][l4 + 17]];
        input.pkt[at..at + 2].copy_from_slice(&c);
    }
    (spots.len(), n == 1)
}

/// The TCP checksum field of a packet.
fn tcp_check(p: &[u8]) -> u16 {
    let l4 = classify(p).unwrap().l4_offset;
    u16::from_be_bytes([p[l4 + 16], p[l4 + 17]])
}

/// The hand-picked cases: both families, options, an IPv6 extension header, FIN/PSH/CWR with
/// and without the GSO ECN bit, short last segments, seq and IPv4 ID wrap-around, the MSS
/// values the benchmarks use, and a payload equal to `gso_size`.
#[test]
fn kernel_segments_equal_ours() {
    if !require_root("kernel_segments_equal_ours") {
        return;
    }
    let mut oracle = Oracle::new("kernel-tso");
    let ack_psh = TcpFlags::ACK | TcpFlags::PSH;
    let mut cases: Vec<(&str, TcpPacket)> = vec![
        ("v4 64K at 1448", v4(65_535 - 40, 1448).flags(ack_psh)),
        ("v4 at 536", v4(20_000, 536).flags(ack_psh)),
        ("v4 at 8948", v4(40_000, 8948).flags(ack_psh)),
        ("v6 64K at 1448", v6(65_535 - 20, 1448).flags(ack_psh)),
        ("v6 at 536", v6(20_000, 536)),
        ("v6 at 8948", v6(40_000, 8948).flags(ack_psh)),
        ("v4 tiny mss", v4(100, 7).flags(ack_psh)),
        (
            "v4 with IP options (NOPs, EOL)",
            v4(9_000, 1400).ipv4_options(&[1, 1, 1, 1, 1, 1, 1, 0]),
        ),
        (
            "v4 with Record Route (room for 2 more)",
            v4(9_000, 1400).ipv4_options(&[1, 7, 15, 8, 192, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0]),
        ),
        (
            "v4 with a full Record Route",
            v4(9_000, 1400).ipv4_options(&[7, 7, 8, 192, 0, 2, 1]),
        ),
        ("v4 payload == gso_size", v4(1448, 1448).flags(ack_psh)),
        ("v6 payload == gso_size", v6(1000, 1000)),
    ];
    let mut sp = v4(5_500, 1000)
        .tcp_options(&TIMESTAMPS)
        .flags(TcpFlags::ACK | TcpFlags::PSH | TcpFlags::FIN | TcpFlags::CWR);
    (sp.seq, sp.ipv4_id, sp.ecn, sp.tos) = (0xffff_fc00, 0xfffe, true, 0x02);
    cases.push(("v4 options FIN/PSH/CWR+ECN, wrap", sp.clone()));
    sp.ecn = false;
    cases.push(("v4 options FIN/PSH/CWR without ECN bit", sp));
    let mut sp = v6(7_001, 1200)
        .ipv6_dest_opts(8)
        .tcp_options(&TIMESTAMPS)
        .flags(TcpFlags::ACK | TcpFlags::ECE | TcpFlags::CWR | TcpFlags::FIN);
    (sp.seq, sp.ecn, sp.tos) = (0xffff_f000, true, 0x01);
    cases.push(("v6 dest-opts, options, CWR+ECN, FIN, wrap", sp.clone()));
    sp.ecn = false;
    sp.ipv6_dest_opts = 24;
    sp.flags = TcpFlags::ACK | TcpFlags::PSH | TcpFlags::URG;
    sp.urgent = 77;
    cases.push(("v6 24-byte dest-opts, URG", sp));
    for (what, sp) in &cases {
        assert!(matches!(
            assert_same(&mut oracle, what, &Input::of(sp)),
            Agreed::Segments(_)
        ));
    }
    println!("kernel_tso: {} hand-picked cases byte-equal", cases.len());
}

/// Rule book §5.4.1: with TCP options, a `gso_size` from the payload up to below payload +
/// options makes the kernel drop the write (`virtio_net_hdr_to_skb` marks it GSO,
/// `tcp_gso_segment` finds nothing to segment); at payload + options and above it is passed
/// on unsplit; below the payload it is split.
#[test]
fn gso_size_between_payload_and_options_like_the_kernel() {
    if !require_root("gso_size_between_payload_and_options_like_the_kernel") {
        return;
    }
    let mut oracle = Oracle::new("kernel-tso-opts");
    // (payload, gso_size, what the kernel does)
    let table = [
        (16, 15, Agreed::Segments(2)),
        (16, 16, Agreed::Dropped),
        (16, 19, Agreed::Dropped),
        (16, 27, Agreed::Dropped),
        (16, 28, Agreed::Segments(1)),
        (16, 1000, Agreed::Segments(1)),
        (0, 5, Agreed::Dropped),
        (0, 12, Agreed::Segments(1)),
        (1, 1, Agreed::Dropped),
    ];
    for family in [v4 as fn(usize, u16) -> TcpPacket, v6] {
        for &(payload, gso_size, ref want) in &table {
            let sp = family(payload, gso_size)
                .tcp_options(&TIMESTAMPS)
                .flags(TcpFlags::ACK | TcpFlags::PSH);
            let input = Input::of(&sp);
            let what = format!(
                "{:?} payload {payload}, 12 option bytes, gso_size {gso_size}",
                sp.version
            );
            assert_eq!(assert_same(&mut oracle, &what, &input), *want, "{what}");
        }
    }
}

/// Rule book §5.4.2: a TCP checksum that computes to zero is stored as 0xffff when the kernel
/// passes the write on unsplit (`skb_checksum_help`, `CSUM_MANGLED_0`) and as 0x0000 in
/// segments (`gso_make_checksum`).
#[test]
fn zero_checksums_like_the_kernel() {
    if !require_root("zero_checksums_like_the_kernel") {
        return;
    }
    let mut oracle = Oracle::new("kernel-tso-zero");
    for family in [v4 as fn(usize, u16) -> TcpPacket, v6] {
        for (payload, mss, stored) in [(100, 1000, 0xffff), (3_500, 1000, 0x0000)] {
            let sp = family(payload, mss).tcp_options(&TIMESTAMPS);
            let mut input = Input::of(&sp);
            let (zeroed, _) = zero_sum(&mut input, |_, _| true);
            assert_eq!(zeroed, payload.div_ceil(usize::from(mss)));
            let what = format!("{:?} {payload} at {mss}, zero sums", sp.version);
            assert_same(&mut oracle, &what, &input);
            for seg in our_segments(&input).unwrap() {
                assert_eq!(tcp_check(&seg), stored, "{what}");
            }
        }
    }
}

/// Rule book §5.4.3: with a Routing header that has segments left, the segments' checksums
/// come from the sender's partial sum (taken with the final destination), as
/// `tcp_gso_segment` adjusts it, and verify at the final destination (RFC 8200 §8.1).
#[test]
fn routing_header_with_segments_left_like_the_kernel() {
    if !require_root("routing_header_with_segments_left_like_the_kernel") {
        return;
    }
    let mut oracle = Oracle::new("kernel-tso-rh");
    let hops = vec![
        [0xfd, 0x88, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        [0xfd, 0x88, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
    ];
    for left in [2u8, 1, 0] {
        for (payload, mss) in [(4_000, 1000), (900, 1000)] {
            let ext = Ext6 {
                hop_by_hop: 8,
                routing: Some((left, hops.clone())),
                dest_opts: 8,
            };
            let sp = v6(payload, mss)
                .tcp_options(&TIMESTAMPS)
                .flags(TcpFlags::ACK | TcpFlags::PSH);
            let input = with_ext6(&sp, &ext);
            let what = format!("Routing header, {left} segments left, {payload} at {mss}");
            assert_same(&mut oracle, &what, &input);
            let dst = ext.final_destination(DST6);
            for seg in split_all(&input).unwrap() {
                let l4 = classify(&seg).unwrap().l4_offset;
                let pseudo = inet_csum::pseudo_header_v6(&SRC6, &dst, 6, (seg.len() - l4) as u32);
                assert_eq!(pseudo.add(&seg[l4..]).fold(), 0xffff, "{what}");
            }
        }
    }
}

/// Rule book §5.4.4: `gso_size` 0xffff (`GSO_BY_FRAGS`) is refused by the kernel's
/// `virtio_net_hdr_to_skb` (`EINVAL`), by `check_kernel`, by `decode` and so by a split.
#[test]
fn gso_by_frags_is_refused_like_the_kernel() {
    if !require_root("gso_by_frags_is_refused_like_the_kernel") {
        return;
    }
    let oracle = Oracle::new("kernel-tso-frags");
    for sp in [v4(3000, 0xffff), v6(3000, 0xffff)] {
        let input = Input::of(&sp);
        let err = oracle.a.write_raw(&input.frame()).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
        assert_eq!(
            input.hdr.check_kernel(&input.pkt),
            Err(HdrError::GsoByFrags)
        );
        assert_eq!(input.hdr.decode(&input.pkt), Err(HdrError::GsoByFrags));
        assert_eq!(
            split_all(&input),
            Err(SplitError::Header(HdrError::GsoByFrags))
        );
    }
}

/// Random IPv4 options: none, NOPs, or a Record Route option with room or full.
fn ipv4_options(rnd: &mut impl FnMut() -> u64) -> (Vec<u8>, bool) {
    match rnd() % 3 {
        0 => (Vec::new(), false),
        1 => (vec![1; (rnd() % 11) as usize * 4], false),
        _ => {
            let slots = (rnd() % 9) as usize + 1;
            let used = (rnd() % (slots as u64 + 1)) as usize;
            let mut o = vec![1u8; (rnd() % 2) as usize];
            o.extend([7, (3 + 4 * slots) as u8, (4 + 4 * used) as u8]);
            for k in 0..slots {
                o.extend(if k < used {
                    [192, 0, 2, k as u8 + 1]
                } else {
                    [0; 4]
                });
            }
            (o, true)
        }
    }
}

/// Random IPv6 extension headers: Hop-by-Hop, a Routing header with 0..=n segments left,
/// Destination Options, each present or not.
fn ext6(rnd: &mut impl FnMut() -> u64) -> Ext6 {
    let routing = (!rnd().is_multiple_of(3)).then(|| {
        let n = (rnd() % 3) as usize + 1;
        let left = (rnd() % (n as u64 + 1)) as u8;
        let addrs = (0..n)
            .map(|k| {
                let mut a = [0u8; 16];
                a[..4].copy_from_slice(&[0xfd, 0x88, 0, 9]);
                a[15] = k as u8 + 1;
                a
            })
            .collect();
        (left, addrs)
    });
    Ext6 {
        hop_by_hop: [0, 0, 8, 16][(rnd() % 4) as usize],
        routing,
        dest_opts: [0, 0, 8, 16][(rnd() % 4) as usize],
    }
}

/// How many of each kind the random cases covered.
#[derive(Debug, Default)]
struct Tally {
    compared: usize,
    segments: usize,
    unsplit: usize,
    dropped: usize,
    zero_split: usize,
    zero_unsplit: usize,
    routing_left: usize,
    record_route: usize,
    v6_ext: usize,
}

/// Pseudo-random cases (fixed seed, so a failure reproduces): both families, `gso_size` far
/// from and near the payload against random TCP option lengths, IPv4 options (NOPs, Record
/// Route), IPv6 Hop-by-Hop / Routing (with and without segments left) / Destination Options
/// headers, segments whose checksum sums to zero, flags, seq, ID and payload length.
#[test]
fn kernel_segments_equal_ours_random() {
    if !require_root("kernel_segments_equal_ours_random") {
        return;
    }
    const CASES: usize = 1000;
    let mut oracle = Oracle::new("kernel-tso-rnd");
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut t = Tally::default();
    let mut failures = Vec::new();
    for case in 0..CASES {
        let is_v6 = case % 2 == 1;
        let nopts = (rnd() % 11) as usize * 4;
        let (payload, mss) = if case % 4 < 2 {
            // Near: gso_size from 3 below the payload to 3 above payload + options.
            let payload = (rnd() % 200) as usize;
            let mss = (payload as u64 + rnd() % (nopts as u64 + 7)).saturating_sub(3);
            (payload, mss.max(1) as u16)
        } else {
            let payload = (rnd() % 30_000) as usize + 1;
            let mss = match rnd() % 3 {
                0 => (rnd() % 64) as u16 + 1,
                1 => (rnd() % 1500) as u16 + 1,
                _ => (rnd() % 9000) as u16 + 100,
            };
            // At most 2000 segments per case, so the test stays short.
            (payload, mss.max((payload / 2000) as u16 + 1))
        };
        let mut sp = if is_v6 {
            v6(payload, mss)
        } else {
            v4(payload, mss)
        };
        let (ip_opts, rr) = ipv4_options(&mut rnd);
        sp.ipv4_options = ip_opts;
        sp.tcp_options = vec![1; nopts];
        if nopts >= 12 {
            sp.tcp_options[..12].copy_from_slice(&TIMESTAMPS);
        }
        // Any of ACK PSH FIN CWR ECE URG (never SYN/RST: not GSO material).
        sp.flags = TcpFlags(0x10 | (rnd() as u8 & (0x01 | 0x08 | 0x20 | 0x40 | 0x80)));
        sp.seq = rnd() as u32;
        sp.ack = rnd() as u32;
        sp.ipv4_id = rnd() as u16;
        sp.ecn = rnd() % 2 == 0;
        sp.tos = rnd() as u8;
        sp.urgent = rnd() as u16;
        sp.payload = (0..payload).map(|_| rnd() as u8).collect();
        let ext = ext6(&mut rnd);
        let mut input = if is_v6 {
            with_ext6(&sp, &ext)
        } else {
            Input::of(&sp)
        };
        // Every segment (and an unsplit packet) must fit B's MTU.
        let room = (MTU_B - input.header_len()) as u16;
        if input.hdr.gso_size() > room {
            input.hdr.set_gso_size(room);
        }
        let (zeroed, unsplit) = match rnd() % 3 {
            0 => (0, false),
            1 => {
                let k = rnd() as usize;
                zero_sum(&mut input, |i, n| i == k % n)
            }
            _ => zero_sum(&mut input, |_, _| true),
        };
        match compare(&mut oracle, &format!("random case {case}"), &input) {
            Ok(Agreed::Segments(n)) => {
                t.segments += n;
                t.unsplit += usize::from(n == 1);
                if unsplit {
                    t.zero_unsplit += zeroed;
                } else {
                    t.zero_split += zeroed;
                }
            }
            Ok(Agreed::Dropped) => t.dropped += 1,
            Err(e) => failures.push(format!(
                "{e}\n  ext {ext:?}, ip options {:?}, gso_size {}, {} bytes",
                sp.ipv4_options,
                input.hdr.gso_size(),
                input.pkt.len()
            )),
        }
        t.compared += 1;
        if is_v6 {
            t.v6_ext += usize::from(ext.hop_by_hop + ext.dest_opts > 0 || ext.routing.is_some());
            t.routing_left += usize::from(ext.routing.as_ref().is_some_and(|r| r.0 > 0));
        } else {
            t.record_route += usize::from(rr);
        }
    }
    println!(
        "kernel_tso random: {} cases compared, {} byte-equal ({} segments, {} passed on unsplit, \
         {} dropped by both; zero-sum segments: {} split, {} unsplit; {} Routing headers with \
         segments left, {} IPv6 with extension headers, {} IPv4 with Record Route)",
        t.compared,
        t.compared - failures.len(),
        t.segments,
        t.unsplit,
        t.dropped,
        t.zero_split,
        t.zero_unsplit,
        t.routing_left,
        t.v6_ext,
        t.record_route
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases differ; the first:\n{}",
        failures.len(),
        t.compared,
        failures[..failures.len().min(3)].join("\n")
    );
}
