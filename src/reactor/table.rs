//! The reactor's socket table: every listener, dialling socket and connection the manager owns,
//! in one slab, each registered with the `Poll` under a token that names its slot.
//!
//! Closing always deregisters before dropping (mio requires it), and happens in one place,
//! [`Sockets::take`]. A closed slot is not reused at once: it stays quarantined until
//! [`Sockets::release`], which the reactor calls once every event of the current `poll` batch
//! has been delivered. Events already collected for a socket closed earlier in the same batch
//! therefore find an empty slot, never a newer socket, whatever the platform's token width
//! (the generation in the token is a second guard). Entries are kept small: an embedded node
//! pays one per peer.
//!
//! With the `dns` feature the table also holds the resolver's UDP and TCP sockets, a
//! placeholder with no socket for each lookup of a dial or `resolve` (its token is the key the
//! core knows the lookup by, and closing it cancels the lookup), and, beside the entries, the
//! addresses a dial of a host name still has to try.

use std::io;

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};
use slab::Slab;

use super::token::{next_generation, TokenSpace, MAX_SLOTS};
use crate::core::{IoKey, ListenerKey, LookupId};
#[cfg(feature = "dns")]
use crate::dns;
use crate::id::{ConnId, InboundId};
use crate::proxy::Handshake;

/// What a slot holds.
#[derive(Debug)]
pub(crate) enum Kind {
    Listener {
        listener: TcpListener,
        key: ListenerKey,
        paused: bool,
    },
    /// A request's socket, from the non-blocking connect to the open connection.
    Outbound {
        stream: TcpStream,
        id: ConnId,
        stage: Stage,
    },
    /// A name lookup's socket to the proxy.
    Lookup {
        stream: TcpStream,
        id: LookupId,
        stage: Stage,
    },
    /// An accepted connection.
    Inbound {
        stream: TcpStream,
        id: InboundId,
    },
    /// A DNS query's UDP socket, connected to its server.
    #[cfg(feature = "dns")]
    DnsUdp {
        socket: mio::net::UdpSocket,
        query: dns::QueryId,
    },
    /// A DNS query's TCP connection (a truncated answer asked again).
    #[cfg(feature = "dns")]
    DnsTcp {
        stream: TcpStream,
        query: dns::QueryId,
        connected: bool,
        /// Bytes of the query written so far.
        written: u16,
    },
    /// A DNS lookup of a dial or `resolve`, under a token the core can close; no socket.
    #[cfg(feature = "dns")]
    Resolving {
        lookup: dns::DnsLookupId,
    },
    /// Closed in this batch; freed by `release`.
    Closed,
}

/// How far a dialling socket has got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Connecting straight to the target.
    Tcp,
    /// Connecting to one address of a host name; the addresses left wait in this slot of the
    /// table's name dials.
    #[cfg(feature = "dns")]
    Name(u32),
    /// Connecting to the proxy; the SOCKS handshake waits in this slot of the reactor's table.
    Proxy(u32),
    /// The SOCKS handshake in this slot is running.
    Socks(u32),
    /// Connected: the user's.
    Open,
}

impl Stage {
    /// The handshake slot the socket holds, if any.
    pub(crate) fn socks_slot(self) -> Option<usize> {
        match self {
            Stage::Proxy(slot) | Stage::Socks(slot) => Some(slot as usize),
            Stage::Tcp | Stage::Open => None,
            #[cfg(feature = "dns")]
            Stage::Name(_) => None,
        }
    }
}

/// The addresses of a host name a dial tries in turn.
#[cfg(feature = "dns")]
#[derive(Debug)]
pub(crate) struct NameDial {
    addrs: Vec<std::net::IpAddr>,
    next: usize,
    port: u16,
}

#[derive(Debug)]
pub(crate) struct Entry {
    generation: u32,
    pub(crate) kind: Kind,
}

#[derive(Debug)]
pub(crate) struct Sockets {
    slab: Slab<Entry>,
    generation: u32,
    space: TokenSpace,
    quarantined: Vec<usize>,
    /// SOCKS handshakes of proxied dials and lookups in progress: a fixed buffer each, in
    /// their own table so that other sockets do not pay for them; reused, not reallocated.
    handshakes: Slab<Handshake>,
    /// Dials of host names between addresses, likewise.
    #[cfg(feature = "dns")]
    names: Slab<NameDial>,
}

impl Sockets {
    pub(crate) fn new(space: TokenSpace, capacity: usize) -> Self {
        Sockets {
            slab: Slab::with_capacity(capacity),
            generation: 0,
            space,
            quarantined: Vec::new(),
            handshakes: Slab::new(),
            #[cfg(feature = "dns")]
            names: Slab::new(),
        }
    }

