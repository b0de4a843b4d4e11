//! Resolver scenarios on a simulated clock, with replies assembled by hand from the queries the
//! resolver sends.

use super::*;
use std::collections::HashMap;

const S1: &str = "192.0.2.1:53";
const S2: &str = "192.0.2.2:53";

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A resolver, a clock, and the sockets its actions opened, checked as the actions are drained.
struct Harness {
    r: Resolver,
    epoch: Instant,
    now: Instant,
    open: HashMap<QueryId, (SocketAddr, bool)>,
    max_open: usize,
}

impl Harness {
    fn new(servers: &[&str], tweak: impl FnOnce(&mut ResolverConfig)) -> Self {
        let mut config = ResolverConfig {
            servers: servers.iter().map(|s| sa(s)).collect(),
            timeout: secs(1),
            attempts: 2,
            ..ResolverConfig::default()
        };
        tweak(&mut config);
        let epoch = Instant::now();
        Harness { r: Resolver::new(config, 7), epoch, now: epoch, open: HashMap::new(), max_open: 0 }
    }

    fn at(&mut self, t: Duration) {
        self.now = self.epoch + t;
    }

    /// Every pending action; sockets are tracked (each opened once, closed once).
    fn drain(&mut self) -> Vec<DnsAction> {
        let actions: Vec<DnsAction> = std::iter::from_fn(|| self.r.poll_action()).collect();
        for action in &actions {
            match *action {
                DnsAction::SendUdp { query, server, .. } => {
                    assert!(self.open.insert(query, (server, false)).is_none(), "{query:?} opened twice");
                    assert!(self.r.message(query).is_some());
                }
                DnsAction::ConnectTcp { query, server, .. } => {
                    assert!(self.open.insert(query, (server, true)).is_none(), "{query:?} opened twice");
                }
                DnsAction::Close { query } => {
                    assert!(self.open.remove(&query).is_some(), "{query:?} closed but not open");
                }
                DnsAction::Done { .. } => {}
            }
            self.max_open = self.max_open.max(self.open.len());
        }
        actions
    }

    /// The one open UDP try (panics if there is not exactly one).
    fn only_udp(&self) -> (QueryId, SocketAddr) {
        let udp: Vec<_> = self.open.iter().filter(|(_, (_, tcp))| !tcp).collect();
        assert_eq!(udp.len(), 1, "{:?}", self.open);
        (*udp[0].0, udp[0].1 .0)
    }

    /// The open UDP try asking for `qtype`.
    fn udp_for(&self, qtype: u16) -> (QueryId, SocketAddr) {
        let found = self.open.iter().find(|(q, (_, tcp))| !tcp && question_type(self.r.message(**q).unwrap()) == qtype);
        let (q, (server, _)) = found.expect("no such query open");
        (*q, *server)
    }

    /// Answers the try `q` from its server with `reply(query bytes)`.
    fn answer(&mut self, q: QueryId, server: SocketAddr, reply: impl FnOnce(&[u8]) -> Vec<u8>) -> Vec<DnsAction> {
        let msg = reply(self.r.message(q).unwrap());
        self.r.udp_received(self.now, q, server, &msg);
        self.drain()
    }

    fn timeout(&mut self, t: Duration) -> Vec<DnsAction> {
        self.at(t);
        self.r.handle_timeout(self.now);
        self.drain()
    }
}

fn question_type(msg: &[u8]) -> u16 {
    let n = msg.len();
    u16::from_be_bytes([msg[n - 4], msg[n - 3]])
}

fn done(actions: &[DnsAction]) -> Option<(DnsLookupId, Result<Resolved, DnsError>)> {
    actions.iter().find_map(|a| match a {
        DnsAction::Done { lookup, result } => Some((*lookup, result.clone())),
        _ => None,
    })
}

fn sends(actions: &[DnsAction]) -> Vec<SocketAddr> {
    actions
        .iter()
        .filter_map(|a| match a {
            DnsAction::SendUdp { server, .. } => Some(*server),
            _ => None,
        })
        .collect()
}

/// A record for [`reply`]: owner `None` means the question's name (a pointer to offset 12).
struct Rr {
    owner: Option<&'static str>,
    rtype: u16,
    ttl: u32,
    rdata: Vec<u8>,
}

