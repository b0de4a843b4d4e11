//! [`Recorder`], the one recording handler of the tests on real sockets: it records every
//! callback with the reactor's `now` and, as a test asks, serves addresses, reads what its
//! connections receive, greets, forwards events to another thread, and stops the manager.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::sync::mpsc::{Receiver, Sender};
use std::time::Instant;

#[cfg(feature = "dns")]
use connmgr::dns::DnsError;
#[cfg(feature = "dns")]
use connmgr::seed::SeedAddress;
use connmgr::{
    addr::HostName, AddressError, ConnId, ConnInfo, ConnState, Ctx, DialError, DisconnectReason, Handler, InboundId,
    LookupId, NextStep, OpError, Peer, Ready, ResolveError, Target,
};

use super::LIMIT;

/// Everything a [`Recorder`] saw, in callback order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ev {
    Connected(ConnInfo),
    Disconnected(ConnInfo, DisconnectReason),
    DialFailed(ConnInfo, DialError, NextStep),
    Ended(ConnInfo, ConnState),
    Accepted(InboundId, SocketAddr),
    InboundClosed(InboundId, DisconnectReason),
    /// Bytes read in one `on_ready` call (only when [`Recorder::read`] is set).
    Data(Peer, Vec<u8>),
    Timer(u64),
    /// A lookup asked for with `resolve` ended.
    Resolved(LookupId, Result<Vec<IpAddr>, ResolveError>),
    /// One DNS seed of a `seed` answered.
    #[cfg(feature = "dns")]
    Seeded(String, Result<Vec<SeedAddress>, DnsError>),
}

type StopWhen = Box<dyn FnMut(&[(Instant, Ev)]) -> bool + Send>;

/// A handler that records every callback with the reactor's `now`, optionally serves a list of
/// addresses as its address source, reads what its connections receive, writes a greeting on
/// each outbound connection, and stops the manager when a condition on the record holds.
#[derive(Default)]
pub struct Recorder {
    pub events: Vec<(Instant, Ev)>,
    /// The address source: `None` = no source; `Some(list)` = cycles through the list.
    pub addrs: Option<Vec<SocketAddr>>,
    pub addr_calls: usize,
    /// Read connections in `on_ready` (recording [`Ev::Data`]) and close them on EOF; when
    /// unset, `on_ready` does what the default does.
    pub read: bool,
    /// Written to every outbound connection in `on_connection`.
    pub greeting: Option<Vec<u8>>,
    /// Checked after every callback; when it returns true the handler calls `ctx.stop()`.
    pub stop_when: Option<StopWhen>,
    /// Gets a copy of every event, for a test thread that waits on them.
    pub tx: Option<Sender<Ev>>,
    /// `stop_when` held once and the stop was asked for.
    stop_sent: bool,
}

/// Checks the result of an operation queued from a callback: accepted, or refused because the
/// manager is stopping (a stop queued earlier, or the shutdown's own callbacks).
pub fn queued(result: Result<(), OpError>) {
    match result {
        Ok(()) | Err(OpError::Stopped) => {}
        Err(e) => panic!("a queued operation was refused: {e}"),
    }
}

