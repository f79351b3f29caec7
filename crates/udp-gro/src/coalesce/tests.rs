//! The hot path ([`Coalescer::push_hot`]) against the general path alone: the same outputs,
//! byte for byte, for trains that hit it and for mutated datagrams built to nearly hit it.

use alloc::vec::Vec;

use inet_hdr::classify;
use proptest::prelude::*;

use super::*;

/// One flow's fixed fields; datagrams are built here rather than with the workspace's dev-only
/// packet builder so that these tests also build from the published crate.
#[derive(Clone, Copy, Debug)]
struct Flow {
    v6: bool,
    /// Bytes of an IPv6 Destination Options header (0 or a multiple of 8).
    ext: usize,
    port: u16,
}

/// A datagram of `flow` with valid checksums: 10.0.0.1 → 10.0.0.2 (fd00::1 → fd00::2, flow
/// label 0x12345), port → 4433, DF, TTL/hop limit 64, IPv4 ID `id`, `len` payload bytes
/// counting up from `seed`.
fn datagram(flow: Flow, id: u16, len: usize, seed: u8) -> Vec<u8> {
    let ulen = 8 + len;
    let mut p = Vec::new();
    if flow.v6 {
        p.extend_from_slice(&0x6001_2345u32.to_be_bytes());
        p.extend_from_slice(&((flow.ext + ulen) as u16).to_be_bytes());
        p.push(if flow.ext > 0 { 60 } else { 17 });
        p.push(64);
        for last in [1u8, 2] {
            p.push(0xfd);
            p.extend_from_slice(&[0; 14]);
            p.push(last);
        }
        if flow.ext > 0 {
            p.extend_from_slice(&[17, (flow.ext / 8 - 1) as u8, 1, (flow.ext - 4) as u8]);
            p.resize(p.len() + flow.ext - 4, 0);
        }
    } else {
        p.extend_from_slice(&[0x45, 0]);
        p.extend_from_slice(&((20 + ulen) as u16).to_be_bytes());
        p.extend_from_slice(&id.to_be_bytes());
        p.extend_from_slice(&[0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    }
    p.extend_from_slice(&flow.port.to_be_bytes());
    p.extend_from_slice(&4433u16.to_be_bytes());
    p.extend_from_slice(&(ulen as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend((0..len).map(|i| seed.wrapping_add(i as u8)));
    fix_ipv4(&mut p);
    fix_udp(&mut p);
    p
}

/// Recompute an IPv4 header checksum (nothing for IPv6).
fn fix_ipv4(p: &mut [u8]) {
    if p[0] >> 4 == 4 {
        p[10..12].fill(0);
        let c = inet_csum::header_checksum(&p[..20]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
    }
}

/// Recompute the UDP checksum over the pseudo header of the IP header's addresses, if the
/// packet still parses.
fn fix_udp(p: &mut [u8]) {
    let Ok(info) = classify(p) else {
        return;
    };
    let l4 = info.l4_offset;
    if p.len() < l4 + 8 {
        return;
    }
    p[l4 + 6..l4 + 8].fill(0);
    let Some(addrs) = crate::verify::pseudo_addrs(p, info.version) else {
        return;
    };
    let c = inet_csum::Accumulator::from_sum(addrs)
        .add_u32((p.len() - l4) as u32)
        .add(&p[l4..])
        .finish();
    let c = if c == 0 { 0xffff } else { c };
    p[l4 + 6..l4 + 8].copy_from_slice(&c.to_be_bytes());
}

/// (indices, merged, vnet bytes, the whole packet) of every output.
type Owned = (Vec<usize>, bool, Vec<u8>, Vec<u8>);

fn outputs(
    gro: &mut Coalescer,
    packets: &[Vec<u8>],
    cut: &[Option<usize>],
    csum: ChecksumStatus,
) -> Vec<Owned> {
    let parts: Vec<(Vec<u8>, Vec<u8>)> = packets
        .iter()
        .zip(cut)
        .map(|(p, c)| {
            let at = c.unwrap_or(p.len()).min(p.len());
            (p[..at].to_vec(), p[at..].to_vec())
        })
        .collect();
    for (i, (h, pl)) in parts.iter().enumerate() {
        gro.push_parts(i, h, pl, csum);
    }
    /// The batch as (header, payload) parts.
    struct Parts(Vec<(Vec<u8>, Vec<u8>)>);
    impl PacketSource for Parts {
        fn packet(&self, i: usize) -> Option<&[u8]> {
            self.0.get(i).map(|p| &p.0[..])
        }
        fn parts(&self, i: usize) -> Option<(&[u8], &[u8])> {
            self.0.get(i).map(|p| (&p.0[..], &p.1[..]))
        }
    }
    let src = Parts(parts);
    gro.drain(&src)
        .map(|o| {
            let mut bytes = alloc::vec![0u8; o.len()];
            assert_eq!(o.materialize(&mut bytes), Ok(o.len()));
            (
                o.indices().to_vec(),
                o.is_merged(),
                o.vnet_bytes().to_vec(),
                bytes,
            )
        })
        .collect()
}

/// What to do to one datagram of a train.
#[derive(Clone, Copy, Debug)]
struct Edit {
    flow: u8,
    /// 0–5: the flow's size; 6: shorter; 7: longer.
    size: u8,
    /// XOR a header byte: (offset in the IP + UDP headers, value, refix IPv4, refix UDP).
    poke: Option<(u8, u8, bool, bool)>,
    /// Push in two parts, cut at the end of the UDP header.
    two_part: bool,
    /// Set the UDP checksum to 0 ("no checksum"), after any poke.
    zero_checksum: bool,
}

fn edit() -> impl Strategy<Value = Edit> {
    (
        0u8..3,
        0u8..8,
        prop::option::weighted(0.3, (any::<u8>(), 1u8.., any::<bool>(), any::<bool>())),
        any::<bool>(),
        prop::bool::weighted(0.05),
    )
        .prop_map(|(flow, size, poke, two_part, zero_checksum)| Edit {
            flow,
            size,
            poke,
            two_part,
            zero_checksum,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn hot_path_decides_as_the_general_path(
        flows in prop::collection::vec((any::<bool>(), 0usize..3, 0u16..2), 3),
        // Miri interprets every byte summed: smaller batches there.
        edits in prop::collection::vec(edit(), 0..if cfg!(miri) { 40 } else { 150 }),
        base in 1usize..300,
        trust in any::<bool>(),
        max_segments in prop::sample::select(alloc::vec![64usize, 3]),
        max_len in prop::sample::select(alloc::vec![65535usize, 1500]),
    ) {
        let flows: Vec<Flow> = flows
            .iter()
            .map(|&(v6, ext, port)| Flow { v6, ext: if v6 { ext * 8 } else { 0 }, port: 1000 + port })
            .collect();
        let mut nth = [0u16; 3];
        let mut cut = Vec::new();
        let packets: Vec<Vec<u8>> = edits
            .iter()
            .map(|e| {
                let f = flows[usize::from(e.flow)];
                let k = nth[usize::from(e.flow)];
                nth[usize::from(e.flow)] += 1;
                let len = match e.size {
                    6 => base / 2,
                    7 => base + 1,
                    _ => base,
                };
                let mut p = datagram(f, k, len, k as u8);
                let hdr_len = classify(&p).map_or(28, |i| i.l4_offset + 8);
                if let Some((at, x, ip, udp)) = e.poke {
                    let at = usize::from(at) % hdr_len;
                    p[at] ^= x;
                    if ip {
                        fix_ipv4(&mut p);
                    }
                    if udp {
                        fix_udp(&mut p);
                    }
                }
                if e.zero_checksum {
                    p[hdr_len - 2..hdr_len].fill(0);
                }
                cut.push(e.two_part.then_some(hdr_len));
                p
            })
            .collect();
        let csum = if trust { ChecksumStatus::KnownGood } else { ChecksumStatus::Unverified };
        let c = Config { max_segments, max_merged_len: max_len };
        let mut hot = Coalescer::new(c);
        let mut general = Coalescer::new(c);
        general.hot_path = false;
        let a = outputs(&mut hot, &packets, &cut, csum);
        let b = outputs(&mut general, &packets, &cut, csum);
        prop_assert_eq!(a, b);
    }
}

#[test]
fn the_hot_path_is_taken() {
    // After the first datagram of a train, each next one is appended by the hot path itself
    // (no parse, hash or lookup), so the property above compares something.
    let flow = Flow {
        v6: false,
        ext: 0,
        port: 1000,
    };
    let packets: Vec<Vec<u8>> = (0..4).map(|k| datagram(flow, k, 100, k as u8)).collect();
    let mut gro = Coalescer::new(Config::default());
    gro.push(0, &packets[0], ChecksumStatus::Unverified);
    for (i, p) in packets.iter().enumerate().skip(1) {
        assert!(gro.push_hot(i, p, &[], ChecksumStatus::Unverified));
    }
    let out: Vec<_> = gro.drain(&packets).collect();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].indices(), &[0, 1, 2, 3]);
}

/// One coalescer reused over batches of very different sizes — some with more runs than its
/// hash buckets were sized for, which grows them between batches — writes every batch exactly
/// as a fresh coalescer does (a reset must leave no bucket pointing at an old run).
#[test]
// Safe code only, and slow when interpreted (a minute for the smallest growing batch): the
// bucket table's own tests run under Miri in `offload-buf`.
#[cfg_attr(miri, ignore)]
fn reuse_across_growing_and_shrinking_batches_is_a_fresh_start() {
    let flows = |n: u16, per: u16| -> Vec<Vec<u8>> {
        (0..per)
            .flat_map(|k| {
                (0..n).map(move |f| {
                    let flow = Flow {
                        v6: f % 2 == 1,
                        ext: 0,
                        port: 1000 + f,
                    };
                    datagram(flow, k, 100, k as u8)
                })
            })
            .collect()
    };
    // Growth comes with more than 128 runs.
    let shapes = [(3, 4), (300, 2), (5, 3), (1000, 1), (200, 3), (1, 8)];
    let mut reused = Coalescer::new(Config::default());
    for (k, &(n, per)) in shapes.iter().enumerate() {
        let b = flows(n, per);
        let whole = alloc::vec![None; b.len()];
        let got = outputs(&mut reused, &b, &whole, ChecksumStatus::Unverified);
        let mut fresh = Coalescer::new(Config::default());
        let want = outputs(&mut fresh, &b, &whole, ChecksumStatus::Unverified);
        assert_eq!(got, want, "batch {k}");
        assert_eq!(got.len(), usize::from(n), "batch {k}: one output per flow");
    }
}
