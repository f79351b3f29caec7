//! Property tests: random valid super-packets of both families split into segments with valid
//! checksums, payloads that concatenate to the original, and headers that differ from the
//! original only where rule book §5.1 says; every entry point gives the same bytes; hostile
//! input never panics and never writes outside the room it was given.

use inet_hdr::{IpVersion, TcpFlags};
use proptest::prelude::*;
use tcp_tso::{Plan, SegmentRef, Span, SplitError};
use testkit::packet::TcpPacket;
mod common;
use common::{finish_in_place, split, split_headers, split_in_place, split_to_buffers};
use virtio_net_hdr::{Error as HdrError, VirtioNetHdr};

fn arb_packet() -> impl Strategy<Value = TcpPacket> {
    (
        any::<bool>(),
        prop_oneof![Just(0usize), Just(8), Just(16), Just(64)],
        prop::collection::vec(any::<u8>(), 0..=10).prop_map(|w| {
            // 0..=40 option bytes, a multiple of 4.
            let mut o = w.clone();
            o.resize(w.len() * 4, 0x01);
            for (i, b) in w.iter().enumerate() {
                o[i * 4] = *b;
            }
            o
        }),
        // Up to 6000 payload bytes (600 under Miri, which interprets every byte).
        prop::collection::vec(any::<u8>(), 0..if cfg!(miri) { 600 } else { 6000 }),
        any::<(u32, u32, u16, u8, u8, bool, u16, u16, u8)>(),
        prop_oneof![1u16..=64, 1u16..=2000, 1u16..=u16::MAX],
        // Now and then gso_size near the payload: from 3 below it to 3 above payload +
        // options (rule book §5.4.1).
        prop::option::weighted(0.25, 0usize..=46),
    )
        .prop_map(
            |(
                v6,
                ext,
                opts,
                mut payload,
                (seq, ack, id, flags, tos, ecn, win, urg, ttl),
                mss,
                near,
            )| {
                let mss = match near {
                    Some(d) => {
                        payload.truncate(200);
                        (payload.len() + d % (opts.len() + 7))
                            .saturating_sub(3)
                            .max(1) as u16
                    }
                    None => mss,
                };
                let mut sp = if v6 {
                    TcpPacket::super_v6(0, mss).ipv6_dest_opts(ext)
                } else {
                    // IPv4 options ride along uninterpreted: 0, 8, 16 or 64 → 40 bytes.
                    TcpPacket::super_v4(0, mss).ipv4_options(&[0xa5; 64][..ext.min(40)])
                };
                sp.tcp_options = opts;
                sp.payload = payload;
                sp.seq = seq;
                sp.ack = ack;
                sp.ipv4_id = id;
                sp.flags = TcpFlags(flags);
                sp.tos = tos;
                sp.ecn = ecn;
                sp.window = win;
                sp.urgent = urg;
                sp.ttl = ttl;
                sp
            },
        )
}

/// Offsets (relative to the IP / TCP header) that §5.1 allows to differ.
fn allowed_ip(v6: bool, off: usize) -> bool {
    if v6 {
        matches!(off, 4 | 5)
    } else {
        matches!(off, 2..=5 | 10 | 11)
    }
}
fn allowed_tcp(off: usize) -> bool {
    matches!(off, 4..=7 | 13 | 16 | 17)
}

fn split_all(h: &VirtioNetHdr, p: &[u8], headroom: usize) -> (Vec<u8>, Vec<Span>) {
    let plan = Plan::new(h, p).unwrap();
    let mut slab = vec![0u8; plan.room(0, headroom)];
    let mut spans = vec![Span::default(); plan.segments()];
    let out = split(h, p, 0, &mut slab, headroom, &mut spans).unwrap();
    assert_eq!(out.segments, plan.segments());
    assert_eq!(out.used, slab.len());
    (slab, spans)
}

