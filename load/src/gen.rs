//! The load generator's event loop: one thread, non-blocking sockets on epoll (`mio`),
//! any number of connections (15k and more within the process's file limit).
//!
//! The generator handles the protocols by itself: WebSocket and HTTP framing, the
//! Engine.IO handshake, answering every ping, the polling request cycle and the
//! upgrade. The scenario that drives it decides only what to send and when, and reads
//! back [`Event`]s from [`Gen::turn`].

use std::collections::VecDeque;
use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use crate::eio::{self, Packet};
use crate::http;
use crate::tls::{Tls, TlsStream};
use crate::ws::{self, opcode};

/// A connection's index, stable for its life; reused after it ends.
pub type ConnId = usize;

/// The token of the generator's timer (never a connection's index).
const TIMER: Token = Token(usize::MAX);

/// The largest message the generator accepts from a server.
const MAX_MESSAGE: usize = 2_000_000;

/// What a connection does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An Engine.IO session opened directly over WebSocket (`transport=websocket`).
    EioWs,
    /// A plain WebSocket (for the raw tungstenite echo): text frames echoed.
    RawWs,
    /// A plain TCP connection (for the raw TCP echo): `\n`-terminated messages.
    RawTcp,
    /// An Engine.IO session on long-polling: one keep-alive connection, each message
    /// POSTed, then a GET collects its echo (one request in flight at a time).
    PollingEcho,
    /// Polling handshakes in a loop on one keep-alive connection: GET open, POST
    /// close; [`Event::Cycle`] after each.
    PollingOpen,
    /// A full connect in a loop: polling handshake, WebSocket upgrade (`2probe`,
    /// `3probe`, `5`), one echoed message, close; [`Event::Cycle`] after each.
    FullConnect,
}

/// What the generator reports to the scenario.
#[derive(Debug)]
pub enum Event {
    /// The connection is ready for [`Gen::send_text`]: session open, WebSocket or TCP
    /// connected.
    Ready(ConnId),
    /// A message arrived (text or binary data, without the Engine.IO prefix), at the
    /// given time.
    Message(ConnId, Vec<u8>, Instant),
    /// A [`Kind::PollingOpen`] or [`Kind::FullConnect`] cycle completed.
    Cycle(ConnId, Instant),
    /// The connection ended, with why; its id is free again.
    Closed(ConnId, String),
}

/// Where a connection's bytes go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// Request/response HTTP; one request in flight.
    Http,
    /// Waiting for a `101 Switching Protocols`.
    Upgrading,
    /// WebSocket frames.
    Ws,
    /// `\n`-terminated lines.
    Lines,
}

/// Where a connection is in its kind's protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// WebSocket open, waiting for the Engine.IO OPEN packet.
    AwaitOpen,
    /// Ready: messages flow.
    Open,
    /// Polling handshake GET in flight.
    PollHandshake,
    /// Polling session: nothing in flight.
    PollIdle,
    /// Polling session: a POST in flight.
    PollPost,
    /// Polling session: a GET in flight.
    PollGet,
    /// PollingOpen: the closing POST in flight.
    CloseSession,
    /// FullConnect: `2probe` sent, waiting for `3probe`.
    Probing,
    /// FullConnect: upgraded, waiting for the echo.
    UpgradedEcho,
}

/// A connection's socket: plain, or under TLS. The plain arm's code is the code of a
/// generator without TLS; the TLS one is in [`crate::tls`].
enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

impl Stream {
    fn tcp(&mut self) -> &mut TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(t) => &mut t.tcp,
        }
    }

    /// Sends TLS's closing alert (best effort); nothing for a plain socket.
    fn close_notify(&mut self) {
        if let Stream::Tls(t) = self {
            t.close_notify();
        }
    }
}

struct Conn {
    kind: Kind,
    stream: Stream,
    connected: bool,
    framing: Framing,
    stage: Stage,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    wpos: usize,
    /// A fragmented WebSocket message being assembled: opcode and data so far.
    fragment: Option<(u8, Vec<u8>)>,
    sid: String,
    /// Polling: packets waiting to be POSTed.
    outbox: Vec<String>,
    /// Polling: echoes still expected.
    awaiting: usize,
}

