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
    /// An open idle connection, if there is one.
    pub fn take(&self) -> Option<Connection> {
        loop {
            // The lock covers the pop only; the check and any close are outside.
            let (mut conn, since) = self.lock().pop()?;
            if since.elapsed() <= MAX_IDLE_AGE && conn.is_open() {
                return Some(conn);
            }
        }
    }

    /// Keeps `conn` for a later call, unless the pool is full.
    pub fn put(&self, conn: Connection) {
        let mut idle = self.lock();
        if idle.len() < MAX_IDLE {
            idle.push((conn, Instant::now()));
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
