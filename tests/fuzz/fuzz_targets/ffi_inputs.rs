//! Input validation and URL building through the real C entry point,
//! `feishu_client_task_check`, on a client whose base URL is a closed port
//! (`http://127.0.0.1:9`): invalid input must be rejected before anything is
//! sent, and valid input fails fast with FEISHU_ERR_NETWORK.
//!
//! Input format: one flags byte, then the token, a NUL, then the task id (cut
//! at its own first NUL, as a C string would be).
//!
//! - flags bit 0: pass a NULL token; bit 1: a NULL task id;
//!   bit 2: a NULL `out_status`; bit 3: a NULL `err`.

#![no_main]

use std::ffi::{CStr, CString, c_char};
use std::sync::OnceLock;

use feishu_task::api;
use feishu_task::error::{
    FEISHU_ERR_CANCELLED, FEISHU_ERR_HTTP, FEISHU_ERR_INTERNAL, FEISHU_ERR_INVALID_ARGUMENT,
    FEISHU_ERR_NETWORK, FEISHU_ERR_PROTOCOL, FEISHU_ERR_TIMEOUT, FEISHU_OK,
};
use feishu_task::ffi::client::{FeishuClient, feishu_client_new, feishu_client_task_check};
use feishu_task::ffi::error::{FeishuError, feishu_last_error};
use feishu_task::ffi::options::{
    feishu_client_options_free, feishu_client_options_new, feishu_client_options_set_base_url,
    feishu_client_options_set_max_retries, feishu_client_options_set_proxy,
    feishu_client_options_set_timeouts,
};
use feishu_task::ffi::task::FeishuTaskStatus;
use libfuzzer_sys::fuzz_target;

struct Shared(*mut FeishuClient);
// SAFETY: a FeishuClient is documented as immutable and usable from any thread.
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

fn client() -> *const FeishuClient {
    static CLIENT: OnceLock<Shared> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            let o = feishu_client_options_new();
            assert!(!o.is_null());
            assert_eq!(
                feishu_client_options_set_base_url(o, c"http://127.0.0.1:9".as_ptr()),
                FEISHU_OK
            );
            // No retries (their backoff would sleep), a short deadline, no proxy.
            assert_eq!(feishu_client_options_set_max_retries(o, 0), FEISHU_OK);
            assert_eq!(feishu_client_options_set_timeouts(o, 200, 500), FEISHU_OK);
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
        })
        .0
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
