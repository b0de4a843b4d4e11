//! The timer wheel against a `BinaryHeap`, at 1k, 100k and 1M live timers.
//!
//! Run with `cargo bench --bench wheel` (about a minute; add `-- --quick` for less).
//!
//! Deadlines follow what a connection manager arms, in 1 ms ticks: half connect timeouts
//! (30 s plus up to 1 s of jitter), half retry backoffs (100 ms doubling up to a 300 s cap, plus
//! up to 10% jitter), drawn from a fixed-seed xorshift so every run sees the same numbers.
//!
//! Every benchmark keeps the number of live timers steady: the measured operations run in
//! chunks, and after each chunk the untimed part undoes them (cancels what was inserted,
//! re-arms what was cancelled or fired). Time is measured per chunk with `iter_custom`, so the
//! bookkeeping never enters the numbers. All buffers are allocated up front; the wheel's slab
//! is preallocated, so the measured loops do not allocate.
//!
//! - `insert`: arm one timer.
//! - `cancel`: cancel one random live timer.
//! - `advance`: reactor-style: jump to the next deadline, pop everything due; per fired timer.

// The wheel is private to the crate; its file depends on nothing else in it, so the bench
// compiles it in by path and measures the very code the manager runs.
#[allow(dead_code)]
#[path = "../src/time/wheel.rs"]
mod wheel;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hint::black_box;
use std::time::{Duration, Instant};
use wheel::{TimerKey, Wheel};

const SIZES: [usize; 3] = [1_000, 100_000, 1_000_000];

/// Operations measured between two reads of the clock; small next to the live count, so undoing
/// a chunk barely moves the live count, and large enough that reading the clock is noise.
fn chunk(live: usize) -> usize {
    (live / 8).clamp(16, 1_024)
}

/// xorshift64*: a few instructions, deterministic, no dependency.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        XorShift(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    /// A delay in 1 ms ticks: a connect timeout or a retry backoff.
    fn delay(&mut self) -> u64 {
        if self.next() & 1 == 0 {
            30_000 + self.below(1_000)
        } else {
            let base = (100u64 << self.below(13)).min(300_000);
            base + self.below(base / 10 + 1)
        }
    }
}

/// The usual heap-based timer queue, as the baseline.
///
/// A heap cannot remove an arbitrary element cheaply, so cancellation is lazy, which is what
/// heap-based timer code does in practice: each timer gets an id of (slot, generation); cancel
/// bumps the slot's generation, turning the heap entry into a tombstone that `poll` skips when it
/// surfaces. Without time advancing tombstones never surface, so the heap is rebuilt without
/// them once they outnumber the live timers (amortised O(1) per cancel, and counted).
struct HeapTimers {
    heap: BinaryHeap<Reverse<(u64, u64)>>,
    generations: Vec<u32>,
    values: Vec<u64>,
    free: Vec<u32>,
    live: usize,
}

impl HeapTimers {
    fn with_capacity(capacity: usize) -> Self {
        HeapTimers {
            heap: BinaryHeap::with_capacity(2 * capacity + 64),
            generations: Vec::with_capacity(capacity),
            values: Vec::with_capacity(capacity),
            free: Vec::with_capacity(capacity),
            live: 0,
        }
    }

    fn insert(&mut self, deadline: u64, value: u64) -> u64 {
        let slot = match self.free.pop() {
            Some(slot) => {
                self.values[slot as usize] = value;
                slot
            }
            None => {
                self.generations.push(0);
                self.values.push(value);
                (self.generations.len() - 1) as u32
            }
        };
        let id = (u64::from(slot) << 32) | u64::from(self.generations[slot as usize]);
        self.heap.push(Reverse((deadline, id)));
        self.live += 1;
        id
    }

    /// Frees the id's slot if it is live; its heap entry becomes a tombstone.
    fn release(&mut self, id: u64) -> Option<u64> {
        let slot = (id >> 32) as usize;
        if self.generations[slot] != id as u32 {
            return None;
        }
        self.generations[slot] = self.generations[slot].wrapping_add(1);
        self.free.push(slot as u32);
        self.live -= 1;
        Some(self.values[slot])
    }

