//! [`Ctx`]: what a [`Handler`](super::Handler) callback can do.
//!
//! Operations (`connect`, `resolve`, `seed`, `disconnect`, `remove`, `close`, `stop`, ...) are
//! queued as commands and applied when the callback returns, so the core is never changed under
//! a callback's feet and callbacks never nest. Timers, queries, streams and `detach` act at
//! once.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Interest, Registry};

use super::table::{token_of, Kind, Sockets, Stage};
use super::Detached;
use crate::command::Command;
use crate::core::{
    ConnInfo, ConnState, ConnectOptions, Core, Counters, DisconnectOptions, DisconnectReason, LookupId, Observation,
    TimerId,
};
use crate::error::OpError;
use crate::id::ConnId;
use crate::net::Subnet;
use crate::peer::{Peer, Ready};
use crate::policy::outbound::{ClassId, ConnClass, Pause, ProbeKind};
use crate::target::{HostName, Target};

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

    /// [`Reactor::connect`](super::Reactor::connect), applied when the callback returns; the id
    /// is valid at once.
    pub fn connect(&mut self, target: impl Into<Target>, opts: ConnectOptions) -> Result<ConnId, OpError> {
        self.check()?;
        let target = target.into();
        self.core.check_connect(&target, &opts)?;
        let id = self.core.ids().next_id();
        self.cmds.push_back(Command::Connect { id, target, opts });
        Ok(id)
    }

    /// [`Reactor::resolve`](super::Reactor::resolve), applied when the callback returns; the id
    /// is valid at once.
    pub fn resolve(&mut self, name: HostName) -> Result<LookupId, OpError> {
        self.check()?;
        self.core.check_resolve()?;
        let id = LookupId::new(self.core.lookup_ids().next_id().get());
        self.cmds.push_back(Command::Resolve { id, name });
        Ok(id)
    }

    /// [`Reactor::seed`](super::Reactor::seed), applied when the callback returns.
    #[cfg(feature = "dns")]
    pub fn seed(
        &mut self,
        seeds: &[crate::seed::DnsSeed],
        default_port: u16,
        required_services: u64,
    ) -> Result<(), OpError> {
        self.queue(crate::command::seed_command(seeds, default_port, required_services))
    }

    /// [`Reactor::new_conn_req`](super::Reactor::new_conn_req), applied when the callback
    /// returns.
    pub fn new_conn_req(&mut self) -> Result<(), OpError> {
        self.queue(Command::NewConnReq)
    }

    /// [`Reactor::disconnect`](super::Reactor::disconnect), applied when the callback returns.
    pub fn disconnect(&mut self, id: ConnId, opts: DisconnectOptions) -> Result<(), OpError> {
        self.queue(Command::Disconnect { id, opts })
    }

    /// [`Reactor::remove`](super::Reactor::remove), applied when the callback returns.
    pub fn remove(&mut self, id: ConnId) -> Result<(), OpError> {
        self.queue(Command::Remove { id })
    }

    /// [`Reactor::close`](super::Reactor::close), applied when the callback returns.
    pub fn close(&mut self, peer: Peer, reason: DisconnectReason) -> Result<(), OpError> {
        self.queue(Command::Close { peer, reason })
    }

    /// [`Reactor::stop`](super::Reactor::stop), applied when the callback returns. Operations
    /// asked for after it are refused.
    pub fn stop(&mut self) -> Result<(), OpError> {
        self.queue(Command::Stop)?;
        *self.stop_queued = true;
        Ok(())
    }

    /// [`Reactor::ban`](super::Reactor::ban), applied when the callback returns.
    pub fn ban(&mut self, subnet: Subnet, duration: Duration) -> Result<(), OpError> {
        self.queue(Command::Ban { subnet, duration })
    }

    /// [`Reactor::unban`](super::Reactor::unban), applied when the callback returns.
    pub fn unban(&mut self, subnet: Subnet) -> Result<(), OpError> {
        self.queue(Command::Unban { subnet })
    }

    /// [`Reactor::misbehaving`](super::Reactor::misbehaving), applied when the callback returns.
    pub fn misbehaving(
        &mut self,
        peer: Peer,
        persistent: u32,
        transient: u32,
        reason: impl Into<Cow<'static, str>>,
    ) -> Result<(), OpError> {
        self.queue(Command::Misbehaving { peer, persistent, transient, reason: reason.into() })
    }

    /// [`Reactor::observe`](super::Reactor::observe), at once.
    pub fn observe(&mut self, peer: Peer, observation: Observation) -> Result<(), OpError> {
        self.core.observe(self.now, peer, observation)
    }

    /// The bans in force, with the time each has left.
    pub fn bans(&self) -> Vec<(Subnet, Duration)> {
        self.core.bans(self.now)
    }

    /// [`Reactor::probe`](crate::Reactor::probe), queued; the id is valid at once.
    pub fn probe(&mut self, target: impl Into<Target>, kind: ProbeKind) -> Result<ConnId, OpError> {
        self.check()?;
        let target = target.into();
        self.core.check_connect(&target, &ConnectOptions::once())?;
        self.core.check_limit(ConnClass::Probe(kind))?;
        let id = self.core.ids().next_id();
        self.cmds.push_back(Command::Probe { id, target, kind });
        Ok(id)
    }

    /// [`Reactor::pause`](crate::Reactor::pause), queued.
    pub fn pause(&mut self, mode: Pause) -> Result<(), OpError> {
        self.queue(Command::Pause { mode })
    }

    /// [`Reactor::resume`](crate::Reactor::resume), queued.
    pub fn resume(&mut self) -> Result<(), OpError> {
        self.queue(Command::Resume)
    }

    /// [`Reactor::anchors`](crate::Reactor::anchors).
    pub fn anchors(&self) -> Vec<(ClassId, Target)> {
        self.core.anchors()
    }

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

    /// A request's state (see [`Core::state`]).
    pub fn state(&self, id: ConnId) -> Option<ConnState> {
        self.core.state(id)
    }

    /// A live request's details.
    pub fn info(&self, id: ConnId) -> Option<ConnInfo> {
        self.core.info(id)
    }

    /// A connection's remote address.
    pub fn peer_addr(&self, peer: Peer) -> Option<SocketAddr> {
        self.core.peer_addr(peer)
    }

    /// Counters and gauges.
    pub fn counters(&self) -> Counters {
        self.core.counters()
    }

    fn check(&self) -> Result<(), OpError> {
        if self.core.is_stopped() || *self.stop_queued {
            Err(OpError::Stopped)
        } else {
            Ok(())
        }
    }

    fn queue(&mut self, command: Command) -> Result<(), OpError> {
        self.check()?;
        self.cmds.push_back(command);
        Ok(())
    }
}
