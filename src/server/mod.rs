//! The Engine.IO server.
//!
//! A [`Server`] holds the sessions and the handlers; an [`App`] puts it on a TCP port
//! together with static files and a fallback handler for other paths.
//!
//! ```no_run
//! use engineio::server::{App, Server};
//!
//! let server = Server::builder()
//!     .on_connect(|_, sid, req| {
//!         println!("{sid} connected from {}", req.remote_addr());
//!         Ok(())
//!     })
//!     .on_message(|server, sid, msg| {
//!         let _ = server.send(sid, msg); // echo
//!     })
//!     .on_disconnect(|_, sid, reason| println!("{sid} left: {reason}"))
//!     .build()?;
//! App::new(server).listen("127.0.0.1:5000")?.wait();
//! # Ok::<(), engineio::Error>(())
//! ```
//!
//! # Threads
//! One thread accepts connections, one thread serves each TCP connection (handlers run
//! there; a WebSocket's connection thread is its reader), and one heartbeat thread
//! keeps every session's ping and timeout deadlines. Sends never wait for a peer: a
//! WebSocket peer that stops reading gets a short-lived flusher thread of its own,
//! bounded by the write timeout, and nobody else waits for it.

mod app;
mod config;
pub mod cookie;
pub mod cors;
mod endpoint;
mod heartbeat;
pub(crate) mod http;
mod polling;
mod request;
mod sid;
mod socket;
pub mod static_files;
mod websocket;

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, RwLock};

pub use self::app::{App, Listening};
pub use self::config::ServerBuilder;
pub use self::cookie::{CookieConfig, SameSite};
pub use self::cors::CorsPolicy;
pub use self::request::Request;
pub use self::sid::Sid;
pub use self::static_files::StaticFiles;
pub use crate::packet::Message;
pub use crate::transport::Transport;

use self::config::Config;
use self::heartbeat::Heartbeat;
use self::http::listener::Listener;
use self::socket::{Outgoing, Socket};
use crate::packet::Packet;
use crate::{Error, ErrorKind, Result};

/// Why a session ended, as given to the disconnect handler. The strings are
/// python-engineio's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// The client sent a close packet.
    ClientDisconnect,
    /// The application closed the session, or the server shut down.
    ServerDisconnect,
    /// The client did not answer a ping in time.
    PingTimeout,
    /// The client's connection closed without a close packet.
    TransportClose,
    /// The transport failed: a write error, a dropped long-poll, a duplicate request,
    /// an oversized body or message, a protocol violation.
    TransportError,
    /// The client sent something that is not valid Engine.IO.
    ParseError,
}

impl Reason {
    /// The reason as python-engineio names it: `"client disconnect"`,
    /// `"server disconnect"`, `"ping timeout"`, `"transport close"`,
    /// `"transport error"`, `"parse error"`.
    ///
    /// ```
    /// assert_eq!(engineio::server::Reason::PingTimeout.as_str(), "ping timeout");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::ClientDisconnect => "client disconnect",
            Reason::ServerDisconnect => "server disconnect",
            Reason::PingTimeout => "ping timeout",
            Reason::TransportClose => "transport close",
            Reason::TransportError => "transport error",
            Reason::ParseError => "parse error",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A connect handler's refusal: the client gets `401` with `data` as the JSON body.
///
/// ```
/// use engineio::server::Rejection;
///
/// let plain = Rejection::new(); // body "Unauthorized"
/// let detailed = Rejection::with_data(serde_json::json!({"error": "bad token"}));
/// # drop((plain, detailed));
/// ```
#[derive(Clone, Debug)]
pub struct Rejection {
    data: serde_json::Value,
}

impl Rejection {
    /// A rejection whose body is `"Unauthorized"`.
    pub fn new() -> Rejection {
        Rejection {
            data: serde_json::Value::String("Unauthorized".into()),
        }
    }

