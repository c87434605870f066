//! The listener machinery the loopback test servers share (`server.rs`, `proxy.rs`, `tls.rs`):
//! an accept thread, one thread per connection, a registry of every connection's open sockets,
//! and a `stop` that shuts them all down and joins the threads within a deadline.
//!
//! Std only. Each of those files includes it as a child module:
//!
//! ```ignore
//! #[path = "listener.rs"]
//! mod listener;
//! let connections = Arc::new(listener::Connections::default());
//! let listener = listener::Listener::start(
//!     tcp,
//!     addr,
//!     connections,
//!     &SETTINGS,
//!     |_id| (),
//!     move |id, stream, ()| serve(id, stream),
//! )?;
//! // ... listener.stop(), or drop it
//! ```
//!
//! For every accepted connection the accept thread counts it ([`Connections::accepted`]), gives
//! it the next id (1, 2, ...), calls the `on_accept` hook with that id, and spawns a thread named
//! `{connection_thread}-{id}`. That thread registers the socket (see [`Connections::track`];
//! if the listener is already stopping, the socket is just closed) and runs the `serve` handler,
//! which may register more sockets of the same connection (e.g. the one to a backend). They are
//! all removed from the registry when the thread ends. An accept error (e.g. out of file
//! descriptors) backs off 10 ms (less if `stop` begins meanwhile) and goes on. If a thread
//! cannot be spawned, the socket is closed.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How a listener names its threads and how long its `stop` may take.
pub struct Settings {
    /// Name of the accept thread.
    pub accept_thread: &'static str,
    /// Connection `id` is served by a thread named `{connection_thread}-{id}`.
    pub connection_thread: &'static str,
    /// Timeout of the connection `stop` opens to itself to wake the blocking `accept()`.
    pub wake_timeout: Duration,
    /// How long `stop` waits for the threads before leaving them behind (they all end on their
    /// own shortly after: every socket has been shut down).
    pub stop_deadline: Duration,
}

/// The state the accept thread, the connection threads and `stop` share: the stopping flag,
/// the open sockets of every connection, and the connection threads.
#[derive(Default)]
pub struct Connections {
    /// Set once by `begin_stop`; checked by every loop.
    stopping: AtomicBool,
    /// The same flag under a mutex, so sleepers can wait on `stop_cv`.
    stop_flag: Mutex<bool>,
    stop_cv: Condvar,
    /// TCP connections accepted so far.
    accepted: AtomicUsize,
    /// Clones of the open sockets of each connection, so `begin_stop` can shut them down.
    sockets: Mutex<HashMap<u64, Vec<TcpStream>>>,
    /// Connection threads not yet known to be finished.
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Connections {
    /// Whether `stop` has begun.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Sleeps for `duration` or until the listener stops; true if it is stopping.
    pub fn wait_stop(&self, duration: Duration) -> bool {
        let guard = lock(&self.stop_flag);
        let (guard, _) = self
            .stop_cv
            .wait_timeout_while(guard, duration, |stopped| !*stopped)
            .unwrap_or_else(PoisonError::into_inner);
        *guard
    }

    /// TCP connections accepted so far. Counted by the accept thread before the connection's
    /// thread is spawned.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Sets the stopping flag, wakes the sleepers of [`Connections::wait_stop`] and shuts down
    /// every registered socket. Idempotent.
    pub fn begin_stop(&self) {
        if self.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        *lock(&self.stop_flag) = true;
        self.stop_cv.notify_all();
        // Unblocks every read and write in progress: reads return 0, writes fail.
        for sockets in lock(&self.sockets).values() {
            for socket in sockets {
                let _ = socket.shutdown(Shutdown::Both);
            }
        }
    }

    /// Registers a clone of `socket` under connection `id`. False if the listener is stopping
    /// (checked under the lock `begin_stop` takes, so no socket escapes the shutdown) or the
    /// socket cannot be cloned.
    pub fn track(&self, id: u64, socket: &TcpStream) -> bool {
        let Ok(clone) = socket.try_clone() else {
            return false;
        };
        let mut sockets = lock(&self.sockets);
        if self.is_stopping() {
            return false;
        }
        sockets.entry(id).or_default().push(clone);
        true
    }

    fn untrack(&self, id: u64) {
        lock(&self.sockets).remove(&id);
    }
}

/// Removes a connection's sockets from the registry when its thread ends, however it ends.
struct Tracked<'a> {
    connections: &'a Connections,
    id: u64,
}

impl Drop for Tracked<'_> {
    fn drop(&mut self) {
        self.connections.untrack(self.id);
    }
}

