//! A simulator for [`Core`]: simulated time, a scripted network, an address source, and a
//! record of everything the core did, checked against the manager's invariants after every
//! step. The crate's own btcd scenarios (`s01_...`, `d05_...`) are written with it; write yours
//! the same way. No sockets, no sleeps: a simulated hour runs in milliseconds, the same every
//! time.
//!
//! What happens to each dial is an [`Outcome`] of the [`Network`] (refuse, accept after a delay,
//! black-hole, reset after connect, or a seeded random mix); automatic requests get their
//! addresses from an [`AddressSource`]. After every step the simulator checks that the
//! automatic set never exceeds its target, that ids are issued in order without gaps or
//! duplicates, that `Connected` and `Disconnected` alternate per request and `Ended` comes once,
//! and that every socket is closed exactly once (a violation panics with the simulated time).
//!
//! # Examples
//!
//! btcd's `TestRetryPermanent` in a few lines: a permanent peer that refuses twice, then
//! accepts, is retried with linear backoff under the same id.
//!
//! ```
//! use connmgr::sim::{Outcome, Sim, Step};
//! use connmgr::{Config, ConnState, ConnectOptions, FailureCause, NextStep};
//! use std::time::Duration;
//!
//! let ms = Duration::from_millis;
//! let peer: std::net::SocketAddr = "127.0.0.1:18555".parse()?;
//! let mut sim = Sim::new(Config { target_outbound: 0, retry_duration: ms(10), ..Config::default() })?;
//! sim.net().script(peer, [Outcome::REFUSE, Outcome::REFUSE, Outcome::ACCEPT]);
//! sim.apply(|core, now| core.start(now));
//! let id = sim.apply(|core, now| core.connect(now, peer, ConnectOptions::permanent()))?;
//! sim.advance(ms(100));
//! assert_eq!(sim.dial_times_of(id), [ms(0), ms(10), ms(30)]); // 1 x 10 ms, then 2 x 10 ms
//! assert_eq!(sim.trace(id), [
//!     Step::DialFailed(FailureCause::Refused, NextStep::RetryIn(ms(10))),
//!     Step::DialFailed(FailureCause::Refused, NextStep::RetryIn(ms(20))),
//!     Step::Connected,
//! ]);
//! assert_eq!(sim.state(id), Some(ConnState::Established));
//! sim.apply(|core, now| core.stop(now))?;
//! sim.assert_clean_shutdown();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod check;
mod net;
mod sockets;
mod source;

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

pub use net::{Flaky, Network, Outcome};
pub use source::AddressSource;

use crate::config::{Config, ConfigError};
use crate::core::{
    AcceptDecision, Action, ConnInfo, ConnState, Core, DisconnectReason, Event, IoKey, ListenerKey, LookupId, NextStep,
    ResolveError,
};
use crate::error::{DialError, FailureCause, OpError};
use crate::id::{ConnId, InboundId};
use crate::peer::Peer;
use crate::policy::outbound::ClassId;
use crate::target::{HostName, Target};
use check::{event_id, Checker};
use net::Fate;
use sockets::{Closer, Sockets};

/// Something the network will report at a given time.
#[derive(Debug)]
enum Wire {
    Connected { id: ConnId, io: IoKey },
    Failed { id: ConnId, io: IoKey, error: DialError },
    RemoteClosed { peer: Peer, io: IoKey },
}

/// One event the core emitted, with its simulated time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logged {
    /// Time since the start of the simulation.
    pub at: Duration,
    /// The event.
    pub event: Event,
}

/// One dial the core asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DialRecord {
    /// Time since the start of the simulation.
    pub at: Duration,
    /// The request.
    pub id: ConnId,
    /// Where to.
    pub target: Target,
    /// Through which proxy, if any.
    pub proxy: Option<SocketAddr>,
    /// The socket opened for it, as [`closes`](Sim::closes) and [`is_open`](Sim::is_open) name it.
    pub io: IoKey,
}

