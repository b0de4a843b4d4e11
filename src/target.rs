//! What an outbound connection dials: an IP address, a host name, or a Tor onion service, each
//! with a port.
//!
//! A [`Target`] is validated once, when it is parsed, so that a dial never fails on a malformed
//! name, and a name ending in `.onion` can never become a DNS query: it is either a valid v3
//! onion address or an error. Clones are cheap: an IP address and an onion address are stored
//! inline, a host name is shared behind an `Arc`. Host names are stored lower-cased, so equal
//! targets compare and hash equal whatever case they were typed in.
//!
//! # Examples
//!
//! ```
//! use connmgr::{Target, TargetError};
//!
//! let ip: Target = "127.0.0.1:8333".parse()?;
//! assert_eq!(ip.ip(), Some("127.0.0.1:8333".parse()?));
//!
//! let name: Target = "Seed.Example.ORG:8333".parse()?;
//! assert!(name.is_name());
//! assert_eq!(name.to_string(), "seed.example.org:8333");
//!
//! let onion: Target = "2GZYXA5IHM7NSGGFXNU52RCK2VV4RVMDLKIU3ZZUI5DU4XYCLEN53WID.onion:80".parse()?;
//! assert!(onion.is_onion());
//! assert_eq!(onion.host().to_string(), "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion");
//!
//! // A seed given without a port takes the network's default.
//! assert_eq!(Target::parse_with_default_port("::1", 8333)?, "[::1]:8333".parse()?);
//!
//! // Typos are caught at parse time.
//! let typo = "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion:80".replace("2gzy", "2gzz");
//! let typo = typo.parse::<Target>();
//! assert_eq!(typo, Err(TargetError::OnionChecksum));
//! assert_eq!("seed.example.org".parse::<Target>(), Err(TargetError::MissingPort));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::str::FromStr;
use std::sync::Arc;

mod base32;
mod onion;
mod sha3;

pub use onion::OnionAddr;
pub(crate) use onion::HOST_LEN as ONION_HOST_LEN;

/// The longest host name, without its optional trailing dot (RFC 1035's 255 bytes on the wire).
const MAX_NAME_LEN: usize = 253;
/// The longest label between two dots.
const MAX_LABEL_LEN: usize = 63;

/// Where an outbound connection goes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Target {
    /// An IP address and port.
    Ip(SocketAddr),
    /// A host name and port, resolved by a proxy (never locally, when one is used) or by the
    /// caller.
    Name(HostName, u16),
    /// A Tor v3 onion service and port, reachable only through Tor.
    Onion(OnionAddr, u16),
}

impl Target {
    /// Parses `s` like [`FromStr`], but takes `default_port` when `s` has none: `"seed.example.org"`,
    /// `"1.2.3.4"`, `"::1"` and `"[::1]"` are accepted, as are all the forms with a port.
    ///
    /// # Errors
    ///
    /// As [`FromStr`], except never [`TargetError::MissingPort`].
    pub fn parse_with_default_port(s: &str, default_port: u16) -> Result<Target, TargetError> {
        parse(s, Some(default_port))
    }

    /// The port to connect to.
    pub fn port(&self) -> u16 {
        match self {
            Target::Ip(addr) => addr.port(),
            Target::Name(_, port) | Target::Onion(_, port) => *port,
        }
    }

    /// The socket address, for an IP target.
    pub fn ip(&self) -> Option<SocketAddr> {
        match self {
            Target::Ip(addr) => Some(*addr),
            _ => None,
        }
    }

    /// Whether this is an onion service, which only Tor can reach.
    pub fn is_onion(&self) -> bool {
        matches!(self, Target::Onion(..))
    }

    /// Whether this is a host name, which something must resolve.
    pub fn is_name(&self) -> bool {
        matches!(self, Target::Name(..))
    }

    /// The target without its port, for logs: `1.2.3.4`, `::1`, `seed.example.org`,
    /// `<56 chars>.onion`.
    pub fn host(&self) -> impl fmt::Display + '_ {
        Host(self)
    }
}

struct Host<'a>(&'a Target);

impl fmt::Display for Host<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Target::Ip(SocketAddr::V4(addr)) => fmt::Display::fmt(addr.ip(), f),
            Target::Ip(SocketAddr::V6(addr)) if addr.scope_id() != 0 => write!(f, "{}%{}", addr.ip(), addr.scope_id()),
            Target::Ip(SocketAddr::V6(addr)) => fmt::Display::fmt(addr.ip(), f),
            Target::Name(name, _) => fmt::Display::fmt(name, f),
            Target::Onion(onion, _) => fmt::Display::fmt(onion, f),
        }
    }
}

