//! One test per merge rule of rule book §2.5 (and the IP rules of §2.2/§2.3 as UDP GRO applies
//! them), plus exact-bytes vectors of merged packets. The expected bytes were computed apart
//! from this crate (by hand from RFC 768/791/8200 and the kernel's completion functions).

mod common;

use common::{Out, groups, resegment, run, run_with};
use testkit::udp::{UdpChecksum, UdpPacket};
use udp_gro::{ChecksumStatus, Coalescer, Config, MAX_SEGMENTS};
use virtio_net_hdr::VirtioNetHdr;

const UNV: ChecksumStatus = ChecksumStatus::Unverified;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// `n` datagrams of `len` bytes of one IPv4 flow, IDs incrementing.
fn train4(n: usize, len: usize) -> Vec<Vec<u8>> {
    UdpPacket::v4().ip_id(100).train(n, len)
}

/// Datagram `i` of an IPv4 train (ID 100 + i), built from `b`.
fn nth4(b: UdpPacket, i: u16, len: usize) -> Vec<u8> {
    b.ip_id(100 + i).seed(i as u8).payload_len(len).build()
}

#[test]
fn ipv4_vector_exact_bytes() {
    let packets = vec![
        hex("4500002012344000401114970a0000010a0000029c401151000c797b61626364"),
        hex("4500002012354000401114960a0000010a0000029c401151000c717365666768"),
        hex("4500001e12364000401114970a0000010a0000029c401151000ad4db696a"),
    ];
    let outs = run(&packets, UNV);
    assert_eq!(outs.len(), 1);
    // tot_len 38, header checksum 0x1491; UDP length 18 and the folded pseudo-header sum over
    // it, 0x1426; the three payloads.
    let expect =
        hex("4500002612344000401114910a0000010a0000029c401151001214266162636465666768696a");
    assert_eq!(outs[0].bytes, expect);
    // NEEDS_CSUM, UDP_L4, hdr_len 28, gso_size 4, csum_start 20, csum_offset 6 (host order).
    let mut vnet = vec![0x01, 0x05];
    for f in [28u16, 4, 20, 6] {
        vnet.extend_from_slice(&f.to_ne_bytes());
    }
    assert_eq!(outs[0].vnet.to_bytes(), &vnet[..]);
    assert_eq!(resegment(&outs[0]), packets);
}

#[test]
fn ipv6_vector_exact_bytes() {
    let packets = vec![
        hex(
            "60012345000d1140fd000000000000000000000000000001fd000000000000000000000000000002\
             9c401151000d146c68656c6c6f",
        ),
        hex(
            "60012345000d1140fd000000000000000000000000000001fd000000000000000000000000000002\
             9c401151000d0a62776f726c64",
        ),
        hex(
            "60012345000d1140fd000000000000000000000000000001fd000000000000000000000000000002\
             9c401151000d276d616761696e",
        ),
    ];
    let outs = run(&packets, UNV);
    assert_eq!(outs.len(), 1);
    let expect = hex(
        "6001234500171140fd000000000000000000000000000001fd000000000000000000000000000002\
         9c4011510017fa2c68656c6c6f776f726c64616761696e",
    );
    assert_eq!(outs[0].bytes, expect);
    assert_eq!(outs[0].vnet, VirtioNetHdr::udp_gso(40, 5));
    assert_eq!(resegment(&outs[0]), packets);
}

#[test]
fn same_size_merges_and_shorter_merges_then_ends_the_run() {
    let b = UdpPacket::v4();
    let packets = vec![
        nth4(b.clone(), 0, 1200),
        nth4(b.clone(), 1, 1200),
        nth4(b.clone(), 2, 700),
        nth4(b, 3, 1200),
    ];
    let outs = run(&packets, UNV);
    assert_eq!(groups(&outs), [vec![0, 1, 2], vec![3]]);
    assert_eq!(outs[0].vnet.gso_size(), 1200);
    assert_eq!(outs[0].bytes.len(), 28 + 3100);
}

#[test]
fn longer_datagram_starts_a_new_run() {
    let b = UdpPacket::v4();
    let packets = vec![
        nth4(b.clone(), 0, 1000),
        nth4(b.clone(), 1, 1000),
        nth4(b.clone(), 2, 1001),
        nth4(b, 3, 1001),
    ];
    let outs = run(&packets, UNV);
    assert_eq!(groups(&outs), [vec![0, 1], vec![2, 3]]);
    assert_eq!(outs[1].vnet.gso_size(), 1001);
}

