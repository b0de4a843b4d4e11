//! Dialing through SOCKS5 and Tor on the reactor, against real servers on loopback: Debian's
//! microsocks for interoperability, and a scripted SOCKS5 responder for every reply code,
//! broken replies, silence, Tor's specifics and name lookups.
//!
//! Every wait is bounded: the manager is turned until a condition holds, for at most `LIMIT`.

use crate::support::microsocks;
use crate::support::socks_responder;

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv6Addr, SocketAddr, TcpListener};
use std::thread;
use std::time::Duration;

use crate::support::{self, Recorder};
use connmgr::{
    proxy::{Credentials, NoRoute, Proxy, ProxyError},
    Config, ConnId, ConnectOptions, DialError, FailureCause, Manager, NextStep, OpError, Peer, ResolveError, Target,
};
use microsocks::Microsocks;
use socks_responder::{success_reply, Answer, Dest, Script, SocksResponder, Then};

const LIMIT: Duration = Duration::from_secs(10);
const ONION: &str = "duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion";

fn manager(config: Config) -> Manager<Recorder> {
    let config = Config { target_outbound: 0, ..config };
    let mut m = Manager::new(config, Recorder::new().reading()).unwrap();
    m.reactor_mut().start();
    m
}

/// Turns the manager until `done`, for at most `LIMIT`.
fn drive(m: &mut Manager<Recorder>, done: impl Fn(&Recorder) -> bool) {
    support::turn_until_within(m, LIMIT, "condition", |m| done(m.reactor().handler()));
}

fn proxied(proxy: Proxy) -> Config {
    Config { proxy: Some(proxy), ..Config::default() }
}

fn t(s: &str) -> Target {
    s.parse().unwrap()
}

/// A target on 127.0.0.1 and [::1] (same port) that greets each connection with `hello` and
/// holds it until the client goes (or `LIMIT`). Its threads are detached: blocked in `accept`,
/// they end with the test process.
struct Greeter {
    port: u16,
}

impl Greeter {
    fn start() -> Greeter {
        for _ in 0..20 {
            let v4 = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = v4.local_addr().unwrap().port();
            let Ok(v6) = TcpListener::bind(SocketAddr::from((Ipv6Addr::LOCALHOST, port))) else { continue };
            for listener in [v4, v6] {
                thread::spawn(move || {
                    for mut conn in listener.incoming().take(8).flatten() {
                        thread::spawn(move || {
                            conn.set_read_timeout(Some(LIMIT)).unwrap();
                            let _ = conn.write_all(b"hello");
                            let _ = conn.read(&mut [0_u8; 1]);
                        });
                    }
                });
            }
            return Greeter { port };
        }
        panic!("no port free on both loopbacks");
    }
}

#[test]
fn through_microsocks_by_ipv4_ipv6_and_name_the_peers_bytes_arrive_intact() {
    let Some(socks) = Microsocks::start(&[]) else { return };
    let greeter = Greeter::start();
    let mut m = manager(proxied(Proxy::socks5(socks.addr())));
    let ids: Vec<ConnId> = ["127.0.0.1", "[::1]", "localhost"]
        .iter()
        .map(|host| m.connect(t(&format!("{host}:{}", greeter.port)), ConnectOptions::once()).unwrap())
        .collect();
    drive(&mut m, |r| ids.iter().all(|id| r.data(Peer::Outbound(*id)).len() >= 5));
    for id in &ids {
        assert_eq!(
            m.reactor().handler().data(Peer::Outbound(*id)),
            b"hello",
            "{id}: the peer's first bytes, nothing of the proxy's"
        );
    }
    let names: Vec<String> =
        m.reactor().handler().connected().iter().map(|c| c.target.as_ref().unwrap().to_string()).collect();
    assert!(names.contains(&format!("localhost:{}", greeter.port)), "shown as given: {names:?}");
    assert_eq!(m.counters().failed(), 0);
}

