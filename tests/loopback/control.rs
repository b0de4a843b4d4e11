//! Control of a running manager on real sockets: stop as a shutdown (README difference #4, D11 as
//! ours), disconnect and remove closing sockets, and the cross-thread `Handle`.

use crate::support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::{Ev, Recorder};
use connmgr::{Config, ConnId, ConnState, ConnectOptions, DisconnectOptions, DisconnectReason, Manager, OpError, Peer};

fn plain() -> DisconnectOptions {
    DisconnectOptions::default()
}

fn config() -> Config {
    Config { target_outbound: 0, ..Config::default() }
}

/// From btcd's `Stop` with established connections, which no btcd test covers (scenario D11):
/// btcd leaves them open; ours closes each and reports it once (README difference #4).
#[test]
fn stop_closes_and_reports_every_connection_once_and_cancels_dials() {
    let (peer_listener, peer_addr) = support::listener();
    let hole = support::BlackHole::new();
    let config = Config { listeners: vec![support::localhost()], ..config() };
    let mut m = Manager::new(config, Recorder::new()).unwrap();
    let permanent = m.connect(peer_addr, ConnectOptions::permanent()).unwrap();
    let once = m.connect(peer_addr, ConnectOptions::once()).unwrap();
    let dialing = m.connect(hole.addr, ConnectOptions::once()).unwrap();
    let mut clients = [support::connect(m.reactor().local_addrs()[0]), support::connect(m.reactor().local_addrs()[0])];
    support::turn_until(&mut m, "two connections and two accepts", |m| {
        m.reactor().handler().connected().len() == 2 && m.reactor().handler().accepted().len() == 2
    });
    let mut peers = [support::accept(&peer_listener), support::accept(&peer_listener)];
    assert_eq!(m.state(dialing), Some(ConnState::Pending));
    assert_eq!(m.counters().in_flight, 1);
    let before = m.reactor().handler().events.len();

    assert_eq!(m.stop(), Ok(()));

    assert!(m.reactor().is_stopped());
    let after: Vec<Ev> = m.reactor().handler().events[before..].iter().map(|(_, e)| e.clone()).collect();
    let mut disconnected: Vec<(ConnId, DisconnectReason)> = after
        .iter()
        .filter_map(|e| if let Ev::Disconnected(i, w) = e { Some((i.id, w.clone())) } else { None })
        .collect();
    disconnected.sort_by_key(|d| d.0);
    let count = |f: &dyn Fn(&Ev) -> bool| after.iter().filter(|e| f(e)).count();
    assert_eq!(
        disconnected,
        [(permanent, DisconnectReason::Shutdown), (once, DisconnectReason::Shutdown)],
        "exactly once each"
    );
    let inbound: Vec<DisconnectReason> =
        after.iter().filter_map(|e| if let Ev::InboundClosed(_, w) = e { Some(w.clone()) } else { None }).collect();
    assert_eq!(inbound, [DisconnectReason::Shutdown, DisconnectReason::Shutdown]);
    assert_eq!(count(&|e| matches!(e, Ev::DialFailed(..))), 0, "a canceled dial is not a failed one");
    let mut ended: Vec<(ConnId, ConnState)> =
        after.iter().filter_map(|e| if let Ev::Ended(i, s) = e { Some((i.id, *s)) } else { None }).collect();
    ended.sort_by_key(|e| e.0);
    assert_eq!(
        ended,
        [(permanent, ConnState::Disconnected), (once, ConnState::Disconnected), (dialing, ConnState::Canceled)]
    );
    assert_eq!(after.len(), 7, "nothing else: {after:?}");

    assert_eq!(m.reactor().sockets(), 0, "listeners, dials and connections all closed");
    let c = m.counters();
    assert_eq!((c.established, c.inbound, c.pending, c.in_flight), (0, 0, 0, 0));
    for stream in peers.iter_mut().chain(clients.iter_mut()) {
        assert!(support::read_to_eof(stream).is_empty(), "the peer sees EOF");
    }
    assert_eq!(m.connect(peer_addr, ConnectOptions::once()), Err(OpError::Stopped));
    assert_eq!(m.disconnect(permanent, plain()), Err(OpError::Stopped));
    assert_eq!(m.remove(permanent), Err(OpError::Stopped));
    assert_eq!(m.new_conn_req(), Err(OpError::Stopped));
    assert_eq!(m.close(Peer::Outbound(once), DisconnectReason::Requested), Err(OpError::Stopped));
    assert_eq!(m.reactor_mut().set_timer(Duration::from_millis(1), 1), Err(OpError::Stopped));
    assert_eq!(m.state(dialing), Some(ConnState::Canceled), "ended requests still answer");

    // Nothing more happens: a second stop (refused), more turns, a permanent request's retry time.
    assert_eq!(m.stop(), Err(OpError::Stopped));
    support::turn_for(&mut m, Duration::from_millis(50));
    assert_eq!(m.reactor().handler().events.len(), before + 7);
    assert!(m.run_until(Instant::now() + Duration::from_secs(1)).unwrap(), "run returns at once");
}

