//! The one vocabulary of operations that front ends which cannot apply them at once queue for
//! the reactor: [`Ctx`](crate::Ctx) inside callbacks, [`Handle`](crate::Handle) on other
//! threads. The reactor applies every command in one place (`Reactor::apply`), so an operation
//! behaves the same whichever front end asked for it.
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
#[derive(Debug)]
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