impl Recorder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_addrs(addrs: Vec<SocketAddr>) -> Self {
        Recorder { addrs: Some(addrs), ..Self::default() }
    }

    pub fn reading(mut self) -> Self {
        self.read = true;
        self
    }

    pub fn stop_when(mut self, f: impl FnMut(&[(Instant, Ev)]) -> bool + Send + 'static) -> Self {
        self.stop_when = Some(Box::new(f));
        self
    }

    pub fn forwarding(mut self, tx: Sender<Ev>) -> Self {
        self.tx = Some(tx);
        self
    }

    fn push(&mut self, ctx: &mut Ctx<'_>, ev: Ev) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(ev.clone());
        }
        self.events.push((ctx.now(), ev));
        if let Some(f) = &mut self.stop_when {
            if !self.stop_sent && f(&self.events) {
                self.stop_sent = true;
                queued(ctx.stop());
            }
        }
    }

    pub fn evs(&self) -> impl Iterator<Item = &Ev> {
        self.events.iter().map(|(_, e)| e)
    }

    pub fn count(&self, f: impl Fn(&Ev) -> bool) -> usize {
        self.evs().filter(|e| f(e)).count()
    }

    pub fn connected(&self) -> Vec<ConnInfo> {
        self.evs().filter_map(|e| if let Ev::Connected(i) = e { Some(i.clone()) } else { None }).collect()
    }

    pub fn accepted(&self) -> Vec<(InboundId, SocketAddr)> {
        self.evs().filter_map(|e| if let Ev::Accepted(i, a) = e { Some((*i, *a)) } else { None }).collect()
    }

    /// Every dial failure, with the reactor time it was reported at.
    pub fn dial_failures(&self) -> Vec<(Instant, ConnInfo, DialError, NextStep)> {
        self.events
            .iter()
            .filter_map(|(t, e)| match e {
                Ev::DialFailed(i, f, n) => Some((*t, i.clone(), f.clone(), *n)),
                _ => None,
            })
            .collect()
    }

    pub fn disconnections(&self) -> Vec<(ConnInfo, DisconnectReason)> {
        self.evs()
            .filter_map(|e| if let Ev::Disconnected(i, w) = e { Some((i.clone(), w.clone())) } else { None })
            .collect()
    }

    pub fn inbound_closed(&self) -> Vec<(InboundId, DisconnectReason)> {
        self.evs().filter_map(|e| if let Ev::InboundClosed(i, w) = e { Some((*i, w.clone())) } else { None }).collect()
    }

    pub fn ended(&self) -> Vec<(ConnInfo, ConnState)> {
        self.evs().filter_map(|e| if let Ev::Ended(i, s) = e { Some((i.clone(), *s)) } else { None }).collect()
    }

    /// The last dial failure of `id`: the error, what happens next, and the reactor time it was
    /// reported at.
    pub fn dial_failure(&self, id: ConnId) -> Option<(DialError, NextStep, Instant)> {
        self.dial_failures().into_iter().rev().find(|(_, info, _, _)| info.id == id).map(|(t, _, e, n)| (e, n, t))
    }

    /// The error of the last dial failure of `id`; fails the test if it has none.
    pub fn dial_error(&self, id: ConnId) -> DialError {
        self.dial_failure(id).unwrap_or_else(|| panic!("no dial failure of {id}")).0
    }

    /// How the request `id` ended, if it has.
    pub fn end(&self, id: ConnId) -> Option<ConnState> {
        self.ended().into_iter().find(|(info, _)| info.id == id).map(|(_, state)| state)
    }

    /// The result of the lookup `id`, if it has ended.
    pub fn resolved(&self, id: LookupId) -> Option<Result<Vec<IpAddr>, ResolveError>> {
        self.evs().find_map(|e| match e {
            Ev::Resolved(i, r) if *i == id => Some(r.clone()),
            _ => None,
        })
    }

    /// Every lookup that ended.
    pub fn lookups(&self) -> usize {
        self.count(|e| matches!(e, Ev::Resolved(..)))
    }

    /// Every seed that answered, in order: its host name and its result.
    #[cfg(feature = "dns")]
    pub fn seeded(&self) -> Vec<(String, Result<Vec<SeedAddress>, DnsError>)> {
        self.evs().filter_map(|e| if let Ev::Seeded(h, r) = e { Some((h.clone(), r.clone())) } else { None }).collect()
    }

    /// All bytes read from `peer`, in order.
    pub fn data(&self, peer: Peer) -> Vec<u8> {
        self.evs()
            .filter_map(|e| match e {
                Ev::Data(p, d) if *p == peer => Some(d.as_slice()),
                _ => None,
            })
            .flatten()
            .copied()
            .collect()
    }
}

