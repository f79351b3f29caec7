//! A split + GRO forwarder's userspace work per 64 KB super-packet (no syscalls): ours with
//! payloads left in place (verifying and trusting checksums), ours copying each segment into
//! a slab, and tun-rs's `gso_split` + `apply_gro`, on the same input. Throughput is bytes of
//! input.

use std::hint::black_box;
use std::time::Duration;

use benches::coalesce::timed;
use benches::forward::{Ours, TunRs, cases, check};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tcp_gro::ChecksumStatus;

fn forward(c: &mut Criterion) {
    let mut g = c.benchmark_group("forward");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    for case in cases() {
        check(&case);
        let mut ours = Ours::new(&case);
        let mut peer = TunRs::new(&case);
        g.throughput(Throughput::Bytes(case.packet.len() as u64));
        g.bench_function(BenchmarkId::new("ours/in-place", &case.name), |b| {
            b.iter(|| ours.in_place(black_box(&case), ChecksumStatus::Unverified))
        });
        g.bench_function(BenchmarkId::new("ours/in-place-trusted", &case.name), |b| {
            b.iter(|| ours.in_place(black_box(&case), ChecksumStatus::KnownGood))
        });
        g.bench_function(BenchmarkId::new("ours/copied", &case.name), |b| {
            b.iter(|| ours.copied(black_box(&case)))
        });
        // tun-rs's buffers are given their lengths back outside the timed region.
        g.bench_function(BenchmarkId::new("tun-rs", &case.name), |b| {
            b.iter_custom(|iters| timed(iters, &mut peer, TunRs::prep, |p| p.run(&case)))
        });
    }
    g.finish();
}

criterion_group!(benches, forward);
criterion_main!(benches);
