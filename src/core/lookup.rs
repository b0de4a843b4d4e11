//! Name lookups on the reactor: btcd's `TorLookupIP` (a SOCKS5 RESOLVE through Tor) as an
//! operation whose answer arrives as an event, under the same deadline rules as a dial.
//!
//! The core keeps each lookup in flight (its name, socket, deadline) and reports it exactly once
//! ([`Event::Resolved`](super::Event::Resolved)): answered, failed, timed out, or cancelled by
//! stop.

use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::{Action, Core, Event, IoKey, Timer};
use crate::error::OpError;
use crate::proxy::{NoRoute, ProxyError};
use crate::target::HostName;
use crate::time::TimerKey;

/// A name lookup, as `resolve` returns it: numbered from 1, never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LookupId(u64);

impl LookupId {
    pub(crate) fn new(raw: u64) -> Self {
        LookupId(raw)
    }

    /// The raw number.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for LookupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "lookup{}", self.0)
    }
}

/// Why a lookup has no answer.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResolveError {
    /// The proxy was unreachable, misbehaved, or could not resolve the name (Tor answers "host
    /// unreachable" for a name that does not exist).
    Proxy(ProxyError),
    /// No answer within the connect timeout.
    TimedOut(Duration),
    /// The manager stopped first.
    Canceled,
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResolveError::Proxy(e) => fmt::Display::fmt(e, f),
            ResolveError::TimedOut(d) => write!(f, "lookup timed out after {d:?}"),
            ResolveError::Canceled => f.write_str("lookup canceled"),
        }
    }
}

impl std::error::Error for ResolveError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ResolveError::Proxy(e) => e.source(),
            _ => None,
        }
    }
}

impl From<ProxyError> for ResolveError {
    fn from(e: ProxyError) -> Self {
        ResolveError::Proxy(e)
    }
}

/// A lookup in flight.
#[derive(Debug)]
pub(crate) struct Lookup {
    id: LookupId,
    name: HostName,
    io: Option<IoKey>,
    timer: Option<TimerKey>,
}

impl Core {
    /// [`Reactor::resolve`](crate::Reactor::resolve).
    pub fn resolve(&mut self, now: Instant, name: HostName) -> Result<LookupId, OpError> {
        self.check_resolve()?;
        let id = LookupId(self.lookup_ids.next_id().get());
        self.resolve_with_id(now, id, name)?;
        Ok(id)
    }

    /// What `resolve` can refuse at once.
    pub(crate) fn check_resolve(&self) -> Result<(), OpError> {
        if self.stopped {
            return Err(OpError::Stopped);
        }
        self.routes.lookup_proxy().map(drop).ok_or(OpError::NoRoute(NoRoute::Name))
    }

    pub(crate) fn resolve_with_id(&mut self, now: Instant, id: LookupId, name: HostName) -> Result<(), OpError> {
        self.check_resolve()?;
        let proxy = self.routes.lookup_proxy().ok_or(OpError::NoRoute(NoRoute::Name))?;
        let entry = self.lookups.vacant_entry();
        let slot = super::slot_u32(entry.key());
        let deadline =
            self.clock.deadline_tick(crate::time::deadline_after(now, self.connect_timeout)).max(self.floor_tick);
        let timer = self.wheel.insert(deadline, Timer::Lookup(slot));
        entry.insert(Lookup { id, name: name.clone(), io: None, timer: Some(timer) });
        log::debug!("Resolving {name} through {proxy} ({id})");
        self.actions.push_back(Action::Resolve { id, name, proxy });
        Ok(())
    }

    /// The I/O layer opened `io` for [`Action::Resolve`]; false if the lookup is gone (close it).
    pub fn lookup_started(&mut self, id: LookupId, io: IoKey) -> bool {
        match self.lookup_slot(id) {
            Some(slot) if self.lookups[slot].io.is_none() => {
                self.lookups[slot].io = Some(io);
                true
            }
            _ => false,
        }
    }

    /// The lookup's answer (or failure) arrived; its socket is already closed.
    pub fn lookup_done(&mut self, id: LookupId, result: Result<Vec<IpAddr>, ResolveError>) {
        let Some(slot) = self.lookup_slot(id) else {
            log::debug!("Ignoring the answer of finished {id}");
            return;
        };
        let mut lookup = self.lookups.remove(slot);
        if let Some(timer) = lookup.timer.take() {
            self.wheel.cancel(timer);
        }
        self.report_lookup(lookup, result);
    }

    pub(super) fn lookup_timed_out(&mut self, slot: usize) {
        let mut lookup = self.lookups.remove(slot);
        lookup.timer = None;
        if let Some(io) = lookup.io.take() {
            self.actions.push_back(Action::Close { io });
        }
        self.report_lookup(lookup, Err(ResolveError::TimedOut(self.connect_timeout)));
    }

    /// Ends every lookup in flight: the manager stops.
    pub(super) fn cancel_lookups(&mut self) {
        let mut all: Vec<Lookup> = self.lookups.drain().collect();
        all.sort_unstable_by_key(|l| l.id);
        for mut lookup in all {
            if let Some(timer) = lookup.timer.take() {
                self.wheel.cancel(timer);
            }
            if let Some(io) = lookup.io.take() {
                self.actions.push_back(Action::Close { io });
            }
            self.report_lookup(lookup, Err(ResolveError::Canceled));
        }
    }

    fn report_lookup(&mut self, lookup: Lookup, result: Result<Vec<IpAddr>, ResolveError>) {
        match &result {
            Ok(ips) => log::debug!("{} resolved {} to {:?}", lookup.id, lookup.name, ips),
            Err(e) => log::debug!("{} of {} failed: {}", lookup.id, lookup.name, e),
        }
        self.actions.push_back(Action::Event(Event::Resolved { id: lookup.id, name: lookup.name, result }));
    }

    fn lookup_slot(&self, id: LookupId) -> Option<usize> {
        self.lookups.iter().find(|(_, l)| l.id == id).map(|(slot, _)| slot)
    }
}
