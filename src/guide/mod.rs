//! The guide: one page per feature, with examples that compile.
//!
//! Start with [the crate's front page](crate) for a first program, then read what you need:
//!
//! | page | what it covers |
//! | --- | --- |
//! | [`operations`] | where to drive the manager from, and the operations every front end shares |
//! | [`configuration`] | every field of [`Config`](crate::Config), its default and its btcd name |
//! | [`proxies`] | SOCKS5 and Tor: routing rules, stream isolation, typed failures |
//! | [`bootstrap`] | DNS seeding, host names and lookups on the reactor thread (feature `dns`) |
//! | [`inbound`] | protecting a listener: caps, rate, bans, ban scores, eviction |
//! | [`outbound`] | choosing outbound peers: netgroup diversity, classes, probes, backoff, offline detection, anchors |
//! | [`sharding`] | `ShardedManager`: one reactor per core, with global limits kept exact (feature `shards`) |
//! | [`simulator`] | testing your node on simulated time (feature `sim`) |
//! | [`timer_wheel`] | the hierarchical timer wheel |
//! | [`design`] | the sans-IO core, the reactor and the front ends |
//! | [`btcd`] | porting from btcd's `connmgr`: the API mapped call for call, and every deliberate difference |
//!
//! The measurements and their method are in `benches/README.md`, and the peer dialer's manual
//! in `examples/peer_dialer/README.md`, in the crate's repository.

#[doc = include_str!("operations.md")]
pub mod operations {}

#[doc = include_str!("configuration.md")]
pub mod configuration {}

#[doc = include_str!("proxies.md")]
pub mod proxies {}

#[doc = include_str!("bootstrap.md")]
pub mod bootstrap {}

#[doc = include_str!("inbound.md")]
pub mod inbound {}

#[doc = include_str!("outbound.md")]
pub mod outbound {}

#[doc = include_str!("sharding.md")]
pub mod sharding {}

#[doc = include_str!("simulator.md")]
pub mod simulator {}

#[doc = include_str!("timer_wheel.md")]
pub mod timer_wheel {}

#[doc = include_str!("design.md")]
pub mod design {}

#[doc = include_str!("../../docs/btcd.md")]
pub mod btcd {}
