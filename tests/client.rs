//! The client API of the C ABI (FeishuClientOptions, FeishuClient): option
//! validation, retries counted at the server, independent clients, logging.

use support::server;

mod common;

use std::time::{Duration, Instant};

use common::*;
use feishu_task::ffi::client::{feishu_client_free, feishu_client_new, feishu_client_task_check};
use feishu_task::ffi::options::{
    feishu_client_options_free, feishu_client_options_set_max_retries,
    feishu_client_options_set_rate_limit, feishu_client_options_set_timeouts,
};
use feishu_task::ffi::task::FeishuTaskStatus;
use server::{Reply, Server};

fn client_for(server: &Server) -> (Options, Client) {
    let options = Options::new()
        .base_url(&server.base_url())
        .timeouts(2000, 5000);
    let client = options.build();
    (options, client)
}

fn count(server: &Server, task_id: &str) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| r.task_id.as_deref() == Some(task_id.as_bytes()))
        .count()
}

#[test]
fn setters_validate_at_once() {
    let o = Options::new();
    for bad in [
        "ftp://open.feishu.cn",
        "https://open.feishu.cn/open-apis",
        "https://open.feishu.cn?a=b",
        "open.feishu.cn",
        "",
    ] {
        assert_eq!(o.set_base_url(bad), FEISHU_ERR_INVALID_ARGUMENT, "{bad}");
        assert!(!last_message().is_empty());
    }
    assert_eq!(o.set_base_url("https://open.larksuite.com"), FEISHU_OK);
    assert_eq!(o.set_base_url("https://open.feishu.cn"), FEISHU_OK);
    assert_eq!(o.set_base_url("http://10.1.2.3:8080/"), FEISHU_OK);

    assert_eq!(
        feishu_client_options_set_timeouts(o.0, 0, 1000),
        FEISHU_ERR_INVALID_ARGUMENT
    );
    assert_eq!(
        feishu_client_options_set_timeouts(o.0, 1000, 0),
        FEISHU_ERR_INVALID_ARGUMENT
    );
    assert!(
        last_message().contains("at least 1 ms"),
        "{}",
        last_message()
    );
    assert_eq!(
        feishu_client_options_set_max_retries(o.0, 11),
        FEISHU_ERR_INVALID_ARGUMENT
    );
    assert_eq!(feishu_client_options_set_max_retries(o.0, 10), FEISHU_OK);
    // A declared rate limit: 0 requests turns it off; an interval of 0 ms
    // or more than a million requests is refused.
    assert_eq!(
        feishu_client_options_set_rate_limit(o.0, 5, 0),
        FEISHU_ERR_INVALID_ARGUMENT
    );
    assert!(
        last_message().contains("at least 1 ms"),
        "{}",
        last_message()
    );
    assert_eq!(
        feishu_client_options_set_rate_limit(o.0, 2_000_000, 1000),
        FEISHU_ERR_INVALID_ARGUMENT
    );
    assert_eq!(feishu_client_options_set_rate_limit(o.0, 0, 0), FEISHU_OK);
    assert_eq!(
        feishu_client_options_set_rate_limit(o.0, 20, 1000),
        FEISHU_OK
    );
    assert_eq!(
        feishu_client_options_set_rate_limit(std::ptr::null_mut(), 20, 1000),
        FEISHU_ERR_INVALID_ARGUMENT
    );

    assert_eq!(
        o.set_proxy(Some("socks5://u:hunter2@127.0.0.1:1080")),
        FEISHU_ERR_INVALID_ARGUMENT
    );
    assert!(last_message().contains("scheme"), "{}", last_message());
    assert!(!last_message().contains("hunter2"));
    assert_eq!(
        o.set_proxy(Some("http://u:hunter2@")),
        FEISHU_ERR_INVALID_ARGUMENT
    );
    assert!(!last_message().contains("hunter2"));
    assert_eq!(
        o.set_proxy(Some("http://u:hunter2@127.0.0.1:3128")),
        FEISHU_OK
    );
    assert_eq!(o.set_proxy(None), FEISHU_OK);

    assert_eq!(
        o.set_ca_file("/nonexistent/ca.pem"),
        FEISHU_ERR_INVALID_ARGUMENT
    );
    assert!(
        last_message().contains("/nonexistent/ca.pem"),
        "{}",
        last_message()
    );
    let junk = std::env::temp_dir().join(format!("not-a-ca-{}.pem", std::process::id()));
    std::fs::write(&junk, "hello\n").unwrap();
    assert_eq!(
        o.set_ca_file(junk.to_str().unwrap()),
        FEISHU_ERR_INVALID_ARGUMENT
    );
    assert!(
        last_message().contains("no PEM certificate"),
        "{}",
        last_message()
    );
    std::fs::remove_file(junk).unwrap();

    // NULL options, and NULL/no-op frees.
    assert_eq!(
        feishu_client_options_set_max_retries(std::ptr::null_mut(), 1),
        FEISHU_ERR_INVALID_ARGUMENT
    );
    feishu_client_options_free(std::ptr::null_mut());
    feishu_client_free(std::ptr::null_mut());
    let mut status = FeishuTaskStatus::Success;
    let rc = feishu_client_task_check(
        std::ptr::null(),
        c"t-x".as_ptr(),
        c"1".as_ptr(),
        &mut status,
        std::ptr::null_mut(),
    );
    assert_eq!(rc, FEISHU_ERR_INVALID_ARGUMENT);
    assert_eq!(status, FeishuTaskStatus::Unknown);
}

