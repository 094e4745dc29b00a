//! The client against deliberately broken servers written here on raw loopback
//! sockets: memory stays within the documented limits and every wait within the
//! request timeout, whatever the server sends or withholds.
//!
//! - bodies: endless long-polls (chunked or with a huge `Content-Length`), an endless
//!   handshake, an endless POST answer;
//! - floods of tiny packets (noops, pings) on both transports;
//! - back-pressure: a client that does not read its events, a slow handler;
//! - time: a `connect` the server stalls in every way, `abort` during `connect`, a
//!   `send` the server stops (or nearly stops) reading;
//! - absurd heartbeat values, out-of-range options.
//!
//! Memory is checked by counting what a server managed to push, and by running the
//! client in a child process (this test binary, re-invoked) whose peak RSS (VmHWM) is
//! read at the end.

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use engineio::client::{Client, Event, Events, Reason, State};
use engineio::{ErrorKind, Message, Transport};

mod support;
use support::fakehttp::{disconnect_reason, read_request, Request};

// ------------------------------------------------------------------ a raw server

/// What a handler does with the connection after a request.
enum Next {
    /// Read the next request (keep-alive).
    KeepAlive,
    /// Drop the connection.
    Close,
}

type Handler = dyn Fn(&Request, &mut TcpStream) -> Next + Send + Sync;

