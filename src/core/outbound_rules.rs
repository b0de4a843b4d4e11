//! The outbound policy in the state machine: classes and their budgets, netgroup diversity,
//! probes, the manual cap, failure memory, offline detection, pause and resume, anchors.
//!
//! Settings and the small state machines live in `crate::policy::outbound`; this file applies
//! them to the core's requests. Every rule is a check on a path that already exists: an
//! automatic request is judged where it would dial (a skip ends it and asks the source again,
//! bounded per millisecond like a banned target), a failure is judged where it is charged, and
//! held dials wait in the dial queue that the dial limit already uses. Nothing here runs per
//! tick.

use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::protect::GroupKey;
use super::request::{flag, TimerPurpose};
use super::{Action, ConnState, ConnectOptions, Core, DisconnectReason, Event, NextStep, Timer};
use crate::config::Config;
use crate::error::{DialError, FailureCause, OpError};
use crate::id::ConnId;
use crate::net::NetGroup;
use crate::policy::outbound::{
    ClassId, ConnClass, FailureMemory, FastKey, GroupCounts, Limit, Offline, Pause, ProbeKind, Verdict,
};
use crate::target::Target;
use crate::time::TimerKey;

/// One automatic class's budget: live requests plus addresses asked for never exceed `target`.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct ClassState {
    pub(super) target: u32,
    live: u32,
    /// Addresses asked for and not yet answered.
    wanted: u32,
    /// `NeedAddress` outputs owed but not yet pulled: counted rather than queued, so that a
    /// start with a target of N does not queue N of them ahead of each answer's dial.
    need: u32,
    pub(super) established: u32,
}

#[derive(Debug)]
pub(super) struct OutboundState {
    pub(super) classes: Vec<ClassState>,
    pub(super) need_total: u32,
    max_per_netgroup: Option<u32>,
    /// Automatic requests dialling or established, per netgroup tag (a keyed 32-bit hash of
    /// the netgroup). A request's record keeps its place's entry, so a release looks nothing
    /// up. Two netgroups sharing a tag would share a place: with a secret key and a few
    /// hundred groups at most, a chance below one in ten million, and only ever stricter.
    groups: GroupCounts,
    /// Keys the failure memory.
    key: FastKey,
    /// Keys netgroup tags (shared by every shard of a sharded manager).
    pub(super) tag_key: u64,
    manual_live: u32,
    max_manual: u32,
    probes_live: u32,
    max_probes: u32,
    probe_deadline: Duration,
    stable_after: Option<Duration>,
    failure_window: Option<Duration>,
    memory: Option<FailureMemory>,
    offline: Option<Offline>,
    offline_timer: Option<TimerKey>,
    paused: bool,
    /// `paused`, or offline: dials wait. Kept as one flag, read on every dial.
    held: bool,
    /// Whether automatic dials are screened at all (failure memory or diversity).
    screens: bool,
    /// `Config::netgroup` is the default, `NetGroup::of`: called directly.
    default_groups: bool,
    /// Dialled at start, then dropped.
    anchors: Vec<(ClassId, Target)>,
}

impl OutboundState {
    pub(super) fn new(config: &Config, seed: u64) -> Self {
        let policy = &config.outbound;
        let mut classes = vec![ClassState { target: config.target_outbound, ..ClassState::default() }];
        classes.extend(policy.classes.iter().map(|c| ClassState { target: c.target, ..ClassState::default() }));
        let automatic: u32 = classes.iter().fold(0, |sum, c| sum.saturating_add(c.target));
        let groups = match policy.max_per_netgroup {
            // One place per automatic request at most: sized once, never grown after.
            Some(_) => GroupCounts::new(automatic as usize),
            None => GroupCounts::new(0),
        };
        OutboundState {
            classes,
            need_total: 0,
            max_per_netgroup: policy.max_per_netgroup,
            groups,
            key: FastKey(seed.rotate_left(32) ^ 0x6661_696c_7572_6573),
            tag_key: seed,
            manual_live: 0,
            max_manual: policy.max_manual.unwrap_or(u32::MAX),
            probes_live: 0,
            max_probes: policy.max_probes,
            probe_deadline: policy.probe_deadline,
            stable_after: policy.stable_after,
            failure_window: policy.failure_window,
            memory: policy.failure_window.map(|_| FailureMemory::new(policy.failure_memory)),
            offline: policy.offline.map(Offline::new),
            offline_timer: None,
            paused: false,
            held: false,
            screens: policy.failure_window.is_some() || policy.max_per_netgroup.is_some(),
            default_groups: config.netgroup.is_default(),
            anchors: policy.anchors.clone(),
        }
    }

