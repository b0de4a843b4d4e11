//! The outbound policy on simulated time: netgroup diversity, classes with their own targets,
//! probes, the manual cap, backoff policies and the stable-connection rule, failure memory,
//! offline detection, pause and resume, anchors. The simulator checks its invariants after
//! every step (at most one automatic connection per netgroup when the rule is on, no class
//! over its target, no cap passed), so every test here also runs those checks.

use crate::support;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;

use crate::support::ms;
use connmgr::core::Event;
use connmgr::sim::{AddressSource, Network, Outcome, Sim};
use connmgr::{
    addr::NetGroup,
    outbound::{Backoff, Jitter, Limit, OfflineDetection, OutboundClass, OutboundPolicy, Pause, ProbeKind},
    ClassId, Config, ConnClass, ConnState, ConnectOptions, DialError, DisconnectReason, NextStep, OpError, Target,
};

fn at(ip: &str) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap(), 8333)
}

fn config(target: u32, outbound: OutboundPolicy) -> Config {
    Config { target_outbound: target, outbound, random_seed: Some(11), ..Config::default() }
}

fn started(config: Config, source: AddressSource) -> Sim {
    let mut sim = Sim::new(config).unwrap().with_source(source);
    sim.apply(|core, now| core.start(now));
    sim
}

/// The errors of every `DialFailed`, in order.
fn dial_errors(sim: &Sim) -> Vec<DialError> {
    sim.events()
        .iter()
        .filter_map(|l| match &l.event {
            Event::DialFailed { error, .. } => Some(error.clone()),
            _ => None,
        })
        .collect()
}

fn groups_of(sim: &Sim) -> Vec<NetGroup> {
    let mut open: HashMap<_, _> = HashMap::new();
    for l in sim.events() {
        match &l.event {
            Event::Connected { info, .. } if info.is_automatic() => {
                open.insert(info.id, NetGroup::of(info.target.as_ref().unwrap().ip().unwrap().ip()));
            }
            Event::Disconnected { info, .. } => {
                open.remove(&info.id);
            }
            _ => {}
        }
    }
    open.into_values().collect()
}

// ---- netgroup diversity ---------------------------------------------------------------------

#[test]
fn one_automatic_connection_per_netgroup_and_the_skips_are_counted() {
    let addrs = ["10.1.0.1", "10.1.0.2", "10.2.0.1", "10.1.0.3", "10.2.0.2", "10.3.0.1", "10.4.0.1"].map(at);
    let policy = OutboundPolicy { max_per_netgroup: Some(1), ..OutboundPolicy::default() };
    let mut sim = started(config(4, policy), AddressSource::round_robin(addrs.to_vec()));
    sim.settle();
    let groups = groups_of(&sim);
    assert_eq!(groups.len(), 4, "the target is reached");
    assert_eq!(groups.iter().collect::<HashSet<_>>().len(), 4, "each in its own /16: {groups:?}");
    let skipped = dial_errors(&sim).iter().filter(|e| **e == DialError::NetgroupFull).count() as u64;
    assert_eq!(skipped, 3, "10.1.0.2, 10.1.0.3 and 10.2.0.2 were skipped");
    assert_eq!(sim.counters().skipped_diversity, skipped);
    assert_eq!(sim.counters().dials, 4, "a skipped address is never dialled");
}

#[test]
fn a_netgroup_frees_its_place_when_its_connection_ends() {
    let policy = OutboundPolicy { max_per_netgroup: Some(1), ..OutboundPolicy::default() };
    let source = AddressSource::round_robin(vec![at("10.1.0.1"), at("10.1.0.2")]);
    let mut sim = started(config(1, policy), source);
    sim.settle();
    let first = sim.connected()[0].1.clone();
    assert_eq!(first.target, Some(at("10.1.0.1").into()));
    sim.remote_close(first.id, ms(10));
    sim.advance(ms(20));
    let second = sim.connected()[1].1.clone();
    assert_eq!(second.target, Some(at("10.1.0.2").into()), "the same /16 again, now that it is free");
}

#[test]
fn a_dial_that_fails_frees_its_netgroup_at_once() {
    let policy = OutboundPolicy { max_per_netgroup: Some(1), ..OutboundPolicy::default() };
    let (bad, good) = (at("10.1.0.1"), at("10.1.0.2"));
    let net = {
        let mut n = Network::new(Outcome::ACCEPT);
        n.set(bad, Outcome::Refuse { after: ms(5) });
        n
    };
    let mut sim =
        Sim::new(config(1, policy)).unwrap().with_net(net).with_source(AddressSource::round_robin(vec![bad, good]));
    sim.apply(|core, now| core.start(now));
    sim.advance(ms(10));
    assert_eq!(sim.connected().len(), 1);
    assert_eq!(sim.connected()[0].1.target, Some(good.into()));
    assert_eq!(sim.counters().skipped_diversity, 0);
}

