//! Ports of the cases in Bitcoin Core's `net_peer_eviction_tests.cpp` (same scenarios and
//! expectations, our own code and names), cases Core leaves untested (`prefer_evict` and the
//! choice of group), and a property test against a literal model of Core's algorithm.

use super::*;
use proptest::prelude::*;
use std::cmp::Reverse;
use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

type Candidate = EvictionCandidate<usize>;

fn at(secs: u64) -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now) + Duration::from_secs(secs)
}

/// SplitMix64: a small deterministic generator for Core's randomised cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn coin(&mut self) -> bool {
        self.next() & 1 == 1
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i as u64 + 1) as usize);
        }
    }
}

const NETWORKS: [NetworkKind; 5] =
    [NetworkKind::Ipv4, NetworkKind::Ipv6, NetworkKind::Onion, NetworkKind::I2p, NetworkKind::Cjdns];

/// Candidates with every field random in a small range, ids 0..n (Core's test helper).
fn random_candidates(n: usize, rng: &mut Rng) -> Vec<Candidate> {
    (0..n)
        .map(|id| EvictionCandidate {
            id,
            connected: at(rng.below(100)),
            min_ping: Some(Duration::from_micros(rng.below(100))),
            last_block: Some(at(rng.below(100))),
            last_tx: Some(at(rng.below(100))),
            relevant_services: rng.coin(),
            relays_txs: rng.coin(),
            bloom_filter: rng.coin(),
            keyed_netgroup: rng.below(100),
            prefer_evict: rng.coin(),
            network: NETWORKS[rng.below(NETWORKS.len() as u64) as usize],
            is_local: rng.coin(),
        })
        .collect()
}

/// Runs the ratio protection on `n` random candidates changed by `setup`, shuffled; true if
/// every id in `protected` was protected and every id in `unprotected` was not.
fn ratio_protects(
    rng: &mut Rng,
    n: usize,
    setup: impl Fn(&mut Candidate),
    protected: &[usize],
    unprotected: &[usize],
) -> bool {
    let mut c = random_candidates(n, rng);
    c.iter_mut().for_each(setup);
    rng.shuffle(&mut c);
    let mut order: Vec<usize> = (0..n).collect();
    protect_by_ratio(&mut order, &c);
    assert_eq!(order.len(), n - n / 2, "half are protected");
    let left: HashSet<usize> = order.iter().map(|&i| c[i].id).collect();
    protected.iter().all(|id| !left.contains(id)) && unprotected.iter().all(|id| left.contains(id))
}

/// A network mix: which ids are local, onion, I2P or CJDNS; everyone else is on `other`.
/// With `by_uptime`, id `i` connected at second `i` (lower ids have been up longer);
/// otherwise connection times stay random.
struct Mix<'a> {
    n: usize,
    by_uptime: bool,
    local: &'a [usize],
    onion: &'a [usize],
    i2p: &'a [usize],
    cjdns: &'a [usize],
    other: NetworkKind,
}

const MIX: Mix<'static> =
    Mix { n: 12, by_uptime: true, local: &[], onion: &[], i2p: &[], cjdns: &[], other: NetworkKind::Ipv4 };

fn mix_protects(rng: &mut Rng, mix: Mix<'_>, protected: &[usize], unprotected: &[usize]) -> bool {
    let setup = |c: &mut Candidate| {
        if mix.by_uptime {
            c.connected = at(c.id as u64);
        }
        c.is_local = mix.local.contains(&c.id);
        c.network = if mix.cjdns.contains(&c.id) {
            NetworkKind::Cjdns
        } else if mix.i2p.contains(&c.id) {
            NetworkKind::I2p
        } else if mix.onion.contains(&c.id) {
            NetworkKind::Onion
        } else {
            mix.other
        };
    };
    ratio_protects(rng, mix.n, setup, protected, unprotected)
}

