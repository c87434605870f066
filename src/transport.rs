//! How the client reaches the server: a connection is opened only when the
//! pool has none, by ureq's connector chain (CONNECT proxy, TCP, rustls) with
//! a TCP transport of our own that costs no system calls beyond the reads and
//! writes on a warm keep-alive connection.
//!
//! Names are resolved here, when a connection is opened, within the connect
//! budget: IP literals at once, host names with ureq's resolver (a lookup
//! thread bounded by the timeout). A warm call neither resolves nor spawns.
//!
//! ureq's own `TcpTransport` probes a pooled connection when it leaves the pool
//! and again when it returns (each probe: `ioctl(FIONBIO)`, a 1-byte `recv`,
//! `ioctl(FIONBIO)`), and sets `SO_SNDTIMEO` / `SO_RCVTIMEO` before every write
//! and read, since the time left to the deadline differs by microseconds from
//! call to call: 8 system calls per call on top of the write and the read.
//! [`TcpTransport`] probes with one `recv(MSG_PEEK | MSG_DONTWAIT)` and sets a
//! socket timeout only when its value, rounded down to 10 ms, changes; a
//! timeout that fires early because of the rounding waits out the rest.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::{Arc, Weak};
use std::{fmt, time};

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::time::{Duration, Instant};
use ureq::unversioned::transport::{
    Buffers, ConnectProxyConnector, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout,
    ShutdownHandle, Transport,
};
use ureq::{Error, Timeout};

// The one system call std lacks (a non-blocking peek), kept with the other
// `unsafe` code under src/ffi/.
use crate::ffi::sys;
use crate::tls::TlsConnector;

/// A connection: TCP, maybe through a CONNECT proxy, maybe TLS.
pub type Connection = Box<dyn Transport>;

/// Runs the connector chain for a target (also for the proxy's own connection).
type RunChain = dyn Fn(&ConnectionDetails) -> Result<Connection, Error> + Send + Sync;

/// Opens connections to one server, as configured: resolves (for a direct
/// connection), then runs the chain: ureq's CONNECT proxy connector,
/// [`TcpConnector`], [`TlsConnector`].
pub struct Dialer {
    uri: Uri,
    config: Config,
    connect_timeout: time::Duration,
    resolver: ConnectResolver,
    run: Arc<RunChain>,
}

impl Dialer {
    /// `base_url` is validated (`scheme://host[:port]`); `config` carries
    /// what ureq's connectors read: the proxy, the buffer sizes and the
    /// `User-Agent` of a CONNECT request.
    pub fn new(
        base_url: &str,
        config: Config,
        tls: TlsConnector,
        connect_timeout: time::Duration,
    ) -> Result<Dialer, Error> {
        let uri: Uri = base_url
            .parse()
            .map_err(|_| Error::BadUri(base_url.to_owned()))?;
        let chain = ().chain(ConnectProxyConnector::default()).chain(TcpConnector).chain(tls);
        let run: Arc<RunChain> = Arc::new(move |details: &ConnectionDetails| {
            chain
                .connect(details, None)?
                .map(Transport::boxed)
                .ok_or(Error::ConnectionFailed)
        });
        Ok(Dialer {
            uri,
            config,
            connect_timeout,
            resolver: ConnectResolver::default(),
            run,
        })
    }

