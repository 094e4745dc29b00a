//! What the client accepts from a server, and the polling payload reader that holds
//! a server to it.
//!
//! Every limit comes from the server's handshake and the configuration:
//!
//! - the **message limit** is [`ClientBuilder::max_message_bytes`] when set, else the
//!   larger of 16 MiB and the `maxPayload` the server advertised (1,000,000 when it
//!   says nothing; taken within 64 KiB ..= 64 MiB): Engine.IO does not limit what a
//!   server sends, only what it accepts;
//! - the **packet limit** is what a message of that size takes on the wire, base64
//!   included (`b` + 4/3 of it): a polling packet or a WebSocket message;
//! - a **long-poll response** holds at most 16 packets of the server's `maxPayload`
//!   (of `max_message_bytes` when set), or one of the message limit, whichever is
//!   more ([`POLL_PACKETS`]), and at most [`MAX_CONTROL_PACKETS`] packets other than
//!   messages;
//! - the **OPEN packet** is at most [`MAX_OPEN_BYTES`]; other bodies (POST answers, a
//!   refused handshake's or a failed poll's body) at most [`MAX_ANSWER_BYTES`];
//! - the advertised `pingInterval` and `pingTimeout` at most
//!   [`ClientBuilder::max_ping_interval`] and [`ClientBuilder::max_ping_timeout`].
//!
//! [`PayloadReader`] decodes a polling body as it arrives, one packet at a time, so a
//! response never sits whole in memory, and counts bytes and packets as it goes, in
//! each [`Framing`]: v4's separators, and v3's length prefixes in the text and the
//! binary form (whose lengths are checked against the packet limit before the packet
//! is read). The same limits hold for both versions; a v3 body may hold 16 length
//! prefixes on top.
//!
//! [`ClientBuilder::max_message_bytes`]: crate::client::ClientBuilder::max_message_bytes
//! [`ClientBuilder::max_ping_interval`]: crate::client::ClientBuilder::max_ping_interval
//! [`ClientBuilder::max_ping_timeout`]: crate::client::ClientBuilder::max_ping_timeout

use std::io::{self, Read};
use std::time::Duration;

use bytes::Bytes;

use crate::client::config::Config;
use crate::packet::{Handshake, Message, Packet};
use crate::payload::v3::{self, PayloadForm};
use crate::payload::SEPARATOR;
use crate::{Error, ErrorKind, ProtocolVersion, Result};

/// The largest OPEN packet: the handshake's JSON (a sid, a few numbers).
pub(crate) const MAX_OPEN_BYTES: usize = 64 * 1024;
/// The largest body that is not a payload: a POST's `ok`, the JSON of a refused
/// handshake or of a failed poll.
pub(crate) const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// Packets other than messages (ping, noop, …) in one long-poll response. An honest
/// server sends one or two; a flood of them ends the session.
pub(crate) const MAX_CONTROL_PACKETS: usize = 16;
/// A long-poll response holds at most this many packet limits (our server and
/// python-engineio send at most 16 packets per response).
pub(crate) const POLL_PACKETS: u64 = 16;
/// The server's `maxPayload` when it does not advertise one (the protocol's default).
const DEFAULT_MAX_PAYLOAD: u64 = 1_000_000;
/// The server's `maxPayload` is taken within these bounds.
const MIN_DERIVED: u64 = 64 * 1024;
const MAX_DERIVED: u64 = 64 << 20;
/// Engine.IO does not limit what a server sends (its `maxPayload` bounds what it
/// accepts), so by default the client accepts messages at least this large.
const MIN_MESSAGE: u64 = 16 << 20;

/// What a message of `len` bytes may take as a packet on the wire: `b` and base64.
fn wire_len(len: usize) -> usize {
    2 + 4 * len.div_ceil(3)
}
/// The number of decimal digits of `n`.
fn digit_count(n: usize) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// What an event costs in a bounded event queue besides its bytes, so that a flood of
/// empty messages is bounded too.
pub(crate) const EVENT_OVERHEAD: usize = 64;

/// The sizes one connection accepts from its server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    /// The largest message, in bytes of text or binary data.
    pub(crate) message: usize,
    /// The largest packet as it travels: a polling packet (`4`+text, `b`+base64) or a
    /// WebSocket message.
    pub(crate) packet: usize,
    /// The largest long-poll response body.
    pub(crate) body: u64,
}

