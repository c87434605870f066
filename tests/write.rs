//! Starting the task through the C ABI: `feishu_client_move` and
//! `feishu_client_delete` against the mock server's drive writes (its
//! platform rules: no concurrency per token, 5 per second, 1061045).

use support::server;

mod common;

use std::ffi::{CString, c_char};
use std::time::{Duration, Instant};

use common::*;
use feishu_task::ffi::error::FeishuError;
use feishu_task::ffi::options::feishu_client_options_set_app_credentials;
use feishu_task::ffi::task::FeishuTaskStatus;
use feishu_task::ffi::wait::feishu_client_task_wait;
use feishu_task::ffi::write::{FEISHU_TASK_ID_SIZE, feishu_client_delete, feishu_client_move};
use server::{Reply, Server};

const APPLIED: &str = "the operation may have been applied";

/// What a write returned.
struct Written {
    rc: i32,
    task_id: String,
    err: FeishuError,
}

impl Written {
    fn message(&self) -> String {
        text(&self.err.message)
    }
}

fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

/// A C string argument, or NULL.
fn ptr(s: &Option<CString>) -> *const c_char {
    s.as_ref().map_or(std::ptr::null(), |s| s.as_ptr())
}

fn task_id_of(buf: &[c_char]) -> String {
    assert!(buf.contains(&0), "task id not terminated");
    text(buf)
}

fn moved(client: &Client, token: Option<&str>, file: &str, kind: &str, to: &str) -> Written {
    let (token, file, kind, to) = (token.map(c), c(file), c(kind), c(to));
    let mut out = [b'x' as c_char; FEISHU_TASK_ID_SIZE];
    let mut err = zeroed_error();
    let rc = feishu_client_move(
        client.0,
        ptr(&token),
        file.as_ptr(),
        kind.as_ptr(),
        to.as_ptr(),
        out.as_mut_ptr(),
        &mut err,
    );
    finished(rc, &out, err)
}

fn deleted(client: &Client, token: Option<&str>, file: &str, kind: &str) -> Written {
    let (token, file, kind) = (token.map(c), c(file), c(kind));
    let mut out = [b'x' as c_char; FEISHU_TASK_ID_SIZE];
    let mut err = zeroed_error();
    let rc = feishu_client_delete(
        client.0,
        ptr(&token),
        file.as_ptr(),
        kind.as_ptr(),
        out.as_mut_ptr(),
        &mut err,
    );
    finished(rc, &out, err)
}

fn finished(rc: i32, out: &[c_char], err: FeishuError) -> Written {
    assert_eq!(err.code, rc);
    let w = Written {
        rc,
        task_id: task_id_of(out),
        err,
    };
    assert!(!w.message().contains("SECRET"), "{}", w.message());
    if rc != FEISHU_OK {
        assert_eq!(w.task_id, "", "a failure leaves \"\"");
        assert!(!w.message().is_empty());
    }
    w
}

fn client_for(server: &Server, retries: u32, call_ms: u32) -> (Options, Client) {
    let o = Options::new()
        .base_url(&server.base_url())
        .timeouts(1000, call_ms)
        .retries(retries);
    let c = o.build();
    (o, c)
}

#[test]
fn a_folder_move_returns_its_task_id_and_a_wait_sees_it_finish() {
    let server = Server::start();
    let (_o, client) = client_for(&server, 2, 5000);
    let w = moved(&client, Some(TOKEN), "fldSource", "folder", "fldTarget");
    assert_eq!(w.rc, FEISHU_OK, "{}", w.message());
    assert_eq!(server.task_ids(), vec![w.task_id.clone()]);
    // The request: the path, the JSON body, the bearer token.
    let r = &server.write_requests()[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/open-apis/drive/v1/files/fldSource/move");
    let body: serde_json::Value = serde_json::from_str(&r.body_str().unwrap()).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"type": "folder", "folder_token": "fldTarget"})
    );
    assert_eq!(r.header("authorization"), Some(&*format!("Bearer {TOKEN}")));
    // Not done yet; a wait sees it finish.
    assert_eq!(client.check(&w.task_id).status, FeishuTaskStatus::Process);
    let (token, id) = (c(TOKEN), c(&w.task_id));
    let mut status = FeishuTaskStatus::Unknown;
    let mut err = zeroed_error();
    let rc = feishu_client_task_wait(
        client.0,
        token.as_ptr(),
        id.as_ptr(),
        10_000,
        std::ptr::null(),
        None,
        std::ptr::null_mut(),
        &mut status,
        &mut err,
    );
    assert_eq!((rc, status), (FEISHU_OK, FeishuTaskStatus::Success));
}

