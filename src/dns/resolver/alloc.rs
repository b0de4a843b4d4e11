//! The resolver allocates nothing per packet in steady state: ignored datagrams, timeouts and
//! retries cost no allocation, and a lookup allocates only its result addresses.
//!
//! A unit test (the resolver is private), so the allocator that counts is the lib test binary's
//! global one. It counts only on a thread that asks, so the other unit tests never see it. The
//! library forbids `unsafe` outside its tests; this file's allocator is the exception.

#[allow(unsafe_code, unreachable_pub, dead_code)]
#[path = "../../../tests/support/counting_alloc.rs"]
mod counting_alloc;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::{DnsAction, QueryId, Resolver, ResolverConfig, Want};
use counting_alloc::{count_allocs, CountingAlloc};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// `query` answered with one record of its type holding `rdata` (4 bytes: A, 16: AAAA).
fn reply(query: &[u8], rdata: &[u8]) -> Vec<u8> {
    let mut msg = query.to_vec();
    msg[2] |= 0x80;
    msg[7] = 1;
    let qtype = [query[query.len() - 4], query[query.len() - 3]];
    msg.extend_from_slice(&[0xC0, 12, qtype[0], qtype[1], 0, 1, 0, 0, 0, 60, 0, rdata.len() as u8]);
    msg.extend_from_slice(rdata);
    msg
}

/// The open tries, from draining the actions (nothing is allocated while draining once the
/// caller's vector has room).
fn drain(r: &mut Resolver, open: &mut Vec<(QueryId, SocketAddr)>, done: &mut usize) {
    while let Some(action) = r.poll_action() {
        match action {
            DnsAction::SendUdp { query, server, .. } => open.push((query, server)),
            DnsAction::Close { query } => open.retain(|(q, _)| *q != query),
            DnsAction::Done { result, .. } => {
                assert_eq!(result.unwrap().addrs.len(), 2);
                *done += 1;
            }
            DnsAction::ConnectTcp { .. } => unreachable!(),
        }
    }
}

/// One lookup of both families: a wrong-id reply, a timeout moving both queries to the second
/// server, then the answers. Returns the allocations made by (a) everything but the answers
/// and (b) the two answers.
fn cycle(r: &mut Resolver, t0: Instant) -> (u64, u64) {
    let mut open = Vec::with_capacity(8);
    let mut done = 0;
    let ((), before_answers) = count_allocs(|| {
        r.lookup(t0, "seed.example.org", Want::Both).unwrap();
        drain(r, &mut open, &mut done);
    });
    let (q, server) = open[0];
    let mut wrong = reply(r.message(q).unwrap(), &[192, 0, 2, 1]);
    wrong[0] ^= 0xFF;
    let ((), ignored_and_retry) = count_allocs(|| {
        r.udp_received(t0, q, server, &wrong);
        r.handle_timeout(t0 + Duration::from_secs(1));
        drain(r, &mut open, &mut done);
    });
    let replies: Vec<(QueryId, SocketAddr, Vec<u8>)> = open
        .iter()
        .map(|&(q, s)| {
            let msg = r.message(q).unwrap();
            let rdata: &[u8] = if msg[msg.len() - 3] == 1 {
                &[192, 0, 2, 1]
            } else {
                &[0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
            };
            (q, s, reply(msg, rdata))
        })
        .collect();
    let later = t0 + Duration::from_millis(1500);
    let ((), answers) = count_allocs(|| {
        for (q, s, msg) in &replies {
            r.udp_received(later, *q, *s, msg);
        }
        drain(r, &mut open, &mut done);
    });
    assert_eq!(done, 1);
    assert!(open.is_empty());
    (before_answers + ignored_and_retry, answers)
}

#[test]
fn packets_timeouts_and_retries_allocate_nothing_in_steady_state() {
    let servers = vec!["192.0.2.53:53".parse().unwrap(), "192.0.2.54:53".parse().unwrap()];
    let config = ResolverConfig { servers, timeout: Duration::from_secs(1), ..ResolverConfig::default() };
    let mut r = Resolver::new(config, 1);
    let t0 = Instant::now();
    cycle(&mut r, t0); // warm-up: queues and slabs reach their size
    for i in 1..=3 {
        let (io, answers) = cycle(&mut r, t0 + Duration::from_secs(10 * i));
        assert_eq!(io, 0, "lookup, ignored reply, timeout and retry allocate nothing");
        // The lookup's address list (once per answer) and its ordered result.
        assert!(answers <= 3, "{answers} allocations for one lookup's results");
    }
}
