//! Engine.IO packets and their text form.
//!
//! A packet is one type digit followed by its data, as UTF-8 text: `4hello` is the
//! message `hello`, `2` a ping, `3probe` the pong answering an upgrade probe, `6` a noop.
//! A binary message has no digit of its own in the text form: it is `b` followed by
//! its bytes in padded standard base64, so `bAQIDBA==` is the message `01 02 03 04`.
//!
//! | packet | digit | data |
//! |---|---|---|
//! | [`Packet::Open`] | `0` | the handshake JSON ([`Handshake`]) |
//! | [`Packet::Close`] | `1` | none (ignored when decoding) |
//! | [`Packet::Ping`] | `2` | optional text, e.g. `probe` |
//! | [`Packet::Pong`] | `3` | the data of the ping it answers |
//! | [`Packet::Message`] | `4` or `b` | text, or base64 binary after `b` |
//! | [`Packet::Upgrade`] | `5` | none (ignored when decoding) |
//! | [`Packet::Noop`] | `6` | none (ignored when decoding) |
//!
//! Only message packets carry binary data, and the types say so: there is no way to
//! build a ping with bytes in it. Message text is kept verbatim: `4true` is the text
//! `true`, never a JSON boolean.
//!
//! Over WebSocket a binary message travels as a binary frame holding the raw bytes
//! (no type byte); that frame becomes a packet through [`Packet::binary`]. Text frames,
//! polling payload segments and everything else use [`Packet::decode`].
//!
//! The codec is pure: no I/O, no clocks, and no input makes it panic.
//!
//! ```
//! use engineio::packet::{Message, Packet};
//!
//! let packet = Packet::decode("4hello")?;
//! assert_eq!(packet, Packet::Message(Message::Text("hello".into())));
//! assert_eq!(Packet::binary(vec![1, 2, 3, 4]).encode(), "bAQIDBA==");
//! # Ok::<(), engineio::Error>(())
//! ```

use std::fmt;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine as _};
use bytes::Bytes;
use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};

/// Standard alphabet that decodes padded and unpadded input alike; encoding uses the
/// padded [`STANDARD`] engine. Shared with the v3 codec.
pub(crate) const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

fn decode_error(message: &str) -> Error {
    Error::new(ErrorKind::Decode, message)
}

/// Length of padded standard base64 for `n` bytes.
fn base64_len(n: usize) -> usize {
    // A slice is at most isize::MAX bytes long, so neither step overflows.
    n.div_ceil(3) * 4
}

/// Application data carried by a message packet: text or binary.
///
/// Build one with `From`: `&str` and `String` make text; `Vec<u8>`, `&[u8]` and
/// [`Bytes`] make binary.
///
/// ```
/// use engineio::packet::Message;
///
/// let text = Message::from("hi");
/// let binary = Message::from(vec![1u8, 2, 3]);
/// assert_eq!(text.as_text(), Some("hi"));
/// assert_eq!(binary.as_binary(), Some(&[1u8, 2, 3][..]));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Message {
    /// A text message (`4…` in the text form, a text frame over WebSocket).
    Text(String),
    /// A binary message (`b…` base64 in the text form, a binary frame over WebSocket).
    Binary(Bytes),
}

impl Message {
    /// The text of a text message; `None` for a binary one.
    ///
    /// ```
    /// use engineio::packet::Message;
    ///
    /// assert_eq!(Message::from("hi").as_text(), Some("hi"));
    /// assert_eq!(Message::from(vec![1u8]).as_text(), None);
    /// ```
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Message::Text(text) => Some(text),
            Message::Binary(_) => None,
        }
    }

    /// The bytes of a binary message; `None` for a text one.
    ///
    /// ```
    /// use engineio::packet::Message;
    ///
    /// assert_eq!(Message::from(vec![1u8, 2]).as_binary(), Some(&[1u8, 2][..]));
    /// assert_eq!(Message::from("hi").as_binary(), None);
    /// ```
    pub fn as_binary(&self) -> Option<&[u8]> {
        match self {
            Message::Text(_) => None,
            Message::Binary(data) => Some(data),
        }
    }

    /// The message's data as bytes, whatever its kind (text as UTF-8).
    ///
    /// ```
    /// use engineio::packet::Message;
    ///
    /// assert_eq!(Message::from("hi").as_bytes(), b"hi");
    /// assert_eq!(Message::from(vec![7u8]).as_bytes(), &[7u8]);
    /// ```
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Message::Text(text) => text.as_bytes(),
            Message::Binary(data) => data,
        }
    }

    /// Whether this is a text message.
    ///
    /// ```
    /// use engineio::packet::Message;
    ///
    /// assert!(Message::from("hi").is_text());
    /// assert!(!Message::from(vec![1u8]).is_text());
    /// ```
    pub fn is_text(&self) -> bool {
        matches!(self, Message::Text(_))
    }

    /// Whether this is a binary message.
    ///
    /// ```
    /// use engineio::packet::Message;
    ///
    /// assert!(Message::from(vec![1u8]).is_binary());
    /// assert!(!Message::from("hi").is_binary());
    /// ```
    pub fn is_binary(&self) -> bool {
        matches!(self, Message::Binary(_))
    }

    /// The length of the data in bytes (UTF-8 bytes for text), not of its encoded form.
    ///
    /// ```
    /// use engineio::packet::Message;
    ///
    /// assert_eq!(Message::from("€").len(), 3);
    /// assert_eq!(Message::from(vec![1u8, 2, 3, 4]).len(), 4);
    /// ```
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the message has no data. Empty messages are valid (`4` and `b`).
    ///
    /// ```
    /// use engineio::packet::Message;
    ///
    /// assert!(Message::from("").is_empty());
    /// assert!(!Message::from("x").is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<&str> for Message {
    fn from(text: &str) -> Message {
        Message::Text(text.to_owned())
    }
}

