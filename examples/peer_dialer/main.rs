// cargo run --example peer_dialer -- [OPTIONS] [ADDR ...]
//
// A Bitcoin P2P peer dialer whose whole peer protocol runs on connmgr's one reactor thread:
// version handshake both ways (outbound and inbound), ping/pong, getaddr, and discovery of new
// peers from `addr` / `addrv2` into the manager's address source, with defensive framing (wrong
// magic, bad checksum, oversize or truncated messages and silent peers each end their own
// connection, with the reason in the log and the summary).
//
// With no address at all it starts local Bitcoin-speaking peers on 127.x.0.y, each in its own
// /16 netgroup but two (good ones that share each other's addresses, and bad ones) and dials
// them from a single seed; the run ends by itself after about ten seconds with a summary. Point it at real nodes with, for example,
//   cargo run --example peer_dialer -- --network signet --target 4 seed.signet.bitcoin.sprovoost.nl
// or seed it btcd-style from DNS seeds, looked up on the same thread as everything else:
//   cargo run --example peer_dialer -- --dns-seed seed.bitcoin.sipa.be --dns-seed dnsseed.bluematt.me
// and stop it with Ctrl-C. `--help` lists the options; RUST_LOG=debug shows connmgr's log.
//
// Files: cli.rs (options), protocol.rs (framing and handshake, pure), peers.rs (the Handler),
// book.rs (address source), report.rs (output), local.rs (the embedded peers).

mod book;
mod cli;
mod local;
mod peers;
mod protocol;
mod report;

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bitcoin::p2p::{Magic, ServiceFlags};
use connmgr::dns::ResolverConfig;
use connmgr::seed::DnsSeed;
use connmgr::{
    inbound::{Eviction, Protection},
    outbound::OutboundPolicy,
    Config, ConnectOptions, Handle, Manager,
};

use crate::cli::Cli;
use crate::local::{Behaviour, LocalNet, Spec};
use crate::peers::{Bootstrap, Dialer, Options};
use crate::protocol::LocalInfo;
use crate::report::Report;

/// How often the live-peer table is printed.
const TABLE_EVERY: Duration = Duration::from_secs(3);

