//! Bootstrap on one thread: DNS seeding, `resolve` and a dial of a host name on the reactor
//! add no thread to the process (counted in `/proc/self/task` before and during).
//!
//! It runs alone (`crate::alone`), so that no other test's thread comes or goes while it counts.
#![cfg(all(feature = "dns", target_os = "linux"))]

use crate::support::{self, dnsmasq};

use std::net::{IpAddr, TcpListener};
use std::time::Duration;

use connmgr::dns::{DnsError, ResolverConfig};
use connmgr::seed::{DnsSeed, SeedAddress};
use connmgr::{
    addr::HostName, Config, ConnInfo, ConnectOptions, Ctx, Handler, LookupId, Manager, ResolveError, Target,
};
use dnsmasq::Dnsmasq;

const LIMIT: Duration = Duration::from_secs(15);

/// The process's threads, less those the test harness runs this binary's other tests on: they
/// wait for [`crate::alone`] (or have just released it, or are being started) and come and go
/// on the harness's schedule. Each is named after its test, a name Linux truncates to 15 bytes
/// (`/proc/self/task/<tid>/comm`); the crate's own threads are named `connmgr-...` or
/// `dns-seed-...`, and an unnamed thread inherits its creator's name.
fn threads() -> usize {
    const OTHER_TESTS: [&str; 4] = ["accept_backoff", "fd_leaks::", "protection::", "shard_fds::"];
    let tasks = std::fs::read_dir("/proc/self/task").expect("/proc/self/task");
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| !OTHER_TESTS.iter().any(|other| name.starts_with(other)))
        .count()
}

/// Counts the process's threads in every callback.
#[derive(Default)]
struct Counting {
    most: usize,
    seeded: usize,
    resolved: usize,
    connected: usize,
}

impl Counting {
    fn count(&mut self) {
        self.most = self.most.max(threads());
    }
}

impl Handler for Counting {
    fn on_connection(&mut self, _ctx: &mut Ctx<'_>, _conn: &ConnInfo) {
        self.count();
        self.connected += 1;
    }

    fn on_resolved(&mut self, _: &mut Ctx<'_>, _: LookupId, _: &HostName, result: &Result<Vec<IpAddr>, ResolveError>) {
        self.count();
        assert!(result.is_ok(), "{result:?}");
        self.resolved += 1;
    }

    fn on_seeded(&mut self, _ctx: &mut Ctx<'_>, host: &str, result: &Result<Vec<SeedAddress>, DnsError>) {
        self.count();
        assert!(result.as_ref().is_ok_and(|a| !a.is_empty()), "{host}: {result:?}");
        self.seeded += 1;
    }
}

#[test]
fn seeding_resolving_and_dialling_names_add_no_thread() {
    let _alone = crate::alone();
    let records: Vec<String> = [
        "--host-record=x9.seed-a.test,127.1.0.1",
        "--host-record=x9.seed-b.test,127.2.0.1,::2",
        "--host-record=peer.test,127.0.0.2",
    ]
    .iter()
    .map(|r| r.to_string())
    .collect();
    let Some(dns) = Dnsmasq::start(&records) else { return };
    let peer = TcpListener::bind("127.0.0.2:0").unwrap();
    let port = peer.local_addr().unwrap().port();

    let before = threads();
    let resolver = ResolverConfig { servers: vec![dns.addr], timeout: Duration::from_secs(5), ..Default::default() };
    let config = Config { target_outbound: 0, dns: Some(resolver), ..Config::default() };
    let mut m = Manager::new(config, Counting::default()).unwrap();
    m.reactor_mut().start();
    m.seed(&[DnsSeed::new("seed-a.test", true), DnsSeed::new("seed-b.test", true)], 8333, 9).unwrap();
    m.resolve("peer.test".parse().unwrap()).unwrap();
    m.connect(format!("peer.test:{port}").parse::<Target>().unwrap(), ConnectOptions::once()).unwrap();
    support::turn_until_within(&mut m, LIMIT, "two seeds, a lookup and a connection", |m| {
        let h = m.reactor().handler();
        (h.seeded, h.resolved, h.connected) == (2, 1, 1)
    });
    m.reactor_mut().handler_mut().count();
    assert_eq!(m.reactor().handler().most, before, "threads during the lookups (before: {before})");
    m.stop().unwrap();
    assert_eq!(threads(), before);
}
