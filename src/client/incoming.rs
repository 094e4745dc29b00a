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
//! response never sits whole in memory, and counts bytes and packets as it goes.
//!
//! [`ClientBuilder::max_message_bytes`]: crate::client::ClientBuilder::max_message_bytes
//! [`ClientBuilder::max_ping_interval`]: crate::client::ClientBuilder::max_ping_interval
//! [`ClientBuilder::max_ping_timeout`]: crate::client::ClientBuilder::max_ping_timeout

use std::io::{self, Read};
use std::time::Duration;

use crate::client::config::Config;
use crate::packet::{Handshake, Message, Packet};
use crate::payload::SEPARATOR;
use crate::{Error, ErrorKind, Result};

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
        // Up to 16 packets of the server's own size, or one of the largest message.
        let batch = wire_len(config.max_message.unwrap_or(advertised)) as u64 * POLL_PACKETS;
        Limits {
            message,
            packet,
            body: batch.max(packet as u64) + (POLL_PACKETS - 1),
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

/// Decodes a polling payload from a body as it arrives (packets joined by `\x1e`),
/// within [`Limits`]: a packet over the packet limit, a body over the body limit, or
/// more than [`MAX_CONTROL_PACKETS`] packets that are not messages is an error, as is
/// anything [`payload::decode`](crate::payload::decode) refuses (an empty body, an
/// empty packet, a trailing separator, a malformed packet). Packets before the fault
/// have been returned by then.
pub(crate) struct PayloadReader<R> {
    source: R,
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
    pub(crate) fn new(source: R, limits: Limits) -> PayloadReader<R> {
        PayloadReader {
            source,
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
        let packet = self.next_segment(|bytes| {
            let text = std::str::from_utf8(bytes)
                .map_err(|_| Error::new(ErrorKind::Decode, "payload is not valid UTF-8"))?;
            let packet = Packet::decode(text)?;
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
        f: impl FnOnce(&[u8]) -> Result<T>,
    ) -> Result<Option<T>> {
        if self.finished {
            return Ok(None);
        }
        let result = self.segment_into(f);
        if let Ok(Some(_)) = &result {
            self.packets += 1;
        }
        result
    }

    fn segment_into<T>(&mut self, f: impl FnOnce(&[u8]) -> Result<T>) -> Result<Option<T>> {
        loop {
            let available = &self.chunk[self.start..self.end];
            if let Some(i) = available.iter().position(|&b| b == SEPARATOR) {
                let bytes = &self.chunk[self.start..self.start + i];
                self.start += i + 1;
                if self.segment.is_empty() {
                    check_segment(bytes, self.limits.packet)?;
                    return f(bytes).map(Some);
                }
                append(&mut self.segment, bytes, self.limits.packet)?;
                check_segment(&self.segment, self.limits.packet)?;
                let result = f(&self.segment);
                self.segment.clear();
                return result.map(Some);
            }
            append(&mut self.segment, available, self.limits.packet)?;
            self.start = self.end;
            let n = loop {
                match self.source.read(&mut self.chunk) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    other => break other.map_err(io_error)?,
                }
            };
            if n == 0 {
                self.finished = true;
                if self.packets == 0 && self.segment.is_empty() {
                    return Err(Error::new(ErrorKind::Decode, "empty payload"));
                }
                check_segment(&self.segment, self.limits.packet)?;
                let result = f(&self.segment);
                self.segment = Vec::new();
                return result.map(Some);
            }
            self.total += n as u64;
            if self.total > self.limits.body {
                return Err(too_large("response", self.total, self.limits.body));
            }
            self.start = 0;
            self.end = n;
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
