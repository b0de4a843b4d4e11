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

use std::fmt;
#[cfg(feature = "shards")]
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use mio::Waker;

use crate::command::{shard_of, Command, Route, Shared};
use crate::core::Fresh;
use crate::core::{ConnState, Counters};
use crate::error::OpError;
use crate::id::{ConnId, IdAllocator};
use crate::proxy::Routes;
use crate::reactor::{Handler, Mailbox, Reactor};

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
    fleet: Option<Arc<Fleet>>,
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

/// What the shards of one sharded manager and its handles share: every shard's endpoint, the
/// round-robin turn, the stop.
#[cfg(feature = "shards")]
pub(crate) struct Fleet {
    pub(crate) shards: Vec<Endpoint>,
    stopping: AtomicBool,
    next: AtomicUsize,
}

#[cfg(feature = "shards")]
impl Fleet {
    pub(crate) fn new(shards: Vec<Endpoint>) -> Fleet {
        Fleet { shards, stopping: AtomicBool::new(false), next: AtomicUsize::new(0) }
    }

    /// The index of the shard the next new request goes to (round-robin).
    pub(crate) fn next_index(&self) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed) % self.shards.len()
    }

    /// The shard the next new request goes to.
    pub(crate) fn next(&self) -> &Endpoint {
        &self.shards[self.next_index()]
    }

    /// Asks every shard still running to stop (once; later calls do nothing).
    pub(crate) fn stop_all(&self) {
        if self.stopping.swap(true, Ordering::AcqRel) {
            return;
        }
        for shard in self.shards.iter().filter(|s| !s.shared.is_stopped()) {
            shard.shared.request_stop();
            shard.wake();
        }
    }

    /// Marks the fleet stopping without asking the shards (they are being stopped directly).
    pub(crate) fn set_stopping(&self) {
        self.stopping.store(true, Ordering::Release);
    }

    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
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
    pub(crate) fn fleet(fleet: Arc<Fleet>, routes: Routes) -> Handle {
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
        &all[shard_of(n, all.len())]
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

    crate::command::operations!(
        &Self,
        "From a handle it is queued for the reactor's next turn, and this returns once it is \
         queued (an id it returns is valid at once); what only the reactor can know, such as an \
         unknown id or a cap reached, is logged then, not returned. A full queue refuses it with \
         [`OpError::Full`](crate::OpError::Full), except `stop`, which always gets through and \
         stops every shard of a sharded manager."
    );

    /// Sends `command` to the reactor that [`Command::route`] names (every shard's for a
    /// command to all of them). `stop` does not queue: it sets the stop flag and wakes.
    fn submit(&self, command: Command) -> Result<(), OpError> {
        self.check()?;
        match command.route() {
            Route::Owner(n) => self.owner(n).send(command),
            Route::Next => self.next().send(command),
            Route::Home => self.home.send(command),
            Route::All => match command {
                Command::Stop => {
                    #[cfg(feature = "shards")]
                    if let Some(f) = &self.fleet {
                        f.stop_all();
                        return Ok(());
                    }
                    self.home.shared.request_stop();
                    self.home.wake();
                    Ok(())
                }
                command => self.endpoints().iter().try_for_each(|to| to.send(command.clone())),
            },
        }
    }

    /// Checks a new request or lookup against the routes (its caps are checked when the reactor
    /// applies it: one over its cap ends at once, failed with `DialError::LimitReached`) and
    /// draws its id from the next reactor in turn, which then owns it.
    fn mint(&self, fresh: Fresh<'_>) -> Result<u64, OpError> {
        self.check()?;
        match fresh {
            Fresh::Request { target, opts, .. } => {
                opts.check()?;
                self.routes.route(target, opts.via.as_ref()).map_err(OpError::NoRoute)?;
                Ok(self.next().ids.next_id().get())
            }
            Fresh::Lookup => {
                self.routes.resolve_route().map_err(OpError::NoRoute)?;
                Ok(self.next().lookup_ids.next_id().get())
            }
        }
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
