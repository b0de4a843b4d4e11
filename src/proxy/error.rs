//! Why a proxied dial failed, sorted so that a broken proxy is never blamed on the target.

use std::error::Error as StdError;
use std::fmt;
use std::io;

use crate::io_error::IoError;

/// Which reply of the handshake a [`SocksError`] concerns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// The method-selection reply (answering the greeting).
    Method,
    /// The username/password reply (RFC 1929).
    Auth,
    /// The reply to CONNECT or RESOLVE.
    Reply,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Method => "method selection",
            Phase::Auth => "authentication",
            Phase::Reply => "command",
        })
    }
}

/// Who a failure says is at fault: what to count, and whether to hold it against the peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    /// The proxy is down, misbehaved, refused us, or failed on its own side: the target was
    /// perhaps never tried.
    Proxy,
    /// The proxy worked and reports the target unreachable or refusing.
    Target,
}

/// A SOCKS5 handshake failure: a reply code, or a reply that breaks the protocol.
///
/// Reply codes 1 to 8 each have a variant; [`fault`](SocksError::fault) tells which of them
/// are about the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SocksError {
    /// Reply 1: general SOCKS server failure (Tor: circuit or stream failures on its side).
    GeneralFailure,
    /// Reply 2: connection not allowed by ruleset (Tor: exit policy).
    NotAllowed,
    /// Reply 3: network unreachable.
    NetworkUnreachable,
    /// Reply 4: host unreachable (Tor: also a failed name resolution).
    HostUnreachable,
    /// Reply 5: the target refused the connection.
    ConnectionRefused,
    /// Reply 6: TTL expired (Tor: the target timed out).
    TtlExpired,
    /// Reply 7: command not supported (a proxy without Tor's RESOLVE, for example).
    CommandNotSupported,
    /// Reply 8: address type not supported.
    AddressTypeNotSupported,
    /// A reply code outside RFC 1928's (Tor's `ExtendedErrors` onion codes `0xF0..=0xF7` among
    /// them).
    UnknownReply(u8),
    /// A reply whose version byte is wrong (5 expected, 1 for authentication): not a SOCKS5
    /// proxy.
    BadVersion {
        /// Which reply.
        phase: Phase,
        /// The byte received.
        version: u8,
    },
    /// The proxy accepts none of the offered authentication methods (method `0xFF`).
    NoAcceptableMethod,
    /// The proxy chose a method that was not offered, such as "no authentication" when only
    /// username/password was (which would bypass Tor's stream isolation).
    UnexpectedMethod(u8),
    /// The proxy refused the username and password (this non-zero status).
    AuthRejected(u8),
    /// A reply that cannot be parsed.
    Malformed(Malformed),
    /// The proxy closed the connection before the handshake finished.
    Closed {
        /// The reply being waited for.
        phase: Phase,
        /// How many bytes of it had arrived.
        received: usize,
    },
}

impl SocksError {
    /// The error for reply code `code`; `None` for 0 (success).
    pub(crate) fn from_reply_code(code: u8) -> Option<SocksError> {
        Some(match code {
            0 => return None,
            1 => SocksError::GeneralFailure,
            2 => SocksError::NotAllowed,
            3 => SocksError::NetworkUnreachable,
            4 => SocksError::HostUnreachable,
            5 => SocksError::ConnectionRefused,
            6 => SocksError::TtlExpired,
            7 => SocksError::CommandNotSupported,
            8 => SocksError::AddressTypeNotSupported,
            other => SocksError::UnknownReply(other),
        })
    }

    /// The reply code this error stands for, if the proxy sent one.
    pub fn reply_code(&self) -> Option<u8> {
        Some(match self {
            SocksError::GeneralFailure => 1,
            SocksError::NotAllowed => 2,
            SocksError::NetworkUnreachable => 3,
            SocksError::HostUnreachable => 4,
            SocksError::ConnectionRefused => 5,
            SocksError::TtlExpired => 6,
            SocksError::CommandNotSupported => 7,
            SocksError::AddressTypeNotSupported => 8,
            SocksError::UnknownReply(code) => *code,
            _ => return None,
        })
    }

