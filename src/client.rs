//! The client: a [`Config`] applied once, the `task_check` call, its
//! retries, and the managed tenant_access_token. HTTP is [`Http`]'s.

use std::time::{Duration, Instant};

use crate::api::{self, IssuedToken, TaskStatus};
use crate::config::{Config, LogLevel, Logger};
use crate::error::{Error, Kind};
use crate::http::{Deadline, Http, Response};
use crate::retry::{self, Verdict};
use crate::token::{Credentials, TokenCache, wipe};

pub use crate::http::USER_AGENT;

/// Platform codes that mean "this tenant/app access token is no good".
const STALE_TOKEN_CODES: [i32; 2] = [99991663, 99991664];

/// An immutable, thread-safe client; all calls share one connection pool.
pub struct Client {
    http: Http,
    /// `{base}/open-apis/drive/v1/files/task_check?task_id=`: the task id follows.
    check_url: String,
    /// `{base}/open-apis/auth/v3/tenant_access_token/internal`.
    token_url: String,
    timeout: Duration,
    max_retries: u32,
    logger: Option<Logger>,
    /// The managed token, when the client has app credentials.
    tokens: Option<TokenCache>,
}

impl Client {
    pub fn new(config: &Config) -> Result<Client, Error> {
        Ok(Client {
            http: Http::new(config)?,
            check_url: format!("{}{}?task_id=", config.base_url, api::TASK_CHECK_PATH),
            token_url: format!("{}{}", config.base_url, api::TOKEN_PATH),
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
        let mut url = String::with_capacity(self.check_url.len() + 3 * task_id.len());
        url.push_str(&self.check_url);
        api::push_query_value(&mut url, task_id);
        let mut auth = String::with_capacity(7 + token.len());
        auth.push_str("Bearer ");
        auth.push_str(token);
        let result = self.with_retries("GET", api::TASK_CHECK_PATH, deadline, |deadline| {
            let response = self.http.get(&url, &auth, deadline)?;
            self.classify(&response, api::classify)
        });
        wipe(&mut auth.into_bytes());
        result
    }

    /// Fetches a tenant_access_token for `credentials`, retried as the policy
    /// allows. The request body holding the secret is wiped once ureq has
    /// sent it (ureq's copy in the connection's output buffer is not).
    fn fetch_token(
        &self,
        credentials: &Credentials,
        deadline: Instant,
    ) -> Result<IssuedToken, Error> {
        self.with_retries("POST", api::TOKEN_PATH, deadline, |deadline| {
            let mut body =
                api::token_request_body(&credentials.app_id, credentials.app_secret.expose());
            let response = self.http.post_json(&self.token_url, &body, deadline);
            wipe(&mut body);
            self.classify(&response?, api::classify_token)
        })
        .map_err(|mut e| {
            e.message = format!("tenant_access_token request failed: {}", e.message);
            e
        })
    }

    /// Classifies a response, keeping its log id for the log on success.
    fn classify<T>(
        &self,
        response: &Response,
        classify: impl FnOnce(&api::Reply<'_>) -> Result<T, Error>,
    ) -> Result<(T, Option<String>), Error> {
        let reply = response.reply();
        let value = classify(&reply)?;
        // Copied only when someone logs it.
        let log_id = self
            .logger
            .as_ref()
            .and(reply.log_id)
            .map(crate::error::clean_log_id);
        Ok((value, log_id))
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
