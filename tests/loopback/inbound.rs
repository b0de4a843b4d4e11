//! Inbound connections on real loopback sockets: accepts reach `on_accept` with the client's
//! address, data is readable in `on_ready`, hang-ups are closed and reported once, and
//! `max_inbound` rejects and re-admits (btcd's S15 and S16, and D12, on real sockets).

use crate::support;

use std::io::Read;
use std::net::SocketAddr;
use std::time::Duration;

use crate::support::Recorder;
use connmgr::{Config, ConnectOptions, Ctx, DisconnectReason, Handler, InboundId, Manager, Peer};

fn listening(max_inbound: Option<u32>) -> Config {
    Config { target_outbound: 0, max_inbound, listeners: vec![support::localhost()], ..Config::default() }
}

#[test]
fn accepts_reach_on_accept_with_the_remote_address_and_data_reaches_on_ready() {
    let mut m = Manager::new(listening(None), Recorder::new().reading()).unwrap();
    let addr = m.reactor().local_addrs()[0];
    assert_ne!(addr.port(), 0, "local_addrs reports the bound port");
    let mut client = support::connect(addr);
    support::send(&mut client, b"ping");

    support::turn_until(&mut m, "the data", |m| {
        m.reactor()
            .handler()
            .accepted()
            .first()
            .is_some_and(|&(id, _)| m.reactor().handler().data(Peer::Inbound(id)) == b"ping")
    });
    let (id, remote) = m.reactor().handler().accepted()[0];
    assert_eq!(remote, client.local_addr().unwrap(), "on_accept gets the client's address");
    let c = m.counters();
    assert_eq!((c.accepted, c.inbound, c.rejected_inbound), (1, 1, 0));

    drop(client);
    support::turn_until(&mut m, "the close", |m| !m.reactor().handler().inbound_closed().is_empty());
    assert_eq!(m.reactor().handler().inbound_closed(), [(id, DisconnectReason::RemoteClosed)]);
    assert_eq!(m.counters().inbound, 0, "the slot is released");
    m.stop().unwrap();
    assert_eq!(m.reactor().handler().inbound_closed().len(), 1, "reported once, not again at shutdown");
}

#[test]
fn the_default_on_ready_closes_an_inbound_connection_the_peer_hung_up() {
    #[derive(Default)]
    struct Defaults {
        accepted: Vec<(InboundId, SocketAddr)>,
        closed: Vec<(InboundId, DisconnectReason)>,
    }
    impl Handler for Defaults {
        fn on_accept(&mut self, _: &mut Ctx<'_>, id: InboundId, remote: SocketAddr) {
            self.accepted.push((id, remote));
        }
        fn on_inbound_closed(&mut self, _: &mut Ctx<'_>, id: InboundId, reason: &DisconnectReason) {
            self.closed.push((id, reason.clone()));
        }
    }
    let mut m = Manager::new(listening(None), Defaults::default()).unwrap();
    let client = support::connect(m.reactor().local_addrs()[0]);
    let local = client.local_addr().unwrap();
    support::turn_until(&mut m, "the accept", |m| !m.reactor().handler().accepted.is_empty());
    assert_eq!(m.reactor().handler().accepted[0].1, local);
    drop(client);
    support::turn_until(&mut m, "the close", |m| !m.reactor().handler().closed.is_empty());
    support::turn_for(&mut m, Duration::from_millis(50));
    let id = m.reactor().handler().accepted[0].0;
    assert_eq!(m.reactor().handler().closed, [(id, DisconnectReason::RemoteClosed)]);
    assert_eq!(m.reactor().sockets(), 1, "only the listener is left");
}

#[test]
fn a_client_that_connects_writes_and_closes_before_the_accept_is_still_read_and_closed() {
    // Readiness already there when the accepted socket is registered must be reported.
    let mut m = Manager::new(listening(None), Recorder::new().reading()).unwrap();
    let mut client = support::connect(m.reactor().local_addrs()[0]);
    support::send(&mut client, b"all at once");
    drop(client);
    support::turn_until(&mut m, "the close", |m| !m.reactor().handler().inbound_closed().is_empty());
    let (id, _) = m.reactor().handler().accepted()[0];
    assert_eq!(m.reactor().handler().data(Peer::Inbound(id)), b"all at once");
    assert_eq!(m.reactor().handler().inbound_closed(), [(id, DisconnectReason::RemoteClosed)]);
}

