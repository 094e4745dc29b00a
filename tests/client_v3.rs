//! The client speaking Engine.IO v3 (`ClientBuilder::protocol(ProtocolVersion::V3)`)
//! on loopback sockets: against our own server with `allow_eio3(true)` over polling
//! (both payload forms), WebSocket and the upgrade; and against tiny misbehaving v3
//! servers written here, for the wire forms and the client-driven heartbeat.

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use engineio::client::{Client, ClientBuilder, Events, Reason};
use engineio::server::{self, App, Listening, Server, ServerBuilder};
use engineio::{ErrorKind, Message, ProtocolVersion, Transport};

mod support;
use support::fakehttp::{disconnect_reason, read_request, Request};
use support::{next_message, wait_for};

// ------------------------------------------------------------------ our server

/// What our server saw.
#[derive(Default)]
struct Seen {
    messages: Vec<Message>,
    protocols: Vec<ProtocolVersion>,
    disconnects: Vec<server::Reason>,
}

/// An echo server accepting v3 and v4; `close-me` makes it close the session.
fn echo_server(builder: ServerBuilder) -> (Listening, String, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (s1, s2) = (seen.clone(), seen.clone());
    let server = builder
        .allow_eio3(true)
        .on_message(move |server, sid, msg| {
            let protocol = server.protocol(sid).expect("the session is open");
            {
                let mut seen = s1.lock().unwrap();
                seen.messages.push(msg.clone());
                seen.protocols.push(protocol);
            }
            if msg.as_text() == Some("close-me") {
                let _ = server.disconnect(sid);
            } else {
                let _ = server.send(sid, msg);
            }
        })
        .on_disconnect(move |_, _, reason| s2.lock().unwrap().disconnects.push(reason))
        .build()
        .expect("server config");
    let app = App::new(server).listen("127.0.0.1:0").expect("listen");
    let url = format!("http://{}", app.local_addr());
    (app, url, seen)
}

fn v3(url: &str) -> ClientBuilder {
    Client::builder(url).protocol(ProtocolVersion::V3)
}

/// The ways a v3 client can talk to a server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Polling only; binary messages in the binary form.
    Polling,
    /// Polling only, `force_base64`: every payload in the text form.
    PollingBase64,
    /// WebSocket only.
    WebSocket,
    /// WebSocket only, binary messages as `b4…` text frames.
    WebSocketBase64,
    /// Polling, then the upgrade to WebSocket.
    Upgrade,
}

impl Mode {
    fn builder(self, url: &str) -> ClientBuilder {
        let builder = v3(url);
        match self {
            Mode::Polling => builder.transports(&[Transport::Polling]),
            Mode::PollingBase64 => builder.transports(&[Transport::Polling]).force_base64(true),
            Mode::WebSocket => builder.transports(&[Transport::WebSocket]),
            Mode::WebSocketBase64 => builder
                .transports(&[Transport::WebSocket])
                .force_base64(true),
            Mode::Upgrade => builder,
        }
    }

    /// The transport once connected (and upgraded).
    fn transport(self) -> Transport {
        match self {
            Mode::Polling | Mode::PollingBase64 => Transport::Polling,
            _ => Transport::WebSocket,
        }
    }
}

/// The i-th message of a burst: text (non-ASCII, U+001E included: v3 payloads are
/// length-prefixed) and binary in turn.
fn burst_message(i: usize) -> Message {
    if i % 2 == 0 {
        Message::from(format!("héllo € 😀 \u{1e} {i}"))
    } else {
        Message::from(vec![0u8, 1, 2, 0xff, i as u8])
    }
}

/// Connects in `mode`, checks the version on both ends, and exchanges non-ASCII
/// text, binary (empty included) and a burst of 50, each echoed once and in order.
fn connect_and_exchange(
    mode: Mode,
    url: &str,
    app: &Listening,
    seen: &Mutex<Seen>,
) -> (Client, Events) {
    let client = mode.builder(url).build().unwrap();
    let events = client.events();
    client.connect().unwrap();
    assert_eq!(client.protocol(), ProtocolVersion::V3);
    let sid = client.handshake().unwrap().sid;
    assert_eq!(app.server().protocol(&sid).unwrap(), ProtocolVersion::V3);
    if mode == Mode::Upgrade {
        assert_eq!(
            client.wait_for_upgrade(Duration::from_secs(10)),
            Some(Transport::WebSocket)
        );
    }
    assert_eq!(client.transport(), Some(mode.transport()), "{mode:?}");

    let singles = [
        Message::from("héllo wörld € 😀"),
        Message::from(vec![1u8, 2, 3, 4]),
        Message::from(""),
        Message::from(Vec::<u8>::new()),
    ];
    for m in &singles {
        client.send(m.clone()).unwrap();
        assert_eq!(&next_message(&events), m, "{mode:?}");
    }
    for i in 0..50 {
        client.send(burst_message(i)).unwrap();
    }
    for i in 0..50 {
        assert_eq!(next_message(&events), burst_message(i), "{mode:?} #{i}");
    }
    let seen = seen.lock().unwrap();
    let expected: Vec<Message> = singles
        .iter()
        .cloned()
        .chain((0..50).map(burst_message))
        .collect();
    assert_eq!(
        seen.messages[seen.messages.len() - expected.len()..],
        expected[..]
    );
    assert!(seen.protocols.iter().all(|&p| p == ProtocolVersion::V3));
    drop(seen);
    assert_eq!(client.transport(), Some(mode.transport()), "{mode:?}");
    (client, events)
}

