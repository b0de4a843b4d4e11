//! What the dialer tells its user: a status line per peer event, a table of live peers, and a
//! summary at exit. Events are also kept (the last [`KEEP`]) so tests can check them.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use bitcoin::p2p::ServiceFlags;
use connmgr::{proxy::ProxyError, ConnClass, Counters, DialError, FailureCause, NextStep, Peer, Target};

use crate::protocol::services_str;

/// How many events are kept in memory.
pub const KEEP: usize = 10_000;

/// One peer event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Since the start.
    pub at: Duration,
    /// The connection (`out3`, `in1`).
    pub peer: Peer,
    /// Its address.
    pub addr: Target,
    /// What happened.
    pub what: What,
}

/// What happened to a peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum What {
    /// An outbound connection is up.
    Connected {
        /// A `--permanent` peer.
        permanent: bool,
        /// What it is for: automatic, manual, a feeler.
        class: ConnClass,
    },
    /// An inbound connection was accepted.
    Accepted,
    /// The handshake is done.
    Handshaken {
        /// The peer's user agent.
        user_agent: String,
        /// Its services.
        services: ServiceFlags,
        /// Its best height.
        start_height: i32,
        /// From our `version` to its `verack`.
        rtt: Duration,
    },
    /// Addresses came in.
    Learned {
        /// In the message.
        received: usize,
        /// Not known before.
        new: usize,
    },
    /// A dial failed.
    DialFailed {
        /// The error, with its causes.
        error: String,
        /// The summary's label for it.
        label: String,
        /// What the manager does next.
        next: NextStep,
    },
    /// The connection ended.
    Disconnected {
        /// The full reason.
        reason: String,
        /// A short name of it, for the summary.
        label: String,
        /// Whether it counts as a failure (not a shutdown, not a normal close after handshake).
        failure: bool,
    },
    /// connmgr did not dial an automatic request's address (outbound diversity, failure
    /// memory, a ban), and asked the book for another.
    Skipped {
        /// Why.
        reason: String,
    },
}

/// A row of the live-peer table.
#[derive(Clone, Debug)]
pub struct Row {
    /// The connection.
    pub peer: Peer,
    /// Its address.
    pub addr: Target,
    /// What it is for: automatic, permanent, feeler, inbound...
    pub class: String,
    /// The netgroup it counts in for outbound diversity.
    pub netgroup: String,
    /// How long it has been up.
    pub age: Duration,
    /// Handshake round trip, once done.
    pub rtt: Option<Duration>,
    /// The peer's `version`, once received: user agent, services, height.
    pub version: Option<(String, ServiceFlags, i32)>,
    /// Whether the handshake is done.
    pub handshaken: bool,
}

/// Counts for the summary.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Outbound connections established.
    pub connected: u64,
    /// Inbound connections accepted.
    pub accepted: u64,
    /// Handshakes completed.
    pub handshaken: u64,
    /// Failures by cause (dial and after connection).
    pub failures: BTreeMap<String, u64>,
    /// Connections closed otherwise, by reason (shutdown, closed by peer after the handshake).
    pub closed: BTreeMap<String, u64>,
    /// `addr` / `addrv2` messages received.
    pub addr_messages: u64,
    /// Addresses in them.
    pub addresses_received: u64,
    /// New addresses among them.
    pub addresses_learned: u64,
    /// DNS lookups of seeds (names and `--dns-seed`s) that answered, and that failed.
    pub dns_answered: u64,
    /// See `dns_answered`.
    pub dns_failed: u64,
    /// Addresses they gave, and new ones among them.
    pub dns_addresses: u64,
    /// See `dns_addresses`.
    pub dns_new: u64,
    /// Automatic addresses connmgr skipped (diversity, failure memory, bans).
    pub skipped: u64,
    /// Feelers sent, and those whose handshake completed.
    pub feelers: u64,
    /// See `feelers`.
    pub feelers_ok: u64,
}

/// The reporter.
#[derive(Debug)]
pub struct Report {
    start: Instant,
    echo: bool,
    /// The events kept, oldest first.
    pub records: VecDeque<Record>,
    /// The counts.
    pub stats: Stats,
}

impl Report {
    /// Times are shown from `start`; with `echo` each event is printed on stdout.
    pub fn new(start: Instant, echo: bool) -> Self {
        Report { start, echo, records: VecDeque::new(), stats: Stats::default() }
    }