    /// Whether `class` is below its target, counting the addresses asked for.
    #[inline]
    pub(super) fn has_room(&self, class: ClassId) -> bool {
        self.classes.get(class.index()).is_some_and(|c| c.live + c.wanted < c.target)
    }

    /// Owes `class` one more address (it has room).
    #[inline]
    pub(super) fn add_want(&mut self, class: ClassId) {
        let c = &mut self.classes[class.index()];
        c.wanted += 1;
        c.need += 1;
        self.need_total += 1;
    }

    /// The next class owed a `NeedAddress`.
    #[inline]
    pub(super) fn take_need(&mut self) -> Option<ClassId> {
        let index = self.classes.iter().position(|c| c.need > 0)?;
        self.classes[index].need -= 1;
        self.need_total -= 1;
        Some(ClassId::from_index(index))
    }

    /// An address arrived for `class`; false if none was asked for.
    #[inline]
    pub(super) fn answered(&mut self, class: ClassId) -> bool {
        match self.classes.get_mut(class.index()) {
            Some(c) if c.wanted > 0 => {
                c.wanted -= 1;
                true
            }
            _ => false,
        }
    }

    /// Addresses asked for `class` and not answered.
    pub(super) fn wanted(&self, class: ClassId) -> u32 {
        self.classes[class.index()].wanted
    }

    pub(super) fn owe_nothing(&mut self) {
        for c in &mut self.classes {
            c.need = 0;
            c.wanted = 0;
        }
        self.need_total = 0;
    }

    #[inline]
    pub(super) fn registered(&mut self, class: ConnClass) {
        match class {
            ConnClass::Automatic(c) => self.classes[c.index()].live += 1,
            ConnClass::Manual => self.manual_live += 1,
            ConnClass::Probe(_) => self.probes_live += 1,
        }
    }

    #[inline]
    pub(super) fn ended(&mut self, class: ConnClass) {
        match class {
            ConnClass::Automatic(c) => self.classes[c.index()].live -= 1,
            ConnClass::Manual => self.manual_live -= 1,
            ConnClass::Probe(_) => self.probes_live -= 1,
        }
    }

    pub(super) fn established_automatic(&self) -> u64 {
        self.classes.iter().map(|c| u64::from(c.established)).sum()
    }

    /// Whether `class` has fewer established connections than its target.
    pub(super) fn below_target(&self, class: ClassId) -> bool {
        self.classes.get(class.index()).is_some_and(|c| c.established < c.target)
    }

    fn full(&self, class: ConnClass) -> Option<Limit> {
        match class {
            ConnClass::Manual if self.manual_live >= self.max_manual => Some(Limit::Manual),
            ConnClass::Probe(_) if self.probes_live >= self.max_probes => Some(Limit::Probes),
            _ => None,
        }
    }
}

impl Core {
    /// Whether dials wait: networking is paused, or the node is offline.
    #[inline]
    pub(super) fn dials_held(&self) -> bool {
        self.out.held
    }

    fn update_held(&mut self) {
        self.out.held = self.out.paused || self.out.offline.as_ref().is_some_and(Offline::is_offline);
    }

