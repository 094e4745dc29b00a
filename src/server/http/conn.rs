//! One HTTP/1.1 connection: reading request heads and bodies with limits and timeouts,
//! keep-alive, and handing each request to the service.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::listener::ConnGuard;
use super::response::Response;
use super::stream::{Stream, Writing};
use super::Limits;
use crate::server::handoff::Duty;
use crate::server::request::{parse_query, Request};

/// What serves the requests of a connection (the [`App`](crate::server::App)).
pub(crate) trait Service: Send + Sync + 'static {
    /// Answers one request. A service that takes over the connection (a WebSocket)
    /// returns [`Outcome::Upgraded`] once it is done with it.
    fn serve(&self, ex: &mut Exchange<'_>) -> Outcome;
}

/// What a service did with a request.
pub(crate) enum Outcome {
    /// Write this response, then keep the connection alive unless it says otherwise.
    Respond(Response),
    /// The service took the connection over and has finished with it.
    Upgraded,
}

/// How the request body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    None,
    Length(u64),
    Chunked,
}

/// Why a body could not be read.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// Over the limit (declared or counted): answer 413 and close.
    TooLarge,
    /// Malformed chunked encoding: answer 400 and close.
    Malformed,
    /// The peer went away or was too slow.
    Io(io::Error),
}

/// One request in flight: its parsed head, and access to its body and connection.
pub(crate) struct Exchange<'a> {
    /// The parsed request head.
    pub request: Request,
    conn: &'a mut Conn,
    framing: Framing,
    /// Bytes of the body not yet read (for `Framing::Length`).
    remaining: u64,
    body_done: bool,
    /// Reading the body failed: the rest of it is not drained.
    body_failed: bool,
    expect_continue: bool,
    /// When the whole body, and any draining of it, must have arrived.
    body_deadline: Instant,
}

impl Exchange<'_> {
    /// Reads the whole body, refusing more than `limit` bytes without reading them.
    /// Memory grows with the bytes that arrive, never ahead of them.
    pub(crate) fn read_body(&mut self, limit: usize) -> Result<Vec<u8>, BodyError> {
        if self.body_done {
            return Ok(Vec::new());
        }
        let r = self.read_body_inner(limit);
        match &r {
            Ok(_) => self.body_done = true,
            Err(_) => self.body_failed = true,
        }
        r
    }

    fn read_body_inner(&mut self, limit: usize) -> Result<Vec<u8>, BodyError> {
        if let Framing::Length(n) = self.framing {
            if n > limit as u64 {
                return Err(BodyError::TooLarge);
            }
        }
        if self.expect_continue {
            self.expect_continue = false;
            self.conn
                .stream
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .map_err(BodyError::Io)?;
        }
        let deadline = self.body_deadline;
        match self.framing {
            Framing::None => Ok(Vec::new()),
            Framing::Length(n) => {
                let mut body = Vec::new();
                self.conn
                    .read_appending(&mut body, n as usize, deadline)
                    .map_err(BodyError::Io)?;
                self.remaining = 0;
                Ok(body)
            }
            Framing::Chunked => self.read_chunked(limit, deadline),
        }
    }

    fn read_chunked(&mut self, limit: usize, deadline: Instant) -> Result<Vec<u8>, BodyError> {
        let mut body = Vec::new();
        loop {
            let line = self.conn.read_line(1024, deadline)?;
            let size = parse_chunk_size(&line).ok_or(BodyError::Malformed)?;
            if size == 0 {
                // Trailers, up to an empty line.
                let mut trailer_bytes = 0;
                loop {
                    let t = self.conn.read_line(8192, deadline)?;
                    if t.is_empty() {
                        return Ok(body);
                    }
                    trailer_bytes += t.len();
                    if trailer_bytes > 8192 {
                        return Err(BodyError::Malformed);
                    }
                }
            }
            if body.len() as u64 + size > limit as u64 {
                return Err(BodyError::TooLarge);
            }
            self.conn
                .read_appending(&mut body, size as usize, deadline)
                .map_err(BodyError::Io)?;
            if !self.conn.read_line(0, deadline)?.is_empty() {
                return Err(BodyError::Malformed);
            }
        }
    }

    /// Whether the peer has closed its side of the connection (checked without blocking).
    /// Bytes it sent ahead (a pipelined request) count as alive.
    pub(crate) fn peer_closed(&self) -> bool {
        if !self.conn.buf.is_empty() {
            return false;
        }
        self.conn.stream.peer_closed()
    }

    /// Takes the connection over (for a WebSocket): a shared handle on the socket (no
    /// new file descriptor: `&TcpStream` reads and writes), the bytes already read
    /// past the request head, and the connection's registration with the listener
    /// (whoever holds it serves the connection).
    pub(crate) fn take_connection(&mut self) -> (Arc<Stream>, Vec<u8>, Option<ConnGuard>) {
        (
            self.conn.stream.clone(),
            std::mem::take(&mut self.conn.buf),
            self.conn.guard.take(),
        )
    }

    /// A shared handle on the stream, the connection staying with the HTTP layer.
    pub(crate) fn stream_handle(&self) -> Arc<Stream> {
        self.conn.stream.clone()
    }
}