    pub(crate) fn space(&self) -> TokenSpace {
        self.space
    }

    /// Live sockets.
    pub(crate) fn len(&self) -> usize {
        self.slab.len() - self.quarantined.len()
    }

    /// The token the next `insert` will use.
    pub(crate) fn next_token(&self) -> Token {
        self.space.token(self.slab.vacant_key(), next_generation(self.generation))
    }

    /// Registers a socket for `interest` and keeps it; its token names it from now on.
    pub(crate) fn insert(&mut self, registry: &Registry, mut kind: Kind, interest: Interest) -> io::Result<Token> {
        if self.slab.len() >= MAX_SLOTS {
            return Err(io::Error::new(io::ErrorKind::OutOfMemory, "socket table full"));
        }
        let entry = self.slab.vacant_entry();
        let generation = next_generation(self.generation);
        let token = self.space.token(entry.key(), generation);
        match &mut kind {
            Kind::Listener { listener, .. } => registry.register(listener, token, interest)?,
            Kind::Outbound { stream, .. } | Kind::Inbound { stream, .. } | Kind::Lookup { stream, .. } => {
                registry.register(stream, token, interest)?
            }
            #[cfg(feature = "dns")]
            Kind::DnsTcp { stream, .. } => registry.register(stream, token, interest)?,
            #[cfg(feature = "dns")]
            Kind::DnsUdp { socket, .. } => registry.register(socket, token, interest)?,
            #[cfg(feature = "dns")]
            Kind::Resolving { .. } => {}
            Kind::Closed => return Err(io::Error::new(io::ErrorKind::InvalidInput, "a closed entry")),
        }
        self.generation = generation;
        entry.insert(Entry { generation, kind });
        Ok(token)
    }

    pub(crate) fn get_mut(&mut self, token: Token) -> Option<&mut Entry> {
        let (slot, generation) = self.space.split(token);
        self.slab.get_mut(slot).filter(|e| e.generation == generation && !matches!(e.kind, Kind::Closed))
    }

    pub(crate) fn get(&self, token: Token) -> Option<&Entry> {
        let (slot, generation) = self.space.split(token);
        self.slab.get(slot).filter(|e| e.generation == generation && !matches!(e.kind, Kind::Closed))
    }

    /// Keeps a handshake for a socket about to be inserted with `Stage::Proxy(slot)`.
    pub(crate) fn add_handshake(&mut self, handshake: Handshake) -> u32 {
        u32::try_from(self.handshakes.insert(handshake)).expect("fewer than 2^32 handshakes")
    }

    /// Frees a handshake whose socket never made it into the table.
    pub(crate) fn drop_handshake(&mut self, slot: u32) {
        self.handshakes.try_remove(slot as usize);
    }

    /// A dialling socket's stream and its running handshake.
    pub(crate) fn handshake(&mut self, token: Token) -> Option<(&mut TcpStream, &mut Handshake)> {
        let (slot, generation) = self.space.split(token);
        let entry = self.slab.get_mut(slot).filter(|e| e.generation == generation)?;
        match &mut entry.kind {
            Kind::Outbound { stream, stage: Stage::Socks(h), .. }
            | Kind::Lookup { stream, stage: Stage::Socks(h), .. } => {
                Some((stream, self.handshakes.get_mut(*h as usize)?))
            }
            _ => None,
        }
    }

    /// The handshake of this socket succeeded: it is open, and its handshake slot is free.
    pub(crate) fn open(&mut self, token: Token) {
        let was = match self.get_mut(token).map(|e| &mut e.kind) {
            Some(Kind::Outbound { stage, .. } | Kind::Lookup { stage, .. }) => std::mem::replace(stage, Stage::Open),
            _ => return,
        };
        if let Some(slot) = was.socks_slot() {
            self.handshakes.remove(slot);
        }
        #[cfg(feature = "dns")]
        if let Stage::Name(slot) = was {
            self.names.try_remove(slot as usize);
        }
    }

    /// Deregisters a live socket and hands it back (its handshake, if any, freed); its slot is
    /// quarantined until `release`.
    pub(crate) fn take(&mut self, registry: &Registry, token: Token) -> Option<Kind> {
        let entry = self.get_mut(token)?;
        let mut kind = std::mem::replace(&mut entry.kind, Kind::Closed);
        let result = match &mut kind {
            Kind::Listener { listener, .. } => registry.deregister(listener),
            Kind::Outbound { stream, .. } | Kind::Inbound { stream, .. } | Kind::Lookup { stream, .. } => {
                registry.deregister(stream)
            }
            #[cfg(feature = "dns")]
            Kind::DnsTcp { stream, .. } => registry.deregister(stream),
            #[cfg(feature = "dns")]
            Kind::DnsUdp { socket, .. } => registry.deregister(socket),
            #[cfg(feature = "dns")]
            Kind::Resolving { .. } => Ok(()),
            Kind::Closed => Ok(()),
        };
        if let Err(e) = result {
            // The fd is about to be closed, which removes it from the kernel's interest list
            // anyway; there is nothing better to do than say so.
            log::debug!("deregister failed for {:?}: {}", token, e);
        }
        self.quarantined.push(self.space.split(token).0);
        if let Kind::Outbound { stage, .. } | Kind::Lookup { stage, .. } = &kind {
            if let Some(slot) = stage.socks_slot() {
                self.handshakes.remove(slot);
            }
            #[cfg(feature = "dns")]
            if let Stage::Name(slot) = *stage {
                self.names.try_remove(slot as usize);
            }
        }
        Some(kind)
    }

