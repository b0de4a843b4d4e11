//! `churn load`: IW1's load client, a child process of `churn iw1` (its CPU must not count as the
//! listener's, the process being measured).
//!
//! Single-threaded mio. It keeps `--k` connects in flight to 127.0.0.1:`--port`, each from a
//! socket bound before `connect` to one of 127.0.0.1 ..= 127.0.0.<addrs> in turn, and closes each
//! connection (a plain FIN) as soon as it is established, starting the next at once. The client
//! closes first, so the TIME_WAIT sockets are its own; `IP_BIND_ADDRESS_NO_PORT` leaves the port
//! choice to `connect`, which can then reuse those ports per 4-tuple (`tcp_tw_reuse`), and the
//! eight source addresses give it eight times the ephemeral range: without both, a bind-time
//! port choice would run out of ports within seconds at tens of thousands of connections a second.
//!
//! It is bounded three ways: it exits after `--secs`, when its stdin reaches end of file (the
//! parent is gone), and at the first refused connect (the parent's listener is gone). It prints
//! `ready` on stdout once its first connects are started, and one JSON line of its own counts on
//! exit.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use socket2::{Domain, Socket, Type};

/// Load client options (parsed in `cli.rs`).
#[derive(Clone, Debug)]
pub struct LoadArgs {
    /// The listener's port on 127.0.0.1.
    pub port: u16,
    /// Connects in flight.
    pub k: u32,
    /// Source addresses 127.0.0.1 ..= 127.0.0.<addrs>.
    pub addrs: u8,
    /// Exit after this many seconds.
    pub secs: f64,
}

impl Default for LoadArgs {
    fn default() -> Self {
        LoadArgs { port: 0, k: 64, addrs: 8, secs: 30.0 }
    }
}

/// A nonblocking connect from `src` (port chosen by `connect`) to `dst`.
fn connect_from(src: Ipv4Addr, dst: SocketAddr) -> io::Result<TcpStream> {
    let s = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    s.set_nonblocking(true)?;
    crate::os::bind_address_no_port(&s)?;
    s.bind(&SocketAddr::V4(SocketAddrV4::new(src, 0)).into())?;
    match s.connect(&dst.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(s.into()))
}

/// The client's sockets and counts.
struct Client {
    poll: Poll,
    dst: SocketAddr,
    addrs: u8,
    /// Source address of the next connect: 127.0.0.<src>.
    src: u8,
    slots: Vec<Option<TcpStream>>,
    /// Slots whose connect failed before it started (no ports, say): retried after 1 ms.
    redo: Vec<usize>,
    connects: u64,
    established: u64,
    errs: u64,
}

/// A refused connect: the listener is gone.
struct Refused;

impl Client {
    /// Starts the next connect in slot `i`.
    fn start(&mut self, i: usize) -> Result<(), Refused> {
        self.src = self.src % self.addrs + 1;
        self.connects += 1;
        match connect_from(Ipv4Addr::new(127, 0, 0, self.src), self.dst) {
            Ok(mut s) => match self.poll.registry().register(&mut s, Token(i), Interest::WRITABLE) {
                Ok(()) => self.slots[i] = Some(s),
                Err(_) => self.redo.push(i),
            },
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => return Err(Refused),
            Err(_) => {
                self.errs += 1;
                self.redo.push(i);
            }
        }
        Ok(())
    }

    /// Runs until `end`, or a refusal.
    fn run(&mut self, end: Instant) -> io::Result<Result<(), Refused>> {
        let mut events = Events::with_capacity(1024);
        for i in 0..self.slots.len() {
            if let Err(r) = self.start(i) {
                return Ok(Err(r));
            }
        }
        let mut out = io::stdout().lock();
        writeln!(out, "ready")?;
        out.flush()?;
        drop(out);
        loop {
            let now = Instant::now();
            if now >= end {
                return Ok(Ok(()));
            }
            let mut wait = end - now;
            if !self.redo.is_empty() {
                wait = wait.min(Duration::from_millis(1));
            }
            match self.poll.poll(&mut events, Some(wait)) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            for ev in events.iter() {
                let i = ev.token().0;
                let Some(s) = self.slots[i].as_ref() else { continue };
                match s.take_error() {
                    Ok(Some(e)) | Err(e) if e.kind() == ErrorKind::ConnectionRefused => return Ok(Err(Refused)),
                    Ok(Some(_)) | Err(_) => self.errs += 1,
                    // Writable with no error: established. (The listener's side is what is
                    // measured; the client needs no stricter check.)
                    Ok(None) if ev.is_writable() => self.established += 1,
                    Ok(None) => continue,
                }
                // Close at once (a FIN) and start the next.
                self.slots[i] = None;
                if let Err(r) = self.start(i) {
                    return Ok(Err(r));
                }
            }
            for i in std::mem::take(&mut self.redo) {
                if let Err(r) = self.start(i) {
                    return Ok(Err(r));
                }
            }
        }
    }
}

/// Runs the client until `--secs` have passed, a connect is refused, or stdin closes.
pub fn run(args: &LoadArgs) -> io::Result<()> {
    // The parent keeps our stdin open; end of file means it is gone.
    std::thread::spawn(|| {
        let mut buf = [0u8; 64];
        while matches!(io::stdin().read(&mut buf), Ok(n) if n > 0) {}
        std::process::exit(0);
    });
    let mut client = Client {
        poll: Poll::new()?,
        dst: SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, args.port)),
        addrs: args.addrs,
        src: 0,
        slots: (0..args.k).map(|_| None).collect(),
        redo: Vec::new(),
        connects: 0,
        established: 0,
        errs: 0,
    };
    let end = Instant::now() + Duration::from_secs_f64(args.secs);
    let why = match client.run(end)? {
        Ok(()) => "time",
        Err(Refused) => "refused",
    };
    println!(
        "{{\"load\":\"{why}\",\"connects\":{},\"established\":{},\"errs\":{}}}",
        client.connects, client.established, client.errs
    );
    Ok(())
}
