//! Dialling through SOCKS5 proxies: the [`Proxy`] a manager is configured with
//! ([`Config::proxy`](crate::Config::proxy), [`Config::onion_proxy`](crate::Config::onion_proxy))
//! or a request carries ([`ConnectOptions::via`](crate::ConnectOptions::via)), its
//! [`Credentials`], and [`ProxyError`], why a dial through one failed (in
//! [`DialError::Proxy`](crate::DialError::Proxy)), sorted so that a broken proxy is never blamed
//! on the target.
//!
//! The client is sans-IO and allocation-free: SOCKS5 (RFC 1928), username/password (RFC 1929)
//! and Tor's RESOLVE extension, driven by socket readiness on the reactor thread. Names and
//! onion addresses go to the proxy unresolved (no DNS leak).
//!
//! Which way a dial goes (Bitcoin Core's `-proxy` and `-onion`):
//!
//! - An onion address goes through the onion proxy, else the general proxy, else nowhere: it
//!   fails at once with [`NoRoute::Onion`].
//! - A host name goes through the general proxy, unresolved; else, with the `dns` feature,
//!   direct, resolved on the reactor; else nowhere ([`NoRoute::Name`]).
//! - An IP address goes through the general proxy if there is one, else direct.
//! - A request's own proxy overrides both. With a proxy configured, nothing goes direct.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::target::{Target, ONION_HOST_LEN};

mod failure;
mod route;

pub(crate) use failure::RequestError;
pub use failure::{CredentialsError, Phase, ProxyError};
pub use route::{NoRoute, Proxy};
pub(crate) use route::{ProxyAuth, Routes};

const VERSION: u8 = 5;
const AUTH_VERSION: u8 = 1;
const METHOD_NONE: u8 = 0x00;
const METHOD_PASSWORD: u8 = 0x02;
const NO_ACCEPTABLE_METHOD: u8 = 0xFF;
const CMD_CONNECT: u8 = 0x01;
/// Tor's extension: resolve a name, answer with an address.
const CMD_RESOLVE: u8 = 0xF0;
const ATYP_IPV4: u8 = 1;
const ATYP_DOMAIN: u8 = 3;
const ATYP_IPV6: u8 = 4;

const GREETING_LEN: usize = 3;
/// Version, username length, username, password length, password.
const MAX_AUTH_LEN: usize = 3 + 255 + 255;
/// Version, command, reserved, type, name length, name, port.
const MAX_REQUEST_LEN: usize = 5 + 255 + 2;
/// Version, reply code, reserved, address type.
const HEADER_LEN: usize = 4;

/// How to authenticate to the proxy.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Auth<'a> {
    /// Offer only "no authentication".
    None,
    /// Offer only username/password, with these.
    Password(&'a Credentials),
    /// Offer only username/password, with both set to this number in hex: fresh credentials per
    /// connection make Tor (with its default `IsolateSOCKSAuth`) use a separate circuit for each.
    /// The number should be random; the caller supplies it so that tests are deterministic.
    Isolate(u64),
}

/// A username and password for RFC 1929 authentication, each 1 to 255 bytes.
///
/// Its `Debug` output hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    username: String,
    password: String,
}

impl Credentials {
    /// Checks the lengths.
    ///
    /// # Errors
    ///
    /// [`CredentialsError`] when either is empty or longer than 255 bytes.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Result<Credentials, CredentialsError> {
        let (username, password) = (username.into(), password.into());
        if !(1..=255).contains(&username.len()) {
            return Err(CredentialsError::Username(username.len()));
        }
        if !(1..=255).contains(&password.len()) {
            return Err(CredentialsError::Password(password.len()));
        }
        Ok(Credentials { username, password })
    }

    /// The username.
    pub fn username(&self) -> &str {
        &self.username
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials").field("username", &self.username).field("password", &"<hidden>").finish()
    }
}

