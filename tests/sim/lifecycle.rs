//! The manager's life: configuration (S1, README difference #8), start, stop as a shutdown (D11 under
//! README difference #4), callback ordering (README difference #7), user timers and detached sockets.

use std::time::{Duration, Instant};

use crate::support::*;
use connmgr::core::{Action, Core, Event};
use connmgr::{
    AddressError, Config, ConfigError, ConnId, ConnState, ConnectOptions, DisconnectOptions, DisconnectReason, OpError,
};

/// The longest duration a setting takes: a year.
const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// S1 (btcd TestNewConfig). btcd's `New` fails only on a nil `Dial` (`ErrDialNil`) and fixes
/// other values silently (0 targets become 8, non-positive retries 5 s). Our core has no dialer
/// (the I/O layer dials), so that error cannot arise; instead the values that cannot work are
/// rejected, each with its own error, and every default is a plain value.
#[test]
fn new_validates_the_config() {
    let now = Instant::now();
    assert!(Core::new(&Config::default(), now).is_ok(), "the defaults work");
    assert!(Core::new(&Config { target_outbound: 0, ..Config::default() }, now).is_ok(), "0 means no automatic");
    let base = Config::default();
    let cases = [
        (Config { retry_duration: Duration::ZERO, ..base.clone() }, ConfigError::ZeroRetryDuration),
        (Config { max_retry_duration: Duration::ZERO, ..base.clone() }, ConfigError::ZeroMaxRetryDuration),
        (Config { connect_timeout: Duration::ZERO, ..base.clone() }, ConfigError::ZeroConnectTimeout),
        (Config { max_dials_in_flight: Some(0), ..base.clone() }, ConfigError::ZeroDialLimit),
        (
            Config { retry_duration: MAX_DURATION + Duration::from_secs(1), ..base.clone() },
            ConfigError::DurationTooLong { field: "retry_duration" },
        ),
        (
            Config { connect_timeout: MAX_DURATION + Duration::from_secs(1), ..base.clone() },
            ConfigError::DurationTooLong { field: "connect_timeout" },
        ),
    ];
    for (config, want) in cases {
        assert_eq!(Core::new(&config, now).err(), Some(want));
    }
}

/// README difference #8: building a manager never changes the caller's config, and the retry cap is per
/// manager (btcd: `New` writes defaults into the caller's struct, and the cap is a package
/// global). Two managers, retry 1 ms, caps 2 ms and 5 min, a permanent request always refused:
/// 0, 1, 3, 5, 7, 9 ms against 0, 1, 3, 6, 10 ms.
#[test]
fn config_is_a_value_and_the_retry_cap_is_per_manager() {
    let capped = Config { target_outbound: 0, retry_duration: ms(1), max_retry_duration: ms(2), ..Config::default() };
    let uncapped = Config { max_retry_duration: Duration::from_secs(300), ..capped.clone() };
    let copy = capped.clone();
    let mut a = sim(capped.clone()).with_net(Network::new(Outcome::REFUSE));
    let mut b = sim(uncapped).with_net(Network::new(Outcome::REFUSE));
    assert_eq!(capped, copy, "the config is unchanged");
    let mut times = Vec::new();
    for sim in [&mut a, &mut b] {
        sim.apply(|core, now| core.connect(now, btcd_addr(), ConnectOptions::permanent())).unwrap();
        sim.apply(|core, now| core.start(now));
        sim.run_until(ms(10));
        times.push(sim.dial_times().iter().map(|d| d.as_millis() as u64).collect::<Vec<_>>());
        sim.apply(|core, now| core.stop(now)).unwrap();
        sim.assert_clean_shutdown();
    }
    assert_eq!(times, [vec![0, 1, 3, 5, 7, 9], vec![0, 1, 3, 6, 10]]);
}

