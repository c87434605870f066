//! HTTP/1.1 for the library's two requests (a GET of task_check, a POST to
//! the token endpoint) on one connection: the request written straight into
//! the connection's output buffer and wiped once sent (it carries a token or
//! the app secret), and the response read whole, its head parsed in place
//! (httparse), its body framed by `Content-Length`, the chunked coding or the
//! end of the connection, at most [`MAX_BODY_LEN`] bytes.
//!
//! This is all the HTTP the library needs, and all it pays for on a warm call:
//! no URL parsing, no header map, no allocation once the thread's buffers have
//! their working size. Connections come from [`crate::transport`].

use std::time::{Duration, Instant};

use ureq::Timeout;
use ureq::unversioned::transport::{NextTimeout, Transport, time};

use crate::api::{MAX_BODY_LEN, Reply};
use crate::error::{Error, Kind, Retry};

/// The largest response head accepted (the connection's input buffer).
pub(crate) const MAX_HEAD_LEN: usize = 16 * 1024;

/// The most header fields a response head may have.
const MAX_HEADERS: usize = 64;

/// The longest line of the chunked coding (a size with extensions, a trailer).
const MAX_CHUNK_LINE: usize = 4096;

/// When a call must end, and its whole length (for messages).
#[derive(Clone, Copy, Debug)]
pub struct Deadline {
    pub at: Instant,
    pub whole: Duration,
}

impl Deadline {
    /// The error of a call that ran out of time.
    pub fn passed(&self) -> Error {
        Error::new(
            Kind::Timeout,
            format!(
                "no complete response within the {} ms deadline",
                self.whole.as_millis()
            ),
        )
    }

    /// The time left for the next read or write, failing when there is none.
    fn next(&self, reason: Timeout) -> Result<NextTimeout, Error> {
        let left = self.at.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(failure(ureq::Error::Timeout(reason), self));
        }
        Ok(NextTimeout {
            after: time::Duration::Exact(left),
            reason,
            per_read: None,
            per_write: None,
        })
    }
}

/// A request being written into an output buffer; what does not fit is noted
/// and the request refused.
pub struct Writer<'a> {
    buf: &'a mut [u8],
    len: usize,
    overflow: bool,
}

impl Writer<'_> {
    pub fn push(&mut self, bytes: &[u8]) {
        match self.buf.get_mut(self.len..self.len + bytes.len()) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                self.len += bytes.len();
            }
            None => self.overflow = true,
        }
    }
}

/// Writes a request with `write` into the connection's output buffer, sends
/// it, and wipes the buffer.
pub fn send(
    conn: &mut dyn Transport,
    deadline: &Deadline,
    write: impl FnOnce(&mut Writer<'_>),
) -> Result<(), Error> {
    let mut w = Writer {
        buf: conn.buffers().output(),
        len: 0,
        overflow: false,
    };
    write(&mut w);
    let (len, overflow) = (w.len, w.overflow);
    let result = if overflow {
        Err(Error::invalid(
            "the request does not fit the connection's 16 KiB output buffer",
        ))
    } else {
        deadline.next(Timeout::SendRequest).and_then(|t| {
            conn.transmit_output(len, t)
                .map_err(|e| failure(e, deadline))
        })
    };
    conn.buffers().output()[..len].fill(0);
    result
}

/// A response, read whole into buffers that a thread reuses from call to call.
#[derive(Debug, Default)]
pub struct Response {
    pub status: u16,
    /// Whether any byte of a response arrived.
    pub received: bool,
    /// The values of [`FIELDS`] as `(start, end)` in `values`.
    spans: [Option<(usize, usize)>; 4],
    values: Vec<u8>,
    pub body: Vec<u8>,
}

/// The header fields kept, in the order of `Response::spans`.
const FIELDS: [&str; 4] = [
    "x-tt-logid",
    "x-ogw-ratelimit-reset",
    "content-type",
    "location",
];

impl Response {
    fn field(&self, i: usize) -> Option<&str> {
        let (start, end) = self.spans[i]?;
        std::str::from_utf8(&self.values[start..end]).ok()
    }

    /// What the classification needs.
    pub fn reply(&self) -> Reply<'_> {
        Reply {
            status: self.status,
            log_id: self.field(0),
            ratelimit_reset: self.field(1),
            content_type: self.field(2),
            location: self.field(3),
            body: &self.body,
        }
    }

    fn clear(&mut self) {
        self.status = 0;
        self.received = false;
        self.spans = [None; 4];
        self.values.clear();
        self.body.clear();
    }
}

