//! Listeners and accepting: accept until `WouldBlock`, ask the core to admit each connection
//! before anything else sees it, and pause a listener when the core says so.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Token};

use super::table::{io_key, Kind};
use super::{Handler, Reactor};
use crate::core::{AcceptDecision, ListenerKey};
use crate::error::Error;
use crate::peer::Peer;

impl<H: Handler> Reactor<H> {
    /// Accepts inbound connections on `listener` (btcd's `Listeners`) and returns its address.
    pub fn add_listener(&mut self, listener: std::net::TcpListener) -> Result<SocketAddr, Error> {
        let key = self.core.add_listener()?;
        let registered = listener.set_nonblocking(true).and_then(|()| listener.local_addr()).and_then(|addr| {
            let kind = Kind::Listener { listener: TcpListener::from_std(listener), key, paused: false };
            self.sockets.insert(&self.registry, kind, Interest::READABLE).map(|token| (token, addr))
        });
        match registered {
            Ok((token, addr)) => {
                self.listeners.push((token, addr));
                log::info!("Server listening on {addr}");
                Ok(addr)
            }
            Err(e) => {
                self.core.remove_listener(key);
                Err(Error::Io(e))
            }
        }
    }

    /// The addresses of the listeners.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.iter().map(|&(_, addr)| addr).collect()
    }

    pub(super) fn resume_accept(&mut self, now: Instant, listener: ListenerKey) {
        let Some(&(token, _)) = self.listeners.iter().find(|(t, _)| self.listener_key(*t) == Some(listener)) else {
            return;
        };
        if let Some(Kind::Listener { paused, .. }) = self.sockets.get_mut(token).map(|e| &mut e.kind) {
            *paused = false;
        }
        self.accept_all(now, token, listener);
    }

    fn listener_key(&self, token: Token) -> Option<ListenerKey> {
        match self.sockets.get(token).map(|e| &e.kind) {
            Some(Kind::Listener { key, .. }) => Some(*key),
            _ => None,
        }
    }

    pub(super) fn accept_all(&mut self, now: Instant, token: Token, key: ListenerKey) {
        loop {
            let accepted = match self.sockets.get_mut(token).map(|e| &mut e.kind) {
                Some(Kind::Listener { listener, paused: false, .. }) => listener.accept(),
                _ => return,
            };
            match accepted {
                Ok((stream, remote)) => self.admit(now, key, stream, remote),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    if let AcceptDecision::Pause(_) = self.core.accept_error(now, key, &e) {
                        if let Some(Kind::Listener { paused, .. }) = self.sockets.get_mut(token).map(|e| &mut e.kind) {
                            *paused = true;
                        }
                        return;
                    }
                }
            }
        }
    }

    /// Admits a socket another shard accepted, as if `listener` had accepted it here.
    #[cfg(feature = "shards")]
    pub(crate) fn adopt(&mut self, listener: ListenerKey, stream: TcpStream, remote: SocketAddr) {
        let shared = std::sync::Arc::clone(&self.shared);
        let _inside = shared.enter();
        self.admit(Instant::now(), listener, stream, remote);
    }

    fn admit(&mut self, now: Instant, key: ListenerKey, stream: TcpStream, remote: SocketAddr) {
        #[cfg(feature = "shards")]
        let Some((stream, remote)) = (match &mut self.handoff {
            Some(handoff) => handoff(stream, remote),
            None => Some((stream, remote)),
        }) else {
            return;
        };
        let token = self.sockets.next_token();
        let Some(id) = self.core.accept(now, key, remote, io_key(token)) else {
            // Rejected: closed before any user code sees it (never registered, so dropping is
            // the whole close).
            drop(stream);
            return;
        };
        let kind = Kind::Inbound { stream, id };
        match self.sockets.insert(&self.registry, kind, Interest::READABLE | Interest::WRITABLE) {
            Ok(registered) => debug_assert_eq!(registered, token),
            Err(e) => {
                log::warn!("Cannot register inbound connection from {remote}: {e}");
                let _ = self.core.close(now, Peer::Inbound(id), e.into());
            }
        }
        // on_accept, before the next accept.
        self.run(now);
    }
}
