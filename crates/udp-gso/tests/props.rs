//! Property tests: random valid USO super-packets of both families split into datagrams with
//! valid checksums, payloads that concatenate to the original, and headers that differ from
//! the original only where rule book §5.3 says; every entry point gives the same bytes;
//! hostile input never panics and never writes outside the room it was given.

use inet_hdr::IpVersion;
use proptest::prelude::*;
use testkit::udp::UdpPacket;
use udp_gso::{Plan, SegmentRef, Span, SplitError};
mod common;
use common::{finish_in_place, split, split_headers, split_in_place, split_to_buffers};
use virtio_net_hdr::{Error as HdrError, VirtioNetHdr};

fn arb_packet() -> impl Strategy<Value = UdpPacket> {
    (
        any::<bool>(),
        prop_oneof![Just(0usize), Just(8), Just(16), Just(40)],
        // Up to 6000 payload bytes (600 under Miri, which interprets every byte).
        prop::collection::vec(any::<u8>(), 0..if cfg!(miri) { 600 } else { 6000 }),
        any::<(u16, u16, u8, u8, bool, u32, u16, u16)>(),
        prop_oneof![1u16..=64, 1u16..=2000, 1u16..=u16::MAX],
        // Now and then gso_size near the payload: from 3 below it to 3 above.
        prop::option::weighted(0.25, 0usize..=6),
        // Now and then a UDP length field that is not the packet's.
        prop::option::weighted(0.2, any::<u16>()),
    )
        .prop_map(
            |(
                v6,
                ext,
                mut payload,
                (id, ports, tos, ttl, df, flow, sport, dport),
                mss,
                near,
                len_field,
            )| {
                let mss = match near {
                    Some(d) => {
                        payload.truncate(200);
                        (payload.len() + d).saturating_sub(3).max(1) as u16
                    }
                    None => mss,
                };
                let mut sp = if v6 {
                    UdpPacket::v6().ipv6_dest_opts(ext)
                } else {
                    // IPv4 options ride along uninterpreted: 0, 8, 16 or 40 bytes.
                    UdpPacket::v4().ipv4_options(&[0xa5; 40][..ext])
                };
                sp = sp
                    .ip_id(id)
                    .tos(tos)
                    .ttl(ttl)
                    .df(df)
                    .flow_label(flow)
                    .ports(sport, dport ^ ports)
                    .payload(&payload)
                    .gso_size(mss);
                sp.udp_len = len_field;
                sp
            },
        )
}

/// Offsets (relative to the IP header) that §5.3 allows to differ: IPv4 total length, ID and
/// header checksum; IPv6 payload length.
fn allowed_ip(v6: bool, off: usize) -> bool {
    if v6 {
        matches!(off, 4 | 5)
    } else {
        matches!(off, 2..=5 | 10 | 11)
    }
}

/// The whole split into one slab with `headroom`, and the spans.
fn split_all(h: &VirtioNetHdr, p: &[u8], headroom: usize) -> (Vec<u8>, Vec<Span>) {
    let plan = Plan::new(h, p).unwrap();
    let mut slab = vec![0u8; plan.room(0, headroom)];
    let mut spans = vec![Span::default(); plan.segments()];
    let out = split(h, p, 0, &mut slab, headroom, &mut spans).unwrap();
    assert_eq!(out.segments, spans.len());
    (slab, spans)
}

