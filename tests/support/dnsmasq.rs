//! DNS servers for tests, all on 127.0.0.1: a real one (Debian's `dnsmasq`, package
//! `dnsmasq-base`), a scripted responder that answers every query wrongly twice before
//! answering it right, and a silent socket that never answers.
//!
//! `Dnsmasq::start` returns `None`, after saying so on stderr, only when the binary is missing
//! and `CONNMGR_REQUIRE_SERVERS` is not set (CI sets it, so a missing server fails there). It is
//! ready when it has answered a query, within a bounded time; it is killed on drop.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long dnsmasq gets to start answering.
const READY_WITHIN: Duration = Duration::from_secs(10);

/// A running dnsmasq on 127.0.0.1, UDP and TCP on the same port.
pub struct Dnsmasq {
    child: Child,
    pub addr: SocketAddr,
}

fn find_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|dir| dir.join("dnsmasq"))
        .find(|candidate| candidate.is_file())
}

impl Dnsmasq {
    /// Starts dnsmasq answering only from `records` (dnsmasq options such as
    /// `--host-record=name,127.0.0.5`), authoritative for the `test` domain (unknown names there
    /// are NXDOMAIN, others REFUSED), with a TTL of 60 s on local answers.
    pub fn start(records: &[String]) -> Option<Dnsmasq> {
        let Some(binary) = find_binary() else {
            if std::env::var_os("CONNMGR_REQUIRE_SERVERS").is_some() {
                panic!("dnsmasq not found, and CONNMGR_REQUIRE_SERVERS is set (apt-get install dnsmasq-base)");
            }
            eprintln!("SKIPPED: dnsmasq not found (apt-get install dnsmasq-base); set CONNMGR_REQUIRE_SERVERS to fail instead");
            return None;
        };
        // A free port can be taken between our probe and dnsmasq's bind: try a few.
        let mut last_failure = String::new();
        for _ in 0..5 {
            let port = free_port();
            let mut child = Command::new(&binary)
                .args([
                    "--keep-in-foreground",
                    "--conf-file=/dev/null",
                    "--no-resolv",
                    "--no-hosts",
                    "--pid-file=",
                    "--bind-interfaces",
                    "--listen-address=127.0.0.1",
                    "--log-facility=-",
                    "--local=/test/",
                    "--local-ttl=60",
                ])
                .arg(format!("--port={port}"))
                .args(records)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn dnsmasq");
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            match wait_ready(&mut child, addr) {
                Ok(()) => return Some(Dnsmasq { child, addr }),
                Err(why) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let mut stderr = String::new();
                    if let Some(mut pipe) = child.stderr.take() {
                        let _ = pipe.read_to_string(&mut stderr);
                    }
                    last_failure = format!("{why}; dnsmasq said: {stderr}");
                }
            }
        }
        panic!("dnsmasq did not start: {last_failure}");
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr()).expect("probe a free port").port()
}

/// Queries `ready.probe` (any reply will do, REFUSED included) until dnsmasq answers, it exits,
/// or `READY_WITHIN` passes.
fn wait_ready(child: &mut Child, addr: SocketAddr) -> Result<(), String> {
    let socket = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    socket.set_read_timeout(Some(Duration::from_millis(50))).map_err(|e| e.to_string())?;
    let query = query_bytes(0x5EED, "ready.probe", 1);
    let started = Instant::now();
    while started.elapsed() < READY_WITHIN {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("dnsmasq exited with {status}"));
        }
        let _ = socket.send_to(&query, addr);
        let mut buf = [0u8; 512];
        if let Ok((n, from)) = socket.recv_from(&mut buf) {
            if from == addr && n >= 2 && buf[..2] == [0x5E, 0xED] {
                return Ok(());
            }
        }
    }
    Err(format!("no answer within {READY_WITHIN:?}"))
}

/// A standard query, laid out by hand (RFC 1035 4.1): independent of the crate's codec.
pub fn query_bytes(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut msg = Vec::new();
    for v in [id, 0x0100, 1, 0, 0, 0] {
        msg.extend_from_slice(&v.to_be_bytes());
    }
    for label in name.split('.') {
        msg.push(label.len() as u8);
        msg.extend_from_slice(label.as_bytes());
    }
    msg.push(0);
    msg.extend_from_slice(&qtype.to_be_bytes());
    msg.extend_from_slice(&1u16.to_be_bytes());
    msg
}

/// A UDP server that answers each query three times: with the wrong id, then with the right
/// id but another question, then correctly with an A record for `answer`. The two wrong replies
/// must be ignored by the client.
pub struct ScriptedResponder {
    pub addr: SocketAddr,
    pub answer: Ipv4Addr,
    queries: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ScriptedResponder {
    /// Serves until dropped, or for 30 s at most.
    pub fn start(answer: Ipv4Addr) -> ScriptedResponder {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind the scripted responder");
        socket.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        let addr = socket.local_addr().unwrap();
        let queries = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, done) = (Arc::clone(&queries), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            let mut buf = [0u8; 512];
            while !done.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(30) {
                let Ok((n, from)) = socket.recv_from(&mut buf) else { continue };
                if n < 17 {
                    continue;
                }
                count.fetch_add(1, Ordering::SeqCst);
                let query = &buf[..n];
                let right = a_reply(query, answer);
                let mut wrong_id = right.clone();
                wrong_id[0] ^= 0xFF;
                let mut wrong_question = right.clone();
                wrong_question[13] ^= 0x01; // the first letter of the name
                for reply in [wrong_id, wrong_question, right] {
                    let _ = socket.send_to(&reply, from);
                }
            }
        });
        ScriptedResponder { addr, answer, queries, stop, thread: Some(thread) }
    }

    /// Queries received so far.
    pub fn queries(&self) -> usize {
        self.queries.load(Ordering::SeqCst)
    }
}

impl Drop for ScriptedResponder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `query` turned into a reply with one A record (owner: a pointer to the question).
fn a_reply(query: &[u8], ip: Ipv4Addr) -> Vec<u8> {
    let mut msg = query.to_vec();
    msg[2] |= 0x80; // QR
    msg[3] |= 0x80; // RA
    msg[6..8].copy_from_slice(&1u16.to_be_bytes());
    msg.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4]);
    msg.extend_from_slice(&ip.octets());
    msg
}

/// A UDP socket on 127.0.0.1 that never reads nor answers: a server that has gone quiet.
pub struct SilentServer {
    socket: UdpSocket,
}

impl SilentServer {
    pub fn start() -> SilentServer {
        SilentServer { socket: UdpSocket::bind("127.0.0.1:0").expect("bind the silent server") }
    }

    pub fn addr(&self) -> SocketAddr {
        self.socket.local_addr().unwrap()
    }
}
