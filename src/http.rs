//! HTTP through ureq's public API: a client's [`Settings`] (configured once
//! from a [`Config`]), the agent built from them ([`Http`]: one per process,
//! each with its own pool; the client keeps them apart), one request and its
//! whole response (at most [`MAX_BODY_LEN`] bytes), and ureq's errors mapped
//! to ours with messages that name what failed, as curl's do.
//!
//! ureq does the protocol: HTTP/1.1, the keep-alive pool, the CONNECT proxy,
//! TLS (rustls with the Mozilla roots, or only the caller's CA file).

use std::sync::Arc;
use std::time::{Duration, Instant};

use ureq::http::response::Parts;
use ureq::tls::{RootCerts, TlsConfig};
use ureq::{Agent, Timeout};

use crate::api::{MAX_BODY_LEN, Reply};
use crate::config::Config;
use crate::error::{Error, FEISHU_MESSAGE_SIZE, Kind, Retry};
use crate::unversioned::{self, HostCache, ResolveFailed};

/// `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("libfeishu_task/", env!("CARGO_PKG_VERSION"));

/// Each connection's input and output buffers (ureq's default is 128 KiB
/// each). The largest request is ~7.5 KiB (a 4 KiB token, a 1 KiB task id
/// percent-encoded); the largest response head accepted is as large.
const BUFFER_SIZE: usize = 16 * 1024;

/// How close to the deadline a connect timeout counts as the deadline's.
const CONNECT_SLACK: Duration = Duration::from_millis(10);

/// Idle connections kept, and for how long.
const MAX_IDLE: usize = 64;
const MAX_IDLE_AGE: Duration = Duration::from_secs(15);

/// When a call must end, and its whole length (for messages).
#[derive(Clone, Copy, Debug)]
pub struct Deadline {
    pub at: Instant,
    pub whole: Duration,
}

impl Deadline {
    /// The error of a call that ran out of time.
    pub fn passed(&self) -> Error {
        Error::new(
            Kind::Timeout,
            format!(
                "no complete response within the {} ms deadline",
                self.whole.as_millis()
            ),
        )
    }
}

/// A whole response: its head and its body.
pub struct Response {
    parts: Parts,
    body: Vec<u8>,
}

impl Response {
    /// What the classification reads.
    pub fn reply(&self) -> Reply<'_> {
        let header = |name: &str| self.parts.headers.get(name).and_then(|v| v.to_str().ok());
        Reply {
            status: self.parts.status.as_u16(),
            log_id: header("x-tt-logid"),
            ratelimit_reset: header("x-ogw-ratelimit-reset"),
            content_type: header("content-type"),
            location: header("location"),
            body: &self.body,
        }
    }
}

/// How a client's agents are built, and what its messages name.
pub struct Settings {
    agent_config: ureq::config::Config,
    /// `host:port` of the server, for messages and address look-ups.
    server: String,
    /// The host name TLS verifies.
    host: String,
    /// `http://host:port` of the proxy that requests go through, if any.
    proxy: Option<String>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("server", &self.server)
            .field("proxy", &self.proxy)
            .finish_non_exhaustive()
    }
}

/// The HTTP side of one client in one process: an agent (its connection
/// pool) and the addresses it resolved. A forked child never uses its
/// parent's: pooled connections (TLS sessions above all) would be the
/// parent's too, and a record written or read by both corrupts them for
/// both. The parent's is left untouched (ureq neither writes to nor shuts
/// down a connection it drops).
pub struct Http {
    settings: Arc<Settings>,
    agent: Agent,
    hosts: Arc<HostCache>,
}

