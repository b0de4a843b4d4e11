//! Command line: options (clap), networks, and turning address arguments into targets once, at
//! start-up, before the reactor runs. Nothing is looked up here: with a proxy, host names and
//! onion addresses stay as they are (the proxy resolves names: no DNS leak); without one, host
//! names given as seeds are looked up on the reactor thread once it runs (connmgr's `dns`
//! feature), `--dns-seed` names too, and onion addresses are an error.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use bitcoin::p2p::Magic;
use clap::error::ErrorKind;
use clap::{CommandFactory, Parser, ValueEnum};
use connmgr::{addr::HostName, inbound::Subnet, proxy::Proxy, Target};

/// A Bitcoin P2P peer dialer on connmgr's single reactor thread.
///
/// With no address at all it starts a few local peers on 127.x.0.y (good and bad ones) and
/// dials them for about ten seconds.
#[derive(Debug, Parser)]
#[command(name = "peer_dialer", version, max_term_width = 100)]
pub struct Cli {
    /// Seed addresses for the automatic connections: host:port, [v6]:port, or host (default port)
    #[arg(value_name = "ADDR")]
    pub addrs: Vec<String>,

    /// A permanent peer, redialled with backoff whenever it fails (repeatable)
    #[arg(long, value_name = "ADDR")]
    pub permanent: Vec<String>,

    /// Read more seed addresses from FILE: one per line, `#` starts a comment
    #[arg(long, value_name = "FILE")]
    pub addr_file: Option<PathBuf>,

    /// Automatic outbound connections to keep [default: 8; 3 in the embedded demo]
    #[arg(long, value_name = "N")]
    pub target: Option<u32>,

    /// Network: magic bytes and default port
    #[arg(long, value_enum, default_value_t = Network::Main)]
    pub network: Network,

    /// Also accept inbound peers on ADDR (host:port)
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,

    /// At most N inbound peers at once; when full, a newcomer may evict one (Bitcoin Core's
    /// choice: the youngest of the most crowded net group, sparing close and useful peers)
    #[arg(long, value_name = "N", requires = "listen")]
    pub max_inbound: Option<u32>,

    /// At most N inbound connections from one IP address
    #[arg(long, value_name = "N", requires = "listen")]
    pub max_inbound_per_ip: Option<u32>,

    /// Refuse and never dial SUBNET (an address or CIDR, e.g. 192.0.2.0/24; repeatable)
    #[arg(long, value_name = "SUBNET", value_parser = parse_subnet)]
    pub ban: Vec<Subnet>,

    /// Trust SUBNET: never capped, banned or evicted (Core's -whitelist noban; repeatable)
    #[arg(long, value_name = "SUBNET", value_parser = parse_subnet)]
    pub whitelist: Vec<Subnet>,

    /// Dial everything through this SOCKS5 proxy (host names unresolved: no DNS leak)
    #[arg(long, value_name = "HOST:PORT")]
    pub proxy: Option<String>,

    /// Dial .onion addresses through this Tor SOCKS port (stream isolation on)
    #[arg(long, value_name = "HOST:PORT")]
    pub onion_proxy: Option<String>,

    /// Seed from this DNS seed, btcd-style: ask `x9.NAME` (nodes with NODE_NETWORK and
    /// NODE_WITNESS), on the reactor thread (repeatable)
    #[arg(long, value_name = "NAME", value_parser = parse_name)]
    pub dns_seed: Vec<HostName>,

    /// Ask this DNS server instead of the system's resolvers (repeatable, tried in order)
    #[arg(long, value_name = "IP:PORT", value_parser = parse_dns_server)]
    pub dns_server: Vec<SocketAddr>,

    /// Allow several automatic peers in one netgroup (an IPv4 /16, an IPv6 /32); by default
    /// there is one per netgroup, as Bitcoin Core and btcd's server keep
    #[arg(long)]
    pub no_diversity: bool,

    /// Seconds between feelers: short connections that test an untried address from the book,
    /// closed once their handshake is done [default: 120; 2 in the embedded demo]
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub feeler_interval: Option<Duration>,

    /// Seconds a TCP connect (with its DNS lookup, for a host name) may take
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_secs)]
    pub connect_timeout: Duration,

    /// Seconds a connected peer has to complete the version handshake
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = parse_secs)]
    pub handshake_timeout: Duration,

    /// Stop after SECS seconds [default: until Ctrl-C; 10 in the embedded demo]
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub duration: Option<Duration>,
}

/// The networks and their parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Network {
    /// Mainnet (port 8333)
    Main,
    /// Testnet3 (port 18333)
    Test,
    /// Testnet4 (port 48333)
    Testnet4,
    /// Signet (port 38333)
    Signet,
    /// Regtest (port 18444)
    Regtest,
}

