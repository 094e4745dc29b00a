//! Engine.IO v3 polling payloads, in their two forms, and the v3 forms of one packet.
//!
//! **Text form** (protocol.md V4, V5): each packet is `<len>:<packet>`, with no
//! separator, where `len` is the length of the packet's text in **UTF-16 code units**
//! (what JavaScript's `String.length` says), not bytes and not chars:
//! `6:4hello2:4€` (`€` is one unit), `3:4😀` (`😀` is two). Binary messages are
//! written `b` + the type digit + padded standard base64, and `len` counts that whole
//! string: `10:b4AQIDBA==` is the message `01 02 03 04`.
//!
//! **Binary form** (V6): each packet is a marker byte (`00` string, `01` binary), the
//! decimal digits of its length as byte values `00`–`09`, the byte `ff`, then the
//! packet. A string packet is the type digit and its data as UTF-8, its length in
//! bytes; a binary packet is a type byte (`04`, message) followed by the data.
//! `4hello` then the bytes `01 02 03 04` is
//! `00 06 ff 34 68 65 6c 6c 6f 01 05 ff 04 01 02 03 04`.
//!
//! A response ([`encode`]) is in the binary form when it holds a binary message and the
//! session is not in base64 mode (its handshake carried a non-empty `b64`); otherwise
//! in the text form. [`PayloadForm`] says which, and its content type. A request body
//! may come in either form; its `Content-Type` says which
//! ([`PayloadForm::from_content_type`], V7).
//!
//! ```
//! use engineio::packet::Packet;
//! use engineio::payload::v3::{self, PayloadForm};
//!
//! let packets = [Packet::text("hello"), Packet::binary(vec![1, 2, 3, 4])];
//! let mut body = Vec::new();
//! assert_eq!(v3::encode(&packets, false, &mut body), PayloadForm::Binary);
//! assert_eq!(body, b"\x00\x06\xff4hello\x01\x05\xff\x04\x01\x02\x03\x04");
//! assert_eq!(v3::decode(&body, PayloadForm::Binary, 1_000_000)?, packets);
//!
//! body.clear();
//! assert_eq!(v3::encode(&packets, true, &mut body), PayloadForm::Text);
//! assert_eq!(body, b"6:4hello10:b4AQIDBA==");
//! assert_eq!(v3::decode(&body, PayloadForm::Text, 1_000_000)?, packets);
//! # Ok::<(), engineio::Error>(())
//! ```
//!
//! # Decoding is strict
//!
//! Every framing fault is a [`Decode`](ErrorKind::Decode) error for the whole payload,
//! and no packet of it is returned (V8): a missing `:` or `ff`, a length that is empty,
//! not decimal, or has more digits than `max_payload` has, a length running past the
//! end of the body (or, in the text form, ending inside a surrogate pair), a marker
//! other than `00`/`01`, and any packet that does not decode. Decoders always advance,
//! never panic, and do work and allocate memory in proportion to the body's size.
//!
//! # Edge cases, decided
//!
//! protocol.md decides where it is explicit; where it is silent we follow the
//! reference server (`engine.io` 6.6, whose v3 parser is `engine.io-parser` 2.2), and
//! where the reference is lenient in ways protocol.md forbids, we are strict:
//!
//! | input | here | reference |
//! |---|---|---|
//! | text form, empty body | error | error |
//! | text form, zero-length packet (`0:`, `0:1:6`) | skipped: `0:` is no packets | skipped; its encoder writes `0:` for no packets |
//! | binary form, empty body | no packets | no packets; its encoder writes nothing for no packets |
//! | binary form, zero-length packet (`00 00 ff`, `01 00 ff`) | error | error for `00`; a typeless packet, ignored, for `01` |
//! | length with leading zeros (`01:4`) | accepted, within the digit limit | accepted |
//! | length that is not plain decimal (` 1`, `0x1`, `1e0`) | error | accepted (JavaScript `Number`) |
//! | length digit byte above `09` in the binary form | error | read as its decimal text (`0c` as `12`) |
//! | length past the end of the body | error | text: error; binary: silently cut short |
//! | marker other than `00`/`01` | error | any non-zero byte means binary |
//! | binary data on a packet other than a message (`b2AQID`, `01 02 ff 02 01`) | error: only messages carry binary (K4) | a ping (or other) carrying a buffer |
//! | unknown type byte in a binary packet (`01 01 ff 09`) | error | a typeless packet, ignored |
//! | text length that ends inside a surrogate pair (`2:4😀`) | error | error, after delivering half the pair |
//! | string packet in the binary form that is not UTF-8 | error | error (WTF-8 surrogates are let through; Rust strings cannot hold them) |
//! | a `b4…` string packet inside the binary form | a base64 binary message | the same |
//! | a fault after good packets | nothing delivered | the good packets before the fault are delivered |
//! | base64 after `b4` | padded or not (as K2) | anything Node's `Buffer.from(…, "base64")` swallows |
//!
//! Lengths are counted against `max_payload` by their number of digits (V8), not their
//! value: with `max_payload` 1,000,000 a length has at most 7 digits. The caller keeps
//! the body itself within `max_payload` before decoding.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;

use crate::error::{Error, ErrorKind, Result};
use crate::packet::{Message, Packet, PacketType, LENIENT_BASE64};

/// Binary form: the marker of a packet in its text form (type digit + UTF-8).
const STRING_MARKER: u8 = 0x00;
/// Binary form: the marker of a packet in its binary form (type byte + data).
const BINARY_MARKER: u8 = 0x01;
/// Binary form: the byte that ends a packet's length digits.
const LENGTH_END: u8 = 0xff;
/// The type byte of a message in a binary packet or a v3 binary WebSocket frame.
const MESSAGE_TYPE: u8 = 4;

fn decode_error(message: &str) -> Error {
    Error::new(ErrorKind::Decode, message)
}

/// Length of padded standard base64 for `n` bytes.
fn base64_len(n: usize) -> usize {
    // A slice is at most isize::MAX bytes long, so neither step overflows.
    n.div_ceil(3) * 4
}

/// The number of UTF-16 code units in `text` (JavaScript's `String.length`).
fn utf16_len(text: &str) -> usize {
    // Every char starts with a non-continuation byte; chars of four UTF-8 bytes (lead
    // byte 0xF0 and above) are the ones that need a surrogate pair.
    text.bytes()
        .map(|b| usize::from((b & 0xc0) != 0x80) + usize::from(b >= 0xf0))
        .sum()
}

/// The byte length of the prefix of `text` that is exactly `units` UTF-16 code units
/// long; `None` if `text` is shorter, or if that many units would end inside a
/// surrogate pair.
fn utf16_prefix(text: &str, units: usize) -> Option<usize> {
    // A char never takes more UTF-16 units than UTF-8 bytes.
    if units > text.len() {
        return None;
    }
    let mut counted = 0;
    for (at, c) in text.char_indices() {
        if counted >= units {
            return (counted == units).then_some(at);
        }
        counted += c.len_utf16();
    }
    (counted == units).then_some(text.len())
}

