//! The reactor's non-blocking DNS stub resolver (cargo feature `dns`, on by default): A and
//! AAAA lookups over UDP, TCP when an answer is truncated, and DNS seeding on top of it.
//!
//! The [`Reactor`](crate::Reactor) drives it on its own `Poll` and timer wheel: `seed`
//! (answered in [`Handler::on_seeded`](crate::Handler::on_seeded)), host names dialled without a
//! proxy, and `resolve` without one. Two items are public: [`ResolverConfig`], for whoever sets
//! `Config::dns` (the default reads `/etc/resolv.conf` at the first lookup), and [`DnsError`],
//! for whoever reads why a lookup failed (`DialError::Dns`, `ResolveError::Dns`,
//! `Handler::on_seeded`).
//!
//! An embedded node should bootstrap on one thread: no thread per seed around a blocking
//! `getaddrinfo` (what btcd's `seed_from_dns` does, kept in the `blocking` feature), nothing
//! blocking, every timeout on the same timer wheel. So the resolver inside is a sans-IO state
//! machine, shaped like the core: the reactor feeds it `now`, lookups and whatever arrives on
//! its sockets, and performs what it asks (open a socket and send, close it, a lookup is done).
//! Time and randomness are inputs, so every scenario is tested on a simulated clock.
//!
//! # Behaviour
//!
//! - **Servers** come from `resolv.conf` ([`ResolverConfig::system`]: up to 3 `nameserver`
//!   lines, `options timeout:N attempts:N`, glibc's defaults and limits) or are configured.
//!   Each query tries server 1, 2, ... with `timeout` each, for `attempts` rounds.
//! - **Every try** uses a fresh UDP socket bound to port 0 (the kernel picks a random source
//!   port) and a fresh random message id. A reply is accepted only from that try's server, with
//!   its id and its question (name case-insensitively, type, class); anything else is ignored
//!   and counted, and the try keeps waiting.
//! - **Truncated** answers (TC) are asked again over TCP, to the same server, with the 2-byte
//!   length prefix; DNS seeds return more records than fit in 512 bytes. No EDNS(0) is sent,
//!   as glibc does by default.
//! - **CNAME** chains in an answer are followed; an answer that ends in an alias without
//!   addresses is followed by a new question, at most [`ResolverConfig::max_cname_depth`] times.
//! - **Errors** are typed ([`DnsError`]): NXDOMAIN is final; SERVFAIL, REFUSED, other error
//!   codes, malformed replies, socket errors and timeouts move on to the next server, and the
//!   most telling of them is reported when all tries fail.
//! - **Results**: both families' addresses, IPv6 first, then alternating (RFC 8305), for the
//!   caller to try in turn. A lookup reports once both queries are over; one family failing
//!   does not fail the lookup if the other has addresses.
//! - **No cache.** Seeders rotate their answers so that each query brings other nodes: a cache
//!   would defeat that. Peer names are looked up rarely (a dial, then a backoff of seconds to
//!   minutes), and the system's resolver is usually a caching one already.
//! - **Names** are taken as fully qualified: no search list, no `ndots`, no hosts file.
//!
//! # Bounds
//!
//! Lookups in progress: [`ResolverConfig::max_lookups`], beyond which a lookup is refused
//! ([`DnsError::TooManyLookups`]). Sockets: [`ResolverConfig::max_queries`], beyond which queries wait in order. Per
//! query under 700 bytes, plus, during a TCP retry, a buffer of the announced reply length (at
//! most 64 KiB). Per lookup, one `Vec` of at most 2 x 64 addresses (extra
//! addresses in an answer are dropped and counted). Parsing a packet allocates nothing.
//!
//! # Why a codec of our own
//!
//! Measured on a tiny binary that builds one query and parses one reply (release, stripped,
//! growth over the same binary without DNS): `hickory-proto` 0.26 +433 KiB and 68 crates,
//! MSRV 1.88; `domain` 0.12 +23 KiB and 14 crates, MSRV 1.87; `simple-dns` 0.13 +87 KiB, and
//! segfaults and panics found by fuzzing in 2025; `dns-parser` 0.8 +12 KiB but unreleased since
//! 2018. The two well-kept ones need a newer Rust than this crate's 1.74, one is over the 60 KiB
//! budget, one is abandoned; all would be a new dependency. The codec here is about 250 lines,
//! allocates nothing and has property tests of its own. The whole resolver (codec, state machine
//! and a blocking UDP driver) added 40 KiB to such a binary, 26 KiB with `log`'s
//! `max_level_off`.
//!

