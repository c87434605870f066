//! Cancellation: a flag that any thread may set, and sleeps that it cuts
//! short. Every sleep of a call that has one (between a wait's polls,
//! between a poll's attempts, in the rate limiter's queue and at the learned
//! rate-limit gate) goes through [`Cancel::sleep`] or [`sleep`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// Longest a sleeper that cannot be woken (one waiting on another condition,
/// or in a forked child, see [`Cancel`]) sleeps before it looks at the flag
/// again: the cancel latency there.
pub(crate) const CHECK_EVERY: Duration = Duration::from_millis(10);

/// A cancellation flag that wakes sleeping waits at once. One flag may serve
/// any number of waits on any threads.
///
/// The flag is an atomic; the lock only serves to wake sleepers, and only in
/// the process that made the flag: in a forked child, that lock may have been
/// held by a thread the child does not have, so a child never takes it and
/// sleeps in slices of [`CHECK_EVERY`] instead.
#[derive(Debug)]
pub struct Cancel {
    triggered: AtomicBool,
    owner: u32,
    lock: Mutex<()>,
    wake: Condvar,
}

impl Default for Cancel {
    fn default() -> Cancel {
        Cancel {
            triggered: AtomicBool::new(false),
            owner: std::process::id(),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        }
    }
}

impl Cancel {
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Cancels every wait using this flag, now and later.
    pub fn trigger(&self) {
        self.triggered.store(true, Ordering::SeqCst);
        if self.is_owned() {
            // Taken after the store, so a sleeper that saw the flag unset
            // under the lock is waiting by now and gets the notification.
            drop(self.lock.lock().unwrap_or_else(|p| p.into_inner()));
            self.wake.notify_all();
        }
    }

    pub fn is_triggered(&self) -> bool {
        self.triggered.load(Ordering::SeqCst)
    }

    fn is_owned(&self) -> bool {
        std::process::id() == self.owner
    }

    /// Sleeps for `duration` unless triggered first; returns whether it was.
    pub fn sleep(&self, duration: Duration) -> bool {
        let until = Instant::now() + duration;
        if !self.is_owned() {
            while !self.is_triggered() {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                std::thread::sleep(left.min(CHECK_EVERY));
            }
            return self.is_triggered();
        }
        let mut guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        while !self.is_triggered() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            guard = self
                .wake
                .wait_timeout(guard, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        self.is_triggered()
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

    #[test]
    fn a_forked_child_never_takes_the_lock() {
        // As a child sees a flag its parent made while a parent thread held
        // the lock: sleeping and triggering must not wait for it.
        let mut cancel = Cancel::new();
        cancel.owner = std::process::id().wrapping_add(1);
        let cancel = std::sync::Arc::new(cancel);
        let _held = cancel.lock.lock().unwrap();
        assert!(!cancel.sleep(Duration::from_millis(20)));
        let c2 = cancel.clone();
        let sleeper = std::thread::spawn(move || c2.sleep(Duration::from_secs(30)));
        std::thread::sleep(Duration::from_millis(20));
        let triggered = Instant::now();
        cancel.trigger();
        assert!(sleeper.join().unwrap());
        assert!(triggered.elapsed() < Duration::from_secs(5));
    }
}
