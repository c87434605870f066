//! Chaos for the mock Feishu server: faults picked at random from a seed, each
//! with the reply the server sends and the outcome the library must report,
//! plus what the chaos and soak tests measure about the process (RSS, open
//! file descriptors, threads). Std only; include next to `server.rs`:
//!
//! ```ignore
//! #[path = "support/server.rs"]
//! mod server;
//! #[path = "support/chaos.rs"]
//! mod chaos;
//! ```
//!
//! The server is driven through [`server::Server::set_sequence`]: every call
//! uses a task id of its own with a one-reply sequence, so what the server did
//! for each call is known exactly, and a reproducible seed replays a run.

#![allow(dead_code)]

use std::ffi::{CStr, c_char};
use std::time::Duration;

use crate::server::Reply;

/// Return codes of the C ABI (`include/feishu_task.h`).
pub const FEISHU_OK: i32 = 0;
pub const FEISHU_ERR_INVALID_ARGUMENT: i32 = -1;
pub const FEISHU_ERR_NETWORK: i32 = -2;
pub const FEISHU_ERR_TIMEOUT: i32 = -3;
pub const FEISHU_ERR_HTTP: i32 = -4;
pub const FEISHU_ERR_PROTOCOL: i32 = -5;
pub const FEISHU_ERR_CANCELLED: i32 = -6;
pub const FEISHU_ERR_INTERNAL: i32 = -99;

/// Whether `rc` is a code the header defines (or a platform code, > 0).
pub fn defined_code(rc: i32) -> bool {
    rc > 0
        || [
            FEISHU_OK,
            FEISHU_ERR_INVALID_ARGUMENT,
            FEISHU_ERR_NETWORK,
            FEISHU_ERR_TIMEOUT,
            FEISHU_ERR_HTTP,
            FEISHU_ERR_PROTOCOL,
            FEISHU_ERR_CANCELLED,
            FEISHU_ERR_INTERNAL,
        ]
        .contains(&rc)
}

/// SplitMix64: a small, good, seedable generator (no dependency needed).
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0; the modulo bias is irrelevant here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// The seed of a run: `FEISHU_CHAOS_SEED` (decimal or 0x-hex) or `default`.
pub fn seed_from_env(default: u64) -> u64 {
    match std::env::var("FEISHU_CHAOS_SEED") {
        Ok(s) => {
            let s = s.trim();
            let parsed = match s.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => s.parse(),
            };
            parsed.unwrap_or_else(|_| panic!("FEISHU_CHAOS_SEED={s:?} is not a number"))
        }
        Err(_) => default,
    }
}

/// A number from the environment, or `default`.
pub fn usize_from_env(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(s) => s
            .trim()
            .replace('_', "")
            .parse()
            .unwrap_or_else(|_| panic!("{name}={s:?} is not a number")),
        Err(_) => default,
    }
}

/// One thing the server can do to a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// 200 with status success / fail / process.
    Success,
    Fail,
    Process,
    /// 200 with status success, sent after 100 ms (slow, within the deadline).
    SlowSuccess,
    /// 500 / 1061001 `internal error.`
    Internal1061001,
    /// 400 / 1061002 `params error.`
    Params1061002,
    /// 404 / 1061003 `not found.`
    NotFound1061003,
    /// 200 / 99991663 (an expired token, as the platform often sends it).
    TokenExpired200,
    /// 400 / 99991663.
    TokenExpired400,
    /// 429 / 99991400 with `x-ogw-ratelimit-reset: 0` and `: 1`.
    RateLimited0,
    RateLimited1,
    /// `text/html` bodies with 500, 502, 503.
    Html500,
    Html502,
    Html503,
    /// The connection closes after the request, before any response byte.
    ResetBeforeResponse,
    /// `Content-Length: 100`, 20 bytes of body, close.
    TruncatedBody,
    /// Never answers (until the client gives up).
    Stall,
    /// A success response one byte every 50 ms (about 10 s in all).
    Trickle,
    /// 2 MiB JSON body with Content-Length / chunked.
    Oversized,
    OversizedChunked,
    /// 200 `this is not json`.
    Garbage,
    /// 200, 100 000 nested `[`.
    DeepJson,
    /// 200 with an empty body.
    Empty,
    /// 200 with `{"code":0,"data":{"status":"finished"}}`.
    UnknownStatus,
    /// 302 to another host (never followed).
    Redirect,
}

