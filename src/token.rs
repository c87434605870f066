//! The managed tenant_access_token of a client with app credentials:
//! cached per client, fetched by one thread at a time (single-flight),
//! refreshed before it expires, and dropped when the platform rejects it.
//!
//! The cache is independent of HTTP: [`TokenCache::get`] takes the fetch as
//! a closure, which the client supplies.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::api::IssuedToken;
use crate::error::{Error, Kind};

/// How long before its expiry a token is replaced (or half its life, when
/// that is shorter).
const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// Bytes that are wiped when dropped and never shown by Debug.
pub struct Secret(Box<[u8]>);

impl Secret {
    pub fn new(bytes: &[u8]) -> Secret {
        Secret(bytes.into())
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl Clone for Secret {
    fn clone(&self) -> Secret {
        Secret::new(&self.0)
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        wipe(&mut self.0);
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Overwrites `bytes` with zeros in a way the optimizer keeps.
pub fn wipe(bytes: &mut [u8]) {
    bytes.fill(0);
    std::hint::black_box(bytes);
}

/// An app's credentials.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub app_id: String,
    pub app_secret: Secret,
}

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
    /// The process of the thread that fetches: a child forked during a fetch
    /// has no such thread and must not wait for it.
    fetcher: u32,
    /// Counts finished fetches, so a waiter knows when "its" fetch ended.
    finished: u64,
    /// The error of the last finished fetch, if it failed.
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
    pub fn new(credentials: Credentials) -> TokenCache {
        TokenCache {
            credentials,
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means a thread panicked while holding it; the
        // state is always left consistent, so carry on.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A valid token: the cached one, or one fetched by `fetch` (by exactly
    /// one caller at a time; the others wait for its result, each no longer
    /// than its own `deadline`). While a refresh is in flight, a token that
    /// has not yet expired is still handed out.
    pub fn get(
        &self,
        deadline: Instant,
        fetch: impl FnOnce(&Credentials) -> Result<IssuedToken, Error>,
    ) -> Result<Arc<Token>, Error> {
        let mut st = self.lock();
        if st.fetching && st.fetcher != std::process::id() {
            st.fetching = false;
        }
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
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(Error::new(
                        Kind::Timeout,
                        "the deadline passed while waiting for the tenant_access_token",
                    ));
                }
                st = self
                    .changed
                    .wait_timeout(st, left)
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
        st.fetcher = std::process::id();
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
                st.failure = Some(e.clone());
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
        let t1 = c.get(soon(), |_| issued("t-1", 7200)).unwrap();
        let t2 = c.get(soon(), |_| panic!("no second fetch")).unwrap();
        assert!(Arc::ptr_eq(&t1, &t2));
        assert_eq!(t2.value(), "t-1");
        // 7200 s: refreshed 5 minutes before expiry.
        assert_eq!(t1.expires_at - t1.refresh_at, Duration::from_secs(300));
        // A short life: refreshed at half of it.
        let c = cache();
        let t = c.get(soon(), |_| issued("t-s", 4)).unwrap();
        assert_eq!(t.expires_at - t.refresh_at, Duration::from_secs(2));
    }

    #[test]
    fn a_fetch_in_flight_in_another_process_is_not_waited_for() {
        // As a child forked while its parent's thread was fetching sees it.
        let c = cache();
        {
            let mut st = c.lock();
            st.fetching = true;
            st.fetcher = std::process::id().wrapping_add(1);
        }
        let started = Instant::now();
        let t = c.get(soon(), |_| issued("t-child", 7200)).unwrap();
        assert_eq!(t.value(), "t-child");
        assert!(started.elapsed() < Duration::from_secs(1));
        // A fetch of this process is waited for (here until the deadline).
        c.lock().fetching = true;
        c.lock().fetcher = std::process::id();
        c.invalidate(&t);
        let e = c
            .get(Instant::now() + Duration::from_millis(50), |_| {
                panic!("fetched twice")
            })
            .unwrap_err();
        assert_eq!(e.kind, Kind::Timeout);
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
                        .get(soon(), |_| {
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
                        .get(soon(), |_| {
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
            c2.get(soon(), |_| {
                std::thread::sleep(Duration::from_millis(300));
                issued("t-slow", 7200)
            })
        });
        std::thread::sleep(Duration::from_millis(50));
        let e = c
            .get(
                Instant::now() + Duration::from_millis(50),
                |_| unreachable!(),
            )
            .unwrap_err();
        assert_eq!(e.kind, Kind::Timeout);
        assert!(fetcher.join().unwrap().is_ok());
    }

    #[test]
    fn invalidation_drops_only_the_failed_token() {
        let c = cache();
        let t1 = c.get(soon(), |_| issued("t-1", 7200)).unwrap();
        c.invalidate(&t1);
        let t2 = c.get(soon(), |_| issued("t-2", 7200)).unwrap();
        assert_eq!(t2.value(), "t-2");
        // A late invalidation of the old token leaves the new one alone.
        c.invalidate(&t1);
        let t3 = c.get(soon(), |_| panic!("t-2 is still cached")).unwrap();
        assert!(Arc::ptr_eq(&t2, &t3));
    }

    #[test]
    fn a_failed_refresh_keeps_the_unexpired_token() {
        let c = cache();
        let t1 = c.get(soon(), |_| issued("t-1", 2)).unwrap(); // refresh after 1 s
        std::thread::sleep(Duration::from_millis(1100));
        let t = c
            .get(soon(), |_| Err(Error::new(Kind::Network, "down")))
            .unwrap();
        assert!(Arc::ptr_eq(&t1, &t));
        let t2 = c.get(soon(), |_| issued("t-2", 7200)).unwrap();
        assert_eq!(t2.value(), "t-2");
    }

    #[test]
    fn nothing_secret_in_debug() {
        let c = cache();
        c.get(soon(), |_| issued("t-visible-only-to-the-server", 7200))
            .unwrap();
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("t-visible"),
            "{shown}"
        );
    }
}
