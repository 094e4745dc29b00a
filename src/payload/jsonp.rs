//! JSONP polling (protocol.md §15): the legacy polling transport of browsers without
//! cross-origin XHR, selected by the query parameter `j=<n>`.
//!
//! The client polls by loading a `<script>` whose body calls its callback `n` with the
//! payload as a JavaScript string: `___eio[233]("4abc");` ([`encode`], [`wrap`],
//! served as [`CONTENT_TYPE`]). It sends by submitting a hidden form whose textarea
//! `d` holds the payload, so a POST body is `d=<payload>`, form-encoded, with the
//! payload's newlines escaped ([`decode`], [`form_data`]). Either way the payload is
//! the session version's text form: v4 packets joined by `\x1e`
//! ([`payload::encode`](super::encode)), v3 `<len>:<packet>` with binary as `b4`+base64
//! ([`v3::encode_text`]), whatever the session's `b64` (J4).
//!
//! ```
//! use engineio::packet::Packet;
//! use engineio::payload::jsonp;
//! use engineio::ProtocolVersion;
//!
//! let index = jsonp::parse_index("233")?;
//! let mut body = Vec::new();
//! jsonp::encode(index, &[Packet::text("abc")], ProtocolVersion::V4, &mut body);
//! assert_eq!(body, br#"___eio[233]("4abc");"#);
//!
//! let post = b"d=4%3A4abc2%3A4%E2%82%AC";
//! assert_eq!(
//!     jsonp::decode(post, ProtocolVersion::V3, 1_000_000)?,
//!     [Packet::text("abc"), Packet::text("€")],
//! );
//! # Ok::<(), engineio::Error>(())
//! ```
//!
//! # Newline escaping
//!
//! Browsers turn every line feed in a submitted textarea into CR LF, so the official
//! client (engine.io-client up to 5.2, `polling-jsonp`) first writes each `\n` of the
//! payload (a backslash and an `n`) as a backslash and a line feed, then each line feed
//! as `\n`: a line feed arrives as `\n`, a `\n` as `\\n`. [`form_data`] undoes this as
//! the reference server does, in two passes: `\n` not preceded by a backslash becomes a
//! line feed (`\\n` is left alone, scanning left to right), then each `\\n` becomes
//! `\n`. The client's escaping is not reversible in two cases, here as in the
//! reference: a backslash right before a line feed arrives as a backslash and an `n`,
//! and a lone carriage return arrives as CR LF (the textarea normalises it). Neither
//! occurs in a payload the official client builds from ordinary messages unless the
//! message text holds them.
//!
//! # Edge cases, decided
//!
//! | input | here | reference (`engine.io` 6.6) |
//! |---|---|---|
//! | `j` not 1–10 ASCII digits, or above `u32::MAX` (`""`, `-1`, `1a`, `+1`) | error (J1: the server answers E3) | non-digits stripped, the rest echoed |
//! | `j` with leading zeros (`007`) | accepted, written without them (`___eio[7]`): in a script `___eio[010]` would be the octal `8` | echoed |
//! | no `d` field, or `d` twice | error | body ignored, answered `ok` |
//! | malformed `%` (`%`, `%4`, `%zz`) | kept literally, as the WHATWG form decoder and Node's `querystring` do | kept literally |
//! | `%XX` bytes that are not UTF-8 | error | replacement characters |
//! | fields other than `d` | ignored | ignored |
//! | the field name `%64` | is `d` | is `d` |
//! | an empty `d` | error (an empty payload, L3 or V4) | v3: error; v4: error |

use crate::error::{Error, ErrorKind, Result};
use crate::packet::Packet;
use crate::ProtocolVersion;

use super::v3;

/// The `Content-Type` of a JSONP poll response (J2).
///
/// ```
/// assert_eq!(engineio::payload::jsonp::CONTENT_TYPE, "text/javascript; charset=UTF-8");
/// ```
pub const CONTENT_TYPE: &str = "text/javascript; charset=UTF-8";

/// The most digits a JSONP index may have (`u32::MAX` has 10).
const MAX_INDEX_DIGITS: usize = 10;

