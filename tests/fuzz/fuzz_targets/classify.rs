//! Response classification: arbitrary status line, headers and body into
//! `api::classify` (task_check), `api::classify_write` (move, delete) and
//! `api::classify_token`, checking the invariants every caller of the C ABI
//! relies on.
//!
//! `classify_write` is also held to an oracle: the body read by
//! `serde_json::Value` (when the library accepted it as an envelope), whose
//! `data.task_id` decides what must come out: missing, null, `""` or no
//! `data` -> done at once; a string of 1..=127 bytes without NUL, or a whole
//! number (its digits) -> that task id; anything else (another JSON type, a
//! negative or fractional number, too long, a NUL inside) -> a protocol error
//! that says the platform accepted the operation.
//!
//! Input format (so that seeds stay readable text): five lines, then the body.
//!
//! ```text
//! <HTTP status, decimal>\n
//! <X-Tt-Logid>\n
//! <x-ogw-ratelimit-reset>\n
//! <Content-Type>\n
//! <Location>\n
//! <body: every byte that follows>
//! ```
//!
//! An empty header line means the header is absent; a missing line ends the
//! input early (the rest is absent and the body empty). A status that is not
//! a number is taken modulo 1000 from its bytes, so any input maps somewhere.

#![no_main]

use feishu_task::api::{self, Reply, TaskStatus};
use feishu_task::error::{Error, Kind, Retry};
use feishu_task::ffi::write::FEISHU_TASK_ID_SIZE;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// Longest message any classification may produce (server text is quoted
/// cut to 160 bytes; the fixed text around it is far shorter).
const MAX_MESSAGE: usize = 512;
/// `FeishuError::log_id` is 64 bytes with its NUL.
const MAX_LOG_ID: usize = 63;
/// Longest token lifetime `classify_token` accepts (7 days).
const MAX_EXPIRE_SECS: u64 = 7 * 24 * 3600;
/// How `classify_write`'s protocol error about a task id begins.
const ACCEPTED: &str = "the platform accepted the operation (code 0), but ";

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    let mut line = || -> Option<String> {
        if rest.is_empty() {
            return None;
        }
        let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        let text = String::from_utf8_lossy(&rest[..end]).into_owned();
        rest = rest.get(end + 1..).unwrap_or(&[]);
        Some(text)
    };
    let status_line = line().unwrap_or_default();
    let status = status_line.trim().parse::<u16>().unwrap_or_else(|_| {
        status_line.bytes().fold(0u16, |acc, b| {
            (acc.wrapping_mul(31).wrapping_add(u16::from(b))) % 1000
        })
    });
    let mut header = || line().filter(|v| !v.is_empty());
    let log_id = header();
    let ratelimit_reset = header();
    let content_type = header();
    let location = header();
    let reply = Reply {
        status,
        log_id: log_id.as_deref(),
        ratelimit_reset: ratelimit_reset.as_deref(),
        content_type: content_type.as_deref(),
        location: location.as_deref(),
        body: rest,
    };

    let success = (200..300).contains(&status);
    match api::classify(&reply) {
        Ok(task) => {
            assert!(success, "Ok from HTTP {status}");
            assert!(matches!(
                task,
                TaskStatus::Success | TaskStatus::Fail | TaskStatus::Process
            ));
        }
        Err(e) => check_error(&e, &reply, "classify"),
    }
    check_write(&reply, success);
    match api::classify_token(&reply) {
        Ok(token) => {
            assert!(success, "token Ok from HTTP {status}");
            assert!(api::check_token(token.token.as_bytes()).is_ok());
            assert!((1..=MAX_EXPIRE_SECS).contains(&token.expire_secs));
            // The Debug form never shows the token.
            let debug = format!("{token:?}");
            let redacted = format!(
                "IssuedToken {{ token: \"<redacted>\", expire_secs: {} }}",
                token.expire_secs
            );
            assert_eq!(debug, redacted, "the Debug form of an issued token");
        }
        Err(e) => check_error(&e, &reply, "classify_token"),
    }
});