/// The number of decimal digits of `n` (1 for 0).
fn digit_count(mut n: usize) -> usize {
    let mut digits = 1;
    while n >= 10 {
        n /= 10;
        digits += 1;
    }
    digits
}

/// Appends the decimal digits of `n`, as ASCII (`b'0'`) or as values (`0`) by `zero`.
fn push_decimal(out: &mut Vec<u8>, n: usize, zero: u8) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = n;
    loop {
        at -= 1;
        digits[at] = zero + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend(digits[at..].iter());
}

/// Reads a length's decimal digits from `body` at `*pos` up to `end`, moving `*pos` to
/// the terminator; digits are ASCII (`zero` = `b'0'`) or byte values (`zero` = 0).
fn read_length(
    body: &[u8],
    pos: &mut usize,
    end: u8,
    zero: u8,
    max_digits: usize,
) -> Result<usize> {
    let start = *pos;
    let mut length: usize = 0;
    loop {
        match body.get(*pos) {
            None => {
                return Err(decode_error(if end == b':' {
                    "payload packet length without ':'"
                } else {
                    "payload packet length without 0xff"
                }))
            }
            Some(&b) if b == end => break,
            Some(&b) if b.wrapping_sub(zero) <= 9 => {
                if *pos - start == max_digits {
                    return Err(decode_error("payload packet length has too many digits"));
                }
                length = length
                    .checked_mul(10)
                    .and_then(|l| l.checked_add(usize::from(b - zero)))
                    .ok_or_else(|| decode_error("payload packet length too large"))?;
                *pos += 1;
            }
            Some(_) => return Err(decode_error("payload packet length is not decimal")),
        }
    }
    if *pos == start {
        return Err(decode_error("payload packet length is empty"));
    }
    *pos += 1;
    Ok(length)
}

/// The form of a v3 polling payload, and so the `Content-Type` of the HTTP body
/// that carries it.
///
/// ```
/// use engineio::payload::v3::PayloadForm;
///
/// assert_eq!(PayloadForm::Binary.content_type(), "application/octet-stream");
/// assert_eq!(PayloadForm::Text.content_type(), "text/plain; charset=UTF-8");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PayloadForm {
    /// `<len>:<packet>…`, binary messages as `b4`+base64 (V4, V5).
    Text,
    /// Marker, length digits, `ff`, packet (V6).
    Binary,
}

impl PayloadForm {
    /// The `Content-Type` of a body in this form: `text/plain; charset=UTF-8` or
    /// `application/octet-stream`.
    ///
    /// ```
    /// use engineio::payload::v3::PayloadForm;
    ///
    /// assert_eq!(PayloadForm::Text.content_type(), "text/plain; charset=UTF-8");
    /// ```
    pub fn content_type(self) -> &'static str {
        match self {
            PayloadForm::Text => "text/plain; charset=UTF-8",
            PayloadForm::Binary => "application/octet-stream",
        }
    }

    /// The form of a request body from its `Content-Type` header, if any (V7): the
    /// binary form for the media type `application/octet-stream` (any case,
    /// parameters ignored), the text form for anything else or no header.
    ///
    /// ```
    /// use engineio::payload::v3::PayloadForm;
    ///
    /// assert_eq!(PayloadForm::from_content_type(Some("application/octet-stream")), PayloadForm::Binary);
    /// assert_eq!(PayloadForm::from_content_type(Some(" Application/Octet-Stream; x=1")), PayloadForm::Binary);
    /// assert_eq!(PayloadForm::from_content_type(Some("text/plain;charset=UTF-8")), PayloadForm::Text);
    /// assert_eq!(PayloadForm::from_content_type(None), PayloadForm::Text);
    /// ```
    pub fn from_content_type(content_type: Option<&str>) -> PayloadForm {
        let media_type = content_type
            .and_then(|value| value.split(';').next())
            .map(str::trim);
        match media_type {
            Some(t) if t.eq_ignore_ascii_case("application/octet-stream") => PayloadForm::Binary,
            _ => PayloadForm::Text,
        }
    }
}

/// The data written after the type digit of a packet that is not a binary message.
fn text_data(packet: &Packet) -> &str {
    match packet {
        Packet::Open(data) | Packet::Ping(data) | Packet::Pong(data) => data,
        Packet::Message(Message::Text(text)) => text,
        Packet::Message(Message::Binary(_)) | Packet::Close | Packet::Upgrade | Packet::Noop => "",
    }
}

/// The v3 text form of one packet: as v4's ([`Packet::encode`]), except that a binary
/// message is `b4` + padded standard base64 (V5). This is what a v3 text WebSocket
/// frame and each packet of a text-form payload carry.
///
/// ```
/// use engineio::packet::Packet;
/// use engineio::payload::v3;
///
/// assert_eq!(v3::encode_packet(&Packet::binary(vec![1, 2, 3, 4])), "b4AQIDBA==");
/// assert_eq!(v3::encode_packet(&Packet::text("hé")), "4hé");
/// ```
pub fn encode_packet(packet: &Packet) -> String {
    match packet {
        Packet::Message(Message::Binary(data)) => {
            let mut out = String::with_capacity(2 + base64_len(data.len()));
            out.push_str("b4");
            STANDARD.encode_string(data, &mut out);
            out
        }
        _ => packet.encode(),
    }
}

/// Appends the v3 text form of `packet` ([`encode_packet`]) to `out`.
///
/// ```
/// use engineio::packet::Packet;
/// use engineio::payload::v3;
///
/// let mut out = Vec::new();
/// v3::encode_packet_into(&Packet::binary(vec![1, 2, 3]), &mut out);
/// assert_eq!(out, b"b4AQID");
/// ```
pub fn encode_packet_into(packet: &Packet, out: &mut Vec<u8>) {
    match packet {
        Packet::Message(Message::Binary(data)) => {
            out.extend_from_slice(b"b4");
            let start = out.len();
            out.resize(start + base64_len(data.len()), 0);
            // The buffer is sized exactly, so this cannot fail; if it somehow did,
            // drop the partial output rather than panic.
            let written = STANDARD.encode_slice(data, &mut out[start..]).unwrap_or(0);
            out.truncate(start + written);
        }
        _ => packet.encode_into(out),
    }
}

/// The length in bytes of the v3 text form of `packet`, computed without encoding.
///
/// ```
/// use engineio::packet::Packet;
/// use engineio::payload::v3;
///
/// assert_eq!(v3::encoded_packet_len(&Packet::binary(vec![1, 2, 3, 4])), "b4AQIDBA==".len());
/// assert_eq!(v3::encoded_packet_len(&Packet::text("€")), 4);
/// ```
pub fn encoded_packet_len(packet: &Packet) -> usize {
    match packet {
        Packet::Message(Message::Binary(data)) => 2 + base64_len(data.len()),
        _ => packet.encoded_len(),
    }
}

/// The length of the v3 text form of `packet` in UTF-16 code units: the `len` of
/// the text form's `<len>:<packet>`.
fn packet_utf16_len(packet: &Packet) -> usize {
    match packet {
        // `b4` and base64 are ASCII: one unit a byte.
        Packet::Message(Message::Binary(data)) => 2 + base64_len(data.len()),
        _ => 1 + utf16_len(text_data(packet)),
    }
}

