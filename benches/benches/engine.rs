//! Cost per event through a 5-plugin stack (source, three filters, wildcard sink),
//! with the stacks on the loop thread (threads=0) and on two workers (threads=2),
//! plus the allocations per event in steady state (printed; `tests/alloc.rs` asserts 0).

use std::sync::atomic::Ordering;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ulogd_benches::{run_stack, CountingAlloc, ALLOCATIONS};

#[global_allocator]
static A: CountingAlloc = CountingAlloc;

fn engine(c: &mut Criterion) {
    const N: u64 = 20_000;
    for threads in [0usize, 2] {
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        run_stack(1_000, threads);
        let small = ALLOCATIONS.load(Ordering::Relaxed) - before;
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        run_stack(101_000, threads);
        let big = ALLOCATIONS.load(Ordering::Relaxed) - before;
        println!(
            "threads={threads}: {:.4} allocations per event in steady state",
            (big as f64 - small as f64) / 100_000.0
        );
        let mut g = c.benchmark_group(format!("engine-5-plugins-threads-{threads}"));
        g.throughput(Throughput::Elements(N));
        g.sample_size(10);
        g.bench_function("events", |b| b.iter(|| run_stack(N, threads)));
        g.finish();
    }
}

criterion_group!(benches, engine);
criterion_main!(benches);