impl Limits {
    /// The limits of a session, once its handshake is known.
    pub(crate) fn new(config: &Config, handshake: &Handshake) -> Limits {
        let advertised = match handshake.max_payload {
            0 => DEFAULT_MAX_PAYLOAD,
            n => n,
        }
        .clamp(MIN_DERIVED, MAX_DERIVED) as usize;
        let message = config
            .max_message
            .unwrap_or_else(|| advertised.max(MIN_MESSAGE as usize));
        let packet = wire_len(message);
        // What frames each packet in a body: v4, a separator; v3, a length prefix (a
        // marker, the digits, and `:` or `ff`).
        let framing = match config.protocol {
            ProtocolVersion::V3 => 2 + digit_count(packet) as u64,
            ProtocolVersion::V4 => 1,
        };
        // Up to 16 packets of the server's own size, or one of the largest message.
        let batch = wire_len(config.max_message.unwrap_or(advertised)) as u64 * POLL_PACKETS;
        Limits {
            message,
            packet,
            body: batch.max(packet as u64) + framing * POLL_PACKETS,
        }
    }

    /// Before the handshake: only the OPEN packet may come.
    pub(crate) fn handshake() -> Limits {
        Limits {
            message: MAX_OPEN_BYTES,
            packet: MAX_OPEN_BYTES,
            body: MAX_OPEN_BYTES as u64,
        }
    }

    /// Refuses a message over the message limit.
    pub(crate) fn check_message(&self, message: &Message) -> Result<()> {
        let len = message.as_bytes().len();
        if len > self.message {
            return Err(too_large("message", len as u64, self.message as u64));
        }
        Ok(())
    }
}

fn too_large(what: &str, len: u64, limit: u64) -> Error {
    Error::new(
        ErrorKind::Decode,
        format!(
            "the server sent a {what} of {len} bytes or more; the client accepts at most {limit}"
        ),
    )
}

/// Refuses a handshake whose heartbeat values are above the configured caps: a
/// server advertising them could never be found dead.
pub(crate) fn check_heartbeat(config: &Config, handshake: &Handshake) -> Result<()> {
    let check = |name: &str, millis: u64, max: Duration, option: &str| {
        if u128::from(millis) > max.as_millis() {
            return Err(Error::new(
                ErrorKind::Handshake,
                format!(
                    "the server advertises {name} {millis} ms, above the client's limit of {} ms (ClientBuilder::{option})",
                    max.as_millis()
                ),
            ));
        }
        Ok(())
    };
    check(
        "pingInterval",
        handshake.ping_interval,
        config.max_ping_interval,
        "max_ping_interval",
    )?;
    check(
        "pingTimeout",
        handshake.ping_timeout,
        config.max_ping_timeout,
        "max_ping_timeout",
    )
}

/// The heartbeat allowance of a handshake that passed [`check_heartbeat`]: ping
/// interval + ping timeout.
pub(crate) fn heartbeat(handshake: &Handshake) -> Duration {
    Duration::from_millis(
        handshake
            .ping_interval
            .saturating_add(handshake.ping_timeout),
    )
}

/// How a polling body frames its packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// v4: packets joined by `\x1e` (L1).
    V4,
    /// v3, text form: `<len>:<packet>` repeated, `len` in UTF-16 code units (V4, V5).
    V3Text,
    /// v3, binary form: a marker (`00` string, `01` binary), the length's digits as
    /// byte values, `ff`, then the packet (V6).
    V3Binary,
}

impl Framing {
    /// The framing of a response body of `version` with this `Content-Type`: a v3
    /// body is in the binary form when it is `application/octet-stream` (V6).
    pub(crate) fn of_response(version: ProtocolVersion, content_type: Option<&str>) -> Framing {
        match version {
            ProtocolVersion::V3 => match PayloadForm::from_content_type(content_type) {
                PayloadForm::Binary => Framing::V3Binary,
                PayloadForm::Text => Framing::V3Text,
            },
            ProtocolVersion::V4 => Framing::V4,
        }
    }