impl From<SocketAddr> for Target {
    fn from(addr: SocketAddr) -> Self {
        Target::Ip(addr)
    }
}

/// Accepts `1.2.3.4:8333`, `[::1]:8333`, `[fe80::1%2]:8333`, `seed.example.org:8333` and
/// `<56 base32 chars>.onion:8333` (either case). The port is required; see
/// [`Target::parse_with_default_port`] for text without one. An IP literal is always an
/// [`Target::Ip`], never a name.
impl FromStr for Target {
    type Err = TargetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s, None)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Ip(addr) => fmt::Display::fmt(addr, f),
            Target::Name(name, port) => write!(f, "{name}:{port}"),
            Target::Onion(onion, port) => write!(f, "{onion}:{port}"),
        }
    }
}

fn parse(s: &str, default_port: Option<u16>) -> Result<Target, TargetError> {
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(Target::Ip(addr));
    }
    // A bare IP address: IPv6 with more than one colon must not be split at its last one.
    if let Some(ip) = parse_ip(s) {
        let port = default_port.ok_or(TargetError::MissingPort)?;
        return Ok(Target::Ip(with_port(ip, port)));
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (inside, after) = rest.split_once(']').ok_or(TargetError::InvalidIp)?;
        let ip = parse_ip(inside).filter(Scoped::is_ipv6).ok_or(TargetError::InvalidIp)?;
        let port = match after {
            "" => default_port.ok_or(TargetError::MissingPort)?,
            _ => parse_port(after.strip_prefix(':').ok_or(TargetError::InvalidPort)?)?,
        };
        return Ok(Target::Ip(with_port(ip, port)));
    }
    let (host, port) = match s.rsplit_once(':') {
        // More colons: an IPv6 address that did not parse, or one with a port but no brackets.
        Some((host, _)) if host.contains(':') => return Err(TargetError::InvalidIp),
        Some((host, port)) => (host, parse_port(port)?),
        None => (s, default_port.ok_or(TargetError::MissingPort)?),
    };
    parse_host(host, port)
}

/// An IP address with an IPv6 scope id (0 for none), which `IpAddr` cannot hold.
struct Scoped(IpAddr, u32);

impl Scoped {
    fn is_ipv6(&self) -> bool {
        self.0.is_ipv6()
    }
}

/// `1.2.3.4`, `::1` or `fe80::1%2`.
fn parse_ip(s: &str) -> Option<Scoped> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(Scoped(ip, 0));
    }
    let (ip, scope) = s.split_once('%')?;
    let scope = scope.bytes().all(|b| b.is_ascii_digit()).then(|| scope.parse::<u32>().ok())??;
    Some(Scoped(IpAddr::V6(ip.parse::<Ipv6Addr>().ok()?), scope))
}

fn with_port(ip: Scoped, port: u16) -> SocketAddr {
    match ip.0 {
        IpAddr::V4(v4) => SocketAddr::new(IpAddr::V4(v4), port),
        IpAddr::V6(v6) => SocketAddr::V6(SocketAddrV6::new(v6, port, 0, ip.1)),
    }
}

/// Decimal digits only: `u16::from_str` would also take `+80`.
fn parse_port(s: &str) -> Result<u16, TargetError> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TargetError::InvalidPort);
    }
    s.parse().map_err(|_| TargetError::InvalidPort)
}

/// A host without a port: an IP literal, an onion address, or a host name.
fn parse_host(host: &str, port: u16) -> Result<Target, TargetError> {
    if let Some(ip) = parse_ip(host) {
        return Ok(Target::Ip(with_port(ip, port)));
    }
    if is_onion_name(host) {
        return Ok(Target::Onion(OnionAddr::parse_host(host)?, port));
    }
    Ok(Target::Name(host.parse()?, port))
}

/// Whether the last label is `onion`, in any case, with or without a trailing dot.
fn is_onion_name(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    host.rsplit('.').next().is_some_and(|tld| tld.eq_ignore_ascii_case("onion"))
}

/// A valid DNS host name, lower-cased: what a [`Target::Name`] dials.
///
/// Labels of 1 to 63 letters, digits, `-` (not first or last) and `_` (service labels such as
/// `_bitcoin._tcp`), at most 253 bytes in all; one trailing dot is accepted and dropped. Refused:
/// anything else (spaces, `@`, `:`, control characters, non-ASCII: use punycode), an all-numeric
/// last label (`1.2.3.4`, `127.1` or `0x7f.1` would be read as an address by some resolvers), and
/// names under `.onion` (see [`OnionAddr`]).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct HostName(Arc<str>);

