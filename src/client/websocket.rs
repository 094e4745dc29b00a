//! The WebSocket transport over tungstenite: connecting (directly or through an HTTP
//! `CONNECT` proxy, with TLS for `wss`), the reader thread, the writer, and the
//! upgrade from polling (probe, pause polling, `5`).
//!
//! The stream is split: a reader thread blocks in `read` on its own half, and writers
//! (the caller of `send`, the reader's pong answers, tungstenite's automatic control
//! frame replies) share the write half under one lock. Every write hands tungstenite's
//! whole output buffer to [`SharedWrite`] in one call, so frames never interleave. Over
//! TLS the halves share one rustls connection (see `tls.rs`), so `wss` adds no
//! latency either.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use parking_lot::{Mutex, MutexGuard};
use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::HandshakeError;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tungstenite::{Message as WsMessage, WebSocket};

use crate::client::config::Config;
use crate::client::conn::Conn;
use crate::client::Reason;
use crate::packet::{Handshake, Packet};
use crate::transport::Transport;
use crate::{Error, ErrorKind, Result};

type BoxedWrite = Box<dyn Write + Send>;

/// The write half, shared by the reader's stream and the writer.
#[derive(Clone)]
struct SharedWrite(Arc<Mutex<BoxedWrite>>);

impl SharedWrite {
    fn write_all(&self, buf: &[u8]) -> io::Result<usize> {
        let mut w = self.0.lock();
        w.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&self) -> io::Result<()> {
        self.0.lock().flush()
    }
}

/// The reader's stream: reads its own half, writes through the shared half.
pub(crate) struct ReadHalf {
    read: Box<dyn Read + Send>,
    write: SharedWrite,
}

impl Read for ReadHalf {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read.read(buf)
    }
}

impl Write for ReadHalf {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.write.flush()
    }
}

/// The writer's stream: writes only.
pub(crate) struct WriteOnly(SharedWrite);

impl Read for WriteOnly {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the WebSocket writer does not read",
        ))
    }
}

impl Write for WriteOnly {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// The sending side of a WebSocket connection.
pub(crate) struct WsWriter {
    ws: Mutex<WebSocket<WriteOnly>>,
    socket: TcpStream,
}

impl fmt::Debug for WsWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsWriter").finish_non_exhaustive()
    }
}

/// The writer, locked: one packet at a time.
pub(crate) struct WsWriterGuard<'a>(MutexGuard<'a, WebSocket<WriteOnly>>);

impl WsWriterGuard<'_> {
    /// Writes one packet as one frame (W1, W2) and flushes it.
    pub(crate) fn send(&mut self, packet: &Packet) -> Result<()> {
        self.0
            .send(crate::transport::ws::to_message(packet, false))
            .map_err(write_error)
    }

    /// Writes several packets, then flushes once.
    fn send_all(&mut self, packets: &[Packet]) -> Result<()> {
        for packet in packets {
            self.0
                .write(crate::transport::ws::to_message(packet, false))
                .map_err(write_error)?;
        }
        self.0.flush().map_err(write_error)
    }

    /// CLOSE (`1`) written and flushed, then the close frame (CL6).
    pub(crate) fn send_close(&mut self) -> Result<()> {
        self.send(&Packet::Close)?;
        self.0
            .close(Some(CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            }))
            .map_err(write_error)?;
        self.0.flush().map_err(write_error)
    }
}

fn write_error(e: tungstenite::Error) -> Error {
    match e {
        tungstenite::Error::Io(io) => Error::from(io),
        other => Error::new(ErrorKind::NotConnected, "the WebSocket is closed").with_source(other),
    }
}

impl WsWriter {
    pub(crate) fn lock(&self) -> WsWriterGuard<'_> {
        WsWriterGuard(self.ws.lock())
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

/// An open WebSocket: the reader's end, the writer, and the socket (for timeouts and
/// shutdown).
pub(crate) struct Link {
    pub(crate) reader: WebSocket<ReadHalf>,
    pub(crate) writer: Arc<WsWriter>,
    socket: TcpStream,
}

fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(16 * 1024)
}

