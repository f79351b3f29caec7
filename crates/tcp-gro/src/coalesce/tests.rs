//! The hot path ([`Coalescer::push_hot`]) against the general path alone: the same outputs,
//! byte for byte, for trains that hit it and for mutated packets built to nearly hit it.

use alloc::vec::Vec;

use inet_hdr::{Ipv4Header, Protocol, classify};
use proptest::prelude::*;

use super::*;

/// A TCP segment's bytes, built here rather than with the workspace's dev-only packet builder
/// so that these tests also build from the published crate. Defaults as that builder's:
/// 10.0.0.1:40000 → 10.0.0.2:5201 (fd00::1 → fd00::2, flow label 0x12345), TTL/hop limit 64,
/// DF, ACK, ack 1, window 502; the payload counts up from its sequence number.
#[derive(Clone)]
struct TcpPacket {
    v6: bool,
    ports: (u16, u16),
    ip_id: u16,
    seq: u32,
    window: u16,
    options: Vec<u8>,
    /// An IPv6 extension header: its next-header code and body (padded to 8-byte units).
    ext: Option<(u8, Vec<u8>)>,
    payload_len: usize,
}

impl TcpPacket {
    fn v4() -> Self {
        TcpPacket {
            v6: false,
            ports: (40000, 5201),
            ip_id: 0,
            seq: 0,
            window: 502,
            options: Vec::new(),
            ext: None,
            payload_len: 0,
        }
    }
    fn v6() -> Self {
        TcpPacket {
            v6: true,
            ..Self::v4()
        }
    }
    fn ports(mut self, src: u16, dst: u16) -> Self {
        self.ports = (src, dst);
        self
    }
    fn ip_id(mut self, id: u16) -> Self {
        self.ip_id = id;
        self
    }
    fn seq(mut self, seq: u32) -> Self {
        self.seq = seq;
        self
    }
    fn window(mut self, window: u16) -> Self {
        self.window = window;
        self
    }
    fn timestamps(mut self, tsval: u32, tsecr: u32) -> Self {
        self.options = [1, 1, 8, 10].to_vec();
        self.options.extend_from_slice(&tsval.to_be_bytes());
        self.options.extend_from_slice(&tsecr.to_be_bytes());
        self
    }
    fn ext_header(mut self, kind: u8, body: &[u8]) -> Self {
        let mut b = body.to_vec();
        while !(b.len() + 2).is_multiple_of(8) {
            b.push(0);
        }
        self.ext = Some((kind, b));
        self
    }
    fn payload_len(mut self, n: usize) -> Self {
        self.payload_len = n;
        self
    }
    /// `n` in-order segments of `mss` bytes from `seq0`, IPv4 IDs counting up from `seq0`.
    fn train(&self, seq0: u32, n: usize, mss: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| {
                self.clone()
                    .seq(seq0.wrapping_add((i * mss) as u32))
                    .ip_id((seq0 as u16).wrapping_add(i as u16))
                    .payload_len(mss)
                    .build()
            })
            .collect()
    }
    /// The segment with valid IPv4 header and TCP checksums.
    fn build(&self) -> Vec<u8> {
        let (src4, dst4) = ([10, 0, 0, 1], [10, 0, 0, 2]);
        let mut src6 = [0u8; 16];
        let mut dst6 = [0u8; 16];
        (src6[0], src6[15], dst6[0], dst6[15]) = (0xfd, 1, 0xfd, 2);
        let mut tcp = Vec::new();
        tcp.extend_from_slice(&self.ports.0.to_be_bytes());
        tcp.extend_from_slice(&self.ports.1.to_be_bytes());
        tcp.extend_from_slice(&self.seq.to_be_bytes());
        tcp.extend_from_slice(&1u32.to_be_bytes());
        tcp.push((((20 + self.options.len()) / 4) << 4) as u8);
        tcp.push(0x10); // ACK
        tcp.extend_from_slice(&self.window.to_be_bytes());
        tcp.extend_from_slice(&[0, 0, 0, 0]);
        tcp.extend_from_slice(&self.options);
        tcp.extend((0..self.payload_len).map(|i| self.seq.wrapping_add(i as u32) as u8));
        let l4 = tcp.len();
        let sum = if self.v6 {
            inet_csum::pseudo_header_v6(&src6, &dst6, 6, l4 as u32)
        } else {
            inet_csum::pseudo_header_v4(src4, dst4, 6, l4 as u16)
        };
        let c = sum.add(&tcp).finish();
        tcp[16..18].copy_from_slice(&c.to_be_bytes());
        let mut p = Vec::new();
        if self.v6 {
            let ext_len = self.ext.as_ref().map_or(0, |(_, b)| 2 + b.len());
            p.extend_from_slice(&0x6001_2345u32.to_be_bytes());
            p.extend_from_slice(&((ext_len + l4) as u16).to_be_bytes());
            p.push(self.ext.as_ref().map_or(6, |(k, _)| *k));
            p.push(64);
            p.extend_from_slice(&src6);
            p.extend_from_slice(&dst6);
            if let Some((_, body)) = &self.ext {
                p.push(6);
                p.push((((2 + body.len()) / 8) - 1) as u8);
                p.extend_from_slice(body);
            }
        } else {
            p.extend_from_slice(&[0x45, 0]);
            p.extend_from_slice(&((20 + l4) as u16).to_be_bytes());
            p.extend_from_slice(&self.ip_id.to_be_bytes());
            p.extend_from_slice(&[0x40, 0, 64, 6, 0, 0]);
            p.extend_from_slice(&src4);
            p.extend_from_slice(&dst4);
            let c = inet_csum::checksum(&p);
            p[10..12].copy_from_slice(&c.to_be_bytes());
        }
        p.extend_from_slice(&tcp);
        p
    }
}

