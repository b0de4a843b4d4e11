//! Outbound connections on real loopback sockets: manual and automatic connects reach
//! `on_connection` with the right `ConnInfo`, the stream works, refused dials back off exactly
//! as configured, and connect timeouts fire against a peer that never answers the handshake.

use crate::support;

use std::io::Write;
use std::time::{Duration, Instant};

use crate::support::{Ev, Recorder};
use connmgr::{
    Config, ConnState, ConnectOptions, Ctx, DialError, DisconnectOptions, DisconnectReason, FailureCause, Handler,
    Manager, NextStep, Peer,
};

fn config() -> Config {
    Config { target_outbound: 0, ..Config::default() }
}

#[test]
fn manual_connects_reach_on_connection_with_their_flags_and_a_usable_stream() {
    let (listener, addr) = support::listener();
    let mut recorder = Recorder::new();
    recorder.greeting = Some(b"hello".to_vec());
    let mut m = Manager::new(config(), recorder).unwrap();
    let permanent = m.connect(addr, ConnectOptions::permanent()).unwrap();
    let once = m.connect(addr, ConnectOptions::once()).unwrap();
    assert_eq!((permanent.get(), once.get()), (1, 2), "ids from 1, assigned before start");
    assert_eq!(m.state(permanent), Some(ConnState::Pending));

    support::turn_until(&mut m, "two connections", |m| m.reactor().handler().connected().len() == 2);
    let mut connected = m.reactor().handler().connected();
    connected.sort_by_key(|c| c.id);
    assert_eq!(connected[0].id, permanent);
    assert_eq!(connected[0].target, Some(addr.into()));
    assert!(connected[0].permanent && !connected[0].is_automatic());
    assert_eq!(connected[1].id, once);
    assert_eq!(connected[1].target, Some(addr.into()));
    assert!(!connected[1].permanent && !connected[1].is_automatic());
    assert_eq!(m.state(permanent), Some(ConnState::Established));
    let c = m.counters();
    assert_eq!((c.dials, c.connected, c.established, c.failed()), (2, 2, 2, 0));

    // The greeting written in on_connection arrives on the accepted side.
    for _ in 0..2 {
        let mut peer = support::accept(&listener);
        assert_eq!(support::read_n(&mut peer, 5), b"hello");
    }
}

#[test]
fn a_stream_taken_from_ctx_after_connecting_is_usable() {
    // Writes through `Manager`-side access as well: `ctx.stream` in a later callback.
    struct WriteOnTimer {
        id: Option<connmgr::ConnId>,
        written: bool,
    }
    impl Handler for WriteOnTimer {
        fn on_connection(&mut self, ctx: &mut Ctx<'_>, conn: &connmgr::ConnInfo) {
            self.id = Some(conn.id);
            ctx.set_timer(Duration::from_millis(1), 7).unwrap();
        }
        fn on_timer(&mut self, ctx: &mut Ctx<'_>, data: u64) {
            assert_eq!(data, 7);
            let stream = ctx.stream(Peer::Outbound(self.id.unwrap())).expect("stream of an established connection");
            stream.write_all(b"later").unwrap();
            self.written = true;
        }
    }
    let (listener, addr) = support::listener();
    let mut m = Manager::new(config(), WriteOnTimer { id: None, written: false }).unwrap();
    m.connect(addr, ConnectOptions::once()).unwrap();
    support::turn_until(&mut m, "the write from on_timer", |m| m.reactor().handler().written);
    let mut peer = support::accept(&listener);
    assert_eq!(support::read_n(&mut peer, 5), b"later");
}

#[test]
fn automatic_connections_come_from_the_address_source_up_to_the_target() {
    let (listener, addr) = support::listener();
    let mut m =
        Manager::new(Config { target_outbound: 2, ..Config::default() }, Recorder::with_addrs(vec![addr])).unwrap();
    support::turn_until(&mut m, "two automatic connections", |m| m.reactor().handler().connected().len() == 2);
    for info in m.reactor().handler().connected() {
        assert_eq!(info.target, Some(addr.into()));
        assert!(info.is_automatic() && !info.permanent, "{info:?}");
    }
    // The target is met: no further address is asked for, no further dial made.
    support::turn_for(&mut m, Duration::from_millis(100));
    assert_eq!(m.reactor().handler().addr_calls, 2);
    let c = m.counters();
    assert_eq!((c.dials, c.connected, c.established), (2, 2, 2));
    let _peers = [support::accept(&listener), support::accept(&listener)];
}

