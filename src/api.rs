//! The request/response model of the drive calls: `GET .../task_check`, and
//! the two writes that start the tasks it reads (move, delete): input
//! validation, paths, queries and bodies, and the classification of a
//! response into a result or an [`Error`]. Pure functions, no I/O.

use std::borrow::Cow;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Kind, Retry};
use crate::text::clean;

/// The endpoint's path; the base URL supplies scheme, host and port.
pub(crate) const TASK_CHECK_PATH: &str = "/open-apis/drive/v1/files/task_check";
/// The drive files; a write's file token follows.
pub(crate) const FILES_PATH: &str = "/open-apis/drive/v1/files/";
/// The token endpoint of a self-built app.
pub(crate) const TOKEN_PATH: &str = "/open-apis/auth/v3/tenant_access_token/internal";
/// Longest app id / app secret accepted, in bytes.
pub(crate) const MAX_CREDENTIAL_LEN: usize = 1024;
/// Longest token lifetime accepted from the token endpoint (it gives <= 2 h).
const MAX_EXPIRE_SECS: u64 = 7 * 24 * 3600;
/// Longest token accepted, in bytes.
pub(crate) const MAX_TOKEN_LEN: usize = 4096;
/// Longest task id accepted, in bytes.
pub(crate) const MAX_TASK_ID_LEN: usize = 1024;
/// Longest file or folder token accepted, in bytes.
pub(crate) const MAX_FILE_TOKEN_LEN: usize = 256;
/// Longest file type word accepted, in bytes.
pub(crate) const MAX_FILE_TYPE_LEN: usize = 32;
/// Room for a task id a write returns, its NUL included: a longer one is a
/// protocol error (`FEISHU_TASK_ID_SIZE`).
pub(crate) const TASK_ID_SIZE: usize = 128;
/// The platform's "retry later" of the writes (no concurrency, 5 per second).
pub(crate) const RETRY_LATER: i32 = 1061045;
/// Largest response body read; a longer one is a protocol error.
pub(crate) const MAX_BODY_LEN: u64 = 1024 * 1024;
/// The platform's "monthly API call quota spent" (a free tenant's).
pub(crate) const QUOTA_SPENT: i32 = 99991403;
/// Longest piece of server-supplied text (`msg`, a status value) kept in a message.
const MAX_QUOTED_LEN: usize = 160;

/// The state of an asynchronous drive task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskStatus {
    /// `"success"`: the task has finished.
    Success,
    /// `"fail"`, or `"failed"`: the task has failed.
    Fail,
    /// `"process"`, or `"pending"`: the task is still running.
    Process,
}

impl TaskStatus {
    /// The platform's page documents `success`, `fail` and `process`;
    /// Feishu's own CLI (larksuite/cli) reads `failed` as a failure and its
    /// tests answer `pending` for a running task. Both spellings are
    /// accepted; anything else is not a status.
    fn parse(s: &str) -> Option<TaskStatus> {
        match s {
            "success" => Some(TaskStatus::Success),
            "fail" | "failed" => Some(TaskStatus::Fail),
            "process" | "pending" => Some(TaskStatus::Process),
            _ => None,
        }
    }
}

/// Checks a token: non-empty, at most [`MAX_TOKEN_LEN`] bytes, visible ASCII
/// only (which also rules out CR/LF header injection). The token itself never
/// appears in the error message.
pub fn check_token(token: &[u8]) -> Result<&str, Error> {
    if token.is_empty() {
        return Err(Error::invalid("token is empty"));
    }
    if token.len() > MAX_TOKEN_LEN {
        return Err(Error::invalid(format!(
            "token is longer than {MAX_TOKEN_LEN} bytes"
        )));
    }
    if token.starts_with(b"Bearer ") || token.starts_with(b"bearer ") {
        return Err(Error::invalid(
            "token starts with \"Bearer \": pass the bare access token; the library adds the \"Bearer \" prefix",
        ));
    }
    if let Some(pos) = token.iter().position(|b| !(0x21..=0x7e).contains(b)) {
        let what = match token[pos] {
            b' ' => "a space",
            b'\r' | b'\n' => "a line break",
            b if b.is_ascii_control() => "a control character",
            _ => "a non-ASCII byte",
        };
        return Err(Error::invalid(format!(
            "token contains {what} at byte {pos}; a token is visible ASCII only"
        )));
    }
    // Visible ASCII is valid UTF-8.
    std::str::from_utf8(token).map_err(|_| Error::invalid("token is not UTF-8"))
}

