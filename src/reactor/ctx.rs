//! [`Ctx`]: what a [`Handler`](super::Handler) callback can do.
//!
//! Operations (`connect`, `resolve`, `seed`, `disconnect`, `remove`, `close`, `stop`, ...) are
//! queued as commands and applied when the callback returns, so the core is never changed under
//! a callback's feet and callbacks never nest. Timers, queries, streams and `detach` act at
//! once.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Interest, Registry};

use super::table::{token_of, Kind, Sockets, Stage};
use super::Detached;
use crate::command::Command;
use crate::core::Fresh;
use crate::core::{Core, DisconnectReason, TimerId};
use crate::error::OpError;
use crate::peer::{Peer, Ready};

/// The manager, as a callback sees it.
#[derive(Debug)]
pub struct Ctx<'a> {
    pub(super) core: &'a mut Core,
    pub(super) sockets: &'a mut Sockets,
    pub(super) registry: &'a Registry,
    pub(super) cmds: &'a mut VecDeque<Command>,
    pub(super) stop_queued: &'a mut bool,
    pub(super) now: Instant,
}

impl Ctx<'_> {
    /// The time of the event being handled.
    pub fn now(&self) -> Instant {
        self.now
    }

    crate::command::operations!(
        &mut Self,
        "Inside a callback it is queued and applied when the callback returns (`observe` acts \
         at once); an id it returns is valid at once. After `stop` is queued, operations are \
         refused."
    );
    crate::command::queries!();

    /// Closes `peer` if `ready` says it hung up or failed (with the socket's error as the
    /// reason); returns whether it did. What [`Handler::on_ready`](super::Handler::on_ready)
    /// does by default.
    pub fn close_if_hung_up(&mut self, peer: Peer, ready: Ready) -> bool {
        let reason = if ready.is_error() {
            match self.stream(peer).map(|s| s.take_error()) {
                Some(Ok(Some(e))) | Some(Err(e)) => DisconnectReason::from(e),
                _ => DisconnectReason::RemoteClosed,
            }
        } else if ready.is_read_closed() {
            DisconnectReason::RemoteClosed
        } else {
            return false;
        };
        self.close(peer, reason).is_ok()
    }

    /// The stream of an established connection, to read and write (until `WouldBlock`).
    pub fn stream(&mut self, peer: Peer) -> Option<&mut TcpStream> {
        let token = token_of(self.core.io(peer)?);
        match (&mut self.sockets.get_mut(token)?.kind, peer) {
            (Kind::Outbound { stream, stage: Stage::Open, id }, Peer::Outbound(p)) if *id == p => Some(stream),
            (Kind::Inbound { stream, id }, Peer::Inbound(p)) if *id == p => Some(stream),
            _ => None,
        }
    }

    /// Changes which readiness a connection reports (it starts with readable and writable).
    pub fn set_interest(&mut self, peer: Peer, interest: Interest) -> io::Result<()> {
        let registry = self.registry;
        let token = self.core.io(peer).map(token_of);
        match (token, self.stream(peer)) {
            (Some(token), Some(stream)) => registry.reregister(stream, token, interest),
            _ => Err(io::ErrorKind::NotFound.into()),
        }
    }

    /// [`Reactor::detach`](super::Reactor::detach), at once.
    pub fn detach(&mut self, peer: Peer) -> Result<Detached, OpError> {
        super::detach(self.core, self.sockets, self.registry, peer)
    }

    /// [`Reactor::set_timer`](super::Reactor::set_timer), at once.
    pub fn set_timer(&mut self, after: Duration, data: u64) -> Result<TimerId, OpError> {
        self.check()?;
        self.core.set_timer(self.now, after, data)
    }

    /// Cancels a timer; false if it already fired or was cancelled.
    pub fn cancel_timer(&mut self, id: TimerId) -> bool {
        self.core.cancel_timer(id)
    }

    /// A connection's remote address.
    pub fn peer_addr(&self, peer: Peer) -> Option<SocketAddr> {
        self.core.peer_addr(peer)
    }

    fn check(&self) -> Result<(), OpError> {
        if self.core.is_stopped() || *self.stop_queued {
            Err(OpError::Stopped)
        } else {
            Ok(())
        }
    }

    /// Queues `command` for when the callback returns (`observe` is applied at once).
    fn submit(&mut self, command: Command) -> Result<(), OpError> {
        if let Command::Observe { peer, observation } = command {
            return self.core.observe(self.now, peer, observation);
        }
        self.check()?;
        let stop = matches!(command, Command::Stop);
        self.cmds.push_back(command);
        if stop {
            *self.stop_queued = true;
        }
        Ok(())
    }

    /// Checks a new request or lookup, and draws its id (a manual request's cap is checked
    /// when it is applied).
    fn mint(&self, fresh: Fresh<'_>) -> Result<u64, OpError> {
        self.check()?;
        self.core.mint(fresh, false)
    }

    fn view(&self) -> &Core {
        self.core
    }

    fn view_now(&self) -> Instant {
        self.now
    }
}
