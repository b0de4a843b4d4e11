// cargo run --release --example churn -- cw1 --k 64
//
// The connection-churn benchmarks of benches/README.md, run through connmgr's public API, or
// with `--impl raw` through a bare mio loop doing the same socket work (the ceiling, raw.rs):
//
//   cargo run --release --example churn -- cw1 --k 64               # outbound churn, K in flight
//   cargo run --release --example churn -- cw1 --k 64 --impl raw    # the same, raw mio
//   cargo run --release --example churn -- hw1 --n 5000             # establish N, then idle 10 s
//   cargo run --release --example churn -- rw1 --n 2000 --retry-ms 100   # retry storm
//   cargo run --release --example churn -- iw1 --k 64               # inbound churn (iw1.rs)
//   cargo run --release --example churn -- cw1 --k 64 --proxy spawn # through microsocks (socks.rs)
//   cargo run --release --features shards --example churn -- cw1 --k 64 --shards 2   # shards.rs
//
// Options (all workloads): --impl connmgr|raw, --port P (use a sink already running there;
// without it the example starts its own sink as a child process: this same binary in `sink`
// mode; iw1 starts a load client child, `load` mode, instead), --addrs 8, --warm 1, --secs 10,
// --retry-ms 100, --rules off|on (iw1), --proxy IP:PORT|spawn (cw1: dial through that SOCKS5
// proxy, or a microsocks child started for the run), --csv FILE (per-second series), --svg
// FILE (chart), --ceiling X (draw a reference rate, e.g. the raw loop's, on the chart). A
// progress line goes to stderr every second; the result is one JSON line on stdout with the
// keys benches/README.md lists, the same for both implementations. `cargo run --release
// --example churn -- help` lists everything (parsed with lexopt: see cli.rs for why not clap).
//
// # The churn path: `Ctx::close`, not `disconnect`
//
// CW1 ends every established connection from `on_connection` with
// `ctx.close(Peer::Outbound(id), DisconnectReason::Requested)`. For an automatic request that
// closes the socket, reports the disconnection, ends the request and asks the address source for
// a replacement at once, WITHOUT counting a failed attempt (the connection did succeed). btcd's
// `Disconnect` (here `disconnect`) counts every disconnect as a failure: after 25 back to back it
// parks replacements for `RetryDuration`, which is why btcd at K = 64 settles at about 25 live
// requests. With `close`, K attempts stay in flight for the whole run.
//
// # What each workload does
//
// - CW1: `target_outbound = K`, `capacity = K`, addresses round-robin over the sink's 8; warm-up
//   `--warm`, then `--secs` measured. A dial that fails (EADDRNOTAVAIL when ephemeral ports run
//   out, say) is counted by cause and replaced like any failed automatic attempt. With
//   `--proxy`, `Config::proxy` sends every dial through that SOCKS5 proxy (a failed handshake
//   counts as `proxy`).
// - HW1: `target_outbound = N` and `capacity = N` (requests, sockets and timers preallocated, so
//   no table grows while establishing). Time to N established, RSS right then, then the idle
//   window.
// - RW1: the manager is started, then N permanent `connect`s to a port where nothing listens
//   (`--port`, or one below the ephemeral range that binds free: a closed port inside the range
//   can, rarely, be picked as the local port of a dial to itself). Dial k of a request (k = 0,
//   1, ...) starts at base x k(k+1)/2: 0, 0.1, 0.3, 0.6, ... 9.1 s for k = 13, 10.5 s for k = 14,
//   so 14 dials per request in 10 s, 28,000 for N = 2000. Each retry deadline is rounded UP to
//   the wheel's next whole millisecond and counted from when the failure is handled, so each
//   retry runs 0-1 ms late plus the loop's latency; 13 of them drift ~15-25 ms, nowhere near
//   the 0.9 s margin before 10 s, so the count is exact rather than an off-by-one at a boundary.
//
// # How the numbers are taken
//
// The example drives the manager's loop itself with `Manager::turn`, so that it can sample
// between turns without a timer: after every turn it reads `counters().in_flight` and the clock
// once (a vDSO read, tens of nanoseconds against a turn that handles a batch of events), and the
// in-flight mean is that value weighted by the time until the next sample.
//
// Peak RSS is `VmHWM` from /proc/self/status, not `getrusage`'s `ru_maxrss`: Linux carries the
// latter across `execve`, so under `cargo run` (which starts the example with vfork + exec) it
// would report cargo's own 49 MB. The progress line
// comes from the same loop (the turn's wait is capped at the next whole second), so no timer is
// armed for it. HW1's idle window is `Manager::run_until(end)`: with no timer armed the manager
// blocks in `epoll_wait` until `end`, one wake-up in 10 s; its progress is printed after the
// window. CPU, peak RSS and context switches are `getrusage(RUSAGE_SELF)`, current RSS is
// `/proc/self/status`; the sink is another process, so its work is not counted.