/// What the caller does next, or how the handshake ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Write [`Handshake::to_send`] when the socket is writable.
    Write,
    /// Read at most [`Handshake::want`] bytes into [`Handshake::recv_buf`] when the socket is
    /// readable.
    Read,
    /// CONNECT succeeded: the socket is now a tunnel to the target, and its next byte is the
    /// target's. `bound` is the address the proxy connected from, when it gave an IP address
    /// (informational; Tor and microsocks report `0.0.0.0:0`).
    Connected {
        /// The proxy's outbound address, if the reply carried an IP address.
        bound: Option<SocketAddr>,
    },
    /// RESOLVE succeeded with this address.
    Resolved(IpAddr),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    SendGreeting,
    MethodReply,
    SendAuth,
    AuthReply,
    SendRequest,
    Reply,
    /// The reply is `buf[..pos]`.
    Done,
    Failed(ProxyError),
}

/// One SOCKS5 handshake, CONNECT or RESOLVE, as a state machine over a fixed inline buffer: a
/// sans-IO client (RFC 1928, RFC 1929 username/password, Tor's RESOLVE extension) for one
/// outbound connection, driven by socket readiness.
///
/// It never touches a socket: the caller writes [`to_send`](Handshake::to_send),
/// reports [`sent`](Handshake::sent), reads into [`recv_buf`](Handshake::recv_buf) and reports
/// [`received`](Handshake::received), until a [`Step`] says the tunnel is open (or the name is
/// resolved) or a [`ProxyError`] says why not. It is shaped by three properties:
///
/// - **Exact reads.** [`want`](Handshake::want) is the exact number of bytes still missing from
///   the current reply, learnt field by field (header, then the address by its type), so a read
///   of at most that many never takes a byte past the reply: the peer's first bytes, which a
///   proxy may send in the same segment as its success reply, stay in the socket for the user.
/// - **No heap, one buffer.** Everything the handshake sends (greeting, credentials, request) is
///   written into one inline buffer when it is built, so inputs are validated before any I/O and
///   the stage borrows nothing; replies are read into the part already sent. Its size is fixed:
///   [`Handshake::BUFFER_LEN`] bytes, the longest greeting, credentials and request together.
/// - **No DNS leak.** Names and onion addresses go to the proxy as domain names, unresolved.
///   With credentials, only username/password is offered, so a proxy cannot skip them (Tor
///   isolates streams by credentials: see [`Auth::Isolate`]).
///
/// Every check fires as soon as its byte arrives, so a broken proxy is reported without waiting
/// for bytes that may never come; a timeout is the caller's (time is not an input here).
/// After it ends (a final [`Step`] or an error), it stays ended: `to_send` is empty, `want` is 0
/// and every call returns the same outcome.
#[derive(Clone)]
pub(crate) struct Handshake {
    /// Greeting at `..3`, credentials at `3..auth_end`, request at `auth_end..request_end`;
    /// each reply is read into `..need`, over bytes already sent.
    buf: [u8; Handshake::BUFFER_LEN],
    auth_end: u16,
    request_end: u16,
    /// Sending: the index of the next byte to send. Receiving: the bytes of the reply so far.
    pos: u16,
    /// Receiving: the reply's length as far as its bytes so far tell.
    need: u16,
    state: State,
    method: u8,
    resolve: bool,
}

impl Handshake {
    /// The size of the buffer: the longest greeting, authentication and request together.
    pub(crate) const BUFFER_LEN: usize = GREETING_LEN + MAX_AUTH_LEN + MAX_REQUEST_LEN;

    /// A CONNECT to `target`: an IP address as such, a name or an onion address as a domain name
    /// for the proxy to resolve.
    pub(crate) fn connect(target: &Target, auth: Auth<'_>) -> Handshake {
        let mut socks = Handshake::start(auth, false);
        let mut w = Writer { buf: &mut socks.buf, at: usize::from(socks.auth_end) };
        w.put(&[VERSION, CMD_CONNECT, 0]);
        match target {
            Target::Ip(SocketAddr::V4(a)) => {
                w.put(&[ATYP_IPV4]);
                w.put(&a.ip().octets());
            }
            Target::Ip(SocketAddr::V6(a)) => {
                w.put(&[ATYP_IPV6]);
                w.put(&a.ip().octets());
            }
            Target::Name(name, _) => w.domain(name.as_str().as_bytes()),
            Target::Onion(onion, _) => {
                let mut host = [0_u8; ONION_HOST_LEN];
                onion.write_host(&mut host);
                w.domain(&host);
            }
        }
        w.put(&target.port().to_be_bytes());
        socks.request_end = w.end();
        socks
    }

