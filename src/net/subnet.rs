//! CIDR subnets of either family, the unit that bans and allowlists are kept in.
//!
//! A subnet is always stored in canonical form: its host bits are zero and an IPv4-mapped
//! network with a prefix of at least 96 bits is stored as the IPv4 subnet it denotes
//! (`::ffff:10.0.0.0/104` is `10.0.0.0/8`). Two spellings of the same set of addresses are
//! therefore equal and hash alike, which is what lets the ban list find a subnet with one
//! hash lookup per prefix length.
//!
//! Host bits: [`Subnet::new`] and parsing reject them ([`SubnetError::HostBitsSet`]), because
//! `10.1.2.3/8` in a ban file is more likely a typo for a single address than a wish to ban ten
//! million; [`Subnet::containing`] clears them, for code that means "the /24 of this peer".

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use super::canonical;

/// An IPv4 or IPv6 network and prefix length, such as `10.0.0.0/8` or `2001:db8::/32`.
///
/// IPv4-mapped IPv6 addresses are IPv4 addresses here: [`Subnet::contains`] matches
/// `::ffff:10.1.2.3` against IPv4 subnets and never against an IPv6 one, not even `::/0`.
///
/// # Examples
///
/// ```
/// use connmgr::inbound::{Subnet, SubnetError};
/// use std::net::IpAddr;
///
/// let lan: Subnet = "10.0.0.0/8".parse()?;
/// assert!(lan.contains("10.200.0.1".parse()?));
/// assert!(lan.contains("::ffff:10.200.0.1".parse()?), "IPv4-mapped is IPv4");
/// assert_eq!("::ffff:10.0.0.0/104".parse::<Subnet>()?, lan);
///
/// let peer: IpAddr = "198.51.100.7".parse()?;
/// assert_eq!(Subnet::containing(peer, 24)?.to_string(), "198.51.100.0/24");
/// assert_eq!("198.51.100.7".parse::<Subnet>()?, Subnet::single(peer));
/// assert_eq!("198.51.100.7/24".parse::<Subnet>(), Err(SubnetError::HostBitsSet));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subnet {
    network: IpAddr,
    len: u8,
}

impl Subnet {
    /// The subnet `network/len`; host bits must be zero.
    pub fn new(network: IpAddr, len: u8) -> Result<Self, SubnetError> {
        let subnet = Subnet::containing(network, len)?;
        if subnet.network != canonical_for(network, len) {
            return Err(SubnetError::HostBitsSet);
        }
        Ok(subnet)
    }

    /// The subnet of prefix `len` that contains `addr`, clearing its host bits.
    pub fn containing(addr: IpAddr, len: u8) -> Result<Self, SubnetError> {
        let max = match addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        if len > max {
            return Err(SubnetError::PrefixTooLong { len: len.into(), max });
        }
        if let (IpAddr::V6(v6), 96..) = (addr, len) {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return Ok(Subnet::masked(IpAddr::V4(v4), len - 96));
            }
        }
        Ok(Subnet::masked(addr, len))
    }

    /// The subnet holding only `addr` (/32 or /128; an IPv4-mapped address gives its IPv4 /32).
    pub fn single(addr: IpAddr) -> Self {
        let addr = canonical(addr);
        Subnet { network: addr, len: max_len(addr) }
    }

    /// The network address (host bits zero).
    pub fn network(&self) -> IpAddr {
        self.network
    }

    /// The prefix length in bits.
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// Whether `ip` is in this subnet.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        ip.is_ipv4() == self.network.is_ipv4() && Subnet::masked(ip, self.len).network == self.network
    }

    /// `ip` truncated to `len` bits. `ip` must be canonical and `len` valid for its family
    /// (a longer `len` is clamped rather than trusted).
    pub(crate) fn masked(ip: IpAddr, len: u8) -> Subnet {
        match ip {
            IpAddr::V4(v4) => {
                let len = len.min(32);
                let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
                Subnet { network: IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask)), len }
            }
            IpAddr::V6(v6) => {
                let len = len.min(128);
                let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
                Subnet { network: IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask)), len }
            }
        }
    }
}

/// The canonical form of `network` itself at `len` (no masking), to compare with the masked one.
fn canonical_for(network: IpAddr, len: u8) -> IpAddr {
    match network {
        IpAddr::V6(v6) if len >= 96 => v6.to_ipv4_mapped().map_or(network, IpAddr::V4),
        _ => network,
    }
}

fn max_len(ip: IpAddr) -> u8 {
    if ip.is_ipv4() {
        32
    } else {
        128
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.len)
    }
}

