//! The peer dialer example's protocol logic, driven by a real `Manager` against local
//! Bitcoin-speaking peers on loopback (the example's own modules, brought in by path at the root
//! of this binary, where they expect to be; their unit tests, framing included, run here too).
//!
//! Every wait is bounded (`support::try_turn_until` with a deadline): the reactor blocks in
//! `poll` until something happens, nothing sleeps.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use bitcoin::p2p::{Magic, ServiceFlags};
use connmgr::dns::ResolverConfig;
use connmgr::seed::DnsSeed;
use connmgr::{outbound::OutboundPolicy, Config, ConnClass, ConnectOptions, Manager, Peer, Target};

use crate::local::{self, Behaviour, LocalNet, Spec};
use crate::peers::{Bootstrap, Dialer, Options};
use crate::protocol::LocalInfo;
use crate::report::{self, Report, What};
use crate::support::{self, dnsmasq};

const MAGIC: Magic = Magic::REGTEST;
const DEADLINE: Duration = Duration::from_secs(20);

fn dialer(target: u32, handshake_timeout: Duration) -> Dialer {
    let me = LocalInfo {
        magic: MAGIC,
        services: ServiceFlags::NONE,
        user_agent: format!("/connmgr-peer-dialer:{}/", env!("CARGO_PKG_VERSION")),
        start_height: 0,
        relay: false,
        nonce: 0x5eed_0000_0000_0001,
    };
    Dialer::new(Options { me, handshake_timeout, target, feeler_interval: None }, Report::new(Instant::now(), false))
}

fn manager(dialer: Dialer, target: u32, listen: bool) -> Manager<Dialer> {
    let config = Config {
        target_outbound: target,
        connect_timeout: Duration::from_secs(5),
        listeners: if listen { vec!["127.0.0.1:0".parse().unwrap()] } else { Vec::new() },
        ..Config::default()
    };
    Manager::new(config, dialer).unwrap()
}

/// Local peers on 127.0.0.1 with ephemeral ports; good ones gossip every address but the first.
fn local_net(behaviours: &[Behaviour]) -> LocalNet {
    let specs: Vec<Spec> =
        behaviours.iter().map(|&behaviour| Spec { addr: "127.0.0.1:0".parse().unwrap(), behaviour }).collect();
    LocalNet::start(MAGIC, &specs, |bound| bound.iter().skip(1).map(|&(a, _)| a).collect()).unwrap()
}

/// Turns the manager until `done` holds (true) or [`DEADLINE`] passes (false).
fn run_until(manager: &mut Manager<Dialer>, done: impl FnMut(&Manager<Dialer>) -> bool) -> bool {
    support::try_turn_until(manager, DEADLINE, done)
}

fn records(manager: &Manager<Dialer>) -> impl Iterator<Item = &report::Record> {
    manager.reactor().handler().report.records.iter()
}

fn handshaken(manager: &Manager<Dialer>) -> Vec<(Peer, Target, String)> {
    records(manager)
        .filter_map(|r| match &r.what {
            What::Handshaken { user_agent, .. } => Some((r.peer, r.addr.clone(), user_agent.clone())),
            _ => None,
        })
        .collect()
}

/// Disconnections by address: (label, full reason).
fn disconnections(manager: &Manager<Dialer>) -> HashMap<Target, Vec<(String, String)>> {
    let mut map: HashMap<Target, Vec<(String, String)>> = HashMap::new();
    for r in records(manager) {
        if let What::Disconnected { label, reason, .. } = &r.what {
            map.entry(r.addr.clone()).or_default().push((label.clone(), reason.clone()));
        }
    }
    map
}