#[test]
fn microsocks_credentials_accepted_and_refused() {
    let Some(socks) = Microsocks::start(&["-u", "user", "-P", "pass"]) else { return };
    let greeter = Greeter::start();
    let target = t(&format!("127.0.0.1:{}", greeter.port));
    let good = Proxy::socks5(socks.addr()).with_credentials(Credentials::new("user", "pass").unwrap());
    let bad = Proxy::socks5(socks.addr()).with_credentials(Credentials::new("user", "nope").unwrap());
    let mut m = manager(Config::default());
    let ok = m.connect(target.clone(), ConnectOptions::once().via(good)).unwrap();
    let refused = m.connect(target.clone(), ConnectOptions::once().via(bad)).unwrap();
    let anonymous = m.connect(target, ConnectOptions::once().via(Proxy::socks5(socks.addr()))).unwrap();
    drive(&mut m, |r| !r.data(Peer::Outbound(ok)).is_empty() && r.dial_failures().len() == 2);
    assert!(matches!(m.reactor().handler().dial_error(refused), DialError::Proxy(ProxyError::AuthRejected(_))));
    assert_eq!(m.reactor().handler().dial_error(anonymous), DialError::Proxy(ProxyError::NoAcceptableMethod));
    assert_eq!(m.counters().failed_proxy, 2, "the proxy refused us: the proxy's failure");
}

#[test]
fn a_target_refusing_through_the_proxy_is_refused_and_a_proxy_that_is_down_is_the_proxys_fault() {
    let Some(socks) = Microsocks::start(&[]) else { return };
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut m = manager(proxied(Proxy::socks5(socks.addr())));
    let refused = m.connect(closed, ConnectOptions::once()).unwrap();
    let dead_proxy = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let down = m.connect(closed, ConnectOptions::once().via(Proxy::socks5(dead_proxy))).unwrap();
    drive(&mut m, |r| r.dial_failures().len() == 2);
    let r = m.reactor().handler();
    assert_eq!(r.dial_error(refused), DialError::Proxy(ProxyError::ConnectionRefused));
    assert_eq!(
        (r.dial_error(refused).cause(), ProxyError::ConnectionRefused.is_proxy_fault()),
        (FailureCause::Refused, false)
    );
    assert!(
        matches!(&r.dial_error(down), DialError::Proxy(ProxyError::Unreachable(e)) if e.kind() == io::ErrorKind::ConnectionRefused)
    );
    assert_eq!(r.dial_error(down).cause(), FailureCause::Proxy, "not mistaken for the peer refusing");
    let c = m.counters();
    assert_eq!((c.failed_refused, c.failed_proxy), (1, 1));
}

#[test]
fn every_reply_code_is_its_own_error() {
    let expected = [
        (1, ProxyError::GeneralFailure),
        (2, ProxyError::NotAllowed),
        (3, ProxyError::NetworkUnreachable),
        (4, ProxyError::HostUnreachable),
        (5, ProxyError::ConnectionRefused),
        (6, ProxyError::TtlExpired),
        (7, ProxyError::CommandNotSupported),
        (8, ProxyError::AddressTypeNotSupported),
        (9, ProxyError::UnknownReply(9)),
    ];
    let proxy = SocksResponder::start(expected.iter().map(|&(code, _)| Script::no_auth().reply_code(code)).collect());
    let mut m = manager(proxied(Proxy::socks5(proxy.addr())));
    // One at a time: the responder follows its scripts in connection order.
    for (code, error) in expected {
        let id = m.connect(t("192.0.2.1:8333"), ConnectOptions::once()).unwrap();
        drive(&mut m, |r| r.dial_failure(id).is_some());
        assert_eq!(m.reactor().handler().dial_error(id), DialError::Proxy(error), "reply {code}");
    }
    let c = m.counters();
    assert_eq!((c.failed_refused, c.failed_timed_out), (1, 1), "5 is the target refusing, 6 its time-out");
    assert_eq!(c.failed(), 9);
}

