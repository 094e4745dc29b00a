//! `disconnect`, `abort` and `wait` join every thread the client started, and a
//! failed `connect` or a connection a limit ended leaves none. Alone in its test
//! binary, because it counts the process's threads by name.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use engineio::client::{Client, Event, Reason};
use engineio::server::{App, Server};
use engineio::{ErrorKind, Transport};

mod support;

/// Threads named `engineio-client-*` (the kernel keeps 15 bytes of a name).
fn client_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks
                .flatten()
                .filter(|t| {
                    std::fs::read_to_string(t.path().join("comm"))
                        .is_ok_and(|name| name.starts_with("engineio-client"))
                })
                .count()
        })
        .unwrap_or(0)
}

fn check(what: &str, client: &Client, end: impl FnOnce(&Client)) {
    assert!(client.is_connected(), "{what}");
    // A new thread names itself a moment after it starts.
    settle(|n| n >= 1);
    assert!(
        client_threads() >= 1,
        "{what}: no client thread while connected"
    );
    end(client);
    // A joined thread's kernel task may linger for a moment after the join.
    settle(|n| n == 0);
    assert_eq!(client_threads(), 0, "{what}: threads left after the end");
}

fn settle(ok: impl Fn(usize) -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_millis(200);
    while !ok(client_threads()) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
#[cfg(target_os = "linux")]
fn every_thread_is_joined() {
    let _dog = support::watchdog(120, "every_thread_is_joined");
    let server = Server::builder()
        .on_message(|s, sid, m| {
            if m.as_text() == Some("close-me") {
                let _ = s.disconnect(sid);
            } else {
                let _ = s.send(sid, m);
            }
        })
        .build()
        .unwrap();
    let app = App::new(server).listen("127.0.0.1:0").unwrap();
    let url = format!("http://{}", app.local_addr());
    let polling = Client::builder(&url)
        .transports(&[Transport::Polling])
        .build()
        .unwrap();

    polling.connect().unwrap();
    check("polling disconnect", &polling, Client::disconnect);
    polling.connect().unwrap();
    check("polling abort", &polling, Client::abort);
    polling.connect().unwrap();
    check("polling server close", &polling, |c| {
        c.send("close-me").unwrap();
        c.wait();
    });
    polling.connect().unwrap();
    settle(|n| n >= 1);
    assert!(client_threads() >= 1);
    drop(polling);
    settle(|n| n == 0);
    assert_eq!(client_threads(), 0, "dropping the last handle");

    failures_leave_no_thread();

    if !support::interop_available("thread joins over WebSocket") {
        return;
    }
    let node = support::spawn_node_script("tests/interop/node_echo_server.mjs", &[]);
    for transports in [
        &[Transport::WebSocket][..],
        &[Transport::Polling, Transport::WebSocket][..],
    ] {
        let client = Client::builder(&node.base_url)
            .transports(transports)
            .connect()
            .unwrap();
        assert_eq!(
            client.wait_for_upgrade(Duration::from_secs(10)),
            Some(Transport::WebSocket)
        );
        check("websocket disconnect", &client, Client::disconnect);
        client.connect().unwrap();
        client.wait_for_upgrade(Duration::from_secs(10));
        check("websocket abort", &client, Client::abort);
        client.connect().unwrap();
        client.wait_for_upgrade(Duration::from_secs(10));
        check("websocket server close", &client, |c| {
            c.send("close-me").unwrap();
            c.wait();
        });
    }
}

/// A misbehaving server: `answer` gets each request's first line and the socket.
fn fake(answer: fn(&str, &mut TcpStream)) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut conn = conn;
                loop {
                    let mut head = String::new();
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        head.push_str(&line);
                    }
                    let mut body = vec![0u8; content_length(&head)];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    answer(&head, &mut conn);
                }
            });
        }
    });
    addr
}

fn content_length(head: &str) -> usize {
    head.lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0)
}