#[test]
fn stop_requested_from_a_callback_makes_run_return() {
    let (_peer_listener, addr) = support::listener();
    let recorder = Recorder::new().stop_when(|evs| matches!(evs.last(), Some((_, Ev::Connected(_)))));
    let mut m = Manager::new(config(), recorder).unwrap();
    let id = m.connect(addr, ConnectOptions::permanent()).unwrap();
    support::run_to_stop(&mut m);
    assert_eq!(
        m.reactor().handler().disconnections(),
        [(m.reactor().handler().connected()[0].clone(), DisconnectReason::Shutdown)]
    );
    assert_eq!(m.reactor().handler().ended().len(), 1);
    assert_eq!(m.reactor().handler().ended()[0].0.id, id);
    assert_eq!(m.reactor().sockets(), 0);
}

#[test]
fn disconnect_and_remove_close_the_socket() {
    let (peer_listener, addr) = support::listener();
    let mut m =
        Manager::new(Config { retry_duration: Duration::from_millis(20), ..config() }, Recorder::new()).unwrap();
    let permanent = m.connect(addr, ConnectOptions::permanent()).unwrap();
    support::turn_until(&mut m, "the connection", |m| m.reactor().handler().connected().len() == 1);
    let mut first = support::accept(&peer_listener);

    // A permanent request reconnects after a disconnect, with the same id.
    assert_eq!(m.disconnect(permanent, plain()), Ok(()));
    assert_eq!(m.state(permanent), Some(ConnState::Pending));
    assert!(support::read_to_eof(&mut first).is_empty());
    support::turn_until(&mut m, "the reconnection", |m| m.reactor().handler().connected().len() == 2);
    assert_eq!(m.reactor().handler().connected()[1].id, permanent);
    let mut second = support::accept(&peer_listener);

    // Remove ends it for good.
    assert_eq!(m.remove(permanent), Ok(()));
    assert_eq!(m.state(permanent), Some(ConnState::Disconnected));
    assert!(support::read_to_eof(&mut second).is_empty());
    support::turn_for(&mut m, Duration::from_millis(100));
    assert_eq!(m.reactor().handler().connected().len(), 2, "no reconnection after remove");
    let reasons: Vec<DisconnectReason> = m.reactor().handler().disconnections().into_iter().map(|(_, w)| w).collect();
    assert_eq!(reasons, [DisconnectReason::Requested, DisconnectReason::Removed]);
    assert_eq!(m.remove(permanent), Err(OpError::UnknownId(permanent)));
    assert_eq!(m.reactor().sockets(), 0);
}

