//! Identifiers the manager hands out: [`ConnId`] for connection requests (btcd's `ConnReq` id)
//! and [`InboundId`] for accepted connections.
//!
//! Request ids follow btcd: they start at 1, are never reused, and exist the moment `connect`
//! returns, on any thread and before the manager starts. That is why the counter is an atomic
//! shared by the core and every front end: the id exists before the reactor has seen the
//! request. Inbound ids carry a 64-bit serial that is never reused either, so a stale id can
//! never name a later connection, however long the node runs.

use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The id of a connection request, as btcd's `ConnReq.ID()`: from 1, never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(u64);

impl ConnId {
    /// Wraps a raw id, for example one read back from a log.
    pub const fn new(raw: u64) -> Self {
        ConnId(raw)
    }

    /// The raw number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The id of an accepted inbound connection.
///
/// Its serial (shown as `in<serial>`) counts accepts from 1 and is never reused; the slot makes
/// the lookup O(1). Only the manager makes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InboundId {
    // The serial in two halves (high first, so the derived order is the serial's): 12 bytes
    // with 4-byte alignment, so an id fits beside a socket in the reactor's table entry.
    serial_hi: u32,
    serial_lo: u32,
    slot: u32,
}

impl InboundId {
    pub(crate) const fn new(serial: u64, slot: u32) -> Self {
        InboundId { serial_hi: (serial >> 32) as u32, serial_lo: serial as u32, slot }
    }

    /// The accept's serial number: 1 for the first connection accepted, and so on.
    pub const fn serial(self) -> u64 {
        ((self.serial_hi as u64) << 32) | self.serial_lo as u64
    }

    pub(crate) const fn slot(self) -> usize {
        self.slot as usize
    }
}

impl fmt::Display for InboundId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "in{}", self.serial())
    }
}

/// Hands out request ids, on any thread. Clones share the counter.
///
/// A sharded manager gives each shard a different `first` and the same `stride`, so ids stay
/// unique across shards without any shared state on the per-connection path.
#[derive(Clone, Debug)]
pub(crate) struct IdAllocator {
    next: Arc<AtomicU64>,
    stride: u64,
}

impl Default for IdAllocator {
    fn default() -> Self {
        IdAllocator::new(1, 1)
    }
}

impl IdAllocator {
    pub(crate) fn new(first: u64, stride: u64) -> Self {
        IdAllocator { next: Arc::new(AtomicU64::new(first)), stride: stride.max(1) }
    }

    pub(crate) fn next_id(&self) -> ConnId {
        // Relaxed is enough: uniqueness comes from the atomic increment itself, and no other
        // memory is published through this counter.
        ConnId(self.next.fetch_add(self.stride, Ordering::Relaxed))
    }

    /// The last id handed out, or `first - stride` if none.
    #[cfg(any(test, feature = "sim"))]
    pub(crate) fn last(&self) -> u64 {
        self.next.load(Ordering::Relaxed).wrapping_sub(self.stride)
    }
}

/// A hasher for ids, which are already well spread: a multiply, no SipHash.
#[derive(Default, Clone, Copy, Debug)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

pub(crate) type IdHash = BuildHasherDefault<IdHasher>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_start_at_one_and_are_shared_between_clones() {
        let a = IdAllocator::default();
        let b = a.clone();
        assert_eq!(a.last(), 0);
        assert_eq!(a.next_id(), ConnId(1));
        assert_eq!(b.next_id(), ConnId(2));
        assert_eq!(a.last(), 2);
    }

    #[test]
    fn strided_allocators_never_collide() {
        let shards: Vec<_> = (1..=3).map(|first| IdAllocator::new(first, 3)).collect();
        let mut all: Vec<u64> = shards.iter().flat_map(|s| (0..100).map(|_| s.next_id().get())).collect();
        all.sort_unstable();
        assert_eq!(all, (1..=300).collect::<Vec<_>>());
    }

    #[test]
    fn ids_are_unique_across_threads() {
        let a = IdAllocator::default();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let a = a.clone();
                std::thread::spawn(move || (0..1000).map(|_| a.next_id().get()).collect::<Vec<_>>())
            })
            .collect();
        let mut all: Vec<u64> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 4000);
        assert_eq!((all[0], all[3999]), (1, 4000));
    }

    #[test]
    fn inbound_ids_show_their_serial() {
        let id = InboundId::new(42, 3);
        assert_eq!(id.to_string(), "in42");
        assert_ne!(id, InboundId::new(43, 3), "same slot, later serial: a different connection");
        let big = InboundId::new(u64::MAX - 1, 7);
        assert_eq!((big.serial(), big.slot()), (u64::MAX - 1, 7));
        assert!(InboundId::new(1 << 32, 0) > InboundId::new(u64::from(u32::MAX), 9), "ordered by serial");
        assert_eq!(std::mem::size_of::<InboundId>(), 12);
    }
}