    /// Opens a new connection, within the connect timeout cut to `deadline`.
    /// Errors are ureq's (`Timeout(Connect)` when the budget is spent).
    pub fn dial(&self, deadline: time::Instant) -> Result<Connection, Error> {
        let now = time::Instant::now();
        let budget = deadline
            .saturating_duration_since(now)
            .min(self.connect_timeout);
        if budget.is_zero() {
            return Err(Error::Timeout(Timeout::Connect));
        }
        let timeout = NextTimeout {
            after: Duration::Exact(budget),
            reason: Timeout::Connect,
            per_read: None,
            per_write: None,
        };
        // Through a CONNECT proxy, the proxy resolves the target; the proxy's
        // own address is resolved by ConnectProxyConnector with `resolver`.
        let direct = self.config.proxy().is_none_or(|p| p.is_no_proxy(&self.uri));
        let addrs = if direct {
            self.resolver.resolve(&self.uri, &self.config, timeout)?
        } else {
            self.resolver.empty()
        };
        let details = ConnectionDetails {
            uri: &self.uri,
            addrs,
            config: &self.config,
            request_level: false,
            resolver: &self.resolver,
            now: Instant::Exact(now),
            timeout,
            current_time: Arc::new(|| Instant::Exact(time::Instant::now())),
            run_connector: self.run.clone(),
            // Nothing shuts connections down from outside: a call owns its
            // connection, the pool its idle ones.
            register_shutdown: Arc::new(|_| Ok(())),
        };
        (self.run)(&details)
    }
}

impl fmt::Debug for Dialer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dialer").field("uri", &self.uri).finish()
    }
}

/// Resolves for real: IP literals at once, host names with ureq's resolver
/// (a lookup thread bounded by the timeout).
#[derive(Debug, Default)]
pub struct ConnectResolver {
    dns: DefaultResolver,
}

impl Resolver for ConnectResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, Error> {
        let host = uri.host().unwrap_or("");
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = literal.parse::<IpAddr>() {
            let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
                Some("https") => 443,
                _ => 80,
            });
            let mut addrs = self.empty();
            addrs.push(SocketAddr::new(ip, port));
            return Ok(addrs);
        }
        self.dns.resolve(uri, config, timeout)
    }
}

/// Opens plain TCP connections: ureq's `TcpConnector` (same address order,
/// per-address budgets, errors and shutdown registration) making a
/// [`TcpTransport`]. A transport from earlier in the chain (a CONNECT proxy
/// tunnel) passes through.
#[derive(Debug, Default)]
pub struct TcpConnector;

impl<In: Transport> Connector<In> for TcpConnector {
    type Out = Either<In, TcpTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, Error> {
        if let Some(transport) = chained {
            return Ok(Some(Either::A(transport)));
        }
        let config = details.config;
        let (stream, peer) = connect_any(
            &details.addrs,
            details.now,
            details.timeout,
            &*details.current_time,
            |addr, budget| connect_one(addr, budget, config.no_delay()),
        )?;
        let buffers = LazyBuffers::new(config.input_buffer_size(), config.output_buffer_size());
        let transport = TcpTransport::new(stream, peer, buffers);
        // As ureq does: the agent keeps a Weak to the socket, to shut it down
        // (waking blocked I/O) on `Agent::shutdown`; registering fails once the
        // agent is shut down.
        (details.register_shutdown)(transport.shutdown_handle())?;
        Ok(Some(Either::B(transport)))
    }
}

/// The shortest connect budget of an address, as in ureq.
const MIN_PER_ADDRESS: time::Duration = time::Duration::from_millis(10);

/// Connects to the first address of `addrs` that accepts, as ureq's
/// `try_connect`: the connect budget is shared among the addresses as 1/2,
/// 1/4, … of the whole (normalised to sum to it, at least 10 ms each); an
/// address refused or unreachable, or timing out before the whole budget is
/// spent, moves on to the next; any other error stops; when all fail, the last
/// failure is returned (no address at all: "connection refused").
fn connect_any<T>(
    addrs: &ResolvedSocketAddrs,
    start: Instant,
    timeout: NextTimeout,
    now: &dyn Fn() -> Instant,
    mut connect: impl FnMut(SocketAddr, Option<time::Duration>) -> Result<T, Error>,
) -> Result<T, Error> {
    let total_weight = 2.0 * (1.0 - 0.5_f64.powi(addrs.len() as i32));
    let mut weight = 1.0_f64;
    let mut last_err = None;
    for &addr in addrs.iter() {
        let budget = timeout.not_zero().map(|t| {
            let secs = t.as_secs_f64() * weight / total_weight;
            time::Duration::from_millis((secs * 1000.0) as u64).max(MIN_PER_ADDRESS)
        });
        match connect(addr, budget) {
            Ok(v) => return Ok(v),
            Err(Error::Io(e)) if is_addr_specific(&e) => last_err = Some(Error::Io(e)),
            Err(e @ Error::Timeout(_)) => {
                if elapsed(start, now()) > timeout.after {
                    return Err(Error::Timeout(timeout.reason));
                }
                last_err = Some(e);
            }
            Err(e) => return Err(e),
        }
        weight /= 2.0;
    }
    Err(last_err.unwrap_or_else(|| {
        Error::Io(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            "Connection refused",
        ))
    }))
}

