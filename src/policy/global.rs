//! The rules a sharded manager keeps across its reactors: what each shard's core consults at the
//! few points where a limit is global, and nothing else.
//!
//! Every shard runs its own core on its own thread; they share one [`Global`] and touch it only
//! where a rule spans shards: when an automatic request is asked for or ends (the outbound
//! target), when a dial starts or finishes (the dial limit), when a socket is admitted or closes
//! (`max_inbound`, the per-host and per-netgroup caps), and when a ban is made. Each of those is
//! one atomic read-modify-write on a counter, never a lock, so nothing on the per-connection path
//! waits for another shard. Bans, which change rarely and are read on every accept and dial, are
//! copied to every shard instead (a mailbox per shard and a wake-up), so reading them stays local.
//!
//! Why the counts are exact: each limit is a counter that a shard raises only with a
//! compare-and-swap from a value below the cap ([`Budget::take`], [`CapTable::try_add`]), so no
//! interleaving of shards can take it past the cap, and a shard lowers it only for what it took.
//! The keyed caps share a slot between keys whose hashes collide: a slot's count is then the sum
//! of those keys' counts, which can only refuse early, never admit past a key's cap.
//!
//! It sits below both the core and the front ends (as `command` does) so that neither imports
//! the other. With the `shards` feature off none of this is compiled.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::net::{NetGroup, Subnet};

/// The most shards a manager runs: the dial limit's waiting shards fit one 64-bit mask.
pub(crate) const MAX_SHARDS: usize = 64;

/// Slots of a keyed cap table per `max_inbound` (at least [`MIN_SLOTS`], at most
/// [`MAX_SLOTS`]): with at most `max_inbound` keys live, a key shares its slot with another live
/// key with probability at most 1/64.
const SLOTS_PER_PEER: usize = 64;
const MIN_SLOTS: usize = 1 << 10;
/// Slots when `max_inbound` is unlimited, and the most ever (256 KiB and 4 MiB of counters).
const UNLIMITED_SLOTS: usize = 1 << 16;
const MAX_SLOTS: usize = 1 << 20;

/// The inbound cap that refused a connection across shards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cap {
    /// Too many connections from the peer's host.
    PerHost,
    /// Too many connections from the peer's netgroup.
    PerNetgroup,
}

/// A count that never exceeds its cap, shared by every shard.
#[derive(Debug)]
pub(crate) struct Budget {
    used: AtomicU32,
    cap: u32,
}

impl Budget {
    pub(crate) fn new(cap: u32) -> Self {
        Budget { used: AtomicU32::new(0), cap }
    }

    /// Takes one unit if the count is below the cap.
    pub(crate) fn take(&self) -> bool {
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            if used >= self.cap {
                return false;
            }
            match self.used.compare_exchange_weak(used, used + 1, Ordering::SeqCst, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(now) => used = now,
            }
        }
    }

    /// Gives back `n` units taken earlier.
    pub(crate) fn give(&self, n: u32) {
        if n > 0 {
            let before = self.used.fetch_sub(n, Ordering::SeqCst);
            debug_assert!(before >= n, "gave back more than was taken");
        }
    }

    /// Whether a unit is free now (it may be gone by the time it is taken).
    pub(crate) fn has_room(&self) -> bool {
        self.used.load(Ordering::SeqCst) < self.cap
    }

    #[cfg(test)]
    pub(crate) fn used(&self) -> u32 {
        self.used.load(Ordering::Relaxed)
    }
}

/// Counts per key, each kept at or under a cap given at each call, for any number of keys in
/// fixed memory: a table of atomic counters indexed by a keyed hash of the key.
///
/// Keys whose hashes collide share a counter, so a key can be refused before its own count
/// reaches the cap (never admitted past it). With `L` distinct keys live in a table of `S`
/// slots, a key shares its slot with probability at most `L / S`; the hash is keyed with a
/// secret per table, so a peer cannot choose addresses that collide with a victim's.
///
/// General on purpose: the inbound per-host and per-netgroup caps use it, and so can any other
/// "at most N per key" rule across shards (outbound netgroup diversity, say).
#[derive(Debug)]
pub(crate) struct CapTable {
    counts: Box<[AtomicU32]>,
    key: RandomState,
}

