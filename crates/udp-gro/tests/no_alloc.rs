//! No allocation per batch after warm-up: a counting global allocator watches push + drain +
//! materialize + `with_io_slices` on this thread for the benchmark-shaped batches.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use testkit::udp::UdpPacket;
use udp_gro::{ChecksumStatus, Coalescer, Config, IoSliceBuf};

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
    static BYTES: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards every call to `System` unchanged; only counts on the current thread.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCS.with(|a| a.set(a.get() + 1));
            BYTES.with(|b| b.set(b.get() + layout.size()));
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCS.with(|a| a.set(a.get() + 1));
            BYTES.with(|b| b.set(b.get() + new_size));
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// What `Coalescer::with_capacity` documents: bytes allocated per packet of the batch.
const BOUND: usize = 220;

fn one_batch(
    gro: &mut Coalescer,
    packets: &[Vec<u8>],
    buf: &mut [u8],
    iov: &mut IoSliceBuf,
) -> usize {
    for (i, p) in packets.iter().enumerate() {
        gro.push(i, p, ChecksumStatus::Unverified);
    }
    let mut n = 0;
    for out in gro.drain(packets) {
        n += out.materialize(buf).unwrap();
        n += out.with_io_slices(out.vnet_bytes(), iov, |s| s.len());
    }
    n
}

#[test]
fn steady_state_batches_do_not_allocate() {
    let mut one_flow = UdpPacket::v4().train(64, 1200);
    one_flow.extend(UdpPacket::v6().train(64, 1200));
    let mut eight_flows = Vec::new();
    for f in 0..8u16 {
        eight_flows.push(UdpPacket::v4().ports(1000 + f, 443).train(16, 1200));
    }
    let eight_flows: Vec<Vec<u8>> = (0..16)
        .flat_map(|k| eight_flows.iter().map(move |t| t[k].clone()))
        .collect();
    let lonely: Vec<Vec<u8>> = (0..128u16)
        .map(|f| UdpPacket::v4().ports(f, 443).payload_len(100).build())
        .collect();
    let mut gro = Coalescer::new(Config::default());
    let mut buf = vec![0u8; 65535];
    let mut iov = IoSliceBuf::new();
    let batches = [&one_flow, &eight_flows, &lonely];
    // Warm-up: every shape once.
    for b in batches {
        one_batch(&mut gro, b, &mut buf, &mut iov);
    }
    COUNTING.with(|c| c.set(true));
    let mut total = 0;
    // Miri interprets every byte summed: one round there.
    for _ in 0..if cfg!(miri) { 1 } else { 3 } {
        for b in batches {
            total += one_batch(&mut gro, b, &mut buf, &mut iov);
        }
    }
    COUNTING.with(|c| c.set(false));
    assert!(total > 0);
    assert_eq!(ALLOCS.with(Cell::get), 0, "allocations in steady state");
}

/// A coalescer made `with_capacity(n)` takes a first batch of `n` packets — here 512 flows of
/// two, the most runs a batch can hold — without allocating, and what it allocated up front is
/// within the bound its documentation states.
#[test]
// A measurement of this build's allocations; the steady-state test above covers Miri.
#[cfg_attr(miri, ignore)]
fn with_capacity_allocates_up_front_within_the_stated_bound() {
    const PACKETS: usize = 1024;
    let trains: Vec<Vec<Vec<u8>>> = (0..(PACKETS / 2) as u16)
        .map(|f| {
            UdpPacket::v4()
                .addrs4([10, 1, (f >> 8) as u8, f as u8], [10, 2, 0, 1])
                .ports(2000, 443)
                .train(2, 1200)
        })
        .collect();
    let batch: Vec<Vec<u8>> = (0..2)
        .flat_map(|k| trains.iter().map(move |t| t[k].clone()))
        .collect();
    let mut buf = vec![0u8; 65535];
    let mut iov = IoSliceBuf::with_capacity(64);
    COUNTING.with(|c| c.set(true));
    let mut gro = Coalescer::with_capacity(Config::default(), PACKETS);
    let up_front = BYTES.with(Cell::get);
    let allocs = ALLOCS.with(Cell::get);
    let n = one_batch(&mut gro, &batch, &mut buf, &mut iov);
    COUNTING.with(|c| c.set(false));
    assert!(n > 0);
    assert_eq!(
        ALLOCS.with(Cell::get),
        allocs,
        "allocations in the first batch"
    );
    let per_packet = up_front / PACKETS;
    // Debug builds also keep a buffer of one merged packet for their self-check.
    let bound = BOUND
        + if cfg!(debug_assertions) {
            65_535usize.div_ceil(PACKETS)
        } else {
            0
        };
    assert!(
        per_packet <= bound,
        "{per_packet} bytes per packet, documented {BOUND}"
    );
    println!("{up_front} bytes for {PACKETS} packets: {per_packet} per packet");
}