#[test]
fn ratio_protects_the_longest_connected_half() {
    let mut rng = Rng(1);
    assert!(mix_protects(&mut rng, MIX, &[0, 1, 2, 3, 4, 5], &[6, 7, 8, 9, 10, 11]));
    let reversed = |c: &mut Candidate| {
        c.connected = at(12 - c.id as u64);
        c.is_local = false;
        c.network = NetworkKind::Ipv6;
    };
    assert!(ratio_protects(&mut rng, 12, reversed, &[6, 7, 8, 9, 10, 11], &[0, 1, 2, 3, 4, 5]));
}

#[test]
fn ratio_reserves_a_quarter_for_one_disadvantaged_network() {
    let mut rng = Rng(2);
    let random_uptime = Mix { by_uptime: false, ..MIX };
    // A quarter of 12 is 3: all three of a lone class are protected, uptime aside.
    assert!(mix_protects(&mut rng, Mix { onion: &[3, 8, 9], ..random_uptime }, &[3, 8, 9], &[]));
    assert!(mix_protects(&mut rng, Mix { local: &[1, 9, 11], ..random_uptime }, &[1, 9, 11], &[]));
    assert!(mix_protects(&mut rng, Mix { i2p: &[2, 7, 10], ..random_uptime }, &[2, 7, 10], &[]));
    assert!(mix_protects(&mut rng, Mix { cjdns: &[2, 7, 10], ..random_uptime }, &[2, 7, 10], &[]));
    // With more members than the reserve, the longest connected of them, plus the longest
    // connected overall for the other quarter.
    let v6 = Mix { other: NetworkKind::Ipv6, ..MIX };
    let unprot = [4, 5, 6, 7, 10, 11];
    assert!(mix_protects(&mut rng, Mix { onion: &[3, 8, 9, 10, 11], ..v6 }, &[0, 1, 2, 3, 8, 9], &unprot));
    let unprot = [3, 4, 5, 6, 10, 11];
    assert!(mix_protects(&mut rng, Mix { local: &[7, 8, 9, 10, 11], ..v6 }, &[0, 1, 2, 7, 8, 9], &unprot));
    let unprot = [3, 5, 6, 7, 8, 11];
    assert!(mix_protects(&mut rng, Mix { i2p: &[4, 9, 10, 11], ..v6 }, &[0, 1, 2, 4, 9, 10], &unprot));
    assert!(mix_protects(&mut rng, Mix { cjdns: &[4, 9, 10, 11], ..v6 }, &[0, 1, 2, 4, 9, 10], &unprot));
}

#[test]
fn ratio_shares_the_reserve_between_two_networks() {
    let mut rng = Rng(3);
    // Ties in the count go to the earlier class in Core's order (localhost before onion).
    let m = Mix { n: 4, local: &[4], onion: &[3], ..MIX };
    assert!(mix_protects(&mut rng, m, &[0, 4], &[1, 2]));
    let m = Mix { n: 7, local: &[6], onion: &[5], ..MIX };
    assert!(mix_protects(&mut rng, m, &[0, 1, 6], &[2, 3, 4, 5]));
    let m = Mix { n: 8, local: &[6], onion: &[5], ..MIX };
    assert!(mix_protects(&mut rng, m, &[0, 1, 5, 6], &[2, 3, 4, 7]));
    let m = Mix { local: &[6, 9, 11], onion: &[7, 8, 10], other: NetworkKind::Ipv6, ..MIX };
    assert!(mix_protects(&mut rng, m, &[0, 1, 2, 6, 7, 9], &[3, 4, 5, 8, 10, 11]));
    let m = Mix { local: &[5, 6, 7, 8], onion: &[10], ..MIX };
    assert!(mix_protects(&mut rng, m, &[0, 1, 2, 5, 6, 10], &[3, 4, 7, 8, 9, 11]));
    let m = Mix { n: 16, local: &[6, 9, 11, 12], onion: &[8, 10], other: NetworkKind::Ipv6, ..MIX };
    assert!(mix_protects(&mut rng, m, &[0, 1, 2, 3, 6, 8, 9, 10], &[4, 5, 7, 11, 12, 13, 14, 15]));
    // An unused slot of a small class goes to the other class.
    let m = Mix { n: 16, local: &[11, 12, 13, 14, 15], onion: &[10], ..MIX };
    assert!(mix_protects(&mut rng, m, &[0, 1, 2, 3, 10, 11, 12, 13], &[4, 5, 6, 7, 8, 9, 14, 15]));
    let m = Mix { n: 16, local: &[15], onion: &[7, 8, 9, 10], other: NetworkKind::Ipv6, ..MIX };
    assert!(mix_protects(&mut rng, m, &[0, 1, 2, 3, 7, 8, 9, 15], &[5, 6, 10, 11, 12, 13, 14]));
    // The class with fewer candidates goes first.
    let m = Mix { onion: &[8, 10], i2p: &[6, 9, 11, 12], ..MIX };
    assert!(mix_protects(&mut rng, m, &[0, 1, 2, 6, 8, 10], &[3, 4, 5, 7, 9, 11]));
}