/// Decodes the v3 text form of one packet: as [`Packet::decode`], except that `b`
/// is followed by the type digit, which must be `4` (only messages carry binary), and
/// then base64, padded or not.
///
/// # Errors
///
/// An error of kind [`ErrorKind::Decode`] for everything [`Packet::decode`] rejects,
/// for `b` followed by anything but `4`, and for invalid base64.
///
/// ```
/// use engineio::packet::Packet;
/// use engineio::payload::v3;
///
/// assert_eq!(v3::decode_packet("b4AQIDBA==")?, Packet::binary(vec![1, 2, 3, 4]));
/// assert_eq!(v3::decode_packet("4hello")?, Packet::text("hello"));
/// assert!(v3::decode_packet("bAQIDBA==").is_err()); // the v4 form has no type digit
/// assert!(v3::decode_packet("b2AQID").is_err()); // binary data on a ping
/// # Ok::<(), engineio::Error>(())
/// ```
pub fn decode_packet(text: &str) -> Result<Packet> {
    let Some(base64) = text.strip_prefix('b') else {
        return Packet::decode(text);
    };
    match base64.as_bytes().first() {
        Some(&MESSAGE_TYPE_DIGIT) => {
            let data = LENIENT_BASE64
                .decode(&base64[1..])
                .map_err(|_| decode_error("invalid base64 in binary message"))?;
            Ok(Packet::binary(data))
        }
        Some(&digit) if PacketType::from_digit(digit).is_some() => Err(decode_error(
            "binary data on a packet that is not a message",
        )),
        Some(_) => Err(decode_error("unknown packet type")),
        None => Err(decode_error("binary packet without a type")),
    }
}

/// The ASCII type digit of a message.
const MESSAGE_TYPE_DIGIT: u8 = b'4';

/// Decodes a packet in its v3 binary form: a type byte, which must be `04` (only
/// messages carry binary), then the message's bytes. This is what a v3 binary
/// WebSocket frame carries (V9) and what follows a `01` marker in a binary-form
/// payload.
///
/// # Errors
///
/// An error of kind [`ErrorKind::Decode`] for no bytes at all, or a type byte other
/// than `04`.
///
/// ```
/// use engineio::bytes::Bytes;
/// use engineio::packet::Packet;
/// use engineio::payload::v3;
///
/// let frame = Bytes::from_static(&[4, 1, 2, 3, 4]);
/// assert_eq!(v3::decode_binary_packet(frame)?, Packet::binary(vec![1, 2, 3, 4]));
/// assert_eq!(v3::decode_binary_packet(Bytes::from_static(&[4]))?, Packet::binary(vec![]));
/// assert!(v3::decode_binary_packet(Bytes::new()).is_err());
/// assert!(v3::decode_binary_packet(Bytes::from_static(&[2, 1])).is_err());
/// # Ok::<(), engineio::Error>(())
/// ```
pub fn decode_binary_packet(data: Bytes) -> Result<Packet> {
    match data.first() {
        Some(&MESSAGE_TYPE) => Ok(Packet::binary(data.slice(1..))),
        Some(&b) if b <= 6 => Err(decode_error(
            "binary data on a packet that is not a message",
        )),
        Some(_) => Err(decode_error("unknown packet type")),
        None => Err(decode_error("empty packet")),
    }
}

/// The form a response holding `packets` takes (V6): [`PayloadForm::Binary`] when one
/// of them is a binary message and the session is not in base64 mode (`b64`), else
/// [`PayloadForm::Text`].
///
/// ```
/// use engineio::packet::Packet;
/// use engineio::payload::v3::{self, PayloadForm};
///
/// let packets = [Packet::text("a"), Packet::binary(vec![1])];
/// assert_eq!(v3::form_of(&packets, false), PayloadForm::Binary);
/// assert_eq!(v3::form_of(&packets, true), PayloadForm::Text);
/// assert_eq!(v3::form_of(&packets[..1], false), PayloadForm::Text);
/// ```
pub fn form_of<'a>(packets: impl IntoIterator<Item = &'a Packet>, b64: bool) -> PayloadForm {
    let has_binary = packets
        .into_iter()
        .any(|p| matches!(p, Packet::Message(Message::Binary(_))));
    if has_binary && !b64 {
        PayloadForm::Binary
    } else {
        PayloadForm::Text
    }
}

/// Appends the response payload of `packets` to `out`, in the form [`form_of`] picks,
/// and returns that form: the caller sends its
/// [`content_type`](PayloadForm::content_type).
///
/// With no packets this writes `0:` (the text form of nothing, as the reference
/// writes it); a polling response should carry at least one packet.
///
/// ```
/// use engineio::packet::Packet;
/// use engineio::payload::v3::{self, PayloadForm};
///
/// let mut body = Vec::new();
/// assert_eq!(v3::encode(&[Packet::Noop], false, &mut body), PayloadForm::Text);
/// assert_eq!(body, b"1:6");
///
/// body.clear();
/// let form = v3::encode(&[Packet::binary(vec![1, 2, 3, 4])], false, &mut body);
/// assert_eq!(form.content_type(), "application/octet-stream");
/// assert_eq!(body, b"\x01\x05\xff\x04\x01\x02\x03\x04");
/// ```
pub fn encode<'a, I>(packets: I, b64: bool, out: &mut Vec<u8>) -> PayloadForm
where
    I: IntoIterator<Item = &'a Packet>,
    I::IntoIter: Clone,
{
    let packets = packets.into_iter();
    let form = form_of(packets.clone(), b64);
    match form {
        PayloadForm::Text => encode_text(packets, out),
        PayloadForm::Binary => encode_binary(packets, out),
    }
    form
}

/// The exact length in bytes of the payload [`encode`] would write, computed without
/// encoding.
///
/// ```
/// use engineio::packet::Packet;
/// use engineio::payload::v3;
///
/// let packets = [Packet::text("hello"), Packet::binary(vec![1, 2, 3, 4])];
/// assert_eq!(v3::encoded_len(&packets, true), "6:4hello10:b4AQIDBA==".len());
/// assert_eq!(v3::encoded_len(&packets, false), 17);
/// assert_eq!(v3::encoded_len(&[], false), 2);
/// ```
pub fn encoded_len<'a, I>(packets: I, b64: bool) -> usize
where
    I: IntoIterator<Item = &'a Packet>,
    I::IntoIter: Clone,
{
    let packets = packets.into_iter();
    match form_of(packets.clone(), b64) {
        PayloadForm::Text => text_len(packets),
        PayloadForm::Binary => binary_len(packets),
    }
}

