//! A scripted SOCKS5 server on 127.0.0.1 for loopback tests of proxied dialing.
//!
//! Each accepted connection follows the next [`Script`] (the last one repeats): it reads the
//! greeting, answers the method selection, reads and answers RFC 1929 credentials if it chose
//! method 2, reads the CONNECT or RESOLVE request, and answers it. Any answer can be a correct
//! one, an error code, malformed bytes, bytes then a close (truncation), or silence (for
//! timeouts). After a success reply it holds the connection, writes "peer bytes" in the same
//! write as the reply, relays to a real target, or closes.
//!
//! What each client asked is recorded in [`Seen`] *before* the answer to it is written, so a
//! test that has received an answer can read the record at once, without sleeping.
//!
//! Bounded: every socket has a timeout, waits poll a stop flag every [`POLL`], and dropping the
//! responder stops and joins every thread.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The longest one connection lives.
pub const CONN_LIMIT: Duration = Duration::from_secs(10);
/// How often a waiting connection checks whether the responder was dropped.
pub const POLL: Duration = Duration::from_millis(20);

/// What the server says at one step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Write these bytes and go on with the protocol.
    Send(Vec<u8>),
    /// Write these bytes (maybe none, maybe part of a message) and close.
    SendAndClose(Vec<u8>),
    /// Write nothing and hold the connection until the client closes it.
    Silent,
}

/// What the server does after a success reply to CONNECT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Then {
    /// Hold the connection until the client closes it.
    Hold,
    /// Write these bytes in the same `write` as the reply (one segment on loopback), then hold.
    PeerBytes(Vec<u8>),
    /// Connect to this address and relay both ways.
    Relay(SocketAddr),
    /// Close at once.
    Close,
}

/// How one connection goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    pub method: Answer,
    pub auth: Answer,
    pub reply: Answer,
    pub then: Then,
}

impl Script {
    /// Accepts "no authentication" and succeeds with bound address 127.0.0.1:1080.
    pub fn no_auth() -> Script {
        Script {
            method: Answer::Send(vec![5, 0]),
            auth: Answer::Send(vec![1, 0]),
            reply: Answer::Send(success_reply(SocketAddr::from(([127, 0, 0, 1], 1080)))),
            then: Then::Hold,
        }
    }

    /// Chooses username/password, accepts any, and succeeds.
    pub fn password() -> Script {
        Script { method: Answer::Send(vec![5, 2]), ..Script::no_auth() }
    }

    pub fn method(self, method: Answer) -> Script {
        Script { method, ..self }
    }

    pub fn auth(self, auth: Answer) -> Script {
        Script { auth, ..self }
    }

    pub fn reply(self, reply: Answer) -> Script {
        Script { reply, ..self }
    }

    /// Replies with `code` and an IPv4 bound address of zeros.
    pub fn reply_code(self, code: u8) -> Script {
        self.reply(Answer::Send(vec![5, code, 0, 1, 0, 0, 0, 0, 0, 0]))
    }

    pub fn then(self, then: Then) -> Script {
        Script { then, ..self }
    }
}

/// A success reply carrying `bound` (RFC 1928 section 6).
pub fn success_reply(bound: SocketAddr) -> Vec<u8> {
    let mut reply = match bound.ip() {
        IpAddr::V4(ip) => [&[5, 0, 0, 1][..], &ip.octets()].concat(),
        IpAddr::V6(ip) => [&[5, 0, 0, 4][..], &ip.octets()].concat(),
    };
    reply.extend_from_slice(&bound.port().to_be_bytes());
    reply
}

/// The address a request named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dest {
    Ip(IpAddr),
    Domain(String),
}

/// What one client sent, as far as it got.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    /// The methods offered in the greeting.
    pub methods: Vec<u8>,
    /// RFC 1929 username and password.
    pub credentials: Option<(Vec<u8>, Vec<u8>)>,
    /// 1 for CONNECT, 0xF0 for RESOLVE.
    pub command: Option<u8>,
    pub atyp: Option<u8>,
    pub dest: Option<Dest>,
    pub port: Option<u16>,
}

struct Shared {
    scripts: Mutex<VecDeque<Script>>,
    seen: Mutex<Vec<Seen>>,
    stop: AtomicBool,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

/// The running server; dropping it stops it.
pub struct SocksResponder {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl SocksResponder {
    /// Listens on 127.0.0.1 (a free port); connection `i` follows `scripts[i]`, the last script
    /// repeating.
    pub fn start(scripts: Vec<Script>) -> SocksResponder {
        assert!(!scripts.is_empty(), "at least one script");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let shared = Arc::new(Shared {
            scripts: Mutex::new(scripts.into()),
            seen: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            workers: Mutex::new(Vec::new()),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || accept_loop(listener, shared))
        };
        SocksResponder { addr, shared, acceptor: Some(acceptor) }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What each connection sent so far, in the order they were accepted.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }
}

impl Drop for SocksResponder {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        let workers = std::mem::take(&mut *self.shared.workers.lock().unwrap());
        for worker in workers {
            let _ = worker.join();
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let script = {
            let mut scripts = shared.scripts.lock().unwrap();
            if scripts.len() > 1 {
                scripts.pop_front()
            } else {
                scripts.front().cloned()
            }
        };
        let Some(script) = script else { continue };
        let index = {
            let mut seen = shared.seen.lock().unwrap();
            seen.push(Seen::default());
            seen.len() - 1
        };
        let worker = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || {
                let conn = Conn { stream, shared, index, deadline: Instant::now() + CONN_LIMIT };
                let _ = conn.serve(&script);
            })
        };
        shared.workers.lock().unwrap().push(worker);
    }
}

