//! A hierarchical timing wheel: six levels of 64 slots, 1 tick per slot at level 0 and 64 times
//! coarser at each level above, so it covers 64^6 = 2^36 ticks (about 2.2 years of 1 ms ticks).
//!
//! A connection manager arms and cancels far more timers than it lets fire (every connect
//! timeout is cancelled when the dial completes), so insert and cancel must be O(1) and must not
//! allocate. Entries therefore live in one [`Slab`] and each slot is a doubly linked list threaded
//! through slab indices (`u32`, not pointers: no `unsafe`, half the size). An entry remembers its
//! level and slot, so cancel unlinks it without searching. Keys carry a generation stamped at
//! insert because the slab reuses freed indices: a key for a timer that already fired or was
//! cancelled must not reach the newer timer that took its place.
//!
//! Each level keeps a `u64` bitmap of its non-empty slots (the layout of tokio's runtime timer).
//! Finding the next slot with work is a rotate and a `trailing_zeros` per level, which gives
//! [`Wheel::next_deadline`] without touching entries and lets [`Wheel::poll`] jump from slot to
//! slot, so advancing across a day of idle time costs the same as across one tick. An entry is
//! filed at the level of the highest 6-bit group in which its deadline differs from the current
//! time; when time reaches a higher-level slot, that slot's entries are re-filed ("cascaded")
//! into finer levels, so each entry moves at most five times before it fires.
//!
//! Only the top level wraps around: a deadline up to 2^36 - 1 ticks ahead can land in a top
//! slot "behind" the current one, meaning the next revolution. The next-slot search at levels
//! above 0 therefore starts one past the current slot (levels 1 to 4 never hold entries in their
//! current slot) and treats the current slot as the last, one revolution ahead.
//!
//! # Examples
//!
//! A timer a day away fires on time, after jumping over the empty slots in between (the unit
//! test `a_timer_a_day_away_fires_on_time`; the wheel is private, so its examples are tests):
//!
//! ```text
//! const DAY: u64 = 24 * 60 * 60 * 1000; // in 1 ms ticks
//! let mut wheel = Wheel::new();
//! wheel.insert(DAY, "daily");
//! wheel.insert(5, "soon");
//! assert_eq!(wheel.poll(DAY - 1).map(|(_, v)| v), Some("soon"));
//! assert_eq!(wheel.poll(DAY - 1), None);
//! assert_eq!(wheel.poll(DAY).map(|(_, v)| v), Some("daily"));
//! ```

use std::num::NonZeroU32;

use slab::Slab;
use std::fmt;

/// log2 of the slots per level.
const SLOT_BITS: u32 = 6;
/// Slots per level: one bit each in a `u64` occupancy bitmap.
const SLOTS: usize = 1 << SLOT_BITS;
/// Number of levels; 6 levels of 6 bits cover 2^36 ticks.
const LEVELS: usize = 6;
/// The end-of-list marker for the `u32` links (so at most `u32::MAX - 1` live entries).
const NIL: u32 = u32::MAX;

/// Identifies one armed timer in a [`Wheel`].
///
/// A key stays valid until its timer fires, is cancelled, or the wheel is cleared; after that
/// every method given the key answers `None`, even once its slab slot holds a newer timer.
/// (Generations are a wrapping `u32` counter, so a stale key could only be confused with a live
/// one after exactly 2^32 further inserts that also reused its slot.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct TimerKey {
    index: u32,
    // Never zero, so that `Option<TimerKey>` costs no more than a key: callers keep one per
    // request.
    generation: NonZeroU32,
}

