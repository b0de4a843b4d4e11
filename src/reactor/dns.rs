//! The reactor's DNS (cargo feature `dns`): the sans-IO [`Resolver`] driven on the reactor's
//! own `Poll`, for host names dialled without a proxy, `resolve` without one, and `seed`.
//!
//! Nothing here has a thread or blocks. The resolver's UDP and TCP sockets are entries of the
//! reactor's socket table, under its tokens; its deadlines are one entry on the core's timer
//! wheel, moved whenever the resolver's earliest deadline moves, so an idle resolver arms
//! nothing. Nothing is allocated before the first lookup: the resolver (and the reading of
//! `/etc/resolv.conf`, unless `Config::dns` is set) waits for it.
//!
//! A lookup the core waits for (a dial's, a `resolve`'s) gets a placeholder entry in the socket
//! table; its token is the key the core holds, so the core's `Close` of it (connect timeout,
//! `remove`, stop) cancels the lookup through the path every socket takes. Once a dial's name
//! resolves, its addresses (IPv6 and IPv4 alternating, IPv6 first: RFC 8305's order, without
//! racing) are tried one connect at a time, each on a new socket the core is told of with
//! [`Core::dial_moved`](crate::core::Core::dial_moved); the connect timeout armed when the
//! dial started covers the lookup and every connect. Seeding needs no core state: each seed's
//! result goes to [`Handler::on_seeded`] when its lookup ends.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Instant, SystemTime};

use mio::net::{TcpStream, UdpSocket};
use mio::{Interest, Token};

use super::connect::{self, Progress};
use super::table::{io_key, Kind, Stage};
use super::{Ctx, Handler, Reactor};
use crate::core::{LookupId, ResolveError};
use crate::dns::{self, DnsAction, DnsError, DnsLookupId, QueryId, Resolver, ResolverConfig, Want};
use crate::error::DialError;
use crate::id::ConnId;
use crate::seed::seed_outcome;
use crate::target::HostName;
use crate::time::TimerKey;

/// A datagram reply without EDNS(0) is at most 512 bytes; a longer one is cut and fails to
/// parse, as a broken server deserves.
const UDP_BUF: usize = 512;
/// One read of a TCP reply (up to 64 KiB in all), on the stack.
const TCP_BUF: usize = 4096;

/// What a lookup in flight is for.
#[derive(Debug)]
enum Job {
    /// A dial of a host name: its request, the port, the placeholder's token.
    Dial { id: ConnId, port: u16, token: Token },
    /// A `resolve` without a proxy: the core's lookup, the placeholder's token.
    Resolve { id: LookupId, token: Token },
    /// One seed of a `seed`: the name looked up, the port its nodes get.
    Seed { host: String, port: u16 },
}

/// The resolver and what the reactor keeps beside it.
#[derive(Debug)]
pub(super) struct Dns {
    resolver: Resolver,
    /// Each query's socket, by [`QueryId::index`] (below `max_queries`).
    sockets: Vec<Option<Token>>,
    /// What each lookup in flight is for: at most `max_lookups`, searched in order (a few
    /// dozen at a time; a map would cost more code than it saves time).
    jobs: Vec<(DnsLookupId, Job)>,
    /// The wheel entry waking the reactor at the resolver's next deadline, and that deadline.
    timer: Option<(TimerKey, Instant)>,
}

impl Dns {
    fn new(config: ResolverConfig, seed: u64) -> Self {
        Dns { resolver: Resolver::new(config, seed), sockets: Vec::new(), jobs: Vec::new(), timer: None }
    }

    fn take_job(&mut self, lookup: DnsLookupId) -> Option<Job> {
        let index = self.jobs.iter().position(|(id, _)| *id == lookup)?;
        Some(self.jobs.swap_remove(index).1)
    }

    fn socket_slot(&mut self, query: QueryId) -> &mut Option<Token> {
        let index = query.index();
        if self.sockets.len() <= index {
            self.sockets.resize(index + 1, None);
        }
        &mut self.sockets[index]
    }
}

