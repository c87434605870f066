//! A mock of the Feishu Open Platform endpoints
//! `GET /open-apis/drive/v1/files/task_check?task_id=...`,
//! `POST /open-apis/auth/v3/tenant_access_token/internal`, and the drive writes that create task
//! ids, `POST /open-apis/drive/v1/files/{file_token}/move` and
//! `DELETE /open-apis/drive/v1/files/{file_token}?type=...` (module [`drive`], `drive.rs`), for
//! the tests.
//!
//! Std only, so it can be included as a plain module:
//!
//! ```ignore
//! #[path = "support/server.rs"]
//! mod server;
//! let srv = server::Server::start();
//! // point the client at srv.base_url() ...
//! ```
//!
//! It speaks HTTP/1.1 on loopback with one thread per connection and keep-alive. What a request
//! gets back is decided, in this order:
//!
//! 1. `/_mock/...`: the admin endpoints (not counted, not recorded):
//!    - `GET /_mock/stats` -> `{"requests":N,"connections":M,"token_fetches":T,"limited":L,
//!      "writes":W,"write_conflicts":C,"write_rate_limited":R}` (L: requests answered 429 by
//!      the window limit; W: drive writes received; C / R: writes answered 1061045 because
//!      another write with the token was in progress / over the writes-per-second limit);
//!    - `POST /_mock/window?limit=N`: sets the window limit (0: off) -> `{"ok":true}`;
//!    - `POST /_mock/drive?task_ms=N&write_ms=M&write_limit=K` (any of them, at least one):
//!      the folder task duration, the write latency and the writes per token per second (0:
//!      no rate limit), see [`drive`] -> `{"ok":true}` (a bad value -> 400, nothing changed);
//!    - `POST /_mock/reset`: counters, recorded requests, sequences (task ids' and file
//!      tokens'), timed tasks (folder tasks included), issued tokens and scripted token replies
//!      (registered apps, the token settings and the drive settings stay);
//!    - `GET /_mock/requests`: the recorded requests as JSON (a write's body included);
//!    - `POST /_mock/revoke`: every token issued so far becomes invalid -> `{"ok":true}`;
//!    - `POST /_mock/app?app_id=X&app_secret=Y[&expire=S]`: registers (or re-registers) an app
//!      and, with `expire`, sets the lifetime of tokens issued from now on -> `{"ok":true}`
//!      (values percent-decoded; a missing `app_id`/`app_secret` or a bad `expire` -> 400).
//! 2. `POST /open-apis/auth/v3/tenant_access_token/internal`: the token endpoint, see
//!    [`Server::add_app`]. Its body (at most [`MAX_TOKEN_BODY`] bytes) is read and parsed; the
//!    answer is, in this order: after [`Server::set_token_delay`], the next reply queued by
//!    [`Server::set_token_replies`]; 400 / 9499 unless the `Content-Type` starts with
//!    `application/json` and the body is a JSON object whose `app_id` and `app_secret` are
//!    strings; 400 / 10003 for an unknown app; 400 / 10014 for a wrong secret; else 200
//!    `{"code":0,"msg":"ok","tenant_access_token":"t-<app_id>-<n>","expire":<secs>}`.
//! 3. `POST /open-apis/drive/v1/files/{file_token}/move` and
//!    `DELETE /open-apis/drive/v1/files/{file_token}` (one non-empty path segment, percent-decoded):
//!    the drive writes, answered by [`drive`] in this order: counted; the auth of step 5;
//!    per token, no concurrent write and at most 5 in any 1 s (sliding), else 400 / 1061045
//!    `retry later`; held for the write latency (default 20 ms); the `type` (lowercase letters
//!    and `_`; a move: a JSON body with it and a `folder_token`) else 400 / 1061002; the next
//!    reply queued by [`Server::set_write_sequence`]; the names of
//!    [`drive::write_reply_by_name`] (`err-1061003`, `reset`, ...); else success: a `folder`
//!    gets a new 19-digit task id that task_check shows as `process` for the task duration
//!    (default 300 ms), then `success` (a folder moved in place, token containing `inplace`,
//!    and every other type: done at once, `{"code":0,"msg":"success","data":{}}`).
//! 4. Anything but `GET /open-apis/drive/v1/files/task_check` -> 404 `{"code":404,"msg":"page not found"}`.
//! 5. No `Authorization: Bearer <token>` (or an empty token) -> 400 / 99991661; a token this
//!    server issued that was revoked or is older than its `expire`, or the token `t-expired`
//!    -> 400 / 99991663. Tokens the server did not issue are accepted.
//! 6. With a window limit set ([`Server::set_window_limit`], `POST /_mock/window?limit=N`), the
//!    gateway's rate limit: at most N task_check requests per token in each fixed 1 s window
//!    (counted from the server's start); over it, 429 / 99991400 with `x-ogw-ratelimit-reset`,
//!    the whole seconds left in the window (at least 1).
//! 7. No `task_id` query parameter, or an empty one -> 400 / 1061002.
//! 8. The next reply queued by [`Server::set_sequence`] for that task id, if any; then a timed
//!    task ([`Server::set_timed_task`], `after-<N>ms`, a folder task of step 3).
//! 9. The name-based default of [`default_reply`], so a C program can script the server just by
//!    choosing task ids (the table is on [`default_reply`]).
//!
//! Every response except [`Reply::Reset`] and [`Reply::Stall`] carries a fresh, process-wide
//! unique `X-Tt-Logid` (30 digits); error bodies repeat it as `"error":{"log_id":"..."}`.
//! Malformed requests get 400 (431 for a head over 64 KiB) and the connection is closed; they
//! are not counted as requests. The server never panics on what a peer sends.

#![allow(dead_code)]

// Included here rather than by each test crate, so this file stays self-contained. A crate
// that includes several of server.rs, proxy.rs and tls.rs (tests/tls_proxy.rs) compiles one
// private copy per includer; none of its types cross from one to another.
#[allow(clippy::duplicate_mod)]
#[path = "listener.rs"]
mod listener;

// The drive write calls (move, delete): their state, answers, admin endpoint and `Server`
// methods. A child module, so it uses this file's private items.
#[path = "drive.rs"]
pub mod drive;

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use listener::{Connections, Listener, Settings};

/// The one endpoint that serves tasks.
pub const TASK_CHECK_PATH: &str = "/open-apis/drive/v1/files/task_check";
/// The token endpoint for self-built apps.
pub const TOKEN_PATH: &str = "/open-apis/auth/v3/tenant_access_token/internal";
/// Largest token request body that is read; a larger one gets 400 / 9499 and a close.
pub const MAX_TOKEN_BODY: usize = 64 * 1024;
/// Lifetime of issued tokens until [`Server::set_token_expire`] says otherwise.
pub const DEFAULT_TOKEN_EXPIRE: u64 = 7200;
/// `msg` of code 9499 (a token request that is not well-formed).
pub const MSG_BAD_REQUEST: &str = "Bad Request";
/// `msg` of code 10003 (unknown app_id).
pub const MSG_INVALID_PARAM: &str = "invalid param";
/// `msg` of code 10014 (wrong app_secret).
pub const MSG_APP_SECRET_INVALID: &str = "app secret invalid";
/// Largest accepted request head (request line + headers); larger gets 431 and a close.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// `msg` of code 99991661.
pub const MSG_MISSING_TOKEN: &str =
    "Missing access token for authorization. Please make a request with token attached.";
/// `msg` of code 99991663.
pub const MSG_INVALID_TOKEN: &str =
    "Invalid access token for authorization. Please make a request with token attached.";
/// `msg` of code 99991400.
pub const MSG_RATE_LIMITED: &str = "request trigger frequency limit";
/// Value of `x-ogw-ratelimit-limit` on a 429.
pub const RATE_LIMIT_CAP: u64 = 5;
/// `Location` of [`Reply::Redirect`] (port 9, where nothing listens).
pub const REDIRECT_LOCATION: &str = "http://127.0.0.1:9/elsewhere";
/// Body of [`Reply::Html`].
pub const HTML_BODY: &str = "<html><body><h1>502 Bad Gateway</h1></body></html>";
/// Body of [`Reply::Garbage`].
pub const GARBAGE_BODY: &str = "this is not json";
/// Body of a success reply with status `success`.
pub const SUCCESS_BODY: &str = r#"{"code":0,"msg":"success","data":{"status":"success"}}"#;
/// Body of the 404 for unknown paths.
pub const PAGE_NOT_FOUND_BODY: &str = r#"{"code":404,"msg":"page not found"}"#;
/// How many `a`s [`Reply::Oversized`] puts in `msg` (the body is this plus 19 bytes).
pub const OVERSIZED_FILL: usize = 2 * 1024 * 1024;
/// Nesting depth of [`Reply::DeepJson`].
pub const DEEP_JSON_DEPTH: usize = 100_000;
/// `Content-Length` that [`Reply::Truncated`] announces ...
pub const TRUNCATED_DECLARED: usize = 100;
/// ... and how many body bytes it actually sends before closing.
pub const TRUNCATED_SENT: usize = 20;
/// Longest a [`Reply::Stall`] holds its connection.
pub const STALL_LIMIT: Duration = Duration::from_secs(120);