/// One step of a request's life, as [`Sim::trace`] lists them: easy to write down and compare.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// The dial connected.
    Connected,
    /// The connection ended.
    Disconnected(DisconnectReason),
    /// A dial failed, and what follows.
    DialFailed(FailureCause, NextStep),
    /// The request ended in this state.
    Ended(ConnState),
}

/// The simulator. See the [module docs](self).
#[derive(Debug)]
pub struct Sim {
    core: Core,
    net: Network,
    source: AddressSource,
    sockets: Sockets,
    listener: ListenerKey,
    epoch: Instant,
    now: Instant,
    wire: BTreeMap<(Instant, u64), Wire>,
    seq: u64,
    events: Vec<Logged>,
    dials: Vec<DialRecord>,
    address_requests: Vec<Duration>,
    resumes: Vec<Duration>,
    closes: Vec<(Duration, IoKey)>,
    checker: Checker,
    checked: usize,
    outputs: u64,
    class_sources: HashMap<ClassId, AddressSource>,
}

impl Sim {
    /// A simulator for a core built from `config` at time 0, with no address source and a
    /// network that accepts every dial at once.
    pub fn new(config: Config) -> Result<Sim, ConfigError> {
        let epoch = Instant::now();
        let mut core = Core::new(&config, epoch)?;
        let listener = core.add_listener().expect("a new core is not stopped");
        Ok(Sim {
            core,
            net: Network::new(Outcome::ACCEPT),
            source: AddressSource::none(),
            sockets: Sockets::default(),
            listener,
            epoch,
            now: epoch,
            wire: BTreeMap::new(),
            seq: 0,
            events: Vec::new(),
            dials: Vec::new(),
            address_requests: Vec::new(),
            resumes: Vec::new(),
            closes: Vec::new(),
            checker: Checker::new(&config),
            class_sources: HashMap::new(),
            checked: 0,
            outputs: 0,
        })
    }

    /// This simulator with `source` answering for the address source.
    pub fn with_source(mut self, source: AddressSource) -> Sim {
        self.source = source;
        self
    }

    /// This simulator with `source` answering for `class` (others use the main source).
    pub fn with_class_source(mut self, class: ClassId, source: AddressSource) -> Sim {
        self.class_sources.insert(class, source);
        self
    }

    /// This simulator with `net` deciding what happens to dials.
    pub fn with_net(mut self, net: Network) -> Sim {
        self.net = net;
        self
    }

    /// The network, to script it between steps.
    pub fn net(&mut self) -> &mut Network {
        &mut self.net
    }

    /// The address source, to change it between steps.
    pub fn source(&mut self) -> &mut AddressSource {
        &mut self.source
    }

    /// The core, for queries.
    pub fn core(&self) -> &Core {
        &self.core
    }

    // ---- time ----------------------------------------------------------------------------

    /// Simulated time since the start.
    pub fn elapsed(&self) -> Duration {
        self.now - self.epoch
    }

    /// The current simulated instant.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Runs everything due up to and including `t` (since the start), in time order: network
    /// outcomes and the core's timers. On a tie the network goes first, as a reactor handles
    /// I/O events before timers in one turn.
    pub fn run_until(&mut self, t: Duration) {
        let until = self.epoch + t;
        assert!(until >= self.now, "time only runs forward: now {:?}, asked for {t:?}", self.elapsed());
        self.drain();
        let mut stalls = 0;
        loop {
            let wire_at = self.wire.keys().next().map(|&(at, _)| at);
            let timer_at = self.core.poll_timeout();
            let next = match (wire_at, timer_at) {
                (Some(w), Some(t)) => w.min(t),
                (Some(w), None) => w,
                (None, Some(t)) => t,
                (None, None) => break,
            };
            if next > until {
                break;
            }
            self.now = self.now.max(next);
            if wire_at == Some(next) {
                let (_, wire) = self.wire.pop_first().expect("due wire event");
                self.deliver(wire);
                stalls = 0;
            } else {
                let before = (self.outputs, self.core.timers_armed());
                self.core.handle_timeout(self.now);
                self.drain();
                // `poll_timeout` may be early, but calling back then must make progress.
                let stuck = (self.outputs, self.core.timers_armed()) == before && self.core.poll_timeout() == timer_at;
                stalls = if stuck { stalls + 1 } else { 0 };
                assert!(stalls < 1000, "poll_timeout stuck at {:?}: the core would spin", self.elapsed());
            }
            self.drain();
        }
        self.now = until;
    }