#[test]
fn files_and_a_folder_in_place_are_done_at_once() {
    let server = Server::start();
    let (_o, client) = client_for(&server, 2, 5000);
    for (file, kind) in [
        ("doxFile", "docx"),
        ("boxFile", "file"),
        ("fldinplace", "folder"),
    ] {
        let w = moved(&client, Some(TOKEN), file, kind, "fldTarget");
        assert_eq!(
            (w.rc, w.task_id.as_str()),
            (FEISHU_OK, ""),
            "{}",
            w.message()
        );
    }
    let w = deleted(&client, Some(TOKEN), "shtFile", "sheet");
    assert_eq!(
        (w.rc, w.task_id.as_str()),
        (FEISHU_OK, ""),
        "{}",
        w.message()
    );
    assert!(server.task_ids().is_empty());
    // A NULL out_task_id is allowed.
    let (t, f, k, d) = (c(TOKEN), c("boxOther"), c("file"), c("fldTarget"));
    let rc = feishu_client_move(
        client.0,
        t.as_ptr(),
        f.as_ptr(),
        k.as_ptr(),
        d.as_ptr(),
        std::ptr::null_mut(),
        std::ptr::null_mut(),
    );
    assert_eq!(rc, FEISHU_OK);
}

#[test]
fn a_folder_delete_returns_its_task_id_and_the_path_is_encoded() {
    let server = Server::start();
    let (_o, client) = client_for(&server, 2, 5000);
    let w = deleted(&client, Some(TOKEN), "fld/a%b?c", "folder");
    assert_eq!(w.rc, FEISHU_OK, "{}", w.message());
    assert_eq!(w.task_id.len(), 19, "{}", w.task_id);
    let r = &server.write_requests()[0];
    assert_eq!(r.method, "DELETE");
    assert_eq!(
        format!("{}?{}", r.path, r.raw_query),
        "/open-apis/drive/v1/files/fld%2Fa%25b%3Fc?type=folder"
    );
    assert_eq!(r.file_token().as_deref(), Some("fld/a%b?c"));
}

#[test]
fn each_documented_error_code_is_returned_as_it_is() {
    let server = Server::start();
    let (_o, client) = client_for(&server, 2, 5000);
    for (name, code, http) in [
        ("err-1061002", 1061002, 400),
        ("err-1061003", 1061003, 404),
        ("err-1061004", 1061004, 403),
        ("err-1061005", 1061005, 401),
        ("err-1061007", 1061007, 400),
        ("err-1062501", 1062501, 403),
        ("err-1062507", 1062507, 400),
        ("err-99991403", 99991403, 400),
    ] {
        server.reset();
        // A token each: one token's writes are paced at 5 per second.
        let token = format!("{TOKEN}-{code}");
        let w = moved(&client, Some(&token), name, "folder", "fldTarget");
        assert_eq!(w.rc, code, "{name}: {}", w.message());
        assert_eq!(w.err.http_status, http, "{name}");
        assert!(!text(&w.err.log_id).is_empty(), "{name}: no log id");
        assert_eq!(
            server.writes(),
            1,
            "{name}: a permanent failure is sent once"
        );
        let w = deleted(&client, Some(&token), name, "file");
        assert_eq!(w.rc, code, "{name}: {}", w.message());
        assert_eq!(server.writes(), 2, "{name}");
    }
}

