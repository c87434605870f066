//! `feishu_client_task_wait` and the cancel handle `FeishuCancel`.

use std::ffi::{c_char, c_void};
use std::time::Duration;

use crate::api::MAX_TASK_ID_LEN;
use crate::error::Error;
use crate::wait::{self, Cancel};

use super::client::FeishuClient;
use super::error::{FeishuError, record};
use super::task::{FeishuTaskStatus, write_status};
use super::{c_bytes, optional_token};

/// A cancellation flag for waits. Opaque; create with `feishu_cancel_new`,
/// free with `feishu_cancel_free` once no wait uses it. One handle may serve
/// any number of waits; triggering it is permanent.
pub struct FeishuCancel {
    cancel: Cancel,
}

/// Called after every poll of a wait with the status that poll returned
/// (`FEISHU_TASK_STATUS_UNKNOWN` for a poll that failed, whether the failure
/// is absorbed or ends the wait), the
/// number of polls so far, and the milliseconds since the wait began. Return
/// 0 to go on; any other value stops the wait with `FEISHU_ERR_CANCELLED`.
///
/// Called on the waiting thread, between polls, with no lock of the library
/// held: it may call any function of the library, the same client included
/// (`feishu_cancel_trigger` too), but must not free the client, the cancel
/// handle or the strings the wait uses. It must return normally: no C++
/// exception and no `longjmp` may leave it through the library.
pub type FeishuWaitProgress = Option<
    extern "C" fn(
        user_data: *mut c_void,
        status: FeishuTaskStatus,
        polls: u32,
        elapsed_ms: u64,
    ) -> i32,
>;

/// A new, untriggered cancel handle; NULL only if memory is exhausted.
/// Thread-safe.
///
/// @return a new cancel handle, or NULL if memory is exhausted; free with feishu_cancel_free()
#[unsafe(no_mangle)]
pub extern "C" fn feishu_cancel_new() -> *mut FeishuCancel {
    ffi_panic_boundary! {
        Box::into_raw(Box::new(FeishuCancel { cancel: Cancel::new() }))
    }
}

/// Cancels every wait using `cancel`, now and later: a wait that is sleeping
/// (between polls, between a poll's attempts, waiting out a rate-limit reset,
/// queued for the client's declared rate limit) returns `FEISHU_ERR_CANCELLED`
/// within milliseconds (at most 50); one with a request in flight returns right
/// after that request ends. Safe
/// to call from any thread (a signal handler excepted), any number of times.
/// NULL does nothing.
///
/// @param cancel the handle to trigger, or NULL (nothing happens)
#[unsafe(no_mangle)]
pub extern "C" fn feishu_cancel_trigger(cancel: *const FeishuCancel) {
    ffi_panic_boundary! {
        // SAFETY: `cancel` is NULL or a live handle (the caller's contract).
        if let Some(c) = unsafe { cancel.as_ref() } {
            c.cancel.trigger();
        }
    }
}

/// Frees a cancel handle. NULL does nothing. No wait may be using it.
///
/// @param cancel a handle from feishu_cancel_new(), or NULL (nothing happens)
#[unsafe(no_mangle)]
pub extern "C" fn feishu_cancel_free(cancel: *mut FeishuCancel) {
    ffi_panic_boundary! {
        if !cancel.is_null() {
            // SAFETY: a non-NULL `cancel` came from feishu_cancel_new and is
            // freed once, with no wait using it (the caller's contract).
            drop(unsafe { Box::from_raw(cancel) });
        }
    }
}