    /// Dials the configured anchors, each as an automatic request of its class while the
    /// class has room, before the source is asked for anything.
    pub(super) fn dial_anchors(&mut self, now: Instant) {
        for (class, target) in std::mem::take(&mut self.out.anchors) {
            if !self.out.has_room(class) || !self.take_auto_slot(class) {
                continue;
            }
            let id = self.ids.next_id();
            log::debug!("Dialling anchor {target} for {class}");
            let key = self.register(id, Some(target), &ConnectOptions::once(), ConnClass::Automatic(class));
            self.start_dial(now, key);
        }
    }

    /// The outbound set as anchors: each established automatic connection's class and target,
    /// oldest first, for `OutboundPolicy::anchors` at the next start.
    pub fn anchors(&self) -> Vec<(ClassId, Target)> {
        let mut out: Vec<_> = self
            .reqs
            .iter()
            .filter(|(_, r)| r.automatic() && r.state == ConnState::Established)
            .filter_map(|(key, r)| Some((r.id, r.class_id(), self.target_at(key)?)))
            .collect();
        out.sort_unstable_by_key(|&(id, ..)| id);
        out.into_iter().map(|(_, class, target)| (class, target)).collect()
    }

    /// The netgroup diversity counts: IP targets by `Config::netgroup`, onions and names by
    /// their own groups.
    fn target_group(&self, target: &Target) -> NetGroup {
        match target {
            Target::Ip(addr) if self.out.default_groups => NetGroup::of(addr.ip()),
            Target::Ip(addr) => self.netgroup.group(addr.ip()),
            Target::Onion(onion, _) => NetGroup::onion(onion.pubkey()[0]),
            Target::Name(name, _) => NetGroup::named(name.as_str()),
        }
    }

    /// The keyed tag of `target`'s netgroup, for the diversity table; the default grouping of
    /// an IP address inline, as every automatic dial computes one.
    #[inline(always)]
    fn group_tag(&self, target: &Target) -> u32 {
        match target {
            Target::Ip(SocketAddr::V4(addr)) if self.out.default_groups => NetGroup::of_v4(*addr.ip()),
            _ => self.target_group(target),
        }
        .tag(self.out.tag_key)
    }

    /// The failure memory's key for `target`: keyed, so nobody can aim collisions.
    fn memory_key(&self, target: &Target) -> u64 {
        self.out.key.hash_one(target)
    }

    /// Whether the failure memory may hold anything now (else there is nothing to look up).
    fn memory_in_use(&self, now: Instant) -> bool {
        self.out.memory.as_ref().is_some_and(|m| m.used() && m.may_hold(self.clock.now_tick(now)))
    }

    /// Checks an automatic request about to dial against the failure memory and netgroup
    /// diversity, and takes its netgroup place; false if it was skipped instead.
    pub(super) fn admit_automatic(&mut self, now: Instant, key: usize, target: &Target) -> bool {
        if !self.out.screens {
            return true;
        }
        if self.memory_in_use(now) {
            let (mem_key, tick) = (self.memory_key(target), self.clock.now_tick(now));
            if self.out.memory.as_mut().is_some_and(|m| m.failed(mem_key, tick)) {
                self.reqs[key].set(flag::QUEUED, false);
                self.counters.skipped_failed += 1;
                log::debug!("Skipping {target}: it failed less than {:?} ago", self.out.failure_window);
                self.skip_automatic(now, key, DialError::RecentlyFailed);
                return false;
            }
        }
        if let Some(max) = self.out.max_per_netgroup {
            if !self.reqs[key].has(flag::GROUPED) {
                let tag = self.group_tag(target);
                let taken = match self.out.groups.take(tag, max) {
                    // Sharded, the manager's count decides.
                    Ok(slot) if !self.take_group_place(tag, max) => {
                        self.out.groups.give_back(slot);
                        Err(max)
                    }
                    other => other,
                };
                let slot = match taken {
                    Ok(slot) => slot,
                    Err(count) => {
                        self.reqs[key].set(flag::QUEUED, false);
                        self.counters.skipped_diversity += 1;
                        let group = self.target_group(target);
                        log::debug!("Skipping {target}: {count} automatic connection(s) in {group} already");
                        self.skip_automatic(now, key, DialError::NetgroupFull);
                        return false;
                    }
                };
                self.reqs[key].set(flag::GROUPED, true);
                self.reqs[key].backoff = slot;
            }
        }
        true
    }

