//! Steady-state churn through the sans-IO core performs no heap allocation per connection.
//!
//! Its own test binary because it installs a counting global allocator. The core is driven
//! through connect -> established -> close -> replacement cycles on simulated time (no sockets,
//! no clock); after a warm-up, in which the id map may rehash or grow once, a long run of
//! cycles must allocate nothing. Counting is per thread, so the harness's threads do not count.

use crate::support::counting_alloc;
use crate::support::cycle;

use counting_alloc::count_allocs;
use cycle::Churn;

fn steady_state_allocations(k: u32) -> u64 {
    steady_state_allocations_of(Churn::new(k), k)
}

fn steady_state_allocations_of(mut churn: Churn, k: u32) -> u64 {
    // Warm-up: long enough for the id map to settle (its tombstones are then cleared by
    // rehashing in place, which does not allocate).
    for _ in 0..20_000 + 40 * k {
        churn.cycle();
    }
    let ((), allocs) = count_allocs(|| {
        for _ in 0..50_000 {
            churn.cycle();
        }
    });
    assert_eq!(churn.in_flight(), k as usize, "K dials stay in flight");
    assert_eq!(churn.core.counters().in_flight, u64::from(k));
    allocs
}

#[test]
fn churn_through_the_core_allocates_nothing_at_target_8() {
    assert_eq!(steady_state_allocations(8), 0, "allocations in 50,000 steady-state cycles, K = 8");
}

#[test]
fn churn_through_the_core_allocates_nothing_at_target_512() {
    assert_eq!(steady_state_allocations(512), 0, "allocations in 50,000 steady-state cycles, K = 512");
}

#[test]
fn churn_with_every_outbound_rule_on_allocates_nothing() {
    for k in [8, 512] {
        let allocs = steady_state_allocations_of(Churn::with_every_rule(k), k);
        assert_eq!(allocs, 0, "allocations in 50,000 steady-state cycles with every outbound rule, K = {k}");
    }
}

#[test]
fn the_counter_sees_allocations() {
    // Guards the test itself: a counter that never counts would pass everything above.
    let (v, allocs) = count_allocs(|| std::hint::black_box(vec![1u8; 64]));
    drop(v);
    assert!(allocs >= 1);
}

/// An accepted connection's whole life through the core with every protection rule on: 1,000
/// unrelated bans, per-IP and per-netgroup caps, an accept rate, a reconnect window, eviction
/// when full. Admitted or refused, after a warm-up nothing allocates.
#[test]
fn accepting_with_every_rule_on_allocates_nothing() {
    use connmgr::core::{Core, IoKey};
    use connmgr::{
        inbound::{AcceptRate, Eviction, Protection, Subnet},
        Config, DisconnectReason, Peer,
    };
    use std::net::SocketAddr;
    use std::time::{Duration, Instant};

    let protection = Protection {
        max_per_ip: Some(4),
        max_per_netgroup: Some(32),
        accept_rate: Some(AcceptRate { burst: 1_000, per_second: 1_000_000 }),
        reconnect_window: Some(Duration::from_micros(500)),
        eviction: Some(Eviction::bitcoin_core()),
        ban_capacity: 2_000,
        ..Protection::default()
    };
    let config =
        Config { target_outbound: 0, max_inbound: Some(64), protection, random_seed: Some(1), ..Config::default() };
    let t0 = Instant::now();
    let mut core = Core::new(&config, t0).unwrap();
    core.start(t0);
    for i in 0..1_000u32 {
        let net: Subnet = format!("10.{}.{}.0/24", i / 256, i % 256).parse().unwrap();
        core.ban(t0, net, Duration::from_secs(3600)).unwrap();
    }
    let listener = core.add_listener().unwrap();
    let mut now = t0;
    let mut held = std::collections::VecDeque::new();
    let mut cycle = |core: &mut Core, n: u64| {
        now += Duration::from_micros(13);
        // 32 hosts in 8 groups, each back every 416 us: the reconnect window and the per-IP cap
        // refuse some; the listener stays full, so evictions happen too.
        let remote = SocketAddr::from(([127, (n % 8) as u8 + 1, 0, (n % 32) as u8 + 1], (n % 60_000) as u16 + 1));
        if let Some(id) = core.accept(now, listener, remote, IoKey::from(n)) {
            held.push_back(id);
        }
        if held.len() > 70 {
            let id = held.pop_front().unwrap();
            let _ = core.close(now, Peer::Inbound(id), DisconnectReason::RemoteClosed);
        }
        while core.poll_action().is_some() {}
    };
    for n in 0..20_000 {
        cycle(&mut core, n);
    }
    let ((), allocs) = count_allocs(|| {
        for n in 20_000..70_000 {
            cycle(&mut core, n);
        }
    });
    let c = core.counters();
    assert!(c.accepted > 10_000 && c.evicted > 1_000, "{c:?}");
    assert!(c.rejected_reconnect > 1_000, "{c:?}");
    assert_eq!(allocs, 0, "allocations in 50,000 accepts with every rule on");
}