    /// A RESOLVE of `name` (Tor's extension; other proxies answer
    /// [`ProxyError::CommandNotSupported`]). The name is sent as given, up to 255 bytes.
    ///
    /// # Errors
    ///
    /// [`RequestError`] when `name` is empty or longer than 255 bytes.
    pub(crate) fn resolve(name: &str, auth: Auth<'_>) -> Result<Handshake, RequestError> {
        if name.is_empty() {
            return Err(RequestError::EmptyName);
        }
        if name.len() > 255 {
            return Err(RequestError::NameTooLong(name.len()));
        }
        let mut socks = Handshake::start(auth, true);
        let mut w = Writer { buf: &mut socks.buf, at: usize::from(socks.auth_end) };
        w.put(&[VERSION, CMD_RESOLVE, 0]);
        w.domain(name.as_bytes());
        w.put(&[0, 0]);
        socks.request_end = w.end();
        Ok(socks)
    }

    /// Writes the greeting and the credentials.
    fn start(auth: Auth<'_>, resolve: bool) -> Handshake {
        let method = if matches!(auth, Auth::None) { METHOD_NONE } else { METHOD_PASSWORD };
        let mut buf = [0_u8; Handshake::BUFFER_LEN];
        let mut w = Writer { buf: &mut buf, at: 0 };
        w.put(&[VERSION, 1, method]);
        match auth {
            Auth::None => {}
            Auth::Password(c) => {
                w.put(&[AUTH_VERSION]);
                w.short(c.username.as_bytes());
                w.short(c.password.as_bytes());
            }
            Auth::Isolate(token) => {
                let mut hex = [0_u8; 16];
                for (i, digit) in hex.iter_mut().enumerate() {
                    *digit = b"0123456789abcdef"[((token >> (60 - 4 * i)) & 0xF) as usize];
                }
                w.put(&[AUTH_VERSION]);
                w.short(&hex);
                w.short(&hex);
            }
        }
        let auth_end = w.end();
        Handshake { buf, auth_end, request_end: auth_end, pos: 0, need: 0, state: State::SendGreeting, method, resolve }
    }

    /// What to do now: [`Step::Write`] or [`Step::Read`] while the handshake runs, then its
    /// outcome.
    ///
    /// # Errors
    ///
    /// The [`ProxyError`] that ended the handshake.
    pub(crate) fn step(&self) -> Result<Step, ProxyError> {
        match &self.state {
            State::SendGreeting | State::SendAuth | State::SendRequest => Ok(Step::Write),
            State::MethodReply | State::AuthReply | State::Reply => Ok(Step::Read),
            State::Done => Ok(self.outcome()),
            State::Failed(e) => Err(e.clone()),
        }
    }

    /// The bytes to write now; empty unless the step is [`Step::Write`].
    pub(crate) fn to_send(&self) -> &[u8] {
        let end = match self.state {
            State::SendGreeting => GREETING_LEN,
            State::SendAuth => usize::from(self.auth_end),
            State::SendRequest => usize::from(self.request_end),
            _ => return &[],
        };
        &self.buf[usize::from(self.pos)..end]
    }