/// A server on an ephemeral loopback port calling `handler` for every request.
fn serve(handler: impl Fn(&Request, &mut TcpStream) -> Next + Send + Sync + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handler: Arc<Handler> = Arc::new(handler);
    thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let handler = Arc::clone(&handler);
            thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut conn = conn;
                while let Some(request) = read_request(&mut reader) {
                    if let Next::Close = handler(&request, &mut conn) {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn url(addr: SocketAddr) -> String {
    format!("http://{addr}")
}

fn open_packet(sid: &str, interval: &str, timeout: &str, max: u64) -> String {
    format!(
        r#"0{{"sid":"{sid}","upgrades":[],"pingInterval":{interval},"pingTimeout":{timeout},"maxPayload":{max}}}"#
    )
}

fn answer(conn: &mut TcpStream, status: u16, body: &str) -> Next {
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    if conn.write_all(head.as_bytes()).is_err() || conn.write_all(body.as_bytes()).is_err() {
        return Next::Close;
    }
    Next::KeepAlive
}

/// Holds a request unanswered until the client goes away.
fn hold(conn: &mut TcpStream) -> Next {
    let mut sink = [0u8; 256];
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    while matches!(conn.read(&mut sink), Ok(n) if n > 0) {}
    Next::Close
}

/// Writes `chunk` for ever (as HTTP chunks when `chunked`), counting the bytes the
/// client took into `pushed`, until the client goes away.
fn stream_forever(conn: &mut TcpStream, chunk: &[u8], chunked: bool, pushed: &AtomicU64) -> Next {
    let _ = conn.set_write_timeout(Some(Duration::from_secs(10)));
    let framed = if chunked {
        let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
        framed.extend_from_slice(chunk);
        framed.extend_from_slice(b"\r\n");
        framed
    } else {
        chunk.to_vec()
    };
    while conn.write_all(&framed).is_ok() {
        pushed.fetch_add(framed.len() as u64, Ordering::Relaxed);
    }
    Next::Close
}

/// Accepts a WebSocket upgrade.
fn ws_accept(request: &Request, conn: &mut TcpStream) {
    let key = request.header("sec-websocket-key").unwrap_or("");
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    conn.write_all(head.as_bytes()).unwrap();
}

/// A server frame (unmasked): `opcode` 1 text, 2 binary, 9 ping.
fn ws_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => frame.push(n as u8),
        n if n < 65536 => {
            frame.push(126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(payload);
    frame
}

/// Reads (and drops) everything the client writes, counting the bytes.
fn drain(conn: &TcpStream, read: Arc<AtomicU64>) {
    let mut conn = conn.try_clone().unwrap();
    thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        while let Ok(n) = conn.read(&mut buf) {
            if n == 0 {
                break;
            }
            read.fetch_add(n as u64, Ordering::Relaxed);
        }
    });
}

const MIB: u64 = 1024 * 1024;

// ------------------------------------------------------------------ 1. memory

/// A long-poll, or the rest of a handshake, that never ends: with messages of at most
/// 64 KiB (`max_message_bytes`) a response may hold 16 of their packets (about
/// 1.4 MB); past that the session ends with `transport error`, at once, whatever the
/// time left. (By default the limit is one 16 MiB message or 16 of `maxPayload`.)
#[test]
fn endless_long_polls_end_the_session_at_the_body_limit() {
    let _dog = support::watchdog(60, "endless_long_polls");
    // Honest-looking messages, so that only the body limit can stop them.
    let chunk = "4xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\u{1e}".repeat(64);
    let scenarios: [(&str, bool, bool); 3] = [
        // (what, chunked, in the handshake's own body)
        ("chunked long-poll", true, false),
        ("Content-Length long-poll", false, false),
        ("handshake body after OPEN", true, true),
    ];
    let mut checks = Vec::new();
    for (what, chunked, in_handshake) in scenarios {
        let chunk = chunk.clone();
        checks.push(thread::spawn(move || {
            let pushed = Arc::new(AtomicU64::new(0));
            let p = Arc::clone(&pushed);
            let addr = serve(move |req, conn| {
                let open = open_packet("s1", "10000", "10000", 1000);
                let endless = |conn: &mut TcpStream, prefix: &str| {
                    let head = if chunked {
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n".to_owned()
                    } else {
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000000000\r\n\r\n".to_owned()
                    };
                    conn.write_all(head.as_bytes()).unwrap();
                    if !prefix.is_empty() {
                        if chunked {
                            let c = format!("{:x}\r\n{prefix}\r\n", prefix.len());
                            conn.write_all(c.as_bytes()).unwrap();
                        } else {
                            conn.write_all(prefix.as_bytes()).unwrap();
                        }
                    }
                    stream_forever(conn, chunk.as_bytes(), chunked, &p)
                };
                match (req.method.as_str(), req.has_sid()) {
                    ("GET", false) if in_handshake => endless(conn, &format!("{open}\u{1e}")),
                    ("GET", false) => answer(conn, 200, &open),
                    ("GET", true) => endless(conn, ""),
                    _ => answer(conn, 200, "ok"),
                }
            });
            let client = Client::builder(&url(addr))
                .transports(&[Transport::Polling])
                .request_timeout(Duration::from_secs(2))
                .max_message_bytes(64 * 1024)
                .on_message(|_, _| {})
                .build()
                .unwrap();
            let events = client.events();
            let started = Instant::now();
            client.connect().unwrap();
            let reason = disconnect_reason(&events, Duration::from_secs(10));
            let took = started.elapsed();
            client.wait();
            let pushed = pushed.load(Ordering::Relaxed);
            println!("{what}: ended with {reason} after {took:?}; the server pushed {pushed} bytes");
            assert_eq!(reason, Reason::TransportError, "{what}");
            // Far less than the 2 s request timeout: the limit, not time, ended it.
            assert!(took < Duration::from_millis(1500), "{what}: {took:?}");
            // The body limit (1.4 MB) plus what the kernel buffered meanwhile.
            assert!(pushed < 64 * MIB, "{what}: {pushed} bytes");
        }));
    }
    for check in checks {
        check.join().unwrap();
    }
}

/// An OPEN packet that never ends, and a POST answer that never ends.
#[test]
fn an_endless_handshake_or_post_answer_is_cut_short() {
    let _dog = support::watchdog(60, "endless_handshake_and_post");
    // The OPEN packet: at most 64 KiB.
    let pushed = Arc::new(AtomicU64::new(0));
    let p = Arc::clone(&pushed);
    let addr = serve(move |_, conn| {
        conn.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n0{\"si\r\n")
            .unwrap();
        stream_forever(conn, &[b'a'; 4096], true, &p)
    });
    let started = Instant::now();
    let err = Client::builder(&url(addr))
        .transports(&[Transport::Polling])
        .request_timeout(Duration::from_secs(2))
        .connect()
        .unwrap_err();
    let took = started.elapsed();
    let pushed = pushed.load(Ordering::Relaxed);
    println!("endless OPEN: {err} after {took:?}; {pushed} bytes pushed");
    assert_eq!(err.kind(), ErrorKind::Handshake, "{err}");
    assert!(took < Duration::from_millis(1500), "{took:?}");
    assert!(pushed < 64 * MIB, "{pushed}");

    // The POST answer: `ok`, at most 64 KiB.
    let pushed = Arc::new(AtomicU64::new(0));
    let p = Arc::clone(&pushed);
    let addr = serve(
        move |req, conn| match (req.method.as_str(), req.has_sid()) {
            ("GET", false) => answer(conn, 200, &open_packet("s2", "10000", "10000", 100_000)),
            ("GET", true) => hold(conn),
            _ => {
                conn.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                    .unwrap();
                stream_forever(conn, b"okokokokokokokok", true, &p)
            }
        },
    );
    let client = Client::builder(&url(addr))
        .transports(&[Transport::Polling])
        .request_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let events = client.events();
    client.connect().unwrap();
    let started = Instant::now();
    client.send("hello").unwrap();
    let reason = disconnect_reason(&events, Duration::from_secs(10));
    let took = started.elapsed();
    let pushed = pushed.load(Ordering::Relaxed);
    println!("endless POST answer: {reason} after {took:?}; {pushed} bytes pushed");
    assert_eq!(reason, Reason::TransportError);
    assert!(took < Duration::from_millis(1500), "{took:?}");
    assert!(pushed < 64 * MIB, "{pushed}");
    client.wait();
}

/// A long-poll of a million noops or pings ends the session after 16 of them; the
/// pings are answered by coalesced pongs, not one per ping.
#[test]
fn floods_of_tiny_polling_packets_end_the_session() {
    let _dog = support::watchdog(60, "polling_floods");
    for flood in ["6", "2"] {
        let posted = Arc::new(Mutex::new(Vec::<Vec<u8>>::new()));
        let seen = Arc::clone(&posted);
        let body: String = vec![flood; 1_000_000].join("\u{1e}");
        let addr = serve(
            move |req, conn| match (req.method.as_str(), req.has_sid()) {
                ("GET", false) => {
                    answer(conn, 200, &open_packet("s3", "10000", "10000", 1_000_000))
                }
                ("GET", true) => answer(conn, 200, &body),
                _ => {
                    seen.lock().unwrap().push(req.body.clone());
                    answer(conn, 200, "ok")
                }
            },
        );
        let client = Client::builder(&url(addr))
            .transports(&[Transport::Polling])
            .build()
            .unwrap();
        let events = client.events();
        let started = Instant::now();
        client.connect().unwrap();
        assert_eq!(
            disconnect_reason(&events, Duration::from_secs(10)),
            Reason::TransportError,
            "flood of {flood:?}"
        );
        let took = started.elapsed();
        client.wait();
        let pongs: usize = posted
            .lock()
            .unwrap()
            .iter()
            .map(|b| b.split(|&c| c == 0x1e).filter(|p| p[0] == b'3').count())
            .sum();
        println!("flood of {flood:?}: transport error after {took:?}, {pongs} pongs posted");
        assert!(took < Duration::from_secs(2), "{took:?}");
        // At most one pong waits at a time (a newer ping's replaces it), and the
        // session ends at the 17th control packet: never a pong per ping.
        assert!(pongs <= 16, "{pongs} pongs for one response of pings");
    }
}

/// A client with no handlers whose events nobody reads, and a client whose message
/// handler is stuck: the server can push only about the event buffer (plus what the
/// kernel buffers), then every message arrives, in order, once the consumer resumes.
#[test]
fn full_event_buffers_push_back_on_the_server_and_lose_nothing() {
    let _dog = support::watchdog(60, "event_back_pressure");
    const MESSAGES: usize = 50_000;
    const SIZE: usize = 4096;
    let total = (MESSAGES * (SIZE + 4)) as u64;
    let frames: Arc<Vec<u8>> = Arc::new({
        let mut all = Vec::with_capacity(MESSAGES * (SIZE + 8));
        for i in 0..MESSAGES {
            let mut data = vec![b'x'; SIZE];
            data[..8].copy_from_slice(&(i as u64).to_be_bytes());
            all.extend(ws_frame(2, &data));
        }
        all
    });
    let start_server = || {
        let pushed = Arc::new(AtomicU64::new(0));
        let p = Arc::clone(&pushed);
        let frames = Arc::clone(&frames);
        let addr = serve(move |req, conn| {
            ws_accept(req, conn);
            conn.write_all(&ws_frame(
                1,
                open_packet("s4", "20000", "20000", 1_000_000).as_bytes(),
            ))
            .unwrap();
            drain(conn, Arc::new(AtomicU64::new(0)));
            for piece in frames.chunks(64 * 1024) {
                if conn.write_all(piece).is_err() {
                    return Next::Close;
                }
                p.fetch_add(piece.len() as u64, Ordering::Relaxed);
            }
            hold(conn)
        });
        (addr, pushed)
    };
    let check_order = |got: &[u64]| {
        assert_eq!(got.len(), MESSAGES, "every message arrives");
        assert!(
            got.iter().enumerate().all(|(i, &n)| n == i as u64),
            "in order"
        );
    };
    let index = |m: &Message| u64::from_be_bytes(m.as_bytes()[..8].try_into().unwrap());

    // 1. No handlers; the iterator is not read for a while.
    let (addr, pushed) = start_server();
    let client = Client::builder(&url(addr))
        .transports(&[Transport::WebSocket])
        .event_buffer_bytes(MIB as usize)
        .connect()
        .unwrap();
    let events = client.events();
    thread::sleep(Duration::from_secs(2));
    let held_back = pushed.load(Ordering::Relaxed);
    println!("iterator not read: the server pushed {held_back} of {total} bytes in 2 s");
    assert!(
        held_back < 80 * MIB,
        "{held_back} bytes taken without a reader"
    );
    let mut got = Vec::new();
    while got.len() < MESSAGES {
        match events.recv_timeout(Duration::from_secs(10)) {
            Ok(Event::Message(m)) => got.push(index(&m)),
            Ok(_) => {}
            Err(e) => panic!("after {} messages: {e:?}", got.len()),
        }
    }
    check_order(&got);
    client.abort();

    // 2. A message handler stuck on its first message.
    let (addr, pushed) = start_server();
    let (gate_tx, gate_rx) = mpsc::channel::<()>();
    let gate = Mutex::new(gate_rx);
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = Arc::clone(&got);
    let client = Client::builder(&url(addr))
        .transports(&[Transport::WebSocket])
        .event_buffer_bytes(MIB as usize)
        .on_message(move |_, m| {
            let mut got = g.lock().unwrap();
            if got.is_empty() {
                let _ = gate.lock().unwrap().recv();
            }
            got.push(index(&m));
        })
        .connect()
        .unwrap();
    thread::sleep(Duration::from_secs(2));
    let held_back = pushed.load(Ordering::Relaxed);
    println!("stuck handler: the server pushed {held_back} of {total} bytes in 2 s");
    assert!(
        held_back < 80 * MIB,
        "{held_back} bytes taken behind a stuck handler"
    );
    assert!(
        client.is_connected(),
        "state() and is_connected() answer meanwhile"
    );
    gate_tx.send(()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while got.lock().unwrap().len() < MESSAGES {
        assert!(
            Instant::now() < deadline,
            "{} messages",
            got.lock().unwrap().len()
        );
        thread::sleep(Duration::from_millis(20));
    }
    check_order(&got.lock().unwrap());
    client.abort();
}

/// Floods over WebSocket and polling, with a client that reads nothing for 3 s,
/// in a child process: its peak memory stays far below what the server sent.
#[test]
#[cfg(target_os = "linux")]
fn memory_stays_bounded_under_floods() {
    let _dog = support::watchdog(60, "memory_under_floods");
    const WS_MESSAGES: usize = 30_000;
    const POLLS: usize = 5;
    const POLL_MESSAGES: usize = 4000;
    let message = vec![b'm'; 4096];
    // WebSocket: a million pings, a million noops, then 120 MB of messages.
    let ws_pushed = Arc::new(AtomicU64::new(0));
    let ws_pongs = Arc::new(AtomicU64::new(0));
    let (p, r) = (Arc::clone(&ws_pushed), Arc::clone(&ws_pongs));
    let ws_addr = serve(move |req, conn| {
        ws_accept(req, conn);
        conn.write_all(&ws_frame(
            1,
            open_packet("w", "20000", "20000", 1_000_000).as_bytes(),
        ))
        .unwrap();
        drain(conn, Arc::clone(&r));
        let mut control = Vec::with_capacity(6 << 20);
        for _ in 0..1_000_000 {
            control.extend(ws_frame(1, b"2"));
            control.extend(ws_frame(1, b"6"));
        }
        if conn.write_all(&control).is_err() {
            return Next::Close;
        }
        let frame = ws_frame(2, &message);
        for _ in 0..WS_MESSAGES {
            if conn.write_all(&frame).is_err() {
                return Next::Close;
            }
            p.fetch_add(frame.len() as u64, Ordering::Relaxed);
        }
        conn.write_all(&ws_frame(1, b"1")).unwrap();
        hold(conn)
    });
    // Polling: five long-polls of 4000 messages of 4 KiB (16 MB each).
    let polls = Arc::new(AtomicUsize::new(0));
    let body: Arc<String> =
        Arc::new(vec![format!("4{}", "p".repeat(4096)); POLL_MESSAGES].join("\u{1e}"));
    let poll_addr = serve(
        move |req, conn| match (req.method.as_str(), req.has_sid()) {
            ("GET", false) => answer(conn, 200, &open_packet("p", "20000", "20000", 1_000_000)),
            ("GET", true) => {
                let n = polls.fetch_add(1, Ordering::SeqCst);
                if n < POLLS {
                    answer(conn, 200, &body)
                } else if n == POLLS {
                    answer(conn, 200, "1")
                } else {
                    hold(conn)
                }
            }
            _ => answer(conn, 200, "ok"),
        },
    );

    let exe = std::env::current_exe().unwrap();
    let output = std::process::Command::new(exe)
        .args([
            "--exact",
            "flood_client_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("ENGINEIO_FLOOD_WS", ws_addr.to_string())
        .env("ENGINEIO_FLOOD_POLL", poll_addr.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The harness prints `test flood_client_child ... ` before the first line.
    let field = |name: &str| -> u64 {
        stdout
            .lines()
            .find_map(|l| l.split_once(name).map(|(_, v)| v))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {stdout}"))
    };
    let hwm_kib = field("VmHWM_kB=");
    let baseline_kib = field("baseline_kB=");
    let ws_got = field("ws_messages=");
    let poll_got = field("poll_messages=");
    let pushed = ws_pushed.load(Ordering::Relaxed);
    println!(
        "child: peak RSS {} MiB (baseline {} MiB); websocket: {ws_got} messages, {} pong bytes for a million pings; polling: {poll_got} messages; {} MiB pushed over WebSocket",
        hwm_kib / 1024,
        baseline_kib / 1024,
        ws_pongs.load(Ordering::Relaxed),
        pushed / MIB
    );
    assert_eq!(ws_got, WS_MESSAGES as u64);
    assert_eq!(poll_got, (POLLS * POLL_MESSAGES) as u64);
    // 120 MB over WebSocket and 80 MB over polling went through; the event
    // buffers are 1 MiB each per client, a long-poll is decoded as it arrives.
    let grew = hwm_kib.saturating_sub(baseline_kib) * 1024;
    assert!(grew < 48 * MIB, "the client grew by {} MiB", grew / MIB);
}

/// The client side of [`memory_stays_bounded_under_floods`], run in a child process.
#[test]
#[ignore = "run by memory_stays_bounded_under_floods in a child process"]
fn flood_client_child() {
    let (Ok(ws), Ok(poll)) = (
        std::env::var("ENGINEIO_FLOOD_WS"),
        std::env::var("ENGINEIO_FLOOD_POLL"),
    ) else {
        return;
    };
    let status = || std::fs::read_to_string("/proc/self/status").unwrap();
    let kib = |name: &str| -> u64 {
        status()
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    };
    println!("baseline_kB={}", kib("VmRSS:"));
    let count = |events: &Events| {
        let mut n = 0u64;
        loop {
            match events.recv_timeout(Duration::from_secs(20)) {
                Ok(Event::Message(_)) => n += 1,
                Ok(Event::Disconnect(_)) => return n,
                Ok(_) => {}
                Err(e) => panic!("after {n} messages: {e:?}"),
            }
        }
    };
    let ws_client = Client::builder(&format!("http://{ws}"))
        .transports(&[Transport::WebSocket])
        .event_buffer_bytes(1 << 20)
        .connect()
        .unwrap();
    let poll_client = Client::builder(&format!("http://{poll}"))
        .transports(&[Transport::Polling])
        .event_buffer_bytes(1 << 20)
        .connect()
        .unwrap();
    // Read nothing for a while: the floods arrive meanwhile.
    thread::sleep(Duration::from_secs(3));
    let ws_events = ws_client.events();
    let poll_events = poll_client.events();
    let poll_counter = thread::spawn(move || count(&poll_events));
    println!("ws_messages={}", count(&ws_events));
    println!("poll_messages={}", poll_counter.join().unwrap());
    println!("VmHWM_kB={}", kib("VmHWM:"));
    ws_client.abort();
    poll_client.abort();
}

// ------------------------------------------------------------------ 2. time

/// `connect` ends within the request timeout whatever the server does after
/// accepting the connection.
#[test]
fn connect_ends_within_the_request_timeout_whatever_the_server_does() {
    let _dog = support::watchdog(60, "connect_bounded");
    type Stall = fn(&Request, &mut TcpStream) -> Next;
    let scenarios: Vec<(&str, Transport, Stall)> = vec![
        ("never answers", Transport::WebSocket, |_, conn| hold(conn)),
        ("polling head drip-fed", Transport::Polling, |_, conn| {
            let head = b"HTTP/1.1 200 OK\r\nX-Slow: ";
            for b in head.iter().chain(std::iter::repeat(&b'a')) {
                if conn.write_all(&[*b]).is_err() {
                    break;
                }
                thread::sleep(Duration::from_millis(50));
            }
            Next::Close
        }),
        ("polling body drip-fed", Transport::Polling, |_, conn| {
            conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0{\"sid\"")
                .unwrap();
            for _ in 0..1000 {
                if conn.write_all(b" ").is_err() {
                    break;
                }
                thread::sleep(Duration::from_millis(50));
            }
            Next::Close
        }),
        ("101 head drip-fed", Transport::WebSocket, |req, conn| {
            let key = req.header("sec-websocket-key").unwrap_or("");
            let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
            let head = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\nX-Slow: "
            );
            for b in head.bytes().chain(std::iter::repeat(b'a')) {
                if conn.write_all(&[b]).is_err() {
                    break;
                }
                thread::sleep(Duration::from_millis(50));
            }
            Next::Close
        }),
        (
            "WebSocket pings instead of OPEN",
            Transport::WebSocket,
            |req, conn| {
                ws_accept(req, conn);
                while conn.write_all(&ws_frame(9, b"")).is_ok() {
                    thread::sleep(Duration::from_millis(100));
                }
                Next::Close
            },
        ),
        ("OPEN drip-fed", Transport::WebSocket, |req, conn| {
            ws_accept(req, conn);
            let open = open_packet("s5", "25000", "20000", 1000);
            let frame = ws_frame(1, open.as_bytes());
            for b in &frame {
                if conn.write_all(&[*b]).is_err() {
                    break;
                }
                thread::sleep(Duration::from_millis(50));
            }
            hold(conn)
        }),
    ];
    let mut checks = Vec::new();
    for (what, transport, stall) in scenarios {
        checks.push(thread::spawn(move || {
            let addr = serve(stall);
            let client = Client::builder(&url(addr))
                .transports(&[transport])
                .request_timeout(Duration::from_secs(1))
                .build()
                .unwrap();
            let started = Instant::now();
            let err = client.connect().unwrap_err();
            let took = started.elapsed();
            println!("{what}: {err} after {took:?}");
            assert_eq!(err.kind(), ErrorKind::Timeout, "{what}: {err}");
            assert!(took < Duration::from_millis(2500), "{what}: {took:?}");
            assert_eq!(client.state(), State::Disconnected, "{what}");
        }));
    }
    // Through a proxy that drip-feeds its answer to CONNECT.
    checks.push(thread::spawn(|| {
        let proxy = TcpListener::bind("127.0.0.1:0").unwrap();
        let proxy_addr = proxy.local_addr().unwrap();
        thread::spawn(move || {
            for mut conn in proxy.incoming().flatten() {
                thread::spawn(move || {
                    let mut buf = [0u8; 1024];
                    let _ = conn.read(&mut buf);
                    for b in b"HTTP/1.1 200 Connection established\r\nX-Slow: "
                        .iter()
                        .chain(std::iter::repeat(&b'a'))
                    {
                        if conn.write_all(&[*b]).is_err() {
                            break;
                        }
                        thread::sleep(Duration::from_millis(50));
                    }
                });
            }
        });
        let client = Client::builder("http://127.0.0.1:9")
            .transports(&[Transport::WebSocket])
            .proxy(format!("http://{proxy_addr}"))
            .request_timeout(Duration::from_secs(1))
            .build()
            .unwrap();
        let started = Instant::now();
        let err = client.connect().unwrap_err();
        let took = started.elapsed();
        println!("proxy CONNECT drip-fed: {err} after {took:?}");
        assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
        assert!(took < Duration::from_millis(2500), "{took:?}");
    }));
    for check in checks {
        check.join().unwrap();
    }
}

/// `abort` and `disconnect` from another thread make a `connect` that the server
/// stalls return at once, with `Aborted`; the client can connect again.
#[test]
fn abort_and_disconnect_interrupt_a_stalled_connect() {
    let _dog = support::watchdog(60, "abort_connect");
    let stalled = Arc::new(AtomicBool::new(true));
    let s = Arc::clone(&stalled);
    let addr = serve(move |req, conn| {
        if s.load(Ordering::SeqCst) {
            return hold(conn);
        }
        if req.is_upgrade() {
            ws_accept(req, conn);
            conn.write_all(&ws_frame(
                1,
                open_packet("s6", "25000", "20000", 1000).as_bytes(),
            ))
            .unwrap();
            return hold(conn);
        }
        match (req.method.as_str(), req.has_sid()) {
            ("GET", false) => answer(conn, 200, &open_packet("s6", "25000", "20000", 1000)),
            ("GET", true) => hold(conn),
            _ => answer(conn, 200, "ok"),
        }
    });
    for transport in [Transport::Polling, Transport::WebSocket] {
        for abort in [true, false] {
            let client = Client::builder(&url(addr))
                .transports(&[transport])
                .request_timeout(Duration::from_secs(20))
                .build()
                .unwrap();
            let c = client.clone();
            let started = Instant::now();
            let connecting = thread::spawn(move || c.connect());
            thread::sleep(Duration::from_millis(300));
            assert_eq!(client.state(), State::Connecting);
            if abort {
                client.abort();
            } else {
                client.disconnect();
            }
            let err = connecting.join().unwrap().unwrap_err();
            let took = started.elapsed();
            println!("{transport} abort={abort}: {err} after {took:?}");
            assert_eq!(err.kind(), ErrorKind::Aborted, "{err}");
            assert!(took < Duration::from_millis(1500), "{took:?}");
            assert_eq!(client.state(), State::Disconnected);
            // Usable again.
            stalled.store(false, Ordering::SeqCst);
            client.connect().unwrap();
            client.abort();
            stalled.store(true, Ordering::SeqCst);
        }
    }
}

/// A WebSocket server that stops reading, or reads a trickle: a `send` fails with
/// `Timeout` within the request timeout and ends the connection with `transport
/// error`; a second sender waiting behind it fails as soon; meanwhile the state
/// lock is free (`is_connected`, `state`), and the reader, the pong answers and the
/// event thread keep going (a message the server sends arrives at once).
#[test]
fn a_send_the_server_does_not_take_times_out_without_blocking_the_rest() {
    let _dog = support::watchdog(60, "stalled_send");
    for trickle in [false, true] {
        let (ready_tx, ready_rx) = mpsc::channel::<TcpStream>();
        let ready_tx = Mutex::new(ready_tx);
        let addr = serve(move |req, conn| {
            ws_accept(req, conn);
            conn.write_all(&ws_frame(
                1,
                open_packet("s7", "25000", "20000", 100_000_000).as_bytes(),
            ))
            .unwrap();
            if trickle {
                // Takes a kilobyte every 50 ms: the send progresses, slowly.
                let mut reader = conn.try_clone().unwrap();
                thread::spawn(move || {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = reader.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        thread::sleep(Duration::from_millis(50));
                    }
                });
            }
            ready_tx
                .lock()
                .unwrap()
                .send(conn.try_clone().unwrap())
                .unwrap();
            hold_without_reading()
        });
        let (msg_tx, msg_rx) = mpsc::channel::<(Message, Instant)>();
        let msg_tx = Mutex::new(msg_tx);
        let client = Client::builder(&url(addr))
            .transports(&[Transport::WebSocket])
            .request_timeout(Duration::from_secs(1))
            .on_message(move |_, m| {
                let _ = msg_tx.lock().unwrap().send((m, Instant::now()));
            })
            .build()
            .unwrap();
        let events = client.events();
        client.connect().unwrap();
        let mut server_side = ready_rx.recv_timeout(Duration::from_secs(5)).unwrap();

        // Watch the state lock from another thread while the sends stall.
        let stop = Arc::new(AtomicBool::new(false));
        let worst = Arc::new(Mutex::new(Duration::ZERO));
        let watcher = {
            let (client, stop, worst) = (client.clone(), Arc::clone(&stop), Arc::clone(&worst));
            thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let t = Instant::now();
                    let _ = client.is_connected();
                    let _ = client.state();
                    let _ = client.transport();
                    let took = t.elapsed();
                    let mut worst = worst.lock().unwrap();
                    *worst = (*worst).max(took);
                    drop(worst);
                    thread::sleep(Duration::from_millis(5));
                }
            })
        };
        let big = vec![7u8; 16 << 20];
        // The first sender fills the socket and gets stuck; a second one waits behind.
        let sender = |delay: u64| {
            let client = client.clone();
            let big = big.clone();
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(delay));
                let started = Instant::now();
                let result = client.send(big);
                (result, started.elapsed())
            })
        };
        let first = sender(0);
        let second = sender(300);
        // While they are stuck, the server pings and sends a message.
        thread::sleep(Duration::from_millis(500));
        let sent_at = Instant::now();
        server_side.write_all(&ws_frame(1, b"2")).unwrap();
        server_side
            .write_all(&ws_frame(1, b"4while stuck"))
            .unwrap();
        let (first, first_took) = first.join().unwrap();
        let (second, second_took) = second.join().unwrap();
        stop.store(true, Ordering::SeqCst);
        watcher.join().unwrap();
        let worst = *worst.lock().unwrap();
        let (message, at) = msg_rx.recv_timeout(Duration::from_secs(5)).unwrap();
        println!(
            "trickle={trickle}: first send {:?} after {first_took:?}, second {:?} after {second_took:?}; state calls took at most {worst:?}; the server's message arrived {:?} after it was sent",
            first.as_ref().map_err(|e| e.kind()),
            second.as_ref().map_err(|e| e.kind()),
            at.saturating_duration_since(sent_at)
        );
        assert_eq!(message, Message::from("while stuck"));
        assert!(
            at.saturating_duration_since(sent_at) < Duration::from_millis(500),
            "the reader and the event thread waited for the write"
        );
        let err = first.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
        assert!(first_took < Duration::from_millis(2500), "{first_took:?}");
        let err = second.unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::Timeout | ErrorKind::NotConnected),
            "{err}"
        );
        assert!(second_took < Duration::from_millis(2500), "{second_took:?}");
        assert!(
            worst < Duration::from_millis(200),
            "state calls waited {worst:?}"
        );
        assert_eq!(
            disconnect_reason(&events, Duration::from_secs(5)),
            Reason::TransportError
        );
        client.wait();
        let _ = server_side.shutdown(std::net::Shutdown::Both);
    }
}

