//! The mio I/O layer: [`Reactor`] owns every socket the manager dials or accepts, registers them
//! with a `Poll`, turns readiness into core inputs and core actions into syscalls and
//! [`Handler`] callbacks.
//!
//! It runs inside the caller's own `mio::Poll` (it owns the tokens of a [`TokenSpace`]), or
//! inside [`Manager`](crate::Manager), which owns a `Poll` and runs this same reactor in a loop:
//! one implementation under both, so they cannot drift.
//!
//! Sockets are registered once, for readable and writable, and never re-registered:
//! edge-triggered readiness costs nothing while idle, and it saves an `epoll_ctl` per
//! connection on the churn path.

mod ctx;
mod handler;
mod listen;
mod table;
mod token;

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use mio::event::Event as MioEvent;
use mio::net::TcpStream;
use mio::{Registry, Token};

pub use ctx::Ctx;
pub use handler::Handler;
pub use token::TokenSpace;

use crate::command::{Command, Shared};
use crate::config::Config;
use crate::core::Fresh;
use crate::core::{Action, ConnectOptions, Core, Event, InboundSlot, TimerId};
use crate::error::{Error, OpError};
use crate::id::IdAllocator;
use crate::peer::{Peer, Ready};
use crate::policy::admission::bans::ImportError;
use crate::policy::outbound::ConnClass;
use crate::proxy::Routes;
use crate::rng::Rng;
use table::{token_of, Kind, Sockets, Stage};

/// Due timers fired per batch in `handle_timeout`, each batch's actions performed before the
/// next: a burst of retries due in the same millisecond never queues more than this many dials.
const TIMER_BATCH: usize = 32;

/// A `Ctx` over the reactor's parts, leaving `handler` free to be borrowed beside it.
macro_rules! ctx_of {
    ($reactor:ident, $now:expr) => {
        Ctx {
            core: &mut $reactor.core,
            sockets: &mut $reactor.sockets,
            registry: &$reactor.registry,
            cmds: &mut $reactor.cmds,
            stop_queued: &mut $reactor.stop_queued,
            now: $now,
        }
    };
}

// Declared after `ctx_of!`, which they use (macros are in scope from their definition on).
mod connect;
#[cfg(feature = "dns")]
mod dns;

/// A connection's stream handed over by `detach`, with its inbound slot if it was accepted:
/// the slot counts against `max_inbound` until you drop it.
#[derive(Debug)]
pub struct Detached {
    /// The stream, still non-blocking and no longer registered.
    pub stream: TcpStream,
    /// The inbound slot of an accepted connection.
    pub slot: Option<InboundSlot>,
}

/// What a [`Handle`](crate::Handle) shares with its reactor.
pub(crate) struct Mailbox {
    pub(crate) tx: SyncSender<Command>,
    pub(crate) ids: IdAllocator,
    pub(crate) lookup_ids: IdAllocator,
    pub(crate) shared: Arc<Shared>,
    pub(crate) routes: Routes,
}

/// The connection manager on a mio `Poll`: the core, the sockets, and your [`Handler`].
///
/// Its operations apply at once and return the same errors on every layer; [`Ctx`] (inside
/// callbacks) and [`Handle`](crate::Handle) (other threads) queue the same operations for it.
///
/// # Embedding
///
/// Give it a registry and a token space, feed it the events of its tokens, sleep until its
/// [`poll_timeout`](Self::poll_timeout), and call [`handle_timeout`](Self::handle_timeout) after
/// every batch of events:
///
/// ```
/// use connmgr::{Config, Handler, Reactor, TokenSpace};
/// use mio::{Events, Poll, Token};
/// use std::time::{Duration, Instant};
///
/// struct Quiet;
/// impl Handler for Quiet {}
///
/// const MY_LISTENER: Token = Token(0); // the application's own tokens stay small
///
/// let mut poll = Poll::new()?;
/// let config = Config { target_outbound: 0, ..Config::default() };
/// let mut reactor = Reactor::new(config, Quiet, poll.registry(), TokenSpace::default())?;
/// reactor.start();
/// let mut events = Events::with_capacity(256);
/// for _ in 0..3 {
///     let now = Instant::now();
///     let timeout = reactor.poll_timeout().map(|t| t.saturating_duration_since(now));
///     // An idle manager arms no timer; the cap is only so that this example ends.
///     poll.poll(&mut events, Some(timeout.unwrap_or(Duration::from_millis(1))))?;
///     let now = Instant::now();
///     for event in events.iter() {
///         if reactor.owns(event.token()) {
///             reactor.handle_event(event, now);
///         } else if event.token() == MY_LISTENER {
///             // the application's own source
///         }
///     }
///     reactor.handle_timeout(now);
/// }
/// reactor.stop()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Reactor<H: Handler> {
    core: Core,
    handler: H,
    registry: Registry,
    sockets: Sockets,
    listeners: Vec<(Token, SocketAddr)>,
    /// Commands queued by callbacks.
    cmds: VecDeque<Command>,
    /// A `Ctx::stop` is queued: later operations in callbacks are refused.
    stop_queued: bool,
    /// Commands from handles, made when the first handle is.
    inbox: Option<(SyncSender<Command>, Receiver<Command>)>,
    command_queue: usize,
    shared: Arc<Shared>,
    /// For Tor's stream isolation credentials.
    rng: Rng,
    finished: bool,
    /// The DNS resolver, made at the first lookup, and its configuration until then.
    #[cfg(feature = "dns")]
    dns: Option<Box<dns::Dns>>,
    #[cfg(feature = "dns")]
    dns_config: Option<crate::dns::ResolverConfig>,
    /// A sharded manager's accepting shard: hands accepted sockets to other shards (`None`:
    /// admit here).
    #[cfg(feature = "shards")]
    handoff: Option<Handoff>,
}