    /// Runs for `dt` more.
    pub fn advance(&mut self, dt: Duration) {
        self.run_until(self.elapsed() + dt);
    }

    /// Runs everything due now (zero-delay outcomes and their consequences).
    pub fn settle(&mut self) {
        self.run_until(self.elapsed());
    }

    // ---- operations: the core's, at the simulated time ----------------------------------

    /// Runs one of the core's operations at the simulated time, then does what it asked for
    /// (dials on the simulated network, closes, address requests) and checks the invariants:
    /// `sim.apply(|core, now| core.connect(now, peer, ConnectOptions::permanent()))`. Every
    /// operation of [`Core`] is reached this way (`start`, `stop`, `connect`, `close`, `ban`,
    /// `set_timer`, ...); lookups are answered from [`Network::answer`].
    pub fn apply<T>(&mut self, op: impl FnOnce(&mut Core, Instant) -> T) -> T {
        let result = op(&mut self.core, self.now);
        self.drain();
        result
    }

    crate::command::queries!();

    fn view(&self) -> &Core {
        &self.core
    }

    fn view_now(&self) -> Instant {
        self.now
    }

    /// [`Core::detach`]; the socket is then the user's (close it with
    /// [`user_close`](Self::user_close)).
    pub fn detach(&mut self, peer: impl Into<Peer>) -> Result<IoKey, OpError> {
        let peer = peer.into();
        let result = self.core.detach(peer).map(|(io, _slot)| io);
        if let Ok(io) = result {
            self.sockets.detach(io);
            if let Peer::Inbound(id) = peer {
                self.checker.detached(id);
            }
        }
        self.drain();
        result
    }

    /// The user closes a socket it took with `detach`.
    pub fn user_close(&mut self, io: IoKey) {
        let at = self.elapsed();
        self.sockets.close(io, Closer::User, at);
    }

    /// How lookup `id` ended, if it has.
    pub fn resolved(&self, id: LookupId) -> Option<Result<Vec<IpAddr>, ResolveError>> {
        self.events.iter().find_map(|l| match &l.event {
            Event::Resolved { id: done, result, .. } if *done == id => Some(result.clone()),
            _ => None,
        })
    }

    /// A connection from `remote` arrives on the simulated listener: its id if admitted (a
    /// rejected socket is closed at once).
    pub fn accept(&mut self, remote: SocketAddr) -> Option<InboundId> {
        let at = self.elapsed();
        let io = self.sockets.open(None);
        let id = self.core.accept(self.now, self.listener, remote, io);
        match id {
            Some(id) => self.sockets.set_owner(io, Peer::Inbound(id)),
            None => self.sockets.close(io, Closer::Io, at),
        }
        self.drain();
        id
    }

    /// The peer of a live connection closes it `after` from now; the simulator then reports it
    /// with `close(peer, RemoteClosed)`, as the reactor's default handler does.
    pub fn remote_close(&mut self, peer: impl Into<Peer>, after: Duration) {
        let peer = peer.into();
        if let Some(io) = self.core.io(peer) {
            self.schedule(after, Wire::RemoteClosed { peer, io });
        }
    }

    /// Reports the outcome of `id`'s latest dial now, in place of what the network would report,
    /// even if its socket is already closed: what an I/O layer does when the outcome was already
    /// among the events it is handling when the request ended (the simulated network itself
    /// drops outcomes of closed sockets). A socket the core does not keep is closed as the I/O
    /// layer would. Returns `dial_succeeded`'s answer for a success, `true` for a failure.
    ///
    /// # Panics
    ///
    /// If `id` never dialled.
    pub fn report_late_dial(&mut self, id: ConnId, outcome: Result<(), io::ErrorKind>) -> bool {
        let at = self.elapsed();
        let io = self.dials.iter().rev().find(|d| d.id == id).map(|d| d.io);
        let io = io.unwrap_or_else(|| panic!("request {id} never dialled"));
        self.wire.retain(|_, w| !matches!(w, Wire::Connected { io: i, .. } | Wire::Failed { io: i, .. } if *i == io));
        let wanted = match outcome {
            Ok(()) => self.core.dial_succeeded(self.now, id),
            Err(kind) => {
                if self.sockets.is_open(io) {
                    self.sockets.close(io, Closer::Io, at);
                }
                self.core.dial_failed(self.now, id, io::Error::new(kind, "simulated late dial failure"));
                true
            }
        };
        if !wanted && self.sockets.is_open(io) && self.core.io(Peer::Outbound(id)) != Some(io) {
            self.sockets.close(io, Closer::Io, at);
        }
        self.drain();
        wanted
    }