#[test]
fn ratio_shares_the_reserve_between_three_networks() {
    let mut rng = Rng(4);
    let v6 = Mix { other: NetworkKind::Ipv6, ..MIX };
    let m = Mix { n: 4, local: &[2], i2p: &[3], onion: &[1], ..v6 };
    assert!(mix_protects(&mut rng, m, &[0, 3], &[1, 2]));
    let m = Mix { n: 7, local: &[4], i2p: &[6], onion: &[5], ..v6 };
    assert!(mix_protects(&mut rng, m, &[0, 1, 6], &[2, 3, 4, 5]));
    let m = Mix { n: 8, local: &[6], i2p: &[5], onion: &[4], ..v6 };
    assert!(mix_protects(&mut rng, m, &[0, 1, 5, 6], &[2, 3, 4, 7]));
    let m = Mix { n: 16, local: &[6, 12, 13, 14, 15], i2p: &[7, 11], onion: &[9, 10], ..MIX };
    assert!(mix_protects(&mut rng, m, &[0, 1, 2, 3, 6, 7, 9, 11], &[4, 5, 8, 10, 12, 13, 14, 15]));
    let m = Mix { n: 24, local: &[12], i2p: &[15, 16, 17, 18, 19, 20, 21, 22], onion: &[23], ..v6 };
    let (p, u) = ([0, 1, 2, 3, 4, 5, 12, 15, 16, 17, 18, 23], [6, 7, 8, 9, 10, 11, 13, 14, 19, 20, 21, 22]);
    assert!(mix_protects(&mut rng, m, &p, &u));
    let m = Mix { n: 24, local: &[15], i2p: &[12, 14, 17], onion: &[18, 19, 20, 21, 22, 23], ..MIX };
    let (p, u) = ([0, 1, 2, 3, 4, 5, 12, 14, 15, 17, 18, 19], [6, 7, 8, 9, 10, 11, 13, 16, 20, 21, 22, 23]);
    assert!(mix_protects(&mut rng, m, &p, &u));
    let m = Mix { n: 24, local: &[13], i2p: &[17, 18, 19, 20, 21, 22, 23], onion: &[12, 14, 15, 16], ..v6 };
    let (p, u) = ([0, 1, 2, 3, 4, 5, 12, 13, 14, 15, 17, 18], [6, 7, 8, 9, 10, 11, 16, 19, 20, 21, 22, 23]);
    assert!(mix_protects(&mut rng, m, &p, &u));
    let m = Mix { n: 24, local: &[16, 17, 18, 19, 20, 21, 22, 23], cjdns: &[11, 12, 13, 14], onion: &[7, 8, 9], ..MIX };
    let (p, u) = ([0, 1, 2, 3, 4, 5, 7, 8, 11, 12, 16, 17], [6, 9, 10, 13, 14, 15, 18, 19, 20, 21, 22, 23]);
    assert!(mix_protects(&mut rng, m, &p, &u));
}