/// Checks a task id: non-empty, at most [`MAX_TASK_ID_LEN`] bytes, UTF-8.
/// Otherwise it is opaque text, sent percent-encoded.
pub fn check_task_id(task_id: &[u8]) -> Result<&str, Error> {
    if task_id.is_empty() {
        return Err(Error::invalid("task_id is empty"));
    }
    if task_id.len() > MAX_TASK_ID_LEN {
        return Err(Error::invalid(format!(
            "task_id is longer than {MAX_TASK_ID_LEN} bytes"
        )));
    }
    std::str::from_utf8(task_id).map_err(|e| {
        Error::invalid(format!(
            "task_id is not valid UTF-8 (invalid byte at offset {})",
            e.valid_up_to()
        ))
    })
}

/// Everything but RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`):
/// what is percent-encoded in a query value or a path segment.
const RESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Appends `value` percent-encoded as one query value or path segment: every
/// byte outside RFC 3986's unreserved set becomes `%XX`.
pub fn push_encoded(out: &mut String, value: &str) {
    out.extend(utf8_percent_encode(value, RESERVED));
}

/// What the classification needs from an HTTP response.
#[derive(Debug, Default)]
pub struct Reply<'a> {
    pub status: u16,
    /// The `X-Tt-Logid` header.
    pub log_id: Option<&'a str>,
    /// The `x-ogw-ratelimit-reset` header (seconds).
    pub ratelimit_reset: Option<&'a str>,
    /// The `Content-Type` header, used only to describe a non-platform body.
    pub content_type: Option<&'a str>,
    /// The `Location` header of a redirect.
    pub location: Option<&'a str>,
    pub body: &'a [u8],
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(default)]
    code: Option<serde_json::Value>,
    #[serde(default, borrow, deserialize_with = "text")]
    msg: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    data: Option<Data<'a>>,
    #[serde(default, borrow)]
    error: Option<ErrorDetail<'a>>,
    /// The token endpoint's fields (its body is flat, without `data`).
    #[serde(default, borrow, deserialize_with = "text")]
    tenant_access_token: Option<Cow<'a, str>>,
    #[serde(default)]
    expire: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Data<'a> {
    #[serde(default, borrow, deserialize_with = "text")]
    status: Option<Cow<'a, str>>,
    /// A write's task id (any JSON value here: its type is checked).
    #[serde(default)]
    task_id: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ErrorDetail<'a> {
    #[serde(default, borrow, deserialize_with = "text")]
    log_id: Option<Cow<'a, str>>,
}

/// A JSON string or null, borrowed from the body unless it has escapes.
/// (serde borrows a bare `Cow<str>` field, but an `Option<Cow<str>>` always
/// gets an owned copy: an allocation per field per call.)
fn text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    struct Text;
    impl<'de> serde::de::Visitor<'de> for Text {
        type Value = Option<Cow<'de, str>>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string or null")
        }
        fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Borrowed(v)))
        }
        fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_owned())))
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_str(self)
        }
    }
    d.deserialize_option(Text)
}

/// Parses the body as the platform's JSON envelope. Only a JSON object is an
/// envelope; serde_json's recursion limit keeps deep nesting off the stack.
fn parse_envelope(body: &[u8]) -> Result<Envelope<'_>, String> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    match first {
        None => return Err("the body is empty".into()),
        Some(b'{') => {}
        Some(_) => return Err("the body is not a JSON object".into()),
    }
    // serde's message quotes the offending value whole: cut it like any
    // server-supplied text (found by the `classify` fuzz target).
    serde_json::from_slice(body).map_err(|e| {
        format!(
            "the body is not the platform's JSON envelope ({})",
            clean(&e.to_string(), MAX_QUOTED_LEN)
        )
    })
}