impl Network {
    /// The message-start bytes.
    pub fn magic(self) -> Magic {
        match self {
            Network::Main => Magic::BITCOIN,
            Network::Test => Magic::TESTNET3,
            Network::Testnet4 => Magic::TESTNET4,
            Network::Signet => Magic::SIGNET,
            Network::Regtest => Magic::REGTEST,
        }
    }

    /// The default P2P port.
    pub fn port(self) -> u16 {
        match self {
            Network::Main => 8333,
            Network::Test => 18333,
            Network::Testnet4 => 48333,
            Network::Signet => 38333,
            Network::Regtest => 18444,
        }
    }
}

/// Parses the command line; on a bad argument prints a one-line error and the usage, and
/// exits with status 2 (`--help` and `--version` print as usual).
pub fn parse() -> Cli {
    match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => e.exit(),
        Err(e) => {
            // clap's message, without its own usage and hints, on one line.
            let text = e.to_string();
            let message = text.split("\n\n").next().unwrap_or(&text);
            usage_error(&message.split_whitespace().collect::<Vec<_>>().join(" "))
        }
    }
}

/// Prints `error: ...` (one line) and the usage, and exits with status 2.
pub fn usage_error(message: &str) -> ! {
    let message = message.strip_prefix("error: ").unwrap_or(message);
    eprintln!("error: {message}\n\n{}\n\nFor more information, try '--help'.", Cli::command().render_usage());
    std::process::exit(2)
}

fn parse_subnet(s: &str) -> Result<Subnet, String> {
    s.parse().map_err(|e| format!("`{s}`: {e}"))
}

fn parse_name(s: &str) -> Result<HostName, String> {
    s.parse().map_err(|e| format!("`{s}`: {e}"))
}

