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

/// The Engine.IO protocol revision a session speaks: the `EIO` query parameter.
///
/// A session's version is fixed at its handshake. Packets are the same in both; the
/// framing differs: v3 polling payloads are length-prefixed
/// ([`payload::v3`](crate::payload::v3)), v4 payloads are joined by `\x1e`
/// ([`payload`](crate::payload)); a v3 binary WebSocket frame starts with the type byte
/// `04`, a v4 one holds the bytes alone; and the heartbeat runs the other way.
///
/// ```
/// use engineio::ProtocolVersion;
///
/// assert_eq!(ProtocolVersion::from_eio("3"), Some(ProtocolVersion::V3));
/// assert_eq!(ProtocolVersion::V4.as_str(), "4");
/// assert_eq!(ProtocolVersion::V3.to_string(), "3");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ProtocolVersion {
    /// Engine.IO 3 (`EIO=3`): Socket.IO 2.x-era clients.
    V3,
    /// Engine.IO 4 (`EIO=4`): the current protocol, and the default.
    #[default]
    V4,
}

impl ProtocolVersion {
    /// The version named by an `EIO` query value: exactly `"3"` or `"4"`, nothing else
    /// (`"04"`, `" 4"`, `"4.0"` and `""` are `None`). Whether v3 is accepted is the
    /// server's decision, not this function's.
    ///
    /// ```
    /// use engineio::ProtocolVersion;
    ///
    /// assert_eq!(ProtocolVersion::from_eio("4"), Some(ProtocolVersion::V4));
    /// assert_eq!(ProtocolVersion::from_eio("04"), None);
    /// assert_eq!(ProtocolVersion::from_eio("5"), None);
    /// ```
    pub fn from_eio(value: &str) -> Option<ProtocolVersion> {
        match value {
            "3" => Some(ProtocolVersion::V3),
            "4" => Some(ProtocolVersion::V4),
            _ => None,
        }
    }

    /// `"3"` or `"4"`, as in the `EIO` query parameter.
    ///
    /// ```
    /// assert_eq!(engineio::ProtocolVersion::V3.as_str(), "3");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            ProtocolVersion::V3 => "3",
            ProtocolVersion::V4 => "4",
        }
    }
}

impl fmt::Display for ProtocolVersion {
    /// Writes [`ProtocolVersion::as_str`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The one Packet ↔ WebSocket message mapping (W1–W4, V9), for both protocol
/// versions, used by the server's frame writer and reader and by the client. The
/// `*_for` functions take the session's version; the others are their v4 cases.
#[cfg(any(feature = "server", feature = "client"))]
pub(crate) mod ws {
    use super::ProtocolVersion;
    use crate::packet::{Message, Packet};
    use crate::payload::v3;
    use crate::Result;

    /// What a packet becomes on a WebSocket of either version.
    pub(crate) enum VersionFrame<'a> {
        /// A text frame carrying the packet's text form in the session's version
        /// ([`text_into`], [`text_len`]): v4 writes a binary message as `b`+base64,
        /// v3 as `b4`+base64.
        Text,
        /// A binary frame carrying `prefix` then `data`: on v3 the prefix is the type
        /// byte `04` (V9), on v4 it is empty (W2).
        Binary {
            prefix: &'static [u8],
            data: &'a bytes::Bytes,
        },
    }

