//! Flow control on real sockets: how many bytes wait for a session, the server-wide
//! limit on waiting outbound bytes, and the back-pressure a client meets when it
//! floods a session whose handler is busy.

use std::io::{ErrorKind as IoKind, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use engineio::client::{Client, Event};
use engineio::server::{App, Reason, Server};
use engineio::Transport;

mod support;
use support::rawhttp::{get, handshake, read_response, wait_for};

/// A gate a handler waits at until the test opens it.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    cond: Condvar,
}

impl Gate {
    fn wait(&self) {
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.cond.wait(open).unwrap();
        }
    }
    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.cond.notify_all();
    }
}

#[test]
fn buffered_bytes_tells_what_waits_for_a_session() {
    let _dog = support::watchdog(60, "buffered_bytes");
    let server = Server::builder().build().unwrap();
    let app = App::new(server.clone()).listen("127.0.0.1:0").unwrap();
    let a = app.local_addr();
    // Polling: the queue until the next long-poll.
    let sid = handshake(a);
    assert_eq!(server.buffered_bytes(&sid).unwrap(), 0);
    for _ in 0..3 {
        server.send(&sid, "x".repeat(999)).unwrap();
    }
    assert_eq!(server.buffered_bytes(&sid).unwrap(), 3000);
    get(a, &format!("EIO=4&transport=polling&sid={sid}"));
    assert_eq!(server.buffered_bytes(&sid).unwrap(), 0);
    // WebSocket: frames the kernel did not take because the client does not read.
    let (mut ws, sid) = support::rawws::open(a);
    let chunk = "y".repeat(64 * 1024);
    let mut sent = 0;
    while server.buffered_bytes(&sid).unwrap() == 0 {
        server.send(&sid, chunk.as_str()).unwrap();
        sent += 1;
        assert!(sent < 1000, "64 MB went out without waiting");
    }
    for _ in 0..sent {
        let text = support::rawws::recv_text(&mut ws);
        assert_eq!(text.len(), chunk.len() + 1);
    }
    wait_for("the frames to drain", || {
        server.buffered_bytes(&sid).unwrap() == 0
    });
    assert!(server.buffered_bytes("nope").is_err());
}

#[test]
fn the_server_wide_limit_closes_slow_readers_and_spares_healthy_sessions() {
    let _dog = support::watchdog(120, "max_total_buffered_bytes");
    const CAP: usize = 4 << 20;
    const MSG: usize = 32 * 1024;
    let reasons = Arc::new(Mutex::new(Vec::new()));
    let r2 = reasons.clone();
    let server = Server::builder()
        .max_buffered_bytes(2 << 20)
        .max_total_buffered_bytes(CAP)
        .on_disconnect(move |_, sid, reason| r2.lock().unwrap().push((sid.to_string(), reason)))
        .build()
        .unwrap();
    let app = App::new(server.clone()).listen("127.0.0.1:0").unwrap();
    let a = app.local_addr();
    // Eight polling clients that never collect their messages.
    let slow: Vec<String> = (0..8).map(|_| handshake(a)).collect();
    // One that reads everything.
    let healthy = Client::builder(&format!("http://{a}"))
        .transports(&[Transport::WebSocket])
        .connect()
        .unwrap();
    let events = healthy.events();
    let healthy_sid = healthy.sid().unwrap();
    let message = "z".repeat(MSG - 1);
    for round in 0..80 {
        for sid in &slow {
            let _ = server.send(sid, message.as_str());
        }
        server.send(&healthy_sid, round.to_string()).unwrap();
        let waiting: usize = slow
            .iter()
            .filter_map(|sid| server.buffered_bytes(sid).ok())
            .sum();
        assert!(waiting <= CAP, "round {round}: {waiting} bytes wait");
    }
    let mut round = 0;
    while round < 80 {
        match events.recv_timeout(Duration::from_secs(10)) {
            Ok(Event::Connect) => {}
            Ok(Event::Message(m)) => {
                assert_eq!(m.as_text(), Some(round.to_string().as_str()));
                round += 1;
            }
            other => panic!("healthy client: {other:?}"),
        }
    }
    assert!(healthy.is_connected());
    wait_for("the slow sessions' handlers", || {
        reasons.lock().unwrap().len() == 8
    });
    for (sid, reason) in reasons.lock().unwrap().iter() {
        assert!(slow.contains(sid), "{sid} is not a slow one");
        assert_eq!(*reason, Reason::TransportError);
    }
    healthy.disconnect();
}

/// Reads one WebSocket frame's payload from a raw stream (unmasked server frames).
fn read_frame(s: &mut TcpStream) -> Vec<u8> {
    let mut head = [0u8; 2];
    s.read_exact(&mut head).unwrap();
    let len = match head[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            s.read_exact(&mut b).unwrap();
            u16::from_be_bytes(b) as usize
        }
        127 => {
            let mut b = [0u8; 8];
            s.read_exact(&mut b).unwrap();
            u64::from_be_bytes(b) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0; len];
    s.read_exact(&mut payload).unwrap();
    payload
}