/// Appends the text form of `packets` to `out`: `<len>:<packet>` each, `len` in UTF-16
/// code units, binary messages as `b4`+base64 (V4, V5). No packets write `0:`, as the
/// reference does.
///
/// ```
/// use engineio::packet::Packet;
/// use engineio::payload::v3;
///
/// let mut body = Vec::new();
/// v3::encode_text(&[Packet::text("hello"), Packet::text("€")], &mut body);
/// assert_eq!(body, "6:4hello2:4€".as_bytes());
///
/// body.clear();
/// v3::encode_text(&[Packet::text("😀"), Packet::binary(vec![1, 2, 3, 4])], &mut body);
/// assert_eq!(body, "3:4😀10:b4AQIDBA==".as_bytes());
/// ```
pub fn encode_text<'a>(packets: impl IntoIterator<Item = &'a Packet>, out: &mut Vec<u8>) {
    let mut any = false;
    for packet in packets {
        any = true;
        push_decimal(out, packet_utf16_len(packet), b'0');
        out.push(b':');
        encode_packet_into(packet, out);
    }
    if !any {
        out.extend_from_slice(b"0:");
    }
}

/// The exact length in bytes of what [`encode_text`] writes for `packets`.
fn text_len<'a>(packets: impl IntoIterator<Item = &'a Packet>) -> usize {
    let mut len = 0;
    let mut any = false;
    for packet in packets {
        any = true;
        len += digit_count(packet_utf16_len(packet)) + 1 + encoded_packet_len(packet);
    }
    if any {
        len
    } else {
        2
    }
}

/// Appends the binary form of `packets` to `out` (V6): for each, the marker `00` and
/// the type digit + UTF-8, or the marker `01` and the type byte `04` + the data of a
/// binary message, after the length's digits as byte values and `ff`. No packets
/// write nothing, as the reference does.
///
/// ```
/// use engineio::packet::Packet;
/// use engineio::payload::v3;
///
/// let mut body = Vec::new();
/// v3::encode_binary(&[Packet::text("hello"), Packet::binary(vec![1, 2, 3, 4])], &mut body);
/// assert_eq!(
///     body,
///     [0x00, 0x06, 0xff, 0x34, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x01, 0x05, 0xff, 0x04, 0x01, 0x02, 0x03, 0x04],
/// );
/// ```
pub fn encode_binary<'a>(packets: impl IntoIterator<Item = &'a Packet>, out: &mut Vec<u8>) {
    for packet in packets {
        match packet {
            Packet::Message(Message::Binary(data)) => {
                out.push(BINARY_MARKER);
                push_decimal(out, 1 + data.len(), 0);
                out.push(LENGTH_END);
                out.push(MESSAGE_TYPE);
                out.extend_from_slice(data);
            }
            _ => {
                out.push(STRING_MARKER);
                push_decimal(out, packet.encoded_len(), 0);
                out.push(LENGTH_END);
                packet.encode_into(out);
            }
        }
    }
}

/// The exact length in bytes of what [`encode_binary`] writes for `packets`.
fn binary_len<'a>(packets: impl IntoIterator<Item = &'a Packet>) -> usize {
    packets
        .into_iter()
        .map(|packet| {
            let len = match packet {
                Packet::Message(Message::Binary(data)) => 1 + data.len(),
                _ => packet.encoded_len(),
            };
            2 + digit_count(len) + len
        })
        .sum()
}

/// Decodes a request body in `form` ([`decode_text`] or [`decode_binary`]).
///
/// # Errors
///
/// An error of kind [`ErrorKind::Decode`] for any fault the form's decoder rejects;
/// no packet is returned then.
///
/// ```
/// use engineio::packet::Packet;
/// use engineio::payload::v3::{self, PayloadForm};
///
/// let form = PayloadForm::from_content_type(Some("application/octet-stream"));
/// assert_eq!(v3::decode(b"\x00\x01\xff6", form, 1000)?, [Packet::Noop]);
/// assert_eq!(v3::decode(b"1:6", PayloadForm::Text, 1000)?, [Packet::Noop]);
/// # Ok::<(), engineio::Error>(())
/// ```
pub fn decode(body: &[u8], form: PayloadForm, max_payload: usize) -> Result<Vec<Packet>> {
    match form {
        PayloadForm::Text => decode_text(body, max_payload),
        PayloadForm::Binary => decode_binary(body, max_payload),
    }
}

/// Decodes a text-form body: checks that it is UTF-8, then decodes it as
/// [`decode_text_str`].
///
/// # Errors
///
/// An error of kind [`ErrorKind::Decode`] for invalid UTF-8 and everything
/// [`decode_text_str`] rejects.
///
/// ```
/// use engineio::packet::Packet;
/// use engineio::payload::v3;
///
/// assert_eq!(v3::decode_text("2:4€".as_bytes(), 1000)?, [Packet::text("€")]);
/// assert!(v3::decode_text(b"2:4\xff", 1000).is_err());
/// # Ok::<(), engineio::Error>(())
/// ```
pub fn decode_text(body: &[u8], max_payload: usize) -> Result<Vec<Packet>> {
    let text = std::str::from_utf8(body).map_err(|_| decode_error("payload is not valid UTF-8"))?;
    decode_text_str(text, max_payload)
}

/// Decodes a text-form payload: `<len>:<packet>` repeated, `len` in UTF-16 code units,
/// each packet decoded by [`decode_packet`] (so `b4…` is a binary message).
/// Zero-length packets (`0:`) are skipped, as the reference skips them, so `0:` alone
/// is a payload of no packets.
///
/// # Errors
///
/// An error of kind [`ErrorKind::Decode`] (V8) for an empty body, a missing `:`, a
/// length that is empty, not made of ASCII digits, or longer in digits than
/// `max_payload`, a length past the end of the body or ending inside a surrogate pair,
/// and any packet that does not decode. No packet is returned then.
///
/// ```
/// use engineio::packet::Packet;
/// use engineio::payload::v3;
///
/// assert_eq!(
///     v3::decode_text_str("6:4hello3:4😀10:b4AQIDBA==", 1_000_000)?,
///     [Packet::text("hello"), Packet::text("😀"), Packet::binary(vec![1, 2, 3, 4])],
/// );
/// assert!(v3::decode_text_str("6:4hello2", 1_000_000).is_err()); // no ':'
/// assert!(v3::decode_text_str("9:4hello", 1_000_000).is_err()); // past the end
/// assert!(v3::decode_text_str("00002:4a", 1000).is_err()); // 5 digits, max_payload has 4
/// assert_eq!(v3::decode_text_str("0:", 1000)?, []);
/// # Ok::<(), engineio::Error>(())
/// ```
pub fn decode_text_str(body: &str, max_payload: usize) -> Result<Vec<Packet>> {
    if body.is_empty() {
        return Err(decode_error("empty payload"));
    }
    let max_digits = digit_count(max_payload);
    let bytes = body.as_bytes();
    let mut packets = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let units = read_length(bytes, &mut pos, b':', b'0', max_digits)?;
        // `pos` follows an ASCII ':', so it is a char boundary.
        let rest = &body[pos..];
        let len = utf16_prefix(rest, units)
            .ok_or_else(|| decode_error("payload packet runs past the end"))?;
        if len > 0 {
            packets.push(decode_packet(&rest[..len])?);
        }
        pos += len;
    }
    Ok(packets)
}

