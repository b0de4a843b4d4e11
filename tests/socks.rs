//! `proxy::Handshake` and `tor::tor_lookup_ip` over real loopback sockets, against the scripted
//! SOCKS5 responder of `support/socks_responder.rs` (and, in an ignored test, Debian's
//! `microsocks`). The CONNECT client here is the smallest blocking driver of the handshake.
//!
//! Every wait is bounded by socket timeouts; nothing sleeps.

#[path = "support/socks_responder.rs"]
mod socks_responder;

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use connmgr::proxy::{Auth, Credentials, Fault, Handshake, Malformed, Phase, ProxyError, SocksError, Step};
use connmgr::target::Target;
use connmgr::tor::{tor_lookup_ip, TorError};
use socks_responder::{success_reply, Answer, Dest, Script, Seen, SocksResponder, Then};

/// The longest a test waits for one socket operation.
const LIMIT: Duration = Duration::from_secs(5);
const ONION: &str = "duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion";

/// Connects to `proxy` and runs a CONNECT handshake to `target`, blocking, with `read_timeout`
/// per read.
fn dial_with(
    proxy: SocketAddr,
    target: &Target,
    auth: Auth<'_>,
    read_timeout: Duration,
) -> Result<(TcpStream, Step), ProxyError> {
    let mut stream = TcpStream::connect_timeout(&proxy, LIMIT).map_err(ProxyError::Unreachable)?;
    stream.set_read_timeout(Some(read_timeout)).map_err(ProxyError::Io)?;
    stream.set_write_timeout(Some(LIMIT)).map_err(ProxyError::Io)?;
    let mut socks = Handshake::connect(target, auth);
    // Every turn moves at least one byte or ends the handshake.
    for _ in 0..=Handshake::BUFFER_LEN * 2 {
        match socks.step()? {
            Step::Write => {
                let n = stream.write(socks.to_send()).map_err(ProxyError::Io)?;
                socks.sent(n)?;
            }
            Step::Read => {
                let n = stream.read(socks.recv_buf()).map_err(ProxyError::Io)?;
                socks.received(n)?;
            }
            done => return Ok((stream, done)),
        }
    }
    panic!("handshake did not end: {socks:?}");
}

fn dial(proxy: SocketAddr, target: &str, auth: Auth<'_>) -> Result<(TcpStream, Step), ProxyError> {
    dial_with(proxy, &target.parse().unwrap(), auth, LIMIT)
}

fn socks_err(result: Result<(TcpStream, Step), ProxyError>) -> SocksError {
    match result {
        Err(ProxyError::Socks(e)) => e,
        other => panic!("expected a SOCKS error, got {other:?}"),
    }
}

/// A one-connection echo server listening on 127.0.0.1 and [::1] at the same port.
fn echo_server() -> (u16, Vec<thread::JoinHandle<()>>) {
    for _ in 0..20 {
        let v4 = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = v4.local_addr().unwrap().port();
        let Ok(v6) = TcpListener::bind(SocketAddr::from((Ipv6Addr::LOCALHOST, port))) else { continue };
        let serve = |listener: TcpListener| {
            thread::spawn(move || {
                listener.set_nonblocking(false).unwrap();
                // Woken by the test's own connection or by `wake` below.
                let Ok((mut conn, _)) = listener.accept() else { return };
                conn.set_read_timeout(Some(LIMIT)).unwrap();
                let mut buf = [0_u8; 64];
                while let Ok(n @ 1..) = conn.read(&mut buf) {
                    if conn.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            })
        };
        return (port, vec![serve(v4), serve(v6)]);
    }
    panic!("no port free on both loopbacks");
}

/// Ends the echo threads whose listener got no connection.
fn finish_echo(port: u16, threads: Vec<thread::JoinHandle<()>>) {
    for ip in [IpAddr::from([127, 0, 0, 1]), IpAddr::V6(Ipv6Addr::LOCALHOST)] {
        let _ = TcpStream::connect_timeout(&SocketAddr::new(ip, port), Duration::from_millis(200));
    }
    for t in threads {
        t.join().unwrap();
    }
}

fn echo_through(stream: &mut TcpStream) {
    stream.write_all(b"ping").unwrap();
    let mut back = [0_u8; 4];
    stream.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"ping");
}

