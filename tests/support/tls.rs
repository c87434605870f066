//! TLS on loopback for the tests: a throwaway PKI and a TLS-terminating front for a plain
//! TCP backend (typically the mock server of `server.rs`).
//!
//! ```ignore
//! #[path = "support/tls.rs"]
//! mod tls;
//! let pki = tls::TestPki::generate();
//! let front = tls::TlsFront::start(&pki, srv.addr());
//! // trust pki.ca_pem (or pki.write_ca(dir)) and call front.base_url() ...
//! ```
//!
//! [`TestPki::generate`] makes a self-signed CA and a server certificate issued by it for
//! `localhost` and `127.0.0.1`. [`TlsFront`] listens on `127.0.0.1:0`, terminates TLS with
//! that certificate and relays the decrypted bytes, unparsed, to a TCP connection it opens to
//! the backend once the handshake has succeeded; keep-alive therefore works exactly as the
//! backend does it. One thread per connection does the handshake and then carries the client
//! to backend direction; a second one carries the backend to client direction. The
//! `rustls::ServerConnection` sits behind a mutex shared by both; sockets are only read
//! outside it, so neither direction waits for the other.
//!
//! Closing is propagated: a `close_notify` (or a TCP EOF) from the client becomes a
//! `shutdown(Write)` towards the backend; an EOF from the backend becomes a `close_notify` and a
//! `shutdown(Write)` towards the client, after which the client gets [`LINGER`] to close its
//! side. A hard error on either side (reset, TLS error, write timeout) shuts both down.
//!
//! Never panics on what a peer sends. Dropping the front stops it within [`STOP_DEADLINE`].

#![allow(dead_code)]

// Included here rather than by each test crate, so this file stays self-contained. A crate
// that includes several of server.rs, proxy.rs and tls.rs (tests/tls_proxy.rs) compiles one
// private copy per includer; none of its types cross from one to another.
#[allow(clippy::duplicate_mod)]
#[path = "listener.rs"]
mod listener;

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use listener::{Connections, Listener, Settings};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection};

/// Common name of the CA made by [`TestPki::generate`].
pub const CA_NAME: &str = "libfeishu_task test CA";
/// Common name of the CA made by [`other_ca_pem`].
pub const OTHER_CA_NAME: &str = "libfeishu_task unrelated test CA";
/// The subject alternative names of the server certificate (a DNS name and an IP address).
pub const SERVER_NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

/// Read timeout of every socket: how often a blocked reader looks at the stop flags.
const POLL: Duration = Duration::from_millis(20);
/// A peer that stops reading gets dropped after this.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// A client that has not finished its handshake by then is dropped (counted as failed).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Timeout of the TCP connect to the backend.
const BACKEND_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// After the backend closed, how long the client gets to close its side (its bytes are read
/// and dropped meanwhile, so the close does not turn into a RST that could destroy the last
/// response in flight).
pub const LINGER: Duration = Duration::from_secs(1);
/// How long `stop()` waits for the threads before leaving them behind (they all end on their
/// own shortly after: every socket has been shut down).
pub const STOP_DEADLINE: Duration = Duration::from_millis(250);
/// Size of the relay buffers.
const CHUNK: usize = 16 * 1024;
/// Thread names and stop timing of the front's listener.
const LISTENER: Settings = Settings {
    accept_thread: "tls-front-accept",
    connection_thread: "tls-front",
    wake_timeout: Duration::from_millis(100),
    stop_deadline: STOP_DEADLINE,
};

// ---------------------------------------------------------------------------------------------
// PKI
// ---------------------------------------------------------------------------------------------

/// A CA and a server certificate issued by it, all PEM (and DER) encoded.
#[derive(Clone, Debug)]
pub struct TestPki {
    /// The CA certificate ([`CA_NAME`]), PEM.
    pub ca_pem: String,
    /// The server certificate (SANs: DNS `localhost`, IP `127.0.0.1`), PEM.
    pub cert_pem: String,
    /// The server certificate's private key (ECDSA P-256), PKCS#8 PEM.
    pub key_pem: String,
    /// The CA certificate, DER.
    pub ca_der: Vec<u8>,
    /// The server certificate, DER.
    pub cert_der: Vec<u8>,
    /// The server key, PKCS#8 DER.
    pub key_der: Vec<u8>,
}

