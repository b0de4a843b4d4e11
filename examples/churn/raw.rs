//! `--impl raw`: the ceiling. The same socket work as connmgr in a bare mio loop with no manager
//! logic. Outbound (CW1, HW1, RW1): a fixed table of slots, one nonblocking connect per slot,
//! the strict completion check (`take_error`, then `peer_addr`, which says `NotConnected` while
//! the connect is in progress), and for RW1 a binary heap of retry deadlines. Inbound (IW1): an
//! accept loop over a slab of streams. No request state, no address source, no timer wheel, no
//! callbacks, and none of connmgr's extra syscalls (no `epoll_ctl(DEL)` before a close, which
//! mio does not need on Linux: closing the last fd removes it from the epoll set; no
//! `getsockname` to catch a dial connected to itself). Through a proxy (CW1 `--proxy`), each
//! slot connects to the proxy instead and runs the SOCKS5 exchange of `socks.rs` before the
//! connection counts as established.
//!
//! What is measured, and how, is shared with the connmgr paths so that the two differ only in
//! the client: the same sink child, the same warm-up and window, the same [`Meter`] sampled after
//! every `poll` (whose wait is capped at the next whole second, as `Manager::turn`'s is), the
//! same CPU (`getrusage(RUSAGE_SELF)`) and peak RSS (`VmHWM`), and the same JSON keys, with
//! `"impl":"raw"`.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, ErrorKind};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use crate::cli::{Common, Impl, Rules};
use crate::iw1::{self, Drained};
use crate::os::{self, Usage};
use crate::series::{self, Chart, Errs, HLine};
use crate::socks::{self, Exchange, Step};
use crate::{
    closed_port, expected_dials_per_request, outputs, print_json, sink_addrs, sink_for, via, BoxError, Meter, Tally,
};

/// Where a connecting socket stands after an event.
enum Check {
    Connected,
    Pending,
    Failed(io::Error),
}

/// The strict completion check: `take_error`, then `peer_addr`. An error or hang-up event on a
/// socket that is still not connected is a failure (no further event would come for it).
fn check(s: &TcpStream, ev: &Event) -> Check {
    match s.take_error() {
        Ok(None) => {}
        Ok(Some(e)) | Err(e) => return Check::Failed(e),
    }
    match s.peer_addr() {
        Ok(_) => Check::Connected,
        Err(e) if e.kind() == ErrorKind::NotConnected => {
            if ev.is_error() || ev.is_read_closed() || ev.is_write_closed() {
                Check::Failed(io::Error::new(ErrorKind::ConnectionAborted, "closed while connecting"))
            } else {
                Check::Pending
            }
        }
        Err(e) => Check::Failed(e),
    }
}

/// Counts a dial failure by cause, as connmgr's handler does.
fn count(errs: &mut Errs, e: &io::Error) {
    match e.kind() {
        ErrorKind::ConnectionRefused => errs.refused += 1,
        ErrorKind::AddrNotAvailable => errs.addr_not_avail += 1,
        ErrorKind::TimedOut => errs.timed_out += 1,
        _ => errs.other += 1,
    }
}

/// A fixed table of connecting (and, for HW1, held) sockets on one `Poll`.
struct Dialer {
    poll: Poll,
    slots: Vec<Option<TcpStream>>,
    /// Established and kept (HW1): later events on the slot are ignored.
    held: Vec<bool>,
    held_n: u64,
    dials: u64,
    connected: u64,
    /// Dials in progress.
    in_flight: u64,
    errs: Errs,
    /// CW1 `--proxy`: every slot dials this SOCKS5 proxy, and `socks[i]` is slot i's exchange.
    via: Option<SocketAddr>,
    socks: Vec<Exchange>,
}

impl Dialer {
    fn new(n: usize) -> io::Result<Self> {
        Ok(Dialer {
            poll: Poll::new()?,
            slots: (0..n).map(|_| None).collect(),
            held: vec![false; n],
            held_n: 0,
            dials: 0,
            connected: 0,
            in_flight: 0,
            errs: Errs::default(),
            via: None,
            socks: Vec::new(),
        })
    }

