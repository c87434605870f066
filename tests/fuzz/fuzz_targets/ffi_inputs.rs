//! Input validation and URL building through the real C entry points,
//! `feishu_client_task_check`, `feishu_client_move` and
//! `feishu_client_delete`, on clients whose base URL is a closed port
//! (`http://127.0.0.1:9`): invalid input must be rejected before anything is
//! sent, and valid input fails fast with FEISHU_ERR_NETWORK (or TIMEOUT).
//!
//! Input format: one flags byte, then NUL-separated C strings: the token,
//! then the task id (task_check) or the file token, the file type and the
//! folder token (move; delete takes the first two). Missing ones are empty.
//!
//! - flags bit 0: pass a NULL token; bit 1: a NULL task id / file token;
//!   bit 2: a NULL `out_status` / `out_task_id`; bit 3: a NULL `err`;
//! - bits 4-5: the call: 0 task_check, 1 move, 2 delete, 3 move;
//! - bit 6: a NULL file type; bit 7: a NULL folder token (writes only).
//!
//! The writes' validators (`check_file_token`, `check_file_type`) are held
//! to the header's rules, re-stated here: tokens non-empty visible ASCII of
//! at most 256 bytes, types non-empty lowercase ASCII letters and `_` of at
//! most 32 bytes; a write's path percent-encodes the file token and decodes
//! back to it, and a move's JSON body holds exactly the type and folder.

#![no_main]

use std::ffi::{CStr, CString, c_char};
use std::sync::OnceLock;

use feishu_task::api;
use feishu_task::ffi::client::{FeishuClient, feishu_client_new, feishu_client_task_check};
use feishu_task::ffi::error::{
    FEISHU_ERR_CANCELLED, FEISHU_ERR_HTTP, FEISHU_ERR_INTERNAL, FEISHU_ERR_INVALID_ARGUMENT,
    FEISHU_ERR_NETWORK, FEISHU_ERR_PROTOCOL, FEISHU_ERR_TIMEOUT, FEISHU_OK,
};
use feishu_task::ffi::error::{FeishuError, feishu_last_error};
use feishu_task::ffi::options::{
    feishu_client_options_free, feishu_client_options_new, feishu_client_options_set_base_url,
    feishu_client_options_set_max_retries, feishu_client_options_set_proxy,
    feishu_client_options_set_timeouts,
};
use feishu_task::ffi::task::FeishuTaskStatus;
use feishu_task::ffi::write::{FEISHU_TASK_ID_SIZE, feishu_client_delete, feishu_client_move};
use libfuzzer_sys::fuzz_target;

/// The header's rules for the writes' inputs.
const MAX_FILE_TOKEN_LEN: usize = 256;
const MAX_FILE_TYPE_LEN: usize = 32;
/// The path of both writes, before the file token.
const FILES_PATH: &str = "/open-apis/drive/v1/files/";

struct Shared(*mut FeishuClient);
// SAFETY: a FeishuClient is documented as immutable and usable from any thread.
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

fn client() -> *const FeishuClient {
    static CLIENT: OnceLock<Shared> = OnceLock::new();
    CLIENT.get_or_init(|| new_client(200, 500)).0
}

/// The writes' client: its deadline is a few milliseconds, so that the
/// platform's write limit the library keeps (5 starts per token per second)
/// refuses at once instead of sleeping (a refusal is FEISHU_ERR_TIMEOUT,
/// nothing sent).
fn write_client() -> *const FeishuClient {
    static CLIENT: OnceLock<Shared> = OnceLock::new();
    CLIENT.get_or_init(|| new_client(5, 5)).0
}

fn new_client(connect_ms: u32, call_ms: u32) -> Shared {
    let o = feishu_client_options_new();
    assert!(!o.is_null());
    assert_eq!(
        feishu_client_options_set_base_url(o, c"http://127.0.0.1:9".as_ptr()),
        FEISHU_OK
    );
    // No retries (their backoff would sleep), a short deadline, no proxy.
    assert_eq!(feishu_client_options_set_max_retries(o, 0), FEISHU_OK);
    assert_eq!(
        feishu_client_options_set_timeouts(o, connect_ms, call_ms),
        FEISHU_OK
    );
    assert_eq!(
        feishu_client_options_set_proxy(o, std::ptr::null()),
        FEISHU_OK
    );
    // SAFETY: FeishuError is plain data; all-zero is valid.
    let mut err: FeishuError = unsafe { std::mem::zeroed() };
    let c = feishu_client_new(o, &mut err);
    feishu_client_options_free(o);
    assert!(!c.is_null());
    Shared(c)
}

