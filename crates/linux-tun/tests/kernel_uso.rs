//! Ground truth for `udp-gso` and for reads of UDP super-packets: the kernel's own software
//! GSO (rule book §5.3).
//!
//! Topology (rule book §1.1, as `kernel_tso.rs`): one private namespace with IPv4/IPv6
//! forwarding on and rp_filter off; TUN A with a vnet header, into which we write a UDP
//! super-packet with a `UDP_L4` virtio header as if a peer had sent it; TUN B, also with a
//! vnet header, read through `linux_tun::Reader`. Every input is written twice:
//!
//! 1. with B's offloads at 0, so the kernel must segment the forwarded super-packet in
//!    software (`__udp_gso_segment` + `inet_gso_segment` / `ipv6_gso_segment`) before
//!    handing it over: the kernel's datagrams. They must equal `udp_gso::Plan::split` of the
//!    input byte for byte, once the forwarding hop's own changes are applied to ours (TTL − 1
//!    with `ip_decrease_ttl`'s incremental checksum update, hop limit − 1; the IPv4 header
//!    checksum recomputed where `inet_gso_segment` recomputes it).
//! 2. with B's offloads at `OffloadFlags::ALL` (USO on): the kernel hands over the forwarded
//!    super-packet as it is, and the reader splits it with `udp-gso`. What the reader
//!    delivers must equal the kernel's datagrams of step 1 byte for byte, with nothing to
//!    adjust (both are after the hop).
//!
//! After each write we send a marker datagram of another flow through the same path and read
//! until it arrives: everything the write produced is in B's queue before it, so "nothing
//! more" is observed, not waited for.

use std::time::{Duration, Instant};

use inet_hdr::{IpVersion, Protocol, classify};
use linux_tun::{OffloadFlags, Reader, RecvBatch, RecvError, Tun};
use testkit::udp::UdpPacket;
use testkit::{Netns, require_root};
use udp_gso::{Malformed, Plan, Slab, Span, SplitError};
use virtio_net_hdr::{Error as HdrError, GsoType, VirtioNetHdr};