    /// Dials every slot through the SOCKS5 proxy at `proxy`.
    fn through(&mut self, proxy: SocketAddr) {
        let unset = Exchange::new(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));
        self.via = Some(proxy);
        self.socks = vec![unset; self.slots.len()];
    }

    /// Starts a nonblocking connect in slot `i` (to `addr`, or to the proxy for a CONNECT to
    /// `addr`); `Err` if it failed at once (counted).
    fn start(&mut self, i: usize, addr: SocketAddr) -> Result<(), ()> {
        self.dials += 1;
        let (to, interest) = match (self.via, addr) {
            (None, _) => (addr, Interest::WRITABLE),
            (Some(proxy), SocketAddr::V4(target)) => {
                self.socks[i] = Exchange::new(target);
                // Registered once for both: the replies come as readable events.
                (proxy, Interest::READABLE | Interest::WRITABLE)
            }
            (Some(_), SocketAddr::V6(_)) => {
                self.errs.other += 1;
                return Err(());
            }
        };
        let started = TcpStream::connect(to)
            .and_then(|mut s| self.poll.registry().register(&mut s, Token(i), interest).map(|()| s));
        match started {
            Ok(s) => {
                self.slots[i] = Some(s);
                self.in_flight += 1;
                Ok(())
            }
            Err(e) => {
                count(&mut self.errs, &e);
                Err(())
            }
        }
    }

    /// Closes slot `i` (dropping the stream closes it).
    fn close(&mut self, i: usize) {
        self.slots[i] = None;
    }

    /// Keeps slot `i`'s connection open and registered, like an idle peer.
    fn hold(&mut self, i: usize) {
        self.held[i] = true;
        self.held_n += 1;
    }

    fn tally(&self) -> Tally {
        Tally { connected: self.connected, dials: self.dials, established: self.held_n }
    }

    /// Checks the socket of an event: `Some(true)` connected, `Some(false)` failed (counted,
    /// socket closed), `None` nothing to do.
    fn settle(&mut self, ev: &Event) -> Option<bool> {
        let i = ev.token().0;
        if self.held[i] {
            return None;
        }
        let proxied = self.via.is_some();
        let s = self.slots[i].as_ref()?;
        if !proxied || self.socks[i].is_connecting() {
            match check(s, ev) {
                Check::Pending => return None,
                Check::Failed(e) => return Some(self.settled(i, Err(Some(e)))),
                Check::Connected if !proxied => return Some(self.settled(i, Ok(()))),
                Check::Connected => self.socks[i].connected(),
            }
        }
        // The greeting goes out at once; each reply is read when its readable event comes.
        let readable = ev.is_readable() || ev.is_read_closed() || ev.is_error();
        match self.socks[i].drive(s, readable) {
            Step::Pending => None,
            Step::Done => Some(self.settled(i, Ok(()))),
            Step::Failed => Some(self.settled(i, Err(None))),
        }
    }

    /// Slot `i`'s dial ended: established, or failed (a connect error by its kind, or `None`:
    /// the SOCKS exchange failed; the socket is closed).
    fn settled(&mut self, i: usize, result: Result<(), Option<io::Error>>) -> bool {
        self.in_flight -= 1;
        match result {
            Ok(()) => {
                self.connected += 1;
                true
            }
            Err(e) => {
                match e {
                    Some(e) => count(&mut self.errs, &e),
                    None => self.errs.proxy += 1,
                }
                self.close(i);
                false
            }
        }
    }
}

/// One `poll` (an interrupted wait is an empty one).
fn poll_once(poll: &mut Poll, events: &mut Events, wait: Duration) -> io::Result<()> {
    match poll.poll(events, Some(wait)) {
        Err(e) if e.kind() != ErrorKind::Interrupted => Err(e),
        _ => Ok(()),
    }
}

/// The poll wait: until the next progress line or `until`, at most 1 ms while a connect that
/// failed at once waits to be redone.
fn wait(meter: &Meter, until: Instant, now: Instant, redo: bool) -> Duration {
    wake_in(meter.next_tick.min(until), now, redo)
}

/// How long to poll to wake by `wake` (at most 1 ms while dials wait to be retried).
fn wake_in(wake: Instant, now: Instant, redo: bool) -> Duration {
    let w = wake.saturating_duration_since(now);
    if redo {
        w.min(Duration::from_millis(1))
    } else {
        w
    }
}