/// Packets held as (header, payload).
struct TwoPart(Vec<(Vec<u8>, Vec<u8>)>);

impl PacketSource for TwoPart {
    fn packet(&self, index: usize) -> Option<&[u8]> {
        self.0.get(index).map(|p| &p.0[..])
    }

    fn parts(&self, index: usize) -> Option<(&[u8], &[u8])> {
        self.0.get(index).map(|p| (&p.0[..], &p.1[..]))
    }
}

/// Everything observable about a drained batch.
type Summary = Vec<(Vec<usize>, bool, Vec<u8>, Vec<u8>, Vec<Vec<u8>>)>;

fn run(hot_path: bool, cfg: Config, packets: &[Vec<u8>], csum: ChecksumStatus) -> Summary {
    run_checks(hot_path, true, cfg, packets, csum)
}

/// [`run`] with deferred checksum checks on or off.
fn run_checks(
    hot_path: bool,
    defer: bool,
    cfg: Config,
    packets: &[Vec<u8>],
    csum: ChecksumStatus,
) -> Summary {
    let mut gro = Coalescer::new(cfg);
    gro.hot_path = hot_path;
    gro.defer = defer;
    for (i, p) in packets.iter().enumerate() {
        gro.push(i, p, csum);
    }
    gro.drain(packets)
        .map(|o| {
            (
                o.indices().to_vec(),
                o.is_merged(),
                o.headers().to_vec(),
                o.vnet_bytes().to_vec(),
                o.payloads().map(<[u8]>::to_vec).collect(),
            )
        })
        .collect()
}

/// Make a mutated packet's IPv4 header (`ip`) and TCP (`tcp`) checksums valid again, so
/// that the mutation reaches the merge rules instead of failing a checksum — or, fixing only
/// one, reaches exactly the other check.
fn fix(p: &mut [u8], ip: bool, tcp: bool) {
    if ip
        && p.first() == Some(&0x45)
        && let Ok((ip, _)) = Ipv4Header::mut_from_packet(p)
    {
        ip.fill_checksum();
    }
    let Ok(info) = classify(p) else { return };
    if !tcp || info.protocol != Protocol::TCP || p.len() < info.l4_offset + 20 {
        return;
    }
    let l4 = info.l4_offset;
    p[l4 + 16..l4 + 18].fill(0);
    let Some(addrs) = crate::verify::pseudo_addrs(p, info.version) else {
        return;
    };
    let c = inet_csum::Accumulator::from_sum(addrs)
        .add_u32((p.len() - l4) as u32)
        .add(&p[l4..])
        .finish();
    p[l4 + 16..l4 + 18].copy_from_slice(&c.to_be_bytes());
}

/// (indices, merged, vnet bytes, the whole packet) of every output.
type Written = Vec<(Vec<usize>, bool, Vec<u8>, Vec<u8>)>;

fn written<S: PacketSource + ?Sized>(drain: Drain<'_, S>) -> Written {
    drain
        .map(|o| {
            let mut buf = alloc::vec![0u8; o.len()];
            assert_eq!(o.materialize(&mut buf), Ok(o.len()));
            (
                o.indices().to_vec(),
                o.is_merged(),
                o.vnet_bytes().to_vec(),
                buf,
            )
        })
        .collect()
}

fn run_parts(hot_path: bool, cfg: Config, packets: &TwoPart, csum: ChecksumStatus) -> Written {
    let mut gro = Coalescer::new(cfg);
    gro.hot_path = hot_path;
    for (i, (header, payload)) in packets.0.iter().enumerate() {
        gro.push_parts(i, header, payload, csum);
    }
    written(gro.drain(packets))
}

