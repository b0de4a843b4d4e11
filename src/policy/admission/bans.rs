//! Bans and the allowlist: subnets with an expiry, and trusted subnets that bypass every inbound
//! check (Core's `-whitelist=noban`).
//!
//! Both answer "is this address covered?" in one hash lookup per distinct prefix length present
//! (see the prefix index in `net`), so a thousand banned /32s cost one lookup per accept, not a
//! thousand comparisons. Expired bans go lazily, when a lookup meets them, or through
//! [`BanList::expire`] when the one timer armed for [`BanList::next_expiry`] fires: there is no
//! periodic sweep.
//!
//! Expiries are monotonic [`Instant`]s; wall-clock time appears only in [`BanList::export`] and
//! [`BanList::import`], the plain-text form a node may persist across restarts (the library
//! does no file I/O). The list is bounded by the capacity given at construction, because bans
//! may be added in reaction to network input.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt::{self, Write as _};
use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::net::prefix::PrefixMap;
use crate::net::{Subnet, SubnetError};

/// Banned subnets, each until an instant.
///
/// A later ban of a subnet that is already banned keeps the later of the two expiries: a short
/// automatic ban never shortens a long manual one (use [`BanList::unban`] to lift a ban). When
/// the list is full, the ban that expires soonest makes room; if that would be the new ban
/// itself, it is refused ([`BanOutcome::Refused`]). Finding it is `O(log n)` amortised: a
/// min-heap of expiries with lazy deletion, compacted when stale entries outnumber live ones.
pub(crate) struct BanList {
    map: PrefixMap<Instant>,
    /// Every live ban's (expiry, subnet), plus stale entries of bans since lifted or extended.
    heap: BinaryHeap<Reverse<(Instant, Subnet)>>,
    capacity: usize,
}

/// What [`BanList::ban`] did.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BanOutcome {
    /// A new ban.
    Added,
    /// The subnet was already banned; its expiry is now the later of the two.
    Updated,
    /// A new ban; the list was full and this ban, the one expiring soonest, made room.
    Displaced(Subnet),
    /// The list is full and every ban in it outlasts this one (or the capacity is zero).
    Refused,
}

impl BanList {
    /// An empty list holding at most `capacity` bans.
    pub(crate) fn new(capacity: usize) -> Self {
        BanList { map: PrefixMap::with_capacity(capacity), heap: BinaryHeap::with_capacity(capacity), capacity }
    }

    /// Bans `subnet` until `until` (see the type's docs for repeats and a full list).
    pub(crate) fn ban(&mut self, subnet: Subnet, until: Instant) -> BanOutcome {
        if let Some(old) = self.map.get_mut(&subnet) {
            if until > *old {
                *old = until;
                self.push(until, subnet);
            }
            return BanOutcome::Updated;
        }
        let mut outcome = BanOutcome::Added;
        if self.map.len() >= self.capacity {
            match self.soonest() {
                Some((soonest, victim)) if soonest < until => {
                    self.map.remove(&victim);
                    self.heap.pop();
                    outcome = BanOutcome::Displaced(victim);
                }
                _ => return BanOutcome::Refused,
            }
        }
        self.map.insert(subnet, until);
        self.push(until, subnet);
        outcome
    }

    /// Lifts the ban on exactly `subnet` (not on subnets inside or around it); whether it was
    /// banned.
    pub(crate) fn unban(&mut self, subnet: Subnet) -> bool {
        self.map.remove(&subnet).is_some()
    }

    /// Whether `ip` is in a subnet banned at `now`. Expired bans met on the way are removed.
    pub(crate) fn is_banned(&mut self, ip: IpAddr, now: Instant) -> bool {
        self.banned_until(ip, now).is_some()
    }

