//! One HTTP/1.1 connection: reading request heads and bodies with limits and timeouts,
//! keep-alive, and handing each request to the service.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::response::Response;
use super::Limits;
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
    expect_continue: bool,
}

impl Exchange<'_> {
    /// Reads the whole body, refusing more than `limit` bytes without reading them.
    pub(crate) fn read_body(&mut self, limit: usize) -> Result<Vec<u8>, BodyError> {
        if self.body_done {
            return Ok(Vec::new());
        }
        if let Framing::Length(n) = self.framing {
            if n > limit as u64 {
                return Err(BodyError::TooLarge);
            }
        }
        if self.expect_continue {
            self.expect_continue = false;
            let mut s = &*self.conn.stream;
            s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .map_err(BodyError::Io)?;
        }
        let deadline = Instant::now() + self.conn.limits.body_timeout;
        let body = match self.framing {
            Framing::None => Vec::new(),
            Framing::Length(n) => {
                let mut body = vec![0; n as usize];
                self.conn
                    .read_exact_by(&mut body, deadline)
                    .map_err(BodyError::Io)?;
                self.remaining = 0;
                body
            }
            Framing::Chunked => self.read_chunked(limit, deadline)?,
        };
        self.body_done = true;
        Ok(body)
    }

    fn read_chunked(&mut self, limit: usize, deadline: Instant) -> Result<Vec<u8>, BodyError> {
        let mut body = Vec::new();
        loop {
            let line = self.conn.read_line(1024, deadline)?;
            let size_text = line.split(|&b| b == b';').next().unwrap_or(&[]);
            let size_text = std::str::from_utf8(size_text)
                .map_err(|_| BodyError::Malformed)?
                .trim();
            if size_text.is_empty() || size_text.len() > 15 {
                return Err(BodyError::Malformed);
            }
            let size = u64::from_str_radix(size_text, 16).map_err(|_| BodyError::Malformed)?;
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
            let start = body.len();
            body.resize(start + size as usize, 0);
            self.conn
                .read_exact_by(&mut body[start..], deadline)
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
        let s = &self.conn.stream;
        if s.set_nonblocking(true).is_err() {
            return true;
        }
        let mut b = [0u8; 1];
        let closed = match s.peek(&mut b) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            ),
        };
        let _ = s.set_nonblocking(false);
        closed
    }

    /// Takes the connection over (for a WebSocket): a shared handle on the socket (no
    /// new file descriptor: `&TcpStream` reads and writes) and the bytes already read
    /// past the request head.
    pub(crate) fn take_connection(&mut self) -> (Arc<TcpStream>, Vec<u8>) {
        (self.conn.stream.clone(), std::mem::take(&mut self.conn.buf))
    }

    /// The socket of this connection.
    #[allow(dead_code)]
    pub(crate) fn stream(&self) -> &TcpStream {
        &self.conn.stream
    }
}

/// The connection's socket and read buffer.
struct Conn {
    stream: Arc<TcpStream>,
    /// Bytes read but not consumed yet.
    buf: Vec<u8>,
    limits: Limits,
    /// The socket's read timeout as last set, to skip redundant `setsockopt` calls.
    read_timeout: Option<Duration>,
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
                self.stream.set_read_timeout(Some(need))?;
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
            match (&*self.stream).read(&mut chunk) {
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

    fn read_exact_by(&mut self, out: &mut [u8], deadline: Instant) -> io::Result<()> {
        let mut filled = 0;
        while filled < out.len() {
            if self.buf.is_empty() {
                // Large bodies are read straight into `out`, not through `buf`.
                self.arm_read_timeout(deadline)?;
                match (&*self.stream).read(&mut out[filled..]) {
                    Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        return Err(io::ErrorKind::TimedOut.into())
                    }
                    Err(e) => return Err(e),
                }
            } else {
                let n = self.buf.len().min(out.len() - filled);
                out[filled..filled + n].copy_from_slice(&self.buf[..n]);
                self.buf.drain(..n);
                filled += n;
            }
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
        let mut s = &*self.stream;
        resp.write_to(&mut s)
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

/// Serves one connection until it closes, idles out or is taken over.
pub(crate) fn serve_connection(
    stream: Arc<TcpStream>,
    peer: SocketAddr,
    limits: Limits,
    service: &dyn Service,
) {
    let _ = stream.set_nodelay(true);
    // Every response write is bounded by the write timeout (set once, here).
    if let Err(e) = stream.set_write_timeout(Some(limits.write_timeout)) {
        log::debug!("cannot set a write timeout for {peer}: {e}");
        return;
    }
    let mut conn = Conn {
        stream,
        buf: Vec::new(),
        limits,
        read_timeout: None,
    };
    loop {
        let head = match read_head(&mut conn, peer) {
            Ok(h) => h,
            Err(HeadError::Closed) => return,
            Err(HeadError::Respond(status)) => {
                log::debug!("bad request head from {peer}: answering {status}");
                let _ = conn.write_response(&mut Response::new(status).closing());
                return;
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
            expect_continue: head.expect_continue,
            conn: &mut conn,
        };
        let mut resp = match service.serve(&mut ex) {
            Outcome::Upgraded => return,
            Outcome::Respond(r) => r,
        };
        let is_head = ex.request.method == http::Method::HEAD;
        // An unread body is drained if small, else the connection is closed.
        let unread = !ex.body_done && !drain_small_body(&mut ex);
        if is_head {
            resp.head_only = true;
        }
        if !keep_alive || unread {
            resp.close = true;
        }
        let written = conn.write_response(&mut resp).is_ok();
        if let Some(f) = resp.on_written.take() {
            f(written);
        }
        if !written || resp.close {
            let _ = conn.stream.shutdown(std::net::Shutdown::Write);
            return;
        }
    }
}

/// Reads and discards a small unread `Content-Length` body so that the connection can
/// be kept alive; `false` if it is chunked, too large or does not arrive.
fn drain_small_body(ex: &mut Exchange<'_>) -> bool {
    if ex.framing == Framing::Chunked || ex.remaining > 64 * 1024 {
        return false;
    }
    let mut sink = vec![0; ex.remaining as usize];
    let deadline = Instant::now() + ex.conn.limits.body_timeout;
    ex.conn.read_exact_by(&mut sink, deadline).is_ok()
}

fn read_head(conn: &mut Conn, peer: SocketAddr) -> Result<Head, HeadError> {
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
                let head = build_head(&req, peer)?;
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

fn build_head(req: &httparse::Request<'_, '_>, peer: SocketAddr) -> Result<Head, HeadError> {
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
            secure: false,
        },
        framing,
        keep_alive: !connection_close,
        expect_continue,
    })
}
