//! Shared helpers of the loopback (real socket) tests: a recording [`Handler`], a bounded driver
//! for a [`Manager`], and the kinds of peer a test needs on 127.0.0.1: a port that refuses, a
//! listener that never completes a handshake (its accept queue full), and std sockets with
//! timeouts so that no helper can block for ever.
//!
//! Nothing here sleeps to wait for something: the driver turns the manager until a condition
//! holds and fails the test after [`LIMIT`].
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{Receiver, Sender};
use std::time::{Duration, Instant};

use connmgr::{
    AddressError, ConnInfo, ConnState, Ctx, DialError, DisconnectReason, Handler, InboundId, Manager, NextStep,
    OpError, Peer, Ready, Target,
};

/// The longest any test waits for one thing before failing. Generous: the machine is shared.
pub const LIMIT: Duration = Duration::from_secs(10);

/// The longest a single `turn` may block inside [`drive`].
pub const TURN: Duration = Duration::from_millis(20);

/// An upper bound on loop turns in one [`drive`], whatever the clock says.
pub const MAX_TURNS: usize = 200_000;

pub fn localhost() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Everything a [`Recorder`] saw, in callback order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ev {
    Connected(ConnInfo),
    Disconnected(ConnInfo, DisconnectReason),
    DialFailed(ConnInfo, DialError, NextStep),
    Ended(ConnInfo, ConnState),
    Accepted(InboundId, SocketAddr),
    InboundClosed(InboundId, DisconnectReason),
    /// Bytes read in one `on_ready` call (only when [`Recorder::read`] is set).
    Data(Peer, Vec<u8>),
    Timer(u64),
}

type StopWhen = Box<dyn FnMut(&[(Instant, Ev)]) -> bool + Send>;

/// A handler that records every callback with the reactor's `now`, optionally serves a list of
/// addresses as its address source, reads what its connections receive, writes a greeting on
/// each outbound connection, and stops the manager when a condition on the record holds.
#[derive(Default)]
pub struct Recorder {
    pub events: Vec<(Instant, Ev)>,
    /// The address source: `None` = no source; `Some(list)` = cycles through the list.
    pub addrs: Option<Vec<SocketAddr>>,
    pub addr_calls: usize,
    /// Read connections in `on_ready` (recording [`Ev::Data`]) and close them on EOF; when
    /// unset, `on_ready` does what the default does.
    pub read: bool,
    /// Written to every outbound connection in `on_connection`.
    pub greeting: Option<Vec<u8>>,
    /// Checked after every callback; when it returns true the handler calls `ctx.stop()`.
    pub stop_when: Option<StopWhen>,
    /// Gets a copy of every event, for a test thread that waits on them.
    pub tx: Option<Sender<Ev>>,
    /// `stop_when` held once and the stop was asked for.
    stop_sent: bool,
}

/// Checks the result of an operation queued from a callback: accepted, or refused because the
/// manager is stopping (a stop queued earlier, or the shutdown's own callbacks).
pub fn queued(result: Result<(), OpError>) {
    match result {
        Ok(()) | Err(OpError::Stopped) => {}
        Err(e) => panic!("a queued operation was refused: {e}"),
    }
}

