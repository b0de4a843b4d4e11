//! [`ShardedManager`]: one reactor per core, one manager. N shards, each a [`Manager`] with its
//! own `Poll`, request table, timer wheel and [`Handler`] (a factory makes one per shard; state
//! the shards share is the user's, behind an `Arc`), each on its own thread, behind one
//! [`Handle`].
//!
//! Nothing on the per-connection path is shared: a request lives on one shard from `connect` to
//! its end, and its id says which (shard `i` of `n` hands out ids `i + 1`, `i + 1 + n`, ...;
//! accepted connections' serials likewise), so the handle routes each command to exactly one
//! shard without asking anyone. The rules that span shards (the automatic target, the dial
//! limit, `max_inbound`, the per-host and per-netgroup caps, bans) are kept by
//! `crate::policy::global`: atomic counters each shard reserves from, exact by construction, and bans
//! copied to every shard.
//!
//! Listeners: on Linux every shard binds the same address with `SO_REUSEPORT` and the kernel
//! spreads connections over them ([`Accept::ReusePort`]); elsewhere, or when asked, the first
//! shard accepts and hands each socket to the shards in turn, before admission
//! ([`Accept::Handoff`]). Either way admission runs on the shard that keeps the socket and
//! counts against the shared limits, so it stays exact.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Instant;

use mio::net::TcpStream;
use mio::{Poll, Waker};

use super::handle::{Endpoint, Fleet, Handle};
use super::{sum_counters, Manager};
use crate::command::{shard_of, Command, Route};
use crate::config::Config;
use crate::core::Fresh;
use crate::core::{ConnState, Counters, ListenerKey};
use crate::error::{Error, OpError};
use crate::id::{ConnId, IdAllocator};
use crate::policy::admission::AcceptRate;
use crate::policy::global::{share, Global, Limits, MAX_SHARDS};
use crate::proxy::Routes;
use crate::reactor::{Handler, Reactor, TokenSpace};

/// Sockets a shard may have waiting for it from the accepting shard ([`Accept::Handoff`]);
/// past that the accepting shard admits them itself.
const HANDOFF_QUEUE: usize = 1024;

/// How a sharded manager's listeners spread inbound connections over its shards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Accept {
    /// Every shard listens on the address with `SO_REUSEPORT` and the kernel balances
    /// connections between them (Linux; the default there).
    ReusePort,
    /// The first shard accepts every connection and hands each to the shards in turn, itself
    /// included (the default where the kernel does not balance `SO_REUSEPORT` listeners). Costs
    /// the accepting shard a wake-up of the receiving one per burst.
    Handoff,
}

impl Default for Accept {
    fn default() -> Self {
        if cfg!(any(target_os = "linux", target_os = "android")) {
            Accept::ReusePort
        } else {
            Accept::Handoff
        }
    }
}

/// Stops every shard if dropped while its thread unwinds.
struct StopOnPanic<'a>(&'a Fleet);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.stop_all();
        }
    }
}

/// Sockets handed to a shard by the accepting one.
struct Inbox {
    rx: Receiver<(TcpStream, SocketAddr)>,
    pending: Arc<AtomicBool>,
    /// The virtual listener they are admitted under.
    key: ListenerKey,
}

/// A shard's side of its manager, kept in its [`Manager`].
pub(crate) struct Link {
    fleet: Arc<Fleet>,
    global: Arc<Global>,
    index: usize,
    inbox: Option<Inbox>,
    stopped: bool,
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Link").field("index", &self.index).field("handoff", &self.inbox.is_some()).finish()
    }
}

impl Link {
    /// After every turn: mail from other shards, handed-off sockets, and the stop spreading.
    pub(crate) fn after_turn<H: Handler>(&mut self, reactor: &mut Reactor<H>) {
        if self.global.has_mail(self.index) {
            reactor.with_core(|core, now| core.global_mail(now));
        }
        if let Some(inbox) = &self.inbox {
            if inbox.pending.swap(false, Ordering::AcqRel) {
                // After stop the core refuses them, so they are closed at once.
                for (stream, remote) in inbox.rx.try_iter() {
                    reactor.adopt(inbox.key, stream, remote);
                }
            }
        }
        if reactor.is_stopped() && !self.stopped {
            self.stopped = true;
            self.fleet.stop_all();
        }
    }
}