    /// When the run started.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// Whether events are printed as they happen.
    pub fn echoes(&self) -> bool {
        self.echo
    }

    /// Records (and prints) an event.
    pub fn event(&mut self, now: Instant, peer: Peer, addr: Target, what: What) {
        match &what {
            What::Connected { .. } => self.stats.connected += 1,
            What::Accepted => self.stats.accepted += 1,
            What::Handshaken { .. } => self.stats.handshaken += 1,
            What::Learned { received, new } => {
                self.stats.addr_messages += 1;
                self.stats.addresses_received += *received as u64;
                self.stats.addresses_learned += *new as u64;
            }
            What::DialFailed { label, .. } => {
                *self.stats.failures.entry(label.clone()).or_default() += 1;
            }
            What::Skipped { .. } => self.stats.skipped += 1,
            What::Disconnected { label, failure, .. } => {
                let map = if *failure { &mut self.stats.failures } else { &mut self.stats.closed };
                *map.entry(label.clone()).or_default() += 1;
            }
        }
        let record = Record { at: now.saturating_duration_since(self.start), peer, addr, what };
        if self.echo {
            println!("{}", status_line(&record));
        }
        if self.records.len() == KEEP {
            self.records.pop_front();
        }
        self.records.push_back(record);
    }
}

impl Report {
    /// A seed's lookup ended: `(addresses, new)` or why it failed.
    pub fn seeded(&mut self, now: Instant, name: &str, result: Result<(usize, usize), String>) {
        let what = match &result {
            Ok((found, new)) => {
                self.stats.dns_answered += 1;
                self.stats.dns_addresses += *found as u64;
                self.stats.dns_new += *new as u64;
                format!("{found} addresses, {new} new")
            }
            Err(e) => {
                self.stats.dns_failed += 1;
                format!("lookup failed: {e}")
            }
        };
        if self.echo {
            let at = fmt_secs(now.saturating_duration_since(self.start));
            println!("[{at:>8}] {:<5} {name:<22} {what}", "dns");
        }
    }
}

/// `[  0.004s] out1  127.0.0.2:8333        handshake done: ...`
pub fn status_line(r: &Record) -> String {
    let what = match &r.what {
        What::Connected { permanent, class } => match class {
            ConnClass::Manual if *permanent => "connected (permanent)".into(),
            _ => format!("connected ({class})"),
        },
        What::Skipped { reason } => format!("not dialled: {reason}; asking for another address"),
        What::Accepted => "accepted (inbound)".into(),
        What::Handshaken { user_agent, services, start_height, rtt } => format!(
            "handshake done: {user_agent} services={} height={start_height} rtt={}",
            services_str(*services),
            fmt_duration(*rtt)
        ),
        What::Learned { received, new } => format!("addr: {received} addresses, {new} new"),
        What::DialFailed { error, next, .. } => format!("dial failed: {error}; {}", fmt_next(*next)),
        What::Disconnected { reason, .. } => format!("disconnected: {reason}"),
    };
    format!("[{:>8}] {:<5} {:<22} {what}", fmt_secs(r.at), r.peer.to_string(), r.addr.to_string())
}

/// A dial error with its causes, `a: b: c`.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The summary's label for a dial failure: by cause, and for a proxy by what the proxy did, so
/// a proxy that is down is never counted as peers refusing.
pub fn failure_label(error: &DialError) -> String {
    match error {
        DialError::Proxy(ProxyError::Unreachable(_)) => "proxy unreachable".into(),
        DialError::Proxy(ProxyError::Io(_)) => "proxy connection failed".into(),
        DialError::Proxy(e) if e.is_proxy_fault() => format!("proxy: {e}"),
        DialError::Proxy(e) => format!("via proxy: {e}"),
        DialError::NoRoute(_) => "no route (needs a proxy)".into(),
        _ => match error.cause() {
            FailureCause::Refused => "dial refused".into(),
            FailureCause::TimedOut => "dial timed out".into(),
            FailureCause::Dns => "name did not resolve".into(),
            _ => "dial failed (other)".into(),
        },
    }
}

fn fmt_next(next: NextStep) -> String {
    match next {
        NextStep::RetryIn(d) => format!("retry in {}", fmt_duration(d)),
        NextStep::Replaced => "replaced by a new automatic request".into(),
        NextStep::ReplaceIn(d) => format!("replaced in {}", fmt_duration(d)),
        _ => "request ended".into(),
    }
}