proptest! {
    // 400 cases unless PROPTEST_CASES says otherwise (CI's Miri run sets 4).
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(400),
        ..ProptestConfig::default()
    })]

    #[test]
    fn segments_are_kernel_shaped(sp in arb_packet()) {
        let (h, p) = sp.build_gso();
        let v6 = sp.version == IpVersion::V6;
        let l4 = usize::from(h.csum_start());
        let thl = 20 + sp.tcp_options.len().div_ceil(4) * 4;
        let hl = l4 + thl;
        let mss = usize::from(sp.gso_size);
        let payload = &p[hl..];
        // Rule book §5.4: what the kernel refuses or drops gives nothing.
        if mss == usize::from(u16::MAX) {
            prop_assert_eq!(Plan::new(&h, &p), Err(SplitError::Header(HdrError::GsoByFrags)));
            return Ok(());
        }
        if payload.len() <= mss && payload.len() + thl - 20 > mss {
            prop_assert_eq!(Plan::new(&h, &p), Err(SplitError::NothingToSegment {
                payload: payload.len(),
                tcp_options: thl - 20,
                gso_size: mss,
            }));
            return Ok(());
        }
        let n = payload.len().div_ceil(mss).max(1);
        let (slab, spans) = split_all(&h, &p, 3);
        prop_assert_eq!(spans.len(), n);
        let mut joined = Vec::new();
        for (i, span) in spans.iter().enumerate() {
            let s = &slab[span.range()];
            let seg_pay = &s[hl..];
            prop_assert_eq!(seg_pay.len(), (payload.len() - i * mss).min(mss));
            joined.extend_from_slice(seg_pay);
            // Headers differ only where allowed.
            for off in 0..l4 {
                if s[off] != p[off] {
                    prop_assert!(allowed_ip(v6, off), "IP byte {} differs", off);
                }
            }
            for off in 0..thl {
                if s[l4 + off] != p[l4 + off] {
                    prop_assert!(allowed_tcp(off), "TCP byte {} differs", off);
                }
            }
            // The allowed fields hold what §5.1 says.
            if v6 {
                prop_assert_eq!(u16::from_be_bytes([s[4], s[5]]) as usize, s.len() - 40);
                let pseudo = inet_csum::pseudo_header_v6(
                    &s[8..24].try_into().unwrap(), &s[24..40].try_into().unwrap(), 6,
                    (s.len() - l4) as u32);
                prop_assert_eq!(pseudo.add(&s[l4..]).fold(), 0xffff);
            } else {
                prop_assert_eq!(u16::from_be_bytes([s[2], s[3]]) as usize, s.len());
                prop_assert_eq!(u16::from_be_bytes([s[4], s[5]]), sp.ipv4_id.wrapping_add(i as u16));
                prop_assert!(inet_csum::verify(&s[..l4]));
                let pseudo = inet_csum::pseudo_header_v4(
                    s[12..16].try_into().unwrap(), s[16..20].try_into().unwrap(), 6,
                    (s.len() - l4) as u16);
                prop_assert_eq!(pseudo.add(&s[l4..]).fold(), 0xffff);
            }
            let seq = u32::from_be_bytes(s[l4 + 4..l4 + 8].try_into().unwrap());
            prop_assert_eq!(seq, sp.seq.wrapping_add((i * mss) as u32));
            let mut want = sp.flags.bits();
            if i + 1 < n { want &= !(0x01 | 0x08); }
            if i > 0 { want &= !0x80; }
            prop_assert_eq!(s[l4 + 13], want);
        }
        prop_assert_eq!(&joined[..], payload);
    }

    #[test]
    fn entry_points_agree(sp in arb_packet(), headroom in 0usize..80, at_frac in 0.0f64..=1.0, chunk in 1usize..8) {
        let (h, p) = sp.build_gso();
        if let Err(e) = Plan::new(&h, &p) {
            // Refused or dropped (rule book §5.4): every entry point says the same.
            let mut slab = vec![0u8; 70_000 + p.len()];
            let mut spans = vec![Span::default(); 4];
            prop_assert_eq!(split(&h, &p, 0, &mut slab, headroom, &mut spans), Err(e));
            let mut bufs = vec![vec![0u8; 70_000]; 2];
            prop_assert_eq!(split_to_buffers(&h, &p, 0, &mut bufs, &mut [0; 2]), Err(e));
            let mut segs = vec![SegmentRef::default(); 4];
            prop_assert_eq!(split_headers(&h, &p, 0, &mut slab, headroom, &mut segs), Err(e));
            let at = slab.len() - p.len();
            slab[at..].copy_from_slice(&p);
            let end = slab.len();
            prop_assert_eq!(split_in_place(&h, &mut slab, at..end, headroom, &mut spans), Err(e));
            return Ok(());
        }
        let (want, want_spans) = split_all(&h, &p, headroom);
        let plan = Plan::new(&h, &p).unwrap();
        let n = plan.segments();
        // Separate buffers.
        let mut bufs: Vec<Vec<u8>> = (0..n).map(|i| vec![0u8; plan.segment_len(i)]).collect();
        let mut lens = vec![0usize; n];
        split_to_buffers(&h, &p, 0, &mut bufs, &mut lens).unwrap();
        for i in 0..n {
            prop_assert_eq!(&bufs[i][..lens[i]], &want[want_spans[i].range()]);
        }
        // In place, with the input anywhere in a slab with some slack.
        let slack = 100;
        let mut slab = vec![0x5au8; plan.room(0, headroom) + slack];
        let at = ((slab.len() - p.len()) as f64 * at_frac) as usize;
        slab[at..at + p.len()].copy_from_slice(&p);
        let mut spans = vec![Span::default(); n];
        let out = split_in_place(&h, &mut slab, at..at + p.len(), headroom, &mut spans).unwrap();
        prop_assert_eq!(out.segments, n);
        prop_assert_eq!(&spans, &want_spans);
        for s in &spans {
            prop_assert_eq!(&slab[s.range()], &want[s.range()]);
        }
        // Headers only: each segment is its header part followed by its payload in `p`,
        // resumed in chunks of `chunk` segments; the payloads tile the input.
        let mut next = 0;
        let mut payload_end = None;
        while next < n {
            let mut headers = vec![0u8; plan.header_room(next, headroom)];
            let mut segs = vec![SegmentRef::default(); chunk];
            let (written, used) = match split_headers(&h, &p, next, &mut headers, headroom, &mut segs) {
                Ok(o) => (o.segments, o.used),
                Err(SplitError::OutOfRoom { written, resume_at, used }) => {
                    prop_assert_eq!((written, resume_at), (chunk, next + chunk));
                    (written, used)
                }
                Err(e) => return Err(TestCaseError::fail(format!("{e}"))),
            };
            prop_assert!(used <= headers.len());
            for (k, s) in segs[..written].iter().enumerate() {
                prop_assert!(s.header.offset >= headroom * (k + 1));
                let two_part = [&headers[s.header.range()], &p[s.payload.range()]].concat();
                prop_assert_eq!(&two_part[..], &want[want_spans[next + k].range()]);
                if let Some(end) = payload_end {
                    prop_assert_eq!(s.payload.offset, end);
                }
                payload_end = Some(s.payload.offset + s.payload.len);
            }
            next += written;
        }
        prop_assert_eq!(payload_end, Some(p.len()));
        // Resumed in chunks of `chunk` spans.
        let mut next = 0;
        let mut got = Vec::new();
        while next < n {
            let mut slab = vec![0u8; plan.room(0, headroom)];
            let mut spans = vec![Span::default(); chunk];
            let written = match split(&h, &p, next, &mut slab, headroom, &mut spans) {
                Ok(o) => o.segments,
                Err(SplitError::OutOfRoom { written, resume_at, .. }) => {
                    prop_assert_eq!(written, chunk);
                    prop_assert_eq!(resume_at, next + chunk);
                    written
                }
                Err(e) => return Err(TestCaseError::fail(format!("{e}"))),
            };
            for s in &spans[..written] {
                got.extend_from_slice(&slab[s.range()]);
            }
            next += written;
        }
        let all: Vec<u8> = want_spans.iter().flat_map(|s| want[s.range()].to_vec()).collect();
        prop_assert_eq!(got, all);
    }

    #[test]
    fn hostile_input_never_panics(
        hdr in any::<[u8; 10]>(),
        mut packet in prop::collection::vec(any::<u8>(), 0..300),
        first in 0usize..4,
        room in 0usize..2000,
        nspans in 0usize..6,
        headroom in 0usize..40,
        fix_len in any::<bool>(),
    ) {
        if fix_len && packet.len() >= 40 {
            // Make the IP length fields agree now and then, to get past classification.
            let l = packet.len() as u16;
            packet[0] = (packet[0] & 0x0f) | 0x40;
            packet[2..4].copy_from_slice(&l.to_be_bytes());
        }
        let (h, _) = VirtioNetHdr::ref_from_packet(&hdr).unwrap();
        let mut slab = vec![0u8; room];
        let mut spans = vec![Span::default(); nspans];
        match split(h, &packet, first, &mut slab, headroom, &mut spans) {
            Ok(out) => {
                prop_assert!(out.segments <= nspans && out.used <= room);
                for s in &spans[..out.segments] { prop_assert!(s.offset + s.len <= room); }
            }
            Err(SplitError::OutOfRoom { written, used, .. }) => {
                prop_assert!(written <= nspans && used <= room);
                for s in &spans[..written] { prop_assert!(s.offset + s.len <= room); }
            }
            Err(_) => {}
        }
        let mut headers = vec![0u8; room];
        let mut segs = vec![SegmentRef::default(); nspans];
        let written = match split_headers(h, &packet, first, &mut headers, headroom, &mut segs) {
            Ok(out) => out.segments,
            Err(SplitError::OutOfRoom { written, used, .. }) => {
                prop_assert!(used <= room);
                written
            }
            Err(_) => 0,
        };
        prop_assert!(written <= nspans);
        for s in &segs[..written] {
            prop_assert!(s.header.offset + s.header.len <= room);
            prop_assert!(s.payload.offset + s.payload.len <= packet.len());
        }
        let mut slab = vec![0u8; room + packet.len()];
        let at = room;
        slab[at..].copy_from_slice(&packet);
        let end = slab.len();
        let _ = split_in_place(h, &mut slab, at..end, headroom, &mut spans);
        let mut q = packet.clone();
        let _ = finish_in_place(h, &mut q);
    }
}
