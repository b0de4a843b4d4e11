//! The sans-IO connection manager: btcd's `connmgr` state machine with time as an input.
//!
//! [`Core`] never touches a socket, a `Poll` or the clock. Every input carries `now`; outputs
//! ([`Action`]s) are pulled with [`Core::poll_action`]; [`Core::poll_timeout`] says when the
//! core next needs [`Core::handle_timeout`]. The mio [`Reactor`](crate::Reactor) is one I/O layer
//! for it; the simulator (the `sim` feature) is another, which is how every btcd scenario runs
//! on a simulated clock, instantly and the same every time. The shape follows quinn-proto
//! (`handle_*` / `poll_*`) and smoltcp (explicit timestamps).
//!
//! Requests live in a [`slab`] with an id-to-slot index beside it, accepted connections in
//! another; every timer (connect timeouts, retries, throttled replacements, accept pauses, user
//! timers) sits in one hierarchical timer wheel.
//!
//! The operations are the reactor's (`connect`, `disconnect`, `remove`, `close`, `stop`, ...),
//! with the time as their first argument.
//!
//! # Driving it
//!
//! An I/O layer feeds an input, then performs every action in order; here the "network"
//! connects every dial at once.
//!
//! ```
//! use connmgr::core::{Action, Core, Event, IoKey};
//! use connmgr::{Config, ConnState, ConnectOptions};
//! use std::time::Instant;
//!
//! let now = Instant::now();
//! let mut core = Core::new(&Config { target_outbound: 0, ..Config::default() }, now)?;
//! let peer: std::net::SocketAddr = "192.0.2.1:8333".parse()?;
//! let id = core.connect(now, peer, ConnectOptions::permanent())?;
//! core.start(now);
//! while let Some(action) = core.poll_action() {
//!     match action {
//!         Action::Dial { id, .. } => {
//!             // A real layer starts a non-blocking connect here, keyed by its own socket slot,
//!             // and reports the outcome when the socket says so.
//!             core.dial_started(id, IoKey::from(7));
//!             core.dial_succeeded(now, id);
//!         }
//!         Action::Event(Event::Connected { info, io }) => assert_eq!((info.id, io), (id, IoKey::from(7))),
//!         other => panic!("unexpected {other:?}"),
//!     }
//! }
//! assert_eq!(core.state(id), Some(ConnState::Established));
//! if let Some(deadline) = core.poll_timeout() {
//!     // Sleep until then (or until a socket is ready), then `core.handle_timeout(now)`.
//!     let _ = deadline;
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod accept;
mod action;
mod addr;
mod counters;
mod dialing;
mod history;
mod inbound;
mod index;
mod lookup;
mod ops;
pub(crate) use ops::Fresh;
mod outbound_rules;
mod protect;
mod request;
mod retry;
mod shard;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use slab::Slab;

pub use accept::{AcceptDecision, ListenerKey};
pub use action::{Action, DisconnectReason, Event};
pub use counters::Counters;
pub use inbound::{InboundSlot, Observation};
pub use lookup::{LookupId, ResolveError};
pub use request::{ConnInfo, ConnState, ConnectOptions, DisconnectOptions, IoKey};
pub use retry::NextStep;

use crate::banscore::DynamicBanScore;
use crate::config::{Config, ConfigError};
use crate::error::OpError;
use crate::id::{ConnId, IdAllocator, InboundId};
use crate::net::NetGroupFn;
use crate::peer::Peer;
use crate::policy::admission::eviction::{EvictionCandidate, EvictionPolicy};
use crate::policy::admission::{Admission, Eviction};
use crate::policy::outbound::{ClassId, ConnClass};
use crate::proxy::{Proxy, Routes};
use crate::rng::Rng;
use crate::target::Target;
use crate::time::{TickClock, TimerKey, Wheel};
use accept::ListenerState;
use addr::PackedAddr;
use history::History;
use inbound::{InboundLimiter, InboundRecord};
use index::IdIndex;
use lookup::Lookup;
use outbound_rules::OutboundState;
use request::{flag, Record, TimerPurpose};
use retry::RetryPolicy;

