//! The client against scripted fake servers on loopback, to see the wire and to make
//! servers misbehave: ping timeout on both transports, pong data, the POST format and
//! batching, packets after OPEN, bad handshakes and polls, a failed upgrade probe.

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use engineio::client::{Client, Event, Reason};
use engineio::{ErrorKind, Message, Transport};
use tungstenite::protocol::Role;
use tungstenite::{Message as WsMessage, WebSocket};

mod support;
use support::fakehttp::{disconnect_reason, read_request, Request};

/// What the script answers to an HTTP request.
enum Reply {
    Answer(u16, String),
    /// Never answer (a long-poll the server keeps open).
    Hold,
    /// Switch to WebSocket and hand the socket to the script.
    WebSocket(Box<dyn FnOnce(WebSocket<TcpStream>) + Send>),
}

type Script = dyn Fn(&Request) -> Reply + Send + Sync;

struct Fake {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl Fake {
    fn start(script: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script: Arc<Script> = Arc::new(script);
        let log = Arc::clone(&requests);
        thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (script, log) = (Arc::clone(&script), Arc::clone(&log));
                thread::spawn(move || serve(conn, &*script, &log));
            }
        });
        Fake { addr, requests }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

fn serve(conn: TcpStream, script: &Script, log: &Mutex<Vec<Request>>) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut conn = conn;
    loop {
        let Some(request) = read_request(&mut reader) else {
            return;
        };
        log.lock().unwrap().push(request.clone());
        match script(&request) {
            Reply::Answer(status, body) => {
                let head = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                if conn.write_all(head.as_bytes()).is_err()
                    || conn.write_all(body.as_bytes()).is_err()
                {
                    return;
                }
            }
            Reply::Hold => {
                // Until the client goes away.
                let mut sink = [0u8; 64];
                let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
                while matches!(reader.read(&mut sink), Ok(n) if n > 0) {}
                return;
            }
            Reply::WebSocket(run) => {
                let key = request.header("sec-websocket-key").unwrap_or("");
                let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
                let head = format!(
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
                );
                if conn.write_all(head.as_bytes()).is_err() {
                    return;
                }
                run(WebSocket::from_raw_socket(conn, Role::Server, None));
                return;
            }
        }
    }
}

fn open_packet(sid: &str, upgrades: &str, interval: u64, timeout: u64, max: u64) -> String {
    format!(
        r#"0{{"sid":"{sid}","upgrades":[{upgrades}],"pingInterval":{interval},"pingTimeout":{timeout},"maxPayload":{max}}}"#
    )
}

#[test]
fn polling_ping_timeout_after_interval_plus_timeout() {
    let _dog = support::watchdog(60, "polling_ping_timeout");
    let fake = Fake::start(|req| match (req.method.as_str(), req.has_sid()) {
        ("GET", false) => Reply::Answer(200, open_packet("s1", "", 300, 200, 1000)),
        ("GET", true) => Reply::Hold,
        _ => Reply::Answer(200, "ok".into()),
    });
    let client = Client::builder(&fake.url())
        .transports(&[Transport::Polling])
        .build()
        .unwrap();
    let events = client.events();
    let started = Instant::now();
    client.connect().unwrap();
    assert_eq!(
        disconnect_reason(&events, Duration::from_secs(5)),
        Reason::PingTimeout
    );
    let took = started.elapsed();
    println!("polling ping timeout detected after {took:?} (300 + 200 ms expected)");
    assert!(took >= Duration::from_millis(480), "{took:?}");
    assert!(took < Duration::from_millis(1000), "{took:?}");
    let joined = Instant::now();
    client.wait();
    // The held GET is interrupted, not waited out.
    assert!(joined.elapsed() < Duration::from_millis(500));
}

#[test]
fn websocket_ping_timeout_after_interval_plus_timeout() {
    let _dog = support::watchdog(60, "ws_ping_timeout");
    let fake = Fake::start(|_| {
        Reply::WebSocket(Box::new(|mut ws| {
            ws.send(WsMessage::text(open_packet("s2", "", 300, 200, 1000)))
                .unwrap();
            // Never ping; keep reading until the client leaves.
            while ws.read().is_ok() {}
        }))
    });
    let client = Client::builder(&fake.url())
        .transports(&[Transport::WebSocket])
        .build()
        .unwrap();
    let events = client.events();
    let started = Instant::now();
    client.connect().unwrap();
    assert_eq!(client.transport(), Some(Transport::WebSocket));
    assert_eq!(
        disconnect_reason(&events, Duration::from_secs(5)),
        Reason::PingTimeout
    );
    let took = started.elapsed();
    println!("websocket ping timeout detected after {took:?} (300 + 200 ms expected)");
    assert!(took >= Duration::from_millis(480), "{took:?}");
    assert!(took < Duration::from_millis(1000), "{took:?}");
    client.wait();
}

