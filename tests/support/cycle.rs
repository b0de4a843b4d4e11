//! A sans-IO churn driver for the core alone, on simulated time: the I/O layer's side of a
//! connect -> established -> close -> replacement cycle, with no socket and no clock.
//!
//! Shared by `tests/alloc_free.rs` and `benches/core.rs` (included with `#[path]`). Every
//! buffer is allocated in `new`, so whatever allocates in `cycle` is the core's.

use std::collections::VecDeque;
use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use connmgr::core::{Action, Core, IoKey};
use connmgr::{
    outbound::{Backoff, Jitter, OfflineDetection, OutboundClass, OutboundPolicy},
    Config, ConnId, DisconnectReason, Peer,
};

/// K automatic requests kept dialling; each cycle connects the oldest dial and closes it.
pub struct Churn {
    pub core: Core,
    pub now: Instant,
    /// One address per /16, more than are ever in use at once, so diversity never skips.
    addrs: Vec<SocketAddr>,
    next_addr: usize,
    /// Dials in flight, oldest first.
    dialing: VecDeque<ConnId>,
    next_io: u64,
}

impl Churn {
    /// A started core with `k` automatic dials in flight.
    pub fn new(k: u32) -> Self {
        Self::with_policy(k, OutboundPolicy::default())
    }

    /// Every outbound rule on: two classes (the second a quarter of the dials), one automatic
    /// connection per netgroup, exponential backoff with jitter, the stable rule, failure
    /// memory and offline detection.
    pub fn with_every_rule(k: u32) -> Self {
        let policy = OutboundPolicy {
            classes: vec![OutboundClass { name: "block-relay", target: k / 4 }],
            max_per_netgroup: Some(1),
            backoff: Backoff::Exponential(Jitter::Full),
            stable_after: Some(Duration::from_secs(60)),
            failure_window: Some(Duration::from_secs(600)),
            offline: Some(OfflineDetection::default()),
            ..OutboundPolicy::default()
        };
        Self::with_policy(k - k / 4, policy)
    }

    fn with_policy(k: u32, outbound: OutboundPolicy) -> Self {
        let now = Instant::now();
        let extra: u32 = outbound.classes.iter().map(|c| c.target).sum();
        let config = Config { target_outbound: k, capacity: (k + extra) as usize, outbound, ..Config::default() };
        let k = k + extra;
        let core = Core::new(&config, now).expect("valid config");
        let addrs = (0..2 * k as usize + 8)
            .map(|i| SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(10 + (i / 256) as u8, i as u8, 0, 1), 19100)))
            .collect();
        let mut churn =
            Churn { core, now, addrs, next_addr: 0, dialing: VecDeque::with_capacity(2 * k as usize + 8), next_io: 0 };
        churn.core.start(now);
        churn.drain();
        assert_eq!(churn.dialing.len(), k as usize, "start must put K dials in flight");
        churn
    }

    /// Performs every queued action, as the reactor would.
    fn drain(&mut self) {
        while let Some(action) = self.core.poll_action() {
            match action {
                Action::NeedAddress { class } => {
                    let addr = self.addrs[self.next_addr];
                    // No division: it would cost the driver more than some of the core's steps.
                    self.next_addr += 1;
                    if self.next_addr == self.addrs.len() {
                        self.next_addr = 0;
                    }
                    self.core.address(self.now, class, Some(Ok(addr.into())));
                }
                Action::Dial { id, target, .. } => {
                    black_box(target);
                    self.next_io += 1;
                    let wanted = self.core.dial_started(id, IoKey::from(self.next_io));
                    assert!(wanted, "a fresh dial is wanted");
                    self.dialing.push_back(id);
                }
                Action::Close { io } => {
                    black_box(io);
                }
                Action::ResumeAccept { .. } => {}
                Action::Event(event) => {
                    black_box(&event);
                }
                other => panic!("an action the churn driver does not know: {other:?}"),
            }
        }
    }

    /// One full cycle, 13 us of simulated time (about one connection's worth at raw loopback
    /// speed): the oldest dial connects, the handler closes it (`Core::close`, the churn path),
    /// a replacement is asked for, gets an address and dials; then timers are checked, as the
    /// reactor does on every turn.
    pub fn cycle(&mut self) {
        self.now += Duration::from_micros(13);
        let id = self.dialing.pop_front().expect("K dials in flight");
        let connected = self.core.dial_succeeded(self.now, id);
        assert!(connected, "the dial is live");
        self.drain();
        self.core.close(self.now, Peer::Outbound(id), DisconnectReason::Requested).expect("established");
        self.drain();
        self.core.handle_timeout(self.now);
        self.drain();
    }

    /// Dials in flight.
    pub fn in_flight(&self) -> usize {
        self.dialing.len()
    }
}
