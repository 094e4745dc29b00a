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
//! # Where handlers run
//! A session's handlers run one at a time, in wire order: connect, then every message
//! (and the upgrade, between the messages that came before it and those after), then
//! disconnect exactly once. They never run on the server's own threads (the
//! heartbeat, broadcast helpers), under one of its locks, or inside a call of
//! [`Server::send`], [`broadcast`](Server::broadcast), [`disconnect`](Server::disconnect)
//! or [`shutdown`](Server::shutdown): every method of [`Server`] may be called from
//! every handler. A panic in a handler (or any other callback) is caught and logged.
//!
//! - The connect handler runs on the handshake's connection thread, before the
//!   response is written.
//! - Message handlers run on the thread that read the message, at once (no other
//!   thread is woken). If a handler takes longer than about 100 ms, the connection
//!   moves to a new thread, so the client's pongs and later requests are still read;
//!   its later messages wait, in order, for the handler. While more than
//!   `max_payload` bytes (at least 64 KiB) wait, the client's connection is not read:
//!   the client meets back-pressure, and is not timed out for pongs it could not send.
//! - The upgrade handler runs on the new WebSocket's connection thread, as message
//!   handlers do.
//! - Disconnect handlers run on the thread that noticed the end when that is the
//!   session's own connection, otherwise on a dispatch thread (started on demand, at
//!   most 256, ending after 5 s idle).
//!
//! # Threads
//! One thread accepts connections, one thread serves each TCP connection (a
//! WebSocket's connection thread is its reader), one heartbeat thread keeps every
//! session's ping and timeout deadlines, and one watchdog thread moves connections
//! away from slow handlers. Sends never wait for a peer: a WebSocket peer that stops
//! reading gets a short-lived flusher thread of its own, bounded by the write
//! timeout, and nobody else waits for it. A server in a cluster (feature `redis`,
//! `ServerBuilder::cluster`) has two more: a publisher and a subscriber for Redis.

mod app;
mod close;
#[cfg(feature = "redis")]
mod cluster;
mod config;
pub mod cookie;
pub mod cors;
mod data;
pub(crate) mod dispatch;
mod endpoint;
mod handlers;
mod handoff;
mod heartbeat;
pub(crate) mod http;
mod inner;
mod lifecycle;
mod polling;
mod request;
mod send;
mod session;
pub mod static_files;
mod table;
#[cfg(feature = "tls")]
mod tls;
mod websocket;

use std::any::Any;
use std::fmt;
use std::sync::Arc;

pub use self::app::{App, Listening};
#[cfg(feature = "redis")]
pub use self::cluster::ClusterConfig;
pub use self::config::ServerBuilder;
pub use self::cookie::{CookieConfig, SameSite};
pub use self::cors::CorsPolicy;
pub use self::handlers::Rejection;
pub use self::request::Request;
pub use self::static_files::StaticFiles;
#[cfg(feature = "tls")]
pub use self::tls::TlsConfig;
pub use crate::packet::Message;
pub use crate::transport::Transport;
pub use crate::{ProtocolVersion, Reason, Sid};

use self::inner::Inner;
use self::session::Outgoing;
use crate::packet::Packet;
use crate::Result;

/// An Engine.IO server: its sessions, handlers and configuration.
///
/// A `Server` is a cheap handle (an `Arc`); clone it to use it from other threads.
/// Every method is safe to call from any thread, handlers included; none of them runs
/// a handler or waits on the network.
#[derive(Clone)]
pub struct Server {
    inner: Arc<Inner>,
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Server>();
};

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("path", &self.inner.config().path)
            .field("sessions", &self.inner.table.len())
            .finish()
    }
}

