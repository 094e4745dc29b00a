//! The client against our own server, on loopback sockets: handshake, events,
//! sending, batching and limits, heartbeat, closing from either side, reuse.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use engineio::client::{Client, Event, Reason, State};
use engineio::server::{self, App, Listening, Rejection, Server, ServerBuilder};
use engineio::{ErrorKind, Message, Transport};

mod support;
use support::{next_message, wait_for};

/// What the server saw, for assertions.
#[derive(Default)]
struct Seen {
    connects: Vec<(String, Option<String>, Option<String>)>,
    messages: Vec<Message>,
    disconnects: Vec<server::Reason>,
}

/// An echo server recording what it sees; `close-me` makes it close the session.
fn echo_server(builder: ServerBuilder) -> (Listening, String, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (s1, s2, s3) = (seen.clone(), seen.clone(), seen.clone());
    let server = builder
        .on_connect(move |_, _, req| {
            s1.lock().unwrap().connects.push((
                req.raw_query().to_owned(),
                req.header("x-test").map(str::to_owned),
                req.query("token").map(str::to_owned),
            ));
            Ok(())
        })
        .on_message(move |server, sid, msg| {
            s2.lock().unwrap().messages.push(msg.clone());
            if msg.as_text() == Some("close-me") {
                let _ = server.disconnect(sid);
            } else {
                let _ = server.send(sid, msg);
            }
        })
        .on_disconnect(move |_, _, reason| s3.lock().unwrap().disconnects.push(reason))
        .build()
        .expect("server config");
    let app = App::new(server).listen("127.0.0.1:0").expect("listen");
    let url = format!("http://{}", app.local_addr());
    (app, url, seen)
}

fn polling(url: &str) -> engineio::client::ClientBuilder {
    Client::builder(url).transports(&[Transport::Polling])
}

#[test]
fn handshake_fills_the_session_and_passes_query_and_headers() {
    let _dog = support::watchdog(60, "handshake_fills_the_session");
    let (app, url, seen) = echo_server(
        Server::builder()
            .ping_interval(Duration::from_millis(2500))
            .ping_timeout(Duration::from_millis(1500))
            .max_payload(50_000),
    );
    let client = polling(&format!("{url}/?from=url#frag"))
        .query("token", "a b&c")
        .header("X-Test", "yes")
        .connect()
        .unwrap();
    assert_eq!(client.state(), State::Connected);
    assert!(client.is_connected());
    let hs = client.handshake().unwrap();
    assert_eq!(hs.sid, client.sid().unwrap());
    assert!(app.server().is_connected(&hs.sid));
    assert_eq!(hs.ping_interval, 2500);
    assert_eq!(hs.ping_timeout, 1500);
    assert_eq!(hs.max_payload, 50_000);
    assert_eq!(client.transport(), Some(Transport::Polling));
    {
        let seen = seen.lock().unwrap();
        let (query, header, token) = &seen.connects[0];
        assert!(
            query.starts_with("from=url&token=a%20b%26c&transport=polling&EIO=4&t="),
            "{query}"
        );
        assert_eq!(header.as_deref(), Some("yes"));
        assert_eq!(token.as_deref(), Some("a b&c"));
    }
    client.disconnect();
    assert_eq!(client.state(), State::Disconnected);
    assert_eq!(client.sid(), None);
}

#[test]
fn refused_handshake_carries_status_and_json_body() {
    let _dog = support::watchdog(60, "refused_handshake");
    let server = Server::builder()
        .on_connect(|_, _, _| {
            Err(Rejection::with_data(
                serde_json::json!({"error": "bad token"}),
            ))
        })
        .build()
        .unwrap();
    let app = App::new(server).listen("127.0.0.1:0").unwrap();
    let url = format!("http://{}", app.local_addr());
    let client = polling(&url).build().unwrap();
    let err = client.connect().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Handshake, "{err}");
    assert_eq!(err.status(), Some(401));
    let body: serde_json::Value = serde_json::from_str(err.body().unwrap()).unwrap();
    assert_eq!(body, serde_json::json!({"error": "bad token"}));
    assert!(err.to_string().contains("401"), "{err}");
    assert_eq!(client.state(), State::Disconnected);

    // A wrong path: the server's 404 is reported with its status.
    let err = polling(&url).path("/nope/").connect().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Handshake);
    assert_eq!(err.status(), Some(404));
}