#[test]
fn a_client_with_null_options_is_built_from_the_environment() {
    // This test binary never sets FEISHU_BASE_URL, so the NULL-options client
    // is the default Feishu one; a bad variable would fail here. Only
    // construction is checked (no network).
    let mut err = zeroed_error();
    let c = feishu_client_new(std::ptr::null(), &mut err);
    assert!(!c.is_null(), "{}", text(&err.message));
    assert_eq!(err.code, FEISHU_OK);
    feishu_client_free(c);
}

#[test]
fn options_outlive_nothing_and_clients_outlive_options() {
    let server = Server::start();
    let options = Options::new().base_url(&server.base_url());
    let client = options.build();
    drop(options);
    assert_eq!(client.check("success").rc, FEISHU_OK);
}

#[test]
fn every_framing_of_a_response_keeps_the_connection() {
    // Content-Length (success, fail, a 404 platform error) and chunked with a
    // chunk extension and a trailer: each read whole, one connection for all.
    let server = Server::start();
    let (_o, client) = client_for(&server);
    for round in 0..3 {
        for (id, rc, status) in [
            ("chunked", FEISHU_OK, FeishuTaskStatus::Success),
            ("fail", FEISHU_OK, FeishuTaskStatus::Fail),
            ("err-1061003", 1061003, FeishuTaskStatus::Unknown),
            ("chunked", FEISHU_OK, FeishuTaskStatus::Success),
            ("process", FEISHU_OK, FeishuTaskStatus::Process),
        ] {
            let o = client.check(id);
            assert_eq!(
                (o.rc, o.status),
                (rc, status),
                "round {round}, {id}: {}",
                o.message()
            );
        }
    }
    assert_eq!(server.request_count(), 15);
    assert_eq!(server.connection_count(), 1);
    // A response the client does not read to its end (too large) costs its
    // connection; the next call opens another.
    assert_eq!(client.check("oversized-chunked").rc, FEISHU_ERR_PROTOCOL);
    assert_eq!(client.check("chunked").rc, FEISHU_OK);
    assert_eq!(server.connection_count(), 2);
}

#[test]
fn a_5xx_then_success_is_one_successful_call() {
    let server = Server::start();
    let (_o, client) = client_for(&server);
    server.set_sequence(
        "t1",
        vec![
            Reply::platform(500, 1061001, "internal error."),
            Reply::status("fail"),
        ],
    );
    let o = client.check("t1");
    assert_eq!((o.rc, o.status), (FEISHU_OK, FeishuTaskStatus::Fail));
    assert_eq!(count(&server, "t1"), 2);
}