const JSON: &str = "application/json; charset=utf-8";
/// Read timeout of every socket: how often a blocked handler looks at the stop flag.
const POLL: Duration = Duration::from_millis(50);
/// A peer that stops reading a response gets dropped after this.
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long `stop()` waits for the threads before leaving them behind.
const JOIN_DEADLINE: Duration = Duration::from_secs(2);
/// How long a close waits for the peer's FIN (so it does not get a RST over unread data).
const LINGER: Duration = Duration::from_secs(1);
const MAX_CHUNK_LINE: usize = 4096;
/// Deepest nesting the token body's JSON reader accepts.
const MAX_JSON_DEPTH: usize = 64;
/// Thread names and stop timing of the server's listener.
const LISTENER: Settings = Settings {
    accept_thread: "mock-feishu-accept",
    connection_thread: "mock-feishu-conn",
    wake_timeout: Duration::from_millis(500),
    stop_deadline: JOIN_DEADLINE,
};

/// What the server answers to one task_check request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// 200, `{"code":0,"msg":"success","data":{"status":<the string>}}`.
    Status(String),
    /// Error envelope `{"code":code,"msg":msg,"error":{"log_id":...}}` with HTTP status `http`.
    Platform { http: u16, code: i64, msg: String },
    /// 429, code 99991400, `x-ogw-ratelimit-limit: 5`, `x-ogw-ratelimit-reset: reset_secs`.
    RateLimited { reset_secs: u64 },
    /// `text/html` body [`HTML_BODY`] with that status.
    Html(u16),
    /// 302 to [`REDIRECT_LOCATION`], empty body.
    Redirect,
    /// 200, `Content-Type: application/json`, body [`GARBAGE_BODY`].
    Garbage,
    /// That status, JSON content type, this exact body and its Content-Length.
    Raw { status: u16, body: Vec<u8> },
    /// 200 with a well-formed JSON body a little over 2 MiB, sent with Content-Length.
    Oversized,
    /// The same body with `Transfer-Encoding: chunked` (64 KiB chunks), no Content-Length.
    OversizedChunked,
    /// The body of `Status` with `Transfer-Encoding: chunked` in 7-byte chunks (the first
    /// with a chunk extension) and a trailer field; keep-alive as usual.
    Chunked(String),
    /// 200, body of 100 000 `[` then 100 000 `]`.
    DeepJson,
    /// Reads the request, then closes without a byte of response. Std has no stable way to
    /// set SO_LINGER 0, so this is `shutdown(Both)` + close: the peer sees an EOF (FIN), not a
    /// RST; either way a client has to report "connection closed before a response".
    Reset,
    /// Headers with `Content-Length: 100`, 20 bytes of body, then a close.
    Truncated,
    /// Reads the request, sends nothing; holds the socket until the peer closes it, the server
    /// stops, or [`STALL_LIMIT`] passes.
    Stall,
    /// A complete success response (head and body, about 210 bytes) written one byte at a
    /// time, `interval_ms` apart: at 200 ms that is about 40 s in all. Each byte arrives well
    /// within any per-read timeout; only a deadline on the whole call catches it.
    Trickle { interval_ms: u64 },
    /// 200 with `Content-Length: 0`.
    Empty,
    /// The inner reply with no log id anywhere: no `X-Tt-Logid` header, and error bodies
    /// without their `"error":{"log_id":...}` object.
    NoLogid(Box<Reply>),
    /// The inner reply without the `X-Tt-Logid` header, but error bodies keep `error.log_id`.
    NoLogidHeader(Box<Reply>),
    /// The inner reply, sent after waiting `ms` milliseconds (a slow server).
    Delayed { ms: u64, reply: Box<Reply> },
}

impl Reply {
    /// `Reply::Status(status.to_owned())`.
    pub fn status(status: &str) -> Reply {
        Reply::Status(status.to_owned())
    }

    /// `Reply::Platform { .. }` from borrowed parts.
    pub fn platform(http: u16, code: i64, msg: &str) -> Reply {
        Reply::Platform {
            http,
            code,
            msg: msg.to_owned(),
        }
    }

    /// HTTP 200 with this exact JSON text as the body.
    pub fn json(body: &str) -> Reply {
        Reply::Raw {
            status: 200,
            body: body.as_bytes().to_vec(),
        }
    }

    /// 404 / 1061003 / `not found.`
    pub fn not_found() -> Reply {
        Reply::platform(404, 1061003, "not found.")
    }

    /// Whether the response carries the `X-Tt-Logid` header.
    fn sends_logid_header(&self) -> bool {
        if let Reply::Delayed { reply, .. } = self {
            return reply.sends_logid_header();
        }
        !matches!(
            self,
            Reply::Reset | Reply::Stall | Reply::NoLogid(_) | Reply::NoLogidHeader(_)
        )
    }

    /// Whether the response body carries `error.log_id`.
    fn sends_logid_in_body(&self) -> bool {
        match self {
            Reply::Platform { .. } | Reply::RateLimited { .. } => true,
            Reply::NoLogidHeader(inner) => inner.sends_logid_in_body(),
            Reply::Delayed { reply, .. } => reply.sends_logid_in_body(),
            _ => false,
        }
    }
}

