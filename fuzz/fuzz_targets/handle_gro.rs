//! GRO over a batch of up to 128 arbitrary packets — raw bytes, or valid TCP segments built
//! from arbitrary header fields and then optionally corrupted — pushed with arbitrary checksum
//! modes, each packet in one piece or in two parts (cut at its TCP header's end, as
//! `tcp_tso::Plan::split_headers` leaves segments, or anywhere): no panic; every output index valid
//! and used once; payload bytes out equal payload bytes in; every merged packet's bytes are its
//! members' payloads and its header passes `check_emit`; pass-through packets are untouched
//! behind a zeroed header.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tcp_gro::{ChecksumStatus, Coalescer, Config};
use testkit::packet::{TcpPacket, TwoPart};
use virtio_net_hdr::VirtioNetHdr;

#[derive(Arbitrary, Debug)]
struct Fields {
    v6: bool,
    flow: u8,
    seq: u16,
    len: u8,
    scale: u8,
    id: u8,
    df: bool,
    flags: u8,
    window: u8,
    ttl: u8,
    tos: u8,
    ack: u8,
    ts: Option<u8>,
    ext: Option<u8>,
    frag_word: Option<u16>,
    corrupt: Option<(u16, u8)>,
}

#[derive(Arbitrary, Debug)]
enum Pkt {
    Raw(Vec<u8>),
    Seg(Fields),
}

#[derive(Arbitrary, Debug)]
struct Input {
    out_of_order: bool,
    max_len: Option<u16>,
    packets: Vec<(Pkt, bool, Option<u8>)>,
}

/// Where the IP + TCP headers end, if the packet looks like TCP.
fn header_end(p: &[u8]) -> Option<usize> {
    let info = inet_hdr::classify(p).ok()?;
    let doff = usize::from(*p.get(info.l4_offset + 12)? >> 4) * 4;
    Some(info.l4_offset + doff).filter(|&e| e <= p.len())
}

fn build(f: &Fields) -> Vec<u8> {
    // Few distinct values per field so that segments of one flow often line up and merge.
    let mut s = if f.v6 {
        TcpPacket::v6()
    } else {
        TcpPacket::v4()
    };
    s = s
        .ports(1000 + u16::from(f.flow % 3), 80)
        .seq(u32::from(f.seq) * 64)
        .payload_len(usize::from(f.len) * (1 + usize::from(f.scale % 8)))
        .ip_id(u16::from(f.id % 4))
        .df(f.df)
        .flags(inet_hdr::TcpFlags(f.flags))
        .window(u16::from(f.window % 2))
        .ttl(64 + f.ttl % 2)
        .tos(f.tos % 2)
        .ack(u32::from(f.ack % 2));
    if let Some(t) = f.ts {
        s = s.timestamps(u32::from(t % 2), 0);
    }
    if let Some(e) = f.ext {
        s = s.ext_header(60, &[e % 2; 6]);
    }
    if let Some(w) = f.frag_word {
        s = s.frag_word(w);
    }
    let mut p = s.build();
    if let Some((at, x)) = f.corrupt {
        if !p.is_empty() {
            let at = usize::from(at) % p.len();
            p[at] ^= x;
        }
    }
    p
}

fuzz_target!(|input: Input| {
    let packets: Vec<Vec<u8>> = input
        .packets
        .iter()
        .take(128)
        .map(|(p, _, _)| match p {
            Pkt::Raw(b) => b.clone(),
            Pkt::Seg(f) => build(f),
        })
        .collect();
    let mut cfg = Config::default();
    cfg.out_of_order = input.out_of_order;
    if let Some(m) = input.max_len {
        cfg.max_merged_len = usize::from(m);
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
            assert!(out.indices().len() >= 2);
            assert_eq!(out.vnet_hdr().check_emit(pkt), Ok(()));
            // The payload is exactly the members' payloads, in order.
            let mut at = hl;
            for (&i, pay) in out.indices().iter().zip(out.payloads()) {
                assert_eq!(pay, &packets[i][hl..]);
                assert_eq!(&pkt[at..at + pay.len()], pay);
                at += pay.len();
            }
            assert_eq!(at, n);
            header_bytes_saved += hl * (out.indices().len() - 1);
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