#[test]
fn pings_are_answered_with_their_data_and_posts_are_batched() {
    let _dog = support::watchdog(60, "pong_and_batching");
    let polls = Arc::new(AtomicUsize::new(0));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let (p, f) = (Arc::clone(&polls), Arc::clone(&in_flight));
    let (pong_tx, pong_rx) = mpsc::channel::<()>();
    let pong_tx = Mutex::new(pong_tx);
    let fake = Fake::start(move |req| match (req.method.as_str(), req.has_sid()) {
        ("GET", false) => Reply::Answer(
            200,
            format!("{}\u{1e}4first", open_packet("s3", "", 5000, 5000, 1000)),
        ),
        ("GET", true) => {
            assert_eq!(f.fetch_add(1, Ordering::SeqCst), 0, "two GETs in flight");
            let n = p.fetch_add(1, Ordering::SeqCst);
            if n == 0 {
                thread::sleep(Duration::from_millis(50));
                f.fetch_sub(1, Ordering::SeqCst);
                Reply::Answer(200, "2abc\u{1e}6".into())
            } else {
                f.fetch_sub(1, Ordering::SeqCst);
                Reply::Hold
            }
        }
        ("POST", true) => {
            if req.body == b"3abc" {
                let _ = pong_tx.lock().unwrap().send(());
            }
            Reply::Answer(200, "ok".into())
        }
        _ => Reply::Answer(400, "{}".into()),
    });
    let client = Client::builder(&fake.url())
        .transports(&[Transport::Polling])
        .build()
        .unwrap();
    let events = client.events();
    client.connect().unwrap();
    // Packets after OPEN in the handshake body are processed (CL2).
    assert_eq!(
        events.recv_timeout(Duration::from_secs(5)),
        Ok(Event::Connect)
    );
    assert_eq!(
        events.recv_timeout(Duration::from_secs(5)),
        Ok(Event::Message(Message::from("first")))
    );
    pong_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the pong `3abc`");
    for i in 0..40 {
        client.send(format!("m{i}")).unwrap();
    }
    client.disconnect();
    let posts: Vec<Request> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    let mut packets = Vec::new();
    for post in &posts {
        assert_eq!(
            post.header("content-type"),
            Some("text/plain;charset=UTF-8")
        );
        let body = String::from_utf8(post.body.clone()).unwrap();
        let count = body.split('\u{1e}').count();
        assert!(count <= 16, "at most 16 packets per POST: {count}");
        packets.extend(body.split('\u{1e}').map(str::to_owned));
    }
    let expected: Vec<String> = std::iter::once("3abc".to_owned())
        .chain((0..40).map(|i| format!("4m{i}")))
        .chain(std::iter::once("1".to_owned()))
        .collect();
    assert_eq!(packets, expected);
    assert!(
        posts.len() <= 1 + 40 / 16 + 2,
        "sends queued together share POSTs: {} POSTs",
        posts.len()
    );
    assert!(polls.load(Ordering::SeqCst) >= 1);
}

#[test]
fn max_payload_splits_posts_on_the_wire() {
    let _dog = support::watchdog(60, "max_payload_wire");
    let fake = Fake::start(|req| match (req.method.as_str(), req.has_sid()) {
        ("GET", false) => Reply::Answer(200, open_packet("s4", "", 5000, 5000, 100)),
        ("GET", true) => Reply::Hold,
        _ => Reply::Answer(200, "ok".into()),
    });
    let client = Client::builder(&fake.url())
        .transports(&[Transport::Polling])
        .connect()
        .unwrap();
    for i in 0..30 {
        client.send(format!("{i:02}{}", "x".repeat(20))).unwrap();
    }
    assert_eq!(
        client.send("y".repeat(100)).unwrap_err().kind(),
        ErrorKind::InvalidMessage
    );
    client.disconnect();
    let posts: Vec<Request> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    let mut n = 0;
    for post in &posts {
        assert!(post.body.len() <= 100, "POST of {} bytes", post.body.len());
        n += post
            .body
            .split(|&b| b == 0x1e)
            .filter(|p| p[0] == b'4')
            .count();
    }
    assert_eq!(n, 30);
}

