//! The errors operations share: [`OpError`] (any operation, on any layer), [`Error`] (building
//! or driving a manager), [`DialError`] (why one dial failed) and [`AddressError`] (the address
//! source had nothing). [`ConfigError`](crate::ConfigError) sits next to the configuration.
//!
//! Each is `Clone + PartialEq + Eq` where that means something, `Send + Sync + 'static`, and
//! either shows its cause in its message or returns it from `source()`, never both.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use crate::config::ConfigError;
use crate::id::{ConnId, InboundId};
use crate::io_error::IoError;
use crate::policy::outbound::Limit;
use crate::proxy::{NoRoute, ProxyError};

/// Why an operation was not applied. The same type on every layer.
///
/// Layers that queue (`Ctx`, `Handle`) report at once only what they can know at once
/// (stopped, invalid arguments, a full queue); the rest is logged when the command is applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpError {
    /// The manager has stopped (or is stopping).
    Stopped,
    /// No live request has this id.
    UnknownId(ConnId),
    /// The request exists but has no established connection.
    NotEstablished(ConnId),
    /// No live inbound connection has this id.
    UnknownInbound(InboundId),
    /// A per-request connect timeout outside 1 ms ..= [`ConnectOptions::MAX_CONNECT_TIMEOUT`].
    ///
    /// [`ConnectOptions::MAX_CONNECT_TIMEOUT`]: crate::ConnectOptions::MAX_CONNECT_TIMEOUT
    InvalidTimeout(Duration),
    /// A [`Handle`](crate::Handle)'s command queue is full: the reactor is not keeping up.
    Full,
    /// A [`Handle`](crate::Handle) call waited longer than its timeout for the reactor.
    TimedOut,
    /// A waiting [`Handle`](crate::Handle) call made on the thread that runs the reactor, which
    /// would wait for ever.
    OnReactorThread,
    /// No configured route reaches this target (an onion address without a Tor proxy, a host
    /// name without a proxy).
    NoRoute(NoRoute),
    /// More than 255 different proxies given to `ConnectOptions::via`.
    TooManyProxies,
    /// A cap on live requests of this kind is reached ([`OutboundPolicy`](crate::outbound::OutboundPolicy)).
    LimitReached(Limit),
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpError::Stopped => f.write_str("connection manager stopped"),
            OpError::UnknownId(id) => write!(f, "unknown connid={id}"),
            OpError::NotEstablished(id) => write!(f, "connid={id} is not established"),
            OpError::UnknownInbound(id) => write!(f, "unknown inbound connection {id}"),
            OpError::InvalidTimeout(t) => write!(f, "connect timeout {t:?} is not between 1 ms and about 49 days"),
            OpError::Full => f.write_str("the connection manager's command queue is full"),
            OpError::TimedOut => f.write_str("the connection manager did not answer in time"),
            OpError::OnReactorThread => f.write_str("cannot wait for the connection manager on its own thread"),
            OpError::NoRoute(e) => fmt::Display::fmt(e, f),
            OpError::TooManyProxies => f.write_str("more than 255 different per-request proxies"),
            OpError::LimitReached(limit) => fmt::Display::fmt(limit, f),
        }
    }
}

impl StdError for OpError {}

/// Building or driving a manager failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The configuration cannot work.
    Config(ConfigError),
    /// A configured listener could not be bound or registered.
    Listen {
        /// The address in the configuration.
        addr: SocketAddr,
        /// What the OS said.
        source: io::Error,
    },
    /// The `Poll` or a socket operation failed.
    Io(io::Error),
    /// The operation was refused (after stop, for example).
    Op(OpError),
    /// A [`ShardedManager`](crate::shards::ShardedManager)'s shard count is not in 1 ..= 64.
    #[cfg(feature = "shards")]
    ShardCount(usize),
    /// [`Accept::ReusePort`](crate::shards::Accept::ReusePort) on a system without load-balanced
    /// `SO_REUSEPORT`.
    #[cfg(feature = "shards")]
    NoReusePort,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(e) => write!(f, "invalid configuration: {e}"),
            Error::Listen { addr, .. } => write!(f, "cannot listen on {addr}"),
            Error::Io(_) => f.write_str("I/O error in the connection manager"),
            Error::Op(e) => fmt::Display::fmt(e, f),
            #[cfg(feature = "shards")]
            Error::ShardCount(n) => {
                write!(f, "{n} shards: a sharded manager runs 1 to {}", crate::policy::global::MAX_SHARDS)
            }
            #[cfg(feature = "shards")]
            Error::NoReusePort => f.write_str("SO_REUSEPORT does not balance connections on this system"),
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Error::Listen { source, .. } | Error::Io(source) => Some(source),
            _ => None,
        }
    }
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(e)
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<OpError> for Error {
    fn from(e: OpError) -> Self {
        Error::Op(e)
    }
}