fn decode_error(message: &str) -> Error {
    Error::new(ErrorKind::Decode, message)
}

/// Reads the JSONP index from the value of the `j` query parameter (J1): one to ten
/// ASCII digits, at most `u32::MAX`. Leading zeros are allowed; the index is written
/// back without them.
///
/// # Errors
///
/// An error of kind [`ErrorKind::Decode`] for anything else: an empty value, a sign, a
/// space, any non-digit, more than ten digits, or a value above `u32::MAX`. The server
/// answers such a request with E3.
///
/// ```
/// use engineio::payload::jsonp;
///
/// assert_eq!(jsonp::parse_index("0")?, 0);
/// assert_eq!(jsonp::parse_index("233")?, 233);
/// assert_eq!(jsonp::parse_index("007")?, 7);
/// for bad in ["", "-1", "+1", " 1", "1a", "1.0", "4294967296", "00000000001"] {
///     assert!(jsonp::parse_index(bad).is_err(), "{bad}");
/// }
/// # Ok::<(), engineio::Error>(())
/// ```
pub fn parse_index(j: &str) -> Result<u32> {
    if j.is_empty() || j.len() > MAX_INDEX_DIGITS || !j.bytes().all(|b| b.is_ascii_digit()) {
        return Err(decode_error("JSONP index is not a decimal number"));
    }
    j.parse()
        .map_err(|_| decode_error("JSONP index is too large"))
}

/// Appends the JSONP poll response `___eio[<index>]("<payload>");` to `out` (J2): the
/// payload as a JSON string literal (`"`, `\` and control characters escaped as
/// `JSON.stringify` escapes them) with U+2028 and U+2029 written `\u2028` and
/// `\u2029`, which JSON allows raw but older JavaScript does not.
///
/// ```
/// use engineio::payload::jsonp;
///
/// let mut body = Vec::new();
/// jsonp::wrap(233, "4abc", &mut body);
/// assert_eq!(body, br#"___eio[233]("4abc");"#);
///
/// body.clear();
/// jsonp::wrap(0, "4\"a\\b\n\u{1}é\u{2028}", &mut body);
/// assert_eq!(body, r#"___eio[0]("4\"a\\b\n\u0001é\u2028");"#.as_bytes());
/// ```
pub fn wrap(index: u32, payload: &str, out: &mut Vec<u8>) {
    wrap_bytes(index, payload.as_bytes(), out);
}

/// [`wrap`] for a payload already known to be UTF-8.
fn wrap_bytes(index: u32, payload: &[u8], out: &mut Vec<u8>) {
    out.reserve(payload.len() + 20);
    out.extend_from_slice(b"___eio[");
    out.extend_from_slice(index.to_string().as_bytes());
    out.extend_from_slice(b"](");
    push_js_string(out, payload);
    out.extend_from_slice(b");");
}

/// Appends `text` (UTF-8) as a JSON string literal that is also valid JavaScript.
fn push_js_string(out: &mut Vec<u8>, text: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let mut start = 0;
    let mut i = 0;
    while i < text.len() {
        let b = text[i];
        let mut unicode = [
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[usize::from(b >> 4)],
            HEX[usize::from(b & 0xf)],
        ];
        let (escape, width): (&[u8], usize) = match b {
            b'"' => (b"\\\"", 1),
            b'\\' => (b"\\\\", 1),
            0x08 => (b"\\b", 1),
            0x0c => (b"\\f", 1),
            b'\n' => (b"\\n", 1),
            b'\r' => (b"\\r", 1),
            b'\t' => (b"\\t", 1),
            0x00..=0x1f => (&unicode[..], 1),
            // U+2028 and U+2029 are E2 80 A8 and E2 80 A9 in UTF-8.
            0xe2 if text.get(i + 1) == Some(&0x80)
                && matches!(text.get(i + 2), Some(0xa8 | 0xa9)) =>
            {
                unicode[2..].copy_from_slice(if text[i + 2] == 0xa8 {
                    b"2028"
                } else {
                    b"2029"
                });
                (&unicode[..], 3)
            }
            _ => {
                i += 1;
                continue;
            }
        };
        out.extend_from_slice(&text[start..i]);
        out.extend_from_slice(escape);
        i += width;
        start = i;
    }
    out.extend_from_slice(&text[start..]);
    out.push(b'"');
}

