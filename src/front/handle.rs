//! [`Handle`]: the manager's operations from other threads.
//!
//! A handle is a bounded channel sender plus the `Poll`'s one `mio::Waker` (mio allows one
//! waker per `Poll`). Wakes coalesce, so the reactor drains the whole channel on every wake.
//! Request ids come from the counter the core shares with every handle, so `connect` returns the
//! id at once, on any thread, before the reactor has seen the request. The queue is bounded
//! (`Config::command_queue`): a reactor that does not keep up makes calls fail with
//! [`OpError::Full`] instead of growing memory without end. `stop` never queues, so it always
//! gets through.
//!
//! A handle to a sharded manager (feature `shards`) holds one such endpoint per shard and routes
//! by id: a request's id (and an accepted connection's serial) says which shard owns it, so a
//! command goes to exactly one shard; new requests go round-robin; `stop` and `counters` go to
//! every shard.

use std::borrow::Cow;
use std::fmt;
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use mio::Waker;

use crate::command::{Command, Shared};
use crate::core::{ConnState, ConnectOptions, Counters, DisconnectOptions, DisconnectReason, LookupId, Observation};
use crate::error::OpError;
use crate::id::{ConnId, IdAllocator};
use crate::net::Subnet;
use crate::peer::Peer;
use crate::policy::outbound::{Pause, ProbeKind};
use crate::proxy::Routes;
use crate::reactor::{Handler, Mailbox, Reactor};
use crate::target::{HostName, Target};

/// How long a waiting call (`state`) waits for the reactor by default.
const DEFAULT_WAIT: Duration = Duration::from_secs(5);

/// Controls a running manager from any thread. Cheap to clone; `Send + Sync`.
///
/// The operations are the [`Reactor`]'s, queued: each returns once the command is queued, and
/// the reactor applies it on its next turn. What only the reactor can know (an unknown id, say)
/// is logged then, not returned. After the manager stops every call returns
/// [`OpError::Stopped`].
///
/// # Examples
///
/// ```
/// use connmgr::{Config, ConnState, ConnectOptions, Handler, Manager};
/// use std::time::Duration;
///
/// struct Quiet;
/// impl Handler for Quiet {}
///
/// let peer = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let mut manager = Manager::new(Config { target_outbound: 0, ..Config::default() }, Quiet)?;
/// let handle = manager.handle();
/// let control = std::thread::spawn(move || -> Result<(), connmgr::OpError> {
///     let id = handle.connect(peer.local_addr().unwrap(), ConnectOptions::permanent())?;
///     while handle.state(id)? != Some(ConnState::Established) {
///         std::thread::sleep(Duration::from_millis(1));
///     }
///     handle.stop()
/// });
/// manager.run()?; // returns once the other thread has stopped it
/// control.join().unwrap()?;
/// assert_eq!(manager.counters().connected, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Handle {
    /// The reactor, or a sharded manager's first shard.
    home: Endpoint,
    /// Every shard of a sharded manager (`home` among them).
    #[cfg(feature = "shards")]
    fleet: Option<Arc<super::shards::Fleet>>,
    /// The reactor's routes, to refuse an unroutable target at once, as every layer does.
    routes: Routes,
    wait: Duration,
}

/// One reactor as a handle reaches it.
#[derive(Clone)]
pub(crate) struct Endpoint {
    tx: SyncSender<Command>,
    waker: Arc<Waker>,
    ids: IdAllocator,
    lookup_ids: IdAllocator,
    pub(crate) shared: Arc<Shared>,
}

impl Endpoint {
    /// `reactor`'s endpoint (its command queue is made now if it has none yet), and its routes.
    pub(crate) fn of<H: Handler>(reactor: &mut Reactor<H>, waker: Arc<Waker>) -> (Endpoint, Routes) {
        let Mailbox { tx, ids, lookup_ids, shared, routes } = reactor.mailbox();
        (Endpoint { tx, waker, ids, lookup_ids, shared }, routes)
    }

    fn send(&self, command: Command) -> Result<(), OpError> {
        if self.shared.is_stopped() {
            return Err(OpError::Stopped);
        }
        self.tx.try_send(command).map_err(|e| match e {
            TrySendError::Full(_) => OpError::Full,
            TrySendError::Disconnected(_) => OpError::Stopped,
        })?;
        self.wake();
        Ok(())
    }

    /// Wakes the reactor. The command is queued whatever happens here, so a failed wake is not
    /// the caller's error (it would lose the id of a command that still runs): the command runs
    /// at the reactor's next wake.
    pub(crate) fn wake(&self) {
        if let Err(e) = self.waker.wake() {
            log::warn!("Cannot wake the connection manager: {e}; the command runs at its next wake-up");
        }
    }

