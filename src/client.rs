//! The HTTP client: one ureq `Agent` (a keep-alive connection pool) built
//! from a [`Config`], the `task_check` call, its retries, and the managed
//! tenant_access_token.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ureq::Agent;
use ureq::http::HeaderValue;
use ureq::http::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use ureq::http::response::Parts;
use ureq::tls::{Certificate, RootCerts, TlsConfig};

use crate::api::{self, IssuedToken, Reply, TaskStatus};
use crate::config::{Config, LogLevel, Logger};
use crate::error::{Error, Kind, Retry};
use crate::retry::{self, Verdict};
use crate::token::{Credentials, TokenCache, wipe};
use crate::transport;

/// `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("libfeishu_task/", env!("CARGO_PKG_VERSION"));

/// Platform codes that mean "this tenant/app access token is no good".
const STALE_TOKEN_CODES: [i32; 2] = [99991663, 99991664];

/// An immutable, thread-safe client; all calls share one connection pool.
pub struct Client {
    agent: Agent,
    /// `{base}/open-apis/drive/v1/files/task_check?task_id=`, built once.
    endpoint: String,
    /// `{base}/open-apis/auth/v3/tenant_access_token/internal`.
    token_url: String,
    /// The `Host` header, built once (ureq would format it on every call).
    host: HeaderValue,
    timeout: Duration,
    max_retries: u32,
    logger: Option<Logger>,
    /// The managed token, when the client has app credentials.
    tokens: Option<TokenCache>,
}

/// What the classification needs from a response head and its body.
fn reply<'a>(parts: &'a Parts, body: &'a [u8]) -> Reply<'a> {
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    Reply {
        status: parts.status.as_u16(),
        log_id: header("x-tt-logid"),
        ratelimit_reset: header("x-ogw-ratelimit-reset"),
        content_type: header("content-type"),
        location: header("location"),
        body,
    }
}