    /// Decodes one packet of a body in this framing.
    pub(crate) fn decode(self, segment: Segment<'_>) -> Result<Packet> {
        if segment.binary {
            return v3::decode_binary_packet(Bytes::copy_from_slice(segment.bytes));
        }
        let text = std::str::from_utf8(segment.bytes)
            .map_err(|_| Error::new(ErrorKind::Decode, "payload is not valid UTF-8"))?;
        match self {
            Framing::V4 => Packet::decode(text),
            Framing::V3Text | Framing::V3Binary => v3::decode_packet(text),
        }
    }
}

/// The bytes of one packet of a body, before decoding.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Segment<'a> {
    pub(crate) bytes: &'a [u8],
    /// A packet in the v3 binary form (type byte and data), not text.
    pub(crate) binary: bool,
}

/// Decodes a polling payload from a body as it arrives, in its [`Framing`], within
/// [`Limits`]: a packet over the packet limit, a body over the body limit, or more
/// than [`MAX_CONTROL_PACKETS`] packets that are not messages is an error, as is
/// anything the codec refuses ([`payload::decode`](crate::payload::decode) for v4:
/// an empty body, an empty packet, a trailing separator, a malformed packet;
/// [`v3::decode`] for v3: a framing fault, V8). A v3 length is refused as soon as it
/// is over the packet limit, before anything of the packet is read. Packets before
/// the fault have been returned by then.
pub(crate) struct PayloadReader<R> {
    source: R,
    framing: Framing,
    chunk: Box<[u8]>,
    start: usize,
    end: usize,
    /// The current packet, when it spans chunks.
    segment: Vec<u8>,
    limits: Limits,
    /// Body bytes read so far.
    total: u64,
    packets: usize,
    controls: usize,
    finished: bool,
}

impl<R: Read> PayloadReader<R> {
    /// A reader of a v4 body.
    #[cfg(test)]
    pub(crate) fn new(source: R, limits: Limits) -> PayloadReader<R> {
        Self::with_framing(source, Framing::V4, limits)
    }

    pub(crate) fn with_framing(source: R, framing: Framing, limits: Limits) -> PayloadReader<R> {
        PayloadReader {
            source,
            framing,
            chunk: vec![0; 16 * 1024].into_boxed_slice(),
            start: 0,
            end: 0,
            segment: Vec::new(),
            limits,
            total: 0,
            packets: 0,
            controls: 0,
            finished: false,
        }
    }

    /// Applies `limits` from now on (to this packet and the rest of the body).
    pub(crate) fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// The next packet; `None` at the end of the body.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Decode`] for a malformed payload or one over a limit; the reading
    /// error (see [`io_error`]) when the body cannot be read.
    pub(crate) fn next_packet(&mut self) -> Result<Option<Packet>> {
        let limits = self.limits;
        let framing = self.framing;
        let packet = self.next_segment(|segment| {
            let packet = framing.decode(segment)?;
            if let Packet::Message(message) = &packet {
                limits.check_message(message)?;
            }
            Ok(packet)
        })?;
        if let Some(packet) = &packet {
            if !matches!(packet, Packet::Message(_)) {
                self.controls += 1;
                if self.controls > MAX_CONTROL_PACKETS {
                    return Err(Error::new(
                        ErrorKind::Decode,
                        format!(
                            "the server sent more than {MAX_CONTROL_PACKETS} packets other than messages in one response"
                        ),
                    ));
                }
            }
        }
        Ok(packet)
    }

    /// Hands the bytes of the next packet to `f`; `None` at the end of the body.
    pub(crate) fn next_segment<T>(
        &mut self,
        f: impl FnOnce(Segment<'_>) -> Result<T>,
    ) -> Result<Option<T>> {
        if self.finished {
            return Ok(None);
        }
        let result = match self.framing {
            Framing::V4 => self.separated_segment(f),
            Framing::V3Text | Framing::V3Binary => self.prefixed_segment(f),
        };
        match &result {
            Ok(Some(_)) => self.packets += 1,
            // Nothing more is read after a fault.
            Err(_) => self.finished = true,
            Ok(None) => {}
        }
        result
    }

    /// Reads the next chunk of the body once the current one is used up; false at
    /// the end of the body.
    fn fill(&mut self) -> Result<bool> {
        let n = loop {
            match self.source.read(&mut self.chunk) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => break other.map_err(io_error)?,
            }
        };
        self.start = 0;
        self.end = n;
        if n == 0 {
            return Ok(false);
        }
        self.total += n as u64;
        if self.total > self.limits.body {
            return Err(too_large("response", self.total, self.limits.body));
        }
        Ok(true)
    }