#[test]
fn bad_handshakes_are_handshake_errors() {
    let _dog = support::watchdog(60, "bad_handshakes");
    let cases: [(u16, &str); 4] = [
        (200, "4hello"),
        (200, "0{\"nosid\":1}"),
        (
            400,
            r#"{"code":5,"message":"Unsupported protocol version"}"#,
        ),
        (503, "down for maintenance"),
    ];
    for (status, body) in cases {
        let fake = Fake::start(move |_| Reply::Answer(status, body.into()));
        let err = Client::builder(&fake.url())
            .transports(&[Transport::Polling])
            .connect()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Handshake, "{status} {body}: {err}");
        assert_eq!(err.status(), Some(status));
        assert_eq!(err.body(), Some(body));
    }
    // Over WebSocket: a refused upgrade request.
    let fake = Fake::start(|_| Reply::Answer(400, r#"{"code":3,"message":"Bad request"}"#.into()));
    let err = Client::builder(&fake.url())
        .transports(&[Transport::WebSocket])
        .connect()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Handshake, "{err}");
    assert_eq!(err.status(), Some(400));
    assert_eq!(err.body(), Some(r#"{"code":3,"message":"Bad request"}"#));
}

#[test]
fn a_failed_poll_is_a_transport_error() {
    let _dog = support::watchdog(60, "failed_poll");
    let fake = Fake::start(|req| match (req.method.as_str(), req.has_sid()) {
        ("GET", false) => Reply::Answer(200, open_packet("s5", "", 5000, 5000, 1000)),
        ("GET", true) => Reply::Answer(400, r#"{"code":1,"message":"Session ID unknown"}"#.into()),
        _ => Reply::Answer(200, "ok".into()),
    });
    let client = Client::builder(&fake.url())
        .transports(&[Transport::Polling])
        .build()
        .unwrap();
    let events = client.events();
    client.connect().unwrap();
    assert_eq!(
        disconnect_reason(&events, Duration::from_secs(5)),
        Reason::TransportError
    );
}

#[test]
fn a_failed_probe_keeps_the_client_on_polling() {
    let _dog = support::watchdog(60, "failed_probe");
    let fake = Fake::start(|req| {
        if req.header("upgrade").is_some() {
            return Reply::WebSocket(Box::new(|mut ws| {
                // Answer the probe wrongly.
                if let Ok(WsMessage::Text(t)) = ws.read() {
                    assert_eq!(t.as_str(), "2probe");
                }
                let _ = ws.send(WsMessage::text("3nope"));
                while ws.read().is_ok() {}
            }));
        }
        match (req.method.as_str(), req.has_sid()) {
            ("GET", false) => {
                Reply::Answer(200, open_packet("s6", "\"websocket\"", 5000, 5000, 1000))
            }
            ("GET", true) => {
                thread::sleep(Duration::from_millis(100));
                Reply::Answer(200, "6".into())
            }
            _ => Reply::Answer(200, "ok".into()),
        }
    });
    let client = Client::builder(&fake.url()).connect().unwrap();
    assert_eq!(
        client.wait_for_upgrade(Duration::from_secs(5)),
        Some(Transport::Polling)
    );
    assert!(client.is_connected());
    client.send("still polling").unwrap();
    client.disconnect();
    let requests = fake.requests();
    // Possibly batched with the CLOSE that follows.
    assert!(requests
        .iter()
        .any(|r| r.method == "POST" && r.body.starts_with(b"4still polling")));
    let ws = requests
        .iter()
        .find(|r| r.header("upgrade").is_some())
        .expect("an upgrade attempt");
    assert!(ws.query.contains("transport=websocket"));
    assert!(ws.query.contains("sid=s6"));
    assert!(ws.query.contains("EIO=4"));
}

#[test]
fn websocket_pings_get_pongs_and_close_sends_1_before_the_close_frame() {
    let _dog = support::watchdog(60, "ws_pong_and_close");
    let (tx, rx) = mpsc::channel::<Vec<String>>();
    let tx = Mutex::new(tx);
    let fake = Fake::start(move |_| {
        let tx = tx.lock().unwrap().clone();
        Reply::WebSocket(Box::new(move |mut ws| {
            ws.send(WsMessage::text(open_packet("s7", "", 5000, 5000, 1000)))
                .unwrap();
            ws.send(WsMessage::text("2xyz")).unwrap();
            let mut seen = Vec::new();
            loop {
                match ws.read() {
                    Ok(WsMessage::Text(t)) => seen.push(t.as_str().to_owned()),
                    Ok(WsMessage::Binary(b)) => seen.push(format!("binary {b:?}")),
                    Ok(WsMessage::Close(frame)) => {
                        seen.push(format!("close {:?}", frame.map(|f| u16::from(f.code))));
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            let _ = tx.send(seen);
        }))
    });
    let client = Client::builder(&fake.url())
        .transports(&[Transport::WebSocket])
        .connect()
        .unwrap();
    client.send("hi \u{1e} there").unwrap();
    client.send(vec![1u8, 2]).unwrap();
    thread::sleep(Duration::from_millis(100));
    client.disconnect();
    let mut seen = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    // The pong may go out before or between the messages, but before the close.
    let pong = seen.iter().position(|s| s == "3xyz").expect("the pong");
    assert!(pong < 3, "{seen:?}");
    seen.remove(pong);
    assert_eq!(
        seen,
        [
            "4hi \u{1e} there",
            "binary b\"\\x01\\x02\"",
            "1",
            "close Some(1000)"
        ]
    );
}
