//! The mock server's drive writes (tests/support/drive.rs), checked over raw HTTP/1.1 with
//! std's TcpStream: no library involved, so these tests say what the mock does, and the
//! library's tests can rely on it.

use support::server;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use server::{Reply, Server, drive};

/// Generous: only a broken server makes a test wait this long.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A response as read off the wire; `status` 0 when the server closed without a byte.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    /// `data.task_id`, if the body has one.
    fn task_id(&self) -> Option<String> {
        self.json()["data"]["task_id"].as_str().map(str::to_owned)
    }
}

/// Sends one request on a new connection (`Connection: close`) and reads the whole answer.
fn send(srv: &Server, raw: &[u8]) -> Response {
    let mut stream = TcpStream::connect(srv.addr()).expect("connect");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.write_all(raw).expect("write the request");
    let mut bytes = Vec::new();
    // A reset or truncated reply ends in an error or an early EOF: keep what came.
    let _ = stream.read_to_end(&mut bytes);
    parse_response(&bytes)
}

fn parse_response(bytes: &[u8]) -> Response {
    let text = String::from_utf8_lossy(bytes);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        assert!(bytes.is_empty(), "a response without a head: {text:?}");
        return Response {
            status: 0,
            headers: Vec::new(),
            body: String::new(),
        };
    };
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Response {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// The raw text of a request; `token` None: no Authorization header.
fn request(method: &str, target: &str, token: Option<&str>, extra: &str, body: &str) -> Vec<u8> {
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    format!(
        "{method} {target} HTTP/1.1\r\nHost: mock\r\n{auth}{extra}Content-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn move_body(file_type: &str) -> String {
    format!(r#"{{"type":"{file_type}","folder_token":"fldcnDEST"}}"#)
}

fn move_file(srv: &Server, token: &str, file_token: &str, file_type: &str) -> Response {
    let target = format!("/open-apis/drive/v1/files/{file_token}/move");
    let extra = "Content-Type: application/json; charset=utf-8\r\n";
    send(
        srv,
        &request("POST", &target, Some(token), extra, &move_body(file_type)),
    )
}

fn delete_file(srv: &Server, token: &str, file_token: &str, file_type: &str) -> Response {
    let target = format!("/open-apis/drive/v1/files/{file_token}?type={file_type}");
    send(srv, &request("DELETE", &target, Some(token), "", ""))
}

fn task_status(srv: &Server, task_id: &str) -> String {
    let target = format!("/open-apis/drive/v1/files/task_check?task_id={task_id}");
    let response = send(srv, &request("GET", &target, Some("t-check"), "", ""));
    assert_eq!(response.status, 200, "{response:?}");
    response.json()["data"]["status"]
        .as_str()
        .expect("a status")
        .to_owned()
}

fn admin(srv: &Server, method: &str, target: &str) -> Response {
    send(srv, &request(method, target, None, "", ""))
}

/// A server whose writes are not held and not rate limited (each test turns on what it checks).
fn quick_server() -> Server {
    let srv = Server::start();
    srv.set_write_latency(Duration::ZERO);
    srv.set_write_limit(0);
    srv
}

/// Asserts a platform error: status, code, msg, and the log id in both header and body.
fn assert_error(response: &Response, http: u16, code: i64, msg: &str) {
    assert_eq!(response.status, http, "{response:?}");
    let json = response.json();
    assert_eq!(json["code"].as_i64(), Some(code), "{response:?}");
    assert_eq!(json["msg"].as_str(), Some(msg), "{response:?}");
    let logid = response.header("x-tt-logid").expect("X-Tt-Logid");
    assert_eq!(
        json["error"]["log_id"].as_str(),
        Some(logid),
        "{response:?}"
    );
}

#[test]
fn a_folder_move_returns_a_task_that_runs_then_succeeds() {
    let srv = quick_server();
    let task = Duration::from_millis(600);
    srv.set_task_duration(task);
    let sent = Instant::now();
    let response = move_file(&srv, "t-a", "fldcnSOURCE", "folder");
    assert_eq!(response.status, 200, "{response:?}");
    assert!(response.header("x-tt-logid").is_some());
    let id = response.task_id().expect("a task id");
    assert_eq!(id.len(), 19, "{id}");
    assert!(id.bytes().all(|b| b.is_ascii_digit()), "{id}");
    assert_eq!(
        response.body,
        format!(r#"{{"code":0,"msg":"success","data":{{"task_id":"{id}"}}}}"#)
    );
    assert_eq!(srv.task_ids(), vec![id.clone()]);
    // Within the task duration of the write (measured from before it was sent): process.
    let status = task_status(&srv, &id);
    if sent.elapsed() < task {
        assert_eq!(status, "process");
    }
    loop {
        let status = task_status(&srv, &id);
        if status == "success" {
            break;
        }
        assert_eq!(status, "process");
        assert!(sent.elapsed() < IO_TIMEOUT, "the task never finished");
        thread::sleep(Duration::from_millis(50));
    }
    assert!(
        sent.elapsed() >= task,
        "finished early: {:?}",
        sent.elapsed()
    );

    // A folder delete is asynchronous too, with a new id; `task-fail` ends in `fail`.
    srv.set_task_duration(Duration::ZERO);
    let second = delete_file(&srv, "t-a", "fldcn-task-fail", "folder");
    let second_id = second.task_id().expect("a task id");
    assert_ne!(second_id, id);
    assert_eq!(task_status(&srv, &second_id), "fail");
    // The admin endpoint sets the duration for programs that are not Rust.
    let set = admin(&srv, "POST", "/_mock/drive?task_ms=60000");
    assert_eq!((set.status, set.body.as_str()), (200, r#"{"ok":true}"#));
    let third = delete_file(&srv, "t-a", "fldcnTHIRD", "folder");
    assert_eq!(task_status(&srv, &third.task_id().unwrap()), "process");
    assert_eq!(srv.task_ids().len(), 3);
}

#[test]
fn files_and_folders_in_place_are_done_at_once() {
    let srv = quick_server();
    for response in [
        move_file(&srv, "t-a", "boxcnFILE", "file"),
        move_file(&srv, "t-a", "doxcnDOC", "docx"),
        move_file(&srv, "t-a", "fldcn-inplace", "folder"),
        delete_file(&srv, "t-a", "boxcnFILE", "file"),
        delete_file(&srv, "t-a", "shtcnSHEET", "sheet"),
        delete_file(&srv, "t-a", "bascn_x", "bitable"),
    ] {
        assert_eq!(response.status, 200, "{response:?}");
        assert_eq!(response.body, drive::WRITE_DONE_BODY);
        assert_eq!(response.body, r#"{"code":0,"msg":"success","data":{}}"#);
    }
    assert!(srv.task_ids().is_empty());
    assert_eq!(srv.writes(), 6);
    // Deleting a folder "in place" is not a thing: it gets a task.
    assert!(
        delete_file(&srv, "t-a", "fldcn-inplace", "folder")
            .task_id()
            .is_some()
    );
}

#[test]
fn overlapping_writes_with_one_token_get_retry_later_and_other_tokens_do_not() {
    let srv = Server::start();
    srv.set_write_limit(0);
    // Long enough that the checks below happen while the first write is held.
    srv.set_write_latency(Duration::from_millis(1500));
    thread::scope(|scope| {
        let first = scope.spawn(|| move_file(&srv, "t-same", "boxcnONE", "file"));
        let waiting = Instant::now();
        while srv.writes_in_flight() == 0 {
            assert!(
                waiting.elapsed() < IO_TIMEOUT,
                "the first write never arrived"
            );
            thread::sleep(Duration::from_millis(5));
        }
        let started = Instant::now();
        let second = delete_file(&srv, "t-same", "boxcnTWO", "file");
        assert_error(
            &second,
            400,
            drive::CODE_RETRY_LATER,
            drive::MSG_RETRY_LATER,
        );
        // Refused at once, not held.
        assert!(started.elapsed() < Duration::from_millis(1500));
        let other = scope.spawn(|| delete_file(&srv, "t-other", "boxcnTHREE", "file"));
        let other = other.join().unwrap();
        assert_eq!(other.body, drive::WRITE_DONE_BODY, "{other:?}");
        let first = first.join().unwrap();
        assert_eq!(first.body, drive::WRITE_DONE_BODY, "{first:?}");
    });
    assert_eq!(srv.write_conflicts(), 1);
    assert_eq!(srv.write_rate_limited(), 0);
    assert_eq!(srv.writes(), 3);
    assert_eq!(srv.writes_in_flight(), 0);
    let stats = admin(&srv, "GET", "/_mock/stats").json();
    assert_eq!(stats["writes"], 3);
    assert_eq!(stats["write_conflicts"], 1);
    assert_eq!(stats["write_rate_limited"], 0);
    // Once the first is answered, the token writes again.
    srv.set_write_latency(Duration::ZERO);
    assert_eq!(
        move_file(&srv, "t-same", "boxcnFOUR", "file").body,
        drive::WRITE_DONE_BODY
    );
}

#[test]
fn at_most_five_writes_per_token_in_any_second() {
    let srv = Server::start();
    srv.set_write_latency(Duration::ZERO);
    // Six writes within one second must see the sixth refused; a loaded machine may take
    // longer, which proves nothing: then try again with a new token.
    let mut proven = false;
    for attempt in 0..5 {
        let token = format!("t-rate-{attempt}");
        srv.reset_counters();
        let started = Instant::now();
        let answers: Vec<Response> = (0..6)
            .map(|i| delete_file(&srv, &token, &format!("boxcn{i}"), "file"))
            .collect();
        let answered = Instant::now();
        if started.elapsed() >= drive::WRITE_WINDOW {
            continue;
        }
        for answer in &answers[..5] {
            assert_eq!(answer.body, drive::WRITE_DONE_BODY, "{answer:?}");
        }
        assert_error(&answers[5], 400, 1061045, "retry later");
        assert_eq!(srv.write_rate_limited(), 1);
        assert_eq!(srv.write_conflicts(), 0);
        assert_eq!(
            admin(&srv, "GET", "/_mock/stats").json()["write_rate_limited"],
            1
        );
        // Another token has its own budget.
        let other = format!("t-rate-other-{attempt}");
        assert_eq!(
            delete_file(&srv, &other, "boxcnX", "file").body,
            drive::WRITE_DONE_BODY
        );
        // The window slides: a second after the fifth was admitted, the token writes again
        // (the refused sixth used no budget).
        let wake = answered + drive::WRITE_WINDOW + Duration::from_millis(20);
        thread::sleep(wake.saturating_duration_since(Instant::now()));
        assert_eq!(
            delete_file(&srv, &token, "boxcnLATER", "file").body,
            drive::WRITE_DONE_BODY
        );
        proven = true;
        break;
    }
    assert!(proven, "never sent six writes within a second");
    // write_limit=0 turns the limit off.
    let set = admin(&srv, "POST", "/_mock/drive?write_limit=0&write_ms=0");
    assert_eq!(set.status, 200, "{set:?}");
    for i in 0..8 {
        let answer = delete_file(&srv, "t-unlimited", &format!("boxcn{i}"), "file");
        assert_eq!(answer.body, drive::WRITE_DONE_BODY);
    }
}

#[test]
fn errors_are_chosen_by_file_token() {
    let srv = quick_server();
    let cases: [(&str, u16, i64, &str); 9] = [
        ("err-1061001", 500, 1061001, "internal error."),
        ("err-1061003", 404, 1061003, "not found."),
        ("err-1061004", 403, 1061004, "forbidden."),
        ("err-1061007", 400, 1061007, "file has been delete."),
        ("err-1061045", 400, 1061045, "retry later"),
        (
            "err-1062507",
            400,
            1062507,
            "parent node out of sibling num.",
        ),
        ("err-99991403", 400, 99991403, "monthly quota exceeded"),
        ("err-1065200", 400, 1065200, "error 1065200."),
        ("err-1061003-second", 404, 1061003, "not found."),
    ];
    for (file_token, http, code, msg) in cases {
        assert_error(
            &move_file(&srv, "t-a", file_token, "folder"),
            http,
            code,
            msg,
        );
        assert_error(
            &delete_file(&srv, "t-a", file_token, "file"),
            http,
            code,
            msg,
        );
    }
    let limited = delete_file(&srv, "t-a", "err-99991400", "file");
    assert_error(&limited, 429, 99991400, server::MSG_RATE_LIMITED);
    assert_eq!(limited.header("x-ogw-ratelimit-reset"), Some("1"));
    assert_eq!(
        delete_file(&srv, "t-a", "html-502", "file").status,
        502,
        "the failure modes of task ids by name"
    );
    // Parameters.
    let params = |r: &Response| assert_error(r, 400, 1061002, "params error.");
    params(&move_file(&srv, "t-a", "boxcnA", "Folder"));
    params(&move_file(&srv, "t-a", "boxcnA", "doc-x"));
    params(&move_file(&srv, "t-a", "boxcnA", ""));
    params(&delete_file(&srv, "t-a", "boxcnA", "FILE"));
    let target = "/open-apis/drive/v1/files/boxcnA";
    params(&send(&srv, &request("DELETE", target, Some("t-a"), "", "")));
    let target = "/open-apis/drive/v1/files/boxcnA/move";
    let json = "Content-Type: application/json\r\n";
    params(&send(&srv, &request("POST", target, Some("t-a"), json, "")));
    let no_folder = r#"{"type":"file"}"#;
    params(&send(
        &srv,
        &request("POST", target, Some("t-a"), json, no_folder),
    ));
    let empty_folder = r#"{"type":"file","folder_token":""}"#;
    params(&send(
        &srv,
        &request("POST", target, Some("t-a"), json, empty_folder),
    ));
    let text = "Content-Type: text/plain\r\n";
    params(&send(
        &srv,
        &request("POST", target, Some("t-a"), text, &move_body("file")),
    ));
    // Authorization, as task_check.
    let missing = send(
        &srv,
        &request("POST", target, None, json, &move_body("file")),
    );
    assert_error(&missing, 400, 99991661, server::MSG_MISSING_TOKEN);
    let expired = delete_file(&srv, "t-expired", "boxcnA", "file");
    assert_error(&expired, 400, 99991663, server::MSG_INVALID_TOKEN);
    // Not a write: other methods and shapes of path.
    for (method, target) in [
        ("GET", "/open-apis/drive/v1/files/boxcnA/move"),
        ("PUT", "/open-apis/drive/v1/files/boxcnA"),
        ("POST", "/open-apis/drive/v1/files//move"),
        ("DELETE", "/open-apis/drive/v1/files/a/b"),
    ] {
        let response = send(&srv, &request(method, target, Some("t-a"), "", ""));
        assert_eq!(response.status, 404, "{method} {target}: {response:?}");
    }
    let bad = admin(&srv, "POST", "/_mock/drive?task_ms=soon");
    assert_eq!(bad.status, 400, "{bad:?}");
    assert_eq!(admin(&srv, "POST", "/_mock/drive").status, 400);
}

#[test]
fn scripted_replies_come_in_order_after_the_whole_request_was_read() {
    let srv = quick_server();
    srv.set_write_sequence(
        "fldcnSCRIPT",
        vec![
            Reply::Reset,
            Reply::Html(502),
            Reply::RateLimited { reset_secs: 1 },
            Reply::Truncated,
            Reply::platform(400, 1061045, "retry later"),
        ],
    );
    assert_eq!(srv.write_sequence_remaining("fldcnSCRIPT"), 5);
    let reset = move_file(&srv, "t-a", "fldcnSCRIPT", "folder");
    assert_eq!(reset.status, 0, "nothing at all: {reset:?}");
    let html = move_file(&srv, "t-a", "fldcnSCRIPT", "folder");
    assert_eq!(html.status, 502);
    assert_eq!(html.body, server::HTML_BODY);
    let limited = delete_file(&srv, "t-a", "fldcnSCRIPT", "folder");
    assert_eq!(limited.status, 429);
    assert_eq!(limited.header("x-ogw-ratelimit-reset"), Some("1"));
    let truncated = move_file(&srv, "t-a", "fldcnSCRIPT", "folder");
    assert_eq!(truncated.header("content-length"), Some("100"));
    assert_eq!(truncated.body.len(), server::TRUNCATED_SENT);
    assert_error(
        &move_file(&srv, "t-a", "fldcnSCRIPT", "folder"),
        400,
        1061045,
        "retry later",
    );
    // Used up: the normal answer again.
    assert!(
        move_file(&srv, "t-a", "fldcnSCRIPT", "folder")
            .task_id()
            .is_some()
    );
    assert_eq!(srv.write_sequence_remaining("fldcnSCRIPT"), 0);
    // A rejected request (params) consumes nothing.
    srv.set_write_sequence("fldcnKEEP", vec![Reply::not_found()]);
    let _ = move_file(&srv, "t-a", "fldcnKEEP", "Bad");
    assert_eq!(srv.write_sequence_remaining("fldcnKEEP"), 1);

    // Every one of them was recorded with its body, the reset one included.
    assert_eq!(srv.writes_for("fldcnSCRIPT"), 6);
    let recorded = srv.write_requests();
    let first = &recorded[0];
    assert_eq!(first.method, "POST");
    assert_eq!(first.path, "/open-apis/drive/v1/files/fldcnSCRIPT/move");
    assert_eq!(first.write_kind(), Some(drive::WriteKind::Move));
    assert_eq!(
        first.body_str().as_deref(),
        Some(move_body("folder").as_str())
    );
    assert_eq!(first.logid, None);
    assert_eq!(recorded[2].method, "DELETE");
    assert_eq!(recorded[2].body_str().as_deref(), Some(""));
    assert_eq!(recorded[2].write_kind(), Some(drive::WriteKind::Delete));

    // A stall holds the answer back, but the request was read and recorded first.
    srv.set_write_sequence("fldcnSTALL", vec![Reply::Stall]);
    let mut stream = TcpStream::connect(srv.addr()).unwrap();
    let target = "/open-apis/drive/v1/files/fldcnSTALL/move";
    let json = "Content-Type: application/json\r\n";
    let body = move_body("folder");
    stream
        .write_all(&request("POST", target, Some("t-a"), json, &body))
        .unwrap();
    let waiting = Instant::now();
    while srv.writes_for("fldcnSTALL") == 0 {
        assert!(
            waiting.elapsed() < IO_TIMEOUT,
            "the stalled write was not recorded"
        );
        thread::sleep(Duration::from_millis(10));
    }
    let stalled = srv.write_requests().pop().unwrap();
    assert_eq!(stalled.body_str(), Some(body));
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut byte = [0u8; 1];
    assert!(stream.read(&mut byte).is_err(), "a stall sends nothing");
    let _ = stream.shutdown(Shutdown::Both);
}

#[test]
fn writes_are_recorded_with_decoded_tokens_and_reset_clears_them() {
    let srv = quick_server();
    assert_eq!(
        move_file(&srv, "t-a", "a%2Fb%20c", "file").body,
        drive::WRITE_DONE_BODY
    );
    let _ = delete_file(&srv, "t-a", "reset-1", "file");
    let _ = send(
        &srv,
        &request(
            "GET",
            "/open-apis/drive/v1/files/task_check?task_id=1",
            Some("t-a"),
            "",
            "",
        ),
    );
    assert_eq!(srv.request_count(), 3);
    assert_eq!(srv.writes(), 2);
    assert_eq!(srv.writes_for("a/b c"), 1);
    assert_eq!(srv.writes_for("reset-1"), 1);
    let all = srv.requests();
    assert_eq!(all[0].file_token().as_deref(), Some("a/b c"));
    assert_eq!(all[1].raw_query, "type=file");
    assert_eq!(all[2].file_token(), None);
    assert_eq!(all[2].body, None);
    // The same, for programs that are not Rust.
    let listed = admin(&srv, "GET", "/_mock/requests").json();
    assert_eq!(listed[0]["body"], move_body("file").as_str());
    assert_eq!(
        listed[0]["path"],
        "/open-apis/drive/v1/files/a%2Fb%20c/move"
    );
    assert_eq!(listed[1]["method"], "DELETE");
    assert_eq!(listed[2]["body"], serde_json::Value::Null);
    assert_eq!(admin(&srv, "GET", "/_mock/stats").json()["writes"], 2);

    let id = delete_file(&srv, "t-a", "fldcnX", "folder")
        .task_id()
        .unwrap();
    srv.set_write_sequence("fldcnY", vec![Reply::Reset]);
    assert_eq!(admin(&srv, "POST", "/_mock/reset").status, 200);
    assert_eq!(srv.writes(), 0);
    assert!(srv.write_requests().is_empty());
    assert!(srv.task_ids().is_empty());
    assert_eq!(srv.write_sequence_remaining("fldcnY"), 0);
    // A forgotten task id is all digits: the default says success.
    assert_eq!(task_status(&srv, &id), "success");
}
