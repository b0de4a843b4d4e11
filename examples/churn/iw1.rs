//! IW1, inbound churn: the listener's side. A load client child (`churn load`, see `load.rs`)
//! keeps K connects in flight to the listener from 127.0.0.1 ..= 127.0.0.<addrs> and closes
//! each as soon as it is established; the listener accepts, reads to end of stream, and closes.
//!
//! This file holds what both implementations share (the listening socket, the load child, the
//! read-to-EOF step, the report) and connmgr's side: a `Manager` with one listener, whose
//! handler reads on readiness and closes on end of stream. The raw side is `raw::iw1`.
//!
//! Both listen through [`listen`] (SO_REUSEADDR, backlog 4096, as the sink), so the kernel's
//! accept queue is the same for both; both read with the same 512-byte stack buffer, only when
//! the readiness says there is something to read.

use std::io::{self, ErrorKind, Read};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener};
use std::time::{Duration, Instant};

use connmgr::{
    inbound::{AcceptRate, Eviction, Protection, Subnet},
    Config, Ctx, DisconnectReason, Handler, Manager, Peer, Ready,
};
use mio::net::TcpStream;
use socket2::{Domain, Socket, Type};

use crate::cli::{Common, Impl, Rules};
use crate::os::{self, Usage};
use crate::series::{self, Chart, Errs, HLine};
use crate::{outputs, print_json, BoxError, ChildProc, Meter, Tally};

/// The listening socket: 127.0.0.1:`port` (0: any free port), SO_REUSEADDR, backlog 4096,
/// nonblocking.
pub fn listen(port: u16) -> io::Result<TcpListener> {
    let s = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    s.bind(&SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)).into())?;
    s.listen(4096)?;
    Ok(s.into())
}

/// Starts the load client child against `port`; it lives until dropped (or `lifetime` s).
pub fn load_child(port: u16, k: u32, common: &Common, lifetime: f64) -> Result<ChildProc, BoxError> {
    let args = [
        "load".to_string(),
        "--port".into(),
        port.to_string(),
        "--k".into(),
        k.to_string(),
        "--addrs".into(),
        common.addrs.to_string(),
        "--secs".into(),
        format!("{lifetime:.0}"),
    ];
    let (child, _) = ChildProc::start(&args)?;
    if !common.quiet {
        eprintln!(
            "churn: started a load client (pid {}): {k} in flight to 127.0.0.1:{port} from 127.0.0.1..={}",
            child.id(),
            common.addrs
        );
    }
    Ok(child)
}

/// What a read to end of stream found.
pub enum Drained {
    /// End of stream: close.
    Eof,
    /// Nothing more for now (`WouldBlock`): wait for the next readiness.
    Pending,
    /// A read error: close.
    Failed(io::Error),
}

/// Reads and discards until end of stream, `WouldBlock` or an error (readiness is
/// edge-triggered: stopping earlier would strand what is left).
pub fn read_to_eof(stream: &mut TcpStream) -> Drained {
    let mut buf = [0u8; 512];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Drained::Eof,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Drained::Pending,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Drained::Failed(e),
        }
    }
}

/// One IW1 run's result, printed the same way for both implementations.
pub struct Report {
    pub imp: Impl,
    pub k: u32,
    pub rules: Rules,
    /// Accepts in the measured window.
    pub accepts: u64,
    pub secs: f64,
    pub cpu_s: f64,
    pub peak_rss_kb: i64,
}

impl Report {
    /// Prints the JSON line and the summary, and writes `--csv` / `--svg`.
    pub fn print(&self, common: &Common, meter: &Meter) -> Result<(), BoxError> {
        let Report { imp, k, rules, accepts, secs, cpu_s, peak_rss_kb } = *self;
        let accepts_per_s = accepts as f64 / secs;
        print_json(&format!(
            "{{\"impl\":\"{}\",\"wl\":\"iw1\",\"k\":{k},\"rules\":\"{}\",\"accepts_per_s\":{accepts_per_s:.1},\"established\":{accepts},\"dials\":0,\"dial_errs\":0,\"cpu_s\":{cpu_s:.3},\"peak_rss_kb\":{peak_rss_kb},\"secs\":{secs:.3}}}",
            imp.name(),
            rules.name()
        ));
        let us = cpu_s * 1e6 / accepts.max(1) as f64;
        if !common.quiet {
            eprintln!(
                "iw1 k={k} ({}, rules {}): {} accepts/s, {us:.2} us CPU per accept, peak RSS {peak_rss_kb} KiB",
                imp.name(),
                rules.name(),
                series::thousands(accepts_per_s)
            );
        }
        outputs(common, &meter.rows, || {
            let mut hlines = vec![HLine {
                y: accepts_per_s,
                label: format!("measured mean {} accepts/s", series::thousands(accepts_per_s)),
                color: "#d95f02",
            }];
            if let Some(c) = common.ceiling {
                hlines.push(HLine {
                    y: c,
                    label: format!("ceiling (--ceiling) {} accepts/s", series::thousands(c)),
                    color: "#c0392b",
                });
            }
            Chart {
                title: format!(
                    "{} IW1 inbound churn: K = {k} in flight from {} source addresses",
                    imp.name(),
                    common.addrs
                ),
                subtitle: format!(
                    "{} accepts/s over {secs:.1} s after {} s warm-up; {us:.2} us CPU per accept; rules {}",
                    series::thousands(accepts_per_s),
                    common.warm,
                    rules.name()
                ),
                y_label: "connections accepted per second".into(),
                points: meter.rows.iter().map(|r| (r.t_s - r.dt_s / 2.0, r.conn_per_s)).collect(),
                shade: (common.warm > 0.0).then_some((0.0, common.warm, "warm-up")),
                hlines,
                x_max: common.warm + common.secs,
            }
        })
    }
}