    /// Who is at fault. [`Fault::Target`] for replies 3 (network unreachable), 4 (host
    /// unreachable), 5 (refused), 6 (TTL expired) and Tor's extended onion-service codes
    /// `0xF0..=0xF7`; [`Fault::Proxy`] for everything else, including reply 1 (general failure,
    /// which Tor also uses for its own circuit failures) and 2 (the proxy's ruleset).
    pub fn fault(&self) -> Fault {
        match self {
            SocksError::NetworkUnreachable
            | SocksError::HostUnreachable
            | SocksError::ConnectionRefused
            | SocksError::TtlExpired
            | SocksError::UnknownReply(0xF0..=0xF7) => Fault::Target,
            _ => Fault::Proxy,
        }
    }

    /// Whether the proxy itself is at fault: `fault() == Fault::Proxy`.
    pub fn is_proxy_fault(&self) -> bool {
        self.fault() == Fault::Proxy
    }

    /// The closest `io::ErrorKind`: `ConnectionRefused` only for reply 5, so that code sorting
    /// `io::Error`s by kind still tells "refused by the target" from anything the proxy did.
    pub(crate) fn io_kind(&self) -> io::ErrorKind {
        match self {
            SocksError::ConnectionRefused => io::ErrorKind::ConnectionRefused,
            SocksError::TtlExpired => io::ErrorKind::TimedOut,
            SocksError::NotAllowed | SocksError::NoAcceptableMethod | SocksError::AuthRejected(_) => {
                io::ErrorKind::PermissionDenied
            }
            SocksError::CommandNotSupported | SocksError::AddressTypeNotSupported => io::ErrorKind::Unsupported,
            SocksError::BadVersion { .. }
            | SocksError::UnexpectedMethod(_)
            | SocksError::Malformed(_)
            | SocksError::UnknownReply(_) => io::ErrorKind::InvalidData,
            SocksError::Closed { .. } => io::ErrorKind::UnexpectedEof,
            _ => io::ErrorKind::Other,
        }
    }
}

impl fmt::Display for SocksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.reply_code().unwrap_or(0);
        match self {
            SocksError::GeneralFailure => write!(f, "SOCKS reply {code}: general server failure"),
            SocksError::NotAllowed => write!(f, "SOCKS reply {code}: connection not allowed by ruleset"),
            SocksError::NetworkUnreachable => write!(f, "SOCKS reply {code}: network unreachable"),
            SocksError::HostUnreachable => write!(f, "SOCKS reply {code}: host unreachable"),
            SocksError::ConnectionRefused => write!(f, "SOCKS reply {code}: connection refused"),
            SocksError::TtlExpired => write!(f, "SOCKS reply {code}: TTL expired"),
            SocksError::CommandNotSupported => write!(f, "SOCKS reply {code}: command not supported"),
            SocksError::AddressTypeNotSupported => write!(f, "SOCKS reply {code}: address type not supported"),
            SocksError::UnknownReply(_) => write!(f, "SOCKS reply {code:#04x}: unknown code"),
            SocksError::BadVersion { phase, version } => {
                write!(f, "not a SOCKS5 proxy: version {version} in the {phase} reply")
            }
            SocksError::NoAcceptableMethod => {
                f.write_str("SOCKS proxy accepts none of the offered authentication methods")
            }
            SocksError::UnexpectedMethod(m) => {
                write!(f, "SOCKS proxy chose authentication method {m:#04x}, not offered")
            }
            SocksError::AuthRejected(status) => {
                write!(f, "SOCKS proxy rejected the username and password (status {status})")
            }
            SocksError::Malformed(why) => write!(f, "malformed SOCKS reply: {why}"),
            SocksError::Closed { phase, received } => {
                write!(f, "SOCKS proxy closed the connection after {received} bytes of the {phase} reply")
            }
        }
    }
}

