//! CW1 through a SOCKS5 proxy (`--proxy`): which proxy to use, Debian's `microsocks` started as
//! a child for `--proxy spawn`, and the raw loop's side of the SOCKS5 exchange.
//!
//! The raw exchange is the least a client can do: no authentication, CONNECT with the target's
//! IPv4 address, and each reply read at its exact length (2 bytes, then 10: the reply to an IPv4
//! CONNECT from a proxy that reports an IPv4 bound address, as microsocks does). It writes as soon
//! as a write is due and reads only on a readable event: a reply cannot be there before the
//! request went out, and the edge of its arrival is reported whenever it comes. Partial writes
//! and reads are carried over to the next event. connmgr's handshake (src/proxy/) does more: it
//! reads any reply in two steps (the header tells the address type, hence the length) and tries
//! a read right after each write.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::cli::{Common, ProxyArg};
use crate::BoxError;

/// Version 5, one method offered: no authentication.
const GREETING: [u8; 3] = [5, 1, 0];

/// How long microsocks may take to listen.
const READY: Duration = Duration::from_secs(5);

/// The proxy to dial through, and the microsocks child when `--proxy spawn` started one (killed
/// when dropped).
pub fn proxy_for(common: &Common) -> Result<(Option<SocketAddr>, Option<Microsocks>), BoxError> {
    match common.proxy {
        None => Ok((None, None)),
        Some(ProxyArg::At(addr)) => Ok((Some(addr), None)),
        Some(ProxyArg::Spawn) => {
            let m = Microsocks::start()?;
            eprintln!("churn: started microsocks (pid {}) on {}", m.child.id(), m.addr);
            Ok((Some(m.addr), Some(m)))
        }
    }
}

/// The JSON value of `proxy`: the address as a string, or `null`.
pub fn json(proxy: Option<SocketAddr>) -> String {
    proxy.map_or_else(|| "null".to_string(), |a| format!("\"{a}\""))
}

/// `microsocks -i 127.0.0.1 -p <free port>`, killed and reaped on drop, and by the kernel if
/// this process dies first (`PR_SET_PDEATHSIG`): microsocks never exits by itself.
pub struct Microsocks {
    child: Child,
    addr: SocketAddr,
}

impl Microsocks {
    /// Starts it and waits until it answers a SOCKS5 greeting (it prints nothing when ready).
    /// A free port is found by binding port 0 and letting it go, so another process may take it
    /// in between: then microsocks exits, or something else answers, and the next port is tried.
    pub fn start() -> Result<Microsocks, BoxError> {
        for _ in 0..5 {
            let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port();
            let mut command = Command::new("microsocks");
            command
                .args(["-i", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            die_with_parent(&mut command);
            let child = match command.spawn() {
                Ok(child) => child,
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    return Err("microsocks is not installed (apt-get install microsocks); or pass --proxy IP:PORT \
                                of a SOCKS5 proxy already running"
                        .into())
                }
                Err(e) => return Err(format!("microsocks: {e}").into()),
            };
            let mut m = Microsocks { child, addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)) };
            if m.wait_ready() {
                return Ok(m);
            }
        }
        Err("microsocks did not start (5 tries)".into())
    }

    /// Polls (every 5 ms, for at most [`READY`]) until a greeting is answered with "no
    /// authentication"; `false` if the child exited or something else holds the port.
    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + READY;
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return false;
            }
            match TcpStream::connect_timeout(&self.addr, Duration::from_millis(100)) {
                Ok(s) => return greets(s).unwrap_or(false),
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        false
    }
}

impl Drop for Microsocks {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the server on `s` answers a greeting as a SOCKS5 proxy without authentication.
fn greets(mut s: TcpStream) -> io::Result<bool> {
    s.set_read_timeout(Some(READY))?;
    s.write_all(&GREETING)?;
    let mut reply = [0u8; 2];
    s.read_exact(&mut reply)?;
    Ok(reply == [5, 0])
}

/// Has the kernel kill the child when this thread (the main one) exits, however it exits.
fn die_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs in the child between fork and exec; it only makes two system
    // calls (prctl, getppid), async-signal-safe, and builds errors without allocating.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent died before the prctl: nobody would kill the child.
            if libc::getppid() != parent {
                return Err(io::Error::from(ErrorKind::Other));
            }
            Ok(())
        })
    };
}

/// Where an [`Exchange`] stands after [`Exchange::drive`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Waiting for the next event.
    Pending,
    /// The proxy connected to the target: the socket is a tunnel now.
    Done,
    /// The proxy closed, the socket failed, or a reply was not the expected success.
    Failed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// The TCP connect to the proxy is in progress (the caller checks it).
    Connect,
    Greeting,
    Method,
    Request,
    Reply,
    Done,
}

/// The raw loop's SOCKS5 exchange on one connection to the proxy: greeting out, 2-byte method
/// reply in, 10-byte CONNECT out, 10-byte reply in. Fixed buffers, no allocation.
#[derive(Clone, Copy, Debug)]
pub struct Exchange {
    phase: Phase,
    /// Bytes of the current message written or read so far.
    done: usize,
    request: [u8; 10],
    reply: [u8; 10],
}

