//! A socket address stored in 28 bytes, for the request record.
//!
//! `Option<SocketAddr>` takes 32 bytes (a 28-byte `SocketAddrV6` plus the enum's tag, padded);
//! packing the tag into a spare byte brings the record to one 64-byte cache line. Every field
//! survives the round trip, including an IPv6 address's flow info and scope id (a link-local
//! peer such as `[fe80::1%2]:8333` needs the scope id to be dialled at all). A target that is
//! not an IP address (a host name, an onion address) lives in a side table; the packed address
//! then holds its index.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

const NONE: u8 = 0;
const OTHER: u8 = 1;
const V4: u8 = 4;
const V6: u8 = 6;

/// An optional socket address in 28 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PackedAddr {
    ip: [u8; 16],
    flowinfo: u32,
    scope_id: u32,
    port: u16,
    kind: u8,
}

impl PackedAddr {
    pub(crate) fn new(addr: Option<SocketAddr>) -> Self {
        match addr {
            None => PackedAddr { ip: [0; 16], flowinfo: 0, scope_id: 0, port: 0, kind: NONE },
            Some(SocketAddr::V4(a)) => {
                let mut ip = [0; 16];
                ip[..4].copy_from_slice(&a.ip().octets());
                PackedAddr { ip, flowinfo: 0, scope_id: 0, port: a.port(), kind: V4 }
            }
            Some(SocketAddr::V6(a)) => PackedAddr {
                ip: a.ip().octets(),
                flowinfo: a.flowinfo(),
                scope_id: a.scope_id(),
                port: a.port(),
                kind: V6,
            },
        }
    }

    /// Whether there is a target at all.
    pub(crate) fn is_some(&self) -> bool {
        self.kind != NONE
    }

    /// A reference to entry `index` of the side table of other targets.
    pub(crate) fn other(index: u32) -> Self {
        let mut ip = [0; 16];
        ip[..4].copy_from_slice(&index.to_le_bytes());
        PackedAddr { ip, flowinfo: 0, scope_id: 0, port: 0, kind: OTHER }
    }

    /// The side-table index, for another target.
    pub(crate) fn other_index(&self) -> Option<u32> {
        let [a, b, c, d, ..] = self.ip;
        (self.kind == OTHER).then_some(u32::from_le_bytes([a, b, c, d]))
    }

    /// The socket address, for an IP target.
    pub(crate) fn get(&self) -> Option<SocketAddr> {
        match self.kind {
            V4 => {
                let [a, b, c, d, ..] = self.ip;
                Some(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(a, b, c, d), self.port)))
            }
            V6 => Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(self.ip),
                self.port,
                self.flowinfo,
                self.scope_id,
            ))),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_survives_the_round_trip() {
        let cases: [Option<SocketAddr>; 5] = [
            None,
            Some("127.0.0.1:8333".parse().unwrap()),
            Some("255.255.255.255:65535".parse().unwrap()),
            Some("[2001:db8::1]:18444".parse().unwrap()),
            Some(SocketAddr::V6(SocketAddrV6::new("fe80::1".parse().unwrap(), 8333, 0x000a_bcde, 2))),
        ];
        for addr in cases {
            assert_eq!(PackedAddr::new(addr).get(), addr);
        }
        // An IPv4-mapped IPv6 address stays IPv6: what the caller gave is what gets dialled.
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:1".parse().unwrap();
        assert_eq!(PackedAddr::new(Some(mapped)).get(), Some(mapped));
        let other = PackedAddr::other(0x0102_0304);
        assert_eq!((other.get(), other.other_index()), (None, Some(0x0102_0304)));
        assert_eq!(PackedAddr::new(Some(mapped)).other_index(), None);
    }

    #[test]
    fn it_is_smaller_than_an_option() {
        assert_eq!(std::mem::size_of::<PackedAddr>(), 28);
        assert_eq!(std::mem::size_of::<Option<SocketAddr>>(), 32);
    }
}
