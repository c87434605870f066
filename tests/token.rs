//! The managed tenant_access_token through the C ABI: a client with app
//! credentials and a NULL token, against the mock server's token endpoint.

use support::server;
use support::timing::slack;

mod common;

use std::ffi::CString;
use std::time::{Duration, Instant};

use common::*;
use feishu_task::ffi::client::feishu_client_task_check;
use feishu_task::ffi::error::FeishuError;
use feishu_task::ffi::options::feishu_client_options_set_app_credentials;
use feishu_task::ffi::task::FeishuTaskStatus;
use feishu_task::ffi::wait::{
    FeishuCancel, feishu_cancel_free, feishu_cancel_new, feishu_cancel_trigger,
    feishu_client_task_wait,
};
use server::{Reply, Server};

const FEISHU_ERR_CANCELLED: i32 = -6;

const SECRET: &str = "s3cr3t-APP-SECRET";

fn app_client(server: &Server, app_id: &str, secret: &str) -> (Options, Client) {
    let o = Options::new()
        .base_url(&server.base_url())
        .timeouts(2000, 5000);
    let id = CString::new(app_id).unwrap();
    let secret = CString::new(secret).unwrap();
    assert_eq!(
        feishu_client_options_set_app_credentials(o.0, id.as_ptr(), secret.as_ptr()),
        FEISHU_OK
    );
    let c = o.build();
    (o, c)
}

/// A task_check with a NULL token (the client's managed one).
fn managed(client: &Client, task_id: &str) -> (i32, FeishuTaskStatus, FeishuError) {
    let task_id = CString::new(task_id).unwrap();
    let mut status = FeishuTaskStatus::Process;
    let mut err = zeroed_error();
    let rc = feishu_client_task_check(
        client.0,
        std::ptr::null(),
        task_id.as_ptr(),
        &mut status,
        &mut err,
    );
    let message = text(&err.message);
    assert!(
        !message.contains(SECRET) && !message.contains("SECRET"),
        "secret in: {message}"
    );
    (rc, status, err)
}

/// The bearer tokens of the task_check requests for `task_id`.
fn tokens_used(server: &Server, task_id: &str) -> Vec<String> {
    server
        .requests()
        .iter()
        .filter(|r| r.task_id.as_deref() == Some(task_id.as_bytes()))
        .filter_map(|r| {
            r.header("authorization")
                .map(|a| a.trim_start_matches("Bearer ").to_owned())
        })
        .collect()
}