/// Everything for one mode: the exchange, a close from the client, then (on a new
/// connection) a close from the server, with the right reasons on both ends.
fn exchange_and_close_both_ways(mode: Mode) {
    let (app, url, seen) = echo_server(Server::builder());

    let (client, events) = connect_and_exchange(mode, &url, &app, &seen);
    client.disconnect();
    assert_eq!(
        disconnect_reason(&events, Duration::from_secs(10)),
        Reason::ClientDisconnect,
        "{mode:?}"
    );
    wait_for("the server's disconnect", Duration::from_secs(10), || {
        seen.lock().unwrap().disconnects.len() == 1
    });
    assert_eq!(
        seen.lock().unwrap().disconnects[0],
        server::Reason::ClientDisconnect,
        "{mode:?}"
    );

    let (client, events) = connect_and_exchange(mode, &url, &app, &seen);
    client.send("close-me").unwrap();
    assert_eq!(
        disconnect_reason(&events, Duration::from_secs(10)),
        Reason::ServerDisconnect,
        "{mode:?}"
    );
    wait_for("the server's disconnect", Duration::from_secs(10), || {
        seen.lock().unwrap().disconnects.len() == 2
    });
    assert_eq!(
        seen.lock().unwrap().disconnects[1],
        server::Reason::ServerDisconnect,
        "{mode:?}"
    );
    assert!(!client.is_connected());
    client.wait();
}

#[test]
fn polling_binary_form_exchanges_and_closes_both_ways() {
    let _dog = support::watchdog(120, "polling_binary_form");
    exchange_and_close_both_ways(Mode::Polling);
}

#[test]
fn polling_base64_exchanges_and_closes_both_ways() {
    let _dog = support::watchdog(120, "polling_base64");
    exchange_and_close_both_ways(Mode::PollingBase64);
}

#[test]
fn websocket_exchanges_and_closes_both_ways() {
    let _dog = support::watchdog(120, "websocket");
    exchange_and_close_both_ways(Mode::WebSocket);
}

#[test]
fn websocket_base64_exchanges_and_closes_both_ways() {
    let _dog = support::watchdog(120, "websocket_base64");
    exchange_and_close_both_ways(Mode::WebSocketBase64);
}

#[test]
fn upgrade_exchanges_and_closes_both_ways() {
    let _dog = support::watchdog(120, "upgrade");
    exchange_and_close_both_ways(Mode::Upgrade);
}

/// The server expects a ping within ping interval + ping timeout; the client's pings
/// keep the session alive well past that, on every transport, across the upgrade.
#[test]
fn the_clients_pings_keep_the_session_alive() {
    let _dog = support::watchdog(120, "the_clients_pings_keep_the_session_alive");
    let (app, url, seen) = echo_server(
        Server::builder()
            .ping_interval(Duration::from_millis(250))
            .ping_timeout(Duration::from_millis(1000)),
    );
    let modes = [Mode::Polling, Mode::WebSocket, Mode::Upgrade];
    let clients: Vec<(Client, Events)> = modes
        .iter()
        .map(|&mode| {
            let client = mode.builder(&url).build().unwrap();
            let events = client.events();
            client.connect().unwrap();
            (client, events)
        })
        .collect();
    // Twice interval + timeout: ten pings each.
    thread::sleep(Duration::from_millis(2600));
    for ((client, events), mode) in clients.iter().zip(modes) {
        assert!(client.is_connected(), "{mode:?}");
        let sid = client.handshake().unwrap().sid;
        assert!(app.server().is_connected(&sid), "{mode:?}");
        assert_eq!(client.transport(), Some(mode.transport()), "{mode:?}");
        client.send("still here").unwrap();
        assert_eq!(next_message(events).as_text(), Some("still here"));
    }
    assert!(seen.lock().unwrap().disconnects.is_empty());
    for (client, events) in &clients {
        client.disconnect();
        assert_eq!(
            disconnect_reason(events, Duration::from_secs(10)),
            Reason::ClientDisconnect
        );
    }
}

