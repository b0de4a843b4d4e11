//! The operations on requests and connections, each [`Reactor`](crate::Reactor)'s operation of
//! the same name with the time as input: btcd's `Connect`, `NewConnReq`, `Disconnect`, `Remove`,
//! and `close`, btcd's server's "this peer is done" path, which is also the churn path.

use std::time::Instant;

use super::request::flag;
use super::InboundSlot;
use super::{Action, ConnState, ConnectOptions, Core, DisconnectOptions, DisconnectReason, Event, IoKey};
use crate::error::{AddressError, DialError, OpError};
use crate::id::ConnId;
use crate::peer::Peer;
use crate::policy::outbound::{ClassId, ConnClass};
use crate::target::Target;

/// A new request or lookup before it has an id: what a front end's `mint` checks before it
/// draws one.
pub(crate) enum Fresh<'a> {
    /// A manual request (`connect`) or a probe: its target, options and class.
    Request { target: &'a Target, opts: &'a ConnectOptions, class: ConnClass },
    /// A name lookup (`resolve`).
    Lookup,
}

impl Core {
    /// [`Reactor::connect`](crate::Reactor::connect).
    pub fn connect(
        &mut self,
        now: Instant,
        target: impl Into<Target>,
        opts: ConnectOptions,
    ) -> Result<ConnId, OpError> {
        if self.stopped {
            return Err(OpError::Stopped);
        }
        let target = target.into();
        let id =
            ConnId::new(self.mint(Fresh::Request { target: &target, opts: &opts, class: ConnClass::Manual }, true)?);
        self.connect_with_id(now, id, target, opts)?;
        Ok(id)
    }

    /// Checks a new request (its options and route, the stop, its class's cap) or lookup as
    /// `connect`, `probe` and `resolve` do, and draws its id: the one place ids are minted for
    /// the core and the front ends on its thread. With `manual_cap` false a manual request's
    /// cap is left to when it is applied (a callback's `connect`: one over the cap ends then).
    pub(crate) fn mint(&self, fresh: Fresh<'_>, manual_cap: bool) -> Result<u64, OpError> {
        match fresh {
            Fresh::Request { target, opts, class } => {
                self.check_connect(target, opts)?;
                if self.stopped {
                    return Err(OpError::Stopped);
                }
                if manual_cap || class != ConnClass::Manual {
                    self.check_limit(class)?;
                }
                Ok(self.ids.next_id().get())
            }
            Fresh::Lookup => {
                self.check_resolve()?;
                Ok(self.lookup_ids.next_id().get())
            }
        }
    }

    /// What `connect` can refuse at once: bad options, a target no route reaches.
    pub(crate) fn check_connect(&self, target: &Target, opts: &ConnectOptions) -> Result<(), OpError> {
        opts.check()?;
        self.routes.route(target, opts.via.as_ref()).map_err(OpError::NoRoute)?;
        Ok(())
    }

    /// `connect` with an id a front end drew earlier, so it could return it before the
    /// request reached the reactor thread.
    pub(crate) fn connect_with_id(
        &mut self,
        now: Instant,
        id: ConnId,
        target: Target,
        opts: ConnectOptions,
    ) -> Result<(), OpError> {
        self.make_request(now, id, target, &opts, ConnClass::Manual)
    }

    /// [`Reactor::new_conn_req`](crate::Reactor::new_conn_req).
    pub fn new_conn_req(&mut self, now: Instant) -> Result<(), OpError> {
        let _ = now;
        if self.stopped {
            return Err(OpError::Stopped);
        }
        self.request_automatic(ClassId::DEFAULT);
        Ok(())
    }

    /// The address source's answer to one [`Action::NeedAddress`] for `class`.
    ///
    /// `None` means there is no address source (btcd's nil `GetNewAddress`): no request is made
    /// and no id used. `Some(Err(_))` is a failed attempt, exactly like a failed dial.
    pub fn address(&mut self, now: Instant, class: ClassId, answer: Option<Result<Target, AddressError>>) {
        if self.stopped {
            // Asked for before the stop: nothing to make now.
            return;
        }
        if !self.out.answered(class) {
            log::error!("An address for {class} arrived that nobody asked for; ignored");
            return;
        }
        let Some(answer) = answer else {
            self.give_auto_slots(class, 1);
            log::trace!("No address source: automatic request not made");
            return;
        };
        let id = self.ids.next_id();
        match answer {
            Ok(target) => {
                let key = self.register(id, Some(target), &ConnectOptions::once(), ConnClass::Automatic(class));
                if self.started {
                    self.start_dial(now, key);
                }
            }
            Err(error) => {
                let key = self.register(id, None, &ConnectOptions::once(), ConnClass::Automatic(class));
                self.reqs[key].state = ConnState::Failing;
                self.counters.failed_other += 1;
                log::debug!("Failed to connect to {}: {}", self.info_at(key), error);
                self.failed(now, key, false, Some(DialError::NoAddress(error)), ConnState::Failed, true);
            }
        }
    }

