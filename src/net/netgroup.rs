//! Network groups: the buckets of addresses presumed to be under one operator's control, which
//! per-group connection caps and eviction count by, so that an attacker with many addresses in
//! one network gains one group's worth of slots, not one per address.
//!
//! The default grouping is Bitcoin Core's without an ASN map: the /16 for IPv4 (IPv4-mapped
//! IPv6 included) and the /32 for IPv6. Unlike Core, loopback, private and other unroutable
//! addresses are not lumped into one group: they group by prefix like any other address, so
//! `127.1.0.1` and `127.2.0.1` are different groups (tests on loopback rely on it) and a LAN's
//! /16 counts as the one operator it usually is.
//!
//! A group is a small `Copy` key (a kind tag and 64 bits), so it can be a hash-map key and an
//! eviction input without allocation. Other groupings plug in through [`NetGroupFn`] (an ASN
//! lookup returns [`NetGroup::custom`]); targets that are not IP addresses, which come later,
//! get kinds of their own ([`NetGroup::onion`], [`NetGroup::named`]) so they never share a group
//! with an IP range.

use std::fmt;
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, OnceLock};

use super::canonical;

/// The group an address belongs to.
///
/// # Examples
///
/// ```
/// use connmgr::addr::{NetGroup, NetGroupFn};
/// use std::collections::hash_map::RandomState;
/// use std::net::IpAddr;
///
/// let ip = |s: &str| s.parse::<IpAddr>().unwrap();
/// assert_eq!(NetGroup::of(ip("127.1.0.1")).to_string(), "127.1.0.0/16");
/// assert_ne!(NetGroup::of(ip("127.1.0.1")), NetGroup::of(ip("127.2.0.1")));
/// assert_eq!(NetGroup::of(ip("::ffff:127.1.9.9")), NetGroup::of(ip("127.1.0.1")));
/// assert_eq!(NetGroup::of(ip("2001:db8:1::1")).to_string(), "2001:db8::/32");
///
/// // A custom grouping, say by autonomous system, for the manager's configuration:
/// let by_asn = NetGroupFn::new(|ip| NetGroup::custom(if ip.is_loopback() { 0 } else { 64_496 }));
/// assert_eq!(by_asn.group(ip("192.0.2.1")), NetGroup::custom(64_496));
///
/// // Eviction protects groups by a keyed hash that an attacker cannot predict:
/// let key = RandomState::new(); // once per node
/// let keyed: u64 = NetGroup::of(ip("192.0.2.1")).keyed(&key);
/// assert_eq!(keyed, NetGroup::of(ip("192.0.200.1")).keyed(&key));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NetGroup {
    kind: Kind,
    bits: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    Ipv4,
    Ipv6,
    Onion,
    Named,
    Custom,
}

impl NetGroup {
    /// The default group of `ip`: its /16 (IPv4 and IPv4-mapped) or /32 (IPv6).
    pub fn of(ip: IpAddr) -> Self {
        match canonical(ip) {
            IpAddr::V4(v4) => Self::of_v4(v4),
            IpAddr::V6(v6) => NetGroup { kind: Kind::Ipv6, bits: (u128::from(v6) >> 96) as u64 },
        }
    }

    /// [`of`](Self::of) for an IPv4 address, with no `IpAddr` in between: every automatic
    /// dial computes one.
    #[inline]
    pub(crate) fn of_v4(ip: Ipv4Addr) -> Self {
        NetGroup { kind: Kind::Ipv4, bits: u64::from(u32::from(ip) >> 16) }
    }

    /// A group from a custom grouping (an autonomous system number, for example); never equal to
    /// a group of another kind.
    pub fn custom(value: u64) -> Self {
        NetGroup { kind: Kind::Custom, bits: value }
    }

    /// The group of an onion service: the top 4 bits of the first byte of its key, as Core does,
    /// so all onion peers share 16 groups.
    pub fn onion(first_key_byte: u8) -> Self {
        NetGroup { kind: Kind::Onion, bits: u64::from(first_key_byte >> 4) }
    }

    /// The group of a host name: a stable hash (FNV-1a, the same in every run and version) of
    /// the name, ASCII case and a trailing dot ignored.
    pub fn named(host: &str) -> Self {
        let host = host.strip_suffix('.').unwrap_or(host);
        let hash = host.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b.to_ascii_lowercase())).wrapping_mul(0x0000_0100_0000_01b3)
        });
        NetGroup { kind: Kind::Named, bits: hash }
    }

    /// This group hashed with a secret `key` (one `RandomState` per node), for
    /// [`EvictionCandidate::keyed_netgroup`](crate::inbound::EvictionCandidate::keyed_netgroup):
    /// eviction protects the groups with the highest keyed values, which an attacker must not be
    /// able to predict.
    pub fn keyed<S: BuildHasher>(&self, key: &S) -> u64 {
        key.hash_one(self)
    }

    /// A keyed 32-bit tag for this group, for the outbound diversity table, which computes one on
    /// every automatic dial: the high half of the group and the key times 2^64/φ (Fibonacci
    /// hashing). The product's top bits, which the table takes as a tag's home, mix every bit
    /// below them, so neighbouring groups land apart.
    #[inline]
    pub(crate) fn tag(&self, key: u64) -> u32 {
        let z = (self.bits ^ ((self.kind as u64) << 60) ^ key).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (z >> 32) as u32
    }
}

impl fmt::Display for NetGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            Kind::Ipv4 => write!(f, "{}/16", Ipv4Addr::from((self.bits as u32) << 16)),
            Kind::Ipv6 => write!(f, "{}/32", Ipv6Addr::from(u128::from(self.bits) << 96)),
            Kind::Onion => write!(f, "onion/{:x}", self.bits),
            Kind::Named => write!(f, "name/{:016x}", self.bits),
            Kind::Custom => write!(f, "custom/{}", self.bits),
        }
    }
}

