//! The node's defences in the state machine: bans (manual, or earned with the ban score), the
//! checks every accepted socket passes before anything is allocated for it, eviction when
//! inbound is full, and what the application observed of its peers.
//!
//! The checks and the ban list live in `admission`; this file applies them to the core's
//! connections: which live connections a new ban closes, what a banned target does to a
//! request (an automatic one is skipped, a permanent one waits in `ConnState::Banned` until the
//! ban expires, a one-shot one fails), and which inbound peer eviction may displace. One wheel
//! timer follows the soonest ban expiry; there is no periodic sweep.

use std::borrow::Cow;
use std::collections::hash_map::DefaultHasher;
use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime};

use super::inbound::InboundRecord;
use super::request::{flag, TimerPurpose};
use super::{Action, ConnState, Core, DisconnectReason, Event, NextStep, Observation, Timer};
use crate::error::{DialError, OpError};
use crate::id::InboundId;
use crate::net::Subnet;
use crate::peer::Peer;
use crate::policy::admission::bans::ImportError;
use crate::policy::admission::eviction::{EvictionCandidate, NetworkKind};
use crate::policy::admission::Rejection;

/// Skips of banned (or otherwise unusable) automatic addresses allowed per millisecond before
/// a replacement waits `retry_duration`: an address source that only knows banned hosts must not
/// spin the loop.
pub(super) const SKIPS_PER_TICK: u32 = 32;

/// The secret that keys net groups for eviction, so an attacker cannot tell which groups it
/// protects.
#[derive(Clone, Copy, Debug)]
pub(super) struct GroupKey(pub(super) u64);

impl BuildHasher for GroupKey {
    type Hasher = DefaultHasher;

    fn build_hasher(&self) -> DefaultHasher {
        let mut h = DefaultHasher::new();
        h.write_u64(self.0);
        h
    }
}

impl Core {
    /// [`Reactor::ban`](crate::Reactor::ban).
    pub fn ban(&mut self, now: Instant, subnet: Subnet, duration: Duration) -> Result<(), OpError> {
        if self.stopped {
            return Err(OpError::Stopped);
        }
        let until = crate::time::deadline_after(now, duration);
        let outcome = self.admission.bans_mut().ban(subnet, until);
        self.shared_ban(subnet, until);
        log::info!("Banned {subnet} for {duration:?} ({outcome:?})");
        self.counters.bans += 1;
        self.close_banned(now, subnet);
        self.arm_ban_expiry(now);
        Ok(())
    }

    /// [`Reactor::unban`](crate::Reactor::unban).
    pub fn unban(&mut self, subnet: Subnet) -> Result<bool, OpError> {
        if self.stopped {
            return Err(OpError::Stopped);
        }
        self.shared_unban(subnet);
        Ok(self.admission.bans_mut().unban(subnet))
    }

    /// The bans in force, with the time each has left.
    pub fn bans(&self, now: Instant) -> Vec<(Subnet, Duration)> {
        self.admission
            .bans()
            .list(now)
            .into_iter()
            .map(|(s, until)| (s, until.saturating_duration_since(now)))
            .collect()
    }

    /// The bans as text, one `<subnet> <until, unix seconds>` line each, for the node to keep.
    pub fn export_bans(&self, now: Instant, wall_now: SystemTime) -> String {
        self.admission.bans().export(now, wall_now)
    }

    /// Bans from [`export_bans`](Self::export_bans)'s text (expired lines skipped); how many.
    pub fn import_bans(&mut self, now: Instant, text: &str, wall_now: SystemTime) -> Result<usize, ImportError> {
        let n = self.admission.bans_mut().import(text, now, wall_now)?;
        self.arm_ban_expiry(now);
        Ok(n)
    }

    /// [`Reactor::misbehaving`](crate::Reactor::misbehaving); returns the new score.
    pub fn misbehaving(
        &mut self,
        now: Instant,
        peer: Peer,
        persistent: u32,
        transient: u32,
        reason: impl Into<Cow<'static, str>>,
    ) -> Result<u32, OpError> {
        if self.stopped {
            return Err(OpError::Stopped);
        }
        let ip = match peer {
            Peer::Outbound(id) => self.io(peer).and(self.peer_addr(peer)).ok_or(OpError::NotEstablished(id))?,
            Peer::Inbound(id) => self.peer_addr(peer).ok_or(OpError::UnknownInbound(id))?,
        }
        .ip();
        let secs = self.seconds(now);
        let score = self.scores.entry(peer).or_default().increase_at(persistent, transient, secs);
        let reason = reason.into();
        if score <= self.ban_threshold / 2 {
            log::debug!("Misbehaving peer {peer} ({ip}): {reason} -- ban score increased to {score}");
            return Ok(score);
        }
        log::warn!("Misbehaving peer {peer} ({ip}): {reason} -- ban score increased to {score}");
        if score > self.ban_threshold {
            if self.admission.allowlist().contains(ip) {
                log::warn!("Misbehaving peer {peer} ({ip}) is trusted: not banned");
            } else {
                log::warn!("Misbehaving peer {peer} ({ip}) -- banning and disconnecting");
                self.ban(now, Subnet::single(ip), self.ban_duration)?;
            }
        }
        Ok(score)
    }

