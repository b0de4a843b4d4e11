//! Churn through the real reactor on loopback: `Manager` with K automatic dials in flight
//! (K = 8, 64, 512), each connection closed with `Ctx::close` as soon as it is established,
//! against an in-process mio sink thread that accepts and closes (FIN) on 127.0.0.1..=8. One
//! criterion iteration is one connection (dial, connect, close, replacement), so the time
//! reported is wall time per connection with the sink sharing the machine.
//!
//! Run with `cargo bench --bench reactor` (add `-- --quick` for a short run). Bounded: every
//! measurement stops by itself, a stalled run panics after 30 s without progress, and the sink
//! thread exits when told or after 10 minutes. For client-only CPU and the comparison with the
//! raw ceiling, use `examples/churn/` and `benches/compare.py`.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use connmgr::{AddressError, Config, ConnInfo, Ctx, DisconnectReason, Handler, Manager, Peer};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use socket2::{Domain, Socket, Type};

const ADDRS: u8 = 8;

/// The sink: accept until WouldBlock, drop (FIN). Runs until `stop` or 10 minutes.
struct Sink {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    port: u16,
}

fn listener(ip: Ipv4Addr, port: u16) -> io::Result<TcpListener> {
    let s = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    s.bind(&SocketAddr::V4(SocketAddrV4::new(ip, port)).into())?;
    s.listen(4096)?;
    Ok(TcpListener::from_std(s.into()))
}

impl Sink {
    fn start() -> io::Result<Self> {
        let mut found = None;
        for _ in 0..32 {
            let first = listener(Ipv4Addr::LOCALHOST, 0)?;
            let port = first.local_addr()?.port();
            let rest: io::Result<Vec<_>> = (2..=ADDRS).map(|i| listener(Ipv4Addr::new(127, 0, 0, i), port)).collect();
            if let Ok(mut rest) = rest {
                rest.insert(0, first);
                found = Some((port, rest));
                break;
            }
        }
        let (port, mut listeners) = found.ok_or_else(|| io::Error::other("no port free on all sink addresses"))?;
        let mut poll = Poll::new()?;
        for (i, l) in listeners.iter_mut().enumerate() {
            poll.registry().register(l, Token(i), Interest::READABLE)?;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut events = Events::with_capacity(64);
            let end = Instant::now() + Duration::from_secs(600);
            while !flag.load(Ordering::Relaxed) && Instant::now() < end {
                if poll.poll(&mut events, Some(Duration::from_millis(50))).is_err() {
                    continue;
                }
                for ev in events.iter() {
                    let Some(l) = listeners.get(ev.token().0) else { continue };
                    while let Ok((s, _)) = l.accept() {
                        drop(s);
                    }
                }
            }
        });
        Ok(Sink { stop, thread: Some(thread), port })
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Round-robin over the sink addresses; closes every connection once established.
struct Closer {
    addrs: Vec<SocketAddr>,
    next: usize,
}

impl Handler for Closer {
    fn new_address(&mut self, _class: connmgr::ClassId) -> Option<Result<connmgr::Target, AddressError>> {
        let addr = self.addrs[self.next];
        self.next = (self.next + 1) % self.addrs.len();
        Some(Ok(addr.into()))
    }

    fn on_connection(&mut self, ctx: &mut Ctx<'_>, conn: &ConnInfo) {
        ctx.close(Peer::Outbound(conn.id), DisconnectReason::Requested).expect("a running manager");
    }
}

fn reactor_churn(c: &mut Criterion) {
    let sink = Sink::start().expect("sink");
    let addrs: Vec<SocketAddr> =
        (1..=ADDRS).map(|i| SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, i), sink.port))).collect();
    let mut group = c.benchmark_group("reactor_churn");
    group.throughput(Throughput::Elements(1));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(4));
    for k in [8u32, 64, 512] {
        let config = Config {
            target_outbound: k,
            capacity: k as usize,
            retry_duration: Duration::from_millis(10),
            ..Config::default()
        };
        let handler = Closer { addrs: addrs.clone(), next: 0 };
        let mut mgr = Manager::new(config, handler).expect("manager");
        mgr.reactor_mut().start();
        group.bench_function(BenchmarkId::from_parameter(format!("k={k}")), |b| {
            b.iter_custom(|iters| {
                let target = mgr.counters().connected + iters;
                let start = Instant::now();
                let mut last = (mgr.counters().connected, start);
                while mgr.counters().connected < target {
                    mgr.turn(Some(Duration::from_millis(100))).expect("poll");
                    let now = Instant::now();
                    let connected = mgr.counters().connected;
                    if connected != last.0 {
                        last = (connected, now);
                    } else if now - last.1 > Duration::from_secs(30) {
                        panic!("no connection in 30 s (K = {k}): {:?}", mgr.counters());
                    }
                }
                start.elapsed()
            })
        });
        mgr.stop().expect("the first stop");
    }
    group.finish();
    drop(sink);
}

criterion_group!(benches, reactor_churn);
criterion_main!(benches);
