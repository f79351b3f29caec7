//! Every malformed-input case gives its specific typed error; out-of-room is exact and
//! resumable; non-GSO packets pass through or are finished; the edges of USO (rule book §5.3)
//! are decided as the kernel decides them.

use inet_hdr::ParseError;
use testkit::packet::TcpPacket;
use testkit::udp::UdpPacket;
use udp_gso::{ChecksumStatus, Malformed, Plan, SegmentRef, Span, SplitError};
mod common;
use common::{
    finish_in_place, segments_of, split, split_headers_with, split_in_place, split_to_buffers,
    split_with,
};
use virtio_net_hdr::{Error as HdrError, Flags, Gso, GsoKind, GsoType, Offload, VirtioNetHdr};

fn err(hdr: &VirtioNetHdr, pkt: &[u8]) -> SplitError {
    let mut slab = vec![0u8; 70_000];
    let mut spans = [Span::default(); 200];
    let e = split(hdr, pkt, 0, &mut slab, 0, &mut spans).unwrap_err();
    // Every entry point reports the same error.
    assert_eq!(segments_of(hdr, pkt), Err(e));
    let mut bufs = vec![vec![0u8; 70_000]; 2];
    let mut lens = [0usize; 2];
    assert_eq!(split_to_buffers(hdr, pkt, 0, &mut bufs, &mut lens), Err(e));
    let mut slab2 = vec![0u8; 70_000 + pkt.len()];
    let at = slab2.len() - pkt.len();
    slab2[at..].copy_from_slice(pkt);
    let end = slab2.len();
    assert_eq!(
        split_in_place(hdr, &mut slab2, at..end, 0, &mut spans),
        Err(e)
    );
    e
}

fn v4() -> (VirtioNetHdr, Vec<u8>) {
    UdpPacket::v4().payload_len(3000).gso_size(1000).build_gso()
}

fn v6() -> (VirtioNetHdr, Vec<u8>) {
    UdpPacket::v6().payload_len(3000).gso_size(1000).build_gso()
}

/// The whole split into one big slab, as a list of datagrams.
fn reference(h: &VirtioNetHdr, p: &[u8]) -> Vec<Vec<u8>> {
    let mut slab = vec![0u8; 200_000];
    let mut spans = vec![Span::default(); 200];
    let out = split(h, p, 0, &mut slab, 0, &mut spans).unwrap();
    spans[..out.segments]
        .iter()
        .map(|s| slab[s.range()].to_vec())
        .collect()
}

#[test]
fn gso_size_zero_and_gso_by_frags() {
    for (mut h, p) in [v4(), v6()] {
        h.set_gso_size(0);
        assert_eq!(err(&h, &p), SplitError::Header(HdrError::ZeroGsoSize));
        // Rule book §5.4.4: refused for UDP_L4 as for TCP, whatever the payload.
        h.set_gso_size(VirtioNetHdr::GSO_BY_FRAGS);
        assert_eq!(err(&h, &p), SplitError::Header(HdrError::GsoByFrags));
    }
}

/// `virtio_net_hdr_to_skb`: payload > gso_size × UDP_MAX_SEGMENTS (128) is refused; exactly
/// 128 datagrams is the most a plan makes.
#[test]
fn more_than_udp_max_segments_is_refused() {
    for sp in [UdpPacket::v4(), UdpPacket::v6().ipv6_dest_opts(8)] {
        let (h, p) = sp.clone().payload_len(128 * 100).gso_size(100).build_gso();
        assert_eq!(segments_of(&h, &p), Ok(128));
        assert_eq!(reference(&h, &p).len(), 128);
        let (h, p) = sp
            .clone()
            .payload_len(128 * 100 + 1)
            .gso_size(100)
            .build_gso();
        assert_eq!(err(&h, &p), SplitError::Header(HdrError::TooManySegments));
        assert_eq!(h.check_kernel(&p), Err(HdrError::TooManySegments));
        // gso_size 1: 128 bytes of payload split, 129 refused.
        let (h, p) = sp.clone().payload_len(128).gso_size(1).build_gso();
        assert_eq!(segments_of(&h, &p), Ok(128));
        let (h, p) = sp.payload_len(129).gso_size(1).build_gso();
        assert_eq!(err(&h, &p), SplitError::Header(HdrError::TooManySegments));
    }
}

