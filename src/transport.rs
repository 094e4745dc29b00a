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

/// The one Packet ↔ WebSocket message mapping (W1–W4, V9 later), used by the server's
/// frame writer and reader and by the client.
#[cfg(any(feature = "server", feature = "client"))]
pub(crate) mod ws {
    use crate::packet::{Message, Packet};
    use crate::Result;

    /// What a packet becomes on a WebSocket: binary messages as binary frames of their
    /// raw bytes (unless `b64`, then `b`+base64 text), everything else as the packet's
    /// text form in a text frame (W2, W4).
    pub(crate) enum Frame<'a> {
        /// A text frame carrying the packet's text form ([`Packet::encode`]).
        Text,
        /// A binary frame carrying these bytes.
        Binary(&'a bytes::Bytes),
    }

    /// How `packet` travels on a WebSocket.
    pub(crate) fn frame_of(packet: &Packet, b64: bool) -> Frame<'_> {
        match packet {
            Packet::Message(Message::Binary(data)) if !b64 => Frame::Binary(data),
            _ => Frame::Text,
        }
    }

    /// `packet` as a tungstenite message.
    #[cfg_attr(not(feature = "client"), allow(dead_code))]
    pub(crate) fn to_message(packet: &Packet, b64: bool) -> tungstenite::Message {
        match frame_of(packet, b64) {
            Frame::Binary(data) => tungstenite::Message::Binary(data.clone()),
            Frame::Text => tungstenite::Message::text(packet.encode()),
        }
    }

    /// The packet a data message carries: a text frame is a packet's text form (a `b`
    /// text frame a base64 binary message, W3), a binary frame a binary message (W2).
    /// `None` for control frames (ping, pong, close), which are not Engine.IO packets.
    ///
    /// # Errors
    /// [`ErrorKind::Decode`](crate::ErrorKind::Decode) for a text frame that is not a packet.
    pub(crate) fn from_message(message: tungstenite::Message) -> Result<Option<Packet>> {
        match message {
            tungstenite::Message::Text(text) => Packet::decode(text.as_str()).map(Some),
            tungstenite::Message::Binary(data) => Ok(Some(Packet::Message(Message::Binary(data)))),
            _ => Ok(None),
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn binary_is_a_binary_frame_unless_b64() {
            let p = Packet::binary(vec![1u8, 2, 3]);
            assert!(
                matches!(to_message(&p, false), tungstenite::Message::Binary(b) if b[..] == [1, 2, 3])
            );
            assert!(
                matches!(to_message(&p, true), tungstenite::Message::Text(t) if t.as_str() == "bAQID")
            );
            assert!(
                matches!(to_message(&Packet::text("hi"), false), tungstenite::Message::Text(t) if t.as_str() == "4hi")
            );
        }

        #[test]
        fn messages_decode_to_packets() {
            let text = tungstenite::Message::text("4hi");
            assert_eq!(from_message(text).unwrap(), Some(Packet::text("hi")));
            let b64 = tungstenite::Message::text("bAQID");
            assert_eq!(
                from_message(b64).unwrap(),
                Some(Packet::binary(vec![1u8, 2, 3]))
            );
            let bin = tungstenite::Message::Binary(vec![7u8].into());
            assert_eq!(from_message(bin).unwrap(), Some(Packet::binary(vec![7u8])));
            assert!(from_message(tungstenite::Message::Ping(Default::default()))
                .unwrap()
                .is_none());
            assert!(from_message(tungstenite::Message::text("x")).is_err());
        }
    }
}
