//! The drive "write" calls of the mock Feishu server, the two that create task ids:
//!
//! - move: `POST /open-apis/drive/v1/files/{file_token}/move`, `Content-Type: application/json`,
//!   body `{"type":"...","folder_token":"..."}`;
//! - delete: `DELETE /open-apis/drive/v1/files/{file_token}?type=...`.
//!
//! A child module of `server.rs` (std only, like it), which routes these requests here (step 3 of
//! its module doc) and keeps this module's state in its own ([`DriveState`]). The `file_token` is
//! the percent-decoded path segment (`%XX` only, see `percent_decode`); a path with an empty
//! segment, or more segments, is not a write (404 page not found).
//!
//! A write is answered in this order:
//!
//! 1. Counted in [`Server::writes`] (`"writes"` in `GET /_mock/stats`), whatever the answer.
//! 2. Authorization exactly as task_check: no `Authorization: Bearer <token>` -> 400 / 99991661;
//!    a revoked or expired issued token, or `t-expired` -> 400 / 99991663.
//! 3. The platform's write limits, per token (moves and deletes together):
//!    - no concurrency: while a write with the same token is being processed (see 4), another
//!      one gets 400 / 1061045 / `retry later` at once ([`Server::write_conflicts`]);
//!    - at most [`DEFAULT_WRITE_LIMIT`] writes in any 1 s (a sliding window: a write is refused
//!      if that many were admitted in the last 1000 ms), over it 400 / 1061045 / `retry later`
//!      ([`Server::write_rate_limited`]). Only admitted writes count, so a refused one uses no
//!      budget. [`Server::set_write_limit`] / `POST /_mock/drive?write_limit=N` changes the
//!      number (0: no rate limit).
//!
//!    Folder tasks running in the background do not count as writes in progress.
//! 4. The write is "processed": held for the write latency ([`DEFAULT_WRITE_LATENCY`];
//!    [`Server::set_write_latency`], `POST /_mock/drive?write_ms=N`), so that overlapping
//!    writes are observable. Its slot is freed before the answer is written.
//! 5. Parameters: the `type` (the body's for a move, the query's for a delete) must be present
//!    and non-empty lowercase ASCII letters and `_`; a move needs a `Content-Type` starting with
//!    `application/json` and a body (at most 64 KiB) that is a JSON object with string `type` and
//!    a non-empty string `folder_token`. Else 400 / 1061002 / `params error.`.
//! 6. The next reply queued for that file token by [`Server::set_write_sequence`], if any (any
//!    [`Reply`]: `Reset` and `Stall` come after the whole request, body included, was read and
//!    recorded).
//! 7. The name-based reply of [`write_reply_by_name`] (a table of error names).
//! 8. Success. A `folder` (except a move of a file token containing `inplace`: already where it
//!    should go) is asynchronous: 200
//!    `{"code":0,"msg":"success","data":{"task_id":"<id>"}}`, with a new 19-digit numeric task
//!    id (unique in the process). task_check then answers `process` for that id until the task
//!    duration ([`DEFAULT_TASK_DURATION`]; [`Server::set_task_duration`],
//!    `POST /_mock/drive?task_ms=N`) has passed since this answer, then `success` (`fail` if the
//!    file token contains `task-fail`); a sequence queued for the id goes first. Every other
//!    type, and a folder in place, is done at once: 200 [`WRITE_DONE_BODY`].
//!
//! Every request is recorded with its body (`Recorded::body`, `"body"` in `GET /_mock/requests`);
//! [`Recorded::file_token`] and [`Server::writes_for`] pick out the writes.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{
    Body, Head, MSG_INVALID_TOKEN, MSG_MISSING_TOKEN, Recorded, Reply, Server, Shared, json_string,
    parse_json_object, percent_decode, split_query, split_target,
};