/// One timer in the slab.
///
/// `size_of::<Entry<u64>>()` is 32 bytes on 64-bit targets: `u32` links and one-byte level and
/// slot keep the overhead on a 16-byte payload to 16 bytes. A slab slot holding it is also 32
/// with current rustc, which keeps the slab's vacant/occupied tag in the unused values of the
/// [`LevelId`] byte; the language does not promise that, so the test allows 40.
struct Entry<T> {
    /// The tick this timer is armed for, already clamped into the wheel's range.
    deadline: u64,
    value: T,
    /// Neighbours in the slot's list, as slab indices.
    prev: u32,
    next: u32,
    /// Matches [`TimerKey::generation`] while this entry is the key's timer.
    generation: NonZeroU32,
    /// The list this entry is linked into, so cancel is O(1).
    level: LevelId,
    slot: u8,
}

/// A level number as a byte with only six valid values, which leaves room (a niche) for the
/// slab to store its own tag and keeps a slab slot at 32 bytes rather than 40.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum LevelId {
    L0,
    L1,
    L2,
    L3,
    L4,
    L5,
}

impl LevelId {
    fn new(level: usize) -> Self {
        match level {
            0 => LevelId::L0,
            1 => LevelId::L1,
            2 => LevelId::L2,
            3 => LevelId::L3,
            4 => LevelId::L4,
            _ => LevelId::L5,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One level of the wheel: 64 list heads and a bitmap of which are non-empty.
#[derive(Clone, Copy)]
struct Level {
    /// Bit `i` is set iff `head[i] != NIL`.
    occupied: u64,
    head: [u32; SLOTS],
}

impl Level {
    const EMPTY: Level = Level { occupied: 0, head: [NIL; SLOTS] };
}

/// The next slot that needs processing.
#[derive(Debug, Clone, Copy)]
struct Expiration {
    level: usize,
    slot: usize,
    /// The first tick of that slot: exact for level 0, a lower bound on its entries above.
    start: u64,
}

/// A hierarchical timing wheel keyed by `u64` ticks, holding a value of type `T` per timer.
///
/// Time only moves forward, through [`poll`](Wheel::poll). Deadlines are absolute ticks; a
/// deadline at or before [`elapsed`](Wheel::elapsed) fires at the next poll, and one more than
/// [`MAX_DELAY`](Wheel::MAX_DELAY) ticks (2^36 - 1, about 2.2 years at 1 ms ticks) after
/// `elapsed` is clamped to that distance.
///
/// Insert and cancel are O(1) and allocate only when the slab grows, which
/// [`with_capacity`](Wheel::with_capacity) can rule out. [`next_deadline`](Wheel::next_deadline)
/// is O(levels). Each [`poll`](Wheel::poll) costs O(levels) per occupied slot it reaches, with
/// at most five cascades per entry over its lifetime, however far time jumps.
pub(crate) struct Wheel<T> {
    entries: Slab<Entry<T>>,
    levels: [Level; LEVELS],
    /// The current tick: every entry's deadline is at or after it.
    elapsed: u64,
    /// Stamped into the next inserted entry.
    next_generation: NonZeroU32,
}

impl<T> Wheel<T> {
    /// The farthest a deadline may lie beyond [`elapsed`](Wheel::elapsed): 2^36 - 1 ticks, about
    /// 795 days at 1 ms ticks. Later deadlines are clamped to this distance.
    pub(crate) const MAX_DELAY: u64 = (1 << (SLOT_BITS as u64 * LEVELS as u64)) - 1;

    /// Creates an empty wheel at tick 0.
    pub(crate) fn new() -> Self {
        Self::with_capacity(0)
    }

    /// Creates an empty wheel at tick 0 with room for `capacity` timers before it allocates.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Wheel {
            entries: Slab::with_capacity(capacity),
            levels: [Level::EMPTY; LEVELS],
            elapsed: 0,
            next_generation: NonZeroU32::MIN,
        }
    }

    /// Arms a timer for tick `deadline` and returns its key.
    ///
    /// A deadline at or before [`elapsed`](Wheel::elapsed) fires at the next
    /// [`poll`](Wheel::poll). A deadline more than [`MAX_DELAY`](Wheel::MAX_DELAY) ticks after
    /// `elapsed` is clamped to `elapsed + MAX_DELAY`; [`deadline`](Wheel::deadline) reports the
    /// tick actually armed.
    ///
    /// # Panics
    ///
    /// If `u32::MAX - 1` timers are already live (over 128 GiB of entries).
    pub(crate) fn insert(&mut self, deadline: u64, value: T) -> TimerKey {
        let latest = self.elapsed.saturating_add(Self::MAX_DELAY);
        let deadline = deadline.clamp(self.elapsed, latest);
        let index = match u32::try_from(self.entries.vacant_key()) {
            Ok(index) if index != NIL => index,
            _ => panic!("timer wheel holds at most u32::MAX - 1 timers"),
        };
        let generation = self.next_generation;
        // Wraps from u32::MAX to 1: a stale key could only match again after 2^32 - 1 inserts
        // that also reuse its slot.
        self.next_generation = generation.checked_add(1).unwrap_or(NonZeroU32::MIN);
        self.entries.insert(Entry { deadline, value, prev: NIL, next: NIL, generation, level: LevelId::L0, slot: 0 });
        self.link(index);
        TimerKey { index, generation }
    }

    /// Cancels the timer `key` names and returns its value, in O(1).
    ///
    /// A stale key (its timer already fired or was cancelled, even if its slab slot now holds a
    /// newer timer) returns `None` and changes nothing.
    pub(crate) fn cancel(&mut self, key: TimerKey) -> Option<T> {
        self.entry(key)?;
        self.unlink(key.index);
        Some(self.entries.remove(key.index as usize).value)
    }

    /// The tick the timer `key` is armed for, or `None` for a stale key.
    ///
    /// This is the deadline given to [`insert`](Wheel::insert) after clamping: raised to the
    /// `elapsed` of that moment if it was in the past, lowered if it was beyond the range.
    pub(crate) fn deadline(&self, key: TimerKey) -> Option<u64> {
        self.entry(key).map(|entry| entry.deadline)
    }

    /// The value of the timer `key`, or `None` for a stale key.
    #[allow(dead_code)] // for the model test and the bench
    pub(crate) fn get(&self, key: TimerKey) -> Option<&T> {
        self.entry(key).map(|entry| &entry.value)
    }

    /// The earliest tick at which [`poll`](Wheel::poll) could have work, or `None` when empty.
    ///
    /// Found from the occupancy bitmaps without scanning entries. Exact when the earliest timer
    /// sits on level 0 (due within 64 ticks); otherwise the first tick of the earliest occupied
    /// coarser slot, a lower bound on every deadline in it. A caller that sleeps until this tick
    /// and polls never misses a timer; it may wake to find only a cascade to do, after which
    /// this answers with a later, finer tick. The result is never before
    /// [`elapsed`](Wheel::elapsed).
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        self.next_expiration().map(|expiration| expiration.start)
    }

