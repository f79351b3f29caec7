//! Every malformed-input case gives its specific typed error; out-of-room is exact and
//! resumable; non-GSO packets pass through or are finished.

use inet_hdr::{IpVersion, ParseError, TcpFlags};
use tcp_tso::{ChecksumStatus, Malformed, Plan, SegmentRef, Span, SplitError};
use testkit::packet::TcpPacket;
mod common;
use common::{
    finish_in_place, segments_of, split, split_headers_with, split_in_place, split_to_buffers,
    split_with,
};
use virtio_net_hdr::{Error as HdrError, Flags, Gso, GsoKind, GsoType, Offload, VirtioNetHdr};

fn err(hdr: &VirtioNetHdr, pkt: &[u8]) -> SplitError {
    let mut slab = vec![0u8; 70_000];
    let mut spans = [Span::default(); 64];
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
    TcpPacket::super_v4(3000, 1000).build_gso()
}

#[test]
fn gso_size_zero() {
    let (mut h, p) = v4();
    h.set_gso_size(0);
    assert_eq!(err(&h, &p), SplitError::Header(HdrError::ZeroGsoSize));
}

#[test]
fn csum_start_outside_packet() {
    let (mut h, p) = v4();
    h.set_csum_start(p.len() as u16);
    assert!(matches!(
        err(&h, &p),
        SplitError::Header(HdrError::CsumOutOfBounds { .. })
    ));
    // Inside the packet but the 20-byte TCP header would not fit.
    h.set_csum_start((p.len() - 10) as u16);
    assert!(matches!(
        err(&h, &p),
        SplitError::Header(HdrError::CsumOutOfBounds { .. })
    ));
}

#[test]
fn csum_start_below_minimum_ip_header() {
    let (mut h, p) = v4();
    h.set_csum_start(12);
    assert_eq!(
        err(&h, &p),
        SplitError::Header(HdrError::CsumStartTooSmall {
            csum_start: 12,
            min: 20
        })
    );
    let (mut h, p) = TcpPacket::super_v6(3000, 1000).build_gso();
    h.set_csum_start(20);
    assert_eq!(
        err(&h, &p),
        SplitError::Header(HdrError::CsumStartTooSmall {
            csum_start: 20,
            min: 40
        })
    );
}

#[test]
fn csum_start_not_at_tcp_header() {
    // IPv6 with a 16-byte Destination Options header: csum_start must be 56, not 40.
    let (mut h, mut p) = TcpPacket::super_v6(3000, 1000)
        .ipv6_dest_opts(16)
        .build_gso();
    h.set_csum_start(40);
    // Where the options would be read as a TCP header they look like one (data offset 5
    // inside the PadN bytes), so only the L4 position is wrong.
    p[52] = 0x50;
    assert_eq!(
        err(&h, &p),
        SplitError::Header(HdrError::CsumStartNotL4 {
            csum_start: 40,
            l4_offset: 56
        })
    );
    // Otherwise the header decoder already rejects the "TCP header" at 40.
    p[52] = 0;
    assert_eq!(
        err(&h, &p),
        SplitError::Header(HdrError::BadTcpDataOffset(0))
    );
}

#[test]
fn tcp_data_offset_below_five_or_past_end() {
    let (h, mut p) = v4();
    p[32] = 0x40; // data offset 4
    assert_eq!(
        err(&h, &p),
        SplitError::Header(HdrError::BadTcpDataOffset(4))
    );
    // Data offset 15 (60 bytes) in a packet with 30 bytes after the IP header.
    let (h, p) = TcpPacket::super_v4(10, 5).build_gso();
    let mut p = p;
    p[32] = 0xf0;
    assert_eq!(
        err(&h, &p),
        SplitError::Header(HdrError::BadTcpDataOffset(15))
    );
}

#[test]
fn ip_version_not_matching_gso_type() {
    let (_, p6) = TcpPacket::super_v6(3000, 1000).build_gso();
    let h4 = VirtioNetHdr::tcp_gso(IpVersion::V4, 40, 20, 1000, false);
    assert_eq!(err(&h4, &p6), SplitError::Header(HdrError::VersionMismatch));
    let (_, p4) = v4();
    let h6 = VirtioNetHdr::tcp_gso(IpVersion::V6, 40, 20, 1000, false);
    assert_eq!(err(&h6, &p4), SplitError::Header(HdrError::VersionMismatch));
    let (h, mut p) = v4();
    p[0] = 0x75;
    assert_eq!(err(&h, &p), SplitError::Header(HdrError::BadIpVersion(7)));
}

