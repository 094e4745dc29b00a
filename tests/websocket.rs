//! The WebSocket transport on real loopback sockets: WebSocket-only sessions, the
//! heartbeat, limits and violations, every close path, broadcast and slow peers.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use engineio::server::{App, Reason, Server};
use engineio::Transport;

mod support;
use support::rawhttp::{self, start, wait_for};
use support::rawws::{self, Frame};

fn disconnects(events: &rawhttp::Events) -> Vec<String> {
    events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.starts_with("disconnect"))
        .cloned()
        .collect()
}

fn wait_disconnect(events: &rawhttp::Events, expected: &str) {
    wait_for(expected, || !disconnects(events).is_empty());
    assert_eq!(disconnects(events), vec![format!("disconnect {expected}")]);
}

#[test]
fn websocket_handshake_sends_open_then_connect_handler_packets() {
    let _dog = support::watchdog(
        120,
        "websocket_handshake_sends_open_then_connect_handler_packets",
    );
    let server = Server::builder()
        .ping_interval(Duration::from_millis(4000))
        .on_connect(|server, sid, _| {
            server.send(sid, "welcome").unwrap();
            Ok(())
        })
        .build()
        .unwrap();
    let app = App::new(server).listen("127.0.0.1:0").unwrap();
    let mut ws = rawws::connect(app.local_addr(), "EIO=4&transport=websocket&t=x");
    let open = rawws::recv_text(&mut ws);
    let v: serde_json::Value = serde_json::from_str(&open[1..]).unwrap();
    let sid = v["sid"].as_str().unwrap();
    assert_eq!(
        open,
        format!(
            "0{{\"sid\":\"{sid}\",\"upgrades\":[],\"pingInterval\":4000,\"pingTimeout\":20000,\"maxPayload\":1000000}}"
        )
    );
    assert_eq!(rawws::recv_text(&mut ws), "4welcome");
    assert_eq!(app.server().transport(sid).unwrap(), Transport::WebSocket);
    // X5: no polling for a WebSocket-only session.
    let r = rawhttp::get(
        app.local_addr(),
        &format!("EIO=4&transport=polling&sid={sid}"),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.text(), r#"{"code":3,"message":"Bad request"}"#);
    // W5: a second WebSocket gets 101 and an immediate close; the session carries on.
    rawws::assert_refused_with_close(
        app.local_addr(),
        &format!("EIO=4&transport=websocket&sid={sid}"),
    );
    assert!(app.server().is_connected(sid));
    app.shutdown();
}

#[test]
fn text_and_binary_echo_over_websocket() {
    let _dog = support::watchdog(120, "text_and_binary_echo_over_websocket");
    let (app, events) = start(Server::builder());
    let (mut ws, _sid) = rawws::open(app.local_addr());
    rawws::send_text(&mut ws, "4héllo €");
    assert_eq!(rawws::recv_text(&mut ws), "4héllo €");
    ws.send(Frame::binary(vec![0u8, 1, 2, 255])).unwrap();
    match rawws::recv(&mut ws) {
        Frame::Binary(b) => assert_eq!(&b[..], &[0, 1, 2, 255]),
        other => panic!("expected binary, got {other:?}"),
    }
    // W3: a base64 text frame is a binary message; it is echoed as a binary frame.
    rawws::send_text(&mut ws, "bAQIDBA==");
    match rawws::recv(&mut ws) {
        Frame::Binary(b) => assert_eq!(&b[..], &[1, 2, 3, 4]),
        other => panic!("expected binary, got {other:?}"),
    }
    // Empty messages are valid (K4).
    rawws::send_text(&mut ws, "4");
    assert_eq!(rawws::recv_text(&mut ws), "4");
    ws.send(Frame::binary(Vec::new())).unwrap();
    assert!(matches!(rawws::recv(&mut ws), Frame::Binary(b) if b.is_empty()));
    // Upgrade and noop packets are ignored on an open websocket (K7).
    rawws::send_text(&mut ws, "52");
    rawws::send_text(&mut ws, "6");
    rawws::send_text(&mut ws, "4after");
    assert_eq!(rawws::recv_text(&mut ws), "4after");
    let messages: Vec<String> = events.lock().unwrap().clone();
    assert_eq!(messages.len(), 6, "{messages:?}");
    app.shutdown();
}

#[test]
fn b64_query_sends_binary_as_base64_text() {
    let _dog = support::watchdog(120, "b64_query_sends_binary_as_base64_text");
    let (app, _) = start(Server::builder());
    let mut ws = rawws::connect(app.local_addr(), "EIO=4&transport=websocket&b64=1");
    assert!(rawws::recv_text(&mut ws).starts_with("0{"));
    ws.send(Frame::binary(vec![1u8, 2, 3, 4])).unwrap();
    assert_eq!(rawws::recv_text(&mut ws), "bAQIDBA==");
    app.shutdown();
}

#[test]
fn heartbeat_over_websocket_and_ping_timeout() {
    let _dog = support::watchdog(120, "heartbeat_over_websocket_and_ping_timeout");
    let (app, events) = start(
        Server::builder()
            .ping_interval(Duration::from_millis(200))
            .ping_timeout(Duration::from_millis(300)),
    );
    let (mut ws, sid) = rawws::open(app.local_addr());
    for _ in 0..3 {
        assert_eq!(rawws::recv_text(&mut ws), "2");
        rawws::send_text(&mut ws, "3");
    }
    assert!(app.server().is_connected(&sid));
    // Stop answering: the session ends with "1" and a close frame 1000.
    let started = Instant::now();
    assert_eq!(rawws::recv_text(&mut ws), "2");
    let (frames, code) = rawws::recv_until_close(&mut ws);
    assert_eq!(frames, vec![Frame::text("1")]);
    assert_eq!(code, Some(1000));
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(250), "{waited:?}");
    wait_disconnect(&events, "ping timeout");
    wait_for("session gone", || app.server().table_size() == 0);
    app.shutdown();
}

