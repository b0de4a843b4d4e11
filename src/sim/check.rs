//! Invariants the simulator checks after every step (every input to the core and the outputs
//! it caused), in every test. A violation panics with the simulated time.
//!
//! - Established automatic connections never exceed `target_outbound` (README, difference #3), and
//!   the core's view (its live requests) matches the events it emitted.
//! - Ids: every id the core issued is seen, in increasing order, with no gap and no live
//!   duplicate; an id that ended never comes back.
//! - Per request, `Connected` and `Disconnected` alternate, starting with `Connected` (so a
//!   disconnection is reported before the reconnection's connection, README difference #7); `Ended` comes
//!   exactly once, never while connected, and nothing about the id follows it.
//! - A `Connected` names the open socket that was dialled for that request.
//! - Inbound ids are accepted once, and closed at most once, only after being accepted.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use crate::config::Config;
use crate::core::{Core, Event, IoKey};
use crate::id::{ConnId, InboundId};
use crate::net::{NetGroup, NetGroupFn};
use crate::peer::Peer;
use crate::policy::outbound::ConnClass;
use crate::target::Target;
use crate::ConnState;

use super::sockets::Sockets;
use super::Logged;

/// The request an event is about, if any.
pub(crate) fn event_id(event: &Event) -> Option<ConnId> {
    match event {
        Event::Connected { info, .. }
        | Event::Disconnected { info, .. }
        | Event::DialFailed { info, .. }
        | Event::Ended { info, .. } => Some(info.id),
        _ => None,
    }
}

/// The invariant checker's memory.
#[derive(Debug)]
pub(crate) struct Checker {
    /// Each automatic class's target, by class index.
    targets: Vec<u32>,
    max_per_netgroup: Option<u32>,
    netgroup: NetGroupFn,
    max_manual: u32,
    max_probes: u32,
    seen: HashSet<ConnId>,
    max_seen: u64,
    ended: HashSet<ConnId>,
    connected: HashMap<ConnId, (IoKey, ConnClass)>,
    auto_connected: u32,
    inbound: HashSet<InboundId>,
    inbound_seen: HashSet<InboundId>,
    /// Each change of the number of established automatic connections: (time, count).
    pub(crate) auto_history: Vec<(Duration, u32)>,
}

impl Checker {
    /// A checker for a core with this target.
    pub(crate) fn new(config: &Config) -> Self {
        let mut targets = vec![config.target_outbound];
        targets.extend(config.outbound.classes.iter().map(|c| c.target));
        Checker {
            targets,
            max_per_netgroup: config.outbound.max_per_netgroup,
            netgroup: config.netgroup.clone(),
            max_manual: config.outbound.max_manual.unwrap_or(u32::MAX),
            max_probes: config.outbound.max_probes,
            seen: HashSet::new(),
            max_seen: 0,
            ended: HashSet::new(),
            connected: HashMap::new(),
            auto_connected: 0,
            inbound: HashSet::new(),
            inbound_seen: HashSet::new(),
            auto_history: vec![(Duration::ZERO, 0)],
        }
    }

    /// Connections established now, according to the events.
    pub(crate) fn connected_now(&self) -> usize {
        self.connected.len()
    }

    /// Inbound connections open now, according to the events.
    pub(crate) fn inbound_now(&self) -> usize {
        self.inbound.len()
    }

    /// The user took an inbound connection: the core forgets it without an event.
    pub(crate) fn detached(&mut self, id: InboundId) {
        self.inbound.remove(&id);
    }

    /// Ids that have ended.
    pub(crate) fn ended_count(&self) -> usize {
        self.ended.len()
    }

