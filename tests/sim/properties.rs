//! Property tests: random networks, configurations and user operations on the simulator.
//!
//! The simulator (`connmgr::sim`) checks after every step that established automatic
//! connections never exceed `target_outbound`, that ids are issued in increasing order with no
//! gap and never live twice, that `Connected`/`Disconnected` alternate per request, and that
//! nothing about a request follows its one `Ended`. These tests add the random drive and the
//! end-of-run checks: after `stop`, nothing is live, no timer is armed, every socket was closed
//! exactly once, every request ended exactly once and every connection was reported
//! disconnected exactly once; and with a network that accepts everything, the automatic set
//! reaches the target and stays there.

use std::net::SocketAddr;

use crate::support::*;
use connmgr::{Config, ConnId, ConnState, ConnectOptions, DisconnectOptions, DisconnectReason, OpError};
use proptest::prelude::*;

/// A user operation. `pick` chooses among the live requests (modulo their number).
#[derive(Clone, Debug)]
enum Op {
    Connect { addr: usize, permanent: bool },
    Disconnect { pick: usize, trigger: bool },
    Remove { pick: usize },
    Close { pick: usize },
    NewConnReq,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (any::<usize>(), any::<bool>()).prop_map(|(addr, permanent)| Op::Connect { addr, permanent }),
        (any::<usize>(), any::<bool>()).prop_map(|(pick, trigger)| Op::Disconnect { pick, trigger }),
        any::<usize>().prop_map(|pick| Op::Remove { pick }),
        any::<usize>().prop_map(|pick| Op::Close { pick }),
        Just(Op::NewConnReq),
    ]
}

/// One random run.
#[derive(Clone, Debug)]
struct Run {
    seed: u64,
    target: u32,
    n_addrs: usize,
    /// Share of dials that fail (refused or never answered), per mille.
    fail_permille: u32,
    /// Share of address-source answers that are errors, per mille.
    source_error_permille: u32,
    retry_ms: u64,
    cap_ms: u64,
    timeout_ms: u64,
    max_latency_ms: u64,
    max_dials: Option<u32>,
    start_ms: u64,
    run_ms: u64,
    /// Network outages: (from, length) in ms.
    outages: Vec<(u64, u64)>,
    /// Per address: the share of successful dials the peer later closes (%), the share of
    /// failures that are refused rather than never answered (%), the longest lifetime (ms).
    mixes: Vec<(u32, u32, u64)>,
    ops: Vec<(u64, Op)>,
}

fn run() -> impl Strategy<Value = Run> {
    (
        any::<u64>(),
        1u32..=16,
        1usize..=8,
        (0u32..=1000, prop_oneof![Just(0u32), 0u32..=1000, Just(1000u32)]),
        1u64..=50,
        1u64..=400,
        5u64..=300,
        0u64..=40,
        prop::option::of(1u32..=4),
        0u64..=20,
        50u64..=5000,
    )
        .prop_flat_map(
            |(
                seed,
                target,
                n_addrs,
                (fail_permille, source_error_permille),
                retry_ms,
                cap_ms,
                timeout_ms,
                max_latency_ms,
                max_dials,
                start_ms,
                run_ms,
            )| {
                let ops = prop::collection::vec((0..=run_ms, op()), 0..=30);
                let outages = prop::collection::vec((0..=run_ms, 1u64..=500), 0..=2);
                let mixes = prop::collection::vec((0u32..100, 50u32..100, 1u64..500), n_addrs);
                (ops, outages, mixes).prop_map(move |(mut ops, outages, mixes)| {
                    ops.sort_by_key(|&(at, _)| at);
                    Run {
                        seed,
                        target,
                        n_addrs,
                        fail_permille,
                        source_error_permille,
                        retry_ms,
                        cap_ms,
                        timeout_ms,
                        max_latency_ms,
                        max_dials,
                        start_ms,
                        run_ms,
                        outages,
                        mixes,
                        ops,
                    }
                })
            },
        )
}

fn config(run: &Run) -> Config {
    Config {
        target_outbound: run.target,
        retry_duration: ms(run.retry_ms),
        max_retry_duration: ms(run.cap_ms),
        connect_timeout: ms(run.timeout_ms),
        max_dials_in_flight: run.max_dials,
        ..Config::default()
    }
}

