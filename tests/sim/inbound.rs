//! The inbound side at core level: S16's listener-level limit and D13's accept errors (README difference
//! #5). S2-S4 are unit tests in `src/core/inbound.rs`; S15 and D12 need real listeners.
//!
//! The simulator owns one listener; the cases about several listeners drive the core directly.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::support::*;
use connmgr::core::{AcceptDecision, Action, Core, ListenerKey};
use connmgr::{Config, DisconnectReason, InboundId, OpError, Peer};

const EMFILE: i32 = 24;
const ENFILE: i32 = 23;

fn remote(port: u16) -> SocketAddr {
    addr(port)
}

fn emfile() -> io::Error {
    io::Error::from_raw_os_error(EMFILE)
}

fn inbound_sim(max_inbound: Option<u32>) -> Sim {
    let mut sim = sim(Config { target_outbound: 0, max_inbound, ..Config::default() });
    sim.apply(|core, now| core.start(now));
    sim
}

/// A started core with `n` listeners, at time `t0`.
fn core_with_listeners(n: usize) -> (Core, Instant, Vec<ListenerKey>) {
    let t0 = Instant::now();
    let mut core = Core::new(&Config { target_outbound: 0, ..Config::default() }, t0).unwrap();
    core.start(t0);
    let listeners = (0..n).map(|_| core.add_listener().unwrap()).collect();
    (core, t0, listeners)
}