/// `now - start` with ureq's rules for its instants in the past and future.
fn elapsed(start: Instant, now: Instant) -> Duration {
    match (now, start) {
        (Instant::Exact(now), Instant::Exact(start)) => {
            Duration::Exact(now.saturating_duration_since(start))
        }
        (Instant::AlreadyHappened, _) | (Instant::Exact(_), Instant::NotHappening) => {
            Duration::Exact(time::Duration::ZERO)
        }
        (Instant::Exact(_), Instant::AlreadyHappened) | (Instant::NotHappening, _) => {
            Duration::NotHappening
        }
    }
}

/// A connect failure that concerns only the address tried (ureq's list).
fn is_addr_specific(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
            | io::ErrorKind::NetworkDown
            | io::ErrorKind::AddrNotAvailable
    )
}

fn connect_one(
    addr: SocketAddr,
    budget: Option<time::Duration>,
    no_delay: bool,
) -> Result<(TcpStream, SocketAddr), Error> {
    let stream = match budget {
        Some(budget) => TcpStream::connect_timeout(&addr, budget),
        None => TcpStream::connect(addr),
    };
    let stream = match stream {
        Ok(stream) => stream,
        // connect_any replaces the reason when the whole budget is spent.
        Err(e) if is_timeout(&e) => return Err(Error::Timeout(Timeout::Connect)),
        Err(e) => return Err(e.into()),
    };
    if no_delay {
        stream.set_nodelay(true)?;
    }
    Ok((stream, addr))
}

/// A plain TCP connection: ureq's `TcpTransport` with cheaper bookkeeping.
///
/// - [`Transport::is_open`] is one `recv(MSG_PEEK | MSG_DONTWAIT)`: open when
///   nothing is waiting; closed on end of stream, an error, or unexpected bytes
///   (a body not read to its end, or garbage from the server).
/// - A read or write sets the socket's timeout to the time left, rounded down
///   to 10 ms (see `coarse`), and only when that differs from the one set:
///   on a warm connection the rounded value is the same call after call. When
///   the socket times out before the time left is spent (the rounding), the
///   rest is waited out, so a timeout is reported neither early nor late.
/// - Timeouts are `Error::Timeout` with the reason of the [`NextTimeout`],
///   other failures `Error::Io`; a read at end of stream makes no progress
///   (`Ok(false)`); a read interrupted by a signal is retried within the time
///   left (without a timeout, it returns `Interrupted`, as in ureq); writes are
///   retried after a signal and continue after a partial write.
pub struct TcpTransport {
    /// Shared (weakly) with the agent's [`ShutdownHandle`].
    stream: Arc<TcpStream>,
    peer: SocketAddr,
    buffers: LazyBuffers,
    /// The `SO_RCVTIMEO` / `SO_SNDTIMEO` now set (`None`: none, the default).
    read_timeout: Option<time::Duration>,
    write_timeout: Option<time::Duration>,
}