#[test]
fn csum_start_outside_packet_or_not_at_the_udp_header() {
    let (mut h, p) = v4();
    h.set_csum_start(p.len() as u16);
    assert!(matches!(
        err(&h, &p),
        SplitError::Header(HdrError::CsumOutOfBounds { .. })
    ));
    // Inside the packet but the 8-byte UDP header would not fit.
    h.set_csum_start((p.len() - 4) as u16);
    assert!(matches!(
        err(&h, &p),
        SplitError::Header(HdrError::CsumOutOfBounds { .. })
    ));
    // __udp_gso_segment: skb_checksum_start != skb_transport_header.
    h.set_csum_start(24);
    assert_eq!(
        err(&h, &p),
        SplitError::Header(HdrError::CsumStartNotL4 {
            csum_start: 24,
            l4_offset: 20
        })
    );
    // Below the minimum IP header.
    h.set_csum_start(16);
    assert!(matches!(
        err(&h, &p),
        SplitError::Header(HdrError::CsumStartTooSmall { .. })
    ));
    // IPv6 with a Destination Options header: csum_start must be past it.
    let (mut h, p) = UdpPacket::v6()
        .ipv6_dest_opts(16)
        .payload_len(3000)
        .gso_size(1000)
        .build_gso();
    assert_eq!(h.csum_start(), 56);
    h.set_csum_start(40);
    assert_eq!(
        err(&h, &p),
        SplitError::Header(HdrError::CsumStartNotL4 {
            csum_start: 40,
            l4_offset: 56
        })
    );
}

#[test]
fn header_field_errors() {
    let (h, p) = v4();
    // The ECN bit with UDP_L4.
    let mut e = h;
    e.set_gso_type(GsoType(GsoType::UDP_L4.0 | GsoType::ECN.0));
    assert_eq!(err(&e, &p), SplitError::Header(HdrError::EcnNotAllowed));
    // UDP_L4 without NEEDS_CSUM.
    let mut e = h;
    e.set_flags(Flags::EMPTY);
    assert_eq!(
        err(&e, &p),
        SplitError::Header(HdrError::GsoWithoutNeedsCsum)
    );
    // csum_offset not the UDP checksum.
    let mut e = h;
    e.set_csum_offset(16);
    assert_eq!(
        err(&e, &p),
        SplitError::Header(HdrError::BadCsumOffset {
            expected: 6,
            found: 16
        })
    );
    // UFO: not split.
    let mut e = h;
    e.set_gso_type(GsoType::UDP);
    assert_eq!(
        err(&e, &p),
        SplitError::Header(HdrError::UnsupportedGsoType(3))
    );
}

#[test]
fn tcp_gso_types_are_not_ours() {
    let (h, p) = TcpPacket::super_v4(3000, 1000).build_gso();
    assert_eq!(err(&h, &p), SplitError::Unsupported(GsoKind::TcpV4));
    let (h, p) = TcpPacket::super_v6(3000, 1000).build_gso();
    assert_eq!(err(&h, &p), SplitError::Unsupported(GsoKind::TcpV6));
}