#[test]
fn at_most_64_datagrams_per_packet() {
    let packets = train4(150, 10);
    let outs = run(&packets, UNV);
    let sizes: Vec<usize> = outs.iter().map(|o| o.indices.len()).collect();
    assert_eq!(sizes, [64, 64, 22]);
    assert_eq!(MAX_SEGMENTS, 64);
    let again: Vec<Vec<u8>> = outs.iter().flat_map(resegment).collect();
    assert_eq!(again, packets);
}

#[test]
fn max_segments_is_configurable_and_clamped() {
    let packets = train4(10, 10);
    let mut c = Config::default();
    c.max_segments = 4;
    let mut gro = Coalescer::new(c);
    let outs = run_with(&mut gro, &packets, &packets, &|_| UNV);
    assert_eq!(
        groups(&outs),
        [vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]]
    );
    c.max_segments = 1;
    let mut gro = Coalescer::new(c);
    assert!(
        run_with(&mut gro, &packets, &packets, &|_| UNV)
            .iter()
            .all(|o| !o.merged)
    );
    c.max_segments = 500;
    assert_eq!(Coalescer::new(c).config().max_segments, 64);
}

#[test]
fn exactly_65535_bytes_merges_one_more_does_not() {
    // IPv4: 28 + 5 × 13101 = 65533: then 2 more bytes fit (65535), 3 do not.
    let b = UdpPacket::v4();
    for (last, merged) in [(2, true), (3, false)] {
        let mut packets: Vec<Vec<u8>> = (0..5).map(|i| nth4(b.clone(), i, 13101)).collect();
        packets.push(nth4(b.clone(), 5, last));
        let outs = run(&packets, UNV);
        let first_len = outs[0].bytes.len();
        if merged {
            assert_eq!(groups(&outs), [vec![0, 1, 2, 3, 4, 5]]);
            assert_eq!(first_len, 65535);
        } else {
            assert_eq!(groups(&outs), [vec![0, 1, 2, 3, 4], vec![5]]);
            assert_eq!(first_len, 65533);
        }
    }
    // IPv6: 48 + 65487 payload bytes in two datagrams is 65535.
    let v6 = UdpPacket::v6();
    let packets = vec![
        v6.clone().payload_len(32744).build(),
        v6.clone().seed(1).payload_len(32743).build(),
    ];
    let outs = run(&packets, UNV);
    assert_eq!(groups(&outs), [vec![0, 1]]);
    assert_eq!(outs[0].bytes.len(), 65535);
    let mut c = Config::default();
    c.max_merged_len = 65534;
    let mut gro = Coalescer::new(c);
    assert_eq!(run_with(&mut gro, &packets, &packets, &|_| UNV).len(), 2);
}

/// Datagrams 0–1 of a flow, then 2–3 with `change` applied: a change of an IP field that
/// must be equal completes the packet and starts the next.
fn class_change(base: UdpPacket, change: impl Fn(UdpPacket) -> UdpPacket) {
    let packets: Vec<Vec<u8>> = (0..4u16)
        .map(|i| {
            let b = if i < 2 {
                base.clone()
            } else {
                change(base.clone())
            };
            nth4(b, i, 500)
        })
        .collect();
    let outs = run(&packets, UNV);
    assert_eq!(groups(&outs), [vec![0, 1], vec![2, 3]], "{base:?}");
}

#[test]
fn ttl_tos_ecn_df_changes_start_a_new_run() {
    class_change(UdpPacket::v4(), |b| b.ttl(63));
    class_change(UdpPacket::v4(), |b| b.tos(0x10));
    class_change(UdpPacket::v4(), |b| b.tos(0x01)); // ECN ECT(1)
    class_change(UdpPacket::v4(), |b| b.df(false));
    class_change(UdpPacket::v6(), |b| b.tos(0x02)); // traffic class (ECN)
    class_change(UdpPacket::v6(), |b| b.tos(0x20));
    class_change(UdpPacket::v6(), |b| b.ttl(1)); // hop limit
}

