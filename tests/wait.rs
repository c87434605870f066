//! `feishu_client_task_wait` through the C ABI: schedule, deadline, cancel,
//! progress, rate limits and transient failures, against the mock server.

use support::server;
use support::timing::{PROMPT, slack};

mod common;

use std::ffi::{CString, c_void};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::*;
use feishu_task::ffi::error::FeishuError;
use feishu_task::ffi::task::FeishuTaskStatus;
use feishu_task::ffi::wait::{
    FeishuCancel, FeishuWaitProgress, feishu_cancel_free, feishu_cancel_new, feishu_cancel_trigger,
    feishu_client_task_wait,
};
use server::{Reply, Server};

const FEISHU_ERR_CANCELLED: i32 = -6;

struct Waited {
    rc: i32,
    status: FeishuTaskStatus,
    err: FeishuError,
    elapsed: Duration,
}

/// Polls seen by the progress callback: (status, polls, elapsed_ms).
struct Seen {
    polls: Mutex<Vec<(i32, u32, u64)>>,
    stop_at: u32,
}

extern "C" fn record_progress(
    user_data: *mut c_void,
    status: FeishuTaskStatus,
    polls: u32,
    elapsed_ms: u64,
) -> i32 {
    // SAFETY: `user_data` is the &Seen passed to the wait, alive during it.
    let seen = unsafe { &*(user_data as *const Seen) };
    seen.polls
        .lock()
        .unwrap()
        .push((status as i32, polls, elapsed_ms));
    i32::from(seen.stop_at != 0 && polls >= seen.stop_at)
}

fn wait_for(
    client: &Client,
    task_id: &str,
    timeout_ms: u32,
    cancel: *const FeishuCancel,
    seen: Option<&Seen>,
) -> Waited {
    let token = CString::new(TOKEN).unwrap();
    let task_id = CString::new(task_id).unwrap();
    let mut status = FeishuTaskStatus::Success;
    let mut err = zeroed_error();
    let progress: FeishuWaitProgress = seen.map(|_| record_progress as _);
    let user_data = seen.map_or(std::ptr::null_mut(), |s| s as *const Seen as *mut c_void);
    let started = Instant::now();
    let rc = feishu_client_task_wait(
        client.0,
        token.as_ptr(),
        task_id.as_ptr(),
        timeout_ms,
        cancel,
        progress,
        user_data,
        &mut status,
        &mut err,
    );
    let elapsed = started.elapsed();
    assert_eq!(err.code, rc);
    assert!(!text(&err.message).contains("SECRET"));
    Waited {
        rc,
        status,
        err,
        elapsed,
    }
}

fn seen(stop_at: u32) -> Seen {
    Seen {
        polls: Mutex::new(Vec::new()),
        stop_at,
    }
}

fn quick_client(server: &Server, retries: u32) -> (Options, Client) {
    let o = options(server, 2000).retries(retries);
    let c = o.build();
    (o, c)
}

#[test]
fn a_task_finishing_after_a_second_is_seen_within_one_poll_interval() {
    let server = Server::start();
    let (_o, client) = quick_client(&server, 2);
    let finish_after = Duration::from_millis(1000);
    server.set_timed_task("one-second", finish_after, "success");
    let s = seen(0);
    let w = wait_for(&client, "one-second", 10_000, std::ptr::null(), Some(&s));
    assert_eq!(
        (w.rc, w.status),
        (FEISHU_OK, FeishuTaskStatus::Success),
        "{}",
        text(&w.err.message)
    );
    let polls = s.polls.lock().unwrap().clone();
    // Polls count up from 1, and every poll but the last saw "process".
    for (i, (status, n, _)) in polls.iter().enumerate() {
        assert_eq!(*n as usize, i + 1);
        let want = if i + 1 == polls.len() { 1 } else { 3 };
        assert_eq!(*status, want, "poll {n}");
    }
    // Reported within one poll interval of finishing: the last two polls
    // straddle the finish, so the delay is at most their gap (plus the
    // scheduling of a loaded machine).
    let last_gap = polls[polls.len() - 1].2 - polls[polls.len() - 2].2;
    let detection = w.elapsed.saturating_sub(finish_after);
    assert!(
        detection <= Duration::from_millis(last_gap) + slack(),
        "detected {detection:?} after finishing; last interval {last_gap} ms; polls {polls:?}"
    );
    assert!(polls.len() >= 3 && polls.len() <= 6, "{polls:?}");
}