/// Each address gets its own mix of outcomes: of the dials that succeed some are later closed
/// by the peer; of those that fail some are refused and the rest never answer. During outages
/// every dial fails synchronously.
fn flaky_network(run: &Run, addrs: &[SocketAddr]) -> Network {
    let mut net = Network::new(Outcome::ACCEPT);
    net.seed(run.seed);
    for &(from, len) in &run.outages {
        net.down(ms(from), ms(from + len));
    }
    for (&a, &(reset_pct, refuse_pct, lifetime_ms)) in addrs.iter().zip(&run.mixes) {
        let ok = 1000 - run.fail_permille;
        let reset = ok * reset_pct / 100;
        let refuse = run.fail_permille * refuse_pct / 100;
        net.set(
            a,
            Outcome::Flaky(Flaky {
                accept: ok - reset,
                reset,
                refuse,
                max_latency: ms(run.max_latency_ms),
                max_lifetime: ms(lifetime_ms),
            }),
        );
    }
    net
}

/// Live requests in id order, optionally only established ones.
fn live(sim: &Sim, established_only: bool) -> Vec<ConnId> {
    let mut ids: Vec<ConnId> = sim
        .core()
        .requests()
        .filter(|(_, state)| !established_only || *state == ConnState::Established)
        .map(|(info, _)| info.id)
        .collect();
    ids.sort_unstable();
    ids
}

/// After an operation on `id`, `state(id)` agrees with the events: a live state for a request
/// that has not ended (and is among the live requests), or exactly the state its one `Ended`
/// reported. Returns the state.
fn check_state(sim: &Sim, id: ConnId) -> ConnState {
    let state = sim.state(id).unwrap_or_else(|| panic!("{id} was just operated on, yet state() forgot it"));
    if state.is_terminal() {
        assert_eq!(sim.ended(id), Some(state), "{id} answers {state}");
        assert!(!live(sim, false).contains(&id), "{id} answers {state} but is live");
    } else {
        assert_eq!(sim.ended(id), None, "{id} answers {state} but has ended");
        assert!(live(sim, false).contains(&id), "{id} answers {state} but is not live");
    }
    state
}

/// Applies one operation. `server_style` follows btcd's server: disconnect only established
/// connections, and follow every remove with `new_conn_req`.
fn apply(sim: &mut Sim, addrs: &[SocketAddr], op: &Op, server_style: bool) {
    let pick = |sim: &Sim, pick: usize, established_only: bool| {
        let ids = live(sim, established_only);
        (!ids.is_empty()).then(|| ids[pick % ids.len()])
    };
    match *op {
        Op::Connect { addr, permanent } => {
            let opts = if permanent { ConnectOptions::permanent() } else { ConnectOptions::once() };
            let id =
                sim.apply(|core, now| core.connect(now, addrs[addr % addrs.len()], opts)).expect("connect before stop");
            assert_eq!(id.get(), sim.last_id());
            check_state(sim, id);
        }
        Op::Disconnect { pick: p, trigger } => {
            if let Some(id) = pick(sim, p, server_style) {
                let opts = if trigger { DisconnectOptions::trigger_reconnect() } else { DisconnectOptions::default() };
                sim.apply(|core, now| core.disconnect(now, id, opts)).expect("disconnect of a live request");
                check_state(sim, id);
            }
        }
        Op::Remove { pick: p } => {
            if let Some(id) = pick(sim, p, false) {
                sim.apply(|core, now| core.remove(now, id)).expect("remove of a live request");
                assert!(check_state(sim, id).is_terminal(), "a removed request has ended");
                if server_style {
                    sim.apply(|core, now| core.new_conn_req(now)).expect("before stop");
                }
            }
        }
        Op::Close { pick: p } => {
            if let Some(id) = pick(sim, p, false) {
                let established = sim.state(id) == Some(ConnState::Established);
                match sim.apply(|core, now| core.close(now, id, DisconnectReason::RemoteClosed)) {
                    Ok(()) => assert!(established),
                    Err(e) => assert_eq!((established, e), (false, OpError::NotEstablished(id))),
                }
                check_state(sim, id);
            }
        }
        Op::NewConnReq => sim.apply(|core, now| core.new_conn_req(now)).expect("before stop"),
    }
}

