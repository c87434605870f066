//! Soak: 64 threads sharing one client make `FEISHU_SOAK_CALLS` calls in all
//! (default 20,000; the full run is 1,000,000) through the C ABI
//! against the mock server, with mixed outcomes (statuses, platform errors,
//! HTML 502, garbage, redirects, resets, truncated bodies). Every call must
//! report the outcome its task id asks the server for; the process's memory
//! and open file descriptors after the warm-up must equal those at the end.
//!
//! The threads stop together at checkpoints (every 64 x 64 calls) so that
//! memory and descriptors are measured with no call in flight. The mock
//! server runs in a child process (the ignored test `soak_mock_server`), so
//! what is measured is the library's alone.

use support::chaos;

use std::ffi::CString;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use chaos::{Rng, ServerProcess};
use feishu_task::ffi::client::{
    FeishuClient, feishu_client_free, feishu_client_new, feishu_client_task_check,
};
use feishu_task::ffi::error::FeishuError;
use feishu_task::ffi::options::{
    feishu_client_options_free, feishu_client_options_new, feishu_client_options_set_base_url,
    feishu_client_options_set_max_retries, feishu_client_options_set_proxy,
    feishu_client_options_set_timeouts,
};
use feishu_task::ffi::task::FeishuTaskStatus;

const TOKEN: &str = "t-SECRETsoak0123456789abcdef";
const THREADS: usize = 64;
/// Calls of each thread between two checkpoints.
const CALLS_PER_CHECKPOINT: usize = 64;
/// Allowed RSS difference between the end of the warm-up and the end.
const RSS_TOLERANCE_KIB: u64 = 4 * 1024;
/// The whole-call deadline; nothing in the mix should come near it.
const CALL_TIMEOUT_MS: u32 = 10_000;

/// Task ids the mock server answers by name, how often each is asked, and the
/// code and status the library must return (no retries).
const MIX: &[(&str, u64, i32, i32)] = &[
    ("success", 300, 0, 1),
    ("7360595374803812356", 100, 0, 1),
    ("process", 150, 0, 3),
    ("fail", 50, 0, 2),
    ("err-1061003", 100, 1061003, 0),
    ("err-1061002", 40, 1061002, 0),
    ("err-1061001", 30, 1061001, 0),
    ("token-expired", 30, 99991663, 0),
    ("rate-limited", 20, 99991400, 0),
    ("html-502", 50, chaos::FEISHU_ERR_HTTP, 0),
    ("redirect", 30, chaos::FEISHU_ERR_HTTP, 0),
    ("garbage", 40, chaos::FEISHU_ERR_PROTOCOL, 0),
    ("status-unknown", 20, chaos::FEISHU_ERR_PROTOCOL, 0),
    ("missing-data", 10, chaos::FEISHU_ERR_PROTOCOL, 0),
    ("reset", 15, chaos::FEISHU_ERR_NETWORK, 0),
    ("truncated", 15, chaos::FEISHU_ERR_NETWORK, 0),
];

struct Shared(*mut FeishuClient);
// SAFETY: a FeishuClient is documented as immutable and usable from any thread.
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

fn new_client(base_url: &str) -> Shared {
    let url = CString::new(base_url).unwrap();
    let o = feishu_client_options_new();
    assert!(!o.is_null());
    assert_eq!(feishu_client_options_set_base_url(o, url.as_ptr()), 0);
    assert_eq!(
        feishu_client_options_set_timeouts(o, CALL_TIMEOUT_MS, CALL_TIMEOUT_MS),
        0
    );
    assert_eq!(feishu_client_options_set_max_retries(o, 0), 0);
    assert_eq!(feishu_client_options_set_proxy(o, std::ptr::null()), 0);
    // SAFETY: FeishuError is plain data; all-zero is valid.
    let mut err: FeishuError = unsafe { std::mem::zeroed() };
    let client = feishu_client_new(o, &mut err);
    feishu_client_options_free(o);
    assert!(!client.is_null(), "feishu_client_new failed");
    Shared(client)
}

/// The soak's mock server, in a child process: replies by task id.
#[test]
#[ignore = "the soak test's mock server process; the soak test starts it"]
fn soak_mock_server() {
    chaos::serve_if_child(|_| {});
}