/// How a response body ends.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Framing {
    Empty,
    Length(u64),
    Chunked,
    /// At the end of the connection.
    Close,
}

/// Reads one whole response into `resp`. Returns whether the connection can
/// be used again (a complete keep-alive response, nothing left over).
///
/// Errors before the head is complete are those of the connection (a reset,
/// end of stream: transient) or a malformed head (protocol); an error while
/// reading the body carries the response's status and log id and is never
/// retried (the request was answered).
pub fn receive(
    conn: &mut dyn Transport,
    deadline: &Deadline,
    resp: &mut Response,
) -> Result<bool, Error> {
    resp.clear();
    let body = read_head(conn, deadline, resp).and_then(|(framing, keep_alive)| {
        match framing {
            Framing::Empty => Ok(true),
            Framing::Length(n) if n > MAX_BODY_LEN => Err(too_large()),
            Framing::Length(n) => read_exact(conn, deadline, &mut resp.body, n).map(|_| true),
            Framing::Chunked => read_chunked(conn, deadline, &mut resp.body).map(|_| true),
            Framing::Close => read_to_end(conn, deadline, &mut resp.body).map(|_| false),
        }
        .map(|reusable| reusable && keep_alive)
    });
    match body {
        Ok(reusable) => Ok(reusable && conn.buffers().input().is_empty()),
        // Before the head was complete: no status.
        Err(err) if resp.status == 0 => Err(err),
        // A response had begun: its status and log id belong to the error,
        // and a request that was answered is not repeated.
        Err(mut err) => {
            err.http_status = resp.status;
            err.log_id = crate::api::clean(resp.field(0).unwrap_or(""), 63);
            err.retry = Retry::Never;
            Err(err)
        }
    }
}

/// Reads and parses the head (skipping interim 1xx responses); keeps the
/// fields of interest; returns the body's framing and whether the server
/// keeps the connection open.
fn read_head(
    conn: &mut dyn Transport,
    deadline: &Deadline,
    resp: &mut Response,
) -> Result<(Framing, bool), Error> {
    loop {
        let input = conn.buffers().input();
        if !input.is_empty() {
            resp.received = true;
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut head = httparse::Response::new(&mut headers);
            match head.parse(input) {
                Ok(httparse::Status::Complete(len)) => {
                    let status = head.code.unwrap_or(0);
                    if status < 100 {
                        return Err(protocol(&format!(
                            "the server's reply has an invalid status code ({status:03})"
                        )));
                    }
                    if (100..200).contains(&status) {
                        if status == 101 {
                            return Err(protocol("the server switched protocols (HTTP 101)"));
                        }
                        conn.buffers().input_consume(len);
                        continue;
                    }
                    resp.status = status;
                    let parsed = parse_fields(head.version == Some(1), status, head.headers, resp);
                    conn.buffers().input_consume(len);
                    return parsed;
                }
                Ok(httparse::Status::Partial) if input.len() >= MAX_HEAD_LEN => {
                    return Err(protocol("response headers are larger than 16 KiB"));
                }
                Ok(httparse::Status::Partial) => {}
                Err(httparse::Error::TooManyHeaders) => {
                    return Err(protocol(&format!(
                        "the response has more than {MAX_HEADERS} header fields"
                    )));
                }
                Err(e) => {
                    return Err(protocol(&format!(
                        "the server's reply is not valid HTTP/1.1 ({e})"
                    )));
                }
            }
        }
        if !fill(conn, deadline, Timeout::RecvResponse)? {
            return Err(closed_early());
        }
    }
}

