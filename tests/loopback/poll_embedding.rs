//! The reactor embedded in the caller's own `mio::Poll`, next to the caller's own source: events
//! are routed by `Reactor::owns`, the `Waker` uses `TokenSpace::waker()`, a `Handle` built on it
//! controls the reactor from another thread, and `poll_timeout` alone drives the timers.

use crate::support;

use std::net::SocketAddr;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::{Ev, Recorder};
use connmgr::{Config, ConnState, ConnectOptions, Handle, NextStep, Reactor, TokenSpace};
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};

const MY_LISTENER: Token = Token(0);

/// The application's side of the loop: its listener and what it accepted.
struct App {
    listener: TcpListener,
    accepted: Vec<(mio::net::TcpStream, SocketAddr)>,
}

impl App {
    fn accept_all(&mut self) {
        for _ in 0..1024 {
            match self.listener.accept() {
                Ok(conn) => self.accepted.push(conn),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) => panic!("accept: {e}"),
            }
        }
    }
}

/// One turn of the embedding loop. The wait is the reactor's `poll_timeout` (capped by `cap` so
/// a broken test ends), never a periodic tick of our own.
fn turn(poll: &mut Poll, events: &mut Events, reactor: &mut Reactor<Recorder>, app: &mut App, cap: Duration) {
    let now = Instant::now();
    let timeout = reactor.poll_timeout().map(|t| t.saturating_duration_since(now)).map_or(cap, |t| t.min(cap));
    poll.poll(events, Some(timeout)).unwrap();
    let now = Instant::now();
    for event in events.iter() {
        if reactor.owns(event.token()) {
            reactor.handle_event(event, now);
        } else if event.token() == MY_LISTENER {
            app.accept_all();
        } else {
            panic!("an event for a token nobody owns: {:?}", event.token());
        }
    }
    reactor.handle_timeout(now);
}

#[test]
fn a_reactor_shares_the_callers_poll_and_timers_follow_poll_timeout() {
    let mut poll = Poll::new().unwrap();
    let mut app = App { listener: TcpListener::bind(support::localhost()).unwrap(), accepted: Vec::new() };
    poll.registry().register(&mut app.listener, MY_LISTENER, Interest::READABLE).unwrap();
    let app_addr = app.listener.local_addr().unwrap();

    let space = TokenSpace::default();
    assert!(!space.owns(MY_LISTENER));
    let waker = Arc::new(Waker::new(poll.registry(), space.waker()).unwrap());
    let retry = Duration::from_millis(50);
    let config = Config {
        target_outbound: 0,
        retry_duration: retry,
        max_retry_duration: Duration::from_secs(1),
        listeners: vec![support::localhost()],
        ..Config::default()
    };
    let (tx, rx) = mpsc::channel();
    let mut reactor = Reactor::new(config, Recorder::new().forwarding(tx), poll.registry(), space).unwrap();
    assert!(reactor.owns(space.waker()));
    let reactor_addr = reactor.local_addrs()[0];
    let handle = Handle::new(&mut reactor, Arc::clone(&waker));
    reactor.start();
    let mut events = Events::with_capacity(64);
    let cap = Duration::from_secs(2);
    let deadline = Instant::now() + support::LIMIT;

    // Another thread asks the reactor, through the handle and the shared waker, to dial the
    // application's listener, and connects a client to the reactor's listener.
    let refused = support::refused_addr();
    let control = thread::spawn(move || {
        let out = handle.connect(app_addr, ConnectOptions::once()).unwrap();
        let client = support::connect(reactor_addr);
        let mut seen = Vec::new();
        support::wait_for(&rx, &mut seen, "the outbound connection", |e| matches!(e, Ev::Connected(i) if i.id == out));
        support::wait_for(&rx, &mut seen, "the accept", |e| matches!(e, Ev::Accepted(..)));
        // Then a permanent request to a port that refuses: its retries are timers.
        let retried = handle.connect(refused, ConnectOptions::permanent()).unwrap();
        let mut failures = Vec::new();
        for _ in 0..3 {
            match support::wait_for(&rx, &mut seen, "a dial failure", |e| matches!(e, Ev::DialFailed(..))) {
                Ev::DialFailed(info, _, next) => failures.push((info.id, next)),
                _ => unreachable!(),
            }
        }
        handle.remove(retried).unwrap();
        handle.stop().unwrap();
        (out, retried, failures, client)
    });

    for _ in 0..support::MAX_TURNS {
        if reactor.is_stopped() {
            break;
        }
        assert!(Instant::now() < deadline, "the embedded reactor did not finish in time");
        turn(&mut poll, &mut events, &mut reactor, &mut app, cap);
    }
    let (out, retried, failures, mut client) = control.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
    assert!(reactor.is_stopped());

    // Both sources worked in the one loop: the application's listener accepted the reactor's
    // outbound connection, and the reactor's listener accepted the client.
    assert_eq!(app.accepted.len(), 1);
    let h = reactor.handler();
    let conn = h.connected()[0].clone();
    assert_eq!((conn.id, conn.target.clone()), (out, Some(app_addr.into())));
    assert_eq!(h.accepted().len(), 1);
    assert_eq!(h.accepted()[0].1, client.local_addr().unwrap());

    // The retries were driven by poll_timeout: 50 ms, then 100 ms, each one on time even though
    // nothing else woke the loop (with no timer honoured, each wait would last the 2 s cap).
    let nexts: Vec<NextStep> = failures.iter().map(|f| f.1).collect();
    assert_eq!(nexts, [NextStep::RetryIn(retry), NextStep::RetryIn(retry * 2), NextStep::RetryIn(retry * 3)]);
    assert!(failures.iter().all(|f| f.0 == retried));
    let recorded = reactor.handler().dial_failures();
    assert_eq!(recorded.len(), 3);
    for (pair, wait) in recorded.windows(2).zip([retry, retry * 2]) {
        assert!(pair[1].0 - pair[0].0 >= wait, "a retry fired early");
    }
    let took = recorded[2].0 - recorded[0].0;
    assert!(took < cap, "two retries of 50 and 100 ms took {took:?}: the loop slept until its cap");

    // Stop closed everything the reactor owned, and nothing the application owned.
    assert_eq!(reactor.sockets(), 0);
    assert!(reactor.handler().ended().iter().any(|(i, s)| i.id == out && *s == ConnState::Disconnected));
    let (from_reactor, _) = app.accepted.pop().unwrap();
    let mut from_reactor = std::net::TcpStream::from(from_reactor);
    from_reactor.set_nonblocking(false).unwrap();
    from_reactor.set_read_timeout(Some(support::LIMIT)).unwrap();
    assert!(support::read_to_eof(&mut from_reactor).is_empty(), "the reactor's outbound socket was closed");
    assert!(support::read_to_eof(&mut client).is_empty());
    assert!(app.listener.local_addr().is_ok(), "the application's listener is untouched");
}