#[test]
fn server_push_reaches_a_silent_websocket_client() {
    let _dog = support::watchdog(120, "server_push_reaches_a_silent_websocket_client");
    let (app, _) = start(Server::builder().ping_interval(Duration::from_secs(60)));
    let (mut ws, sid) = rawws::open(app.local_addr());
    let server = app.server().clone();
    let pusher = thread::spawn(move || {
        for i in 0..50 {
            server.send(&sid, format!("push {i}")).unwrap();
            thread::sleep(Duration::from_millis(2));
        }
    });
    for i in 0..50 {
        assert_eq!(rawws::recv_text(&mut ws), format!("4push {i}"));
    }
    pusher.join().unwrap();
    app.shutdown();
}

#[test]
fn oversize_message_is_refused_from_its_header_with_1009() {
    let _dog = support::watchdog(120, "oversize_message_is_refused_from_its_header_with_1009");
    let (app, events) = start(Server::builder().max_payload(1000));
    let (ws, _sid) = rawws::open(app.local_addr());
    let mut tcp = ws.into_inner();
    // A masked text frame header announcing 10 MB, and only a few payload bytes.
    let mut frame = vec![0x81, 0xff];
    frame.extend_from_slice(&10_000_000u64.to_be_bytes());
    frame.extend_from_slice(&[1, 2, 3, 4, b'4' ^ 1, b'x' ^ 2]);
    tcp.write_all(&frame).unwrap();
    let mut got = Vec::new();
    let _ = tcp.read_to_end(&mut got);
    // The close frame 1009 (unmasked, from the server).
    assert!(got.ends_with(&[0x88, 0x02, 0x03, 0xf1]), "{got:?}");
    wait_disconnect(&events, "transport error");
    wait_for("an empty session table", || app.server().table_size() == 0);
    app.shutdown();
}