#[test]
fn ratio_shares_the_reserve_between_four_networks() {
    let mut rng = Rng(5);
    let v6 = Mix { other: NetworkKind::Ipv6, ..MIX };
    let m = Mix { n: 5, local: &[3], cjdns: &[4], i2p: &[1], onion: &[2], ..v6 };
    assert!(mix_protects(&mut rng, m, &[0, 4], &[1, 2, 3]));
    let m = Mix { n: 7, local: &[4], cjdns: &[6], i2p: &[5], onion: &[3], ..MIX };
    assert!(mix_protects(&mut rng, m, &[0, 1, 6], &[2, 3, 4, 5]));
    let m = Mix { n: 8, local: &[3], cjdns: &[5], i2p: &[6], onion: &[3], ..v6 };
    assert!(mix_protects(&mut rng, m, &[0, 1, 5, 6], &[2, 3, 4, 7]));
    let local: Vec<usize> = (6..16).collect();
    let m = Mix { n: 16, local: &local, cjdns: &[11, 15], i2p: &[10, 14], onion: &[8, 9], ..MIX };
    assert!(mix_protects(&mut rng, m, &[0, 1, 2, 3, 6, 8, 10, 11], &[4, 5, 7, 9, 12, 13, 14, 15]));
    let m = Mix { n: 24, local: &[13], cjdns: &[18, 19, 20, 21, 22, 23], i2p: &[17], onion: &[12, 14, 15, 16], ..v6 };
    let (p, u) = ([0, 1, 2, 3, 4, 5, 12, 13, 14, 17, 18, 19], [6, 7, 8, 9, 10, 11, 15, 16, 20, 21, 22, 23]);
    assert!(mix_protects(&mut rng, m, &p, &u));
}

/// Shuffles and selects; true if the evicted peer is one of `ids`.
fn evicts_one_of(rng: &mut Rng, mut c: Vec<Candidate>, ids: &[usize]) -> bool {
    rng.shuffle(&mut c);
    select_eviction(&c).is_some_and(|id| ids.contains(&id))
}

fn evicts_with(rng: &mut Rng, n: usize, setup: impl Fn(&mut Candidate), ids: &[usize]) -> bool {
    let mut c = random_candidates(n, rng);
    c.iter_mut().for_each(setup);
    evicts_one_of(rng, c, ids)
}

#[test]
fn characteristics_protect_their_peers_at_every_size() {
    let mut rng = Rng(6);
    let first = |k: usize| (0..k).collect::<Vec<_>>();
    for n in 0..200usize {
        let recent = |id: usize| at((n - id) as u64);
        // The 4 highest keyed net groups.
        assert!(!evicts_with(&mut rng, n, |c| c.keyed_netgroup = (n - c.id) as u64, &first(4)), "n={n}");
        // The 8 lowest pings.
        assert!(!evicts_with(&mut rng, n, |c| c.min_ping = Some(Duration::from_micros(c.id as u64)), &first(8)));
        // The 4 most recent novel transactions.
        assert!(!evicts_with(&mut rng, n, |c| c.last_tx = Some(recent(c.id)), &first(4)));
        // Up to 8 block-relay-only peers with the most recent novel blocks, then 4 more of any.
        let block_relay_only = |c: &mut Candidate| {
            c.last_block = Some(recent(c.id));
            if c.id <= 7 {
                c.relays_txs = false;
                c.relevant_services = true;
            }
        };
        assert!(!evicts_with(&mut rng, n, block_relay_only, &first(8)));
        assert!(!evicts_with(&mut rng, n, block_relay_only, &first(12)));
        // The 4 most recent novel blocks.
        assert!(!evicts_with(&mut rng, n, |c| c.last_block = Some(recent(c.id)), &first(4)));
        // All of them at once: 4 + 8 + 4 + 4 distinct peers.
        let all = |c: &mut Candidate| {
            c.keyed_netgroup = (n - c.id) as u64;
            c.min_ping = Some(Duration::from_micros(c.id as u64));
            c.last_tx = Some(recent(c.id));
            c.last_block = Some(recent(c.id));
        };
        assert!(!evicts_with(&mut rng, n, all, &first(20)));
        // 28 protected at most by characteristics: with 29 or more somebody goes; with 20 or
        // fewer (at least 4 + 8 + 4 + 4 protected) nobody does.
        if n >= 29 {
            assert!(select_eviction(&random_candidates(n, &mut rng)).is_some(), "n={n}");
        }
        if n <= 20 {
            assert!(select_eviction(&random_candidates(n, &mut rng)).is_none(), "n={n}");
        }
    }
}