/// btcd `TestListenerInboundLimit` (S16), on real sockets.
#[test]
fn max_inbound_rejects_the_next_socket_and_readmits_after_one_closes() {
    let mut m = Manager::new(listening(Some(1)), Recorder::new()).unwrap();
    let addr = m.reactor().local_addrs()[0];
    let first = support::connect(addr);
    support::turn_until(&mut m, "the first accept", |m| m.reactor().handler().accepted().len() == 1);

    let mut second = support::connect(addr);
    support::turn_until(&mut m, "the rejection", |m| m.counters().rejected_inbound == 1);
    assert!(support::read_to_eof(&mut second).is_empty(), "a rejected socket is closed at once");
    support::turn_for(&mut m, Duration::from_millis(50));
    assert_eq!(m.reactor().handler().accepted().len(), 1, "no on_accept for the rejected socket");
    assert_eq!(m.counters().rejected_inbound, 1, "rejected exactly once");
    assert_eq!(m.counters().inbound, 1);

    drop(first);
    support::turn_until(&mut m, "the first one's close", |m| m.reactor().handler().inbound_closed().len() == 1);
    let third = support::connect(addr);
    support::turn_until(&mut m, "the third accept", |m| m.reactor().handler().accepted().len() == 2);
    assert_eq!(m.reactor().handler().accepted()[1].1, third.local_addr().unwrap());
    let c = m.counters();
    assert_eq!((c.accepted, c.rejected_inbound, c.inbound), (2, 1, 1));
}

/// btcd `TestInboundLimitDisabled` (S3), on real sockets.
#[test]
fn max_inbound_zero_rejects_every_socket() {
    let mut m = Manager::new(listening(Some(0)), Recorder::new()).unwrap();
    let addr = m.reactor().local_addrs()[0];
    let mut clients: Vec<_> = (0..3).map(|_| support::connect(addr)).collect();
    support::turn_until(&mut m, "three rejections", |m| m.counters().rejected_inbound == 3);
    for client in &mut clients {
        assert!(support::read_to_eof(client).is_empty());
    }
    assert!(m.reactor().handler().accepted().is_empty());
    assert_eq!(m.counters().accepted, 0);
}

#[test]
fn a_rejected_client_that_had_sent_data_sees_its_connection_end() {
    // A socket closed with unread data sends a reset instead of a FIN; either way the client
    // learns that it is gone.
    let mut m = Manager::new(listening(Some(0)), Recorder::new()).unwrap();
    let mut client = support::connect(m.reactor().local_addrs()[0]);
    support::send(&mut client, b"version");
    support::turn_until(&mut m, "the rejection", |m| m.counters().rejected_inbound == 1);
    let mut buf = [0u8; 16];
    match client.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("expected EOF or reset, got {other:?}"),
    }
}

/// btcd `TestListeners` (S15), on real sockets; stop closes both listeners (D12 as ours).
#[test]
fn two_listeners_feed_on_accept_then_stop_closes_both() {
    let config = Config { listeners: vec![support::localhost(), support::localhost()], ..listening(None) };
    let recorder = Recorder::new()
        .stop_when(|evs| evs.iter().filter(|(_, e)| matches!(e, support::Ev::Accepted(..))).count() == 4);
    let mut m = Manager::new(config, recorder).unwrap();
    let addrs = m.reactor().local_addrs();
    assert_eq!(addrs.len(), 2);
    assert_ne!(addrs[0], addrs[1]);
    let clients: Vec<_> = [addrs[0], addrs[0], addrs[1], addrs[1]].into_iter().map(support::connect).collect();

    support::run_to_stop(&mut m); // the handler stops after the fourth accept; `run` returns
    let mut remotes: Vec<SocketAddr> = m.reactor().handler().accepted().into_iter().map(|(_, r)| r).collect();
    let mut locals: Vec<SocketAddr> = clients.iter().map(|c| c.local_addr().unwrap()).collect();
    remotes.sort();
    locals.sort();
    assert_eq!(remotes, locals, "each client accepted once");
    assert_eq!(m.reactor().sockets(), 0);
    assert!(m.reactor().local_addrs().is_empty());
    // D12 as ours: the listeners are closed by stop.
    for addr in addrs {
        support::assert_refused(addr);
    }
    // The accepted connections were closed and reported as shutdown.
    assert_eq!(m.reactor().handler().inbound_closed().len(), 4);
    assert!(m.reactor().handler().inbound_closed().iter().all(|(_, reason)| *reason == DisconnectReason::Shutdown));
    for mut client in clients {
        assert!(support::read_to_eof(&mut client).is_empty());
    }
}