/// What a wheel entry is for. Kept to 8 bytes (slab keys as `u32`; a user timer's data lives
/// in `Core::user_timers`), so a wheel entry is 32 bytes: every dial in flight has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    Request {
        key: u32,
        purpose: TimerPurpose,
    },
    Accept(u32),
    User(u32),
    Lookup(u32),
    /// The soonest ban expiry.
    Bans,
    /// The offline pause is over.
    Offline,
    /// A deadline of the I/O layer's own (its DNS resolver's): firing only wakes it.
    #[cfg(feature = "dns")]
    Io,
}

/// A user timer, as `set_timer` returns it: its serial is never reused, so a key kept after
/// its timer fired can never cancel a later one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerId {
    serial: u64,
    slot: u32,
}

#[derive(Debug)]
struct UserTimer {
    serial: u64,
    data: u64,
    key: TimerKey,
}

/// The connection manager's state machine. See the [module docs](self).
#[derive(Debug)]
pub struct Core {
    connect_timeout: Duration,
    max_dials: u32,
    policy: RetryPolicy,
    ids: IdAllocator,
    clock: TickClock,
    wheel: Wheel<Timer>,
    /// No timer is armed before this tick: set just past the tick of the last
    /// `handle_timeout`, so a timer armed while timers fire (a user timer re-arming itself with
    /// no delay) fires on a later call, never in a loop inside this one.
    floor_tick: u64,
    reqs: Slab<Record>,
    by_id: IdIndex,
    /// Targets that are not IP addresses (names, onions), which a record refers to by index.
    targets: Slab<Target>,
    routes: Routes,
    /// Requests' own proxies (`ConnectOptions::via`), shared; a record keeps an index.
    own_proxies: Vec<Arc<Proxy>>,
    history: History,
    /// Requests waiting for a dial slot, by id: a removed request is skipped when reached
    /// rather than searched for, which keeps removal O(1).
    dial_queue: VecDeque<ConnId>,
    in_flight: u32,
    /// btcd's `failedAttempts`: the run of failed automatic attempts since the last success.
    failed_attempts: u32,
    /// The outbound policy's state: classes and their budgets, diversity, probes, failure
    /// memory, offline detection, pause.
    out: OutboundState,
    established: u32,
    listeners: Slab<ListenerState>,
    limiter: InboundLimiter,
    inbound: Slab<InboundRecord>,
    inbound_serial: u64,
    admission: Admission,
    netgroup: NetGroupFn,
    eviction: Option<Box<dyn EvictionPolicy<InboundId> + Send>>,
    /// Reused on every eviction, so that evicting under a flood allocates nothing.
    candidates: Vec<EvictionCandidate<InboundId>>,
    group_key: u64,
    /// Ban scores of peers that misbehaved (few: the map holds no one else).
    scores: HashMap<Peer, DynamicBanScore>,
    ban_threshold: u32,
    ban_duration: Duration,
    ban_timer: Option<TimerKey>,
    /// Automatic requests skipped (banned targets) in the millisecond `skip_tick`.
    skips: u32,
    skip_tick: u64,
    lookups: Slab<Lookup>,
    lookup_ids: IdAllocator,
    /// Each armed user timer, by the slot its wheel entry names.
    user_timers: Slab<UserTimer>,
    user_timer_serial: u64,
    /// Jitter and other choices; seeded from `Config::random_seed`.
    rng: Rng,
    counters: Counters,
    actions: VecDeque<Action>,
    started: bool,
    stopped: bool,
    /// This core's place in a sharded manager, if it is one of its shards.
    #[cfg(feature = "shards")]
    shard: Option<crate::policy::global::ShardRef>,
}

impl Core {
    /// A core for this configuration; `now` is its time origin.
    pub fn new(config: &Config, now: Instant) -> Result<Self, ConfigError> {
        Self::with_ids(config, IdAllocator::default(), now)
    }