impl TcpTransport {
    fn new(stream: TcpStream, peer: SocketAddr, buffers: LazyBuffers) -> TcpTransport {
        TcpTransport {
            stream: Arc::new(stream),
            peer,
            buffers,
            read_timeout: None,
            write_timeout: None,
        }
    }

    /// The handle ureq's `TcpConnector` registers: ureq shuts a `TcpStream`
    /// down (both directions) through it.
    fn shutdown_handle(&self) -> Weak<dyn ShutdownHandle> {
        Arc::downgrade(&self.stream) as Weak<dyn ShutdownHandle>
    }
}

/// Which socket timeout an operation uses.
#[derive(Clone, Copy)]
enum Direction {
    Read,
    Write,
}

/// The socket timeout to set for `left`: rounded down to a multiple of 10 ms,
/// so that it is the same from one call to the next; `left` itself when that
/// is zero (under 10 ms). Never above `left`, never zero (for `left` > 0).
fn coarse(left: time::Duration) -> time::Duration {
    const STEP_NANOS: u32 = 10_000_000;
    let rounded = time::Duration::new(
        left.as_secs(),
        left.subsec_nanos() / STEP_NANOS * STEP_NANOS,
    );
    if rounded.is_zero() { left } else { rounded }
}

/// Sets the socket's `direction` timeout to `value` unless it is already set
/// (`current`). As in ureq, a failure leaves `current` alone and is returned,
/// except macOS's refusal after the peer closed (the I/O reports the outcome).
fn set_timeout(
    stream: &TcpStream,
    direction: Direction,
    current: &mut Option<time::Duration>,
    value: Option<time::Duration>,
) -> io::Result<()> {
    if *current == value {
        return Ok(());
    }
    let result = match direction {
        Direction::Read => stream.set_read_timeout(value),
        Direction::Write => stream.set_write_timeout(value),
    };
    match result {
        Ok(()) => *current = value,
        Err(e) if cfg!(target_os = "macos") && e.kind() == io::ErrorKind::InvalidInput => {}
        Err(e) => return Err(e),
    }
    Ok(())
}

/// A socket timeout (std reports `WouldBlock` on Unix, `TimedOut` elsewhere).
fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Runs `op`, one blocking read or write system call, within `budget` counted
/// from `started` (`None`: no limit). The socket timeout is set to
/// [`coarse`]`(budget)` when it is not already; if the call times out or is
/// interrupted with time left, the timeout is set to exactly what is left and
/// the call made again.
/// Interrupted without a budget: returned for a read (ureq's rule: only a
/// handler installed without SA_RESTART interrupts it, and it asked to be),
/// retried for a write (as `write_all`).
fn within<T>(
    stream: &TcpStream,
    direction: Direction,
    current: &mut Option<time::Duration>,
    budget: Option<(time::Duration, time::Instant)>,
    mut op: impl FnMut(&TcpStream) -> io::Result<T>,
) -> io::Result<T> {
    let (budget, started) = (budget.map(|b| b.0), budget.map(|b| b.1));
    set_timeout(stream, direction, current, budget.map(coarse))?;
    loop {
        let err = match op(stream) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted || is_timeout(&e) => e,
            done => return done,
        };
        let (Some(budget), Some(started)) = (budget, started) else {
            match direction {
                Direction::Write if err.kind() == io::ErrorKind::Interrupted => continue,
                _ => return Err(err),
            }
        };
        let left = budget.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Err(if is_timeout(&err) {
                err
            } else {
                io::ErrorKind::TimedOut.into()
            });
        }
        set_timeout(stream, direction, current, Some(left))?;
    }
}

/// ureq's mapping of a failed read or write: a timeout is `Error::Timeout`
/// with the reason of the timeout that applied, the rest `Error::Io`.
fn io_failure(e: io::Error, reason: Timeout) -> Error {
    if is_timeout(&e) {
        Error::Timeout(reason)
    } else {
        e.into()
    }
}

