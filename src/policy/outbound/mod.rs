//! The outbound policy: which automatic peers to dial, how many of each kind, and when to try
//! again. A node's outbound set is its defence against eclipse attacks and its view of the
//! network, so real nodes are picky: one connection per netgroup (btcd's server, Bitcoin
//! Core), several connection types with their own budgets (Core's full-relay, block-relay-only,
//! feelers), exponential backoff with jitter (libp2p), a memory of failed addresses (Core,
//! geth), and no blame on peers when the node itself is offline.
//!
//! Every rule here is off in [`OutboundPolicy::default`], which is btcd's `connmgr`;
//! [`OutboundPolicy::recommended`] turns them on with the values of the nodes above. The rules
//! themselves live in the core; this module holds their settings and the small state machines
//! (backoff, failure memory, offline detection) they use.

mod backoff;
mod class;
mod groups;
mod key;
mod memory;
mod offline;

use std::time::Duration;

pub use backoff::{Backoff, Jitter};
pub use class::{ClassId, ConnClass, Limit, OutboundClass, Pause, ProbeKind};
pub(crate) use groups::GroupCounts;
pub(crate) use key::FastKey;
pub(crate) use memory::FailureMemory;
pub use offline::OfflineDetection;
pub(crate) use offline::{Offline, Verdict};

use crate::target::Target;

/// How the manager chooses and retries outbound peers ([`Config::outbound`](crate::Config::outbound)).
///
/// ```
/// use connmgr::{ClassId, Config, outbound::{OutboundClass, OutboundPolicy}};
///
/// // Bitcoin Core's shape: 8 full-relay peers, 2 block-relay-only, one per netgroup.
/// let config = Config {
///     target_outbound: 8,
///     outbound: OutboundPolicy {
///         classes: vec![OutboundClass { name: "block-relay", target: 2 }],
///         ..OutboundPolicy::recommended()
///     },
///     ..Config::default()
/// };
/// assert!(config.validate().is_ok());
/// assert_eq!(ClassId::extra(0).index(), 1);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboundPolicy {
    /// At most this many automatic connections (dialling or established, all classes together)
    /// per netgroup ([`Config::netgroup`](crate::Config::netgroup); onion and name targets have
    /// groups of their own). Manual requests and probes are exempt. An address that would
    /// break the rule is skipped and the source asked again. `None`: no rule (btcd's connmgr).
    pub max_per_netgroup: Option<u32>,
    /// Automatic classes besides the default set, each with its own target (at most 15).
    pub classes: Vec<OutboundClass>,
    /// At most this many live manual requests; `connect` beyond it is refused.
    pub max_manual: Option<u32>,
    /// At most this many live probes.
    pub max_probes: u32,
    /// How long a probe may stay connected before the manager closes it.
    pub probe_deadline: Duration,
    /// How permanent requests back off.
    pub backoff: Backoff,
    /// A permanent peer's backoff starts over only once it has stayed connected this long;
    /// `None` starts it over at every connection (btcd), so a peer that accepts and drops at
    /// once is redialled at the base delay forever.
    pub stable_after: Option<Duration>,
    /// An address whose dial failed is not given to automatic requests again for this long
    /// (the source is asked for another). `None`: no memory (btcd).
    pub failure_window: Option<Duration>,
    /// How many failed addresses the memory holds (16 bytes each, allocated once).
    pub failure_memory: usize,
    /// When to decide the node itself is offline; `None`: never (btcd).
    pub offline: Option<OfflineDetection>,
    /// Targets dialled first at start, each for its class (see `anchors()` on the front ends).
    pub anchors: Vec<(ClassId, Target)>,
}

impl Default for OutboundPolicy {
    fn default() -> Self {
        OutboundPolicy {
            max_per_netgroup: None,
            classes: Vec::new(),
            max_manual: None,
            max_probes: 2,
            probe_deadline: Duration::from_secs(30),
            backoff: Backoff::Linear,
            stable_after: None,
            failure_window: None,
            failure_memory: 1024,
            offline: None,
            anchors: Vec::new(),
        }
    }
}

impl OutboundPolicy {
    /// The largest number of declared classes.
    pub const MAX_CLASSES: usize = 15;

    /// Every rule on, with the values real nodes use: one automatic peer per netgroup, 8 manual
    /// peers, exponential backoff with full jitter, a permanent peer stable after a minute,
    /// failed addresses skipped for 10 minutes, offline detection.
    pub fn recommended() -> Self {
        OutboundPolicy {
            max_per_netgroup: Some(1),
            max_manual: Some(8),
            backoff: Backoff::Exponential(Jitter::Full),
            stable_after: Some(Duration::from_secs(60)),
            failure_window: Some(Duration::from_secs(10 * 60)),
            offline: Some(OfflineDetection::default()),
            ..OutboundPolicy::default()
        }
    }
}
