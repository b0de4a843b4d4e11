//! No file descriptor outlives its use: count `/proc/self/fd` before and after a manager's whole
//! life with refused, timed-out, connected-then-closed and in-flight dials, accepted and
//! rejected inbound connections, and a stop.
//!
//! It runs alone (`crate::alone`), on purpose: the tests of one binary share the process, and any
//! other test opening sockets in parallel would disturb the count.

use crate::support;

use std::time::Duration;

use crate::support::{Ev, Recorder};
use connmgr::{Config, ConnState, ConnectOptions, DisconnectReason, Manager};

#[test]
#[cfg(target_os = "linux")]
fn a_managers_whole_life_leaves_no_descriptor_behind() {
    let _alone = crate::alone();
    let before = support::open_fds();
    {
        let (listener, addr) = support::listener();
        let hole = support::BlackHole::new();
        let refused = support::refused_addr();
        let config = Config {
            target_outbound: 0,
            retry_duration: Duration::from_millis(20),
            max_retry_duration: Duration::from_millis(40),
            connect_timeout: Duration::from_millis(100),
            max_inbound: Some(2),
            listeners: vec![support::localhost()],
            ..Config::default()
        };
        let mut m = Manager::new(config, Recorder::new()).unwrap();
        let handle = m.handle();
        let local = m.reactor().local_addrs()[0];

        // Refused, retried: a permanent request, removed after five failures.
        let retried = m.connect(refused, ConnectOptions::permanent()).unwrap();
        // Timed out: two one-shot dials into a full accept queue.
        m.connect(hole.addr, ConnectOptions::once()).unwrap();
        m.connect(hole.addr, ConnectOptions::once()).unwrap();
        // Still in flight at stop.
        m.connect(hole.addr, ConnectOptions::once().connect_timeout(Duration::from_secs(60))).unwrap();
        // Connected then closed by the peer (three), and one still established at stop.
        for _ in 0..4 {
            m.connect(addr, ConnectOptions::once()).unwrap();
        }
        // Inbound: three clients against max_inbound 2: two accepted, one rejected.
        let mut clients: Vec<_> = (0..3).map(|_| support::connect(local)).collect();

        support::turn_until(&mut m, "connections, accepts and the rejection", |m| {
            m.reactor().handler().connected().len() == 4
                && m.counters().accepted == 2
                && m.counters().rejected_inbound == 1
        });
        let mut peers: Vec<_> = (0..4).map(|_| support::accept(&listener)).collect();
        peers.truncate(1); // three peers hang up
        clients.remove(0); // one accepted client hangs up (or the rejected one: the count holds either way)
        support::turn_until(&mut m, "failures, timeouts and closes", |m| {
            let h = m.reactor().handler();
            h.count(|e| matches!(e, Ev::DialFailed(i, ..) if i.id == retried)) >= 5
                && m.counters().failed_timed_out == 2
                && h.disconnections().iter().filter(|d| d.1 == DisconnectReason::RemoteClosed).count() == 3
        });
        assert_eq!(m.remove(retried), Ok(()));
        assert_eq!(m.state(retried), Some(ConnState::Canceled));
        // A handle keeps nothing open either.
        let once = handle.connect(refused, ConnectOptions::once()).unwrap();
        support::turn_until(&mut m, "the handle's dial", |m| {
            m.reactor().handler().ended().iter().any(|(i, _)| i.id == once)
        });

        m.stop().unwrap();
        assert_eq!(m.reactor().sockets(), 0);
        assert!(m.counters().dials >= 13);
        drop((m, handle, clients, peers, listener, hole));
    }
    assert_eq!(support::open_fds(), before, "descriptors leaked");
}
