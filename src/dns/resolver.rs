//! The stub resolver's state machine: lookups in, socket work and results out, time and
//! randomness supplied by the caller.
//!
//! Shaped like the core: inputs are method calls carrying `now`, outputs are [`DnsAction`]s
//! pulled with [`Resolver::poll_action`], and [`Resolver::poll_timeout`] /
//! [`Resolver::handle_timeout`] drive the timeouts. The reactor is its only I/O layer
//! (`reactor/dns.rs`); the tests drive it by hand (`resolver/tests.rs`) and over real sockets.
//!
//! A lookup runs one query per address family. A query is a question sent to one server at a
//! time: every transmission (try) gets a fresh [`QueryId`], a fresh socket and a fresh random
//! message id, so a late answer to an earlier try lands on a closed socket, and only the one
//! outstanding try's id, question and server are accepted. Queries in flight are capped
//! ([`ResolverConfig::max_queries`]); the rest wait in order. Nothing is cached.
//!
//! # Driving it (what the reactor does)
//!
//! 1. [`Resolver::lookup`] (or [`cancel`](Resolver::cancel)), with `now`.
//! 2. Drain [`Resolver::poll_action`], in order:
//!    - `SendUdp { query, server, deadline }`: open a non-blocking UDP socket on port 0 of the
//!      server's family, `connect` it to the server (so the kernel filters other sources and
//!      reports ICMP errors), send [`Resolver::message`]`(query)`, register it for reading
//!      under [`QueryId::index`]. Failures: [`Resolver::socket_error`].
//!    - `ConnectTcp { query, server, deadline }`: start a non-blocking connect; once writable,
//!      write `message(query)` (at most 273 bytes); then read.
//!    - `Close { query }`: deregister and drop that socket (and its timer, if one per query).
//!    - `Done { lookup, result }`: hand the result to whoever asked.
//! 3. On readiness: read every datagram into a buffer of at least 512 bytes and call
//!    [`Resolver::udp_received`] with its source; read TCP bytes into
//!    [`Resolver::tcp_received`], and a read of 0 bytes (or an error) into `socket_error`
//!    (`UnexpectedEof`). Drain the actions again after each input.
//! 4. Timers: either one at [`Resolver::poll_timeout`], or one per `SendUdp`/`ConnectTcp` at its
//!    `deadline` (cancelled by the matching `Close`); either way call
//!    [`Resolver::handle_timeout`], which expires every due try.
//!
//! Seeding: look up `seed_host` of every seed with [`Want::Both`], remember which lookup is
//! which seed, and turn each `Done` into addresses as it arrives (`seed_outcome` in the reactor).

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use slab::Slab;

use super::codec::{self, Answer, Expect, Name, ParseError, QueryBuf, Reply};
use super::DnsError;
use crate::rng::Rng;
use crate::time::deadline_after;

/// Addresses taken from one answer; more are dropped (and counted in
/// [`ResolverCounters::dropped_addrs`]).
///
/// DNS seeds answer with a few dozen; this bounds what a hostile server can make a lookup hold
/// to twice this (one answer per family).
pub(crate) const MAX_ANSWER_ADDRS: usize = 64;

/// The query types, by family index.
const QTYPES: [u16; 2] = [codec::TYPE_A, codec::TYPE_AAAA];

/// What the resolver asks, whom, how patiently, and how much it takes on at once.
///
/// [`ResolverConfig::from_resolv_conf`] and [`ResolverConfig::system`] fill the first three
/// fields from `resolv.conf`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolverConfig {
    /// Servers, tried in order; their port is usually 53.
    pub servers: Vec<SocketAddr>,
    /// The wait for an answer from one server (UDP), or for a whole TCP exchange. Below 1 ms
    /// counts as 1 ms.
    pub timeout: Duration,
    /// Rounds over all servers before a query gives up (0 counts as 1).
    pub attempts: u32,
    /// Queries (sockets) in flight at once; more wait in order. Each lookup of both families
    /// is two queries. 0 counts as 1.
    pub max_queries: usize,
    /// Lookups in progress (running or waiting); more are refused with
    /// [`DnsError::TooManyLookups`].
    pub max_lookups: usize,
    /// CNAME follow-up questions per query, beyond which it fails with
    /// [`DnsError::CnameTooDeep`]. Chains inside one answer do not count.
    pub max_cname_depth: u8,
}

