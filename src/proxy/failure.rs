//! Why a proxied dial failed, sorted so that a broken proxy is never blamed on the target.

use std::error::Error as StdError;
use std::fmt;
use std::io;

use crate::io_error::IoError;

/// Which reply of the handshake a [`ProxyError`] concerns.
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

/// A dial or lookup through a SOCKS5 proxy that failed, whatever the layer: the proxy could not
/// be reached, the connection to it broke, it answered with an error reply code, or its reply
/// broke the protocol.
///
/// The reactor sees an `io::Error` when the TCP connect to the proxy fails; wrapping it as
/// [`ProxyError::Unreachable`] keeps "the proxy is down" apart from "the target refused", which a
/// bare `ConnectionRefused` would confuse. Reply codes 1 to 8 each have a variant;
/// [`is_proxy_fault`](ProxyError::is_proxy_fault) tells which failures are the proxy's own and
/// which are about the target.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyError {
    /// The TCP connection to the proxy failed (refused, unreachable, timed out).
    Unreachable(IoError),
    /// Reading from or writing to the proxy failed during the handshake (reset, broken pipe).
    Io(IoError),
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
    /// A reply whose reserved byte is not 0.
    ReservedByte(u8),
    /// A reply with an address type other than 1 (IPv4), 3 (domain) and 4 (IPv6).
    UnknownAddressType(u8),
    /// A reply with a domain name of length 0.
    EmptyDomain,
    /// A domain name answering RESOLVE, which must answer with an address.
    DomainForResolve,
    /// The proxy closed the connection before the handshake finished.
    Closed {
        /// The reply being waited for.
        phase: Phase,
        /// How many bytes of it had arrived.
        received: usize,
    },
}

impl ProxyError {
    /// The error for reply code `code`; `None` for 0 (success).
    pub(crate) fn from_reply_code(code: u8) -> Option<ProxyError> {
        Some(match code {
            0 => return None,
            1 => ProxyError::GeneralFailure,
            2 => ProxyError::NotAllowed,
            3 => ProxyError::NetworkUnreachable,
            4 => ProxyError::HostUnreachable,
            5 => ProxyError::ConnectionRefused,
            6 => ProxyError::TtlExpired,
            7 => ProxyError::CommandNotSupported,
            8 => ProxyError::AddressTypeNotSupported,
            other => ProxyError::UnknownReply(other),
        })
    }

    /// The reply code this error stands for, if the proxy sent one.
    pub fn reply_code(&self) -> Option<u8> {
        Some(match self {
            ProxyError::GeneralFailure => 1,
            ProxyError::NotAllowed => 2,
            ProxyError::NetworkUnreachable => 3,
            ProxyError::HostUnreachable => 4,
            ProxyError::ConnectionRefused => 5,
            ProxyError::TtlExpired => 6,
            ProxyError::CommandNotSupported => 7,
            ProxyError::AddressTypeNotSupported => 8,
            ProxyError::UnknownReply(code) => *code,
            _ => return None,
        })
    }

    /// Whether the proxy itself is at fault: it is down, misbehaved, refused us, or failed on its
    /// own side, so the target was perhaps never tried. `false` when the proxy worked and reports
    /// the target unreachable or refusing: replies 3 (network unreachable), 4 (host
    /// unreachable), 5 (refused), 6 (TTL expired) and Tor's extended onion-service codes
    /// `0xF0..=0xF7`. Reply 1 (general failure, which Tor also uses for its own circuit
    /// failures) and 2 (the proxy's ruleset) are the proxy's.
    pub fn is_proxy_fault(&self) -> bool {
        !matches!(
            self,
            ProxyError::NetworkUnreachable
                | ProxyError::HostUnreachable
                | ProxyError::ConnectionRefused
                | ProxyError::TtlExpired
                | ProxyError::UnknownReply(0xF0..=0xF7)
        )
    }