impl CapTable {
    /// A table of `slots` counters (rounded up to a power of two, at most 2^20).
    pub(crate) fn new(slots: usize) -> Self {
        let n = slots.clamp(1, MAX_SLOTS).next_power_of_two();
        CapTable { counts: (0..n).map(|_| AtomicU32::new(0)).collect(), key: RandomState::new() }
    }

    fn slot<K: Hash>(&self, key: &K) -> &AtomicU32 {
        let h = self.key.hash_one(key) as usize;
        &self.counts[h & (self.counts.len() - 1)]
    }

    /// Counts one more for `key` if its slot is below `cap`.
    pub(crate) fn try_add<K: Hash>(&self, key: &K, cap: u32) -> bool {
        let slot = self.slot(key);
        let mut n = slot.load(Ordering::Relaxed);
        loop {
            if n >= cap {
                return false;
            }
            match slot.compare_exchange_weak(n, n + 1, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(now) => n = now,
            }
        }
    }

    /// Counts one more for `key` whatever the cap (a trusted peer).
    pub(crate) fn add<K: Hash>(&self, key: &K) {
        self.slot(key).fetch_add(1, Ordering::AcqRel);
    }

    /// Counts one less for `key`; an unmatched call (a zero slot) changes nothing.
    pub(crate) fn sub<K: Hash>(&self, key: &K) {
        let _ = self.slot(key).fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// The count of `key`'s slot (at least `key`'s own).
    #[cfg(test)]
    pub(crate) fn get<K: Hash>(&self, key: &K) -> u32 {
        self.slot(key).load(Ordering::Acquire)
    }
}

/// A ban or an unban made on one shard, for the others to apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BanNote {
    Ban(Subnet, Instant),
    Unban(Subnet),
}

type Notify = Box<dyn Fn() + Send + Sync>;

/// One shard's mailbox: bans from the other shards, and a flag that says to look.
struct Mail {
    pending: AtomicBool,
    bans: Mutex<Vec<BanNote>>,
    /// Wakes the shard (its `Poll`'s waker); the shard then calls `Core::global_mail`.
    notify: Notify,
}

/// What every shard of one manager shares. See the [module docs](self).
pub(crate) struct Global {
    shards: usize,
    /// Automatic outbound requests alive or asked for on every shard, per class (the default
    /// set of `target_outbound`, then each `OutboundPolicy::classes`): at most its target.
    pub(crate) auto: Box<[Budget]>,
    /// Automatic outbound connections per netgroup tag (outbound diversity), when it is on.
    pub(crate) out_groups: Option<CapTable>,
    /// The key every shard tags netgroups with, so that a netgroup has one tag.
    pub(crate) tag_key: u64,
    /// Dials in progress on every shard: at most `max_dials_in_flight`.
    pub(crate) dials: Budget,
    /// Shards with dials queued for a free slot, one bit each.
    dial_waiters: AtomicU64,
    /// Dial slots handed to each shard by one that finished a dial, not yet used.
    granted: Box<[AtomicU32]>,
    /// The count every shard's inbound slots share: `max_inbound` holds across shards.
    pub(crate) inbound: Arc<AtomicUsize>,
    /// Inbound connections per host and per net group, when those caps are on.
    pub(crate) per_host: Option<CapTable>,
    pub(crate) per_group: Option<CapTable>,
    mail: Box<[Mail]>,
}

impl std::fmt::Debug for Global {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Global")
            .field("shards", &self.shards)
            .field("auto", &self.auto)
            .field("dials", &self.dials)
            .field("inbound", &self.inbound)
            .finish_non_exhaustive()
    }
}

/// The limits a [`Global`] enforces.
#[derive(Clone, Debug)]
pub(crate) struct Limits {
    /// Each automatic class's target, the default set's first.
    pub(crate) targets: Vec<u32>,
    /// Outbound diversity: at most this many automatic connections per netgroup.
    pub(crate) max_per_netgroup: Option<u32>,
    pub(crate) max_dials: Option<u32>,
    pub(crate) max_inbound: Option<u32>,
    pub(crate) per_host: bool,
    pub(crate) per_group: bool,
}