#[test]
fn fragmented_message_over_the_limit_is_refused() {
    let _dog = support::watchdog(120, "fragmented_message_over_the_limit_is_refused");
    let (app, events) = start(Server::builder().max_payload(1000));
    let (mut ws, _sid) = rawws::open(app.local_addr());
    use tungstenite::protocol::frame::coding::{Data, OpCode};
    use tungstenite::protocol::frame::Frame as RawFrame;
    let first = RawFrame::message(vec![b'4'; 600], OpCode::Data(Data::Text), false);
    let second = RawFrame::message(vec![b'x'; 600], OpCode::Data(Data::Continue), true);
    ws.send(Frame::Frame(first)).unwrap();
    let _ = ws.send(Frame::Frame(second));
    let (_, code) = rawws::recv_until_close(&mut ws);
    assert_eq!(code, Some(1009));
    wait_disconnect(&events, "transport error");
    app.shutdown();
}

#[test]
fn undecodable_packets_close_with_1002_parse_error() {
    let _dog = support::watchdog(120, "undecodable_packets_close_with_1002_parse_error");
    for bad in ["abc", "", "9x", "b!!"] {
        let (app, events) = start(Server::builder());
        let (mut ws, _sid) = rawws::open(app.local_addr());
        rawws::send_text(&mut ws, bad);
        let (frames, code) = rawws::recv_until_close(&mut ws);
        assert!(frames.is_empty(), "{bad:?}: {frames:?}");
        assert_eq!(code, Some(1002), "{bad:?}");
        wait_disconnect(&events, "parse error");
        app.shutdown();
    }
}

#[test]
fn invalid_utf8_text_frame_is_a_transport_error() {
    let _dog = support::watchdog(120, "invalid_utf8_text_frame_is_a_transport_error");
    let (app, events) = start(Server::builder());
    let (ws, _sid) = rawws::open(app.local_addr());
    let mut tcp = ws.into_inner();
    // Masked text frame with mask 0 and the bytes "4\xff".
    tcp.write_all(&[0x81, 0x82, 0, 0, 0, 0, b'4', 0xff])
        .unwrap();
    let mut got = Vec::new();
    let _ = tcp.read_to_end(&mut got);
    assert!(got.ends_with(&[0x88, 0x02, 0x03, 0xef]), "{got:?}"); // 1007
    wait_disconnect(&events, "transport error");
    app.shutdown();
}

#[test]
fn unmasked_client_frame_is_a_transport_error() {
    let _dog = support::watchdog(120, "unmasked_client_frame_is_a_transport_error");
    let (app, events) = start(Server::builder());
    let (ws, _sid) = rawws::open(app.local_addr());
    let mut tcp = ws.into_inner();
    tcp.write_all(&[0x81, 0x02, b'4', b'x']).unwrap();
    let mut got = Vec::new();
    let _ = tcp.read_to_end(&mut got);
    assert!(got.ends_with(&[0x88, 0x02, 0x03, 0xea]), "{got:?}"); // 1002
    wait_disconnect(&events, "transport error");
    app.shutdown();
}

#[test]
fn client_close_packet_is_a_client_disconnect() {
    let _dog = support::watchdog(120, "client_close_packet_is_a_client_disconnect");
    let (app, events) = start(Server::builder());
    let (mut ws, sid) = rawws::open(app.local_addr());
    rawws::send_text(&mut ws, "1");
    let (frames, code) = rawws::recv_until_close(&mut ws);
    assert!(frames.is_empty());
    assert_eq!(code, Some(1000));
    wait_disconnect(&events, "client disconnect");
    assert!(!app.server().is_connected(&sid));
    let r = rawhttp::get(
        app.local_addr(),
        &format!("EIO=4&transport=polling&sid={sid}"),
    );
    assert_eq!(r.status, 400);
    app.shutdown();
}

#[test]
fn peer_close_frame_and_dropped_tcp_are_transport_close() {
    let _dog = support::watchdog(120, "peer_close_frame_and_dropped_tcp_are_transport_close");
    let (app, events) = start(Server::builder());
    let (mut ws, _) = rawws::open(app.local_addr());
    ws.close(None).unwrap();
    // The server answers the close frame.
    loop {
        match ws.read() {
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("{e}"),
        }
    }
    wait_disconnect(&events, "transport close");

    let (app2, events2) = start(Server::builder());
    let (ws, _) = rawws::open(app2.local_addr());
    drop(ws);
    wait_disconnect(&events2, "transport close");
    wait_for("table empty", || app2.server().table_size() == 0);
    app.shutdown();
    app2.shutdown();
}

