//! Debian's `microsocks` (a small SOCKS5 server), started on 127.0.0.1 with a free port and
//! killed when dropped.
//!
//! If the binary is missing, [`Microsocks::start`] returns `None` and the test says it was
//! skipped, unless `CONNMGR_REQUIRE_SERVERS` is set (CI sets it after installing the package),
//! which turns a missing server into a failure.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long microsocks may take to listen.
const READY: Duration = Duration::from_secs(5);

/// A running microsocks.
#[derive(Debug)]
pub struct Microsocks {
    child: Child,
    addr: SocketAddr,
}

impl Microsocks {
    /// `microsocks -i 127.0.0.1 -p <free port> <args>`, once it accepts connections (it prints
    /// nothing when ready, and `-p 0` would hide the port it took, so the test connects).
    pub fn start(args: &[&str]) -> Option<Microsocks> {
        if Command::new("microsocks").arg("-h").stdout(Stdio::null()).stderr(Stdio::null()).status().is_err() {
            assert!(
                std::env::var_os("CONNMGR_REQUIRE_SERVERS").is_none(),
                "microsocks is missing (apt-get install microsocks) and CONNMGR_REQUIRE_SERVERS is set"
            );
            eprintln!("SKIPPED: microsocks is not installed (apt-get install microsocks)");
            return None;
        }
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
            let mut child = Command::new("microsocks")
                .args(["-i", "127.0.0.1", "-p", &port.to_string()])
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("microsocks starts");
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let deadline = Instant::now() + READY;
            while Instant::now() < deadline {
                if child.try_wait().ok().flatten().is_some() {
                    break; // The port was taken in the meantime: try another.
                }
                if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                    return Some(Microsocks { child, addr });
                }
                std::thread::yield_now();
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("microsocks did not start");
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Microsocks {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
