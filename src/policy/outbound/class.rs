//! Outbound classes: what a request is for, so each kind has its own budget.

use std::fmt;

/// An automatic outbound class. [`ClassId::DEFAULT`] is the automatic set of
/// [`Config::target_outbound`](crate::Config::target_outbound) (btcd's); each entry of
/// [`OutboundPolicy::classes`](crate::outbound::OutboundPolicy::classes) is the next id, from 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ClassId(u8);

impl ClassId {
    /// The automatic set sized by `target_outbound`.
    pub const DEFAULT: ClassId = ClassId(0);

    /// The class declared at `index` in [`OutboundPolicy::classes`](crate::outbound::OutboundPolicy::classes).
    pub fn extra(index: usize) -> ClassId {
        ClassId(u8::try_from(index + 1).unwrap_or(u8::MAX))
    }

    /// The position of this class: 0 for the default set, then one per declared class.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }

    pub(crate) fn from_index(index: usize) -> ClassId {
        ClassId(index as u8)
    }
}

impl fmt::Display for ClassId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "class {}", self.0)
    }
}

/// A further automatic class with its own target, such as Bitcoin Core's block-relay-only
/// connections. The address source is asked with its [`ClassId`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutboundClass {
    /// A name for logs and tables.
    pub name: &'static str,
    /// How many connections of this class the manager keeps.
    pub target: u32,
}

/// A short-lived connection that tests or asks an address and counts toward no target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProbeKind {
    /// Bitcoin Core's feeler: does the address answer? Closed once the handshake is done.
    Feeler,
    /// Bitcoin Core's address fetch: connect, ask for addresses, leave.
    AddrFetch,
}

/// What a request is for; every [`ConnInfo`](crate::ConnInfo) carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnClass {
    /// Made by the manager to keep a class at its target; its address came from the source.
    Automatic(ClassId),
    /// Made by `connect` (permanent or once).
    Manual,
    /// Made by `probe`: one attempt, closed at its deadline.
    Probe(ProbeKind),
}

impl ConnClass {
    /// Whether the manager made the request for an automatic class.
    pub fn is_automatic(self) -> bool {
        matches!(self, ConnClass::Automatic(_))
    }
}

impl fmt::Display for ConnClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnClass::Automatic(ClassId(0)) => f.write_str("automatic"),
            ConnClass::Automatic(ClassId(n)) => write!(f, "automatic/{n}"),
            ConnClass::Manual => f.write_str("manual"),
            ConnClass::Probe(ProbeKind::Feeler) => f.write_str("feeler"),
            ConnClass::Probe(ProbeKind::AddrFetch) => f.write_str("addr-fetch"),
        }
    }
}

/// A cap on live requests of one kind, named by [`OpError::LimitReached`](crate::OpError) and
/// [`DialError::LimitReached`](crate::DialError).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Limit {
    /// [`OutboundPolicy::max_manual`](crate::outbound::OutboundPolicy::max_manual).
    Manual,
    /// [`OutboundPolicy::max_probes`](crate::outbound::OutboundPolicy::max_probes).
    Probes,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::Manual => "manual connection limit reached",
            Limit::Probes => "probe limit reached",
        })
    }
}

/// What [`pause`](crate::Reactor::pause) does with the connections it finds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pause {
    /// Leave them open; only new dials and accepts stop.
    KeepConnections,
    /// Close every connection and abort dials in flight; permanent requests redial on resume,
    /// automatic ones are replaced.
    CloseConnections,
}