    /// Until when `ip` is banned at `now` (the latest expiry of the subnets covering it), or
    /// `None`. Expired bans met on the way are removed.
    pub(crate) fn banned_until(&mut self, ip: IpAddr, now: Instant) -> Option<Instant> {
        let mut latest = None;
        for subnet in self.map.candidates(ip) {
            match self.map.get(&subnet) {
                Some(&until) if until > now => latest = latest.max(Some(until)),
                Some(_) => {
                    self.map.remove(&subnet);
                }
                None => {}
            }
        }
        latest
    }

    /// The soonest expiry, for the one timer the caller keeps armed; `None` when empty.
    pub(crate) fn next_expiry(&mut self) -> Option<Instant> {
        self.soonest().map(|(until, _)| until)
    }

    /// Removes the bans expired at `now`; how many.
    pub(crate) fn expire(&mut self, now: Instant) -> usize {
        let mut removed = 0;
        while let Some((until, subnet)) = self.soonest() {
            if until > now {
                break;
            }
            self.map.remove(&subnet);
            self.heap.pop();
            removed += 1;
        }
        removed
    }

    /// The bans in force at `now` with their expiries, sorted by subnet, for display.
    pub(crate) fn list(&self, now: Instant) -> Vec<(Subnet, Instant)> {
        let mut bans: Vec<_> = self.map.iter().filter(|(_, &until)| until > now).map(|(&s, &u)| (s, u)).collect();
        bans.sort_unstable();
        bans
    }

    /// Bans held, expired ones not yet removed included.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no ban is held (expired ones not yet removed count as held).
    pub(crate) fn is_empty(&self) -> bool {
        self.map.len() == 0
    }

    /// The bans in force as text, one `"<subnet> <until, Unix seconds>"` line each (sorted by
    /// subnet, expiries rounded up to the second), after a `#` comment line. `now` and
    /// `wall_now` are the same moment on the two clocks.
    pub(crate) fn export(&self, now: Instant, wall_now: SystemTime) -> String {
        let wall = wall_now.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        let mut out = String::from("# banned subnet, banned until (Unix seconds)\n");
        for (subnet, until) in self.list(now) {
            let until = wall.saturating_add(until.saturating_duration_since(now));
            let secs = until.as_secs().saturating_add(u64::from(until.subsec_nanos() > 0));
            let _ = writeln!(out, "{subnet} {secs}");
        }
        out
    }

    /// Adds the bans in `text` (the [`export`](BanList::export) format; `#` starts a comment,
    /// blank lines are ignored, lines already expired at `wall_now` are skipped) with the usual
    /// rules for repeats and a full list. All or nothing: on an error no ban is added. Returns
    /// the number of bans applied.
    pub(crate) fn import(&mut self, text: &str, now: Instant, wall_now: SystemTime) -> Result<usize, ImportError> {
        // Validate everything first, so a bad line leaves the list untouched.
        for (line, result) in parse(text, now, wall_now) {
            result.map_err(|reason| ImportError { line, reason })?;
        }
        let mut applied = 0;
        for (_, result) in parse(text, now, wall_now) {
            if let Ok(Some((subnet, until))) = result {
                if self.ban(subnet, until) != BanOutcome::Refused {
                    applied += 1;
                }
            }
        }
        Ok(applied)
    }

    fn push(&mut self, until: Instant, subnet: Subnet) {
        // Stale entries (lifted or extended bans) stay until they surface or outnumber the live
        // ones: the heap holds at most about twice the capacity, and compaction is amortised.
        if self.heap.len() >= 2 * self.map.len() + 16 {
            let map = &self.map;
            self.heap.retain(|Reverse((until, subnet))| map.get(subnet) == Some(until));
        }
        self.heap.push(Reverse((until, subnet)));
    }

    /// The live ban expiring soonest (left on top of the heap), dropping stale entries above it.
    fn soonest(&mut self) -> Option<(Instant, Subnet)> {
        while let Some(&Reverse((until, subnet))) = self.heap.peek() {
            if self.map.get(&subnet) == Some(&until) {
                return Some((until, subnet));
            }
            self.heap.pop();
        }
        None
    }
}