/// Keeps the fields of interest; works out the framing (RFC 9112 §6.3).
fn parse_fields(
    http11: bool,
    status: u16,
    headers: &[httparse::Header<'_>],
    resp: &mut Response,
) -> Result<(Framing, bool), Error> {
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut keep_alive = http11;
    for h in headers {
        if let Some(i) = FIELDS.iter().position(|f| h.name.eq_ignore_ascii_case(f)) {
            if resp.spans[i].is_none() {
                let start = resp.values.len();
                resp.values.extend_from_slice(h.value);
                resp.spans[i] = Some((start, resp.values.len()));
            }
        } else if h.name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(h.value)
                .ok()
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| protocol("the response has an invalid Content-Length"))?;
            if length.is_some_and(|l| l != n) {
                return Err(protocol(
                    "the response has conflicting Content-Length fields",
                ));
            }
            length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            // Only the chunked coding alone: a body also compressed (say
            // `gzip, chunked`) is nothing the platform sends or we decode.
            let only_chunked = h
                .value
                .split(|&b| b == b',')
                .map(<[u8]>::trim_ascii)
                .filter(|c| !c.is_empty())
                .all(|c| c.eq_ignore_ascii_case(b"chunked"));
            if !only_chunked || h.value.trim_ascii().is_empty() {
                return Err(protocol(
                    "the response's Transfer-Encoding is not supported (only chunked is)",
                ));
            }
            chunked = true;
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|&b| b == b',') {
                if token.trim_ascii().eq_ignore_ascii_case(b"close") {
                    keep_alive = false;
                }
            }
        }
    }
    let framing = if status == 204 || status == 304 {
        Framing::Empty
    } else if chunked {
        Framing::Chunked
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        Framing::Close
    };
    Ok((framing, keep_alive))
}

/// Appends exactly `n` more body bytes.
fn read_exact(
    conn: &mut dyn Transport,
    deadline: &Deadline,
    body: &mut Vec<u8>,
    n: u64,
) -> Result<(), Error> {
    let mut left = n as usize;
    loop {
        let input = conn.buffers().input();
        let take = input.len().min(left);
        body.extend_from_slice(&input[..take]);
        conn.buffers().input_consume(take);
        left -= take;
        if left == 0 {
            return Ok(());
        }
        if !fill(conn, deadline, Timeout::RecvBody)? {
            return Err(closed_early());
        }
    }
}

/// Appends everything up to the end of the connection.
fn read_to_end(
    conn: &mut dyn Transport,
    deadline: &Deadline,
    body: &mut Vec<u8>,
) -> Result<(), Error> {
    loop {
        let input = conn.buffers().input();
        if (body.len() + input.len()) as u64 > MAX_BODY_LEN {
            return Err(too_large());
        }
        body.extend_from_slice(input);
        let n = input.len();
        conn.buffers().input_consume(n);
        if !fill(conn, deadline, Timeout::RecvBody)? {
            return Ok(());
        }
    }
}

/// Decodes a chunked body: `size[;ext] CRLF data CRLF`, …, `0 CRLF`,
/// trailer fields, `CRLF`.
fn read_chunked(
    conn: &mut dyn Transport,
    deadline: &Deadline,
    body: &mut Vec<u8>,
) -> Result<(), Error> {
    loop {
        let len = line_len(conn, deadline)?;
        let size = {
            let line = &conn.buffers().input()[..len];
            let digits = line
                .split(|&b| b == b';')
                .next()
                .unwrap_or(b"")
                .trim_ascii();
            std::str::from_utf8(digits)
                .ok()
                .filter(|d| !d.is_empty() && d.len() <= 16)
                .and_then(|d| u64::from_str_radix(d, 16).ok())
                .ok_or_else(|| protocol("the response has an invalid chunk size"))?
        };
        conn.buffers().input_consume(len);
        if size == 0 {
            // Trailer fields (ignored) up to an empty line.
            loop {
                let len = line_len(conn, deadline)?;
                conn.buffers().input_consume(len);
                if len <= 2 {
                    return Ok(());
                }
            }
        }
        if body.len() as u64 + size > MAX_BODY_LEN {
            return Err(too_large());
        }
        read_exact(conn, deadline, body, size)?;
        let end = line_len(conn, deadline)?;
        if end > 2 {
            return Err(protocol("the response has a chunk longer than its size"));
        }
        conn.buffers().input_consume(end);
    }
}

