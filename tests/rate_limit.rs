//! Rate limits through the C ABI: the declared budget
//! (`feishu_client_options_set_rate_limit`) against a mock gateway that counts
//! fixed 1 s windows, and the gate the platform's own 429s close per token.

use support::server;
use support::timing::PROMPT;

mod common;

use std::time::{Duration, Instant};

use common::*;
use server::Server;

const RATE_LIMITED: i32 = 99991400;
/// Calls per thread of [`sixteen_threads`]: 48 calls in all, more than two of the
/// gateway's 1 s windows hold (`FEISHU_TEST_RATE_CALLS` changes it).
fn calls_per_thread() -> usize {
    std::env::var("FEISHU_TEST_RATE_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

/// 16 threads x [`calls_per_thread`] calls on one client, against a gateway allowing 20
/// requests per token per 1 s window. Returns (calls that failed with 99991400, the codes
/// of other failures, seconds the run took).
fn sixteen_threads(client: &Client, token: &str) -> (usize, Vec<i32>, Duration) {
    let started = Instant::now();
    let outcomes: Vec<i32> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..16)
            .map(|_| {
                s.spawn(|| {
                    (0..calls_per_thread())
                        .map(|_| client.check_with(token, "success").rc)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect()
    });
    let limited = outcomes.iter().filter(|&&rc| rc == RATE_LIMITED).count();
    let others = outcomes
        .into_iter()
        .filter(|&rc| rc != FEISHU_OK && rc != RATE_LIMITED)
        .collect();
    (limited, others, started.elapsed())
}

#[test]
fn the_declared_limit_keeps_sixteen_threads_inside_the_gateways_window() {
    let server = Server::start();
    server.set_window_limit(20);
    let sink = new_sink();
    let o = Options::new()
        .base_url(&server.base_url())
        .timeouts(2000, 30_000)
        .retries(0)
        .rate_limit(20, 1000)
        .log_to(sink);
    let client = o.build();
    let (limited, others, took) = sixteen_threads(&client, "t-limited-client");
    assert_eq!((limited, others), (0, vec![]), "every call succeeds");
    assert_eq!(server.limited(), 0, "the gateway answered no 429");
    let calls = 16 * calls_per_thread();
    assert!(calls > 40, "the run must need three windows");
    assert_eq!(server.request_count(), calls);
    // At most 20 starts in any second: the last starts (calls - 1) / 20 s after the first.
    let at_least = Duration::from_secs(((calls - 1) / 20) as u64);
    assert!(took >= at_least, "{took:?}");
    eprintln!("with set_rate_limit(20, 1000): {calls} calls in {took:?}, no 429");
    let lines = sink.lines.lock().unwrap();
    let waits: Vec<_> = lines
        .iter()
        .filter(|(_, l)| l.contains("for the client's rate limit (20 requests per 1000 ms)"))
        .collect();
    assert!(!waits.is_empty(), "the waits are logged: {lines:?}");
    assert!(
        lines.iter().all(|(_, l)| !l.contains("t-limited")),
        "no token in the log"
    );

    // The same run without the declared limit runs into the gateway's 429s.
    server.reset_counters();
    let o = Options::new()
        .base_url(&server.base_url())
        .timeouts(2000, 30_000)
        .retries(0);
    let client = o.build();
    let (limited, others, took) = sixteen_threads(&client, "t-unlimited-client");
    eprintln!(
        "without it: {} calls in {took:?}, {} answered 429, {limited} returned 99991400",
        16 * calls_per_thread(),
        server.limited()
    );
    assert!(server.limited() > 0, "no 429 without the limiter");
    assert!(limited > 0, "the 429s reach the callers (max_retries 0)");
    assert_eq!(others, Vec::<i32>::new());
}

#[test]
fn a_429_holds_back_that_token_until_its_reset_and_only_that_token() {
    let server = Server::start();
    let o = Options::new()
        .base_url(&server.base_url())
        .timeouts(600, 600)
        .retries(0);
    let client = o.build();
    let (a, b) = ("t-SECRET-tenant-a", "t-SECRET-tenant-b");

    // The platform limits token A: 429, x-ogw-ratelimit-reset: 1.
    let first = client.check_with(a, "rate-limited-1s");
    let limited_at = Instant::now();
    assert_eq!(first.rc, RATE_LIMITED, "{}", first.message());
    assert_eq!(first.err.retry_after_ms, 1000);

    // Token A again, 600 ms deadline: refused at once, nothing sent.
    let sent = server.request_count();
    let asked = Instant::now();
    let held = client.check_with(a, "success");
    let took = asked.elapsed();
    assert_eq!(held.rc, RATE_LIMITED, "{}", held.message());
    // At once: not after the 600 ms deadline nor the 1 s reset.
    assert!(took < PROMPT, "{took:?}");
    assert_eq!(server.request_count(), sent, "nothing was sent");
    assert!(
        held.err.retry_after_ms > 0 && held.err.retry_after_ms <= 1000,
        "{}",
        held.err.retry_after_ms
    );
    assert_eq!(held.err.http_status, 0, "no response was received");
    assert!(held.message().contains("not sent"), "{}", held.message());

    // Another tenant's token is not held back.
    let other = client.check_with(b, "success");
    assert_eq!(other.rc, FEISHU_OK, "{}", other.message());
    assert_eq!(server.request_count(), sent + 1);

    // After the reset, token A works again.
    std::thread::sleep(Duration::from_millis(1000).saturating_sub(limited_at.elapsed()));
    let again = client.check_with(a, "success");
    assert_eq!(again.rc, FEISHU_OK, "{}", again.message());
}

#[test]
fn a_call_whose_deadline_allows_waits_out_the_reset_and_logs_it() {
    let server = Server::start();
    let sink = new_sink();
    let o = Options::new()
        .base_url(&server.base_url())
        .timeouts(2000, 3000)
        .retries(0)
        .log_to(sink);
    let client = o.build();
    let token = "t-SECRET-waiting";
    assert_eq!(client.check_with(token, "rate-limited-1s").rc, RATE_LIMITED);
    let asked = Instant::now();
    let o = client.check_with(token, "success");
    assert_eq!(o.rc, FEISHU_OK, "{}", o.message());
    let took = asked.elapsed();
    assert!(took >= Duration::from_millis(900), "{took:?}");
    let lines = sink.lines.lock().unwrap();
    assert!(
        lines
            .iter()
            .any(|(_, l)| l.contains("before sending: the platform rate-limited this token")),
        "{lines:?}"
    );
    assert!(lines.iter().all(|(_, l)| !l.contains("SECRET")));
}

#[test]
fn a_call_that_cannot_start_within_the_declared_limit_times_out_unsent() {
    let server = Server::start();
    let o = Options::new()
        .base_url(&server.base_url())
        .timeouts(2000, 2000)
        .rate_limit(1, 60_000);
    let client = o.build();
    assert_eq!(client.check("success").rc, FEISHU_OK);
    let asked = Instant::now();
    let o = client.check("success");
    assert_eq!(o.rc, FEISHU_ERR_TIMEOUT, "{}", o.message());
    // At once, not at the 2 s deadline.
    assert!(
        asked.elapsed() < PROMPT,
        "known at once: {:?}",
        asked.elapsed()
    );
    assert!(
        o.message().contains("rate limit (1 requests per 60000 ms)")
            && o.message().contains("not sent"),
        "{}",
        o.message()
    );
    assert_eq!(server.request_count(), 1);
}

/// A call queued in the limiter when the platform's 429 arrives does not send
/// into the reset: it looks at the gate again once it has its start.
#[test]
fn a_call_queued_in_the_limiter_sees_a_429_that_arrived_meanwhile() {
    let server = Server::start();
    server.set_sequence(
        "slow-limited",
        vec![server::Reply::Delayed {
            ms: 200,
            reply: Box::new(server::Reply::RateLimited { reset_secs: 1 }),
        }],
    );
    let o = Options::new()
        .base_url(&server.base_url())
        .timeouts(2000, 5000)
        .retries(0)
        .rate_limit(1, 300);
    let client = o.build();
    let token = "t-SECRET-queued";
    std::thread::scope(|s| {
        // A takes the one start of the window; its answer, a 429 with a 1 s
        // reset, comes 200 ms later.
        let a = s.spawn(|| client.check_with(token, "slow-limited").rc);
        std::thread::sleep(Duration::from_millis(50));
        // B passes the (still open) gate and queues for the next start, at 300 ms.
        let started = Instant::now();
        let b = client.check_with(token, "success");
        let took = started.elapsed();
        assert_eq!(a.join().unwrap(), RATE_LIMITED);
        assert_eq!(b.rc, FEISHU_OK, "{}", b.message());
        // B was sent after the reset (about 1.2 s after A), not at 300 ms.
        assert!(took >= Duration::from_millis(900), "{took:?}");
    });
    assert_eq!(server.request_count(), 2);
}
