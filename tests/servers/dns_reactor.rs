//! DNS on the reactor (the `dns` feature) against a real dnsmasq on 127.0.0.1: host names
//! dialled without a proxy (IPv6 first, falling through refused addresses), lookup failures as
//! typed dial failures, the connect timeout covering the lookup, `resolve` without a proxy,
//! DNS seeding from several seeds at once, and stop with lookups in flight.
//!
//! Every wait is bounded: the manager is turned until a condition holds, for at most `LIMIT`.
#![cfg(feature = "dns")]

use crate::support::dnsmasq;

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, TcpListener};
use std::time::{Duration, Instant, SystemTime};

use crate::support::{self, Recorder};
use connmgr::dns::{DnsError, ResolverConfig};
use connmgr::seed::{DnsSeed, SeedAddress};
use connmgr::{Config, ConnState, ConnectOptions, DialError, FailureCause, Manager, NextStep, ResolveError, Target};
use dnsmasq::{Dnsmasq, SilentServer};

const LIMIT: Duration = Duration::from_secs(15);
/// Records for one name in the seed that forces a truncated answer and the TCP retry.
const BIG: usize = 48;

fn dnsmasq() -> Option<Dnsmasq> {
    let mut records: Vec<String> = [
        "--host-record=both.test,127.0.0.2,::1",
        "--host-record=fallthrough.test,127.0.0.3,::1",
        "--host-record=x9.seed-a.test,127.1.0.1",
        "--host-record=x9.seed-a.test,127.1.0.2",
        "--host-record=x9.seed-a.test,::ffff:127.1.0.3",
        "--host-record=seed-b.test,127.2.0.1,::2",
    ]
    .iter()
    .map(|r| r.to_string())
    .collect();
    records.extend((1..=BIG).map(|i| format!("--host-record=x9.big.test,127.3.0.{i}")));
    Dnsmasq::start(&records)
}

/// A manager whose resolver asks only `server`, patiently (a loaded machine may be slow).
fn manager(server: SocketAddr, connect_timeout: Duration) -> Manager<Recorder> {
    let dns = ResolverConfig { servers: vec![server], timeout: Duration::from_secs(5), ..ResolverConfig::default() };
    let config = Config { target_outbound: 0, connect_timeout, dns: Some(dns), ..Config::default() };
    let mut m = Manager::new(config, Recorder::new()).unwrap();
    m.reactor_mut().start();
    m
}

/// Turns the manager until `done`, for at most `LIMIT`.
fn drive(m: &mut Manager<Recorder>, done: impl Fn(&Recorder) -> bool) {
    support::turn_until_within(m, LIMIT, "condition", |m| done(m.reactor().handler()));
}

fn listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let l = TcpListener::bind(addr)?;
    l.set_nonblocking(true)?;
    Ok(l)
}

fn accepted(l: &TcpListener) -> bool {
    l.accept().is_ok()
}

fn t(s: &str) -> Target {
    s.parse().unwrap()
}

/// Listeners on 127.0.0.2 and [::1] at one port, or `None` without IPv6 loopback.
fn dual_listeners() -> Option<(TcpListener, TcpListener, u16)> {
    for _ in 0..20 {
        let v4 = listener("127.0.0.2:0".parse().unwrap()).unwrap();
        let port = v4.local_addr().unwrap().port();
        match listener(SocketAddr::from((Ipv6Addr::LOCALHOST, port))) {
            Ok(v6) => return Some((v4, v6, port)),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
            Err(_) => return None,
        }
    }
    None
}

#[test]
fn a_name_without_a_proxy_is_resolved_on_the_reactor_and_dialled_ipv6_first() {
    let Some(dns) = dnsmasq() else { return };
    let Some((v4, v6, port)) = dual_listeners() else {
        eprintln!("SKIPPED: no IPv6 loopback");
        return;
    };
    let mut m = manager(dns.addr, Duration::from_secs(10));
    let id = m.connect(t(&format!("both.test:{port}")), ConnectOptions::once()).unwrap();
    drive(&mut m, |r| !r.connected().is_empty());
    assert_eq!(m.reactor().handler().connected()[0].id, id);
    assert_eq!(m.reactor().handler().connected()[0].target, Some(t(&format!("both.test:{port}"))), "shown as given");
    assert!(accepted(&v6), "the AAAA answer (::1) is tried first");
    assert!(!accepted(&v4), "and the A answer is not tried at all");
    assert_eq!(m.state(id), Some(ConnState::Established));
}

