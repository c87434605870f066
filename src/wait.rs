//! Waiting for a task to finish: poll `task_check` until the status is
//! `success` or `fail`, with a growing, jittered delay, respecting rate
//! limits, absorbing a few transient failures, and stoppable at any time.

use std::time::{Duration, Instant};

use crate::api::TaskStatus;
pub use crate::cancel::Cancel;
use crate::client::Client;
use crate::error::{Error, Kind, Retry};
use crate::retry::jitter;

/// The delay after the first poll.
const FIRST_DELAY: Duration = Duration::from_millis(200);
/// The longest delay between polls.
const MAX_DELAY: Duration = Duration::from_secs(5);
/// Transient failures in a row that a wait absorbs; one more is returned.
pub(crate) const MAX_TRANSIENT_IN_A_ROW: u32 = 5;

/// How a wait ended.
#[derive(Debug)]
pub struct WaitOutcome {
    /// The final status (`Success` or `Fail`), or why there is none.
    pub result: Result<TaskStatus, Error>,
    /// The last status a poll returned, if any.
    pub last_status: Option<TaskStatus>,
    /// Polls made (each one `task_check` with the client's own retries).
    pub polls: u32,
}

/// The delay after poll number `polls` (1-based) that said "process": 200 ms
/// growing by half each time up to 5 s, then a random point in its upper
/// quarter so that many waiters do not poll in step.
pub fn poll_delay(polls: u32) -> Duration {
    let mut delay = FIRST_DELAY;
    for _ in 1..polls.min(32) {
        delay = (delay * 3 / 2).min(MAX_DELAY);
    }
    let quarter = delay / 4;
    delay - quarter + jitter(quarter)
}

/// Polls `task_id` until it finishes, `timeout` passes, `cancel` is
/// triggered, or `progress` (called after every poll with the status seen,
/// `None` for a failed poll, the poll count and the time elapsed) returns
/// `true` to stop.
pub fn wait(
    client: &Client,
    token: Option<&[u8]>,
    task_id: &[u8],
    timeout: Duration,
    cancel: Option<&Cancel>,
    mut progress: impl FnMut(Option<TaskStatus>, u32, Duration) -> bool,
) -> WaitOutcome {
    let started = Instant::now();
    let deadline = started + timeout;
    let mut polls = 0;
    let mut last_status = None;
    let mut transient_in_a_row = 0;
    let stopped = |why: &str, polls: u32, last: Option<TaskStatus>| {
        Error::new(
            Kind::Cancelled,
            format!(
                "{why} after {polls} poll(s); last status {}",
                describe(last)
            ),
        )
    };
    let timed_out = |polls: u32, last: Option<TaskStatus>| {
        Error::new(
            Kind::Timeout,
            format!(
                "the task did not finish within the {} ms wait ({polls} poll(s); last status {})",
                timeout.as_millis(),
                describe(last)
            ),
        )
    };
    let result = loop {
        if cancel.is_some_and(Cancel::is_triggered) {
            break Err(stopped("the wait was cancelled", polls, last_status));
        }
        // Each poll gets the client's call timeout, cut to what is left.
        let poll_deadline = deadline.min(Instant::now() + client.timeout());
        let poll = client.task_check_by(token, task_id, poll_deadline, cancel);
        polls += 1;
        let seen = poll.as_ref().ok().copied();
        last_status = seen.or(last_status);
        if progress(seen, polls, started.elapsed()) {
            break Err(stopped(
                "the progress callback stopped the wait",
                polls,
                last_status,
            ));
        }
        let pause = match poll {
            Ok(TaskStatus::Process) => {
                transient_in_a_row = 0;
                poll_delay(polls)
            }
            Ok(done) => break Ok(done),
            // The cancel cut a sleep of the poll short (a retry's wait, the
            // rate limiter's queue, the gate).
            Err(e) if e.kind == Kind::Cancelled => {
                break Err(stopped("the wait was cancelled", polls, last_status));
            }
            // Rate limited: wait what the platform advises, then go on.
            Err(e) if e.retry == Retry::RateLimited => {
                Duration::from_millis(e.retry_after_ms.into()).max(poll_delay(polls))
            }
            // Transient trouble (a poll's own timeout included) is absorbed a
            // few times in a row, unless the wait's deadline is what passed.
            Err(e) if e.retry == Retry::Transient || e.kind == Kind::Timeout => {
                if Instant::now() >= deadline {
                    break Err(timed_out(polls, last_status));
                }
                transient_in_a_row += 1;
                if transient_in_a_row > MAX_TRANSIENT_IN_A_ROW {
                    let mut e = e;
                    e.message.push_str(&format!(
                        " ({transient_in_a_row} transient failures in a row while waiting)"
                    ));
                    break Err(e);
                }
                poll_delay(polls)
            }
            // Permanent: invalid input, 4xx, auth, protocol errors.
            Err(e) => break Err(e),
        };
        // Never sleep past the deadline; a cancel cuts the sleep short.
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break Err(timed_out(polls, last_status));
        }
        if crate::cancel::sleep(cancel, pause.min(left)) {
            break Err(stopped("the wait was cancelled", polls, last_status));
        }
        if Instant::now() >= deadline {
            break Err(timed_out(polls, last_status));
        }
    };
    WaitOutcome {
        result,
        last_status,
        polls,
    }
}

fn describe(status: Option<TaskStatus>) -> &'static str {
    match status {
        None => "unknown",
        Some(TaskStatus::Process) => "process",
        Some(TaskStatus::Success) => "success",
        Some(TaskStatus::Fail) => "fail",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_a_cap_with_jitter() {
        let mut previous_max = Duration::ZERO;
        for polls in 1..40 {
            let d = poll_delay(polls);
            assert!(d <= MAX_DELAY && d >= FIRST_DELAY * 3 / 4, "{polls}: {d:?}");
            let nominal = (1..polls).fold(FIRST_DELAY, |d, _| (d * 3 / 2).min(MAX_DELAY));
            assert!(
                d >= nominal * 3 / 4 && d <= nominal,
                "{polls}: {d:?} vs {nominal:?}"
            );
            assert!(nominal >= previous_max);
            previous_max = nominal;
        }
        assert_eq!(previous_max, MAX_DELAY);
    }
}
