//! The WebSocket transport over tungstenite: connecting (directly or through an HTTP
//! `CONNECT` proxy, with TLS for `wss`), the reader thread, the writer, and the
//! upgrade from polling (probe, pause polling, `5`).
//!
//! The stream is split. A reader thread blocks in `read` on its own half. Everything
//! written goes through [`WsWriter`], whose writer lock is the only lock ever held
//! across a socket write:
//!
//! - a [`send`](WsWriter::send) takes the writer lock (waiting at most until its
//!   deadline, the request timeout), writes its frame whole, and lets go; concurrent
//!   senders are ordered by the lock, and never hold the connection's state lock
//!   while they wait;
//! - the reader never waits for the writer lock: its pong answers (Engine.IO `3` and
//!   tungstenite's WebSocket pongs and close replies) go into a small control slot,
//!   written at once when the lock is free, or else by the thread holding it before
//!   it lets go (every holder looks again after letting go, so nothing is stranded);
//!   the v3 heartbeat thread leaves its pings there the same way;
//! - each write ends by a total deadline, not a per-call timeout (see `deadline.rs`).
//!
//! Frames follow the session's protocol version (`transport::ws`): v4 binary frames
//! hold the message alone (W2), v3 binary frames start with the type byte `04` (V9);
//! with `force_base64` binary messages go as `b…` text frames instead.
//!
//! Over TLS the halves share one rustls connection (see `tls.rs`) whose lock is
//! never held across a socket call, so `wss` behaves the same.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use parking_lot::{Mutex, MutexGuard};
use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::HandshakeError;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, Role, WebSocketConfig, WebSocketContext};
use tungstenite::{Message as WsMessage, WebSocket};

use crate::client::config::Config;
use crate::client::conn::{Attempt, Conn};
use crate::client::deadline::{self, DeadlineStream, Timer};
use crate::client::incoming::{self, Limits, MAX_ANSWER_BYTES};
use crate::client::Reason;
use crate::packet::{Handshake, Packet};
use crate::transport::{ws, Transport};
use crate::{Error, ErrorKind, ProtocolVersion, Result};

/// The most bytes of control frames (pongs, close replies) the reader may leave for
/// the writer; beyond, tungstenite keeps them (it keeps one pong, the latest).
const MAX_CONTROL_BYTES: usize = 4 * 1024;
/// The largest answer head a proxy may send to `CONNECT`.
const MAX_PROXY_HEAD: usize = 16 * 1024;

/// The socket's write half: plain TCP, or the TLS writer.
enum RawWrite {
    Tcp {
        socket: TcpStream,
        timer: Timer,
    },
    #[cfg(feature = "tls")]
    Tls(crate::client::tls::TlsWrite),
}

impl RawWrite {
    fn write_all(&mut self, buf: &[u8], deadline: Instant) -> io::Result<()> {
        match self {
            RawWrite::Tcp { socket, timer } => deadline::write_all(socket, buf, deadline, timer),
            #[cfg(feature = "tls")]
            RawWrite::Tls(tls) => tls.write_all(buf, deadline),
        }
    }
}

/// What tungstenite writes frames into: the write half, with the deadline of the
/// write in progress. tungstenite hands it whole frames, and it takes them whole or
/// fails (the writer is then dead), so frames never interleave.
struct Sink {
    raw: RawWrite,
    deadline: Instant,
}

impl Read for Sink {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the WebSocket writer does not read",
        ))
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.raw.write_all(buf, self.deadline)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Everything behind the writer lock.
struct Out {
    /// The sending side of the WebSocket protocol (framing, masking, close state).
    ctx: WebSocketContext,
    sink: Sink,
    version: ProtocolVersion,
    /// Binary messages as `b…` text frames (`force_base64`).
    b64: bool,
}

impl Out {
    /// Writes `packets`, one frame each (W1, W2, V9), and flushes, by `deadline`.
    fn send(&mut self, packets: &[Packet], deadline: Instant) -> Result<()> {
        self.sink.deadline = deadline;
        for packet in packets {
            self.ctx
                .write(&mut self.sink, to_message(packet, self.b64, self.version))
                .map_err(write_error)?;
        }
        self.ctx.flush(&mut self.sink).map_err(write_error)
    }
}

