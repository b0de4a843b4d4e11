//! Inbound eviction: when every inbound slot is taken, which peer to drop so that a newcomer can
//! have its slot, or none.
//!
//! The default, [`BitcoinCoreEviction`], is Bitcoin Core's algorithm (`SelectNodeToEvict`). It first
//! protects peers with qualities an attacker cannot cheaply fake: 4 by keyed net group (the
//! attacker cannot predict which groups), 8 by lowest ping (needs physical proximity), 4 that
//! most recently sent new transactions and 4 (plus up to 8 block-relay-only peers) that most
//! recently sent new blocks (need useful work), then half of the rest by longest uptime, with up
//! to a quarter of all candidates reserved for peers on disadvantaged networks (onion, I2P,
//! CJDNS, localhost) that lose on ping. Of what remains, it prefers peers marked
//! `prefer_evict`, takes the net group with the most connections (ties: the group whose
//! youngest member is youngest) and evicts that group's youngest peer. So with 20 or fewer
//! candidates nobody is evicted, and with 29 or more somebody always is.
//!
//! The caller passes only evictable peers: inbound, and not allowlisted (Core's `noban`).
//! Ties in every ordering are broken by position in the candidate slice, so the result is a
//! deterministic function of the slice (Core's unstable sorts leave ties unspecified). The
//! policy is a trait object so that a node can plug in its own, and [`BitcoinCoreEviction`] keeps its
//! scratch buffers between calls: eviction runs on every accept while the slots are full, which
//! under attack is every accept, so it must not allocate then.

use std::cmp::Ordering;
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::net::canonical;

/// The network a peer is reached through; onion, I2P and CJDNS peers get reserved protection.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NetworkKind {
    /// IPv4 (and IPv4-mapped IPv6).
    Ipv4,
    /// IPv6.
    Ipv6,
    /// A Tor onion service.
    Onion,
    /// I2P.
    I2p,
    /// CJDNS.
    Cjdns,
}

impl NetworkKind {
    /// The network of a peer connected from `ip`. (Core also sets unroutable addresses apart,
    /// but that changes no eviction decision, so it is not modelled.)
    pub(crate) fn of(ip: IpAddr) -> Self {
        match canonical(ip) {
            IpAddr::V4(_) => NetworkKind::Ipv4,
            IpAddr::V6(_) => NetworkKind::Ipv6,
        }
    }
}

/// What eviction knows about one inbound peer (Core's `NodeEvictionCandidate`). `I` is the
/// caller's connection id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EvictionCandidate<I = u64> {
    /// The caller's id for the peer, returned if it is chosen.
    pub id: I,
    /// When the peer connected.
    pub connected: Instant,
    /// The lowest ping measured, `None` if none yet (counts as the slowest).
    pub min_ping: Option<Duration>,
    /// When the peer last sent a block new to us, `None` if never.
    pub last_block: Option<Instant>,
    /// When the peer last sent a transaction accepted into our mempool, `None` if never.
    pub last_tx: Option<Instant>,
    /// Whether the peer offers the services we want (Core: full node, witness).
    pub relevant_services: bool,
    /// Whether the peer relays transactions to us.
    pub relays_txs: bool,
    /// Whether the peer loaded a bloom filter.
    pub bloom_filter: bool,
    /// The peer's [`NetGroup`](crate::net::NetGroup) hashed with a per-node secret key
    /// ([`NetGroup::keyed`](crate::net::NetGroup::keyed)).
    pub keyed_netgroup: u64,
    /// Whether the peer should go first (for example a misbehaving one).
    pub prefer_evict: bool,
    /// The network the peer came through.
    pub network: NetworkKind,
    /// Whether the peer's address is local (loopback or `0.0.0.0/8`), as a manually configured
    /// onion service's peers appear.
    pub is_local: bool,
}

impl<I> EvictionCandidate<I> {
    /// A peer connected from `ip` at `connected` that has done nothing useful yet (Core's
    /// defaults, which make newer peers likelier to go); fill in what is known.
    pub fn new(id: I, connected: Instant, ip: IpAddr, keyed_netgroup: u64) -> Self {
        let ip = canonical(ip);
        let is_local = match ip {
            IpAddr::V4(v4) => v4.is_loopback() || v4.octets()[0] == 0,
            IpAddr::V6(v6) => v6.is_loopback(),
        };
        EvictionCandidate {
            id,
            connected,
            min_ping: None,
            last_block: None,
            last_tx: None,
            relevant_services: false,
            relays_txs: false,
            bloom_filter: false,
            keyed_netgroup,
            prefer_evict: false,
            network: NetworkKind::of(ip),
            is_local,
        }
    }
}

/// Chooses which inbound peer to evict when the slots are full.
///
/// Object-safe, so a configuration can hold a `Box<dyn EvictionPolicy<Id> + Send>`.
pub trait EvictionPolicy<I>: fmt::Debug {
    /// The peer to evict to make room for a newcomer, or `None` to refuse the newcomer instead.
    fn select(&mut self, candidates: &[EvictionCandidate<I>]) -> Option<I>;
}

