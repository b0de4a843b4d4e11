//! Failure memory: addresses that failed recently, so automatic requests skip them for a while
//! (Bitcoin Core waits 10 minutes, geth 30 seconds).
//!
//! A fixed table, four-way set associative, of `(key, until)` pairs: 16 bytes an entry, sized
//! once, never grown. Keys are keyed hashes of targets (the caller's secret key, so an attacker
//! cannot aim collisions at a set); a full set forgets the entry that expires first. Forgetting
//! early is the only error: a remembered address is never one that did not fail.

const WAYS: usize = 4;

#[derive(Clone, Copy, Debug, Default)]
struct Entry {
    /// Never 0 for a live entry.
    key: u64,
    until: u64,
}

#[derive(Debug)]
pub(crate) struct FailureMemory {
    sets: Box<[[Entry; WAYS]]>,
    /// The latest `until` remembered: from then on every entry has expired, and the caller may
    /// skip hashing altogether (the common case on a healthy node).
    latest: u64,
}

impl FailureMemory {
    /// Room for about `capacity` addresses (rounded up to whole sets).
    pub(crate) fn new(capacity: usize) -> Self {
        let sets = capacity.div_ceil(WAYS).max(1);
        FailureMemory { sets: vec![[Entry::default(); WAYS]; sets].into_boxed_slice(), latest: 0 }
    }

    /// Whether anything was ever remembered (checked first: it needs no clock).
    pub(crate) fn used(&self) -> bool {
        self.latest != 0
    }

    /// Whether anything may still be remembered at tick `now`.
    pub(crate) fn may_hold(&self, now: u64) -> bool {
        now < self.latest
    }

    fn set(&mut self, key: u64) -> &mut [Entry; WAYS] {
        let n = self.sets.len();
        &mut self.sets[(key % n as u64) as usize]
    }

    /// Remembers that `key` failed, until tick `until`.
    pub(crate) fn remember(&mut self, key: u64, now: u64, until: u64) {
        let key = key.max(1);
        let set = self.set(key);
        let slot = set
            .iter()
            .position(|e| e.key == key)
            .or_else(|| set.iter().position(|e| e.key == 0 || e.until <= now))
            .unwrap_or_else(|| (0..WAYS).min_by_key(|&i| set[i].until).unwrap_or(0));
        set[slot] = Entry { key, until };
        self.latest = self.latest.max(until);
    }

    /// Whether `key` failed and its window has not passed by tick `now`.
    pub(crate) fn failed(&mut self, key: u64, now: u64) -> bool {
        let key = key.max(1);
        self.set(key).iter().any(|e| e.key == key && e.until > now)
    }

    /// Forgets `key` (it has just connected).
    pub(crate) fn forget(&mut self, key: u64) {
        let key = key.max(1);
        for e in self.set(key).iter_mut().filter(|e| e.key == key) {
            *e = Entry::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn remembers_until_the_window_ends_and_forgets_on_success() {
        let mut m = FailureMemory::new(16);
        m.remember(42, 0, 100);
        assert!(m.failed(42, 0) && m.failed(42, 99));
        assert!(!m.failed(42, 100), "the window is over");
        m.remember(42, 100, 300);
        m.forget(42);
        assert!(!m.failed(42, 150));
        assert!(!m.failed(7, 0), "never failed");
    }

    #[test]
    fn a_full_set_forgets_what_expires_first() {
        let mut m = FailureMemory::new(4); // one set: every key shares it
        for k in 1..=4 {
            m.remember(k, 0, 100 + k);
        }
        m.remember(5, 0, 200);
        assert!(!m.failed(1, 0), "the earliest expiry made room");
        assert!((2..=5).all(|k| m.failed(k, 0)));
    }

    proptest! {
        /// Against a model with unbounded memory: never a false "failed", whatever the order of
        /// failures, successes and time.
        #[test]
        fn never_claims_a_failure_that_did_not_happen(ops in prop::collection::vec((0u64..64, 0u64..50, any::<bool>()), 1..400)) {
            let mut m = FailureMemory::new(32);
            let mut model = std::collections::HashMap::new();
            let mut now = 0;
            for (key, dt, fail) in ops {
                now += dt;
                if fail {
                    m.remember(key, now, now + 100);
                    model.insert(key.max(1), now + 100);
                } else {
                    m.forget(key);
                    model.remove(&key.max(1));
                }
                for k in 0..64u64 {
                    if m.failed(k, now) {
                        prop_assert!(model.get(&k.max(1)).is_some_and(|&u| u > now), "{k} claimed at {now}");
                    }
                }
            }
        }
    }

    #[test]
    fn size_is_fixed_at_creation() {
        let m = FailureMemory::new(1024);
        assert_eq!(m.sets.len() * WAYS * std::mem::size_of::<Entry>(), 16 * 1024);
    }
}