const SRC4: [u8; 4] = [10, 89, 1, 2];
const DST4: [u8; 4] = [10, 89, 2, 2];
const SRC6: [u8; 16] = [0xfd, 0x89, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
const DST6: [u8; 16] = [0xfd, 0x89, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
/// B's MTU: a datagram (or an unsplit packet) must fit it to be forwarded.
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
    fn of(sp: &UdpPacket) -> Input {
        let (hdr, pkt) = sp.build_gso();
        Input { hdr, pkt }
    }

    fn frame(&self) -> Vec<u8> {
        let mut frame = self.hdr.to_bytes().to_vec();
        frame.extend_from_slice(&self.pkt);
        frame
    }

    /// IP version, UDP ports and the IPv4 TOS of the packet (to tell its datagrams apart).
    fn flow(&self) -> (IpVersion, [u8; 4], u8) {
        flow_of(&self.pkt).expect("inputs are UDP packets")
    }
}

fn flow_of(p: &[u8]) -> Option<(IpVersion, [u8; 4], u8)> {
    let info = classify(p).ok()?;
    if info.protocol != Protocol::UDP {
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

/// What B delivered for one write, as the kernel segmented it (offloads off) and as our
/// reader split the super-packet the kernel handed over (USO on).
struct Outputs {
    kernel: Vec<Vec<u8>>,
    reader: Vec<Vec<u8>>,
    /// Super-packets the reader split while USO was on (0 or 1).
    super_packets: u64,
}

/// The namespace and its two TUNs; dropping it removes the devices and the namespace (the
/// `Netns` guard also on panic).
struct Oracle {
    a: Tun,
    b: Reader,
    batch: RecvBatch,
    /// Alternate contiguous and headers-only splits on the reader.
    zero_copy: bool,
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
                    Tun::builder().name("usoa").offload(true).up().open(),
                    Tun::builder()
                        .name("usob")
                        .offload(true)
                        .mtu(MTU_B as u32)
                        .blocking(false)
                        .up()
                        .open(),
                )
            })
            .unwrap();
        let (a, b) = (a.unwrap(), b.unwrap());
        // Linux ≥ 6.2 grants USO; this kernel is 6.18.
        assert!(b.control().capabilities().offload.has_uso());
        for args in [
            &["addr", "add", "10.89.1.1/24", "dev", "usoa"][..],
            &["addr", "add", "10.89.2.1/24", "dev", "usob"],
            &["-6", "addr", "add", "fd89:1::1/64", "dev", "usoa", "nodad"],
            &["-6", "addr", "add", "fd89:2::1/64", "dev", "usob", "nodad"],
            // TUN drops what exceeds txqueuelen (default 500) unread.
            &["link", "set", "usob", "txqueuelen", "10000"],
        ] {
            ns.ip(args).unwrap();
        }
        let (b, _) = b.into_halves();
        Oracle {
            a,
            b,
            batch: RecvBatch::with_slab_len(512, 0, 4 << 20),
            zero_copy: false,
            _ns: ns,
        }
    }

    /// Write `input` into A with B's offloads at `mask` and collect what B delivers up to the
    /// marker written right after it.
    fn deliver(&mut self, input: &Input, mask: OffloadFlags) -> Vec<Vec<u8>> {
        self.b.control().set_offload(mask).unwrap();
        let frame = input.frame();
        assert_eq!(self.a.write_raw(&frame).unwrap(), frame.len());
        // The marker shares the IPv4 TOS, so B's qdisc (pfifo_fast: a band per priority,
        // which forwarding derives from the TOS) keeps it behind the write's datagrams.
        let marker = marker(input.pkt[1] * u8::from(input.pkt[0] >> 4 == 4));
        let marker_flow = marker.flow();
        let frame = marker.frame();
        assert_eq!(self.a.write_raw(&frame).unwrap(), frame.len());
        self.zero_copy = !self.zero_copy;
        let mut batch = std::mem::replace(&mut self.batch, RecvBatch::new(1, 0));
        batch = batch.zero_copy_split(self.zero_copy);
        let mut out = Vec::new();
        // A guard against hanging if the kernel drops the marker, not a timing assertion.
        let deadline = Instant::now() + Duration::from_secs(10);
        'read: loop {
            match self.b.recv(&mut batch) {
                Ok(_) => {
                    for p in batch.iter() {
                        let (header, payload) = p.parts();
                        let d = [header, payload].concat();
                        if flow_of(&d) == Some(marker_flow) {
                            break 'read;
                        }
                        out.push(d);
                    }
                }
                Err(RecvError::WouldBlock) => {
                    assert!(
                        Instant::now() < deadline,
                        "the marker never came; {} datagrams before it",
                        out.len()
                    );
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => panic!("read from B: {e}"),
            }
        }
        self.batch = batch;
        out
    }

    /// Both deliveries of `input`, its flow only (other traffic on B, e.g. router
    /// solicitations, is skipped).
    fn outputs(&mut self, input: &Input) -> Outputs {
        let flow = Some(input.flow());
        let mut kernel = self.deliver(input, OffloadFlags::NONE);
        kernel.retain(|d| flow_of(d) == flow);
        let before = self.b.control().stats().super_packets_read;
        let mut reader = self.deliver(input, OffloadFlags::ALL);
        reader.retain(|d| flow_of(d) == flow);
        let super_packets = self.b.control().stats().super_packets_read - before;
        Outputs {
            kernel,
            reader,
            super_packets,
        }
    }
}