// ---------------------------------------------------------------------------------------------
// connmgr's side.

/// Reads each accepted connection to end of stream, then closes it.
struct Acceptor;

impl Handler for Acceptor {
    fn on_ready(&mut self, ctx: &mut Ctx<'_>, peer: Peer, ready: Ready) {
        // Accepted sockets are registered for writable readiness too; a writable-only event
        // has nothing to read (the raw loop, registered readable only, never sees one).
        if !(ready.is_readable() || ready.is_read_closed() || ready.is_error()) {
            return;
        }
        let Some(stream) = ctx.stream(peer) else { return };
        match read_to_eof(stream) {
            Drained::Pending => {}
            Drained::Eof => {
                let _ = ctx.close(peer, DisconnectReason::RemoteClosed);
            }
            Drained::Failed(e) => {
                let _ = ctx.close(peer, e.into());
            }
        }
    }
}

/// IW1's manager configuration. `--rules on` switches every admission rule on, each checked on
/// every accept but none binding, so the cost of checking is what is measured: a per-IP cap and
/// a per-netgroup cap above what the load reaches, an accept rate far above the workload's,
/// `max_inbound` with eviction (never full), and, added by [`ban_unrelated`], 1,000 bans of
/// subnets the load never comes from. The reconnect throttle stays off: the load reconnects
/// from the same few addresses by design, and the throttle would refuse exactly that.
fn config(k: u32, rules: Rules) -> Result<Config, BoxError> {
    let off = Config {
        target_outbound: 0,
        max_inbound: None,
        // Room for the connections alive at once (K in flight, plus the accepted ones whose
        // end of stream has not been read yet): no table grows in steady state.
        capacity: 2 * k as usize,
        ..Config::default()
    };
    match rules {
        Rules::Off => Ok(off),
        Rules::On => Ok(Config {
            // Connections alive at once are at most about 2K (K in flight, and as many whose
            // end of stream is not read yet): caps above that check without refusing.
            max_inbound: Some(4 * k + 64),
            protection: Protection {
                max_per_ip: Some(4 * k + 64),
                max_per_netgroup: Some(4 * k + 64),
                accept_rate: Some(AcceptRate { burst: 1_000_000, per_second: 10_000_000 }),
                eviction: Some(Eviction::bitcoin_core()),
                ..Protection::default()
            },
            ..off
        }),
    }
}

/// 1,000 bans of subnets the load never comes from (10.x.y.0/24), for `--rules on`.
fn ban_unrelated(mgr: &mut Manager<Acceptor>) -> Result<(), BoxError> {
    for i in 0..1000u32 {
        let subnet: Subnet = format!("10.{}.{}.0/24", i / 256, i % 256).parse()?;
        mgr.ban(subnet, Duration::from_secs(24 * 3600))?;
    }
    Ok(())
}

/// IW1 through connmgr.
pub fn connmgr(k: u32, rules: Rules, common: &Common) -> Result<(), BoxError> {
    let config = config(k, rules)?;
    let listener = listen(common.port.unwrap_or(0))?;
    let mut mgr = Manager::new(config, Acceptor)?;
    if rules == Rules::On {
        ban_unrelated(&mut mgr)?;
    }
    let port = mgr.reactor_mut().add_listener(listener)?.port();
    let _load = load_child(port, k, common, common.warm + common.secs + 30.0)?;
    let start = Instant::now();
    let (mut meter, phases) = Meter::timed("iw1", start, common);
    mgr.reactor_mut().start();
    let tally = |m: &Manager<Acceptor>| {
        let c = m.counters();
        Tally { connected: c.accepted, dials: 0, established: c.inbound }
    };
    let mut snap: Option<(Tally, Usage, Instant)> = None;
    loop {
        let now = Instant::now();
        let t = tally(&mgr);
        meter.sample(now, t.established);
        let Some(wake) = meter.step(phases, now, t, Errs::default(), &mut snap, || (t, os::usage(), now)) else {
            break;
        };
        mgr.turn(Some(wake.saturating_duration_since(now)))?;
    }
    let now = Instant::now();
    let u1 = os::usage();
    let peak_rss_kb = os::peak_rss_kb(&u1);
    let t1 = tally(&mgr);
    let Some((t0, u0, at)) = snap else { return Err("the run ended before the warm-up did".into()) };
    if now.saturating_duration_since(meter.tick_at) > Duration::from_millis(50) {
        meter.row(now, "measure", t1, Errs::default());
    }
    mgr.stop()?;
    Report {
        imp: Impl::Connmgr,
        k,
        rules,
        accepts: t1.connected - t0.connected,
        secs: now.saturating_duration_since(at).as_secs_f64(),
        cpu_s: u1.cpu_s - u0.cpu_s,
        peak_rss_kb,
    }
    .print(common, &meter)
}