/// Takes an accepted socket for another shard, or gives it back to be admitted here.
#[cfg(feature = "shards")]
pub(crate) type Handoff = Box<dyn FnMut(TcpStream, SocketAddr) -> Option<(TcpStream, SocketAddr)> + Send>;

impl<H: Handler> Reactor<H> {
    /// A reactor registering its sockets with `registry` under `space`'s tokens; it binds the
    /// configured listeners now.
    pub fn new(config: Config, handler: H, registry: &Registry, space: TokenSpace) -> Result<Self, Error> {
        Self::with_ids(config, handler, registry, space, IdAllocator::default())
    }

    pub(crate) fn with_ids(
        config: Config,
        handler: H,
        registry: &Registry,
        space: TokenSpace,
        ids: IdAllocator,
    ) -> Result<Self, Error> {
        let core = Core::with_ids(&config, ids, Instant::now())?;
        let mut reactor = Reactor {
            core,
            handler,
            registry: registry.try_clone()?,
            sockets: Sockets::new(space, config.capacity),
            listeners: Vec::new(),
            cmds: VecDeque::with_capacity(8),
            stop_queued: false,
            inbox: None,
            command_queue: config.command_queue,
            shared: Arc::new(Shared::default()),
            rng: Rng::from_os(),
            finished: false,
            #[cfg(feature = "dns")]
            dns: None,
            #[cfg(feature = "dns")]
            dns_config: config.dns.clone(),
            #[cfg(feature = "shards")]
            handoff: None,
        };
        for &addr in &config.listeners {
            let listener = std::net::TcpListener::bind(addr).map_err(|source| Error::Listen { addr, source })?;
            reactor.add_listener(listener).map_err(|e| match e {
                Error::Io(source) => Error::Listen { addr, source },
                other => other,
            })?;
        }
        Ok(reactor)
    }

    /// The tokens this reactor owns in the `Poll`.
    pub fn token_space(&self) -> TokenSpace {
        self.sockets.space()
    }

    /// Whether `token` is this reactor's (including its waker token).
    pub fn owns(&self, token: Token) -> bool {
        self.sockets.space().owns(token)
    }

    /// Starts the manager: [`Handler::on_start`], then the requests made so far and the
    /// automatic ones (btcd's `Start`). Later calls do nothing.
    pub fn start(&mut self) {
        if self.core.is_started() || self.core.is_stopped() {
            return;
        }
        let shared = Arc::clone(&self.shared);
        let _inside = shared.enter();
        let now = Instant::now();
        let mut ctx = ctx_of!(self, now);
        self.handler.on_start(&mut ctx);
        self.core.start(now);
        self.run(now);
    }

    /// Whether the manager has stopped.
    pub fn is_stopped(&self) -> bool {
        self.finished
    }

    crate::command::operations!(&mut Self, "Applied at once.");
    crate::command::queries!();

