//! Regression tests, one per pitfall of earlier implementations (rule book "Known pitfalls"),
//! plus the rules those implementations missed (ID continuity, IPv6 field offsets, CWR,
//! ext-header identity, out-of-order prepend) and misuse of the API.

mod common;

use common::{payloads, run, run_with};
use inet_hdr::TcpFlags;
use tcp_gro::{ChecksumStatus, Coalescer, Config};
use testkit::packet::TcpPacket;
use virtio_net_hdr::VirtioNetHdr;

fn seg4(seq: u32, id: u16, len: usize) -> TcpPacket {
    TcpPacket::v4().seq(seq).ip_id(id).payload_len(len)
}

fn seg6(seq: u32, len: usize) -> TcpPacket {
    TcpPacket::v6().seq(seq).payload_len(len)
}

#[test]
fn more_fragments_is_0x20_not_0x80() {
    // MF (0x2000 of the fragment word = 0x20 of byte 6): a fragment, never merged.
    let mf = seg4(100, 1, 100).frag_word(0x2000).build();
    let out = run(&[seg4(0, 0, 100).build(), mf.clone()]);
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|o| !o.merged));
    // The reserved bit (0x80 of byte 6) is not MF, but it flushes (inet_gro_receive item 4):
    // it does not merge, and it completes the run before it, so the next segment starts anew.
    let evil = seg4(100, 1, 100).frag_word(0xc000).build();
    let out = run(&[seg4(0, 0, 100).build(), evil, seg4(200, 2, 100).build()]);
    assert_eq!(out.len(), 3);
    assert!(out.iter().all(|o| !o.merged));
}

#[test]
fn ipv4_options_never_coalesce() {
    let a = seg4(0, 0, 100).ipv4_options(&[1, 1, 1, 1]).build(); // four NOPs, IHL 6
    let b = seg4(100, 1, 100).ipv4_options(&[1, 1, 1, 1]).build();
    let out = run(&[a, b]);
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|o| !o.merged));
}