/// The bytes up to the first NUL (what C sees of them).
fn c_cut(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    &bytes[..end]
}

fn defined(rc: i32) -> bool {
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

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    if flags & 0x30 != 0 {
        return write(flags, rest);
    }
    let split = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
    let token = &rest[..split];
    let task_id = c_cut(rest.get(split + 1..).unwrap_or(&[]));
    let (null_token, null_task, null_status, null_err) = (
        flags & 1 != 0,
        flags & 2 != 0,
        flags & 4 != 0,
        flags & 8 != 0,
    );

    // The pure checks and the query encoding.
    let token_ok = !null_token && api::check_token(token).is_ok();
    let task_ok = !null_task && api::check_task_id(task_id).is_ok();
    if let Ok(id) = api::check_task_id(task_id) {
        let mut query = String::new();
        api::push_encoded(&mut query, id);
        assert!(query.len() <= 3 * id.len());
        assert!(
            query
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)),
            "unescaped byte in {query:?}"
        );
        assert_eq!(
            percent_decode(query.as_bytes()),
            id.as_bytes(),
            "round trip"
        );
    }
    // check_token's verdict and message depend on the token's shape only.
    let twin = twin_of(token);
    match (api::check_token(token), api::check_token(&twin)) {
        (Ok(_), Ok(_)) => {}
        (Err(a), Err(b)) => assert_eq!(a.message, b.message, "check_token's message"),
        _ => panic!("check_token judged a token and its twin differently"),
    }

    // The C entry point.
    let token_c = CString::new(token).expect("no NUL in the token part");
    let task_c = CString::new(task_id).expect("no NUL in the task id part");
    let token_ptr: *const c_char = if null_token {
        std::ptr::null()
    } else {
        token_c.as_ptr()
    };
    let task_ptr: *const c_char = if null_task {
        std::ptr::null()
    } else {
        task_c.as_ptr()
    };
    let mut status = FeishuTaskStatus::Process;
    // SAFETY: plain data; filled with a marker that the call must overwrite.
    let mut err: FeishuError = unsafe { std::mem::zeroed() };
    err.code = 12345;
    err.message = [b'x' as c_char; 256];
    err.log_id = [b'y' as c_char; 64];
    let rc = feishu_client_task_check(
        client(),
        token_ptr,
        task_ptr,
        if null_status {
            std::ptr::null_mut()
        } else {
            &mut status
        },
        if null_err {
            std::ptr::null_mut()
        } else {
            &mut err
        },
    );

    assert!(defined(rc), "undefined return code {rc}");
    assert_eq!(feishu_last_error(std::ptr::null_mut()), rc, "last error");
    // With a NULL token the client (no app credentials) must refuse too.
    let valid = token_ok && task_ok;
    if valid {
        assert!(
            rc == FEISHU_ERR_NETWORK || rc == FEISHU_ERR_TIMEOUT,
            "valid input to a closed port gave {rc}"
        );
    } else {
        assert_eq!(rc, FEISHU_ERR_INVALID_ARGUMENT, "invalid input gave {rc}");
    }
    if !null_status {
        assert_eq!(status, FeishuTaskStatus::Unknown, "status after a failure");
    }
    let mut last: FeishuError = unsafe { std::mem::zeroed() };
    feishu_last_error(&mut last);
    for e in [(!null_err).then_some(&err), Some(&last)]
        .into_iter()
        .flatten()
    {
        assert_eq!(e.code, rc);
        let message = c_text(&e.message, "message");
        let log_id = c_text(&e.log_id, "log_id");
        assert!(!message.is_empty(), "empty message");
        assert!(log_id.is_empty(), "a log id without a response: {log_id}");
        assert!(
            e.http_status == 0 && e.retry_after_ms == 0,
            "HTTP details without a response"
        );
    }

    // A secret never reaches a message: the message must not depend on the
    // token's content, only on what the checks report about it (its length,
    // the position and class of a bad byte, a "Bearer " prefix). So a token
    // of the same shape with every visible character replaced gives the same
    // message. (A plain "message does not contain the token" would flag
    // tokens that happen to be words of the library's own text.)
    if !null_token {
        let twin = CString::new(twin).unwrap();
        let mut twin_err: FeishuError = unsafe { std::mem::zeroed() };
        let twin_rc = feishu_client_task_check(
            client(),
            twin.as_ptr(),
            task_ptr,
            std::ptr::null_mut(),
            &mut twin_err,
        );
        assert_eq!(twin_rc, rc, "a token of the same shape gave another code");
        let message = c_text(&last.message, "message");
        let twin_message = c_text(&twin_err.message, "message");
        assert_eq!(
            message, twin_message,
            "the message depends on the token's content"
        );
    }
});