impl Recorder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_addrs(addrs: Vec<SocketAddr>) -> Self {
        Recorder { addrs: Some(addrs), ..Self::default() }
    }

    pub fn reading(mut self) -> Self {
        self.read = true;
        self
    }

    pub fn stop_when(mut self, f: impl FnMut(&[(Instant, Ev)]) -> bool + Send + 'static) -> Self {
        self.stop_when = Some(Box::new(f));
        self
    }

    pub fn forwarding(mut self, tx: Sender<Ev>) -> Self {
        self.tx = Some(tx);
        self
    }

    fn push(&mut self, ctx: &mut Ctx<'_>, ev: Ev) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(ev.clone());
        }
        self.events.push((ctx.now(), ev));
        if let Some(f) = &mut self.stop_when {
            if !self.stop_sent && f(&self.events) {
                self.stop_sent = true;
                queued(ctx.stop());
            }
        }
    }

    pub fn evs(&self) -> impl Iterator<Item = &Ev> {
        self.events.iter().map(|(_, e)| e)
    }

    pub fn count(&self, f: impl Fn(&Ev) -> bool) -> usize {
        self.evs().filter(|e| f(e)).count()
    }

    pub fn connected(&self) -> Vec<ConnInfo> {
        self.evs().filter_map(|e| if let Ev::Connected(i) = e { Some(i.clone()) } else { None }).collect()
    }

    pub fn accepted(&self) -> Vec<(InboundId, SocketAddr)> {
        self.evs().filter_map(|e| if let Ev::Accepted(i, a) = e { Some((*i, *a)) } else { None }).collect()
    }

    /// Every dial failure, with the reactor time it was reported at.
    pub fn dial_failures(&self) -> Vec<(Instant, ConnInfo, DialError, NextStep)> {
        self.events
            .iter()
            .filter_map(|(t, e)| match e {
                Ev::DialFailed(i, f, n) => Some((*t, i.clone(), f.clone(), *n)),
                _ => None,
            })
            .collect()
    }

    pub fn disconnections(&self) -> Vec<(ConnInfo, DisconnectReason)> {
        self.evs()
            .filter_map(|e| if let Ev::Disconnected(i, w) = e { Some((i.clone(), w.clone())) } else { None })
            .collect()
    }

    pub fn inbound_closed(&self) -> Vec<(InboundId, DisconnectReason)> {
        self.evs().filter_map(|e| if let Ev::InboundClosed(i, w) = e { Some((*i, w.clone())) } else { None }).collect()
    }

    pub fn ended(&self) -> Vec<(ConnInfo, ConnState)> {
        self.evs().filter_map(|e| if let Ev::Ended(i, s) = e { Some((i.clone(), *s)) } else { None }).collect()
    }

    /// All bytes read from `peer`, in order.
    pub fn data(&self, peer: Peer) -> Vec<u8> {
        self.evs()
            .filter_map(|e| match e {
                Ev::Data(p, d) if *p == peer => Some(d.as_slice()),
                _ => None,
            })
            .flatten()
            .copied()
            .collect()
    }
}

impl Handler for Recorder {
    fn new_address(&mut self, _class: connmgr::ClassId) -> Option<Result<Target, AddressError>> {
        let addrs = self.addrs.as_ref()?;
        let n = self.addr_calls;
        self.addr_calls += 1;
        Some(if addrs.is_empty() { Err(AddressError::new("no address")) } else { Ok(addrs[n % addrs.len()].into()) })
    }

    fn on_connection(&mut self, ctx: &mut Ctx<'_>, conn: &ConnInfo) {
        if let Some(greeting) = &self.greeting {
            let stream = ctx.stream(Peer::Outbound(conn.id)).expect("an established connection has a stream");
            stream.write_all(greeting).expect("a small first write fits in the socket buffer");
        }
        self.push(ctx, Ev::Connected(conn.clone()));
    }

    fn on_disconnection(&mut self, ctx: &mut Ctx<'_>, conn: &ConnInfo, reason: &DisconnectReason) {
        self.push(ctx, Ev::Disconnected(conn.clone(), reason.clone()));
    }

    fn on_dial_failed(&mut self, ctx: &mut Ctx<'_>, conn: &ConnInfo, error: &DialError, next: NextStep) {
        self.push(ctx, Ev::DialFailed(conn.clone(), error.clone(), next));
    }

    fn on_request_ended(&mut self, ctx: &mut Ctx<'_>, conn: &ConnInfo, state: ConnState) {
        self.push(ctx, Ev::Ended(conn.clone(), state));
    }

    fn on_accept(&mut self, ctx: &mut Ctx<'_>, id: InboundId, remote: SocketAddr) {
        self.push(ctx, Ev::Accepted(id, remote));
    }