type GroupFn = dyn Fn(IpAddr) -> NetGroup + Send + Sync;

/// A pluggable grouping function, cheap to clone, comparable (by identity) and `Debug`, so it
/// can sit in a configuration struct. [`NetGroupFn::default`] is [`NetGroup::of`].
#[derive(Clone)]
pub struct NetGroupFn(Arc<GroupFn>);

impl NetGroupFn {
    /// Wraps `f`; it is called with IPv4-mapped addresses already turned into IPv4.
    pub fn new(f: impl Fn(IpAddr) -> NetGroup + Send + Sync + 'static) -> Self {
        NetGroupFn(Arc::new(f))
    }

    /// The group of `ip`.
    pub fn group(&self, ip: IpAddr) -> NetGroup {
        (self.0)(canonical(ip))
    }

    /// Whether this is the default grouping (`NetGroup::of`), which callers on hot paths may
    /// then call directly.
    pub(crate) fn is_default(&self) -> bool {
        *self == NetGroupFn::default()
    }
}

impl Default for NetGroupFn {
    fn default() -> Self {
        static DEFAULT: OnceLock<Arc<GroupFn>> = OnceLock::new();
        NetGroupFn(Arc::clone(DEFAULT.get_or_init(|| Arc::new(NetGroup::of))))
    }
}

impl PartialEq for NetGroupFn {
    /// Clones of one function are equal; two separately wrapped functions are not.
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for NetGroupFn {}

impl fmt::Debug for NetGroupFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = if *self == NetGroupFn::default() { "default" } else { "custom" };
        write!(f, "NetGroupFn({name})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::hash_map::RandomState;
    use std::collections::HashSet;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv4_groups_by_16_including_loopback_and_private() {
        assert_eq!(NetGroup::of(ip("192.0.2.1")), NetGroup::of(ip("192.0.200.254")));
        assert_ne!(NetGroup::of(ip("192.0.2.1")), NetGroup::of(ip("192.1.2.1")));
        assert_ne!(NetGroup::of(ip("127.1.0.1")), NetGroup::of(ip("127.2.0.1")));
        assert_eq!(NetGroup::of(ip("127.1.0.1")), NetGroup::of(ip("127.1.255.9")));
        assert_eq!(NetGroup::of(ip("10.7.1.1")).to_string(), "10.7.0.0/16");
        assert_eq!(NetGroup::of(ip("::ffff:10.7.1.1")), NetGroup::of(ip("10.7.1.1")));
    }

    #[test]
    fn ipv6_groups_by_32() {
        assert_eq!(NetGroup::of(ip("2001:db8:ffff::1")), NetGroup::of(ip("2001:db8::2")));
        assert_ne!(NetGroup::of(ip("2001:db8::1")), NetGroup::of(ip("2001:db9::1")));
        assert_eq!(NetGroup::of(ip("2001:db8:1::1")).to_string(), "2001:db8::/32");
        assert_eq!(NetGroup::of(ip("::1")).to_string(), "::/32");
    }

    #[test]
    fn kinds_never_collide() {
        // The same 64 bits under every kind: all distinct groups.
        let groups = [
            NetGroup::of(ip("0.0.0.1")),
            NetGroup::of(ip("::1")),
            NetGroup::onion(0),
            NetGroup::custom(0),
            NetGroup { kind: Kind::Named, bits: 0 },
        ];
        assert_eq!(groups.iter().collect::<HashSet<_>>().len(), groups.len());
    }

    #[test]
    fn onion_groups_by_the_top_four_key_bits() {
        assert_eq!(NetGroup::onion(0xa0), NetGroup::onion(0xaf));
        assert_ne!(NetGroup::onion(0xa0), NetGroup::onion(0xb0));
        assert_eq!(NetGroup::onion(0xa7).to_string(), "onion/a");
    }

    #[test]
    fn names_hash_stably_ignoring_case_and_the_root_dot() {
        assert_eq!(NetGroup::named("Seed.Example."), NetGroup::named("seed.example"));
        assert_ne!(NetGroup::named("seed.example"), NetGroup::named("seed2.example"));
        // FNV-1a 64 of "a" (a published test vector): the value must not change across versions.
        assert_eq!(NetGroup::named("a").to_string(), "name/af63dc4c8601ec8c");
    }

    #[test]
    fn keyed_hash_depends_on_the_key_only_through_the_group() {
        let key = RandomState::new();
        let a = NetGroup::of(ip("192.0.2.1"));
        assert_eq!(a.keyed(&key), NetGroup::of(ip("192.0.9.9")).keyed(&key));
        assert_ne!(a.keyed(&key), NetGroup::of(ip("192.1.2.1")).keyed(&key));
    }

    #[test]
    fn group_fn_compares_by_identity_and_sees_mapped_as_ipv4() {
        assert_eq!(NetGroupFn::default(), NetGroupFn::default());
        assert_eq!(format!("{:?}", NetGroupFn::default()), "NetGroupFn(default)");
        let f = NetGroupFn::new(|ip| NetGroup::custom(u64::from(ip.is_ipv4())));
        assert_eq!(f, f.clone());
        assert_ne!(f, NetGroupFn::default());
        assert_eq!(format!("{f:?}"), "NetGroupFn(custom)");
        assert_eq!(f.group(ip("::ffff:192.0.2.1")), NetGroup::custom(1));
        assert_eq!(NetGroupFn::default().group(ip("::ffff:192.0.2.1")), NetGroup::of(ip("192.0.2.1")));
    }
}
