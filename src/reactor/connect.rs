//! A dialling socket's way to open, driven by readiness: the non-blocking connect (to the
//! target, or to a proxy), then, through a proxy, the SOCKS5 handshake; name lookups through
//! Tor take the same way to a RESOLVE answer.
//!
//! Every failure is typed by where it happened: a connect to the target that fails is the
//! target's (`DialError::Io`); a connect to the proxy that fails, or a broken handshake, is the
//! proxy's (`ProxyError`), so a proxy that is down is never taken for a peer refusing. The
//! handshake reads exactly the proxy's reply, so the peer's first bytes stay in the socket;
//! edge-triggered readiness would not report them again, so they are handed on at once.
//!
//! The connect itself is checked strictly. A writable event on a connecting socket does not
//! mean it connected (nakamoto took the first writable as success): on every event for a
//! dialling socket (writable, error or hang-up alike) the reactor asks the kernel with
//! `take_error` (`SO_ERROR`), then `peer_addr` (`getpeername`), which fails with `NotConnected`
//! while the connect is still in progress. That is the check mio's `TcpStream::connect`
//! documents. A connect that fails at once (refused, unreachable, `EADDRNOTAVAIL` when the
//! ephemeral ports run out, or `WouldBlock`) is a dial failure like any other, never a panic and
//! never a retry in a tight loop: the core's backoff decides what follows. The resolver's TCP
//! sockets (feature `dns`) connect the same way ([`start`], [`check`]).

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use mio::net::TcpStream;
use mio::{Interest, Token};

use super::table::{io_key, Kind, Stage};
use super::{Ctx, Handler, Reactor};
use crate::core::{LookupId, ResolveError};
use crate::error::DialError;
use crate::id::ConnId;
use crate::peer::{Peer, Ready};
use crate::proxy::{Auth, Handshake, Proxy, ProxyAuth, ProxyError, Step};
use crate::rng::Rng;
use crate::target::{HostName, Target};

/// Where a dialling socket's handshake got to.
enum Pumped {
    /// Waiting for readiness.
    Pending,
    /// The handshake ended with this step.
    Done(Step),
    Failed(ProxyError),
}

/// Runs a handshake over a socket until it would block, ends or fails.
fn pump(stream: &mut TcpStream, handshake: &mut Handshake) -> Pumped {
    loop {
        let progress = match handshake.step() {
            Ok(Step::Write) => match stream.write(handshake.to_send()) {
                Ok(n) => match handshake.sent(n) {
                    // The reply cannot be there yet: wait for readable rather than try a read
                    // that would only say WouldBlock (edge-triggered, so its arrival wakes us).
                    Ok(Step::Read) => return Pumped::Pending,
                    progress => progress,
                },
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Pumped::Pending,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Pumped::Failed(ProxyError::Io(e.into())),
            },
            Ok(Step::Read) => match stream.read(handshake.recv_buf()) {
                Ok(n) => handshake.received(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Pumped::Pending,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Pumped::Failed(ProxyError::Io(e.into())),
            },
            Ok(done) => return Pumped::Done(done),
            Err(e) => return Pumped::Failed(e),
        };
        if let Err(e) = progress {
            return Pumped::Failed(e);
        }
    }
}

/// How to authenticate to `proxy` on one connection.
fn auth<'a>(proxy: &'a Proxy, rng: &mut Rng) -> Auth<'a> {
    match proxy.auth() {
        ProxyAuth::None => Auth::None,
        ProxyAuth::Password(credentials) => Auth::Password(credentials),
        ProxyAuth::Isolate => Auth::Isolate(rng.next_u64()),
    }
}

/// What a dialling socket is for.
#[derive(Clone, Copy)]
enum Owner {
    Request(ConnId),
    Lookup(LookupId),
}

impl<H: Handler> Reactor<H> {
    /// Starts a dial for `Action::Dial`.
    pub(super) fn dial(&mut self, now: Instant, id: ConnId, target: Target, proxy: Option<Arc<Proxy>>) {
        let (addr, stage) = match &proxy {
            Some(proxy) => {
                let handshake = Handshake::connect(&target, auth(proxy, &mut self.rng));
                (proxy.addr(), Stage::Proxy(self.sockets.add_handshake(handshake)))
            }
            None => match &target {
                Target::Ip(addr) => (*addr, Stage::Tcp),
                #[cfg(feature = "dns")]
                Target::Name(name, port) => return self.dial_name(now, id, name, *port),
                _ => {
                    // The core routes only IP targets direct; anything else is a bug here.
                    log::error!("{target} has no route; not dialled");
                    return self.core.dial_failed(now, id, io::Error::from(io::ErrorKind::AddrNotAvailable));
                }
            },
        };
        match self.open(addr, stage, |stream| Kind::Outbound { stream, id, stage }) {
            Ok(token) => {
                if !self.core.dial_started(id, io_key(token)) {
                    self.sockets.close(&self.registry, token);
                }
            }
            Err(error) => self.core.dial_failed(now, id, connect_error(stage, error)),
        }
    }