/// What the reader (or the v3 heartbeat) leaves for whoever holds the writer lock.
#[derive(Default)]
struct Control {
    /// The Engine.IO heartbeat packet to send: v4, the pong to the server's ping (a
    /// newer ping replaces an unsent pong: an honest server has one ping outstanding
    /// at most); v3, the client's ping.
    heartbeat: Option<Packet>,
    /// Frames tungstenite's reader made (WebSocket pongs, the close reply).
    frames: Vec<u8>,
}

impl Control {
    fn is_empty(&self) -> bool {
        self.heartbeat.is_none() && self.frames.is_empty()
    }
}

/// The sending side of a WebSocket connection.
pub(crate) struct WsWriter {
    out: Mutex<Out>,
    control: Mutex<Control>,
    /// A write failed or timed out: a frame may be half written, nothing more may go.
    failed: std::sync::atomic::AtomicBool,
    socket: TcpStream,
    timeout: Duration,
}

impl fmt::Debug for WsWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsWriter").finish_non_exhaustive()
    }
}

fn write_error(e: tungstenite::Error) -> Error {
    match e {
        tungstenite::Error::Io(io)
            if matches!(
                io.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ) =>
        {
            Error::new(
                ErrorKind::Timeout,
                "the WebSocket write did not finish within the request timeout",
            )
            .with_source(io)
        }
        tungstenite::Error::Io(io) => Error::from(io),
        other => Error::new(ErrorKind::NotConnected, "the WebSocket is closed").with_source(other),
    }
}

/// The writer lock, held: one write at a time. Letting go writes what the reader
/// left meanwhile, if the lock is free then.
pub(crate) struct WriterGuard<'a> {
    writer: &'a WsWriter,
    out: Option<MutexGuard<'a, Out>>,
}

impl WriterGuard<'_> {
    /// Writes `packets` in order, then flushes, within the request timeout.
    pub(crate) fn send_all(&mut self, packets: &[Packet]) -> Result<()> {
        let deadline = Instant::now() + self.writer.timeout;
        let out = self.out.as_mut().expect("held until dropped");
        let result = out.send(packets, deadline);
        self.writer.check(result)
    }
}

impl Drop for WriterGuard<'_> {
    fn drop(&mut self) {
        if let Some(mut out) = self.out.take() {
            let _ = self.writer.write_control(&mut out);
            drop(out);
            let _ = self.writer.flush_control();
        }
    }
}

impl WsWriter {
    fn new(raw: RawWrite, socket: TcpStream, config: &Config) -> WsWriter {
        WsWriter {
            out: Mutex::new(Out {
                ctx: WebSocketContext::new(Role::Client, Some(writer_config())),
                sink: Sink {
                    raw,
                    deadline: Instant::now(),
                },
                version: config.protocol,
                b64: config.b64,
            }),
            control: Mutex::new(Control::default()),
            failed: std::sync::atomic::AtomicBool::new(false),
            socket,
            timeout: config.request_timeout,
        }
    }

    fn is_failed(&self) -> bool {
        self.failed.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Records a failed write: the socket may hold half a frame.
    fn check<T>(&self, result: Result<T>) -> Result<T> {
        if result.is_err() {
            self.failed
                .store(true, std::sync::atomic::Ordering::Release);
        }
        result
    }

    /// Takes the writer lock, waiting at most until `deadline`.
    fn lock(&self, deadline: Instant) -> Result<WriterGuard<'_>> {
        let Some(out) = self.out.try_lock_until(deadline) else {
            return self.check(Err(Error::new(
                ErrorKind::Timeout,
                "another WebSocket write held the connection for the whole request timeout",
            )));
        };
        if self.is_failed() {
            return Err(Error::new(
                ErrorKind::NotConnected,
                "an earlier WebSocket write failed",
            ));
        }
        Ok(WriterGuard {
            writer: self,
            out: Some(out),
        })
    }