#[test]
fn a_failing_task_ends_with_fail() {
    let server = Server::start();
    let (_o, client) = quick_client(&server, 2);
    server.set_sequence(
        "fails",
        vec![Reply::status("process"), Reply::status("fail")],
    );
    let w = wait_for(&client, "fails", 10_000, std::ptr::null(), None);
    assert_eq!((w.rc, w.status), (FEISHU_OK, FeishuTaskStatus::Fail));
}

#[test]
fn the_deadline_is_kept_and_the_last_status_reported() {
    let server = Server::start();
    let (_o, client) = quick_client(&server, 2);
    let w = wait_for(&client, "process", 1500, std::ptr::null(), None);
    assert_eq!(w.rc, FEISHU_ERR_TIMEOUT);
    assert_eq!(w.status, FeishuTaskStatus::Process, "the last status seen");
    assert!(w.elapsed >= Duration::from_millis(1500), "{:?}", w.elapsed);
    assert!(
        w.elapsed <= Duration::from_millis(1500) + slack(),
        "returned late: {:?}",
        w.elapsed
    );
    assert!(
        text(&w.err.message).contains("1500 ms"),
        "{}",
        text(&w.err.message)
    );

    // A server that never answers: UNKNOWN, still on time.
    let w = wait_for(&client, "stall", 1200, std::ptr::null(), None);
    assert_eq!(
        (w.rc, w.status),
        (FEISHU_ERR_TIMEOUT, FeishuTaskStatus::Unknown)
    );
    assert!(
        w.elapsed <= Duration::from_millis(1200) + slack(),
        "returned late: {:?}",
        w.elapsed
    );
}

#[test]
fn cancel_from_another_thread_while_sleeping() {
    let server = Server::start();
    let (_o, client) = quick_client(&server, 2);
    let cancel = feishu_cancel_new();
    let cancel_addr = cancel as usize;
    // Triggered 100 ms after the 5th poll, into the sleep that follows it (at least
    // 759 ms: 200 ms growing by half, less a quarter of jitter).
    let trigger = std::thread::scope(|s| {
        let trigger = s.spawn(|| {
            let fifth = after_request(&server, 5);
            std::thread::sleep(Duration::from_millis(100).saturating_sub(fifth.elapsed()));
            feishu_cancel_trigger(cancel_addr as *const FeishuCancel);
            Instant::now()
        });
        let w = wait_for(&client, "process", 30_000, cancel, None);
        (w, Instant::now(), trigger.join().unwrap())
    });
    let (w, returned, triggered) = trigger;
    assert_eq!(
        (w.rc, w.status),
        (FEISHU_ERR_CANCELLED, FeishuTaskStatus::Process)
    );
    assert_eq!(server.request_count(), 5, "no poll after the cancel");
    let lag = returned.saturating_duration_since(triggered);
    assert!(lag <= PROMPT, "took {lag:?} to notice the cancel");

    // The handle stays triggered: the next wait using it stops before polling.
    let before = server.request_count();
    let w = wait_for(&client, "process", 30_000, cancel, None);
    assert_eq!(
        (w.rc, w.status),
        (FEISHU_ERR_CANCELLED, FeishuTaskStatus::Unknown)
    );
    assert_eq!(server.request_count(), before);
    feishu_cancel_free(cancel);
    feishu_cancel_free(std::ptr::null_mut());
    feishu_cancel_trigger(std::ptr::null());
}

