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

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine as _};
use bytes::Bytes;

use crate::error::{Error, ErrorKind, Result};
use crate::packet::{Message, Packet, PacketType};

/// Standard alphabet that decodes padded and unpadded input alike (as K2 asks of the
/// v4 form); encoding uses the padded [`STANDARD`] engine.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

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
/// use bytes::Bytes;
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
mod tests {}
