//! One connection of a client: its session, transport state, outgoing queue, threads
//! and the event thread that calls the handlers.

use std::collections::VecDeque;
use std::net::{Shutdown, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::thread::{self, JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::client::config::Config;
use crate::client::inbox::{self, Inbox, Internal};
use crate::client::incoming::{self, Limits};
use crate::client::polling;
use crate::client::websocket::{self, WsWriter};
use crate::client::{Client, Event, Reason, Shared};
use crate::packet::{Handshake, Packet};
use crate::transport::Transport;
use crate::{payload, Error, ErrorKind, ProtocolVersion, Result};

/// One run of [`Client::connect`] until the connection is set up: what
/// [`Client::abort`] or [`Client::disconnect`] from another thread cuts to make it
/// return at once.
#[derive(Default)]
pub(crate) struct Attempt {
    cancelled: AtomicBool,
    /// Sockets and agents in use, to shut down.
    resources: Mutex<(Vec<TcpStream>, Vec<ureq::Agent>)>,
}

impl Attempt {
    fn aborted() -> Error {
        Error::new(
            ErrorKind::Aborted,
            "connect was interrupted by disconnect or abort",
        )
    }

    /// Interrupts the attempt: every socket and request in use fails at once.
    pub(crate) fn cancel(&self) {
        let (sockets, agents) = {
            let mut resources = self.resources.lock();
            self.cancelled.store(true, Ordering::Release);
            std::mem::take(&mut *resources)
        };
        for socket in sockets {
            let _ = socket.shutdown(Shutdown::Both);
        }
        for agent in agents {
            agent.shutdown();
        }
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// [`ErrorKind::Aborted`] once cancelled.
    pub(crate) fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            return Err(Self::aborted());
        }
        Ok(())
    }

    /// `error`, or [`ErrorKind::Aborted`] when the attempt was cancelled (which is
    /// what made it fail).
    pub(crate) fn explain(&self, error: Error) -> Error {
        if self.is_cancelled() {
            Self::aborted().with_source(error)
        } else {
            error
        }
    }

    /// Registers a socket to shut down on cancel (at once if cancelled already).
    pub(crate) fn add_socket(&self, socket: &TcpStream) -> Result<()> {
        let mut resources = self.resources.lock();
        if self.is_cancelled() {
            let _ = socket.shutdown(Shutdown::Both);
            return Err(Self::aborted());
        }
        resources.0.push(socket.try_clone()?);
        Ok(())
    }

    /// Registers an agent to shut down on cancel.
    pub(crate) fn add_agent(&self, agent: &ureq::Agent) -> Result<()> {
        let mut resources = self.resources.lock();
        if self.is_cancelled() {
            return Err(Self::aborted());
        }
        resources.1.push(agent.clone());
        Ok(())
    }
}

pub(crate) struct ConnState {
    /// The transport messages go out on: polling until the upgrade switches.
    pub(crate) transport: Transport,
    /// Set once, when the connection has ended.
    pub(crate) closed: Option<Reason>,
    /// The client is closing gracefully (CLOSE queued or being written).
    pub(crate) closing: bool,
    /// Packets waiting for the POST writer (polling only).
    pub(crate) outbox: VecDeque<Packet>,
    /// The encoded size of `outbox`, bounded by `max_buffered`.
    pub(crate) outbox_bytes: usize,
    pub(crate) get_in_flight: bool,
    pub(crate) post_in_flight: bool,
    /// Polling is paused while the upgrade switches over (X6).
    pub(crate) upgrading: bool,
    /// An upgrade attempt has not finished yet.
    pub(crate) upgrade_pending: bool,
    /// Where the heartbeat cycle starts: v4, when the last ping (or OPEN, or the end
    /// of an upgrade) arrived; v3, when the last pong (or OPEN, or the end of an
    /// upgrade) arrived, the next ping going out a ping interval later.
    pub(crate) last_ping: Instant,
    /// v3: when the ping awaiting its pong was sent.
    pub(crate) ping_sent: Option<Instant>,
    /// The WebSocket writer, once the WebSocket is the transport.
    pub(crate) ws: Option<Arc<WsWriter>>,
    /// The probing WebSocket's socket, to interrupt an upgrade.
    pub(crate) probe: Option<TcpStream>,
    /// The POST carrying CLOSE has completed, or (WebSocket) CLOSE and the close frame
    /// have been written.
    pub(crate) close_sent: bool,
}

pub(crate) struct Conn {
    pub(crate) config: Arc<Config>,
    pub(crate) handshake: Handshake,
    /// What this connection accepts from the server.
    pub(crate) limits: Limits,
    /// `Cookie` header value from the handshake's `Set-Cookie` (sticky sessions).
    pub(crate) cookie: Option<String>,
    pub(crate) agent: ureq::Agent,
    pub(crate) state: Mutex<ConnState>,
    pub(crate) cond: Condvar,
    inbox: Arc<Inbox>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    event_thread: OnceLock<ThreadId>,
}

impl Conn {
    pub(crate) fn new(
        config: Arc<Config>,
        handshake: Handshake,
        cookie: Option<String>,
        agent: ureq::Agent,
        transport: Transport,
        ws: Option<Arc<WsWriter>>,
        inbox: Arc<Inbox>,
    ) -> Conn {
        Conn {
            limits: Limits::new(&config, &handshake),
            config,
            handshake,
            cookie,
            agent,
            state: Mutex::new(ConnState {
                transport,
                closed: None,
                closing: false,
                outbox: VecDeque::new(),
                outbox_bytes: 0,
                get_in_flight: false,
                post_in_flight: false,
                upgrading: false,
                upgrade_pending: false,
                last_ping: Instant::now(),
                ping_sent: None,
                ws,
                probe: None,
                close_sent: false,
            }),
            cond: Condvar::new(),
            inbox,
            threads: Mutex::new(Vec::new()),
            event_thread: OnceLock::new(),
        }
    }

    /// The server's `maxPayload`, or no limit when it did not say.
    pub(crate) fn max_payload(&self) -> u64 {
        match self.handshake.max_payload {
            0 => u64::MAX,
            n => n,
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.state.lock().closed.is_some()
    }

    pub(crate) fn is_event_thread(&self) -> bool {
        self.event_thread.get() == Some(&thread::current().id())
    }

    /// Hands `event` to the event thread; for a message, waits while the handler
    /// queue is full (the transport thread stops reading: back-pressure).
    /// Returns false when a message was dropped because the connection has ended.
    pub(crate) fn emit(&self, event: Internal) -> bool {
        self.inbox.push(event)
    }

    /// Starts a thread of this connection; [`join_threads`](Self::join_threads)
    /// joins it.
    pub(crate) fn spawn(&self, name: &str, f: impl FnOnce() + Send + 'static) -> Result<()> {
        let handle = thread::Builder::new()
            .name(format!("engineio-client-{name}"))
            .spawn(f)?;
        self.threads.lock().push(handle);
        Ok(())
    }

    /// Joins every thread of this connection except the calling one.
    pub(crate) fn join_threads(&self) {
        let me = thread::current().id();
        loop {
            let handles = std::mem::take(&mut *self.threads.lock());
            if handles.is_empty() {
                return;
            }
            for handle in handles {
                if handle.thread().id() != me {
                    let _ = handle.join();
                }
            }
        }
    }

    /// The protocol version spoken.
    pub(crate) fn version(&self) -> ProtocolVersion {
        self.config.protocol
    }

    /// Handles one packet from the server. Returns false when the connection ended.
    pub(crate) fn on_packet(&self, packet: Packet) -> bool {
        match packet {
            Packet::Ping(data) if self.version() == ProtocolVersion::V4 => self.pong(data),
            Packet::Pong(_) if self.version() == ProtocolVersion::V3 => {
                let mut state = self.state.lock();
                if state.ping_sent.take().is_some() {
                    state.last_ping = Instant::now();
                    self.cond.notify_all();
                }
                true
            }
            // False once the connection has ended: stop reading.
            Packet::Message(message) => self.emit(Internal::Message(message)),
            Packet::Close => {
                self.transport_ended(Reason::ServerDisconnect);
                false
            }
            Packet::Noop => true,
            other => {
                log::debug!(
                    "engineio client: ignoring a {} packet from the server",
                    other.packet_type()
                );
                true
            }
        }
    }

    /// Answers a ping at once, with its data (B10), without waiting for the network:
    /// on polling the pong is queued (one at most: a newer ping's data replaces an
    /// unsent pong's), on WebSocket it is written unless a write is in progress, whose
    /// thread then writes it. Returns false when the connection ended.
    fn pong(&self, data: String) -> bool {
        let mut state = self.state.lock();
        state.last_ping = Instant::now();
        if state.closed.is_some() {
            return true;
        }
        match state.transport {
            Transport::Polling => {
                let queued = state.outbox.iter_mut().find_map(|p| match p {
                    Packet::Pong(old) => Some(old),
                    _ => None,
                });
                match queued {
                    Some(old) => {
                        let (was, now) = (old.len(), data.len());
                        *old = data;
                        state.outbox_bytes = state.outbox_bytes + now - was;
                    }
                    None => {
                        let pong = Packet::Pong(data);
                        state.outbox_bytes += pong.encoded_len();
                        state.outbox.push_back(pong);
                    }
                }
                self.cond.notify_all();
                true
            }
            Transport::WebSocket => {
                let Some(ws) = state.ws.clone() else {
                    return true;
                };
                drop(state);
                if let Err(e) = ws.queue_heartbeat(Packet::Pong(data)) {
                    log::warn!("engineio client: writing a pong failed: {e}");
                    self.transport_ended(Reason::TransportError);
                    return false;
                }
                true
            }
        }
    }

    /// Queues (polling) or writes (WebSocket) a message from the user.
    pub(crate) fn send(&self, packet: Packet) -> Result<()> {
        let mut state = self.state.lock();
        if state.closed.is_some() || state.closing {
            return Err(Error::new(
                ErrorKind::NotConnected,
                "the connection has ended",
            ));
        }
        let limit = self.max_payload();
        match state.transport {
            Transport::Polling => {
                if let Packet::Message(message) = &packet {
                    // v3 payloads are length-prefixed: any text fits.
                    if self.version() == ProtocolVersion::V4 && !payload::fits_polling(message) {
                        return Err(Error::new(
                            ErrorKind::InvalidMessage,
                            "text containing U+001E cannot be sent over polling",
                        ));
                    }
                }
                let body = polling::payload_len([&packet], &self.config);
                if body as u64 > limit {
                    return Err(too_large(body as u64, limit));
                }
                let size = packet.encoded_len();
                if state.outbox_bytes + size > self.config.max_buffered {
                    return Err(Error::new(
                        ErrorKind::QueueFull,
                        format!(
                            "{} bytes are waiting to be sent (max_buffered_bytes)",
                            state.outbox_bytes
                        ),
                    ));
                }
                state.outbox_bytes += size;
                state.outbox.push_back(packet);
                self.cond.notify_all();
                Ok(())
            }
            Transport::WebSocket => {
                let len = websocket::frame_len(&packet, &self.config) as u64;
                if len > limit {
                    return Err(too_large(len, limit));
                }
                let Some(ws) = state.ws.clone() else {
                    return Err(Error::new(ErrorKind::NotConnected, "no WebSocket"));
                };
                // The writer lock orders concurrent senders; the state lock is not held
                // while waiting for it or writing.
                drop(state);
                let result = ws.send(&packet);
                if let Err(e) = &result {
                    log::warn!("engineio client: WebSocket write failed: {e}");
                    self.transport_ended(Reason::TransportError);
                }
                result
            }
        }
    }

    /// A transport ended the connection: the reason, or `client disconnect` when the
    /// client was closing anyway.
    pub(crate) fn transport_ended(&self, reason: Reason) {
        let reason = if self.state.lock().closing {
            Reason::ClientDisconnect
        } else {
            reason
        };
        self.finish(reason);
    }

    /// Ends the connection once: records the reason, interrupts every request and
    /// socket of the connection, and tells the event thread. Returns false if it had
    /// already ended.
    pub(crate) fn finish(&self, reason: Reason) -> bool {
        let (ws, probe, graceful_ws) = {
            let mut state = self.state.lock();
            if state.closed.is_some() {
                return false;
            }
            state.closed = Some(reason);
            state.upgrading = false;
            state.upgrade_pending = false;
            state.outbox.clear();
            state.outbox_bytes = 0;
            self.cond.notify_all();
            let graceful_ws = state.closing && state.close_sent;
            (state.ws.clone(), state.probe.take(), graceful_ws)
        };
        log::debug!(
            "engineio client: connection {} ended: {reason}",
            self.handshake.sid
        );
        self.agent.clone().shutdown();
        if let Some(ws) = ws {
            if graceful_ws {
                // The server closes TCP after the close handshake (RFC 6455 §7.1.1);
                // closing first with its bytes unread would reset the connection,
                // which servers report as an error.
                ws.close_gracefully(Duration::from_millis(500));
            } else {
                ws.shutdown();
            }
        }
        if let Some(probe) = probe {
            let _ = probe.shutdown(Shutdown::Both);
        }
        self.emit(Internal::Closed(reason));
        true
    }

    /// A graceful close: CLOSE is written (a POST, or a text frame followed by the
    /// close frame), then the connection ends with `client disconnect`. Bounded by
    /// the request timeout.
    pub(crate) fn close(&self) {
        let deadline = Instant::now() + self.config.request_timeout;
        let mut state = self.state.lock();
        if state.closed.is_some() || state.closing {
            return;
        }
        state.closing = true;
        if let Some(probe) = state.probe.take() {
            let _ = probe.shutdown(Shutdown::Both);
        }
        match state.transport {
            Transport::Polling => {
                state.outbox_bytes += 1;
                state.outbox.push_back(Packet::Close);
                self.cond.notify_all();
                while !state.close_sent && state.closed.is_none() {
                    if self.cond.wait_until(&mut state, deadline).timed_out() {
                        log::warn!("engineio client: the CLOSE POST did not complete in time");
                        break;
                    }
                }
                drop(state);
            }
            Transport::WebSocket => {
                let Some(ws) = state.ws.clone() else {
                    drop(state);
                    self.finish(Reason::ClientDisconnect);
                    return;
                };
                drop(state);
                let written = ws.send_close(deadline);
                if let Err(e) = &written {
                    log::debug!("engineio client: writing CLOSE failed: {e}");
                } else {
                    self.state.lock().close_sent = true;
                }
                if written.is_ok() {
                    // Let the server answer the close frame, so that nothing we wrote
                    // is lost to a reset, but do not depend on it.
                    let deadline = deadline.min(Instant::now() + Duration::from_secs(1));
                    let mut state = self.state.lock();
                    while state.closed.is_none() {
                        if self.cond.wait_until(&mut state, deadline).timed_out() {
                            break;
                        }
                    }
                }
            }
        }
        self.finish(Reason::ClientDisconnect);
    }

    /// v4: when the next ping is overdue (B10); `None` once the connection has
    /// ended. While an upgrade switches over, the server does not ping (B7): check
    /// again later. v3: `None`, the heartbeat thread watches the pongs.
    fn ping_deadline(&self) -> Option<Instant> {
        let state = self.state.lock();
        if state.closed.is_some() || self.version() == ProtocolVersion::V3 {
            return None;
        }
        let now = Instant::now();
        if state.upgrading {
            return Some(now + self.config.request_timeout);
        }
        let allowance = incoming::heartbeat(&self.handshake);
        Some(
            state
                .last_ping
                .checked_add(allowance)
                .unwrap_or(now + allowance),
        )
    }

    /// v4: no ping came in time; v3: no pong came in time.
    fn ping_overdue(&self) -> bool {
        if self.version() == ProtocolVersion::V3 {
            let state = self.state.lock();
            let timeout = Duration::from_millis(self.handshake.ping_timeout);
            return !state.upgrading
                && state
                    .ping_sent
                    .is_some_and(|sent| sent.elapsed() >= timeout);
        }
        matches!(self.ping_deadline(), Some(deadline) if deadline <= Instant::now())
            && !self.state.lock().upgrading
    }

    /// v3: sends a ping without waiting for the network: on polling it goes to the
    /// front of the queue (the pong is due within the ping timeout, whatever is
    /// queued), on WebSocket it is written unless a write is in progress, whose
    /// thread then writes it. Called with the state lock, which is let go meanwhile.
    fn ping(&self, state: &mut MutexGuard<'_, ConnState>) -> Result<()> {
        let ping = Packet::Ping(String::new());
        state.ping_sent = Some(Instant::now());
        match state.transport {
            Transport::Polling => {
                state.outbox_bytes += ping.encoded_len();
                state.outbox.push_front(ping);
                self.cond.notify_all();
                Ok(())
            }
            Transport::WebSocket => {
                let Some(ws) = state.ws.clone() else {
                    return Ok(());
                };
                MutexGuard::unlocked(state, || ws.queue_heartbeat(ping))
            }
        }
    }
}

impl ConnState {
    /// A fresh heartbeat cycle from now (after an upgrade, which suspends it, B7): a
    /// v3 ping already sent gets its full ping timeout again, since it may have
    /// waited in the queue for the switch.
    pub(crate) fn restart_heartbeat(&mut self) {
        let now = Instant::now();
        self.last_ping = now;
        if self.ping_sent.is_some() {
            self.ping_sent = Some(now);
        }
    }
}

/// The v3 heartbeat thread (V3): the client pings. A ping goes out a ping interval
/// after the last pong (or OPEN, or the end of an upgrade); when its pong has not come
/// within the ping timeout, the connection ends with `ping timeout`. While an upgrade
/// switches over, the heartbeat waits (B7). Ends with the connection.
pub(crate) fn run_heartbeat(conn: &Conn) {
    let interval = Duration::from_millis(conn.handshake.ping_interval);
    let timeout = Duration::from_millis(conn.handshake.ping_timeout);
    let mut state = conn.state.lock();
    loop {
        if state.closed.is_some() || state.closing {
            return;
        }
        let now = Instant::now();
        if state.upgrading {
            // The upgrade ends within the request timeout, and wakes us.
            let _ = conn
                .cond
                .wait_until(&mut state, now + conn.config.request_timeout);
            continue;
        }
        let (due, overdue) = match state.ping_sent {
            Some(sent) => (sent.checked_add(timeout), true),
            None => (state.last_ping.checked_add(interval), false),
        };
        let due = due.unwrap_or(now + timeout);
        if due > now {
            let _ = conn.cond.wait_until(&mut state, due);
            continue;
        }
        if overdue {
            drop(state);
            log::info!("engineio client: no pong from the server within the ping timeout");
            conn.finish(Reason::PingTimeout);
            return;
        }
        if let Err(e) = conn.ping(&mut state) {
            drop(state);
            log::warn!("engineio client: writing a ping failed: {e}");
            conn.transport_ended(Reason::TransportError);
            return;
        }
    }
}

fn too_large(len: u64, limit: u64) -> Error {
    Error::new(
        ErrorKind::InvalidMessage,
        format!("the message takes {len} bytes; the server accepts at most {limit}"),
    )
}

/// The iterator's channel, with the cost of each event in it, so that it is bounded
/// in bytes (the channel itself is unbounded: it is also handed out as a crossbeam
/// receiver for `select!`).
struct Outlet {
    tx: Sender<Event>,
    /// The cost of each event sent and perhaps not taken yet, oldest first.
    costs: VecDeque<usize>,
    bytes: usize,
    budget: usize,
}

impl Outlet {
    /// The cost of the events not taken yet. The channel is first in, first out and
    /// this is its only sender, so the events taken are the oldest ones.
    fn waiting(&mut self) -> usize {
        let unread = self.tx.len();
        while self.costs.len() > unread {
            self.bytes -= self.costs.pop_front().unwrap_or(0);
        }
        self.bytes
    }

    fn send(&mut self, event: Event, cost: usize) {
        if self.tx.send(event).is_ok() {
            self.costs.push_back(cost);
            self.bytes += cost;
        }
    }

    /// Waits until a message of `cost` fits (or the channel is empty), while the
    /// connection lasts. Meanwhile the handler queue fills and the transport stops
    /// reading. Nothing signals a taken event, so this looks again every few
    /// milliseconds.
    fn wait_for_room(&mut self, conn: &Conn, cost: usize) {
        let mut pause = Duration::from_millis(1);
        while self.waiting() > 0 && self.bytes + cost > self.budget {
            if conn.is_closed() {
                // Deliver the rest: no more will come, and the handler queue bounds it.
                return;
            }
            if conn.ping_overdue() {
                log::info!(
                    "engineio client: no ping from the server within ping interval + ping timeout (the event iterator is not being read)"
                );
                conn.finish(Reason::PingTimeout);
                return;
            }
            thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }
}

/// The event thread: calls the handlers and feeds [`Client::events`], in order, and
/// watches the heartbeat. Ends after the disconnect event.
pub(crate) fn run_events(
    conn: Arc<Conn>,
    shared: Weak<Shared>,
    user: Sender<Event>,
    connected: Sender<()>,
) {
    let _ = conn.event_thread.set(thread::current().id());
    let client = || shared.upgrade().map(|shared| Client { shared });
    let buffering = || {
        shared
            .upgrade()
            .is_some_and(|s| s.buffer_events.load(Ordering::Acquire))
    };
    let mut outlet = Outlet {
        tx: user,
        costs: VecDeque::new(),
        bytes: 0,
        budget: conn.config.event_buffer,
    };
    loop {
        let Some(event) = conn.inbox.recv(conn.ping_deadline()) else {
            if conn.ping_overdue() {
                log::info!(
                    "engineio client: no ping from the server within ping interval + ping timeout"
                );
                conn.finish(Reason::PingTimeout);
            }
            continue;
        };
        match event {
            Internal::Connect => {
                if let Some(c) = &client() {
                    if let Some(handler) = &c.shared.handlers.connect {
                        guarded("connect", || handler(c));
                    }
                }
                let _ = connected.send(());
                if buffering() {
                    outlet.send(Event::Connect, 0);
                }
            }
            Internal::Message(message) => {
                if buffering() {
                    // Without a handle meanwhile: dropping the last one must still
                    // close the connection.
                    let cost = inbox::cost(&message);
                    outlet.wait_for_room(&conn, cost);
                    outlet.send(Event::Message(message.clone()), cost);
                }
                if let Some(c) = &client() {
                    if let Some(handler) = &c.shared.handlers.message {
                        guarded("message", || handler(c, message));
                    }
                }
            }
            Internal::Closed(reason) => {
                let client = client();
                if let Some(c) = &client {
                    if let Some(handler) = &c.shared.handlers.disconnect {
                        guarded("disconnect", || handler(c, reason));
                    }
                }
                if buffering() {
                    outlet.send(Event::Disconnect(reason), 0);
                }
                drop(outlet);
                if let Some(c) = client {
                    c.shared.connection_ended(&conn);
                }
                return;
            }
        }
    }
}

fn guarded(what: &str, f: impl FnOnce()) {
    if catch_unwind(AssertUnwindSafe(f)).is_err() {
        log::error!("engineio client: the {what} handler panicked");
    }
}