    /// Starts a lookup through a proxy for `Action::Resolve`.
    pub(super) fn lookup(&mut self, id: LookupId, name: &HostName, proxy: &Proxy) {
        let handshake = match Handshake::resolve(name.as_str(), auth(proxy, &mut self.rng)) {
            Ok(handshake) => handshake,
            Err(e) => {
                // A host name is at most 253 bytes: the request always fits.
                log::error!("{id}: {e}");
                return self
                    .core
                    .lookup_done(id, Err(ResolveError::Proxy(ProxyError::Io(io::ErrorKind::InvalidInput.into()))));
            }
        };
        let stage = Stage::Proxy(self.sockets.add_handshake(handshake));
        match self.open(proxy.addr(), stage, |stream| Kind::Lookup { stream, id, stage }) {
            Ok(token) => {
                if !self.core.lookup_started(id, io_key(token)) {
                    self.sockets.close(&self.registry, token);
                }
            }
            Err(error) => self.core.lookup_done(id, Err(connect_error(stage, error).into_resolve())),
        }
    }

    /// Connects to `addr` and registers the socket; on failure frees the stage's handshake.
    fn open(
        &mut self,
        addr: std::net::SocketAddr,
        stage: Stage,
        kind: impl FnOnce(TcpStream) -> Kind,
    ) -> io::Result<Token> {
        let registered = start(addr).and_then(|stream| {
            self.sockets.insert(&self.registry, kind(stream), Interest::READABLE | Interest::WRITABLE)
        });
        if registered.is_err() {
            if let Some(slot) = stage.socks_slot() {
                self.sockets.drop_handshake(slot as u32);
            }
        }
        registered
    }

    /// Readiness on a dialling socket: completes the connect, then runs the handshake.
    pub(super) fn progress(&mut self, now: Instant, token: Token, event: &mio::event::Event) {
        let Some((owner, stream, stage)) = self.sockets.get_mut(token).and_then(|e| match &mut e.kind {
            Kind::Outbound { stream, id, stage } => Some((Owner::Request(*id), stream, stage)),
            Kind::Lookup { stream, id, stage } => Some((Owner::Lookup(*id), stream, stage)),
            _ => None,
        }) else {
            return;
        };
        if !matches!(*stage, Stage::Socks(_) | Stage::Open) {
            let closed = event.is_error() || event.is_write_closed() || event.is_read_closed();
            match check(stream, closed) {
                Progress::Connecting => return,
                Progress::Failed(error) => {
                    // A host name's address failed: the next one, if any.
                    #[cfg(feature = "dns")]
                    if let (Stage::Name(slot), Owner::Request(id)) = (*stage, owner) {
                        return self.name_connect_failed(now, token, id, slot, error);
                    }
                    let error = connect_error(*stage, error);
                    return self.fail(now, token, owner, error);
                }
                Progress::Connected => match *stage {
                    Stage::Proxy(slot) => *stage = Stage::Socks(slot),
                    #[cfg(feature = "dns")]
                    Stage::Name(_) => {
                        // Frees the name's other addresses.
                        self.sockets.open(token);
                        return self.connected(now, token, owner, Ready::from_event(event));
                    }
                    _ => {
                        *stage = Stage::Open;
                        return self.connected(now, token, owner, Ready::from_event(event));
                    }
                },
            }
        }
        let Some((stream, handshake)) = self.sockets.handshake(token) else { return };
        match pump(stream, handshake) {
            Pumped::Pending => {}
            Pumped::Failed(error) => self.fail(now, token, owner, DialError::Proxy(error)),
            Pumped::Done(step) => {
                // The peer may have spoken in the same segment as the proxy's reply, which
                // the handshake left in the socket: no new edge will say so.
                let mut byte = [0_u8; 1];
                let ready = match stream.peek(&mut byte) {
                    Ok(0) => Ready::READABLE | Ready::READ_CLOSED,
                    Ok(_) => Ready::READABLE,
                    Err(_) => Ready::WRITABLE,
                };
                self.sockets.open(token);
                match (owner, step) {
                    (Owner::Lookup(id), Step::Resolved(ip)) => {
                        self.sockets.close(&self.registry, token);
                        self.core.lookup_done(id, Ok(vec![ip]));
                    }
                    (owner, _) => self.connected(now, token, owner, ready),
                }
            }
        }
    }

