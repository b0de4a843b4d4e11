//! The names every layer uses for a live connection ([`Peer`]) and its readiness ([`Ready`]).

use std::fmt;

use crate::id::{ConnId, InboundId};

/// One of the manager's connections: an outbound request's, or an accepted one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Peer {
    /// The connection of an outbound request.
    Outbound(ConnId),
    /// An accepted inbound connection.
    Inbound(InboundId),
}

impl Peer {
    /// The request id, for an outbound connection.
    pub fn conn_id(self) -> Option<ConnId> {
        match self {
            Peer::Outbound(id) => Some(id),
            Peer::Inbound(_) => None,
        }
    }

    /// The inbound id, for an accepted connection.
    pub fn inbound_id(self) -> Option<InboundId> {
        match self {
            Peer::Outbound(_) => None,
            Peer::Inbound(id) => Some(id),
        }
    }
}

impl From<ConnId> for Peer {
    fn from(id: ConnId) -> Self {
        Peer::Outbound(id)
    }
}

impl From<InboundId> for Peer {
    fn from(id: InboundId) -> Self {
        Peer::Inbound(id)
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::Outbound(id) => write!(f, "out{id}"),
            Peer::Inbound(id) => write!(f, "{id}"),
        }
    }
}

/// Readiness of a connection, as the `Poll` reported it.
///
/// Readiness is edge-triggered: read or write until `WouldBlock`, or no further event comes for
/// data already there.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Ready(u8);

impl Ready {
    /// Data (or a close) can be read.
    pub const READABLE: Ready = Ready(1);
    /// Data can be written.
    pub const WRITABLE: Ready = Ready(1 << 1);
    /// The peer closed its writing half (EOF after any data still buffered).
    pub const READ_CLOSED: Ready = Ready(1 << 2);
    /// Writing is no longer possible.
    pub const WRITE_CLOSED: Ready = Ready(1 << 3);
    /// The socket has an error pending (`take_error` says which).
    pub const ERROR: Ready = Ready(1 << 4);

    /// Translates a mio event.
    pub fn from_event(event: &mio::event::Event) -> Self {
        let mut r = Ready(0);
        for (on, flag) in [
            (event.is_readable(), Ready::READABLE),
            (event.is_writable(), Ready::WRITABLE),
            (event.is_read_closed(), Ready::READ_CLOSED),
            (event.is_write_closed(), Ready::WRITE_CLOSED),
            (event.is_error(), Ready::ERROR),
        ] {
            if on {
                r = r | flag;
            }
        }
        r
    }

    /// Data (or a close) can be read.
    pub fn is_readable(self) -> bool {
        self.0 & Ready::READABLE.0 != 0
    }

    /// Data can be written.
    pub fn is_writable(self) -> bool {
        self.0 & Ready::WRITABLE.0 != 0
    }

    /// The peer closed its writing half.
    pub fn is_read_closed(self) -> bool {
        self.0 & Ready::READ_CLOSED.0 != 0
    }

    /// Writing is no longer possible.
    pub fn is_write_closed(self) -> bool {
        self.0 & Ready::WRITE_CLOSED.0 != 0
    }

    /// An error is pending.
    pub fn is_error(self) -> bool {
        self.0 & Ready::ERROR.0 != 0
    }
}

impl std::ops::BitOr for Ready {
    type Output = Ready;
    fn bitor(self, rhs: Ready) -> Ready {
        Ready(self.0 | rhs.0)
    }
}

impl fmt::Debug for Ready {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (Ready::READABLE, "READABLE"),
            (Ready::WRITABLE, "WRITABLE"),
            (Ready::READ_CLOSED, "READ_CLOSED"),
            (Ready::WRITE_CLOSED, "WRITE_CLOSED"),
            (Ready::ERROR, "ERROR"),
        ];
        f.write_str("Ready(")?;
        let mut first = true;
        for (flag, name) in names {
            if self.0 & flag.0 != 0 {
                if !first {
                    f.write_str(" | ")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_name_their_side() {
        let out = Peer::from(ConnId::new(4));
        assert_eq!((out.conn_id(), out.inbound_id()), (Some(ConnId::new(4)), None));
        assert_eq!(out.to_string(), "out4");
        let inbound = Peer::from(InboundId::new(9, 0));
        assert_eq!((inbound.conn_id(), inbound.to_string().as_str()), (None, "in9"));
    }

    #[test]
    fn readiness_flags_combine_and_print() {
        let ready = Ready::READABLE | Ready::READ_CLOSED;
        assert!(ready.is_readable() && ready.is_read_closed());
        assert!(!ready.is_writable() && !ready.is_write_closed() && !ready.is_error());
        assert_eq!(format!("{ready:?}"), "Ready(READABLE | READ_CLOSED)");
        assert_eq!(format!("{:?}", Ready::default()), "Ready()");
    }
}
