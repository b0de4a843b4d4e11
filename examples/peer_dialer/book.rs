//! The address book behind the dialer's address source: seeds plus everything learned from
//! `addr` / `addrv2`, deduplicated and bounded, handing out each address to at most one live
//! request at a time and resting addresses that just failed.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;

use connmgr::Target;
use std::time::{Duration, Instant};

/// How long an address that failed its handshake (or that connmgr remembers as failed) is not
/// offered again. Dial failures themselves are remembered by connmgr's failure memory.
pub const COOLDOWN: Duration = Duration::from_secs(10 * 60);

/// How long an address skipped for netgroup diversity waits, so that others are offered first.
pub const DIVERSITY_REST: Duration = Duration::from_secs(30);

/// Known addresses, in the order learned.
#[derive(Debug)]
pub struct AddrBook {
    order: Vec<Target>,
    known: HashSet<Target>,
    in_use: HashMap<Target, u32>,
    resting: HashMap<Target, Instant>,
    excluded: HashSet<Target>,
    /// Addresses that completed a handshake at least once (Bitcoin Core's "tried" table).
    tried: HashSet<Target>,
    /// Addresses skipped for netgroup diversity, not offered to automatic requests until then
    /// (a feeler may still test them).
    deferred: HashMap<Target, Instant>,
    capacity: usize,
}

impl AddrBook {
    /// A book of at most `capacity` addresses (a peer can send many `addr` messages).
    pub fn new(capacity: usize) -> Self {
        AddrBook {
            order: Vec::new(),
            known: HashSet::new(),
            in_use: HashMap::new(),
            resting: HashMap::new(),
            excluded: HashSet::new(),
            tried: HashSet::new(),
            deferred: HashMap::new(),
            capacity,
        }
    }

    /// Adds an address; returns whether it is new and usable.
    pub fn add(&mut self, addr: Target) -> bool {
        let unusable_ip = addr.ip().is_some_and(|a| a.ip().is_unspecified() || a.ip().is_multicast());
        if addr.port() == 0 || unusable_ip || self.excluded.contains(&addr) {
            return false;
        }
        if self.order.len() >= self.capacity || self.known.contains(&addr) {
            return false;
        }
        self.known.insert(addr.clone());
        self.order.push(addr);
        true
    }

    /// Never offers `addr` (our own listening address).
    pub fn exclude(&mut self, addr: SocketAddr) {
        self.excluded.insert(Target::Ip(addr));
    }

    /// Addresses known.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether [`take`](Self::take) would find an address now.
    pub fn has_available(&self, now: Instant) -> bool {
        self.order.iter().any(|a| self.available(a, now) && !self.is_deferred(a, now))
    }

    /// The first address neither in use, resting nor deferred, now marked in use.
    pub fn take(&mut self, now: Instant) -> Option<Target> {
        let addr = self.order.iter().find(|a| self.available(a, now) && !self.is_deferred(a, now))?.clone();
        self.claim(&addr);
        Some(addr)
    }

    /// Marks an address in use (a manual request's).
    pub fn claim(&mut self, addr: &Target) {
        *self.in_use.entry(addr.clone()).or_insert(0) += 1;
    }

    /// A request for `addr` ended.
    pub fn release(&mut self, addr: &Target) {
        if let Some(n) = self.in_use.get_mut(addr) {
            *n -= 1;
            if *n == 0 {
                self.in_use.remove(addr);
            }
        }
    }

    /// `addr` failed: do not offer it again for [`COOLDOWN`].
    pub fn rest(&mut self, addr: &Target, now: Instant) {
        self.resting.insert(addr.clone(), now + COOLDOWN);
    }

    /// `addr` was skipped for netgroup diversity: offer it to automatic requests again only
    /// after [`DIVERSITY_REST`].
    pub fn defer(&mut self, addr: &Target, now: Instant) {
        self.deferred.insert(addr.clone(), now + DIVERSITY_REST);
    }

    fn is_deferred(&self, addr: &Target, now: Instant) -> bool {
        self.deferred.get(addr).is_some_and(|&until| now < until)
    }

    /// `addr` completed a handshake.
    pub fn mark_tried(&mut self, addr: &Target) {
        self.tried.insert(addr.clone());
    }

    /// An available address that never completed a handshake, now marked in use: what a
    /// feeler tests.
    pub fn take_untried(&mut self, now: Instant) -> Option<Target> {
        let addr = self.order.iter().find(|a| !self.tried.contains(*a) && self.available(a, now))?.clone();
        self.claim(&addr);
        Some(addr)
    }

    fn available(&self, addr: &Target, now: Instant) -> bool {
        !self.in_use.contains_key(addr)
            && !self.excluded.contains(addr)
            && self.resting.get(addr).map_or(true, |&until| now >= until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_offered_once_and_rest_after_failing() {
        let now = Instant::now();
        let (a, b): (Target, Target) = ("127.0.0.2:8333".parse().unwrap(), "seed.example.org:8333".parse().unwrap());
        let mut book = AddrBook::new(10);
        assert!(book.add(a.clone()) && book.add(b.clone()) && !book.add(a.clone()));
        assert!(!book.add("0.0.0.0:8333".parse().unwrap()) && !book.add("127.0.0.4:0".parse().unwrap()));
        assert_eq!(book.take(now), Some(a.clone()));
        assert_eq!(book.take(now), Some(b));
        assert_eq!(book.take(now), None);
        book.release(&a);
        book.rest(&a, now);
        assert_eq!(book.take(now), None);
        assert_eq!(book.take(now + COOLDOWN), Some(a));
    }

    #[test]
    fn feelers_test_untried_addresses() {
        let now = Instant::now();
        let (a, b): (Target, Target) = ("127.1.0.1:8333".parse().unwrap(), "127.2.0.1:8333".parse().unwrap());
        let mut book = AddrBook::new(10);
        book.add(a.clone());
        book.add(b.clone());
        book.mark_tried(&a);
        assert_eq!(book.take_untried(now), Some(b.clone()));
        assert_eq!(book.take_untried(now), None, "b is in use, a is tried");
        book.release(&b);
        book.defer(&b, now);
        assert_eq!(book.take(now), Some(a), "b is deferred for automatic requests...");
        assert_eq!(book.take_untried(now), Some(b.clone()), "...but a feeler may test it");
        book.release(&b);
        assert_eq!(book.take(now + DIVERSITY_REST), Some(b));
    }

    #[test]
    fn the_book_is_bounded_and_skips_excluded_addresses() {
        let mut book = AddrBook::new(2);
        book.exclude("127.0.0.1:1".parse().unwrap());
        assert!(!book.add("127.0.0.1:1".parse().unwrap()));
        assert!(book.add("127.0.0.1:2".parse().unwrap()));
        assert!(book.add("127.0.0.1:3".parse().unwrap()));
        assert!(!book.add("127.0.0.1:4".parse().unwrap()));
        assert_eq!(book.len(), 2);
    }
}
