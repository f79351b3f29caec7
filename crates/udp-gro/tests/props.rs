//! Property tests over random batches: trains of a few flows (IPv4, IPv6, IPv6 with an
//! extension header) with random sizes and random header changes, corruptions and datagrams GRO
//! must leave alone.
//!
//! - Nothing is lost or duplicated, and the outputs cut back into datagrams (the kernel's
//!   `__udp_gso_segment`, re-implemented in `common::resegment`) are exactly the inputs, in
//!   output order; a merged packet's members are in arrival order.
//! - The grouping is exactly that of a reference model of the kernel's UDP GRO written here
//!   from `udp_gro_receive_segment` and the IP-level checks (rule book §2.5), one held packet
//!   per flow, with every checksum verified on arrival — whenever no datagram's checksum fails
//!   (a bad first datagram is found only at drain: rule book §2.5).
//! - Pushing every datagram in two parts (headers, payload) gives the same outputs.

mod common;

use common::{Out, groups, resegment, run_with};
use proptest::prelude::*;
use testkit::packet::TwoPart;
use testkit::udp::{UdpChecksum, UdpPacket};
use udp_gro::{ChecksumStatus, Coalescer, Config};

/// A change made to one datagram of a train.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    Ttl,
    Tos,
    Ecn,
    Df,
    IdJump,
    FlowLabel,
    ExtHeader,
    ZeroChecksum,
    BadChecksum,
    Empty,
    UdpLenShort,
    Ipv4Options,
    MoreFragments,
    BadIpChecksum,
    Reserved,
}

const CHANGES: [Change; 15] = [
    Change::Ttl,
    Change::Tos,
    Change::Ecn,
    Change::Df,
    Change::IdJump,
    Change::FlowLabel,
    Change::ExtHeader,
    Change::ZeroChecksum,
    Change::BadChecksum,
    Change::Empty,
    Change::UdpLenShort,
    Change::Ipv4Options,
    Change::MoreFragments,
    Change::BadIpChecksum,
    Change::Reserved,
];

/// One datagram to build: its flow (0, 1: IPv4, one with fixed IDs; 2: IPv6; 3: IPv6 with a
/// Destination Options header), its size class and at most one change.
#[derive(Clone, Copy, Debug)]
struct Item {
    flow: u8,
    size: u8,
    change: Option<Change>,
}

fn item() -> impl Strategy<Value = Item> {
    (
        0u8..4,
        0u8..8,
        prop::option::weighted(0.15, prop::sample::select(&CHANGES[..])),
    )
        .prop_map(|(flow, size, change)| Item { flow, size, change })
}

/// Build the batch: each flow's datagrams numbered in order (IPv4 IDs follow that number, or
/// stay fixed for flow 1), payload sizes from a flow's base size.
fn build(items: &[Item], base: usize, big: bool) -> Vec<Vec<u8>> {
    let mut nth = [0u16; 4];
    items
        .iter()
        .map(|it| {
            let f = usize::from(it.flow);
            let k = nth[f];
            nth[f] += 1;
            let mut b = match it.flow {
                0 => UdpPacket::v4().ip_id(1000 + k),
                1 => UdpPacket::v4().ports(5000, 53).ip_id(77),
                2 => UdpPacket::v6(),
                _ => UdpPacket::v6().ports(6000, 443).ipv6_dest_opts(8),
            };
            let base = base + 3 * f;
            let len = match it.size {
                0 => base / 2,      // shorter: ends the run
                1 => base + 1,      // longer: starts a new one
                2 if big => 20_000, // fills a packet in three
                _ => base,
            };
            b = b.seed(k as u8).payload_len(len);
            let v4 = it.flow < 2;
            match it.change {
                Some(Change::Ttl) => b = b.ttl(63),
                Some(Change::Tos) => b = b.tos(0x20),
                Some(Change::Ecn) => b = b.tos(0x03),
                Some(Change::Df) if v4 => b = b.df(false),
                Some(Change::IdJump) if v4 => {
                    let id = b.ipv4_id.wrapping_add(9);
                    b = b.ip_id(id)
                }
                Some(Change::FlowLabel) if !v4 => b = b.flow_label(0xabcde),
                Some(Change::ExtHeader) if !v4 => {
                    b = b.ipv6_dest_opts(if it.flow == 3 { 0 } else { 16 })
                }
                Some(Change::ZeroChecksum) => b = b.checksum(UdpChecksum::Zero),
                Some(Change::BadChecksum) => b = b.checksum(UdpChecksum::Bad),
                Some(Change::Empty) => b = b.payload_len(0),
                Some(Change::UdpLenShort) => b = b.udp_len((len as u16 + 8) / 2),
                Some(Change::Ipv4Options) if v4 => b = b.ipv4_options(&[1, 1, 1, 1]),
                Some(Change::MoreFragments) if v4 => b = b.frag_word(0x6000),
                Some(Change::Reserved) if v4 => b = b.frag_word(0xc000),
                _ => {}
            }
            let mut p = b.build();
            if it.change == Some(Change::BadIpChecksum) && v4 {
                p[11] ^= 0x01;
            }
            p
        })
        .collect()
}

