//! Differential check of GRO against tcp-tso: structured valid segment trains (several flows,
//! either IP version, arbitrary header values, fixed or incrementing IPv4 IDs, short or PSH/FIN
//! tails, shuffled), coalesced and then split again, must give back exactly the input segments
//! (an IPv4 fixed-ID run comes back with incrementing IDs: TUN cannot express FIXEDID).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tcp_gro::{ChecksumStatus, Coalescer, Config};
use testkit::packet::TcpPacket;

#[derive(Arbitrary, Debug)]
struct Train {
    v6: bool,
    seq0: u32,
    ack: u32,
    window: u16,
    ttl: u8,
    tos: u8,
    ts: Option<(u32, u32)>,
    ext: Option<[u8; 6]>,
    id0: u16,
    fixed_id: bool,
    mss: u16,
    n: u8,
    last_len: Option<u16>,
    last_flags: u8,
}

#[derive(Arbitrary, Debug)]
struct Input {
    trains: Vec<Train>,
    order: Vec<u8>,
    known_good: bool,
    out_of_order: bool,
}

fn segments(t: &Train, port: u16) -> Vec<Vec<u8>> {
    let v4_fixed = t.fixed_id && !t.v6;
    let mut base = if t.v6 {
        TcpPacket::v6()
    } else {
        TcpPacket::v4()
    };
    base = base
        .ports(port, 443)
        .ack(t.ack)
        .window(t.window)
        .ttl(t.ttl)
        .tos(t.tos)
        .df(v4_fixed || t.ttl % 2 == 0);
    if let Some((a, b)) = t.ts {
        base = base.timestamps(a, b);
    }
    if let (true, Some(body)) = (t.v6, t.ext) {
        base = base.ext_header(60, &body);
    }
    let mss = 1 + usize::from(t.mss) % 1460;
    let hdr = 60 + 12 + 8;
    let n = (1 + usize::from(t.n) % 48).min((65535 - hdr) / mss).max(1);
    let mut seq = t.seq0;
    (0..n)
        .map(|i| {
            let last = i + 1 == n;
            let len = match (last, t.last_len) {
                (true, Some(l)) => 1 + usize::from(l) % mss,
                _ => mss,
            };
            let id = if v4_fixed {
                t.id0
            } else {
                t.id0.wrapping_add(i as u16)
            };
            let mut s = base.clone().seq(seq).ip_id(id).payload_len(len);
            if last {
                s = s.flags(inet_hdr::TcpFlags(0x10 | (t.last_flags & 0x09)));
            }
            seq = seq.wrapping_add(len as u32);
            s.build()
        })
        .collect()
}

fuzz_target!(|input: Input| {
    let mut packets: Vec<Vec<u8>> = Vec::new();
    for (f, t) in input.trains.iter().take(4).enumerate() {
        packets.extend(segments(t, 1000 + f as u16));
    }
    // Permute by the arbitrary order bytes (a sequence of swaps).
    for (k, &o) in input.order.iter().enumerate() {
        if packets.len() > 1 {
            let a = k % packets.len();
            let b = usize::from(o) % packets.len();
            packets.swap(a, b);
        }
    }
    let mut cfg = Config::default();
    cfg.out_of_order = input.out_of_order;
    let mut gro = Coalescer::new(cfg);
    let csum = if input.known_good {
        ChecksumStatus::KnownGood
    } else {
        ChecksumStatus::Unverified
    };
    for (i, p) in packets.iter().enumerate() {
        gro.push(i, p, csum);
    }
    let mut seen = vec![false; packets.len()];
    let mut buf = vec![0u8; 65535];
    // Every segment of a generated train fits in 1600 bytes (80 bytes of headers + 1460).
    let mut bufs = vec![vec![0u8; 1600]; 64];
    let mut lens = [0usize; 64];
    for out in gro.drain(&packets) {
        for &i in out.indices() {
            assert!(!seen[i]);
            seen[i] = true;
        }
        if !out.is_merged() {
            assert_eq!(out.headers(), &packets[out.indices()[0]][..]);
            continue;
        }
        let n = out.materialize(&mut buf).unwrap();
        let hdr = out.vnet_hdr();
        let split = tcp_tso::Plan::new(&hdr, &buf[..n])
            .and_then(|p| p.split_to_buffers(&buf[..n], 0, &mut bufs, &mut lens))
            .expect("tcp-tso accepts every super-packet we emit");
        assert_eq!(split.segments, out.indices().len());
        let first = &packets[out.indices()[0]];
        let first_id = u16::from_be_bytes([first[4], first[5]]);
        for (k, &i) in out.indices().iter().enumerate() {
            let mut want = packets[i].clone();
            if want[0] >> 4 == 4 {
                // Fixed-ID runs are re-segmented with incrementing IDs.
                let id = first_id.wrapping_add(k as u16);
                want[4..6].copy_from_slice(&id.to_be_bytes());
                want[10..12].copy_from_slice(&[0, 0]);
                let c = inet_csum::checksum(&want[..20]);
                want[10..12].copy_from_slice(&c.to_be_bytes());
            }
            assert_eq!(
                &bufs[k][..lens[k]],
                &want[..],
                "segment {k} of {:?}",
                out.indices()
            );
        }
    }
    assert!(seen.iter().all(|&s| s));
    // An unshuffled single train that fits 64 KB is exactly one packet.
    if input.trains.len() == 1 && input.order.is_empty() {
        let outs = {
            for (i, p) in packets.iter().enumerate() {
                gro.push(i, p, csum);
            }
            gro.drain(&packets).count()
        };
        assert_eq!(outs, 1, "an in-order train must merge fully");
    }
});
