//! Name lookups on the reactor: btcd's `TorLookupIP` (a SOCKS5 RESOLVE through Tor), or with no
//! proxy and the `dns` feature the I/O layer's own DNS resolver, as an operation whose answer
//! arrives as an event, under the same deadline rules as a dial.
//!
//! The core keeps each lookup in flight (its name, socket, deadline) and reports it exactly once
//! ([`Event::Resolved`](super::Event::Resolved)): answered, failed, timed out, or cancelled by
//! stop. A DNS lookup has no socket of its own; the I/O layer gives it a key all the same, and
//! the `Close` of that key cancels it.
//!
//! Also here, for host names dialled without a proxy: [`Core::dial_moved`], which lets one dial
//! go through several sockets (one per address) under one connect timeout, and the wheel entry
//! that wakes the I/O layer for its resolver's own deadlines.

use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::{Action, Core, Event, IoKey, Timer};
use crate::error::OpError;
#[cfg(feature = "dns")]
use crate::id::ConnId;
use crate::proxy::ProxyError;
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
    /// The DNS resolver failed (no proxy; the `dns` feature).
    #[cfg(feature = "dns")]
    Dns(crate::dns::DnsError),
    /// The name, of this many bytes, is empty or longer than the 255 a SOCKS5 `RESOLVE` carries:
    /// from the blocking `tor_lookup_ip` only (feature `blocking`), which takes any text as btcd
    /// does; `resolve` takes a checked `HostName`.
    #[cfg(feature = "blocking")]
    NameLength(usize),
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResolveError::Proxy(e) => fmt::Display::fmt(e, f),
            ResolveError::TimedOut(d) => write!(f, "lookup timed out after {d:?}"),
            ResolveError::Canceled => f.write_str("lookup canceled"),
            #[cfg(feature = "dns")]
            ResolveError::Dns(e) => fmt::Display::fmt(e, f),
            #[cfg(feature = "blocking")]
            ResolveError::NameLength(0) => f.write_str("empty host name for tor resolve"),
            #[cfg(feature = "blocking")]
            ResolveError::NameLength(len) => {
                write!(f, "host name of {len} bytes is too long for tor resolve (at most 255)")
            }
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
        let id = LookupId(self.mint(super::Fresh::Lookup, true)?);
        self.resolve_with_id(now, id, name)?;
        Ok(id)
    }

    /// What `resolve` can refuse at once.
    pub(crate) fn check_resolve(&self) -> Result<(), OpError> {
        if self.stopped {
            return Err(OpError::Stopped);
        }
        self.routes.resolve_route().map(drop).map_err(OpError::NoRoute)
    }

    pub(crate) fn resolve_with_id(&mut self, now: Instant, id: LookupId, name: HostName) -> Result<(), OpError> {
        self.check_resolve()?;
        let proxy = self.routes.resolve_route().map_err(OpError::NoRoute)?;
        let entry = self.lookups.vacant_entry();
        let slot = super::slot_u32(entry.key());
        let deadline =
            self.clock.deadline_tick(crate::time::deadline_after(now, self.connect_timeout)).max(self.floor_tick);
        let timer = self.wheel.insert(deadline, Timer::Lookup(slot));
        entry.insert(Lookup { id, name: name.clone(), io: None, timer: Some(timer) });
        match &proxy {
            Some(proxy) => log::debug!("Resolving {name} through {proxy} ({id})"),
            None => log::debug!("Resolving {name} ({id})"),
        }
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

    /// A dial of a host name moved to another socket, `io`: the connect after the lookup, or
    /// the next address after one failed. The I/O layer has closed the socket (or lookup) the
    /// core knew, which is forgotten without a report; the connect timeout armed when the dial
    /// started still runs, so it covers the lookup and every connect. Returns `false` if the
    /// request no longer dials (close `io` yourself).
    #[cfg(feature = "dns")]
    pub fn dial_moved(&mut self, id: ConnId, io: IoKey) -> bool {
        self.attach_io(id, io, true)
    }

    /// Arms a wheel entry at `at` that only wakes the I/O layer (`poll_timeout` includes it);
    /// the I/O layer checks its own deadlines after `handle_timeout`. Cancel it with
    /// [`cancel_io_timer`](Self::cancel_io_timer) (a key that fired is harmless).
    #[cfg(feature = "dns")]
    pub(crate) fn arm_io_timer(&mut self, at: Instant) -> TimerKey {
        let tick = self.clock.deadline_tick(at).max(self.floor_tick);
        self.wheel.insert(tick, Timer::Io)
    }

    /// Cancels a wheel entry of [`arm_io_timer`](Self::arm_io_timer).
    #[cfg(feature = "dns")]
    pub(crate) fn cancel_io_timer(&mut self, key: TimerKey) {
        self.wheel.cancel(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::ConnectOptions;
    use crate::error::DialError;
    use crate::{Config, ConnState, Target};

    fn core(t0: Instant, timeout: Duration) -> Core {
        let mut core =
            Core::new(&Config { target_outbound: 0, connect_timeout: timeout, ..Config::default() }, t0).unwrap();
        core.start(t0);
        core
    }

    #[test]
    #[cfg(feature = "dns")]
    fn one_connect_timeout_covers_a_names_lookup_and_every_address() {
        let (t0, secs) = (Instant::now(), Duration::from_secs);
        let mut core = core(t0, secs(10));
        let id =
            core.connect(t0, "127.0.0.1:1".parse::<std::net::SocketAddr>().unwrap(), ConnectOptions::once()).unwrap();
        assert!(matches!(core.poll_action(), Some(Action::Dial { .. })));
        assert!(!core.dial_moved(id, IoKey::from(2)), "a dial not started yet has no socket to move from");
        assert!(core.dial_started(id, IoKey::from(1)), "the lookup's key");
        core.handle_timeout(t0 + secs(4));
        assert!(core.dial_moved(id, IoKey::from(2)), "the first address, after the lookup");
        core.handle_timeout(t0 + secs(8));
        assert!(core.dial_moved(id, IoKey::from(3)), "the next address, after a refusal");
        core.handle_timeout(t0 + secs(10) - Duration::from_millis(1));
        assert_eq!(core.poll_action(), None, "neither the lookup nor a connect restarted the clock");
        core.handle_timeout(t0 + secs(10));
        assert_eq!(
            core.poll_action(),
            Some(Action::Close { io: IoKey::from(3) }),
            "the socket in use is the one closed"
        );
        assert!(matches!(
            core.poll_action(),
            Some(Action::Event(Event::DialFailed { error: DialError::TimedOut(t), .. })) if t == secs(10)
        ));
        assert!(!core.dial_moved(id, IoKey::from(4)), "the dial is over");
        assert_eq!(core.state(id), Some(ConnState::Failed));
    }

    #[test]
    #[cfg(feature = "dns")]
    fn an_io_timer_wakes_the_io_layer_and_does_nothing_else() {
        let t0 = Instant::now();
        let mut core = core(t0, Duration::from_secs(10));
        let at = t0 + Duration::from_millis(250);
        let key = core.arm_io_timer(at);
        // Never late (a coarse wheel slot may wake earlier, which does nothing).
        assert!(core.poll_timeout().is_some_and(|t| t <= at + Duration::from_millis(1)));
        core.handle_timeout(at - Duration::from_millis(1));
        assert!(core.poll_timeout().is_some(), "not yet");
        core.handle_timeout(at + Duration::from_millis(1));
        assert_eq!((core.poll_action(), core.poll_timeout()), (None, None));
        core.cancel_io_timer(key); // fired already: harmless
        let key = core.arm_io_timer(at + Duration::from_secs(1));
        core.cancel_io_timer(key);
        assert_eq!(core.poll_timeout(), None);
    }

    #[test]
    fn names_route_direct_only_with_the_resolver() {
        let t0 = Instant::now();
        let mut core = core(t0, Duration::from_secs(10));
        let name: Target = "seed.example.org:8333".parse().unwrap();
        let connected = core.connect(t0, name.clone(), ConnectOptions::once());
        let resolved = core.resolve(t0, "seed.example.org".parse().unwrap());
        if cfg!(feature = "dns") {
            assert!(connected.is_ok() && resolved.is_ok());
            assert!(matches!(core.poll_action(), Some(Action::Dial { target, proxy: None, .. }) if target == name));
            assert!(matches!(core.poll_action(), Some(Action::Resolve { proxy: None, .. })));
        } else {
            assert!(connected.is_err() && resolved.is_err());
        }
    }
}