impl HostName {
    /// The lower-cased name, without a trailing dot.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for HostName {
    type Err = TargetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.strip_suffix('.').unwrap_or(s);
        check_name(name)?;
        Ok(HostName(Arc::from(name.to_ascii_lowercase())))
    }
}

fn check_name(name: &str) -> Result<(), TargetError> {
    if name.is_empty() {
        return Err(TargetError::EmptyName);
    }
    if let Some(c) = name.chars().find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))) {
        return Err(TargetError::InvalidChar(c));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(TargetError::NameTooLong(name.len()));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err(TargetError::EmptyLabel);
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(TargetError::LabelTooLong(label.len()));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(TargetError::Hyphen);
        }
    }
    let tld = name.rsplit('.').next().unwrap_or(name);
    let hex =
        tld.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("0x")) && tld[2..].bytes().all(|b| b.is_ascii_hexdigit());
    if hex || tld.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TargetError::NumericTld);
    }
    if tld.eq_ignore_ascii_case("onion") {
        return Err(TargetError::OnionName);
    }
    Ok(())
}

impl fmt::Display for HostName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for HostName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HostName({:?})", &*self.0)
    }
}

/// Why text is not a [`Target`], a [`HostName`] or an [`OnionAddr`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TargetError {
    /// No port, where one is required.
    MissingPort,
    /// The port is not a decimal number from 0 to 65535.
    InvalidPort,
    /// Brackets or colons that do not hold an IPv6 address (an IPv6 address with a port needs
    /// brackets: `[::1]:8333`).
    InvalidIp,
    /// A host name that is empty (or only a dot).
    EmptyName,
    /// A host name longer than 253 bytes.
    NameTooLong(usize),
    /// A host name with two dots in a row, or a leading dot.
    EmptyLabel,
    /// A host name label longer than 63 bytes.
    LabelTooLong(usize),
    /// A host name character other than ASCII letters, digits, `-`, `_` and `.`.
    InvalidChar(char),
    /// A host name label that starts or ends with `-`.
    Hyphen,
    /// A host name whose last label is a number, so the text is an address to some resolvers.
    NumericTld,
    /// A [`HostName`] under `.onion`, which only Tor can reach: see [`OnionAddr`].
    OnionName,
    /// An [`OnionAddr`] that does not end in `.onion`.
    NotOnion,
    /// Labels before an onion address (`www.<address>.onion`): Tor ignores them, so they are
    /// refused rather than silently dropped.
    OnionSubdomain,
    /// A 16-character v2 onion address: Tor removed v2 services in 2021.
    OnionV2,
    /// Not 56 characters before `.onion`.
    OnionLength(usize),
    /// A character outside base32's alphabet (`a-z`, `2-7`) in an onion address.
    OnionBase32(char),
    /// An onion address with a version byte other than 3.
    OnionVersion(u8),
    /// The onion address's checksum does not match its key: a mistyped address.
    OnionChecksum,
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use TargetError::*;
        match self {
            MissingPort => f.write_str("missing port"),
            InvalidPort => f.write_str("invalid port (expected 0 to 65535)"),
            InvalidIp => f.write_str("invalid IPv6 address (use [address]:port)"),
            EmptyName | NameTooLong(_) | EmptyLabel | LabelTooLong(_) | InvalidChar(_) | Hyphen | NumericTld
            | OnionName => {
                f.write_str("invalid host name: ")?;
                match self {
                    EmptyName => f.write_str("empty"),
                    NameTooLong(len) => write!(f, "{len} bytes long, at most {MAX_NAME_LEN} allowed"),
                    EmptyLabel => f.write_str("empty label"),
                    LabelTooLong(len) => write!(f, "a label of {len} bytes, at most {MAX_LABEL_LEN} allowed"),
                    InvalidChar(c) => write!(f, "character {c:?} not allowed"),
                    Hyphen => f.write_str("a label starts or ends with '-'"),
                    NumericTld => f.write_str("numeric last label (not a name, not an address)"),
                    _ => f.write_str(".onion names are onion addresses, not host names"),
                }
            }
            NotOnion | OnionSubdomain | OnionV2 | OnionLength(_) | OnionBase32(_) | OnionVersion(_) | OnionChecksum => {
                f.write_str("invalid onion address: ")?;
                match self {
                    NotOnion => f.write_str("not a .onion name"),
                    OnionSubdomain => f.write_str("subdomains of an onion address are not supported"),
                    OnionV2 => f.write_str("v2 onion addresses are no longer supported by Tor"),
                    OnionLength(len) => write!(f, "{len} characters before .onion, expected {}", onion::TEXT_LEN),
                    OnionBase32(c) => write!(f, "{c:?} is not a base32 character"),
                    OnionVersion(v) => write!(f, "version {v}, expected {}", onion::VERSION),
                    _ => f.write_str("checksum mismatch (mistyped address?)"),
                }
            }
        }
    }
}