/// What the library must report for a fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expected {
    pub rc: i32,
    /// `FeishuTaskStatus` as an int: 1 success, 2 fail, 3 process, 0 unknown.
    pub status: i32,
    /// `FeishuError::http_status`, if it is known.
    pub http_status: Option<i32>,
    /// `FeishuError::retry_after_ms`, if it is known.
    pub retry_after_ms: Option<u32>,
    /// Whether the error must report a log id (`Some(true)`), must have none
    /// (`Some(false)`: no response came), or either (`None`).
    pub log_id: Option<bool>,
}

impl Fault {
    pub const ALL: [Fault; 25] = [
        Fault::Success,
        Fault::Fail,
        Fault::Process,
        Fault::SlowSuccess,
        Fault::Internal1061001,
        Fault::Params1061002,
        Fault::NotFound1061003,
        Fault::TokenExpired200,
        Fault::TokenExpired400,
        Fault::RateLimited0,
        Fault::RateLimited1,
        Fault::Html500,
        Fault::Html502,
        Fault::Html503,
        Fault::ResetBeforeResponse,
        Fault::TruncatedBody,
        Fault::Stall,
        Fault::Trickle,
        Fault::Oversized,
        Fault::OversizedChunked,
        Fault::Garbage,
        Fault::DeepJson,
        Fault::Empty,
        Fault::UnknownStatus,
        Fault::Redirect,
    ];

    /// The reply that makes the mock server commit this fault.
    pub fn reply(self) -> Reply {
        match self {
            Fault::Success => Reply::status("success"),
            Fault::Fail => Reply::status("fail"),
            Fault::Process => Reply::status("process"),
            Fault::SlowSuccess => Reply::Delayed {
                ms: 100,
                reply: Box::new(Reply::status("success")),
            },
            Fault::Internal1061001 => Reply::platform(500, 1061001, "internal error."),
            Fault::Params1061002 => Reply::platform(400, 1061002, "params error."),
            Fault::NotFound1061003 => Reply::not_found(),
            Fault::TokenExpired200 => Reply::platform(200, 99991663, "Invalid access token"),
            Fault::TokenExpired400 => Reply::platform(400, 99991663, "Invalid access token"),
            Fault::RateLimited0 => Reply::RateLimited { reset_secs: 0 },
            Fault::RateLimited1 => Reply::RateLimited { reset_secs: 1 },
            Fault::Html500 => Reply::Html(500),
            Fault::Html502 => Reply::Html(502),
            Fault::Html503 => Reply::Html(503),
            Fault::ResetBeforeResponse => Reply::Reset,
            Fault::TruncatedBody => Reply::Truncated,
            Fault::Stall => Reply::Stall,
            Fault::Trickle => Reply::Trickle { interval_ms: 50 },
            Fault::Oversized => Reply::Oversized,
            Fault::OversizedChunked => Reply::OversizedChunked,
            Fault::Garbage => Reply::Garbage,
            Fault::DeepJson => Reply::DeepJson,
            Fault::Empty => Reply::Empty,
            Fault::UnknownStatus => Reply::json(r#"{"code":0,"data":{"status":"finished"}}"#),
            Fault::Redirect => Reply::Redirect,
        }
    }

    /// The outcome the library must report for this fault, with no retries.
    pub fn expected(self) -> Expected {
        let ok = |status| Expected {
            rc: FEISHU_OK,
            status,
            http_status: Some(0),
            retry_after_ms: Some(0),
            log_id: Some(false),
        };
        let fail = |rc, http: Option<i32>, log_id: Option<bool>| Expected {
            rc,
            status: 0,
            http_status: http,
            retry_after_ms: Some(0),
            log_id,
        };
        match self {
            Fault::Success | Fault::SlowSuccess => ok(1),
            Fault::Fail => ok(2),
            Fault::Process => ok(3),
            Fault::Internal1061001 => fail(1061001, Some(500), Some(true)),
            Fault::Params1061002 => fail(1061002, Some(400), Some(true)),
            Fault::NotFound1061003 => fail(1061003, Some(404), Some(true)),
            Fault::TokenExpired200 => fail(99991663, Some(200), Some(true)),
            Fault::TokenExpired400 => fail(99991663, Some(400), Some(true)),
            Fault::RateLimited0 => fail(99991400, Some(429), Some(true)),
            Fault::RateLimited1 => Expected {
                retry_after_ms: Some(1000),
                ..fail(99991400, Some(429), Some(true))
            },
            Fault::Html500 => fail(FEISHU_ERR_HTTP, Some(500), Some(true)),
            Fault::Html502 => fail(FEISHU_ERR_HTTP, Some(502), Some(true)),
            Fault::Html503 => fail(FEISHU_ERR_HTTP, Some(503), Some(true)),
            Fault::ResetBeforeResponse => fail(FEISHU_ERR_NETWORK, Some(0), Some(false)),
            // The head arrived: its status and log id belong to the error.
            Fault::TruncatedBody => fail(FEISHU_ERR_NETWORK, Some(200), Some(true)),
            Fault::Stall => fail(FEISHU_ERR_TIMEOUT, Some(0), Some(false)),
            // The deadline may pass in the head or in the body.
            Fault::Trickle => fail(FEISHU_ERR_TIMEOUT, None, None),
            Fault::Oversized | Fault::OversizedChunked => {
                fail(FEISHU_ERR_PROTOCOL, Some(200), Some(true))
            }
            Fault::Garbage | Fault::DeepJson | Fault::Empty | Fault::UnknownStatus => {
                fail(FEISHU_ERR_PROTOCOL, Some(200), Some(true))
            }
            Fault::Redirect => fail(FEISHU_ERR_HTTP, Some(302), Some(true)),
        }
    }

    /// Whether the library repeats a request that met this fault (when it
    /// has retries left and the wait fits before the deadline): 5xx, 1061001,
    /// a reset before any response, 429 (after the advised wait).
    pub fn retried(self) -> bool {
        matches!(
            self,
            Fault::Internal1061001
                | Fault::Html500
                | Fault::Html502
                | Fault::Html503
                | Fault::ResetBeforeResponse
                | Fault::RateLimited0
                | Fault::RateLimited1
        )
    }

    /// Whether the call ends only at its deadline.
    pub fn waits_for_deadline(self) -> bool {
        matches!(self, Fault::Stall | Fault::Trickle)
    }
}

/// A weighted choice of faults.
pub struct Mix {
    table: Vec<(Fault, u64)>,
    total: u64,
}

impl Mix {
    pub fn new(table: &[(Fault, u64)]) -> Mix {
        let total = table.iter().map(|(_, w)| w).sum();
        assert!(total > 0);
        Mix {
            table: table.to_vec(),
            total,
        }
    }

