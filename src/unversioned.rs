//! Everything the library takes from ureq's semver-exempt `unversioned` API,
//! in one place (ureq is required as `~3.5` for it; see Cargo.toml).
//!
//! - [`agent`]: an `Agent` built with ureq's own default connector chain
//!   (CONNECT proxy, TCP, rustls) and [`HostCache`] as its resolver. No
//!   connector or transport of our own.
//! - [`HostCache`]: ureq resolves the host of every request *before* it looks
//!   in its connection pool, and its default resolver spawns a thread per
//!   lookup whenever a timeout is set: every warm call would spawn a thread and
//!   ask DNS. This resolver answers IP literals at once and remembers the
//!   addresses of a host name for [`HOST_CACHE_TTL`] (curl's DNS cache time),
//!   so a warm call neither resolves nor spawns; a lookup (ureq's, on a thread,
//!   bounded by the call's deadline) happens at most once a minute per host,
//!   and one that fails keeps the addresses the host last had.
//! - [`crypto_provider`]: ring for rustls, given explicitly so that a Rust host
//!   process's process-wide rustls default does not change ours.

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ureq::config::Config;
use ureq::http::Uri;
use ureq::tls::TlsConfigBuilder;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};
use ureq::{Agent, Error};

/// How long the addresses of a host name are used before it is looked up
/// again (curl's `CURLOPT_DNS_CACHE_TIMEOUT` default).
pub const HOST_CACHE_TTL: Duration = Duration::from_secs(60);

/// Hosts a client keeps addresses for: its server and, at most, its proxy.
const MAX_HOSTS: usize = 4;

/// An agent with ureq's default connectors and `hosts` as its resolver.
pub fn agent(config: Config, hosts: Arc<HostCache>) -> Agent {
    Agent::with_parts(config, DefaultConnector::new(), SharedHosts(hosts))
}

/// Sets ring as the crypto provider of a TLS configuration.
pub fn crypto_provider(tls: TlsConfigBuilder) -> TlsConfigBuilder {
    tls.unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
}

/// A host that could not be resolved: carried inside ureq's `Error::Io`, so
/// that the message can name the host (ureq's own says only "failed to
/// lookup address information").
#[derive(Debug)]
pub struct ResolveFailed {
    /// `host:port`.
    pub host: String,
    /// The resolver's reason, e.g. "Name or service not known".
    pub reason: String,
}

impl fmt::Display for ResolveFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "could not resolve host {} ({})", self.host, self.reason)
    }
}

impl std::error::Error for ResolveFailed {}

struct Entry {
    /// `host:port`.
    key: String,
    addrs: ResolvedSocketAddrs,
    resolved: Instant,
}

/// The addresses of the few hosts one client talks to, each kept for
/// [`HOST_CACHE_TTL`].
#[derive(Default)]
pub struct HostCache {
    entries: Mutex<Vec<Entry>>,
}

impl fmt::Debug for HostCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostCache").finish_non_exhaustive()
    }
}

