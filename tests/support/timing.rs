//! Time bounds that hold on a loaded machine.
//!
//! A test's lower time bounds stay strict (a deadline is never cut short, a reset is
//! waited out). Its upper bounds say "promptly", and a busy machine (two `cargo test` runs
//! at once, a release build next door) can delay any thread by hundreds of milliseconds:
//! they add [`slack`], and where promptness is the point, the test arranges that the slow
//! alternative (sleeping until the next poll, the end of a reset, ...) would take clearly
//! longer than the bound, or counts events (requests at the server, polls) instead.

use std::time::Duration;

/// What an upper time bound adds for a loaded machine: 750 ms, or `FEISHU_TEST_SLACK_MS`.
pub fn slack() -> Duration {
    let ms = std::env::var("FEISHU_TEST_SLACK_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(750);
    Duration::from_millis(ms)
}

/// How soon "at once" is, as the tests check it: 500 ms. A cancel must end a sleeping wait
/// within it (the library promises 50 ms; scheduling on a loaded machine takes the rest), a
/// call that cannot be sent must be refused within it. Each such test arranges that the slow
/// alternative (sleeping on until the next poll, waiting out the deadline) would take longer
/// (650 ms at the least, mostly seconds), so it still fails the bound.
pub const PROMPT: Duration = Duration::from_millis(500);
