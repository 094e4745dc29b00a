//! Engine.IO protocol v3 on the server (opt-in with `allow_eio3`), with every byte
//! visible: handshake, text and binary payloads, base64 mode, the client-driven
//! heartbeat, WebSocket frames with a type byte, the upgrade; and JSONP polling for
//! both versions (protocol.md §14, §15).

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use engineio::server::{Server, ServerBuilder};
use engineio::ProtocolVersion;

mod support;
use support::rawhttp::{read_response, request, start, wait_for, Events, Resp};
use support::rawws::{self, Frame};

fn v3_server(b: ServerBuilder) -> (engineio::server::Listening, Events) {
    start(b.allow_eio3(true))
}

fn get(addr: SocketAddr, query: &str) -> Resp {
    support::rawhttp::get(addr, query)
}

/// A POST with an explicit content type and raw body.
fn post(addr: SocketAddr, query: &str, content_type: &str, body: &[u8]) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let head = format!(
        "POST /engine.io/?{query} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    read_response(&mut s)
}

/// A v3 polling handshake (`extra` appended to the query): the sid.
fn handshake_v3(addr: SocketAddr, extra: &str) -> String {
    let r = get(addr, &format!("EIO=3&transport=polling{extra}"));
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    let (len, rest) = text.split_once(':').unwrap();
    // V4: the length counts UTF-16 units of `0{…}`.
    assert_eq!(len.parse::<usize>().unwrap(), rest.encode_utf16().count());
    assert!(rest.starts_with("0{"), "{text}");
    let v: serde_json::Value = serde_json::from_str(&rest[1..]).unwrap();
    v["sid"].as_str().unwrap().to_string()
}

#[test]
fn v3_is_refused_unless_allowed_and_eio_must_be_exact() {
    let _dog = support::watchdog(60, "v3 refused by default");
    let (app, _) = start(Server::builder());
    let e5 = r#"{"code":5,"message":"Unsupported protocol version"}"#;
    assert_eq!(get(app.local_addr(), "EIO=3&transport=polling").text(), e5);
    let (app, _) = v3_server(Server::builder());
    let a = app.local_addr();
    for bad in ["03", "3.0", "5", "", "3&EIO=3"] {
        assert_eq!(
            get(a, &format!("EIO={bad}&transport=polling")).text(),
            e5,
            "{bad}"
        );
    }
    // v4 is unchanged with v3 on.
    assert!(get(a, "EIO=4&transport=polling").text().starts_with("0{"));
}

