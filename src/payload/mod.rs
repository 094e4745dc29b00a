//! Engine.IO polling payloads: several packets in one HTTP body.
//!
//! This module holds the v4 payload; [`v3`] holds the two v3 forms (length-prefixed
//! text, and binary), and [`jsonp`] the JSONP wrapping of either version's text form.
//!
//! A payload is one or more packets in their text form ([`Packet::encode`]) joined by
//! the record separator `\x1e` ([`SEPARATOR`]), with no length prefix and no trailing
//! separator: `4hello\x1e2\x1ebAQIDBA==` is the text `hello`, a ping and the bytes
//! `01 02 03 04`. Binary messages are always `b` + base64 inside a payload.
//!
//! Decoding is strict and all-or-nothing: an empty body, an empty segment or a
//! trailing separator is an error, and if any segment is malformed no packet of the
//! payload is returned. There is no limit on the number of packets; the caller limits
//! the body's size (`maxPayload`) before decoding.
//!
//! # U+001E in text messages
//!
//! The protocol has no escape for the separator: a text message containing U+001E
//! cannot cross v4 polling intact (the receiver would split it in two). It travels
//! fine over WebSocket. [`encode`] does not check for it — the server checks when a
//! message is queued for a polling session — but [`fits_polling`] tells whether a
//! message can be carried.
//!
//! ```
//! use engineio::packet::Packet;
//! use engineio::payload;
//!
//! let packets = vec![Packet::text("hello"), Packet::Ping(String::new()), Packet::binary(vec![1, 2, 3, 4])];
//! let mut body = Vec::new();
//! payload::encode(&packets, &mut body);
//! assert_eq!(body, b"4hello\x1e2\x1ebAQIDBA==");
//! assert_eq!(payload::decode(&body)?, packets);
//! # Ok::<(), engineio::Error>(())
//! ```

use crate::error::{Error, ErrorKind, Result};
use crate::packet::{Message, Packet};

pub mod jsonp;
pub mod v3;

/// The byte between two packets of a payload: the ASCII record separator.
///
/// ```
/// use engineio::payload::SEPARATOR;
///
/// assert_eq!(SEPARATOR, b'\x1e');
/// ```
pub const SEPARATOR: u8 = 0x1e;

/// Appends the payload of `packets` to `out`: their text forms joined by [`SEPARATOR`],
/// with no trailing separator.
///
/// No packets append nothing, which is not a valid payload: send at least one.
/// Text containing U+001E is written as is and will not survive (see the
/// [module docs](self) and [`fits_polling`]).
///
/// ```
/// use engineio::packet::Packet;
/// use engineio::payload;
///
/// let mut body = Vec::new();
/// payload::encode([&Packet::Noop, &Packet::text("a")], &mut body);
/// assert_eq!(body, b"6\x1e4a");
/// ```
pub fn encode<'a>(packets: impl IntoIterator<Item = &'a Packet>, out: &mut Vec<u8>) {
    for (i, packet) in packets.into_iter().enumerate() {
        if i > 0 {
            out.push(SEPARATOR);
        }
        packet.encode_into(out);
    }
}

/// The exact length in bytes of the payload [`encode`] would write for `packets`,
/// computed without encoding.
///
/// ```
/// use engineio::packet::Packet;
/// use engineio::payload;
///
/// let packets = [Packet::text("hello"), Packet::binary(vec![1, 2, 3, 4])];
/// assert_eq!(payload::encoded_len(&packets), "4hello\x1ebAQIDBA==".len());
/// assert_eq!(payload::encoded_len(&[]), 0);
/// ```
pub fn encoded_len<'a>(packets: impl IntoIterator<Item = &'a Packet>) -> usize {
    let mut len = 0;
    for (i, packet) in packets.into_iter().enumerate() {
        if i > 0 {
            len += 1;
        }
        len += packet.encoded_len();
    }
    len
}

/// Decodes a payload body: checks that it is UTF-8, then decodes it as [`decode_str`].
///
/// # Errors
///
/// An error of kind [`ErrorKind::Decode`] for invalid UTF-8, and for everything
/// [`decode_str`] rejects. No packet is returned then: the sender is misbehaving.
///
/// ```
/// use engineio::packet::Packet;
/// use engineio::{payload, ErrorKind};
///
/// assert_eq!(payload::decode(b"4a\x1e3")?, [Packet::text("a"), Packet::Pong(String::new())]);
/// assert_eq!(payload::decode(b"4\xff").unwrap_err().kind(), ErrorKind::Decode);
/// # Ok::<(), engineio::Error>(())
/// ```
pub fn decode(body: &[u8]) -> Result<Vec<Packet>> {
    let text = std::str::from_utf8(body)
        .map_err(|_| Error::new(ErrorKind::Decode, "payload is not valid UTF-8"))?;
    decode_str(text)
}

