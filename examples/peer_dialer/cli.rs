//! Command line: options (clap), networks, and turning address arguments into targets once, at
//! start-up, before the reactor runs. With a proxy, host names and onion addresses stay as
//! they are (the proxy resolves names: no DNS leak); without one, host names are resolved here,
//! with the blocking `ToSocketAddrs`, never on the reactor thread, and onion addresses are an
//! error.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use bitcoin::p2p::Magic;
use clap::error::ErrorKind;
use clap::{CommandFactory, Parser, ValueEnum};
use connmgr::{Proxy, Subnet, Target};

/// A Bitcoin P2P peer dialer on connmgr's single reactor thread.
///
/// With no address at all it starts a few local peers on 127.0.0.x (good and bad ones) and
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

    /// Seconds a TCP connect may take
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
/// `host` (the network's port), or `<56 chars>.onion[:port]`. A host name stays a name when a
/// proxy will resolve it; otherwise it is resolved now and may yield several addresses (DNS
/// seeds do). An onion address needs a proxy.
pub fn resolve(arg: &str, default_port: u16, routes: Routes) -> Result<Vec<Target>, String> {
    let arg = arg.trim();
    let target = Target::parse_with_default_port(arg, default_port).map_err(|e| format!("`{arg}`: {e}"))?;
    match &target {
        Target::Ip(_) => Ok(vec![target]),
        Target::Onion(..) if routes.onion || routes.proxy => Ok(vec![target]),
        Target::Onion(..) => Err(format!("`{arg}` is an onion address: give --onion-proxy or --proxy")),
        Target::Name(..) if routes.proxy => Ok(vec![target]),
        Target::Name(name, port) => {
            let addrs: Vec<Target> = (name.as_str(), *port)
                .to_socket_addrs()
                .map_err(|e| format!("cannot resolve `{name}`: {e}"))?
                .map(Target::Ip)
                .collect();
            if addrs.is_empty() {
                return Err(format!("`{name}` has no address"));
            }
            Ok(addrs)
        }
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

/// Every address the command line names, resolved.
#[derive(Debug, Default)]
pub struct Plan {
    /// Seeds of the address source.
    pub seeds: Vec<Target>,
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
        self.seeds.is_empty() && self.permanent.is_empty() && self.listen.is_none()
    }
}

impl Cli {
    /// Reads the address file and resolves every address, once.
    pub fn plan(&self) -> Result<Plan, String> {
        let port = self.network.port();
        let mut plan = Plan {
            proxy: self.proxy.as_deref().map(proxy_addr).transpose()?.map(Proxy::socks5),
            onion_proxy: self.onion_proxy.as_deref().map(proxy_addr).transpose()?.map(Proxy::tor),
            ..Plan::default()
        };
        let routes = Routes { proxy: plan.proxy.is_some(), onion: plan.onion_proxy.is_some() };
        for a in &self.addrs {
            plan.seeds.extend(resolve(a, port, routes)?);
        }
        if let Some(path) = &self.addr_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read address file {}: {e}", path.display()))?;
            for a in addr_file_lines(&text) {
                plan.seeds.extend(resolve(a, port, routes).map_err(|e| format!("{}: {e}", path.display()))?);
            }
        }
        for a in &self.permanent {
            plan.permanent.extend(resolve(a, port, routes)?);
        }
        if let Some(l) = &self.listen {
            let addr = resolve(l, port, Routes::default())?;
            plan.listen = addr.first().and_then(Target::ip);
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
        assert_eq!(resolve("127.0.0.2", 8333, direct).unwrap(), vec![t("127.0.0.2:8333")]);
        assert_eq!(resolve("127.0.0.2:18444", 8333, direct).unwrap(), vec![t("127.0.0.2:18444")]);
        assert_eq!(resolve("[::1]", 8333, direct).unwrap(), vec![t("[::1]:8333")]);
        assert_eq!(resolve("::1", 8333, direct).unwrap(), vec![t("[::1]:8333")]);
        assert_eq!(resolve("[::1]:9", 8333, direct).unwrap(), vec![t("[::1]:9")]);
        let local = resolve("localhost:8333", 1, direct).unwrap();
        assert!(local.iter().all(|a| a.ip().is_some_and(|ip| ip.ip().is_loopback())));
        assert!(resolve("127.0.0.1:x", 1, direct).is_err());
        assert!(resolve(":8333", 1, direct).is_err());
    }

    #[test]
    fn names_and_onions_go_unresolved_to_a_proxy_and_onions_need_one() {
        let proxied = Routes { proxy: true, onion: false };
        assert_eq!(resolve("seed.example.org", 8333, proxied).unwrap(), vec![t("seed.example.org:8333")]);
        assert_eq!(resolve(ONION, 8333, proxied).unwrap(), vec![t(&format!("{ONION}:8333"))]);
        let onion_only = Routes { proxy: false, onion: true };
        assert_eq!(resolve(ONION, 9, onion_only).unwrap(), vec![t(&format!("{ONION}:9"))]);
        assert!(resolve(ONION, 8333, Routes::default()).unwrap_err().contains("--onion-proxy"));
        assert!(resolve("bad..name", 8333, proxied).is_err());
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