#[test]
fn broken_truncated_and_silent_proxies_fail_typed_within_the_connect_timeout() {
    type Check = Box<dyn Fn(&DialError) -> bool>;
    let cases: [(Script, Check); 5] = [
        (
            Script::no_auth().method(Answer::Send(vec![4, 0])),
            Box::new(|e| matches!(e, DialError::Proxy(ProxyError::BadVersion { version: 4, .. }))),
        ),
        (
            Script::no_auth().reply(Answer::Send(vec![5, 0, 1, 1, 0, 0, 0, 0, 0, 0])),
            Box::new(|e| matches!(e, DialError::Proxy(ProxyError::ReservedByte(1)))),
        ),
        (
            Script::no_auth().reply(Answer::Send(vec![5, 0, 0, 9])),
            Box::new(|e| matches!(e, DialError::Proxy(ProxyError::UnknownAddressType(9)))),
        ),
        (
            Script::no_auth().reply(Answer::SendAndClose(vec![5, 0, 0, 1, 127])),
            Box::new(|e| matches!(e, DialError::Proxy(ProxyError::Closed { received: 5, .. }))),
        ),
        (Script::no_auth().reply(Answer::Silent), Box::new(|e| *e == DialError::TimedOut(Duration::from_millis(300)))),
    ];
    let proxy = SocksResponder::start(cases.iter().map(|(s, _)| s.clone()).collect());
    let config = Config { connect_timeout: Duration::from_millis(300), ..proxied(Proxy::socks5(proxy.addr())) };
    let mut m = manager(config);
    for (i, (_, check)) in cases.iter().enumerate() {
        let id = m.connect(t("192.0.2.1:8333"), ConnectOptions::once()).unwrap();
        drive(&mut m, |r| r.dial_failure(id).is_some());
        let error = &m.reactor().handler().dial_error(id);
        assert!(check(error), "case {i}: {error:?}");
    }
    assert_eq!(m.counters().connected, 0);
}

#[test]
fn the_peers_first_bytes_in_the_replys_segment_reach_the_handler() {
    let proxy = SocksResponder::start(vec![Script::no_auth().then(Then::PeerBytes(b"version".to_vec()))]);
    let mut m = manager(proxied(Proxy::socks5(proxy.addr())));
    let id = m.connect(t("seed.example.org:8333"), ConnectOptions::once()).unwrap();
    drive(&mut m, |r| r.data(Peer::Outbound(id)).len() >= 7);
    assert_eq!(m.reactor().handler().data(Peer::Outbound(id)), b"version");
    let seen = proxy.seen();
    assert_eq!(seen[0].dest, Some(Dest::Domain("seed.example.org".into())), "the name goes unresolved");
}

#[test]
fn onions_go_to_the_tor_port_as_names_with_fresh_credentials_each_time() {
    let tor = SocksResponder::start(vec![Script::password()]);
    let config = Config { onion_proxy: Some(Proxy::tor(tor.addr())), ..Config::default() };
    let mut m = manager(config);
    let ids: Vec<ConnId> =
        (0..3).map(|i| m.connect(t(&format!("{ONION}:{}", 8333 + i)), ConnectOptions::once()).unwrap()).collect();
    drive(&mut m, |r| r.connected().len() == 3);
    let seen = tor.seen();
    let mut credentials: Vec<_> = seen.iter().map(|s| s.credentials.clone().expect("credentials sent")).collect();
    assert!(seen.iter().all(|s| s.methods == [2]), "only username/password is offered: {seen:?}");
    assert!(seen.iter().all(|s| s.dest == Some(Dest::Domain(ONION.into()))));
    credentials.sort();
    credentials.dedup();
    assert_eq!(credentials.len(), 3, "each connection its own circuit");
    let mut connected: Vec<ConnId> = m.reactor().handler().connected().iter().map(|c| c.id).collect();
    connected.sort();
    assert_eq!(connected, ids);
    // An IP address does not go to the onion proxy: with no general proxy it goes direct.
    let direct = TcpListener::bind("127.0.0.1:0").unwrap();
    let id = m.connect(direct.local_addr().unwrap(), ConnectOptions::once()).unwrap();
    drive(&mut m, |r| r.connected().iter().any(|c| c.id == id));
    assert_eq!(tor.seen().len(), 3);
}

