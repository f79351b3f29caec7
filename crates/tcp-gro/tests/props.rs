//! Property tests: GRO followed by `tcp-tso` gives back the input segments byte for byte, and
//! nothing is lost, duplicated or altered — for random valid trains (several flows, either IP
//! version, options, extension headers, fixed or incrementing IDs, a short or PSH/FIN tail),
//! optionally shuffled, with random other packets mixed in; and no input at all panics.

mod common;

use common::{Out, run_with};
use inet_hdr::TcpFlags;
use proptest::prelude::*;
use tcp_gro::{ChecksumStatus, Coalescer, Config};
use testkit::packet::TcpPacket;

#[derive(Clone, Debug)]
struct Train {
    v6: bool,
    port: u16,
    seq0: u32,
    ack: u32,
    window: u16,
    ttl: u8,
    tos: u8,
    ts: Option<(u32, u32)>,
    ext: Option<[u8; 6]>,
    id0: u16,
    fixed_id: bool,
    df: bool,
    mss: usize,
    n: usize,
    last_len: Option<usize>,
    last_flags: u8,
}

impl Train {
    fn segments(&self) -> Vec<Vec<u8>> {
        let mut base = if self.v6 {
            TcpPacket::v6()
        } else {
            TcpPacket::v4()
        };
        base = base
            .ports(self.port, 443)
            .ack(self.ack)
            .window(self.window)
            .ttl(self.ttl)
            .tos(self.tos)
            .df(self.df);
        if let Some((a, b)) = self.ts {
            base = base.timestamps(a, b);
        }
        if let Some(body) = self.ext {
            base = base.ext_header(60, &body);
        }
        let mut seq = self.seq0;
        (0..self.n)
            .map(|i| {
                let last = i + 1 == self.n;
                let len = if last {
                    self.last_len.unwrap_or(self.mss)
                } else {
                    self.mss
                };
                let id = if self.fixed_id {
                    self.id0
                } else {
                    self.id0.wrapping_add(i as u16)
                };
                let mut s = base.clone().seq(seq).ip_id(id).payload_len(len);
                if last {
                    s = s.flags(TcpFlags(TcpFlags::ACK.0 | self.last_flags));
                }
                seq = seq.wrapping_add(len as u32);
                s.build()
            })
            .collect()
    }
}

fn train(port: u16) -> impl Strategy<Value = Train> {
    (
        (
            any::<bool>(),
            any::<u32>(),
            any::<u32>(),
            any::<u16>(),
            1u8..,
            any::<u8>(),
        ),
        (
            proptest::option::of((any::<u32>(), any::<u32>())),
            proptest::option::of(any::<[u8; 6]>()),
            any::<u16>(),
            any::<bool>(),
            any::<bool>(),
        ),
        (1usize..=1460, 2usize..=40),
        (proptest::option::of(1usize..=1460), 0u8..4),
    )
        .prop_map(
            move |(
                (v6, seq0, ack, window, ttl, tos),
                (ts, ext, id0, fixed, df),
                (mss, n),
                (short, fl),
            )| {
                let hdr = if v6 { 60 } else { 40 } + if ts.is_some() { 12 } else { 0 } + 8;
                // Keep the whole train within one 64 KB packet so an in-order train merges fully.
                let n = n.min((65535 - hdr) / mss).max(1);
                let last_flags = [
                    0,
                    TcpFlags::PSH.0,
                    TcpFlags::FIN.0,
                    TcpFlags::PSH.0 | TcpFlags::FIN.0,
                ][fl as usize];
                Train {
                    v6,
                    port,
                    seq0,
                    ack,
                    window,
                    ttl,
                    tos,
                    ts,
                    ext: if v6 { ext } else { None },
                    id0,
                    // Fixed IDs merge only with DF (rule book §0).
                    fixed_id: fixed && !v6,
                    df: df || (fixed && !v6),
                    mss,
                    n,
                    last_len: short.map(|s| s.min(mss)),
                    last_flags,
                }
            },
        )
}

