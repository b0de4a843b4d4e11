//! [`Handle`]: the manager's operations from other threads.
//!
//! A handle is a bounded channel sender plus the `Poll`'s one `mio::Waker` (mio allows one
//! waker per `Poll`). Wakes coalesce, so the reactor drains the whole channel on every wake.
//! Request ids come from the counter the core shares with every handle, so `connect` returns the
//! id at once, on any thread, before the reactor has seen the request. The queue is bounded
//! (`Config::command_queue`): a reactor that does not keep up makes calls fail with
//! [`OpError::Full`] instead of growing memory without end. `stop` never queues, so it always
//! gets through.

use std::borrow::Cow;
use std::fmt;
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use mio::Waker;

use crate::command::{Command, Shared};
use crate::core::{ConnState, ConnectOptions, DisconnectOptions, DisconnectReason, LookupId, Observation};
use crate::error::OpError;
use crate::id::{ConnId, IdAllocator};
use crate::net::Subnet;
use crate::outbound::{Pause, ProbeKind};
use crate::peer::Peer;
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
    tx: SyncSender<Command>,
    waker: Arc<Waker>,
    ids: IdAllocator,
    lookup_ids: IdAllocator,
    shared: Arc<Shared>,
    /// The reactor's routes, to refuse an unroutable target at once, as every layer does.
    routes: Routes,
    wait: Duration,
}

impl Handle {
    /// A handle to an embedded `reactor`, woken through `waker`, which must be registered in
    /// the reactor's `Poll` with [`TokenSpace::waker`](crate::TokenSpace::waker)'s token.
    /// ([`Manager::handle`](crate::Manager::handle) does this for you.)
    pub fn new<H: Handler>(reactor: &mut Reactor<H>, waker: Arc<Waker>) -> Handle {
        let Mailbox { tx, ids, lookup_ids, shared, routes } = reactor.mailbox();
        Handle { tx, waker, ids, lookup_ids, shared, routes, wait: DEFAULT_WAIT }
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
        let id = self.ids.next_id();
        self.send(Command::Connect { id, target, opts })?;
        Ok(id)
    }

    /// [`Reactor::resolve`], queued; the id is valid at once.
    pub fn resolve(&self, name: HostName) -> Result<LookupId, OpError> {
        self.check()?;
        self.routes.resolve_route().map_err(OpError::NoRoute)?;
        let id = LookupId::new(self.lookup_ids.next_id().get());
        self.send(Command::Resolve { id, name })?;
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
        self.send(crate::command::seed_command(seeds, default_port, required_services))
    }

    /// [`Reactor::new_conn_req`], queued.
    pub fn new_conn_req(&self) -> Result<(), OpError> {
        self.send(Command::NewConnReq)
    }

    /// [`Reactor::disconnect`], queued.
    pub fn disconnect(&self, id: ConnId, opts: DisconnectOptions) -> Result<(), OpError> {
        self.send(Command::Disconnect { id, opts })
    }

    /// [`Reactor::remove`], queued.
    pub fn remove(&self, id: ConnId) -> Result<(), OpError> {
        self.send(Command::Remove { id })
    }

    /// [`Reactor::close`], queued.
    pub fn close(&self, peer: Peer, reason: DisconnectReason) -> Result<(), OpError> {
        self.send(Command::Close { peer, reason })
    }

    /// [`Reactor::ban`], queued.
    pub fn ban(&self, subnet: Subnet, duration: Duration) -> Result<(), OpError> {
        self.send(Command::Ban { subnet, duration })
    }

    /// [`Reactor::unban`], queued.
    pub fn unban(&self, subnet: Subnet) -> Result<(), OpError> {
        self.send(Command::Unban { subnet })
    }

    /// [`Reactor::misbehaving`], queued.
    pub fn misbehaving(
        &self,
        peer: Peer,
        persistent: u32,
        transient: u32,
        reason: impl Into<Cow<'static, str>>,
    ) -> Result<(), OpError> {
        self.send(Command::Misbehaving { peer, persistent, transient, reason: reason.into() })
    }

    /// [`Reactor::observe`], queued.
    pub fn observe(&self, peer: Peer, observation: Observation) -> Result<(), OpError> {
        self.send(Command::Observe { peer, observation })
    }

    /// [`Reactor::probe`], queued; the id is valid at once. The probe cap is checked when the
    /// reactor applies it: a probe over it ends at once with `DialError::LimitReached`.
    pub fn probe(&self, target: impl Into<Target>, kind: ProbeKind) -> Result<ConnId, OpError> {
        self.check()?;
        let target = target.into();
        self.routes.route(&target, None).map_err(OpError::NoRoute)?;
        let id = self.ids.next_id();
        self.send(Command::Probe { id, target, kind })?;
        Ok(id)
    }

    /// [`Reactor::pause`], queued.
    pub fn pause(&self, mode: Pause) -> Result<(), OpError> {
        self.send(Command::Pause { mode })
    }

    /// [`Reactor::resume`], queued.
    pub fn resume(&self) -> Result<(), OpError> {
        self.send(Command::Resume)
    }

    /// [`Reactor::stop`]: never refused for a full queue.
    pub fn stop(&self) -> Result<(), OpError> {
        self.check()?;
        self.shared.request_stop();
        self.wake();
        Ok(())
    }

    /// [`Reactor::state`], asked of the reactor and waited for (up to the wait timeout).
    /// Refused with [`OpError::OnReactorThread`] on the thread running the reactor, where it
    /// could only wait for ever.
    pub fn state(&self, id: ConnId) -> Result<Option<ConnState>, OpError> {
        self.check()?;
        if self.shared.on_driver() {
            return Err(OpError::OnReactorThread);
        }
        let (reply, answer) = mpsc::sync_channel(1);
        self.send(Command::State { id, reply })?;
        // If the reactor stops or is dropped before answering, the reply's sender goes with
        // the command and this returns at once.
        answer.recv_timeout(self.wait).map_err(|e| match e {
            RecvTimeoutError::Timeout => OpError::TimedOut,
            RecvTimeoutError::Disconnected => OpError::Stopped,
        })
    }

    /// Whether the manager has stopped.
    pub fn is_stopped(&self) -> bool {
        self.shared.is_stopped()
    }

    fn check(&self) -> Result<(), OpError> {
        if self.is_stopped() {
            Err(OpError::Stopped)
        } else {
            Ok(())
        }
    }

    fn send(&self, command: Command) -> Result<(), OpError> {
        self.check()?;
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
    fn wake(&self) {
        if let Err(e) = self.waker.wake() {
            log::warn!("Cannot wake the connection manager: {e}; the command runs at its next wake-up");
        }
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle").field("stopped", &self.is_stopped()).field("wait", &self.wait).finish()
    }
}
