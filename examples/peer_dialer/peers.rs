//! The dialer: connmgr's [`Handler`], running every connection's [`Session`] on the reactor
//! thread. It never blocks: reads go until `WouldBlock` (readiness is edge-triggered), unsent
//! bytes wait in the session's outbox for the next writable event, and the handshake deadline
//! is a manager timer per connection.
//!
//! Anything a peer does wrong ends that connection only, with `ctx.close(peer, reason)`; the
//! manager then reports it through `on_disconnection` / `on_inbound_closed`, where the
//! connection's state is dropped and the event reported, exactly once per connection.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bitcoin::p2p::ServiceFlags;
use connmgr::dns::DnsError;
use connmgr::seed::{DnsSeed, SeedAddress};
use connmgr::{
    addr::{HostName, NetGroup},
    inbound::Observation,
    outbound::ProbeKind,
    AddressError, ConnClass, ConnInfo, ConnState, Ctx, DialError, DisconnectReason, Handler, InboundId, LookupId,
    NextStep, Peer, Ready, ResolveError, Target, TimerId,
};

use crate::book::AddrBook;
use crate::protocol::{LocalInfo, ProtocolError, Session, SessionEvent};
use crate::report::{self, Report, Row, What};

/// Size of the read buffer shared by all connections.
const READ_CHUNK: usize = 64 * 1024;

/// How the dialer behaves.
#[derive(Clone, Debug)]
pub struct Options {
    /// What we say in our `version`.
    pub me: LocalInfo,
    /// How long a connection may take to complete the handshake.
    pub handshake_timeout: Duration,
    /// Automatic outbound connections wanted (the manager's `target_outbound`).
    pub target: u32,
    /// How often a feeler tests an untried address from the book; `None`: never.
    pub feeler_interval: Option<Duration>,
}

/// The timer data of the feeler timer (handshake timers count from 1).
const FEELER_TIMER: u64 = 0;

/// The services a `--dns-seed` is asked for (`x9.<seed>`), as btcd asks: NODE_NETWORK and
/// NODE_WITNESS.
pub const SEED_SERVICES: u64 = 9;

/// What the dialer looks up on the reactor thread when the manager starts: nothing blocks
/// before it, and every lookup's addresses join the book as they arrive.
#[derive(Clone, Debug, Default)]
pub struct Bootstrap {
    /// Seeds given as host names, each with its port: every address found becomes a seed.
    pub names: Vec<(HostName, u16)>,
    /// DNS seeds, asked btcd-style for nodes with [`SEED_SERVICES`].
    pub dns_seeds: Vec<DnsSeed>,
    /// The network's default port, for the nodes DNS seeds return.
    pub port: u16,
}

/// One live connection.
#[derive(Debug)]
struct Conn {
    addr: Target,
    /// What the connection is for: `automatic`, `manual`, `feeler`, `inbound`...
    class: String,
    session: Session,
    timer: Option<(TimerId, u64)>,
    since: Instant,
    rtt: Option<Duration>,
    /// A close has been asked for: ignore further readiness.
    closing: bool,
    /// Why we closed it, when we did (for the summary).
    failure: Option<&'static str>,
}

/// The handler.
#[derive(Debug)]
pub struct Dialer {
    opts: Options,
    /// The address source.
    pub book: AddrBook,
    /// The reporter.
    pub report: Report,
    /// Looked up when the manager starts.
    pub bootstrap: Bootstrap,
    /// Lookups of seed names in flight, with their port.
    lookups: HashMap<LookupId, u16>,
    conns: HashMap<Peer, Conn>,
    /// Handshake timers: the data given to `set_timer` (a serial number) to the connection.
    timers: HashMap<u64, Peer>,
    serial: u64,
    buf: Vec<u8>,
}

impl Dialer {
    /// A dialer with an empty address book (add seeds with `book.add`).
    pub fn new(opts: Options, report: Report) -> Self {
        Dialer {
            opts,
            book: AddrBook::new(10_000),
            report,
            bootstrap: Bootstrap::default(),
            lookups: HashMap::new(),
            conns: HashMap::new(),
            timers: HashMap::new(),
            serial: 0,
            buf: vec![0; READ_CHUNK],
        }
    }

