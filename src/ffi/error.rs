//! The return codes, `FeishuError`, the thread's last error, and static
//! messages.

use std::cell::RefCell;
use std::ffi::{CStr, c_char};

use crate::error::{Error, FEISHU_LOG_ID_SIZE, FEISHU_MESSAGE_SIZE, Kind};

/// Return codes. Every function that returns `int32_t` returns one of these,
/// or a positive platform code: 0 is success, < 0 a failure on this side of
/// the wire, > 0 the Feishu platform's own `code` from the response body,
/// unchanged (1061003, 99991663, ...). `feishu_strerror` describes each.
///
/// cbindgen:prefix-with-name=false
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeishuCode {
    /// Success.
    FeishuOk = 0,
    /// NULL, empty, over-long or ill-formed input, or a bad configuration value; nothing was sent.
    FeishuErrInvalidArgument = -1,
    /// DNS, connect, TLS, reset, or truncated transfer.
    FeishuErrNetwork = -2,
    /// The call's deadline passed.
    FeishuErrTimeout = -3,
    /// A non-2xx HTTP status whose body is not a platform error (an HTML 502, a redirect, ...).
    FeishuErrHttp = -4,
    /// A 2xx response whose body is not the documented shape, or a body over 1 MiB.
    FeishuErrProtocol = -5,
    /// A wait was cancelled by the caller.
    FeishuErrCancelled = -6,
    /// A bug: a Rust panic was caught at the C boundary.
    FeishuErrInternal = -99,
}

// The codes as plain integers, for Rust code (the values are the enum's).
pub const FEISHU_OK: i32 = FeishuCode::FeishuOk as i32;
pub const FEISHU_ERR_INVALID_ARGUMENT: i32 = FeishuCode::FeishuErrInvalidArgument as i32;
pub const FEISHU_ERR_NETWORK: i32 = FeishuCode::FeishuErrNetwork as i32;
pub const FEISHU_ERR_TIMEOUT: i32 = FeishuCode::FeishuErrTimeout as i32;
pub const FEISHU_ERR_HTTP: i32 = FeishuCode::FeishuErrHttp as i32;
pub const FEISHU_ERR_PROTOCOL: i32 = FeishuCode::FeishuErrProtocol as i32;
pub const FEISHU_ERR_CANCELLED: i32 = FeishuCode::FeishuErrCancelled as i32;
pub const FEISHU_ERR_INTERNAL: i32 = FeishuCode::FeishuErrInternal as i32;

// The core's kinds return exactly these codes.
const _: () = {
    assert!(Kind::InvalidArgument.code() == FEISHU_ERR_INVALID_ARGUMENT);
    assert!(Kind::Network.code() == FEISHU_ERR_NETWORK);
    assert!(Kind::Timeout.code() == FEISHU_ERR_TIMEOUT);
    assert!(Kind::Http.code() == FEISHU_ERR_HTTP);
    assert!(Kind::Protocol.code() == FEISHU_ERR_PROTOCOL);
    assert!(Kind::Cancelled.code() == FEISHU_ERR_CANCELLED);
    assert!(Kind::Internal.code() == FEISHU_ERR_INTERNAL);
};

/// Details of a failure. Caller-allocated (on the stack is fine); the library
/// never allocates for it and fills every field, so no secret can linger in it.
#[repr(C)]
pub struct FeishuError {
    /// The value the call returned.
    pub code: i32,
    /// The HTTP status of the response; 0 when no HTTP response was received.
    pub http_status: i32,
    /// How long to wait before trying again, in milliseconds; 0 if nothing is
    /// known. After the platform's 429 / 99991400 it is its
    /// `x-ogw-ratelimit-reset` (seconds * 1000). When the library itself did
    /// not send (the token's announced reset, or the client's declared rate
    /// limit, lies past the call's deadline: `http_status` is 0), it is the
    /// time until that reset or until the next start is free.
    pub retry_after_ms: u32,
    /// The platform's log id (`X-Tt-Logid`, else the body's `error.log_id`); "" if none.
    /// Quote it when asking Feishu support about a request.
    pub log_id: [c_char; FEISHU_LOG_ID_SIZE],
    /// What happened, for a developer: UTF-8, NUL-terminated, cut at a character
    /// boundary. Never contains a token or secret.
    pub message: [c_char; FEISHU_MESSAGE_SIZE],
}

thread_local! {
    static LAST_ERROR: RefCell<Option<Error>> = const { RefCell::new(None) };
}

/// Records the outcome of a call on this thread (`None` for success). A call
/// made while the thread's storage is being torn down (from a pthread key
/// destructor, say) has no last error to record: `try_with`, not `with`,
/// which would panic there, outside any catch.
pub(crate) fn set_last(error: Option<Error>) {
    let _ = LAST_ERROR.try_with(|last| {
        if let Ok(mut last) = last.try_borrow_mut() {
            *last = error;
        }
    });
}

/// Records the outcome of a call: into `*out` when it is non-NULL, and as the
/// thread's last error.
///
/// # Safety
/// `out` is NULL or points to a writable `FeishuError`.
pub(crate) unsafe fn record(out: *mut FeishuError, error: Option<Error>) {
    // SAFETY: guaranteed by the caller; `as_mut` handles NULL.
    if let Some(out) = unsafe { out.as_mut() } {
        out.fill(error.as_ref());
    }
    set_last(error);
}