#[test]
fn ipv6_checks_use_ipv6_offsets() {
    // Traffic class lives in bits 4..12 of the first word and hop limit at byte 7 — not at
    // the IPv4 TOS/TTL offsets (bytes 1 and 8).
    let tc = run(&[seg6(0, 100).build(), seg6(100, 100).tos(0x04).build()]);
    assert_eq!(payloads(&tc), [100, 100]);
    let hop = run(&[seg6(0, 100).build(), seg6(100, 100).ttl(63).build()]);
    assert_eq!(payloads(&hop), [100, 100]);
    // Byte 8 of an IPv6 header is the source address: a difference there is another flow,
    // which does not flush the first (the third segment still joins the first).
    let other_src = seg6(100, 100)
        .addrs6(
            [0xfd, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
        )
        .build();
    let out = run(&[seg6(0, 100).build(), other_src, seg6(100, 100).build()]);
    assert_eq!(payloads(&out), [200, 100]);
    assert_eq!(out[0].indices, [0, 2]);
    // A flow-label difference is another flow too (ipv6_gro_receive same-flow test).
    let fl = seg6(100, 100).flow_label(7).build();
    let out = run(&[seg6(0, 100).build(), fl, seg6(100, 100).build()]);
    assert_eq!(out[0].indices, [0, 2]);
}

#[test]
fn bad_checksum_item_gets_zeroed_valid_header_and_stays_untouched() {
    let bad = seg4(100, 1, 100).bad_checksum().build();
    let mut gro = Coalescer::new(Config::default());
    // Warm the coalescer with a merged batch so stale state would show.
    run_with(
        &mut gro,
        &TcpPacket::v4().train(0, 3, 100),
        ChecksumStatus::Unverified,
    );
    let packets = [
        seg4(0, 0, 100).build(),
        bad.clone(),
        seg4(200, 2, 100).build(),
    ];
    let out = run_with(&mut gro, &packets, ChecksumStatus::Unverified);
    let bad_out = out
        .iter()
        .find(|o| o.indices == [1])
        .expect("passed through alone");
    assert_eq!(bad_out.vnet, VirtioNetHdr::plain());
    assert_eq!(bad_out.bytes, bad);
    // A bad segment does not complete the run: but 0 and 2 are not adjacent, so three outputs.
    assert_eq!(out.len(), 3);
    // Known good: the caller vouches, so it merges (documented: no verification at all).
    let out = run_with(&mut gro, &packets, ChecksumStatus::KnownGood);
    assert_eq!(payloads(&out), [300]);
}

#[test]
fn bad_first_segment_found_at_drain_splits_the_run() {
    // A run's first segment is verified only once something joins it (at drain): a bad one is
    // then passed through alone and the rest is written as its own run, headed by the second
    // segment's own headers — what the kernel builds when the bad segment skips GRO.
    let bad0 = seg4(0, 0, 100).bad_checksum().build();
    let packets = [
        bad0.clone(),
        seg4(100, 1, 100).build(),
        seg4(200, 2, 100).build(),
    ];
    let out = run(&packets);
    assert_eq!(out.len(), 2);
    assert!(!out[0].merged && out[0].bytes == bad0);
    assert!(out[1].merged && out[1].indices == [1, 2]);
    assert_eq!(&out[1].bytes[4..6], &[0, 1], "ID of the new first segment");
    assert_eq!(
        &out[1].bytes[24..28],
        &100u32.to_be_bytes(),
        "its sequence number"
    );
    let mut bufs = vec![vec![0u8; 200]; 2];
    let mut lens = [0; 2];
    tcp_tso::Plan::new(&out[1].vnet, &out[1].bytes)
        .and_then(|p| p.split_to_buffers(&out[1].bytes, 0, &mut bufs, &mut lens))
        .unwrap();
    assert_eq!(&bufs[0][..lens[0]], &packets[1][..]);
    assert_eq!(&bufs[1][..lens[1]], &packets[2][..]);
    // Two members, bad head: both pass through.
    let out = run(&packets[..2]);
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|o| !o.merged));
    // A lone bad segment is never verified at all: it is written unchanged anyway.
    let out = run(&packets[..1]);
    assert_eq!(out[0].bytes, bad0);
}

#[test]
fn bad_checksum_does_not_flush_the_held_run() {
    // 0, bad copy of 1, good 1: the bad one passes alone and 0+1 still merge.
    let packets = [
        seg4(0, 0, 100).build(),
        seg4(100, 1, 100).bad_checksum().build(),
        seg4(100, 1, 100).build(),
    ];
    let out = run(&packets);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].indices, [0, 2]);
}

#[test]
fn zero_gso_size_never_emitted_and_single_is_plain() {
    let out = run(&[seg4(0, 0, 1).build()]);
    assert_eq!(out[0].vnet, VirtioNetHdr::plain());
    // Two one-byte segments: gso_size 1, payload 2 > 1.
    let out = run(&[seg4(0, 0, 1).build(), seg4(1, 1, 1).build()]);
    assert!(out[0].merged);
    assert_eq!(out[0].vnet.gso_size(), 1);
}

#[test]
fn sequence_numbers_wrap() {
    let t = TcpPacket::v4().train(u32::MAX - 150, 4, 100);
    let out = run(&t);
    assert_eq!(payloads(&out), [400]);
    // And prepend across the wrap.
    let rev: Vec<_> = t.iter().rev().cloned().collect();
    let out = run(&rev);
    assert_eq!(payloads(&out), [400]);
    assert_eq!(out[0].indices, [3, 2, 1, 0]);
}

#[test]
fn ipv4_id_wraps_and_continuity_is_required() {
    let ids = |ids: &[u16]| {
        let v: Vec<_> = ids
            .iter()
            .enumerate()
            .map(|(i, &id)| seg4(100 * i as u32, id, 100).build())
            .collect();
        payloads(&run(&v))
    };
    assert_eq!(ids(&[0xffff, 0, 1]), [300]);
    assert_eq!(ids(&[5, 7]), [100, 100], "a gap in IDs");
    assert_eq!(ids(&[5, 4]), [100, 100], "decreasing IDs");
    assert_eq!(ids(&[5, 6, 6]), [200, 100], "incrementing then fixed");
}

