//! The counting parts of inbound admission: connections per host and per group, an accept-rate
//! token bucket, a same-host reconnect throttle, and a log throttle so that a flood of
//! rejections never floods the log.
//!
//! Each is `O(1)` per accept and allocation-free in steady state: the per-key counts keep their
//! hash map's capacity when a count drops to zero and is removed (so they hold one entry per
//! distinct host or group connected right now, bounded by the inbound limit), the bucket is
//! three integers, and the reconnect table is a fixed array chosen at construction.
//!
//! A "host" is an IPv4 address (IPv4-mapped included) or an IPv6 /64: one IPv6 host usually
//! owns a whole /64, so counting single IPv6 addresses would let it open a connection, or dodge
//! the reconnect throttle, from every address it has.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::net::{canonical, Subnet};

/// The host an address belongs to: itself (IPv4) or its /64 (IPv6).
pub(crate) fn host(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        ip @ IpAddr::V4(_) => ip,
        ip @ IpAddr::V6(_) => Subnet::masked(ip, 64).network(),
    }
}

/// Live connections per key, an entry only while its count is above zero.
#[derive(Debug)]
pub(crate) struct Counts<K> {
    map: HashMap<K, u32>,
}

impl<K: Hash + Eq> Counts<K> {
    pub(crate) fn new() -> Self {
        Counts { map: HashMap::new() }
    }

    pub(crate) fn get(&self, key: &K) -> u32 {
        self.map.get(key).copied().unwrap_or(0)
    }

    pub(crate) fn add(&mut self, key: K) {
        let n = self.map.entry(key).or_insert(0);
        *n = n.saturating_add(1);
    }

    /// Whether there was a count to take one from.
    pub(crate) fn sub(&mut self, key: &K) -> bool {
        match self.map.get_mut(key) {
            Some(n) if *n > 1 => *n -= 1,
            Some(_) => {
                self.map.remove(key);
            }
            None => return false,
        }
        true
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

/// Fixed-point units per token: one token per second at rate 1 is one unit per nanosecond,
/// so refills are exact integers and never drift.
const UNITS_PER_TOKEN: u128 = 1_000_000_000;

/// A token bucket: up to `burst` accepts at once, refilled at `per_second` tokens a second.
///
/// Time is an input and the refill is lazy (computed from the elapsed time at each call), in
/// integer nanoseconds, so over any interval it admits at most
/// `burst + per_second * elapsed` and never drifts, however often it is asked.
#[derive(Clone, Debug)]
pub(crate) struct TokenBucket {
    units: u128,
    max_units: u128,
    per_second: u128,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket at `now`. A `per_second` of zero never refills; a `burst` of zero admits
    /// nothing.
    pub(crate) fn new(burst: u32, per_second: u32, now: Instant) -> Self {
        let max_units = u128::from(burst) * UNITS_PER_TOKEN;
        TokenBucket { units: max_units, max_units, per_second: per_second.into(), last: now }
    }

    /// Takes a token if one is available at `now`.
    pub(crate) fn try_take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.units >= UNITS_PER_TOKEN {
            self.units -= UNITS_PER_TOKEN;
            true
        } else {
            false
        }
    }

    /// Whole tokens available at `now`.
    #[cfg(test)]
    pub(crate) fn available(&mut self, now: Instant) -> u32 {
        self.refill(now);
        (self.units / UNITS_PER_TOKEN) as u32
    }

    fn refill(&mut self, now: Instant) {
        // A `now` earlier than the last one (not monotonic input) adds nothing and keeps `last`,
        // so the same interval is never counted twice.
        if now > self.last {
            let nanos = now.duration_since(self.last).as_nanos();
            self.units = self.units.saturating_add(nanos.saturating_mul(self.per_second)).min(self.max_units);
            self.last = now;
        }
    }
}

/// Remembers, for a while, which hosts connected recently: a host seen within `window` is
/// refused again until the window has passed (geth refuses an IP that comes back within 30 s).
///
/// Memory is a fixed table of slots, whatever the number of hosts. A host's slot and 64-bit tag
/// come from a keyed hash (secret per table), and a slot remembers only the last host that
/// landed in it. So the table is lossy in the permissive direction: when two hosts share a
/// slot, the later one overwrites the earlier, whose reconnect is then let through early. An
/// innocent host is refused only if another host has the same slot *and* the same 64-bit tag,
/// which an attacker cannot arrange without the key. A refused attempt does not restart the
/// window, so a host that retries in a loop still gets in once per window.
#[derive(Clone, Debug)]
pub(crate) struct ReconnectThrottle {
    window: Duration,
    slots: Box<[Slot]>,
    key: RandomState,
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    tag: u64,
    at: Option<Instant>,
}

impl ReconnectThrottle {
    /// The most slots a table may have (24 MiB), so an absurd argument cannot exhaust memory.
    pub(crate) const MAX_SLOTS: usize = 1 << 20;

