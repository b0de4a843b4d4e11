//! Inbound admission policies: what protects a public node's inbound slots from one host that
//! opens hundreds of connections, reconnects in a loop, or misbehaves and comes straight back.
//!
//! Everything here is sans-IO (time is an input) and is decided from the peer's address alone,
//! so the caller can run it right after `accept`, before it allocates anything for the
//! connection. [`Admission`] runs the per-accept checks, each `O(1)` (bans: one hash lookup per
//! prefix length in use) and allocation-free in steady state:
//!
//! - [`bans`]: banned subnets with expiries (btcd bans a misbehaving host for 24 h; Core bans
//!   subnets and persists the list), and the allowlist of trusted subnets.
//! - [`limits`]: caps per host and per [`NetGroup`], an accept-rate token bucket (zebra), a
//!   same-host reconnect throttle (geth refuses an IP that comes back within 30 s), and a log
//!   throttle.
//! - [`eviction`]: when every slot is taken, Bitcoin Core's choice of the inbound peer to drop
//!   for a newcomer, protecting diverse and useful peers. It is not per-accept work: it runs only
//!   when slots are full.
//!
//! The `max_inbound` limit itself stays in the core's inbound limiter.

use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::net::{canonical, NetGroup};

pub(crate) mod bans;
pub(crate) mod eviction;
pub(crate) mod limits;
mod protection;

pub use protection::{Eviction, Protection};

use bans::{Allowlist, BanList};
use limits::{host, Counts, LogThrottle, ReconnectThrottle, TokenBucket};

/// Why an inbound connection was refused.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rejection {
    /// The address is in a banned subnet.
    Banned,
    /// The host already has the most connections allowed per host.
    PerIpCap,
    /// The address's net group already has the most connections allowed per group.
    PerNetgroupCap,
    /// The host connected less than the reconnect window ago.
    ReconnectTooSoon,
    /// The accept-rate bucket is empty.
    RateLimited,
}

impl Rejection {
    const COUNT: usize = 5;
}

// The per-cause counters are indexed by discriminant: a new last variant must raise COUNT.
const _: () = assert!(Rejection::RateLimited as usize + 1 == Rejection::COUNT);

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rejection::Banned => "address is banned",
            Rejection::PerIpCap => "too many connections from this host",
            Rejection::PerNetgroupCap => "too many connections from this network group",
            Rejection::ReconnectTooSoon => "host reconnected too soon",
            Rejection::RateLimited => "accept rate limit reached",
        })
    }
}

impl std::error::Error for Rejection {}

/// A sustained accept rate with a burst allowance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AcceptRate {
    /// Accepts allowed at once.
    pub burst: u32,
    /// Accepts allowed per second, sustained.
    pub per_second: u32,
}

/// The limits [`Admission`] enforces; `None` turns a check off. The default turns every check
/// off (today's behaviour: only `max_inbound`), with room for 4096 bans.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AdmissionConfig {
    /// Live connections per host (an IPv4 address or an IPv6 /64). zebra allows one per IP.
    pub max_per_ip: Option<u32>,
    /// Live connections per net group (by default an IPv4 /16 or an IPv6 /32).
    pub max_per_netgroup: Option<u32>,
    /// Accepts per second over all addresses.
    pub accept_rate: Option<AcceptRate>,
    /// A host that connected less than this long ago is refused (geth: 30 s). A refusal does
    /// not restart the window.
    pub reconnect_window: Option<Duration>,
    /// Slots of the reconnect table (24 bytes each, rounded up to a power of two); more slots
    /// forget fewer hosts under a flood of distinct addresses.
    pub reconnect_slots: usize,
    /// The most bans held; when full, the ban expiring soonest makes room.
    pub ban_capacity: usize,
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        AdmissionConfig {
            max_per_ip: None,
            max_per_netgroup: None,
            accept_rate: None,
            reconnect_window: None,
            reconnect_slots: 4096,
            ban_capacity: 4096,
        }
    }
}

