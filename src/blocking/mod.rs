//! btcd's blocking seed_from_dns and tor_lookup_ip (cargo feature `blocking`, off by default),
//! for a program ported from btcd that keeps its threads.
//!
//! Each blocks a thread where the reactor does the same work without one, and the reactor's
//! way is the one to reach for:
//!
//! | btcd | here, blocking | on the reactor (no thread) |
//! |---|---|---|
//! | `SeedFromDNS` | [`seed_from_dns`]: a thread per seed around a lookup function | `seed`, answered seed by seed in `Handler::on_seeded` (feature `dns`) |
//! | `TorLookupIP` | [`tor_lookup_ip`]: a SOCKS5 `RESOLVE` on the calling thread | `resolve`, answered in `Handler::on_resolved` |
//!
//! Both report what their reactor twins report: [`seed_from_dns`] hands out the same
//! [`SeedAddress`](crate::seed::SeedAddress)es, and [`tor_lookup_ip`] fails with the same
//! [`ResolveError`](crate::ResolveError) (its `Proxy` variant holds the SOCKS exchange's
//! [`ProxyError`](crate::proxy::ProxyError)).

mod seed_from_dns;
mod tor;

pub use seed_from_dns::{seed_from_dns, SeedJoin, SeedReport, SeedResult};
pub use tor::tor_lookup_ip;
