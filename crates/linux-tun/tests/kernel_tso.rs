//! Ground truth for `tcp-tso`: the kernel's own software GSO.
//!
//! Topology (rule book, "Seen on this machine kind"): one private namespace with IPv4/IPv6
//! forwarding on and rp_filter off; TUN A with a vnet header, into which we write a
//! super-packet with a GSO header as if a peer had sent it; TUN B with no offloads (and no
//! vnet header), so the kernel must segment the forwarded super-packet in software
//! (`tcp_gso_segment` + `inet_gso_segment` / `ipv6_gso_segment`) before handing it to us. We
//! read the segments from B and compare them byte for byte with what `tcp_tso::Plan::split` makes
//! of the same input.
//!
//! Forwarding decrements the IPv4 TTL / IPv6 hop limit (and `ip_decrease_ttl` updates the IPv4
//! header checksum), which a split must not do. So we apply exactly that to our segments —
//! TTL − 1 and a recomputed IPv4 header checksum, hop limit − 1 — and then require equality of
//! every byte, TCP checksum included (the TTL is not covered by it).

use std::time::{Duration, Instant};

use inet_hdr::{IpVersion, Ipv4Header, Ipv6Header, TcpFlags, classify};
use linux_tun::Tun;
use tcp_tso::{Slab, Span};
use testkit::packet::TcpPacket as SuperPacket;
use testkit::{Netns, require_root};