    pub fn pick(&self, rng: &mut Rng) -> Fault {
        let mut r = rng.below(self.total);
        for &(fault, weight) in &self.table {
            if r < weight {
                return fault;
            }
            r -= weight;
        }
        unreachable!("weights add up to total")
    }
}

/// A field of `/proc/self/status` in KiB (`VmRSS`, `VmHWM`, ...), or a count
/// (`Threads`).
pub fn proc_status(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

/// Resident memory, KiB.
pub fn rss_kib() -> u64 {
    proc_status("VmRSS")
}

/// Resident memory after glibc has returned the free memory it keeps in its
/// arenas (freed blocks are not leaks; they make the raw RSS noisy when large
/// bodies come and go on many threads).
pub fn trimmed_rss_kib() -> u64 {
    // SAFETY: malloc_trim only releases free memory; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
    rss_kib()
}

pub fn thread_count() -> u64 {
    proc_status("Threads")
}

/// Threads of this process except those whose name starts with one of
/// `others` (the test harness names each test's thread after the test, so
/// other tests of the same binary, waiting their turn, can be left out).
pub fn thread_count_except(others: &[&str]) -> u64 {
    let mut n = 0;
    for task in std::fs::read_dir("/proc/self/task").expect("read /proc/self/task") {
        let Ok(task) = task else { continue };
        let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !others
            .iter()
            .any(|o| name.trim_end().starts_with(&o[..o.len().min(15)]))
        {
            n += 1;
        }
    }
    n
}

/// Open file descriptors: (all, sockets).
pub fn fd_counts() -> (usize, usize) {
    let mut all: usize = 0;
    let mut sockets = 0;
    for entry in std::fs::read_dir("/proc/self/fd").expect("read /proc/self/fd") {
        let Ok(entry) = entry else { continue };
        all += 1;
        if std::fs::read_link(entry.path())
            .is_ok_and(|l| l.to_string_lossy().starts_with("socket:"))
        {
            sockets += 1;
        }
    }
    // read_dir's own descriptor is counted once.
    (all.saturating_sub(1), sockets)
}

/// The text of a fixed C buffer, if it is NUL-terminated inside it and UTF-8.
pub fn c_text(buf: &[c_char]) -> Result<String, String> {
    // SAFETY: c_char and u8 have the same size and alignment.
    let bytes: &[u8] = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast(), buf.len()) };
    let text = CStr::from_bytes_until_nul(bytes).map_err(|_| "not NUL-terminated".to_owned())?;
    text.to_str()
        .map(str::to_owned)
        .map_err(|_| format!("not UTF-8: {text:?}"))
}

/// Waits up to `limit` for the process to have at most `threads` threads
/// (the server's connection threads end a little after their clients go).
pub fn settle_threads(threads: u64, limit: Duration) -> u64 {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let now = thread_count();
        if now <= threads || std::time::Instant::now() >= deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Percentile (0..=100) of sorted durations.
pub fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[(sorted.len() - 1) * p / 100]
}

