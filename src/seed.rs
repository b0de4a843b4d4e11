//! Bootstrapping peer addresses from DNS seeds: btcd's `SeedFromDNS`, with a completion signal.
//!
//! A DNS seed answers an ordinary A/AAAA query with addresses of reachable nodes. Seeds that
//! support filtering also answer `x<services hex>.<seed>` with nodes offering those services.
//! This module owns the query naming ([`seed_host`]), the conversion of a lookup result into
//! timestamped addresses the way bitcoind and btcd present them to an address manager
//! ([`seed_addresses`]), and the fan-out over all seeds ([`seed_from_dns`]).
//!
//! As in btcd, every seed is looked up on its own thread (btcd: a goroutine) through a
//! caller-supplied lookup function, outcomes are logged at Info with btcd's exact lines, and a
//! callback receives each non-empty batch. Unlike btcd, the caller gets a
//! [`SeedJoin`] to wait for completion, with or without a time limit, and a per-seed report.
//! DNS resolution blocks, so none of this may run on the reactor thread; results reach the
//! connection manager through a channel or the manager's thread-safe handle. With the `dns`
//! feature, `Reactor::seed` does the same on the reactor thread itself, without a thread.
//!
//! # Examples
//!
//! Seed the address source of a manager from its own thread (a stand-in lookup here; a real one
//! calls the system resolver or [`tor_lookup_ip`](crate::tor::tor_lookup_ip)):
//!
//! ```
//! use connmgr::seed::{seed_from_dns, DnsSeed};
//! use std::sync::mpsc;
//!
//! let seeds = [DnsSeed::new("seed.example.org", true)];
//! let (tx, rx) = mpsc::channel();
//! let lookup = |_: &str| Ok(vec!["192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap()]);
//! let join = seed_from_dns(&seeds, 8333, 9, lookup, move |batch| {
//!     let _ = tx.send(batch); // to whoever keeps the address book
//! });
//! assert_eq!(join.join().total_addresses(), 2);
//! let book: Vec<_> = rx.try_iter().flatten().map(|a| a.addr).collect();
//! assert_eq!(book, ["192.0.2.1:8333".parse()?, "192.0.2.2:8333".parse()?]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The `NODE_NETWORK` service bit: a full node serving the whole chain.
///
/// Asking a filtering seed for exactly this is the same as asking it for anything, so
/// [`seed_host`] queries the bare seed name for it, as btcd does.
///
/// # Examples
///
/// ```
/// use connmgr::seed::{seed_host, DnsSeed, SF_NODE_NETWORK};
///
/// let seed = DnsSeed::new("seed.example.org", true);
/// assert_eq!(seed_host(&seed, SF_NODE_NETWORK), "seed.example.org");
/// assert_eq!(seed_host(&seed, SF_NODE_NETWORK | 8), "x9.seed.example.org");
/// ```
pub const SF_NODE_NETWORK: u64 = 1;

/// The youngest a seeded address is made to look: 3 days (btcd `secondsIn3Days`).
///
/// # Examples
///
/// ```
/// use connmgr::seed::{seed_addresses, SECONDS_IN_3_DAYS};
/// use std::time::{Duration, SystemTime};
///
/// let now = SystemTime::now();
/// let youngest = seed_addresses(&["192.0.2.1".parse()?], 8333, now, || 0);
/// assert_eq!(youngest[0].timestamp, now - Duration::from_secs(SECONDS_IN_3_DAYS));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const SECONDS_IN_3_DAYS: u64 = 24 * 60 * 60 * 3;

/// The width of the random extra age: 4 days (btcd `secondsIn4Days`), so addresses look
/// between 3 and 7 days old.
///
/// # Examples
///
/// ```
/// use connmgr::seed::{seed_addresses, SECONDS_IN_3_DAYS, SECONDS_IN_4_DAYS};
/// use std::time::{Duration, SystemTime};
///
/// let now = SystemTime::now();
/// let oldest = seed_addresses(&["192.0.2.1".parse()?], 8333, now, || SECONDS_IN_4_DAYS - 1);
/// let age = now.duration_since(oldest[0].timestamp)?;
/// assert_eq!(age, Duration::from_secs(SECONDS_IN_3_DAYS + SECONDS_IN_4_DAYS - 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const SECONDS_IN_4_DAYS: u64 = 24 * 60 * 60 * 4;

