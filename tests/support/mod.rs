//! The one support module of every test binary (each includes it with
//! `#[path = "../support/mod.rs"] mod support;`): everything a test needs besides the crate.
//!
//! - [`sim`](self::sim): btcd's suite configuration and addresses, and shorthands over the
//!   simulator (`connmgr::sim`, which the dev-dependency on the crate turns on).
//! - [`recorder`](self::recorder): [`Recorder`], the one recording [`connmgr::Handler`].
//! - [`turn`](self::turn): [`turn_until`] and its variants, the one loop that waits on a real
//!   manager (never a sleep), and [`LIMIT`], the longest any test waits for one thing.
//! - [`sockets`](self::sockets): the peers a loopback test needs on 127.0.0.1.
//! - servers: [`dnsmasq`] and [`microsocks`] (real servers from Debian), and
//!   [`socks_responder`] (a scripted SOCKS5 server).
//! - [`counting_alloc`] and [`cycle`]: the counting allocator and the sans-IO churn driver of
//!   the allocation tests (`benches/core.rs` includes them too).
//!
//! A binary uses part of it only, hence the lint allowances.
#![allow(dead_code, unused_imports)]

pub mod counting_alloc;
pub mod cycle;
pub mod dnsmasq;
pub mod microsocks;
pub mod recorder;
pub mod sim;
pub mod sockets;
pub mod socks_responder;
pub mod turn;

pub use recorder::*;
pub use sim::*;
pub use sockets::*;
pub use turn::*;
