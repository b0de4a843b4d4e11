//! The node's defences over real sockets on loopback, clients bound to distinct 127.x.y.z
//! addresses (127/8 is all loopback on Linux, and 127.1.0.1 and 127.2.0.1 are different /16
//! net groups): a flood from one address against a per-IP cap, a misbehaving peer banned and
//! refused when it comes back, and a full listener evicting for a newcomer.
//!
//! Every loop is bounded in count and time; the manager is turned until a condition holds.
//! In this binary because the flood test counts the process's open descriptors: each test
//! runs alone (`crate::alone`).

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use crate::support;
use connmgr::{
    inbound::{Eviction, Observation, Protection},
    Config, Ctx, DisconnectReason, Handler, InboundId, Manager, Peer, Ready,
};
use socket2::{Domain, Socket, Type};

const LIMIT: Duration = Duration::from_secs(20);

/// Counts accepts, reads inbound bytes, and calls a peer that sends `bad` a misbehaver.
#[derive(Default)]
struct Guard {
    accepted: Vec<(InboundId, SocketAddr)>,
    closed: Vec<(InboundId, DisconnectReason)>,
    slow: Option<IpAddr>,
}

impl Handler for Guard {
    fn on_accept(&mut self, ctx: &mut Ctx<'_>, id: InboundId, remote: SocketAddr) {
        self.accepted.push((id, remote));
        // The application's view of the peer, for eviction: the "slow" group pings badly.
        let slow = self.slow.is_some_and(|s| same_16(s, remote.ip()));
        let ping = if slow { 300 } else { 10 + self.accepted.len() as u64 };
        ctx.observe(Peer::Inbound(id), Observation::Ping(Duration::from_millis(ping))).unwrap();
    }

    fn on_inbound_closed(&mut self, _ctx: &mut Ctx<'_>, id: InboundId, reason: &DisconnectReason) {
        self.closed.push((id, reason.clone()));
    }

    fn on_ready(&mut self, ctx: &mut Ctx<'_>, peer: Peer, ready: Ready) {
        let mut buf = [0_u8; 16];
        if let Some(Ok(n @ 1..)) = ctx.stream(peer).map(|s| s.read(&mut buf)) {
            if &buf[..n] == b"bad" {
                ctx.misbehaving(peer, 101, 0, "sent garbage").unwrap();
                return;
            }
        }
        ctx.close_if_hung_up(peer, ready);
    }
}

fn same_16(a: IpAddr, b: IpAddr) -> bool {
    connmgr::addr::NetGroup::of(a) == connmgr::addr::NetGroup::of(b)
}

fn manager(config: Config, guard: Guard) -> Manager<Guard> {
    let config = Config { target_outbound: 0, listeners: vec!["127.0.0.1:0".parse().unwrap()], ..config };
    let mut m = Manager::new(config, guard).unwrap();
    m.reactor_mut().start();
    m
}

fn drive(m: &mut Manager<Guard>, what: &str, done: impl Fn(&Manager<Guard>) -> bool) {
    support::turn_until_within(m, LIMIT, what, done);
}

/// A blocking client connected from `from` (port chosen by the kernel).
fn client(from: &str, to: SocketAddr) -> TcpStream {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.bind(&SocketAddr::new(from.parse().unwrap(), 0).into()).unwrap();
    socket.connect_timeout(&to.into(), LIMIT).unwrap();
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(LIMIT)).unwrap();
    stream
}

/// Whether the manager closed this client (end of stream or reset).
fn closed_by_manager(stream: &mut TcpStream) -> bool {
    matches!(stream.read(&mut [0_u8; 1]), Ok(0) | Err(_))
}

/// Whether the manager kept this client: nothing to read, and no end of stream or reset.
fn kept_by_manager(stream: &mut TcpStream) -> bool {
    stream.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    matches!(stream.read(&mut [0_u8; 1]), Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut))
}