/// README difference #3: `target_outbound = 0` means no automatic connections at all (btcd turns 0 into 8
/// and its server sets `GetNewAddress` to nil instead); manual requests still work.
#[test]
fn target_zero_means_no_automatic_connections() {
    let mut sim = sim(Config { target_outbound: 0, ..suite_config() }).with_source(AddressSource::fixed(addr(1)));
    sim.apply(|core, now| core.start(now));
    assert_eq!(sim.apply(|core, now| core.new_conn_req(now)), Ok(()));
    sim.advance(ms(100));
    assert!(sim.address_requests().is_empty(), "the address source is never asked");
    let m = sim.apply(|core, now| core.connect(now, addr(2), ConnectOptions::permanent())).unwrap();
    sim.settle();
    assert_eq!(sim.connected_ids(), vec![m]);
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

/// README difference #3: an automatic request asked for before `start` counts toward the target: `start`
/// dials it and asks only for the rest. btcd's `NewConnReq` before `Start` parks until `Start`,
/// which then launches `TargetOutbound` more: one automatic connection over the target.
#[test]
fn new_conn_req_before_start_counts_toward_the_target() {
    let mut sim = sim(Config { target_outbound: 2, ..suite_config() }).with_source(AddressSource::fixed(addr(1)));
    assert_eq!(sim.apply(|core, now| core.new_conn_req(now)), Ok(()));
    let early = ConnId::new(1);
    assert_eq!(sim.state(early), Some(ConnState::Pending));
    assert!(sim.dials().is_empty());
    sim.apply(|core, now| core.start(now));
    sim.settle();
    assert_eq!(sim.address_requests().len(), 2);
    assert_eq!(sim.dials()[0].id, early, "the early request dials first");
    assert_eq!(sim.auto_established(), 2);
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

/// Regression: an automatic request whose address source failed before `start`, waiting for its
/// throttled replacement (the 25th failure in a row), must not be dialled by `start`: it has no
/// address. It used to be: a debug assertion fired, and in release builds the dials-in-flight
/// count wrapped below zero when the request ended, after which no dial ever started again.
#[test]
fn start_skips_automatic_request_throttled_before_start() {
    let no_addr = || Err::<std::net::SocketAddr, _>(AddressError::new("no valid connect address"));
    let source = AddressSource::script((0..25).map(|_| no_addr()), AddressSource::fixed(addr(1)));
    let config = Config { target_outbound: 1, retry_duration: ms(100), ..Config::default() };
    let mut sim = sim(config).with_source(source);
    assert_eq!(sim.apply(|core, now| core.new_conn_req(now)), Ok(()));
    let throttled = ConnId::new(25);
    assert_eq!(sim.state(throttled), Some(ConnState::Failing));
    sim.apply(|core, now| core.start(now));
    assert!(sim.dials().is_empty(), "nothing to dial at start");
    assert_eq!(sim.counters().in_flight, 0);
    sim.run_until(ms(100));
    assert_eq!(sim.ended(throttled), Some(ConnState::Canceled), "replaced when due");
    assert_eq!(sim.connected_ids(), vec![ConnId::new(26)]);
    assert_eq!(sim.counters().in_flight, 0);
    let later = sim.apply(|core, now| core.connect(now, addr(2), ConnectOptions::once())).unwrap();
    sim.settle();
    assert_eq!(sim.state(later), Some(ConnState::Established), "dialling still works");
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

/// Dials and address requests still queued when `stop` runs are dropped: the I/O layer opens no
/// socket and asks the address source nothing for requests that have already ended. On the
/// core directly: the simulator performs each output as soon as it is queued.
#[test]
fn outputs_queued_before_stop_are_dropped() {
    let now = Instant::now();
    let mut core = Core::new(&Config { target_outbound: 2, ..suite_config() }, now).unwrap();
    core.start(now); // Two `NeedAddress` owed, not yet pulled.
    let p = core.connect(now, addr(2), ConnectOptions::permanent()).unwrap(); // A `Dial` queued.
    assert_eq!(core.stop(now), Ok(()));
    let mut outputs = Vec::new();
    while let Some(action) = core.poll_action() {
        outputs.push(action);
    }
    assert!(
        matches!(&outputs[..], [Action::Event(Event::Ended { info, state: ConnState::Canceled })] if info.id == p),
        "only the request's end, no address request, no dial: {outputs:?}"
    );
    assert_eq!(core.requests().count(), 0);
    core.handle_timeout(now + Duration::from_secs(1));
    assert_eq!(core.poll_action(), None);
}

/// An address nobody asked for is ignored: no request, no id.
#[test]
fn unrequested_address_is_ignored() {
    let now = Instant::now();
    let mut core = Core::new(&Config { target_outbound: 0, ..suite_config() }, now).unwrap();
    core.start(now);
    core.address(now, connmgr::ClassId::DEFAULT, Some(Ok(addr(1).into())));
    assert_eq!(core.poll_action(), None, "no dial");
    assert_eq!(core.requests().count(), 0);
    let first = core.connect(now, addr(2), ConnectOptions::once()).unwrap();
    assert_eq!(first, ConnId::new(1), "no id was used");
}

/// btcd's `Start`: only the first call does anything.
#[test]
fn start_only_once() {
    let mut sim = sim(Config { target_outbound: 3, ..suite_config() }).with_source(AddressSource::fixed(addr(1)));
    assert!(!sim.core().is_started());
    sim.apply(|core, now| core.start(now));
    sim.apply(|core, now| core.start(now));
    sim.settle();
    assert!(sim.core().is_started());
    assert_eq!(sim.address_requests().len(), 3);
    assert_eq!(sim.connected().len(), 3);
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

/// Requests made before `start` get their ids at once and dial when `start` runs, in id order
/// (btcd: they park until `Start`).
#[test]
fn requests_before_start_dial_at_start_in_id_order() {
    let mut sim = sim(Config { target_outbound: 0, ..suite_config() });
    let ids: Vec<ConnId> = [(1, true), (2, false), (3, true)]
        .into_iter()
        .map(|(port, permanent)| {
            let opts = if permanent { ConnectOptions::permanent() } else { ConnectOptions::once() };
            sim.apply(|core, now| core.connect(now, addr(port), opts)).unwrap()
        })
        .collect();
    sim.advance(ms(1000));
    assert!(sim.dials().is_empty(), "nothing dials before start");
    assert_eq!(sim.state(ids[1]), Some(ConnState::Pending));
    sim.apply(|core, now| core.start(now));
    let dialled: Vec<(ConnId, Duration)> = sim.dials().iter().map(|d| (d.id, d.at)).collect();
    assert_eq!(dialled, ids.iter().map(|&id| (id, ms(1000))).collect::<Vec<_>>());
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

/// A manager stopped before it started: its requests end `Canceled` without dialling, and a
/// later `start` does nothing (btcd: starts a handler that exits at once).
#[test]
fn stop_before_start() {
    let mut sim = sim(Config { target_outbound: 2, ..suite_config() }).with_source(AddressSource::fixed(addr(1)));
    let p = sim.apply(|core, now| core.connect(now, addr(2), ConnectOptions::permanent())).unwrap();
    sim.apply(|core, now| core.stop(now)).unwrap();
    assert_eq!(sim.trace(p), [Step::Ended(ConnState::Canceled)]);
    sim.apply(|core, now| core.start(now));
    sim.advance(ms(100));
    assert!(!sim.core().is_started(), "start after stop does nothing");
    assert!(sim.dials().is_empty());
    assert!(sim.address_requests().is_empty());
    sim.assert_clean_shutdown();
}

/// From btcd's `Stop` with established connections, which no btcd test covers (scenario D11).
///
/// D11: stop with established connections.
///
/// btcd: the connections stay open and no `OnDisconnection` fires. Ours (README difference #4): each
/// socket is closed, each connection reported exactly once with `Shutdown`, before its
/// request's `Ended(Disconnected)`; afterwards nothing happens and operations are refused.
#[test]
fn stop_closes_established_connections_and_reports_shutdown() {
    let mut sim = sim(Config { target_outbound: 1, ..suite_config() }).with_source(AddressSource::fixed(addr(1)));
    sim.apply(|core, now| core.start(now));
    let p = sim.apply(|core, now| core.connect(now, addr(2), ConnectOptions::permanent())).unwrap();
    let m = sim.apply(|core, now| core.connect(now, addr(3), ConnectOptions::once())).unwrap();
    sim.run_until(ms(5));
    let all = [ConnId::new(1), p, m];
    assert_eq!(sim.connected_ids(), all);

    sim.apply(|core, now| core.stop(now)).unwrap();
    let down = sim.disconnected();
    assert_eq!(down.len(), 3);
    for (at, info, reason) in down {
        assert_eq!((at, reason), (ms(5), DisconnectReason::Shutdown), "{}", info.id);
    }
    let shut = connected_once(DisconnectReason::Shutdown);
    for id in all {
        assert_eq!(sim.trace(id), shut);
        assert_eq!(closed_by_core(&sim, dial_io(&sim, id)), Some(ms(5)));
    }
    let mark = sim.events().len();
    sim.advance(ms(1000));
    assert_eq!(sim.events().len(), mark);
    assert_eq!(sim.apply(|core, now| core.remove(now, p)), Err(OpError::Stopped));
    sim.assert_clean_shutdown();
}

/// README difference #4: stop also ends what is in progress: a dial in flight (its socket closed), a
/// permanent request waiting to retry, an automatic request waiting for its throttled
/// replacement, and user timers. No failure is reported for any of them, and nothing fires
/// afterwards. (btcd leaves timers running and drops late dial results without closing them.)
#[test]
fn stop_cancels_dials_retries_replacements_and_timers() {
    let (hang, refuse) = (addr(1), addr(2));
    let mut net = Network::new(Outcome::ACCEPT);
    net.set(hang, Outcome::BlackHole).set(refuse, Outcome::REFUSE);
    let source = AddressSource::failing(AddressError::new("no valid connect address"));
    let mut sim = sim(Config { target_outbound: 1, ..Config::default() }).with_source(source).with_net(net);
    sim.apply(|core, now| core.start(now)); // 25 failed automatic attempts; the 25th waits for its replacement.
    let throttled = ConnId::new(25);
    let retrying = sim.apply(|core, now| core.connect(now, refuse, ConnectOptions::permanent())).unwrap();
    let dialling = sim.apply(|core, now| core.connect(now, hang, ConnectOptions::permanent())).unwrap();
    sim.apply(|core, now| core.set_timer(now, Duration::from_secs(3600), 7)).unwrap();
    sim.advance(ms(1));
    assert_eq!(sim.state(throttled), Some(ConnState::Failing));
    assert_eq!(sim.state(retrying), Some(ConnState::Failing));
    assert_eq!(sim.state(dialling), Some(ConnState::Pending));
    assert_eq!(sim.timers_armed(), 4, "replacement, retry, connect timeout, user timer");
    let failures = sim.dial_failures().len();

    sim.apply(|core, now| core.stop(now)).unwrap();
    for id in [throttled, retrying, dialling] {
        assert_eq!(sim.ended(id), Some(ConnState::Canceled));
        assert_eq!(sim.ended_at(id), Some(ms(1)));
    }
    assert_eq!(sim.dial_failures().len(), failures, "no failure reported by stop");
    assert_eq!(closed_by_core(&sim, dial_io(&sim, dialling)), Some(ms(1)));
    sim.advance(Duration::from_secs(7200));
    assert!(sim.timers_fired().is_empty());
    assert_eq!(sim.last_id(), 27, "no attempt after stop");
    sim.assert_clean_shutdown();
}

/// README difference #7: for one request, the disconnection of a connection is always reported before the
/// connection of its reconnection (btcd runs each callback on its own goroutine, so either may
/// come first). A permanent request whose peer closes 3 ms after connecting: dial at 0, connect
/// at 1, closed at 4, redial after 1 x 2 ms at 6, connect at 7, ...; plus a permanent request
/// disconnected by the user.
#[test]
fn ordering_disconnection_before_reconnection() {
    let (flappy, steady) = (addr(1), addr(2));
    let mut net = Network::new(Outcome::ACCEPT);
    net.set(flappy, Outcome::ResetAfterConnect { after: ms(1), lifetime: ms(3) });
    let config = Config { target_outbound: 0, retry_duration: ms(2), max_retry_duration: ms(2), ..Config::default() };
    let mut sim = sim(config).with_net(net);
    sim.apply(|core, now| core.start(now));
    let p = sim.apply(|core, now| core.connect(now, flappy, ConnectOptions::permanent())).unwrap();
    let q = sim.apply(|core, now| core.connect(now, steady, ConnectOptions::permanent())).unwrap();
    sim.run_until(ms(20));
    assert_eq!(sim.apply(|core, now| core.disconnect(now, q, DisconnectOptions::default())), Ok(()));
    assert_eq!(sim.state(q), Some(ConnState::Pending));
    sim.run_until(ms(50));

    assert_eq!(sim.connections_of(p), [1, 7, 13, 19, 25, 31, 37, 43, 49].map(ms));
    let flap = [Step::Connected, Step::Disconnected(DisconnectReason::RemoteClosed)];
    let want: Vec<Step> = flap.iter().cloned().cycle().take(17).collect();
    assert_eq!(sim.trace(p), want);
    let requested = Step::Disconnected(DisconnectReason::Requested);
    assert_eq!(sim.trace(q), [Step::Connected, requested, Step::Connected]);
    assert_eq!(sim.connections_of(q), vec![ms(0), ms(22)]);
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

/// User timers fire exactly when due (rounded up to the next millisecond, never early), and a
/// canceled one never fires.
#[test]
fn user_timers_fire_on_time_and_can_be_canceled() {
    let mut sim = sim(Config { target_outbound: 0, ..Config::default() });
    sim.apply(|core, now| core.start(now));
    let first = sim.apply(|core, now| core.set_timer(now, ms(10), 1)).unwrap();
    let canceled = sim.apply(|core, now| core.set_timer(now, ms(20), 2)).unwrap();
    sim.apply(|core, now| core.set_timer(now, ms(30), 3)).unwrap();
    assert!(sim.apply(|core, _| core.cancel_timer(canceled)));
    assert!(!sim.apply(|core, _| core.cancel_timer(canceled)), "already canceled");
    sim.run_until(ms(9));
    assert!(sim.timers_fired().is_empty());
    sim.run_until(ms(30));
    assert_eq!(sim.timers_fired(), vec![(ms(10), 1), (ms(30), 3)]);
    assert!(!sim.apply(|core, _| core.cancel_timer(first)), "already fired");

    sim.run_until(ms(40));
    sim.apply(|core, now| core.set_timer(now, Duration::from_micros(500), 4)).unwrap();
    sim.run_until(ms(50));
    assert_eq!(sim.timers_fired().last(), Some(&(ms(41), 4)), "rounded up, never early");
    assert_eq!(sim.timers_armed(), 0);
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

/// A detached connection's socket is the user's: the core never closes it, but still reports the
/// connection's end (here at stop) and counts it until then.
#[test]
fn detached_socket_is_never_closed_by_the_core() {
    let mut sim = sim(Config { target_outbound: 0, ..Config::default() });
    sim.apply(|core, now| core.start(now));
    let m = sim.apply(|core, now| core.connect(now, addr(1), ConnectOptions::once())).unwrap();
    sim.settle();
    let io = sim.detach(m).unwrap();
    assert_eq!(sim.detach(m), Err(OpError::NotEstablished(m)), "only once");
    assert_eq!(sim.state(m), Some(ConnState::Established));
    assert_eq!(sim.counters().established, 1);
    sim.apply(|core, now| core.stop(now)).unwrap();
    let shut = connected_once(DisconnectReason::Shutdown);
    assert_eq!(sim.trace(m), shut);
    assert!(sim.closes().is_empty(), "the core did not close the detached socket");
    sim.user_close(io);
    sim.assert_clean_shutdown();
}

/// A per-request connect timeout out of range is refused at `connect`, with no id used; btcd
/// has no such option, and bending the value (zero into 1 ms, say) would hide a mistake.
#[test]
fn out_of_range_connect_timeouts_are_refused() {
    let mut sim = sim(Config { target_outbound: 0, ..suite_config() });
    for bad in [Duration::ZERO, Duration::from_micros(500), ConnectOptions::MAX_CONNECT_TIMEOUT + ms(1)] {
        let opts = ConnectOptions::once().connect_timeout(bad);
        assert_eq!(sim.apply(|core, now| core.connect(now, addr(1), opts)), Err(OpError::InvalidTimeout(bad)));
    }
    assert_eq!(sim.last_id(), 0, "no id was used");
    let ok = sim.apply(|core, now| core.connect(now, addr(1), ConnectOptions::once().connect_timeout(ms(1)))).unwrap();
    assert_eq!(ok.get(), 1);
}