#[test]
fn handle_ids_before_run_then_disconnect_remove_and_stop_from_another_thread() {
    let (peer_listener, addr) = support::listener();
    let (tx, rx) = mpsc::channel();
    let mut m = Manager::new(config(), Recorder::new().forwarding(tx)).unwrap();
    let handle = m.handle();

    let early = handle.clone();
    let ids = thread::spawn(move || -> Vec<ConnId> {
        vec![
            early.connect(addr, ConnectOptions::permanent()).unwrap(),
            early.connect(addr, ConnectOptions::once()).unwrap(),
            early.connect(addr, ConnectOptions::once()).unwrap(),
        ]
    })
    .join()
    .unwrap();
    assert_eq!(ids.iter().map(|i| i.get()).collect::<Vec<_>>(), [1, 2, 3], "ids at once, before run");
    let (p, d, s) = (ids[0], ids[1], ids[2]);

    let control = thread::spawn(move || {
        let mut seen = Vec::new();
        for id in [p, d, s] {
            support::wait_for(&rx, &mut seen, "a connection", |e| matches!(e, Ev::Connected(i) if i.id == id));
        }
        handle.disconnect(d, plain()).unwrap();
        support::wait_for(
            &rx,
            &mut seen,
            "the disconnect",
            |e| matches!(e, Ev::Disconnected(i, DisconnectReason::Requested) if i.id == d),
        );
        support::wait_for(
            &rx,
            &mut seen,
            "its end",
            |e| matches!(e, Ev::Ended(i, ConnState::Disconnected) if i.id == d),
        );
        handle.remove(p).unwrap();
        support::wait_for(
            &rx,
            &mut seen,
            "the remove",
            |e| matches!(e, Ev::Disconnected(i, DisconnectReason::Removed) if i.id == p),
        );
        support::wait_for(
            &rx,
            &mut seen,
            "its end",
            |e| matches!(e, Ev::Ended(i, ConnState::Disconnected) if i.id == p),
        );
        handle.close(Peer::Outbound(s), DisconnectReason::protocol("bye")).unwrap();
        support::wait_for(
            &rx,
            &mut seen,
            "the close",
            |e| matches!(e, Ev::Disconnected(i, r) if i.id == s && *r == DisconnectReason::protocol("bye")),
        );
        let again = handle.connect(addr, ConnectOptions::once()).unwrap();
        assert_eq!(again.get(), 4);
        support::wait_for(&rx, &mut seen, "the fourth connection", |e| matches!(e, Ev::Connected(i) if i.id == again));
        handle.stop().unwrap();
        support::wait_for(
            &rx,
            &mut seen,
            "the shutdown",
            |e| matches!(e, Ev::Disconnected(i, DisconnectReason::Shutdown) if i.id == again),
        );
        // The stop flag is set before the first shutdown callback runs.
        assert!(handle.is_stopped());
        assert_eq!(handle.connect(addr, ConnectOptions::once()), Err(OpError::Stopped));
        assert_eq!(handle.disconnect(again, plain()), Err(OpError::Stopped));
        assert_eq!(handle.remove(again), Err(OpError::Stopped));
        assert_eq!(handle.new_conn_req(), Err(OpError::Stopped));
        assert_eq!(handle.close(Peer::Outbound(again), DisconnectReason::Requested), Err(OpError::Stopped));
        assert_eq!(handle.state(again), Err(OpError::Stopped));
        assert_eq!(handle.stop(), Err(OpError::Stopped));
        assert_eq!(handle.clone().connect(addr, ConnectOptions::permanent()), Err(OpError::Stopped));
        seen
    });

    let stopped = m.run_until(Instant::now() + support::LIMIT).unwrap();
    let seen = control.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
    assert!(stopped, "run returns after the handle's stop");
    assert!(seen.iter().all(|e| !matches!(e, Ev::Connected(i) if i.id == p)), "no reconnection after remove");
    assert_eq!(m.reactor().handler().connected().len(), 4);
    assert_eq!(m.reactor().sockets(), 0);
    assert_eq!(m.handle().connect(addr, ConnectOptions::once()), Err(OpError::Stopped), "a handle made after stop");
    for _ in 0..4 {
        let mut peer = support::accept(&peer_listener);
        assert!(support::read_to_eof(&mut peer).is_empty());
    }
}

#[test]
fn many_threads_connecting_at_once_get_unique_ids_and_every_request_arrives() {
    const THREADS: usize = 4;
    const EACH: usize = 50;
    let addr: SocketAddr = support::refused_addr();
    let recorder = Recorder::new().stop_when(|evs| {
        evs.iter().filter(|(_, e)| matches!(e, Ev::Ended(_, ConnState::Failed))).count() == THREADS * EACH
    });
    let mut m = Manager::new(config(), recorder).unwrap();
    let handle = m.handle();
    let start = std::sync::Arc::new(std::sync::Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (handle, start) = (handle.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                (0..EACH).map(|_| handle.connect(addr, ConnectOptions::once()).unwrap()).collect::<Vec<_>>()
            })
        })
        .collect();
    // The reactor runs while the threads hammer; wakes coalesce, every command must arrive.
    let stopped = m.run_until(Instant::now() + support::LIMIT).unwrap();
    let ids: Vec<ConnId> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    assert!(stopped, "every request ended: {:?}", m.counters());
    let unique: BTreeSet<ConnId> = ids.iter().copied().collect();
    assert_eq!(unique.len(), THREADS * EACH, "ids are unique");
    assert_eq!(unique.first().map(|i| i.get()), Some(1));
    assert_eq!(unique.last().map(|i| i.get()), Some((THREADS * EACH) as u64));
    let ended: BTreeSet<ConnId> = m.reactor().handler().ended().into_iter().map(|(i, _)| i.id).collect();
    assert_eq!(ended, unique, "each request was seen and ended once");
    assert_eq!(m.reactor().handler().ended().len(), THREADS * EACH);
    assert_eq!(m.counters().failed_refused, (THREADS * EACH) as u64);
}

