//! `FeishuError`, the thread's last error, and static messages.

use std::cell::RefCell;
use std::ffi::c_char;

use crate::error::{Error, FEISHU_LOG_ID_SIZE, FEISHU_OK, describe};

/// Details of a failure. Caller-allocated (on the stack is fine); the library
/// never allocates for it and fills every field, so no secret can linger in it.
#[repr(C)]
pub struct FeishuError {
    /// The value the call returned.
    pub code: i32,
    /// The HTTP status of the response; 0 when no HTTP response was received.
    pub http_status: i32,
    /// The wait the platform advised (`x-ogw-ratelimit-reset`, seconds * 1000); 0 if none.
    pub retry_after_ms: u32,
    /// The platform's log id (`X-Tt-Logid`, else the body's `error.log_id`); "" if none.
    /// Quote it when asking Feishu support about a request.
    pub log_id: [c_char; FEISHU_LOG_ID_SIZE],
    /// What happened, for a developer: UTF-8, NUL-terminated, cut at a character
    /// boundary. Never contains a token or secret.
    pub message: [c_char; 256],
}

thread_local! {
    static LAST_ERROR: RefCell<Option<Error>> = const { RefCell::new(None) };
}

/// Records the outcome of a call on this thread (`None` for success).
pub(crate) fn set_last(error: Option<Error>) {
    LAST_ERROR.with(|last| *last.borrow_mut() = error);
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
        LAST_ERROR.with(|last| {
            let last = last.borrow();
            // SAFETY: `out` is NULL or points to a writable FeishuError (the
            // caller's contract); `as_mut` handles NULL.
            if let Some(out) = unsafe { out.as_mut() } {
                out.fill(last.as_ref());
            }
            last.as_ref().map_or(FEISHU_OK, Error::code)
        })
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
