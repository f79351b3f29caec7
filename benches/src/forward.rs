//! A forwarder's userspace work per super-packet, without the syscalls: split a 64 KB TCP
//! super-packet as read from a TUN, then coalesce its segments again for the write and walk
//! the slices a `writev` would take. This is the CPU a `split + GRO` forwarder spends on top
//! of a vnet pass-through (which does neither), so it is what `cargo xtask netns-test`'s
//! ours/pass-through ratio is made of.
//!
//! Candidates: ours with payloads left in place (`Plan::split_headers` + `Coalescer::push_parts`,
//! what `linux-tun`'s zero-copy read and `send_received` do), verifying or trusting the
//! checksums; ours copying each segment into a slab (`split` + `push`); tun-rs 2.8.16's
//! `gso_split` into buffers + `GROTable::apply_gro` (which merges in place). Segments carry
//! the 12-byte timestamp option, as kernel TCP sends them.

use std::hint::black_box;

use tcp_gro::{ChecksumStatus, Coalescer, Config, IoSliceBuf, PacketSource};
use tcp_tso::{Plan, SegmentRef, Span};
use testkit::packet::TcpPacket;
use virtio_net_hdr::VirtioNetHdr;

use crate::timing::Timer;

/// Headroom in front of each segment's headers (a tunnel header's room).
pub const HEADROOM: usize = 64;

/// tun-rs's room for its virtio header in front of each buffer.
const TUN_RS_OFFSET: usize = tun_rs::VIRTIO_NET_HDR_LEN;

/// One input: a super-packet and its header.
pub struct Case {
    /// "v4/1448" etc.
    pub name: String,
    /// Its virtio header.
    pub hdr: VirtioNetHdr,
    /// The packet (IP header onwards).
    pub packet: Vec<u8>,
    /// IPv6?
    pub v6: bool,
}

/// TCP timestamps option (NOP, NOP, kind 8 length 10, TSval, TSecr).
const TIMESTAMPS: [u8; 12] = [1, 1, 8, 10, 0, 0, 0x12, 0x34, 0, 0, 0x56, 0x78];

/// IPv4 and IPv6 super-packets of 65535 bytes at MSS 1448 (1428 for IPv6), with timestamps.
pub fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    for v6 in [false, true] {
        let sp = if v6 {
            TcpPacket::super_v6(65_535 - 72, 1428)
        } else {
            TcpPacket::super_v4(65_535 - 52, 1448)
        };
        let (hdr, packet) = sp.tcp_options(&TIMESTAMPS).build_gso();
        v.push(Case {
            name: format!("{}/{}", if v6 { "v6" } else { "v4" }, hdr.gso_size()),
            hdr,
            packet,
            v6,
        });
    }
    v
}

/// Segments as headers in a small buffer and payloads in the super-packet.
struct Parts<'a> {
    headers: &'a [u8],
    packet: &'a [u8],
    segs: &'a [SegmentRef],
}

impl PacketSource for Parts<'_> {
    fn packet(&self, index: usize) -> Option<&[u8]> {
        self.segs
            .get(index)
            .map(|s| &self.headers[s.header.range()])
    }

    fn parts(&self, index: usize) -> Option<(&[u8], &[u8])> {
        self.segs.get(index).map(|s| {
            (
                &self.headers[s.header.range()],
                &self.packet[s.payload.range()],
            )
        })
    }
}

/// Segments as spans of one slab.
struct Slab<'a> {
    slab: &'a [u8],
    spans: &'a [Span],
}

impl PacketSource for Slab<'_> {
    fn packet(&self, index: usize) -> Option<&[u8]> {
        self.spans.get(index).map(|s| &self.slab[s.range()])
    }
}

/// Ours' working state, allocated once.
pub struct Ours {
    gro: Coalescer,
    iov: IoSliceBuf,
    headers: Vec<u8>,
    segs: Vec<SegmentRef>,
    slab: Vec<u8>,
    spans: Vec<Span>,
}

