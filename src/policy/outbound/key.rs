//! A fast keyed hash for the outbound tables (the netgroup counts and the failure memory),
//! which the core consults on every automatic dial: SipHash there cost more than the rest of a
//! connection's bookkeeping. A multiply-rotate fold with a secret per-node seed and a
//! SplitMix64 finish: not a cryptographic MAC, but nobody who lacks the seed can aim
//! collisions, and the tables it keys are small and bounded.

use std::hash::{BuildHasher, Hasher};

/// A secret seed; builds [`FastHasher`]s.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FastKey(pub(crate) u64);

impl BuildHasher for FastKey {
    type Hasher = FastHasher;

    fn build_hasher(&self) -> FastHasher {
        FastHasher(self.0)
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct FastHasher(u64);

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, v: u8) {
        self.write_u64(u64::from(v));
    }

    fn write_u16(&mut self, v: u16) {
        self.write_u64(u64::from(v));
    }

    fn write_u32(&mut self, v: u32) {
        self.write_u64(u64::from(v));
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0 ^ v).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(26);
    }

    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }

    fn finish(&self) -> u64 {
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::net::SocketAddr;

    #[test]
    fn distinct_addresses_get_distinct_keys_and_the_seed_changes_them() {
        let addrs: Vec<SocketAddr> =
            (0..20_000u32).map(|i| SocketAddr::from(((i << 8).to_be_bytes(), (i % 7) as u16 + 8333))).collect();
        let a: HashSet<u64> = addrs.iter().map(|x| FastKey(1).hash_one(x)).collect();
        assert_eq!(a.len(), addrs.len(), "no collision among 20,000 addresses");
        let b: HashSet<u64> = addrs.iter().map(|x| FastKey(2).hash_one(x)).collect();
        assert!(a.intersection(&b).count() < 5, "another seed, other keys");
        // Low bits spread (the failure memory picks its set with them).
        let buckets: HashSet<u64> = addrs.iter().map(|x| FastKey(1).hash_one(x) % 256).collect();
        assert_eq!(buckets.len(), 256);
    }
}