/// When the server has received `n` requests (polled for); returns that instant.
fn after_request(server: &Server, n: usize) -> Instant {
    let limit = Instant::now() + Duration::from_secs(30);
    while server.request_count() < n {
        assert!(Instant::now() < limit, "request {n} never came");
        std::thread::sleep(Duration::from_millis(1));
    }
    Instant::now()
}

#[test]
fn cancel_while_a_request_is_in_flight_ends_right_after_it() {
    let server = Server::start();
    let (_o, client) = quick_client(&server, 2);
    // The 6th poll takes 600 ms; after it the wait would sleep at least 1139 ms.
    let mut replies = vec![Reply::status("process"); 5];
    replies.push(Reply::Delayed {
        ms: 600,
        reply: Box::new(Reply::status("process")),
    });
    server.set_sequence("slow", replies);
    let cancel = feishu_cancel_new();
    let cancel_addr = cancel as usize;
    let (w, returned, sent) = std::thread::scope(|s| {
        let trigger = s.spawn(|| {
            let sent = after_request(&server, 6);
            std::thread::sleep(Duration::from_millis(150));
            feishu_cancel_trigger(cancel_addr as *const FeishuCancel);
            sent
        });
        let w = wait_for(&client, "slow", 30_000, cancel, None);
        (w, Instant::now(), trigger.join().unwrap())
    });
    assert_eq!(
        (w.rc, w.status),
        (FEISHU_ERR_CANCELLED, FeishuTaskStatus::Process)
    );
    // `sent` is when this thread saw the server count the request, a little after the
    // server began its 600 ms: the request was completed (cut short by the cancel, the wait
    // would have ended about 150 ms after `sent`).
    let after = returned.saturating_duration_since(sent);
    assert!(
        after >= Duration::from_millis(450),
        "the request in flight was completed: {after:?}"
    );
    assert!(
        after <= Duration::from_millis(600) + PROMPT,
        "ended right after it, not after the next sleep: {after:?}"
    );
    assert_eq!(server.request_count(), 6);
    feishu_cancel_free(cancel);
}

/// Options for `server` with a 1 s connect timeout and a `call_ms` deadline.
fn options(server: &Server, call_ms: u32) -> Options {
    Options::new()
        .base_url(&server.base_url())
        .timeouts(1000, call_ms)
}

/// Triggers `cancel` after `after` from another thread; the wait on `task_id`
/// must return FEISHU_ERR_CANCELLED within [`PROMPT`] of it (the caller makes
/// sure that the wait would otherwise sleep clearly longer).
fn cancelled_promptly(client: &Client, task_id: &str, after: Duration) -> Waited {
    let cancel = feishu_cancel_new();
    let cancel_addr = cancel as usize;
    let trigger = std::thread::spawn(move || {
        std::thread::sleep(after);
        feishu_cancel_trigger(cancel_addr as *const FeishuCancel);
        Instant::now()
    });
    let w = wait_for(client, task_id, 30_000, cancel, None);
    let returned = Instant::now();
    let triggered = trigger.join().unwrap();
    feishu_cancel_free(cancel);
    assert_eq!(w.rc, FEISHU_ERR_CANCELLED, "{}", text(&w.err.message));
    let lag = returned.saturating_duration_since(triggered);
    assert!(lag <= PROMPT, "took {lag:?} to notice the cancel");
    w
}

#[test]
fn cancel_reaches_a_polls_wait_between_its_attempts() {
    let server = Server::start();
    // Retries, and a generous deadline: the poll's 429 (reset 3 s) is retried
    // after the advised wait, which the cancel cuts short.
    let o = options(&server, 10_000).retries(3);
    let client = o.build();
    server.set_sequence("limited", vec![Reply::RateLimited { reset_secs: 3 }; 4]);
    cancelled_promptly(&client, "limited", Duration::from_millis(200));
    assert_eq!(server.request_count(), 1, "the retry was never sent");
}

