//! Name resolution through Tor: the SOCKS5 `RESOLVE` extension (btcd's `TorLookupIP`), hardened.
//!
//! Tor's SOCKS port accepts a command `0xF0` that resolves a host name over the Tor network and
//! answers with an address instead of opening a stream; btcd uses it so DNS seeding and
//! `--connect` names never leak to the local resolver. [`tor_lookup_ip`] is a blocking client for
//! a worker thread; it runs the same SOCKS5 handshake as the reactor, whose non-blocking
//! lookups (`resolve`, answered in `Handler::on_resolved`) need no thread.
//!
//! The bytes exchanged are btcd's, but the client does better where btcd is fragile :
//! - replies are read exactly, however they are split across reads, so a one-byte greeting
//!   reply is *not* taken as "no authentication" (btcd reads once and checks a zero-filled
//!   buffer);
//! - host names that are empty or longer than 255 bytes are refused with a typed error (btcd
//!   writes the length as one byte, so a 256-byte name silently goes out with length 0);
//! - the whole exchange has a deadline (btcd has no timeout at all);
//! - an IPv6 answer (address type 4) is returned (btcd is IPv4-only and reports
//!   `tor general error` for it), and the reply's two port bytes are read and discarded;
//! - every error reply code comes back as its own [`ProxyError`] variant (btcd's HEAD shadows the error
//!   variable for codes 1..=9 and returns no address and *no error*).

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::proxy::{Auth, Handshake, ProxyError, RequestError, Step};
use crate::ResolveError;

impl From<RequestError> for ResolveError {
    fn from(e: RequestError) -> Self {
        match e {
            RequestError::NameTooLong(len) => ResolveError::NameLength(len),
            // EmptyName, and anything a later version adds.
            _ => ResolveError::NameLength(0),
        }
    }
}

