//! Client-wide rate limits, shared by every thread of a client:
//!
//! - [`Limiter`]: the caller's declared budget, "at most `max` requests start
//!   in any interval of `per`": a sliding-window log of the last `max` start
//!   times, so a gateway that counts fixed windows never sees more than `max`
//!   in one. A start keeps its place for `per` plus [`guard`] (1%, at least
//!   1 ms): a request reaches the gateway a little after it starts, and not
//!   always equally late. Callers queue in arrival order (a ticket each), each
//!   bounded by its own deadline and cancel.
//! - [`Gate`]: what the platform told us. After a 99991400 with
//!   `x-ogw-ratelimit-reset`, requests with the same token hold back until the
//!   reset has passed. Tokens are kept only as keyed hashes.
//!
//! Neither sends anything or knows HTTP; the client asks them before each
//! task_check attempt. Both belong to one process (a forked child builds its
//! own, see `process`).

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::cancel::{CHECK_EVERY, Cancel};
pub use crate::config::RateLimit;

/// Most tokens the gate remembers at once (an ISV app with many tenants);
/// past it, the entry that reopens first is dropped.
const MAX_GATED_TOKENS: usize = 4096;

/// Why a caller did not get a start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// No start was possible before the caller's deadline; `free_at`: when
    /// the next start frees, if the caller was at the head of the queue.
    Deadline { free_at: Option<Instant> },
    /// The caller's cancel flag was triggered while it waited.
    Cancelled,
}

#[derive(Default)]
struct Queue {
    /// Start times of the requests admitted in the last `per`, oldest first
    /// (at most `max`).
    starts: VecDeque<Instant>,
    /// Tickets of the callers waiting, in arrival order.
    waiting: VecDeque<u64>,
    next_ticket: u64,
}

/// The declared budget of one client.
pub struct Limiter {
    limit: RateLimit,
    /// `per` and the guard: how long a start keeps its place.
    window: Duration,
    queue: Mutex<Queue>,
    changed: Condvar,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

/// How much longer than the declared interval a start keeps its place.
pub fn guard(per: Duration) -> Duration {
    (per / 100).max(Duration::from_millis(1))
}

impl Limiter {
    pub fn new(limit: RateLimit) -> Limiter {
        Limiter {
            window: limit.per + guard(limit.per),
            limit,
            queue: Mutex::new(Queue::default()),
            changed: Condvar::new(),
        }
    }

    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // The queue is consistent at every unlock: a poisoned lock is usable.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for a start, in arrival order, and takes it; returns the start's
    /// time (the one the window counts). A caller that cannot start before `deadline` (the
    /// head of the queue knows at once when its start would come too late),
    /// or whose `cancel` is triggered, leaves the queue without a start.
    pub fn acquire(&self, deadline: Instant, cancel: Option<&Cancel>) -> Result<Instant, Refused> {
        let mut q = self.lock();
        let ticket = q.next_ticket;
        q.next_ticket += 1;
        q.waiting.push_back(ticket);
        loop {
            if cancel.is_some_and(Cancel::is_triggered) {
                return Err(self.leave(q, ticket, Refused::Cancelled));
            }
            let now = Instant::now();
            let mut wake = deadline;
            if q.waiting.front() == Some(&ticket) {
                while q.starts.front().is_some_and(|&t| t + self.window <= now) {
                    q.starts.pop_front();
                }
                if q.starts.len() < self.limit.max as usize {
                    q.starts.push_back(now);
                    q.waiting.pop_front();
                    self.changed.notify_all();
                    return Ok(now);
                }
                // The oldest start leaves the window at `free`.
                let free = q.starts[0] + self.window;
                if free > deadline {
                    let why = Refused::Deadline {
                        free_at: Some(free),
                    };
                    return Err(self.leave(q, ticket, why));
                }
                wake = free;
            }
            if now >= deadline {
                let why = Refused::Deadline { free_at: None };
                return Err(self.leave(q, ticket, why));
            }
            let mut nap = wake.saturating_duration_since(now);
            if cancel.is_some() {
                nap = nap.min(CHECK_EVERY);
            }
            q = self
                .changed
                .wait_timeout(q, nap)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Takes `ticket` out of the queue (the next caller may be the head now).
    fn leave(&self, mut q: MutexGuard<'_, Queue>, ticket: u64, why: Refused) -> Refused {
        q.waiting.retain(|&t| t != ticket);
        self.changed.notify_all();
        why
    }
}

/// The resets the platform announced, per token.
pub struct Gate {
    keys: RandomState,
    /// Token key -> when its reset passes.
    closed: Mutex<HashMap<u64, Instant>>,
    /// The latest reset of any token, in nanoseconds since `created`: once it
    /// has passed, no token is held back and a call need not take the lock
    /// (every call of every thread asks).
    latest: AtomicU64,
    created: Instant,
}

impl Default for Gate {
    fn default() -> Gate {
        Gate {
            keys: RandomState::new(),
            closed: Mutex::new(HashMap::new()),
            latest: AtomicU64::new(0),
            created: Instant::now(),
        }
    }
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate").finish_non_exhaustive()
    }
}

impl Gate {
    /// The key of `token`: a hash keyed per gate (randomly, by std), so the
    /// gate holds no token and its keys mean nothing outside it.
    pub fn key(&self, token: &str) -> u64 {
        self.keys.hash_one(token)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Instant>> {
        self.closed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// When the reset announced for `key` passes, if it is still ahead.
    pub fn reopens(&self, key: u64, now: Instant) -> Option<Instant> {
        let latest = Duration::from_nanos(self.latest.load(Ordering::Acquire));
        if now >= self.created + latest {
            return None;
        }
        self.lock().get(&key).copied().filter(|&at| at > now)
    }

    /// Holds `key` back until `until` (a later reset already known wins).
    pub fn close(&self, key: u64, until: Instant) {
        let now = Instant::now();
        let mut closed = self.lock();
        closed.retain(|_, &mut at| at > now);
        if closed.len() >= MAX_GATED_TOKENS && !closed.contains_key(&key) {
            if let Some(first) = closed.iter().min_by_key(|(_, at)| **at).map(|(k, _)| *k) {
                closed.remove(&first);
            }
        }
        let at = closed.entry(key).or_insert(until);
        *at = (*at).max(until);
        let nanos = u64::try_from(until.saturating_duration_since(self.created).as_nanos());
        self.latest
            .fetch_max(nanos.unwrap_or(u64::MAX), Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn limiter(max: u32, per_ms: u64) -> Arc<Limiter> {
        Arc::new(Limiter::new(RateLimit {
            max,
            per: ms(per_ms),
        }))
    }

    #[test]
    fn no_more_than_max_starts_in_any_window() {
        let l = limiter(5, 200);
        let starts = Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..5 {
                        let start = l.acquire(Instant::now() + Duration::from_secs(5), None);
                        starts.lock().unwrap().push(start.unwrap());
                    }
                });
            }
        });
        let mut starts = starts.into_inner().unwrap();
        starts.sort();
        assert_eq!(starts.len(), 20);
        // Any 6 consecutive starts span at least the window.
        for w in starts.windows(6) {
            assert!(w[5] - w[0] >= ms(200), "{:?}", w[5] - w[0]);
        }
        // And the budget is used: 20 starts in about 3 windows, not more.
        assert!(starts[19] - starts[0] < ms(800));
    }