#[test]
fn ipv6_flow_label_or_extension_header_is_another_flow() {
    // Interleaved: A0 B0 A1 B1 with B differing in flow label (or an extension header): two
    // flows, each merged, the other's datagrams not completing them.
    for other in [
        UdpPacket::v6().flow_label(0x54321),
        UdpPacket::v6().ipv6_dest_opts(8),
    ] {
        let a = UdpPacket::v6();
        let packets = vec![
            a.clone().payload_len(300).build(),
            other.clone().payload_len(300).build(),
            a.clone().seed(1).payload_len(300).build(),
            other.clone().seed(1).payload_len(300).build(),
        ];
        let outs = run(&packets, UNV);
        assert_eq!(groups(&outs), [vec![0, 2], vec![1, 3]]);
        for o in &outs {
            let again = resegment(o);
            assert_eq!(again[0], packets[o.indices[0]]);
            assert_eq!(again[1], packets[o.indices[1]]);
        }
    }
    // With an extension header a flow still merges; csum_start is past it.
    let e = UdpPacket::v6().ipv6_dest_opts(16);
    let packets = e.train(3, 400);
    let outs = run(&packets, UNV);
    assert_eq!(groups(&outs), [vec![0, 1, 2]]);
    assert_eq!(outs[0].vnet.csum_start(), 56);
    assert_eq!(resegment(&outs[0]), packets);
}

#[test]
fn ports_and_addresses_tell_flows_apart() {
    let a = UdpPacket::v4();
    let b = UdpPacket::v4().ports(40001, 4433);
    let c = UdpPacket::v4().addrs4([10, 0, 0, 3], [10, 0, 0, 2]);
    let packets = vec![
        nth4(a.clone(), 0, 100),
        nth4(b.clone(), 0, 100),
        nth4(c.clone(), 0, 100),
        nth4(a, 1, 100),
        nth4(b, 1, 100),
        nth4(c, 1, 100),
    ];
    assert_eq!(
        groups(&run(&packets, UNV)),
        [vec![0, 3], vec![1, 4], vec![2, 5]]
    );
}

/// Datagrams 0, 1, X, 3, 4 of one flow where X (index 2) may not merge: it is written alone
/// and, unless `completes`, the packet it interrupted goes on.
fn never_merged(x: Vec<u8>, completes: bool) {
    let b = UdpPacket::v4();
    let packets = vec![
        nth4(b.clone(), 0, 200),
        nth4(b.clone(), 1, 200),
        x,
        nth4(b.clone(), 2, 200),
        nth4(b, 3, 200),
    ];
    let outs = run(&packets, UNV);
    if completes {
        assert_eq!(groups(&outs), [vec![0, 1], vec![2], vec![3, 4]]);
    } else {
        assert_eq!(groups(&outs), [vec![0, 1, 3, 4], vec![2]]);
    }
    assert!(!outs.iter().find(|o| o.indices == [2]).unwrap().merged);
}

#[test]
fn never_merged_and_leaving_the_held_packet_alone() {
    let b = UdpPacket::v4().ip_id(102).payload_len(200);
    // UDP checksum 0 ("no checksum"), a bad checksum, an empty datagram.
    never_merged(b.clone().checksum(UdpChecksum::Zero).build(), false);
    never_merged(b.clone().checksum(UdpChecksum::Bad).build(), false);
    never_merged(b.clone().payload_len(0).build(), false);
    // A UDP length other than the IP payload's (shorter: padding; longer).
    never_merged(b.clone().udp_len(100).build(), false);
    never_merged(b.clone().udp_len(300).build(), false);
    // IPv4 options, MF, a fragment offset, a bad IPv4 header checksum.
    never_merged(b.clone().ipv4_options(&[1, 1, 1, 1]).build(), false);
    never_merged(b.clone().frag_word(0x4000 | 0x2000).build(), false);
    never_merged(b.clone().frag_word(0x0010).build(), false);
    let mut bad_ip = b.clone().build();
    bad_ip[10] ^= 0x40;
    never_merged(bad_ip, false);
    // Not UDP at all.
    never_merged(
        vec![
            0x45, 0, 0, 20, 0, 0, 0x40, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ],
        false,
    );
    // The reserved IPv4 flag bit: not merged, but it completes the flow's packet.
    never_merged(b.frag_word(0x8000 | 0x4000).build(), true);
}

#[test]
fn ipv6_zero_checksum_and_bad_checksum_never_merge() {
    let b = UdpPacket::v6();
    for x in [UdpChecksum::Zero, UdpChecksum::Bad] {
        let packets = vec![
            b.clone().payload_len(100).build(),
            b.clone().seed(1).payload_len(100).checksum(x).build(),
            b.clone().seed(2).payload_len(100).build(),
        ];
        assert_eq!(groups(&run(&packets, UNV)), [vec![0, 2], vec![1]]);
    }
}