    /// The writer lock, if nobody holds it (for the upgrade's switch, on a writer
    /// nobody else knows yet).
    pub(crate) fn try_begin(&self) -> Option<WriterGuard<'_>> {
        let out = self.out.try_lock()?;
        Some(WriterGuard {
            writer: self,
            out: Some(out),
        })
    }

    /// Writes one packet as one frame (W1, W2), within the request timeout.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Timeout`] when it could not be written in time (the writer is
    /// then dead), an I/O error when the write failed.
    pub(crate) fn send(&self, packet: &Packet) -> Result<()> {
        let deadline = Instant::now() + self.timeout;
        let mut guard = self.lock(deadline)?;
        let out = guard.out.as_mut().expect("held");
        let result = out.send(std::slice::from_ref(packet), deadline);
        self.check(result)
    }

    /// CLOSE (`1`) written and flushed, then the close frame (CL6), by `deadline`.
    pub(crate) fn send_close(&self, deadline: Instant) -> Result<()> {
        let mut guard = self.lock(deadline)?;
        let out = guard.out.as_mut().expect("held");
        let result = out.send(&[Packet::Close], deadline).and_then(|()| {
            let Out { ctx, sink, .. } = &mut **out;
            ctx.close(
                sink,
                Some(CloseFrame {
                    code: CloseCode::Normal,
                    reason: "".into(),
                }),
            )
            .map_err(write_error)
        });
        self.check(result)
    }

    /// Sends a heartbeat packet (v4 a pong, v3 a ping) without waiting for a write
    /// in progress: that write's thread sends it when done. One waits at most: a
    /// newer one replaces it.
    pub(crate) fn queue_heartbeat(&self, packet: Packet) -> Result<()> {
        self.control.lock().heartbeat = Some(packet);
        self.flush_control()
    }

    /// Takes frames tungstenite's reader made; `WouldBlock` (tungstenite keeps them
    /// and retries) when too many are waiting already.
    fn push_frames(&self, frames: &[u8]) -> io::Result<()> {
        {
            let mut control = self.control.lock();
            if control.frames.len() + frames.len() > MAX_CONTROL_BYTES {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            control.frames.extend_from_slice(frames);
        }
        self.flush_control()
            .map_err(|e| io::Error::new(io::ErrorKind::BrokenPipe, e))
    }

    /// Writes raw bytes with the writer lock, by `deadline` (the HTTP handshake).
    fn write_raw(&self, buf: &[u8], deadline: Instant) -> io::Result<()> {
        let mut guard = self.lock(deadline).map_err(|_| deadline::timed_out())?;
        let out = guard.out.as_mut().expect("held");
        let result = out.sink.raw.write_all(buf, deadline);
        if result.is_err() {
            self.failed
                .store(true, std::sync::atomic::Ordering::Release);
        }
        result
    }

    /// Writes what the reader left, with the writer lock held.
    fn write_control(&self, out: &mut Out) -> Result<()> {
        let Control { heartbeat, frames } = std::mem::take(&mut *self.control.lock());
        if heartbeat.is_none() && frames.is_empty() {
            return Ok(());
        }
        if self.is_failed() {
            return Err(Error::new(
                ErrorKind::NotConnected,
                "an earlier WebSocket write failed",
            ));
        }
        let deadline = Instant::now() + self.timeout;
        let mut result = Ok(());
        if !frames.is_empty() {
            result = out
                .sink
                .raw
                .write_all(&frames, deadline)
                .map_err(|e| write_error(tungstenite::Error::Io(e)));
        }
        if let (Ok(()), Some(packet)) = (&result, heartbeat) {
            result = out.send(&[packet], deadline);
        }
        self.check(result)
    }

    /// Writes what the reader left unless another thread holds the writer lock (it
    /// writes it before letting go, and every holder looks again after letting go).
    fn flush_control(&self) -> Result<()> {
        loop {
            if self.control.lock().is_empty() {
                return Ok(());
            }
            let Some(mut out) = self.out.try_lock() else {
                return Ok(());
            };
            self.write_control(&mut out)?;
        }
    }

    /// Interrupts the reader and any write in progress.
    pub(crate) fn shutdown(&self) {
        let _ = self.socket.shutdown(Shutdown::Both);
    }

    /// After a completed close handshake: half-closes, then waits (at most `wait`) for
    /// the server to close its side, discarding what still arrives, then shuts down.
    pub(crate) fn close_gracefully(&self, wait: Duration) {
        let _ = self.socket.shutdown(Shutdown::Write);
        let deadline = Instant::now() + wait;
        let mut buf = [0u8; 1024];
        loop {
            let now = Instant::now();
            if now >= deadline || self.socket.set_read_timeout(Some(deadline - now)).is_err() {
                break;
            }
            match (&self.socket).read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let _ = self.socket.shutdown(Shutdown::Both);
    }
}

/// `packet` as a WebSocket message of `version` (W1–W4, V9).
fn to_message(packet: &Packet, b64: bool, version: ProtocolVersion) -> WsMessage {
    ws::to_message_for(packet, b64, version)
}

/// The packet a WebSocket message of `version` carries; `None` for control frames.
fn from_message(message: WsMessage, version: ProtocolVersion) -> Result<Option<Packet>> {
    ws::from_message_for(message, version)
}

/// The size of the WebSocket message carrying `packet` (W2, W4, V9): what the
/// server holds against its `maxPayload`.
pub(crate) fn frame_len(packet: &Packet, config: &Config) -> usize {
    match ws::frame_for(packet, config.b64, config.protocol) {
        ws::VersionFrame::Binary { prefix, data } => prefix.len() + data.len(),
        ws::VersionFrame::Text => ws::text_len(packet, config.protocol),
    }
}

/// The socket's read half.
enum ReadSide {
    Tcp {
        socket: TcpStream,
        timer: Timer,
    },
    #[cfg(feature = "tls")]
    Tls(crate::client::tls::TlsRead),
}

/// The reader's stream: reads its own half (by a deadline while connecting), writes
/// through the [`WsWriter`].
pub(crate) struct ReadHalf {
    read: ReadSide,
    deadline: Option<Instant>,
    writer: Arc<WsWriter>,
    /// During the HTTP handshake, writes wait for the writer lock; afterwards they
    /// are control frames, left for the writer when it is busy.
    handshaking: bool,
}

impl Read for ReadHalf {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.read {
            ReadSide::Tcp { socket, timer } => deadline::read(socket, buf, self.deadline, timer),
            #[cfg(feature = "tls")]
            ReadSide::Tls(tls) => {
                tls.set_deadline(self.deadline);
                tls.read(buf)
            }
        }
    }
}

