//! Against real servers on loopback: SOCKS5 (Debian's microsocks, and a scripted responder),
//! DNS (Debian's dnsmasq, a scripted responder and a silent socket), and Bitcoin-speaking
//! peers for the peer dialer example's logic. A test whose server is not installed says so and
//! passes, unless `CONNMGR_REQUIRE_SERVERS` is set (CI sets it).

#[path = "../support/mod.rs"]
mod support;

// The peer dialer example's modules, at the crate root as in the example (they name each other
// `crate::...`): `peer_dialer` drives them, and their own unit tests run here.
#[path = "../../examples/peer_dialer/book.rs"]
#[allow(dead_code)]
mod book;
#[path = "../../examples/peer_dialer/cli.rs"]
#[allow(dead_code)]
mod cli;
#[path = "../../examples/peer_dialer/local.rs"]
#[allow(dead_code)]
mod local;
#[path = "../../examples/peer_dialer/peers.rs"]
#[allow(dead_code)]
mod peers;
#[path = "../../examples/peer_dialer/protocol.rs"]
#[allow(dead_code)]
mod protocol;
#[path = "../../examples/peer_dialer/report.rs"]
#[allow(dead_code)]
mod report;

mod dns_reactor;
mod peer_dialer;
mod proxy;
