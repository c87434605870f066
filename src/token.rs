//! The managed tenant_access_token of a client with app credentials:
//! cached per client, fetched by one thread at a time (single-flight),
//! refreshed before it expires, and dropped when the platform rejects it.
//!
//! The cache is independent of HTTP: [`TokenCache::get`] takes the fetch as
//! a closure, which the client supplies.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::api::IssuedToken;
use crate::cancel::{CHECK_EVERY, Cancel};
use crate::error::{Error, Kind};
use crate::secret::{Credentials, Secret, wipe};

/// How long before its expiry a token is replaced (or half its life, when
/// that is shorter).
const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// A token in use.
pub struct Token {
    value: Secret,
    refresh_at: Instant,
    expires_at: Instant,
}

impl Token {
    /// The token text (visible ASCII, checked when it was issued).
    pub fn value(&self) -> &str {
        std::str::from_utf8(self.value.expose()).unwrap_or("")
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("value", &self.value)
            .field("refresh_at", &self.refresh_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

#[derive(Default)]
struct State {
    current: Option<Arc<Token>>,
    /// A fetch is in flight.
    fetching: bool,
    /// Counts finished fetches, so a waiter knows when "its" fetch ended.
    finished: u64,
    /// The error of the last finished fetch, if it failed for a reason that
    /// is every caller's (not the fetching call's own deadline or cancel).
    failure: Option<Error>,
}

/// One client's token: never shared with another client.
#[derive(Debug)]
pub struct TokenCache {
    credentials: Credentials,
    state: Mutex<State>,
    changed: Condvar,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("current", &self.current)
            .field("fetching", &self.fetching)
            .finish()
    }
}

/// Resets `fetching` even if the fetch panics, so waiters are not stranded.
struct FetchGuard<'a>(&'a TokenCache);

impl Drop for FetchGuard<'_> {
    fn drop(&mut self) {
        let mut st = self.0.lock();
        if st.fetching {
            st.fetching = false;
            st.finished += 1;
            st.failure = Some(Error::new(
                Kind::Internal,
                "the token fetch was interrupted",
            ));
            self.0.changed.notify_all();
        }
    }
}

impl TokenCache {
    #[cfg(test)]
    pub fn new(credentials: Credentials) -> TokenCache {
        TokenCache::with_token(credentials, None)
    }

    /// A cache that starts with `token` (a forked child's, from its parent).
    pub fn with_token(credentials: Credentials, token: Option<Arc<Token>>) -> TokenCache {
        TokenCache {
            credentials,
            state: Mutex::new(State {
                current: token,
                ..State::default()
            }),
            changed: Condvar::new(),
        }
    }