impl fmt::Debug for BanList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BanList").field("len", &self.map.len()).field("capacity", &self.capacity).finish()
    }
}

/// Each line's number and its ban: `Ok(None)` for a comment, a blank or an expired line.
fn parse(
    text: &str,
    now: Instant,
    wall_now: SystemTime,
) -> impl Iterator<Item = (usize, Result<Option<(Subnet, Instant)>, ImportErrorReason>)> + '_ {
    text.lines().enumerate().map(move |(i, line)| (i + 1, parse_line(line, now, wall_now)))
}

fn parse_line(line: &str, now: Instant, wall_now: SystemTime) -> Result<Option<(Subnet, Instant)>, ImportErrorReason> {
    let line = line.split_once('#').map_or(line, |(before, _)| before);
    let mut fields = line.split_whitespace();
    let Some(subnet) = fields.next() else { return Ok(None) };
    let subnet: Subnet = subnet.parse().map_err(ImportErrorReason::Subnet)?;
    let until = fields.next().ok_or(ImportErrorReason::MissingExpiry)?;
    if fields.next().is_some() {
        return Err(ImportErrorReason::ExtraField);
    }
    if !until.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ImportErrorReason::InvalidExpiry);
    }
    let until: u64 = until.parse().map_err(|_| ImportErrorReason::InvalidExpiry)?;
    let until = UNIX_EPOCH.checked_add(Duration::from_secs(until)).ok_or(ImportErrorReason::ExpiryOutOfRange)?;
    match until.duration_since(wall_now) {
        Ok(left) if !left.is_zero() => {
            now.checked_add(left).map(|until| Some((subnet, until))).ok_or(ImportErrorReason::ExpiryOutOfRange)
        }
        _ => Ok(None),
    }
}

/// A line of a ban list that `import_bans` could not read.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportError {
    /// The line's number, from 1.
    pub line: usize,
    /// What is wrong with it.
    pub reason: ImportErrorReason,
}

/// What is wrong with a ban-list line.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImportErrorReason {
    /// The first field is not a subnet.
    Subnet(SubnetError),
    /// The expiry field is missing.
    MissingExpiry,
    /// The line has more than two fields.
    ExtraField,
    /// The expiry is not a whole number of seconds.
    InvalidExpiry,
    /// The expiry is too far in the future for this platform's clocks.
    ExpiryOutOfRange,
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ban list line {}: ", self.line)?;
        match &self.reason {
            ImportErrorReason::Subnet(e) => write!(f, "invalid subnet: {e}"),
            ImportErrorReason::MissingExpiry => f.write_str("missing expiry"),
            ImportErrorReason::ExtraField => f.write_str("more than two fields"),
            ImportErrorReason::InvalidExpiry => f.write_str("expiry is not a number of Unix seconds"),
            ImportErrorReason::ExpiryOutOfRange => f.write_str("expiry out of range"),
        }
    }
}

impl std::error::Error for ImportError {}

/// Trusted subnets, whose peers bypass every inbound check (bans included).
///
/// It is the operator's configuration, not fed by the network, so it has no capacity bound.
#[derive(Clone)]
pub(crate) struct Allowlist {
    map: PrefixMap<()>,
}

impl Allowlist {
    /// An empty allowlist.
    pub(crate) fn new() -> Self {
        Allowlist { map: PrefixMap::with_capacity(0) }
    }

    /// Trusts `subnet`; false if it already was.
    pub(crate) fn add(&mut self, subnet: Subnet) -> bool {
        self.map.insert(subnet, ()).is_none()
    }

    /// Stops trusting exactly `subnet`; whether it was trusted.
    #[cfg(test)]
    pub(crate) fn remove(&mut self, subnet: Subnet) -> bool {
        self.map.remove(&subnet).is_some()
    }