impl From<String> for Message {
    fn from(text: String) -> Message {
        Message::Text(text)
    }
}

impl From<Vec<u8>> for Message {
    fn from(data: Vec<u8>) -> Message {
        Message::Binary(Bytes::from(data))
    }
}

impl From<&[u8]> for Message {
    fn from(data: &[u8]) -> Message {
        Message::Binary(Bytes::copy_from_slice(data))
    }
}

impl From<Bytes> for Message {
    fn from(data: Bytes) -> Message {
        Message::Binary(data)
    }
}

/// The seven packet types of Engine.IO v4, without their data.
///
/// ```
/// use engineio::packet::PacketType;
///
/// assert_eq!(PacketType::Message.digit(), b'4');
/// assert_eq!(PacketType::from_digit(b'2'), Some(PacketType::Ping));
/// assert_eq!(PacketType::Noop.to_string(), "noop");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// `0`: the handshake, server to client.
    Open,
    /// `1`: ends the session, either way.
    Close,
    /// `2`: heartbeat (server to client) or upgrade probe (`2probe`, client to server).
    Ping,
    /// `3`: heartbeat reply, or probe reply (`3probe`).
    Pong,
    /// `4` (or `b` for binary in the text form): application data.
    Message,
    /// `5`: completes an upgrade to WebSocket, client to server.
    Upgrade,
    /// `6`: does nothing; ends a pending polling request.
    Noop,
}

impl PacketType {
    /// The ASCII digit of this type in the text form, `b'0'` to `b'6'`.
    ///
    /// A binary message is written with `b` instead, but its type is still `Message`.
    ///
    /// ```
    /// use engineio::packet::PacketType;
    ///
    /// assert_eq!(PacketType::Open.digit(), b'0');
    /// assert_eq!(PacketType::Noop.digit(), b'6');
    /// ```
    pub fn digit(self) -> u8 {
        match self {
            PacketType::Open => b'0',
            PacketType::Close => b'1',
            PacketType::Ping => b'2',
            PacketType::Pong => b'3',
            PacketType::Message => b'4',
            PacketType::Upgrade => b'5',
            PacketType::Noop => b'6',
        }
    }

    /// The type whose ASCII digit is `digit`; `None` for anything but `b'0'` to `b'6'`.
    ///
    /// ```
    /// use engineio::packet::PacketType;
    ///
    /// assert_eq!(PacketType::from_digit(b'5'), Some(PacketType::Upgrade));
    /// assert_eq!(PacketType::from_digit(b'7'), None);
    /// assert_eq!(PacketType::from_digit(5), None);
    /// ```
    pub fn from_digit(digit: u8) -> Option<PacketType> {
        match digit {
            b'0' => Some(PacketType::Open),
            b'1' => Some(PacketType::Close),
            b'2' => Some(PacketType::Ping),
            b'3' => Some(PacketType::Pong),
            b'4' => Some(PacketType::Message),
            b'5' => Some(PacketType::Upgrade),
            b'6' => Some(PacketType::Noop),
            _ => None,
        }
    }

    /// The protocol's lower-case name of this type (`"open"`, `"ping"`, …), for logs.
    ///
    /// ```
    /// use engineio::packet::PacketType;
    ///
    /// assert_eq!(PacketType::Upgrade.name(), "upgrade");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            PacketType::Open => "open",
            PacketType::Close => "close",
            PacketType::Ping => "ping",
            PacketType::Pong => "pong",
            PacketType::Message => "message",
            PacketType::Upgrade => "upgrade",
            PacketType::Noop => "noop",
        }
    }
}