mod cli;
mod iw1;
mod load;
mod os;
mod raw;
mod series;
#[cfg(feature = "shards")]
mod shards;
mod sink;
mod socks;

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use connmgr::{
    proxy::{Proxy, ProxyError},
    AddressError, Config, ConnInfo, ConnectOptions, Counters, Ctx, DialError, DisconnectReason, Handler, IoError,
    Manager, NextStep, Peer, Target,
};

use cli::{Common, Impl, Workload};
use os::Usage;
use series::{Chart, Errs, HLine, Row};

type BoxError = Box<dyn std::error::Error>;

fn main() {
    os::debug_rss("main");
    let workload = cli::parse();
    os::debug_rss("parsed");
    let result = match &workload {
        Workload::Sink(args) => sink::run(args).map_err(BoxError::from),
        Workload::Load(args) => load::run(args).map_err(BoxError::from),
        Workload::Cw1 { k, common } if common.imp == Impl::Raw => raw::cw1(*k, common),
        Workload::Hw1 { n, common } if common.imp == Impl::Raw => raw::hw1(*n, common),
        Workload::Rw1 { n, common } if common.imp == Impl::Raw => raw::rw1(*n, common),
        Workload::Iw1 { k, common, .. } if common.imp == Impl::Raw => raw::iw1(*k, common),
        #[cfg(feature = "shards")]
        Workload::Cw1 { k, common } if common.shards > 1 => shards::cw1(*k, common),
        #[cfg(feature = "shards")]
        Workload::Hw1 { n, common } if common.shards > 1 => shards::hw1(*n, common),
        Workload::Cw1 { k, common } => cw1(*k, common),
        Workload::Hw1 { n, common } => hw1(*n, common),
        Workload::Rw1 { n, common } => rw1(*n, common),
        Workload::Iw1 { k, rules, common } => iw1::connmgr(*k, *rules, common),
    };
    if let Err(e) = result {
        eprintln!("churn: error: {e}");
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------------------------------------
// The handler: round-robin address source, churn or hold, errors by cause.

struct Bench {
    addrs: Vec<SocketAddr>,
    next: usize,
    /// CW1: close every connection as soon as it is established.
    churn: bool,
    errs: Errs,
}

impl Handler for Bench {
    fn new_address(&mut self, _class: connmgr::ClassId) -> Option<Result<Target, AddressError>> {
        let addr = self.addrs[self.next];
        self.next += 1;
        if self.next == self.addrs.len() {
            self.next = 0;
        }
        Some(Ok(addr.into()))
    }

    fn on_connection(&mut self, ctx: &mut Ctx<'_>, conn: &ConnInfo) {
        if self.churn {
            // The churn path (see the top of this file): replaced at once, no failure counted.
            let _ = ctx.close(Peer::Outbound(conn.id), DisconnectReason::Requested);
        }
    }

    fn on_dial_failed(&mut self, _ctx: &mut Ctx<'_>, _conn: &ConnInfo, error: &DialError, _next: NextStep) {
        let e = &mut self.errs;
        match error {
            // A connect that failed counts by its cause, to the target or to the proxy alike.
            DialError::Io(io) | DialError::Proxy(ProxyError::Unreachable(io)) => e.count_io(io),
            DialError::Proxy(_) => e.proxy += 1,
            DialError::TimedOut(_) => e.timed_out += 1,
            _ => e.other += 1,
        }
    }
}

impl Errs {
    fn count_io(&mut self, io: &IoError) {
        match io.kind() {
            std::io::ErrorKind::ConnectionRefused => self.refused += 1,
            std::io::ErrorKind::AddrNotAvailable => self.addr_not_avail += 1,
            std::io::ErrorKind::TimedOut => self.timed_out += 1,
            _ => self.other += 1,
        }
    }
}

fn sink_addrs(port: u16, n: u8) -> Vec<SocketAddr> {
    (1..=n).map(|i| SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, i), port))).collect()
}