fn wire(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name.split('.') {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

fn rr_a(owner: Option<&'static str>, s: &str) -> Rr {
    let rdata = match ip(s) {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    let rtype = if rdata.len() == 4 { codec::TYPE_A } else { codec::TYPE_AAAA };
    Rr { owner, rtype, ttl: 300, rdata }
}

fn rr_cname(owner: Option<&'static str>, target: &str) -> Rr {
    Rr { owner, rtype: codec::TYPE_CNAME, ttl: 300, rdata: wire(target) }
}

/// A reply to `query`: its header and question echoed, QR and RA set, `flags` or'ed in (TC,
/// an RCODE), then `answers`.
fn reply(query: &[u8], flags: u16, answers: &[Rr]) -> Vec<u8> {
    let mut msg = query.to_vec();
    let f = u16::from_be_bytes([msg[2], msg[3]]) | 0x8080 | flags;
    msg[2..4].copy_from_slice(&f.to_be_bytes());
    msg[6..8].copy_from_slice(&(answers.len() as u16).to_be_bytes());
    for rr in answers {
        match rr.owner {
            None => msg.extend_from_slice(&[0xC0, 12]),
            Some(owner) => msg.extend_from_slice(&wire(owner)),
        }
        msg.extend_from_slice(&rr.rtype.to_be_bytes());
        msg.extend_from_slice(&1u16.to_be_bytes());
        msg.extend_from_slice(&rr.ttl.to_be_bytes());
        msg.extend_from_slice(&(rr.rdata.len() as u16).to_be_bytes());
        msg.extend_from_slice(&rr.rdata);
    }
    msg
}

fn with_addrs<'a>(addrs: &'a [&'a str]) -> impl FnOnce(&[u8]) -> Vec<u8> + 'a {
    move |q| reply(q, 0, &addrs.iter().map(|a| rr_a(None, a)).collect::<Vec<_>>())
}

fn rcode(code: u16) -> impl FnOnce(&[u8]) -> Vec<u8> {
    move |q| reply(q, code, &[])
}

#[test]
fn both_families_merge_ipv6_first_then_alternating() {
    let mut h = Harness::new(&[S1], |_| {});
    let id = h.r.lookup(h.now, "seed.example.org", Want::Both).unwrap();
    let first = h.drain();
    assert_eq!(sends(&first), [sa(S1), sa(S1)], "A and AAAA at once");
    let (a, s) = h.udp_for(codec::TYPE_A);
    let out = h.answer(a, s, with_addrs(&["192.0.2.10", "192.0.2.11", "192.0.2.12", "192.0.2.10"]));
    assert!(done(&out).is_none(), "waits for the other family");
    let (aaaa, s) = h.udp_for(codec::TYPE_AAAA);
    let out = h.answer(aaaa, s, with_addrs(&["2001:db8::1", "2001:db8::2"]));
    let (lookup, result) = done(&out).unwrap();
    assert_eq!(lookup, id);
    let addrs = result.unwrap().addrs;
    let want: Vec<IpAddr> =
        ["2001:db8::1", "192.0.2.10", "2001:db8::2", "192.0.2.11", "192.0.2.12"].iter().map(|s| ip(s)).collect();
    assert_eq!(addrs, want, "interleaved, IPv6 first, duplicates dropped");
    assert!(h.open.is_empty(), "every socket closed");
    assert_eq!(h.r.lookups_in_progress(), 0);
}

#[test]
fn timeouts_walk_the_servers_for_each_round() {
    let mut h = Harness::new(&[S1, S2], |c| c.attempts = 2);
    h.r.lookup(h.now, "seed.example.org", Want::A).unwrap();
    let mut servers = sends(&h.drain());
    let mut ids = vec![h.only_udp().0];
    let mut msg_ids = vec![h.r.message(ids[0]).unwrap()[..2].to_vec()];
    for t in 1..=3 {
        assert_eq!(h.r.poll_timeout(), Some(h.epoch + secs(t)));
        assert!(h.timeout(secs(t) - Duration::from_millis(1)).is_empty(), "not before the deadline");
        let out = h.timeout(secs(t));
        assert!(done(&out).is_none());
        servers.extend(sends(&out));
        ids.push(h.only_udp().0);
        msg_ids.push(h.r.message(h.only_udp().0).unwrap()[..2].to_vec());
    }
    assert_eq!(servers, [sa(S1), sa(S2), sa(S1), sa(S2)]);
    let out = h.timeout(secs(4));
    assert_eq!(done(&out).unwrap().1, Err(DnsError::TimedOut));
    assert!(h.open.is_empty());
    assert_eq!(h.r.counters().timeouts, 4);
    // Every try is a new socket with a new message id.
    for i in 0..ids.len() {
        for j in i + 1..ids.len() {
            assert_ne!(ids[i], ids[j]);
            assert_ne!(msg_ids[i], msg_ids[j]);
        }
    }
    assert!(ids.iter().all(|q| q.index() == ids[0].index()), "one slot for the query's tries");
}

#[test]
fn replies_with_the_wrong_id_question_or_source_are_ignored() {
    let mut h = Harness::new(&[S1], |_| {});
    h.r.lookup(h.now, "seed.example.org", Want::A).unwrap();
    h.drain();
    let (q, server) = h.only_udp();
    let good = with_addrs(&["192.0.2.9"])(h.r.message(q).unwrap());

    let mut wrong_id = good.clone();
    wrong_id[1] ^= 0x5A;
    h.r.udp_received(h.now, q, server, &wrong_id);
    let mut wrong_question = good.clone();
    wrong_question[13] = b'S' + 1; // "teed.example.org"
    h.r.udp_received(h.now, q, server, &wrong_question);
    let mut wrong_type = good.clone();
    let t = 12 + wire("seed.example.org").len();
    wrong_type[t + 1] = 28;
    h.r.udp_received(h.now, q, server, &wrong_type);
    h.r.udp_received(h.now, q, sa("192.0.2.1:5353"), &good);
    h.r.udp_received(h.now, q, sa("192.0.2.99:53"), &good);
    h.r.udp_received(h.now, QueryId { slot: q.slot, seq: q.seq.wrapping_sub(1) }, server, &good);
    h.r.udp_received(h.now, q, server, &good[..5]);
    assert!(h.drain().is_empty(), "still waiting");
    assert_eq!(h.r.counters().ignored, 7);

    // A case-changed question is still ours (RFC 4343).
    let mut upper = good.clone();
    upper[13..17].copy_from_slice(b"SEED");
    h.r.udp_received(h.now, q, server, &upper);
    assert_eq!(done(&h.drain()).unwrap().1.unwrap().addrs, [ip("192.0.2.9")]);
    // A late copy, after the try is over, is ignored too.
    h.r.udp_received(h.now, q, server, &good);
    assert!(h.drain().is_empty());
    assert_eq!(h.r.counters().ignored, 8);
}

#[test]
fn truncated_answer_is_asked_again_over_tcp_to_the_same_server() {
    let mut h = Harness::new(&[S1, S2], |_| {});
    h.r.lookup(h.now, "seed.example.org", Want::A).unwrap();
    h.drain();
    let (udp, server) = h.only_udp();
    let datagram = h.r.message(udp).unwrap().to_vec();
    h.at(Duration::from_millis(300));
    let out = h.answer(udp, server, rcode(0x0200));
    let Some(&DnsAction::ConnectTcp { query: tcp, server: to, deadline }) = out.last() else { panic!("{out:?}") };
    assert_eq!(out[0], DnsAction::Close { query: udp });
    assert_eq!((to, deadline), (sa(S1), h.now + secs(1)));
    let framed = h.r.message(tcp).unwrap();
    assert_eq!(&framed[..2], &(datagram.len() as u16).to_be_bytes());
    assert_eq!(&framed[2..], &datagram[..], "the same question, length-prefixed");

    // A datagram for the TCP try is not accepted.
    h.r.udp_received(h.now, tcp, server, &datagram);
    assert_eq!(h.r.counters().ignored, 1);

    // 40 addresses, delivered a few bytes at a time, with junk after the frame.
    let addrs: Vec<String> = (0..40).map(|i| format!("192.0.2.{i}")).collect();
    let addr_refs: Vec<&str> = addrs.iter().map(String::as_str).collect();
    let msg = with_addrs(&addr_refs)(&datagram);
    let mut stream = (msg.len() as u16).to_be_bytes().to_vec();
    stream.extend_from_slice(&msg);
    stream.extend_from_slice(b"junk");
    for chunk in stream.chunks(7) {
        h.r.tcp_received(h.now, tcp, chunk);
        if !h.open.contains_key(&tcp) {
            break;
        }
        let out = h.drain();
        if let Some((_, result)) = done(&out) {
            let resolved = result.unwrap();
            assert_eq!(resolved.addrs.len(), 40);
            assert_eq!(resolved.addrs[39], ip("192.0.2.39"));
        }
    }
    assert!(h.open.is_empty());
    assert_eq!(h.r.counters().tcp_retries, 1);
}

#[test]
fn failed_tcp_retry_moves_on_and_reports_truncation() {
    let mut h = Harness::new(&[S1, S2], |c| c.attempts = 1);
    h.r.lookup(h.now, "seed.example.org", Want::A).unwrap();
    h.drain();
    let (udp, server) = h.only_udp();
    h.answer(udp, server, rcode(0x0200));
    let (&tcp, _) = h.open.iter().next().unwrap();
    // The server closes the connection after two bytes.
    h.r.tcp_received(h.now, tcp, &[0, 200]);
    h.r.socket_error(h.now, tcp, io::ErrorKind::UnexpectedEof);
    let out = h.drain();
    assert_eq!(sends(&out), [sa(S2)], "the next server, over UDP again");
    let (udp2, server2) = h.only_udp();
    h.answer(udp2, server2, rcode(0x0200));
    let out = h.timeout(secs(1));
    assert_eq!(done(&out).unwrap().1, Err(DnsError::Truncated), "TCP timed out too");
    assert!(h.open.is_empty());
}

#[test]
fn a_cname_only_answer_is_followed_with_a_new_question() {
    let mut h = Harness::new(&[S1], |_| {});
    h.r.lookup(h.now, "www.example.org", Want::A).unwrap();
    h.drain();
    let (q, s) = h.only_udp();
    let out = h.answer(q, s, |m| {
        let mut cname = rr_cname(None, "edge.example.net");
        cname.ttl = 30;
        reply(m, 0, &[cname])
    });
    assert_eq!(out[0], DnsAction::Close { query: q });
    assert_eq!(sends(&out), [sa(S1)]);
    let (q2, s) = h.only_udp();
    let asked = h.r.message(q2).unwrap();
    assert_eq!(&asked[12..asked.len() - 4], &wire("edge.example.net")[..]);
    let out =
        h.answer(q2, s, |m| reply(m, 0, &[rr_cname(None, "a.example.net"), rr_a(Some("a.example.net"), "192.0.2.5")]));
    let resolved = done(&out).unwrap().1.unwrap();
    assert_eq!(resolved.addrs, [ip("192.0.2.5")]);
    assert_eq!(resolved.ttl, secs(30), "the smallest TTL along the whole chain");
}

#[test]
fn cname_follow_ups_are_bounded() {
    let mut h = Harness::new(&[S1], |c| c.max_cname_depth = 2);
    h.r.lookup(h.now, "loop.example", Want::A).unwrap();
    h.drain();
    let mut follow_ups = 0;
    let result = loop {
        let (q, s) = h.only_udp();
        let out = h.answer(q, s, |m| reply(m, 0, &[rr_cname(None, "loop.example")]));
        if let Some((_, result)) = done(&out) {
            break result;
        }
        follow_ups += 1;
        assert!(follow_ups <= 2);
    };
    assert_eq!(result, Err(DnsError::CnameTooDeep));
    assert_eq!(follow_ups, 2);
}

#[test]
fn nxdomain_is_final_and_servfail_asks_the_next_server() {
    let mut h = Harness::new(&[S1, S2], |_| {});
    h.r.lookup(h.now, "gone.example", Want::A).unwrap();
    h.drain();
    let (q, s) = h.only_udp();
    let out = h.answer(q, s, rcode(3));
    assert_eq!(done(&out).unwrap().1, Err(DnsError::NxDomain));
    assert!(sends(&out).is_empty(), "no other server asked");

    h.r.lookup(h.now, "flaky.example", Want::A).unwrap();
    h.drain();
    let (q, s) = h.only_udp();
    assert_eq!(sends(&h.answer(q, s, rcode(2))), [sa(S2)], "SERVFAIL: next server at once");
    let (q, s) = h.only_udp();
    assert_eq!(sends(&h.answer(q, s, rcode(5))), [sa(S1)], "REFUSED: next server, next round");
    let (q, s) = h.only_udp();
    assert_eq!(sends(&h.answer(q, s, rcode(4))), [sa(S2)], "NOTIMP too");
    let out = h.timeout(secs(1));
    assert_eq!(done(&out).unwrap().1, Err(DnsError::Rcode(4)), "a timeout says less than an error code");
}

#[test]
fn malformed_reply_and_socket_errors_move_on() {
    let mut h = Harness::new(&[S1, S2], |c| c.attempts = 1);
    h.r.lookup(h.now, "seed.example.org", Want::A).unwrap();
    h.drain();
    let (q, s) = h.only_udp();
    // Our id and question, then an answer whose rdata runs past the end.
    let out = h.answer(q, s, |m| {
        let mut msg = with_addrs(&["192.0.2.1"])(m);
        msg.truncate(msg.len() - 1);
        msg
    });
    assert_eq!(sends(&out), [sa(S2)]);
    let (q, _) = h.only_udp();
    h.r.socket_error(h.now, q, io::ErrorKind::ConnectionRefused);
    assert_eq!(done(&h.drain()).unwrap().1, Err(DnsError::Malformed), "the earlier, more telling error");

    h.r.lookup(h.now, "seed.example.org", Want::A).unwrap();
    h.drain();
    let (q, _) = h.only_udp();
    h.r.socket_error(h.now, q, io::ErrorKind::NetworkUnreachable);
    assert_eq!(sends(&h.drain()), [sa(S2)]);
    let (q, _) = h.only_udp();
    h.r.socket_error(h.now, q, io::ErrorKind::NetworkUnreachable);
    assert_eq!(done(&h.drain()).unwrap().1, Err(DnsError::Io(io::ErrorKind::NetworkUnreachable)));
}

#[test]
fn the_lookup_fails_only_if_both_families_do() {
    let mut h = Harness::new(&[S1], |c| c.attempts = 1);
    h.r.lookup(h.now, "v4only.example", Want::Both).unwrap();
    h.drain();
    let (aaaa, s) = h.udp_for(codec::TYPE_AAAA);
    h.answer(aaaa, s, |m| reply(m, 0, &[]));
    let (a, s) = h.udp_for(codec::TYPE_A);
    assert_eq!(done(&h.answer(a, s, with_addrs(&["192.0.2.3"]))).unwrap().1.unwrap().addrs, [ip("192.0.2.3")]);

    h.r.lookup(h.now, "empty.example", Want::Both).unwrap();
    h.drain();
    let (aaaa, s) = h.udp_for(codec::TYPE_AAAA);
    h.answer(aaaa, s, |m| reply(m, 0, &[]));
    let (a, s) = h.udp_for(codec::TYPE_A);
    // An A record for another name does not count.
    let out = h.answer(a, s, |m| reply(m, 0, &[rr_a(Some("other.example"), "192.0.2.4")]));
    assert_eq!(done(&out).unwrap().1, Err(DnsError::NoAddresses));

    h.r.lookup(h.now, "half.example", Want::Both).unwrap();
    h.drain();
    let (aaaa, s) = h.udp_for(codec::TYPE_AAAA);
    h.answer(aaaa, s, |m| reply(m, 0, &[]));
    let out = h.timeout(secs(1));
    assert_eq!(done(&out).unwrap().1, Err(DnsError::NoAddresses), "existence beats a timeout");
}

#[test]
fn cancel_closes_the_sockets_and_reports_nothing() {
    let mut h = Harness::new(&[S1], |_| {});
    let id = h.r.lookup(h.now, "seed.example.org", Want::Both).unwrap();
    h.drain();
    let (q, s) = h.udp_for(codec::TYPE_A);
    let late = with_addrs(&["192.0.2.1"])(h.r.message(q).unwrap());
    assert!(h.r.cancel(h.now, id));
    let out = h.drain();
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|a| matches!(a, DnsAction::Close { .. })));
    assert!(h.open.is_empty());
    assert!(!h.r.cancel(h.now, id), "already gone");
    h.r.udp_received(h.now, q, s, &late);
    assert!(h.drain().is_empty());
    assert_eq!(h.r.poll_timeout(), None);
}

#[test]
fn queries_in_flight_and_lookups_are_bounded() {
    let mut h = Harness::new(&[S1], |c| {
        c.max_queries = 2;
        c.max_lookups = 4;
    });
    let ids: Vec<DnsLookupId> = ["a.example", "b.example", "c.example", "d.example"]
        .iter()
        .map(|n| h.r.lookup(h.now, n, Want::A).unwrap())
        .collect();
    assert_eq!(h.r.lookup(h.now, "e.example", Want::A), Err(DnsError::TooManyLookups));
    assert_eq!(sends(&h.drain()).len(), 2);
    // Cancelling a waiting lookup frees nothing; cancelling a running one starts the next.
    assert!(h.r.cancel(h.now, ids[2]));
    assert!(h.drain().is_empty());
    assert!(h.r.cancel(h.now, ids[0]));
    let out = h.drain();
    assert_eq!(sends(&out).len(), 1, "d starts");
    let asked = h.open.keys().map(|&q| h.r.message(q).unwrap()[13]).collect::<std::collections::HashSet<u8>>();
    assert_eq!(asked, [b'b', b'd'].into_iter().collect());
    // Finishing one frees a slot for a new lookup.
    let (q, s) = h.udp_for(codec::TYPE_A);
    h.answer(q, s, with_addrs(&["192.0.2.1"]));
    h.r.lookup(h.now, "f.example", Want::Both).unwrap();
    assert_eq!(sends(&h.drain()).len(), 1, "one of f's two queries; the other waits");
    assert!(h.max_open <= 2);
}

#[test]
fn literals_names_and_servers() {
    let mut h = Harness::new(&[S1], |_| {});
    let id = h.r.lookup(h.now, "2001:db8::5", Want::Both).unwrap();
    assert_eq!(done(&h.drain()), Some((id, Ok(Resolved { addrs: vec![ip("2001:db8::5")], ttl: Duration::ZERO }))));
    h.r.lookup(h.now, "192.0.2.5", Want::Aaaa).unwrap();
    assert_eq!(done(&h.drain()).unwrap().1, Err(DnsError::NoAddresses));
    assert_eq!(h.r.lookup(h.now, "bad..name", Want::A), Err(DnsError::InvalidName));
    assert_eq!(h.r.lookup(h.now, "", Want::A), Err(DnsError::InvalidName));
    let mut none = Harness::new(&[], |_| {});
    assert_eq!(none.r.lookup(none.now, "seed.example.org", Want::A), Err(DnsError::NoServers));
}

#[test]
fn answers_beyond_the_cap_are_dropped_and_counted() {
    let mut h = Harness::new(&[S1], |_| {});
    h.r.lookup(h.now, "big.example", Want::A).unwrap();
    h.drain();
    let (q, s) = h.only_udp();
    let addrs: Vec<String> = (0..MAX_ANSWER_ADDRS + 6).map(|i| format!("10.0.{}.{}", i / 256, i % 256)).collect();
    let refs: Vec<&str> = addrs.iter().map(String::as_str).collect();
    let out = h.answer(q, s, with_addrs(&refs));
    assert_eq!(done(&out).unwrap().1.unwrap().addrs.len(), MAX_ANSWER_ADDRS);
    assert_eq!(h.r.counters().dropped_addrs, 6);
}

#[test]
fn deadlines_in_actions_match_poll_timeout() {
    let mut h = Harness::new(&[S1], |c| c.timeout = Duration::from_millis(1500));
    h.at(secs(2));
    h.r.lookup(h.now, "seed.example.org", Want::Both).unwrap();
    let deadlines: Vec<Instant> = h
        .drain()
        .iter()
        .filter_map(|a| match a {
            DnsAction::SendUdp { deadline, .. } => Some(*deadline),
            _ => None,
        })
        .collect();
    assert_eq!(deadlines, [h.now + Duration::from_millis(1500); 2]);
    assert_eq!(h.r.poll_timeout(), Some(deadlines[0]));
}

#[test]
fn per_query_and_per_lookup_state_stay_small() {
    // The module docs promise under 700 bytes per query in flight.
    assert!(std::mem::size_of::<Query>() < 700, "{}", std::mem::size_of::<Query>());
    assert!(std::mem::size_of::<Lookup>() <= 384, "{}", std::mem::size_of::<Lookup>());
}

/// The whole exchange, with a made-up server answer fed back in (once the doc example of a
/// public `Resolver`).
#[test]
fn the_whole_exchange_by_hand() -> Result<(), Box<dyn std::error::Error>> {
    let server = "192.0.2.53:53".parse()?;
    let now = Instant::now();
    let mut resolver = Resolver::new(ResolverConfig { servers: vec![server], ..ResolverConfig::default() }, 42);
    let lookup = resolver.lookup(now, "seed.example.org", Want::A)?;
    let Some(DnsAction::SendUdp { query, .. }) = resolver.poll_action() else { panic!() };
    // The I/O layer sends resolver.message(query) from a fresh UDP socket; the server answers:
    let mut reply = resolver.message(query).unwrap().to_vec();
    reply[2] |= 0x80; // QR: a response
    reply[7] = 1; // one answer: seed.example.org A 192.0.2.7, TTL 60
    reply.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 7]);
    resolver.udp_received(now, query, server, &reply);
    assert_eq!(resolver.poll_action(), Some(DnsAction::Close { query }));
    let Some(DnsAction::Done { lookup: done, result }) = resolver.poll_action() else { panic!() };
    assert_eq!(done, lookup);
    assert_eq!(result?.addrs, [ip("192.0.2.7")]);
    Ok(())
}

