//! Splitting one 64 KB super-packet: TCP into MSS-sized segments with `tcp_tso`, UDP (USO)
//! into `gso_size` datagrams with `udp_gso` — into separate buffers, into one slab with
//! headroom, and headers only (payload summed in place, not copied) — against tun-rs's
//! `gso_split` (public, though `#[doc(hidden)]`, in tun-rs 2.8.16, which splits both) on the
//! same input. All output storage is allocated once per case, outside the timed calls.

use std::hint::black_box;

use tcp_tso::{SegmentRef, Slab, Span};
use testkit::packet::TcpPacket;
use testkit::udp::UdpPacket;
use virtio_net_hdr::VirtioNetHdr;

use crate::timing::Timer;

/// The MSS values measured.
pub const MSS: [u16; 3] = [536, 1448, 8948];

/// The UDP `gso_size` values measured: QUIC's usual 1200, and what fills a 1500-byte MTU
/// (1472 behind IPv4, 1452 behind IPv6).
pub const USO_GSO_SIZE: [(u16, u16); 2] = [(1200, 1200), (1472, 1452)];

/// Headroom before each segment in the slab variant (room for a tunnel header).
pub const HEADROOM: usize = 64;

/// One input: a super-packet of 64 KB (IPv4 total length 65535; IPv6 payload length 65535).
pub struct Case {
    /// "v4/1448", "uso v6/1452" etc.
    pub name: String,
    /// A UDP (USO) super-packet, split by `udp_gso`; TCP ones by `tcp_tso`.
    pub udp: bool,
    /// Its virtio header.
    pub hdr: VirtioNetHdr,
    /// The packet.
    pub packet: Vec<u8>,
    /// IPv6?
    pub v6: bool,
}

/// Every (family, MSS) case.
pub fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    for v6 in [false, true] {
        for mss in MSS {
            let sp = if v6 {
                TcpPacket::super_v6(65_535 - 20, mss)
            } else {
                TcpPacket::super_v4(65_535 - 40, mss)
            };
            let (hdr, packet) = sp.build_gso();
            let fam = if v6 { "v6" } else { "v4" };
            v.push(Case {
                name: format!("{fam}/{mss}"),
                udp: false,
                hdr,
                packet,
                v6,
            });
        }
    }
    for v6 in [false, true] {
        for (v4_size, v6_size) in USO_GSO_SIZE {
            let (sp, gso_size) = if v6 {
                (UdpPacket::v6().payload_len(65_535 - 8), v6_size)
            } else {
                (UdpPacket::v4().payload_len(65_535 - 28), v4_size)
            };
            let (hdr, packet) = sp.gso_size(gso_size).build_gso();
            let fam = if v6 { "v6" } else { "v4" };
            v.push(Case {
                name: format!("uso {fam}/{gso_size}"),
                udp: true,
                hdr,
                packet,
                v6,
            });
        }
    }
    v
}

/// Evaluate `$body` with `$p` bound to the case's plan: `udp_gso`'s for a UDP case,
/// `tcp_tso`'s otherwise (the two have the same calls and storage shapes).
macro_rules! with_plan {
    ($case:expr, |$p:ident| $body:expr) => {
        if $case.udp {
            let $p = udp_gso::Plan::new(&$case.hdr, &$case.packet).expect("valid case");
            $body
        } else {
            let $p = tcp_tso::Plan::new(&$case.hdr, &$case.packet).expect("valid case");
            $body
        }
    };
}

/// Preallocated output storage for one case.
pub struct Out {
    /// Separate buffers, one per segment.
    pub bufs: Vec<Vec<u8>>,
    /// Segment lengths for the buffer variants.
    pub lens: Vec<usize>,
    /// The slab.
    pub slab: Vec<u8>,
    /// Slab spans.
    pub spans: Vec<Span>,
    /// A mutable copy of the input (tun-rs takes `&mut [u8]`).
    pub input: Vec<u8>,
    /// Header buffer for the headers-only split.
    pub headers: Vec<u8>,
    /// Its segments.
    pub segs: Vec<SegmentRef>,
}

impl Out {
    /// Storage sized for `case`.
    pub fn new(case: &Case) -> Out {
        let (n, first, room, header_room) = with_plan!(case, |plan| (
            plan.segments(),
            plan.segment_len(0),
            plan.room(0, HEADROOM),
            plan.header_room(0, HEADROOM)
        ));
        Out {
            bufs: vec![vec![0u8; first + HEADROOM]; n],
            lens: vec![0; n],
            slab: vec![0u8; room],
            spans: vec![Span::default(); n],
            input: case.packet.clone(),
            headers: vec![0u8; header_room],
            segs: vec![SegmentRef::default(); n],
        }
    }
}

/// Ours, into separate buffers. Returns the segment count.
pub fn ours_buffers(case: &Case, out: &mut Out) -> usize {
    with_plan!(case, |p| p
        .split_to_buffers(&case.packet, 0, &mut out.bufs, &mut out.lens)
        .expect("split")
        .segments)
}