#[test]
fn ipv4_ids_increment_or_stay_fixed() {
    let b = UdpPacket::v4();
    let ids = |ids: &[u16]| -> Vec<Vec<u8>> {
        ids.iter()
            .enumerate()
            .map(|(i, &id)| b.clone().ip_id(id).seed(i as u8).payload_len(100).build())
            .collect()
    };
    // Incrementing, across the wrap.
    assert_eq!(
        groups(&run(&ids(&[0xfffe, 0xffff, 0, 1]), UNV)),
        [vec![0, 1, 2, 3]]
    );
    // Fixed (DF=1).
    assert_eq!(groups(&run(&ids(&[7, 7, 7]), UNV)), [vec![0, 1, 2]]);
    // A jump ends the run; so does a switch between the two.
    assert_eq!(
        groups(&run(&ids(&[1, 2, 4, 5]), UNV)),
        [vec![0, 1], vec![2, 3]]
    );
    assert_eq!(
        groups(&run(&ids(&[1, 2, 2, 2]), UNV)),
        [vec![0, 1], vec![2, 3]]
    );
    assert_eq!(
        groups(&run(&ids(&[5, 5, 6, 7]), UNV)),
        [vec![0, 1], vec![2, 3]]
    );
    // Fixed IDs with DF=0 do not merge (rule book §0); incrementing ones do.
    let nodf = |ids: &[u16]| -> Vec<Vec<u8>> {
        ids.iter()
            .enumerate()
            .map(|(i, &id)| {
                b.clone()
                    .df(false)
                    .ip_id(id)
                    .seed(i as u8)
                    .payload_len(100)
                    .build()
            })
            .collect()
    };
    assert_eq!(
        groups(&run(&nodf(&[9, 9, 9]), UNV)),
        [vec![0], vec![1], vec![2]]
    );
    assert_eq!(groups(&run(&nodf(&[9, 10, 11]), UNV)), [vec![0, 1, 2]]);
    // A fixed-ID run keeps the first ID; the kernel cuts it with incrementing IDs.
    let fixed = run(&ids(&[7, 7, 7]), UNV);
    assert_eq!(fixed[0].bytes[4..6], [0, 7]);
}

#[test]
fn checksums_are_verified_before_joining_unless_known_good() {
    let b = UdpPacket::v4();
    let mut packets = train4(4, 300);
    packets[1] = nth4(b.clone().checksum(UdpChecksum::Bad), 1, 300);
    // Unverified: the bad one alone, unchanged; the next one's ID is then a jump.
    let outs = run(&packets, UNV);
    assert_eq!(groups(&outs), [vec![0], vec![1], vec![2, 3]]);
    // Known good: trusted, merged as it is.
    let outs = run(&packets, ChecksumStatus::KnownGood);
    assert_eq!(groups(&outs), [vec![0, 1, 2, 3]]);
}

#[test]
fn a_bad_first_datagram_is_written_alone_and_the_rest_merges() {
    let b = UdpPacket::v4();
    let mut packets = train4(4, 300);
    packets[0] = nth4(b.checksum(UdpChecksum::Bad), 0, 300);
    let outs = run(&packets, UNV);
    assert_eq!(groups(&outs), [vec![0], vec![1, 2, 3]]);
    assert_eq!(outs[0].bytes, packets[0]);
    // The rest is written behind the second datagram's headers.
    assert_eq!(resegment(&outs[1]), packets[1..]);
    // Two members, the first bad: the second is alone too.
    let outs = run(&packets[..2], UNV);
    assert_eq!(groups(&outs), [vec![0], vec![1]]);
}

#[test]
fn a_bad_datagram_that_would_complete_the_run_leaves_it_open() {
    // A longer datagram completes the run, but not when its checksum fails: the kernel
    // validates first.
    let b = UdpPacket::v4();
    let packets = vec![
        nth4(b.clone(), 0, 300),
        nth4(b.clone(), 1, 300),
        nth4(b.clone().checksum(UdpChecksum::Bad), 2, 900),
        nth4(b, 2, 300),
    ];
    assert_eq!(groups(&run(&packets, UNV)), [vec![0, 1, 3], vec![2]]);
}

#[test]
fn lone_datagrams_are_written_unchanged() {
    let packets: Vec<Vec<u8>> = (0..10u16)
        .map(|p| UdpPacket::v4().ports(p, 53).payload_len(50).build())
        .collect();
    let outs = run(&packets, UNV);
    assert_eq!(outs.len(), 10);
    assert!(outs.iter().all(|o: &Out| !o.merged));
}