#[test]
fn a_flood_from_one_address_against_a_per_ip_cap_of_4_leaves_exactly_4() {
    let _alone = crate::alone();
    let config =
        Config { protection: Protection { max_per_ip: Some(4), ..Protection::default() }, ..Config::default() };
    let mut m = manager(config, Guard::default());
    let listen = m.reactor().local_addrs()[0];
    let fds_before = support::open_fds();
    let mut kept = Vec::new();
    for batch in 0..20 {
        // 50 at a time, within the listen backlog; each refused one is closed by the manager.
        let clients: Vec<TcpStream> = (0..50).map(|_| client("127.3.0.1", listen)).collect();
        let seen = 50 * (batch + 1);
        drive(&mut m, "the batch handled", |m| {
            let c = m.counters();
            (c.accepted + c.rejected_per_ip) as usize == seen
        });
        kept.extend(clients.into_iter().filter_map(|mut c| kept_by_manager(&mut c).then_some(c)));
    }
    let c = m.counters();
    assert_eq!((c.accepted, c.rejected_per_ip, c.inbound), (4, 996, 4));
    assert_eq!(m.reactor().handler().accepted.len(), 4, "refused sockets never reach the handler");
    assert_eq!(kept.len(), 4, "exactly the 4 admitted clients are still connected");
    // The manager holds the 4 admitted sockets; the 4 clients are ours. Nothing else leaked.
    assert_eq!(support::open_fds(), fds_before + 4 + 4);
    drop(kept);
    drive(&mut m, "the admitted ones closed", |m| m.counters().inbound == 0);
    assert_eq!(support::open_fds(), fds_before);
}

#[test]
fn a_misbehaving_peer_is_banned_and_its_reconnect_is_closed_before_on_accept() {
    let _alone = crate::alone();
    let mut m = manager(Config::default(), Guard::default());
    let listen = m.reactor().local_addrs()[0];
    let mut bad = client("127.4.0.1", listen);
    drive(&mut m, "the accept", |m| m.reactor().handler().accepted.len() == 1);
    bad.write_all(b"bad").unwrap();
    drive(&mut m, "the ban", |m| m.counters().bans == 1);
    assert!(closed_by_manager(&mut bad));
    assert_eq!(m.reactor().handler().closed[0].1, DisconnectReason::Banned);
    let bans = m.bans();
    assert_eq!(bans.len(), 1);
    assert_eq!(bans[0].0, connmgr::inbound::Subnet::single("127.4.0.1".parse().unwrap()));

    let mut again = client("127.4.0.1", listen);
    drive(&mut m, "the refusal", |m| m.counters().rejected_banned == 1);
    assert!(closed_by_manager(&mut again));
    assert_eq!(m.reactor().handler().accepted.len(), 1, "on_accept never ran for the banned host");
    let mut other = client("127.4.0.2", listen);
    drive(&mut m, "another host", |m| m.reactor().handler().accepted.len() == 2);
    assert!(kept_by_manager(&mut other), "another host is still welcome");
}

#[test]
fn a_full_listener_admits_a_new_netgroup_by_evicting_the_youngest_of_the_crowded_one() {
    let _alone = crate::alone();
    let slow: IpAddr = "127.99.0.1".parse().unwrap();
    let protection = Protection { eviction: Some(Eviction::bitcoin_core()), ..Protection::default() };
    let config = Config { max_inbound: Some(32), protection, random_seed: Some(2), ..Config::default() };
    let mut m = manager(config, Guard { slow: Some(slow), ..Guard::default() });
    let listen = m.reactor().local_addrs()[0];
    let mut clients = Vec::new();
    // 22 diverse peers, one per /16, then 10 from one /16, each accepted before the next.
    let froms: Vec<String> =
        (0..22).map(|i| format!("127.{}.0.1", 10 + i)).chain((1..=10).map(|i| format!("127.99.0.{i}"))).collect();
    for (n, from) in froms.iter().enumerate() {
        clients.push(client(from, listen));
        drive(&mut m, "each accept", |m| m.reactor().handler().accepted.len() == n + 1);
    }
    let crowded: Vec<InboundId> = m.reactor().handler().accepted[22..].iter().map(|&(id, _)| id).collect();
    let mut newcomer = client("127.200.0.1", listen);
    drive(&mut m, "the newcomer", |m| m.reactor().handler().accepted.len() == 33);
    let (evicted, why) = m.reactor().handler().closed[0].clone();
    assert_eq!(why, DisconnectReason::Evicted);
    assert!(crowded.contains(&evicted), "{evicted} is not of the crowded /16");
    // With this seed the secret-keyed protection keeps no member of the crowded /16 (with some
    // keys it keeps a few, and the youngest unprotected one goes: see tests/protection.rs).
    assert_eq!(evicted, *crowded.last().unwrap(), "the youngest of the crowded /16");
    assert_eq!((m.counters().evicted, m.counters().inbound), (1, 32));
    assert!(kept_by_manager(&mut newcomer), "the newcomer is kept");
}