#[test]
fn cancel_reaches_a_poll_queued_in_the_rate_limiter() {
    let server = Server::start();
    let o = options(&server, 20_000).rate_limit(1, 10_000);
    let client = o.build();
    assert_eq!(client.check("success").rc, FEISHU_OK);
    let w = cancelled_promptly(&client, "process", Duration::from_millis(200));
    assert_eq!(w.status, FeishuTaskStatus::Unknown, "no poll answered");
    assert_eq!(server.request_count(), 1, "the queued poll was never sent");
}

/// A wait on "success" with `client` that must hold back at least `at_least` first.
fn succeeds_after(client: &Client, at_least: Duration) {
    let w = wait_for(client, "success", 10_000, std::ptr::null(), None);
    let outcome = (w.rc, w.status);
    let expected = (FEISHU_OK, FeishuTaskStatus::Success);
    assert_eq!(outcome, expected, "{}", text(&w.err.message));
    assert!(w.elapsed >= at_least, "{:?}", w.elapsed);
}

#[test]
fn a_wait_outlasts_a_reset_longer_than_one_poll() {
    let server = Server::start();
    // Polls of at most 500 ms; the platform's reset for the token is 1 s.
    let o = options(&server, 500).retries(0);
    let client = o.build();
    server.set_sequence("limited-1s", vec![Reply::RateLimited { reset_secs: 1 }]);
    assert_eq!(client.check("limited-1s").rc, 99991400);
    succeeds_after(&client, Duration::from_millis(800));
    assert_eq!(server.request_count(), 2, "nothing sent into the reset");
}

#[test]
fn a_wait_outlasts_a_declared_limit_longer_than_one_poll() {
    let server = Server::start();
    // A declared limit whose next start is beyond a poll's deadline (500 ms): the wait
    // sleeps until it, instead of counting refusals as failures.
    let o = options(&server, 500).rate_limit(1, 1500);
    let client = o.build();
    assert_eq!(client.check("success").rc, FEISHU_OK);
    succeeds_after(&client, Duration::from_millis(1200));
    assert_eq!(server.request_count(), 2, "one check, one poll");
}

