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
//! - [`Lanes`]: the platform's rule for the writes (move, delete): no two
//!   with the same token at once, at most 5 starting per second. Writes of a
//!   token take its lane in arrival order, each bounded by its own deadline
//!   and cancel, and keep it through their retries.
//!
//! None of them sends anything or knows HTTP; the client asks them before each
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

/// Most write lanes kept at once; past it, idle lanes are dropped first.
const MAX_LANES: usize = 4096;

/// The writes of one token.
#[derive(Default)]
struct Lane {
    /// A write holds the lane.
    busy: bool,
    /// Tickets of the writes waiting, in arrival order.
    waiting: VecDeque<u64>,
    next_ticket: u64,
    /// Start times of the last writes, oldest first (at most the budget).
    starts: VecDeque<Instant>,
}

/// How much longer than its interval a write's start keeps its place: the
/// platform counts writes when they arrive, and the first of a burst can
/// arrive late (a new connection, a TLS handshake) while the next ones do
/// not. 10% of 5 per second costs 4 s on 200 writes; an early arrival costs
/// a 1061045 and a backoff.
const WRITE_GUARD: Duration = Duration::from_millis(100);

/// The write lanes of one client, per token key.
pub struct Lanes {
    limit: RateLimit,
    window: Duration,
    lanes: Mutex<HashMap<u64, Lane>>,
    changed: Condvar,
}

impl std::fmt::Debug for Lanes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lanes")
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

/// A write's hold on its token's lane; released when dropped.
pub struct LaneGuard<'a> {
    lanes: &'a Lanes,
    key: u64,
}