    pub(crate) fn with_ids(config: &Config, ids: IdAllocator, now: Instant) -> Result<Self, ConfigError> {
        config.validate()?;
        let cap = config.capacity;
        let mut rng = config.random_seed.map_or_else(Rng::from_os, Rng::new);
        let group_key = rng.next_u64();
        let mut admission = Admission::new(&config.protection.admission(), now);
        for &subnet in &config.protection.trusted {
            admission.allowlist_mut().add(subnet);
        }
        Ok(Core {
            connect_timeout: config.connect_timeout,
            max_dials: config.max_dials_in_flight.unwrap_or(u32::MAX),
            policy: RetryPolicy::from_config(config),
            ids,
            clock: TickClock::new(now),
            wheel: Wheel::with_capacity(cap),
            floor_tick: 0,
            reqs: Slab::with_capacity(cap),
            by_id: IdIndex::with_capacity(cap),
            targets: Slab::new(),
            routes: Routes::new(config.proxy.as_ref(), config.onion_proxy.as_ref()),
            own_proxies: Vec::new(),
            history: History::new(config.ended_history),
            dial_queue: VecDeque::new(),
            in_flight: 0,
            failed_attempts: 0,
            out: OutboundState::new(config, rng.next_u64()),
            established: 0,
            listeners: Slab::new(),
            limiter: InboundLimiter::new(config.max_inbound),
            inbound: Slab::new(),
            inbound_serial: 0,
            admission,
            netgroup: config.netgroup.clone(),
            eviction: config.protection.eviction.as_ref().map(Eviction::make),
            candidates: Vec::new(),
            group_key,
            scores: HashMap::new(),
            ban_threshold: config.protection.ban_threshold,
            ban_duration: config.protection.ban_duration,
            ban_timer: None,
            skips: 0,
            skip_tick: 0,
            lookups: Slab::new(),
            lookup_ids: IdAllocator::default(),
            user_timers: Slab::new(),
            user_timer_serial: 0,
            rng,
            counters: Counters::default(),
            // Room for the few outputs one input produces, so steady state never grows it.
            actions: VecDeque::with_capacity(16),
            started: false,
            stopped: false,
            #[cfg(feature = "shards")]
            shard: None,
        })
    }

    pub(crate) fn ids(&self) -> &IdAllocator {
        &self.ids
    }

    pub(crate) fn lookup_ids(&self) -> &IdAllocator {
        &self.lookup_ids
    }

    pub(crate) fn routes(&self) -> &Routes {
        &self.routes
    }

    /// Starts dialling: requests made before now, then `target_outbound` automatic ones
    /// (btcd's `Start`). Later calls do nothing.
    pub fn start(&mut self, now: Instant) {
        if self.started || self.stopped {
            return;
        }
        self.started = true;
        log::trace!("Connection manager started");
        // Only requests waiting for their first dial: not an automatic request whose address
        // source failed and which waits, with no address, for its throttled replacement.
        let mut waiting: Vec<(ConnId, usize)> = self
            .reqs
            .iter()
            .filter(|(_, r)| r.addr().is_some() && r.timer.is_none())
            .map(|(key, r)| (r.id, key))
            .collect();
        waiting.sort_unstable();
        for (_, key) in waiting {
            self.start_dial(now, key);
        }
        self.dial_anchors(now);
        for class in 0..self.out.classes.len() {
            let class = ClassId::from_index(class);
            for _ in 0..self.start_share(class) {
                self.request_automatic(class);
            }
        }
    }