#[test]
fn with_a_proxy_nothing_goes_direct() {
    let target = TcpListener::bind("127.0.0.1:0").unwrap();
    target.set_nonblocking(true).unwrap();
    let proxy = SocksResponder::start(vec![Script::no_auth()]);
    let mut m = manager(proxied(Proxy::socks5(proxy.addr())));
    let id = m.connect(target.local_addr().unwrap(), ConnectOptions::once()).unwrap();
    drive(&mut m, |r| r.connected().iter().any(|c| c.id == id));
    assert!(
        matches!(target.accept(), Err(e) if e.kind() == io::ErrorKind::WouldBlock),
        "the target was dialled direct"
    );
    assert_eq!(proxy.seen()[0].dest, Some(Dest::Ip("127.0.0.1".parse().unwrap())));
}

#[test]
fn onions_with_no_proxy_are_refused_at_once_on_every_layer_and_names_without_the_resolver() {
    let mut m = manager(Config::default());
    assert_eq!(
        m.connect(t(&format!("{ONION}:8333")), ConnectOptions::permanent()),
        Err(OpError::NoRoute(NoRoute::Onion))
    );
    let handle = m.handle();
    assert_eq!(
        handle.connect(t(&format!("{ONION}:8333")), ConnectOptions::once()),
        Err(OpError::NoRoute(NoRoute::Onion))
    );
    assert_eq!(m.counters().dials, 0);
    // With the `dns` feature (on for the crate's tests) a name is resolved on the reactor
    // instead (tests/dns_reactor.rs); without it, it needs a proxy.
    if !cfg!(feature = "dns") {
        let name = t("seed.example.org:8333");
        assert_eq!(m.connect(name.clone(), ConnectOptions::once()), Err(OpError::NoRoute(NoRoute::Name)));
        assert_eq!(handle.connect(name, ConnectOptions::once()), Err(OpError::NoRoute(NoRoute::Name)));
        assert_eq!(m.resolve("seed.example.org".parse().unwrap()), Err(OpError::NoRoute(NoRoute::Name)));
    }
}

#[test]
fn tor_lookups_run_on_the_reactor_and_answer_through_the_handler() {
    let v6: IpAddr = "2001:db8::7".parse().unwrap();
    let tor = SocksResponder::start(vec![
        Script::password().reply(Answer::Send(success_reply("192.0.2.7:0".parse().unwrap()))),
        Script::password().reply(Answer::Send(success_reply(SocketAddr::new(v6, 0)))),
        Script::password().reply_code(4),
        Script::password().reply(Answer::Silent),
    ]);
    let config = Config {
        onion_proxy: Some(Proxy::tor(tor.addr())),
        connect_timeout: Duration::from_millis(300),
        ..Config::default()
    };
    let mut m = manager(config);
    let mut ids = Vec::new();
    for name in ["seed.example.org", "v6.example.org", "gone.example.org", "slow.example.org"] {
        // One at a time: the responder follows its scripts in connection order.
        let id = m.resolve(name.parse().unwrap()).unwrap();
        drive(&mut m, |r| r.resolved(id).is_some());
        ids.push(id);
    }
    let r = m.reactor().handler();
    assert_eq!(r.resolved(ids[0]), Some(Ok(vec!["192.0.2.7".parse::<IpAddr>().unwrap()])));
    assert_eq!(r.resolved(ids[1]), Some(Ok(vec![v6])));
    assert_eq!(r.resolved(ids[2]), Some(Err(ResolveError::Proxy(ProxyError::HostUnreachable))));
    assert_eq!(r.resolved(ids[3]), Some(Err(ResolveError::TimedOut(Duration::from_millis(300)))));
    let seen = tor.seen();
    assert!(seen.iter().all(|s| s.command == Some(0xF0)), "RESOLVE, Tor's extension");
    assert_eq!(seen[0].dest, Some(Dest::Domain("seed.example.org".into())));
    assert_eq!(m.reactor().sockets(), 0, "every lookup's socket closed");
}