impl std::error::Error for TargetError {}

#[cfg(test)]
mod tests {
    use super::*;

    const TOR_PROJECT: &str = "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid";
    const DUCKDUCKGO: &str = "duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad";

    fn t(s: &str) -> Result<Target, TargetError> {
        s.parse()
    }

    #[test]
    fn ip_literals_are_always_ip() {
        assert_eq!(t("1.2.3.4:8333"), Ok(Target::Ip("1.2.3.4:8333".parse().unwrap())));
        assert_eq!(t("[::1]:8333"), Ok(Target::Ip("[::1]:8333".parse().unwrap())));
        let scoped = t("[fe80::1%2]:8333").unwrap();
        assert_eq!(scoped, Target::Ip(SocketAddr::V6(SocketAddrV6::new("fe80::1".parse().unwrap(), 8333, 0, 2))));
        assert_eq!(scoped.host().to_string(), "fe80::1%2");
        // Without a port, an IP literal is still not a name.
        assert_eq!(t("1.2.3.4"), Err(TargetError::MissingPort));
        assert_eq!(t("::1"), Err(TargetError::MissingPort));
        assert_eq!(t("[::1]"), Err(TargetError::MissingPort));
        assert_eq!(t("::1:8333"), Err(TargetError::MissingPort), "an IPv6 address, ending in :8333");
        assert_eq!(t("[1.2.3.4]:1"), Err(TargetError::InvalidIp), "brackets are for IPv6");
        assert_eq!(t("[::1:1"), Err(TargetError::InvalidIp));
        assert_eq!(t("[::g]:1"), Err(TargetError::InvalidIp));
        assert_eq!(t("1::2::3:80"), Err(TargetError::InvalidIp));
    }

    #[test]
    fn default_port_forms() {
        let d = |s: &str| Target::parse_with_default_port(s, 8333);
        assert_eq!(d("seed.example.org").unwrap().to_string(), "seed.example.org:8333");
        assert_eq!(d("seed.example.org:18333").unwrap().port(), 18333, "an explicit port wins");
        assert_eq!(d("::1"), Ok(Target::Ip("[::1]:8333".parse().unwrap())));
        assert_eq!(d("[::1]"), Ok(Target::Ip("[::1]:8333".parse().unwrap())));
        assert_eq!(d("[::1]:1"), Ok(Target::Ip("[::1]:1".parse().unwrap())));
        assert_eq!(d("1.2.3.4"), Ok(Target::Ip("1.2.3.4:8333".parse().unwrap())));
        assert_eq!(d("fe80::1%3").unwrap().host().to_string(), "fe80::1%3");
        let onion = d(&format!("{TOR_PROJECT}.onion")).unwrap();
        assert!(onion.is_onion());
        assert_eq!(onion.port(), 8333);
        assert_eq!(d("seed.example.org:"), Err(TargetError::InvalidPort));
        assert_eq!(d("[::1]x"), Err(TargetError::InvalidPort));
        assert_eq!(d(""), Err(TargetError::EmptyName));
    }

    #[test]
    fn ports() {
        assert_eq!(t("a.example:65535").unwrap().port(), 65535);
        assert_eq!(t("a.example:0").unwrap().port(), 0);
        for bad in
            ["a.example:65536", "a.example:+80", "a.example:-1", "a.example:", "a.example:8o", "a.example:000080"]
        {
            assert_eq!(t(bad), Err(TargetError::InvalidPort), "{bad}");
        }
        assert_eq!(t("a.example"), Err(TargetError::MissingPort));
    }

