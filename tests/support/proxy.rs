//! An HTTP `CONNECT` proxy on loopback for the tests, std only.
//!
//! ```ignore
//! #[path = "support/proxy.rs"]
//! mod proxy;
//! let proxy = proxy::ConnectProxy::start_with_auth("user", "secret");
//! // configure the client with proxy.url_with_credentials("user", "secret") ...
//! assert_eq!(proxy.tunnels(), 1);
//! ```
//!
//! Each connection is served by its own thread:
//!
//! 1. The request head is read up to the first `\r\n\r\n` (at most [`MAX_HEAD_BYTES`], within
//!    [`HEAD_TIMEOUT`]; otherwise 400 / 408 and a close). Bytes after it are kept for the target.
//! 2. A method other than `CONNECT` gets `405 Method Not Allowed` (with `Allow: CONNECT`); a
//!    `CONNECT` whose target is not `host:port` or whose version is not `HTTP/1.1` gets
//!    `400 Bad Request`. Both close the connection.
//! 3. The target is recorded (see [`ConnectProxy::targets`]).
//! 4. With credentials configured, a missing or wrong `Proxy-Authorization: Basic ...` gets
//!    `407 Proxy Authentication Required` with `Proxy-Authenticate: Basic realm="test"`, is
//!    counted by [`ConnectProxy::rejected`], and the connection is closed.
//! 5. The target is resolved (`localhost` and any other name through the system resolver) and
//!    each address tried in turn; if none connects, `502 Bad Gateway` and a close.
//! 6. Otherwise the tunnel is counted, `HTTP/1.1 200 Connection established` is sent, and bytes
//!    are relayed both ways (one thread per direction) until both directions are closed. An EOF
//!    on one side becomes a `shutdown(Write)` on the other (half-closes are propagated); a
//!    reset or write error on either side shuts both down.
//!
//! Error responses carry `Content-Length: 0` and `Connection: close`; the proxy then half-closes
//! and reads what the client still sends for at most [`LINGER`], so the response is not lost to
//! a RST. The proxy never panics on what a peer sends. Dropping it stops it within
//! [`STOP_DEADLINE`].

#![allow(dead_code)]

// Included here rather than by each test crate, so this file stays self-contained. A crate
// that includes several of server.rs, proxy.rs and tls.rs (tests/tls_proxy.rs) compiles one
// private copy per includer; none of its types cross from one to another.
#[allow(clippy::duplicate_mod)]
#[path = "listener.rs"]
mod listener;

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use listener::{Connections, Listener, Settings};

/// Largest accepted request head; a longer one gets 400 and a close.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// A client that has not sent its whole request head by then gets 408 and a close.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Timeout of each attempt to connect to the target.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// After an error response, how long the client gets to close its side.
pub const LINGER: Duration = Duration::from_millis(500);
/// How long `stop()` waits for the threads before leaving them behind (they all end on their
/// own shortly after: every socket has been shut down).
pub const STOP_DEADLINE: Duration = Duration::from_millis(250);
/// The realm of the `Proxy-Authenticate` challenge.
pub const REALM: &str = "test";

/// Read timeout of every socket: how often a blocked reader looks at the stop flags.
const POLL: Duration = Duration::from_millis(20);
/// A peer that stops reading gets dropped after this.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
const CHUNK: usize = 16 * 1024;
/// Thread names and stop timing of the proxy's listener.
const LISTENER: Settings = Settings {
    accept_thread: "connect-proxy-accept",
    connection_thread: "connect-proxy",
    wake_timeout: Duration::from_millis(100),
    stop_deadline: STOP_DEADLINE,
};

/// A running CONNECT proxy on `127.0.0.1`. Dropping it stops it.
pub struct ConnectProxy {
    shared: Arc<Shared>,
    /// The accept thread and the connections; dropping it stops the proxy.
    listener: Listener,
}

impl ConnectProxy {
    /// A proxy that tunnels for anyone. Panics if it cannot bind `127.0.0.1:0`.
    pub fn start() -> ConnectProxy {
        ConnectProxy::start_inner(None)
    }

    /// A proxy that requires `Proxy-Authorization: Basic base64(user:password)` (the scheme
    /// name in any case). Panics if it cannot bind `127.0.0.1:0`.
    pub fn start_with_auth(user: &str, password: &str) -> ConnectProxy {
        ConnectProxy::start_inner(Some(base64_encode(format!("{user}:{password}").as_bytes())))
    }