/// An [`Error`] about `reply`: its HTTP status, rate-limit advice and log id
/// (the header's, else the body's) attached, and whether it is worth a retry.
fn failure(reply: &Reply<'_>, body_log_id: Option<&str>, kind: Kind, message: String) -> Error {
    // Rate limits and server-side trouble are worth another attempt; what
    // the request itself caused (4xx, auth, bad shapes) is not.
    let retry = match kind {
        // The tenant's monthly quota is spent: another attempt only burns
        // calls, whatever the HTTP status says.
        Kind::Platform(QUOTA_SPENT) => Retry::Never,
        Kind::Platform(99991400) => Retry::RateLimited,
        _ if reply.status == 429 => Retry::RateLimited,
        Kind::Platform(RETRY_LATER) => Retry::Later,
        Kind::Platform(1061001) => Retry::Transient,
        Kind::Platform(_) | Kind::Http if reply.status >= 500 => Retry::Transient,
        _ => Retry::Never,
    };
    let mut e = Error::new(kind, message).retry(retry);
    e.http_status = reply.status;
    e.retry_after_ms = retry_after_ms(reply.ratelimit_reset);
    e.log_id = crate::error::clean_log_id(reply.log_id.or(body_log_id).unwrap_or(""));
    e
}

/// The platform's envelope rules, common to every endpoint: a redirect is an
/// HTTP error; a body with a non-zero `code` is that platform error whatever
/// the HTTP status; a body without a usable `code` is a protocol error on 2xx
/// and an HTTP error otherwise. Returns the envelope of a 2xx, code-0 reply.
fn check_envelope<'a>(reply: &Reply<'a>) -> Result<Envelope<'a>, Error> {
    let parsed = parse_envelope(reply.body);
    // Present only in failure bodies, so this copy is off the success path.
    let body_log_id: Option<String> = match &parsed {
        Ok(env) => env
            .error
            .as_ref()
            .and_then(|e| e.log_id.as_deref().map(str::to_owned)),
        Err(_) => None,
    };
    let fail = |kind: Kind, message: String| failure(reply, body_log_id.as_deref(), kind, message);
    let success = (200..300).contains(&reply.status);
    if (300..400).contains(&reply.status) {
        let to = reply
            .location
            .map(|l| format!(" to {}", clean(l, MAX_QUOTED_LEN)))
            .unwrap_or_default();
        return Err(fail(
            Kind::Http,
            format!(
                "HTTP {} redirect{to} not followed: credentials are never sent to another URL; check the base URL",
                reply.status
            ),
        ));
    }

    let env = match parsed {
        Ok(env) if env.code.is_some() => env,
        Ok(_) if success => {
            return Err(fail(
                Kind::Protocol,
                format!("HTTP {} response has no `code` field", reply.status),
            ));
        }
        Err(why) if success => {
            return Err(fail(
                Kind::Protocol,
                format!("HTTP {} response: {why}", reply.status),
            ));
        }
        _ => return Err(fail(Kind::Http, describe_http_failure(reply))),
    };

    let code = match env.code.as_ref() {
        Some(serde_json::Value::Number(n)) => n.as_i64().map_or_else(
            || {
                if n.is_u64() {
                    Err(format!("platform code {n} is out of range"))
                } else {
                    Err(format!("platform code {n} is not an integer"))
                }
            },
            Ok,
        ),
        Some(other) => Err(format!(
            "platform code is not an integer (found {})",
            json_type(other)
        )),
        None => unreachable!("checked above"),
    };
    let code = match code {
        Ok(code) => code,
        Err(why) => return Err(fail(Kind::Protocol, why)),
    };
    if code != 0 {
        let Ok(platform) = i32::try_from(code) else {
            return Err(fail(
                Kind::Protocol,
                format!("platform code {code} is out of range"),
            ));
        };
        if platform < 0 {
            return Err(fail(
                Kind::Protocol,
                format!("platform code {code} is negative"),
            ));
        }
        let msg = env
            .msg
            .as_deref()
            .map_or_else(|| "(no msg)".into(), |m| clean(m, MAX_QUOTED_LEN));
        return Err(fail(
            Kind::Platform(platform),
            format!("platform error {platform} (HTTP {}): {msg}", reply.status),
        ));
    }

    if !success {
        return Err(fail(
            Kind::Http,
            format!("HTTP {} with a body that reports code 0", reply.status),
        ));
    }
    Ok(env)
}

