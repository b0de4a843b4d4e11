//! The sharded manager over loopback, with 1, 2 and 4 shards and several seeds: the global
//! rules hold across shards (the automatic target reached and never exceeded, the dial limit,
//! `max_inbound` and the per-host cap, bans on every shard), ids never collide and name their
//! shard, every request ends exactly once, nothing is left after stop, and handles racing a stop
//! never hang. Every run is bounded by a deadline; all traffic stays on 127.0.0.0/8.
#![cfg(feature = "shards")]

#[path = "../support/mod.rs"]
mod support;

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use connmgr::{
    inbound::{Protection, Subnet},
    shards::{Accept, ShardedManager},
    AddressError, Config, ConnId, ConnInfo, ConnState, ConnectOptions, Ctx, DisconnectReason, Handler, InboundId,
    OpError, Peer, Target,
};
use socket2::{Domain, Socket, Type};

const LIMIT: Duration = Duration::from_secs(20);

fn deadline() -> Instant {
    Instant::now() + LIMIT
}

/// A listener with a deep backlog whose connections nobody accepts: the handshake completes in
/// the kernel, and the peer never closes first (only our side does).
fn holder(ip: Ipv4Addr) -> (TcpListener, SocketAddr) {
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    s.bind(&SocketAddr::from((ip, 0)).into()).unwrap();
    s.listen(4096).unwrap();
    let l: TcpListener = s.into();
    let addr = l.local_addr().unwrap();
    (l, addr)
}

/// A small deterministic generator, one per shard and seed.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// What every shard's handler shares.
#[derive(Default)]
struct Shared {
    /// Automatic connections established and not yet closed by us: raised in `on_connection`,
    /// lowered before `ctx.close`, so it never counts more than the manager holds.
    live: AtomicU32,
    max_live: AtomicU32,
    over: AtomicBool,
    connected: AtomicU64,
    ids: Mutex<HashSet<ConnId>>,
    ended: Mutex<HashMap<ConnId, u32>>,
    wrong_shard: AtomicBool,
}

struct Churner {
    shard: usize,
    shards: usize,
    target: u32,
    peer: SocketAddr,
    stop_after: u64,
    rng: Lcg,
    shared: Arc<Shared>,
}

impl Handler for Churner {
    fn new_address(&mut self, _class: connmgr::ClassId) -> Option<Result<Target, AddressError>> {
        Some(Ok(self.peer.into()))
    }

    fn on_connection(&mut self, ctx: &mut Ctx<'_>, conn: &ConnInfo) {
        let s = &self.shared;
        let live = s.live.fetch_add(1, Ordering::SeqCst) + 1;
        s.max_live.fetch_max(live, Ordering::SeqCst);
        if live > self.target {
            s.over.store(true, Ordering::SeqCst);
        }
        if (conn.id.get() - 1) % self.shards as u64 != self.shard as u64 {
            s.wrong_shard.store(true, Ordering::SeqCst);
        }
        assert!(s.ids.lock().unwrap().insert(conn.id), "id {} connected twice", conn.id);
        if s.connected.fetch_add(1, Ordering::SeqCst) + 1 >= self.stop_after {
            let _ = ctx.stop();
            return;
        }
        // Close some at once, and always when the manager is full, so the run keeps churning.
        if live == self.target || self.rng.below(3) == 0 {
            s.live.fetch_sub(1, Ordering::SeqCst);
            support::queued(ctx.close(Peer::Outbound(conn.id), DisconnectReason::Requested));
        }
    }

    fn on_disconnection(&mut self, _ctx: &mut Ctx<'_>, _conn: &ConnInfo, reason: &DisconnectReason) {
        if *reason == DisconnectReason::Shutdown {
            self.shared.live.fetch_sub(1, Ordering::SeqCst);
        }
    }

    fn on_request_ended(&mut self, _ctx: &mut Ctx<'_>, conn: &ConnInfo, _state: ConnState) {
        *self.shared.ended.lock().unwrap().entry(conn.id).or_default() += 1;
    }
}