impl Settings {
    pub fn new(config: &Config) -> Result<Settings, Error> {
        let roots = if config.ca_roots.is_empty() {
            RootCerts::WebPki
        } else {
            // The caller's CA file replaces the bundled roots, as curl's
            // CURLOPT_CAINFO does. Verification itself can not be turned off.
            RootCerts::new_with_certs(&config.ca_roots)
        };
        let tls = unversioned::crypto_provider(TlsConfig::builder().root_certs(roots)).build();
        let agent_config = Agent::config_builder()
            // 4xx/5xx are responses to classify, not errors.
            .http_status_as_error(false)
            // Never follow a redirect: the token would go to another URL.
            .max_redirects(0)
            .max_redirects_will_error(false)
            .save_redirect_history(false)
            .user_agent(USER_AGENT)
            .accept("application/json")
            .timeout_global(Some(config.timeout))
            .timeout_connect(Some(config.connect_timeout.min(config.timeout)))
            .proxy(config.proxy.as_ref().map(|p| p.proxy.clone()))
            .input_buffer_size(BUFFER_SIZE)
            .output_buffer_size(BUFFER_SIZE)
            .max_response_header_size(BUFFER_SIZE)
            .max_idle_connections(MAX_IDLE)
            .max_idle_connections_per_host(MAX_IDLE)
            .max_idle_age(MAX_IDLE_AGE)
            .tls_config(tls)
            .build();
        let uri: ureq::http::Uri = config
            .base_url
            .parse()
            .map_err(|_| Error::invalid("the base URL could not be parsed"))?;
        let proxy = config
            .proxy
            .as_ref()
            .filter(|p| !p.proxy.is_no_proxy(&uri))
            .map(|p| p.display.clone());
        Ok(Settings {
            agent_config,
            server: config.server(),
            host: config.host(),
            proxy,
        })
    }
}

impl Http {
    /// A new agent, with an empty pool and host cache.
    pub fn new(settings: Arc<Settings>) -> Http {
        let hosts = Arc::new(HostCache::default());
        Http {
            agent: unversioned::agent(settings.agent_config.clone(), hosts.clone()),
            settings,
            hosts,
        }
    }

    /// `GET url` with `Authorization: Bearer {token}`.
    pub fn get(&self, url: &str, auth: &str, deadline: &Deadline) -> Result<Response, Error> {
        let request = self.agent.get(url).header("Authorization", auth);
        let response = match self.time_left(deadline)? {
            None => request.call(),
            Some(t) => request.config().timeout_global(Some(t)).build().call(),
        };
        self.read(response, deadline)
    }

    /// `POST url` with a JSON `body`.
    pub fn post_json(
        &self,
        url: &str,
        body: &[u8],
        deadline: &Deadline,
    ) -> Result<Response, Error> {
        let request = self
            .agent
            .post(url)
            .header("Content-Type", "application/json; charset=utf-8");
        let response = match self.time_left(deadline)? {
            None => request.send(body),
            Some(t) => request.config().timeout_global(Some(t)).build().send(body),
        };
        self.read(response, deadline)
    }

    /// A write with `Authorization: Bearer {token}`: `POST` with a JSON
    /// `body`, or `DELETE` without one. A failure once the request may have
    /// reached the server is never to be repeated ([`Retry::Never`]) and its
    /// message says that the operation may have been applied; a failure
    /// before that (no connection) keeps its retry advice.
    pub fn write(
        &self,
        url: &str,
        auth: &str,
        body: Option<&[u8]>,
        deadline: &Deadline,
    ) -> Result<Response, Error> {
        let left = self.time_left(deadline)?;
        let response = match body {
            Some(body) => {
                let request = self
                    .agent
                    .post(url)
                    .header("Authorization", auth)
                    .header("Content-Type", "application/json; charset=utf-8");
                match left {
                    None => request.send(body),
                    Some(t) => request.config().timeout_global(Some(t)).build().send(body),
                }
            }
            None => {
                let request = self.agent.delete(url).header("Authorization", auth);
                match left {
                    None => request.call(),
                    Some(t) => request.config().timeout_global(Some(t)).build().call(),
                }
            }
        };
        let response = match response {
            Ok(response) => response,
            Err(e) => {
                let applied = maybe_applied(&e);
                let err = self.failure(e, deadline);
                return Err(if applied {
                    may_have_been_applied(err)
                } else {
                    err
                });
            }
        };
        self.read(Ok(response), deadline)
            .map_err(may_have_been_applied)
    }