/// Where the generator connects, and what its requests say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The server's address.
    pub addr: SocketAddr,
    /// The `Host` header of every request. Defaults to `addr`.
    pub host: String,
    /// The Engine.IO path, normalised (`/engine.io/`). Defaults to [`eio::PATH`].
    pub path: String,
    /// Query parameters put before the Engine.IO ones, encoded, without `?`. Defaults
    /// to none.
    pub query: String,
    /// TLS (`https`/`wss`) on every connection, when set. Defaults to none: plain TCP.
    pub tls: Option<Tls>,
}

impl Target {
    /// The server at `addr`, on the default path, with no extra query, over plain TCP.
    pub fn new(addr: SocketAddr) -> Target {
        Target {
            addr,
            host: addr.to_string(),
            path: eio::PATH.to_owned(),
            query: String::new(),
            tls: None,
        }
    }

    /// The same target over TLS.
    pub fn with_tls(mut self, tls: Tls) -> Target {
        self.tls = Some(tls);
        self
    }

    /// A new connection to the server: plain, or with a fresh TLS session.
    fn open(&self) -> io::Result<Stream> {
        let tcp = TcpStream::connect(self.addr)?;
        Ok(match &self.tls {
            None => Stream::Plain(tcp),
            Some(tls) => Stream::Tls(Box::new(tls.stream(tcp)?)),
        })
    }

    fn handshake_url(&self, transport: &str) -> String {
        eio::handshake_url(&self.path, &self.query, transport)
    }

    fn session_url(&self, transport: &str, sid: &str) -> String {
        eio::session_url(&self.path, &self.query, transport, sid)
    }
}

/// The kind of a [`Event::Closed`] reason, for counting errors by kind: `connect`
/// (the TCP connection failed), `http <status>` (a polling request was answered with
/// an error status), `websocket refused` (no `101`), `server closed` (a close packet,
/// a close frame or the connection's end), `io` (a read or write failed), `tls` (the
/// TLS handshake failed, an untrusted certificate included, or TLS broke later),
/// `protocol` (anything the generator could not read).
pub fn error_kind(reason: &str) -> String {
    if reason.starts_with("connect:") || reason.starts_with("register:") {
        "connect".into()
    } else if let Some(rest) = reason.strip_prefix("HTTP ") {
        let status: String = rest.chars().take_while(char::is_ascii_digit).collect();
        format!("http {status}")
    } else if reason.starts_with("WebSocket handshake refused") {
        "websocket refused".into()
    } else if reason == CLOSED_BY_SERVER
        || reason == WS_CLOSED_BY_SERVER
        || reason == SESSION_CLOSED_BY_SERVER
    {
        "server closed".into()
    } else if reason.starts_with("read:") || reason.starts_with("write:") {
        "io".into()
    } else if reason.starts_with("tls:") {
        "tls".into()
    } else {
        "protocol".into()
    }
}

const CLOSED_BY_SERVER: &str = "connection closed by the server";
const WS_CLOSED_BY_SERVER: &str = "WebSocket closed by the server";
const SESSION_CLOSED_BY_SERVER: &str = "session closed by the server";

/// The load generator: connections to one server.
pub struct Gen {
    poll: Poll,
    events: Events,
    /// A timerfd in the poll set, for waits shorter than epoll's 1 ms resolution.
    timer: OwnedFd,
    conns: Vec<Option<Conn>>,
    free: Vec<ConnId>,
    live: usize,
    target: Target,
    rng: u32,
    scratch: Vec<u8>,
    out: VecDeque<Event>,
    /// Engine.IO pings answered so far.
    pub pings_answered: u64,
}

impl Gen {
    /// A generator for the server at `addr`, on the default path.
    pub fn new(addr: SocketAddr) -> io::Result<Gen> {
        Gen::to(Target::new(addr))
    }

    /// A generator for `target`.
    pub fn to(target: Target) -> io::Result<Gen> {
        let poll = Poll::new()?;
        // SAFETY: timerfd_create has no memory-safety preconditions; the fd it
        // returns is owned by nobody else.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh, valid descriptor that nothing else owns.
        let timer = unsafe { OwnedFd::from_raw_fd(fd) };
        poll.registry()
            .register(&mut SourceFd(&timer.as_raw_fd()), TIMER, Interest::READABLE)?;
        Ok(Gen {
            poll,
            timer,
            events: Events::with_capacity(4096),
            conns: Vec::new(),
            free: Vec::new(),
            live: 0,
            target,
            rng: 0x9E37_79B9,
            scratch: vec![0; 256 * 1024],
            out: VecDeque::new(),
            pings_answered: 0,
        })
    }