    /// A rejection whose body is `data` as JSON (a value that fails to serialize gives
    /// `null`).
    pub fn with_data(data: impl serde::Serialize) -> Rejection {
        Rejection {
            data: serde_json::to_value(data).unwrap_or(serde_json::Value::Null),
        }
    }
}

impl Default for Rejection {
    fn default() -> Rejection {
        Rejection::new()
    }
}

type ConnectHandler = dyn Fn(&Server, &Sid, &Request) -> Result<(), Rejection> + Send + Sync;
type MessageHandler = dyn Fn(&Server, &Sid, Message) + Send + Sync;
type DisconnectHandler = dyn Fn(&Server, &Sid, Reason) + Send + Sync;

#[derive(Default)]
pub(crate) struct Handlers {
    connect: Option<Box<ConnectHandler>>,
    message: Option<Box<MessageHandler>>,
    disconnect: Option<Box<DisconnectHandler>>,
}

/// An Engine.IO server: its sessions, handlers and configuration.
///
/// A `Server` is a cheap handle (an `Arc`); clone it to use it from other threads.
/// Every method is safe to call from any thread, handlers included, and none of them
/// waits on the network.
#[derive(Clone)]
pub struct Server {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    config: Config,
    handlers: Handlers,
    sessions: RwLock<HashMap<Sid, Arc<Socket>>>,
    /// Sids closed by their client in the last second, for C2.
    recently_closed: Mutex<RecentCloses>,
    heartbeat: Heartbeat,
    listeners: Mutex<Vec<Arc<Listener>>>,
    state: Mutex<RunState>,
    stopped: Condvar,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum RunState {
    Running,
    ShuttingDown,
    Stopped,
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Server>();
};

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("path", &self.inner.config.path)
            .field("sessions", &self.inner.sessions.read().len())
            .finish()
    }
}

