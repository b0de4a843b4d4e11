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
//! - every error reply code comes back as its own [`ProxyError`] (btcd's HEAD shadows the error
//!   variable for codes 1..=9 and returns no address and *no error*).

use std::error::Error as StdError;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::proxy::{Auth, Handshake, ProxyError, RequestError, Step};

/// Why a Tor lookup failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum TorError {
    /// The host name is empty (nothing to resolve; btcd would send it anyway).
    EmptyHost,
    /// The host name does not fit the request's one-byte length field.
    HostTooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// The proxy answered with an error code or broke the protocol (btcd's `tor general error`
    /// ... `tor address type not supported`, `ErrTorInvalidProxyResponse`,
    /// `ErrTorUnrecognizedAuthMethod`, `ErrTorInvalidAddressResponse`).
    Socks(ProxyError),
    /// The whole exchange did not finish within the given timeout.
    TimedOut(Duration),
    /// Connecting to, writing to or reading from the proxy failed.
    Io(io::Error),
}

impl TorError {
    /// The SOCKS reply code this error stands for, if the proxy sent one.
    pub fn reply_code(&self) -> Option<u8> {
        match self {
            TorError::Socks(e) => e.reply_code(),
            _ => None,
        }
    }
}

impl fmt::Display for TorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TorError::EmptyHost => f.write_str("empty host name for tor resolve"),
            TorError::HostTooLong { len } => {
                write!(f, "host name of {len} bytes is too long for tor resolve (at most 255)")
            }
            TorError::Socks(e) => fmt::Display::fmt(e, f),
            TorError::TimedOut(after) => write!(f, "tor lookup timed out after {after:?}"),
            TorError::Io(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl StdError for TorError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            TorError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for TorError {
    fn from(e: io::Error) -> Self {
        TorError::Io(e)
    }
}

impl From<ProxyError> for TorError {
    fn from(e: ProxyError) -> Self {
        TorError::Socks(e)
    }
}

impl From<RequestError> for TorError {
    fn from(e: RequestError) -> Self {
        match e {
            RequestError::NameTooLong(len) => TorError::HostTooLong { len },
            // EmptyName, and anything a later version adds.
            _ => TorError::EmptyHost,
        }
    }
}

/// Lets [`tor_lookup_ip`] serve directly as a DNS-seed lookup function, which reports
/// `io::Error`: an I/O failure comes back unchanged, anything else is wrapped with a fitting kind
/// (`ConnectionRefused` only for the proxy's reply 5).
impl From<TorError> for io::Error {
    fn from(e: TorError) -> Self {
        let kind = match &e {
            TorError::EmptyHost | TorError::HostTooLong { .. } => io::ErrorKind::InvalidInput,
            TorError::Socks(s) => s.io_kind(),
            TorError::TimedOut(_) => io::ErrorKind::TimedOut,
            TorError::Io(_) => io::ErrorKind::Other,
        };
        match e {
            TorError::Io(inner) => inner,
            other => io::Error::new(kind, other),
        }
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
    fn remaining(&self) -> Result<Duration, TorError> {
        let left = match self.end {
            Some(end) => end.saturating_duration_since(Instant::now()),
            None => self.total,
        };
        if left.is_zero() {
            Err(TorError::TimedOut(self.total))
        } else {
            Ok(left)
        }
    }

    /// A socket timeout surfaces as `WouldBlock` on Unix and `TimedOut` on Windows.
    fn classify(&self, e: io::Error) -> TorError {
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => TorError::TimedOut(self.total),
            _ => TorError::Io(e),
        }
    }
}

/// Runs `socks` over a blocking stream: reads never go past the proxy's reply.
fn drive(stream: &mut TcpStream, socks: &mut Handshake, deadline: &Deadline) -> Result<Step, TorError> {
    loop {
        let result = match socks.step()? {
            Step::Write => {
                stream.set_write_timeout(Some(deadline.remaining()?)).map_err(TorError::Io)?;
                match stream.write(socks.to_send()) {
                    Ok(0) => return Err(TorError::Io(io::ErrorKind::WriteZero.into())),
                    Ok(n) => socks.sent(n),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(deadline.classify(e)),
                }
            }
            Step::Read => {
                stream.set_read_timeout(Some(deadline.remaining()?)).map_err(TorError::Io)?;
                match stream.read(socks.recv_buf()) {
                    // Ok(0), the end of the stream, fails the handshake with what had arrived.
                    Ok(n) => socks.received(n),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(deadline.classify(e)),
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
/// Any [`TorError`]: [`TorError::Io`] when the proxy cannot be reached or the connection fails,
/// [`TorError::TimedOut`] when the deadline passes (a zero `timeout` fails at once), and
/// [`TorError::Socks`] for an error reply or a broken one. A host name that is empty or longer
/// than 255 bytes fails before any connection is made.
///
/// # Examples
///
/// Against a stand-in proxy on loopback that answers like Tor:
///
/// ```
/// use connmgr::tor::tor_lookup_ip;
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
pub fn tor_lookup_ip(host: &str, proxy: SocketAddr, timeout: Duration) -> Result<Vec<IpAddr>, TorError> {
    let mut socks = Handshake::resolve(host, Auth::None)?;
    let deadline = Deadline::new(timeout);
    let mut stream = TcpStream::connect_timeout(&proxy, deadline.remaining()?).map_err(|e| deadline.classify(e))?;
    match drive(&mut stream, &mut socks, &deadline)? {
        Step::Resolved(ip) => Ok(vec![ip]),
        // A RESOLVE handshake ends in nothing else.
        Step::Write | Step::Read | Step::Connected { .. } => {
            Err(TorError::Io(io::Error::other("RESOLVE ended without an address")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::Phase;
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

    #[test]
    fn error_conversions() {
        fn assert_traits<T: StdError + Send + Sync + 'static>() {}
        assert_traits::<TorError>();

        let io_err = TorError::from(io::Error::new(io::ErrorKind::BrokenPipe, "pipe gone"));
        assert_eq!(io_err.to_string(), "pipe gone");
        assert!(io_err.source().is_some());
        let socks = TorError::from(ProxyError::GeneralFailure);
        assert!(socks.source().is_none());
        assert_eq!(socks.reply_code(), Some(1));
        assert_eq!(TorError::EmptyHost.reply_code(), None);

        let back: io::Error = io_err.into();
        assert_eq!(back.kind(), io::ErrorKind::BrokenPipe);
        let wrapped: io::Error = TorError::Socks(ProxyError::HostUnreachable).into();
        assert_eq!(wrapped.to_string(), "SOCKS reply 4: host unreachable");
        let refused: io::Error = TorError::Socks(ProxyError::ConnectionRefused).into();
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
        let timed: io::Error = TorError::TimedOut(Duration::from_millis(5)).into();
        assert_eq!(timed.kind(), io::ErrorKind::TimedOut);
        let invalid: io::Error = TorError::Socks(ProxyError::UnknownReply(9)).into();
        assert_eq!(invalid.kind(), io::ErrorKind::InvalidData);
        let long: io::Error = TorError::HostTooLong { len: 256 }.into();
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
            assert!(matches!(err, TorError::Socks(ref e) if *e == expected), "code {code}: {err:?}");
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
        assert!(matches!(err, TorError::Socks(ref e) if *e == expected), "{err:?}");
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
        assert!(matches!(err, TorError::Socks(ref e) if *e == expected), "{err:?}");
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
        assert!(matches!(err, TorError::Socks(ref e) if *e == expected), "{err:?}");
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
        assert!(matches!(err, TorError::Socks(ref e) if *e == expected), "{err:?}");
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
        assert!(matches!(err, TorError::TimedOut(t) if t == timeout), "{err:?}");
        assert!(took >= Duration::from_millis(250), "{took:?}");
        assert!(took < Duration::from_secs(1), "{took:?}");
        // The server sees the client hang up, so the connection was closed on the error path.
        server.join().unwrap();
    }

    #[test]
    fn lookup_connect_refused_is_io() {
        let proxy = {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap()
        };
        let err = tor_lookup_ip("a.example", proxy, TIMEOUT).unwrap_err();
        match err {
            TorError::Io(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused),
            other => panic!("expected Io, got {other:?}"),
        }
    }

    #[test]
    fn lookup_validates_host_before_connecting() {
        // Nothing listens here; a connect attempt would give Io, not HostTooLong.
        let proxy = {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap()
        };
        assert!(matches!(tor_lookup_ip(&"x".repeat(300), proxy, TIMEOUT), Err(TorError::HostTooLong { len: 300 })));
        // Bytes, not characters, count; btcd would send length byte 0 here.
        assert!(matches!(tor_lookup_ip(&"é".repeat(128), proxy, TIMEOUT), Err(TorError::HostTooLong { len: 256 })));
        assert!(matches!(tor_lookup_ip("", proxy, TIMEOUT), Err(TorError::EmptyHost)));
        assert!(matches!(tor_lookup_ip("a.example", proxy, Duration::ZERO), Err(TorError::TimedOut(_))));
    }
}
