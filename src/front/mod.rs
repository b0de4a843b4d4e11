//! The front ends that drive a reactor: [`Manager`] runs one on the calling thread; [`Handle`]
//! controls one from other threads; [`ShardedManager`] (feature `shards`) runs one per core
//! behind one `Handle`.

mod handle;
mod manager;
#[cfg(feature = "shards")]
mod shards;

pub use handle::Handle;
pub use manager::Manager;
#[cfg(feature = "shards")]
pub use shards::{Accept, ShardedManager};

use crate::core::Counters;

/// Two shards' counters as one manager's: summed, except `inbound`, a count the shards share.
///
/// Every field is named, so a field added to `Counters` fails to compile here until it is
/// given its rule.
pub(crate) fn sum_counters(a: Counters, b: Counters) -> Counters {
    let Counters {
        dials,
        connected,
        failed_refused,
        failed_timed_out,
        failed_proxy,
        failed_local,
        failed_other,
        disconnections,
        accepted,
        rejected_inbound,
        rejected_banned,
        rejected_per_ip,
        rejected_per_netgroup,
        rejected_reconnect,
        rejected_rate,
        rejected_paused,
        evicted,
        bans,
        skipped_banned,
        skipped_diversity,
        skipped_failed,
        offline,
        retries,
        pending,
        in_flight,
        established,
        established_automatic,
        inbound,
    } = b;
    Counters {
        dials: a.dials + dials,
        connected: a.connected + connected,
        failed_refused: a.failed_refused + failed_refused,
        failed_timed_out: a.failed_timed_out + failed_timed_out,
        failed_proxy: a.failed_proxy + failed_proxy,
        failed_local: a.failed_local + failed_local,
        failed_other: a.failed_other + failed_other,
        disconnections: a.disconnections + disconnections,
        accepted: a.accepted + accepted,
        rejected_inbound: a.rejected_inbound + rejected_inbound,
        rejected_banned: a.rejected_banned + rejected_banned,
        rejected_per_ip: a.rejected_per_ip + rejected_per_ip,
        rejected_per_netgroup: a.rejected_per_netgroup + rejected_per_netgroup,
        rejected_reconnect: a.rejected_reconnect + rejected_reconnect,
        rejected_rate: a.rejected_rate + rejected_rate,
        rejected_paused: a.rejected_paused + rejected_paused,
        evicted: a.evicted + evicted,
        bans: a.bans + bans,
        skipped_banned: a.skipped_banned + skipped_banned,
        skipped_diversity: a.skipped_diversity + skipped_diversity,
        skipped_failed: a.skipped_failed + skipped_failed,
        offline: a.offline + offline,
        retries: a.retries + retries,
        pending: a.pending + pending,
        in_flight: a.in_flight + in_flight,
        established: a.established + established,
        established_automatic: a.established_automatic + established_automatic,
        inbound: a.inbound.max(inbound),
    }
}
