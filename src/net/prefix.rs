//! A map from subnets to values that finds the subnets holding an address in one hash lookup
//! per prefix length in use, not one comparison per entry: per family, a bitmap of the prefix
//! lengths present (with a count per length, so the bit clears when the last one goes) and a
//! hash map keyed by the canonical subnet. An address is masked to each length in the bitmap
//! and looked up; with bans of a handful of lengths (/32, /24, /16, /64, /48...) that is a
//! handful of lookups however many bans there are.
//!
//! The hash map uses std's keyed SipHash, so an attacker who picks which addresses get banned
//! still cannot make the lookups collide.

use std::collections::HashMap;
use std::net::IpAddr;

use super::{canonical, Subnet};

/// Prefix lengths in use for one family: bit `l` of `bits` is set while `counts[l] > 0`.
#[derive(Clone, Debug)]
struct Lens {
    bits: [u64; 3],
    counts: [u32; 129],
}

impl Lens {
    const EMPTY: Lens = Lens { bits: [0; 3], counts: [0; 129] };

    fn add(&mut self, len: u8) {
        let l = usize::from(len);
        self.counts[l] += 1;
        self.bits[l / 64] |= 1 << (l % 64);
    }

    fn sub(&mut self, len: u8) {
        let l = usize::from(len);
        self.counts[l] = self.counts[l].saturating_sub(1);
        if self.counts[l] == 0 {
            self.bits[l / 64] &= !(1 << (l % 64));
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct PrefixMap<V> {
    map: HashMap<Subnet, V>,
    v4: Lens,
    v6: Lens,
}

impl<V> PrefixMap<V> {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        PrefixMap { map: HashMap::with_capacity(capacity), v4: Lens::EMPTY, v6: Lens::EMPTY }
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn get(&self, subnet: &Subnet) -> Option<&V> {
        self.map.get(subnet)
    }

    pub(crate) fn get_mut(&mut self, subnet: &Subnet) -> Option<&mut V> {
        self.map.get_mut(subnet)
    }

    pub(crate) fn insert(&mut self, subnet: Subnet, value: V) -> Option<V> {
        let old = self.map.insert(subnet, value);
        if old.is_none() {
            self.lens_mut(&subnet).add(subnet.prefix_len());
        }
        old
    }

    pub(crate) fn remove(&mut self, subnet: &Subnet) -> Option<V> {
        let old = self.map.remove(subnet);
        if old.is_some() {
            self.lens_mut(subnet).sub(subnet.prefix_len());
        }
        old
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&Subnet, &V)> {
        self.map.iter()
    }

    /// The subnets that could hold `ip` (one per prefix length in use, longest first), present
    /// or not; the iterator does not borrow the map, so the caller may remove as it goes.
    pub(crate) fn candidates(&self, ip: IpAddr) -> Candidates {
        let ip = canonical(ip);
        let bits = if ip.is_ipv4() { self.v4.bits } else { self.v6.bits };
        Candidates { ip, bits }
    }

    /// Whether some subnet holding `ip` is present.
    pub(crate) fn contains_ip(&self, ip: IpAddr) -> bool {
        self.candidates(ip).any(|s| self.map.contains_key(&s))
    }

    fn lens_mut(&mut self, subnet: &Subnet) -> &mut Lens {
        if subnet.network().is_ipv4() {
            &mut self.v4
        } else {
            &mut self.v6
        }
    }
}

pub(crate) struct Candidates {
    ip: IpAddr,
    bits: [u64; 3],
}

impl Iterator for Candidates {
    type Item = Subnet;

    fn next(&mut self) -> Option<Subnet> {
        let word = self.bits.iter().rposition(|&w| w != 0)?;
        let bit = 63 - self.bits[word].leading_zeros();
        self.bits[word] &= !(1 << bit);
        Some(Subnet::masked(self.ip, (word * 64) as u8 + bit as u8))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Subnet {
        s.parse().unwrap()
    }

    #[test]
    fn candidates_are_one_per_length_in_use_longest_first() {
        let mut m = PrefixMap::with_capacity(4);
        m.insert(net("10.0.0.0/8"), ());
        m.insert(net("11.0.0.0/8"), ());
        m.insert(net("192.0.2.0/24"), ());
        m.insert(net("2001:db8::/32"), ());
        m.insert(net("::/0"), ());
        m.insert(net("::1/128"), ());
        let ip = "10.1.2.3".parse().unwrap();
        assert_eq!(m.candidates(ip).collect::<Vec<_>>(), [net("10.1.2.0/24"), net("10.0.0.0/8")]);
        let v6 = "2001:db8::7".parse().unwrap();
        let lens: Vec<u8> = m.candidates(v6).map(|s| s.prefix_len()).collect();
        assert_eq!(lens, [128, 32, 0]);
        assert!(m.contains_ip(ip));
        assert!(!m.contains_ip("12.0.0.1".parse().unwrap()));
    }

    #[test]
    fn a_length_leaves_the_index_with_its_last_subnet() {
        let mut m = PrefixMap::with_capacity(2);
        m.insert(net("10.0.0.0/8"), 1);
        m.insert(net("11.0.0.0/8"), 2);
        assert_eq!(m.insert(net("11.0.0.0/8"), 3), Some(2), "a replacement adds no length");
        let ip = "12.0.0.1".parse().unwrap();
        assert_eq!(m.candidates(ip).count(), 1);
        m.remove(&net("10.0.0.0/8"));
        assert_eq!(m.candidates(ip).count(), 1, "11/8 still uses /8");
        assert_eq!(m.remove(&net("10.0.0.0/8")), None);
        m.remove(&net("11.0.0.0/8"));
        assert_eq!(m.candidates(ip).count(), 0);
        assert_eq!(m.len(), 0);
    }
}