#[test]
fn lengths_that_disagree() {
    // IPv4 total length one short of the buffer (a trailing byte).
    let (h, mut p) = v4();
    p.push(0);
    assert_eq!(
        err(&h, &p),
        SplitError::Malformed(Malformed::Ip(ParseError::LengthMismatch {
            header: 3040,
            actual: 3041
        }))
    );
    // IPv6 payload length larger than the buffer.
    let (h, mut p) = TcpPacket::super_v6(3000, 1000).build_gso();
    p.truncate(p.len() - 1);
    assert_eq!(
        err(&h, &p),
        SplitError::Malformed(Malformed::Ip(ParseError::LengthMismatch {
            header: 3060,
            actual: 3059
        }))
    );
    // IPv4 IHL below 5.
    let (h, mut p) = v4();
    p[0] = 0x44;
    assert_eq!(
        err(&h, &p),
        SplitError::Malformed(Malformed::Ip(ParseError::BadIhl(4)))
    );
}

#[test]
fn not_tcp_and_fragments() {
    let (h, mut p) = v4();
    p[9] = 17;
    assert_eq!(err(&h, &p), SplitError::Malformed(Malformed::NotTcp(17)));
    let (h, mut p) = v4();
    p[6] |= 0x20; // MF
    assert_eq!(err(&h, &p), SplitError::Malformed(Malformed::Fragment));
}

#[test]
fn unsupported_and_unknown_gso_types() {
    let (mut h, p) = v4();
    h.set_gso_type(GsoType::UDP_L4);
    h.set_csum_offset(6);
    assert_eq!(err(&h, &p), SplitError::Unsupported(GsoKind::UdpL4));
    h.set_gso_type(GsoType::UDP);
    assert_eq!(
        err(&h, &p),
        SplitError::Header(HdrError::UnsupportedGsoType(3))
    );
    h.set_gso_type(GsoType(2));
    assert_eq!(err(&h, &p), SplitError::Header(HdrError::UnknownGsoType(2)));
}

#[test]
fn gso_header_field_errors() {
    let (mut h, p) = v4();
    h.set_flags(Flags::EMPTY);
    assert_eq!(
        err(&h, &p),
        SplitError::Header(HdrError::GsoWithoutNeedsCsum)
    );
    let (mut h, p) = v4();
    h.set_csum_offset(6);
    assert_eq!(
        err(&h, &p),
        SplitError::Header(HdrError::BadCsumOffset {
            expected: 16,
            found: 6
        })
    );
}

#[test]
fn partial_checksum_out_of_bounds_or_too_early() {
    let (_, mut p) = TcpPacket::super_v4(100, 1000).build_gso();
    let h = VirtioNetHdr::needs_csum(20, 200);
    assert!(matches!(
        err(&h, &p),
        SplitError::Header(HdrError::CsumOutOfBounds { .. })
    ));
    assert!(matches!(
        finish_in_place(&h, &mut p),
        Err(SplitError::Header(HdrError::CsumOutOfBounds { .. }))
    ));
    let h = VirtioNetHdr::needs_csum(10, 16);
    assert_eq!(
        err(&h, &p),
        SplitError::Header(HdrError::CsumStartTooSmall {
            csum_start: 10,
            min: 20
        })
    );
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
    let mut bufs = vec![vec![0u8; 2000]; 4];
    let mut lens = [0; 4];
    assert_eq!(
        split_to_buffers(&h, &p, 7, &mut bufs, &mut lens),
        Err(SplitError::ResumePastEnd {
            first_segment: 7,
            segments: 3
        })
    );
    assert_eq!(
        split_in_place(&h, &mut slab, 9000..11_000, 0, &mut spans),
        Err(SplitError::InputOutsideSlab {
            start: 9000,
            end: 11_000,
            slab_len: 10_000
        })
    );
    #[allow(clippy::reversed_empty_ranges)]
    let backwards = 50..40;
    assert!(matches!(
        split_in_place(&h, &mut slab, backwards, 0, &mut spans),
        Err(SplitError::InputOutsideSlab { .. })
    ));
}

#[test]
fn finish_in_place_refuses_gso() {
    let (h, mut p) = v4();
    assert_eq!(finish_in_place(&h, &mut p), Err(SplitError::NeedsSplit));
}

/// The whole split into one big slab, as a list of segments.
fn reference(h: &VirtioNetHdr, p: &[u8]) -> Vec<Vec<u8>> {
    let mut slab = vec![0u8; 200_000];
    let mut spans = vec![Span::default(); 70_000];
    let out = split(h, p, 0, &mut slab, 0, &mut spans).unwrap();
    spans[..out.segments]
        .iter()
        .map(|s| slab[s.range()].to_vec())
        .collect()
}

