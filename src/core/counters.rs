//! A snapshot of what the manager has done and holds: monotonic counters and current gauges.
//! Plain integers bumped on the reactor thread, so reading them costs a copy.

/// Counters since the manager was built, and gauges of what it holds now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counters {
    /// Dials started.
    pub dials: u64,
    /// Dials that connected.
    pub connected: u64,
    /// Dials refused by the peer.
    pub failed_refused: u64,
    /// Dials that hit the connect timeout.
    pub failed_timed_out: u64,
    /// Dials that failed at the proxy: unreachable, misbehaving, or refusing us (not the
    /// target refusing, which counts as refused).
    pub failed_proxy: u64,
    /// Dials that failed because the node's own network is down or unreachable.
    pub failed_local: u64,
    /// Dials that failed otherwise, and address-source failures.
    pub failed_other: u64,
    /// Established outbound connections that ended.
    pub disconnections: u64,
    /// Inbound connections admitted.
    pub accepted: u64,
    /// Inbound connections rejected by `max_inbound` (no peer to evict).
    pub rejected_inbound: u64,
    /// Inbound connections refused: banned address.
    pub rejected_banned: u64,
    /// Inbound connections refused: over the per-IP cap.
    pub rejected_per_ip: u64,
    /// Inbound connections refused: over the per-netgroup cap.
    pub rejected_per_netgroup: u64,
    /// Inbound connections refused: the host came back within the reconnect window.
    pub rejected_reconnect: u64,
    /// Inbound connections refused: over the accept rate.
    pub rejected_rate: u64,
    /// Inbound connections refused: networking is paused.
    pub rejected_paused: u64,
    /// Inbound peers evicted for a newcomer.
    pub evicted: u64,
    /// Bans applied (manual or earned).
    pub bans: u64,
    /// Automatic addresses not dialled because they are banned.
    pub skipped_banned: u64,
    /// Automatic addresses not dialled: their netgroup was full (outbound diversity).
    pub skipped_diversity: u64,
    /// Automatic addresses not dialled: they failed within the failure window.
    pub skipped_failed: u64,
    /// Times the node was found offline (see `OfflineDetection`).
    pub offline: u64,
    /// Retries of permanent (or reconnect-triggered) requests scheduled.
    pub retries: u64,
    /// Gauge: live requests not established (waiting, dialling, or backing off).
    pub pending: u64,
    /// Gauge: dials in progress.
    pub in_flight: u64,
    /// Gauge: established outbound connections.
    pub established: u64,
    /// Gauge: established automatic outbound connections (the ones `target_outbound` counts).
    pub established_automatic: u64,
    /// Gauge: admitted inbound connections alive.
    pub inbound: u64,
}

impl Counters {
    /// All dial failures, whatever the cause.
    pub fn failed(&self) -> u64 {
        self.failed_refused + self.failed_timed_out + self.failed_proxy + self.failed_local + self.failed_other
    }
}
