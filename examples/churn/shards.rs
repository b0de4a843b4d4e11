//! `--shards N` (N > 1; feature `shards`): CW1 and HW1 on a `ShardedManager`, N reactors on N
//! threads, measured like the single-reactor runs of main.rs.
//!
//! Each shard drives its own loop (`ShardedManager::run_each`, then `Manager::turn`) and samples
//! itself after every turn, as the single reactor does: its in-flight count weighted by time, and
//! its counters at the warm-up boundary and at the end. Those are summed at the end. For the
//! per-second progress line and the CSV, every shard stores a few counters in its own cache line
//! after each turn (relaxed stores, no contention), and shard 0 reads them once a second. CPU and
//! context switches are `getrusage(RUSAGE_SELF)`, which counts every thread of the process;
//! shard 0 takes them at the window's edges.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use connmgr::{shards::ShardedManager, Config, Counters};

use crate::cli::Common;
use crate::os::{self, Usage};
use crate::series::{self, Chart, Errs, HLine};
use crate::{cw1_config, outputs, print_json, sink_addrs, sink_for, socks, via, Bench, BoxError, Meter, Phases, Tally};

/// What a shard publishes after every turn, for the progress line; one cache line per shard.
#[derive(Default)]
#[repr(align(64))]
struct Progress {
    connected: AtomicU64,
    dials: AtomicU64,
    established: AtomicU64,
    in_flight: AtomicU64,
}

impl Progress {
    fn store(&self, c: &Counters) {
        self.connected.store(c.connected, Ordering::Relaxed);
        self.dials.store(c.dials, Ordering::Relaxed);
        self.established.store(c.established, Ordering::Relaxed);
        self.in_flight.store(c.in_flight, Ordering::Relaxed);
    }
}

fn total(progress: &[Progress]) -> (Tally, u64) {
    let sum = |f: fn(&Progress) -> &AtomicU64| progress.iter().map(|p| f(p).load(Ordering::Relaxed)).sum::<u64>();
    let tally =
        Tally { connected: sum(|p| &p.connected), dials: sum(|p| &p.dials), established: sum(|p| &p.established) };
    (tally, sum(|p| &p.in_flight))
}

/// A shard's in-flight count weighted by time, inside the measured window.
#[derive(Default, Clone, Copy)]
struct Weighted {
    last_at: Option<Instant>,
    last: u64,
    weighted: u128,
    ns: u128,
}

impl Weighted {
    fn sample(&mut self, now: Instant, in_flight: u64, in_window: bool) {
        if let (Some(at), true) = (self.last_at, in_window) {
            let ns = now.saturating_duration_since(at).as_nanos();
            self.weighted += u128::from(self.last) * ns;
            self.ns += ns;
        }
        self.last_at = Some(now);
        self.last = in_flight;
    }

    fn mean(&self) -> f64 {
        if self.ns == 0 {
            self.last as f64
        } else {
            self.weighted as f64 / self.ns as f64
        }
    }
}

/// One shard's view of the window.
#[derive(Clone, Copy)]
struct Window {
    c0: Counters,
    e0: Errs,
    c1: Counters,
    e1: Errs,
    in_flight: Weighted,
}

fn sharded(
    config: Config,
    common: &Common,
    addrs: &[std::net::SocketAddr],
    churn: bool,
) -> Result<ShardedManager<Bench>, BoxError> {
    let n = addrs.len();
    Ok(ShardedManager::new(config, common.shards, |i| Bench {
        addrs: addrs.to_vec(),
        // Each shard starts at a different sink address.
        next: i % n,
        churn,
        errs: Errs::default(),
    })?)
}

