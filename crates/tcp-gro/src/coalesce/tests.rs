//! The hot path ([`Coalescer::push_hot`]) against the general path alone: the same outputs,
//! byte for byte, for trains that hit it and for mutated packets built to nearly hit it.

use alloc::vec::Vec;

use inet_hdr::{Ipv4Header, Protocol, classify};
use proptest::prelude::*;

use super::*;
// Plain bytes only from the builder: its crate links another copy of this one.
use testkit::packet::TcpPacket;

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
