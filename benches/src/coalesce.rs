//! Coalescing a batch of TCP segments: `tcp_gro` (verifying checksums, trusting them, and
//! verifying plus copying each merged packet into one buffer) against tun-rs 2.8.16's GRO on
//! the same input. tun-rs's entry point is `GROTable::apply_gro` (public but
//! `#[doc(hidden)]`; `handle_gro` is re-exported hidden too, and its `TcpGROTable` argument is
//! not exported). tun-rs merges in place — it appends payloads to the first buffer and
//! rewrites headers — so its input is restored before every call, outside the timed region;
//! its buffers get the 64 KB of capacity it needs to merge (it refuses otherwise).
//!
//! Cases: 44 in-order 1448-byte segments of one flow (IPv4, IPv6); 128 segments over 8
//! interleaved flows; 128 segments of 128 different flows (nothing merges: the worst case);
//! many flows interleaved (64 × 4 and 1024 × 2 segments), to see whether the cost per segment
//! stays flat as flows grow; and one flow of 2048 segments, the 1024-flow batch's size and
//! bytes (3 MB: more than L2 holds) in one flow, which separates what the flows cost from
//! what the batch's size costs. The last column is ours' verifying cost per segment.

use std::hint::black_box;
use std::time::{Duration, Instant};

use tcp_gro::{ChecksumStatus, Coalescer, Config};
use testkit::packet::TcpPacket;

use crate::timing::Timer;

/// Room in front of each packet for tun-rs's virtio header.
pub const OFFSET: usize = tun_rs::VIRTIO_NET_HDR_LEN;

/// One input batch.
pub struct Case {
    /// "v4/1flow×44" etc.
    pub name: &'static str,
    /// The IP packets.
    pub packets: Vec<Vec<u8>>,
    /// Outputs a correct GRO must produce.
    pub expect_outputs: usize,
}

/// `flows` flows of `per_flow` in-order segments each, interleaved (one segment of every
/// flow, then the next of every flow, …): what a busy tunnel's batch looks like.
fn interleaved(flows: u16, per_flow: usize) -> Vec<Vec<u8>> {
    let trains: Vec<Vec<Vec<u8>>> = (0..flows)
        .map(|f| {
            TcpPacket::v4()
                .addrs4([10, 1, (f >> 8) as u8, f as u8], [10, 2, 0, 1])
                .ports(2000 + f, 443)
                .train(1000, per_flow, 1448)
        })
        .collect();
    (0..per_flow)
        .flat_map(|k| trains.iter().map(move |t| t[k].clone()))
        .collect()
}

/// Every case.
pub fn cases() -> Vec<Case> {
    let eight = interleaved(8, 16);
    let lonely = (0..128u16)
        .map(|f| {
            TcpPacket::v4()
                .ports(3000 + f, 443)
                .seq(1000)
                .payload_len(1448)
                .build()
        })
        .collect();
    vec![
        Case {
            name: "v4/1flow-x44",
            packets: TcpPacket::v4().train(1000, 44, 1448),
            expect_outputs: 1,
        },
        Case {
            name: "v6/1flow-x44",
            packets: TcpPacket::v6().train(1000, 44, 1448),
            expect_outputs: 1,
        },
        Case {
            name: "v4/8flows-x16",
            packets: eight,
            expect_outputs: 8,
        },
        Case {
            name: "v4/128-unmergeable",
            packets: lonely,
            expect_outputs: 128,
        },
        Case {
            name: "v4/64flows-x4",
            packets: interleaved(64, 4),
            expect_outputs: 64,
        },
        Case {
            name: "v4/1024flows-x2",
            packets: interleaved(1024, 2),
            expect_outputs: 1024,
        },
        Case {
            name: "v4/1flow-x2048",
            packets: interleaved(1, 2048),
            expect_outputs: 46,
        },
    ]
}

/// Bytes of input in a case (for throughput).
pub fn input_bytes(case: &Case) -> usize {
    case.packets.iter().map(Vec::len).sum()
}

/// Ours: push the batch, drain, and walk every output's slices as a writer would. Returns a
/// value depending on every output so nothing is optimised away.
pub fn ours(gro: &mut Coalescer, packets: &[Vec<u8>], csum: ChecksumStatus) -> usize {
    for (i, p) in packets.iter().enumerate() {
        gro.push(i, p, csum);
    }
    let mut n = 0;
    for out in gro.drain(packets) {
        n += out.headers().len() + out.vnet_bytes().len();
        for p in out.payloads() {
            n += p.len();
        }
    }
    n
}

