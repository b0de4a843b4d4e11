//! Address helpers shared by the inbound policies: CIDR [`Subnet`]s, [`NetGroup`]s (the
//! "same operator" buckets that connection caps and eviction count by), and the prefix-length
//! index behind ban and allow lists.
//!
//! One rule holds everywhere here: an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, what a
//! dual-stack listener reports for an IPv4 peer) is the IPv4 address `a.b.c.d`. Without it a
//! ban on `192.0.2.0/24` would not stop the same host arriving through a dual-stack socket.

use std::net::IpAddr;

pub(crate) mod netgroup;
pub(crate) mod prefix;
pub(crate) mod subnet;

pub use netgroup::{NetGroup, NetGroupFn};
pub use subnet::{Subnet, SubnetError};

/// `ip` with an IPv4-mapped IPv6 address turned into its IPv4 address (`IpAddr::to_canonical`
/// needs Rust 1.75).
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}