/// A connection manager on every core: N shards, each a [`Manager`] on its own thread, behind
/// one [`Handle`].
///
/// The operations are the [`Manager`]'s, on the whole: `connect` and `new_conn_req` go to the
/// shards in turn, an operation on an id goes to the shard that owns it, `ban` reaches every
/// shard, `stop` stops every shard and reports each connection once, and `counters` are summed.
/// `target_outbound`, `max_dials_in_flight`, `max_inbound` and the per-host and per-netgroup
/// caps hold for the manager as a whole; the accept rate is split evenly between the shards
/// (the sum never exceeds it), and `capacity` too. Each shard has its own eviction, reconnect
/// throttle, timers and `ended_history`.
///
/// # Examples
///
/// ```
/// use connmgr::{AddressError, Config, ConnInfo, Ctx, Handler, Target, shards::ShardedManager};
/// use std::net::SocketAddr;
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
///
/// /// One per shard; what they share (here a count) is behind an `Arc`.
/// struct Node {
///     peer: SocketAddr,
///     connected: Arc<AtomicU32>,
/// }
///
/// impl Handler for Node {
///     fn new_address(&mut self, _class: connmgr::ClassId) -> Option<Result<Target, AddressError>> {
///         Some(Ok(self.peer.into()))
///     }
///
///     fn on_connection(&mut self, ctx: &mut Ctx<'_>, _conn: &ConnInfo) {
///         if self.connected.fetch_add(1, Ordering::SeqCst) + 1 == 4 {
///             ctx.stop().unwrap(); // stops every shard
///         }
///     }
/// }
///
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let peer = listener.local_addr()?;
/// let connected = Arc::new(AtomicU32::new(0));
/// let config = Config { target_outbound: 4, ..Config::default() };
/// let mut manager =
///     ShardedManager::new(config, 2, |_shard| Node { peer, connected: Arc::clone(&connected) })?;
/// manager.run()?; // both shards, each on its own thread, until one stops them all
/// assert_eq!(manager.counters().connected, 4); // two per shard: the target is the manager's
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ShardedManager<H: Handler> {
    shards: Vec<Manager<H>>,
    fleet: Arc<Fleet>,
    routes: Routes,
}

impl<H: Handler + Send> ShardedManager<H> {
    /// `shards` shards (1 ..= 64), each with the handler `factory(index)` makes; listeners are
    /// bound now, as [`Accept::default`] says.
    pub fn new(config: Config, shards: usize, factory: impl FnMut(usize) -> H) -> Result<Self, Error> {
        Self::with_accept(config, shards, Accept::default(), factory)
    }