/// The address source's reason for having no address (btcd's `GetNewAddress` error).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressError(Cow<'static, str>);

impl AddressError {
    /// An error with this reason, e.g. btcd's "no valid connect address".
    pub fn new(reason: impl Into<Cow<'static, str>>) -> Self {
        AddressError(reason.into())
    }

    /// The reason given.
    pub fn reason(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for AddressError {}

/// Why one dial failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DialError {
    /// The connect failed (refused, unreachable, reset, out of ports, ...).
    Io(IoError),
    /// No connection within the connect timeout.
    TimedOut(Duration),
    /// The address source had no address for this automatic request.
    NoAddress(AddressError),
    /// Through a proxy: it was unreachable, misbehaved, or reported the target unreachable.
    Proxy(ProxyError),
    /// The address source gave a target no configured route reaches.
    NoRoute(NoRoute),
    /// The target's address is banned (not dialled).
    Banned,
    /// Not dialled: the address failed less than `failure_window` ago (automatic requests).
    RecentlyFailed,
    /// Not dialled: its netgroup has `max_per_netgroup` automatic connections already.
    NetgroupFull,
    /// Not dialled: a queued request found its cap reached when it was applied.
    LimitReached(Limit),
    /// The target's host name did not resolve (no proxy, resolved on the reactor).
    #[cfg(feature = "dns")]
    Dns(crate::dns::DnsError),
}

/// The broad class of a dial failure, for counters and logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureCause {
    /// The peer refused the connection.
    Refused,
    /// No answer in time.
    TimedOut,
    /// The proxy was unreachable, misbehaved, or refused us.
    Proxy,
    /// The node's own network: down, unreachable, or no local address to connect from.
    Local,
    /// The target's host name did not resolve (only with the `dns` feature).
    Dns,
    /// Anything else.
    Other,
}

impl DialError {
    /// The broad class of this failure.
    pub fn cause(&self) -> FailureCause {
        match self {
            _ if self.is_local() => FailureCause::Local,
            DialError::Io(e) if e.kind() == io::ErrorKind::ConnectionRefused => FailureCause::Refused,
            DialError::Io(e) if e.kind() == io::ErrorKind::TimedOut => FailureCause::TimedOut,
            DialError::TimedOut(_) => FailureCause::TimedOut,
            DialError::Proxy(ProxyError::ConnectionRefused) => FailureCause::Refused,
            DialError::Proxy(ProxyError::TtlExpired) => FailureCause::TimedOut,
            DialError::Proxy(e) if e.is_proxy_fault() => FailureCause::Proxy,
            #[cfg(feature = "dns")]
            DialError::Dns(_) => FailureCause::Dns,
            _ => FailureCause::Other,
        }
    }
}

impl fmt::Display for DialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DialError::Io(e) => fmt::Display::fmt(e, f),
            DialError::TimedOut(d) => write!(f, "connect timed out after {d:?}"),
            DialError::NoAddress(e) => write!(f, "no address: {e}"),
            DialError::Proxy(e) => fmt::Display::fmt(e, f),
            DialError::NoRoute(e) => fmt::Display::fmt(e, f),
            DialError::Banned => f.write_str("the address is banned"),
            DialError::RecentlyFailed => f.write_str("the address failed recently"),
            DialError::NetgroupFull => f.write_str("its netgroup has enough automatic connections"),
            DialError::LimitReached(limit) => fmt::Display::fmt(limit, f),
            #[cfg(feature = "dns")]
            DialError::Dns(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl StdError for DialError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            // Transparent: the message is the OS error's own, so its source is ours.
            DialError::Io(e) => e.source(),
            DialError::Proxy(e) => e.source(),
            _ => None,
        }
    }
}

impl From<io::Error> for DialError {
    fn from(e: io::Error) -> Self {
        DialError::Io(e.into())
    }
}

impl From<ProxyError> for DialError {
    fn from(e: ProxyError) -> Self {
        DialError::Proxy(e)
    }
}

impl DialError {
    /// Whether this failure is the node's own: its network is down or unreachable, or it has no
    /// local address to connect from. Raw OS codes, since the matching `io::ErrorKind`s are newer
    /// than this crate's minimum Rust.
    pub(crate) fn is_local(&self) -> bool {
        let io = match self {
            DialError::Io(e) => (e.kind(), e.raw_os_error()),
            DialError::Proxy(ProxyError::Io(e)) => (e.kind(), e.raw_os_error()),
            _ => return false,
        };
        match io {
            (io::ErrorKind::AddrNotAvailable, _) => true,
            (_, Some(code)) => LOCAL_CODES.contains(&code),
            _ => false,
        }
    }
}