/// The address families a lookup asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(not(test), allow(dead_code))] // the reactor asks for both; the tests for one
pub(crate) enum Want {
    /// IPv4 only (A records).
    A,
    /// IPv6 only (AAAA records).
    Aaaa,
    /// Both, as two queries in parallel.
    Both,
}

/// A lookup, from [`Resolver::lookup`] until its [`DnsAction::Done`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct DnsLookupId {
    slot: u32,
    seq: u32,
}

/// One try of a query: one socket, one server, one message. Every retry, TCP fallback and
/// CNAME follow-up gets a new id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct QueryId {
    slot: u32,
    seq: u32,
}

impl QueryId {
    /// A small index, below [`ResolverConfig::max_queries`], that no other query in flight
    /// has: usable as a socket slot or a `mio::Token` offset. The next try of the same query
    /// reuses it, after the `Close` of the previous one.
    pub(crate) fn index(self) -> usize {
        self.slot as usize
    }
}

/// A successful lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Resolved {
    /// Addresses to try in turn: IPv6 first, then alternating families (RFC 8305 section 4),
    /// each family in its answer's order, without duplicates.
    pub(crate) addrs: Vec<IpAddr>,
    /// How long the answer may be kept: the smallest TTL of the records used.
    pub(crate) ttl: Duration,
}

/// Something the I/O layer must do, or a lookup's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DnsAction {
    /// Open a UDP socket (bound to port 0 of `server`'s family, ideally connected to it),
    /// send [`Resolver::message`] on it, then report what arrives with
    /// [`Resolver::udp_received`] or a failure with [`Resolver::socket_error`].
    SendUdp {
        /// The try, and the socket's identity.
        query: QueryId,
        /// Where to.
        server: SocketAddr,
        /// When [`Resolver::handle_timeout`] gives up on it.
        deadline: Instant,
    },
    /// Start a non-blocking TCP connection to `server`, write [`Resolver::message`] (already
    /// length-prefixed) once it is writable, then report bytes read with
    /// [`Resolver::tcp_received`] and end-of-stream or failures with [`Resolver::socket_error`].
    ConnectTcp {
        /// The try, and the socket's identity.
        query: QueryId,
        /// Where to.
        server: SocketAddr,
        /// When [`Resolver::handle_timeout`] gives up on it.
        deadline: Instant,
    },
    /// Close (deregister, then drop) this try's socket, and cancel its timer if one was armed.
    Close {
        /// The try whose socket goes.
        query: QueryId,
    },
    /// A lookup ended (not reported for cancelled lookups).
    Done {
        /// The lookup.
        lookup: DnsLookupId,
        /// Its addresses, or why there are none.
        result: Result<Resolved, DnsError>,
    },
}

/// What the resolver has seen, for logs and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ResolverCounters {
    /// Datagrams sent (one per UDP try).
    pub(crate) udp_sent: u64,
    /// TCP retries after a truncated answer.
    pub(crate) tcp_retries: u64,
    /// Tries that timed out.
    pub(crate) timeouts: u64,
    /// Messages ignored: wrong server, wrong id, not a response, wrong question, or for a try
    /// that is over.
    pub(crate) ignored: u64,
    /// Addresses beyond [`MAX_ANSWER_ADDRS`] in one answer.
    pub(crate) dropped_addrs: u64,
}

struct Lookup {
    id: DnsLookupId,
    name: Name,
    /// Queries not finished.
    pending: u8,
    /// The running query of each family, by slot.
    running: [Option<usize>; 2],
    errors: [Option<DnsError>; 2],
    addrs: Vec<IpAddr>,
    ttl: u32,
}

struct Query {
    id: QueryId,
    lookup: DnsLookupId,
    family: usize,
    qname: Name,
    depth: u8,
    /// Which try this is: server `try_index % servers`, round `try_index / servers`.
    try_index: u32,
    server: SocketAddr,
    tcp: bool,
    msg_id: u16,
    msg: QueryBuf,
    deadline: Instant,
    /// The most telling failure so far, reported if every try fails.
    error: Option<DnsError>,
    /// A TCP reply so far, length prefix included.
    tcp_in: Vec<u8>,
}

