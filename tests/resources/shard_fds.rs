//! A sharded manager's whole life leaves no file descriptor behind: its `Poll`s and wakers, the
//! listeners of every shard (`SO_REUSEPORT` and handoff), dials, accepted and handed-off
//! sockets, all closed by stop and drop. It runs alone (`crate::alone`), so no other test's sockets
//! disturb the count.
#![cfg(all(feature = "shards", target_os = "linux"))]

use crate::support;

use std::net::TcpStream;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Instant;

use connmgr::{
    shards::{Accept, ShardedManager},
    AddressError, Config, Ctx, Handler, Target,
};

struct Node {
    peer: std::net::SocketAddr,
    accepted: Arc<AtomicU32>,
}

impl Handler for Node {
    fn new_address(&mut self, _class: connmgr::ClassId) -> Option<Result<Target, AddressError>> {
        Some(Ok(self.peer.into()))
    }

    fn on_accept(&mut self, _ctx: &mut Ctx<'_>, _id: connmgr::InboundId, _remote: std::net::SocketAddr) {
        self.accepted.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_sharded_managers_whole_life_leaves_no_descriptor_behind() {
    let _alone = crate::alone();
    let before = support::open_fds();
    for accept in [Accept::ReusePort, Accept::Handoff] {
        let (listener, peer) = support::listener();
        let accepted = Arc::new(AtomicU32::new(0));
        let config = Config {
            target_outbound: 6,
            max_inbound: Some(4),
            listeners: vec![support::localhost()],
            ..Config::default()
        };
        let mut m =
            ShardedManager::with_accept(config, 3, accept, |_| Node { peer, accepted: Arc::clone(&accepted) }).unwrap();
        let at = m.local_addrs()[0];
        let handle = m.handle();
        let accepted2 = Arc::clone(&accepted);
        let clients = std::thread::spawn(move || {
            // Six clients against max_inbound 4: four held, two refused.
            let held: Vec<TcpStream> = (0..6).map(|_| support::connect(at)).collect();
            let end = Instant::now() + support::LIMIT;
            loop {
                let c = handle.counters().unwrap();
                if (c.established == 6 && accepted2.load(Ordering::SeqCst) == 4 && c.rejected_inbound == 2)
                    || Instant::now() > end
                {
                    break;
                }
            }
            handle.stop().unwrap();
            held
        });
        assert!(m.run_until(Instant::now() + support::LIMIT).unwrap());
        let held = clients.join().unwrap();
        let c = m.counters();
        assert_eq!((c.connected, c.accepted, c.rejected_inbound), (6, 4, 2), "{accept:?}: {c:?}");
        assert!(m.shards().iter().all(|s| s.reactor().sockets() == 0), "{accept:?}: sockets left after stop");
        drop((m, held, listener));
    }
    assert_eq!(support::open_fds(), before, "descriptors leaked");
}