impl fmt::Display for PacketType {
    /// Writes [`PacketType::name`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One Engine.IO packet with its data.
///
/// ```
/// use engineio::packet::{Packet, PacketType};
///
/// let probe = Packet::decode("2probe")?;
/// assert_eq!(probe, Packet::Ping("probe".into()));
/// assert_eq!(probe.packet_type(), PacketType::Ping);
/// assert_eq!(probe.ping_reply().unwrap().encode(), "3probe");
/// # Ok::<(), engineio::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Packet {
    /// `0`: the handshake; holds its JSON text (see [`Handshake`]).
    Open(String),
    /// `1`: ends the session.
    Close,
    /// `2`: a ping with its data, usually empty; `probe` for an upgrade probe.
    Ping(String),
    /// `3`: a pong, carrying the data of the ping it answers.
    Pong(String),
    /// `4` or `b`: application data.
    Message(Message),
    /// `5`: completes an upgrade.
    Upgrade,
    /// `6`: does nothing.
    Noop,
}

impl Packet {
    /// A text message packet.
    ///
    /// ```
    /// use engineio::packet::Packet;
    ///
    /// assert_eq!(Packet::text("hello").encode(), "4hello");
    /// ```
    pub fn text(text: impl Into<String>) -> Packet {
        Packet::Message(Message::Text(text.into()))
    }

    /// A binary message packet. This is also what a v4 binary WebSocket frame is:
    /// the frame's raw bytes, with no type byte.
    ///
    /// ```
    /// use engineio::packet::Packet;
    ///
    /// assert_eq!(Packet::binary(vec![1, 2, 3, 4]).encode(), "bAQIDBA==");
    /// assert_eq!(Packet::binary(&b""[..]).encode(), "b");
    /// ```
    pub fn binary(data: impl Into<Bytes>) -> Packet {
        Packet::Message(Message::Binary(data.into()))
    }

    /// The type of this packet.
    ///
    /// ```
    /// use engineio::packet::{Packet, PacketType};
    ///
    /// assert_eq!(Packet::binary(vec![1]).packet_type(), PacketType::Message);
    /// assert_eq!(Packet::Close.packet_type(), PacketType::Close);
    /// ```
    pub fn packet_type(&self) -> PacketType {
        match self {
            Packet::Open(_) => PacketType::Open,
            Packet::Close => PacketType::Close,
            Packet::Ping(_) => PacketType::Ping,
            Packet::Pong(_) => PacketType::Pong,
            Packet::Message(_) => PacketType::Message,
            Packet::Upgrade => PacketType::Upgrade,
            Packet::Noop => PacketType::Noop,
        }
    }

    /// The pong answering this packet if it is a ping: same data, so `2probe` is
    /// answered by `3probe`. `None` for any other packet.
    ///
    /// ```
    /// use engineio::packet::Packet;
    ///
    /// assert_eq!(Packet::Ping("probe".into()).ping_reply(), Some(Packet::Pong("probe".into())));
    /// assert_eq!(Packet::Noop.ping_reply(), None);
    /// ```
    pub fn ping_reply(&self) -> Option<Packet> {
        match self {
            Packet::Ping(data) => Some(Packet::Pong(data.clone())),
            _ => None,
        }
    }

    /// Decodes the text form of one packet.
    ///
    /// The first character is the type digit `0`–`6`, or `b` for a base64 binary
    /// message (padded or not). The rest is the data: message text is kept verbatim,
    /// and data after `1`, `5` and `6` is ignored (`52` is an upgrade).
    ///
    /// # Errors
    ///
    /// An error of kind [`ErrorKind::Decode`] for an empty string, a first character
    /// other than `0`–`6` or `b`, or invalid base64 after `b`. The peer that sent it
    /// is misbehaving.
    ///
    /// ```
    /// use engineio::packet::{Packet, PacketType};
    /// use engineio::ErrorKind;
    ///
    /// assert_eq!(Packet::decode("4true")?, Packet::text("true"));
    /// assert_eq!(Packet::decode("bAQIDBA==")?, Packet::binary(vec![1, 2, 3, 4]));
    /// assert_eq!(Packet::decode("52")?, Packet::Upgrade);
    /// assert_eq!(Packet::decode("9x").unwrap_err().kind(), ErrorKind::Decode);
    /// # Ok::<(), engineio::Error>(())
    /// ```
    pub fn decode(text: &str) -> Result<Packet> {
        let mut chars = text.chars();
        let first = chars.next().ok_or_else(|| decode_error("empty packet"))?;
        let data = chars.as_str();
        let packet = match first {
            '0' => Packet::Open(data.to_owned()),
            '1' => Packet::Close,
            '2' => Packet::Ping(data.to_owned()),
            '3' => Packet::Pong(data.to_owned()),
            '4' => Packet::text(data),
            '5' => Packet::Upgrade,
            '6' => Packet::Noop,
            'b' => {
                let bytes = LENIENT_BASE64
                    .decode(data)
                    .map_err(|_| decode_error("invalid base64 in binary message"))?;
                Packet::binary(bytes)
            }
            _ => return Err(decode_error("unknown packet type")),
        };
        Ok(packet)
    }