    /// Whether `ip` is in a trusted subnet.
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        self.map.contains_ip(ip)
    }

    /// The trusted subnets, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = Subnet> + '_ {
        self.map.iter().map(|(&s, _)| s)
    }
}

impl Default for Allowlist {
    fn default() -> Self {
        Allowlist::new()
    }
}

impl FromIterator<Subnet> for Allowlist {
    fn from_iter<T: IntoIterator<Item = Subnet>>(iter: T) -> Self {
        let mut list = Allowlist::new();
        iter.into_iter().for_each(|s| {
            list.add(s);
        });
        list
    }
}

impl fmt::Debug for Allowlist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut subnets: Vec<_> = self.iter().collect();
        subnets.sort_unstable();
        f.debug_tuple("Allowlist").field(&subnets).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn net(s: &str) -> Subnet {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn a_ban_covers_its_subnet_until_it_expires() {
        let t0 = Instant::now();
        let mut b = BanList::new(8);
        assert_eq!(b.ban(net("10.0.0.0/8"), t0 + secs(60)), BanOutcome::Added);
        assert!(b.is_banned(ip("10.255.0.1"), t0));
        assert!(b.is_banned(ip("::ffff:10.255.0.1"), t0 + secs(59)));
        assert!(!b.is_banned(ip("11.0.0.1"), t0));
        assert!(!b.is_banned(ip("10.0.0.1"), t0 + secs(60)), "expiry is exclusive");
        assert_eq!(b.len(), 0, "the lookup removed the expired ban");
    }

    #[test]
    fn a_repeat_ban_keeps_the_later_expiry() {
        let t0 = Instant::now();
        let mut b = BanList::new(8);
        b.ban(net("192.0.2.1"), t0 + secs(100));
        assert_eq!(b.ban(net("192.0.2.1"), t0 + secs(10)), BanOutcome::Updated);
        assert!(b.is_banned(ip("192.0.2.1"), t0 + secs(50)), "not shortened");
        assert_eq!(b.ban(net("192.0.2.1"), t0 + secs(200)), BanOutcome::Updated);
        assert_eq!(b.next_expiry(), Some(t0 + secs(200)), "the stale heap entry is skipped");
        assert!(b.is_banned(ip("192.0.2.1"), t0 + secs(150)));
        assert!(b.unban(net("192.0.2.1")));
        assert!(!b.unban(net("192.0.2.1")));
        assert!(!b.is_banned(ip("192.0.2.1"), t0));
        assert_eq!(b.next_expiry(), None);
    }

    #[test]
    fn a_full_list_drops_the_ban_expiring_soonest() {
        let t0 = Instant::now();
        let mut b = BanList::new(2);
        b.ban(net("192.0.2.1"), t0 + secs(30));
        b.ban(net("192.0.2.2"), t0 + secs(10));
        assert_eq!(b.ban(net("192.0.2.3"), t0 + secs(20)), BanOutcome::Displaced(net("192.0.2.2")));
        assert_eq!(b.ban(net("192.0.2.4"), t0 + secs(5)), BanOutcome::Refused);
        assert_eq!(b.ban(net("192.0.2.4"), t0 + secs(20)), BanOutcome::Refused, "a tie keeps the old ban");
        assert_eq!(b.len(), 2);
        assert!(b.is_banned(ip("192.0.2.1"), t0) && b.is_banned(ip("192.0.2.3"), t0));
        assert!(!b.is_banned(ip("192.0.2.2"), t0) && !b.is_banned(ip("192.0.2.4"), t0));
        assert_eq!(BanList::new(0).ban(net("192.0.2.1"), t0 + secs(1)), BanOutcome::Refused);
    }

    #[test]
    fn expire_removes_due_bans_in_expiry_order() {
        let t0 = Instant::now();
        let mut b = BanList::new(8);
        for (i, s) in [30, 10, 20].into_iter().enumerate() {
            b.ban(Subnet::single(IpAddr::V4(Ipv4Addr::new(192, 0, 2, i as u8))), t0 + secs(s));
        }
        assert_eq!(b.next_expiry(), Some(t0 + secs(10)));
        assert_eq!(b.expire(t0 + secs(9)), 0);
        assert_eq!(b.expire(t0 + secs(20)), 2);
        assert_eq!(b.next_expiry(), Some(t0 + secs(30)));
        assert_eq!(b.len(), 1);
    }

    #[test]
    fn the_heap_stays_bounded_under_repeated_extensions() {
        let t0 = Instant::now();
        let mut b = BanList::new(4);
        for i in 0..10_000 {
            b.ban(net("192.0.2.1"), t0 + secs(i));
            b.ban(Subnet::single(IpAddr::V4(Ipv4Addr::from(i as u32))), t0 + secs(i));
            assert!(b.heap.len() <= 2 * b.capacity + 17, "heap {}", b.heap.len());
        }
    }

    #[test]
    fn list_shows_bans_in_force_sorted() {
        let t0 = Instant::now();
        let mut b = BanList::new(8);
        b.ban(net("2001:db8::/32"), t0 + secs(5));
        b.ban(net("10.0.0.0/8"), t0 + secs(5));
        b.ban(net("192.0.2.1"), t0 + secs(1));
        assert_eq!(b.list(t0 + secs(2)), [(net("10.0.0.0/8"), t0 + secs(5)), (net("2001:db8::/32"), t0 + secs(5))]);
    }

    #[test]
    fn export_writes_wall_clock_seconds_rounded_up() {
        let t0 = Instant::now();
        let wall = UNIX_EPOCH + secs(1_700_000_000);
        let mut b = BanList::new(8);
        b.ban(net("10.0.0.0/8"), t0 + Duration::from_millis(1500));
        b.ban(net("2001:db8::/32"), t0 + secs(86_400));
        b.ban(net("192.0.2.1"), t0); // already expired: not exported
        assert_eq!(
            b.export(t0, wall),
            "# banned subnet, banned until (Unix seconds)\n10.0.0.0/8 1700000002\n2001:db8::/32 1700086400\n"
        );
    }

    #[test]
    fn import_reads_lines_comments_and_skips_expired() {
        let t0 = Instant::now();
        let wall = UNIX_EPOCH + secs(1_000);
        let text =
            "# a comment\n\n  10.0.0.0/8 1060   # trailing comment\n192.0.2.1\t999\n2001:db8::/32 1000\n::1 2000\r\n";
        let mut b = BanList::new(8);
        assert_eq!(b.import(text, t0, wall), Ok(2));
        assert_eq!(b.list(t0), [(net("10.0.0.0/8"), t0 + secs(60)), (net("::1/128"), t0 + secs(1000))]);
    }

    #[test]
    fn import_names_the_bad_line_and_adds_nothing() {
        let t0 = Instant::now();
        let wall = UNIX_EPOCH + secs(1_000);
        let cases = [
            ("10.0.0.0/8 2000\n10.0.0.1/8 2000\n", 2, ImportErrorReason::Subnet(SubnetError::HostBitsSet)),
            ("\n\n10.0.0.0/8\n", 3, ImportErrorReason::MissingExpiry),
            ("10.0.0.0/8 2000 x\n", 1, ImportErrorReason::ExtraField),
            ("10.0.0.0/8 -5\n", 1, ImportErrorReason::InvalidExpiry),
            ("10.0.0.0/8 +5\n", 1, ImportErrorReason::InvalidExpiry),
            ("10.0.0.0/8 99999999999999999999\n", 1, ImportErrorReason::InvalidExpiry),
            ("10.0.0.0/8 18446744073709551615\n", 1, ImportErrorReason::ExpiryOutOfRange),
        ];
        for (text, line, reason) in cases {
            let mut b = BanList::new(8);
            assert_eq!(b.import(text, t0, wall), Err(ImportError { line, reason: reason.clone() }), "{text:?}");
            assert!(b.is_empty(), "{text:?}: nothing added");
        }
        let err = BanList::new(1).import("x 1", t0, wall).unwrap_err();
        assert_eq!(err.to_string(), "ban list line 1: invalid subnet: invalid IP address");
    }

    #[test]
    fn import_is_bounded_by_the_capacity() {
        let t0 = Instant::now();
        let wall = UNIX_EPOCH + secs(1_000);
        let text: String = (0..100).map(|i| format!("192.0.2.{i} {}\n", 2000 + i)).collect();
        let mut b = BanList::new(10);
        assert_eq!(b.import(&text, t0, wall), Ok(100), "each line was applied in turn");
        assert_eq!(b.len(), 10);
        assert!(b.is_banned(ip("192.0.2.99"), t0) && !b.is_banned(ip("192.0.2.89"), t0), "the longest bans stay");
    }

    #[test]
    fn allowlist_matches_subnets_of_both_families() {
        let mut a: Allowlist = [net("10.0.0.0/8"), net("2001:db8::/32")].into_iter().collect();
        assert!(a.contains(ip("10.1.1.1")) && a.contains(ip("::ffff:10.1.1.1")) && a.contains(ip("2001:db8::9")));
        assert!(!a.contains(ip("11.1.1.1")) && !a.contains(ip("2001:db9::9")));
        assert!(!a.add(net("10.0.0.0/8")));
        assert!(a.remove(net("10.0.0.0/8")));
        assert!(!a.contains(ip("10.1.1.1")));
        assert_eq!(format!("{a:?}"), "Allowlist([Subnet { network: 2001:db8::, len: 32 }])");
    }

    fn any_subnet() -> impl Strategy<Value = Subnet> {
        // Few distinct networks so that random addresses often fall inside them.
        prop_oneof![
            (any::<u8>(), 0u8..=32).prop_map(|(a, l)| Subnet::containing(IpAddr::V4(Ipv4Addr::new(10, a, 1, 2)), l)),
            (any::<u8>(), 0u8..=128).prop_map(|(a, l)| Subnet::containing(
                IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, a.into(), 0, 0, 0, 0, 1)),
                l
            )),
        ]
        .prop_map(Result::unwrap)
    }

    fn any_ip() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            (any::<u8>(), any::<u8>()).prop_map(|(a, b)| IpAddr::V4(Ipv4Addr::new(10, a, 1, b))),
            (any::<u8>(), any::<u8>()).prop_map(|(a, b)| IpAddr::V6(Ipv4Addr::new(10, a, 1, b).to_ipv6_mapped())),
            (any::<u8>(), any::<u16>()).prop_map(|(a, b)| IpAddr::V6(Ipv6Addr::new(
                0x2001,
                0xdb8,
                a.into(),
                0,
                0,
                0,
                0,
                b
            ))),
            any::<u128>().prop_map(|x| IpAddr::V6(Ipv6Addr::from(x))),
        ]
    }

    #[derive(Clone, Debug)]
    enum Op {
        Ban(Subnet, u64),
        Unban(Subnet),
        Check(IpAddr, u64),
        Expire(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (any_subnet(), 1u64..100).prop_map(|(s, d)| Op::Ban(s, d)),
            1 => any_subnet().prop_map(Op::Unban),
            6 => (any_ip(), 0u64..3).prop_map(|(ip, d)| Op::Check(ip, d)),
            1 => (0u64..3).prop_map(Op::Expire),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Lookups agree with a linear scan over a plain list of (subnet, expiry), given enough
        /// capacity that nothing is displaced.
        #[test]
        fn lookups_agree_with_a_linear_model(ops in proptest::collection::vec(op(), 1..200)) {
            let t0 = Instant::now();
            let mut now = 0u64;
            let mut bans = BanList::new(1000);
            let mut model: Vec<(Subnet, u64)> = Vec::new();
            for op in ops {
                match op {
                    Op::Ban(s, d) => {
                        let until = now + d;
                        match model.iter_mut().find(|(m, _)| *m == s) {
                            Some((_, u)) => *u = (*u).max(until),
                            None => model.push((s, until)),
                        }
                        bans.ban(s, t0 + secs(until));
                    }
                    Op::Unban(s) => {
                        let had = model.iter().any(|(m, u)| *m == s && *u > now);
                        let removed = bans.unban(s);
                        // An expired ban may or may not have been collected yet.
                        prop_assert!(removed || !had);
                        model.retain(|(m, _)| *m != s);
                    }
                    Op::Check(ip, dt) => {
                        now += dt;
                        let want = model.iter().any(|(s, u)| s.contains(ip) && *u > now);
                        prop_assert_eq!(bans.is_banned(ip, t0 + secs(now)), want, "{} at {}", ip, now);
                    }
                    Op::Expire(dt) => {
                        now += dt;
                        bans.expire(t0 + secs(now));
                        let want = model.iter().filter(|(_, u)| *u > now).map(|(_, u)| *u).min();
                        prop_assert_eq!(bans.next_expiry(), want.map(|u| t0 + secs(u)));
                    }
                }
                prop_assert!(bans.len() <= model.len());
            }
        }

        /// A full list keeps the bans that last longest.
        #[test]
        fn a_full_list_keeps_the_longest_bans(expiries in proptest::collection::vec(1u64..1000, 1..60), cap in 0usize..20) {
            let t0 = Instant::now();
            let mut bans = BanList::new(cap);
            for (i, &e) in expiries.iter().enumerate() {
                bans.ban(Subnet::single(IpAddr::V4(Ipv4Addr::from(i as u32))), t0 + secs(e));
                prop_assert!(bans.len() <= cap);
            }
            let mut sorted = expiries.clone();
            sorted.sort_unstable_by(|a, b| b.cmp(a));
            let kept: Vec<u64> = bans.list(t0).iter().map(|(_, u)| u.duration_since(t0).as_secs()).collect();
            let mut kept_sorted = kept.clone();
            kept_sorted.sort_unstable_by(|a, b| b.cmp(a));
            sorted.truncate(cap);
            prop_assert_eq!(kept_sorted, sorted);
        }

        #[test]
        fn import_of_export_round_trips(bans in proptest::collection::vec((any_subnet(), 1u64..100_000), 0..50)) {
            let t0 = Instant::now();
            let wall = UNIX_EPOCH + secs(1_700_000_000);
            let mut a = BanList::new(100);
            for &(s, d) in &bans {
                a.ban(s, t0 + secs(d));
            }
            let text = a.export(t0, wall);
            // Restored on another clock, an hour later by both clocks.
            let t1 = Instant::now() + secs(3600);
            let mut b = BanList::new(100);
            let live = a.list(t0 + secs(3600)).len();
            prop_assert_eq!(b.import(&text, t1, wall + secs(3600)), Ok(live));
            let shift = |list: Vec<(Subnet, Instant)>, base: Instant| -> Vec<(Subnet, u64)> {
                list.into_iter().map(|(s, u)| (s, u.duration_since(base).as_secs())).collect()
            };
            prop_assert_eq!(shift(b.list(t1), t1), shift(a.list(t0 + secs(3600)), t0 + secs(3600)));
            prop_assert_eq!(b.export(t1, wall + secs(3600)), a.export(t0 + secs(3600), wall + secs(3600)));
        }

        #[test]
        fn import_of_random_text_never_panics(text in "[0-9a-f:./# \n\t]{0,200}") {
            let mut b = BanList::new(4);
            if b.import(&text, Instant::now(), UNIX_EPOCH + secs(1)).is_err() {
                prop_assert!(b.is_empty());
            }
            prop_assert!(b.len() <= 4);
        }
    }
}