    /// Reports that the first `n` bytes of [`to_send`](Handshake::to_send) were written (`n` is
    /// capped at its length; a short write is normal on a nonblocking socket).
    ///
    /// # Errors
    ///
    /// Only the error that already ended the handshake, if any.
    pub(crate) fn sent(&mut self, n: usize) -> Result<Step, ProxyError> {
        let left = self.to_send().len();
        if left == 0 {
            return self.step();
        }
        // `left` is at most BUFFER_LEN, so this fits.
        self.pos += n.min(left) as u16;
        if n >= left {
            let (next, need) = match self.state {
                State::SendGreeting => (State::MethodReply, 2),
                State::SendAuth => (State::AuthReply, 2),
                _ => (State::Reply, HEADER_LEN as u16),
            };
            self.state = next;
            self.pos = 0;
            self.need = need;
        }
        self.step()
    }

    /// The exact number of bytes to read next: 0 unless the step is [`Step::Read`]. Reading no
    /// more than this never consumes a byte that follows the proxy's reply.
    pub(crate) fn want(&self) -> usize {
        match self.state {
            State::MethodReply | State::AuthReply | State::Reply => usize::from(self.need - self.pos),
            _ => 0,
        }
    }

    /// Where to read into: exactly [`want`](Handshake::want) bytes long.
    pub(crate) fn recv_buf(&mut self) -> &mut [u8] {
        let start = usize::from(self.pos);
        let want = self.want();
        &mut self.buf[start..start + want]
    }

    /// Reports that `n` bytes were read into [`recv_buf`](Handshake::recv_buf) (`n` is capped at
    /// [`want`](Handshake::want)). `n == 0` means the proxy closed the connection, as a read of 0
    /// does, and fails like [`closed`](Handshake::closed). Ignored (returning the current step)
    /// when no read is wanted.
    ///
    /// # Errors
    ///
    /// The [`ProxyError`] the reply shows, as soon as the byte that shows it has arrived.
    pub(crate) fn received(&mut self, n: usize) -> Result<Step, ProxyError> {
        let want = self.want();
        if want == 0 {
            return self.step();
        }
        if n == 0 {
            return Err(self.closed());
        }
        // `want` is at most BUFFER_LEN, so this fits.
        self.pos += n.min(want) as u16;
        let result = match self.state {
            State::MethodReply => self.check_method(),
            State::AuthReply => self.check_auth(),
            _ => self.check_reply(),
        };
        if let Err(e) = &result {
            self.state = State::Failed(e.clone());
        }
        result
    }

    /// Reports that the proxy closed the connection (a read returned 0) and ends the handshake
    /// with [`ProxyError::Closed`], saying how much of which reply had arrived. After success
    /// this changes nothing (the tunnel's end is the user's business).
    pub(crate) fn closed(&mut self) -> ProxyError {
        let (phase, received) = match &self.state {
            State::SendGreeting => (Phase::Method, 0),
            State::MethodReply => (Phase::Method, self.pos),
            State::SendAuth => (Phase::Auth, 0),
            State::AuthReply => (Phase::Auth, self.pos),
            State::SendRequest => (Phase::Reply, 0),
            State::Reply | State::Done => (Phase::Reply, self.pos),
            State::Failed(e) => return e.clone(),
        };
        let e = ProxyError::Closed { phase, received: usize::from(received) };
        if self.state != State::Done {
            self.state = State::Failed(e.clone());
        }
        e
    }

