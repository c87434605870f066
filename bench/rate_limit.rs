//! Rate limits in practice: T threads of one client wait on T tasks (one
//! token, as one tenant) against the mock gateway that allows N task_check
//! requests per token in each fixed 1 s window and answers 429 /
//! 99991400 with `x-ogw-ratelimit-reset` over it. Three clients: neither the
//! learned gate nor a declared limit (each call handles its own 429s, as the
//! official SDKs would at best), the gate alone (the default), and the gate
//! with `set_rate_limit(N, 1000)`. Counted at the server: requests sent, 429s;
//! at the clients: when every task was seen finished, and how late.
//!
//!     cargo bench --bench rate_limit

#[path = "../tests/support/server.rs"]
mod server;

use std::time::{Duration, Instant};

use feishu_task::client::Client;
use feishu_task::config::Config;
use feishu_task::wait;

/// Threads, each waiting on a task of its own.
const THREADS: usize = 16;
/// The gateway's limit: requests per token per 1 s window.
const WINDOW: u32 = 10;
/// Every task finishes this long after the run starts.
const FINISH: Duration = Duration::from_secs(3);
const RUNS: usize = 3;

struct Outcome {
    requests: usize,
    limited: usize,
    failed: usize,
    all_seen: Duration,
    mean_delay: Duration,
}

fn run(server: &server::Server, gate: bool, declared: bool, run: usize) -> Outcome {
    server.reset();
    server.set_window_limit(WINDOW);
    let mut config = Config::default();
    config.set_base_url(&server.base_url()).unwrap();
    if declared {
        config.set_rate_limit(WINDOW, 1000).unwrap();
    }
    let mut client = Client::new(&config).unwrap();
    if !gate {
        client = client.without_learned_gate();
    }
    let token = format!("t-bench-{gate}-{declared}-{run}");
    let started = Instant::now();
    let ids: Vec<String> = (0..THREADS).map(|i| format!("task-{run}-{i}")).collect();
    for id in &ids {
        server.set_timed_task(id, FINISH, "success");
    }
    let seen: Vec<Option<Duration>> = std::thread::scope(|s| {
        let threads: Vec<_> = ids
            .iter()
            .map(|id| {
                let (client, token) = (&client, &token);
                s.spawn(move || {
                    let outcome = wait::wait(
                        client,
                        Some(token.as_bytes()),
                        id.as_bytes(),
                        Duration::from_secs(60),
                        None,
                        |_, _, _| false,
                    );
                    outcome.result.ok().map(|_| started.elapsed())
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let done: Vec<Duration> = seen.iter().flatten().copied().collect();
    let delays: Vec<Duration> = done.iter().map(|&d| d.saturating_sub(FINISH)).collect();
    Outcome {
        requests: server.request_count(),
        limited: server.limited(),
        failed: THREADS - done.len(),
        all_seen: done.iter().max().copied().unwrap_or_default(),
        mean_delay: delays.iter().sum::<Duration>() / delays.len().max(1) as u32,
    }
}

fn main() {
    let server = server::Server::start();
    println!(
        "Rate limits: {THREADS} threads of one client wait on {THREADS} tasks (one token) that finish after {} s; the gateway allows {WINDOW} requests per token per 1 s window; median of {RUNS} runs\n",
        FINISH.as_secs()
    );
    println!(
        "| client | requests sent | 429s received | waits failed | every task seen finished after | mean detection delay |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, gate, declared) in [
        ("no gate, no declared limit", false, false),
        ("learned gate (the default)", true, false),
        ("learned gate + set_rate_limit(10, 1000)", true, true),
    ] {
        let mut outcomes: Vec<Outcome> =
            (0..RUNS).map(|r| run(&server, gate, declared, r)).collect();
        outcomes.sort_by_key(|o| o.all_seen);
        let o = &outcomes[RUNS / 2];
        println!(
            "| {name} | {} | {} | {} | {:.2} s | {} ms |",
            o.requests,
            o.limited,
            o.failed,
            o.all_seen.as_secs_f64(),
            o.mean_delay.as_millis()
        );
    }
}