impl Exchange {
    /// An exchange for a CONNECT to `target`, starting with the TCP connect to the proxy.
    pub fn new(target: SocketAddrV4) -> Exchange {
        let [a, b, c, d] = target.ip().octets();
        let [hi, lo] = target.port().to_be_bytes();
        Exchange { phase: Phase::Connect, done: 0, request: [5, 1, 0, 1, a, b, c, d, hi, lo], reply: [0; 10] }
    }

    /// Whether the TCP connect to the proxy is still to be confirmed.
    pub fn is_connecting(&self) -> bool {
        self.phase == Phase::Connect
    }

    /// The TCP connect to the proxy completed: the greeting is due.
    pub fn connected(&mut self) {
        if self.phase == Phase::Connect {
            self.phase = Phase::Greeting;
            self.done = 0;
        }
    }

    /// Advances after an event: writes what is due, and reads only if `readable` (the event said
    /// readable, closed or error). Returns at the first `WouldBlock`, or once a write is complete
    /// (its answer comes with a later event).
    pub fn drive(&mut self, mut s: impl Read + Write, readable: bool) -> Step {
        loop {
            match self.phase {
                Phase::Connect => return Step::Pending,
                Phase::Greeting => return self.send(&mut s, &GREETING, Phase::Method),
                Phase::Method => {
                    if !readable {
                        return Step::Pending;
                    }
                    if let Some(step) = self.recv(&mut s, 2) {
                        return step;
                    }
                    if self.reply[..2] != [5, 0] {
                        return Step::Failed;
                    }
                    // The CONNECT goes out at once: the socket is writable.
                    self.phase = Phase::Request;
                    self.done = 0;
                }
                Phase::Request => {
                    let request = self.request;
                    return self.send(&mut s, &request, Phase::Reply);
                }
                Phase::Reply => {
                    if !readable {
                        return Step::Pending;
                    }
                    if let Some(step) = self.recv(&mut s, 10) {
                        return step;
                    }
                    // Version 5, reply code 0 (succeeded), reserved 0, an IPv4 bound address.
                    if self.reply[..4] != [5, 0, 0, 1] {
                        return Step::Failed;
                    }
                    self.phase = Phase::Done;
                    return Step::Done;
                }
                Phase::Done => return Step::Done,
            }
        }
    }

    /// Writes the rest of `bytes`; once all are out, moves to `next` and waits for its reply.
    fn send(&mut self, s: &mut impl Write, bytes: &[u8], next: Phase) -> Step {
        while self.done < bytes.len() {
            match s.write(&bytes[self.done..]) {
                Ok(0) => return Step::Failed,
                Ok(n) => self.done += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Step::Pending,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Step::Failed,
            }
        }
        self.phase = next;
        self.done = 0;
        Step::Pending
    }

