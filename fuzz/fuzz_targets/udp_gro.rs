//! UDP GRO over a batch of up to 160 arbitrary packets — raw bytes, or valid UDP datagrams
//! built from arbitrary header fields and then optionally corrupted — pushed with arbitrary
//! checksum modes and limits, each packet in one piece or in two parts (cut at its UDP header's
//! end, or anywhere): no panic; every output index valid and used once; every merged packet has
//! 2..=64 members in arrival order, at most 65535 bytes, a header that passes `check_emit`, the
//! merged UDP length in its UDP header, and its members' payloads as its payload; pass-through
//! packets are untouched behind a zeroed header.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use testkit::packet::TwoPart;
use testkit::udp::{UdpChecksum, UdpPacket};
use udp_gro::{ChecksumStatus, Coalescer, Config};
use virtio_net_hdr::VirtioNetHdr;

#[derive(Arbitrary, Debug)]
struct Fields {
    v6: bool,
    flow: u8,
    len: u8,
    scale: u8,
    id: u8,
    df: bool,
    ttl: u8,
    tos: u8,
    label: u8,
    ext: bool,
    checksum: u8,
    udp_len: Option<u16>,
    frag_word: Option<u16>,
    options: bool,
    corrupt: Option<(u16, u8)>,
}

#[derive(Arbitrary, Debug)]
enum Pkt {
    Raw(Vec<u8>),
    Dgram(Fields),
}

#[derive(Arbitrary, Debug)]
struct Input {
    max_len: Option<u16>,
    max_segments: Option<u8>,
    packets: Vec<(Pkt, bool, Option<u8>)>,
}

/// Where the IP + UDP headers end, if the packet looks like an IP packet.
fn header_end(p: &[u8]) -> Option<usize> {
    let info = inet_hdr::classify(p).ok()?;
    Some(info.l4_offset + 8).filter(|&e| e <= p.len())
}

fn build(f: &Fields) -> Vec<u8> {
    // Few distinct values per field so that datagrams of one flow often line up and merge.
    let mut d = if f.v6 {
        UdpPacket::v6()
    } else {
        UdpPacket::v4()
    };
    d = d
        .ports(1000 + u16::from(f.flow % 3), 443)
        .payload_len(usize::from(f.len) * (1 + usize::from(f.scale % 8)))
        .ip_id(u16::from(f.id % 4))
        .df(f.df)
        .ttl(64 + f.ttl % 2)
        .tos(f.tos % 2)
        .flow_label(u32::from(f.label % 2))
        .checksum(match f.checksum % 8 {
            0 => UdpChecksum::Zero,
            1 => UdpChecksum::Bad,
            _ => UdpChecksum::Valid,
        });
    if f.ext {
        d = d.ipv6_dest_opts(8);
    }
    if let Some(l) = f.udp_len {
        d = d.udp_len(l);
    }
    if let Some(w) = f.frag_word {
        d = d.frag_word(w);
    }
    if f.options {
        d = d.ipv4_options(&[1, 1, 1, 1]);
    }
    let mut p = d.build();
    if let Some((at, x)) = f.corrupt
        && !p.is_empty()
    {
        let at = usize::from(at) % p.len();
        p[at] ^= x;
    }
    p
}

fuzz_target!(|input: Input| {
    let packets: Vec<Vec<u8>> = input
        .packets
        .iter()
        .take(160)
        .map(|(p, _, _)| match p {
            Pkt::Raw(b) => b.clone(),
            Pkt::Dgram(f) => build(f),
        })
        .collect();
    let mut cfg = Config::default();
    if let Some(m) = input.max_len {
        cfg.max_merged_len = usize::from(m);
    }
    if let Some(m) = input.max_segments {
        cfg.max_segments = usize::from(m);
    }
    let parts = TwoPart(
        packets
            .iter()
            .zip(&input.packets)
            .map(|(p, (_, _, cut))| {
                let at = match cut {
                    None => p.len(),
                    Some(0) => header_end(p).unwrap_or(p.len()),
                    Some(c) => usize::from(*c) % (p.len() + 1),
                };
                (p[..at].to_vec(), p[at..].to_vec())
            })
            .collect(),
    );
    let mut gro = Coalescer::new(cfg);
    for (i, (header, payload)) in parts.0.iter().enumerate() {
        let csum = if input.packets[i].1 {
            ChecksumStatus::KnownGood
        } else {
            ChecksumStatus::Unverified
        };
        gro.push_parts(i, header, payload, csum);
    }
    let mut seen = vec![false; packets.len()];
    let mut bytes_in_outputs = 0usize;
    let mut header_bytes_saved = 0usize;
    let mut buf = vec![0u8; 65535];
    for out in gro.drain(&parts) {
        for &i in out.indices() {
            assert!(i < packets.len(), "index out of range");
            assert!(!seen[i], "index {i} output twice");
            seen[i] = true;
        }
        let n = out
            .materialize(&mut buf)
            .expect("65535 bytes always suffice");
        assert_eq!(n, out.len());
        let pkt = &buf[..n];
        if out.is_merged() {
            let hl = out.headers().len();
            let members = out.indices().len();
            assert!((2..=64).contains(&members));
            assert!(out.indices().windows(2).all(|w| w[0] < w[1]));
            assert_eq!(out.vnet_hdr().check_emit(pkt), Ok(()));
            let l4 = usize::from(out.vnet_hdr().csum_start());
            assert_eq!(hl, l4 + 8);
            assert_eq!(
                usize::from(u16::from_be_bytes([pkt[l4 + 4], pkt[l4 + 5]])),
                n - l4
            );
            // The payload is exactly the members' payloads, in order.
            let mut at = hl;
            for (&i, pay) in out.indices().iter().zip(out.payloads()) {
                assert_eq!(pay, &packets[i][hl..]);
                assert_eq!(&pkt[at..at + pay.len()], pay);
                at += pay.len();
            }
            assert_eq!(at, n);
            header_bytes_saved += hl * (members - 1);
        } else {
            assert_eq!(out.vnet_hdr(), VirtioNetHdr::plain());
            assert_eq!(pkt, &packets[out.indices()[0]][..]);
        }
        bytes_in_outputs += n;
    }
    assert!(seen.iter().all(|&s| s), "an input was lost");
    // Payload out equals payload in: only the members' repeated headers disappear.
    let bytes_in: usize = packets.iter().map(Vec::len).sum();
    assert_eq!(bytes_in_outputs + header_bytes_saved, bytes_in);
});