impl Ours {
    /// State sized for `case`.
    pub fn new(case: &Case) -> Ours {
        let plan = tcp_tso::Plan::new(&case.hdr, &case.packet).expect("valid case");
        let n = plan.segments();
        Ours {
            gro: Coalescer::new(Config::default()),
            iov: IoSliceBuf::with_capacity(64),
            headers: vec![0u8; plan.header_room(0, HEADROOM)],
            segs: vec![SegmentRef::default(); n],
            slab: vec![0u8; plan.room(0, HEADROOM)],
            spans: vec![Span::default(); n],
        }
    }

    /// Payloads in place: split the headers out, coalesce the two-part segments, walk each
    /// output's slices. Returns (outputs, bytes in the slices).
    pub fn in_place(&mut self, case: &Case, csum: ChecksumStatus) -> (usize, usize) {
        let n = Plan::new(&case.hdr, &case.packet)
            .and_then(|p| {
                p.split_headers(
                    &case.packet,
                    0,
                    tcp_tso::Slab::new(&mut self.headers, HEADROOM),
                    &mut self.segs,
                )
            })
            .expect("split")
            .segments;
        let src = Parts {
            headers: &self.headers,
            packet: &case.packet,
            segs: &self.segs[..n],
        };
        for i in 0..n {
            if let Some((header, payload)) = src.parts(i) {
                self.gro.push_parts(i, header, payload, csum);
            }
        }
        drain(&mut self.gro, &mut self.iov, &src)
    }

    /// Each segment copied into a slab, then coalesced from there.
    pub fn copied(&mut self, case: &Case) -> (usize, usize) {
        let n = Plan::new(&case.hdr, &case.packet)
            .and_then(|p| {
                p.split(
                    &case.packet,
                    0,
                    tcp_tso::Slab::new(&mut self.slab, HEADROOM),
                    &mut self.spans,
                )
            })
            .expect("split")
            .segments;
        let src = Slab {
            slab: &self.slab,
            spans: &self.spans[..n],
        };
        for (i, s) in self.spans[..n].iter().enumerate() {
            self.gro
                .push(i, &self.slab[s.range()], ChecksumStatus::Unverified);
        }
        drain(&mut self.gro, &mut self.iov, &src)
    }
}

/// Drain `gro` and build every output's `writev` slices. Returns (outputs, bytes).
fn drain<S: PacketSource + ?Sized>(
    gro: &mut Coalescer,
    iov: &mut IoSliceBuf,
    src: &S,
) -> (usize, usize) {
    let (mut outs, mut bytes) = (0, 0);
    for out in gro.drain(src) {
        outs += 1;
        bytes += out.with_io_slices(out.vnet_bytes(), iov, |s| {
            black_box(s).iter().map(|s| s.len()).sum::<usize>()
        });
    }
    (outs, bytes)
}

/// tun-rs's working state: its GRO table, the input copy it takes `&mut`, and its buffers.
pub struct TunRs {
    table: tun_rs::GROTable,
    input: Vec<u8>,
    bufs: Vec<Vec<u8>>,
    lens: Vec<usize>,
    /// The longest segment (headers + MSS).
    seg_max: usize,
}

impl TunRs {
    /// State sized for `case`: every buffer can grow to a 64 KB merge without allocating.
    pub fn new(case: &Case) -> TunRs {
        let plan = tcp_tso::Plan::new(&case.hdr, &case.packet).expect("valid case");
        let n = plan.segments();
        TunRs {
            table: tun_rs::GROTable::new(),
            input: case.packet.clone(),
            // One by one: a cloned `Vec` does not keep its capacity, and tun-rs merges only
            // into a buffer with room for the merged packet.
            bufs: (0..n)
                .map(|_| Vec::with_capacity(TUN_RS_OFFSET + 65_536))
                .collect(),
            lens: vec![0; n],
            seg_max: plan.segment_len(0),
        }
    }

