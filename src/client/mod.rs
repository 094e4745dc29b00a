//! The Engine.IO client (feature `client`): blocking, with its own threads, no
//! async runtime — the counterpart of python-engineio's `Client`. It speaks protocol
//! v4, or v3 on request ([`ClientBuilder::protocol`]).
//!
//! ```
//! use engineio::client::{Client, Event};
//! # use engineio::server::{App, Server};
//! # let server = Server::builder().on_message(|s, sid, m| { let _ = s.send(sid, m); }).build()?;
//! # let app = App::new(server).listen("127.0.0.1:0")?;
//! # let url = format!("http://{}", app.local_addr());
//!
//! // `url` is the server's address, e.g. "http://127.0.0.1:5000".
//! let client = Client::builder(&url).connect()?;
//! client.send("hello")?;
//! client.send(vec![1u8, 2, 3])?;
//! for event in client.events() {
//!     match event {
//!         Event::Message(msg) if msg.is_binary() => client.disconnect(),
//!         Event::Message(msg) => println!("echo: {:?}", msg.as_text()),
//!         Event::Disconnect(reason) => println!("disconnected: {reason}"),
//!         _ => {}
//!     }
//! }
//! # Ok::<(), engineio::Error>(())
//! ```
//!
//! # Handlers or an iterator
//!
//! Events — [`Event::Connect`], [`Event::Message`] and [`Event::Disconnect`] — reach
//! the program in two ways, which can be combined:
//!
//! - handlers given to the builder ([`on_connect`](ClientBuilder::on_connect),
//!   [`on_message`](ClientBuilder::on_message),
//!   [`on_disconnect`](ClientBuilder::on_disconnect)), called on the client's event
//!   thread;
//! - [`Client::events`], a blocking iterator (and channel receiver) over the same
//!   events, which ends after the disconnect event.
//!
//! Both see one connection's events in order: connect first, then every message in
//! the order the server sent it (across POSTs, GETs and the upgrade), then exactly one
//! disconnect. Handlers are called one at a time, and a handler has returned before
//! the iterator gets the next event.
//!
//! Events are buffered for the iterator from the start when the client has no
//! handler at all; otherwise only once [`Client::events`] has been called (so a
//! handler-only client buffers nothing). To see every event of a client with
//! handlers, call `events()` before `connect()`: build with
//! [`ClientBuilder::build`], then connect with [`Client::connect`].
//!
//! Both buffers are bounded ([`ClientBuilder::event_buffer_bytes`], 8 MiB each): when
//! the handler or the iterator falls behind, the client stops reading from the
//! server, which sees back-pressure; nothing is dropped. So read the iterator once
//! you have asked for it: a consumer that stays behind longer than the heartbeat
//! (ping interval + ping timeout) loses the connection with [`Reason::PingTimeout`].
//!
//! # Threads
//!
//! A connection has an event thread (handlers, heartbeat check), and: on polling, a
//! GET thread and a POST thread; on WebSocket, a reader thread; on protocol v3, a
//! heartbeat thread that sends the pings. During an upgrade a thread probes the
//! WebSocket and then becomes its reader. [`Client::disconnect`] and [`Client::wait`]
//! join every one of them.
//!
//! [`Client::send`] never waits on the network over polling: it queues, and the POST
//! thread sends everything queued in one POST (or several, each within the server's
//! `maxPayload` and of at most 16 packets, python-engineio's limit). Over WebSocket it
//! writes the frame on the calling thread; concurrent senders take turns on one writer
//! lock, and each send (its wait for the lock included) ends within the request
//! timeout, or fails with [`ErrorKind::Timeout`] and ends the connection with
//! [`Reason::TransportError`]. The WebSocket is split into a read half and a write half
//! (over TLS too), so a send never waits for the reader, and the reader never waits
//! for a send: pongs go out when the writer is free. No internal lock is held while
//! the network is written to, except the writer lock itself, so
//! [`Client::is_connected`], [`Client::state`] and the event thread never wait for it.
//!
//! # Heartbeat and reasons
//!
//! Every ping is answered at once with a pong carrying the same data. If no ping
//! arrives within ping interval + ping timeout (the values the server advertised) of
//! the last one, the client disconnects with [`Reason::PingTimeout`].
//!
//! Protocol v3 runs the heartbeat the other way: the client sends a ping a ping
//! interval after the handshake and after each pong, and disconnects with
//! [`Reason::PingTimeout`] when the pong does not come within the ping timeout (only
//! a pong counts; the reference client 3.x also takes any packet as a sign of life).
//! Pings go out on their own thread, whatever the handlers are doing; on polling they
//! go to the front of the outgoing queue. A ping from a v3 server is ignored (as by
//! the reference client: answering it would be the wrong direction). During an
//! upgrade's switch the heartbeat waits, and restarts when it ends (B7).
//!
//! The other reasons: [`Reason::ClientDisconnect`] ([`Client::disconnect`],
//! [`Client::abort`], dropping the last handle), [`Reason::ServerDisconnect`] (a CLOSE
//! packet, or a WebSocket close frame with code 1000 or 1001),
//! [`Reason::TransportClose`] (the connection dropped without a close),
//! [`Reason::TransportError`] (a failed request, a non-2xx answer, an undecodable
//! body, another close code).
//!
//! # Reuse
//!
//! A client can connect again once disconnected; the new connection starts with an
//! empty outgoing queue and gets a new session. [`Client::events`] returns the
//! iterator of the current connection, or of the next one while disconnected.
//!
//! # Proxies and TLS
//!
//! [`ClientBuilder::proxy`] sends polling requests through ureq's HTTP proxy support
//! and tunnels the WebSocket through the same proxy with HTTP `CONNECT`. The
//! environment's `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` and `NO_PROXY` are read only
//! with [`ClientBuilder::proxy_from_env`] (curl's rules).
//!
//! With the `tls` feature, `https` and `wss` URLs work over rustls; by default the
//! server's certificate must chain to one of Mozilla's roots (the `webpki-roots`
//! crate). `ClientBuilder::tls_roots` chooses the operating system's store instead, or
//! both; `ClientBuilder::root_certificate_pem` (or `_der`) trusts a given root, instead
//! of the default roots or, with `tls_roots`, in addition to them;
//! `ClientBuilder::client_certificate_pem` (or `_der`) presents a client certificate to
//! servers that require one (mutual TLS); `ClientBuilder::danger_accept_invalid_certs`
//! turns checking off for test servers. All apply to both transports.
//!
//! # Limits
//!
//! A text message containing U+001E cannot be sent over v4 polling (the protocol has
//! no escape for it): [`Client::send`] refuses it while the client polls (v3 payloads
//! are length-prefixed and carry it). Messages larger
//! than the server's `maxPayload` are refused by `send`. The polling outgoing queue is
//! bounded by [`ClientBuilder::max_buffered_bytes`] (16 MiB): beyond it `send` fails with
//! [`ErrorKind::QueueFull`] and queues nothing.
//!
//! Whatever a server sends, the client's memory stays within documented limits, and
//! a server over one of them loses its connection ([`Reason::TransportError`]):
//!
//! - a message: [`ClientBuilder::max_message_bytes`] (by default the server's own
//!   `maxPayload`, within 64 KiB ..= 64 MiB); a packet on the wire: 4/3 of it plus 2
//!   bytes (base64); a long-poll response: 16 packets' worth (and, on v3, their
//!   length prefixes), decoded as it arrives (never held whole), with at most 16
//!   packets other than messages;
//! - the OPEN packet: 64 KiB; a POST answer: 64 KiB (an error answer's body is read up
//!   to 64 KiB, the rest is not read); the WebSocket `101` head: 64 KiB;
//! - pongs: coalesced, one waiting at most;
//! - received events: [`ClientBuilder::event_buffer_bytes`], with back-pressure.
//!
//! A handshake advertising a `pingInterval` or `pingTimeout` above
//! [`ClientBuilder::max_ping_interval`] or [`ClientBuilder::max_ping_timeout`] (5
//! minutes each) is refused: a dead server would never be noticed.

