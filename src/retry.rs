//! When to repeat a failed attempt, and how long to wait first.
//!
//! Only transient failures are repeated ([`Retry`], decided where the failure
//! was classified), at most `max_retries` times, and never past the call's
//! deadline: exponential backoff with jitter for transient failures, the
//! platform's advice (`x-ogw-ratelimit-reset`) for rate limits.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use crate::error::{Error, Retry};

/// The first backoff delay; each further retry doubles it.
const BACKOFF_BASE: Duration = Duration::from_millis(100);
/// The longest backoff delay.
const BACKOFF_CAP: Duration = Duration::from_secs(2);

/// What to do after a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Wait this long, then try again.
    RetryAfter(Duration),
    /// Return the error.
    GiveUp(GiveUp),
}

/// Why a failed attempt is not repeated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GiveUp {
    NotRetryable,
    NoRetriesLeft,
    /// The platform's advised wait does not fit before the deadline.
    AdvisedWaitTooLong,
    /// The backoff does not fit before the deadline.
    NoTimeLeft,
}

impl GiveUp {
    /// Whether the call's deadline, not the failure itself, ended the call.
    pub fn by_deadline(self) -> bool {
        matches!(self, GiveUp::AdvisedWaitTooLong | GiveUp::NoTimeLeft)
    }

    /// For the log line.
    pub fn reason(self) -> &'static str {
        match self {
            GiveUp::NotRetryable => "not retryable",
            GiveUp::NoRetriesLeft => "no retries left",
            GiveUp::AdvisedWaitTooLong => "the advised wait does not fit in the deadline",
            GiveUp::NoTimeLeft => "no time left before the deadline",
        }
    }
}

/// Decides after failed attempt number `attempt` (1-based), with `remaining`
/// time before the deadline.
pub fn verdict(err: &Error, attempt: u32, max_retries: u32, remaining: Duration) -> Verdict {
    if err.retry == Retry::Never {
        return Verdict::GiveUp(GiveUp::NotRetryable);
    }
    // "Retry later" is waited out within the deadline, not counted.
    if attempt > max_retries && err.retry != Retry::Later {
        return Verdict::GiveUp(GiveUp::NoRetriesLeft);
    }
    let delay = match err.retry {
        Retry::RateLimited if err.retry_after_ms > 0 => {
            Duration::from_millis(err.retry_after_ms.into())
        }
        _ => backoff(attempt),
    };
    // The next attempt needs time of its own after the wait.
    if delay >= remaining {
        return Verdict::GiveUp(if err.retry == Retry::RateLimited {
            GiveUp::AdvisedWaitTooLong
        } else {
            GiveUp::NoTimeLeft
        });
    }
    Verdict::RetryAfter(delay)
}

/// `BACKOFF_BASE * 2^(attempt-1)`, capped, then a random point in its upper
/// half so that many clients failing together do not retry in step.
pub fn backoff(attempt: u32) -> Duration {
    let exp = BACKOFF_BASE
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(BACKOFF_CAP);
    let half = exp / 2;
    half + jitter(half)
}

/// A uniformly random duration in `[0, max]`.
pub fn jitter(max: Duration) -> Duration {
    let nanos = max.as_nanos() as u64;
    if nanos == 0 {
        return Duration::ZERO;
    }
    // Each RandomState is seeded randomly by std: no RNG dependency needed.
    let random = RandomState::new().build_hasher().finish();
    Duration::from_nanos(random % (nanos + 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Kind;

    fn err(retry: Retry, retry_after_ms: u32) -> Error {
        let mut e = Error::new(Kind::Network, "x").retry(retry);
        e.retry_after_ms = retry_after_ms;
        e
    }

    #[test]
    fn backoff_grows_exponentially_with_jitter_and_a_cap() {
        for attempt in 1..=8 {
            let full = (BACKOFF_BASE * (1 << (attempt - 1))).min(BACKOFF_CAP);
            for _ in 0..50 {
                let d = backoff(attempt);
                assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
            }
        }
        assert!(backoff(u32::MAX) <= BACKOFF_CAP);
    }

    #[test]
    fn jitter_varies() {
        let samples: std::collections::HashSet<_> =
            (0..20).map(|_| jitter(Duration::from_secs(1))).collect();
        assert!(samples.len() > 10);
    }

    #[test]
    fn verdicts() {
        let lots = Duration::from_secs(30);
        assert_eq!(
            verdict(&err(Retry::Never, 0), 1, 2, lots),
            Verdict::GiveUp(GiveUp::NotRetryable)
        );
        assert!(matches!(
            verdict(&err(Retry::Transient, 0), 1, 2, lots),
            Verdict::RetryAfter(_)
        ));
        assert!(matches!(
            verdict(&err(Retry::Transient, 0), 2, 2, lots),
            Verdict::RetryAfter(_)
        ));
        assert_eq!(
            verdict(&err(Retry::Transient, 0), 3, 2, lots),
            Verdict::GiveUp(GiveUp::NoRetriesLeft)
        );
        assert_eq!(
            verdict(&err(Retry::Transient, 0), 1, 0, lots),
            Verdict::GiveUp(GiveUp::NoRetriesLeft)
        );
        assert_eq!(
            verdict(&err(Retry::RateLimited, 1000), 1, 2, lots),
            Verdict::RetryAfter(Duration::from_secs(1))
        );
        assert!(matches!(
            verdict(
                &err(Retry::RateLimited, 1000),
                1,
                2,
                Duration::from_millis(900)
            ),
            Verdict::GiveUp(_)
        ));
        assert!(matches!(
            verdict(&err(Retry::Transient, 0), 1, 2, Duration::from_millis(10)),
            Verdict::GiveUp(_)
        ));
    }
}
