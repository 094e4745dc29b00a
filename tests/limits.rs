//! The HTTP server's resource limits and request-framing rules, on real loopback sockets:
//! connection cap, head and keep-alive timeouts, head size, smuggling defences,
//! `Expect: 100-continue` and garbage input. Every test ends by checking that a fresh
//! session on the same server still works.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use engineio::server::Server;

// ---- shared raw-HTTP helpers (identical in tests/polling.rs, http_policies.rs, limits.rs) ----

mod support;
use support::rawhttp::*;

// ---- helpers specific to this file ----

/// A fresh session on the server echoes `4x`.
fn assert_healthy(addr: SocketAddr) {
    let sid = handshake(addr);
    let q = format!("EIO=4&transport=polling&sid={sid}");
    assert_eq!(post(addr, &q, "4x").text(), "ok");
    assert_eq!(get(addr, &q).text(), "4x");
}

/// A connection that has sent `bytes` and nothing more.
fn partial(addr: SocketAddr, bytes: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(bytes.as_bytes()).unwrap();
    s
}

/// Reads until the peer closes or `limit` passes; `true` if it closed (EOF or reset).
fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    s.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 256];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return false
            }
            Err(_) => return true,
        }
    }
}

fn post_raw(addr: SocketAddr, sid: &str, headers: &str, body: &str) -> Resp {
    request(
        addr,
        &format!(
            "POST /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: {addr}\r\n{headers}\r\n{body}"
        ),
    )
}

// ---- connections ----

#[test]
fn max_connections_answers_503_beyond_the_cap_and_recovers() {
    let _dog = support::watchdog(
        120,
        "max_connections_answers_503_beyond_the_cap_and_recovers",
    );
    let (app, _) = start(Server::builder().max_connections(2));
    let a = app.local_addr();
    let sid = handshake(a);
    wait_for("handshake connection closed", || {
        app.connection_count() == 0
    });
    let idle1 = partial(a, "GET /engine.io/?EIO=4");
    let idle2 = partial(a, "GET /engine.io/?EIO=4");
    wait_for("two connections", || app.connection_count() == 2);
    let t = Instant::now();
    let mut third = TcpStream::connect(a).unwrap();
    third
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        third,
        "GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    .ok();
    let r = read_response(&mut third);
    assert_eq!(r.status, 503, "{}", r.head);
    assert!(r.head.starts_with("HTTP/1.1 503"));
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    drop(third);
    drop(idle1);
    wait_for("a free slot", || app.connection_count() < 2);
    // The existing session keeps working, one connection at a time beside idle2.
    let q = format!("EIO=4&transport=polling&sid={sid}");
    // (A closed connection counts until its thread sees the EOF: wait for that
    // between requests so that the cap is not hit by our own finished requests.)
    let r = post(a, &q, "4again");
    assert_eq!((r.status, r.text().as_str()), (200, "ok"));
    wait_for("a free slot", || app.connection_count() < 2);
    let r = get(a, &q);
    assert_eq!((r.status, r.text().as_str()), (200, "4again"));
    drop(idle2);
    wait_for("idle connections gone", || app.connection_count() == 0);
    assert_healthy(a);
    app.shutdown();
}

#[test]
fn head_timeout_drops_a_stalled_head_while_others_are_served() {
    let _dog = support::watchdog(
        120,
        "head_timeout_drops_a_stalled_head_while_others_are_served",
    );
    let (app, _) = start(Server::builder().head_timeout(Duration::from_millis(300)));
    let a = app.local_addr();
    let t = Instant::now();
    let mut slow = partial(a, "GET /engine.io/?EIO=4");
    // Another client is served meanwhile.
    assert_healthy(a);
    slow.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 512];
    loop {
        match slow.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                panic!("no 408 nor close after {:?}", t.elapsed())
            }
            Err(_) => break,
        }
    }
    let elapsed = t.elapsed();
    assert!(elapsed < Duration::from_millis(2500), "{elapsed:?}");
    assert!(elapsed >= Duration::from_millis(250), "{elapsed:?}");
    let text = String::from_utf8_lossy(&buf);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text:?}"
    );
    assert_healthy(a);
    app.shutdown();
}