    /// The closest `io::ErrorKind`: `ConnectionRefused` only for reply 5, so that code sorting
    /// `io::Error`s by kind still tells "refused by the target" from anything the proxy did.
    pub(crate) fn io_kind(&self) -> io::ErrorKind {
        match self {
            ProxyError::Unreachable(e) | ProxyError::Io(e) => e.kind(),
            ProxyError::ConnectionRefused => io::ErrorKind::ConnectionRefused,
            ProxyError::TtlExpired => io::ErrorKind::TimedOut,
            ProxyError::NotAllowed | ProxyError::NoAcceptableMethod | ProxyError::AuthRejected(_) => {
                io::ErrorKind::PermissionDenied
            }
            ProxyError::CommandNotSupported | ProxyError::AddressTypeNotSupported => io::ErrorKind::Unsupported,
            ProxyError::BadVersion { .. }
            | ProxyError::UnexpectedMethod(_)
            | ProxyError::ReservedByte(_)
            | ProxyError::UnknownAddressType(_)
            | ProxyError::EmptyDomain
            | ProxyError::DomainForResolve
            | ProxyError::UnknownReply(_) => io::ErrorKind::InvalidData,
            ProxyError::Closed { .. } => io::ErrorKind::UnexpectedEof,
            _ => io::ErrorKind::Other,
        }
    }
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.reply_code().unwrap_or(0);
        match self {
            ProxyError::Unreachable(_) => f.write_str("SOCKS proxy unreachable"),
            ProxyError::Io(_) => f.write_str("SOCKS proxy connection failed"),
            ProxyError::GeneralFailure => write!(f, "SOCKS reply {code}: general server failure"),
            ProxyError::NotAllowed => write!(f, "SOCKS reply {code}: connection not allowed by ruleset"),
            ProxyError::NetworkUnreachable => write!(f, "SOCKS reply {code}: network unreachable"),
            ProxyError::HostUnreachable => write!(f, "SOCKS reply {code}: host unreachable"),
            ProxyError::ConnectionRefused => write!(f, "SOCKS reply {code}: connection refused"),
            ProxyError::TtlExpired => write!(f, "SOCKS reply {code}: TTL expired"),
            ProxyError::CommandNotSupported => write!(f, "SOCKS reply {code}: command not supported"),
            ProxyError::AddressTypeNotSupported => write!(f, "SOCKS reply {code}: address type not supported"),
            ProxyError::UnknownReply(_) => write!(f, "SOCKS reply {code:#04x}: unknown code"),
            ProxyError::BadVersion { phase, version } => {
                write!(f, "not a SOCKS5 proxy: version {version} in the {phase} reply")
            }
            ProxyError::NoAcceptableMethod => {
                f.write_str("SOCKS proxy accepts none of the offered authentication methods")
            }
            ProxyError::UnexpectedMethod(m) => {
                write!(f, "SOCKS proxy chose authentication method {m:#04x}, not offered")
            }
            ProxyError::AuthRejected(status) => {
                write!(f, "SOCKS proxy rejected the username and password (status {status})")
            }
            ProxyError::ReservedByte(b) => write!(f, "malformed SOCKS reply: reserved byte is {b:#04x}, not 0"),
            ProxyError::UnknownAddressType(t) => write!(f, "malformed SOCKS reply: unknown address type {t:#04x}"),
            ProxyError::EmptyDomain => f.write_str("malformed SOCKS reply: empty domain name"),
            ProxyError::DomainForResolve => f.write_str("malformed SOCKS reply: a domain name instead of an address"),
            ProxyError::Closed { phase, received } => {
                write!(f, "SOCKS proxy closed the connection after {received} bytes of the {phase} reply")
            }
        }
    }
}

impl StdError for ProxyError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            ProxyError::Unreachable(e) | ProxyError::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// Lets a [`ProxyError`] travel where an `io::Error` is expected. Only reply 5 becomes
/// `ConnectionRefused`; 6 is `TimedOut`, refusals of us (2, authentication) `PermissionDenied`,
/// a broken reply `InvalidData`, an early close `UnexpectedEof`; a failed connection to the
/// proxy keeps its own kind.
impl From<ProxyError> for io::Error {
    fn from(e: ProxyError) -> Self {
        io::Error::new(e.io_kind(), e)
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