    /// Decodes the text form of one packet from bytes, checking that they are UTF-8.
    ///
    /// # Errors
    ///
    /// An error of kind [`ErrorKind::Decode`] for invalid UTF-8, and for everything
    /// [`Packet::decode`] rejects.
    ///
    /// ```
    /// use engineio::packet::Packet;
    /// use engineio::ErrorKind;
    ///
    /// assert_eq!(Packet::decode_bytes(b"3probe")?, Packet::Pong("probe".into()));
    /// assert_eq!(Packet::decode_bytes(b"4\xff").unwrap_err().kind(), ErrorKind::Decode);
    /// # Ok::<(), engineio::Error>(())
    /// ```
    pub fn decode_bytes(bytes: &[u8]) -> Result<Packet> {
        let text =
            std::str::from_utf8(bytes).map_err(|_| decode_error("packet is not valid UTF-8"))?;
        Packet::decode(text)
    }

    /// The text form of this packet: type digit and data, or `b` and padded standard
    /// base64 for a binary message.
    ///
    /// ```
    /// use engineio::packet::Packet;
    ///
    /// assert_eq!(Packet::Ping(String::new()).encode(), "2");
    /// assert_eq!(Packet::text("héllo €").encode(), "4héllo €");
    /// assert_eq!(Packet::binary(vec![1, 2, 3, 4]).encode(), "bAQIDBA==");
    /// ```
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(self.encoded_len());
        match self {
            Packet::Message(Message::Binary(data)) => {
                out.push('b');
                STANDARD.encode_string(data, &mut out);
            }
            _ => {
                out.push(char::from(self.packet_type().digit()));
                out.push_str(self.text_data());
            }
        }
        out
    }

    /// Appends the text form of this packet (as [`Packet::encode`] writes it) to `out`.
    ///
    /// ```
    /// use engineio::packet::Packet;
    ///
    /// let mut out = b"x".to_vec();
    /// Packet::text("hi").encode_into(&mut out);
    /// assert_eq!(out, b"x4hi");
    /// ```
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Packet::Message(Message::Binary(data)) => {
                out.push(b'b');
                let start = out.len();
                out.resize(start + base64_len(data.len()), 0);
                // The buffer is sized exactly, so this cannot fail; if it somehow did,
                // drop the partial output rather than panic.
                let written = STANDARD.encode_slice(data, &mut out[start..]).unwrap_or(0);
                out.truncate(start + written);
            }
            _ => {
                out.push(self.packet_type().digit());
                out.extend_from_slice(self.text_data().as_bytes());
            }
        }
    }

    /// The exact length in bytes of the text form, computed without encoding.
    ///
    /// ```
    /// use engineio::packet::Packet;
    ///
    /// assert_eq!(Packet::text("€").encoded_len(), 4);
    /// assert_eq!(Packet::binary(vec![1, 2, 3, 4]).encoded_len(), "bAQIDBA==".len());
    /// ```
    pub fn encoded_len(&self) -> usize {
        match self {
            Packet::Message(Message::Binary(data)) => 1 + base64_len(data.len()),
            _ => 1 + self.text_data().len(),
        }
    }

    /// The data written after the type digit; empty for packets without data.
    /// Binary messages have no text data (they are handled apart).
    fn text_data(&self) -> &str {
        match self {
            Packet::Open(data) | Packet::Ping(data) | Packet::Pong(data) => data,
            Packet::Message(Message::Text(text)) => text,
            Packet::Message(Message::Binary(_))
            | Packet::Close
            | Packet::Upgrade
            | Packet::Noop => "",
        }
    }
}

impl From<Message> for Packet {
    fn from(message: Message) -> Packet {
        Packet::Message(message)
    }
}

/// The data of the OPEN packet: what the server tells a new client.
///
/// Durations are in milliseconds, `max_payload` in bytes.
///
/// ```
/// use engineio::packet::{Handshake, Packet};
///
/// let handshake = Handshake {
///     sid: "abc".into(),
///     upgrades: vec!["websocket".into()],
///     ping_interval: 25000,
///     ping_timeout: 20000,
///     max_payload: 1000000,
/// };
/// let open = handshake.to_packet();
/// assert_eq!(
///     open.encode(),
///     r#"0{"sid":"abc","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#,
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Handshake {
    /// The session id.
    pub sid: String,
    /// Transports the client may upgrade to: `["websocket"]` or none.
    pub upgrades: Vec<String>,
    /// Milliseconds between the server's pings.
    pub ping_interval: u64,
    /// Milliseconds the server waits for a pong before giving the client up.
    pub ping_timeout: u64,
    /// Largest payload the server accepts, in bytes; 0 when the server did not say.
    pub max_payload: u64,
}

