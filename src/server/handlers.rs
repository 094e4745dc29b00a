//! The application's handlers, what they are given, and the connect handler's
//! refusal.

use std::fmt;

use super::{Message, Request, Server, Sid};

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
    pub(crate) data: serde_json::Value,
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

pub(crate) type ConnectHandler =
    dyn Fn(&Server, &Sid, &Request) -> Result<(), Rejection> + Send + Sync;
pub(crate) type MessageHandler = dyn Fn(&Server, &Sid, Message) + Send + Sync;
pub(crate) type DisconnectHandler = dyn Fn(&Server, &Sid, Reason) + Send + Sync;

#[derive(Default)]
pub(crate) struct Handlers {
    pub connect: Option<Box<ConnectHandler>>,
    pub message: Option<Box<MessageHandler>>,
    pub disconnect: Option<Box<DisconnectHandler>>,
}
