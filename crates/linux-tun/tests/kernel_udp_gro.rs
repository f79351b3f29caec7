//! Ground truth for `udp-gro`: the kernel must accept every USO super-packet we coalesce, and
//! cut it back into exactly the datagrams it was made of.
//!
//! Topology (as for `kernel_tso`, rule book §1.1): one private namespace with IPv4/IPv6
//! forwarding on and rp_filter off; TUN A with a vnet header, into which we write each output
//! of `udp_gro::Coalescer` (its virtio header, then the packet: a merged packet with
//! `GSO_UDP_L4`, anything else plain), as if a peer had sent it — a write accepted whatever
//! A's offload mask (rule book §3.3 item 8), so A needs no USO negotiation; TUN B with no
//! offloads (and no vnet header), so the kernel must segment the forwarded super-packets in
//! software (`__udp_gso_segment` + `inet_gso_segment` / `ipv6_gso_segment`, rule book §5.3)
//! before handing them to us. What B hands out, in order, must be the input datagrams in the
//! coalescer's output order, byte for byte, after one forwarding hop (TTL or hop limit − 1,
//! the IPv4 header checksum updated): every UDP length, UDP checksum (full, computed by the
//! kernel from the partial sum we wrote), IPv4 total length and ID included. A fixed-ID run
//! comes back with incrementing IDs (UDP GSO has no fixed-ID flag): that is checked too.
//!
//! After each batch a marker datagram of another flow is written and B is read until it
//! arrives: everything the batch produced is in B's queue before it.

use std::time::{Duration, Instant};

use inet_hdr::classify;
use linux_tun::Tun;
use testkit::udp::{UdpChecksum, UdpPacket};
use testkit::{Netns, require_root, unique_ifname};
use udp_gro::{ChecksumStatus, Coalescer, Config};

