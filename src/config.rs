//! The manager's configuration: btcd's `Config` fields with btcd's defaults, the limits btcd
//! lacks, and the validation that turns a mistake into a typed [`ConfigError`] instead of a
//! silent rewrite.
//!
//! btcd quietly replaces a zero `TargetOutbound` with 8 and a non-positive `RetryDuration` with
//! 5 s, writing the defaults back into the caller's struct. Here [`Config::default`] carries the
//! defaults, `target_outbound = 0` means "no automatic connections", and values that could only
//! make the manager spin, never dial, or exhaust memory are rejected. A `Config` is a plain
//! value: building a manager reads it and never changes it.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use crate::net::NetGroupFn;
use crate::policy::admission::Protection;
use crate::policy::outbound::{OfflineDetection, OutboundPolicy};
use crate::proxy::Proxy;
// The longest duration any setting accepts: a year, the timers' own bound.
use crate::time::MAX_DURATION;

/// The most entries any table may be sized for up front: about a million, far above the
/// file-descriptor limit of any host, far below what would abort on allocation.
const MAX_TABLE: usize = 1 << 20;

/// How a manager behaves. Start from `Config::default()` and change what you need
/// (`Config { target_outbound: 4, ..Config::default() }`): fields are added over time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Automatic outbound connections to keep, filled from the address source. Connections made
    /// with `connect` are additional; 0 means none. Default 8.
    pub target_outbound: u32,
    /// Base unit of the permanent backoff (`retry_count x retry_duration`), and the delay of
    /// replacements once `max_failed_attempts` automatic attempts in a row have failed.
    /// Default 5 s.
    pub retry_duration: Duration,
    /// Cap on the permanent backoff. Default 5 min.
    pub max_retry_duration: Duration,
    /// Failed automatic attempts in a row (reset by any successful connection) after which
    /// replacements wait `retry_duration`. Default 25.
    pub max_failed_attempts: u32,
    /// At most this many accepted connections alive at once; `None` is unlimited, `Some(0)`
    /// rejects every inbound connection. Default `None`.
    pub max_inbound: Option<u32>,
    /// A dial's deadline; a request can override it. Default 30 s.
    pub connect_timeout: Duration,
    /// At most this many dials in progress at once; more wait in order. `None` is unlimited.
    pub max_dials_in_flight: Option<u32>,
    /// Addresses to accept on, bound when the manager is built.
    pub listeners: Vec<SocketAddr>,
    /// Requests, sockets and timers to make room for up front, so a node with a known peer
    /// budget never grows its tables. At most 2^20. Default 0.
    pub capacity: usize,
    /// How many ended requests still answer `state(id)` with their final state (btcd's
    /// "state after Remove"), newest first; 0 forgets them at once. At most 2^20. Default 256.
    pub ended_history: usize,
    /// Dial everything through this SOCKS5 proxy (Bitcoin Core's `-proxy`): IP addresses, host
    /// names (unresolved: no DNS leak) and, without `onion_proxy`, onion addresses. Nothing
    /// goes direct. Default none.
    pub proxy: Option<Proxy>,
    /// Dial onion addresses through this proxy, Tor's SOCKS port (Core's `-onion`). Default
    /// none.
    pub onion_proxy: Option<Proxy>,
    /// The node's defences: inbound limits, trusted subnets, eviction, bans and the ban score.
    pub protection: Protection,
    /// How outbound peers are chosen and retried: netgroup diversity, classes, probes,
    /// backoff, failure memory, offline detection, anchors. Default: btcd's behaviour.
    pub outbound: OutboundPolicy,
    /// How addresses group into networks for the per-netgroup cap and eviction (and outbound
    /// diversity): an IPv4 /16 or an IPv6 /32 by default; plug in an ASN map here.
    pub netgroup: NetGroupFn,
    /// Seeds the manager's randomness (eviction's secret net-group key, jitter); `None` (the
    /// default) draws it from the operating system. Set it for reproducible simulations.
    pub random_seed: Option<u64>,
    /// Commands a [`Handle`](crate::Handle) may queue before the reactor takes them; one more
    /// is refused with `OpError::Full`. 1 ..= 2^20. Default 4096.
    pub command_queue: usize,
    /// The DNS resolver that host names dialled without a proxy, `resolve` without one and
    /// `seed` use; `None` (the default) reads `/etc/resolv.conf` at the first lookup.
    #[cfg(feature = "dns")]
    pub dns: Option<crate::dns::ResolverConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            target_outbound: 8,
            retry_duration: Duration::from_secs(5),
            max_retry_duration: Duration::from_secs(5 * 60),
            max_failed_attempts: 25,
            max_inbound: None,
            connect_timeout: Duration::from_secs(30),
            max_dials_in_flight: None,
            listeners: Vec::new(),
            capacity: 0,
            ended_history: 256,
            proxy: None,
            onion_proxy: None,
            protection: Protection::default(),
            outbound: OutboundPolicy::default(),
            netgroup: NetGroupFn::default(),
            random_seed: None,
            command_queue: 4096,
            #[cfg(feature = "dns")]
            dns: None,
        }
    }
}

