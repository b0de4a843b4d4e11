//! A peer-to-peer node's TCP connection manager on one thread, with [mio]: btcd's `connmgr`
//! re-created in Rust, then improved where btcd has known bugs.
//!
//! The manager keeps `target_outbound` automatic outbound connections filled from the
//! [`Handler`]'s address source, dials manual requests (one-shot or permanent, retried with
//! btcd's linear backoff), throttles replacements after a run of failures, accepts inbound
//! connections up to `max_inbound`, and owns every socket so that disconnecting closes it. The
//! user's peer protocol runs on the same thread through readiness callbacks, or elsewhere after
//! [`Reactor::detach`].
//!
//! The [`guide`] has a page per feature (proxies, bootstrap, inbound and outbound policy, the
//! simulator, sharding, configuration) and the port from btcd.
//!
//! # Layers
//!
//! - [`core::Core`]: the sans-IO state machine. Time is an input; it never touches a socket, a
//!   `Poll` or the clock. Drive it with your own I/O, or test with it (see `sim`).
//! - [`Reactor`]: the mio layer around the core; embed it in your own `mio::Poll`.
//! - [`Manager`]: owns a `Poll` and runs a reactor on the calling thread.
//! - [`Ctx`] (inside callbacks) and [`Handle`] (other threads): the same operations, queued.
//!
//! Every operation (`connect`, `new_conn_req`, `disconnect`, `remove`, `close`, `stop`, ...) has
//! one name, one argument list and one error type, [`OpError`], on every layer.
//!
//! # Examples
//!
//! A node that keeps one automatic connection and one permanent peer, and stops once both are
//! up:
//!
//! ```
//! use connmgr::{AddressError, ClassId, Config, ConnInfo, ConnectOptions, Ctx, Handler, Manager, Target};
//! use std::net::{SocketAddr, TcpListener};
//!
//! struct Node {
//!     seeds: Vec<SocketAddr>,
//!     up: usize,
//! }
//!
//! impl Handler for Node {
//!     fn new_address(&mut self, _class: ClassId) -> Option<Result<Target, AddressError>> {
//!         Some(self.seeds.pop().map(Target::from).ok_or_else(|| AddressError::new("no valid connect address")))
//!     }
//!
//!     fn on_connection(&mut self, ctx: &mut Ctx<'_>, _conn: &ConnInfo) {
//!         self.up += 1;
//!         if self.up == 2 {
//!             ctx.stop().unwrap();
//!         }
//!     }
//! }
//!
//! let seed = TcpListener::bind("127.0.0.1:0")?;
//! let friend = TcpListener::bind("127.0.0.1:0")?;
//! let config = Config { target_outbound: 1, ..Config::default() };
//! let mut manager = Manager::new(config, Node { seeds: vec![seed.local_addr()?], up: 0 })?;
//! let id = manager.connect(friend.local_addr()?, ConnectOptions::permanent())?; // id known at once
//! assert_eq!(id.get(), 1);
//! manager.run()?;
//! assert_eq!(manager.counters().connected, 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Cargo features
//!
//! - `banscore` (on by default): btcd's misbehaviour scores (module `banscore`).
//! - `dns` (on by default): the reactor's non-blocking DNS stub resolver (module `dns`) on the
//!   reactor thread: DNS seeding (`Reactor::seed`, module `seed`), host names dialled and
//!   `resolve` without a proxy. Without it, seeding and name lookups go through a proxy only.
//! - `blocking` (off): btcd's blocking `seed_from_dns` (a thread per seed) and `tor_lookup_ip`
//!   (module `blocking`), for a port that keeps btcd's threads.
//! - `sim` (off): a simulator that drives [`core::Core`] on simulated time with scripted
//!   network outcomes, for testing your use of the manager.
//! - `shards` (off): `shards::ShardedManager`, one reactor per core behind one [`Handle`], with the
//!   target, dial limit, `max_inbound`, caps and bans kept across shards.
//!
//! # Logging
//!
//! Through the [`log`] facade only, with btcd's messages and levels (debug: request life cycle;
//! warn: limits hit; error: unknown ids, accept failures).
//!
//! [mio]: https://docs.rs/mio