#[test]
fn unreachable_server_is_a_connect_error() {
    let _dog = support::watchdog(60, "unreachable_server");
    // Bind then drop a listener: nothing listens on that port now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for transports in [&[Transport::Polling][..], &[Transport::WebSocket][..]] {
        let err = Client::builder(&format!("http://127.0.0.1:{port}"))
            .transports(transports)
            .connect()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Connect, "{err}");
    }
}

#[test]
fn a_server_that_does_not_answer_is_a_timeout() {
    let _dog = support::watchdog(60, "handshake_timeout");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let holder = thread::spawn(move || {
        let held: Vec<_> = listener.incoming().take(1).collect();
        thread::sleep(Duration::from_millis(800));
        drop(held);
    });
    let started = Instant::now();
    let err = polling(&format!("http://{addr}"))
        .request_timeout(Duration::from_millis(300))
        .connect()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
    holder.join().unwrap();
}

#[test]
fn events_arrive_in_order_to_handlers_and_iterator() {
    let _dog = support::watchdog(60, "events_in_order");
    let (_app, url, seen) = echo_server(Server::builder());
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let (l1, l2, l3) = (log.clone(), log.clone(), log.clone());
    let client = polling(&url)
        .on_connect(move |c| {
            assert!(c.is_connected());
            l1.lock().unwrap().push("connect".into());
        })
        .on_message(move |_, m| l2.lock().unwrap().push(format!("{m:?}")))
        .on_disconnect(move |_, r| l3.lock().unwrap().push(format!("disconnect {r}")))
        .build()
        .unwrap();
    let events = client.events();
    client.connect().unwrap();
    // connect() returns after the connect handler.
    assert_eq!(log.lock().unwrap().as_slice(), ["connect"]);

    let mut sent = Vec::new();
    for i in 0..100 {
        let m = if i % 3 == 0 {
            Message::from(vec![i as u8, 0, 255])
        } else {
            Message::from(format!("héllo € ✓ {i}"))
        };
        client.send(m.clone()).unwrap();
        sent.push(m);
    }
    client.send_json(&serde_json::json!({"n": 1})).unwrap();
    sent.push(Message::from(r#"{"n":1}"#));
    client.send("").unwrap();
    sent.push(Message::from(""));
    client.send(Vec::new()).unwrap();
    sent.push(Message::from(Vec::new()));

    assert_eq!(
        events.recv_timeout(Duration::from_secs(5)),
        Ok(Event::Connect)
    );
    for want in &sent {
        assert_eq!(&next_message(&events), want);
    }
    client.disconnect();
    assert_eq!(
        events.recv_timeout(Duration::from_secs(5)),
        Ok(Event::Disconnect(Reason::ClientDisconnect))
    );
    assert!(events.recv_timeout(Duration::from_millis(100)).is_err());

    let log = log.lock().unwrap();
    assert_eq!(log.len(), 1 + sent.len() + 1);
    assert_eq!(log.last().unwrap(), "disconnect client disconnect");
    for (got, want) in log[1..log.len() - 1].iter().zip(&sent) {
        assert_eq!(got, &format!("{want:?}"));
    }
    wait_for("the server's disconnect", Duration::from_secs(5), || {
        !seen.lock().unwrap().disconnects.is_empty()
    });
    let seen = seen.lock().unwrap();
    assert_eq!(seen.messages, sent);
    assert_eq!(seen.disconnects, [server::Reason::ClientDisconnect]);
}

#[test]
fn iterator_ends_after_disconnect_and_handles_for_loops() {
    let _dog = support::watchdog(60, "iterator_for_loop");
    let (_app, url, _seen) = echo_server(Server::builder());
    let client = polling(&url).connect().unwrap();
    client.send("a").unwrap();
    client.send("b").unwrap();
    let mut got = Vec::new();
    for event in client.events() {
        match event {
            Event::Message(m) => {
                got.push(m);
                if got.len() == 2 {
                    client.disconnect();
                }
            }
            Event::Disconnect(reason) => got.push(Message::from(reason.as_str())),
            _ => {}
        }
    }
    assert_eq!(
        got,
        [
            Message::from("a"),
            Message::from("b"),
            Message::from("client disconnect")
        ]
    );
}

#[test]
fn server_disconnect_is_reported_and_wait_returns() {
    let _dog = support::watchdog(60, "server_disconnect");
    let (_app, url, seen) = echo_server(Server::builder());
    let (tx, rx) = mpsc::channel();
    let client = polling(&url)
        .on_disconnect(move |_, r| tx.send(r).unwrap())
        .connect()
        .unwrap();
    client.send("close-me").unwrap();
    let started = Instant::now();
    client.wait();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(rx.try_recv(), Ok(Reason::ServerDisconnect));
    assert_eq!(client.state(), State::Disconnected);
    assert_eq!(
        client.send("late").unwrap_err().kind(),
        ErrorKind::NotConnected
    );
    wait_for("the server's disconnect", Duration::from_secs(5), || {
        !seen.lock().unwrap().disconnects.is_empty()
    });
    assert_eq!(
        seen.lock().unwrap().disconnects,
        [server::Reason::ServerDisconnect]
    );
}

#[test]
fn the_application_closing_the_session_is_server_disconnect() {
    let _dog = support::watchdog(60, "app_close");
    let (app, url, _seen) = echo_server(Server::builder());
    let client = polling(&url).build().unwrap();
    let events = client.events();
    client.connect().unwrap();
    app.server().disconnect(&client.sid().unwrap()).unwrap();
    let mut last = None;
    for e in events {
        last = Some(e);
    }
    assert_eq!(last, Some(Event::Disconnect(Reason::ServerDisconnect)));
}

#[test]
fn a_vanished_server_is_a_transport_error() {
    let _dog = support::watchdog(60, "vanished_server");
    let (app, url, _seen) = echo_server(Server::builder());
    let client = polling(&url).build().unwrap();
    let events = client.events();
    client.connect().unwrap();
    app.shutdown();
    drop(app);
    // Shutdown closes the session with CLOSE; either way the client must notice.
    let reason = events
        .filter_map(|e| match e {
            Event::Disconnect(r) => Some(r),
            _ => None,
        })
        .next()
        .unwrap();
    assert!(
        matches!(reason, Reason::ServerDisconnect | Reason::TransportError),
        "{reason}"
    );
    client.wait();
}

#[test]
fn batches_respect_max_payload_and_oversize_messages_are_refused() {
    let _dog = support::watchdog(60, "max_payload");
    let (_app, url, seen) = echo_server(Server::builder().max_payload(300));
    let client = polling(&url).build().unwrap();
    let events = client.events();
    client.connect().unwrap();
    // 60 messages of ~50 bytes: several POSTs, each within 300 bytes (the server
    // closes the session with 413 otherwise).
    let sent: Vec<Message> = (0..60)
        .map(|i| Message::from(format!("{i:02}-{}", "x".repeat(46))))
        .collect();
    for m in &sent {
        client.send(m.clone()).unwrap();
    }
    // One packet over the limit is refused by send, and nothing is queued.
    let err = client.send("y".repeat(300)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidMessage, "{err}");
    let err = client.send(vec![0u8; 240]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidMessage, "{err}");
    // The limit itself is fine: 1 type byte + 299.
    client.send("z".repeat(299)).unwrap();
    for want in &sent {
        assert_eq!(&next_message(&events), want);
    }
    assert_eq!(next_message(&events), Message::from("z".repeat(299)));
    assert!(client.is_connected());
    // U+001E cannot cross polling.
    assert_eq!(
        client.send("a\u{1e}b").unwrap_err().kind(),
        ErrorKind::InvalidMessage
    );
    client.disconnect();
    wait_for("the server's disconnect", Duration::from_secs(5), || {
        !seen.lock().unwrap().disconnects.is_empty()
    });
    assert_eq!(
        seen.lock().unwrap().disconnects,
        [server::Reason::ClientDisconnect]
    );
}

#[test]
fn pings_are_answered_and_the_session_survives_many_cycles() {
    let _dog = support::watchdog(60, "pings_answered");
    let (app, url, seen) = echo_server(
        Server::builder()
            .ping_interval(Duration::from_millis(100))
            .ping_timeout(Duration::from_millis(150)),
    );
    let client = polling(&url).connect().unwrap();
    thread::sleep(Duration::from_millis(1200));
    assert!(client.is_connected());
    assert!(app.server().is_connected(&client.sid().unwrap()));
    client.send("still here").unwrap();
    let events = client.events();
    assert_eq!(next_message(&events), Message::from("still here"));
    client.disconnect();
    wait_for("the server's disconnect", Duration::from_secs(5), || {
        !seen.lock().unwrap().disconnects.is_empty()
    });
    assert_eq!(
        seen.lock().unwrap().disconnects,
        [server::Reason::ClientDisconnect]
    );
}

#[test]
fn a_client_is_reusable_and_starts_clean() {
    let _dog = support::watchdog(60, "reusable");
    let (_app, url, seen) = echo_server(Server::builder());
    let connects = Arc::new(AtomicUsize::new(0));
    let c2 = connects.clone();
    let client = polling(&url)
        .on_connect(move |_| {
            c2.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap();
    client.connect().unwrap();
    let first = client.sid().unwrap();
    assert_eq!(
        client.connect().unwrap_err().kind(),
        ErrorKind::AlreadyConnected
    );
    client.send("one").unwrap();
    client.disconnect();
    client.disconnect(); // idempotent

    let events = client.events();
    client.connect().unwrap();
    let second = client.sid().unwrap();
    assert_ne!(first, second);
    client.send("two").unwrap();
    assert_eq!(
        events.recv_timeout(Duration::from_secs(5)),
        Ok(Event::Connect)
    );
    assert_eq!(next_message(&events), Message::from("two"));
    client.disconnect();
    assert_eq!(connects.load(Ordering::SeqCst), 2);
    wait_for("two disconnects", Duration::from_secs(5), || {
        seen.lock().unwrap().disconnects.len() == 2
    });
    let seen = seen.lock().unwrap();
    // "one" may or may not have been echoed before the first disconnect; it is
    // never sent again on the second connection.
    assert_eq!(
        seen.messages
            .iter()
            .filter(|m| m.as_text() == Some("one"))
            .count(),
        1
    );
}

#[test]
fn handlers_can_send_and_disconnect() {
    let _dog = support::watchdog(60, "handlers_send_disconnect");
    let (_app, url, seen) = echo_server(Server::builder());
    let client = polling(&url)
        .on_connect(|c| c.send("from connect").unwrap())
        .on_message(|c, m| {
            if m.as_text() == Some("from connect") {
                c.send("from message").unwrap();
            } else {
                // Must not deadlock on the event thread.
                c.disconnect();
                assert!(!c.is_connected());
                c.wait();
                assert_eq!(c.connect().unwrap_err().kind(), ErrorKind::AlreadyConnected);
            }
        })
        .connect()
        .unwrap();
    client.wait();
    assert_eq!(client.state(), State::Disconnected);
    let seen = seen.lock().unwrap();
    assert_eq!(
        seen.messages,
        [Message::from("from connect"), Message::from("from message")]
    );
}

#[test]
fn abort_cuts_without_close() {
    let _dog = support::watchdog(60, "abort");
    let (_app, url, _seen) = echo_server(
        Server::builder()
            .ping_interval(Duration::from_millis(200))
            .ping_timeout(Duration::from_millis(200)),
    );
    let (tx, rx) = mpsc::channel();
    let client = polling(&url)
        .on_disconnect(move |_, r| tx.send(r).unwrap())
        .connect()
        .unwrap();
    let started = Instant::now();
    client.abort();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(rx.try_recv(), Ok(Reason::ClientDisconnect));
    assert_eq!(client.state(), State::Disconnected);
}

#[test]
fn dropping_the_last_handle_disconnects() {
    let _dog = support::watchdog(60, "drop_disconnects");
    let (_app, url, seen) = echo_server(Server::builder());
    let client = polling(&url).connect().unwrap();
    let clone = client.clone();
    drop(client);
    assert!(clone.is_connected());
    drop(clone);
    wait_for("the server's disconnect", Duration::from_secs(5), || {
        !seen.lock().unwrap().disconnects.is_empty()
    });
    assert_eq!(
        seen.lock().unwrap().disconnects,
        [server::Reason::ClientDisconnect]
    );
}

#[test]
fn concurrent_senders_lose_nothing() {
    let _dog = support::watchdog(60, "concurrent_senders");
    let (_app, url, _seen) = echo_server(Server::builder());
    let client = polling(&url).build().unwrap();
    let events = client.events();
    client.connect().unwrap();
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let c = client.clone();
            thread::spawn(move || {
                for i in 0..50 {
                    c.send(format!("{w}:{i}")).unwrap();
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let mut next = [0; 4];
    for _ in 0..200 {
        let m = next_message(&events);
        let (w, i) = m.as_text().unwrap().split_once(':').unwrap();
        let w: usize = w.parse().unwrap();
        assert_eq!(i.parse::<usize>().unwrap(), next[w], "per-sender order");
        next[w] += 1;
    }
    client.disconnect();
}

// ------------------------------------------------------------------ WebSocket
// Against our server these need its WebSocket transport (issue 3).

fn ws_server() -> (Listening, String, Arc<Mutex<Seen>>) {
    echo_server(Server::builder().transports(&[Transport::Polling, Transport::WebSocket]))
}

#[test]
fn websocket_only_echo_and_client_close() {
    let _dog = support::watchdog(60, "ws_only_echo");
    let (_app, url, seen) = ws_server();
    let client = Client::builder(&url)
        .transports(&[Transport::WebSocket])
        .build()
        .unwrap();
    let events = client.events();
    client.connect().unwrap();
    assert_eq!(client.transport(), Some(Transport::WebSocket));
    assert_eq!(client.handshake().unwrap().upgrades, Vec::<String>::new());
    let sent: Vec<Message> = (0..100)
        .map(|i| {
            if i % 2 == 0 {
                Message::from(format!("héllo {i} \u{1e}"))
            } else {
                Message::from(vec![i as u8; i])
            }
        })
        .collect();
    for m in &sent {
        client.send(m.clone()).unwrap();
    }
    for want in &sent {
        assert_eq!(&next_message(&events), want);
    }
    client.disconnect();
    wait_for("the server's disconnect", Duration::from_secs(5), || {
        !seen.lock().unwrap().disconnects.is_empty()
    });
    assert_eq!(
        seen.lock().unwrap().disconnects,
        [server::Reason::ClientDisconnect]
    );
}

#[test]
fn websocket_server_disconnect() {
    let _dog = support::watchdog(60, "ws_server_disconnect");
    let (_app, url, _seen) = ws_server();
    let client = Client::builder(&url)
        .transports(&[Transport::WebSocket])
        .build()
        .unwrap();
    let events = client.events();
    client.connect().unwrap();
    client.send("close-me").unwrap();
    let last = events.last();
    assert_eq!(last, Some(Event::Disconnect(Reason::ServerDisconnect)));
}

#[test]
fn upgrade_loses_and_reorders_nothing() {
    let _dog = support::watchdog(60, "upgrade_order");
    let (app, url, seen) = ws_server();
    let client = Client::builder(&url).build().unwrap();
    let events = client.events();
    client.connect().unwrap();
    // Sent while the upgrade runs: some go by POST, some over the WebSocket.
    let sent: Vec<Message> = (0..300).map(|i| Message::from(format!("m{i}"))).collect();
    for m in &sent {
        client.send(m.clone()).unwrap();
    }
    for want in &sent {
        assert_eq!(&next_message(&events), want);
    }
    assert_eq!(
        client.wait_for_upgrade(Duration::from_secs(10)),
        Some(Transport::WebSocket)
    );
    assert_eq!(
        app.server().transport(&client.sid().unwrap()).unwrap(),
        Transport::WebSocket
    );
    client.send("after").unwrap();
    assert_eq!(next_message(&events), Message::from("after"));
    client.disconnect();
    wait_for("the server's disconnect", Duration::from_secs(5), || {
        !seen.lock().unwrap().disconnects.is_empty()
    });
    let seen = seen.lock().unwrap();
    assert_eq!(seen.disconnects, [server::Reason::ClientDisconnect]);
    assert_eq!(seen.messages.len(), 301);
}

#[test]
fn upgraded_pings_are_answered() {
    let _dog = support::watchdog(60, "ws_pings");
    let (app, url, _seen) = echo_server(
        Server::builder()
            .transports(&[Transport::Polling, Transport::WebSocket])
            .ping_interval(Duration::from_millis(100))
            .ping_timeout(Duration::from_millis(150)),
    );
    let client = Client::builder(&url).connect().unwrap();
    assert_eq!(
        client.wait_for_upgrade(Duration::from_secs(5)),
        Some(Transport::WebSocket)
    );
    thread::sleep(Duration::from_millis(1000));
    assert!(client.is_connected());
    assert!(app.server().is_connected(&client.sid().unwrap()));
    client.disconnect();
}

#[test]
fn upgrade_is_not_attempted_when_the_server_offers_none() {
    let _dog = support::watchdog(60, "no_upgrade_offered");
    // Our server, polling-only: `upgrades` is empty, so the client stays on polling.
    let (_app, url, _seen) = echo_server(Server::builder().transports(&[Transport::Polling]));
    let client = Client::builder(&url).connect().unwrap();
    assert_eq!(
        client.wait_for_upgrade(Duration::from_secs(2)),
        Some(Transport::Polling)
    );
    client.send("x").unwrap();
    assert_eq!(next_message(&client.events()), Message::from("x"));
    client.disconnect();
}

#[test]
fn a_full_outgoing_queue_refuses_sends_instead_of_growing() {
    let _dog = support::watchdog(60, "full outgoing queue");
    // A server that holds every POST until the test lets it answer: the queue fills
    // behind the first POST, whatever the machine's speed.
    use std::io::{BufReader, Write};
    use std::sync::atomic::AtomicBool;
    let release = Arc::new(AtomicBool::new(false));
    let posted = Arc::new(AtomicBool::new(false));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (r, p) = (release.clone(), posted.clone());
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let (r, p) = (r.clone(), p.clone());
            thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                while let Some(req) = support::fakehttp::read_request(&mut reader) {
                    let body = match (req.method.as_str(), req.has_sid()) {
                        ("GET", false) => {
                            r#"0{"sid":"q","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#
                        }
                        ("GET", true) => {
                            thread::sleep(Duration::from_millis(200));
                            "6"
                        }
                        _ => {
                            p.store(true, Ordering::SeqCst);
                            while !r.load(Ordering::SeqCst) {
                                thread::sleep(Duration::from_millis(5));
                            }
                            "ok"
                        }
                    };
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    );
                    if conn.write_all(head.as_bytes()).is_err()
                        || conn.write_all(body.as_bytes()).is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    let client = polling(&url).max_buffered_bytes(1000).connect().unwrap();
    client.send("first").unwrap();
    // Only once "first" is on its way (its POST held by the server) is the queue
    // empty and the writer busy: otherwise the writer could take some of the sends
    // below along with "first" on a slow machine.
    wait_for("the first POST", Duration::from_secs(15), || {
        posted.load(Ordering::SeqCst)
    });
    let chunk = "x".repeat(99);
    let mut refused = 0;
    let mut queued = 0;
    for _ in 0..30 {
        match client.send(chunk.as_str()) {
            Ok(()) => queued += 1,
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::QueueFull, "{e}");
                refused += 1;
            }
        }
    }
    // 1000 bytes hold ten 100-byte packets (what is in flight no longer counts); the
    // rest were refused, not queued.
    assert_eq!(queued, 10, "queued {queued}, refused {refused}");
    assert_eq!(queued + refused, 30);
    // Once the server answers and the queue drains, sending works again.
    release.store(true, Ordering::SeqCst);
    wait_for("queue drained", Duration::from_secs(15), || {
        client.send(chunk.as_str()).is_ok()
    });
    client.disconnect();
}

#[test]
fn messages_larger_than_the_servers_max_payload_arrive() {
    let _dog = support::watchdog(60, "messages above maxPayload");
    // maxPayload bounds what the server accepts, not what it sends.
    let (app, url, _) = echo_server(Server::builder().max_payload(64 * 1024));
    for transports in [&[Transport::Polling][..], &[Transport::WebSocket][..]] {
        let client = Client::builder(&url)
            .transports(transports)
            .connect()
            .unwrap();
        let events = client.events();
        let sid = client.sid().unwrap();
        let big = vec![9u8; 3 << 20];
        app.server().send(&sid, big.clone()).unwrap();
        assert_eq!(next_message(&events).as_bytes(), &big[..], "{transports:?}");
        client.disconnect();
    }
}