mod codec;
mod conf;
mod resolver;

use std::error::Error as StdError;
use std::fmt;
use std::io;

pub use resolver::ResolverConfig;
pub(crate) use resolver::{DnsAction, DnsLookupId, QueryId, Resolved, Resolver, Want};

/// Why a lookup failed or was refused.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DnsError {
    /// The name cannot be encoded: empty, an empty or over-long label, over 255 bytes, or a
    /// byte that is not printable ASCII (use punycode).
    InvalidName,
    /// The configuration names no server.
    NoServers,
    /// [`ResolverConfig::max_lookups`] lookups are in progress.
    TooManyLookups,
    /// The name does not exist (NXDOMAIN).
    NxDomain,
    /// The name exists but has no address of the families asked for.
    NoAddresses,
    /// The servers failed to answer (SERVFAIL).
    ServFail,
    /// The servers refused to answer (REFUSED).
    Refused,
    /// The servers answered with another error code (FORMERR, NOTIMP, ...).
    Rcode(u8),
    /// The servers' replies did not parse.
    Malformed,
    /// No server answered in time.
    TimedOut,
    /// The answer did not fit in a datagram and the TCP retry failed.
    Truncated,
    /// More CNAME follow-ups than [`ResolverConfig::max_cname_depth`].
    CnameTooDeep,
    /// A socket could not be opened or used.
    Io(io::ErrorKind),
}

impl DnsError {
    /// How much an error says about the name: the one kept when several tries or both
    /// families fail.
    pub(crate) fn rank(self) -> u8 {
        match self {
            DnsError::NxDomain => 6,
            DnsError::NoAddresses => 5,
            DnsError::CnameTooDeep => 4,
            DnsError::ServFail | DnsError::Refused | DnsError::Rcode(_) | DnsError::Malformed => 3,
            DnsError::Truncated => 2,
            DnsError::Io(_) => 1,
            _ => 0,
        }
    }
}

impl fmt::Display for DnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DnsError::InvalidName => f.write_str("invalid host name"),
            DnsError::NoServers => f.write_str("no DNS server configured"),
            DnsError::TooManyLookups => f.write_str("too many DNS lookups in progress"),
            DnsError::NxDomain => f.write_str("no such host"),
            DnsError::NoAddresses => f.write_str("host has no address"),
            DnsError::ServFail => f.write_str("DNS server failure"),
            DnsError::Refused => f.write_str("DNS query refused"),
            DnsError::Rcode(code) => write!(f, "DNS error code {code}"),
            DnsError::Malformed => f.write_str("malformed DNS reply"),
            DnsError::TimedOut => f.write_str("DNS query timed out"),
            DnsError::Truncated => f.write_str("DNS answer truncated and the TCP retry failed"),
            DnsError::CnameTooDeep => f.write_str("too many CNAME follow-ups"),
            DnsError::Io(kind) => write!(f, "DNS socket error: {kind}"),
        }
    }
}

impl StdError for DnsError {}

/// A seed for [`Resolver::new`] in tests: the standard library's per-process random hash keys mixed with
/// the clock. Unpredictable from other hosts, which is what message ids need; not cryptographic.
#[cfg(test)]
pub(crate) fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    use std::time::SystemTime;
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_rank_by_what_they_say_about_the_name() {
        assert!(DnsError::NxDomain.rank() > DnsError::NoAddresses.rank());
        assert!(DnsError::NoAddresses.rank() > DnsError::ServFail.rank());
        assert!(DnsError::ServFail.rank() > DnsError::TimedOut.rank());
        assert_eq!(DnsError::Io(io::ErrorKind::ConnectionRefused).to_string(), "DNS socket error: connection refused");
    }

    #[test]
    fn random_seeds_differ() {
        assert_ne!(random_seed(), random_seed());
    }
}