/// Copies `s` into `dst` as a NUL-terminated string, cut at a character
/// boundary, and zeroes the rest of `dst`.
fn copy_str(dst: &mut [c_char], s: &str) {
    let mut end = s.len().min(dst.len() - 1);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    dst.fill(0);
    for (d, &b) in dst.iter_mut().zip(&s.as_bytes()[..end]) {
        *d = b as c_char;
    }
}

impl FeishuError {
    pub(crate) fn fill(&mut self, error: Option<&Error>) {
        match error {
            Some(e) => {
                self.code = e.code();
                self.http_status = i32::from(e.http_status);
                self.retry_after_ms = e.retry_after_ms;
                copy_str(&mut self.log_id, &e.log_id);
                copy_str(&mut self.message, &e.message);
            }
            None => {
                self.code = FEISHU_OK;
                self.http_status = 0;
                self.retry_after_ms = 0;
                copy_str(&mut self.log_id, "");
                copy_str(&mut self.message, "");
            }
        }
    }
}

/// Fills `*out` with the calling thread's last failure and returns its code.
///
/// Every function of this library that returns a code records its outcome for
/// the calling thread: after a success this returns `FEISHU_OK` and fills `*out`
/// with code 0 and empty strings.
///
/// `out` may be NULL (only the code is returned).
///
/// Thread-safety: the state is per OS thread. Not usable from Go (a goroutine
/// can change threads between two cgo calls): use the `FeishuError *err`
/// parameter of the client API instead.
///
/// Returns the last call's code: `FEISHU_OK`, a `FEISHU_ERR_*` value, or a
/// platform code (> 0).
///
/// @param out receives the details of this thread's last failure; may be NULL
/// @return the code of this thread's last call (`FEISHU_OK` after a success)
#[unsafe(no_mangle)]
pub extern "C" fn feishu_last_error(out: *mut FeishuError) -> i32 {
    ffi_panic_boundary! {
        // During the thread's teardown there is no last error: report none.
        let last = LAST_ERROR
            .try_with(|last| last.try_borrow().ok().and_then(|l| l.clone()))
            .ok()
            .flatten();
        // SAFETY: `out` is NULL or points to a writable FeishuError (the
        // caller's contract); `as_mut` handles NULL.
        if let Some(out) = unsafe { out.as_mut() } {
            out.fill(last.as_ref());
        }
        last.as_ref().map_or(FEISHU_OK, Error::code)
    }
}

/// A static, human-readable description of a return code, like
/// `curl_easy_strerror`. Never NULL, also for unknown codes; positive codes
/// get a description of the platform error when it is a documented one.
///
/// The string is static: do not free it. Thread-safe.
///
/// @param code any return code of this library (also unknown ones)
/// @return a static description (never NULL, never freed)
#[unsafe(no_mangle)]
pub extern "C" fn feishu_strerror(code: i32) -> *const c_char {
    ffi_panic_boundary! { describe(code).as_ptr() }
}

/// The static description of a return code, as `feishu_strerror` gives it.
pub fn describe(code: i32) -> &'static CStr {
    match code {
        FEISHU_OK => c"success",
        FEISHU_ERR_INVALID_ARGUMENT => c"invalid argument (nothing was sent)",
        FEISHU_ERR_NETWORK => c"network error (DNS, connect, TLS, reset or truncated transfer)",
        FEISHU_ERR_TIMEOUT => c"the call's deadline passed",
        FEISHU_ERR_HTTP => c"HTTP error without a platform error body",
        FEISHU_ERR_PROTOCOL => c"response not in the documented shape, or too large",
        FEISHU_ERR_CANCELLED => c"cancelled by the caller",
        FEISHU_ERR_INTERNAL => c"internal error (a bug in libfeishu_task)",
        1061001 => c"platform: internal error (transient, retry later)",
        1061002 => c"platform: params error",
        1061003 => c"platform: not found (the task, file or folder)",
        1061004 => c"platform: forbidden",
        1061005 => c"platform: authentication failed",
        1061007 => c"platform: already deleted",
        1061045 => c"platform: retry later (writes: no concurrency, 5 per second)",
        1062501 | 1062502 => c"platform: no permission on the node or its children",
        1062507 => c"platform: more than 1,500 items in the folder",
        1062524 | 1062535 => c"platform: no edit permission on the source or destination",
        1064510 | 1064511 => c"platform: cross-tenant or cross-brand operation",
        1065200 => c"platform: source node not found (possibly replica lag)",
        99991400 => c"platform: rate limited",
        99991403 => c"platform: monthly API quota spent (never retried)",
        99991661 => c"platform: missing or malformed Authorization",
        99991663 => c"platform: tenant_access_token invalid or expired",
        99991664 => c"platform: app_access_token invalid",
        99991668 => c"platform: user_access_token invalid",
        99991671 => c"platform: token format wrong (must start t- or u-)",
        99991672 => c"platform: app lacks the required scope",
        99991677 => c"platform: user_access_token expired",
        c if c > 0 => c"platform error (see the Feishu error code reference)",
        _ => c"unknown error code",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_description() {
        for code in [
            -99,
            -7,
            -6,
            -5,
            -4,
            -3,
            -2,
            -1,
            0,
            1,
            1061003,
            i32::MAX,
            i32::MIN,
        ] {
            assert!(!describe(code).is_empty());
        }
        assert_eq!(describe(-7), c"unknown error code");
    }
}