#[test]
fn a_v3_session_echoes_text_payloads_and_keeps_its_version() {
    let _dog = support::watchdog(60, "v3 text payloads");
    let (app, _) = v3_server(Server::builder());
    let a = app.local_addr();
    let sid = handshake_v3(a, "");
    assert_eq!(app.server().protocol(&sid).unwrap(), ProtocolVersion::V3);
    let q = format!("EIO=3&transport=polling&sid={sid}");
    // Lengths in UTF-16 units (V4): `€` is one, `😀` two.
    let r = post(
        a,
        &q,
        "text/plain;charset=UTF-8",
        "6:4hello2:4€3:4😀".as_bytes(),
    );
    assert_eq!(r.text(), "ok");
    let r = get(a, &q);
    assert_eq!(
        r.header("Content-Type").unwrap(),
        "text/plain; charset=UTF-8"
    );
    assert_eq!(r.text(), "6:4hello2:4€3:4😀");
    // v3 payloads are length-prefixed: U+001E travels.
    app.server().send(&sid, "a\u{1e}b").unwrap();
    assert_eq!(get(a, &q).text(), "4:4a\u{1e}b");
    // The session's version is fixed: a v4 request for it is refused (V1).
    let r = get(a, &format!("EIO=4&transport=polling&sid={sid}"));
    assert_eq!(r.text(), r#"{"code":3,"message":"Bad request"}"#);
    // A malformed payload (V8) closes the session with a parse error.
    let r = post(a, &q, "text/plain", b"4x");
    assert_eq!(r.status, 400);
}

#[test]
fn binary_travels_in_binary_payloads_or_in_base64() {
    let _dog = support::watchdog(60, "v3 binary payloads");
    let (app, _) = v3_server(Server::builder());
    let a = app.local_addr();
    // V6: binary form both ways.
    let sid = handshake_v3(a, "");
    let q = format!("EIO=3&transport=polling&sid={sid}");
    let body = [
        0x00, 0x06, 0xff, b'4', b'h', b'e', b'l', b'l', b'o', 0x01, 0x05, 0xff, 0x04, 1, 2, 3, 4,
    ];
    assert_eq!(post(a, &q, "application/octet-stream", &body).text(), "ok");
    let r = get(a, &q);
    assert_eq!(
        r.header("Content-Type").unwrap(),
        "application/octet-stream"
    );
    assert_eq!(r.body, body);
    // V5: a session that asked for base64 gets text payloads.
    let sid = handshake_v3(a, "&b64=1");
    let q = format!("EIO=3&transport=polling&sid={sid}");
    assert_eq!(post(a, &q, "text/plain", b"10:b4AQIDBA==").text(), "ok");
    let r = get(a, &q);
    assert_eq!(
        r.header("Content-Type").unwrap(),
        "text/plain; charset=UTF-8"
    );
    assert_eq!(r.text(), "10:b4AQIDBA==");
}

#[test]
fn the_client_pings_and_the_server_answers() {
    let _dog = support::watchdog(60, "v3 heartbeat");
    let (app, events) = v3_server(
        Server::builder()
            .ping_interval(Duration::from_millis(400))
            .ping_timeout(Duration::from_millis(400)),
    );
    let a = app.local_addr();
    let sid = handshake_v3(a, "");
    let q = format!("EIO=3&transport=polling&sid={sid}");
    // V3: a ping is answered at once with the same data; the server never pings.
    for _ in 0..4 {
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(post(a, &q, "text/plain", b"6:2hello").text(), "ok");
        assert_eq!(get(a, &q).text(), "6:3hello");
    }
    assert!(app.server().is_connected(&sid), "pinging kept it alive");
    // Silence: closed one interval plus one timeout after the last ping.
    wait_for("the ping timeout", || {
        events
            .lock()
            .unwrap()
            .contains(&"disconnect ping timeout".to_string())
    });
    // A pong from a v3 client is the wrong direction (V3).
    let sid = handshake_v3(a, "");
    let q = format!("EIO=3&transport=polling&sid={sid}");
    assert_eq!(post(a, &q, "text/plain", b"1:3").text(), "ok");
    wait_for("the transport error", || !app.server().is_connected(&sid));
}

#[test]
fn v3_websocket_frames_carry_the_type_byte() {
    let _dog = support::watchdog(60, "v3 websocket");
    let (app, _) = v3_server(Server::builder());
    let a = app.local_addr();
    let mut ws = rawws::connect(a, "EIO=3&transport=websocket");
    let open = rawws::recv_text(&mut ws);
    assert!(open.starts_with("0{"), "{open}");
    let sid = serde_json::from_str::<serde_json::Value>(&open[1..]).unwrap()["sid"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(app.server().protocol(&sid).unwrap(), ProtocolVersion::V3);
    // V9: a binary frame is the type byte then the data, both ways.
    ws.send(Frame::Binary(vec![4u8, 1, 2, 3].into())).unwrap();
    assert_eq!(
        rawws::recv(&mut ws),
        Frame::Binary(vec![4u8, 1, 2, 3].into())
    );
    // A `b4` text frame is a base64 binary message; text is as in v4.
    rawws::send_text(&mut ws, "b4AQID");
    assert_eq!(
        rawws::recv(&mut ws),
        Frame::Binary(vec![4u8, 1, 2, 3].into())
    );
    rawws::send_text(&mut ws, "4hi");
    assert_eq!(rawws::recv_text(&mut ws), "4hi");
    rawws::send_text(&mut ws, "2x");
    assert_eq!(rawws::recv_text(&mut ws), "3x");
}

#[test]
fn a_v3_session_upgrades_to_websocket() {
    let _dog = support::watchdog(60, "v3 upgrade");
    let (app, _) = v3_server(Server::builder());
    let a = app.local_addr();
    let sid = handshake_v3(a, "");
    app.server().send(&sid, "queued").unwrap();
    let mut ws = rawws::connect(a, &format!("EIO=3&transport=websocket&sid={sid}"));
    rawws::send_text(&mut ws, "2probe");
    assert_eq!(rawws::recv_text(&mut ws), "3probe");
    let q = format!("EIO=3&transport=polling&sid={sid}");
    assert_eq!(get(a, &q).text(), "1:6");
    rawws::send_text(&mut ws, "5");
    assert_eq!(rawws::recv_text(&mut ws), "4queued");
    rawws::send_text(&mut ws, "4over ws");
    assert_eq!(rawws::recv_text(&mut ws), "4over ws");
    assert_eq!(
        app.server().transport(&sid).unwrap(),
        engineio::Transport::WebSocket
    );
}

/// The payload of a JSONP response `___eio[n]("…");`, unescaped.
fn jsonp_payload(r: &Resp, index: u32) -> String {
    assert_eq!(
        r.header("Content-Type").unwrap(),
        "text/javascript; charset=UTF-8"
    );
    let text = r.text();
    let prefix = format!("___eio[{index}](");
    let inner = text
        .strip_prefix(&prefix)
        .and_then(|t| t.strip_suffix(");"))
        .unwrap_or_else(|| panic!("not a JSONP response: {text}"));
    serde_json::from_str::<String>(inner).unwrap()
}

#[test]
fn jsonp_polling_works_for_both_versions() {
    let _dog = support::watchdog(60, "JSONP");
    let (app, _) = v3_server(Server::builder());
    let a = app.local_addr();
    for (eio, open_prefix, echo) in [("4", "0{", "4a \"quoted\"\n€"), ("3", "", "")] {
        let r = get(a, &format!("EIO={eio}&transport=polling&j=7"));
        let open = jsonp_payload(&r, 7);
        let json_start = open.find("0{").unwrap();
        assert!(open.starts_with(open_prefix), "{open}");
        let sid = serde_json::from_str::<serde_json::Value>(&open[json_start + 1..]).unwrap()
            ["sid"]
            .as_str()
            .unwrap()
            .to_string();
        let q = format!("EIO={eio}&transport=polling&sid={sid}&j=7");
        // J3: a form-encoded `d` field; the client escapes newlines as `\\n`.
        let (body, want) = if eio == "4" {
            ("d=4a+%22quoted%22%5Cn%E2%82%AC", echo.to_string())
        } else {
            ("d=6%3A4hello", "6:4hello".to_string())
        };
        let r = post(a, &q, "application/x-www-form-urlencoded", body.as_bytes());
        assert_eq!(r.text(), "ok");
        assert_eq!(jsonp_payload(&get(a, &q), 7), want);
    }
    // J1: the index is a non-negative decimal integer.
    let r = get(a, "EIO=4&transport=polling&j=x");
    assert_eq!(r.text(), r#"{"code":3,"message":"Bad request"}"#);
    let r = request(
        a,
        "GET /engine.io/?EIO=4&transport=polling&j=-1 HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_eq!(r.status, 400);
}
