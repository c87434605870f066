//! Response classification: arbitrary status line, headers and body into
//! `api::classify` and `api::classify_token`, checking the invariants every
//! caller of the C ABI relies on.
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
use libfuzzer_sys::fuzz_target;

/// Longest message any classification may produce (server text is quoted
/// cut to 160 bytes; the fixed text around it is far shorter).
const MAX_MESSAGE: usize = 512;
/// `FeishuError::log_id` is 64 bytes with its NUL.
const MAX_LOG_ID: usize = 63;
/// Longest token lifetime `classify_token` accepts (7 days).
const MAX_EXPIRE_SECS: u64 = 7 * 24 * 3600;

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
        Retry::Never => {}
    }
    check_text(&e.message, MAX_MESSAGE, what, "message");
    assert!(!e.message.is_empty(), "{what}: empty message");
    check_text(&e.log_id, MAX_LOG_ID, what, "log_id");
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
