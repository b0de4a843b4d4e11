//! Retries, replacements and their exact timing (btcd's S10-S12, D5, D8, D10;
//! README difference #6 connect timeouts). Every time btcd checks with a wall-clock tolerance is checked
//! here exactly, on simulated time.

use std::io;
use std::time::Duration;

use crate::support::*;
use connmgr::core::Event;
use connmgr::{Config, ConnId, ConnState, ConnectOptions, DialError, DisconnectOptions, NextStep};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// S10 (btcd TestMaxRetryDuration): retry 1 ms, cap 2 ms, network down until 5 ms. The
/// permanent request dials at 0 (fails, retry in 1), 1 (fails, retry in 2 = 2 x 1), 3 (fails,
/// retry in 2 = min(3 x 1, cap)), and 5, when it connects. btcd only checks "connected within
/// 100 ms".
#[test]
fn permanent_backoff_is_capped_at_max_retry_duration() {
    let mut net = Network::new(Outcome::ACCEPT);
    net.down(ms(0), ms(5));
    let config = Config { target_outbound: 1, retry_duration: ms(1), max_retry_duration: ms(2), ..Config::default() };
    let mut sim = sim(config).with_net(net);
    let p = sim.apply(|core, now| core.connect(now, btcd_addr(), ConnectOptions::permanent())).unwrap();
    sim.apply(|core, now| core.start(now));
    sim.run_until(ms(100));
    assert_eq!(sim.dial_times_of(p), vec![ms(0), ms(1), ms(3), ms(5)]);
    assert_eq!(
        sim.dial_failures_of(p),
        vec![(ms(0), NextStep::RetryIn(ms(1))), (ms(1), NextStep::RetryIn(ms(2))), (ms(3), NextStep::RetryIn(ms(2))),]
    );
    assert_eq!(sim.connections_of(p), vec![ms(5)]);
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

/// S11 (btcd TestNetworkFailure): target 5, retry 5 ms, every dial refused at once, stop after
/// 10 ms. btcd only bounds the dials by 75. Exactly:
///
/// - t = 0: `start` makes 5 requests (ids 1-5), each refused. Failures 1-24 of the run are
///   replaced at once (24 more dials, ids 6-29); failures 25-29 (ids 25-29) wait 5 ms.
///   29 dials.
/// - t = 5: those 5 are replaced (ids 30-34), refused again, and wait 5 ms. 5 dials.
/// - t = 10: the same (ids 35-39), just before stop. 5 dials.
///
/// Total 29 + 5 + 5 = 39.
#[test]
fn dials_on_a_failing_network_stay_bounded() {
    let config = Config { target_outbound: 5, retry_duration: ms(5), ..suite_config() };
    let mut sim = sim(config).with_source(AddressSource::fixed(btcd_addr())).with_net(Network::new(Outcome::REFUSE));
    sim.apply(|core, now| core.start(now));
    sim.run_until(ms(10));
    sim.apply(|core, now| core.stop(now)).unwrap();
    let times = sim.dial_times();
    let at = |t: u64| times.iter().filter(|&&d| d == ms(t)).count();
    assert_eq!((at(0), at(5), at(10)), (29, 5, 5));
    assert_eq!(times.len(), 39);
    assert!(times.len() <= 75, "btcd's bound");
    assert_eq!(sim.counters().dials, 39);
    assert!(sim.connected().is_empty());
    sim.assert_clean_shutdown();
}

/// S12 (btcd TestStopFailed): a dial failure that arrives while the manager stops schedules
/// nothing, and the manager winds down.
///
/// btcd needs a hook to force its "stopping" flag, because its stop is asynchronous. Ours is
/// one step: `stop` ends the request (closing its in-flight socket), so a failure that reaches
/// the core afterwards (already in the reactor's batch) finds nothing to retry. "Wait returns"
/// is: no timer armed, no wake-up asked for.
#[test]
fn a_failure_while_stopping_schedules_nothing() {
    let mut sim = sim(Config::default()).with_net(Network::new(Outcome::Refuse { after: ms(2) }));
    sim.apply(|core, now| core.start(now));
    let p = sim.apply(|core, now| core.connect(now, btcd_addr(), ConnectOptions::permanent())).unwrap();
    sim.run_until(ms(1));
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.report_late_dial(p, Err(io::ErrorKind::ConnectionRefused));
    assert_eq!(sim.trace(p), [Step::Ended(ConnState::Canceled)], "no failure reported, no retry");
    assert_eq!(sim.timers_armed(), 0);
    assert_eq!(sim.core().poll_timeout(), None);
    sim.advance(secs(60));
    assert_eq!(sim.dials().len(), 1);
    sim.assert_clean_shutdown();
}

/// From btcd's `handleFailedConn`, `maxFailedAttempts`, which no btcd test covers (scenario D5).
///
/// D5: automatic requests that keep failing. With retry 100 ms: failures 1-24 are replaced at
/// once (new id each, the old one `Canceled`), from the 25th on the failed request waits
/// `Failing` for a flat 100 ms before its replacement.
#[test]
fn failures_after_the_25th_are_replaced_after_the_retry_delay() {
    let config = Config { target_outbound: 1, retry_duration: ms(100), ..Config::default() };
    let mut sim = sim(config).with_source(AddressSource::fixed(addr(1))).with_net(Network::new(Outcome::REFUSE));
    sim.apply(|core, now| core.start(now));
    sim.run_until(ms(250));

    let dials: Vec<(u64, Duration)> = sim.dials().iter().map(|d| (d.id.get(), d.at)).collect();
    let mut want: Vec<(u64, Duration)> = (1..=25).map(|id| (id, ms(0))).collect();
    want.extend([(26, ms(100)), (27, ms(200))]);
    assert_eq!(dials, want, "one new id per attempt; 25 at once, then one per 100 ms");

    for (at, info, next) in sim.dial_failures() {
        let want = if info.id.get() <= 24 { NextStep::Replaced } else { NextStep::ReplaceIn(ms(100)) };
        assert_eq!(next, want, "failure of {} at {at:?}", info.id);
    }
    for id in 1..=24 {
        assert_eq!(sim.ended_at(ConnId::new(id)), Some(ms(0)));
        assert_eq!(sim.ended(ConnId::new(id)), Some(ConnState::Canceled));
    }
    assert_eq!(sim.ended_at(ConnId::new(25)), Some(ms(100)), "the 25th waits before it is replaced");
    assert_eq!(sim.ended(ConnId::new(26)), Some(ConnState::Canceled));
    assert_eq!(sim.state(ConnId::new(27)), Some(ConnState::Failing));
    assert_eq!(sim.failed_attempts(), 27);
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

/// From btcd's `handleFailedConn`, `maxFailedAttempts`, which no btcd test covers (scenario D5).
///
/// D5: a successful connection resets the run of failures, so after it the first 24 failures
/// are replaced at once again.
///
/// Network down until 250 ms and again from 400 ms; the one connection made (at 300 ms, by the
/// replacement of the throttled 27th attempt) is closed by its peer at 400 ms.
#[test]
fn a_success_resets_the_run_of_failures() {
    let a = addr(1);
    let mut net = Network::new(Outcome::ResetAfterConnect { after: ms(0), lifetime: ms(100) });
    net.down(ms(0), ms(250)).down(ms(400), secs(3600));
    let config = Config { target_outbound: 1, retry_duration: ms(100), ..Config::default() };
    let mut sim = sim(config).with_source(AddressSource::fixed(a)).with_net(net);
    sim.apply(|core, now| core.start(now));
    sim.run_until(ms(200));
    assert_eq!(sim.failed_attempts(), 27);
    sim.run_until(ms(300));
    assert_eq!(sim.connected_ids(), vec![ConnId::new(28)]);
    assert_eq!(sim.failed_attempts(), 0, "reset by the success");

    sim.run_until(ms(400));
    let at_400 = sim.dial_times().iter().filter(|&&t| t == ms(400)).count();
    assert_eq!(at_400, 25, "24 immediate replacements again, then the throttle");
    assert_eq!(sim.failed_attempts(), 25);
    let last = sim.dial_failures().last().map(|&(at, _, next)| (at, next));
    assert_eq!(last, Some((ms(400), NextStep::ReplaceIn(ms(100)))));
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

/// btcd counts a `Disconnect` that leads to a replacement as a failed attempt: matched.
/// The replacement's success resets the run.
#[test]
fn disconnect_of_automatic_counts_a_failed_attempt() {
    let config = Config { target_outbound: 1, ..suite_config() };
    let mut sim = sim(config)
        .with_source(AddressSource::fixed(addr(1)))
        .with_net(Network::new(Outcome::Accept { after: ms(10) }));
    sim.apply(|core, now| core.start(now));
    sim.run_until(ms(10));
    let first = ConnId::new(1);
    assert_eq!(sim.connections_of(first), vec![ms(10)]);
    assert_eq!(sim.apply(|core, now| core.disconnect(now, first, DisconnectOptions::default())), Ok(()));
    assert_eq!(sim.state(first), Some(ConnState::Canceled), "replaced by a new request");
    assert_eq!(sim.failed_attempts(), 1);
    sim.run_until(ms(19));
    assert_eq!(sim.failed_attempts(), 1);
    sim.run_until(ms(20));
    assert_eq!(sim.connections_of(ConnId::new(2)), vec![ms(20)]);
    assert_eq!(sim.failed_attempts(), 0);
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

/// The churn path: an automatic connection its peer closes is replaced at once and never counts
/// as a failed attempt, however often it happens (btcd's server does `Remove` + `NewConnReq`).
/// Dial at 0, connect at 1, closed at 5, replacement dialled at 5, ...
#[test]
fn remote_close_replaces_automatic_at_once_without_counting_a_failure() {
    let net = Network::new(Outcome::ResetAfterConnect { after: ms(1), lifetime: ms(4) });
    let config = Config { target_outbound: 1, retry_duration: ms(100), ..Config::default() };
    let mut sim = sim(config).with_source(AddressSource::fixed(addr(1))).with_net(net);
    sim.apply(|core, now| core.start(now));
    sim.run_until(ms(499));
    assert_eq!(sim.dial_times(), (0..100).map(|n| ms(5 * n)).collect::<Vec<_>>());
    assert_eq!(sim.failed_attempts(), 0);
    assert!(sim.ended_all().iter().all(|&(_, state)| state == ConnState::Disconnected));
    assert_eq!(sim.ended_all().len(), 99);
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

/// From btcd's `handleFailedConn`'s retry delay, which no btcd test covers (scenario D8).
///
/// D8: a permanent request's backoff is linear (r, 2r, 3r, ...), capped, and starts from r again
/// after a successful connection (even one its peer drops at once: btcd W8, matched).
///
/// r = 10 ms, cap 45 ms. Seven refusals: dials at 0, 10, 30, 60, 100, 145, 190; the eighth dial
/// at 235 connects; the peer closes at 240; redial after 1 x r at 250, then 270, 300.
#[test]
fn permanent_backoff_is_linear_capped_and_resets() {
    let a = btcd_addr();
    let mut net = Network::new(Outcome::REFUSE);
    net.script(a, [Outcome::REFUSE; 7]).script(a, [Outcome::ResetAfterConnect { after: ms(0), lifetime: ms(5) }]);
    let config = Config { target_outbound: 0, retry_duration: ms(10), max_retry_duration: ms(45), ..Config::default() };
    let mut sim = sim(config).with_net(net);
    let p = sim.apply(|core, now| core.connect(now, a, ConnectOptions::permanent())).unwrap();
    sim.apply(|core, now| core.start(now));
    sim.run_until(ms(300));

    let dials: Vec<u64> = sim.dial_times_of(p).iter().map(|d| d.as_millis() as u64).collect();
    assert_eq!(dials, [0, 10, 30, 60, 100, 145, 190, 235, 250, 270, 300]);
    let delays: Vec<u64> = sim
        .dial_failures_of(p)
        .into_iter()
        .map(|(_, next)| match next {
            NextStep::RetryIn(d) => d.as_millis() as u64,
            other => panic!("a permanent request retries, got {other:?}"),
        })
        .collect();
    assert_eq!(delays, [10, 20, 30, 40, 45, 45, 45, 20, 30, 40]);
    assert_eq!(sim.connections_of(p), vec![ms(235)]);
    assert_eq!(sim.disconnections_of(p).len(), 1);
    assert_eq!(sim.counters().retries, 11, "10 after failures, 1 after the close");
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

/// btcd's real defaults (retry 5 s, cap 5 min): the delay grows 5, 10, 15 ... s and reaches the
/// cap at the 60th consecutive retry. Dial n happens at the sum of the first n delays:
/// 0, 5, 15, 30, 50 s ..., the 59th retry at 5 x 59 x 60 / 2 = 8850 s, then 9150, 9450 s.
#[test]
fn permanent_backoff_with_defaults_reaches_five_minutes_at_the_60th_retry() {
    let mut sim = sim(Config { target_outbound: 0, ..Config::default() }).with_net(Network::new(Outcome::REFUSE));
    let p = sim.apply(|core, now| core.connect(now, btcd_addr(), ConnectOptions::permanent())).unwrap();
    sim.apply(|core, now| core.start(now));
    sim.run_until(secs(9450));
    let dials: Vec<u64> = sim.dial_times_of(p).iter().map(Duration::as_secs).collect();
    assert_eq!(&dials[..5], &[0, 5, 15, 30, 50]);
    assert_eq!(dials[59], 8850);
    assert_eq!(&dials[60..], &[9150, 9450], "the 60th and 61st retries wait the 300 s cap");
    let last = sim.dial_failures_of(p).last().map(|&(_, next)| next);
    assert_eq!(last, Some(NextStep::RetryIn(secs(300))));
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

/// From btcd's `NewConnReq` when `GetNewAddress` fails, which no btcd test covers (scenario D10).
///
/// D10: an address-source error is a failed attempt like a dial failure: the request gets an id,
/// is reported failed (`DialError::NoAddress`), counts in `failed_attempts`, and is replaced; a
/// later success resets the count.
#[test]
fn an_address_error_is_a_failed_attempt() {
    let a = addr(1);
    let no_addr = connmgr::AddressError::new("no valid connect address");
    let source = AddressSource::script(
        [Err::<std::net::SocketAddr, _>(no_addr.clone()), Err(no_addr.clone())],
        AddressSource::fixed(a),
    );
    let config = Config { target_outbound: 1, retry_duration: ms(100), ..Config::default() };
    let mut sim = sim(config).with_source(source).with_net(Network::new(Outcome::Accept { after: ms(10) }));
    sim.apply(|core, now| core.start(now));

    for id in [ConnId::new(1), ConnId::new(2)] {
        let failure = sim.events_of(id).find_map(|l| match &l.event {
            Event::DialFailed { error, next, info } => Some((error.clone(), *next, info.target.clone())),
            _ => None,
        });
        assert_eq!(failure, Some((DialError::NoAddress(no_addr.clone()), NextStep::Replaced, None)));
        assert_eq!(sim.ended(id), Some(ConnState::Canceled));
        assert!(sim.dial_times_of(id).is_empty(), "nothing to dial");
    }
    assert_eq!(sim.failed_attempts(), 2);
    assert_eq!(sim.counters().failed_other, 2);
    assert_eq!(sim.dials().iter().map(|d| (d.id.get(), d.target.clone())).collect::<Vec<_>>(), vec![(3, a.into())]);

    sim.run_until(ms(10));
    assert_eq!(sim.connected_ids(), vec![ConnId::new(3)]);
    assert_eq!(sim.failed_attempts(), 0);
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

/// From btcd's `NewConnReq` when `GetNewAddress` fails, which no btcd test covers (scenario D10).
///
/// D10 with a source that never has an address (btcd W16, regtest with an empty address book):
/// 25 attempts at once, then one per `retry_duration`, each failed request `Failing` while it
/// waits.
#[test]
fn address_errors_are_throttled_after_25() {
    let source = AddressSource::failing(connmgr::AddressError::new("no valid connect address"));
    let config = Config { target_outbound: 1, retry_duration: ms(100), ..Config::default() };
    let mut sim = sim(config).with_source(source);
    sim.apply(|core, now| core.start(now));
    assert_eq!(sim.last_id(), 25);
    assert_eq!(sim.state(ConnId::new(25)), Some(ConnState::Failing));
    assert_eq!(sim.dial_failures_of(ConnId::new(25)), vec![(ms(0), NextStep::ReplaceIn(ms(100)))]);
    sim.run_until(ms(350));
    assert_eq!(sim.last_id(), 28, "one more attempt at 100, 200 and 300 ms");
    assert_eq!(sim.address_requests().len(), 28);
    assert!(sim.dials().is_empty());
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

/// README difference #6: a dial that never answers fails when the connect timeout expires (default 30 s,
/// per-request override), exactly then: its socket is closed and it takes the failure path.
#[test]
fn connect_timeout_closes_the_socket_and_fails_the_dial() {
    let mut sim = sim(Config { target_outbound: 0, ..Config::default() }).with_net(Network::new(Outcome::BlackHole));
    sim.apply(|core, now| core.start(now));
    let once = sim.apply(|core, now| core.connect(now, addr(1), ConnectOptions::once())).unwrap();
    let quick = sim
        .apply(|core, now| core.connect(now, addr(2), ConnectOptions::permanent().connect_timeout(ms(250))))
        .unwrap();
    let once_io = dial_io(&sim, once);

    sim.run_until(ms(249));
    assert!(sim.dial_failures().is_empty());
    sim.run_until(ms(250));
    let failure = sim.events_of(quick).find_map(|l| match &l.event {
        Event::DialFailed { error, next, .. } => Some((l.at, error.clone(), *next)),
        _ => None,
    });
    assert_eq!(failure, Some((ms(250), DialError::TimedOut(ms(250)), NextStep::RetryIn(secs(5)))));
    // Permanent: retried after 5 s, times out again 250 ms later, then waits 10 s.
    sim.run_until(secs(6));
    assert_eq!(sim.dial_times_of(quick), vec![ms(0), ms(5250)]);
    assert_eq!(sim.dial_failures_of(quick)[1], (ms(5500), NextStep::RetryIn(secs(10))));

    sim.run_until(ms(29_999));
    assert!(sim.is_open(once_io));
    assert_eq!(sim.state(once), Some(ConnState::Pending));
    sim.run_until(secs(30));
    assert_eq!(closed_by_core(&sim, once_io), Some(secs(30)));
    assert!(!sim.is_open(once_io));
    assert_eq!(sim.dial_failures_of(once), vec![(secs(30), NextStep::Ended)]);
    assert_eq!(sim.ended(once), Some(ConnState::Failed));
    // `quick` timed out at 0.25, 5.5 and 15.75 s (dialled at 15.5 s after a 10 s wait).
    assert_eq!(sim.dial_times_of(quick), vec![ms(0), ms(5250), ms(15_500)]);
    assert_eq!(sim.counters().failed_timed_out, 4);
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}
