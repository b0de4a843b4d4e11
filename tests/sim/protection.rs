//! The node's defences on simulated time: admission checks before allocation, bans (inbound,
//! outbound, expiry, capacity, persistence), the ban score, trusted subnets and eviction.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime};

use crate::support::ms;
use connmgr::sim::{AddressSource, Sim, Step};
use connmgr::{
    inbound::{AcceptRate, Eviction, Observation, Protection, Subnet},
    Config, ConnState, ConnectOptions, DialError, DisconnectReason, FailureCause, NextStep, Peer,
};

fn sim(protection: Protection) -> Sim {
    let config = Config { target_outbound: 0, protection, random_seed: Some(7), ..Config::default() };
    let mut sim = Sim::new(config).unwrap();
    sim.apply(|core, now| core.start(now));
    sim
}

fn from(ip: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap(), port)
}

fn net(s: &str) -> Subnet {
    s.parse().unwrap()
}

const DAY: Duration = Duration::from_secs(24 * 3600);

#[test]
fn the_per_ip_cap_counts_live_connections_per_host() {
    let mut sim = sim(Protection { max_per_ip: Some(2), ..Protection::default() });
    let a = sim.accept(from("198.51.100.1", 1)).unwrap();
    sim.accept(from("198.51.100.1", 2)).unwrap();
    assert_eq!(sim.accept(from("198.51.100.1", 3)), None, "a third from the host");
    assert!(sim.accept(from("198.51.100.2", 1)).is_some(), "another host is not affected");
    sim.apply(|core, now| core.close(now, a, DisconnectReason::RemoteClosed)).unwrap();
    assert!(sim.accept(from("198.51.100.1", 4)).is_some(), "a slot of the host freed");
    let c = sim.counters();
    assert_eq!((c.rejected_per_ip, c.accepted, c.inbound), (1, 4, 3));
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

#[test]
fn the_netgroup_cap_uses_the_configured_grouping() {
    let mut sim = sim(Protection { max_per_netgroup: Some(2), ..Protection::default() });
    sim.accept(from("127.1.0.1", 1)).unwrap();
    sim.accept(from("127.1.9.9", 1)).unwrap();
    assert_eq!(sim.accept(from("127.1.200.3", 1)), None, "127.1/16 is full");
    assert!(sim.accept(from("127.2.0.1", 1)).is_some(), "127.2/16 is another group");
    assert_eq!(sim.counters().rejected_per_netgroup, 1);

    let by_first_octet = connmgr::addr::NetGroupFn::new(|ip: IpAddr| match ip {
        IpAddr::V4(v4) => connmgr::addr::NetGroup::custom(u64::from(v4.octets()[0])),
        IpAddr::V6(_) => connmgr::addr::NetGroup::custom(0),
    });
    let protection = Protection { max_per_netgroup: Some(2), ..Protection::default() };
    let mut sim =
        Sim::new(Config { target_outbound: 0, protection, netgroup: by_first_octet, ..Config::default() }).unwrap();
    sim.apply(|core, now| core.start(now));
    sim.accept(from("127.1.0.1", 1)).unwrap();
    sim.accept(from("127.2.0.1", 1)).unwrap();
    assert_eq!(sim.accept(from("127.3.0.1", 1)), None, "one group for all of 127/8 now");
}

#[test]
fn the_accept_rate_is_a_token_bucket() {
    let rate = AcceptRate { burst: 5, per_second: 10 };
    let mut sim = sim(Protection { accept_rate: Some(rate), ..Protection::default() });
    let admitted = (0..8).filter(|i| sim.accept(from("203.0.113.1", 100 + i)).is_some()).count();
    assert_eq!(admitted, 5, "the burst");
    sim.advance(ms(100));
    assert!(sim.accept(from("203.0.113.2", 1)).is_some(), "one token a tenth of a second");
    assert_eq!(sim.accept(from("203.0.113.3", 1)), None);
    assert_eq!(sim.counters().rejected_rate, 4);
}

#[test]
fn a_host_reconnecting_within_the_window_is_refused() {
    let mut sim = sim(Protection { reconnect_window: Some(Duration::from_secs(30)), ..Protection::default() });
    let first = sim.accept(from("192.0.2.9", 1)).unwrap();
    sim.apply(|core, now| core.close(now, first, DisconnectReason::RemoteClosed)).unwrap();
    sim.advance(Duration::from_secs(29));
    assert_eq!(sim.accept(from("192.0.2.9", 2)), None);
    sim.advance(Duration::from_secs(2));
    assert!(sim.accept(from("192.0.2.9", 3)).is_some(), "30 s after the first connection");
    assert_eq!(sim.counters().rejected_reconnect, 1);
}

#[test]
fn a_ban_closes_live_connections_refuses_inbound_and_expires_on_one_timer() {
    let mut sim = sim(Protection::default());
    let inside = sim.accept(from("198.51.100.7", 1)).unwrap();
    let outside = sim.accept(from("198.51.101.7", 1)).unwrap();
    sim.apply(|core, now| core.ban(now, net("198.51.100.0/24"), Duration::from_secs(60))).unwrap();
    assert_eq!(sim.inbound_closed(), [(ms(0), inside, DisconnectReason::Banned)]);
    assert_eq!(sim.accept(from("198.51.100.8", 1)), None);
    assert_eq!(sim.accept(from("::ffff:198.51.100.8", 1)), None, "IPv4-mapped is the same address");
    assert_eq!(sim.counters().rejected_banned, 2);
    assert_eq!(sim.bans(), [(net("198.51.100.0/24"), Duration::from_secs(60))]);
    assert!(sim.core().poll_timeout().is_some_and(|t| t - sim.now() <= Duration::from_secs(60)), "one timer");
    assert_eq!(sim.timers_armed(), 1);
    sim.advance(Duration::from_secs(60));
    assert!(sim.bans().is_empty());
    assert_eq!(sim.core().poll_timeout(), None, "idle again: no periodic sweep");
    assert!(sim.accept(from("198.51.100.8", 2)).is_some());
    sim.apply(|core, now| core.close(now, outside, DisconnectReason::RemoteClosed)).unwrap();
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

#[test]
fn banned_targets_are_not_dialled() {
    let banned = from("192.0.2.66", 8333);
    let good = from("192.0.2.1", 8333);
    let config = Config { target_outbound: 1, random_seed: Some(1), ..Config::default() };
    let source = AddressSource::script([Ok(banned)], AddressSource::fixed(good));
    let mut sim = Sim::new(config).unwrap().with_source(source);
    sim.apply(|core, now| core.ban(now, Subnet::single(banned.ip()), Duration::from_secs(100))).unwrap();
    sim.apply(|core, now| core.start(now));
    sim.settle();
    // The automatic request is skipped and the source asked again, without a failed attempt.
    let skipped = connmgr::ConnId::new(1);
    assert_eq!(
        sim.trace(skipped),
        [Step::DialFailed(FailureCause::Other, NextStep::Replaced), Step::Ended(ConnState::Canceled)]
    );
    assert_eq!(sim.failed_attempts(), 0);
    assert_eq!(sim.counters().skipped_banned, 1);
    assert!(sim.dials().iter().all(|d| d.target != banned.into()));

    // A permanent request waits, Banned, until the ban ends, then dials.
    let permanent = sim.apply(|core, now| core.connect(now, banned, ConnectOptions::permanent())).unwrap();
    assert_eq!(sim.state(permanent), Some(ConnState::Banned));
    assert_eq!(sim.dial_failures_of(permanent), [(ms(0), NextStep::RetryIn(Duration::from_secs(100)))]);
    sim.advance(Duration::from_secs(99));
    assert!(sim.dial_times_of(permanent).is_empty(), "it does not hammer a banned peer");
    sim.advance(Duration::from_secs(1));
    assert_eq!(sim.dial_times_of(permanent), [Duration::from_secs(100)]);
    assert_eq!(sim.state(permanent), Some(ConnState::Established));

    // A one-shot request to a banned address fails.
    sim.apply(|core, now| core.ban(now, Subnet::single(banned.ip()), Duration::from_secs(100))).unwrap();
    assert_eq!(sim.disconnections_of(permanent), [(Duration::from_secs(100), DisconnectReason::Banned)]);
    sim.advance(Duration::from_secs(5));
    assert_eq!(sim.state(permanent), Some(ConnState::Banned), "after its backoff, waiting for the ban");
    let once = sim.apply(|core, now| core.connect(now, banned, ConnectOptions::once())).unwrap();
    assert_eq!(sim.state(once), Some(ConnState::Failed));
    let error = sim.events_of(once).find_map(|l| match &l.event {
        connmgr::core::Event::DialFailed { error, .. } => Some(error.clone()),
        _ => None,
    });
    assert_eq!(error, Some(DialError::Banned));
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

#[test]
fn an_address_source_of_banned_hosts_cannot_spin_the_loop() {
    let banned = from("192.0.2.66", 8333);
    let config = Config { target_outbound: 1, retry_duration: ms(500), random_seed: Some(1), ..Config::default() };
    let mut sim = Sim::new(config).unwrap().with_source(AddressSource::fixed(banned));
    sim.apply(|core, now| core.ban(now, Subnet::single(banned.ip()), DAY)).unwrap();
    sim.apply(|core, now| core.start(now));
    sim.settle();
    let asked = sim.address_requests().len();
    assert!((30..=40).contains(&asked), "a bounded number of skips in one millisecond: {asked}");
    sim.advance(ms(499));
    assert_eq!(sim.address_requests().len(), asked, "then a replacement waits retry_duration");
    sim.advance(ms(1));
    assert!(sim.address_requests().len() > asked);
    assert!(sim.dials().is_empty());
}

#[test]
fn the_ban_list_is_bounded_and_keeps_the_longest_bans() {
    let mut sim = sim(Protection { ban_capacity: 2, ..Protection::default() });
    sim.apply(|core, now| core.ban(now, net("10.0.0.1"), Duration::from_secs(10))).unwrap();
    sim.apply(|core, now| core.ban(now, net("10.0.0.2"), Duration::from_secs(30))).unwrap();
    sim.apply(|core, now| core.ban(now, net("10.0.0.3"), Duration::from_secs(20))).unwrap();
    let bans: Vec<Subnet> = sim.bans().into_iter().map(|(s, _)| s).collect();
    assert_eq!(bans, [net("10.0.0.2"), net("10.0.0.3")], "the soonest expiry made room");
}

#[test]
fn bans_survive_a_restart_as_text() {
    let mut sim = sim(Protection::default());
    sim.apply(|core, now| core.ban(now, net("2001:db8::/32"), DAY)).unwrap();
    sim.apply(|core, now| core.ban(now, net("198.51.100.7"), Duration::from_secs(3600))).unwrap();
    let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let text = sim.export_bans(wall);
    assert!(text.contains("2001:db8::/32 1800086400"), "{text}");
    // Restored an hour later: the short ban has expired, the day-long one has 23 h left.
    let mut restored = self::sim(Protection::default());
    assert_eq!(restored.apply(|core, now| core.import_bans(now, &text, wall + Duration::from_secs(3600))), Ok(1));
    assert_eq!(restored.bans(), [(net("2001:db8::/32"), Duration::from_secs(23 * 3600))]);
    assert!(restored.accept(from("2001:db8::1", 1)).is_none());
    let error = restored.apply(|core, now| core.import_bans(now, "10.0.0.0/33 1800000000\n", wall)).unwrap_err();
    assert_eq!(error.line, 1);
}

#[test]
fn the_ban_score_bans_past_the_threshold_and_decays() {
    let mut sim = sim(Protection::default());
    let peer = sim.accept(from("203.0.113.5", 1)).unwrap();
    assert_eq!(sim.apply(|core, now| core.misbehaving(now, peer.into(), 0, 40, "simulated")), Ok(40));
    sim.advance(Duration::from_secs(60));
    assert_eq!(
        sim.apply(|core, now| core.misbehaving(now, peer.into(), 0, 40, "simulated")),
        Ok(60),
        "the transient part halves every minute"
    );
    assert_eq!(sim.apply(|core, now| core.misbehaving(now, peer.into(), 50, 0, "simulated")), Ok(110));
    assert_eq!(
        sim.inbound_closed().last().map(|(_, id, why)| (*id, why.clone())),
        Some((peer, DisconnectReason::Banned))
    );
    assert_eq!(sim.bans(), [(Subnet::single("203.0.113.5".parse().unwrap()), DAY)], "btcd's 24 h");
    assert_eq!(sim.accept(from("203.0.113.5", 2)), None, "it cannot come straight back");
    assert_eq!(sim.counters().bans, 1);

    // An outbound peer too; its permanent request then waits for the ban to end.
    let addr = from("192.0.2.5", 8333);
    let out = sim.apply(|core, now| core.connect(now, addr, ConnectOptions::permanent())).unwrap();
    sim.settle();
    assert_eq!(sim.apply(|core, now| core.misbehaving(now, out.into(), 101, 0, "simulated")), Ok(101));
    assert_eq!(sim.disconnections_of(out).last().map(|(_, why)| why.clone()), Some(DisconnectReason::Banned));
    sim.advance(Duration::from_secs(5));
    assert_eq!(sim.state(out), Some(ConnState::Banned), "after its backoff it finds the ban and waits");
    assert_eq!(sim.dial_times_of(out).len(), 1);
    assert_eq!(
        sim.apply(|core, now| core.misbehaving(now, Peer::Outbound(out), 1, 0, "simulated")),
        Err(connmgr::OpError::NotEstablished(out))
    );
}

#[test]
fn trusted_subnets_bypass_caps_and_bans_and_are_never_evicted_or_banned() {
    let protection = Protection {
        max_per_ip: Some(1),
        trusted: vec![net("127.0.0.0/8")],
        eviction: Some(Eviction::bitcoin_core()),
        ..Protection::default()
    };
    let config =
        Config { target_outbound: 0, max_inbound: Some(40), protection, random_seed: Some(3), ..Config::default() };
    let mut sim = Sim::new(config).unwrap();
    sim.apply(|core, now| core.start(now));
    sim.apply(|core, now| core.ban(now, net("127.0.0.0/8"), DAY)).unwrap();
    let friend = sim.accept(from("127.0.0.1", 1)).unwrap();
    assert!(sim.accept(from("127.0.0.1", 2)).is_some(), "no per-IP cap, no ban for a trusted host");
    assert_eq!(sim.apply(|core, now| core.misbehaving(now, friend.into(), 1000, 0, "simulated")), Ok(1000));
    assert!(sim.inbound_closed().is_empty(), "a trusted peer is never banned");
    // Fill the slots with strangers; the newcomers that follow evict strangers only.
    for i in 0..38u8 {
        sim.accept(from(&format!("10.{i}.0.1"), 1)).unwrap();
    }
    for i in 0..20u8 {
        sim.accept(from(&format!("11.{i}.0.1"), 1)).unwrap();
    }
    assert_eq!(sim.counters().evicted, 20);
    assert!(sim.inbound_closed().iter().all(|(_, id, _)| *id != friend));
}

/// 22 diverse, fast peers, then 10 slow ones from one /16, each a second younger, then a
/// newcomer from a new group: who is evicted, and the crowded group's ids (oldest first).
fn crowded_listener(seed: u64) -> (Sim, connmgr::InboundId, Vec<connmgr::InboundId>) {
    let protection = Protection { eviction: Some(Eviction::bitcoin_core()), ..Protection::default() };
    let config =
        Config { target_outbound: 0, max_inbound: Some(32), protection, random_seed: Some(seed), ..Config::default() };
    let mut sim = Sim::new(config).unwrap();
    sim.apply(|core, now| core.start(now));
    for i in 0..22u8 {
        let id = sim.accept(from(&format!("10.{i}.0.1"), 1)).unwrap();
        sim.apply(|core, now| core.observe(now, id.into(), Observation::Ping(ms(10 + u64::from(i))))).unwrap();
        sim.advance(Duration::from_secs(1));
    }
    let mut crowded = Vec::new();
    for i in 0..10u8 {
        let id = sim.accept(from(&format!("192.168.0.{}", i + 1), 1)).unwrap();
        sim.apply(|core, now| core.observe(now, id.into(), Observation::Ping(ms(300)))).unwrap();
        crowded.push(id);
        sim.advance(Duration::from_secs(1));
    }
    let newcomer = sim.accept(from("172.16.0.1", 1)).expect("admitted by evicting a peer");
    let evicted = sim.inbound_closed();
    assert_eq!(evicted.len(), 1, "seed {seed}");
    assert_eq!(evicted[0].2, DisconnectReason::Evicted);
    assert_ne!(newcomer, evicted[0].1);
    assert_eq!((sim.counters().evicted, sim.counters().inbound), (1, 32));
    (sim, evicted[0].1, crowded)
}

#[test]
fn a_full_listener_evicts_the_youngest_of_the_most_crowded_group() {
    // Which groups the secret-keyed protection keeps depends on the key: with some keys it
    // protects members of the crowded group too, and then the youngest unprotected one goes.
    for seed in 1..=12 {
        let (_, evicted, crowded) = crowded_listener(seed);
        assert!(crowded.contains(&evicted), "seed {seed}: {evicted} is not of the crowded group");
    }
    let (mut sim, evicted, crowded) = crowded_listener(1);
    assert_eq!(evicted, *crowded.last().unwrap(), "the youngest of the crowded group");
    sim.apply(|core, now| core.stop(now)).unwrap();
    sim.assert_clean_shutdown();
}

#[test]
fn without_eviction_a_full_listener_refuses_as_btcd_does() {
    let config = Config { target_outbound: 0, max_inbound: Some(1), ..Config::default() };
    let mut sim = Sim::new(config).unwrap();
    sim.apply(|core, now| core.start(now));
    sim.accept(from("10.0.0.1", 1)).unwrap();
    assert_eq!(sim.accept(from("10.1.0.1", 1)), None);
    assert_eq!((sim.counters().rejected_inbound, sim.counters().evicted), (1, 0));
}