impl<H: Handler> Reactor<H> {
    /// The resolver, made at the first lookup.
    fn dns(&mut self) -> &mut Dns {
        let (config, rng) = (&mut self.dns_config, &mut self.rng);
        self.dns.get_or_insert_with(|| {
            let config = config.take().unwrap_or_else(|| {
                ResolverConfig::system().unwrap_or_else(|e| {
                    log::warn!("Cannot read /etc/resolv.conf ({e}); asking 127.0.0.1:53");
                    ResolverConfig::default()
                })
            });
            Box::new(Dns::new(config, rng.next_u64()))
        })
    }

    /// Starts a dial of a host name with no proxy: the lookup first.
    pub(super) fn dial_name(&mut self, now: Instant, id: ConnId, name: &HostName, port: u16) {
        let lookup = match self.dns().resolver.lookup(now, name.as_str(), Want::Both) {
            Ok(lookup) => lookup,
            Err(e) => return self.core.dial_failed(now, id, DialError::Dns(e)),
        };
        match self.sockets.insert(&self.registry, Kind::Resolving { lookup }, Interest::READABLE) {
            Ok(token) if self.core.dial_started(id, io_key(token)) => {
                self.dns().jobs.push((lookup, Job::Dial { id, port, token }));
            }
            Ok(token) => {
                self.sockets.close(&self.registry, token);
                self.dns().resolver.cancel(now, lookup);
            }
            Err(e) => {
                self.dns().resolver.cancel(now, lookup);
                self.core.dial_failed(now, id, e);
            }
        }
    }

    /// Starts a `resolve` with no proxy.
    pub(super) fn resolve_name(&mut self, now: Instant, id: LookupId, name: &HostName) {
        let lookup = match self.dns().resolver.lookup(now, name.as_str(), Want::Both) {
            Ok(lookup) => lookup,
            Err(e) => return self.core.lookup_done(id, Err(ResolveError::Dns(e))),
        };
        match self.sockets.insert(&self.registry, Kind::Resolving { lookup }, Interest::READABLE) {
            Ok(token) if self.core.lookup_started(id, io_key(token)) => {
                self.dns().jobs.push((lookup, Job::Resolve { id, token }));
            }
            Ok(token) => {
                self.sockets.close(&self.registry, token);
                self.dns().resolver.cancel(now, lookup);
            }
            Err(e) => {
                self.dns().resolver.cancel(now, lookup);
                self.core.lookup_done(id, Err(ResolveError::Dns(DnsError::Io(e.kind()))));
            }
        }
    }

    /// Starts the lookups of a `seed`; lookups refused at once are reported at once.
    pub(super) fn seed_hosts(&mut self, now: Instant, hosts: Vec<String>, port: u16) {
        for host in hosts {
            match self.dns().resolver.lookup(now, &host, Want::Both) {
                Ok(lookup) => self.dns().jobs.push((lookup, Job::Seed { host, port })),
                Err(e) => self.seeded(now, &host, port, Err(e)),
            }
        }
    }

    /// One seed's lookup ended: btcd's log line, then the handler.
    fn seeded(&mut self, now: Instant, host: &str, port: u16, result: Result<dns::Resolved, DnsError>) {
        let rng = &mut self.rng;
        let found = result.as_ref().map(|resolved| &resolved.addrs[..]).map_err(|e| e as &dyn fmt::Display);
        let batch = seed_outcome(host, found, port, SystemTime::now(), || rng.next_u64());
        let mut ctx = ctx_of!(self, now);
        self.handler.on_seeded(&mut ctx, host, &result.map(|_| batch));
    }

    /// The core closed the placeholder of a lookup: cancel it.
    pub(super) fn cancel_lookup(&mut self, now: Instant, lookup: DnsLookupId) {
        if let Some(dns) = self.dns.as_deref_mut() {
            dns.take_job(lookup);
            dns.resolver.cancel(now, lookup);
        }
    }