impl Write for ReadHalf {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.handshaking {
            let deadline = self
                .deadline
                .unwrap_or_else(|| Instant::now() + self.writer.timeout);
            self.writer.write_raw(buf, deadline)?;
        } else {
            self.writer.push_frames(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// An open WebSocket: the reader's end, the writer, and the socket (for timeouts and
/// shutdown).
pub(crate) struct Link {
    pub(crate) reader: WebSocket<ReadHalf>,
    pub(crate) writer: Arc<WsWriter>,
    socket: TcpStream,
}

impl Link {
    /// From now on the reader waits for frames as long as it takes (the heartbeat
    /// watches the connection), and accepts messages within `limits`.
    fn start_reading(&mut self, limits: &Limits) {
        self.reader.get_mut().deadline = None;
        self.reader.set_config(|c| {
            c.max_message_size = Some(limits.packet);
            c.max_frame_size = Some(limits.packet);
        });
    }
}

/// The reader's configuration: 16 KiB read buffer, messages and frames of at most
/// `max_message` bytes, a bounded buffer of control frames waiting to be written.
fn reader_config(max_message: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(16 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_CONTROL_BYTES * 4)
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message))
}

fn writer_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(0)
}

fn connect_error(message: String, e: io::Error) -> Error {
    // A TLS alert from the server or a TLS stream cut short: after a TLS 1.3
    // handshake, a refused client certificate shows only on the first read.
    #[cfg(feature = "tls")]
    if let Some(note) = crate::client::tls::tls_io_failure(&e, false) {
        return Error::new(ErrorKind::Tls, format!("{message}{note}")).with_source(e);
    }
    let kind = match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ErrorKind::Timeout,
        _ => ErrorKind::Connect,
    };
    Error::new(kind, message).with_source(e)
}

/// The time left until `deadline`, or a timeout error.
fn left(deadline: Instant, what: &str) -> Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left < Duration::from_millis(1) {
        return Err(Error::new(
            ErrorKind::Timeout,
            format!("{what}: the request timeout passed"),
        ));
    }
    Ok(left)
}