    /// [`Reactor::observe`](crate::Reactor::observe).
    pub fn observe(&mut self, now: Instant, peer: Peer, observation: Observation) -> Result<(), OpError> {
        match peer {
            Peer::Inbound(id) => match self.inbound.get_mut(id.slot()).filter(|r| r.serial == id.serial()) {
                Some(rec) => {
                    rec.activity.observe(now, observation);
                    Ok(())
                }
                None => Err(OpError::UnknownInbound(id)),
            },
            // Eviction weighs inbound peers only; outbound ones are accepted and ignored.
            Peer::Outbound(id) => self.key_of(id).map(drop).ok_or(OpError::UnknownId(id)),
        }
    }

    /// Admission for an accepted socket from `ip`: the checks, then a slot (evicting for one if
    /// the policy finds a peer to displace). `None`: refused, counted by cause.
    pub(super) fn admit(
        &mut self,
        now: Instant,
        remote: std::net::SocketAddr,
    ) -> Option<(super::InboundSlot, crate::net::NetGroup, bool)> {
        if self.is_paused() {
            self.counters.rejected_paused += 1;
            return None;
        }
        let ip = remote.ip();
        let group = self.netgroup.group(ip);
        if let Err(cause) = self.admission.check(now, ip, group) {
            let c = &mut self.counters;
            match cause {
                Rejection::Banned => c.rejected_banned += 1,
                Rejection::PerIpCap => c.rejected_per_ip += 1,
                Rejection::PerNetgroupCap => c.rejected_per_netgroup += 1,
                Rejection::ReconnectTooSoon => c.rejected_reconnect += 1,
                _ => c.rejected_rate += 1,
            }
            return None;
        }
        let slot = match self.limiter.try_admit() {
            Some(slot) => Some(slot),
            None if self.evict() => self.limiter.try_admit(),
            None => None,
        };
        let Some(slot) = slot.or_else(|| self.limiter.admit(now, remote)) else {
            self.admission.abandon(ip, group);
            return None;
        };
        self.admission.admitted(ip, group);
        Some((slot, group, self.admission.allowlist().contains(ip)))
    }

    /// Displaces the inbound peer the eviction policy picks, if it picks one.
    fn evict(&mut self) -> bool {
        let Some(policy) = self.eviction.as_mut() else { return false };
        let key = GroupKey(self.group_key);
        self.candidates.clear();
        for (slot, rec) in self.inbound.iter().filter(|(_, r)| !r.trusted) {
            let ip = rec.remote().ip();
            let a = &rec.activity;
            let mut c = EvictionCandidate::new(
                InboundId::new(rec.serial, super::slot_u32(slot)),
                a.connected,
                ip,
                rec.group.keyed(&key),
            );
            c.min_ping = a.min_ping;
            c.last_block = a.last_block;
            c.last_tx = a.last_tx;
            c.relays_txs = a.relays_txs;
            c.bloom_filter = a.bloom_filter;
            c.relevant_services = a.relevant_services;
            c.prefer_evict = a.prefer_evict;
            c.network = NetworkKind::of(ip);
            self.candidates.push(c);
        }
        let Some(victim) = policy.select(&self.candidates) else { return false };
        let Some(rec) = self.inbound.try_remove(victim.slot()).filter(|r| r.serial == victim.serial()) else {
            log::error!("the eviction policy chose {victim}, which is not a candidate");
            return false;
        };
        log::info!("Evicting inbound {victim} ({}) to admit a newcomer", rec.remote());
        self.counters.evicted += 1;
        self.inbound_closed(victim, rec, DisconnectReason::Evicted);
        true
    }

    /// Closes the live connections a new ban covers (trusted ones excepted).
    pub(super) fn close_banned(&mut self, now: Instant, subnet: Subnet) {
        let inbound: Vec<(usize, u64)> = self
            .inbound
            .iter()
            .filter(|(_, r)| !r.trusted && subnet.contains(r.remote().ip()))
            .map(|(slot, r)| (slot, r.serial))
            .collect();
        for (slot, serial) in inbound {
            let rec = self.inbound.remove(slot);
            self.inbound_closed(InboundId::new(serial, super::slot_u32(slot)), rec, DisconnectReason::Banned);
        }
        let outbound: Vec<_> = self
            .reqs
            .iter()
            .filter(|(_, r)| r.state == ConnState::Established)
            .filter(|(_, r)| r.addr().get().is_some_and(|a| subnet.contains(a.ip()) && !self.is_trusted(a.ip())))
            .map(|(_, r)| r.id)
            .collect();
        for id in outbound {
            let _ = self.close(now, Peer::Outbound(id), DisconnectReason::Banned);
        }
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.admission.allowlist().contains(ip)
    }