    /// Performs one resolver action; false if there was none.
    pub(super) fn step_dns(&mut self, now: Instant) -> bool {
        match self.dns.as_deref_mut().and_then(|dns| dns.resolver.poll_action()) {
            Some(action) => {
                self.perform_dns(now, action);
                true
            }
            None => false,
        }
    }

    fn perform_dns(&mut self, now: Instant, action: DnsAction) {
        match action {
            DnsAction::SendUdp { query, server, .. } => {
                if let Err(e) = self.send_udp(query, server) {
                    self.dns().resolver.socket_error(now, query, e.kind());
                }
            }
            DnsAction::ConnectTcp { query, server, .. } => {
                let opened = TcpStream::connect(server).and_then(|stream| {
                    let kind = Kind::DnsTcp { stream, query, connected: false, written: 0 };
                    self.sockets.insert(&self.registry, kind, Interest::READABLE | Interest::WRITABLE)
                });
                match opened {
                    Ok(token) => *self.dns().socket_slot(query) = Some(token),
                    Err(e) => self.dns().resolver.socket_error(now, query, e.kind()),
                }
            }
            DnsAction::Close { query } => {
                if let Some(token) = self.dns().socket_slot(query).take() {
                    self.sockets.close(&self.registry, token);
                }
            }
            DnsAction::Done { lookup, result } => match self.dns().take_job(lookup) {
                Some(Job::Dial { id, port, token }) => {
                    self.sockets.close(&self.registry, token);
                    match result {
                        Ok(resolved) => {
                            let slot = self.sockets.add_name(resolved.addrs, port);
                            self.next_address(now, id, slot, DialError::Dns(DnsError::NoAddresses));
                        }
                        Err(e) => self.core.dial_failed(now, id, DialError::Dns(e)),
                    }
                }
                Some(Job::Resolve { id, token }) => {
                    self.sockets.close(&self.registry, token);
                    self.core.lookup_done(id, result.map(|r| r.addrs).map_err(ResolveError::Dns));
                }
                Some(Job::Seed { host, port }) => self.seeded(now, &host, port, result),
                // Cancelled after it ended.
                None => {}
            },
        }
    }

    /// A UDP socket of the server's family on a port the kernel picks, connected to the
    /// server (so the kernel drops other sources and reports ICMP errors), with the query sent.
    fn send_udp(&mut self, query: QueryId, server: SocketAddr) -> io::Result<()> {
        let local = match server {
            SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
            SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
        };
        let socket = UdpSocket::bind(local)?;
        socket.connect(server)?;
        // A try cancelled in the same turn has no message: its Close follows.
        let Some(msg) = self.dns.as_deref().and_then(|dns| dns.resolver.message(query)) else { return Ok(()) };
        socket.send(msg)?;
        let token = self.sockets.insert(&self.registry, Kind::DnsUdp { socket, query }, Interest::READABLE)?;
        *self.dns().socket_slot(query) = Some(token);
        Ok(())
    }

    /// Connects a name dial to its next address, moving the core's key to the new socket;
    /// `error` is reported if none is left (the last failure).
    fn next_address(&mut self, now: Instant, id: ConnId, slot: u32, mut error: DialError) {
        while let Some(addr) = self.sockets.next_name_addr(slot) {
            log::debug!("Trying {addr} (reqid {id})");
            let stage = Stage::Name(slot);
            let opened = connect::start(addr).and_then(|stream| {
                self.sockets.insert(
                    &self.registry,
                    Kind::Outbound { stream, id, stage },
                    Interest::READABLE | Interest::WRITABLE,
                )
            });
            match opened {
                Ok(token) => {
                    if !self.core.dial_moved(id, io_key(token)) {
                        // Frees the addresses too.
                        self.sockets.close(&self.registry, token);
                    }
                    return;
                }
                Err(e) => error = DialError::Io(e.into()),
            }
        }
        self.sockets.drop_name(slot);
        self.core.dial_failed(now, id, error);
    }

