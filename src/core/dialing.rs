//! The dial lifecycle: starting a dial (or queueing it behind `max_dials_in_flight`), its
//! outcome as reported by the I/O layer (started, connected, failed) or by the connect timeout,
//! and what follows a failure (btcd's `handleConnected`, `handleFailed`, `handleFailedConn`).

use std::time::Instant;

use super::request::{flag, TimerPurpose};
use super::retry::Failure;
use super::{Action, ConnState, Core, Event, IoKey, NextStep};
use crate::error::{DialError, FailureCause};
use crate::id::ConnId;

impl Core {
    /// Dials a registered request now, or queues it if `max_dials_in_flight` dials are already
    /// in progress.
    pub(super) fn start_dial(&mut self, now: Instant, key: usize) {
        if self.stopped {
            return;
        }
        if self.in_flight >= self.max_dials || self.dials_held() {
            let rec = &mut self.reqs[key];
            if !rec.has(flag::QUEUED) {
                rec.set(flag::QUEUED, true);
                self.dial_queue.push_back(rec.id);
            }
            return;
        }
        let Some(target) = self.target_at(key) else {
            // An automatic request whose address source failed has nothing to dial; it only
            // waits for its replacement. Touch no flag or count, so the invariant survives.
            log::error!("Request {} has no address to dial", self.info_at(key));
            return;
        };
        let rec = &self.reqs[key];
        let own = rec.via.checked_sub(1).map(|i| &self.own_proxies[usize::from(i)]);
        let proxy = match self.routes.route(&target, own) {
            Ok(proxy) => proxy,
            Err(no_route) => {
                // Only an address source can hand over such a target (`connect` refuses it):
                // a failed attempt, replaced like any other, and never retried as it stands.
                let rec = &mut self.reqs[key];
                rec.set(flag::QUEUED, false);
                rec.state = ConnState::Failing;
                self.counters.failed_other += 1;
                log::debug!("Failed to connect to {}: {}", self.info_at(key), no_route);
                self.failed(now, key, false, Some(DialError::NoRoute(no_route)), ConnState::Failed, true);
                return;
            }
        };
        if let Some(until) = target.ip().and_then(|addr| self.dial_banned_until(now, addr.ip())) {
            return self.dial_banned(now, key, until);
        }
        if self.reqs[key].automatic() && !self.admit_automatic(now, key, &target) {
            return;
        }
        if !self.take_dial_slot(key) {
            return;
        }
        let rec = &mut self.reqs[key];
        rec.set(flag::QUEUED, false);
        rec.set(flag::DIALING, true);
        let (id, timeout) = (rec.id, rec.connect_timeout(self.connect_timeout));
        self.in_flight += 1;
        self.counters.dials += 1;
        self.arm(now, key, TimerPurpose::ConnectTimeout, timeout);
        log::debug!("Attempting to connect to {}", target);
        self.actions.push_back(Action::Dial { id, target, proxy });
    }

    /// Starts queued dials while slots are free. Requests ended while queued are skipped.
    pub(super) fn pump_dial_queue(&mut self, now: Instant) {
        while self.in_flight < self.max_dials && !self.stopped && !self.dials_held() && self.dial_slot_free() {
            let Some(id) = self.dial_queue.pop_front() else { return };
            if let Some(key) = self.key_of(id) {
                if self.reqs[key].has(flag::QUEUED) {
                    self.start_dial(now, key);
                }
            }
        }
    }

    /// The I/O layer started the connect for [`Action::Dial`] and attaches its socket key.
    /// Returns `false` if the request no longer wants it (the caller must close the socket).
    pub fn dial_started(&mut self, id: ConnId, io: IoKey) -> bool {
        self.attach_io(id, io, false)
    }

    /// Gives a dialling request the socket `io`, if it is dialling and holds a socket already
    /// exactly when `moving` (a dial that moves to its next socket) says it should.
    pub(super) fn attach_io(&mut self, id: ConnId, io: IoKey, moving: bool) -> bool {
        match self.key_of(id) {
            Some(key)
                if self.reqs[key].has(flag::DIALING)
                    && self.reqs[key].io().is_some() == moving
                    && u64::from(io) != u64::MAX =>
            {
                self.reqs[key].set_io(Some(io));
                true
            }
            _ => false,
        }
    }