/// A non-blocking DNS stub resolver for A and AAAA records, without I/O. See the
/// [module docs](crate::dns).
///
/// The whole exchange, with a made-up server answer fed back in, is the unit test
/// `the_whole_exchange_by_hand`.
pub(crate) struct Resolver {
    config: ResolverConfig,
    rng: Rng,
    seq: u32,
    lookups: Slab<Lookup>,
    queries: Slab<Query>,
    /// Queries waiting for a slot: (lookup, family).
    waiting: VecDeque<(DnsLookupId, usize)>,
    actions: VecDeque<DnsAction>,
    scratch: [IpAddr; MAX_ANSWER_ADDRS],
    counters: ResolverCounters,
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver")
            .field("config", &self.config)
            .field("lookups", &self.lookups.len())
            .field("queries", &self.queries.len())
            .field("waiting", &self.waiting.len())
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl Resolver {
    /// A resolver for `config`, drawing message ids from a generator seeded with `seed`
    /// ([`random_seed`](crate::dns::random_seed) gives one; tests pass constants).
    pub(crate) fn new(mut config: ResolverConfig, seed: u64) -> Self {
        config.timeout = config.timeout.max(Duration::from_millis(1));
        config.attempts = config.attempts.max(1);
        config.max_queries = config.max_queries.max(1);
        Resolver {
            rng: Rng::new(seed),
            seq: 0,
            lookups: Slab::new(),
            queries: Slab::with_capacity(config.max_queries.min(1024)),
            waiting: VecDeque::new(),
            actions: VecDeque::new(),
            scratch: [IpAddr::V4(Ipv4Addr::UNSPECIFIED); MAX_ANSWER_ADDRS],
            counters: ResolverCounters::default(),
            config,
        }
    }

    /// Starts resolving `name` (a host name, taken as fully qualified; a trailing dot is
    /// allowed). The result comes later as [`DnsAction::Done`] with the returned id.
    ///
    /// An IP address literal is not sent anywhere: its `Done` is queued at once.
    ///
    /// # Errors
    ///
    /// [`DnsError::InvalidName`] for a name that cannot be encoded (empty, an empty or 64-byte
    /// label, over 255 bytes, a byte that is not printable ASCII), [`DnsError::NoServers`] with
    /// no servers configured, [`DnsError::TooManyLookups`] with
    /// [`max_lookups`](ResolverConfig::max_lookups) in progress.
    pub(crate) fn lookup(&mut self, now: Instant, name: &str, want: Want) -> Result<DnsLookupId, DnsError> {
        if let Ok(ip) = name.parse::<IpAddr>() {
            let lookup = DnsLookupId { slot: u32::MAX, seq: self.next_seq() };
            let fits = match want {
                Want::A => ip.is_ipv4(),
                Want::Aaaa => ip.is_ipv6(),
                Want::Both => true,
            };
            let result =
                if fits { Ok(Resolved { addrs: vec![ip], ttl: Duration::ZERO }) } else { Err(DnsError::NoAddresses) };
            self.actions.push_back(DnsAction::Done { lookup, result });
            return Ok(lookup);
        }
        let name = Name::from_text(name).ok_or(DnsError::InvalidName)?;
        if self.config.servers.is_empty() {
            return Err(DnsError::NoServers);
        }
        if self.lookups.len() >= self.config.max_lookups {
            return Err(DnsError::TooManyLookups);
        }
        let families: &[usize] = match want {
            Want::A => &[0],
            Want::Aaaa => &[1],
            Want::Both => &[0, 1],
        };
        let seq = self.next_seq();
        let entry = self.lookups.vacant_entry();
        let id = DnsLookupId { slot: entry.key() as u32, seq };
        entry.insert(Lookup {
            id,
            name,
            pending: families.len() as u8,
            running: [None; 2],
            errors: [None; 2],
            addrs: Vec::new(),
            ttl: u32::MAX,
        });
        log::debug!("DNS lookup of {name} ({want:?})");
        self.waiting.extend(families.iter().map(|&family| (id, family)));
        self.start_waiting(now);
        Ok(id)
    }

    /// Abandons a lookup: its sockets are closed (`Close` actions) and no `Done` follows.
    /// Returns whether it was in progress.
    pub(crate) fn cancel(&mut self, now: Instant, lookup: DnsLookupId) -> bool {
        let Some(l) = self.lookup_ref(lookup) else { return false };
        let running = l.running;
        self.lookups.remove(lookup.slot as usize);
        for slot in running.into_iter().flatten() {
            let query = self.queries.remove(slot);
            self.actions.push_back(DnsAction::Close { query: query.id });
        }
        self.waiting.retain(|&(id, _)| id != lookup);
        self.start_waiting(now);
        true
    }

    /// A datagram arrived on `query`'s socket from `from`.
    ///
    /// Anything but a reply from the try's server with its id and question is ignored (and
    /// counted), and the try keeps waiting.
    pub(crate) fn udp_received(&mut self, now: Instant, query: QueryId, from: SocketAddr, msg: &[u8]) {
        let Some(slot) = self.current(query) else {
            self.counters.ignored += 1;
            return;
        };
        let q = &self.queries[slot];
        if q.tcp || from.ip() != q.server.ip() || from.port() != q.server.port() {
            self.counters.ignored += 1;
            log::debug!("DNS: ignoring a datagram from {from} for a query to {}", q.server);
            return;
        }
        let reply = parse(q, msg, false, &mut self.scratch);
        self.on_reply(now, slot, reply, false);
        self.start_waiting(now);
    }

    /// Bytes arrived on `query`'s TCP connection, in any pieces: a reply is acted on once its
    /// whole frame is in (and anything after it is ignored).
    pub(crate) fn tcp_received(&mut self, now: Instant, query: QueryId, mut bytes: &[u8]) {
        let Some(slot) = self.current(query).filter(|&slot| self.queries[slot].tcp) else {
            self.counters.ignored += 1;
            return;
        };
        let q = &mut self.queries[slot];
        while q.tcp_in.len() < 2 {
            let Some((&b, rest)) = bytes.split_first() else { return };
            q.tcp_in.push(b);
            bytes = rest;
        }
        // At most 2 + 65,535 bytes, whatever the server announces.
        let frame = 2 + usize::from(u16::from_be_bytes([q.tcp_in[0], q.tcp_in[1]]));
        q.tcp_in.reserve_exact(frame - q.tcp_in.len());
        let take = (frame - q.tcp_in.len()).min(bytes.len());
        q.tcp_in.extend_from_slice(&bytes[..take]);
        if q.tcp_in.len() < frame {
            return;
        }
        let q = &self.queries[slot];
        let reply = parse(q, &q.tcp_in[2..], true, &mut self.scratch);
        self.on_reply(now, slot, reply, true);
        self.start_waiting(now);
    }

    /// `query`'s socket failed: it could not be opened, sent on or connected, or (TCP) the
    /// server closed it before a whole reply (`UnexpectedEof`). The query moves on to the next
    /// server.
    pub(crate) fn socket_error(&mut self, now: Instant, query: QueryId, kind: io::ErrorKind) {
        let Some(slot) = self.current(query) else { return };
        let q = &self.queries[slot];
        log::debug!("DNS query to {} ({}): {kind}", q.server, if q.tcp { "TCP" } else { "UDP" });
        let error = if q.tcp { DnsError::Truncated } else { DnsError::Io(kind) };
        self.next_try(now, slot, error);
        self.start_waiting(now);
    }

    /// Gives up on every try whose deadline is at or before `now`: each moves on to the next
    /// server, or fails.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        while let Some(slot) = self.queries.iter().find(|(_, q)| q.deadline <= now).map(|(slot, _)| slot) {
            self.counters.timeouts += 1;
            let error = if self.queries[slot].tcp { DnsError::Truncated } else { DnsError::TimedOut };
            // The next try's deadline is after `now` (the timeout is at least 1 ms), so this ends.
            self.next_try(now, slot, error);
        }
        self.start_waiting(now);
    }

    /// The earliest deadline of a try in flight, if any: call
    /// [`handle_timeout`](Self::handle_timeout) then. (Each `SendUdp` / `ConnectTcp` also
    /// carries its own deadline, for a per-socket timer instead.)
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.queries.iter().map(|(_, q)| q.deadline).min()
    }

    /// The next action, in the order they arose; `None` when there is nothing to do.
    pub(crate) fn poll_action(&mut self) -> Option<DnsAction> {
        self.actions.pop_front()
    }

    /// The bytes to send for `query`: a datagram for `SendUdp`, length-prefixed for
    /// `ConnectTcp`. `None` if the try is already over (then skip it: its `Close` follows).
    pub(crate) fn message(&self, query: QueryId) -> Option<&[u8]> {
        let q = &self.queries[self.current(query)?];
        Some(if q.tcp { q.msg.tcp() } else { q.msg.udp() })
    }

    /// Lookups running or waiting.
    #[cfg(test)]
    pub(crate) fn lookups_in_progress(&self) -> usize {
        self.lookups.len()
    }

    /// What the resolver has seen so far.
    #[cfg(test)]
    pub(crate) fn counters(&self) -> ResolverCounters {
        self.counters
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    fn lookup_ref(&self, id: DnsLookupId) -> Option<&Lookup> {
        self.lookups.get(id.slot as usize).filter(|l| l.id == id)
    }

    fn current(&self, query: QueryId) -> Option<usize> {
        let slot = query.slot as usize;
        self.queries.get(slot).filter(|q| q.id == query).map(|_| slot)
    }

    /// Gives free query slots to waiting queries, in order.
    fn start_waiting(&mut self, now: Instant) {
        while self.queries.len() < self.config.max_queries {
            let Some((lookup, family)) = self.waiting.pop_front() else { break };
            let Some(name) = self.lookup_ref(lookup).map(|l| l.name) else { continue };
            let slot = self.queries.insert(Query {
                id: QueryId { slot: 0, seq: 0 },
                lookup,
                family,
                qname: name,
                depth: 0,
                try_index: 0,
                server: self.config.servers[0],
                tcp: false,
                msg_id: 0,
                msg: QueryBuf::new(),
                deadline: now,
                error: None,
                tcp_in: Vec::new(),
            });
            self.lookups[lookup.slot as usize].running[family] = Some(slot);
            self.send(now, slot);
        }
    }

    /// Sends try `try_index` of the query in `slot` over UDP.
    fn send(&mut self, now: Instant, slot: usize) {
        let seq = self.next_seq();
        let msg_id = self.rng.next_u64() as u16;
        let servers = &self.config.servers;
        let q = &mut self.queries[slot];
        q.id = QueryId { slot: slot as u32, seq };
        q.server = servers[(q.try_index as usize) % servers.len()];
        q.tcp = false;
        q.msg_id = msg_id;
        q.msg.write(msg_id, &q.qname, QTYPES[q.family]);
        q.deadline = deadline_after(now, self.config.timeout);
        q.tcp_in = Vec::new();
        self.counters.udp_sent += 1;
        self.actions.push_back(DnsAction::SendUdp { query: q.id, server: q.server, deadline: q.deadline });
    }

    fn on_reply(&mut self, now: Instant, slot: usize, reply: Result<Reply, ParseError>, over_tcp: bool) {
        match reply {
            Err(ParseError::NotOurs | ParseError::WrongQuestion) if !over_tcp => {
                self.counters.ignored += 1;
                log::debug!("DNS: ignoring a reply from {} with another id or question", self.queries[slot].server);
            }
            // On our own TCP connection there is nobody else to blame.
            Err(_) => self.next_try(now, slot, DnsError::Malformed),
            Ok(Reply::Truncated) => self.retry_over_tcp(now, slot),
            Ok(Reply::Rcode(codec::RCODE_NXDOMAIN)) => self.finish_query(slot, Err(DnsError::NxDomain)),
            Ok(Reply::Rcode(codec::RCODE_SERVFAIL)) => self.next_try(now, slot, DnsError::ServFail),
            Ok(Reply::Rcode(codec::RCODE_REFUSED)) => self.next_try(now, slot, DnsError::Refused),
            Ok(Reply::Rcode(code)) => self.next_try(now, slot, DnsError::Rcode(code)),
            Ok(Reply::Answer(answer)) => self.answered(now, slot, answer),
        }
    }

    fn answered(&mut self, now: Instant, slot: usize, answer: Answer) {
        self.counters.dropped_addrs += answer.dropped as u64;
        let q = &self.queries[slot];
        let l = &mut self.lookups[q.lookup.slot as usize];
        l.ttl = l.ttl.min(answer.ttl);
        if answer.addrs > 0 {
            // One allocation per answer, not one per address.
            l.addrs.reserve(answer.addrs);
            for &ip in &self.scratch[..answer.addrs] {
                if !l.addrs.contains(&ip) {
                    l.addrs.push(ip);
                }
            }
            self.finish_query(slot, Ok(()));
        } else if let Some(alias) = answer.alias {
            if q.depth >= self.config.max_cname_depth {
                self.finish_query(slot, Err(DnsError::CnameTooDeep));
                return;
            }
            let q = &mut self.queries[slot];
            log::debug!("DNS: {} is an alias of {alias}", q.qname);
            self.actions.push_back(DnsAction::Close { query: q.id });
            q.qname = alias;
            q.depth += 1;
            q.try_index = 0;
            q.error = None;
            self.send(now, slot);
        } else {
            self.finish_query(slot, Err(DnsError::NoAddresses));
        }
    }

    fn retry_over_tcp(&mut self, now: Instant, slot: usize) {
        let seq = self.next_seq();
        let q = &mut self.queries[slot];
        self.actions.push_back(DnsAction::Close { query: q.id });
        q.id = QueryId { slot: slot as u32, seq };
        q.tcp = true;
        q.deadline = deadline_after(now, self.config.timeout);
        q.tcp_in = Vec::new();
        self.counters.tcp_retries += 1;
        log::debug!("DNS: truncated answer from {}, asking again over TCP", q.server);
        self.actions.push_back(DnsAction::ConnectTcp { query: q.id, server: q.server, deadline: q.deadline });
    }

    /// This try failed with `error`: the next server, the next round, or the end.
    fn next_try(&mut self, now: Instant, slot: usize, error: DnsError) {
        let tries = self.config.attempts.saturating_mul(self.config.servers.len() as u32);
        let q = &mut self.queries[slot];
        // Keep the most telling failure: a timeout says less than an error code said before it.
        if q.error.map_or(true, |old| error.rank() >= old.rank()) {
            q.error = Some(error);
        }
        q.try_index += 1;
        if q.try_index >= tries {
            let error = q.error.unwrap_or(DnsError::TimedOut);
            self.finish_query(slot, Err(error));
        } else {
            self.actions.push_back(DnsAction::Close { query: q.id });
            self.send(now, slot);
        }
    }

    /// The query in `slot` is over; its lookup ends when its last query does.
    fn finish_query(&mut self, slot: usize, result: Result<(), DnsError>) {
        let q = self.queries.remove(slot);
        self.actions.push_back(DnsAction::Close { query: q.id });
        let l = &mut self.lookups[q.lookup.slot as usize];
        l.running[q.family] = None;
        if let Err(error) = result {
            l.errors[q.family] = Some(error);
        }
        l.pending -= 1;
        if l.pending > 0 {
            return;
        }
        let l = self.lookups.remove(q.lookup.slot as usize);
        let result = if l.addrs.is_empty() {
            let worst = l.errors.into_iter().flatten().max_by_key(|e| e.rank());
            Err(worst.unwrap_or(DnsError::NoAddresses))
        } else {
            Ok(Resolved { addrs: interleave(&l.addrs), ttl: Duration::from_secs(u64::from(l.ttl)) })
        };
        match &result {
            Ok(r) => log::debug!("DNS lookup of {}: {} addresses", l.name, r.addrs.len()),
            Err(e) => log::debug!("DNS lookup of {}: {e}", l.name),
        }
        self.actions.push_back(DnsAction::Done { lookup: l.id, result });
    }
}

