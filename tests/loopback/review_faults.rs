//! Regression tests for the faults an outside review of the API found, each named after what
//! broke, on real sockets on 127.0.0.1. Two more are elsewhere: the bounded handle queue
//! allocates nothing when it refuses (`alloc::handle_queue`), and ended requests answer their
//! state (`sim::review_faults`).
//!
//! Covered elsewhere: `Handle::state` on the thread that built the manager, inside a callback,
//! and with nobody turning the manager (`loopback::control`); inbound ids over 100,000 accepts
//! (`sim::inbound`); events of sockets closed during a poll batch (`loopback::stale_events`); the
//! core-level timer re-arm loop (`src/core/mod.rs`).

use crate::support;

use std::io::{self, Read};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use connmgr::{
    Config, ConfigError, ConnInfo, ConnState, ConnectOptions, Ctx, DisconnectReason, Error, Handle, Handler, InboundId,
    Manager, OpError, Peer, Reactor, TokenSpace,
};

/// Records accepts and closes; on a timer, tries the stale id's stream and interest and closes
/// it, and checks the live id's stream.
#[derive(Default)]
struct StaleProbe {
    accepted: Vec<InboundId>,
    closed: Vec<(InboundId, DisconnectReason)>,
    /// (stale, live) to probe when the timer fires.
    probe: Option<(InboundId, InboundId)>,
    /// What the probe saw: stale stream found, stale set_interest's error, live stream found.
    seen: Option<(bool, Option<io::ErrorKind>, bool)>,
}

impl Handler for StaleProbe {
    fn on_accept(&mut self, _: &mut Ctx<'_>, id: InboundId, _: SocketAddr) {
        self.accepted.push(id);
    }

    fn on_inbound_closed(&mut self, _: &mut Ctx<'_>, id: InboundId, reason: &DisconnectReason) {
        self.closed.push((id, reason.clone()));
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_>, _: u64) {
        let (stale, live) = self.probe.expect("probe set before the timer");
        let stale_stream = ctx.stream(Peer::Inbound(stale)).is_some();
        let interest = ctx.set_interest(Peer::Inbound(stale), mio::Interest::READABLE).err().map(|e| e.kind());
        let live_stream = ctx.stream(Peer::Inbound(live)).is_some();
        self.seen = Some((stale_stream, interest, live_stream));
        // Queued, so accepted here; applying it finds no such connection and touches nothing.
        ctx.close(Peer::Inbound(stale), DisconnectReason::protocol("stale")).unwrap();
    }
}

/// Inbound ids are serials never reused: three connections accepted in turn, each closed
/// before the next, get serials 1, 2 and 3 although each takes the slot the previous one freed
/// (the core's table and the socket table alike). The stale first id names nothing: `close`,
/// `detach`, `Ctx::stream` and `Ctx::set_interest` with it touch nothing and say so.
#[test]
fn a_stale_inbound_id_names_nothing_after_its_slot_is_reused() {
    let config = Config { target_outbound: 0, listeners: vec![support::localhost()], ..Config::default() };
    let mut m = Manager::new(config, StaleProbe::default()).unwrap();
    let local = m.reactor().local_addrs()[0];
    let mut clients = Vec::new();
    for n in 1..=3usize {
        clients.push(support::connect(local));
        support::turn_until(&mut m, "the accept", |m| m.reactor().handler().accepted.len() == n);
        if n < 3 {
            let id = m.reactor().handler().accepted[n - 1];
            assert_eq!(m.close(Peer::Inbound(id), DisconnectReason::protocol("next")), Ok(()));
        }
    }
    let ids = m.reactor().handler().accepted.clone();
    assert_eq!(ids.iter().map(|id| id.serial()).collect::<Vec<_>>(), [1, 2, 3]);
    let (stale, live) = (ids[0], ids[2]);
    assert_eq!(m.counters().inbound, 1);

    assert_eq!(m.close(Peer::Inbound(stale), DisconnectReason::Requested), Err(OpError::UnknownInbound(stale)));
    assert!(matches!(m.reactor_mut().detach(Peer::Inbound(stale)), Err(OpError::UnknownInbound(id)) if id == stale));
    assert_eq!(m.reactor().core().io(Peer::Inbound(stale)), None);
    assert_eq!(m.reactor().core().peer_addr(Peer::Inbound(stale)), None);
    assert_eq!(m.reactor().core().peer_addr(Peer::Inbound(live)), Some(clients[2].local_addr().unwrap()));

    m.reactor_mut().handler_mut().probe = Some((stale, live));
    m.reactor_mut().set_timer(Duration::ZERO, 0).unwrap();
    support::turn_until(&mut m, "the probe", |m| m.reactor().handler().seen.is_some());
    support::turn_for(&mut m, Duration::from_millis(20));
    let (stale_stream, interest, live_stream) = m.reactor().handler().seen.unwrap();
    assert!(!stale_stream, "Ctx::stream found a stream for a stale id");
    assert_eq!(interest, Some(io::ErrorKind::NotFound), "Ctx::set_interest with a stale id");
    assert!(live_stream, "the live connection's stream is there");

    let closed: Vec<InboundId> = m.reactor().handler().closed.iter().map(|(id, _)| *id).collect();
    assert_eq!(closed, [ids[0], ids[1]], "only the two closed on purpose; the live one untouched");
    assert_eq!(m.counters().inbound, 1);
    let live_client = &mut clients[2];
    live_client.set_nonblocking(true).unwrap();
    let read = live_client.read(&mut [0u8; 1]);
    assert!(matches!(&read, Err(e) if e.kind() == io::ErrorKind::WouldBlock), "the live client sees {read:?}");
    m.stop().unwrap();
}