    /// Gives back the netgroup place a request holds.
    #[inline]
    pub(super) fn release_group(&mut self, key: usize) {
        if self.reqs[key].has(flag::GROUPED) {
            self.give_group_back(key);
        }
    }

    fn give_group_back(&mut self, key: usize) {
        let rec = &mut self.reqs[key];
        rec.set(flag::GROUPED, false);
        let tag = self.out.groups.give_back(std::mem::take(&mut rec.backoff));
        self.give_group_place(tag);
    }

    /// Whether the failure of `key`'s dial is charged to its peer, and the offline detector's
    /// verdict acted on.
    pub(super) fn judge_failure(&mut self, now: Instant, key: usize, error: &DialError) -> bool {
        if self.out.offline.is_none() && self.out.failure_window.is_none() {
            // No rule to consult: charged, and no copy of the target made for nothing.
            return true;
        }
        let Some(target) = self.target_at(key) else { return true };
        let charge = match self.out.offline.is_some() {
            false => true,
            true => {
                let group = GroupKey(self.group_key).hash_one(self.target_group(&target));
                let local = error.cause() == FailureCause::Local;
                match self.out.offline.as_mut().map(|o| o.failed(group, local)) {
                    Some(Verdict::Charge) | None => true,
                    Some(Verdict::Spare) => false,
                    Some(Verdict::GoOffline(pause)) => {
                        self.go_offline(now, pause, error);
                        false
                    }
                }
            }
        };
        // A broken proxy is not the address's fault.
        if charge && error.cause() != FailureCause::Proxy {
            if let Some(window) = self.out.failure_window {
                let (mem_key, tick) = (self.memory_key(&target), self.clock.now_tick(now));
                let until = self.deadline_tick(now, window);
                if let Some(m) = self.out.memory.as_mut() {
                    m.remember(mem_key, tick, until);
                }
            }
        }
        charge
    }

    /// A dial succeeded: the node is online, the address is good, and the connection gets the
    /// timers its class asks for.
    #[inline]
    pub(super) fn outbound_connected(&mut self, now: Instant, key: usize) {
        if self.out.offline.is_some() || self.out.memory.is_some() {
            self.connected_with_rules(now, key);
        }
        let rec = &mut self.reqs[key];
        if rec.permanent() {
            match self.out.stable_after {
                // It has failed before: its backoff starts over only if it stays up.
                Some(after) if rec.backoff != 0 => self.arm(now, key, TimerPurpose::Stable, after),
                _ => rec.backoff = 0,
            }
            return;
        }
        // btcd: a connection starts the backoff over (a triggered reconnect of a one-shot
        // request backs off too). A netgroup place's tag stays until the connection drops.
        if !rec.has(flag::GROUPED) {
            rec.backoff = 0;
        }
        if rec.is_probe() {
            self.arm(now, key, TimerPurpose::ProbeDeadline, self.out.probe_deadline);
        }
    }

    /// The offline detector and the failure memory learn of a success.
    fn connected_with_rules(&mut self, now: Instant, key: usize) {
        if let Some(offline) = self.out.offline.as_mut() {
            if offline.succeeded() {
                self.update_held();
                log::info!("Network is back: a connection succeeded");
                if let Some(timer) = self.out.offline_timer.take() {
                    self.wheel.cancel(timer);
                }
                self.actions.push_back(Action::Event(Event::Network { online: true }));
                self.pump_dial_queue(now);
            }
        }
        if self.memory_in_use(now) {
            if let Some(target) = self.target_at(key) {
                let mem_key = self.memory_key(&target);
                if let Some(m) = self.out.memory.as_mut() {
                    m.forget(mem_key);
                }
            }
        }
    }