#[test]
fn close_from_the_handler_ends_an_inbound_connection_with_its_reason() {
    struct Kick {
        closed: Vec<(InboundId, DisconnectReason)>,
    }
    impl Handler for Kick {
        fn on_accept(&mut self, ctx: &mut Ctx<'_>, id: InboundId, _: SocketAddr) {
            ctx.close(Peer::Inbound(id), DisconnectReason::protocol("go away")).unwrap();
        }
        fn on_inbound_closed(&mut self, _: &mut Ctx<'_>, id: InboundId, reason: &DisconnectReason) {
            self.closed.push((id, reason.clone()));
        }
    }
    let mut m = Manager::new(listening(Some(1)), Kick { closed: vec![] }).unwrap();
    let addr = m.reactor().local_addrs()[0];
    let mut a = support::connect(addr);
    let mut b = support::connect(addr);
    support::turn_until(&mut m, "two closes", |m| m.reactor().handler().closed.len() == 2);
    assert!(m.reactor().handler().closed.iter().all(|(_, r)| *r == DisconnectReason::protocol("go away")));
    // The slot freed by the first close admitted the second: nothing was rejected.
    assert_eq!(m.counters().rejected_inbound, 0);
    assert_eq!(m.counters().accepted, 2);
    assert!(support::read_to_eof(&mut a).is_empty());
    assert!(support::read_to_eof(&mut b).is_empty());
}

#[test]
fn ipv6_loopback_listeners_accept_too() {
    let Ok(probe) = std::net::TcpListener::bind("[::1]:0") else {
        eprintln!("no IPv6 loopback here; skipped");
        return;
    };
    drop(probe);
    let config = Config { listeners: vec!["[::1]:0".parse().unwrap()], ..listening(None) };
    let mut m = Manager::new(config, Recorder::new()).unwrap();
    let addr = m.reactor().local_addrs()[0];
    assert!(addr.is_ipv6());
    let client = support::connect(addr);
    support::turn_until(&mut m, "the accept", |m| m.reactor().handler().accepted().len() == 1);
    assert_eq!(m.reactor().handler().accepted()[0].1, client.local_addr().unwrap());
    // And outbound to it.
    m.connect(addr, ConnectOptions::once()).unwrap();
    support::turn_until(&mut m, "the connection and its accept", |m| {
        m.reactor().handler().connected().len() == 1 && m.reactor().handler().accepted().len() == 2
    });
}

/// From btcd's `Start` with `Listeners` but no `OnAccept`, which no btcd test covers (scenario D12).
///
/// D12, as ours. btcd ignores its listeners when `OnAccept` is unset, yet closes them in
/// `Stop`. A connmgr handler always has `on_accept` (the default keeps the connection, owned by
/// the manager), so a handler that overrides nothing still accepts; and `stop` still closes the
/// listeners, and the connections with them.
#[test]
fn listeners_of_a_handler_that_overrides_nothing_accept_and_are_closed_by_stop() {
    struct Nothing;
    impl Handler for Nothing {}

    let config = Config { listeners: vec![support::localhost()], ..listening(None) };
    let mut m = Manager::new(config, Nothing).unwrap();
    let addr = m.reactor().local_addrs()[0];
    let mut client = support::connect(addr);
    support::turn_until(&mut m, "the accept", |m| m.counters().accepted == 1);
    assert_eq!(m.counters().inbound, 1, "the default on_accept keeps the connection");
    m.stop().unwrap();
    support::assert_refused(addr);
    assert!(support::read_to_eof(&mut client).is_empty(), "the accepted connection was closed too");
    assert_eq!(m.counters().inbound, 0);
}