// ---------------------------------------------------------------------------------------------
// CW1: outbound churn.

pub fn cw1(k: u32, common: &Common) -> Result<(), BoxError> {
    let lifetime = common.warm + common.secs + 30.0;
    let (port, _sink) = sink_for(common, "close", lifetime)?;
    let (proxy, _microsocks) = socks::proxy_for(common)?;
    let addrs = sink_addrs(port, common.addrs);
    let mut rr = 0usize;
    let mut next = || {
        let a = addrs[rr];
        rr = (rr + 1) % addrs.len();
        a
    };
    let mut events = Events::with_capacity(1024);
    let mut d = Dialer::new(k as usize)?;
    if let Some(proxy) = proxy {
        d.through(proxy);
    }
    let mut redo = Vec::new();
    let start = Instant::now();
    let (mut meter, phases) = Meter::timed("cw1", start, common);
    for i in 0..k as usize {
        if d.start(i, next()).is_err() {
            redo.push(i);
        }
    }
    let mut snap: Option<(Tally, Errs, Usage, Instant)> = None;
    loop {
        let now = Instant::now();
        let (t, errs) = (d.tally(), d.errs);
        meter.sample(now, d.in_flight);
        let Some(wake) = meter.step(phases, now, t, errs, &mut snap, || (t, errs, os::usage(), now)) else {
            break;
        };
        poll_once(&mut d.poll, &mut events, wake_in(wake, now, !redo.is_empty()))?;
        for ev in events.iter() {
            if d.settle(ev).is_some() {
                // Connected or failed: close it and start the next at once.
                let i = ev.token().0;
                d.close(i);
                if d.start(i, next()).is_err() {
                    redo.push(i);
                }
            }
        }
        for i in std::mem::take(&mut redo) {
            if d.start(i, next()).is_err() {
                redo.push(i);
            }
        }
    }
    let now = Instant::now();
    let u1 = os::usage();
    let peak_rss_kb = os::peak_rss_kb(&u1);
    let (t1, e1) = (d.tally(), d.errs);
    let Some((t0, e0, u0, at)) = snap else { return Err("the run ended before the warm-up did".into()) };
    let secs = now.saturating_duration_since(at).as_secs_f64();
    if now.saturating_duration_since(meter.tick_at) > Duration::from_millis(50) {
        meter.row(now, "measure", t1, e1);
    }
    let established = t1.connected - t0.connected;
    let conn_per_s = established as f64 / secs;
    let cpu_s = u1.cpu_s - u0.cpu_s;
    let in_flight_mean = meter.window_mean();
    print_json(&format!(
        "{{\"impl\":\"raw\",\"wl\":\"cw1\",\"k\":{k},\"conn_per_s\":{conn_per_s:.1},\"established\":{established},\"dials\":{},\"dial_errs\":{},\"cpu_s\":{cpu_s:.3},\"peak_rss_kb\":{peak_rss_kb},\"secs\":{secs:.3},\"in_flight_mean\":{in_flight_mean:.2},\"proxy\":{}}}",
        t1.dials - t0.dials,
        e1.total() - e0.total(),
        socks::json(proxy)
    ));
    let us = cpu_s * 1e6 / established.max(1) as f64;
    if !common.quiet {
        eprintln!(
            "cw1 k={k} (raw): {} conn/s, {us:.2} us CPU per connection, in flight {in_flight_mean:.2} (K={k}), peak RSS {peak_rss_kb} KiB",
            series::thousands(conn_per_s)
        );
    }
    outputs(common, &meter.rows, || Chart {
        title: format!("raw mio CW1 churn: K = {k} in flight, {} sink addresses{}", common.addrs, via(proxy)),
        subtitle: format!(
            "{} conn/s over {secs:.1} s after {} s warm-up; {us:.2} us CPU per connection; {} dial errors",
            series::thousands(conn_per_s),
            common.warm,
            e1.total()
        ),
        y_label: "connections established per second".into(),
        points: meter.rows.iter().map(|r| (r.t_s - r.dt_s / 2.0, r.conn_per_s)).collect(),
        shade: (common.warm > 0.0).then_some((0.0, common.warm, "warm-up")),
        hlines: std::iter::once(HLine {
            y: conn_per_s,
            label: format!("measured mean {} conn/s", series::thousands(conn_per_s)),
            color: "#d95f02",
        })
        .chain(common.ceiling.map(|c| HLine {
            y: c,
            label: format!("reference (--ceiling) {} conn/s", series::thousands(c)),
            color: "#c0392b",
        }))
        .collect(),
        x_max: common.warm + common.secs,
    })
}