thread_local! {
    /// Each thread reads response bodies into one buffer that it keeps.
    static BODY: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The largest body buffer a thread keeps between calls.
const KEPT_BODY_CAPACITY: usize = 16 * 1024;

impl Client {
    pub fn new(config: &Config) -> Result<Client, Error> {
        // The bundled Mozilla roots plus the caller's: a private CA is added,
        // not substituted. Verification itself can not be turned off.
        let roots: Vec<Certificate<'static>> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .map(|der| Certificate::from_der(der.as_ref()))
            .chain(config.extra_roots.iter().cloned())
            .collect();
        let tls = TlsConfig::builder()
            .root_certs(RootCerts::new_with_certs(&roots))
            .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .build();
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
            // ureq zeroes both buffers for each new connection (128 KiB each by
            // default). The largest request is ~7.5 KiB (a 4 KiB token, a 1 KiB
            // task id percent-encoded); response heads are small.
            .input_buffer_size(16 * 1024)
            .output_buffer_size(16 * 1024)
            .max_response_header_size(16 * 1024)
            .max_idle_connections(64)
            .max_idle_connections_per_host(64)
            .tls_config(tls)
            .build();
        let agent = Agent::with_parts(
            agent_config,
            transport::connector(),
            transport::DeferredResolver,
        );
        Ok(Client {
            agent,
            endpoint: format!("{}{}?task_id=", config.base_url, api::TASK_CHECK_PATH),
            token_url: format!("{}{}", config.base_url, api::TOKEN_PATH),
            host: host_header(&config.base_url)?,
            timeout: config.timeout,
            max_retries: config.max_retries,
            logger: config.logger.clone(),
            tokens: config.credentials.clone().map(TokenCache::new),
        })
    }

    /// Asks for the status of `task_id`, with `token`, or with the client's
    /// managed tenant_access_token when `token` is `None`. Inputs are
    /// validated first (invalid input sends nothing); transient failures are
    /// retried; everything ends by the deadline.
    pub fn task_check(&self, token: Option<&[u8]>, task_id: &[u8]) -> Result<TaskStatus, Error> {
        self.task_check_by(token, task_id, Instant::now() + self.timeout)
    }

    /// [`Client::task_check`] ending by `deadline` (a wait gives each poll the
    /// client's call timeout, cut to what is left of the wait).
    pub fn task_check_by(
        &self,
        token: Option<&[u8]>,
        task_id: &[u8],
        deadline: Instant,
    ) -> Result<TaskStatus, Error> {
        let task_id = api::check_task_id(task_id)?;
        if let Some(token) = token {
            return self.check_with(api::check_token(token)?, task_id, deadline);
        }
        let Some(tokens) = &self.tokens else {
            return Err(Error::invalid(
                "token is NULL and the client has no app credentials to fetch one",
            ));
        };
        let fetch = |c: &Credentials| self.fetch_token(c, deadline);
        let token = tokens.get(deadline, fetch)?;
        match self.check_with(token.value(), task_id, deadline) {
            Err(e) if matches!(e.kind, Kind::Platform(c) if STALE_TOKEN_CODES.contains(&c)) => {
                // Drop it (unless another thread already has) and try once more
                // with a fresh one; a second rejection is returned as it is.
                tokens.invalidate(&token);
                self.log(LogLevel::Warn, || {
                    format!(
                        "the managed tenant_access_token was rejected (code {}); fetching a new one and retrying once",
                        e.code()
                    )
                });
                let token = tokens.get(deadline, fetch)?;
                self.check_with(token.value(), task_id, deadline)
            }
            other => other,
        }
    }

    /// One task_check with a validated token, retried as the policy allows.
    fn check_with(
        &self,
        token: &str,
        task_id: &str,
        deadline: Instant,
    ) -> Result<TaskStatus, Error> {
        self.with_retries("GET", api::TASK_CHECK_PATH, deadline, |remaining| {
            // The URL and header value are handed to ureq as they are, without
            // another copy (the token's copy lives in ureq's request).
            let mut url = String::with_capacity(self.endpoint.len() + 3 * task_id.len());
            url.push_str(&self.endpoint);
            api::push_query_value(&mut url, task_id);
            let mut auth = String::with_capacity(7 + token.len());
            auth.push_str("Bearer ");
            auth.push_str(token);
            let request = self
                .agent
                .get(url)
                .header(HOST, self.host.clone())
                .header(AUTHORIZATION, auth);
            self.exchange(
                deadline,
                || match remaining {
                    None => request.call(),
                    Some(t) => request.config().timeout_global(Some(t)).build().call(),
                },
                |reply| api::classify(reply).map(|status| (status, self.log_id_to_log(reply))),
            )
        })
    }

    /// Fetches a tenant_access_token for `credentials`, retried as the policy
    /// allows. The request body holding the secret is wiped after each send.
    fn fetch_token(
        &self,
        credentials: &Credentials,
        deadline: Instant,
    ) -> Result<IssuedToken, Error> {
        self.with_retries("POST", api::TOKEN_PATH, deadline, |remaining| {
            let mut body =
                api::token_request_body(&credentials.app_id, credentials.app_secret.expose());
            let result = self.exchange(
                deadline,
                || {
                    let request = self
                        .agent
                        .post(&self.token_url)
                        .header(HOST, self.host.clone())
                        .header(CONTENT_TYPE, "application/json; charset=utf-8");
                    match remaining {
                        None => request.send(&body[..]),
                        Some(t) => request
                            .config()
                            .timeout_global(Some(t))
                            .build()
                            .send(&body[..]),
                    }
                },
                |reply| api::classify_token(reply).map(|t| (t, self.log_id_to_log(reply))),
            );
            wipe(&mut body);
            result
        })
        .map_err(|mut e| {
            e.message = format!("tenant_access_token request failed: {}", e.message);
            e
        })
    }

    /// Runs `attempt` until it succeeds, fails for good, runs out of retries,
    /// or the deadline leaves no room, logging each attempt. `attempt` gets
    /// the time it has left (`None` when that is the agent's own deadline, the
    /// whole call's, as on the first attempt of a plain call) and returns its result
    /// with the log id to log on success.
    fn with_retries<T>(
        &self,
        method: &str,
        path: &str,
        deadline: Instant,
        mut attempt: impl FnMut(Option<Duration>) -> Result<(T, Option<String>), Error>,
    ) -> Result<T, Error> {
        let mut number = 1;
        loop {
            let started = Instant::now();
            let remaining = deadline.saturating_duration_since(started);
            // The agent's own deadline is the whole call's: the first attempt of
            // a call that has all of it needs no per-request configuration.
            let has_whole_call =
                number == 1 && remaining + Duration::from_millis(5) >= self.timeout;
            let result = if has_whole_call {
                attempt(None)
            } else if remaining.is_zero() {
                Err(self.deadline_passed())
            } else {
                attempt(Some(remaining))
            };
            let err = match result {
                Ok((value, log_id)) => {
                    self.log(LogLevel::Info, || {
                        format!(
                            "{method} {path} attempt {number} of {}: HTTP 200 in {} ms{}: ok",
                            self.max_retries + 1,
                            started.elapsed().as_millis(),
                            log_id_note(log_id.as_deref().unwrap_or(""))
                        )
                    });
                    return Ok(value);
                }
                Err(err) => err,
            };
            let left = deadline.saturating_duration_since(Instant::now());
            let verdict = retry::verdict(&err, number, self.max_retries, left);
            self.log_failure(method, path, number, started, &err, verdict);
            match verdict {
                Verdict::RetryAfter(delay) => {
                    std::thread::sleep(delay);
                    number += 1;
                }
                Verdict::GiveUp(_) => return Err(with_attempts(err, number)),
            }
        }
    }

    /// Sends a request, reads the whole response (at most 1 MiB) into the
    /// thread's body buffer, and hands it to `handle`.
    fn exchange<T>(
        &self,
        deadline: Instant,
        send: impl FnOnce() -> Result<ureq::http::Response<ureq::Body>, ureq::Error>,
        handle: impl FnOnce(&Reply<'_>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let response = send().map_err(|e| self.transport_error(e, deadline))?;
        let (parts, body) = response.into_parts();
        let read = |buf: &mut Vec<u8>| -> Result<T, Error> {
            buf.clear();
            let mut reader = body.into_with_config().limit(api::MAX_BODY_LEN).reader();
            match std::io::Read::read_to_end(&mut reader, buf) {
                Ok(_) => handle(&reply(&parts, buf)),
                Err(e) => {
                    // The response had begun: its status and log id belong to the
                    // error, and a request that failed half-way is not repeated.
                    let mut err = self.transport_error(ureq::Error::from(e), deadline);
                    let head = reply(&parts, &[]);
                    err.http_status = head.status;
                    err.log_id = api::clean(head.log_id.unwrap_or(""), 63);
                    err.retry = Retry::Never;
                    Err(err)
                }
            }
        };
        BODY.with(|cell| match cell.try_borrow_mut() {
            Ok(mut buf) => {
                let result = read(&mut buf);
                if buf.capacity() > KEPT_BODY_CAPACITY {
                    *buf = Vec::new();
                }
                result
            }
            // Re-entered from a callback on this thread: a buffer of its own.
            Err(_) => read(&mut Vec::new()),
        })
    }

    /// The log id of a successful reply, copied only when someone logs it.
    fn log_id_to_log(&self, reply: &Reply<'_>) -> Option<String> {
        self.logger
            .as_ref()
            .and(reply.log_id)
            .map(|l| api::clean(l, 63))
    }

    /// The whole-call deadline of one call.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn deadline_passed(&self) -> Error {
        Error::new(
            Kind::Timeout,
            format!(
                "no complete response within the {} ms deadline",
                self.timeout.as_millis()
            ),
        )
    }

    /// Maps a failure of ureq (no complete response) to our error.
    fn transport_error(&self, e: ureq::Error, deadline: Instant) -> Error {
        use std::io::ErrorKind as Io;
        let network = |message: String| Error::new(Kind::Network, message);
        let transient = |message: String| network(message).retry(Retry::Transient);
        match e {
            // A connect timeout shorter than the deadline is a connection
            // failure, worth another try; only the deadline itself is a timeout.
            ureq::Error::Timeout(ureq::Timeout::Connect) if Instant::now() < deadline => {
                transient("connect timed out".into())
            }
            ureq::Error::Timeout(phase) => {
                let what = match phase {
                    ureq::Timeout::Resolve => "resolving the host",
                    ureq::Timeout::Connect => "connecting",
                    ureq::Timeout::SendRequest | ureq::Timeout::SendBody => "sending the request",
                    ureq::Timeout::RecvResponse => "waiting for the response",
                    ureq::Timeout::RecvBody => "reading the response body",
                    _ => "during the call",
                };
                let mut err = self.deadline_passed();
                err.message.push_str(&format!(" (timed out {what})"));
                err
            }
            ureq::Error::Io(io) if matches!(io.kind(), Io::TimedOut | Io::WouldBlock) => {
                let mut err = self.deadline_passed();
                err.message.push_str(&format!(" ({io})"));
                err
            }
            ureq::Error::Io(io) => {
                let what = match io.kind() {
                    Io::ConnectionRefused => "connection refused",
                    Io::ConnectionReset => "connection reset by the server",
                    Io::ConnectionAborted => "connection aborted",
                    Io::UnexpectedEof => "connection closed before the response was complete",
                    Io::BrokenPipe => "connection closed while sending the request",
                    _ => return network(format!("I/O error: {io}")),
                };
                transient(format!("{what}: {io}"))
            }
            ureq::Error::ConnectionFailed => transient("could not connect to the server".into()),
            ureq::Error::HostNotFound => {
                network("host not found (DNS lookup returned no address)".into())
            }
            ureq::Error::Tls(why) => network(format!("TLS failed: {why}")),
            ureq::Error::Rustls(e) => network(format!("TLS failed: {e}")),
            ureq::Error::ConnectProxyFailed(why) => {
                network(format!("proxy CONNECT failed: {}", api::clean(&why, 160)))
            }
            ureq::Error::BodyExceedsLimit(limit) => Error::new(
                Kind::Protocol,
                format!("response body is larger than {limit} bytes"),
            ),
            ureq::Error::LargeResponseHeader(..) => {
                Error::new(Kind::Protocol, "response headers are larger than 16 KiB")
            }
            ureq::Error::Protocol(e) => Error::new(
                Kind::Protocol,
                format!("the server's reply is not valid HTTP/1.1 ({e})"),
            ),
            ureq::Error::TooManyRedirects | ureq::Error::RedirectFailed => {
                Error::new(Kind::Http, "redirect not followed")
            }
            ureq::Error::BadUri(_) | ureq::Error::InvalidProxyUrl => {
                Error::invalid("the request URL could not be built from the configuration")
            }
            other => network(format!("request failed: {other}")),
        }
    }

    fn log(&self, level: LogLevel, line: impl FnOnce() -> String) {
        if let Some(logger) = &self.logger {
            logger(level, &line());
        }
    }

    fn log_failure(
        &self,
        method: &str,
        path: &str,
        number: u32,
        started: Instant,
        err: &Error,
        verdict: Verdict,
    ) {
        let (level, decision) = match verdict {
            Verdict::RetryAfter(d) => (LogLevel::Warn, format!("retrying in {} ms", d.as_millis())),
            Verdict::GiveUp(why) => (LogLevel::Error, format!("giving up: {why}")),
        };
        self.log(level, || {
            let status = match err.http_status {
                0 => "no response".to_owned(),
                s => format!("HTTP {s}"),
            };
            format!(
                "{method} {path} attempt {number} of {}: {status} in {} ms{}: error {}: {}; {decision}",
                self.max_retries + 1,
                started.elapsed().as_millis(),
                log_id_note(&err.log_id),
                err.code(),
                err.message
            )
        });
    }
}

/// The `Host` header of `base_url` (`scheme://host[:port]`, validated):
/// the authority, without a default port.
fn host_header(base_url: &str) -> Result<HeaderValue, Error> {
    let authority = base_url.split_once("://").map_or(base_url, |(_, a)| a);
    let host = authority
        .strip_suffix(":443")
        .filter(|_| base_url.starts_with("https:"))
        .or_else(|| {
            authority
                .strip_suffix(":80")
                .filter(|_| base_url.starts_with("http:"))
        })
        .unwrap_or(authority);
    HeaderValue::from_str(host)
        .map_err(|_| Error::invalid("the base URL's host is not a valid Host header"))
}

fn log_id_note(log_id: &str) -> String {
    if log_id.is_empty() {
        String::new()
    } else {
        format!(", log id {log_id}")
    }
}

/// Notes the number of attempts in the final error's message.
fn with_attempts(mut err: Error, attempts: u32) -> Error {
    if attempts > 1 {
        err.message
            .push_str(&format!(" (after {attempts} attempts)"));
    }
    err
}

/// The process-wide client of `feishu_task_check`: configured from the
/// environment on first use, then shared by every thread. A bad environment
/// value is remembered and returned by every call.
pub fn default_client() -> Result<&'static Client, Error> {
    static DEFAULT: std::sync::OnceLock<Result<Client, Error>> = std::sync::OnceLock::new();
    DEFAULT
        .get_or_init(|| Config::from_env().and_then(|c| Client::new(&c)))
        .as_ref()
        .map_err(Clone::clone)
}