impl Handshake {
    /// The handshake as compact JSON with exactly the keys `sid`, `upgrades`,
    /// `pingInterval`, `pingTimeout` and `maxPayload`, in that order.
    ///
    /// ```
    /// use engineio::packet::Handshake;
    ///
    /// let handshake = Handshake {
    ///     sid: "a\"b".into(),
    ///     upgrades: vec![],
    ///     ping_interval: 300,
    ///     ping_timeout: 200,
    ///     max_payload: 100,
    /// };
    /// assert_eq!(
    ///     handshake.to_json(),
    ///     r#"{"sid":"a\"b","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":100}"#,
    /// );
    /// ```
    pub fn to_json(&self) -> String {
        // Written by hand because a JSON map would not keep the key order.
        let mut json = String::with_capacity(96 + self.sid.len());
        json.push_str("{\"sid\":");
        push_json_string(&mut json, &self.sid);
        json.push_str(",\"upgrades\":[");
        for (i, upgrade) in self.upgrades.iter().enumerate() {
            if i > 0 {
                json.push(',');
            }
            push_json_string(&mut json, upgrade);
        }
        json.push_str("],\"pingInterval\":");
        json.push_str(&self.ping_interval.to_string());
        json.push_str(",\"pingTimeout\":");
        json.push_str(&self.ping_timeout.to_string());
        json.push_str(",\"maxPayload\":");
        json.push_str(&self.max_payload.to_string());
        json.push('}');
        json
    }

    /// The OPEN packet carrying this handshake.
    ///
    /// ```
    /// use engineio::packet::{Handshake, Packet};
    ///
    /// let handshake = Handshake {
    ///     sid: "abc".into(),
    ///     upgrades: vec![],
    ///     ping_interval: 1,
    ///     ping_timeout: 2,
    ///     max_payload: 3,
    /// };
    /// assert_eq!(handshake.to_packet(), Packet::Open(handshake.to_json()));
    /// ```
    pub fn to_packet(&self) -> Packet {
        Packet::Open(self.to_json())
    }

    /// Reads the handshake JSON of an OPEN packet, as a client does.
    ///
    /// `sid` (a non-empty string), `pingInterval` and `pingTimeout` are required.
    /// Numbers may also be sent as strings (`"25000"`); a missing or null
    /// `maxPayload` reads as 0 (unknown); a missing `upgrades` as none; other keys are
    /// ignored.
    ///
    /// # Errors
    ///
    /// An error of kind [`ErrorKind::Decode`] when the text is not a JSON object, or a
    /// required key is missing or has the wrong type. The server is misbehaving.
    ///
    /// ```
    /// use engineio::packet::Handshake;
    ///
    /// let handshake = Handshake::from_json(
    ///     r#"{"sid":"abc","upgrades":["websocket"],"pingInterval":"25000","pingTimeout":20000,"extra":true}"#,
    /// )?;
    /// assert_eq!(handshake.sid, "abc");
    /// assert_eq!(handshake.ping_interval, 25000);
    /// assert_eq!(handshake.max_payload, 0);
    /// assert!(Handshake::from_json(r#"{"pingInterval":1,"pingTimeout":1}"#).is_err());
    /// # Ok::<(), engineio::Error>(())
    /// ```
    pub fn from_json(json: &str) -> Result<Handshake> {
        let value: Value =
            serde_json::from_str(json).map_err(|_| decode_error("handshake is not valid JSON"))?;
        let object = value
            .as_object()
            .ok_or_else(|| decode_error("handshake is not a JSON object"))?;
        let sid = match object.get("sid") {
            Some(Value::String(sid)) if !sid.is_empty() => sid.clone(),
            _ => return Err(decode_error("handshake has no sid")),
        };
        let upgrades = match object.get("upgrades") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(name) => Ok(name.clone()),
                    _ => Err(decode_error("handshake upgrades are not strings")),
                })
                .collect::<Result<Vec<String>>>()?,
            Some(_) => return Err(decode_error("handshake upgrades is not a list")),
        };
        let number = |key: &str, required: bool| -> Result<u64> {
            match (object.get(key), required) {
                (None | Some(Value::Null), false) => Ok(0),
                (None | Some(Value::Null), true) => {
                    Err(decode_error(&format!("handshake has no {key}")))
                }
                (Some(value), _) => json_u64(value)
                    .ok_or_else(|| decode_error(&format!("handshake {key} is not a number"))),
            }
        };
        Ok(Handshake {
            sid,
            upgrades,
            ping_interval: number("pingInterval", true)?,
            ping_timeout: number("pingTimeout", true)?,
            max_payload: number("maxPayload", false)?,
        })
    }
}

/// Appends `text` as a JSON string literal, quoted and escaped.
fn push_json_string(out: &mut String, text: &str) {
    out.push_str(&Value::from(text).to_string());
}

/// A non-negative whole number from a JSON number or a string holding one.
/// Fractions are truncated; negative, non-finite and other values give `None`.
fn json_u64(value: &Value) -> Option<u64> {
    match value {
        Value::Number(number) => number.as_u64().or_else(|| float_u64(number.as_f64()?)),
        Value::String(text) => {
            let text = text.trim();
            text.parse::<u64>()
                .ok()
                .or_else(|| float_u64(text.parse::<f64>().ok()?))
        }
        _ => None,
    }
}

