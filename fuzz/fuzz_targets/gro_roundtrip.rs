//! Differential check of GRO against the splitters: structured valid TCP segment trains
//! (several flows, either IP version, arbitrary header values, fixed or incrementing IPv4 IDs,
//! short or PSH/FIN tails) and UDP datagram trains (several flows, either IP version, arbitrary
//! addresses, ports and header values, an IPv6 Destination Options header, fixed (with DF) or
//! incrementing IPv4 IDs, a shorter last datagram), shuffled together, coalesced by tcp-gro
//! and udp-gro (each packet to its protocol's coalescer) and then split again by tcp-tso and
//! udp-gso, must give back exactly the input packets (an IPv4 fixed-ID run comes back with
//! incrementing IDs: TUN cannot express FIXEDID for TCP, and UDP GSO has no fixed-ID mode).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tcp_gro::ChecksumStatus;
use testkit::packet::TcpPacket;
use testkit::udp::UdpPacket;

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
struct UdpTrain {
    v6: bool,
    src4: [u8; 4],
    dst4: [u8; 4],
    src6: [u8; 16],
    dst6: [u8; 16],
    dst_port: u16,
    ttl: u8,
    tos: u8,
    flow_label: u32,
    /// A Destination Options header of 8 or 16 bytes (IPv6).
    dest_opts: Option<bool>,
    id0: u16,
    fixed_id: bool,
    df: bool,
    size: u16,
    n: u8,
    last_len: Option<u16>,
    seed: u8,
}

#[derive(Arbitrary, Debug)]
struct Input {
    trains: Vec<Train>,
    order: Vec<u8>,
    known_good: bool,
    out_of_order: bool,
    udp_trains: Vec<UdpTrain>,
}

/// Every generated packet fits this (64 bytes of IP + UDP headers + 2000, 80 of IP + TCP
/// headers + 1460).
const MAX_PACKET: usize = 2064;

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
        .df(v4_fixed || t.ttl.is_multiple_of(2));
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

/// A UDP train: datagrams of one size, the last one possibly shorter; at most 64 of them
/// and 65535 bytes in all, so an in-order train merges into one packet.
fn datagrams(t: &UdpTrain, port: u16) -> Vec<Vec<u8>> {
    let v4_fixed = t.fixed_id && !t.v6;
    let mut base = if t.v6 {
        UdpPacket::v6()
    } else {
        UdpPacket::v4()
    };
    base = base
        .addrs4(t.src4, t.dst4)
        .addrs6(t.src6, t.dst6)
        .ports(port, t.dst_port)
        .ttl(t.ttl)
        .tos(t.tos)
        .flow_label(t.flow_label)
        // Equal IDs merge only with DF (udp-gro's rule, RFC 6864).
        .df(v4_fixed || t.df);
    if let (true, Some(long)) = (t.v6, t.dest_opts) {
        base = base.ipv6_dest_opts(if long { 16 } else { 8 });
    }
    let size = 1 + usize::from(t.size) % 2000;
    let hdr = 40 + 16 + 8;
    let n = (1 + usize::from(t.n) % 64).min((65535 - hdr) / size);
    (0..n)
        .map(|i| {
            let len = match (i + 1 == n, t.last_len) {
                (true, Some(l)) => 1 + usize::from(l) % size,
                _ => size,
            };
            let id = if v4_fixed {
                t.id0
            } else {
                t.id0.wrapping_add(i as u16)
            };
            base.clone()
                .ip_id(id)
                .seed(t.seed.wrapping_add(i as u8))
                .payload_len(len)
                .build()
        })
        .collect()
}