    fn on_inbound_closed(&mut self, ctx: &mut Ctx<'_>, id: InboundId, reason: &DisconnectReason) {
        self.push(ctx, Ev::InboundClosed(id, reason.clone()));
    }

    fn on_ready(&mut self, ctx: &mut Ctx<'_>, peer: Peer, ready: Ready) {
        if !self.read {
            ctx.close_if_hung_up(peer, ready);
            return;
        }
        let mut got = Vec::new();
        let mut end = None;
        if let Some(stream) = ctx.stream(peer) {
            let mut buf = [0u8; 4096];
            // Bounded: a test peer sends a few bytes; WouldBlock or EOF ends it long before.
            for _ in 0..1024 {
                match stream.read(&mut buf) {
                    Ok(0) => {
                        end = Some(DisconnectReason::RemoteClosed);
                        break;
                    }
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        end = Some(DisconnectReason::from(e));
                        break;
                    }
                }
            }
        }
        if !got.is_empty() {
            self.push(ctx, Ev::Data(peer, got));
        }
        if let Some(reason) = end {
            queued(ctx.close(peer, reason));
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_>, data: u64) {
        self.push(ctx, Ev::Timer(data));
    }
}

/// Turns `manager` (starting it if needed) until `done` holds; fails the test after [`LIMIT`].
pub fn drive<H: Handler>(manager: &mut Manager<H>, what: &str, mut done: impl FnMut(&Manager<H>) -> bool) {
    let deadline = Instant::now() + LIMIT;
    manager.reactor_mut().start();
    for _ in 0..MAX_TURNS {
        if done(manager) {
            return;
        }
        let now = Instant::now();
        assert!(now < deadline, "timed out after {LIMIT:?} waiting for {what}");
        manager.turn(Some(TURN.min(deadline - now))).expect("poll failed");
    }
    panic!("{MAX_TURNS} turns without {what}");
}

/// Turns `manager` for `period` whatever happens (to check that something does *not* happen).
pub fn drive_for<H: Handler>(manager: &mut Manager<H>, period: Duration) {
    let until = Instant::now() + period;
    manager.reactor_mut().start();
    for _ in 0..MAX_TURNS {
        let now = Instant::now();
        if now >= until {
            return;
        }
        manager.turn(Some(TURN.min(until - now))).expect("poll failed");
    }
}

/// Runs `manager` until it stops; fails the test if it has not stopped after [`LIMIT`].
pub fn run_to_stop<H: Handler>(manager: &mut Manager<H>) {
    let stopped = manager.run_until(Instant::now() + LIMIT).expect("poll failed");
    assert!(stopped, "the manager did not stop within {LIMIT:?}");
}

/// A loopback address where nothing listens: bind port 0, read the port, drop the listener.
/// (A dial there is refused; if the kernel picks that same port as the dialling socket's
/// source port, the connect is a TCP simultaneous open with itself, which connmgr reports as a
/// refusal too, and [`assert_refused`] treats the same way.)
pub fn refused_addr() -> SocketAddr {
    let listener = TcpListener::bind(localhost()).expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().unwrap();
    drop(listener);
    addr
}

/// Asserts that a connect to `addr` is refused (nothing listens there). A connect that lands
/// on itself (local == peer) counts as refused.
pub fn assert_refused(addr: SocketAddr) {
    match TcpStream::connect_timeout(&addr, LIMIT) {
        Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "connect to {addr}: {e}"),
        Ok(s) => {
            let (local, peer) = (s.local_addr().unwrap(), s.peer_addr().unwrap());
            assert_eq!(local, peer, "something accepted a connection at {addr}");
        }
    }
}

/// A std listener on 127.0.0.1 whose `accept` gives up after [`LIMIT`] (Linux applies
/// `SO_RCVTIMEO` to `accept`), so a test that expects a connection never hangs.
pub fn listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind(localhost()).expect("bind 127.0.0.1:0");
    socket2::SockRef::from(&listener).set_read_timeout(Some(LIMIT)).unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// Accepts one connection on a [`listener`], with blocking reads and writes bounded by