#[test]
fn the_global_target_is_reached_never_exceeded_and_every_request_ends_once() {
    let (_peer, addr) = holder(Ipv4Addr::LOCALHOST);
    for shards in [1, 2, 4] {
        for seed in [1u64, 7, 42] {
            let target = 3 + (seed % 5) as u32 + shards as u32; // not a multiple of every count
            let shared = Arc::new(Shared::default());
            let config = Config { target_outbound: target, ..Config::default() };
            let mut m = ShardedManager::new(config, shards, |shard| Churner {
                shard,
                shards,
                target,
                peer: addr,
                stop_after: 300,
                rng: Lcg(seed * 1000 + shard as u64),
                shared: Arc::clone(&shared),
            })
            .unwrap();
            assert!(m.run_until(deadline()).unwrap(), "{shards} shards, seed {seed}: did not stop in time");
            let what = format!("{shards} shards, seed {seed}, target {target}");
            assert!(!shared.over.load(Ordering::SeqCst), "{what}: more than the target at once");
            assert_eq!(shared.max_live.load(Ordering::SeqCst), target, "{what}: the target was never reached");
            assert!(!shared.wrong_shard.load(Ordering::SeqCst), "{what}: an id on a shard that does not own it");
            let ids = shared.ids.lock().unwrap();
            let ended = shared.ended.lock().unwrap();
            assert!(ids.len() >= 300, "{what}: {} connections", ids.len());
            assert!(ids.iter().all(|id| ended.get(id) == Some(&1)), "{what}: a connected request did not end once");
            assert!(ended.values().all(|&n| n == 1), "{what}: a request ended twice");
            let c = m.counters();
            assert_eq!((c.established, c.pending, c.in_flight), (0, 0, 0), "{what}: {c:?}");
            assert!(m.shards().iter().all(|s| s.reactor().sockets() == 0), "{what}: sockets left after stop");
            assert!(m.is_stopped());
        }
    }
}

/// A handler with nothing to do: the tests drive it through the manager and its handle.
struct Dialer;
impl Handler for Dialer {}

/// Records, in order, which shard saw each dial fail.
struct Timeouts {
    shard: usize,
    order: Arc<Mutex<Vec<usize>>>,
}

impl Handler for Timeouts {
    fn on_dial_failed(
        &mut self,
        _ctx: &mut Ctx<'_>,
        _conn: &ConnInfo,
        _error: &connmgr::DialError,
        _next: connmgr::NextStep,
    ) {
        self.order.lock().unwrap().push(self.shard);
    }
}

#[test]
fn the_dial_limit_holds_across_shards_and_shards_take_turns() {
    const DIALS: u64 = 16;
    const TIMEOUT: Duration = Duration::from_millis(300);
    let hole = support::BlackHole::new();
    for shards in [2, 4] {
        let config =
            Config { target_outbound: 0, max_dials_in_flight: Some(3), connect_timeout: TIMEOUT, ..Config::default() };
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut m = ShardedManager::new(config, shards, |shard| Timeouts { shard, order: Arc::clone(&order) }).unwrap();
        let ids: Vec<ConnId> = (0..DIALS).map(|_| m.connect(hole.addr, ConnectOptions::once()).unwrap()).collect();
        let handle = m.handle();
        let watcher = std::thread::spawn(move || {
            let end = deadline();
            let mut c = handle.counters().unwrap();
            while c.dials < 3 && Instant::now() < end {
                c = handle.counters().unwrap();
            }
            // The first round: no dial ends before the timeout, so while three dials in all
            // have started, every shard's count was read before any later start, and the sum is
            // a true count of what was in flight.
            let mut first_round = Vec::new();
            while c.dials == 3 && first_round.len() < 50 {
                first_round.push(c.in_flight);
                c = handle.counters().unwrap();
            }
            while c.failed_timed_out < DIALS && Instant::now() < end {
                c = handle.counters().unwrap();
            }
            handle.stop().unwrap();
            first_round
        });
        let start = Instant::now();
        assert!(m.run_until(deadline()).unwrap(), "{shards} shards did not stop");
        let elapsed = start.elapsed();
        let first_round = watcher.join().unwrap();
        assert!(!first_round.is_empty() && first_round.iter().all(|&n| n == 3), "{shards} shards: {first_round:?}");
        let c = m.counters();
        assert_eq!(c.failed_timed_out, DIALS, "{shards} shards: every queued dial ran, on every shard: {c:?}");
        // Three at a time in all: at least five rounds of the timeout after the first. (Three
        // per shard would take half as many.)
        assert!(elapsed >= TIMEOUT * 5, "{shards} shards: {elapsed:?}");
        assert!(ids.iter().all(|&id| m.state(id) == Some(ConnState::Failed)));
        // A freed slot goes to the next waiting shard, not back to the one that freed it: in
        // the first half of the run every shard has had its turn (or, with four shards, most).
        let order = order.lock().unwrap();
        let first_half: HashSet<usize> = order[..order.len() / 2].iter().copied().collect();
        assert!(first_half.len() >= shards.min(3), "{shards} shards: {order:?}");
    }
}