    #[test]
    fn a_start_too_late_for_the_deadline_is_refused_at_once() {
        let l = limiter(1, 1000);
        assert!(l.acquire(Instant::now() + ms(10), None).is_ok());
        let asked = Instant::now();
        assert!(matches!(
            l.acquire(Instant::now() + ms(500), None),
            Err(Refused::Deadline { free_at: Some(_) })
        ));
        assert!(asked.elapsed() < ms(50), "{:?}", asked.elapsed());
        // The refused caller left the queue: the next one is not stuck behind it.
        assert!(l.lock().waiting.is_empty());
    }

    #[test]
    fn callers_are_served_in_arrival_order() {
        let l = limiter(1, 60);
        l.acquire(Instant::now() + ms(10), None).unwrap();
        let order = Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for i in 0..5 {
                let (l, order) = (&l, &order);
                s.spawn(move || {
                    l.acquire(Instant::now() + Duration::from_secs(5), None)
                        .unwrap();
                    order.lock().unwrap().push(i);
                });
                // Arrive one after the other (ticket 0 was the first start).
                while l.lock().next_ticket < i as u64 + 2 {
                    std::thread::yield_now();
                }
            }
        });
        assert_eq!(order.into_inner().unwrap(), [0, 1, 2, 3, 4]);
    }

    #[test]
    fn a_cancel_frees_a_queued_caller_within_milliseconds() {
        let l = limiter(1, 10_000);
        l.acquire(Instant::now() + ms(10), None).unwrap();
        let cancel = Cancel::new();
        std::thread::scope(|s| {
            let waiter = s.spawn(|| {
                let r = l.acquire(Instant::now() + Duration::from_secs(60), Some(&cancel));
                (r, Instant::now())
            });
            while l.lock().waiting.is_empty() {
                std::thread::yield_now();
            }
            std::thread::sleep(ms(30));
            let triggered = Instant::now();
            cancel.trigger();
            let (r, at) = waiter.join().unwrap();
            assert_eq!(r, Err(Refused::Cancelled));
            assert!(at - triggered < ms(50), "{:?}", at - triggered);
        });
        assert!(l.lock().waiting.is_empty());
    }

    #[test]
    fn the_gate_holds_one_token_until_its_reset() {
        let g = Gate::default();
        let (a, b) = (g.key("t-aaa"), g.key("t-bbb"));
        assert_ne!(a, b);
        let now = Instant::now();
        assert_eq!(g.reopens(a, now), None);
        g.close(a, now + ms(1000));
        assert_eq!(g.reopens(a, now), Some(now + ms(1000)));
        assert_eq!(g.reopens(b, now), None, "other tokens are not held back");
        // An earlier reset does not shorten a known one; a later one extends it.
        g.close(a, now + ms(500));
        assert_eq!(g.reopens(a, now), Some(now + ms(1000)));
        g.close(a, now + ms(2000));
        assert_eq!(g.reopens(a, now), Some(now + ms(2000)));
        assert_eq!(
            g.reopens(a, now + ms(2000)),
            None,
            "open once the reset passed"
        );
        // Keys are the gate's own: another gate hashes the same token otherwise.
        assert_ne!(Gate::default().key("t-aaa"), a);
    }

    #[test]
    fn the_gate_remembers_a_bounded_number_of_tokens() {
        let g = Gate::default();
        let later = Instant::now() + Duration::from_secs(60);
        for i in 0..(MAX_GATED_TOKENS as u64 + 10) {
            g.close(i, later + ms(i));
        }
        assert_eq!(g.lock().len(), MAX_GATED_TOKENS);
        assert!(
            g.reopens(MAX_GATED_TOKENS as u64 + 9, Instant::now())
                .is_some()
        );
        assert!(
            g.reopens(0, Instant::now()).is_none(),
            "the first to reopen went"
        );
    }
}
