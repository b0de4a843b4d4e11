//! A connection request (btcd's `ConnReq`): its state, the options it was made with, the view of
//! it that callbacks see ([`ConnInfo`]), and the compact record the core keeps in its slab.
//!
//! The record is kept to one cache line on purpose: an embedded node pays for it once per peer,
//! and a churn workload touches one per connection.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::addr::PackedAddr;
use crate::id::ConnId;
use crate::policy::outbound::{ClassId, ConnClass, ProbeKind};
use crate::proxy::Proxy;
use crate::target::Target;
use crate::time::TimerKey;

/// The state of a connection request, with btcd's numeric values.
///
/// `Pending`, `Failing`, `Established` and `Banned` are live; the others are terminal. An ended request
/// still answers `state(id)` for a while (see `Config::ended_history`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum ConnState {
    /// Waiting to dial, dialling, or waiting for a retry after a disconnect.
    Pending = 0,
    /// The last dial failed; a retry or a replacement is scheduled.
    Failing = 1,
    /// Ended by `remove` or `disconnect` before it connected, replaced after a failure, or not
    /// connected when the manager stopped.
    Canceled = 2,
    /// Connected.
    Established = 3,
    /// Its connection was closed and it will not reconnect.
    Disconnected = 4,
    /// A one-shot request whose dial failed. btcd has no such state: it leaves the request
    /// `Failing` in its pending map for ever (a leak).
    Failed = 5,
    /// A permanent request whose target is banned: it waits for the ban to end, then dials.
    Banned = 6,
}

impl ConnState {
    /// Whether the request has ended.
    pub fn is_terminal(self) -> bool {
        matches!(self, ConnState::Canceled | ConnState::Disconnected | ConnState::Failed)
    }
}

impl fmt::Display for ConnState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConnState::Pending => "pending",
            ConnState::Failing => "failing",
            ConnState::Canceled => "canceled",
            ConnState::Established => "established",
            ConnState::Disconnected => "disconnected",
            ConnState::Failed => "failed",
            ConnState::Banned => "banned",
        })
    }
}

/// How to make a manual request: btcd's `ConnReq{Addr, Permanent}`, plus a connect timeout and
/// a proxy of its own.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectOptions {
    permanent: bool,
    connect_timeout: Option<Duration>,
    pub(crate) via: Option<Arc<Proxy>>,
}

impl ConnectOptions {
    /// The longest per-request connect timeout (about 49 days: kept in milliseconds in a `u32`).
    pub const MAX_CONNECT_TIMEOUT: Duration = Duration::from_millis(u32::MAX as u64);

    /// A one-shot request: if its dial fails it ends, [`ConnState::Failed`].
    pub fn once() -> Self {
        ConnectOptions::default()
    }

    /// A permanent request: retried with backoff for ever, until removed.
    pub fn permanent() -> Self {
        ConnectOptions { permanent: true, ..ConnectOptions::default() }
    }

    /// Overrides the manager's connect timeout for this request's dials, in whole milliseconds
    /// from 1 ms to [`MAX_CONNECT_TIMEOUT`](Self::MAX_CONNECT_TIMEOUT); `connect` refuses others.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Dials through `proxy` instead of the configured one (or instead of going direct).
    pub fn via(mut self, proxy: Proxy) -> Self {
        self.via = Some(Arc::new(proxy));
        self
    }

    pub(crate) fn check(&self) -> Result<(), crate::OpError> {
        match self.connect_timeout {
            Some(t) if t < Duration::from_millis(1) || t > Self::MAX_CONNECT_TIMEOUT => {
                Err(crate::OpError::InvalidTimeout(t))
            }
            _ => Ok(()),
        }
    }
}

/// How to disconnect: btcd's `Disconnect(id, opts...)` options.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DisconnectOptions {
    trigger_reconnect: bool,
}

impl DisconnectOptions {
    /// btcd's `WithTriggerReconnect()`: redial a one-shot request once, as if permanent.
    pub fn trigger_reconnect() -> Self {
        DisconnectOptions { trigger_reconnect: true }
    }

    /// Whether the request is redialled.
    pub(crate) fn triggers_reconnect(&self) -> bool {
        self.trigger_reconnect
    }
}

/// What callbacks and queries see of a request.
///
/// Its `Display` is btcd's `ConnReq.String()`: `<target> (reqid N)`, or `reqid N` with no target.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnInfo {
    /// The request's id.
    pub id: ConnId,
    /// Where it dials, as given; `None` for an automatic request whose address source failed.
    pub target: Option<Target>,
    /// Retried with backoff until removed.
    pub permanent: bool,
    /// What it is for: an automatic class (its address came from the source), manual, or a
    /// probe.
    pub class: ConnClass,
}

impl ConnInfo {
    /// Whether the manager made it for an automatic class.
    pub fn is_automatic(&self) -> bool {
        self.class.is_automatic()
    }
}