    /// [`Core::export_bans`], at a wall-clock time of the caller's choice.
    pub fn export_bans(&self, wall_now: SystemTime) -> String {
        self.core.export_bans(self.now, wall_now)
    }

    /// [`Core::accept_error`] on the simulated listener.
    pub fn accept_error(&mut self, error: &io::Error) -> AcceptDecision {
        let decision = self.core.accept_error(self.now, self.listener, error);
        self.drain();
        decision
    }

    // ---- what happened ----------------------------------------------------------------------

    /// btcd's `failedAttempts`: failed automatic attempts in a row, the count behind the
    /// throttle.
    pub fn failed_attempts(&self) -> u32 {
        self.core.failed_attempts()
    }

    /// Timers armed in the core now (connect timeouts, retries, pauses, user timers).
    pub fn timers_armed(&self) -> usize {
        self.core.timers_armed()
    }

    /// The last request id issued (0 if none).
    pub fn last_id(&self) -> u64 {
        self.core.ids().last()
    }

    /// Every event, in order.
    pub fn events(&self) -> &[Logged] {
        &self.events
    }

    /// Events about one request.
    pub fn events_of(&self, id: ConnId) -> impl Iterator<Item = &Logged> {
        self.events.iter().filter(move |l| event_id(&l.event) == Some(id))
    }

    /// One request's life, step by step.
    pub fn trace(&self, id: ConnId) -> Vec<Step> {
        self.events_of(id)
            .filter_map(|l| match &l.event {
                Event::Connected { .. } => Some(Step::Connected),
                Event::Disconnected { reason, .. } => Some(Step::Disconnected(reason.clone())),
                Event::DialFailed { error, next, .. } => Some(Step::DialFailed(error.cause(), *next)),
                Event::Ended { state, .. } => Some(Step::Ended(*state)),
                _ => None,
            })
            .collect()
    }

    /// Every `Connected`: time and request.
    pub fn connected(&self) -> Vec<(Duration, ConnInfo)> {
        self.events
            .iter()
            .filter_map(|l| match &l.event {
                Event::Connected { info, .. } => Some((l.at, info.clone())),
                _ => None,
            })
            .collect()
    }

    /// The ids of every `Connected`, in order.
    pub fn connected_ids(&self) -> Vec<ConnId> {
        self.connected().into_iter().map(|(_, info)| info.id).collect()
    }

    /// When `id` connected.
    pub fn connections_of(&self, id: ConnId) -> Vec<Duration> {
        self.connected().into_iter().filter(|(_, info)| info.id == id).map(|(at, _)| at).collect()
    }

    /// Every `Disconnected`: time, request and reason.
    pub fn disconnected(&self) -> Vec<(Duration, ConnInfo, DisconnectReason)> {
        self.events
            .iter()
            .filter_map(|l| match &l.event {
                Event::Disconnected { info, reason } => Some((l.at, info.clone(), reason.clone())),
                _ => None,
            })
            .collect()
    }

    /// When `id` was disconnected, and why.
    pub fn disconnections_of(&self, id: ConnId) -> Vec<(Duration, DisconnectReason)> {
        self.disconnected().into_iter().filter(|(_, info, _)| info.id == id).map(|(at, _, r)| (at, r)).collect()
    }

