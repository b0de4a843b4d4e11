//! The process's own resource use, as benches/README.md defines it: CPU time, peak RSS and context
//! switches from `getrusage(RUSAGE_SELF)`, current RSS from `/proc/self/status`. The sink is a
//! separate process, so none of its work is counted here.

/// A `getrusage(RUSAGE_SELF)` snapshot.
#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    /// User + system CPU seconds.
    pub cpu_s: f64,
    /// Peak resident set, KiB.
    pub maxrss_kb: i64,
    /// Voluntary context switches.
    pub nvcsw: i64,
    /// Involuntary context switches.
    pub nivcsw: i64,
}

/// Reads the counters now.
pub fn usage() -> Usage {
    // SAFETY: getrusage only writes the struct we hand it; an all-zero rusage is a valid value.
    let mut r: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF and a valid pointer; it cannot fail with these arguments.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut r) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Usage {
        cpu_s: tv(r.ru_utime) + tv(r.ru_stime),
        maxrss_kb: r.ru_maxrss as i64,
        nvcsw: r.ru_nvcsw as i64,
        nivcsw: r.ru_nivcsw as i64,
    }
}

/// A `kB` line of `/proc/self/status`, or -1 where `/proc` has none.
fn status_kb(key: &str) -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(key)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(-1)
}

/// Current resident set in KiB (`VmRSS`).
pub fn rss_kb() -> i64 {
    status_kb("VmRSS:")
}

/// Peak resident set in KiB: `VmHWM`, the high-water mark of this process's own address space.
///
/// Not `getrusage`'s `ru_maxrss`: Linux carries that across `execve`, so a process started
/// with `vfork` + `exec` (as `cargo run` and Python's `subprocess` start programs) reports its
/// launcher's peak if that was larger: about 49 MB under `cargo run`. Falls back to
/// `ru_maxrss` where `/proc` has no `VmHWM`.
pub fn peak_rss_kb(u: &Usage) -> i64 {
    match status_kb("VmHWM:") {
        -1 => u.maxrss_kb,
        kb => kb,
    }
}

/// Sets `IP_BIND_ADDRESS_NO_PORT`: a `bind` to port 0 then leaves the port to `connect`, which
/// picks it per 4-tuple (and may reuse a TIME_WAIT one) instead of reserving it for the address.
pub fn bind_address_no_port(s: &socket2::Socket) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: a valid socket fd and a pointer to a c_int of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The kernel's ephemeral port range, if it says.
pub fn ephemeral_ports() -> Option<(u16, u16)> {
    let s = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut it = s.split_whitespace().map(|v| v.parse::<u16>().ok());
    Some((it.next()??, it.next()??))
}

/// Debug: RSS split into anonymous and file-backed pages (`CHURN_DEBUG_RSS=1`).
pub fn debug_rss(stage: &str) {
    if std::env::var_os("CHURN_DEBUG_RSS").is_none() {
        return;
    }
    eprintln!(
        "rss[{stage}]: total {} anon {} file {} hwm {} KiB",
        status_kb("VmRSS:"),
        status_kb("RssAnon:"),
        status_kb("RssFile:"),
        status_kb("VmHWM:")
    );
}