#[test]
fn detached_streams_belong_to_the_caller() {
    let (peer_listener, addr) = support::listener();
    let config = Config { max_inbound: Some(1), listeners: vec![support::localhost()], ..config() };
    let mut m = Manager::new(config, Recorder::new()).unwrap();
    let local = m.reactor().local_addrs()[0];
    let out = m.connect(addr, ConnectOptions::once()).unwrap();
    let mut first = support::connect(local);
    support::turn_until(&mut m, "a connection and an accept", |m| {
        m.reactor().handler().connected().len() == 1 && m.reactor().handler().accepted().len() == 1
    });
    let mut peer = support::accept(&peer_listener);

    // Outbound: the stream works away from the manager; the request stays established.
    let outbound = m.reactor_mut().detach(Peer::Outbound(out)).unwrap();
    assert!(outbound.slot.is_none());
    let mut outbound = std::net::TcpStream::from(outbound.stream);
    outbound.set_nonblocking(false).unwrap();
    std::io::Write::write_all(&mut outbound, b"mine").unwrap();
    assert_eq!(support::read_n(&mut peer, 4), b"mine");
    assert_eq!(m.state(out), Some(ConnState::Established));
    assert!(matches!(m.reactor_mut().detach(Peer::Outbound(out)), Err(OpError::NotEstablished(_))));

    // Inbound: the slot goes with the detached stream.
    let (inbound_id, _) = m.reactor().handler().accepted()[0];
    let inbound = m.reactor_mut().detach(Peer::Inbound(inbound_id)).unwrap();
    let mut second = support::connect(local);
    support::turn_until(&mut m, "the rejection", |m| m.counters().rejected_inbound == 1);
    assert!(support::read_to_eof(&mut second).is_empty(), "still over the limit while the slot is held");
    drop(inbound);
    assert_eq!(support::read_to_eof(&mut first), b"", "dropping the detached stream closes it");
    let _third = support::connect(local);
    support::turn_until(&mut m, "the third accept", |m| m.reactor().handler().accepted().len() == 2);

    // Stop reports the detached outbound request as shut down but cannot close its stream.
    m.stop().unwrap();
    assert_eq!(
        m.reactor().handler().disconnections(),
        [(m.reactor().handler().connected()[0].clone(), DisconnectReason::Shutdown)]
    );
    assert!(
        m.reactor().handler().inbound_closed().iter().all(|(id, _)| *id != inbound_id),
        "a detached one is not reported"
    );
    std::io::Write::write_all(&mut outbound, b"still").unwrap();
    assert_eq!(support::read_n(&mut peer, 5), b"still");
}

/// `on_start` runs once, before anything dials; a request and a timer it queues take effect.
#[test]
fn on_start_runs_once_before_any_dial_and_its_requests_apply() {
    use connmgr::{AddressError, ConnInfo, Ctx, Handler};

    struct Starter {
        peer: SocketAddr,
        log: Vec<String>,
    }
    impl Handler for Starter {
        fn on_start(&mut self, ctx: &mut Ctx<'_>) {
            self.log.push(format!("start with {} dials", ctx.counters().dials));
            let id = ctx.connect(self.peer, ConnectOptions::once()).unwrap();
            self.log.push(format!("queued {id}"));
            ctx.set_timer(Duration::from_millis(20), 7).unwrap();
        }
        fn new_address(&mut self, _class: connmgr::ClassId) -> Option<Result<connmgr::Target, AddressError>> {
            Some(Ok(self.peer.into()))
        }
        fn on_connection(&mut self, _ctx: &mut Ctx<'_>, conn: &ConnInfo) {
            self.log.push(format!("connected {} automatic={}", conn.id, conn.is_automatic()));
        }
        fn on_timer(&mut self, _ctx: &mut Ctx<'_>, data: u64) {
            self.log.push(format!("timer {data}"));
        }
    }

    let (listener, peer) = support::listener();
    let config = Config { target_outbound: 2, ..Config::default() };
    let mut manager = Manager::new(config, Starter { peer, log: Vec::new() }).unwrap();
    manager.reactor_mut().start();
    manager.reactor_mut().start();
    support::turn_until(&mut manager, "three connections", |m| m.counters().established == 3);
    assert_eq!(manager.counters().established_automatic, 2, "the target counts the automatic ones only");
    support::turn_until(&mut manager, "the timer", |m| m.reactor().handler().log.iter().any(|l| l == "timer 7"));
    manager.stop().unwrap();
    let log = &manager.reactor().handler().log;
    assert_eq!(log[0], "start with 0 dials");
    assert_eq!(log[1], "queued 1", "the request queued in on_start took the first id");
    assert_eq!(log.iter().filter(|l| l.starts_with("start")).count(), 1, "on_start ran once: {log:?}");
    assert!(log.contains(&"connected 1 automatic=false".to_string()), "{log:?}");
    assert_eq!(log.iter().filter(|l| l.ends_with("automatic=true")).count(), 2, "{log:?}");
    drop(listener);
}