/// Appends the JSONP poll response for `packets` to `out`: their payload in the text
/// form of `version` (binary messages as base64 whatever `b64`, J4), wrapped by
/// [`wrap`]. Serve it as [`CONTENT_TYPE`].
///
/// ```
/// use engineio::packet::Packet;
/// use engineio::payload::jsonp;
/// use engineio::ProtocolVersion;
///
/// let packets = [Packet::text("a\nb"), Packet::binary(vec![1, 2, 3, 4])];
/// let mut body = Vec::new();
/// jsonp::encode(7, &packets, ProtocolVersion::V3, &mut body);
/// assert_eq!(body, br#"___eio[7]("4:4a\nb10:b4AQIDBA==");"#);
///
/// body.clear();
/// jsonp::encode(7, &packets, ProtocolVersion::V4, &mut body);
/// assert_eq!(body, br#"___eio[7]("4a\nb\u001ebAQIDBA==");"#);
/// ```
pub fn encode<'a>(
    index: u32,
    packets: impl IntoIterator<Item = &'a Packet>,
    version: ProtocolVersion,
    out: &mut Vec<u8>,
) {
    let mut payload = Vec::new();
    match version {
        ProtocolVersion::V3 => v3::encode_text(packets, &mut payload),
        ProtocolVersion::V4 => super::encode(packets, &mut payload),
    }
    wrap_bytes(index, &payload, out);
}

/// The payload a JSONP POST body carries: the form field `d`, url-decoded (`+` is a
/// space, `%XX` a byte, a malformed `%` itself), as UTF-8, with the client's newline
/// escaping undone (see the [module docs](self#newline-escaping)).
///
/// # Errors
///
/// An error of kind [`ErrorKind::Decode`] when the body has no `d` field or more than
/// one, or when the field's bytes are not UTF-8.
///
/// ```
/// use engineio::payload::jsonp;
///
/// assert_eq!(jsonp::form_data(b"d=1%3A6")?, "1:6");
/// assert_eq!(jsonp::form_data(b"x=1&d=4a+b%2B%")?, "4a b+%");
/// // A line feed travels as `\n`, a backslash-n as `\\n`.
/// assert_eq!(jsonp::form_data(br"d=4a\nb\\nc")?, "4a\nb\\nc");
/// assert!(jsonp::form_data(b"e=1%3A6").is_err());
/// assert!(jsonp::form_data(b"d=%FF").is_err());
/// # Ok::<(), engineio::Error>(())
/// ```
pub fn form_data(body: &[u8]) -> Result<String> {
    let mut found: Option<Vec<u8>> = None;
    for pair in body.split(|&b| b == b'&') {
        let (name, value) = match pair.iter().position(|&b| b == b'=') {
            Some(at) => (&pair[..at], &pair[at + 1..]),
            None => (pair, &[][..]),
        };
        // The only names that decode to `d`.
        if name != b"d" && name != b"%64" {
            continue;
        }
        if found.is_some() {
            return Err(decode_error("JSONP body has more than one d field"));
        }
        found = Some(percent_decode(value));
    }
    let data = found.ok_or_else(|| decode_error("JSONP body has no d field"))?;
    let data =
        String::from_utf8(data).map_err(|_| decode_error("JSONP payload is not valid UTF-8"))?;
    Ok(unescape_newlines(&data))
}