    /// Advances time to `now` and pops one timer whose deadline is at or before it.
    ///
    /// Returns `None` when nothing more is due, and then [`elapsed`](Wheel::elapsed) is `now`.
    /// Call it until it returns `None`. Time never goes backwards: a `now` before `elapsed` is
    /// taken as `elapsed`. While timers are still due, `elapsed` stands at the tick of the one
    /// just popped, so a timer inserted between two polls with a deadline at or before `now`
    /// fires in the same drain.
    ///
    /// Timers come out in deadline order; timers that share a tick, in no particular order.
    /// Time jumps from occupied slot to occupied slot rather than tick by tick.
    pub(crate) fn poll(&mut self, now: u64) -> Option<(TimerKey, T)> {
        let now = now.max(self.elapsed);
        while let Some(Expiration { level, slot, start }) = self.next_expiration() {
            if start > now {
                break;
            }
            self.elapsed = start;
            if level == 0 {
                // A level-0 slot is a single tick, so every entry in it is due now.
                let index = self.levels[0].head[slot];
                self.unlink(index);
                let entry = self.entries.remove(index as usize);
                let key = TimerKey { index, generation: entry.generation };
                return Some((key, entry.value));
            }
            self.cascade(level, slot);
        }
        self.elapsed = now;
        None
    }