#[test]
fn a_refused_address_falls_through_to_the_next_within_one_dial() {
    let Some(dns) = dnsmasq() else { return };
    // 127.0.0.3 listens; [::1] at the same port refuses (or is unreachable without IPv6).
    let v4 = listener("127.0.0.3:0".parse().unwrap()).unwrap();
    let port = v4.local_addr().unwrap().port();
    if TcpListener::bind(SocketAddr::from((Ipv6Addr::LOCALHOST, port)))
        .is_err_and(|e| e.kind() == io::ErrorKind::AddrInUse)
    {
        eprintln!("SKIPPED: [::1]:{port} is taken");
        return;
    }
    let mut m = manager(dns.addr, Duration::from_secs(10));
    let id = m.connect(t(&format!("fallthrough.test:{port}")), ConnectOptions::once()).unwrap();
    drive(&mut m, |r| !r.connected().is_empty() || !r.dial_failures().is_empty());
    assert!(m.reactor().handler().dial_failures().is_empty(), "{:?}", m.reactor().handler().dial_failures());
    assert_eq!(m.reactor().handler().connected()[0].id, id);
    assert!(accepted(&v4), "connected to the IPv4 address after [::1] refused");
    let counters = m.counters();
    assert_eq!((counters.dials, counters.connected), (1, 1), "one dial, however many addresses");
    assert_eq!(counters.failed_refused + counters.failed_other, 0, "a refused address is not a failed dial");
}

#[test]
fn nxdomain_is_a_typed_dial_failure_charged_like_one() {
    let Some(dns) = dnsmasq() else { return };
    let mut m = manager(dns.addr, Duration::from_secs(10));
    let id = m.connect(t("nowhere.test:8333"), ConnectOptions::permanent()).unwrap();
    drive(&mut m, |r| r.dial_failure(id).is_some());
    let (error, next, _) = &m.reactor().handler().dial_failure(id).unwrap();
    assert_eq!(*error, DialError::Dns(DnsError::NxDomain));
    assert_eq!(error.cause(), FailureCause::Dns);
    assert!(matches!(next, NextStep::RetryIn(_)), "a permanent request backs off and retries: {next:?}");
    assert_eq!(m.counters().failed_other, 1);
    assert_eq!(m.reactor().sockets(), 0, "nothing left open while backing off");
    m.remove(id).unwrap();
    assert_eq!(m.reactor().handler().end(id), Some(ConnState::Canceled));
}

#[test]
fn a_silent_server_lets_the_connect_timeout_expire_and_it_covers_the_lookup() {
    let silent = SilentServer::start();
    let timeout = Duration::from_millis(300);
    let mut m = manager(silent.addr(), timeout);
    let started = Instant::now();
    let id = m.connect(t("quiet.test:8333"), ConnectOptions::once()).unwrap();
    assert_eq!(m.reactor().sockets(), 3, "the lookup's key and a UDP socket per family, all in the reactor's table");
    drive(&mut m, |r| r.dial_failure(id).is_some());
    let (error, _, at) = &m.reactor().handler().dial_failure(id).unwrap();
    assert_eq!(*error, DialError::TimedOut(timeout));
    let took = at.duration_since(started);
    assert!(took >= timeout && took < Duration::from_secs(5), "the dial's timeout, not the resolver's: {took:?}");
    assert_eq!(m.reactor().handler().end(id), Some(ConnState::Failed));
    assert_eq!(m.reactor().sockets(), 0, "the lookup's sockets are closed with the dial");
    assert_eq!(m.reactor().poll_timeout(), None, "an idle resolver arms no timer");
}