    fn cancel(&mut self, id: u64) -> Option<u64> {
        let value = self.release(id)?;
        if self.heap.len() > 2 * self.live + 64 {
            let generations = &self.generations;
            self.heap.retain(|Reverse((_, id))| generations[(id >> 32) as usize] == *id as u32);
        }
        Some(value)
    }

    fn next_deadline(&self) -> Option<u64> {
        self.heap.peek().map(|Reverse((deadline, _))| *deadline)
    }

    fn poll(&mut self, now: u64) -> Option<u64> {
        while let Some(&Reverse((deadline, id))) = self.heap.peek() {
            if deadline > now {
                return None;
            }
            self.heap.pop();
            if let Some(value) = self.release(id) {
                return Some(value);
            }
        }
        None
    }
}

fn filled_wheel(live: usize, rng: &mut XorShift) -> (Wheel<u64>, Vec<TimerKey>) {
    let mut wheel = Wheel::with_capacity(live + chunk(live));
    let keys = (0..live)
        .map(|_| {
            let deadline = rng.delay();
            wheel.insert(deadline, deadline)
        })
        .collect();
    (wheel, keys)
}

fn filled_heap(live: usize, rng: &mut XorShift) -> (HeapTimers, Vec<u64>) {
    let mut heap = HeapTimers::with_capacity(live + chunk(live));
    let ids = (0..live)
        .map(|_| {
            let deadline = rng.delay();
            heap.insert(deadline, deadline)
        })
        .collect();
    (heap, ids)
}

/// Runs `iters` operations through `step`, which is given how many to do (at most one chunk),
/// does them with its own clock around only the measured part, undoes them, and returns how
/// many it did and the time they took. Scales to exactly `iters` in case a step overshoots.
fn measure(iters: u64, chunk: usize, mut step: impl FnMut(usize) -> (usize, Duration)) -> Duration {
    let mut total = Duration::ZERO;
    let mut done = 0u64;
    while done < iters {
        let want = (iters - done).min(chunk as u64) as usize;
        let (did, took) = step(want);
        total += took;
        done += did.max(1) as u64;
    }
    total.mul_f64(iters as f64 / done as f64)
}

fn insert(c: &mut Criterion) {
    let mut group = c.benchmark_group("insert");
    for live in SIZES {
        let chunk = chunk(live);
        let mut rng = XorShift::new(1);
        let mut deadlines = vec![0u64; chunk];

        let (mut wheel, _) = filled_wheel(live, &mut rng);
        let mut keys = Vec::with_capacity(chunk);
        group.bench_function(BenchmarkId::new("wheel", live), |b| {
            b.iter_custom(|iters| {
                measure(iters, chunk, |count| {
                    for deadline in &mut deadlines[..count] {
                        *deadline = rng.delay();
                    }
                    let start = Instant::now();
                    for &deadline in &deadlines[..count] {
                        keys.push(wheel.insert(deadline, deadline));
                    }
                    let took = start.elapsed();
                    for key in keys.drain(..) {
                        wheel.cancel(key);
                    }
                    (count, took)
                })
            })
        });
        drop(wheel);

        let (mut heap, _) = filled_heap(live, &mut rng);
        let mut ids = Vec::with_capacity(chunk);
        group.bench_function(BenchmarkId::new("heap", live), |b| {
            b.iter_custom(|iters| {
                measure(iters, chunk, |count| {
                    for deadline in &mut deadlines[..count] {
                        *deadline = rng.delay();
                    }
                    let start = Instant::now();
                    for &deadline in &deadlines[..count] {
                        ids.push(heap.insert(deadline, deadline));
                    }
                    let took = start.elapsed();
                    for id in ids.drain(..) {
                        heap.cancel(id);
                    }
                    (count, took)
                })
            })
        });
    }
    group.finish();
}

