//! The simulated network: what happens to a dial to each address.
//!
//! Every address has an [`Outcome`]: a per-address script (consumed one dial at a time), else a
//! per-address outcome, else the network's default. Outages ("network down from A until B")
//! override all of them: a dial started during one fails synchronously, inside `connect` itself
//! (as `ENETUNREACH` does), so the I/O layer reports `dial_failed` without `dial_started`.
//! [`Outcome::Flaky`] draws a concrete outcome from the network's seeded [`Rng`].

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::IpAddr;
use std::time::Duration;

use crate::core::ResolveError;
use crate::error::DialError;
use crate::proxy::ProxyError;
use crate::rng::Rng;
use crate::target::{HostName, Target};

fn refused() -> DialError {
    DialError::Io(io::Error::new(io::ErrorKind::ConnectionRefused, "simulated refusal").into())
}

/// What happens to one dial.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The connect fails (connection refused) this long after it started.
    Refuse {
        /// Delay before the failure is reported.
        after: Duration,
    },
    /// The connect succeeds this long after it started; the connection stays up.
    Accept {
        /// Delay before the success is reported.
        after: Duration,
    },
    /// No answer ever: the core's connect timeout fires.
    BlackHole,
    /// The connect succeeds after `after`, then the peer closes it `lifetime` later; the
    /// simulator reports that with `close(.., DisconnectReason::RemoteClosed)`, as the reactor's
    /// default handler does.
    ResetAfterConnect {
        /// Delay before the success is reported.
        after: Duration,
        /// How long the connection lives.
        lifetime: Duration,
    },
    /// The dial goes through a proxy, which fails this way after `after` (a proxy that is
    /// down, one that misbehaves, or one reporting the target unreachable).
    ProxyFails {
        /// Delay before the failure is reported.
        after: Duration,
        /// What the proxy did.
        error: ProxyError,
    },
    /// A random outcome per dial.
    Flaky(Flaky),
}

impl Outcome {
    /// Refused at once.
    pub const REFUSE: Outcome = Outcome::Refuse { after: Duration::ZERO };
    /// Accepted at once.
    pub const ACCEPT: Outcome = Outcome::Accept { after: Duration::ZERO };
}

/// Odds of a [`Outcome::Flaky`] dial, in per mille; what is left over is a black hole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flaky {
    /// Connects and stays up.
    pub accept: u32,
    /// Connects, then the peer closes after a random lifetime.
    pub reset: u32,
    /// Refused.
    pub refuse: u32,
    /// Longest delay before the answer (uniform from 0).
    pub max_latency: Duration,
    /// Longest lifetime of a reset connection (uniform from 1 ms).
    pub max_lifetime: Duration,
}

/// A concrete outcome, decided when the dial starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Fate {
    /// The connect call itself fails with "network unreachable", before the dial is reported
    /// started.
    FailNow,
    /// The dial fails after this long with this error.
    Fail {
        /// Delay.
        after: Duration,
        /// What failed.
        error: DialError,
    },
    /// The dial connects after this long, and the peer closes after `lifetime` if set.
    Connect {
        /// Delay.
        after: Duration,
        /// Lifetime of the connection, `None` for ever.
        lifetime: Option<Duration>,
    },
    /// Nothing ever happens.
    Silent,
}

/// The simulated network.
#[derive(Clone, Debug)]
pub struct Network {
    default: Outcome,
    per_addr: HashMap<Target, Outcome>,
    scripts: HashMap<Target, VecDeque<Outcome>>,
    names: HashMap<HostName, Result<Vec<IpAddr>, ResolveError>>,
    outages: Vec<(Duration, Duration)>,
    rng: Rng,
}

impl Network {
    /// A network where every dial has `default`'s outcome.
    pub fn new(default: Outcome) -> Self {
        Network {
            default,
            per_addr: HashMap::new(),
            scripts: HashMap::new(),
            names: HashMap::new(),
            outages: Vec::new(),
            rng: Rng::new(0),
        }
    }

    /// Seeds the generator behind [`Outcome::Flaky`].
    pub fn seed(&mut self, seed: u64) -> &mut Self {
        self.rng = Rng::new(seed);
        self
    }

    /// Every dial to `target` has this outcome (unless scripted or during an outage).
    pub fn set(&mut self, target: impl Into<Target>, outcome: Outcome) -> &mut Self {
        self.per_addr.insert(target.into(), outcome);
        self
    }

    /// The next dials to `target` have these outcomes, in order; then the usual rules apply.
    pub fn script(&mut self, target: impl Into<Target>, outcomes: impl IntoIterator<Item = Outcome>) -> &mut Self {
        self.scripts.entry(target.into()).or_default().extend(outcomes);
        self
    }

    /// A lookup of `name` answers this (at once); unknown names fail as Tor fails them.
    pub fn answer(&mut self, name: HostName, result: Result<Vec<IpAddr>, ResolveError>) -> &mut Self {
        self.names.insert(name, result);
        self
    }

    pub(crate) fn lookup(&self, name: &HostName) -> Result<Vec<IpAddr>, ResolveError> {
        self.names.get(name).cloned().unwrap_or(Err(ResolveError::Proxy(ProxyError::HostUnreachable)))
    }

    /// Every dial started in `from..until` (simulated time since the epoch) fails synchronously
    /// with the OS's "network unreachable" (a local error, see `OfflineDetection`). Scripts are
    /// not consumed by those dials.
    pub fn down(&mut self, from: Duration, until: Duration) -> &mut Self {
        self.outages.push((from, until));
        self
    }

    /// Whether the network is down at `at`.
    pub(crate) fn is_down(&self, at: Duration) -> bool {
        self.outages.iter().any(|&(from, until)| from <= at && at < until)
    }

    /// Decides what happens to a dial to `addr` started at `at`.
    pub(crate) fn fate(&mut self, at: Duration, target: &Target) -> Fate {
        if self.is_down(at) {
            return Fate::FailNow;
        }
        let scripted = self.scripts.get_mut(target).and_then(VecDeque::pop_front);
        let outcome = scripted.or_else(|| self.per_addr.get(target).cloned()).unwrap_or_else(|| self.default.clone());
        self.resolve(outcome)
    }

    fn resolve(&mut self, outcome: Outcome) -> Fate {
        match outcome {
            Outcome::Refuse { after } => Fate::Fail { after, error: refused() },
            Outcome::ProxyFails { after, error } => Fate::Fail { after, error: DialError::Proxy(error) },
            Outcome::Accept { after } => Fate::Connect { after, lifetime: None },
            Outcome::BlackHole => Fate::Silent,
            Outcome::ResetAfterConnect { after, lifetime } => Fate::Connect { after, lifetime: Some(lifetime) },
            Outcome::Flaky(odds) => {
                let roll = self.rng.range(0, 999) as u32;
                let after = Duration::from_millis(self.rng.range(0, odds.max_latency.as_millis() as u64));
                if roll < odds.accept {
                    Fate::Connect { after, lifetime: None }
                } else if roll < odds.accept + odds.reset {
                    let lifetime =
                        Duration::from_millis(self.rng.range(1, odds.max_lifetime.as_millis().max(1) as u64));
                    Fate::Connect { after, lifetime: Some(lifetime) }
                } else if roll < odds.accept + odds.reset + odds.refuse {
                    Fate::Fail { after, error: refused() }
                } else {
                    Fate::Silent
                }
            }
        }
    }
}