    /// Keeps a host name's addresses for a dial about to try them.
    #[cfg(feature = "dns")]
    pub(crate) fn add_name(&mut self, addrs: Vec<std::net::IpAddr>, port: u16) -> u32 {
        u32::try_from(self.names.insert(NameDial { addrs, next: 0, port })).expect("fewer than 2^32 name dials")
    }

    /// The next address of a name dial, if any is left.
    #[cfg(feature = "dns")]
    pub(crate) fn next_name_addr(&mut self, slot: u32) -> Option<std::net::SocketAddr> {
        let dial = self.names.get_mut(slot as usize)?;
        let ip = *dial.addrs.get(dial.next)?;
        dial.next += 1;
        Some(std::net::SocketAddr::new(ip, dial.port))
    }

    /// Frees a name dial's addresses (tried, or the dial is over).
    #[cfg(feature = "dns")]
    pub(crate) fn drop_name(&mut self, slot: u32) {
        self.names.try_remove(slot as usize);
    }

    /// Detaches a name dial's addresses from this socket, so that closing it keeps them for the
    /// next one.
    #[cfg(feature = "dns")]
    pub(crate) fn keep_name(&mut self, token: Token) {
        if let Some(Kind::Outbound { stage, .. }) = self.get_mut(token).map(|e| &mut e.kind) {
            if let Stage::Name(_) = stage {
                *stage = Stage::Tcp;
            }
        }
    }

    /// Deregisters and closes a socket; false if the token names none.
    pub(crate) fn close(&mut self, registry: &Registry, token: Token) -> bool {
        self.take(registry, token).is_some()
    }

    /// Frees the slots closed since the last call. Call once no event collected before the
    /// closes remains to be delivered.
    pub(crate) fn release(&mut self) {
        for slot in self.quarantined.drain(..) {
            self.slab.remove(slot);
        }
    }

    /// The tokens of every live socket.
    pub(crate) fn tokens(&self) -> Vec<Token> {
        self.slab
            .iter()
            .filter(|(_, e)| !matches!(e.kind, Kind::Closed))
            .map(|(slot, e)| self.space.token(slot, e.generation))
            .collect()
    }
}

pub(crate) fn io_key(token: Token) -> IoKey {
    IoKey::from(token.0 as u64)
}

pub(crate) fn token_of(io: IoKey) -> Token {
    Token(u64::from(io) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_costs_at_most_32_bytes_of_table() {
        // mio's sockets carry an extra word in debug builds (it checks that a source stays with
        // one `Poll`); in release a socket is a file descriptor.
        let limit = if cfg!(debug_assertions) { 48 } else { 32 };
        assert!(std::mem::size_of::<Entry>() <= limit, "Entry is {} bytes", std::mem::size_of::<Entry>());
        assert!(std::mem::size_of::<Option<Entry>>() <= limit, "the slab's tag fits in a niche");
    }

    #[test]
    fn a_closed_slot_is_not_reused_until_released() {
        let poll = mio::Poll::new().unwrap();
        let mut sockets = Sockets::new(TokenSpace::default(), 0);
        let listener = || {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.set_nonblocking(true).unwrap();
            TcpListener::from_std(l)
        };
        let kind = |l| Kind::Listener { listener: l, key: ListenerKey::for_tests(0), paused: false };
        let first = sockets.insert(poll.registry(), kind(listener()), Interest::READABLE).unwrap();
        assert!(sockets.close(poll.registry(), first));
        assert!(sockets.get(first).is_none(), "an event for the closed socket finds nothing");
        let second = sockets.insert(poll.registry(), kind(listener()), Interest::READABLE).unwrap();
        assert_ne!(sockets.space.split(first).0, sockets.space.split(second).0, "slot still quarantined");
        assert_eq!(sockets.len(), 1);
        sockets.release();
        assert_eq!(sockets.next_token(), sockets.space.token(sockets.space.split(first).0, sockets.generation + 1));
        assert!(sockets.get(first).is_none());
    }
}