/// The name-based reply for a task id that has no queued sequence.
///
/// | task_id | reply |
/// |---|---|
/// | all ASCII digits, or `success` | `Status("success")` |
/// | `fail` / `process` | `Status("fail")` / `Status("process")` |
/// | `failed` / `pending` | `Status("failed")` / `Status("pending")` (the spellings of Feishu's CLI) |
/// | `status-unknown` | `Status("finished")` |
/// | `missing-data` | 200 `{"code":0,"msg":"success"}` |
/// | `wrong-type` | 200 `{"code":0,"msg":"success","data":{"status":3}}` |
/// | `err-1061001` / `err-1061002` / `err-1061003` | 500 / 400 / 404 platform errors |
/// | `token-expired` / `token-expired-400` | 200 / 400 with code 99991663 |
/// | `rate-limited` / `rate-limited-1s` | `RateLimited { reset_secs: 3 }` / `{ reset_secs: 1 }` |
/// | `code-negative` / `code-huge` / `code-string` / `code-float` | 200 with `code` -5 / 4294967296 / `"1061003"` / 1.5 |
/// | `html-502`, `redirect`, `garbage`, `oversized`, `oversized-chunked`, `deep-json`, `reset`, `truncated`, `stall`, `empty` | the reply of that name |
/// | `chunked` | `Chunked("success")` |
/// | `trickle` | `Trickle { interval_ms: 200 }` |
/// | `nologid-1061003` | `NoLogid(404 / 1061003)` |
/// | `after-<N>ms` (e.g. `after-1500ms`) | `process` until N ms after the first request for it, then `success` |
/// | `nologid-header-1061003` | `NoLogidHeader(404 / 1061003)` |
/// | anything else (also non-UTF-8) | 404 / 1061003 / `not found.` |
pub fn default_reply(task_id: &[u8]) -> Reply {
    let Ok(name) = std::str::from_utf8(task_id) else {
        return Reply::not_found();
    };
    if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
        return Reply::status("success");
    }
    match name {
        "success" | "fail" | "process" | "failed" | "pending" => Reply::status(name),
        "status-unknown" => Reply::status("finished"),
        "missing-data" => Reply::json(r#"{"code":0,"msg":"success"}"#),
        "wrong-type" => Reply::json(r#"{"code":0,"msg":"success","data":{"status":3}}"#),
        "err-1061001" => Reply::platform(500, 1061001, "internal error."),
        "err-1061002" => Reply::platform(400, 1061002, "params error."),
        "err-1061003" => Reply::not_found(),
        "token-expired" => Reply::platform(200, 99991663, MSG_INVALID_TOKEN),
        "token-expired-400" => Reply::platform(400, 99991663, MSG_INVALID_TOKEN),
        "rate-limited" => Reply::RateLimited { reset_secs: 3 },
        "rate-limited-1s" => Reply::RateLimited { reset_secs: 1 },
        "code-negative" => Reply::json(r#"{"code":-5,"msg":"negative"}"#),
        "code-huge" => Reply::json(r#"{"code":4294967296,"msg":"huge"}"#),
        "code-string" => Reply::json(r#"{"code":"1061003","msg":"string"}"#),
        "code-float" => Reply::json(r#"{"code":1.5,"msg":"float"}"#),
        "html-502" => Reply::Html(502),
        "redirect" => Reply::Redirect,
        "garbage" => Reply::Garbage,
        "oversized" => Reply::Oversized,
        "oversized-chunked" => Reply::OversizedChunked,
        "chunked" => Reply::Chunked("success".to_owned()),
        "deep-json" => Reply::DeepJson,
        "reset" => Reply::Reset,
        "truncated" => Reply::Truncated,
        "stall" => Reply::Stall,
        "trickle" => Reply::Trickle { interval_ms: 200 },
        "empty" => Reply::Empty,
        "nologid-1061003" => Reply::NoLogid(Box::new(Reply::not_found())),
        "nologid-header-1061003" => Reply::NoLogidHeader(Box::new(Reply::not_found())),
        _ => Reply::not_found(),
    }
}

/// One request as the server saw it (admin requests and malformed ones are not recorded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    pub method: String,
    /// The path without the query (an absolute-form target is reduced to its path).
    pub path: String,
    /// Everything after the first `?`, as sent.
    pub raw_query: String,
    /// The percent-decoded bytes of the first `task_id` parameter. Only `%XX` decodes; `+`
    /// stays `+`; a `%` not followed by two hex digits stays as it is.
    pub task_id: Option<Vec<u8>>,
    /// Raw, undecoded `(name, value)` pairs: split on `&` (empty pieces skipped), then on the
    /// first `=` (a piece without `=` gives an empty value).
    pub query_params: Vec<(String, String)>,
    /// All headers in order, names lowercased, values trimmed.
    pub headers: Vec<(String, String)>,
    /// The body of a drive write (move, delete) as read, empty if it had none; `None` for other
    /// requests and for a write body over [`MAX_TOKEN_BODY`] (not kept).
    pub body: Option<Vec<u8>>,
    /// The log id the response carried (header and/or body); `None` for replies without one
    /// (`Reset`, `Stall`, `NoLogid`).
    pub logid: Option<String>,
}

impl Recorded {
    /// The first value of a header (name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header (name in any case), in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The decoded task id as text (lossy UTF-8).
    pub fn task_id_str(&self) -> Option<String> {
        self.task_id
            .as_ref()
            .map(|id| String::from_utf8_lossy(id).into_owned())
    }
}

/// A running mock server. Dropping it stops it.
pub struct Server {
    shared: Arc<Shared>,
    /// The accept thread and the connections; dropping it stops the server. Its address is
    /// where clients connect (loopback if the socket is bound to an unspecified address).
    listener: Listener,
}

impl Server {
    /// Starts on `127.0.0.1:0` (a free port). Panics if it cannot bind.
    pub fn start() -> Server {
        Server::start_on("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("mock Feishu server: cannot bind 127.0.0.1:0: {e}"))
    }

    /// Starts on `addr` (e.g. `127.0.0.1:8080`, or port 0 for a free one).
    pub fn start_on(addr: &str) -> io::Result<Server> {
        let listener = TcpListener::bind(addr)?;
        let local = connectable(listener.local_addr()?);
        let shared = Arc::new(Shared::default());
        let for_accept = Arc::clone(&shared);
        let for_connections = Arc::clone(&shared);
        let listener = Listener::start(
            listener,
            local,
            Arc::clone(&shared.connections),
            &LISTENER,
            // Counted on the accept thread, so a connection counts as soon as it is accepted.
            move |_| for_accept.count_connection(),
            move |_, stream, epoch| serve_connection(stream, &for_connections, epoch),
        )?;
        Ok(Server { shared, listener })
    }

    /// The address to connect to.
    pub fn addr(&self) -> SocketAddr {
        self.listener.addr()
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// `base_url()` followed by `path_and_query`.
    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.base_url())
    }

    /// Requests served since the last reset (task_check and every other non-admin request).
    pub fn request_count(&self) -> usize {
        self.shared.state().requests.len()
    }

    /// TCP connections accepted since the last reset, except those whose first request was an
    /// admin request (so asking `/_mock/stats` on a new connection does not change the answer).
    pub fn connection_count(&self) -> usize {
        self.shared.state().connections
    }

    /// The recorded requests, oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.state().requests.clone()
    }

    /// The most recent recorded request.
    pub fn last_request(&self) -> Option<Recorded> {
        self.shared.state().requests.last().cloned()
    }

    /// Zeroes the counters (token fetches included) and forgets the recorded requests; keeps
    /// queued sequences, scripted token replies and issued tokens.
    pub fn reset_counters(&self) {
        self.shared.state().reset_counters();
    }

    /// `reset_counters()`, and drops every queued sequence, every scripted token reply and every
    /// issued token (so they count as tokens this server did not issue); keeps the registered
    /// apps, the token expire and the token delay. What `POST /_mock/reset` does.
    pub fn reset(&self) {
        self.shared.state().reset();
    }

    /// Queues `replies` for `task_id`, replacing any sequence it had: each request for that id
    /// takes the next one; once they are used up the id gets [`default_reply`] again. The
    /// sequence is consulted after the auth and `task_id` checks, so a request rejected there
    /// consumes nothing.
    pub fn set_sequence(&self, task_id: &str, replies: Vec<Reply>) {
        let mut state = self.shared.state();
        if replies.is_empty() {
            state.sequences.remove(task_id.as_bytes());
        } else {
            state
                .sequences
                .insert(task_id.as_bytes().to_vec(), replies.into());
        }
    }

    /// Makes `task_id` a task that runs for `after` from now: until then it answers
    /// `process`, afterwards `final_status`. A queued sequence for the id goes first.
    pub fn set_timed_task(&self, task_id: &str, after: Duration, final_status: &str) {
        self.shared.state().timed.insert(
            task_id.as_bytes().to_vec(),
            (Instant::now() + after, final_status.to_owned()),
        );
    }

    /// How many queued replies `task_id` has left.
    pub fn sequence_remaining(&self, task_id: &str) -> usize {
        self.shared
            .state()
            .sequences
            .get(task_id.as_bytes())
            .map_or(0, VecDeque::len)
    }

    /// Registers an app for the token endpoint (or changes its secret). Several apps may exist.
    pub fn add_app(&self, app_id: &str, app_secret: &str) {
        self.shared
            .state()
            .apps
            .insert(app_id.to_owned(), app_secret.to_owned());
    }

    /// The `expire` (seconds) of tokens issued from now on (default [`DEFAULT_TOKEN_EXPIRE`]);
    /// task_check rejects a token once it is that old (so 0 gives tokens that never work).
    pub fn set_token_expire(&self, secs: u64) {
        self.shared.state().token_expire = secs;
    }

    /// How long the token endpoint waits before answering (default zero). The request is
    /// counted by [`Server::token_fetches`] when it arrives, before the wait; a token is issued
    /// after it.
    pub fn set_token_delay(&self, delay: Duration) {
        self.shared.state().token_delay = delay;
    }

    /// The next token requests, in order of arrival, get these replies (front first, whatever
    /// they ask for) instead of the normal behaviour, which resumes once they are used up.
    /// Replaces any replies still queued; an empty vector clears them. Scripted replies still
    /// count as fetches, but issue no token.
    pub fn set_token_replies(&self, replies: Vec<Reply>) {
        self.shared.state().token_replies = replies.into();
    }

    /// How many scripted token replies are left.
    pub fn token_replies_remaining(&self) -> usize {
        self.shared.state().token_replies.len()
    }

    /// Requests to the token endpoint since the last reset, whatever their outcome.
    /// Sets the gateway-like window limit: at most `limit` task_check requests per token in
    /// each fixed 1 s window, 429 / 99991400 over it; 0 turns it off. What
    /// `POST /_mock/window?limit=N` does.
    pub fn set_window_limit(&self, limit: u32) {
        self.shared.set_window_limit(limit);
    }

    /// Requests the window limit answered with 429 since the last reset.
    pub fn limited(&self) -> usize {
        self.shared.state().limited
    }

    pub fn token_fetches(&self) -> usize {
        self.shared.state().token_fetches
    }

    /// Token requests since the last reset whose body is a JSON object with this `app_id` (as a
    /// string), whatever their outcome (bad content type, scripted reply, wrong secret ...).
    pub fn token_fetches_for(&self, app_id: &str) -> usize {
        self.shared
            .state()
            .token_fetches_by_app
            .get(app_id)
            .copied()
            .unwrap_or(0)
    }

    /// `(app_id, token)` of every token issued since the last `reset()`, in issue order.
    pub fn issued_tokens(&self) -> Vec<(String, String)> {
        self.shared
            .state()
            .issued
            .iter()
            .map(|t| (t.app_id.clone(), t.token.clone()))
            .collect()
    }

    /// Every token issued so far becomes invalid (task_check answers 400 / 99991663); tokens
    /// issued later are not affected. What `POST /_mock/revoke` does.
    pub fn revoke_tokens(&self) {
        self.shared.state().revoke_tokens();
    }

    /// Stops the server: no new connections, every open connection is shut down (stalled and
    /// trickling handlers wake up at once), and the threads are joined. Idempotent; also done
    /// by `Drop`.
    pub fn stop(&self) {
        self.listener.stop();
    }
}

/// Percent-decodes `%XX` sequences; everything else (including `+`) is kept as it is.
pub fn percent_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let byte = input[i];
        if byte == b'%' {
            let hi = input.get(i + 1).and_then(|&b| hex_value(b));
            let lo = input.get(i + 2).and_then(|&b| hex_value(b));
            if let (Some(hi), Some(lo)) = (hi, lo) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(byte);
        i += 1;
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Shared state
// ---------------------------------------------------------------------------------------------

struct Shared {
    /// The stopping flag (checked by every loop) and the registry of every open connection.
    connections: Arc<Connections>,
    state: Mutex<State>,
    /// When the server started: the window limit's 1 s windows count from here.
    started: Instant,
}

impl Default for Shared {
    fn default() -> Shared {
        Shared {
            connections: Arc::default(),
            state: Mutex::default(),
            started: Instant::now(),
        }
    }
}

struct State {
    requests: Vec<Recorded>,
    connections: usize,
    /// Bumped by every reset, so a connection accepted before it is not uncounted after it.
    epoch: u64,
    sequences: HashMap<Vec<u8>, VecDeque<Reply>>,
    /// Registered apps: app_id -> app_secret.
    apps: HashMap<String, String>,
    /// `expire` of the tokens issued from now on, in seconds.
    /// Tasks that say "process" until a moment, then a final status.
    timed: HashMap<Vec<u8>, (Instant, String)>,
    token_expire: u64,
    token_delay: Duration,
    token_replies: VecDeque<Reply>,
    token_fetches: usize,
    token_fetches_by_app: HashMap<String, usize>,
    /// Issued tokens in issue order ...
    issued: Vec<Issued>,
    /// ... and the index of each in `issued`.
    issued_index: HashMap<String, usize>,
    /// The `n` of the next `t-<app_id>-<n>`; never reset, so every token is new.
    next_token: u64,
    /// The window limit: requests per token per 1 s window; 0: none.
    window_limit: u32,
    /// Per token: (index of its current window, requests counted in it).
    windows: HashMap<String, (u64, u32)>,
    /// Requests the window limit answered with 429.
    limited: usize,
    /// The drive writes' state (see the `drive` module).
    drive: drive::DriveState,
}

/// A token the server issued.
struct Issued {
    app_id: String,
    token: String,
    at: Instant,
    expire: Duration,
    revoked: bool,
}

impl Default for State {
    fn default() -> State {
        State {
            requests: Vec::new(),
            connections: 0,
            epoch: 0,
            sequences: HashMap::new(),
            timed: HashMap::new(),
            apps: HashMap::new(),
            token_expire: DEFAULT_TOKEN_EXPIRE,
            token_delay: Duration::ZERO,
            token_replies: VecDeque::new(),
            token_fetches: 0,
            token_fetches_by_app: HashMap::new(),
            issued: Vec::new(),
            issued_index: HashMap::new(),
            next_token: 1,
            window_limit: 0,
            windows: HashMap::new(),
            limited: 0,
            drive: drive::DriveState::default(),
        }
    }
}

impl State {
    fn reset_counters(&mut self) {
        self.requests.clear();
        self.connections = 0;
        self.epoch += 1;
        self.token_fetches = 0;
        self.token_fetches_by_app.clear();
        self.limited = 0;
        self.windows.clear();
        self.drive.reset_counters();
    }

    fn reset(&mut self) {
        self.reset_counters();
        self.sequences.clear();
        self.timed.clear();
        self.token_replies.clear();
        self.issued.clear();
        self.issued_index.clear();
        self.drive.reset();
    }

    fn revoke_tokens(&mut self) {
        for token in &mut self.issued {
            token.revoked = true;
        }
    }

    /// Issues a new token for `app_id`; returns it with its `expire`.
    fn issue_token(&mut self, app_id: &str) -> (String, u64) {
        let token = format!("t-{app_id}-{}", self.next_token);
        self.next_token += 1;
        let expire = self.token_expire;
        self.issued_index.insert(token.clone(), self.issued.len());
        self.issued.push(Issued {
            app_id: app_id.to_owned(),
            token: token.clone(),
            at: Instant::now(),
            expire: Duration::from_secs(expire),
            revoked: false,
        });
        (token, expire)
    }

    /// Whether `token` is one this server issued that is revoked or has expired.
    fn token_invalid(&self, token: &str) -> bool {
        self.issued_index
            .get(token)
            .and_then(|&i| self.issued.get(i))
            .is_some_and(|t| t.revoked || t.at.elapsed() >= t.expire)
    }
}

impl Shared {
    fn set_window_limit(&self, limit: u32) {
        let mut state = self.state();
        state.window_limit = limit;
        state.windows.clear();
    }

    fn is_stopping(&self) -> bool {
        self.connections.is_stopping()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Sleeps for `duration` or until the server stops; true if it is stopping.
    fn wait_stop(&self, duration: Duration) -> bool {
        self.connections.wait_stop(duration)
    }

    /// Counts a newly accepted connection; returns the epoch to hand to `uncount_connection`.
    fn count_connection(&self) -> u64 {
        let mut state = self.state();
        state.connections += 1;
        state.epoch
    }

    /// The first request of a connection was an admin request: do not count the connection.
    fn uncount_connection(&self, epoch: u64) {
        let mut state = self.state();
        if state.epoch == epoch {
            state.connections = state.connections.saturating_sub(1);
        }
    }

    /// The request's bearer token, or the answer to a request without a usable one: none (or
    /// empty) -> 400 / 99991661; revoked, expired or `t-expired` -> 400 / 99991663.
    fn authorize<'h>(&self, head: &'h Head) -> Result<&'h str, Reply> {
        let token = head
            .header("authorization")
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|token| !token.is_empty());
        match token {
            None => Err(Reply::platform(400, 99991661, MSG_MISSING_TOKEN)),
            Some("t-expired") => Err(Reply::platform(400, 99991663, MSG_INVALID_TOKEN)),
            Some(token) if self.state().token_invalid(token) => {
                Err(Reply::platform(400, 99991663, MSG_INVALID_TOKEN))
            }
            Some(token) => Ok(token),
        }
    }

    /// Auth, task_id, sequence, then the name-based default.
    fn task_check_reply(&self, head: &Head, task_id: Option<&[u8]>) -> Reply {
        let token = match self.authorize(head) {
            Ok(token) => token,
            Err(reply) => return reply,
        };
        if let Some(reset_secs) = self.over_window(token) {
            return Reply::RateLimited { reset_secs };
        }
        let Some(task_id) = task_id.filter(|id| !id.is_empty()) else {
            return Reply::platform(400, 1061002, "params error.");
        };
        let queued = {
            let mut state = self.state();
            let next = state
                .sequences
                .get_mut(task_id)
                .and_then(VecDeque::pop_front);
            if state.sequences.get(task_id).is_some_and(VecDeque::is_empty) {
                state.sequences.remove(task_id);
            }
            next
        };
        if let Some(reply) = queued {
            return reply;
        }
        // `after-<N>ms`: a task that finishes N ms after it was first asked about.
        if let Some(ms) = std::str::from_utf8(task_id).ok().and_then(|id| {
            id.strip_prefix("after-")?
                .strip_suffix("ms")?
                .parse::<u64>()
                .ok()
        }) {
            let mut state = self.state();
            state.timed.entry(task_id.to_vec()).or_insert_with(|| {
                (
                    Instant::now() + Duration::from_millis(ms),
                    "success".to_owned(),
                )
            });
        }
        if let Some((finish_at, status)) = self.state().timed.get(task_id) {
            return match Instant::now() < *finish_at {
                true => Reply::status("process"),
                false => Reply::status(status),
            };
        }
        default_reply(task_id)
    }

    /// Counts a request of `token` in its current 1 s window; over the window limit, the whole
    /// seconds left in the window (at least 1), as the gateway's `x-ogw-ratelimit-reset`.
    fn over_window(&self, token: &str) -> Option<u64> {
        let mut state = self.state();
        if state.window_limit == 0 {
            return None;
        }
        let since = self.started.elapsed();
        let index = since.as_secs();
        let limit = state.window_limit;
        let entry = state.windows.entry(token.to_owned()).or_insert((index, 0));
        if entry.0 != index {
            *entry = (index, 0);
        }
        entry.1 += 1;
        if entry.1 <= limit {
            return None;
        }
        state.limited += 1;
        let left_ms = 1000 - u64::from(since.subsec_millis());
        Some(left_ms.div_ceil(1000).max(1))
    }

    /// The token endpoint's reply; `None` if the server began stopping during the delay.
    fn token_reply(&self, head: &Head, body: &Body) -> Option<Reply> {
        let json_type = head
            .header("content-type")
            .and_then(|v| v.as_bytes().get(..16))
            .is_some_and(|p| p.eq_ignore_ascii_case(b"application/json"));
        let members = match body {
            Body::Kept(bytes) => parse_json_object(bytes),
            Body::Discarded | Body::TooLarge => None,
        };
        // The last member of that name, if it is a string.
        let field = |name: &str| {
            members
                .as_ref()
                .and_then(|m| m.iter().rev().find(|(k, _)| k == name))
                .and_then(|(_, v)| v.clone())
        };
        let app_id = field("app_id");
        let app_secret = field("app_secret");
        let (scripted, delay) = {
            let mut state = self.state();
            state.token_fetches += 1;
            if let Some(app_id) = &app_id {
                *state
                    .token_fetches_by_app
                    .entry(app_id.clone())
                    .or_insert(0) += 1;
            }
            (state.token_replies.pop_front(), state.token_delay)
        };
        if !delay.is_zero() && self.wait_stop(delay) {
            return None;
        }
        if let Some(reply) = scripted {
            return Some(reply);
        }
        let (Some(app_id), Some(app_secret), true) = (app_id, app_secret, json_type) else {
            return Some(Reply::platform(400, 9499, MSG_BAD_REQUEST));
        };
        let mut state = self.state();
        Some(match state.apps.get(&app_id) {
            None => Reply::platform(400, 10003, MSG_INVALID_PARAM),
            Some(secret) if *secret != app_secret => {
                Reply::platform(400, 10014, MSG_APP_SECRET_INVALID)
            }
            Some(_) => {
                let (token, expire) = state.issue_token(&app_id);
                Reply::json(&format!(
                    r#"{{"code":0,"msg":"ok","tenant_access_token":{},"expire":{expire}}}"#,
                    json_string(&token)
                ))
            }
        })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An address a client can connect to: an unspecified IP becomes loopback.
fn connectable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), addr.port())
        }
        _ => addr,
    }
}