/// A masked client text frame.
fn text_frame(text: &str) -> Vec<u8> {
    let mut f = vec![0x81];
    let n = text.len();
    if n < 126 {
        f.push(0x80 | n as u8);
    } else {
        f.push(0x80 | 126);
        f.extend_from_slice(&(n as u16).to_be_bytes());
    }
    f.extend_from_slice(&[0, 0, 0, 0]); // a zero mask keeps the payload as is
    f.extend_from_slice(text.as_bytes());
    f
}

#[test]
fn a_flood_into_a_busy_handler_meets_back_pressure_then_everything_arrives_in_order() {
    let _dog = support::watchdog(120, "back-pressure on a busy handler");
    let gate = Arc::new(Gate::default());
    let got = Arc::new(Mutex::new(Vec::new()));
    let (g2, got2) = (gate.clone(), got.clone());
    let server = Server::builder()
        .max_payload(64 * 1024)
        .on_message(move |_, _, msg| {
            g2.wait();
            got2.lock()
                .unwrap()
                .push(msg.as_text().unwrap().to_string());
        })
        .build()
        .unwrap();
    let app = App::new(server.clone()).listen("127.0.0.1:0").unwrap();
    let a = app.local_addr();
    let mut s = TcpStream::connect(a).unwrap();
    s.write_all(
        b"GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
          Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
          Sec-WebSocket-Version: 13\r\n\r\n",
    )
    .unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b).unwrap();
        head.push(b[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
    assert_eq!(read_frame(&mut s)[0], b'0');
    // Flood 1 KiB messages without reading, until the server stops taking them.
    s.set_nonblocking(true).unwrap();
    let body = "m".repeat(1023);
    let (mut accepted, mut messages) = (0usize, 0usize);
    let mut pending: Vec<u8> = Vec::new();
    let mut stalled_since: Option<Instant> = None;
    let start = Instant::now();
    loop {
        if pending.is_empty() {
            pending = text_frame(&format!("4{messages:06}{body}"));
            messages += 1;
        }
        match s.write(&pending) {
            Ok(n) => {
                accepted += n;
                pending.drain(..n);
                stalled_since = None;
            }
            Err(e) if e.kind() == IoKind::WouldBlock => {
                let since = *stalled_since.get_or_insert_with(Instant::now);
                if since.elapsed() > Duration::from_millis(500) {
                    break;
                }
                thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("write failed: {e}"),
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the server kept reading: {accepted} bytes"
        );
    }
    // What the server holds for the busy handler is bounded (about max_payload); the
    // rest sits in the kernel's socket buffers, which are bounded too.
    assert!(accepted < 48 << 20, "{accepted} bytes accepted");
    eprintln!("the flood stalled after {accepted} bytes ({messages} messages)");
    assert!(got.lock().unwrap().is_empty());
    // The handler catches up: every message arrives, in order.
    s.set_nonblocking(false).unwrap();
    let writer = {
        let mut s = s.try_clone().unwrap();
        thread::spawn(move || {
            s.write_all(&pending).unwrap();
        })
    };
    gate.open();
    writer.join().unwrap();
    wait_for("every message", || got.lock().unwrap().len() == messages);
    let got = got.lock().unwrap();
    for (i, m) in got.iter().enumerate() {
        assert_eq!(&m[..6], format!("{i:06}"), "message {i} out of order");
    }
}

#[test]
fn a_post_into_a_full_inbox_is_answered_once_the_handler_catches_up() {
    let _dog = support::watchdog(60, "POST back-pressure");
    let gate = Arc::new(Gate::default());
    let count = Arc::new(Mutex::new(0usize));
    let (g2, c2) = (gate.clone(), count.clone());
    let server = Server::builder()
        .max_payload(64 * 1024)
        .on_message(move |_, _, _| {
            g2.wait();
            *c2.lock().unwrap() += 1;
        })
        .build()
        .unwrap();
    let app = App::new(server.clone()).listen("127.0.0.1:0").unwrap();
    let a = app.local_addr();
    let sid = handshake(a);
    let body = format!("4{}", "p".repeat(60 * 1024));
    let post = |s: &mut TcpStream| {
        let head = format!(
            "POST /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n\
             Content-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(body.as_bytes()).unwrap();
    };
    let mut s = TcpStream::connect(a).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    // 1: its handler blocks; the connection moves on and answers.
    post(&mut s);
    assert_eq!(read_response(&mut s).text(), "ok");
    // 2: waits in the inbox, under its limit.
    post(&mut s);
    assert_eq!(read_response(&mut s).text(), "ok");
    // 3: the inbox is full: no answer while the handler is busy.
    post(&mut s);
    s.set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    let mut b = [0u8; 1];
    let early = s.read(&mut b);
    assert!(
        early
            .as_ref()
            .is_err_and(|e| matches!(e.kind(), IoKind::WouldBlock | IoKind::TimedOut)),
        "answered while the handler was busy: {early:?}"
    );
    gate.open();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut rest = read_response(&mut s);
    rest.head.insert(0, b[0] as char);
    assert_eq!(rest.text(), "ok");
    wait_for("three messages", || *count.lock().unwrap() == 3);
    assert!(server.is_connected(&sid));
}