/// The length of the next line in the input, with its line end, reading as
/// needed.
fn line_len(conn: &mut dyn Transport, deadline: &Deadline) -> Result<usize, Error> {
    let mut searched = 0;
    loop {
        let input = conn.buffers().input();
        if let Some(i) = input[searched..].iter().position(|&b| b == b'\n') {
            return Ok(searched + i + 1);
        }
        searched = input.len();
        if searched > MAX_CHUNK_LINE {
            return Err(protocol("the response has a chunk line longer than 4 KiB"));
        }
        if !fill(conn, deadline, Timeout::RecvBody)? {
            return Err(closed_early());
        }
    }
}

/// Reads more input; `false` at the end of the stream.
fn fill(conn: &mut dyn Transport, deadline: &Deadline, reason: Timeout) -> Result<bool, Error> {
    let timeout = deadline.next(reason)?;
    conn.await_input(timeout).map_err(|e| failure(e, deadline))
}

fn protocol(message: &str) -> Error {
    Error::new(Kind::Protocol, message)
}

fn too_large() -> Error {
    protocol(&format!(
        "response body is larger than {MAX_BODY_LEN} bytes"
    ))
}

/// The end of the stream before the response was complete: the server (or
/// something on the way) closed the connection; worth another try only while
/// nothing of a response arrived.
fn closed_early() -> Error {
    Error::new(
        Kind::Network,
        "connection closed before the response was complete",
    )
    .retry(Retry::Transient)
}

/// What a timeout interrupted.
fn phase(reason: Timeout) -> &'static str {
    match reason {
        Timeout::Resolve => "resolving the host",
        Timeout::Connect => "connecting",
        Timeout::SendRequest | Timeout::SendBody => "sending the request",
        Timeout::RecvResponse => "waiting for the response",
        Timeout::RecvBody => "reading the response body",
        _ => "during the call",
    }
}