    /// Every `DialFailed`: time, request and what follows.
    pub fn dial_failures(&self) -> Vec<(Duration, ConnInfo, NextStep)> {
        self.events
            .iter()
            .filter_map(|l| match &l.event {
                Event::DialFailed { info, next, .. } => Some((l.at, info.clone(), *next)),
                _ => None,
            })
            .collect()
    }

    /// `id`'s dial failures: time and what follows.
    pub fn dial_failures_of(&self, id: ConnId) -> Vec<(Duration, NextStep)> {
        self.dial_failures().into_iter().filter(|(_, info, _)| info.id == id).map(|(at, _, n)| (at, n)).collect()
    }

    /// The state `id` ended in, if it has ended.
    pub fn ended(&self, id: ConnId) -> Option<ConnState> {
        self.ended_all().into_iter().find(|(i, _)| *i == id).map(|(_, s)| s)
    }

    /// When `id` ended.
    pub fn ended_at(&self, id: ConnId) -> Option<Duration> {
        self.events.iter().find(|l| matches!(&l.event, Event::Ended { info, .. } if info.id == id)).map(|l| l.at)
    }

    /// Every `Ended`, in order: request and state.
    pub fn ended_all(&self) -> Vec<(ConnId, ConnState)> {
        self.events
            .iter()
            .filter_map(|l| match &l.event {
                Event::Ended { info, state } => Some((info.id, *state)),
                _ => None,
            })
            .collect()
    }

    /// Every user timer that fired: time and data.
    pub fn timers_fired(&self) -> Vec<(Duration, u64)> {
        self.events
            .iter()
            .filter_map(|l| match &l.event {
                Event::Timer { data } => Some((l.at, *data)),
                _ => None,
            })
            .collect()
    }

    /// Every inbound connection closed: time, id and reason.
    pub fn inbound_closed(&self) -> Vec<(Duration, InboundId, DisconnectReason)> {
        self.events
            .iter()
            .filter_map(|l| match &l.event {
                Event::InboundClosed { id, reason } => Some((l.at, *id, reason.clone())),
                _ => None,
            })
            .collect()
    }

    /// Every dial, in order.
    pub fn dials(&self) -> &[DialRecord] {
        &self.dials
    }

    /// When dials started.
    pub fn dial_times(&self) -> Vec<Duration> {
        self.dials.iter().map(|d| d.at).collect()
    }

    /// When `id` dialled.
    pub fn dial_times_of(&self, id: ConnId) -> Vec<Duration> {
        self.dials.iter().filter(|d| d.id == id).map(|d| d.at).collect()
    }

    /// When the core asked the address source for an address.
    pub fn address_requests(&self) -> &[Duration] {
        &self.address_requests
    }

    /// When the core resumed accepting after a pause.
    pub fn resumes(&self) -> &[Duration] {
        &self.resumes
    }

    /// Every socket the core asked to close: time and socket.
    pub fn closes(&self) -> &[(Duration, IoKey)] {
        &self.closes
    }

    /// Whether a socket is open (not closed by anyone yet).
    pub fn is_open(&self, io: IoKey) -> bool {
        self.sockets.is_open(io)
    }

    /// Sockets open now, detached ones included.
    pub fn open_sockets(&self) -> usize {
        self.sockets.open_count()
    }

    /// Each change of the number of established automatic connections: (time, count).
    pub fn auto_history(&self) -> &[(Duration, u32)] {
        &self.checker.auto_history
    }

    /// Established automatic connections now.
    pub fn auto_established(&self) -> usize {
        self.core.counters().established_automatic as usize
    }

    /// The checks every test can end with after `stop`: nothing live, no timer armed, nothing
    /// to wake up for, every socket closed exactly once, every request ended exactly once, and
    /// every connection reported closed.
    pub fn assert_clean_shutdown(&self) {
        assert!(self.core.is_stopped(), "assert_clean_shutdown before stop");
        assert_eq!(self.core.live_requests(), 0, "requests left after stop");
        assert_eq!(self.core.timers_armed(), 0, "timers left after stop");
        assert_eq!(self.core.poll_timeout(), None, "a wake-up asked for after stop");
        self.sockets.assert_all_closed();
        assert_eq!(self.checker.connected_now(), 0, "a connection was never reported disconnected");
        assert_eq!(self.checker.inbound_now(), 0, "an inbound connection was never reported closed");
        let issued = self.core.ids().last();
        assert_eq!(self.checker.ended_count() as u64, issued, "a request never ended");
        assert_eq!(self.disconnected().len(), self.connected().len(), "connections and disconnections do not pair up");
    }

