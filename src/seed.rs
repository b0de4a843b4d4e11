//! DNS seeds, the names asked of them and the addresses they give, as btcd's `SeedFromDNS`
//! presents them to an address manager.
//!
//! A DNS seed answers an ordinary A/AAAA query with addresses of reachable nodes. Seeds that
//! support filtering also answer `x<services hex>.<seed>` with nodes offering those services.
//! This module owns the seeds' description ([`DnsSeed`]), the query naming ([`seed_host`]) and
//! the conversion of a lookup result into timestamped addresses ([`seed_addresses`]). The
//! reactor's `seed` (feature `dns`) looks the seeds up on its own thread without blocking and
//! hands each seed's [`SeedAddress`]es to `Handler::on_seeded`; btcd's thread-per-seed
//! `seed_from_dns` is in `blocking` (feature `blocking`).
//!
//! # Examples
//!
//! The names a node that needs witness-capable peers asks its seeds for, and one answer turned
//! into addresses:
//!
//! ```
//! use connmgr::seed::{seed_addresses, seed_host, DnsSeed};
//! use std::time::SystemTime;
//!
//! let seeds = [DnsSeed::new("seed.example.org", true), DnsSeed::new("dnsseed.example.net", false)];
//! let names: Vec<String> = seeds.iter().map(|seed| seed_host(seed, 9)).collect();
//! assert_eq!(names, ["x9.seed.example.org", "dnsseed.example.net"]);
//! let book = seed_addresses(&["192.0.2.1".parse()?], 8333, SystemTime::now(), || 7);
//! assert_eq!(book[0].addr, "192.0.2.1:8333".parse()?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The `NODE_NETWORK` service bit: a full node serving the whole chain.
///
/// Asking a filtering seed for exactly this is the same as asking it for anything, so
/// [`seed_host`] queries the bare seed name for it, as btcd does.
///
/// # Examples
///
/// ```
/// use connmgr::seed::{seed_host, DnsSeed, SF_NODE_NETWORK};
///
/// let seed = DnsSeed::new("seed.example.org", true);
/// assert_eq!(seed_host(&seed, SF_NODE_NETWORK), "seed.example.org");
/// assert_eq!(seed_host(&seed, SF_NODE_NETWORK | 8), "x9.seed.example.org");
/// ```
pub const SF_NODE_NETWORK: u64 = 1;

/// The youngest a seeded address is made to look: 3 days (btcd `secondsIn3Days`).
///
/// # Examples
///
/// ```
/// use connmgr::seed::{seed_addresses, SECONDS_IN_3_DAYS};
/// use std::time::{Duration, SystemTime};
///
/// let now = SystemTime::now();
/// let youngest = seed_addresses(&["192.0.2.1".parse()?], 8333, now, || 0);
/// assert_eq!(youngest[0].timestamp, now - Duration::from_secs(SECONDS_IN_3_DAYS));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const SECONDS_IN_3_DAYS: u64 = 24 * 60 * 60 * 3;

/// The width of the random extra age: 4 days (btcd `secondsIn4Days`), so addresses look
/// between 3 and 7 days old.
///
/// # Examples
///
/// ```
/// use connmgr::seed::{seed_addresses, SECONDS_IN_3_DAYS, SECONDS_IN_4_DAYS};
/// use std::time::{Duration, SystemTime};
///
/// let now = SystemTime::now();
/// let oldest = seed_addresses(&["192.0.2.1".parse()?], 8333, now, || SECONDS_IN_4_DAYS - 1);
/// let age = now.duration_since(oldest[0].timestamp)?;
/// assert_eq!(age, Duration::from_secs(SECONDS_IN_3_DAYS + SECONDS_IN_4_DAYS - 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const SECONDS_IN_4_DAYS: u64 = 24 * 60 * 60 * 4;