#[test]
fn bad_input_is_rejected_and_nothing_is_sent() {
    let server = Server::start();
    let (_o, client) = client_for(&server, 2, 5000);
    let long = "f".repeat(257);
    let type_too_long = "a".repeat(33);
    for (token, file, kind, to) in [
        (Some(""), "fld", "folder", "fldT"),
        (Some("Bearer t-x"), "fld", "folder", "fldT"),
        (Some(TOKEN), "", "folder", "fldT"),
        (Some(TOKEN), "fld a", "folder", "fldT"),
        (Some(TOKEN), "fld\u{e9}", "folder", "fldT"),
        (Some(TOKEN), &long, "folder", "fldT"),
        (Some(TOKEN), "fld", "", "fldT"),
        (Some(TOKEN), "fld", "Folder", "fldT"),
        (Some(TOKEN), "fld", "doc-x", "fldT"),
        (Some(TOKEN), "fld", &type_too_long, "fldT"),
        (Some(TOKEN), "fld", "folder", ""),
        (Some(TOKEN), "fld", "folder", &long),
        // No credentials: a NULL token has nothing to stand for.
        (None, "fld", "folder", "fldT"),
    ] {
        let w = moved(&client, token, file, kind, to);
        assert_eq!(w.rc, FEISHU_ERR_INVALID_ARGUMENT, "{file:?} {kind:?}");
        if to == "fldT" {
            let w = deleted(&client, token, file, kind);
            assert_eq!(w.rc, FEISHU_ERR_INVALID_ARGUMENT, "{file:?} {kind:?}");
        }
    }
    // NULL pointers.
    let (t, f, k) = (c(TOKEN), c("fld"), c("folder"));
    let mut out = [b'x' as c_char; FEISHU_TASK_ID_SIZE];
    let rc = feishu_client_move(
        std::ptr::null(),
        t.as_ptr(),
        f.as_ptr(),
        k.as_ptr(),
        f.as_ptr(),
        out.as_mut_ptr(),
        std::ptr::null_mut(),
    );
    assert_eq!((rc, out[0]), (FEISHU_ERR_INVALID_ARGUMENT, 0));
    for (file, kind) in [
        (std::ptr::null(), k.as_ptr()),
        (f.as_ptr(), std::ptr::null()),
    ] {
        let rc = feishu_client_delete(
            client.0,
            t.as_ptr(),
            file,
            kind,
            out.as_mut_ptr(),
            std::ptr::null_mut(),
        );
        assert_eq!(rc, FEISHU_ERR_INVALID_ARGUMENT);
    }
    let rc = feishu_client_move(
        client.0,
        t.as_ptr(),
        f.as_ptr(),
        k.as_ptr(),
        std::ptr::null(),
        out.as_mut_ptr(),
        std::ptr::null_mut(),
    );
    assert_eq!(rc, FEISHU_ERR_INVALID_ARGUMENT);
    assert_eq!(server.request_count(), 0);
    assert_eq!(server.writes(), 0);
}