/// Ours, into one slab with [`HEADROOM`] before every segment.
pub fn ours_slab(case: &Case, out: &mut Out) -> usize {
    with_plan!(case, |p| p
        .split(
            &case.packet,
            0,
            Slab::new(&mut out.slab, HEADROOM),
            &mut out.spans,
        )
        .expect("split")
        .segments)
}

/// Ours, headers only: each segment's headers into a small buffer with [`HEADROOM`] before
/// them, the payload summed where it lies.
pub fn ours_headers(case: &Case, out: &mut Out) -> usize {
    with_plan!(case, |p| p
        .split_headers(
            &case.packet,
            0,
            Slab::new(&mut out.headers, HEADROOM),
            &mut out.segs,
        )
        .expect("split")
        .segments)
}

/// Our virtio header as tun-rs's type, field by field.
pub fn tun_rs_hdr(hdr: &VirtioNetHdr) -> tun_rs::VirtioNetHdr {
    tun_rs::VirtioNetHdr {
        flags: hdr.flags().0,
        gso_type: hdr.gso_type().0,
        // tun-rs takes the header length from hdr_len: give it the exact one.
        hdr_len: hdr.hdr_len(),
        gso_size: hdr.gso_size(),
        csum_start: hdr.csum_start(),
        csum_offset: hdr.csum_offset(),
    }
}

/// tun-rs's `gso_split` into separate buffers (segment at offset 0 of each).
pub fn tun_rs_buffers(case: &Case, out: &mut Out) -> usize {
    let h = tun_rs_hdr(&case.hdr);
    tun_rs::gso_split(&mut out.input, h, &mut out.bufs, &mut out.lens, 0, case.v6).expect("tun-rs")
}

/// The floor: only the fused copy-and-sum of each segment's payload to where a split puts it
/// in the same buffers (no headers, no validation), to show how much of a split is
/// per-segment overhead.
pub fn floor(case: &Case, out: &mut Out) -> u16 {
    let hl = with_plan!(case, |plan| plan.segment_len(0)) - usize::from(case.hdr.gso_size());
    let mut acc = 0u16;
    for (k, chunk) in case.packet[hl..]
        .chunks(usize::from(case.hdr.gso_size()))
        .enumerate()
    {
        acc ^= inet_csum::copy_and_sum(&mut out.bufs[k][hl..hl + chunk.len()], chunk).fold();
    }
    acc
}

/// Check that all candidates produce the same segments for `case`.
pub fn check(case: &Case) {
    let mut a = Out::new(case);
    let mut b = Out::new(case);
    let mut c = Out::new(case);
    let n = ours_buffers(case, &mut a);
    assert_eq!(ours_slab(case, &mut b), n);
    assert_eq!(ours_headers(case, &mut b), n);
    for (k, s) in b.segs[..n].iter().enumerate() {
        let two_part = [
            &b.headers[s.header.range()],
            &case.packet[s.payload.range()],
        ]
        .concat();
        assert_eq!(
            &two_part[..],
            &a.bufs[k][..a.lens[k]],
            "{}: headers-only {k}",
            case.name
        );
    }
    assert_eq!(
        tun_rs_buffers(case, &mut c),
        n,
        "{}: tun-rs count",
        case.name
    );
    for k in 0..n {
        let mine = &a.bufs[k][..a.lens[k]];
        assert_eq!(mine, &b.slab[b.spans[k].range()], "{}: slab {k}", case.name);
        assert_eq!(
            mine,
            &c.bufs[k][..c.lens[k]],
            "{}: tun-rs segment {k}",
            case.name
        );
    }
}

/// Print the comparison table (GB/s of input, best of N; ratio ours/tun-rs).
pub fn compare(timer: &Timer) {
    println!(
        "== split: one 64 KB super-packet (TCP; UDP in the uso rows), GB/s of input, best of {} samples of ~{:?} ==",
        timer.samples, timer.batch
    );
    println!(
        "{:<14}{:>14}{:>14}{:>14}{:>14}{:>12}{:>12}{:>12}{:>16}",
        "case",
        "ours-buffers",
        "ours-slab",
        "ours-headers",
        "tun-rs",
        "buf/tun-rs",
        "slab/tun-rs",
        "hdrs/slab",
        "copy+sum floor"
    );
    for case in cases() {
        check(&case);
        let mut out = Out::new(&case);
        let len = case.packet.len();
        let buf = timer.gbps(len, || ours_buffers(black_box(&case), &mut out));
        let slab = timer.gbps(len, || ours_slab(black_box(&case), &mut out));
        let hdrs = timer.gbps(len, || ours_headers(black_box(&case), &mut out));
        let peer = timer.gbps(len, || tun_rs_buffers(black_box(&case), &mut out));
        let fl = timer.gbps(len, || floor(black_box(&case), &mut out));
        println!(
            "{:<14}{:>14.2}{:>14.2}{:>14.2}{:>14.2}{:>11.2}x{:>11.2}x{:>11.2}x{:>16.2}",
            case.name,
            buf,
            slab,
            hdrs,
            peer,
            buf / peer,
            slab / peer,
            hdrs / slab,
            fl
        );
    }
}