/// Counts of admission decisions since the [`Admission`] was made.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct AdmissionStats {
    /// Connections that passed every check.
    pub passed: u64,
    /// Connections let in by the allowlist without checks.
    pub allowlisted: u64,
    rejected: [u64; Rejection::COUNT],
}

impl AdmissionStats {
    /// Connections refused for `cause`.
    #[cfg(test)]
    pub(crate) fn rejected(&self, cause: Rejection) -> u64 {
        self.rejected[cause as usize]
    }

    /// Connections refused for any cause.
    #[cfg(test)]
    pub(crate) fn total_rejected(&self) -> u64 {
        self.rejected.iter().sum()
    }
}

/// The per-accept inbound checks, in one place.
///
/// On each accepted socket, before allocating anything for it, call [`Admission::check`] with
/// the peer's address and net group. The checks run in this order, and the first that fails is
/// the answer:
///
/// 1. the allowlist: a trusted address passes at once, bypassing everything below;
/// 2. bans ([`Rejection::Banned`]);
/// 3. the per-host cap ([`Rejection::PerIpCap`]), then the per-group cap
///    ([`Rejection::PerNetgroupCap`]);
/// 4. the reconnect throttle ([`Rejection::ReconnectTooSoon`]);
/// 5. the accept-rate bucket ([`Rejection::RateLimited`]).
///
/// Only a connection that passes changes any state (it takes a rate token and stamps the
/// reconnect table), so attempts refused for a ban or a cap cannot drain the rate budget that
/// honest newcomers need, and a refused retry does not extend its own lockout. The caps count
/// connections the caller reports with [`Admission::admitted`] and [`Admission::closed`];
/// allowlisted connections are counted too (they ignore the caps, but keeping every
/// connection counted means the counts stay right even if the allowlist changes while they
/// are up).
///
/// Rejections are counted per cause ([`Admission::stats`]) and logged at warn level, the first
/// three and then at most one every 30 s with the number left out, so a flood never floods
/// the log.
#[derive(Debug)]
pub(crate) struct Admission {
    allowlist: Allowlist,
    bans: BanList,
    per_host: Counts<IpAddr>,
    per_group: Counts<NetGroup>,
    max_per_host: Option<u32>,
    max_per_group: Option<u32>,
    bucket: Option<TokenBucket>,
    reconnect: Option<ReconnectThrottle>,
    stats: AdmissionStats,
    log: LogThrottle,
    /// A sharded manager's counts per host and group, shared by every shard (the local ones
    /// are then unused): reserved at `check`, released at `closed` or `abandon`.
    #[cfg(feature = "shards")]
    shared: Option<std::sync::Arc<crate::policy::global::Global>>,
}

/// btcd warns about the first three rejections, then at most once per this interval.
const LOG_FREE: u32 = 3;
const LOG_INTERVAL: Duration = Duration::from_secs(30);

impl Admission {
    /// Checks as `config` says, starting at `now` (the rate bucket starts full).
    pub(crate) fn new(config: &AdmissionConfig, now: Instant) -> Self {
        Admission {
            allowlist: Allowlist::new(),
            bans: BanList::new(config.ban_capacity),
            per_host: Counts::new(),
            per_group: Counts::new(),
            max_per_host: config.max_per_ip,
            max_per_group: config.max_per_netgroup,
            bucket: config.accept_rate.map(|r| TokenBucket::new(r.burst, r.per_second, now)),
            reconnect: config.reconnect_window.map(|w| ReconnectThrottle::new(w, config.reconnect_slots)),
            stats: AdmissionStats::default(),
            log: LogThrottle::new(LOG_FREE, LOG_INTERVAL),
            #[cfg(feature = "shards")]
            shared: None,
        }
    }