/// `NextTimeout::check`, which ureq keeps to itself: no time left is a timeout.
fn time_left(timeout: NextTimeout) -> Result<NextTimeout, Error> {
    if timeout.after.is_zero() {
        Err(Error::Timeout(timeout.reason))
    } else {
        Ok(timeout)
    }
}

impl Transport for TcpTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), Error> {
        let timeout = time_left(timeout.for_write())?;
        // The budget is the whole write's: a partial write leaves less.
        let budget = timeout.not_zero().map(|t| *t);
        let started = budget.map(|_| time::Instant::now());
        let mut output = &self.buffers.output()[..amount];
        let mut first = true;
        while !output.is_empty() {
            let left = match (budget, started) {
                (Some(b), Some(s)) if first => Some((b, s)),
                (Some(b), Some(s)) => {
                    let now = time::Instant::now();
                    match b.checked_sub(now - s) {
                        Some(left) if !left.is_zero() => Some((left, now)),
                        _ => return Err(Error::Timeout(timeout.reason)),
                    }
                }
                _ => None,
            };
            first = false;
            let written = within(
                &self.stream,
                Direction::Write,
                &mut self.write_timeout,
                left,
                |mut stream| stream.write(output),
            )
            .map_err(|e| io_failure(e, timeout.reason))?;
            if written == 0 {
                return Err(io::Error::from(io::ErrorKind::WriteZero).into());
            }
            output = &output[written..];
        }
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, Error> {
        let timeout = time_left(timeout.for_read())?;
        let budget = timeout.not_zero().map(|t| (*t, time::Instant::now()));
        let input = self.buffers.input_append_buf();
        let amount = within(
            &self.stream,
            Direction::Read,
            &mut self.read_timeout,
            budget,
            |mut stream| stream.read(input),
        )
        .map_err(|e| io_failure(e, timeout.reason))?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        loop {
            return match sys::peek_nonblocking(&self.stream) {
                // Nothing waiting: idle and open.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // End of stream, unexpected bytes, or an error (a reset, …).
                _ => false,
            };
        }
    }
}