struct Conn {
    stream: TcpStream,
    shared: Arc<Shared>,
    index: usize,
    deadline: Instant,
}

impl Conn {
    fn record(&self, update: impl FnOnce(&mut Seen)) {
        update(&mut self.shared.seen.lock().unwrap()[self.index]);
    }

    /// Reads exactly `n` bytes, giving up when the responder stops or the deadline passes.
    fn read(&mut self, n: usize) -> io::Result<Vec<u8>> {
        let mut buf = vec![0; n];
        let mut at = 0;
        while at < n {
            match self.read_some(&mut buf[at..])? {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                got => at += got,
            }
        }
        Ok(buf)
    }

    /// One read, retried every [`POLL`] until data, end of stream, stop or deadline.
    fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        read_polled(&mut self.stream, buf, &self.shared.stop, self.deadline)
    }

    /// Writes `answer`; `Ok(false)` when the connection is over.
    fn answer(&mut self, answer: &Answer) -> io::Result<bool> {
        match answer {
            Answer::Send(bytes) => self.stream.write_all(bytes).map(|()| true),
            Answer::SendAndClose(bytes) => {
                self.stream.write_all(bytes)?;
                let _ = self.stream.shutdown(Shutdown::Both);
                Ok(false)
            }
            Answer::Silent => {
                self.hold();
                Ok(false)
            }
        }
    }

    /// Discards input until the client closes, the responder stops or the deadline passes.
    fn hold(&mut self) {
        let mut sink = [0_u8; 256];
        while matches!(self.read_some(&mut sink), Ok(n) if n > 0) {}
    }

    fn serve(mut self, script: &Script) -> io::Result<()> {
        self.stream.set_nodelay(true)?;
        let head = self.read(2)?;
        let methods = self.read(usize::from(head[1]))?;
        self.record(|s| s.methods = methods);
        if head[0] != 5 || !self.answer(&script.method)? {
            return Ok(());
        }
        match &script.method {
            Answer::Send(m) if m.get(1) == Some(&2) => {
                let ulen = self.read(2)?[1];
                let user = self.read(usize::from(ulen))?;
                let plen = self.read(1)?[0];
                let pass = self.read(usize::from(plen))?;
                self.record(|s| s.credentials = Some((user, pass)));
                if !self.answer(&script.auth)? {
                    return Ok(());
                }
            }
            Answer::Send(m) if m.get(1) == Some(&0) => {}
            // Any other choice: the client gives up.
            _ => {
                self.hold();
                return Ok(());
            }
        }
        let head = self.read(4)?;
        let (command, atyp) = (head[1], head[3]);
        let dest = match atyp {
            1 => Dest::Ip(IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(self.read(4)?).unwrap()))),
            4 => Dest::Ip(IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(self.read(16)?).unwrap()))),
            3 => {
                let len = self.read(1)?[0];
                Dest::Domain(String::from_utf8_lossy(&self.read(usize::from(len))?).into_owned())
            }
            _ => return Ok(()),
        };
        let port = self.read(2)?;
        let port = u16::from_be_bytes([port[0], port[1]]);
        self.record(|s| {
            s.command = Some(command);
            s.atyp = Some(atyp);
            s.dest = Some(dest);
            s.port = Some(port);
        });
        let success = matches!(&script.reply, Answer::Send(r) if r.get(1) == Some(&0));
        match (&script.then, &script.reply) {
            (Then::PeerBytes(peer), Answer::Send(reply)) if success => {
                self.stream.write_all(&[reply.as_slice(), peer].concat())?;
                self.hold();
                return Ok(());
            }
            _ => {
                if !self.answer(&script.reply)? {
                    return Ok(());
                }
            }
        }
        match &script.then {
            Then::Relay(target) if success => self.relay(*target),
            Then::Close => Ok(()),
            _ => {
                self.hold();
                Ok(())
            }
        }
    }

    /// Copies both ways between the client and `target` until either side closes.
    fn relay(self, target: SocketAddr) -> io::Result<()> {
        let upstream = TcpStream::connect_timeout(&target, Duration::from_secs(2))?;
        let (client_r, upstream_w) = (self.stream.try_clone()?, upstream.try_clone()?);
        let (stop, deadline) = (Arc::clone(&self.shared), self.deadline);
        let forward = thread::spawn(move || pump(client_r, upstream_w, &stop.stop, deadline));
        pump(upstream, self.stream, &self.shared.stop, self.deadline);
        let _ = forward.join();
        Ok(())
    }
}

fn read_polled(stream: &mut TcpStream, buf: &mut [u8], stop: &AtomicBool, deadline: Instant) -> io::Result<usize> {
    stream.set_read_timeout(Some(POLL))?;
    loop {
        if stop.load(Ordering::SeqCst) || Instant::now() >= deadline {
            return Err(io::ErrorKind::TimedOut.into());
        }
        match stream.read(buf) {
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, stop: &AtomicBool, deadline: Instant) {
    let mut buf = [0_u8; 4096];
    while let Ok(n @ 1..) = read_polled(&mut from, &mut buf, stop, deadline) {
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