    /// A table of `slots` slots (rounded up to a power of two, between 1 and
    /// [`MAX_SLOTS`](Self::MAX_SLOTS)) remembering hosts for `window`. Each slot is 24 bytes.
    pub(crate) fn new(window: Duration, slots: usize) -> Self {
        let n = slots.clamp(1, Self::MAX_SLOTS).next_power_of_two();
        ReconnectThrottle {
            window,
            slots: vec![Slot { tag: 0, at: None }; n].into_boxed_slice(),
            key: RandomState::new(),
        }
    }

    /// Whether `ip`'s host was recorded less than `window` before `now`.
    pub(crate) fn is_recent(&self, ip: IpAddr, now: Instant) -> bool {
        let (i, tag) = self.slot(ip);
        let slot = self.slots[i];
        slot.tag == tag && slot.at.is_some_and(|at| now.saturating_duration_since(at) < self.window)
    }

    /// Records that `ip`'s host connected at `now`.
    pub(crate) fn record(&mut self, ip: IpAddr, now: Instant) {
        let (i, tag) = self.slot(ip);
        self.slots[i] = Slot { tag, at: Some(now) };
    }

    fn slot(&self, ip: IpAddr) -> (usize, u64) {
        let tag = self.key.hash_one(host(ip));
        ((tag as usize) & (self.slots.len() - 1), tag)
    }
}

/// Rate limits a log line that an attacker can trigger: the first `free` events are logged,
/// then at most one per `interval`, each reporting how many were suppressed since the last.
#[derive(Clone, Debug)]
pub(crate) struct LogThrottle {
    free: u32,
    interval: Duration,
    logged: u32,
    last: Option<Instant>,
    suppressed: u64,
}

impl LogThrottle {
    /// A throttle that logs `free` events freely, then one per `interval`.
    pub(crate) fn new(free: u32, interval: Duration) -> Self {
        LogThrottle { free, interval, logged: 0, last: None, suppressed: 0 }
    }