/// [`LIMIT`].
pub fn accept(listener: &TcpListener) -> TcpStream {
    let (stream, _) = listener.accept().expect("a connection to accept");
    timeouts(&stream);
    stream
}

/// A client connection to `addr`, with blocking reads and writes bounded by [`LIMIT`].
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, LIMIT).expect("loopback connect");
    timeouts(&stream);
    stream
}

fn timeouts(stream: &TcpStream) {
    stream.set_read_timeout(Some(LIMIT)).unwrap();
    stream.set_write_timeout(Some(LIMIT)).unwrap();
}

/// Reads until EOF; fails if the peer has not closed within [`LIMIT`]. A reset counts as a
/// close (a socket closed with unread data in its receive queue sends RST instead of FIN).
pub fn read_to_eof(stream: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return all,
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return all,
            Err(e) => panic!("waiting for EOF: {e}"),
        }
    }
}

/// Reads exactly `n` bytes (bounded by [`LIMIT`]).
pub fn read_n(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    stream.read_exact(&mut buf).expect("read the expected bytes");
    buf
}

/// Half-closes our side: the peer sees EOF, we can still read.
pub fn shutdown_write(stream: &TcpStream) {
    stream.shutdown(Shutdown::Write).unwrap();
}

/// A listener that never completes a handshake: its accept backlog is full and it never
/// accepts, so Linux drops further SYNs and a dial stays in SYN_SENT (retransmitting after
/// 1 s, 3 s, ...) until the dialler gives up.
///
/// Filled with plain connects until two probes in a row fail to connect within
/// [`BlackHole::PROBE`]; how many connects fit depends on the backlog arithmetic of the
/// kernel (`listen(0)` queues one on Linux).
pub struct BlackHole {
    pub addr: SocketAddr,
    listener: socket2::Socket,
    queued: Vec<TcpStream>,
}

impl BlackHole {
    pub const PROBE: Duration = Duration::from_millis(250);

    pub fn new() -> Self {
        use socket2::{Domain, Socket, Type};
        let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        listener.bind(&localhost().into()).unwrap();
        listener.listen(0).unwrap();
        let addr = listener.local_addr().unwrap().as_socket().unwrap();
        let mut queued = Vec::new();
        let mut misses = 0;
        for _ in 0..64 {
            match TcpStream::connect_timeout(&addr, Self::PROBE) {
                Ok(s) => {
                    misses = 0;
                    queued.push(s);
                }
                Err(e) if matches!(e.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock) => {
                    misses += 1;
                    if misses == 2 {
                        return BlackHole { addr, listener, queued };
                    }
                }
                Err(e) => panic!("filling the accept queue of {addr}: {e}"),
            }
        }
        panic!("the accept queue of {addr} never filled");
    }

    /// Connections sitting in the accept queue.
    pub fn queued(&self) -> usize {
        self.queued.len()
    }

    pub fn listener(&self) -> &socket2::Socket {
        &self.listener
    }
}

impl Default for BlackHole {
    fn default() -> Self {
        Self::new()
    }
}

/// Writes all of `data` to a std stream.
pub fn send(stream: &mut TcpStream, data: &[u8]) {
    stream.write_all(data).expect("write to a loopback peer");
}

/// Receives forwarded events until one matches `want` (returning it); fails after [`LIMIT`].
/// Events that do not match are kept in `seen`.
pub fn wait_for(rx: &Receiver<Ev>, seen: &mut Vec<Ev>, what: &str, want: impl Fn(&Ev) -> bool) -> Ev {
    if let Some(i) = seen.iter().position(&want) {
        return seen.remove(i);
    }
    let deadline = Instant::now() + LIMIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(ev) if want(&ev) => return ev,
            Ok(ev) => seen.push(ev),
            Err(e) => panic!("waiting for {what}: {e}; seen {seen:?}"),
        }
    }
}

/// Entries of `/proc/self/fd` (Linux).
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd").count()
}
