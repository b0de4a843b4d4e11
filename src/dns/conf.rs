//! The system's resolver configuration: the parts of `resolv.conf(5)` a stub resolver uses,
//! read the way glibc reads them.
//!
//! Only `nameserver` lines (at most [`ResolverConfig::MAX_SERVERS`], the first ones that parse)
//! and the `timeout:` and `attempts:` options matter; everything else (`search`, `domain`,
//! `ndots`, `rotate`, the `RES_OPTIONS` variable) is ignored, because names given to this
//! resolver are always treated as fully qualified. Parsing is a pure function of the text;
//! reading the file is [`ResolverConfig::system`], so tests feed text.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV6};
use std::time::Duration;

use super::resolver::ResolverConfig;

/// Where glibc reads its configuration.
const RESOLV_CONF: &str = "/etc/resolv.conf";
const DNS_PORT: u16 = 53;

impl ResolverConfig {
    /// glibc's `MAXNS`: name servers taken from `resolv.conf`, the rest ignored.
    pub(crate) const MAX_SERVERS: usize = 3;
    /// glibc's `RES_TIMEOUT`: the wait for one answer from one server.
    pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
    /// glibc's `RES_MAXRETRANS`: `timeout:` values above it are cut to it.
    pub(crate) const MAX_TIMEOUT: Duration = Duration::from_secs(30);
    /// glibc's `RES_DFLRETRY`: rounds over all servers.
    pub(crate) const DEFAULT_ATTEMPTS: u32 = 2;
    /// glibc's `RES_MAXRETRY`: `attempts:` values above it are cut to it.
    pub(crate) const MAX_ATTEMPTS: u32 = 5;

    /// The configuration described by `resolv.conf` text, with this crate's defaults for the
    /// limits the file does not set.
    ///
    /// Like glibc: at most 3 `nameserver` lines are taken, and with no usable one the server is
    /// 127.0.0.1; `timeout:0` waits one second; values above glibc's maxima (`timeout:30`,
    /// `attempts:5`) are cut to them. Unlike glibc, `attempts:0` means one
    /// round (glibc would send nothing), and options whose value is not a plain number are
    /// ignored. An IPv6 server may carry a zone (`fe80::1%eth0` or `fe80::1%2`); a zone named by
    /// interface is looked up in `/sys/class/net`, and a server whose zone is unknown is skipped.
    pub fn from_resolv_conf(text: &str) -> Self {
        parse(text, sysfs_ifindex)
    }

    /// The configuration in `/etc/resolv.conf` (see [`from_resolv_conf`](Self::from_resolv_conf)).
    ///
    /// # Errors
    ///
    /// The file could not be read. (glibc then uses its defaults, which
    /// [`ResolverConfig::default`] also are; the caller decides.)
    pub fn system() -> io::Result<Self> {
        std::fs::read_to_string(RESOLV_CONF).map(|text| Self::from_resolv_conf(&text))
    }
}

/// Parses `text`, resolving interface-named IPv6 zones with `ifindex`.
pub(crate) fn parse(text: &str, ifindex: impl Fn(&str) -> Option<u32>) -> ResolverConfig {
    let mut conf = ResolverConfig { servers: Vec::new(), ..ResolverConfig::default() };
    for line in text.lines() {
        let mut words = line.split_ascii_whitespace();
        match words.next() {
            Some("nameserver") => {
                let server = words.next().and_then(|word| server_addr(word, &ifindex));
                match server {
                    Some(addr) if conf.servers.len() < ResolverConfig::MAX_SERVERS => conf.servers.push(addr),
                    Some(addr) => log::debug!("resolv.conf: ignoring name server {addr} beyond the first three"),
                    None => log::debug!("resolv.conf: ignoring unusable line {line:?}"),
                }
            }
            Some("options") => {
                for option in words {
                    if let Some(secs) = option.strip_prefix("timeout:").and_then(number) {
                        conf.timeout = Duration::from_secs(u64::from(secs.max(1))).min(ResolverConfig::MAX_TIMEOUT);
                    } else if let Some(n) = option.strip_prefix("attempts:").and_then(number) {
                        conf.attempts = n.clamp(1, ResolverConfig::MAX_ATTEMPTS);
                    }
                }
            }
            _ => {}
        }
    }
    if conf.servers.is_empty() {
        conf.servers = ResolverConfig::default().servers;
    }
    conf
}

fn number(text: &str) -> Option<u32> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        // Absurdly long digit strings saturate, then get clamped.
        Some(text.parse().unwrap_or(u32::MAX))
    } else {
        None
    }
}