    /// Handles one event of this reactor's tokens (check with [`owns`](Self::owns)).
    pub fn handle_event(&mut self, event: &MioEvent, now: Instant) {
        let shared = Arc::clone(&self.shared);
        let _inside = shared.enter();
        let token = event.token();
        if token == self.sockets.space().waker() {
            self.take_commands();
            self.run(now);
            return;
        }
        let Some(entry) = self.sockets.get_mut(token) else {
            // Closed earlier in this batch: its slot is quarantined, so the event cannot reach
            // another socket.
            log::trace!("event for a closed socket {:?} dropped", token);
            return;
        };
        match &mut entry.kind {
            Kind::Listener { paused: false, key, .. } => {
                let key = *key;
                self.accept_all(now, token, key);
            }
            Kind::Listener { paused: true, .. } | Kind::Closed => {}
            Kind::Outbound { stage: Stage::Open, id, .. } => {
                let peer = Peer::Outbound(*id);
                let mut ctx = ctx_of!(self, now);
                self.handler.on_ready(&mut ctx, peer, Ready::from_event(event));
            }
            Kind::Outbound { .. } | Kind::Lookup { .. } => self.progress(now, token, event),
            Kind::Inbound { id, .. } => {
                let peer = Peer::Inbound(*id);
                let mut ctx = ctx_of!(self, now);
                self.handler.on_ready(&mut ctx, peer, Ready::from_event(event));
            }
            #[cfg(feature = "dns")]
            Kind::DnsUdp { .. } | Kind::DnsTcp { .. } => self.dns_ready(now, token, event),
            #[cfg(feature = "dns")]
            Kind::Resolving { .. } => {}
        }
        self.run(now);
    }

