// cargo run --example demo
//
// connmgr on loopback in about four seconds, with nothing to set up:
// - two automatic outbound connections kept from an address list in which one address refuses,
//   so the manager replaces the failures until the target is met;
// - a permanent peer that is down at first: the manager retries it with linear backoff until it
//   comes up, then keeps its id;
// - a listener with `max_inbound = 1`: the first client is admitted, the second is closed at
//   once;
// - a stop from another thread through a `Handle`, which closes and reports every connection.
//
// Set RUST_LOG=debug to see the manager's own log lines (btcd's wording).

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use connmgr::{
    AddressError, Config, ConnInfo, ConnState, ConnectOptions, Ctx, DialError, DisconnectReason, Handler, InboundId,
    Manager, NextStep, Target,
};

/// Prints what the manager reports, with the time since start.
struct Demo {
    start: Instant,
    addrs: Vec<SocketAddr>,
    next: usize,
}

impl Demo {
    fn say(&self, what: std::fmt::Arguments<'_>) {
        println!("[{:>5.2}s] {what}", self.start.elapsed().as_secs_f64());
    }
}

impl Handler for Demo {
    fn new_address(&mut self, _class: connmgr::ClassId) -> Option<Result<Target, AddressError>> {
        let addr = self.addrs[self.next % self.addrs.len()];
        self.next += 1;
        Some(Ok(addr.into()))
    }

    fn on_connection(&mut self, _ctx: &mut Ctx<'_>, conn: &ConnInfo) {
        let kind = if conn.is_automatic() {
            "automatic"
        } else if conn.permanent {
            "permanent"
        } else {
            "manual"
        };
        self.say(format_args!("connected    {conn} ({kind})"));
    }

    fn on_dial_failed(&mut self, _ctx: &mut Ctx<'_>, conn: &ConnInfo, error: &DialError, next: NextStep) {
        let next = match next {
            NextStep::RetryIn(d) => format!("retry same id in {d:?}"),
            NextStep::Replaced => "replaced by a new request".to_string(),
            NextStep::ReplaceIn(d) => format!("replaced in {d:?}"),
            _ => "ended".to_string(),
        };
        self.say(format_args!("dial failed  {conn}: {error}; {next}"));
    }

    fn on_disconnection(&mut self, _ctx: &mut Ctx<'_>, conn: &ConnInfo, reason: &DisconnectReason) {
        self.say(format_args!("disconnected {conn}: {reason}"));
    }

    fn on_request_ended(&mut self, _ctx: &mut Ctx<'_>, conn: &ConnInfo, state: ConnState) {
        self.say(format_args!("ended        {conn} as {state}"));
    }

    fn on_accept(&mut self, _ctx: &mut Ctx<'_>, id: InboundId, remote: SocketAddr) {
        self.say(format_args!("accepted     {id} from {remote}"));
    }

    fn on_inbound_closed(&mut self, _ctx: &mut Ctx<'_>, id: InboundId, reason: &DisconnectReason) {
        self.say(format_args!("inbound {id} closed: {reason}"));
    }
}

/// A peer that accepts connections and holds them until they close.
fn serve(listener: TcpListener) {
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || {
                let mut sink = [0u8; 64];
                let mut stream = stream;
                while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
            });
        }
    });
}

/// A port that nothing listens on, on `ip`.
fn closed_port(ip: Ipv4Addr) -> std::io::Result<SocketAddr> {
    TcpListener::bind((ip, 0))?.local_addr()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();

    let peer_a = TcpListener::bind("127.0.0.2:0")?;
    let peer_b = TcpListener::bind("127.0.0.3:0")?;
    let addrs = vec![closed_port(Ipv4Addr::new(127, 0, 0, 5))?, peer_a.local_addr()?, peer_b.local_addr()?];
    serve(peer_a);
    serve(peer_b);
    // The permanent peer comes up 1.2 s after start, on a port reserved now.
    let late = closed_port(Ipv4Addr::new(127, 0, 0, 4))?;

    let config = Config {
        target_outbound: 2,
        retry_duration: Duration::from_millis(400),
        connect_timeout: Duration::from_secs(2),
        max_inbound: Some(1),
        listeners: vec!["127.0.0.1:0".parse()?],
        ..Config::default()
    };
    let start = Instant::now();
    let mut manager = Manager::new(config, Demo { start, addrs, next: 0 })?;
    let listen = manager.reactor().local_addrs()[0];
    let permanent = manager.connect(late, ConnectOptions::permanent())?;
    println!("permanent request {permanent} to {late}; automatic target 2; listening on {listen} (max_inbound 1)");

    let handle = manager.handle();
    let world = thread::spawn(move || -> std::io::Result<()> {
        thread::sleep(Duration::from_millis(1200));
        serve(TcpListener::bind(late)?);
        thread::sleep(Duration::from_millis(1300));
        let first = TcpStream::connect(listen)?;
        thread::sleep(Duration::from_millis(100));
        let mut second = TcpStream::connect(listen)?;
        // The manager closes the second client at once: it reads EOF (or a reset).
        let closed = matches!(second.read(&mut [0u8; 1]), Ok(0) | Err(_));
        println!("second inbound client was {}", if closed { "closed by the manager" } else { "kept" });
        thread::sleep(Duration::from_millis(800));
        handle.stop().ok();
        drop(first);
        Ok(())
    });

    manager.run()?;
    world.join().expect("driver thread")?;
    let c = manager.counters();
    println!(
        "done: {} dials, {} connected, {} refused, {} retries, {} disconnections, {} accepted, {} rejected inbound",
        c.dials, c.connected, c.failed_refused, c.retries, c.disconnections, c.accepted, c.rejected_inbound
    );
    Ok(())
}