    /// For an event at `now`: `Some(suppressed)` if it should be logged (with the number of
    /// events not logged since the previous line), `None` if it should be dropped.
    pub(crate) fn allow(&mut self, now: Instant) -> Option<u64> {
        let due = self.logged < self.free
            || self.last.map_or(true, |last| now.saturating_duration_since(last) >= self.interval);
        if due {
            self.logged = self.logged.saturating_add(1);
            self.last = Some(now);
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::Ipv4Addr;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn hosts_are_ipv4_addresses_and_ipv6_slash_64s() {
        assert_eq!(host(ip("192.0.2.1")), ip("192.0.2.1"));
        assert_eq!(host(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
        assert_eq!(host(ip("2001:db8:1:2:3:4:5:6")), ip("2001:db8:1:2::"));
        assert_eq!(host(ip("2001:db8:1:2::1")), host(ip("2001:db8:1:2:ffff::9")));
        assert_ne!(host(ip("2001:db8:1:2::1")), host(ip("2001:db8:1:3::1")));
    }

    #[test]
    fn counts_drop_entries_at_zero_and_refuse_to_go_negative() {
        let mut c = Counts::new();
        c.add("a");
        c.add("a");
        assert_eq!(c.get(&"a"), 2);
        assert!(c.sub(&"a") && c.sub(&"a"));
        assert_eq!((c.get(&"a"), c.len()), (0, 0));
        assert!(!c.sub(&"a"), "no count to take from");
        assert_eq!(c.get(&"a"), 0);
    }

    #[test]
    fn bucket_allows_a_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(3, 2, t0);
        assert_eq!((0..10).filter(|_| b.try_take(t0)).count(), 3);
        assert!(!b.try_take(t0 + Duration::from_millis(499)));
        assert!(b.try_take(t0 + Duration::from_millis(500)));
        assert!(!b.try_take(t0 + Duration::from_millis(500)));
        assert_eq!(b.available(t0 + Duration::from_secs(100)), 3, "refill stops at the burst");
    }

    #[test]
    fn bucket_never_drifts_with_many_small_steps() {
        // 7919 tokens a second, asked a million times at uneven steps of a few microseconds:
        // integer units lose nothing, so the count is exact. (Burst 2, so a token is taken as
        // soon as one is there and the cap never clips a refill.)
        let t0 = Instant::now();
        let mut b = TokenBucket::new(2, 7919, t0);
        assert!(b.try_take(t0));
        let mut got = 0;
        let mut t = t0;
        for step in 0..1_000_000u64 {
            t += Duration::from_nanos(1_000 + step % 3 * 1_777);
            got += u32::from(b.try_take(t));
        }
        let elapsed = t - t0;
        assert_eq!(u128::from(got), 1 + elapsed.as_nanos() * 7919 / 1_000_000_000);
        assert!(got > 20_000);
    }

    #[test]
    fn bucket_ignores_time_going_backwards() {
        let t0 = Instant::now() + Duration::from_secs(10);
        let mut b = TokenBucket::new(1, 1, t0);
        assert!(b.try_take(t0));
        assert!(!b.try_take(t0 - Duration::from_secs(5)));
        assert!(!b.try_take(t0 + Duration::from_millis(999)), "the backward step added nothing");
        assert!(b.try_take(t0 + Duration::from_secs(1)));
    }

    #[test]
    fn zero_burst_admits_nothing_and_zero_rate_never_refills() {
        let t0 = Instant::now();
        assert!(!TokenBucket::new(0, 100, t0).try_take(t0 + Duration::from_secs(9)));
        let mut b = TokenBucket::new(1, 0, t0);
        assert!(b.try_take(t0));
        assert!(!b.try_take(t0 + Duration::from_secs(1_000_000)));
    }

    #[test]
    fn reconnect_within_the_window_is_refused() {
        let t0 = Instant::now();
        let mut r = ReconnectThrottle::new(Duration::from_secs(30), 64);
        assert!(!r.is_recent(ip("192.0.2.1"), t0));
        r.record(ip("192.0.2.1"), t0);
        assert!(r.is_recent(ip("192.0.2.1"), t0 + Duration::from_secs(29)));
        assert!(r.is_recent(ip("::ffff:192.0.2.1"), t0), "mapped is the same host");
        assert!(!r.is_recent(ip("192.0.2.1"), t0 + Duration::from_secs(30)));
        r.record(ip("2001:db8::1"), t0);
        assert!(r.is_recent(ip("2001:db8::2"), t0), "same /64");
    }

    #[test]
    fn a_shared_slot_only_ever_lets_a_reconnect_through() {
        // One slot: every host collides. The later host evicts the earlier one's record, and the
        // tag keeps the earlier one from being refused on the later one's account.
        let t0 = Instant::now();
        let mut r = ReconnectThrottle::new(Duration::from_secs(30), 1);
        assert_eq!(r.slots.len(), 1);
        r.record(ip("192.0.2.1"), t0);
        r.record(ip("192.0.2.2"), t0);
        assert!(!r.is_recent(ip("192.0.2.1"), t0), "forgotten: let through, never wrongly refused");
        assert!(r.is_recent(ip("192.0.2.2"), t0));
    }

    #[test]
    fn reconnect_table_size_is_bounded() {
        assert_eq!(ReconnectThrottle::new(Duration::ZERO, 0).slots.len(), 1);
        assert_eq!(ReconnectThrottle::new(Duration::ZERO, 1000).slots.len(), 1024);
        assert_eq!(ReconnectThrottle::new(Duration::ZERO, usize::MAX).slots.len(), ReconnectThrottle::MAX_SLOTS);
        let t0 = Instant::now();
        let mut r = ReconnectThrottle::new(Duration::from_secs(30), 16);
        for i in 0..100_000u32 {
            r.record(IpAddr::V4(Ipv4Addr::from(i)), t0);
        }
        assert_eq!(r.slots.len(), 16, "a flood of hosts overwrites slots, never grows");
        let remembered = (0..100_000u32).filter(|&i| r.is_recent(IpAddr::V4(Ipv4Addr::from(i)), t0)).count();
        assert!(remembered <= 16, "at most one host per slot: {remembered}");
    }

    #[test]
    fn log_throttle_reports_the_suppressed_count() {
        let t0 = Instant::now();
        let mut l = LogThrottle::new(2, Duration::from_secs(10));
        assert_eq!([l.allow(t0), l.allow(t0), l.allow(t0)], [Some(0), Some(0), None]);
        assert_eq!(l.allow(t0 + Duration::from_secs(9)), None);
        assert_eq!(l.allow(t0 + Duration::from_secs(10)), Some(2));
        assert_eq!(l.allow(t0 + Duration::from_secs(11)), None);
        assert_eq!(l.allow(t0 + Duration::from_secs(100)), Some(1));
        assert_eq!(LogThrottle::new(0, Duration::from_secs(10)).allow(t0), Some(0), "the first always logs");
    }

    proptest! {
        #[test]
        fn bucket_never_admits_more_than_burst_plus_rate_times_elapsed(
            burst in 0u32..20,
            rate in 0u32..50,
            steps in proptest::collection::vec(0u64..200_000_000, 1..300),
        ) {
            let t0 = Instant::now();
            let mut b = TokenBucket::new(burst, rate, t0);
            let mut t = t0;
            let mut admitted = 0u128;
            for step in steps {
                t += Duration::from_nanos(step);
                admitted += u128::from(b.try_take(t));
                let bound = u128::from(burst) * 1_000_000_000 + u128::from(rate) * (t - t0).as_nanos();
                prop_assert!(admitted * 1_000_000_000 <= bound, "{} admitted by {:?}", admitted, t - t0);
            }
        }

        #[test]
        fn log_throttle_logs_at_most_free_plus_one_per_interval(gaps in proptest::collection::vec(0u64..5_000, 1..500)) {
            let t0 = Instant::now();
            let mut l = LogThrottle::new(3, Duration::from_secs(1));
            let mut t = t0;
            let (mut lines, mut reported) = (0u64, 0u64);
            for &gap in &gaps {
                t += Duration::from_millis(gap);
                if let Some(suppressed) = l.allow(t) {
                    lines += 1;
                    reported += suppressed;
                }
            }
            let secs = (t - t0).as_secs();
            prop_assert!(lines <= 3 + secs + 1);
            prop_assert_eq!(lines + reported + l.suppressed, gaps.len() as u64, "every event logged or counted");
        }
    }
}