/// A small IPv4 datagram of its own flow, plain.
fn marker(tos: u8) -> Input {
    let pkt = UdpPacket::v4()
        .addrs4(SRC4, DST4)
        .ports(MARKER_PORT, MARKER_PORT)
        .tos(tos)
        .payload_len(8)
        .build();
    Input {
        hdr: VirtioNetHdr::plain(),
        pkt,
    }
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

/// What forwarding does to one of our datagrams. `unsplit`: the kernel passed the write on
/// as one packet, so no GSO recomputed its IPv4 header checksum. (IPv4 options here are
/// NOPs only: no Record Route for the hop to fill.)
fn forward_hop(d: &mut [u8], unsplit: bool) {
    if d[0] >> 4 == 6 {
        d[7] -= 1;
        return;
    }
    let ihl = usize::from(d[0] & 0x0f) * 4;
    ip_decrease_ttl(d);
    if !unsplit {
        // ip_send_check in inet_gso_segment, after the hop.
        d[10..12].fill(0);
        let c = inet_csum::header_checksum(&d[..ihl]);
        d[10..12].copy_from_slice(&c.to_be_bytes());
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

/// Our datagrams, with the forwarding hop applied.
fn our_datagrams(input: &Input) -> Result<Vec<Vec<u8>>, SplitError> {
    let mut segs = split_all(input)?;
    let unsplit = segs.len() == 1;
    for d in &mut segs {
        forward_hop(d, unsplit);
    }
    Ok(segs)
}

/// The first difference between two lists of datagrams, described.
fn differ(what: &str, theirs: &str, t: &[Vec<u8>], ours: &str, o: &[Vec<u8>]) -> Option<String> {
    if t.len() != o.len() {
        return Some(format!(
            "{what}: {theirs} has {} datagrams, {ours} {}",
            t.len(),
            o.len()
        ));
    }
    for (i, (k, d)) in t.iter().zip(o).enumerate() {
        if k != d {
            let at = k.iter().zip(d.iter()).position(|(x, y)| x != y);
            return Some(format!(
                "{what}: datagram {i} of {} differs ({theirs} {} bytes, {ours} {}; first \
                 difference at {at:?})\n{theirs} {:02x?}\n{ours} {:02x?}",
                o.len(),
                k.len(),
                d.len(),
                &k[..k.len().min(96)],
                &d[..d.len().min(96)]
            ));
        }
    }
    None
}

/// Compare the kernel's datagrams for `input` with `udp-gso`'s and with the reader's; the
/// number of datagrams when all three agree.
fn compare(oracle: &mut Oracle, what: &str, input: &Input) -> Result<usize, String> {
    let ours = our_datagrams(input)
        .map_err(|e| format!("{what}: udp-gso says \"{e}\", the kernel accepted the write"))?;
    let out = oracle.outputs(input);
    if let Some(e) = differ(what, "kernel", &out.kernel, "udp-gso", &ours) {
        return Err(e);
    }
    if let Some(e) = differ(what, "kernel", &out.kernel, "reader", &out.reader) {
        return Err(e);
    }
    // With USO on, a super-packet (payload above gso_size) reached the reader whole — unless
    // it is gso_max_size (65536) bytes or more, which gso_features_check has segmented in
    // software whatever the device's features.
    let gso = input.pkt.len() - usize::from(input.hdr.csum_start()) - 8
        > usize::from(input.hdr.gso_size())
        && input.pkt.len() < 65536;
    if out.super_packets != u64::from(gso) {
        return Err(format!(
            "{what}: {} super-packets read with USO on, expected {}",
            out.super_packets,
            u64::from(gso)
        ));
    }
    Ok(ours.len())
}

fn assert_same(oracle: &mut Oracle, what: &str, input: &Input) -> usize {
    compare(oracle, what, input).unwrap_or_else(|e| panic!("{e}"))
}

fn v4(payload: usize, gso_size: u16) -> UdpPacket {
    UdpPacket::v4()
        .addrs4(SRC4, DST4)
        .payload_len(payload)
        .gso_size(gso_size)
}

fn v6(payload: usize, gso_size: u16) -> UdpPacket {
    UdpPacket::v6()
        .addrs6(SRC6, DST6)
        .payload_len(payload)
        .gso_size(gso_size)
}

/// IPv6 extension headers between the IPv6 and UDP headers, in RFC 8200 §4.1 order.
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
fn with_ext6(sp: &UdpPacket, ext: &Ext6) -> Input {
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
    pkt[6] = chain.first().map_or(Protocol::UDP.0, |c| c.0);
    let mut at = 40;
    for (k, &(kind, len)) in chain.iter().enumerate() {
        let h = &mut pkt[at..at + len];
        h.fill(0);
        h[0] = chain.get(k + 1).map_or(Protocol::UDP.0, |c| c.0);
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
    let pseudo = inet_csum::pseudo_header_v6(&sp.src6, &ext.final_destination(sp.dst6), 17, l4_len);
    pkt[at + 6..at + 8].copy_from_slice(&pseudo.fold().to_be_bytes());
    Input { hdr, pkt }
}

/// Rewrite the first two payload bytes of every datagram `pick` selects (among those with at
/// least two) so that its UDP checksum computes to zero. Returns how many were rewritten.
fn zero_sum(input: &mut Input, pick: impl Fn(usize, usize) -> bool) -> usize {
    let Ok(plan) = Plan::new(&input.hdr, &input.pkt) else {
        return 0;
    };
    let l4 = usize::from(input.hdr.csum_start());
    let hl = l4 + 8;
    let (n, mss) = (plan.segments(), usize::from(input.hdr.gso_size()));
    // Payload offsets inside a datagram are even (IP headers are 4- or 8-byte multiples), so
    // the two bytes are one 16-bit word of its sum: first 0, then the checksum computed over
    // that 0 (the one's complement of the rest) makes the sum 0xffff.
    let spots: Vec<(usize, usize)> = (0..n)
        .filter(|&i| pick(i, n) && plan.segment_len(i) >= hl + 2)
        .map(|i| (i, hl + i * mss))
        .collect();
    for &(_, at) in &spots {
        input.pkt[at..at + 2].fill(0);
    }
    let segs = split_all(input).expect("planned");
    for &(i, at) in &spots {
        let c = [segs[i][l4 + 6], segs[i][l4 + 7]];
        input.pkt[at..at + 2].copy_from_slice(&c);
    }
    spots.len()
}

fn udp_check(d: &[u8]) -> u16 {
    let l4 = classify(d).unwrap().l4_offset;
    u16::from_be_bytes([d[l4 + 6], d[l4 + 7]])
}

/// The hand-picked cases: both families, the sizes a QUIC or WireGuard sender uses, IPv4
/// options, ID wrap-around, DF clear, TOS/traffic class, extension headers, a short last
/// datagram, the most datagrams a super-packet may have, and a payload at and below
/// `gso_size`.
#[test]
fn kernel_datagrams_equal_ours() {
    if !require_root("kernel_datagrams_equal_ours") {
        return;
    }
    let mut oracle = Oracle::new("kernel-uso");
    let cases: Vec<(&str, UdpPacket)> = vec![
        ("v4 64K at 1472", v4(65_535 - 28, 1472)),
        ("v4 at 1200, short last", v4(20_000, 1200)),
        ("v4 at 8000", v4(40_000, 8000)),
        ("v6 65535 bytes at 1452", v6(65_535 - 48, 1452)),
        (
            "v6 65575 bytes at 1452 (segmented for B too)",
            v6(65_535 - 8, 1452),
        ),
        ("v6 at 1000, traffic class", v6(20_001, 1000).tos(0xb8)),
        ("v6 dest-opts at 1280", v6(10_000, 1280).ipv6_dest_opts(8)),
        ("v6 24-byte dest-opts", v6(7_000, 999).ipv6_dest_opts(24)),
        ("v4 128 datagrams of 1", v4(128, 1)),
        ("v4 128 datagrams of 100", v4(12_800, 100)),
        ("v6 128 datagrams of 7", v6(896, 7)),
        (
            "v4 IP options (NOPs, EOL), ID wrap",
            v4(9_000, 1400)
                .ipv4_options(&[1, 1, 1, 1, 1, 1, 1, 0])
                .ip_id(0xfffe),
        ),
        (
            "v4 DF clear, TOS ECT(0)",
            v4(5_000, 1000).df(false).tos(0x02),
        ),
        ("v4 odd sizes", v4(4_999, 333)),
        ("v4 payload == gso_size", v4(1472, 1472)),
        ("v4 payload < gso_size", v4(100, 1472)),
        ("v4 no payload", v4(0, 1472)),
        ("v6 payload == gso_size", v6(1000, 1000)),
        ("v6 payload < gso_size", v6(1, 1000)),
    ];
    let mut datagrams = 0;
    for (what, sp) in &cases {
        datagrams += assert_same(&mut oracle, what, &Input::of(sp));
    }
    println!(
        "kernel_uso: {} hand-picked cases, {datagrams} datagrams, byte-equal (split and read)",
        cases.len()
    );
}

/// Rule book §5.3: the UDP length field is what `__udp_gso_segment` takes out of the partial
/// sum (`csum16_sub(uh->check, uh->len)`), whatever it says; a 0 in the checksum field is a
/// partial sum like any other.
#[test]
fn length_field_and_zero_partial_sum_like_the_kernel() {
    if !require_root("length_field_and_zero_partial_sum_like_the_kernel") {
        return;
    }
    let mut oracle = Oracle::new("kernel-uso-len");
    for family in [v4 as fn(usize, u16) -> UdpPacket, v6] {
        for field in [0u16, 1, 8, 1000, 0x1234, 0xffff] {
            let sp = family(3_500, 1000).udp_len(field);
            let what = format!("{:?} UDP length field {field:#x}", sp.version);
            assert_eq!(assert_same(&mut oracle, &what, &Input::of(&sp)), 4);
            // Unsplit too: the field stays as written.
            let sp = family(300, 1000).udp_len(field);
            let what = format!("{:?} unsplit, UDP length field {field:#x}", sp.version);
            assert_eq!(assert_same(&mut oracle, &what, &Input::of(&sp)), 1);
        }
        for (payload, gso_size) in [(3_500, 1000), (300, 1000)] {
            let mut input = Input::of(&family(payload, gso_size));
            let l4 = usize::from(input.hdr.csum_start());
            for partial in [0x0000u16, 0xffff] {
                input.pkt[l4 + 6..l4 + 8].copy_from_slice(&partial.to_be_bytes());
                let what = format!("{payload} at {gso_size}, partial sum {partial:#06x}");
                assert_same(&mut oracle, &what, &input);
            }
        }
    }
}

/// Rule book §5.3: a UDP checksum that computes to zero is stored as 0xffff, in datagrams
/// (`gso_make_checksum ?: CSUM_MANGLED_0`) and in a packet passed on unsplit
/// (`skb_checksum_help`).
#[test]
fn zero_checksums_like_the_kernel() {
    if !require_root("zero_checksums_like_the_kernel") {
        return;
    }
    let mut oracle = Oracle::new("kernel-uso-zero");
    for family in [v4 as fn(usize, u16) -> UdpPacket, v6] {
        for (payload, gso_size) in [(100, 1000), (3_500, 1000)] {
            let sp = family(payload, gso_size);
            let mut input = Input::of(&sp);
            let zeroed = zero_sum(&mut input, |_, _| true);
            assert_eq!(zeroed, payload.div_ceil(usize::from(gso_size)));
            let what = format!("{:?} {payload} at {gso_size}, zero sums", sp.version);
            assert_same(&mut oracle, &what, &input);
            for d in our_datagrams(&input).unwrap() {
                assert_eq!(udp_check(&d), 0xffff, "{what}");
            }
        }
    }
}

/// With a Routing header that has segments left, the datagrams' checksums come from the
/// sender's partial sum (taken with the final destination), as `__udp_gso_segment` adjusts
/// it, and verify at the final destination (RFC 8200 §8.1).
#[test]
fn extension_headers_and_routing_like_the_kernel() {
    if !require_root("extension_headers_and_routing_like_the_kernel") {
        return;
    }
    let mut oracle = Oracle::new("kernel-uso-rh");
    let hops = vec![
        [0xfd, 0x89, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        [0xfd, 0x89, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
    ];
    for left in [2u8, 1, 0] {
        for (payload, gso_size) in [(4_000, 1000), (900, 1000)] {
            let ext = Ext6 {
                hop_by_hop: 8,
                routing: Some((left, hops.clone())),
                dest_opts: 8,
            };
            let input = with_ext6(&v6(payload, gso_size), &ext);
            let what = format!("Routing header, {left} segments left, {payload} at {gso_size}");
            assert_same(&mut oracle, &what, &input);
            let dst = ext.final_destination(DST6);
            for d in split_all(&input).unwrap() {
                let l4 = classify(&d).unwrap().l4_offset;
                let pseudo = inet_csum::pseudo_header_v6(&SRC6, &dst, 17, (d.len() - l4) as u32);
                assert_eq!(pseudo.add(&d[l4..]).fold(), 0xffff, "{what}");
            }
        }
    }
}

/// What the kernel's virtio parser refuses on a write (`EINVAL`) is what `udp-gso` refuses:
/// `gso_size` 0, `GSO_BY_FRAGS`, more than `UDP_MAX_SEGMENTS` datagrams, the ECN bit.
#[test]
fn refused_headers_like_the_kernel() {
    if !require_root("refused_headers_like_the_kernel") {
        return;
    }
    let mut oracle = Oracle::new("kernel-uso-refused");
    let mut ecn = Input::of(&v4(3000, 1000));
    ecn.hdr
        .set_gso_type(GsoType(GsoType::UDP_L4.0 | GsoType::ECN.0));
    let cases = [
        (Input::of(&v4(3000, 0)), HdrError::ZeroGsoSize),
        (Input::of(&v6(3000, 0)), HdrError::ZeroGsoSize),
        (Input::of(&v4(3000, 0xffff)), HdrError::GsoByFrags),
        (Input::of(&v6(3000, 0xffff)), HdrError::GsoByFrags),
        (Input::of(&v4(129, 1)), HdrError::TooManySegments),
        (Input::of(&v6(12_801, 100)), HdrError::TooManySegments),
        (ecn, HdrError::EcnNotAllowed),
    ];
    for (input, want) in &cases {
        let err = oracle.a.write_raw(&input.frame()).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "{want:?}");
        assert_eq!(split_all(input), Err(SplitError::Header(*want)));
    }
    // At the limit, the kernel takes it (and splits it like us).
    assert_eq!(
        assert_same(&mut oracle, "v6 128 × 100", &Input::of(&v6(12_800, 100))),
        128
    );
}

/// Fragments (rule book §5.3): an IPv4 fragment is split like any datagram, its fragment
/// fields copied into every datagram (`inet_gso_segment` does not look at them; forwarding
/// does not reassemble); an IPv6 Fragment header has no GSO handler (`ipv6_gso_segment`), so
/// the kernel drops such a super-packet and `udp-gso` refuses it — while one whose payload is
/// not above `gso_size` is not GSO at all and passes with its checksum finished.
#[test]
fn fragments_like_the_kernel() {
    if !require_root("fragments_like_the_kernel") {
        return;
    }
    let mut oracle = Oracle::new("kernel-uso-frag");
    for word in [0x2000u16, 0x2001, 0x0001, 0x6000] {
        let input = Input::of(&v4(3000, 1000).frag_word(word));
        let what = format!("IPv4 flags/offset {word:#06x}");
        assert_eq!(assert_same(&mut oracle, &what, &input), 3);
    }
    for (payload, gso_size) in [(3000, 1000), (300, 1000)] {
        let sp = v6(payload, gso_size).ipv6_dest_opts(8);
        let mut input = Input::of(&sp);
        input.pkt[6] = 44;
        input.pkt[40..48].copy_from_slice(&[17, 0, 0, 1, 0, 0, 0, 7]);
        let ours = our_datagrams(&input);
        for mask in [OffloadFlags::NONE, OffloadFlags::ALL] {
            let mut out = oracle.deliver(&input, mask);
            out.retain(|d| d[0] >> 4 == 6 && d[6] == 44);
            let what = format!("IPv6 fragment, {payload} at {gso_size}, offloads {mask:?}");
            match &ours {
                Err(e) => {
                    assert_eq!(*e, SplitError::Malformed(Malformed::Fragment), "{what}");
                    assert!(out.is_empty(), "{what}: the kernel forwarded {}", out.len());
                }
                Ok(ours) => {
                    if let Some(e) = differ(&what, "kernel", &out, "udp-gso", ours) {
                        panic!("{e}");
                    }
                }
            }
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
                a[..4].copy_from_slice(&[0xfd, 0x89, 0, 9]);
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
    datagrams: usize,
    unsplit: usize,
    zero: usize,
    length_field: usize,
    routing_left: usize,
    v6_ext: usize,
    ipv4_options: usize,
}

/// Pseudo-random cases (fixed seed, so a failure reproduces): both families, `gso_size` far
/// from and near the payload, up to 128 datagrams, IPv4 options, IPv6 Hop-by-Hop / Routing
/// (with and without segments left) / Destination Options headers, datagrams whose checksum
/// sums to zero, UDP length fields that do not match, IDs, TOS, DF and payload bytes.
#[test]
fn kernel_datagrams_equal_ours_random() {
    if !require_root("kernel_datagrams_equal_ours_random") {
        return;
    }
    const CASES: usize = 600;
    let mut oracle = Oracle::new("kernel-uso-rnd");
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
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
        let (payload, gso_size) = if case % 4 < 2 {
            // Near: gso_size from 3 below the payload to 3 above it.
            let payload = (rnd() % 200) as usize;
            let g = (payload as u64 + rnd() % 7).saturating_sub(3);
            (payload, g.max(1) as u16)
        } else {
            let payload = (rnd() % 60_000) as usize + 1;
            let g = match rnd() % 3 {
                0 => (rnd() % 64) as u16 + 1,
                1 => (rnd() % 1500) as u16 + 1,
                _ => (rnd() % 9000) as u16 + 100,
            };
            // At most 128 datagrams (more is refused, see refused_headers_like_the_kernel).
            (payload, g.max(payload.div_ceil(128) as u16))
        };
        let mut sp = if is_v6 {
            v6(payload, gso_size)
        } else {
            v4(payload, gso_size)
        };
        let nops = (rnd() % 11) as usize * 4;
        if !is_v6 && nops > 0 {
            sp.ipv4_options = vec![1; nops];
        }
        sp.ipv4_id = rnd() as u16;
        sp.tos = rnd() as u8;
        sp.frag_word = if rnd() % 2 == 0 { 0x4000 } else { 0 };
        sp.ttl = (rnd() % 254) as u8 + 2;
        sp.flow_label = rnd() as u32;
        let (sport, dport) = (rnd() as u16, rnd() as u16);
        // Never the marker's ports.
        sp.src_port = if sport == MARKER_PORT { 1 } else { sport };
        sp.dst_port = if dport == MARKER_PORT { 2 } else { dport };
        sp.payload = (0..payload).map(|_| rnd() as u8).collect();
        sp.payload_len = None;
        let length_field = rnd() % 8 == 0;
        if length_field {
            sp.udp_len = Some(rnd() as u16);
        }
        let ext = ext6(&mut rnd);
        let mut input = if is_v6 {
            with_ext6(&sp, &ext)
        } else {
            Input::of(&sp)
        };
        // Every datagram (and an unsplit packet) must fit B's MTU.
        let room = (MTU_B - usize::from(input.hdr.csum_start()) - 8) as u16;
        if input.hdr.gso_size() > room {
            input.hdr.set_gso_size(room);
        }
        let zeroed = match rnd() % 3 {
            0 => 0,
            1 => {
                let k = rnd() as usize;
                zero_sum(&mut input, |i, n| i == k % n)
            }
            _ => zero_sum(&mut input, |_, _| true),
        };
        match compare(&mut oracle, &format!("random case {case}"), &input) {
            Ok(n) => {
                t.datagrams += n;
                t.unsplit += usize::from(n == 1);
                t.zero += zeroed;
                t.length_field += usize::from(length_field);
            }
            Err(e) => failures.push(format!(
                "{e}\n  ext {ext:?}, ip options {}, gso_size {}, {} bytes",
                sp.ipv4_options.len(),
                input.hdr.gso_size(),
                input.pkt.len()
            )),
        }
        t.compared += 1;
        if is_v6 {
            t.v6_ext += usize::from(ext.hop_by_hop + ext.dest_opts > 0 || ext.routing.is_some());
            t.routing_left += usize::from(ext.routing.as_ref().is_some_and(|r| r.0 > 0));
        } else {
            t.ipv4_options += usize::from(nops > 0);
        }
    }
    println!(
        "kernel_uso random: {} cases compared, {} byte-equal, split and read ({} datagrams, {} \
         passed on unsplit; {} zero-sum datagrams; {} UDP length fields not matching; {} \
         Routing headers with segments left, {} IPv6 with extension headers, {} IPv4 with \
         options)",
        t.compared,
        t.compared - failures.len(),
        t.datagrams,
        t.unsplit,
        t.zero,
        t.length_field,
        t.routing_left,
        t.v6_ext,
        t.ipv4_options
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases differ; the first:\n{}",
        failures.len(),
        t.compared,
        failures[..failures.len().min(3)].join("\n")
    );
}
