//! `udp_gso` on arbitrary (header, packet, output room).
//!
//! Input layout: 10 bytes virtio header, then `spans` (u8), `room` (u16 LE, slab bytes),
//! `headroom` (u8), `first_segment` (u8), then the packet.
//! Invariants: no panic; the reported segment count never exceeds the spans given; every
//! reported segment lies inside the slab, after its own headroom, in order and without
//! overlap; `used` covers exactly what was written; separate buffers, the in-place split and
//! the headers-only split (header part + payload in place) produce the same bytes as the slab
//! split; a USO plan never has more than `UDP_MAX_SEGMENTS` datagrams, and no datagram of a
//! split carries a UDP checksum of 0 (`CSUM_MANGLED_0`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use udp_gso::{SegmentRef, Slab, Span, SplitError};
use virtio_net_hdr::{GsoType, VirtioNetHdr};

fuzz_target!(|data: &[u8]| {
    if data.len() < 15 {
        return;
    }
    let Ok((hdr, _)) = VirtioNetHdr::ref_from_packet(&data[..10]) else {
        return;
    };
    let nspans = usize::from(data[10]);
    let room = usize::from(u16::from_le_bytes([data[11], data[12]]));
    let headroom = usize::from(data[13]);
    let first = usize::from(data[14]);
    let packet = &data[15..];

    let mut slab = vec![0u8; room];
    let mut spans = vec![Span::default(); nspans];
    // Decoding is the one step that sees the header: a malformed one ends here, typed.
    let Ok(plan) = udp_gso::Plan::new(hdr, packet) else {
        return;
    };
    let uso = hdr.gso_type() == GsoType::UDP_L4;
    assert!(plan.segments() <= VirtioNetHdr::UDP_MAX_SEGMENTS);
    if let Some(short) = packet.len().checked_sub(1) {
        // A plan applies only to its own packet.
        let r = plan.split(
            &packet[..short],
            first,
            Slab::new(&mut slab, headroom),
            &mut spans,
        );
        assert!(r.is_err(), "a plan split a packet of another length");
    }
    let res = plan.split(packet, first, Slab::new(&mut slab, headroom), &mut spans);
    let (written, used) = match res {
        Ok(s) => (s.segments, s.used),
        Err(SplitError::OutOfRoom {
            written,
            used,
            resume_at,
        }) => {
            assert_eq!(resume_at, first + written);
            (written, used)
        }
        Err(_) => (0, 0),
    };
    assert!(
        written <= nspans,
        "{written} segments reported with {nspans} spans"
    );
    assert!(used <= room);
    let mut end = 0;
    for s in &spans[..written] {
        assert!(
            s.offset >= end + headroom,
            "span {s:?} overlaps the previous or its headroom"
        );
        assert!(
            s.offset + s.len <= room,
            "span {s:?} outside the {room}-byte slab"
        );
        end = s.offset + s.len;
    }
    assert_eq!(end, used);
    if uso {
        // UDP_L4 decoded: csum_start is the UDP header, the checksum field 6 bytes in.
        let at = usize::from(hdr.csum_start()) + 6;
        for s in &spans[..written] {
            assert_ne!(
                slab[s.offset + at..s.offset + at + 2],
                [0, 0],
                "a UDP checksum of 0"
            );
        }
    }
    if written == 0 {
        return;
    }
    let count = plan.segments();
    assert!(first + written <= count);

    // Separate buffers: the same bytes.
    let mut bufs: Vec<Vec<u8>> = spans[..written].iter().map(|s| vec![0u8; s.len]).collect();
    let mut lens = vec![0usize; written];
    match plan.split_to_buffers(packet, first, &mut bufs, &mut lens) {
        Ok(_) | Err(SplitError::OutOfRoom { .. }) => {}
        Err(e) => panic!("buffers failed where the slab worked: {e}"),
    }
    for (k, s) in spans[..written].iter().enumerate() {
        assert_eq!(lens[k], s.len);
        assert_eq!(bufs[k], slab[s.range()]);
    }

    // Headers only: each header part followed by its payload in the packet.
    let mut headers = vec![0u8; plan.header_room(first, headroom)];
    let mut segs = vec![SegmentRef::default(); written];
    match plan.split_headers(packet, first, Slab::new(&mut headers, headroom), &mut segs) {
        Ok(_) | Err(SplitError::OutOfRoom { .. }) => {}
        Err(e) => panic!("headers-only failed where the slab worked: {e}"),
    }
    for (k, s) in spans[..written].iter().enumerate() {
        let r = segs[k];
        assert!(r.payload.offset + r.payload.len <= packet.len());
        let two_part = [&headers[r.header.range()], &packet[r.payload.range()]].concat();
        assert_eq!(two_part[..], slab[s.range()]);
    }

    // In place, when the whole packet was split from segment 0 with room to spare.
    if first == 0 && written == count {
        let mut big = vec![0u8; used + packet.len()];
        let at = used;
        big[at..].copy_from_slice(packet);
        let end = big.len();
        let mut spans2 = vec![Span::default(); count];
        let out = plan
            .split_in_place(Slab::new(&mut big, headroom), at..end, &mut spans2)
            .expect("in-place failed where the slab worked");
        assert_eq!(out.segments, count);
        assert_eq!(spans2[..], spans[..written]);
        for s in &spans2 {
            assert_eq!(big[s.range()], slab[s.range()]);
        }
    }
});