/// Re-arms every timer it is fired for with no delay, counting fires per timer since `reset`;
/// a timer fired twice before a reset is not re-armed again (so a regression ends the call
/// that loops instead of hanging the test).
struct Rearm {
    fired: Vec<u32>,
}

impl Rearm {
    const TIMERS: u64 = 40;

    fn new() -> Self {
        Rearm { fired: vec![0; Self::TIMERS as usize] }
    }

    fn take(&mut self) -> Vec<u32> {
        std::mem::replace(&mut self.fired, vec![0; Self::TIMERS as usize])
    }
}

impl Handler for Rearm {
    fn on_start(&mut self, ctx: &mut Ctx<'_>) {
        for data in 0..Self::TIMERS {
            ctx.set_timer(Duration::ZERO, data).unwrap();
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_>, data: u64) {
        let count = &mut self.fired[data as usize];
        *count += 1;
        if *count == 1 {
            ctx.set_timer(Duration::ZERO, data).unwrap();
        }
    }
}

/// 40 user timers (more than one 32-timer batch) that re-arm themselves from `on_timer` with
/// `Duration::ZERO` fire once per turn, and every turn returns. They used to fire again and
/// again inside one call when `now` fell on a millisecond boundary, which real time seldom
/// does: the next test puts `now` there on purpose.
#[test]
fn timers_rearmed_with_no_delay_fire_once_per_turn() {
    let mut m = Manager::new(Config { target_outbound: 0, ..Config::default() }, Rearm::new()).unwrap();
    m.reactor_mut().start();
    for turn in 1..=20 {
        let started = Instant::now();
        m.turn(Some(support::LIMIT)).unwrap();
        assert!(started.elapsed() < support::LIMIT, "turn {turn} waited for its cap: no timer was due");
        assert_eq!(m.reactor_mut().handler_mut().take(), [1; Rearm::TIMERS as usize], "turn {turn}");
    }
    m.stop().unwrap();
}

/// The same on an embedded reactor, with `now` exactly on the millisecond the timers are due
/// (what `poll_timeout` returns), the case that looped.
#[test]
fn timers_rearmed_with_no_delay_at_a_millisecond_aligned_now_fire_once_per_call() {
    let poll = mio::Poll::new().unwrap();
    let config = Config { target_outbound: 0, ..Config::default() };
    let mut reactor = Reactor::new(config, Rearm::new(), poll.registry(), TokenSpace::default()).unwrap();
    reactor.start();
    for call in 1..=20 {
        let due = reactor.poll_timeout().expect("the timers are armed");
        reactor.handle_timeout(due);
        assert_eq!(reactor.handler_mut().take(), [1; Rearm::TIMERS as usize], "call {call}");
        assert!(reactor.poll_timeout().unwrap() > due, "re-armed for a later millisecond");
    }
    reactor.stop().unwrap();
}

#[derive(Debug)]
struct Quiet;
impl Handler for Quiet {}

/// A capacity far beyond any host's sockets used to be allocated up front (an abort, or a
/// panic on overflow); it is a configuration error now, on every layer.
#[test]
fn absurd_capacities_are_configuration_errors_not_aborts() {
    for capacity in [usize::MAX, 1 << 40] {
        let config = Config { target_outbound: 0, capacity, ..Config::default() };
        let want = ConfigError::OutOfRange { field: "capacity", max: 1 << 20 };
        let built = Manager::new(config.clone(), Quiet);
        assert!(matches!(built, Err(Error::Config(e)) if e == want), "capacity {capacity}: {built:?}");
        let poll = mio::Poll::new().unwrap();
        let embedded = Reactor::new(config.clone(), Quiet, poll.registry(), TokenSpace::default());
        assert!(matches!(embedded, Err(Error::Config(e)) if e == want));
        assert_eq!(support::Sim::new(config).err(), Some(want));
    }
}

/// Sets a timer from every shutdown callback and records what it was told.
#[derive(Default)]
struct TimerOnShutdown {
    connected: bool,
    refused: Vec<Result<(), OpError>>,
    fired: Vec<u64>,
}

impl Handler for TimerOnShutdown {
    fn on_connection(&mut self, _: &mut Ctx<'_>, _: &ConnInfo) {
        self.connected = true;
    }