/// What tcp-tso must give back for input segment `k` of a merged output: the input itself,
/// except that an IPv4 fixed-ID run is re-segmented with incrementing IDs (the documented
/// renumbering: TUN cannot express FIXEDID).
fn expected_segment(input: &[u8], first_id: u16, k: usize) -> Vec<u8> {
    let mut e = input.to_vec();
    if e[0] >> 4 == 4 {
        let id = first_id.wrapping_add(k as u16);
        if e[4..6] != id.to_be_bytes() {
            e[4..6].copy_from_slice(&id.to_be_bytes());
            e[10..12].copy_from_slice(&[0, 0]);
            let c = inet_csum::checksum(&e[..20]);
            e[10..12].copy_from_slice(&c.to_be_bytes());
        }
    }
    e
}

/// Split every merged output with tcp-tso and compare with the inputs; check that every input
/// index appears in exactly one output.
fn check_round_trip(packets: &[Vec<u8>], outs: &[Out]) -> Result<(), TestCaseError> {
    let mut seen = vec![0u32; packets.len()];
    for o in outs {
        for &i in &o.indices {
            seen[i] += 1;
        }
        if !o.merged {
            continue; // run_with checked it is the untouched input
        }
        let mut bufs = vec![vec![0u8; 65536]; o.indices.len()];
        let mut lens = vec![0usize; o.indices.len()];
        let r = tcp_tso::Plan::new(&o.vnet, &o.bytes)
            .and_then(|p| p.split_to_buffers(&o.bytes, 0, &mut bufs, &mut lens));
        prop_assert!(r.is_ok(), "split failed: {r:?}");
        let r = r.unwrap();
        prop_assert_eq!(r.segments, o.indices.len());
        let first = &packets[o.indices[0]];
        let first_id = u16::from_be_bytes([first[4], first[5]]);
        for (k, &i) in o.indices.iter().enumerate() {
            let got = &bufs[k][..lens[k]];
            prop_assert_eq!(
                got,
                &expected_segment(&packets[i], first_id, k)[..],
                "segment {} (input {})",
                k,
                i
            );
        }
    }
    prop_assert!(
        seen.iter().all(|&c| c == 1),
        "index multiplicity {:?}",
        seen
    );
    Ok(())
}

fn other_packet() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..80),
        // A valid IPv4 UDP datagram.
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(|d| {
            let mut p = vec![
                0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
            ];
            let total = (28 + d.len()) as u16;
            p[2..4].copy_from_slice(&total.to_be_bytes());
            let c = inet_csum::checksum(&p);
            p[10..12].copy_from_slice(&c.to_be_bytes());
            p.extend_from_slice(&[0, 53, 0, 53]);
            p.extend_from_slice(&((8 + d.len()) as u16).to_be_bytes());
            p.extend_from_slice(&[0, 0]);
            p.extend_from_slice(&d);
            p
        }),
    ]
}