/// A fresh log id, unique in the process: 14 digits of "time" then a 16-digit counter.
fn next_logid() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("20261201060000{n:016}")
}

// ---------------------------------------------------------------------------------------------
// Accepting and serving connections
// ---------------------------------------------------------------------------------------------

/// One connection (already registered with the listener, which unregisters it when this
/// returns): requests and responses until either side closes.
fn serve_connection(stream: TcpStream, shared: &Shared, epoch: u64) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(POLL));
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let mut conn = Conn {
        stream,
        shared,
        buf: Vec::new(),
        scan_pos: 0,
        line_start: 0,
    };
    let mut first = true;
    loop {
        let head = match conn.read_head() {
            HeadRead::Request(head) => head,
            HeadRead::Closed => return,
            HeadRead::Bad(status, why) => {
                conn.reject(status, why);
                return;
            }
        };
        let first_on_conn = std::mem::replace(&mut first, false);
        let keep = is_token_request(&head) || drive::Write::of(&head).is_some();
        let body = match conn.read_body(&head, keep) {
            Ok(body) => body,
            Err(BodyError::Closed) => return,
            Err(BodyError::Bad(why)) => {
                conn.reject(400, why);
                return;
            }
        };
        match conn.serve(&head, &body, first_on_conn, epoch) {
            After::KeepAlive => {}
            After::Close => {
                conn.close_gracefully();
                return;
            }
            After::Abort => {
                let _ = conn.stream.shutdown(Shutdown::Both);
                return;
            }
        }
    }
}