/// Bitcoin Core's eviction (see the module docs), with reusable scratch space.
///
/// # Examples
///
/// ```
/// use connmgr::{inbound::{BitcoinCoreEviction, EvictionCandidate, EvictionPolicy}, addr::NetGroup};
/// use std::collections::hash_map::RandomState;
/// use std::net::IpAddr;
/// use std::time::{Duration, Instant};
///
/// let key = RandomState::new(); // once per node
/// let t0 = Instant::now();
/// let mut peers = Vec::new();
/// for i in 0..40u8 {
///     // The ten youngest, slowest peers come from one /16; the rest each from its own.
///     let ip: IpAddr = if i >= 30 { [203, 0, 113, i].into() } else { [198, i, 0, 1].into() };
///     let connected = t0 + Duration::from_secs(i.into());
///     let mut peer = EvictionCandidate::new(u64::from(i), connected, ip, NetGroup::of(ip).keyed(&key));
///     peer.min_ping = Some(Duration::from_millis(if i >= 30 { 200 } else { 100 + u64::from(i) }));
///     peers.push(peer);
/// }
/// let mut policy: Box<dyn EvictionPolicy<u64> + Send> = Box::new(BitcoinCoreEviction::new());
/// let evicted = policy.select(&peers).expect("40 peers: someone goes");
/// assert!(evicted >= 30, "a peer of the crowded /16 goes");
/// assert_eq!(policy.select(&peers[..20]), None, "20 peers are all protected");
/// ```
#[derive(Clone, Debug, Default)]
pub struct BitcoinCoreEviction {
    /// Indices into the candidates still evictable.
    order: Vec<usize>,
    /// (keyed net group, rank by youngest first, index) of the final candidates.
    groups: Vec<(u64, usize, usize)>,
}

impl BitcoinCoreEviction {
    /// The policy with empty scratch space (it grows to the largest candidate set seen).
    pub fn new() -> Self {
        BitcoinCoreEviction::default()
    }
}

impl<I: Copy> EvictionPolicy<I> for BitcoinCoreEviction {
    fn select(&mut self, candidates: &[EvictionCandidate<I>]) -> Option<I> {
        let c = candidates;
        let order = &mut self.order;
        order.clear();
        order.extend(0..c.len());
        protect_by_characteristics(order, c);
        protect_by_ratio(order, c);
        if order.is_empty() {
            return None;
        }
        // A peer that is best by the criteria above stays even if marked; of the rest, the
        // marked go first.
        if order.iter().any(|&i| c[i].prefer_evict) {
            order.retain(|&i| c[i].prefer_evict);
        }
        // `order` is youngest first (the last sort of `protect_by_ratio`). The group with the
        // most members wins; on a tie, the one whose youngest member is youngest; then the one
        // that reached that size first in youngest-first order (Core's scan order).
        self.groups.clear();
        self.groups.extend(order.iter().enumerate().map(|(rank, &i)| (c[i].keyed_netgroup, rank, i)));
        self.groups.sort_unstable();
        let mut best: Option<(usize, Instant, usize, usize)> = None; // (size, youngest, reached, victim)
        for run in GroupRuns(&self.groups) {
            let (size, youngest, reached, victim) = (run.len(), c[run[0].2].connected, run[run.len() - 1].1, run[0].2);
            let better = best.map_or(true, |(s, y, r, _)| {
                size.cmp(&s).then(youngest.cmp(&y)).then(r.cmp(&reached)) == Ordering::Greater
            });
            if better {
                best = Some((size, youngest, reached, victim));
            }
        }
        best.map(|(_, _, _, victim)| c[victim].id)
    }
}

/// Runs of equal keyed net group in a sorted slice (`slice::chunk_by` needs Rust 1.77).
struct GroupRuns<'a>(&'a [(u64, usize, usize)]);

impl<'a> Iterator for GroupRuns<'a> {
    type Item = &'a [(u64, usize, usize)];

    fn next(&mut self) -> Option<Self::Item> {
        let first = self.0.first()?.0;
        let len = self.0.iter().take_while(|g| g.0 == first).count();
        let (run, rest) = self.0.split_at(len);
        self.0 = rest;
        Some(run)
    }
}

/// Chooses Core's peer to evict, allocating scratch space for this call only; keep a
/// [`BitcoinCoreEviction`] to reuse it.
#[cfg(test)]
pub(crate) fn select_eviction<I: Copy>(candidates: &[EvictionCandidate<I>]) -> Option<I> {
    BitcoinCoreEviction::new().select(candidates)
}

/// Sorts `order` by `cmp` (ties by index), then removes from its last `k` entries those that
/// `protect` selects: Core's `EraseLastKElements`.
fn erase_last_k<I>(
    order: &mut Vec<usize>,
    c: &[EvictionCandidate<I>],
    k: usize,
    cmp: impl Fn(&EvictionCandidate<I>, &EvictionCandidate<I>) -> Ordering,
    protect: impl Fn(&EvictionCandidate<I>) -> bool,
) {
    order.sort_unstable_by(|&a, &b| cmp(&c[a], &c[b]).then(a.cmp(&b)));
    let start = order.len() - k.min(order.len());
    let mut kept = start;
    for r in start..order.len() {
        if !protect(&c[order[r]]) {
            order[kept] = order[r];
            kept += 1;
        }
    }
    order.truncate(kept);
}