fn check_error(e: &Error, reply: &Reply<'_>, what: &str) {
    match e.kind {
        Kind::Platform(code) => {
            assert!(code >= 1, "{what}: platform code {code} is not positive");
            assert_eq!(e.code(), code);
        }
        Kind::Http | Kind::Protocol => {}
        other => panic!("{what}: classification produced {other:?}"),
    }
    assert!(e.code() != 0, "{what}: an error with code 0");
    assert_eq!(e.http_status, reply.status, "{what}: http_status");
    if (300..400).contains(&reply.status) {
        assert_eq!(
            e.kind,
            Kind::Http,
            "{what}: a redirect must be an HTTP error"
        );
    }
    // Retry advice follows the documented policy.
    match e.retry {
        Retry::RateLimited => assert!(
            reply.status == 429 || e.kind == Kind::Platform(99991400),
            "{what}: rate-limited advice for HTTP {} {:?}",
            reply.status,
            e.kind
        ),
        Retry::Transient => assert!(
            reply.status >= 500 || e.kind == Kind::Platform(1061001),
            "{what}: transient advice for HTTP {} {:?}",
            reply.status,
            e.kind
        ),
        Retry::Later => assert_eq!(
            e.kind,
            Kind::Platform(1061045),
            "{what}: retry-later advice for HTTP {}",
            reply.status
        ),
        Retry::Never => {}
    }
    check_text(&e.message, MAX_MESSAGE, what, "message");
    assert!(!e.message.is_empty(), "{what}: empty message");
    check_text(&e.log_id, MAX_LOG_ID, what, "log_id");
}

/// `classify_write`: the envelope rules of every endpoint, then the task id
/// as the oracle of the module doc says.
fn check_write(reply: &Reply<'_>, success: bool) {
    let outcome = api::classify_write(reply);
    let accepted_error = matches!(&outcome, Err(e) if e.message.starts_with(ACCEPTED));
    if let Err(e) = &outcome {
        check_error(e, reply, "classify_write");
        if !accepted_error {
            return;
        }
        assert_eq!(e.kind, Kind::Protocol, "classify_write: {}", e.message);
        assert_eq!(e.retry, Retry::Never, "a task id error is never retried");
    }
    // Ok, or the task id refused: the platform said code 0 on a 2xx.
    assert!(
        success,
        "classify_write: code 0 accepted from HTTP {}",
        reply.status
    );
    if let Ok(Some(id)) = &outcome {
        assert!(fits(id), "a task id that does not fit: {id:?}");
    }
    // The oracle, when serde_json::Value reads the body too (the library's
    // envelope skips unknown members, which a Value keeps and may refuse,
    // e.g. a lone surrogate escape in one).
    let Ok(body) = serde_json::from_slice::<Value>(reply.body) else {
        return;
    };
    let task_id = body.get("data").and_then(|d| d.get("task_id"));
    // What the task id must give: Some(Some(id)), Some(None) (done at
    // once), or None (a protocol error).
    let expected: Option<Option<String>> = match task_id {
        None | Some(Value::Null) => Some(None),
        Some(Value::String(s)) if s.is_empty() => Some(None),
        Some(Value::String(s)) => fits(s).then(|| Some(s.clone())),
        Some(Value::Number(n)) if n.is_u64() => Some(Some(n.to_string())),
        Some(_) => None,
    };
    match (outcome, expected) {
        (Ok(got), Some(want)) => {
            assert_eq!(got, want, "classify_write: the task id of {task_id:?}")
        }
        (Err(_), None) => {}
        (got, want) => panic!(
            "classify_write gave {:?} for data.task_id {task_id:?}, expected {want:?}",
            got.map_err(|e| e.message)
        ),
    }
}

/// A task id the C caller can take: non-empty, no NUL, fits in
/// `FEISHU_TASK_ID_SIZE` with its NUL.
fn fits(id: &str) -> bool {
    !id.is_empty() && id.len() < FEISHU_TASK_ID_SIZE && !id.contains('\0')
}

/// Valid UTF-8 (a `String` is), bounded, and without control characters, so
/// that it can go into a log line or a fixed C buffer as it is.
fn check_text(s: &str, max: usize, what: &str, field: &str) {
    assert!(
        s.len() <= max,
        "{what}: {field} is {} bytes (max {max}): {:.200}",
        s.len(),
        s
    );
    if let Some(c) = s.chars().find(|c| c.is_control()) {
        panic!("{what}: {field} holds control character {c:?}: {s:?}");
    }
}