#[test]
fn two_part_datagrams_merge_from_where_their_payload_lies() {
    let packets = UdpPacket::v6().train(5, 333);
    let parts: Vec<(Vec<u8>, Vec<u8>)> = packets
        .iter()
        .map(|p| (p[..48].to_vec(), p[48..].to_vec()))
        .collect();
    let src = testkit::packet::TwoPart(parts);
    let mut gro = Coalescer::new(Config::default());
    let outs = run_with(&mut gro, &packets, &src, &|_| UNV);
    assert_eq!(groups(&outs), [vec![0, 1, 2, 3, 4]]);
    assert_eq!(resegment(&outs[0]), packets);
    // A cut anywhere else: passed through whole.
    let parts: Vec<(Vec<u8>, Vec<u8>)> = packets
        .iter()
        .map(|p| (p[..50].to_vec(), p[50..].to_vec()))
        .collect();
    let src = testkit::packet::TwoPart(parts);
    let mut gro = Coalescer::new(Config::default());
    for (i, (h, p)) in src.0.iter().enumerate() {
        gro.push_parts(i, h, p, UNV);
    }
    let outs: Vec<_> = gro.drain(&src).collect();
    assert_eq!(outs.len(), 5);
    assert!(outs.iter().all(|o| !o.is_merged() && o.len() == 48 + 333));
}

#[test]
fn a_source_that_changed_since_push_is_written_as_it_is() {
    let packets = train4(3, 100);
    let mut gro = Coalescer::new(Config::default());
    for (i, p) in packets.iter().enumerate() {
        gro.push(i, p, UNV);
    }
    let shorter = vec![packets[0].clone(), packets[1][..60].to_vec()];
    let outs: Vec<_> = gro.drain(&shorter).collect();
    // Index 2 is missing now: skipped; the others are written alone, as they are.
    assert_eq!(outs.len(), 2);
    assert!(outs.iter().all(|o| !o.is_merged()));
    assert_eq!(outs[1].len(), 60);
}

#[test]
fn a_run_whose_last_member_changed_is_written_alone() {
    // Found on the merge's own walk after two members were added: none of them is merged.
    let packets = train4(3, 100);
    let mut gro = Coalescer::new(Config::default());
    for (i, p) in packets.iter().enumerate() {
        gro.push(i, p, UNV);
    }
    let changed = vec![
        packets[0].clone(),
        packets[1].clone(),
        packets[2][..60].to_vec(),
    ];
    let outs: Vec<_> = gro.drain(&changed).collect();
    assert_eq!(outs.len(), 3);
    assert!(outs.iter().all(|o| !o.is_merged()));
    let lens: Vec<_> = outs.iter().map(|o| o.len()).collect();
    assert_eq!(lens, [128, 128, 60]);
    // The next batch is whole again.
    let outs = run_with(&mut gro, &packets, &packets, &|_| UNV);
    assert_eq!(groups(&outs), [vec![0, 1, 2]]);
}

#[test]
fn a_run_whose_head_changed_writes_the_head_as_it_is() {
    // The head, checked at drain, no longer checks out: it goes alone as it is now, and the
    // unchanged rest merges behind its own headers (as for a head with a bad checksum).
    let packets = train4(4, 100);
    let mut gro = Coalescer::new(Config::default());
    for (i, p) in packets.iter().enumerate() {
        gro.push(i, p, UNV);
    }
    let mut changed = packets.clone();
    changed[0].truncate(70);
    let outs: Vec<_> = gro.drain(&changed).collect();
    let groups: Vec<_> = outs.iter().map(|o| o.indices().to_vec()).collect();
    assert_eq!(groups, [vec![0], vec![1, 2, 3]]);
    assert_eq!(outs[0].len(), 70);
    assert!(outs[1].is_merged());
    assert_eq!(outs[1].len(), 28 + 300);
}

#[test]
fn batches_are_independent() {
    let mut gro = Coalescer::new(Config::default());
    let a = train4(3, 100);
    let outs = run_with(&mut gro, &a, &a, &|_| UNV);
    assert_eq!(groups(&outs), [vec![0, 1, 2]]);
    // The next batch continues the same flow: nothing is held over.
    let b: Vec<Vec<u8>> = (3..6).map(|i| nth4(UdpPacket::v4(), i, 100)).collect();
    let outs = run_with(&mut gro, &b, &b, &|_| UNV);
    assert_eq!(groups(&outs), [vec![0, 1, 2]]);
    // Draining twice: the second is an empty batch.
    assert_eq!(gro.drain(&b).len(), 0);
}