/// Lets [`tor_lookup_ip`] serve directly as a DNS-seed lookup function, which reports
/// `io::Error`: an I/O failure comes back as the OS reported it, anything else is wrapped with a
/// fitting kind (`ConnectionRefused` only for the proxy's reply 5).
impl From<ResolveError> for io::Error {
    fn from(e: ResolveError) -> Self {
        let kind = match &e {
            ResolveError::NameLength(_) => io::ErrorKind::InvalidInput,
            ResolveError::Proxy(ProxyError::Unreachable(inner) | ProxyError::Io(inner)) => {
                return match inner.raw_os_error() {
                    Some(code) => io::Error::from_raw_os_error(code),
                    None => io::Error::new(inner.kind(), inner.clone()),
                };
            }
            ResolveError::Proxy(socks) => socks.io_kind(),
            ResolveError::TimedOut(_) => io::ErrorKind::TimedOut,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

/// One budget for the whole exchange, so a proxy trickling bytes cannot stretch it.
struct Deadline {
    total: Duration,
    /// `None` when `now + total` does not fit an `Instant`: then every step gets `total`.
    end: Option<Instant>,
}

impl Deadline {
    fn new(total: Duration) -> Self {
        Deadline { total, end: Instant::now().checked_add(total) }
    }

    /// The time left, never zero (std rejects a zero socket timeout).
    fn remaining(&self) -> Result<Duration, ResolveError> {
        let left = match self.end {
            Some(end) => end.saturating_duration_since(Instant::now()),
            None => self.total,
        };
        if left.is_zero() {
            Err(ResolveError::TimedOut(self.total))
        } else {
            Ok(left)
        }
    }

    /// A socket timeout surfaces as `WouldBlock` on Unix and `TimedOut` on Windows; any other
    /// failure is `wrap`ped (`ProxyError::Unreachable` for the connect, `Io` after it).
    fn classify(&self, e: io::Error, wrap: fn(crate::IoError) -> ProxyError) -> ResolveError {
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ResolveError::TimedOut(self.total),
            _ => ResolveError::Proxy(wrap(e.into())),
        }
    }
}

/// A failure reading from or writing to the proxy.
fn io_failed(e: io::Error) -> ResolveError {
    ResolveError::Proxy(ProxyError::Io(e.into()))
}

/// Runs `socks` over a blocking stream: reads never go past the proxy's reply.
fn drive(stream: &mut TcpStream, socks: &mut Handshake, deadline: &Deadline) -> Result<Step, ResolveError> {
    loop {
        let result = match socks.step()? {
            Step::Write => {
                stream.set_write_timeout(Some(deadline.remaining()?)).map_err(io_failed)?;
                match stream.write(socks.to_send()) {
                    Ok(0) => return Err(io_failed(io::ErrorKind::WriteZero.into())),
                    Ok(n) => socks.sent(n),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(deadline.classify(e, ProxyError::Io)),
                }
            }
            Step::Read => {
                stream.set_read_timeout(Some(deadline.remaining()?)).map_err(io_failed)?;
                match stream.read(socks.recv_buf()) {
                    // Ok(0), the end of the stream, fails the handshake with what had arrived.
                    Ok(n) => socks.received(n),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(deadline.classify(e, ProxyError::Io)),
                }
            }
            done => return Ok(done),
        };
        result?;
    }
}

/// Resolves `host` through the Tor SOCKS proxy at `proxy` (btcd `TorLookupIP`), within `timeout`.
///
/// **This blocks** for up to `timeout` (connect, greeting and reply together): call it on a
/// worker thread, never on the reactor thread. The proxy connection is closed on every path,
/// success or error, when the stream drops. Returns one address, IPv4 or IPv6, as a `Vec` so it
/// fits where a resolver's list is expected; `.onion` names are refused by Tor itself, so callers
/// (like btcd's server) should not send them.
///
/// # Errors
///
/// The reactor's [`ResolveError`], as `resolve` reports it in `Handler::on_resolved`:
/// [`ResolveError::Proxy`] with [`ProxyError::Unreachable`](crate::proxy::ProxyError::Unreachable) when the proxy cannot be reached,
/// [`ProxyError::Io`](crate::proxy::ProxyError::Io) when the connection fails, and the other [`ProxyError`](crate::proxy::ProxyError) variants for an
/// error reply or a broken one; [`ResolveError::TimedOut`] when the deadline passes (a zero `timeout` fails at
/// once). A host name that is empty or longer than 255 bytes fails before any connection is
/// made, with [`ResolveError::NameLength`].
///
/// # Examples
///
/// Against a stand-in proxy on loopback that answers like Tor:
///
/// ```
/// use connmgr::blocking::tor_lookup_ip;
/// use std::io::{Read, Write};
/// use std::net::TcpListener;
/// use std::time::Duration;
///
/// let proxy = TcpListener::bind("127.0.0.1:0")?;
/// let addr = proxy.local_addr()?;
/// let fake_tor = std::thread::spawn(move || -> std::io::Result<()> {
///     let (mut conn, _) = proxy.accept()?;
///     let mut greeting = [0; 3];
///     conn.read_exact(&mut greeting)?;
///     assert_eq!(greeting, [0x05, 0x01, 0x00]); // SOCKS5, one method: no authentication
///     conn.write_all(&[0x05, 0x00])?; // accepted
///     let mut request = [0; 7 + "seed.example.org".len()];
///     conn.read_exact(&mut request)?;
///     assert_eq!(request[..5], [0x05, 0xF0, 0x00, 0x03, 16]); // RESOLVE a 16-byte name
///     conn.write_all(&[0x05, 0x00, 0x00, 0x01, 192, 0, 2, 7, 0x00, 0x00])
/// });
///
/// let ips = tor_lookup_ip("seed.example.org", addr, Duration::from_secs(5))?;
/// assert_eq!(ips, ["192.0.2.7".parse::<std::net::IpAddr>()?]);
/// fake_tor.join().unwrap()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn tor_lookup_ip(host: &str, proxy: SocketAddr, timeout: Duration) -> Result<Vec<IpAddr>, ResolveError> {
    let mut socks = Handshake::resolve(host, Auth::None)?;
    let deadline = Deadline::new(timeout);
    let mut stream = TcpStream::connect_timeout(&proxy, deadline.remaining()?)
        .map_err(|e| deadline.classify(e, ProxyError::Unreachable))?;
    match drive(&mut stream, &mut socks, &deadline)? {
        Step::Resolved(ip) => Ok(vec![ip]),
        // A RESOLVE handshake ends in nothing else.
        Step::Write | Step::Read | Step::Connected { .. } => {
            Err(io_failed(io::Error::other("RESOLVE ended without an address")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::Phase;
    use std::error::Error as StdError;
    use std::net::{Ipv4Addr, Ipv6Addr, TcpListener};
    use std::thread;

    const IPV4_REPLY: [u8; 10] = [5, 0, 0, 1, 192, 0, 2, 7, 0, 0];
    const GREETING: [u8; 3] = [5, 1, 0];

    fn ipv6_reply() -> Vec<u8> {
        let mut reply = vec![5, 0, 0, 4];
        reply.extend_from_slice(&"2001:db8::7".parse::<Ipv6Addr>().unwrap().octets());
        reply.extend_from_slice(&[0x20, 0x8d]);
        reply
    }

    /// btcd's RESOLVE request (both port bytes present).
    fn resolve_request(host: &str) -> Vec<u8> {
        let mut request = vec![5, 0xF0, 0, 3, host.len() as u8];
        request.extend_from_slice(host.as_bytes());
        request.extend_from_slice(&[0, 0]);
        request
    }

    fn socks(e: ProxyError) -> ResolveError {
        ResolveError::Proxy(e)
    }

    #[test]
    fn error_conversions() {
        fn assert_traits<T: StdError + Send + Sync + 'static>() {}
        assert_traits::<ResolveError>();

        let pipe = ResolveError::Proxy(ProxyError::Io(io::Error::new(io::ErrorKind::BrokenPipe, "pipe gone").into()));
        assert!(pipe.source().is_some());
        let general = socks(ProxyError::GeneralFailure);
        assert!(general.source().is_none());
        assert!(matches!(general, ResolveError::Proxy(e) if e.reply_code() == Some(1)));
        assert_eq!(ResolveError::NameLength(0).to_string(), "empty host name for tor resolve");

        let back: io::Error = pipe.into();
        assert_eq!(back.kind(), io::ErrorKind::BrokenPipe);
        assert_eq!(back.to_string(), "pipe gone");
        let os: io::Error =
            ResolveError::Proxy(ProxyError::Unreachable(io::Error::from_raw_os_error(111).into())).into();
        assert_eq!(os.raw_os_error(), Some(111), "an OS error comes back as the OS reported it");
        let wrapped: io::Error = socks(ProxyError::HostUnreachable).into();
        assert_eq!(wrapped.to_string(), "SOCKS reply 4: host unreachable");
        let refused: io::Error = socks(ProxyError::ConnectionRefused).into();
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
        let timed: io::Error = ResolveError::TimedOut(Duration::from_millis(5)).into();
        assert_eq!(timed.kind(), io::ErrorKind::TimedOut);
        let invalid: io::Error = socks(ProxyError::UnknownReply(9)).into();
        assert_eq!(invalid.kind(), io::ErrorKind::InvalidData);
        let long: io::Error = ResolveError::NameLength(256).into();
        assert_eq!(long.kind(), io::ErrorKind::InvalidInput);
    }

    // ---- loopback integration: a scripted fake SOCKS5 proxy on 127.0.0.1 ----

    /// Runs `script` on the first connection to a fresh loopback listener.
    fn fake_proxy<F>(script: F) -> (SocketAddr, thread::JoinHandle<()>)
    where
        F: FnOnce(TcpStream) + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            script(stream);
        });
        (addr, handle)
    }

    /// The proxy's side up to the RESOLVE request, checking what the client sent.
    fn serve_until_request(stream: &mut TcpStream, host: &str) {
        let mut greeting = [0_u8; 3];
        stream.read_exact(&mut greeting).unwrap();
        assert_eq!(greeting, GREETING);
        stream.write_all(&[5, 0]).unwrap();
        let want = resolve_request(host);
        let mut got = vec![0_u8; want.len()];
        stream.read_exact(&mut got).unwrap();
        assert_eq!(got, want);
    }

    /// Waits for the client to hang up, proving it closed its end.
    fn wait_for_close(stream: &mut TcpStream) {
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest);
    }

    const TIMEOUT: Duration = Duration::from_secs(2);

    #[test]
    fn lookup_succeeds_and_closes_connection() {
        let (proxy, server) = fake_proxy(|mut s| {
            serve_until_request(&mut s, "seed.example.org");
            s.write_all(&IPV4_REPLY).unwrap();
            wait_for_close(&mut s);
        });
        let ips = tor_lookup_ip("seed.example.org", proxy, TIMEOUT).unwrap();
        assert_eq!(ips, vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7))]);
        server.join().unwrap();
    }

    #[test]
    fn lookup_handles_one_byte_writes_and_ipv6() {
        let (proxy, server) = fake_proxy(|mut s| {
            s.set_nodelay(true).unwrap();
            let mut greeting = [0_u8; 3];
            s.read_exact(&mut greeting).unwrap();
            for b in [5_u8, 0] {
                s.write_all(&[b]).unwrap();
                thread::sleep(Duration::from_millis(2));
            }
            let mut request = vec![0_u8; resolve_request("v6.example").len()];
            s.read_exact(&mut request).unwrap();
            for b in ipv6_reply() {
                s.write_all(&[b]).unwrap();
                thread::sleep(Duration::from_millis(2));
            }
            wait_for_close(&mut s);
        });
        let ips = tor_lookup_ip("v6.example", proxy, TIMEOUT).unwrap();
        assert_eq!(ips, vec!["2001:db8::7".parse::<IpAddr>().unwrap()]);
        server.join().unwrap();
    }

    #[test]
    fn lookup_reports_every_reply_code() {
        let codes = [
            (1, ProxyError::GeneralFailure),
            (2, ProxyError::NotAllowed),
            (3, ProxyError::NetworkUnreachable),
            (4, ProxyError::HostUnreachable),
            (5, ProxyError::ConnectionRefused),
            (6, ProxyError::TtlExpired),
            (7, ProxyError::CommandNotSupported),
            (8, ProxyError::AddressTypeNotSupported),
            (9, ProxyError::UnknownReply(9)),
        ];
        for (code, expected) in codes {
            let (proxy, server) = fake_proxy(move |mut s| {
                serve_until_request(&mut s, "gone.example");
                s.write_all(&[5, code, 0, 1, 0, 0, 0, 0, 0, 0]).unwrap();
                wait_for_close(&mut s);
            });
            // btcd's HEAD returns no address and no error here.
            let err = tor_lookup_ip("gone.example", proxy, TIMEOUT).unwrap_err();
            assert!(matches!(err, ResolveError::Proxy(ref e) if *e == expected), "code {code}: {err:?}");
            server.join().unwrap();
        }
    }

    #[test]
    fn lookup_rejects_garbage_reply() {
        // Something that is not a SOCKS5 proxy at all.
        let (proxy, server) = fake_proxy(|mut s| {
            let mut greeting = [0_u8; 3];
            s.read_exact(&mut greeting).unwrap();
            let _ = s.write_all(b"HTTP/1.0 400 Bad Request\r\n\r\n");
            wait_for_close(&mut s);
        });
        let err = tor_lookup_ip("a.example", proxy, TIMEOUT).unwrap_err();
        let expected = ProxyError::BadVersion { phase: Phase::Method, version: b'H' };
        assert!(matches!(err, ResolveError::Proxy(ref e) if *e == expected), "{err:?}");
        server.join().unwrap();
    }

    #[test]
    fn lookup_rejects_a_domain_answer() {
        // btcd reports `tor general error` for anything but IPv4.
        let (proxy, server) = fake_proxy(|mut s| {
            serve_until_request(&mut s, "a.example");
            s.write_all(&[5, 0, 0, 3, 1, b'x', 0, 0]).unwrap();
            wait_for_close(&mut s);
        });
        let err = tor_lookup_ip("a.example", proxy, TIMEOUT).unwrap_err();
        let expected = ProxyError::DomainForResolve;
        assert!(matches!(err, ResolveError::Proxy(ref e) if *e == expected), "{err:?}");
        server.join().unwrap();
    }

    #[test]
    fn lookup_one_byte_greeting_then_close_is_invalid() {
        let (proxy, server) = fake_proxy(|mut s| {
            let mut greeting = [0_u8; 3];
            s.read_exact(&mut greeting).unwrap();
            s.write_all(&[5]).unwrap();
            // Dropping the stream closes it after one byte.
        });
        let err = tor_lookup_ip("a.example", proxy, TIMEOUT).unwrap_err();
        let expected = ProxyError::Closed { phase: Phase::Method, received: 1 };
        assert!(matches!(err, ResolveError::Proxy(ref e) if *e == expected), "{err:?}");
        server.join().unwrap();
    }

    #[test]
    fn lookup_truncated_address_is_reported() {
        let (proxy, server) = fake_proxy(|mut s| {
            serve_until_request(&mut s, "a.example");
            s.write_all(&IPV4_REPLY[..6]).unwrap();
        });
        let err = tor_lookup_ip("a.example", proxy, TIMEOUT).unwrap_err();
        let expected = ProxyError::Closed { phase: Phase::Reply, received: 6 };
        assert!(matches!(err, ResolveError::Proxy(ref e) if *e == expected), "{err:?}");
        server.join().unwrap();
    }

    #[test]
    fn lookup_times_out_when_proxy_never_answers() {
        let (proxy, server) = fake_proxy(|mut s| {
            let mut greeting = [0_u8; 3];
            s.read_exact(&mut greeting).unwrap();
            // One byte of the method reply, then silence: btcd would take this as "no auth".
            s.write_all(&[5]).unwrap();
            wait_for_close(&mut s);
        });
        let timeout = Duration::from_millis(300);
        let started = Instant::now();
        let err = tor_lookup_ip("a.example", proxy, timeout).unwrap_err();
        let took = started.elapsed();
        assert!(matches!(err, ResolveError::TimedOut(t) if t == timeout), "{err:?}");
        assert!(took >= Duration::from_millis(250), "{took:?}");
        assert!(took < Duration::from_secs(1), "{took:?}");
        // The server sees the client hang up, so the connection was closed on the error path.
        server.join().unwrap();
    }

    #[test]
    fn lookup_connect_refused_is_unreachable() {
        let proxy = {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap()
        };
        let err = tor_lookup_ip("a.example", proxy, TIMEOUT).unwrap_err();
        match err {
            ResolveError::Proxy(ProxyError::Unreachable(e)) => assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused),
            other => panic!("expected Unreachable, got {other:?}"),
        }
    }

    #[test]
    fn lookup_validates_host_before_connecting() {
        // Nothing listens here; a connect attempt would give Unreachable, not NameLength.
        let proxy = {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap()
        };
        assert!(matches!(tor_lookup_ip(&"x".repeat(300), proxy, TIMEOUT), Err(ResolveError::NameLength(300))));
        // Bytes, not characters, count; btcd would send length byte 0 here.
        assert!(matches!(tor_lookup_ip(&"é".repeat(128), proxy, TIMEOUT), Err(ResolveError::NameLength(256))));
        assert!(matches!(tor_lookup_ip("", proxy, TIMEOUT), Err(ResolveError::NameLength(0))));
        assert!(matches!(tor_lookup_ip("a.example", proxy, Duration::ZERO), Err(ResolveError::TimedOut(_))));
    }
}