/// Maps a failure of a connection (no complete response) to our error.
pub fn failure(e: ureq::Error, deadline: &Deadline) -> Error {
    use std::io::ErrorKind as Io;
    let network = |message: String| Error::new(Kind::Network, message);
    let transient = |message: String| network(message).retry(Retry::Transient);
    match e {
        // A connect timeout shorter than the deadline is a connection
        // failure, worth another try; only the deadline itself is a timeout.
        ureq::Error::Timeout(Timeout::Connect) if Instant::now() < deadline.at => {
            transient("connect timed out".into())
        }
        ureq::Error::Timeout(reason) => {
            let mut err = deadline.passed();
            err.message
                .push_str(&format!(" (timed out {})", phase(reason)));
            err
        }
        ureq::Error::Io(io) if matches!(io.kind(), Io::TimedOut | Io::WouldBlock) => {
            let mut err = deadline.passed();
            err.message.push_str(&format!(" ({io})"));
            err
        }
        ureq::Error::Io(io) => {
            let what = match io.kind() {
                Io::ConnectionRefused => "connection refused",
                Io::ConnectionReset => "connection reset by the server",
                Io::ConnectionAborted => "connection aborted",
                Io::UnexpectedEof => "connection closed before the response was complete",
                Io::BrokenPipe => "connection closed while sending the request",
                _ => return network(format!("I/O error: {io}")),
            };
            transient(format!("{what}: {io}"))
        }
        ureq::Error::ConnectionFailed => transient("could not connect to the server".into()),
        ureq::Error::HostNotFound => {
            network("host not found (DNS lookup returned no address)".into())
        }
        ureq::Error::Tls(why) => network(format!("TLS failed: {why}")),
        ureq::Error::Rustls(e) => network(format!("TLS failed: {e}")),
        ureq::Error::ConnectProxyFailed(why) => network(format!(
            "proxy CONNECT failed: {}",
            crate::api::clean(&why, 160)
        )),
        ureq::Error::Protocol(e) => {
            protocol(&format!("the server's reply is not valid HTTP/1.1 ({e})"))
        }
        ureq::Error::BadUri(_) | ureq::Error::InvalidProxyUrl => {
            Error::invalid("the request URL could not be built from the configuration")
        }
        other => network(format!("request failed: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ureq::unversioned::transport::{Buffers, LazyBuffers};

    /// A connection that receives `chunks`, one per read, then the end of
    /// the stream; what is sent is kept.
    struct Script {
        buffers: LazyBuffers,
        chunks: std::collections::VecDeque<Vec<u8>>,
        sent: Vec<u8>,
    }

    impl std::fmt::Debug for Script {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Script")
        }
    }

    impl Transport for Script {
        fn buffers(&mut self) -> &mut dyn Buffers {
            &mut self.buffers
        }
        fn transmit_output(&mut self, amount: usize, _: NextTimeout) -> Result<(), ureq::Error> {
            let out = self.buffers.output()[..amount].to_vec();
            self.sent.extend_from_slice(&out);
            Ok(())
        }
        fn await_input(&mut self, _: NextTimeout) -> Result<bool, ureq::Error> {
            let Some(chunk) = self.chunks.pop_front() else {
                return Ok(false);
            };
            let buf = self.buffers.input_append_buf();
            assert!(
                chunk.len() <= buf.len(),
                "test chunk larger than the free input"
            );
            buf[..chunk.len()].copy_from_slice(&chunk);
            self.buffers.input_appended(chunk.len());
            Ok(true)
        }
        fn is_open(&mut self) -> bool {
            true
        }
    }

    fn script(chunks: &[&[u8]]) -> Script {
        Script {
            buffers: LazyBuffers::new(MAX_HEAD_LEN, 1024),
            chunks: chunks.iter().map(|c| c.to_vec()).collect(),
            sent: Vec::new(),
        }
    }

    fn deadline() -> Deadline {
        Deadline {
            at: Instant::now() + Duration::from_secs(5),
            whole: Duration::from_secs(5),
        }
    }

    /// Receives a response split into `chunks`: (reusable, response) or the error.
    fn get(chunks: &[&[u8]]) -> Result<(bool, Response), Error> {
        let mut conn = script(chunks);
        let mut resp = Response::default();
        let reusable = receive(&mut conn, &deadline(), &mut resp)?;
        Ok((reusable, resp))
    }

    const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Tt-Logid: L1\r\nContent-Length: 11\r\n\r\n{\"code\":0}\n";

    #[test]
    fn a_keep_alive_response_in_pieces() {
        for split in 1..OK.len() {
            let (reusable, resp) = get(&[&OK[..split], &OK[split..]]).unwrap();
            assert!(reusable, "split at {split}");
            let reply = resp.reply();
            assert_eq!(reply.status, 200);
            assert_eq!(reply.log_id, Some("L1"));
            assert_eq!(reply.content_type, Some("application/json"));
            assert_eq!(reply.ratelimit_reset, None);
            assert_eq!(reply.body, b"{\"code\":0}\n");
        }
    }

    #[test]
    fn framing_and_reuse() {
        let cases: &[(&[u8], bool, &[u8])] = &[
            // Connection: close, HTTP/1.0, or a body up to the end: not reused.
            (b"HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 2\r\n\r\nok", false, b"ok"),
            (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", false, b"ok"),
            (b"HTTP/1.1 200 OK\r\n\r\nall of it", false, b"all of it"),
            // Chunked, with extensions and trailers; Content-Length ignored.
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 99\r\n\r\n3;x=y\r\nabc\r\n00002\r\nde\r\n0\r\nTrailer: 1\r\n\r\n", true, b"abcde"),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", false, b""),
            // 204/304 have no body; an interim 100 is skipped.
            (b"HTTP/1.1 204 No Content\r\n\r\n", true, b""),
            (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", true, b"x"),
            // Bytes after the response: the connection is not reused.
            (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxy", false, b"x"),
        ];
        for &(response, reusable, body) in cases {
            let shown = String::from_utf8_lossy(response);
            match get(&[response]) {
                Ok((r, resp)) => {
                    assert_eq!(r, reusable, "{shown}");
                    assert_eq!(resp.body, body, "{shown}");
                }
                // gzip, chunked: refused (we do not decode gzip).
                Err(e) => {
                    assert!(shown.contains("gzip"), "{shown}: {e:?}");
                    assert_eq!(e.kind, Kind::Protocol);
                }
            }
        }
        // A chunked body byte by byte.
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
        let pieces: Vec<&[u8]> = chunked.chunks(1).collect();
        let (reusable, resp) = get(&pieces).unwrap();
        assert!(reusable);
        assert_eq!(resp.body, b"hello");
    }

    #[test]
    fn malformed_responses_are_protocol_errors() {
        let many = format!(
            "HTTP/1.1 200 OK\r\n{}\r\n",
            "A: b\r\n".repeat(MAX_HEADERS + 1)
        );
        let huge = format!("HTTP/1.1 200 OK\r\nA: {}\r\n\r\n", "b".repeat(MAX_HEAD_LEN));
        let long_line = format!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{}",
            "0".repeat(MAX_CHUNK_LINE + 10)
        );
        let cases: Vec<(&[u8], &str)> = vec![
            (b"garbage\r\n\r\n", "not valid HTTP/1.1"),
            (
                b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
                "switched protocols",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx",
                "conflicting",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
                "invalid Content-Length",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 1048577\r\n\r\n",
                "larger than 1048576",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                "invalid chunk size",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc\r\n",
                "longer than its size",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n100001\r\n",
                "larger than 1048576",
            ),
            (many.as_bytes(), "more than 64 header fields"),
            (huge.as_bytes(), "larger than 16 KiB"),
            (long_line.as_bytes(), "longer than 4 KiB"),
        ];
        for (response, want) in cases {
            let pieces: Vec<&[u8]> = response.chunks(4096).collect();
            let e = get(&pieces).unwrap_err();
            assert_eq!(e.kind, Kind::Protocol, "{want}: {e:?}");
            assert!(e.message.contains(want), "{want}: {}", e.message);
            assert_eq!(e.retry, Retry::Never, "{want}");
            // Once the head parsed, its status is the error's.
            let parsed = response.starts_with(b"HTTP/1.1 200") && !want.contains("16 KiB");
            let parsed = parsed && !want.contains("header fields");
            assert_eq!(e.http_status, if parsed { 200 } else { 0 }, "{want}");
        }
    }

    #[test]
    fn the_end_of_the_stream_before_and_after_the_head() {
        // Nothing, or part of a head: transient, no status.
        for chunks in [&[][..], &[&b"HTTP/1.1 200 OK\r\n"[..]][..]] {
            let e = get(chunks).unwrap_err();
            assert_eq!(
                (e.kind, e.retry, e.http_status),
                (Kind::Network, Retry::Transient, 0)
            );
        }
        // In the body: the response's status and log id, never retried.
        let e = get(&[b"HTTP/1.1 503 Busy\r\nX-Tt-Logid: L9\r\nContent-Length: 10\r\n\r\nabc"])
            .unwrap_err();
        assert_eq!(
            (e.kind, e.retry, e.http_status),
            (Kind::Network, Retry::Never, 503)
        );
        assert_eq!(e.log_id, "L9");
        assert!(
            e.message
                .contains("closed before the response was complete")
        );
    }

    #[test]
    fn requests_are_sent_whole_and_wiped() {
        let mut conn = script(&[]);
        send(&mut conn, &deadline(), |w| {
            w.push(b"GET / HTTP/1.1\r\n");
            w.push(b"Authorization: Bearer secret\r\n\r\n");
        })
        .unwrap();
        assert_eq!(
            conn.sent,
            b"GET / HTTP/1.1\r\nAuthorization: Bearer secret\r\n\r\n"
        );
        assert!(conn.buffers.output().iter().all(|&b| b == 0));
        // What does not fit is refused, nothing sent, and wiped too.
        let mut conn = script(&[]);
        let e = send(&mut conn, &deadline(), |w| {
            w.push(b"GET / HTTP/1.1\r\nAuthorization: Bearer ");
            w.push(&[b'x'; 2000]);
        })
        .unwrap_err();
        assert_eq!(e.kind, Kind::InvalidArgument);
        assert!(conn.sent.is_empty());
        assert!(conn.buffers.output().iter().all(|&b| b == 0));
        // No time left: a timeout, nothing sent.
        let mut conn = script(&[]);
        let past = Deadline {
            at: Instant::now(),
            whole: Duration::from_millis(300),
        };
        let e = send(&mut conn, &past, |w| w.push(b"GET / HTTP/1.1\r\n\r\n")).unwrap_err();
        assert_eq!(e.kind, Kind::Timeout);
        assert!(
            e.message.contains("300 ms") && e.message.contains("sending"),
            "{}",
            e.message
        );
        assert!(conn.sent.is_empty());
    }
}
