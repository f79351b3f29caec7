//! Splitting allocates nothing: every entry point, counted by a global allocator wrapper on
//! the test's own thread (the harness's threads allocate when they like).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use testkit::udp::UdpPacket;
use udp_gso::{Plan, SegmentRef, Span};
mod common;
use common::{
    finish_in_place, segments_of, split, split_headers, split_in_place, split_to_buffers,
};
use virtio_net_hdr::VirtioNetHdr;

struct Counting;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards every call unchanged to the system allocator; only counts, per thread.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.with(|a| a.set(a.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn no_allocation_per_call() {
    for sp in [
        // Smaller under Miri, which interprets every byte.
        UdpPacket::v4()
            .payload_len(if cfg!(miri) { 5_000 } else { 65_535 - 28 })
            .gso_size(1472),
        UdpPacket::v6()
            .ipv6_dest_opts(8)
            .payload_len(if cfg!(miri) { 3_000 } else { 30_000 })
            .gso_size(1200),
    ] {
        let (h, p) = sp.build_gso();
        let plan = Plan::new(&h, &p).unwrap();
        let mut slab = vec![0u8; plan.room(0, 64) + p.len()];
        let mut spans = vec![Span::default(); plan.segments()];
        let mut headers = vec![0u8; plan.header_room(0, 64)];
        let mut segs = vec![SegmentRef::default(); plan.segments()];
        let mut bufs = vec![vec![0u8; 2000]; plan.segments()];
        let mut lens = vec![0usize; plan.segments()];
        let mut single = p.clone();
        let needs = VirtioNetHdr::needs_csum(h.csum_start(), 6);
        let at = slab.len() - p.len();
        let end = slab.len();

        let before = ALLOCS.with(Cell::get);
        for _ in 0..3 {
            split(&h, &p, 0, &mut slab, 64, &mut spans).unwrap();
            split_headers(&h, &p, 0, &mut headers, 64, &mut segs).unwrap();
            split_to_buffers(&h, &p, 0, &mut bufs, &mut lens).unwrap();
            segments_of(&h, &p).unwrap();
            // Errors allocate nothing either.
            split(&h, &p, 0, &mut slab, 64, &mut spans[..1]).unwrap_err();
            finish_in_place(&needs, &mut single).unwrap();
        }
        slab[at..].copy_from_slice(&p);
        split_in_place(&h, &mut slab, at..end, 64, &mut spans).unwrap();
        assert_eq!(ALLOCS.with(Cell::get), before);
    }
}