/// What to do with the connection after a response.
enum After {
    KeepAlive,
    /// Half-close and wait briefly for the peer to close too.
    Close,
    /// Drop it now (the socket is dead or the reply wants an abrupt end).
    Abort,
}

/// A parsed request head.
struct Head {
    method: String,
    target: Vec<u8>,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    minor: u8,
    /// Names lowercased, values trimmed, in order.
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.header_values(name).next()
    }

    /// (In edition 2024 the returned iterator captures both borrows; the items only `self`.)
    fn header_values<'s>(&'s self, name: &str) -> impl Iterator<Item = &'s str> {
        self.headers
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// HTTP/1.1 keeps the connection unless `Connection: close`; 1.0 only with `keep-alive`.
    fn keep_alive(&self) -> bool {
        let mut close = false;
        let mut keep = false;
        for token in self.header_values("connection").flat_map(|v| v.split(',')) {
            let token = token.trim();
            close |= token.eq_ignore_ascii_case("close");
            keep |= token.eq_ignore_ascii_case("keep-alive");
        }
        !close && (self.minor == 1 || keep)
    }
}

enum HeadRead {
    Request(Head),
    /// The peer closed (or the server is stopping) between requests.
    Closed,
    /// Answer with this status and close.
    Bad(u16, &'static str),
}

/// A request body as `read_body` leaves it.
enum Body {
    /// Read and thrown away (every request but the token endpoint's and the drive writes').
    Discarded,
    /// Read in full.
    Kept(Vec<u8>),
    /// Over `MAX_TOKEN_BODY`: not (fully) read, so the connection must close after the answer.
    TooLarge,
}

enum BodyError {
    Closed,
    Bad(&'static str),
}

/// Whether the request's body is read and kept: `POST` to the token endpoint.
fn is_token_request(head: &Head) -> bool {
    head.method == "POST" && split_target(&head.target).0 == TOKEN_PATH.as_bytes()
}

enum Fill {
    Data,
    Eof,
    /// Read error, or the server is stopping.
    Gone,
}

/// Per-reply rendering options.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    logid: &'a str,
    header_logid: bool,
    body_logid: bool,
    keep_alive: bool,
    head_only: bool,
}

/// One connection: the socket plus the bytes received but not yet consumed (pipelining).
struct Conn<'a> {
    stream: TcpStream,
    shared: &'a Shared,
    buf: Vec<u8>,
    /// How far `read_head` has scanned `buf` for the end of the head ...
    scan_pos: usize,
    /// ... and where the line being scanned starts.
    line_start: usize,
}