/// Classifies a complete task_check response: the documented statuses, or
/// the error the envelope rules give.
pub fn classify(reply: &Reply<'_>) -> Result<TaskStatus, Error> {
    let env = check_envelope(reply)?;
    let fail = |kind: Kind, message: String| failure(reply, None, kind, message);
    let Some(data) = env.data else {
        return Err(fail(
            Kind::Protocol,
            "response has code 0 but no `data` object".into(),
        ));
    };
    let Some(status) = data.status else {
        return Err(fail(
            Kind::Protocol,
            "response has code 0 but no `data.status`".into(),
        ));
    };
    TaskStatus::parse(&status).ok_or_else(|| {
        fail(
            Kind::Protocol,
            format!(
                "unknown task status \"{}\" (expected success, fail or process)",
                clean(&status, MAX_QUOTED_LEN)
            ),
        )
    })
}

/// Checks a file or folder token: non-empty visible ASCII, at most
/// [`MAX_FILE_TOKEN_LEN`] bytes. `what` names it in the message.
pub fn check_file_token<'a>(token: &'a [u8], what: &str) -> Result<&'a str, Error> {
    if token.is_empty() {
        return Err(Error::invalid(format!("{what} is empty")));
    }
    if token.len() > MAX_FILE_TOKEN_LEN {
        return Err(Error::invalid(format!(
            "{what} is longer than {MAX_FILE_TOKEN_LEN} bytes"
        )));
    }
    if let Some(pos) = token.iter().position(|b| !(0x21..=0x7e).contains(b)) {
        return Err(Error::invalid(format!(
            "{what} has a byte outside visible ASCII at offset {pos}"
        )));
    }
    std::str::from_utf8(token).map_err(|_| Error::invalid(format!("{what} is not UTF-8")))
}

/// Checks a file type word (`folder`, `file`, `docx`, ...: not limited to
/// today's list): non-empty, lowercase ASCII letters and `_`, at most
/// [`MAX_FILE_TYPE_LEN`] bytes.
pub fn check_file_type(file_type: &[u8]) -> Result<&str, Error> {
    let well_formed = !file_type.is_empty()
        && file_type.len() <= MAX_FILE_TYPE_LEN
        && file_type
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b == b'_');
    if !well_formed {
        return Err(Error::invalid(format!(
            "file_type \"{}\" is not a type word (lowercase letters and _, at most {MAX_FILE_TYPE_LEN} bytes: folder, file, docx, sheet, ...)",
            clean(&String::from_utf8_lossy(file_type), 40)
        )));
    }
    std::str::from_utf8(file_type).map_err(|_| Error::invalid("file_type is not UTF-8"))
}

/// Which write, with its validated inputs.
#[derive(Clone, Copy, Debug)]
pub enum Write<'a> {
    /// `POST /open-apis/drive/v1/files/{file_token}/move`.
    Move {
        file_token: &'a str,
        file_type: &'a str,
        folder_token: &'a str,
    },
    /// `DELETE /open-apis/drive/v1/files/{file_token}?type={file_type}`.
    Delete {
        file_token: &'a str,
        file_type: &'a str,
    },
}

#[derive(Serialize)]
struct MoveBody<'a> {
    #[serde(rename = "type")]
    file_type: &'a str,
    folder_token: &'a str,
}

impl Write<'_> {
    /// The HTTP method.
    pub fn method(&self) -> &'static str {
        match self {
            Write::Move { .. } => "POST",
            Write::Delete { .. } => "DELETE",
        }
    }

    /// The path and query, tokens percent-encoded (appended to the base URL).
    pub fn path(&self) -> String {
        let mut path = FILES_PATH.to_owned();
        match self {
            Write::Move { file_token, .. } => {
                push_encoded(&mut path, file_token);
                path.push_str("/move");
            }
            Write::Delete {
                file_token,
                file_type,
            } => {
                push_encoded(&mut path, file_token);
                path.push_str("?type=");
                push_encoded(&mut path, file_type);
            }
        }
        path
    }

    /// The path as logs show it (no tokens: a file token is not secret, but
    /// a log line need not carry it).
    pub fn log_path(&self) -> &'static str {
        match self {
            Write::Move { .. } => "/open-apis/drive/v1/files/:file_token/move",
            Write::Delete { .. } => "/open-apis/drive/v1/files/:file_token",
        }
    }

    /// The JSON body, if the write has one.
    pub fn body(&self) -> Option<Vec<u8>> {
        match self {
            Write::Move {
                file_type,
                folder_token,
                ..
            } => serde_json::to_vec(&MoveBody {
                file_type,
                folder_token,
            })
            .ok(),
            Write::Delete { .. } => None,
        }
    }
}