fn batch() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let flow = (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        1usize..12,
        1usize..200,
        any::<u16>(),
        any::<bool>(),
    );
    (
        proptest::collection::vec(flow, 1..4),
        any::<bool>(),
        proptest::collection::vec(
            (
                any::<prop::sample::Index>(),
                // Mostly the headers (IPv4 + TCP with timestamps: 52 bytes; IPv6 with an
                // extension header: 80).
                prop_oneof![3 => 0usize..80, 1 => 0usize..200],
                any::<u8>(),
                any::<bool>(),
                any::<bool>(),
            ),
            0..6,
        ),
        proptest::collection::vec(any::<prop::sample::Index>(), 0..3),
    )
        .prop_flat_map(|(flows, shuffle, flips, dups)| {
            let trains: Vec<Vec<Vec<u8>>> = flows
                .iter()
                .enumerate()
                .map(|(f, &(v6, ts, fixed_id, n, mss, id, ext))| {
                    let mut s = if v6 { TcpPacket::v6() } else { TcpPacket::v4() };
                    s = s.ports(1000 + f as u16, 443).ip_id(id);
                    if ts {
                        s = s.timestamps(7, 9);
                    }
                    if ext && v6 {
                        // Destination Options (8 bytes): TCP at 48.
                        s = s.ext_header(60, &[1, 4, 0, 0, 0, 0]);
                    }
                    (0..n)
                        .map(|i| {
                            let step = if fixed_id && !v6 { 0 } else { i as u16 };
                            s.clone()
                                .seq(5000 + (i * mss) as u32)
                                .ip_id(id.wrapping_add(step))
                                .payload_len(mss)
                                .build()
                        })
                        .collect()
                })
                .collect();
            // Round-robin interleave, then mutate, duplicate and maybe shuffle.
            let mut packets = Vec::new();
            let longest = trains.iter().map(Vec::len).max().unwrap_or(0);
            for k in 0..longest {
                for t in &trains {
                    if let Some(p) = t.get(k) {
                        packets.push(p.clone());
                    }
                }
            }
            for (i, at, x, fix_ip, fix_tcp) in flips {
                let n = packets.len();
                let p = &mut packets[i.index(n)];
                if at < p.len() {
                    p[at] ^= x;
                    fix(p, fix_ip, fix_tcp);
                }
            }
            for d in dups {
                let n = packets.len();
                let p = packets[d.index(n)].clone();
                packets.push(p);
            }
            let packets = Just(packets);
            if shuffle {
                packets.prop_shuffle().boxed()
            } else {
                packets.boxed()
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 4 } else { 1024 },
        ..ProptestConfig::default()
    })]

    #[test]
    fn hot_path_is_the_general_path(
        packets in batch(),
        known_good in any::<bool>(),
        out_of_order in any::<bool>(),
    ) {
        let csum = if known_good { ChecksumStatus::KnownGood } else { ChecksumStatus::Unverified };
        let cfg = Config { out_of_order, ..Config::default() };
        prop_assert_eq!(run(true, cfg, &packets, csum), run(false, cfg, &packets, csum));
    }

    /// Checking joiners' checksums at drain (and replaying the batch when one fails) gives
    /// exactly what checking them at push gives — also when a corrupt copy of a segment
    /// arrives just before the good one, the case where the two orders of work differ.
    #[test]
    fn deferred_checks_are_checks_at_push(
        mut packets in batch(),
        corrupt in proptest::collection::vec(
            (any::<prop::sample::Index>(), any::<prop::sample::Index>(), 1u8..),
            0..3,
        ),
        out_of_order in any::<bool>(),
        hot in any::<bool>(),
    ) {
        for (at, byte, x) in corrupt {
            let i = at.index(packets.len());
            let mut bad = packets[i].clone();
            let b = byte.index(bad.len());
            bad[b] ^= x;
            packets.insert(i, bad);
        }
        let cfg = Config { out_of_order, ..Config::default() };
        prop_assert_eq!(
            run_checks(hot, true, cfg, &packets, ChecksumStatus::Unverified),
            run_checks(hot, false, cfg, &packets, ChecksumStatus::Unverified)
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 4 } else { 512 },
        ..ProptestConfig::default()
    })]

    /// Packets pushed as headers + payload (how `tcp_tso::Plan::split_headers` leaves segments)
    /// give exactly the output of the same packets in one piece, on the hot path and off;
    /// a packet cut anywhere else is passed through whole, and every merged output is its
    /// members' payloads behind one header.
    #[test]
    fn two_parts_are_the_packet(
        packets in batch(),
        cuts in proptest::collection::vec((0u8..3, any::<prop::sample::Index>()), 64),
        known_good in any::<bool>(),
        out_of_order in any::<bool>(),
        hot in any::<bool>(),
    ) {
        let csum = if known_good { ChecksumStatus::KnownGood } else { ChecksumStatus::Unverified };
        let cfg = Config { out_of_order, ..Config::default() };
        let mut elsewhere = alloc::vec![false; packets.len()];
        let parts = TwoPart(packets.iter().enumerate().map(|(i, p)| {
            let (mode, at) = cuts[i % cuts.len()];
            let cut = match (mode, crate::segment::parse(p, &[])) {
                (1, Some(seg)) => seg.hdr_len,
                (2, _) => {
                    let c = at.index(p.len() + 1);
                    elsewhere[i] = crate::segment::parse(p, &[]).is_none_or(|s| s.hdr_len != c)
                        && c != p.len();
                    c
                }
                _ => p.len(),
            };
            (p[..cut].to_vec(), p[cut..].to_vec())
        }).collect());
        let got = run_parts(hot, cfg, &parts, csum);
        if !elsewhere.contains(&true) {
            let mut gro = Coalescer::new(cfg);
            gro.hot_path = hot;
            for (i, p) in packets.iter().enumerate() {
                gro.push(i, p, csum);
            }
            prop_assert_eq!(got, written(gro.drain(&packets[..])));
        } else {
            let mut seen = alloc::vec![0usize; packets.len()];
            for (indices, merged, _, bytes) in &got {
                for &i in indices {
                    seen[i] += 1;
                }
                if !merged {
                    prop_assert_eq!(bytes, &packets[indices[0]]);
                    continue;
                }
                for &i in indices {
                    prop_assert!(!elsewhere[i], "a packet cut off its header boundary merged");
                }
                let h = crate::segment::parse(&packets[indices[0]], &[]).map_or(0, |s| s.hdr_len);
                let payload: Vec<u8> = indices.iter().flat_map(|&i| packets[i][h..].to_vec()).collect();
                prop_assert_eq!(&bytes[h..], &payload[..]);
            }
            prop_assert!(seen.iter().all(|&n| n == 1));
        }
    }
}

