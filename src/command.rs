//! The one vocabulary of operations that front ends which cannot apply them at once queue for
//! the reactor: [`Ctx`](crate::Ctx) inside callbacks, [`Handle`](crate::Handle) on other
//! threads. The reactor applies every command in one place (`Reactor::apply`), so an operation
//! behaves the same whichever front end asked for it.
//!
//! Each operation's signature and documentation is written once, in [`operations!`]: every
//! front end (`Reactor`, `Ctx`, `Handle`, `Manager`, `ShardedManager`) expands it over its own
//! private `submit(Command)` (apply now, queue, send, or route to a shard) and `mint` (check a
//! new request or lookup and draw its id). The queries every front end over one core answers
//! alike are [`queries!`], over its private `view()` and `view_now()`. Which shard of a sharded
//! manager a command goes to is [`Command::route`] and [`shard_of`], for the `Handle` and the
//! `ShardedManager` alike.
//!
//! Also here: the state a reactor shares with its handles (stopped, stop requested, which
//! thread is inside the reactor), below both so neither imports the other.

use std::borrow::Cow;
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::time::Duration;

use crate::core::{ConnState, ConnectOptions, Counters, DisconnectOptions, DisconnectReason, LookupId, Observation};
use crate::id::ConnId;
use crate::net::Subnet;
use crate::peer::Peer;
use crate::policy::outbound::{Pause, ProbeKind};
use crate::target::{HostName, Target};

/// An operation, queued.
#[derive(Clone, Debug)]
pub(crate) enum Command {
    Connect {
        id: ConnId,
        target: Target,
        opts: ConnectOptions,
    },
    Resolve {
        id: LookupId,
        name: HostName,
    },
    NewConnReq,
    Disconnect {
        id: ConnId,
        opts: DisconnectOptions,
    },
    Remove {
        id: ConnId,
    },
    Close {
        peer: Peer,
        reason: DisconnectReason,
    },
    Stop,
    Ban {
        subnet: Subnet,
        duration: Duration,
    },
    Unban {
        subnet: Subnet,
    },
    Misbehaving {
        peer: Peer,
        persistent: u32,
        transient: u32,
        reason: Cow<'static, str>,
    },
    Observe {
        peer: Peer,
        observation: Observation,
    },
    /// DNS seeding: the names to look up (see `seed::seed_host`) and the port their nodes get.
    #[cfg(feature = "dns")]
    Seed {
        hosts: Vec<String>,
        default_port: u16,
    },
    /// A query from another thread; the answer goes back on `reply`.
    Probe {
        id: ConnId,
        target: Target,
        kind: ProbeKind,
    },
    Pause {
        mode: Pause,
    },
    Resume,
    State {
        id: ConnId,
        reply: SyncSender<Option<ConnState>>,
    },
    /// A query from another thread; the answer goes back on `reply`.
    Counters {
        reply: SyncSender<Counters>,
    },
}

/// Which reactor of a sharded manager a command goes to (one reactor: that one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// The shard that owns this id or inbound serial (see [`shard_of`]).
    Owner(u64),
    /// The next shard in turn.
    Next,
    /// The first shard, which passes it on to the others (bans).
    Home,
    /// Every shard.
    All,
}

impl Command {
    /// Where this command goes in a sharded manager.
    pub(crate) fn route(&self) -> Route {
        match self {
            Command::Connect { id, .. }
            | Command::Probe { id, .. }
            | Command::Disconnect { id, .. }
            | Command::Remove { id }
            | Command::State { id, .. } => Route::Owner(id.get()),
            Command::Resolve { id, .. } => Route::Owner(id.get()),
            Command::Close { peer, .. } | Command::Misbehaving { peer, .. } | Command::Observe { peer, .. } => {
                Route::Owner(peer_number(peer))
            }
            Command::NewConnReq => Route::Next,
            #[cfg(feature = "dns")]
            Command::Seed { .. } => Route::Next,
            Command::Ban { .. } | Command::Unban { .. } => Route::Home,
            Command::Stop | Command::Pause { .. } | Command::Resume | Command::Counters { .. } => Route::All,
        }
    }
}

