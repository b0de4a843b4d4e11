//! CW1 on tokio's `multi_thread` runtime: the client `churn cw1` is compared with in
//! benches/README.md, "Using every core (feature `shards`)".
//!
//! K tasks each loop: `TcpStream::connect` to the next of the sink's addresses (127.0.0.1 ..=
//! 127.0.0.A, round-robin over all tasks), count the connection once established, drop it
//! (close), start the next. That is the work `churn cw1` does per connection (a nonblocking
//! connect, readiness from epoll, the completion check, close), with the runtime's own
//! bookkeeping instead of connmgr's. A failed connect is counted by cause and the task goes on.
//!
//!     cargo run --release --manifest-path benches/tokio-churn/Cargo.toml -- --port P --k 64
//!
//! The sink is `churn sink --mode close` (start it first; `--port` names it). Warm up `--warm`
//! seconds, measure `--secs`; CPU is `getrusage(RUSAGE_SELF)` (every worker thread), peak RSS
//! `VmHWM`. One JSON line on stdout with churn's CW1 keys, `impl` = "tokio".

use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Args {
    port: u16,
    k: usize,
    addrs: u8,
    warm: f64,
    secs: f64,
    workers: usize,
}

fn parse() -> Result<Args, String> {
    let mut a = Args { port: 0, k: 64, addrs: 8, warm: 1.0, secs: 10.0, workers: 2 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--port" => a.port = value()?.parse().map_err(|_| "bad --port")?,
            "--k" => a.k = value()?.parse().map_err(|_| "bad --k")?,
            "--addrs" => a.addrs = value()?.parse().map_err(|_| "bad --addrs")?,
            "--warm" => a.warm = value()?.parse().map_err(|_| "bad --warm")?,
            "--secs" => a.secs = value()?.parse().map_err(|_| "bad --secs")?,
            "--workers" => a.workers = value()?.parse().map_err(|_| "bad --workers")?,
            "-q" | "--quiet" => {}
            other => return Err(format!("unknown option {other}")),
        }
    }
    if a.port == 0 || a.k == 0 || a.k > 100_000 || a.addrs == 0 || a.workers == 0 || a.workers > 64 {
        return Err("need --port P (a running churn sink), 1 <= --k <= 100000, --addrs >= 1, 1 <= --workers <= 64".into());
    }
    if !(a.warm >= 0.0 && a.secs > 0.0 && a.warm + a.secs <= 3600.0) {
        return Err("--warm and --secs must be seconds, at most an hour in all".into());
    }
    Ok(a)
}

#[derive(Default)]
struct Counts {
    connected: AtomicU64,
    dials: AtomicU64,
    errs: AtomicU64,
    addr_not_avail: AtomicU64,
}

fn cpu_s() -> f64 {
    // SAFETY: getrusage only writes the struct handed to it; all-zero is a valid rusage.
    let mut r: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF and a valid pointer.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut r) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(r.ru_utime) + tv(r.ru_stime)
}

fn peak_rss_kb() -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(-1)
}

fn main() {
    let a = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("tokio-churn: error: {e}");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(a.workers).enable_all().build().unwrap();
    let addrs: Arc<Vec<SocketAddr>> = Arc::new(
        (1..=a.addrs).map(|i| SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, i), a.port))).collect(),
    );
    let counts = Arc::new(Counts::default());
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(a.warm + a.secs + 0.5);
    for _ in 0..a.k {
        let (addrs, counts, next) = (Arc::clone(&addrs), Arc::clone(&counts), Arc::clone(&next));
        rt.spawn(async move {
            while Instant::now() < end {
                let addr = addrs[next.fetch_add(1, Ordering::Relaxed) % addrs.len()];
                counts.dials.fetch_add(1, Ordering::Relaxed);
                match tokio::net::TcpStream::connect(addr).await {
                    Ok(stream) => {
                        counts.connected.fetch_add(1, Ordering::Relaxed);
                        drop(stream);
                    }
                    Err(e) => {
                        counts.errs.fetch_add(1, Ordering::Relaxed);
                        if e.kind() == ErrorKind::AddrNotAvailable {
                            counts.addr_not_avail.fetch_add(1, Ordering::Relaxed);
                            // Out of ephemeral ports for a moment: let TIME_WAIT drain.
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                    }
                }
            }
        });
    }
    std::thread::sleep(Duration::from_secs_f64(a.warm));
    let snap = |c: &Counts| {
        (c.connected.load(Ordering::Relaxed), c.dials.load(Ordering::Relaxed), c.errs.load(Ordering::Relaxed))
    };
    let (c0, d0, e0, u0, t0) = {
        let (c, d, e) = snap(&counts);
        (c, d, e, cpu_s(), Instant::now())
    };
    std::thread::sleep(Duration::from_secs_f64(a.secs));
    let (c1, d1, e1) = snap(&counts);
    let u1 = cpu_s();
    let secs = t0.elapsed().as_secs_f64();
    let established = c1 - c0;
    println!(
        "{{\"impl\":\"tokio\",\"wl\":\"cw1\",\"k\":{},\"workers\":{},\"conn_per_s\":{:.1},\"established\":{established},\"dials\":{},\"dial_errs\":{},\"cpu_s\":{:.3},\"peak_rss_kb\":{},\"secs\":{secs:.3},\"in_flight_mean\":{}.00,\"proxy\":null}}",
        a.k,
        a.workers,
        established as f64 / secs,
        d1 - d0,
        e1 - e0,
        u1 - u0,
        peak_rss_kb(),
        a.k
    );
    eprintln!(
        "tokio-churn k={} workers={}: {:.0} conn/s, {:.2} us CPU per connection ({} addrnotavail)",
        a.k,
        a.workers,
        established as f64 / secs,
        (u1 - u0) * 1e6 / established.max(1) as f64,
        counts.addr_not_avail.load(Ordering::Relaxed)
    );
    rt.shutdown_timeout(Duration::from_millis(100));
}