impl Global {
    /// Shared state for `notify.len()` shards; `notify[i]` wakes shard `i`.
    pub(crate) fn new(limits: Limits, notify: Vec<Notify>) -> Self {
        let slots =
            limits.max_inbound.map_or(UNLIMITED_SLOTS, |m| (m as usize).saturating_mul(SLOTS_PER_PEER).max(MIN_SLOTS));
        Global {
            shards: notify.len(),
            auto: limits.targets.iter().map(|&t| Budget::new(t)).collect(),
            // Sized for every automatic connection with room to spare (a collision is rarer
            // the emptier the table, and can only refuse early).
            out_groups: limits.max_per_netgroup.map(|_| {
                let automatic: usize = limits.targets.iter().map(|&t| t as usize).sum();
                CapTable::new(automatic.saturating_mul(SLOTS_PER_PEER).max(MIN_SLOTS))
            }),
            tag_key: RandomState::new().hash_one(0x7461_6773u64),
            dials: Budget::new(limits.max_dials.unwrap_or(u32::MAX)),
            dial_waiters: AtomicU64::new(0),
            granted: (0..notify.len()).map(|_| AtomicU32::new(0)).collect(),
            inbound: Arc::new(AtomicUsize::new(0)),
            per_host: limits.per_host.then(|| CapTable::new(slots)),
            per_group: limits.per_group.then(|| CapTable::new(slots)),
            mail: notify
                .into_iter()
                .map(|notify| Mail { pending: AtomicBool::new(false), bans: Mutex::default(), notify })
                .collect(),
        }
    }

    pub(crate) fn shards(&self) -> usize {
        self.shards
    }

    /// Sends a ban made on shard `from` to every other shard.
    pub(crate) fn publish(&self, from: usize, note: BanNote) {
        for (i, mail) in self.mail.iter().enumerate().filter(|&(i, _)| i != from) {
            mail.bans.lock().unwrap_or_else(|e| e.into_inner()).push(note);
            self.poke(i);
        }
    }

    /// Marks shard `i`'s mailbox and wakes it.
    fn poke(&self, i: usize) {
        let mail = &self.mail[i];
        mail.pending.store(true, Ordering::SeqCst);
        (mail.notify)();
    }

    /// Whether shard `i` has mail (cheap: one load).
    pub(crate) fn has_mail(&self, i: usize) -> bool {
        self.mail[i].pending.load(Ordering::Acquire)
    }

    /// Shard `i`'s bans to apply, clearing its flag.
    pub(crate) fn take_mail(&self, i: usize) -> Vec<BanNote> {
        let mail = &self.mail[i];
        if !mail.pending.swap(false, Ordering::SeqCst) {
            return Vec::new();
        }
        std::mem::take(&mut *mail.bans.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Takes a dial slot for shard `i`: one handed to it, or a free one. If there is none,
    /// marks `i` as waiting, then tries once more, so a slot freed in between is not missed
    /// (the freeing shard either sees the mark and hands the slot over, or this try sees it).
    pub(crate) fn take_dial(&self, i: usize) -> bool {
        if self.take_grant(i) || self.dials.take() {
            return true;
        }
        self.dial_waiters.fetch_or(1 << i, Ordering::SeqCst);
        self.take_grant(i) || self.dials.take()
    }

    fn take_grant(&self, i: usize) -> bool {
        self.granted[i].fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1)).is_ok()
    }

    /// Whether shard `i` may find a dial slot now (it may be gone by the time it is taken).
    pub(crate) fn dial_room(&self, i: usize) -> bool {
        self.granted[i].load(Ordering::Acquire) > 0 || self.dials.has_room()
    }

    /// Shard `i` has no dial queued any more: it stops waiting, and passes on the slots handed
    /// to it that it did not use.
    pub(crate) fn stop_waiting(&self, i: usize) {
        if self.dial_waiters.load(Ordering::Relaxed) & (1 << i) != 0 {
            self.dial_waiters.fetch_and(!(1 << i), Ordering::SeqCst);
        }
        while self.take_grant(i) {
            self.give_dial(i);
        }
    }