fn parse_dns_server(s: &str) -> Result<SocketAddr, String> {
    s.parse().map_err(|_| format!("`{s}` is not IP:PORT"))
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.parse().map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if !(secs > 0.0 && secs <= 365.0 * 86_400.0) {
        return Err(format!("`{s}` must be more than 0 and at most a year"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Where names and onions may go.
#[derive(Clone, Copy, Debug, Default)]
pub struct Routes {
    /// A proxy takes host names (and onions, without an onion proxy).
    pub proxy: bool,
    /// An onion proxy takes onion addresses.
    pub onion: bool,
}

/// Parses one address argument: `1.2.3.4:8333`, `[::1]:8333`, `::1`, `1.2.3.4`, `host:port`,
/// `host` (the network's port), or `<56 chars>.onion[:port]`. Nothing is looked up: a host name
/// stays a name (a proxy resolves it, or the reactor does). An onion address needs a proxy.
pub fn target(arg: &str, default_port: u16, routes: Routes) -> Result<Target, String> {
    let arg = arg.trim();
    let target = Target::parse_with_default_port(arg, default_port).map_err(|e| format!("`{arg}`: {e}"))?;
    match &target {
        Target::Ip(_) | Target::Name(..) => Ok(target),
        Target::Onion(..) if routes.onion || routes.proxy => Ok(target),
        Target::Onion(..) => Err(format!("`{arg}` is an onion address: give --onion-proxy or --proxy")),
        _ => Err(format!("`{arg}`: unsupported address")),
    }
}

/// A proxy argument: `HOST:PORT` (resolved once) or `IP:PORT`.
pub fn proxy_addr(arg: &str) -> Result<SocketAddr, String> {
    arg.to_socket_addrs()
        .map_err(|e| format!("bad proxy `{arg}`: {e}"))?
        .next()
        .ok_or_else(|| format!("proxy `{arg}` has no address"))
}

/// The address arguments of an address file: one per line, `#` comments, blank lines skipped.
pub fn addr_file_lines(text: &str) -> Vec<&str> {
    text.lines().map(|l| l.split('#').next().unwrap_or("").trim()).filter(|l| !l.is_empty()).collect()
}

/// Every address the command line names, parsed.
#[derive(Debug, Default)]
pub struct Plan {
    /// Seeds of the address source.
    pub seeds: Vec<Target>,
    /// Seeds given as host names with no proxy to take them: looked up on the reactor, each
    /// address found a seed (a DNS seed's name yields many).
    pub names: Vec<(HostName, u16)>,
    /// `--dns-seed` names.
    pub dns_seeds: Vec<HostName>,
    /// Permanent peers.
    pub permanent: Vec<Target>,
    /// Where to listen.
    pub listen: Option<SocketAddr>,
    /// The general proxy.
    pub proxy: Option<Proxy>,
    /// The onion proxy.
    pub onion_proxy: Option<Proxy>,
}

impl Plan {
    /// Whether no peer address was given at all (the embedded demo runs then).
    pub fn is_empty(&self) -> bool {
        self.seeds.is_empty()
            && self.names.is_empty()
            && self.dns_seeds.is_empty()
            && self.permanent.is_empty()
            && self.listen.is_none()
    }

    /// Takes a seed argument: a host name with no proxy waits for the reactor.
    fn seed(&mut self, target: Target) {
        match target {
            Target::Name(name, port) if self.proxy.is_none() => self.names.push((name, port)),
            other => self.seeds.push(other),
        }
    }
}

impl Cli {
    /// Reads the address file and parses every address, once (looking nothing up).
    pub fn plan(&self) -> Result<Plan, String> {
        let port = self.network.port();
        let mut plan = Plan {
            proxy: self.proxy.as_deref().map(proxy_addr).transpose()?.map(Proxy::socks5),
            onion_proxy: self.onion_proxy.as_deref().map(proxy_addr).transpose()?.map(Proxy::tor),
            dns_seeds: self.dns_seed.clone(),
            ..Plan::default()
        };
        if plan.proxy.is_some() && !plan.dns_seeds.is_empty() {
            return Err("--dns-seed asks DNS servers directly, around --proxy: give seeds as addresses".into());
        }
        let routes = Routes { proxy: plan.proxy.is_some(), onion: plan.onion_proxy.is_some() };
        for a in &self.addrs {
            plan.seed(target(a, port, routes)?);
        }
        if let Some(path) = &self.addr_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read address file {}: {e}", path.display()))?;
            for a in addr_file_lines(&text) {
                plan.seed(target(a, port, routes).map_err(|e| format!("{}: {e}", path.display()))?);
            }
        }
        for a in &self.permanent {
            // A name is dialled as it is: the reactor (or the proxy) resolves it at each dial.
            plan.permanent.push(target(a, port, routes)?);
        }
        if let Some(l) = &self.listen {
            let addr = target(l, port, Routes::default())?.ip();
            plan.listen = Some(addr.ok_or_else(|| format!("--listen `{l}`: an IP address, please"))?);
        }
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONION: &str = "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion";

    fn t(s: &str) -> Target {
        s.parse().unwrap()
    }

    #[test]
    fn addresses_take_the_network_port_when_they_have_none() {
        let direct = Routes::default();
        assert_eq!(target("127.0.0.2", 8333, direct).unwrap(), t("127.0.0.2:8333"));
        assert_eq!(target("127.0.0.2:18444", 8333, direct).unwrap(), t("127.0.0.2:18444"));
        assert_eq!(target("[::1]", 8333, direct).unwrap(), t("[::1]:8333"));
        assert_eq!(target("::1", 8333, direct).unwrap(), t("[::1]:8333"));
        assert_eq!(target("[::1]:9", 8333, direct).unwrap(), t("[::1]:9"));
        assert_eq!(target("localhost", 1, direct).unwrap(), t("localhost:1"), "not looked up here");
        assert!(target("127.0.0.1:x", 1, direct).is_err());
        assert!(target(":8333", 1, direct).is_err());
    }

    #[test]
    fn names_and_onions_go_unresolved_to_a_proxy_and_onions_need_one() {
        let proxied = Routes { proxy: true, onion: false };
        assert_eq!(target("seed.example.org", 8333, proxied).unwrap(), t("seed.example.org:8333"));
        assert_eq!(target(ONION, 8333, proxied).unwrap(), t(&format!("{ONION}:8333")));
        let onion_only = Routes { proxy: false, onion: true };
        assert_eq!(target(ONION, 9, onion_only).unwrap(), t(&format!("{ONION}:9")));
        assert!(target(ONION, 8333, Routes::default()).unwrap_err().contains("--onion-proxy"));
        assert!(target("bad..name", 8333, proxied).is_err());
    }

    #[test]
    fn seed_names_wait_for_the_reactor_unless_a_proxy_takes_them() {
        let plan = Cli::try_parse_from(["peer_dialer", "seed.example.org", "127.0.0.2", "--permanent", "peer.example"]);
        let plan = plan.unwrap().plan().unwrap();
        assert_eq!(plan.names, [("seed.example.org".parse().unwrap(), 8333)]);
        assert_eq!(plan.seeds, [t("127.0.0.2:8333")]);
        assert_eq!(plan.permanent, [t("peer.example:8333")], "dialled by name");
        let proxied = Cli::try_parse_from(["peer_dialer", "--proxy", "127.0.0.1:9050", "seed.example.org"]);
        let plan = proxied.unwrap().plan().unwrap();
        assert_eq!((plan.names.len(), plan.seeds.clone()), (0, vec![t("seed.example.org:8333")]));
        assert!(Cli::try_parse_from(["peer_dialer", "--listen", "localhost:1"]).unwrap().plan().is_err());
    }

    #[test]
    fn dns_seeds_and_servers() {
        let cli = Cli::try_parse_from([
            "peer_dialer",
            "--dns-seed",
            "seed.example.org",
            "--dns-seed",
            "dnsseed.example.net",
            "--dns-server",
            "127.0.0.1:5353",
            "--dns-server",
            "[::1]:53",
        ]);
        let plan = cli.unwrap().plan().unwrap();
        assert_eq!(plan.dns_seeds.len(), 2);
        assert!(!plan.is_empty(), "seeds were given: no embedded demo");
        let cli = Cli::try_parse_from(["peer_dialer", "--dns-server", "127.0.0.1:5353", "--dns-server", "[::1]:53"]);
        assert_eq!(cli.unwrap().dns_server, ["127.0.0.1:5353".parse().unwrap(), "[::1]:53".parse().unwrap()]);
        assert!(Cli::try_parse_from(["peer_dialer", "--dns-server", "127.0.0.1"]).is_err(), "a port is needed");
        assert!(Cli::try_parse_from(["peer_dialer", "--dns-server", "dns.example:53"]).is_err(), "an IP address");
        assert!(Cli::try_parse_from(["peer_dialer", "--dns-seed", "bad..name"]).is_err());
        let around = Cli::try_parse_from(["peer_dialer", "--proxy", "127.0.0.1:9050", "--dns-seed", "s.example"]);
        assert!(around.unwrap().plan().is_err(), "no DNS around the proxy");
    }

    #[test]
    fn diversity_is_on_unless_turned_off_and_feelers_take_an_interval() {
        let cli = Cli::try_parse_from(["peer_dialer", "1.2.3.4"]).unwrap();
        assert!(!cli.no_diversity);
        assert_eq!(cli.feeler_interval, None);
        let cli = Cli::try_parse_from(["peer_dialer", "--no-diversity", "--feeler-interval", "30", "1.2.3.4"]).unwrap();
        assert!(cli.no_diversity);
        assert_eq!(cli.feeler_interval, Some(Duration::from_secs(30)));
        assert!(Cli::try_parse_from(["peer_dialer", "--feeler-interval", "0"]).is_err());
    }

    #[test]
    fn address_files_skip_comments_and_blank_lines() {
        assert_eq!(addr_file_lines("# seeds\n1.2.3.4\n\n  5.6.7.8:9  # second\n"), vec!["1.2.3.4", "5.6.7.8:9"]);
    }

    #[test]
    fn bad_arguments_are_refused() {
        assert!(Cli::try_parse_from(["peer_dialer", "--target", "x"]).is_err());
        assert!(Cli::try_parse_from(["peer_dialer", "--network", "moon"]).is_err());
        assert!(Cli::try_parse_from(["peer_dialer", "--max-inbound", "3"]).is_err(), "needs --listen");
        assert!(Cli::try_parse_from(["peer_dialer", "--duration", "0"]).is_err());
        let cli = Cli::try_parse_from(["peer_dialer", "--proxy", "127.0.0.1:9050", "--onion-proxy", "127.0.0.1:9051"]);
        let plan = cli.unwrap().plan().unwrap();
        assert_eq!(plan.proxy.map(|p| p.addr()), Some("127.0.0.1:9050".parse().unwrap()));
        assert!(plan.onion_proxy.is_some_and(|p| p.isolates_streams()), "Tor gets stream isolation");
        assert!(Cli::try_parse_from(["peer_dialer", "--proxy", "nowhere"]).unwrap().plan().is_err());
        let cli =
            Cli::try_parse_from(["peer_dialer", "--ban", "192.0.2.0/24", "--ban", "::1", "--whitelist", "10.0.0.0/8"]);
        let cli = cli.unwrap();
        assert_eq!(cli.ban, ["192.0.2.0/24".parse().unwrap(), "::1".parse().unwrap()]);
        assert_eq!(cli.whitelist, ["10.0.0.0/8".parse::<Subnet>().unwrap()]);
        assert!(Cli::try_parse_from(["peer_dialer", "--ban", "192.0.2.1/24"]).is_err(), "host bits set");
        assert!(Cli::try_parse_from(["peer_dialer", "--max-inbound-per-ip", "2"]).is_err(), "needs --listen");
        let cli = Cli::try_parse_from(["peer_dialer", "--permanent", "a", "--permanent", "b", "c"]).unwrap();
        assert_eq!((cli.permanent.len(), cli.addrs.len()), (2, 1));
    }
}
