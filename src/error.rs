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
    /// v4 polling). Nothing was sent; the session is unaffected.
    InvalidMessage,
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
}

impl Error {
    /// Creates an error of `kind` with a message saying what happened.
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            inner: Box::new(Inner {
                kind,
                message: Some(message.into()),
                source: None,
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
            }),
        }
    }

    /// The kind of failure: what the caller may want to act on.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.inner.kind.as_str())?;
        if let Some(m) = &self.inner.message {
            write!(f, ": {m}")?;
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
