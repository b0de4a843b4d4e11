//! The kinds of peer a loopback test needs on 127.0.0.1: a port that refuses, a listener that
//! never completes a handshake (its accept queue full), and std sockets with timeouts so that
//! no helper can block for ever.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use super::LIMIT;

/// 127.0.0.1 at port 0: a listener binds there to get a port of its own.
pub fn localhost() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A loopback address where nothing listens: bind port 0, read the port, drop the listener.
/// (A dial there is refused; if the kernel picks that same port as the dialling socket's
/// source port, the connect is a TCP simultaneous open with itself, which connmgr reports as a
/// refusal too, and [`assert_refused`] treats the same way.)
pub fn refused_addr() -> SocketAddr {
    let listener = TcpListener::bind(localhost()).expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().unwrap();
    drop(listener);
    addr
}

/// Asserts that a connect to `addr` is refused (nothing listens there). A connect that lands
/// on itself (local == peer) counts as refused.
pub fn assert_refused(addr: SocketAddr) {
    match TcpStream::connect_timeout(&addr, LIMIT) {
        Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "connect to {addr}: {e}"),
        Ok(s) => {
            let (local, peer) = (s.local_addr().unwrap(), s.peer_addr().unwrap());
            assert_eq!(local, peer, "something accepted a connection at {addr}");
        }
    }
}

/// A std listener on 127.0.0.1 whose `accept` gives up after [`LIMIT`] (Linux applies
/// `SO_RCVTIMEO` to `accept`), so a test that expects a connection never hangs.
pub fn listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind(localhost()).expect("bind 127.0.0.1:0");
    socket2::SockRef::from(&listener).set_read_timeout(Some(LIMIT)).unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// Accepts one connection on a [`listener`], with blocking reads and writes bounded by
/// [`LIMIT`].
pub fn accept(listener: &TcpListener) -> TcpStream {
    let (stream, _) = listener.accept().expect("a connection to accept");
    timeouts(&stream);
    stream
}

/// A client connection to `addr`, with blocking reads and writes bounded by [`LIMIT`].
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, LIMIT).expect("loopback connect");
    timeouts(&stream);
    stream
}

fn timeouts(stream: &TcpStream) {
    stream.set_read_timeout(Some(LIMIT)).unwrap();
    stream.set_write_timeout(Some(LIMIT)).unwrap();
}

/// Reads until EOF; fails if the peer has not closed within [`LIMIT`]. A reset counts as a
/// close (a socket closed with unread data in its receive queue sends RST instead of FIN).
pub fn read_to_eof(stream: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return all,
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return all,
            Err(e) => panic!("waiting for EOF: {e}"),
        }
    }
}

/// Reads exactly `n` bytes (bounded by [`LIMIT`]).
pub fn read_n(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    stream.read_exact(&mut buf).expect("read the expected bytes");
    buf
}

/// Half-closes our side: the peer sees EOF, we can still read.
pub fn shutdown_write(stream: &TcpStream) {
    stream.shutdown(Shutdown::Write).unwrap();
}

/// A listener that never completes a handshake: its accept backlog is full and it never
/// accepts, so Linux drops further SYNs and a dial stays in SYN_SENT (retransmitting after
/// 1 s, 3 s, ...) until the dialler gives up.
///
/// Filled with plain connects until two probes in a row fail to connect within
/// [`BlackHole::PROBE`]; how many connects fit depends on the backlog arithmetic of the
/// kernel (`listen(0)` queues one on Linux).
pub struct BlackHole {
    pub addr: SocketAddr,
    listener: socket2::Socket,
    queued: Vec<TcpStream>,
}

impl BlackHole {
    pub const PROBE: Duration = Duration::from_millis(250);

    pub fn new() -> Self {
        use socket2::{Domain, Socket, Type};
        let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        listener.bind(&localhost().into()).unwrap();
        listener.listen(0).unwrap();
        let addr = listener.local_addr().unwrap().as_socket().unwrap();
        let mut queued = Vec::new();
        let mut misses = 0;
        for _ in 0..64 {
            match TcpStream::connect_timeout(&addr, Self::PROBE) {
                Ok(s) => {
                    misses = 0;
                    queued.push(s);
                }
                Err(e) if matches!(e.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock) => {
                    misses += 1;
                    if misses == 2 {
                        return BlackHole { addr, listener, queued };
                    }
                }
                Err(e) => panic!("filling the accept queue of {addr}: {e}"),
            }
        }
        panic!("the accept queue of {addr} never filled");
    }

    /// Connections sitting in the accept queue.
    pub fn queued(&self) -> usize {
        self.queued.len()
    }

    pub fn listener(&self) -> &socket2::Socket {
        &self.listener
    }
}

impl Default for BlackHole {
    fn default() -> Self {
        Self::new()
    }
}

/// Writes all of `data` to a std stream.
pub fn send(stream: &mut TcpStream, data: &[u8]) {
    stream.write_all(data).expect("write to a loopback peer");
}

/// Entries of `/proc/self/fd` (Linux).
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd").count()
}
