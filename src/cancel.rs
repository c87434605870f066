//! Cancellation: a flag that any thread may set, and sleeps that it cuts
//! short. Every sleep of a call that has one (between a wait's polls,
//! between a poll's attempts, in the rate limiter's queue and at the learned
//! rate-limit gate) goes through [`Cancel::sleep`] or [`sleep`].

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// A cancellation flag that wakes sleeping waits at once. One flag may serve
/// any number of waits on any threads.
#[derive(Debug, Default)]
pub struct Cancel {
    triggered: Mutex<bool>,
    wake: Condvar,
}

impl Cancel {
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Cancels every wait using this flag, now and later.
    pub fn trigger(&self) {
        *self.triggered.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.wake.notify_all();
    }

    pub fn is_triggered(&self) -> bool {
        *self.triggered.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sleeps for `duration` unless triggered first; returns whether it was.
    pub fn sleep(&self, duration: Duration) -> bool {
        let until = Instant::now() + duration;
        let mut triggered = self.triggered.lock().unwrap_or_else(|p| p.into_inner());
        while !*triggered {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            triggered = self
                .wake
                .wait_timeout(triggered, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        *triggered
    }
}

/// Sleeps for `duration`, cut short by `cancel` when there is one; returns
/// whether it was cancelled.
pub fn sleep(cancel: Option<&Cancel>, duration: Duration) -> bool {
    match cancel {
        Some(c) => c.sleep(duration),
        None => {
            std::thread::sleep(duration);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_wakes_a_sleeper_at_once() {
        let cancel = std::sync::Arc::new(Cancel::new());
        let c2 = cancel.clone();
        let started = Instant::now();
        let sleeper = std::thread::spawn(move || c2.sleep(Duration::from_secs(30)));
        std::thread::sleep(Duration::from_millis(20));
        cancel.trigger();
        assert!(sleeper.join().unwrap());
        assert!(started.elapsed() < Duration::from_secs(5));
        // Triggered stays triggered.
        assert!(cancel.sleep(Duration::from_secs(30)));
        assert!(!Cancel::new().sleep(Duration::from_millis(1)));
    }
}