    /// The options.
    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// The live connections, for the table.
    pub fn rows(&self, now: Instant) -> Vec<Row> {
        let mut rows: Vec<Row> = self
            .conns
            .iter()
            .map(|(&peer, c)| Row {
                peer,
                addr: c.addr.clone(),
                class: c.class.clone(),
                netgroup: netgroup(&c.addr),
                age: now.saturating_duration_since(c.since),
                rtt: c.rtt,
                version: c.session.peer().map(|v| (v.user_agent.clone(), v.services, v.start_height)),
                handshaken: c.session.is_handshaken(),
            })
            .collect();
        rows.sort_by_key(|r| match r.peer {
            Peer::Outbound(id) => (0, id.get()),
            Peer::Inbound(id) => (1, id.serial()),
        });
        rows
    }

    /// Addresses from DNS join the book; the automatic requests that found it empty are asked
    /// for again, up to the target.
    fn seeded(&mut self, ctx: &mut Ctx<'_>, name: &str, found: Result<Vec<SocketAddr>, String>) {
        let found = found.map(|addrs| {
            let new = addrs.iter().filter(|&&a| self.book.add(a.into())).count();
            for _ in 0..new.min(self.opts.target as usize) {
                let _ = ctx.new_conn_req();
            }
            (addrs.len(), new)
        });
        self.report.seeded(ctx.now(), name, found);
    }

    /// A connection is up: start its session (our `version` goes out now) and its deadline.
    fn open(&mut self, ctx: &mut Ctx<'_>, peer: Peer, remote: Target, class: String, what: What) {
        let now = ctx.now();
        let Some(local) = ctx.stream(peer).and_then(|s| s.local_addr().ok()) else {
            let _ = ctx.close(peer, DisconnectReason::Io(io::ErrorKind::NotConnected.into()));
            return;
        };
        // Round trips are measured with the clock itself: `ctx.now()` is read once per turn of
        // the reactor's loop, too coarse for loopback.
        // Through a proxy, the socket's peer is the proxy: `version` names the target's address
        // if it is an IP address, and no address otherwise (as Bitcoin Core does for onions).
        let remote_ip = remote.ip().unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
        let session = Session::new(&self.opts.me, local, remote_ip, Instant::now(), unix_time());
        self.serial += 1;
        // Refused only while stopping, when the deadline no longer matters.
        let timer = ctx.set_timer(self.opts.handshake_timeout, self.serial).ok().map(|key| (key, self.serial));
        self.timers.insert(self.serial, peer);
        self.report.event(now, peer, remote.clone(), what);
        let conn = Conn { addr: remote, class, session, timer, since: now, rtt: None, closing: false, failure: None };
        self.conns.insert(peer, conn);
        // Our `version` goes out now; if the peer has spoken already, `on_ready` follows at once
        // with that readiness (connmgr passes on what arrived with the connect or the accept).
        self.flush(ctx, peer);
    }