#[test]
fn connect_requests_carry_each_kind_of_target() {
    let proxy = SocksResponder::start(vec![Script::no_auth()]);
    let cases = [
        ("192.0.2.1:8333", 1, Dest::Ip("192.0.2.1".parse().unwrap())),
        ("[2001:db8::1]:18333", 4, Dest::Ip("2001:db8::1".parse().unwrap())),
        ("Seed.Example.org:8333", 3, Dest::Domain("seed.example.org".into())),
        (&format!("{}:8333", ONION.to_uppercase()), 3, Dest::Domain(ONION.into())),
    ];
    for (i, (target, atyp, dest)) in cases.into_iter().enumerate() {
        let (_stream, step) = dial(proxy.addr(), target, Auth::None).unwrap();
        assert_eq!(step, Step::Connected { bound: Some("127.0.0.1:1080".parse().unwrap()) });
        let seen = &proxy.seen()[i];
        assert_eq!(seen.methods, [0], "no-auth only");
        assert_eq!(seen.credentials, None);
        assert_eq!((seen.command, seen.atyp), (Some(1), Some(atyp)), "{target}");
        assert_eq!(seen.dest.as_ref(), Some(&dest), "{target}: names go unresolved");
        assert_eq!(seen.port, Some(target.rsplit(':').next().unwrap().parse().unwrap()));
    }
}

#[test]
fn credentials_and_isolation() {
    let proxy = SocksResponder::start(vec![Script::password()]);
    let creds = Credentials::new("alice", "s3cret").unwrap();
    dial(proxy.addr(), "1.2.3.4:1", Auth::Password(&creds)).unwrap();
    dial(proxy.addr(), "1.2.3.4:1", Auth::Isolate(0xdead_beef)).unwrap();
    dial(proxy.addr(), "1.2.3.4:1", Auth::Isolate(0xfeed)).unwrap();
    let seen = proxy.seen();
    assert!(seen.iter().all(|s| s.methods == [2]), "only username/password offered: {seen:?}");
    assert_eq!(seen[0].credentials, Some((b"alice".to_vec(), b"s3cret".to_vec())));
    let hex = |s: &str| Some((s.as_bytes().to_vec(), s.as_bytes().to_vec()));
    assert_eq!(seen[1].credentials, hex("00000000deadbeef"));
    assert_eq!(seen[2].credentials, hex("000000000000feed"));
}

#[test]
fn a_proxy_cannot_skip_authentication() {
    let proxy = SocksResponder::start(vec![Script::no_auth()]);
    let err = socks_err(dial(proxy.addr(), "1.2.3.4:1", Auth::Isolate(1)));
    assert_eq!(err, SocksError::UnexpectedMethod(0));
    assert!(err.is_proxy_fault());
    assert_eq!(proxy.seen()[0].command, None, "no request was sent");
}

#[test]
fn refusals_of_us() {
    let proxy = SocksResponder::start(vec![
        Script::password().auth(Answer::SendAndClose(vec![1, 1])),
        Script::no_auth().method(Answer::SendAndClose(vec![5, 0xFF])),
    ]);
    let creds = Credentials::new("alice", "wrong").unwrap();
    assert_eq!(socks_err(dial(proxy.addr(), "1.2.3.4:1", Auth::Password(&creds))), SocksError::AuthRejected(1));
    assert_eq!(socks_err(dial(proxy.addr(), "1.2.3.4:1", Auth::None)), SocksError::NoAcceptableMethod);
}

