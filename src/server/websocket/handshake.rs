//! The WebSocket opening handshake (RFC 6455 §4.2): checking the request and writing
//! the `101` by hand, on the connection the HTTP layer hands over.

use base64::Engine as _;

use crate::server::Request;

/// Checks that `req` is a well-formed WebSocket upgrade request and returns the
/// `Sec-WebSocket-Accept` value for it, or why it is not.
pub(crate) fn accept_key(req: &Request) -> Result<String, &'static str> {
    if req.method != http::Method::GET {
        return Err("websocket upgrade must be a GET");
    }
    let upgrade = req
        .header("upgrade")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"));
    if !upgrade {
        return Err("missing Upgrade: websocket");
    }
    let connection = req.header("connection").is_some_and(|v| {
        v.split(',')
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
    });
    if !connection {
        return Err("missing Connection: upgrade");
    }
    if req.header("sec-websocket-version").map(str::trim) != Some("13") {
        return Err("unsupported Sec-WebSocket-Version");
    }
    let key = req
        .header("sec-websocket-key")
        .map(str::trim)
        .ok_or("missing Sec-WebSocket-Key")?;
    match base64::engine::general_purpose::STANDARD.decode(key) {
        Ok(raw) if raw.len() == 16 => {}
        _ => return Err("malformed Sec-WebSocket-Key"),
    }
    Ok(tungstenite::handshake::derive_accept_key(key.as_bytes()))
}

/// The `101 Switching Protocols` response head, with extra headers (the cookie).
pub(crate) fn switching_protocols(accept: &str, extra: &[(&str, String)]) -> Vec<u8> {
    let mut head = String::with_capacity(160);
    head.push_str("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ");
    head.push_str(accept);
    head.push_str("\r\n");
    for (name, value) in extra {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    head.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)]) -> Request {
        Request::for_tests(
            http::Method::GET,
            "/engine.io/?EIO=4&transport=websocket",
            headers,
        )
    }

    const GOOD: &[(&str, &str)] = &[
        ("Upgrade", "websocket"),
        ("Connection", "keep-alive, Upgrade"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];

    #[test]
    fn rfc_example_key() {
        // RFC 6455 §1.3.
        assert_eq!(
            accept_key(&req(GOOD)).unwrap(),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn malformed_requests_are_refused() {
        for (drop, replace) in [
            ("Upgrade", None),
            ("Connection", Some("keep-alive")),
            ("Sec-WebSocket-Version", Some("8")),
            ("Sec-WebSocket-Key", Some("short")),
            ("Sec-WebSocket-Key", None),
        ] {
            let headers: Vec<(&str, &str)> = GOOD
                .iter()
                .filter_map(|&(k, v)| {
                    if k == drop {
                        replace.map(|r| (k, r))
                    } else {
                        Some((k, v))
                    }
                })
                .collect();
            assert!(accept_key(&req(&headers)).is_err(), "{drop} {replace:?}");
        }
    }
}