/// The prefix of both write paths; the file token follows.
pub const FILES_PREFIX: &str = "/open-apis/drive/v1/files/";
/// How long a folder task runs until [`Server::set_task_duration`] says otherwise.
pub const DEFAULT_TASK_DURATION: Duration = Duration::from_millis(300);
/// How long a write is held until [`Server::set_write_latency`] says otherwise.
pub const DEFAULT_WRITE_LATENCY: Duration = Duration::from_millis(20);
/// Writes per token in any 1 s until [`Server::set_write_limit`] says otherwise.
pub const DEFAULT_WRITE_LIMIT: u32 = 5;
/// The span of the write rate limit's sliding window.
pub const WRITE_WINDOW: Duration = Duration::from_secs(1);
/// `code` of the platform's "retry later" (a concurrent write, or over 5 per second).
pub const CODE_RETRY_LATER: i64 = 1061045;
/// `msg` of code 1061045.
pub const MSG_RETRY_LATER: &str = "retry later";
/// HTTP status of a 1061045 answer (the platform's status is not documented; the code decides).
pub const HTTP_RETRY_LATER: u16 = 400;
/// Body of a write that finished at once (a file, or a folder already in place).
pub const WRITE_DONE_BODY: &str = r#"{"code":0,"msg":"success","data":{}}"#;
/// Length of the task id of the name `taskid-long` (more than `FEISHU_TASK_ID_SIZE` holds).
pub const LONG_TASK_ID_LEN: usize = 200;
/// The first task id handed out in a process (then one more each time).
const FIRST_TASK_ID: u64 = 7_360_595_374_803_812_357;

/// Which write a request is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteKind {
    Move,
    Delete,
}

/// A write request: which one, and its percent-decoded file token.
pub(super) struct Write {
    kind: WriteKind,
    file_token: Vec<u8>,
}

impl Write {
    /// `POST {FILES_PREFIX}{token}/move` or `DELETE {FILES_PREFIX}{token}`, `path` without the
    /// query; the raw token must be one non-empty path segment.
    pub(super) fn parse(method: &str, path: &[u8]) -> Option<Write> {
        let rest = path.strip_prefix(FILES_PREFIX.as_bytes())?;
        let (kind, raw) = match method {
            "POST" => (WriteKind::Move, rest.strip_suffix(b"/move")?),
            "DELETE" => (WriteKind::Delete, rest),
            _ => return None,
        };
        if raw.is_empty() || raw.contains(&b'/') {
            return None;
        }
        Some(Write {
            kind,
            file_token: percent_decode(raw),
        })
    }

    /// The write a request head is, if any.
    pub(super) fn of(head: &Head) -> Option<Write> {
        Write::parse(&head.method, split_target(&head.target).0)
    }
}

/// The body to record for a request: a drive write's body as read (empty if it had none);
/// `None` for other requests and for a write body too large to keep.
pub(super) fn recorded_body(write: Option<&Write>, body: &Body) -> Option<Vec<u8>> {
    match (write, body) {
        (Some(_), Body::Kept(bytes)) => Some(bytes.clone()),
        _ => None,
    }
}

/// This module's part of the server state.
pub(super) struct DriveState {
    task_duration: Duration,
    write_latency: Duration,
    write_limit: u32,
    /// Write requests received, conflicts and rate refusals (1061045), since the last reset.
    writes: usize,
    conflicts: usize,
    rate_limited: usize,
    /// Tokens with a write being processed. Not cleared by a reset: each slot frees itself.
    in_flight: HashSet<String>,
    /// Per token: when its admitted writes of the last `WRITE_WINDOW` arrived, oldest first.
    recent: HashMap<String, VecDeque<Instant>>,
    /// Replies queued per file token.
    sequences: HashMap<Vec<u8>, VecDeque<Reply>>,
    /// The task ids handed out since the last reset, in order.
    task_ids: Vec<String>,
}

impl Default for DriveState {
    fn default() -> DriveState {
        DriveState {
            task_duration: DEFAULT_TASK_DURATION,
            write_latency: DEFAULT_WRITE_LATENCY,
            write_limit: DEFAULT_WRITE_LIMIT,
            writes: 0,
            conflicts: 0,
            rate_limited: 0,
            in_flight: HashSet::new(),
            recent: HashMap::new(),
            sequences: HashMap::new(),
            task_ids: Vec::new(),
        }
    }
}

