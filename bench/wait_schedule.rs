//! The wait's polling schedule, measured on a scaled clock: for tasks that
//! finish after 1 s, 10 s and 60 s, how many polls `feishu_client_task_wait`
//! makes and how long after the finish it notices, over many jittered runs.
//! It uses the library's own `poll_delay` (the schedule the wait sleeps by)
//! and a fixed round trip per poll; no real time passes.
//!
//!     cargo bench --bench wait_schedule

use std::time::Duration;

use feishu_task::wait::poll_delay;

/// The round trip each poll costs (a warm call on a nearby network).
const RTT: Duration = Duration::from_millis(20);
const RUNS: usize = 10_000;

fn main() {
    println!(
        "Wait schedule: {RUNS} runs per task, {} ms per poll round trip\n",
        RTT.as_millis()
    );
    println!("| task finishes after | polls (mean / max) | detection delay (mean / p99 / max) |");
    println!("|---:|---:|---:|");
    for finish in [1u64, 10, 60].map(Duration::from_secs) {
        let mut polls_total = 0u64;
        let mut polls_max = 0u32;
        let mut delays = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            // Poll n answers at `at`; the task is seen finished by the first
            // poll whose request reaches the server after `finish`.
            let mut at = RTT;
            let mut polls = 1u32;
            while at <= finish {
                at += poll_delay(polls) + RTT;
                polls += 1;
            }
            polls_total += u64::from(polls);
            polls_max = polls_max.max(polls);
            delays.push(at - finish);
        }
        delays.sort();
        let mean = delays.iter().sum::<Duration>() / RUNS as u32;
        println!(
            "| {} s | {:.1} / {} | {} / {} / {} ms |",
            finish.as_secs(),
            polls_total as f64 / RUNS as f64,
            polls_max,
            mean.as_millis(),
            delays[RUNS * 99 / 100].as_millis(),
            delays[RUNS - 1].as_millis()
        );
    }
}
