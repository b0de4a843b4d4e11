//! The sans-IO core alone: one full connect -> established -> close -> replacement cycle on
//! simulated time, at K = 8, 64 and 512 dials in flight. No sockets, no clock, no kernel: this
//! is what the manager's own logic costs per connection.
//!
//! Run with `cargo bench --bench core` (add `-- --quick` for a short run).
//!
//! Besides the time, it counts heap allocations per cycle with a counting global allocator
//! after a warm-up, prints them, and panics if the steady state allocates at all: that would be
//! a regression (the churn path is meant to be allocation-free; `tests/alloc/core_churn.rs` checks
//! the same in `cargo test`).

#[path = "../tests/support/counting_alloc.rs"]
mod counting_alloc;
#[path = "../tests/support/cycle.rs"]
mod cycle;

use counting_alloc::{count_allocs, CountingAlloc};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use cycle::Churn;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const TARGETS: [u32; 3] = [8, 64, 512];

fn core_cycle(c: &mut Criterion) {
    let mut group = c.benchmark_group("core_cycle");
    for k in TARGETS {
        let mut churn = Churn::new(k);
        for _ in 0..20_000 + 40 * k {
            churn.cycle();
        }
        const CYCLES: u64 = 100_000;
        let ((), allocs) = count_allocs(|| {
            for _ in 0..CYCLES {
                churn.cycle();
            }
        });
        println!(
            "core_cycle k={k}: {:.4} allocations per cycle ({allocs} in {CYCLES} steady-state cycles)",
            allocs as f64 / CYCLES as f64
        );
        assert_eq!(allocs, 0, "REGRESSION: the core allocates in steady-state churn (K = {k})");
        group.bench_function(BenchmarkId::from_parameter(format!("k={k}")), |b| b.iter(|| churn.cycle()));
        assert_eq!(churn.in_flight(), k as usize);
        // The same cycle with every outbound rule on (classes, diversity, jittered backoff,
        // the stable rule, failure memory, offline detection), in the same run.
        let mut churn = Churn::with_every_rule(k);
        for _ in 0..20_000 + 40 * k {
            churn.cycle();
        }
        let ((), allocs) = count_allocs(|| {
            for _ in 0..CYCLES {
                churn.cycle();
            }
        });
        assert_eq!(allocs, 0, "REGRESSION: the outbound rules allocate in steady-state churn (K = {k})");
        group.bench_function(BenchmarkId::from_parameter(format!("k={k}+rules")), |b| b.iter(|| churn.cycle()));
    }
    group.finish();
}

criterion_group!(benches, core_cycle);
criterion_main!(benches);