/// A DNS seed: a host name that resolves to node addresses.
///
/// The host is an owned `String` rather than `&'static str` because seeds come from user
/// configuration (testnets, signets, private networks) as often as from built-in chain
/// parameters; the copy costs nothing next to a DNS query.
///
/// # Examples
///
/// ```
/// use connmgr::seed::DnsSeed;
///
/// let seeds = vec![
///     DnsSeed { host: "seed.example.org".into(), has_filtering: true },
///     DnsSeed::new("dnsseed.example.net", false),
/// ];
/// assert!(seeds[0].has_filtering && !seeds[1].has_filtering);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DnsSeed {
    /// The seed's host name, for example `seed.bitcoin.sipa.be`.
    pub host: String,
    /// Whether the seed answers `x<hex>.<host>` queries filtered by service bits.
    pub has_filtering: bool,
}

impl DnsSeed {
    /// A seed with the given host name and filtering support.
    ///
    /// # Examples
    ///
    /// ```
    /// use connmgr::seed::DnsSeed;
    ///
    /// let from_config = String::from("seed.signet.example");
    /// let seed = DnsSeed::new(from_config, false);
    /// assert_eq!(seed.host, "seed.signet.example");
    /// ```
    pub fn new(host: impl Into<String>, has_filtering: bool) -> Self {
        DnsSeed { host: host.into(), has_filtering }
    }
}

/// The name to look up for `seed` when peers need `required_services` (as btcd).
///
/// A filtering seed is asked for `x<services as lowercase hex>.<host>`, except for services
/// exactly [`SF_NODE_NETWORK`], which every seeded node has; a seed without filtering is always
/// asked for its bare host name.
///
/// # Examples
///
/// ```
/// use connmgr::seed::{seed_host, DnsSeed};
///
/// let filtering = DnsSeed::new("seed.example.org", true);
/// assert_eq!(seed_host(&filtering, 9), "x9.seed.example.org"); // NODE_NETWORK | NODE_WITNESS
/// assert_eq!(seed_host(&filtering, 0x409), "x409.seed.example.org");
/// assert_eq!(seed_host(&filtering, 1), "seed.example.org");
///
/// let plain = DnsSeed::new("dnsseed.example.net", false);
/// assert_eq!(seed_host(&plain, 9), "dnsseed.example.net");
/// ```
pub fn seed_host(seed: &DnsSeed, required_services: u64) -> String {
    if !seed.has_filtering || required_services == SF_NODE_NETWORK {
        seed.host.clone()
    } else {
        format!("x{:x}.{}", required_services, seed.host)
    }
}

/// A peer address learned from a DNS seed, ready for an address manager.
///
/// # Examples
///
/// ```
/// use connmgr::seed::seed_addresses;
/// use std::time::SystemTime;
///
/// let addrs = seed_addresses(&["192.0.2.1".parse()?], 8333, SystemTime::now(), || 42);
/// assert_eq!(addrs[0].to_string(), "192.0.2.1:8333");
/// assert_eq!(addrs[0].services, 0, "a seed proves nothing about services");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SeedAddress {
    /// The node's address, with the network's default port (seeds only return IPs).
    pub addr: SocketAddr,
    /// When the node was supposedly last seen: a random time 3 to 7 days ago.
    ///
    /// bitcoind and btcd age seeded addresses on purpose so that addresses heard directly from
    /// peers, which are fresher, rank above them.
    pub timestamp: SystemTime,
    /// Always 0, as in btcd: a seed's answer proves nothing about a node's services, even when
    /// the query was filtered; the real flags arrive in the node's `version` message.
    pub services: u64,
}

/// Shows the socket address only, as log lines want it.
impl fmt::Display for SeedAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.addr, f)
    }
}