// ---------------------------------------------------------------------------------------------
// HW1: establish N, then idle.

pub fn hw1(n: u32, common: &Common) -> Result<(), BoxError> {
    const LIMIT: Duration = Duration::from_secs(60);
    let lifetime = LIMIT.as_secs_f64() + common.secs + 30.0;
    let (port, _sink) = sink_for(common, "hold", lifetime)?;
    let addrs = sink_addrs(port, common.addrs);
    let start = Instant::now();
    let mut events = Events::with_capacity(1024);
    let mut d = Dialer::new(n as usize)?;
    let mut redo = Vec::new();
    let mut meter = Meter::new("hw1", start, common.quiet, LIMIT.as_secs() as usize + 2);
    // Slot i dials sink address i mod 8, as connmgr's round-robin address source does.
    for i in 0..n as usize {
        if d.start(i, addrs[i % addrs.len()]).is_err() {
            redo.push(i);
        }
    }
    let mut established = 0u64;
    loop {
        let now = Instant::now();
        if established >= u64::from(n) || now >= start + LIMIT {
            break;
        }
        meter.sample(now, d.in_flight);
        if now >= meter.next_tick {
            meter.row(now, "establish", d.tally(), d.errs);
        }
        poll_once(&mut d.poll, &mut events, wait(&meter, start + LIMIT, now, !redo.is_empty()))?;
        for ev in events.iter() {
            let i = ev.token().0;
            match d.settle(ev) {
                // Keep it open and registered, like an idle peer.
                Some(true) => {
                    d.hold(i);
                    established += 1;
                }
                Some(false) => redo.push(i),
                None => {}
            }
        }
        for i in std::mem::take(&mut redo) {
            if d.start(i, addrs[i % addrs.len()]).is_err() {
                redo.push(i);
            }
        }
    }
    let done = Instant::now();
    meter.sample(done, d.in_flight);
    let establish_s = done.saturating_duration_since(start).as_secs_f64();
    let rss_after_kb = os::rss_kb();
    meter.row(done, "establish", d.tally(), d.errs);
    if established < u64::from(n) {
        eprintln!("churn: warning: only {established} of {n} established within {LIMIT:?}");
    }
    if !common.quiet {
        eprintln!(
            "hw1 (raw): {established} established in {establish_s:.3} s; RSS {rss_after_kb} KiB; idle {} s",
            common.secs
        );
    }
    // The idle window: nothing armed, so poll sleeps until `end`.
    let u0 = os::usage();
    let end = Instant::now() + Duration::from_secs_f64(common.secs);
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        poll_once(&mut d.poll, &mut events, end - now)?;
    }
    let u1 = os::usage();
    let peak_rss_kb = os::peak_rss_kb(&u1);
    meter.row(Instant::now(), "idle", d.tally(), d.errs);
    print_json(&format!(
        "{{\"impl\":\"raw\",\"wl\":\"hw1\",\"n\":{n},\"established\":{established},\"dials\":{},\"dial_errs\":{},\"establish_s\":{establish_s:.3},\"rss_after_kb\":{rss_after_kb},\"idle_cpu_s\":{:.4},\"idle_nvcsw\":{},\"idle_nivcsw\":{},\"peak_rss_kb\":{peak_rss_kb}}}",
        d.dials,
        d.errs.total(),
        u1.cpu_s - u0.cpu_s,
        u1.nvcsw - u0.nvcsw,
        u1.nivcsw - u0.nivcsw,
    ));
    outputs(common, &meter.rows, || {
        Chart {
        title: format!("raw mio HW1 hold: N = {n} connections, {} sink addresses", common.addrs),
        subtitle: format!(
            "all established in {establish_s:.3} s, RSS {rss_after_kb} KiB after; idle {} s: {:.4} s CPU, {} voluntary switches",
            common.secs,
            u1.cpu_s - u0.cpu_s,
            u1.nvcsw - u0.nvcsw
        ),
        y_label: "established connections held".into(),
        points: std::iter::once((0.0, 0.0)).chain(meter.rows.iter().map(|r| (r.t_s, r.established as f64))).collect(),
        shade: Some((establish_s, establish_s + common.secs, "idle: nothing armed")),
        hlines: vec![HLine { y: f64::from(n), label: format!("N = {n}"), color: "#d95f02" }],
        x_max: establish_s + common.secs,
    }
    })
}