impl Config {
    /// Checks that the configuration can work; every constructor calls it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.retry_duration.is_zero() {
            return Err(ConfigError::ZeroRetryDuration);
        }
        if self.max_retry_duration.is_zero() {
            return Err(ConfigError::ZeroMaxRetryDuration);
        }
        if self.connect_timeout.is_zero() {
            return Err(ConfigError::ZeroConnectTimeout);
        }
        if self.max_dials_in_flight == Some(0) {
            return Err(ConfigError::ZeroDialLimit);
        }
        for (field, value) in [
            ("retry_duration", self.retry_duration),
            ("max_retry_duration", self.max_retry_duration),
            ("connect_timeout", self.connect_timeout),
        ] {
            if value > MAX_DURATION {
                return Err(ConfigError::DurationTooLong { field });
            }
        }
        for (field, value, min) in [
            ("capacity", self.capacity, 0),
            ("ended_history", self.ended_history, 0),
            ("command_queue", self.command_queue, 1),
        ] {
            if value < min || value > MAX_TABLE {
                return Err(ConfigError::OutOfRange { field, max: MAX_TABLE });
            }
        }
        validate_outbound(&self.outbound)?;
        Ok(())
    }
}

/// The outbound policy's part of [`Config::validate`].
fn validate_outbound(outbound: &OutboundPolicy) -> Result<(), ConfigError> {
    if outbound.classes.len() > OutboundPolicy::MAX_CLASSES {
        return Err(ConfigError::OutOfRange { field: "outbound.classes", max: OutboundPolicy::MAX_CLASSES });
    }
    if outbound.max_per_netgroup == Some(0) {
        return Err(ConfigError::Zero { field: "outbound.max_per_netgroup" });
    }
    if outbound.failure_memory == 0 || outbound.failure_memory > MAX_TABLE {
        return Err(ConfigError::OutOfRange { field: "outbound.failure_memory", max: MAX_TABLE });
    }
    if outbound.anchors.iter().any(|(class, _)| class.index() > outbound.classes.len()) {
        return Err(ConfigError::UnknownClass);
    }
    let mut durations = vec![("outbound.probe_deadline", outbound.probe_deadline)];
    durations.extend(outbound.stable_after.map(|d| ("outbound.stable_after", d)));
    durations.extend(outbound.failure_window.map(|d| ("outbound.failure_window", d)));
    if let Some(o) = &outbound.offline {
        if o.failures == 0 || o.netgroups == 0 || o.netgroups > OfflineDetection::MAX_NETGROUPS {
            let max = OfflineDetection::MAX_NETGROUPS as usize;
            return Err(ConfigError::OutOfRange { field: "outbound.offline", max });
        }
        durations.push(("outbound.offline.pause", o.pause));
        durations.push(("outbound.offline.max_pause", o.max_pause));
    }
    for (field, d) in durations {
        if d.is_zero() {
            return Err(ConfigError::Zero { field });
        }
        if d > MAX_DURATION {
            return Err(ConfigError::DurationTooLong { field });
        }
    }
    Ok(())
}

