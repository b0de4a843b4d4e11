//! Automatic connections per netgroup, for outbound diversity: a fixed hash table of
//! `(tag, count)` entries, where a tag is a keyed 32-bit hash of a netgroup.
//!
//! The core consults it on every automatic dial and gives a place back on every automatic
//! close, so both are as cheap as a table allows. Entries never move: a place is an entry's
//! index, kept by the request that holds it, so giving it back is a decrement (and, for the
//! netgroup's last place, unlinking a chain that is almost always one entry long). Chained
//! rather than open addressing for that reason: one entry per place at most, four heads per
//! place so that chains stay short, everything sized at creation and nothing allocated after.

/// No entry: the end of a chain or of the free list.
const NONE: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
struct Entry {
    tag: u32,
    count: u32,
    /// The next entry in its chain, or in the free list.
    next: u32,
}

#[derive(Debug)]
pub(crate) struct GroupCounts {
    /// Per home (a tag's top bits; a tag is a keyed hash already): its chain's first entry.
    heads: Box<[u32]>,
    entries: Box<[Entry]>,
    /// The first unused entry.
    free: u32,
    /// `32 - log2(heads)`.
    shift: u32,
}

impl GroupCounts {
    /// Room for `places` places at once, in as many netgroups.
    pub(crate) fn new(places: usize) -> Self {
        let places = places.min(NONE as usize - 1);
        let homes = places.saturating_mul(4).max(8).next_power_of_two().min(1 << 31);
        let entries = (0..places).map(|i| Entry { tag: 0, count: 0, next: i as u32 + 1 });
        let mut entries: Box<[Entry]> = entries.collect();
        if let Some(last) = entries.last_mut() {
            last.next = NONE;
        }
        GroupCounts {
            heads: vec![NONE; homes].into_boxed_slice(),
            free: if places == 0 { NONE } else { 0 },
            entries,
            shift: 32 - homes.trailing_zeros(),
        }
    }

    fn home(&self, tag: u32) -> usize {
        (tag >> self.shift) as usize
    }

    /// Takes a place in `tag`'s netgroup unless it has `max` already: the place (an entry's
    /// index), or the count the netgroup has.
    #[inline(always)]
    pub(crate) fn take(&mut self, tag: u32, max: u32) -> Result<u32, u32> {
        let home = self.home(tag);
        let mut i = self.heads[home];
        while let Some(e) = self.entries.get_mut(i as usize) {
            if e.tag == tag {
                if e.count >= max {
                    return Err(e.count);
                }
                e.count += 1;
                return Ok(i);
            }
            i = e.next;
        }
        let i = self.free;
        // No entry left: cannot happen while there is one per place; refuse rather than
        // overflow.
        let Some(e) = self.entries.get_mut(i as usize) else { return Err(max) };
        self.free = e.next;
        *e = Entry { tag, count: 1, next: self.heads[home] };
        self.heads[home] = i;
        Ok(i)
    }

    /// Gives back the place `slot` (from [`take`](Self::take)); returns its netgroup's tag.
    #[inline(always)]
    pub(crate) fn give_back(&mut self, slot: u32) -> u32 {
        let Some(e) = self.entries.get_mut(slot as usize) else { return 0 };
        let (tag, next) = (e.tag, e.next);
        if e.count == 0 {
            // Given back twice: the entry may be another netgroup's by now, or free; leave it.
            debug_assert!(false, "a netgroup place was given back twice");
            return tag;
        }
        e.count -= 1;
        if e.count == 0 {
            // Unlink it: usually the chain's first entry.
            let home = self.home(tag);
            let mut link = self.heads[home];
            if link == slot {
                self.heads[home] = next;
            } else {
                while let Some(prev) = self.entries.get_mut(link as usize) {
                    if prev.next == slot {
                        prev.next = next;
                        break;
                    }
                    link = prev.next;
                }
            }
            self.entries[slot as usize].next = self.free;
            self.free = slot;
        }
        tag
    }