#[test]
fn persistent_5xx_gives_up_after_max_retries_plus_one_attempts() {
    let server = Server::start();
    for retries in [0u32, 1, 2, 3] {
        let options = Options::new()
            .base_url(&server.base_url())
            .timeouts(2000, 10_000)
            .retries(retries);
        let client = options.build();
        let id = format!("always-500-{retries}");
        server.set_sequence(
            &id,
            vec![Reply::platform(500, 1061001, "internal error."); 10],
        );
        let o = client.check(&id);
        assert_eq!(o.rc, 1061001);
        assert_eq!(o.err.http_status, 500);
        assert_eq!(
            count(&server, &id),
            retries as usize + 1,
            "retries={retries}"
        );
        if retries > 0 {
            assert!(
                o.message()
                    .contains(&format!("after {} attempts", retries + 1)),
                "{}",
                o.message()
            );
        }
    }
}

#[test]
fn transient_network_and_http_failures_are_retried() {
    let server = Server::start();
    let (_o, client) = client_for(&server);
    server.set_sequence("t-reset", vec![Reply::Reset, Reply::status("success")]);
    assert_eq!(client.check("t-reset").rc, FEISHU_OK);
    assert_eq!(count(&server, "t-reset"), 2);
    server.set_sequence(
        "t-502",
        vec![Reply::Html(502), Reply::Html(503), Reply::status("success")],
    );
    assert_eq!(client.check("t-502").rc, FEISHU_OK);
    assert_eq!(count(&server, "t-502"), 3);
}

#[test]
fn permanent_failures_are_never_retried() {
    let server = Server::start();
    let (_o, client) = client_for(&server);
    for (id, rc) in [
        ("err-1061003", 1061003),
        ("err-1061002", 1061002),
        ("token-expired", 99991663),
        ("garbage", FEISHU_ERR_PROTOCOL),
        ("redirect", FEISHU_ERR_HTTP),
        ("truncated", FEISHU_ERR_NETWORK),
        ("oversized", FEISHU_ERR_PROTOCOL),
    ] {
        let o = client.check(id);
        assert_eq!(o.rc, rc, "{id}: {}", o.message());
        assert_eq!(count(&server, id), 1, "{id} was retried");
        assert!(!o.message().contains("attempts"), "{}", o.message());
    }
}

#[test]
fn rate_limits_are_waited_out_when_the_deadline_allows() {
    let server = Server::start();
    let (_o, client) = client_for(&server); // 5 s deadline
    server.set_sequence(
        "rl-fits",
        vec![
            Reply::RateLimited { reset_secs: 1 },
            Reply::status("success"),
        ],
    );
    let started = Instant::now();
    let o = client.check("rl-fits");
    assert_eq!(o.rc, FEISHU_OK, "{}", o.message());
    assert_eq!(count(&server, "rl-fits"), 2);
    assert!(
        started.elapsed() >= Duration::from_millis(1000),
        "retried before the advised reset"
    );

    // With an 800 ms deadline the advised 1 s does not fit: returned at once.
    let options = Options::new()
        .base_url(&server.base_url())
        .timeouts(500, 800);
    let short = options.build();
    server.set_sequence(
        "rl-late",
        vec![
            Reply::RateLimited { reset_secs: 1 },
            Reply::status("success"),
        ],
    );
    let o = short.check("rl-late");
    assert_eq!(o.rc, 99991400);
    assert_eq!(o.err.http_status, 429);
    assert_eq!(o.err.retry_after_ms, 1000);
    assert_eq!(count(&server, "rl-late"), 1);
}

#[test]
fn two_clients_from_eight_threads_are_independent() {
    let fast = Server::start();
    let slow = Server::start();
    let (_oa, a) = client_for(&fast);
    let ob = Options::new()
        .base_url(&slow.base_url())
        .timeouts(200, 300)
        .retries(0);
    let b = ob.build();
    std::thread::scope(|s| {
        for t in 0..8 {
            let (a, b) = (&a, &b);
            s.spawn(move || {
                for _ in 0..10 {
                    if t % 2 == 0 {
                        let o = a.check("process");
                        assert_eq!((o.rc, o.status), (FEISHU_OK, FeishuTaskStatus::Process));
                    } else {
                        let started = Instant::now();
                        let o = b.check("stall");
                        assert_eq!(o.rc, FEISHU_ERR_TIMEOUT, "{}", o.message());
                        assert!(o.message().contains("300 ms"), "{}", o.message());
                        assert!(started.elapsed() < Duration::from_secs(3));
                    }
                }
            });
        }
    });
    assert_eq!(fast.request_count(), 40);
    assert_eq!(slow.request_count(), 40);
    assert!(
        fast.connection_count() <= 4,
        "pooled: {}",
        fast.connection_count()
    );
}