fn server_addr(word: &str, ifindex: &impl Fn(&str) -> Option<u32>) -> Option<SocketAddr> {
    let (ip, zone) = match word.split_once('%') {
        Some((ip, zone)) => (ip, Some(zone)),
        None => (word, None),
    };
    match (ip.parse::<IpAddr>().ok()?, zone) {
        (ip, None) => Some(SocketAddr::new(ip, DNS_PORT)),
        (IpAddr::V6(ip), Some(zone)) => {
            let scope = zone.parse::<u32>().ok().or_else(|| ifindex(zone))?;
            Some(SocketAddr::V6(SocketAddrV6::new(ip, DNS_PORT, 0, scope)))
        }
        (IpAddr::V4(_), Some(_)) => None,
    }
}

/// An interface's index from sysfs (Linux); `None` elsewhere or for names that are not one.
fn sysfs_ifindex(name: &str) -> Option<u32> {
    let plausible = !name.is_empty() && name.len() < 16 && name != "." && name != ".." && !name.contains('/');
    if !plausible {
        return None;
    }
    std::fs::read_to_string(format!("/sys/class/net/{name}/ifindex")).ok()?.trim().parse().ok()
}

impl Default for ResolverConfig {
    /// glibc's defaults (127.0.0.1, 5 s, 2 attempts) and this crate's limits.
    fn default() -> Self {
        ResolverConfig {
            servers: vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), DNS_PORT)],
            timeout: Self::DEFAULT_TIMEOUT,
            attempts: Self::DEFAULT_ATTEMPTS,
            max_queries: 32,
            max_lookups: 256,
            max_cname_depth: 8,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_ifaces(_: &str) -> Option<u32> {
        None
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn v6(ip: &str, scope: u32) -> SocketAddr {
        SocketAddr::V6(SocketAddrV6::new(ip.parse().unwrap(), DNS_PORT, 0, scope))
    }

    #[test]
    fn typical_file() {
        let text = "# Generated by NetworkManager\nsearch lan example.org\n\
                    nameserver 192.0.2.1\nnameserver\t2001:db8::53 # trailing comment\n\
                    ; another comment\noptions edns0 trust-ad\n";
        let conf = parse(text, no_ifaces);
        assert_eq!(conf.servers, [addr("192.0.2.1:53"), addr("[2001:db8::53]:53")]);
        assert_eq!(conf.timeout, ResolverConfig::DEFAULT_TIMEOUT);
        assert_eq!(conf.attempts, ResolverConfig::DEFAULT_ATTEMPTS);
    }

    #[test]
    fn at_most_three_servers_and_bad_lines_do_not_count() {
        let text = "nameserver 192.0.2.1\nnameserver bogus\nnameserver 192.0.2.2\nnameserver\n\
                    nameserver 192.0.2.3%eth0\nnameserver 192.0.2.4\nnameserver 192.0.2.5\n";
        let conf = parse(text, no_ifaces);
        assert_eq!(conf.servers, [addr("192.0.2.1:53"), addr("192.0.2.2:53"), addr("192.0.2.4:53")]);
    }

    #[test]
    fn no_server_means_localhost_like_glibc() {
        for text in ["", "search example.org\n", "nameserver not-an-ip\n", "# nameserver 192.0.2.1\n"] {
            assert_eq!(parse(text, no_ifaces).servers, [addr("127.0.0.1:53")], "{text:?}");
        }
    }

    #[test]
    fn scoped_ipv6_servers() {
        let ifaces = |name: &str| (name == "eth0").then_some(7);
        let text = "nameserver fe80::1%eth0\nnameserver fe80::2%3\nnameserver fe80::3%wlan9\n";
        assert_eq!(parse(text, ifaces).servers, [v6("fe80::1", 7), v6("fe80::2", 3)]);
    }

    #[test]
    fn options_follow_glibc_limits() {
        let cases = [
            ("options timeout:1 attempts:1", 1, 1),
            ("options attempts:4 rotate timeout:3", 3, 4),
            ("options timeout:0 attempts:0", 1, 1),
            ("options timeout:99 attempts:99", 30, 5),
            ("options timeout:99999999999999999999", 30, 2),
            ("options timeout:x attempts:-1 timeout: ndots:2", 5, 2),
            ("options timeout:2\noptions timeout:4", 4, 2),
        ];
        for (text, secs, attempts) in cases {
            let conf = parse(text, no_ifaces);
            assert_eq!((conf.timeout, conf.attempts), (Duration::from_secs(secs), attempts), "{text:?}");
        }
    }

    #[test]
    fn zone_names_that_could_escape_sysfs_are_not_looked_up() {
        for zone in ["", ".", "..", "a/b", "../../etc", "waytoolonginterfacename"] {
            assert_eq!(sysfs_ifindex(zone), None, "{zone:?}");
        }
        // The loopback interface exists on every Linux machine, at index 1.
        if std::path::Path::new("/sys/class/net/lo/ifindex").exists() {
            assert_eq!(sysfs_ifindex("lo"), Some(1));
        }
    }
}