/// CW1 on N shards: K automatic requests in all (the target is the manager's), churned.
pub fn cw1(k: u32, common: &Common) -> Result<(), BoxError> {
    let shards = common.shards;
    let lifetime = common.warm + common.secs + 30.0;
    let (port, _sink) = sink_for(common, "close", lifetime)?;
    let (proxy, _microsocks) = socks::proxy_for(common)?;
    let mut mgr = sharded(cw1_config(k, common, proxy), common, &sink_addrs(port, common.addrs), true)?;
    let start = Instant::now();
    let (meter, Phases { warm_at: t_warm, end }) = Meter::timed("cw1", start, common);
    let progress: Vec<Progress> = (0..shards).map(|_| Progress::default()).collect();
    let windows: Vec<Mutex<Option<Window>>> = (0..shards).map(|_| Mutex::new(None)).collect();
    let meter = Mutex::new(meter);
    let usage: Mutex<Option<(Usage, Instant, Usage, Instant)>> = Mutex::new(None);
    mgr.run_each(|i, m| {
        m.reactor_mut().start();
        let mut w = Weighted::default();
        let mut snap: Option<(Counters, Errs, Usage, Instant)> = None;
        let mut meter = (i == 0).then(|| meter.lock().unwrap());
        let mut next_tick = start + Duration::from_secs(1);
        loop {
            let now = Instant::now();
            let c = m.counters();
            w.sample(now, c.in_flight, snap.is_some());
            progress[i].store(&c);
            if snap.is_none() && now >= t_warm {
                snap = Some((c, m.reactor().handler().errs, if i == 0 { os::usage() } else { Usage::default() }, now));
                if let Some(meter) = meter.as_mut() {
                    let (tally, in_flight) = total(&progress);
                    meter.sample(now, in_flight);
                    meter.row(now, "warm", tally, m.reactor().handler().errs);
                    meter.in_window = true;
                }
            }
            if now >= end {
                break;
            }
            if let Some(meter) = meter.as_mut() {
                let (tally, in_flight) = total(&progress);
                meter.sample(now, in_flight);
                if now >= next_tick {
                    meter.row(now, if snap.is_some() { "measure" } else { "warm" }, tally, m.reactor().handler().errs);
                    next_tick = meter.next_tick;
                }
            }
            let until = if snap.is_some() { end } else { t_warm };
            // Only shard 0 prints progress; the others wake for the window's edges alone.
            let wake = if meter.is_some() { next_tick.min(until) } else { until };
            m.turn(Some(wake.saturating_duration_since(now)))?;
        }
        let now = Instant::now();
        let Some((c0, e0, u0, t0)) = snap else {
            return Err(std::io::Error::other("the run ended before the warm-up"));
        };
        if i == 0 {
            *usage.lock().unwrap() = Some((u0, t0, os::usage(), now));
        }
        let c1 = m.counters();
        *windows[i].lock().unwrap() = Some(Window { c0, e0, c1, e1: m.reactor().handler().errs, in_flight: w });
        Ok(())
    })?;
    let Some((u0, t0, u1, t1)) = usage.into_inner().unwrap() else { return Err("shard 0 took no usage".into()) };
    let peak_rss_kb = os::peak_rss_kb(&u1);
    let windows: Vec<Window> = windows.into_iter().map(|w| w.into_inner().unwrap().expect("every shard ran")).collect();
    let secs = t1.saturating_duration_since(t0).as_secs_f64();
    let established: u64 = windows.iter().map(|w| w.c1.connected - w.c0.connected).sum();
    let dials: u64 = windows.iter().map(|w| w.c1.dials - w.c0.dials).sum();
    let dial_errs: u64 = windows.iter().map(|w| w.e1.total() - w.e0.total()).sum();
    let in_flight_mean: f64 = windows.iter().map(|w| w.in_flight.mean()).sum();
    let per_shard: Vec<String> = windows.iter().map(|w| (w.c1.connected - w.c0.connected).to_string()).collect();
    let conn_per_s = established as f64 / secs;
    let cpu_s = u1.cpu_s - u0.cpu_s;
    mgr.stop()?;
    print_json(&format!(
        "{{\"impl\":\"connmgr\",\"wl\":\"cw1\",\"k\":{k},\"shards\":{shards},\"conn_per_s\":{conn_per_s:.1},\"established\":{established},\"per_shard\":[{}],\"dials\":{dials},\"dial_errs\":{dial_errs},\"cpu_s\":{cpu_s:.3},\"peak_rss_kb\":{peak_rss_kb},\"secs\":{secs:.3},\"in_flight_mean\":{in_flight_mean:.2},\"proxy\":{}}}",
        per_shard.join(","),
        socks::json(proxy)
    ));
    let us = cpu_s * 1e6 / established.max(1) as f64;
    if !common.quiet {
        eprintln!(
            "cw1 k={k} shards={shards}: {} conn/s, {us:.2} us CPU per connection, in flight {in_flight_mean:.2} (K={k}), per shard [{}], peak RSS {peak_rss_kb} KiB",
            series::thousands(conn_per_s),
            per_shard.join(", ")
        );
    }
    let meter = meter.into_inner().unwrap();
    outputs(common, &meter.rows, || {
        Chart {
        title: format!("connmgr CW1 churn on {shards} shards: K = {k} in flight, {} sink addresses{}", common.addrs, via(proxy)),
        subtitle: format!(
            "{} conn/s over {secs:.1} s after {} s warm-up; {us:.2} us CPU per connection; in flight {in_flight_mean:.1}",
            series::thousands(conn_per_s),
            common.warm
        ),
        y_label: "connections established per second".into(),
        points: meter.rows.iter().map(|r| (r.t_s - r.dt_s / 2.0, r.conn_per_s)).collect(),
        shade: (common.warm > 0.0).then_some((0.0, common.warm, "warm-up")),
        hlines: vec![HLine {
            y: conn_per_s,
            label: format!("measured mean {} conn/s", series::thousands(conn_per_s)),
            color: "#d95f02",
        }],
        x_max: common.warm + common.secs,
    }
    })
}