/// Opens the TCP connection to the server, or to the proxy followed by `CONNECT`,
/// by `deadline`.
fn connect_tcp(config: &Config, deadline: Instant, attempt: Option<&Attempt>) -> Result<TcpStream> {
    let target = &config.target;
    let (host, port) = match &config.proxy {
        Some(proxy) => (proxy.host().to_owned(), proxy.port()),
        None => (target.bare_host().to_owned(), target.port),
    };
    let addrs = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| connect_error(format!("cannot resolve {host}"), e))?;
    let mut last = None;
    let mut stream = None;
    for addr in addrs {
        let timeout = left(deadline, "connecting")?;
        // The socket is registered before it connects: on Linux, shutting down a
        // socket still connecting makes the attempt fail at once, so a cancel does
        // not wait for the timeout.
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )?;
        if let Some(attempt) = attempt {
            attempt.add_socket(&TcpStream::from(socket.try_clone()?))?;
        }
        match socket.connect_timeout(&addr.into(), timeout) {
            Ok(()) => {
                stream = Some(TcpStream::from(socket));
                break;
            }
            Err(e) => {
                if let Some(attempt) = attempt {
                    attempt.check()?;
                }
                last = Some(e);
            }
        }
    }
    let stream = match (stream, last) {
        (Some(s), _) => s,
        (None, Some(e)) => {
            return Err(connect_error(format!("cannot connect to {host}:{port}"), e))
        }
        (None, None) => {
            return Err(Error::new(
                ErrorKind::Connect,
                format!("{host} has no address"),
            ))
        }
    };
    let _ = stream.set_nodelay(true);
    if let Some(proxy) = &config.proxy {
        proxy_connect(&stream, proxy, target.bare_host(), target.port, deadline)?;
    }
    Ok(stream)
}