#[test]
fn merged_length_limit_is_65535_not_65536() {
    // 40 + 65495 = 65535: merges. 40 + 65496: the last segment does not fit.
    let fits: Vec<_> = (0..5)
        .map(|i| {
            let len = if i < 4 { 16000 } else { 65495 - 64000 };
            seg4(16000 * i as u32, i as u16, len).build()
        })
        .collect();
    let out = run(&fits);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].bytes.len(), 65535);
    let mut over = fits.clone();
    over[4] = seg4(64000, 4, 1496).build();
    let out = run(&over);
    assert_eq!(payloads(&out), [64000, 1496]);
    // Configured lower limit.
    let mut cfg = Config::default();
    cfg.max_merged_len = 40 + 32000;
    let out = run_with(&mut Coalescer::new(cfg), &fits, ChecksumStatus::Unverified);
    assert_eq!(payloads(&out), [32000, 32000, 1495]);
    // Above 65535 is clamped.
    cfg.max_merged_len = 1 << 20;
    assert_eq!(Coalescer::new(cfg).config().max_merged_len, 65535);
}

#[test]
fn ipv6_ext_headers_identical_merge_fragment_never() {
    let p = |seq, hbh: &[u8]| {
        seg6(seq, 100)
            .ext_header(0, hbh)
            .ext_header(60, &[1, 2, 3, 4, 5, 6])
            .build()
    };
    let out = run(&[p(0, &[0; 6]), p(100, &[0; 6])]);
    assert_eq!(payloads(&out), [200]);
    // csum_start is the real L4 offset, after both extension headers; payload_len covers them.
    assert_eq!(out[0].vnet.csum_start(), 56);
    assert_eq!(
        u16::from_be_bytes([out[0].bytes[4], out[0].bytes[5]]) as usize,
        out[0].bytes.len() - 40
    );
    let out = run(&[p(0, &[0; 6]), p(100, &[9; 6])]);
    assert_eq!(out.len(), 2);
    let f = |seq| seg6(seq, 100).ipv6_fragment_header().build();
    let out = run(&[f(0), f(100)]);
    assert!(out.iter().all(|o| !o.merged) && out.len() == 2);
}

#[test]
fn tcp_header_fields_must_match() {
    let base = |seq| seg4(seq, (seq / 100) as u16, 100);
    let cases: [(&str, TcpPacket); 6] = [
        ("window", base(100).window(1)),
        ("ack", base(100).ack(2)),
        ("ece", base(100).flags(TcpFlags::ACK | TcpFlags::ECE)),
        ("reserved bits", base(100).tcp_reserved(1)),
        ("options", base(100).timestamps(1, 2)),
        ("ports", base(100).ports(40001, 5201)),
    ];
    for (name, second) in cases {
        let out = run(&[base(0).build(), second.build()]);
        assert_eq!(payloads(&out), [100, 100], "{name}");
    }
    // The urgent pointer is not compared (the kernel does not either).
    let out = run(&[base(0).build(), base(100).urgent(9).build()]);
    assert_eq!(payloads(&out), [200]);
}

#[test]
fn psh_and_fin_end_the_run_and_are_kept() {
    let fin = seg4(100, 1, 100)
        .flags(TcpFlags::ACK | TcpFlags::FIN)
        .build();
    let out = run(&[seg4(0, 0, 100).build(), fin, seg4(200, 2, 100).build()]);
    assert_eq!(payloads(&out), [200, 100]);
    let tcp = &out[0].bytes[20..40];
    assert_eq!(tcp[13], (TcpFlags::ACK | TcpFlags::FIN).bits());
    // A shorter segment ends the run too.
    let out = run(&[
        seg4(0, 0, 100).build(),
        seg4(100, 1, 50).build(),
        seg4(150, 2, 50).build(),
    ]);
    assert_eq!(payloads(&out), [150, 50]);
    // A larger segment never joins.
    let out = run(&[seg4(0, 0, 100).build(), seg4(100, 1, 101).build()]);
    assert_eq!(payloads(&out), [100, 101]);
}