    /// Points the connections started from now on at `target`; those open stay where
    /// they are. One generator (one thread, one clock) can so hold sessions on several
    /// servers, e.g. the nodes of a cluster.
    pub fn retarget(&mut self, target: Target) {
        self.target = target;
    }

    /// Connections alive now (connecting included).
    pub fn live(&self) -> usize {
        self.live
    }

    /// Starts a connection of `kind`; [`Event::Ready`] (or a cycle) follows when it is
    /// usable, [`Event::Closed`] when it fails.
    pub fn connect(&mut self, kind: Kind) -> io::Result<ConnId> {
        let mut stream = self.target.open()?;
        let id = self.free.pop().unwrap_or_else(|| {
            self.conns.push(None);
            self.conns.len() - 1
        });
        if let Err(e) = self.poll.registry().register(
            stream.tcp(),
            Token(id),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            self.free.push(id);
            return Err(e);
        }
        let mut c = Conn {
            kind,
            stream,
            connected: false,
            framing: Framing::Http,
            stage: Stage::Open,
            rbuf: Vec::new(),
            wbuf: Vec::new(),
            wpos: 0,
            fragment: None,
            sid: String::new(),
            outbox: Vec::new(),
            awaiting: 0,
        };
        match kind {
            Kind::EioWs => {
                c.framing = Framing::Upgrading;
                c.stage = Stage::AwaitOpen;
                c.wbuf = ws::handshake_request(
                    &self.target.host,
                    &self.target.handshake_url("websocket"),
                );
            }
            Kind::RawWs => {
                c.framing = Framing::Upgrading;
                c.wbuf = ws::handshake_request(&self.target.host, "/");
            }
            Kind::RawTcp => c.framing = Framing::Lines,
            Kind::PollingEcho | Kind::PollingOpen | Kind::FullConnect => {
                c.stage = Stage::PollHandshake;
                c.wbuf = http::request(
                    "GET",
                    &self.target.host,
                    &self.target.handshake_url("polling"),
                    b"",
                );
            }
        }
        self.conns[id] = Some(c);
        self.live += 1;
        Ok(id)
    }

    /// Sends one text message on a ready connection (an Engine.IO message, a WebSocket
    /// text frame, or a line). Does nothing on a connection that has ended.
    pub fn send_text(&mut self, id: ConnId, text: &str) {
        let Some(mut c) = self.conns.get_mut(id).and_then(Option::take) else {
            return;
        };
        match c.kind {
            Kind::EioWs => self.ws_text(&mut c, &format!("4{text}")),
            Kind::RawWs => self.ws_text(&mut c, text),
            Kind::RawTcp => {
                c.wbuf.extend_from_slice(text.as_bytes());
                c.wbuf.push(b'\n');
            }
            Kind::PollingEcho => {
                c.outbox.push(format!("4{text}"));
                c.awaiting += 1;
                if c.stage == Stage::PollIdle {
                    self.poll_step(&mut c);
                }
            }
            Kind::PollingOpen | Kind::FullConnect => {}
        }
        self.finish(id, c, None);
    }

    /// The TLS version and cipher suite a connection agreed on (`TLSv1_3
    /// TLS13_AES_256_GCM_SHA384`); `None` for a plain connection, before its handshake
    /// is over, or after it ended.
    pub fn tls_session(&self, id: ConnId) -> Option<String> {
        match &self.conns.get(id)?.as_ref()?.stream {
            Stream::Tls(t) => t.describe(),
            Stream::Plain(_) => None,
        }
    }

    /// Ends a connection without an event (over TLS, after its closing alert).
    pub fn close(&mut self, id: ConnId) {
        if let Some(mut c) = self.conns.get_mut(id).and_then(Option::take) {
            c.stream.close_notify();
            let _ = self.poll.registry().deregister(c.stream.tcp());
            self.free.push(id);
            self.live -= 1;
        }
    }

    /// Ends every connection without events.
    pub fn close_all(&mut self) {
        for id in 0..self.conns.len() {
            self.close(id);
        }
        self.out.clear();
    }