#[test]
fn keep_alive_timeout_closes_an_idle_connection() {
    let _dog = support::watchdog(120, "keep_alive_timeout_closes_an_idle_connection");
    let (app, _) = start(Server::builder().keep_alive_timeout(Duration::from_millis(300)));
    let a = app.local_addr();
    let mut s = TcpStream::connect(a).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    .unwrap();
    assert_eq!(read_response(&mut s).status, 200);
    let t = Instant::now();
    assert!(
        closed_within(&mut s, Duration::from_secs(3)),
        "the idle connection was not closed"
    );
    assert!(
        t.elapsed() < Duration::from_millis(2500),
        "{:?}",
        t.elapsed()
    );
    wait_for("no connections", || app.connection_count() == 0);
    assert_healthy(a);
    app.server().disconnect_all();
    app.shutdown();
}

// ---- request heads ----

#[test]
fn head_over_max_head_size_is_431() {
    let _dog = support::watchdog(120, "head_over_max_head_size_is_431");
    let (app, _) = start(Server::builder().max_head_size(1024));
    let a = app.local_addr();
    let big = "x".repeat(2000);
    let r = request(
        a,
        &format!(
            "GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n"
        ),
    );
    assert_eq!(r.status, 431);
    // A long URL counts too.
    let r = request(
        a,
        &format!("GET /engine.io/?EIO=4&transport=polling&pad={big} HTTP/1.1\r\nHost: x\r\n\r\n"),
    );
    assert_eq!(r.status, 431);
    assert_healthy(a);
    app.shutdown();
}

#[test]
fn too_many_headers_is_431() {
    let _dog = support::watchdog(120, "too_many_headers_is_431");
    let (app, _) = start(Server::builder());
    let a = app.local_addr();
    let headers: String = (0..100).map(|i| format!("X-H{i}: v\r\n")).collect();
    let r = request(
        a,
        &format!("GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n{headers}\r\n"),
    );
    assert_eq!(r.status, 431, "{}", r.head);
    assert_eq!(app.server().table_size(), 0);
    assert_healthy(a);
    app.shutdown();
}

// ---- request smuggling ----

#[test]
fn content_length_with_transfer_encoding_is_400() {
    let _dog = support::watchdog(120, "content_length_with_transfer_encoding_is_400");
    let (app, _) = start(Server::builder());
    let a = app.local_addr();
    let sid = handshake(a);
    let r = post_raw(
        a,
        &sid,
        "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n",
        "2\r\n4x\r\n0\r\n\r\n",
    );
    assert_eq!(r.status, 400);
    assert_healthy(a);
    app.shutdown();
}

#[test]
fn unsupported_transfer_encoding_is_501() {
    let _dog = support::watchdog(120, "unsupported_transfer_encoding_is_501");
    let (app, _) = start(Server::builder());
    let a = app.local_addr();
    let sid = handshake(a);
    let r = post_raw(a, &sid, "Transfer-Encoding: gzip\r\n", "");
    assert_eq!(r.status, 501);
    assert_healthy(a);
    app.shutdown();
}

#[test]
fn invalid_content_length_is_400() {
    let _dog = support::watchdog(120, "invalid_content_length_is_400");
    let (app, _) = start(Server::builder());
    let a = app.local_addr();
    let sid = handshake(a);
    for cl in ["abc", "-1", "+2", "2 2", "0x2"] {
        let r = post_raw(a, &sid, &format!("Content-Length: {cl}\r\n"), "4x");
        assert_eq!(r.status, 400, "Content-Length: {cl}");
    }
    assert_healthy(a);
    app.shutdown();
}

#[test]
fn conflicting_content_lengths_are_400() {
    let _dog = support::watchdog(120, "conflicting_content_lengths_are_400");
    let (app, _) = start(Server::builder());
    let a = app.local_addr();
    let sid = handshake(a);
    let r = post_raw(
        a,
        &sid,
        "Content-Length: 2\r\nContent-Length: 5\r\n",
        "4xyzw",
    );
    assert_eq!(r.status, 400);
    let r = post_raw(a, &sid, "Content-Length: 2, 5\r\n", "4xyzw");
    assert_eq!(r.status, 400);
    assert_healthy(a);
    app.shutdown();
}

// ---- expect and garbage ----