    /// Reads until `WouldBlock`, feeding the session; handles what it reports.
    fn read(&mut self, ctx: &mut Ctx<'_>, peer: Peer) {
        let mut events = Vec::new();
        loop {
            if !self.conns.get(&peer).is_some_and(|c| !c.closing) {
                return;
            }
            let Some(stream) = ctx.stream(peer) else { return };
            match stream.read(&mut self.buf) {
                Ok(0) => {
                    match self.conns.get(&peer).map(|c| c.session.closed()) {
                        Some(Err(e)) => self.fail(ctx, peer, e),
                        _ => self.close(ctx, peer, DisconnectReason::RemoteClosed),
                    }
                    return;
                }
                Ok(n) => {
                    let Some(conn) = self.conns.get_mut(&peer) else { return };
                    let result = conn.session.receive(&self.buf[..n], Instant::now(), &mut events);
                    self.handle_events(ctx, peer, &mut events);
                    if let Err(e) = result {
                        self.fail(ctx, peer, e);
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.close(ctx, peer, e.into());
                    return;
                }
            }
        }
        self.flush(ctx, peer);
    }

    /// Asks the manager to end the connection (reported later, once, by `closed`).
    fn close(&mut self, ctx: &mut Ctx<'_>, peer: Peer, reason: DisconnectReason) {
        if let Some(conn) = self.conns.get_mut(&peer).filter(|c| !c.closing) {
            conn.closing = true;
            // Refused only once the manager is stopping, which closes it anyway.
            let _ = ctx.close(peer, reason);
        }
    }

    fn handle_events(&mut self, ctx: &mut Ctx<'_>, peer: Peer, events: &mut Vec<SessionEvent>) {
        let now = ctx.now();
        for event in events.drain(..) {
            let Some(conn) = self.conns.get_mut(&peer) else { return };
            let addr = conn.addr.clone();
            match event {
                SessionEvent::Handshaken { rtt } => {
                    // What eviction weighs: a close peer, one that relays what we want.
                    let _ = ctx.observe(peer, Observation::Ping(rtt));
                    if let Some(v) = conn.session.peer() {
                        let _ = ctx.observe(peer, Observation::RelaysTransactions(v.relay));
                        let relevant = v.services.has(ServiceFlags::NETWORK);
                        let _ = ctx.observe(peer, Observation::RelevantServices(relevant));
                    }
                    if let Some((key, serial)) = conn.timer.take() {
                        ctx.cancel_timer(key);
                        self.timers.remove(&serial);
                    }
                    conn.rtt = Some(rtt);
                    let v = conn.session.peer().expect("handshaken after version");
                    let what = What::Handshaken {
                        user_agent: v.user_agent.clone(),
                        services: v.services,
                        start_height: v.start_height,
                        rtt,
                    };
                    let feeler = conn.class == "feeler";
                    self.book.mark_tried(&addr);
                    self.report.event(now, peer, addr, what);
                    if feeler {
                        // The address works: that is all a feeler asks (Bitcoin Core closes
                        // its feelers right after the version handshake).
                        self.report.stats.feelers_ok += 1;
                        self.close(ctx, peer, DisconnectReason::Requested);
                        return;
                    }
                }
                SessionEvent::Addresses(list) => {
                    let received = list.len();
                    let new = list.into_iter().filter(|a| self.book.add(a.clone())).count();
                    self.report.event(now, peer, addr, What::Learned { received, new });
                    // The address source said "nothing now" before; ask again, up to the target
                    // (the manager ignores requests beyond it).
                    for _ in 0..new.min(self.opts.target as usize) {
                        let _ = ctx.new_conn_req();
                    }
                }
                // A dialer keeps no addresses worth sharing; Bitcoin Core also ignores getaddr
                // from peers it dialled.
                SessionEvent::GetAddr => {}
                SessionEvent::Pong { rtt } => {
                    let _ = ctx.observe(peer, Observation::Ping(rtt));
                }
                SessionEvent::Announced { block } => {
                    let _ = ctx.observe(peer, if block { Observation::Block } else { Observation::Transaction });
                }
            }
        }
    }

    /// Writes the outbox until `WouldBlock`; the rest waits for the next writable event.
    fn flush(&mut self, ctx: &mut Ctx<'_>, peer: Peer) {
        let Some(conn) = self.conns.get_mut(&peer).filter(|c| !c.closing) else { return };
        while !conn.session.outbox().is_empty() {
            let Some(stream) = ctx.stream(peer) else { return };
            match stream.write(conn.session.outbox()) {
                Ok(n) => conn.session.consume(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    conn.closing = true;
                    let _ = ctx.close(peer, e.into());
                    return;
                }
            }
        }
    }

    /// The peer broke the protocol: end this connection, and only this one.
    fn fail(&mut self, ctx: &mut Ctx<'_>, peer: Peer, error: ProtocolError) {
        let Some(conn) = self.conns.get_mut(&peer).filter(|c| !c.closing) else { return };
        conn.closing = true;
        conn.failure = Some(error.label());
        log::info!("{peer} {}: {error}", conn.addr);
        if matches!(peer, Peer::Inbound(_)) && error.is_violation() {
            // A peer that dialled us and broke the protocol earns btcd's score for invalid
            // messages; past the threshold it is banned and cannot come straight back.
            let _ = ctx.misbehaving(peer, 101, 0, error.label());
        }
        let _ = ctx.close(peer, DisconnectReason::protocol(error.to_string()));
    }

    /// A connection ended (reported once by the manager): forget it and say why.
    fn closed(&mut self, ctx: &mut Ctx<'_>, peer: Peer, reason: &DisconnectReason) {
        let Some(conn) = self.conns.remove(&peer) else { return };
        if let Some((key, serial)) = conn.timer {
            ctx.cancel_timer(key);
            self.timers.remove(&serial);
        }
        let handshaken = conn.session.is_handshaken();
        let label = match (conn.failure, reason) {
            (Some(label), _) => label,
            (None, DisconnectReason::Requested) if conn.class == "feeler" => "feeler done",
            (None, DisconnectReason::ProbeDeadline) => "feeler deadline",
            (None, DisconnectReason::TimedOut(_)) => "handshake timed out",
            (None, DisconnectReason::RemoteClosed) if handshaken => "closed by peer",
            (None, DisconnectReason::RemoteClosed) => "closed by peer during handshake",
            (None, DisconnectReason::Io(_)) => "I/O error",
            (None, DisconnectReason::Shutdown) => "shutdown",
            (None, DisconnectReason::Requested) => "disconnect requested",
            (None, DisconnectReason::Removed) => "removed",
            (None, _) => "other",
        };
        // A failure: not our own doing, and not a peer leaving after a completed handshake.
        let normal_close = handshaken && matches!(reason, DisconnectReason::RemoteClosed);
        let failure = !reason.is_local() && !normal_close;
        if failure {
            self.book.rest(&conn.addr, ctx.now());
        }
        let reason = match reason {
            DisconnectReason::TimedOut(_) => format!("handshake {reason}"),
            _ => reason.to_string(),
        };
        let what = What::Disconnected { reason, label: label.into(), failure };
        self.report.event(ctx.now(), peer, conn.addr, what);
    }
}

impl Dialer {
    /// Sends a feeler to an address from the book that never completed a handshake.
    fn feel(&mut self, ctx: &mut Ctx<'_>) {
        let Some(addr) = self.book.take_untried(ctx.now()) else { return };
        match ctx.probe(addr.clone(), ProbeKind::Feeler) {
            Ok(_) => self.report.stats.feelers += 1,
            Err(e) => {
                log::debug!("no feeler to {addr}: {e}");
                self.book.release(&addr);
            }
        }
    }
}

/// The netgroup a target counts in for outbound diversity, for the table.
fn netgroup(target: &Target) -> String {
    match target {
        Target::Ip(addr) => NetGroup::of(addr.ip()).to_string(),
        Target::Name(name, _) => name.to_string(),
        _ => "onion".into(),
    }
}

impl Handler for Dialer {
    fn on_start(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(every) = self.opts.feeler_interval {
            let _ = ctx.set_timer(every, FEELER_TIMER);
        }
        for (name, port) in std::mem::take(&mut self.bootstrap.names) {
            match ctx.resolve(name.clone()) {
                Ok(id) => {
                    self.lookups.insert(id, port);
                }
                Err(e) => self.report.seeded(ctx.now(), name.as_str(), Err(e.to_string())),
            }
        }
        let seeds = std::mem::take(&mut self.bootstrap.dns_seeds);
        if !seeds.is_empty() {
            if let Err(e) = ctx.seed(&seeds, self.bootstrap.port, SEED_SERVICES) {
                log::warn!("DNS seeding refused: {e}");
            }
        }
    }