    /// Waits up to `timeout` for socket readiness, handles it, and appends what
    /// happened to `out`.
    ///
    /// epoll waits in whole milliseconds (and mio rounds up), which would make an
    /// open-loop sender late by up to 1 ms: waits of 1 ms or more are rounded *down* to
    /// whole milliseconds, and shorter ones are timed by a timerfd (microsecond
    /// precision), so that the caller wakes on time without spinning.
    pub fn turn(&mut self, timeout: Option<Duration>, out: &mut Vec<Event>) -> io::Result<()> {
        if !self.out.is_empty() {
            out.extend(self.out.drain(..));
            return Ok(());
        }
        let timeout = match timeout {
            Some(t) if t >= Duration::from_millis(1) => {
                Some(Duration::from_millis(t.as_millis() as u64))
            }
            Some(t) if t > Duration::from_micros(20) => {
                self.arm_timer(t)?;
                None
            }
            Some(_) => Some(Duration::ZERO),
            None => None,
        };
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        let ready: Vec<(usize, bool, bool)> = self
            .events
            .iter()
            .filter(|e| e.token() != TIMER)
            .map(|e| {
                let broken = e.is_error() || e.is_read_closed() || e.is_write_closed();
                (
                    e.token().0,
                    e.is_readable() || broken,
                    e.is_writable() || broken,
                )
            })
            .collect();
        if self.events.iter().any(|e| e.token() == TIMER) {
            let mut expirations = [0u8; 8];
            // SAFETY: reads at most 8 bytes into an 8-byte buffer from our own fd.
            let _ = unsafe {
                libc::read(
                    self.timer.as_raw_fd(),
                    expirations.as_mut_ptr().cast(),
                    expirations.len(),
                )
            };
        }
        for (id, readable, writable) in ready {
            self.handle(id, readable, writable);
        }
        out.extend(self.out.drain(..));
        Ok(())
    }

