//! The policies: the rules a node sets and the small state machines behind them, apart from the
//! core that applies them. [`admission`] judges inbound connections (caps, rate, bans,
//! eviction), [`outbound`] says which automatic peers to dial, how many of each class and when
//! to retry, and `global` (feature `shards`) keeps the limits and bans that span shards. Each
//! holds settings and pure state: none does I/O, reads the clock or knows the core.
//!
//! # Layers
//!
//! The crate's top-level modules form layers, and every import points down them; no two modules
//! import each other, directly or through others:
//!
//! 0. The vocabulary: `id`, `peer`, `rng`, `target`, `net` (subnets, netgroups), `time` (the
//!    timer wheel and the tick clock), `banscore`, `io_error` (the comparable `IoError`), `seed`
//!    (DNS seeds and the addresses they give). They import nothing of the crate above them.
//! 1. The sans-IO protocols and policies, over the vocabulary only, each with its own small
//!    error types: `proxy` (the SOCKS5 client), `dns` (the stub resolver) and `policy` (this
//!    module). Inside it, `admission` consults `global`'s shared counts, and `global` names the
//!    cap that refused (`global::Cap`) without knowing `admission`'s `Rejection`.
//! 2. The aggregates: `config` (the [`Config`](crate::Config) of every part, and the
//!    validation of each policy's settings), `error` (the errors of operations and dials, each
//!    classifier beside the error it classifies, as [`DialError::cause`](crate::DialError::cause)).
//! 3. `core`: the sans-IO state machine that applies the policies. It imports no mio, no
//!    reactor and no front end. Above it, `command`: the operations queued to a core.
//! 4. `reactor`: the core on a mio `Poll`, with the sockets, and the user's `Handler`.
//! 5. `front`: `Manager`, `Handle` and `ShardedManager`.
//!
//! Beside them: `sim` drives the core on simulated time, `blocking` holds btcd's blocking APIs
//! (`seed_from_dns`, `tor_lookup_ip`) over `proxy` and `seed`, and `guide` is documentation
//! only.

pub(crate) mod admission;
#[cfg(feature = "shards")]
pub(crate) mod global;
pub mod outbound;
