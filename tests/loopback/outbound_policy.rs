//! The outbound policy over real sockets on loopback, with peers listening on addresses in
//! several /16 netgroups (127/8 is all loopback on Linux: 127.1.0.1 and 127.2.0.1 are
//! different netgroups): diversity fills the target one netgroup at a time, a probe is closed
//! at its deadline, and a pause that closes connections is undone by resume.
//!
//! Every loop is bounded in count and time; the manager is turned until a condition holds.

use crate::support;

use std::collections::HashSet;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use crate::support::{Ev, Recorder};
use connmgr::{
    addr::NetGroup,
    outbound::{OutboundPolicy, Pause, ProbeKind},
    Config, ConnClass, ConnectOptions, DialError, DisconnectReason, Manager,
};

/// A listener on `ip`, port chosen by the kernel; kept open for the test's life.
fn listen(ip: &str) -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind((ip, 0)).unwrap_or_else(|e| panic!("bind {ip}: {e}"));
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

fn connected_now(r: &Recorder) -> Vec<connmgr::ConnInfo> {
    let mut open = Vec::new();
    for e in r.evs() {
        match e {
            Ev::Connected(i) => open.push(i.clone()),
            Ev::Disconnected(i, _) => open.retain(|o: &connmgr::ConnInfo| o.id != i.id),
            _ => {}
        }
    }
    open
}

#[test]
fn diversity_fills_the_target_from_distinct_netgroups() {
    // Two peers in 127.1/16, one each in 127.2/16 and 127.3/16; the source offers them in an
    // order that tempts a second connection into 127.1/16.
    let peers: Vec<_> = ["127.1.0.1", "127.1.0.2", "127.2.0.1", "127.3.0.1"].into_iter().map(listen).collect();
    let addrs: Vec<SocketAddr> = peers.iter().map(|(_, a)| *a).collect();
    let config = Config {
        target_outbound: 3,
        outbound: OutboundPolicy { max_per_netgroup: Some(1), ..OutboundPolicy::default() },
        ..Config::default()
    };
    let mut m = Manager::new(config, Recorder::with_addrs(addrs)).unwrap();
    support::turn_until(&mut m, "three connections", |m| connected_now(m.reactor().handler()).len() == 3);
    support::turn_for(&mut m, Duration::from_millis(100));
    let open = connected_now(m.reactor().handler());
    assert_eq!(open.len(), 3, "never more than the target");
    let groups: HashSet<_> = open.iter().map(|i| NetGroup::of(i.target.as_ref().unwrap().ip().unwrap().ip())).collect();
    assert_eq!(groups.len(), 3, "one per netgroup: {open:?}");
    let skipped = m.reactor().handler().count(|e| matches!(e, Ev::DialFailed(_, DialError::NetgroupFull, _)));
    assert!(skipped >= 1, "127.1.0.2 was skipped");
    assert_eq!(m.counters().skipped_diversity, skipped as u64);
    m.stop().unwrap();
}

#[test]
fn a_probe_is_closed_at_its_deadline_and_a_pause_closes_and_resume_reconnects() {
    let (_a, a) = listen("127.4.0.1");
    let (_b, b) = listen("127.5.0.1");
    let (_p, probe_at) = listen("127.6.0.1");
    let config = Config {
        target_outbound: 1,
        outbound: OutboundPolicy { probe_deadline: Duration::from_millis(200), ..OutboundPolicy::default() },
        ..Config::default()
    };
    let mut m = Manager::new(config, Recorder::with_addrs(vec![a])).unwrap();
    let permanent = m.connect(b, ConnectOptions::permanent()).unwrap();
    support::turn_until(&mut m, "two connections", |m| connected_now(m.reactor().handler()).len() == 2);

    let probe = m.probe(probe_at, ProbeKind::Feeler).unwrap();
    support::turn_until(&mut m, "the probe's end", |m| {
        m.reactor()
            .handler()
            .count(|e| matches!(e, Ev::Disconnected(i, DisconnectReason::ProbeDeadline) if i.id == probe))
            == 1
    });
    let info = m.reactor().handler().connected().into_iter().find(|i| i.id == probe).unwrap();
    assert_eq!(info.class, ConnClass::Probe(ProbeKind::Feeler));
    assert_eq!(m.counters().established_automatic, 1, "the probe is not automatic");

    m.pause(Pause::CloseConnections).unwrap();
    assert_eq!(m.counters().established, 0);
    assert_eq!(m.reactor().sockets(), 0, "every socket closed");
    support::turn_for(&mut m, Duration::from_millis(100));
    assert_eq!(m.counters().dials, 3, "nothing dialled while paused");
    m.resume().unwrap();
    support::turn_until(&mut m, "both back", |m| connected_now(m.reactor().handler()).len() == 2);
    assert!(connected_now(m.reactor().handler()).iter().any(|i| i.id == permanent), "the permanent request redialled");
    m.stop().unwrap();
}

/// Through a `Handle` the caps cannot be checked at the call: a probe over `max_probes` gets
/// its id, then ends at once with `DialError::LimitReached` when the reactor applies it.
#[test]
fn a_queued_probe_over_the_cap_ends_with_limit_reached() {
    let (_p, at) = listen("127.11.0.1");
    let config = Config {
        target_outbound: 0,
        outbound: OutboundPolicy { max_probes: 1, ..OutboundPolicy::default() },
        ..Config::default()
    };
    let mut m = Manager::new(config, Recorder::new()).unwrap();
    let handle = m.handle();
    let first = handle.probe(at, ProbeKind::AddrFetch).unwrap();
    let second = handle.probe(at, ProbeKind::AddrFetch).unwrap();
    support::turn_until(&mut m, "the second probe's end", |m| {
        m.reactor().handler().count(|e| matches!(e, Ev::Ended(i, connmgr::ConnState::Failed) if i.id == second)) == 1
    });
    let limited = m.reactor().handler().count(|e| {
        matches!(e, Ev::DialFailed(i, DialError::LimitReached(connmgr::outbound::Limit::Probes), connmgr::NextStep::Ended) if i.id == second)
    });
    assert_eq!(limited, 1);
    support::turn_until(&mut m, "the first probe up", |m| {
        m.reactor().handler().connected().iter().any(|i| i.id == first)
    });
    m.stop().unwrap();
}