impl fmt::Display for ConnInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            Some(target) => write!(f, "{} (reqid {})", target, self.id),
            None => write!(f, "reqid {}", self.id),
        }
    }
}

/// The I/O layer's name for one socket (a slot in its table, say); the core gives it back in
/// [`Action::Close`](crate::core::Action::Close). Made from and turned back into a `u64` with
/// `From`: `IoKey::from(7)`, `u64::from(key)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IoKey(u64);

impl From<u64> for IoKey {
    fn from(raw: u64) -> Self {
        IoKey(raw)
    }
}

impl From<IoKey> for u64 {
    fn from(key: IoKey) -> Self {
        key.0
    }
}

/// What a request's one timer is for: its states are exclusive, so one timer at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TimerPurpose {
    ConnectTimeout,
    Retry,
    Replace,
    /// A permanent connection has stayed up long enough for its backoff to start over.
    Stable,
    /// A probe's time is up.
    ProbeDeadline,
}

pub(crate) mod flag {
    pub(crate) const PERMANENT: u8 = 1;
    pub(crate) const AUTOMATIC: u8 = 1 << 1;
    /// A dial is in progress (counted in `in_flight`).
    pub(crate) const DIALING: u8 = 1 << 2;
    /// Waiting in the dial queue for a free dial slot.
    pub(crate) const QUEUED: u8 = 1 << 3;
    pub(crate) const PROBE: u8 = 1 << 4;
    /// Holds one of its netgroup's automatic places (outbound diversity).
    pub(crate) const GROUPED: u8 = 1 << 5;
}

/// `io` when the request has no socket: not an `Option`, to keep the record in one line.
const NO_IO: u64 = u64::MAX;

/// The core's record of a request: 64 bytes, one cache line.
#[derive(Debug)]
pub(crate) struct Record {
    pub(crate) id: ConnId,
    io: u64,
    addr: PackedAddr,
    pub(crate) timer: Option<TimerKey>,
    /// The backoff policy's state: the attempt count, or the last delay (see
    /// `outbound::backoff`). While an automatic request holds a netgroup place
    /// (`flag::GROUPED`: from its dial until it fails or its connection drops) it holds the
    /// place's entry in the netgroup table instead; the place is given back before any backoff
    /// step.
    pub(crate) backoff: u32,
    /// The per-request connect timeout in ms; 0 = the manager's.
    timeout_ms: u32,
    pub(crate) state: ConnState,
    flags: u8,
    /// The request's own proxy: 1 + its index in the core's table; 0 for none.
    pub(crate) via: u8,
    /// The automatic class, or the probe kind.
    class: u8,
}

impl Record {
    pub(crate) fn new(id: ConnId, addr: PackedAddr, opts: &ConnectOptions, via: u8, class: ConnClass) -> Self {
        let mut flags = 0;
        if opts.permanent {
            flags |= flag::PERMANENT;
        }
        let class = match class {
            ConnClass::Automatic(c) => {
                flags |= flag::AUTOMATIC;
                c.index() as u8
            }
            ConnClass::Manual => 0,
            ConnClass::Probe(kind) => {
                flags |= flag::PROBE;
                match kind {
                    ProbeKind::Feeler => 0,
                    ProbeKind::AddrFetch => 1,
                }
            }
        };
        // In range by now (`ConnectOptions::check` runs at the API), so the cast is exact.
        let timeout_ms = opts.connect_timeout.map_or(0, |d| u32::try_from(d.as_millis()).unwrap_or(u32::MAX).max(1));
        Record {
            id,
            io: NO_IO,
            addr,
            timer: None,
            backoff: 0,
            timeout_ms,
            state: ConnState::Pending,
            flags,
            via,
            class,
        }
    }

    pub(crate) fn addr(&self) -> PackedAddr {
        self.addr
    }

    /// The target, looking a name or an onion address up in the core's side table.
    pub(crate) fn target(&self, others: &slab::Slab<Target>) -> Option<Target> {
        match self.addr.other_index() {
            Some(index) => others.get(index as usize).cloned(),
            None => self.addr.get().map(Target::Ip),
        }
    }

    pub(crate) fn io(&self) -> Option<IoKey> {
        (self.io != NO_IO).then_some(IoKey(self.io))
    }

    pub(crate) fn set_io(&mut self, io: Option<IoKey>) {
        self.io = io.map_or(NO_IO, |k| k.0);
    }

    pub(crate) fn take_io(&mut self) -> Option<IoKey> {
        let io = self.io();
        self.io = NO_IO;
        io
    }