    /// [`new`](Self::new), with the listeners spread as `accept` says.
    pub fn with_accept(
        config: Config,
        shards: usize,
        accept: Accept,
        mut factory: impl FnMut(usize) -> H,
    ) -> Result<Self, Error> {
        if !(1..=MAX_SHARDS).contains(&shards) {
            return Err(Error::ShardCount(shards));
        }
        if accept == Accept::ReusePort && !cfg!(any(target_os = "linux", target_os = "android")) {
            return Err(Error::NoReusePort);
        }
        config.validate().map_err(Error::Config)?;
        let space = TokenSpace::default();
        let mut polls = Vec::with_capacity(shards);
        for _ in 0..shards {
            let poll = Poll::new()?;
            let waker = Arc::new(Waker::new(poll.registry(), space.waker())?);
            polls.push((poll, waker));
        }
        let notify = polls
            .iter()
            .map(|(_, waker)| {
                let waker = Arc::clone(waker);
                Box::new(move || drop(waker.wake())) as Box<dyn Fn() + Send + Sync>
            })
            .collect();
        let p = &config.protection;
        let limits = Limits {
            targets: std::iter::once(config.target_outbound)
                .chain(config.outbound.classes.iter().map(|c| c.target))
                .collect(),
            max_per_netgroup: config.outbound.max_per_netgroup,
            max_dials: config.max_dials_in_flight,
            max_inbound: config.max_inbound,
            per_host: p.max_per_ip.is_some(),
            per_group: p.max_per_netgroup.is_some(),
        };
        let global = Arc::new(Global::new(limits, notify));
        let mut reactors = Vec::with_capacity(shards);
        for (i, (poll, _)) in polls.iter().enumerate() {
            let ids = IdAllocator::new(i as u64 + 1, shards as u64);
            let mut reactor =
                Reactor::with_ids(shard_config(&config, shards, i), factory(i), poll.registry(), space, ids)?;
            reactor.with_core(|core, _| core.join_shards(Arc::clone(&global), i));
            reactors.push(reactor);
        }
        let inboxes = listen(&config, accept, &mut reactors, &polls)?;
        let mut endpoints = Vec::with_capacity(shards);
        let mut routes = None;
        for (reactor, (_, waker)) in reactors.iter_mut().zip(&polls) {
            let (endpoint, r) = Endpoint::of(reactor, Arc::clone(waker));
            endpoints.push(endpoint);
            routes.get_or_insert(r);
        }
        let fleet = Arc::new(Fleet::new(endpoints));
        let managers = reactors
            .into_iter()
            .zip(polls)
            .zip(inboxes)
            .enumerate()
            .map(|(index, ((reactor, (poll, waker)), inbox))| {
                let mut m = Manager::from_parts(poll, waker, reactor);
                let link =
                    Link { fleet: Arc::clone(&fleet), global: Arc::clone(&global), index, inbox, stopped: false };
                m.set_link(link);
                m
            })
            .collect();
        let routes = routes.expect("at least one shard");
        Ok(ShardedManager { shards: managers, fleet, routes })
    }

    /// A handle for other threads, reaching every shard.
    pub fn handle(&self) -> Handle {
        Handle::fleet(Arc::clone(&self.fleet), self.routes.clone())
    }

    /// Starts every shard and runs each on its own thread (the first on this one) until they
    /// stop: a stop from anywhere ([`Handle::stop`], `Ctx::stop` on any shard) stops them all.
    pub fn run(&mut self) -> io::Result<()> {
        self.run_each(|_, shard| shard.run())
    }

    /// Runs every shard until they stop (true) or `deadline` passes (false).
    pub fn run_until(&mut self, deadline: Instant) -> io::Result<bool> {
        self.run_each(|_, shard| shard.run_until(deadline).map(drop))?;
        Ok(self.is_stopped())
    }

    /// Runs `f(index, shard)` for every shard, each on its own thread (the first on this one),
    /// and returns when all have returned: for callers that drive the shards' loops
    /// themselves ([`Manager::turn`]). A shard that stops, or whose `f` fails, stops the others.
    pub fn run_each<F>(&mut self, f: F) -> io::Result<()>
    where
        F: Fn(usize, &mut Manager<H>) -> io::Result<()> + Sync,
    {
        let fleet = &self.fleet;
        let f = &f;
        let one = move |i: usize, shard: &mut Manager<H>| {
            // A shard whose handler panics stops the others too (the panic then reaches the
            // caller when the threads are joined), rather than leaving them running for ever.
            let _on_panic = StopOnPanic(fleet);
            let result = f(i, shard);
            if result.is_err() || shard.reactor().is_stopped() {
                fleet.stop_all();
            }
            result
        };
        let (first, rest) = self.shards.split_first_mut().expect("at least one shard");
        std::thread::scope(|scope| {
            let threads: Vec<_> = rest
                .iter_mut()
                .enumerate()
                .map(|(i, shard)| {
                    std::thread::Builder::new()
                        .name(format!("connmgr-shard-{}", i + 1))
                        .spawn_scoped(scope, move || one(i + 1, shard))
                })
                .collect::<io::Result<_>>()
                .map_err(|e| {
                    fleet.stop_all();
                    e
                })?;
            let mut result = one(0, first);
            for t in threads {
                let r = t.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                result = result.and(r);
            }
            result
        })
    }
}