/// A configuration that cannot work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// `retry_duration` is zero: permanent requests would retry in a busy loop.
    ZeroRetryDuration,
    /// `max_retry_duration` is zero.
    ZeroMaxRetryDuration,
    /// `connect_timeout` is zero: every dial would time out at once.
    ZeroConnectTimeout,
    /// `max_dials_in_flight` is `Some(0)`: nothing could ever dial.
    ZeroDialLimit,
    /// A duration is longer than a year.
    DurationTooLong {
        /// The field.
        field: &'static str,
    },
    /// A table size is out of its range.
    OutOfRange {
        /// The field.
        field: &'static str,
        /// The largest value it takes.
        max: usize,
    },
    /// A count or duration that must not be zero is.
    Zero {
        /// The field.
        field: &'static str,
    },
    /// An anchor names a class that is not declared.
    UnknownClass,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::ZeroRetryDuration => f.write_str("retry_duration must be greater than zero"),
            ConfigError::ZeroMaxRetryDuration => f.write_str("max_retry_duration must be greater than zero"),
            ConfigError::ZeroConnectTimeout => f.write_str("connect_timeout must be greater than zero"),
            ConfigError::ZeroDialLimit => f.write_str("max_dials_in_flight must be None or greater than zero"),
            ConfigError::DurationTooLong { field } => write!(f, "{field} is longer than one year"),
            ConfigError::OutOfRange { field, max } => write!(f, "{field} is out of range (at most {max})"),
            ConfigError::Zero { field } => write!(f, "{field} must not be zero"),
            ConfigError::UnknownClass => f.write_str("an anchor names an undeclared outbound class"),
        }
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_btcds() {
        let c = Config::default();
        assert_eq!(c.target_outbound, 8);
        assert_eq!(c.retry_duration, Duration::from_secs(5));
        assert_eq!(c.max_retry_duration, Duration::from_secs(300));
        assert_eq!(c.max_failed_attempts, 25);
        assert_eq!(c.max_inbound, None);
        assert_eq!(c.connect_timeout, Duration::from_secs(30));
        assert_eq!(c.max_dials_in_flight, None);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn zero_target_and_a_cap_below_the_base_are_valid() {
        // btcd's own suite runs with a 2 ms cap and a 5 s base; delays are simply capped.
        let c = Config { target_outbound: 0, max_retry_duration: Duration::from_millis(2), ..Config::default() };
        assert!(c.validate().is_ok());
    }

    #[test]
    fn every_unworkable_value_is_a_typed_error() {
        let zero = Duration::ZERO;
        let long = MAX_DURATION + Duration::from_secs(1);
        let cases = [
            (Config { retry_duration: zero, ..Config::default() }, ConfigError::ZeroRetryDuration),
            (Config { max_retry_duration: zero, ..Config::default() }, ConfigError::ZeroMaxRetryDuration),
            (Config { connect_timeout: zero, ..Config::default() }, ConfigError::ZeroConnectTimeout),
            (Config { max_dials_in_flight: Some(0), ..Config::default() }, ConfigError::ZeroDialLimit),
            (
                Config { connect_timeout: long, ..Config::default() },
                ConfigError::DurationTooLong { field: "connect_timeout" },
            ),
            (
                Config { retry_duration: long, ..Config::default() },
                ConfigError::DurationTooLong { field: "retry_duration" },
            ),
            (
                Config { capacity: usize::MAX, ..Config::default() },
                ConfigError::OutOfRange { field: "capacity", max: MAX_TABLE },
            ),
            (
                Config { capacity: 1 << 40, ..Config::default() },
                ConfigError::OutOfRange { field: "capacity", max: MAX_TABLE },
            ),
            (
                Config { ended_history: MAX_TABLE + 1, ..Config::default() },
                ConfigError::OutOfRange { field: "ended_history", max: MAX_TABLE },
            ),
            (
                Config { command_queue: 0, ..Config::default() },
                ConfigError::OutOfRange { field: "command_queue", max: MAX_TABLE },
            ),
        ];
        for (config, error) in cases {
            assert_eq!(config.validate(), Err(error));
        }
        assert!(Config { capacity: MAX_TABLE, ..Config::default() }.validate().is_ok());
    }
}
