//! The [`Handler`] trait: the user's side of the manager (btcd's `GetNewAddress`,
//! `OnConnection`, `OnDisconnection` and `OnAccept`, plus readiness for the user's protocol).

use std::net::{IpAddr, SocketAddr};

use super::Ctx;
use crate::core::{ConnInfo, ConnState, DisconnectReason, LookupId, NextStep, ResolveError};
use crate::error::{AddressError, DialError};
use crate::id::InboundId;
use crate::peer::{Peer, Ready};
use crate::policy::outbound::ClassId;
use crate::target::{HostName, Target};
#[cfg(feature = "dns")]
use crate::{dns::DnsError, seed::SeedAddress};

/// The user's side of the manager. Implement the methods you need; the defaults do nothing,
/// except [`on_ready`](Handler::on_ready), which closes connections the peer has closed.
///
/// Methods run on the reactor thread, one at a time, in the order things happened, and **must
/// not block**: while one runs, no socket is served. Operations requested through the [`Ctx`]
/// (connect, disconnect, remove, close, stop) are applied after the method returns, never in
/// the middle of it; timers, queries and streams through the `Ctx` act at once.
///
/// # Examples
///
/// A handler that keeps two automatic peers from a fixed list and counts what happens:
///
/// ```
/// use connmgr::{AddressError, ClassId, Config, ConnInfo, Ctx, DisconnectReason, Handler, Manager, Target};
/// use std::net::{IpAddr, SocketAddr};
/// use std::time::{Duration, Instant};
///
/// struct Counting {
///     addrs: Vec<SocketAddr>,
///     next: usize,
///     connected: u32,
/// }
///
/// impl Handler for Counting {
///     fn new_address(&mut self, _class: ClassId) -> Option<Result<Target, AddressError>> {
///         let addr = self.addrs.get(self.next % self.addrs.len().max(1)).copied();
///         self.next += 1;
///         Some(addr.map(Target::from).ok_or_else(|| AddressError::new("no valid connect address")))
///     }
///
///     fn on_connection(&mut self, _ctx: &mut Ctx<'_>, conn: &ConnInfo) {
///         self.connected += 1;
///         log::info!("connected to {conn}");
///     }
///
///     fn on_disconnection(&mut self, _ctx: &mut Ctx<'_>, conn: &ConnInfo, reason: &DisconnectReason) {
///         log::info!("{conn} gone: {reason}");
///     }
/// }
///
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let handler = Counting { addrs: vec![listener.local_addr()?], next: 0, connected: 0 };
/// let mut manager = Manager::new(Config { target_outbound: 2, ..Config::default() }, handler)?;
/// manager.reactor_mut().start();
/// let deadline = Instant::now() + Duration::from_secs(5);
/// while manager.reactor().handler().connected < 2 && Instant::now() < deadline {
///     manager.turn(Some(Duration::from_millis(100)))?;
/// }
/// assert_eq!(manager.reactor().handler().connected, 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Handler {
    /// The manager is starting: requests made here are dialled first, before the automatic
    /// ones (btcd's persistent peers, connected before `Start`).
    fn on_start(&mut self, ctx: &mut Ctx<'_>) {
        let _ = ctx;
    }

    /// The address source (btcd's `GetNewAddress`), asked once per automatic request of
    /// `class` ([`ClassId::DEFAULT`] unless the configuration declares more classes).
    ///
    /// - `Some(Ok(target))`: the request dials `target` (an IP address: `Some(Ok(addr.into()))`,
    ///   a host name or an onion address; one no route reaches counts as a failed attempt).
    /// - `None`: nothing to offer and nothing to count: no request is made and no id is used.
    ///   A handler without an address source always answers `None` (btcd: a nil
    ///   `GetNewAddress`); one that has run dry can answer `None` and call
    ///   [`Ctx::new_conn_req`] once per slot when addresses arrive.
    /// - `Some(Err(_))`: a failed attempt, as btcd counts it: the request is replaced, at once
    ///   until `max_failed_attempts` failures in a row, then every `retry_duration`.
    ///
    /// The address must be ready: no blocking lookups here.
    fn new_address(&mut self, class: ClassId) -> Option<Result<Target, AddressError>> {
        let _ = class;
        None
    }

    /// An outbound connection was established (btcd's `OnConnection`); its stream
    /// ([`Ctx::stream`]) is writable now. If the peer had already sent data or hung up,
    /// [`on_ready`](Handler::on_ready) follows at once with that readiness.
    fn on_connection(&mut self, ctx: &mut Ctx<'_>, conn: &ConnInfo) {
        let _ = (ctx, conn);
    }

    /// An established outbound connection ended and its socket is closed (btcd's
    /// `OnDisconnection`; here also for remote closes and shutdown). Once per connection, and
    /// before `on_connection` of the same request's reconnection.
    fn on_disconnection(&mut self, ctx: &mut Ctx<'_>, conn: &ConnInfo, reason: &DisconnectReason) {
        let _ = (ctx, conn, reason);
    }

    /// A dial failed; `next` says what the manager does about it.
    fn on_dial_failed(&mut self, ctx: &mut Ctx<'_>, conn: &ConnInfo, error: &DialError, next: NextStep) {
        let _ = (ctx, conn, error, next);
    }

    /// A request ended in `state`; its id is never used again. Once per request, after every
    /// other callback about it.
    fn on_request_ended(&mut self, ctx: &mut Ctx<'_>, conn: &ConnInfo, state: ConnState) {
        let _ = (ctx, conn, state);
    }

    /// An inbound connection was admitted (btcd's `OnAccept`). The manager keeps the socket:
    /// use [`Ctx::stream`], or [`Ctx::detach`] it. Rejected connections (over `max_inbound`)
    /// are closed before any callback.
    fn on_accept(&mut self, ctx: &mut Ctx<'_>, id: InboundId, remote: SocketAddr) {
        let _ = (ctx, id, remote);
    }

    /// An accepted connection was closed and its slot freed. Once per accepted connection that
    /// was not detached.
    fn on_inbound_closed(&mut self, ctx: &mut Ctx<'_>, id: InboundId, reason: &DisconnectReason) {
        let _ = (ctx, id, reason);
    }

    /// A connection has readiness to act on: run your protocol here, reading or writing until
    /// `WouldBlock`. The default closes the connection when the peer has closed it or it has an
    /// error ([`Ctx::close_if_hung_up`]), so a handler with no protocol holds no dead sockets.
    fn on_ready(&mut self, ctx: &mut Ctx<'_>, peer: Peer, ready: Ready) {
        ctx.close_if_hung_up(peer, ready);
    }

    /// A lookup asked for with [`Ctx::resolve`] ended: the addresses, or why there are none.
    /// Once per lookup.
    fn on_resolved(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: LookupId,
        name: &HostName,
        result: &Result<Vec<IpAddr>, ResolveError>,
    ) {
        let _ = (ctx, id, name, result);
    }

    /// A timer set with [`Ctx::set_timer`] fired.
    fn on_timer(&mut self, ctx: &mut Ctx<'_>, data: u64) {
        let _ = (ctx, data);
    }

    /// The offline detector ([`OfflineDetection`](crate::outbound::OfflineDetection)) found the node
    /// offline (dials are held for a while, and failures charge no peer) or online again.
    fn on_network(&mut self, ctx: &mut Ctx<'_>, online: bool) {
        let _ = (ctx, online);
    }

    /// One DNS seed of a [`Ctx::seed`] answered (feature `dns`): `host` is the name looked up,
    /// `result` its nodes (default port, 3 to 7 days old, services 0), or why there are none.
    /// Once per seed, as each answer arrives; btcd's Info lines are already logged.
    #[cfg(feature = "dns")]
    fn on_seeded(&mut self, ctx: &mut Ctx<'_>, host: &str, result: &Result<Vec<SeedAddress>, DnsError>) {
        let _ = (ctx, host, result);
    }
}
