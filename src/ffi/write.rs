//! Starting the task: `feishu_client_move` and `feishu_client_delete`, the
//! two drive writes whose task ids `feishu_client_task_check` reads.

use std::ffi::c_char;

use crate::api::{MAX_FILE_TOKEN_LEN, MAX_FILE_TYPE_LEN, TASK_ID_SIZE};
use crate::client::Client;
use crate::error::Error;

use super::client::FeishuClient;
use super::error::{FEISHU_OK, FeishuError, record};
use super::{c_bytes, optional_token};

/// Room for a task id and its NUL: the size of the buffer that
/// `feishu_client_move` and `feishu_client_delete` write the task id into.
pub const FEISHU_TASK_ID_SIZE: usize = 128;
const _: () = assert!(FEISHU_TASK_ID_SIZE == TASK_ID_SIZE);

/// Writes `id` (or "") into `out` when `out` is non-NULL.
///
/// # Safety
/// `out` is NULL or points to `FEISHU_TASK_ID_SIZE` writable bytes.
unsafe fn write_task_id(out: *mut c_char, id: &str) {
    if out.is_null() {
        return;
    }
    // SAFETY: `out` has room for FEISHU_TASK_ID_SIZE bytes (the caller's
    // contract), and the classification keeps ids shorter than that.
    let out = unsafe { std::slice::from_raw_parts_mut(out.cast::<u8>(), FEISHU_TASK_ID_SIZE) };
    let len = id.len().min(FEISHU_TASK_ID_SIZE - 1);
    out[..len].copy_from_slice(&id.as_bytes()[..len]);
    out[len] = 0;
}

/// The client of a write, or the error of a NULL one.
///
/// # Safety
/// `client` is NULL or a live client.
unsafe fn client_of<'a>(client: *const FeishuClient) -> Result<&'a Client, Error> {
    // SAFETY: guaranteed by the caller.
    unsafe { client.as_ref() }
        .map(|c| &c.client)
        .ok_or_else(|| Error::invalid("client is NULL"))
}

/// Writes the task id (or "" on failure and for "done at once"), records the
/// outcome, and returns the code.
///
/// # Safety
/// `out_task_id` is NULL or has `FEISHU_TASK_ID_SIZE` writable bytes; `err`
/// is NULL or a writable `FeishuError`.
unsafe fn finish(
    result: Result<Option<String>, Error>,
    out_task_id: *mut c_char,
    err: *mut FeishuError,
) -> i32 {
    let (code, id) = match &result {
        Ok(id) => (FEISHU_OK, id.as_deref().unwrap_or("")),
        Err(e) => (e.code(), ""),
    };
    // SAFETY: forwarded from the caller.
    unsafe {
        write_task_id(out_task_id, id);
        record(err, result.err());
    }
    code
}

/// Moves a file or folder into another folder:
/// `POST /open-apis/drive/v1/files/{file_token}/move` with the body
/// `{"type": file_type, "folder_token": folder_token}`.
///
/// - `token`: as for `feishu_client_task_check` (NULL: the client's managed
///   tenant_access_token, replaced once when the platform rejects it).
/// - `file_token`: what to move; `folder_token`: where to. The platform's
///   tokens: non-empty visible ASCII, at most 256 bytes each;
///   `file_token` is percent-encoded into the path.
/// - `file_type`: the platform's type word of `file_token` (`folder`, `file`,
///   `docx`, `doc`, `sheet`, `bitable`, `mindnote`, `slides`, `shortcut`, ...):
///   non-empty, lowercase ASCII letters and `_`, at most 32 bytes; any such
///   word is sent (the list is the platform's, not the library's).
/// - `out_task_id` (may be NULL): room for `FEISHU_TASK_ID_SIZE` bytes. On
///   `FEISHU_OK` it holds the task id the platform returned for a folder
///   (poll it with `feishu_client_task_check` or `feishu_client_task_wait`),
///   or `""` when the platform finished at once (a file, or a folder already
///   in place). On any failure it holds `""`.
///
/// Write limits (the platform allows these calls no concurrency and 5 per
/// second, and answers 1061045 "retry later" beyond that): within this
/// client (and process), two moves or deletes with the same token never
/// overlap; the later one waits, in arrival order, within its deadline. At
/// most 5 start per second per token. A 1061045 is waited out (backoff) and
/// the call retried until its deadline, also past `max_retries`. A 429 /
/// 99991400 with `x-ogw-ratelimit-reset` holds the token's next writes back
/// until the reset. `feishu_client_task_check` calls are never held back by
/// writes, and the declared rate limit (`set_rate_limit`) does not count them.
///
/// Write safety: a write is never sent twice when the first may have been
/// applied. It is retried only where the platform cannot have acted on it: the
/// connection failed before the request was written, 1061045, 429 /
/// 99991400, or a rejected managed token (99991663/99991664: fetched anew,
/// then sent once more). After a timeout while waiting for the response, a
/// reset or a cut response, or a 5xx once the request was sent, the call
/// fails with its usual code and its message ends "the operation may have
/// been applied: check before repeating it".
///
/// Returns:
/// - `FEISHU_OK`: `out_task_id` holds the task id, or `""` (done at once).
/// - `FEISHU_ERR_INVALID_ARGUMENT`: a NULL client, a NULL `token` without app
///   credentials, or an input that breaks the rules above; nothing was sent.
/// - `FEISHU_ERR_NETWORK`, `FEISHU_ERR_TIMEOUT`, `FEISHU_ERR_HTTP`: as for
///   `feishu_client_task_check`; `FEISHU_ERR_TIMEOUT` also when the write
///   limits left no start before the deadline (nothing sent; `retry_after_ms`
///   says when the next start is free).
/// - `FEISHU_ERR_PROTOCOL`: a 2xx body not in the platform's shape, or a task
///   id that is not text or does not fit in `FEISHU_TASK_ID_SIZE` (the
///   message quotes it, and says that the platform accepted the operation).
/// - `FEISHU_ERR_INTERNAL`: a bug (a caught panic).
/// - `> 0`: the platform's code, e.g. 1061002 params error, 1061003 not
///   found, 1061004 forbidden, 1061007 already deleted, 1061045 retry later
///   (when the deadline ran out), 1062501 no permission, 1062507 more than
///   1,500 items in the folder, 99991400 rate limited, 99991403 monthly quota
///   spent (never retried).
///
/// `err` (may be NULL) receives this call's outcome, as for
/// `feishu_client_task_check`; so does the thread's last error.
///
/// Thread-safety: safe from any number of threads at once (writes with the
/// same token then take turns). Blocking: returns within the client's call
/// deadline, lane wait and retries included. Strings are borrowed for the
/// call.
///
/// @param client the client to use
/// @param token the access token, or NULL for the client's managed tenant_access_token; borrowed for the call
/// @param file_token the file or folder to move; borrowed for the call
/// @param file_type its type word (`folder`, `file`, `docx`, ...); borrowed for the call
/// @param folder_token the destination folder; borrowed for the call
/// @param out_task_id receives the task id, or "" (done at once, or failure); room for FEISHU_TASK_ID_SIZE bytes; may be NULL
/// @param err receives this call's outcome; may be NULL
/// @return `FEISHU_OK`, a `FEISHU_ERR_*` code (< 0), or the platform's code (> 0)
#[unsafe(no_mangle)]
pub extern "C" fn feishu_client_move(
    client: *const FeishuClient,
    token: *const c_char,
    file_token: *const c_char,
    file_type: *const c_char,
    folder_token: *const c_char,
    out_task_id: *mut c_char,
    err: *mut FeishuError,
) -> i32 {
    // SAFETY: the strings are NULL or NUL-terminated and outlive the call
    // (caller's contract).
    start(client, token, out_task_id, err, |c, token| unsafe {
        let file_token = c_bytes(file_token, "file_token", MAX_FILE_TOKEN_LEN)?;
        let file_type = c_bytes(file_type, "file_type", MAX_FILE_TYPE_LEN)?;
        let folder_token = c_bytes(folder_token, "folder_token", MAX_FILE_TOKEN_LEN)?;
        c.move_item(token, file_token, file_type, folder_token)
    })
}