    fn go_offline(&mut self, now: Instant, pause: Duration, error: &DialError) {
        log::info!("Network appears to be down ({error}); holding dials for {pause:?}");
        self.counters.offline += 1;
        if let Some(timer) = self.out.offline_timer.take() {
            self.wheel.cancel(timer);
        }
        let deadline = self.deadline_tick(now, pause);
        self.out.offline_timer = Some(self.wheel.insert(deadline, Timer::Offline));
        self.update_held();
        self.actions.push_back(Action::Event(Event::Network { online: false }));
    }

    pub(super) fn offline_pause_over(&mut self, now: Instant) {
        self.out.offline_timer = None;
        if let Some(offline) = self.out.offline.as_mut() {
            offline.pause_over();
        }
        self.update_held();
        log::debug!("Offline pause over: dialling again");
        self.pump_dial_queue(now);
    }

    /// Closes a probe whose time is up.
    pub(super) fn probe_deadline(&mut self, now: Instant, key: usize) {
        if self.reqs[key].state == ConnState::Established {
            self.drop_established(key, DisconnectReason::ProbeDeadline);
            self.end(now, key, ConnState::Disconnected);
        }
    }

    /// `LimitReached` if a new request of `class` would pass its cap.
    pub(crate) fn check_limit(&self, class: ConnClass) -> Result<(), OpError> {
        self.out.full(class).map_or(Ok(()), |limit| Err(OpError::LimitReached(limit)))
    }

    /// Makes a manual request or a probe with an id already issued (a queued front end's): one
    /// over its cap ends at once, failed with `DialError::LimitReached`.
    pub(crate) fn make_request(
        &mut self,
        now: Instant,
        id: ConnId,
        target: Target,
        opts: &ConnectOptions,
        class: ConnClass,
    ) -> Result<(), OpError> {
        if self.stopped {
            return Err(OpError::Stopped);
        }
        self.own_proxy(opts.via.as_ref())?;
        let full = self.out.full(class);
        let key = self.register(id, Some(target), opts, class);
        if let Some(limit) = full {
            let info = self.info_at(key);
            log::debug!("Not dialling {info}: {limit}");
            self.reqs[key].state = ConnState::Failing;
            let error = DialError::LimitReached(limit);
            self.actions.push_back(Action::Event(Event::DialFailed { info, error, next: NextStep::Ended }));
            self.end(now, key, ConnState::Failed);
            return Ok(());
        }
        if self.started {
            self.start_dial(now, key);
        }
        Ok(())
    }

    /// [`Reactor::probe`](crate::Reactor::probe).
    pub fn probe(&mut self, now: Instant, target: impl Into<Target>, kind: ProbeKind) -> Result<ConnId, OpError> {
        if self.stopped {
            return Err(OpError::Stopped);
        }
        let target = target.into();
        let (opts, class) = (ConnectOptions::once(), ConnClass::Probe(kind));
        let id = ConnId::new(self.mint(super::Fresh::Request { target: &target, opts: &opts, class }, true)?);
        self.make_request(now, id, target, &opts, class)?;
        Ok(id)
    }

    /// [`Reactor::pause`](crate::Reactor::pause).
    pub fn pause(&mut self, now: Instant, mode: Pause) -> Result<(), OpError> {
        if self.stopped {
            return Err(OpError::Stopped);
        }
        if !self.out.paused {
            log::info!("Networking paused ({mode:?})");
            self.out.paused = true;
            self.update_held();
        }
        if mode == Pause::CloseConnections {
            self.close_all(now);
        }
        Ok(())
    }

    /// [`Reactor::resume`](crate::Reactor::resume).
    pub fn resume(&mut self, now: Instant) -> Result<(), OpError> {
        if self.stopped {
            return Err(OpError::Stopped);
        }
        if self.out.paused {
            log::info!("Networking resumed");
            self.out.paused = false;
            self.update_held();
            self.pump_dial_queue(now);
        }
        Ok(())
    }

    /// Whether networking is paused.
    pub fn is_paused(&self) -> bool {
        self.out.paused
    }