    fn on_resolved(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: LookupId,
        name: &HostName,
        result: &Result<Vec<IpAddr>, ResolveError>,
    ) {
        let Some(port) = self.lookups.remove(&id) else { return };
        let found = match result {
            Ok(ips) => Ok(ips.iter().map(|&ip| SocketAddr::new(ip, port)).collect()),
            Err(e) => Err(report::error_chain(e)),
        };
        self.seeded(ctx, name.as_str(), found);
    }

    fn on_seeded(&mut self, ctx: &mut Ctx<'_>, host: &str, result: &Result<Vec<SeedAddress>, DnsError>) {
        let found = match result {
            Ok(addrs) => Ok(addrs.iter().map(|a| a.addr).collect()),
            Err(e) => Err(e.to_string()),
        };
        self.seeded(ctx, host, found);
    }

    fn new_address(&mut self, _class: connmgr::ClassId) -> Option<Result<Target, AddressError>> {
        // `None` rather than `Err` when the book has nothing to offer: no request is made and no
        // failure is counted, so the manager does not burn through `max_failed_attempts`
        // replacements in a burst and then throttle the very requests that addresses arriving
        // a millisecond later would fill. New addresses call `new_conn_req` instead.
        self.book.take(Instant::now()).map(Ok)
    }

    fn on_connection(&mut self, ctx: &mut Ctx<'_>, conn: &ConnInfo) {
        let Some(addr) = conn.target.clone() else { return };
        let what = What::Connected { permanent: conn.permanent, class: conn.class };
        let class = match conn.class {
            ConnClass::Manual if conn.permanent => "permanent".to_string(),
            other => other.to_string(),
        };
        self.open(ctx, Peer::Outbound(conn.id), addr, class, what);
    }