/// Holds a WebSocket connection without reading from it (the server side is driven
/// through the clone handed to the test).
fn hold_without_reading() -> Next {
    thread::sleep(Duration::from_secs(30));
    Next::Close
}

// ------------------------------------------------------------------ 3. heartbeat

/// A handshake advertising a heartbeat above the caps is refused, on both
/// transports, with a message naming the value and the option.
#[test]
fn absurd_heartbeats_are_refused() {
    let _dog = support::watchdog(60, "absurd_heartbeats");
    let cases: [(&str, &str, &str, Option<Duration>); 5] = [
        ("pingInterval", "1e300", "20000", None),
        ("pingInterval", "18446744073709551615", "20000", None),
        ("pingTimeout", "25000", "1e300", None),
        (
            "pingInterval",
            "60000",
            "20000",
            Some(Duration::from_secs(30)),
        ),
        ("pingInterval", "300001", "20000", None),
    ];
    for (field, interval, timeout, cap) in cases {
        let open = open_packet("s8", interval, timeout, 1000);
        for transport in [Transport::Polling, Transport::WebSocket] {
            let open = open.clone();
            let addr = serve(move |req, conn| {
                if req.is_upgrade() {
                    ws_accept(req, conn);
                    conn.write_all(&ws_frame(1, open.as_bytes())).unwrap();
                    return hold(conn);
                }
                answer(conn, 200, &open)
            });
            let mut builder = Client::builder(&url(addr)).transports(&[transport]);
            if let Some(cap) = cap {
                builder = builder.max_ping_interval(cap);
            }
            let client = builder.build().unwrap();
            let started = Instant::now();
            let err = client.connect().unwrap_err();
            assert_eq!(
                err.kind(),
                ErrorKind::Handshake,
                "{field}={interval}/{timeout}: {err}"
            );
            let text = err.to_string();
            assert!(text.contains(field), "{text}");
            let option = if field == "pingInterval" {
                "max_ping_interval"
            } else {
                "max_ping_timeout"
            };
            assert!(text.contains(option), "{text}");
            assert!(started.elapsed() < Duration::from_secs(2));
            assert_eq!(client.state(), State::Disconnected);
        }
    }
    // At the cap: accepted.
    let addr = serve(|req, conn| match (req.method.as_str(), req.has_sid()) {
        ("GET", false) => answer(conn, 200, &open_packet("s9", "300000", "300000", 1000)),
        ("GET", true) => hold(conn),
        _ => answer(conn, 200, "ok"),
    });
    let client = Client::builder(&url(addr))
        .transports(&[Transport::Polling])
        .connect()
        .unwrap();
    client.abort();
}