/// 40 peers whose protection is known: 0..4 by net group, 4..12 by ping, 12..16 by
/// transactions, 16..20 by blocks, 20..30 by uptime (id `i` connected at second `i`), leaving
/// 30..40, all in net group 7 unless `groups` says otherwise.
fn known_forty(groups: &[(usize, u64)], prefer: &[usize]) -> Vec<Candidate> {
    (0..40)
        .map(|id| {
            let ip = IpAddr::from([192, 0, 2, id as u8]);
            let mut c = EvictionCandidate::new(id, at(id as u64), ip, 7);
            c.min_ping = Some(Duration::from_millis(if (4..12).contains(&id) { 1 } else { 100 }));
            c.keyed_netgroup = if id < 4 { 1000 + id as u64 } else { 7 };
            if let Some(&(_, g)) = groups.iter().find(|(i, _)| *i == id) {
                c.keyed_netgroup = g;
            }
            c.last_tx = (12..16).contains(&id).then(|| at(500));
            c.last_block = (16..20).contains(&id).then(|| at(500));
            c.prefer_evict = prefer.contains(&id);
            c
        })
        .collect()
}

#[test]
fn the_youngest_of_the_unprotected_goes() {
    assert_eq!(select_eviction(&known_forty(&[], &[])), Some(39));
}

#[test]
fn prefer_evict_narrows_the_choice_but_never_unprotects() {
    assert_eq!(select_eviction(&known_forty(&[], &[31, 33])), Some(33), "the youngest of the marked");
    assert_eq!(select_eviction(&known_forty(&[], &[5, 25])), Some(39), "marked but protected: ignored");
    assert_eq!(select_eviction(&known_forty(&[], &[5, 31])), Some(31));
}

#[test]
fn the_largest_net_group_loses_its_youngest() {
    // 30..33 in group A, 33..36 in group B, 36..40 each alone.
    let mut groups: Vec<(usize, u64)> = (30..40).map(|id| (id, 100 + id as u64)).collect();
    for (id, g) in groups.iter_mut() {
        *g = match *id {
            30..=32 => 1,
            33..=35 => 2,
            _ => *g,
        };
    }
    // A tie in size: the group whose youngest member is youngest (B: 35 beats A: 32).
    assert_eq!(select_eviction(&known_forty(&groups, &[])), Some(35));
    // A larger group wins whatever the ages.
    groups[9].1 = 1; // 39 joins A
    assert_eq!(select_eviction(&known_forty(&groups, &[])), Some(39));
    groups[9].1 = 139;
    groups[0].1 = 2; // 30 joins B
    assert_eq!(select_eviction(&known_forty(&groups, &[])), Some(35));
}

#[test]
fn equal_youngest_times_go_to_the_group_that_filled_first() {
    // Groups A = {30, 38} and B = {31, 39}, all four connected at the same, latest time; the
    // rest of 30..40 alone. Core scans youngest first (ties here by position: 30, 31, 38, 39),
    // so A reaches two members (at 38) before B does (at 39); B's equal time does not beat A,
    // and A's first-scanned member, 30, goes.
    let groups = [(30, 1), (38, 1), (31, 2), (39, 2), (32, 3), (33, 4), (34, 5), (35, 6), (36, 8), (37, 9)];
    let mut c = known_forty(&groups, &[]);
    for id in [30, 31, 38, 39] {
        c[id].connected = at(45);
    }
    assert_eq!(select_eviction(&c), Some(30));
}

#[test]
fn scratch_space_is_reused() {
    let mut policy = BitcoinCoreEviction::new();
    let c = known_forty(&[], &[]);
    assert_eq!(policy.select(&c), Some(39));
    let (order, groups) = (policy.order.capacity(), policy.groups.capacity());
    for _ in 0..10 {
        assert_eq!(policy.select(&c), Some(39));
    }
    assert_eq!((policy.order.capacity(), policy.groups.capacity()), (order, groups));
}