    pub(crate) fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }

    pub(crate) fn set(&mut self, f: u8, on: bool) {
        if on {
            self.flags |= f;
        } else {
            self.flags &= !f;
        }
    }

    pub(crate) fn permanent(&self) -> bool {
        self.has(flag::PERMANENT)
    }

    pub(crate) fn automatic(&self) -> bool {
        self.has(flag::AUTOMATIC)
    }

    pub(crate) fn is_probe(&self) -> bool {
        self.has(flag::PROBE)
    }

    /// The automatic class; meaningful only for automatic requests.
    pub(crate) fn class_id(&self) -> ClassId {
        ClassId::from_index(usize::from(self.class))
    }

    pub(crate) fn class(&self) -> ConnClass {
        if self.automatic() {
            ConnClass::Automatic(self.class_id())
        } else if self.is_probe() {
            ConnClass::Probe(if self.class == 0 { ProbeKind::Feeler } else { ProbeKind::AddrFetch })
        } else {
            ConnClass::Manual
        }
    }

    pub(crate) fn info(&self, others: &slab::Slab<Target>) -> ConnInfo {
        ConnInfo { id: self.id, target: self.target(others), permanent: self.permanent(), class: self.class() }
    }

    pub(crate) fn connect_timeout(&self, default: Duration) -> Duration {
        if self.timeout_ms == 0 {
            default
        } else {
            Duration::from_millis(u64::from(self.timeout_ms))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_fits_in_one_cache_line() {
        assert_eq!(std::mem::size_of::<Record>(), 64, "Record is {} bytes", std::mem::size_of::<Record>());
        // The slab wraps each record in an enum; `ConnState`'s unused values leave room for its
        // tag, so a slab slot is one line too.
        assert_eq!(std::mem::size_of::<Option<Record>>(), 64);
    }

    fn record(opts: &ConnectOptions) -> Record {
        Record::new(ConnId::new(1), PackedAddr::new(None), opts, 0, ConnClass::Manual)
    }

    #[test]
    fn a_record_keeps_its_socket_key_and_address() {
        let addr: std::net::SocketAddr = "[fe80::1%3]:8333".parse().unwrap();
        let mut r =
            Record::new(ConnId::new(1), PackedAddr::new(Some(addr)), &ConnectOptions::once(), 0, ConnClass::Manual);
        assert_eq!((r.target(&slab::Slab::new()), r.io()), (Some(Target::Ip(addr)), None));
        r.set_io(Some(IoKey(0)));
        assert_eq!(r.io(), Some(IoKey(0)), "0 is an ordinary key");
        assert_eq!(r.take_io(), Some(IoKey(0)));
        assert_eq!(r.io(), None);
    }

    #[test]
    fn states_have_btcds_numbers() {
        let states = [ConnState::Pending, ConnState::Failing, ConnState::Canceled, ConnState::Established];
        assert_eq!(states.map(|s| s as u8), [0, 1, 2, 3]);
        assert_eq!(ConnState::Disconnected as u8, 4);
        assert!([ConnState::Canceled, ConnState::Disconnected, ConnState::Failed].iter().all(|s| s.is_terminal()));
        assert!(![ConnState::Pending, ConnState::Failing, ConnState::Established].iter().any(|s| s.is_terminal()));
    }

    #[test]
    fn display_matches_btcd_connreq_string() {
        let mut info = ConnInfo {
            id: ConnId::new(9),
            target: Some("[::1]:18444".parse().unwrap()),
            permanent: false,
            class: ConnClass::Automatic(ClassId::DEFAULT),
        };
        assert_eq!(info.to_string(), "[::1]:18444 (reqid 9)");
        info.target = Some("seed.example.org:8333".parse().unwrap());
        assert_eq!(info.to_string(), "seed.example.org:8333 (reqid 9)", "a name shows as given");
        info.target = None;
        assert_eq!(info.to_string(), "reqid 9");
    }

    #[test]
    fn per_request_timeout_overrides_the_default_and_is_range_checked() {
        let default = Duration::from_secs(30);
        assert_eq!(record(&ConnectOptions::once()).connect_timeout(default), default);
        let quick = ConnectOptions::once().connect_timeout(Duration::from_millis(250));
        assert_eq!(record(&quick).connect_timeout(default), Duration::from_millis(250));
        let ms = Duration::from_millis;
        let max = ConnectOptions::MAX_CONNECT_TIMEOUT;
        assert_eq!(ConnectOptions::once().connect_timeout(ms(1)).check(), Ok(()));
        assert_eq!(ConnectOptions::once().connect_timeout(max).check(), Ok(()));
        let short = Duration::from_micros(999);
        assert_eq!(ConnectOptions::once().connect_timeout(short).check(), Err(crate::OpError::InvalidTimeout(short)));
        let long = max + ms(1);
        assert_eq!(ConnectOptions::once().connect_timeout(long).check(), Err(crate::OpError::InvalidTimeout(long)));
        let r = record(&ConnectOptions::once().connect_timeout(max));
        assert_eq!(r.connect_timeout(default), max, "the longest one is kept exactly");
    }
}
