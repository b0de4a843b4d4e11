//! `churn sink`: the loopback sink of benches/README.md, as a mode of the same binary so that the
//! benchmark can start it as a child process (its CPU and memory must not count as the client's).
//!
//! Single-threaded mio, listening on 127.0.0.1 ..= 127.0.0.<addrs> on one port with SO_REUSEADDR
//! and a backlog of 4096, accepting until `WouldBlock` on every readiness event, then either
//! closing each socket at once with a plain FIN (`close`) or keeping it open until exit (`hold`).
//! It exits by itself after `--secs`. Both implementations (`--impl`) use it alike.
//!
//! With `--port 0` it picks a free port itself (bind 127.0.0.1:0, then the same port on the
//! other addresses; a few bounded retries if another process holds it there), and in every case
//! prints `ready <port>` on stdout once all listeners are up: the parent reads that line instead
//! of guessing with sleeps. It also exits when its stdin reaches end of file, so a sink whose
//! parent died does not outlive it by more than a moment.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use socket2::{Domain, Socket, Type};

/// What the sink does with an accepted socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SinkMode {
    /// Accept and close at once (FIN).
    Close,
    /// Accept and keep open until exit.
    Hold,
}

/// Sink options (parsed in `cli.rs`).
#[derive(Clone, Debug)]
pub struct SinkArgs {
    /// close: accept and close at once; hold: keep every accepted socket until exit.
    pub mode: SinkMode,
    /// Port on every address; 0 picks a free one (printed in the `ready` line).
    pub port: u16,
    /// Listen on 127.0.0.1 ..= 127.0.0.<addrs>.
    pub addrs: u8,
    /// Exit after this many seconds.
    pub secs: f64,
    /// listen() backlog.
    pub backlog: i32,
}

impl Default for SinkArgs {
    fn default() -> Self {
        SinkArgs { mode: SinkMode::Close, port: 0, addrs: 8, secs: 30.0, backlog: 4096 }
    }
}

fn listener(ip: Ipv4Addr, port: u16, backlog: i32) -> io::Result<TcpListener> {
    let s = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    s.bind(&SocketAddr::V4(SocketAddrV4::new(ip, port)).into())?;
    s.listen(backlog)?;
    Ok(TcpListener::from_std(s.into()))
}

/// Binds all listeners; with port 0, on a port that is free on every address.
fn bind_all(args: &SinkArgs) -> io::Result<(u16, Vec<TcpListener>)> {
    let ip = |i: u8| Ipv4Addr::new(127, 0, 0, i);
    let mut last_err = None;
    for _ in 0..32 {
        let first = listener(ip(1), args.port, args.backlog)?;
        let port = first.local_addr()?.port();
        let mut all = vec![first];
        let rest: io::Result<Vec<_>> = (2..=args.addrs).map(|i| listener(ip(i), port, args.backlog)).collect();
        match rest {
            Ok(rest) => {
                all.extend(rest);
                return Ok((port, all));
            }
            Err(e) if args.port == 0 => last_err = Some(e), // taken on another address: pick again
            Err(e) => return Err(e),
        }
    }
    Err(last_err.unwrap_or_else(|| io::Error::other("no free port")))
}

/// Runs the sink; returns when `--secs` have passed or stdin closes.
pub fn run(args: &SinkArgs) -> io::Result<()> {
    let mut poll = Poll::new()?;
    let (port, mut listeners) = bind_all(args)?;
    for (i, l) in listeners.iter_mut().enumerate() {
        poll.registry().register(l, Token(i), Interest::READABLE)?;
    }
    // The parent keeps our stdin open; end of file means it is gone.
    std::thread::spawn(|| {
        let mut buf = [0u8; 64];
        while matches!(io::stdin().read(&mut buf), Ok(n) if n > 0) {}
        std::process::exit(0);
    });
    eprintln!("churn sink: mode={:?} port={port} addrs=127.0.0.1..{} secs={}", args.mode, args.addrs, args.secs);
    let mut out = io::stdout().lock();
    writeln!(out, "ready {port}")?;
    out.flush()?;
    drop(out);

    let mut held = Vec::new();
    let (mut accepted, mut accept_errs) = (0u64, 0u64);
    let mut events = Events::with_capacity(64);
    let end = Instant::now() + Duration::from_secs_f64(args.secs);
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        match poll.poll(&mut events, Some(end - now)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for ev in events.iter() {
            let Some(l) = listeners.get(ev.token().0) else { continue };
            loop {
                match l.accept() {
                    Ok((s, _)) => {
                        accepted += 1;
                        if args.mode == SinkMode::Hold {
                            held.push(s);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(_) => {
                        accept_errs += 1;
                        break;
                    }
                }
            }
        }
    }
    println!(
        "{{\"sink\":\"{:?}\",\"accepted\":{accepted},\"accept_errs\":{accept_errs},\"held\":{}}}",
        args.mode,
        held.len()
    );
    Ok(())
}