    /// Reads until `reply[..len]` is complete (`None`), or returns why not yet (or not at all).
    fn recv(&mut self, s: &mut impl Read, len: usize) -> Option<Step> {
        while self.done < len {
            match s.read(&mut self.reply[self.done..len]) {
                Ok(0) => return Some(Step::Failed),
                Ok(n) => self.done += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Some(Step::Pending),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Some(Step::Failed),
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// A nonblocking socket, scripted: reads return the queued chunks (at most what is asked,
    /// the rest stays), then `WouldBlock`; writes take at most `write_cap` bytes per call.
    struct Script {
        inbox: VecDeque<Vec<u8>>,
        written: Vec<u8>,
        write_cap: usize,
        reads: usize,
    }

    impl Script {
        fn new(chunks: &[&[u8]], write_cap: usize) -> Script {
            Script { inbox: chunks.iter().map(|c| c.to_vec()).collect(), written: Vec::new(), write_cap, reads: 0 }
        }
    }

    impl Read for &mut Script {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.reads += 1;
            let Some(chunk) = self.inbox.front_mut() else { return Err(ErrorKind::WouldBlock.into()) };
            let n = buf.len().min(chunk.len());
            buf[..n].copy_from_slice(&chunk[..n]);
            chunk.drain(..n);
            if chunk.is_empty() {
                self.inbox.pop_front();
            }
            Ok(n)
        }
    }

    impl Write for &mut Script {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf.len().min(self.write_cap);
            self.written.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    const TARGET: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 3), 0x1f90);
    const SUCCESS: [u8; 10] = [5, 0, 0, 1, 0, 0, 0, 0, 0, 0];

    /// Drives like the raw loop: one call per (readable) event, at most `limit` events.
    fn run(x: &mut Exchange, s: &mut Script, limit: usize) -> Step {
        x.connected();
        for _ in 0..limit {
            match x.drive(&mut *s, true) {
                Step::Pending => {}
                end => return end,
            }
        }
        Step::Pending
    }

    #[test]
    fn sends_exactly_the_greeting_and_an_ipv4_connect() {
        let mut s = Script::new(&[&[5, 0], &SUCCESS], 64);
        let mut x = Exchange::new(TARGET);
        assert_eq!(x.drive(&mut s, true), Step::Pending, "nothing before the connect is confirmed");
        assert!(s.written.is_empty());
        assert_eq!(run(&mut x, &mut s, 3), Step::Done);
        assert_eq!(s.written, [5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 3, 0x1f, 0x90]);
        // One read per reply: none tried after a write, none beyond the exact length.
        assert_eq!(s.reads, 2);
    }

    #[test]
    fn partial_writes_and_byte_by_byte_replies() {
        let chunks: Vec<[u8; 1]> = [5u8, 0].iter().chain(&SUCCESS).map(|&b| [b]).collect();
        let chunks: Vec<&[u8]> = chunks.iter().map(|c| &c[..]).collect();
        let mut s = Script::new(&chunks, 1);
        let mut x = Exchange::new(TARGET);
        assert_eq!(run(&mut x, &mut s, 40), Step::Done);
        assert_eq!(s.written, [5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 3, 0x1f, 0x90]);
    }

    #[test]
    fn reads_exactly_the_reply_and_leaves_the_targets_bytes() {
        let mut reply = SUCCESS.to_vec();
        reply.extend_from_slice(b"peer");
        let mut s = Script::new(&[&[5, 0, 9], &reply], 64);
        let mut x = Exchange::new(TARGET);
        // The method reply is read at its length: the third byte stays, and is then taken as
        // the start of the CONNECT reply (version 9), which fails.
        assert_eq!(run(&mut x, &mut s, 3), Step::Failed);
        let mut s = Script::new(&[&[5, 0], &reply], 64);
        let mut x = Exchange::new(TARGET);
        assert_eq!(run(&mut x, &mut s, 3), Step::Done);
        assert_eq!(s.inbox, [b"peer".to_vec()], "the target's bytes stay in the socket");
    }

    #[test]
    fn reads_only_on_readable_events() {
        let mut s = Script::new(&[&[5, 0], &SUCCESS], 64);
        let mut x = Exchange::new(TARGET);
        x.connected();
        assert_eq!(x.drive(&mut s, false), Step::Pending);
        assert_eq!(x.drive(&mut s, false), Step::Pending);
        assert_eq!((s.reads, s.written.len()), (0, 3), "greeting written, no read tried");
        assert_eq!(x.drive(&mut s, true), Step::Pending);
        assert_eq!((s.reads, s.written.len()), (1, 13), "method reply read, CONNECT written at once");
        assert_eq!(x.drive(&mut s, true), Step::Done);
        assert_eq!(x.drive(&mut s, true), Step::Done, "stays done");
        assert_eq!(s.reads, 2);
    }

    #[test]
    fn every_bad_reply_fails() {
        let cases: [(&[u8], &[u8]); 8] = [
            (&[5, 0xff], &SUCCESS),                     // no acceptable method
            (&[5, 2], &SUCCESS),                        // a method not offered
            (&[4, 0], &SUCCESS),                        // not SOCKS5
            (&[5, 0], &[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]), // reply 5: the target refused
            (&[5, 0], &[5, 1, 0, 1, 0, 0, 0, 0, 0, 0]), // reply 1: general failure
            (&[5, 0], &[4, 0, 0, 1, 0, 0, 0, 0, 0, 0]), // version
            (&[5, 0], &[5, 0, 7, 1, 0, 0, 0, 0, 0, 0]), // reserved byte
            (&[5, 0], &[5, 0, 0, 3, 0, 0, 0, 0, 0, 0]), // not an IPv4 bound address
        ];
        for (method, reply) in cases {
            let mut s = Script::new(&[method, reply], 64);
            assert_eq!(run(&mut Exchange::new(TARGET), &mut s, 4), Step::Failed, "{method:?} {reply:?}");
        }
        let mut s = Script::new(&[&[5, 0], &SUCCESS[..6]], 64);
        let mut x = Exchange::new(TARGET);
        assert_eq!(run(&mut x, &mut s, 4), Step::Pending, "a truncated reply waits");
        s.inbox.push_back(Vec::new()); // end of stream: a read of 0
        assert_eq!(x.drive(&mut s, true), Step::Failed, "and fails when the proxy closes");
    }

    /// End to end through a spawned microsocks to a loopback listener (skipped when microsocks
    /// is not installed).
    #[test]
    fn through_a_spawned_microsocks() {
        let m = match Microsocks::start() {
            Ok(m) => m,
            Err(e) => return eprintln!("SKIPPED: {e}"),
        };
        let target = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let SocketAddr::V4(to) = target.local_addr().unwrap() else { unreachable!() };
        let s = TcpStream::connect(m.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut x = Exchange::new(to);
        x.connected();
        let mut step = Step::Pending;
        for _ in 0..4 {
            step = x.drive(&s, true);
            if step != Step::Pending {
                break;
            }
        }
        assert_eq!(step, Step::Done);
        let (mut peer, _) = target.accept().unwrap();
        peer.write_all(b"hi").unwrap();
        let mut got = [0u8; 2];
        (&s).read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hi", "the socket is a tunnel to the target");
        let child = m.child.id();
        drop(m);
        assert!(std::fs::read_to_string(format!("/proc/{child}/status")).is_err(), "microsocks is gone after drop");
    }
}
