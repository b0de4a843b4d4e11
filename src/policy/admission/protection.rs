//! How a manager protects its slots: [`Protection`] (admission limits, trusted subnets, bans,
//! the ban score's threshold) and [`Eviction`] (which peer makes room when inbound is full).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::eviction::{BitcoinCoreEviction, EvictionPolicy};
use super::{AcceptRate, AdmissionConfig};
use crate::id::InboundId;
use crate::net::Subnet;

/// The protection of a node's connections: what every accepted socket is checked against
/// before anything is allocated for it, and what a misbehaving peer earns. Every limit is off
/// by default (btcd's behaviour: only `max_inbound`); bans and the ban score are always on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Protection {
    /// Live inbound connections per host (an IPv4 address or an IPv6 /64). zebra allows one.
    pub max_per_ip: Option<u32>,
    /// Live inbound connections per net group (`Config::netgroup`: an IPv4 /16 or an IPv6 /32).
    pub max_per_netgroup: Option<u32>,
    /// Accepts per second, with a burst (a token bucket).
    pub accept_rate: Option<AcceptRate>,
    /// A host that connected less than this long ago is refused (geth: 30 s).
    pub reconnect_window: Option<Duration>,
    /// Trusted subnets (Core's `-whitelist` with `noban`): never capped, banned or evicted.
    pub trusted: Vec<Subnet>,
    /// When inbound slots are full, a newcomer may displace the peer this policy picks;
    /// `None` (default) refuses the newcomer, as btcd does.
    pub eviction: Option<Eviction>,
    /// Bans held at most; when full, the ban expiring soonest makes room. Default 4096.
    pub ban_capacity: usize,
    /// A peer whose ban score (btcd's `DynamicBanScore`, raised by `misbehaving`) passes this is
    /// disconnected and banned. Default 100, btcd's.
    pub ban_threshold: u32,
    /// How long such a ban lasts. Default 24 h, btcd's.
    pub ban_duration: Duration,
}

impl Default for Protection {
    fn default() -> Self {
        Protection {
            max_per_ip: None,
            max_per_netgroup: None,
            accept_rate: None,
            reconnect_window: None,
            trusted: Vec::new(),
            eviction: None,
            ban_capacity: 4096,
            ban_threshold: 100,
            ban_duration: Duration::from_secs(24 * 60 * 60),
        }
    }
}

impl Protection {
    pub(crate) fn admission(&self) -> AdmissionConfig {
        AdmissionConfig {
            max_per_ip: self.max_per_ip,
            max_per_netgroup: self.max_per_netgroup,
            accept_rate: self.accept_rate,
            reconnect_window: self.reconnect_window,
            ban_capacity: self.ban_capacity,
            ..AdmissionConfig::default()
        }
    }
}

type Factory = dyn Fn() -> Box<dyn EvictionPolicy<InboundId> + Send> + Send + Sync;

/// An eviction policy for a configuration: each manager (each shard) makes its own instance.
/// Compared by identity.
#[derive(Clone)]
pub struct Eviction(Arc<Factory>);

impl Eviction {
    /// Bitcoin Core's algorithm ([`BitcoinCoreEviction`]).
    pub fn bitcoin_core() -> Eviction {
        Eviction::custom(BitcoinCoreEviction::new)
    }

    /// Your own policy, made by `make` for each manager.
    pub fn custom<P>(make: impl Fn() -> P + Send + Sync + 'static) -> Eviction
    where
        P: EvictionPolicy<InboundId> + Send + 'static,
    {
        Eviction(Arc::new(move || Box::new(make())))
    }

    pub(crate) fn make(&self) -> Box<dyn EvictionPolicy<InboundId> + Send> {
        (self.0)()
    }
}

impl PartialEq for Eviction {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Eviction {}

impl fmt::Debug for Eviction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Eviction(..)")
    }
}