/// A v4-only server refuses a v3 handshake; the client says so.
#[test]
fn a_v4_only_server_refuses_the_v3_handshake() {
    let _dog = support::watchdog(60, "a_v4_only_server_refuses");
    let app = App::new(Server::builder().build().unwrap())
        .listen("127.0.0.1:0")
        .unwrap();
    let url = format!("http://{}", app.local_addr());
    for transports in [&[Transport::Polling][..], &[Transport::WebSocket]] {
        let err = v3(&url).transports(transports).connect().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Handshake, "{transports:?}");
        assert_eq!(err.status(), Some(400), "{transports:?}");
        assert!(err.body().unwrap_or("").contains("\"code\":5"), "{err:?}");
    }
}

// ------------------------------------------------------------------ fake v3 servers

fn open_json(sid: &str, interval: u64, timeout: u64) -> String {
    format!(
        r#"0{{"sid":"{sid}","upgrades":[],"pingInterval":{interval},"pingTimeout":{timeout},"maxPayload":1000000}}"#
    )
}

/// A v3 text-form packet: `<len>:<packet>`, `len` in UTF-16 code units.
fn framed(packet: &str) -> String {
    format!("{}:{packet}", packet.encode_utf16().count())
}

fn respond(conn: &mut TcpStream, content_type: &str, body: &[u8]) -> bool {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).is_ok() && conn.write_all(body).is_ok()
}

/// Holds a request unanswered until the client goes away.
fn hold(conn: &mut TcpStream) {
    let mut sink = [0u8; 256];
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    while matches!(conn.read(&mut sink), Ok(n) if n > 0) {}
}

/// What a fake server received.
#[derive(Default)]
struct Wire {
    requests: Vec<Request>,
}

impl Wire {
    fn posts(&self) -> Vec<&Request> {
        self.requests
            .iter()
            .filter(|r| r.method == "POST")
            .collect()
    }
}

type Answer = dyn Fn(&mut TcpStream) -> bool + Send + Sync;

/// A v3 polling server that never answers the client's pings: the handshake, then a
/// first poll answered with `extra` (the server's own packets), then polls held for
/// ever; POSTs are answered `ok`.
fn silent_polling_server(
    interval: u64,
    timeout: u64,
    extra: Vec<u8>,
) -> (SocketAddr, Arc<Mutex<Wire>>) {
    let first_poll: Option<Arc<Answer>> = (!extra.is_empty()).then(|| {
        Arc::new(move |conn: &mut TcpStream| respond(conn, "text/plain; charset=UTF-8", &extra))
            as Arc<Answer>
    });
    fake_polling_server(interval, timeout, first_poll)
}

/// A v3 polling server: the handshake, then a first poll answered by `first_poll`
/// (held when `None`), then polls held for ever; POSTs are answered `ok`.
fn fake_polling_server(
    interval: u64,
    timeout: u64,
    first_poll: Option<Arc<Answer>>,
) -> (SocketAddr, Arc<Mutex<Wire>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let wire = Arc::new(Mutex::new(Wire::default()));
    let w = wire.clone();
    thread::spawn(move || {
        let polls = Arc::new(Mutex::new(0usize));
        for conn in listener.incoming().flatten() {
            let (wire, polls, first_poll) = (w.clone(), polls.clone(), first_poll.clone());
            thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut conn = conn;
                while let Some(request) = read_request(&mut reader) {
                    wire.lock().unwrap().requests.push(request.clone());
                    let ok = match (request.method.as_str(), request.has_sid()) {
                        ("GET", false) => respond(
                            &mut conn,
                            "text/plain; charset=UTF-8",
                            framed(&open_json("fake", interval, timeout)).as_bytes(),
                        ),
                        ("GET", true) => {
                            let first = {
                                let mut polls = polls.lock().unwrap();
                                *polls += 1;
                                *polls == 1
                            };
                            match (&first_poll, first) {
                                (Some(answer), true) => answer(&mut conn),
                                _ => {
                                    hold(&mut conn);
                                    false
                                }
                            }
                        }
                        ("POST", _) => respond(&mut conn, "text/html", b"ok"),
                        _ => false,
                    };
                    if !ok {
                        return;
                    }
                }
            });
        }
    });
    (addr, wire)
}

