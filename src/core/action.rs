//! What the core asks of its I/O layer ([`Action`]) and what it reports to the user ([`Event`]),
//! and why a connection ended ([`DisconnectReason`]).

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use super::accept::ListenerKey;
use super::lookup::{LookupId, ResolveError};
use super::request::{ConnInfo, ConnState, IoKey};
use super::retry::NextStep;
use crate::error::DialError;
use crate::id::{ConnId, InboundId};
use crate::io_error::IoError;
use crate::policy::outbound::ClassId;
use crate::proxy::Proxy;
use crate::target::{HostName, Target};

/// An output of the core, pulled with [`Core::poll_action`](super::Core::poll_action) and
/// performed in order.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Ask the address source for one address for `class` and answer with
    /// [`Core::address`](super::Core::address).
    NeedAddress {
        /// The automatic class that wants it.
        class: ClassId,
    },
    /// Start a non-blocking connect, then report [`Core::dial_started`](super::Core::dial_started)
    /// (or `dial_failed`), and later `dial_succeeded` or `dial_failed`. A host name with no
    /// proxy (the `dns` feature) is resolved first, its addresses tried in turn (see
    /// `Core::dial_moved`), all within the one connect timeout.
    Dial {
        /// The request.
        id: ConnId,
        /// Where to connect.
        target: Target,
        /// Through this proxy, or direct.
        proxy: Option<Arc<Proxy>>,
    },
    /// Resolve `name` through `proxy` (a SOCKS5 RESOLVE), or with no proxy (the `dns`
    /// feature) with a DNS resolver: start it, report
    /// [`Core::lookup_started`](super::Core::lookup_started) with a key the matching `Close`
    /// cancels it by, then [`Core::lookup_done`](super::Core::lookup_done).
    Resolve {
        /// The lookup.
        id: LookupId,
        /// The name.
        name: HostName,
        /// Tor's SOCKS port, or `None`: the I/O layer's own resolver.
        proxy: Option<Arc<Proxy>>,
    },
    /// Close this socket (exactly once; report nothing more about it).
    Close {
        /// The socket.
        io: IoKey,
    },
    /// Accept on this listener again after an accept-error pause.
    ResumeAccept {
        /// The listener.
        listener: ListenerKey,
    },
    /// Hand this to the user.
    Event(Event),
}

/// Something the user hears about; the reactor turns each into one [`Handler`] callback.
///
/// [`Handler`]: crate::Handler
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A request's dial succeeded (`on_connection`).
    Connected {
        /// The request.
        info: ConnInfo,
        /// Its socket.
        io: IoKey,
    },
    /// An established connection was closed (`on_disconnection`); its socket is already closed.
    Disconnected {
        /// The request.
        info: ConnInfo,
        /// Why.
        reason: DisconnectReason,
    },
    /// A dial failed (`on_dial_failed`).
    DialFailed {
        /// The request.
        info: ConnInfo,
        /// Why.
        error: DialError,
        /// What the manager does next.
        next: NextStep,
    },
    /// A request ended (`on_request_ended`); it is reported once, and then only
    /// `state(id)` remembers it.
    Ended {
        /// The request.
        info: ConnInfo,
        /// Its terminal state.
        state: ConnState,
    },
    /// An inbound connection was admitted (`on_accept`).
    Accepted {
        /// Its id.
        id: InboundId,
        /// The remote address.
        remote: SocketAddr,
    },
    /// An inbound connection was closed (`on_inbound_closed`); its socket is already closed.
    InboundClosed {
        /// Its id.
        id: InboundId,
        /// Why.
        reason: DisconnectReason,
    },
    /// A lookup ended (`on_resolved`).
    Resolved {
        /// The lookup.
        id: LookupId,
        /// The name looked up.
        name: HostName,
        /// The addresses, or why there are none.
        result: Result<Vec<IpAddr>, ResolveError>,
    },
    /// A user timer fired (`on_timer`).
    Timer {
        /// The value it was set with.
        data: u64,
    },
    /// The offline detector changed its mind (`on_network`): offline, dials are held; or
    /// online again, a dial succeeded.
    Network {
        /// Whether the node is online.
        online: bool,
    },
}

/// Why a connection ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// `disconnect` was called.
    Requested,
    /// `remove` was called.
    Removed,
    /// The peer closed the connection.
    RemoteClosed,
    /// A socket error.
    Io(IoError),
    /// A protocol deadline passed (the user's, e.g. a handshake timeout).
    TimedOut(Duration),
    /// The peer broke the user's protocol.
    Protocol(Cow<'static, str>),
    /// The manager stopped.
    Shutdown,
    /// The peer's address was banned (its ban score passed the threshold, or `ban`).
    Banned,
    /// An inbound peer made room for a newcomer (eviction).
    Evicted,
    /// Networking was paused with `Pause::CloseConnections`.
    Paused,
    /// A probe's deadline passed (`OutboundPolicy::probe_deadline`).
    ProbeDeadline,
}

impl DisconnectReason {
    /// A protocol violation with this description.
    pub fn protocol(reason: impl Into<Cow<'static, str>>) -> Self {
        DisconnectReason::Protocol(reason.into())
    }

    /// Whether this side ended it (every reason but `RemoteClosed`, `Io`, `TimedOut` and
    /// `Protocol`).
    pub fn is_local(&self) -> bool {
        matches!(
            self,
            DisconnectReason::Requested
                | DisconnectReason::Removed
                | DisconnectReason::Shutdown
                | DisconnectReason::Banned
                | DisconnectReason::Evicted
                | DisconnectReason::Paused
                | DisconnectReason::ProbeDeadline
        )
    }
}

impl From<std::io::Error> for DisconnectReason {
    fn from(e: std::io::Error) -> Self {
        DisconnectReason::Io(e.into())
    }
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DisconnectReason::Requested => f.write_str("disconnect requested"),
            DisconnectReason::Removed => f.write_str("removed"),
            DisconnectReason::RemoteClosed => f.write_str("closed by peer"),
            DisconnectReason::Io(e) => write!(f, "I/O error: {e}"),
            DisconnectReason::TimedOut(d) => write!(f, "timed out after {d:?}"),
            DisconnectReason::Protocol(r) => write!(f, "protocol: {r}"),
            DisconnectReason::Shutdown => f.write_str("shutdown"),
            DisconnectReason::Banned => f.write_str("banned"),
            DisconnectReason::Evicted => f.write_str("evicted for a newcomer"),
            DisconnectReason::Paused => f.write_str("networking paused"),
            DisconnectReason::ProbeDeadline => f.write_str("probe deadline"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_stay_small() {
        // One is queued per step of every connection; keep them near a cache line (a target
        // may be a name or an onion address, hence a little more).
        assert!(std::mem::size_of::<Action>() <= 112, "Action is {} bytes", std::mem::size_of::<Action>());
    }

    #[test]
    fn reasons_compare_and_say_who_ended_the_connection() {
        assert!(DisconnectReason::Shutdown.is_local());
        assert!(!DisconnectReason::RemoteClosed.is_local());
        let reset = DisconnectReason::from(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert_eq!(reset.to_string(), "I/O error: connection reset");
        assert_eq!(reset.clone(), reset);
        assert_ne!(reset, DisconnectReason::RemoteClosed);
        assert_eq!(DisconnectReason::protocol("bad magic"), DisconnectReason::Protocol("bad magic".into()));
    }
}