    fn on_disconnection(&mut self, ctx: &mut Ctx<'_>, _: &ConnInfo, reason: &DisconnectReason) {
        assert_eq!(*reason, DisconnectReason::Shutdown);
        self.refused.push(ctx.set_timer(Duration::ZERO, 1).map(|_| ()));
    }

    fn on_inbound_closed(&mut self, ctx: &mut Ctx<'_>, _: InboundId, _: &DisconnectReason) {
        self.refused.push(ctx.set_timer(Duration::from_millis(1), 2).map(|_| ()));
    }

    fn on_timer(&mut self, _: &mut Ctx<'_>, data: u64) {
        self.fired.push(data);
    }
}

/// Timers set in the callbacks `stop` runs were armed after the shutdown had cleared every
/// timer, and fired later; a listener added after stop was registered with nobody to serve it.
/// Both are refused now.
#[test]
fn after_stop_timers_from_shutdown_callbacks_and_new_listeners_are_refused() {
    let (_peer_listener, peer) = support::listener();
    let config = Config { target_outbound: 0, listeners: vec![support::localhost()], ..Config::default() };
    let mut m = Manager::new(config, TimerOnShutdown::default()).unwrap();
    m.connect(peer, ConnectOptions::permanent()).unwrap();
    let _client = support::connect(m.reactor().local_addrs()[0]);
    support::turn_until(&mut m, "a connection and an accept", |m| {
        m.reactor().handler().connected && m.counters().inbound == 1
    });

    m.stop().unwrap();
    assert_eq!(m.reactor().handler().refused, [Err(OpError::Stopped), Err(OpError::Stopped)]);
    assert_eq!(m.reactor().poll_timeout(), None, "nothing armed");
    support::turn_for(&mut m, Duration::from_millis(30));
    assert!(m.reactor().handler().fired.is_empty(), "a timer fired after stop: {:?}", m.reactor().handler().fired);

    let listener = std::net::TcpListener::bind(support::localhost()).unwrap();
    let addr = listener.local_addr().unwrap();
    assert!(matches!(m.reactor_mut().add_listener(listener), Err(Error::Op(OpError::Stopped))));
    assert_eq!(m.reactor().sockets(), 0, "nothing registered");
    assert!(m.reactor().local_addrs().is_empty());
    support::assert_refused(addr);
}

/// Stops in its first callback, then asks for more in the same callback.
#[derive(Default)]
struct StopThenMore {
    peer: Option<SocketAddr>,
    after_stop: Vec<Result<(), OpError>>,
}

impl Handler for StopThenMore {
    fn on_timer(&mut self, ctx: &mut Ctx<'_>, _: u64) {
        ctx.stop().unwrap();
        let peer = self.peer.unwrap();
        self.after_stop.push(ctx.connect(peer, ConnectOptions::once()).map(|_| ()));
        self.after_stop.push(ctx.new_conn_req());
        self.after_stop.push(ctx.set_timer(Duration::ZERO, 9).map(|_| ()));
        self.after_stop.push(ctx.stop());
    }
}

/// Operations queued in a callback after `ctx.stop()` in the same callback used to be accepted
/// and then applied after the shutdown (a dial opened by a stopped manager). They are refused.
#[test]
fn operations_queued_after_ctx_stop_in_the_same_callback_are_refused() {
    let (_peer_listener, peer) = support::listener();
    let handler = StopThenMore { peer: Some(peer), ..StopThenMore::default() };
    let mut m = Manager::new(Config { target_outbound: 2, ..Config::default() }, handler).unwrap();
    m.reactor_mut().set_timer(Duration::ZERO, 0).unwrap();
    support::run_to_stop(&mut m);
    assert_eq!(m.reactor().handler().after_stop, [Err(OpError::Stopped); 4]);
    assert_eq!(m.counters().dials, 0, "no dial was opened");
    assert_eq!(m.reactor().core().requests().count(), 0);
    assert_eq!(m.reactor().sockets(), 0);
}

/// A failed wake used to turn a command that had been queued into an error, losing the id of a
/// request that would still be made. The wake cannot be made to fail from a test: the waker is
/// an eventfd (or pipe) owned by the `Poll`, whose write only fails if the descriptor is gone,
/// and mio itself drains a full eventfd and retries. So this checks the contract around it: the
/// id `connect` returns names a request once the reactor next turns.
#[test]
fn a_handle_connect_id_names_a_request_after_the_next_turn() {
    let mut m = Manager::new(Config { target_outbound: 0, ..Config::default() }, Quiet).unwrap();
    let handle: Handle = m.handle();
    let id = std::thread::spawn(move || handle.connect(support::refused_addr(), ConnectOptions::permanent()))
        .join()
        .unwrap()
        .unwrap();
    assert_eq!(m.state(id), None, "not applied before the reactor turns");
    m.turn(Some(support::LIMIT)).unwrap();
    assert_eq!(m.state(id), Some(ConnState::Pending));
    assert!(m.reactor().core().info(id).is_some_and(|info| info.permanent));
    m.stop().unwrap();
}