/// The connection's stream and read buffer.
struct Conn {
    stream: Arc<Stream>,
    /// Bytes read but not consumed yet.
    buf: Vec<u8>,
    limits: Limits,
    /// The socket's read timeout as last set, to skip redundant `setsockopt` calls.
    read_timeout: Option<Duration>,
    /// The connection's registration with the listener; dropped when it ends.
    guard: Option<ConnGuard>,
}

impl Conn {
    /// Sets the socket's read timeout so that a read ends by `deadline`, give or take a
    /// quarter: a timeout already set that is at most 25 % longer than needed is kept,
    /// which saves a system call on nearly every request of a keep-alive connection.
    fn arm_read_timeout(&mut self, deadline: Instant) -> io::Result<()> {
        let now = Instant::now();
        if now >= deadline {
            return Err(io::ErrorKind::TimedOut.into());
        }
        let need = (deadline - now).max(Duration::from_millis(1));
        match self.read_timeout {
            Some(set) if set >= need && set - need <= need / 4 => Ok(()),
            _ => {
                self.stream.tcp().set_read_timeout(Some(need))?;
                self.read_timeout = Some(need);
                Ok(())
            }
        }
    }

    /// Reads more bytes into `buf`, waiting at most until `deadline`. `Ok(0)` is EOF.
    fn fill(&mut self, deadline: Instant) -> io::Result<usize> {
        self.arm_read_timeout(deadline)?;
        let mut chunk = [0u8; 4096];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock) => {
                    return Err(io::ErrorKind::TimedOut.into())
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Appends exactly `n` bytes of the stream to `out`, by `deadline`. `out` grows
    /// with what arrives ([`READ_CHUNK`] at a time), never ahead of it.
    fn read_appending(&mut self, out: &mut Vec<u8>, n: usize, deadline: Instant) -> io::Result<()> {
        let target = out.len() + n;
        while out.len() < target {
            let len = out.len();
            if !self.buf.is_empty() {
                let k = self.buf.len().min(target - len);
                out.extend_from_slice(&self.buf[..k]);
                self.buf.drain(..k);
                continue;
            }
            // Large bodies are read straight into `out`, not through `buf`.
            self.arm_read_timeout(deadline)?;
            let k = READ_CHUNK.min(target - len);
            out.resize(len + k, 0);
            match self.stream.read(&mut out[len..]) {
                Ok(0) => {
                    out.truncate(len);
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                Ok(m) => out.truncate(len + m),
                Err(e) => {
                    out.truncate(len);
                    match e.kind() {
                        io::ErrorKind::Interrupted => {}
                        io::ErrorKind::WouldBlock => return Err(io::ErrorKind::TimedOut.into()),
                        _ => return Err(e),
                    }
                }
            }
        }
        Ok(())
    }

    /// Reads and discards `n` bytes by `deadline`.
    fn discard(&mut self, mut n: usize, deadline: Instant) -> io::Result<()> {
        let mut sink = Vec::new();
        while n > 0 {
            let k = n.min(READ_CHUNK);
            sink.clear();
            self.read_appending(&mut sink, k, deadline)?;
            n -= k;
        }
        Ok(())
    }

    /// Reads one CRLF-terminated line of at most `max` bytes (without the CRLF).
    fn read_line(&mut self, max: usize, deadline: Instant) -> Result<Vec<u8>, BodyError> {
        loop {
            if let Some(pos) = self.buf.windows(2).position(|w| w == b"\r\n") {
                if pos > max {
                    return Err(BodyError::Malformed);
                }
                let line = self.buf[..pos].to_vec();
                self.buf.drain(..pos + 2);
                return Ok(line);
            }
            if self.buf.len() > max + 2 {
                return Err(BodyError::Malformed);
            }
            match self.fill(deadline) {
                Ok(0) => return Err(BodyError::Io(io::ErrorKind::UnexpectedEof.into())),
                Ok(_) => {}
                Err(e) => return Err(BodyError::Io(e)),
            }
        }
    }

    fn write_response(&mut self, resp: &mut Response) -> io::Result<()> {
        resp.write_to(&mut Writing(&self.stream))
    }
}

/// Why reading a request head stopped.
enum HeadError {
    /// The connection ended or idled out between requests: close quietly.
    Closed,
    /// Answer this status with an empty body, then close.
    Respond(u16),
}

struct Head {
    request: Request,
    framing: Framing,
    keep_alive: bool,
    expect_continue: bool,
}

/// An HTTP connection being served: what a thread needs to carry on with it, so that
/// it can move to another thread while its own runs slow handlers.
pub(crate) struct HttpConn {
    conn: Conn,
    peer: SocketAddr,
    service: Arc<dyn Service>,
}

/// Serves one connection until it closes, idles out or is taken over.
pub(crate) fn serve_connection(
    tcp: Arc<TcpStream>,
    peer: SocketAddr,
    limits: Limits,
    service: Arc<dyn Service>,
    guard: ConnGuard,
    tls: Option<&super::TlsAcceptor>,
) {
    let _ = tcp.set_nodelay(true);
    // Every response write is bounded by the write timeout (set once, here).
    if let Err(e) = tcp.set_write_timeout(Some(limits.write_timeout)) {
        log::debug!("cannot set a write timeout for {peer}: {e}");
        return;
    }
    let stream = match tls {
        None => Stream::plain(tcp),
        // The handshake runs here, on the connection's thread, within the head timeout.
        Some(acceptor) => match acceptor.accept(tcp, Instant::now() + limits.head_timeout) {
            Ok(s) => s,
            Err(e) => {
                log::debug!("TLS handshake with {peer} failed: {e}");
                return;
            }
        },
    };
    let conn = Conn {
        stream: Arc::new(stream),
        buf: Vec::new(),
        limits,
        read_timeout: None,
        guard: Some(guard),
    };
    HttpConn {
        conn,
        peer,
        service,
    }
    .run(None);
}

impl HttpConn {
    /// Shuts the connection down (it is being given up).
    pub(crate) fn shutdown(&self) {
        self.conn.stream.shutdown(std::net::Shutdown::Both);
    }

    /// Carries on with a connection moved from another thread: `resp` first.
    pub(crate) fn resume(self, resp: Response) {
        self.run(Some(resp))
    }

    fn run(mut self, mut pending: Option<Response>) {
        loop {
            let mut resp = match pending.take() {
                Some(r) => r,
                None => match self.next_response() {
                    Some(r) => r,
                    None => return,
                },
            };
            if let Some(dispatch) = resp.dispatch.take() {
                let slot = self.conn.guard.as_ref().map(|g| g.slot().clone());
                match dispatch.run_inline(slot.as_ref(), Duty::Http(Box::new((self, resp)))) {
                    Some(Duty::Http(b)) => (self, resp) = *b,
                    // The connection moved to another thread meanwhile (or was dropped
                    // at shutdown).
                    Some(Duty::Ws(_)) | None => return,
                }
            }
            let written = self.conn.write_response(&mut resp).is_ok();
            if let Some(f) = resp.on_written.take() {
                f(written);
            }
            if !written || resp.close {
                self.conn.stream.shutdown(std::net::Shutdown::Write);
                return;
            }
        }
    }

    /// Reads the next request and answers it; `None` when the connection has ended or
    /// a WebSocket took it over.
    fn next_response(&mut self) -> Option<Response> {
        let secure = self.conn.stream.is_tls();
        let head = match read_head(&mut self.conn, self.peer, secure) {
            Ok(h) => h,
            Err(HeadError::Closed) => return None,
            Err(HeadError::Respond(status)) => {
                log::debug!("bad request head from {}: answering {status}", self.peer);
                return Some(Response::new(status).closing());
            }
        };
        let keep_alive = head.keep_alive;
        let mut ex = Exchange {
            request: head.request,
            framing: head.framing,
            remaining: match head.framing {
                Framing::Length(n) => n,
                _ => 0,
            },
            body_done: head.framing == Framing::None,
            body_failed: false,
            expect_continue: head.expect_continue,
            body_deadline: Instant::now() + self.conn.limits.body_timeout,
            conn: &mut self.conn,
        };
        let mut resp = match self.service.serve(&mut ex) {
            Outcome::Upgraded => return None,
            Outcome::Respond(r) => r,
        };
        if ex.request.method == http::Method::HEAD {
            resp.head_only = true;
        }
        // An unread body is drained if small, else the connection is closed.
        let unread = !ex.body_done && !drain_small_body(&mut ex);
        if !keep_alive || unread {
            resp.close = true;
        }
        Some(resp)
    }
}

/// Reads and discards a small unread `Content-Length` body so that the connection can
/// be kept alive; `false` if it is chunked, too large, failed already or does not
/// arrive by the body's deadline.
fn drain_small_body(ex: &mut Exchange<'_>) -> bool {
    if ex.body_failed || ex.framing == Framing::Chunked || ex.remaining > 64 * 1024 {
        return false;
    }
    let (n, deadline) = (ex.remaining as usize, ex.body_deadline);
    ex.conn.discard(n, deadline).is_ok()
}

/// A chunk-size line (RFC 9112 §7.1): `1*HEXDIG`, then optionally extensions after a
/// `;` (with optional whitespace before it). Nothing else: no sign, no other spaces.
fn parse_chunk_size(line: &[u8]) -> Option<u64> {
    let (size, ext) = match line.iter().position(|&b| b == b';') {
        Some(i) => (&line[..i], true),
        None => (line, false),
    };
    let size = if ext {
        let end = size
            .iter()
            .rposition(|&b| b != b' ' && b != b'\t')
            .map_or(0, |i| i + 1);
        &size[..end]
    } else {
        size
    };
    if size.is_empty() || size.len() > 15 || !size.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u64::from_str_radix(std::str::from_utf8(size).ok()?, 16).ok()
}

/// The most bytes a body read takes at once (and grows its buffer by).
const READ_CHUNK: usize = 16 * 1024;

fn read_head(conn: &mut Conn, peer: SocketAddr, secure: bool) -> Result<Head, HeadError> {
    // Waiting for the first byte of a request is the keep-alive idle time; once it has
    // come, the whole head must arrive within the head timeout.
    if conn.buf.is_empty() {
        match conn.fill(Instant::now() + conn.limits.keep_alive_timeout) {
            Ok(0) | Err(_) => return Err(HeadError::Closed),
            Ok(_) => {}
        }
    }
    let deadline = Instant::now() + conn.limits.head_timeout;
    loop {
        // Tolerate empty lines before a request (RFC 9112 §2.2).
        while conn.buf.starts_with(b"\r\n") {
            conn.buf.drain(..2);
        }
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&conn.buf) {
            Ok(httparse::Status::Complete(len)) if len > conn.limits.max_head_size => {
                return Err(HeadError::Respond(431));
            }
            Ok(httparse::Status::Complete(len)) => {
                let head = build_head(&req, peer, secure)?;
                conn.buf.drain(..len);
                return Ok(head);
            }
            Ok(httparse::Status::Partial) => {
                if conn.buf.len() > conn.limits.max_head_size {
                    return Err(HeadError::Respond(431));
                }
            }
            Err(httparse::Error::TooManyHeaders) => return Err(HeadError::Respond(431)),
            Err(_) => return Err(HeadError::Respond(400)),
        }
        match conn.fill(deadline) {
            Ok(0) => return Err(HeadError::Closed),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                log::debug!("dropping {peer}: request head not received in time");
                return Err(HeadError::Respond(408));
            }
            Err(_) => return Err(HeadError::Closed),
        }
        if conn.buf.len() > conn.limits.max_head_size + 4096 {
            return Err(HeadError::Respond(431));
        }
    }
}

