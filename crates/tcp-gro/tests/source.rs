//! `Coalescer::drain` over a caller's own `PacketSource` (packets at offsets in one slab) must
//! produce exactly what it produces over a `Vec` of separate buffers.

use proptest::prelude::*;
use tcp_gro::{ChecksumStatus, Coalescer, Config, PacketSource};
use testkit::packet::TcpPacket;

/// Packets back to back in one buffer, each after a gap (like a receive slab with headroom).
struct Slab {
    bytes: Vec<u8>,
    spans: Vec<(usize, usize)>,
}

impl Slab {
    fn new(packets: &[Vec<u8>], gap: usize) -> Slab {
        let mut s = Slab {
            bytes: Vec::new(),
            spans: Vec::new(),
        };
        for p in packets {
            s.bytes.resize(s.bytes.len() + gap, 0xee);
            s.spans.push((s.bytes.len(), p.len()));
            s.bytes.extend_from_slice(p);
        }
        s
    }
}

impl PacketSource for Slab {
    fn packet(&self, index: usize) -> Option<&[u8]> {
        let &(at, len) = self.spans.get(index)?;
        self.bytes.get(at..at + len)
    }
}

/// One output: merged, indices, vnet bytes, the whole packet.
type Owned = (bool, Vec<usize>, Vec<u8>, Vec<u8>);

/// Every output, owned.
fn outputs<S: PacketSource + ?Sized>(
    gro: &mut Coalescer,
    packets: &[Vec<u8>],
    source: &S,
    csum: ChecksumStatus,
) -> Vec<Owned> {
    for (i, p) in packets.iter().enumerate() {
        gro.push(i, p, csum);
    }
    gro.drain(source)
        .map(|o| {
            let mut bytes = vec![0u8; o.len()];
            assert_eq!(o.materialize(&mut bytes), Ok(o.len()));
            (
                o.is_merged(),
                o.indices().to_vec(),
                o.vnet_bytes().to_vec(),
                bytes,
            )
        })
        .collect()
}

/// Segments of two IPv4 flows in runs, some with a bad checksum, some garbage between them.
fn batch() -> impl Strategy<Value = Vec<Vec<u8>>> {
    // Mostly full-sized segments so runs form; some short ones end them.
    let item = (
        0u8..8,
        0u16..2,
        prop_oneof![3 => Just(700usize), 1 => 1usize..700],
        any::<u8>(),
    );
    proptest::collection::vec(item, 0..40).prop_map(|items| {
        let mut seq = [0u32; 2];
        let mut id = [0u16; 2];
        items
            .into_iter()
            .map(|(kind, flow, len, byte)| {
                let f = usize::from(flow);
                let seg = TcpPacket::v4()
                    .ports(1000 + flow, 2000)
                    .seq(seq[f])
                    .ip_id(id[f])
                    .payload_len(len);
                seq[f] = seq[f].wrapping_add(len as u32);
                id[f] = id[f].wrapping_add(1);
                match kind {
                    0 => seg.bad_checksum().build(),
                    1 => vec![byte; len % 64],
                    _ => seg.build(),
                }
            })
            .collect()
    })
}

proptest! {
    #[test]
    fn slab_source_matches_separate_buffers(packets in batch(), gap in 0usize..40, verify in any::<bool>()) {
        let csum = if verify { ChecksumStatus::Unverified } else { ChecksumStatus::KnownGood };
        let slab = Slab::new(&packets, gap);
        let mut gro = Coalescer::new(Config::default());
        let want = outputs(&mut gro, &packets, &packets, csum);
        let got = outputs(&mut gro, &packets, &slab, csum);
        prop_assert_eq!(got, want);
    }
}

#[test]
fn merged_payloads_are_slices_of_the_source() {
    let packets: Vec<Vec<u8>> = (0..4u32)
        .map(|i| {
            TcpPacket::v4()
                .seq(700 * i)
                .ip_id(i as u16)
                .payload_len(700)
                .build()
        })
        .collect();
    let slab = Slab::new(&packets, 16);
    let mut gro = Coalescer::new(Config::default());
    let outs = outputs(&mut gro, &packets, &slab, ChecksumStatus::Unverified);
    assert_eq!(outs.len(), 1);
    assert_eq!((outs[0].0, &outs[0].1[..]), (true, &[0, 1, 2, 3][..]));
    for (i, p) in packets.iter().enumerate() {
        gro.push(i, p, ChecksumStatus::Unverified);
    }
    let range = slab.bytes.as_ptr_range();
    let out = gro.drain(&slab).next().unwrap();
    for (k, payload) in out.payloads().enumerate() {
        // Borrowed from the slab, not copied.
        assert!(range.contains(&payload.as_ptr()));
        assert_eq!(payload, &packets[k][40..]);
    }
}

#[test]
fn a_source_missing_a_packet_skips_it() {
    let packets: Vec<Vec<u8>> = (0..3u32)
        .map(|i| {
            TcpPacket::v4()
                .seq(100 * i)
                .ip_id(i as u16)
                .payload_len(100)
                .build()
        })
        .collect();
    let mut slab = Slab::new(&packets, 4);
    slab.spans.truncate(2); // the third packet is gone by drain time
    let mut gro = Coalescer::new(Config::default());
    for (i, p) in packets.iter().enumerate() {
        gro.push(i, p, ChecksumStatus::Unverified);
    }
    // The run no longer matches its source: its members pass through as they are, and the
    // missing one is skipped.
    let outs: Vec<_> = gro
        .drain(&slab)
        .map(|o| (o.is_merged(), o.indices().to_vec()))
        .collect();
    assert_eq!(outs, [(false, vec![0]), (false, vec![1])]);
}