#[test]
fn client_ping_packet_is_a_transport_error() {
    let _dog = support::watchdog(120, "client_ping_packet_is_a_transport_error");
    let (app, events) = start(Server::builder());
    let (mut ws, _) = rawws::open(app.local_addr());
    rawws::send_text(&mut ws, "2");
    let (_, code) = rawws::recv_until_close(&mut ws);
    assert_eq!(code, Some(1002));
    wait_disconnect(&events, "transport error");
    app.shutdown();
}

#[test]
fn server_disconnect_sends_close_packet_then_1000() {
    let _dog = support::watchdog(120, "server_disconnect_sends_close_packet_then_1000");
    let (app, events) = start(Server::builder());
    let (mut ws, sid) = rawws::open(app.local_addr());
    app.server().send(&sid, "last words").unwrap();
    app.server().disconnect(&sid).unwrap();
    let (frames, code) = rawws::recv_until_close(&mut ws);
    assert_eq!(frames, vec![Frame::text("4last words"), Frame::text("1")]);
    assert_eq!(code, Some(1000));
    wait_disconnect(&events, "server disconnect");
    wait_for("an empty session table", || app.server().table_size() == 0);
    assert!(app.server().send(&sid, "x").is_err());
    app.shutdown();
}

#[test]
fn a_peer_that_never_answers_the_close_is_dropped_within_a_second() {
    let _dog = support::watchdog(
        120,
        "a_peer_that_never_answers_the_close_is_dropped_within_a_second",
    );
    let (app, events) = start(Server::builder());
    let (ws, sid) = rawws::open(app.local_addr());
    let mut tcp = ws.into_inner();
    app.server().disconnect(&sid).unwrap();
    let started = Instant::now();
    let mut got = Vec::new();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = tcp.read_to_end(&mut got); // EOF once the server drops TCP
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(3), "{waited:?}");
    assert!(got.ends_with(&[0x88, 0x02, 0x03, 0xe8]), "{got:?}");
    wait_disconnect(&events, "server disconnect");
    wait_for("connection closed", || app.connection_count() == 0);
    app.shutdown();
}

#[test]
fn shutdown_closes_websockets_with_1001() {
    let _dog = support::watchdog(120, "shutdown_closes_websockets_with_1001");
    let (app, events) = start(Server::builder());
    let (mut ws, _) = rawws::open(app.local_addr());
    let a2 = app.server().clone();
    let t = thread::spawn(move || a2.shutdown());
    let (frames, code) = rawws::recv_until_close(&mut ws);
    assert_eq!(frames, vec![Frame::text("1")]);
    assert_eq!(code, Some(1001));
    t.join().unwrap();
    assert_eq!(disconnects(&events), vec!["disconnect server disconnect"]);
}

#[test]
fn websocket_ping_frames_are_answered() {
    let _dog = support::watchdog(120, "websocket_ping_frames_are_answered");
    let (app, _) = start(Server::builder());
    let (mut ws, _) = rawws::open(app.local_addr());
    ws.send(Frame::Ping(b"hey"[..].into())).unwrap();
    loop {
        match ws.read().unwrap() {
            Frame::Pong(p) => {
                assert_eq!(&p[..], b"hey");
                break;
            }
            Frame::Text(t) if t.as_str() == "2" => {}
            other => panic!("{other:?}"),
        }
    }
    app.shutdown();
}