/// Sixteen threads, one token: the client's lane keeps the writes apart, so
/// the platform never answers 1061045 (its no-concurrency rule) or refuses
/// one for the 5-per-second rule; they start at most 5 a second.
#[test]
fn sixteen_threads_writing_with_one_token_never_overlap() {
    let server = Server::start();
    server.set_write_latency(Duration::from_millis(30));
    let (_o, client) = client_for(&server, 2, 30_000);
    let started = Instant::now();
    let results: Vec<Written> = std::thread::scope(|s| {
        let client = &client;
        let threads: Vec<_> = (0..16)
            .map(|i| {
                s.spawn(move || {
                    let file = format!("fld-{i}");
                    if i % 2 == 0 {
                        moved(client, Some(TOKEN), &file, "folder", "fldTarget")
                    } else {
                        deleted(client, Some(TOKEN), &file, "folder")
                    }
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    for w in &results {
        assert_eq!(w.rc, FEISHU_OK, "{}", w.message());
        assert_eq!(w.task_id.len(), 19);
    }
    assert_eq!(server.writes(), 16, "each sent once");
    assert_eq!(
        (server.write_conflicts(), server.write_rate_limited()),
        (0, 0),
        "the platform refused writes that we let overlap or come too fast"
    );
    // 16 writes at 5 a second: the last starts 3 windows after the first.
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn retry_later_is_waited_out_and_retried_within_the_deadline() {
    let server = Server::start();
    // Retries 0: 1061045 is retried anyway, until the deadline.
    let (_o, client) = client_for(&server, 0, 10_000);
    let later = || Reply::platform(400, 1061045, "retry later");
    server.set_write_sequence("fldBusy", vec![later(), later(), later()]);
    let w = moved(&client, Some(TOKEN), "fldBusy", "folder", "fldTarget");
    assert_eq!(w.rc, FEISHU_OK, "{}", w.message());
    assert_eq!(server.writes_for("fldBusy"), 4);
    // Always 1061045: the call ends at its deadline with that code.
    let (_o, client) = client_for(&server, 0, 800);
    let started = Instant::now();
    let w = moved(&client, Some(TOKEN), "err-1061045", "folder", "fldTarget");
    assert_eq!(w.rc, 1061045, "{}", w.message());
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(server.writes_for("err-1061045") >= 2);
}

#[test]
fn a_rate_limit_answer_is_waited_out_and_retried() {
    let server = Server::start();
    let (_o, client) = client_for(&server, 2, 10_000);
    server.set_write_sequence("fldLimited", vec![Reply::RateLimited { reset_secs: 1 }]);
    let started = Instant::now();
    let w = moved(&client, Some(TOKEN), "fldLimited", "folder", "fldTarget");
    assert_eq!(w.rc, FEISHU_OK, "{}", w.message());
    assert!(started.elapsed() >= Duration::from_millis(1000));
    assert_eq!(server.writes_for("fldLimited"), 2);
}

/// The platform cannot have acted on a request it never got: a refused
/// connection is retried (as often as max_retries allows).
#[test]
fn a_write_that_could_not_connect_is_retried() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let sink = new_sink();
    let o = Options::new()
        .base_url(&url)
        .timeouts(500, 5000)
        .retries(2)
        .log_to(sink);
    let client = o.build();
    let w = moved(&client, Some(TOKEN), "fldX", "folder", "fldTarget");
    assert_eq!(w.rc, FEISHU_ERR_NETWORK, "{}", w.message());
    assert!(w.message().contains("after 3 attempts"), "{}", w.message());
    assert!(!w.message().contains(APPLIED), "{}", w.message());
    let attempts = sink
        .lines
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, l)| l.contains("/move attempt"))
        .count();
    assert_eq!(attempts, 3);
}

/// Once the request was written, a failure is never followed by a second
/// request: the platform may have acted on the first.
#[test]
fn no_failure_after_the_request_was_written_is_ever_sent_twice() {
    let server = Server::start();
    let (_o, client) = client_for(&server, 3, 700);
    for (name, reply, code) in [
        ("reset", Reply::Reset, FEISHU_ERR_NETWORK),
        ("truncated", Reply::Truncated, FEISHU_ERR_NETWORK),
        ("stall", Reply::Stall, FEISHU_ERR_TIMEOUT),
        ("html-502", Reply::Html(502), FEISHU_ERR_HTTP),
        (
            "err-1061001",
            Reply::platform(500, 1061001, "internal error."),
            1061001,
        ),
        ("err-503", Reply::platform(503, 1061001, "busy"), 1061001),
    ] {
        server.reset();
        let file = format!("fld-{name}");
        server.set_write_sequence(&file, vec![reply.clone(), reply.clone(), reply]);
        let token = format!("{TOKEN}-{name}");
        let w = moved(&client, Some(&token), &file, "folder", "fldTarget");
        assert_eq!(w.rc, code, "{name}: {}", w.message());
        assert!(w.message().contains(APPLIED), "{name}: {}", w.message());
        assert_eq!(server.writes_for(&file), 1, "{name}: sent again");
        let w = deleted(&client, Some(&token), &file, "folder");
        assert_eq!(w.rc, code, "{name}: {}", w.message());
        assert_eq!(server.writes_for(&file), 2, "{name}: sent again");
    }
}

/// The managed token: fetched for the write, and replaced once when the
/// platform rejects it (a rejected token was not acted on).
#[test]
fn a_rejected_managed_token_is_fetched_again_and_the_write_sent_once_more() {
    let server = Server::start();
    server.add_app("cli_writer", "writer-secret");
    let o = Options::new()
        .base_url(&server.base_url())
        .timeouts(1000, 5000);
    let (id, secret) = (c("cli_writer"), c("writer-secret"));
    assert_eq!(
        feishu_client_options_set_app_credentials(o.0, id.as_ptr(), secret.as_ptr()),
        FEISHU_OK
    );
    let client = o.build();
    let w = moved(&client, None, "fldManaged", "folder", "fldTarget");
    assert_eq!(w.rc, FEISHU_OK, "{}", w.message());
    server.revoke_tokens();
    let w = deleted(&client, None, "fldManaged", "folder");
    assert_eq!(w.rc, FEISHU_OK, "{}", w.message());
    assert_eq!(server.token_fetches(), 2);
    assert_eq!(server.writes_for("fldManaged"), 3);
}

#[test]
fn a_task_id_that_does_not_fit_is_a_protocol_error_that_says_it_was_accepted() {
    let server = Server::start();
    let (_o, client) = client_for(&server, 2, 5000);
    let w = moved(&client, Some(TOKEN), "taskid-long", "folder", "fldTarget");
    assert_eq!(w.rc, FEISHU_ERR_PROTOCOL, "{}", w.message());
    assert!(
        w.message().contains("accepted the operation"),
        "{}",
        w.message()
    );
    assert!(
        w.message().contains("7777"),
        "quotes the id: {}",
        w.message()
    );
    assert_eq!(server.writes(), 1);
}

/// Writes do not hold task_check back: a check while a write is stalled on
/// the lane's previous write goes straight through.
#[test]
fn task_checks_are_never_held_back_by_writes() {
    let server = Server::start();
    server.set_write_latency(Duration::from_millis(600));
    let (_o, client) = client_for(&server, 0, 5000);
    std::thread::scope(|s| {
        let client = &client;
        let writers: Vec<_> = (0..2)
            .map(|i| {
                s.spawn(move || moved(client, Some(TOKEN), &format!("fld-w{i}"), "folder", "fldT"))
            })
            .collect();
        while server.writes_in_flight() == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
        let asked = Instant::now();
        assert_eq!(client.check("success").rc, FEISHU_OK);
        assert!(
            asked.elapsed() < Duration::from_millis(500),
            "{:?}",
            asked.elapsed()
        );
        for w in writers {
            assert_eq!(w.join().unwrap().rc, FEISHU_OK);
        }
    });
}

/// The note ends the message even when the platform's text is long: it is
/// the text before it that is cut to fit `FeishuError.message`.
#[test]
fn the_may_have_been_applied_note_survives_a_long_message() {
    let server = Server::start();
    let (_o, client) = client_for(&server, 2, 5000);
    let later = || Reply::platform(400, 1061045, "retry later");
    let long = Reply::platform(500, 1061001, &"x".repeat(300));
    server.set_write_sequence("fldLong", vec![later(), long]);
    let w = moved(&client, Some(TOKEN), "fldLong", "folder", "fldT");
    assert_eq!(w.rc, 1061001, "{}", w.message());
    assert!(
        w.message()
            .ends_with("the operation may have been applied: check before repeating it"),
        "{}",
        w.message()
    );
    assert_eq!(server.writes_for("fldLong"), 2);
}
