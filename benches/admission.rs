//! Inbound admission per accept, and eviction when the slots are full.
//!
//! Run with `cargo bench --bench admission` (add `-- --quick` for a short run).
//!
//! - `check/bans=1000,lens=N`: `Admission::check` for an address that is not banned, with 1,000
//!   unrelated subnets banned over N distinct prefix lengths (5: /32, /24, /16, /64, /48; 33:
//!   every IPv4 length), every other check on. The cost follows N, not the number of bans.
//! - `churn`: check + admitted + closed for a stream of distinct hosts, 100 connections live:
//!   one accept-to-close life cycle of the admission state.
//! - `evict/n`: Core's eviction over n random candidates with a warm `CoreEviction`.
//!
//! Like `benches/core.rs`, it counts heap allocations in steady state with a counting global
//! allocator, prints them, and panics if there are any: the per-accept path and eviction are
//! meant to be allocation-free.

#[path = "../tests/support/counting_alloc.rs"]
mod counting_alloc;

use connmgr::admission::eviction::{CoreEviction, EvictionCandidate, EvictionPolicy, Network};
use connmgr::admission::{AcceptRate, Admission, AdmissionConfig};
use connmgr::net::{NetGroup, Subnet};
use counting_alloc::{count_allocs, CountingAlloc};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn config() -> AdmissionConfig {
    AdmissionConfig {
        max_per_ip: Some(4),
        max_per_netgroup: Some(16),
        // Generous: the bench measures the checks, not refusals.
        accept_rate: Some(AcceptRate { burst: u32::MAX, per_second: u32::MAX }),
        reconnect_window: Some(Duration::from_secs(30)),
        ..AdmissionConfig::default()
    }
}

/// 1,000 bans in 0.0.0.0/1 and 2001:db8::/32 over `lens` prefix lengths (short IPv4 prefixes
/// repeat, so somewhat fewer distinct bans); none covers the peers in 198.51.0.0/16.
fn banned(admission: &mut Admission, now: Instant, lens: &[u8], rng: &mut XorShift) {
    let until = now + Duration::from_secs(86_400);
    for i in 0..1000 {
        let len = lens[i % lens.len()];
        let subnet = if len <= 32 {
            let ip = Ipv4Addr::from(rng.next() as u32 & 0x7fff_ffff);
            Subnet::containing(IpAddr::V4(ip), len.max(1))
        } else {
            let ip = Ipv6Addr::from((0x2001_0db8_u128 << 96) | u128::from(rng.next()) << 32);
            Subnet::containing(IpAddr::V6(ip), len)
        };
        admission.bans_mut().ban(subnet.unwrap(), until);
    }
}

fn check(c: &mut Criterion) {
    let mut group = c.benchmark_group("check");
    let few: &[u8] = &[32, 24, 16, 64, 48];
    let all: Vec<u8> = (0..=32).collect();
    for lens in [few, &all[..]] {
        let now = Instant::now();
        let mut admission = Admission::new(&config(), now);
        banned(&mut admission, now, lens, &mut XorShift(7));
        let distinct = admission.bans().len();
        assert!(distinct > 800, "{distinct} distinct bans");
        // Addresses outside every ban, so each check runs every test and passes.
        let peers: Vec<IpAddr> = (0..4096u32).map(|i| IpAddr::V4(Ipv4Addr::from(0xc633_0000 | i))).collect();
        let mut i = 0;
        let mut run = |admission: &mut Admission| {
            let ip = peers[i % peers.len()];
            i += 1;
            // Moving time keeps the reconnect window from refusing the same address again.
            let t = now + Duration::from_secs(31 * (i / peers.len()) as u64);
            black_box(admission.check(t, ip, NetGroup::of(ip)))
        };
        let (_, allocs) = count_allocs(|| (0..100_000).for_each(|_| assert!(run(&mut admission).is_ok())));
        println!("check lens={} ({distinct} bans): {allocs} allocations in 100000 checks", lens.len());
        assert_eq!(allocs, 0, "REGRESSION: Admission::check allocates");
        group.bench_function(BenchmarkId::new("bans=1000", format!("lens={}", lens.len())), |b| {
            b.iter(|| run(&mut admission))
        });
    }
    group.finish();
}

fn churn(c: &mut Criterion) {
    let now = Instant::now();
    let mut admission = Admission::new(&config(), now);
    banned(&mut admission, now, &[32, 24, 16, 64, 48], &mut XorShift(7));
    const LIVE: usize = 100;
    let mut live = [IpAddr::V4(Ipv4Addr::UNSPECIFIED); LIVE];
    let mut next = 0u32;
    let mut cycle = |admission: &mut Admission| {
        // A new host every time (the reconnect table sees each once), spread over many /16s.
        next = next.wrapping_add(1);
        let ip = IpAddr::V4(Ipv4Addr::from(0x6400_0000 | next.wrapping_mul(2_654_435_761) >> 6));
        let slot = next as usize % LIVE;
        let old = live[slot];
        if !old.is_unspecified() {
            admission.closed(old, NetGroup::of(old));
        }
        if admission.check(now, ip, NetGroup::of(ip)).is_ok() {
            admission.admitted(ip, NetGroup::of(ip));
            live[slot] = ip;
        } else {
            live[slot] = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        }
    };
    for _ in 0..200_000 {
        cycle(&mut admission);
    }
    let (_, allocs) = count_allocs(|| (0..200_000).for_each(|_| cycle(&mut admission)));
    println!("churn: {allocs} allocations in 200000 accept-close cycles");
    assert_eq!(allocs, 0, "REGRESSION: the admission state allocates in steady-state churn");
    c.bench_function("churn", |b| b.iter(|| cycle(&mut admission)));
}

fn evict(c: &mut Criterion) {
    let mut group = c.benchmark_group("evict");
    let networks = [Network::Ipv4, Network::Ipv6, Network::Onion, Network::I2p, Network::Cjdns];
    for n in [32usize, 125, 1000] {
        let t0 = Instant::now();
        let mut rng = XorShift(11);
        let candidates: Vec<EvictionCandidate> = (0..n as u64)
            .map(|id| {
                let mut r = |m: u64| rng.next() % m;
                let ip = IpAddr::V4(Ipv4Addr::from(r(1 << 32) as u32));
                let mut c = EvictionCandidate::new(id, t0 + Duration::from_secs(r(3600)), ip, r(64));
                c.min_ping = Some(Duration::from_micros(r(500_000)));
                c.last_block = (r(2) == 0).then(|| t0 + Duration::from_secs(r(3600)));
                c.last_tx = (r(2) == 0).then(|| t0 + Duration::from_secs(r(3600)));
                c.relays_txs = r(4) != 0;
                c.relevant_services = r(2) == 0;
                c.network = networks[r(5) as usize];
                c
            })
            .collect();
        let mut policy = CoreEviction::new();
        assert!(policy.select(&candidates).is_some());
        let (_, allocs) = count_allocs(|| (0..1000).for_each(|_| assert!(policy.select(&candidates).is_some())));
        println!("evict n={n}: {allocs} allocations in 1000 selections");
        assert_eq!(allocs, 0, "REGRESSION: eviction allocates with warm scratch space");
        group.bench_function(BenchmarkId::from_parameter(n), |b| b.iter(|| black_box(policy.select(&candidates))));
    }
    group.finish();
}

criterion_group!(benches, check, churn, evict);
criterion_main!(benches);