    /// The cached token, if the cache is not locked at this instant: never
    /// waits (a forked child asks its parent's cache, whose lock may have
    /// been held by a thread that the child does not have).
    pub fn current_now(&self) -> Option<Arc<Token>> {
        match self.state.try_lock() {
            Ok(st) => st.current.clone(),
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner().current.clone(),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means a thread panicked while holding it; the
        // state is always left consistent, so carry on.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A valid token: the cached one, or one fetched by `fetch` (by exactly
    /// one caller at a time; the others wait for its result, each no longer
    /// than its own `deadline` and `cancel`). While a refresh is in flight, a
    /// token that has not yet expired is still handed out.
    ///
    /// Every caller keeps its own outcome: a fetch that the fetching call's
    /// own deadline or cancel ended (`Error::cut_short`) is not the waiters'
    /// failure; the next of them fetches again, bounded by its own.
    pub fn get(
        &self,
        deadline: Instant,
        cancel: Option<&Cancel>,
        fetch: impl FnOnce(&Credentials) -> Result<IssuedToken, Error>,
    ) -> Result<Arc<Token>, Error> {
        let mut st = self.lock();
        loop {
            let now = Instant::now();
            if let Some(t) = &st.current {
                if now < t.refresh_at || (st.fetching && now < t.expires_at) {
                    return Ok(t.clone());
                }
            }
            if !st.fetching {
                break;
            }
            // Wait for the fetch in flight, then take its result.
            let ticket = st.finished;
            while st.fetching && st.finished == ticket {
                if cancel.is_some_and(Cancel::is_triggered) {
                    return Err(Error::new(
                        Kind::Cancelled,
                        "cancelled while waiting for the tenant_access_token that another call is fetching",
                    ));
                }
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(Error::new(
                        Kind::Timeout,
                        "the deadline passed while waiting for the tenant_access_token that another call is fetching",
                    ));
                }
                let nap = match cancel {
                    Some(_) => left.min(CHECK_EVERY),
                    None => left,
                };
                st = self
                    .changed
                    .wait_timeout(st, nap)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
            let fresh = st
                .current
                .as_ref()
                .is_some_and(|t| Instant::now() < t.refresh_at);
            if let (false, Some(e)) = (fresh, &st.failure) {
                return Err(e.clone());
            }
        }

        // This caller fetches.
        st.fetching = true;
        let previous = st.current.clone();
        drop(st);
        let guard = FetchGuard(self);
        let started = Instant::now();
        let result = fetch(&self.credentials);
        let mut st = self.lock();
        st.fetching = false;
        st.finished += 1;
        std::mem::forget(guard);
        let outcome = match result {
            Ok(issued) => {
                let token = Arc::new(Token::issued(issued, started));
                st.current = Some(token.clone());
                st.failure = None;
                Ok(token)
            }
            Err(e) => {
                // Waiters with time left fetch again when this call's own
                // limits ended the fetch.
                st.failure = (!e.cut_short).then(|| e.clone());
                // A refresh that failed while the old token still lives: keep using it.
                match previous {
                    Some(old) if Instant::now() < old.expires_at => Ok(old),
                    _ => Err(e),
                }
            }
        };
        self.changed.notify_all();
        outcome
    }

    /// Drops `failed` from the cache if it is still the cached token (another
    /// thread may already have replaced it).
    pub fn invalidate(&self, failed: &Arc<Token>) {
        let mut st = self.lock();
        if st.current.as_ref().is_some_and(|t| Arc::ptr_eq(t, failed)) {
            st.current = None;
        }
    }
}

impl Token {
    fn issued(issued: IssuedToken, fetch_started: Instant) -> Token {
        let life = Duration::from_secs(issued.expire_secs);
        let margin = REFRESH_MARGIN.min(life / 2);
        let mut value = issued.token.into_bytes();
        let token = Token {
            value: Secret::new(&value),
            // Counted from when the request was sent: the server's clock
            // started no earlier.
            refresh_at: fetch_started + (life - margin),
            expires_at: fetch_started + life,
        };
        wipe(&mut value);
        token
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn cache() -> TokenCache {
        TokenCache::new(Credentials {
            app_id: "cli_test".into(),
            app_secret: Secret::new(b"hunter2"),
        })
    }

    fn issued(token: &str, expire_secs: u64) -> Result<IssuedToken, Error> {
        Ok(IssuedToken {
            token: token.into(),
            expire_secs,
        })
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    #[test]
    fn cached_until_the_refresh_point() {
        let c = cache();
        let t1 = c.get(soon(), None, |_| issued("t-1", 7200)).unwrap();
        let t2 = c.get(soon(), None, |_| panic!("no second fetch")).unwrap();
        assert!(Arc::ptr_eq(&t1, &t2));
        assert_eq!(t2.value(), "t-1");
        // 7200 s: refreshed 5 minutes before expiry.
        assert_eq!(t1.expires_at - t1.refresh_at, Duration::from_secs(300));
        // A short life: refreshed at half of it.
        let c = cache();
        let t = c.get(soon(), None, |_| issued("t-s", 4)).unwrap();
        assert_eq!(t.expires_at - t.refresh_at, Duration::from_secs(2));
    }

    #[test]
    fn single_flight_under_contention() {
        let c = cache();
        let fetches = AtomicUsize::new(0);
        let barrier = std::sync::Barrier::new(32);
        std::thread::scope(|s| {
            for _ in 0..32 {
                s.spawn(|| {
                    barrier.wait();
                    let t = c
                        .get(soon(), None, |_| {
                            fetches.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(50));
                            issued("t-shared", 7200)
                        })
                        .unwrap();
                    assert_eq!(t.value(), "t-shared");
                });
            }
        });
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn waiters_share_the_failure_and_respect_their_deadline() {
        let c = cache();
        let fetches = AtomicUsize::new(0);
        let barrier = std::sync::Barrier::new(8);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    barrier.wait();
                    let e = c
                        .get(soon(), None, |_| {
                            fetches.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(50));
                            Err(Error::new(Kind::Platform(10014), "app secret invalid"))
                        })
                        .unwrap_err();
                    assert_eq!(e.kind, Kind::Platform(10014));
                });
            }
        });
        assert_eq!(fetches.load(Ordering::SeqCst), 1);

        // A waiter whose deadline is shorter than the fetch times out.
        let c = Arc::new(cache());
        let c2 = c.clone();
        let fetcher = std::thread::spawn(move || {
            c2.get(soon(), None, |_| {
                std::thread::sleep(Duration::from_millis(300));
                issued("t-slow", 7200)
            })
        });
        std::thread::sleep(Duration::from_millis(50));
        let e = c
            .get(
                Instant::now() + Duration::from_millis(50),
                None,
                |_| unreachable!(),
            )
            .unwrap_err();
        assert_eq!(e.kind, Kind::Timeout);
        assert!(fetcher.join().unwrap().is_ok());
    }

    #[test]
    fn a_fetch_ended_by_the_fetchers_own_limits_is_not_the_waiters_failure() {
        for own in [
            Error::new(Kind::Cancelled, "cancelled while waiting to retry"),
            Error::new(
                Kind::Timeout,
                "no complete response within the 300 ms deadline",
            ),
        ] {
            let c = Arc::new(cache());
            let fetches = Arc::new(AtomicUsize::new(0));
            let (c2, f2, own2) = (c.clone(), fetches.clone(), own.clone());
            let fetcher = std::thread::spawn(move || {
                c2.get(soon(), None, |_| {
                    f2.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(100));
                    Err(own2)
                })
            });
            while fetches.load(Ordering::SeqCst) == 0 {
                std::thread::yield_now();
            }
            // Joined the fetch in flight; fetches itself once it ended.
            let t = c
                .get(soon(), None, |_| {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    issued("t-own", 7200)
                })
                .unwrap();
            assert_eq!(t.value(), "t-own");
            assert_eq!(fetcher.join().unwrap().unwrap_err(), own);
            assert_eq!(fetches.load(Ordering::SeqCst), 2);
        }
    }

    #[test]
    fn a_waiter_is_cancelled_by_its_own_cancel() {
        let c = Arc::new(cache());
        let c2 = c.clone();
        let started = Arc::new(AtomicUsize::new(0));
        let s2 = started.clone();
        let fetcher = std::thread::spawn(move || {
            c2.get(soon(), None, |_| {
                s2.store(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(400));
                issued("t-slow", 7200)
            })
        });
        while started.load(Ordering::SeqCst) == 0 {
            std::thread::yield_now();
        }
        let cancel = Arc::new(Cancel::new());
        let c3 = cancel.clone();
        let trigger = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            c3.trigger();
        });
        let e = c
            .get(soon(), Some(&cancel), |_| unreachable!())
            .unwrap_err();
        assert_eq!(e.kind, Kind::Cancelled);
        trigger.join().unwrap();
        assert_eq!(fetcher.join().unwrap().unwrap().value(), "t-slow");
    }

    #[test]
    fn invalidation_drops_only_the_failed_token() {
        let c = cache();
        let t1 = c.get(soon(), None, |_| issued("t-1", 7200)).unwrap();
        c.invalidate(&t1);
        let t2 = c.get(soon(), None, |_| issued("t-2", 7200)).unwrap();
        assert_eq!(t2.value(), "t-2");
        // A late invalidation of the old token leaves the new one alone.
        c.invalidate(&t1);
        let t3 = c
            .get(soon(), None, |_| panic!("t-2 is still cached"))
            .unwrap();
        assert!(Arc::ptr_eq(&t2, &t3));
    }

    #[test]
    fn a_failed_refresh_keeps_the_unexpired_token() {
        let c = cache();
        let t1 = c.get(soon(), None, |_| issued("t-1", 2)).unwrap(); // refresh after 1 s
        std::thread::sleep(Duration::from_millis(1100));
        let t = c
            .get(soon(), None, |_| Err(Error::new(Kind::Network, "down")))
            .unwrap();
        assert!(Arc::ptr_eq(&t1, &t));
        let t2 = c.get(soon(), None, |_| issued("t-2", 7200)).unwrap();
        assert_eq!(t2.value(), "t-2");
    }

    #[test]
    fn nothing_secret_in_debug() {
        let c = cache();
        c.get(soon(), None, |_| {
            issued("t-visible-only-to-the-server", 7200)
        })
        .unwrap();
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("t-visible"),
            "{shown}"
        );
    }
}
