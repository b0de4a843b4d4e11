//! The core's side of a sharded manager (`ShardedManager`, feature `shards`): the few points
//! where a rule spans shards consult the shared [`Global`](crate::policy::global::Global).
//!
//! Each hook is called from one line at its point in the core (where an automatic request is
//! asked for or ends, where a dial starts or finishes, where an accept is numbered, where a ban
//! is made). Without the feature the hooks are constants the compiler removes; with it, an
//! unsharded core pays one `Option` test at each.

use std::time::Instant;

use super::Core;
use crate::net::Subnet;
use crate::policy::outbound::ClassId;

#[cfg(feature = "shards")]
use {
    super::request::flag,
    crate::id::IdAllocator,
    crate::policy::global::{share, BanNote, Global, ShardRef},
    std::sync::Arc,
};

impl Core {
    /// Makes this core shard `index` of `global`'s manager; call before `start`. Request and
    /// lookup ids are the caller's to stride (`with_ids`); inbound serials are strided here.
    #[cfg(feature = "shards")]
    pub(crate) fn join_shards(&mut self, global: Arc<Global>, index: usize) {
        let n = global.shards() as u64;
        self.lookup_ids = IdAllocator::new(index as u64 + 1, n);
        // Every shard tags a netgroup alike, so the manager's diversity count is one count.
        self.out.tag_key = global.tag_key;
        // The dial limit is the manager's: the shared budget alone decides, so that every dial
        // that waits for it marks this shard as waiting.
        self.max_dials = u32::MAX;
        self.limiter.share(Arc::clone(&global.inbound));
        self.admission.share(Arc::clone(&global));
        self.shard = Some(ShardRef { global, index });
    }

    /// Applies what the other shards sent (bans), and dials what a slot freed elsewhere lets
    /// through. The shard calls it when woken with mail.
    #[cfg(feature = "shards")]
    pub(crate) fn global_mail(&mut self, now: Instant) {
        let Some(shard) = self.shard.clone() else { return };
        for note in shard.global.take_mail(shard.index) {
            match note {
                BanNote::Ban(subnet, until) if !self.stopped => {
                    self.admission.bans_mut().ban(subnet, until);
                    self.close_banned(now, subnet);
                    self.arm_ban_expiry(now);
                }
                BanNote::Unban(subnet) => drop(self.admission.bans_mut().unban(subnet)),
                BanNote::Ban(..) => {}
            }
        }
        self.pump_dial_queue(now);
        if self.dial_queue.is_empty() || self.stopped {
            shard.global.stop_waiting(shard.index);
        }
    }

    /// Automatic requests of `class` this core asks for at start: its share of the class's
    /// target when sharded.
    pub(super) fn start_share(&self, class: ClassId) -> u32 {
        let target = self.out.classes[class.index()].target;
        #[cfg(feature = "shards")]
        if let Some(s) = &self.shard {
            return share(target, s.global.shards(), s.index);
        }
        target
    }

    /// Takes one of the manager's automatic slots of `class` (always granted unsharded: the
    /// core's own count is the whole rule then).
    #[inline]
    pub(super) fn take_auto_slot(&self, class: ClassId) -> bool {
        #[cfg(feature = "shards")]
        if let Some(s) = &self.shard {
            return s.global.auto[class.index()].take();
        }
        let _ = class;
        true
    }

    /// Gives back `n` automatic slots of `class` (requests that ended, or were asked for and
    /// not made).
    #[inline]
    pub(super) fn give_auto_slots(&self, class: ClassId, n: u32) {
        #[cfg(feature = "shards")]
        if let Some(s) = &self.shard {
            s.global.auto[class.index()].give(n);
        }
        let _ = (class, n);
    }

    /// Takes a place in the netgroup tagged `tag` among the manager's automatic connections
    /// (outbound diversity; always granted unsharded: the core's own table is the rule then).
    #[inline]
    pub(super) fn take_group_place(&self, tag: u32, max: u32) -> bool {
        #[cfg(feature = "shards")]
        if let Some(groups) = self.shard.as_ref().and_then(|s| s.global.out_groups.as_ref()) {
            return groups.try_add(&tag, max);
        }
        let _ = (tag, max);
        true
    }

    /// Gives back a place taken with [`take_group_place`](Self::take_group_place).
    #[inline]
    pub(super) fn give_group_place(&self, tag: u32) {
        #[cfg(feature = "shards")]
        if let Some(groups) = self.shard.as_ref().and_then(|s| s.global.out_groups.as_ref()) {
            groups.sub(&tag);
        }
        let _ = tag;
    }

    /// Takes a dial slot for request `key`; if the manager has none free, queues the request
    /// (at the front if it came from the queue, keeping its turn) and returns false.
    #[inline]
    pub(super) fn take_dial_slot(&mut self, key: usize) -> bool {
        #[cfg(feature = "shards")]
        if let Some(s) = &self.shard {
            if s.global.take_dial(s.index) {
                return true;
            }
            let rec = &mut self.reqs[key];
            if rec.has(flag::QUEUED) {
                self.dial_queue.push_front(rec.id);
            } else {
                rec.set(flag::QUEUED, true);
                self.dial_queue.push_back(rec.id);
            }
            return false;
        }
        let _ = key;
        true
    }

    /// Gives back a dial slot; shards waiting for one are woken.
    #[inline]
    pub(super) fn give_dial_slot(&self) {
        #[cfg(feature = "shards")]
        if let Some(s) = &self.shard {
            s.global.give_dial(s.index);
        }
    }

    /// Whether the manager may have a dial slot free (the local count is checked apart).
    #[inline]
    pub(super) fn dial_slot_free(&self) -> bool {
        #[cfg(feature = "shards")]
        if let Some(s) = &self.shard {
            return s.global.dial_room(s.index);
        }
        true
    }

    /// The serial of this core's `n`th accept: `n` unsharded; strided by shard otherwise, so
    /// serials are unique across shards and name their shard.
    #[inline]
    pub(super) fn inbound_serial_of(&self, n: u64) -> u64 {
        #[cfg(feature = "shards")]
        if let Some(s) = &self.shard {
            let shards = s.global.shards() as u64;
            return (n - 1) * shards + s.index as u64 + 1;
        }
        n
    }

    /// A ban made here, for the other shards.
    pub(super) fn shared_ban(&self, subnet: Subnet, until: Instant) {
        #[cfg(feature = "shards")]
        if let Some(s) = &self.shard {
            s.global.publish(s.index, BanNote::Ban(subnet, until));
        }
        let _ = (subnet, until);
    }

    /// An unban made here, for the other shards.
    pub(super) fn shared_unban(&self, subnet: Subnet) {
        #[cfg(feature = "shards")]
        if let Some(s) = &self.shard {
            s.global.publish(s.index, BanNote::Unban(subnet));
        }
        let _ = subnet;
    }

    /// Stops waiting for dial slots and gives back the automatic slots asked for and not made.
    pub(super) fn leave_shards(&self) {
        for class in 0..self.out.classes.len() {
            let class = ClassId::from_index(class);
            self.give_auto_slots(class, self.out.wanted(class));
        }
        #[cfg(feature = "shards")]
        if let Some(s) = &self.shard {
            s.global.stop_waiting(s.index);
        }
    }
}