#[test]
fn out_of_room_spans() {
    let (h, p) = TcpPacket::super_v4(10_000, 1000).build_gso();
    let want = reference(&h, &p);
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
                assert_eq!(written, 3);
                assert_eq!(resume_at, next + 3);
                assert_eq!(used, 3 * (4 + 1040));
                got.extend(spans.iter().map(|s| slab[s.range()].to_vec()));
                next = resume_at;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(got, want);
}

#[test]
fn out_of_room_slab() {
    let (h, p) = TcpPacket::super_v6(5000, 1000).build_gso();
    let want = reference(&h, &p);
    let seg = 16 + 60 + 1000;
    // Room for two segments and most of a third.
    let mut slab = vec![0u8; 3 * seg - 1];
    let mut spans = [Span::default(); 10];
    assert_eq!(
        split(&h, &p, 0, &mut slab, 16, &mut spans),
        Err(SplitError::OutOfRoom {
            written: 2,
            resume_at: 2,
            used: 2 * seg
        })
    );
    assert_eq!(slab[spans[1].range()], want[1][..]);
    // Exactly enough for the remaining three.
    let mut slab = vec![0u8; 3 * seg];
    let out = split(&h, &p, 2, &mut slab, 16, &mut spans).unwrap();
    assert_eq!((out.segments, out.used), (3, 3 * seg));
    assert_eq!(slab[spans[2].range()], want[4][..]);
    // The short last segment needs less: 2 full + last (5000 = 5 × 1000, so all equal here);
    // nothing fits: written 0.
    let mut tiny = [0u8; 100];
    assert_eq!(
        split(&h, &p, 1, &mut tiny, 16, &mut spans),
        Err(SplitError::OutOfRoom {
            written: 0,
            resume_at: 1,
            used: 0
        })
    );
}

#[test]
fn out_of_room_both_and_none() {
    let (h, p) = TcpPacket::super_v4(4500, 1000).build_gso(); // 5 segments, last 500
    // Slab for 3, spans for 2: spans bind.
    let mut slab = vec![0u8; 3 * 1040];
    let mut spans = [Span::default(); 2];
    assert!(matches!(
        split(&h, &p, 0, &mut slab, 0, &mut spans),
        Err(SplitError::OutOfRoom {
            written: 2,
            resume_at: 2,
            ..
        })
    ));
    // Spans for 4, slab for 1: slab binds.
    let mut slab = vec![0u8; 1500];
    let mut spans = [Span::default(); 4];
    assert!(matches!(
        split(&h, &p, 0, &mut slab, 0, &mut spans),
        Err(SplitError::OutOfRoom {
            written: 1,
            resume_at: 1,
            ..
        })
    ));
    // No spans at all.
    assert!(matches!(
        split(&h, &p, 0, &mut slab, 0, &mut []),
        Err(SplitError::OutOfRoom {
            written: 0,
            resume_at: 0,
            ..
        })
    ));
    // The short last segment fits where a full one would not.
    let mut slab = vec![0u8; 540];
    assert_eq!(
        split(&h, &p, 4, &mut slab, 0, &mut spans).map(|s| s.segments),
        Ok(1)
    );
}