/// Keeps every accepted socket, and tells the test whom it accepted.
struct Acceptor {
    per_ip: Arc<Mutex<HashMap<std::net::IpAddr, u32>>>,
    seen: Arc<Mutex<HashSet<InboundId>>>,
    tx: mpsc::Sender<SocketAddr>,
}

impl Handler for Acceptor {
    fn on_accept(&mut self, _ctx: &mut Ctx<'_>, id: InboundId, remote: SocketAddr) {
        *self.per_ip.lock().unwrap().entry(remote.ip()).or_default() += 1;
        assert!(self.seen.lock().unwrap().insert(id), "inbound id {id} twice");
        let _ = self.tx.send(remote);
    }
}

fn connect_from(src: Ipv4Addr, to: SocketAddr) -> TcpStream {
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    s.bind(&SocketAddr::from((src, 0)).into()).unwrap();
    s.connect_timeout(&to.into(), Duration::from_secs(5)).unwrap();
    let s: TcpStream = s.into();
    s.set_read_timeout(Some(LIMIT)).unwrap();
    s
}

/// Whether the manager closed `stream` without a word (a refused inbound connection).
fn closed_by_peer(mut stream: &TcpStream) -> bool {
    use std::io::Read;
    matches!(stream.read(&mut [0u8; 1]), Ok(0) | Err(_))
}

#[test]
fn max_inbound_and_the_per_host_cap_hold_across_shards_with_either_listener() {
    for accept in [Accept::ReusePort, Accept::Handoff] {
        for shards in [1, 2, 4] {
            let config = Config {
                target_outbound: 0,
                max_inbound: Some(6),
                listeners: vec![support::localhost()],
                protection: Protection { max_per_ip: Some(2), ..Protection::default() },
                ..Config::default()
            };
            let per_ip = Arc::new(Mutex::new(HashMap::new()));
            let seen = Arc::new(Mutex::new(HashSet::new()));
            let (tx, rx) = mpsc::channel();
            let mut m = ShardedManager::with_accept(config, shards, accept, |_| Acceptor {
                per_ip: Arc::clone(&per_ip),
                seen: Arc::clone(&seen),
                tx: tx.clone(),
            })
            .unwrap();
            let at = m.local_addrs()[0];
            let handle = m.handle();
            let clients = std::thread::spawn(move || {
                // Three connections from each of five hosts: 15 attempts for 6 slots, 2 per host.
                let held: Vec<TcpStream> =
                    (0..15).map(|i| connect_from(Ipv4Addr::new(127, 0, 0, 1 + (i % 5) as u8), at)).collect();
                let accepted: HashSet<SocketAddr> = (0..6).map(|_| rx.recv_timeout(LIMIT).unwrap()).collect();
                let refused = held.iter().filter(|s| !accepted.contains(&s.local_addr().unwrap()));
                let closed = refused.filter(|s| closed_by_peer(s)).count();
                let late = rx.try_recv().ok();
                handle.stop().unwrap();
                (closed, late)
            });
            assert!(m.run_until(deadline()).unwrap());
            let (closed, late) = clients.join().unwrap();
            let what = format!("{accept:?}, {shards} shards");
            assert_eq!((closed, late), (9, None), "{what}: the other nine were refused");
            let c = m.counters();
            assert_eq!((c.accepted, c.rejected_inbound + c.rejected_per_ip), (6, 9), "{what}: {c:?}");
            assert!(per_ip.lock().unwrap().values().all(|&n| n <= 2), "{what}: {:?}", per_ip.lock().unwrap());
            assert_eq!(seen.lock().unwrap().len(), 6, "{what}: inbound ids collide across shards");
            if accept == Accept::Handoff && shards > 1 {
                // Dealt in turn: every shard decided on some (which ones win the six slots is a
                // race between the shards).
                for (i, shard) in m.shards().iter().enumerate() {
                    let c = shard.counters();
                    let decided = c.accepted + c.rejected_inbound + c.rejected_per_ip;
                    assert!(decided >= 15 / shards as u64, "{what}: shard {i} decided on {decided}");
                }
            }
            assert_eq!(c.inbound, 0, "{what}: every slot freed at stop");
        }
    }
}