mod config;
mod conn;
mod deadline;
mod inbox;
mod incoming;
mod polling;
mod proxy;
#[cfg(feature = "tls")]
mod tls;
mod websocket;

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::{Condvar, Mutex};

pub use self::config::ClientBuilder;
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub use self::tls::TlsRoots;
pub use crate::packet::{Handshake, Message};
pub use crate::transport::Transport;
pub use crate::{Reason, Sid};

use self::config::{Config, Handlers};
use self::conn::{Attempt, Conn};
use self::inbox::{Inbox, Internal};
use crate::packet::Packet;
use crate::{Error, ErrorKind, ProtocolVersion, Result};

/// Something that happened on a connection, as [`Client::events`] yields it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The handshake completed (once per connection, first).
    Connect,
    /// A message from the server, text or binary, in the order it was sent.
    Message(Message),
    /// The connection ended (once per connection, last).
    Disconnect(Reason),
}

/// Where a client is in its life (python-engineio's states).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum State {
    /// Not connected: initially, and after a connection ended.
    Disconnected,
    /// [`Client::connect`] is running.
    Connecting,
    /// Connected; messages can be sent.
    Connected,
    /// [`Client::disconnect`] is running.
    Disconnecting,
}

/// The events of one connection, in order: a blocking iterator that ends after
/// [`Event::Disconnect`].
///
/// ```no_run
/// # use engineio::client::{Client, Event};
/// # let client = Client::builder("http://127.0.0.1:5000").connect()?;
/// for event in client.events() {
///     if let Event::Message(msg) = event {
///         println!("{msg:?}");
///     }
/// }
/// # Ok::<(), engineio::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Events {
    rx: Receiver<Event>,
}