#[test]
fn stop_cancels_lookups_and_proxied_dials_and_reports_each_once() {
    let tor = SocksResponder::start(vec![Script::password().reply(Answer::Silent)]);
    let mut m = manager(Config { onion_proxy: Some(Proxy::tor(tor.addr())), ..Config::default() });
    let lookup = m.resolve("seed.example.org".parse().unwrap()).unwrap();
    let dial = m.connect(t(&format!("{ONION}:8333")), ConnectOptions::permanent()).unwrap();
    drive(&mut m, |_| tor.seen().len() == 2);
    m.stop().unwrap();
    assert_eq!(m.reactor().handler().resolved(lookup), Some(Err(ResolveError::Canceled)));
    assert_eq!(m.state(dial), Some(connmgr::ConnState::Canceled));
    assert_eq!(m.reactor().sockets(), 0);
}

// ---- Routing on simulated time -----------------------------------------------------------------

mod routing {
    use super::*;
    use connmgr::sim::{AddressSource, Outcome, Sim, Step};

    #[test]
    fn every_dial_goes_through_the_proxy_and_proxy_failures_count_apart() {
        let proxy: SocketAddr = "127.0.0.1:9050".parse().unwrap();
        let mut sim = Sim::new(Config { target_outbound: 2, ..proxied(Proxy::socks5(proxy)) }).unwrap().with_source(
            AddressSource::script(
                [Ok(t("seed.example.org:8333")), Ok(t(&format!("{ONION}:8333")))],
                AddressSource::fixed("192.0.2.1:8333".parse().unwrap()),
            ),
        );
        let down = Outcome::ProxyFails { after: Duration::ZERO, error: ProxyError::GeneralFailure };
        sim.net().set(t("seed.example.org:8333"), down);
        sim.apply(|core, now| core.start(now));
        sim.advance(Duration::from_millis(10));
        assert!(sim.dials().iter().all(|d| d.proxy == Some(proxy)), "{:?}", sim.dials());
        assert_eq!(sim.dials()[0].target, t("seed.example.org:8333"), "the name itself, unresolved");
        assert_eq!(sim.counters().failed_proxy, 1);
        assert_eq!(sim.auto_established(), 2, "the failure was replaced");
        sim.apply(|core, now| core.stop(now)).unwrap();
        sim.assert_clean_shutdown();
    }

    #[test]
    fn an_unroutable_automatic_target_is_a_failed_attempt_and_is_replaced() {
        let mut sim =
            Sim::new(Config { target_outbound: 1, ..Config::default() }).unwrap().with_source(AddressSource::script(
                [Ok(t(&format!("{ONION}:8333")))],
                AddressSource::fixed("192.0.2.1:8333".parse().unwrap()),
            ));
        sim.apply(|core, now| core.start(now));
        sim.settle();
        let onion_request = connmgr::ConnId::new(1);
        assert_eq!(
            sim.trace(onion_request),
            [Step::DialFailed(FailureCause::Other, NextStep::Replaced), Step::Ended(connmgr::ConnState::Canceled)]
        );
        assert_eq!(sim.dials().len(), 1, "never dialled: nothing can reach it");
        assert_eq!(sim.auto_established(), 1);
        sim.apply(|core, now| core.stop(now)).unwrap();
        sim.assert_clean_shutdown();
    }
}
