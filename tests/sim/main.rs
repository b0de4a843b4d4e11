//! The sans-IO core on simulated time (`connmgr::sim`): no socket, no clock, every time exact.
//! btcd's connmgr tests restated (see `tests/README.md` for the map) and the behaviour added
//! on top of them.

#[path = "../support/mod.rs"]
mod support;

mod inbound;
mod lifecycle;
mod outbound;
mod outbound_policy;
mod properties;
mod protection;
mod retry;
mod review_faults;