#[test]
fn resolve_without_a_proxy_uses_the_resolver_on_every_front_end() {
    let Some(dns) = dnsmasq() else { return };
    let mut m = manager(dns.addr, Duration::from_secs(10));
    let both = m.resolve("both.test".parse().unwrap()).unwrap();
    let nx = m.handle().resolve("nowhere.test".parse().unwrap()).unwrap();
    drive(&mut m, |r| r.lookups() == 2);
    let ips: Vec<IpAddr> = ["::1", "127.0.0.2"].iter().map(|s| s.parse().unwrap()).collect();
    assert_eq!(m.reactor().handler().resolved(both), Some(Ok(ips)), "IPv6 first");
    assert_eq!(m.reactor().handler().resolved(nx), Some(Err(ResolveError::Dns(DnsError::NxDomain))));
    assert_eq!(m.reactor().sockets(), 0);
}

#[test]
fn seeding_on_the_reactor_from_several_seeds_at_once() {
    let Some(dns) = dnsmasq() else { return };
    let mut m = manager(dns.addr, Duration::from_secs(10));
    let seeds = [
        DnsSeed::new("seed-a.test", true),
        DnsSeed::new("seed-b.test", false),
        DnsSeed::new("big.test", true),
        DnsSeed::new("missing.test", true),
    ];
    let before = SystemTime::now();
    m.seed(&seeds[..3], 18444, 9).unwrap();
    m.handle().seed(&seeds[3..], 18444, 9).unwrap();
    drive(&mut m, |r| r.seeded().len() == 4);
    let after = SystemTime::now();
    let seeded = m.reactor().handler().seeded();
    let results: HashMap<&str, &Result<Vec<SeedAddress>, DnsError>> =
        seeded.iter().map(|(host, result)| (host.as_str(), result)).collect();
    let shown =
        |host: &str| -> Vec<String> { results[host].as_ref().unwrap().iter().map(|a| a.addr.to_string()).collect() };
    let mut a = shown("x9.seed-a.test");
    a.sort();
    assert_eq!(a, ["127.1.0.1:18444", "127.1.0.2:18444", "127.1.0.3:18444"], "IPv4-mapped made IPv4");
    assert_eq!(shown("seed-b.test"), ["[::2]:18444", "127.2.0.1:18444"], "no filtering: the bare name");
    assert_eq!(shown("x9.big.test").len(), BIG, "a truncated answer, asked again over TCP");
    assert_eq!(*results["x9.missing.test"], Err(DnsError::NxDomain));
    let day = Duration::from_secs(86_400);
    for addr in m.reactor().handler().seeded().iter().filter_map(|(_, r)| r.as_ref().ok()).flatten() {
        assert!(addr.timestamp <= before - 3 * day && addr.timestamp > after - 7 * day, "{addr}: {:?}", addr.timestamp);
        assert_eq!(addr.services, 0);
    }
    assert_eq!(m.reactor().sockets(), 0);
    assert_eq!(m.reactor().poll_timeout(), None);
}

#[test]
fn stopping_with_lookups_in_flight_cancels_them_and_closes_their_sockets() {
    let silent = SilentServer::start();
    let mut m = manager(silent.addr(), Duration::from_secs(30));
    let dial = m.connect(t("quiet.test:8333"), ConnectOptions::permanent()).unwrap();
    let lookup = m.resolve("quiet.test".parse().unwrap()).unwrap();
    m.seed(&[DnsSeed::new("seed.quiet.test", true)], 8333, 9).unwrap();
    assert!(m.reactor().sockets() > 0);
    m.stop().unwrap();
    let rec = m.reactor().handler();
    assert_eq!(rec.end(dial), Some(ConnState::Canceled));
    assert!(rec.dial_failures().is_empty());
    assert_eq!(rec.resolved(lookup), Some(Err(ResolveError::Canceled)));
    assert!(rec.seeded().is_empty(), "seeds still running report nothing");
    assert_eq!(m.reactor().sockets(), 0);
}
