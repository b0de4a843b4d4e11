//! [`Manager`]: the self-driving front end. It owns a `mio::Poll` and its one `Waker`, and runs
//! the same [`Reactor`] a caller would embed in its own `Poll`, in a loop that blocks until the
//! next event or timer. With no timer armed it blocks with no timeout: an idle manager makes no
//! wake-ups at all.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Events, Poll, Waker};

use super::handle::Handle;
use crate::command::Command;
use crate::config::Config;
use crate::core::Core;
use crate::core::Fresh;
use crate::error::{Error, OpError};
use crate::reactor::{Handler, Reactor, TokenSpace};

/// Events taken from the `Poll` per turn.
const EVENTS_CAPACITY: usize = 1024;

/// A connection manager that runs itself on the calling thread.
///
/// It has the operations every front end has (`connect`, `disconnect`, `remove`, `close`,
/// `stop`, `ban`, ...), applied at once by its [`Reactor`], and the common queries (`state`,
/// `counters`, ...); the rest of the reactor (`detach`, timers, `local_addrs`, your handler,
/// ...) is [`reactor`](Self::reactor) and [`reactor_mut`](Self::reactor_mut).
///
/// # Examples
///
/// ```
/// use connmgr::{Config, ConnInfo, ConnectOptions, Ctx, Handler, Manager};
///
/// /// Stops as soon as its one peer is connected.
/// struct Once;
/// impl Handler for Once {
///     fn on_connection(&mut self, ctx: &mut Ctx<'_>, _conn: &ConnInfo) {
///         ctx.stop().unwrap(); // applied when this callback returns
///     }
/// }
///
/// let peer = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let mut manager = Manager::new(Config { target_outbound: 0, ..Config::default() }, Once)?;
/// manager.connect(peer.local_addr()?, ConnectOptions::once())?;
/// manager.run()?;
/// assert_eq!(manager.counters().connected, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Manager<H: Handler> {
    poll: Poll,
    events: Events,
    waker: Arc<Waker>,
    reactor: Reactor<H>,
    /// Its place in a sharded manager, if it is one of its shards.
    #[cfg(feature = "shards")]
    link: Option<Box<super::shards::Link>>,
}

impl<H: Handler> Manager<H> {
    /// A manager with its own `Poll`; it binds the configured listeners now.
    pub fn new(config: Config, handler: H) -> Result<Self, Error> {
        let poll = Poll::new()?;
        let space = TokenSpace::default();
        let waker = Arc::new(Waker::new(poll.registry(), space.waker())?);
        let reactor = Reactor::new(config, handler, poll.registry(), space)?;
        Ok(Manager::from_parts(poll, waker, reactor))
    }

    /// A manager around a reactor built on `poll` (whose waker `waker` is).
    pub(crate) fn from_parts(poll: Poll, waker: Arc<Waker>, reactor: Reactor<H>) -> Self {
        Manager {
            poll,
            events: Events::with_capacity(EVENTS_CAPACITY),
            waker,
            reactor,
            #[cfg(feature = "shards")]
            link: None,
        }
    }

    /// Makes this manager a shard: after each turn it reads its mail and, once stopped, stops
    /// the other shards.
    #[cfg(feature = "shards")]
    pub(crate) fn set_link(&mut self, link: super::shards::Link) {
        self.link = Some(Box::new(link));
    }

    /// The reactor this manager runs.
    pub fn reactor(&self) -> &Reactor<H> {
        &self.reactor
    }

    /// The reactor this manager runs, mutably.
    pub fn reactor_mut(&mut self) -> &mut Reactor<H> {
        &mut self.reactor
    }

    crate::command::operations!(&mut Self, "Applied at once, by the manager's reactor.");
    crate::command::queries!();

    fn submit(&mut self, command: Command) -> Result<(), OpError> {
        self.reactor.submit(command)
    }

    fn mint(&self, fresh: Fresh<'_>) -> Result<u64, OpError> {
        self.reactor.mint(fresh)
    }

    fn view(&self) -> &Core {
        self.reactor.core()
    }

    fn view_now(&self) -> Instant {
        Instant::now()
    }

    /// A handle for other threads.
    pub fn handle(&mut self) -> Handle {
        Handle::new(&mut self.reactor, Arc::clone(&self.waker))
    }

    /// Starts the manager and runs it until it stops.
    pub fn run(&mut self) -> io::Result<()> {
        self.reactor.start();
        while !self.reactor.is_stopped() {
            self.turn(None)?;
        }
        Ok(())
    }

    /// Starts the manager and runs it until it stops (true) or `deadline` passes (false).
    pub fn run_until(&mut self, deadline: Instant) -> io::Result<bool> {
        self.reactor.start();
        loop {
            if self.reactor.is_stopped() {
                return Ok(true);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            self.turn(Some(deadline - now))?;
        }
    }

    /// One turn of the loop: waits for events or the next timer (at most `max_wait`), then
    /// handles them. For callers that interleave their own work.
    pub fn turn(&mut self, max_wait: Option<Duration>) -> io::Result<()> {
        let now = Instant::now();
        let until_timer = self.reactor.poll_timeout().map(|t| t.saturating_duration_since(now));
        let timeout = match (until_timer, max_wait) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        // mio rounds a sub-millisecond timeout up to a whole millisecond, so a deadline a few
        // microseconds away cannot make this loop spin.
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        let now = Instant::now();
        for event in self.events.iter() {
            self.reactor.handle_event(event, now);
        }
        // Every turn, not only on timeout: a steady stream of events must not starve timers.
        self.reactor.handle_timeout(now);
        #[cfg(feature = "shards")]
        if let Some(link) = &mut self.link {
            link.after_turn(&mut self.reactor);
        }
        Ok(())
    }
}