fn always<I>(_: &EvictionCandidate<I>) -> bool {
    true
}

fn ping<I>(c: &EvictionCandidate<I>) -> Duration {
    c.min_ping.unwrap_or(Duration::MAX)
}

/// Orderings put the peers most worth protecting last.
fn protect_by_characteristics<I>(order: &mut Vec<usize>, c: &[EvictionCandidate<I>]) {
    erase_last_k(order, c, 4, |a, b| a.keyed_netgroup.cmp(&b.keyed_netgroup), always);
    erase_last_k(order, c, 8, |a, b| ping(b).cmp(&ping(a)), always);
    let by_tx = |a: &EvictionCandidate<I>, b: &EvictionCandidate<I>| {
        (a.last_tx.cmp(&b.last_tx))
            .then(a.relays_txs.cmp(&b.relays_txs))
            .then(b.bloom_filter.cmp(&a.bloom_filter))
            .then(b.connected.cmp(&a.connected))
    };
    erase_last_k(order, c, 4, by_tx, always);
    let by_block_relay_only = |a: &EvictionCandidate<I>, b: &EvictionCandidate<I>| {
        (b.relays_txs.cmp(&a.relays_txs))
            .then(a.last_block.cmp(&b.last_block))
            .then(a.relevant_services.cmp(&b.relevant_services))
            .then(b.connected.cmp(&a.connected))
    };
    erase_last_k(order, c, 8, by_block_relay_only, |n| !n.relays_txs && n.relevant_services);
    let by_block = |a: &EvictionCandidate<I>, b: &EvictionCandidate<I>| {
        (a.last_block.cmp(&b.last_block))
            .then(a.relevant_services.cmp(&b.relevant_services))
            .then(b.connected.cmp(&a.connected))
    };
    erase_last_k(order, c, 4, by_block, always);
}

/// A class of disadvantaged peers that gets reserved protection.
#[derive(Clone, Copy)]
enum Reserved {
    Net(NetworkKind),
    Local,
}

impl Reserved {
    fn holds<I>(self, c: &EvictionCandidate<I>) -> bool {
        match self {
            Reserved::Net(n) => c.network == n,
            Reserved::Local => c.is_local,
        }
    }
}

/// Protects half of `order` by uptime, reserving up to half of those (a quarter of all) for
/// disadvantaged networks, fewest candidates first: Core's `ProtectEvictionCandidatesByRatio`.
/// Leaves `order` sorted youngest first.
fn protect_by_ratio<I>(order: &mut Vec<usize>, c: &[EvictionCandidate<I>]) {
    let total_protect = order.len() / 2;
    // Core's order, which decides ties in the count: CJDNS, I2P, localhost, onion.
    let mut classes = [
        Reserved::Net(NetworkKind::Cjdns),
        Reserved::Net(NetworkKind::I2p),
        Reserved::Local,
        Reserved::Net(NetworkKind::Onion),
    ]
    .map(|class| (class, order.iter().filter(|&&i| class.holds(&c[i])).count()));
    // A stable sort by count, in place (four entries).
    for i in 1..classes.len() {
        let mut j = i;
        while j > 0 && classes[j - 1].1 > classes[j].1 {
            classes.swap(j - 1, j);
            j -= 1;
        }
    }
    let max_by_network = total_protect / 2;
    let mut protected = 0;
    'rounds: while protected < max_by_network {
        let networks = classes.iter().filter(|(_, n)| *n > 0).count();
        if networks == 0 {
            break;
        }
        let per_network = ((max_by_network - protected) / networks).max(1);
        let mut progress = false;
        for (class, count) in classes.iter_mut() {
            if *count == 0 {
                continue;
            }
            let before = order.len();
            let class = *class;
            let by_class_then_uptime = |a: &EvictionCandidate<I>, b: &EvictionCandidate<I>| {
                let local = match class {
                    Reserved::Local => a.is_local.cmp(&b.is_local),
                    Reserved::Net(_) => Ordering::Equal,
                };
                let net = match class {
                    Reserved::Net(n) => (a.network == n).cmp(&(b.network == n)),
                    Reserved::Local => Ordering::Equal,
                };
                local.then(net).then(b.connected.cmp(&a.connected))
            };
            erase_last_k(order, c, per_network, by_class_then_uptime, |x| class.holds(x));
            let delta = before - order.len();
            if delta > 0 {
                progress = true;
                protected += delta;
                if protected >= max_by_network {
                    break 'rounds;
                }
                *count -= delta;
            }
        }
        if !progress {
            break;
        }
    }
    let rest = total_protect.saturating_sub(protected);
    erase_last_k(order, c, rest, |a, b| b.connected.cmp(&a.connected), always);
}

#[cfg(test)]
mod tests;