/// Decodes a binary-form payload (V6): for each packet a marker (`00` or `01`), the
/// length's digits as byte values `00`–`09`, `ff`, then the packet: after `00` its text
/// form in UTF-8 ([`decode_packet`]), after `01` a type byte `04` and the bytes of a
/// binary message ([`decode_binary_packet`]). An empty body is no packets, as in the
/// reference.
///
/// # Errors
///
/// An error of kind [`ErrorKind::Decode`] (V8) for a marker other than `00`/`01`, a
/// missing `ff`, a length that is empty, has a digit byte above `09`, or has more
/// digits than `max_payload`, a length past the end, and any packet that does not
/// decode (a zero-length one included). No packet is returned then.
///
/// ```
/// use engineio::packet::Packet;
/// use engineio::payload::v3;
///
/// let body = [0x00, 0x06, 0xff, b'4', b'h', b'e', b'l', b'l', b'o', 0x01, 0x05, 0xff, 0x04, 1, 2, 3, 4];
/// assert_eq!(
///     v3::decode_binary(&body, 1_000_000)?,
///     [Packet::text("hello"), Packet::binary(vec![1, 2, 3, 4])],
/// );
/// assert!(v3::decode_binary(&[0x02, 0x01, 0xff, b'6'], 1000).is_err()); // marker
/// assert!(v3::decode_binary(&[0x00, 0x02, 0xff, b'6'], 1000).is_err()); // past the end
/// # Ok::<(), engineio::Error>(())
/// ```
pub fn decode_binary(body: &[u8], max_payload: usize) -> Result<Vec<Packet>> {
    let max_digits = digit_count(max_payload);
    let mut packets = Vec::new();
    let mut pos = 0;
    while let Some(&marker) = body.get(pos) {
        if marker != STRING_MARKER && marker != BINARY_MARKER {
            return Err(decode_error("payload packet marker is neither 00 nor 01"));
        }
        pos += 1;
        let len = read_length(body, &mut pos, LENGTH_END, 0, max_digits)?;
        let data = body
            .get(pos..)
            .and_then(|rest| rest.get(..len))
            .ok_or_else(|| decode_error("payload packet runs past the end"))?;
        pos += len;
        let packet = if marker == STRING_MARKER {
            let text =
                std::str::from_utf8(data).map_err(|_| decode_error("packet is not valid UTF-8"))?;
            decode_packet(text)?
        } else {
            decode_binary_packet(Bytes::copy_from_slice(data))?
        };
        packets.push(packet);
    }
    Ok(packets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::tests::any_packet;
    use proptest::prelude::*;

    const MAX: usize = 1_000_000;

    fn text(packets: &[Packet]) -> String {
        let mut out = Vec::new();
        encode_text(packets, &mut out);
        if !packets.is_empty() {
            assert_eq!(out.len(), text_len(packets));
        }
        String::from_utf8(out).unwrap()
    }

    fn binary(packets: &[Packet]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_binary(packets, &mut out);
        assert_eq!(out.len(), binary_len(packets));
        out
    }

    fn text_fails(body: &str, max_payload: usize) {
        let err = decode_text_str(body, max_payload).expect_err(body);
        assert_eq!(err.kind(), ErrorKind::Decode, "{body:?}");
        let err = decode(body.as_bytes(), PayloadForm::Text, max_payload).expect_err(body);
        assert_eq!(err.kind(), ErrorKind::Decode, "{body:?}");
    }

    fn binary_fails(body: &[u8], max_payload: usize) {
        let err = decode_binary(body, max_payload).expect_err(&format!("{body:02x?}"));
        assert_eq!(err.kind(), ErrorKind::Decode, "{body:02x?}");
    }

    /// V4: `<len>:<packet>`, no separator, `len` in UTF-16 code units.
    #[test]
    fn v4_text_form_examples() {
        let packets = [Packet::text("hello"), Packet::text("€")];
        assert_eq!(text(&packets), "6:4hello2:4€");
        assert_eq!(decode_text_str("6:4hello2:4€", MAX).unwrap(), packets);
        assert_eq!(text(&[Packet::text("😀")]), "3:4😀");
        assert_eq!(decode_text_str("3:4😀", MAX).unwrap(), [Packet::text("😀")]);
        // The handshake, noop, close and pong of V4.
        let open = Packet::Open(r#"{"sid":"abc","upgrades":[]}"#.into());
        assert_eq!(
            text(std::slice::from_ref(&open)),
            r#"28:0{"sid":"abc","upgrades":[]}"#
        );
        assert_eq!(text(&[Packet::Noop]), "1:6");
        assert_eq!(text(&[Packet::Close]), "1:1");
        assert_eq!(text(&[Packet::Pong(String::new())]), "1:3");
        assert_eq!(text(&[Packet::Pong("probe".into())]), "6:3probe");
        assert_eq!(
            decode_text_str(r#"28:0{"sid":"abc","upgrades":[]}1:61:11:3"#, MAX).unwrap(),
            [
                open,
                Packet::Noop,
                Packet::Close,
                Packet::Pong(String::new())
            ]
        );
        // A ':' inside a packet is data, not framing.
        assert_eq!(text(&[Packet::text("1:2:")]), "5:41:2:");
        assert_eq!(
            decode_text_str("5:41:2:", MAX).unwrap(),
            [Packet::text("1:2:")]
        );
    }

    /// V4: BMP characters count one unit, astral ones two; bytes and chars are wrong.
    #[test]
    fn v4_utf16_counting() {
        for (data, units) in [
            ("", 0),
            ("a", 1),
            ("é", 1),        // 2 bytes
            ("€", 1),        // 3 bytes
            ("\u{ffff}", 1), // 3 bytes, last BMP
            ("😀", 2),       // 4 bytes, 1 char
            ("\u{10000}", 2),
            ("\u{10ffff}", 2),
            ("a😀é€𝄞\n:", 9),
        ] {
            assert_eq!(utf16_len(data), units, "{data:?}");
            assert_eq!(utf16_len(data), data.encode_utf16().count(), "{data:?}");
            let body = format!("{}:4{data}", units + 1);
            assert_eq!(text(&[Packet::text(data)]), body);
            assert_eq!(decode_text_str(&body, MAX).unwrap(), [Packet::text(data)]);
        }
        // The reference's own output for a mixed payload (engine.io 6.6, parser-v3).
        let packets = [
            Packet::Open(r#"{"sid":"abc"}"#.into()),
            Packet::text("a😀é€𝄞\n:"),
            Packet::Ping("probe".into()),
            Packet::binary(vec![0, 255, 16]),
            Packet::Noop,
        ];
        let reference = "14:0{\"sid\":\"abc\"}10:4a😀é€𝄞\n:6:2probe6:b4AP8Q1:6";
        assert_eq!(text(&packets), reference);
        assert_eq!(decode_text_str(reference, MAX).unwrap(), packets);
        let mut out = Vec::new();
        assert_eq!(encode(&packets, false, &mut out), PayloadForm::Binary);
        let reference = "000104ff307b22736964223a22616263227d000107ff3461f09f9880c3a9e282acf09d849e0a3a0006ff3270726f62650104ff0400ff100001ff36";
        assert_eq!(hex(&out), reference);
        assert_eq!(decode_binary(&out, MAX).unwrap(), packets);
        // Counting bytes or chars instead is refused.
        text_fails("5:4😀", MAX); // bytes
        text_fails("2:4😀", MAX); // chars: ends inside the surrogate pair
        text_fails("3:4€", MAX); // bytes of €: runs past the end
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// V5: in base64 mode, binary is `b4`+base64 and `len` counts the whole string.
    #[test]
    fn v5_base64_mode() {
        let packets = [Packet::binary(vec![1, 2, 3, 4])];
        let mut out = Vec::new();
        assert_eq!(encode(&packets, true, &mut out), PayloadForm::Text);
        assert_eq!(out, b"10:b4AQIDBA==");
        assert_eq!(encoded_len(&packets, true), out.len());
        assert_eq!(decode_text(&out, MAX).unwrap(), packets);
        // Empty binary, and a mix with text.
        assert_eq!(text(&[Packet::binary(vec![])]), "2:b4");
        assert_eq!(
            decode_text_str("2:b42:4é6:b4AQID", MAX).unwrap(),
            [
                Packet::binary(vec![]),
                Packet::text("é"),
                Packet::binary(vec![1, 2, 3])
            ]
        );
        // Unpadded base64 is accepted (K2), the v4 `b` without a type digit is not.
        assert_eq!(
            decode_text_str("8:b4AQIDBA", MAX).unwrap(),
            [Packet::binary(vec![1, 2, 3, 4])]
        );
        text_fails("9:bAQIDBA==", MAX);
        // Only messages carry binary; `b` alone or with a non-digit is no packet.
        text_fails("6:b2AQID", MAX);
        text_fails("6:b6AQID", MAX);
        text_fails("6:b7AQID", MAX);
        text_fails("1:b", MAX);
        text_fails("4:b4A!", MAX);
    }

    /// V6: the binary form, byte for byte as protocol.md gives it.
    #[test]
    fn v6_binary_form_example() {
        let packets = [Packet::text("hello"), Packet::binary(vec![1, 2, 3, 4])];
        let expected = [
            0x00, 0x06, 0xff, 0x34, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x01, 0x05, 0xff, 0x04, 0x01,
            0x02, 0x03, 0x04,
        ];
        assert_eq!(binary(&packets), expected);
        let mut out = Vec::new();
        let form = encode(&packets, false, &mut out);
        assert_eq!(form, PayloadForm::Binary);
        assert_eq!(form.content_type(), "application/octet-stream");
        assert_eq!(out, expected);
        assert_eq!(encoded_len(&packets, false), expected.len());
        assert_eq!(decode_binary(&expected, MAX).unwrap(), packets);
        assert_eq!(
            decode(&expected, PayloadForm::Binary, MAX).unwrap(),
            packets
        );
        // "Binary at a glance": the message alone.
        assert_eq!(
            binary(&[Packet::binary(vec![1, 2, 3, 4])]),
            [0x01, 0x05, 0xff, 0x04, 1, 2, 3, 4]
        );
        // String packets count UTF-8 bytes; lengths of two digits are two bytes.
        assert_eq!(
            binary(&[Packet::text("é")]),
            [0x00, 0x03, 0xff, b'4', 0xc3, 0xa9]
        );
        let long = Packet::text("x".repeat(122));
        assert_eq!(
            binary(std::slice::from_ref(&long))[..4],
            [0x00, 0x01, 0x02, 0x03]
        );
        assert_eq!(binary(std::slice::from_ref(&long))[4], 0xff);
        assert_eq!(
            decode_binary(&binary(std::slice::from_ref(&long)), MAX).unwrap(),
            [long]
        );
        assert_eq!(binary(&[Packet::binary(vec![])]), [0x01, 0x01, 0xff, 0x04]);
        assert_eq!(
            decode_binary(&[0x01, 0x01, 0xff, 0x04], MAX).unwrap(),
            [Packet::binary(vec![])]
        );
    }

    /// V6: a response takes the binary form only with binary messages and no `b64`.
    #[test]
    fn v6_response_form_choice() {
        let text_only = [Packet::text("a"), Packet::Noop];
        let mut out = Vec::new();
        let form = encode(&text_only, false, &mut out);
        assert_eq!(form, PayloadForm::Text);
        assert_eq!(form.content_type(), "text/plain; charset=UTF-8");
        assert_eq!(out, b"2:4a1:6");
        assert_eq!(encoded_len(&text_only, false), out.len());
        let mixed = [Packet::text("a"), Packet::binary(vec![9])];
        assert_eq!(form_of(&mixed, false), PayloadForm::Binary);
        assert_eq!(form_of(&mixed, true), PayloadForm::Text);
        out.clear();
        assert_eq!(encode(&mixed, true, &mut out), PayloadForm::Text);
        assert_eq!(out, b"2:4a6:b4CQ==");
        // An iterator over shared packets, as the server holds them.
        let shared: Vec<std::sync::Arc<Packet>> =
            mixed.iter().cloned().map(std::sync::Arc::new).collect();
        out.clear();
        let form = encode(shared.iter().map(|p| &**p), false, &mut out);
        assert_eq!(form, PayloadForm::Binary);
        assert_eq!(out, binary(&mixed));
        assert_eq!(encoded_len(shared.iter().map(|p| &**p), false), out.len());
        // No packets: `0:` as the reference writes it; it decodes to no packets.
        out.clear();
        assert_eq!(encode(&[], false, &mut out), PayloadForm::Text);
        assert_eq!(out, b"0:");
        assert_eq!(encoded_len(&[], true), 2);
        assert_eq!(decode_text(&out, MAX).unwrap(), []);
        assert!(binary(&[]).is_empty());
    }

    /// V7: the request's Content-Type picks the form.
    #[test]
    fn v7_form_from_content_type() {
        for (header, form) in [
            (None, PayloadForm::Text),
            (Some(""), PayloadForm::Text),
            (Some("text/plain;charset=UTF-8"), PayloadForm::Text),
            (Some("application/octet-stream"), PayloadForm::Binary),
            (Some("APPLICATION/OCTET-STREAM"), PayloadForm::Binary),
            (
                Some("application/octet-stream; charset=x"),
                PayloadForm::Binary,
            ),
            (Some("  application/octet-stream  "), PayloadForm::Binary),
            (Some("application/octet-streamx"), PayloadForm::Text),
            (Some("application/json"), PayloadForm::Text),
        ] {
            assert_eq!(PayloadForm::from_content_type(header), form, "{header:?}");
        }
        let body = binary(&[Packet::text("a"), Packet::binary(vec![1])]);
        let form = PayloadForm::from_content_type(Some("application/octet-stream"));
        assert_eq!(
            decode(&body, form, MAX).unwrap(),
            [Packet::text("a"), Packet::binary(vec![1])]
        );
    }

    /// V8, text form: every framing fault fails the whole payload.
    #[test]
    fn v8_text_form_faults() {
        // Empty body, missing ':'.
        text_fails("", MAX);
        text_fails("4hello", MAX);
        text_fails("6:4hello2", MAX);
        text_fails("6:4hello2:4€1", MAX);
        // Empty or non-digit length.
        for body in [
            ":",
            ":4a",
            "2:4a:4a",
            "a:4",
            " 1:4",
            "1 :4",
            "0x1:4",
            "1e0:4",
            "-1:4",
            "+1:4",
            "1.0:4",
            "١:4",
            "²:4",
            "\u{1e}1:4",
        ] {
            text_fails(body, MAX);
        }
        // A length running past the end.
        text_fails("9:4hello", MAX);
        text_fails("2:4", MAX);
        text_fails("1:", MAX);
        text_fails("6:4hello7:4hello", MAX);
        // More digits than max_payload has.
        assert_eq!(
            decode_text_str("0002:4a", 1000).unwrap(),
            [Packet::text("a")]
        );
        text_fails("00002:4a", 1000);
        text_fails("10:4aaaaaaaaa", 9);
        // The limit is on digits, not on the value: 0 allows one digit.
        assert_eq!(decode_text_str("2:4a", 0).unwrap(), [Packet::text("a")]);
        text_fails("10:4aaaaaaaaa", 0);
        // Overflowing usize is an error, not a wrap or a panic.
        text_fails("99999999999999999999:4", usize::MAX);
        text_fails("18446744073709551616:4", usize::MAX);
        // Undecodable packets.
        text_fails("1:7", MAX);
        text_fails("1:x", MAX);
        text_fails("2:bA", MAX);
        // Invalid UTF-8 in the body.
        assert_eq!(
            decode_text(b"2:4\xff", MAX).unwrap_err().kind(),
            ErrorKind::Decode
        );
        assert_eq!(
            decode_text(b"2:4\xed\xa0\x80", MAX).unwrap_err().kind(),
            ErrorKind::Decode
        );
    }

    /// V8: all-or-nothing; good packets before a fault are not returned.
    #[test]
    fn v8_fault_after_good_packets_rejects_all() {
        for body in ["1:61:6x", "1:61:7", "2:4a3:4b", "2:4a1:6:"] {
            text_fails(body, MAX);
        }
        binary_fails(&[0x00, 0x01, 0xff, b'6', 0x00, 0x01, 0xff, b'7'], MAX);
        binary_fails(&[0x00, 0x01, 0xff, b'6', 0x02], MAX);
    }

    /// Zero-length packets in the text form are skipped, as in the reference.
    #[test]
    fn text_form_zero_length_packets_are_skipped() {
        assert_eq!(decode_text_str("0:", MAX).unwrap(), []);
        assert_eq!(decode_text_str("0:0:", MAX).unwrap(), []);
        assert_eq!(decode_text_str("0:1:6", MAX).unwrap(), [Packet::Noop]);
        assert_eq!(decode_text_str("1:60:", MAX).unwrap(), [Packet::Noop]);
        assert_eq!(decode_text_str("00:", MAX).unwrap(), []);
        // Leading zeros are fine within the digit limit.
        assert_eq!(decode_text_str("01:6", MAX).unwrap(), [Packet::Noop]);
    }

    /// V8, binary form: every framing fault fails the whole payload.
    #[test]
    fn v8_binary_form_faults() {
        // Markers other than 00/01.
        for marker in [0x02, 0x30, 0x31, 0x04, 0xff] {
            binary_fails(&[marker, 0x01, 0xff, b'6'], MAX);
        }
        // Missing ff, empty length, digit bytes above 09.
        binary_fails(&[0x00], MAX);
        binary_fails(&[0x00, 0x01], MAX);
        binary_fails(&[0x00, 0x01, b'6'], MAX);
        binary_fails(&[0x00, 0xff, b'6'], MAX);
        binary_fails(&[0x01, 0xff], MAX);
        binary_fails(&[0x00, 0x0a, 0xff, b'6'], MAX);
        binary_fails(&[0x00, b'1', 0xff, b'6'], MAX);
        // Past the end.
        binary_fails(&[0x00, 0x02, 0xff, b'6'], MAX);
        binary_fails(&[0x01, 0x09, 0xff, 0x04, 1, 2], MAX);
        // More digits than max_payload has.
        assert_eq!(
            decode_binary(&[0x00, 0x00, 0x00, 0x00, 0x01, 0xff, b'6'], 1000).unwrap(),
            [Packet::Noop]
        );
        binary_fails(&[0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xff, b'6'], 1000);
        let mut overflow = vec![0x00];
        overflow.extend([9u8; 20]);
        overflow.push(0xff);
        binary_fails(&overflow, usize::MAX);
        // Zero-length packets, of either marker.
        binary_fails(&[0x00, 0x00, 0xff], MAX);
        binary_fails(&[0x01, 0x00, 0xff], MAX);
        // Undecodable packets: unknown digit, invalid UTF-8, binary on a non-message,
        // unknown type byte.
        binary_fails(&[0x00, 0x01, 0xff, b'7'], MAX);
        binary_fails(&[0x00, 0x02, 0xff, b'4', 0xff], MAX);
        binary_fails(&[0x00, 0x04, 0xff, b'4', 0xed, 0xa0, 0x80], MAX);
        binary_fails(&[0x01, 0x02, 0xff, 0x02, 0x01], MAX);
        binary_fails(&[0x01, 0x01, 0xff, 0x06], MAX);
        binary_fails(&[0x01, 0x01, 0xff, 0x09], MAX);
        binary_fails(&[0x01, 0x01, 0xff, b'4'], MAX);
    }

    #[test]
    fn binary_form_edge_cases() {
        // An empty body is no packets, as in the reference.
        assert_eq!(decode_binary(&[], MAX).unwrap(), []);
        // A `b4…` string packet is a base64 binary message.
        let mut body = vec![0x00, 0x06, 0xff];
        body.extend_from_slice(b"b4AQID");
        assert_eq!(
            decode_binary(&body, MAX).unwrap(),
            [Packet::binary(vec![1, 2, 3])]
        );
        // Every packet type as a string packet.
        let all = [
            Packet::Open("{}".into()),
            Packet::Close,
            Packet::Ping("probe".into()),
            Packet::Pong(String::new()),
            Packet::text(""),
            Packet::Upgrade,
            Packet::Noop,
        ];
        assert_eq!(decode_binary(&binary(&all), MAX).unwrap(), all);
        // Data after 1, 5, 6 is ignored (K5), in either form.
        assert_eq!(
            decode_binary(&[0x00, 0x02, 0xff, b'5', b'2'], MAX).unwrap(),
            [Packet::Upgrade]
        );
        assert_eq!(decode_text_str("2:52", MAX).unwrap(), [Packet::Upgrade]);
    }

    #[test]
    fn single_packet_forms() {
        let bin = Packet::binary(vec![1, 2, 3, 4]);
        assert_eq!(encode_packet(&bin), "b4AQIDBA==");
        assert_eq!(encoded_packet_len(&bin), 10);
        let mut out = b"x".to_vec();
        encode_packet_into(&bin, &mut out);
        assert_eq!(out, b"xb4AQIDBA==");
        assert_eq!(decode_packet("b4AQIDBA==").unwrap(), bin);
        assert_eq!(decode_packet("b4").unwrap(), Packet::binary(vec![]));
        for packet in [
            Packet::text("hé"),
            Packet::Ping("probe".into()),
            Packet::Noop,
        ] {
            assert_eq!(encode_packet(&packet), packet.encode());
            assert_eq!(encoded_packet_len(&packet), packet.encoded_len());
            assert_eq!(decode_packet(&packet.encode()).unwrap(), packet);
        }
        for bad in ["", "b", "bA", "b4!", "b0e30=", "b2", "b5", "7", "x"] {
            assert_eq!(
                decode_packet(bad).unwrap_err().kind(),
                ErrorKind::Decode,
                "{bad:?}"
            );
        }
        // V9 binary frames: type byte then data.
        let frame = Bytes::from_static(&[4, 1, 2, 3, 4]);
        assert_eq!(decode_binary_packet(frame).unwrap(), bin);
        for bad in [&[][..], &[0], &[2, 1], &[5], &[7, 1], &[0x34, 1]] {
            assert_eq!(
                decode_binary_packet(Bytes::copy_from_slice(bad))
                    .unwrap_err()
                    .kind(),
                ErrorKind::Decode,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn utf16_prefix_cases() {
        assert_eq!(utf16_prefix("", 0), Some(0));
        assert_eq!(utf16_prefix("abc", 0), Some(0));
        assert_eq!(utf16_prefix("abc", 2), Some(2));
        assert_eq!(utf16_prefix("abc", 3), Some(3));
        assert_eq!(utf16_prefix("abc", 4), None);
        assert_eq!(utf16_prefix("😀a", 1), None);
        assert_eq!(utf16_prefix("😀a", 2), Some(4));
        assert_eq!(utf16_prefix("😀a", 3), Some(5));
        assert_eq!(utf16_prefix("é€", 2), Some(5));
        assert_eq!(utf16_prefix("a", usize::MAX), None);
        assert_eq!(digit_count(0), 1);
        assert_eq!(digit_count(9), 1);
        assert_eq!(digit_count(10), 2);
        assert_eq!(digit_count(1_000_000), 7);
        assert_eq!(digit_count(usize::MAX), usize::MAX.to_string().len());
        let mut out = Vec::new();
        push_decimal(&mut out, usize::MAX, b'0');
        assert_eq!(out, usize::MAX.to_string().as_bytes());
        out.clear();
        push_decimal(&mut out, 1205, 0);
        assert_eq!(out, [1, 2, 0, 5]);
    }

    /// Decoders stay linear on large adversarial bodies (they would hang or take
    /// quadratic time otherwise).
    #[test]
    fn large_adversarial_bodies_finish() {
        let started = std::time::Instant::now();
        let zeros = "0:".repeat(500_000);
        assert_eq!(decode_text_str(&zeros, MAX).unwrap(), []);
        let noops = "1:6".repeat(300_000);
        assert_eq!(decode_text_str(&noops, MAX).unwrap().len(), 300_000);
        let digits = "1".repeat(1_000_000);
        text_fails(&digits, MAX);
        text_fails(&digits, usize::MAX);
        let astral = format!("999999:4{}", "😀".repeat(250_000));
        text_fails(&astral, MAX);
        let no_ff = vec![0u8; 1_000_000];
        binary_fails(&no_ff, usize::MAX);
        let many: Vec<u8> = [0x00, 0x01, 0xff, b'6'].repeat(250_000);
        assert_eq!(decode_binary(&many, MAX).unwrap().len(), 250_000);
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
    }

    proptest! {
        #[test]
        fn prop_text_form_round_trips(packets in proptest::collection::vec(any_packet(true), 1..12)) {
            let body = text(&packets);
            prop_assert_eq!(decode_text_str(&body, MAX).unwrap(), packets.clone());
            prop_assert_eq!(decode_text(body.as_bytes(), body.len()).unwrap(), packets);
        }

        #[test]
        fn prop_binary_form_round_trips(packets in proptest::collection::vec(any_packet(true), 0..12)) {
            let body = binary(&packets);
            prop_assert_eq!(decode_binary(&body, MAX).unwrap(), packets.clone());
            // The body's own length bounds every packet's length digits.
            prop_assert_eq!(decode_binary(&body, body.len()).unwrap(), packets);
        }

        #[test]
        fn prop_response_round_trips(
            packets in proptest::collection::vec(any_packet(true), 1..12),
            b64 in any::<bool>(),
        ) {
            let mut body = Vec::new();
            let form = encode(&packets, b64, &mut body);
            prop_assert_eq!(body.len(), encoded_len(&packets, b64));
            let has_binary = packets.iter().any(|p| matches!(p, Packet::Message(Message::Binary(_))));
            prop_assert_eq!(form == PayloadForm::Binary, has_binary && !b64);
            prop_assert_eq!(decode(&body, form, MAX).unwrap(), packets);
        }

        #[test]
        fn prop_single_packet_round_trips(packet in any_packet(true)) {
            let text = encode_packet(&packet);
            prop_assert_eq!(text.len(), encoded_packet_len(&packet));
            prop_assert_eq!(packet_utf16_len(&packet), text.encode_utf16().count());
            prop_assert_eq!(decode_packet(&text).unwrap(), packet);
        }

        #[test]
        fn prop_utf16_len_matches_std(text in any::<String>()) {
            prop_assert_eq!(utf16_len(&text), text.encode_utf16().count());
            let units = text.encode_utf16().count();
            prop_assert_eq!(utf16_prefix(&text, units), Some(text.len()));
        }

        /// Arbitrary bytes never panic either decoder, whatever the limit; what decodes
        /// re-encodes to a body that decodes the same.
        #[test]
        fn prop_decode_never_panics(
            body in proptest::collection::vec(any::<u8>(), 0..512),
            max_payload in prop_oneof![Just(usize::MAX), Just(MAX), 0..100usize],
        ) {
            if let Ok(packets) = decode_binary(&body, max_payload) {
                prop_assert!(packets.len() <= body.len() / 4);
                prop_assert_eq!(decode_binary(&binary(&packets), MAX).unwrap(), packets);
            }
            if let Ok(packets) = decode_text(&body, max_payload) {
                prop_assert!(packets.len() <= body.len() / 3);
                if !packets.is_empty() {
                    prop_assert_eq!(decode_text(text(&packets).as_bytes(), MAX).unwrap(), packets);
                }
            }
        }

        #[test]
        fn prop_decode_plausible_text(body in "([0-9]{1,2}:[0-6b4A-Za-z0-9+/=é😀:]{0,8}){1,6}") {
            if let Ok(packets) = decode_text_str(&body, MAX) {
                if !packets.is_empty() {
                    prop_assert_eq!(decode_text_str(&text(&packets), MAX).unwrap(), packets);
                }
            }
        }

        #[test]
        fn prop_decode_plausible_binary(
            chunks in proptest::collection::vec(
                (0u8..3, proptest::collection::vec(0u8..11, 0..3), proptest::collection::vec(prop_oneof![Just(4u8), Just(b'4'), any::<u8>()], 0..8)),
                1..6,
            )
        ) {
            let mut body = Vec::new();
            for (marker, digits, data) in chunks {
                body.push(marker);
                body.extend(digits);
                body.push(0xff);
                body.extend(data);
            }
            if let Ok(packets) = decode_binary(&body, MAX) {
                prop_assert_eq!(decode_binary(&binary(&packets), MAX).unwrap(), packets);
            }
        }
    }
}