    /// Arms the timer to fire once, `after` from now.
    fn arm_timer(&mut self, after: Duration) -> io::Result<()> {
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: after.as_secs() as libc::time_t,
                tv_nsec: after.subsec_nanos() as libc::c_long,
            },
        };
        // SAFETY: spec is a valid itimerspec; the old value is not requested.
        let rc = unsafe {
            libc::timerfd_settime(self.timer.as_raw_fd(), 0, &spec, std::ptr::null_mut())
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn handle(&mut self, id: ConnId, readable: bool, writable: bool) {
        let Some(mut c) = self.conns.get_mut(id).and_then(Option::take) else {
            return;
        };
        let result = self.drive(&mut c, id, readable, writable);
        self.finish(id, c, result.err());
    }

    /// Puts a connection back after work on it, flushing what it queued, or ends it.
    fn finish(&mut self, id: ConnId, mut c: Conn, failed: Option<String>) {
        let failed = failed.or_else(|| flush(&mut c).err().map(|e| format!("write: {e}")));
        match failed {
            None => self.conns[id] = Some(c),
            Some(reason) => {
                let _ = self.poll.registry().deregister(c.stream.tcp());
                self.free.push(id);
                self.live -= 1;
                self.out.push_back(Event::Closed(id, reason));
            }
        }
    }

    fn drive(
        &mut self,
        c: &mut Conn,
        id: ConnId,
        readable: bool,
        writable: bool,
    ) -> Result<(), String> {
        if !c.connected && (writable || readable) {
            let tcp = c.stream.tcp();
            if let Some(e) = tcp.take_error().map_err(|e| e.to_string())? {
                return Err(format!("connect: {e}"));
            }
            match tcp.peer_addr() {
                Ok(_) => {
                    c.connected = true;
                    let _ = tcp.set_nodelay(true);
                    // Over TLS, a raw TCP connection is ready when its handshake is.
                    if c.kind == Kind::RawTcp && matches!(c.stream, Stream::Plain(_)) {
                        self.out.push_back(Event::Ready(id));
                    }
                }
                Err(e) if e.kind() == ErrorKind::NotConnected => return Ok(()),
                Err(e) => return Err(format!("connect: {e}")),
            }
        }
        let mut eof = false;
        if readable {
            match &mut c.stream {
                Stream::Plain(stream) => loop {
                    match stream.read(&mut self.scratch) {
                        Ok(0) => {
                            eof = true;
                            break;
                        }
                        Ok(n) => {
                            c.rbuf.extend_from_slice(&self.scratch[..n]);
                            if n < self.scratch.len() {
                                // A short read drained the socket: epoll reports the
                                // next arrival as a new edge, so a second read (a sure
                                // WouldBlock) would only cost a syscall.
                                break;
                            }
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                        Err(e) => return Err(format!("read: {e}")),
                    }
                },
                Stream::Tls(tls) => {
                    let handshaking = tls.is_handshaking();
                    eof = tls.read(&mut self.scratch, &mut c.rbuf)?;
                    if handshaking && !tls.is_handshaking() && c.kind == Kind::RawTcp {
                        self.out.push_back(Event::Ready(id));
                    }
                }
            }
        }
        if c.rbuf.is_empty() && !eof {
            return Ok(());
        }
        let now = Instant::now();
        while self.parse_one(c, id, now, eof)? {}
        if eof {
            return Err(CLOSED_BY_SERVER.into());
        }
        Ok(())
    }

    /// Handles one unit of input (a response, a frame, a line); `false` when the
    /// buffer holds no whole unit.
    fn parse_one(
        &mut self,
        c: &mut Conn,
        id: ConnId,
        now: Instant,
        eof: bool,
    ) -> Result<bool, String> {
        match c.framing {
            Framing::Http => {
                let Some((resp, used)) = http::parse_response(&c.rbuf, eof).map_err(|e| e.0)?
                else {
                    return Ok(false);
                };
                c.rbuf.drain(..used);
                if resp.status != 200 {
                    return Err(format!(
                        "HTTP {}: {}",
                        resp.status,
                        String::from_utf8_lossy(&resp.body)
                    ));
                }
                let body = String::from_utf8(resp.body).map_err(|_| "non-UTF-8 payload")?;
                if resp.close {
                    // The server closes after this response: the next request goes on
                    // a new connection.
                    self.reconnect(c, id)?;
                }
                self.on_response(c, id, &body, now)?;
                Ok(!c.rbuf.is_empty() && c.framing == Framing::Http)
            }
            Framing::Upgrading => {
                let Some(head) = http::parse_head(&c.rbuf).map_err(|e| e.0)? else {
                    return Ok(false);
                };
                if head.status != 101 {
                    let text = String::from_utf8_lossy(&c.rbuf).into_owned();
                    return Err(format!(
                        "WebSocket handshake refused: {}",
                        first_line(&text)
                    ));
                }
                c.rbuf.drain(..head.len);
                c.framing = Framing::Ws;
                match c.kind {
                    Kind::RawWs => self.out.push_back(Event::Ready(id)),
                    Kind::FullConnect => {
                        self.ws_text(c, "2probe");
                        c.stage = Stage::Probing;
                    }
                    _ => {}
                }
                Ok(true)
            }
            Framing::Ws => {
                let Some((frame, used)) =
                    ws::decode_frame(&c.rbuf, MAX_MESSAGE).map_err(|e| e.0)?
                else {
                    return Ok(false);
                };
                c.rbuf.drain(..used);
                self.on_frame(c, id, frame, now)?;
                Ok(true)
            }
            Framing::Lines => {
                let Some(end) = c.rbuf.iter().position(|&b| b == b'\n') else {
                    return Ok(false);
                };
                let line: Vec<u8> = c.rbuf.drain(..=end).take(end).collect();
                self.out.push_back(Event::Message(id, line, now));
                Ok(true)
            }
        }
    }

    fn on_frame(
        &mut self,
        c: &mut Conn,
        id: ConnId,
        frame: ws::Frame,
        now: Instant,
    ) -> Result<(), String> {
        let (op, data) = match frame.opcode {
            opcode::PING => {
                let mask = self.mask();
                ws::encode_frame(&mut c.wbuf, opcode::PONG, &frame.payload, mask);
                return Ok(());
            }
            opcode::PONG => return Ok(()),
            opcode::CLOSE => return Err(WS_CLOSED_BY_SERVER.into()),
            opcode::CONTINUATION => {
                let (op, mut data) = c.fragment.take().ok_or("continuation without a start")?;
                data.extend_from_slice(&frame.payload);
                if data.len() > MAX_MESSAGE {
                    return Err("fragmented message too large".into());
                }
                if !frame.fin {
                    c.fragment = Some((op, data));
                    return Ok(());
                }
                (op, data)
            }
            op if !frame.fin => {
                c.fragment = Some((op, frame.payload));
                return Ok(());
            }
            op => (op, frame.payload),
        };
        if op == opcode::BINARY || c.kind == Kind::RawWs {
            self.out.push_back(Event::Message(id, data, now));
            return Ok(());
        }
        let text = String::from_utf8(data).map_err(|_| "non-UTF-8 text frame")?;
        self.on_packet(c, id, &text, now)
    }

    /// One Engine.IO packet, from a WebSocket frame or a polling payload.
    fn on_packet(
        &mut self,
        c: &mut Conn,
        id: ConnId,
        text: &str,
        now: Instant,
    ) -> Result<(), String> {
        let packet = eio::decode(text).map_err(|e| e.0)?;
        match packet {
            Packet::Open { sid } => match (c.kind, c.stage) {
                (Kind::EioWs, Stage::AwaitOpen) => {
                    c.stage = Stage::Open;
                    self.out.push_back(Event::Ready(id));
                }
                (_, Stage::PollHandshake) => c.sid = sid,
                _ => return Err("unexpected OPEN packet".into()),
            },
            Packet::Ping(data) => {
                self.pings_answered += 1;
                let pong = format!("3{data}");
                if c.framing == Framing::Ws {
                    self.ws_text(c, &pong);
                } else {
                    c.outbox.push(pong);
                }
            }
            Packet::Pong("probe") if c.stage == Stage::Probing => {
                self.ws_text(c, "5");
                self.ws_text(c, "4full-connect");
                c.stage = Stage::UpgradedEcho;
            }
            Packet::Pong(_) | Packet::Noop => {}
            Packet::Message(data) | Packet::BinaryBase64(data) => {
                if c.stage == Stage::UpgradedEcho {
                    // The full connect's echo: close the session, start the next.
                    self.ws_text(c, "1");
                    let _ = flush(c);
                    self.out.push_back(Event::Cycle(id, now));
                    self.restart_cycle(c, id)?;
                } else {
                    c.awaiting = c.awaiting.saturating_sub(1);
                    self.out
                        .push_back(Event::Message(id, data.as_bytes().to_vec(), now));
                }
            }
            Packet::Close => return Err(SESSION_CLOSED_BY_SERVER.into()),
        }
        Ok(())
    }

    /// A whole HTTP response on a polling connection.
    fn on_response(
        &mut self,
        c: &mut Conn,
        id: ConnId,
        body: &str,
        now: Instant,
    ) -> Result<(), String> {
        match c.stage {
            Stage::PollHandshake => {
                c.sid.clear();
                for p in eio::split_payload(body) {
                    self.on_packet(c, id, p, now)?;
                }
                if c.sid.is_empty() {
                    return Err(format!("handshake without OPEN: {body:?}"));
                }
                match c.kind {
                    Kind::PollingEcho => {
                        c.stage = Stage::PollIdle;
                        self.out.push_back(Event::Ready(id));
                        self.poll_step(c);
                    }
                    Kind::PollingOpen => {
                        c.stage = Stage::CloseSession;
                        let url = self.target.session_url("polling", &c.sid);
                        c.wbuf
                            .extend(http::request("POST", &self.target.host, &url, b"1"));
                    }
                    Kind::FullConnect => {
                        // The upgrade goes on a new connection, as browsers do.
                        self.reconnect(c, id)?;
                        let url = self.target.session_url("websocket", &c.sid);
                        c.wbuf = ws::handshake_request(&self.target.host, &url);
                        c.framing = Framing::Upgrading;
                    }
                    _ => unreachable!("only polling kinds handshake over HTTP"),
                }
            }
            Stage::CloseSession => {
                self.out.push_back(Event::Cycle(id, now));
                c.stage = Stage::PollHandshake;
                c.wbuf.extend(http::request(
                    "GET",
                    &self.target.host,
                    &self.target.handshake_url("polling"),
                    b"",
                ));
            }
            Stage::PollPost => {
                // "ok" (python-engineio says "OK"); the status was checked already.
                self.poll_step(c);
            }
            Stage::PollGet => {
                for p in eio::split_payload(body) {
                    self.on_packet(c, id, p, now)?;
                }
                self.poll_step(c);
            }
            other => return Err(format!("HTTP response in stage {other:?}")),
        }
        Ok(())
    }

    /// Polling: issues the next request, if any (pending packets first, then a GET
    /// while echoes are expected).
    fn poll_step(&mut self, c: &mut Conn) {
        let url = self.target.session_url("polling", &c.sid);
        if !c.outbox.is_empty() {
            let body = c.outbox.join("\x1e");
            c.outbox.clear();
            c.wbuf.extend(http::request(
                "POST",
                &self.target.host,
                &url,
                body.as_bytes(),
            ));
            c.stage = Stage::PollPost;
        } else if c.awaiting > 0 {
            c.wbuf
                .extend(http::request("GET", &self.target.host, &url, b""));
            c.stage = Stage::PollGet;
        } else {
            c.stage = Stage::PollIdle;
        }
    }

    /// FullConnect: a fresh connection for the next polling handshake.
    fn restart_cycle(&mut self, c: &mut Conn, id: ConnId) -> Result<(), String> {
        self.reconnect(c, id)?;
        c.framing = Framing::Http;
        c.stage = Stage::PollHandshake;
        c.fragment = None;
        c.wbuf = http::request(
            "GET",
            &self.target.host,
            &self.target.handshake_url("polling"),
            b"",
        );
        Ok(())
    }

    /// Replaces the connection's socket with a new one to the same server (over TLS,
    /// after the old one's closing alert, with a new session).
    fn reconnect(&mut self, c: &mut Conn, id: ConnId) -> Result<(), String> {
        let registry = self.poll.registry();
        c.stream.close_notify();
        let _ = registry.deregister(c.stream.tcp());
        c.stream = self.target.open().map_err(|e| format!("connect: {e}"))?;
        registry
            .register(
                c.stream.tcp(),
                Token(id),
                Interest::READABLE | Interest::WRITABLE,
            )
            .map_err(|e| format!("register: {e}"))?;
        c.connected = false;
        c.rbuf.clear();
        c.wbuf.clear();
        c.wpos = 0;
        Ok(())
    }

    fn ws_text(&mut self, c: &mut Conn, text: &str) {
        let mask = self.mask();
        ws::encode_frame(&mut c.wbuf, opcode::TEXT, text.as_bytes(), mask);
    }

    fn mask(&mut self) -> [u8; 4] {
        // xorshift32: masks need not be secret on loopback, only not constant.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 17;
        self.rng ^= self.rng << 5;
        self.rng.to_le_bytes()
    }
}

/// Writes what the connection has queued, as far as the socket takes it (over TLS:
/// encrypted, once the handshake is over, with whatever TLS records are pending).
fn flush(c: &mut Conn) -> io::Result<()> {
    if !c.connected {
        return Ok(());
    }
    match &mut c.stream {
        Stream::Plain(stream) => {
            while c.wpos < c.wbuf.len() {
                match stream.write(&c.wbuf[c.wpos..]) {
                    Ok(0) => return Err(ErrorKind::WriteZero.into()),
                    Ok(n) => c.wpos += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Stream::Tls(tls) => tls.write(&c.wbuf, &mut c.wpos)?,
    }
    if c.wpos == c.wbuf.len() {
        c.wbuf.clear();
        c.wpos = 0;
    } else if c.wpos > 64 * 1024 {
        c.wbuf.drain(..c.wpos);
        c.wpos = 0;
    }
    Ok(())
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_reasons_are_counted_by_kind() {
        let cases = [
            ("connect: Connection refused (os error 111)", "connect"),
            (
                r#"HTTP 400: {"code":3,"message":"Bad request"}"#,
                "http 400",
            ),
            (
                "WebSocket handshake refused: HTTP/1.1 400 Bad Request",
                "websocket refused",
            ),
            (CLOSED_BY_SERVER, "server closed"),
            (WS_CLOSED_BY_SERVER, "server closed"),
            (SESSION_CLOSED_BY_SERVER, "server closed"),
            ("read: Connection reset by peer (os error 104)", "io"),
            ("write: Broken pipe (os error 32)", "io"),
            ("non-UTF-8 text frame", "protocol"),
        ];
        for (reason, kind) in cases {
            assert_eq!(error_kind(reason), kind, "{reason}");
        }
    }

    #[test]
    fn targets_build_urls_on_their_path_and_query() {
        let mut t = Target::new("127.0.0.1:9".parse().unwrap());
        assert_eq!(t.host, "127.0.0.1:9");
        assert_eq!(
            t.handshake_url("polling"),
            "/engine.io/?EIO=4&transport=polling"
        );
        t.path = "/socket.io/".into();
        t.query = "a=1".into();
        assert_eq!(
            t.session_url("websocket", "S"),
            "/socket.io/?a=1&EIO=4&transport=websocket&sid=S"
        );
    }
}