    /// Counts hosts and groups in `global`'s tables, across shards, from now on.
    #[cfg(feature = "shards")]
    pub(crate) fn share(&mut self, global: std::sync::Arc<crate::policy::global::Global>) {
        self.shared = Some(global);
    }

    /// Decides whether to keep a connection just accepted from `ip` (in net group `group`) at
    /// `now`; see the type's docs for the order of the checks.
    pub(crate) fn check(&mut self, now: Instant, ip: IpAddr, group: NetGroup) -> Result<(), Rejection> {
        let ip = canonical(ip);
        if self.allowlist.contains(ip) {
            self.stats.allowlisted += 1;
            #[cfg(feature = "shards")]
            if let Some(g) = &self.shared {
                // Counted like any connection (see `admitted`), never refused.
                let _ = g.reserve_inbound(host(ip), group, (None, None), true);
            }
            return Ok(());
        }
        match self.decide(now, ip, group) {
            Ok(()) => {
                self.stats.passed += 1;
                Ok(())
            }
            Err(cause) => {
                self.stats.rejected[cause as usize] += 1;
                match self.log.allow(now) {
                    Some(0) => log::warn!("Inbound connection from {ip} refused: {cause}"),
                    Some(n) => {
                        log::warn!("Inbound connection from {ip} refused: {cause} ({n} more refusals not logged)")
                    }
                    None => {}
                }
                Err(cause)
            }
        }
    }

    fn decide(&mut self, now: Instant, ip: IpAddr, group: NetGroup) -> Result<(), Rejection> {
        if self.bans.is_banned(ip, now) {
            return Err(Rejection::Banned);
        }
        self.caps(ip, group)?;
        if self.reconnect.as_ref().is_some_and(|r| r.is_recent(ip, now)) {
            self.abandon(ip, group);
            return Err(Rejection::ReconnectTooSoon);
        }
        if self.bucket.as_mut().is_some_and(|b| !b.try_take(now)) {
            self.abandon(ip, group);
            return Err(Rejection::RateLimited);
        }
        if let Some(r) = &mut self.reconnect {
            r.record(ip, now);
        }
        Ok(())
    }

    /// The per-host and per-group caps: checked here, or reserved in the shared tables.
    fn caps(&mut self, ip: IpAddr, group: NetGroup) -> Result<(), Rejection> {
        #[cfg(feature = "shards")]
        if let Some(g) = &self.shared {
            let caps = (self.max_per_host, self.max_per_group);
            return g.reserve_inbound(host(ip), group, caps, false).map_err(|cap| match cap {
                crate::policy::global::Cap::PerHost => Rejection::PerIpCap,
                crate::policy::global::Cap::PerNetgroup => Rejection::PerNetgroupCap,
            });
        }
        if self.max_per_host.is_some_and(|max| self.per_host.get(&host(ip)) >= max) {
            return Err(Rejection::PerIpCap);
        }
        if self.max_per_group.is_some_and(|max| self.per_group.get(&group) >= max) {
            return Err(Rejection::PerNetgroupCap);
        }
        Ok(())
    }

    /// A connection that passed [`check`](Admission::check) is not kept after all (no
    /// `max_inbound` slot): forgets what the check counted for it.
    pub(crate) fn abandon(&mut self, ip: IpAddr, group: NetGroup) {
        #[cfg(feature = "shards")]
        if let Some(g) = &self.shared {
            g.release_inbound(host(ip), group);
        }
        let _ = (ip, group);
    }

    /// Counts a connection from `ip` in `group` that the caller kept (after a passed
    /// [`check`](Admission::check)).
    pub(crate) fn admitted(&mut self, ip: IpAddr, group: NetGroup) {
        #[cfg(feature = "shards")]
        if self.shared.is_some() {
            return; // counted by `check`
        }
        self.per_host.add(host(ip));
        self.per_group.add(group);
    }

