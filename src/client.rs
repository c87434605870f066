//! The client: a [`Config`] applied once, the `task_check` call, its
//! retries, and the managed tenant_access_token. HTTP is [`Http`]'s.
//!
//! What a client changes as it works (connections, the token, the rate-limit
//! queue and gate) belongs to one process ([`PerProcess`]): a forked child
//! builds its own on its first call and never waits on a lock or a fetch of
//! its parent's threads.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::api::{self, IssuedToken, TaskStatus};
use crate::cancel::{self, Cancel};
use crate::config::{Config, LogLevel, Logger, RateLimit};
use crate::error::{Error, Kind, Retry};
use crate::http::{self, Deadline, Http, Response};
use crate::limit::{Gate, Lanes, Limiter, Refused};
use crate::process::{self, PerProcess};
use crate::retry::{self, Verdict};
use crate::secret::{Credentials, wipe};
use crate::token::TokenCache;

pub use crate::http::USER_AGENT;

/// Platform codes that mean "this tenant/app access token is no good".
const STALE_TOKEN_CODES: [i32; 2] = [99991663, 99991664];

/// The platform's "rate limited" code.
const RATE_LIMITED: i32 = 99991400;

/// The longest a reset advised by the platform holds a token back (a bogus
/// `x-ogw-ratelimit-reset` must not block a token for days).
const MAX_GATE_HOLD: Duration = Duration::from_secs(3600);

/// An immutable, thread-safe client; all calls of a process share one
/// connection pool.
pub struct Client {
    /// How the HTTP side of each process is built.
    http: Arc<http::Settings>,
    /// `scheme://host[:port]`: a write's path follows.
    base_url: String,
    /// `{base}/open-apis/drive/v1/files/task_check?task_id=`: the task id follows.
    check_url: String,
    /// `{base}/open-apis/auth/v3/tenant_access_token/internal`.
    token_url: String,
    timeout: Duration,
    max_retries: u32,
    logger: Option<Logger>,
    /// App credentials for the managed token, if any.
    credentials: Option<Credentials>,
    /// The caller's declared budget for task_check requests, if any.
    rate_limit: Option<RateLimit>,
    /// Whether the platform's announced resets are kept (see [`Client::without_learned_gate`]).
    learned_gate: bool,
    /// What the calls of one process share.
    local: PerProcess<Local>,
}

/// The state of a client in one process.
struct Local {
    http: Http,
    /// The managed token, when the client has app credentials.
    tokens: Option<TokenCache>,
    /// The caller's declared budget for task_check requests, if any.
    limiter: Option<Limiter>,
    /// The resets the platform announced, per token (`None`: not kept).
    gate: Option<Gate>,
    /// The writes' lanes: one at a time per token, [`WRITE_LIMIT`].
    lanes: Lanes,
    /// The resets the platform announced for the writes, per token (a
    /// limit of the write API, not of task_check).
    write_gate: Gate,
}

/// The platform's limit on the writes (move, delete): 5 per second.
const WRITE_LIMIT: RateLimit = RateLimit {
    max: 5,
    per: Duration::from_secs(1),
};

impl Client {
    pub fn new(config: &Config) -> Result<Client, Error> {
        let mut client = Client {
            http: Arc::new(http::Settings::new(config)?),
            base_url: config.base_url.clone(),
            check_url: format!("{}{}?task_id=", config.base_url, api::TASK_CHECK_PATH),
            token_url: format!("{}{}", config.base_url, api::TOKEN_PATH),
            timeout: config.timeout,
            max_retries: config.max_retries,
            logger: config.logger.clone(),
            credentials: config.credentials.clone(),
            rate_limit: config.rate_limit.filter(|l| l.max > 0),
            learned_gate: true,
            local: PerProcess::new(),
        };
        client.local = PerProcess::with(client.fresh_local(None));
        Ok(client)
    }

