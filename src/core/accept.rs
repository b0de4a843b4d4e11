//! Listeners and accepting: admission of each accepted socket, and the pause that follows an
//! accept error.
//!
//! btcd's accept loop retries at once on every error, so running out of file descriptors spins
//! a core at 100 %. Here resource errors (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`, ...) pause
//! that listener for 5 ms, doubling up to 1 s while they persist; errors about one connection
//! (`ECONNABORTED`, `ECONNRESET`, `EINTR`) continue at once.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::inbound::InboundRecord;
use super::request::IoKey;
use super::{Action, Core, Event, Timer};
use crate::error::OpError;
use crate::id::InboundId;
use crate::time::TimerKey;

const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(5);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// A listener, as the core knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ListenerKey(usize);

#[cfg(test)]
impl ListenerKey {
    pub(crate) fn for_tests(key: usize) -> Self {
        ListenerKey(key)
    }
}

/// What the I/O layer does after an accept error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcceptDecision {
    /// Accept again at once: the error concerned one connection.
    Continue,
    /// Stop accepting on this listener until `Action::ResumeAccept` names it.
    Pause(Duration),
}

fn is_transient(err: &io::Error) -> bool {
    matches!(err.kind(), io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset | io::ErrorKind::Interrupted)
}

/// A listener's pause state.
#[derive(Debug, Default)]
pub(crate) struct ListenerState {
    delay: Option<Duration>,
    timer: Option<TimerKey>,
}

impl ListenerState {
    fn next_pause(&mut self) -> Duration {
        let pause = match self.delay {
            None => ACCEPT_BACKOFF_MIN,
            Some(d) => (d * 2).min(ACCEPT_BACKOFF_MAX),
        };
        self.delay = Some(pause);
        pause
    }

    pub(crate) fn clear_timer(&mut self) {
        self.timer = None;
    }
}

impl Core {
    /// Registers a listener, whose accepts and errors are then reported with its key.
    pub fn add_listener(&mut self) -> Result<ListenerKey, OpError> {
        if self.stopped {
            return Err(OpError::Stopped);
        }
        Ok(ListenerKey(self.listeners.insert(ListenerState::default())))
    }

    /// Forgets a listener (its socket is closed) and any pause it was in.
    pub fn remove_listener(&mut self, listener: ListenerKey) {
        if let Some(state) = self.listeners.try_remove(listener.0) {
            if let Some(timer) = state.timer {
                self.wheel.cancel(timer);
            }
        }
    }

    /// An accept on `listener` returned a connection from `remote`, which the I/O layer will
    /// know as `io`. Returns its id if admitted (by the protection checks, then `max_inbound`,
    /// perhaps by evicting a peer); if not, the I/O layer closes the socket at once, before
    /// anything else sees it.
    pub fn accept(&mut self, now: Instant, listener: ListenerKey, remote: SocketAddr, io: IoKey) -> Option<InboundId> {
        if let Some(state) = self.listeners.get_mut(listener.0) {
            state.delay = None;
        }
        if self.stopped {
            return None;
        }
        let (slot, group, trusted) = self.admit(now, remote)?;
        self.counters.accepted += 1;
        self.inbound_serial += 1;
        let serial = self.inbound_serial_of(self.inbound_serial);
        let key = self.inbound.insert(InboundRecord::new(serial, io, remote, slot, group, trusted, now));
        let id = InboundId::new(serial, super::slot_u32(key));
        log::debug!("Accepted {id} from {remote}");
        self.actions.push_back(Action::Event(Event::Accepted { id, remote }));
        Some(id)
    }

    /// An accept on `listener` failed: continue, or pause the listener (with a timer that ends
    /// in `Action::ResumeAccept`).
    pub fn accept_error(&mut self, now: Instant, listener: ListenerKey, error: &io::Error) -> AcceptDecision {
        if is_transient(error) {
            log::debug!("Accept on listener {} failed, continuing: {}", listener.0, error);
            return AcceptDecision::Continue;
        }
        let Some(state) = self.listeners.get_mut(listener.0) else {
            return AcceptDecision::Continue;
        };
        let pause = state.next_pause();
        if let Some(old) = state.timer.take() {
            self.wheel.cancel(old);
        }
        let deadline = self.deadline_tick(now, pause);
        let timer = self.wheel.insert(deadline, Timer::Accept(super::slot_u32(listener.0)));
        self.listeners[listener.0].timer = Some(timer);
        log::error!("Can't accept connection: {error} (pausing this listener for {pause:?})");
        AcceptDecision::Pause(pause)
    }

    pub(super) fn resume_accept(&mut self, listener: usize) {
        if let Some(state) = self.listeners.get_mut(listener) {
            state.timer = None;
            self.actions.push_back(Action::ResumeAccept { listener: ListenerKey(listener) });
        }
    }

    pub(super) fn inbound_record(&self, id: InboundId) -> Option<&InboundRecord> {
        self.inbound.get(id.slot()).filter(|r| r.serial == id.serial())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_the_cap_and_reset_on_success() {
        let mut s = ListenerState::default();
        let pauses: Vec<_> = (0..10).map(|_| s.next_pause().as_millis()).collect();
        assert_eq!(pauses, [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        s.delay = None;
        assert_eq!(s.next_pause(), ACCEPT_BACKOFF_MIN);
    }

    #[test]
    fn resource_errors_are_not_transient() {
        for errno in [23, 24] {
            // ENFILE, EMFILE have the same numbers on Linux and the BSDs.
            assert!(!is_transient(&io::Error::from_raw_os_error(errno)));
        }
        assert!(!is_transient(&io::ErrorKind::OutOfMemory.into()));
        assert!(is_transient(&io::ErrorKind::Interrupted.into()));
    }
}