    /// Untimed preparation: give every buffer the length `gso_split` writes into (`apply_gro`
    /// left the first one grown and the others as they were).
    pub fn prep(&mut self) {
        for b in &mut self.bufs {
            b.resize(TUN_RS_OFFSET + self.seg_max, 0);
        }
    }

    /// `gso_split` into the buffers, then `apply_gro` over them (after [`prep`](Self::prep)).
    /// Returns the merged length of the first buffer.
    pub fn run(&mut self, case: &Case) -> usize {
        let h = crate::split::tun_rs_hdr(&case.hdr);
        let n = tun_rs::gso_split(
            &mut self.input,
            h,
            &mut self.bufs,
            &mut self.lens,
            TUN_RS_OFFSET,
            case.v6,
        )
        .expect("tun-rs split");
        // `apply_gro` takes buffers holding exactly their packets (it grows the first).
        for (b, &l) in self.bufs.iter_mut().zip(&self.lens).take(n) {
            b.truncate(TUN_RS_OFFSET + l);
        }
        self.table
            .apply_gro(&mut self.bufs[..n], TUN_RS_OFFSET, false)
            .expect("tun-rs GRO");
        self.bufs[0].len() - TUN_RS_OFFSET
    }
}

/// Best-of-N nanoseconds per call of tun-rs's [`TunRs::run`], its [`TunRs::prep`] not timed.
pub fn tun_rs_ns(timer: &Timer, peer: &mut TunRs, case: &Case) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..timer.samples {
        let d = crate::coalesce::timed(16, peer, TunRs::prep, |p| p.run(case));
        best = best.min(d.as_nanos() as f64 / 16.0);
    }
    best
}

/// Check every candidate merges the super-packet back into one packet of the input's size.
pub fn check(case: &Case) {
    let mut ours = Ours::new(case);
    let want = VirtioNetHdr::LEN + case.packet.len();
    for csum in [ChecksumStatus::Unverified, ChecksumStatus::KnownGood] {
        assert_eq!(ours.in_place(case, csum), (1, want), "{}", case.name);
    }
    assert_eq!(ours.copied(case), (1, want), "{}: copied", case.name);
    // tun-rs leaves the last, short segment out of a merge that would reach exactly 65535
    // bytes: it must have merged all the full-sized ones.
    let mut peer = TunRs::new(case);
    peer.prep();
    let mss = usize::from(case.hdr.gso_size());
    let merged = peer.run(case);
    assert!(
        merged >= case.packet.len() - (case.packet.len() - usize::from(case.hdr.hdr_len())) % mss,
        "{}: tun-rs merged {merged}",
        case.name
    );
}

/// Print the comparison table: µs per super-packet (best of N) and GB/s of input.
pub fn compare(timer: &Timer) {
    println!(
        "forward: split + GRO + writev slices of one 64 KB super-packet, µs (best of {}) and GB/s; ratio = tun-rs / ours",
        timer.samples
    );
    println!(
        "{:<10} {:>14} {:>14} {:>14} {:>14} {:>12} {:>12}",
        "case", "in place", "in place trust", "copied", "tun-rs", "vs in place", "vs copied"
    );
    for case in cases() {
        check(&case);
        let bytes = case.packet.len() as f64;
        let mut ours = Ours::new(&case);
        let v = timer.ns_per_call(|| ours.in_place(black_box(&case), ChecksumStatus::Unverified));
        let t = timer.ns_per_call(|| ours.in_place(black_box(&case), ChecksumStatus::KnownGood));
        let c = timer.ns_per_call(|| ours.copied(black_box(&case)));
        let mut peer = TunRs::new(&case);
        let r = tun_rs_ns(timer, &mut peer, &case);
        let cell = |ns: f64| format!("{:>6.2} {:>5.1}", ns / 1000.0, bytes / ns);
        println!(
            "{:<10} {:>14} {:>14} {:>14} {:>14} {:>11.2}x {:>11.2}x",
            case.name,
            cell(v),
            cell(t),
            cell(c),
            cell(r),
            r / v,
            r / c
        );
    }
}
