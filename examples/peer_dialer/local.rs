//! Local Bitcoin-speaking peers on loopback, for the embedded demo and the tests: one thread,
//! its own `mio::Poll`, the same [`protocol`](crate::protocol) code as the dialer.
//!
//! Each peer listens on its own address (distinct `127.0.0.x`, so `addr` messages look like a
//! real network's) and behaves in one [`Behaviour`]: well, or in one of the ways the dialer
//! must survive. Well-behaved peers answer `getaddr` with a gossip list, which is how the dialer
//! discovers the others from a single seed. A peer can also dial out (to the dialer's
//! listener), to exercise inbound connections.
//!
//! Linux routes all of 127.0.0.0/8 to `lo`, so any `127.0.0.x` can be bound; elsewhere (macOS)
//! only 127.0.0.1 is configured, and binding falls back to it with an ephemeral port.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::{Address, Magic, ServiceFlags};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};

use crate::protocol::{self, LocalInfo, Session, SessionEvent};

/// How a local peer behaves once a connection is up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Completes the handshake, answers `ping` and `getaddr` (with the gossip list), and pings.
    Good,
    /// Accepts and reads, never writes: the dialer's handshake timeout must end it.
    Silent,
    /// Answers the dialer's `version` with half of its own, then closes: mid-handshake, mid-message.
    Truncate,
    /// Answers with a `version` of another network (wrong magic bytes).
    WrongMagic,
    /// Answers with a `version` whose checksum is wrong.
    BadChecksum,
    /// Answers with a header claiming a 32 MiB payload, then keeps the connection open.
    Oversize,
}

impl Behaviour {
    /// A few words for the demo's banner.
    pub fn describe(self) -> &'static str {
        match self {
            Behaviour::Good => "answers the handshake, shares addresses",
            Behaviour::Silent => "never answers the handshake",
            Behaviour::Truncate => "closes mid-handshake, mid-message",
            Behaviour::WrongMagic => "speaks another network (wrong magic)",
            Behaviour::BadChecksum => "sends a bad checksum",
            Behaviour::Oversize => "claims a 32 MiB message",
        }
    }
}

/// The user agent of the local peers.
pub fn user_agent() -> String {
    format!("/connmgr-local-peer:{}/", env!("CARGO_PKG_VERSION"))
}

/// One peer to start: where it would like to listen, and how it behaves.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    /// Preferred address; port 0 for any. Falls back to an ephemeral port, then to 127.0.0.1.
    pub addr: SocketAddr,
    /// Its behaviour.
    pub behaviour: Behaviour,
}

/// Running local peers. Dropping it stops the thread and closes every socket.
#[derive(Debug)]
pub struct LocalNet {
    peers: Vec<(SocketAddr, Behaviour)>,
    tx: Sender<Cmd>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug)]
enum Cmd {
    Dial { to: SocketAddr, from: Option<IpAddr>, behaviour: Behaviour },
    Stop,
}

const WAKER: Token = Token(usize::MAX);

impl LocalNet {
    /// Binds every peer and starts the thread. Good peers answer `getaddr` with `gossip`
    /// minus their own address; `gossip(&bound)` computes it from the bound addresses, in order.
    pub fn start(
        magic: Magic,
        specs: &[Spec],
        gossip: impl FnOnce(&[(SocketAddr, Behaviour)]) -> Vec<SocketAddr>,
    ) -> io::Result<LocalNet> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let mut listeners = Vec::new();
        for (i, spec) in specs.iter().enumerate() {
            let mut listener = bind(spec.addr)?;
            poll.registry().register(&mut listener, Token(i), Interest::READABLE)?;
            listeners.push((listener, spec.behaviour));
        }
        let peers: Vec<(SocketAddr, Behaviour)> =
            listeners.iter().map(|(l, b)| l.local_addr().map(|a| (a, *b))).collect::<io::Result<_>>()?;
        let gossip = gossip(&peers);
        let (tx, rx) = mpsc::channel();
        let mut net = Net {
            poll,
            magic,
            listeners,
            conns: HashMap::new(),
            next_token: specs.len(),
            gossip,
            rx,
            start_height: 840_000,
        };
        let thread = std::thread::Builder::new().name("local-peers".into()).spawn(move || net.run())?;
        Ok(LocalNet { peers, tx, waker, thread: Some(thread) })
    }

    /// The peers, with their bound addresses, in the order given.
    pub fn peers(&self) -> &[(SocketAddr, Behaviour)] {
        &self.peers
    }

    /// The bound address of the `i`-th peer.
    pub fn addr(&self, i: usize) -> SocketAddr {
        self.peers[i].0
    }

    /// Makes a well-behaved peer dial `addr` (the dialer's listener, say).
    pub fn dial(&self, addr: SocketAddr) -> io::Result<()> {
        self.dial_as(addr, None, Behaviour::Good)
    }

    /// Dials `addr` from the local address `from` (any if `None`) as a peer behaving so.
    pub fn dial_as(&self, addr: SocketAddr, from: Option<IpAddr>, behaviour: Behaviour) -> io::Result<()> {
        let cmd = Cmd::Dial { to: addr, from, behaviour };
        self.tx.send(cmd).map_err(|_| io::Error::other("local peers stopped"))?;
        self.waker.wake()
    }
}

