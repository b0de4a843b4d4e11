//! Outbound requests: targets, manual and permanent requests, ids, cancellation, disconnect and
//! remove (btcd's scenarios S5-S9, S13, S14 and D1-D4, D6, D7, D9), on the simulator.

use std::io;
use std::time::Duration;

use crate::support::*;
use connmgr::core::{Action, Core, Event, IoKey};
use connmgr::{
    Config, ConnId, ConnState, ConnectOptions, DialError, DisconnectOptions, DisconnectReason, FailureCause, NextStep,
    OpError,
};

fn plain() -> DisconnectOptions {
    DisconnectOptions::default()
}

/// S5 (btcd TestStartStop): after `stop`, operations are refused.
///
/// btcd: a `Connect` after `Stop` leaves the request's id 0, `Disconnect`/`Remove` are dropped
/// silently, and no `OnDisconnection` ever arrives because `Stop` leaves R open. Ours (README difference
/// #4): `stop` closes R's socket and reports it exactly once with `Shutdown`; every later
/// operation returns `Err(Stopped)`, uses no id and changes nothing.
#[test]
fn operations_after_stop_are_refused() {
    let mut sim = sim(Config { target_outbound: 1, ..suite_config() }).with_source(AddressSource::fixed(btcd_addr()));
    sim.apply(|core, now| core.start(now));
    sim.settle();
    let r = ConnId::new(1);
    assert_eq!(sim.connected_ids(), [r]);

    sim.apply(|core, now| core.stop(now)).unwrap();
    let (events, issued) = (sim.events().len(), sim.last_id());
    assert_eq!(sim.apply(|core, now| core.stop(now)), Err(OpError::Stopped), "a second stop is refused");
    assert_eq!(
        sim.apply(|core, now| core.connect(now, btcd_addr(), ConnectOptions::permanent())),
        Err(OpError::Stopped)
    );
    assert_eq!(sim.apply(|core, now| core.disconnect(now, r, plain())), Err(OpError::Stopped));
    assert_eq!(sim.apply(|core, now| core.remove(now, r)), Err(OpError::Stopped));
    assert_eq!(sim.apply(|core, now| core.close(now, r, DisconnectReason::RemoteClosed)), Err(OpError::Stopped));
    assert_eq!(sim.apply(|core, now| core.new_conn_req(now)), Err(OpError::Stopped));
    sim.advance(ms(10));
    assert_eq!((sim.events().len(), sim.last_id()), (events, issued), "nothing happens, no id is used");

    assert_eq!(sim.trace(r), connected_once(DisconnectReason::Shutdown), "R is reported once, by stop");
    assert_eq!(closed_by_core(&sim, dial_io(&sim, r)), Some(ms(0)), "stop closed R");
    sim.assert_clean_shutdown();
}