    /// v4: the bytes up to the next separator or the end of the body.
    fn separated_segment<T>(
        &mut self,
        f: impl FnOnce(Segment<'_>) -> Result<T>,
    ) -> Result<Option<T>> {
        loop {
            let available = &self.chunk[self.start..self.end];
            if let Some(i) = available.iter().position(|&b| b == SEPARATOR) {
                let bytes = &self.chunk[self.start..self.start + i];
                self.start += i + 1;
                if self.segment.is_empty() {
                    check_segment(bytes, self.limits.packet)?;
                    return f(Segment::text(bytes)).map(Some);
                }
                append(&mut self.segment, bytes, self.limits.packet)?;
                check_segment(&self.segment, self.limits.packet)?;
                let result = f(Segment::text(&self.segment));
                self.segment.clear();
                return result.map(Some);
            }
            append(&mut self.segment, available, self.limits.packet)?;
            self.start = self.end;
            if !self.fill()? {
                self.finished = true;
                if self.packets == 0 && self.segment.is_empty() {
                    return Err(Error::new(ErrorKind::Decode, "empty payload"));
                }
                check_segment(&self.segment, self.limits.packet)?;
                let result = f(Segment::text(&self.segment));
                self.segment = Vec::new();
                return result.map(Some);
            }
        }
    }

    /// The next byte of the body; `None` at its end.
    fn next_byte(&mut self) -> Result<Option<u8>> {
        if self.start == self.end && !self.fill()? {
            return Ok(None);
        }
        let b = self.chunk[self.start];
        self.start += 1;
        Ok(Some(b))
    }

    /// v3: a length prefix, then that many bytes (binary form) or UTF-16 code units
    /// (text form). Zero-length packets of the text form are skipped, as the
    /// reference does (`0:` is a payload of no packets); an empty body is an error in
    /// the text form and no packets in the binary form, as [`v3::decode`] has it.
    fn prefixed_segment<T>(
        &mut self,
        f: impl FnOnce(Segment<'_>) -> Result<T>,
    ) -> Result<Option<T>> {
        let binary_form = self.framing == Framing::V3Binary;
        loop {
            let Some(first) = self.next_byte()? else {
                self.finished = true;
                if !binary_form && self.total == 0 {
                    return Err(Error::new(ErrorKind::Decode, "empty payload"));
                }
                return Ok(None);
            };
            if binary_form {
                let binary = match first {
                    0 => false,
                    1 => true,
                    _ => {
                        return Err(Error::new(
                            ErrorKind::Decode,
                            "payload packet marker is neither 00 nor 01",
                        ))
                    }
                };
                let len = self.read_length(None, 0xff, 0)?;
                if len == 0 {
                    return Err(Error::new(ErrorKind::Decode, "empty packet in payload"));
                }
                return self
                    .take_bytes(len, |bytes| f(Segment { bytes, binary }))
                    .map(Some);
            }
            let units = self.read_length(Some(first), b':', b'0')?;
            if units > 0 {
                return self
                    .take_utf16(units, |bytes| f(Segment::text(bytes)))
                    .map(Some);
            }
        }
    }

    /// A v3 length: decimal digits (ASCII from `zero` = `b'0'`, or byte values from
    /// `zero` = 0) up to `end`, starting with `first` if given. It is refused (V8) when
    /// empty, not decimal, longer in digits than the packet limit, or over it, as soon
    /// as that shows.
    fn read_length(&mut self, first: Option<u8>, end: u8, zero: u8) -> Result<usize> {
        let mut next = first;
        let mut len: usize = 0;
        let mut digits = 0;
        loop {
            let b = match next.take() {
                Some(b) => b,
                None => self.next_byte()?.ok_or_else(|| {
                    Error::new(ErrorKind::Decode, "payload ends inside a packet length")
                })?,
            };
            if b == end {
                break;
            }
            let digit = b.wrapping_sub(zero);
            if digit > 9 {
                return Err(Error::new(
                    ErrorKind::Decode,
                    "payload packet length is not decimal",
                ));
            }
            if digits == digit_count(self.limits.packet) {
                return Err(Error::new(
                    ErrorKind::Decode,
                    "payload packet length has more digits than the packet limit",
                ));
            }
            len = len
                .checked_mul(10)
                .and_then(|l| l.checked_add(usize::from(digit)))
                .filter(|&l| l <= self.limits.packet)
                .ok_or_else(|| {
                    too_large(
                        "packet",
                        len.saturating_mul(10) as u64,
                        self.limits.packet as u64,
                    )
                })?;
            digits += 1;
        }
        if digits == 0 {
            return Err(Error::new(
                ErrorKind::Decode,
                "payload packet length is empty",
            ));
        }
        Ok(len)
    }

    /// Hands the next `n` bytes of the body to `f` (`n` is within the packet limit).
    fn take_bytes<T>(&mut self, n: usize, f: impl FnOnce(&[u8]) -> Result<T>) -> Result<T> {
        self.segment.clear();
        loop {
            let need = n - self.segment.len();
            if self.end - self.start >= need {
                let bytes = &self.chunk[self.start..self.start + need];
                self.start += need;
                if self.segment.is_empty() {
                    return f(bytes);
                }
                self.segment.extend_from_slice(bytes);
                let result = f(&self.segment);
                self.segment.clear();
                return result;
            }
            self.segment
                .extend_from_slice(&self.chunk[self.start..self.end]);
            self.start = self.end;
            if !self.fill()? {
                return Err(Error::new(
                    ErrorKind::Decode,
                    "payload packet runs past the end",
                ));
            }
        }
    }

    /// Hands the bytes of the next `units` UTF-16 code units of the body to `f`: each
    /// character is measured from its UTF-8 lead byte (four-byte characters are two
    /// units). A length ending inside a surrogate pair, or a byte that cannot start a
    /// character, is an error; `f` checks the rest of the UTF-8.
    fn take_utf16<T>(&mut self, units: usize, f: impl FnOnce(&[u8]) -> Result<T>) -> Result<T> {
        self.segment.clear();
        let mut counted = 0;
        // Bytes of the current character still to come.
        let mut pending = 0usize;
        loop {
            let available = &self.chunk[self.start..self.end];
            let mut i = 0;
            let mut complete = false;
            while i < available.len() {
                if pending > 0 {
                    let step = pending.min(available.len() - i);
                    i += step;
                    pending -= step;
                } else {
                    let (len, width) = match available[i] {
                        0x00..=0x7f => (1, 1),
                        0xc0..=0xdf => (2, 1),
                        0xe0..=0xef => (3, 1),
                        0xf0..=0xf7 => (4, 2),
                        _ => {
                            return Err(Error::new(ErrorKind::Decode, "payload is not valid UTF-8"))
                        }
                    };
                    counted += width;
                    if counted > units {
                        return Err(Error::new(
                            ErrorKind::Decode,
                            "payload packet length ends inside a surrogate pair",
                        ));
                    }
                    i += 1;
                    pending = len - 1;
                }
                if pending == 0 && counted == units {
                    complete = true;
                    break;
                }
            }
            if self.segment.len() + i > self.limits.packet {
                return Err(too_large(
                    "packet",
                    (self.segment.len() + i) as u64,
                    self.limits.packet as u64,
                ));
            }
            if complete {
                let bytes = &self.chunk[self.start..self.start + i];
                self.start += i;
                if self.segment.is_empty() {
                    return f(bytes);
                }
                self.segment.extend_from_slice(bytes);
                let result = f(&self.segment);
                self.segment.clear();
                return result;
            }
            self.segment.extend_from_slice(available);
            self.start = self.end;
            if !self.fill()? {
                return Err(Error::new(
                    ErrorKind::Decode,
                    "payload packet runs past the end",
                ));
            }
        }
    }
}

impl<'a> Segment<'a> {
    fn text(bytes: &'a [u8]) -> Segment<'a> {
        Segment {
            bytes,
            binary: false,
        }
    }
}

fn check_segment(bytes: &[u8], limit: usize) -> Result<()> {
    if bytes.is_empty() {
        return Err(Error::new(ErrorKind::Decode, "empty packet in payload"));
    }
    if bytes.len() > limit {
        return Err(too_large("packet", bytes.len() as u64, limit as u64));
    }
    Ok(())
}

fn append(segment: &mut Vec<u8>, bytes: &[u8], limit: usize) -> Result<()> {
    if segment.len() + bytes.len() > limit {
        return Err(too_large(
            "packet",
            (segment.len() + bytes.len()) as u64,
            limit as u64,
        ));
    }
    segment.extend_from_slice(bytes);
    Ok(())
}

/// An error reading a response body (ureq reports its own errors, timeouts
/// included, as I/O errors wrapping a `ureq::Error`).
pub(crate) fn io_error(e: io::Error) -> Error {
    let timeout = matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    ) || e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<ureq::Error>())
        .is_some_and(|inner| matches!(inner, ureq::Error::Timeout(_)));
    if timeout {
        Error::new(ErrorKind::Timeout, "the response did not arrive in time").with_source(e)
    } else {
        Error::new(ErrorKind::Connect, "reading the response failed").with_source(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(packet: usize, body: u64) -> Limits {
        Limits {
            message: packet,
            packet,
            body,
        }
    }

    /// A source that returns at most `step` bytes per read.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(self.1).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn all(body: &[u8], step: usize, limits: Limits) -> Result<Vec<Packet>> {
        let mut reader = PayloadReader::new(Trickle(body, step), limits);
        let mut packets = Vec::new();
        while let Some(p) = reader.next_packet()? {
            packets.push(p);
        }
        Ok(packets)
    }

    #[test]
    fn decodes_like_payload_decode_whatever_the_chunking() {
        let body = "4hello\u{1e}2\u{1e}bAQIDBA==\u{1e}6\u{1e}4€".as_bytes();
        let expected = crate::payload::decode(body).unwrap();
        for step in [1, 2, 3, 7, 100, 1 << 20] {
            assert_eq!(
                all(body, step, limits(100, 1000)).unwrap(),
                expected,
                "{step}"
            );
        }
        let big = format!("4{}", "x".repeat(40_000));
        assert_eq!(
            all(big.as_bytes(), 5000, limits(50_000, 50_000)).unwrap(),
            [Packet::text("x".repeat(40_000))]
        );
    }

    #[test]
    fn refuses_what_payload_decode_refuses() {
        for body in [
            &b""[..],
            b"4a\x1e",
            b"4a\x1e\x1e4b",
            b"\x1e4a",
            b"9",
            b"4\xff",
        ] {
            for step in [1, 100] {
                let err = all(body, step, limits(100, 1000)).unwrap_err();
                assert_eq!(err.kind(), ErrorKind::Decode, "{body:?}");
            }
        }
    }

    #[test]
    fn limits_hold_whatever_the_chunking() {
        for step in [1, 3, 1 << 20] {
            // A packet over the packet limit.
            let err = all(b"4aaaaaaaaaa\x1e4b", step, limits(5, 1000)).unwrap_err();
            assert!(err.to_string().contains("packet"), "{err}");
            // A body over the body limit.
            let err = all(b"4a\x1e4b\x1e4c\x1e4d", step, limits(5, 8)).unwrap_err();
            assert!(err.to_string().contains("response"), "{err}");
            // Too many control packets, but any number of messages.
            let noops = vec!["6"; MAX_CONTROL_PACKETS + 1].join("\u{1e}");
            let err = all(noops.as_bytes(), step, limits(5, 1000)).unwrap_err();
            assert!(err.to_string().contains("other than messages"), "{err}");
            let messages = vec!["4"; 100].join("\u{1e}");
            assert_eq!(
                all(messages.as_bytes(), step, limits(5, 1000))
                    .unwrap()
                    .len(),
                100
            );
        }
        // A message over the message limit, though its packet fits.
        let l = Limits {
            message: 3,
            packet: 10,
            body: 100,
        };
        assert!(all(b"4abcd", 100, l).is_err());
        assert!(all(b"bAQIDBA==", 100, l).is_err());
        assert!(all(b"4abc\x1ebAQID", 100, l).is_ok());
    }

    fn all_v3(body: &[u8], form: Framing, step: usize, limits: Limits) -> Result<Vec<Packet>> {
        let mut reader = PayloadReader::with_framing(Trickle(body, step), form, limits);
        let mut packets = Vec::new();
        while let Some(p) = reader.next_packet()? {
            packets.push(p);
        }
        Ok(packets)
    }

    #[test]
    fn v3_bodies_decode_like_v3_decode_whatever_the_chunking() {
        let packets = [
            Packet::text("hello"),
            Packet::text("€ and 😀, \u{1e} too"),
            Packet::binary(vec![1u8, 2, 3, 4]),
            Packet::Pong(String::new()),
            Packet::binary(vec![]),
            Packet::text(""),
            Packet::Noop,
        ];
        for (b64, form) in [(true, Framing::V3Text), (false, Framing::V3Binary)] {
            let mut body = Vec::new();
            v3::encode(&packets, b64, &mut body);
            for step in [1, 2, 3, 5, 100, 1 << 20] {
                assert_eq!(
                    all_v3(&body, form, step, limits(100, 1000)).unwrap(),
                    packets,
                    "{form:?} {step}"
                );
            }
        }
        // Text form without binary; `0:` packets are skipped.
        let body = "6:4hello0:2:4€3:4😀1:3".as_bytes();
        let expected = v3::decode(body, PayloadForm::Text, 1000).unwrap();
        for step in [1, 2, 7, 100] {
            assert_eq!(
                all_v3(body, Framing::V3Text, step, limits(100, 1000)).unwrap(),
                expected
            );
        }
        assert_eq!(
            all_v3(b"0:", Framing::V3Text, 1, limits(100, 1000)).unwrap(),
            []
        );
        // An empty binary-form body is no packets, as v3::decode has it.
        assert_eq!(
            all_v3(b"", Framing::V3Binary, 1, limits(100, 1000)).unwrap(),
            []
        );
        // A large packet across many chunks.
        let big = Packet::text("é".repeat(30_000));
        for (b64, form) in [(true, Framing::V3Text), (false, Framing::V3Binary)] {
            let mut body = Vec::new();
            v3::encode([&big, &Packet::binary(vec![9u8; 40_000])], b64, &mut body);
            let got = all_v3(&body, form, 5000, limits(100_000, 200_000)).unwrap();
            assert_eq!(got[0], big);
            assert_eq!(got[1], Packet::binary(vec![9u8; 40_000]));
        }
    }

    #[test]
    fn v3_refuses_what_v3_decode_refuses() {
        let text: &[&[u8]] = &[
            b"",
            b"6:4hello2",
            b"9:4hello",
            b":4a",
            b"a:4a",
            b" 1:6",
            "2:4😀".as_bytes(),
            b"2:4\xff",
            b"2:4\x80",
            b"1:9",
            b"6:bAQIDB",
            b"2:b2",
        ];
        let binary: &[&[u8]] = &[
            b"\x02\x01\xff6",
            b"\x00\x01",
            b"\x00\xff6",
            b"\x00\x0a\xff6",
            b"\x00\x00\xff",
            b"\x01\x00\xff",
            b"\x00\x05\xff4ab",
            b"\x01\x02\xff\x02\x01",
            b"\x01\x01\xff\x09",
            b"\x00\x02\xff4\xff",
            b"\x00\x01\xff6\x07",
        ];
        let cases = text
            .iter()
            .map(|b| (b, PayloadForm::Text, Framing::V3Text))
            .chain(
                binary
                    .iter()
                    .map(|b| (b, PayloadForm::Binary, Framing::V3Binary)),
            );
        for (body, form, framing) in cases {
            assert!(v3::decode(body, form, 1000).is_err(), "{body:?}");
            for step in [1, 3, 100] {
                let err = all_v3(body, framing, step, limits(100, 1000)).unwrap_err();
                assert_eq!(err.kind(), ErrorKind::Decode, "{body:?} {step}");
            }
        }
    }

    #[test]
    fn v3_limits_hold_whatever_the_chunking() {
        for step in [1, 3, 1 << 20] {
            // A length over the packet limit is refused before the packet is read,
            // and a long run of digits after as many as the limit has.
            for (body, form) in [
                (&b"11:4aaaaaaaaaa"[..], Framing::V3Text),
                (b"\x00\x01\x01\xff4aaaaaaaaaa", Framing::V3Binary),
                (
                    b"0000000000000000000000000000000000000001:6",
                    Framing::V3Text,
                ),
            ] {
                let err = all_v3(body, form, step, limits(5, 1000)).unwrap_err();
                assert!(err.to_string().contains("packet"), "{err}");
            }
            // UTF-16 units within the limit, bytes over it.
            let err =
                all_v3("4:4€€€".as_bytes(), Framing::V3Text, step, limits(5, 1000)).unwrap_err();
            assert!(err.to_string().contains("packet"), "{err}");
            // A body over the body limit.
            let err = all_v3(b"2:4a2:4b2:4c", Framing::V3Text, step, limits(5, 8)).unwrap_err();
            assert!(err.to_string().contains("response"), "{err}");
            // Too many control packets, but any number of messages.
            let noops = "1:6".repeat(MAX_CONTROL_PACKETS + 1);
            let err = all_v3(noops.as_bytes(), Framing::V3Text, step, limits(5, 1000)).unwrap_err();
            assert!(err.to_string().contains("other than messages"), "{err}");
            let messages = "1:4".repeat(100);
            assert_eq!(
                all_v3(messages.as_bytes(), Framing::V3Text, step, limits(5, 1000))
                    .unwrap()
                    .len(),
                100
            );
        }
        // A message over the message limit, though its packet fits.
        let l = Limits {
            message: 3,
            packet: 10,
            body: 100,
        };
        assert!(all_v3(b"5:4abcd", Framing::V3Text, 100, l).is_err());
        assert!(all_v3(
            b"\x01\x05\xff\x04\x01\x02\x03\x04",
            Framing::V3Binary,
            100,
            l
        )
        .is_err());
        assert!(all_v3(b"4:4abc", Framing::V3Text, 100, l).is_ok());
    }

    #[test]
    fn v3_body_limit_leaves_room_for_length_prefixes() {
        let options = crate::client::Client::builder("http://h")
            .protocol(ProtocolVersion::V3)
            .max_message_bytes(100_000)
            .options;
        let config = Config::new(options).unwrap();
        let handshake = Handshake {
            sid: "s".into(),
            upgrades: vec![],
            ping_interval: 1,
            ping_timeout: 1,
            max_payload: 100_000,
        };
        let l = Limits::new(&config, &handshake);
        let full = Packet::binary(vec![0u8; 100_000]);
        let sixteen = vec![full; POLL_PACKETS as usize];
        for b64 in [true, false] {
            let len = v3::encoded_len(&sixteen, b64) as u64;
            assert!(len <= l.body, "{len} > {}", l.body);
        }
    }

    #[test]
    fn the_packet_limit_carries_a_full_message_in_base64() {
        let config = crate::client::config::tests::config("http://h");
        let handshake = Handshake {
            sid: "s".into(),
            upgrades: vec![],
            ping_interval: 1,
            ping_timeout: 1,
            max_payload: 100_000,
        };
        let l = Limits::new(&config, &handshake);
        // Messages larger than the server's maxPayload are normal: 16 MiB at least.
        assert_eq!(l.message, 16 << 20);
        let packet = Packet::binary(vec![0u8; 16 << 20]).encode();
        assert!(packet.len() <= l.packet, "{} > {}", packet.len(), l.packet);
        // A response: 16 packets of maxPayload, or one of the largest message.
        let small = Packet::binary(vec![0u8; 100_000]).encode().len() as u64;
        assert!(l.body >= POLL_PACKETS * small);
        assert!(l.body >= l.packet as u64);
        assert!(l.body < l.packet as u64 + POLL_PACKETS * small);
        // Set explicitly, the limit is the option's.
        let set = Config::new(
            crate::client::Client::builder("http://h")
                .max_message_bytes(100_000)
                .options,
        )
        .unwrap();
        let l = Limits::new(&set, &handshake);
        assert_eq!(l.message, 100_000);
        assert!(l.body >= POLL_PACKETS * l.packet as u64);
        // Absurd values are kept within bounds.
        for (advertised, want) in [(0, 16 << 20), (1, 16 << 20), (u64::MAX, 64 << 20)] {
            let h = Handshake {
                max_payload: advertised,
                ..handshake.clone()
            };
            assert_eq!(Limits::new(&config, &h).message, want, "{advertised}");
        }
    }
}