#[test]
fn the_log_callback_sees_every_attempt_and_no_secret() {
    let server = Server::start();
    let sink = new_sink();
    let options = Options::new()
        .base_url(&server.base_url())
        .timeouts(2000, 5000)
        .log_to(sink);
    let client = options.build();
    server.set_sequence(
        "logged",
        vec![
            Reply::platform(500, 1061001, "internal error."),
            Reply::status("success"),
        ],
    );
    assert_eq!(client.check("logged").rc, FEISHU_OK);
    assert_eq!(client.check("err-1061003").rc, 1061003);
    let lines = sink.lines.lock().unwrap().clone();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    let (warn, retry) = &lines[0];
    assert_eq!(*warn, 2);
    for part in [
        "GET /open-apis/drive/v1/files/task_check",
        "attempt 1 of 3",
        "HTTP 500",
        "log id ",
        "1061001",
        "retrying in",
    ] {
        assert!(retry.contains(part), "{part:?} missing from {retry}");
    }
    assert_eq!(lines[1].0, 3);
    assert!(
        lines[1].1.contains("attempt 2 of 3") && lines[1].1.contains("HTTP 200"),
        "{}",
        lines[1].1
    );
    assert!(lines[1].1.contains("log id "), "{}", lines[1].1);
    assert_eq!(lines[2].0, 1);
    assert!(
        lines[2].1.contains("HTTP 404") && lines[2].1.contains("giving up"),
        "{}",
        lines[2].1
    );
    for (_, line) in &lines {
        assert!(
            !line.contains("SECRET") && !line.contains("Bearer"),
            "secret in log: {line}"
        );
    }
}

#[test]
fn a_silent_client_logs_nothing_and_err_may_be_null() {
    let server = Server::start();
    let (_o, client) = client_for(&server);
    let mut status = FeishuTaskStatus::Unknown;
    let rc = feishu_client_task_check(
        client.0,
        c"t-x".as_ptr(),
        c"fail".as_ptr(),
        &mut status,
        std::ptr::null_mut(),
    );
    assert_eq!((rc, status), (FEISHU_OK, FeishuTaskStatus::Fail));
    // A success fills err with code 0 and empty strings.
    let o = client.check("success");
    assert_eq!(o.err.code, FEISHU_OK);
    assert!(text(&o.err.message).is_empty() && text(&o.err.log_id).is_empty());
}

/// Messages name what failed, as curl's do: the host that did not resolve, the
/// address that refused, and (tests/tls_proxy.rs) the host a TLS handshake failed with.
#[test]
fn failures_name_the_host_or_address() {
    let message_for = |base_url: &str| {
        let o = Options::new()
            .base_url(base_url)
            .retries(0)
            .build()
            .check("success");
        assert_eq!(o.rc, FEISHU_ERR_NETWORK, "{base_url}: {}", o.message());
        o.message()
    };
    // A name that cannot resolve (.invalid is reserved: never in DNS).
    let m = message_for("http://no-such-host.invalid:8080");
    assert!(
        m.starts_with("could not resolve host no-such-host.invalid:8080 ("),
        "{m}"
    );

    // A port nobody listens on, by address and by name.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    assert_eq!(
        message_for(&format!("http://127.0.0.1:{port}")),
        format!("could not connect to 127.0.0.1:{port}: connection refused")
    );
    let m = message_for(&format!("http://localhost:{port}"));
    assert!(
        m.starts_with(&format!("could not connect to localhost:{port} ("))
            && m.contains(&format!("127.0.0.1:{port}"))
            && m.ends_with("): connection refused"),
        "{m}"
    );
}
