//! A real `Manager` (or an embedded `Reactor`) on real sockets on 127.0.0.0/8, each wait a
//! bounded `turn_until`. Tests that count or limit process-wide resources are in `resources`.

#[path = "../support/mod.rs"]
mod support;

mod control;
mod inbound;
mod outbound;
mod outbound_policy;
mod poll_embedding;
mod review_faults;
mod stale_events;