// ---------------------------------------------------------------------------------------------
// RW1: retry storm against a closed port.

pub fn rw1(n: u32, common: &Common) -> Result<(), BoxError> {
    const MAX_RETRY: Duration = Duration::from_secs(300);
    let port = match common.port {
        Some(p) => p,
        None => closed_port()?,
    };
    let addr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port));
    let base = Duration::from_millis(common.retry_ms);
    let u0 = os::usage();
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(common.secs);
    let mut events = Events::with_capacity(1024);
    let mut d = Dialer::new(n as usize)?;
    let mut retries = vec![0u32; n as usize];
    // The deadline structure: (when, slot), earliest first.
    let mut due: BinaryHeap<Reverse<(Instant, usize)>> = BinaryHeap::with_capacity(n as usize);
    // A permanent request failed: linear backoff retry_count x base, capped at 5 min, counted
    // from when the failure is handled.
    let mut fail = |i: usize, due: &mut BinaryHeap<Reverse<(Instant, usize)>>| {
        retries[i] += 1;
        due.push(Reverse((Instant::now() + (base * retries[i]).min(MAX_RETRY), i)));
    };
    let mut meter = Meter::new("rw1", start, common.quiet, common.secs as usize + 2);
    for i in 0..n as usize {
        if d.start(i, addr).is_err() {
            fail(i, &mut due);
        }
    }
    if !common.quiet {
        eprintln!(
            "churn: rw1 (raw): {n} permanent requests to {addr} (nothing listens), retry base {} ms",
            common.retry_ms
        );
    }
    loop {
        let now = Instant::now();
        meter.sample(now, d.in_flight);
        if now >= end {
            break;
        }
        if now >= meter.next_tick {
            meter.row(now, "run", d.tally(), d.errs);
        }
        let until = due.peek().map_or(end, |Reverse((t, _))| (*t).min(end));
        poll_once(&mut d.poll, &mut events, wait(&meter, until, now, false))?;
        for ev in events.iter() {
            let i = ev.token().0;
            match d.settle(ev) {
                // Unexpected (something listens there): keep it, as connmgr would.
                Some(true) => d.hold(i),
                Some(false) => fail(i, &mut due),
                None => {}
            }
        }
        let now = Instant::now();
        while let Some(&Reverse((t, i))) = due.peek() {
            if t > now {
                break;
            }
            due.pop();
            if d.start(i, addr).is_err() {
                fail(i, &mut due);
            }
        }
    }
    let u1 = os::usage();
    let peak_rss_kb = os::peak_rss_kb(&u1);
    let now = Instant::now();
    let t = d.tally();
    if now.saturating_duration_since(meter.tick_at) > Duration::from_millis(50) {
        meter.row(now, "run", t, d.errs);
    }
    let secs = now.saturating_duration_since(start).as_secs_f64();
    let expected = u64::from(n) * expected_dials_per_request(common.retry_ms, common.secs);
    print_json(&format!(
        "{{\"impl\":\"raw\",\"wl\":\"rw1\",\"n\":{n},\"dials\":{},\"dial_errs\":{},\"established\":{},\"cpu_s\":{:.3},\"peak_rss_kb\":{peak_rss_kb},\"secs\":{secs:.3}}}",
        t.dials,
        d.errs.total(),
        t.connected,
        u1.cpu_s - u0.cpu_s,
    ));
    if !common.quiet {
        eprintln!(
            "rw1 n={n} (raw): {} dials (expected {expected} by the schedule), {} refused, {:.3} s CPU, peak RSS {peak_rss_kb} KiB",
            t.dials,
            d.errs.refused,
            u1.cpu_s - u0.cpu_s
        );
    }
    outputs(common, &meter.rows, || Chart {
        title: format!("raw mio RW1 retry storm: N = {n} permanent requests, base {} ms", common.retry_ms),
        subtitle: format!(
            "{} dials in {secs:.1} s (schedule: {expected}); {:.3} s CPU; peak RSS {peak_rss_kb} KiB",
            t.dials,
            u1.cpu_s - u0.cpu_s
        ),
        y_label: "dial attempts per second".into(),
        points: meter.rows.iter().map(|r| (r.t_s - r.dt_s / 2.0, r.dials_per_s)).collect(),
        shade: None,
        hlines: Vec::new(),
        x_max: common.secs,
    })
}

