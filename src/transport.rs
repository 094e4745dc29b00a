//! The two Engine.IO transports, shared by the server and the client.

use std::fmt;

/// An Engine.IO transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// HTTP long-polling.
    Polling,
    /// WebSocket.
    WebSocket,
}

impl Transport {
    /// `"polling"` or `"websocket"`, as in the `transport` query parameter.
    ///
    /// ```
    /// assert_eq!(engineio::Transport::WebSocket.as_str(), "websocket");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Polling => "polling",
            Transport::WebSocket => "websocket",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
