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
use connmgr::{Config, ConnId, DisconnectReason, Peer};

/// K automatic requests kept dialling; each cycle connects the oldest dial and closes it.
pub struct Churn {
    pub core: Core,
    pub now: Instant,
    addrs: [SocketAddr; 8],
    next_addr: usize,
    /// Dials in flight, oldest first.
    dialing: VecDeque<ConnId>,
    next_io: u64,
}

impl Churn {
    /// A started core with `k` automatic dials in flight.
    pub fn new(k: u32) -> Self {
        let now = Instant::now();
        let config = Config { target_outbound: k, capacity: k as usize, ..Config::default() };
        let core = Core::new(&config, now).expect("valid config");
        let addrs =
            std::array::from_fn(|i| SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, i as u8 + 1), 19100)));
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
                    self.next_addr = (self.next_addr + 1) % self.addrs.len();
                    self.core.address(self.now, class, Some(Ok(addr.into())));
                }
                Action::Dial { id, target, .. } => {
                    black_box(target);
                    self.next_io += 1;
                    let wanted = self.core.dial_started(id, IoKey(self.next_io));
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
