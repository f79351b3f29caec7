//! Coalesce throughput: a batch of 44 in-order 1448-byte segments of one flow (IPv4, IPv6),
//! 128 segments over 8 flows, and 128 unmergeable segments; `tcp_gro` verifying checksums,
//! trusting them, and verifying plus copying into one buffer, side by side with tun-rs's GRO on
//! the same input. tun-rs rewrites its input, which is restored outside the timed region (so
//! every variant is timed per call the same way). Throughput is bytes of input.

use std::time::Duration;

use benches::coalesce::{TunRs, cases, check, input_bytes, ours, ours_materialized, timed};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tcp_gro::{ChecksumStatus, Coalescer, Config};

fn coalesce(c: &mut Criterion) {
    let mut g = c.benchmark_group("coalesce");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    for case in cases() {
        check(&case);
        g.throughput(Throughput::Bytes(input_bytes(&case) as u64));
        let mut gro = Coalescer::new(Config::default());
        g.bench_function(BenchmarkId::new("tcp-gro/verify", case.name), |b| {
            b.iter_custom(|n| {
                timed(
                    n,
                    &mut gro,
                    |_| {},
                    |g| ours(g, &case.packets, ChecksumStatus::Unverified),
                )
            })
        });
        g.bench_function(BenchmarkId::new("tcp-gro/trusted", case.name), |b| {
            b.iter_custom(|n| {
                timed(
                    n,
                    &mut gro,
                    |_| {},
                    |g| ours(g, &case.packets, ChecksumStatus::KnownGood),
                )
            })
        });
        let mut dst = vec![0u8; 65535];
        g.bench_function(BenchmarkId::new("tcp-gro/verify+copy", case.name), |b| {
            b.iter_custom(|n| {
                timed(
                    n,
                    &mut gro,
                    |_| {},
                    |g| ours_materialized(g, &case.packets, &mut dst),
                )
            })
        });
        let mut tr = TunRs::new(&case);
        g.bench_function(BenchmarkId::new("tun-rs", case.name), |b| {
            b.iter_custom(|n| timed(n, &mut tr, |s| s.restore(&case), TunRs::run))
        });
    }
    g.finish();
}

criterion_group!(benches, coalesce);
criterion_main!(benches);