#[test]
fn handshake_succeeds_both_ways_and_reports_the_peer_user_agent() {
    let net = local_net(&[Behaviour::Good]);
    let mut d = dialer(1, Duration::from_secs(10));
    d.book.add(net.addr(0).into());
    let mut m = manager(d, 1, true);
    let listener = m.reactor().local_addrs()[0];
    net.dial(listener).unwrap();

    assert!(run_until(&mut m, |m| handshaken(m).len() == 2), "handshakes: {:?}", handshaken(&m));
    let shakes = handshaken(&m);
    assert!(shakes.iter().all(|(_, _, ua)| *ua == local::user_agent()), "{shakes:?}");
    assert!(shakes.iter().any(|(p, a, _)| matches!(p, Peer::Outbound(_)) && *a == Target::Ip(net.addr(0))));
    assert!(shakes.iter().any(|(p, _, _)| matches!(p, Peer::Inbound(_))));
    let details = records(&m)
        .find_map(|r| match &r.what {
            What::Handshaken { services, start_height, .. } => Some((*services, *start_height)),
            _ => None,
        })
        .unwrap();
    assert_eq!(details, (ServiceFlags::NETWORK | ServiceFlags::WITNESS, 840_000));
    let line = report::status_line(records(&m).find(|r| matches!(r.what, What::Handshaken { .. })).unwrap());
    assert!(line.contains(&local::user_agent()) && line.contains("rtt="), "{line}");
    assert!(disconnections(&m).is_empty(), "{:?}", disconnections(&m));
}

#[test]
fn each_malformed_peer_ends_only_its_own_connection_with_its_reason() {
    let bad = [
        (Behaviour::WrongMagic, "wrong network magic"),
        (Behaviour::BadChecksum, "bad checksum"),
        (Behaviour::Oversize, "oversize message"),
        (Behaviour::Truncate, "truncated message"),
        (Behaviour::Silent, "handshake timed out"),
    ];
    let mut behaviours = vec![Behaviour::Good];
    behaviours.extend(bad.iter().map(|(b, _)| *b));
    let net = local_net(&behaviours);
    let mut m = manager(dialer(0, Duration::from_secs(2)), 0, false);
    // The healthy peer first: it must stay up through everything that follows.
    m.connect(net.addr(0), ConnectOptions::once()).unwrap();
    assert!(run_until(&mut m, |m| handshaken(m).len() == 1));
    for i in 1..behaviours.len() {
        m.connect(net.addr(i), ConnectOptions::once()).unwrap();
    }

    assert!(run_until(&mut m, |m| disconnections(m).len() == bad.len()), "{:?}", disconnections(&m));
    let gone = disconnections(&m);
    for (i, (behaviour, label)) in bad.iter().enumerate() {
        let got = &gone[&Target::Ip(net.addr(i + 1))];
        assert_eq!(got.len(), 1, "{behaviour:?}: {got:?}");
        assert_eq!(got[0].0, *label, "{behaviour:?}: {got:?}");
    }
    assert!(gone[&net.addr(4).into()][0].1.contains("peer closed after"), "{:?}", gone[&net.addr(4).into()]);
    assert!(gone[&net.addr(5).into()][0].1.contains("timed out"), "{:?}", gone[&net.addr(5).into()]);
    assert!(!gone.contains_key(&net.addr(0).into()), "the healthy peer was disturbed");
    let rows = m.reactor().handler().rows(Instant::now());
    assert_eq!(rows.len(), 1);
    assert!(rows[0].handshaken && rows[0].addr == net.addr(0).into());
    assert_eq!(m.counters().established, 1);
    let failures = &m.reactor().handler().report.stats.failures;
    for (_, label) in bad {
        assert_eq!(failures.get(label), Some(&1), "{failures:?}");
    }
}