    /// Shard `i` finished a dial. If other shards wait for a slot, the slot goes to the next
    /// of them after `i` (so shards take turns, and the one that finished cannot take it back
    /// first), which is woken; otherwise it is freed.
    pub(crate) fn give_dial(&self, i: usize) {
        let waiting = self.dial_waiters.load(Ordering::SeqCst) & !(1 << i);
        if waiting == 0 {
            self.dials.give(1);
            return;
        }
        let next = (1..=self.shards).map(|d| (i + d) % self.shards).find(|j| waiting & (1 << j) != 0);
        match next {
            Some(j) => {
                self.granted[j].fetch_add(1, Ordering::AcqRel);
                self.poke(j);
            }
            None => self.dials.give(1),
        }
    }

    /// Host and group counts for an inbound connection from `ip`: reserved under the caps
    /// (`Err` names the cap that refused), or unconditionally for a trusted peer.
    pub(crate) fn reserve_inbound(
        &self,
        host: IpAddr,
        group: NetGroup,
        caps: (Option<u32>, Option<u32>),
        trusted: bool,
    ) -> Result<(), Cap> {
        if let Some(t) = &self.per_host {
            match caps.0 {
                Some(cap) if !trusted => {
                    if !t.try_add(&host, cap) {
                        return Err(Cap::PerHost);
                    }
                }
                _ => t.add(&host),
            }
        }
        if let Some(t) = &self.per_group {
            match caps.1 {
                Some(cap) if !trusted => {
                    if !t.try_add(&group, cap) {
                        if let Some(h) = &self.per_host {
                            h.sub(&host);
                        }
                        return Err(Cap::PerNetgroup);
                    }
                }
                _ => t.add(&group),
            }
        }
        Ok(())
    }

    /// Releases what [`reserve_inbound`](Self::reserve_inbound) counted.
    pub(crate) fn release_inbound(&self, host: IpAddr, group: NetGroup) {
        if let Some(t) = &self.per_host {
            t.sub(&host);
        }
        if let Some(t) = &self.per_group {
            t.sub(&group);
        }
    }
}

/// A core's place in a sharded manager.
#[derive(Clone, Debug)]
pub(crate) struct ShardRef {
    pub(crate) global: Arc<Global>,
    pub(crate) index: usize,
}

