//! The platform's write limits in practice: 8 threads of one client start 200
//! folder moves with one token (one tenant) through `Client::move_item` (the
//! core of `feishu_client_move`), against the mock server's write rules (as
//! the platform's: no two writes of a token at once and at most 5 per token in
//! any 1 s, 1061045 "retry later" otherwise; each write held 20 ms).
//!
//! Counted at the server: write requests received, and the 1061045 answers
//! (conflicts: a write while another was in progress; rate: over 5 per
//! second). At the clients: moves that failed, every task id returned, the
//! longest single call, and the total time next to the ideal 200 / 5 = 40 s.
//!
//!     cargo bench --bench write_limits

#[path = "../tests/support/server.rs"]
mod server;

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use feishu_task::client::Client;
use feishu_task::config::Config;

const THREADS: usize = 8;
const MOVES: usize = 200;
/// The platform's write limit per token and second (the mock's default).
const PER_SECOND: usize = 5;
const TOKEN: &str = "t-bench-write-limits";

fn main() {
    let server = server::Server::start();
    // The mock's defaults, said out loud: the platform's rules.
    server.set_write_limit(PER_SECOND as u32);
    server.set_write_latency(Duration::from_millis(20));
    let mut config = Config::default();
    config.set_base_url(&server.base_url()).unwrap();
    let client = Client::new(&config).unwrap();
    let ideal = Duration::from_secs((MOVES / PER_SECOND) as u64);

    println!(
        "Write limits: {THREADS} threads of one client start {MOVES} folder moves (one token) against the mock's write rules (no concurrency per token, {PER_SECOND} per second, 1061045 otherwise; 20 ms per write); client defaults (30 s call deadline, 2 retries)\n"
    );
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let task_ids = AtomicUsize::new(0);
    let longest = Mutex::new(Duration::ZERO);
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= MOVES {
                        break;
                    }
                    let file = format!("fldBenchSource{i:03}");
                    let asked = Instant::now();
                    let result = client.move_item(
                        Some(TOKEN.as_bytes()),
                        file.as_bytes(),
                        b"folder",
                        b"fldBenchTarget",
                    );
                    let took = asked.elapsed();
                    let mut l = longest.lock().unwrap();
                    *l = (*l).max(took);
                    drop(l);
                    match result {
                        Ok(Some(_)) => {
                            task_ids.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(None) => failures.lock().unwrap().push(format!("{file}: no task id")),
                        Err(e) => failures.lock().unwrap().push(format!("{file}: {e:?}")),
                    }
                }
            });
        }
    });
    let total = started.elapsed();

    let writes = server.writes();
    let (conflicts, rate_limited) = (server.write_conflicts(), server.write_rate_limited());
    let failures = failures.into_inner().unwrap();
    let over = (total.as_secs_f64() / ideal.as_secs_f64() - 1.0) * 100.0;
    println!(
        "| moves | threads | requests sent | 1061045 answers (conflict + rate) | moves failed | task ids returned | longest call | total time | ideal ({MOVES} / {PER_SECOND} per s) | over the ideal |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {MOVES} | {THREADS} | {writes} | {} ({conflicts} + {rate_limited}) | {} | {} | {:.2} s | {:.2} s | {:.0} s | {over:+.1}% |",
        conflicts + rate_limited,
        failures.len(),
        task_ids.load(Ordering::Relaxed),
        longest.into_inner().unwrap().as_secs_f64(),
        total.as_secs_f64(),
        ideal.as_secs_f64(),
    );
    for f in failures.iter().take(5) {
        println!("failed: {f}");
    }
    let goal = conflicts + rate_limited == 0 && failures.is_empty() && over.abs() <= 10.0;
    println!(
        "\ngoal (no 1061045 caused by the client, every move done, total within 10% of {} s): {}",
        ideal.as_secs(),
        if goal { "met" } else { "MISSED" }
    );
}