/// `1.234s`.
pub fn fmt_secs(d: Duration) -> String {
    format!("{:.3}s", d.as_secs_f64())
}

/// A short duration: `0.21ms`, `12.3ms`, `1.50s`.
pub fn fmt_duration(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 1.0 {
        format!("{ms:.2}ms")
    } else if ms < 1000.0 {
        format!("{ms:.1}ms")
    } else {
        format!("{:.2}s", ms / 1000.0)
    }
}

/// The live-peer table, printed on stderr every few seconds.
pub fn table(at: Duration, rows: &[Row], target: u32, known: usize) -> String {
    let out = rows.iter().filter(|r| matches!(r.peer, Peer::Outbound(_))).count();
    let ready = rows.iter().filter(|r| r.handshaken).count();
    let mut s = format!(
        "-- {} -- {} live peers ({} out, {} in; {ready} handshaken), target {target}, {known} addresses known\n",
        fmt_secs(at),
        rows.len(),
        out,
        rows.len() - out
    );
    if rows.is_empty() {
        return s;
    }
    let _ = writeln!(
        s,
        "   {:<5} {:<22} {:<10} {:<15} {:<9} {:>8} {:>7} {:>8} {:<18} agent",
        "peer", "address", "class", "netgroup", "state", "rtt", "height", "up", "services"
    );
    for r in rows {
        let (agent, services, height) = match &r.version {
            Some((ua, sv, h)) => (ua.as_str(), services_str(*sv), h.to_string()),
            None => ("-", "-".into(), "-".into()),
        };
        let _ = writeln!(
            s,
            "   {:<5} {:<22} {:<10} {:<15} {:<9} {:>8} {:>7} {:>8} {:<18} {agent}",
            r.peer.to_string(),
            r.addr.to_string(),
            r.class,
            r.netgroup,
            if r.handshaken { "ready" } else { "handshake" },
            r.rtt.map_or("-".into(), fmt_duration),
            height,
            format!("{:.1}s", r.age.as_secs_f64()),
            services,
        );
    }
    s
}

/// The summary printed at exit.
pub fn summary(elapsed: Duration, counters: &Counters, stats: &Stats) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "summary after {}:", fmt_secs(elapsed));
    let _ = writeln!(s, "  attempted            {} dials", counters.dials);
    let _ = writeln!(s, "  connected            {} outbound, {} inbound", stats.connected, stats.accepted);
    let _ = writeln!(s, "  handshaken           {}", stats.handshaken);
    let failed: u64 = stats.failures.values().sum();
    let _ = writeln!(s, "  failed               {failed}");
    for (label, n) in &stats.failures {
        let _ = writeln!(s, "    {label:<26} {n}");
    }
    let closed: u64 = stats.closed.values().sum();
    let _ = writeln!(s, "  closed otherwise     {closed}");
    for (label, n) in &stats.closed {
        let _ = writeln!(s, "    {label:<26} {n}");
    }
    let _ = writeln!(
        s,
        "  addresses learned    {} new (of {} received in {} addr messages)",
        stats.addresses_learned, stats.addresses_received, stats.addr_messages
    );
    if stats.dns_answered + stats.dns_failed > 0 {
        let _ = writeln!(
            s,
            "  seeded from DNS      {} new (of {} in {} answers; {} lookups failed)",
            stats.dns_new, stats.dns_addresses, stats.dns_answered, stats.dns_failed
        );
    }
    let c = counters;
    let refused = [
        ("banned", c.rejected_banned),
        ("over the per-IP cap", c.rejected_per_ip),
        ("over the netgroup cap", c.rejected_per_netgroup),
        ("back too soon", c.rejected_reconnect),
        ("over the accept rate", c.rejected_rate),
        ("inbound full", c.rejected_inbound),
    ];
    let _ = writeln!(s, "  inbound refused      {}", refused.iter().map(|(_, n)| n).sum::<u64>());
    for (label, n) in refused.iter().filter(|(_, n)| *n > 0) {
        let _ = writeln!(s, "    {label:<26} {n}");
    }
    let _ = writeln!(
        s,
        "  bans                 {}; evicted {}; banned addresses skipped {}",
        c.bans, c.evicted, c.skipped_banned
    );
    let _ = write!(
        s,
        "  outbound policy      skipped {} for netgroup diversity, {} that failed recently; \
         {} feelers ({} worked); offline {} times",
        c.skipped_diversity, c.skipped_failed, stats.feelers, stats.feelers_ok, c.offline
    );
    s
}