    fn on_disconnection(&mut self, ctx: &mut Ctx<'_>, conn: &ConnInfo, reason: &DisconnectReason) {
        self.closed(ctx, Peer::Outbound(conn.id), reason);
    }

    fn on_dial_failed(&mut self, ctx: &mut Ctx<'_>, conn: &ConnInfo, error: &DialError, next: NextStep) {
        let Some(addr) = conn.target.clone() else { return };
        let now = ctx.now();
        let what = match error {
            // Not dialled: offer other addresses first for a while.
            DialError::NetgroupFull => {
                self.book.defer(&addr, now);
                What::Skipped { reason: format!("{} already has an automatic peer", netgroup(&addr)) }
            }
            // connmgr remembers that it failed: the book lets it rest too.
            DialError::RecentlyFailed | DialError::Banned => {
                self.book.rest(&addr, now);
                What::Skipped { reason: error.to_string() }
            }
            // A failed dial: connmgr's failure memory keeps automatic requests away from it; a
            // failed feeler's address rests in the book, so the next feeler tests another.
            _ => {
                if matches!(conn.class, ConnClass::Probe(_)) {
                    self.book.rest(&addr, now);
                }
                What::DialFailed { error: report::error_chain(error), label: report::failure_label(error), next }
            }
        };
        self.report.event(now, Peer::Outbound(conn.id), addr, what);
    }

    fn on_network(&mut self, ctx: &mut Ctx<'_>, online: bool) {
        let at = report::fmt_secs(ctx.now().saturating_duration_since(self.report.start()));
        let what = if online { "back online" } else { "offline: holding dials, charging no peer" };
        if self.report.echoes() {
            println!("[{at:>8}] network {what}");
        }
    }

    fn on_request_ended(&mut self, _ctx: &mut Ctx<'_>, conn: &ConnInfo, _state: ConnState) {
        if let Some(addr) = &conn.target {
            self.book.release(addr);
        }
    }

    fn on_accept(&mut self, ctx: &mut Ctx<'_>, id: InboundId, remote: SocketAddr) {
        self.open(ctx, Peer::Inbound(id), remote.into(), "inbound".into(), What::Accepted);
    }

    fn on_inbound_closed(&mut self, ctx: &mut Ctx<'_>, id: InboundId, reason: &DisconnectReason) {
        self.closed(ctx, Peer::Inbound(id), reason);
    }

    fn on_ready(&mut self, ctx: &mut Ctx<'_>, peer: Peer, ready: Ready) {
        if !self.conns.contains_key(&peer) {
            ctx.close_if_hung_up(peer, ready);
            return;
        }
        if ready.is_readable() || ready.is_read_closed() || ready.is_error() {
            // A pending socket error surfaces as the read's error.
            self.read(ctx, peer);
        }
        if ready.is_writable() {
            self.flush(ctx, peer);
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_>, data: u64) {
        if data == FEELER_TIMER {
            self.feel(ctx);
            if let Some(every) = self.opts.feeler_interval {
                let _ = ctx.set_timer(every, FEELER_TIMER);
            }
            return;
        }
        let Some(peer) = self.timers.remove(&data) else { return };
        let Some(conn) = self.conns.get_mut(&peer) else { return };
        conn.timer = None;
        if conn.closing || conn.session.is_handshaken() {
            return;
        }
        conn.closing = true;
        log::info!("{peer} {}: no handshake within {:?}", conn.addr, self.opts.handshake_timeout);
        let _ = ctx.close(peer, DisconnectReason::TimedOut(self.opts.handshake_timeout));
    }
}

fn unix_time() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}
