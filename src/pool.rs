//! A client's idle keep-alive connections (all to its one server).
//!
//! Last in, first out: the connection used last is the likeliest to be open,
//! and a burst of calls leaves the extra connections at the bottom, where
//! they age out. A connection leaving the pool is checked with one
//! non-blocking peek (see [`crate::transport::TcpTransport`]); one idle longer
//! than [`MAX_IDLE_AGE`] is closed instead, since a server or a middlebox may
//! have dropped it without a word.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::transport::Connection;

/// The most idle connections a client keeps.
pub(crate) const MAX_IDLE: usize = 64;

/// How long a connection may sit idle and still be used (as ureq's default).
pub(crate) const MAX_IDLE_AGE: Duration = Duration::from_secs(15);

#[derive(Default)]
pub struct Pool {
    idle: Mutex<Vec<(Connection, Instant)>>,
}

impl Pool {
    /// An open idle connection, if there is one; `now` is the time.
    pub fn take(&self, now: Instant) -> Option<Connection> {
        loop {
            // The lock covers the pop only; the check and any close are outside.
            let (mut conn, since) = self.lock().pop()?;
            if now.saturating_duration_since(since) <= MAX_IDLE_AGE && conn.is_open() {
                return Some(conn);
            }
        }
    }

    /// Keeps `conn` for a later call, unless the pool is full; `since`: when
    /// it was last used (its idle age counts from then).
    pub fn put(&self, conn: Connection, since: Instant) {
        let mut idle = self.lock();
        if idle.len() < MAX_IDLE {
            idle.push((conn, since));
            return;
        }
        drop(idle);
        drop(conn);
    }

    /// Idle connections now held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(Connection, Instant)>> {
        // A panic while holding the lock leaves a valid Vec behind.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("idle", &self.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use ureq::unversioned::transport::{Buffers, LazyBuffers, NextTimeout, Transport};

    /// A connection that is open while `open` says so; `id` tells it apart.
    #[derive(Debug)]
    struct Fake {
        // Read through the Debug text (see `id`).
        #[allow(dead_code)]
        id: u32,
        open: Arc<AtomicBool>,
        buffers: LazyBuffers,
    }

    impl Transport for Fake {
        fn buffers(&mut self) -> &mut dyn Buffers {
            &mut self.buffers
        }
        fn transmit_output(&mut self, _: usize, _: NextTimeout) -> Result<(), ureq::Error> {
            Ok(())
        }
        fn await_input(&mut self, _: NextTimeout) -> Result<bool, ureq::Error> {
            Ok(false)
        }
        fn is_open(&mut self) -> bool {
            self.open.load(Ordering::SeqCst)
        }
    }

    fn fake(id: u32) -> (Connection, Arc<AtomicBool>) {
        let open = Arc::new(AtomicBool::new(true));
        let conn = Fake {
            id,
            open: open.clone(),
            buffers: LazyBuffers::new(16, 16),
        };
        (Box::new(conn), open)
    }

    fn id(conn: &Connection) -> u32 {
        // The Debug text of a Fake names its id.
        let text = format!("{conn:?}");
        let start = text.find("id: ").unwrap() + 4;
        text[start..].split(',').next().unwrap().parse().unwrap()
    }

    #[test]
    fn last_in_first_out_skipping_closed_and_old_connections() {
        let pool = Pool::default();
        let t0 = Instant::now();
        assert!(pool.take(t0).is_none());
        let (a, _) = fake(1);
        let (b, b_open) = fake(2);
        let (c, _) = fake(3);
        pool.put(a, t0);
        pool.put(b, t0 + Duration::from_secs(10));
        pool.put(c, t0 + Duration::from_secs(10));
        let now = t0 + Duration::from_secs(20);
        assert_eq!(id(&pool.take(now).unwrap()), 3);
        // 2 was closed by the server, 1 has been idle over 15 s: both dropped.
        b_open.store(false, Ordering::SeqCst);
        assert!(pool.take(now).is_none());
        assert!(pool.is_empty());
    }

    #[test]
    fn at_most_max_idle_are_kept() {
        let pool = Pool::default();
        let now = Instant::now();
        let opens: Vec<_> = (0..MAX_IDLE as u32 + 5)
            .map(|i| {
                let (conn, open) = fake(i);
                pool.put(conn, now);
                open
            })
            .collect();
        assert_eq!(pool.len(), MAX_IDLE);
        assert_eq!(opens.len(), MAX_IDLE + 5);
        // The first ones were kept; the extra ones were closed (dropped).
        assert_eq!(id(&pool.take(now).unwrap()), MAX_IDLE as u32 - 1);
        assert!(Arc::strong_count(&opens[MAX_IDLE]) == 1);
        assert!(Arc::strong_count(&opens[0]) == 2);
    }
}