fn main() -> ExitCode {
    let cli = cli::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let plan = match cli.plan() {
        Ok(plan) => plan,
        Err(msg) => cli::usage_error(&msg),
    };
    match run(&cli, plan) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            let mut source = e.source();
            while let Some(s) = source {
                eprintln!("  caused by: {s}");
                source = s.source();
            }
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli, mut plan: cli::Plan) -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let magic = cli.network.magic();
    let embedded = plan.is_empty();
    let demo = if embedded { Some(start_demo(magic, cli.network.port(), &mut plan)?) } else { None };
    let target = cli.target.unwrap_or(if embedded { 3 } else { 8 });
    let duration = cli.duration.or(embedded.then_some(Duration::from_secs(10)));

    let opts = Options {
        me: LocalInfo {
            magic,
            // A dialer serves no blocks: it claims no services.
            services: ServiceFlags::NONE,
            user_agent: format!("/connmgr-peer-dialer:{}/", env!("CARGO_PKG_VERSION")),
            start_height: 0,
            // No transaction announcements, please: this node only looks around.
            relay: false,
            nonce: random_u64(),
        },
        handshake_timeout: cli.handshake_timeout,
        target,
        feeler_interval: Some(cli.feeler_interval.unwrap_or(Duration::from_secs(if embedded { 2 } else { 120 }))),
    };
    let mut dialer = Dialer::new(opts, Report::new(start, true));
    for seed in &plan.seeds {
        dialer.book.add(seed.clone());
    }
    // Looked up on the reactor thread once it runs: nothing blocks here.
    dialer.bootstrap = Bootstrap {
        names: plan.names.clone(),
        dns_seeds: plan.dns_seeds.iter().map(|name| DnsSeed::new(name.as_str(), true)).collect(),
        port: cli.network.port(),
    };
    let config = Config {
        target_outbound: target,
        connect_timeout: cli.connect_timeout,
        listeners: plan.listen.into_iter().collect(),
        max_inbound: cli.max_inbound,
        proxy: plan.proxy.clone(),
        onion_proxy: plan.onion_proxy.clone(),
        protection: Protection {
            max_per_ip: cli.max_inbound_per_ip,
            trusted: cli.whitelist.clone(),
            eviction: Some(Eviction::bitcoin_core()),
            ..Protection::default()
        },
        // Bitcoin Core's outbound policy: one automatic peer per netgroup (unless
        // --no-diversity), failed addresses skipped for 10 minutes, jittered backoff, the stable
        // rule, offline detection; one feeler at a time, closed if its handshake stalls.
        outbound: OutboundPolicy {
            max_per_netgroup: (!cli.no_diversity).then_some(1),
            max_probes: 1,
            probe_deadline: cli.handshake_timeout + Duration::from_secs(1),
            ..OutboundPolicy::recommended()
        },
        // No --dns-server: the system's resolvers (resolv.conf), read at the first lookup.
        dns: (!cli.dns_server.is_empty())
            .then(|| ResolverConfig { servers: cli.dns_server.clone(), ..ResolverConfig::default() }),
        ..Config::default()
    };
    let mut manager = Manager::new(config, dialer)?;
    for &subnet in &cli.ban {
        // For the run (a ban lasts at most a year).
        manager.ban(subnet, Duration::from_secs(365 * 24 * 3600))?;
    }
    for addr in manager.reactor().local_addrs() {
        manager.reactor_mut().handler_mut().book.exclude(addr);
    }
    for addr in &plan.permanent {
        manager.connect(addr.clone(), ConnectOptions::permanent())?;
        manager.reactor_mut().handler_mut().book.claim(addr);
    }
    banner(cli, &plan, &manager, target, duration, demo.as_ref());
    if let (Some(demo), Some(&listener)) = (&demo, manager.reactor().local_addrs().first()) {
        demo.net.dial(listener)?;
        // A peer that dials in speaking another network: banned, so its return is refused.
        demo.net.dial_as(listener, Some(demo.intruder), Behaviour::WrongMagic)?;
    }
    let mut intruder_back = false;
    spawn_signal_thread(manager.handle())?;

    let deadline = duration.map(|d| start + d);
    let mut next_table = start + TABLE_EVERY;
    loop {
        let wake = deadline.map_or(next_table, |d| d.min(next_table));
        if manager.run_until(wake)? {
            break; // stopped by Ctrl-C
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            println!("[{:>8}] --duration reached: stopping", report::fmt_secs(now - start));
            manager.stop()?;
            break;
        }
        if now >= next_table {
            if let (Some(demo), Some(&listener), false) =
                (&demo, manager.reactor().local_addrs().first(), intruder_back)
            {
                intruder_back = true;
                demo.net.dial_as(listener, Some(demo.intruder), Behaviour::WrongMagic)?;
            }
            let dialer = manager.reactor().handler();
            let rows = dialer.rows(now);
            eprint!("{}", report::table(now - start, &rows, target, dialer.book.len()));
            next_table += TABLE_EVERY;
            // Addresses that were resting (or came while every slot was asked for) may be
            // usable now: ask for the missing automatic connections (the manager caps at target).
            if dialer.book.has_available(now) {
                for _ in 0..target {
                    manager.new_conn_req()?;
                }
            }
        }
    }
    println!("{}", report::summary(start.elapsed(), &manager.counters(), &manager.reactor().handler().report.stats));
    drop(demo);
    Ok(())
}

/// The embedded demo's local peers and the addresses the dialer gets.
struct Demo {
    net: LocalNet,
    refusing: SocketAddr,
    /// Gossiped, but nothing listens there.
    gone: SocketAddr,
    /// Where the misbehaving inbound peer dials from.
    intruder: IpAddr,
}