/// The reference model: what the kernel's UDP GRO makes of the batch, as index groups in write
/// order (`udp_gro_receive_segment`, `inet_gro_receive` / `ipv6_gro_receive`, `inet_gro_flush`
/// / `ipv6_gro_flush`; IPv4 fixed IDs only with DF, our decision).
mod model {
    /// What GRO reads of a datagram.
    struct Dg {
        key: Vec<u8>,
        class: Vec<u8>,
        len: usize,
        id: u16,
        df: bool,
        reserved: bool,
    }

    fn be16(p: &[u8], at: usize) -> u16 {
        u16::from_be_bytes([p[at], p[at + 1]])
    }

    fn sum(b: &[u8]) -> u32 {
        b.chunks(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
            .sum()
    }

    fn folds_to_ffff(mut s: u32) -> bool {
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        s == 0xffff
    }

    fn parse(p: &[u8], verify: bool) -> Option<Dg> {
        let (l4, key, class, id, df, reserved, pseudo) = match p.first()? >> 4 {
            4 => {
                if p.len() < 20 || p[0] != 0x45 || usize::from(be16(p, 2)) != p.len() {
                    return None;
                }
                let frag = be16(p, 6);
                if p[9] != 17 || frag & 0x3fff != 0 || !folds_to_ffff(sum(&p[..20])) {
                    return None;
                }
                let mut key = vec![4];
                key.extend_from_slice(&p[12..20]);
                let class = vec![p[1], p[8], (frag >> 14) as u8 & 1];
                let pseudo = sum(&p[12..20]) + 17;
                (
                    20,
                    key,
                    class,
                    be16(p, 4),
                    frag & 0x4000 != 0,
                    frag & 0x8000 != 0,
                    pseudo,
                )
            }
            6 => {
                if p.len() < 40 || usize::from(be16(p, 4)) + 40 != p.len() {
                    return None;
                }
                let mut next = p[6];
                let mut off = 40;
                while matches!(next, 0 | 43 | 60) {
                    let h = p.get(off..off + 2)?;
                    next = h[0];
                    off += (usize::from(h[1]) + 1) * 8;
                }
                if next != 17 || off > p.len() {
                    return None;
                }
                let mut key = vec![6, p[0] & 0xf0, p[1] & 0x0f, p[2], p[3], p[6]];
                key.extend_from_slice(&p[8..off]);
                let class = vec![(p[0] << 4) | (p[1] >> 4), p[7]];
                (off, key, class, 0, false, false, sum(&p[8..40]) + 17)
            }
            _ => return None,
        };
        let udp = p.get(l4..l4 + 8)?;
        let ulen = usize::from(be16(udp, 4));
        if be16(udp, 6) == 0 || ulen != p.len() - l4 || ulen <= 8 {
            return None;
        }
        if verify && !folds_to_ffff(pseudo + ulen as u32 + sum(&p[l4..])) {
            return None;
        }
        let mut key = key;
        key.extend_from_slice(&udp[..4]);
        Some(Dg {
            key,
            class,
            len: ulen - 8,
            id,
            df,
            reserved,
        })
    }

    struct Held {
        key: Vec<u8>,
        class: Vec<u8>,
        first_len: usize,
        total: usize,
        count: usize,
        first_id: u16,
        df: bool,
        fixed: Option<bool>,
        open: bool,
        out: usize,
    }

    pub(crate) fn gro(
        packets: &[Vec<u8>],
        verify: bool,
        max_segments: usize,
        max_len: usize,
    ) -> Vec<Vec<usize>> {
        let mut out: Vec<Vec<usize>> = Vec::new();
        let mut held: Vec<Held> = Vec::new();
        for (i, p) in packets.iter().enumerate() {
            let Some(d) = parse(p, verify) else {
                out.push(vec![i]);
                continue;
            };
            let h = held.iter_mut().find(|h| h.open && h.key == d.key);
            if d.reserved {
                if let Some(h) = h {
                    h.open = false;
                }
                out.push(vec![i]);
                continue;
            }
            if let Some(h) = h {
                let id_ok = if d.key[0] == 6 {
                    true
                } else {
                    match h.fixed {
                        None if d.id == h.first_id.wrapping_add(1) => {
                            h.fixed = Some(false);
                            true
                        }
                        None if d.id == h.first_id && d.df && h.df => {
                            h.fixed = Some(true);
                            true
                        }
                        Some(false) => d.id == h.first_id.wrapping_add(h.count as u16),
                        Some(true) => d.id == h.first_id,
                        None => false,
                    }
                };
                if d.class == h.class && d.len <= h.first_len && h.total + d.len <= max_len && id_ok
                {
                    out[h.out].push(i);
                    h.count += 1;
                    h.total += d.len;
                    h.open = d.len == h.first_len && h.count < max_segments;
                    continue;
                }
                h.open = false;
            }
            out.push(vec![i]);
            held.push(Held {
                total: p.len(),
                key: d.key,
                class: d.class,
                first_len: d.len,
                count: 1,
                first_id: d.id,
                df: d.df,
                fixed: None,
                open: max_segments > 1,
                out: out.len() - 1,
            });
        }
        out
    }
}

/// Every output cut back into datagrams, in output order, against the inputs they were made
/// of; a fixed-ID run comes back with incrementing IDs (UDP GSO has no fixed-ID flag), which
/// is checked and undone here.
fn assert_resegments_to_inputs(outs: &[Out], packets: &[Vec<u8>]) {
    let mut seen = vec![false; packets.len()];
    for o in outs {
        let again = resegment(o);
        assert_eq!(again.len(), o.indices.len(), "{o:?}");
        let first = &packets[o.indices[0]];
        for (k, (mut got, &i)) in again.into_iter().zip(&o.indices).enumerate() {
            assert!(!seen[i], "index {i} twice");
            seen[i] = true;
            let want = &packets[i];
            if o.merged && want[0] >> 4 == 4 && want[4..6] == first[4..6] && k > 0 {
                assert_ne!(want[6] & 0x40, 0, "fixed IDs only with DF");
                got[4..6].copy_from_slice(&want[4..6]);
                got[10..12].copy_from_slice(&want[10..12]);
            }
            assert_eq!(&got, want, "datagram {i} (member {k} of {:?})", o.indices);
        }
    }
    assert!(seen.iter().all(|&s| s), "an input was lost");
}

/// Datagrams per batch at most, and whether 20000-byte datagrams are drawn: Miri interprets
/// every byte summed, so it gets smaller batches.
const MAX_ITEMS: usize = if cfg!(miri) { 40 } else { 170 };
const BIG: bool = !cfg!(miri);

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn outputs_resegment_to_the_inputs_and_group_like_the_kernel(
        items in prop::collection::vec(item(), 0..MAX_ITEMS),
        base in 16usize..200,
        big in any::<bool>(),
        trust in any::<bool>(),
        max_segments in prop::sample::select(vec![64usize, 64, 64, 5, 1]),
        max_len in prop::sample::select(vec![65535usize, 65535, 2000]),
    ) {
        // Known good is the caller's promise: no corrupt checksums then.
        let items: Vec<Item> = items
            .into_iter()
            .map(|mut it| {
                if trust && it.change == Some(Change::BadChecksum) {
                    it.change = None;
                }
                it
            })
            .collect();
        let packets = build(&items, base, big && BIG);
        let csum = if trust { ChecksumStatus::KnownGood } else { ChecksumStatus::Unverified };
        let mut c = Config::default();
        c.max_segments = max_segments;
        c.max_merged_len = max_len;
        let mut gro = Coalescer::new(c);
        let outs = run_with(&mut gro, &packets, &packets, &|_| csum);
        assert_resegments_to_inputs(&outs, &packets);
        if !items.iter().any(|it| it.change == Some(Change::BadChecksum)) {
            let want = model::gro(&packets, !trust, max_segments, max_len);
            prop_assert_eq!(groups(&outs), want);
        }
        // Every corrupt datagram is written alone.
        for (i, it) in items.iter().enumerate() {
            if it.change == Some(Change::BadChecksum) {
                prop_assert!(outs.iter().any(|o| o.indices == [i]));
            }
        }

        // The same batch in two parts, cut at the end of the UDP header.
        let parts = TwoPart(
            packets
                .iter()
                .map(|p| {
                    let cut = inet_hdr::classify(p).map_or(p.len(), |i| i.l4_offset + 8);
                    let cut = cut.min(p.len());
                    (p[..cut].to_vec(), p[cut..].to_vec())
                })
                .collect(),
        );
        let two = run_with(&mut gro, &packets, &parts, &|_| csum);
        prop_assert_eq!(groups(&two), groups(&outs));
        for (a, b) in two.iter().zip(&outs) {
            prop_assert_eq!(&a.bytes, &b.bytes);
            prop_assert_eq!(a.vnet, b.vnet);
        }
    }
}