/// Form-urlencoded value decoding: `+` is a space, `%` and two hex digits a byte, and
/// any other `%` stays as it is.
fn percent_decode(value: &[u8]) -> Vec<u8> {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        match value[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let high = value.get(i + 1).copied().and_then(hex);
                let low = value.get(i + 2).copied().and_then(hex);
                if let (Some(high), Some(low)) = (high, low) {
                    out.push(high << 4 | low);
                    i += 2;
                } else {
                    out.push(b'%');
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// Undoes the client's newline escaping, as the reference's two replacements do.
fn unescape_newlines(data: &str) -> String {
    // Every split point below is at an ASCII byte, so every slice is a char boundary.
    let bytes = data.as_bytes();
    let at = |i: usize| bytes.get(i).copied();
    // Pass 1: `\n` becomes a line feed, unless it is the end of `\\n`.
    let mut once = String::with_capacity(data.len());
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        if at(i) == Some(b'\\') {
            if at(i + 1) == Some(b'\\') && at(i + 2) == Some(b'n') {
                i += 3;
                continue;
            }
            if at(i + 1) == Some(b'n') {
                once.push_str(&data[start..i]);
                once.push('\n');
                i += 2;
                start = i;
                continue;
            }
        }
        i += 1;
    }
    once.push_str(&data[start..]);
    // Pass 2: `\\n` becomes `\n`.
    let bytes = once.as_bytes();
    let at = |i: usize| bytes.get(i).copied();
    let mut twice = String::with_capacity(once.len());
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        if at(i) == Some(b'\\') && at(i + 1) == Some(b'\\') && at(i + 2) == Some(b'n') {
            twice.push_str(&once[start..i]);
            twice.push_str("\\n");
            i += 3;
            start = i;
        } else {
            i += 1;
        }
    }
    twice.push_str(&once[start..]);
    twice
}

/// Decodes a JSONP POST body: the payload of its `d` field ([`form_data`]) in the text
/// form of `version` ([`payload::decode_str`](super::decode_str) for v4,
/// [`v3::decode_text_str`] for v3, with `max_payload` bounding its length digits).
///
/// # Errors
///
/// An error of kind [`ErrorKind::Decode`] for everything [`form_data`] and the
/// version's payload decoder reject; no packet is returned then.
///
/// ```
/// use engineio::packet::Packet;
/// use engineio::payload::jsonp;
/// use engineio::ProtocolVersion;
///
/// assert_eq!(
///     jsonp::decode(b"d=4a%5Cnb%1E2", ProtocolVersion::V4, 1000)?,
///     [Packet::text("a\nb"), Packet::Ping(String::new())],
/// );
/// assert_eq!(
///     jsonp::decode(b"d=10%3Ab4AQIDBA%3D%3D", ProtocolVersion::V3, 1000)?,
///     [Packet::binary(vec![1, 2, 3, 4])],
/// );
/// assert!(jsonp::decode(b"d=", ProtocolVersion::V4, 1000).is_err());
/// # Ok::<(), engineio::Error>(())
/// ```
pub fn decode(body: &[u8], version: ProtocolVersion, max_payload: usize) -> Result<Vec<Packet>> {
    let payload = form_data(body)?;
    match version {
        ProtocolVersion::V3 => v3::decode_text_str(&payload, max_payload),
        ProtocolVersion::V4 => super::decode_str(&payload),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::tests::any_packet;
    use proptest::prelude::*;

    fn wrapped(index: u32, payload: &str) -> String {
        let mut out = Vec::new();
        wrap(index, payload, &mut out);
        String::from_utf8(out).unwrap()
    }

    /// What the official client posts for `payload`: `\n` escaped as `\\n`, line feeds
    /// as `\n` (its `polling-jsonp` `doWrite`), then the browser's form encoding of
    /// the textarea `d` (`application/x-www-form-urlencoded`, UTF-8).
    fn client_body(payload: &str) -> Vec<u8> {
        let escaped = payload.replace("\\n", "\\\n").replace('\n', "\\n");
        let mut body = b"d=".to_vec();
        for &b in escaped.as_bytes() {
            match b {
                b' ' => body.push(b'+'),
                b'*' | b'-' | b'.' | b'_' | b'0'..=b'9' | b'A'..=b'Z' | b'a'..=b'z' => body.push(b),
                _ => body.extend_from_slice(format!("%{b:02X}").as_bytes()),
            }
        }
        body
    }

    fn form_fails(body: &[u8]) {
        let err = form_data(body).expect_err(&String::from_utf8_lossy(body));
        assert_eq!(err.kind(), ErrorKind::Decode, "{body:?}");
    }

    /// J1: a non-negative decimal integer, bounded; anything else is refused.
    #[test]
    fn j1_index_validation() {
        for (j, index) in [
            ("0", 0),
            ("1", 1),
            ("233", 233),
            ("007", 7),
            ("0000000001", 1),
            ("4294967295", u32::MAX),
        ] {
            assert_eq!(parse_index(j).unwrap(), index, "{j:?}");
        }
        for j in [
            "",
            " ",
            "-1",
            "+1",
            "-0",
            " 1",
            "1 ",
            "1a",
            "a1",
            "0x1",
            "1e3",
            "1.0",
            "1,0",
            "١",
            "１",
            "4294967296",
            "9999999999",
            "00000000001",
            "99999999999999999999",
        ] {
            assert_eq!(
                parse_index(j).unwrap_err().kind(),
                ErrorKind::Decode,
                "{j:?}"
            );
        }
        // Written back without leading zeros.
        assert_eq!(
            wrapped(parse_index("010").unwrap(), "6"),
            r#"___eio[10]("6");"#
        );
    }

    /// J2: the GET wrapper, escaped as `JSON.stringify` plus U+2028/U+2029.
    #[test]
    fn j2_get_wrapper_and_escaping() {
        assert_eq!(wrapped(233, "4abc"), r#"___eio[233]("4abc");"#);
        assert_eq!(wrapped(0, ""), r#"___eio[0]("");"#);
        assert_eq!(wrapped(u32::MAX, "6"), r#"___eio[4294967295]("6");"#);
        // The reference's output for the same string (JSON.stringify, then the two
        // replacements of its polling-jsonp doWrite).
        assert_eq!(
            wrapped(1, "\"\\/\u{8}\u{c}\n\r\t\u{0}\u{1f}\u{7f}\u{2028}\u{2029}é😀\u{2027}\u{202a}"),
            "___eio[1](\"\\\"\\\\/\\b\\f\\n\\r\\t\\u0000\\u001f\u{7f}\\u2028\\u2029é😀\u{2027}\u{202a}\");"
        );
        // Every control character.
        for c in 0u8..0x20 {
            let expected = match c {
                0x08 => "\\b".to_owned(),
                0x0c => "\\f".to_owned(),
                b'\n' => "\\n".to_owned(),
                b'\r' => "\\r".to_owned(),
                b'\t' => "\\t".to_owned(),
                _ => format!("\\u{c:04x}"),
            };
            let payload = format!("4a{}b", char::from(c));
            assert_eq!(
                wrapped(2, &payload),
                format!("___eio[2](\"4a{expected}b\");"),
                "{c:#x}"
            );
        }
        // The record separator of v4 payloads, and a v3 payload with binary.
        assert_eq!(wrapped(3, "4a\u{1e}2"), r#"___eio[3]("4a\u001e2");"#);
        assert_eq!(
            wrapped(3, "10:b4AQIDBA=="),
            r#"___eio[3]("10:b4AQIDBA==");"#
        );
        // U+2028/U+2029 at the very end, and truncated look-alikes that are not them.
        assert_eq!(wrapped(4, "\u{2029}"), r#"___eio[4]("\u2029");"#);
        assert_eq!(wrapped(4, "\u{2000}\u{20ac}"), "___eio[4](\"\u{2000}€\");");
    }

    /// J2, J4: `encode` wraps the version's text form, binary always base64.
    #[test]
    fn j4_encode_uses_the_version_text_form() {
        let packets = [
            Packet::text("a\"b"),
            Packet::binary(vec![1, 2, 3, 4]),
            Packet::text("€\u{2028}"),
        ];
        let mut body = Vec::new();
        encode(9, &packets, ProtocolVersion::V3, &mut body);
        assert_eq!(
            String::from_utf8(body.clone()).unwrap(),
            r#"___eio[9]("4:4a\"b10:b4AQIDBA==3:4€\u2028");"#
        );
        body.clear();
        encode(9, &packets, ProtocolVersion::V4, &mut body);
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"___eio[9]("4a\"b\u001ebAQIDBA==\u001e4€\u2028");"#
        );
    }

    /// J3: `+` is a space, `%XX` a byte (either case), a malformed `%` itself.
    #[test]
    fn j3_form_decoding() {
        // Vectors checked against Node's querystring.parse, as the reference uses it.
        for (body, d) in [
            (&b"d=a+b%2B%"[..], "a b+%"),
            (b"d=%zz%4%41%e2%82%ac", "%zz%4A€"),
            (b"d=%%41", "%A"),
            (b"d=%", "%"),
            (b"d=%4", "%4"),
            (b"d=%4g", "%4g"),
            (b"%64=x", "x"),
            (b"d", ""),
            (b"d=", ""),
            (b"x=1&&d=2&", "2"),
            (b"x=1&d=a=b", "a=b"),
            (b"dd=1&d=2&D=3&d%20=4&+d=5", "2"),
            (b"d=%c3%A9", "é"),
            ("d=é€".as_bytes(), "é€"),
            (b"d=1%3A6", "1:6"),
        ] {
            assert_eq!(form_data(body).unwrap(), d, "{body:?}");
        }
        form_fails(b"");
        form_fails(b"x=1");
        form_fails(b"D=1");
        form_fails(b"d=1&d=2");
        form_fails(b"d&d");
        form_fails(b"%64=1&d=2");
        form_fails(b"d=%FF");
        form_fails(b"d=%C3");
        form_fails(b"d=\xff");
        form_fails(b"d=%ED%A0%80");
    }

    /// J3: the client's newline escaping is undone exactly as the reference does.
    #[test]
    fn j3_newline_unescaping() {
        // Vectors checked against the reference's two replacements.
        for (posted, payload) in [
            (r"\n", "\n"),
            (r"\\n", r"\n"),
            (r"\\\n", r"\\n"),
            (r"\\\\n", r"\\\n"),
            (r"a\nb\\nc", "a\nb\\nc"),
            (r"\\\nn\n\", "\\\\nn\n\\"),
            (r"n\", r"n\"),
            (r"\\", r"\\"),
            (r"\\\\\n\n", "\\\\\\\\n\n"),
            ("\\", "\\"),
            ("", ""),
            ("no escapes é", "no escapes é"),
        ] {
            assert_eq!(unescape_newlines(posted), payload, "{posted:?}");
        }
        // Through the form: a line feed is posted as `\n`, a `\n` as `\\n`.
        assert_eq!(form_data(&client_body("a\nb")).unwrap(), "a\nb");
        assert_eq!(form_data(&client_body("a\\nb")).unwrap(), "a\\nb");
        assert_eq!(form_data(&client_body("\\\\n\n")).unwrap(), "\\\\n\n");
        assert_eq!(client_body("a\nb"), b"d=a%5Cnb");
        // The client's one ambiguity: a backslash before a line feed comes back as `\n`.
        assert_eq!(form_data(&client_body("\\\n")).unwrap(), "\\n");
    }

    /// J3, J4: POST bodies decode to the version's packets.
    #[test]
    fn j3_post_decoding() {
        let packets = [
            Packet::text("line 1\nline 2 \\n"),
            Packet::binary(vec![0, 1, 2]),
            Packet::Ping("probe".into()),
        ];
        let mut payload = Vec::new();
        v3::encode_text(&packets, &mut payload);
        let body = client_body(std::str::from_utf8(&payload).unwrap());
        assert_eq!(decode(&body, ProtocolVersion::V3, 1000).unwrap(), packets);
        payload.clear();
        super::super::encode(&packets, &mut payload);
        let body = client_body(std::str::from_utf8(&payload).unwrap());
        assert_eq!(decode(&body, ProtocolVersion::V4, 1000).unwrap(), packets);
        // The other version's form is refused.
        let v3_body = b"d=8%3A4abcdefg";
        assert_eq!(
            decode(v3_body, ProtocolVersion::V3, 1000).unwrap(),
            [Packet::text("abcdefg")]
        );
        assert!(decode(v3_body, ProtocolVersion::V4, 1000).is_err());
        assert!(decode(b"d=6", ProtocolVersion::V3, 1000).is_err());
        // Empty payloads are errors in both (L3, and the v3 reference).
        for version in [ProtocolVersion::V3, ProtocolVersion::V4] {
            for body in [&b"d="[..], b"d", b"", b"x=6"] {
                assert_eq!(
                    decode(body, version, 1000).unwrap_err().kind(),
                    ErrorKind::Decode,
                    "{body:?} {version}"
                );
            }
        }
        // max_payload bounds v3 length digits.
        assert!(decode(b"d=00001%3A6", ProtocolVersion::V3, 1000).is_err());
        assert_eq!(
            decode(b"d=0001%3A6", ProtocolVersion::V3, 1000).unwrap(),
            [Packet::Noop]
        );
    }

    proptest! {
        /// The GET body is a call whose argument is a JSON string holding the payload,
        /// with no raw U+2028/U+2029 and no raw control character.
        #[test]
        fn prop_wrap_is_a_json_string(index in any::<u32>(), payload in any::<String>()) {
            let body = wrapped(index, &payload);
            let head = format!("___eio[{index}](");
            prop_assert!(body.starts_with(&head));
            prop_assert!(body.ends_with(");"));
            let json = &body[head.len()..body.len() - 2];
            prop_assert_eq!(serde_json::from_str::<String>(json).unwrap(), payload);
            let separators = ['\u{2028}', '\u{2029}'];
            prop_assert!(!json.contains(separators));
            prop_assert!(!json.chars().any(|c| c < ' '));
        }

        /// POST: what the official client sends decodes to its payload, except for its
        /// one ambiguity (a backslash before a line feed).
        #[test]
        fn prop_form_round_trips(payload in "[a\\\\n\n\r%+&= é😀\u{1e}\u{2028}]{0,24}") {
            prop_assume!(!payload.contains("\\\n"));
            prop_assert_eq!(form_data(&client_body(&payload)).unwrap(), payload);
        }

        #[test]
        fn prop_post_round_trips(
            packets in proptest::collection::vec(any_packet(false), 1..8),
            v3_version in any::<bool>(),
        ) {
            let version = if v3_version { ProtocolVersion::V3 } else { ProtocolVersion::V4 };
            let mut payload = Vec::new();
            match version {
                ProtocolVersion::V3 => v3::encode_text(&packets, &mut payload),
                ProtocolVersion::V4 => super::super::encode(&packets, &mut payload),
            }
            let payload = String::from_utf8(payload).unwrap();
            prop_assume!(!payload.contains("\\\n"));
            let body = client_body(&payload);
            prop_assert_eq!(decode(&body, version, 1_000_000).unwrap(), packets.clone());
            // And the GET body carries the same payload.
            let mut get = Vec::new();
            encode(5, &packets, version, &mut get);
            let get = String::from_utf8(get).unwrap();
            let json = &get["___eio[5](".len()..get.len() - 2];
            prop_assert_eq!(serde_json::from_str::<String>(json).unwrap(), payload);
        }

        #[test]
        fn prop_decode_never_panics(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = form_data(&body);
            let _ = decode(&body, ProtocolVersion::V3, 1000);
            let _ = decode(&body, ProtocolVersion::V4, 1000);
        }

        #[test]
        fn prop_decode_plausible_bodies(body in "(d|x|%64|D)(=([a-z0-9+:\\\\]|%[0-9A-Fa-fz]{0,2}){0,10})?(&(d|x)=[a-z0-9%\\\\]{0,6}){0,2}") {
            if let Ok(data) = form_data(body.as_bytes()) {
                prop_assert!(data.len() <= body.len());
            }
        }

        #[test]
        fn prop_parse_index(j in "[0-9+ -]{0,12}") {
            match parse_index(&j) {
                Ok(index) => {
                    prop_assert!(j.len() <= 10 && j.bytes().all(|b| b.is_ascii_digit()));
                    prop_assert_eq!(Ok(index), j.parse::<u32>());
                }
                Err(_) => prop_assert!(
                    j.is_empty() || j.len() > 10 || !j.bytes().all(|b| b.is_ascii_digit())
                        || j.parse::<u32>().is_err()
                ),
            }
        }
    }
}