/// Asks an HTTP proxy for a tunnel to `host:port`, by `deadline`.
fn proxy_connect(
    stream: &TcpStream,
    proxy: &ureq::Proxy,
    host: &str,
    port: u16,
    deadline: Instant,
) -> Result<()> {
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(user) = proxy.username() {
        let credentials = format!("{user}:{}", proxy.password().unwrap_or(""));
        request.push_str(&format!(
            "Proxy-Authorization: Basic {}\r\n",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        ));
    }
    request.push_str("\r\n");
    let mut io = DeadlineStream::new(stream, deadline);
    io.write_all(request.as_bytes())
        .map_err(|e| connect_error("cannot write to the proxy".into(), e))?;
    // Read the answer's head a byte at a time: nothing after it may be consumed,
    // since the tunnel's first bytes belong to the WebSocket handshake.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && !head.ends_with(b"\n\n") {
        if head.len() >= MAX_PROXY_HEAD {
            return Err(Error::new(
                ErrorKind::Connect,
                format!("the proxy's answer head exceeds {MAX_PROXY_HEAD} bytes"),
            ));
        }
        match io.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => head.push(byte[0]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(connect_error("no answer from the proxy".into(), e)),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let status_line = head.lines().next().unwrap_or("");
    let status = status_line.split_whitespace().nth(1).unwrap_or("");
    if !status.starts_with('2') {
        return Err(Error::new(
            ErrorKind::Connect,
            format!("the proxy refused the tunnel: {}", status_line.trim()),
        ));
    }
    Ok(())
}

/// Connects a WebSocket to the server for the session `sid` (or a new session), by
/// `deadline`, accepting a first message of at most `max_message` bytes.
pub(crate) fn open(
    config: &Config,
    sid: Option<&str>,
    cookie: Option<&str>,
    deadline: Instant,
    max_message: usize,
    attempt: Option<&Attempt>,
) -> Result<Link> {
    let url = config.url(Transport::WebSocket, sid);
    log::debug!("engineio client: WebSocket {url}");
    let tcp = connect_tcp(config, deadline, attempt)?;
    let socket = tcp.try_clone()?;
    let (read, raw) = if config.target.secure {
        #[cfg(feature = "tls")]
        {
            let (r, w) = config.tls.connect(
                config.target.bare_host(),
                tcp,
                deadline,
                config.request_timeout,
            )?;
            (ReadSide::Tls(r), RawWrite::Tls(w))
        }
        #[cfg(not(feature = "tls"))]
        {
            drop(tcp);
            return Err(Error::new(
                ErrorKind::Config,
                "wss needs the crate feature `tls`",
            ));
        }
    } else {
        (
            ReadSide::Tcp {
                socket: tcp.try_clone()?,
                timer: Timer::default(),
            },
            RawWrite::Tcp {
                socket: tcp,
                timer: Timer::default(),
            },
        )
    };
    let writer = Arc::new(WsWriter::new(raw, socket.try_clone()?, config));
    let stream = ReadHalf {
        read,
        deadline: Some(deadline),
        writer: Arc::clone(&writer),
        handshaking: true,
    };
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| Error::new(ErrorKind::Config, "invalid WebSocket URL").with_source(e))?;
    for (name, value) in &config.headers {
        let name = tungstenite::http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| Error::new(ErrorKind::Config, "invalid header").with_source(e))?;
        let value = tungstenite::http::HeaderValue::from_str(value)
            .map_err(|e| Error::new(ErrorKind::Config, "invalid header").with_source(e))?;
        request.headers_mut().append(name, value);
    }
    if let Some(cookie) = cookie {
        if let Ok(value) = tungstenite::http::HeaderValue::from_str(cookie) {
            request.headers_mut().insert("cookie", value);
        }
    }
    let config_ws = reader_config(max_message);
    let mut reader = match tungstenite::client::client_with_config(request, stream, Some(config_ws))
    {
        Ok((ws, _response)) => ws,
        Err(HandshakeError::Interrupted(_)) => {
            return Err(Error::new(
                ErrorKind::Timeout,
                "the WebSocket handshake timed out",
            ))
        }
        Err(HandshakeError::Failure(tungstenite::Error::Http(response))) => {
            let status = response.status().as_u16();
            let mut body = response.body().clone().unwrap_or_default();
            // tungstenite keeps only the body bytes that came with the head; read the
            // rest of a short body (plain TCP only: a TLS stream is gone by now).
            let declared = response
                .headers()
                .get("content-length")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0)
                .min(MAX_ANSWER_BYTES);
            if !config.target.secure && body.len() < declared {
                let mut rest = vec![0; declared - body.len()];
                if DeadlineStream::new(&socket, deadline)
                    .read_exact(&mut rest)
                    .is_ok()
                {
                    body.extend_from_slice(&rest);
                }
            }
            body.truncate(MAX_ANSWER_BYTES);
            let body = String::from_utf8_lossy(&body).into_owned();
            return Err(
                Error::new(ErrorKind::Handshake, "the server refused the WebSocket")
                    .with_response(status, body),
            );
        }
        Err(HandshakeError::Failure(tungstenite::Error::Io(e))) => {
            #[cfg(feature = "tls")]
            if config.target.secure && config.tls.client_cert {
                if let Some(note) = crate::client::tls::tls_io_failure(&e, true) {
                    return Err(Error::new(
                        ErrorKind::Tls,
                        format!("the WebSocket handshake failed{note}"),
                    )
                    .with_source(e));
                }
            }
            return Err(connect_error("the WebSocket handshake failed".into(), e));
        }
        Err(HandshakeError::Failure(e)) => {
            return Err(
                Error::new(ErrorKind::Connect, "the WebSocket handshake failed").with_source(e),
            )
        }
    };
    reader.get_mut().handshaking = false;
    Ok(Link {
        reader,
        writer,
        socket,
    })
}

/// Reads one packet of `version`, by the reader's deadline (control frames are
/// answered and skipped, but they do not extend it).
fn read_packet(reader: &mut WebSocket<ReadHalf>, version: ProtocolVersion) -> Result<Packet> {
    loop {
        if let Some(deadline) = reader.get_ref().deadline {
            left(deadline, "waiting for a WebSocket message")?;
        }
        return match reader.read() {
            Ok(m @ (WsMessage::Text(_) | WsMessage::Binary(_))) => {
                match from_message(m, version)? {
                    Some(packet) => Ok(packet),
                    None => continue,
                }
            }
            Ok(WsMessage::Close(_)) => Err(Error::new(
                ErrorKind::NotConnected,
                "the server closed the WebSocket",
            )),
            Ok(_) => continue,
            Err(tungstenite::Error::Io(e)) => Err(connect_error("WebSocket read failed".into(), e)),
            Err(tungstenite::Error::Capacity(e)) => Err(Error::new(
                ErrorKind::Handshake,
                "the server's first WebSocket message is too large",
            )
            .with_source(e)),
            Err(e) => Err(Error::new(ErrorKind::Connect, "WebSocket read failed").with_source(e)),
        };
    }
}

