//! The sans-IO resolver driven over real sockets (mio, non-blocking, one thread) against real
//! DNS servers on 127.0.0.1: dnsmasq, a scripted responder and a silent socket.
//!
//! The driver below is what the reactor does for the resolver, in miniature: it performs each
//! action, feeds what arrives back, and sleeps in `poll` until the resolver's next deadline.
//! (Unit tests: the resolver is private to the crate.)

#[allow(unreachable_pub, dead_code)]
#[path = "../../../tests/support/dnsmasq.rs"]
mod dnsmasq;

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

use super::{DnsAction, DnsLookupId, QueryId, Resolved, Resolver, ResolverConfig, ResolverCounters, Want};
use crate::dns::DnsError;
use crate::seed::{seed_host, seed_outcome, DnsSeed};
use dnsmasq::{Dnsmasq, ScriptedResponder, SilentServer};
use mio::net::{TcpStream, UdpSocket};
use mio::{Events, Interest, Poll, Token};

/// No test here may run longer than this, whatever the resolver does.
const TEST_LIMIT: Duration = Duration::from_secs(20);

enum Socket {
    Udp(UdpSocket),
    Tcp { stream: TcpStream, written: usize },
}

/// A single-threaded mio driver for a `Resolver`.
struct Driver {
    poll: Poll,
    resolver: Resolver,
    sockets: HashMap<usize, (QueryId, Socket)>,
    results: HashMap<DnsLookupId, Result<Resolved, DnsError>>,
    started: Instant,
}

impl Driver {
    fn new(servers: Vec<SocketAddr>, tweak: impl FnOnce(&mut ResolverConfig)) -> Driver {
        // Generous: on a loaded machine a reply can be late, and a retry would change the counts.
        let mut config = ResolverConfig { servers, timeout: Duration::from_secs(3), attempts: 2, ..Default::default() };
        tweak(&mut config);
        Driver {
            poll: Poll::new().unwrap(),
            resolver: Resolver::new(config, crate::dns::random_seed()),
            sockets: HashMap::new(),
            results: HashMap::new(),
            started: Instant::now(),
        }
    }

    fn lookup(&mut self, name: &str, want: Want) -> DnsLookupId {
        self.resolver.lookup(Instant::now(), name, want).unwrap()
    }

    /// Resolves one name to completion.
    fn resolve(&mut self, name: &str, want: Want) -> Result<Resolved, DnsError> {
        let id = self.lookup(name, want);
        self.run(&[id]);
        self.results.remove(&id).unwrap()
    }

    /// Runs until every lookup in `ids` is done.
    fn run(&mut self, ids: &[DnsLookupId]) {
        let mut events = Events::with_capacity(64);
        loop {
            self.act();
            if ids.iter().all(|id| self.results.contains_key(id)) {
                if self.resolver.lookups_in_progress() == 0 {
                    assert!(self.sockets.is_empty(), "sockets left open");
                }
                return;
            }
            let now = Instant::now();
            assert!(now - self.started < TEST_LIMIT, "the test ran out of time");
            let wait = self.resolver.poll_timeout().map(|t| t.saturating_duration_since(now));
            let wait = wait.unwrap_or(TEST_LIMIT).min(Duration::from_millis(500));
            self.poll.poll(&mut events, Some(wait)).unwrap();
            for event in events.iter() {
                self.ready(event.token().0, event.is_writable());
                self.act();
            }
            self.resolver.handle_timeout(Instant::now());
        }
    }

    /// Performs every pending action.
    fn act(&mut self) {
        while let Some(action) = self.resolver.poll_action() {
            match action {
                DnsAction::SendUdp { query, server, .. } => {
                    let Some(msg) = self.resolver.message(query) else { continue };
                    let opened = open_udp(server).and_then(|mut s| {
                        s.send(msg)?;
                        self.poll.registry().register(&mut s, Token(query.index()), Interest::READABLE)?;
                        Ok(s)
                    });
                    match opened {
                        Ok(s) => assert!(self.sockets.insert(query.index(), (query, Socket::Udp(s))).is_none()),
                        Err(e) => self.resolver.socket_error(Instant::now(), query, e.kind()),
                    }
                }
                DnsAction::ConnectTcp { query, server, .. } => {
                    let opened = TcpStream::connect(server).and_then(|mut s| {
                        let interest = Interest::READABLE | Interest::WRITABLE;
                        self.poll.registry().register(&mut s, Token(query.index()), interest)?;
                        Ok(s)
                    });
                    match opened {
                        Ok(stream) => {
                            let socket = Socket::Tcp { stream, written: 0 };
                            assert!(self.sockets.insert(query.index(), (query, socket)).is_none());
                        }
                        Err(e) => self.resolver.socket_error(Instant::now(), query, e.kind()),
                    }
                }
                DnsAction::Close { query } => {
                    if let Some((open, mut socket)) = self.sockets.remove(&query.index()) {
                        assert_eq!(open, query, "Close names the open try");
                        let _ = match &mut socket {
                            Socket::Udp(s) => self.poll.registry().deregister(s),
                            Socket::Tcp { stream, .. } => self.poll.registry().deregister(stream),
                        };
                    }
                }
                DnsAction::Done { lookup, result } => {
                    assert!(self.results.insert(lookup, result).is_none());
                }
            }
        }
    }