/// ENETDOWN, ENETUNREACH, EADDRNOTAVAIL.
#[cfg(any(target_os = "linux", target_os = "android"))]
const LOCAL_CODES: [i32; 3] = [100, 101, 99];
#[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd", target_os = "openbsd", target_os = "netbsd"))]
const LOCAL_CODES: [i32; 3] = [50, 51, 49];
/// WSAENETDOWN, WSAENETUNREACH, WSAEADDRNOTAVAIL.
#[cfg(windows)]
const LOCAL_CODES: [i32; 3] = [10050, 10051, 10049];
#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "netbsd",
    windows
)))]
const LOCAL_CODES: [i32; 0] = [];

/// The error a connect gets when the network is unreachable, for the simulator.
#[cfg(any(test, feature = "sim"))]
pub(crate) fn network_unreachable() -> io::Error {
    match LOCAL_CODES.get(1) {
        Some(&code) => io::Error::from_raw_os_error(code),
        None => io::Error::from(io::ErrorKind::AddrNotAvailable),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync_static<T: Send + Sync + 'static>() {}

    #[test]
    fn errors_are_send_sync_static() {
        assert_send_sync_static::<ConfigError>();
        assert_send_sync_static::<Error>();
        assert_send_sync_static::<OpError>();
        assert_send_sync_static::<DialError>();
        assert_send_sync_static::<AddressError>();
    }

    #[test]
    fn a_cause_is_shown_once() {
        // Either in the message or as the source: an error reporter prints each level once.
        let refused = DialError::Io(io::Error::from_raw_os_error(111).into());
        assert!(refused.to_string().contains("refused"), "{refused}");
        assert!(refused.source().is_none());
        let no_addr = DialError::NoAddress(AddressError::new("empty book"));
        assert_eq!((no_addr.to_string().as_str(), no_addr.source().is_none()), ("no address: empty book", true));
        let listen = Error::Listen { addr: "127.0.0.1:1".parse().unwrap(), source: io::ErrorKind::AddrInUse.into() };
        assert_eq!(listen.to_string(), "cannot listen on 127.0.0.1:1");
        assert!(listen.source().is_some());
        let config = Error::from(ConfigError::ZeroConnectTimeout);
        assert!(config.to_string().contains("connect_timeout"));
        assert!(config.source().is_none());
    }

    #[test]
    fn dial_errors_compare_by_kind_and_code() {
        let a = DialError::Io(io::Error::from_raw_os_error(111).into());
        assert_eq!(a.clone(), a);
        assert_eq!(a, DialError::Io(io::Error::from_raw_os_error(111).into()));
        assert_ne!(a, DialError::Io(io::Error::from_raw_os_error(113).into()));
        assert_ne!(a, DialError::TimedOut(Duration::from_secs(1)));
    }

    #[test]
    fn failures_are_classified_whichever_layer_saw_them() {
        assert_eq!(DialError::TimedOut(Duration::from_secs(1)).cause(), FailureCause::TimedOut);
        assert_eq!(DialError::Io(io::ErrorKind::TimedOut.into()).cause(), FailureCause::TimedOut);
        assert_eq!(DialError::Io(io::ErrorKind::ConnectionRefused.into()).cause(), FailureCause::Refused);
        // No local address (or no free port): the node's own trouble.
        assert_eq!(DialError::Io(io::ErrorKind::AddrNotAvailable.into()).cause(), FailureCause::Local);
        assert_eq!(DialError::Io(io::ErrorKind::PermissionDenied.into()).cause(), FailureCause::Other);
        // Whichever socket met it, the target's or the proxy's, a local error is the node's own.
        let unreachable = || IoError::from(network_unreachable());
        assert_eq!(DialError::Io(unreachable()).cause(), FailureCause::Local);
        assert_eq!(DialError::Proxy(ProxyError::Io(unreachable())).cause(), FailureCause::Local);
        assert_ne!(DialError::Banned.cause(), FailureCause::Local);
        #[cfg(feature = "dns")]
        {
            let nx = DialError::Dns(crate::dns::DnsError::NxDomain);
            assert_eq!(
                (nx.cause(), nx.to_string().as_str(), nx.source().is_none()),
                (FailureCause::Dns, "no such host", true)
            );
        }
    }

    #[test]
    fn only_local_errors_are_local() {
        let io = |e: io::Error| DialError::Io(e.into());
        assert!(DialError::is_local(&io(io::Error::from(io::ErrorKind::AddrNotAvailable))));
        assert!(DialError::is_local(&io(io::Error::from_raw_os_error(LOCAL_CODES[0]))));
        assert!(DialError::is_local(&io(network_unreachable())), "the simulator's outage is local");
        assert!(DialError::is_local(&DialError::Proxy(ProxyError::Io(
            io::Error::from_raw_os_error(LOCAL_CODES[2]).into()
        ))));
        assert!(!DialError::is_local(&io(io::Error::from(io::ErrorKind::ConnectionRefused))));
        assert!(!DialError::is_local(&DialError::TimedOut(Duration::from_secs(1))));
        assert!(!DialError::is_local(&DialError::Banned));
    }
}
