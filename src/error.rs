//! The crate's one error type.

use std::fmt;
use std::io;

/// What went wrong, for callers that want to react to a particular failure.
///
/// The enum is `#[non_exhaustive]`: new kinds may appear in minor releases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Input that is not valid Engine.IO: a malformed packet or payload.
    /// The peer that sent it is misbehaving; its session is closed.
    Decode,
    /// The session id names no live session (never existed, closed or timed out).
    /// Nothing is wrong with the server; forget the sid.
    UnknownSession,
    /// The session is closing or closed; nothing more can be sent on it.
    SessionClosed,
    /// A configuration value was refused when the server or client was built.
    /// Fix the configuration; nothing was started.
    Config,
    /// An I/O error from the operating system (binding a port, a socket error).
    Io,
    /// The session's user data is of another type than the one asked for.
    WrongDataType,
    /// Encoding a value as JSON failed.
    Json,
    /// The server was shut down.
    Shutdown,
    /// A message the transport cannot carry (a text message containing U+001E on
    /// v4 polling, a message larger than the server's `maxPayload`, or a cluster
    /// message larger than the cluster's `ClusterConfig::max_message_bytes`).
    /// Nothing was sent; the session is unaffected.
    InvalidMessage,
    /// The client could not reach the server: the name did not resolve, the
    /// connection was refused or timed out, or the WebSocket handshake failed at the
    /// network level. Check the URL and that the server runs; retrying may help.
    Connect,
    /// The server answered the client's handshake, but not with an Engine.IO
    /// session: a non-2xx status (a connect handler's 401, a 400 for a bad query or
    /// path, …) or a body that is not an OPEN packet. [`Error::status`] and
    /// [`Error::body`] give the server's answer. Retrying the same request will fail
    /// the same way.
    Handshake,
    /// TLS failed: the server's certificate was not trusted (unknown root, wrong
    /// name, expired), the TLS handshake failed, or a certificate given to the
    /// client could not be read.
    Tls,
    /// The server did not answer within the client's request timeout, or a WebSocket
    /// write could not finish within it (the server stopped reading; the connection
    /// has then ended with `transport error`). Retrying may help once the network or
    /// the server has recovered.
    Timeout,
    /// The client is not connected (never connected, or the connection ended):
    /// nothing was sent. Connect again first.
    NotConnected,
    /// `connect` was called on a client that is already connected, connecting or
    /// disconnecting. Disconnect (or [`wait`](crate::client::Client::wait)) first.
    AlreadyConnected,
    /// The client's outgoing queue already holds its limit
    /// ([`max_buffered_bytes`](crate::client::ClientBuilder::max_buffered_bytes)); the
    /// message was not queued. Send again once the network has caught up.
    QueueFull,
    /// A call that needs a session's data was made from inside a
    /// [`with_session`](crate::server::Server::with_session) closure for the same
    /// session, which has the data borrowed. Nothing was done; use the closure's
    /// argument instead.
    Reentrant,
    /// [`connect`](crate::client::Client::connect) was interrupted by
    /// [`disconnect`](crate::client::Client::disconnect) or
    /// [`abort`](crate::client::Client::abort) from another thread. The client is
    /// disconnected and no session was kept; connect again if you still want one.
    Aborted,
    /// A cluster operation (`Server::cluster_broadcast` and the other `cluster_*`
    /// methods of the server, feature `redis`) cannot be carried out now:
    /// the node has no working connection to Redis (it reconnects by itself, with
    /// back-off), its outgoing cluster queue is full, or the server was built without
    /// a cluster. Nothing was sent, to this node's sessions or to others. Retry later,
    /// or fall back to the local methods (`Server::broadcast`, `Server::send`), which
    /// keep working without Redis.
    ClusterUnavailable,
}

impl ErrorKind {
    fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Decode => "malformed Engine.IO input",
            ErrorKind::UnknownSession => "unknown session id",
            ErrorKind::SessionClosed => "session closed",
            ErrorKind::Config => "invalid configuration",
            ErrorKind::Io => "I/O error",
            ErrorKind::WrongDataType => "session data has another type",
            ErrorKind::Json => "JSON error",
            ErrorKind::Shutdown => "server shut down",
            ErrorKind::InvalidMessage => "message cannot be sent on this transport",
            ErrorKind::Connect => "cannot connect",
            ErrorKind::Handshake => "handshake refused",
            ErrorKind::Tls => "TLS error",
            ErrorKind::Timeout => "timed out",
            ErrorKind::NotConnected => "not connected",
            ErrorKind::AlreadyConnected => "already connected",
            ErrorKind::QueueFull => "outgoing queue full",
            ErrorKind::Reentrant => "session data already in use by this thread",
            ErrorKind::Aborted => "connect aborted",
            ErrorKind::ClusterUnavailable => "cluster unavailable",
        }
    }
}