#[test]
fn cwr_segment_flushes_and_stands_alone() {
    let cwr = |seq, id| {
        seg4(seq, id, 100)
            .flags(TcpFlags::ACK | TcpFlags::CWR)
            .build()
    };
    // CWR first: it does not start a run.
    let out = run(&[
        cwr(0, 0),
        seg4(100, 1, 100).build(),
        seg4(200, 2, 100).build(),
    ]);
    assert_eq!(payloads(&out), [100, 200]);
    assert!(!out[0].merged);
    // CWR in the middle: completes the run in front of it.
    let out = run(&[
        seg4(0, 0, 100).build(),
        cwr(100, 1),
        seg4(200, 2, 100).build(),
    ]);
    assert_eq!(payloads(&out), [100, 100, 100]);
}

#[test]
fn same_flow_non_mergeable_packet_completes_the_run() {
    // A pure ACK of the flow between two adjacent data segments: data must not jump over it.
    let ack = seg4(100, 1, 0).build();
    let out = run(&[seg4(0, 0, 100).build(), ack, seg4(100, 2, 100).build()]);
    assert_eq!(out.len(), 3);
    assert_eq!(
        out.iter().map(|o| o.indices.clone()).collect::<Vec<_>>(),
        [vec![0], vec![1], vec![2]]
    );
}

#[test]
fn out_of_order_prepend_and_append() {
    let s = |i: u32| seg4(100 * i, i as u16, 100).build();
    // 2, 0, 1, 3: 2 starts a run; 0 is not adjacent to it (a second run); 1 appends to 0's
    // run (most recent first); 3 appends to 2's. Each run is written where it began.
    let out = run(&[s(2), s(0), s(1), s(3)]);
    assert_eq!(
        out.iter().map(|o| o.indices.clone()).collect::<Vec<_>>(),
        [vec![0, 3], vec![1, 2]]
    );
    // 1, 0: prepend.
    let out = run(&[s(1), s(0)]);
    assert_eq!(out[0].indices, [1, 0]);
    // The merged header is the true first segment's (seq 0, ID 0).
    assert_eq!(&out[0].bytes[4..6], &[0, 0]);
    assert_eq!(&out[0].bytes[24..28], &[0, 0, 0, 0]);
    // Reverse order of five: one packet.
    let out = run(&[s(4), s(3), s(2), s(1), s(0)]);
    assert_eq!(payloads(&out), [500]);
    // A longer segment can be prepended to a run of one (the old head becomes a short tail).
    let out = run(&[seg4(100, 1, 50).build(), seg4(0, 0, 100).build()]);
    assert_eq!(payloads(&out), [150]);
    assert_eq!(out[0].vnet.gso_size(), 100);
    // …but not to a longer run whose segments would then be shorter than the first.
    let out = run(&[
        seg4(100, 1, 50).build(),
        seg4(150, 2, 50).build(),
        seg4(0, 0, 100).build(),
    ]);
    assert_eq!(payloads(&out), [100, 100]);
    // Kernel-strict mode does not prepend.
    let mut cfg = Config::default();
    cfg.out_of_order = false;
    let out = run_with(
        &mut Coalescer::new(cfg),
        &[s(1), s(0)],
        ChecksumStatus::Unverified,
    );
    assert_eq!(payloads(&out), [100, 100]);
}

