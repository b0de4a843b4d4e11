//! Accept backs off on a real resource error (D13, and README difference #5): with the process out of
//! file descriptors, `accept` fails with `EMFILE` and the pending connection stays queued; btcd
//! would retry at once, for ever, at 100 % CPU. connmgr pauses the listener on a doubling timer
//! (5 ms, 10 ms, ... up to 1 s) and accepts the connection once descriptors are available again.
//!
//! It runs alone (`crate::alone`), on purpose: it lowers `RLIMIT_NOFILE` for the whole process, which
//! would break any test running beside it. The limit is restored by a guard, even on panic.
//!
//! Failed accepts are counted through the error records connmgr logs for each one (those of
//! the module that classifies accept errors, [`ACCEPT_ERRORS_TARGET`], at error level: the same
//! module logs each admitted connection at debug level), and the absence of spinning is checked
//! independently through this thread's CPU time.

use crate::support;

use std::fs::File;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::Recorder;
use connmgr::{Config, Manager};

const ACCEPT_ERRORS_TARGET: &str = "connmgr::core::accept";
static ACCEPT_ERRORS: AtomicUsize = AtomicUsize::new(0);

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        // Counting takes no descriptor.
        if record.target() == ACCEPT_ERRORS_TARGET && record.level() == log::Level::Error {
            ACCEPT_ERRORS.fetch_add(1, Ordering::Relaxed);
        }
    }
    fn flush(&self) {}
}

/// Restores the original `RLIMIT_NOFILE` when dropped.
struct Limit {
    original: libc::rlimit,
}

impl Limit {
    fn current() -> libc::rlimit {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit writes into the struct we pass.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) }, 0);
        limit
    }

    fn set(limit: libc::rlimit) {
        // SAFETY: setrlimit reads the struct we pass.
        let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
        assert_eq!(rc, 0, "setrlimit(RLIMIT_NOFILE): {}", std::io::Error::last_os_error());
    }

    /// Lowers the soft limit to `soft`.
    fn lower(soft: u64) -> Limit {
        let original = Limit::current();
        Limit::set(libc::rlimit { rlim_cur: soft as libc::rlim_t, rlim_max: original.rlim_max });
        Limit { original }
    }
}

impl Drop for Limit {
    fn drop(&mut self) {
        Limit::set(self.original);
    }
}

/// CPU time (user + system) of the calling thread.
fn thread_cpu() -> Duration {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we pass.
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) }, 0);
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// The highest descriptor number open now.
fn max_fd() -> i32 {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .max()
        .unwrap()
}

/// Fills every free descriptor number up to the highest one in use, so that with the soft limit
/// set just above it the next `accept` has no number left. Returns the fillers and the limit.
fn fill_holes() -> (Vec<File>, u64) {
    let max = max_fd();
    let mut fillers = Vec::new();
    for _ in 0..100_000 {
        let f = File::open("/dev/null").unwrap();
        if f.as_raw_fd() > max {
            return (fillers, max as u64 + 1);
        }
        fillers.push(f);
    }
    panic!("more than 100000 free descriptors below {max}");
}

/// From btcd's `listenHandler` on an accept error, which no btcd test covers (scenario D13):
/// btcd retries at once; ours pauses the listener (README difference #5).
#[test]
#[cfg(target_os = "linux")]
fn emfile_pauses_accepting_instead_of_spinning_and_accepting_resumes() {
    let _alone = crate::alone();
    static LOGGER: Capture = Capture;
    log::set_logger(&LOGGER).unwrap();
    log::set_max_level(log::LevelFilter::Trace);

    let config = Config { target_outbound: 0, listeners: vec![support::localhost()], ..Config::default() };
    let mut m = Manager::new(config, Recorder::new()).unwrap();
    let client = support::connect(m.reactor().local_addrs()[0]); // queued in the kernel until accepted
    let period = Duration::from_millis(300);

    // A reactor that spins never returns from its accept loop while the shortage lasts; this
    // watchdog ends the shortage after a while, so such a reactor fails the test, not hangs it.
    let (done, watch) = std::sync::mpsc::channel::<()>();
    let original = Limit::current();
    let watchdog = std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = watch.recv_timeout(support::LIMIT / 2) {
            Limit::set(original);
        }
    });

    let (fillers, soft) = fill_holes();
    let limit = Limit::lower(soft);
    let err = File::open("/dev/null").expect_err("no descriptor left");
    assert_eq!(err.raw_os_error(), Some(libc::EMFILE), "the test's own setup: {err}");

    let (cpu0, wall0) = (thread_cpu(), Instant::now());
    support::turn_for(&mut m, period);
    let (cpu, wall) = (thread_cpu() - cpu0, wall0.elapsed());
    let errors = ACCEPT_ERRORS.load(Ordering::Relaxed);
    drop(limit);
    drop(fillers);
    drop(done);
    watchdog.join().unwrap();

    assert!(cpu < wall / 2, "the reactor thread used {cpu:?} of CPU in {wall:?}: it spins");
    assert!(wall < period + support::LIMIT / 4, "{wall:?} for a {period:?} run: stuck in the accept loop");
    assert!(errors >= 1, "accept never failed: was the limit effective?");
    // Pauses of 5, 10, 20, 40, 80, 160 ms: six attempts in 300 ms. A spinning loop makes
    // thousands.
    assert!(errors <= 12, "{errors} failed accepts in {wall:?}: the listener is not backing off");
    assert!(m.reactor().handler().accepted().is_empty());
    assert_eq!(m.counters().accepted, 0);

    // Descriptors are back: the next resume accepts the waiting connection (pauses cap at 1 s).
    support::turn_until(&mut m, "the accept after the limit was raised", |m| {
        m.reactor().handler().accepted().len() == 1
    });
    assert_eq!(m.reactor().handler().accepted()[0].1, client.local_addr().unwrap());
    assert_eq!(ACCEPT_ERRORS.load(Ordering::Relaxed), errors, "accept failed after the limit was raised");
    m.stop().unwrap();
}
