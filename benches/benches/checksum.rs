//! Checksum throughput: each of our paths, the public entry point, the fused copy+sum against
//! copy-then-sum, and the peers (tun-rs, internet-checksum, etherparse, smoltcp), side by side
//! at header, MTU, jumbo and super-packet sizes.

use std::hint::black_box;
use std::time::Duration;

use benches::checksum::{
    SIZES, copy_then_sum, data, etherparse, internet_checksum, our_impls, ours, ours_auto, smoltcp,
    tun_rs,
};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn sum(c: &mut Criterion) {
    let mut g = c.benchmark_group("checksum");
    for n in SIZES {
        let buf = data(n);
        let d = buf.as_slice();
        g.throughput(Throughput::Bytes(n as u64));
        g.bench_with_input(BenchmarkId::new("ours", n), d, |b, d| {
            b.iter(|| ours_auto(black_box(d)))
        });
        for (name, imp) in our_impls() {
            g.bench_with_input(BenchmarkId::new(format!("ours-{name}"), n), d, |b, d| {
                b.iter(|| ours(imp, black_box(d)))
            });
        }
        g.bench_with_input(BenchmarkId::new("tun-rs", n), d, |b, d| {
            b.iter(|| tun_rs(black_box(d)))
        });
        g.bench_with_input(BenchmarkId::new("internet-checksum", n), d, |b, d| {
            b.iter(|| internet_checksum(black_box(d)))
        });
        g.bench_with_input(BenchmarkId::new("etherparse", n), d, |b, d| {
            b.iter(|| etherparse(black_box(d)))
        });
        g.bench_with_input(BenchmarkId::new("smoltcp", n), d, |b, d| {
            b.iter(|| smoltcp(black_box(d)))
        });
    }
    g.finish();
}

fn copy(c: &mut Criterion) {
    let mut g = c.benchmark_group("copy_and_sum");
    for n in SIZES {
        let src = data(n);
        let mut dst = vec![0u8; n];
        g.throughput(Throughput::Bytes(n as u64));
        g.bench_function(BenchmarkId::new("fused", n), |b| {
            b.iter(|| inet_csum::copy_and_sum(black_box(&mut dst), black_box(&src)).fold())
        });
        g.bench_function(BenchmarkId::new("copy+sum", n), |b| {
            b.iter(|| copy_then_sum(black_box(&mut dst), black_box(&src)))
        });
        for (name, imp) in our_impls() {
            g.bench_function(BenchmarkId::new(format!("fused-{name}"), n), |b| {
                b.iter(|| imp.copy_and_sum(black_box(&mut dst), black_box(&src)))
            });
        }
        g.bench_function(BenchmarkId::new("memcpy", n), |b| {
            b.iter(|| black_box(&mut dst).copy_from_slice(black_box(&src)))
        });
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(30)
}

criterion_group! { name = benches; config = config(); targets = sum, copy }
criterion_main!(benches);