fn batch() -> impl Strategy<Value = (Vec<Vec<u8>>, bool, bool)> {
    (
        proptest::collection::vec(train(0), 1..4),
        proptest::collection::vec((any::<proptest::sample::Index>(), other_packet()), 0..6),
        any::<bool>(),
    )
        .prop_flat_map(|(trains, others, shuffle)| {
            let mut packets: Vec<Vec<u8>> = Vec::new();
            let mut segs: Vec<Vec<Vec<u8>>> = trains
                .iter()
                .enumerate()
                .map(|(f, t)| {
                    Train {
                        port: 1000 + f as u16,
                        ..t.clone()
                    }
                    .segments()
                })
                .collect();
            // Interleave the flows round-robin (each flow stays in order).
            let mut k = 0;
            while segs.iter().any(|s| k < s.len()) {
                for s in &mut segs {
                    if k < s.len() {
                        packets.push(std::mem::take(&mut s[k]));
                    }
                }
                k += 1;
            }
            let clean = others.is_empty() && trains.len() == 1 && !shuffle;
            for (at, p) in others {
                let i = at.index(packets.len() + 1);
                packets.insert(i, p);
            }
            let packets = Just(packets);
            if shuffle {
                packets
                    .prop_shuffle()
                    .prop_map(move |p| (p, true, clean))
                    .boxed()
            } else {
                packets.prop_map(move |p| (p, false, clean)).boxed()
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// (a) GRO then tcp-tso gives back every input segment byte for byte; (b) every input index
    /// is in exactly one output; pass-through packets are untouched (checked in `run_with`).
    #[test]
    fn round_trip_and_nothing_lost((packets, _shuffled, clean) in batch()) {
        let mut gro = Coalescer::new(Config::default());
        let outs = run_with(&mut gro, &packets, ChecksumStatus::Unverified);
        check_round_trip(&packets, &outs)?;
        if clean {
            // One in-order train that fits 64 KB: exactly one packet (merged when ≥ 2).
            prop_assert_eq!(outs.len(), 1);
            prop_assert_eq!(outs[0].merged, packets.len() >= 2);
        }
        // Trusted mode makes the same decisions on valid input.
        let trusted = run_with(&mut gro, &packets, ChecksumStatus::KnownGood);
        prop_assert_eq!(
            outs.iter().map(|o| (&o.indices, &o.bytes)).collect::<Vec<_>>(),
            trusted.iter().map(|o| (&o.indices, &o.bytes)).collect::<Vec<_>>()
        );
        // Kernel-strict mode (no prepend) also round-trips.
        let mut cfg = Config::default();
        cfg.out_of_order = false;
        let mut strict = Coalescer::new(cfg);
        let outs = run_with(&mut strict, &packets, ChecksumStatus::Unverified);
        check_round_trip(&packets, &outs)?;
    }

    /// Output order keeps each flow's segments in sequence order when they arrive in order.
    #[test]
    fn flow_order_kept((packets, shuffled, _) in batch()) {
        prop_assume!(!shuffled);
        let outs = run_with(&mut Coalescer::new(Config::default()), &packets, ChecksumStatus::Unverified);
        let order: Vec<usize> = outs.iter().flat_map(|o| o.indices.iter().copied()).collect();
        // Per flow (source port), the indices in write order must be increasing.
        let mut last: std::collections::HashMap<Vec<u8>, usize> = Default::default();
        for i in order {
            let p = &packets[i];
            let Ok(info) = inet_hdr::classify(p) else { continue };
            if info.protocol != inet_hdr::Protocol::TCP || p.len() < info.l4_offset + 2 { continue; }
            let key = p[info.l4_offset..info.l4_offset + 2].to_vec();
            if let Some(&prev) = last.get(&key) {
                prop_assert!(prev < i, "flow reordered: {} after {}", i, prev);
            }
            last.insert(key, i);
        }
    }

    /// Any bytes at all: no panic, every index once, every merged header passes check_emit.
    #[test]
    fn arbitrary_bytes(packets in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..120), 0..40)) {
        let outs = run_with(&mut Coalescer::new(Config::default()), &packets, ChecksumStatus::Unverified);
        let mut seen = vec![0; packets.len()];
        for o in &outs {
            for &i in &o.indices { seen[i] += 1; }
        }
        prop_assert!(seen.iter().all(|&c| c == 1));
    }

    /// Mutated valid segments (one byte flipped): never a panic, nothing lost, and whatever is
    /// merged still round-trips through tcp-tso to the inputs it claims.
    #[test]
    fn mutated_trains((packets, _, _) in batch(), flips in proptest::collection::vec((any::<proptest::sample::Index>(), any::<proptest::sample::Index>(), any::<u8>()), 0..4)) {
        let mut packets = packets;
        for (p, b, x) in flips {
            let p = p.index(packets.len());
            if packets[p].is_empty() { continue; }
            let b = b.index(packets[p].len());
            packets[p][b] ^= x;
        }
        let outs = run_with(&mut Coalescer::new(Config::default()), &packets, ChecksumStatus::Unverified);
        check_round_trip(&packets, &outs)?;
    }
}