/// A running accept thread and its connections. Dropping it stops it.
pub struct Listener {
    /// Where clients connect; `stop` connects there to wake the accept thread.
    addr: SocketAddr,
    connections: Arc<Connections>,
    accept: Mutex<Option<JoinHandle<()>>>,
    wake_timeout: Duration,
    stop_deadline: Duration,
}

impl Listener {
    /// Starts the accept thread on `listener`, which clients (and `stop`) reach at `addr`.
    ///
    /// For every accepted connection, `on_accept(id)` runs on the accept thread (before the
    /// connection's thread is spawned) and its result is handed to `serve(id, stream, result)`,
    /// which runs on the connection's own thread once its socket is registered. Fails only if
    /// the accept thread cannot be spawned.
    pub fn start<A, T, S>(
        listener: TcpListener,
        addr: SocketAddr,
        connections: Arc<Connections>,
        settings: &Settings,
        on_accept: A,
        serve: S,
    ) -> io::Result<Listener>
    where
        A: FnMut(u64) -> T + Send + 'static,
        T: Send + 'static,
        S: Fn(u64, TcpStream, T) + Send + Sync + 'static,
    {
        let for_thread = Arc::clone(&connections);
        let connection_thread = settings.connection_thread;
        let accept = thread::Builder::new()
            .name(settings.accept_thread.into())
            .spawn(move || {
                accept_loop(
                    listener,
                    for_thread,
                    connection_thread,
                    on_accept,
                    Arc::new(serve),
                );
            })?;
        Ok(Listener {
            addr,
            connections,
            accept: Mutex::new(Some(accept)),
            wake_timeout: settings.wake_timeout,
            stop_deadline: settings.stop_deadline,
        })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state (stopping flag, socket registry, accepted count).
    pub fn connections(&self) -> &Connections {
        &self.connections
    }

    /// Stops: no new connections, every registered socket is shut down, and the threads are
    /// joined for at most the `stop_deadline` of the [`Settings`]. Idempotent; also done by
    /// `Drop`.
    pub fn stop(&self) {
        let deadline = Instant::now() + self.stop_deadline;
        self.connections.begin_stop();
        let accept = lock(&self.accept).take();
        if let Some(accept) = accept {
            if !accept.is_finished() {
                // Wake the blocking accept(); the loop sees the flag and ends.
                let _ = TcpStream::connect_timeout(&self.addr, self.wake_timeout);
            }
            join_until(vec![accept], deadline);
        }
        let threads = std::mem::take(&mut *lock(&self.connections.threads));
        join_until(threads, deadline);
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_loop<A, T, S>(
    listener: TcpListener,
    connections: Arc<Connections>,
    connection_thread: &'static str,
    mut on_accept: A,
    serve: Arc<S>,
) where
    A: FnMut(u64) -> T,
    T: Send + 'static,
    S: Fn(u64, TcpStream, T) + Send + Sync + 'static,
{
    let mut next_id: u64 = 0;
    loop {
        let accepted = listener.accept();
        if connections.is_stopping() {
            return;
        }
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(_) => {
                // E.g. out of file descriptors: back off a little and go on.
                if connections.wait_stop(Duration::from_millis(10)) {
                    return;
                }
                continue;
            }
        };
        connections.accepted.fetch_add(1, Ordering::SeqCst);
        next_id += 1;
        let id = next_id;
        let accepted = on_accept(id);
        let for_thread = Arc::clone(&connections);
        let serve = Arc::clone(&serve);
        let spawned = thread::Builder::new()
            .name(format!("{connection_thread}-{id}"))
            .spawn(move || {
                if !for_thread.track(id, &stream) {
                    return;
                }
                let _tracked = Tracked {
                    connections: &for_thread,
                    id,
                };
                serve(id, stream, accepted);
            });
        // If the spawn failed, the closure (and the socket) is dropped: the client sees a close.
        if let Ok(handle) = spawned {
            let mut threads = lock(&connections.threads);
            threads.retain(|t| !t.is_finished());
            threads.push(handle);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Joins the threads that finish before `deadline`; the rest are left detached.
fn join_until(mut handles: Vec<JoinHandle<()>>, deadline: Instant) {
    loop {
        let (done, pending): (Vec<_>, Vec<_>) = handles.into_iter().partition(|h| h.is_finished());
        for handle in done {
            let _ = handle.join();
        }
        if pending.is_empty() || Instant::now() >= deadline {
            return;
        }
        handles = pending;
        thread::sleep(Duration::from_millis(2));
    }
}

/// Polls `cond` every 5 ms until it holds (true) or `timeout` passes (false): for a server's
/// counters that are updated after the client already has its answer.
pub fn poll_until(timeout: Duration, cond: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(5));
    }
}
