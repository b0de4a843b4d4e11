//! A peer-to-peer node's TCP connection manager on one thread, with [mio]: btcd's `connmgr`
//! re-created in Rust, then improved where btcd has known bugs.
//!
//! The manager keeps `target_outbound` automatic outbound connections filled from the
//! [`Handler`]'s address source, dials manual requests (one-shot or permanent, retried with
//! btcd's linear backoff), throttles replacements after a run of failures, accepts inbound
//! connections up to `max_inbound`, and owns every socket so that disconnecting closes it. The
//! user's peer protocol runs on the same thread through readiness callbacks, or elsewhere after
//! [`Ctx::detach`].
//!
//! # Layers
//!
//! - [`core::Core`]: the sans-IO state machine. Time is an input; it never touches a socket, a
//!   `Poll` or the clock. Use it to drive the manager with your own I/O, or to test.
//! - [`reactor::Reactor`]: the mio layer around the core. Embed it in your own `mio::Poll`.
//! - [`Manager`]: owns a `Poll` and runs the reactor on the calling thread.
//! - [`Handle`]: controls a running manager from other threads.
//!
//! Also here, from btcd's package: [`banscore`] (peer misbehaviour scores), [`seed`] (DNS
//! seeding) and [`tor`] (name resolution through Tor's SOCKS extension).
//!
//! # Examples
//!
//! A node that keeps one automatic connection and one permanent peer, and stops once both are
//! up:
//!
//! ```
//! use connmgr::{AddressError, Config, ConnInfo, Ctx, Handler, Manager};
//! use std::net::{SocketAddr, TcpListener};
//!
//! struct Node {
//!     seeds: Vec<SocketAddr>,
//!     up: usize,
//! }
//!
//! impl Handler for Node {
//!     fn new_address(&mut self) -> Option<Result<SocketAddr, AddressError>> {
//!         Some(self.seeds.pop().ok_or_else(|| AddressError::new("no valid connect address")))
//!     }
//!
//!     fn on_connection(&mut self, ctx: &mut Ctx<'_>, conn: &ConnInfo) {
//!         self.up += 1;
//!         if self.up == 2 {
//!             ctx.stop();
//!         }
//!     }
//! }
//!
//! let seed = TcpListener::bind("127.0.0.1:0")?;
//! let friend = TcpListener::bind("127.0.0.1:0")?;
//! let config = Config { target_outbound: 1, ..Config::default() };
//! let mut manager = Manager::new(config, Node { seeds: vec![seed.local_addr()?], up: 0 })?;
//! let id = manager.connect(friend.local_addr()?, true)?; // permanent; id known at once
//! assert_eq!(id.get(), 1);
//! manager.run()?;
//! assert_eq!(manager.counters().connected, 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Callbacks
//!
//! [`Handler`] methods run on the reactor thread, one at a time, in the order events happened,
//! and must not block. Operations they request through [`Ctx`] are applied after they return.
//!
//! # Logging
//!
//! Through the [`log`] facade only, with btcd's messages and levels (debug: request life cycle;
//! warn: limits hit; error: unknown ids, accept failures).
//!
//! [mio]: https://docs.rs/mio

#![deny(missing_docs, missing_debug_implementations)]
#![warn(rust_2018_idioms)]
#![forbid(unsafe_code)]

pub mod banscore;
pub mod config;
pub mod core;
#[cfg(feature = "dns")]
pub mod dns;
pub mod error;
mod handle;
mod handler;
mod id;
mod manager;
pub mod reactor;
pub mod seed;
pub mod time;
pub mod tor;

pub use crate::config::Config;
pub use crate::core::{ConnInfo, ConnState, ConnectOptions, Counters, DisconnectOptions, DisconnectReason, NextStep};
pub use crate::error::{AddressError, ConfigError, DialError, Error, FailureCause, HandleError, OpError};
pub use crate::handle::Handle;
pub use crate::handler::{Handler, Peer, Ready};
pub use crate::id::{ConnId, IdAllocator, InboundId};
pub use crate::manager::Manager;
pub use crate::reactor::{Ctx, Detached};

/// The README's code blocks, compiled and run as doc tests so the README cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