fn float_u64(value: f64) -> Option<u64> {
    // `as` saturates at u64::MAX, which is as good as "forever" for these fields.
    (value.is_finite() && value >= 0.0).then_some(value as u64)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_fails(input: &str) {
        let err = Packet::decode(input).expect_err(input);
        assert_eq!(err.kind(), ErrorKind::Decode, "{input:?}");
    }

    fn round_trip(packet: Packet, text: &str) {
        assert_eq!(packet.encode(), text);
        assert_eq!(packet.encoded_len(), text.len());
        let mut out = Vec::new();
        packet.encode_into(&mut out);
        assert_eq!(out, text.as_bytes());
        assert_eq!(Packet::decode(text).unwrap(), packet);
        assert_eq!(Packet::decode_bytes(text.as_bytes()).unwrap(), packet);
    }

    /// Item 1 (K1): each type is its digit plus data; `6` alone is a noop.
    #[test]
    fn k1_each_type_encodes_as_digit_plus_data() {
        round_trip(Packet::Open("{}".into()), "0{}");
        round_trip(Packet::Close, "1");
        round_trip(Packet::Ping(String::new()), "2");
        round_trip(Packet::Pong(String::new()), "3");
        round_trip(Packet::text("hello"), "4hello");
        round_trip(Packet::Upgrade, "5");
        round_trip(Packet::Noop, "6");
        for digit in b'0'..=b'6' {
            let kind = PacketType::from_digit(digit).unwrap();
            assert_eq!(kind.digit(), digit);
            let packet = Packet::decode_bytes(&[digit]).unwrap();
            assert_eq!(packet.packet_type(), kind);
        }
        assert_eq!(PacketType::from_digit(b'7'), None);
        assert_eq!(PacketType::from_digit(b'b'), None);
    }

    /// Item 2: text `hello` ⇔ `4hello`; empty text ⇔ `4`.
    #[test]
    fn text_message_and_empty_text() {
        round_trip(Packet::text("hello"), "4hello");
        round_trip(Packet::text(""), "4");
        assert!(Message::from("").is_empty());
    }

    /// Item 3 (K2): bytes 01 02 03 04 ⇔ `bAQIDBA==`, padded; unpadded also accepted.
    #[test]
    fn k2_binary_is_padded_standard_base64() {
        round_trip(Packet::binary(vec![1, 2, 3, 4]), "bAQIDBA==");
        round_trip(Packet::binary(vec![1, 2, 3, 4, 5]), "bAQIDBAU=");
        round_trip(Packet::binary(vec![0xfb, 0xff, 0xbf]), "b+/+/");
        assert_eq!(
            Packet::decode("bAQIDBA").unwrap(),
            Packet::binary(vec![1, 2, 3, 4])
        );
        assert_eq!(
            Packet::decode("bAQIDBAU").unwrap(),
            Packet::binary(vec![1, 2, 3, 4, 5])
        );
    }

    /// Item 4 (K4): empty binary ⇔ `b`; an empty binary frame is an empty message.
    #[test]
    fn k4_empty_binary() {
        round_trip(Packet::binary(Bytes::new()), "b");
        let frame: &[u8] = &[];
        let packet = Packet::binary(frame);
        assert_eq!(packet, Packet::Message(Message::Binary(Bytes::new())));
        assert!(matches!(&packet, Packet::Message(m) if m.is_binary() && m.is_empty()));
    }

    /// Item 5 (W2): a v4 binary WebSocket frame is the raw bytes, no type byte.
    #[test]
    fn w2_binary_frame_is_raw_bytes() {
        let frame = Bytes::from_static(&[4, 1, 2, 3]);
        let packet = Packet::binary(frame.clone());
        // The leading 04 is data, not a type byte.
        assert_eq!(packet, Packet::Message(Message::Binary(frame)));
        assert_eq!(
            Packet::Message(Message::from(&[4u8, 1, 2, 3][..])).encode(),
            "bBAECAw=="
        );
    }

    /// Item 6 (W3): a text frame `bAQIDBA==` is the bytes 01 02 03 04.
    #[test]
    fn w3_base64_text_frame_is_binary() {
        let packet = Packet::decode_bytes(b"bAQIDBA==").unwrap();
        match packet {
            Packet::Message(message) => {
                assert_eq!(message.as_binary(), Some(&[1u8, 2, 3, 4][..]));
                assert_eq!(message.as_text(), None);
            }
            other => panic!("not a message: {other:?}"),
        }
    }

    /// Item 7 (K3): empty input and bad first characters fail.
    #[test]
    fn k3_empty_and_unknown_types_fail() {
        for input in ["", "9x", "x", "abc", "7", "B", " 4", "\u{1e}", "é", "€4"] {
            decode_fails(input);
        }
        assert_eq!(
            Packet::decode("").unwrap_err().to_string(),
            "malformed Engine.IO input: empty packet"
        );
    }

    /// Item 8 (K3): invalid base64 after `b` and invalid UTF-8 fail.
    #[test]
    fn k3_bad_base64_and_utf8_fail() {
        for input in [
            "b!!!",
            "bA",
            "bAQIDBA=x",
            "bAQ ID",
            "bAQIDBA===",
            "b=",
            "b-_",
        ] {
            decode_fails(input);
        }
        for bytes in [&b"4\xff"[..], b"\xff", b"4\xc3", b"2\xed\xa0\x80"] {
            let err = Packet::decode_bytes(bytes).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Decode);
        }
    }

    /// Item 9 (K4): only message packets carry binary; nothing else can hold bytes.
    #[test]
    fn k4_binary_only_on_messages() {
        // Exhaustive: a new variant carrying data would break this match.
        fn carries_binary(packet: &Packet) -> bool {
            match packet {
                Packet::Message(message) => message.is_binary(),
                Packet::Open(_) | Packet::Ping(_) | Packet::Pong(_) => false,
                Packet::Close | Packet::Upgrade | Packet::Noop => false,
            }
        }
        assert!(carries_binary(&Packet::binary(vec![1])));
        assert!(!carries_binary(&Packet::Ping("probe".into())));
        // `b` always means message.
        assert_eq!(
            Packet::decode("b").unwrap().packet_type(),
            PacketType::Message
        );
    }

    /// Item 10 (K5): `2probe`/`3probe` keep data; a pong echoes its ping.
    #[test]
    fn k5_probe_data_kept_and_echoed() {
        round_trip(Packet::Ping("probe".into()), "2probe");
        round_trip(Packet::Pong("probe".into()), "3probe");
        let ping = Packet::decode("2probe").unwrap();
        assert_eq!(ping.ping_reply().unwrap().encode(), "3probe");
        assert_eq!(
            Packet::Ping(String::new()).ping_reply().unwrap().encode(),
            "3"
        );
        assert_eq!(Packet::Pong("x".into()).ping_reply(), None);
    }

    /// Item 11 (K5): data after `1`, `5`, `6` is ignored.
    #[test]
    fn k5_data_after_close_upgrade_noop_ignored() {
        assert_eq!(Packet::decode("52").unwrap(), Packet::Upgrade);
        assert_eq!(Packet::decode("1bye").unwrap(), Packet::Close);
        assert_eq!(Packet::decode("6\u{1e}x").unwrap(), Packet::Noop);
        assert_eq!(Packet::decode("52").unwrap().encode(), "5");
    }

    /// Item 12 (K6): message text is verbatim, never JSON-decoded.
    #[test]
    fn k6_message_text_verbatim() {
        for text in [
            "123",
            "true",
            "null",
            "{\"a\":1}",
            "\"quoted\"",
            " 1 ",
            "[1,2]",
        ] {
            let wire = format!("4{text}");
            let packet = Packet::decode(&wire).unwrap();
            assert_eq!(packet, Packet::text(text));
            assert_eq!(packet.encode(), wire);
        }
    }

    /// Item 13: non-ASCII text round-trips byte-exact.
    #[test]
    fn non_ascii_text_byte_exact() {
        let wire = "4héllo €";
        assert_eq!(wire.as_bytes()[1..], "héllo €".as_bytes()[..]);
        round_trip(Packet::text("héllo €"), wire);
        round_trip(Packet::text("😀\u{0}\r\n"), "4😀\u{0}\r\n");
        assert_eq!(Message::from("héllo €").len(), 10);
    }

    #[test]
    fn message_accessors_and_conversions() {
        let text = Message::from(String::from("hi"));
        assert!(text.is_text() && !text.is_binary());
        assert_eq!(text.as_bytes(), b"hi");
        let binary = Message::from(Bytes::from_static(b"\x01"));
        assert!(binary.is_binary() && !binary.is_text());
        assert_eq!(binary, Message::from(vec![1u8]));
        assert_eq!(binary, Message::from(&[1u8][..]));
        assert_eq!(Packet::from(binary.clone()), Packet::Message(binary));
        assert_eq!(PacketType::Pong.to_string(), "pong");
    }

    fn handshake() -> Handshake {
        Handshake {
            sid: "abc".into(),
            upgrades: vec!["websocket".into()],
            ping_interval: 25000,
            ping_timeout: 20000,
            max_payload: 1000000,
        }
    }

    /// H4: the OPEN JSON has exactly five keys, in order, compact.
    #[test]
    fn h4_handshake_json_exact() {
        let json = handshake().to_json();
        assert_eq!(
            json,
            r#"{"sid":"abc","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#
        );
        assert_eq!(handshake().to_packet().encode(), format!("0{json}"));
        let mut odd = handshake();
        odd.sid = "a\"\\\u{1}é".into();
        odd.upgrades = vec![];
        assert_eq!(
            odd.to_json(),
            "{\"sid\":\"a\\\"\\\\\\u0001é\",\"upgrades\":[],\"pingInterval\":25000,\"pingTimeout\":20000,\"maxPayload\":1000000}"
        );
        assert_eq!(Handshake::from_json(&odd.to_json()).unwrap(), odd);
        assert_eq!(Handshake::from_json(&json).unwrap(), handshake());
    }

    #[test]
    fn handshake_from_json_tolerance() {
        let loose = Handshake::from_json(
            r#"{"extra":[1],"pingTimeout":" 20000 ","sid":"abc","pingInterval":"25000","upgrades":["websocket"]}"#,
        )
        .unwrap();
        assert_eq!(
            loose,
            Handshake {
                max_payload: 0,
                ..handshake()
            }
        );
        let floats = Handshake::from_json(
            r#"{"sid":"s","pingInterval":25000.0,"pingTimeout":"2.5e3","maxPayload":null}"#,
        )
        .unwrap();
        assert_eq!(floats.ping_interval, 25000);
        assert_eq!(floats.ping_timeout, 2500);
        assert_eq!(floats.max_payload, 0);
        assert!(floats.upgrades.is_empty());
    }

    #[test]
    fn handshake_from_json_errors() {
        for json in [
            "",
            "not json",
            "[]",
            r#""sid""#,
            r#"{"pingInterval":1,"pingTimeout":1}"#,
            r#"{"sid":"","pingInterval":1,"pingTimeout":1}"#,
            r#"{"sid":5,"pingInterval":1,"pingTimeout":1}"#,
            r#"{"sid":"s","pingTimeout":1}"#,
            r#"{"sid":"s","pingInterval":1}"#,
            r#"{"sid":"s","pingInterval":-1,"pingTimeout":1}"#,
            r#"{"sid":"s","pingInterval":"soon","pingTimeout":1}"#,
            r#"{"sid":"s","pingInterval":1,"pingTimeout":1,"maxPayload":true}"#,
            r#"{"sid":"s","pingInterval":1,"pingTimeout":1,"upgrades":"websocket"}"#,
            r#"{"sid":"s","pingInterval":1,"pingTimeout":1,"upgrades":[1]}"#,
        ] {
            let err = Handshake::from_json(json).expect_err(json);
            assert_eq!(err.kind(), ErrorKind::Decode, "{json}");
        }
    }

    pub(crate) fn any_message(allow_separator: bool) -> impl Strategy<Value = Message> {
        prop_oneof![
            any::<String>().prop_map(move |text| {
                if allow_separator {
                    Message::Text(text)
                } else {
                    Message::Text(text.replace('\u{1e}', ""))
                }
            }),
            proptest::collection::vec(any::<u8>(), 0..64).prop_map(Message::from),
        ]
    }

    /// Any packet; with `allow_separator` false, no text contains U+001E.
    pub(crate) fn any_packet(allow_separator: bool) -> impl Strategy<Value = Packet> {
        let data = any::<String>().prop_map(move |text| {
            if allow_separator {
                text
            } else {
                text.replace('\u{1e}', "")
            }
        });
        prop_oneof![
            data.clone().prop_map(Packet::Open),
            Just(Packet::Close),
            data.clone().prop_map(Packet::Ping),
            data.prop_map(Packet::Pong),
            any_message(allow_separator).prop_map(Packet::Message),
            Just(Packet::Upgrade),
            Just(Packet::Noop),
        ]
    }

    proptest! {
        #[test]
        fn prop_packet_round_trips(packet in any_packet(true)) {
            let text = packet.encode();
            prop_assert_eq!(text.len(), packet.encoded_len());
            let mut out = vec![0xAA];
            packet.encode_into(&mut out);
            prop_assert_eq!(&out[1..], text.as_bytes());
            prop_assert_eq!(Packet::decode(&text).unwrap(), packet.clone());
            prop_assert_eq!(Packet::decode_bytes(text.as_bytes()).unwrap(), packet);
        }

        /// Item 15: no panic on arbitrary bytes.
        #[test]
        fn prop_decode_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = Packet::decode_bytes(&bytes);
        }

        /// Item 15: no panic on arbitrary strings; anything decoded re-encodes and
        /// decodes to the same packet.
        #[test]
        fn prop_decode_str_never_panics(text in any::<String>()) {
            if let Ok(packet) = Packet::decode(&text) {
                prop_assert_eq!(Packet::decode(&packet.encode()).unwrap(), packet);
            }
        }

        #[test]
        fn prop_decode_plausible_input(text in "[0-6b][A-Za-z0-9+/=\u{1e}é]{0,40}") {
            if let Ok(packet) = Packet::decode(&text) {
                prop_assert_eq!(packet.encoded_len(), packet.encode().len());
                prop_assert_eq!(Packet::decode(&packet.encode()).unwrap(), packet);
            }
        }
    }
}