    // ---- the simulated I/O layer ------------------------------------------------------------

    /// Performs every action the core has queued, then checks the invariants.
    fn drain(&mut self) {
        let at = self.elapsed();
        while let Some(action) = self.core.poll_action() {
            self.outputs += 1;
            match action {
                Action::NeedAddress { class } => {
                    self.address_requests.push(at);
                    let source = self.class_sources.get_mut(&class).unwrap_or(&mut self.source);
                    let answer = source.next_answer();
                    self.core.address(self.now, class, answer);
                }
                Action::Dial { id, target, proxy } => self.dial(id, target, proxy.map(|p| p.addr())),
                Action::Resolve { id, name, .. } => self.resolve_answer(id, name),
                Action::Close { io } => {
                    self.closes.push((at, io));
                    self.sockets.close(io, Closer::Core, at);
                }
                Action::ResumeAccept { .. } => self.resumes.push(at),
                Action::Event(event) => self.events.push(Logged { at, event }),
            }
        }
        self.checker.step(at, &self.core, &self.events[self.checked..], &self.sockets);
        self.checked = self.events.len();
    }

    fn dial(&mut self, id: ConnId, target: Target, proxy: Option<SocketAddr>) {
        let at = self.elapsed();
        let io = self.sockets.open(Some(Peer::Outbound(id)));
        let fate = self.net.fate(at, &target);
        self.dials.push(DialRecord { at, id, target, proxy, io });
        if let Fate::FailNow = fate {
            // `connect` failed synchronously: close the socket, report without `dial_started`.
            self.sockets.close(io, Closer::Io, at);
            self.core.dial_failed(self.now, id, crate::error::network_unreachable());
            return;
        }
        if !self.core.dial_started(id, io) {
            self.sockets.close(io, Closer::Io, at);
            return;
        }
        match fate {
            Fate::FailNow => unreachable!(),
            Fate::Fail { after, error } => self.schedule(after, Wire::Failed { id, io, error }),
            Fate::Connect { after, lifetime } => {
                self.schedule(after, Wire::Connected { id, io });
                if let Some(lifetime) = lifetime {
                    self.schedule(after + lifetime, Wire::RemoteClosed { peer: Peer::Outbound(id), io });
                }
            }
            Fate::Silent => {}
        }
    }

    /// A lookup: the simulator has no Tor; it answers from the network's script of names.
    fn resolve_answer(&mut self, id: LookupId, name: HostName) {
        let answer = self.net.lookup(&name);
        self.core.lookup_done(id, answer);
    }

    fn schedule(&mut self, after: Duration, wire: Wire) {
        self.seq += 1;
        self.wire.insert((self.now + after, self.seq), wire);
    }

    /// What a reactor does with a socket event. Events for a socket closed meanwhile are
    /// dropped: a reactor deregisters a socket before closing it, so it never hears of it.
    fn deliver(&mut self, wire: Wire) {
        let at = self.elapsed();
        match wire {
            Wire::Connected { id, io } => {
                if self.sockets.is_open(io) && !self.core.dial_succeeded(self.now, id) {
                    self.sockets.close(io, Closer::Io, at);
                }
            }
            Wire::Failed { id, io, error } => {
                if self.sockets.is_open(io) {
                    self.sockets.close(io, Closer::Io, at);
                    self.core.dial_failed(self.now, id, error);
                }
            }
            Wire::RemoteClosed { peer, io } => {
                let socket = self.sockets.get(io).expect("known socket");
                if socket.closed.is_none() && !socket.detached {
                    if let Err(e) = self.core.close(self.now, peer, DisconnectReason::RemoteClosed) {
                        panic!("at {at:?}: remote close of {peer}'s open socket refused: {e}");
                    }
                }
            }
        }
        self.drain();
    }
}
