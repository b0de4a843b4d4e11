//! Command line of the churn benchmark, parsed with `lexopt`.
//!
//! Why not clap, as the peer dialer uses: this binary measures its own RSS, and clap's parser
//! touches about 0.5 MiB of code and heap before the first connection, which would be charged
//! to the manager in HW1's "RSS after" and RW1's peak. lexopt is a few hundred lines and touches
//! almost nothing.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::load::LoadArgs;
use crate::sink::{SinkArgs, SinkMode};

/// What to run.
#[derive(Debug)]
pub enum Workload {
    Cw1 { k: u32, common: Common },
    Hw1 { n: u32, common: Common },
    Rw1 { n: u32, common: Common },
    Iw1 { k: u32, rules: Rules, common: Common },
    Sink(SinkArgs),
    Load(LoadArgs),
}

/// Which client does the work: connmgr, or the raw mio loop of `raw.rs` (the ceiling).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Impl {
    #[default]
    Connmgr,
    Raw,
}

impl Impl {
    /// The JSON value of `impl`.
    pub fn name(self) -> &'static str {
        match self {
            Impl::Connmgr => "connmgr",
            Impl::Raw => "raw",
        }
    }
}

/// IW1's admission rules: `off` (max_inbound unlimited) or `on` (every rule, none binding).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Rules {
    #[default]
    Off,
    On,
}

impl Rules {
    /// The JSON value of `rules`.
    pub fn name(self) -> &'static str {
        match self {
            Rules::Off => "off",
            Rules::On => "on",
        }
    }
}

/// `--proxy` (cw1): dial through a SOCKS5 proxy already running, or through a microsocks child
/// started for the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyArg {
    /// `--proxy IP:PORT`.
    At(SocketAddr),
    /// `--proxy spawn`: `microsocks` on a free port of 127.0.0.1, killed at the end.
    Spawn,
}

/// Options every workload takes.
#[derive(Debug, Clone)]
pub struct Common {
    pub imp: Impl,
    pub port: Option<u16>,
    pub addrs: u8,
    pub warm: f64,
    pub secs: f64,
    pub retry_ms: u64,
    pub csv: Option<PathBuf>,
    pub svg: Option<PathBuf>,
    pub ceiling: Option<f64>,
    pub quiet: bool,
    /// cw1 only.
    pub proxy: Option<ProxyArg>,
    /// Reactors (connmgr): 1 is the plain `Manager`; more is a `ShardedManager` (feature
    /// `shards`).
    pub shards: usize,
}

impl Default for Common {
    fn default() -> Self {
        Common {
            imp: Impl::Connmgr,
            port: None,
            addrs: 8,
            warm: 1.0,
            secs: 10.0,
            retry_ms: 100,
            csv: None,
            svg: None,
            ceiling: None,
            quiet: false,
            proxy: None,
            shards: 1,
        }
    }
}

pub const USAGE: &str = "\
usage: churn <cw1|hw1|rw1|iw1> [OPTIONS]    (or: churn sink|load [CHILD OPTIONS])

  cw1 --k K          outbound churn: K automatic attempts in flight (default 64)
  hw1 --n N          idle hold: establish N connections, then idle (default 5000)
  rw1 --n N          retry storm: N permanent requests to a closed port (default 2000)
  iw1 --k K          inbound churn: accept K in flight from a load client child (default 64)