impl StdError for SocksError {}

/// Lets a [`SocksError`] travel where an `io::Error` is expected. Only reply 5 becomes
/// `ConnectionRefused`; 6 is `TimedOut`, refusals of us (2, authentication) `PermissionDenied`,
/// a broken reply `InvalidData`, an early close `UnexpectedEof`.
impl From<SocksError> for io::Error {
    fn from(e: SocksError) -> Self {
        io::Error::new(e.io_kind(), e)
    }
}

/// What is wrong with a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Malformed {
    /// The reserved byte is not 0.
    Reserved(u8),
    /// An address type other than 1 (IPv4), 3 (domain) and 4 (IPv6).
    AddressType(u8),
    /// A domain name of length 0.
    EmptyDomain,
    /// A domain name answering RESOLVE, which must answer with an address.
    DomainForResolve,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::Reserved(b) => write!(f, "reserved byte is {b:#04x}, not 0"),
            Malformed::AddressType(t) => write!(f, "unknown address type {t:#04x}"),
            Malformed::EmptyDomain => f.write_str("empty domain name"),
            Malformed::DomainForResolve => f.write_str("a domain name instead of an address"),
        }
    }
}

/// A dial through a SOCKS proxy that failed, whatever the layer: the error a reactor reports.
///
/// The reactor sees an `io::Error` when the TCP connect to the proxy fails; wrapping it as
/// [`ProxyError::Unreachable`] keeps "the proxy is down" apart from "the target refused", which a
/// bare `ConnectionRefused` would confuse.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyError {
    /// The TCP connection to the proxy failed (refused, unreachable, timed out).
    Unreachable(IoError),
    /// Reading from or writing to the proxy failed during the handshake (reset, broken pipe).
    Io(IoError),
    /// The handshake failed.
    Socks(SocksError),
}

impl ProxyError {
    /// Who is at fault: the proxy, unless the handshake's reply blames the target.
    pub fn fault(&self) -> Fault {
        match self {
            ProxyError::Unreachable(_) | ProxyError::Io(_) => Fault::Proxy,
            ProxyError::Socks(e) => e.fault(),
        }
    }

    /// Whether the proxy itself is at fault: `fault() == Fault::Proxy`.
    pub fn is_proxy_fault(&self) -> bool {
        self.fault() == Fault::Proxy
    }
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyError::Unreachable(_) => f.write_str("SOCKS proxy unreachable"),
            ProxyError::Io(_) => f.write_str("SOCKS proxy connection failed"),
            ProxyError::Socks(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl StdError for ProxyError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            ProxyError::Unreachable(e) | ProxyError::Io(e) => Some(e),
            ProxyError::Socks(_) => None,
        }
    }
}

impl From<SocksError> for ProxyError {
    fn from(e: SocksError) -> Self {
        ProxyError::Socks(e)
    }
}

/// Why credentials cannot be sent: RFC 1929 carries each in 1 to 255 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CredentialsError {
    /// The username's length in bytes is not 1 to 255.
    Username(usize),
    /// The password's length in bytes is not 1 to 255.
    Password(usize),
}

impl fmt::Display for CredentialsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialsError::Username(len) => write!(f, "SOCKS username of {len} bytes (1 to 255 allowed)"),
            CredentialsError::Password(len) => write!(f, "SOCKS password of {len} bytes (1 to 255 allowed)"),
        }
    }
}

impl StdError for CredentialsError {}

/// Why a RESOLVE request cannot be built: the name travels with a one-byte length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum RequestError {
    /// The name to resolve is empty.
    EmptyName,
    /// The name is longer than 255 bytes.
    NameTooLong(usize),
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::EmptyName => f.write_str("empty name to resolve"),
            RequestError::NameTooLong(len) => write!(f, "name of {len} bytes to resolve (at most 255)"),
        }
    }
}

impl StdError for RequestError {}