/// Bans its peer's address on the first shard that connects; counts ban disconnections.
struct Banner {
    peer: SocketAddr,
    banned: Arc<AtomicU32>,
    connected: Arc<AtomicU32>,
    target: u32,
}

impl Handler for Banner {
    fn new_address(&mut self, _class: connmgr::ClassId) -> Option<Result<Target, AddressError>> {
        Some(Ok(self.peer.into()))
    }

    fn on_connection(&mut self, ctx: &mut Ctx<'_>, _conn: &ConnInfo) {
        // Once every shard holds its share, one of them bans the peer.
        if self.connected.fetch_add(1, Ordering::SeqCst) + 1 == self.target {
            ctx.ban(Subnet::single(self.peer.ip()), Duration::from_secs(600)).unwrap();
        }
    }

    fn on_disconnection(&mut self, ctx: &mut Ctx<'_>, _conn: &ConnInfo, reason: &DisconnectReason) {
        if *reason == DisconnectReason::Banned && self.banned.fetch_add(1, Ordering::SeqCst) + 1 == self.target {
            let _ = ctx.stop();
        }
    }
}

#[test]
fn a_ban_on_one_shard_closes_the_banned_peer_on_every_shard() {
    let (_peer, addr) = holder(Ipv4Addr::new(127, 0, 0, 3));
    for shards in [1, 2, 4] {
        let target = 2 * shards as u32;
        let banned = Arc::new(AtomicU32::new(0));
        let connected = Arc::new(AtomicU32::new(0));
        let config = Config { target_outbound: target, ..Config::default() };
        let mut m = ShardedManager::new(config, shards, |_| Banner {
            peer: addr,
            banned: Arc::clone(&banned),
            connected: Arc::clone(&connected),
            target,
        })
        .unwrap();
        assert!(m.run_until(deadline()).unwrap(), "{shards} shards: not every shard closed its connections");
        assert_eq!(banned.load(Ordering::SeqCst), target);
        for (i, s) in m.shards().iter().enumerate() {
            assert_eq!(s.bans().len(), 1, "shard {i} of {shards} has the ban");
        }
        assert_eq!(m.counters().bans, 1, "{shards} shards: one ban, counted once");
    }
}

#[test]
fn bans_from_a_handle_reach_every_shards_listener() {
    let config = Config { target_outbound: 0, listeners: vec![support::localhost()], ..Config::default() };
    let mut m = ShardedManager::with_accept(config, 4, Accept::Handoff, |_| Dialer).unwrap();
    let at = m.local_addrs()[0];
    let handle = m.handle();
    let banned = Ipv4Addr::new(127, 0, 0, 2);
    let clients = std::thread::spawn(move || {
        handle.ban(Subnet::single(banned.into()), Duration::from_secs(600)).unwrap();
        // The first shard answers after it applied the ban and mailed it to the others; each
        // other shard reads its mail at the end of the turn in which it answers, so a second
        // round of answers comes after every shard has the ban.
        let end = deadline();
        while handle.counters().unwrap().bans == 0 && Instant::now() < end {}
        handle.counters().unwrap();
        let held: Vec<TcpStream> = (0..8).map(|_| connect_from(banned, at)).collect();
        let closed = held.iter().filter(|s| closed_by_peer(s)).count();
        handle.stop().unwrap();
        closed
    });
    assert!(m.run_until(deadline()).unwrap());
    assert_eq!(clients.join().unwrap(), 8);
    let c = m.counters();
    assert_eq!((c.rejected_banned, c.accepted, c.bans), (8, 0, 1), "{c:?}");
    // The handoff deals sockets in turn: two to each shard, each refused by its own ban list.
    assert!(m.shards().iter().all(|s| s.counters().rejected_banned == 2));
}

