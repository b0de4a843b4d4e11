//! Helpers of the simulator tests: the addresses and the configuration btcd's suite uses
//! (`tests/README.md` says which btcd test each scenario restates), and a few shorthands. The
//! simulator itself is the crate's (`connmgr::sim`, the `sim` feature, which the
//! dev-dependency on the crate turns on).

use std::net::SocketAddr;
use std::time::Duration;

use connmgr::core::IoKey;
pub use connmgr::sim::{AddressSource, Flaky, Network, Outcome, Sim, Step};

/// `n` milliseconds.
pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// 127.0.0.1 at `port`.
pub fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// btcd's test address, 127.0.0.1:18555 (its fixed address source and most requests).
pub fn btcd_addr() -> SocketAddr {
    addr(18555)
}

/// `n` distinct addresses, 10.0.0.1:8333 and up.
pub fn addrs(n: usize) -> Vec<SocketAddr> {
    (0..n).map(|i| SocketAddr::from(([10, 0, (i / 250) as u8, (i % 250) as u8 + 1], 8333))).collect()
}

/// The configuration btcd's `connmanager_test.go` runs its tests with (scenarios S1-S16): btcd's defaults, but the retry cap
/// (btcd's package variable `maxRetryDuration`) overridden to 2 ms.
pub fn suite_config() -> connmgr::Config {
    connmgr::Config { max_retry_duration: ms(2), ..connmgr::Config::default() }
}

/// A simulator for `config` (which must be valid).
pub fn sim(config: connmgr::Config) -> Sim {
    Sim::new(config).expect("a valid configuration")
}

/// The socket `id`'s first dial opened.
pub fn dial_io(sim: &Sim, id: connmgr::ConnId) -> IoKey {
    sim.dials().iter().find(|d| d.id == id).unwrap_or_else(|| panic!("{id} never dialled")).io
}

/// When the core asked to close `io`, if it did (a socket the I/O layer closed on its own, or
/// the user's after `detach`, is not in the core's list).
pub fn closed_by_core(sim: &Sim, io: IoKey) -> Option<Duration> {
    sim.closes().iter().find(|&&(_, k)| k == io).map(|&(at, _)| at)
}

/// The trace of a request that connected once, was disconnected for `reason` and then ended
/// `Disconnected`.
pub fn connected_once(reason: connmgr::DisconnectReason) -> [Step; 3] {
    [Step::Connected, Step::Disconnected(reason), Step::Ended(connmgr::ConnState::Disconnected)]
}