#[test]
fn reply_codes_over_the_wire() {
    let scripts = (1..=8).map(|code| Script::no_auth().reply_code(code)).collect();
    let proxy = SocksResponder::start(scripts);
    for code in 1..=8 {
        let err = socks_err(dial(proxy.addr(), "peer.example:8333", Auth::None));
        assert_eq!(err.reply_code(), Some(code));
        let target_fault = matches!(code, 3..=6);
        assert_eq!(err.fault() == Fault::Target, target_fault, "code {code}");
    }
    // The target refusing is the target's fault; the proxy being down is the proxy's.
    let refused = ProxyError::from(SocksError::ConnectionRefused);
    assert_eq!(refused.fault(), Fault::Target);
    let down = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let err = dial(down, "peer.example:8333", Auth::None).unwrap_err();
    assert!(matches!(&err, ProxyError::Unreachable(e) if e.kind() == io::ErrorKind::ConnectionRefused), "{err:?}");
    assert!(err.is_proxy_fault());
}

#[test]
fn malformed_and_truncated_replies() {
    let proxy = SocksResponder::start(vec![
        Script::no_auth().reply(Answer::SendAndClose(vec![5, 0, 0, 9, 1, 2, 3, 4, 0, 0])),
        Script::no_auth().reply(Answer::SendAndClose(vec![5, 0, 0, 1, 127, 0])),
        Script::no_auth().reply(Answer::SendAndClose(vec![])),
        Script::no_auth().method(Answer::SendAndClose(b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec())),
    ]);
    let dial = || socks_err(dial(proxy.addr(), "1.2.3.4:1", Auth::None));
    assert_eq!(dial(), SocksError::Malformed(Malformed::AddressType(9)));
    assert_eq!(dial(), SocksError::Closed { phase: Phase::Reply, received: 6 });
    assert_eq!(dial(), SocksError::Closed { phase: Phase::Reply, received: 0 });
    assert_eq!(dial(), SocksError::BadVersion { phase: Phase::Method, version: b'H' });
}

#[test]
fn a_silent_proxy_times_out() {
    let proxy = SocksResponder::start(vec![Script::no_auth().reply(Answer::Silent)]);
    let started = Instant::now();
    let err = dial_with(proxy.addr(), &"1.2.3.4:1".parse().unwrap(), Auth::None, Duration::from_millis(200));
    let err = err.unwrap_err();
    assert!(
        matches!(&err, ProxyError::Io(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)),
        "{err:?}"
    );
    assert!(started.elapsed() < LIMIT);
    assert_eq!(proxy.seen()[0].port, Some(1), "the request arrived; the reply never did");
}

#[test]
fn peer_bytes_in_the_reply_segment_stay_for_the_user() {
    let proxy = SocksResponder::start(vec![Script::no_auth().then(Then::PeerBytes(b"version message".to_vec()))]);
    let (mut stream, step) = dial(proxy.addr(), "1.2.3.4:8333", Auth::None).unwrap();
    assert!(matches!(step, Step::Connected { .. }));
    let mut first = [0_u8; 15];
    stream.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"version message");
}

#[test]
fn relay_to_a_real_target() {
    let (port, echo) = echo_server();
    let target = SocketAddr::from(([127, 0, 0, 1], port));
    let proxy = SocksResponder::start(vec![Script::no_auth().then(Then::Relay(target))]);
    let (mut stream, _) = dial(proxy.addr(), &target.to_string(), Auth::None).unwrap();
    echo_through(&mut stream);
    drop(stream);
    finish_echo(port, echo);
}

#[test]
fn tor_lookup_through_the_responder() {
    let v6: IpAddr = "2001:db8::7".parse().unwrap();
    let proxy = SocksResponder::start(vec![
        Script::no_auth().reply(Answer::Send(success_reply("192.0.2.7:0".parse().unwrap()))),
        Script::no_auth().reply(Answer::Send(success_reply(SocketAddr::new(v6, 0)))),
        Script::no_auth().reply_code(4),
        Script::no_auth().reply_code(7),
    ]);
    let lookup = |host: &str| tor_lookup_ip(host, proxy.addr(), LIMIT);
    assert_eq!(lookup("seed.example.org").unwrap(), ["192.0.2.7".parse::<IpAddr>().unwrap()]);
    assert_eq!(lookup("v6.example").unwrap(), [v6]);
    assert!(matches!(lookup("gone.example"), Err(TorError::Socks(SocksError::HostUnreachable))));
    // A proxy without Tor's extension.
    assert!(matches!(lookup("a.example"), Err(TorError::Socks(SocksError::CommandNotSupported))));
    let seen: Vec<Seen> = proxy.seen();
    assert_eq!(seen[0].command, Some(0xF0));
    assert_eq!(seen[0].dest, Some(Dest::Domain("seed.example.org".into())));
    assert_eq!(seen[1].dest, Some(Dest::Domain("v6.example".into())));
}