impl HostCache {
    /// The addresses last resolved for `key` (`host:port`), fresh or not:
    /// for messages that name what a failed connection tried.
    pub fn addresses(&self, key: &str) -> Vec<SocketAddr> {
        self.last(key)
            .map(|(addrs, _)| addrs.to_vec())
            .unwrap_or_default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Entry>> {
        // Entries are replaced whole: a poisoned lock holds consistent data.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The addresses last resolved for `key`, and when.
    fn last(&self, key: &str) -> Option<(ResolvedSocketAddrs, Instant)> {
        self.lock()
            .iter()
            .find(|e| e.key == key)
            .map(|e| (e.addrs.clone(), e.resolved))
    }

    /// The addresses of `key` if they are younger than the TTL.
    fn fresh(&self, key: &str, now: Instant) -> Option<ResolvedSocketAddrs> {
        self.last(key)
            .filter(|(_, resolved)| now.duration_since(*resolved) < HOST_CACHE_TTL)
            .map(|(addrs, _)| addrs)
    }

    fn store(&self, key: String, addrs: ResolvedSocketAddrs, resolved: Instant) {
        let mut entries = self.lock();
        entries.retain(|e| e.key != key);
        if entries.len() >= MAX_HOSTS {
            entries.remove(0);
        }
        entries.push(Entry {
            key,
            addrs,
            resolved,
        });
    }
}

/// The agent's resolver (the agent takes it by value; the client keeps the
/// cache too, for its messages).
#[derive(Debug)]
struct SharedHosts(Arc<HostCache>);

impl Resolver for SharedHosts {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, Error> {
        let (Some(scheme), Some(authority)) = (uri.scheme(), uri.authority()) else {
            return Err(Error::BadUri(uri.to_string()));
        };
        let key = DefaultResolver::host_and_port(scheme, authority)
            .ok_or_else(|| Error::BadUri(uri.to_string()))?;
        // An IP literal ("127.0.0.1:80", "[::1]:443"): nothing to look up.
        if let Ok(addr) = key.parse::<SocketAddr>() {
            let mut addrs = self.empty();
            addrs.push(addr);
            return Ok(addrs);
        }
        let now = Instant::now();
        if let Some(addrs) = self.0.fresh(&key, now) {
            return Ok(addrs);
        }
        match DefaultResolver::default().resolve(uri, config, timeout) {
            Ok(addrs) => {
                self.0.store(key, addrs.clone(), now);
                Ok(addrs)
            }
            // A failed lookup (a DNS hiccup) keeps the addresses it last had,
            // for another TTL: a warm call's pooled connection does not need
            // a lookup at all, and ureq asks before it looks in its pool.
            Err(e) => match self.0.last(&key) {
                Some((addrs, _)) => {
                    self.0.store(key, addrs.clone(), now);
                    Ok(addrs)
                }
                None => Err(named(e, &key)),
            },
        }
    }
}

/// ureq's lookup failure, with the host named.
fn named(e: Error, host: &str) -> Error {
    let reason = match e {
        Error::HostNotFound => "no address".to_owned(),
        Error::Io(io) => {
            let text = io.to_string();
            text.strip_prefix("failed to lookup address information: ")
                .unwrap_or(&text)
                .to_owned()
        }
        other => return other,
    };
    Error::Io(std::io::Error::other(ResolveFailed {
        host: host.to_owned(),
        reason,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ureq::unversioned::transport::time;

    fn timeout() -> NextTimeout {
        NextTimeout {
            after: time::Duration::Exact(Duration::from_secs(5)),
            reason: ureq::Timeout::Resolve,
            ..NextTimeout::default()
        }
    }

    fn resolve(hosts: &Arc<HostCache>, url: &str) -> Result<Vec<SocketAddr>, Error> {
        SharedHosts(hosts.clone())
            .resolve(&url.parse().unwrap(), &Config::default(), timeout())
            .map(|a| a.iter().copied().collect())
    }

    #[test]
    fn ip_literals_are_answered_without_a_lookup() {
        let hosts = Arc::new(HostCache::default());
        assert_eq!(
            resolve(&hosts, "http://127.0.0.1:8080").unwrap(),
            ["127.0.0.1:8080".parse().unwrap()]
        );
        assert_eq!(
            resolve(&hosts, "https://[::1]").unwrap(),
            ["[::1]:443".parse().unwrap()]
        );
        assert!(hosts.lock().is_empty(), "literals are not cached");
    }

    #[test]
    fn names_are_resolved_once_then_remembered() {
        let hosts = Arc::new(HostCache::default());
        let first = resolve(&hosts, "http://localhost:9").unwrap();
        assert!(first.iter().all(|a| a.ip().is_loopback() && a.port() == 9));
        assert_eq!(hosts.addresses("localhost:9"), first);
        // A remembered entry is answered from the cache: poison it to tell.
        let fake: SocketAddr = "192.0.2.1:9".parse().unwrap();
        {
            let mut entries = hosts.lock();
            entries[0].addrs.truncate(0);
            entries[0].addrs.push(fake);
        }
        assert_eq!(resolve(&hosts, "http://localhost:9").unwrap(), [fake]);
        // ... until it is older than the TTL.
        hosts.lock()[0].resolved -= HOST_CACHE_TTL;
        assert_eq!(resolve(&hosts, "http://localhost:9").unwrap(), first);
    }

    #[test]
    fn a_failed_lookup_names_the_host() {
        let hosts = Arc::new(HostCache::default());
        let Err(Error::Io(io)) = resolve(&hosts, "http://no-such-host.invalid:81") else {
            panic!("an .invalid name resolved");
        };
        let failed = io.get_ref().unwrap().downcast_ref::<ResolveFailed>();
        let failed = failed.expect("a ResolveFailed");
        assert_eq!(failed.host, "no-such-host.invalid:81");
        assert!(!failed.reason.is_empty());
        assert!(
            failed
                .to_string()
                .starts_with("could not resolve host no-such-host.invalid:81 ("),
            "{failed}"
        );
    }

    #[test]
    fn a_failed_lookup_keeps_the_addresses_it_last_had() {
        let hosts = Arc::new(HostCache::default());
        let known: SocketAddr = "192.0.2.7:81".parse().unwrap();
        let mut addrs = ResolvedSocketAddrs::from_fn(|_| known);
        addrs.push(known);
        hosts.store(
            "no-such-host.invalid:81".into(),
            addrs,
            Instant::now() - HOST_CACHE_TTL,
        );
        assert_eq!(
            resolve(&hosts, "http://no-such-host.invalid:81").unwrap(),
            [known]
        );
        // ... and counts as fresh again, so the next call does not ask.
        assert!(
            hosts
                .fresh("no-such-host.invalid:81", Instant::now())
                .is_some()
        );
    }

    #[test]
    fn at_most_a_few_hosts_are_kept() {
        let cache = HostCache::default();
        for i in 0..10 {
            cache.store(
                format!("h{i}:80"),
                ResolvedSocketAddrs::from_fn(|_| "0.0.0.0:0".parse().unwrap()),
                Instant::now(),
            );
        }
        assert_eq!(cache.lock().len(), MAX_HOSTS);
        assert!(cache.lock().iter().any(|e| e.key == "h9:80"));
    }
}