#[test]
fn a_peer_hanging_up_ends_a_one_shot_connection_and_replaces_an_automatic_one() {
    let (listener, addr) = support::listener();
    let mut m =
        Manager::new(Config { target_outbound: 1, ..Config::default() }, Recorder::with_addrs(vec![addr])).unwrap();
    let once = m.connect(addr, ConnectOptions::once()).unwrap();
    support::turn_until(&mut m, "two connections", |m| m.reactor().handler().connected().len() == 2);
    let automatic = m.reactor().handler().connected().into_iter().find(|c| c.is_automatic()).unwrap().id;
    drop([support::accept(&listener), support::accept(&listener)]);

    support::turn_until(&mut m, "both disconnections and a replacement", |m| {
        m.reactor().handler().disconnections().len() == 2 && m.reactor().handler().connected().len() == 3
    });
    let h = m.reactor().handler();
    for (info, reason) in h.disconnections() {
        assert_eq!(reason, DisconnectReason::RemoteClosed, "{info:?}");
    }
    assert!(h.ended().iter().any(|(i, s)| i.id == once && *s == ConnState::Disconnected));
    let replacement = h.connected()[2].clone();
    assert!(replacement.is_automatic());
    assert!(replacement.id > automatic, "a replacement has a new id");
    assert_eq!(m.state(once), Some(ConnState::Disconnected), "ended, and still answers");
    assert_eq!(m.counters().failed(), 0, "a remote close is not a failed attempt");
}

#[test]
fn a_one_shot_refused_dial_fails_once_and_ends() {
    let addr = support::refused_addr();
    let mut m = Manager::new(config(), Recorder::new()).unwrap();
    let id = m.connect(addr, ConnectOptions::once()).unwrap();
    support::turn_until(&mut m, "the end of the request", |m| !m.reactor().handler().ended().is_empty());
    let failures = m.reactor().handler().dial_failures();
    assert_eq!(failures.len(), 1);
    let (_, info, error, next) = &failures[0];
    assert_eq!(info.id, id);
    assert_eq!(error.cause(), FailureCause::Refused, "{error:?}");
    assert_eq!(*next, NextStep::Ended);
    assert_eq!(m.reactor().handler().ended()[0].1, ConnState::Failed);
    let c = m.counters();
    assert_eq!((c.dials, c.failed_refused, c.pending, c.in_flight), (1, 1, 0, 0));
    assert_eq!(m.reactor().sockets(), 0, "the refused socket is closed");
}

#[test]
fn refused_permanent_dials_retry_with_linear_capped_backoff() {
    let addr = support::refused_addr();
    let retry = Duration::from_millis(50);
    let cap = Duration::from_millis(200);
    let config = Config { target_outbound: 0, retry_duration: retry, max_retry_duration: cap, ..Config::default() };
    let mut m = Manager::new(config, Recorder::new()).unwrap();
    let id = m.connect(addr, ConnectOptions::permanent()).unwrap();
    support::turn_until(&mut m, "six failed dials", |m| m.reactor().handler().dial_failures().len() == 6);
    assert_eq!(m.remove(id), Ok(()));
    assert_eq!(m.state(id), Some(ConnState::Canceled));

    let failures = m.reactor().handler().dial_failures();
    let waits: Vec<Duration> = failures
        .iter()
        .map(|(_, info, error, next)| {
            assert_eq!(info.id, id, "a permanent request keeps its id");
            assert!(info.permanent);
            assert_eq!(error.cause(), FailureCause::Refused, "{error:?}");
            match next {
                NextStep::RetryIn(d) => *d,
                other => panic!("a permanent request retries, got {other:?}"),
            }
        })
        .collect();
    let ms: Vec<u128> = waits.iter().map(Duration::as_millis).collect();
    assert_eq!(ms, [50, 100, 150, 200, 200, 200]);
    for (pair, wait) in failures.windows(2).zip(&waits) {
        let gap = pair[1].0 - pair[0].0;
        // Timers never fire early; the redial happens when it fires; its failure after that.
        assert!(gap >= *wait, "redialled {gap:?} after a failure that scheduled {wait:?}");
        assert!(gap < *wait + Duration::from_secs(5), "redial {gap:?} after scheduling {wait:?}");
    }
    let c = m.counters();
    assert_eq!((c.dials, c.failed_refused, c.retries), (6, 6, 6));
    assert_eq!(m.reactor().sockets(), 0);
    assert_eq!(m.reactor().handler().ended().last().map(|e| e.1), Some(ConnState::Canceled));
}