#[test]
fn manual_and_permanent_requests_are_exempt() {
    let policy = OutboundPolicy { max_per_netgroup: Some(1), ..OutboundPolicy::default() };
    let mut sim = started(config(1, policy), AddressSource::fixed(at("10.1.0.1")));
    sim.apply(|core, now| core.connect(now, at("10.1.0.2"), ConnectOptions::permanent())).unwrap();
    sim.apply(|core, now| core.connect(now, at("10.1.0.3"), ConnectOptions::once())).unwrap();
    sim.settle();
    assert_eq!(sim.connected().len(), 3, "three in 10.1/16: one automatic, two manual");
    assert_eq!(sim.counters().skipped_diversity, 0);
}

#[test]
fn a_source_with_one_netgroup_is_asked_a_bounded_number_of_times() {
    let policy = OutboundPolicy { max_per_netgroup: Some(1), ..OutboundPolicy::default() };
    let addrs: Vec<_> = (1..=200).map(|i| at(&format!("10.9.{}.{}", i / 100, i % 100 + 1))).collect();
    let mut sim = started(config(8, policy), AddressSource::round_robin(addrs));
    sim.advance(Duration::from_secs(1));
    assert_eq!(sim.connected().len(), 1, "one connection in the only /16");
    let asked = sim.address_requests().len();
    // 32 skips a millisecond, then each slot waits `retry_duration` (5 s): no spinning.
    assert!(asked <= 8 + 33, "{asked} addresses asked for in a second");
    assert!(sim.counters().skipped_diversity >= 7);
}

#[test]
fn names_and_onions_have_groups_of_their_own() {
    let proxy = connmgr::proxy::Proxy::socks5(at("127.0.0.1"));
    let policy = OutboundPolicy { max_per_netgroup: Some(1), ..OutboundPolicy::default() };
    let onion: Target = "vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd.onion:8333".parse().unwrap();
    let answers = [
        Ok("a.example.org:8333".parse::<Target>().unwrap()),
        Ok("A.EXAMPLE.ORG:8334".parse().unwrap()), // the same name, whatever its case and port
        Ok("b.example.org:8333".parse().unwrap()),
        Ok(onion.clone()),
        Ok(at("10.1.0.1").into()),
    ];
    let source = AddressSource::script(answers, AddressSource::none());
    let mut sim = started(Config { proxy: Some(proxy), ..config(5, policy) }, source);
    sim.settle();
    let targets: HashSet<_> = sim.connected().into_iter().filter_map(|(_, i)| i.target).collect();
    assert_eq!(targets.len(), 4, "{targets:?}");
    assert!(targets.contains(&onion));
    assert_eq!(sim.counters().skipped_diversity, 1, "the second a.example.org");
}

// ---- classes ----------------------------------------------------------------------------------