impl FromStr for Subnet {
    type Err = SubnetError;

    /// Parses `addr/len` or a bare address (a single-address subnet).
    fn from_str(s: &str) -> Result<Self, SubnetError> {
        let (addr, len) = match s.split_once('/') {
            Some((addr, len)) => (addr, Some(len)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| SubnetError::InvalidAddress)?;
        let Some(len) = len else { return Ok(Subnet::single(addr)) };
        if len.is_empty() || len.len() > 3 || !len.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SubnetError::InvalidPrefixLen);
        }
        let len: u16 = len.parse().map_err(|_| SubnetError::InvalidPrefixLen)?;
        let len = u8::try_from(len).map_err(|_| SubnetError::PrefixTooLong { len, max: max_len(addr) })?;
        Subnet::new(addr, len)
    }
}

/// Why a subnet could not be built or parsed.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubnetError {
    /// The address part is not an IPv4 or IPv6 address.
    InvalidAddress,
    /// The prefix length is not a decimal number of at most three digits.
    InvalidPrefixLen,
    /// The prefix length is longer than the address.
    PrefixTooLong {
        /// The length given.
        len: u16,
        /// 32 for IPv4, 128 for IPv6.
        max: u8,
    },
    /// The address has bits set beyond the prefix (write the network, or a bare address).
    HostBitsSet,
}

impl fmt::Display for SubnetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubnetError::InvalidAddress => f.write_str("invalid IP address"),
            SubnetError::InvalidPrefixLen => f.write_str("invalid prefix length"),
            SubnetError::PrefixTooLong { len, max } => write!(f, "prefix length {len} longer than {max}"),
            SubnetError::HostBitsSet => f.write_str("address has host bits set beyond the prefix"),
        }
    }
}

impl std::error::Error for SubnetError {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn net(s: &str) -> Subnet {
        s.parse().unwrap()
    }

    #[test]
    fn parses_both_families_and_bare_addresses() {
        let v4 = net("10.0.0.0/8");
        assert_eq!((v4.network(), v4.prefix_len()), (ip("10.0.0.0"), 8));
        let v6 = net("2001:db8::/32");
        assert_eq!((v6.network(), v6.prefix_len()), (ip("2001:db8::"), 32));
        assert_eq!(net("192.0.2.1"), Subnet::single(ip("192.0.2.1")));
        assert_eq!(net("192.0.2.1").prefix_len(), 32);
        assert_eq!(net("::1").prefix_len(), 128);
        assert_eq!(net("0.0.0.0/0").prefix_len(), 0);
        assert_eq!(net("::/0").prefix_len(), 0);
    }

    #[test]
    fn rejects_bad_input_with_the_reason() {
        assert_eq!("10.0.0.1/8".parse::<Subnet>(), Err(SubnetError::HostBitsSet));
        assert_eq!("2001:db8::1/32".parse::<Subnet>(), Err(SubnetError::HostBitsSet));
        assert_eq!("10.0.0.0/33".parse::<Subnet>(), Err(SubnetError::PrefixTooLong { len: 33, max: 32 }));
        assert_eq!("::/129".parse::<Subnet>(), Err(SubnetError::PrefixTooLong { len: 129, max: 128 }));
        assert_eq!("::/999".parse::<Subnet>(), Err(SubnetError::PrefixTooLong { len: 999, max: 128 }));
        for bad in ["10.0.0.0/", "10.0.0.0/+8", "10.0.0.0/-1", "10.0.0.0/8/8", "10.0.0.0/0008", "10.0.0.0/ 8"] {
            assert!(bad.parse::<Subnet>().is_err(), "{bad}");
        }
        assert_eq!("10.0.0.0/8/8".parse::<Subnet>(), Err(SubnetError::InvalidPrefixLen));
        for bad in ["", "/8", "10.0.0/8", "host.example/8", "fe80::1%eth0", " 10.0.0.0/8"] {
            assert_eq!(bad.parse::<Subnet>(), Err(SubnetError::InvalidAddress), "{bad}");
        }
    }

    #[test]
    fn containing_clears_host_bits_and_checks_the_length() {
        assert_eq!(Subnet::containing(ip("10.1.2.3"), 8), Ok(net("10.0.0.0/8")));
        assert_eq!(Subnet::containing(ip("10.1.2.3"), 0), Ok(net("0.0.0.0/0")));
        assert_eq!(Subnet::containing(ip("2001:db8:1:2::5"), 48), Ok(net("2001:db8:1::/48")));
        assert_eq!(Subnet::containing(ip("10.1.2.3"), 33), Err(SubnetError::PrefixTooLong { len: 33, max: 32 }));
        assert_eq!(Subnet::new(ip("10.1.2.3"), 8), Err(SubnetError::HostBitsSet));
    }