impl Events {
    /// Waits at most `timeout` for the next event.
    ///
    /// # Errors
    ///
    /// [`RecvTimeoutError::Timeout`](crate::channel::RecvTimeoutError::Timeout) when
    /// none came in time;
    /// [`RecvTimeoutError::Disconnected`](crate::channel::RecvTimeoutError::Disconnected)
    /// after the connection's last event. The error is the channel crate's, as
    /// [`receiver`](Self::receiver)'s (re-exported as [`engineio::channel`](crate::channel)).
    pub fn recv_timeout(
        &self,
        timeout: Duration,
    ) -> std::result::Result<Event, crate::channel::RecvTimeoutError> {
        self.rx.recv_timeout(timeout)
    }

    /// The next event if one is waiting, without blocking.
    pub fn try_recv(&self) -> Option<Event> {
        self.rx.try_recv().ok()
    }

    /// The underlying channel receiver, for
    /// [`select!`](crate::channel::select) over several channels (the channel crate,
    /// `crossbeam-channel`, is re-exported as [`engineio::channel`](crate::channel)).
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use engineio::channel::{select, tick};
    /// use engineio::client::Client;
    ///
    /// let client = Client::builder("http://127.0.0.1:5000").connect()?;
    /// let events = client.events();
    /// let ticks = tick(Duration::from_secs(1));
    /// loop {
    ///     select! {
    ///         recv(events.receiver()) -> event => match event {
    ///             Ok(event) => println!("{event:?}"),
    ///             Err(_) => break, // the connection's last event has passed
    ///         },
    ///         recv(ticks) -> _ => println!("tick"),
    ///     }
    /// }
    /// # Ok::<(), engineio::Error>(())
    /// ```
    pub fn receiver(&self) -> &crate::channel::Receiver<Event> {
        &self.rx
    }
}

impl Iterator for Events {
    type Item = Event;

    /// Blocks until the next event; `None` after the connection's last event.
    fn next(&mut self) -> Option<Event> {
        self.rx.recv().ok()
    }
}

/// An Engine.IO client.
///
/// A `Client` is a cheap handle (an `Arc`): clone it to use it from other threads, or
/// from its own handlers (which receive a `&Client`). Every method may be called from
/// any thread. When the last handle is dropped, the connection is closed as by
/// [`disconnect`](Client::disconnect) and handlers are no longer called.
///
/// See the [module documentation](self) for events, threads and reasons.
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Client>();
    assert_send_sync::<Events>();
};

pub(crate) struct Shared {
    config: Arc<Config>,
    handlers: Handlers,
    state: Mutex<ClientState>,
    cond: Condvar,
    buffer_events: AtomicBool,
}

struct ClientState {
    phase: State,
    conn: Option<Arc<Conn>>,
    /// The connect in progress, while [`State::Connecting`].
    attempt: Option<Arc<Attempt>>,
    /// The sender of the next connection's events (taken by `connect`).
    next_tx: Option<Sender<Event>>,
    /// The receiver `events()` hands out: the current or the next connection's.
    rx: Receiver<Event>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.state.lock();
        f.debug_struct("Client")
            .field("url", &self.shared.config.url(Transport::Polling, None))
            .field("state", &state.phase)
            .field("sid", &state.conn.as_ref().map(|c| c.handshake.sid.clone()))
            .finish()
    }
}