impl DriveState {
    /// What `Server::reset_counters` does here: counters and the rate windows.
    pub(super) fn reset_counters(&mut self) {
        self.writes = 0;
        self.conflicts = 0;
        self.rate_limited = 0;
        self.recent.clear();
    }

    /// What `Server::reset` does here: also the queued replies and the task id list (the tasks
    /// themselves are `timed` entries of the server, which it clears). Settings stay.
    pub(super) fn reset(&mut self) {
        self.reset_counters();
        self.sequences.clear();
        self.task_ids.clear();
    }

    /// The members this module adds to `GET /_mock/stats` (each preceded by a comma).
    pub(super) fn stats_members(&self) -> String {
        format!(
            r#","writes":{},"write_conflicts":{},"write_rate_limited":{}"#,
            self.writes, self.conflicts, self.rate_limited
        )
    }
}

/// The name-based reply for a write's file token, if the token is one of these names (each
/// also followed by `-` and anything, e.g. `err-1061003-a`, `reset-2`, so that tests can tell
/// their requests apart):
///
/// | file token | reply (HTTP status / code / msg) |
/// |---|---|
/// | `err-1061001` | 500 / 1061001 / `internal error.` |
/// | `err-1061002` | 400 / 1061002 / `params error.` |
/// | `err-1061003` | 404 / 1061003 / `not found.` |
/// | `err-1061004` | 403 / 1061004 / `forbidden.` |
/// | `err-1061005` | 401 / 1061005 / `auth failed.` |
/// | `err-1061007` | 400 / 1061007 / `file has been delete.` (already deleted) |
/// | `err-1061045` | 400 / 1061045 / `retry later` (always) |
/// | `err-1062501` | 403 / 1062501 / `operate node no permission.` |
/// | `err-1062507` | 400 / 1062507 / `parent node out of sibling num.` (more than 1,500 items) |
/// | `err-99991400` | `RateLimited { reset_secs: 1 }`: 429 / 99991400 with `x-ogw-ratelimit-reset: 1` |
/// | `err-99991403` | 400 / 99991403 / `monthly quota exceeded` (the HTTP status is our choice) |
/// | `err-99991663` | 400 / 99991663 (token invalid, whatever token was sent) |
/// | `err-<N>`, any other N | 400 / N / `error N.` |
/// | `reset`, `stall`, `truncated`, `html-502`, `garbage`, `empty`, `redirect`, `trickle` | the [`Reply`] of that name, as for task ids |
/// | `rate-limited` / `rate-limited-1s` | `RateLimited { reset_secs: 3 }` / `{ reset_secs: 1 }` |
/// | `taskid-long` | 200 success whose `task_id` is [`LONG_TASK_ID_LEN`] digits |
///
/// Error bodies are the server's usual `{"code":..,"msg":..,"error":{"log_id":..}}`, the log id
/// also in `X-Tt-Logid`. Any other token (`None`) succeeds.
pub fn write_reply_by_name(file_token: &[u8]) -> Option<Reply> {
    let name = std::str::from_utf8(file_token).ok()?;
    if let Some(rest) = name.strip_prefix("err-") {
        let end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (digits, tail) = rest.split_at(end);
        let whole = tail.is_empty() || tail.starts_with('-');
        return digits
            .parse::<i64>()
            .ok()
            .filter(|_| whole)
            .map(write_error);
    }
    // Longer names before their prefixes.
    const NAMES: [&str; 10] = [
        "rate-limited-1s",
        "rate-limited",
        "reset",
        "stall",
        "truncated",
        "html-502",
        "garbage",
        "empty",
        "redirect",
        "trickle",
    ];
    if let Some(base) = NAMES.iter().find(|base| is_named(name, base)) {
        return Some(super::default_reply(base.as_bytes()));
    }
    if is_named(name, "taskid-long") {
        let id = "7".repeat(LONG_TASK_ID_LEN);
        return Some(task_id_reply(&id));
    }
    None
}

/// `name` is `base`, or `base` followed by `-` and anything.
fn is_named(name: &str, base: &str) -> bool {
    name.strip_prefix(base)
        .is_some_and(|tail| tail.is_empty() || tail.starts_with('-'))
}