/// The client pings every ping interval; a server that never answers ends the
/// session with `ping timeout`, about ping interval + ping timeout after the
/// handshake. A ping from the server (the wrong direction in v3) is ignored, never
/// answered with a pong.
#[test]
fn a_polling_server_that_stops_answering_pings_times_out() {
    let _dog = support::watchdog(60, "polling ping timeout");
    let extra = format!("{}{}", framed("2"), framed("4hi")).into_bytes();
    let (addr, wire) = silent_polling_server(200, 1000, extra);
    let client = v3(&format!("http://{addr}"))
        .transports(&[Transport::Polling])
        .build()
        .unwrap();
    let events = client.events();
    let started = Instant::now();
    client.connect().unwrap();
    assert_eq!(next_message(&events).as_text(), Some("hi"));
    assert_eq!(
        disconnect_reason(&events, Duration::from_secs(20)),
        Reason::PingTimeout
    );
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(1150), "{took:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    client.wait();
    let wire = wire.lock().unwrap();
    assert!(wire.requests.iter().all(|r| r.query.contains("EIO=3")));
    let bodies: Vec<&[u8]> = wire.posts().iter().map(|r| &r.body[..]).collect();
    // The ping went out once (no pong came, so no second one); no pong ever did.
    assert_eq!(bodies, [&b"1:2"[..]], "{bodies:?}");
}

/// A v3 WebSocket server that never answers the client's pings; it records the text
/// frames it receives.
fn silent_websocket_server(interval: u64, timeout: u64) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let frames = Arc::new(Mutex::new(Vec::new()));
    let f = frames.clone();
    thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let frames = f.clone();
            thread::spawn(move || {
                let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
                let Ok(mut ws) = tungstenite::accept(conn) else {
                    return;
                };
                let open = open_json("fakews", interval, timeout);
                if ws.send(tungstenite::Message::text(open)).is_err() {
                    return;
                }
                // A ping from the server: the wrong direction in v3, to be ignored.
                let _ = ws.send(tungstenite::Message::text("2"));
                let _ = ws.send(tungstenite::Message::Binary(vec![4u8, 7, 8].into()));
                while let Ok(m) = ws.read() {
                    if let tungstenite::Message::Text(t) = m {
                        frames.lock().unwrap().push(t.as_str().to_owned());
                    }
                }
            });
        }
    });
    (addr, frames)
}

#[test]
fn a_websocket_server_that_stops_answering_pings_times_out() {
    let _dog = support::watchdog(60, "websocket ping timeout");
    let (addr, frames) = silent_websocket_server(200, 1000);
    let client = v3(&format!("http://{addr}"))
        .transports(&[Transport::WebSocket])
        .build()
        .unwrap();
    let events = client.events();
    let started = Instant::now();
    client.connect().unwrap();
    // V9: the binary frame's type byte is not part of the message.
    assert_eq!(next_message(&events), Message::from(vec![7u8, 8]));
    assert_eq!(
        disconnect_reason(&events, Duration::from_secs(20)),
        Reason::PingTimeout
    );
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(1150), "{took:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    client.wait();
    wait_for(
        "the server to see the client go",
        Duration::from_secs(5),
        || !frames.lock().unwrap().is_empty(),
    );
    let frames = frames.lock().unwrap();
    assert_eq!(frames[0], "2", "{frames:?}");
    assert!(!frames.iter().any(|f| f.starts_with('3')), "{frames:?}");
}

/// The POST forms: a v3 body holding a binary message is in the binary form
/// (`application/octet-stream`), others in the text form; with `force_base64` every
/// body is text (`b4` + base64) and every request carries `b64=1`.
#[test]
fn post_bodies_take_the_v3_forms() {
    let _dog = support::watchdog(60, "post_bodies_take_the_v3_forms");
    for base64 in [false, true] {
        let (addr, wire) = silent_polling_server(60_000, 60_000, Vec::new());
        let client = v3(&format!("http://{addr}"))
            .transports(&[Transport::Polling])
            .force_base64(base64)
            .connect()
            .unwrap();
        client.send("é").unwrap();
        wait_for("the text POST", Duration::from_secs(10), || {
            wire.lock().unwrap().posts().len() == 1
        });
        client.send(vec![1u8, 2, 3, 4]).unwrap();
        wait_for("the binary POST", Duration::from_secs(10), || {
            wire.lock().unwrap().posts().len() == 2
        });
        client.abort();
        let wire = wire.lock().unwrap();
        let posts = wire.posts();
        let content_type = |r: &Request| r.header("content-type").unwrap_or("").to_owned();
        assert!(
            content_type(posts[0]).starts_with("text/plain"),
            "{:?}",
            posts[0]
        );
        assert_eq!(posts[0].body, "2:4é".as_bytes());
        if base64 {
            assert!(content_type(posts[1]).starts_with("text/plain"));
            assert_eq!(posts[1].body, b"10:b4AQIDBA==");
            assert!(wire.requests.iter().all(|r| has_param(&r.query, "b64=1")));
        } else {
            assert_eq!(content_type(posts[1]), "application/octet-stream");
            assert_eq!(posts[1].body, b"\x01\x05\xff\x04\x01\x02\x03\x04");
            // As a parameter: the `t` cache-buster is hex and may hold "b64".
            assert!(!wire
                .requests
                .iter()
                .any(|r| r.query.split('&').any(|p| p.starts_with("b64="))));
        }
    }
}