/// A blocking driver over std sockets (the reactor does the same without blocking), against a
/// stand-in server on loopback that answers every A query with 192.0.2.7 (once the module's doc
/// example).
#[test]
fn a_blocking_driver_over_std_sockets() -> Result<(), Box<dyn std::error::Error>> {
    use std::net::UdpSocket;

    let server = UdpSocket::bind("127.0.0.1:0")?;
    let config = ResolverConfig { servers: vec![server.local_addr()?], ..ResolverConfig::default() };
    std::thread::spawn(move || {
        let mut buf = [0; 512];
        while let Ok((n, from)) = server.recv_from(&mut buf) {
            let mut reply = buf[..n].to_vec();
            reply[2] |= 0x80; // a response
            reply[7] = 1; // one answer: <question's name> A 192.0.2.7
            reply.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 7]);
            let _ = server.send_to(&reply, from);
        }
    });

    let mut resolver = Resolver::new(config, crate::dns::random_seed());
    resolver.lookup(Instant::now(), "seed.example.org", Want::A)?;
    let mut socket = None;
    let addrs = loop {
        match resolver.poll_action() {
            Some(DnsAction::SendUdp { query, server, .. }) => {
                let s = UdpSocket::bind("0.0.0.0:0")?;
                s.connect(server)?;
                s.send(resolver.message(query).unwrap())?;
                s.set_read_timeout(Some(Duration::from_millis(100)))?;
                socket = Some((query, s));
            }
            Some(DnsAction::Close { .. }) => socket = None,
            Some(DnsAction::Done { result, .. }) => break result?.addrs,
            Some(other) => unreachable!("{other:?}"),
            None => {
                let (query, s) = socket.as_ref().unwrap();
                let mut buf = [0; 512];
                match s.recv_from(&mut buf) {
                    Ok((n, from)) => resolver.udp_received(Instant::now(), *query, from, &buf[..n]),
                    Err(_) => resolver.handle_timeout(Instant::now()),
                }
            }
        }
    };
    assert_eq!(addrs, [ip("192.0.2.7")]);
    Ok(())
}