    fn start_inner(credentials: Option<String>) -> ConnectProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("CONNECT proxy: cannot bind 127.0.0.1:0: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("CONNECT proxy: no local address: {e}"));
        let connections = Arc::new(Connections::default());
        let shared = Arc::new(Shared {
            credentials,
            connections: Arc::clone(&connections),
            tunnels: AtomicUsize::new(0),
            rejected: AtomicUsize::new(0),
            connect_failures: AtomicUsize::new(0),
            targets: Mutex::new(Vec::new()),
        });
        let for_connections = Arc::clone(&shared);
        let listener = Listener::start(
            listener,
            addr,
            connections,
            &LISTENER,
            |_| (),
            move |id, client, ()| serve(&for_connections, id, client),
        )
        .unwrap_or_else(|e| panic!("CONNECT proxy: cannot spawn the accept thread: {e}"));
        ConnectProxy { shared, listener }
    }

    /// The address clients connect to (`127.0.0.1:PORT`).
    pub fn addr(&self) -> SocketAddr {
        self.listener.addr()
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// `http://user:password@127.0.0.1:PORT`. Characters outside the URI "unreserved" set are
    /// percent-encoded (so `user` and `password` may contain `:`, `@`, ...); plain
    /// alphanumeric credentials appear as they are.
    pub fn url_with_credentials(&self, user: &str, password: &str) -> String {
        format!(
            "http://{}:{}@{}",
            percent_encode_userinfo(user),
            percent_encode_userinfo(password),
            self.addr()
        )
    }

    /// TCP connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.listener.connections().accepted()
    }

    /// Successful CONNECTs: the target was reached. Counted before the 200 is sent.
    pub fn tunnels(&self) -> usize {
        self.shared.tunnels.load(Ordering::SeqCst)
    }

    /// The `host:port` of every well-formed CONNECT request received, in order of arrival,
    /// whatever came of it (tunnel, 407, 502). Recorded before the proxy answers.
    pub fn targets(&self) -> Vec<String> {
        lock(&self.shared.targets).clone()
    }

    /// CONNECTs answered with 407 (missing or wrong credentials). Counted before the 407 is
    /// sent.
    pub fn rejected(&self) -> usize {
        self.shared.rejected.load(Ordering::SeqCst)
    }

    /// CONNECTs answered with 502 (target unresolvable or unreachable).
    pub fn connect_failures(&self) -> usize {
        self.shared.connect_failures.load(Ordering::SeqCst)
    }

    /// Polls `cond` every 5 ms until it holds (true) or `timeout` passes (false).
    pub fn wait_for(&self, timeout: Duration, cond: impl Fn(&ConnectProxy) -> bool) -> bool {
        listener::poll_until(timeout, || cond(self))
    }

    /// Stops the proxy: no new connections, every open socket (client and target sides) is
    /// shut down, and the threads are joined for at most [`STOP_DEADLINE`]. Idempotent; also
    /// done by `Drop`.
    pub fn stop(&self) {
        self.listener.stop();
    }
}

/// Standard base64 (RFC 4648 alphabet, with `=` padding).
pub fn base64_encode(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let sextet = |n: u32, shift: u32| char::from(ALPHABET[((n >> shift) & 63) as usize]);
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let byte = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (byte(0) << 16) | (byte(1) << 8) | byte(2);
        out.push(sextet(n, 18));
        out.push(sextet(n, 12));
        out.push(if chunk.len() > 1 { sextet(n, 6) } else { '=' });
        out.push(if chunk.len() > 2 { sextet(n, 0) } else { '=' });
    }
    out
}