impl Drop for LocalNet {
    fn drop(&mut self) {
        let _ = self.tx.send(Cmd::Stop);
        let _ = self.waker.wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A non-blocking connect to `to`, from the local address `from` if given (where the platform
/// has it: all of 127/8 on Linux; elsewhere any).
fn connect_from(to: SocketAddr, from: Option<IpAddr>) -> io::Result<TcpStream> {
    let Some(from) = from else { return TcpStream::connect(to) };
    let socket = socket2::Socket::new(socket2::Domain::for_address(to), socket2::Type::STREAM, None)?;
    if socket.bind(&SocketAddr::new(from, 0).into()).is_err() {
        return TcpStream::connect(to);
    }
    socket.set_nonblocking(true)?;
    match socket.connect(&to.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) || e.kind() == io::ErrorKind::WouldBlock => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(socket.into()))
}

/// Binds `addr`, else the same IP on an ephemeral port, else 127.0.0.1 on an ephemeral port.
fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let fallbacks = [addr, SocketAddr::new(addr.ip(), 0), SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)];
    let mut last = None;
    for a in fallbacks {
        match std::net::TcpListener::bind(a) {
            Ok(l) => {
                l.set_nonblocking(true)?;
                return Ok(TcpListener::from_std(l));
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.expect("tried at least one address"))
}

struct Conn {
    stream: TcpStream,
    behaviour: Behaviour,
    /// The protocol of a good peer; `None` for the misbehaving ones, which write raw bytes.
    session: Option<Session>,
    /// Raw bytes to write (misbehaving peers).
    raw: Vec<u8>,
    /// Whether a misbehaving peer has answered already.
    answered: bool,
    /// Close once everything is written.
    close_after_write: bool,
    /// Answers `getaddr` (accepted connections do; a peer that dials out stays quiet, so the
    /// dialer learns the network from its seed).
    gossips: bool,
    ping_nonce: u64,
}

struct Net {
    poll: Poll,
    magic: Magic,
    listeners: Vec<(TcpListener, Behaviour)>,
    conns: HashMap<Token, Conn>,
    next_token: usize,
    gossip: Vec<SocketAddr>,
    rx: Receiver<Cmd>,
    start_height: i32,
}

impl Net {
    fn run(&mut self) {
        let mut events = Events::with_capacity(256);
        loop {
            if let Err(e) = self.poll.poll(&mut events, None) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                log::error!("local peers: poll failed: {e}");
                return;
            }
            for event in events.iter() {
                let token = event.token();
                if token == WAKER {
                    for cmd in self.rx.try_iter().collect::<Vec<_>>() {
                        match cmd {
                            Cmd::Stop => return,
                            Cmd::Dial { to, from, behaviour } => self.dial(to, from, behaviour),
                        }
                    }
                } else if token.0 < self.listeners.len() {
                    self.accept(token.0);
                } else {
                    self.serve(token);
                }
            }
        }
    }

    fn accept(&mut self, i: usize) {
        loop {
            match self.listeners[i].0.accept() {
                Ok((stream, _)) => {
                    let behaviour = self.listeners[i].1;
                    self.add(stream, behaviour, true);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    log::warn!("local peers: accept failed: {e}");
                    return;
                }
            }
        }
    }

    fn dial(&mut self, addr: SocketAddr, from: Option<IpAddr>, behaviour: Behaviour) {
        match connect_from(addr, from) {
            Ok(stream) => self.add(stream, behaviour, false),
            Err(e) => log::warn!("local peers: cannot dial {addr}: {e}"),
        }
    }

    fn add(&mut self, mut stream: TcpStream, behaviour: Behaviour, gossips: bool) {
        let token = Token(self.next_token);
        self.next_token += 1;
        if let Err(e) = self.poll.registry().register(&mut stream, token, Interest::READABLE | Interest::WRITABLE) {
            log::warn!("local peers: register failed: {e}");
            return;
        }
        self.conns.insert(
            token,
            Conn {
                stream,
                behaviour,
                session: None,
                raw: Vec::new(),
                answered: false,
                close_after_write: false,
                gossips,
                ping_nonce: token.0 as u64,
            },
        );
        // A dialling stream may not be connected yet: the session starts on the first event.
        self.serve(token);
    }

    fn me(&self) -> LocalInfo {
        LocalInfo {
            magic: self.magic,
            services: ServiceFlags::NETWORK | ServiceFlags::WITNESS,
            user_agent: user_agent(),
            start_height: self.start_height,
            relay: true,
            nonce: 0x0001_0ca1_0000 ^ self.next_token as u64,
        }
    }

    /// Reads, answers and writes for one connection; drops it when it ends.
    fn serve(&mut self, token: Token) {
        let me = self.me();
        let magic = self.magic;
        let Some(conn) = self.conns.get_mut(&token) else { return };
        let keep = serve(conn, &me, magic, &self.gossip);
        if !keep {
            if let Some(mut conn) = self.conns.remove(&token) {
                let _ = self.poll.registry().deregister(&mut conn.stream);
            }
        }
    }
}

fn unix_time() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// Returns whether the connection stays open.
fn serve(conn: &mut Conn, me: &LocalInfo, magic: Magic, gossip: &[SocketAddr]) -> bool {
    let now = Instant::now();
    // A dialled stream is usable once it has a peer address.
    let (Ok(local), Ok(remote)) = (conn.stream.local_addr(), conn.stream.peer_addr()) else {
        return matches!(conn.stream.take_error(), Ok(None));
    };
    if conn.behaviour == Behaviour::Good && conn.session.is_none() {
        conn.session = Some(Session::new(me, local, remote, now, unix_time()));
    }
    // Read everything there is (edge-triggered).
    let mut buf = [0u8; 16 * 1024];
    let mut eof = false;
    loop {
        match conn.stream.read(&mut buf) {
            Ok(0) => {
                eof = true;
                break;
            }
            Ok(n) => {
                if let Some(session) = &mut conn.session {
                    let mut events = Vec::new();
                    if let Err(e) = session.receive(&buf[..n], now, &mut events) {
                        log::debug!("local peer {local}: {e}");
                        return false;
                    }
                    for event in events {
                        match event {
                            SessionEvent::GetAddr if conn.gossips => {
                                let own = conn.stream.local_addr().ok();
                                let list = gossip
                                    .iter()
                                    .filter(|a| Some(**a) != own)
                                    .map(|a| (unix_time() as u32, Address::new(a, ServiceFlags::NETWORK)))
                                    .collect();
                                session.send(NetworkMessage::Addr(list));
                            }
                            SessionEvent::Handshaken { .. } => session.ping(conn.ping_nonce, now),
                            SessionEvent::GetAddr
                            | SessionEvent::Addresses(_)
                            | SessionEvent::Pong { .. }
                            | SessionEvent::Announced { .. } => {}
                        }
                    }
                } else if !conn.answered {
                    conn.answered = true;
                    misbehave(conn, me, magic, local, remote);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    // Write what is queued.
    let out: &mut Vec<u8> = match &mut conn.session {
        Some(s) => {
            let pending = s.outbox().to_vec();
            s.consume(pending.len());
            conn.raw.extend_from_slice(&pending);
            &mut conn.raw
        }
        None => &mut conn.raw,
    };
    while !out.is_empty() {
        match conn.stream.write(out) {
            Ok(n) => {
                out.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    if conn.close_after_write && out.is_empty() {
        return false;
    }
    !eof
}

/// Queues a misbehaving peer's answer to the dialer's first bytes.
fn misbehave(conn: &mut Conn, me: &LocalInfo, magic: Magic, local: SocketAddr, remote: SocketAddr) {
    let version = || NetworkMessage::Version(protocol::version_message(me, local, remote, unix_time()));
    match conn.behaviour {
        Behaviour::Good | Behaviour::Silent => {}
        Behaviour::Truncate => {
            let bytes = protocol::encode_message(magic, version());
            let half = protocol::HEADER_LEN + (bytes.len() - protocol::HEADER_LEN) / 2;
            conn.raw.extend_from_slice(&bytes[..half]);
            conn.close_after_write = true;
        }
        Behaviour::WrongMagic => {
            let other = if magic == Magic::BITCOIN { Magic::TESTNET3 } else { Magic::BITCOIN };
            conn.raw.extend(protocol::encode_message(other, version()));
        }
        Behaviour::BadChecksum => {
            let mut bytes = protocol::encode_message(magic, version());
            bytes[20] ^= 0xff;
            conn.raw.extend(bytes);
        }
        Behaviour::Oversize => {
            let mut header = [0u8; protocol::HEADER_LEN];
            header[0..4].copy_from_slice(&magic.to_bytes());
            header[4..11].copy_from_slice(b"version");
            header[16..20].copy_from_slice(&(32u32 << 20).to_le_bytes());
            conn.raw.extend_from_slice(&header);
        }
    }
}