    #[test]
    fn names_are_validated_and_lower_cased() {
        let name = t("Seed.Bitcoin.SIPA.be:8333").unwrap();
        assert_eq!(name.to_string(), "seed.bitcoin.sipa.be:8333");
        assert_eq!(name, t("seed.bitcoin.sipa.be.:8333").unwrap(), "case and a trailing dot do not matter");
        assert!(name.is_name() && !name.is_onion() && name.ip().is_none());
        assert_eq!(name.host().to_string(), "seed.bitcoin.sipa.be");
        for ok in [
            "localhost:1",
            "x9.seed.example:1",
            "_bitcoin._tcp.example:1",
            "a-b.c_d.example:1",
            "xn--bcher-kva.example:1",
        ] {
            assert!(t(ok).unwrap().is_name(), "{ok}");
        }
        assert_eq!(t("a b.example:1"), Err(TargetError::InvalidChar(' ')));
        assert_eq!(t("user@host.example:1"), Err(TargetError::InvalidChar('@')));
        assert_eq!(t("a\u{0}b.example:1"), Err(TargetError::InvalidChar('\0')));
        assert_eq!(t("bücher.example:1"), Err(TargetError::InvalidChar('ü')));
        assert_eq!(t(" a.example:1"), Err(TargetError::InvalidChar(' ')));
        assert_eq!(t(":1"), Err(TargetError::EmptyName));
        assert_eq!(t(".:1"), Err(TargetError::EmptyName));
        assert_eq!(t("a..example:1"), Err(TargetError::EmptyLabel));
        assert_eq!(t(".example:1"), Err(TargetError::EmptyLabel));
        assert_eq!(t("a.example..:1"), Err(TargetError::EmptyLabel));
        assert_eq!(t("-a.example:1"), Err(TargetError::Hyphen));
        assert_eq!(t("a-.example:1"), Err(TargetError::Hyphen));
        for numeric in ["1.2.3.4.5:1", "127.1:1", "0x7f.1:1", "a.0x10:1", "1234:1"] {
            assert_eq!(t(numeric), Err(TargetError::NumericTld), "{numeric}");
        }
        assert!(t("a.0xg:1").unwrap().is_name(), "not a number");
    }

    #[test]
    fn name_length_limits() {
        let label = "a".repeat(63);
        assert!(t(&format!("{label}.example:1")).is_ok());
        assert_eq!(t(&format!("a{label}.example:1")), Err(TargetError::LabelTooLong(64)));
        // 3 labels of 63 bytes and one of 61: 253 bytes, the longest allowed.
        let longest = format!("{label}.{label}.{label}.{}", "b".repeat(61));
        assert_eq!(longest.len(), 253);
        assert_eq!(t(&format!("{longest}:1")).unwrap().host().to_string(), longest);
        assert!(t(&format!("{longest}.:1")).is_ok(), "a trailing dot does not count");
        assert_eq!(t(&format!("{longest}a:1")), Err(TargetError::NameTooLong(254)));
    }

    #[test]
    fn onion_v3_addresses() {
        for (text, pubkey_hex) in [
            (TOR_PROJECT, "d1b38b83a83b3ed918c5bb69dd444ad56bc8d5835a914de73447474e5f02591b"),
            (DUCKDUCKGO, "1d04a1d04a338c6e6ae970bfabee49049d6702250984ca950c01673f4ec034ad"),
        ] {
            let target = t(&format!("{text}.onion:443")).unwrap();
            let Target::Onion(onion, 443) = &target else { panic!("{target:?}") };
            let hex: String = onion.pubkey().iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(hex, pubkey_hex);
            assert_eq!(target.to_string(), format!("{text}.onion:443"));
            assert_eq!(OnionAddr::from_pubkey(onion.pubkey()), *onion, "the checksum is recomputed the same");
            let upper = t(&format!("{}.ONION:443", text.to_uppercase())).unwrap();
            assert_eq!(upper, target, "case-insensitive");
            assert_eq!(t(&format!("{text}.onion.:443")).unwrap(), target);
            assert_eq!(format!("{text}.onion").parse::<OnionAddr>(), Ok(*onion));
        }
    }

