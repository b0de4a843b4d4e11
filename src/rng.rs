//! Randomness as an input: a small deterministic generator (SplitMix64), the crate's only one.
//! Seeded from the simulator's seed in tests, from the OS where unpredictability matters, and
//! from the clock where it only has to spread values (seeded addresses' ages).

/// SplitMix64: one `u64` of state, fast, statistically fine for choices, jitter and latencies.
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    /// SplitMix64's increment, the golden ratio in 64 bits.
    const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// Seeded from the clock, with `salt` so threads started in the same nanosecond differ:
    /// enough to spread timestamps (btcd uses `math/rand` seeded with the clock for the same job).
    #[cfg(feature = "blocking")]
    pub(crate) fn from_clock(salt: u64) -> Self {
        use std::time::{SystemTime, UNIX_EPOCH};
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        Rng(nanos ^ salt.wrapping_mul(Self::GAMMA))
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(Self::GAMMA);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `lo..=hi` (slightly biased for huge ranges; fine for simulation).
    #[cfg(any(test, feature = "sim"))]
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        debug_assert!(lo <= hi, "empty range {lo}..={hi}");
        match (hi - lo).checked_add(1) {
            Some(span) => lo + self.next_u64() % span,
            None => self.next_u64(),
        }
    }

    /// True with probability `permille / 1000`.
    #[cfg(any(test, feature = "sim"))]
    pub(crate) fn chance(&mut self, permille: u32) -> bool {
        self.next_u64() % 1000 < u64::from(permille)
    }
}

impl Rng {
    /// A generator seeded from the operating system's randomness (through std's `RandomState`,
    /// whose keys come from the OS), for values an observer must not predict, such as Tor
    /// isolation credentials.
    pub(crate) fn from_os() -> Self {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(0x636f_6e6e_6d67_7200);
        Rng(hasher.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn splitmix_is_deterministic_per_seed() {
        let mut a = Rng::new(1);
        let mut b = Rng::new(1);
        let xs: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..4).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs[0], xs[1]);
    }
}