#[test]
fn handles_racing_a_stop_never_hang_and_route_every_id_to_its_shard() {
    let (_peer, addr) = holder(Ipv4Addr::LOCALHOST);
    for shards in [1, 2, 4] {
        for seed in [3u64, 11] {
            let config = Config { target_outbound: 0, ended_history: 1 << 14, ..Config::default() };
            let mut m = ShardedManager::new(config, shards, |_| Dialer).unwrap();
            let (done_tx, done_rx) = mpsc::channel();
            let handle = m.handle().with_wait_timeout(Duration::from_secs(2));
            let workers: Vec<_> = (0..3u64)
                .map(|w| {
                    let handle = handle.clone();
                    let done = done_tx.clone();
                    std::thread::spawn(move || {
                        let mut rng = Lcg(seed * 10 + w);
                        let mut ids = Vec::new();
                        for _ in 0..2000 {
                            let r = match rng.below(4) {
                                0 => handle.connect(addr, ConnectOptions::once()).map(|id| ids.push(id)),
                                1 => ids.last().map_or(Ok(()), |&id| handle.state(id).map(drop)),
                                2 => handle.counters().map(drop),
                                _ => ids.first().map_or(Ok(()), |&id| handle.remove(id).or(Ok(()))),
                            };
                            match r {
                                Ok(()) => {}
                                Err(OpError::Stopped) => break,
                                Err(e) => panic!("worker {w}: {e}"),
                            }
                        }
                        done.send(ids).unwrap();
                    })
                })
                .collect();
            let stopper = {
                let handle = handle.clone();
                let after = Lcg(seed).below(200);
                std::thread::spawn(move || {
                    for _ in 0..after {
                        let _ = handle.counters();
                    }
                    handle.stop()
                })
            };
            assert!(m.run_until(deadline()).unwrap(), "{shards} shards, seed {seed}: stop was lost");
            let mut all = Vec::new();
            for _ in 0..3 {
                all.extend(done_rx.recv_timeout(LIMIT).expect("a handle call hung after the stop"));
            }
            for w in workers {
                w.join().unwrap();
            }
            let _ = stopper.join().unwrap();
            assert_eq!(handle.stop(), Err(OpError::Stopped));
            let unique: HashSet<_> = all.iter().collect();
            assert_eq!(unique.len(), all.len(), "ids collide across shards");
            let mut known = 0;
            for &id in &all {
                let owner = ((id.get() - 1) % shards as u64) as usize;
                for (i, shard) in m.shards().iter().enumerate() {
                    // A connect that raced the stop may be unknown even to its owner.
                    let here = shard.state(id).is_some();
                    assert!(!here || i == owner, "{id} is known to shard {i}, not its owner {owner}");
                    known += usize::from(here);
                }
            }
            assert!(known > 0 || all.is_empty(), "no connect reached a shard");
            assert!(m.shards().iter().all(|s| s.reactor().sockets() == 0));
        }
    }
}

/// Panics in its first callback, on one shard only.
struct Panicky {
    shard: usize,
    peer: SocketAddr,
}

impl Handler for Panicky {
    fn new_address(&mut self, _class: connmgr::ClassId) -> Option<Result<Target, AddressError>> {
        Some(Ok(self.peer.into()))
    }

    fn on_connection(&mut self, _ctx: &mut Ctx<'_>, _conn: &ConnInfo) {
        assert!(self.shard != 1, "a handler bug on shard 1");
    }
}

#[test]
fn a_panic_on_one_shard_stops_the_others_and_reaches_the_caller() {
    let (_peer, addr) = holder(Ipv4Addr::LOCALHOST);
    let config = Config { target_outbound: 4, ..Config::default() };
    let mut m = ShardedManager::new(config, 2, |shard| Panicky { shard, peer: addr }).unwrap();
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| m.run_until(deadline())));
    assert!(run.is_err(), "the panic reaches the caller");
    assert!(m.shards()[0].reactor().is_stopped(), "shard 0 was stopped, not left running");
}