/// HW1 on N shards: N connections in all, established, then held idle.
pub fn hw1(n: u32, common: &Common) -> Result<(), BoxError> {
    const LIMIT: Duration = Duration::from_secs(60);
    let shards = common.shards;
    let lifetime = LIMIT.as_secs_f64() + common.secs + 30.0;
    let (port, _sink) = sink_for(common, "hold", lifetime)?;
    let start = Instant::now();
    let config = Config {
        target_outbound: n,
        retry_duration: Duration::from_millis(common.retry_ms),
        capacity: n as usize,
        ..Config::default()
    };
    let mut mgr = sharded(config, common, &sink_addrs(port, common.addrs), false)?;
    let progress: Vec<Progress> = (0..shards).map(|_| Progress::default()).collect();
    let done: Mutex<Option<Instant>> = Mutex::new(None);
    mgr.run_each(|i, m| {
        m.reactor_mut().start();
        loop {
            let now = Instant::now();
            progress[i].store(&m.counters());
            if total(&progress).0.established >= u64::from(n) || now >= start + LIMIT {
                if i == 0 {
                    *done.lock().unwrap() = Some(now);
                }
                return Ok(());
            }
            // Short waits: a shard that is done waits for the others' counts.
            m.turn(Some(Duration::from_millis(1)))?;
        }
    })?;
    let done = done.into_inner().unwrap().unwrap_or_else(Instant::now);
    let establish_s = done.saturating_duration_since(start).as_secs_f64();
    let rss_after_kb = os::rss_kb();
    let c = mgr.counters();
    if c.established < u64::from(n) {
        eprintln!("churn: warning: only {} of {n} established within {LIMIT:?}", c.established);
    }
    let u0 = os::usage();
    let end = Instant::now() + Duration::from_secs_f64(common.secs);
    mgr.run_until(end)?;
    let u1 = os::usage();
    let peak_rss_kb = os::peak_rss_kb(&u1);
    let c1 = mgr.counters();
    let errs: u64 = mgr.shards().iter().map(|s| s.reactor().handler().errs.total()).sum();
    mgr.stop()?;
    print_json(&format!(
        "{{\"impl\":\"connmgr\",\"wl\":\"hw1\",\"n\":{n},\"shards\":{shards},\"established\":{},\"dials\":{},\"dial_errs\":{errs},\"establish_s\":{establish_s:.3},\"rss_after_kb\":{rss_after_kb},\"idle_cpu_s\":{:.4},\"idle_nvcsw\":{},\"idle_nivcsw\":{},\"peak_rss_kb\":{}}}",
        c1.established,
        c1.dials,
        u1.cpu_s - u0.cpu_s,
        u1.nvcsw - u0.nvcsw,
        u1.nivcsw - u0.nivcsw,
        peak_rss_kb
    ));
    if !common.quiet {
        eprintln!(
            "hw1 n={n} shards={shards}: {} established in {establish_s:.3} s; RSS {rss_after_kb} KiB; idle {} s: {:.4} s CPU, {} voluntary switches",
            c1.established,
            common.secs,
            u1.cpu_s - u0.cpu_s,
            u1.nvcsw - u0.nvcsw
        );
    }
    Ok(())
}