/// The number that says which shard owns `peer`: its request id, or its inbound serial.
fn peer_number(peer: &Peer) -> u64 {
    match peer {
        Peer::Outbound(id) => id.get(),
        Peer::Inbound(id) => id.serial(),
    }
}

/// The shard, of `shards`, that owns id or inbound serial `n`: shard `i` hands out `i + 1`,
/// `i + 1 + shards`, `i + 1 + 2 * shards`, ... (request ids, lookup ids and serials alike).
pub(crate) fn shard_of(n: u64, shards: usize) -> usize {
    (n.wrapping_sub(1) % shards.max(1) as u64) as usize
}

/// What a reactor and its handles share.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    stopped: AtomicBool,
    /// Set by `Handle::stop`, outside the bounded queue, so a stop always gets through.
    stop_requested: AtomicBool,
    /// The number (see `thread_number`) of the thread inside the reactor right now, or 0.
    driver: AtomicU64,
}

impl Shared {
    pub(crate) fn set_stopped(&self) {
        self.stopped.store(true, Ordering::Release);
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    pub(crate) fn request_stop(&self) {
        self.stop_requested.store(true, Ordering::Release);
    }

    pub(crate) fn take_stop_request(&self) -> bool {
        self.stop_requested.swap(false, Ordering::AcqRel)
    }

    /// Marks the calling thread as inside the reactor until the guard drops. Nested entries
    /// (an operation called from a callback) keep the outer mark.
    pub(crate) fn enter(&self) -> DriverGuard<'_> {
        let me = thread_number();
        let outer = self.driver.swap(me, Ordering::AcqRel);
        DriverGuard { shared: self, outer }
    }

    /// Whether the calling thread is inside this reactor now: a call that waits for the
    /// reactor would then wait for ever.
    pub(crate) fn on_driver(&self) -> bool {
        self.driver.load(Ordering::Acquire) == thread_number()
    }
}

/// See [`Shared::enter`].
pub(crate) struct DriverGuard<'a> {
    shared: &'a Shared,
    outer: u64,
}

impl Drop for DriverGuard<'_> {
    fn drop(&mut self) {
        self.shared.driver.store(self.outer, Ordering::Release);
    }
}

/// The names a `seed` looks up, as btcd's `SeedFromDNS` names them.
#[cfg(feature = "dns")]
pub(crate) fn seed_command(seeds: &[crate::seed::DnsSeed], default_port: u16, required_services: u64) -> Command {
    let hosts = seeds.iter().map(|seed| crate::seed::seed_host(seed, required_services)).collect();
    Command::Seed { hosts, default_port }
}