#[test]
fn not_udp_and_fragments() {
    // A UDP_L4 header in front of a TCP packet: tcp4_gso_segment refuses it.
    let (_, p) = TcpPacket::super_v4(3000, 1000).build_gso();
    let h = VirtioNetHdr::udp_gso(20, 1000);
    assert_eq!(err(&h, &p), SplitError::Malformed(Malformed::NotUdp(6)));
    // IPv4 MF set, or a fragment offset: inet_gso_segment copies the fragment fields into
    // every datagram, and so do we.
    for word in [0x2000u16, 0x2001, 0x0001, 0x0000] {
        let (h, p) = UdpPacket::v4()
            .frag_word(word)
            .payload_len(3000)
            .gso_size(1000)
            .build_gso();
        let segs = reference(&h, &p);
        assert_eq!(segs.len(), 3);
        for s in &segs {
            assert_eq!(u16::from_be_bytes([s[6], s[7]]), word);
        }
    }
    // An IPv6 Fragment header (in the place of an 8-byte Destination Options header): no GSO
    // handler takes it.
    let (h, mut p) = UdpPacket::v6()
        .ipv6_dest_opts(8)
        .payload_len(3000)
        .gso_size(1000)
        .build_gso();
    p[6] = 44;
    p[40..48].copy_from_slice(&[17, 0, 0, 1, 0, 0, 0, 7]);
    assert_eq!(err(&h, &p), SplitError::Malformed(Malformed::Fragment));
}

#[test]
fn lengths_that_disagree() {
    // IPv4 total length and IPv6 payload length must match the buffer (the kernel's IP input
    // trims to them; a read never has trailing bytes).
    let (h, mut p) = v4();
    p.push(0);
    assert!(matches!(
        err(&h, &p),
        SplitError::Malformed(Malformed::Ip(ParseError::LengthMismatch { .. }))
    ));
    let (h, mut p) = v6();
    p[4..6].copy_from_slice(&1u16.to_be_bytes());
    assert!(matches!(
        err(&h, &p),
        SplitError::Malformed(Malformed::Ip(ParseError::LengthMismatch { .. }))
    ));
    // The UDP length field is not checked (the kernel does not): it only enters the checksum
    // (vectors: `udp_length_field_is_what_the_partial_sum_loses`).
    for field in [0u16, 8, 9, 0xffff] {
        let (h, p) = UdpPacket::v4()
            .udp_len(field)
            .payload_len(3000)
            .gso_size(1000)
            .build_gso();
        let segs = reference(&h, &p);
        assert_eq!(segs.len(), 3);
        for s in &segs {
            assert_eq!(u16::from_be_bytes([s[24], s[25]]), 1008);
        }
    }
}

#[test]
fn resume_past_end_and_input_outside_slab() {
    let (h, p) = v4();
    let mut slab = vec![0u8; 10_000];
    let mut spans = [Span::default(); 4];
    assert_eq!(
        split(&h, &p, 3, &mut slab, 0, &mut spans),
        Err(SplitError::ResumePastEnd {
            first_segment: 3,
            segments: 3
        })
    );
    let mut bufs = vec![vec![0u8; 2000]; 2];
    assert_eq!(
        split_to_buffers(&h, &p, 7, &mut bufs, &mut [0; 2]),
        Err(SplitError::ResumePastEnd {
            first_segment: 7,
            segments: 3
        })
    );
    let plan = Plan::new(&h, &p).unwrap();
    assert_eq!(
        plan.split_in_place(udp_gso::Slab::new(&mut slab, 0), 9_000..12_000, &mut spans),
        Err(SplitError::InputOutsideSlab {
            start: 9_000,
            end: 12_000,
            slab_len: 10_000
        })
    );
    assert_eq!((plan.room(3, 0), plan.header_room(3, 0)), (0, 0));
    assert_eq!(plan.segment_len(3), 0);
    // An absurd headroom saturates instead of overflowing.
    assert_eq!(plan.room(0, usize::MAX), usize::MAX);
    assert_eq!(plan.header_room(0, usize::MAX), usize::MAX);
}

#[test]
fn finish_in_place_refuses_gso() {
    let (h, mut p) = v4();
    assert_eq!(finish_in_place(&h, &mut p), Err(SplitError::NeedsSplit));
    assert_eq!(p, v4().1);
}