#[test]
fn candidates_from_addresses_get_core_defaults() {
    let c: Candidate = EvictionCandidate::new(1, at(0), "::ffff:127.0.0.1".parse().unwrap(), 9);
    assert_eq!((c.network, c.is_local, c.min_ping, c.last_block), (NetworkKind::Ipv4, true, None, None));
    let c: Candidate = EvictionCandidate::new(1, at(0), "2001:db8::1".parse().unwrap(), 9);
    assert_eq!((c.network, c.is_local), (NetworkKind::Ipv6, false));
    assert!(EvictionCandidate::new(1, at(0), "0.1.2.3".parse().unwrap(), 9).is_local);
}

/// Core's algorithm written out literally, on a vector of candidates that shrinks: stable
/// sorts by a key (ties by id, which is the input position), protected peers removed from the
/// tail, then the group scan with a map. Returns the peers left after protection and the choice.
fn model(input: &[Candidate]) -> (Vec<usize>, Option<usize>) {
    fn erase_last<K: Ord>(
        v: &mut Vec<Candidate>,
        k: usize,
        key: impl Fn(&Candidate) -> K,
        protect: impl Fn(&Candidate) -> bool,
    ) {
        v.sort_by(|a, b| key(a).cmp(&key(b)).then(a.id.cmp(&b.id)));
        let tail = v.split_off(v.len() - k.min(v.len()));
        v.extend(tail.into_iter().filter(|c| !protect(c)));
    }
    let all = |_: &Candidate| true;
    let ping = |c: &Candidate| c.min_ping.unwrap_or(Duration::MAX);
    let mut v = input.to_vec();
    erase_last(&mut v, 4, |c| c.keyed_netgroup, all);
    erase_last(&mut v, 8, |c| Reverse(ping(c)), all);
    erase_last(&mut v, 4, |c| (c.last_tx, c.relays_txs, !c.bloom_filter, Reverse(c.connected)), all);
    erase_last(
        &mut v,
        8,
        |c| (!c.relays_txs, c.last_block, c.relevant_services, Reverse(c.connected)),
        |c| !c.relays_txs && c.relevant_services,
    );
    erase_last(&mut v, 4, |c| (c.last_block, c.relevant_services, Reverse(c.connected)), all);

    let total = v.len() / 2;
    let reserve = total / 2;
    type Class = (bool, Option<NetworkKind>); // (localhost?, network)
    let is_in = |class: Class, c: &Candidate| if class.0 { c.is_local } else { Some(c.network) == class.1 };
    let mut classes: Vec<(Class, usize)> = [
        (false, Some(NetworkKind::Cjdns)),
        (false, Some(NetworkKind::I2p)),
        (true, None),
        (false, Some(NetworkKind::Onion)),
    ]
    .into_iter()
    .map(|class| (class, v.iter().filter(|c| is_in(class, c)).count()))
    .collect();
    classes.sort_by_key(|&(_, n)| n);
    let mut done = 0;
    'outer: while done < reserve {
        let live = classes.iter().filter(|(_, n)| *n > 0).count();
        if live == 0 {
            break;
        }
        let each = ((reserve - done) / live).max(1);
        let mut any = false;
        for (class, n) in classes.iter_mut() {
            if *n == 0 {
                continue;
            }
            let before = v.len();
            let class = *class;
            erase_last(
                &mut v,
                each,
                |c| (class.0 && c.is_local, Some(c.network) == class.1, Reverse(c.connected)),
                |c| is_in(class, c),
            );
            let got = before - v.len();
            if got > 0 {
                any = true;
                done += got;
                if done >= reserve {
                    break 'outer;
                }
                *n -= got;
            }
        }
        if !any {
            break;
        }
    }
    erase_last(&mut v, total - done, |c| Reverse(c.connected), all);
    let survivors: Vec<usize> = v.iter().map(|c| c.id).collect();
    if v.iter().any(|c| c.prefer_evict) {
        v.retain(|c| c.prefer_evict);
    }
    let mut groups: HashMap<u64, Vec<Candidate>> = HashMap::new();
    let (mut most, mut most_time, mut most_group) = (0, None, None);
    for c in &v {
        let group = groups.entry(c.keyed_netgroup).or_default();
        group.push(*c);
        let time = Some(group[0].connected);
        if group.len() > most || (group.len() == most && time > most_time) {
            (most, most_time, most_group) = (group.len(), time, Some(c.keyed_netgroup));
        }
    }
    (survivors, most_group.map(|g| groups[&g][0].id))
}