    /// Shuts down: every established connection is closed and reported once
    /// ([`DisconnectReason::Shutdown`]), every other request ends `Canceled`, inbound
    /// connections close, timers are cancelled. Later operations return
    /// [`OpError::Stopped`].
    pub fn stop(&mut self, now: Instant) -> Result<(), OpError> {
        if self.stopped {
            log::warn!("Connection manager already stopped");
            return Err(OpError::Stopped);
        }
        self.stopped = true;
        let mut live: Vec<(ConnId, usize)> = self.reqs.iter().map(|(key, r)| (r.id, key)).collect();
        live.sort_unstable();
        for (_, key) in live {
            if self.reqs[key].state == ConnState::Established {
                self.drop_established(key, DisconnectReason::Shutdown);
                self.end(now, key, ConnState::Disconnected);
            } else {
                self.end(now, key, ConnState::Canceled);
            }
        }
        let mut inbound: Vec<(u64, usize)> = self.inbound.iter().map(|(key, r)| (r.serial, key)).collect();
        inbound.sort_unstable();
        for (serial, key) in inbound {
            let rec = self.inbound.remove(key);
            self.inbound_closed(crate::id::InboundId::new(serial, slot_u32(key)), rec, DisconnectReason::Shutdown);
        }
        self.cancel_lookups();
        // Dials still queued, and addresses still owed, are for requests that have just ended;
        // the I/O layer would only open sockets to throw away.
        self.actions.retain(|a| !matches!(a, Action::Dial { .. } | Action::Resolve { .. }));
        self.leave_shards();
        self.out.owe_nothing();
        self.dial_queue.clear();
        self.wheel.clear();
        self.ban_timer = None;
        self.user_timers.clear();
        for (_, listener) in self.listeners.iter_mut() {
            listener.clear_timer();
        }
        log::trace!("Connection manager stopped");
        Ok(())
    }

    /// Whether `start` has run.
    pub fn is_started(&self) -> bool {
        self.started
    }

    /// Whether `stop` has run.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// The next output, in the order things happened.
    pub fn poll_action(&mut self) -> Option<Action> {
        match self.actions.pop_front() {
            Some(action) => Some(action),
            None => self.owed_need(),
        }
    }

    /// A `NeedAddress` owed to some class, if dials may start.
    #[inline(never)]
    fn owed_need(&mut self) -> Option<Action> {
        if self.out.need_total > 0 && !self.dials_held() {
            return self.out.take_need().map(|class| Action::NeedAddress { class });
        }
        None
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due, if any timer is armed. Never
    /// late; it may be early (a distant timer wakes the wheel first at the start of its coarse
    /// slot, to move it to a finer one), and calling back early is harmless.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.wheel.next_deadline().map(|tick| self.clock.instant(tick))
    }