fn build_head(
    req: &httparse::Request<'_, '_>,
    peer: SocketAddr,
    secure: bool,
) -> Result<Head, HeadError> {
    let method = http::Method::from_bytes(req.method.unwrap_or("").as_bytes())
        .map_err(|_| HeadError::Respond(400))?;
    let target = req.path.unwrap_or("");
    let minor_version = req.version.unwrap_or(1);
    let (path, raw_query) = match target.split_once('?') {
        Some((p, q)) => (p, q),
        None => (target, ""),
    };
    // An absolute-form target (proxies) keeps only its path.
    let path = if let Some(rest) = path
        .strip_prefix("http://")
        .or_else(|| path.strip_prefix("https://"))
    {
        rest.find('/').map_or("/", |i| &rest[i..])
    } else {
        path
    };
    if !(path.starts_with('/') || method == http::Method::OPTIONS && path == "*") {
        return Err(HeadError::Respond(400));
    }
    let mut headers = http::HeaderMap::with_capacity(req.headers.len());
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    let mut transfer_encoding = false;
    let mut connection_close = minor_version == 0;
    let mut expect_continue = false;
    for h in req.headers.iter() {
        let name =
            http::HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| HeadError::Respond(400))?;
        let value = http::HeaderValue::from_bytes(h.value).map_err(|_| HeadError::Respond(400))?;
        if name == http::header::CONTENT_LENGTH {
            let text = std::str::from_utf8(h.value).map_err(|_| HeadError::Respond(400))?;
            let text = text.trim();
            if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) || text.len() > 19 {
                return Err(HeadError::Respond(400));
            }
            let n: u64 = text.parse().map_err(|_| HeadError::Respond(400))?;
            if content_length.is_some_and(|c| c != n) {
                return Err(HeadError::Respond(400));
            }
            content_length = Some(n);
        } else if name == http::header::TRANSFER_ENCODING {
            transfer_encoding = true;
            let text = std::str::from_utf8(h.value).map_err(|_| HeadError::Respond(400))?;
            // Only a lone `chunked` is understood.
            if text.trim().eq_ignore_ascii_case("chunked") && !chunked {
                chunked = true;
            } else {
                return Err(HeadError::Respond(501));
            }
        } else if name == http::header::CONNECTION {
            for token in value.to_str().unwrap_or("").split(',') {
                let token = token.trim();
                if token.eq_ignore_ascii_case("close") {
                    connection_close = true;
                } else if token.eq_ignore_ascii_case("keep-alive") {
                    connection_close = false;
                }
            }
        } else if name == http::header::EXPECT {
            if value.as_bytes().eq_ignore_ascii_case(b"100-continue") {
                expect_continue = minor_version >= 1;
            } else {
                return Err(HeadError::Respond(417));
            }
        }
        headers.append(name, value);
    }
    // A request with both is a request-smuggling vector: refuse it.
    if transfer_encoding && content_length.is_some() {
        return Err(HeadError::Respond(400));
    }
    let framing = if chunked {
        Framing::Chunked
    } else {
        match content_length {
            Some(0) | None => Framing::None,
            Some(n) => Framing::Length(n),
        }
    };
    Ok(Head {
        request: Request {
            method,
            path: path.to_string(),
            raw_query: raw_query.to_string(),
            query: parse_query(raw_query),
            headers,
            remote_addr: peer,
            secure,
        },
        framing,
        keep_alive: !connection_close,
        expect_continue,
    })
}

#[cfg(test)]
mod tests {
    use super::parse_chunk_size;

    #[test]
    fn chunk_sizes_are_strict_hexdig() {
        assert_eq!(parse_chunk_size(b"5"), Some(5));
        assert_eq!(parse_chunk_size(b"1aF"), Some(0x1af));
        assert_eq!(parse_chunk_size(b"5;name=value"), Some(5));
        assert_eq!(parse_chunk_size(b"5 ;name"), Some(5));
        assert_eq!(parse_chunk_size(b"0"), Some(0));
        for bad in [
            &b"+5"[..],
            b" 5 ",
            b"5 ",
            b" 5",
            b"",
            b"-1",
            b"0x5",
            b"5\t",
            b";x",
            b"g",
        ] {
            assert_eq!(
                parse_chunk_size(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