/// The platform error of `code` as the write calls answer it.
fn write_error(code: i64) -> Reply {
    let (http, msg) = match code {
        1061001 => (500, "internal error."),
        1061002 => (400, "params error."),
        1061003 => (404, "not found."),
        1061004 => (403, "forbidden."),
        1061005 => (401, "auth failed."),
        1061007 => (400, "file has been delete."),
        CODE_RETRY_LATER => (HTTP_RETRY_LATER, MSG_RETRY_LATER),
        1062501 => (403, "operate node no permission."),
        1062507 => (400, "parent node out of sibling num."),
        99991400 => return Reply::RateLimited { reset_secs: 1 },
        99991403 => (400, "monthly quota exceeded"),
        99991661 => (400, MSG_MISSING_TOKEN),
        99991663 => (400, MSG_INVALID_TOKEN),
        _ => return Reply::platform(400, code, &format!("error {code}.")),
    };
    Reply::platform(http, code, msg)
}

fn params_error() -> Reply {
    Reply::platform(400, 1061002, "params error.")
}

fn retry_later() -> Reply {
    Reply::platform(HTTP_RETRY_LATER, CODE_RETRY_LATER, MSG_RETRY_LATER)
}

fn task_id_reply(id: &str) -> Reply {
    Reply::json(&format!(
        r#"{{"code":0,"msg":"success","data":{{"task_id":{}}}}}"#,
        json_string(id)
    ))
}

/// A new task id: 19 digits, unique in the process.
fn next_task_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(FIRST_TASK_ID);
    NEXT.fetch_add(1, Ordering::Relaxed).to_string()
}

/// The platform's type word: non-empty lowercase ASCII letters and `_`.
fn valid_type(file_type: &str) -> bool {
    !file_type.is_empty()
        && file_type
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'_')
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A token's write slot: while it lives, other writes with the token get 1061045.
struct Slot<'a> {
    shared: &'a Shared,
    token: String,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.shared.state().drive.in_flight.remove(&self.token);
    }
}

impl Shared {
    /// The answer to a write (the order of the module doc); `None` if the server began
    /// stopping while the write was held.
    pub(super) fn drive_write_reply(
        &self,
        head: &Head,
        write: &Write,
        body: &Body,
    ) -> Option<Reply> {
        self.state().drive.writes += 1;
        let token = match self.authorize(head) {
            Ok(token) => token,
            Err(reply) => return Some(reply),
        };
        let slot = match self.admit_write(token) {
            Ok(slot) => slot,
            Err(reply) => return Some(reply),
        };
        let latency = self.state().drive.write_latency;
        if !latency.is_zero() && self.wait_stop(latency) {
            return None;
        }
        drop(slot);
        Some(self.processed_write(head, write, body))
    }

    /// Takes the token's write slot, or the 1061045 answer (a write in progress, or over the
    /// rate limit).
    fn admit_write(&self, token: &str) -> Result<Slot<'_>, Reply> {
        let mut state = self.state();
        let drive = &mut state.drive;
        if drive.in_flight.contains(token) {
            drive.conflicts += 1;
            return Err(retry_later());
        }
        if drive.write_limit > 0 {
            let now = Instant::now();
            let limit = drive.write_limit as usize;
            let times = drive.recent.entry(token.to_owned()).or_default();
            while times
                .front()
                .is_some_and(|&at| now.duration_since(at) >= WRITE_WINDOW)
            {
                times.pop_front();
            }
            if times.len() >= limit {
                drive.rate_limited += 1;
                return Err(retry_later());
            }
            times.push_back(now);
        }
        drive.in_flight.insert(token.to_owned());
        Ok(Slot {
            shared: self,
            token: token.to_owned(),
        })
    }

    /// Steps 5 to 8 of the module doc.
    fn processed_write(&self, head: &Head, write: &Write, body: &Body) -> Reply {
        let Some(file_type) = write_type(head, write, body) else {
            return params_error();
        };
        let queued = {
            let mut state = self.state();
            let sequences = &mut state.drive.sequences;
            let next = sequences
                .get_mut(&write.file_token)
                .and_then(VecDeque::pop_front);
            if sequences
                .get(&write.file_token)
                .is_some_and(VecDeque::is_empty)
            {
                sequences.remove(&write.file_token);
            }
            next
        };
        if let Some(reply) = queued.or_else(|| write_reply_by_name(&write.file_token)) {
            return reply;
        }
        let in_place = write.kind == WriteKind::Move && contains(&write.file_token, b"inplace");
        if file_type != "folder" || in_place {
            return Reply::json(WRITE_DONE_BODY);
        }
        let id = next_task_id();
        let status = match contains(&write.file_token, b"task-fail") {
            true => "fail",
            false => "success",
        };
        let mut state = self.state();
        let finish_at = Instant::now() + state.drive.task_duration;
        state
            .timed
            .insert(id.as_bytes().to_vec(), (finish_at, status.to_owned()));
        state.drive.task_ids.push(id.clone());
        task_id_reply(&id)
    }
}