fn manager(config: Config, addrs: Vec<SocketAddr>, churn: bool) -> Result<Manager<Bench>, BoxError> {
    Ok(Manager::new(config, Bench { addrs, next: 0, churn, errs: Errs::default() })?)
}

// ---------------------------------------------------------------------------------------------
// The child sink.

/// A child process of this binary (a sink, or IW1's load client); killed and reaped on drop.
struct ChildProc {
    child: Child,
}

impl ChildProc {
    /// Starts `<this binary> <args>` and waits for its `ready` line; returns what follows `ready`.
    fn start(args: &[String]) -> Result<(Self, String), BoxError> {
        let exe = std::env::current_exe()?;
        let mut child =
            Command::new(exe).args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn()?;
        let mut line = String::new();
        let read = child.stdout.take().map(|out| BufReader::new(out).read_line(&mut line));
        match (read, line.strip_prefix("ready")) {
            (Some(Ok(_)), Some(rest)) => Ok((ChildProc { child }, rest.trim().to_string())),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                Err(format!("the {} child did not start (said {line:?})", args[0]).into())
            }
        }
    }

    fn id(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ChildProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A sink child process; killed and reaped on drop.
struct SinkChild {
    child: ChildProc,
    port: u16,
}

impl SinkChild {
    /// Starts `<this binary> sink ...` and waits for its `ready <port>` line.
    fn start(mode: &str, addrs: u8, secs: f64) -> Result<Self, BoxError> {
        let args =
            ["sink", "--mode", mode, "--port", "0", "--addrs", &addrs.to_string(), "--secs", &format!("{secs:.0}")];
        let (child, rest) = ChildProc::start(&args.map(String::from))?;
        let port = rest.parse::<u16>().map_err(|_| format!("the sink said 'ready {rest}', not a port"))?;
        Ok(SinkChild { child, port })
    }
}

/// The sink to use: the one at `--port`, or a child started now.
fn sink_for(common: &Common, mode: &str, lifetime: f64) -> Result<(u16, Option<SinkChild>), BoxError> {
    match common.port {
        Some(port) => Ok((port, None)),
        None => {
            let child = SinkChild::start(mode, common.addrs, lifetime)?;
            eprintln!("churn: started a {mode} sink (pid {}) on port {}", child.child.id(), child.port);
            Ok((child.port, Some(child)))
        }
    }
}

/// A port on 127.0.0.1 where nothing listens, for rw1. Taken below the ephemeral range when it
/// can be: a closed port inside the range can, rarely, be picked as the local port of a dial to
/// it (a TCP self-connect), which connmgr rejects but which is not the refusal RW1 measures.
/// Probing binds and drops a socket (bounded tries); port 0 is the fallback.
fn closed_port() -> Result<u16, BoxError> {
    let low = os::ephemeral_ports().map_or(32768, |r| r.0);
    let span = low.saturating_sub(10_000).max(1);
    let start = 10_000u32 + std::process::id() % u32::from(span);
    for i in 0..64u32 {
        let port = 10_000 + ((start - 10_000 + i * 97) % u32::from(span)) as u16;
        if port < low && TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return Ok(port);
        }
    }
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

// ---------------------------------------------------------------------------------------------
// Sampling and progress.

/// What the meter reads from either implementation after a turn.
#[derive(Clone, Copy, Debug)]
struct Tally {
    /// Connections established so far (IW1: accepted).
    connected: u64,
    /// Dials started so far.
    dials: u64,
    /// Connections held now (IW1: accepted and not yet closed).
    established: u64,
}

impl From<&Counters> for Tally {
    fn from(c: &Counters) -> Self {
        Tally { connected: c.connected, dials: c.dials, established: c.established }
    }
}

/// A timed run's two phases: warm-up until `warm_at`, measured until `end`.
#[derive(Clone, Copy, Debug)]
struct Phases {
    warm_at: Instant,
    end: Instant,
}

/// Samples the manager between turns: time-weighted in-flight, per-second rows, progress.
struct Meter {
    wl: &'static str,
    start: Instant,
    quiet: bool,
    /// In-flight value seen at the last sample, and when.
    last_at: Instant,
    last_in_flight: u64,
    /// Sum of in_flight x nanoseconds, and nanoseconds, this interval and this window.
    tick_weighted: u128,
    tick_ns: u128,
    win_weighted: u128,
    win_ns: u128,
    in_window: bool,
    /// Start of the current interval.
    tick_at: Instant,
    tick_connected: u64,
    tick_dials: u64,
    tick_cpu: f64,
    next_tick: Instant,
    rows: Vec<Row>,
}

impl Meter {
    fn new(wl: &'static str, start: Instant, quiet: bool, expected_rows: usize) -> Self {
        Meter {
            wl,
            start,
            quiet,
            last_at: start,
            last_in_flight: 0,
            tick_weighted: 0,
            tick_ns: 0,
            win_weighted: 0,
            win_ns: 0,
            in_window: false,
            tick_at: start,
            tick_connected: 0,
            tick_dials: 0,
            tick_cpu: os::usage().cpu_s,
            next_tick: start + Duration::from_secs(1),
            rows: Vec::with_capacity(expected_rows + 4),
        }
    }

    /// Called after every turn.
    #[inline]
    fn sample(&mut self, now: Instant, in_flight: u64) {
        let ns = now.saturating_duration_since(self.last_at).as_nanos();
        let w = u128::from(self.last_in_flight) * ns;
        self.tick_weighted += w;
        self.tick_ns += ns;
        if self.in_window {
            self.win_weighted += w;
            self.win_ns += ns;
        }
        self.last_at = now;
        self.last_in_flight = in_flight;
    }

    /// A meter for a timed run (CW1, IW1), and the run's phases: `common.warm` seconds of
    /// warm-up, then `common.secs` measured.
    fn timed(wl: &'static str, start: Instant, common: &Common) -> (Self, Phases) {
        let warm_at = start + Duration::from_secs_f64(common.warm);
        let phases = Phases { warm_at, end: warm_at + Duration::from_secs_f64(common.secs) };
        (Meter::new(wl, start, common.quiet, (common.warm + common.secs) as usize + 2), phases)
    }

    /// A timed run's bookkeeping after each turn, the same for every workload and both
    /// implementations: when the warm-up ends, a "warm" row, and the measure window opens
    /// with the snapshot `take` makes; a row every second. Returns when the next turn should
    /// wake at the latest (the next row or the next phase), or `None` once the run is over.
    fn step<S>(
        &mut self,
        phases: Phases,
        now: Instant,
        t: Tally,
        errs: Errs,
        snap: &mut Option<S>,
        take: impl FnOnce() -> S,
    ) -> Option<Instant> {
        if snap.is_none() && now >= phases.warm_at {
            self.row(now, "warm", t, errs);
            self.in_window = true;
            *snap = Some(take());
        }
        if now >= phases.end {
            return None;
        }
        if now >= self.next_tick {
            self.row(now, if snap.is_some() { "measure" } else { "warm" }, t, errs);
        }
        Some(self.next_tick.min(if snap.is_some() { phases.end } else { phases.warm_at }))
    }

    fn window_mean(&self) -> f64 {
        if self.win_ns == 0 {
            self.last_in_flight as f64
        } else {
            self.win_weighted as f64 / self.win_ns as f64
        }
    }

    /// Closes the current interval: a row, and a progress line.
    fn row(&mut self, now: Instant, phase: &'static str, c: impl Into<Tally>, errs: Errs) {
        let c: Tally = c.into();
        let dt = now.saturating_duration_since(self.tick_at).as_secs_f64().max(1e-9);
        let cpu = os::usage().cpu_s;
        let in_flight = if self.tick_ns == 0 {
            self.last_in_flight as f64
        } else {
            self.tick_weighted as f64 / self.tick_ns as f64
        };
        let row = Row {
            t_s: now.saturating_duration_since(self.start).as_secs_f64(),
            dt_s: dt,
            phase,
            conn_per_s: (c.connected - self.tick_connected) as f64 / dt,
            dials_per_s: (c.dials - self.tick_dials) as f64 / dt,
            in_flight,
            established: c.established,
            errs,
            cpu_pct: 100.0 * (cpu - self.tick_cpu) / dt,
        };
        if !self.quiet {
            eprintln!(
                "[{:6.2}s] {} {:<9} {:>9} conn/s {:>9} dials/s  in flight {:8.2}  established {:>6}  errs: refused {} addrnotavail {} timeout {} proxy {} other {}  cpu {:.0}%",
                row.t_s,
                self.wl,
                phase,
                series::thousands(row.conn_per_s),
                series::thousands(row.dials_per_s),
                row.in_flight,
                row.established,
                errs.refused,
                errs.addr_not_avail,
                errs.timed_out,
                errs.proxy,
                errs.other,
                row.cpu_pct
            );
        }
        self.rows.push(row);
        self.tick_at = now;
        self.tick_connected = c.connected;
        self.tick_dials = c.dials;
        self.tick_cpu = cpu;
        self.tick_weighted = 0;
        self.tick_ns = 0;
        while self.next_tick <= now {
            self.next_tick += Duration::from_secs(1);
        }
    }
}

/// The chart title's mention of a proxy.
fn via(proxy: Option<SocketAddr>) -> String {
    proxy.map(|p| format!(", through the SOCKS5 proxy at {p}")).unwrap_or_default()
}

/// Writes `--csv` and `--svg` if asked.
fn outputs(common: &Common, rows: &[Row], chart: impl FnOnce() -> Chart) -> Result<(), BoxError> {
    if let Some(path) = &common.csv {
        series::write_csv(path, rows).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if let Some(path) = &common.svg {
        std::fs::write(path, series::svg(&chart())).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

fn print_json(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

// ---------------------------------------------------------------------------------------------
// CW1: outbound churn.

/// CW1's manager configuration, one reactor or sharded: K automatic requests, the retry delay
/// asked for, tables sized for K, through `proxy` if one is given.
fn cw1_config(k: u32, common: &Common, proxy: Option<SocketAddr>) -> Config {
    Config {
        target_outbound: k,
        retry_duration: Duration::from_millis(common.retry_ms),
        capacity: k as usize,
        proxy: proxy.map(Proxy::socks5),
        ..Config::default()
    }
}

fn cw1(k: u32, common: &Common) -> Result<(), BoxError> {
    let lifetime = common.warm + common.secs + 30.0;
    let (port, _sink) = sink_for(common, "close", lifetime)?;
    let (proxy, _microsocks) = socks::proxy_for(common)?;
    let mut mgr = manager(cw1_config(k, common, proxy), sink_addrs(port, common.addrs), true)?;
    let start = Instant::now();
    let (mut meter, phases) = Meter::timed("cw1", start, common);
    mgr.reactor_mut().start();
    let mut snap: Option<(Counters, Errs, Usage, Instant)> = None;
    loop {
        let now = Instant::now();
        let (c, errs) = (mgr.counters(), mgr.reactor().handler().errs);
        meter.sample(now, c.in_flight);
        let Some(wake) = meter.step(phases, now, (&c).into(), errs, &mut snap, || (c, errs, os::usage(), now)) else {
            break;
        };
        mgr.turn(Some(wake.saturating_duration_since(now)))?;
    }
    let now = Instant::now();
    let u1 = os::usage();
    let peak_rss_kb = os::peak_rss_kb(&u1);
    let c1 = mgr.counters();
    let e1 = mgr.reactor().handler().errs;
    let Some((c0, e0, u0, t0)) = snap else { return Err("the run ended before the warm-up did".into()) };
    let secs = now.saturating_duration_since(t0).as_secs_f64();
    if now.saturating_duration_since(meter.tick_at) > Duration::from_millis(50) {
        meter.row(now, "measure", &c1, e1);
    }
    let established = c1.connected - c0.connected;
    let conn_per_s = established as f64 / secs;
    let cpu_s = u1.cpu_s - u0.cpu_s;
    let in_flight_mean = meter.window_mean();
    mgr.stop()?;
    print_json(&format!(
        "{{\"impl\":\"connmgr\",\"wl\":\"cw1\",\"k\":{k},\"conn_per_s\":{conn_per_s:.1},\"established\":{established},\"dials\":{},\"dial_errs\":{},\"cpu_s\":{cpu_s:.3},\"peak_rss_kb\":{},\"secs\":{secs:.3},\"in_flight_mean\":{in_flight_mean:.2},\"proxy\":{}}}",
        c1.dials - c0.dials,
        e1.total() - e0.total(),
        peak_rss_kb,
        socks::json(proxy)
    ));
    if !common.quiet && established == 0 {
        eprintln!("cw1 k={k}: no connection established ({} dial errors): is the sink on port {port}?", e1.total());
    } else if !common.quiet {
        eprintln!(
            "cw1 k={k}: {} conn/s, {:.2} us CPU per connection, in flight {in_flight_mean:.2} (K={k}), peak RSS {} KiB",
            series::thousands(conn_per_s),
            cpu_s * 1e6 / established as f64,
            peak_rss_kb
        );
    }
    outputs(common, &meter.rows, || {
        let mut hlines = vec![HLine {
            y: conn_per_s,
            label: format!("measured mean {} conn/s", series::thousands(conn_per_s)),
            color: "#d95f02",
        }];
        if let Some(c) = common.ceiling {
            hlines.push(HLine {
                y: c,
                label: format!("ceiling (--ceiling) {} conn/s", series::thousands(c)),
                color: "#c0392b",
            });
        }
        Chart {
            title: format!("connmgr CW1 churn: K = {k} in flight, {} sink addresses{}", common.addrs, via(proxy)),
            subtitle: format!(
                "{} conn/s over {secs:.1} s after {} s warm-up; {:.2} us CPU per connection; in flight {in_flight_mean:.1}; {} dial errors",
                series::thousands(conn_per_s),
                common.warm,
                cpu_s * 1e6 / established.max(1) as f64,
                e1.total()
            ),
            y_label: "connections established per second".into(),
            points: meter.rows.iter().map(|r| (r.t_s - r.dt_s / 2.0, r.conn_per_s)).collect(),
            shade: (common.warm > 0.0).then_some((0.0, common.warm, "warm-up")),
            hlines,
            x_max: common.warm + common.secs,
        }
    })
}

// ---------------------------------------------------------------------------------------------
// HW1: establish N, then idle.

fn hw1(n: u32, common: &Common) -> Result<(), BoxError> {
    const LIMIT: Duration = Duration::from_secs(60);
    let lifetime = LIMIT.as_secs_f64() + common.secs + 30.0;
    let (port, _sink) = sink_for(common, "hold", lifetime)?;
    let start = Instant::now();
    let config = Config {
        target_outbound: n,
        retry_duration: Duration::from_millis(common.retry_ms),
        // Preallocate requests, sockets and timers for N: no table grows while establishing.
        capacity: n as usize,
        ..Config::default()
    };
    let capacity = config.capacity;
    os::debug_rss("hw1 before manager");
    let mut mgr = manager(config, sink_addrs(port, common.addrs), false)?;
    os::debug_rss("hw1 manager");
    let mut meter = Meter::new("hw1", start, common.quiet, LIMIT.as_secs() as usize + 2);
    mgr.reactor_mut().start();
    loop {
        let now = Instant::now();
        let c = mgr.counters();
        if c.established >= u64::from(n) || now >= start + LIMIT {
            break;
        }
        meter.sample(now, c.in_flight);
        if now >= meter.next_tick {
            meter.row(now, "establish", &c, mgr.reactor().handler().errs);
        }
        mgr.turn(Some(meter.next_tick.min(start + LIMIT).saturating_duration_since(now)))?;
    }
    let done = Instant::now();
    meter.sample(done, mgr.counters().in_flight);
    let establish_s = done.saturating_duration_since(start).as_secs_f64();
    let rss_after_kb = os::rss_kb();
    os::debug_rss("hw1 established");
    let c = mgr.counters();
    meter.row(done, "establish", &c, mgr.reactor().handler().errs);
    if c.established < u64::from(n) {
        eprintln!("churn: warning: only {} of {n} established within {LIMIT:?}", c.established);
    }
    if !common.quiet {
        eprintln!(
            "hw1: {} established in {establish_s:.3} s (capacity preallocated: {capacity}); RSS {rss_after_kb} KiB; idle {} s ({})",
            c.established,
            common.secs,
            if mgr.reactor().poll_timeout().is_none() { "no timer armed" } else { "a timer is armed" }
        );
    }
    // The idle window: no timer is armed, so the manager sleeps in poll until `end`.
    let u0 = os::usage();
    let end = Instant::now() + Duration::from_secs_f64(common.secs);
    mgr.run_until(end)?;
    let u1 = os::usage();
    let peak_rss_kb = os::peak_rss_kb(&u1);
    let now = Instant::now();
    let c1 = mgr.counters();
    meter.row(now, "idle", &c1, mgr.reactor().handler().errs);
    let e = mgr.reactor().handler().errs;
    mgr.stop()?;
    print_json(&format!(
        "{{\"impl\":\"connmgr\",\"wl\":\"hw1\",\"n\":{n},\"established\":{},\"dials\":{},\"dial_errs\":{},\"establish_s\":{establish_s:.3},\"rss_after_kb\":{rss_after_kb},\"idle_cpu_s\":{:.4},\"idle_nvcsw\":{},\"idle_nivcsw\":{},\"peak_rss_kb\":{}}}",
        c1.established,
        c1.dials,
        e.total(),
        u1.cpu_s - u0.cpu_s,
        u1.nvcsw - u0.nvcsw,
        u1.nivcsw - u0.nivcsw,
        peak_rss_kb
    ));
    outputs(common, &meter.rows, || Chart {
        title: format!("connmgr HW1 hold: N = {n} connections, {} sink addresses", common.addrs),
        subtitle: format!(
            "all established in {establish_s:.3} s, RSS {} KiB after; idle {} s: {:.4} s CPU, {} voluntary switches",
            rss_after_kb,
            common.secs,
            u1.cpu_s - u0.cpu_s,
            u1.nvcsw - u0.nvcsw
        ),
        y_label: "established connections held".into(),
        points: std::iter::once((0.0, 0.0)).chain(meter.rows.iter().map(|r| (r.t_s, r.established as f64))).collect(),
        shade: Some((establish_s, establish_s + common.secs, "idle: no timer armed")),
        hlines: vec![HLine { y: f64::from(n), label: format!("N = {n}"), color: "#d95f02" }],
        x_max: establish_s + common.secs,
    })
}

// ---------------------------------------------------------------------------------------------
// RW1: retry storm against a closed port.

fn rw1(n: u32, common: &Common) -> Result<(), BoxError> {
    let port = match common.port {
        Some(p) => p,
        None => closed_port()?,
    };
    let addr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port));
    let u0 = os::usage();
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(common.secs);
    let config = Config {
        target_outbound: 0,
        retry_duration: Duration::from_millis(common.retry_ms),
        max_retry_duration: Duration::from_secs(300),
        capacity: n as usize,
        ..Config::default()
    };
    os::debug_rss("rw1 before manager");
    let mut mgr = manager(config, Vec::new(), false)?;
    os::debug_rss("rw1 manager");
    let mut meter = Meter::new("rw1", start, common.quiet, common.secs as usize + 2);
    // Started first, so each `connect` dials at once, as the raw loop does. (Requests made
    // before `start` would all dial inside `start`, queueing N dial actions at once.)
    mgr.reactor_mut().start();
    for _ in 0..n {
        mgr.connect(addr, ConnectOptions::permanent())?;
    }
    os::debug_rss("rw1 connects");
    if !common.quiet {
        eprintln!("churn: rw1: {n} permanent requests to {addr} (nothing listens), retry base {} ms", common.retry_ms);
    }
    loop {
        let now = Instant::now();
        let c = mgr.counters();
        meter.sample(now, c.in_flight);
        if now >= end {
            break;
        }
        if now >= meter.next_tick {
            meter.row(now, "run", &c, mgr.reactor().handler().errs);
        }
        mgr.turn(Some(meter.next_tick.min(end).saturating_duration_since(now)))?;
    }
    os::debug_rss("rw1 end");
    let u1 = os::usage();
    let peak_rss_kb = os::peak_rss_kb(&u1);
    let now = Instant::now();
    let c = mgr.counters();
    let e = mgr.reactor().handler().errs;
    if now.saturating_duration_since(meter.tick_at) > Duration::from_millis(50) {
        meter.row(now, "run", &c, e);
    }
    let secs = now.saturating_duration_since(start).as_secs_f64();
    mgr.stop()?;
    // Dial k of a request (0-based) starts at 100 ms x k(k+1)/2 (+ a few ms of lateness), so
    // dials 0..=13 fit in 10 s (9.1 s) and the 15th would be at 10.5 s: 14 per request.
    let expected = u64::from(n) * expected_dials_per_request(common.retry_ms, common.secs);
    print_json(&format!(
        "{{\"impl\":\"connmgr\",\"wl\":\"rw1\",\"n\":{n},\"dials\":{},\"dial_errs\":{},\"established\":{},\"cpu_s\":{:.3},\"peak_rss_kb\":{},\"secs\":{secs:.3}}}",
        c.dials,
        e.total(),
        c.connected,
        u1.cpu_s - u0.cpu_s,
        peak_rss_kb
    ));
    if !common.quiet {
        eprintln!(
            "rw1 n={n}: {} dials (expected {expected} by the schedule), {} refused, {:.3} s CPU, peak RSS {} KiB",
            c.dials,
            e.refused,
            u1.cpu_s - u0.cpu_s,
            peak_rss_kb
        );
    }
    outputs(common, &meter.rows, || Chart {
        title: format!("connmgr RW1 retry storm: N = {n} permanent requests, base {} ms", common.retry_ms),
        subtitle: format!(
            "{} dials in {secs:.1} s (schedule: {expected}); {:.3} s CPU; peak RSS {} KiB",
            c.dials,
            u1.cpu_s - u0.cpu_s,
            peak_rss_kb
        ),
        y_label: "dial attempts per second".into(),
        points: meter.rows.iter().map(|r| (r.t_s - r.dt_s / 2.0, r.dials_per_s)).collect(),
        shade: None,
        hlines: Vec::new(),
        x_max: common.secs,
    })
}

/// Dials one permanent request makes in `secs` with linear backoff `base x retry`: the first at
/// 0, retry k at base x k(k+1)/2 (capped steps of 5 min are far beyond any sane run).
fn expected_dials_per_request(base_ms: u64, secs: f64) -> u64 {
    let limit_ms = (secs * 1000.0) as u64;
    let (mut at, mut k) = (0u64, 0u64);
    while k < 1_000_000 {
        let step = (base_ms * (k + 1)).min(300_000);
        if at + step >= limit_ms {
            break;
        }
        at += step;
        k += 1;
    }
    k + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rw1_schedule_is_14_dials_in_10_s() {
        assert_eq!(expected_dials_per_request(100, 10.0), 14);
        assert_eq!(expected_dials_per_request(1000, 10.0), 4); // 0, 1, 3, 6 s
    }
}
