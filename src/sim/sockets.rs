//! The simulated sockets: one per dial or accepted connection, each closed exactly once, by the
//! core (through `Action::Close`), by the I/O layer itself (a failed connect, a rejected accept,
//! or a success the core no longer wants), or by the user after `detach`. Closing an unknown or
//! already closed socket panics: that is a core bug the tests must see.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::core::IoKey;
use crate::peer::Peer;

/// Who closed a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Closer {
    /// The core, with `Action::Close`.
    Core,
    /// The I/O layer on its own.
    Io,
    /// The user, after `detach`.
    User,
}

#[derive(Clone, Debug)]
pub(crate) struct Socket {
    /// Whose it is; `None` for an accepted socket the core has not admitted (yet).
    pub(crate) owner: Option<Peer>,
    pub(crate) detached: bool,
    pub(crate) closed: Option<(Duration, Closer)>,
}

#[derive(Debug, Default)]
pub(crate) struct Sockets {
    all: BTreeMap<u64, Socket>,
}

impl Sockets {
    /// Opens a socket with a key never used before.
    pub(crate) fn open(&mut self, owner: Option<Peer>) -> IoKey {
        let key = self.all.len() as u64 + 1;
        self.all.insert(key, Socket { owner, detached: false, closed: None });
        IoKey::from(key)
    }

    pub(crate) fn set_owner(&mut self, io: IoKey, owner: Peer) {
        if let Some(socket) = self.all.get_mut(&u64::from(io)) {
            socket.owner = Some(owner);
        }
    }

    /// Closes a socket. Panics if it is unknown or already closed, or if the core closes a
    /// socket the user took.
    pub(crate) fn close(&mut self, io: IoKey, by: Closer, at: Duration) {
        let Some(socket) = self.all.get_mut(&u64::from(io)) else {
            panic!("{by:?} closed unknown socket {io:?} at {at:?}")
        };
        if let Some((when, who)) = socket.closed {
            panic!("{by:?} closed socket {io:?} ({:?}) at {at:?}: already closed by {who:?} at {when:?}", socket.owner);
        }
        assert!(!(socket.detached && by == Closer::Core), "the core closed detached socket {io:?} at {at:?}");
        socket.closed = Some((at, by));
    }

    pub(crate) fn detach(&mut self, io: IoKey) {
        let socket = self.all.get_mut(&u64::from(io)).expect("detached socket exists");
        assert!(socket.closed.is_none(), "detached socket {io:?} is already closed");
        socket.detached = true;
    }

    pub(crate) fn get(&self, io: IoKey) -> Option<&Socket> {
        self.all.get(&u64::from(io))
    }

    pub(crate) fn is_open(&self, io: IoKey) -> bool {
        self.all.get(&u64::from(io)).is_some_and(|s| s.closed.is_none())
    }

    /// Sockets open now, detached ones included (their user has not closed them).
    pub(crate) fn open_count(&self) -> usize {
        self.all.values().filter(|s| s.closed.is_none()).count()
    }

    /// Panics unless every socket the manager still owned has been closed (exactly once: a
    /// second close already panicked). Detached sockets are the user's.
    pub(crate) fn assert_all_closed(&self) {
        let open: Vec<_> =
            self.all.iter().filter(|(_, s)| s.closed.is_none() && !s.detached).map(|(k, s)| (*k, s.owner)).collect();
        assert!(open.is_empty(), "sockets left open (key, owner): {open:?}");
    }
}