/// Whether the query string holds the parameter `name=value` exactly.
fn has_param(query: &str, pair: &str) -> bool {
    query.split('&').any(|p| p == pair)
}

/// Streams a chunked response of `head` then `chunk` for ever, counting the bytes the
/// client took into `pushed`, until the client goes away.
fn stream_forever(
    conn: &mut TcpStream,
    content_type: &str,
    head: &[u8],
    chunk: &[u8],
    pushed: &AtomicU64,
) -> bool {
    let _ = conn.set_write_timeout(Some(Duration::from_secs(10)));
    let start = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let frame = |data: &[u8]| {
        let mut framed = format!("{:x}\r\n", data.len()).into_bytes();
        framed.extend_from_slice(data);
        framed.extend_from_slice(b"\r\n");
        framed
    };
    if conn.write_all(start.as_bytes()).is_err() || conn.write_all(&frame(head)).is_err() {
        return false;
    }
    let framed = frame(chunk);
    while conn.write_all(&framed).is_ok() {
        pushed.fetch_add(framed.len() as u64, Ordering::Relaxed);
    }
    false
}

/// The streaming decoder keeps its bounds on v3 bodies: a length over the packet
/// limit (text or binary form) is refused before the packet is read, as is a run of
/// length digits; a flood of noops ends at 16 packets other than messages; a packet
/// within the packet limit but holding a message over the message limit is refused.
/// Each ends the connection with `transport error` promptly, having read a bounded
/// part of what the server pushed.
#[test]
fn v3_long_polls_over_the_limits_end_the_connection() {
    let _dog = support::watchdog(120, "v3_long_polls_over_the_limits");
    let text = "text/plain; charset=UTF-8";
    let binary = "application/octet-stream";
    let cases: Vec<(&str, &str, Vec<u8>, Vec<u8>)> = vec![
        (
            "a length over the limit",
            text,
            b"99999999:4".to_vec(),
            vec![b'a'; 16 * 1024],
        ),
        (
            "endless length digits",
            text,
            b"1".to_vec(),
            vec![b'0'; 16 * 1024],
        ),
        (
            "a binary length over the limit",
            binary,
            vec![1, 9, 9, 9, 9, 9, 9, 9, 9, 0xff, 4],
            vec![7; 16 * 1024],
        ),
        ("a noop flood", text, b"1:6".to_vec(), b"1:6".repeat(4096)),
        (
            // The packet limit of 1 MiB messages: 4/3 of it + 2 (base64).
            "a message over the message limit",
            text,
            b"1398105:4".to_vec(),
            vec![b'a'; 16 * 1024],
        ),
    ];
    for (what, content_type, head, chunk) in cases {
        let pushed = Arc::new(AtomicU64::new(0));
        let p = pushed.clone();
        let answer: Arc<Answer> = Arc::new(move |conn: &mut TcpStream| {
            stream_forever(conn, content_type, &head, &chunk, &p)
        });
        let (addr, _wire) = fake_polling_server(60_000, 60_000, Some(answer));
        let client = v3(&format!("http://{addr}"))
            .transports(&[Transport::Polling])
            .max_message_bytes(1 << 20)
            .build()
            .unwrap();
        let events = client.events();
        client.connect().unwrap();
        assert_eq!(
            disconnect_reason(&events, Duration::from_secs(30)),
            Reason::TransportError,
            "{what}"
        );
        client.wait();
        // The body limit is 16 packets of 1 MiB in base64 (about 22 MiB); socket
        // buffers hold a few MiB more.
        let pushed = pushed.load(Ordering::Relaxed);
        assert!(pushed < 40 << 20, "{what}: {pushed}");
        eprintln!("{what}: the server pushed {pushed} bytes");
    }
}