    /// `Pause::CloseConnections`: every connection closes and every dial in flight is aborted;
    /// permanent requests wait in the dial queue, automatic ones are replaced after resume.
    fn close_all(&mut self, now: Instant) {
        let mut inbound: Vec<(u64, usize)> = self.inbound.iter().map(|(key, r)| (r.serial, key)).collect();
        inbound.sort_unstable();
        for (serial, key) in inbound {
            let rec = self.inbound.remove(key);
            self.inbound_closed(crate::id::InboundId::new(serial, super::slot_u32(key)), rec, DisconnectReason::Paused);
        }
        let mut live: Vec<(ConnId, usize)> = self.reqs.iter().map(|(key, r)| (r.id, key)).collect();
        live.sort_unstable();
        for (_, key) in live {
            let rec = &self.reqs[key];
            if rec.has(flag::DIALING) {
                self.finish_dial(key);
                if let Some(io) = self.reqs[key].take_io() {
                    self.actions.push_back(Action::Close { io });
                }
                self.reqs[key].state = ConnState::Pending;
                self.start_dial(now, key);
            } else if rec.state == ConnState::Established {
                let (permanent, automatic, class) = (rec.permanent(), rec.automatic(), rec.class_id());
                self.drop_established(key, DisconnectReason::Paused);
                if permanent {
                    self.start_dial(now, key);
                } else {
                    self.end(now, key, ConnState::Disconnected);
                    if automatic {
                        self.request_automatic(class);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, VecDeque};

    use super::super::IoKey;
    use super::*;
    use crate::peer::Peer;
    use crate::policy::outbound::OutboundPolicy;

    /// Every place the requests hold is in the entry of their target's netgroup, and every
    /// entry's count is the number of requests holding it.
    fn assert_table_exact(core: &Core) {
        let mut holders: HashMap<u32, u32> = HashMap::new();
        for (key, rec) in core.reqs.iter().filter(|(_, r)| r.has(flag::GROUPED)) {
            let tag = core.group_tag(&core.target_at(key).unwrap());
            assert_eq!(core.out.groups.tag_at(rec.backoff), tag, "request {}", rec.id);
            *holders.entry(rec.backoff).or_default() += 1;
        }
        for (&slot, &n) in &holders {
            assert_eq!(core.out.groups.count_at(slot), n);
        }
        assert_eq!(core.out.groups.live(), holders.values().sum::<u32>());
    }

    #[test]
    fn the_netgroup_table_stays_exact_through_churn_over_many_netgroups() {
        // Four places, fifty netgroups, each offered twice in a row, so that the second is
        // skipped while the first holds its place.
        let t0 = Instant::now();
        let outbound = OutboundPolicy { max_per_netgroup: Some(1), ..OutboundPolicy::default() };
        let config = Config { target_outbound: 4, outbound, ..Config::default() };
        let mut core = Core::new(&config, t0).unwrap();
        core.start(t0);
        let (mut offered, mut dialling) = (0u32, VecDeque::new());
        for step in 1..=500u64 {
            let now = t0 + Duration::from_millis(step);
            core.handle_timeout(now);
            while let Some(action) = core.poll_action() {
                match action {
                    Action::NeedAddress { class } => {
                        let group = (offered / 2 % 50) as u8 + 1;
                        let addr = SocketAddr::from(([10, group, 0, (offered % 2) as u8 + 1], 8333));
                        offered += 1;
                        core.address(now, class, Some(Ok(addr.into())));
                    }
                    Action::Dial { id, .. } => {
                        assert!(core.dial_started(id, IoKey::from(step)));
                        dialling.push_back(id);
                    }
                    _ => {}
                }
                assert_table_exact(&core);
            }
            let id = dialling.pop_front().expect("a dial in flight");
            assert!(core.dial_succeeded(now, id));
            assert_table_exact(&core);
            core.close(now, Peer::Outbound(id), DisconnectReason::Requested).unwrap();
            assert_table_exact(&core);
        }
        assert_eq!(core.counters().connected, 500);
        assert!(core.counters().skipped_diversity >= 100, "{:?}", core.counters());
    }
}