    /// Asks the reactor with `command` (made around the reply's sender) and waits for the answer.
    fn ask<T>(&self, wait: Duration, command: impl FnOnce(SyncSender<T>) -> Command) -> Result<T, OpError> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.send(command(reply))?;
        // If the reactor stops or is dropped before answering, the reply's sender goes with
        // the command and this returns at once.
        answer.recv_timeout(wait).map_err(|e| match e {
            RecvTimeoutError::Timeout => OpError::TimedOut,
            RecvTimeoutError::Disconnected => OpError::Stopped,
        })
    }
}

impl Handle {
    /// A handle to an embedded `reactor`, woken through `waker`, which must be registered in
    /// the reactor's `Poll` with [`TokenSpace::waker`](crate::TokenSpace::waker)'s token.
    /// ([`Manager::handle`](crate::Manager::handle) does this for you.)
    pub fn new<H: Handler>(reactor: &mut Reactor<H>, waker: Arc<Waker>) -> Handle {
        let (home, routes) = Endpoint::of(reactor, waker);
        Handle {
            home,
            #[cfg(feature = "shards")]
            fleet: None,
            routes,
            wait: DEFAULT_WAIT,
        }
    }

    /// A handle to every shard of a sharded manager.
    #[cfg(feature = "shards")]
    pub(crate) fn fleet(fleet: Arc<super::shards::Fleet>, routes: Routes) -> Handle {
        Handle { home: fleet.shards[0].clone(), fleet: Some(fleet), routes, wait: DEFAULT_WAIT }
    }

    /// Every reactor this handle reaches.
    fn endpoints(&self) -> &[Endpoint] {
        #[cfg(feature = "shards")]
        if let Some(f) = &self.fleet {
            return &f.shards;
        }
        std::slice::from_ref(&self.home)
    }

    /// The reactor that owns id or serial `n` (ids and serials are strided by shard).
    fn owner(&self, n: u64) -> &Endpoint {
        let all = self.endpoints();
        &all[(n.wrapping_sub(1) % all.len() as u64) as usize]
    }

    fn owner_of(&self, peer: &Peer) -> &Endpoint {
        match peer {
            Peer::Outbound(id) => self.owner(id.get()),
            Peer::Inbound(id) => self.owner(id.serial()),
        }
    }

    /// Where a new request goes: the next shard in turn.
    fn next(&self) -> &Endpoint {
        #[cfg(feature = "shards")]
        if let Some(f) = &self.fleet {
            return f.next();
        }
        &self.home
    }

    /// This handle, with waiting calls giving up after `wait` (default 5 s) with
    /// [`OpError::TimedOut`].
    pub fn with_wait_timeout(mut self, wait: Duration) -> Handle {
        self.wait = wait;
        self
    }

    /// [`Reactor::connect`], queued; the id is valid at once. The manual cap is checked when
    /// the reactor applies it: a request over it ends at once with `DialError::LimitReached`.
    pub fn connect(&self, target: impl Into<Target>, opts: ConnectOptions) -> Result<ConnId, OpError> {
        self.check()?;
        let target = target.into();
        opts.check()?;
        self.routes.route(&target, opts.via.as_ref()).map_err(OpError::NoRoute)?;
        let to = self.next();
        let id = to.ids.next_id();
        to.send(Command::Connect { id, target, opts })?;
        Ok(id)
    }

    /// [`Reactor::resolve`], queued; the id is valid at once.
    pub fn resolve(&self, name: HostName) -> Result<LookupId, OpError> {
        self.check()?;
        self.routes.resolve_route().map_err(OpError::NoRoute)?;
        let to = self.next();
        let id = LookupId::new(to.lookup_ids.next_id().get());
        to.send(Command::Resolve { id, name })?;
        Ok(id)
    }

    /// [`Reactor::seed`], queued.
    #[cfg(feature = "dns")]
    pub fn seed(
        &self,
        seeds: &[crate::seed::DnsSeed],
        default_port: u16,
        required_services: u64,
    ) -> Result<(), OpError> {
        self.check()?;
        self.next().send(crate::command::seed_command(seeds, default_port, required_services))
    }

    /// [`Reactor::new_conn_req`], queued.
    pub fn new_conn_req(&self) -> Result<(), OpError> {
        self.check()?;
        self.next().send(Command::NewConnReq)
    }

    /// [`Reactor::disconnect`], queued.
    pub fn disconnect(&self, id: ConnId, opts: DisconnectOptions) -> Result<(), OpError> {
        self.check()?;
        self.owner(id.get()).send(Command::Disconnect { id, opts })
    }

    /// [`Reactor::remove`], queued.
    pub fn remove(&self, id: ConnId) -> Result<(), OpError> {
        self.check()?;
        self.owner(id.get()).send(Command::Remove { id })
    }

