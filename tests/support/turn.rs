//! Waiting on a real manager: [`try_turn_until`] is the one loop that turns a [`Manager`]
//! until a condition holds, for a bounded time; every wait of the loopback and server tests
//! goes through it or a shorthand below (never a sleep).

use std::time::{Duration, Instant};

use connmgr::{Handler, Manager};

/// The longest any test waits for one thing before failing. Generous: the machine is shared.
pub const LIMIT: Duration = Duration::from_secs(10);

/// The longest a single `turn` may block inside the loop.
pub const TURN: Duration = Duration::from_millis(20);

/// An upper bound on loop turns in one wait, whatever the clock says.
pub const MAX_TURNS: usize = 200_000;

/// Turns `manager` (starting it if needed) until `done` holds, and says whether it did: false
/// once `limit` has passed (or after [`MAX_TURNS`] turns) without it.
pub fn try_turn_until<H: Handler>(
    manager: &mut Manager<H>,
    limit: Duration,
    mut done: impl FnMut(&Manager<H>) -> bool,
) -> bool {
    let deadline = Instant::now() + limit;
    manager.reactor_mut().start();
    for _ in 0..MAX_TURNS {
        if done(manager) {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        manager.turn(Some(TURN.min(deadline - now))).expect("poll failed");
    }
    false
}

/// Turns `manager` until `done` holds; fails the test, saying `what`, if it does not within
/// [`LIMIT`].
pub fn turn_until<H: Handler>(manager: &mut Manager<H>, what: &str, done: impl FnMut(&Manager<H>) -> bool) {
    turn_until_within(manager, LIMIT, what, done);
}

/// [`turn_until`] with a limit of the test's own.
pub fn turn_until_within<H: Handler>(
    manager: &mut Manager<H>,
    limit: Duration,
    what: &str,
    done: impl FnMut(&Manager<H>) -> bool,
) {
    assert!(try_turn_until(manager, limit, done), "timed out after {limit:?} waiting for {what}");
}

/// Turns `manager` for `period` whatever happens (to check that something does *not* happen).
pub fn turn_for<H: Handler>(manager: &mut Manager<H>, period: Duration) {
    try_turn_until(manager, period, |_| false);
}

/// Runs `manager` until it stops; fails the test if it has not stopped after [`LIMIT`].
pub fn run_to_stop<H: Handler>(manager: &mut Manager<H>) {
    let stopped = manager.run_until(Instant::now() + LIMIT).expect("poll failed");
    assert!(stopped, "the manager did not stop within {LIMIT:?}");
}
