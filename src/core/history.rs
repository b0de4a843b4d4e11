//! The final states of recently ended requests, so `state(id)` still answers after `remove`
//! (as btcd's `ConnReq.State()` does) without keeping ended requests for ever (btcd's leak).
//!
//! A ring of the last N `(id, state)` pairs, 16 bytes each, allocated once. A lookup scans it
//! newest first: queries are rare next to the churn that fills it, which costs one store.

use std::collections::VecDeque;

use super::request::ConnState;
use crate::id::ConnId;

#[derive(Debug)]
pub(crate) struct History {
    ended: VecDeque<(ConnId, ConnState)>,
    cap: usize,
}

impl History {
    pub(crate) fn new(cap: usize) -> Self {
        History { ended: VecDeque::with_capacity(cap), cap }
    }

    pub(crate) fn push(&mut self, id: ConnId, state: ConnState) {
        if self.cap == 0 {
            return;
        }
        if self.ended.len() == self.cap {
            self.ended.pop_front();
        }
        self.ended.push_back((id, state));
    }

    pub(crate) fn get(&self, id: ConnId) -> Option<ConnState> {
        self.ended.iter().rev().find(|(ended, _)| *ended == id).map(|&(_, state)| state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_the_last_n_and_forgets_older() {
        let mut h = History::new(3);
        for i in 1..=5 {
            h.push(ConnId::new(i), ConnState::Canceled);
        }
        assert_eq!(h.get(ConnId::new(2)), None, "pushed out");
        assert_eq!(h.get(ConnId::new(3)), Some(ConnState::Canceled));
        assert_eq!(h.get(ConnId::new(5)), Some(ConnState::Canceled));
        assert_eq!(h.ended.len(), 3, "never holds more than its size");
    }

    #[test]
    fn zero_remembers_nothing() {
        let mut h = History::new(0);
        h.push(ConnId::new(1), ConnState::Failed);
        assert_eq!(h.get(ConnId::new(1)), None);
    }
}