#[test]
fn a_connect_timeout_fires_against_a_peer_that_never_completes_the_handshake() {
    let hole = support::BlackHole::new();
    let timeout = Duration::from_millis(200);
    let mut m = Manager::new(Config { connect_timeout: timeout, ..config() }, Recorder::new()).unwrap();
    m.reactor_mut().start();
    let started = Instant::now();
    let id = m.connect(hole.addr, ConnectOptions::once()).unwrap();
    assert_eq!(m.counters().in_flight, 1);
    support::turn_until(&mut m, "the connect timeout", |m| !m.reactor().handler().dial_failures().is_empty());
    let (at, info, error, next) = m.reactor().handler().dial_failures().remove(0);
    assert_eq!(info.id, id);
    assert_eq!(error, DialError::TimedOut(timeout));
    assert_eq!(error.cause(), FailureCause::TimedOut);
    assert_eq!(next, NextStep::Ended);
    assert!(at - started >= timeout, "timed out after {:?}", at - started);
    let c = m.counters();
    assert_eq!((c.failed_timed_out, c.failed(), c.in_flight, c.connected), (1, 1, 0, 0));
    assert_eq!(m.reactor().sockets(), 0, "the timed-out socket is closed");
    assert_eq!(m.reactor().handler().ended(), [(info, ConnState::Failed)]);
}

#[test]
fn a_per_request_connect_timeout_overrides_the_configured_one() {
    let hole = support::BlackHole::new();
    let mut m = Manager::new(Config { connect_timeout: Duration::from_secs(60), ..config() }, Recorder::new()).unwrap();
    m.reactor_mut().start();
    let started = Instant::now();
    let short = Duration::from_millis(150);
    let id = m.connect(hole.addr, ConnectOptions::once().connect_timeout(short)).unwrap();
    let long = m.connect(hole.addr, ConnectOptions::once()).unwrap();
    support::turn_until(&mut m, "the short connect timeout", |m| !m.reactor().handler().dial_failures().is_empty());
    let failures = m.reactor().handler().dial_failures();
    assert_eq!(failures.len(), 1, "only the request with the short timeout has failed");
    let (at, info, error, _) = &failures[0];
    assert_eq!(info.id, id);
    assert_eq!(*error, DialError::TimedOut(short));
    assert!(*at - started >= short);
    assert_eq!(m.state(long), Some(ConnState::Pending), "the other dial is still waiting for its 60 s");
    assert_eq!(m.counters().in_flight, 1);
    assert_eq!(m.remove(long), Ok(()));
    assert_eq!(m.state(long), Some(ConnState::Canceled));
    assert_eq!(m.reactor().sockets(), 0);
}

#[test]
fn data_and_a_hang_up_in_the_event_that_completes_a_connect_are_not_swallowed() {
    // The event that completes a connect can carry more: data, or the peer's FIN, already in
    // the socket when the reactor first looks. Edge-triggered readiness never reports them
    // again, so if the reactor consumed that event as "connected" only, the default on_ready
    // would never see the hang-up and the dead socket would be held for ever.
    let (listener, addr) = support::listener();
    let mut recorder = Recorder::new();
    recorder.read = true;
    let mut m = Manager::new(config(), recorder).unwrap();
    m.reactor_mut().start();
    let id = m.connect(addr, ConnectOptions::once()).unwrap(); // dials now: started
    let mut peer = support::accept(&listener); // the handshake is done
    support::send(&mut peer, b"early");
    drop(peer); // data then FIN, before the manager has polled at all

    support::turn_until(&mut m, "the disconnection", |m| !m.reactor().handler().disconnections().is_empty());
    let h = m.reactor().handler();
    assert_eq!(h.connected().len(), 1);
    assert_eq!(h.data(Peer::Outbound(id)), b"early");
    assert_eq!(h.disconnections()[0].1, DisconnectReason::RemoteClosed);
    assert_eq!(m.reactor().sockets(), 0);
}

#[test]
fn a_hang_up_in_the_event_that_completes_a_connect_reaches_the_default_on_ready() {
    // The same with a handler that relies on the default `on_ready`.
    #[derive(Default)]
    struct Default_ {
        connected: u32,
        disconnected: Vec<DisconnectReason>,
    }
    impl Handler for Default_ {
        fn on_connection(&mut self, _: &mut Ctx<'_>, _: &connmgr::ConnInfo) {
            self.connected += 1;
        }
        fn on_disconnection(&mut self, _: &mut Ctx<'_>, _: &connmgr::ConnInfo, reason: &DisconnectReason) {
            self.disconnected.push(reason.clone());
        }
    }
    let (listener, addr) = support::listener();
    let mut m = Manager::new(config(), Default_::default()).unwrap();
    m.reactor_mut().start();
    m.connect(addr, ConnectOptions::once()).unwrap();
    drop(support::accept(&listener));
    support::turn_until(&mut m, "the disconnection", |m| !m.reactor().handler().disconnected.is_empty());
    assert_eq!(m.reactor().handler().connected, 1);
    assert_eq!(m.reactor().handler().disconnected, [DisconnectReason::RemoteClosed]);
    assert_eq!(m.reactor().sockets(), 0);
}