// ---------------------------------------------------------------------------------------------
// IW1: inbound churn, the listener's side.

pub fn iw1(k: u32, common: &Common) -> Result<(), BoxError> {
    const LISTENER: Token = Token(usize::MAX);
    let mut listener = TcpListener::from_std(iw1::listen(common.port.unwrap_or(0))?);
    let port = listener.local_addr()?.port();
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut conns: Slab<TcpStream> = Slab::with_capacity(2 * k as usize);
    let (mut accepted, mut accept_errs) = (0u64, 0u64);
    let _load = iw1::load_child(port, k, common, common.warm + common.secs + 30.0)?;
    let start = Instant::now();
    let (mut meter, phases) = Meter::timed("iw1", start, common);
    let mut snap: Option<(Tally, Usage, Instant)> = None;
    loop {
        let now = Instant::now();
        let t = Tally { connected: accepted, dials: 0, established: conns.len() as u64 };
        meter.sample(now, t.established);
        let Some(wake) = meter.step(phases, now, t, Errs::default(), &mut snap, || (t, os::usage(), now)) else {
            break;
        };
        poll_once(&mut poll, &mut events, wake_in(wake, now, false))?;
        for ev in events.iter() {
            if ev.token() == LISTENER {
                // Accept until WouldBlock (edge-triggered), registering each for reading.
                loop {
                    match listener.accept() {
                        Ok((mut s, _)) => {
                            accepted += 1;
                            let entry = conns.vacant_entry();
                            if poll.registry().register(&mut s, Token(entry.key()), Interest::READABLE).is_ok() {
                                entry.insert(s);
                            }
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        // That connection is gone (reset before accept): the rest are not.
                        Err(e) if matches!(e.kind(), ErrorKind::ConnectionAborted | ErrorKind::Interrupted) => {
                            accept_errs += 1;
                        }
                        // Out of descriptors or memory: the next readiness retries.
                        Err(_) => {
                            accept_errs += 1;
                            break;
                        }
                    }
                }
                continue;
            }
            let key = ev.token().0;
            let Some(s) = conns.get_mut(key) else { continue };
            match iw1::read_to_eof(s) {
                Drained::Pending => {}
                // Dropping the stream closes it.
                Drained::Eof | Drained::Failed(_) => drop(conns.remove(key)),
            }
        }
    }
    let now = Instant::now();
    let u1 = os::usage();
    let peak_rss_kb = os::peak_rss_kb(&u1);
    let t1 = Tally { connected: accepted, dials: 0, established: conns.len() as u64 };
    let Some((t0, u0, at)) = snap else { return Err("the run ended before the warm-up did".into()) };
    if now.saturating_duration_since(meter.tick_at) > Duration::from_millis(50) {
        meter.row(now, "measure", t1, Errs::default());
    }
    if accept_errs > 0 && !common.quiet {
        eprintln!("churn: iw1 (raw): {accept_errs} accept errors");
    }
    iw1::Report {
        imp: Impl::Raw,
        k,
        rules: Rules::Off,
        accepts: t1.connected - t0.connected,
        secs: now.saturating_duration_since(at).as_secs_f64(),
        cpu_s: u1.cpu_s - u0.cpu_s,
        peak_rss_kb,
    }
    .print(common, &meter)
}