/// The write's valid `type`, or `None` for a params error (step 5 of the module doc).
fn write_type(head: &Head, write: &Write, body: &Body) -> Option<String> {
    let file_type = match write.kind {
        WriteKind::Delete => {
            let (_, query) = split_target(&head.target);
            let raw = split_query(query)
                .into_iter()
                .find(|(name, _)| percent_decode(name) == b"type")?
                .1;
            String::from_utf8(percent_decode(raw)).ok()?
        }
        WriteKind::Move => {
            let json = head
                .header("content-type")
                .and_then(|v| v.as_bytes().get(..16))
                .is_some_and(|p| p.eq_ignore_ascii_case(b"application/json"));
            let Body::Kept(bytes) = body else {
                return None;
            };
            let members = parse_json_object(bytes).filter(|_| json)?;
            // The last member of that name, if it is a string.
            let field = |name: &str| {
                members
                    .iter()
                    .rev()
                    .find(|(key, _)| key == name)
                    .and_then(|(_, value)| value.clone())
            };
            field("folder_token").filter(|folder| !folder.is_empty())?;
            field("type")?
        }
    };
    valid_type(&file_type).then_some(file_type)
}

/// `POST /_mock/drive?task_ms=N&write_ms=M&write_limit=K`: any of them, at least one; a bad
/// value changes nothing.
pub(super) fn admin_drive(shared: &Shared, head: &Head) -> (u16, String) {
    let (_, query) = split_target(&head.target);
    let mut task_ms = None;
    let mut write_ms = None;
    let mut write_limit = None;
    for (name, value) in split_query(query) {
        let name = percent_decode(name);
        let value = String::from_utf8(percent_decode(value)).ok();
        let number = value.as_deref().and_then(|v| v.parse::<u64>().ok());
        let slot = match name.as_slice() {
            b"task_ms" => &mut task_ms,
            b"write_ms" => &mut write_ms,
            b"write_limit" => &mut write_limit,
            _ => continue,
        };
        match number {
            Some(n) => *slot = Some(n),
            None => return admin_error("task_ms, write_ms and write_limit are whole numbers"),
        }
    }
    if task_ms.is_none() && write_ms.is_none() && write_limit.is_none() {
        return admin_error("give task_ms, write_ms or write_limit");
    }
    let write_limit = match write_limit.map(u32::try_from) {
        None => None,
        Some(Ok(limit)) => Some(limit),
        Some(Err(_)) => return admin_error("write_limit is too large"),
    };
    let mut state = shared.state();
    let drive = &mut state.drive;
    if let Some(ms) = task_ms {
        drive.task_duration = Duration::from_millis(ms);
    }
    if let Some(ms) = write_ms {
        drive.write_latency = Duration::from_millis(ms);
    }
    if let Some(limit) = write_limit {
        drive.write_limit = limit;
        drive.recent.clear();
    }
    (200, r#"{"ok":true}"#.to_owned())
}

fn admin_error(msg: &str) -> (u16, String) {
    (400, format!(r#"{{"code":400,"msg":{}}}"#, json_string(msg)))
}

impl Recorded {
    /// The percent-decoded file token (lossy UTF-8) if this request was a drive write.
    pub fn file_token(&self) -> Option<String> {
        Write::parse(&self.method, self.path.as_bytes())
            .map(|w| String::from_utf8_lossy(&w.file_token).into_owned())
    }

    /// Whether this request was a move (`POST .../move`) or a delete.
    pub fn write_kind(&self) -> Option<WriteKind> {
        Write::parse(&self.method, self.path.as_bytes()).map(|w| w.kind)
    }

    /// The recorded body as text (lossy UTF-8); `None` if no body was recorded.
    pub fn body_str(&self) -> Option<String> {
        self.body
            .as_ref()
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }
}

impl Server {
    /// How long a folder task runs: task_check answers `process` for a task id from a move or
    /// delete until this much time has passed since the write was answered (default
    /// [`DEFAULT_TASK_DURATION`]; zero: finished at once). Applies to writes from now on. What
    /// `POST /_mock/drive?task_ms=N` does.
    pub fn set_task_duration(&self, duration: Duration) {
        self.shared.state().drive.task_duration = duration;
    }

    /// How long each admitted write is held before it is answered (default
    /// [`DEFAULT_WRITE_LATENCY`]); meanwhile another write with the same token gets 1061045.
    /// What `POST /_mock/drive?write_ms=N` does.
    pub fn set_write_latency(&self, latency: Duration) {
        self.shared.state().drive.write_latency = latency;
    }

    /// At most `limit` admitted writes per token in any 1 s (a sliding window), 1061045 over
    /// it; 0 turns the rate limit off (the no-concurrency rule stays). Default
    /// [`DEFAULT_WRITE_LIMIT`]. Forgets the writes counted so far. What
    /// `POST /_mock/drive?write_limit=N` does.
    pub fn set_write_limit(&self, limit: u32) {
        let mut state = self.shared.state();
        state.drive.write_limit = limit;
        state.drive.recent.clear();
    }

    /// Queues `replies` for writes (moves and deletes) of `file_token` (decoded), replacing any
    /// it had: each write that passes the auth, limit and parameter checks takes the next one;
    /// once they are used up the token gets its normal answer again. An empty vector clears.
    pub fn set_write_sequence(&self, file_token: &str, replies: Vec<Reply>) {
        let sequences = &mut self.shared.state().drive.sequences;
        if replies.is_empty() {
            sequences.remove(file_token.as_bytes());
        } else {
            sequences.insert(file_token.as_bytes().to_vec(), replies.into());
        }
    }

    /// How many queued replies `file_token` has left.
    pub fn write_sequence_remaining(&self, file_token: &str) -> usize {
        self.shared
            .state()
            .drive
            .sequences
            .get(file_token.as_bytes())
            .map_or(0, VecDeque::len)
    }

    /// Write requests (moves and deletes) received since the last reset, whatever their answer.
    pub fn writes(&self) -> usize {
        self.shared.state().drive.writes
    }

    /// Writes answered 1061045 because a write with the same token was in progress.
    pub fn write_conflicts(&self) -> usize {
        self.shared.state().drive.conflicts
    }

    /// Writes answered 1061045 because of the writes-per-second limit.
    pub fn write_rate_limited(&self) -> usize {
        self.shared.state().drive.rate_limited
    }

    /// Writes being processed right now (held, see [`Server::set_write_latency`]).
    pub fn writes_in_flight(&self) -> usize {
        self.shared.state().drive.in_flight.len()
    }

    /// The task ids handed out by folder moves and deletes since the last reset, in order.
    pub fn task_ids(&self) -> Vec<String> {
        self.shared.state().drive.task_ids.clone()
    }

    /// The recorded write requests (moves and deletes), oldest first.
    pub fn write_requests(&self) -> Vec<Recorded> {
        let state = self.shared.state();
        state
            .requests
            .iter()
            .filter(|r| r.write_kind().is_some())
            .cloned()
            .collect()
    }

    /// How many recorded write requests had this (decoded) file token.
    pub fn writes_for(&self, file_token: &str) -> usize {
        let state = self.shared.state();
        state
            .requests
            .iter()
            .filter(|r| r.file_token().as_deref() == Some(file_token))
            .count()
    }
}