/// Turns one seed's lookup result into [`SeedAddress`]es, as btcd does for each seed.
///
/// Every IP gets `port` and services 0, and a timestamp of
/// `now - (SECONDS_IN_3_DAYS + rand() % SECONDS_IN_4_DAYS)` seconds, i.e. at least 3 days old and
/// strictly less than 7 days old. `rand` is any source of random `u64`s; the modulo keeps even a
/// poor source inside the window. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) become plain
/// IPv4, as btcd's address encoding does. (btcd also turns OnionCat `fd87:d87e:eb43::/48`
/// addresses into Tor v2 addresses; v2 onion services no longer exist, so they stay IPv6 here.)
///
/// # Examples
///
/// ```
/// use connmgr::seed::seed_addresses;
/// use std::net::IpAddr;
/// use std::time::{Duration, SystemTime};
///
/// let ips: Vec<IpAddr> = vec!["192.0.2.1".parse()?, "::ffff:198.51.100.2".parse()?, "2001:db8::1".parse()?];
/// let now = SystemTime::now();
/// let mut rng = 12345_u64;
/// let addrs = seed_addresses(&ips, 8333, now, || {
///     rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1);
///     rng
/// });
/// let shown: Vec<String> = addrs.iter().map(|a| a.addr.to_string()).collect();
/// assert_eq!(shown, ["192.0.2.1:8333", "198.51.100.2:8333", "[2001:db8::1]:8333"]);
/// let day = Duration::from_secs(24 * 60 * 60);
/// for a in &addrs {
///     let age = now.duration_since(a.timestamp)?;
///     assert!(age >= 3 * day && age < 7 * day);
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn seed_addresses(ips: &[IpAddr], port: u16, now: SystemTime, mut rand: impl FnMut() -> u64) -> Vec<SeedAddress> {
    ips.iter()
        .map(|&ip| {
            let age = SECONDS_IN_3_DAYS + rand() % SECONDS_IN_4_DAYS;
            SeedAddress {
                addr: SocketAddr::new(unmap_ipv4(ip), port),
                timestamp: now.checked_sub(Duration::from_secs(age)).unwrap_or(UNIX_EPOCH),
                services: 0,
            }
        })
        .collect()
}