impl Server {
    /// A builder with every option at its default.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::new()
    }

    pub(crate) fn from_inner(inner: Arc<Inner>) -> Server {
        Server { inner }
    }

    pub(crate) fn inner(&self) -> &Arc<Inner> {
        &self.inner
    }

    /// The normalised Engine.IO path this server answers on (`/engine.io/` by default).
    pub fn path(&self) -> &str {
        &self.inner.config().path
    }

    /// Queues a message (text or binary) for one session and returns at once.
    ///
    /// Messages reach the client in the order they were sent; every message `send`
    /// accepted before [`disconnect`](Self::disconnect) reaches it before the close.
    ///
    /// # Errors
    /// [`ErrorKind::UnknownSession`](crate::ErrorKind::UnknownSession) if no session
    /// has that id, [`ErrorKind::SessionClosed`](crate::ErrorKind::SessionClosed) if
    /// it is closing, and [`ErrorKind::InvalidMessage`](crate::ErrorKind::InvalidMessage)
    /// for a text message containing U+001E on a polling session (v4 polling cannot
    /// carry it). If more than `max_buffered_bytes` would wait for the session, or the
    /// server-wide `max_total_buffered_bytes` is reached and this session holds the
    /// most, the session is closed (`transport error`) and `SessionClosed` returned.
    pub fn send(&self, sid: &str, message: impl Into<Message>) -> Result<()> {
        let session = self.inner.find(sid)?;
        self.inner
            .send_packet(&session, &Outgoing::new(Packet::Message(message.into())))
    }

    /// Serializes `value` as JSON and sends it as a text message.
    ///
    /// # Errors
    /// As [`send`](Self::send), and [`ErrorKind::Json`](crate::ErrorKind::Json) if
    /// serialization fails.
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
        let session = self.inner.find(sid)?;
        self.inner.send_packet(&session, &Outgoing::new(packet))
    }

    /// Sends one message to every open session and returns how many it was sent to.
    ///
    /// The message is encoded once: polling sessions share one packet in their queues,
    /// WebSocket sessions one frame, written from the calling thread without waking a
    /// thread per recipient. A recipient that does not read never slows the others
    /// (see [`ServerBuilder::write_timeout`]).
    pub fn broadcast(&self, message: impl Into<Message>) -> usize {
        let out = Outgoing::new(Packet::Message(message.into()));
        // Sessions that are not open refuse the packet themselves (and are not counted).
        self.inner.send_to_all(&self.inner.table.all(), &out)
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
        let sessions: Vec<_> = sids
            .into_iter()
            .filter_map(|sid| self.inner.find(sid).ok())
            .collect();
        self.inner.send_to_all(&sessions, &out)
    }

    /// Closes one session with [`Reason::ServerDisconnect`] and returns at once. The
    /// client receives every message sent before, then a close packet (over as many
    /// long-polls as that takes, or on its next long-poll if none is waiting). The
    /// disconnect handler runs later, on another thread, never inside this call.
    ///
    /// # Errors
    /// [`ErrorKind::UnknownSession`](crate::ErrorKind::UnknownSession) if no open
    /// session has that id.
    pub fn disconnect(&self, sid: &str) -> Result<()> {
        let session = self.inner.find(sid)?;
        self.inner.close(&session, Reason::ServerDisconnect);
        Ok(())
    }

    /// Closes every session as [`disconnect`](Self::disconnect) does.
    pub fn disconnect_all(&self) {
        for s in self.inner.table.all() {
            self.inner.close(&s, Reason::ServerDisconnect);
        }
    }

    /// The transport a session uses now: polling until an upgrade completes.
    ///
    /// # Errors
    /// [`ErrorKind::UnknownSession`](crate::ErrorKind::UnknownSession) if no open
    /// session has that id.
    pub fn transport(&self, sid: &str) -> Result<Transport> {
        Ok(self.inner.find(sid)?.transport())
    }

    /// The protocol version a session speaks: v4, or v3 when the server allows it
    /// ([`ServerBuilder::allow_eio3`]).
    ///
    /// # Errors
    /// [`ErrorKind::UnknownSession`](crate::ErrorKind::UnknownSession) if no open
    /// session has that id.
    pub fn protocol(&self, sid: &str) -> Result<ProtocolVersion> {
        Ok(self.inner.find(sid)?.version)
    }

    /// How many outbound bytes wait for a session: messages queued for its next
    /// long-poll, or WebSocket frames its client has not read yet. A producer can
    /// pace itself with it (and stay under `max_buffered_bytes`).
    ///
    /// ```no_run
    /// # let server = engineio::server::Server::builder().build().unwrap();
    /// # let sid = "";
    /// # let chunks: Vec<Vec<u8>> = Vec::new();
    /// for chunk in chunks {
    ///     while server.buffered_bytes(sid)? > 1 << 20 {
    ///         std::thread::sleep(std::time::Duration::from_millis(10));
    ///     }
    ///     server.send(sid, chunk)?;
    /// }
    /// # Ok::<(), engineio::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::UnknownSession`](crate::ErrorKind::UnknownSession) if no session
    /// has that id, [`ErrorKind::SessionClosed`](crate::ErrorKind::SessionClosed) if it
    /// has closed.
    pub fn buffered_bytes(&self, sid: &str) -> Result<usize> {
        Ok(self.inner.find(sid)?.buffered_bytes())
    }

    /// The ids of the open sessions.
    pub fn sids(&self) -> Vec<Sid> {
        self.inner
            .table
            .open()
            .into_iter()
            .map(|s| s.sid.clone())
            .collect()
    }

    /// How many sessions are open.
    pub fn session_count(&self) -> usize {
        self.inner.table.open_count()
    }

    /// How many sessions the server still holds, closing ones included (those waiting
    /// to deliver a close packet, at most `close_timeout`, and those whose disconnect
    /// handler has not returned yet). Zero once every client has gone and every
    /// handler has run: a way to check that nothing leaks.
    pub fn table_size(&self) -> usize {
        self.inner.table.len()
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
    /// The data lives until the session's disconnect handler has returned (it can read
    /// it there), then it is dropped.
    ///
    /// # Errors
    /// [`ErrorKind::UnknownSession`](crate::ErrorKind::UnknownSession) if no session
    /// has that id (or its disconnect handler has run);
    /// [`ErrorKind::Reentrant`](crate::ErrorKind::Reentrant) if called from inside
    /// [`with_session`](Self::with_session) for the same session.
    pub fn set_session<T: Any + Send>(&self, sid: &str, value: T) -> Result<()> {
        self.inner.find_any(sid)?.data.set(Box::new(value))
    }

    /// Runs `f` on the session's user data of type `T` (created with `T::default()` if
    /// the session has none yet), atomically with respect to other calls: another
    /// thread's call for the same session waits for `f` to return. No lock of the
    /// server's is held while `f` runs.
    ///
    /// # Errors
    /// [`ErrorKind::UnknownSession`](crate::ErrorKind::UnknownSession) if no session
    /// has that id (or its disconnect handler has run);
    /// [`ErrorKind::WrongDataType`](crate::ErrorKind::WrongDataType) if the session
    /// holds data of another type; [`ErrorKind::Reentrant`](crate::ErrorKind::Reentrant)
    /// if called from inside `f` (or another `with_session`) for the same session.
    pub fn with_session<T: Any + Send + Default, R>(
        &self,
        sid: &str,
        f: impl FnOnce(&mut T) -> R,
    ) -> Result<R> {
        self.inner.find_any(sid)?.data.with(f)
    }

    /// A copy of the session's user data of type `T`, if it has some.
    ///
    /// # Errors
    /// As [`with_session`](Self::with_session).
    pub fn get_session<T: Any + Send + Clone>(&self, sid: &str) -> Result<Option<T>> {
        self.inner.find_any(sid)?.data.get()
    }

    /// Stops the server: stops accepting connections, closes every session with
    /// [`Reason::ServerDisconnect`] (pending long-polls get a close packet, WebSockets
    /// a close packet and close frame 1001), closes the connections, and joins the
    /// server's threads. Later calls wait for the first to finish.
    ///
    /// What it waits for, and for how long at most:
    /// - the accept thread(s): at once;
    /// - connection threads doing I/O: up to 2 s for a response being written, then
    ///   1 s after their sockets are shut down;
    /// - disconnect handlers: up to 5 s for them all to have run (they run on dispatch
    ///   threads, or on the connection thread of a session whose handler is busy);
    /// - the heartbeat and watchdog threads: at once;
    /// - in a cluster (feature `redis`), the publisher and subscriber threads: up to
    ///   3 s (the publisher first tells the other nodes that this one leaves, within
    ///   Redis's 2 s command timeout).
    ///
    /// Threads running the application's code are never waited for beyond these bounds:
    /// a connection whose thread runs a slow handler is closed under it, and the thread
    /// ends when the handler returns. Idle connection and dispatch threads end at once.
    ///
    /// Called from a handler, it does all of this without waiting (for handlers, or
    /// for connection threads) and returns promptly.
    pub fn shutdown(&self) {
        self.inner.shutdown()
    }

    /// Blocks until [`shutdown`](Self::shutdown) has completed. Do not call it from a
    /// handler unless another thread will shut the server down.
    pub fn wait(&self) {
        self.inner.wait_stopped()
    }

    /// Whether [`shutdown`](Self::shutdown) has begun.
    pub fn is_shut_down(&self) -> bool {
        !self.inner.is_running()
    }
}