#[test]
fn getaddr_answers_feed_new_dials_until_the_target_is_reached_from_one_seed() {
    let net = local_net(&[Behaviour::Good; 6]);
    let target = 4;
    let mut d = dialer(target, Duration::from_secs(10));
    d.book.add(net.addr(0).into()); // the only address given
    let mut m = manager(d, target, false);

    let ready =
        |m: &Manager<Dialer>| m.reactor().handler().rows(Instant::now()).iter().filter(|r| r.handshaken).count();
    assert!(run_until(&mut m, |m| ready(m) == target as usize), "only {} handshaken", ready(&m));
    let rows = m.reactor().handler().rows(Instant::now());
    let addrs: HashSet<Target> = rows.iter().map(|r| r.addr.clone()).collect();
    assert_eq!(addrs.len(), target as usize);
    assert!(addrs.contains(&net.addr(0).into()));
    assert!(addrs.iter().all(|a| net.peers().iter().any(|(p, _)| Target::from(*p) == *a)));
    assert!(records(&m).all(|r| matches!(
        r.what,
        What::Connected { class: ConnClass::Automatic(_), .. } | What::Learned { .. } | What::Handshaken { .. }
    )));
    let stats = &m.reactor().handler().report.stats;
    assert!(stats.addresses_learned >= 5, "{stats:?}");
    // The target holds: no more connections than asked for.
    m.run_until(Instant::now() + Duration::from_millis(100)).unwrap();
    assert_eq!(m.counters().established, u64::from(target));
    assert!(disconnections(&m).is_empty());
}

#[test]
fn a_stop_from_another_thread_closes_everything_with_one_report_per_connection() {
    let net = local_net(&[Behaviour::Good, Behaviour::Good, Behaviour::Silent, Behaviour::Good]);
    let mut d = dialer(3, Duration::from_secs(30));
    for (addr, _) in net.peers() {
        d.book.add((*addr).into());
    }
    let mut m = manager(d, 3, true);
    net.dial(m.reactor().local_addrs()[0]).unwrap();
    // Three outbound (two handshaken, one stuck in the silent peer's handshake), one inbound.
    assert!(run_until(&mut m, |m| handshaken(m).len() >= 3 && m.reactor().handler().rows(Instant::now()).len() == 4));

    let handle = m.handle();
    let stopper = std::thread::spawn(move || handle.stop());
    let deadline = Instant::now() + DEADLINE;
    assert!(m.run_until(deadline).unwrap(), "the stop did not arrive");
    stopper.join().unwrap().unwrap();

    let opened: Vec<Peer> =
        records(&m).filter(|r| matches!(r.what, What::Connected { .. } | What::Accepted)).map(|r| r.peer).collect();
    let mut closed: HashMap<Peer, Vec<String>> = HashMap::new();
    for r in records(&m) {
        if let What::Disconnected { label, .. } = &r.what {
            closed.entry(r.peer).or_default().push(label.clone());
        }
    }
    assert_eq!(opened.len(), 4, "{opened:?}");
    for peer in &opened {
        assert_eq!(closed.get(peer).map(Vec::as_slice), Some(&["shutdown".to_string()][..]), "{peer}: {closed:?}");
    }
    assert_eq!(closed.len(), opened.len());
    assert!(m.reactor().handler().rows(Instant::now()).is_empty());
    assert_eq!(m.counters().established + m.counters().inbound, 0);
}

#[test]
fn dns_seeds_and_seed_names_are_looked_up_on_the_reactor_and_feed_the_address_book() {
    // Two good peers that gossip nothing: the dialer can only learn them from DNS.
    let specs: Vec<Spec> = [Behaviour::Good; 2]
        .iter()
        .map(|&behaviour| Spec { addr: "127.0.0.1:0".parse().unwrap(), behaviour })
        .collect();
    let net = LocalNet::start(MAGIC, &specs, |_| Vec::new()).unwrap();
    let dns_records = ["--host-record=x9.seed.test,127.0.0.1", "--host-record=peer.test,127.0.0.1"];
    let Some(dns) = dnsmasq::Dnsmasq::start(&dns_records.map(String::from)) else { return };

    let mut d = dialer(2, Duration::from_secs(10));
    // What `--dns-seed seed.test peer.test:<port> nowhere.test` plans (the seeded nodes get the
    // "network's" port, here the first peer's).
    d.bootstrap = Bootstrap {
        names: vec![("peer.test".parse().unwrap(), net.addr(1).port()), ("nowhere.test".parse().unwrap(), 1)],
        dns_seeds: vec![DnsSeed::new("seed.test", true)],
        port: net.addr(0).port(),
    };
    let config = Config {
        target_outbound: 2,
        connect_timeout: Duration::from_secs(5),
        dns: Some(ResolverConfig { servers: vec![dns.addr], ..ResolverConfig::default() }),
        ..Config::default()
    };
    let mut m = Manager::new(config, d).unwrap();
    assert_eq!(m.reactor().handler().book.len(), 0, "nothing looked up before the reactor runs");
    m.reactor_mut().start();
    assert!(run_until(&mut m, |m| handshaken(m).len() == 2), "handshakes: {:?}", handshaken(&m));
    let addrs: HashSet<Target> = handshaken(&m).into_iter().map(|(_, a, _)| a).collect();
    assert_eq!(addrs, HashSet::from([net.addr(0).into(), net.addr(1).into()]));
    let stats = &m.reactor().handler().report.stats;
    assert_eq!((stats.dns_answered, stats.dns_failed, stats.dns_new), (2, 1, 2), "{stats:?}");
    assert!(records(&m).all(|r| !matches!(r.what, What::Connected { class: ConnClass::Manual, .. })));
}