    /// [`Reactor::close`], queued.
    pub fn close(&self, peer: Peer, reason: DisconnectReason) -> Result<(), OpError> {
        self.check()?;
        self.owner_of(&peer).send(Command::Close { peer, reason })
    }

    /// [`Reactor::ban`], queued (a sharded manager's first shard passes it to the others).
    pub fn ban(&self, subnet: Subnet, duration: Duration) -> Result<(), OpError> {
        self.check()?;
        self.home.send(Command::Ban { subnet, duration })
    }

    /// [`Reactor::unban`], queued.
    pub fn unban(&self, subnet: Subnet) -> Result<(), OpError> {
        self.check()?;
        self.home.send(Command::Unban { subnet })
    }

    /// [`Reactor::misbehaving`], queued.
    pub fn misbehaving(
        &self,
        peer: Peer,
        persistent: u32,
        transient: u32,
        reason: impl Into<Cow<'static, str>>,
    ) -> Result<(), OpError> {
        self.check()?;
        self.owner_of(&peer).send(Command::Misbehaving { peer, persistent, transient, reason: reason.into() })
    }

    /// [`Reactor::observe`], queued.
    pub fn observe(&self, peer: Peer, observation: Observation) -> Result<(), OpError> {
        self.check()?;
        self.owner_of(&peer).send(Command::Observe { peer, observation })
    }

    /// [`Reactor::probe`], queued; the id is valid at once. The probe cap is checked when the
    /// reactor applies it: a probe over it ends at once with `DialError::LimitReached`.
    pub fn probe(&self, target: impl Into<Target>, kind: ProbeKind) -> Result<ConnId, OpError> {
        self.check()?;
        let target = target.into();
        self.routes.route(&target, None).map_err(OpError::NoRoute)?;
        let to = self.next();
        let id = to.ids.next_id();
        to.send(Command::Probe { id, target, kind })?;
        Ok(id)
    }

    /// [`Reactor::pause`], queued (a sharded manager pauses every shard).
    pub fn pause(&self, mode: Pause) -> Result<(), OpError> {
        self.check()?;
        self.endpoints().iter().try_for_each(|to| to.send(Command::Pause { mode }))
    }

    /// [`Reactor::resume`], queued (a sharded manager resumes every shard).
    pub fn resume(&self) -> Result<(), OpError> {
        self.check()?;
        self.endpoints().iter().try_for_each(|to| to.send(Command::Resume))
    }

    /// [`Reactor::stop`]: never refused for a full queue. A sharded manager stops every shard.
    pub fn stop(&self) -> Result<(), OpError> {
        self.check()?;
        #[cfg(feature = "shards")]
        if let Some(f) = &self.fleet {
            f.stop_all();
            return Ok(());
        }
        self.home.shared.request_stop();
        self.home.wake();
        Ok(())
    }

    /// [`Reactor::state`], asked of the reactor and waited for (up to the wait timeout).
    /// Refused with [`OpError::OnReactorThread`] on the thread running the reactor, where it
    /// could only wait for ever.
    pub fn state(&self, id: ConnId) -> Result<Option<ConnState>, OpError> {
        self.check_wait()?;
        self.owner(id.get()).ask(self.wait, |reply| Command::State { id, reply })
    }

    /// [`Reactor::counters`], asked of the reactor and waited for, like `state`; a sharded
    /// manager's are summed over its shards (`inbound`, a count they share, is not).
    pub fn counters(&self) -> Result<Counters, OpError> {
        self.check_wait()?;
        let mut total: Option<Counters> = None;
        for to in self.endpoints() {
            let c = to.ask(self.wait, |reply| Command::Counters { reply })?;
            total = Some(total.map_or(c, |t| super::sum_counters(t, c)));
        }
        Ok(total.unwrap_or_default())
    }

    /// Whether the manager has stopped (a sharded manager: any shard, since stopping one
    /// stops all).
    pub fn is_stopped(&self) -> bool {
        #[cfg(feature = "shards")]
        if self.fleet.as_ref().is_some_and(|f| f.is_stopping()) {
            return true;
        }
        self.endpoints().iter().any(|e| e.shared.is_stopped())
    }

    /// Before a waiting call: refused after stop, and on a thread running one of the reactors.
    fn check_wait(&self) -> Result<(), OpError> {
        self.check()?;
        if self.endpoints().iter().any(|e| e.shared.on_driver()) {
            return Err(OpError::OnReactorThread);
        }
        Ok(())
    }

    fn check(&self) -> Result<(), OpError> {
        if self.is_stopped() {
            Err(OpError::Stopped)
        } else {
            Ok(())
        }
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle").field("stopped", &self.is_stopped()).field("wait", &self.wait).finish()
    }
}
