//! `FeishuClient`: an explicit, immutable, thread-safe client.

use std::ffi::c_char;

use crate::api::MAX_TASK_ID_LEN;
use crate::client::Client;
use crate::config::Config;
use crate::error::Error;

use super::error::{FeishuError, record};
use super::options::FeishuClientOptions;
use super::task::{FeishuTaskStatus, finish, write_status};
use super::{c_bytes, optional_token};

/// A client: its own base URL, timeouts, retries, TLS roots, proxy and log
/// callback, and its own keep-alive connection pool. Opaque; create with
/// `feishu_client_new`, free with `feishu_client_free`. Immutable and safe to
/// use from any number of threads at once.
pub struct FeishuClient {
    pub(crate) client: Client,
}

/// Builds a client from `options` (which stay owned by the caller and may be
/// freed or reused afterwards), or, with NULL options, exactly as the default
/// client of `feishu_task_check` is built: from the environment
/// (`FEISHU_BASE_URL`, `FEISHU_TIMEOUT_MS`, `FEISHU_CA_FILE`, proxy variables).
///
/// Returns the client, or NULL with `*err` filled (when `err` is non-NULL)
/// and the thread's last error set: `FEISHU_ERR_INVALID_ARGUMENT` for a bad
/// environment value or proxy variable. Free with `feishu_client_free`.
///
/// @param options the options to build from (not consumed; free them when you like), or NULL for the default client's configuration from the environment
/// @param err receives the reason on failure; may be NULL
/// @return a new client, or NULL on failure; free with feishu_client_free()
#[unsafe(no_mangle)]
pub extern "C" fn feishu_client_new(
    options: *const FeishuClientOptions,
    err: *mut FeishuError,
) -> *mut FeishuClient {
    ffi_panic_boundary! {
        // SAFETY: `options` is NULL or a live pointer from
        // feishu_client_options_new (the caller's contract).
        let config = match unsafe { options.as_ref() } {
            Some(o) => o.to_config(),
            None => Config::from_env(),
        };
        match config.and_then(|c| Client::new(&c)) {
            Ok(client) => {
                // SAFETY: `err` is NULL or writable (the caller's contract).
                unsafe { record(err, None) };
                Box::into_raw(Box::new(FeishuClient { client }))
            }
            Err(e) => {
                // SAFETY: as above.
                unsafe { record(err, Some(e)) };
                std::ptr::null_mut()
            }
        }
    }
}

/// Frees a client and closes its connections. NULL does nothing. No call on
/// the client may be running or start afterwards.
///
/// @param client a client from feishu_client_new(), or NULL (nothing happens)
#[unsafe(no_mangle)]
pub extern "C" fn feishu_client_free(client: *mut FeishuClient) {
    ffi_panic_boundary! {
        if !client.is_null() {
            // SAFETY: a non-NULL `client` came from feishu_client_new and is
            // freed once, with no call running (the caller's contract).
            drop(unsafe { Box::from_raw(client) });
        }
    }
}

/// `feishu_task_check` with an explicit client: same inputs, same return codes,
/// same `*out_status` rule (UNKNOWN on any failure), plus the client's retries.
///
/// `token` may be NULL when the client has app credentials
/// (`feishu_client_options_set_app_credentials`): the client then uses its own
/// tenant_access_token, fetched on first need, cached until shortly before it
/// expires, fetched by one thread while others wait, and replaced once (with
/// the call retried once) when the platform answers 99991663 or 99991664. A
/// failure of the token request returns its code (a platform code such as
/// 10014, or a `FEISHU_ERR_*`) with a message starting "tenant_access_token
/// request failed". Without credentials a NULL token is
/// `FEISHU_ERR_INVALID_ARGUMENT`.
///
/// Rate limits, client-wide: once the platform answers 99991400 with
/// `x-ogw-ratelimit-reset`, no call of this client with the same token is sent
/// before the reset has passed (other tokens, i.e. other tenants, are not
/// held back). A call waits for the reset when its deadline allows; otherwise
/// it returns 99991400 at once without sending, with `retry_after_ms` set to
/// the time still to wait and `http_status` 0. With a declared limit
/// (`feishu_client_options_set_rate_limit`) a call also queues for a start
/// within it; one that cannot start by its deadline returns
/// `FEISHU_ERR_TIMEOUT` without sending.
///
/// `err` (may be NULL) receives the outcome of this call: code 0 and empty
/// strings on success, the failure's details otherwise. Use it rather than
/// `feishu_last_error` from Go. The thread's last error is updated too.
///
/// Also returns `FEISHU_ERR_INVALID_ARGUMENT` for a NULL client. Messages of
/// errors that were retried say how many attempts were made.
///
/// @param client the client to use
/// @param token the access token, or NULL for the client's managed tenant_access_token; borrowed for the call
/// @param task_id the task id; borrowed for the call
/// @param out_status receives the status (UNKNOWN on failure); may be NULL
/// @param err receives this call's outcome; may be NULL
/// @return `FEISHU_OK`, a `FEISHU_ERR_*` code (< 0), or the platform's code (> 0)
#[unsafe(no_mangle)]
pub extern "C" fn feishu_client_task_check(
    client: *const FeishuClient,
    token: *const c_char,
    task_id: *const c_char,
    out_status: *mut FeishuTaskStatus,
    err: *mut FeishuError,
) -> i32 {
    ffi_panic_boundary! {
        // SAFETY: `out_status` is NULL or writable (caller's contract).
        unsafe { write_status(out_status, FeishuTaskStatus::Unknown) };
        // SAFETY: `client` is NULL or live; `token` and `task_id` are NULL or
        // NUL-terminated strings that outlive the call (caller's contract).
        let result = unsafe { client.as_ref() }
            .ok_or_else(|| Error::invalid("client is NULL"))
            .and_then(|c| {
                // SAFETY: as above.
                let token = unsafe { optional_token(token) }?;
                // SAFETY: as above.
                let task_id = unsafe { c_bytes(task_id, "task_id", MAX_TASK_ID_LEN) }?;
                c.client.task_check(token, task_id)
            });
        // SAFETY: `out_status` and `err` are NULL or writable (caller's contract).
        unsafe { finish(result, out_status, err) }
    }
}