/// Local peers in several /16 netgroups, two of them sharing 127.7/16: with the dialer's
/// diversity rule the target fills from distinct netgroups, the second 127.7 peer is skipped
/// (and reported so), and a feeler tests it instead, closing once its handshake is done.
#[test]
fn diversity_skips_a_second_peer_of_a_netgroup_and_a_feeler_tests_it() {
    let at = |ip: &str| Spec { addr: format!("{ip}:0").parse().unwrap(), behaviour: Behaviour::Good };
    let specs = [at("127.1.0.1"), at("127.7.0.1"), at("127.7.0.2"), at("127.8.0.1")];
    let net = LocalNet::start(MAGIC, &specs, |bound| bound.iter().skip(1).map(|&(a, _)| a).collect()).unwrap();
    let target = 3;
    let opts =
        Options { feeler_interval: Some(Duration::from_millis(100)), ..dialer(target, DEADLINE).options().clone() };
    let mut d = Dialer::new(opts, Report::new(Instant::now(), false));
    d.book.add(net.addr(0).into());
    let config = Config {
        target_outbound: target,
        outbound: OutboundPolicy { max_per_netgroup: Some(1), max_probes: 1, ..OutboundPolicy::default() },
        ..Config::default()
    };
    let mut m = Manager::new(config, d).unwrap();
    let ready = |m: &Manager<Dialer>| {
        m.reactor().handler().rows(Instant::now()).iter().filter(|r| r.handshaken && r.class == "automatic").count()
    };
    let feelers_ok = |m: &Manager<Dialer>| m.reactor().handler().report.stats.feelers_ok;
    assert!(
        run_until(&mut m, |m| ready(m) == 3 && feelers_ok(m) >= 1),
        "ready {}, feelers {}",
        ready(&m),
        feelers_ok(&m)
    );
    let rows = m.reactor().handler().rows(Instant::now());
    let groups: HashSet<&str> = rows.iter().filter(|r| r.class == "automatic").map(|r| r.netgroup.as_str()).collect();
    assert_eq!(groups, HashSet::from(["127.1.0.0/16", "127.7.0.0/16", "127.8.0.0/16"]), "{rows:?}");
    let skipped: Vec<_> = records(&m).filter(|r| matches!(r.what, What::Skipped { .. })).collect();
    assert!(
        !skipped.is_empty() && skipped.iter().all(|r| r.addr == net.addr(1).into() || r.addr == net.addr(2).into())
    );
    assert!(m.counters().skipped_diversity >= 1);
    let feelers: Vec<_> =
        records(&m).filter(|r| matches!(r.what, What::Connected { class: ConnClass::Probe(_), .. })).collect();
    assert!(!feelers.is_empty(), "a feeler ran");
    let closed = disconnections(&m);
    let feeler_addr = &feelers[0].addr;
    assert_eq!(closed[feeler_addr][0].0, "feeler done", "{closed:?}");
}
