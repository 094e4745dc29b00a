//! The Engine.IO v4 pieces the load generator speaks (see the engineio crate's
//! protocol notes): URLs, the OPEN packet, packet kinds and polling payloads. Pure: no
//! sockets, no clocks.

/// The default Engine.IO path (every benchmark contender serves it).
pub const PATH: &str = "/engine.io/";

/// The polling payload separator (L1).
pub const SEPARATOR: char = '\x1e';

/// `/engine.io/` from `engine.io`, `/engine.io`, `engine.io/` or `/engine.io/`; `/`
/// from an empty path.
pub fn normalize_path(path: &str) -> String {
    let trimmed = path.trim_matches('/');
    if trimmed.is_empty() {
        "/".to_owned()
    } else {
        format!("/{trimmed}/")
    }
}

/// The URL (path and query) of a handshake on `transport`, at `path` (normalised),
/// with `query` (encoded, without `?`; may be empty) before the Engine.IO parameters.
pub fn handshake_url(path: &str, query: &str, transport: &str) -> String {
    let sep = if query.is_empty() { "" } else { "&" };
    format!("{path}?{query}{sep}EIO=4&transport={transport}")
}

/// The URL (path and query) of a request on session `sid`.
pub fn session_url(path: &str, query: &str, transport: &str, sid: &str) -> String {
    format!("{}&sid={sid}", handshake_url(path, query, transport))
}

/// One packet as the generator sees it.
#[derive(Debug, PartialEq, Eq)]
pub enum Packet<'a> {
    /// `0{...}`: the handshake, with the session id it names.
    Open {
        /// The session id.
        sid: String,
    },
    /// `1`: the server closed the session.
    Close,
    /// `2…`: a ping, to answer with `3` and the same data.
    Ping(&'a str),
    /// `3…`: a pong (`3probe` during an upgrade).
    Pong(&'a str),
    /// `4…`: a text message.
    Message(&'a str),
    /// `b…`: a binary message, base64 in a text frame or payload (its text as sent).
    BinaryBase64(&'a str),
    /// `6`: noop.
    Noop,
}

/// Why a packet cannot be read.
#[derive(Debug, PartialEq, Eq)]
pub struct PacketError(pub String);

/// Decodes one text packet (K1, H4).
pub fn decode(text: &str) -> Result<Packet<'_>, PacketError> {
    let mut chars = text.chars();
    let kind = chars
        .next()
        .ok_or_else(|| PacketError("empty packet".into()))?;
    let data = chars.as_str();
    Ok(match kind {
        '0' => Packet::Open {
            sid: open_sid(data).ok_or_else(|| PacketError(format!("bad OPEN packet {text:?}")))?,
        },
        '1' => Packet::Close,
        '2' => Packet::Ping(data),
        '3' => Packet::Pong(data),
        '4' => Packet::Message(data),
        '5' => return Err(PacketError("upgrade packet from the server".into())),
        '6' => Packet::Noop,
        'b' => Packet::BinaryBase64(data),
        _ => return Err(PacketError(format!("unknown packet {text:?}"))),
    })
}

/// The `sid` of the OPEN packet's JSON.
fn open_sid(json: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(json).ok()?;
    Some(value.get("sid")?.as_str()?.to_string())
}

/// The packets of a polling payload (L1): text packets separated by `\x1e`.
pub fn split_payload(body: &str) -> impl Iterator<Item = &str> {
    body.split(SEPARATOR).filter(|p| !p.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_packets_a_server_sends() {
        let open = r#"0{"sid":"Qx3fT0aZ-m9_kLw2bR7c","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;
        assert_eq!(
            decode(open),
            Ok(Packet::Open {
                sid: "Qx3fT0aZ-m9_kLw2bR7c".into()
            })
        );
        assert_eq!(decode("2"), Ok(Packet::Ping("")));
        assert_eq!(decode("3probe"), Ok(Packet::Pong("probe")));
        assert_eq!(decode("4héllo"), Ok(Packet::Message("héllo")));
        assert_eq!(decode("4"), Ok(Packet::Message("")));
        assert_eq!(decode("bAQID"), Ok(Packet::BinaryBase64("AQID")));
        assert_eq!(decode("1"), Ok(Packet::Close));
        assert_eq!(decode("6"), Ok(Packet::Noop));
        assert!(decode("").is_err());
        assert!(decode("9").is_err());
        assert!(decode("0{}").is_err());
    }

    #[test]
    fn splits_polling_payloads() {
        let got: Vec<&str> = split_payload("4a\x1e2\x1e4b").collect();
        assert_eq!(got, ["4a", "2", "4b"]);
        assert_eq!(split_payload("").count(), 0);
        assert_eq!(
            session_url(PATH, "", "polling", "abc"),
            "/engine.io/?EIO=4&transport=polling&sid=abc"
        );
        assert_eq!(
            handshake_url("/socket.io/", "token=a%20b", "websocket"),
            "/socket.io/?token=a%20b&EIO=4&transport=websocket"
        );
        assert_eq!(normalize_path("socket.io"), "/socket.io/");
        assert_eq!(normalize_path(""), "/");
    }
}