/// Shard `index`'s fair share of `total` (the first `total % shards` shards get one more).
pub(crate) fn share(total: u32, shards: usize, index: usize) -> u32 {
    let n = shards.max(1) as u32;
    total / n + u32::from((index as u32) < total % n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn global(shards: usize, limits: Limits) -> Global {
        Global::new(limits, (0..shards).map(|_| Box::new(|| {}) as Notify).collect())
    }

    fn limits() -> Limits {
        Limits {
            targets: vec![8],
            max_per_netgroup: None,
            max_dials: Some(2),
            max_inbound: Some(4),
            per_host: true,
            per_group: true,
        }
    }

    #[test]
    fn a_budget_never_passes_its_cap_under_contention() {
        let b = Arc::new(Budget::new(100));
        let taken: u32 = (0..4)
            .map(|_| {
                let b = Arc::clone(&b);
                std::thread::spawn(move || (0..1000).filter(|_| b.take()).count() as u32)
            })
            .map(|t| t.join().unwrap())
            .sum();
        assert_eq!((taken, b.used()), (100, 100));
        b.give(100);
        assert!(b.has_room() && b.take());
    }

    #[test]
    fn cap_tables_hold_each_key_at_its_cap_across_threads() {
        let t = Arc::new(CapTable::new(64));
        let admitted: Vec<u32> = (0..4)
            .map(|_| {
                let t = Arc::clone(&t);
                std::thread::spawn(move || (0..500u32).filter(|i| t.try_add(&(i % 5), 3)).count() as u32)
            })
            .map(|h| h.join().unwrap())
            .collect();
        let total: u32 = admitted.iter().sum();
        // Five keys, cap 3 each: at most 15 in all, fewer only if keys share a slot.
        assert!((3..=15).contains(&total), "{total}");
        for k in 0..5u32 {
            assert!(t.get(&k) <= 3, "a slot never passes the cap, so no key does");
        }
        for k in 0..5u32 {
            while t.get(&k) > 0 {
                t.sub(&k);
            }
        }
        t.sub(&0u32); // unmatched: stays at zero
        assert_eq!(t.get(&0u32), 0);
    }

    #[test]
    fn a_colliding_table_refuses_early_but_never_admits_past_a_cap() {
        let t = CapTable::new(1); // every key shares the one slot
        assert!(t.try_add(&"a", 2));
        assert!(t.try_add(&"b", 2));
        assert!(!t.try_add(&"a", 2), "refused for b's count: stricter, never looser");
        t.sub(&"b");
        assert!(t.try_add(&"a", 2));
    }

    #[test]
    fn shares_add_up_to_the_total() {
        for total in [0, 1, 7, 8, 64, 513] {
            for shards in 1..=5 {
                let sum: u32 = (0..shards).map(|i| share(total, shards, i)).sum();
                assert_eq!(sum, total);
            }
        }
        assert_eq!((share(7, 2, 0), share(7, 2, 1)), (4, 3));
    }

    #[test]
    fn bans_reach_every_other_shard_once() {
        let g = global(3, limits());
        let subnet = Subnet::single("192.0.2.1".parse().unwrap());
        g.publish(1, BanNote::Unban(subnet));
        assert!(g.has_mail(0) && !g.has_mail(1) && g.has_mail(2));
        assert_eq!(g.take_mail(0), vec![BanNote::Unban(subnet)]);
        assert!(g.take_mail(0).is_empty() && g.take_mail(1).is_empty());
        assert_eq!(g.take_mail(2).len(), 1);
    }

    #[test]
    fn a_freed_dial_slot_wakes_the_waiting_shards() {
        let woken = Arc::new(AtomicUsize::new(0));
        let w = Arc::clone(&woken);
        let notify: Vec<Notify> = vec![
            Box::new(|| {}),
            Box::new(move || {
                w.fetch_add(1, Ordering::SeqCst);
            }),
            Box::new(|| {}),
        ];
        let g = Global::new(limits(), notify);
        assert!(g.take_dial(0) && g.take_dial(0));
        assert!(!g.take_dial(1), "two slots, both taken");
        assert!(!g.take_dial(0) && !g.dial_room(0), "shard 0 waits too");
        g.give_dial(0);
        assert_eq!(woken.load(Ordering::SeqCst), 1);
        assert!(g.has_mail(1) && !g.has_mail(2));
        assert!(!g.dial_room(0), "the freed slot went to the waiting shard, not back to shard 0");
        assert!(g.dial_room(1) && g.take_dial(1));
        g.give_dial(1);
        assert!(g.dial_room(0), "and shard 1's next one goes to shard 0: they take turns");
        g.stop_waiting(0);
        assert!(g.dial_room(1) && !g.dials.has_room(), "a slot handed over and not used goes to the next waiter");
        g.stop_waiting(1);
        assert!(g.dials.has_room(), "and, with nobody waiting, is freed");
        g.give_dial(0);
        assert_eq!(g.dials.used(), 0, "every slot back");
    }

    #[test]
    fn inbound_reservations_name_the_cap_and_undo_the_host_count() {
        let g = global(2, limits());
        let ip: IpAddr = "127.1.0.1".parse().unwrap();
        let group = NetGroup::of(ip);
        assert_eq!(g.reserve_inbound(ip, group, (Some(2), Some(1)), false), Ok(()));
        let other: IpAddr = "127.1.0.2".parse().unwrap();
        assert_eq!(g.reserve_inbound(other, NetGroup::of(other), (Some(2), Some(1)), false), Err(Cap::PerNetgroup));
        assert_eq!(g.per_host.as_ref().unwrap().get(&other), 0, "the host count was given back");
        assert_eq!(g.reserve_inbound(other, NetGroup::of(other), (Some(2), Some(1)), true), Ok(()), "trusted");
        g.release_inbound(ip, group);
        g.release_inbound(other, NetGroup::of(other));
        assert_eq!(g.per_group.as_ref().unwrap().get(&group), 0);
    }
}