/// Decodes a payload: splits it on every `\x1e` and decodes each segment with
/// [`Packet::decode`].
///
/// # Errors
///
/// An error of kind [`ErrorKind::Decode`] for an empty body, an empty segment
/// (`4a\x1e\x1e4b`), a trailing separator, or any segment that is not a valid packet.
/// Decoding is all-or-nothing: on error, no packet is returned.
///
/// ```
/// use engineio::packet::Packet;
/// use engineio::payload;
///
/// assert_eq!(payload::decode_str("4hello\u{1e}2")?, [Packet::text("hello"), Packet::Ping(String::new())]);
/// assert!(payload::decode_str("4hello\u{1e}").is_err());
/// assert!(payload::decode_str("").is_err());
/// # Ok::<(), engineio::Error>(())
/// ```
pub fn decode_str(body: &str) -> Result<Vec<Packet>> {
    if body.is_empty() {
        return Err(Error::new(ErrorKind::Decode, "empty payload"));
    }
    let separator = char::from(SEPARATOR);
    let count = body.bytes().filter(|&b| b == SEPARATOR).count() + 1;
    let mut packets = Vec::with_capacity(count);
    for segment in body.split(separator) {
        if segment.is_empty() {
            return Err(Error::new(ErrorKind::Decode, "empty packet in payload"));
        }
        packets.push(Packet::decode(segment)?);
    }
    Ok(packets)
}