    /// The tag of the netgroup at `slot`.
    #[cfg(test)]
    pub(crate) fn tag_at(&self, slot: u32) -> u32 {
        self.entries[slot as usize].tag
    }

    /// Places taken at `slot`.
    #[cfg(test)]
    pub(crate) fn count_at(&self, slot: u32) -> u32 {
        self.entries[slot as usize].count
    }

    /// Places taken in all.
    #[cfg(test)]
    pub(crate) fn live(&self) -> u32 {
        self.entries.iter().map(|e| e.count).sum()
    }

    #[cfg(test)]
    fn count(&self, tag: u32) -> u32 {
        let mut i = self.heads[self.home(tag)];
        while let Some(e) = self.entries.get(i as usize) {
            if e.tag == tag {
                return e.count;
            }
            i = e.next;
        }
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[test]
    fn counts_up_to_the_cap_and_back() {
        let mut g = GroupCounts::new(4);
        let slot = g.take(7, 2).unwrap();
        assert_eq!(g.take(7, 2), Ok(slot), "one netgroup, one entry");
        assert_eq!(g.take(7, 2), Err(2));
        assert_eq!(g.give_back(slot), 7);
        assert_eq!(g.take(7, 2), Ok(slot));
        assert_eq!(g.count(7), 2);
    }

    #[test]
    fn a_netgroup_with_no_place_left_frees_its_entry_for_another() {
        let mut g = GroupCounts::new(2);
        let (a, b) = (g.take(1, 1).unwrap(), g.take(2, 1).unwrap());
        assert_eq!(g.take(3, 1), Err(1), "two entries for two places, no more");
        g.give_back(a);
        assert_eq!(g.take(3, 1), Ok(a), "the entry is free again");
        assert_eq!((g.count(1), g.count(2), g.count(3)), (0, 1, 1));
        assert_eq!(g.give_back(b), 2);
        assert!(GroupCounts::new(0).take(1, 1).is_err(), "no places, no entries");
    }

    proptest! {
        /// Against a `HashMap` model, with tags crowded into few homes so that long chains and
        /// unlinking from their middle are exercised.
        #[test]
        fn matches_a_model(ops in prop::collection::vec((0u32..24, any::<bool>()), 1..600), spread in 0u32..3) {
            const PLACES: usize = 16; // 64 homes: a home is the top 6 bits
            let mut g = GroupCounts::new(PLACES);
            let mut model: HashMap<u32, u32> = HashMap::new();
            // The places held, as the core's requests hold them: by entry alone.
            let mut held: Vec<u32> = Vec::new();
            for (t, take) in ops {
                // Distinct tags sharing 6, 3 or 2 homes.
                let tag = ((t >> (spread + 2)) << 26) | (t << 1) | 1;
                if take {
                    if held.len() >= PLACES {
                        continue; // the core never holds more places than it was sized for
                    }
                    let n = model.entry(tag).or_insert(0);
                    let taken = g.take(tag, 3);
                    prop_assert_eq!(taken.is_ok(), *n < 3);
                    if let Ok(slot) = taken {
                        *n += 1;
                        held.push(slot);
                    }
                } else if let Some(i) = held.iter().position(|&slot| g.tag_at(slot) == tag) {
                    let slot = held.swap_remove(i);
                    prop_assert_eq!(g.give_back(slot), tag);
                    *model.get_mut(&tag).unwrap() -= 1;
                }
                for (&t, &n) in &model {
                    prop_assert_eq!(g.count(t), n, "tag {}", t);
                }
                prop_assert_eq!(g.live() as usize, held.len());
                // Every entry is in exactly one place: a chain (holding a place) or the free list.
                let mut free = 0;
                let mut i = g.free;
                while i != NONE {
                    prop_assert_eq!(g.entries[i as usize].count, 0);
                    free += 1;
                    i = g.entries[i as usize].next;
                }
                prop_assert_eq!(free + model.values().filter(|&&n| n > 0).count(), PLACES);
            }
        }
    }
}