    /// Fires due timers. Call it after every batch of events (not only when the timeout
    /// passed): it also frees the slots of sockets closed during the batch.
    pub fn handle_timeout(&mut self, now: Instant) {
        let shared = Arc::clone(&self.shared);
        let _inside = shared.enter();
        while self.core.handle_timeout_batch(now, TIMER_BATCH) {
            self.run(now);
        }
        #[cfg(feature = "dns")]
        self.dns_timeout(now);
        self.run(now);
        self.sockets.release();
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due; `None` when no timer is armed
    /// (an idle manager needs no wake-up at all).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.finished {
            return None;
        }
        self.core.poll_timeout()
    }

    /// Takes a connection's stream out of the manager. An outbound request stays
    /// `Established` (counting toward its target) until you report the end with `close`,
    /// `disconnect` or `remove`; an accepted connection is forgotten, its slot handed over.
    pub fn detach(&mut self, peer: Peer) -> Result<Detached, OpError> {
        detach(&mut self.core, &mut self.sockets, &self.registry, peer)
    }

    /// The bans as plain text (`<subnet> <until, unix seconds>` per line), to persist.
    pub fn export_bans(&self) -> String {
        self.core.export_bans(Instant::now(), SystemTime::now())
    }

    /// Bans from [`export_bans`](Self::export_bans)'s text; how many were still in force.
    pub fn import_bans(&mut self, text: &str) -> Result<usize, ImportError> {
        self.core.import_bans(Instant::now(), text, SystemTime::now())
    }

    /// Calls [`Handler::on_timer`] with `data` after `after`.
    pub fn set_timer(&mut self, after: Duration, data: u64) -> Result<TimerId, OpError> {
        self.core.set_timer(Instant::now(), after, data)
    }

    /// Cancels a timer; false if it already fired or was cancelled.
    pub fn cancel_timer(&mut self, id: TimerId) -> bool {
        self.core.cancel_timer(id)
    }

    /// The state machine, for queries such as [`Core::requests`].
    pub fn core(&self) -> &Core {
        &self.core
    }

    /// Your handler.
    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// Your handler, mutably.
    pub fn handler_mut(&mut self) -> &mut H {
        &mut self.handler
    }

    /// Sockets the manager holds (listeners, dials, connections).
    pub fn sockets(&self) -> usize {
        self.sockets.len()
    }

    /// The pieces a [`Handle`](crate::Handle) needs: the sending half of the bounded command
    /// queue (made on first use), the id counter and the shared state.
    pub(crate) fn mailbox(&mut self) -> Mailbox {
        let bound = self.command_queue;
        let (tx, _) = self.inbox.get_or_insert_with(|| mpsc::sync_channel(bound));
        Mailbox {
            tx: tx.clone(),
            ids: self.core.ids().clone(),
            lookup_ids: self.core.lookup_ids().clone(),
            shared: Arc::clone(&self.shared),
            routes: self.core.routes().clone(),
        }
    }

    /// Runs `f` on the core as an operation (inside the reactor, with the time), then performs
    /// what it produced: the front ends' way to feed the core something that is not a command.
    #[cfg(feature = "shards")]
    pub(crate) fn with_core<T>(&mut self, f: impl FnOnce(&mut Core, Instant) -> T) -> T {
        let shared = Arc::clone(&self.shared);
        let _inside = shared.enter();
        let now = Instant::now();
        let out = f(&mut self.core, now);
        self.run(now);
        out
    }

    /// Makes this reactor hand accepted sockets to `handoff` before admitting them.
    #[cfg(feature = "shards")]
    pub(crate) fn set_handoff(&mut self, handoff: Handoff) {
        self.handoff = Some(handoff);
    }

    /// Checks a new request or lookup as the reactor would apply it, and draws its id.
    pub(crate) fn mint(&self, fresh: Fresh<'_>) -> Result<u64, OpError> {
        self.core.mint(fresh, true)
    }

    fn view(&self) -> &Core {
        &self.core
    }

    fn view_now(&self) -> Instant {
        Instant::now()
    }

    /// Applies an operation now, on behalf of the caller: the reactor's `submit`.
    pub(crate) fn submit(&mut self, command: Command) -> Result<(), OpError> {
        let shared = Arc::clone(&self.shared);
        let _inside = shared.enter();
        let now = Instant::now();
        let result = self.apply(now, command);
        self.run(now);
        result
    }

    /// Moves commands from handles to the queue.
    fn take_commands(&mut self) {
        if let Some((_, rx)) = &self.inbox {
            // Wakes coalesce: one wake may stand for many commands, so take them all.
            self.cmds.extend(rx.try_iter());
        }
        if self.shared.take_stop_request() {
            self.cmds.push_back(Command::Stop);
        }
    }

    /// Performs the core's actions and applies queued commands until neither is left.
    fn run(&mut self, now: Instant) {
        loop {
            if let Some(action) = self.core.poll_action() {
                self.perform(now, action);
                continue;
            }
            #[cfg(feature = "dns")]
            if self.step_dns(now) {
                continue;
            }
            if let Some(cmd) = self.cmds.pop_front() {
                if let Err(e) = self.apply(now, cmd) {
                    // The core has already logged unknown ids at btcd's level.
                    log::debug!("queued operation not applied: {e}");
                }
            } else {
                #[cfg(feature = "dns")]
                self.sync_dns_timer();
                return;
            }
        }
    }

    /// The one place every operation is applied, whichever front end asked for it.
    fn apply(&mut self, now: Instant, cmd: Command) -> Result<(), OpError> {
        match cmd {
            Command::Connect { id, target, opts } => self.core.connect_with_id(now, id, target, opts),
            Command::Resolve { id, name } => self.core.resolve_with_id(now, id, name),
            Command::NewConnReq => self.core.new_conn_req(now),
            Command::Disconnect { id, opts } => self.core.disconnect(now, id, opts),
            Command::Remove { id } => self.core.remove(now, id),
            Command::Close { peer, reason } => self.core.close(now, peer, reason),
            Command::Stop => self.shutdown(now),
            Command::Ban { subnet, duration } => self.core.ban(now, subnet, duration),
            Command::Unban { subnet } => self.core.unban(subnet).map(drop),
            Command::Misbehaving { peer, persistent, transient, reason } => {
                self.core.misbehaving(now, peer, persistent, transient, reason).map(drop)
            }
            Command::Observe { peer, observation } => self.core.observe(now, peer, observation),
            Command::Probe { id, target, kind } => {
                self.core.make_request(now, id, target, &ConnectOptions::once(), ConnClass::Probe(kind))
            }
            Command::Pause { mode } => self.core.pause(now, mode),
            Command::Resume => self.core.resume(now),
            #[cfg(feature = "dns")]
            Command::Seed { hosts, default_port } => {
                if self.core.is_stopped() {
                    return Err(OpError::Stopped);
                }
                self.seed_hosts(now, hosts, default_port);
                Ok(())
            }
            Command::State { id, reply } => {
                // The asker may have given up; nothing to do then.
                let _ = reply.try_send(self.core.state(id));
                Ok(())
            }
            Command::Counters { reply } => {
                let _ = reply.try_send(self.core.counters());
                Ok(())
            }
        }
    }

    fn shutdown(&mut self, now: Instant) -> Result<(), OpError> {
        if self.finished || self.core.is_stopped() {
            log::warn!("Connection manager already stopped");
            return Err(OpError::Stopped);
        }
        self.shared.set_stopped();
        self.stop_queued = true;
        self.core.stop(now)?;
        self.run(now);
        #[cfg(feature = "dns")]
        self.shutdown_dns();
        for (token, addr) in std::mem::take(&mut self.listeners) {
            if let Some(Kind::Listener { key, .. }) = self.sockets.take(&self.registry, token) {
                self.core.remove_listener(key);
                log::trace!("Listener handler done for {addr}");
            }
        }
        for token in self.sockets.tokens() {
            log::error!("socket {token:?} survived shutdown; closed");
            self.sockets.close(&self.registry, token);
        }
        // Commands from handles that raced with the stop are refused like any later call; a
        // waiting `state` sees its reply channel dropped.
        if let Some((_, rx)) = self.inbox.take() {
            self.cmds.extend(rx.try_iter());
        }
        self.finished = true;
        self.sockets.release();
        Ok(())
    }

    fn perform(&mut self, now: Instant, action: Action) {
        match action {
            Action::NeedAddress { class } => {
                let answer = if self.core.is_stopped() { None } else { self.handler.new_address(class) };
                self.core.address(now, class, answer);
            }
            Action::Dial { id, target, proxy } => self.dial(now, id, target, proxy),
            Action::Resolve { id, name, proxy: Some(proxy) } => self.lookup(id, &name, &proxy),
            #[cfg(feature = "dns")]
            Action::Resolve { id, name, proxy: None } => self.resolve_name(now, id, &name),
            #[cfg(not(feature = "dns"))]
            Action::Resolve { id, proxy: None, .. } => {
                // The core routes lookups without a proxy only with the feature.
                log::error!("{id} has no route; not resolved");
                self.core.lookup_done(id, Err(crate::core::ResolveError::Canceled));
            }
            Action::Close { io } => match self.sockets.take(&self.registry, token_of(io)) {
                #[cfg(feature = "dns")]
                Some(Kind::Resolving { lookup }) => self.cancel_lookup(now, lookup),
                _ => {}
            },
            Action::ResumeAccept { listener } => self.resume_accept(now, listener),
            Action::Event(event) => {
                let mut ctx = ctx_of!(self, now);
                let h = &mut self.handler;
                match event {
                    Event::Connected { info, .. } => h.on_connection(&mut ctx, &info),
                    Event::Disconnected { info, reason } => h.on_disconnection(&mut ctx, &info, &reason),
                    Event::DialFailed { info, error, next } => h.on_dial_failed(&mut ctx, &info, &error, next),
                    Event::Ended { info, state } => h.on_request_ended(&mut ctx, &info, state),
                    Event::Accepted { id, remote } => h.on_accept(&mut ctx, id, remote),
                    Event::InboundClosed { id, reason } => h.on_inbound_closed(&mut ctx, id, &reason),
                    Event::Resolved { id, name, result } => h.on_resolved(&mut ctx, id, &name, &result),
                    Event::Timer { data } => h.on_timer(&mut ctx, data),
                    Event::Network { online } => h.on_network(&mut ctx, online),
                }
            }
        }
    }
}

impl<H: Handler> Drop for Reactor<H> {
    fn drop(&mut self) {
        self.shared.set_stopped();
        for token in self.sockets.tokens() {
            self.sockets.close(&self.registry, token);
        }
    }
}

impl<H: Handler> fmt::Debug for Reactor<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reactor")
            .field("sockets", &self.sockets.len())
            .field("listeners", &self.listeners)
            .field("counters", &self.core.counters())
            .field("stopped", &self.finished)
            .finish_non_exhaustive()
    }
}

/// `detach` for the reactor and for `Ctx`, which hold the same parts.
fn detach(core: &mut Core, sockets: &mut Sockets, registry: &Registry, peer: Peer) -> Result<Detached, OpError> {
    let (io, slot) = core.detach(peer)?;
    match sockets.take(registry, token_of(io)) {
        Some(Kind::Outbound { stream, .. } | Kind::Inbound { stream, .. }) => Ok(Detached { stream, slot }),
        _ => {
            log::error!("detached {peer} had no socket");
            Err(match peer {
                Peer::Outbound(id) => OpError::NotEstablished(id),
                Peer::Inbound(id) => OpError::UnknownInbound(id),
            })
        }
    }
}
