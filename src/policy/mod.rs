//! The policies: the rules a node sets and the small state machines behind them, apart from the
//! core that applies them. [`admission`] judges inbound connections (limits, bans, eviction),
//! [`outbound`] says which automatic peers to dial and when to retry, and `global` (with the
//! `shards` feature) keeps the limits and bans that span shards.

pub(crate) mod admission;
#[cfg(feature = "shards")]
pub(crate) mod global;
pub mod outbound;