impl Server {
    /// A builder with every option at its default.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::new()
    }

    fn start(config: Config, handlers: Handlers) -> Server {
        let server = Server {
            inner: Arc::new(Inner {
                config,
                handlers,
                sessions: RwLock::new(HashMap::new()),
                recently_closed: Mutex::new(RecentCloses::default()),
                heartbeat: Heartbeat::new(),
                listeners: Mutex::new(Vec::new()),
                state: Mutex::new(RunState::Running),
                stopped: Condvar::new(),
            }),
        };
        server.inner.heartbeat.start(Arc::downgrade(&server.inner));
        server
    }

    pub(crate) fn from_inner(inner: Arc<Inner>) -> Server {
        Server { inner }
    }

    pub(crate) fn inner(&self) -> &Arc<Inner> {
        &self.inner
    }

    /// The normalised Engine.IO path this server answers on (`/engine.io/` by default).
    pub fn path(&self) -> &str {
        &self.inner.config.path
    }

    /// Queues a message (text or binary) for one session and returns at once.
    ///
    /// Messages reach the client in the order they were sent.
    ///
    /// # Errors
    /// [`ErrorKind::UnknownSession`] if no session has that id,
    /// [`ErrorKind::SessionClosed`] if it is closing, and [`ErrorKind::InvalidMessage`]
    /// for a text message containing U+001E on a polling session (v4 polling cannot
    /// carry it). If the session has more than `max_buffered_bytes` queued, the session
    /// is closed and [`ErrorKind::SessionClosed`] returned.
    pub fn send(&self, sid: &str, message: impl Into<Message>) -> Result<()> {
        let socket = self.inner.find(sid)?;
        self.inner
            .send_packet(&socket, &Outgoing::new(Packet::Message(message.into())))
    }

    /// Serializes `value` as JSON and sends it as a text message.
    ///
    /// # Errors
    /// As [`send`](Self::send), and [`ErrorKind::Json`] if serialization fails.
    pub fn send_json<T: serde::Serialize + ?Sized>(&self, sid: &str, value: &T) -> Result<()> {
        let text = serde_json::to_string(value)?;
        self.send(sid, text)
    }

    /// Queues any packet (advanced use: the protocol's own packets are the server's
    /// business, so prefer [`send`](Self::send)).
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub fn send_packet(&self, sid: &str, packet: Packet) -> Result<()> {
        let socket = self.inner.find(sid)?;
        self.inner.send_packet(&socket, &Outgoing::new(packet))
    }

    /// Sends one message to every open session and returns how many it was sent to.
    ///
    /// The message is encoded once: polling sessions share one packet in their queues,
    /// WebSocket sessions one frame, written from the calling thread without waking a
    /// thread per recipient. A recipient that does not read never slows the others
    /// (see [`ServerBuilder::write_timeout`]).
    pub fn broadcast(&self, message: impl Into<Message>) -> usize {
        let out = Outgoing::new(Packet::Message(message.into()));
        let sockets: Vec<Arc<Socket>> = self.inner.sessions.read().values().cloned().collect();
        self.inner.send_to_all(&sockets, &out)
    }

    /// Sends one message to the sessions in `sids` (unknown or closed ones are
    /// skipped), encoding it once as [`broadcast`](Self::broadcast) does. Returns how
    /// many it was sent to.
    pub fn send_many<'a>(
        &self,
        sids: impl IntoIterator<Item = &'a str>,
        message: impl Into<Message>,
    ) -> usize {
        let out = Outgoing::new(Packet::Message(message.into()));
        let sockets: Vec<Arc<Socket>> = sids
            .into_iter()
            .filter_map(|sid| self.inner.find(sid).ok())
            .collect();
        self.inner.send_to_all(&sockets, &out)
    }

    /// Closes one session with [`Reason::ServerDisconnect`] and returns at once; the
    /// client receives a close packet (on its next long-poll if none is waiting).
    ///
    /// # Errors
    /// [`ErrorKind::UnknownSession`] if no open session has that id.
    pub fn disconnect(&self, sid: &str) -> Result<()> {
        let socket = self.inner.find(sid)?;
        self.inner.close(&socket, Reason::ServerDisconnect);
        Ok(())
    }

    /// Closes every session as [`disconnect`](Self::disconnect) does.
    pub fn disconnect_all(&self) {
        let sockets: Vec<Arc<Socket>> = self.inner.sessions.read().values().cloned().collect();
        for s in sockets {
            self.inner.close(&s, Reason::ServerDisconnect);
        }
    }

    /// The transport a session uses now: polling until an upgrade completes.
    ///
    /// # Errors
    /// [`ErrorKind::UnknownSession`] if no open session has that id.
    pub fn transport(&self, sid: &str) -> Result<Transport> {
        Ok(self.inner.find(sid)?.transport())
    }

    /// The ids of the open sessions.
    pub fn sids(&self) -> Vec<Sid> {
        self.inner
            .sessions
            .read()
            .values()
            .filter(|s| s.is_open())
            .map(|s| s.sid.clone())
            .collect()
    }

    /// How many sessions are open.
    pub fn session_count(&self) -> usize {
        self.inner
            .sessions
            .read()
            .values()
            .filter(|s| s.is_open())
            .count()
    }

    /// How many sessions the server still holds, closing ones included (those waiting
    /// to deliver a close packet, at most `close_timeout`). Zero once every client has
    /// gone: a way to check that nothing leaks.
    pub fn table_size(&self) -> usize {
        self.inner.sessions.read().len()
    }

    /// Whether a session with that id is open.
    pub fn is_connected(&self, sid: &str) -> bool {
        self.inner.find(sid).is_ok()
    }

    /// Stores `value` as the session's user data, replacing what was there.
    ///
    /// ```
    /// # let server = engineio::server::Server::builder().build().unwrap();
    /// # let sid = "no-such-session";
    /// #[derive(Default)]
    /// struct User { name: String }
    /// // Usually done in a handler, for a live sid:
    /// let _ = server.set_session(sid, User { name: "ada".into() });
    /// let _ = server.with_session(sid, |u: &mut User| u.name.clone());
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::UnknownSession`] if no open session has that id.
    pub fn set_session<T: Any + Send>(&self, sid: &str, value: T) -> Result<()> {
        let socket = self.inner.find_any(sid)?;
        *socket.data.lock() = Some(Box::new(value));
        Ok(())
    }

    /// Runs `f` on the session's user data of type `T` (created with `T::default()` if
    /// the session has none yet), atomically with respect to other calls.
    ///
    /// # Errors
    /// [`ErrorKind::UnknownSession`] if no open session has that id;
    /// [`ErrorKind::WrongDataType`] if the session holds data of another type.
    pub fn with_session<T: Any + Send + Default, R>(
        &self,
        sid: &str,
        f: impl FnOnce(&mut T) -> R,
    ) -> Result<R> {
        let socket = self.inner.find_any(sid)?;
        let mut data = socket.data.lock();
        let slot = data.get_or_insert_with(|| Box::new(T::default()));
        match slot.downcast_mut::<T>() {
            Some(v) => Ok(f(v)),
            None => Err(Error::from_kind(ErrorKind::WrongDataType)),
        }
    }

    /// A copy of the session's user data of type `T`, if it has some.
    ///
    /// # Errors
    /// [`ErrorKind::UnknownSession`] if no open session has that id;
    /// [`ErrorKind::WrongDataType`] if the session holds data of another type.
    pub fn get_session<T: Any + Send + Clone>(&self, sid: &str) -> Result<Option<T>> {
        let socket = self.inner.find_any(sid)?;
        let data = socket.data.lock();
        match data.as_ref() {
            None => Ok(None),
            Some(b) => b
                .downcast_ref::<T>()
                .map(|v| Some(v.clone()))
                .ok_or_else(|| Error::from_kind(ErrorKind::WrongDataType)),
        }
    }

    /// Stops the server: stops accepting connections, closes every session with
    /// [`Reason::ServerDisconnect`] (pending long-polls get a close packet), closes the
    /// connections and joins every thread the server started. Blocks for at most a few
    /// seconds; later calls return at once.
    pub fn shutdown(&self) {
        {
            let mut st = self.inner.state.lock();
            if *st != RunState::Running {
                while *st != RunState::Stopped {
                    self.inner.stopped.wait(&mut st);
                }
                return;
            }
            *st = RunState::ShuttingDown;
        }
        log::info!("shutting down");
        let listeners: Vec<Arc<Listener>> = self.inner.listeners.lock().clone();
        for l in &listeners {
            l.stop_accepting();
        }
        let sockets: Vec<Arc<Socket>> = self.inner.sessions.read().values().cloned().collect();
        for s in &sockets {
            self.inner.close_now(s, Reason::ServerDisconnect);
        }
        for l in &listeners {
            l.close_connections(Duration::from_secs(2));
        }
        self.inner.heartbeat.stop();
        self.inner.listeners.lock().clear();
        *self.inner.state.lock() = RunState::Stopped;
        self.inner.stopped.notify_all();
    }

    /// Blocks until [`shutdown`](Self::shutdown) has completed.
    pub fn wait(&self) {
        let mut st = self.inner.state.lock();
        while *st != RunState::Stopped {
            self.inner.stopped.wait(&mut st);
        }
    }

    /// Whether [`shutdown`](Self::shutdown) has begun.
    pub fn is_shut_down(&self) -> bool {
        *self.inner.state.lock() != RunState::Running
    }
}

impl Inner {
    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    pub(crate) fn is_running(&self) -> bool {
        *self.state.lock() == RunState::Running
    }

    pub(crate) fn add_listener(&self, l: Arc<Listener>) {
        self.listeners.lock().push(l);
    }

    /// An open session by id.
    pub(crate) fn find(&self, sid: &str) -> Result<Arc<Socket>> {
        match self.sessions.read().get(sid) {
            Some(s) if s.is_open() => Ok(s.clone()),
            Some(s) if s.is_connecting() => Ok(s.clone()),
            Some(_) => Err(Error::from_kind(ErrorKind::SessionClosed)),
            None => Err(Error::from_kind(ErrorKind::UnknownSession)),
        }
    }

    /// A session by id, whatever its state, for user data.
    fn find_any(&self, sid: &str) -> Result<Arc<Socket>> {
        self.sessions
            .read()
            .get(sid)
            .cloned()
            .ok_or_else(|| Error::from_kind(ErrorKind::UnknownSession))
    }

    /// The session a request names, if it is visible to requests (not connecting).
    pub(crate) fn lookup_for_request(&self, sid: &str) -> Option<Arc<Socket>> {
        self.sessions
            .read()
            .get(sid)
            .filter(|s| !s.is_connecting())
            .cloned()
    }

    pub(crate) fn send_packet(
        self: &Arc<Self>,
        socket: &Arc<Socket>,
        out: &Outgoing,
    ) -> Result<()> {
        match socket.enqueue(out, self.config.max_buffered) {
            Ok(()) => Ok(()),
            Err(socket::EnqueueError::Failed) => {
                self.close(socket, Reason::TransportError);
                Err(Error::new(
                    ErrorKind::SessionClosed,
                    "the WebSocket write failed",
                ))
            }
            Err(socket::EnqueueError::Closed) => Err(Error::from_kind(ErrorKind::SessionClosed)),
            Err(socket::EnqueueError::Unencodable) => Err(Error::new(
                ErrorKind::InvalidMessage,
                "v4 polling cannot carry a text message containing U+001E",
            )),
            Err(socket::EnqueueError::Overflow) => {
                log::warn!(
                    "session {}: more than {} bytes queued; closing it",
                    socket.sid,
                    self.config.max_buffered
                );
                self.close(socket, Reason::TransportError);
                Err(Error::new(
                    ErrorKind::SessionClosed,
                    "the client is not collecting its messages",
                ))
            }
        }
    }

    /// Sends `out` to every socket; returns to how many it went. On a loopback or fast
    /// network most of a WebSocket send's cost is the kernel's TCP work, so a large
    /// broadcast is split across the machine's cores (scoped threads, at most 4, for
    /// 1024 recipients or more); a small one stays on the calling thread.
    fn send_to_all(self: &Arc<Self>, sockets: &[Arc<Socket>], out: &Outgoing) -> usize {
        const PARALLEL_FROM: usize = 1024;
        let send = |chunk: &[Arc<Socket>]| {
            chunk
                .iter()
                .filter(|s| self.send_packet(s, out).is_ok())
                .count()
        };
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(4);
        if sockets.len() < PARALLEL_FROM || threads < 2 {
            return send(sockets);
        }
        let chunk = sockets.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let mut parts = sockets.chunks(chunk);
            let mine = parts.next().unwrap_or(&[]);
            let mut sent = 0;
            let mut helpers = Vec::new();
            for c in parts {
                match std::thread::Builder::new()
                    .name("eio-broadcast".into())
                    .stack_size(64 * 1024)
                    .spawn_scoped(scope, move || send(c))
                {
                    Ok(h) => helpers.push(h),
                    // No thread to spare (a thread limit): do it here.
                    Err(_) => sent += send(c),
                }
            }
            sent += send(mine);
            for h in helpers {
                // A helper only panics if a send does; count nothing for it then.
                sent += h.join().unwrap_or(0);
            }
            sent
        })
    }

    /// Creates a session in the connecting state (invisible to requests, H3) with a
    /// fresh, unique sid.
    pub(crate) fn create_session(&self, transport: Transport) -> Option<Arc<Socket>> {
        let mut sessions = self.sessions.write();
        for _ in 0..16 {
            let sid = match &self.config.sid_generator {
                Some(g) => match Sid::from_custom(g()) {
                    Some(s) => s,
                    None => {
                        log::error!("the sid generator returned an invalid id");
                        return None;
                    }
                },
                None => Sid::generate()?,
            };
            if sessions.contains_key(&sid) {
                continue;
            }
            let socket = Arc::new(Socket::new(sid.clone(), transport));
            sessions.insert(sid, socket.clone());
            return Some(socket);
        }
        log::error!("the sid generator keeps returning ids in use");
        None
    }

    /// Runs the connect handler for a new session. `Ok` means accepted; the session is
    /// then open and visible.
    pub(crate) fn run_connect(
        self: &Arc<Self>,
        socket: &Arc<Socket>,
        request: &Request,
    ) -> Result<(), Rejection> {
        let server = Server::from_inner(self.clone());
        let verdict = match &self.handlers.connect {
            None => Ok(()),
            Some(h) => match catch_unwind(AssertUnwindSafe(|| h(&server, &socket.sid, request))) {
                Ok(v) => v,
                Err(_) => {
                    log::error!("connect handler panicked for {}; rejecting", socket.sid);
                    Err(Rejection::new())
                }
            },
        };
        let verdict = verdict.and_then(|()| {
            if socket.accept() {
                Ok(())
            } else {
                // The handler closed the session it was accepting.
                Err(Rejection::new())
            }
        });
        if verdict.is_err() {
            self.forget(socket);
        }
        verdict
    }

    /// Removes a session from the table (if the table still holds this very session).
    pub(crate) fn forget(&self, socket: &Arc<Socket>) {
        let mut sessions = self.sessions.write();
        if sessions
            .get(&socket.sid)
            .is_some_and(|s| Arc::ptr_eq(s, socket))
        {
            sessions.remove(&socket.sid);
        }
    }

    /// Hands received packets to the session, in order, one handler call at a time.
    pub(crate) fn deliver(
        self: &Arc<Self>,
        socket: &Arc<Socket>,
        packets: impl IntoIterator<Item = Packet>,
    ) {
        let guard = socket.handler_lock.lock();
        for packet in packets {
            if !socket.is_open() {
                break;
            }
            match packet {
                Packet::Message(m) => {
                    if let Some(h) = &self.handlers.message {
                        let server = Server::from_inner(self.clone());
                        if catch_unwind(AssertUnwindSafe(|| h(&server, &socket.sid, m))).is_err() {
                            log::error!("message handler panicked for session {}", socket.sid);
                        }
                    }
                }
                Packet::Close => self.close(socket, Reason::ClientDisconnect),
                Packet::Pong(_) => {
                    if let Some(gen) = socket.pong_received() {
                        self.heartbeat.schedule(
                            socket,
                            Instant::now() + self.config.ping_interval,
                            gen,
                        );
                    }
                }
                Packet::Ping(_) => {
                    log::debug!("session {}: v4 client sent a ping", socket.sid);
                    self.close(socket, Reason::TransportError);
                }
                Packet::Open(_) | Packet::Upgrade | Packet::Noop => {}
            }
        }
        drop(guard);
        self.fire_pending_disconnect(socket);
    }

    /// Closes a session (idempotent). A server-initiated close of a polling session
    /// with no long-poll waiting keeps the session, closing, until the next long-poll
    /// collects the close packet or the close timeout passes (C3).
    pub(crate) fn close(self: &Arc<Self>, socket: &Arc<Socket>, reason: Reason) {
        self.close_with(socket, reason, false)
    }

    /// Closes a session at once, even a server-initiated close (shutdown).
    pub(crate) fn close_now(self: &Arc<Self>, socket: &Arc<Socket>, reason: Reason) {
        self.close_with(socket, reason, true)
    }

    /// Closes a session whose WebSocket broke the rules: the close frame carries
    /// `code` (1002, 1007, 1009).
    pub(crate) fn close_ws(self: &Arc<Self>, socket: &Arc<Socket>, reason: Reason, code: u16) {
        self.close_full(socket, reason, false, Some(code))
    }

    fn close_with(self: &Arc<Self>, socket: &Arc<Socket>, reason: Reason, now: bool) {
        self.close_full(socket, reason, now, None)
    }

    fn close_full(
        self: &Arc<Self>,
        socket: &Arc<Socket>,
        reason: Reason,
        now: bool,
        ws_code: Option<u16>,
    ) {
        let linger = reason == Reason::ServerDisconnect && !now;
        let outcome = socket.begin_close(reason, linger);
        if !matches!(outcome, socket::CloseOutcome::AlreadyClosed) {
            // Its pings, pong deadline and upgrade timeout will never matter again.
            self.heartbeat.cancel(socket);
        }
        match outcome {
            socket::CloseOutcome::AlreadyClosed => return,
            socket::CloseOutcome::Closed => self.forget(socket),
            socket::CloseOutcome::Lingering(gen) => self.heartbeat.schedule_close(
                socket,
                Instant::now() + self.config.close_timeout,
                gen,
            ),
        }
        if let Some(probe) = socket.take_probe() {
            probe.shutdown();
        }
        if let Some(ws) = socket.ws_writer() {
            // W10 and the close table (§9).
            let (close_packet, code) = match reason {
                _ if ws_code.is_some() => (false, ws_code),
                Reason::ServerDisconnect => (true, Some(if now { 1001 } else { 1000 })),
                Reason::PingTimeout => (true, Some(1000)),
                Reason::ClientDisconnect => (false, Some(1000)),
                Reason::ParseError => (false, Some(1002)),
                Reason::TransportError => (false, Some(1002)),
                Reason::TransportClose => (false, None),
            };
            ws.close(close_packet, code);
            self.heartbeat.push(
                socket,
                Instant::now() + WS_CLOSE_WAIT,
                heartbeat::Timer::HardClose,
                0,
            );
        }
        if reason == Reason::ClientDisconnect && socket.transport() == Transport::Polling {
            self.recently_closed.lock().insert(socket.sid.clone());
        }
        log::info!("session {} closed: {reason}", socket.sid);
        self.fire_pending_disconnect(socket);
    }

    /// Whether a GET for `sid` trails its client's close closely enough to get a noop
    /// once (C2).
    pub(crate) fn take_recent_client_close(&self, sid: &str) -> bool {
        self.recently_closed.lock().take(sid)
    }

    /// Runs the disconnect handler if it is due and no handler call of the session is
    /// running; otherwise whoever is running one does it when it finishes.
    pub(crate) fn fire_pending_disconnect(self: &Arc<Self>, socket: &Arc<Socket>) {
        loop {
            let Some(guard) = socket.handler_lock.try_lock() else {
                return;
            };
            if let Some(reason) = socket.take_disconnect_due() {
                if let Some(h) = &self.handlers.disconnect {
                    let server = Server::from_inner(self.clone());
                    if catch_unwind(AssertUnwindSafe(|| h(&server, &socket.sid, reason))).is_err() {
                        log::error!("disconnect handler panicked for session {}", socket.sid);
                    }
                }
            }
            drop(guard);
            if !socket.disconnect_is_due() {
                return;
            }
        }
    }

    /// Called by the heartbeat thread when a deadline passes.
    pub(crate) fn on_timer(
        self: &Arc<Self>,
        socket: &Arc<Socket>,
        kind: heartbeat::Timer,
        gen: u64,
    ) {
        match kind {
            heartbeat::Timer::Ping => {
                if socket.queue_ping(gen) {
                    self.heartbeat.schedule_pong_deadline(
                        socket,
                        Instant::now() + self.config.ping_timeout,
                        gen,
                    );
                }
            }
            heartbeat::Timer::PongDeadline => {
                if socket.pong_overdue(gen) {
                    log::info!("session {}: no pong in time", socket.sid);
                    self.close(socket, Reason::PingTimeout);
                }
            }
            heartbeat::Timer::CloseTimeout => {
                if socket.finish_linger(gen) {
                    self.forget(socket);
                }
            }
            heartbeat::Timer::UpgradeTimeout => {
                log::debug!("session {}: upgrade timed out", socket.sid);
                if let Some(gen) = socket.abort_probe(gen) {
                    self.schedule_ping(socket, gen);
                }
            }
            heartbeat::Timer::HardClose => {
                if let Some(ws) = socket.ws_writer() {
                    ws.shutdown();
                }
            }
        }
    }

    /// Schedules the next ping of heartbeat generation `gen`, a ping interval from now.
    pub(crate) fn schedule_ping(&self, socket: &Arc<Socket>, gen: u64) {
        self.heartbeat
            .schedule(socket, Instant::now() + self.config.ping_interval, gen);
    }

    /// Bounds an upgrade: probe `id` must complete within the upgrade timeout.
    pub(crate) fn schedule_upgrade_timeout(&self, socket: &Arc<Socket>, id: u64) {
        self.heartbeat.push(
            socket,
            Instant::now() + self.config.upgrade_timeout,
            heartbeat::Timer::UpgradeTimeout,
            id,
        );
    }

    /// Starts the heartbeat of a session whose handshake response has been written.
    pub(crate) fn start_heartbeat(&self, socket: &Arc<Socket>) {
        if let Some(gen) = socket.heartbeat_gen_if_open() {
            self.heartbeat
                .schedule(socket, Instant::now() + self.config.ping_interval, gen);
        }
    }
}

/// How long a closed WebSocket waits for its peer's close frame before dropping TCP (W10).
const WS_CLOSE_WAIT: Duration = Duration::from_secs(1);

/// The sids closed by their client within [`CLIENT_CLOSE_GRACE`], oldest first, so
/// that expiry costs O(1) per close however many sessions close per second.
#[derive(Default)]
struct RecentCloses {
    order: std::collections::VecDeque<(Instant, Sid)>,
    at: HashMap<Sid, Instant>,
}

impl RecentCloses {
    fn expire(&mut self, now: Instant) {
        while let Some((t, _)) = self.order.front() {
            if now.duration_since(*t) < CLIENT_CLOSE_GRACE {
                break;
            }
            let (t, sid) = self.order.pop_front().expect("front exists");
            if self.at.get(&sid) == Some(&t) {
                self.at.remove(&sid);
            }
        }
    }

    fn insert(&mut self, sid: Sid) {
        let now = Instant::now();
        self.expire(now);
        self.at.insert(sid.clone(), now);
        self.order.push_back((now, sid));
    }

    /// Whether `sid` closed within the grace; it answers once.
    fn take(&mut self, sid: &str) -> bool {
        let now = Instant::now();
        self.expire(now);
        self.at.remove(sid).is_some()
    }
}

/// How long after a client's close a trailing GET gets a noop instead of an error.
const CLIENT_CLOSE_GRACE: Duration = Duration::from_secs(1);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_sessions_leave_no_timers_behind() {
        let server = Server::builder().build().unwrap();
        let inner = server.inner().clone();
        for i in 0..1000 {
            let socket = inner.create_session(Transport::Polling).unwrap();
            assert!(socket.accept());
            inner.start_heartbeat(&socket);
            if i % 2 == 0 {
                inner.close(&socket, Reason::ClientDisconnect);
            } else {
                // A server close of a polling session lingers, with a close timeout.
                inner.close(&socket, Reason::ServerDisconnect);
                inner.close_now(&socket, Reason::ServerDisconnect);
            }
        }
        assert_eq!(inner.heartbeat.pending(), 0);
        assert_eq!(server.table_size(), 0);
        let live = inner.create_session(Transport::Polling).unwrap();
        assert!(live.accept());
        inner.start_heartbeat(&live);
        assert_eq!(inner.heartbeat.pending(), 1);
        server.shutdown();
    }
}