/// A DNS seed: a host name that resolves to node addresses.
///
/// The host is an owned `String` rather than `&'static str` because seeds come from user
/// configuration (testnets, signets, private networks) as often as from built-in chain
/// parameters; the copy costs nothing next to a DNS query.
///
/// # Examples
///
/// ```
/// use connmgr::seed::DnsSeed;
///
/// let seeds = vec![
///     DnsSeed { host: "seed.example.org".into(), has_filtering: true },
///     DnsSeed::new("dnsseed.example.net", false),
/// ];
/// assert!(seeds[0].has_filtering && !seeds[1].has_filtering);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DnsSeed {
    /// The seed's host name, for example `seed.bitcoin.sipa.be`.
    pub host: String,
    /// Whether the seed answers `x<hex>.<host>` queries filtered by service bits.
    pub has_filtering: bool,
}

impl DnsSeed {
    /// A seed with the given host name and filtering support.
    ///
    /// # Examples
    ///
    /// ```
    /// use connmgr::seed::DnsSeed;
    ///
    /// let from_config = String::from("seed.signet.example");
    /// let seed = DnsSeed::new(from_config, false);
    /// assert_eq!(seed.host, "seed.signet.example");
    /// ```
    pub fn new(host: impl Into<String>, has_filtering: bool) -> Self {
        DnsSeed { host: host.into(), has_filtering }
    }
}

/// The name to look up for `seed` when peers need `required_services` (as btcd).
///
/// A filtering seed is asked for `x<services as lowercase hex>.<host>`, except for services
/// exactly [`SF_NODE_NETWORK`], which every seeded node has; a seed without filtering is always
/// asked for its bare host name.
///
/// # Examples
///
/// ```
/// use connmgr::seed::{seed_host, DnsSeed};
///
/// let filtering = DnsSeed::new("seed.example.org", true);
/// assert_eq!(seed_host(&filtering, 9), "x9.seed.example.org"); // NODE_NETWORK | NODE_WITNESS
/// assert_eq!(seed_host(&filtering, 0x409), "x409.seed.example.org");
/// assert_eq!(seed_host(&filtering, 1), "seed.example.org");
///
/// let plain = DnsSeed::new("dnsseed.example.net", false);
/// assert_eq!(seed_host(&plain, 9), "dnsseed.example.net");
/// ```
pub fn seed_host(seed: &DnsSeed, required_services: u64) -> String {
    if !seed.has_filtering || required_services == SF_NODE_NETWORK {
        seed.host.clone()
    } else {
        format!("x{:x}.{}", required_services, seed.host)
    }
}

/// A peer address learned from a DNS seed, ready for an address manager.
///
/// # Examples
///
/// ```
/// use connmgr::seed::seed_addresses;
/// use std::time::SystemTime;
///
/// let addrs = seed_addresses(&["192.0.2.1".parse()?], 8333, SystemTime::now(), || 42);
/// assert_eq!(addrs[0].to_string(), "192.0.2.1:8333");
/// assert_eq!(addrs[0].services, 0, "a seed proves nothing about services");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SeedAddress {
    /// The node's address, with the network's default port (seeds only return IPs).
    pub addr: SocketAddr,
    /// When the node was supposedly last seen: a random time 3 to 7 days ago.
    ///
    /// bitcoind and btcd age seeded addresses on purpose so that addresses heard directly from
    /// peers, which are fresher, rank above them.
    pub timestamp: SystemTime,
    /// Always 0, as in btcd: a seed's answer proves nothing about a node's services, even when
    /// the query was filtered; the real flags arrive in the node's `version` message.
    pub services: u64,
}

/// Shows the socket address only, as log lines want it.
impl fmt::Display for SeedAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.addr, f)
    }
}