/// A WebSocket-only connection: the handshake is the first frame (H7), all by
/// `deadline`.
pub(crate) fn handshake(
    config: &Config,
    deadline: Instant,
    attempt: &Attempt,
) -> Result<(Handshake, Link)> {
    let mut link = open(
        config,
        None,
        None,
        deadline,
        Limits::handshake().packet,
        Some(attempt),
    )?;
    let packet = read_packet(&mut link.reader, config.protocol)?;
    let handshake = match packet {
        Packet::Open(json) => Handshake::from_json(&json).map_err(|e| {
            Error::new(ErrorKind::Handshake, "the OPEN packet is invalid").with_source(e)
        })?,
        other => {
            return Err(Error::new(
                ErrorKind::Handshake,
                format!(
                    "the first WebSocket packet is a {} packet, not OPEN",
                    other.packet_type()
                ),
            ))
        }
    };
    incoming::check_heartbeat(config, &handshake)?;
    Ok((handshake, link))
}

/// Starts the reader thread of a connection whose transport is this WebSocket.
pub(crate) fn start_reader(conn: &Arc<Conn>, mut link: Link) -> Result<()> {
    link.start_reading(&conn.limits);
    let Link { reader, .. } = link;
    let c = Arc::clone(conn);
    conn.spawn("ws", move || read_loop(&c, reader))
}

fn read_loop(conn: &Conn, mut reader: WebSocket<ReadHalf>) {
    loop {
        let packet = match reader.read() {
            Ok(m @ (WsMessage::Text(_) | WsMessage::Binary(_))) => {
                let decoded = from_message(m, conn.version()).and_then(|p| {
                    if let Some(Packet::Message(message)) = &p {
                        conn.limits.check_message(message)?;
                    }
                    Ok(p)
                });
                match decoded {
                    Ok(Some(packet)) => packet,
                    Ok(None) => continue,
                    Err(e) => {
                        log::warn!("engineio client: refused WebSocket message: {e}");
                        conn.transport_ended(Reason::TransportError);
                        return;
                    }
                }
            }
            Ok(WsMessage::Close(frame)) => {
                // A close frame is the server hanging up on purpose (the reference
                // server sends no `1` first); other codes report a failure.
                let reason = match frame.map(|f| f.code) {
                    None | Some(CloseCode::Normal) | Some(CloseCode::Away) => {
                        Reason::ServerDisconnect
                    }
                    Some(code) => {
                        log::info!("engineio client: the server closed the WebSocket with {code}");
                        Reason::TransportError
                    }
                };
                conn.transport_ended(reason);
                return;
            }
            Ok(_) => continue,
            Err(e) => {
                let reason = match &e {
                    tungstenite::Error::ConnectionClosed
                    | tungstenite::Error::AlreadyClosed
                    | tungstenite::Error::Protocol(
                        tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
                    ) => Reason::TransportClose,
                    tungstenite::Error::Io(io)
                        if matches!(
                            io.kind(),
                            io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset
                        ) =>
                    {
                        Reason::TransportClose
                    }
                    _ => Reason::TransportError,
                };
                if !conn.is_closed() {
                    log::info!("engineio client: WebSocket read ended: {e}");
                }
                conn.transport_ended(reason);
                return;
            }
        };
        if !conn.on_packet(packet) {
            return;
        }
    }
}

/// Starts the upgrade thread (CL5): it probes, switches, then becomes the reader.
pub(crate) fn start_upgrade(conn: &Arc<Conn>) -> Result<()> {
    conn.state.lock().upgrade_pending = true;
    let c = Arc::clone(conn);
    let result = conn.spawn("upgrade", move || upgrade(&c));
    if result.is_err() {
        conn.state.lock().upgrade_pending = false;
    }
    result
}