    /// The per-request deadline: `None` when the agent's own (the whole call,
    /// counted from the request's start) is the call's, as on the first
    /// attempt of a plain call, which then needs no per-request configuration.
    fn time_left(&self, deadline: &Deadline) -> Result<Option<Duration>, Error> {
        let left = deadline.at.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(deadline.passed());
        }
        Ok((left + Duration::from_millis(2) < deadline.whole).then_some(left))
    }

    /// The whole body of `response`, at most [`MAX_BODY_LEN`] bytes.
    fn read(
        &self,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
        deadline: &Deadline,
    ) -> Result<Response, Error> {
        let (parts, mut body) = response
            .map_err(|e| self.failure(e, deadline))?
            .into_parts();
        match body.with_config().limit(MAX_BODY_LEN).read_to_vec() {
            Ok(body) => Ok(Response { parts, body }),
            Err(e) => {
                // The response had begun: its status and log id belong to the
                // error, and a request that failed half-way is not repeated.
                let mut err = self.failure(e, deadline);
                let head = Response {
                    parts,
                    body: Vec::new(),
                };
                let reply = head.reply();
                err.http_status = reply.status;
                err.log_id = crate::error::clean_log_id(reply.log_id.unwrap_or(""));
                err.retry = Retry::Never;
                Err(err)
            }
        }
    }

    /// What a new connection goes to: the proxy, or the server (with the
    /// addresses it resolved to, when it has a name).
    fn peer(&self) -> String {
        let server = &self.settings.server;
        if let Some(proxy) = &self.settings.proxy {
            return format!("the proxy {proxy}");
        }
        let addrs = self.hosts.addresses(server);
        if addrs.is_empty() {
            return server.clone();
        }
        let list: Vec<String> = addrs.iter().map(ToString::to_string).collect();
        format!("{server} ({})", list.join(", "))
    }

    /// Maps a failure of ureq (no complete response) to our error.
    fn failure(&self, e: ureq::Error, deadline: &Deadline) -> Error {
        use std::io::ErrorKind as Io;
        let Settings {
            server,
            host,
            proxy,
            ..
        } = &*self.settings;
        let network = |message: String| Error::new(Kind::Network, message);
        let transient = |message: String| network(message).retry(Retry::Transient);
        let protocol = |message: String| Error::new(Kind::Protocol, message);
        match e {
            // A connect timeout shorter than the deadline is a connection
            // failure, worth another try; only the deadline itself is a timeout.
            // (ureq cuts a connect budget to whole milliseconds, so a connect
            // cut short by the deadline can end a little before it.)
            ureq::Error::Timeout(Timeout::Connect)
                if Instant::now() + CONNECT_SLACK < deadline.at =>
            {
                transient(format!("connecting to {} timed out", self.peer()))
            }
            ureq::Error::Timeout(reason) => {
                let mut err = deadline.passed();
                err.message.push_str(phase(reason));
                err
            }
            ureq::Error::Io(io) => {
                if let Some(failed) = io.get_ref().and_then(|e| e.downcast_ref::<ResolveFailed>()) {
                    return network(failed.to_string());
                }
                // rustls's failures reach us inside I/O errors.
                if let Some(tls) = io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
                    return network(format!("TLS with {} failed: {tls}", host));
                }
                let what = match io.kind() {
                    Io::TimedOut | Io::WouldBlock => {
                        let mut err = deadline.passed();
                        err.message.push_str(&format!(" ({io})"));
                        return err;
                    }
                    Io::ConnectionRefused => {
                        return transient(format!(
                            "could not connect to {}: connection refused",
                            self.peer()
                        ));
                    }
                    Io::ConnectionReset => "connection reset by the server",
                    Io::ConnectionAborted => "connection aborted",
                    Io::UnexpectedEof => "connection closed before the response was complete",
                    Io::BrokenPipe => "connection closed while sending the request",
                    Io::HostUnreachable | Io::NetworkUnreachable | Io::NetworkDown => {
                        return transient(format!("could not connect to {}: {io}", self.peer()));
                    }
                    _ => return network(format!("I/O error with {}: {io}", server)),
                };
                transient(format!("{what} ({})", server))
            }
            ureq::Error::ConnectionFailed => {
                transient(format!("could not connect to {}", self.peer()))
            }
            ureq::Error::HostNotFound => {
                network(format!("could not resolve host {} (no address)", server))
            }
            ureq::Error::Tls(why) => network(format!("TLS with {} failed: {why}", host)),
            ureq::Error::Rustls(e) => network(format!("TLS with {} failed: {e}", host)),
            ureq::Error::ConnectProxyFailed(why) => network(format!(
                "{} refused to CONNECT: {}",
                proxy.as_deref().unwrap_or("the proxy"),
                crate::text::clean(&why, 160)
            )),
            ureq::Error::BodyExceedsLimit(limit) => {
                protocol(format!("response body is larger than {limit} bytes"))
            }
            ureq::Error::LargeResponseHeader(..) => protocol(format!(
                "response head is larger than {} KiB",
                BUFFER_SIZE / 1024
            )),
            ureq::Error::Protocol(e) => {
                protocol(format!("the server's reply is not valid HTTP/1.1 ({e})"))
            }
            ureq::Error::TooManyRedirects | ureq::Error::RedirectFailed => {
                Error::new(Kind::Http, "redirect not followed")
            }
            ureq::Error::BadUri(_) | ureq::Error::InvalidProxyUrl => {
                Error::invalid("the request URL could not be built from the configuration")
            }
            other => network(format!("request to {} failed: {other}", server)),
        }
    }
}