    #[test]
    fn ipv4_mapped_is_ipv4_everywhere() {
        assert_eq!(net("::ffff:10.0.0.0/104"), net("10.0.0.0/8"));
        assert_eq!(net("::ffff:0:0/96"), net("0.0.0.0/0"));
        assert_eq!(net("::ffff:192.0.2.1"), net("192.0.2.1/32"));
        assert_eq!(Subnet::containing(ip("::ffff:192.0.2.77"), 120), Ok(net("192.0.2.0/24")));
        assert!(net("192.0.2.0/24").contains(ip("::ffff:192.0.2.9")));
        assert!(!net("::/0").contains(ip("::ffff:192.0.2.9")), "an IPv6 subnet never holds a mapped address");
        assert!(!net("::/0").contains(ip("192.0.2.9")));
        assert!(!net("0.0.0.0/0").contains(ip("2001:db8::1")));
        // Below /96 the subnet is an IPv6 one (and cannot have a mapped network).
        assert_eq!("::ffff:0:0/95".parse::<Subnet>(), Err(SubnetError::HostBitsSet));
        assert!(net("::fffe:0:0/95").network().is_ipv6());
    }

    #[test]
    fn display_is_the_parse_form() {
        for s in ["10.0.0.0/8", "2001:db8::/32", "192.0.2.1/32", "::1/128", "0.0.0.0/0", "::/0"] {
            assert_eq!(net(s).to_string(), s);
        }
        assert_eq!(net("::ffff:10.0.0.0/104").to_string(), "10.0.0.0/8");
    }

    /// The first `len` bits of two addresses, compared one bit at a time.
    fn naive_contains(network: u128, len: u8, ip: u128, width: u8) -> bool {
        (0..len).all(|i| (network >> (width - 1 - i)) & 1 == (ip >> (width - 1 - i)) & 1)
    }

    proptest! {
        #[test]
        fn contains_matches_a_bitwise_model(a in any::<u32>(), len in 0u8..=32, b in any::<u32>(), flip in 0u8..32) {
            let s = Subnet::containing(IpAddr::V4(Ipv4Addr::from(a)), len).unwrap();
            // An address near the network (one bit flipped) as well as a random one.
            for probe in [b, a ^ (1 << flip)] {
                let want = naive_contains(a.into(), len, probe.into(), 32);
                prop_assert_eq!(s.contains(IpAddr::V4(Ipv4Addr::from(probe))), want);
                let mapped = IpAddr::V6(Ipv4Addr::from(probe).to_ipv6_mapped());
                prop_assert_eq!(s.contains(mapped), want);
            }
        }

        #[test]
        fn contains_matches_a_bitwise_model_v6(a in any::<u128>(), len in 0u8..=128, b in any::<u128>(), flip in 0u8..128) {
            let s = Subnet::containing(IpAddr::V6(Ipv6Addr::from(a)), len).unwrap();
            for probe in [b, a ^ (1 << flip)] {
                let addr = Ipv6Addr::from(probe);
                let want = if addr.to_ipv4_mapped().is_some() {
                    // Mapped probes are IPv4: only an IPv4 subnet (a mapped network) holds them.
                    s.network().is_ipv4() && naive_contains(a, len, probe, 128)
                } else {
                    s.network().is_ipv6() && naive_contains(a, len, probe, 128)
                };
                prop_assert_eq!(s.contains(IpAddr::V6(addr)), want);
            }
        }

        #[test]
        fn display_then_parse_round_trips(a in any::<u128>(), len in 0u8..=128, v4 in any::<bool>()) {
            let addr = if v4 { IpAddr::V4(Ipv4Addr::from(a as u32)) } else { IpAddr::V6(Ipv6Addr::from(a)) };
            let s = Subnet::containing(addr, if v4 { len % 33 } else { len }).unwrap();
            prop_assert_eq!(s.to_string().parse::<Subnet>(), Ok(s));
        }

        #[test]
        fn parsing_random_text_never_panics(s in "\\PC{0,48}") {
            let _ = s.parse::<Subnet>();
        }

        #[test]
        fn parsing_near_miss_text_never_panics(s in "[0-9a-f:./%]{0,44}") {
            if let Ok(subnet) = s.parse::<Subnet>() {
                prop_assert_eq!(subnet.to_string().parse::<Subnet>(), Ok(subnet));
            }
        }
    }
}