/// Ours, plus copying every merged packet into one contiguous buffer (writers without
/// scatter-gather; comparable to tun-rs, which copies payload into the first buffer).
pub fn ours_materialized(gro: &mut Coalescer, packets: &[Vec<u8>], dst: &mut [u8]) -> usize {
    for (i, p) in packets.iter().enumerate() {
        gro.push(i, p, ChecksumStatus::Unverified);
    }
    let mut n = 0;
    for out in gro.drain(packets) {
        n += if out.is_merged() {
            let k = out.materialize(dst).unwrap_or(0);
            // The copy is the point: keep it from being optimised away.
            black_box(&mut *dst);
            k
        } else {
            out.len()
        };
    }
    n
}

/// tun-rs's working state: the GRO table and buffers (`OFFSET` bytes of headroom each, 64 KB
/// of capacity).
pub struct TunRs {
    table: tun_rs::GROTable,
    /// The buffers tun-rs rewrites.
    pub bufs: Vec<Vec<u8>>,
}

impl TunRs {
    /// Buffers for `case`, already holding its packets.
    pub fn new(case: &Case) -> Self {
        let bufs = case
            .packets
            .iter()
            .map(|_| Vec::with_capacity(2 * OFFSET + 65536))
            .collect();
        let mut t = TunRs {
            table: tun_rs::GROTable::new(),
            bufs,
        };
        t.restore(case);
        t
    }

    /// Put the pristine packets back (tun-rs merged into them in place). No allocation.
    pub fn restore(&mut self, case: &Case) {
        for (b, p) in self.bufs.iter_mut().zip(&case.packets) {
            b.clear();
            b.resize(OFFSET, 0);
            b.extend_from_slice(p);
        }
    }

    /// Run tun-rs's GRO over the buffers. Returns the first buffer's length (which grows when
    /// it merges).
    pub fn run(&mut self) -> usize {
        self.table
            .apply_gro(&mut self.bufs, OFFSET, false)
            .expect("tun-rs GRO");
        self.bufs[0].len()
    }
}

/// Check that both sides merge as expected before timing them.
pub fn check(case: &Case) {
    let mut gro = Coalescer::new(Config::default());
    for (i, p) in case.packets.iter().enumerate() {
        gro.push(i, p, ChecksumStatus::Unverified);
    }
    assert_eq!(
        gro.drain(&case.packets).count(),
        case.expect_outputs,
        "{}",
        case.name
    );
    let mut t = TunRs::new(case);
    let first = t.run();
    if case.expect_outputs < case.packets.len() {
        assert!(
            first > OFFSET + case.packets[0].len(),
            "tun-rs did not merge {}",
            case.name
        );
    }
}

/// Time `f` (after `prep`, which is not timed): `iters` calls, total duration.
pub fn timed<S, R>(
    iters: u64,
    state: &mut S,
    mut prep: impl FnMut(&mut S),
    mut f: impl FnMut(&mut S) -> R,
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        prep(state);
        let t = Instant::now();
        black_box(f(state));
        total += t.elapsed();
    }
    total
}

/// Best-of-N nanoseconds per call of `f`, `prep` excluded.
pub(crate) fn best_ns<S, R>(
    timer: &Timer,
    state: &mut S,
    mut prep: impl FnMut(&mut S),
    mut f: impl FnMut(&mut S) -> R,
) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..timer.samples * 4 {
        let d = timed(16, state, &mut prep, &mut f);
        best = best.min(d.as_nanos() as f64 / 16.0);
    }
    best
}

/// Print the comparison table.
pub fn compare(timer: &Timer) {
    println!(
        "coalesce: µs per batch (best of N), GB/s of input, ratio = tun-rs time / ours, \
         ns per segment (ours verifying)"
    );
    println!(
        "{:<20} {:>16} {:>16} {:>16} {:>16}",
        "case", "ours verify", "ours trusted", "ours verify+copy", "tun-rs"
    );
    for case in cases() {
        check(&case);
        let bytes = input_bytes(&case) as f64;
        let mut gro = Coalescer::new(Config::default());
        let mut dst = vec![0u8; 65535];
        let v = best_ns(
            timer,
            &mut gro,
            |_| {},
            |g| ours(g, &case.packets, ChecksumStatus::Unverified),
        );
        let t = best_ns(
            timer,
            &mut gro,
            |_| {},
            |g| ours(g, &case.packets, ChecksumStatus::KnownGood),
        );
        let m = best_ns(
            timer,
            &mut gro,
            |_| {},
            |g| ours_materialized(g, &case.packets, &mut dst),
        );
        let mut tr = TunRs::new(&case);
        let r = best_ns(timer, &mut tr, |s| s.restore(&case), TunRs::run);
        let cell = |ns: f64| format!("{:>7.2} {:>5.1}", ns / 1000.0, bytes / ns);
        println!(
            "{:<20} {:>16} {:>16} {:>16} {:>16}   ratio verify {:.1}x, trusted {:.1}x, copy {:.1}x   {:.1} ns/seg",
            case.name,
            cell(v),
            cell(t),
            cell(m),
            cell(r),
            r / v,
            r / t,
            r / m,
            v / case.packets.len() as f64
        );
    }
}