/// Whether a request that failed with `e` may have reached the server whole:
/// everything but a failure to resolve, connect or set up TLS, and a timeout
/// while resolving or connecting.
fn maybe_applied(e: &ureq::Error) -> bool {
    use std::io::ErrorKind as Io;
    match e {
        // The whole-call deadline does not say in which phase it passed.
        ureq::Error::Timeout(t) => !matches!(t, Timeout::Resolve | Timeout::Connect),
        ureq::Error::Io(io) => {
            let unsent = io
                .get_ref()
                .is_some_and(|e| e.downcast_ref::<ResolveFailed>().is_some());
            !unsent
                && !matches!(
                    io.kind(),
                    Io::ConnectionRefused
                        | Io::HostUnreachable
                        | Io::NetworkUnreachable
                        | Io::NetworkDown
                )
        }
        ureq::Error::ConnectionFailed
        | ureq::Error::HostNotFound
        | ureq::Error::Tls(_)
        | ureq::Error::Rustls(_)
        | ureq::Error::ConnectProxyFailed(_)
        | ureq::Error::BadUri(_)
        | ureq::Error::InvalidProxyUrl => false,
        _ => true,
    }
}

/// The note on a write's failure once the request may have been applied.
pub const MAY_HAVE_BEEN_APPLIED: &str =
    "; the request was sent, so the operation may have been applied: check before repeating it";

/// Marks a write's failure as one not to repeat: the server may have acted.
/// The note ends the message, also when that is cut to fit `FeishuError`
/// (the text before it is shortened instead); calling it again (after more
/// was appended) moves the note back to the end.
pub fn may_have_been_applied(mut err: Error) -> Error {
    err.retry = Retry::Never;
    let mut text = err.message.replacen(MAY_HAVE_BEEN_APPLIED, "", 1);
    let room = FEISHU_MESSAGE_SIZE - 1 - MAY_HAVE_BEEN_APPLIED.len();
    if text.len() > room {
        let mut end = room - 3;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str("...");
    }
    text.push_str(MAY_HAVE_BEEN_APPLIED);
    err.message = text;
    err
}

/// What a timeout interrupted, for the message.
fn phase(reason: Timeout) -> &'static str {
    match reason {
        Timeout::Resolve => " (timed out resolving the host)",
        Timeout::Connect => " (timed out connecting)",
        Timeout::SendRequest | Timeout::SendBody => " (timed out sending the request)",
        Timeout::RecvResponse => " (timed out waiting for the response)",
        Timeout::RecvBody => " (timed out reading the response body)",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca_pem() -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::default();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.self_signed(&key).unwrap().pem()
    }

    #[test]
    fn a_ca_file_replaces_the_bundled_roots() {
        let http = Settings::new(&Config::default()).unwrap();
        assert!(matches!(
            http.agent_config.tls_config().root_certs(),
            RootCerts::WebPki
        ));
        let mut config = Config::default();
        let pem = format!("{}{}", ca_pem(), ca_pem());
        config.ca_roots = crate::config::parse_ca_pem(pem.as_bytes(), "test").unwrap();
        let http = Settings::new(&config).unwrap();
        match http.agent_config.tls_config().root_certs() {
            RootCerts::Specific(certs) => assert_eq!(certs.len(), 2),
            _ => panic!("the CA file's roots are not the only ones"),
        }
    }
}