    /// The current tick: the latest `now` reached by [`poll`](Wheel::poll).
    #[allow(dead_code)] // for the model test and the bench
    pub(crate) fn elapsed(&self) -> u64 {
        self.elapsed
    }

    /// The number of armed timers.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no timer is armed.
    #[allow(dead_code)] // for the model test and the bench
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Drops every timer, keeping [`elapsed`](Wheel::elapsed) and the slab's capacity.
    ///
    /// Every key issued before becomes stale, even once new timers reuse the slots.
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.levels = [Level::EMPTY; LEVELS];
    }

    /// The live entry `key` names, if any.
    fn entry(&self, key: TimerKey) -> Option<&Entry<T>> {
        self.entries.get(key.index as usize).filter(|entry| entry.generation == key.generation)
    }

    /// Files entry `index` at the head of the slot its deadline maps to from `elapsed`.
    fn link(&mut self, index: u32) {
        let deadline = self.entries[index as usize].deadline;
        let level = level_for(self.elapsed, deadline);
        let slot = slot_for(deadline, level);
        let head = self.levels[level].head[slot];
        let entry = &mut self.entries[index as usize];
        entry.prev = NIL;
        entry.next = head;
        entry.level = LevelId::new(level);
        // Fits: slot < 64.
        entry.slot = slot as u8;
        if head != NIL {
            self.entries[head as usize].prev = index;
        }
        let level = &mut self.levels[level];
        level.head[slot] = index;
        level.occupied |= 1 << slot;
    }

    /// Takes entry `index` out of its slot's list, leaving it in the slab.
    fn unlink(&mut self, index: u32) {
        let entry = &self.entries[index as usize];
        let (prev, next) = (entry.prev, entry.next);
        let (level, slot) = (entry.level.index(), entry.slot as usize);
        if prev == NIL {
            let level = &mut self.levels[level];
            level.head[slot] = next;
            if next == NIL {
                level.occupied &= !(1 << slot);
            }
        } else {
            self.entries[prev as usize].next = next;
        }
        if next != NIL {
            self.entries[next as usize].prev = prev;
        }
    }

    /// Re-files every entry of a coarse slot now that `elapsed` has reached its start; each
    /// lands on a strictly finer level.
    fn cascade(&mut self, level: usize, slot: usize) {
        let mut index = std::mem::replace(&mut self.levels[level].head[slot], NIL);
        self.levels[level].occupied &= !(1 << slot);
        while index != NIL {
            let next = self.entries[index as usize].next;
            self.link(index);
            debug_assert!(self.entries[index as usize].level.index() < level);
            index = next;
        }
    }

    /// The earliest occupied slot, searching the finest non-empty level.
    ///
    /// The finest non-empty level always holds the earliest slot: a level-`n` entry shares every
    /// 6-bit group above `n` with `elapsed`, so it is due before the next slot of level `n + 1`
    /// begins, and occupied slots above level 0 always lie after the current one.
    fn next_expiration(&self) -> Option<Expiration> {
        let (level, occupied) = self
            .levels
            .iter()
            .enumerate()
            .find(|(_, level)| level.occupied != 0)
            .map(|(index, level)| (index, level.occupied))?;
        let shift = SLOT_BITS * level as u32;
        let slot_range = 1u64 << shift;
        let level_range = slot_range << SLOT_BITS;
        let current = ((self.elapsed >> shift) as usize) & (SLOTS - 1);
        // Level 0 may hold entries for the current tick; coarser levels never hold entries in
        // their current slot except, at the top, ones a full revolution ahead. So above level 0
        // the search begins one past the current slot.
        let first = if level == 0 { current } else { (current + 1) % SLOTS };
        let distance = occupied.rotate_right(first as u32).trailing_zeros() as usize;
        let slot = (first + distance) % SLOTS;
        // Cannot overflow: this is at most the last tick of the aligned block holding elapsed.
        let mut start = (self.elapsed & !(level_range - 1)) + slot as u64 * slot_range;
        let wrapped = if level == 0 { slot < current } else { slot <= current };
        if wrapped {
            debug_assert_eq!(level, LEVELS - 1, "only the top level wraps");
            // Saturating for robustness only: the true start is at most an entry's deadline.
            start = start.saturating_add(level_range);
        }
        Some(Expiration { level, slot, start })
    }
}