// ------------------------------------------------------------------ 5. configuration

/// Every duration and size option is range-checked by `build`, with an error that
/// names the option and the range; nothing `build` accepts panics later.
#[test]
fn out_of_range_options_are_refused_by_build() {
    let _dog = support::watchdog(60, "options_range_checked");
    let base = || Client::builder("http://127.0.0.1:9");
    let refused: Vec<(&str, engineio::client::ClientBuilder)> = vec![
        ("request_timeout", base().request_timeout(Duration::MAX)),
        ("request_timeout", base().request_timeout(Duration::ZERO)),
        ("max_buffered_bytes", base().max_buffered_bytes(0)),
        ("max_message_bytes", base().max_message_bytes(usize::MAX)),
        ("event_buffer_bytes", base().event_buffer_bytes(0)),
        ("max_ping_interval", base().max_ping_interval(Duration::MAX)),
        ("max_ping_timeout", base().max_ping_timeout(Duration::ZERO)),
    ];
    for (option, builder) in refused {
        let err = builder.build().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{option}");
        let text = err.to_string();
        assert!(
            text.contains(option) && text.contains("between"),
            "{option}: {text}"
        );
    }
    // The largest accepted values connect (and fail) without a panic.
    let client = base()
        .request_timeout(Duration::from_secs(3600))
        .max_ping_interval(Duration::from_secs(24 * 3600))
        .max_ping_timeout(Duration::from_secs(24 * 3600))
        .max_message_bytes(1 << 30)
        .event_buffer_bytes(1 << 30)
        .max_buffered_bytes(1 << 30)
        .build()
        .unwrap();
    let err = client.connect().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connect, "{err}");
    assert_eq!(client.state(), State::Disconnected);
}