    /// How `packet` travels on a WebSocket of `version`: binary messages as binary
    /// frames unless `b64`, everything else as text.
    pub(crate) fn frame_for(
        packet: &Packet,
        b64: bool,
        version: ProtocolVersion,
    ) -> VersionFrame<'_> {
        match packet {
            Packet::Message(Message::Binary(data)) if !b64 => VersionFrame::Binary {
                prefix: match version {
                    ProtocolVersion::V3 => &[4],
                    ProtocolVersion::V4 => &[],
                },
                data,
            },
            _ => VersionFrame::Text,
        }
    }

    /// The length in bytes of the text frame [`text_into`] writes.
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    pub(crate) fn text_len(packet: &Packet, version: ProtocolVersion) -> usize {
        match version {
            ProtocolVersion::V3 => v3::encoded_packet_len(packet),
            ProtocolVersion::V4 => packet.encoded_len(),
        }
    }

    /// Appends the text frame's payload for `packet` on a WebSocket of `version`.
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    pub(crate) fn text_into(packet: &Packet, version: ProtocolVersion, out: &mut Vec<u8>) {
        match version {
            ProtocolVersion::V3 => v3::encode_packet_into(packet, out),
            ProtocolVersion::V4 => packet.encode_into(out),
        }
    }

    /// `packet` as a tungstenite message on a WebSocket of `version`.
    #[cfg_attr(not(feature = "client"), allow(dead_code))]
    pub(crate) fn to_message_for(
        packet: &Packet,
        b64: bool,
        version: ProtocolVersion,
    ) -> tungstenite::Message {
        match frame_for(packet, b64, version) {
            VersionFrame::Binary { prefix: [], data } => tungstenite::Message::Binary(data.clone()),
            VersionFrame::Binary { prefix, data } => {
                let mut frame = Vec::with_capacity(prefix.len() + data.len());
                frame.extend_from_slice(prefix);
                frame.extend_from_slice(data);
                tungstenite::Message::Binary(frame.into())
            }
            VersionFrame::Text => tungstenite::Message::text(match version {
                ProtocolVersion::V3 => v3::encode_packet(packet),
                ProtocolVersion::V4 => packet.encode(),
            }),
        }
    }

    /// The packet a data message carries on a WebSocket of `version`: a text frame is
    /// a packet's text form (a `b` text frame a base64 binary message, W3; `b4` on v3),
    /// a binary frame a binary message (W2; after its type byte `04` on v3, V9).
    /// `None` for control frames (ping, pong, close), which are not Engine.IO packets.
    ///
    /// # Errors
    /// [`ErrorKind::Decode`](crate::ErrorKind::Decode) for a text frame that is not a
    /// packet, and on v3 for a binary frame that is empty or whose type byte is not `04`.
    pub(crate) fn from_message_for(
        message: tungstenite::Message,
        version: ProtocolVersion,
    ) -> Result<Option<Packet>> {
        match (message, version) {
            (tungstenite::Message::Text(text), ProtocolVersion::V3) => {
                v3::decode_packet(text.as_str()).map(Some)
            }
            (tungstenite::Message::Text(text), ProtocolVersion::V4) => {
                Packet::decode(text.as_str()).map(Some)
            }
            (tungstenite::Message::Binary(data), ProtocolVersion::V3) => {
                v3::decode_binary_packet(data).map(Some)
            }
            (tungstenite::Message::Binary(data), ProtocolVersion::V4) => {
                Ok(Some(Packet::Message(Message::Binary(data))))
            }
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
                matches!(to_message_for(&p, false, ProtocolVersion::V4), tungstenite::Message::Binary(b) if b[..] == [1, 2, 3])
            );
            assert!(
                matches!(to_message_for(&p, true, ProtocolVersion::V4), tungstenite::Message::Text(t) if t.as_str() == "bAQID")
            );
            assert!(
                matches!(to_message_for(&Packet::text("hi"), false, ProtocolVersion::V4), tungstenite::Message::Text(t) if t.as_str() == "4hi")
            );
        }

        #[test]
        fn messages_decode_to_packets() {
            let text = tungstenite::Message::text("4hi");
            assert_eq!(
                from_message_for(text, ProtocolVersion::V4).unwrap(),
                Some(Packet::text("hi"))
            );
            let b64 = tungstenite::Message::text("bAQID");
            assert_eq!(
                from_message_for(b64, ProtocolVersion::V4).unwrap(),
                Some(Packet::binary(vec![1u8, 2, 3]))
            );
            let bin = tungstenite::Message::Binary(vec![7u8].into());
            assert_eq!(
                from_message_for(bin, ProtocolVersion::V4).unwrap(),
                Some(Packet::binary(vec![7u8]))
            );
            let ping = tungstenite::Message::Ping(Default::default());
            assert!(from_message_for(ping, ProtocolVersion::V4)
                .unwrap()
                .is_none());
            assert!(
                from_message_for(tungstenite::Message::text("x"), ProtocolVersion::V4).is_err()
            );
        }

        /// V9: text frames as in v4 but binary as `b4`+base64; binary frames carry the
        /// type byte first.
        #[test]
        fn v3_binary_frames_carry_the_type_byte() {
            let v3 = ProtocolVersion::V3;
            let p = Packet::binary(vec![1u8, 2, 3, 4]);
            assert!(matches!(
                frame_for(&p, false, v3),
                VersionFrame::Binary { prefix: [4], data } if data[..] == [1, 2, 3, 4]
            ));
            assert!(
                matches!(to_message_for(&p, false, v3), tungstenite::Message::Binary(b) if b[..] == [4, 1, 2, 3, 4])
            );
            assert!(
                matches!(to_message_for(&p, true, v3), tungstenite::Message::Text(t) if t.as_str() == "b4AQIDBA==")
            );
            assert!(
                matches!(to_message_for(&Packet::binary(vec![]), false, v3), tungstenite::Message::Binary(b) if b[..] == [4])
            );
            assert!(
                matches!(to_message_for(&Packet::text("hi"), false, v3), tungstenite::Message::Text(t) if t.as_str() == "4hi")
            );
            let frame = tungstenite::Message::Binary(vec![4u8, 1, 2, 3, 4].into());
            assert_eq!(from_message_for(frame, v3).unwrap(), Some(p.clone()));
            let text = tungstenite::Message::text("b4AQIDBA==");
            assert_eq!(from_message_for(text, v3).unwrap(), Some(p));
            let text = tungstenite::Message::text("2probe");
            assert_eq!(
                from_message_for(text, v3).unwrap(),
                Some(Packet::Ping("probe".into()))
            );
            assert!(
                from_message_for(tungstenite::Message::Pong(Default::default()), v3)
                    .unwrap()
                    .is_none()
            );
            for bad in [&[][..], &[2, 1], &[7], &[b'4', 1]] {
                let frame = tungstenite::Message::Binary(bad.to_vec().into());
                assert!(from_message_for(frame, v3).is_err(), "{bad:?}");
            }
            for bad in ["bAQID", "b", "b2AQID", "", "9"] {
                let frame = tungstenite::Message::text(bad);
                assert!(from_message_for(frame, v3).is_err(), "{bad:?}");
            }
        }

        /// The v4 wrappers are the v4 case of the versioned mapping.
        #[test]
        fn v4_is_the_versioned_mapping_at_v4() {
            let v4 = ProtocolVersion::V4;
            let p = Packet::binary(vec![1u8, 2, 3]);
            assert!(matches!(
                frame_for(&p, false, v4),
                VersionFrame::Binary { prefix: [], .. }
            ));
            assert!(matches!(frame_for(&p, true, v4), VersionFrame::Text));
            assert!(matches!(
                frame_for(&Packet::Noop, false, v4),
                VersionFrame::Text
            ));
            let frame = tungstenite::Message::Binary(vec![4u8, 1].into());
            assert_eq!(
                from_message_for(frame, v4).unwrap(),
                Some(Packet::binary(vec![4u8, 1]))
            );
            assert!(from_message_for(tungstenite::Message::text("b4AQID"), v4).is_err());
        }

        #[test]
        fn text_forms_by_version() {
            let packets = [
                Packet::binary(vec![1u8, 2, 3, 4]),
                Packet::text("hé"),
                Packet::Pong("probe".into()),
            ];
            for version in [ProtocolVersion::V3, ProtocolVersion::V4] {
                for packet in &packets {
                    let mut out = Vec::new();
                    text_into(packet, version, &mut out);
                    assert_eq!(out.len(), text_len(packet, version));
                    let tungstenite::Message::Text(text) = to_message_for(packet, true, version)
                    else {
                        panic!("not a text frame");
                    };
                    assert_eq!(text.as_bytes(), &out[..]);
                    let back = from_message_for(tungstenite::Message::Text(text), version);
                    assert_eq!(back.unwrap().as_ref(), Some(packet));
                }
            }
        }

        proptest::proptest! {
            #[test]
            fn prop_frames_round_trip(
                packet in crate::packet::tests::any_packet(true),
                b64 in proptest::prelude::any::<bool>(),
                v3 in proptest::prelude::any::<bool>(),
            ) {
                let version = if v3 { ProtocolVersion::V3 } else { ProtocolVersion::V4 };
                let message = to_message_for(&packet, b64, version);
                proptest::prop_assert_eq!(from_message_for(message, version).unwrap(), Some(packet));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// E-a: only the exact strings `3` and `4` name a version.
    #[test]
    fn protocol_version_from_eio() {
        assert_eq!(ProtocolVersion::from_eio("3"), Some(ProtocolVersion::V3));
        assert_eq!(ProtocolVersion::from_eio("4"), Some(ProtocolVersion::V4));
        for bad in ["", "04", "4.0", " 4", "4 ", "5", "2", "abc", "３", "+4"] {
            assert_eq!(ProtocolVersion::from_eio(bad), None, "{bad:?}");
        }
        for version in [ProtocolVersion::V3, ProtocolVersion::V4] {
            assert_eq!(ProtocolVersion::from_eio(version.as_str()), Some(version));
            assert_eq!(version.to_string(), version.as_str());
        }
        assert_eq!(ProtocolVersion::default(), ProtocolVersion::V4);
        assert!(ProtocolVersion::V3 < ProtocolVersion::V4);
    }
}