    /// Reads (and for TCP, writes) whatever the socket under `index` is ready for.
    fn ready(&mut self, index: usize, writable: bool) {
        let Some((query, socket)) = self.sockets.get_mut(&index) else { return };
        let query = *query;
        let mut buf = [0u8; 4096];
        match socket {
            Socket::Udp(s) => loop {
                match s.recv_from(&mut buf) {
                    Ok((n, from)) => self.resolver.udp_received(Instant::now(), query, from, &buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                    Err(e) => return self.resolver.socket_error(Instant::now(), query, e.kind()),
                }
                if self.resolver.message(query).is_none() {
                    return; // the try is over; its Close is pending
                }
            },
            Socket::Tcp { stream, written } => {
                let msg = self.resolver.message(query).unwrap_or_default();
                if writable && *written < msg.len() {
                    if let Some(e) = stream.take_error().ok().flatten() {
                        return self.resolver.socket_error(Instant::now(), query, e.kind());
                    }
                    match stream.write(&msg[*written..]) {
                        Ok(n) => *written += n,
                        Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::NotConnected) => {}
                        Err(e) => return self.resolver.socket_error(Instant::now(), query, e.kind()),
                    }
                }
                loop {
                    match stream.read(&mut buf) {
                        Ok(0) => {
                            return self.resolver.socket_error(Instant::now(), query, io::ErrorKind::UnexpectedEof)
                        }
                        Ok(n) => self.resolver.tcp_received(Instant::now(), query, &buf[..n]),
                        Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::NotConnected) => return,
                        Err(e) => return self.resolver.socket_error(Instant::now(), query, e.kind()),
                    }
                    if self.resolver.message(query).is_none() {
                        return;
                    }
                }
            }
        }
    }

    fn counters(&self) -> ResolverCounters {
        self.resolver.counters()
    }
}