impl TestPki {
    /// A fresh CA and server certificate (new keys every call). Panics only if rcgen fails.
    pub fn generate() -> TestPki {
        let (ca, ca_key) = new_ca(CA_NAME);

        let key = KeyPair::generate().expect("rcgen: generate the server key");
        let names: Vec<String> = SERVER_NAMES.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("rcgen: server certificate SANs");
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "localhost");
        dn.push(DnType::OrganizationName, "libfeishu_task tests");
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let cert = params
            .signed_by(&key, &ca, &ca_key)
            .expect("rcgen: sign the server certificate");

        TestPki {
            ca_pem: ca.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            ca_der: ca.der().to_vec(),
            cert_der: cert.der().to_vec(),
            key_der: key.serialize_der(),
        }
    }

    /// Writes [`TestPki::ca_pem`] to `dir/ca.pem` and returns that path. Panics on I/O errors.
    pub fn write_ca(&self, dir: &Path) -> PathBuf {
        let path = dir.join("ca.pem");
        std::fs::write(&path, &self.ca_pem)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        path
    }

    /// A rustls server configuration presenting the server certificate, with the ring
    /// provider, TLS 1.2 and 1.3, no client authentication and no ALPN.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("rustls: protocol versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(self.cert_der.clone())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone())),
            )
            .expect("rustls: server certificate and key");
        Arc::new(config)
    }
}

/// The PEM of a freshly made self-signed CA ([`OTHER_CA_NAME`]) that issued nothing we serve:
/// a client trusting only it must reject a [`TlsFront`].
pub fn other_ca_pem() -> String {
    new_ca(OTHER_CA_NAME).0.pem()
}

/// A self-signed CA certificate and its key.
fn new_ca(common_name: &str) -> (rcgen::Certificate, KeyPair) {
    let key = KeyPair::generate().expect("rcgen: generate a CA key");
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::OrganizationName, "libfeishu_task tests");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params
        .self_signed(&key)
        .expect("rcgen: self-sign the CA certificate");
    (cert, key)
}

// ---------------------------------------------------------------------------------------------
// The TLS front
// ---------------------------------------------------------------------------------------------

/// A TLS-terminating relay on `127.0.0.1` in front of a plain TCP backend. Dropping it stops it.
pub struct TlsFront {
    shared: Arc<Shared>,
    /// The accept thread and the connections; dropping it stops the front.
    listener: Listener,
}

impl TlsFront {
    /// Starts a front presenting `pki`'s server certificate, relaying to `backend`. Panics if
    /// it cannot bind `127.0.0.1:0`.
    pub fn start(pki: &TestPki, backend: SocketAddr) -> TlsFront {
        TlsFront::start_with_config(pki.server_config(), backend)
    }

