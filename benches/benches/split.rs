//! Split throughput: one 64 KB TCP super-packet (IPv4 and IPv6) at MSS 536, 1448 and 8948,
//! and one 64 KB UDP (USO) super-packet at `gso_size` 1200 and 1472/1452, `tcp_tso` /
//! `udp_gso` into separate buffers and into a slab with headroom, side by side with tun-rs's
//! `gso_split` on the same input. Throughput is bytes of input.

use std::hint::black_box;
use std::time::Duration;

use benches::split::{Out, cases, check, ours_buffers, ours_slab, tun_rs_buffers};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn split(c: &mut Criterion) {
    let mut g = c.benchmark_group("split");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    for case in cases() {
        check(&case);
        let mut out = Out::new(&case);
        g.throughput(Throughput::Bytes(case.packet.len() as u64));
        let ours = if case.udp { "udp-gso" } else { "tcp-tso" };
        g.bench_function(
            BenchmarkId::new(format!("{ours}/buffers"), &case.name),
            |b| b.iter(|| ours_buffers(black_box(&case), &mut out)),
        );
        g.bench_function(BenchmarkId::new(format!("{ours}/slab"), &case.name), |b| {
            b.iter(|| ours_slab(black_box(&case), &mut out))
        });
        g.bench_function(BenchmarkId::new("tun-rs/buffers", &case.name), |b| {
            b.iter(|| tun_rs_buffers(black_box(&case), &mut out))
        });
    }
    g.finish();
}

criterion_group!(benches, split);
criterion_main!(benches);