/// The operations every front end has, each written once: signature, documentation, and the
/// command it makes. `$recv` is the receiver (`&Self` for `Handle`, `&mut Self` elsewhere) and
/// `$note` a last paragraph saying how this front end applies them. The front end provides
/// `submit(Command) -> Result<(), OpError>` and `mint(Fresh) -> Result<u64, OpError>`.
macro_rules! operations {
    ($recv:ty, $note:literal) => {
        /// Dials `target` (btcd's `Connect`): an IP address, a host name or an onion address
        /// with a port (`SocketAddr` and parsed [`Target`](crate::Target)s convert), through
        /// the configured proxy if there is one. Returns the request's id at once, even before
        /// [`start`](crate::Reactor::start) (it dials then). A permanent request
        /// ([`ConnectOptions::permanent`](crate::ConnectOptions::permanent)) is retried with
        /// linear backoff until removed; a one-shot one ends
        /// [`ConnState::Failed`](crate::ConnState::Failed) if its dial fails. A target no
        /// configured route reaches is refused at once
        /// ([`OpError::NoRoute`](crate::OpError::NoRoute)).
        ///
        #[doc = $note]
        pub fn connect(
            self: $recv,
            target: impl Into<$crate::target::Target>,
            opts: $crate::core::ConnectOptions,
        ) -> Result<$crate::id::ConnId, $crate::error::OpError> {
            let target = target.into();
            let class = $crate::policy::outbound::ConnClass::Manual;
            let fresh = $crate::core::Fresh::Request { target: &target, opts: &opts, class };
            let id = $crate::id::ConnId::new(self.mint(fresh)?);
            self.submit($crate::command::Command::Connect { id, target, opts })?;
            Ok(id)
        }

        /// Dials `target` once as a probe of `kind` (Bitcoin Core's feeler or address fetch):
        /// it counts toward no target, is never retried, and is closed
        /// ([`DisconnectReason::ProbeDeadline`](crate::DisconnectReason::ProbeDeadline))
        /// `probe_deadline` after it connects. At most `max_probes` are alive
        /// ([`OpError::LimitReached`](crate::OpError::LimitReached)).
        ///
        #[doc = $note]
        pub fn probe(
            self: $recv,
            target: impl Into<$crate::target::Target>,
            kind: $crate::policy::outbound::ProbeKind,
        ) -> Result<$crate::id::ConnId, $crate::error::OpError> {
            let target = target.into();
            let opts = $crate::core::ConnectOptions::once();
            let class = $crate::policy::outbound::ConnClass::Probe(kind);
            let fresh = $crate::core::Fresh::Request { target: &target, opts: &opts, class };
            let id = $crate::id::ConnId::new(self.mint(fresh)?);
            self.submit($crate::command::Command::Probe { id, target, kind })?;
            Ok(id)
        }

        /// Looks `name` up through Tor (btcd's `TorLookupIP`, a SOCKS5 RESOLVE to the onion
        /// proxy, else the proxy) without blocking;
        /// [`Handler::on_resolved`](crate::Handler::on_resolved) gets the answer, within the
        /// connect timeout. With no proxy, the `dns` feature looks it up with the reactor's own
        /// resolver (A and AAAA, IPv6 first); without it, it is refused at once
        /// ([`OpError::NoRoute`](crate::OpError::NoRoute)).
        ///
        #[doc = $note]
        pub fn resolve(
            self: $recv,
            name: $crate::target::HostName,
        ) -> Result<$crate::core::LookupId, $crate::error::OpError> {
            let id = $crate::core::LookupId::new(self.mint($crate::core::Fresh::Lookup)?);
            self.submit($crate::command::Command::Resolve { id, name })?;
            Ok(id)
        }

        /// DNS seeding on the reactor (btcd's `SeedFromDNS`, feature `dns`): looks up every
        /// seed at once (a filtering seed as `x<required_services hex>.<host>`, see
        /// [`seed_host`](crate::seed::seed_host)); each seed's nodes, with `default_port` and a
        /// timestamp 3 to 7 days old, go to [`Handler::on_seeded`](crate::Handler::on_seeded)
        /// as its answer arrives, or why there are none. No thread, nothing blocking; seeds
        /// still running when the manager stops report nothing.
        ///
        #[doc = $note]
        #[cfg(feature = "dns")]
        pub fn seed(
            self: $recv,
            seeds: &[$crate::seed::DnsSeed],
            default_port: u16,
            required_services: u64,
        ) -> Result<(), $crate::error::OpError> {
            self.submit($crate::command::seed_command(seeds, default_port, required_services))
        }

        /// Asks for one more automatic request (btcd's `NewConnReq`) if fewer than
        /// `target_outbound` are alive; the address source is asked for its address. Unlike
        /// btcd it never takes the automatic set past the target.
        ///
        #[doc = $note]
        pub fn new_conn_req(self: $recv) -> Result<(), $crate::error::OpError> {
            self.submit($crate::command::Command::NewConnReq)
        }

        /// btcd's `Disconnect(id, opts)`. A request that is not established is canceled (even
        /// a permanent one). An established connection is closed and reported; then a
        /// permanent request (or one with
        /// [`DisconnectOptions::trigger_reconnect`](crate::DisconnectOptions::trigger_reconnect))
        /// redials the same id after its backoff, and an automatic one is replaced while the
        /// automatic set is below its target (counting a failed attempt, as btcd); otherwise it
        /// ends `Disconnected`.
        ///
        #[doc = $note]
        pub fn disconnect(
            self: $recv,
            id: $crate::id::ConnId,
            opts: $crate::core::DisconnectOptions,
        ) -> Result<(), $crate::error::OpError> {
            self.submit($crate::command::Command::Disconnect { id, opts })
        }

        /// btcd's `Remove(id)`: ends the request whatever its state, closing its connection
        /// ([`DisconnectReason::Removed`](crate::DisconnectReason::Removed), then
        /// `Disconnected`) or cancelling its dial or backoff (`Canceled`). Nothing replaces it.
        ///
        #[doc = $note]
        pub fn remove(self: $recv, id: $crate::id::ConnId) -> Result<(), $crate::error::OpError> {
            self.submit($crate::command::Command::Remove { id })
        }

        /// Ends a connection because the peer or your protocol is done with it (remote close,
        /// I/O error, handshake timeout, protocol violation), the way btcd's server treats a
        /// finished peer: a permanent request reconnects after its backoff, an automatic one is
        /// replaced at once without counting a failed attempt, a one-shot one ends
        /// `Disconnected`, an inbound connection is closed. This is the churn path: it never
        /// falls into the failure throttle.
        ///
        #[doc = $note]
        pub fn close(
            self: $recv,
            peer: $crate::peer::Peer,
            reason: $crate::core::DisconnectReason,
        ) -> Result<(), $crate::error::OpError> {
            self.submit($crate::command::Command::Close { peer, reason })
        }

        /// Shuts down (btcd's `Stop`, made a real shutdown): closes listeners, cancels dials
        /// and timers, closes every connection and reports each once with
        /// [`DisconnectReason::Shutdown`](crate::DisconnectReason::Shutdown). Every later
        /// operation returns [`OpError::Stopped`](crate::OpError::Stopped), and so does a
        /// second `stop`.
        ///
        #[doc = $note]
        pub fn stop(self: $recv) -> Result<(), $crate::error::OpError> {
            self.submit($crate::command::Command::Stop)
        }

        /// Bans `subnet` (an address, or a CIDR range) for `duration`: its inbound connections
        /// are refused before anything is allocated, it is never dialled (see
        /// [`ConnState::Banned`](crate::ConnState::Banned)), and its live connections are
        /// closed ([`DisconnectReason::Banned`](crate::DisconnectReason::Banned)). Trusted
        /// subnets ([`Protection::trusted`](crate::inbound::Protection::trusted)) are exempt. A sharded
        /// manager's first shard passes it to every shard.
        ///
        #[doc = $note]
        pub fn ban(
            self: $recv,
            subnet: $crate::net::Subnet,
            duration: ::std::time::Duration,
        ) -> Result<(), $crate::error::OpError> {
            self.submit($crate::command::Command::Ban { subnet, duration })
        }

        /// Lifts the ban on exactly `subnet` (on every shard of a sharded manager).
        ///
        #[doc = $note]
        pub fn unban(self: $recv, subnet: $crate::net::Subnet) -> Result<(), $crate::error::OpError> {
            self.submit($crate::command::Command::Unban { subnet })
        }

        /// Raises `peer`'s ban score (btcd's `DynamicBanScore`: `persistent` stays, `transient`
        /// decays with a one-minute half-life) for `reason`. Past half the threshold it is
        /// logged; past [`Protection::ban_threshold`](crate::inbound::Protection::ban_threshold) the
        /// peer's address is banned for
        /// [`Protection::ban_duration`](crate::inbound::Protection::ban_duration) and it is disconnected
        /// (a trusted peer only gets the log line).
        ///
        #[doc = $note]
        pub fn misbehaving(
            self: $recv,
            peer: $crate::peer::Peer,
            persistent: u32,
            transient: u32,
            reason: impl Into<::std::borrow::Cow<'static, str>>,
        ) -> Result<(), $crate::error::OpError> {
            let reason = reason.into();
            self.submit($crate::command::Command::Misbehaving { peer, persistent, transient, reason })
        }

        /// Tells eviction what the application saw of `peer` (a ping, a useful block or
        /// transaction, ...): close, useful peers are kept when inbound is full.
        ///
        #[doc = $note]
        pub fn observe(
            self: $recv,
            peer: $crate::peer::Peer,
            observation: $crate::core::Observation,
        ) -> Result<(), $crate::error::OpError> {
            self.submit($crate::command::Command::Observe { peer, observation })
        }

        /// Pauses networking (Bitcoin Core's `setnetworkactive false`): no dial starts and no
        /// inbound connection is admitted until `resume`; requests wait, and the address
        /// source is not asked. `mode` keeps the connections open or closes them. A sharded
        /// manager pauses every shard.
        ///
        #[doc = $note]
        pub fn pause(self: $recv, mode: $crate::policy::outbound::Pause) -> Result<(), $crate::error::OpError> {
            self.submit($crate::command::Command::Pause { mode })
        }

        /// Resumes networking after `pause`: waiting requests dial.
        ///
        #[doc = $note]
        pub fn resume(self: $recv) -> Result<(), $crate::error::OpError> {
            self.submit($crate::command::Command::Resume)
        }
    };
}
pub(crate) use operations;

