//! The C ABI called from Rust as a C caller would: C strings, out-pointers,
//! the thread's last error. Checks what the mock server received byte for byte.
//!
//! Every test here shares the process-wide default client (created on first
//! use from the environment) and one server; tests count only requests for
//! their own task ids, so they can run in parallel.

use support::server;

use std::ffi::{CStr, CString, c_char};
use std::sync::OnceLock;

use feishu_task::ffi::error::{FeishuError, feishu_last_error, feishu_strerror};
use feishu_task::ffi::task::{FeishuTaskStatus, feishu_task_check, feishu_version};
use server::{Recorded, Reply, Server};

// The contract's values, written out independently of the crate.
const FEISHU_OK: i32 = 0;
const FEISHU_ERR_INVALID_ARGUMENT: i32 = -1;
const FEISHU_ERR_PROTOCOL: i32 = -5;

const TOKEN: &str = "t-SECRETffi0123456789";

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let server = Server::start();
        // SAFETY (test setup): set before the first library call, which is the
        // only reader; every test goes through this initializer first.
        unsafe {
            for var in [
                "HTTPS_PROXY",
                "https_proxy",
                "ALL_PROXY",
                "all_proxy",
                "http_proxy",
            ] {
                std::env::remove_var(var);
            }
            std::env::set_var("FEISHU_BASE_URL", server.base_url());
            std::env::set_var("FEISHU_TIMEOUT_MS", "5000");
        }
        server
    })
}

struct Outcome {
    rc: i32,
    status: FeishuTaskStatus,
    err: FeishuError,
}