#[derive(Clone, Copy, Debug)]
struct Sample {
    calls: usize,
    rss_kib: u64,
    trimmed_rss_kib: u64,
    heap_kib: u64,
    fds: usize,
    sockets: usize,
    threads: u64,
}

#[test]
fn soak_64_threads_one_client_flat_memory_and_descriptors() {
    let wanted = chaos::usize_from_env("FEISHU_SOAK_CALLS", 20_000);
    let seed = chaos::seed_from_env(0x50A4_2026);
    let per_round = THREADS * CALLS_PER_CHECKPOINT;
    let rounds = wanted.div_ceil(per_round).max(3);
    let calls = rounds * per_round;
    // Measured after this many rounds (about a tenth, at least one).
    let warmup_rounds = (rounds / 10).max(1);
    eprintln!(
        "soak: {calls} calls, {THREADS} threads, one client, {rounds} rounds \
         (warm-up {warmup_rounds}), seed {seed:#x}"
    );

    let base_threads = chaos::thread_count();
    let base_fds = chaos::fd_counts();
    assert_eq!(base_fds.1, 0, "a socket open before the soak");
    let mut server = ServerProcess::spawn("soak_mock_server", &[]);
    let client = new_client(&server.base_url());
    let total_weight: u64 = MIX.iter().map(|m| m.1).sum();
    let task_ids: Vec<CString> = MIX.iter().map(|m| CString::new(m.0).unwrap()).collect();
    let token = CString::new(TOKEN).unwrap();
    let success = task_ids
        .iter()
        .position(|t| t.to_bytes() == b"success")
        .unwrap();

    let barrier = Barrier::new(THREADS + 1);
    let mismatches = AtomicUsize::new(0);
    let examples: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let slowest = Mutex::new(Duration::ZERO);
    let mut samples: Vec<Sample> = Vec::new();
    let mut served = 0;
    let mut busy = Duration::ZERO;

    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (client, barrier, mismatches, examples, slowest) =
                (&client, &barrier, &mismatches, &examples, &slowest);
            let (task_ids, token) = (&task_ids, &token);
            s.spawn(move || {
                let mut rng = Rng::new(seed ^ (t as u64).wrapping_mul(0x9E37_79B9));
                let mut worst = Duration::ZERO;
                for _ in 0..rounds {
                    barrier.wait(); // start of a round
                    for i in 0..CALLS_PER_CHECKPOINT {
                        // The last call of a round succeeds, so each thread
                        // leaves a pooled connection behind, as at warm-up.
                        let pick = if i + 1 == CALLS_PER_CHECKPOINT {
                            success
                        } else {
                            let mut r = rng.below(total_weight);
                            MIX.iter()
                                .position(|m| {
                                    let hit = r < m.1;
                                    r = r.saturating_sub(m.1);
                                    hit
                                })
                                .unwrap()
                        };
                        let (name, _, want_rc, want_status) = MIX[pick];
                        // A 429 with a reset holds its token back (the
                        // learned gate): a token of its own for each.
                        let limited_token;
                        let token = if name == "rate-limited" {
                            limited_token = CString::new(format!(
                                "{TOKEN}-limited-{t}-{i}-{}",
                                rng.below(u64::MAX)
                            ))
                            .unwrap();
                            &limited_token
                        } else {
                            token
                        };
                        let mut status = FeishuTaskStatus::Process;
                        // SAFETY: plain data.
                        let mut err: FeishuError = unsafe { std::mem::zeroed() };
                        let started = Instant::now();
                        let rc = feishu_client_task_check(
                            client.0,
                            token.as_ptr(),
                            task_ids[pick].as_ptr(),
                            &mut status,
                            &mut err,
                        );
                        worst = worst.max(started.elapsed());
                        let message = chaos::c_text(&err.message).unwrap_or_default();
                        let bad = rc != want_rc
                            || status as i32 != want_status
                            || err.code != rc
                            || message.contains("SECRET")
                            || (rc != 0 && message.is_empty());
                        if bad {
                            mismatches.fetch_add(1, Ordering::Relaxed);
                            let mut ex = examples.lock().unwrap();
                            if ex.len() < 20 {
                                ex.push(format!(
                                    "{name}: rc {rc} (want {want_rc}), status {} (want \
                                     {want_status}), message {message:?}",
                                    status as i32
                                ));
                            }
                        }
                    }
                    barrier.wait(); // end of a round
                }
                {
                    let mut slowest = slowest.lock().unwrap();
                    *slowest = (*slowest).max(worst);
                }
                barrier.wait(); // the last measurement is taken
            });
        }

        for round in 1..=rounds {
            let started = Instant::now();
            barrier.wait(); // let the round run
            barrier.wait(); // wait for its end
            busy += started.elapsed();
            // The server forgets what it recorded, so that its memory stays flat.
            served += server.request_count();
            server.reset();
            if round == warmup_rounds || round % (rounds / 10).max(1) == 0 || round == rounds {
                let (fds, sockets) = chaos::fd_counts();
                samples.push(Sample {
                    calls: round * per_round,
                    rss_kib: chaos::rss_kib(),
                    trimmed_rss_kib: chaos::trimmed_rss_kib(),
                    heap_kib: chaos::heap_in_use() / 1024,
                    fds,
                    sockets,
                    threads: chaos::thread_count(),
                });
            }
        }
        barrier.wait();
    });

    let rate = calls as f64 / busy.as_secs_f64();
    eprintln!(
        "soak: {calls} calls in {:.1} s: {rate:.0} calls/s; slowest call {} ms; {} mismatches",
        busy.as_secs_f64(),
        slowest.lock().unwrap().as_millis(),
        mismatches.load(Ordering::Relaxed)
    );
    eprintln!("     calls  rss KiB  trimmed KiB  heap KiB  fds  sockets  threads");
    for s in &samples {
        eprintln!(
            "  {:>8}  {:>7}  {:>11}  {:>8}  {:>3}  {:>7}  {:>7}",
            s.calls, s.rss_kib, s.trimmed_rss_kib, s.heap_kib, s.fds, s.sockets, s.threads
        );
    }

    assert_eq!(
        mismatches.load(Ordering::Relaxed),
        0,
        "calls with the wrong outcome:\n{}",
        examples.lock().unwrap().join("\n")
    );
    assert_eq!(served, calls, "one request per call");
    let warm = samples[0];
    let end = *samples.last().unwrap();
    eprintln!(
        "soak: after warm-up ({} calls) rss {} KiB (trimmed {}), heap {} KiB, fds {} ({} sockets); \
         at the end ({} calls) rss {} KiB (trimmed {}), heap {} KiB, fds {} ({} sockets)",
        warm.calls,
        warm.rss_kib,
        warm.trimmed_rss_kib,
        warm.heap_kib,
        warm.fds,
        warm.sockets,
        end.calls,
        end.rss_kib,
        end.trimmed_rss_kib,
        end.heap_kib,
        end.fds,
        end.sockets
    );
    assert!(
        end.trimmed_rss_kib <= warm.trimmed_rss_kib + RSS_TOLERANCE_KIB,
        "RSS grew from {} KiB to {} KiB",
        warm.trimmed_rss_kib,
        end.trimmed_rss_kib
    );
    // Descriptors: all but the sockets are exactly those of the warm-up; the
    // sockets are the idle pooled connections, at most one per thread (how
    // many depends on which thread finished last), never an accumulation.
    assert_eq!(
        end.fds - end.sockets,
        warm.fds - warm.sockets,
        "open descriptors other than sockets at the end differ from the warm-up's"
    );
    for s in &samples {
        assert!(
            s.sockets <= THREADS,
            "{} sockets open after {} calls: more than the {THREADS} pooled connections",
            s.sockets,
            s.calls
        );
        assert_eq!(
            s.threads,
            base_threads + THREADS as u64,
            "threads after {} calls",
            s.calls
        );
    }

    feishu_client_free(client.0);
    server.stop();
    // Freed client: every descriptor is back.
    let threads = chaos::settle_threads(base_threads, Duration::from_secs(3));
    assert_eq!(chaos::fd_counts(), base_fds, "descriptors left open");
    assert_eq!(threads, base_threads, "threads left behind");
}