#[test]
fn dropping_the_responder_ends_held_connections() {
    let proxy = SocksResponder::start(vec![Script::no_auth().method(Answer::Silent)]);
    let mut stream = TcpStream::connect_timeout(&proxy.addr(), LIMIT).unwrap();
    stream.write_all(&[5, 1, 0]).unwrap();
    stream.set_read_timeout(Some(LIMIT)).unwrap();
    let started = Instant::now();
    drop(proxy);
    // The server side is gone: end of stream (or a reset), well before any timeout.
    let mut buf = [0_u8; 1];
    assert!(matches!(stream.read(&mut buf), Ok(0) | Err(_)));
    assert!(started.elapsed() < LIMIT);
}

// ---- Debian's microsocks, when installed (`apt-get install microsocks`) ----

/// A microsocks process on 127.0.0.1; killed (by its pid) when dropped.
struct Microsocks {
    child: std::process::Child,
    addr: SocketAddr,
}

impl Microsocks {
    /// Starts `microsocks -i 127.0.0.1 -p <free port> <args>` and waits, by connecting, until it
    /// listens. It prints nothing when ready, and `-p 0` would hide the port it took.
    fn start(args: &[&str]) -> Microsocks {
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let mut child = std::process::Command::new("microsocks")
                .args(["-i", "127.0.0.1", "-p", &port.to_string()])
                .args(args)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("microsocks is installed (apt-get install microsocks)");
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let deadline = Instant::now() + LIMIT;
            while Instant::now() < deadline {
                if child.try_wait().unwrap().is_some() {
                    break; // The port was taken in the meantime: try another.
                }
                if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                    return Microsocks { child, addr };
                }
                thread::yield_now();
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("microsocks did not start");
    }
}

impl Drop for Microsocks {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
#[ignore = "needs Debian's microsocks: cargo test --test socks -- --ignored"]
fn microsocks_interop() {
    let open = Microsocks::start(&[]);
    for target in ["127.0.0.1", "[::1]", "localhost"] {
        let (port, echo) = echo_server();
        let (mut stream, step) = dial(open.addr, &format!("{target}:{port}"), Auth::None).unwrap();
        assert!(matches!(step, Step::Connected { .. }), "{target}: {step:?}");
        echo_through(&mut stream);
        drop(stream);
        finish_echo(port, echo);
    }
    // Nothing listens on this port: the target refuses, and the proxy says so.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let err = socks_err(dial(open.addr, &closed.to_string(), Auth::None));
    assert_eq!(err, SocksError::ConnectionRefused);
    assert_eq!(err.fault(), Fault::Target);
    // Without -u/-P it refuses username/password, so Tor-style isolation needs a real Tor.
    assert_eq!(socks_err(dial(open.addr, "127.0.0.1:1", Auth::Isolate(1))), SocksError::NoAcceptableMethod);
    drop(open);

    let guarded = Microsocks::start(&["-u", "user", "-P", "pass"]);
    let (port, echo) = echo_server();
    let good = Credentials::new("user", "pass").unwrap();
    let (mut stream, _) = dial(guarded.addr, &format!("127.0.0.1:{port}"), Auth::Password(&good)).unwrap();
    echo_through(&mut stream);
    drop(stream);
    finish_echo(port, echo);
    let bad = Credentials::new("user", "nope").unwrap();
    assert!(matches!(socks_err(dial(guarded.addr, "127.0.0.1:1", Auth::Password(&bad))), SocksError::AuthRejected(_)));
    assert_eq!(socks_err(dial(guarded.addr, "127.0.0.1:1", Auth::None)), SocksError::NoAcceptableMethod);
}