/// Whether `msg` can be carried in a v4 polling payload: binary always can, text only
/// if it does not contain U+001E (the separator, which has no escape).
///
/// ```
/// use engineio::packet::Message;
/// use engineio::payload::fits_polling;
///
/// assert!(fits_polling(&Message::from("hello")));
/// assert!(fits_polling(&Message::from(vec![0x1e])));
/// assert!(!fits_polling(&Message::from("a\u{1e}b")));
/// ```
pub fn fits_polling(msg: &Message) -> bool {
    match msg {
        Message::Text(text) => !text.as_bytes().contains(&SEPARATOR),
        Message::Binary(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::tests::{any_message, any_packet};
    use proptest::prelude::*;

    fn encoded(packets: &[Packet]) -> Vec<u8> {
        let mut out = Vec::new();
        encode(packets, &mut out);
        assert_eq!(out.len(), encoded_len(packets));
        out
    }

    fn decode_fails(body: &[u8]) {
        let err = decode(body).expect_err(&String::from_utf8_lossy(body));
        assert_eq!(err.kind(), ErrorKind::Decode, "{body:?}");
    }

    /// Item 16 (L1, L2): packets join with `\x1e`, no trailing separator; binary is base64.
    #[test]
    fn l1_join_with_separator_round_trips() {
        let packets = vec![
            Packet::text("hello"),
            Packet::Ping(String::new()),
            Packet::binary(vec![1, 2, 3, 4]),
        ];
        let body = b"4hello\x1e2\x1ebAQIDBA==";
        assert_eq!(encoded(&packets), body);
        assert_eq!(decode(body).unwrap(), packets);
        assert_eq!(decode_str("4hello\u{1e}2\u{1e}bAQIDBA==").unwrap(), packets);
        // One packet: no separator at all.
        assert_eq!(encoded(&[Packet::Noop]), b"6");
        assert_eq!(decode(b"6").unwrap(), [Packet::Noop]);
        // Empty messages are fine segments.
        assert_eq!(
            decode(b"4\x1eb\x1e4").unwrap(),
            [Packet::text(""), Packet::binary(vec![]), Packet::text("")]
        );
        assert!(encoded(&[]).is_empty());
    }

    /// Item 17 (L3): an empty body, an empty segment, a trailing or leading separator fail.
    #[test]
    fn l3_empty_body_segment_and_trailing_separator_fail() {
        for body in [
            &b""[..],
            b"\x1e",
            b"4a\x1e\x1e4b",
            b"4a\x1e",
            b"\x1e4a",
            b"4a\x1e\x1e",
        ] {
            decode_fails(body);
        }
        assert!(decode_str("").is_err());
        assert!(decode_str("4a\u{1e}").is_err());
    }

    /// Item 18 (L4): a bad segment anywhere rejects the whole payload.
    #[test]
    fn l4_bad_segment_rejects_all() {
        for body in [
            &b"9\x1e4a\x1e4b"[..],
            b"4a\x1ex\x1e4b",
            b"4a\x1e4b\x1eb!!!",
            b"4a\x1e4\xff\x1e4b",
        ] {
            decode_fails(body);
        }
    }

    /// Item 19 (L5): no packet-count limit; 1000 packets are all accepted.
    #[test]
    fn l5_thousand_packets_accepted() {
        let packets: Vec<Packet> = (0..1000)
            .map(|i| {
                if i % 2 == 0 {
                    Packet::text(i.to_string())
                } else {
                    Packet::binary(vec![i as u8; 3])
                }
            })
            .collect();
        let body = encoded(&packets);
        assert_eq!(body.iter().filter(|&&b| b == SEPARATOR).count(), 999);
        assert_eq!(decode(&body).unwrap(), packets);
    }

    /// L6: U+001E cannot cross polling; `fits_polling` says so and `encode` does not check.
    #[test]
    fn l6_separator_in_text_does_not_fit() {
        let message = Message::from("a\u{1e}4b");
        assert!(!fits_polling(&message));
        assert!(fits_polling(&Message::from("a")));
        assert!(fits_polling(&Message::from(vec![SEPARATOR])));
        let body = encoded(&[Packet::Message(message)]);
        // The receiver sees two packets: why the server refuses to queue such text.
        assert_eq!(
            decode(&body).unwrap(),
            [Packet::text("a"), Packet::text("b")]
        );
        // A single packet (a WebSocket text frame) carries it fine.
        assert_eq!(
            Packet::decode("4a\u{1e}4b").unwrap(),
            Packet::text("a\u{1e}4b")
        );
    }

    /// K6 and item 13 inside payloads: verbatim, byte-exact text.
    #[test]
    fn payload_text_is_verbatim_and_byte_exact() {
        let body = "4true\u{1e}4123\u{1e}4{\"a\":1}\u{1e}4héllo €\u{1e}3probe\u{1e}52";
        let packets = decode_str(body).unwrap();
        assert_eq!(
            packets,
            [
                Packet::text("true"),
                Packet::text("123"),
                Packet::text("{\"a\":1}"),
                Packet::text("héllo €"),
                Packet::Pong("probe".into()),
                Packet::Upgrade,
            ]
        );
        let mut out = Vec::new();
        encode(&packets[..5], &mut out);
        assert_eq!(out, &body.as_bytes()[..body.len() - 3]);
    }

    proptest! {
        #[test]
        fn prop_payload_round_trips(packets in proptest::collection::vec(any_packet(false), 1..20)) {
            let body = encoded(&packets);
            prop_assert_eq!(decode(&body).unwrap(), packets.clone());
            prop_assert_eq!(decode_str(std::str::from_utf8(&body).unwrap()).unwrap(), packets);
        }

        #[test]
        fn prop_fits_polling_means_single_packet(message in any_message(true)) {
            let fits = fits_polling(&message);
            let body = encoded(&[Packet::Message(message.clone())]);
            let decoded = decode(&body);
            if fits {
                prop_assert_eq!(decoded.unwrap(), vec![Packet::Message(message)]);
            } else {
                prop_assert_ne!(decoded.ok(), Some(vec![Packet::Message(message)]));
            }
        }

        /// Item 15: no panic on arbitrary bytes.
        #[test]
        fn prop_decode_never_panics(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode(&body);
        }

        #[test]
        fn prop_decode_str_never_panics(body in any::<String>()) {
            if let Ok(packets) = decode_str(&body) {
                prop_assert!(!packets.is_empty());
            }
        }

        #[test]
        fn prop_decode_plausible_payloads(body in "([0-6b][A-Za-z0-9+/=é]{0,8}\u{1e}?){1,8}") {
            if let Ok(packets) = decode_str(&body) {
                let again = encoded(&packets);
                prop_assert_eq!(decode(&again).unwrap(), packets);
            }
        }
    }
}