    fn received_bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.pos)]
    }

    fn check_method(&mut self) -> Result<Step, ProxyError> {
        match *self.received_bytes() {
            [v, ..] if v != VERSION => Err(ProxyError::BadVersion { phase: Phase::Method, version: v }),
            [_] => Ok(Step::Read),
            [_, NO_ACCEPTABLE_METHOD] => Err(ProxyError::NoAcceptableMethod),
            [_, m] if m != self.method => Err(ProxyError::UnexpectedMethod(m)),
            _ if self.method == METHOD_PASSWORD => Ok(self.send(State::SendAuth, GREETING_LEN)),
            _ => Ok(self.send(State::SendRequest, usize::from(self.auth_end))),
        }
    }

    fn check_auth(&mut self) -> Result<Step, ProxyError> {
        match *self.received_bytes() {
            [v, ..] if v != AUTH_VERSION => Err(ProxyError::BadVersion { phase: Phase::Auth, version: v }),
            [_] => Ok(Step::Read),
            [_, status] if status != 0 => Err(ProxyError::AuthRejected(status)),
            _ => Ok(self.send(State::SendRequest, usize::from(self.auth_end))),
        }
    }

    fn send(&mut self, state: State, from: usize) -> Step {
        self.state = state;
        // `from` is an index into the buffer.
        self.pos = from as u16;
        Step::Write
    }

    fn check_reply(&mut self) -> Result<Step, ProxyError> {
        let got = self.received_bytes();
        if let Some(&version) = got.first() {
            if version != VERSION {
                return Err(ProxyError::BadVersion { phase: Phase::Reply, version });
            }
        }
        if let Some(e) = got.get(1).and_then(|&code| ProxyError::from_reply_code(code)) {
            return Err(e);
        }
        if let Some(&reserved) = got.get(2) {
            if reserved != 0 {
                return Err(ProxyError::ReservedByte(reserved));
            }
        }
        let Some(&atyp) = got.get(3) else { return Ok(Step::Read) };
        // While the domain's length byte is missing, the length is only known to reach it.
        let total = match atyp {
            ATYP_IPV4 => HEADER_LEN + 4 + 2,
            ATYP_IPV6 => HEADER_LEN + 16 + 2,
            ATYP_DOMAIN if self.resolve => return Err(ProxyError::DomainForResolve),
            ATYP_DOMAIN => match got.get(HEADER_LEN) {
                None => HEADER_LEN + 1,
                Some(0) => return Err(ProxyError::EmptyDomain),
                Some(&len) => HEADER_LEN + 1 + usize::from(len) + 2,
            },
            other => return Err(ProxyError::UnknownAddressType(other)),
        };
        let complete = got.len() == total;
        // At most 4 + 1 + 255 + 2 bytes.
        self.need = total as u16;
        if !complete {
            return Ok(Step::Read);
        }
        self.state = State::Done;
        Ok(self.outcome())
    }

    /// The result of a complete reply in `buf[..pos]`.
    fn outcome(&self) -> Step {
        let (ip, port) = match *self.received_bytes() {
            [_, _, _, ATYP_IPV4, a, b, c, d, p0, p1] => (Some(IpAddr::V4(Ipv4Addr::new(a, b, c, d))), [p0, p1]),
            [_, _, _, ATYP_IPV6, ref rest @ ..] if rest.len() == 18 => {
                let mut octets = [0_u8; 16];
                octets.copy_from_slice(&rest[..16]);
                (Some(IpAddr::V6(Ipv6Addr::from(octets))), [rest[16], rest[17]])
            }
            // A domain name: only its length was checked.
            _ => (None, [0, 0]),
        };
        match (self.resolve, ip) {
            (true, Some(ip)) => Step::Resolved(ip),
            _ => Step::Connected { bound: ip.map(|ip| SocketAddr::new(ip, u16::from_be_bytes(port))) },
        }
    }
}

impl fmt::Debug for Handshake {
    /// Leaves the buffer out: it holds the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handshake")
            .field("state", &self.state)
            .field("pos", &self.pos)
            .field("need", &self.need)
            .field("resolve", &self.resolve)
            .finish_non_exhaustive()
    }
}

/// Appends to the buffer; every caller's total fits [`Handshake::BUFFER_LEN`] by construction.
struct Writer<'a> {
    buf: &'a mut [u8; Handshake::BUFFER_LEN],
    at: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.buf[self.at..self.at + bytes.len()].copy_from_slice(bytes);
        self.at += bytes.len();
    }

    /// A length byte and the bytes (at most 255, checked by every caller).
    fn short(&mut self, bytes: &[u8]) {
        self.put(&[bytes.len() as u8]);
        self.put(bytes);
    }

    /// Address type "domain name", then the name with its length.
    fn domain(&mut self, name: &[u8]) {
        self.put(&[ATYP_DOMAIN]);
        self.short(name);
    }

    fn end(&self) -> u16 {
        self.at as u16
    }
}

#[cfg(test)]
mod tests;