/// The hot path is taken for an in-order train (so the property above compares something).
#[test]
fn hot_path_taken_for_a_train() {
    for base in [TcpPacket::v4().timestamps(1, 2), TcpPacket::v6()] {
        let packets = base.train(1, 8, 100);
        let mut gro = Coalescer::new(Config::default());
        gro.push(0, &packets[0], ChecksumStatus::Unverified);
        for (i, p) in packets.iter().enumerate().skip(1) {
            assert!(
                gro.push_hot(i, p, &[], ChecksumStatus::Unverified),
                "segment {i}"
            );
        }
        // A header change (here the window) is not for the hot path.
        let other = base.clone().seq(801).window(9).payload_len(100).build();
        assert!(!gro.push_hot(8, &other, &[], ChecksumStatus::Unverified));
        let out: Vec<_> = gro.drain(&packets).collect();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].indices(), &[0, 1, 2, 3, 4, 5, 6, 7]);
    }
}

/// One coalescer reused over batches of very different sizes — some with more runs than its
/// hash buckets were sized for, which grows them between batches — writes every batch exactly
/// as a fresh coalescer does (a reset must leave no bucket pointing at an old run).
#[test]
// Safe code only, and slow when interpreted (a minute for the smallest growing batch): the
// bucket table's own tests run under Miri in `offload-buf`.
#[cfg_attr(miri, ignore)]
fn reuse_across_growing_and_shrinking_batches_is_a_fresh_start() {
    let flows = |n: u16, per: usize| -> Vec<Vec<u8>> {
        let trains: Vec<Vec<Vec<u8>>> = (0..n)
            .map(|f| TcpPacket::v4().ports(1000 + f, 80).train(7, per, 100))
            .collect();
        (0..per)
            .flat_map(|k| trains.iter().map(move |t| t[k].clone()))
            .collect()
    };
    // Growth comes with more than 128 runs.
    let shapes = [(3, 4), (300, 2), (5, 3), (1000, 1), (200, 3), (1, 8)];
    let mut reused = Coalescer::new(Config::default());
    for (k, &(n, per)) in shapes.iter().enumerate() {
        let b = &flows(n, per);
        for (i, p) in b.iter().enumerate() {
            reused.push(i, p, ChecksumStatus::Unverified);
        }
        let got = written(reused.drain(b));
        let mut fresh = Coalescer::new(Config::default());
        for (i, p) in b.iter().enumerate() {
            fresh.push(i, p, ChecksumStatus::Unverified);
        }
        assert_eq!(got, written(fresh.drain(b)), "batch {k}");
        assert_eq!(got.len(), usize::from(n), "batch {k}: one output per flow");
    }
}