impl<T> Default for Wheel<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> fmt::Debug for Wheel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let occupied = self.levels.map(|level| level.occupied);
        f.debug_struct("Wheel")
            .field("elapsed", &self.elapsed)
            .field("len", &self.len())
            .field("next_deadline", &self.next_deadline())
            .field("occupied", &format_args!("{occupied:#x?}"))
            .finish()
    }
}

/// The level for a deadline: the highest 6-bit group in which it differs from `elapsed`,
/// capped at the top level (deadlines that differ above bit 36 wrap around the top level).
fn level_for(elapsed: u64, deadline: u64) -> usize {
    // OR-ing in the low group makes a zero difference (deadline == elapsed) land on level 0.
    let differing = (elapsed ^ deadline) | (SLOTS as u64 - 1);
    let highest_bit = 63 - differing.leading_zeros();
    ((highest_bit / SLOT_BITS) as usize).min(LEVELS - 1)
}

/// The slot a deadline occupies on `level`.
fn slot_for(deadline: u64, level: usize) -> usize {
    ((deadline >> (SLOT_BITS * level as u32)) as usize) & (SLOTS - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timer_a_day_away_fires_on_time() {
        const DAY: u64 = 24 * 60 * 60 * 1000; // in 1 ms ticks
        let mut wheel = Wheel::new();
        wheel.insert(DAY, "daily");
        wheel.insert(5, "soon");
        assert_eq!(wheel.poll(DAY - 1).map(|(_, v)| v), Some("soon"));
        assert_eq!(wheel.poll(DAY - 1), None);
        assert_eq!(wheel.poll(DAY).map(|(_, v)| v), Some("daily"));
    }

    /// Polls until nothing is due, returning the values in the order they came out.
    fn drain(wheel: &mut Wheel<u64>, now: u64) -> Vec<u64> {
        let mut fired = Vec::new();
        while let Some((_, value)) = wheel.poll(now) {
            fired.push(value);
        }
        fired
    }

    #[test]
    fn entry_stays_small() {
        assert!(std::mem::size_of::<Entry<u64>>() <= 32);
        // What the slab stores per slot: a mirror of its private vacant/occupied enum.
        #[allow(dead_code)]
        enum SlabSlot<T> {
            Vacant(usize),
            Occupied(T),
        }
        // 32 with current rustc (tag in the LevelId niche), 40 without the niche.
        assert!(std::mem::size_of::<SlabSlot<Entry<u64>>>() <= 40);
        for level in 0..LEVELS {
            assert_eq!(LevelId::new(level).index(), level);
        }
    }

    #[test]
    fn fires_at_deadline_not_before() {
        for deadline in [1, 5, 63, 64, 65, 100, 4_095, 4_096, 4_097, 300_000] {
            let mut wheel = Wheel::new();
            let key = wheel.insert(deadline, deadline);
            assert_eq!(wheel.poll(deadline - 1), None, "deadline {deadline}");
            assert_eq!(wheel.elapsed(), deadline - 1);
            assert_eq!(wheel.poll(deadline), Some((key, deadline)));
            assert_eq!(wheel.poll(deadline), None);
            assert!(wheel.is_empty());
        }
    }

    #[test]
    fn fires_when_stepping_one_tick_at_a_time() {
        let mut wheel = Wheel::new();
        let deadlines = [0, 1, 2, 63, 64, 127, 128, 4_095, 4_096, 4_160, 10_000];
        for &deadline in &deadlines {
            wheel.insert(deadline, deadline);
        }
        let mut fired = Vec::new();
        for now in 0..=10_000 {
            for value in drain(&mut wheel, now) {
                assert_eq!(value, now, "fired at the wrong tick");
                fired.push(value);
            }
        }
        assert_eq!(fired, deadlines);
    }

    #[test]
    fn past_deadline_fires_at_next_poll() {
        let mut wheel = Wheel::new();
        assert_eq!(wheel.poll(1_000), None);
        assert_eq!(wheel.elapsed(), 1_000);
        let past = wheel.insert(10, 10);
        let now = wheel.insert(1_000, 1_000);
        assert_eq!(wheel.deadline(past), Some(1_000));
        assert_eq!(wheel.next_deadline(), Some(1_000));
        // Even a poll for an earlier time (taken as elapsed) fires them.
        let mut fired = drain(&mut wheel, 3);
        fired.sort_unstable();
        assert_eq!(fired, [10, 1_000]);
        assert_eq!(wheel.get(now), None);
        assert_eq!(wheel.elapsed(), 1_000);
    }

    #[test]
    fn cascades_from_every_level() {
        let around = [64, 4_096, 262_144, 16_777_216, 1 << 30, (1 << 36) - 1, Wheel::<u64>::MAX_DELAY];
        for &base in &around {
            for deadline in [base - 1, base, base + 1] {
                if deadline > Wheel::<u64>::MAX_DELAY {
                    continue;
                }
                for start in [0, 1, 63, 12_345] {
                    let mut wheel = Wheel::new();
                    assert_eq!(wheel.poll(start), None);
                    let deadline = start + deadline;
                    let key = wheel.insert(deadline, deadline);
                    assert_eq!(wheel.deadline(key), Some(deadline));
                    // Jump to just before, then step to the deadline.
                    assert_eq!(wheel.poll(deadline - 1), None, "deadline {deadline}");
                    assert_eq!(wheel.next_deadline(), Some(deadline));
                    assert_eq!(wheel.poll(deadline), Some((key, deadline)));
                    assert!(wheel.is_empty());
                }
            }
        }
    }

    #[test]
    fn many_levels_fire_in_order() {
        let mut wheel = Wheel::new();
        let mut deadlines: Vec<u64> = (0..36).map(|bit| 1u64 << bit).collect();
        deadlines.extend((1..36).map(|bit| (1u64 << bit) - 1));
        deadlines.extend((0..36).map(|bit| (1u64 << bit) + 7));
        for &deadline in &deadlines {
            wheel.insert(deadline, deadline);
        }
        deadlines.sort_unstable();
        let mut fired = Vec::new();
        // Poll at each deadline and just before it.
        for &deadline in &deadlines {
            assert!(drain(&mut wheel, deadline - 1).iter().all(|&d| d < deadline));
            fired.extend(drain(&mut wheel, deadline));
        }
        assert_eq!(fired, deadlines);
    }

    #[test]
    fn top_level_wraps_around() {
        // Elapsed inside a top-level slot; a deadline a full range ahead lands in the same slot
        // one revolution later, and a nearer one in the next slot must still come first.
        let mut wheel = Wheel::new();
        let start = (5 << 30) + 123;
        assert_eq!(wheel.poll(start), None);
        let far = wheel.insert(start + Wheel::<u64>::MAX_DELAY, 1);
        let near = wheel.insert(6 << 30, 2);
        assert!(wheel.next_deadline().unwrap() <= 6 << 30);
        assert_eq!(wheel.poll((6 << 30) - 1), None);
        assert_eq!(wheel.poll(6 << 30), Some((near, 2)));
        let far_deadline = start + Wheel::<u64>::MAX_DELAY;
        assert_eq!(wheel.poll(far_deadline - 1), None);
        assert_eq!(wheel.poll(far_deadline), Some((far, 1)));
    }

    #[test]
    fn cancel_before_fire() {
        let mut wheel = Wheel::new();
        let a = wheel.insert(10, 1);
        let b = wheel.insert(10, 2);
        let c = wheel.insert(10_000, 3);
        assert_eq!(wheel.len(), 3);
        assert_eq!(wheel.get(b), Some(&2));
        assert_eq!(wheel.cancel(b), Some(2));
        assert_eq!(wheel.cancel(c), Some(3));
        assert_eq!(wheel.len(), 1);
        assert_eq!(wheel.poll(1_000_000), Some((a, 1)));
        assert_eq!(wheel.poll(1_000_000), None);
        assert!(wheel.is_empty());
        assert_eq!(wheel.next_deadline(), None);
    }

    #[test]
    fn cancel_from_middle_head_and_tail_of_a_slot() {
        let mut wheel = Wheel::new();
        let keys: Vec<TimerKey> = (0..5).map(|value| wheel.insert(7, value)).collect();
        for &i in &[2, 0, 4] {
            assert_eq!(wheel.cancel(keys[i]), Some(i as u64));
        }
        let mut fired = drain(&mut wheel, 7);
        fired.sort_unstable();
        assert_eq!(fired, [1, 3]);
    }

    #[test]
    fn stale_cancel_misses_reused_slot() {
        let mut wheel = Wheel::new();
        let fired = wheel.insert(5, 1);
        assert_eq!(wheel.poll(5), Some((fired, 1)));
        let cancelled = wheel.insert(9, 2);
        assert_eq!(wheel.cancel(cancelled), Some(2));
        // The slab hands the freed index to the next timer.
        let reused = wheel.insert(20, 3);
        assert_eq!(reused.index, fired.index);
        assert_eq!(reused.index, cancelled.index);
        for stale in [fired, cancelled] {
            assert_eq!(wheel.cancel(stale), None);
            assert_eq!(wheel.get(stale), None);
            assert_eq!(wheel.deadline(stale), None);
        }
        assert_eq!(wheel.len(), 1);
        assert_eq!(wheel.deadline(reused), Some(20));
        assert_eq!(wheel.poll(20), Some((reused, 3)));
    }

    #[test]
    fn next_deadline_exact_on_level_zero_lower_bound_above() {
        let mut wheel: Wheel<u64> = Wheel::new();
        assert_eq!(wheel.next_deadline(), None);
        let far = wheel.insert(5_000, 0);
        // Level 1 or above: the start of its slot, never after the deadline.
        let bound = wheel.next_deadline().unwrap();
        assert!(bound <= 5_000);
        assert!(bound > 0);
        wheel.insert(40, 1);
        assert_eq!(wheel.next_deadline(), Some(40));
        assert_eq!(wheel.poll(40).map(|(_, v)| v), Some(1));
        // Sleeping until the bound and polling may only cascade; the bound then tightens
        // until it is exact.
        let mut now = 40;
        while let Some(next) = wheel.next_deadline() {
            assert!(next >= now && next <= 5_000);
            now = next;
            if let Some((key, _)) = wheel.poll(now) {
                assert_eq!(key, far);
                assert_eq!(now, 5_000);
            }
        }
        assert_eq!(now, 5_000);
    }

    #[test]
    fn one_poll_jumps_a_trillion_ticks() {
        // Inserted from tick 0, 10^12 - 5 is past the range and clamps to MAX_DELAY.
        let mut wheel = Wheel::new();
        let clamped = wheel.insert(1_000_000_000_000 - 5, 1);
        assert_eq!(wheel.deadline(clamped), Some(Wheel::<u64>::MAX_DELAY));
        assert_eq!(wheel.poll(1_000_000_000_000), Some((clamped, 1)));
        assert_eq!(wheel.poll(1_000_000_000_000), None);
        assert_eq!(wheel.elapsed(), 1_000_000_000_000);

        // Within range of elapsed, the same jump is exact.
        let mut wheel = Wheel::new();
        assert_eq!(wheel.poll(1_000_000_000_000 - 60_000_000_000), None);
        let exact = wheel.insert(1_000_000_000_000 - 5, 2);
        assert_eq!(wheel.poll(1_000_000_000_000 - 6), None);
        assert_eq!(wheel.poll(1_000_000_000_000), Some((exact, 2)));
        assert_eq!(wheel.poll(1_000_000_000_000), None);
        assert_eq!(wheel.elapsed(), 1_000_000_000_000);
    }

    #[test]
    fn huge_deadline_clamps() {
        let mut wheel = Wheel::new();
        let key = wheel.insert(u64::MAX, 1);
        assert_eq!(wheel.deadline(key), Some(Wheel::<u64>::MAX_DELAY));
        assert_eq!(wheel.poll(Wheel::<u64>::MAX_DELAY - 1), None);
        assert_eq!(wheel.poll(Wheel::<u64>::MAX_DELAY), Some((key, 1)));

        // Near the end of time the clamp saturates instead of overflowing.
        assert_eq!(wheel.poll(u64::MAX - 100), None);
        let late = wheel.insert(u64::MAX, 2);
        let past = wheel.insert(0, 3);
        assert_eq!(wheel.deadline(late), Some(u64::MAX));
        assert_eq!(wheel.deadline(past), Some(u64::MAX - 100));
        assert_eq!(wheel.poll(u64::MAX - 1).map(|(_, v)| v), Some(3));
        assert_eq!(wheel.poll(u64::MAX - 1), None);
        assert_eq!(wheel.poll(u64::MAX), Some((late, 2)));
        assert_eq!(wheel.poll(u64::MAX), None);
        assert_eq!(wheel.elapsed(), u64::MAX);
        let at_end = wheel.insert(5, 4);
        assert_eq!(wheel.poll(0), Some((at_end, 4)));
    }

    #[test]
    fn poll_at_u64_max_from_zero() {
        let mut wheel = Wheel::new();
        for deadline in [0, 1, 1 << 20, 1 << 35, u64::MAX] {
            wheel.insert(deadline, deadline);
        }
        assert_eq!(drain(&mut wheel, u64::MAX).len(), 5);
        assert_eq!(wheel.elapsed(), u64::MAX);
    }

    #[test]
    fn time_never_goes_backwards() {
        let mut wheel = Wheel::new();
        assert_eq!(wheel.poll(500), None);
        assert_eq!(wheel.poll(100), None);
        assert_eq!(wheel.elapsed(), 500);
        let key = wheel.insert(501, 1);
        assert_eq!(wheel.poll(0), None);
        assert_eq!(wheel.poll(501), Some((key, 1)));
    }

    #[test]
    fn clear_drops_everything_and_stales_keys() {
        let mut wheel = Wheel::with_capacity(8);
        let old: Vec<TimerKey> = (0..4).map(|i| wheel.insert(i * 1_000, i)).collect();
        assert_eq!(wheel.poll(10), Some((old[0], 0)));
        assert_eq!(wheel.poll(10), None);
        wheel.clear();
        assert!(wheel.is_empty());
        assert_eq!(wheel.next_deadline(), None);
        assert_eq!(wheel.elapsed(), 10);
        let new = wheel.insert(20, 9);
        for key in old {
            assert_eq!(wheel.cancel(key), None);
        }
        assert_eq!(wheel.poll(u64::MAX), Some((new, 9)));
        assert_eq!(wheel.poll(u64::MAX), None);
    }

    #[test]
    fn debug_does_not_need_debug_values() {
        struct Opaque;
        let mut wheel = Wheel::new();
        wheel.insert(3, Opaque);
        let text = format!("{wheel:?}");
        assert!(text.contains("len: 1"), "{text}");
    }
}
