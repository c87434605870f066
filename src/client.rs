//! The HTTP client: one ureq `Agent` (a keep-alive connection pool) built
//! from a [`Config`], and the `task_check` call with its retries.

use std::time::{Duration, Instant};

use ureq::Agent;
use ureq::tls::{Certificate, RootCerts, TlsConfig};

use crate::api::{self, Reply, TaskStatus};
use crate::config::{Config, LogLevel, Logger};
use crate::error::{Error, Kind, Retry};
use crate::retry::{self, Verdict};
use crate::transport;

/// `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("libfeishu_task/", env!("CARGO_PKG_VERSION"));

/// An immutable, thread-safe client; all calls share one connection pool.
pub struct Client {
    agent: Agent,
    /// `{base}/open-apis/drive/v1/files/task_check?task_id=`, built once.
    endpoint: String,
    timeout: Duration,
    max_retries: u32,
    logger: Option<Logger>,
}

impl Client {
    pub fn new(config: &Config) -> Result<Client, Error> {
        let roots = if config.extra_roots.is_empty() {
            RootCerts::WebPki
        } else {
            // The bundled roots plus the caller's: a private CA is added, not
            // substituted. Verification itself can not be turned off.
            let mut all: Vec<Certificate<'static>> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
                .iter()
                .map(|der| Certificate::from_der(der.as_ref()))
                .collect();
            all.extend(config.extra_roots.iter().cloned());
            RootCerts::new_with_certs(&all)
        };
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
            .max_response_header_size(64 * 1024)
            .max_idle_connections(64)
            .max_idle_connections_per_host(64)
            .tls_config(TlsConfig::builder().root_certs(roots).build())
            .build();
        let agent = Agent::with_parts(
            agent_config,
            transport::connector(),
            transport::DeferredResolver,
        );
        Ok(Client {
            agent,
            endpoint: format!("{}{}?task_id=", config.base_url, api::TASK_CHECK_PATH),
            timeout: config.timeout,
            max_retries: config.max_retries,
            logger: config.logger.clone(),
        })
    }

    /// Asks for the status of `task_id` with `token`. Both are validated
    /// first; invalid input sends nothing. Transient failures are retried
    /// within the deadline.
    pub fn task_check(&self, token: &[u8], task_id: &[u8]) -> Result<TaskStatus, Error> {
        let deadline = Instant::now() + self.timeout;
        let token = api::check_token(token)?;
        let task_id = api::check_task_id(task_id)?;

        let mut url = String::with_capacity(self.endpoint.len() + 3 * task_id.len());
        url.push_str(&self.endpoint);
        api::push_query_value(&mut url, task_id);
        let mut auth = String::with_capacity(7 + token.len());
        auth.push_str("Bearer ");
        auth.push_str(token);

        let mut attempt = 1;
        loop {
            let started = Instant::now();
            let (result, log_id) = self.attempt(&url, &auth, attempt, deadline);
            let err = match result {
                Ok(status) => {
                    self.log(LogLevel::Info, || {
                        format!(
                            "{}: HTTP 200 in {} ms{}: status {status:?}",
                            self.attempt_name(attempt),
                            started.elapsed().as_millis(),
                            log_id_note(log_id.as_deref().unwrap_or(""))
                        )
                    });
                    return Ok(status);
                }
                Err(err) => err,
            };
            let remaining = deadline.saturating_duration_since(Instant::now());
            let verdict = retry::verdict(&err, attempt, self.max_retries, remaining);
            self.log_failure(attempt, started, &err, verdict);
            match verdict {
                Verdict::RetryAfter(delay) => {
                    std::thread::sleep(delay);
                    attempt += 1;
                }
                Verdict::GiveUp(_) => return Err(with_attempts(err, attempt)),
            }
        }
    }

    /// One request. The first attempt runs on the agent's own deadline (the
    /// whole call's); a retry gets what is left of it.
    fn attempt(
        &self,
        url: &str,
        auth: &str,
        attempt: u32,
        deadline: Instant,
    ) -> (Result<TaskStatus, Error>, Option<String>) {
        let mut request = self.agent.get(url).header("Authorization", auth);
        if attempt > 1 {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return (Err(self.deadline_passed()), None);
            }
            request = request.config().timeout_global(Some(remaining)).build();
        }
        let response = match request.call() {
            Ok(r) => r,
            Err(e) => return (Err(self.transport_error(e, deadline)), None),
        };

        let (parts, mut body) = response.into_parts();
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let mut reply = Reply {
            status: parts.status.as_u16(),
            log_id: header("x-tt-logid"),
            ratelimit_reset: header("x-ogw-ratelimit-reset"),
            content_type: header("content-type"),
            location: header("location"),
            body: &[],
        };
        // The success path copies the log id only when someone logs it.
        let log_id = self
            .logger
            .as_ref()
            .and(reply.log_id)
            .map(|l| api::clean(l, 63));
        let bytes = match body.with_config().limit(api::MAX_BODY_LEN).read_to_vec() {
            Ok(bytes) => bytes,
            Err(e) => {
                // The response had begun: its status and log id belong to the error,
                // and a GET that failed half-way is not repeated.
                let mut err = self.transport_error(e, deadline);
                err.http_status = reply.status;
                err.log_id = api::clean(reply.log_id.unwrap_or(""), 63);
                err.retry = Retry::Never;
                return (Err(err), log_id);
            }
        };
        reply.body = &bytes;
        (api::classify(&reply), log_id)
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
                Error::new(Kind::Protocol, "response headers are larger than 64 KiB")
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

    fn attempt_name(&self, attempt: u32) -> String {
        format!(
            "GET {} attempt {attempt} of {}",
            api::TASK_CHECK_PATH,
            self.max_retries + 1
        )
    }

    fn log(&self, level: LogLevel, line: impl FnOnce() -> String) {
        if let Some(logger) = &self.logger {
            logger(level, &line());
        }
    }

    fn log_failure(&self, attempt: u32, started: Instant, err: &Error, verdict: Verdict) {
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
                "{}: {status} in {} ms{}: error {}: {}; {decision}",
                self.attempt_name(attempt),
                started.elapsed().as_millis(),
                log_id_note(&err.log_id),
                err.code(),
                err.message
            )
        });
    }
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
