//! Which way a dial goes: the proxies a manager is configured with ([`Proxy`]), and the rule
//! that picks one for each target (Bitcoin Core's `-proxy` and `-onion`).
//!
//! - An onion address goes through the onion proxy, else the general proxy, else nowhere: it
//!   fails at once with [`NoRoute::Onion`].
//! - A host name goes through the general proxy, unresolved (no DNS leak); else, with the `dns`
//!   feature, direct, resolved on the reactor; else nowhere ([`NoRoute::Name`]).
//! - An IP address goes through the general proxy if there is one, else direct.
//! - A request's own proxy ([`ConnectOptions::via`](crate::ConnectOptions::via)) overrides both.
//!
//! With a proxy configured, nothing goes direct.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use super::Credentials;
use crate::target::Target;

/// A SOCKS5 proxy to dial through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proxy {
    addr: SocketAddr,
    auth: ProxyAuth,
}

/// How a manager authenticates to a proxy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ProxyAuth {
    None,
    Password(Credentials),
    /// Fresh random credentials per connection (Tor's stream isolation).
    Isolate,
}

impl Proxy {
    /// A plain SOCKS5 proxy, no authentication.
    pub fn socks5(addr: SocketAddr) -> Proxy {
        Proxy { addr, auth: ProxyAuth::None }
    }

    /// Tor's SOCKS port, with stream isolation: fresh random credentials for every connection,
    /// so Tor builds a separate circuit for each (Core's `-proxyrandomize`, on by default).
    pub fn tor(addr: SocketAddr) -> Proxy {
        Proxy { addr, auth: ProxyAuth::Isolate }
    }

    /// This proxy, authenticating with `credentials` (RFC 1929) on every connection.
    pub fn with_credentials(mut self, credentials: Credentials) -> Proxy {
        self.auth = ProxyAuth::Password(credentials);
        self
    }

    /// This proxy, with stream isolation (fresh random credentials per connection).
    pub fn with_stream_isolation(mut self) -> Proxy {
        self.auth = ProxyAuth::Isolate;
        self
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether each connection gets fresh random credentials.
    pub fn isolates_streams(&self) -> bool {
        self.auth == ProxyAuth::Isolate
    }

    pub(crate) fn auth(&self) -> &ProxyAuth {
        &self.auth
    }
}

impl fmt::Display for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "socks5://{}", self.addr)
    }
}

/// Why a target cannot be dialled with this configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NoRoute {
    /// An onion address, and no proxy to reach it (`onion_proxy` or `proxy`).
    Onion,
    /// A host name, and no proxy to resolve it (without the `dns` feature, which resolves it
    /// on the reactor).
    Name,
}

impl fmt::Display for NoRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NoRoute::Onion => "an onion address needs an onion-capable proxy (onion_proxy or proxy)",
            NoRoute::Name => "a host name needs a proxy to resolve it",
        })
    }
}

impl std::error::Error for NoRoute {}

/// The proxies of a manager, and the rule.
#[derive(Clone, Debug, Default)]
pub(crate) struct Routes {
    proxy: Option<Arc<Proxy>>,
    onion: Option<Arc<Proxy>>,
}

impl Routes {
    pub(crate) fn new(proxy: Option<&Proxy>, onion: Option<&Proxy>) -> Self {
        Routes { proxy: proxy.cloned().map(Arc::new), onion: onion.cloned().map(Arc::new) }
    }

    /// The proxy for `target` (`None`: direct), given the request's own proxy if it has one.
    pub(crate) fn route(&self, target: &Target, own: Option<&Arc<Proxy>>) -> Result<Option<Arc<Proxy>>, NoRoute> {
        if let Some(own) = own {
            return Ok(Some(Arc::clone(own)));
        }
        match target {
            Target::Onion(..) => self.onion.as_ref().or(self.proxy.as_ref()).cloned().map(Some).ok_or(NoRoute::Onion),
            Target::Name(..) => match &self.proxy {
                Some(proxy) => Ok(Some(Arc::clone(proxy))),
                None if cfg!(feature = "dns") => Ok(None),
                None => Err(NoRoute::Name),
            },
            _ => Ok(self.proxy.clone()),
        }
    }

    /// How `resolve` looks a name up: through the Tor proxy (`Some`), else, with the `dns`
    /// feature, with the reactor's own resolver (`None`).
    pub(crate) fn resolve_route(&self) -> Result<Option<Arc<Proxy>>, NoRoute> {
        match self.lookup_proxy() {
            Some(proxy) => Ok(Some(proxy)),
            None if cfg!(feature = "dns") => Ok(None),
            None => Err(NoRoute::Name),
        }
    }

    /// The proxy for Tor name lookups: the onion proxy, else the general one.
    pub(crate) fn lookup_proxy(&self) -> Option<Arc<Proxy>> {
        self.onion.as_ref().or(self.proxy.as_ref()).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Target {
        s.parse().unwrap()
    }

    const ONION: &str = "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion:8333";

    #[test]
    fn with_no_proxy_ip_targets_go_direct_and_names_only_with_the_resolver() {
        let routes = Routes::new(None, None);
        assert_eq!(routes.route(&t("1.2.3.4:8333"), None), Ok(None));
        assert_eq!(routes.route(&t(ONION), None), Err(NoRoute::Onion));
        if cfg!(feature = "dns") {
            assert_eq!(routes.route(&t("seed.example.org:8333"), None), Ok(None));
            assert_eq!(routes.resolve_route(), Ok(None));
        } else {
            assert_eq!(routes.route(&t("seed.example.org:8333"), None), Err(NoRoute::Name));
            assert_eq!(routes.resolve_route(), Err(NoRoute::Name));
        }
    }

    #[test]
    fn with_a_proxy_nothing_goes_direct() {
        let p = Proxy::socks5("127.0.0.1:9050".parse().unwrap());
        let routes = Routes::new(Some(&p), None);
        for target in ["1.2.3.4:8333", "[::1]:8333", "seed.example.org:8333", ONION] {
            assert_eq!(routes.route(&t(target), None).unwrap().as_deref(), Some(&p), "{target}");
        }
    }

    #[test]
    fn onions_prefer_the_onion_proxy_and_a_request_can_pick_its_own() {
        let general = Proxy::socks5("127.0.0.1:1080".parse().unwrap());
        let tor = Proxy::tor("127.0.0.1:9050".parse().unwrap());
        let routes = Routes::new(Some(&general), Some(&tor));
        assert_eq!(routes.route(&t(ONION), None).unwrap().as_deref(), Some(&tor));
        assert_eq!(routes.route(&t("1.2.3.4:1"), None).unwrap().as_deref(), Some(&general));
        assert_eq!(routes.lookup_proxy().as_deref(), Some(&tor));
        let only_onion = Routes::new(None, Some(&tor));
        assert_eq!(only_onion.route(&t("1.2.3.4:1"), None), Ok(None), "the onion proxy is for onions only");
        assert_eq!(only_onion.resolve_route().unwrap().as_deref(), Some(&tor), "lookups go through Tor");
        let own = Arc::new(general.clone());
        assert_eq!(only_onion.route(&t("seed.example.org:1"), Some(&own)).unwrap().as_deref(), Some(&general));
        assert!(tor.isolates_streams() && !general.isolates_streams());
    }
}