#[test]
fn misuse_never_panics() {
    let packets = TcpPacket::v4().train(0, 4, 100);
    let mut gro = Coalescer::new(Config::default());
    for (i, p) in packets.iter().enumerate() {
        gro.push(i, p, ChecksumStatus::Unverified);
    }
    // Drain with fewer packets than pushed: the run no longer matches, members that exist
    // pass through, missing ones are skipped.
    let outs: Vec<_> = gro
        .drain(&packets[..2])
        .map(|o| (o.is_merged(), o.indices().to_vec()))
        .collect();
    assert_eq!(outs, [(false, vec![0]), (false, vec![1])]);
    // Drain with changed lengths: passed through as they are now.
    for (i, p) in packets.iter().enumerate() {
        gro.push(i, p, ChecksumStatus::Unverified);
    }
    let shorter: Vec<Vec<u8>> = packets.iter().map(|p| p[..50].to_vec()).collect();
    let outs: Vec<_> = gro.drain(&shorter).map(|o| o.len()).collect();
    assert_eq!(outs, [50, 50, 50, 50]);
    // Only the last member changed, found after the others were added to the merge: the run
    // is written alone all the same, whether its checksums were to be verified or trusted.
    for csum in [ChecksumStatus::Unverified, ChecksumStatus::KnownGood] {
        for (i, p) in packets.iter().enumerate() {
            gro.push(i, p, csum);
        }
        let mut last_changed = packets.clone();
        last_changed[3].truncate(60);
        let outs: Vec<_> = gro
            .drain(&last_changed)
            .map(|o| (o.is_merged(), o.len()))
            .collect();
        assert_eq!(
            outs,
            [(false, 140), (false, 140), (false, 140), (false, 60)]
        );
        // Trusted, with members missing: those that exist pass through.
        for (i, p) in packets.iter().enumerate() {
            gro.push(i, p, csum);
        }
        let outs: Vec<_> = gro
            .drain(&packets[..2])
            .map(|o| o.indices().to_vec())
            .collect();
        assert_eq!(outs, [vec![0], vec![1]]);
    }
    // A drain with nothing pushed since the last one is an empty batch (not the last one
    // again, which would describe other buffers); clear forgets pushed packets.
    for (i, p) in packets.iter().enumerate() {
        gro.push(i, p, ChecksumStatus::Unverified);
    }
    assert_eq!(gro.drain(&packets).count(), 1);
    assert_eq!(gro.drain(&packets).count(), 0);
    gro.push(0, &packets[0], ChecksumStatus::Unverified);
    gro.clear();
    assert_eq!(gro.drain(&packets).count(), 0);
}

#[test]
fn materialize_checks_capacity_first() {
    let packets = TcpPacket::v6().train(0, 3, 1000);
    let mut gro = Coalescer::new(Config::default());
    for (i, p) in packets.iter().enumerate() {
        gro.push(i, p, ChecksumStatus::Unverified);
    }
    let out = gro.drain(&packets).next().unwrap();
    let mut small = vec![0xaau8; out.len() - 1];
    let err = out.materialize(&mut small).unwrap_err();
    assert_eq!((err.needed, err.available), (3060, 3059));
    assert!(small.iter().all(|&b| b == 0xaa), "nothing written on error");
    assert_eq!(
        err.to_string(),
        "buffer of 3059 bytes is too small for a 3060-byte packet"
    );
}

#[test]
#[cfg(feature = "std")] // the IoSlice helpers are the std feature's
fn io_slices_cover_the_packet() {
    let packets = TcpPacket::v4().train(0, 3, 1000);
    let mut gro = Coalescer::new(Config::default());
    for (i, p) in packets.iter().enumerate() {
        gro.push(i, p, ChecksumStatus::Unverified);
    }
    let mut iov = Vec::new();
    let mut buf = tcp_gro::IoSliceBuf::with_capacity(8);
    for out in gro.drain(&packets) {
        out.io_slices(out.vnet_bytes(), &mut iov);
        let flat: Vec<u8> = iov.iter().flat_map(|s| s.iter().copied()).collect();
        let mut whole = vec![0u8; out.len()];
        out.materialize(&mut whole).unwrap();
        assert_eq!(&flat[..10], &out.vnet_hdr().to_bytes());
        assert_eq!(&flat[10..], &whole[..]);
        let cap = buf.capacity();
        let n = out.with_io_slices(out.vnet_bytes(), &mut buf, |s| {
            s.iter().map(|x| x.len()).sum::<usize>()
        });
        assert_eq!(n, 10 + out.len());
        assert_eq!(buf.capacity(), cap, "storage kept across calls");
    }
}