    /// One address of a name dial failed: on to the next.
    pub(super) fn name_connect_failed(&mut self, now: Instant, token: Token, id: ConnId, slot: u32, error: io::Error) {
        log::debug!("An address failed (reqid {id}): {error}");
        self.sockets.keep_name(token);
        self.sockets.close(&self.registry, token);
        self.next_address(now, id, slot, DialError::Io(error.into()));
    }

    /// Readiness on one of the resolver's sockets.
    pub(super) fn dns_ready(&mut self, now: Instant, token: Token, event: &mio::event::Event) {
        let Some(dns) = self.dns.as_deref_mut() else { return };
        let resolver = &mut dns.resolver;
        let Some(entry) = self.sockets.get_mut(token) else { return };
        match &mut entry.kind {
            Kind::DnsUdp { socket, query } => {
                let query = *query;
                let mut buf = [0_u8; UDP_BUF];
                // Until WouldBlock (edge-triggered), or the try is over (its socket closes).
                while resolver.message(query).is_some() {
                    match socket.recv_from(&mut buf) {
                        Ok((n, from)) => resolver.udp_received(now, query, from, &buf[..n]),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => resolver.socket_error(now, query, e.kind()),
                    }
                }
            }
            Kind::DnsTcp { stream, query, connected, written } => {
                let query = *query;
                if !*connected {
                    let closed = event.is_error() || event.is_write_closed() || event.is_read_closed();
                    match connect::check(stream, closed) {
                        Progress::Connecting => return,
                        Progress::Failed(e) => return resolver.socket_error(now, query, e.kind()),
                        Progress::Connected => *connected = true,
                    }
                }
                while let Some(rest) = resolver.message(query).and_then(|m| m.get(usize::from(*written)..)) {
                    if rest.is_empty() {
                        break;
                    }
                    match stream.write(rest) {
                        // A query is at most 273 bytes.
                        Ok(n) => *written += n as u16,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return resolver.socket_error(now, query, e.kind()),
                    }
                }
                let mut buf = [0_u8; TCP_BUF];
                while resolver.message(query).is_some() {
                    match stream.read(&mut buf) {
                        Ok(0) => resolver.socket_error(now, query, io::ErrorKind::UnexpectedEof),
                        Ok(n) => resolver.tcp_received(now, query, &buf[..n]),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => resolver.socket_error(now, query, e.kind()),
                    }
                }
            }
            _ => {}
        }
    }

    /// Expires the resolver's due tries (after the core's timers).
    pub(super) fn dns_timeout(&mut self, now: Instant) {
        if let Some(dns) = self.dns.as_deref_mut() {
            if dns.resolver.poll_timeout().is_some_and(|at| at <= now) {
                dns.resolver.handle_timeout(now);
            }
        }
    }

    /// Moves the wheel entry to the resolver's earliest deadline, if that changed.
    pub(super) fn sync_dns_timer(&mut self) {
        let Some(dns) = self.dns.as_deref_mut() else { return };
        let want = dns.resolver.poll_timeout();
        if dns.timer.map(|(_, at)| at) == want {
            return;
        }
        if let Some((key, _)) = dns.timer.take() {
            self.core.cancel_io_timer(key);
        }
        if let Some(at) = want.filter(|_| !self.core.is_stopped()) {
            dns.timer = Some((self.core.arm_io_timer(at), at));
        }
    }

    /// The manager stops: every lookup and socket of the resolver goes (seeds still running
    /// report nothing).
    pub(super) fn shutdown_dns(&mut self) {
        let Some(dns) = self.dns.take() else { return };
        let placeholders = dns.jobs.iter().filter_map(|(_, job)| match job {
            Job::Dial { token, .. } | Job::Resolve { token, .. } => Some(*token),
            Job::Seed { .. } => None,
        });
        for token in dns.sockets.iter().flatten().copied().chain(placeholders) {
            self.sockets.close(&self.registry, token);
        }
    }
}