const SRC4: [u8; 4] = [10, 89, 1, 2];
const DST4: [u8; 4] = [10, 89, 2, 2];
const SRC6: [u8; 16] = [0xfd, 0x89, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
const DST6: [u8; 16] = [0xfd, 0x89, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
/// B's MTU: every datagram must fit it to be forwarded.
const MTU_B: usize = 9216;
/// Ports of the marker flow.
const MARKER_PORT: u16 = 9;

/// The namespace and its two TUNs; dropping it removes the devices and the namespace.
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
        let (name_a, name_b) = (unique_ifname("ugroa"), unique_ifname("ugrob"));
        let (a, b) = {
            let (na, nb) = (name_a.clone(), name_b.clone());
            ns.run(move || {
                (
                    Tun::builder().name(&na).offload(true).up().open(),
                    Tun::builder()
                        .name(&nb)
                        .offload(false)
                        .mtu(MTU_B as u32)
                        .blocking(false)
                        .up()
                        .open(),
                )
            })
            .unwrap()
        };
        let (a, b) = (a.unwrap(), b.unwrap());
        for args in [
            &["addr", "add", "10.89.1.1/24", "dev", &name_a][..],
            &["addr", "add", "10.89.2.1/24", "dev", &name_b],
            &["-6", "addr", "add", "fd89:1::1/64", "dev", &name_a, "nodad"],
            &["-6", "addr", "add", "fd89:2::1/64", "dev", &name_b, "nodad"],
            // A batch becomes up to a few hundred datagrams at once.
            &["link", "set", &name_b, "txqueuelen", "10000"],
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

    /// Coalesce `packets`, write every output into A, and collect what the kernel forwards to
    /// B up to the marker written after them (other traffic on B, e.g. router solicitations,
    /// is skipped). Returns the outputs' index groups and B's packets.
    fn forward(
        &mut self,
        gro: &mut Coalescer,
        packets: &[Vec<u8>],
    ) -> (Vec<Vec<usize>>, Vec<Vec<u8>>) {
        for (i, p) in packets.iter().enumerate() {
            gro.push(i, p, ChecksumStatus::Unverified);
        }
        let mut groups = Vec::new();
        for out in gro.drain(packets) {
            let mut frame = out.vnet_bytes().to_vec();
            let at = frame.len();
            frame.resize(at + out.len(), 0);
            out.materialize(&mut frame[at..]).unwrap();
            assert_eq!(
                self.a.write_raw(&frame).unwrap(),
                frame.len(),
                "write of {:?}",
                out.indices()
            );
            groups.push(out.indices().to_vec());
        }
        let marker = UdpPacket::v4()
            .addrs4(SRC4, DST4)
            .ports(MARKER_PORT, MARKER_PORT)
            .payload_len(8)
            .build();
        let mut frame = vec![0u8; 10];
        frame.extend_from_slice(&marker);
        assert_eq!(self.a.write_raw(&frame).unwrap(), frame.len());
        let mut got = Vec::new();
        // A guard against hanging if the kernel drops the marker, not a timing assertion.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.b.read_raw(&mut self.buf) {
                Ok(n) => {
                    let p = &self.buf[..n];
                    match ports(p) {
                        Some([0, 9, 0, 9]) => return (groups, got),
                        Some(_) => got.push(p.to_vec()),
                        None => {}
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(
                        Instant::now() < deadline,
                        "the marker never came; {} datagrams before it",
                        got.len()
                    );
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => panic!("read from B: {e}"),
            }
        }
    }
}

/// The UDP ports of a UDP packet.
fn ports(p: &[u8]) -> Option<[u8; 4]> {
    let info = classify(p).ok()?;
    if info.protocol != inet_hdr::Protocol::UDP {
        return None;
    }
    p.get(info.l4_offset..info.l4_offset + 4)?.try_into().ok()
}

/// What one forwarding hop and the kernel's segmentation do to datagram `p`, member `k` of an
/// output (`merged`): TTL or hop limit − 1; IPv4: a merged packet's segments get ID first + k
/// and a recomputed header checksum (`inet_gso_segment`), a packet written alone the
/// incremental update of `ip_decrease_ttl`.
fn after_hop(p: &[u8], merged: bool, first_id: u16, k: usize) -> Vec<u8> {
    let mut p = p.to_vec();
    if p[0] >> 4 == 6 {
        p[7] -= 1;
        return p;
    }
    if merged {
        p[8] -= 1;
        p[4..6].copy_from_slice(&first_id.wrapping_add(k as u16).to_be_bytes());
        p[10..12].fill(0);
        let c = inet_csum::header_checksum(&p[..20]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
    } else {
        // ip_decrease_ttl, on the 16-bit value as the host loads it.
        let check = u32::from(u16::from_ne_bytes([p[10], p[11]]));
        let check = check + u32::from(u16::from_ne_bytes(0x0100u16.to_be_bytes()));
        let check = check + u32::from(check >= 0xffff);
        p[10..12].copy_from_slice(&(check as u16).to_ne_bytes());
        p[8] -= 1;
    }
    p
}

/// The datagrams B must hand out for `groups` of `packets`, in order.
fn expected(packets: &[Vec<u8>], groups: &[Vec<usize>]) -> Vec<Vec<u8>> {
    let mut want = Vec::new();
    for g in groups {
        let merged = g.len() > 1;
        let first = &packets[g[0]];
        let first_id = u16::from_be_bytes([first[4], first[5]]);
        for (k, &i) in g.iter().enumerate() {
            want.push(after_hop(&packets[i], merged, first_id, k));
        }
    }
    want
}

fn assert_forwarded(
    oracle: &mut Oracle,
    gro: &mut Coalescer,
    what: &str,
    packets: &[Vec<u8>],
) -> usize {
    let (groups, got) = oracle.forward(gro, packets);
    let want = expected(packets, &groups);
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: datagram count, groups {groups:?}"
    );
    for (n, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(
            g, w,
            "{what}: datagram {n} of the output, groups {groups:?}"
        );
    }
    groups.iter().filter(|g| g.len() > 1).count()
}

fn v4() -> UdpPacket {
    UdpPacket::v4().addrs4(SRC4, DST4)
}

fn v6() -> UdpPacket {
    UdpPacket::v6().addrs6(SRC6, DST6)
}

/// Hand-picked batches: both families, an IPv6 extension header, a short last datagram, 64
/// datagrams to a packet, a packet of exactly 65535 bytes, fixed and wrapping IPv4 IDs, a
/// datagram whose checksum computes to zero, and datagrams that must pass alone.
#[test]
fn kernel_cuts_our_packets_into_the_inputs() {
    if !require_root("kernel_cuts_our_packets_into_the_inputs") {
        return;
    }
    let mut oracle = Oracle::new("kernel-ugro");
    let mut gro = Coalescer::new(Config::default());
    let mut short_last = v4().ip_id(10).train(5, 1200);
    short_last.push(v4().ip_id(15).seed(5).payload_len(333).build());
    // 70 datagrams: a packet of 64, then one of 6; IPv4 IDs wrapping.
    let full: Vec<Vec<u8>> = v4().ip_id(0xffc0).train(70, 1000);
    // Datagrams must fit B's MTU: 7 of 9159 payload bytes (9207 on the wire) and a shorter one
    // make a packet of exactly 65535 bytes.
    let mut exact = v6().train(7, 9159);
    exact.push(v6().seed(7).payload_len(65535 - 48 - 7 * 9159).build());
    let cases: Vec<(&str, Vec<Vec<u8>>)> = vec![
        ("v4 short last", short_last),
        ("v6 train", v6().train(10, 1400)),
        ("v6 dest-opts", v6().ipv6_dest_opts(16).train(6, 900)),
        (
            "v4 fixed IDs",
            (0..5)
                .map(|i| v4().ip_id(4242).seed(i).payload_len(700).build())
                .collect(),
        ),
        ("v4 64 per packet, IDs wrapping", full),
        ("v6 exactly 65535", exact),
        (
            "v4 alone",
            vec![
                v4().payload_len(500).build(),
                v4().ip_id(1)
                    .seed(1)
                    .payload_len(500)
                    .checksum(UdpChecksum::Zero)
                    .build(),
                v4().ip_id(1)
                    .seed(2)
                    .payload_len(500)
                    .checksum(UdpChecksum::Bad)
                    .build(),
                v4().ip_id(1).seed(3).payload_len(500).build(),
            ],
        ),
    ];
    let mut merged = 0;
    for (what, packets) in &cases {
        merged += assert_forwarded(&mut oracle, &mut gro, what, packets);
    }
    assert!(merged >= cases.len(), "{merged} merged packets");
    println!(
        "kernel_udp_gro: {} hand-picked batches, {merged} merged packets, byte-equal",
        cases.len()
    );
}

/// Pseudo-random batches (fixed seed, so a failure reproduces): interleaved flows of both
/// families, random sizes, and random TTL/TOS/DF/ID/flow-label changes and corrupt datagrams.
#[test]
fn kernel_cuts_our_packets_into_the_inputs_random() {
    if !require_root("kernel_cuts_our_packets_into_the_inputs_random") {
        return;
    }
    const BATCHES: usize = 60;
    let mut oracle = Oracle::new("kernel-ugro-rnd");
    let mut gro = Coalescer::new(Config::default());
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut merged = 0;
    for batch in 0..BATCHES {
        let flows = 1 + (rnd() % 4) as usize;
        let base: Vec<usize> = (0..flows).map(|_| 1 + (rnd() % 2000) as usize).collect();
        let mut nth = vec![0u16; flows];
        let n = (rnd() % 200) as usize;
        let packets: Vec<Vec<u8>> = (0..n)
            .map(|_| {
                let f = (rnd() % flows as u64) as usize;
                let k = nth[f];
                nth[f] += 1;
                let mut b = if f.is_multiple_of(2) { v4() } else { v6() };
                b = b.ports(1000 + f as u16, 443).ip_id(k).seed(k as u8);
                let len = match rnd() % 8 {
                    0 => base[f] / 2 + 1,
                    1 => base[f] + 1,
                    _ => base[f],
                };
                b = b.payload_len(len);
                match rnd() % 40 {
                    0 => b = b.ttl(9),
                    1 => b = b.tos(0x02),
                    2 => b = b.df(false),
                    3 => b = b.ip_id(k.wrapping_add(3)),
                    4 => b = b.flow_label(0x777),
                    5 => b = b.checksum(UdpChecksum::Bad),
                    6 => b = b.checksum(UdpChecksum::Zero),
                    _ => {}
                }
                b.build()
            })
            .collect();
        merged += assert_forwarded(&mut oracle, &mut gro, &format!("batch {batch}"), &packets);
    }
    assert!(merged > BATCHES, "{merged} merged packets");
    println!("kernel_udp_gro: {BATCHES} random batches, {merged} merged packets, byte-equal");
}