    #[test]
    fn malformed_onions_are_errors_never_names() {
        let onion_err = |s: &str| match t(s) {
            Err(why) if why.to_string().starts_with("invalid onion address: ") => why,
            other => panic!("{s}: {other:?}"),
        };
        assert_eq!(onion_err("expyuzz4wqqyqhjn.onion:80"), TargetError::OnionV2);
        assert_eq!(onion_err(&format!("{}.onion:80", &TOR_PROJECT[1..])), TargetError::OnionLength(55));
        assert_eq!(onion_err("onion:80"), TargetError::OnionLength(0));
        assert_eq!(onion_err(&format!("www.{TOR_PROJECT}.onion:80")), TargetError::OnionSubdomain);
        let mut bad_char = TOR_PROJECT.to_string();
        bad_char.replace_range(10..11, "1");
        assert_eq!(onion_err(&format!("{bad_char}.onion:80")), TargetError::OnionBase32('1'));
        // One changed character in the key: the checksum catches it.
        let mut typo = TOR_PROJECT.to_string();
        typo.replace_range(0..1, "3");
        assert_eq!(onion_err(&format!("{typo}.onion:80")), TargetError::OnionChecksum);
        // A valid key and checksum with another version byte: rebuild the text from raw bytes.
        let mut raw = [0_u8; 35];
        base32::decode(TOR_PROJECT.as_bytes(), &mut raw).unwrap();
        raw[34] = 4;
        let mut text = [0_u8; 56];
        base32::encode(&raw, &mut text).unwrap();
        let v4 = std::str::from_utf8(&text).unwrap();
        assert_eq!(onion_err(&format!("{v4}.onion:80")), TargetError::OnionVersion(4));
        assert_eq!("example.org".parse::<OnionAddr>(), Err(TargetError::NotOnion));
        // Host names under .onion are refused on their own too.
        assert_eq!("a.onion".parse::<HostName>(), Err(TargetError::OnionName));
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "1.2.3.4:8333".to_string(),
            "[2001:db8::1]:18444".to_string(),
            "[fe80::1%7]:1".to_string(),
            "seed.example.org:8333".to_string(),
            format!("{DUCKDUCKGO}.onion:8333"),
        ] {
            let target = t(&text).unwrap();
            assert_eq!(target.to_string(), text);
            assert_eq!(t(&target.to_string()), Ok(target));
        }
    }

    #[test]
    fn accessors() {
        let ip = Target::from("[::1]:8".parse::<SocketAddr>().unwrap());
        assert_eq!(
            (ip.port(), ip.ip(), ip.is_name(), ip.is_onion()),
            (8, Some("[::1]:8".parse().unwrap()), false, false)
        );
        assert_eq!(ip.host().to_string(), "::1");
        assert_eq!(t("1.2.3.4:5").unwrap().host().to_string(), "1.2.3.4");
        let onion = t(&format!("{TOR_PROJECT}.onion:9")).unwrap();
        assert_eq!((onion.port(), onion.ip(), onion.is_name(), onion.is_onion()), (9, None, false, true));
        let name: HostName = "A.Example".parse().unwrap();
        assert_eq!(name.as_str(), "a.example");
        assert_eq!(format!("{name:?}"), "HostName(\"a.example\")");
    }

    #[test]
    fn clones_share_and_sizes_stay_small() {
        let target = t("seed.example.org:8333").unwrap();
        let copy = target.clone();
        let (Target::Name(a, _), Target::Name(b, _)) = (&target, &copy) else { unreachable!() };
        assert!(Arc::ptr_eq(&a.0, &b.0), "a clone shares the name");
        assert_eq!(std::mem::size_of::<OnionAddr>(), 35);
        assert_eq!(std::mem::size_of::<Target>(), 40);
    }

    proptest::proptest! {
        #[test]
        fn any_text_parses_or_fails_without_panic(s in "\\PC{0,80}", port in proptest::prelude::any::<u16>()) {
            // Whatever parses displays as text that parses back to it.
            for target in [t(&s), Target::parse_with_default_port(&s, port)].into_iter().flatten() {
                proptest::prop_assert_eq!(t(&target.to_string()), Ok(target));
            }
        }

        #[test]
        fn target_like_text_round_trips(
            s in "([a-zA-Z0-9_-]{1,20}\\.){0,3}[a-zA-Z_][a-zA-Z0-9]{0,5}\\.?(:[0-9]{1,5})?|\\[[0-9a-f:]{2,12}\\](:[0-9]{1,5})?|[0-9.]{7,15}(:[0-9]{1,6})?",
        ) {
            if let Ok(target) = Target::parse_with_default_port(&s, 1) {
                proptest::prop_assert_eq!(t(&target.to_string()), Ok(target));
            }
        }

        #[test]
        fn onions_from_any_key_round_trip(key in proptest::prelude::any::<[u8; 32]>(), port in proptest::prelude::any::<u16>()) {
            let target = Target::Onion(OnionAddr::from_pubkey(key), port);
            let text = target.to_string();
            proptest::prop_assert_eq!(t(&text.to_uppercase()), Ok(target.clone()));
            proptest::prop_assert_eq!(t(&text), Ok(target));
        }
    }
}