    /// Checks one step: the events it produced, then the core's state after it.
    pub(crate) fn step(&mut self, at: Duration, core: &Core, new_events: &[Logged], sockets: &Sockets) {
        let max_before = self.max_seen;
        let mut new_ids = Vec::new();
        for logged in new_events {
            let event = &logged.event;
            match event {
                Event::Accepted { id, .. } => {
                    assert!(self.inbound_seen.insert(*id), "at {at:?}: inbound id {id} accepted twice");
                    self.inbound.insert(*id);
                }
                Event::InboundClosed { id, .. } => {
                    assert!(self.inbound.remove(id), "at {at:?}: inbound {id} closed but not open");
                }
                _ => {}
            }
            let Some(id) = event_id(event) else { continue };
            assert!(!self.ended.contains(&id), "at {at:?}: event after Ended for request {id}: {event:?}");
            if self.seen.insert(id) {
                new_ids.push(id);
            }
            match event {
                Event::Connected { info, io } => {
                    let socket = sockets.get(*io).unwrap_or_else(|| panic!("at {at:?}: Connected with unknown socket"));
                    assert_eq!(
                        socket.owner,
                        Some(Peer::Outbound(id)),
                        "at {at:?}: Connected for {id} names another socket"
                    );
                    assert!(socket.closed.is_none(), "at {at:?}: Connected for {id} names a closed socket");
                    let again = self.connected.insert(id, (*io, info.class));
                    assert!(again.is_none(), "at {at:?}: second Connected for {id} without a Disconnected");
                    if info.is_automatic() {
                        self.auto_connected += 1;
                    }
                }
                Event::Disconnected { info, .. } => {
                    let was = self.connected.remove(&id);
                    assert!(was.is_some(), "at {at:?}: Disconnected for {id}, which was not connected");
                    if info.is_automatic() {
                        self.auto_connected -= 1;
                    }
                }
                Event::DialFailed { .. } => {
                    assert!(!self.connected.contains_key(&id), "at {at:?}: DialFailed for connected {id}");
                }
                Event::Ended { state, .. } => {
                    assert!(state.is_terminal(), "at {at:?}: {id} ended in live state {state:?}");
                    assert!(!self.connected.contains_key(&id), "at {at:?}: {id} ended while connected");
                    self.ended.insert(id);
                }
                _ => {}
            }
        }

        let mut live = HashSet::new();
        let mut auto_established = 0;
        let mut established = HashSet::new();
        let mut per_class = vec![0u32; self.targets.len()];
        let mut per_group: HashMap<NetGroup, u32> = HashMap::new();
        let (mut manual, mut probes) = (0, 0);
        for (info, state) in core.requests() {
            match info.class {
                ConnClass::Manual => manual += 1,
                ConnClass::Probe(_) => probes += 1,
                ConnClass::Automatic(_) => {}
            }
            assert!(live.insert(info.id), "at {at:?}: two live requests with id {}", info.id);
            assert!(!self.ended.contains(&info.id), "at {at:?}: ended request {} is live again", info.id);
            if self.seen.insert(info.id) {
                new_ids.push(info.id);
            }
            if state == ConnState::Established {
                established.insert(info.id);
                if let ConnClass::Automatic(class) = info.class {
                    auto_established += 1;
                    per_class[class.index()] += 1;
                    if let Some(addr) = info.target.as_ref().and_then(Target::ip) {
                        *per_group.entry(self.netgroup.group(addr.ip())).or_default() += 1;
                    }
                }
            }
        }
        for (class, (&n, &target)) in per_class.iter().zip(&self.targets).enumerate() {
            assert!(n <= target, "at {at:?}: {n} established in class {class}, over its target {target}");
        }
        if let Some(max) = self.max_per_netgroup {
            for (group, &n) in &per_group {
                assert!(n <= max, "at {at:?}: {n} automatic connections in {group}, over {max}");
            }
        }
        assert!(manual <= self.max_manual, "at {at:?}: {manual} manual requests, over {}", self.max_manual);
        assert!(probes <= self.max_probes, "at {at:?}: {probes} probes, over {}", self.max_probes);
        assert_eq!(live.len(), core.live_requests(), "at {at:?}: live_requests() disagrees with requests()");
        for id in &new_ids {
            assert!(id.get() > max_before, "at {at:?}: new id {id} is not above every earlier id ({max_before})");
        }
        self.max_seen = self.max_seen.max(new_ids.iter().map(|id| id.get()).max().unwrap_or(0));
        assert_eq!(core.ids().last(), self.max_seen, "at {at:?}: an issued id was never seen");
        assert_eq!(self.seen.len() as u64, self.max_seen, "at {at:?}: ids have a gap");

        let from_events: HashSet<ConnId> = self.connected.keys().copied().collect();
        assert_eq!(established, from_events, "at {at:?}: established requests disagree with the events");
        assert_eq!(auto_established, self.auto_connected, "at {at:?}: automatic count disagrees with the events");

        if self.auto_history.last().map(|&(_, n)| n) != Some(auto_established) {
            self.auto_history.push((at, auto_established));
        }
    }
}