impl Conn<'_> {
    /// Reads more bytes into `buf`, waiting (in `POLL` steps) until some arrive.
    fn fill(&mut self) -> Fill {
        let mut chunk = [0u8; 8192];
        loop {
            if self.shared.is_stopping() {
                return Fill::Gone;
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return Fill::Eof,
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Fill::Data;
                }
                Err(e) if is_retryable(&e) => {}
                Err(_) => return Fill::Gone,
            }
        }
    }

    fn read_head(&mut self) -> HeadRead {
        loop {
            if self.scan_pos == 0 {
                // Empty lines before a request line are ignored (RFC 9112, 2.2).
                let blank = self
                    .buf
                    .iter()
                    .take_while(|&&b| b == b'\r' || b == b'\n')
                    .count();
                self.buf.drain(..blank);
            }
            while self.scan_pos < self.buf.len() {
                let i = self.scan_pos;
                self.scan_pos += 1;
                if self.buf[i] != b'\n' {
                    continue;
                }
                let line = &self.buf[self.line_start..i];
                if !line.is_empty() && line != b"\r" {
                    self.line_start = i + 1;
                    continue;
                }
                // An empty line: the head is everything before it.
                if i >= MAX_HEAD_BYTES {
                    return HeadRead::Bad(431, "request head larger than 64 KiB");
                }
                let parsed = parse_head(&self.buf[..self.line_start]);
                self.buf.drain(..=i);
                self.scan_pos = 0;
                self.line_start = 0;
                return match parsed {
                    Ok(head) => HeadRead::Request(head),
                    Err((status, why)) => HeadRead::Bad(status, why),
                };
            }
            if self.buf.len() > MAX_HEAD_BYTES {
                return HeadRead::Bad(431, "request head larger than 64 KiB");
            }
            match self.fill() {
                Fill::Data => {}
                Fill::Eof if !self.buf.is_empty() && !self.shared.is_stopping() => {
                    return HeadRead::Bad(400, "connection closed in the middle of a request");
                }
                Fill::Eof | Fill::Gone => return HeadRead::Closed,
            }
        }
    }

    /// Reads the request body, whatever its framing: kept (up to `MAX_TOKEN_BODY` bytes) if
    /// `keep`, else thrown away.
    fn read_body(&mut self, head: &Head, keep: bool) -> Result<Body, BodyError> {
        let framing = body_framing(head).map_err(BodyError::Bad)?;
        if keep && matches!(framing, Framing::Length(n) if n > MAX_TOKEN_BODY as u64) {
            // Answered without reading it (and without a 100 Continue).
            return Ok(Body::TooLarge);
        }
        let has_body = !matches!(framing, Framing::Length(0));
        let expects_continue = head
            .header("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
        if has_body && expects_continue && head.minor == 1 && self.buf.is_empty() {
            let _ = self.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        let mut sink = keep.then(Vec::new);
        let complete = match framing {
            Framing::Length(n) => {
                self.take_body(n, sink.as_mut())?;
                true
            }
            Framing::Chunked => self.take_chunked(sink.as_mut())?,
        };
        Ok(match sink {
            None => Body::Discarded,
            Some(_) if !complete => Body::TooLarge,
            Some(bytes) => Body::Kept(bytes),
        })
    }

    /// Takes `remaining` body bytes, appending them to `sink` if there is one.
    fn take_body(
        &mut self,
        mut remaining: u64,
        mut sink: Option<&mut Vec<u8>>,
    ) -> Result<(), BodyError> {
        loop {
            let take = usize::try_from(remaining)
                .unwrap_or(usize::MAX)
                .min(self.buf.len());
            let taken = self.buf.drain(..take);
            match sink.as_deref_mut() {
                Some(sink) => sink.extend(taken),
                None => drop(taken),
            }
            remaining -= take as u64;
            if remaining == 0 {
                return Ok(());
            }
            match self.fill() {
                Fill::Data => {}
                Fill::Eof | Fill::Gone => return Err(BodyError::Closed),
            }
        }
    }

    /// Takes a chunked body (and its trailer), appending the data to `sink` if there is one;
    /// false (and the rest left unread) as soon as the data would exceed `MAX_TOKEN_BODY`.
    fn take_chunked(&mut self, mut sink: Option<&mut Vec<u8>>) -> Result<bool, BodyError> {
        loop {
            let line = self.read_line(MAX_CHUNK_LINE)?;
            let size = line.split(|&b| b == b';').next().unwrap_or_default();
            let size = trim_ows(size);
            if size.is_empty() || size.len() > 15 || !size.iter().all(u8::is_ascii_hexdigit) {
                return Err(BodyError::Bad("bad chunk size"));
            }
            let size = std::str::from_utf8(size)
                .ok()
                .and_then(|s| u64::from_str_radix(s, 16).ok())
                .ok_or(BodyError::Bad("bad chunk size"))?;
            if size == 0 {
                break;
            }
            if sink
                .as_deref()
                .is_some_and(|sink| sink.len() as u64 + size > MAX_TOKEN_BODY as u64)
            {
                return Ok(false);
            }
            self.take_body(size, sink.as_deref_mut())?;
            if !self.read_line(2)?.is_empty() {
                return Err(BodyError::Bad("chunk data not followed by CRLF"));
            }
        }
        // Trailer fields, up to an empty line.
        let mut trailer_bytes = 0;
        loop {
            let line = self.read_line(MAX_HEAD_BYTES)?;
            if line.is_empty() {
                return Ok(true);
            }
            trailer_bytes += line.len();
            if trailer_bytes > MAX_HEAD_BYTES {
                return Err(BodyError::Bad("chunked trailer too large"));
            }
        }
    }

    /// One line (LF or CRLF ended, terminator removed) of at most `max` bytes.
    fn read_line(&mut self, max: usize) -> Result<Vec<u8>, BodyError> {
        let mut scanned = 0;
        loop {
            if let Some(pos) = self.buf[scanned..].iter().position(|&b| b == b'\n') {
                let end = scanned + pos;
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                if line.len() > max {
                    return Err(BodyError::Bad("line too long in request body"));
                }
                return Ok(line);
            }
            scanned = self.buf.len();
            if scanned > max + 1 {
                return Err(BodyError::Bad("line too long in request body"));
            }
            match self.fill() {
                Fill::Data => {}
                Fill::Eof | Fill::Gone => return Err(BodyError::Closed),
            }
        }
    }

    /// Answers a malformed request and closes.
    fn reject(&mut self, status: u16, why: &str) {
        let logid = next_logid();
        let ctx = Ctx {
            logid: &logid,
            header_logid: true,
            body_logid: false,
            keep_alive: false,
            head_only: false,
        };
        let body = format!(r#"{{"code":{status},"msg":{}}}"#, json_string(why));
        self.send(&ctx, status, Some(JSON), &[], body.as_bytes());
        self.close_gracefully();
    }

    /// Routes one well-formed request and writes its response.
    fn serve(&mut self, head: &Head, body: &Body, first_on_conn: bool, epoch: u64) -> After {
        let (path, query) = split_target(&head.target);
        let write = drive::Write::parse(&head.method, path);
        let path = String::from_utf8_lossy(path).into_owned();
        if path == "/_mock" || path.starts_with("/_mock/") {
            return self.serve_admin(head, &path, first_on_conn, epoch);
        }
        let pairs = split_query(query);
        let task_id = pairs
            .iter()
            .find(|(name, _)| percent_decode(name) == b"task_id")
            .map(|(_, value)| percent_decode(value));
        let is_token = head.method == "POST" && path == TOKEN_PATH;
        let reply = if is_token {
            match self.shared.token_reply(head, body) {
                Some(reply) => reply,
                None => return After::Abort,
            }
        } else if let Some(write) = &write {
            match self.shared.drive_write_reply(head, write, body) {
                Some(reply) => reply,
                None => return After::Abort,
            }
        } else if head.method == "GET" && path == TASK_CHECK_PATH {
            self.shared.task_check_reply(head, task_id.as_deref())
        } else {
            Reply::Raw {
                status: 404,
                body: PAGE_NOT_FOUND_BODY.as_bytes().to_vec(),
            }
        };
        let logid = next_logid();
        let carried = reply.sends_logid_header() || reply.sends_logid_in_body();
        // Recorded before the response is written, so a client that has its answer sees it.
        self.shared.state().requests.push(Recorded {
            method: head.method.clone(),
            path,
            raw_query: String::from_utf8_lossy(query).into_owned(),
            task_id: if is_token { None } else { task_id },
            query_params: pairs
                .iter()
                .map(|(n, v)| {
                    (
                        String::from_utf8_lossy(n).into_owned(),
                        String::from_utf8_lossy(v).into_owned(),
                    )
                })
                .collect(),
            headers: head.headers.clone(),
            body: drive::recorded_body(write.as_ref(), body),
            logid: carried.then(|| logid.clone()),
        });
        let ctx = Ctx {
            logid: &logid,
            header_logid: true,
            body_logid: true,
            // A body left unread leaves the connection out of step: close it.
            keep_alive: head.keep_alive() && !matches!(body, Body::TooLarge),
            head_only: head.method == "HEAD",
        };
        self.write_reply(&reply, &ctx)
    }

    fn serve_admin(&mut self, head: &Head, path: &str, first_on_conn: bool, epoch: u64) -> After {
        if first_on_conn {
            self.shared.uncount_connection(epoch);
        }
        let (status, body) = match (head.method.as_str(), path) {
            ("GET", "/_mock/stats") => {
                let state = self.shared.state();
                let body = format!(
                    r#"{{"requests":{},"connections":{},"token_fetches":{},"limited":{}{}}}"#,
                    state.requests.len(),
                    state.connections,
                    state.token_fetches,
                    state.limited,
                    state.drive.stats_members()
                );
                (200, body)
            }
            ("POST", "/_mock/reset") => {
                self.shared.state().reset();
                (200, r#"{"ok":true}"#.to_owned())
            }
            ("GET", "/_mock/requests") => (200, requests_json(&self.shared.state().requests)),
            ("POST", "/_mock/revoke") => {
                self.shared.state().revoke_tokens();
                (200, r#"{"ok":true}"#.to_owned())
            }
            ("POST", "/_mock/app") => self.admin_add_app(head),
            ("POST", "/_mock/window") => self.admin_window(head),
            ("POST", "/_mock/drive") => drive::admin_drive(self.shared, head),
            (
                _,
                "/_mock/stats" | "/_mock/reset" | "/_mock/requests" | "/_mock/revoke"
                | "/_mock/app" | "/_mock/window" | "/_mock/drive",
            ) => (405, r#"{"code":405,"msg":"method not allowed"}"#.to_owned()),
            _ => (404, PAGE_NOT_FOUND_BODY.to_owned()),
        };
        let logid = next_logid();
        let ctx = Ctx {
            logid: &logid,
            header_logid: true,
            body_logid: false,
            keep_alive: head.keep_alive(),
            head_only: false,
        };
        self.send(&ctx, status, Some(JSON), &[], body.as_bytes())
    }

    /// `POST /_mock/window?limit=N`.
    fn admin_window(&self, head: &Head) -> (u16, String) {
        let (_, query) = split_target(&head.target);
        let limit = split_query(query)
            .iter()
            .find(|(n, _)| percent_decode(n) == b"limit")
            .and_then(|(_, v)| String::from_utf8(percent_decode(v)).ok())
            .and_then(|v| v.parse::<u32>().ok());
        match limit {
            Some(limit) => {
                self.shared.set_window_limit(limit);
                (200, r#"{"ok":true}"#.to_owned())
            }
            None => (
                400,
                r#"{"code":400,"msg":"limit must be a whole number"}"#.to_owned(),
            ),
        }
    }

    /// `POST /_mock/app?app_id=X&app_secret=Y[&expire=S]`.
    fn admin_add_app(&self, head: &Head) -> (u16, String) {
        let (_, query) = split_target(&head.target);
        let pairs = split_query(query);
        let param = |name: &[u8]| {
            pairs
                .iter()
                .find(|(n, _)| percent_decode(n) == name)
                .map(|(_, v)| String::from_utf8(percent_decode(v)))
        };
        let bad = |msg: &str| {
            let body = format!(r#"{{"code":400,"msg":{}}}"#, json_string(msg));
            (400, body)
        };
        let (Some(Ok(app_id)), Some(Ok(app_secret))) = (param(b"app_id"), param(b"app_secret"))
        else {
            return bad("app_id and app_secret (UTF-8) are required");
        };
        if app_id.is_empty() {
            return bad("empty app_id");
        }
        let expire = match param(b"expire") {
            None => None,
            Some(Ok(text)) => match text.parse::<u64>() {
                Ok(secs) => Some(secs),
                Err(_) => return bad("expire must be a number of seconds"),
            },
            Some(Err(_)) => return bad("expire must be a number of seconds"),
        };
        let mut state = self.shared.state();
        state.apps.insert(app_id, app_secret);
        if let Some(secs) = expire {
            state.token_expire = secs;
        }
        (200, r#"{"ok":true}"#.to_owned())
    }

    fn write_reply(&mut self, reply: &Reply, ctx: &Ctx<'_>) -> After {
        match reply {
            Reply::Status(status) => {
                self.send(ctx, 200, Some(JSON), &[], status_body(status).as_bytes())
            }
            Reply::Chunked(status) => {
                self.send_chunked(ctx, status_body(status).as_bytes(), 7, true)
            }
            Reply::Platform { http, code, msg } => {
                let body = error_body(*code, msg, ctx);
                self.send(ctx, *http, Some(JSON), &[], body.as_bytes())
            }
            Reply::RateLimited { reset_secs } => {
                let body = error_body(99991400, MSG_RATE_LIMITED, ctx);
                let extra = [
                    ("x-ogw-ratelimit-limit", RATE_LIMIT_CAP.to_string()),
                    ("x-ogw-ratelimit-reset", reset_secs.to_string()),
                ];
                self.send(ctx, 429, Some(JSON), &extra, body.as_bytes())
            }
            Reply::Html(status) => self.send(
                ctx,
                *status,
                Some("text/html; charset=utf-8"),
                &[],
                HTML_BODY.as_bytes(),
            ),
            Reply::Redirect => {
                let extra = [("Location", REDIRECT_LOCATION.to_owned())];
                self.send(ctx, 302, None, &extra, b"")
            }
            Reply::Garbage => self.send(
                ctx,
                200,
                Some("application/json"),
                &[],
                GARBAGE_BODY.as_bytes(),
            ),
            Reply::Raw { status, body } => self.send(ctx, *status, Some(JSON), &[], body),
            Reply::Empty => self.send(ctx, 200, Some(JSON), &[], b""),
            Reply::DeepJson => {
                let mut body = vec![b'['; DEEP_JSON_DEPTH];
                body.resize(2 * DEEP_JSON_DEPTH, b']');
                self.send(ctx, 200, Some(JSON), &[], &body)
            }
            Reply::Oversized => self.send(ctx, 200, Some(JSON), &[], &oversized_body()),
            Reply::OversizedChunked => self.send_chunked(ctx, &oversized_body(), 64 * 1024, false),
            Reply::Truncated => self.send_truncated(ctx),
            // Nothing is sent; `After::Abort` shuts the socket down and drops it.
            Reply::Reset => After::Abort,
            Reply::Stall => self.stall(),
            Reply::Trickle { interval_ms } => self.trickle(ctx, *interval_ms),
            Reply::NoLogid(inner) => {
                let ctx = Ctx {
                    header_logid: false,
                    body_logid: false,
                    ..*ctx
                };
                self.write_reply(inner, &ctx)
            }
            Reply::NoLogidHeader(inner) => {
                let ctx = Ctx {
                    header_logid: false,
                    ..*ctx
                };
                self.write_reply(inner, &ctx)
            }
            Reply::Delayed { ms, reply } => {
                if self.shared.wait_stop(Duration::from_millis(*ms)) {
                    return After::Abort;
                }
                self.write_reply(reply, ctx)
            }
        }
    }

    /// A complete response with Content-Length, written at once.
    fn send(
        &mut self,
        ctx: &Ctx<'_>,
        status: u16,
        content_type: Option<&str>,
        extra: &[(&str, String)],
        body: &[u8],
    ) -> After {
        let mut out =
            response_head(ctx, status, content_type, extra, Some(body.len())).into_bytes();
        if !ctx.head_only {
            out.extend_from_slice(body);
        }
        match self.stream.write_all(&out) {
            Ok(()) if ctx.keep_alive => After::KeepAlive,
            Ok(()) => After::Close,
            Err(_) => After::Abort,
        }
    }

    /// Sends `body` chunked in pieces of `size` bytes; `extras`: a chunk extension on the
    /// first chunk and a trailer field, as a server may send them.
    fn send_chunked(&mut self, ctx: &Ctx<'_>, body: &[u8], size: usize, extras: bool) -> After {
        let head = response_head(ctx, 200, Some(JSON), &[], None);
        if self.stream.write_all(head.as_bytes()).is_err() {
            return After::Abort;
        }
        for (i, chunk) in body.chunks(size).enumerate() {
            let ext = if extras && i == 0 { ";name=value" } else { "" };
            let mut out = format!("{:x}{ext}\r\n", chunk.len()).into_bytes();
            out.extend_from_slice(chunk);
            out.extend_from_slice(b"\r\n");
            if self.stream.write_all(&out).is_err() {
                return After::Abort;
            }
        }
        let end: &[u8] = if extras {
            b"0\r\nX-Trailer: done\r\n\r\n"
        } else {
            b"0\r\n\r\n"
        };
        match self.stream.write_all(end) {
            Ok(()) if ctx.keep_alive => After::KeepAlive,
            Ok(()) => After::Close,
            Err(_) => After::Abort,
        }
    }

    fn send_truncated(&mut self, ctx: &Ctx<'_>) -> After {
        let mut out =
            response_head(ctx, 200, Some(JSON), &[], Some(TRUNCATED_DECLARED)).into_bytes();
        out.extend_from_slice(&SUCCESS_BODY.as_bytes()[..TRUNCATED_SENT]);
        match self.stream.write_all(&out) {
            Ok(()) => After::Close,
            Err(_) => After::Abort,
        }
    }

    /// Holds the connection without answering until the peer closes, the server stops, or
    /// `STALL_LIMIT` passes. Anything the peer sends meanwhile is read and ignored.
    fn stall(&mut self) -> After {
        let start = Instant::now();
        let mut chunk = [0u8; 4096];
        while !self.shared.is_stopping() && start.elapsed() < STALL_LIMIT {
            match self.stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if is_retryable(&e) => {}
                Err(_) => break,
            }
        }
        After::Abort
    }

    /// A success response, one byte at a time.
    fn trickle(&mut self, ctx: &Ctx<'_>, interval_ms: u64) -> After {
        let mut out =
            response_head(ctx, 200, Some(JSON), &[], Some(SUCCESS_BODY.len())).into_bytes();
        out.extend_from_slice(SUCCESS_BODY.as_bytes());
        let interval = Duration::from_millis(interval_ms);
        for (i, byte) in out.iter().enumerate() {
            if i > 0 && self.shared.wait_stop(interval) {
                return After::Abort;
            }
            if self.stream.write_all(std::slice::from_ref(byte)).is_err() {
                return After::Abort;
            }
        }
        if ctx.keep_alive {
            After::KeepAlive
        } else {
            After::Close
        }
    }

    /// Half-closes, then reads until the peer closes (at most `LINGER`), so that request bytes
    /// still in flight do not turn our close into a RST that could destroy the response.
    fn close_gracefully(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
        let deadline = Instant::now() + LINGER;
        let mut chunk = [0u8; 4096];
        while Instant::now() < deadline && !self.shared.is_stopping() {
            match self.stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if is_retryable(&e) => {}
                Err(_) => break,
            }
        }
    }
}

fn is_retryable(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

/// Parses the request line and header lines (`bytes` ends with the last header's line break).
fn parse_head(bytes: &[u8]) -> Result<Head, (u16, &'static str)> {
    const BAD_LINE: (u16, &str) = (400, "malformed request line");
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let mut lines = bytes
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line));
    let request_line = lines.next().ok_or(BAD_LINE)?;
    let mut parts = request_line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(BAD_LINE);
    };
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
        return Err((400, "malformed method"));
    }
    if target.is_empty() || target.iter().any(|&b| b <= b' ' || b == 0x7f) {
        return Err((400, "malformed request target"));
    }
    let minor = match version {
        b"HTTP/1.1" => 1,
        b"HTTP/1.0" => 0,
        _ if version.starts_with(b"HTTP/") => return Err((505, "only HTTP/1.0 and 1.1")),
        _ => return Err(BAD_LINE),
    };
    let mut headers = Vec::new();
    for line in lines {
        if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
            return Err((400, "obsolete header line folding"));
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or((400, "header line without a colon"))?;
        let (name, value) = line.split_at(colon);
        let value = &value[1..];
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return Err((400, "malformed header name"));
        }
        if value.iter().any(|&b| b == b'\r' || b == 0) {
            return Err((400, "malformed header value"));
        }
        headers.push((
            String::from_utf8_lossy(name).to_ascii_lowercase(),
            String::from_utf8_lossy(trim_ows(value)).into_owned(),
        ));
    }
    Ok(Head {
        method: String::from_utf8_lossy(method).into_owned(),
        target: target.to_vec(),
        minor,
        headers,
    })
}

enum Framing {
    Length(u64),
    Chunked,
}

/// How the request body is delimited (RFC 9112, 6.3); ambiguous framing is an error.
fn body_framing(head: &Head) -> Result<Framing, &'static str> {
    let codings: Vec<String> = head
        .header_values("transfer-encoding")
        .flat_map(|v| v.split(','))
        .map(|c| c.trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty())
        .collect();
    let has_length = head.header("content-length").is_some();
    if head.header("transfer-encoding").is_some() {
        if has_length {
            return Err("both Transfer-Encoding and Content-Length");
        }
        if head.minor == 0 {
            return Err("Transfer-Encoding in an HTTP/1.0 request");
        }
        let chunked_last = codings.last().is_some_and(|c| c == "chunked");
        let chunked_once = codings.iter().filter(|c| *c == "chunked").count() == 1;
        return if chunked_last && chunked_once {
            Ok(Framing::Chunked)
        } else {
            Err("unsupported Transfer-Encoding")
        };
    }
    let mut length: Option<u64> = None;
    for part in head
        .header_values("content-length")
        .flat_map(|v| v.split(','))
    {
        let part = part.trim();
        if part.is_empty() || part.len() > 18 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err("invalid Content-Length");
        }
        let n: u64 = part.parse().map_err(|_| "invalid Content-Length")?;
        if length.is_some_and(|prev| prev != n) {
            return Err("conflicting Content-Length values");
        }
        length = Some(n);
    }
    Ok(Framing::Length(length.unwrap_or(0)))
}

