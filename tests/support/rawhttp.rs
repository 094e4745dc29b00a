//! A raw HTTP/1.1 client for the server's integration tests, so that every byte on
//! the wire is visible, plus a server started with recording handlers.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use engineio::server::{App, Listening, ServerBuilder};

/// One HTTP response as received.
pub struct Resp {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

pub fn read_response(s: &mut TcpStream) -> Resp {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        let n = s.read(&mut byte).expect("read head");
        assert!(
            n > 0,
            "connection closed before a response: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.push(byte[0]);
    }
    let head = String::from_utf8(buf).unwrap();
    let status = head[9..12].parse().unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .map_or(0, |v| v.trim().parse().unwrap());
    let mut body = vec![0; len];
    s.read_exact(&mut body).unwrap();
    Resp { status, head, body }
}

/// One keep-alive connection carrying many requests.
pub struct KeepAlive {
    stream: TcpStream,
}

impl KeepAlive {
    pub fn connect(addr: SocketAddr) -> KeepAlive {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        KeepAlive { stream }
    }

    /// `GET /engine.io/?{query}` on this connection.
    pub fn get(&mut self, query: &str) -> Resp {
        let raw = format!("GET /engine.io/?{query} HTTP/1.1\r\nHost: x\r\n\r\n");
        self.stream.write_all(raw.as_bytes()).unwrap();
        read_response(&mut self.stream)
    }
}

pub fn request(addr: SocketAddr, raw: &str) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(raw.as_bytes()).unwrap();
    read_response(&mut s)
}

pub fn get(addr: SocketAddr, query: &str) -> Resp {
    request(
        addr,
        &format!("GET /engine.io/?{query} HTTP/1.1\r\nHost: {addr}\r\n\r\n"),
    )
}

pub fn post(addr: SocketAddr, query: &str, body: &str) -> Resp {
    request(
        addr,
        &format!(
            "POST /engine.io/?{query} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
}

pub type Events = Arc<Mutex<Vec<String>>>;

pub fn start(b: ServerBuilder) -> (Listening, Events) {
    let events: Events = Arc::default();
    let (e1, e2) = (events.clone(), events.clone());
    let server = b
        .on_message(move |server, sid, msg| {
            e1.lock().unwrap().push(format!("message {msg:?}"));
            let _ = server.send(sid, msg);
        })
        .on_disconnect(move |_, _, reason| e2.lock().unwrap().push(format!("disconnect {reason}")))
        .build()
        .unwrap();
    (App::new(server).listen("127.0.0.1:0").unwrap(), events)
}

pub fn handshake(addr: SocketAddr) -> String {
    let r = get(addr, "EIO=4&transport=polling");
    assert_eq!(r.status, 200, "{}", r.text());
    let v: serde_json::Value = serde_json::from_str(&r.text()[1..]).unwrap();
    v["sid"].as_str().unwrap().to_string()
}

pub fn wait_for(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(10));
    }
}