    /// Fires every timer due at `now`: connect timeouts, retries, throttled replacements, accept
    /// pauses, user timers. A timer armed meanwhile fires on a later call.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.handle_timeout_batch(now, usize::MAX);
    }

    /// Fires due timers until `max_actions` outputs are queued; true if more are due. The
    /// reactor performs each batch's actions before the next, so a burst of retries due in the
    /// same millisecond never queues more than a batch of dials.
    pub(crate) fn handle_timeout_batch(&mut self, now: Instant, max_actions: usize) -> bool {
        let tick = self.clock.now_tick(now);
        self.floor_tick = self.floor_tick.max(tick.saturating_add(1));
        loop {
            if self.actions.len() >= max_actions {
                return true;
            }
            let Some((_, timer)) = self.wheel.poll(tick) else { return false };
            match timer {
                Timer::Request { key, purpose } => {
                    let key = key as usize;
                    self.reqs[key].timer = None;
                    match purpose {
                        TimerPurpose::ConnectTimeout => self.dial_timed_out(now, key),
                        TimerPurpose::Retry => self.start_dial(now, key),
                        TimerPurpose::Replace => {
                            let class = self.reqs[key].class_id();
                            self.end(now, key, ConnState::Canceled);
                            self.request_automatic(class);
                        }
                        TimerPurpose::Stable => self.reqs[key].backoff = 0,
                        TimerPurpose::ProbeDeadline => self.probe_deadline(now, key),
                    }
                }
                Timer::Accept(listener) => self.resume_accept(listener as usize),
                Timer::User(slot) => {
                    let data = self.user_timers.remove(slot as usize).data;
                    self.actions.push_back(Action::Event(Event::Timer { data }));
                }
                Timer::Lookup(slot) => self.lookup_timed_out(slot as usize),
                Timer::Bans => self.bans_expire(now),
                Timer::Offline => self.offline_pause_over(now),
                #[cfg(feature = "dns")]
                Timer::Io => {}
            }
        }
    }

    /// Arms a user timer: `Event::Timer { data }` after `after`.
    pub fn set_timer(&mut self, now: Instant, after: Duration, data: u64) -> Result<TimerId, OpError> {
        if self.stopped {
            return Err(OpError::Stopped);
        }
        let deadline = self.deadline_tick(now, after);
        self.user_timer_serial += 1;
        let serial = self.user_timer_serial;
        let entry = self.user_timers.vacant_entry();
        let slot = slot_u32(entry.key());
        let key = self.wheel.insert(deadline, Timer::User(slot));
        entry.insert(UserTimer { serial, data, key });
        Ok(TimerId { serial, slot })
    }

    /// Cancels a user timer; false if it already fired or was cancelled.
    pub fn cancel_timer(&mut self, id: TimerId) -> bool {
        match self.user_timers.get(id.slot as usize) {
            Some(t) if t.serial == id.serial => {
                let t = self.user_timers.remove(id.slot as usize);
                self.wheel.cancel(t.key);
                true
            }
            _ => false,
        }
    }

    /// A request's state; an ended one's final state while `Config::ended_history` remembers
    /// it; `None` for an id never issued or long forgotten.
    pub fn state(&self, id: ConnId) -> Option<ConnState> {
        match self.record(id) {
            Some(r) => Some(r.state),
            None => self.history.get(id),
        }
    }

    /// A live request's details.
    pub fn info(&self, id: ConnId) -> Option<ConnInfo> {
        self.key_of(id).map(|key| self.info_at(key))
    }

    /// The socket of an established outbound connection or a live inbound one.
    pub fn io(&self, peer: Peer) -> Option<IoKey> {
        match peer {
            Peer::Outbound(id) => self.record(id).filter(|r| r.state == ConnState::Established).and_then(Record::io),
            Peer::Inbound(id) => self.inbound_record(id).map(|r| r.io),
        }
    }

    /// The remote address of a connection: the dialled one, or the accepted one's.
    pub fn peer_addr(&self, peer: Peer) -> Option<SocketAddr> {
        match peer {
            Peer::Outbound(id) => self.record(id).and_then(|r| r.addr().get()),
            Peer::Inbound(id) => self.inbound_record(id).map(InboundRecord::remote),
        }
    }

    /// Every live request and its state, in no particular order.
    pub fn requests(&self) -> impl Iterator<Item = (ConnInfo, ConnState)> + '_ {
        self.reqs.iter().map(|(_, r)| (r.info(&self.targets), r.state))
    }

    /// Counters and gauges.
    pub fn counters(&self) -> Counters {
        Counters {
            pending: (self.reqs.len() as u64).saturating_sub(u64::from(self.established)),
            in_flight: u64::from(self.in_flight),
            established: u64::from(self.established),
            established_automatic: self.out.established_automatic(),
            inbound: self.limiter.occupied() as u64,
            rejected_inbound: self.limiter.rejected(),
            ..self.counters
        }
    }

    #[cfg(any(test, feature = "sim"))]
    pub(crate) fn timers_armed(&self) -> usize {
        self.wheel.len()
    }

    #[cfg(any(test, feature = "sim"))]
    pub(crate) fn failed_attempts(&self) -> u32 {
        self.failed_attempts
    }

    #[cfg(any(test, feature = "sim"))]
    pub(crate) fn live_requests(&self) -> usize {
        self.reqs.len()
    }

    fn record(&self, id: ConnId) -> Option<&Record> {
        self.by_id.get(id).map(|key| &self.reqs[key])
    }

    fn key_of(&self, id: ConnId) -> Option<usize> {
        self.by_id.get(id)
    }

    fn info_at(&self, key: usize) -> ConnInfo {
        self.reqs[key].info(&self.targets)
    }

    fn target_at(&self, key: usize) -> Option<Target> {
        self.reqs[key].target(&self.targets)
    }

    /// A request's own proxy, shared with earlier requests that named an equal one.
    fn own_proxy(&mut self, proxy: Option<&Arc<Proxy>>) -> Result<u8, OpError> {
        let Some(proxy) = proxy else { return Ok(0) };
        let index = match self.own_proxies.iter().position(|p| Arc::ptr_eq(p, proxy) || **p == **proxy) {
            Some(index) => index,
            None if self.own_proxies.len() < usize::from(u8::MAX) => {
                self.own_proxies.push(Arc::clone(proxy));
                self.own_proxies.len() - 1
            }
            None => return Err(OpError::TooManyProxies),
        };
        Ok(index as u8 + 1)
    }

    fn register(&mut self, id: ConnId, target: Option<Target>, opts: &ConnectOptions, class: ConnClass) -> usize {
        // Checked at the API for manual requests; an automatic one has no proxy of its own.
        let via = self.own_proxy(opts.via.as_ref()).unwrap_or(0);
        let addr = match target {
            None => PackedAddr::new(None),
            Some(Target::Ip(addr)) => PackedAddr::new(Some(addr)),
            Some(other) => PackedAddr::other(slot_u32(self.targets.insert(other))),
        };
        let key = self.reqs.insert(Record::new(id, addr, opts, via, class));
        self.by_id.insert(id, slot_u32(key));
        self.out.registered(class);
        key
    }

    /// The wheel tick of `now + delay`, never before the floor (see `floor_tick`).
    fn deadline_tick(&self, now: Instant, delay: Duration) -> u64 {
        self.clock.deadline_tick(crate::time::deadline_after(now, delay)).max(self.floor_tick)
    }

    fn arm(&mut self, now: Instant, key: usize, purpose: TimerPurpose, delay: Duration) {
        let deadline = self.deadline_tick(now, delay);
        let timer = self.wheel.insert(deadline, Timer::Request { key: slot_u32(key), purpose });
        let old = self.reqs[key].timer.replace(timer);
        debug_assert!(old.is_none(), "a request has one timer at a time");
    }

    fn disarm(&mut self, key: usize) {
        if let Some(timer) = self.reqs[key].timer.take() {
            self.wheel.cancel(timer);
        }
    }

    /// Ends a request in a terminal state: forgets it, closes its socket, reports it once.
    fn end(&mut self, now: Instant, key: usize, state: ConnState) {
        debug_assert!(state.is_terminal());
        self.disarm(key);
        self.release_group(key);
        let info = self.info_at(key);
        let mut rec = self.reqs.remove(key);
        self.by_id.remove(rec.id);
        if let Some(index) = rec.addr().other_index() {
            self.targets.remove(index as usize);
        }
        let was_dialing = rec.has(flag::DIALING);
        if was_dialing {
            self.in_flight -= 1;
            self.give_dial_slot();
        }
        if rec.state == ConnState::Established {
            self.leave_established(rec.automatic(), rec.class_id());
        }
        self.out.ended(rec.class());
        if rec.automatic() {
            self.give_auto_slots(rec.class_id(), 1);
        }
        if let Some(io) = rec.take_io() {
            self.actions.push_back(Action::Close { io });
        }
        rec.state = state;
        self.history.push(rec.id, state);
        log::debug!("Request {} ended: {}", info, state);
        self.actions.push_back(Action::Event(Event::Ended { info, state }));
        if was_dialing {
            self.pump_dial_queue(now);
        }
    }

    fn leave_established(&mut self, automatic: bool, class: ClassId) {
        self.established -= 1;
        if automatic {
            self.out.classes[class.index()].established -= 1;
        }
    }

    fn inbound_closed(&mut self, id: crate::id::InboundId, rec: InboundRecord, reason: DisconnectReason) {
        log::debug!("Inbound connection {id} closed: {reason}");
        self.inbound_gone(id, &rec);
        self.actions.push_back(Action::Close { io: rec.io });
        drop(rec.slot);
        self.actions.push_back(Action::Event(Event::InboundClosed { id, reason }));
    }

    /// Owes the address source one more question, if the automatic set is below its target.
    /// Asks the source for one more address for `class` if the class is below its target
    /// (and, sharded, the manager's); false if it is not.
    fn request_automatic(&mut self, class: ClassId) -> bool {
        if self.stopped || !self.out.has_room(class) || !self.take_auto_slot(class) {
            return false;
        }
        self.out.add_want(class);
        true
    }
}