#[test]
fn each_class_asks_for_its_own_addresses_and_keeps_its_own_target() {
    let policy =
        OutboundPolicy { classes: vec![OutboundClass { name: "block-relay", target: 2 }], ..OutboundPolicy::default() };
    let block_relay = ClassId::extra(0);
    let full: Vec<_> = (1..=10).map(|i| at(&format!("10.1.0.{i}"))).collect();
    let blocks: Vec<_> = (1..=10).map(|i| at(&format!("10.2.0.{i}"))).collect();
    let mut sim = Sim::new(config(3, policy))
        .unwrap()
        .with_source(AddressSource::round_robin(full))
        .with_class_source(block_relay, AddressSource::round_robin(blocks));
    sim.apply(|core, now| core.start(now));
    sim.settle();
    let classes: Vec<_> = sim.connected().into_iter().map(|(_, i)| (i.class, i.target.unwrap())).collect();
    let count = |c: ClassId| classes.iter().filter(|(k, _)| *k == ConnClass::Automatic(c)).count();
    assert_eq!((count(ClassId::DEFAULT), count(block_relay)), (3, 2));
    for (class, target) in &classes {
        let octet = match target.ip().unwrap().ip() {
            std::net::IpAddr::V4(v4) => v4.octets()[1],
            _ => unreachable!(),
        };
        assert_eq!(*class == ConnClass::Automatic(block_relay), octet == 2, "{class:?} got {target}");
    }
    assert_eq!(sim.counters().established_automatic, 5);

    // A block-relay connection that ends is replaced in its class.
    let id = sim.connected().into_iter().find(|(_, i)| i.class == ConnClass::Automatic(block_relay)).unwrap().1.id;
    sim.remote_close(id, ms(1));
    sim.advance(ms(5));
    let last = sim.connected().last().unwrap().1.clone();
    assert_eq!(last.class, ConnClass::Automatic(block_relay));
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

#[test]
fn a_class_with_no_target_is_never_asked_for() {
    let policy =
        OutboundPolicy { classes: vec![OutboundClass { name: "none", target: 0 }], ..OutboundPolicy::default() };
    let mut sim = started(config(2, policy), AddressSource::round_robin(support::addrs(4)));
    sim.settle();
    assert!(sim.connected().iter().all(|(_, i)| i.class == ConnClass::Automatic(ClassId::DEFAULT)));
    assert_eq!(sim.address_requests().len(), 2);
}

#[test]
fn too_many_classes_or_an_anchor_of_an_unknown_class_is_a_config_error() {
    let class = OutboundClass { name: "x", target: 1 };
    let policy = OutboundPolicy { classes: vec![class; 16], ..OutboundPolicy::default() };
    assert!(config(1, policy).validate().is_err());
    let policy =
        OutboundPolicy { anchors: vec![(ClassId::extra(0), at("10.0.0.1").into())], ..OutboundPolicy::default() };
    assert_eq!(config(1, policy).validate(), Err(connmgr::ConfigError::UnknownClass));
    let policy = OutboundPolicy { max_per_netgroup: Some(0), ..OutboundPolicy::default() };
    assert!(config(1, policy).validate().is_err());
}

// ---- probes and the manual cap ------------------------------------------------------------------

#[test]
fn a_probe_counts_toward_no_target_and_is_closed_at_its_deadline() {
    let policy = OutboundPolicy { max_probes: 1, probe_deadline: ms(500), ..OutboundPolicy::default() };
    let mut sim = started(config(2, policy), AddressSource::round_robin(support::addrs(4)));
    sim.settle();
    let probe = sim.apply(|core, now| core.probe(now, at("192.0.2.1"), ProbeKind::Feeler)).unwrap();
    assert_eq!(
        sim.apply(|core, now| core.probe(now, at("192.0.2.2"), ProbeKind::AddrFetch)),
        Err(OpError::LimitReached(Limit::Probes))
    );
    sim.settle();
    assert_eq!(sim.counters().established, 3);
    assert_eq!(sim.counters().established_automatic, 2, "the probe is not automatic");
    let info = sim.connected().into_iter().find(|(_, i)| i.id == probe).unwrap().1;
    assert_eq!(info.class, ConnClass::Probe(ProbeKind::Feeler));
    sim.advance(ms(499));
    assert_eq!(sim.state(probe), Some(ConnState::Established));
    sim.advance(ms(1));
    assert_eq!(sim.disconnections_of(probe), vec![(ms(500), DisconnectReason::ProbeDeadline)]);
    assert_eq!(sim.state(probe), Some(ConnState::Disconnected));
    assert!(sim.apply(|core, now| core.probe(now, at("192.0.2.2"), ProbeKind::AddrFetch)).is_ok(), "its place is free");
}

#[test]
fn a_failed_probe_is_never_retried() {
    let mut sim = started(config(0, OutboundPolicy::default()), AddressSource::none());
    sim.net().set(at("192.0.2.1"), Outcome::REFUSE);
    let probe = sim.apply(|core, now| core.probe(now, at("192.0.2.1"), ProbeKind::Feeler)).unwrap();
    sim.advance(Duration::from_secs(60));
    assert_eq!(sim.dial_times_of(probe).len(), 1);
    assert_eq!(sim.state(probe), Some(ConnState::Failed));
}

#[test]
fn the_manual_cap_refuses_a_request_beyond_it_until_one_ends() {
    let policy = OutboundPolicy { max_manual: Some(2), ..OutboundPolicy::default() };
    let mut sim = started(config(0, policy), AddressSource::none());
    let a = sim.apply(|core, now| core.connect(now, at("10.0.0.1"), ConnectOptions::permanent())).unwrap();
    sim.apply(|core, now| core.connect(now, at("10.0.0.2"), ConnectOptions::once())).unwrap();
    let third = sim.apply(|core, now| core.connect(now, at("10.0.0.3"), ConnectOptions::once()));
    assert_eq!(third, Err(OpError::LimitReached(Limit::Manual)));
    sim.apply(|core, now| core.remove(now, a)).unwrap();
    assert!(sim.apply(|core, now| core.connect(now, at("10.0.0.3"), ConnectOptions::once())).is_ok());
}

// ---- backoff ----------------------------------------------------------------------------------

/// The delays a permanent request to a refusing peer is given, over `n` failures.
fn retry_delays(backoff: Backoff, seed: u64, n: usize) -> Vec<Duration> {
    let policy = OutboundPolicy { backoff, ..OutboundPolicy::default() };
    let config = Config {
        retry_duration: ms(100),
        max_retry_duration: Duration::from_secs(10),
        random_seed: Some(seed),
        ..config(0, policy)
    };
    let mut sim = Sim::new(config).unwrap().with_net(Network::new(Outcome::REFUSE));
    sim.apply(|core, now| core.start(now));
    let id = sim.apply(|core, now| core.connect(now, at("10.0.0.1"), ConnectOptions::permanent())).unwrap();
    sim.advance(Duration::from_secs(600));
    let delays: Vec<_> = sim
        .dial_failures_of(id)
        .into_iter()
        .map(|(_, next)| match next {
            NextStep::RetryIn(d) => d,
            other => panic!("{other:?}"),
        })
        .take(n)
        .collect();
    // And each retry happens when it said.
    let times = sim.dial_times_of(id);
    for (i, d) in delays.iter().enumerate().take(times.len() - 1) {
        let waited = times[i + 1] - times[i];
        assert!(waited >= *d && waited <= *d + ms(2), "retry {i}: waited {waited:?} for {d:?}");
    }
    delays
}

#[test]
fn exponential_backoff_doubles_to_the_cap() {
    let d = retry_delays(Backoff::Exponential(Jitter::None), 1, 10);
    let expect: Vec<_> = [100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000, 10_000].map(ms).to_vec();
    assert_eq!(d, expect);
}

#[test]
fn jittered_backoff_stays_in_its_bounds_and_repeats_with_its_seed() {
    for seed in 0..20 {
        let full = retry_delays(Backoff::Exponential(Jitter::Full), seed, 12);
        for (i, d) in full.iter().enumerate() {
            let ceiling = (ms(100) * (1 << i.min(20))).min(Duration::from_secs(10));
            assert!(*d <= ceiling, "seed {seed}, retry {i}: {d:?} over {ceiling:?}");
        }
        assert_eq!(full, retry_delays(Backoff::Exponential(Jitter::Full), seed, 12), "seed {seed}");
        let deco = retry_delays(Backoff::Exponential(Jitter::Decorrelated), seed, 12);
        let mut prev = ms(100);
        for d in deco {
            assert!(d >= ms(100) && d <= (prev * 3).min(Duration::from_secs(10)), "seed {seed}: {d:?} after {prev:?}");
            prev = d;
        }
    }
    let spread: HashSet<_> = (0..20).map(|s| retry_delays(Backoff::Exponential(Jitter::Full), s, 3)[2]).collect();
    assert!(spread.len() > 10, "peers that failed together retry apart");
}

/// A permanent peer that accepts and drops after `lifetime`, with or without the stable rule:
/// the delays before each redial.
fn redial_delays(stable_after: Option<Duration>, lifetime: Duration) -> Vec<Duration> {
    let policy = OutboundPolicy { stable_after, ..OutboundPolicy::default() };
    let config = Config { retry_duration: ms(100), max_retry_duration: Duration::from_secs(60), ..config(0, policy) };
    let mut sim = Sim::new(config)
        .unwrap()
        .with_net(Network::new(Outcome::ResetAfterConnect { after: Duration::ZERO, lifetime }));
    sim.apply(|core, now| core.start(now));
    let id = sim.apply(|core, now| core.connect(now, at("10.0.0.1"), ConnectOptions::permanent())).unwrap();
    sim.advance(Duration::from_secs(30));
    let times = sim.dial_times_of(id);
    times.windows(2).map(|w| w[1] - w[0] - lifetime).take(5).collect()
}

#[test]
fn a_peer_that_drops_at_once_backs_off_with_the_stable_rule_and_not_without() {
    assert_eq!(redial_delays(None, ms(10)), vec![ms(100); 5], "btcd: redialled at the base delay for ever");
    assert_eq!(redial_delays(Some(Duration::from_secs(1)), ms(10)), [100, 200, 300, 400, 500].map(ms).to_vec());
    assert_eq!(
        redial_delays(Some(Duration::from_secs(1)), Duration::from_secs(2)),
        vec![ms(100); 5],
        "a peer that stays up long enough starts over each time"
    );
}

// ---- failure memory ---------------------------------------------------------------------------

#[test]
fn a_failed_address_is_skipped_for_the_window_then_tried_again() {
    let window = Duration::from_secs(60);
    let policy = OutboundPolicy { failure_window: Some(window), ..OutboundPolicy::default() };
    let (bad, good) = (at("10.1.0.1"), at("10.2.0.1"));
    let mut sim = Sim::new(config(1, policy))
        .unwrap()
        .with_net({
            let mut n = Network::new(Outcome::ACCEPT);
            n.set(bad, Outcome::REFUSE);
            n
        })
        // The source offers the bad address again and again.
        .with_source(AddressSource::round_robin(vec![bad, bad, good]));
    sim.apply(|core, now| core.start(now));
    sim.settle();
    let bad_dials = |sim: &Sim| sim.dials().iter().filter(|d| d.target == bad.into()).count();
    assert_eq!(bad_dials(&sim), 1, "dialled once, then skipped");
    assert_eq!(sim.counters().skipped_failed, 1);
    assert!(dial_errors(&sim).contains(&DialError::RecentlyFailed));
    let id = sim.connected()[0].1.id;
    // After the window the address is dialled again when offered.
    sim.advance(window);
    sim.apply(|core, now| core.close(now, id, DisconnectReason::Requested)).unwrap();
    sim.settle();
    assert_eq!(bad_dials(&sim), 2);
}

#[test]
fn a_permanent_request_is_not_held_back_by_the_memory() {
    let policy = OutboundPolicy { failure_window: Some(Duration::from_secs(600)), ..OutboundPolicy::default() };
    let mut sim = started(config(0, policy), AddressSource::none());
    sim.net().script(at("10.0.0.1"), [Outcome::REFUSE]);
    let id = sim.apply(|core, now| core.connect(now, at("10.0.0.1"), ConnectOptions::permanent())).unwrap();
    sim.advance(Duration::from_secs(6));
    assert_eq!(sim.state(id), Some(ConnState::Established), "its retry went out within the window");
}

// ---- offline detection ------------------------------------------------------------------------

fn offline_policy() -> OutboundPolicy {
    OutboundPolicy {
        failure_window: Some(Duration::from_secs(600)),
        offline: Some(OfflineDetection {
            failures: 6,
            netgroups: 3,
            pause: Duration::from_secs(1),
            max_pause: Duration::from_secs(8),
        }),
        ..OutboundPolicy::default()
    }
}

fn network_events(sim: &Sim) -> Vec<(Duration, bool)> {
    sim.events()
        .iter()
        .filter_map(|l| match l.event {
            Event::Network { online } => Some((l.at, online)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_local_error_holds_dials_and_charges_no_peer() {
    let addrs: Vec<_> = (1..=8).map(|i| at(&format!("10.{i}.0.1"))).collect();
    let mut net = Network::new(Outcome::ACCEPT);
    net.down(Duration::ZERO, Duration::from_secs(20));
    let config = Config { retry_duration: ms(100), ..config(4, offline_policy()) };
    let mut sim = Sim::new(config).unwrap().with_net(net).with_source(AddressSource::round_robin(addrs));
    sim.apply(|core, now| core.start(now));
    let permanent = sim.apply(|core, now| core.connect(now, at("10.9.0.1"), ConnectOptions::permanent())).unwrap();
    sim.advance(Duration::from_secs(20));
    let c = sim.counters();
    assert!(c.offline >= 3, "offline, then offline again after each pause: {}", c.offline);
    // 1 + 2 + 4 + 8 + 8 s of pauses: only a handful of dials in 20 s, never a storm.
    assert!(c.dials <= 6 * 5, "{} dials while the network was down", c.dials);
    assert_eq!(c.failed_local, c.dials);
    assert_eq!(sim.failed_attempts(), 0, "no automatic failure charged");
    assert_eq!(c.skipped_failed, 0);
    for (_, next) in sim.dial_failures_of(permanent) {
        assert_eq!(next, NextStep::RetryIn(ms(100)), "the permanent peer's backoff never stepped");
    }
    assert_eq!(network_events(&sim).first(), Some(&(Duration::ZERO, false)));

    // Back online: every address is dialled (none remembered as failed) and the target is met.
    sim.advance(Duration::from_secs(10));
    assert_eq!(sim.counters().established_automatic, 4);
    assert_eq!(sim.state(permanent), Some(ConnState::Established));
    assert_eq!(sim.counters().skipped_failed, 0, "no address was remembered as failed");
    assert_eq!(network_events(&sim).last().map(|e| e.1), Some(true));
}

#[test]
fn failures_across_many_netgroups_are_offline_one_netgroup_is_not() {
    let addrs: Vec<_> = (1..=50).map(|i| at(&format!("10.{i}.0.1"))).collect();
    let config = config(4, offline_policy());
    let mut sim = Sim::new(config.clone())
        .unwrap()
        .with_net(Network::new(Outcome::REFUSE))
        .with_source(AddressSource::round_robin(addrs));
    sim.apply(|core, now| core.start(now));
    sim.advance(Duration::from_secs(3));
    assert!(sim.counters().offline >= 1);
    assert!(sim.failed_attempts() < 6, "at most failures - 1 charged: {}", sim.failed_attempts());
    assert!(sim.counters().skipped_failed == 0);

    // The same failures within one netgroup are that netgroup's problem.
    let addrs: Vec<_> = (1..=50).map(|i| at(&format!("10.1.0.{i}"))).collect();
    let mut sim = Sim::new(config)
        .unwrap()
        .with_net(Network::new(Outcome::REFUSE))
        .with_source(AddressSource::round_robin(addrs));
    sim.apply(|core, now| core.start(now));
    sim.advance(Duration::from_secs(3));
    assert_eq!(sim.counters().offline, 0);
    assert!(sim.failed_attempts() >= 25);
}

// ---- pause and resume -------------------------------------------------------------------------

#[test]
fn pause_keeping_connections_stops_new_dials_and_accepts_until_resume() {
    let mut sim = started(config(2, OutboundPolicy::default()), AddressSource::round_robin(support::addrs(8)));
    sim.settle();
    sim.apply(|core, now| core.pause(now, Pause::KeepConnections)).unwrap();
    assert!(sim.core().is_paused());
    let id = sim.apply(|core, now| core.connect(now, at("10.9.0.1"), ConnectOptions::once())).unwrap();
    assert_eq!(sim.accept(at("192.0.2.7")), None, "no inbound while paused");
    assert_eq!(sim.counters().rejected_paused, 1);
    let asked = sim.address_requests().len();
    let first = sim.connected()[0].1.id;
    sim.apply(|core, now| core.close(now, first, DisconnectReason::RemoteClosed)).unwrap();
    sim.advance(Duration::from_secs(5));
    assert_eq!(sim.counters().established, 1, "one kept, none made");
    assert_eq!(sim.address_requests().len(), asked, "the source is not asked while paused");
    assert_eq!(sim.state(id), Some(ConnState::Pending));
    sim.apply(|core, now| core.resume(now)).unwrap();
    sim.settle();
    assert_eq!(sim.state(id), Some(ConnState::Established));
    assert_eq!(sim.counters().established_automatic, 2, "replaced after resume");
    assert!(sim.accept(at("192.0.2.7")).is_some());
}

#[test]
fn pause_closing_connections_closes_everything_and_resume_restores_it() {
    let mut sim = started(config(2, OutboundPolicy::default()), AddressSource::round_robin(support::addrs(8)));
    let permanent = sim.apply(|core, now| core.connect(now, at("10.9.0.1"), ConnectOptions::permanent())).unwrap();
    let inbound = sim.accept(at("192.0.2.7")).unwrap();
    sim.net().set(at("10.9.0.2"), Outcome::BlackHole);
    let dialling = sim.apply(|core, now| core.connect(now, at("10.9.0.2"), ConnectOptions::permanent())).unwrap();
    sim.settle();
    assert_eq!(sim.counters().established, 3);
    sim.apply(|core, now| core.pause(now, Pause::CloseConnections)).unwrap();
    assert_eq!(sim.counters().established, 0);
    assert_eq!(sim.counters().inbound, 0);
    assert!(sim.disconnected().iter().all(|(_, _, r)| *r == DisconnectReason::Paused));
    assert_eq!(sim.inbound_closed(), vec![(sim.elapsed(), inbound, DisconnectReason::Paused)]);
    assert_eq!(sim.counters().in_flight, 0, "the dial in flight was aborted");
    assert_eq!(sim.open_sockets(), 0);
    sim.advance(Duration::from_secs(10));
    assert_eq!(sim.counters().established, 0);
    sim.apply(|core, now| core.resume(now)).unwrap();
    sim.settle();
    assert_eq!(sim.state(permanent), Some(ConnState::Established));
    assert_eq!(sim.counters().established_automatic, 2);
    assert_eq!(sim.dial_times_of(dialling).len(), 2, "redialled on resume, not charged");
    assert!(sim.dial_failures_of(dialling).is_empty());
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

// ---- anchors ----------------------------------------------------------------------------------

#[test]
fn anchors_are_exported_and_dialled_first_at_the_next_start() {
    let policy =
        OutboundPolicy { classes: vec![OutboundClass { name: "block-relay", target: 2 }], ..OutboundPolicy::default() };
    let mut sim = started(config(2, policy.clone()), AddressSource::round_robin(support::addrs(8)));
    sim.settle();
    let anchors = sim.anchors();
    assert_eq!(anchors.len(), 4);
    assert_eq!(anchors.iter().filter(|(c, _)| *c == ClassId::extra(0)).count(), 2);

    let mut kept: Vec<_> = anchors.into_iter().filter(|(c, _)| *c == ClassId::extra(0)).collect();
    kept.push((ClassId::extra(0), at("10.9.9.9").into())); // more than the class has room for
    let policy = OutboundPolicy { anchors: kept.clone(), ..policy };
    let fresh: Vec<_> = (1..=8).map(|i| at(&format!("10.5.0.{i}"))).collect();
    let mut sim = started(config(2, policy), AddressSource::round_robin(fresh));
    sim.settle();
    let first: Vec<Target> = sim.dials().iter().take(2).map(|d| d.target.clone()).collect();
    assert_eq!(first, kept[..2].iter().map(|(_, t)| t.clone()).collect::<Vec<_>>(), "anchors first");
    assert!(sim.dials().iter().all(|d| d.target != at("10.9.9.9").into()), "no room for a third");
    let block_relay: Vec<_> =
        sim.connected().into_iter().filter(|(_, i)| i.class == ConnClass::Automatic(ClassId::extra(0))).collect();
    assert_eq!(block_relay.len(), 2);
    assert_eq!(sim.address_requests().len(), 2, "only the default class asked the source");
}

// ---- properties over random seeds -------------------------------------------------------------

mod properties {
    use super::*;
    use connmgr::sim::Flaky;
    use proptest::prelude::*;

    /// `n` addresses spread over `groups` /16 netgroups (10.g.x.y).
    fn spread(n: usize, groups: usize) -> Vec<SocketAddr> {
        (0..n)
            .map(|i| SocketAddr::from(([10, (i % groups) as u8 + 1, (i / 250) as u8, (i % 250) as u8 + 1], 8333)))
            .collect()
    }

    #[derive(Clone, Debug)]
    struct Run {
        seed: u64,
        target: u32,
        extra: u32,
        per_group: u32,
        groups: usize,
        addrs: usize,
        accept: u32,
        reset: u32,
        offline: bool,
        jitter: u8,
    }

    fn run() -> impl Strategy<Value = Run> {
        (
            any::<u64>(),
            1u32..8,
            0u32..4,
            1u32..3,
            2usize..16,
            20usize..80,
            200u32..900,
            0u32..300,
            any::<bool>(),
            0u8..3,
        )
            .prop_map(|(seed, target, extra, per_group, groups, addrs, accept, reset, offline, jitter)| Run {
                seed,
                target,
                extra,
                per_group,
                groups,
                addrs,
                accept,
                reset: reset.min(1000 - accept),
                offline,
                jitter,
            })
    }

    const WINDOW: Duration = Duration::from_secs(30);

    fn build(run: &Run) -> (Sim, Vec<SocketAddr>) {
        let policy = OutboundPolicy {
            max_per_netgroup: Some(run.per_group),
            classes: vec![OutboundClass { name: "extra", target: run.extra }],
            failure_window: Some(WINDOW),
            failure_memory: 4096,
            backoff: Backoff::Exponential(match run.jitter {
                0 => Jitter::None,
                1 => Jitter::Full,
                _ => Jitter::Decorrelated,
            }),
            stable_after: Some(Duration::from_secs(2)),
            offline: run.offline.then(OfflineDetection::default),
            ..OutboundPolicy::default()
        };
        let config = Config {
            target_outbound: run.target,
            retry_duration: ms(200),
            max_retry_duration: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
            outbound: policy,
            random_seed: Some(run.seed),
            ..Config::default()
        };
        let addrs = spread(run.addrs, run.groups);
        let mut net = Network::new(Outcome::ACCEPT);
        net.seed(run.seed);
        let refuse = (1000 - run.accept - run.reset) / 2;
        let odds = Flaky { accept: run.accept, reset: run.reset, refuse, max_latency: ms(300), max_lifetime: ms(5000) };
        for &a in &addrs {
            net.set(a, Outcome::Flaky(odds));
        }
        let sim =
            Sim::new(config).unwrap().with_net(net).with_source(AddressSource::flaky(addrs.clone(), 50, run.seed));
        (sim, addrs)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// The simulator's own checks run at every step (no class over its target, at most
        /// `per_group` automatic connections in a netgroup); this adds: a permanent peer keeps
        /// redialling, a failed address is not given to automatic requests within the window,
        /// and once the network is healthy every class reaches its target when the netgroups
        /// allow it.
        #[test]
        fn classes_diversity_and_the_failure_window_hold_on_a_flaky_network(run in run()) {
            let (mut sim, addrs) = build(&run);
            sim.apply(|core, now| core.start(now));
            let permanent = sim.apply(|core, now| core.connect(now, at("10.200.0.1"), ConnectOptions::permanent())).unwrap();
            sim.advance(Duration::from_secs(60));

            if !run.offline {
                // Every real dial failure is charged when offline detection is off.
                let failures: Vec<(Duration, Target)> = sim
                    .events()
                    .iter()
                    .filter_map(|l| match &l.event {
                        Event::DialFailed { info, error: DialError::Io(_) | DialError::TimedOut(_), .. } => {
                            Some((l.at, info.target.clone()?))
                        }
                        _ => None,
                    })
                    .collect();
                let connects: Vec<(Duration, Target)> =
                    sim.connected().into_iter().filter_map(|(at, info)| Some((at, info.target?))).collect();
                for d in sim.dials() {
                    let automatic = sim.events_of(d.id).any(|l| match &l.event {
                        Event::Ended { info, .. } | Event::DialFailed { info, .. } | Event::Connected { info, .. } => info.is_automatic(),
                        _ => false,
                    });
                    if !automatic {
                        continue;
                    }
                    for (t, target) in &failures {
                        // The window ends early if the address connects in the meantime (a
                        // dial started before the failure): a success forgets it.
                        let forgiven = connects.iter().any(|(c, a)| a == target && c >= t && *c < d.at);
                        prop_assert!(
                            forgiven || !(d.target == *target && d.at > *t && d.at < *t + WINDOW),
                            "{} dialled at {:?}, {:?} after it failed", target, d.at, d.at - *t
                        );
                    }
                }
            }

            // Heal the network: every class fills up if there are netgroups enough.
            for &a in &addrs {
                sim.net().set(a, Outcome::ACCEPT);
            }
            sim.advance(Duration::from_secs(600));
            let room = run.groups as u32 * run.per_group;
            let c = sim.counters();
            prop_assert_eq!(c.established_automatic, u64::from((run.target + run.extra).min(room)));
            prop_assert_eq!(sim.state(permanent), Some(ConnState::Established));
            sim.apply(|core, now| core.stop(now)).unwrap();
            sim.assert_clean_shutdown();
        }

        /// With the network down now and then (a local error) and nothing else failing, no
        /// failure is ever charged: no address remembered, no automatic failure counted, no
        /// permanent backoff step.
        #[test]
        fn offline_periods_charge_no_peer(seed: u64, outages in prop::collection::vec((0u64..50_000, 1u64..20_000), 1..5)) {
            let policy = OutboundPolicy {
                failure_window: Some(Duration::from_secs(600)),
                offline: Some(OfflineDetection::default()),
                ..OutboundPolicy::default()
            };
            let config = Config { retry_duration: ms(250), random_seed: Some(seed), ..config(6, policy) };
            let mut net = Network::new(Outcome::Accept { after: ms(20) });
            for &(from, len) in &outages {
                net.down(ms(from), ms(from + len));
            }
            let source = AddressSource::round_robin(spread(40, 10));
            let mut sim = Sim::new(config).unwrap().with_net(net).with_source(source);
            sim.apply(|core, now| core.start(now));
            let permanent = sim.apply(|core, now| core.connect(now, at("10.100.0.1"), ConnectOptions::permanent())).unwrap();
            let mut rng = seed;
            for step in 0..80u64 {
                sim.advance(ms(1000));
                prop_assert_eq!(sim.failed_attempts(), 0);
                prop_assert_eq!(sim.counters().skipped_failed, 0);
                // Churn: now and then a peer leaves, so dials keep happening through outages.
                rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                if rng >> 61 == 0 {
                    if let Some((_, info)) = sim.connected().into_iter().rev().find(|(_, i)| sim.state(i.id) == Some(ConnState::Established)) {
                        sim.remote_close(info.id, ms(step % 7));
                    }
                }
            }
            for (_, next) in sim.dial_failures_of(permanent) {
                prop_assert_eq!(next, NextStep::RetryIn(ms(250)));
            }
            prop_assert!(sim.counters().failed_local == sim.counters().failed());
        }
    }
}

#[test]
fn an_automatic_connection_redialled_by_trigger_reconnect_keeps_the_netgroup_count_right() {
    // Regression: the place in the netgroup table was tracked in the record's backoff field,
    // which a triggered reconnect (a retry) stepped.
    let policy = OutboundPolicy { max_per_netgroup: Some(1), ..OutboundPolicy::default() };
    let source = AddressSource::round_robin(vec![at("10.1.0.1"), at("10.1.0.2")]);
    let mut sim = started(Config { retry_duration: ms(100), ..config(1, policy) }, source);
    sim.settle();
    let id = sim.connected()[0].1.id;
    sim.apply(|core, now| core.disconnect(now, id, connmgr::DisconnectOptions::trigger_reconnect())).unwrap();
    sim.advance(ms(200));
    assert_eq!(sim.connections_of(id).len(), 2, "redialled after its backoff");
    // Its place is given back exactly once when it ends; the netgroup then takes another.
    sim.apply(|core, now| core.close(now, id, DisconnectReason::Requested)).unwrap();
    sim.settle();
    assert_eq!(sim.counters().established_automatic, 1, "replaced in the same /16");
    assert_eq!(sim.counters().skipped_diversity, 0);
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

#[test]
fn a_connection_starts_a_one_shot_requests_backoff_over() {
    // btcd resets the retry count on every connection, permanent or not: a one-shot request
    // reconnected twice with `trigger_reconnect` waits the base delay both times.
    // (btcd reconnects a one-shot request only while the automatic set is below its target.)
    let config = Config { retry_duration: ms(100), ..config(1, OutboundPolicy::default()) };
    let mut sim = started(config, AddressSource::none());
    let id = sim.apply(|core, now| core.connect(now, at("10.0.0.1"), ConnectOptions::once())).unwrap();
    sim.settle();
    for _ in 0..2 {
        sim.apply(|core, now| core.disconnect(now, id, connmgr::DisconnectOptions::trigger_reconnect())).unwrap();
        sim.advance(ms(100));
    }
    let times = sim.connections_of(id);
    assert_eq!(times.len(), 3, "{times:?}");
    assert_eq!((times[1] - times[0], times[2] - times[1]), (ms(100), ms(100)));
}