options:
  --impl I           connmgr (default), or raw: the same socket work in a bare mio loop
  --port P           use a sink already running on port P (rw1: the closed port to dial;
                     iw1: the port to listen on); without it a sink child process is started
  --addrs A          sink addresses (iw1: the client's source addresses) 127.0.0.1 ..= 127.0.0.A
                     (default 8)
  --warm S           warm-up seconds before measuring, cw1 and iw1 (default 1)
  --secs S           seconds measured (cw1, iw1), idle (hw1) or run (rw1) (default 10)
  --rules off|on     iw1, connmgr: admission rules off (default) or all on, none binding
  --proxy P          cw1: dial every connection through the SOCKS5 proxy at P (IP:PORT), or
                     P = spawn: start microsocks on a free port of 127.0.0.1 for the run
  --shards N         connmgr: N reactors on N threads (a ShardedManager; needs the 'shards'
                     feature); 1 (default) is the single-reactor Manager
  --retry-ms MS      retry_duration in ms (default 100)
  --csv FILE         write the per-second series as CSV
  --svg FILE         write a chart of the series as SVG
  --ceiling X        draw a reference rate (the raw loop's, say) on the cw1 / iw1 chart
  -q, --quiet        no progress lines

sink options: --mode close|hold  --port P (0: any)  --addrs A  --secs S  --backlog B
load options: --port P (127.0.0.1:P to dial)  --k K  --addrs A (sources)  --secs S";

/// Parses the process's arguments; on a bad one prints one error line and the usage line and
/// exits with status 2; `help` / `--help` prints the usage and exits.
pub fn parse() -> Workload {
    match parse_from(std::env::args_os().skip(1)) {
        Ok(Some(w)) => w,
        Ok(None) => {
            println!("{USAGE}");
            std::process::exit(0);
        }
        Err(e) => {
            eprintln!("churn: error: {e}");
            eprintln!("{}", USAGE.lines().next().unwrap_or_default());
            std::process::exit(2);
        }
    }
}

/// The parser proper; `Ok(None)` means help was asked for.
pub fn parse_from(args: impl IntoIterator<Item = OsString>) -> Result<Option<Workload>, String> {
    use lexopt::prelude::*;
    let mut p = lexopt::Parser::from_args(args);
    let mode = match p.next().map_err(|e| e.to_string())? {
        Some(Value(v)) => v.string().map_err(|e| e.to_string())?,
        Some(Long("help") | Short('h')) | None => return Ok(None),
        Some(other) => return Err(other.unexpected().to_string()),
    };
    if mode == "help" {
        return Ok(None);
    }
    if mode == "sink" {
        return parse_sink(&mut p).map(|s| Some(Workload::Sink(s)));
    }
    if mode == "load" {
        return parse_load(&mut p).map(|l| Some(Workload::Load(l)));
    }
    let (mut count, count_name, range) = match mode.as_str() {
        "cw1" => (64, "k", 1..=100_000),
        "hw1" => (5000, "n", 1..=60_000),
        "rw1" => (2000, "n", 1..=60_000),
        "iw1" => (64, "k", 1..=10_000),
        other => return Err(format!("unknown workload '{other}' (expected cw1, hw1, rw1, iw1, sink or load)")),
    };
    let mut c = Common::default();
    let mut rules = None;
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        match arg {
            Long(name) if name == count_name => count = number(&mut p, count_name, range.clone())?,
            Long("impl") => {
                c.imp = match string(&mut p)?.as_str() {
                    "connmgr" => Impl::Connmgr,
                    "raw" => Impl::Raw,
                    other => return Err(format!("invalid value '{other}' for '--impl' (expected connmgr or raw)")),
                }
            }
            Long("rules") if mode == "iw1" => {
                rules = Some(match string(&mut p)?.as_str() {
                    "off" => Rules::Off,
                    "on" => Rules::On,
                    other => return Err(format!("invalid value '{other}' for '--rules' (expected off or on)")),
                })
            }
            Long("proxy") if mode == "cw1" => c.proxy = Some(proxy(&string(&mut p)?)?),
            Long("proxy") => return Err(format!("'--proxy' is for cw1 only, not {mode}")),
            Long("port") => c.port = Some(number(&mut p, "port", 1..=65_535)? as u16),
            Long("addrs") => c.addrs = number(&mut p, "addrs", 1..=254)? as u8,
            Long("warm") => c.warm = seconds(&mut p, "warm", true)?,
            Long("secs") => c.secs = seconds(&mut p, "secs", false)?,
            Long("retry-ms") => c.retry_ms = u64::from(number(&mut p, "retry-ms", 1..=300_000)?),
            Long("csv") => c.csv = Some(p.value().map_err(|e| e.to_string())?.into()),
            Long("svg") => c.svg = Some(p.value().map_err(|e| e.to_string())?.into()),
            Long("ceiling") => c.ceiling = Some(float(&mut p, "ceiling")?),
            Long("quiet") | Short('q') => c.quiet = true,
            Long("shards") => c.shards = number(&mut p, "shards", 1..=64)? as usize,
            Long("help") | Short('h') => return Ok(None),
            other => return Err(other.unexpected().to_string()),
        }
    }
    let rules = rules.unwrap_or_default();
    if c.shards > 1 && !matches!(mode.as_str(), "cw1" | "hw1") {
        return Err(format!("'--shards' above 1 is for cw1 and hw1, not {mode}"));
    }
    if c.shards > 1 && c.imp == Impl::Raw {
        return Err("'--shards' is for '--impl connmgr': the raw loop is one thread".into());
    }
    if c.shards > 1 && !cfg!(feature = "shards") {
        return Err("'--shards' above 1 needs the 'shards' feature (cargo build --features shards ...)".into());
    }
    if rules == Rules::On && c.imp == Impl::Raw {
        return Err("'--rules on' needs '--impl connmgr': the raw loop has no admission rules".into());
    }
    Ok(Some(match mode.as_str() {
        "cw1" => Workload::Cw1 { k: count, common: c },
        "hw1" => Workload::Hw1 { n: count, common: c },
        "iw1" => Workload::Iw1 { k: count, rules, common: c },
        _ => Workload::Rw1 { n: count, common: c },
    }))
}

/// `--proxy`'s value: `spawn`, or an IP address and a port.
fn proxy(text: &str) -> Result<ProxyArg, String> {
    if text == "spawn" {
        return Ok(ProxyArg::Spawn);
    }
    match text.parse::<SocketAddr>() {
        Ok(addr) if addr.port() != 0 => Ok(ProxyArg::At(addr)),
        _ => Err(format!("invalid value '{text}' for '--proxy' (expected IP:PORT, such as 127.0.0.1:1080, or spawn)")),
    }
}

fn parse_load(p: &mut lexopt::Parser) -> Result<LoadArgs, String> {
    use lexopt::prelude::*;
    let mut l = LoadArgs::default();
    let mut port = None;
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        match arg {
            Long("port") => port = Some(number(p, "port", 1..=65_535)? as u16),
            Long("k") => l.k = number(p, "k", 1..=10_000)?,
            Long("addrs") => l.addrs = number(p, "addrs", 1..=254)? as u8,
            Long("secs") => l.secs = seconds(p, "secs", false)?,
            other => return Err(other.unexpected().to_string()),
        }
    }
    l.port = port.ok_or("load: '--port' is required (the listener to dial)")?;
    Ok(l)
}

