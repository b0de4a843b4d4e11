//! Offline detection: when failures say the node itself has no network, stop charging them to
//! peers and back off as a whole.
//!
//! Two signs: a local error (the network is down or unreachable, or there is no local address
//! to connect from: the kernel says so at once), or a run of failures with no success between
//! that spans many netgroups (no one peer is to blame). Either makes the detector *offline*:
//! the core holds every dial for a pause that doubles while the node stays offline, and charges
//! no failure to a peer (no failure memory, no backoff step, no failed-attempt count). When the
//! pause ends the detector is *recovering*: dials go out but failures are still not charged
//! until one succeeds. So an outage charges at most `failures − 1` peers, once, before the run
//! is long enough to be recognised (none when the kernel reports a local error).

use std::time::Duration;

/// When to decide the node is offline ([`OutboundPolicy::offline`](crate::outbound::OutboundPolicy::offline)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OfflineDetection {
    /// Consecutive failed outbound attempts, with no success between...
    pub failures: u32,
    /// ...across at least this many netgroups (at most 64), mean the node is offline.
    pub netgroups: u32,
    /// The first pause of every dial; it doubles while the node stays offline.
    pub pause: Duration,
    /// The longest pause.
    pub max_pause: Duration,
}

impl Default for OfflineDetection {
    fn default() -> Self {
        OfflineDetection {
            failures: 10,
            netgroups: 5,
            pause: Duration::from_secs(5),
            max_pause: Duration::from_secs(5 * 60),
        }
    }
}

impl OfflineDetection {
    pub(crate) const MAX_NETGROUPS: u32 = 64;
}

/// What to do with one failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The peer's fault as far as anyone can tell.
    Charge,
    /// The node's own trouble: charge nobody.
    Spare,
    /// The node has just gone offline: charge nobody and hold dials for this long.
    GoOffline(Duration),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Online,
    Offline,
    Recovering,
}

#[derive(Debug)]
pub(crate) struct Offline {
    config: OfflineDetection,
    state: State,
    run: u32,
    groups: Vec<u64>,
    pause: Duration,
}

impl Offline {
    pub(crate) fn new(config: OfflineDetection) -> Self {
        let groups = Vec::with_capacity(config.netgroups.min(OfflineDetection::MAX_NETGROUPS) as usize);
        Offline { config, state: State::Online, run: 0, groups, pause: config.pause }
    }

    /// Whether dials are held.
    pub(crate) fn is_offline(&self) -> bool {
        self.state == State::Offline
    }

    /// A dial failed; `group` is its target's keyed netgroup hash.
    pub(crate) fn failed(&mut self, group: u64, local: bool) -> Verdict {
        match self.state {
            State::Offline => return Verdict::Spare,
            State::Online | State::Recovering => {}
        }
        self.run = self.run.saturating_add(1);
        if !self.groups.contains(&group) && self.groups.len() < self.groups.capacity() {
            self.groups.push(group);
        }
        let spread = self.run >= self.config.failures && self.groups.len() as u32 >= self.config.netgroups;
        if local || spread {
            let pause = self.pause;
            self.pause = self.pause.saturating_mul(2).min(self.config.max_pause);
            self.state = State::Offline;
            self.clear_run();
            return Verdict::GoOffline(pause);
        }
        match self.state {
            State::Recovering => Verdict::Spare,
            _ => Verdict::Charge,
        }
    }

    /// A dial succeeded; true if the node was not known to be online.
    pub(crate) fn succeeded(&mut self) -> bool {
        let was = self.state;
        self.state = State::Online;
        self.pause = self.config.pause;
        self.clear_run();
        was != State::Online
    }

    /// The pause is over: dial again, charging nobody until a success.
    pub(crate) fn pause_over(&mut self) {
        if self.state == State::Offline {
            self.state = State::Recovering;
        }
    }

    fn clear_run(&mut self) {
        self.run = 0;
        self.groups.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn detector() -> Offline {
        Offline::new(OfflineDetection { failures: 4, netgroups: 3, pause: S, max_pause: 4 * S })
    }

    #[test]
    fn a_local_error_is_offline_at_once_and_doubles_the_pause_until_a_success() {
        let mut d = detector();
        // A local error (`DialError::is_local`, e.g. "network unreachable") fails at once.
        assert_eq!(d.failed(1, true), Verdict::GoOffline(S));
        assert!(d.is_offline());
        assert_eq!(d.failed(2, false), Verdict::Spare, "late failures while offline charge nobody");
        d.pause_over();
        assert!(!d.is_offline());
        assert_eq!(d.failed(3, false), Verdict::Spare, "recovering: not charged until a success");
        assert_eq!(d.failed(3, true), Verdict::GoOffline(2 * S));
        d.pause_over();
        assert_eq!(d.failed(3, true), Verdict::GoOffline(4 * S));
        d.pause_over();
        assert_eq!(d.failed(3, true), Verdict::GoOffline(4 * S), "capped");
        d.pause_over();
        assert!(d.succeeded(), "back online");
        assert_eq!(d.failed(3, true), Verdict::GoOffline(S), "a success resets the pause");
    }

    #[test]
    fn a_run_across_enough_netgroups_is_offline_one_netgroup_is_not() {
        let mut d = detector();
        for _ in 0..20 {
            assert_eq!(d.failed(7, false), Verdict::Charge, "one dead netgroup is that netgroup's problem");
        }
        let mut d = detector();
        assert_eq!(d.failed(1, false), Verdict::Charge);
        assert_eq!(d.failed(2, false), Verdict::Charge);
        assert!(!d.succeeded(), "it was online");
        assert_eq!(d.failed(1, false), Verdict::Charge, "a success starts a new run");
        assert_eq!(d.failed(2, false), Verdict::Charge);
        assert_eq!(d.failed(3, false), Verdict::Charge);
        assert_eq!(d.failed(3, false), Verdict::GoOffline(S), "4 failures over 3 netgroups");
    }
}