/// Classifies a complete response to a write: the task id the platform
/// started (a folder), or `None` when it finished at once (a file, a folder
/// already in place: no `data`, or no or an empty `data.task_id`). A task id
/// that is not text (a whole number is taken as its digits), holds a NUL, or
/// does not fit in [`TASK_ID_SIZE`] is a protocol error that says the
/// operation was accepted.
pub fn classify_write(reply: &Reply<'_>) -> Result<Option<String>, Error> {
    let env = check_envelope(reply)?;
    let fail = |message: String| {
        failure(
            reply,
            None,
            Kind::Protocol,
            format!("the platform accepted the operation (code 0), but {message}"),
        )
    };
    let id = match env.data.and_then(|d| d.task_id) {
        None | Some(serde_json::Value::Null) => return Ok(None),
        Some(serde_json::Value::String(id)) => id,
        Some(serde_json::Value::Number(n)) if n.is_u64() => n.to_string(),
        Some(other) => {
            return Err(fail(format!(
                "its `data.task_id` is {}, not a task id",
                json_type(&other)
            )));
        }
    };
    if id.is_empty() {
        return Ok(None);
    }
    if id.len() >= TASK_ID_SIZE || id.contains('\0') {
        return Err(fail(format!(
            "its `data.task_id` ({} bytes, \"{}\") is not a task id that fits in {TASK_ID_SIZE} bytes with its NUL",
            id.len(),
            clean(&id, 60)
        )));
    }
    Ok(Some(id))
}

/// A tenant_access_token as the token endpoint issued it.
pub struct IssuedToken {
    pub token: String,
    /// Seconds the token still lives.
    pub expire_secs: u64,
}

// Debug by hand: the token is a secret.
impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token", &"<redacted>")
            .field("expire_secs", &self.expire_secs)
            .finish()
    }
}

/// Classifies a token endpoint response:
/// `{"code":0,"msg":"ok","tenant_access_token":"t-...","expire":7200}`.
pub fn classify_token(reply: &Reply<'_>) -> Result<IssuedToken, Error> {
    let env = check_envelope(reply)?;
    let fail = |message: &str| failure(reply, None, Kind::Protocol, message.to_owned());
    let token = env
        .tenant_access_token
        .ok_or_else(|| fail("token response has code 0 but no `tenant_access_token`"))?;
    check_token(token.as_bytes()).map_err(|_| {
        fail("token response holds a `tenant_access_token` that is not a usable token")
    })?;
    let expire_secs = env
        .expire
        .as_ref()
        .and_then(serde_json::Value::as_u64)
        .filter(|&e| (1..=MAX_EXPIRE_SECS).contains(&e))
        .ok_or_else(|| {
            fail("token response has no usable `expire` (whole seconds from 1 to 7 days)")
        })?;
    Ok(IssuedToken {
        token: token.into_owned(),
        expire_secs,
    })
}

/// Checks an app id or app secret: non-empty, at most [`MAX_CREDENTIAL_LEN`]
/// bytes, visible ASCII. The value never appears in the message.
pub fn check_credential<'a>(value: &'a [u8], what: &str) -> Result<&'a str, Error> {
    if value.is_empty() {
        return Err(Error::invalid(format!("{what} is empty")));
    }
    if value.len() > MAX_CREDENTIAL_LEN {
        return Err(Error::invalid(format!(
            "{what} is longer than {MAX_CREDENTIAL_LEN} bytes"
        )));
    }
    if value.iter().any(|b| !(0x21..=0x7e).contains(b)) {
        return Err(Error::invalid(format!(
            "{what} contains a character outside visible ASCII"
        )));
    }
    std::str::from_utf8(value).map_err(|_| Error::invalid(format!("{what} is not UTF-8")))
}