/// Starts the local peers, each in its own /16 netgroup (127.1.0.1, 127.2.0.1, ...; all of
/// 127/8 is loopback on Linux) except two good ones that share 127.7/16, so that one of them is
/// skipped for diversity: the seed and three more good ones, a silent one, one that hangs up
/// mid-message, three that send malformed messages. The good ones gossip all of them, bad ones
/// first so the newcomer sees the target kept through failures. One more address refuses (no
/// listener); it becomes a permanent peer, so its retries show. One good peer dials in.
fn start_demo(magic: Magic, port: u16, plan: &mut cli::Plan) -> std::io::Result<Demo> {
    let ip = |b: u8, d: u8| IpAddr::V4(Ipv4Addr::new(127, b, 0, d));
    let peers = [
        (ip(1, 1), Behaviour::Good),
        (ip(2, 1), Behaviour::Silent),
        (ip(3, 1), Behaviour::Truncate),
        (ip(4, 1), Behaviour::WrongMagic),
        (ip(5, 1), Behaviour::BadChecksum),
        (ip(6, 1), Behaviour::Oversize),
        (ip(7, 1), Behaviour::Good),
        (ip(7, 2), Behaviour::Good),
        (ip(8, 1), Behaviour::Good),
    ];
    let specs: Vec<Spec> =
        peers.iter().map(|&(ip, behaviour)| Spec { addr: SocketAddr::new(ip, port), behaviour }).collect();
    // An address where nothing listens, then every peer but the seed, in order (the bad ones
    // first): the first dial fails, and connmgr's failure memory keeps it away afterwards.
    let gone = SocketAddr::new(ip(10, 1), port);
    let net = LocalNet::start(magic, &specs, |bound| {
        [gone].into_iter().chain(bound.iter().skip(1).map(|&(a, _)| a)).collect()
    })?;
    let refusing = SocketAddr::new(ip(9, 1), port);
    plan.seeds.push(net.addr(0).into());
    plan.permanent.push(refusing.into());
    plan.listen = Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0));
    Ok(Demo { net, refusing, gone, intruder: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 66)) })
}

fn banner(
    cli: &Cli,
    plan: &cli::Plan,
    manager: &Manager<Dialer>,
    target: u32,
    run: Option<Duration>,
    demo: Option<&Demo>,
) {
    let dialer = manager.reactor().handler();
    let until = run.map_or("until Ctrl-C".to_string(), |d| format!("for {}s (Ctrl-C stops sooner)", d.as_secs_f64()));
    println!(
        "peer_dialer {} on {}: target {target} automatic peers, handshake timeout {}s, {until}",
        dialer.options().me.user_agent,
        format!("{:?}", cli.network).to_lowercase(),
        cli.handshake_timeout.as_secs_f64(),
    );
    if let Some(demo) = demo {
        println!("embedded demo: no address given, so these local peers run on loopback:");
        for (i, (addr, behaviour)) in demo.net.peers().iter().enumerate() {
            let role = if i == 0 { "  (the only seed)" } else { "" };
            println!("  {addr:<22} {}{role}", behaviour.describe());
        }
        println!("  {:<22} refuses connections (a --permanent peer)", demo.refusing.to_string());
        println!("  {:<22} is gossiped but refuses: remembered as failed, not redialled", demo.gone.to_string());
        println!("  one automatic peer per /16 netgroup: 127.7.0.1 and 127.7.0.2 share one; a feeler every 2 s");
        let listener = manager.reactor().local_addrs().first().map_or("-".into(), |a| a.to_string());
        println!("  a good peer dials in to our listener {listener}");
        println!("  {:<22} dials in speaking another network, and comes back at 3 s", demo.intruder.to_string());
    } else {
        println!(
            "{} seeds, {} seed names and {} DNS seeds to look up, {} permanent peers{}",
            plan.seeds.len(),
            plan.names.len(),
            plan.dns_seeds.len(),
            plan.permanent.len(),
            manager.reactor().local_addrs().first().map_or(String::new(), |a| format!(", listening on {a}"))
        );
    }
    for (what, proxy) in [("proxy", &plan.proxy), ("onion proxy", &plan.onion_proxy)] {
        if let Some(proxy) = proxy {
            let isolation = if proxy.isolates_streams() { ", stream isolation" } else { "" };
            println!("{what} {}{isolation}: nothing goes around it", proxy.addr());
        }
    }
}

/// Ctrl-C (or SIGTERM) stops the manager gracefully from a plain thread: `Handle::stop` wakes
/// the reactor, which closes and reports every connection. A second Ctrl-C quits at once.
fn spawn_signal_thread(handle: Handle) -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new().name("signals".into()).spawn(move || {
        let mut stopping = false;
        for _ in signals.forever() {
            if stopping {
                eprintln!("second signal: quitting at once");
                std::process::exit(130);
            }
            stopping = true;
            eprintln!("\nstopping: closing every connection (Ctrl-C again to quit at once)");
            if handle.stop().is_err() {
                return;
            }
        }
    })?;
    Ok(())
}

/// A random nonce without a random-number crate: std's `RandomState` is seeded from the OS.
fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(std::process::id().into());
    h.finish()
}
