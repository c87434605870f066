//! The HTTP client: one ureq `Agent` (a keep-alive connection pool) built
//! from a [`Config`], and the `task_check` call.

use std::time::Duration;

use ureq::Agent;
use ureq::tls::{Certificate, RootCerts, TlsConfig};

use crate::api::{self, Reply, TaskStatus};
use crate::config::Config;
use crate::error::{Error, Kind};
use crate::transport;

/// `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("libfeishu_task/", env!("CARGO_PKG_VERSION"));

/// An immutable, thread-safe client; clones of its agent share one pool.
pub struct Client {
    agent: Agent,
    /// `{base}/open-apis/drive/v1/files/task_check?task_id=`, built once.
    endpoint: String,
    timeout: Duration,
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
        let connect_timeout = config.connect_timeout.min(config.timeout);
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
            .timeout_connect(Some(connect_timeout))
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
        })
    }

    /// Asks for the status of `task_id` with `token`. Both are validated
    /// first; invalid input sends nothing.
    pub fn task_check(&self, token: &[u8], task_id: &[u8]) -> Result<TaskStatus, Error> {
        let token = api::check_token(token)?;
        let task_id = api::check_task_id(task_id)?;

        let mut url = String::with_capacity(self.endpoint.len() + 3 * task_id.len());
        url.push_str(&self.endpoint);
        api::push_query_value(&mut url, task_id);
        let mut auth = String::with_capacity(7 + token.len());
        auth.push_str("Bearer ");
        auth.push_str(token);

        let response = self
            .agent
            .get(&url)
            .header("Authorization", &auth)
            .call()
            .map_err(|e| self.transport_error(e))?;

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
        let bytes = body
            .with_config()
            .limit(api::MAX_BODY_LEN)
            .read_to_vec()
            .map_err(|e| {
                let mut err = self.transport_error(e);
                err.http_status = reply.status;
                err.log_id = api::clean(reply.log_id.unwrap_or(""), 63);
                err
            })?;
        reply.body = &bytes;
        api::classify(&reply)
    }

    /// Maps a failure of ureq (no complete response) to our error.
    fn transport_error(&self, e: ureq::Error) -> Error {
        use std::io::ErrorKind as Io;
        let deadline = self.timeout.as_millis();
        match e {
            ureq::Error::Timeout(phase) => Error::new(
                Kind::Timeout,
                format!(
                    "no complete response within the {deadline} ms deadline (timed out {})",
                    match phase {
                        ureq::Timeout::Resolve => "resolving the host",
                        ureq::Timeout::Connect => "connecting",
                        ureq::Timeout::SendRequest | ureq::Timeout::SendBody =>
                            "sending the request",
                        ureq::Timeout::RecvResponse => "waiting for the response",
                        ureq::Timeout::RecvBody => "reading the response body",
                        _ => "during the call",
                    }
                ),
            ),
            ureq::Error::Io(io) if matches!(io.kind(), Io::TimedOut | Io::WouldBlock) => {
                Error::new(
                    Kind::Timeout,
                    format!("no complete response within the {deadline} ms deadline ({io})"),
                )
            }
            ureq::Error::Io(io) => {
                let what = match io.kind() {
                    Io::ConnectionRefused => "connection refused",
                    Io::ConnectionReset => "connection reset by the server",
                    Io::ConnectionAborted => "connection aborted",
                    Io::UnexpectedEof => {
                        "connection closed before the response was complete (truncated transfer)"
                    }
                    Io::BrokenPipe => "connection closed while sending the request",
                    _ => "I/O error",
                };
                Error::new(Kind::Network, format!("{what}: {io}"))
            }
            ureq::Error::HostNotFound => Error::new(
                Kind::Network,
                "host not found (DNS lookup returned no address)",
            ),
            ureq::Error::ConnectionFailed => {
                Error::new(Kind::Network, "could not connect to the server")
            }
            ureq::Error::Tls(why) => Error::new(Kind::Network, format!("TLS failed: {why}")),
            ureq::Error::Rustls(e) => Error::new(Kind::Network, format!("TLS failed: {e}")),
            ureq::Error::ConnectProxyFailed(why) => Error::new(
                Kind::Network,
                format!("proxy CONNECT failed: {}", api::clean(&why, 160)),
            ),
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
            other => Error::new(Kind::Network, format!("request failed: {other}")),
        }
    }
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