/// The error type of every fallible operation in this crate.
///
/// It is opaque: ask [`Error::kind`] what happened, and use `Display` for a message
/// meant for people. The source error (an [`io::Error`], a JSON error), if any, is
/// available through [`std::error::Error::source`].
///
/// ```
/// use engineio::{Error, ErrorKind};
///
/// let err = engineio::Packet::decode("9x").unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::Decode);
/// println!("{err}");
/// ```
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    message: Option<String>,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    /// The HTTP status and body of a refused handshake.
    response: Option<(u16, String)>,
}

impl Error {
    /// Creates an error of `kind` with a message saying what happened.
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            inner: Box::new(Inner {
                kind,
                message: Some(message.into()),
                source: None,
                response: None,
            }),
        }
    }

    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    pub(crate) fn from_kind(kind: ErrorKind) -> Error {
        Error {
            inner: Box::new(Inner {
                kind,
                message: None,
                source: None,
                response: None,
            }),
        }
    }

    /// Adds the error that caused this one (shown by `Display` and
    /// [`std::error::Error::source`]).
    #[cfg_attr(not(feature = "client"), allow(dead_code))]
    pub(crate) fn with_source(
        mut self,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Error {
        self.inner.source = Some(source.into());
        self
    }

    /// Adds the HTTP status and body the server answered with.
    #[cfg_attr(not(feature = "client"), allow(dead_code))]
    pub(crate) fn with_response(mut self, status: u16, body: String) -> Error {
        self.inner.response = Some((status, body));
        self
    }

    /// The kind of failure: what the caller may want to act on.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The HTTP status the server answered a client's handshake with, for errors of
    /// kind [`ErrorKind::Handshake`]: `401` when the server's connect handler refused
    /// the client, `400` for a bad request, `200` when the body was not an OPEN
    /// packet. `None` for other errors.
    ///
    /// ```
    /// use engineio::Error;
    ///
    /// fn explain(err: &Error) -> String {
    ///     match (err.status(), err.body()) {
    ///         (Some(401), Some(body)) => format!("refused by the server: {body}"),
    ///         (Some(status), _) => format!("server answered {status}"),
    ///         _ => err.to_string(),
    ///     }
    /// }
    /// # let _ = explain;
    /// ```
    pub fn status(&self) -> Option<u16> {
        self.inner.response.as_ref().map(|(status, _)| *status)
    }

    /// The body the server answered a client's handshake with (for errors of kind
    /// [`ErrorKind::Handshake`]), as text: usually JSON, such as
    /// `{"code":1,"message":"Session ID unknown"}` or a connect handler's rejection
    /// data (`"Unauthorized"`). Parse it with `serde_json` if you need the fields.
    /// `None` for other errors.
    pub fn body(&self) -> Option<&str> {
        self.inner.response.as_ref().map(|(_, body)| body.as_str())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.inner.kind.as_str())?;
        if let Some(m) = &self.inner.message {
            write!(f, ": {m}")?;
        }
        if let Some((status, body)) = &self.inner.response {
            write!(f, " (HTTP {status}")?;
            if !body.is_empty() {
                write!(f, ": {}", body.chars().take(200).collect::<String>())?;
            }
            f.write_str(")")?;
        }
        if let Some(s) = &self.inner.source {
            write!(f, ": {s}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.inner.kind);
        if let Some(m) = &self.inner.message {
            d.field("message", m);
        }
        if let Some(s) = &self.inner.source {
            d.field("source", s);
        }
        if let Some((status, body)) = &self.inner.response {
            d.field("status", status).field("body", body);
        }
        d.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_ref()
            .map(|s| &**s as &(dyn std::error::Error + 'static))
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error {
            inner: Box::new(Inner {
                kind: ErrorKind::Io,
                message: None,
                source: Some(Box::new(e)),
                response: None,
            }),
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Error {
        Error {
            inner: Box::new(Inner {
                kind: ErrorKind::Json,
                message: None,
                source: Some(Box::new(e)),
                response: None,
            }),
        }
    }
}

/// A `Result` whose error is this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_send_sync_and_small() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Error>();
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
    }

    #[test]
    fn display_includes_message_and_source() {
        let e = Error::new(ErrorKind::Config, "ping interval must be > 0");
        assert_eq!(
            e.to_string(),
            "invalid configuration: ping interval must be > 0"
        );
        let io = Error::from(io::Error::other("boom"));
        assert_eq!(io.kind(), ErrorKind::Io);
        assert!(io.to_string().contains("boom"));
        assert!(std::error::Error::source(&io).is_some());
    }
}