/// A move or delete (flags bits 4-5 non-zero): the validators against the
/// header's rules, the path and body, then the C entry point.
fn write(flags: u8, rest: &[u8]) {
    let mut parts = rest.split(|&b| b == 0);
    let mut next = || parts.next().unwrap_or(&[]);
    let (token, file, file_type, folder) = (next(), next(), next(), next());
    let is_move = flags & 0x30 != 0x20;
    let null = |bit: u8| flags & bit != 0;
    let (null_token, null_file, null_out, null_err) = (null(1), null(2), null(4), null(8));
    let (null_type, null_folder) = (null(0x40), null(0x80) && is_move);

    // The validators, against the header's rules.
    let file_ok = api::check_file_token(file, "file_token").is_ok();
    let type_ok = api::check_file_type(file_type).is_ok();
    let folder_ok = api::check_file_token(folder, "folder_token").is_ok();
    assert_eq!(file_ok, token_rule(file), "check_file_token({file:?})");
    assert_eq!(
        folder_ok,
        token_rule(folder),
        "check_file_token({folder:?})"
    );
    assert_eq!(
        type_ok,
        type_rule(file_type),
        "check_file_type({file_type:?})"
    );
    if let Err(e) = api::check_file_token(file, "file_token") {
        assert!(e.message.starts_with("file_token "), "{}", e.message);
    }
    if let (Ok(f), Ok(t), Ok(d)) = (
        api::check_file_token(file, "file_token"),
        api::check_file_type(file_type),
        api::check_file_token(folder, "folder_token"),
    ) {
        check_write_request(f, t, d);
    }

    // The C entry point.
    let cstr = |b: &[u8]| CString::new(b).expect("no NUL in a part");
    let (token_c, file_c, type_c, folder_c) =
        (cstr(token), cstr(file), cstr(file_type), cstr(folder));
    let arg = |c: &CString, null: bool| -> *const c_char {
        if null { std::ptr::null() } else { c.as_ptr() }
    };
    let call = |token: *const c_char, out: *mut c_char, err: *mut FeishuError| {
        let (f, t) = (arg(&file_c, null_file), arg(&type_c, null_type));
        if is_move {
            let d = arg(&folder_c, null_folder);
            feishu_client_move(write_client(), token, f, t, d, out, err)
        } else {
            feishu_client_delete(write_client(), token, f, t, out, err)
        }
    };
    let mut out = [b'x' as c_char; FEISHU_TASK_ID_SIZE];
    // SAFETY: plain data; filled with a marker that the call must overwrite.
    let mut err: FeishuError = unsafe { std::mem::zeroed() };
    err.code = 12345;
    err.message = [b'x' as c_char; 256];
    let rc = call(
        arg(&token_c, null_token),
        if null_out {
            std::ptr::null_mut()
        } else {
            out.as_mut_ptr()
        },
        if null_err {
            std::ptr::null_mut()
        } else {
            &mut err
        },
    );

    assert!(defined(rc), "undefined return code {rc}");
    assert_eq!(feishu_last_error(std::ptr::null_mut()), rc, "last error");
    // A NULL token is refused too: the client has no app credentials.
    let token_ok = !null_token && api::check_token(token).is_ok();
    let valid = token_ok
        && !null_file
        && file_ok
        && !null_type
        && type_ok
        && (!is_move || (!null_folder && folder_ok));
    if valid {
        // Refused by the write limit (TIMEOUT, nothing sent) or by the port.
        assert!(
            rc == FEISHU_ERR_NETWORK || rc == FEISHU_ERR_TIMEOUT,
            "valid write input to a closed port gave {rc}"
        );
    } else {
        assert_eq!(
            rc, FEISHU_ERR_INVALID_ARGUMENT,
            "invalid write input gave {rc}"
        );
    }
    if !null_out {
        assert_eq!(out[0], 0, "out_task_id is not \"\" after a failure");
    }
    let mut last: FeishuError = unsafe { std::mem::zeroed() };
    feishu_last_error(&mut last);
    for e in [(!null_err).then_some(&err), Some(&last)]
        .into_iter()
        .flatten()
    {
        assert_eq!(e.code, rc);
        assert!(!c_text(&e.message, "message").is_empty(), "empty message");
        assert!(
            c_text(&e.log_id, "log_id").is_empty(),
            "a log id without a response"
        );
        assert_eq!(e.http_status, 0, "an HTTP status without a response");
        // Only a refusal by the write limit says when the next start is free.
        assert!(
            e.retry_after_ms == 0 || (rc == FEISHU_ERR_TIMEOUT && e.retry_after_ms <= 1100),
            "retry_after_ms {} with {rc}",
            e.retry_after_ms
        );
    }

    // The message of a refused input depends on the token's shape only.
    if !null_token && rc == FEISHU_ERR_INVALID_ARGUMENT {
        let twin = CString::new(twin_of(token)).unwrap();
        let mut twin_err: FeishuError = unsafe { std::mem::zeroed() };
        let twin_rc = call(twin.as_ptr(), std::ptr::null_mut(), &mut twin_err);
        assert_eq!(twin_rc, rc, "a token of the same shape gave another code");
        assert_eq!(
            c_text(&last.message, "message"),
            c_text(&twin_err.message, "message"),
            "the message depends on the token's content"
        );
    }
}