/// Turns one seed's lookup result into [`SeedAddress`]es, as btcd does for each seed.
///
/// Every IP gets `port` and services 0, and a timestamp of
/// `now - (SECONDS_IN_3_DAYS + rand() % SECONDS_IN_4_DAYS)` seconds, i.e. at least 3 days old and
/// strictly less than 7 days old. `rand` is any source of random `u64`s; the modulo keeps even a
/// poor source inside the window. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) become plain
/// IPv4, as btcd's address encoding does. (btcd also turns OnionCat `fd87:d87e:eb43::/48`
/// addresses into Tor v2 addresses; v2 onion services no longer exist, so they stay IPv6 here.)
///
/// # Examples
///
/// ```
/// use connmgr::seed::seed_addresses;
/// use std::net::IpAddr;
/// use std::time::{Duration, SystemTime};
///
/// let ips: Vec<IpAddr> = vec!["192.0.2.1".parse()?, "::ffff:198.51.100.2".parse()?, "2001:db8::1".parse()?];
/// let now = SystemTime::now();
/// let mut rng = 12345_u64;
/// let addrs = seed_addresses(&ips, 8333, now, || {
///     rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1);
///     rng
/// });
/// let shown: Vec<String> = addrs.iter().map(|a| a.addr.to_string()).collect();
/// assert_eq!(shown, ["192.0.2.1:8333", "198.51.100.2:8333", "[2001:db8::1]:8333"]);
/// let day = Duration::from_secs(24 * 60 * 60);
/// for a in &addrs {
///     let age = now.duration_since(a.timestamp)?;
///     assert!(age >= 3 * day && age < 7 * day);
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn seed_addresses(ips: &[IpAddr], port: u16, now: SystemTime, mut rand: impl FnMut() -> u64) -> Vec<SeedAddress> {
    ips.iter()
        .map(|&ip| {
            let age = SECONDS_IN_3_DAYS + rand() % SECONDS_IN_4_DAYS;
            SeedAddress {
                addr: SocketAddr::new(unmap_ipv4(ip), port),
                timestamp: now.checked_sub(Duration::from_secs(age)).unwrap_or(UNIX_EPOCH),
                services: 0,
            }
        })
        .collect()
}

