//! The client: a [`Config`] applied once (request heads prebuilt, a
//! [`Dialer`] for new connections, a [`Pool`] of idle ones), the `task_check`
//! call, its retries, and the managed tenant_access_token.

use std::time::{Duration, Instant};

use crate::api::{self, IssuedToken, Reply, TaskStatus};
use crate::config::{Config, LogLevel, Logger};
use crate::error::{Error, Kind};
use crate::http::{self, Deadline, Response, Writer};
use crate::pool::Pool;
use crate::retry::{self, Verdict};
use crate::tls::TlsConnector;
use crate::token::{Credentials, TokenCache, wipe};
use crate::transport::{Connection, Dialer};

/// `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("libfeishu_task/", env!("CARGO_PKG_VERSION"));

/// Platform codes that mean "this tenant/app access token is no good".
const STALE_TOKEN_CODES: [i32; 2] = [99991663, 99991664];

/// An immutable, thread-safe client; all calls share one connection pool.
pub struct Client {
    dialer: Dialer,
    pool: Pool,
    /// `GET /open-apis/drive/v1/files/task_check?task_id=`: the task id follows.
    check_line: String,
    /// ` HTTP/1.1`, `Host`, `User-Agent`, `Accept`, `Authorization: Bearer `:
    /// the token follows, then the end of the head.
    check_fields: String,
    /// The token request's head up to `Content-Length: `.
    token_head: String,
    timeout: Duration,
    max_retries: u32,
    logger: Option<Logger>,
    /// The managed token, when the client has app credentials.
    tokens: Option<TokenCache>,
}

thread_local! {
    /// Each thread reads responses into buffers that it keeps.
    static RESPONSE: std::cell::RefCell<Response> = std::cell::RefCell::default();
}

/// The output buffer of a connection (the largest request is ~7.5 KiB).
const OUTPUT_BUFFER: usize = 16 * 1024;

/// The largest body buffer a thread keeps between calls.
const KEPT_BODY_CAPACITY: usize = 16 * 1024;

impl Client {
    pub fn new(config: &Config) -> Result<Client, Error> {
        // What ureq's connectors read: the proxy, buffer sizes, and the
        // User-Agent of a CONNECT request. Each connection has a 16 KiB input
        // and output buffer (ureq's default is 128 KiB each, zeroed per
        // connection); the largest request is ~7.5 KiB (a 4 KiB token, a
        // 1 KiB task id percent-encoded).
        let connect_config = ureq::Agent::config_builder()
            .user_agent(USER_AGENT)
            .proxy(config.proxy.as_ref().map(|p| p.proxy.clone()))
            .input_buffer_size(http::MAX_HEAD_LEN)
            .output_buffer_size(OUTPUT_BUFFER)
            .build();
        let tls = crate::tls::client_config(&config.extra_roots).map_err(Error::invalid)?;
        let tls = TlsConnector::new(tls, http::MAX_HEAD_LEN, OUTPUT_BUFFER);
        let connect_timeout = config.connect_timeout.min(config.timeout);
        let dialer = Dialer::new(&config.base_url, connect_config, tls, connect_timeout)
            .map_err(|_| Error::invalid("the base URL could not be parsed"))?;
        let host = host_header(&config.base_url);
        let common = format!(
            " HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {USER_AGENT}\r\nAccept: application/json\r\n"
        );
        Ok(Client {
            dialer,
            pool: Pool::default(),
            check_line: format!("GET {}?task_id=", api::TASK_CHECK_PATH),
            check_fields: format!("{common}Authorization: Bearer "),
            token_head: format!(
                "POST {}{common}Content-Type: application/json; charset=utf-8\r\nContent-Length: ",
                api::TOKEN_PATH
            ),
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
        self.with_retries("GET", api::TASK_CHECK_PATH, deadline, |deadline| {
            self.exchange(
                deadline,
                |w| {
                    w.push(self.check_line.as_bytes());
                    api::encode_query_value(task_id, |b| w.push(b));
                    w.push(self.check_fields.as_bytes());
                    w.push(token.as_bytes());
                    w.push(b"\r\n\r\n");
                },
                |reply| api::classify(reply).map(|status| (status, self.log_id_to_log(reply))),
            )
        })
    }

    /// Fetches a tenant_access_token for `credentials`, retried as the policy
    /// allows. The request body holding the secret is wiped after each send
    /// (and the connection's output buffer by [`http::send`]).
    fn fetch_token(
        &self,
        credentials: &Credentials,
        deadline: Instant,
    ) -> Result<IssuedToken, Error> {
        self.with_retries("POST", api::TOKEN_PATH, deadline, |deadline| {
            let mut body =
                api::token_request_body(&credentials.app_id, credentials.app_secret.expose());
            let result = self.exchange(
                deadline,
                |w| {
                    w.push(self.token_head.as_bytes());
                    w.push(body.len().to_string().as_bytes());
                    w.push(b"\r\n\r\n");
                    w.push(&body);
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
    /// or the deadline leaves no room, logging each attempt. `attempt` returns
    /// its result with the log id to log on success.
    fn with_retries<T>(
        &self,
        method: &str,
        path: &str,
        deadline: Instant,
        mut attempt: impl FnMut(&Deadline) -> Result<(T, Option<String>), Error>,
    ) -> Result<T, Error> {
        let deadline = Deadline {
            at: deadline,
            whole: self.timeout,
        };
        let mut number = 1;
        loop {
            let started = Instant::now();
            let result = if started >= deadline.at {
                Err(deadline.passed())
            } else {
                attempt(&deadline)
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
            let left = deadline.at.saturating_duration_since(Instant::now());
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

    /// One request and its whole response (at most 1 MiB, read into the
    /// thread's buffers), handed to `handle`. The connection comes from the
    /// pool, or is opened; it goes back when the response left it reusable.
    /// (A pooled connection that fails before any response is not silently
    /// replaced: the server may have seen the request; the retry policy
    /// decides, as for any connection failure.)
    fn exchange<T>(
        &self,
        deadline: &Deadline,
        write: impl FnOnce(&mut Writer<'_>),
        handle: impl FnOnce(&Reply<'_>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let run = |resp: &mut Response| -> Result<T, Error> {
            // One reading of the clock serves the pool: the idle age of the
            // connection taken, and the start of the idle time of the one put
            // back (its request's start: an age counted a call too early).
            let now = Instant::now();
            let mut conn = match self.pool.take(now) {
                Some(conn) => conn,
                None => self.dial(deadline)?,
            };
            http::send(&mut *conn, deadline, write)?;
            if http::receive(&mut *conn, deadline, resp)? {
                self.pool.put(conn, now);
            }
            handle(&resp.reply())
        };
        RESPONSE.with(|cell| match cell.try_borrow_mut() {
            Ok(mut resp) => {
                let result = run(&mut resp);
                if resp.body.capacity() > KEPT_BODY_CAPACITY {
                    resp.body = Vec::new();
                }
                result
            }
            // Re-entered from a callback on this thread: buffers of its own.
            Err(_) => run(&mut Response::default()),
        })
    }

    fn dial(&self, deadline: &Deadline) -> Result<Connection, Error> {
        self.dialer
            .dial(deadline.at)
            .map_err(|e| http::failure(e, deadline))
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
fn host_header(base_url: &str) -> &str {
    let authority = base_url.split_once("://").map_or(base_url, |(_, a)| a);
    authority
        .strip_suffix(":443")
        .filter(|_| base_url.starts_with("https:"))
        .or_else(|| {
            authority
                .strip_suffix(":80")
                .filter(|_| base_url.starts_with("http:"))
        })
        .unwrap_or(authority)
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