/// Percent-encodes everything but RFC 3986 "unreserved" characters.
fn percent_encode_userinfo(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Shared state
// ---------------------------------------------------------------------------------------------

struct Shared {
    /// `base64(user:password)` when authentication is required.
    credentials: Option<String>,
    /// The stopping flag and the registry of every connection's open sockets.
    connections: Arc<Connections>,
    tunnels: AtomicUsize,
    rejected: AtomicUsize,
    connect_failures: AtomicUsize,
    targets: Mutex<Vec<String>>,
}

impl Shared {
    fn is_stopping(&self) -> bool {
        self.connections.is_stopping()
    }
}

// ---------------------------------------------------------------------------------------------
// Serving connections
// ---------------------------------------------------------------------------------------------

/// What went wrong while reading the request head.
enum HeadError {
    /// The client closed, reset, or the proxy is stopping: nothing to answer.
    Gone,
    /// Over [`MAX_HEAD_BYTES`].
    TooLarge,
    /// Not complete within [`HEAD_TIMEOUT`].
    TimedOut,
}

/// A parsed, well-formed `CONNECT host:port HTTP/1.1` request.
struct ConnectRequest {
    /// `host:port` as sent.
    target: String,
    /// The host without IPv6 brackets.
    host: String,
    port: u16,
    /// The first `Proxy-Authorization` value, trimmed.
    authorization: Option<String>,
}

/// One client connection (already registered with the listener, which unregisters it when this
/// returns): request head, checks, then the tunnel.
fn serve(shared: &Shared, id: u64, client: TcpStream) {
    let _ = client.set_nodelay(true);
    if client.set_read_timeout(Some(POLL)).is_err()
        || client.set_write_timeout(Some(WRITE_TIMEOUT)).is_err()
    {
        return;
    }

    let (head, leftover) = match read_head(shared, &client) {
        Ok(parts) => parts,
        Err(HeadError::Gone) => return,
        Err(HeadError::TooLarge) => {
            return respond_and_close(shared, &client, 400, "Bad Request", "");
        }
        Err(HeadError::TimedOut) => {
            return respond_and_close(shared, &client, 408, "Request Timeout", "");
        }
    };

    let request = match parse_request(&head) {
        Ok(request) => request,
        Err((405, _)) => {
            return respond_and_close(
                shared,
                &client,
                405,
                "Method Not Allowed",
                "Allow: CONNECT\r\n",
            );
        }
        Err((status, reason)) => return respond_and_close(shared, &client, status, reason, ""),
    };
    lock(&shared.targets).push(request.target.clone());

    let denied = shared
        .credentials
        .as_deref()
        .is_some_and(|expected| !authorized(request.authorization.as_deref(), expected));
    if denied {
        shared.rejected.fetch_add(1, Ordering::SeqCst);
        let challenge = format!("Proxy-Authenticate: Basic realm=\"{REALM}\"\r\n");
        return respond_and_close(
            shared,
            &client,
            407,
            "Proxy Authentication Required",
            &challenge,
        );
    }

    let Some(target) = connect_target(&request.host, request.port) else {
        shared.connect_failures.fetch_add(1, Ordering::SeqCst);
        return respond_and_close(shared, &client, 502, "Bad Gateway", "");
    };
    if !shared.connections.track(id, &target) {
        return;
    }
    let _ = target.set_nodelay(true);
    if target.set_read_timeout(Some(POLL)).is_err()
        || target.set_write_timeout(Some(WRITE_TIMEOUT)).is_err()
    {
        return;
    }

    shared.tunnels.fetch_add(1, Ordering::SeqCst);
    if (&client)
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .is_err()
    {
        return;
    }
    // Bytes the client sent right behind its request head (e.g. a TLS ClientHello).
    if !leftover.is_empty() && (&target).write_all(&leftover).is_err() {
        return;
    }

    let link = Link {
        client,
        target,
        aborted: AtomicBool::new(false),
    };
    thread::scope(|scope| {
        let down = thread::Builder::new()
            .name(format!("connect-proxy-{id}-down"))
            .spawn_scoped(scope, || pipe(shared, &link, &link.target, &link.client));
        if down.is_err() {
            link.abort();
            return;
        }
        pipe(shared, &link, &link.client, &link.target);
        // The scope joins `down`.
    });
}

/// Reads up to and including the first `\r\n\r\n`. Returns the head without that terminator
/// and whatever was read after it.
fn read_head(shared: &Shared, client: &TcpStream) -> Result<(Vec<u8>, Vec<u8>), HeadError> {
    let deadline = Instant::now() + HEAD_TIMEOUT;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    // Where the search for the terminator resumes (it may straddle two reads).
    let mut searched = 0;
    loop {
        if shared.is_stopping() {
            return Err(HeadError::Gone);
        }
        if let Some(pos) = find(&buf[searched..], b"\r\n\r\n") {
            let end = searched + pos;
            let leftover = buf.split_off(end + 4);
            buf.truncate(end);
            return Ok((buf, leftover));
        }
        searched = buf.len().saturating_sub(3);
        if buf.len() > MAX_HEAD_BYTES {
            return Err(HeadError::TooLarge);
        }
        if Instant::now() >= deadline {
            return Err(HeadError::TimedOut);
        }
        match (&*client).read(&mut chunk) {
            Ok(0) => return Err(HeadError::Gone),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if is_retryable(&e) => {}
            Err(_) => return Err(HeadError::Gone),
        }
    }
}

/// Parses the head; `Err((status, reason))` for what should be refused.
fn parse_request(head: &[u8]) -> Result<ConnectRequest, (u16, &'static str)> {
    const BAD: (u16, &str) = (400, "Bad Request");
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or("");
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        // Not even three words: tell a non-CONNECT apart from a garbled CONNECT.
        return Err(if request_line.starts_with("CONNECT ") {
            BAD
        } else {
            (405, "Method Not Allowed")
        });
    };
    if method != "CONNECT" {
        return Err((405, "Method Not Allowed"));
    }
    if version != "HTTP/1.1" {
        return Err(BAD);
    }
    let (host, port) = split_authority(target).ok_or(BAD)?;
    let mut authorization = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if name.trim().eq_ignore_ascii_case("proxy-authorization") && authorization.is_none() {
            authorization = Some(value.trim().to_owned());
        }
    }
    Ok(ConnectRequest {
        target: target.to_owned(),
        host,
        port,
        authorization,
    })
}