fn slot_u32(key: usize) -> u32 {
    u32::try_from(key).expect("fewer than 2^32 requests and listeners")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr() -> std::net::SocketAddr {
        "127.0.0.1:8333".parse().unwrap()
    }

    #[test]
    fn a_large_target_asks_for_addresses_one_dial_at_a_time() {
        let now = Instant::now();
        let mut core = Core::new(&Config { target_outbound: 1000, ..Config::default() }, now).unwrap();
        core.start(now);
        let mut dials = 0;
        while let Some(action) = core.poll_action() {
            match action {
                Action::NeedAddress { class } => {
                    core.address(now, class, Some(Ok(addr().into())));
                    // The answer's dial is the very next output, before any other address.
                    assert!(matches!(core.poll_action(), Some(Action::Dial { .. })));
                    dials += 1;
                }
                other => panic!("unexpected {other:?}"),
            }
            assert!(core.actions.len() <= 1, "outputs are not queued up front");
        }
        assert_eq!(dials, 1000);
        assert_eq!(core.counters().in_flight, 1000);
    }

    #[test]
    fn due_timers_fired_in_batches_are_all_fired() {
        let now = Instant::now();
        let mut core = Core::new(&Config { target_outbound: 0, ..Config::default() }, now).unwrap();
        core.start(now);
        let ids: Vec<_> = (0..100).map(|_| core.connect(now, addr(), ConnectOptions::permanent()).unwrap()).collect();
        while core.poll_action().is_some() {}
        for &id in &ids {
            core.dial_failed(now, id, std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        }
        while core.poll_action().is_some() {}
        // All 100 retries are due at the same tick; take them 8 outputs at a time.
        let later = now + Duration::from_secs(6);
        let (mut calls, mut dials) = (0, 0);
        loop {
            calls += 1;
            let more = core.handle_timeout_batch(later, 8);
            assert!(core.actions.len() <= 8 + 1);
            while let Some(action) = core.poll_action() {
                dials += usize::from(matches!(action, Action::Dial { .. }));
            }
            if !more {
                break;
            }
        }
        assert_eq!(dials, 100);
        assert!(calls > 10, "{calls} calls");
        assert_eq!(core.counters().in_flight, 100);
    }

    #[test]
    fn timers_rearmed_with_no_delay_while_firing_wait_for_a_later_call() {
        // Regression: 32 user timers that re-armed themselves with Duration::ZERO at a
        // millisecond-aligned `now` (simulated time always is) fired 200,039 times in one call.
        let t0 = Instant::now();
        let mut core = Core::new(&Config { target_outbound: 0, ..Config::default() }, t0).unwrap();
        for i in 0..32 {
            core.set_timer(t0, Duration::ZERO, i).unwrap();
        }
        let mut fired = 0;
        for call in 1..=3u64 {
            let now = t0 + Duration::from_millis(call);
            let mut more = true;
            while more {
                more = core.handle_timeout_batch(now, 32);
                while let Some(action) = core.poll_action() {
                    if let Action::Event(Event::Timer { data }) = action {
                        fired += 1;
                        core.set_timer(now, Duration::ZERO, data).unwrap();
                    }
                }
            }
            assert_eq!(fired, 32 * call, "each timer fires once per call");
        }
    }

    #[test]
    fn a_wheel_payload_is_eight_bytes() {
        // With it, a wheel entry is 32 bytes (see `time::wheel`); every dial in flight has one.
        assert_eq!(std::mem::size_of::<Timer>(), 8);
    }

    #[test]
    fn core_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<Core>();
    }
}