fn upgrade_failed(conn: &Conn, why: &str) {
    log::info!("engineio client: upgrade to WebSocket failed, staying on polling: {why}");
    let mut state = conn.state.lock();
    state.probe = None;
    // The server restarts its heartbeat after a failed upgrade (X3). On v3 a pong may
    // also have waited for the probe: the server holds its packets once `2probe` is in.
    if (state.upgrading || conn.version() == ProtocolVersion::V3) && state.closed.is_none() {
        state.restart_heartbeat();
    }
    state.upgrading = false;
    state.upgrade_pending = false;
    conn.cond.notify_all();
}

fn upgrade(conn: &Conn) {
    let timeout = conn.config.request_timeout;
    let started = Instant::now();
    let mut link = match open(
        &conn.config,
        Some(&conn.handshake.sid),
        conn.cookie.as_deref(),
        started + timeout,
        conn.limits.packet,
        None,
    ) {
        Ok(link) => link,
        Err(e) => return upgrade_failed(conn, &e.to_string()),
    };
    {
        let mut state = conn.state.lock();
        if state.closed.is_some() || state.closing {
            drop(state);
            let _ = link.socket.shutdown(Shutdown::Both);
            return upgrade_failed(conn, "the connection is closing");
        }
        match link.socket.try_clone() {
            Ok(s) => state.probe = Some(s),
            Err(e) => {
                drop(state);
                return upgrade_failed(conn, &e.to_string());
            }
        }
    }
    let abandon = |link: &Link, why: &str| {
        let _ = link.socket.shutdown(Shutdown::Both);
        upgrade_failed(conn, why);
    };

    // 1. Probe: `2probe` must be answered by `3probe` within the request timeout.
    if let Err(e) = link.writer.send(&Packet::Ping("probe".into())) {
        return abandon(&link, &e.to_string());
    }
    match read_packet(&mut link.reader, conn.version()) {
        Ok(Packet::Pong(data)) if data == "probe" => {}
        Ok(other) => {
            return abandon(
                &link,
                &format!("the probe was answered by a {} packet", other.packet_type()),
            )
        }
        Err(e) => return abandon(&link, &e.to_string()),
    }

    // 2. Pause polling and wait for the GET and POST in flight to end (X6).
    {
        let mut state = conn.state.lock();
        state.upgrading = true;
        conn.cond.notify_all();
        let deadline = Instant::now() + timeout;
        loop {
            if state.closed.is_some() || state.closing {
                drop(state);
                return abandon(&link, "the connection is closing");
            }
            if !state.get_in_flight && !state.post_in_flight {
                break;
            }
            if conn.cond.wait_until(&mut state, deadline).timed_out() {
                drop(state);
                return abandon(&link, "the polling requests in flight did not end in time");
            }
        }
    }

    // 3. `5`, then everything queued meanwhile, over the WebSocket, in order. The
    // writer lock is taken before the WebSocket is published to senders (it is
    // free: nobody else knows this writer), so nothing can go before `5`.
    {
        let mut state = conn.state.lock();
        if state.closed.is_some() || state.closing {
            drop(state);
            return abandon(&link, "the connection is closing");
        }
        let Some(mut writer) = link.writer.try_begin() else {
            drop(state);
            return abandon(&link, "the new WebSocket's writer is busy");
        };
        let mut packets = vec![Packet::Upgrade];
        packets.extend(state.outbox.drain(..));
        state.outbox_bytes = 0;
        state.transport = Transport::WebSocket;
        state.ws = Some(Arc::clone(&link.writer));
        state.probe = None;
        state.upgrading = false;
        state.upgrade_pending = false;
        state.restart_heartbeat();
        conn.cond.notify_all();
        drop(state);
        if let Err(e) = writer.send_all(&packets) {
            drop(writer);
            log::warn!("engineio client: writing the upgrade failed: {e}");
            conn.transport_ended(Reason::TransportError);
            return;
        }
    }
    log::debug!(
        "engineio client: upgraded {} to WebSocket in {:?}",
        conn.handshake.sid,
        started.elapsed()
    );
    link.start_reading(&conn.limits);
    read_loop(conn, link.reader);
}