#[test]
fn dial_events_are_reported_in_order_for_each_request() {
    // on_connection, then on_disconnection, then on_request_ended, per request.
    let (listener, addr) = support::listener();
    let mut m = Manager::new(config(), Recorder::new()).unwrap();
    let id = m.connect(addr, ConnectOptions::once()).unwrap();
    support::turn_until(&mut m, "the connection", |m| !m.reactor().handler().connected().is_empty());
    assert_eq!(m.disconnect(id, DisconnectOptions::default()), Ok(()));
    assert_eq!(m.state(id), Some(ConnState::Disconnected));
    let mut peer = support::accept(&listener);
    assert!(support::read_to_eof(&mut peer).is_empty(), "the peer sees EOF after disconnect");
    let kinds: Vec<&str> = m
        .reactor()
        .handler()
        .evs()
        .map(|e| match e {
            Ev::Connected(_) => "connected",
            Ev::Disconnected(_, DisconnectReason::Requested) => "disconnected",
            Ev::Ended(_, ConnState::Disconnected) => "ended",
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(kinds, ["connected", "disconnected", "ended"]);
}

#[test]
fn a_permanent_connection_closed_by_the_peer_reconnects_with_the_same_id_after_backoff() {
    let (listener, addr) = support::listener();
    let retry = Duration::from_millis(30);
    let mut m = Manager::new(Config { retry_duration: retry, ..config() }, Recorder::new()).unwrap();
    let id = m.connect(addr, ConnectOptions::permanent()).unwrap();
    support::turn_until(&mut m, "the connection", |m| m.reactor().handler().connected().len() == 1);
    drop(support::accept(&listener));
    support::turn_until(&mut m, "the reconnection", |m| m.reactor().handler().connected().len() == 2);
    let h = m.reactor().handler();
    assert_eq!(h.connected()[1].id, id, "same request, same id");
    assert_eq!(h.disconnections(), [(h.connected()[0].clone(), DisconnectReason::RemoteClosed)]);
    let (gone, back) = (h.events[1].0, h.events[2].0);
    assert!(matches!(h.events[1].1, Ev::Disconnected(..)) && matches!(h.events[2].1, Ev::Connected(..)));
    assert!(back - gone >= retry, "reconnected after {:?}", back - gone);
    assert_eq!(m.counters().retries, 1);
    let _peer = support::accept(&listener);
}

/// A connect the kernel rejects at once (here: TCP to the broadcast address, refused with
/// `ENETUNREACH` before any packet leaves the host) is a dial failure like an asynchronous one:
/// reported with its error, retried on the backoff schedule, its socket closed, no panic and no
/// tight loop.
#[test]
fn a_connect_that_fails_synchronously_is_a_dial_failure_with_backoff() {
    use connmgr::ConnInfo;

    #[derive(Default)]
    struct Failures(Vec<(std::io::ErrorKind, NextStep)>);
    impl Handler for Failures {
        fn on_dial_failed(&mut self, _ctx: &mut Ctx<'_>, _conn: &ConnInfo, error: &DialError, next: NextStep) {
            if let DialError::Io(e) = error {
                self.0.push((e.kind(), next));
            }
        }
    }

    let retry = Duration::from_millis(20);
    let config = Config { retry_duration: retry, max_retry_duration: Duration::from_millis(40), ..config() };
    let mut m = Manager::new(config, Failures::default()).unwrap();
    m.connect("255.255.255.255:8333".parse::<std::net::SocketAddr>().unwrap(), ConnectOptions::permanent()).unwrap();
    support::turn_until(&mut m, "three failed dials", |m| m.reactor().handler().0.len() >= 3);
    let failures = &m.reactor().handler().0;
    assert_eq!(failures[0].1, NextStep::RetryIn(retry));
    assert_eq!(failures[1].1, NextStep::RetryIn(2 * retry));
    assert_eq!(failures[2].1, NextStep::RetryIn(2 * retry), "capped");
    assert!(failures.iter().all(|(kind, _)| *kind != std::io::ErrorKind::WouldBlock));
    let c = m.counters();
    assert!(c.dials >= 3);
    // Linux says "network unreachable" (a local failure); other systems may say otherwise.
    assert_eq!(c.failed_local + c.failed_other, c.dials, "every dial failed, none as refused or timed out");
    assert_eq!(c.connected, 0);
    assert_eq!(m.reactor().sockets(), 0, "a socket whose connect failed at once is not kept");
}