fn connect_error(message: String, e: io::Error) -> Error {
    let kind = match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ErrorKind::Timeout,
        _ => ErrorKind::Connect,
    };
    Error::new(kind, message).with_source(e)
}

/// Opens the TCP connection to the server, or to the proxy followed by `CONNECT`.
fn connect_tcp(config: &Config) -> Result<TcpStream> {
    let timeout = config.request_timeout;
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
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = Some(e),
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
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let _ = stream.set_nodelay(true);
    if let Some(proxy) = &config.proxy {
        proxy_connect(&stream, proxy, target.bare_host(), target.port)?;
    }
    Ok(stream)
}

/// Asks an HTTP proxy for a tunnel to `host:port`.
fn proxy_connect(stream: &TcpStream, proxy: &ureq::Proxy, host: &str, port: u16) -> Result<()> {
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
    let mut writer = stream;
    writer
        .write_all(request.as_bytes())
        .map_err(|e| connect_error("cannot write to the proxy".into(), e))?;
    // Read the answer's head byte by byte-ish: nothing after it may be consumed,
    // since the tunnel's first bytes belong to the WebSocket handshake.
    let mut reader = BufReader::with_capacity(1, stream);
    let mut status_line = String::new();
    reader
        .read_line(&mut status_line)
        .map_err(|e| connect_error("no answer from the proxy".into(), e))?;
    let status = status_line.split_whitespace().nth(1).unwrap_or("");
    loop {
        let mut line = String::new();
        let n = reader
            .read_line(&mut line)
            .map_err(|e| connect_error("no answer from the proxy".into(), e))?;
        if n == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    if !status.starts_with('2') {
        return Err(Error::new(
            ErrorKind::Connect,
            format!("the proxy refused the tunnel: {}", status_line.trim()),
        ));
    }
    Ok(())
}

/// Connects a WebSocket to the server for the session `sid` (or a new session).
pub(crate) fn open(config: &Config, sid: Option<&str>, cookie: Option<&str>) -> Result<Link> {
    let url = config.url(Transport::WebSocket, sid);
    log::debug!("engineio client: WebSocket {url}");
    let tcp = connect_tcp(config)?;
    let socket = tcp.try_clone()?;
    let (read, write): (Box<dyn Read + Send>, BoxedWrite) = if config.target.secure {
        #[cfg(feature = "tls")]
        {
            let (r, w) = config.tls.connect(config.target.bare_host(), tcp)?;
            (Box::new(r), Box::new(w))
        }
        #[cfg(not(feature = "tls"))]
        {
            return Err(Error::new(
                ErrorKind::Config,
                "wss needs the crate feature `tls`",
            ));
        }
    } else {
        (Box::new(tcp.try_clone()?), Box::new(tcp))
    };
    let shared = SharedWrite(Arc::new(Mutex::new(write)));
    let stream = ReadHalf {
        read,
        write: shared.clone(),
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
    let reader = match tungstenite::client::client_with_config(request, stream, Some(ws_config())) {
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
                .min(64 * 1024);
            if !config.target.secure && body.len() < declared {
                let mut rest = vec![0; declared - body.len()];
                if (&socket).read_exact(&mut rest).is_ok() {
                    body.extend_from_slice(&rest);
                }
            }
            let body = String::from_utf8_lossy(&body).into_owned();
            return Err(
                Error::new(ErrorKind::Handshake, "the server refused the WebSocket")
                    .with_response(status, body),
            );
        }
        Err(HandshakeError::Failure(tungstenite::Error::Io(e))) => {
            return Err(connect_error("the WebSocket handshake failed".into(), e))
        }
        Err(HandshakeError::Failure(e)) => {
            return Err(
                Error::new(ErrorKind::Connect, "the WebSocket handshake failed").with_source(e),
            )
        }
    };
    let writer = Arc::new(WsWriter {
        ws: Mutex::new(WebSocket::from_raw_socket(
            WriteOnly(shared),
            Role::Client,
            Some(ws_config()),
        )),
        socket: socket.try_clone()?,
    });
    Ok(Link {
        reader,
        writer,
        socket,
    })
}

/// Reads one packet within the socket's read timeout.
fn read_packet(reader: &mut WebSocket<ReadHalf>) -> Result<Packet> {
    loop {
        return match reader.read() {
            Ok(m @ (WsMessage::Text(_) | WsMessage::Binary(_))) => {
                crate::transport::ws::from_message(m).map(|p| p.expect("a data message"))
            }
            Ok(WsMessage::Close(_)) => Err(Error::new(
                ErrorKind::NotConnected,
                "the server closed the WebSocket",
            )),
            Ok(_) => continue,
            Err(tungstenite::Error::Io(e)) => Err(connect_error("WebSocket read failed".into(), e)),
            Err(e) => Err(Error::new(ErrorKind::Connect, "WebSocket read failed").with_source(e)),
        };
    }
}

/// A WebSocket-only connection: the handshake is the first frame (H7).
pub(crate) fn handshake(config: &Config) -> Result<(Handshake, Link)> {
    let mut link = open(config, None, None)?;
    let packet = read_packet(&mut link.reader)?;
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
    Ok((handshake, link))
}

/// Starts the reader thread of a connection whose transport is this WebSocket.
pub(crate) fn start_reader(conn: &Arc<Conn>, link: Link) -> Result<()> {
    let Link { reader, socket, .. } = link;
    socket.set_read_timeout(None)?;
    let c = Arc::clone(conn);
    conn.spawn("ws", move || read_loop(&c, reader))
}

fn read_loop(conn: &Conn, mut reader: WebSocket<ReadHalf>) {
    loop {
        let packet = match reader.read() {
            Ok(m @ (WsMessage::Text(_) | WsMessage::Binary(_))) => {
                match crate::transport::ws::from_message(m) {
                    Ok(Some(packet)) => packet,
                    Ok(None) => continue,
                    Err(e) => {
                        log::warn!("engineio client: undecodable WebSocket message: {e}");
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
    if state.upgrading && state.closed.is_none() {
        // The server restarts its heartbeat after a failed upgrade (X3).
        state.last_ping = Instant::now();
    }
    state.upgrading = false;
    state.upgrade_pending = false;
    conn.cond.notify_all();
}

fn upgrade(conn: &Conn) {
    let timeout = conn.config.request_timeout;
    let mut link = match open(
        &conn.config,
        Some(&conn.handshake.sid),
        conn.cookie.as_deref(),
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
    let started = Instant::now();
    if let Err(e) = link.writer.lock().send(&Packet::Ping("probe".into())) {
        return abandon(&link, &e.to_string());
    }
    match read_packet(&mut link.reader) {
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

    // 3. `5`, then everything queued meanwhile, over the WebSocket, in order.
    {
        let mut state = conn.state.lock();
        if state.closed.is_some() || state.closing {
            drop(state);
            return abandon(&link, "the connection is closing");
        }
        let mut writer = link.writer.lock();
        let mut packets = vec![Packet::Upgrade];
        packets.extend(state.outbox.drain(..));
        state.outbox_bytes = 0;
        state.transport = Transport::WebSocket;
        state.ws = Some(Arc::clone(&link.writer));
        state.probe = None;
        state.upgrading = false;
        state.upgrade_pending = false;
        state.last_ping = Instant::now();
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
    if let Err(e) = link.socket.set_read_timeout(None) {
        log::warn!("engineio client: {e}");
        conn.transport_ended(Reason::TransportError);
        return;
    }
    read_loop(conn, link.reader);
}