/// What packet `i` must come back as from a split whose first member is `first`, as member
/// `k`: itself, with an IPv4 ID of `first`'s + `k` (and the header checksum to match).
fn expected(first: &[u8], k: usize, packet: &[u8]) -> Vec<u8> {
    let mut want = packet.to_vec();
    if want[0] >> 4 == 4 {
        let first_id = u16::from_be_bytes([first[4], first[5]]);
        let id = first_id.wrapping_add(k as u16);
        want[4..6].copy_from_slice(&id.to_be_bytes());
        want[10..12].copy_from_slice(&[0, 0]);
        let hl = usize::from(want[0] & 0x0f) * 4;
        let c = inet_csum::checksum(&want[..hl]);
        want[10..12].copy_from_slice(&c.to_be_bytes());
    }
    want
}

fuzz_target!(|input: Input| {
    // (packet, is UDP)
    let mut packets: Vec<(Vec<u8>, bool)> = Vec::new();
    for (f, t) in input.trains.iter().take(4).enumerate() {
        packets.extend(segments(t, 1000 + f as u16).into_iter().map(|p| (p, false)));
    }
    for (f, t) in input.udp_trains.iter().take(4).enumerate() {
        packets.extend(datagrams(t, 2000 + f as u16).into_iter().map(|p| (p, true)));
    }
    // Permute by the arbitrary order bytes (a sequence of swaps).
    for (k, &o) in input.order.iter().enumerate() {
        if packets.len() > 1 {
            let a = k % packets.len();
            let b = usize::from(o) % packets.len();
            packets.swap(a, b);
        }
    }
    let (packets, udp): (Vec<Vec<u8>>, Vec<bool>) = packets.into_iter().unzip();
    let mut cfg = tcp_gro::Config::default();
    cfg.out_of_order = input.out_of_order;
    let mut tcp_gro = tcp_gro::Coalescer::new(cfg);
    let mut udp_gro = udp_gro::Coalescer::new(udp_gro::Config::default());
    let csum = if input.known_good {
        ChecksumStatus::KnownGood
    } else {
        ChecksumStatus::Unverified
    };
    for (i, p) in packets.iter().enumerate() {
        if udp[i] {
            udp_gro.push(i, p, csum);
        } else {
            tcp_gro.push(i, p, csum);
        }
    }
    let mut seen = vec![false; packets.len()];
    let mut outputs = 0;
    let mut buf = vec![0u8; 65535];
    let mut bufs = vec![vec![0u8; MAX_PACKET]; 64];
    let mut lens = [0usize; 64];
    for (is_udp, drain) in [
        (false, tcp_gro.drain(&packets)),
        (true, udp_gro.drain(&packets)),
    ] {
        for out in drain {
            outputs += 1;
            for &i in out.indices() {
                assert!(!seen[i]);
                assert_eq!(udp[i], is_udp, "packet {i} from the other coalescer");
                seen[i] = true;
            }
            if !out.is_merged() {
                assert_eq!(out.headers(), &packets[out.indices()[0]][..]);
                continue;
            }
            let n = out.materialize(&mut buf).unwrap();
            let hdr = out.vnet_hdr();
            let segments = if is_udp {
                udp_gso::Plan::new(&hdr, &buf[..n])
                    .and_then(|p| p.split_to_buffers(&buf[..n], 0, &mut bufs, &mut lens))
                    .expect("udp-gso accepts every super-packet we emit")
                    .segments
            } else {
                tcp_tso::Plan::new(&hdr, &buf[..n])
                    .and_then(|p| p.split_to_buffers(&buf[..n], 0, &mut bufs, &mut lens))
                    .expect("tcp-tso accepts every super-packet we emit")
                    .segments
            };
            assert_eq!(segments, out.indices().len());
            let first = &packets[out.indices()[0]];
            for (k, &i) in out.indices().iter().enumerate() {
                assert_eq!(
                    &bufs[k][..lens[k]],
                    &expected(first, k, &packets[i])[..],
                    "segment {k} of {:?}",
                    out.indices()
                );
            }
        }
    }
    assert!(seen.iter().all(|&s| s));
    // An unshuffled single train that fits 64 KB is exactly one packet.
    if input.trains.len().min(4) + input.udp_trains.len().min(4) == 1 && input.order.is_empty() {
        assert_eq!(outputs, 1, "an in-order train must merge fully");
    }
});