#[test]
fn bad_websocket_handshakes_get_e3_and_no_101() {
    let _dog = support::watchdog(120, "bad_websocket_handshakes_get_e3_and_no_101");
    let (app, _) = start(Server::builder());
    let addr = app.local_addr();
    let cases = [
        // No key.
        "GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
        // Old version.
        "GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        // Upgrade headers with transport=polling.
        "GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        // transport=websocket without upgrade headers.
        "GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n\r\n",
    ];
    for raw in cases {
        let r = rawhttp::request(addr, raw);
        assert_eq!(r.status, 400, "{raw}");
        assert_eq!(r.text(), r#"{"code":3,"message":"Bad request"}"#);
    }
    let r = rawhttp::request(addr, cases[0]);
    assert_eq!(r.header("Connection").as_deref(), Some("close"));
    // Unknown sid.
    let e = rawws::try_connect(addr, "EIO=4&transport=websocket&sid=nope").unwrap_err();
    assert_eq!(
        (e.status, e.body.as_str()),
        (400, r#"{"code":1,"message":"Session ID unknown"}"#)
    );
    assert!(e.connection_close);
    // Bad EIO.
    let e = rawws::try_connect(addr, "EIO=3&transport=websocket").unwrap_err();
    assert_eq!(
        e.body,
        r#"{"code":5,"message":"Unsupported protocol version"}"#
    );
    wait_for("an empty session table", || app.server().table_size() == 0);
    app.shutdown();
}

#[test]
fn transports_option_is_honoured() {
    let _dog = support::watchdog(120, "transports_option_is_honoured");
    let (app, _) = start(Server::builder().transports(&[Transport::Polling]));
    let r = rawhttp::get(app.local_addr(), "EIO=4&transport=polling");
    assert!(r.text().contains(r#""upgrades":[]"#));
    let e = rawws::try_connect(app.local_addr(), "EIO=4&transport=websocket").unwrap_err();
    assert_eq!(e.body, r#"{"code":0,"message":"Transport unknown"}"#);
    app.shutdown();

    let (app, _) = start(Server::builder().transports(&[Transport::WebSocket]));
    let r = rawhttp::get(app.local_addr(), "EIO=4&transport=polling");
    assert_eq!(r.text(), r#"{"code":0,"message":"Transport unknown"}"#);
    let (mut ws, _) = rawws::open(app.local_addr());
    rawws::send_text(&mut ws, "4ok");
    assert_eq!(rawws::recv_text(&mut ws), "4ok");
    app.shutdown();
}

#[test]
fn rejected_websocket_handshake_gets_401_and_no_session() {
    let _dog = support::watchdog(120, "rejected_websocket_handshake_gets_401_and_no_session");
    let server = Server::builder()
        .on_connect(|_, _, req| {
            if req.query("token") == Some("good") {
                Ok(())
            } else {
                Err(engineio::server::Rejection::with_data("bad token"))
            }
        })
        .build()
        .unwrap();
    let app = App::new(server).listen("127.0.0.1:0").unwrap();
    let e =
        rawws::try_connect(app.local_addr(), "EIO=4&transport=websocket&token=bad").unwrap_err();
    assert_eq!((e.status, e.body.as_str()), (401, "\"bad token\""));
    wait_for("an empty session table", || app.server().table_size() == 0);
    let mut ws = rawws::connect(app.local_addr(), "EIO=4&transport=websocket&token=good");
    assert!(rawws::recv_text(&mut ws).starts_with("0{"));
    app.shutdown();
}

#[test]
fn cookie_is_set_on_the_websocket_handshake() {
    let _dog = support::watchdog(120, "cookie_is_set_on_the_websocket_handshake");
    let (app, _) = start(Server::builder().cookie(engineio::server::CookieConfig::new("io")));
    let addr = app.local_addr();
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b).unwrap();
        head.push(b[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    assert!(
        head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
        "{head}"
    );
    let sid = app.server().sids()[0].to_string();
    assert!(
        head.contains(&format!(
            "Set-Cookie: io={sid}; Path=/; HttpOnly; SameSite=Lax\r\n"
        )),
        "{head}"
    );
    app.shutdown();
}

#[test]
fn concurrent_senders_never_interleave_frames() {
    let _dog = support::watchdog(120, "concurrent_senders_never_interleave_frames");
    let (app, _) = start(Server::builder().ping_interval(Duration::from_millis(50)));
    let (mut ws, sid) = rawws::open(app.local_addr());
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let server = app.server().clone();
            let sid = sid.clone();
            thread::spawn(move || {
                for i in 0..200 {
                    let body = format!("{t}:{i}:{}", "x".repeat(1000 * (i % 7)));
                    server.send(&sid, body).unwrap();
                }
            })
        })
        .collect();
    let mut next = [0usize; 8];
    let mut got = 0;
    while got < 1600 {
        match rawws::recv(&mut ws) {
            Frame::Text(t) if t.as_str() == "2" => {
                rawws::send_text(&mut ws, "3");
                // A WebSocket ping too: its pong is written by the reader thread.
                ws.send(Frame::Ping(b"p"[..].into())).unwrap();
            }
            Frame::Text(t) => {
                let s = t.as_str().strip_prefix('4').unwrap();
                let mut parts = s.splitn(3, ':');
                let th: usize = parts.next().unwrap().parse().unwrap();
                let i: usize = parts.next().unwrap().parse().unwrap();
                assert_eq!(parts.next().unwrap().len(), 1000 * (i % 7));
                assert_eq!(i, next[th], "thread {th} out of order");
                next[th] += 1;
                got += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    for t in threads {
        t.join().unwrap();
    }
    app.shutdown();
}

#[test]
fn a_peer_that_stops_reading_does_not_block_sends_to_others() {
    let _dog = support::watchdog(
        120,
        "a_peer_that_stops_reading_does_not_block_sends_to_others",
    );
    let (app, events) = start(
        Server::builder()
            .write_timeout(Duration::from_millis(500))
            .max_buffered_bytes(64 << 20),
    );
    let (stalled, stalled_sid) = rawws::open(app.local_addr());
    let (mut healthy, healthy_sid) = rawws::open(app.local_addr());
    let server = app.server().clone();
    // Fill the stalled peer's socket buffers and more: 32 MB it never reads.
    let big = "z".repeat(256 * 1024);
    let started = Instant::now();
    for _ in 0..128 {
        if server.send(&stalled_sid, big.as_str()).is_err() {
            break;
        }
    }
    let send_time = started.elapsed();
    // Meanwhile the healthy session is served at once.
    server.send(&healthy_sid, "still here").unwrap();
    assert_eq!(rawws::recv_text(&mut healthy), "4still here");
    let b = server.broadcast("to all");
    assert!(b >= 1);
    assert_eq!(rawws::recv_text(&mut healthy), "4to all");
    // Sending never waited for the stalled peer (the kernel takes a few MB at most;
    // writing the rest would take forever).
    assert!(send_time < Duration::from_secs(5), "{send_time:?}");
    // The stalled session ends with a transport error after the write timeout.
    wait_for("stalled session closed", || {
        !server.is_connected(&stalled_sid)
    });
    assert!(disconnects(&events).contains(&"disconnect transport error".to_string()));
    assert!(server.is_connected(&healthy_sid));
    drop(stalled);
    app.shutdown();
}

#[test]
fn broadcast_reaches_websocket_and_polling_sessions() {
    let _dog = support::watchdog(120, "broadcast_reaches_websocket_and_polling_sessions");
    let (app, _) = start(Server::builder());
    let addr = app.local_addr();
    let mut sockets: Vec<_> = (0..40).map(|_| rawws::open(addr).0).collect();
    let polling_sid = rawhttp::handshake(addr);
    let n = app.server().broadcast(vec![7u8, 8, 9]);
    assert_eq!(n, 41);
    for ws in &mut sockets {
        assert!(matches!(rawws::recv(ws), Frame::Binary(b) if b[..] == [7, 8, 9]));
    }
    let r = rawhttp::get(addr, &format!("EIO=4&transport=polling&sid={polling_sid}"));
    assert_eq!(r.text(), "bBwgJ");
    // To a subset.
    let sids = app.server().sids();
    let some: Vec<&str> = sids.iter().take(3).map(|s| s.as_str()).collect();
    assert_eq!(app.server().send_many(some, "few"), 3);
    app.shutdown();
}

#[test]
fn many_websocket_sessions_open_and_close_without_leaks() {
    let _dog = support::watchdog(120, "many_websocket_sessions_open_and_close_without_leaks");
    let (app, events) = start(Server::builder());
    let addr = app.local_addr();
    for _ in 0..300 {
        let (mut ws, _) = rawws::open(addr);
        rawws::send_text(&mut ws, "4x");
        assert_eq!(rawws::recv_text(&mut ws), "4x");
        rawws::send_text(&mut ws, "1");
        let _ = rawws::recv_until_close(&mut ws);
    }
    wait_for("all disconnects", || disconnects(&events).len() == 300);
    assert!(disconnects(&events)
        .iter()
        .all(|d| d == "disconnect client disconnect"));
    wait_for("table empty", || app.server().table_size() == 0);
    wait_for("connections closed", || app.connection_count() == 0);
    app.shutdown();
}

#[test]
fn disconnect_reason_is_reported_once_with_handlers_running() {
    let _dog = support::watchdog(
        120,
        "disconnect_reason_is_reported_once_with_handlers_running",
    );
    // The disconnect handler waits for a running message handler (C1, ordering).
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let (l1, l2) = (log.clone(), log.clone());
    let server = Server::builder()
        .on_message(move |server, sid, _| {
            l1.lock().unwrap().push("message start".into());
            server.disconnect(sid).unwrap();
            thread::sleep(Duration::from_millis(100));
            l1.lock().unwrap().push("message end".into());
        })
        .on_disconnect(move |_, _, reason: Reason| {
            l2.lock().unwrap().push(format!("disconnect {reason}"))
        })
        .build()
        .unwrap();
    let app = App::new(server).listen("127.0.0.1:0").unwrap();
    let (mut ws, _) = rawws::open(app.local_addr());
    rawws::send_text(&mut ws, "4go");
    let _ = rawws::recv_until_close(&mut ws);
    wait_for("disconnect", || log.lock().unwrap().len() == 3);
    assert_eq!(
        *log.lock().unwrap(),
        vec![
            "message start",
            "message end",
            "disconnect server disconnect"
        ]
    );
    app.shutdown();
}

#[test]
fn websocket_handshake_from_a_refused_origin_gets_e3() {
    let _dog = support::watchdog(120, "websocket_handshake_from_a_refused_origin_gets_e3");
    // O-1, O-4: the origin check is the only guard against cross-site WebSocket
    // hijacking (browsers apply no CORS to WebSockets).
    let (app, _) = start(Server::builder());
    let addr = app.local_addr();
    let raw = |origin: &str| {
        format!(
            "GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {addr}\r\nOrigin: {origin}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )
    };
    let r = rawhttp::request(addr, &raw("http://evil.example"));
    assert_eq!(r.status, 400);
    assert_eq!(r.text(), r#"{"code":3,"message":"Bad request"}"#);
    assert!(r.header("Access-Control-Allow-Origin").is_none());
    wait_for("an empty session table", || app.server().table_size() == 0);
    // The same origin is fine.
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(raw(&format!("http://{addr}")).as_bytes())
        .unwrap();
    let mut head = [0u8; 12];
    s.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 101");
    app.shutdown();
}

#[test]
fn a_large_broadcast_reaches_every_session_once() {
    let _dog = support::watchdog(120, "a_large_broadcast_reaches_every_session_once");
    // Over 1024 recipients, a broadcast is split across threads.
    const N: usize = 1100;
    let (app, _) = start(Server::builder().max_connections(2000));
    let addr = app.local_addr();
    let mut sockets: Vec<_> = (0..N).map(|_| rawws::open(addr).0).collect();
    for round in 0..2 {
        let n = app.server().broadcast(format!("round {round}"));
        assert_eq!(n, N);
        for ws in &mut sockets {
            assert_eq!(rawws::recv_text(ws), format!("4round {round}"));
        }
    }
    let sids = app.server().sids();
    let sent = app
        .server()
        .send_many(sids.iter().map(|s| s.as_str()), "to the list");
    assert_eq!(sent, N);
    for ws in &mut sockets {
        assert_eq!(rawws::recv_text(ws), "4to the list");
    }
    app.shutdown();
}