#[test]
fn expect_100_continue_gets_an_interim_response_before_ok() {
    let _dog = support::watchdog(
        120,
        "expect_100_continue_gets_an_interim_response_before_ok",
    );
    let (app, events) = start(Server::builder());
    let a = app.local_addr();
    let sid = handshake(a);
    let mut s = TcpStream::connect(a).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "POST /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: 6\r\nExpect: 100-continue\r\n\r\n"
    )
    .unwrap();
    let interim = read_response(&mut s);
    assert_eq!(interim.status, 100, "{}", interim.head);
    assert!(interim.head.starts_with("HTTP/1.1 100 Continue\r\n"));
    s.write_all(b"4hello").unwrap();
    let r = read_response(&mut s);
    assert_eq!((r.status, r.text().as_str()), (200, "ok"));
    assert_eq!(r.header("Content-Type").as_deref(), Some("text/html"));
    let messages = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.starts_with("message"))
        .count();
    assert_eq!(messages, 1);
    assert_eq!(
        get(a, &format!("EIO=4&transport=polling&sid={sid}")).text(),
        "4hello"
    );
    assert_healthy(a);
    app.shutdown();
}

#[test]
fn garbage_request_line_is_400_and_others_are_served() {
    let _dog = support::watchdog(120, "garbage_request_line_is_400_and_others_are_served");
    let (app, _) = start(Server::builder());
    let a = app.local_addr();
    let sid = handshake(a);
    let mut s = TcpStream::connect(a).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n")
        .unwrap();
    let r = read_response(&mut s);
    assert_eq!(r.status, 400, "{}", r.head);
    let q = format!("EIO=4&transport=polling&sid={sid}");
    assert_eq!(post(a, &q, "4y").text(), "ok");
    assert_eq!(get(a, &q).text(), "4y");
    assert_healthy(a);
    app.shutdown();
}

// ---- bodies ----

#[test]
fn chunk_sizes_must_be_bare_hex_digits() {
    let _dog = support::watchdog(60, "chunk-size strictness");
    let (app, events) = start(Server::builder());
    let a = app.local_addr();
    for bad in ["+5", " 5 ", "5 ", " 5", "0x5", "5\t"] {
        let sid = handshake(a);
        let mut s = partial(
            a,
            &format!(
                "POST /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n\
                 Transfer-Encoding: chunked\r\n\r\n{bad}\r\n4hell\r\n0\r\n\r\n"
            ),
        );
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let r = read_response(&mut s);
        assert_eq!(r.status, 400, "{bad:?}");
        assert_eq!(r.header("Connection").as_deref(), Some("close"), "{bad:?}");
        assert!(closed_within(&mut s, Duration::from_secs(5)), "{bad:?}");
    }
    assert!(!events
        .lock()
        .unwrap()
        .iter()
        .any(|e| e.starts_with("message")));
    // Extensions after the size are fine, with or without whitespace before `;`.
    for good in ["5;name=value", "5 ;name"] {
        let sid = handshake(a);
        let r = post_raw(
            a,
            &sid,
            "Transfer-Encoding: chunked\r\n",
            &format!("{good}\r\n4hell\r\n0\r\n\r\n"),
        );
        assert_eq!(r.text(), "ok", "{good:?}");
    }
    assert_healthy(a);
}

#[test]
fn body_timeout_bounds_the_whole_body_draining_included() {
    let _dog = support::watchdog(60, "body_timeout bounds the body");
    let (app, _) = start(Server::builder().body_timeout(Duration::from_secs(2)));
    let a = app.local_addr();
    let sid = handshake(a);
    let mut s = partial(
        a,
        &format!(
            "POST /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n\
             Content-Length: 100\r\n\r\n"
        ),
    );
    let start = Instant::now();
    // One byte every 200 ms: it would take 20 s to arrive.
    let mut w = s.try_clone().unwrap();
    let dripper = std::thread::spawn(move || {
        for _ in 0..100 {
            if w.write_all(b"4").is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    assert!(closed_within(&mut s, Duration::from_secs(10)));
    let took = start.elapsed();
    // 2 s, not 2 s for the body and 2 s more to drain it.
    assert!(took < Duration::from_millis(3500), "{took:?}");
    assert!(took >= Duration::from_millis(1900), "{took:?}");
    dripper.join().unwrap();
    assert_healthy(a);
}