/// Bytes the allocator has handed out and not had back, over all arenas
/// (`mallinfo2`: in-use arena blocks plus mmapped blocks): the live heap,
/// which a leak grows and fragmentation does not.
pub fn heap_in_use() -> u64 {
    // SAFETY: mallinfo2 only reads the allocator's statistics.
    let info = unsafe { libc::mallinfo2() };
    (info.uordblks + info.hblkhd) as u64
}

// ---------------------------------------------------------------------------------------------
// The mock server in a process of its own
// ---------------------------------------------------------------------------------------------

/// Set in the environment of the child process that runs the mock server.
pub const CHILD_ENV: &str = "FEISHU_MOCK_SERVER_CHILD";
const URL_PREFIX: &str = "MOCK_SERVER_URL=";

/// The mock server running in a child process (this test binary again, running
/// one ignored test that serves), so that what the parent measures about
/// itself (RSS, descriptors, threads) is the library's alone, as in a real
/// deployment, and not the server's connection threads and buffers.
pub struct ServerProcess {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    /// Kept open (and read to its end when stopping): a closed pipe would
    /// make the child's last harness lines fail.
    stdout: Option<std::io::BufReader<std::process::ChildStdout>>,
    addr: std::net::SocketAddr,
}

/// In the child: when [`CHILD_ENV`] is set, starts a server, lets `setup`
/// script it, prints its URL, serves until standard input closes, and returns
/// true. In any other process it does nothing and returns false.
pub fn serve_if_child(setup: impl FnOnce(&crate::server::Server)) -> bool {
    use std::io::{Read, Write};
    if std::env::var_os(CHILD_ENV).is_none() {
        return false;
    }
    let server = crate::server::Server::start();
    setup(&server);
    let mut out = std::io::stdout();
    writeln!(out, "{URL_PREFIX}{}", server.base_url()).unwrap();
    out.flush().unwrap();
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    server.stop();
    true
}

impl ServerProcess {
    /// Runs the ignored test `child_test` of this binary as the server, with
    /// `env` added to its environment.
    pub fn spawn(child_test: &str, env: &[(&str, String)]) -> ServerProcess {
        use std::io::BufRead;
        use std::process::{Command, Stdio};
        let exe = std::env::current_exe().expect("current_exe");
        let mut cmd = Command::new(exe);
        cmd.args([child_test, "--exact", "--ignored", "--nocapture"])
            .env(CHILD_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start the mock server process");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("child stdout");
        let mut stdout = std::io::BufReader::new(stdout);
        let url = loop {
            let mut line = String::new();
            match stdout.read_line(&mut line) {
                Ok(n) if n > 0 => {
                    if let Some(url) = line.trim_end().strip_prefix(URL_PREFIX) {
                        break url.to_owned();
                    }
                }
                _ => {
                    let _ = child.kill();
                    panic!("the mock server process ended without printing its URL");
                }
            }
        };
        let addr = url
            .strip_prefix("http://")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("bad mock server URL {url:?}"));
        ServerProcess {
            child,
            stdin,
            stdout: Some(stdout),
            addr,
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// One admin request on a connection of its own; returns the body.
    fn admin(&self, method: &str, path: &str) -> String {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(self.addr).expect("connect to the mock server");
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.addr
        )
        .expect("send an admin request");
        let mut response = String::new();
        s.read_to_string(&mut response)
            .expect("read an admin response");
        let (head, body) = response
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("bad admin response {response:?}"));
        assert!(head.starts_with("HTTP/1.1 200"), "{method} {path}: {head}");
        body.to_owned()
    }

    /// Requests the server has served since its last reset.
    pub fn request_count(&self) -> usize {
        let stats = self.admin("GET", "/_mock/stats");
        stats
            .split("\"requests\":")
            .nth(1)
            .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
            .unwrap_or_else(|| panic!("bad stats {stats:?}"))
    }

    /// Forgets counters, recorded requests and queued sequences.
    pub fn reset(&self) {
        self.admin("POST", "/_mock/reset");
    }

    /// Closes the child's standard input and waits (a little) for it to end.
    pub fn stop(&mut self) {
        use std::io::Read;
        drop(self.stdin.take());
        if let Some(mut out) = self.stdout.take() {
            let mut rest = Vec::new();
            let _ = out.read_to_end(&mut rest);
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    assert!(status.success(), "the mock server process failed: {status}");
                    return;
                }
                Ok(None) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return;
                }
            }
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if self.stdin.is_some() {
            drop(self.stdin.take());
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