#[test]
fn out_of_room_spans_slab_and_buffers() {
    let (h, p) = UdpPacket::v6()
        .payload_len(9_500)
        .gso_size(1000)
        .build_gso(); // 10 datagrams, the last 500
    let want = reference(&h, &p);
    // Spans for 3 at a time: resumable, the same bytes.
    let mut slab = vec![0u8; 100_000];
    let mut got = Vec::new();
    let mut next = 0;
    loop {
        let mut spans = [Span::default(); 3];
        match split(&h, &p, next, &mut slab, 4, &mut spans) {
            Ok(out) => {
                got.extend(
                    spans[..out.segments]
                        .iter()
                        .map(|s| slab[s.range()].to_vec()),
                );
                assert_eq!(next + out.segments, 10);
                break;
            }
            Err(SplitError::OutOfRoom {
                written,
                resume_at,
                used,
            }) => {
                assert_eq!((written, resume_at), (3, next + 3));
                assert_eq!(used, 3 * (4 + 48 + 1000));
                got.extend(spans.iter().map(|s| slab[s.range()].to_vec()));
                next = resume_at;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(got, want);
    // A slab for two and most of a third.
    let d = 16 + 48 + 1000;
    let mut slab = vec![0u8; 3 * d - 1];
    let mut spans = [Span::default(); 10];
    assert_eq!(
        split(&h, &p, 0, &mut slab, 16, &mut spans),
        Err(SplitError::OutOfRoom {
            written: 2,
            resume_at: 2,
            used: 2 * d
        })
    );
    assert_eq!(slab[spans[1].range()], want[1][..]);
    // The short last datagram fits where a full one would not.
    let mut slab = vec![0u8; 16 + 48 + 500];
    assert_eq!(
        split(&h, &p, 9, &mut slab, 16, &mut spans).map(|s| s.segments),
        Ok(1)
    );
    // No spans at all.
    assert!(matches!(
        split(&h, &p, 0, &mut slab, 0, &mut []),
        Err(SplitError::OutOfRoom {
            written: 0,
            resume_at: 0,
            used: 0
        })
    ));
    // The third buffer too short: two written.
    let mut bufs = vec![
        vec![0u8; 1048],
        vec![0u8; 1048],
        vec![0u8; 1047],
        vec![0u8; 1048],
    ];
    let mut lens = [0usize; 4];
    assert_eq!(
        split_to_buffers(&h, &p, 0, &mut bufs, &mut lens),
        Err(SplitError::OutOfRoom {
            written: 2,
            resume_at: 2,
            used: 0
        })
    );
    assert_eq!(bufs[1][..lens[1]], want[1][..]);
}

#[test]
fn in_place_out_of_room_leaves_input_intact() {
    let (h, p) = UdpPacket::v4().payload_len(4000).gso_size(1000).build_gso();
    let plan = Plan::new(&h, &p).unwrap();
    let need = plan.room(0, 8);
    let mut slab = vec![0u8; need - 1];
    let at = slab.len() - p.len();
    slab[at..].copy_from_slice(&p);
    let before = slab.clone();
    let end = slab.len();
    let mut spans = [Span::default(); 8];
    assert_eq!(
        split_in_place(&h, &mut slab, at..end, 8, &mut spans),
        Err(SplitError::OutOfRoom {
            written: 0,
            resume_at: 0,
            used: 0
        })
    );
    assert_eq!(slab, before);
    let mut slab = before.clone();
    slab.resize(need, 0);
    let out = split_in_place(&h, &mut slab, at..end, 8, &mut spans).unwrap();
    assert_eq!((out.segments, out.used), (4, need));
}

/// Not GSO in the kernel (`skb->len - p_off ≤ gso_size`): one datagram, only the checksum
/// finished, whatever the payload (none included).
#[test]
fn payload_not_above_gso_size_gives_one_datagram() {
    for sp in [UdpPacket::v4(), UdpPacket::v6().ipv6_dest_opts(8)] {
        for (payload, gso_size) in [(0, 1), (1, 1), (100, 100), (100, 1000), (0, 0xfffe)] {
            let (h, p) = sp
                .clone()
                .payload_len(payload)
                .gso_size(gso_size)
                .build_gso();
            let segs = reference(&h, &p);
            assert_eq!(segs.len(), 1, "{payload} at {gso_size}");
            let l4 = usize::from(h.csum_start());
            // The packet as written, its checksum the complete one.
            assert_eq!(segs[0][..l4 + 6], p[..l4 + 6]);
            assert_eq!(segs[0][l4 + 8..], p[l4 + 8..]);
            // The complete datagram `build` makes (0xffff for a zero result, as
            // skb_checksum_help stores it).
            assert_eq!(segs[0], sp.clone().payload_len(payload).build());
        }
    }
}

/// Not GSO, so none of the GSO path's checks apply: a `UDP_L4` header whose payload is not
/// above `gso_size` is a `NEEDS_CSUM` packet at `csum_start` + 6, whatever the packet (an
/// IPv6 fragment, TCP behind it, `csum_start` not at the L4 header).
#[test]
fn not_gso_is_needs_csum_whatever_lies_there() {
    let (h, mut frag) = UdpPacket::v6()
        .ipv6_dest_opts(8)
        .payload_len(300)
        .gso_size(1000)
        .build_gso();
    frag[6] = 44;
    frag[40..48].copy_from_slice(&[17, 0, 0, 1, 0, 0, 0, 7]);
    let (_, tcp) = TcpPacket::super_v4(300, 1000).build_gso();
    let (_, udp) = UdpPacket::v4().payload_len(300).gso_size(1000).build_gso();
    for (h, p) in [
        (h, frag),
        (VirtioNetHdr::udp_gso(20, 1000), tcp),
        (VirtioNetHdr::udp_gso(24, 1000), udp),
    ] {
        let needs = VirtioNetHdr::needs_csum(h.csum_start(), 6);
        let want = reference(&needs, &p);
        assert_eq!(reference(&h, &p), want);
        let mut q = p.clone();
        assert_eq!(finish_in_place(&h, &mut q), Ok(ChecksumStatus::KnownGood));
        assert_eq!(vec![q], want);
        // With a payload above gso_size it is GSO, and refused.
        let mut small = h;
        small.set_gso_size(100);
        assert!(matches!(
            err(&small, &p),
            SplitError::Malformed(_) | SplitError::Header(HdrError::CsumStartNotL4 { .. })
        ));
    }
}

#[test]
fn plain_and_data_valid_pass_through() {
    let p = UdpPacket::v4().payload_len(100).build();
    let mut slab = vec![0xeeu8; 512];
    let mut spans = [Span::default(); 2];
    let out = split(&VirtioNetHdr::plain(), &p, 0, &mut slab, 6, &mut spans).unwrap();
    assert_eq!(
        (out.segments, out.checksum, out.used),
        (1, ChecksumStatus::Unverified, 6 + p.len())
    );
    assert_eq!(slab[spans[0].range()], p[..]);
    let mut dv = VirtioNetHdr::plain();
    dv.set_flags(Flags::DATA_VALID);
    let out = split(&dv, &p, 0, &mut slab, 6, &mut spans).unwrap();
    assert_eq!(out.checksum, ChecksumStatus::KnownGood);
    let mut q = p.clone();
    assert_eq!(
        finish_in_place(&VirtioNetHdr::plain(), &mut q),
        Ok(ChecksumStatus::Unverified)
    );
    assert_eq!(q, p);
    // Headers only: no header part, the whole packet as payload.
    let plan = Plan::new(&VirtioNetHdr::plain(), &p).unwrap();
    let mut segs = [SegmentRef::default(); 1];
    let out = split_headers_with(&plan, &p, 0, &mut slab, 4, &mut segs).unwrap();
    assert_eq!((out.segments, out.used), (1, 4));
    assert_eq!(
        segs[0].payload,
        Span {
            offset: 0,
            len: p.len()
        }
    );
}

/// A non-GSO `NEEDS_CSUM` datagram: finished as `skb_checksum_help` finishes it, a zero
/// result as 0xffff; every entry point gives the same bytes.
#[test]
fn needs_csum_is_finished_and_zero_is_ffff() {
    let (gso_hdr, partial) = UdpPacket::v4().payload_len(100).gso_size(100).build_gso();
    let h = VirtioNetHdr::needs_csum(gso_hdr.csum_start(), 6);
    let complete = UdpPacket::v4().payload_len(100).build();
    let mut q = partial.clone();
    assert_eq!(finish_in_place(&h, &mut q), Ok(ChecksumStatus::KnownGood));
    assert_eq!(q, complete);
    let mut slab = vec![0u8; 512];
    let mut spans = [Span::default(); 1];
    split(&h, &partial, 0, &mut slab, 0, &mut spans).unwrap();
    assert_eq!(slab[spans[0].range()], complete[..]);
    let plan = Plan::new(&h, &partial).unwrap();
    let mut headers = [0u8; 64];
    let mut segs = [SegmentRef::default(); 1];
    split_headers_with(&plan, &partial, 0, &mut headers, 0, &mut segs).unwrap();
    let s = segs[0];
    assert_eq!(
        [&headers[s.header.range()], &partial[s.payload.range()]].concat(),
        complete
    );
    // A zero result: two payload bytes chosen to make the sum 0xffff.
    let mut z = partial.clone();
    z[28..30].fill(0);
    let mut done = z.clone();
    finish_in_place(&h, &mut done).unwrap();
    z[28..30].copy_from_slice(&done[26..28]);
    let mut done = z.clone();
    finish_in_place(&h, &mut done).unwrap();
    assert_eq!(done[26..28], [0xff, 0xff]);
}

#[test]
fn a_plan_for_another_packet_says_so() {
    let (h, p) = v4();
    let plan = Plan::new(&h, &p).unwrap();
    let mut slab = vec![0u8; 10_000];
    let mut spans = [Span::default(); 4];
    let want = Err(SplitError::PlanMismatch {
        planned: 3028,
        len: 100,
    });
    assert_eq!(
        split_with(&plan, &p[..100], 0, &mut slab, 0, &mut spans),
        want
    );
    let mut segs = [SegmentRef::default(); 4];
    assert_eq!(
        split_headers_with(&plan, &p[..100], 0, &mut slab, 0, &mut segs),
        want
    );
    let mut short = p[..100].to_vec();
    assert_eq!(
        plan.finish_in_place(&mut short),
        want.map(|_| ChecksumStatus::KnownGood)
    );
}

/// A hand-built description is checked as `decode` checks a header.
#[test]
fn a_hand_built_gso_is_checked_too() {
    let (_, p) = v4();
    let g = Gso {
        kind: GsoKind::UdpL4,
        ecn: false,
        gso_size: 1000,
        l4_offset: 20,
        l4_header_len: 8,
        header_len: 28,
    };
    assert_eq!(
        Plan::from_offload(Offload::Gso(g), &p).map(|p| p.segments()),
        Ok(3)
    );
    let zero = Gso { gso_size: 0, ..g };
    assert_eq!(
        Plan::from_offload(Offload::Gso(zero), &p),
        Err(SplitError::Header(HdrError::ZeroGsoSize))
    );
    let frags = Gso {
        gso_size: VirtioNetHdr::GSO_BY_FRAGS,
        ..g
    };
    assert_eq!(
        Plan::from_offload(Offload::Gso(frags), &p),
        Err(SplitError::Header(HdrError::GsoByFrags))
    );
    // IPv4 header and 4 bytes of UDP header.
    let mut short = p[..24].to_vec();
    short[2..4].copy_from_slice(&24u16.to_be_bytes());
    assert_eq!(
        Plan::from_offload(Offload::Gso(g), &short),
        Err(SplitError::Header(HdrError::CsumOutOfBounds {
            csum_start: 20,
            csum_offset: 6,
            packet_len: 24
        }))
    );
    let tcp = Gso {
        kind: GsoKind::TcpV4,
        ..g
    };
    assert_eq!(
        Plan::from_offload(Offload::Gso(tcp), &p),
        Err(SplitError::Unsupported(GsoKind::TcpV4))
    );
    // A hand-built partial offset outside the packet.
    assert!(matches!(
        Plan::from_offload(
            Offload::Partial {
                csum_start: 20,
                csum_offset: 6000
            },
            &p
        ),
        Err(SplitError::Header(HdrError::CsumOutOfBounds { .. }))
    ));
}