    /// Like [`TlsFront::start`] with a caller-made configuration (e.g. TLS 1.2 only, ALPN).
    pub fn start_with_config(config: Arc<ServerConfig>, backend: SocketAddr) -> TlsFront {
        let listener = TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("TLS front: cannot bind 127.0.0.1:0: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("TLS front: no local address: {e}"));
        let connections = Arc::new(Connections::default());
        let shared = Arc::new(Shared {
            config,
            backend,
            connections: Arc::clone(&connections),
            handshakes_completed: AtomicUsize::new(0),
            handshakes_failed: AtomicUsize::new(0),
            backend_failures: AtomicUsize::new(0),
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
        .unwrap_or_else(|e| panic!("TLS front: cannot spawn the accept thread: {e}"));
        TlsFront { shared, listener }
    }

    /// The address clients connect to (`127.0.0.1:PORT`).
    pub fn addr(&self) -> SocketAddr {
        self.listener.addr()
    }

    /// The backend the decrypted bytes go to.
    pub fn backend(&self) -> SocketAddr {
        self.shared.backend
    }

    /// `https://127.0.0.1:PORT`, no trailing slash.
    pub fn base_url(&self) -> String {
        format!("https://{}", self.addr())
    }

    /// `https://localhost:PORT`, no trailing slash.
    pub fn base_url_localhost(&self) -> String {
        format!("https://localhost:{}", self.addr().port())
    }

    /// TCP connections accepted so far. Counted before the handshake starts, so it is up to
    /// date as soon as a client has received anything.
    pub fn accepted(&self) -> usize {
        self.listener.connections().accepted()
    }

    /// Successful TLS handshakes so far. Counted before any byte is relayed to the backend.
    pub fn handshakes_completed(&self) -> usize {
        self.shared.handshakes_completed.load(Ordering::SeqCst)
    }

    /// Accepted connections whose handshake did not complete: a TLS error or alert (e.g. a
    /// client rejecting the certificate), a close or reset mid-handshake, or
    /// `HANDSHAKE_TIMEOUT`. Not connections cut short by `stop()`. This is counted by the
    /// front's thread after the client has given up, so a test should wait for it, e.g. with
    /// [`TlsFront::wait_for`].
    pub fn handshakes_failed(&self) -> usize {
        self.shared.handshakes_failed.load(Ordering::SeqCst)
    }

    /// Successful handshakes whose backend connection could not be opened (the client then
    /// gets a `close_notify` and nothing else).
    pub fn backend_failures(&self) -> usize {
        self.shared.backend_failures.load(Ordering::SeqCst)
    }

    /// Polls `cond` every 5 ms until it holds (true) or `timeout` passes (false). For the
    /// counters that are updated after the client already has its answer.
    pub fn wait_for(&self, timeout: Duration, cond: impl Fn(&TlsFront) -> bool) -> bool {
        listener::poll_until(timeout, || cond(self))
    }

    /// Stops the front: no new connections, every open one (both of its sockets) is shut
    /// down, and the threads are joined for at most [`STOP_DEADLINE`]. Idempotent; also done
    /// by `Drop`.
    pub fn stop(&self) {
        self.listener.stop();
    }
}

struct Shared {
    config: Arc<ServerConfig>,
    backend: SocketAddr,
    /// The stopping flag and the registry of every connection's open sockets.
    connections: Arc<Connections>,
    handshakes_completed: AtomicUsize,
    handshakes_failed: AtomicUsize,
    backend_failures: AtomicUsize,
}

impl Shared {
    fn is_stopping(&self) -> bool {
        self.connections.is_stopping()
    }
}

/// One client connection (already registered with the listener, which unregisters it when this
/// returns): handshake, backend connect, then relay until both sides are done.
fn serve(shared: &Shared, id: u64, client: TcpStream) {
    let _ = client.set_nodelay(true);
    if client.set_read_timeout(Some(POLL)).is_err()
        || client.set_write_timeout(Some(WRITE_TIMEOUT)).is_err()
    {
        shared.handshakes_failed.fetch_add(1, Ordering::SeqCst);
        return;
    }
    let Ok(mut conn) = ServerConnection::new(Arc::clone(&shared.config)) else {
        shared.handshakes_failed.fetch_add(1, Ordering::SeqCst);
        return;
    };

    match handshake(shared, &mut conn, &client) {
        Handshake::Done => {
            shared.handshakes_completed.fetch_add(1, Ordering::SeqCst);
        }
        Handshake::Failed => {
            shared.handshakes_failed.fetch_add(1, Ordering::SeqCst);
            let _ = client.shutdown(Shutdown::Write);
            return;
        }
        Handshake::Stopped => return,
    }

    // Application data that came in the same reads as the client's Finished.
    let mut early = Vec::new();
    let client_closed = drain_plaintext(&mut conn, &mut early);

    let backend = match TcpStream::connect_timeout(&shared.backend, BACKEND_CONNECT_TIMEOUT) {
        Ok(backend) => backend,
        Err(_) => {
            shared.backend_failures.fetch_add(1, Ordering::SeqCst);
            conn.send_close_notify();
            let _ = flush_tls(&mut conn, &client);
            let _ = client.shutdown(Shutdown::Write);
            return;
        }
    };
    if !shared.connections.track(id, &backend) {
        return;
    }
    let _ = backend.set_nodelay(true);
    if backend.set_read_timeout(Some(POLL)).is_err()
        || backend.set_write_timeout(Some(WRITE_TIMEOUT)).is_err()
    {
        return;
    }
    if !early.is_empty() && (&backend).write_all(&early).is_err() {
        return;
    }
    if client_closed {
        let _ = backend.shutdown(Shutdown::Write);
    }

    let link = Link {
        conn: Mutex::new(conn),
        client,
        backend,
        aborted: AtomicBool::new(false),
        backend_done_at: Mutex::new(None),
    };
    thread::scope(|scope| {
        let down = thread::Builder::new()
            .name(format!("tls-front-{id}-down"))
            .spawn_scoped(scope, || pump_down(shared, &link));
        if down.is_err() {
            link.abort();
            return;
        }
        if !client_closed {
            pump_up(shared, &link);
        }
        // The scope joins `down`: it ends at the backend's EOF, on an error, or on stop.
    });
}

enum Handshake {
    Done,
    Failed,
    Stopped,
}

/// Runs the server side of the handshake on the (read-timeout) client socket.
fn handshake(shared: &Shared, conn: &mut ServerConnection, client: &TcpStream) -> Handshake {
    let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
    let mut socket = client;
    loop {
        // Flushing first also sends what the last flight queued (e.g. TLS 1.3 tickets).
        if flush_tls(conn, client).is_err() {
            return Handshake::Failed;
        }
        if !conn.is_handshaking() {
            return Handshake::Done;
        }
        if shared.is_stopping() {
            return Handshake::Stopped;
        }
        if Instant::now() >= deadline {
            return Handshake::Failed;
        }
        match conn.read_tls(&mut socket) {
            Ok(0) if shared.is_stopping() => return Handshake::Stopped,
            Ok(0) => return Handshake::Failed,
            Ok(_) => {
                if conn.process_new_packets().is_err() {
                    // Send our alert, if any, before giving up.
                    let _ = flush_tls(conn, client);
                    return Handshake::Failed;
                }
            }
            Err(e) if is_retryable(&e) => {}
            Err(_) => {
                return if shared.is_stopping() {
                    Handshake::Stopped
                } else {
                    Handshake::Failed
                };
            }
        }
    }
}

/// The state both directions of an established connection share.
struct Link {
    conn: Mutex<ServerConnection>,
    client: TcpStream,
    backend: TcpStream,
    /// Set on a hard error: both sockets have been shut down.
    aborted: AtomicBool,
    /// When the backend's EOF was passed on to the client (starts the client's linger).
    backend_done_at: Mutex<Option<Instant>>,
}

impl Link {
    fn abort(&self) {
        self.aborted.store(true, Ordering::SeqCst);
        let _ = self.client.shutdown(Shutdown::Both);
        let _ = self.backend.shutdown(Shutdown::Both);
    }

    fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::SeqCst)
    }

    fn backend_done_at(&self) -> Option<Instant> {
        *lock(&self.backend_done_at)
    }
}

/// Client to backend: reads TLS records from the client, decrypts them under the lock, and
/// writes the plaintext to the backend outside it.
fn pump_up(shared: &Shared, link: &Link) {
    let mut buf = vec![0u8; CHUNK];
    let mut plaintext = Vec::new();
    loop {
        if shared.is_stopping() || link.is_aborted() {
            return;
        }
        let backend_done = link.backend_done_at();
        if backend_done.is_some_and(|at| at.elapsed() >= LINGER) {
            return;
        }
        let n = match (&link.client).read(&mut buf) {
            Ok(0) => {
                // TCP EOF (with or without close_notify): pass the half-close on.
                let _ = link.backend.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => n,
            Err(e) if is_retryable(&e) => continue,
            Err(_) => {
                link.abort();
                return;
            }
        };
        let closed = {
            let mut conn = lock(&link.conn);
            let fed = feed(&mut conn, &buf[..n], &mut plaintext);
            // Whatever rustls queued meanwhile: an alert, a key update, ...
            let flushed = flush_tls(&mut conn, &link.client);
            match (fed, flushed) {
                (Ok(closed), Ok(())) => closed,
                _ => {
                    drop(conn);
                    link.abort();
                    return;
                }
            }
        };
        if !plaintext.is_empty() {
            let written = (&link.backend).write_all(&plaintext);
            plaintext.clear();
            // Once the backend has closed, what the client still sends is dropped.
            if written.is_err() && link.backend_done_at().is_none() {
                link.abort();
                return;
            }
        }
        if closed {
            // close_notify: the client will send nothing more.
            let _ = link.backend.shutdown(Shutdown::Write);
            return;
        }
    }
}

/// Backend to client: reads plaintext from the backend, encrypts and sends it under the lock.
fn pump_down(shared: &Shared, link: &Link) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        if shared.is_stopping() || link.is_aborted() {
            return;
        }
        let n = match (&link.backend).read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if is_retryable(&e) => continue,
            Err(_) => {
                link.abort();
                return;
            }
        };
        let mut conn = lock(&link.conn);
        if send_plaintext(&mut conn, &link.client, &buf[..n]).is_err() {
            drop(conn);
            link.abort();
            return;
        }
    }
    if shared.is_stopping() || link.is_aborted() {
        return;
    }
    // The backend's EOF: close_notify, then FIN. Errors are moot (the client may be gone).
    {
        let mut conn = lock(&link.conn);
        conn.send_close_notify();
        let _ = flush_tls(&mut conn, &link.client);
    }
    let _ = link.client.shutdown(Shutdown::Write);
    *lock(&link.backend_done_at) = Some(Instant::now());
}