/// Waits until a task has finished: polls `task_check` until the status is
/// `success` or `fail` and returns `FEISHU_OK` with it in `*out_status`.
///
/// - Schedule: the first poll at once; then a delay that starts near 200 ms
///   and grows by half each time to a cap of 5 s, jittered so that many
///   waiters do not poll in step; never a sleep past the deadline.
/// - Each poll is one `feishu_client_task_check` with the client's own
///   retries, bounded by the client's call timeout and what is left of the
///   wait. `token` may be NULL with app credentials on the client.
/// - Rate limits: a poll never sends into a reset the platform announced for
///   the token (429 / 99991400 with `x-ogw-ratelimit-reset`) nor past the
///   client's declared limit (`feishu_client_options_set_rate_limit`); after a
///   99991400 the next poll comes after the advised reset (within the deadline).
/// - Transient failures (network, 5xx, 1061001, a poll's own timeout) are
///   absorbed up to 5 in a row; the 6th is returned. Permanent failures
///   (1061002, 1061003, auth codes, protocol errors, invalid input) return at
///   once.
/// - `timeout_ms` (>= 1) bounds the whole wait. `cancel` (may be NULL) and
///   `progress` (may be NULL; `user_data` is passed to it) can stop it.
///
/// `*out_status` (may be NULL): the final status on `FEISHU_OK`; on
/// `FEISHU_ERR_TIMEOUT` and `FEISHU_ERR_CANCELLED` the last status seen
/// (`FEISHU_TASK_STATUS_PROCESS`, or UNKNOWN if no poll succeeded), which is
/// the one exception to "UNKNOWN on failure"; UNKNOWN on any other failure.
///
/// Returns `FEISHU_OK`, `FEISHU_ERR_TIMEOUT` (the wait's deadline passed),
/// `FEISHU_ERR_CANCELLED` (cancel handle or progress callback),
/// `FEISHU_ERR_INVALID_ARGUMENT` (NULL client, bad token or task id, a
/// timeout of 0), or the failure that ended it (see
/// `feishu_client_task_check`). `err` (may be NULL) and the thread's last
/// error receive the details. Thread-safe; blocks the calling thread.
///
/// @param client the client to use
/// @param token the access token, or NULL for the client's managed token; borrowed for the call
/// @param task_id the task id; borrowed for the call
/// @param timeout_ms the whole wait's deadline, in ms (>= 1)
/// @param cancel a cancel handle that can stop the wait; may be NULL
/// @param progress called after every poll; may be NULL
/// @param user_data passed to `progress` unchanged
/// @param out_status receives the final status (or the last one seen on a timeout or cancel); may be NULL
/// @param err receives this call's outcome; may be NULL
/// @return `FEISHU_OK`, a `FEISHU_ERR_*` code (< 0), or the platform's code (> 0)
#[unsafe(no_mangle)]
pub extern "C" fn feishu_client_task_wait(
    client: *const FeishuClient,
    token: *const c_char,
    task_id: *const c_char,
    timeout_ms: u32,
    cancel: *const FeishuCancel,
    progress: FeishuWaitProgress,
    user_data: *mut c_void,
    out_status: *mut FeishuTaskStatus,
    err: *mut FeishuError,
) -> i32 {
    ffi_panic_boundary! {
        // SAFETY: `out_status` is NULL or writable (caller's contract).
        unsafe { write_status(out_status, FeishuTaskStatus::Unknown) };
        let inputs = (|| {
            // SAFETY: `client` and `cancel` are NULL or live; `token` and
            // `task_id` NULL or NUL-terminated strings outliving the call.
            let client = unsafe { client.as_ref() }.ok_or_else(|| Error::invalid("client is NULL"))?;
            // SAFETY: as above.
            let token = unsafe { optional_token(token) }?;
            // SAFETY: as above.
            let task_id = unsafe { c_bytes(task_id, "task_id", MAX_TASK_ID_LEN) }?;
            if timeout_ms == 0 {
                return Err(Error::invalid("timeout_ms is 0; a wait needs at least 1 ms"));
            }
            // SAFETY: as above.
            Ok((client, token, task_id, unsafe { cancel.as_ref() }))
        })();
        let (client, token, task_id, cancel) = match inputs {
            Ok(inputs) => inputs,
            Err(e) => {
                let code = e.code();
                // SAFETY: `err` is NULL or writable (caller's contract).
                unsafe { record(err, Some(e)) };
                return code;
            }
        };
        let outcome = wait::wait(
            &client.client,
            token,
            task_id,
            Duration::from_millis(timeout_ms.into()),
            cancel.map(|c| &c.cancel),
            |status, polls, elapsed| match progress {
                Some(callback) => {
                    let status = status.map_or(FeishuTaskStatus::Unknown, Into::into);
                    let ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
                    callback(user_data, status, polls, ms) != 0
                }
                None => false,
            },
        );
        let (code, status) = match &outcome.result {
            Ok(done) => (0, (*done).into()),
            Err(e) => {
                let keeps_last = matches!(e.code(), super::error::FEISHU_ERR_TIMEOUT | super::error::FEISHU_ERR_CANCELLED);
                let last = outcome.last_status.filter(|_| keeps_last);
                (e.code(), last.map_or(FeishuTaskStatus::Unknown, Into::into))
            }
        };
        // SAFETY: `out_status` and `err` are NULL or writable (caller's contract).
        unsafe {
            write_status(out_status, status);
            record(err, outcome.result.err());
        }
        code
    }
}