/// Splits a request target into path and raw query; an absolute-form target
/// (`http://host/path?q`) is reduced to its path.
fn split_target(target: &[u8]) -> (&[u8], &[u8]) {
    let mut rest = target;
    for scheme in [&b"http://"[..], &b"https://"[..]] {
        if rest
            .get(..scheme.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(scheme))
        {
            let after = &rest[scheme.len()..];
            let end = after
                .iter()
                .position(|&b| b == b'/' || b == b'?')
                .unwrap_or(after.len());
            rest = &after[end..];
            break;
        }
    }
    let (path, query) = match rest.iter().position(|&b| b == b'?') {
        Some(q) => (&rest[..q], &rest[q + 1..]),
        None => (rest, &b""[..]),
    };
    if path.is_empty() {
        (b"/", query)
    } else {
        (path, query)
    }
}

/// Raw `(name, value)` pairs of a query string.
fn split_query(query: &[u8]) -> Vec<(&[u8], &[u8])> {
    query
        .split(|&b| b == b'&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| match piece.iter().position(|&b| b == b'=') {
            Some(eq) => (&piece[..eq], &piece[eq + 1..]),
            None => (piece, &b""[..]),
        })
        .collect()
}

/// The members of a JSON text that is one object, in order: `(key, Some(value))` for string
/// values, `(key, None)` for any other value. `None` if the text is not valid JSON (RFC 8259,
/// UTF-8, no byte order mark), is not an object, or nests deeper than `MAX_JSON_DEPTH`.
fn parse_json_object(text: &[u8]) -> Option<Vec<(String, Option<String>)>> {
    let mut reader = JsonReader { text, pos: 0 };
    reader.skip_ws();
    if reader.peek() != Some(b'{') {
        return None;
    }
    let members = reader.object(1)?;
    reader.skip_ws();
    (reader.pos == text.len()).then_some(members)
}