    /// [`Reactor::disconnect`](crate::Reactor::disconnect).
    pub fn disconnect(&mut self, now: Instant, id: ConnId, opts: DisconnectOptions) -> Result<(), OpError> {
        let key = self.live_key(id)?;
        if self.reqs[key].state != ConnState::Established {
            self.cancel(now, key);
            return Ok(());
        }
        self.drop_established(key, DisconnectReason::Requested);
        let rec = &self.reqs[key];
        let permanent = rec.permanent();
        // btcd's rule, for the request's own class (a manual one looks at the default set).
        let class = if rec.automatic() { rec.class_id() } else { ClassId::DEFAULT };
        if permanent || self.out.below_target(class) {
            self.reconnect(now, key, permanent || opts.triggers_reconnect());
        } else {
            self.end(now, key, ConnState::Disconnected);
        }
        Ok(())
    }

    /// [`Reactor::remove`](crate::Reactor::remove).
    pub fn remove(&mut self, now: Instant, id: ConnId) -> Result<(), OpError> {
        let key = self.live_key(id)?;
        if self.reqs[key].state != ConnState::Established {
            self.cancel(now, key);
            return Ok(());
        }
        self.drop_established(key, DisconnectReason::Removed);
        self.end(now, key, ConnState::Disconnected);
        Ok(())
    }

    /// [`Reactor::close`](crate::Reactor::close).
    pub fn close(&mut self, now: Instant, peer: impl Into<Peer>, reason: DisconnectReason) -> Result<(), OpError> {
        let id = match peer.into() {
            Peer::Inbound(id) => {
                if self.stopped {
                    return Err(OpError::Stopped);
                }
                if self.inbound_record(id).is_none() {
                    return Err(OpError::UnknownInbound(id));
                }
                let rec = self.inbound.remove(id.slot());
                self.inbound_closed(id, rec, reason);
                return Ok(());
            }
            Peer::Outbound(id) => id,
        };
        let key = self.live_key(id)?;
        if self.reqs[key].state != ConnState::Established {
            return Err(OpError::NotEstablished(id));
        }
        self.drop_established(key, reason);
        let rec = &self.reqs[key];
        if rec.permanent() {
            self.reconnect(now, key, true);
            return Ok(());
        }
        let (automatic, class) = (rec.automatic(), rec.class_id());
        self.end(now, key, ConnState::Disconnected);
        if automatic {
            self.request_automatic(class);
        }
        Ok(())
    }

    /// Hands a connection's socket over to the caller: the core forgets the socket (it will
    /// never ask to close it). An inbound connection is forgotten, its slot handed over with
    /// it; an outbound request stays `Established`, counting toward its target, until the
    /// caller reports the end with `disconnect`, `remove` or `close`.
    pub fn detach(&mut self, peer: Peer) -> Result<(IoKey, Option<InboundSlot>), OpError> {
        if self.stopped {
            return Err(OpError::Stopped);
        }
        match peer {
            Peer::Outbound(id) => {
                let key = self.live_key(id)?;
                let rec = &mut self.reqs[key];
                match (rec.state, rec.io()) {
                    (ConnState::Established, Some(io)) => {
                        rec.set_io(None);
                        Ok((io, None))
                    }
                    _ => Err(OpError::NotEstablished(id)),
                }
            }
            Peer::Inbound(id) => {
                if self.inbound_record(id).is_none() {
                    return Err(OpError::UnknownInbound(id));
                }
                let rec = self.inbound.remove(id.slot());
                log::debug!("Inbound connection {id} detached");
                // The caps count what the core holds: a detached stream is the user's now.
                self.inbound_gone(id, &rec);
                Ok((rec.io, Some(rec.slot)))
            }
        }
    }

    fn live_key(&self, id: ConnId) -> Result<usize, OpError> {
        if self.stopped {
            return Err(OpError::Stopped);
        }
        self.key_of(id).ok_or_else(|| {
            // btcd's level, though it is often a benign double remove.
            log::error!("Unknown connid={id}");
            OpError::UnknownId(id)
        })
    }

    fn cancel(&mut self, now: Instant, key: usize) {
        log::debug!("Canceling: {}", self.info_at(key));
        self.end(now, key, ConnState::Canceled);
    }

    /// Closes an established connection's socket, updates the gauges and reports it. The
    /// request stays in the slab; the caller decides what follows.
    pub(super) fn drop_established(&mut self, key: usize, reason: DisconnectReason) {
        let rec = &mut self.reqs[key];
        debug_assert_eq!(rec.state, ConnState::Established);
        let io = rec.take_io();
        rec.state = ConnState::Pending;
        let (automatic, class) = (rec.automatic(), rec.class_id());
        self.leave_established(automatic, class);
        // A stable or probe-deadline timer is for the connection that has just gone, and so is
        // the netgroup place (a reconnect takes one again when it dials).
        self.disarm(key);
        self.release_group(key);
        let info = self.info_at(key);
        if let Some(io) = io {
            self.actions.push_back(Action::Close { io });
        }
        self.counters.disconnections += 1;
        log::debug!("Disconnected from {}", info);
        self.actions.push_back(Action::Event(Event::Disconnected { info, reason }));
    }

    /// btcd's re-pending after a disconnect, then `handleFailedConn`.
    fn reconnect(&mut self, now: Instant, key: usize, retries: bool) {
        debug_assert!(!self.reqs[key].has(flag::DIALING));
        self.reqs[key].state = ConnState::Pending;
        log::debug!("Reconnecting to {}", self.info_at(key));
        self.failed(now, key, retries, None, ConnState::Disconnected, true);
    }
}