#[test]
fn the_progress_callback_counts_up_and_can_stop_the_wait() {
    let server = Server::start();
    let (_o, client) = quick_client(&server, 2);
    let s = seen(3);
    let w = wait_for(&client, "process", 30_000, std::ptr::null(), Some(&s));
    assert_eq!(
        (w.rc, w.status),
        (FEISHU_ERR_CANCELLED, FeishuTaskStatus::Process)
    );
    let polls = s.polls.lock().unwrap().clone();
    assert_eq!(polls.iter().map(|p| p.1).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert!(
        polls.windows(2).all(|w| w[0].2 <= w[1].2),
        "elapsed grows: {polls:?}"
    );
    assert_eq!(server.request_count(), 3);
}

#[test]
fn a_rate_limit_mid_wait_is_waited_out() {
    let server = Server::start();
    // No client-level retries: the wait itself must respect the reset.
    let (_o, client) = quick_client(&server, 0);
    server.set_sequence(
        "limited",
        vec![
            Reply::status("process"),
            Reply::RateLimited { reset_secs: 1 },
            Reply::status("process"),
            Reply::status("success"),
        ],
    );
    let s = seen(0);
    let w = wait_for(&client, "limited", 20_000, std::ptr::null(), Some(&s));
    assert_eq!((w.rc, w.status), (FEISHU_OK, FeishuTaskStatus::Success));
    let polls = s.polls.lock().unwrap().clone();
    assert_eq!(polls.len(), 4);
    assert_eq!(polls[1].0, 0, "the rate-limited poll reports UNKNOWN");
    let gap = polls[2].2 - polls[1].2;
    assert!(gap >= 1000, "polled {gap} ms after a 1 s rate-limit reset");
}

#[test]
fn transient_failures_are_absorbed_five_times_in_a_row() {
    let server = Server::start();
    let (_o, client) = quick_client(&server, 0);
    let mut five = vec![Reply::platform(500, 1061001, "internal error."); 5];
    five.push(Reply::status("success"));
    server.set_sequence("five", five);
    let w = wait_for(&client, "five", 30_000, std::ptr::null(), None);
    assert_eq!(
        (w.rc, w.status),
        (FEISHU_OK, FeishuTaskStatus::Success),
        "{}",
        text(&w.err.message)
    );
    assert_eq!(server.request_count(), 6);
}

#[test]
fn transient_failures_end_the_wait_the_sixth_time_in_a_row() {
    let server = Server::start();
    let (_o, client) = quick_client(&server, 0);
    server.set_sequence("six", vec![Reply::Html(502); 6]);
    let s = seen(0);
    let w = wait_for(&client, "six", 30_000, std::ptr::null(), Some(&s));
    assert_eq!(
        (w.rc, w.status),
        (FEISHU_ERR_HTTP, FeishuTaskStatus::Unknown)
    );
    assert_eq!(s.polls.lock().unwrap().len(), 6);
    assert!(
        text(&w.err.message).contains("6 transient failures"),
        "{}",
        text(&w.err.message)
    );
}

#[test]
fn permanent_failures_and_bad_input_end_at_once() {
    let server = Server::start();
    let (_o, client) = quick_client(&server, 2);
    let w = wait_for(&client, "err-1061003", 30_000, std::ptr::null(), None);
    assert_eq!((w.rc, w.status), (1061003, FeishuTaskStatus::Unknown));
    assert_eq!(server.request_count(), 1);
    let w = wait_for(&client, "", 30_000, std::ptr::null(), None);
    assert_eq!(w.rc, FEISHU_ERR_INVALID_ARGUMENT);
    let w = wait_for(&client, "process", 0, std::ptr::null(), None);
    assert_eq!(w.rc, FEISHU_ERR_INVALID_ARGUMENT);
    let mut status = FeishuTaskStatus::Success;
    let rc = feishu_client_task_wait(
        std::ptr::null(),
        std::ptr::null(),
        c"1".as_ptr(),
        1000,
        std::ptr::null(),
        None,
        std::ptr::null_mut(),
        &mut status,
        std::ptr::null_mut(),
    );
    assert_eq!(
        (rc, status),
        (FEISHU_ERR_INVALID_ARGUMENT, FeishuTaskStatus::Unknown)
    );
    assert_eq!(server.request_count(), 1);
}

/// 99991403 (the tenant's monthly quota is spent) is never retried, whatever
/// the HTTP status, and ends a wait at once: another attempt only burns calls.
#[test]
fn a_spent_monthly_quota_is_never_retried_and_ends_a_wait_at_once() {
    let server = Server::start();
    let (_o, client) = quick_client(&server, 3);
    for http in [200, 400, 429, 500, 503] {
        server.reset();
        let quota = || Reply::platform(http, 99991403, "monthly quota exceeded");
        server.set_sequence("quota", vec![quota(), quota(), quota(), quota()]);
        let out = client.check("quota");
        assert_eq!(out.rc, 99991403, "HTTP {http}: {}", out.message());
        assert_eq!(server.request_count(), 1, "HTTP {http}: retried");

        server.reset();
        server.set_sequence("quota", vec![quota(), quota(), quota(), quota()]);
        let s = seen(0);
        let w = wait_for(&client, "quota", 30_000, std::ptr::null(), Some(&s));
        assert_eq!(w.rc, 99991403, "HTTP {http}: {}", text(&w.err.message));
        assert_eq!(
            server.request_count(),
            1,
            "HTTP {http}: the wait polled again"
        );
        assert_eq!(s.polls.lock().unwrap().len(), 1);
        assert_eq!(w.err.http_status, http as i32);
    }
}