    /// Uncounts a connection reported with [`admitted`](Admission::admitted), when it closes
    /// (or is evicted); pass the same `ip` and `group`. An unmatched call changes nothing.
    pub(crate) fn closed(&mut self, ip: IpAddr, group: NetGroup) {
        #[cfg(feature = "shards")]
        if self.shared.is_some() {
            return self.abandon(ip, group);
        }
        let host = host(ip);
        if self.per_host.get(&host) > 0 && self.per_group.get(&group) > 0 {
            self.per_host.sub(&host);
            self.per_group.sub(&group);
        } else {
            log::debug!("Admission: close of {ip} ({group}) that was not counted");
        }
    }

    /// Live counted connections from `ip`'s host.
    #[cfg(test)]
    pub(crate) fn connections_from(&self, ip: IpAddr) -> u32 {
        self.per_host.get(&host(ip))
    }

    /// Live counted connections in `group`.
    #[cfg(test)]
    pub(crate) fn connections_in(&self, group: NetGroup) -> u32 {
        self.per_group.get(&group)
    }

    /// The ban list.
    pub(crate) fn bans(&self) -> &BanList {
        &self.bans
    }

    /// The ban list, to ban, unban, expire or import.
    pub(crate) fn bans_mut(&mut self) -> &mut BanList {
        &mut self.bans
    }

    /// The allowlist.
    pub(crate) fn allowlist(&self) -> &Allowlist {
        &self.allowlist
    }

    /// The allowlist, to change.
    pub(crate) fn allowlist_mut(&mut self) -> &mut Allowlist {
        &mut self.allowlist
    }

