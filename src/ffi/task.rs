//! The mission call, `feishu_task_check`, and `feishu_version`.

use std::ffi::{CStr, c_char};

use super::error::FEISHU_OK;
use crate::api::{MAX_TASK_ID_LEN, MAX_TOKEN_LEN, TaskStatus};
use crate::client;
use crate::error::Error;

use super::c_bytes;
use super::error::{FeishuError, record};

/// The status of an asynchronous drive task. An `int32_t` in C.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeishuTaskStatus {
    /// Only ever written on failure.
    Unknown = 0,
    /// `"success"`: the task has finished.
    Success = 1,
    /// `"fail"`: the task has failed (also `"failed"`, the spelling Feishu's
    /// own CLI reads).
    Fail = 2,
    /// `"process"`: the task is still running (also `"pending"`, the spelling
    /// Feishu's own CLI tests with).
    Process = 3,
}

impl From<TaskStatus> for FeishuTaskStatus {
    fn from(s: TaskStatus) -> FeishuTaskStatus {
        match s {
            TaskStatus::Success => FeishuTaskStatus::Success,
            TaskStatus::Fail => FeishuTaskStatus::Fail,
            TaskStatus::Process => FeishuTaskStatus::Process,
        }
    }
}

/// Writes `status` to `out` when `out` is non-NULL.
///
/// # Safety
/// `out` is NULL or points to a writable `FeishuTaskStatus`.
pub(crate) unsafe fn write_status(out: *mut FeishuTaskStatus, status: FeishuTaskStatus) {
    // SAFETY: guaranteed by the caller; `as_mut` handles NULL.
    if let Some(out) = unsafe { out.as_mut() } {
        *out = status;
    }
}

/// Records `result` (in `*err` and as the thread's last error), writes the
/// status, and returns the code.
///
/// # Safety
/// `out` is NULL or a writable `FeishuTaskStatus`; `err` NULL or a writable
/// `FeishuError`.
pub(crate) unsafe fn finish(
    result: Result<TaskStatus, Error>,
    out: *mut FeishuTaskStatus,
    err: *mut FeishuError,
) -> i32 {
    let (code, status) = match &result {
        Ok(status) => (FEISHU_OK, (*status).into()),
        Err(e) => (e.code(), FeishuTaskStatus::Unknown),
    };
    // SAFETY: forwarded from the caller.
    unsafe {
        write_status(out, status);
        record(err, result.err());
    }
    code
}

/// Asks the Feishu Open Platform for the status of an asynchronous drive task
/// (`GET /open-apis/drive/v1/files/task_check?task_id=...`).
///
/// - `token`: a tenant_access_token (`t-...`) or user_access_token (`u-...`),
///   without the `"Bearer "` prefix; visible ASCII, at most 4096 bytes.
/// - `task_id`: the id returned by "move folder" or "delete folder"; UTF-8, at
///   most 1024 bytes; sent percent-encoded as one query value.
/// - `out_status`: receives the status on `FEISHU_OK`, and
///   `FEISHU_TASK_STATUS_UNKNOWN` on any failure. May be NULL.
///
/// Uses the process-wide default client, created on first use from the
/// environment (`FEISHU_BASE_URL`, default `https://open.feishu.cn`;
/// `FEISHU_TIMEOUT_MS`, the whole-call deadline, default 30000;
/// `FEISHU_CA_FILE`, PEM roots to trust instead of the bundled Mozilla roots;
/// `HTTPS_PROXY`/`ALL_PROXY`/`NO_PROXY`)
/// and then shared by all threads with one keep-alive connection pool.
///
/// Returns:
/// - `FEISHU_OK`: `*out_status` is SUCCESS, FAIL or PROCESS.
/// - `FEISHU_ERR_INVALID_ARGUMENT`: NULL/empty/over-long/ill-formed input (a
///   token with a space, CR/LF or non-ASCII, or starting with "Bearer "), or
///   a bad value in one of the environment variables above (the message names
///   it); nothing was sent.
/// - `FEISHU_ERR_NETWORK`: DNS, connect, TLS, reset, truncated transfer.
/// - `FEISHU_ERR_TIMEOUT`: no complete response within the deadline.
/// - `FEISHU_ERR_HTTP`: a non-2xx status without a platform error body, or a
///   redirect (never followed).
/// - `FEISHU_ERR_PROTOCOL`: a 2xx body not in the documented shape (not JSON,
///   no `data.status`, an unknown status, a non-integer or out-of-range
///   `code`), or a body over 1 MiB.
/// - `FEISHU_ERR_INTERNAL`: a bug (a caught panic).
/// - `> 0`: the platform's `code`, unchanged, whatever the HTTP status, e.g.
///   1061001 internal error, 1061002 params error, 1061003 not found,
///   99991400 rate limited (see `retry_after_ms`), 99991663 token expired.
///
/// Details of a failure: `feishu_last_error` on the same thread.
///
/// Thread-safety: safe to call from any number of threads at once. Blocking:
/// returns within the deadline. Strings are only borrowed for the call.
///
/// @param token the access token (tenant_access_token `t-...` or user_access_token `u-...`), without "Bearer "; borrowed for the call
/// @param task_id the task id returned by the move or delete folder API; borrowed for the call
/// @param out_status receives the status (UNKNOWN on failure); may be NULL
/// @return `FEISHU_OK`, a `FEISHU_ERR_*` code (< 0), or the platform's code (> 0)
#[unsafe(no_mangle)]
pub extern "C" fn feishu_task_check(
    token: *const c_char,
    task_id: *const c_char,
    out_status: *mut FeishuTaskStatus,
) -> i32 {
    ffi_panic_boundary! {
        // SAFETY: `out_status` is NULL or writable (caller's contract). Written
        // first, so that even a caught panic leaves UNKNOWN behind.
        unsafe { write_status(out_status, FeishuTaskStatus::Unknown) };
        // SAFETY: `token` and `task_id` are NULL or NUL-terminated strings
        // that live for the duration of this call (caller's contract).
        let inputs = unsafe {
            c_bytes(token, "token", MAX_TOKEN_LEN)
                .and_then(|t| Ok((t, c_bytes(task_id, "task_id", MAX_TASK_ID_LEN)?)))
        };
        let result = inputs.and_then(|(token, task_id)| {
            client::with_default_client(|c| c.task_check(Some(token), task_id))
        });
        // SAFETY: as above for `out_status`.
        unsafe { finish(result, out_status, std::ptr::null_mut()) }
    }
}

/// The library's version, `"MAJOR.MINOR.PATCH"`. Static; never NULL. Thread-safe.
///
/// @return the static string "MAJOR.MINOR.PATCH" (never NULL, never freed)
#[unsafe(no_mangle)]
pub extern "C" fn feishu_version() -> *const c_char {
    const VERSION: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(v) => v,
            Err(_) => panic!("the package version contains a NUL byte"),
        };
    ffi_panic_boundary! { VERSION.as_ptr() }
}