impl<H: Handler> ShardedManager<H> {
    /// Whether every shard has stopped.
    pub fn is_stopped(&self) -> bool {
        self.shards.iter().all(|s| s.reactor().is_stopped())
    }

    /// The shards, in order: shard `i` owns the ids and serials `n` with `(n - 1) % len == i`.
    pub fn shards(&self) -> &[Manager<H>] {
        &self.shards
    }

    /// The shards, mutably (between runs).
    pub fn shards_mut(&mut self) -> &mut [Manager<H>] {
        &mut self.shards
    }

    /// Counters summed over the shards (`inbound`, a count they share, is not summed).
    pub fn counters(&self) -> Counters {
        let mut all = self.shards.iter().map(|s| s.counters());
        let first = all.next().unwrap_or_default();
        all.fold(first, sum_counters)
    }

    /// A request's state, from the shard that owns it.
    pub fn state(&self, id: ConnId) -> Option<ConnState> {
        self.shards[shard_of(id.get(), self.shards.len())].state(id)
    }

    crate::command::operations!(
        &mut Self,
        "Applied at once (between runs), on the shard [`Handle`] would send it to: a new request \
         or lookup to the next shard in turn, an operation on an id or a peer to the shard that \
         owns it, a ban to the first shard, which passes it to the others, `pause`, `resume` and \
         `stop` to every shard. `stop` stops every shard on this thread and reports each \
         connection once; it returns `Stopped` only if every shard had stopped."
    );

    /// Applies `command` now on the shard (or shards) that [`Command::route`] names, as the
    /// [`Handle`] routes it.
    fn submit(&mut self, command: Command) -> Result<(), OpError> {
        match command.route() {
            Route::Owner(n) => {
                let i = shard_of(n, self.shards.len());
                self.shards[i].reactor_mut().submit(command)
            }
            Route::Next => {
                let i = self.fleet.next_index();
                self.shards[i].reactor_mut().submit(command)
            }
            Route::Home => {
                self.shards[0].reactor_mut().submit(command)?;
                self.deliver();
                Ok(())
            }
            Route::All => match command {
                Command::Stop => {
                    self.fleet.set_stopping();
                    let mut result = Err(OpError::Stopped);
                    for shard in self.shards.iter_mut().filter(|s| !s.reactor().is_stopped()) {
                        result = result.or(shard.reactor_mut().submit(Command::Stop));
                    }
                    result
                }
                command => self.shards.iter_mut().try_for_each(|shard| shard.reactor_mut().submit(command.clone())),
            },
        }
    }

    /// A new request or lookup, checked by the next shard in turn, which draws its id and owns it.
    fn mint(&mut self, fresh: Fresh<'_>) -> Result<u64, OpError> {
        let i = self.fleet.next_index();
        self.shards[i].reactor().mint(fresh)
    }

    /// Applies bans from [`Reactor::export_bans`](crate::Reactor::export_bans)'s text on every
    /// shard; how many were in force.
    pub fn import_bans(&mut self, text: &str) -> Result<usize, crate::inbound::ImportError> {
        let mut n = 0;
        for shard in &mut self.shards {
            n = shard.reactor_mut().import_bans(text)?;
        }
        Ok(n)
    }

    /// The listeners' addresses (every shard listens on the same ones).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.shards[0].reactor().local_addrs()
    }

    /// Lets every shard read its mail now (between runs, no thread does it).
    fn deliver(&mut self) {
        for shard in &mut self.shards {
            shard.reactor_mut().with_core(|core, now| core.global_mail(now));
        }
    }
}

impl<H: Handler> fmt::Debug for ShardedManager<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShardedManager")
            .field("shards", &self.shards.len())
            .field("counters", &self.counters())
            .field("stopped", &self.is_stopped())
            .finish_non_exhaustive()
    }
}

