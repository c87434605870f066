//! How the agent reaches the server: name resolution only when a new
//! connection is opened.
//!
//! ureq resolves the host before it looks in its connection pool, and its
//! default resolver runs every lookup on a new thread when a timeout is set.
//! So each call would spawn a thread and query DNS even on a warm keep-alive
//! connection. Here the agent's resolver defers (returns no address), and the
//! connector, which ureq runs only when the pool has no connection, resolves
//! before connecting, within the connect deadline.

use std::net::{IpAddr, SocketAddr};

use ureq::Error;
use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{
    ConnectProxyConnector, ConnectionDetails, Connector, NextTimeout, RustlsConnector,
    TcpConnector, Transport,
};

/// The agent's resolver: resolves nothing; see [`ResolveOnConnect`].
#[derive(Debug, Default)]
pub struct DeferredResolver;

impl Resolver for DeferredResolver {
    fn resolve(&self, _: &Uri, _: &Config, _: NextTimeout) -> Result<ResolvedSocketAddrs, Error> {
        Ok(self.empty())
    }
}

/// Resolves for real: IP literals at once, host names with ureq's resolver
/// (a lookup thread bounded by the timeout).
#[derive(Debug, Default)]
pub struct ConnectResolver {
    dns: DefaultResolver,
}

impl Resolver for ConnectResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, Error> {
        let host = uri.host().unwrap_or("");
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = literal.parse::<IpAddr>() {
            let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
                Some("https") => 443,
                _ => 80,
            });
            let mut addrs = self.empty();
            addrs.push(SocketAddr::new(ip, port));
            return Ok(addrs);
        }
        self.dns.resolve(uri, config, timeout)
    }
}

/// The outermost connector: fills in the addresses of a direct connection,
/// then runs the usual chain (CONNECT proxy, TCP, rustls).
#[derive(Debug)]
pub struct ResolveOnConnect<C> {
    inner: C,
    resolver: ConnectResolver,
}

/// The connector the client's agent uses.
pub fn connector() -> impl Connector<(), Out = impl Transport> {
    let chain =
        ().chain(ConnectProxyConnector::default())
            .chain(TcpConnector::default())
            .chain(RustlsConnector::default());
    ResolveOnConnect {
        inner: chain,
        resolver: ConnectResolver::default(),
    }
}

impl<C: Connector<()>> Connector<()> for ResolveOnConnect<C> {
    type Out = C::Out;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<()>,
    ) -> Result<Option<Self::Out>, Error> {
        // Through a CONNECT proxy, the proxy resolves the target; the proxy's
        // own address is resolved by ConnectProxyConnector with `resolver`.
        let direct = details
            .config
            .proxy()
            .is_none_or(|p| p.is_no_proxy(details.uri));
        let addrs = if direct && details.addrs.is_empty() {
            self.resolver
                .resolve(details.uri, details.config, details.timeout)?
        } else {
            details.addrs.clone()
        };
        let resolved = ConnectionDetails {
            uri: details.uri,
            addrs,
            config: details.config,
            request_level: details.request_level,
            resolver: &self.resolver,
            now: details.now,
            timeout: details.timeout,
            current_time: details.current_time.clone(),
            run_connector: details.run_connector.clone(),
            register_shutdown: details.register_shutdown.clone(),
        };
        self.inner.connect(&resolved, chained)
    }
}