/// Hands `bytes` (raw TLS from the client) to rustls and collects the plaintext. Ok(true) once
/// the client has sent close_notify.
fn feed(
    conn: &mut ServerConnection,
    mut bytes: &[u8],
    plaintext: &mut Vec<u8>,
) -> Result<bool, ()> {
    let mut closed = false;
    while !bytes.is_empty() {
        match conn.read_tls(&mut bytes) {
            // Nothing more is accepted after a close_notify; the rest is dropped.
            Ok(0) => break,
            Ok(_) => {}
            Err(_) => return Err(()),
        }
        if conn.process_new_packets().is_err() {
            return Err(());
        }
        // Draining after every record batch keeps rustls's plaintext buffer from filling up.
        closed |= drain_plaintext(conn, plaintext);
    }
    Ok(closed)
}

/// Moves the plaintext rustls has decrypted into `out`. True if the client's side is closed
/// (close_notify received, or an EOF rustls already knows of).
fn drain_plaintext(conn: &mut ServerConnection, out: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 4096];
    loop {
        match conn.reader().read(&mut chunk) {
            Ok(0) => return true,
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

/// Encrypts `data` and writes the records to the client.
fn send_plaintext(
    conn: &mut ServerConnection,
    client: &TcpStream,
    mut data: &[u8],
) -> io::Result<()> {
    while !data.is_empty() {
        let accepted = conn.writer().write(data)?;
        data = &data[accepted..];
        let queued = conn.wants_write();
        flush_tls(conn, client)?;
        if accepted == 0 && !queued {
            return Err(io::Error::other("the TLS connection accepts no more data"));
        }
    }
    Ok(())
}

/// Writes every queued TLS record to the client (blocking, with the write timeout).
fn flush_tls(conn: &mut ServerConnection, client: &TcpStream) -> io::Result<()> {
    let mut socket = client;
    while conn.wants_write() {
        if conn.write_tls(&mut socket)? == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
    }
    Ok(())
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