/// Shuffles the handles so that a run of positions names timers scattered over memory.
fn shuffle<K>(handles: &mut [K], rng: &mut XorShift) {
    for i in (1..handles.len()).rev() {
        handles.swap(i, rng.below(i as u64 + 1) as usize);
    }
}

fn cancel(c: &mut Criterion) {
    let mut group = c.benchmark_group("cancel");
    for live in SIZES {
        let chunk = chunk(live);
        let mut rng = XorShift::new(2);

        let (mut wheel, mut keys) = filled_wheel(live, &mut rng);
        shuffle(&mut keys, &mut rng);
        let mut next = 0;
        group.bench_function(BenchmarkId::new("wheel", live), |b| {
            b.iter_custom(|iters| {
                measure(iters, chunk, |count| {
                    let window = next..next + count.min(live - next);
                    let start = Instant::now();
                    for key in &keys[window.clone()] {
                        black_box(wheel.cancel(*key));
                    }
                    let took = start.elapsed();
                    for key in &mut keys[window.clone()] {
                        let deadline = rng.delay();
                        *key = wheel.insert(deadline, deadline);
                    }
                    next = window.end % live;
                    (window.len(), took)
                })
            })
        });
        drop(wheel);

        let (mut heap, mut ids) = filled_heap(live, &mut rng);
        shuffle(&mut ids, &mut rng);
        let mut next = 0;
        group.bench_function(BenchmarkId::new("heap", live), |b| {
            b.iter_custom(|iters| {
                measure(iters, chunk, |count| {
                    let window = next..next + count.min(live - next);
                    let start = Instant::now();
                    for id in &ids[window.clone()] {
                        black_box(heap.cancel(*id));
                    }
                    let took = start.elapsed();
                    for id in &mut ids[window.clone()] {
                        let deadline = rng.delay();
                        *id = heap.insert(deadline, deadline);
                    }
                    next = window.end % live;
                    (window.len(), took)
                })
            })
        });
    }
    group.finish();
}

fn advance(c: &mut Criterion) {
    let mut group = c.benchmark_group("advance");
    for live in SIZES {
        let chunk = chunk(live);
        let mut rng = XorShift::new(3);
        // A wake can fire several timers at once, so a chunk can overshoot a little.
        let mut fired = Vec::with_capacity(4 * chunk + 1_024);

        let (mut wheel, _) = filled_wheel(live, &mut rng);
        group.bench_function(BenchmarkId::new("wheel", live), |b| {
            b.iter_custom(|iters| {
                measure(iters, chunk, |count| {
                    let start = Instant::now();
                    while fired.len() < count {
                        let Some(now) = wheel.next_deadline() else {
                            break;
                        };
                        while let Some((_, value)) = wheel.poll(now) {
                            fired.push(value);
                        }
                    }
                    let took = start.elapsed();
                    let now = wheel.elapsed();
                    let did = fired.len();
                    for _ in fired.drain(..) {
                        let deadline = now + rng.delay();
                        wheel.insert(deadline, deadline);
                    }
                    (did, took)
                })
            })
        });
        drop(wheel);

        let (mut heap, _) = filled_heap(live, &mut rng);
        group.bench_function(BenchmarkId::new("heap", live), |b| {
            b.iter_custom(|iters| {
                let mut now = 0;
                measure(iters, chunk, |count| {
                    let start = Instant::now();
                    while fired.len() < count {
                        let Some(next) = heap.next_deadline() else {
                            break;
                        };
                        now = next;
                        while let Some(value) = heap.poll(now) {
                            fired.push(value);
                        }
                    }
                    let took = start.elapsed();
                    let did = fired.len();
                    for _ in fired.drain(..) {
                        let deadline = now + rng.delay();
                        heap.insert(deadline, deadline);
                    }
                    (did, took)
                })
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    targets = insert, cancel, advance
}
criterion_main!(benches);