/// Drives a run: operations at their times (some before `start`), then `stop` at the end.
fn drive(sim: &mut Sim, run: &Run, addrs: &[SocketAddr], server_style: bool) {
    let mut started = false;
    for (at, op) in &run.ops {
        if !started && *at >= run.start_ms {
            sim.run_until(ms(run.start_ms));
            sim.apply(|core, now| core.start(now));
            started = true;
        }
        sim.run_until(ms(*at));
        apply(sim, addrs, op, server_style);
    }
    if !started {
        sim.run_until(ms(run.start_ms));
        sim.apply(|core, now| core.start(now));
    }
    sim.run_until(ms(run.run_ms));
}

/// Every request ends exactly once, and after it nothing more is said about it (checked per
/// step by the simulator); here also: one `Ended` per id ever issued.
fn assert_one_end_per_id(sim: &Sim) {
    let mut ended: Vec<u64> = sim.ended_all().iter().map(|(id, _)| id.get()).collect();
    ended.sort_unstable();
    assert_eq!(ended, (1..=sim.last_id()).collect::<Vec<_>>());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Properties 1-4 under random failures and random user operations.
    #[test]
    fn invariants_hold_under_random_failures_and_operations(run in run()) {
        let addrs = addrs(run.n_addrs);
        let source = AddressSource::flaky(addrs.clone(), run.source_error_permille, run.seed);
        let mut sim = sim(config(&run)).with_source(source).with_net(flaky_network(&run, &addrs));
        drive(&mut sim, &run, &addrs, false);
        let max_auto = sim.auto_history().iter().map(|&(_, n)| n).max().unwrap_or(0);
        prop_assert!(max_auto <= run.target);
        sim.apply(|core, now| core.stop(now)).unwrap();
        sim.assert_clean_shutdown();
        assert_one_end_per_id(&sim);
    }

    /// Property 1, the other half: when every address accepts, the automatic set reaches the
    /// target and stays there once the operations have stopped disturbing it (allowing for
    /// every outstanding dial to finish one after the other, and a throttled replacement).
    #[test]
    fn target_is_reached_and_kept_when_every_address_accepts(mut run in run()) {
        let addrs = addrs(run.n_addrs);
        run.start_ms = 0;
        run.timeout_ms = run.max_latency_ms + 1;
        let mut net = Network::new(Outcome::ACCEPT);
        net.seed(run.seed);
        for &a in &addrs {
            let odds = Flaky { accept: 1000, reset: 0, refuse: 0, max_latency: ms(run.max_latency_ms), max_lifetime: ms(1) };
            net.set(a, Outcome::Flaky(odds));
        }
        let ops_end = run.ops.last().map_or(0, |&(at, _)| at);
        let outstanding = run.ops.len() as u64 + u64::from(run.target) + 1;
        let quiet_from = ms(ops_end + outstanding * (run.max_latency_ms + 1) + 2 * run.retry_ms + 1);
        run.run_ms = run.run_ms.max(quiet_from.as_millis() as u64 + 200);

        let mut sim = sim(config(&run))
            .with_source(AddressSource::round_robin(addrs.clone()))
            .with_net(net);
        drive(&mut sim, &run, &addrs, true);

        let history = sim.auto_history();
        let settled = history.iter().rev().find(|&&(at, _)| at <= quiet_from).map(|&(_, n)| n);
        prop_assert_eq!(settled, Some(run.target), "not at target by {:?}: {:?}", quiet_from, history);
        let later: Vec<_> = history.iter().filter(|&&(at, _)| at > quiet_from).collect();
        prop_assert!(later.is_empty(), "left the target after {:?}: {:?}", quiet_from, later);
        prop_assert_eq!(sim.dial_failures().len(), 0);
        sim.apply(|core, now| core.stop(now)).unwrap();
        sim.assert_clean_shutdown();
        assert_one_end_per_id(&sim);
    }
}