impl fmt::Debug for TcpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpTransport")
            .field("addr", &self.peer)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Shutdown, TcpListener};
    use std::sync::Mutex;
    use std::thread;

    const SECOND: time::Duration = time::Duration::from_secs(1);

    fn ms(n: u64) -> time::Duration {
        time::Duration::from_millis(n)
    }

    fn us(n: u64) -> time::Duration {
        time::Duration::from_micros(n)
    }

    /// A transport connected to the returned server side, on loopback.
    fn pair(output: usize) -> (TcpTransport, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).unwrap();
        let (server, _) = listener.accept().unwrap();
        (
            TcpTransport::new(client, addr, LazyBuffers::new(1024, output)),
            server,
        )
    }

    fn next(after: time::Duration, reason: Timeout) -> NextTimeout {
        NextTimeout {
            after: Duration::Exact(after),
            reason,
            ..NextTimeout::default()
        }
    }

    /// Waits (up to 5 s) for `is_open` to turn false: loopback delivers at
    /// once, but not synchronously with the peer's call.
    fn closes(t: &mut TcpTransport) -> bool {
        for _ in 0..500 {
            if !t.is_open() {
                return true;
            }
            thread::sleep(ms(10));
        }
        false
    }

    fn take_input(t: &mut TcpTransport) -> Vec<u8> {
        let input = t.buffers().input().to_vec();
        t.buffers().input_consume(input.len());
        input
    }

    #[test]
    fn coarse_rounds_down_to_10_ms_and_never_to_zero() {
        assert_eq!(coarse(SECOND * 10 - us(37)), SECOND * 10 - ms(10));
        assert_eq!(coarse(SECOND * 10), SECOND * 10);
        assert_eq!(coarse(ms(19) + us(999)), ms(10));
        assert_eq!(coarse(ms(10)), ms(10));
        // Under 10 ms: the time left itself.
        assert_eq!(coarse(ms(7) + us(3)), ms(7) + us(3));
        assert_eq!(
            coarse(time::Duration::from_nanos(1)),
            time::Duration::from_nanos(1)
        );
        let huge = time::Duration::new(u64::MAX, 999_999_999);
        assert_eq!(coarse(huge), time::Duration::new(u64::MAX, 990_000_000));
    }

    #[test]
    fn idle_connection_is_open_and_the_probe_takes_nothing() {
        let (mut t, mut server) = pair(1024);
        assert!(t.is_open());
        assert!(t.is_open());
        server.write_all(b"x").unwrap();
        // Unexpected bytes: not reusable.
        assert!(closes(&mut t));
        // The peek left the byte in the socket.
        assert!(t.await_input(next(SECOND, Timeout::RecvBody)).unwrap());
        assert_eq!(take_input(&mut t), b"x");
        assert!(t.is_open());
    }

    #[test]
    fn closed_by_the_peer_is_not_open_and_reads_end_of_stream() {
        let (mut t, server) = pair(1024);
        drop(server);
        assert!(closes(&mut t));
        assert!(!t.await_input(next(SECOND, Timeout::RecvResponse)).unwrap());
    }

    #[test]
    fn read_timeout_is_set_only_when_its_rounded_value_changes() {
        let (mut t, mut server) = pair(1024);
        let mut read = |t: &mut TcpTransport, timeout: NextTimeout| {
            server.write_all(b"y").unwrap();
            assert!(t.await_input(timeout).unwrap());
            assert_eq!(take_input(t), b"y");
        };
        read(&mut t, next(SECOND * 5 + us(300), Timeout::RecvResponse));
        assert_eq!(t.read_timeout, Some(SECOND * 5));
        assert_eq!(t.stream.read_timeout().unwrap(), Some(SECOND * 5));
        // Change the socket behind the transport's back: a call whose rounded
        // value is the same must not set it again.
        t.stream.set_read_timeout(Some(SECOND * 7)).unwrap();
        read(&mut t, next(SECOND * 5 + us(100), Timeout::RecvResponse));
        read(&mut t, next(SECOND * 5 + ms(9), Timeout::RecvBody));
        assert_eq!(t.stream.read_timeout().unwrap(), Some(SECOND * 7));
        // A different rounded value is set (the kernel keeps it in ticks of
        // up to 4 ms: 4.52 s is a whole number of them).
        read(&mut t, next(SECOND * 4 + ms(523), Timeout::RecvResponse));
        assert_eq!(t.read_timeout, Some(SECOND * 4 + ms(520)));
        assert_eq!(t.stream.read_timeout().unwrap(), Some(SECOND * 4 + ms(520)));
        // No deadline: no socket timeout.
        read(&mut t, NextTimeout::default());
        assert_eq!(t.read_timeout, None);
        assert_eq!(t.stream.read_timeout().unwrap(), None);
        // The write timeout is apart.
        assert_eq!(t.stream.write_timeout().unwrap(), None);
        t.buffers().output()[..2].copy_from_slice(b"hi");
        t.transmit_output(2, next(SECOND * 3 + us(1), Timeout::SendRequest))
            .unwrap();
        assert_eq!(t.write_timeout, Some(SECOND * 3));
        assert_eq!(t.stream.write_timeout().unwrap(), Some(SECOND * 3));
        let mut got = [0; 2];
        server.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hi");
    }

    #[test]
    fn read_timeout_is_reported_with_its_reason_and_not_early() {
        let (mut t, _server) = pair(1024);
        // 55 ms: the socket is set to 50 ms, then to what is left.
        let started = time::Instant::now();
        let err = t
            .await_input(next(ms(55), Timeout::RecvResponse))
            .unwrap_err();
        assert!(
            matches!(err, Error::Timeout(Timeout::RecvResponse)),
            "{err:?}"
        );
        assert!(started.elapsed() >= ms(55), "{:?}", started.elapsed());
        // A per-read timeout shorter than the time left has its own reason.
        let per_read = NextTimeout {
            per_read: Some(Duration::Exact(ms(20))),
            ..next(SECOND * 10, Timeout::Global)
        };
        let err = t.await_input(per_read).unwrap_err();
        assert!(matches!(err, Error::Timeout(Timeout::PerRead)), "{err:?}");
        // No time left: a timeout without I/O.
        let err = t
            .await_input(next(time::Duration::ZERO, Timeout::RecvBody))
            .unwrap_err();
        assert!(matches!(err, Error::Timeout(Timeout::RecvBody)), "{err:?}");
        let err = t
            .transmit_output(1, next(time::Duration::ZERO, Timeout::SendRequest))
            .unwrap_err();
        assert!(
            matches!(err, Error::Timeout(Timeout::SendRequest)),
            "{err:?}"
        );
    }

    #[test]
    fn large_writes_complete_across_partial_writes() {
        const LEN: usize = 16 << 20;
        let (mut t, mut server) = pair(LEN);
        let reader = thread::spawn(move || {
            let mut all = Vec::new();
            server.read_to_end(&mut all).unwrap();
            all
        });
        for (i, b) in t.buffers().output().iter_mut().enumerate() {
            *b = (i % 251) as u8;
        }
        t.transmit_output(LEN, next(SECOND * 30, Timeout::SendBody))
            .unwrap();
        t.stream.shutdown(Shutdown::Write).unwrap();
        let all = reader.join().unwrap();
        assert_eq!(all.len(), LEN);
        assert!(all.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
    }

    #[test]
    fn write_timeout_is_reported_with_its_reason_and_not_early() {
        // More than loopback buffers hold, to a server that reads nothing.
        const LEN: usize = 64 << 20;
        let (mut t, _server) = pair(LEN);
        let started = time::Instant::now();
        let err = t
            .transmit_output(LEN, next(ms(105), Timeout::SendRequest))
            .unwrap_err();
        assert!(
            matches!(err, Error::Timeout(Timeout::SendRequest)),
            "{err:?}"
        );
        assert!(started.elapsed() >= ms(105), "{:?}", started.elapsed());
    }

    #[test]
    fn connector_tries_addresses_in_order_and_registers_the_socket() {
        let refused = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let good = listener.local_addr().unwrap();
        let resolver = ConnectResolver::default();
        let mut addrs = resolver.empty();
        addrs.push(refused);
        addrs.push(good);
        let registered: Arc<Mutex<Vec<Weak<dyn ShutdownHandle>>>> = Arc::default();
        let config = Config::default();
        let uri: Uri = format!("http://{good}/").parse().unwrap();
        let details = ConnectionDetails {
            uri: &uri,
            addrs,
            config: &config,
            request_level: false,
            resolver: &resolver,
            now: Instant::now(),
            timeout: next(SECOND * 5, Timeout::Connect),
            current_time: Arc::new(Instant::now),
            run_connector: Arc::new(|_: &ConnectionDetails| Err(Error::ConnectionFailed)),
            register_shutdown: {
                let registered = registered.clone();
                Arc::new(move |h| {
                    registered.lock().unwrap().push(h);
                    Ok(())
                })
            },
        };
        let Some(Either::B(mut t)) = TcpConnector.connect(&details, None::<()>).unwrap() else {
            panic!("no TCP transport");
        };
        let (_server, _) = listener.accept().unwrap();
        assert_eq!(t.peer, good);
        assert!(t.stream.nodelay().unwrap());
        assert!(t.is_open());
        // The registered handle shuts the socket down, waking a blocked read.
        let handle = registered.lock().unwrap().pop().unwrap();
        assert!(registered.lock().unwrap().is_empty());
        let reader = thread::spawn(move || t.await_input(NextTimeout::default()));
        thread::sleep(ms(50));
        handle.upgrade().unwrap().shutdown();
        assert!(!reader.join().unwrap().unwrap());
        assert!(handle.upgrade().is_none());

        // A chained transport passes through; no socket is opened.
        let details = ConnectionDetails {
            addrs: resolver.empty(),
            ..details
        };
        let (chained, _server) = pair(16);
        let out = TcpConnector.connect(&details, Some(chained)).unwrap();
        assert!(matches!(out, Some(Either::A(_))));
        assert!(registered.lock().unwrap().is_empty());
        // No address at all: refused, as in ureq.
        let err = TcpConnector
            .connect(&details, None::<()>)
            .map(|_| ())
            .unwrap_err();
        assert!(
            matches!(&err, Error::Io(e) if e.kind() == io::ErrorKind::ConnectionRefused),
            "{err:?}"
        );
    }

    /// connect_any over `outcomes` (one address each), the clock reading
    /// `elapsed` after the start; returns the result, the budgets given.
    fn scripted(
        outcomes: Vec<Result<(), Error>>,
        elapsed: time::Duration,
    ) -> (Result<(), Error>, Vec<Option<time::Duration>>) {
        let mut addrs = ConnectResolver::default().empty();
        for i in 0..outcomes.len() {
            addrs.push(SocketAddr::from(([127, 0, 0, 1], 10000 + i as u16)));
        }
        let start = Instant::now();
        let mut outcomes = outcomes.into_iter();
        let mut budgets = Vec::new();
        let now = move || match start {
            Instant::Exact(t) => Instant::Exact(t + elapsed),
            other => other,
        };
        let result = connect_any(&addrs, start, next(SECOND * 10, Timeout::Global), &now, {
            |addr, budget| {
                assert_eq!(addr, addrs[budgets.len()]);
                budgets.push(budget);
                outcomes.next().unwrap()
            }
        });
        (result, budgets)
    }

    fn io_err(kind: io::ErrorKind) -> Result<(), Error> {
        Err(io::Error::from(kind).into())
    }

    #[test]
    fn connect_moves_on_after_address_specific_failures_only() {
        let (result, budgets) = scripted(
            vec![
                io_err(io::ErrorKind::ConnectionRefused),
                Err(Error::Timeout(Timeout::Connect)),
                Ok(()),
            ],
            SECOND,
        );
        assert!(result.is_ok());
        // 10 s shared as 4/7, 2/7, 1/7.
        assert_eq!(
            budgets,
            vec![Some(ms(5714)), Some(ms(2857)), Some(ms(1428))]
        );
        let (result, budgets) = scripted(
            vec![io_err(io::ErrorKind::PermissionDenied), Ok(())],
            SECOND,
        );
        assert!(matches!(result, Err(Error::Io(e)) if e.kind() == io::ErrorKind::PermissionDenied));
        assert_eq!(budgets.len(), 1);
    }

    #[test]
    fn connect_reports_the_whole_budget_spent_or_the_last_failure() {
        let (result, budgets) = scripted(
            vec![Err(Error::Timeout(Timeout::Connect)), Ok(())],
            SECOND * 11,
        );
        assert!(
            matches!(result, Err(Error::Timeout(Timeout::Global))),
            "{result:?}"
        );
        assert_eq!(budgets.len(), 1);
        let (result, _) = scripted(
            vec![
                Err(Error::Timeout(Timeout::Connect)),
                io_err(io::ErrorKind::HostUnreachable),
            ],
            SECOND,
        );
        assert!(matches!(result, Err(Error::Io(e)) if e.kind() == io::ErrorKind::HostUnreachable));
        let (result, budgets) = scripted(vec![], SECOND);
        assert!(
            matches!(result, Err(Error::Io(e)) if e.kind() == io::ErrorKind::ConnectionRefused)
        );
        assert!(budgets.is_empty());
    }
}