fn string(p: &mut lexopt::Parser) -> Result<String, String> {
    use lexopt::ValueExt;
    p.value().map_err(|e| e.to_string())?.string().map_err(|e| e.to_string())
}

fn parse_sink(p: &mut lexopt::Parser) -> Result<SinkArgs, String> {
    use lexopt::prelude::*;
    let mut s = SinkArgs::default();
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        match arg {
            Long("mode") => {
                s.mode = match p.value().map_err(|e| e.to_string())?.string().map_err(|e| e.to_string())?.as_str() {
                    "close" => SinkMode::Close,
                    "hold" => SinkMode::Hold,
                    other => return Err(format!("invalid value '{other}' for '--mode' (expected close or hold)")),
                }
            }
            Long("port") => s.port = number(p, "port", 0..=65_535)? as u16,
            Long("addrs") => s.addrs = number(p, "addrs", 1..=254)? as u8,
            Long("secs") => s.secs = seconds(p, "secs", false)?,
            Long("backlog") => s.backlog = number(p, "backlog", 1..=65_535)? as i32,
            other => return Err(other.unexpected().to_string()),
        }
    }
    Ok(s)
}

fn number(p: &mut lexopt::Parser, name: &str, range: std::ops::RangeInclusive<u32>) -> Result<u32, String> {
    let raw = p.value().map_err(|e| e.to_string())?;
    let text = raw.to_string_lossy();
    let v: u32 = text.parse().map_err(|_| format!("invalid value '{text}' for '--{name}': not a whole number"))?;
    if range.contains(&v) {
        Ok(v)
    } else {
        Err(format!("invalid value '{v}' for '--{name}': must be in {}..={}", range.start(), range.end()))
    }
}