    /// The client without the learned gate: each call handles its own 429s.
    /// Only to measure what the gate is worth (bench/rate_limit.rs).
    #[doc(hidden)]
    pub fn without_learned_gate(mut self) -> Client {
        self.learned_gate = false;
        self.local = PerProcess::with(self.fresh_local(None));
        self
    }

    /// State for a process that has none yet: new connections, queue and
    /// gate; the token of the `parent` process, when it can be had without
    /// waiting.
    fn fresh_local(&self, parent: Option<&Local>) -> Local {
        let tokens = self.credentials.clone().map(|credentials| {
            let inherited = parent.and_then(|p| p.tokens.as_ref()?.current_now());
            TokenCache::with_token(credentials, inherited)
        });
        Local {
            http: Http::new(self.http.clone()),
            tokens,
            limiter: self.rate_limit.map(Limiter::new),
            gate: self.learned_gate.then(Gate::default),
            lanes: Lanes::new(WRITE_LIMIT),
            write_gate: Gate::default(),
        }
    }

    /// This process's state.
    fn local(&self) -> process::Local<'_, Local> {
        self.local.get(|parent| self.fresh_local(parent))
    }

    /// Asks for the status of `task_id`, with `token`, or with the client's
    /// managed tenant_access_token when `token` is `None`. Inputs are
    /// validated first (invalid input sends nothing); transient failures are
    /// retried; everything ends by the deadline.
    pub fn task_check(&self, token: Option<&[u8]>, task_id: &[u8]) -> Result<TaskStatus, Error> {
        self.task_check_by(token, task_id, Instant::now() + self.timeout, None)
    }

    /// [`Client::task_check`] ending by `deadline` (a wait gives each poll the
    /// client's call timeout, cut to what is left of the wait), its sleeps
    /// (between attempts, in the rate limiter's queue, at the gate) cut short
    /// by `cancel`.
    pub fn task_check_by(
        &self,
        token: Option<&[u8]>,
        task_id: &[u8],
        deadline: Instant,
        cancel: Option<&Cancel>,
    ) -> Result<TaskStatus, Error> {
        let task_id = api::check_task_id(task_id)?;
        let token = token.map(api::check_token).transpose()?;
        self.with_token(token, deadline, cancel, |token, _, call| {
            self.check_with(token, task_id, call)
        })
    }

    /// Moves `file_token` (of `file_type`) into the folder `folder_token`,
    /// with `token` or the managed token. `Some(task id)` when the platform
    /// started a task (a folder), `None` when it finished at once.
    pub fn move_item(
        &self,
        token: Option<&[u8]>,
        file_token: &[u8],
        file_type: &[u8],
        folder_token: &[u8],
    ) -> Result<Option<String>, Error> {
        let write = api::Write::Move {
            file_token: api::check_file_token(file_token, "file_token")?,
            file_type: api::check_file_type(file_type)?,
            folder_token: api::check_file_token(folder_token, "folder_token")?,
        };
        self.write(token, &write)
    }

    /// Deletes `file_token` (of `file_type`; it goes to the recycle bin), as
    /// [`Client::move_item`] does.
    pub fn delete_item(
        &self,
        token: Option<&[u8]>,
        file_token: &[u8],
        file_type: &[u8],
    ) -> Result<Option<String>, Error> {
        let write = api::Write::Delete {
            file_token: api::check_file_token(file_token, "file_token")?,
            file_type: api::check_file_type(file_type)?,
        };
        self.write(token, &write)
    }

    fn write(&self, token: Option<&[u8]>, write: &api::Write<'_>) -> Result<Option<String>, Error> {
        let token = token.map(api::check_token).transpose()?;
        let deadline = Instant::now() + self.timeout;
        self.with_token(token, deadline, None, |token, managed, call| {
            self.write_with(token, managed, write, call)
        })
    }

    /// Runs `send` with `token`, or with the client's managed token, which is
    /// replaced once (and `send` run once more) when the platform rejects
    /// it. `send` is told whether the token is the managed one.
    fn with_token<T>(
        &self,
        token: Option<&str>,
        deadline: Instant,
        cancel: Option<&Cancel>,
        send: impl Fn(&str, bool, &Call<'_>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let local = self.local();
        let call = Call {
            deadline,
            cancel,
            local: &local,
        };
        if let Some(token) = token {
            return send(token, false, &call);
        }
        let Some(tokens) = &local.tokens else {
            return Err(Error::invalid(
                "token is NULL and the client has no app credentials to fetch one",
            ));
        };
        let fetch = |c: &Credentials| self.fetch_token(c, &call);
        let token = tokens.get(deadline, cancel, fetch)?;
        match send(token.value(), true, &call) {
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
                let token = tokens.get(deadline, cancel, fetch)?;
                send(token.value(), true, &call)
            }
            other => other,
        }
    }

    /// One write with a validated token: in the token's lane (no other write
    /// of it at the same time, at most 5 starting per second), past the
    /// platform's announced reset, retried only where the platform cannot
    /// have acted on it.
    fn write_with(
        &self,
        token: &str,
        managed: bool,
        write: &api::Write<'_>,
        call: &Call<'_>,
    ) -> Result<Option<String>, Error> {
        let local = call.local;
        let mut url = self.base_url.clone();
        url.push_str(&write.path());
        let body = write.body();
        let mut auth = bearer(token);
        let key = local.write_gate.key(token);
        // The managed token is one tenant's whatever its text: one lane.
        let lane_key = if managed { 0 } else { key };
        let (method, path) = (write.method(), write.log_path());
        let lane = local
            .lanes
            .enter(lane_key, call.deadline, call.cancel)
            .map_err(|why| self.write_refused(why, method, path))?;
        let result = self.with_retries(method, path, call, |deadline| {
            self.wait_for_gate(Some(&local.write_gate), key, deadline, call.cancel)?;
            lane.start(deadline.at, call.cancel)
                .map_err(|why| self.write_refused(why, method, path))?;
            let outcome = local
                .http
                .write(&url, &auth, body.as_deref(), deadline)
                .and_then(|response| self.classify(&response, api::classify_write))
                .map_err(|e| match e.retry {
                    // A server error once the request arrived: it may have
                    // acted before it failed.
                    Retry::Transient if e.http_status != 0 => http::may_have_been_applied(e),
                    _ => e,
                });
            learn(Some(&local.write_gate), key, &outcome);
            outcome
        });
        drop(lane);
        wipe(&mut auth);
        // The note stays last, after what the retries appended.
        result.map_err(|e| match e.message.contains(http::MAY_HAVE_BEEN_APPLIED) {
            true => http::may_have_been_applied(e),
            false => e,
        })
    }

    /// The error of a write that its lane did not let start; nothing sent.
    fn write_refused(&self, why: Refused, method: &str, path: &str) -> Error {
        match why {
            Refused::Cancelled => {
                cancelled("while waiting for the token's previous write; not sent")
            }
            Refused::Deadline { free_at } => {
                let mut e = Error::new(
                    Kind::Timeout,
                    format!(
                        "{method} {path}: the platform's write limits (one write per token at a time, {}) left no start before the call's deadline; not sent",
                        WRITE_LIMIT
                    ),
                )
                .retry(Retry::RateLimited);
                e.retry_after_ms = free_at.map_or(0, |at| ms_u32(at - Instant::now().min(at)));
                e
            }
        }
    }

    /// One task_check with a validated token, retried as the policy allows.
    fn check_with(&self, token: &str, task_id: &str, call: &Call<'_>) -> Result<TaskStatus, Error> {
        let mut url = String::with_capacity(self.check_url.len() + 3 * task_id.len());
        url.push_str(&self.check_url);
        api::push_encoded(&mut url, task_id);
        let mut auth = bearer(token);
        let local = call.local;
        let key = local.gate.as_ref().map_or(0, |g| g.key(token));
        let result = self.with_retries("GET", api::TASK_CHECK_PATH, call, |deadline| {
            self.hold_back(key, deadline, call)?;
            let outcome = local
                .http
                .get(&url, &auth, deadline)
                .and_then(|response| self.classify(&response, api::classify));
            learn(local.gate.as_ref(), key, &outcome);
            outcome
        });
        wipe(&mut auth);
        result
    }

    /// Before a task_check is sent: waits out a reset the platform announced
    /// for this token (the gate), then for a start within the declared budget
    /// (the limiter), each only as long as the deadline allows and `cancel`
    /// does not stop it; and again if the gate closed while the call was
    /// queued (the start it took is forfeited). Nothing is sent when it fails.
    fn hold_back(&self, key: u64, deadline: &Deadline, call: &Call<'_>) -> Result<(), Error> {
        let (local, cancel) = (call.local, call.cancel);
        loop {
            self.wait_for_gate(local.gate.as_ref(), key, deadline, cancel)?;
            let Some(limiter) = &local.limiter else {
                return Ok(());
            };
            self.wait_for_limiter(limiter, deadline, cancel)?;
            let still_open = local
                .gate
                .as_ref()
                .is_none_or(|g| g.reopens(key, Instant::now()).is_none());
            if still_open {
                return Ok(());
            }
        }
    }

    /// Waits until the platform's reset for this token has passed, if it
    /// passes before the deadline; otherwise refuses with 99991400 at once.
    fn wait_for_gate(
        &self,
        gate: Option<&Gate>,
        key: u64,
        deadline: &Deadline,
        cancel: Option<&Cancel>,
    ) -> Result<(), Error> {
        let now = Instant::now();
        let Some(reopens) = gate.and_then(|g| g.reopens(key, now)) else {
            return Ok(());
        };
        let left = reopens - now;
        if reopens >= deadline.at {
            let mut e = Error::new(
                Kind::Platform(RATE_LIMITED),
                format!(
                    "rate limited: the platform's reset for this token (x-ogw-ratelimit-reset) is {} ms away, past the call's deadline; not sent",
                    ceil_ms(left)
                ),
            )
            // A wait with time left sleeps until the reset, as after a 429.
            .retry(Retry::RateLimited);
            e.retry_after_ms = ms_u32(left);
            return Err(e);
        }
        self.log(LogLevel::Warn, || {
            format!(
                "GET {}: waiting {} ms before sending: the platform rate-limited this token (x-ogw-ratelimit-reset)",
                api::TASK_CHECK_PATH,
                ceil_ms(left)
            )
        });
        if cancel::sleep(cancel, left) {
            return Err(cancelled(
                "while waiting for the platform's rate-limit reset; not sent",
            ));
        }
        Ok(())
    }

    /// Takes a start within the declared budget, queued in arrival order.
    fn wait_for_limiter(
        &self,
        limiter: &Limiter,
        deadline: &Deadline,
        cancel: Option<&Cancel>,
    ) -> Result<(), Error> {
        let queued = Instant::now();
        match limiter.acquire(deadline.at, cancel) {
            Ok(start) => {
                let waited = start - queued;
                if waited >= Duration::from_millis(1) {
                    self.log(LogLevel::Info, || {
                        format!(
                            "GET {}: waited {} ms for the client's rate limit ({})",
                            api::TASK_CHECK_PATH,
                            waited.as_millis(),
                            limiter.limit()
                        )
                    });
                }
                Ok(())
            }
            Err(Refused::Cancelled) => Err(cancelled(
                "while queued for the client's rate limit; not sent",
            )),
            Err(Refused::Deadline { free_at }) => {
                let mut e = Error::new(
                    Kind::Timeout,
                    format!(
                        "the client's rate limit ({}) left no start before the call's deadline; not sent",
                        limiter.limit()
                    ),
                )
                // A wait with time left sleeps until a start is free.
                .retry(Retry::RateLimited);
                e.retry_after_ms = free_at.map_or(0, |at| ms_u32(at - Instant::now().min(at)));
                Err(e)
            }
        }
    }

    /// Fetches a tenant_access_token for `credentials`, retried as the policy
    /// allows. The request body holding the secret is wiped once ureq has
    /// sent it (ureq's copy in the connection's output buffer is not).
    fn fetch_token(
        &self,
        credentials: &Credentials,
        call: &Call<'_>,
    ) -> Result<IssuedToken, Error> {
        self.with_retries("POST", api::TOKEN_PATH, call, |deadline| {
            let mut body =
                api::token_request_body(&credentials.app_id, credentials.app_secret.expose());
            let response = call.local.http.post_json(&self.token_url, &body, deadline);
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
        call: &Call<'_>,
        mut attempt: impl FnMut(&Deadline) -> Result<(T, Option<String>), Error>,
    ) -> Result<T, Error> {
        let deadline = Deadline {
            at: call.deadline,
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
                    if cancel::sleep(call.cancel, delay) {
                        let why = format!("while waiting to retry (after {number} attempts)");
                        return Err(cancelled(&why));
                    }
                    number += 1;
                }
                Verdict::GiveUp(why) => {
                    let mut err = with_attempts(err, number);
                    // The deadline, not the failure, ended it: a call with
                    // more time (sharing this one's token fetch) may go on.
                    err.cut_short |= why.by_deadline();
                    return Err(err);
                }
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
            Verdict::GiveUp(why) => (LogLevel::Error, format!("giving up: {}", why.reason())),
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

/// `Bearer {token}`, to be wiped after use.
fn bearer(token: &str) -> String {
    let mut auth = String::with_capacity(7 + token.len());
    auth.push_str("Bearer ");
    auth.push_str(token);
    auth
}

/// A rate-limit answer that advises a reset (429 or 99991400, from the
/// server: a refusal of our own has no HTTP status) closes `gate` for the
/// token of `key`.
fn learn<T>(gate: Option<&Gate>, key: u64, outcome: &Result<T, Error>) {
    if let (Err(e), Some(gate)) = (outcome, gate) {
        if e.retry == Retry::RateLimited && e.retry_after_ms > 0 && e.http_status != 0 {
            let reset = Duration::from_millis(e.retry_after_ms.into());
            gate.close(key, Instant::now() + reset.min(MAX_GATE_HOLD));
        }
    }
}

/// What a call is bounded by, and the state of its process.
struct Call<'a> {
    deadline: Instant,
    cancel: Option<&'a Cancel>,
    local: &'a Local,
}

/// The error of a call whose cancel flag stopped a sleep.
fn cancelled(when: &str) -> Error {
    Error::new(Kind::Cancelled, format!("cancelled {when}"))
}

/// Whole milliseconds, rounded up (a reset 0.4 ms away is still ahead).
fn ceil_ms(d: Duration) -> u128 {
    d.as_micros().div_ceil(1000)
}

/// [`ceil_ms`] as a `retry_after_ms`, saturated.
fn ms_u32(d: Duration) -> u32 {
    u32::try_from(ceil_ms(d)).unwrap_or(u32::MAX)
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
///
/// A client that a parent built is used by its forked children too (the
/// client keeps per-process state itself); one that a parent's thread was
/// still building at the fork is built again by the child.
pub fn with_default_client<T>(call: impl FnOnce(&Client) -> Result<T, Error>) -> Result<T, Error> {
    static DEFAULT: PerProcess<Result<Client, Error>> = PerProcess::new();
    let client = DEFAULT.get_inherited(|| Config::from_env().and_then(|c| Client::new(&c)));
    match &*client {
        Ok(client) => call(client),
        Err(e) => Err(e.clone()),
    }
}