#[test]
fn the_first_call_fetches_and_later_calls_reuse_the_token() {
    let server = Server::start();
    server.add_app("cli_a", SECRET);
    let (_o, client) = app_client(&server, "cli_a", SECRET);
    for _ in 0..10 {
        let (rc, status, _) = managed(&client, "process");
        assert_eq!((rc, status), (FEISHU_OK, FeishuTaskStatus::Process));
    }
    assert_eq!(server.token_fetches(), 1);
    let used = tokens_used(&server, "process");
    assert_eq!(used.len(), 10);
    assert_eq!(
        server.issued_tokens(),
        vec![("cli_a".to_string(), used[0].clone())]
    );
    assert!(used.iter().all(|t| *t == used[0]));
    // The token request: POST, JSON, to the documented path.
    let token_req = server
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .unwrap();
    assert_eq!(
        token_req.path,
        "/open-apis/auth/v3/tenant_access_token/internal"
    );
    assert!(
        token_req
            .header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
}

#[test]
fn an_explicit_token_overrides_and_no_credentials_means_no_null_token() {
    let server = Server::start();
    server.add_app("cli_a", SECRET);
    let (_o, client) = app_client(&server, "cli_a", SECRET);
    assert_eq!(client.check("success").rc, FEISHU_OK);
    assert_eq!(
        server.token_fetches(),
        0,
        "an explicit token needs no fetch"
    );
    assert_eq!(tokens_used(&server, "success"), vec![TOKEN.to_string()]);

    let plain_options = Options::new().base_url(&server.base_url());
    let plain = plain_options.build();
    let (rc, status, err) = managed(&plain, "success");
    assert_eq!(
        (rc, status),
        (FEISHU_ERR_INVALID_ARGUMENT, FeishuTaskStatus::Unknown)
    );
    assert!(
        text(&err.message).contains("no app credentials"),
        "{}",
        text(&err.message)
    );
}

#[test]
fn a_short_expire_is_refreshed_before_it_runs_out() {
    let server = Server::start();
    server.add_app("cli_short", SECRET);
    // The shortest lifetime the endpoint can state (whole seconds) but one: refreshed after
    // half its life, 1 s.
    server.set_token_expire(2);
    let (_o, client) = app_client(&server, "cli_short", SECRET);
    assert_eq!(managed(&client, "success").0, FEISHU_OK);
    let fetched = Instant::now();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(managed(&client, "success").0, FEISHU_OK);
    assert!(
        fetched.elapsed() < Duration::from_millis(1000),
        "the machine stalled past the half-life: {:?}",
        fetched.elapsed()
    );
    assert_eq!(
        server.token_fetches(),
        1,
        "still fresh before its half-life"
    );
    std::thread::sleep(Duration::from_millis(1200).saturating_sub(fetched.elapsed()));
    assert_eq!(managed(&client, "success").0, FEISHU_OK);
    assert_eq!(
        server.token_fetches(),
        2,
        "refreshed after its half-life (1.2 s), before the 2 s expiry"
    );
    let used = tokens_used(&server, "success");
    let issued: Vec<String> = server.issued_tokens().into_iter().map(|(_, t)| t).collect();
    assert_eq!(
        used,
        vec![issued[0].clone(), issued[0].clone(), issued[1].clone()]
    );
}

#[test]
fn sixty_four_threads_starting_together_cause_one_fetch() {
    let server = Server::start();
    server.add_app("cli_many", SECRET);
    server.set_token_delay(Duration::from_millis(300));
    let (_o, client) = app_client(&server, "cli_many", SECRET);
    let barrier = std::sync::Barrier::new(64);
    std::thread::scope(|s| {
        for _ in 0..64 {
            s.spawn(|| {
                barrier.wait();
                let (rc, status, err) = managed(&client, "success");
                assert_eq!(
                    (rc, status),
                    (FEISHU_OK, FeishuTaskStatus::Success),
                    "{}",
                    text(&err.message)
                );
            });
        }
    });
    assert_eq!(server.token_fetches(), 1);
    assert_eq!(tokens_used(&server, "success").len(), 64);
}

#[test]
fn a_revoked_token_heals_with_one_refetch_and_one_retry() {
    let server = Server::start();
    server.add_app("cli_heal", SECRET);
    let (_o, client) = app_client(&server, "cli_heal", SECRET);
    assert_eq!(managed(&client, "success").0, FEISHU_OK);
    server.revoke_tokens();
    let (rc, status, err) = managed(&client, "fail");
    assert_eq!(
        (rc, status),
        (FEISHU_OK, FeishuTaskStatus::Fail),
        "{}",
        text(&err.message)
    );
    assert_eq!(server.token_fetches(), 2);
    let used = tokens_used(&server, "fail");
    assert_eq!(used.len(), 2, "the call was retried once");
    assert_ne!(used[0], used[1]);

    // A second rejection is returned as it is: one more fetch, one retry.
    server.set_sequence(
        "still-bad",
        vec![Reply::platform(400, 99991663, "invalid token"); 3],
    );
    let (rc, _, err) = managed(&client, "still-bad");
    assert_eq!(rc, 99991663, "{}", text(&err.message));
    assert_eq!(server.token_fetches(), 3);
    assert_eq!(tokens_used(&server, "still-bad").len(), 2);

    // 99991664 (app_access_token invalid) heals the same way.
    server.set_sequence(
        "app-token",
        vec![
            Reply::platform(200, 99991664, "app token invalid"),
            Reply::status("success"),
        ],
    );
    assert_eq!(managed(&client, "app-token").0, FEISHU_OK);
    assert_eq!(server.token_fetches(), 4);
}

#[test]
fn a_wrong_secret_gives_the_platform_code_and_a_clear_message() {
    let server = Server::start();
    server.add_app("cli_wrong", SECRET);
    let sink = new_sink();
    let o = Options::new().base_url(&server.base_url()).log_to(sink);
    let id = CString::new("cli_wrong").unwrap();
    let bad = CString::new("not-the-SECRET-hunter2").unwrap();
    assert_eq!(
        feishu_client_options_set_app_credentials(o.0, id.as_ptr(), bad.as_ptr()),
        FEISHU_OK
    );
    let client = o.build();
    let (rc, status, err) = managed(&client, "success");
    assert_eq!((rc, status), (10014, FeishuTaskStatus::Unknown));
    let message = text(&err.message);
    assert!(
        message.starts_with("tenant_access_token request failed"),
        "{message}"
    );
    assert!(message.contains("app secret invalid"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
    assert_eq!(err.http_status, 400);
    assert!(!text(&err.log_id).is_empty());
    assert_eq!(
        tokens_used(&server, "success").len(),
        0,
        "no task_check without a token"
    );
    for (_, line) in sink.lines.lock().unwrap().iter() {
        assert!(
            !line.contains("hunter2") && !line.contains(SECRET),
            "secret in log: {line}"
        );
    }
    // Unknown app: its own platform code.
    let (_o, stranger) = app_client(&server, "cli_nobody", SECRET);
    assert_eq!(managed(&stranger, "success").0, 10003);
}

#[test]
fn two_clients_with_different_apps_never_share_tokens() {
    let server = Server::start();
    server.add_app("cli_one", "secret-one");
    server.add_app("cli_two", "secret-two");
    let (_o1, one) = app_client(&server, "cli_one", "secret-one");
    let (_o2, two) = app_client(&server, "cli_two", "secret-two");
    std::thread::scope(|s| {
        for i in 0..8 {
            let (one, two) = (&one, &two);
            s.spawn(move || {
                for _ in 0..5 {
                    let (client, id) = if i % 2 == 0 {
                        (one, "1111")
                    } else {
                        (two, "2222")
                    };
                    assert_eq!(managed(client, id).0, FEISHU_OK);
                }
            });
        }
    });
    assert_eq!(server.token_fetches_for("cli_one"), 1);
    assert_eq!(server.token_fetches_for("cli_two"), 1);
    let issued = server.issued_tokens();
    let token_of = |app: &str| issued.iter().find(|(a, _)| a == app).unwrap().1.clone();
    assert!(
        tokens_used(&server, "1111")
            .iter()
            .all(|t| *t == token_of("cli_one"))
    );
    assert!(
        tokens_used(&server, "2222")
            .iter()
            .all(|t| *t == token_of("cli_two"))
    );
}

#[test]
fn the_token_step_is_retried_and_bounded_by_the_deadline() {
    let server = Server::start();
    server.add_app("cli_flaky", SECRET);
    server.set_token_replies(vec![
        Reply::platform(500, 1061001, "internal error."),
        Reply::Reset,
    ]);
    let (_o, client) = app_client(&server, "cli_flaky", SECRET);
    let (rc, _, err) = managed(&client, "success");
    assert_eq!(rc, FEISHU_OK, "{}", text(&err.message));
    assert_eq!(server.token_fetches(), 3);

    // A token endpoint slower than the whole call: a timeout, on time.
    let slow = Server::start();
    slow.add_app("cli_slow", SECRET);
    slow.set_token_delay(Duration::from_secs(3));
    let o = Options::new().base_url(&slow.base_url()).timeouts(300, 500);
    let id = CString::new("cli_slow").unwrap();
    let secret = CString::new(SECRET).unwrap();
    assert_eq!(
        feishu_client_options_set_app_credentials(o.0, id.as_ptr(), secret.as_ptr()),
        FEISHU_OK
    );
    let client = o.build();
    let started = Instant::now();
    let (rc, _, err) = managed(&client, "success");
    assert_eq!(rc, FEISHU_ERR_TIMEOUT, "{}", text(&err.message));
    // By the 500 ms deadline, not the 3 s the endpoint takes.
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(500), "{took:?}");
    assert!(took < Duration::from_millis(500) + slack(), "{took:?}");
}

#[test]
fn credentials_are_validated_without_echoing_them() {
    let o = Options::new();
    let id = CString::new("cli_x").unwrap();
    for bad in ["", "has space hunter2", "tab\there"] {
        let secret = CString::new(bad).unwrap();
        let rc = feishu_client_options_set_app_credentials(o.0, id.as_ptr(), secret.as_ptr());
        assert_eq!(rc, FEISHU_ERR_INVALID_ARGUMENT);
        assert!(!last_message().contains("hunter2"));
        assert!(last_message().contains("app_secret"), "{}", last_message());
    }
    let rc = feishu_client_options_set_app_credentials(o.0, std::ptr::null(), id.as_ptr());
    assert_eq!(rc, FEISHU_ERR_INVALID_ARGUMENT);
}

/// Two callers share one token fetch; the fetching caller's short deadline
/// ends its own call, never the other's (abi.md: calls that share work keep
/// their own outcome).
#[test]
fn a_shared_fetch_cut_by_one_callers_deadline_does_not_end_the_others_call() {
    let server = Server::start();
    server.add_app("cli_deadline", SECRET);
    server.set_token_delay(Duration::from_millis(800));
    let (_o, client) = app_client(&server, "cli_deadline", SECRET);
    std::thread::scope(|s| {
        // A: a 300 ms wait, whose poll fetches the token (800 ms).
        let a = s.spawn(|| wait_managed(&client, 300, std::ptr::null()));
        while server.token_fetches() == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
        // B joins A's fetch with its own 5 s deadline.
        let started = Instant::now();
        let (rc, status, err) = managed(&client, "success");
        assert_eq!(
            (rc, status),
            (FEISHU_OK, FeishuTaskStatus::Success),
            "B ended with A's outcome after {:?}: {}",
            started.elapsed(),
            text(&err.message)
        );
        let (a_rc, a_message) = a.join().unwrap();
        assert_eq!(a_rc, FEISHU_ERR_TIMEOUT, "{a_message}");
    });
    // A's fetch, cut short, then B's own.
    assert_eq!(server.token_fetches(), 2);
}

/// The fetching caller's cancel, landing while its fetch waits to retry,
/// cancels that caller only; a caller that joined the fetch fetches itself.
#[test]
fn a_shared_fetch_cancelled_by_one_caller_does_not_cancel_the_other() {
    let server = Server::start();
    server.add_app("cli_cancel", SECRET);
    server.set_token_delay(Duration::from_millis(100));
    server.set_token_replies(vec![Reply::platform(500, 1061001, "internal error.")]);
    let (_o, client) = app_client(&server, "cli_cancel", SECRET);
    let cancel = feishu_cancel_new();
    let cancel_addr = cancel as usize;
    std::thread::scope(|s| {
        let client = &client;
        let a = s.spawn(move || wait_managed(client, 10_000, cancel_addr as *const FeishuCancel));
        while server.token_fetches() == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
        let b = s.spawn(|| managed(client, "success"));
        // A's first attempt is answered 500 after 100 ms; then it backs off.
        while server.token_replies_remaining() > 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
        feishu_cancel_trigger(cancel_addr as *const FeishuCancel);
        let (a_rc, a_message) = a.join().unwrap();
        assert_eq!(a_rc, FEISHU_ERR_CANCELLED, "{a_message}");
        let (rc, status, err) = b.join().unwrap();
        assert_eq!(
            (rc, status),
            (FEISHU_OK, FeishuTaskStatus::Success),
            "B got A's cancel: {}",
            text(&err.message)
        );
    });
    feishu_cancel_free(cancel);
}

/// A wait with the client's managed token on the task "success".
fn wait_managed(client: &Client, timeout_ms: u32, cancel: *const FeishuCancel) -> (i32, String) {
    let task = CString::new("success").unwrap();
    let mut status = FeishuTaskStatus::Unknown;
    let mut err = zeroed_error();
    let rc = feishu_client_task_wait(
        client.0,
        std::ptr::null(),
        task.as_ptr(),
        timeout_ms,
        cancel,
        None,
        std::ptr::null_mut(),
        &mut status,
        &mut err,
    );
    (rc, text(&err.message))
}