fn candidate(id: usize) -> impl Strategy<Value = Candidate> {
    let time = || prop_oneof![Just(None), (0u64..20).prop_map(|s| Some(at(s)))];
    let ping = prop_oneof![Just(None), (0u64..20).prop_map(|us| Some(Duration::from_micros(us)))];
    ((0u64..30, ping, time(), time()), (any::<[bool; 5]>(), 0u64..6, 0..NETWORKS.len())).prop_map(
        move |((connected, min_ping, last_block, last_tx), (flags, group, net))| EvictionCandidate {
            id,
            connected: at(connected),
            min_ping,
            last_block,
            last_tx,
            relevant_services: flags[0],
            relays_txs: flags[1],
            bloom_filter: flags[2],
            keyed_netgroup: group,
            prefer_evict: flags[3],
            network: NETWORKS[net],
            is_local: flags[4],
        },
    )
}

fn candidates() -> impl Strategy<Value = Vec<Candidate>> {
    (0usize..90).prop_flat_map(|n| (0..n).map(candidate).collect::<Vec<_>>())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The evicted peer is never a protected one, is a member of a largest net group among the
    /// unprotected (marked ones, if any are marked), and is the model's choice.
    #[test]
    fn the_evicted_peer_is_unprotected_and_from_a_largest_group(c in candidates()) {
        let (survivors, want) = model(&c);
        let mut policy = BitcoinCoreEviction::new();
        let got = policy.select(&c);
        prop_assert_eq!(got, want);
        prop_assert_eq!(got.is_none(), survivors.is_empty());
        if let Some(id) = got {
            prop_assert!(survivors.contains(&id), "a protected peer was evicted");
            let pool: Vec<&Candidate> = {
                let left: Vec<&Candidate> = survivors.iter().map(|&i| &c[i]).collect();
                if left.iter().any(|p| p.prefer_evict) { left.into_iter().filter(|p| p.prefer_evict).collect() } else { left }
            };
            prop_assert!(pool.iter().any(|p| p.id == id), "chosen among the marked when some are marked");
            let size = |g: u64| pool.iter().filter(|p| p.keyed_netgroup == g).count();
            let largest = pool.iter().map(|p| size(p.keyed_netgroup)).max().unwrap_or(0);
            prop_assert_eq!(size(c[id].keyed_netgroup), largest);
            let youngest = pool.iter().filter(|p| p.keyed_netgroup == c[id].keyed_netgroup).map(|p| p.connected).max();
            prop_assert_eq!(Some(c[id].connected), youngest, "the group's youngest goes");
        }
        // The same answer with warm scratch space.
        prop_assert_eq!(policy.select(&c), got);
    }

    /// Any size, any values, including the extremes: no panic, and the answer is a candidate.
    #[test]
    fn never_panics_on_any_input(n in 0usize..300, seed in any::<u64>()) {
        let mut rng = Rng(seed);
        let mut c = random_candidates(n, &mut rng);
        for p in c.iter_mut().filter(|_| rng.below(4) == 0) {
            p.min_ping = Some(Duration::MAX);
            p.keyed_netgroup = u64::MAX;
            p.last_block = None;
        }
        let got = select_eviction(&c);
        prop_assert!(got.map_or(true, |id| id < n));
        if n >= 29 {
            prop_assert!(got.is_some(), "at most 28 are protected by characteristics");
        }
        if n <= 20 {
            prop_assert!(got.is_none(), "at least 20 are protected by characteristics");
        }
    }
}