/// The token request's JSON body, `{"app_id":"...","app_secret":"..."}`,
/// written straight into one buffer (the caller wipes it after sending).
pub fn token_request_body(app_id: &str, app_secret: &[u8]) -> Vec<u8> {
    fn push_json_string(out: &mut Vec<u8>, value: &[u8]) {
        out.push(b'"');
        for &b in value {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    }
    let mut body = Vec::with_capacity(32 + 2 * (app_id.len() + app_secret.len()));
    body.extend_from_slice(b"{\"app_id\":");
    push_json_string(&mut body, app_id.as_bytes());
    body.extend_from_slice(b",\"app_secret\":");
    push_json_string(&mut body, app_secret);
    body.push(b'}');
    body
}

fn describe_http_failure(reply: &Reply<'_>) -> String {
    let reason = ureq::http::StatusCode::from_u16(reply.status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .map_or_else(String::new, |r| format!(" {r}"));
    let ctype = reply
        .content_type
        .map(|c| clean(c, 60))
        .unwrap_or_else(|| "no content type".into());
    format!(
        "HTTP {}{reason} with a body that is not a platform error ({ctype}, {} bytes)",
        reply.status,
        reply.body.len()
    )
}

fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// `x-ogw-ratelimit-reset` is whole seconds; anything else is ignored.
fn retry_after_ms(header: Option<&str>) -> u32 {
    header
        .and_then(|h| h.trim().parse::<u64>().ok())
        .map(|s| u32::try_from(s.saturating_mul(1000)).unwrap_or(u32::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, body: &str) -> Reply<'_> {
        Reply {
            status,
            body: body.as_bytes(),
            ..Reply::default()
        }
    }

    fn kind(r: Result<TaskStatus, Error>) -> Kind {
        r.unwrap_err().kind
    }

    #[test]
    fn documented_statuses() {
        for (s, want) in [
            ("success", TaskStatus::Success),
            ("fail", TaskStatus::Fail),
            ("process", TaskStatus::Process),
            // The spellings of Feishu's own CLI.
            ("failed", TaskStatus::Fail),
            ("pending", TaskStatus::Process),
        ] {
            let body = format!(r#"{{"code":0,"msg":"success","data":{{"status":"{s}"}}}}"#);
            assert_eq!(classify(&reply(200, &body)), Ok(want));
        }
        // Anything else is not a status, however close.
        for s in ["Success", "FAILED", "running", "processing", "done", ""] {
            let body = format!(r#"{{"code":0,"msg":"success","data":{{"status":"{s}"}}}}"#);
            let e = classify(&reply(200, &body)).unwrap_err();
            assert_eq!(e.kind, Kind::Protocol, "{s}");
        }
    }

    #[test]
    fn strings_with_escapes_and_nulls_are_read() {
        let body = r#"{"code":0,"msg":null,"data":{"status":"succ\u0065ss"}}"#;
        assert_eq!(classify(&reply(200, body)), Ok(TaskStatus::Success));
        let body = r#"{"code":1061003,"msg":"not \"found\" \u4e2d","error":{"log_id":null}}"#;
        let e = classify(&reply(404, body)).unwrap_err();
        assert!(e.message.contains("not \"found\" 中"), "{}", e.message);
        // Plain strings are borrowed from the body, escaped ones copied.
        let env = parse_envelope(br#"{"code":0,"msg":"ok","data":{"status":"fail"}}"#).unwrap();
        assert!(matches!(env.msg, Some(Cow::Borrowed("ok"))));
        assert!(matches!(
            env.data.unwrap().status,
            Some(Cow::Borrowed("fail"))
        ));
        let env = parse_envelope(br#"{"code":0,"msg":"o\u006b"}"#).unwrap();
        assert!(matches!(env.msg, Some(Cow::Owned(m)) if m == "ok"));
    }

    #[test]
    fn platform_codes_pass_through_whatever_the_http_status() {
        let body = r#"{"code":99991663,"msg":"Invalid access token","error":{"log_id":"L1"}}"#;
        for status in [200, 400, 401] {
            let e = classify(&reply(status, body)).unwrap_err();
            assert_eq!(e.kind, Kind::Platform(99991663));
            assert_eq!(e.http_status, status);
            assert_eq!(e.log_id, "L1");
            assert!(e.message.contains("Invalid access token"), "{}", e.message);
        }
    }

    #[test]
    fn header_log_id_wins_and_reset_is_milliseconds() {
        let r = Reply {
            status: 429,
            log_id: Some("HDR"),
            ratelimit_reset: Some("3"),
            body: br#"{"code":99991400,"msg":"limit","error":{"log_id":"BODY"}}"#,
            ..Reply::default()
        };
        let e = classify(&r).unwrap_err();
        assert_eq!(e.kind, Kind::Platform(99991400));
        assert_eq!(e.retry_after_ms, 3000);
        assert_eq!(e.log_id, "HDR");
        assert_eq!(e.retry, Retry::RateLimited);
    }

    #[test]
    fn only_transient_failures_are_retried() {
        let retry = |status, body| classify(&reply(status, body)).unwrap_err().retry;
        assert_eq!(
            retry(500, r#"{"code":1061001,"msg":"internal error."}"#),
            Retry::Transient
        );
        assert_eq!(
            retry(200, r#"{"code":1061001,"msg":"internal error."}"#),
            Retry::Transient
        );
        assert_eq!(retry(502, "<html>"), Retry::Transient);
        assert_eq!(retry(503, r#"{"code":123,"msg":"busy"}"#), Retry::Transient);
        assert_eq!(
            retry(400, r#"{"code":99991400,"msg":"limit"}"#),
            Retry::RateLimited
        );
        assert_eq!(retry(429, "<html>"), Retry::RateLimited);
        assert_eq!(
            retry(404, r#"{"code":1061003,"msg":"not found."}"#),
            Retry::Never
        );
        assert_eq!(
            retry(400, r#"{"code":1061002,"msg":"params error."}"#),
            Retry::Never
        );
        assert_eq!(
            retry(200, r#"{"code":99991663,"msg":"expired"}"#),
            Retry::Never
        );
        assert_eq!(retry(200, "garbage"), Retry::Never);
        assert_eq!(retry(302, ""), Retry::Never);
    }

    #[test]
    fn bad_codes_are_protocol_errors() {
        for body in [
            r#"{"code":-5,"msg":"x"}"#,
            r#"{"code":4294967296,"msg":"x"}"#,
            r#"{"code":18446744073709551615}"#,
            r#"{"code":"1061003"}"#,
            r#"{"code":1.5}"#,
            r#"{"code":true}"#,
        ] {
            assert_eq!(kind(classify(&reply(200, body))), Kind::Protocol, "{body}");
            assert_eq!(kind(classify(&reply(404, body))), Kind::Protocol, "{body}");
        }
    }

    #[test]
    fn wrong_shapes_are_protocol_errors_on_2xx() {
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        for body in [
            "",
            "   ",
            "not json",
            "[0,\"success\",{\"status\":\"success\"}]",
            r#"{"msg":"success"}"#,
            r#"{"code":0,"msg":"success"}"#,
            r#"{"code":0,"data":{}}"#,
            r#"{"code":0,"data":{"status":3}}"#,
            r#"{"code":0,"data":{"status":"finished"}}"#,
            r#"{"code":0,"data":{"status":"success"}} trailing"#,
            &deep,
        ] {
            assert_eq!(
                kind(classify(&reply(200, body))),
                Kind::Protocol,
                "{body:.40}"
            );
        }
        let e = classify(&reply(200, r#"{"code":0,"data":{"status":"finished"}}"#)).unwrap_err();
        assert!(e.message.contains("\"finished\""), "{}", e.message);
    }

    #[test]
    fn non_platform_http_errors() {
        let mut r = reply(502, "<html>Bad Gateway</html>");
        r.content_type = Some("text/html");
        let e = classify(&r).unwrap_err();
        assert_eq!(e.kind, Kind::Http);
        assert_eq!(e.http_status, 502);
        assert!(e.message.contains("text/html"), "{}", e.message);
        let mut r = reply(302, "");
        r.location = Some("http://elsewhere/");
        let e = classify(&r).unwrap_err();
        assert_eq!(e.kind, Kind::Http);
        assert_eq!(e.http_status, 302);
        // A redirect is never followed, even with a success body.
        let r = reply(301, r#"{"code":0,"data":{"status":"success"}}"#);
        assert_eq!(kind(classify(&r)), Kind::Http);
    }

    #[test]
    fn token_responses() {
        let ok = reply(
            200,
            r#"{"code":0,"msg":"ok","tenant_access_token":"t-abc","expire":7200}"#,
        );
        let t = classify_token(&ok).unwrap();
        assert_eq!((t.token.as_str(), t.expire_secs), ("t-abc", 7200));
        let e = classify_token(&reply(400, r#"{"code":10014,"msg":"app secret invalid"}"#))
            .unwrap_err();
        assert_eq!(e.kind, Kind::Platform(10014));
        assert!(e.message.contains("app secret invalid"));
        for body in [
            r#"{"code":0,"msg":"ok","expire":7200}"#,
            r#"{"code":0,"tenant_access_token":"t-abc"}"#,
            r#"{"code":0,"tenant_access_token":"t-abc","expire":0}"#,
            r#"{"code":0,"tenant_access_token":"t-abc","expire":-5}"#,
            r#"{"code":0,"tenant_access_token":"t-abc","expire":"7200"}"#,
            r#"{"code":0,"tenant_access_token":"t a","expire":7200}"#,
            r#"{"code":0,"tenant_access_token":"","expire":7200}"#,
        ] {
            assert_eq!(
                classify_token(&reply(200, body)).unwrap_err().kind,
                Kind::Protocol,
                "{body}"
            );
        }
    }

    #[test]
    fn token_request_bodies_are_json() {
        let body = token_request_body("cli_a", br#"s"e\c"#);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["app_id"], "cli_a");
        assert_eq!(v["app_secret"], r#"s"e\c"#);
        assert!(check_credential(b"cli_ok", "app_id").is_ok());
        for bad in [&b""[..], b"a b", b"\x01", &[b'a'; MAX_CREDENTIAL_LEN + 1]] {
            let e = check_credential(bad, "app_secret").unwrap_err();
            assert!(e.message.starts_with("app_secret"), "{}", e.message);
        }
    }

    #[test]
    fn tokens_are_checked() {
        assert!(check_token(b"t-abc").is_ok());
        for bad in [
            &b""[..],
            b"Bearer t-abc",
            b"t-a b",
            b"t-a\r\nX: y",
            b"t-\x7f",
            "t-中".as_bytes(),
            &[b'a'; MAX_TOKEN_LEN + 1],
        ] {
            let e = check_token(bad).unwrap_err();
            assert_eq!(e.kind, Kind::InvalidArgument);
            assert!(!e.message.contains("t-a"), "token leaked: {}", e.message);
        }
        assert!(check_token(&[b'a'; MAX_TOKEN_LEN]).is_ok());
        assert!(
            check_token(b"Bearer x")
                .unwrap_err()
                .message
                .contains("Bearer")
        );
    }

    #[test]
    fn task_ids_are_checked() {
        assert_eq!(check_task_id("中 &#".as_bytes()), Ok("中 &#"));
        assert!(check_task_id(b"").is_err());
        assert!(check_task_id(b"\xff").is_err());
        assert!(check_task_id(&[b'1'; MAX_TASK_ID_LEN + 1]).is_err());
        assert!(check_task_id(&[b'1'; MAX_TASK_ID_LEN]).is_ok());
    }

    #[test]
    fn query_values_are_percent_encoded() {
        let mut s = String::new();
        push_encoded(&mut s, "a&b=c d%+#中~._-Z9");
        assert_eq!(s, "a%26b%3Dc%20d%25%2B%23%E4%B8%AD~._-Z9");
        for (value, want) in [("", ""), ("abc", "abc"), ("/", "%2F"), ("a b", "a%20b")] {
            let mut out = String::new();
            push_encoded(&mut out, value);
            assert_eq!(out, want, "{value:?}");
        }
    }
}