#![deny(missing_docs, missing_debug_implementations)]
#![warn(rust_2018_idioms, unreachable_pub)]
// No unsafe code ships; the unit tests count allocations with a global allocator, which needs it.
#![cfg_attr(not(test), forbid(unsafe_code))]
#![cfg_attr(test, deny(unsafe_code))]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod command;
mod config;
pub mod core;
#[cfg(feature = "dns")]
pub mod dns;
mod error;
mod front;
pub mod guide;
mod id;
mod io_error;
mod net;
mod peer;
mod policy;
pub mod proxy;
mod reactor;
mod rng;
mod target;
mod time;

#[cfg(feature = "banscore")]
pub mod banscore;
// The ban score always drives `misbehaving`; the feature only makes the type public.
#[cfg(not(feature = "banscore"))]
#[allow(dead_code, unreachable_pub)]
mod banscore;
#[cfg(feature = "blocking")]
pub mod blocking;
#[cfg(any(feature = "dns", feature = "blocking"))]
pub mod seed;
#[cfg(feature = "sim")]
pub mod sim;

pub use crate::config::{Config, ConfigError};
pub use crate::core::{
    ConnInfo, ConnState, ConnectOptions, Counters, DisconnectOptions, DisconnectReason, LookupId, NextStep,
    ResolveError, TimerId,
};
pub use crate::error::{AddressError, DialError, Error, FailureCause, OpError};
pub use crate::front::{Handle, Manager};
pub use crate::id::{ConnId, InboundId};
pub use crate::io_error::IoError;
pub use crate::peer::{Peer, Ready};
pub use crate::policy::outbound;
pub use crate::policy::outbound::{ClassId, ConnClass};
pub use crate::reactor::{Ctx, Detached, Handler, Reactor, TokenSpace};
pub use crate::target::{Target, TargetError};

#[cfg(feature = "shards")]
pub mod shards {
    //! One reactor per core behind one [`Handle`](crate::Handle) (feature `shards`): a
    //! [`ShardedManager`] runs N shards, each a [`Manager`](crate::Manager) on its own thread,
    //! with the automatic target, the dial limit, `max_inbound`, the caps and the bans kept
    //! exact across them; [`Accept`] says how the shards share a listening address. See the
    //! [sharding guide](crate::guide::sharding).

    pub use crate::front::{Accept, ShardedManager};
}

pub mod addr {
    //! The parts of an address, for the few who name them: the [`HostName`] and [`OnionAddr`]
    //! inside a [`Target`](crate::Target) (parsed from text with it, or built from a key, as
    //! BIP 155 `addrv2` carries onion addresses), and the [`NetGroup`] that groups addresses for
    //! the inbound caps, eviction and outbound diversity, computed by the [`NetGroupFn`] in
    //! [`Config::netgroup`](crate::Config::netgroup).

    pub use crate::net::{NetGroup, NetGroupFn};
    pub use crate::target::{HostName, OnionAddr};
}

pub mod inbound {
    //! Inbound admission, the policy of [`Config::protection`](crate::Config::protection): what
    //! protects a public node's inbound slots from one host that opens hundreds of connections,
    //! reconnects in a loop, or misbehaves and comes straight back.
    //!
    //! [`Protection`] holds the settings: bans of [`Subnet`]s and an allowlist, caps per host
    //! and per net group, an [`AcceptRate`], a reconnect throttle, and the [`Eviction`] that
    //! frees a slot for a newcomer when all are taken ([`BitcoinCoreEviction`], or your own
    //! [`EvictionPolicy`], weighing what [`observe`](crate::Reactor::observe) reported as
    //! [`Observation`]s). A refused connection is counted by its [`Rejection`]. Every rule is off
    //! in [`Protection::default`], which is btcd's.

    pub use crate::core::{InboundSlot, Observation};
    pub use crate::net::{Subnet, SubnetError};
    pub use crate::policy::admission::bans::{ImportError, ImportErrorReason};
    pub use crate::policy::admission::eviction::{BitcoinCoreEviction, EvictionCandidate, EvictionPolicy, NetworkKind};
    pub use crate::policy::admission::{AcceptRate, Eviction, Protection, Rejection};
}

/// The README's code blocks, compiled and run as doc tests so the README cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
