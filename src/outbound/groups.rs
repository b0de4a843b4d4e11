//! Automatic connections per netgroup, for outbound diversity: a fixed open-addressing table
//! of `(tag, count)` pairs, where a tag is a keyed 32-bit hash of a netgroup.
//!
//! The core consults it on every automatic dial and gives a place back on every automatic
//! close, so it is the cheapest structure that does the job: sized once for twice the
//! automatic target (a live request holds at most one place, so it never fills), linear
//! probing, deletion by backward shift (no tombstones), nothing allocated after creation.

const EMPTY: u32 = 0;

#[derive(Debug)]
pub(crate) struct GroupCounts {
    slots: Box<[(u32, u32)]>,
    mask: usize,
    /// `32 - log2(slots)`: a tag's home is the top bits of its Fibonacci product.
    shift: u32,
}

impl GroupCounts {
    /// Room for `places` netgroups at once.
    pub(crate) fn new(places: usize) -> Self {
        let size = (places.saturating_mul(2)).max(8).next_power_of_two().min(1 << 31);
        let shift = 32 - size.trailing_zeros();
        GroupCounts { slots: vec![(EMPTY, 0); size].into_boxed_slice(), mask: size - 1, shift }
    }

    fn home(&self, tag: u32) -> usize {
        // Fibonacci hashing: the top bits of the product depend on every bit of the tag, so
        // tags that differ only in a few bits still land far apart.
        (tag.wrapping_mul(0x9E37_79B9) >> self.shift) as usize
    }

    /// Takes a place in `tag`'s netgroup unless it has `max` already; returns the count it had.
    pub(crate) fn take(&mut self, tag: u32, max: u32) -> Result<(), u32> {
        let tag = tag.max(1);
        let home = self.home(tag);
        let slots = &mut *self.slots;
        let mask = slots.len() - 1;
        for n in 0..slots.len() {
            let slot = &mut slots[home.wrapping_add(n) & mask];
            if slot.0 == tag {
                if slot.1 >= max {
                    return Err(slot.1);
                }
                slot.1 += 1;
                return Ok(());
            }
            if slot.0 == EMPTY {
                *slot = (tag, 1);
                return Ok(());
            }
        }
        // Full: cannot happen while the table is sized for every automatic request; refuse
        // rather than overflow.
        Err(max)
    }

    /// Gives a place in `tag`'s netgroup back.
    pub(crate) fn give_back(&mut self, tag: u32) {
        let tag = tag.max(1);
        let mask = self.slots.len() - 1;
        let mut i = self.home(tag);
        for _ in 0..self.slots.len() {
            let slot = &mut self.slots[i];
            if slot.0 == tag {
                if slot.1 > 1 {
                    slot.1 -= 1;
                } else {
                    self.remove_at(i);
                }
                return;
            }
            if slot.0 == EMPTY {
                break;
            }
            i = (i + 1) & mask;
        }
        debug_assert!(false, "a netgroup place was given back twice");
    }

    /// Empties slot `i`, shifting later entries of the same probe run back into the gap.
    fn remove_at(&mut self, mut gap: usize) {
        self.slots[gap] = (EMPTY, 0);
        let mut i = (gap + 1) & self.mask;
        while self.slots[i].0 != EMPTY {
            let home = self.home(self.slots[i].0);
            // Move the entry if its home is not in the cyclic range (gap, i].
            let in_range = if gap <= i { gap < home && home <= i } else { gap < home || home <= i };
            if !in_range {
                self.slots[gap] = self.slots[i];
                self.slots[i] = (EMPTY, 0);
                gap = i;
            }
            i = (i + 1) & self.mask;
        }
    }

    #[cfg(test)]
    fn count(&self, tag: u32) -> u32 {
        let tag = tag.max(1);
        let mut i = self.home(tag);
        for _ in 0..self.slots.len() {
            match self.slots[i] {
                (t, n) if t == tag => return n,
                (EMPTY, _) => return 0,
                _ => i = (i + 1) & self.mask,
            }
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
        assert_eq!(g.take(7, 2), Ok(()));
        assert_eq!(g.take(7, 2), Ok(()));
        assert_eq!(g.take(7, 2), Err(2));
        g.give_back(7);
        assert_eq!(g.take(7, 2), Ok(()));
        assert_eq!(g.count(7), 2);
    }

    proptest! {
        /// Against a `HashMap` model, with tags crowded into few home slots so that probe runs,
        /// wrap-around and backward shifts are all exercised.
        #[test]
        fn matches_a_model(ops in prop::collection::vec((0u32..24, any::<bool>()), 1..600), spread in 0u32..3) {
            let mut g = GroupCounts::new(16);
            let mut model: HashMap<u32, u32> = HashMap::new();
            for (tag, take) in ops {
                let tag = (tag << (spread * 5)) | 1; // same low bits when spread > 0
                if take {
                    if model.values().filter(|&&n| n > 0).count() >= 16 && !model.contains_key(&tag) {
                        continue; // the core never holds more groups than places
                    }
                    let n = model.entry(tag).or_insert(0);
                    prop_assert_eq!(g.take(tag, 3).is_ok(), *n < 3);
                    if *n < 3 { *n += 1; }
                } else if model.get(&tag).is_some_and(|&n| n > 0) {
                    g.give_back(tag);
                    *model.get_mut(&tag).unwrap() -= 1;
                }
                model.retain(|_, n| *n > 0);
                for (&t, &n) in &model {
                    prop_assert_eq!(g.count(t), n, "tag {}", t);
                }
                prop_assert_eq!(g.slots.iter().filter(|s| s.0 != EMPTY).count(), model.len());
            }
        }
    }
}