/// `Handle::state` answers from any thread with what the reactor sees, refuses to wait on the
/// reactor's own thread (it would wait for itself), gives up with `TimedOut` when nobody turns
/// the manager, and errors once the manager has stopped.
#[test]
fn handle_state_answers_across_threads_and_never_deadlocks() {
    use connmgr::{ConnInfo, Ctx, Handle, Handler};

    /// Asks its own handle from inside a callback, on the reactor thread.
    struct AskOnReactor {
        handle: Option<Handle>,
        answer: Option<Result<Option<ConnState>, OpError>>,
    }
    impl Handler for AskOnReactor {
        fn on_connection(&mut self, _ctx: &mut Ctx<'_>, conn: &ConnInfo) {
            let handle = self.handle.as_ref().expect("handle set before run");
            self.answer = Some(handle.state(conn.id));
        }
    }

    let (listener, peer) = support::listener();
    let mut manager = Manager::new(config(), AskOnReactor { handle: None, answer: None }).unwrap();
    let handle = manager.handle();
    manager.reactor_mut().handler_mut().handle = Some(handle.clone());
    let id = handle.connect(peer, ConnectOptions::once()).unwrap();
    // Nobody turns the manager yet: the wait gives up after the handle's timeout.
    let impatient = handle.clone().with_wait_timeout(Duration::from_millis(50));
    let asked = Instant::now();
    assert_eq!(impatient.state(id), Err(OpError::TimedOut));
    assert!(asked.elapsed() >= Duration::from_millis(50), "gave up after {:?}", asked.elapsed());
    let asker = {
        let handle = handle.clone();
        thread::spawn(move || {
            // Waits until the reactor takes the query; by then the connect queued before it
            // has been applied, so the request exists.
            let first = handle.state(id);
            let unknown = handle.state(ConnId::new(99));
            (first, unknown)
        })
    };
    // The asker's queries are only answered while the manager turns: keep turning until it has
    // both answers.
    support::turn_until(&mut manager, "the connection and both answers", |m| {
        m.counters().established == 1 && asker.is_finished()
    });
    let (first, unknown) = asker.join().unwrap();
    assert!(matches!(first, Ok(Some(ConnState::Pending | ConnState::Established))), "{first:?}");
    assert_eq!(unknown, Ok(None));
    assert_eq!(
        manager.reactor().handler().answer,
        Some(Err(OpError::OnReactorThread)),
        "asking on the reactor thread is refused, not a deadlock"
    );

    let asker = {
        let handle = handle.clone();
        thread::spawn(move || handle.state(id))
    };
    support::turn_until(&mut manager, "the established state", |_| asker.is_finished());
    assert_eq!(asker.join().unwrap(), Ok(Some(ConnState::Established)));
    manager.stop().unwrap();
    assert_eq!(handle.state(id), Err(OpError::Stopped));
    drop(listener);
}

/// Regression: `Handle::state` on the thread that built the manager was refused with
/// `OnReactorThread` even while another thread ran the manager. Only the thread inside the
/// reactor is refused now.
#[test]
fn handle_state_answers_on_the_thread_that_built_the_manager_while_another_runs_it() {
    let (listener, peer) = support::listener();
    let (tx, rx) = mpsc::channel();
    let mut manager = Manager::new(config(), Recorder::new().forwarding(tx)).unwrap();
    let handle = manager.handle();
    let id = manager.connect(peer, ConnectOptions::once()).unwrap();
    let runner = thread::spawn(move || {
        let stopped = manager.run_until(Instant::now() + support::LIMIT).unwrap();
        (stopped, manager)
    });
    support::wait_for(&rx, &mut Vec::new(), "the connection", |e| matches!(e, Ev::Connected(i) if i.id == id));
    assert_eq!(handle.state(id), Ok(Some(ConnState::Established)), "answered, not OnReactorThread");
    assert_eq!(handle.state(ConnId::new(99)), Ok(None));
    handle.stop().unwrap();
    let (stopped, manager) = runner.join().unwrap();
    assert!(stopped);
    assert_eq!(manager.state(id), Some(ConnState::Disconnected));
    drop(listener);
}