/// The queries every front end over one core answers alike, each written once. The front end
/// provides `view() -> &Core` and `view_now() -> Instant` (the time bans are counted from).
macro_rules! queries {
    () => {
        /// A request's state; an ended request's final state while `Config::ended_history`
        /// remembers it (btcd's `ConnReq.State()` after `Remove`).
        pub fn state(&self, id: $crate::id::ConnId) -> Option<$crate::core::ConnState> {
            self.view().state(id)
        }

        /// A live request's details.
        pub fn info(&self, id: $crate::id::ConnId) -> Option<$crate::core::ConnInfo> {
            self.view().info(id)
        }

        /// Counters and gauges.
        pub fn counters(&self) -> $crate::core::Counters {
            self.view().counters()
        }

        /// The established automatic connections as `(class, target)`, oldest first: keep
        /// them (the library does no file I/O) and give them back as
        /// [`OutboundPolicy::anchors`](crate::outbound::OutboundPolicy::anchors) to dial them first at
        /// the next start.
        pub fn anchors(&self) -> Vec<($crate::policy::outbound::ClassId, $crate::target::Target)> {
            self.view().anchors()
        }

        /// The bans in force, with the time each has left.
        pub fn bans(&self) -> Vec<($crate::net::Subnet, ::std::time::Duration)> {
            self.view().bans(self.view_now())
        }
    };
}
pub(crate) use queries;

/// A small number for the calling thread, never 0 (std's `ThreadId::as_u64` is unstable).
fn thread_number() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local!(static ME: Cell<u64> = const { Cell::new(0) });
    ME.with(|me| {
        if me.get() == 0 {
            me.set(NEXT.fetch_add(1, Ordering::Relaxed));
        }
        me.get()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_thread_inside_is_the_driver() {
        let shared = std::sync::Arc::new(Shared::default());
        assert!(!shared.on_driver(), "nobody is inside yet");
        let guard = shared.enter();
        assert!(shared.on_driver());
        let other = std::sync::Arc::clone(&shared);
        assert!(!std::thread::spawn(move || other.on_driver()).join().unwrap());
        {
            let _nested = shared.enter();
            assert!(shared.on_driver());
        }
        assert!(shared.on_driver(), "leaving a nested entry keeps the outer one");
        drop(guard);
        assert!(!shared.on_driver());
    }
}