    /// Decisions so far.
    #[cfg(test)]
    pub(crate) fn stats(&self) -> &AdmissionStats {
        &self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::Subnet;
    use proptest::prelude::*;
    use std::net::Ipv4Addr;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn admit(a: &mut Admission, now: Instant, addr: &str) -> Result<(), Rejection> {
        let addr = ip(addr);
        let group = NetGroup::of(addr);
        a.check(now, addr, group)?;
        a.admitted(addr, group);
        Ok(())
    }

    #[test]
    fn default_config_checks_nothing_but_bans() {
        let t0 = Instant::now();
        let mut a = Admission::new(&AdmissionConfig::default(), t0);
        for _ in 0..1000 {
            assert_eq!(admit(&mut a, t0, "192.0.2.1"), Ok(()));
        }
        a.bans_mut().ban(Subnet::single(ip("192.0.2.1")), t0 + secs(1));
        assert_eq!(admit(&mut a, t0, "192.0.2.1"), Err(Rejection::Banned));
        assert_eq!(a.stats().passed, 1000);
    }

    #[test]
    fn per_host_cap_counts_ipv4_addresses_and_ipv6_slash_64s() {
        let t0 = Instant::now();
        let config = AdmissionConfig { max_per_ip: Some(2), ..AdmissionConfig::default() };
        let mut a = Admission::new(&config, t0);
        assert_eq!(admit(&mut a, t0, "192.0.2.1"), Ok(()));
        assert_eq!(admit(&mut a, t0, "::ffff:192.0.2.1"), Ok(()));
        assert_eq!(admit(&mut a, t0, "192.0.2.1"), Err(Rejection::PerIpCap));
        assert_eq!(admit(&mut a, t0, "192.0.2.2"), Ok(()), "another host");
        assert_eq!(admit(&mut a, t0, "2001:db8::1"), Ok(()));
        assert_eq!(admit(&mut a, t0, "2001:db8::2"), Ok(()));
        assert_eq!(admit(&mut a, t0, "2001:db8::3"), Err(Rejection::PerIpCap), "same /64");
        a.closed(ip("192.0.2.1"), NetGroup::of(ip("192.0.2.1")));
        assert_eq!(a.connections_from(ip("192.0.2.1")), 1);
        assert_eq!(admit(&mut a, t0, "192.0.2.1"), Ok(()));
    }

    #[test]
    fn per_group_cap_separates_loopback_slash_16s() {
        let t0 = Instant::now();
        let config = AdmissionConfig { max_per_netgroup: Some(2), ..AdmissionConfig::default() };
        let mut a = Admission::new(&config, t0);
        assert_eq!(admit(&mut a, t0, "127.1.0.1"), Ok(()));
        assert_eq!(admit(&mut a, t0, "127.1.0.2"), Ok(()));
        assert_eq!(admit(&mut a, t0, "127.1.9.9"), Err(Rejection::PerNetgroupCap));
        assert_eq!(admit(&mut a, t0, "127.2.0.1"), Ok(()));
        assert_eq!(a.connections_in(NetGroup::of(ip("127.1.0.0"))), 2);
    }

    #[test]
    fn reconnect_throttle_refuses_a_quick_return_without_extending_it() {
        let t0 = Instant::now();
        let config = AdmissionConfig { reconnect_window: Some(secs(30)), ..AdmissionConfig::default() };
        let mut a = Admission::new(&config, t0);
        assert_eq!(admit(&mut a, t0, "192.0.2.1"), Ok(()));
        assert_eq!(admit(&mut a, t0 + secs(20), "192.0.2.1"), Err(Rejection::ReconnectTooSoon));
        assert_eq!(admit(&mut a, t0 + secs(20), "192.0.2.2"), Ok(()));
        assert_eq!(admit(&mut a, t0 + secs(30), "192.0.2.1"), Ok(()), "the refusal at 20 s did not restart it");
    }

    #[test]
    fn rate_limit_spends_tokens_only_on_passing_connections() {
        let t0 = Instant::now();
        let config = AdmissionConfig {
            accept_rate: Some(AcceptRate { burst: 2, per_second: 1 }),
            max_per_ip: Some(1),
            ..AdmissionConfig::default()
        };
        let mut a = Admission::new(&config, t0);
        a.bans_mut().ban("203.0.113.0/24".parse().unwrap(), t0 + secs(100));
        assert_eq!(admit(&mut a, t0, "192.0.2.1"), Ok(()));
        for _ in 0..100 {
            assert_eq!(admit(&mut a, t0, "203.0.113.5"), Err(Rejection::Banned));
            assert_eq!(admit(&mut a, t0, "192.0.2.1"), Err(Rejection::PerIpCap));
        }
        assert_eq!(admit(&mut a, t0, "192.0.2.2"), Ok(()), "the refused flood spent no tokens");
        assert_eq!(admit(&mut a, t0, "192.0.2.3"), Err(Rejection::RateLimited));
        assert_eq!(admit(&mut a, t0 + secs(1), "192.0.2.3"), Ok(()));
        let s = a.stats();
        assert_eq!((s.rejected(Rejection::Banned), s.rejected(Rejection::PerIpCap)), (100, 100));
        assert_eq!((s.rejected(Rejection::RateLimited), s.passed, s.total_rejected()), (1, 3, 201));
    }

    #[test]
    fn bans_come_before_caps() {
        let t0 = Instant::now();
        let config = AdmissionConfig { max_per_ip: Some(0), ..AdmissionConfig::default() };
        let mut a = Admission::new(&config, t0);
        assert_eq!(admit(&mut a, t0, "192.0.2.1"), Err(Rejection::PerIpCap));
        a.bans_mut().ban(Subnet::single(ip("192.0.2.1")), t0 + secs(1));
        assert_eq!(admit(&mut a, t0, "192.0.2.1"), Err(Rejection::Banned));
    }

    #[test]
    fn the_allowlist_bypasses_everything() {
        let t0 = Instant::now();
        let config = AdmissionConfig {
            max_per_ip: Some(0),
            max_per_netgroup: Some(0),
            accept_rate: Some(AcceptRate { burst: 0, per_second: 0 }),
            reconnect_window: Some(secs(30)),
            ..AdmissionConfig::default()
        };
        let mut a = Admission::new(&config, t0);
        a.allowlist_mut().add("10.0.0.0/8".parse().unwrap());
        a.bans_mut().ban("10.1.0.0/16".parse().unwrap(), t0 + secs(100));
        for _ in 0..5 {
            assert_eq!(admit(&mut a, t0, "::ffff:10.1.2.3"), Ok(()));
        }
        assert_eq!(admit(&mut a, t0, "11.0.0.1"), Err(Rejection::PerIpCap));
        assert_eq!((a.stats().allowlisted, a.stats().passed), (5, 0));
        assert_eq!(a.connections_from(ip("10.1.2.3")), 5, "counted even though uncapped");
    }

    #[test]
    fn an_unmatched_close_changes_nothing() {
        let t0 = Instant::now();
        let mut a = Admission::new(&AdmissionConfig::default(), t0);
        admit(&mut a, t0, "192.0.2.1").unwrap();
        a.closed(ip("192.0.2.9"), NetGroup::of(ip("192.0.2.9"))); // unknown host, known group
        a.closed(ip("192.0.2.1"), NetGroup::of(ip("198.51.100.1"))); // known host, unknown group
        assert_eq!(a.connections_from(ip("192.0.2.1")), 1);
        assert_eq!(a.connections_in(NetGroup::of(ip("192.0.2.1"))), 1);
    }

    #[test]
    fn rejection_messages_name_the_cause() {
        assert_eq!(Rejection::Banned.to_string(), "address is banned");
        assert_eq!(Rejection::ReconnectTooSoon.to_string(), "host reconnected too soon");
    }

    #[derive(Clone, Debug)]
    enum Op {
        Open(u8, u64),
        Close(usize),
    }

    proptest! {
        /// With caps on, live counts per host and group never exceed them, never go negative,
        /// and return to zero (no entries left) when everything has closed.
        #[test]
        fn counts_stay_within_caps(ops in proptest::collection::vec(prop_oneof![
            3 => (0u8..12, 0u64..3).prop_map(|(h, dt)| Op::Open(h, dt)),
            2 => any::<usize>().prop_map(Op::Close),
        ], 1..300)) {
            let t0 = Instant::now();
            let config = AdmissionConfig {
                max_per_ip: Some(2),
                max_per_netgroup: Some(3),
                accept_rate: Some(AcceptRate { burst: 4, per_second: 2 }),
                reconnect_window: Some(secs(1)),
                ..AdmissionConfig::default()
            };
            let mut a = Admission::new(&config, t0);
            let mut live: Vec<IpAddr> = Vec::new();
            let mut now = t0;
            for op in ops {
                match op {
                    Op::Open(h, dt) => {
                        now += secs(dt);
                        // Hosts 0..12 in three /16s.
                        let addr = IpAddr::V4(Ipv4Addr::new(10, h % 3, 0, h));
                        if a.check(now, addr, NetGroup::of(addr)).is_ok() {
                            a.admitted(addr, NetGroup::of(addr));
                            live.push(addr);
                        }
                    }
                    Op::Close(i) if !live.is_empty() => {
                        let addr = live.swap_remove(i % live.len());
                        a.closed(addr, NetGroup::of(addr));
                    }
                    Op::Close(_) => {}
                }
                for &addr in &live {
                    let per_host = live.iter().filter(|&&x| x == addr).count() as u32;
                    let per_group = live.iter().filter(|&&x| NetGroup::of(x) == NetGroup::of(addr)).count() as u32;
                    prop_assert_eq!(a.connections_from(addr), per_host);
                    prop_assert!(per_host <= 2);
                    prop_assert_eq!(a.connections_in(NetGroup::of(addr)), per_group);
                    prop_assert!(per_group <= 3);
                }
            }
            for addr in live.drain(..) {
                a.closed(addr, NetGroup::of(addr));
            }
            prop_assert_eq!((a.per_host.len(), a.per_group.len()), (0, 0));
        }
    }
}