fn unmap_ipv4(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// SplitMix64: a tiny non-cryptographic generator, enough to spread timestamps (btcd uses
/// `math/rand` seeded with the clock for the same job).
struct SplitMix64(u64);

impl SplitMix64 {
    const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

    /// Seeded from the clock, with `salt` so threads started in the same nanosecond differ.
    fn from_clock(salt: u64) -> Self {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        SplitMix64(nanos ^ salt.wrapping_mul(Self::GAMMA))
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(Self::GAMMA);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// btcd's Info line for a failed lookup.
pub(crate) fn failed_line(host: &str, err: &impl fmt::Display) -> String {
    format!("DNS discovery failed on seed {host}: {err}")
}

/// btcd's Info line for a successful lookup, logged even when it found nothing.
pub(crate) fn found_line(count: usize, host: &str) -> String {
    format!("{count} addresses found from DNS seed {host}")
}

/// How one seed's lookup ended.
///
/// # Examples
///
/// ```
/// use connmgr::seed::{seed_from_dns, DnsSeed};
/// use std::io;
///
/// let seeds = [DnsSeed::new("seed.example.org", false)];
/// let lookup = |_: &str| Err(io::Error::new(io::ErrorKind::NotFound, "no such host"));
/// let report = seed_from_dns(&seeds, 8333, 1, lookup, |_| {}).join();
/// let result = &report.seeds[0];
/// assert_eq!(result.host, "seed.example.org");
/// assert_eq!(result.result.as_ref().unwrap_err().kind(), io::ErrorKind::NotFound);
/// ```
#[derive(Debug)]
pub struct SeedResult {
    /// The name that was looked up (see [`seed_host`]).
    pub host: String,
    /// `Ok(n)`: the lookup returned `n` addresses, all passed to the callback in one call (no
    /// call when `n == 0`). `Err`: the lookup failed, its thread could not be started or
    /// panicked, or (from [`SeedJoin::join_timeout`]) it had not finished in time.
    pub result: io::Result<usize>,
}

/// Every seed's outcome, in the order the seeds were given.
///
/// # Examples
///
/// ```
/// use connmgr::seed::{seed_from_dns, DnsSeed};
///
/// let seeds = [DnsSeed::new("a.example", false), DnsSeed::new("b.example", false)];
/// let lookup = |host: &str| Ok(vec![if host == "a.example" { "192.0.2.1" } else { "192.0.2.2" }.parse().unwrap()]);
/// let report = seed_from_dns(&seeds, 8333, 1, lookup, |_| {}).join();
/// let hosts: Vec<&str> = report.seeds.iter().map(|s| s.host.as_str()).collect();
/// assert_eq!(hosts, ["a.example", "b.example"], "in the order given");
/// ```
#[derive(Debug, Default)]
pub struct SeedReport {
    /// One entry per seed.
    pub seeds: Vec<SeedResult>,
}

impl SeedReport {
    /// Addresses delivered to the callback, over all seeds.
    ///
    /// # Examples
    ///
    /// ```
    /// use connmgr::seed::{seed_from_dns, DnsSeed};
    /// use std::net::IpAddr;
    ///
    /// let seeds = [DnsSeed::new("a.example", false), DnsSeed::new("b.example", false)];
    /// let lookup = |_: &str| Ok::<Vec<IpAddr>, _>(vec!["192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap()]);
    /// let report = seed_from_dns(&seeds, 8333, 1, lookup, |_| {}).join();
    /// assert_eq!(report.total_addresses(), 4);
    /// ```
    pub fn total_addresses(&self) -> usize {
        self.seeds.iter().filter_map(|s| s.result.as_ref().ok()).sum()
    }

    /// Seeds whose lookup failed, could not run or did not finish.
    ///
    /// # Examples
    ///
    /// ```
    /// use connmgr::seed::{seed_from_dns, DnsSeed};
    /// use std::io;
    ///
    /// let seeds = [DnsSeed::new("up.example", false), DnsSeed::new("down.example", false)];
    /// let lookup = |host: &str| match host {
    ///     "up.example" => Ok(vec![]),
    ///     _ => Err(io::Error::new(io::ErrorKind::NotFound, "no such host")),
    /// };
    /// let report = seed_from_dns(&seeds, 8333, 1, lookup, |_| {}).join();
    /// assert_eq!(report.failures(), 1);
    /// assert_eq!(report.total_addresses(), 0, "an empty answer is a success with nothing in it");
    /// ```
    pub fn failures(&self) -> usize {
        self.seeds.iter().filter(|s| s.result.is_err()).count()
    }
}

/// Waits for the seed threads started by [`seed_from_dns`].
///
/// Dropping it without joining detaches the threads, which is btcd's fire-and-forget behaviour:
/// they still finish and still call the callback.
///
/// # Examples
///
/// ```
/// use connmgr::seed::{seed_from_dns, DnsSeed};
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
///
/// let delivered = Arc::new(AtomicUsize::new(0));
/// let counter = Arc::clone(&delivered);
/// let seeds = [DnsSeed::new("seed.example.org", false)];
/// let join = seed_from_dns(&seeds, 8333, 1, |_| Ok(vec!["192.0.2.1".parse().unwrap()]), move |batch| {
///     counter.fetch_add(batch.len(), Ordering::SeqCst);
/// });
/// assert_eq!(join.len(), 1);
/// join.join(); // every callback has run when this returns
/// assert_eq!(delivered.load(Ordering::SeqCst), 1);
/// ```
#[derive(Debug)]
pub struct SeedJoin {
    hosts: Vec<String>,
    results: Vec<Option<io::Result<usize>>>,
    outstanding: usize,
    done: mpsc::Receiver<(usize, io::Result<usize>)>,
}

impl SeedJoin {
    /// The number of seeds being looked up.
    ///
    /// # Examples
    ///
    /// ```
    /// use connmgr::seed::{seed_from_dns, DnsSeed};
    ///
    /// let seeds = [DnsSeed::new("a.example", false), DnsSeed::new("b.example", true)];
    /// let join = seed_from_dns(&seeds, 8333, 9, |_| Ok(vec![]), |_| {});
    /// assert_eq!(join.len(), 2);
    /// assert_eq!(join.join().seeds.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    /// Whether there were no seeds at all.
    ///
    /// # Examples
    ///
    /// ```
    /// use connmgr::seed::seed_from_dns;
    ///
    /// let join = seed_from_dns(&[], 8333, 1, |_| Ok(vec![]), |_| {});
    /// assert!(join.is_empty());
    /// assert!(join.join().seeds.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    /// Blocks until every seed has finished (its callback included) and reports each outcome.
    ///
    /// As long as the lookup function returns, this returns; a lookup that never returns keeps
    /// it waiting, so prefer [`join_timeout`](Self::join_timeout) with a resolver that has no
    /// timeout of its own.
    ///
    /// # Examples
    ///
    /// ```
    /// use connmgr::seed::{seed_from_dns, DnsSeed};
    ///
    /// let seeds = [DnsSeed::new("seed.example.org", true)];
    /// let report = seed_from_dns(&seeds, 8333, 9, |_| Ok(vec!["192.0.2.1".parse().unwrap()]), |_| {}).join();
    /// assert_eq!(report.seeds[0].host, "x9.seed.example.org");
    /// assert_eq!(report.seeds[0].result.as_ref().ok(), Some(&1));
    /// ```
    pub fn join(mut self) -> SeedReport {
        while self.outstanding > 0 {
            match self.done.recv() {
                Ok(outcome) => self.record(outcome),
                // Every remaining thread has gone without reporting: it panicked.
                Err(mpsc::RecvError) => break,
            }
        }
        self.finish(|| io::Error::other("DNS seed thread panicked"))
    }

    /// Like [`join`](Self::join), but gives up after `timeout`: seeds still running are reported
    /// with an [`io::ErrorKind::TimedOut`] error.
    ///
    /// Their threads are detached, not stopped (a blocked DNS query cannot be cancelled), so the
    /// callback may still be called for them after this returns.
    ///
    /// # Examples
    ///
    /// A lookup that hangs (here until released) is reported as timed out:
    ///
    /// ```
    /// use connmgr::seed::{seed_from_dns, DnsSeed};
    /// use std::io;
    /// use std::sync::{mpsc, Mutex};
    /// use std::time::Duration;
    ///
    /// let (release, hang) = mpsc::channel::<()>();
    /// let hang = Mutex::new(hang);
    /// let lookup = move |_: &str| {
    ///     let _ = hang.lock().unwrap().recv(); // blocks like a resolver that never answers
    ///     Ok(vec![])
    /// };
    /// let seeds = [DnsSeed::new("slow.example", false)];
    /// let report = seed_from_dns(&seeds, 8333, 1, lookup, |_| {}).join_timeout(Duration::from_millis(10));
    /// assert_eq!(report.seeds[0].result.as_ref().unwrap_err().kind(), io::ErrorKind::TimedOut);
    /// drop(release); // let the detached thread finish
    /// ```
    pub fn join_timeout(mut self, timeout: Duration) -> SeedReport {
        let deadline = Instant::now().checked_add(timeout);
        let mut gone = false;
        while self.outstanding > 0 {
            let wait = match deadline {
                Some(end) => end.saturating_duration_since(Instant::now()),
                None => timeout,
            };
            match self.done.recv_timeout(wait) {
                Ok(outcome) => self.record(outcome),
                Err(mpsc::RecvTimeoutError::Timeout) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    gone = true;
                    break;
                }
            }
        }
        if gone {
            self.finish(|| io::Error::other("DNS seed thread panicked"))
        } else {
            self.finish(|| io::Error::new(io::ErrorKind::TimedOut, "DNS seed lookup did not finish in time"))
        }
    }

    fn record(&mut self, (index, result): (usize, io::Result<usize>)) {
        if let Some(slot @ None) = self.results.get_mut(index) {
            *slot = Some(result);
            self.outstanding = self.outstanding.saturating_sub(1);
        }
    }

    fn finish(self, missing: impl Fn() -> io::Error) -> SeedReport {
        let seeds = self
            .hosts
            .into_iter()
            .zip(self.results)
            .map(|(host, result)| SeedResult { host, result: result.unwrap_or_else(|| Err(missing())) })
            .collect();
        SeedReport { seeds }
    }
}

/// Looks up every seed on its own thread and hands the addresses found to `on_addresses`
/// (btcd `SeedFromDNS`).
///
/// For each seed, the name from [`seed_host`] is passed to `lookup`, which may block (a closure
/// over `std::net::ToSocketAddrs`, or [`tor_lookup_ip`](crate::tor::tor_lookup_ip) through a
/// proxy). A failure is logged at Info as `DNS discovery failed on seed <host>: <err>`; a success
/// as `<n> addresses found from DNS seed <host>`, and when `n > 0` `on_addresses` is called once
/// with the addresses from [`seed_addresses`] for `default_port`.
///
/// This returns at once. **`on_addresses` runs on the seed threads, possibly several at the same
/// time**, so it must be thread-safe and should be quick: forward the batch through a channel or
/// the manager's handle rather than touching shared state directly. Use the returned
/// [`SeedJoin`] to wait for all seeds; drop it to let them finish in the background.
///
/// A seed whose thread cannot be started is logged, reported as failed in the [`SeedReport`] and
/// skipped; nothing here panics.
///
/// To resolve through Tor instead of the system resolver, pass
/// `move |host: &str| tor_lookup_ip(host, proxy, timeout).map_err(std::io::Error::from)`.
///
/// # Examples
///
/// A stand-in lookup (a real one would be `(host, 0).to_socket_addrs()`), with batches forwarded
/// over a channel to whoever feeds the connection manager:
///
/// ```
/// use connmgr::seed::{seed_from_dns, DnsSeed};
/// use std::io;
/// use std::net::IpAddr;
/// use std::sync::mpsc;
///
/// let seeds = [DnsSeed::new("seed.example.org", true), DnsSeed::new("down.example.net", false)];
/// let lookup = |host: &str| -> io::Result<Vec<IpAddr>> {
///     match host {
///         "x9.seed.example.org" => Ok(vec!["192.0.2.1".parse().unwrap()]),
///         _ => Err(io::Error::new(io::ErrorKind::NotFound, "no such host")),
///     }
/// };
/// let (tx, rx) = mpsc::channel();
/// let join = seed_from_dns(&seeds, 8333, 9, lookup, move |batch| {
///     let _ = tx.send(batch);
/// });
///
/// let report = join.join();
/// assert_eq!(report.total_addresses(), 1);
/// assert_eq!(report.failures(), 1);
/// let batch = rx.recv().unwrap();
/// assert_eq!(batch[0].addr, "192.0.2.1:8333".parse().unwrap());
/// assert_eq!(batch[0].services, 0);
/// ```
pub fn seed_from_dns<L, F>(
    seeds: &[DnsSeed],
    default_port: u16,
    required_services: u64,
    lookup: L,
    on_addresses: F,
) -> SeedJoin
where
    L: Fn(&str) -> io::Result<Vec<IpAddr>> + Send + Sync + 'static,
    F: Fn(Vec<SeedAddress>) + Send + Sync + 'static,
{
    let lookup = Arc::new(lookup);
    let on_addresses = Arc::new(on_addresses);
    let (report, done) = mpsc::channel();
    let mut join = SeedJoin {
        hosts: Vec::with_capacity(seeds.len()),
        results: Vec::with_capacity(seeds.len()),
        outstanding: 0,
        done,
    };

    for (index, seed) in seeds.iter().enumerate() {
        let host = seed_host(seed, required_services);
        join.hosts.push(host.clone());
        let lookup = Arc::clone(&lookup);
        let on_addresses = Arc::clone(&on_addresses);
        let report = report.clone();
        let worker = move || {
            let result = seed_one(&host, default_port, index, &*lookup, &*on_addresses);
            // The receiver is gone only if the caller dropped the SeedJoin: nobody to tell.
            let _ = report.send((index, result));
        };
        // Seed-derived names could contain NUL, which thread names reject; use the index.
        let spawned = thread::Builder::new().name(format!("dns-seed-{index}")).spawn(worker);
        match spawned {
            Ok(_detached) => {
                join.results.push(None);
                join.outstanding += 1;
            }
            Err(e) => {
                log::warn!("Cannot start a thread for DNS seed {}: {}", seed.host, e);
                join.results.push(Some(Err(e)));
            }
        }
    }
    join
}

/// One seed's work, on its own thread.
fn seed_one(
    host: &str,
    port: u16,
    salt: usize,
    lookup: &(dyn Fn(&str) -> io::Result<Vec<IpAddr>> + Send + Sync),
    on_addresses: &(dyn Fn(Vec<SeedAddress>) + Send + Sync),
) -> io::Result<usize> {
    let mut rng = SplitMix64::from_clock(salt as u64);
    let ips = match lookup(host) {
        Ok(ips) => ips,
        Err(e) => {
            log::info!("{}", failed_line(host, &e));
            return Err(e);
        }
    };
    log::info!("{}", found_line(ips.len(), host));
    if !ips.is_empty() {
        on_addresses(seed_addresses(&ips, port, SystemTime::now(), || rng.next_u64()));
    }
    Ok(ips.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::sync::Mutex;

    const DAY: u64 = 24 * 60 * 60;

    #[test]
    fn d15_seed_host_naming() {
        let filtering = DnsSeed::new("seed.example.org", true);
        let plain = DnsSeed::new("seed.example.net", false);
        assert_eq!(seed_host(&filtering, 9), "x9.seed.example.org");
        assert_eq!(seed_host(&filtering, SF_NODE_NETWORK), "seed.example.org");
        assert_eq!(seed_host(&plain, 9), "seed.example.net");
        assert_eq!(seed_host(&plain, SF_NODE_NETWORK), "seed.example.net");
        // Lowercase hex, no prefix, no padding; 0 is not special-cased (as in btcd).
        assert_eq!(seed_host(&filtering, 0xABC), "xabc.seed.example.org");
        assert_eq!(seed_host(&filtering, 0x409), "x409.seed.example.org");
        assert_eq!(seed_host(&filtering, 0), "x0.seed.example.org");
        assert_eq!(seed_host(&filtering, u64::MAX), "xffffffffffffffff.seed.example.org");
    }

    fn age_of(a: &SeedAddress, now: SystemTime) -> Duration {
        now.duration_since(a.timestamp).unwrap()
    }

    #[test]
    fn timestamps_stay_between_three_and_seven_days_old() {
        let now = SystemTime::now();
        let ips = vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)); 20_000];
        let mut rng = SplitMix64::from_clock(7);
        let addrs = seed_addresses(&ips, 8333, now, || rng.next_u64());
        assert_eq!(addrs.len(), ips.len());
        let (mut youngest, mut oldest) = (Duration::MAX, Duration::ZERO);
        for a in &addrs {
            let age = age_of(a, now);
            assert!(age >= Duration::from_secs(3 * DAY), "{age:?}");
            assert!(age < Duration::from_secs(7 * DAY), "{age:?}");
            youngest = youngest.min(age);
            oldest = oldest.max(age);
            assert_eq!(age.subsec_nanos(), 0);
        }
        // The draws spread over the window rather than sticking to one value.
        assert!(oldest - youngest > Duration::from_secs(3 * DAY));
    }

    #[test]
    fn timestamp_window_edges() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let ip = [IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))];
        let newest = seed_addresses(&ip, 1, now, || 0);
        assert_eq!(age_of(&newest[0], now), Duration::from_secs(3 * DAY));
        let oldest = seed_addresses(&ip, 1, now, || SECONDS_IN_4_DAYS - 1);
        assert_eq!(age_of(&oldest[0], now), Duration::from_secs(7 * DAY - 1));
        // A source beyond the window is folded back into it.
        let wrapped = seed_addresses(&ip, 1, now, || SECONDS_IN_4_DAYS);
        assert_eq!(age_of(&wrapped[0], now), Duration::from_secs(3 * DAY));
        let huge = seed_addresses(&ip, 1, now, || u64::MAX);
        assert!(age_of(&huge[0], now) < Duration::from_secs(7 * DAY));
        // A clock near the epoch does not panic.
        let early = seed_addresses(&ip, 1, UNIX_EPOCH, || 0);
        assert!(early[0].timestamp <= UNIX_EPOCH);
    }

    #[test]
    fn addresses_carry_port_zero_services_and_unmapped_ipv4() {
        let now = SystemTime::now();
        let ips = [
            "192.0.2.1".parse::<IpAddr>().unwrap(),
            "::ffff:192.0.2.2".parse().unwrap(),
            "2001:db8::1".parse().unwrap(),
            // Not IPv4-mapped (the deprecated "compatible" form): stays IPv6, as in btcd.
            "::192.0.2.3".parse().unwrap(),
        ];
        let addrs = seed_addresses(&ips, 18333, now, || 0);
        let got: Vec<SocketAddr> = addrs.iter().map(|a| a.addr).collect();
        assert_eq!(
            got,
            vec![
                SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 18333),
                SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)), 18333),
                SocketAddr::new(IpAddr::V6("2001:db8::1".parse().unwrap()), 18333),
                SocketAddr::new(IpAddr::V6(Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0xc000, 0x0203)), 18333),
            ]
        );
        assert!(addrs.iter().all(|a| a.services == 0));
        assert_eq!(addrs[0].to_string(), "192.0.2.1:18333");
    }

    #[test]
    fn log_lines_match_btcd() {
        let err = io::Error::new(io::ErrorKind::NotFound, "no such host");
        assert_eq!(
            failed_line("x9.seed.example.org", &err),
            "DNS discovery failed on seed x9.seed.example.org: no such host"
        );
        assert_eq!(found_line(25, "seed.example.org"), "25 addresses found from DNS seed seed.example.org");
    }

    #[test]
    fn seed_from_dns_reports_each_seed_and_calls_back_per_batch() {
        let seeds = [
            DnsSeed::new("ok.example", true),
            DnsSeed::new("fail.example", false),
            DnsSeed::new("empty.example", true),
        ];
        let asked = Arc::new(Mutex::new(Vec::new()));
        let batches = Arc::new(Mutex::new(Vec::new()));
        let lookup = {
            let asked = Arc::clone(&asked);
            move |host: &str| -> io::Result<Vec<IpAddr>> {
                asked.lock().unwrap().push(host.to_owned());
                match host {
                    "x9.ok.example" => Ok(vec![
                        "192.0.2.1".parse().unwrap(),
                        "192.0.2.2".parse().unwrap(),
                        "::ffff:192.0.2.3".parse().unwrap(),
                    ]),
                    "x9.empty.example" => Ok(Vec::new()),
                    _ => Err(io::Error::new(io::ErrorKind::NotFound, "no such host")),
                }
            }
        };
        let on_addresses = {
            let batches = Arc::clone(&batches);
            move |addrs: Vec<SeedAddress>| batches.lock().unwrap().push(addrs)
        };

        let join = seed_from_dns(&seeds, 8333, 9, lookup, on_addresses);
        assert_eq!(join.len(), 3);
        let report = join.join();

        let mut asked = asked.lock().unwrap().clone();
        asked.sort();
        assert_eq!(asked, ["fail.example", "x9.empty.example", "x9.ok.example"]);

        let hosts: Vec<&str> = report.seeds.iter().map(|s| s.host.as_str()).collect();
        assert_eq!(hosts, ["x9.ok.example", "fail.example", "x9.empty.example"]);
        assert_eq!(report.seeds[0].result.as_ref().unwrap(), &3);
        let err = report.seeds[1].result.as_ref().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert_eq!(report.seeds[2].result.as_ref().unwrap(), &0);
        assert_eq!(report.total_addresses(), 3);
        assert_eq!(report.failures(), 1);

        // One call, for the one non-empty seed; none for the failure or the empty answer.
        let batches = batches.lock().unwrap();
        assert_eq!(batches.len(), 1);
        let ports: Vec<u16> = batches[0].iter().map(|a| a.addr.port()).collect();
        assert_eq!(ports, [8333, 8333, 8333]);
        assert_eq!(batches[0][2].addr.ip(), IpAddr::V4(Ipv4Addr::new(192, 0, 2, 3)));
    }

    #[test]
    fn seed_from_dns_with_no_seeds_finishes_at_once() {
        let join = seed_from_dns(&[], 8333, 1, |_| Ok(Vec::new()), |_| {});
        assert!(join.is_empty());
        let report = join.join_timeout(Duration::from_secs(1));
        assert!(report.seeds.is_empty());
        assert_eq!(report.total_addresses(), 0);
    }

    #[test]
    fn join_timeout_reports_stragglers_as_timed_out() {
        let (release, gate) = mpsc::channel::<()>();
        let gate = Mutex::new(gate);
        let seeds = [DnsSeed::new("fast.example", false), DnsSeed::new("slow.example", false)];
        let lookup = move |host: &str| -> io::Result<Vec<IpAddr>> {
            if host == "slow.example" {
                // Blocks until the test releases it (or 5 s pass), like a hung resolver.
                let _ = gate.lock().unwrap().recv_timeout(Duration::from_secs(5));
            }
            Ok(vec!["192.0.2.9".parse().unwrap()])
        };
        let started = Instant::now();
        let report = seed_from_dns(&seeds, 8333, 1, lookup, |_| {}).join_timeout(Duration::from_millis(100));
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(report.seeds[0].result.as_ref().unwrap(), &1);
        let err = report.seeds[1].result.as_ref().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(report.failures(), 1);
        // Let the detached thread finish.
        let _ = release.send(());
    }

    #[test]
    fn panicking_lookup_is_reported_not_propagated() {
        let seeds = [DnsSeed::new("boom.example", false), DnsSeed::new("ok.example", false)];
        let lookup = |host: &str| -> io::Result<Vec<IpAddr>> {
            if host == "boom.example" {
                panic!("resolver bug (expected by this test)");
            }
            Ok(vec!["192.0.2.1".parse().unwrap()])
        };
        let report = seed_from_dns(&seeds, 8333, 1, lookup, |_| {}).join();
        assert!(report.seeds[0].result.is_err());
        assert_eq!(report.seeds[1].result.as_ref().unwrap(), &1);
    }

    #[test]
    fn splitmix_is_deterministic_per_seed() {
        let mut a = SplitMix64(1);
        let mut b = SplitMix64(1);
        let xs: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..4).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs[0], xs[1]);
    }
}