/// Deletes a file or folder (it goes to the recycle bin):
/// `DELETE /open-apis/drive/v1/files/{file_token}?type={file_type}`.
///
/// Inputs, `out_task_id`, the write limits, write safety, return codes and
/// thread-safety are those of `feishu_client_move` (without a destination).
/// A folder is deleted asynchronously (its task id is returned), anything
/// else at once (`""`). 1061007 means the item was already deleted.
///
/// @param client the client to use
/// @param token the access token, or NULL for the client's managed tenant_access_token; borrowed for the call
/// @param file_token the file or folder to delete; borrowed for the call
/// @param file_type its type word (`folder`, `file`, `docx`, ...); borrowed for the call
/// @param out_task_id receives the task id, or "" (done at once, or failure); room for FEISHU_TASK_ID_SIZE bytes; may be NULL
/// @param err receives this call's outcome; may be NULL
/// @return `FEISHU_OK`, a `FEISHU_ERR_*` code (< 0), or the platform's code (> 0)
#[unsafe(no_mangle)]
pub extern "C" fn feishu_client_delete(
    client: *const FeishuClient,
    token: *const c_char,
    file_token: *const c_char,
    file_type: *const c_char,
    out_task_id: *mut c_char,
    err: *mut FeishuError,
) -> i32 {
    // SAFETY: as in feishu_client_move.
    start(client, token, out_task_id, err, |c, token| unsafe {
        let file_token = c_bytes(file_token, "file_token", MAX_FILE_TOKEN_LEN)?;
        let file_type = c_bytes(file_type, "file_type", MAX_FILE_TYPE_LEN)?;
        c.delete_item(token, file_token, file_type)
    })
}

/// The body of both writes: `out_task_id` set to "" first (a caught panic
/// leaves it so), the client and token taken, `write` run with them, and its
/// outcome written out.
fn start(
    client: *const FeishuClient,
    token: *const c_char,
    out_task_id: *mut c_char,
    err: *mut FeishuError,
    write: impl FnOnce(&Client, Option<&[u8]>) -> Result<Option<String>, Error>,
) -> i32 {
    ffi_panic_boundary! {
        // SAFETY: `out_task_id` is NULL or has FEISHU_TASK_ID_SIZE writable
        // bytes (the caller's contract).
        unsafe { write_task_id(out_task_id, "") };
        // SAFETY: `client` is NULL or live, `token` NULL or a NUL-terminated
        // string that outlives the call (the caller's contract).
        let result = unsafe { client_of(client) }.and_then(|c| {
            // SAFETY: as above for `token`.
            let token = unsafe { optional_token(token) }?;
            write(c, token)
        });
        // SAFETY: as above for `out_task_id`; `err` is NULL or writable.
        unsafe { finish(result, out_task_id, err) }
    }
}