/// A small recursive-descent JSON reader; every method returns `None` on malformed input.
struct JsonReader<'a> {
    text: &'a [u8],
    pos: usize,
}

impl JsonReader<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    fn eat(&mut self, b: u8) -> bool {
        let found = self.peek() == Some(b);
        if found {
            self.pos += 1;
        }
        found
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// A value after optional whitespace: `Some(Some(s))` for a string, `Some(None)` otherwise.
    fn value(&mut self, depth: usize) -> Option<Option<String>> {
        self.skip_ws();
        match self.peek()? {
            b'"' => self.string().map(Some),
            b'{' => self.object(depth + 1).map(|_| None),
            b'[' => self.array(depth + 1).map(|_| None),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    /// An object; the reader is at its `{`.
    fn object(&mut self, depth: usize) -> Option<Vec<(String, Option<String>)>> {
        if depth > MAX_JSON_DEPTH || !self.eat(b'{') {
            return None;
        }
        let mut members = Vec::new();
        self.skip_ws();
        if self.eat(b'}') {
            return Some(members);
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return None;
            }
            let key = self.string()?;
            self.skip_ws();
            if !self.eat(b':') {
                return None;
            }
            let value = self.value(depth)?;
            members.push((key, value));
            self.skip_ws();
            if self.eat(b'}') {
                return Some(members);
            }
            if !self.eat(b',') {
                return None;
            }
        }
    }

    /// An array; the reader is at its `[`.
    fn array(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_JSON_DEPTH || !self.eat(b'[') {
            return None;
        }
        self.skip_ws();
        if self.eat(b']') {
            return Some(());
        }
        loop {
            self.value(depth)?;
            self.skip_ws();
            if self.eat(b']') {
                return Some(());
            }
            if !self.eat(b',') {
                return None;
            }
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<Option<String>> {
        let end = self.pos.checked_add(word.len())?;
        if self.text.get(self.pos..end)? != word {
            return None;
        }
        self.pos = end;
        Some(None)
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    fn number(&mut self) -> Option<Option<String>> {
        self.eat(b'-');
        match self.next()? {
            b'0' => {}
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.eat(b'.') {
            self.some_digits()?;
        }
        if self.eat(b'e') || self.eat(b'E') {
            let _ = self.eat(b'+') || self.eat(b'-');
            self.some_digits()?;
        }
        Some(None)
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
    }

    fn some_digits(&mut self) -> Option<()> {
        let start = self.pos;
        self.digits();
        (self.pos > start).then_some(())
    }

    /// A string; the reader is at its opening quote.
    fn string(&mut self) -> Option<String> {
        if !self.eat(b'"') {
            return None;
        }
        let mut out = Vec::new();
        loop {
            match self.next()? {
                b'"' => return String::from_utf8(out).ok(),
                b'\\' => {
                    let unescaped = match self.next()? {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return None,
                    };
                    let mut utf8 = [0u8; 4];
                    out.extend_from_slice(unescaped.encode_utf8(&mut utf8).as_bytes());
                }
                b if b < 0x20 => return None,
                b => out.push(b),
            }
        }
    }

    /// The rest of a `\uXXXX` escape (the reader is after the `u`), with a following
    /// `\uXXXX` low surrogate if the first is a high one; lone surrogates are malformed.
    fn unicode_escape(&mut self) -> Option<char> {
        let first = self.hex4()?;
        let code = match first {
            0xD800..=0xDBFF => {
                if !(self.eat(b'\\') && self.eat(b'u')) {
                    return None;
                }
                let second = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return None;
                }
                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            }
            0xDC00..=0xDFFF => return None,
            _ => first,
        };
        char::from_u32(code)
    }

    fn hex4(&mut self) -> Option<u32> {
        let mut value = 0u32;
        for _ in 0..4 {
            value = value << 4 | u32::from(hex_value(self.next()?)?);
        }
        Some(value)
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// RFC 9110 token characters.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Strips spaces and tabs at both ends.
fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// Status line and headers; `length: None` means chunked.
fn response_head(
    ctx: &Ctx<'_>,
    status: u16,
    content_type: Option<&str>,
    extra: &[(&str, String)],
    length: Option<usize>,
) -> String {
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    if let Some(content_type) = content_type {
        let _ = write!(head, "Content-Type: {content_type}\r\n");
    }
    match length {
        Some(n) => {
            let _ = write!(head, "Content-Length: {n}\r\n");
        }
        None => head.push_str("Transfer-Encoding: chunked\r\n"),
    }
    if ctx.header_logid {
        let _ = write!(head, "X-Tt-Logid: {}\r\n", ctx.logid);
    }
    for (name, value) in extra {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    head.push_str(if ctx.keep_alive {
        "Connection: keep-alive\r\n"
    } else {
        "Connection: close\r\n"
    });
    head.push_str("\r\n");
    head
}

/// `{"code":..,"msg":..,"error":{"log_id":..}}` (the `error` object only if `ctx.body_logid`).
fn error_body(code: i64, msg: &str, ctx: &Ctx<'_>) -> String {
    let mut body = format!(r#"{{"code":{code},"msg":{}"#, json_string(msg));
    if ctx.body_logid {
        let _ = write!(body, r#","error":{{"log_id":{}}}"#, json_string(ctx.logid));
    }
    body.push('}');
    body
}

fn oversized_body() -> Vec<u8> {
    let mut body = Vec::with_capacity(OVERSIZED_FILL + 19);
    body.extend_from_slice(br#"{"code":0,"msg":""#);
    body.resize(body.len() + OVERSIZED_FILL, b'a');
    body.extend_from_slice(br#""}"#);
    body
}

/// The platform's success body for a task status.
fn status_body(status: &str) -> String {
    format!(
        r#"{{"code":0,"msg":"success","data":{{"status":{}}}}}"#,
        json_string(status)
    )
}

/// A JSON string literal, quotes included.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn hex_string(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// `GET /_mock/requests`: the recorded requests as a JSON array (for out-of-process tests).
/// The task id is given both as lossy text and as hex of the exact bytes; `body` (a drive
/// write's, else null) as lossy text.
fn requests_json(requests: &[Recorded]) -> String {
    let optional = |value: Option<String>| value.unwrap_or_else(|| "null".to_owned());
    let mut out = String::from("[");
    for (i, r) in requests.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let headers: Vec<String> = r
            .headers
            .iter()
            .map(|(n, v)| format!("[{},{}]", json_string(n), json_string(v)))
            .collect();
        let _ = write!(
            out,
            r#"{{"method":{},"path":{},"raw_query":{},"task_id":{},"task_id_hex":{},"headers":[{}],"body":{},"logid":{}}}"#,
            json_string(&r.method),
            json_string(&r.path),
            json_string(&r.raw_query),
            optional(r.task_id_str().map(|s| json_string(&s))),
            optional(r.task_id.as_ref().map(|id| json_string(&hex_string(id)))),
            headers.join(","),
            optional(r.body_str().map(|b| json_string(&b))),
            optional(r.logid.as_deref().map(json_string)),
        );
    }
    out.push(']');
    out
}
