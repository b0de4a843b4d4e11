//! btcd's `SeedFromDNS`: every seed looked up on its own thread through a blocking lookup
//! function, with a completion signal.
//!
//! As in btcd, every seed is looked up on its own thread (btcd: a goroutine) through a
//! caller-supplied lookup function, outcomes are logged at Info with btcd's exact lines, and a
//! callback receives each non-empty batch. Unlike btcd, the caller gets a [`SeedJoin`] to wait
//! for completion, with or without a time limit, and a per-seed report. DNS resolution blocks,
//! so none of this may run on the reactor thread; results reach the connection manager through
//! a channel or the manager's thread-safe handle. The reactor's `seed` (feature `dns`) does the
//! same on the reactor thread itself, without a thread.
//!
//! # Examples
//!
//! Seed the address source of a manager from its own thread (a stand-in lookup here; a real one
//! calls the system resolver or [`tor_lookup_ip`](crate::tor::tor_lookup_ip)):
//!
//! ```
//! use connmgr::blocking::seed_from_dns;
//! use connmgr::seed::DnsSeed;
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

use std::io;
use std::net::IpAddr;
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use crate::rng::Rng;
use crate::seed::{seed_host, seed_outcome, DnsSeed, SeedAddress};

/// How one seed's lookup ended.
///
/// # Examples
///
/// ```
/// use connmgr::blocking::seed_from_dns;
/// use connmgr::seed::DnsSeed;
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
/// use connmgr::blocking::seed_from_dns;
/// use connmgr::seed::DnsSeed;
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
    /// use connmgr::blocking::seed_from_dns;
    /// use connmgr::seed::DnsSeed;
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
    /// use connmgr::blocking::seed_from_dns;
    /// use connmgr::seed::DnsSeed;
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
/// use connmgr::blocking::seed_from_dns;
/// use connmgr::seed::DnsSeed;
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
    /// use connmgr::blocking::seed_from_dns;
    /// use connmgr::seed::DnsSeed;
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
    /// use connmgr::blocking::seed_from_dns;
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
    /// use connmgr::blocking::seed_from_dns;
    /// use connmgr::seed::DnsSeed;
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
    /// use connmgr::blocking::seed_from_dns;
    /// use connmgr::seed::DnsSeed;
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
/// over `std::net::ToSocketAddrs`, or [`tor_lookup_ip`](super::tor_lookup_ip) through a
/// proxy). A failure is logged at Info as `DNS discovery failed on seed <host>: <err>`; a success
/// as `<n> addresses found from DNS seed <host>`, and when `n > 0` `on_addresses` is called once
/// with the addresses from [`seed_addresses`](crate::seed::seed_addresses) for `default_port`.
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
/// use connmgr::blocking::seed_from_dns;
/// use connmgr::seed::DnsSeed;
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
    let mut rng = Rng::from_clock(salt as u64);
    let result = lookup(host);
    let found = result.as_deref().map_err(|e| e as &dyn std::fmt::Display);
    let batch = seed_outcome(host, found, port, SystemTime::now(), || rng.next_u64());
    if !batch.is_empty() {
        on_addresses(batch);
    }
    result.map(|ips| ips.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::sync::Mutex;

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
}