/// Shard `i`'s configuration: the manager's, with what is split split (capacity, the accept
/// rate) and no listeners (bound apart, see `listen`).
fn shard_config(config: &Config, shards: usize, i: usize) -> Config {
    let mut c = config.clone();
    c.listeners.clear();
    c.capacity = config.capacity / shards + usize::from(i < config.capacity % shards);
    c.protection.accept_rate = config
        .protection
        .accept_rate
        .map(|r| AcceptRate { burst: share(r.burst, shards, i), per_second: share(r.per_second, shards, i) });
    c
}

/// Binds the configured listeners as `accept` says; returns each shard's handoff inbox.
fn listen<H: Handler>(
    config: &Config,
    accept: Accept,
    reactors: &mut [Reactor<H>],
    polls: &[(Poll, Arc<Waker>)],
) -> Result<Vec<Option<Inbox>>, Error> {
    let mut inboxes: Vec<Option<Inbox>> = reactors.iter().map(|_| None).collect();
    if config.listeners.is_empty() {
        return Ok(inboxes);
    }
    let bound =
        |addr: SocketAddr, r: io::Result<std::net::TcpListener>| r.map_err(|source| Error::Listen { addr, source });
    match accept {
        Accept::ReusePort => {
            for &addr in &config.listeners {
                let mut at = addr;
                for reactor in reactors.iter_mut() {
                    let listener = bound(addr, reuseport_listener(at))?;
                    at = reactor.add_listener(listener).map_err(|e| relisten(addr, e))?;
                }
            }
        }
        Accept::Handoff => {
            let (first, rest) = reactors.split_first_mut().expect("at least one shard");
            for &addr in &config.listeners {
                first.add_listener(bound(addr, std::net::TcpListener::bind(addr))?).map_err(|e| relisten(addr, e))?;
            }
            let mut targets = vec![None];
            for (reactor, inbox) in rest.iter_mut().zip(inboxes.iter_mut().skip(1)) {
                let key = reactor.with_core(|core, _| core.add_listener()).map_err(Error::from)?;
                let (tx, rx) = mpsc::sync_channel(HANDOFF_QUEUE);
                let pending = Arc::new(AtomicBool::new(false));
                *inbox = Some(Inbox { rx, pending: Arc::clone(&pending), key });
                targets.push(Some((tx, pending)));
            }
            let wakers: Vec<_> = polls.iter().map(|(_, w)| Arc::clone(w)).collect();
            first.set_handoff(handoff(targets, wakers));
        }
    }
    Ok(inboxes)
}

/// A configured listener's error, named by its configured address.
fn relisten(addr: SocketAddr, e: Error) -> Error {
    match e {
        Error::Io(source) => Error::Listen { addr, source },
        other => other,
    }
}

type HandoffTarget = Option<(SyncSender<(TcpStream, SocketAddr)>, Arc<AtomicBool>)>;

/// The accepting shard's handoff: each accepted socket to the next shard in turn (`None` in
/// `targets` is the accepting shard itself), admitted here when that shard's queue is full.
fn handoff(targets: Vec<HandoffTarget>, wakers: Vec<Arc<Waker>>) -> crate::reactor::Handoff {
    let mut next = 0;
    Box::new(move |stream, remote| {
        let i = next;
        next = (next + 1) % targets.len();
        let Some((tx, pending)) = &targets[i] else { return Some((stream, remote)) };
        match tx.try_send((stream, remote)) {
            Ok(()) => {
                // One wake per burst: the shard clears the flag before it drains the queue.
                if !pending.swap(true, Ordering::AcqRel) {
                    let _ = wakers[i].wake();
                }
                None
            }
            Err(TrySendError::Full(back) | TrySendError::Disconnected(back)) => Some(back),
        }
    })
}

/// A listener on `addr` sharing its port with the other shards' (`SO_REUSEPORT`).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn reuseport_listener(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn reuseport_listener(_addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    Err(io::ErrorKind::Unsupported.into())
}