/// The header's rule for file and folder tokens.
fn token_rule(b: &[u8]) -> bool {
    !b.is_empty() && b.len() <= MAX_FILE_TOKEN_LEN && b.iter().all(|c| (0x21..=0x7e).contains(c))
}

/// The header's rule for file types.
fn type_rule(b: &[u8]) -> bool {
    !b.is_empty()
        && b.len() <= MAX_FILE_TYPE_LEN
        && b.iter().all(|&c| c.is_ascii_lowercase() || c == b'_')
}

/// The request of valid write inputs: a delete's path and query, a move's
/// path and JSON body.
fn check_write_request(file: &str, file_type: &str, folder: &str) {
    let delete = api::Write::Delete {
        file_token: file,
        file_type,
    };
    assert_eq!(delete.method(), "DELETE");
    let path = delete.path();
    let rest = path.strip_prefix(FILES_PATH).expect("the files path");
    let (encoded, query) = rest.split_once('?').expect("a query");
    check_encoded(encoded, file);
    assert_eq!(
        query,
        format!("type={file_type}"),
        "the type needs no encoding"
    );

    let moved = api::Write::Move {
        file_token: file,
        file_type,
        folder_token: folder,
    };
    assert_eq!(moved.method(), "POST");
    let path = moved.path();
    let encoded = path
        .strip_prefix(FILES_PATH)
        .and_then(|p| p.strip_suffix("/move"))
        .expect("the move path");
    check_encoded(encoded, file);
    let body = moved.body().expect("a move has a body");
    let json: serde_json::Value = serde_json::from_slice(&body).expect("the body is JSON");
    assert_eq!(
        json,
        serde_json::json!({"type": file_type, "folder_token": folder}),
        "the move body"
    );
}

/// One path segment: only unreserved bytes and `%XX`, decoding to `value`.
fn check_encoded(encoded: &str, value: &str) {
    assert!(
        encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)),
        "unescaped byte in {encoded:?}"
    );
    assert_eq!(
        percent_decode(encoded.as_bytes()),
        value.as_bytes(),
        "round trip"
    );
}

/// The token with every visible ASCII byte replaced by `Q`, except a leading
/// `Bearer ` / `bearer `, which the checks recognise: same length, same bad
/// bytes at the same places.
fn twin_of(token: &[u8]) -> Vec<u8> {
    let keep = if token.starts_with(b"Bearer ") || token.starts_with(b"bearer ") {
        7
    } else {
        0
    };
    token
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if i >= keep && (0x21..=0x7e).contains(&b) {
                b'Q'
            } else {
                b
            }
        })
        .collect()
}

/// The text of a fixed C buffer: NUL-terminated inside it, UTF-8.
fn c_text<'a>(buf: &'a [c_char], what: &str) -> &'a str {
    let bytes: &[u8] = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast(), buf.len()) };
    let cstr = CStr::from_bytes_until_nul(bytes)
        .unwrap_or_else(|_| panic!("{what} is not NUL-terminated"));
    cstr.to_str()
        .unwrap_or_else(|_| panic!("{what} is not UTF-8: {cstr:?}"))
}

fn percent_decode(input: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%' {
            let (hi, lo) = (
                hex(input[i + 1]).expect("hex"),
                hex(input[i + 2]).expect("hex"),
            );
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(input[i]);
            i += 1;
        }
    }
    out
}
