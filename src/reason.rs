//! Why a session ended: one type for the server's disconnect handler and the client's
//! disconnect event.

use std::fmt;

/// Why a session ended: given to the server's disconnect handler, and to the client's
/// ([`client::Event::Disconnect`](crate::client::Event::Disconnect)). The strings are
/// python-engineio's.
///
/// Each side reports what it saw: a server that closes a session reports
/// [`ServerDisconnect`](Reason::ServerDisconnect), and its client, receiving the close,
/// reports [`ServerDisconnect`](Reason::ServerDisconnect) too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// The client closed the session: it sent a close packet (server side), or the
    /// application called [`Client::disconnect`](crate::client::Client::disconnect),
    /// [`Client::abort`](crate::client::Client::abort) or dropped the last handle
    /// (client side).
    ClientDisconnect,
    /// The server closed the session: the application, or a server shutdown (server
    /// side); a close packet, or a WebSocket closed with code 1000 or 1001, from the
    /// server (client side).
    ServerDisconnect,
    /// The heartbeat failed: the client did not answer a ping in time (server side),
    /// or no ping came within ping interval + ping timeout (client side).
    PingTimeout,
    /// The connection dropped without a close packet from either side.
    TransportClose,
    /// The transport failed: a write error or timeout, a dropped long-poll, a
    /// duplicate request, an oversized body or message, a protocol violation (server
    /// side); a failed request, a non-2xx answer, an undecodable body or message, a
    /// limit exceeded, a WebSocket closed with an error code (client side).
    TransportError,
    /// The client sent something that is not valid Engine.IO (server side only: the
    /// client reports what it cannot decode as
    /// [`TransportError`](Reason::TransportError)).
    ParseError,
}

impl Reason {
    /// The reason as python-engineio names it: `"client disconnect"`,
    /// `"server disconnect"`, `"ping timeout"`, `"transport close"`,
    /// `"transport error"`, `"parse error"`.
    ///
    /// ```
    /// assert_eq!(engineio::Reason::PingTimeout.as_str(), "ping timeout");
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