fn reply(conn: &mut TcpStream, body: &str) {
    let _ = write!(
        conn,
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
}

fn hold(conn: &mut TcpStream) {
    let mut buf = [0u8; 256];
    let _ = conn.set_read_timeout(Some(Duration::from_secs(20)));
    while matches!(conn.read(&mut buf), Ok(n) if n > 0) {}
}

const OPEN: &str =
    r#"0{"sid":"x","upgrades":[],"pingInterval":20000,"pingTimeout":20000,"maxPayload":1000}"#;

fn assert_no_thread(what: &str) {
    settle(|n| n == 0);
    assert_eq!(client_threads(), 0, "{what}: threads left");
}

/// Failed connects and connections ended by a limit leave no thread behind.
fn failures_leave_no_thread() {
    let polling = |addr: SocketAddr| {
        Client::builder(&format!("http://{addr}"))
            .transports(&[Transport::Polling])
            .request_timeout(Duration::from_millis(500))
            .build()
            .unwrap()
    };
    // A refused heartbeat.
    let addr = fake(|_, conn| {
        reply(
            conn,
            r#"0{"sid":"x","upgrades":[],"pingInterval":1e300,"pingTimeout":1,"maxPayload":1}"#,
        )
    });
    let err = polling(addr).connect().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Handshake, "{err}");
    assert_no_thread("refused heartbeat");
    // A server that never answers: a timeout, and an abort.
    let addr = fake(|_, conn| hold(conn));
    for transport in [Transport::Polling, Transport::WebSocket] {
        let client = Client::builder(&format!("http://{addr}"))
            .transports(&[transport])
            .request_timeout(Duration::from_millis(500))
            .build()
            .unwrap();
        let err = client.connect().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
        assert_no_thread("connect timed out");
        let c = client.clone();
        let connecting = thread::spawn(move || c.connect());
        thread::sleep(Duration::from_millis(100));
        client.abort();
        let err = connecting.join().unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Aborted, "{err}");
        assert_no_thread("connect aborted");
    }
    // A long-poll over the body limit ends the connection.
    let addr = fake(|head, conn| {
        if head.contains("sid=") && head.starts_with("GET") {
            let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n");
            let chunk = "4aaaaaaaaaaaaaaa\u{1e}".repeat(1000);
            while conn.write_all(chunk.as_bytes()).is_ok() {}
        } else if head.starts_with("GET") {
            reply(conn, OPEN);
        } else {
            reply(conn, "ok");
        }
    });
    let client = polling(addr);
    let events = client.events();
    client.connect().unwrap();
    let reason = loop {
        match events.recv_timeout(Duration::from_secs(10)) {
            Ok(Event::Disconnect(reason)) => break reason,
            Ok(_) => {}
            Err(e) => panic!("{e:?}"),
        }
    };
    assert_eq!(reason, Reason::TransportError);
    client.wait();
    assert_no_thread("a long-poll over the limit");
    // A WebSocket send the server never takes times out and ends the connection.
    let addr = fake(|head, conn| {
        let key = head
            .lines()
            .find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.eq_ignore_ascii_case("sec-websocket-key")
                    .then(|| v.trim().to_owned())
            })
            .unwrap_or_default();
        let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
        let open = r#"0{"sid":"x","upgrades":[],"pingInterval":20000,"pingTimeout":20000,"maxPayload":100000000}"#;
        let mut out = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
        )
        .into_bytes();
        out.extend([0x81, open.len() as u8]);
        out.extend_from_slice(open.as_bytes());
        let _ = conn.write_all(&out);
        thread::sleep(Duration::from_secs(20));
    });
    let client = Client::builder(&format!("http://{addr}"))
        .transports(&[Transport::WebSocket])
        .request_timeout(Duration::from_millis(500))
        .connect()
        .unwrap();
    let err = client.send(vec![0u8; 16 << 20]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    client.wait();
    assert_no_thread("a WebSocket send timed out");
}