    /// The dial connected (btcd's `handleConnected`). Returns `false`, reporting nothing, if
    /// the core no longer wants this connection: if the request ended while dialling, the core
    /// has already emitted [`Action::Close`] for this socket (close it for that action only,
    /// never twice); a socket the core never accepted through
    /// [`dial_started`](Self::dial_started) is the caller's to close.
    pub fn dial_succeeded(&mut self, now: Instant, id: ConnId) -> bool {
        let Some(key) = self.key_of(id).filter(|&k| self.reqs[k].has(flag::DIALING)) else {
            log::debug!("Ignoring connection for canceled connreq={id}");
            return false;
        };
        let Some(io) = self.reqs[key].io() else {
            log::error!("Connection for connreq={id} reported before its dial started; ignored");
            return false;
        };
        self.finish_dial(key);
        let rec = &mut self.reqs[key];
        rec.state = ConnState::Established;
        let (automatic, class) = (rec.automatic(), rec.class_id());
        self.outbound_connected(now, key);
        let info = self.info_at(key);
        self.failed_attempts = 0;
        self.established += 1;
        if automatic {
            self.out.classes[class.index()].established += 1;
        }
        self.counters.connected += 1;
        log::debug!("Connected to {}", info);
        self.actions.push_back(Action::Event(Event::Connected { info, io }));
        self.pump_dial_queue(now);
        true
    }

    /// The dial failed, synchronously or asynchronously (btcd's `handleFailed`): an
    /// `io::Error`, or a [`DialError`] such as a proxy's. The I/O layer has already closed its
    /// socket.
    pub fn dial_failed(&mut self, now: Instant, id: ConnId, error: impl Into<DialError>) {
        let Some(key) = self.key_of(id).filter(|&k| self.reqs[k].has(flag::DIALING)) else {
            log::debug!("Ignoring connection for canceled conn req: {id}");
            return;
        };
        self.finish_dial(key);
        self.reqs[key].set_io(None);
        self.dial_error(now, key, error.into());
        self.pump_dial_queue(now);
    }

    /// The connect timeout of a dial fired: close its socket and fail it.
    pub(super) fn dial_timed_out(&mut self, now: Instant, key: usize) {
        let timeout = self.reqs[key].connect_timeout(self.connect_timeout);
        self.finish_dial(key);
        if let Some(io) = self.reqs[key].take_io() {
            self.actions.push_back(Action::Close { io });
        }
        self.dial_error(now, key, DialError::TimedOut(timeout));
        self.pump_dial_queue(now);
    }

    pub(super) fn finish_dial(&mut self, key: usize) {
        self.disarm(key);
        self.reqs[key].set(flag::DIALING, false);
        self.in_flight -= 1;
        self.give_dial_slot();
    }

    fn dial_error(&mut self, now: Instant, key: usize, error: DialError) {
        match error.cause() {
            FailureCause::Refused => self.counters.failed_refused += 1,
            FailureCause::TimedOut => self.counters.failed_timed_out += 1,
            FailureCause::Proxy => self.counters.failed_proxy += 1,
            FailureCause::Local => self.counters.failed_local += 1,
            _ => self.counters.failed_other += 1,
        }
        self.release_group(key);
        let charge = self.judge_failure(now, key, &error);
        let rec = &mut self.reqs[key];
        rec.state = ConnState::Failing;
        let retries = rec.permanent();
        log::debug!("Failed to connect to {}: {}", self.info_at(key), error);
        self.failed(now, key, retries, Some(error), ConnState::Failed, charge);
    }

    /// btcd's `handleFailedConn`: applies the [`RetryPolicy`](super::RetryPolicy) decision.
    /// `error` is reported with the decision when the failure was a dial's; `ended` is the
    /// terminal state if the request ends without replacement.
    pub(super) fn failed(
        &mut self,
        now: Instant,
        key: usize,
        retries: bool,
        error: Option<DialError>,
        ended: ConnState,
        charge: bool,
    ) -> NextStep {
        let rec = &mut self.reqs[key];
        let (automatic, class) = (rec.automatic(), rec.class_id());
        let failure = Failure {
            retries,
            automatic,
            charge,
            backoff: &mut rec.backoff,
            failed_attempts: &mut self.failed_attempts,
        };
        let next = self.policy.decide(failure, &mut self.rng);
        let info = self.info_at(key);
        if let Some(error) = error {
            self.actions.push_back(Action::Event(Event::DialFailed { info: info.clone(), error, next }));
        }
        match next {
            NextStep::RetryIn(delay) => {
                self.counters.retries += 1;
                log::debug!("Retrying connection to {} in {:?}", info, delay);
                self.arm(now, key, TimerPurpose::Retry, delay);
            }
            NextStep::ReplaceIn(delay) => {
                log::debug!(
                    "Max failed connection attempts reached: [{}] -- retrying connection in: {:?}",
                    self.policy.max_failed_attempts(),
                    delay
                );
                self.arm(now, key, TimerPurpose::Replace, delay);
            }
            NextStep::Replaced => {
                self.end(now, key, ConnState::Canceled);
                self.request_automatic(class);
            }
            NextStep::Ended => self.end(now, key, ended),
        }
        next
    }
}