fn float(p: &mut lexopt::Parser, name: &str) -> Result<f64, String> {
    let raw = p.value().map_err(|e| e.to_string())?;
    let text = raw.to_string_lossy();
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("invalid value '{text}' for '--{name}': must be a positive number")),
    }
}

/// Seconds: finite, at most an hour (every run is bounded); > 0 unless `zero_ok`.
fn seconds(p: &mut lexopt::Parser, name: &str, zero_ok: bool) -> Result<f64, String> {
    let raw = p.value().map_err(|e| e.to_string())?;
    let text = raw.to_string_lossy();
    let v: f64 = text.parse().map_err(|_| format!("invalid value '{text}' for '--{name}': not a number"))?;
    let low_ok = if zero_ok { v >= 0.0 } else { v > 0.0 };
    if v.is_finite() && low_ok && v <= 3600.0 {
        Ok(v)
    } else {
        let low = if zero_ok { "[0" } else { "(0" };
        Err(format!("invalid value '{text}' for '--{name}': must be seconds in {low}, 3600]"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Option<Workload>, String> {
        parse_from(s.split_whitespace().map(OsString::from))
    }

    #[test]
    fn shards_are_for_connmgr_cw1_and_hw1() {
        match parse("cw1").unwrap().unwrap() {
            Workload::Cw1 { common, .. } => assert_eq!(common.shards, 1, "one reactor by default"),
            other => panic!("{other:?}"),
        }
        assert!(parse("cw1 --shards 0").is_err());
        assert!(parse("cw1 --shards 65").is_err());
        assert!(parse("cw1 --shards 2 --impl raw").unwrap_err().contains("raw"));
        assert!(parse("iw1 --shards 2").unwrap_err().contains("cw1 and hw1"));
        // Above 1 it needs the feature; 1 is the plain Manager either way.
        assert_eq!(parse("hw1 --shards 2").is_ok(), cfg!(feature = "shards"));
        assert!(parse("rw1 --shards 1").is_ok());
    }

    #[test]
    fn workloads_and_defaults() {
        match parse("cw1 --k 8 --port 19100 --secs 2").unwrap().unwrap() {
            Workload::Cw1 { k, common } => {
                assert_eq!((k, common.port, common.secs, common.addrs, common.warm), (8, Some(19100), 2.0, 8, 1.0))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse("hw1").unwrap().unwrap(), Workload::Hw1 { n: 5000, .. }));
        assert!(
            matches!(parse("rw1 --n 20 --retry-ms 5").unwrap().unwrap(), Workload::Rw1 { n: 20, common } if common.retry_ms == 5)
        );
        assert!(
            matches!(parse("sink --mode hold --port 0").unwrap().unwrap(), Workload::Sink(s) if s.mode == SinkMode::Hold)
        );
        assert!(parse("--help").unwrap().is_none());
    }

    #[test]
    fn impl_selects_the_client_for_every_workload() {
        let imp = |args: &str| match parse(args).unwrap().unwrap() {
            Workload::Cw1 { common, .. }
            | Workload::Hw1 { common, .. }
            | Workload::Rw1 { common, .. }
            | Workload::Iw1 { common, .. } => common.imp,
            other => panic!("{other:?}"),
        };
        for wl in ["cw1", "hw1", "rw1", "iw1"] {
            assert_eq!(imp(wl), Impl::Connmgr, "{wl}: the default");
            assert_eq!(imp(&format!("{wl} --impl raw")), Impl::Raw, "{wl}");
            assert_eq!(imp(&format!("{wl} --impl connmgr")), Impl::Connmgr, "{wl}");
        }
        assert_eq!(Impl::Raw.name(), "raw");
        assert_eq!(Impl::Connmgr.name(), "connmgr");
    }

    #[test]
    fn iw1_takes_k_and_rules() {
        match parse("iw1").unwrap().unwrap() {
            Workload::Iw1 { k, rules, common } => {
                assert_eq!((k, rules, common.addrs, common.warm, common.secs), (64, Rules::Off, 8, 1.0, 10.0))
            }
            other => panic!("{other:?}"),
        }
        match parse("iw1 --k 8 --rules on --addrs 4 --secs 3").unwrap().unwrap() {
            Workload::Iw1 { k, rules, common } => {
                assert_eq!((k, rules, common.addrs, common.secs, common.imp), (8, Rules::On, 4, 3.0, Impl::Connmgr))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse("iw1 --impl raw --rules off").unwrap().unwrap(),
            Workload::Iw1 { rules: Rules::Off, .. }
        ));
        assert_eq!((Rules::Off.name(), Rules::On.name()), ("off", "on"));
    }

    #[test]
    fn cw1_takes_a_proxy_address_or_spawn() {
        let proxy = |args: &str| match parse(args).unwrap().unwrap() {
            Workload::Cw1 { common, .. } => common.proxy,
            other => panic!("{other:?}"),
        };
        assert_eq!(proxy("cw1"), None, "direct by default");
        assert_eq!(proxy("cw1 --proxy 127.0.0.1:1080"), Some(ProxyArg::At(SocketAddr::from(([127, 0, 0, 1], 1080)))));
        assert_eq!(proxy("cw1 --proxy [::1]:9050 --impl raw"), Some(ProxyArg::At("[::1]:9050".parse().unwrap())));
        assert_eq!(proxy("cw1 --k 8 --proxy spawn"), Some(ProxyArg::Spawn));
        match parse("cw1 --proxy spawn --impl raw --k 64").unwrap().unwrap() {
            Workload::Cw1 { k, common } => {
                assert_eq!((k, common.imp, common.proxy), (64, Impl::Raw, Some(ProxyArg::Spawn)))
            }
            other => panic!("{other:?}"),
        }
        for wl in ["hw1", "rw1", "iw1"] {
            let e = parse(&format!("{wl} --proxy spawn")).unwrap_err();
            assert!(e.contains("cw1 only"), "{wl}: {e}");
        }
        for bad in ["localhost:1080", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", "Spawn", ""] {
            let e = proxy_err(bad);
            assert!(e.contains("--proxy") && e.contains(bad), "{bad:?}: {e}");
        }
    }

    fn proxy_err(value: &str) -> String {
        let args = ["cw1", "--proxy", value].map(OsString::from);
        parse_from(args).unwrap_err()
    }

    #[test]
    fn load_child_options() {
        match parse("load --port 19100 --k 16 --addrs 2 --secs 5").unwrap().unwrap() {
            Workload::Load(l) => assert_eq!((l.port, l.k, l.addrs, l.secs), (19100, 16, 2, 5.0)),
            other => panic!("{other:?}"),
        }
        match parse("load --port 1").unwrap().unwrap() {
            Workload::Load(l) => assert_eq!((l.port, l.k, l.addrs), (1, 64, 8)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_arguments_are_one_line_errors() {
        for bad in [
            "cw2",
            "cw1 --k 0",
            "cw1 --k x",
            "hw1 --k 5",
            "cw1 --secs -1",
            "cw1 --secs",
            "sink --mode loud",
            "rw1 --port 70000",
            "cw1 --impl fast",
            "cw1 --impl",
            "cw1 --proxy",
            "cw1 --proxy 1080",
            "hw1 --proxy 127.0.0.1:1080",
            "cw1 --rules off",
            "iw1 --rules maybe",
            "iw1 --impl raw --rules on",
            "iw1 --rules on --impl raw",
            "iw1 --n 5",
            "iw1 --k 0",
            "load --k 8",
            "load --port 0",
            "load --port 19100 --addrs 0",
        ] {
            let e = parse(bad).unwrap_err();
            assert!(!e.contains('\n') && !e.is_empty(), "{bad}: {e}");
        }
    }
}