#[test]
fn out_of_room_buffers() {
    let (h, p) = TcpPacket::super_v4(4000, 1000).build_gso();
    let want = reference(&h, &p);
    // The third buffer is too short: two written.
    let mut bufs = vec![
        vec![0u8; 1040],
        vec![0u8; 1040],
        vec![0u8; 1039],
        vec![0u8; 1040],
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
    // Fewer length slots than buffers: the slots bind.
    let mut bufs = vec![vec![0u8; 2000]; 4];
    let mut lens = [0usize; 1];
    assert!(matches!(
        split_to_buffers(&h, &p, 2, &mut bufs, &mut lens),
        Err(SplitError::OutOfRoom {
            written: 1,
            resume_at: 3,
            ..
        })
    ));
    assert_eq!(bufs[0][..lens[0]], want[2][..]);
}

#[test]
fn in_place_out_of_room_leaves_input_intact() {
    let (h, p) = TcpPacket::super_v4(4000, 1000).build_gso();
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
    let mut few = [Span::default(); 3];
    let mut slab = before.clone();
    slab.resize(need, 0);
    assert!(matches!(
        split_in_place(&h, &mut slab, at..end, 8, &mut few),
        Err(SplitError::OutOfRoom { written: 0, .. })
    ));
    // With exactly `need` bytes it works.
    let out = split_in_place(&h, &mut slab, at..end, 8, &mut spans).unwrap();
    assert_eq!((out.segments, out.used), (4, need));
}

#[test]
fn payload_not_above_gso_size_gives_one_segment() {
    // Equal to gso_size (the kernel hands it on unsplit), below it, and empty.
    for (len, mss) in [(1000, 1000), (10, 1000), (0, 1000)] {
        let sp = TcpPacket::super_v4(len, mss).flags(TcpFlags::ACK | TcpFlags::PSH | TcpFlags::CWR);
        let (h, p) = sp.build_gso();
        let segs = reference(&h, &p);
        assert_eq!(segs.len(), 1);
        let s = &segs[0];
        // Same packet with the checksum completed (FIN/PSH/CWR kept: first and last).
        assert_eq!(s.len(), p.len());
        assert_eq!(s[..36], p[..36]);
        assert_eq!(s[38..], p[38..]);
        let pseudo =
            inet_csum::pseudo_header_v4([10, 0, 0, 1], [10, 0, 0, 2], 6, (len + 20) as u16);
        assert_eq!(pseudo.add(&s[20..]).fold(), 0xffff);
    }
}

#[test]
fn plain_and_data_valid_pass_through() {
    let (_, p) = v4();
    for (flags, state) in [
        (Flags::EMPTY, ChecksumStatus::Unverified),
        (Flags::DATA_VALID, ChecksumStatus::KnownGood),
    ] {
        let mut h = VirtioNetHdr::plain();
        h.set_flags(flags);
        let mut slab = vec![0u8; 4000];
        let mut spans = [Span::default(); 1];
        let out = split(&h, &p, 0, &mut slab, 7, &mut spans).unwrap();
        assert_eq!(
            (out.segments, out.checksum, out.used),
            (1, state, 7 + p.len())
        );
        assert_eq!(
            spans[0],
            Span {
                offset: 7,
                len: p.len()
            }
        );
        assert_eq!(slab[spans[0].range()], p[..]);
        let mut q = p.clone();
        assert_eq!(finish_in_place(&h, &mut q), Ok(state));
        assert_eq!(q, p);
        // Not enough room for the one packet.
        let mut small = vec![0u8; p.len() + 6];
        assert!(matches!(
            split(&h, &p, 0, &mut small, 7, &mut spans),
            Err(SplitError::OutOfRoom {
                written: 0,
                resume_at: 0,
                ..
            })
        ));
    }
}

#[test]
fn needs_csum_is_finished() {
    // A single segment whose TCP checksum field holds the pseudo-header sum.
    let (_, p) = TcpPacket::super_v6(700, 1000).build_gso();
    let h = VirtioNetHdr::needs_csum(40, 16);
    let mut slab = vec![0u8; 2000];
    let mut spans = [Span::default(); 2];
    let out = split(&h, &p, 0, &mut slab, 0, &mut spans).unwrap();
    assert_eq!((out.segments, out.checksum), (1, ChecksumStatus::KnownGood));
    let seg = &slab[spans[0].range()];
    let pseudo = inet_csum::pseudo_header_v6(
        &p[8..24].try_into().unwrap(),
        &p[24..40].try_into().unwrap(),
        6,
        720,
    );
    assert_eq!(pseudo.add(&seg[40..]).fold(), 0xffff);
    let mut q = p.clone();
    assert_eq!(finish_in_place(&h, &mut q), Ok(ChecksumStatus::KnownGood));
    assert_eq!(q, seg);
    // In place gives the same bytes.
    let mut slab2 = vec![0u8; 2000];
    slab2[..p.len()].copy_from_slice(&p);
    split_in_place(&h, &mut slab2, 0..p.len(), 0, &mut spans).unwrap();
    assert_eq!(&slab2[..p.len()], seg);
}

#[test]
fn needs_csum_zero_result_is_sent_as_ffff() {
    // skb_checksum_help: csum_fold(csum) ?: CSUM_MANGLED_0. Build bytes whose finished
    // checksum is 0: the sum over csum_start.. folds to 0xffff.
    let mut p = vec![0u8; 40];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&40u16.to_be_bytes());
    p[20..36].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
    let rest = inet_csum::Accumulator::new().add(&p[20..]).fold();
    let fill = 0xffff - rest;
    p[38..40].copy_from_slice(&fill.to_be_bytes());
    assert_eq!(inet_csum::Accumulator::new().add(&p[20..]).fold(), 0xffff);
    let h = VirtioNetHdr::needs_csum(20, 6); // checksum field at 26 (as for UDP)
    let before = u16::from_be_bytes([p[26], p[27]]);
    assert_eq!(finish_in_place(&h, &mut p), Ok(ChecksumStatus::KnownGood));
    assert_eq!(before, 0x0708);
    assert_eq!(u16::from_be_bytes([p[26], p[27]]), 0xffff);
}