/// S6 (btcd TestConnectMode): no address source, a permanent `connect` gets id 1 (the automatic
/// requests `start` asked for used no id) and connects; nothing else connects.
///
/// btcd's `Connect` blocks until the dial finished, so the state is `Established` on return;
/// ours returns at once with the id and the connection follows the simulated dial (here
/// instant).
#[test]
fn connect_mode_makes_only_the_permanent_request() {
    let mut sim = sim(Config { target_outbound: 2, ..suite_config() });
    sim.apply(|core, now| core.start(now));
    assert_eq!(sim.address_requests().len(), 2, "start asks for target_outbound addresses");
    let c = sim.apply(|core, now| core.connect(now, btcd_addr(), ConnectOptions::permanent())).unwrap();
    assert_eq!(c, ConnId::new(1), "no automatic request used an id");
    sim.settle();
    assert_eq!(sim.connected_ids(), vec![c]);
    assert_eq!(sim.state(c), Some(ConnState::Established));
    sim.advance(ms(1));
    assert_eq!(sim.connected().len(), 1, "no further connection");
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

/// S7 (btcd TestTargetOutbound): exactly `target_outbound` automatic connections, ids 1-10.
#[test]
fn exactly_target_outbound_automatic_connections() {
    let mut sim = sim(Config { target_outbound: 10, ..suite_config() }).with_source(AddressSource::fixed(btcd_addr()));
    sim.apply(|core, now| core.start(now));
    sim.settle();
    let mut ids: Vec<u64> = sim.connected_ids().iter().map(|id| id.get()).collect();
    ids.sort_unstable();
    assert_eq!(ids, (1..=10).collect::<Vec<_>>());
    assert!(sim.connected().iter().all(|(_, info)| info.is_automatic() && !info.permanent));
    sim.advance(ms(1000));
    assert_eq!(sim.connected().len(), 10, "no 11th connection");
    assert_eq!(sim.address_requests().len(), 10, "no 11th address asked for");
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

/// Collects the S8 outcome: (permanent connections, automatic connections).
fn split_permanent_and_automatic(sim: &Sim) -> (Vec<u64>, Vec<u64>) {
    let (mut permanent, mut automatic) = (Vec::new(), Vec::new());
    for (_, info) in sim.connected() {
        if info.permanent {
            assert!(!info.is_automatic());
            permanent.push(info.id.get());
        } else {
            assert!(info.is_automatic());
            automatic.push(info.id.get());
        }
    }
    permanent.sort_unstable();
    automatic.sort_unstable();
    (permanent, automatic)
}

fn target_3_with_a_fixed_source() -> Sim {
    sim(Config { target_outbound: 3, ..suite_config() }).with_source(AddressSource::fixed(btcd_addr()))
}

/// S8a (btcd TestTargetOutboundComposition, "permanent before start"): permanent requests made
/// before `start` hold ids 1 and 2 and are additional to the 3 automatic ones (ids 3-5).
#[test]
fn permanent_requests_made_before_start_are_additional_to_the_target() {
    let mut sim = target_3_with_a_fixed_source();
    let p1 = sim.apply(|core, now| core.connect(now, addr(18556), ConnectOptions::permanent())).unwrap();
    let p2 = sim.apply(|core, now| core.connect(now, addr(18557), ConnectOptions::permanent())).unwrap();
    assert_eq!(sim.last_id(), 2, "permanent requests received ids before start");
    assert!(sim.dials().is_empty(), "nothing dials before start");
    sim.apply(|core, now| core.start(now));
    sim.settle();
    assert_eq!(split_permanent_and_automatic(&sim), (vec![p1.get(), p2.get()], vec![3, 4, 5]));
    assert_eq!((p1.get(), p2.get()), (1, 2));
    sim.advance(ms(10));
    assert_eq!(sim.connected().len(), 5, "no 6th connection");
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

/// S8b (btcd TestTargetOutboundComposition, "permanent after start"): the same composition when
/// the permanent requests come after `start`.
#[test]
fn permanent_requests_made_after_start_are_additional_to_the_target() {
    let mut sim = target_3_with_a_fixed_source();
    sim.apply(|core, now| core.start(now));
    let p1 = sim.apply(|core, now| core.connect(now, addr(18556), ConnectOptions::permanent())).unwrap();
    let p2 = sim.apply(|core, now| core.connect(now, addr(18557), ConnectOptions::permanent())).unwrap();
    sim.settle();
    let (permanent, automatic) = split_permanent_and_automatic(&sim);
    assert_eq!(permanent, vec![p1.get(), p2.get()]);
    assert_eq!(automatic.len(), 3);
    sim.advance(ms(10));
    assert_eq!(sim.connected().len(), 5, "no 6th connection");
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

/// S9 (btcd TestRetryPermanent): a disconnected permanent request is `Pending` before its retry
/// fires, reconnects with the same id after 1 x `retry_duration`, and `remove` ends it
/// `Disconnected`.
#[test]
fn a_permanent_retry_keeps_its_id_and_remove_ends_it() {
    let mut sim = sim(Config { target_outbound: 1, retry_duration: ms(1), ..suite_config() });
    let p = sim.apply(|core, now| core.connect(now, btcd_addr(), ConnectOptions::permanent())).unwrap();
    sim.apply(|core, now| core.start(now));
    sim.settle();
    assert_eq!(sim.connected_ids(), vec![p]);
    assert_eq!(sim.state(p), Some(ConnState::Established));

    assert_eq!(sim.apply(|core, now| core.disconnect(now, p, plain())), Ok(()));
    assert_eq!(sim.disconnections_of(p), [(ms(0), DisconnectReason::Requested)]);
    assert_eq!(sim.state(p), Some(ConnState::Pending), "pending before the retry fires");

    sim.advance(ms(1));
    assert_eq!(sim.connections_of(p), vec![ms(0), ms(1)], "reconnected after 1 x 1 ms, same id");
    assert_eq!(sim.state(p), Some(ConnState::Established));

    assert_eq!(sim.apply(|core, now| core.remove(now, p)), Ok(()));
    let down = sim.disconnections_of(p);
    assert_eq!(down.len(), 2);
    assert_eq!(down[1].1, DisconnectReason::Removed);
    assert_eq!(sim.state(p), Some(ConnState::Disconnected), "ended, and still answers (btcd's state after Remove)");
    assert_eq!(sim.ended(p), Some(ConnState::Disconnected));
    sim.advance(ms(100));
    assert_eq!(sim.dial_times_of(p), vec![ms(0), ms(1)], "a removed request never dials again");
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

/// S13 (btcd TestRemovePendingConnection): a request whose dial hangs is `Pending`; `remove`
/// cancels it (its in-flight socket closed), and the dial's late failure is ignored.
///
/// btcd leaves the request object readable as `Canceled`; ours reports `Canceled` with
/// `Event::Ended`, and `state` still answers `Canceled` from the ended-request history.
#[test]
fn remove_cancels_a_pending_request() {
    let mut sim = sim(suite_config()).with_net(Network::new(Outcome::BlackHole));
    sim.apply(|core, now| core.start(now));
    let p = sim.apply(|core, now| core.connect(now, btcd_addr(), ConnectOptions::permanent())).unwrap();
    sim.advance(ms(10));
    assert_ne!(p.get(), 0);
    assert_eq!(sim.state(p), Some(ConnState::Pending));
    let io = sim.dials()[0].io;
    assert!(sim.is_open(io));

    assert_eq!(sim.apply(|core, now| core.remove(now, p)), Ok(()));
    assert_eq!(sim.state(p), Some(ConnState::Canceled));
    assert_eq!(sim.ended(p), Some(ConnState::Canceled));
    assert_eq!(closed_by_core(&sim, io), Some(ms(10)), "the dial's socket closed");
    assert!(!sim.is_open(io));
    sim.advance(ms(10));

    // "Release the dialer": a failure already in flight reaches the core after all.
    sim.report_late_dial(p, Err(io::ErrorKind::ConnectionRefused));
    assert_eq!(sim.trace(p), [Step::Ended(ConnState::Canceled)], "the failure is ignored");
    assert_eq!(sim.timers_armed(), 0, "no connect timeout or retry left");
    sim.advance(ms(60_000));
    assert_eq!(sim.dials().len(), 1);
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

/// S14 (btcd TestCancelIgnoreDelayedConnection): a one-shot request that failed never fires a
/// connection, even once the network would accept it.
///
/// btcd (no address source): the request sits `Failing` in its pending map for ever until
/// `Remove` makes it `Canceled`. Ours (README difference #1): it ends `Failed` at once, the failure is
/// reported with its error and `NextStep::Ended`, and the later `remove` is a harmless
/// `UnknownId`.
#[test]
fn a_canceled_request_never_connects() {
    let mut net = Network::new(Outcome::ACCEPT);
    net.down(ms(0), ms(25)); // The dialer fails until the "connect" signal at 25 ms.
    let mut sim = sim(Config { retry_duration: ms(10), ..suite_config() }).with_net(net);
    sim.apply(|core, now| core.start(now));
    let r = sim.apply(|core, now| core.connect(now, btcd_addr(), ConnectOptions::once())).unwrap();
    sim.settle();
    assert_eq!(sim.dial_failures_of(r), vec![(ms(0), NextStep::Ended)]);
    assert_eq!(sim.state(r), Some(ConnState::Failed));
    assert_eq!(sim.ended(r), Some(ConnState::Failed));
    assert_eq!(sim.core().requests().count(), 0, "nothing leaks");

    sim.advance(ms(20));
    assert_eq!(sim.apply(|core, now| core.remove(now, r)), Err(OpError::UnknownId(r)), "a harmless no-op");
    sim.run_until(ms(25));
    sim.advance(ms(50));
    assert!(sim.connected().is_empty(), "never connects");
    assert_eq!(sim.dials().len(), 1, "never redialled");
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

/// From btcd's `Connect`/`NewConnReq`'s id counter, which no btcd test covers (scenario D1).
///
/// D1: ids start at 1, are shared by requests made before and after start, and are never
/// consumed by a `new_conn_req` without address source.
///
/// btcd: a `Connect` after `Stop` keeps id 0. Ours (README difference #4): `Err(Stopped)`, no id used.
#[test]
fn ids_count_up_from_1_across_start() {
    let mut sim = sim(suite_config());
    let a = sim.apply(|core, now| core.connect(now, addr(1), ConnectOptions::once())).unwrap();
    sim.apply(|core, now| core.start(now));
    assert_eq!(sim.last_id(), 1, "start's automatic requests used no id");
    let b = sim.apply(|core, now| core.connect(now, addr(2), ConnectOptions::permanent())).unwrap();
    let c = sim.apply(|core, now| core.connect(now, addr(3), ConnectOptions::once())).unwrap();
    assert_eq!([a.get(), b.get(), c.get()], [1, 2, 3]);

    let asked = sim.address_requests().len();
    assert_eq!(sim.apply(|core, now| core.new_conn_req(now)), Ok(()));
    assert_eq!(sim.address_requests().len(), asked + 1, "the address source was asked");
    assert_eq!(sim.last_id(), 3, "no id without an address");
    assert_eq!(sim.apply(|core, now| core.connect(now, addr(4), ConnectOptions::once())).unwrap().get(), 4);

    sim.apply(|core, now| core.stop(now)).unwrap();
    assert_eq!(sim.apply(|core, now| core.connect(now, addr(5), ConnectOptions::once())), Err(OpError::Stopped));
    assert_eq!(sim.last_id(), 4);
    sim.assert_clean_shutdown();
}

/// From btcd's `handleDisconnected` on a pending request, which no btcd test covers (scenario D2).
///
/// D2 (btcd's behaviour, matched): `disconnect` of a permanent request that is not established
/// cancels it for good: no disconnection event, its dial's socket or retry timer gone, never
/// retried.
#[test]
fn disconnect_of_a_pending_permanent_request_cancels_it() {
    let (hang, refuse) = (addr(1), addr(2));
    let mut net = Network::new(Outcome::ACCEPT);
    net.set(hang, Outcome::BlackHole).set(refuse, Outcome::REFUSE);
    let mut sim = sim(Config { target_outbound: 0, ..Config::default() }).with_net(net);
    sim.apply(|core, now| core.start(now));

    // Dialling.
    let p = sim.apply(|core, now| core.connect(now, hang, ConnectOptions::permanent())).unwrap();
    sim.advance(ms(5));
    assert_eq!(sim.state(p), Some(ConnState::Pending));
    assert_eq!(sim.apply(|core, now| core.disconnect(now, p, plain())), Ok(()));
    assert_eq!(sim.state(p), Some(ConnState::Canceled));
    assert_eq!(sim.trace(p), [Step::Ended(ConnState::Canceled)], "no disconnection event");
    assert!(!sim.is_open(sim.dials()[0].io), "its dial's socket closed");

    // Backing off after a failure.
    let q = sim.apply(|core, now| core.connect(now, refuse, ConnectOptions::permanent())).unwrap();
    sim.settle();
    assert_eq!(sim.state(q), Some(ConnState::Failing));
    assert_eq!(sim.timers_armed(), 1, "the retry timer");
    assert_eq!(sim.apply(|core, now| core.disconnect(now, q, plain())), Ok(()));
    assert_eq!(sim.timers_armed(), 0, "the retry timer is canceled");
    let refused = Step::DialFailed(FailureCause::Refused, NextStep::RetryIn(Duration::from_secs(5)));
    assert_eq!(sim.trace(q), [refused, Step::Ended(ConnState::Canceled)]);

    sim.advance(ms(3_600_000));
    assert_eq!(sim.dials().len(), 2, "neither is ever retried");
    assert!(sim.connected().is_empty());
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

/// From btcd's `handleDisconnected`, "Unknown connid", which no btcd test covers (scenario D3).
///
/// D3: `remove` (or `disconnect`) of id 0, of an id never issued, or of an id already ended
/// changes nothing. btcd logs "Unknown connid"; ours also returns `UnknownId`.
#[test]
fn remove_of_an_unknown_id_changes_nothing() {
    let mut sim = sim(Config { target_outbound: 0, ..suite_config() });
    sim.apply(|core, now| core.start(now));
    let a = sim.apply(|core, now| core.connect(now, addr(1), ConnectOptions::once())).unwrap();
    sim.settle();
    let (events, dials, closes) = (sim.events().len(), sim.dials().len(), sim.closes().len());

    for id in [ConnId::new(0), ConnId::new(99)] {
        assert_eq!(sim.apply(|core, now| core.remove(now, id)), Err(OpError::UnknownId(id)));
        assert_eq!(sim.apply(|core, now| core.disconnect(now, id, plain())), Err(OpError::UnknownId(id)));
        assert_eq!(sim.state(id), None, "never issued");
    }
    assert_eq!(sim.events().len(), events);
    assert_eq!((sim.dials().len(), sim.closes().len()), (dials, closes));
    assert_eq!(sim.state(a), Some(ConnState::Established), "the live request is untouched");

    assert_eq!(sim.apply(|core, now| core.remove(now, a)), Ok(()));
    let after = sim.events().len();
    assert_eq!(sim.apply(|core, now| core.remove(now, a)), Err(OpError::UnknownId(a)), "a double remove");
    assert_eq!(sim.events().len(), after);
    assert_eq!(sim.state(a), Some(ConnState::Disconnected), "the first remove's outcome");
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

/// From btcd's `handleConnected` after `Remove`, which no btcd test covers (scenario D4).
///
/// D4: a dial that would succeed after `remove` never produces a connection. btcd closes the
/// late connection when it arrives; ours closes the dial's socket at `remove` already (exactly
/// once), and a success report that races with it is refused without a second close.
#[test]
fn a_dial_succeeding_after_remove_is_closed_and_ignored() {
    let net = Network::new(Outcome::Accept { after: ms(5) });
    let mut sim = sim(Config { target_outbound: 0, ..suite_config() }).with_net(net);
    sim.apply(|core, now| core.start(now));
    let p = sim.apply(|core, now| core.connect(now, btcd_addr(), ConnectOptions::permanent())).unwrap();
    sim.advance(ms(2));
    let io = sim.dials()[0].io;
    assert_eq!(sim.apply(|core, now| core.remove(now, p)), Ok(()));
    assert_eq!(sim.closes(), &[(ms(2), io)], "the in-flight socket is closed once");

    sim.advance(ms(10)); // The success at 5 ms is never seen: the socket was closed.
    let mark = sim.events().len();
    // An I/O layer that had the success in the same batch as the close reports it anyway.
    assert!(!sim.report_late_dial(p, Ok(())));
    assert_eq!(sim.events().len(), mark, "no connection event");
    assert_eq!(sim.closes().len(), 1, "no second close");
    assert!(sim.connected().is_empty());
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

/// From btcd's `handleDisconnected` at target, which no btcd test covers (scenario D6).
///
/// D6: `disconnect` of an established non-permanent connection when the established automatic
/// connections already meet the target: reported, socket closed, no replacement.
///
/// btcd: the request stays `Established` although it is in no map. Ours (README difference #2):
/// it ends `Disconnected`. Under README difference #3 only automatic connections count toward the target,
/// so this case is a manual one-shot connection (an automatic one leaves the automatic set
/// below target when it goes, which is D5/D7's replacement path).
#[test]
fn disconnect_at_target_ends_the_request_disconnected() {
    let mut sim = sim(Config { target_outbound: 2, ..suite_config() }).with_source(AddressSource::fixed(addr(1)));
    sim.apply(|core, now| core.start(now));
    let m = sim.apply(|core, now| core.connect(now, addr(9000), ConnectOptions::once())).unwrap();
    sim.settle();
    assert_eq!(sim.auto_established(), 2);
    assert_eq!(sim.state(m), Some(ConnState::Established));
    let m_io = dial_io(&sim, m);
    let (asked, dials) = (sim.address_requests().len(), sim.dials().len());

    assert_eq!(sim.apply(|core, now| core.disconnect(now, m, plain())), Ok(()));
    assert_eq!(sim.disconnections_of(m), [(ms(0), DisconnectReason::Requested)]);
    assert!(!sim.is_open(m_io), "its socket closed");
    assert_eq!(sim.state(m), Some(ConnState::Disconnected));
    assert_eq!(sim.ended(m), Some(ConnState::Disconnected));
    sim.advance(ms(1000));
    assert_eq!((sim.address_requests().len(), sim.dials().len()), (asked, dials), "no replacement, no redial");
    assert_eq!(sim.auto_established(), 2);
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

/// From btcd's `handleDisconnected` at target, which no btcd test covers (scenario D6).
///
/// D6, below target: a manual one-shot connection disconnected while the automatic set is below
/// target also ends `Disconnected`.
///
/// btcd (no address source): it re-pends the request, logs "Reconnecting", and then nothing
/// happens: the request sits `Pending` for ever (W6). With an address source it would replace it
/// by an automatic request. Ours (README difference #1-#3): it ends, nothing replaces it.
#[test]
fn disconnect_of_a_one_shot_below_target_ends_it_too() {
    let mut sim = sim(Config { target_outbound: 2, ..suite_config() });
    sim.apply(|core, now| core.start(now));
    let m = sim.apply(|core, now| core.connect(now, addr(9000), ConnectOptions::once())).unwrap();
    sim.settle();
    assert_eq!(sim.apply(|core, now| core.disconnect(now, m, plain())), Ok(()));
    assert_eq!(sim.trace(m), connected_once(DisconnectReason::Requested));
    assert_eq!(sim.core().requests().count(), 0, "nothing left pending");
    sim.advance(ms(1000));
    assert_eq!(sim.dials().len(), 1);
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

/// From btcd's `handleDisconnected` with `triggerReconnect`, which no btcd test covers (scenario D7).
///
/// D7: `disconnect(id, trigger_reconnect)` of an established automatic connection redials the
/// same id once after 1 x `retry_duration`; when that dial fails the request is replaced by a
/// new automatic one.
#[test]
fn trigger_reconnect_redials_the_same_id_once() {
    let a = addr(1);
    let mut net = Network::new(Outcome::ACCEPT);
    net.script(a, [Outcome::ACCEPT, Outcome::REFUSE]);
    let config = Config { target_outbound: 1, retry_duration: ms(10), ..Config::default() };
    let mut sim = sim(config).with_source(AddressSource::fixed(a)).with_net(net);
    sim.apply(|core, now| core.start(now));
    sim.settle();
    let first = ConnId::new(1);
    assert_eq!(sim.connected_ids(), vec![first]);

    sim.run_until(ms(5));
    assert_eq!(sim.apply(|core, now| core.disconnect(now, first, DisconnectOptions::trigger_reconnect())), Ok(()));
    assert_eq!(sim.state(first), Some(ConnState::Pending));
    sim.run_until(ms(14));
    assert_eq!(sim.dial_times_of(first), vec![ms(0)], "not before 1 x retry_duration");
    sim.run_until(ms(15));
    assert_eq!(sim.dial_times_of(first), vec![ms(0), ms(15)], "the same id redialled once");
    assert_eq!(sim.dial_failures_of(first), vec![(ms(15), NextStep::Replaced)]);
    assert_eq!(sim.ended(first), Some(ConnState::Canceled));

    let second = ConnId::new(2);
    assert_eq!(sim.connections_of(second), vec![ms(15)], "a new request replaced it");
    assert_eq!(sim.dial_times_of(first).len(), 2);
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

/// From btcd's `handleDisconnected` with `triggerReconnect`, which no btcd test covers (scenario D7).
///
/// D7 for a manual one-shot connection: with the automatic set below target the trigger redials
/// the same id once; if that fails it ends `Failed`. btcd would replace it with an automatic
/// request when an address source exists; ours does not (README difference #1, #3).
#[test]
fn trigger_reconnect_of_a_manual_one_shot_redials_it_once() {
    let m_addr = addr(9000);
    let mut net = Network::new(Outcome::ACCEPT);
    net.script(m_addr, [Outcome::ACCEPT, Outcome::REFUSE]);
    let config = Config { target_outbound: 1, retry_duration: ms(10), ..Config::default() };
    let mut sim = sim(config).with_net(net);
    sim.apply(|core, now| core.start(now));
    let m = sim.apply(|core, now| core.connect(now, m_addr, ConnectOptions::once())).unwrap();
    sim.settle();
    let asked = sim.address_requests().len();
    assert_eq!(sim.apply(|core, now| core.disconnect(now, m, DisconnectOptions::trigger_reconnect())), Ok(()));
    assert_eq!(sim.state(m), Some(ConnState::Pending));
    sim.run_until(ms(100));
    assert_eq!(sim.dial_times_of(m), vec![ms(0), ms(10)]);
    let want = [
        Step::Connected,
        Step::Disconnected(DisconnectReason::Requested),
        Step::DialFailed(FailureCause::Refused, NextStep::Ended),
        Step::Ended(ConnState::Failed),
    ];
    assert_eq!(sim.trace(m), want);
    assert_eq!(sim.dial_failures_of(m), vec![(ms(10), NextStep::Ended)]);
    assert_eq!(sim.address_requests().len(), asked, "no automatic replacement");
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

/// From btcd's `handleDisconnected` with `triggerReconnect`, which no btcd test covers (scenario D7).
///
/// D7's limit: with the automatic set at target, `trigger_reconnect` on a one-shot connection
/// does nothing more than a plain disconnect (btcd: the trigger only matters once the
/// below-target branch is taken).
#[test]
fn trigger_reconnect_at_target_does_nothing_more() {
    let config = Config { target_outbound: 1, retry_duration: ms(10), ..Config::default() };
    let mut sim = sim(config).with_source(AddressSource::fixed(addr(1)));
    sim.apply(|core, now| core.start(now));
    let m = sim.apply(|core, now| core.connect(now, addr(9000), ConnectOptions::once())).unwrap();
    sim.settle();
    assert_eq!(sim.auto_established(), 1);
    assert_eq!(sim.apply(|core, now| core.disconnect(now, m, DisconnectOptions::trigger_reconnect())), Ok(()));
    assert_eq!(sim.state(m), Some(ConnState::Disconnected));
    sim.advance(ms(100));
    assert_eq!(sim.dial_times_of(m), vec![ms(0)]);
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

/// From btcd's `handleFailedConn` without an address source, which no btcd test covers (scenario D9).
///
/// D9: a one-shot request that fails with no address source.
///
/// btcd: it stays `Failing` in its pending map for ever (the W6 leak) until `Remove` cancels
/// it. Ours (README difference #1): the failure is reported with its error and `NextStep::Ended`, the
/// request ends `Failed`, nothing is left behind, and a later `remove` is a harmless
/// `UnknownId`.
#[test]
fn a_failed_one_shot_request_ends_failed() {
    let mut sim = sim(suite_config()).with_net(Network::new(Outcome::REFUSE));
    sim.apply(|core, now| core.start(now));
    let r = sim.apply(|core, now| core.connect(now, btcd_addr(), ConnectOptions::once())).unwrap();
    sim.settle();
    let failure = sim.events_of(r).find_map(|l| match &l.event {
        Event::DialFailed { error, next, .. } => Some((error.clone(), *next)),
        _ => None,
    });
    let refused = DialError::Io(io::ErrorKind::ConnectionRefused.into());
    assert_eq!(failure, Some((refused, NextStep::Ended)), "the failure is reported with its error");
    let failed = Step::DialFailed(FailureCause::Refused, NextStep::Ended);
    assert_eq!(sim.trace(r), [failed, Step::Ended(ConnState::Failed)]);
    assert_eq!((sim.core().requests().count(), sim.timers_armed()), (0, 0), "nothing leaks");
    assert_eq!(sim.counters().failed_refused, 1);
    assert_eq!(sim.apply(|core, now| core.remove(now, r)), Err(OpError::UnknownId(r)));
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

/// From btcd's `handleFailedConn` without an address source, which no btcd test covers (scenario D9).
///
/// D9 with an address source: the failed one-shot request is not replaced by an automatic
/// one and does not count as a failed automatic attempt. btcd replaces it (`Remove` +
/// `NewConnReq`), which takes the automatic set past the target; ours follows from
/// README difference #3.
#[test]
fn a_failed_one_shot_request_is_not_replaced() {
    let bad = addr(9000);
    let mut net = Network::new(Outcome::ACCEPT);
    net.set(bad, Outcome::REFUSE);
    let mut sim =
        sim(Config { target_outbound: 1, ..suite_config() }).with_source(AddressSource::fixed(addr(1))).with_net(net);
    sim.apply(|core, now| core.start(now));
    sim.settle();
    let (asked, issued) = (sim.address_requests().len(), sim.last_id());
    let r = sim.apply(|core, now| core.connect(now, bad, ConnectOptions::once())).unwrap();
    sim.settle();
    assert_eq!(sim.ended(r), Some(ConnState::Failed));
    assert_eq!(sim.address_requests().len(), asked, "no replacement asked for");
    assert_eq!(sim.last_id(), issued + 1, "only the manual request's id");
    assert_eq!(sim.failed_attempts(), 0);
    assert_eq!(sim.auto_established(), 1);
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

/// README difference #3: `new_conn_req` never takes the automatic set past the target, whether the
/// automatic requests are established or still dialling. btcd's `NewConnReq` always adds one.
#[test]
fn new_conn_req_never_exceeds_target() {
    let slow = addr(2);
    let mut net = Network::new(Outcome::ACCEPT);
    net.set(slow, Outcome::BlackHole);
    let mut sim = sim(Config { target_outbound: 2, ..suite_config() })
        .with_source(AddressSource::round_robin(vec![addr(1), slow]))
        .with_net(net);
    sim.apply(|core, now| core.start(now));
    sim.settle();
    assert_eq!(sim.auto_established(), 1, "one connected, one dialling");
    for _ in 0..5 {
        assert_eq!(sim.apply(|core, now| core.new_conn_req(now)), Ok(()));
    }
    assert_eq!(sim.address_requests().len(), 2, "no address asked for beyond the target");
    assert_eq!(sim.core().requests().count(), 2);
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

/// README difference #3, the disconnect rule: whether a disconnected automatic connection is replaced
/// depends on the automatic connections only. btcd compares the target with every established
/// outbound connection: with a permanent and a manual connection up, target 1, it would
/// leave the disconnected automatic request stale `Established` and never replace it.
#[test]
fn disconnect_rule_counts_automatic_connections_only() {
    let mut sim = sim(Config { target_outbound: 1, ..suite_config() }).with_source(AddressSource::fixed(addr(1)));
    sim.apply(|core, now| core.start(now));
    sim.apply(|core, now| core.connect(now, addr(2), ConnectOptions::permanent())).unwrap();
    sim.apply(|core, now| core.connect(now, addr(3), ConnectOptions::once())).unwrap();
    sim.settle();
    assert_eq!(sim.counters().established, 3);
    let auto = ConnId::new(1);
    assert_eq!(sim.apply(|core, now| core.disconnect(now, auto, plain())), Ok(()));
    assert_eq!(sim.state(auto), Some(ConnState::Canceled), "replaced");
    sim.settle();
    assert_eq!(sim.address_requests().len(), 2);
    assert_eq!(sim.connected_ids().last(), Some(&ConnId::new(4)));
    assert_eq!(sim.auto_established(), 1);
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

/// `max_dials_in_flight` (not in btcd): further dials wait their turn in arrival order and start
/// the moment a slot frees, whether the dial in flight connects or fails.
#[test]
fn dial_limit_queues_in_arrival_order() {
    let mut net = Network::new(Outcome::Accept { after: ms(10) });
    net.set(addr(2), Outcome::Refuse { after: ms(5) });
    let config = Config { target_outbound: 0, max_dials_in_flight: Some(1), ..suite_config() };
    let mut sim = sim(config).with_net(net);
    sim.apply(|core, now| core.start(now));
    let ids: Vec<ConnId> = (1..=3)
        .map(|port| sim.apply(|core, now| core.connect(now, addr(port), ConnectOptions::once())).unwrap())
        .collect();
    assert_eq!(sim.counters().in_flight, 1);
    sim.run_until(ms(100));
    let dials: Vec<(ConnId, Duration)> = sim.dials().iter().map(|d| (d.id, d.at)).collect();
    assert_eq!(dials, vec![(ids[0], ms(0)), (ids[1], ms(10)), (ids[2], ms(15))]);
    assert_eq!(sim.connected_ids(), vec![ids[0], ids[2]]);
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

/// A request that ends before the I/O layer handled its `Dial` (say a callback removed it while
/// the action was still queued): `dial_started` refuses the socket and the I/O layer closes it
/// itself; the core never asks to close it. On the core directly: the simulator performs each
/// action as soon as it is queued.
#[test]
fn dial_of_a_request_ended_before_the_io_layer_saw_it() {
    let now = std::time::Instant::now();
    let mut core = Core::new(&Config { target_outbound: 0, ..suite_config() }, now).unwrap();
    core.start(now);
    let p = core.connect(now, addr(1), ConnectOptions::permanent()).unwrap();
    assert_eq!(core.remove(now, p), Ok(()));
    assert_eq!(
        core.poll_action(),
        Some(Action::Dial { id: p, target: addr(1).into(), proxy: None }),
        "the dial was already queued"
    );
    assert!(!core.dial_started(p, IoKey::from(1)), "its socket is refused: the I/O layer closes it");
    let ended = core.poll_action();
    assert!(matches!(ended, Some(Action::Event(Event::Ended { info, state: ConnState::Canceled })) if info.id == p));
    assert_eq!(core.poll_action(), None, "no Close: the core never had the socket");
    assert_eq!(core.state(p), Some(ConnState::Canceled));
    assert_eq!(core.counters().in_flight, 0);
}

/// btcd's server replaces a removed automatic peer itself: `remove` makes no replacement, a
/// following `new_conn_req` makes exactly one.
#[test]
fn remove_then_new_conn_req_replaces() {
    let mut sim = sim(Config { target_outbound: 2, ..suite_config() }).with_source(AddressSource::fixed(addr(1)));
    sim.apply(|core, now| core.start(now));
    sim.settle();
    let first = sim.connected_ids()[0];
    assert_eq!(sim.apply(|core, now| core.remove(now, first)), Ok(()));
    assert_eq!(sim.state(first), Some(ConnState::Disconnected));
    sim.advance(ms(100));
    assert_eq!(sim.auto_established(), 1, "remove alone does not replace");
    assert_eq!(sim.apply(|core, now| core.new_conn_req(now)), Ok(()));
    sim.settle();
    assert_eq!(sim.auto_established(), 2);
    assert_eq!(sim.address_requests().len(), 3);
    assert_eq!(sim.connected_ids().last().unwrap().get(), 3, "a new id");
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

/// `close` follows btcd's server when a peer is done: a permanent request reconnects after its
/// backoff, an automatic one is replaced at once without counting a failed attempt, a one-shot
/// one ends `Disconnected`; a request with no connection is refused.
#[test]
fn close_follows_btcds_peer_done_rules() {
    let config = Config { target_outbound: 1, retry_duration: ms(10), ..Config::default() };
    let mut sim = sim(config).with_source(AddressSource::fixed(addr(1)));
    sim.apply(|core, now| core.start(now));
    let p = sim.apply(|core, now| core.connect(now, addr(2), ConnectOptions::permanent())).unwrap();
    let m = sim.apply(|core, now| core.connect(now, addr(3), ConnectOptions::once())).unwrap();
    sim.settle();
    let a = ConnId::new(1);
    assert_eq!(sim.connected_ids(), vec![a, p, m]);

    assert_eq!(sim.apply(|core, now| core.close(now, a, DisconnectReason::RemoteClosed)), Ok(()));
    assert_eq!(sim.ended(a), Some(ConnState::Disconnected));
    assert_eq!(sim.failed_attempts(), 0, "a closed connection is not a failed attempt");
    assert_eq!(sim.address_requests(), &[ms(0), ms(0)], "replaced at once");

    assert_eq!(
        sim.apply(|core, now| core.close(now, p, DisconnectReason::Io(io::ErrorKind::ConnectionReset.into()))),
        Ok(())
    );
    assert_eq!(sim.state(p), Some(ConnState::Pending), "waits for its reconnection");
    assert_eq!(sim.apply(|core, now| core.close(now, m, DisconnectReason::protocol("bad magic"))), Ok(()));
    assert_eq!(sim.ended(m), Some(ConnState::Disconnected));
    sim.advance(ms(10));
    assert_eq!(sim.connections_of(p), vec![ms(0), ms(10)], "the permanent one reconnects after 1 x retry");

    let pending = sim.apply(|core, now| core.connect(now, addr(4), ConnectOptions::once())).unwrap(); // Dialling: its answer is not delivered yet.
    assert_eq!(
        sim.apply(|core, now| core.close(now, pending, DisconnectReason::RemoteClosed)),
        Err(OpError::NotEstablished(pending))
    );
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}