    /// The dial is open: the core hears of it, then the handler, then any readiness that came
    /// with it.
    fn connected(&mut self, now: Instant, token: Token, owner: Owner, ready: Ready) {
        let Owner::Request(id) = owner else {
            // A lookup only ends with its answer.
            return self.fail(now, token, owner, DialError::Proxy(ProxyError::Io(io::ErrorKind::InvalidData.into())));
        };
        if !self.core.dial_succeeded(now, id) {
            self.sockets.close(&self.registry, token);
            return;
        }
        // on_connection first, then what arrived with the connect, if the connection is still
        // there (the handler may have closed it).
        self.run(now);
        let live = matches!(self.sockets.get(token).map(|e| &e.kind), Some(Kind::Outbound { stage: Stage::Open, .. }));
        if live && ready != Ready::WRITABLE {
            let mut ctx = ctx_of!(self, now);
            self.handler.on_ready(&mut ctx, Peer::Outbound(id), ready);
        }
    }

    fn fail(&mut self, now: Instant, token: Token, owner: Owner, error: DialError) {
        self.sockets.close(&self.registry, token);
        match owner {
            Owner::Request(id) => self.core.dial_failed(now, id, error),
            Owner::Lookup(id) => self.core.lookup_done(id, Err(error.into_resolve())),
        }
    }
}

/// A failed connect: the target's, or the proxy's when it was to the proxy.
fn connect_error(stage: Stage, error: io::Error) -> DialError {
    match stage {
        Stage::Proxy(_) | Stage::Socks(_) => DialError::Proxy(ProxyError::Unreachable(error.into())),
        Stage::Tcp | Stage::Open => DialError::Io(error.into()),
        #[cfg(feature = "dns")]
        Stage::Name(_) => DialError::Io(error.into()),
    }
}

impl DialError {
    /// The same failure, for a lookup (which only ever talks to a proxy).
    fn into_resolve(self) -> ResolveError {
        match self {
            DialError::Proxy(e) => ResolveError::Proxy(e),
            DialError::Io(e) => ResolveError::Proxy(ProxyError::Io(e)),
            other => ResolveError::Proxy(ProxyError::Io(io::Error::other(other.to_string()).into())),
        }
    }
}

/// Where a dialling socket stands.
#[derive(Debug)]
pub(crate) enum Progress {
    Connected,
    Connecting,
    Failed(io::Error),
}

/// Starts a non-blocking connect.
pub(crate) fn start(addr: SocketAddr) -> io::Result<TcpStream> {
    // mio maps EINPROGRESS to Ok; everything else, WouldBlock included, is an error here.
    TcpStream::connect(addr)
}

/// Checks a dialling socket after any event on it. `closed` is whether the event reported an
/// error or a hang-up, which turns "still connecting" into a failure.
pub(crate) fn check(stream: &TcpStream, closed: bool) -> Progress {
    match stream.take_error() {
        Ok(None) => {}
        Ok(Some(e)) | Err(e) => return Progress::Failed(e),
    }
    match stream.peer_addr() {
        Ok(peer) => {
            // Dialling a free port of the ephemeral range on this host can make the kernel pick
            // that very port as the local one: a TCP simultaneous open, connected to itself.
            // That is never a peer.
            if stream.local_addr().is_ok_and(|local| local == peer) {
                Progress::Failed(io::Error::new(io::ErrorKind::ConnectionRefused, "connected to itself"))
            } else {
                Progress::Connected
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotConnected => {
            if closed {
                Progress::Failed(io::Error::new(io::ErrorKind::ConnectionAborted, "connection closed while connecting"))
            } else {
                Progress::Connecting
            }
        }
        Err(e) => Progress::Failed(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pitfall "dialling a closed port of the ephemeral range on 127.0.0.1 can connect to
    /// itself", made deterministic: a socket bound to 127.0.0.1:P that connects to 127.0.0.1:P
    /// ends in the same TCP simultaneous open a dial falls into when the kernel happens to pick
    /// P as its source port (which no test can force through the public API).
    #[test]
    fn dialling_a_free_local_port_connected_to_itself_is_a_refusal() {
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        socket.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into()).unwrap();
        let addr = socket.local_addr().unwrap();
        socket.connect(&addr).expect("a socket can connect to its own address");
        socket.set_nonblocking(true).unwrap();
        let stream = TcpStream::from_std(socket.into());
        assert_eq!(stream.local_addr().unwrap(), stream.peer_addr().unwrap(), "connected to itself");
        match check(&stream, false) {
            Progress::Failed(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e}"),
            other => panic!("a connection to itself was taken for {other:?}"),
        }
    }

    #[test]
    fn a_real_peer_is_connected() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        stream.set_nonblocking(true).unwrap();
        assert!(matches!(check(&TcpStream::from_std(stream), false), Progress::Connected));
    }
}