/// Serves addresses from a shared list (every shard the same), two per /16 netgroup, and
/// records every automatic connection's class and netgroup while it is up.
struct Diverse {
    addrs: Vec<SocketAddr>,
    next: usize,
    up: Arc<Mutex<HashMap<ConnId, (connmgr::ClassId, connmgr::addr::NetGroup)>>>,
    worst: Arc<Mutex<(usize, HashMap<connmgr::ClassId, usize>)>>,
}

impl Handler for Diverse {
    fn new_address(&mut self, _class: connmgr::ClassId) -> Option<Result<Target, AddressError>> {
        let a = self.addrs[self.next % self.addrs.len()];
        self.next += 1;
        Some(Ok(a.into()))
    }

    fn on_connection(&mut self, _ctx: &mut Ctx<'_>, conn: &ConnInfo) {
        let connmgr::ConnClass::Automatic(class) = conn.class else { return };
        let group = connmgr::addr::NetGroup::of(conn.target.as_ref().unwrap().ip().unwrap().ip());
        let mut up = self.up.lock().unwrap();
        up.insert(conn.id, (class, group));
        let per_group = up.values().filter(|(_, g)| *g == group).count();
        let per_class = up.values().filter(|(c, _)| *c == class).count();
        let mut worst = self.worst.lock().unwrap();
        worst.0 = worst.0.max(per_group);
        let w = worst.1.entry(class).or_default();
        *w = (*w).max(per_class);
    }

    fn on_disconnection(&mut self, _ctx: &mut Ctx<'_>, conn: &ConnInfo, _reason: &DisconnectReason) {
        self.up.lock().unwrap().remove(&conn.id);
    }
}

/// Outbound classes and netgroup diversity hold across shards: each class's target is the
/// manager's, and no two automatic connections share a netgroup, whichever shards made them.
#[test]
fn classes_and_netgroup_diversity_hold_across_shards() {
    // 6 netgroups (127.21/16 ... 127.26/16), two listeners in each.
    let peers: Vec<_> = (21..27u8).flat_map(|b| [1u8, 2].map(|d| holder(Ipv4Addr::new(127, b, 0, d)))).collect();
    let addrs: Vec<SocketAddr> = peers.iter().map(|(_, a)| *a).collect();
    for shards in [2, 4] {
        let up = Arc::new(Mutex::new(HashMap::new()));
        let worst = Arc::new(Mutex::new((0, HashMap::new())));
        let config = Config {
            target_outbound: 3,
            outbound: connmgr::outbound::OutboundPolicy {
                max_per_netgroup: Some(1),
                classes: vec![connmgr::outbound::OutboundClass { name: "block-relay", target: 2 }],
                ..connmgr::outbound::OutboundPolicy::default()
            },
            ..Config::default()
        };
        let mut m = ShardedManager::new(config, shards, |shard| Diverse {
            addrs: addrs.iter().cycle().skip(shard).take(addrs.len()).copied().collect(),
            next: 0,
            up: Arc::clone(&up),
            worst: Arc::clone(&worst),
        })
        .unwrap();
        let until = deadline();
        let five_up = |m: &ShardedManager<Diverse>| m.counters().established_automatic == 5;
        while !five_up(&m) {
            assert!(Instant::now() < until, "{shards} shards: the targets were not reached");
            m.run_until(Instant::now() + Duration::from_millis(20)).unwrap();
        }
        // Let skips and replacements settle, then check the worst seen.
        m.run_until(Instant::now() + Duration::from_millis(200)).unwrap();
        let (per_group, per_class) = worst.lock().unwrap().clone();
        assert_eq!(per_group, 1, "{shards} shards: two automatic connections in one netgroup");
        assert_eq!(per_class.get(&connmgr::ClassId::DEFAULT), Some(&3), "{shards} shards");
        assert_eq!(per_class.get(&connmgr::ClassId::extra(0)), Some(&2), "{shards} shards");
        assert!(m.counters().skipped_diversity > 0, "{shards} shards: nothing was ever skipped");
        m.stop().unwrap();
    }
}