impl Lanes {
    /// Lanes whose writes start at most `limit.max` per `limit.per` (and
    /// [`WRITE_GUARD`]).
    pub fn new(limit: RateLimit) -> Lanes {
        Lanes {
            window: limit.per + WRITE_GUARD.max(guard(limit.per)),
            limit,
            lanes: Mutex::new(HashMap::new()),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Lane>> {
        // Consistent at every unlock: a poisoned lock is usable.
        self.lanes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the lane of `key`, after the writes that came before; refused
    /// when `deadline` passes or `cancel` is triggered first.
    pub fn enter(
        &self,
        key: u64,
        deadline: Instant,
        cancel: Option<&Cancel>,
    ) -> Result<LaneGuard<'_>, Refused> {
        let mut lanes = self.lock();
        if lanes.len() >= MAX_LANES && !lanes.contains_key(&key) {
            let now = Instant::now();
            let window = self.window;
            lanes.retain(|_, l| {
                l.busy
                    || !l.waiting.is_empty()
                    || l.starts.back().is_some_and(|&t| t + window > now)
            });
        }
        let lane = lanes.entry(key).or_default();
        let ticket = lane.next_ticket;
        lane.next_ticket += 1;
        lane.waiting.push_back(ticket);
        loop {
            let lane = lanes.entry(key).or_default();
            let why = if cancel.is_some_and(Cancel::is_triggered) {
                Some(Refused::Cancelled)
            } else if !lane.busy && lane.waiting.front() == Some(&ticket) {
                lane.busy = true;
                lane.waiting.pop_front();
                return Ok(LaneGuard { lanes: self, key });
            } else if Instant::now() >= deadline {
                Some(Refused::Deadline { free_at: None })
            } else {
                None
            };
            if let Some(why) = why {
                lane.waiting.retain(|&t| t != ticket);
                self.changed.notify_all();
                return Err(why);
            }
            let mut nap = deadline.saturating_duration_since(Instant::now());
            if cancel.is_some() {
                nap = nap.min(CHECK_EVERY);
            }
            lanes = self
                .changed
                .wait_timeout(lanes, nap)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

impl LaneGuard<'_> {
    /// Waits, holding the lane, until a write may start within the budget,
    /// and takes the start. Refused (nothing started) when the start would
    /// come after `deadline`, or `cancel` cuts the wait short.
    pub fn start(&self, deadline: Instant, cancel: Option<&Cancel>) -> Result<(), Refused> {
        loop {
            let free = {
                let mut lanes = self.lanes.lock();
                let lane = lanes.entry(self.key).or_default();
                let now = Instant::now();
                let window = self.lanes.window;
                while lane.starts.front().is_some_and(|&t| t + window <= now) {
                    lane.starts.pop_front();
                }
                if lane.starts.len() < self.lanes.limit.max as usize {
                    lane.starts.push_back(now);
                    return Ok(());
                }
                lane.starts[0] + window
            };
            if free > deadline {
                return Err(Refused::Deadline {
                    free_at: Some(free),
                });
            }
            if crate::cancel::sleep(cancel, free.saturating_duration_since(Instant::now())) {
                return Err(Refused::Cancelled);
            }
        }
    }
}

impl Drop for LaneGuard<'_> {
    fn drop(&mut self) {
        let mut lanes = self.lanes.lock();
        if let Some(lane) = lanes.get_mut(&self.key) {
            lane.busy = false;
        }
        self.lanes.changed.notify_all();
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

    fn lanes(max: u32, per_ms: u64) -> Lanes {
        Lanes::new(RateLimit {
            max,
            per: ms(per_ms),
        })
    }

    #[test]
    fn writes_of_one_token_never_overlap_and_go_in_arrival_order() {
        let l = lanes(1000, 1000);
        let inside = std::sync::atomic::AtomicU32::new(0);
        let order = Mutex::new(Vec::new());
        let first = l.enter(7, Instant::now() + ms(100), None).unwrap();
        std::thread::scope(|s| {
            for i in 0..6 {
                let (l, inside, order) = (&l, &inside, &order);
                s.spawn(move || {
                    let g = l.enter(7, Instant::now() + Duration::from_secs(10), None);
                    let g = g.unwrap();
                    assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "overlap");
                    order.lock().unwrap().push(i);
                    std::thread::sleep(ms(5));
                    inside.fetch_sub(1, Ordering::SeqCst);
                    drop(g);
                });
                while l.lock()[&7].next_ticket < i + 2 {
                    std::thread::yield_now();
                }
            }
            // Another token's lane is free meanwhile.
            assert!(l.enter(8, Instant::now(), None).is_ok());
            drop(first);
        });
        assert_eq!(order.into_inner().unwrap(), [0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn a_queued_write_leaves_at_its_deadline_or_cancel() {
        let l = lanes(1000, 1000);
        let _held = l.enter(1, Instant::now(), None).unwrap();
        let asked = Instant::now();
        assert!(matches!(
            l.enter(1, Instant::now() + ms(30), None),
            Err(Refused::Deadline { .. })
        ));
        assert!(asked.elapsed() >= ms(30));
        let cancel = Cancel::new();
        cancel.trigger();
        assert_eq!(
            l.enter(1, Instant::now() + ms(1000), Some(&cancel)).err(),
            Some(Refused::Cancelled)
        );
        assert!(l.lock()[&1].waiting.is_empty());
    }

    #[test]
    fn at_most_max_writes_start_in_any_window() {
        let l = lanes(5, 200);
        let g = l.enter(3, Instant::now(), None).unwrap();
        let started = Instant::now();
        for _ in 0..5 {
            g.start(Instant::now() + ms(10), None).unwrap();
        }
        assert!(started.elapsed() < ms(100), "the first five at once");
        // The sixth waits for the first to leave the window, or is refused
        // at once when that is past its deadline.
        assert!(matches!(
            g.start(Instant::now() + ms(50), None),
            Err(Refused::Deadline { free_at: Some(_) })
        ));
        g.start(Instant::now() + Duration::from_secs(5), None)
            .unwrap();
        assert!(
            started.elapsed() >= ms(200) + WRITE_GUARD,
            "{:?}",
            started.elapsed()
        );
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
