//! Process-wide resources: open file descriptors, threads, and the descriptor limit. Each test
//! here counts or changes something the whole process shares, so every one of them runs
//! [`alone`]: the binary's tests take one lock, one after the other.

#[path = "../support/mod.rs"]
mod support;

mod accept_backoff;
mod dns_threads;
mod fd_leaks;
mod protection;
mod shard_fds;

use std::sync::{Mutex, MutexGuard};

/// Held for the whole of each test of this binary, so no other test opens a descriptor,
/// starts a thread or sees a lowered limit while one counts.
pub fn alone() -> MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    // A test that failed poisoned the lock; the next one still runs alone.
    ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