const TIMESTAMPS: [u8; 12] = [1, 1, 8, 10, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88];

#[test]
fn gso_size_between_payload_and_options_is_nothing_to_segment() {
    // Rule book §5.4.1: payload ≤ gso_size < payload + options. Both families, an empty
    // payload, every entry point.
    for (sp, payload, gso_size) in [
        (TcpPacket::super_v4(16, 19), 16, 19),
        (TcpPacket::super_v4(16, 16), 16, 16),
        (TcpPacket::super_v6(16, 27), 16, 27),
        (TcpPacket::super_v6(0, 1), 0, 1),
    ] {
        let (h, p) = sp.tcp_options(&TIMESTAMPS).build_gso();
        assert_eq!(
            err(&h, &p),
            SplitError::NothingToSegment {
                payload,
                tcp_options: 12,
                gso_size
            }
        );
    }
    // Just outside the range: split, and passed on unsplit.
    let (h, p) = TcpPacket::super_v4(16, 15)
        .tcp_options(&TIMESTAMPS)
        .build_gso();
    assert_eq!(segments_of(&h, &p), Ok(2));
    let (h, p) = TcpPacket::super_v4(16, 28)
        .tcp_options(&TIMESTAMPS)
        .build_gso();
    assert_eq!(segments_of(&h, &p), Ok(1));
}

#[test]
fn gso_by_frags_is_refused() {
    // Rule book §5.4.4: as check_kernel and decode.
    let (mut h, p) = v4();
    h.set_gso_size(0xffff);
    assert_eq!(err(&h, &p), SplitError::Header(HdrError::GsoByFrags));
    // A hand-built description says the same.
    let g = Gso {
        kind: GsoKind::TcpV4,
        ecn: false,
        gso_size: 0xffff,
        l4_offset: 20,
        l4_header_len: 20,
        header_len: 40,
    };
    assert_eq!(
        Plan::from_offload(Offload::Gso(g), &p),
        Err(SplitError::Header(HdrError::GsoByFrags))
    );
}

#[test]
fn a_plan_for_another_packet_says_so() {
    let (h, p) = v4();
    let plan = Plan::new(&h, &p).unwrap();
    let mut slab = vec![0u8; 10_000];
    let mut spans = [Span::default(); 4];
    let want = Err(SplitError::PlanMismatch {
        planned: 3040,
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
}

#[test]
fn a_hand_built_gso_without_room_for_the_tcp_header_is_out_of_bounds() {
    // IPv4 header and 10 bytes of TCP header: decode says the checksum position is outside
    // the packet, and a plan from a hand-built description says the same, not "data offset".
    let (_, mut p) = TcpPacket::super_v4(0, 1000).build_gso();
    p.truncate(30);
    p[2..4].copy_from_slice(&30u16.to_be_bytes());
    let want = HdrError::CsumOutOfBounds {
        csum_start: 20,
        csum_offset: 16,
        packet_len: 30,
    };
    let h = VirtioNetHdr::tcp_gso(IpVersion::V4, 20, 20, 1000, false);
    assert_eq!(h.decode(&p), Err(want));
    let g = Gso {
        kind: GsoKind::TcpV4,
        ecn: false,
        gso_size: 1000,
        l4_offset: 20,
        l4_header_len: 20,
        header_len: 40,
    };
    assert_eq!(
        Plan::from_offload(Offload::Gso(g), &p),
        Err(SplitError::Header(want))
    );
}

#[test]
fn unsplit_zero_sum_is_ffff_and_segments_keep_zero() {
    // Rule book §5.4.2, on top of the exact vectors: a write passed on unsplit whose sum is
    // zero gets 0xffff (as a NEEDS_CSUM packet does); segments keep 0.
    for (len, mss, stored) in [(100usize, 1000u16, 0xffffu16), (3000, 1000, 0)] {
        let (h, mut p) = TcpPacket::super_v6(len, mss).build_gso();
        let n = len.div_ceil(usize::from(mss));
        for i in 0..n {
            p[60 + i * usize::from(mss)..][..2].fill(0);
        }
        let segs = reference(&h, &p);
        for (i, s) in segs.iter().enumerate() {
            let c = [s[56], s[57]];
            p[60 + i * usize::from(mss)..][..2].copy_from_slice(&c);
        }
        for s in reference(&h, &p) {
            assert_eq!(u16::from_be_bytes([s[56], s[57]]), stored);
        }
    }
}
