//! Waiting on a real manager: turn it until a condition holds, for a bounded time. The
//! loopback tests' one way to wait for something (never a sleep).
#![allow(dead_code)]

use std::time::{Duration, Instant};

use connmgr::{Handler, Manager};

/// Turns `m` until `done(m)` holds; panics, saying `what`, if it does not within `limit`.
pub fn turn_until<H: Handler>(m: &mut Manager<H>, limit: Duration, what: &str, done: impl Fn(&Manager<H>) -> bool) {
    let deadline = Instant::now() + limit;
    while !done(m) {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        m.turn(Some(Duration::from_millis(20))).unwrap();
    }
}