impl Client {
    /// A builder for a client of the server at `url` (`http`, `https`, `ws` or `wss`;
    /// its query is kept, its path is not used, see [`ClientBuilder::path`]).
    pub fn builder(url: &str) -> ClientBuilder {
        ClientBuilder::new(url)
    }

    pub(crate) fn from_parts(config: Arc<Config>, handlers: Handlers) -> Client {
        let buffer = handlers.is_empty();
        let (tx, rx) = crossbeam_channel::unbounded();
        Client {
            shared: Arc::new(Shared {
                config,
                handlers,
                state: Mutex::new(ClientState {
                    phase: State::Disconnected,
                    conn: None,
                    attempt: None,
                    next_tx: Some(tx),
                    rx,
                }),
                cond: Condvar::new(),
                buffer_events: AtomicBool::new(buffer),
            }),
        }
    }

    /// Connects: performs the handshake over the first transport, starts the
    /// connection's threads, runs the connect handler, then (with the default
    /// transports, when the server offers it) starts the upgrade to WebSocket in the
    /// background. Blocks for the handshake and until the connect handler has
    /// returned. The handshake, whatever the server sends or withholds (the TCP
    /// connection, a proxy's `CONNECT`, TLS, the `101` answer and the OPEN packet of a
    /// WebSocket), ends within the [request timeout](ClientBuilder::request_timeout);
    /// [`disconnect`](Self::disconnect) or [`abort`](Self::abort) from another thread
    /// ends it at once (except, over polling, a TCP connection the server's host has
    /// not answered at all yet: ureq's connect ends at the request timeout).
    ///
    /// # Errors
    ///
    /// - [`ErrorKind::AlreadyConnected`] unless the client is disconnected, or when
    ///   called from one of this client's handlers;
    /// - [`ErrorKind::Connect`] when the server cannot be reached, [`ErrorKind::Timeout`]
    ///   when it does not answer in time, [`ErrorKind::Tls`] when its certificate is
    ///   refused;
    /// - [`ErrorKind::Handshake`] when it answers with a non-2xx status (see
    ///   [`Error::status`] and [`Error::body`]: a connect handler's `401` and JSON, a
    ///   `400` and `{"code":…,"message":…}`), with something other than an OPEN
    ///   packet, or with a `pingInterval` or `pingTimeout` above
    ///   [`ClientBuilder::max_ping_interval`] or [`ClientBuilder::max_ping_timeout`];
    /// - [`ErrorKind::Aborted`] when [`disconnect`](Self::disconnect) or
    ///   [`abort`](Self::abort) interrupted it.
    ///
    /// Whichever way it fails, the client is left disconnected, with no thread
    /// running.
    ///
    /// ```
    /// use engineio::client::Client;
    /// use engineio::server::{App, Rejection, Server};
    /// use engineio::ErrorKind;
    ///
    /// let server = Server::builder()
    ///     .on_connect(|_, _, _| Err(Rejection::with_data("go away")))
    ///     .build()?;
    /// let app = App::new(server).listen("127.0.0.1:0")?;
    /// let client = Client::builder(&format!("http://{}", app.local_addr())).build()?;
    /// let err = client.connect().unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Handshake);
    /// assert_eq!(err.status(), Some(401));
    /// assert_eq!(err.body(), Some("\"go away\""));
    /// # Ok::<(), engineio::Error>(())
    /// ```
    pub fn connect(&self) -> Result<()> {
        let attempt = Arc::new(Attempt::default());
        let (events_tx, old) = {
            let mut state = self.shared.state.lock();
            if state.conn.as_ref().is_some_and(|c| c.is_event_thread()) {
                return Err(Error::new(
                    ErrorKind::AlreadyConnected,
                    "connect cannot be called from this client's own handlers",
                ));
            }
            if state.phase != State::Disconnected {
                return Err(Error::new(
                    ErrorKind::AlreadyConnected,
                    format!("the client is {:?}", state.phase),
                ));
            }
            state.phase = State::Connecting;
            state.attempt = Some(Arc::clone(&attempt));
            let tx = match state.next_tx.take() {
                Some(tx) => tx,
                None => {
                    let (tx, rx) = crossbeam_channel::unbounded();
                    state.rx = rx;
                    tx
                }
            };
            (tx, state.conn.take())
        };
        if let Some(old) = old {
            old.join_threads();
        }
        // Whatever happens in `open`, an error or even a panic, the client ends up
        // disconnected with no thread left.
        let result = match catch_unwind(AssertUnwindSafe(|| self.open(events_tx, &attempt))) {
            Ok(result) => result.map_err(|e| attempt.explain(e)),
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                log::error!("engineio client: connect panicked: {what}");
                Err(Error::new(
                    ErrorKind::Connect,
                    format!("connect failed on an internal error: {what}"),
                ))
            }
        };
        let leftover = {
            let mut state = self.shared.state.lock();
            state.attempt = None;
            let leftover = if result.is_err() {
                state.phase = State::Disconnected;
                state.conn.take()
            } else {
                None
            };
            self.shared.cond.notify_all();
            leftover
        };
        if let Some(conn) = leftover {
            conn.finish(Reason::TransportError);
            conn.join_threads();
        }
        result
    }

    fn open(&self, events_tx: Sender<Event>, attempt: &Arc<Attempt>) -> Result<()> {
        let config = Arc::clone(&self.shared.config);
        let agent = polling::agent(&config);
        let deadline = Instant::now() + config.request_timeout;
        let first = config.transports[0];
        let (handshake, cookie, rest, link) = match first {
            Transport::Polling => {
                let opened = polling::handshake(&agent, &config, attempt)?;
                (opened.handshake, opened.cookie, Some(opened.rest), None)
            }
            Transport::WebSocket => {
                let (handshake, link) = websocket::handshake(&config, deadline, attempt)?;
                (handshake, None, None, Some(link))
            }
        };
        log::debug!(
            "engineio client: connected, sid {} over {first}",
            handshake.sid
        );
        let conn = Arc::new(Conn::new(
            Arc::clone(&config),
            handshake,
            cookie,
            agent,
            first,
            link.as_ref().map(|l| Arc::clone(&l.writer)),
            Arc::new(Inbox::new(config.event_buffer)),
        ));
        conn.emit(Internal::Connect);
        {
            let mut state = self.shared.state.lock();
            // A cancel that came after the handshake has shut its socket or agent
            // down; the session is abandoned.
            attempt.check()?;
            state.conn = Some(Arc::clone(&conn));
            state.phase = State::Connected;
            state.attempt = None;
            self.shared.cond.notify_all();
        }
        let (connected_tx, connected_rx) = crossbeam_channel::bounded(1);
        let started = (|| {
            let c = Arc::clone(&conn);
            let weak = Arc::downgrade(&self.shared);
            conn.spawn("events", move || {
                conn::run_events(c, weak, events_tx, connected_tx)
            })?;
            match (link, rest) {
                (Some(link), _) => websocket::start_reader(&conn, link)?,
                (None, Some(rest)) => polling::start(&conn, rest)?,
                (None, None) => unreachable!("a handshake gives a link or a body"),
            }
            if config.protocol == ProtocolVersion::V3 {
                let c = Arc::clone(&conn);
                conn.spawn("heartbeat", move || conn::run_heartbeat(&c))?;
            }
            Ok(())
        })();
        if let Err(e) = started {
            conn.finish(Reason::TransportError);
            conn.join_threads();
            return Err(e);
        }
        // The connect event fires before any upgrade attempt.
        let _ = connected_rx.recv();
        let offered = conn.handshake.upgrades.iter().any(|u| u == "websocket");
        if first == Transport::Polling
            && offered
            && config.transports.contains(&Transport::WebSocket)
            && !conn.is_closed()
        {
            if let Err(e) = websocket::start_upgrade(&conn) {
                log::warn!("engineio client: cannot start the upgrade: {e}");
            }
        }
        Ok(())
    }

    /// The connection, if the client is connected or disconnecting.
    fn conn(&self) -> Option<Arc<Conn>> {
        let state = self.shared.state.lock();
        match state.phase {
            State::Connected | State::Disconnecting => state.conn.clone(),
            _ => None,
        }
    }

    /// Sends a message: text (`&str`, `String`) or binary (`Vec<u8>`, `&[u8]`,
    /// [`bytes::Bytes`]). On polling it is queued and sent by the POST thread (batched
    /// with others) and this returns at once; on WebSocket it is written on this
    /// thread, which blocks at most the request timeout.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotConnected`] when not connected (nothing is queued);
    /// [`ErrorKind::InvalidMessage`] for a message over the server's `maxPayload`, or
    /// text containing U+001E while on v4 polling; [`ErrorKind::QueueFull`] when the
    /// polling queue is full; on WebSocket, [`ErrorKind::Timeout`] when the frame could
    /// not be written within the request timeout (the server stopped reading), or an
    /// I/O error when the write failed; the connection then ends with
    /// [`Reason::TransportError`].
    ///
    /// ```
    /// # use engineio::client::Client;
    /// use engineio::ErrorKind;
    ///
    /// let client = Client::builder("http://127.0.0.1:9").build()?;
    /// assert_eq!(client.send("hi").unwrap_err().kind(), ErrorKind::NotConnected);
    /// # Ok::<(), engineio::Error>(())
    /// ```
    pub fn send(&self, message: impl Into<Message>) -> Result<()> {
        let conn = self
            .conn()
            .ok_or_else(|| Error::new(ErrorKind::NotConnected, "the client is not connected"))?;
        conn.send(Packet::Message(message.into()))
    }

    /// Sends `value` as JSON text (with `serde_json`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Json`] when `value` cannot be serialized, then as [`send`](Self::send).
    ///
    /// ```no_run
    /// # use engineio::client::Client;
    /// # let client = Client::builder("http://127.0.0.1:5000").connect()?;
    /// client.send_json(&std::collections::BTreeMap::from([("op", "join"), ("room", "7")]))?;
    /// # Ok::<(), engineio::Error>(())
    /// ```
    pub fn send_json<T: serde::Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        let text = serde_json::to_string(value)?;
        self.send(text)
    }

    /// The events of the current connection (or of the next one while
    /// disconnected), as a blocking iterator that ends after [`Event::Disconnect`].
    /// From this call on, events are buffered for the iterator even when handlers are
    /// set (see the [module documentation](self)). Iterators of one connection share
    /// its events: each event goes to one of them.
    pub fn events(&self) -> Events {
        self.shared.buffer_events.store(true, Ordering::Release);
        Events {
            rx: self.shared.state.lock().rx.clone(),
        }
    }

    /// Blocks until the client is disconnected (returns at once if it is), and joins
    /// the connection's threads. Returns at once when called from a handler.
    pub fn wait(&self) {
        self.wait_until(None);
    }

    /// As [`wait`](Self::wait), for at most `timeout`. Returns whether the client is
    /// disconnected.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(Some(Instant::now() + timeout))
    }

    fn wait_until(&self, deadline: Option<Instant>) -> bool {
        let conn = {
            let mut state = self.shared.state.lock();
            if state.conn.as_ref().is_some_and(|c| c.is_event_thread()) {
                return state.phase == State::Disconnected;
            }
            while state.phase != State::Disconnected {
                match deadline {
                    None => self.shared.cond.wait(&mut state),
                    Some(deadline) => {
                        if self
                            .shared
                            .cond
                            .wait_until(&mut state, deadline)
                            .timed_out()
                        {
                            return false;
                        }
                    }
                }
            }
            state.conn.clone()
        };
        if let Some(conn) = conn {
            conn.join_threads();
        }
        true
    }

    /// Disconnects gracefully: CLOSE is sent (as a POST, or as a text frame written
    /// and flushed before the WebSocket close frame), the disconnect handler runs with
    /// [`Reason::ClientDisconnect`], and every thread of the connection is joined.
    /// Blocks at most about the request timeout plus the handlers' time. Does nothing
    /// when not connected. From a handler, it returns once the transport is closed;
    /// the disconnect event follows when the handler returns. While another thread is
    /// in [`connect`](Self::connect), it interrupts the handshake (nothing is sent):
    /// `connect` returns [`ErrorKind::Aborted`].
    pub fn disconnect(&self) {
        self.close(false);
    }

    /// Disconnects at once, without sending CLOSE: requests and sockets are cut, the
    /// disconnect handler runs with [`Reason::ClientDisconnect`], and the threads are
    /// joined. The server sees the connection drop. While another thread is in
    /// [`connect`](Self::connect), it interrupts the handshake: `connect` returns
    /// [`ErrorKind::Aborted`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use engineio::client::{Client, State};
    /// use engineio::ErrorKind;
    ///
    /// // A server that accepts the connection but never answers.
    /// let silent = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let client = Client::builder(&format!("http://{}", silent.local_addr()?))
    ///     .request_timeout(Duration::from_secs(60))
    ///     .build()?;
    /// let connecting = {
    ///     let client = client.clone();
    ///     std::thread::spawn(move || client.connect())
    /// };
    /// while client.state() != State::Connecting {
    ///     std::thread::sleep(Duration::from_millis(1));
    /// }
    /// client.abort(); // `connect` returns at once, not after a minute
    /// let err = connecting.join().unwrap().unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Aborted);
    /// assert_eq!(client.state(), State::Disconnected);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn abort(&self) {
        self.close(true);
    }

    fn close(&self, abort: bool) {
        let conn = loop {
            let mut state = self.shared.state.lock();
            match state.phase {
                State::Connected => {
                    state.phase = State::Disconnecting;
                    break state.conn.clone();
                }
                State::Disconnecting => break state.conn.clone(),
                State::Disconnected => break None,
                State::Connecting => {
                    // Cut the handshake in progress; `connect` then fails with
                    // `Aborted` (or, past the handshake, is closed like any other).
                    let attempt = state.attempt.clone();
                    drop(state);
                    if let Some(attempt) = attempt {
                        attempt.cancel();
                    }
                    let mut state = self.shared.state.lock();
                    if state.phase == State::Connecting {
                        self.shared.cond.wait(&mut state);
                    }
                }
            }
        };
        let Some(conn) = conn else {
            return;
        };
        if abort {
            conn.finish(Reason::ClientDisconnect);
        } else {
            conn.close();
        }
        if conn.is_event_thread() {
            conn.join_threads();
        } else {
            self.wait();
        }
    }

    /// The client's state.
    pub fn state(&self) -> State {
        self.shared.state.lock().phase
    }

    /// Whether the client is connected (and not disconnecting).
    pub fn is_connected(&self) -> bool {
        let state = self.shared.state.lock();
        state.phase == State::Connected && state.conn.as_ref().is_some_and(|c| !c.is_closed())
    }

    /// The session id, while connected.
    pub fn sid(&self) -> Option<Sid> {
        self.conn().map(|c| Sid::received(&c.handshake.sid))
    }

    /// What the server said in its handshake, while connected.
    pub fn handshake(&self) -> Option<Handshake> {
        self.conn().map(|c| c.handshake.clone())
    }

    /// The protocol version the client speaks: [`ClientBuilder::protocol`] (v4 by
    /// default). A server that accepted the handshake speaks it too.
    ///
    /// ```
    /// use engineio::client::Client;
    /// use engineio::ProtocolVersion;
    ///
    /// let client = Client::builder("http://127.0.0.1:5000").build()?;
    /// assert_eq!(client.protocol(), ProtocolVersion::V4);
    /// # Ok::<(), engineio::Error>(())
    /// ```
    pub fn protocol(&self) -> ProtocolVersion {
        self.shared.config.protocol
    }

    /// The transport in use while connected: polling until an upgrade completes, then
    /// WebSocket.
    pub fn transport(&self) -> Option<Transport> {
        self.conn().map(|c| c.state.lock().transport)
    }

    /// Waits at most `timeout` for an upgrade attempt in progress to finish (succeed or
    /// fail), and returns the transport then in use; `None` when not connected.
    pub fn wait_for_upgrade(&self, timeout: Duration) -> Option<Transport> {
        let conn = self.conn()?;
        let deadline = Instant::now() + timeout;
        let mut state = conn.state.lock();
        while state.upgrade_pending && state.closed.is_none() {
            if conn.cond.wait_until(&mut state, deadline).timed_out() {
                break;
            }
        }
        if state.closed.is_some() {
            None
        } else {
            Some(state.transport)
        }
    }
}

impl Shared {
    /// Called by the event thread after the disconnect event.
    fn connection_ended(&self, conn: &Arc<Conn>) {
        let mut state = self.state.lock();
        if state.conn.as_ref().is_some_and(|c| Arc::ptr_eq(c, conn)) {
            state.phase = State::Disconnected;
            if state.next_tx.is_none() {
                let (tx, rx) = crossbeam_channel::unbounded();
                state.next_tx = Some(tx);
                state.rx = rx;
            }
        }
        self.cond.notify_all();
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let conn = self.state.get_mut().conn.take();
        if let Some(conn) = conn {
            conn.close();
            conn.join_threads();
        }
    }
}