/// The pseudo-header sum of a datagram (its own addresses and UDP length).
fn pseudo(d: &[u8], v6: bool, l4: usize) -> inet_csum::Accumulator {
    let ulen = d.len() - l4;
    if v6 {
        inet_csum::pseudo_header_v6(
            &d[8..24].try_into().unwrap(),
            &d[24..40].try_into().unwrap(),
            17,
            ulen as u32,
        )
    } else {
        inet_csum::pseudo_header_v4(
            d[12..16].try_into().unwrap(),
            d[16..20].try_into().unwrap(),
            17,
            ulen as u16,
        )
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(400),
        ..ProptestConfig::default()
    })]

    #[test]
    fn datagrams_are_kernel_shaped(sp in arb_packet()) {
        let (h, p) = sp.build_gso();
        let v6 = sp.version == IpVersion::V6;
        let l4 = usize::from(h.csum_start());
        let hl = l4 + 8;
        let mss = usize::from(sp.gso_size);
        let payload = &p[hl..];
        let true_len = (p.len() - l4) as u16;
        let field = u16::from_be_bytes([p[l4 + 4], p[l4 + 5]]);
        // Rule book §5.3 / §5.4.4: what the kernel's virtio parser refuses gives nothing.
        if mss == usize::from(u16::MAX) {
            prop_assert_eq!(Plan::new(&h, &p), Err(SplitError::Header(HdrError::GsoByFrags)));
            return Ok(());
        }
        if payload.len() > mss * 128 {
            prop_assert_eq!(Plan::new(&h, &p), Err(SplitError::Header(HdrError::TooManySegments)));
            return Ok(());
        }
        let n = if payload.len() > mss { payload.len().div_ceil(mss) } else { 1 };
        let (slab, spans) = split_all(&h, &p, 3);
        prop_assert_eq!(spans.len(), n);
        if n == 1 {
            // Passed on unsplit: the packet as written, its checksum finished over the header
            // as written (length field included) and the sender's partial sum.
            let d = &slab[spans[0].range()];
            prop_assert_eq!(&d[..l4 + 6], &p[..l4 + 6]);
            prop_assert_eq!(&d[l4 + 8..], &p[l4 + 8..]);
            // (The sender's pseudo-header has the true length, the header the field.)
            let sum = pseudo(d, v6, l4).add(&d[l4..]);
            prop_assert_eq!(sum.fold(), 0xffff);
            prop_assert_ne!(u16::from_be_bytes([d[l4 + 6], d[l4 + 7]]), 0);
            return Ok(());
        }
        let mut joined = Vec::new();
        for (i, span) in spans.iter().enumerate() {
            let d = &slab[span.range()];
            let d_pay = &d[hl..];
            prop_assert_eq!(d_pay.len(), (payload.len() - i * mss).min(mss));
            joined.extend_from_slice(d_pay);
            // Headers differ only where allowed; ports unchanged.
            for off in 0..l4 {
                if d[off] != p[off] {
                    prop_assert!(allowed_ip(v6, off), "IP byte {} differs", off);
                }
            }
            prop_assert_eq!(&d[l4..l4 + 4], &p[l4..l4 + 4]);
            let ulen = (d.len() - l4) as u16;
            prop_assert_eq!(u16::from_be_bytes([d[l4 + 4], d[l4 + 5]]), ulen);
            if v6 {
                prop_assert_eq!(u16::from_be_bytes([d[4], d[5]]) as usize, d.len() - 40);
            } else {
                prop_assert_eq!(u16::from_be_bytes([d[2], d[3]]) as usize, d.len());
                prop_assert_eq!(u16::from_be_bytes([d[4], d[5]]), sp.ipv4_id.wrapping_add(i as u16));
                prop_assert!(inet_csum::verify(&d[..l4]));
            }
            // The checksum is never 0 (CSUM_MANGLED_0) and verifies with the datagram's own
            // pseudo-header — once the sender's length is put back for the field's, when they
            // differ (the kernel takes the field out of the sender's sum).
            prop_assert_ne!(u16::from_be_bytes([d[l4 + 6], d[l4 + 7]]), 0);
            let sum = pseudo(d, v6, l4).add_u16(true_len).add_u16(!field).add(&d[l4..]);
            prop_assert_eq!(sum.fold(), 0xffff);
        }
        prop_assert_eq!(&joined[..], payload);
    }

    #[test]
    fn entry_points_agree(sp in arb_packet(), headroom in 0usize..80, at_frac in 0.0f64..=1.0, chunk in 1usize..8) {
        let (h, p) = sp.build_gso();
        if let Err(e) = Plan::new(&h, &p) {
            // Refused: every entry point says the same.
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
        // Headers only: each datagram is its header part followed by its payload in `p`,
        // resumed in chunks of `chunk` datagrams; the payloads tile the input.
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
        fix in any::<bool>(),
    ) {
        if fix && packet.len() >= 28 {
            // Now and then a UDP_L4 header over an IPv4 UDP packet whose length agrees, to get
            // past decoding and classification.
            let l = packet.len() as u16;
            packet[0] = 0x45;
            packet[2..4].copy_from_slice(&l.to_be_bytes());
            packet[6] &= 0x40;
            packet[7] = 0;
            packet[9] = 17;
        }
        let mut h = *VirtioNetHdr::ref_from_packet(&hdr).unwrap().0;
        if fix {
            h = VirtioNetHdr::udp_gso(20, u16::from(hdr[4]) + 1);
        }
        let mut slab = vec![0u8; room];
        let mut spans = vec![Span::default(); nspans];
        match split(&h, &packet, first, &mut slab, headroom, &mut spans) {
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
        let written = match split_headers(&h, &packet, first, &mut headers, headroom, &mut segs) {
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
        let _ = split_in_place(&h, &mut slab, at..end, headroom, &mut spans);
        let mut q = packet.clone();
        let _ = finish_in_place(&h, &mut q);
    }
}