    /// Until when a dial to `ip` is banned, if it is (trusted addresses never are).
    pub(super) fn dial_banned_until(&mut self, now: Instant, ip: IpAddr) -> Option<Instant> {
        // The common case, and on every dial: nobody is banned.
        if self.admission.bans_mut().is_empty() || self.is_trusted(ip) {
            return None;
        }
        self.admission.bans_mut().banned_until(ip, now)
    }

    /// A request whose target is banned: an automatic one is skipped (the source is asked for
    /// another, within `SKIPS_PER_TICK`), a permanent one waits, `Banned`, for the ban to end,
    /// a one-shot one fails.
    pub(super) fn dial_banned(&mut self, now: Instant, key: usize, until: Instant) {
        let rec = &mut self.reqs[key];
        rec.set(flag::QUEUED, false);
        let (permanent, automatic) = (rec.permanent(), rec.automatic());
        let info = self.info_at(key);
        let wait = until.saturating_duration_since(now);
        log::debug!("Not dialling banned {info} (banned for {wait:?} more)");
        if permanent {
            self.reqs[key].state = ConnState::Banned;
            let next = NextStep::RetryIn(wait);
            self.actions.push_back(Action::Event(Event::DialFailed { info, error: DialError::Banned, next }));
            self.arm(now, key, TimerPurpose::Retry, wait);
        } else if automatic {
            self.counters.skipped_banned += 1;
            self.skip_automatic(now, key, DialError::Banned);
        } else {
            self.counters.failed_other += 1;
            self.actions.push_back(Action::Event(Event::DialFailed {
                info,
                error: DialError::Banned,
                next: NextStep::Ended,
            }));
            self.end(now, key, ConnState::Failed);
        }
    }

    /// Reports `why` an automatic request could not be used, ends it and asks for another at
    /// once, or, past `SKIPS_PER_TICK` skips in this millisecond, after `retry_duration`. Not a
    /// failed attempt: the network was never tried.
    pub(super) fn skip_automatic(&mut self, now: Instant, key: usize, why: DialError) {
        let tick = self.clock.now_tick(now);
        if self.skip_tick != tick {
            self.skip_tick = tick;
            self.skips = 0;
        }
        self.skips += 1;
        let info = self.info_at(key);
        if self.skips <= SKIPS_PER_TICK {
            let next = NextStep::Replaced;
            self.actions.push_back(Action::Event(Event::DialFailed { info, error: why, next }));
            let class = self.reqs[key].class_id();
            self.end(now, key, ConnState::Canceled);
            self.request_automatic(class);
        } else {
            let delay = self.policy.retry_delay(1).min(Duration::from_secs(60));
            let next = NextStep::ReplaceIn(delay);
            self.actions.push_back(Action::Event(Event::DialFailed { info, error: why, next }));
            self.reqs[key].state = ConnState::Failing;
            self.arm(now, key, TimerPurpose::Replace, delay);
        }
    }

    /// Keeps one wheel timer at the soonest ban expiry, to forget expired bans.
    pub(super) fn arm_ban_expiry(&mut self, now: Instant) {
        let Some(next) = self.admission.bans_mut().next_expiry() else { return };
        let deadline = self.deadline_tick(now, next.saturating_duration_since(now));
        if let Some(timer) = self.ban_timer {
            if self.wheel.deadline(timer).is_some_and(|d| d <= deadline) {
                return;
            }
            self.wheel.cancel(timer);
        }
        self.ban_timer = Some(self.wheel.insert(deadline, Timer::Bans));
    }

    pub(super) fn bans_expire(&mut self, now: Instant) {
        self.ban_timer = None;
        let n = self.admission.bans_mut().expire(now);
        log::debug!("{n} bans expired");
        self.arm_ban_expiry(now);
    }

    /// Seconds since the core's epoch, the ban score's clock (it decays on relative time).
    fn seconds(&self, now: Instant) -> i64 {
        i64::try_from(self.clock.now_tick(now) / 1000).unwrap_or(i64::MAX)
    }

    /// Forgets what admission and the ban score knew of a closed inbound connection.
    pub(super) fn inbound_gone(&mut self, id: InboundId, rec: &InboundRecord) {
        self.admission.closed(rec.remote().ip(), rec.group);
        self.scores.remove(&Peer::Inbound(id));
    }
}