/// `host:port` or `[v6]:port` -> (host without brackets, port). The port must be 1-65535.
fn split_authority(target: &str) -> Option<(String, u16)> {
    let (host, port) = target.rsplit_once(':')?;
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let port: u16 = port.parse().ok().filter(|&p| p != 0)?;
    let host = match host.strip_prefix('[') {
        Some(inner) => inner.strip_suffix(']')?,
        None if host.contains(':') => return None,
        None => host,
    };
    let bad_char = |c: char| c.is_whitespace() || c.is_control() || "/?#@[]".contains(c);
    if host.is_empty() || host.contains(bad_char) {
        return None;
    }
    Some((host.to_owned(), port))
}

/// Whether `header` is `Basic <expected>` (scheme name in any case).
fn authorized(header: Option<&str>, expected: &str) -> bool {
    let Some((scheme, token)) = header.and_then(|h| h.split_once(' ')) else {
        return false;
    };
    scheme.eq_ignore_ascii_case("basic") && token.trim() == expected
}

/// Resolves `host` and connects to the first address that answers.
fn connect_target(host: &str, port: u16) -> Option<TcpStream> {
    let addrs = (host, port).to_socket_addrs().ok()?;
    addrs
        .into_iter()
        .find_map(|addr| TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).ok())
}

/// Sends a bodiless error response, half-closes, and waits (at most [`LINGER`]) for the client
/// to close, discarding what it sends.
fn respond_and_close(
    shared: &Shared,
    client: &TcpStream,
    status: u16,
    reason: &str,
    extra_headers: &str,
) {
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\n{extra_headers}Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    if (&*client).write_all(response.as_bytes()).is_err() {
        return;
    }
    let _ = client.shutdown(Shutdown::Write);
    let deadline = Instant::now() + LINGER;
    let mut chunk = [0u8; 4096];
    while Instant::now() < deadline && !shared.is_stopping() {
        match (&*client).read(&mut chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if is_retryable(&e) => {}
            Err(_) => break,
        }
    }
}

/// Both sockets of an established tunnel.
struct Link {
    client: TcpStream,
    target: TcpStream,
    /// Set on a hard error: both sockets have been shut down.
    aborted: AtomicBool,
}

impl Link {
    fn abort(&self) {
        self.aborted.store(true, Ordering::SeqCst);
        let _ = self.client.shutdown(Shutdown::Both);
        let _ = self.target.shutdown(Shutdown::Both);
    }

    fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::SeqCst)
    }
}

/// Copies `from` to `to` until `from`'s EOF, which becomes a `shutdown(Write)` on `to`.
fn pipe(shared: &Shared, link: &Link, mut from: &TcpStream, mut to: &TcpStream) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        if shared.is_stopping() || link.is_aborted() {
            return;
        }
        match from.read(&mut buf) {
            Ok(0) => {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    link.abort();
                    return;
                }
            }
            Err(e) if is_retryable(&e) => {}
            Err(_) => {
                link.abort();
                return;
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn is_retryable(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