const SRC4: [u8; 4] = [10, 88, 1, 2];
const DST4: [u8; 4] = [10, 88, 2, 2];
const SRC6: [u8; 16] = [0xfd, 0x88, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
const DST6: [u8; 16] = [0xfd, 0x88, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

/// The namespace and its two TUNs; dropping it removes the devices and the namespace (the
/// `Netns` guard also on panic).
struct Oracle {
    a: Tun,
    b: Tun,
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
                        .mtu(9216)
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
        Oracle { a, b, _ns: ns }
    }

    /// Write `sp` into A and collect what the kernel forwards to B: `count` TCP packets of
    /// this flow (other traffic on B, e.g. router solicitations, is skipped).
    fn kernel_segments(&self, sp: &SuperPacket, count: usize) -> Vec<Vec<u8>> {
        let (hdr, pkt) = sp.build_gso();
        let mut frame = hdr.to_bytes().to_vec();
        frame.extend_from_slice(&pkt);
        assert_eq!(self.a.write_raw(&frame).unwrap(), frame.len());
        let mut out = Vec::new();
        let mut buf = vec![0u8; 65_600];
        // A guard against hanging if the kernel drops something, not a timing assertion.
        let deadline = Instant::now() + Duration::from_secs(10);
        while out.len() < count {
            match self.b.read_raw(&mut buf) {
                Ok(n) => {
                    let p = &buf[..n];
                    if is_ours(p, sp) {
                        out.push(p.to_vec());
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(
                        Instant::now() < deadline,
                        "kernel forwarded {} of {count} segments",
                        out.len()
                    );
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => panic!("read from B: {e}"),
            }
        }
        out
    }
}

fn is_ours(p: &[u8], sp: &SuperPacket) -> bool {
    let Ok(info) = classify(p) else {
        return false;
    };
    if info.version != sp.version || info.protocol != inet_hdr::Protocol::TCP {
        return false;
    }
    let l4 = &p[info.l4_offset..];
    l4.len() >= 4 && l4[..2] == sp.src_port.to_be_bytes() && l4[2..4] == sp.dst_port.to_be_bytes()
}

/// Our segments, with the forwarding hop applied (see the module comment).
fn our_segments(sp: &SuperPacket) -> Vec<Vec<u8>> {
    let (hdr, pkt) = sp.build_gso();
    let plan = tcp_tso::Plan::new(&hdr, &pkt).unwrap();
    let mut slab = vec![0u8; plan.room(0, 0)];
    let mut spans = vec![Span::default(); plan.segments()];
    let out = plan
        .split(&pkt, 0, Slab::new(&mut slab, 0), &mut spans)
        .unwrap();
    spans[..out.segments]
        .iter()
        .map(|s| {
            let mut seg = slab[s.range()].to_vec();
            match sp.version {
                IpVersion::V4 => {
                    let (ip, _) = Ipv4Header::mut_from_packet(&mut seg).unwrap();
                    ip.ttl -= 1;
                    ip.set_checksum(0);
                    let ihl = ip.header_len();
                    // Over the options too (`fill_checksum` covers the fixed 20 bytes only).
                    let c = inet_csum::header_checksum(&seg[..ihl]);
                    let (ip, _) = Ipv4Header::mut_from_packet(&mut seg).unwrap();
                    ip.set_checksum(c);
                }
                IpVersion::V6 => {
                    let (ip, _) = Ipv6Header::mut_from_packet(&mut seg).unwrap();
                    ip.hop_limit -= 1;
                }
            }
            seg
        })
        .collect()
}

fn v4(payload: usize, mss: u16) -> SuperPacket {
    let mut sp = SuperPacket::super_v4(payload, mss);
    (sp.src4, sp.dst4) = (SRC4, DST4);
    sp
}

fn v6(payload: usize, mss: u16) -> SuperPacket {
    let mut sp = SuperPacket::super_v6(payload, mss);
    (sp.src6, sp.dst6) = (SRC6, DST6);
    sp
}

const TIMESTAMPS: [u8; 12] = [1, 1, 8, 10, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88];

fn assert_same(oracle: &Oracle, what: &str, sp: &SuperPacket) {
    let ours = our_segments(sp);
    let theirs = oracle.kernel_segments(sp, ours.len());
    assert_eq!(theirs.len(), ours.len(), "{what}: segment count");
    for (i, (k, o)) in theirs.iter().zip(&ours).enumerate() {
        if k != o {
            let at = k.iter().zip(o.iter()).position(|(x, y)| x != y);
            panic!(
                "{what}: segment {i} of {} differs (kernel {} bytes, ours {}; first difference at {at:?})\nkernel {:02x?}\nours   {:02x?}",
                ours.len(),
                k.len(),
                o.len(),
                &k[..k.len().min(80)],
                &o[..o.len().min(80)]
            );
        }
    }
}

/// The hand-picked cases: both families, options, an IPv6 extension header, FIN/PSH/CWR with
/// and without the GSO ECN bit, short last segments, seq and IPv4 ID wrap-around, the MSS
/// values the benchmarks use, and a payload equal to `gso_size`.
#[test]
fn kernel_segments_equal_ours() {
    if !require_root("kernel_segments_equal_ours") {
        return;
    }
    let oracle = Oracle::new("kernel-tso");
    let ack_psh = TcpFlags::ACK | TcpFlags::PSH;
    let mut cases: Vec<(&str, SuperPacket)> = vec![
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
        assert_same(&oracle, what, sp);
    }
}

/// Pseudo-random cases (fixed seed, so a failure reproduces): both families, random MSS,
/// IP and TCP options, extension headers, flags, seq, ID and payload length.
#[test]
fn kernel_segments_equal_ours_random() {
    if !require_root("kernel_segments_equal_ours_random") {
        return;
    }
    let oracle = Oracle::new("kernel-tso-rnd");
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for case in 0..60 {
        let is_v6 = case % 2 == 1;
        let payload = (rnd() % 30_000) as usize + 1;
        let mss = match rnd() % 3 {
            0 => (rnd() % 64) as u16 + 1,
            1 => (rnd() % 1500) as u16 + 1,
            _ => (rnd() % 9000) as u16 + 100,
        };
        // At most 2000 segments per case, so the test stays short.
        let mss = mss.max((payload / 2000) as u16 + 1);
        let mut sp = if is_v6 {
            v6(payload, mss).ipv6_dest_opts([0, 0, 8, 16][(rnd() % 4) as usize])
        } else {
            // NOP-only IP options (forwarding leaves them alone), 0..=40 bytes.
            v4(payload, mss).ipv4_options(&vec![1; (rnd() % 11) as usize * 4])
        };
        let nopts = (rnd() % 11) as usize * 4;
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
        assert_same(&oracle, &format!("random case {case}"), &sp);
    }
}