fn message(err: &FeishuError) -> String {
    // SAFETY: the library always NUL-terminates `message`.
    unsafe { CStr::from_ptr(err.message.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

fn check_bytes(token: &[u8], task_id: &[u8]) -> Outcome {
    server();
    let token = CString::new(token).unwrap();
    let task_id = CString::new(task_id).unwrap();
    let mut status = FeishuTaskStatus::Process;
    let rc = feishu_task_check(token.as_ptr(), task_id.as_ptr(), &mut status);
    let mut err: FeishuError = unsafe { std::mem::zeroed() };
    let last = feishu_last_error(&mut err);
    assert_eq!(last, rc, "feishu_last_error returns the last code");
    assert_eq!(err.code, rc);
    assert!(
        !message(&err).contains("SECRET"),
        "token in message: {}",
        message(&err)
    );
    Outcome { rc, status, err }
}

fn check(task_id: &str) -> Outcome {
    check_bytes(TOKEN.as_bytes(), task_id.as_bytes())
}

fn requests_for(task_id: &[u8]) -> Vec<Recorded> {
    server()
        .requests()
        .into_iter()
        .filter(|r| r.task_id.as_deref() == Some(task_id))
        .collect()
}

#[test]
fn the_request_is_exactly_what_the_platform_documents() {
    let id = "7360595374803812356";
    let o = check(id);
    assert_eq!(o.rc, FEISHU_OK);
    assert_eq!(o.status, FeishuTaskStatus::Success);
    let reqs = requests_for(id.as_bytes());
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, "GET");
    assert_eq!(r.path, "/open-apis/drive/v1/files/task_check");
    assert_eq!(
        r.query_params,
        vec![("task_id".to_string(), id.to_string())]
    );
    assert_eq!(
        r.header_all("authorization"),
        vec![format!("Bearer {TOKEN}")]
    );
    assert_eq!(
        r.header("user-agent"),
        Some(concat!("libfeishu_task/", env!("CARGO_PKG_VERSION")))
    );
}

#[test]
fn task_ids_arrive_byte_for_byte_as_one_query_value() {
    for id in [
        "a&b=c",
        "x#frag",
        "1+1=2",
        "100%",
        "with space",
        "中文-任务",
        "emoji-🙂",
        "task_id=evil&task_id=2",
        "?/;:@$,[]{}|\\^`\"'<>",
    ] {
        let o = check(id);
        assert_eq!(o.rc, 1061003, "{id}: unknown ids are 'not found'");
        let reqs = requests_for(id.as_bytes());
        assert_eq!(reqs.len(), 1, "{id}: the server decoded it back");
        assert_eq!(
            reqs[0].query_params.len(),
            1,
            "{id}: exactly one query parameter"
        );
        assert_eq!(reqs[0].query_params[0].0, "task_id");
    }
}

#[test]
fn the_longest_accepted_inputs_are_sent() {
    let token = vec![b'T'; 4096];
    let id = vec![b'7'; 1024];
    let o = check_bytes(&token, &id);
    assert_eq!(o.rc, FEISHU_OK, "{}", message(&o.err));
    assert_eq!(requests_for(&id).len(), 1);
    let o = check_bytes(&vec![b'T'; 4097], b"success");
    assert_eq!(o.rc, FEISHU_ERR_INVALID_ARGUMENT);
    let o = check_bytes(TOKEN.as_bytes(), &[b'7'; 1025]);
    assert_eq!(o.rc, FEISHU_ERR_INVALID_ARGUMENT);
    assert!(requests_for(&[b'7'; 1025]).is_empty());
}

#[test]
fn invalid_input_sends_nothing() {
    let id = b"invalid-input-probe";
    for token in [
        &b""[..],
        b"Bearer t-x",
        b"t x",
        b"t\r\nx",
        "t-中".as_bytes(),
    ] {
        let o = check_bytes(token, id);
        assert_eq!(o.rc, FEISHU_ERR_INVALID_ARGUMENT);
        assert_eq!(o.status, FeishuTaskStatus::Unknown);
        assert_eq!(o.err.http_status, 0);
    }
    let o = check_bytes(TOKEN.as_bytes(), b"\xff\xfe");
    assert_eq!(o.rc, FEISHU_ERR_INVALID_ARGUMENT);
    assert!(requests_for(id).is_empty());
    assert!(requests_for(b"\xff\xfe").is_empty());
    // NULL pointers.
    let mut status = FeishuTaskStatus::Success;
    let rc = feishu_task_check(std::ptr::null(), std::ptr::null(), &mut status);
    assert_eq!(rc, FEISHU_ERR_INVALID_ARGUMENT);
    assert_eq!(status, FeishuTaskStatus::Unknown);
}

#[test]
fn sequences_from_the_server_are_classified_call_by_call() {
    let id = "sequence-probe";
    server().set_sequence(
        id,
        vec![
            Reply::status("process"),
            Reply::status("process"),
            Reply::platform(200, 99991663, "token expired"),
            Reply::json(r#"{"code":0,"data":{"status":"weird"}}"#),
            Reply::status("success"),
        ],
    );
    let got: Vec<(i32, FeishuTaskStatus)> = (0..5)
        .map(|_| {
            let o = check(id);
            (o.rc, o.status)
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (FEISHU_OK, FeishuTaskStatus::Process),
            (FEISHU_OK, FeishuTaskStatus::Process),
            (99991663, FeishuTaskStatus::Unknown),
            (FEISHU_ERR_PROTOCOL, FeishuTaskStatus::Unknown),
            (FEISHU_OK, FeishuTaskStatus::Success),
        ]
    );
}

#[test]
fn error_details_are_filled_and_cut_safely() {
    let id = "long-message-probe";
    let long_msg = "错误".repeat(200); // 1200 bytes of 3-byte characters
    server().set_sequence(id, vec![Reply::platform(400, 1061002, &long_msg)]);
    let o = check(id);
    assert_eq!(o.rc, 1061002);
    assert_eq!(o.err.http_status, 400);
    let msg = message(&o.err);
    assert!(msg.len() <= 255 && msg.contains("错误"), "{msg}");
    // SAFETY: NUL-terminated by the library.
    let log_id = unsafe { CStr::from_ptr(o.err.log_id.as_ptr()) };
    let recorded = requests_for(id.as_bytes())[0].logid.clone().unwrap();
    assert_eq!(log_id.to_str().unwrap(), recorded);

    // A success afterwards clears the thread's last error.
    assert_eq!(check("success").rc, FEISHU_OK);
    assert_eq!(feishu_last_error(std::ptr::null_mut()), FEISHU_OK);
}

#[test]
fn static_strings() {
    // SAFETY: static NUL-terminated strings.
    let version = unsafe { CStr::from_ptr(feishu_version()) };
    assert_eq!(version.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    for code in [
        0,
        -1,
        -2,
        -3,
        -4,
        -5,
        -6,
        -99,
        -7,
        1061003,
        1,
        i32::MIN,
        i32::MAX,
    ] {
        let s: *const c_char = feishu_strerror(code);
        assert!(!s.is_null());
        // SAFETY: as above.
        assert!(!unsafe { CStr::from_ptr(s) }.to_bytes().is_empty());
    }
}

#[test]
fn a_client_with_null_options_is_the_default_client() {
    use feishu_task::ffi::client::{
        feishu_client_free, feishu_client_new, feishu_client_task_check,
    };
    server();
    let mut err: FeishuError = unsafe { std::mem::zeroed() };
    let client = feishu_client_new(std::ptr::null(), &mut err);
    assert!(!client.is_null(), "{}", message(&err));
    let mut status = FeishuTaskStatus::Unknown;
    let token = CString::new(TOKEN).unwrap();
    let rc = feishu_client_task_check(
        client,
        token.as_ptr(),
        c"null-options-probe".as_ptr(),
        &mut status,
        &mut err,
    );
    // The environment's base URL (the mock server) and deadline apply.
    assert_eq!(rc, 1061003, "{}", message(&err));
    assert_eq!(requests_for(b"null-options-probe").len(), 1);
    feishu_client_free(client);
}