impl Handler for Recorder {
    fn new_address(&mut self, _class: connmgr::ClassId) -> Option<Result<Target, AddressError>> {
        let addrs = self.addrs.as_ref()?;
        let n = self.addr_calls;
        self.addr_calls += 1;
        Some(if addrs.is_empty() { Err(AddressError::new("no address")) } else { Ok(addrs[n % addrs.len()].into()) })
    }

    fn on_connection(&mut self, ctx: &mut Ctx<'_>, conn: &ConnInfo) {
        if let Some(greeting) = &self.greeting {
            let stream = ctx.stream(Peer::Outbound(conn.id)).expect("an established connection has a stream");
            stream.write_all(greeting).expect("a small first write fits in the socket buffer");
        }
        self.push(ctx, Ev::Connected(conn.clone()));
    }

    fn on_disconnection(&mut self, ctx: &mut Ctx<'_>, conn: &ConnInfo, reason: &DisconnectReason) {
        self.push(ctx, Ev::Disconnected(conn.clone(), reason.clone()));
    }

    fn on_dial_failed(&mut self, ctx: &mut Ctx<'_>, conn: &ConnInfo, error: &DialError, next: NextStep) {
        self.push(ctx, Ev::DialFailed(conn.clone(), error.clone(), next));
    }

    fn on_request_ended(&mut self, ctx: &mut Ctx<'_>, conn: &ConnInfo, state: ConnState) {
        self.push(ctx, Ev::Ended(conn.clone(), state));
    }

    fn on_accept(&mut self, ctx: &mut Ctx<'_>, id: InboundId, remote: SocketAddr) {
        self.push(ctx, Ev::Accepted(id, remote));
    }

    fn on_inbound_closed(&mut self, ctx: &mut Ctx<'_>, id: InboundId, reason: &DisconnectReason) {
        self.push(ctx, Ev::InboundClosed(id, reason.clone()));
    }

    fn on_ready(&mut self, ctx: &mut Ctx<'_>, peer: Peer, ready: Ready) {
        if !self.read {
            ctx.close_if_hung_up(peer, ready);
            return;
        }
        let mut got = Vec::new();
        let mut end = None;
        if let Some(stream) = ctx.stream(peer) {
            let mut buf = [0u8; 4096];
            // Bounded: a test peer sends a few bytes; WouldBlock or EOF ends it long before.
            for _ in 0..1024 {
                match stream.read(&mut buf) {
                    Ok(0) => {
                        end = Some(DisconnectReason::RemoteClosed);
                        break;
                    }
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        end = Some(DisconnectReason::from(e));
                        break;
                    }
                }
            }
        }
        if !got.is_empty() {
            self.push(ctx, Ev::Data(peer, got));
        }
        if let Some(reason) = end {
            queued(ctx.close(peer, reason));
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_>, data: u64) {
        self.push(ctx, Ev::Timer(data));
    }

    fn on_resolved(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: LookupId,
        _name: &HostName,
        result: &Result<Vec<IpAddr>, ResolveError>,
    ) {
        self.push(ctx, Ev::Resolved(id, result.clone()));
    }

    #[cfg(feature = "dns")]
    fn on_seeded(&mut self, ctx: &mut Ctx<'_>, host: &str, result: &Result<Vec<SeedAddress>, DnsError>) {
        self.push(ctx, Ev::Seeded(host.to_string(), result.clone()));
    }
}

/// Receives forwarded events until one matches `want` (returning it); fails after [`LIMIT`].
/// Events that do not match are kept in `seen`.
pub fn wait_for(rx: &Receiver<Ev>, seen: &mut Vec<Ev>, what: &str, want: impl Fn(&Ev) -> bool) -> Ev {
    if let Some(i) = seen.iter().position(&want) {
        return seen.remove(i);
    }
    let deadline = Instant::now() + LIMIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(ev) if want(&ev) => return ev,
            Ok(ev) => seen.push(ev),
            Err(e) => panic!("waiting for {what}: {e}; seen {seen:?}"),
        }
    }
}