fn unmap_ipv4(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// One DNS seed's finished lookup, as btcd's `SeedFromDNS` handles it, for the reactor's `seed`
/// and the blocking `seed_from_dns` alike: logged at Info with btcd's lines, and turned into
/// [`SeedAddress`]es by [`seed_addresses`] (port `default_port`, 3 to 7 days old). `host` is the
/// name looked up. Empty on failure.
pub(crate) fn seed_outcome(
    host: &str,
    result: Result<&[IpAddr], &dyn fmt::Display>,
    default_port: u16,
    now: SystemTime,
    rand: impl FnMut() -> u64,
) -> Vec<SeedAddress> {
    match result {
        Ok(ips) => {
            log::info!("{}", found_line(ips.len(), host));
            seed_addresses(ips, default_port, now, rand)
        }
        Err(e) => {
            log::info!("{}", failed_line(host, e));
            Vec::new()
        }
    }
}

/// btcd's Info line for a failed lookup.
fn failed_line(host: &str, err: &(impl fmt::Display + ?Sized)) -> String {
    format!("DNS discovery failed on seed {host}: {err}")
}

/// btcd's Info line for a successful lookup, logged even when it found nothing.
fn found_line(count: usize, host: &str) -> String {
    format!("{count} addresses found from DNS seed {host}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const DAY: u64 = 24 * 60 * 60;

    /// From btcd SeedFromDNS's host naming (scenario D15).
    #[test]
    fn seed_host_names_x_services_for_a_filtering_seed() {
        let filtering = DnsSeed::new("seed.example.org", true);
        let plain = DnsSeed::new("seed.example.net", false);
        assert_eq!(seed_host(&filtering, 9), "x9.seed.example.org");
        assert_eq!(seed_host(&filtering, SF_NODE_NETWORK), "seed.example.org");
        assert_eq!(seed_host(&plain, 9), "seed.example.net");
        assert_eq!(seed_host(&plain, SF_NODE_NETWORK), "seed.example.net");
        // Lowercase hex, no prefix, no padding; 0 is not special-cased (as in btcd).
        assert_eq!(seed_host(&filtering, 0xABC), "xabc.seed.example.org");
        assert_eq!(seed_host(&filtering, 0x409), "x409.seed.example.org");
        assert_eq!(seed_host(&filtering, 0), "x0.seed.example.org");
        assert_eq!(seed_host(&filtering, u64::MAX), "xffffffffffffffff.seed.example.org");
    }

    fn age_of(a: &SeedAddress, now: SystemTime) -> Duration {
        now.duration_since(a.timestamp).unwrap()
    }

    #[test]
    fn timestamps_stay_between_three_and_seven_days_old() {
        let now = SystemTime::now();
        let ips = vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)); 20_000];
        let mut rng = crate::rng::Rng::new(7);
        let addrs = seed_addresses(&ips, 8333, now, || rng.next_u64());
        assert_eq!(addrs.len(), ips.len());
        let (mut youngest, mut oldest) = (Duration::MAX, Duration::ZERO);
        for a in &addrs {
            let age = age_of(a, now);
            assert!(age >= Duration::from_secs(3 * DAY), "{age:?}");
            assert!(age < Duration::from_secs(7 * DAY), "{age:?}");
            youngest = youngest.min(age);
            oldest = oldest.max(age);
            assert_eq!(age.subsec_nanos(), 0);
        }
        // The draws spread over the window rather than sticking to one value.
        assert!(oldest - youngest > Duration::from_secs(3 * DAY));
    }

    #[test]
    fn timestamp_window_edges() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let ip = [IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))];
        let newest = seed_addresses(&ip, 1, now, || 0);
        assert_eq!(age_of(&newest[0], now), Duration::from_secs(3 * DAY));
        let oldest = seed_addresses(&ip, 1, now, || SECONDS_IN_4_DAYS - 1);
        assert_eq!(age_of(&oldest[0], now), Duration::from_secs(7 * DAY - 1));
        // A source beyond the window is folded back into it.
        let wrapped = seed_addresses(&ip, 1, now, || SECONDS_IN_4_DAYS);
        assert_eq!(age_of(&wrapped[0], now), Duration::from_secs(3 * DAY));
        let huge = seed_addresses(&ip, 1, now, || u64::MAX);
        assert!(age_of(&huge[0], now) < Duration::from_secs(7 * DAY));
        // A clock near the epoch does not panic.
        let early = seed_addresses(&ip, 1, UNIX_EPOCH, || 0);
        assert!(early[0].timestamp <= UNIX_EPOCH);
    }

    #[test]
    fn addresses_carry_port_zero_services_and_unmapped_ipv4() {
        let now = SystemTime::now();
        let ips = [
            "192.0.2.1".parse::<IpAddr>().unwrap(),
            "::ffff:192.0.2.2".parse().unwrap(),
            "2001:db8::1".parse().unwrap(),
            // Not IPv4-mapped (the deprecated "compatible" form): stays IPv6, as in btcd.
            "::192.0.2.3".parse().unwrap(),
        ];
        let addrs = seed_addresses(&ips, 18333, now, || 0);
        let got: Vec<SocketAddr> = addrs.iter().map(|a| a.addr).collect();
        assert_eq!(
            got,
            vec![
                SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 18333),
                SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)), 18333),
                SocketAddr::new(IpAddr::V6("2001:db8::1".parse().unwrap()), 18333),
                SocketAddr::new(IpAddr::V6(Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0xc000, 0x0203)), 18333),
            ]
        );
        assert!(addrs.iter().all(|a| a.services == 0));
        assert_eq!(addrs[0].to_string(), "192.0.2.1:18333");
    }

    #[test]
    fn seed_outcome_uses_the_default_port_and_ages_addresses() {
        let ips: [IpAddr; 2] = ["2001:db8::1".parse().unwrap(), "::ffff:192.0.2.1".parse().unwrap()];
        let now = SystemTime::now();
        let batch = seed_outcome("x9.seed.example.org", Ok(&ips), 8333, now, || 0);
        let shown: Vec<String> = batch.iter().map(|a| a.addr.to_string()).collect();
        assert_eq!(shown, ["[2001:db8::1]:8333", "192.0.2.1:8333"]);
        assert!(batch.iter().all(|a| now.duration_since(a.timestamp).unwrap() == Duration::from_secs(3 * DAY)));
        assert!(seed_outcome("x9.seed.example.org", Err(&"no such host"), 8333, now, || 0).is_empty());
    }

    #[test]
    fn log_lines_match_btcd() {
        let err = io::Error::new(io::ErrorKind::NotFound, "no such host");
        assert_eq!(
            failed_line("x9.seed.example.org", &err),
            "DNS discovery failed on seed x9.seed.example.org: no such host"
        );
        assert_eq!(found_line(25, "seed.example.org"), "25 addresses found from DNS seed seed.example.org");
    }
}