fn open_udp(server: SocketAddr) -> io::Result<UdpSocket> {
    let any: SocketAddr = if server.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse().unwrap();
    let socket = UdpSocket::bind(any)?;
    socket.connect(server)?;
    Ok(socket)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// 40 A records for one name: about 700 bytes, past the 512 a datagram may carry without EDNS.
const MANY: u8 = 40;

fn start_dnsmasq() -> Option<Dnsmasq> {
    let mut records: Vec<String> = [
        "--host-record=v4.test,127.0.0.5",
        "--host-record=v6.test,::5",
        "--host-record=both.test,127.0.0.6,::6",
        "--address=/nx.test/",
        "--cname=alias.test,both.test",
        "--cname=v4alias.test,v4.test",
        "--host-record=x9.seed.test,127.0.0.9,::9",
        "--host-record=seed2.test,127.0.0.10",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    records.extend((1..=MANY).map(|i| format!("--host-record=many.test,127.1.0.{i}")));
    Dnsmasq::start(&records)
}

#[test]
fn a_and_aaaa_answers_interleaved_ipv6_first() {
    let Some(server) = start_dnsmasq() else { return };
    let mut d = Driver::new(vec![server.addr], |_| {});
    let both = d.resolve("both.test", Want::Both).unwrap();
    assert_eq!(both.addrs, [ip("::6"), ip("127.0.0.6")]);
    assert_eq!(both.ttl, Duration::from_secs(60), "dnsmasq's --local-ttl");
    assert_eq!(d.resolve("v4.test", Want::A).unwrap().addrs, [ip("127.0.0.5")]);
    assert_eq!(d.resolve("V6.Test.", Want::Aaaa).unwrap().addrs, [ip("::5")]);
    assert_eq!(d.resolve("v4.test", Want::Both).unwrap().addrs, [ip("127.0.0.5")], "no AAAA is not a failure");
    assert_eq!(d.resolve("v4.test", Want::Aaaa), Err(DnsError::NoAddresses));
    assert_eq!(d.counters().ignored, 0);
}

#[test]
fn many_records_force_truncation_and_the_tcp_retry() {
    let Some(server) = start_dnsmasq() else { return };
    let mut d = Driver::new(vec![server.addr], |_| {});
    let many = d.resolve("many.test", Want::A).unwrap();
    let mut got: Vec<IpAddr> = many.addrs.clone();
    got.sort();
    let want: Vec<IpAddr> = (1..=MANY).map(|i| IpAddr::V4(Ipv4Addr::new(127, 1, 0, i))).collect();
    assert_eq!(got, want, "every record, which only TCP can carry");
    assert_eq!(d.counters().tcp_retries, 1);
}

#[test]
fn nxdomain_and_refused_are_typed() {
    let Some(server) = start_dnsmasq() else { return };
    let mut d = Driver::new(vec![server.addr], |_| {});
    assert_eq!(d.resolve("nx.test", Want::Both), Err(DnsError::NxDomain));
    assert_eq!(d.resolve("unknown.test", Want::A), Err(DnsError::NxDomain));
    // Outside its `test` domain, with no upstream, dnsmasq refuses.
    assert_eq!(d.resolve("seed.example.org", Want::A), Err(DnsError::Refused));
}

#[test]
fn cname_chains_in_one_answer_and_by_follow_up() {
    let Some(server) = start_dnsmasq() else { return };
    let mut d = Driver::new(vec![server.addr], |_| {});
    assert_eq!(d.resolve("alias.test", Want::Both).unwrap().addrs, [ip("::6"), ip("127.0.0.6")]);
    let before = d.counters();
    // For AAAA, dnsmasq answers v4alias.test with the CNAME alone: the resolver asks again
    // for v4.test AAAA (and learns there is none).
    assert_eq!(d.resolve("v4alias.test", Want::Both).unwrap().addrs, [ip("127.0.0.5")]);
    let after = d.counters();
    let retries = after.timeouts - before.timeouts; // 0 unless the machine is very slow
    assert_eq!(after.udp_sent - before.udp_sent - retries, 3, "A, AAAA, then AAAA of the alias's target");
}

#[test]
fn wrong_id_and_wrong_question_are_ignored_before_the_right_answer() {
    let responder = ScriptedResponder::start(Ipv4Addr::new(127, 0, 0, 77));
    let mut d = Driver::new(vec![responder.addr], |_| {});
    assert_eq!(d.resolve("scripted.test", Want::A).unwrap().addrs, [ip("127.0.0.77")]);
    assert_eq!(responder.queries(), 1);
    assert_eq!(d.counters().ignored, 2);
}

#[test]
fn a_silent_server_times_out_and_the_next_one_answers() {
    let Some(server) = start_dnsmasq() else { return };
    let silent = SilentServer::start();
    let timeout = Duration::from_millis(300);
    let mut d = Driver::new(vec![silent.addr(), server.addr], |c| c.timeout = timeout);
    let started = Instant::now();
    assert_eq!(d.resolve("v4.test", Want::A).unwrap().addrs, [ip("127.0.0.5")]);
    assert!(started.elapsed() >= timeout, "the first server had its full timeout");
    // 1, unless dnsmasq too was slower than 300 ms and the silent server got a second round.
    assert!(d.counters().timeouts >= 1);

    // With only the silent server, the lookup times out after every attempt.
    let mut alone = Driver::new(vec![silent.addr()], |c| {
        c.timeout = Duration::from_millis(100);
        c.attempts = 2;
    });
    let started = Instant::now();
    assert_eq!(alone.resolve("v4.test", Want::A), Err(DnsError::TimedOut));
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(alone.counters().timeouts, 2);
}

#[test]
fn many_seeds_at_once_with_few_sockets() {
    let Some(server) = start_dnsmasq() else { return };
    let mut d = Driver::new(vec![server.addr], |c| c.max_queries = 3);
    let seeds = [
        DnsSeed::new("seed.test", true), // asked as x9.seed.test
        DnsSeed::new("seed2.test", false),
        DnsSeed::new("many.test", false),
        DnsSeed::new("nx.test", true),
        DnsSeed::new("both.test", false),
    ];
    let lookups: Vec<(DnsLookupId, String)> = seeds
        .iter()
        .map(|seed| {
            let host = seed_host(seed, 9);
            (d.lookup(&host, Want::Both), host)
        })
        .collect();
    let ids: Vec<DnsLookupId> = lookups.iter().map(|(id, _)| *id).collect();
    d.run(&ids);
    let now = SystemTime::now();
    let mut found = HashMap::new();
    for (id, host) in &lookups {
        let ips = d.results[id].as_ref().map(|r| &r.addrs[..]).map_err(|e| e as &dyn std::fmt::Display);
        let batch = seed_outcome(host, ips, 8333, now, || 12345);
        assert!(batch.iter().all(|a| a.addr.port() == 8333 && a.services == 0));
        found.insert(host.as_str(), batch.len());
    }
    let expected =
        [("x9.seed.test", 2), ("seed2.test", 1), ("many.test", usize::from(MANY)), ("x9.nx.test", 0), ("both.test", 2)];
    assert_eq!(found, expected.into_iter().collect());
}