fn parse(q: &Query, msg: &[u8], over_tcp: bool, out: &mut [IpAddr]) -> Result<Reply, ParseError> {
    codec::parse_reply(msg, Expect { id: q.msg_id, name: &q.qname, qtype: QTYPES[q.family] }, over_tcp, out)
}

/// IPv6 first, then alternating (RFC 8305 section 4 with a First Address Family Count of 1).
///
/// RFC 8305 starts with the family RFC 6724 prefers, IPv6, unless its answer is more than the
/// Resolution Delay (50 ms) late. This resolver reports once both answers are in and does not
/// race connections, so it always starts with IPv6: the order is then the same whatever the
/// timing, and a host without IPv6 fails that first connect at once and moves on.
fn interleave(addrs: &[IpAddr]) -> Vec<IpAddr> {
    let mut six = addrs.iter().filter(|a| a.is_ipv6());
    let mut four = addrs.iter().filter(|a| a.is_ipv4());
    let mut out = Vec::with_capacity(addrs.len());
    loop {
        match (six.next(), four.next()) {
            (None, None) => return out,
            (a, b) => out.extend(a.into_iter().chain(b)),
        }
    }
}

#[cfg(test)]
mod alloc;
#[cfg(test)]
mod servers;
#[cfg(test)]
mod tests;