/// Fires the core's timers millisecond by millisecond over `from..=to` (ms after `t0`) and
/// returns the listeners resumed, with when.
fn resumes(core: &mut Core, t0: Instant, from: u64, to: u64) -> Vec<(u64, ListenerKey)> {
    let mut resumed = Vec::new();
    for t in from..=to {
        core.handle_timeout(t0 + ms(t));
        while let Some(action) = core.poll_action() {
            match action {
                Action::ResumeAccept { listener } => resumed.push((t, listener)),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    resumed
}

/// S16 (btcd TestListenerInboundLimit), at core level: with `max_inbound = 1` the first socket
/// is admitted, the second rejected (the rejection counter is exactly 1, the socket is closed
/// before it reaches the user), and once the first one is closed a third is admitted.
#[test]
fn max_inbound_rejects_at_the_listener_and_readmits() {
    let mut sim = inbound_sim(Some(1));
    let first = sim.accept(remote(10001)).expect("the first is admitted");
    assert_eq!(sim.accept(remote(10002)), None, "the second is rejected");
    assert_eq!(sim.open_sockets(), 1, "the rejected socket is closed at once");
    let c = sim.counters();
    assert_eq!((c.rejected_inbound, c.inbound, c.accepted), (1, 1, 1));

    sim.apply(|core, now| core.close(now, first, DisconnectReason::RemoteClosed)).unwrap(); // Closing F frees its slot.
    assert_eq!(sim.counters().inbound, 0);
    let third = sim.accept(remote(10003)).expect("admitted after the slot was freed");
    assert!(third.serial() > first.serial(), "a new id");
    sim.apply(|core, now| core.close(now, third, DisconnectReason::RemoteClosed)).unwrap();
    let c = sim.counters();
    assert_eq!((c.rejected_inbound, c.inbound, c.accepted), (1, 0, 2));
    assert_eq!(sim.inbound_closed().len(), 2);
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

/// After stop every inbound socket is refused (btcd: the accept loop ends with the listener),
/// and the connections that were open are closed, each reported once.
#[test]
fn inbound_after_stop_is_refused() {
    let mut sim = inbound_sim(None);
    let open = sim.accept(remote(1)).unwrap();
    sim.apply(|core, now| core.stop(now)).unwrap();
    assert_eq!(sim.inbound_closed(), [(ms(0), open, DisconnectReason::Shutdown)]);
    assert_eq!(sim.accept(remote(2)), None);
    assert_eq!(sim.counters().accepted, 1);
    assert_eq!(sim.apply(|core, now| core.close(now, open, DisconnectReason::Requested)), Err(OpError::Stopped));
    assert_eq!(sim.open_sockets(), 0);
    sim.assert_clean_shutdown();
}

/// An inbound connection the user closes is gone: a second close, or a close with its id after
/// the slot was reused, is refused and touches nothing.
#[test]
fn a_closed_inbound_id_names_nothing_even_when_its_slot_is_reused() {
    let mut sim = inbound_sim(None);
    let first = sim.accept(remote(1)).unwrap();
    sim.apply(|core, now| core.close(now, first, DisconnectReason::protocol("bye"))).unwrap();
    assert_eq!(
        sim.apply(|core, now| core.close(now, first, DisconnectReason::Requested)),
        Err(OpError::UnknownInbound(first))
    );
    let second = sim.accept(remote(2)).unwrap(); // takes the slot the first one freed
    assert_eq!(
        sim.apply(|core, now| core.close(now, first, DisconnectReason::Requested)),
        Err(OpError::UnknownInbound(first))
    );
    assert_eq!(sim.detach(first), Err(OpError::UnknownInbound(first)));
    assert_eq!(sim.core().peer_addr(Peer::Inbound(first)), None);
    assert_eq!(sim.core().peer_addr(Peer::Inbound(second)), Some(remote(2)), "the live one is untouched");
    assert_eq!(sim.counters().inbound, 1);
    assert_eq!(sim.inbound_closed(), [(ms(0), first, DisconnectReason::protocol("bye"))]);
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

/// Inbound ids are never reused: over 100,000 accepts (each closed before the next, so every one
/// takes the same slot) the serials strictly increase, and an id kept from the first accept
/// never names a later connection.
#[test]
fn inbound_ids_are_never_reused_over_100_000_accepts() {
    let mut sim = inbound_sim(None);
    let stale = sim.accept(remote(1)).unwrap();
    assert_eq!(stale.serial(), 1);
    sim.apply(|core, now| core.close(now, stale, DisconnectReason::RemoteClosed)).unwrap();
    let mut last: InboundId = stale;
    for i in 0..100_000u32 {
        let id = sim.accept(remote(2 + (i % 60_000) as u16)).unwrap();
        assert!(id.serial() > last.serial(), "serial {} after {}", id.serial(), last.serial());
        assert_ne!(id, stale);
        if i % 10_000 == 0 {
            assert_eq!(
                sim.apply(|core, now| core.close(now, stale, DisconnectReason::Requested)),
                Err(OpError::UnknownInbound(stale))
            );
        }
        sim.apply(|core, now| core.close(now, id, DisconnectReason::RemoteClosed)).unwrap();
        last = id;
    }
    assert_eq!(last.serial(), 100_001);
    assert_eq!(sim.detach(stale), Err(OpError::UnknownInbound(stale)));
    assert_eq!(sim.counters().accepted, 100_001);
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

/// From btcd's `listenHandler` on an accept error, which no btcd test covers (scenario D13).
///
/// D13: an accept error about one connection (aborted, reset, interrupted) says continue at
/// once, with no timer. btcd continues after every error.
#[test]
fn transient_accept_errors_continue_at_once() {
    let mut sim = inbound_sim(None);
    for kind in [io::ErrorKind::ConnectionAborted, io::ErrorKind::ConnectionReset, io::ErrorKind::Interrupted] {
        assert_eq!(sim.accept_error(&kind.into()), AcceptDecision::Continue, "{kind:?}");
    }
    assert_eq!(sim.timers_armed(), 0);
    sim.advance(ms(100));
    assert!(sim.resumes().is_empty());
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

/// From btcd's `listenHandler` on an accept error, which no btcd test covers (scenario D13).
///
/// D13 under README difference #5: EMFILE pauses the listener for 5 ms, doubling on each further error
/// without a success (10, 20, ... capped at 1 s); `ResumeAccept` arrives exactly when the pause
/// ends, not before. btcd loops at once, spinning at 100 % CPU. Here the descriptors stay
/// exhausted, so every resume meets EMFILE again.
#[test]
fn emfile_pauses_accepting_doubling_and_resumes_when_due() {
    let mut sim = inbound_sim(None);
    let mut pauses = Vec::new();
    let mut resumed = Vec::new();
    for _ in 0..10 {
        let AcceptDecision::Pause(pause) = sim.accept_error(&emfile()) else {
            panic!("EMFILE must pause");
        };
        pauses.push(pause.as_millis() as u64);
        let due = sim.elapsed() + pause;
        sim.run_until(due - ms(1));
        assert_eq!(sim.resumes().len(), resumed.len(), "not resumed before the pause ends");
        sim.run_until(due);
        assert_eq!(sim.resumes().last(), Some(&due));
        resumed.push(due.as_millis() as u64);
    }
    assert_eq!(pauses, [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
    assert_eq!(resumed, [5, 15, 35, 75, 155, 315, 635, 1275, 2275, 3275]);
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

/// From btcd's `listenHandler` on an accept error, which no btcd test covers (scenario D13).
///
/// D13: an accept that succeeds resets the pause; ENFILE pauses like EMFILE.
#[test]
fn an_accept_resets_the_pause() {
    let mut sim = inbound_sim(None);
    assert_eq!(sim.accept_error(&emfile()), AcceptDecision::Pause(ms(5)));
    sim.run_until(ms(5));
    assert_eq!(sim.accept_error(&io::Error::from_raw_os_error(ENFILE)), AcceptDecision::Pause(ms(10)));
    sim.run_until(ms(15));
    assert_eq!(sim.resumes(), &[ms(5), ms(15)]);
    sim.accept(remote(1)).expect("admitted");
    assert_eq!(sim.accept_error(&emfile()), AcceptDecision::Pause(ms(5)), "back to the shortest pause");
    sim.run_until(ms(20));
    assert_eq!(sim.resumes().last(), Some(&ms(20)));
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

/// From btcd's `listenHandler` on an accept error, which no btcd test covers (scenario D13).
///
/// D13: pauses are per listener: one listener's errors do not lengthen another's pause.
#[test]
fn accept_pauses_are_per_listener() {
    let (mut core, t0, l) = core_with_listeners(2);
    let (a, b) = (l[0], l[1]);
    assert_eq!(core.accept_error(t0, a, &emfile()), AcceptDecision::Pause(ms(5)));
    assert_eq!(resumes(&mut core, t0, 0, 5), [(5, a)]);
    let enfile = io::Error::from_raw_os_error(ENFILE);
    assert_eq!(core.accept_error(t0 + ms(5), a, &enfile), AcceptDecision::Pause(ms(10)));
    assert_eq!(core.accept_error(t0 + ms(5), b, &emfile()), AcceptDecision::Pause(ms(5)), "b starts afresh");
    assert_eq!(resumes(&mut core, t0, 6, 20), [(10, b), (15, a)]);
}

/// From btcd's `listenHandler` on an accept error, which no btcd test covers (scenario D13).
///
/// D13: a second error during a pause replaces the pause (one `ResumeAccept`, at the later
/// time); stopping cancels it.
#[test]
fn accept_pauses_are_replaced_and_canceled_by_stop() {
    let mut sim = inbound_sim(None);
    sim.accept_error(&emfile());
    sim.run_until(ms(2));
    assert_eq!(sim.accept_error(&emfile()), AcceptDecision::Pause(ms(10)));
    sim.run_until(ms(11));
    assert!(sim.resumes().is_empty(), "the first pause was replaced");
    sim.run_until(ms(12));
    assert_eq!(sim.resumes(), &[ms(12)]);

    sim.accept_error(&emfile());
    assert_eq!(sim.timers_armed(), 1);
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.advance(Duration::from_secs(2));
    assert_eq!(sim.resumes(), &[ms(12)], "no resume after stop");
    sim.assert_clean_shutdown();
}

/// From btcd's `listenHandler` on an accept error, which no btcd test covers (scenario D13).
///
/// D13: removing a listener cancels its pause, and only its own.
#[test]
fn removing_a_listener_cancels_its_pause() {
    let (mut core, t0, l) = core_with_listeners(2);
    let (b, c) = (l[0], l[1]);
    core.accept_error(t0, b, &emfile());
    core.remove_listener(b);
    assert_eq!(core.poll_timeout(), None, "b's pause is gone");
    core.accept_error(t0, c, &emfile());
    assert_eq!(resumes(&mut core, t0, 0, 2000), [(5, c)], "b never resumes");
}
