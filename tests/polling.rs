//! The polling transport and the endpoint's errors, on real loopback sockets, with a
//! raw HTTP/1.1 client so that every byte is visible.

use std::io::Write;
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use engineio::server::{App, Rejection, Server};

mod support;
use support::rawhttp::*;

#[test]
fn handshake_is_the_open_packet_alone_with_exactly_five_fields() {
    let _dog = support::watchdog(
        120,
        "handshake_is_the_open_packet_alone_with_exactly_five_fields",
    );
    let (app, _) = start(Server::builder().ping_interval(Duration::from_millis(2500)));
    let r = get(app.local_addr(), "EIO=4&transport=polling&t=abc&custom=1");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("Content-Type").unwrap(),
        "text/plain; charset=UTF-8"
    );
    assert_eq!(r.header("Cache-Control").unwrap(), "no-store");
    let text = r.text();
    assert!(text.starts_with("0{\"sid\":\""), "{text}");
    let v: serde_json::Value = serde_json::from_str(&text[1..]).unwrap();
    let sid = v["sid"].as_str().unwrap();
    assert!(sid.len() >= 20);
    assert_eq!(
        text,
        format!(
            "0{{\"sid\":\"{sid}\",\"upgrades\":[\"websocket\"],\"pingInterval\":2500,\"pingTimeout\":20000,\"maxPayload\":1000000}}"
        )
    );
    assert_eq!(app.server().session_count(), 1);
    app.shutdown();
}

#[test]
fn error_responses_are_exact() {
    let _dog = support::watchdog(120, "error_responses_are_exact");
    let (app, _) = start(Server::builder());
    let a = app.local_addr();
    let cases = [
        ("EIO=4", r#"{"code":0,"message":"Transport unknown"}"#),
        (
            "EIO=4&transport=flash",
            r#"{"code":0,"message":"Transport unknown"}"#,
        ),
        (
            "EIO=4&transport=polling&transport=polling",
            r#"{"code":0,"message":"Transport unknown"}"#,
        ),
        (
            "EIO=4&transport=polling&sid=nope",
            r#"{"code":1,"message":"Session ID unknown"}"#,
        ),
        (
            "transport=polling",
            r#"{"code":5,"message":"Unsupported protocol version"}"#,
        ),
        (
            "EIO=04&transport=polling",
            r#"{"code":5,"message":"Unsupported protocol version"}"#,
        ),
        (
            "EIO=3&transport=polling",
            r#"{"code":5,"message":"Unsupported protocol version"}"#,
        ),
        (
            "EIO=abc&transport=polling",
            r#"{"code":5,"message":"Unsupported protocol version"}"#,
        ),
    ];
    for (q, body) in cases {
        let r = get(a, q);
        assert_eq!(r.status, 400, "{q}");
        assert_eq!(r.header("Content-Type").unwrap(), "application/json", "{q}");
        assert_eq!(r.text(), body, "{q}");
    }
    let r = post(a, "EIO=4&transport=polling", "4x");
    assert_eq!(r.text(), r#"{"code":2,"message":"Bad handshake method"}"#);
    // `/engine.io` without the slash and look-alike paths are not the endpoint.
    for p in ["/engine.io", "/engine.io-admin/", "/engine.iox"] {
        let r = request(
            a,
            &format!("GET {p}?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n"),
        );
        assert_eq!(r.status, 404, "{p}");
        assert_eq!(r.text(), "Not Found");
    }
    wait_for("an empty session table", || app.server().table_size() == 0);
    app.shutdown();
}

#[test]
fn post_then_get_echoes_in_one_payload_in_order() {
    let _dog = support::watchdog(120, "post_then_get_echoes_in_one_payload_in_order");
    let (app, events) = start(Server::builder());
    let a = app.local_addr();
    let sid = handshake(a);
    let q = format!("EIO=4&transport=polling&sid={sid}");
    let r = post(a, &q, "4hello\u{1e}bAQIDBA==\u{1e}4héllo €");
    assert_eq!((r.status, r.text().as_str()), (200, "ok"));
    assert_eq!(r.header("Content-Type").unwrap(), "text/html");
    // Handled before the response (P1).
    assert_eq!(events.lock().unwrap().len(), 3);
    let r = get(a, &q);
    assert_eq!(r.text(), "4hello\u{1e}bAQIDBA==\u{1e}4héllo €");
    app.shutdown();
}

#[test]
fn long_poll_waits_for_a_send() {
    let _dog = support::watchdog(120, "long_poll_waits_for_a_send");
    let (app, _) = start(Server::builder());
    let a = app.local_addr();
    let sid = handshake(a);
    let server = app.server().clone();
    let sid2 = sid.clone();
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(200));
        server.send(&sid2, "late").unwrap();
        server.send(&sid2, vec![1u8, 2]).unwrap();
    });
    let started = Instant::now();
    let r = get(a, &format!("EIO=4&transport=polling&sid={sid}"));
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert!(
        r.text() == "4late" || r.text() == "4late\u{1e}bAQI=",
        "{}",
        r.text()
    );
    t.join().unwrap();
    app.shutdown();
}

#[test]
fn malformed_post_is_400_closes_with_parse_error_and_others_carry_on() {
    let _dog = support::watchdog(
        120,
        "malformed_post_is_400_closes_with_parse_error_and_others_carry_on",
    );
    let (app, events) = start(Server::builder());
    let a = app.local_addr();
    let bad = handshake(a);
    let good = handshake(a);
    let r = post(
        a,
        &format!("EIO=4&transport=polling&sid={bad}"),
        "4a\u{1e}\u{1e}4b",
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.text(), r#"{"code":3,"message":"Bad request"}"#);
    assert!(events
        .lock()
        .unwrap()
        .contains(&"disconnect parse error".to_string()));
    assert!(!events
        .lock()
        .unwrap()
        .iter()
        .any(|e| e.starts_with("message")));
    let r = get(a, &format!("EIO=4&transport=polling&sid={bad}"));
    assert_eq!(r.text(), r#"{"code":1,"message":"Session ID unknown"}"#);
    let r = post(
        a,
        &format!("EIO=4&transport=polling&sid={good}"),
        "4still here",
    );
    assert_eq!(r.text(), "ok");
    assert_eq!(
        get(a, &format!("EIO=4&transport=polling&sid={good}")).text(),
        "4still here"
    );
    app.shutdown();
}

#[test]
fn oversized_post_is_413_without_reading_it() {
    let _dog = support::watchdog(120, "oversized_post_is_413_without_reading_it");
    let (app, events) = start(Server::builder().max_payload(1000));
    let a = app.local_addr();
    let sid = handshake(a);
    let mut s = TcpStream::connect(a).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // Declares 10 GB and sends none of it: the server must answer at once.
    write!(
        s,
        "POST /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000000\r\n\r\n"
    )
    .unwrap();
    let r = read_response(&mut s);
    assert_eq!(r.status, 413);
    assert_eq!(r.header("Connection").unwrap(), "close");
    wait_for("disconnect", || {
        events
            .lock()
            .unwrap()
            .contains(&"disconnect transport error".to_string())
    });
    // Chunked bodies are counted too.
    let sid = handshake(a);
    let chunk = "4".repeat(600);
    let r = request(
        a,
        &format!(
            "POST /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n{chunk}\r\n258\r\n{chunk}\r\n0\r\n\r\n"
        ),
    );
    assert_eq!(r.status, 413);
    assert!(!app.server().is_connected(&sid));
    app.shutdown();
}

#[test]
fn chunked_post_within_the_limit_is_delivered() {
    let _dog = support::watchdog(120, "chunked_post_within_the_limit_is_delivered");
    let (app, _) = start(Server::builder());
    let a = app.local_addr();
    let sid = handshake(a);
    let r = request(
        a,
        &format!(
            "POST /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n4ab\r\n2\r\nc!\r\n0\r\n\r\n"
        ),
    );
    assert_eq!(r.text(), "ok");
    assert_eq!(
        get(a, &format!("EIO=4&transport=polling&sid={sid}")).text(),
        "4abc!"
    );
    app.shutdown();
}

#[test]
fn duplicate_get_displaces_the_first_with_close_and_ends_the_session() {
    let _dog = support::watchdog(
        120,
        "duplicate_get_displaces_the_first_with_close_and_ends_the_session",
    );
    let (app, events) = start(Server::builder());
    let a = app.local_addr();
    let sid = handshake(a);
    let q = format!("EIO=4&transport=polling&sid={sid}");
    let q2 = q.clone();
    let first = thread::spawn(move || get(a, &q2));
    thread::sleep(Duration::from_millis(200));
    let second = get(a, &q);
    assert_eq!(second.status, 400);
    assert_eq!(second.text(), r#"{"code":3,"message":"Bad request"}"#);
    let first = first.join().unwrap();
    assert_eq!((first.status, first.text().as_str()), (200, "1"));
    wait_for("disconnect", || {
        events
            .lock()
            .unwrap()
            .contains(&"disconnect transport error".to_string())
    });
    wait_for("an empty session table", || app.server().table_size() == 0);
    app.shutdown();
}

#[test]
fn client_close_gives_pending_get_a_noop_and_fires_client_disconnect_once() {
    let _dog = support::watchdog(
        120,
        "client_close_gives_pending_get_a_noop_and_fires_client_disconnect_once",
    );
    let (app, events) = start(Server::builder());
    let a = app.local_addr();
    let sid = handshake(a);
    let q = format!("EIO=4&transport=polling&sid={sid}");
    let q2 = q.clone();
    let pending = thread::spawn(move || get(a, &q2));
    thread::sleep(Duration::from_millis(200));
    assert_eq!(post(a, &q, "1").text(), "ok");
    assert_eq!(pending.join().unwrap().text(), "6");
    assert_eq!(
        events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.starts_with("disconnect"))
            .collect::<Vec<_>>(),
        vec!["disconnect client disconnect"]
    );
    assert_eq!(
        post(a, &q, "4x").text(),
        r#"{"code":1,"message":"Session ID unknown"}"#
    );
    // C2: the pending GET got the noop; a later GET is not given another.
    assert_eq!(
        get(a, &q).text(),
        r#"{"code":1,"message":"Session ID unknown"}"#
    );
    wait_for("an empty session table", || app.server().table_size() == 0);
    app.shutdown();
}

#[test]
fn a_get_trailing_a_client_close_gets_one_noop_only_if_none_was_pending() {
    let _dog = support::watchdog(120, "C2 grace noop");
    let (app, _) = start(Server::builder());
    let a = app.local_addr();
    let sid = handshake(a);
    let q = format!("EIO=4&transport=polling&sid={sid}");
    assert_eq!(post(a, &q, "1").text(), "ok");
    // No GET was pending at the close: the first one that trails it gets a noop...
    assert_eq!(get(a, &q).text(), "6");
    // ...once.
    assert_eq!(
        get(a, &q).text(),
        r#"{"code":1,"message":"Session ID unknown"}"#
    );
    app.shutdown();
}

#[test]
fn server_disconnect_without_pending_get_delivers_queued_then_close() {
    let _dog = support::watchdog(
        120,
        "server_disconnect_without_pending_get_delivers_queued_then_close",
    );
    let (app, events) = start(Server::builder());
    let a = app.local_addr();
    let sid = handshake(a);
    let server = app.server();
    server.send(&sid, "bye").unwrap();
    let t = Instant::now();
    server.disconnect(&sid).unwrap();
    assert!(
        t.elapsed() < Duration::from_millis(100),
        "disconnect must not block"
    );
    // The handler runs on a dispatch thread, never inside `disconnect`.
    wait_for("the disconnect handler", || {
        events
            .lock()
            .unwrap()
            .contains(&"disconnect server disconnect".to_string())
    });
    assert!(server.send(&sid, "more").is_err());
    let q = format!("EIO=4&transport=polling&sid={sid}");
    assert_eq!(get(a, &q).text(), "4bye\u{1e}1");
    assert_eq!(get(a, &q).status, 400);
    wait_for("the session to be forgotten", || server.table_size() == 0);
    app.shutdown();
}

#[test]
fn ping_then_timeout_closes_with_ping_timeout() {
    let _dog = support::watchdog(120, "ping_then_timeout_closes_with_ping_timeout");
    let (app, events) = start(
        Server::builder()
            .ping_interval(Duration::from_millis(300))
            .ping_timeout(Duration::from_millis(300)),
    );
    let a = app.local_addr();
    let sid = handshake(a);
    let q = format!("EIO=4&transport=polling&sid={sid}");
    // The first ping arrives about one interval after the handshake.
    let t = Instant::now();
    assert_eq!(get(a, &q).text(), "2");
    let waited = t.elapsed();
    assert!(waited >= Duration::from_millis(250), "{waited:?}");
    // Answering keeps the session alive through another cycle.
    assert_eq!(post(a, &q, "3").text(), "ok");
    assert_eq!(get(a, &q).text(), "2");
    // Not answering ends it one timeout later.
    wait_for("ping timeout", || {
        events
            .lock()
            .unwrap()
            .contains(&"disconnect ping timeout".to_string())
    });
    assert_eq!(get(a, &q).status, 400);
    wait_for("an empty session table", || app.server().table_size() == 0);
    app.shutdown();
}

#[test]
fn connect_handler_sees_the_request_and_can_reject_with_401() {
    let _dog = support::watchdog(
        120,
        "connect_handler_sees_the_request_and_can_reject_with_401",
    );
    let server = Server::builder()
        .on_connect(|_, _, req| {
            if req.query("token") == Some("good") {
                assert!(req.remote_addr().ip().is_loopback());
                Ok(())
            } else {
                Err(Rejection::with_data(
                    serde_json::json!({"error": "bad token"}),
                ))
            }
        })
        .on_disconnect(|_, _, _| panic!("a rejected session must not fire disconnect"))
        .build()
        .unwrap();
    let app = App::new(server).listen("127.0.0.1:0").unwrap();
    let a = app.local_addr();
    let r = get(a, "EIO=4&transport=polling&token=bad");
    assert_eq!(r.status, 401);
    assert_eq!(r.header("Content-Type").unwrap(), "application/json");
    assert_eq!(r.text(), r#"{"error":"bad token"}"#);
    wait_for("an empty session table", || app.server().table_size() == 0);
    assert_eq!(get(a, "EIO=4&transport=polling&token=good").status, 200);
    app.server().disconnect_all();
    app.shutdown();
}

#[test]
fn many_requests_share_one_keep_alive_connection() {
    let _dog = support::watchdog(120, "many_requests_share_one_keep_alive_connection");
    let (app, _) = start(Server::builder());
    let a = app.local_addr();
    let mut s = TcpStream::connect(a).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    .unwrap();
    let r = read_response(&mut s);
    let v: serde_json::Value = serde_json::from_str(&r.text()[1..]).unwrap();
    let sid = v["sid"].as_str().unwrap().to_string();
    for i in 0..20 {
        let body = format!("4m{i}");
        write!(
            s,
            "POST /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        assert_eq!(read_response(&mut s).text(), "ok");
        write!(
            s,
            "GET /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        .unwrap();
        assert_eq!(read_response(&mut s).text(), body);
    }
    assert_eq!(app.connection_count(), 1);
    app.shutdown();
}

#[test]
fn oversized_head_is_431_and_other_sessions_keep_working() {
    let _dog = support::watchdog(120, "oversized_head_is_431_and_other_sessions_keep_working");
    let (app, _) = start(Server::builder());
    let a = app.local_addr();
    let sid = handshake(a);
    let big = "x".repeat(20_000);
    let r = request(
        a,
        &format!("GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nX-Big: {big}\r\n\r\n"),
    );
    assert_eq!(r.status, 431);
    let r = request(
        a,
        "POST /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        post(a, &format!("EIO=4&transport=polling&sid={sid}"), "4ok").text(),
        "ok"
    );
    app.shutdown();
}

#[test]
fn shutdown_answers_pending_get_with_close_and_stops_listening() {
    let _dog = support::watchdog(
        120,
        "shutdown_answers_pending_get_with_close_and_stops_listening",
    );
    let (app, events) = start(Server::builder());
    let a = app.local_addr();
    let sid = handshake(a);
    let q = format!("EIO=4&transport=polling&sid={sid}");
    let pending = thread::spawn(move || get(a, &q));
    thread::sleep(Duration::from_millis(200));
    app.shutdown();
    assert_eq!(pending.join().unwrap().text(), "1");
    assert!(events
        .lock()
        .unwrap()
        .contains(&"disconnect server disconnect".to_string()));
    // The listener is closed: nothing accepts on the port any more.
    assert!(TcpStream::connect(a).is_err());
}

#[test]
fn duplicate_post_is_400_and_ends_the_session() {
    let _dog = support::watchdog(120, "duplicate_post_is_400_and_ends_the_session");
    let (app, events) = start(Server::builder());
    let a = app.local_addr();
    let sid = handshake(a);
    // A POST whose chunked body is still arriving is in flight...
    let mut slow = TcpStream::connect(a).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        slow,
        "POST /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n4a\r\n"
    )
    .unwrap();
    thread::sleep(Duration::from_millis(200));
    // ...so a second one is refused and the session ends.
    let r = post(a, &format!("EIO=4&transport=polling&sid={sid}"), "4b");
    assert_eq!(r.status, 400);
    assert_eq!(r.text(), r#"{"code":3,"message":"Bad request"}"#);
    wait_for("disconnect", || {
        events
            .lock()
            .unwrap()
            .contains(&"disconnect transport error".to_string())
    });
    assert!(!app.server().is_connected(&sid));
    app.shutdown();
}

#[test]
fn messages_from_the_connect_handler_wait_for_the_first_get() {
    let _dog = support::watchdog(
        120,
        "messages_from_the_connect_handler_wait_for_the_first_get",
    );
    let server = Server::builder()
        .on_connect(|server, sid, _| {
            server.send(sid, "welcome").unwrap();
            Ok(())
        })
        .build()
        .unwrap();
    let app = App::new(server).listen("127.0.0.1:0").unwrap();
    let a = app.local_addr();
    let r = get(a, "EIO=4&transport=polling");
    assert!(
        r.text().starts_with("0{"),
        "the handshake body is OPEN alone"
    );
    assert!(!r.text().contains("welcome"));
    let sid = serde_json::from_str::<serde_json::Value>(&r.text()[1..]).unwrap()["sid"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        get(a, &format!("EIO=4&transport=polling&sid={sid}")).text(),
        "4welcome"
    );
    app.shutdown();
}

#[test]
fn session_data_is_typed_and_dropped_with_the_session() {
    let _dog = support::watchdog(120, "session_data_is_typed_and_dropped_with_the_session");
    let (app, _) = start(Server::builder());
    let a = app.local_addr();
    let sid = handshake(a);
    let server = app.server();
    server.with_session(&sid, |n: &mut u32| *n += 1).unwrap();
    server.with_session(&sid, |n: &mut u32| *n += 1).unwrap();
    assert_eq!(server.get_session::<u32>(&sid).unwrap(), Some(2));
    assert_eq!(
        server.get_session::<String>(&sid).unwrap_err().kind(),
        engineio::ErrorKind::WrongDataType
    );
    assert_eq!(
        server.transport(&sid).unwrap(),
        engineio::server::Transport::Polling
    );
    assert_eq!(server.sids(), vec![sid.as_str()]);
    assert_eq!(
        post(a, &format!("EIO=4&transport=polling&sid={sid}"), "1").text(),
        "ok"
    );
    assert_eq!(
        server.get_session::<u32>(&sid).unwrap_err().kind(),
        engineio::ErrorKind::UnknownSession
    );
    assert_eq!(
        server.send(&sid, "x").unwrap_err().kind(),
        engineio::ErrorKind::UnknownSession
    );
    app.shutdown();
}

#[test]
fn text_with_record_separator_is_refused_on_polling() {
    let _dog = support::watchdog(120, "text_with_record_separator_is_refused_on_polling");
    let (app, _) = start(Server::builder());
    let sid = handshake(app.local_addr());
    let err = app.server().send(&sid, "a\u{1e}b").unwrap_err();
    assert_eq!(err.kind(), engineio::ErrorKind::InvalidMessage);
    assert!(app.server().is_connected(&sid));
    app.shutdown();
}

#[test]
fn a_thousand_sessions_come_and_go_without_leaving_anything() {
    let _dog = support::watchdog(
        120,
        "a_thousand_sessions_come_and_go_without_leaving_anything",
    );
    let (app, events) = start(Server::builder());
    let a = app.local_addr();
    for _ in 0..1000 {
        let sid = handshake(a);
        assert_eq!(
            post(a, &format!("EIO=4&transport=polling&sid={sid}"), "1").text(),
            "ok"
        );
    }
    wait_for("an empty session table", || app.server().table_size() == 0);
    let disconnects = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| *e == "disconnect client disconnect")
        .count();
    assert_eq!(disconnects, 1000);
    app.shutdown();
}

#[test]
fn sends_from_many_threads_and_broadcast_arrive_in_per_thread_order() {
    let _dog = support::watchdog(
        120,
        "sends_from_many_threads_and_broadcast_arrive_in_per_thread_order",
    );
    let (app, _) = start(Server::builder());
    let a = app.local_addr();
    let sids: Vec<String> = (0..4).map(|_| handshake(a)).collect();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let server = app.server().clone();
            let sid = sids[0].clone();
            thread::spawn(move || {
                for i in 0..250 {
                    server.send(&sid, format!("{t}:{i}")).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(app.server().broadcast("all"), 4);
    let mut got = Vec::new();
    while got.last().map(String::as_str) != Some("4all") {
        let body = get(a, &format!("EIO=4&transport=polling&sid={}", sids[0])).text();
        got.extend(body.split('\u{1e}').map(str::to_string));
    }
    assert_eq!(got.len(), 1001);
    for t in 0..4 {
        let mine: Vec<&String> = got
            .iter()
            .filter(|m| m.starts_with(&format!("4{t}:")))
            .collect();
        let expected: Vec<String> = (0..250).map(|i| format!("4{t}:{i}")).collect();
        assert_eq!(mine, expected.iter().collect::<Vec<_>>());
    }
    for sid in &sids[1..] {
        assert_eq!(
            get(a, &format!("EIO=4&transport=polling&sid={sid}")).text(),
            "4all"
        );
    }
    app.shutdown();
}

#[test]
fn a_long_poll_carries_at_most_max_poll_packets() {
    let _dog = support::watchdog(120, "a_long_poll_carries_at_most_max_poll_packets");
    // python-engineio's client refuses payloads of more than 16 packets.
    let (app, _) = start(Server::builder());
    let addr = app.local_addr();
    let sid = handshake(addr);
    for i in 0..40 {
        app.server().send(&sid, format!("{i}")).unwrap();
    }
    let q = format!("EIO=4&transport=polling&sid={sid}");
    let mut all = Vec::new();
    for expected in [16, 16, 8] {
        let body = get(addr, &q).text();
        let packets: Vec<&str> = body.split('\x1e').collect();
        assert_eq!(packets.len(), expected, "{body}");
        all.extend(packets.iter().map(|p| p[1..].parse::<usize>().unwrap()));
    }
    assert_eq!(all, (0..40).collect::<Vec<_>>());
    app.shutdown();

    let (app, _) = start(Server::builder().max_poll_packets(100));
    let sid = handshake(app.local_addr());
    for i in 0..40 {
        app.server().send(&sid, format!("{i}")).unwrap();
    }
    let body = get(
        app.local_addr(),
        &format!("EIO=4&transport=polling&sid={sid}"),
    )
    .text();
    assert_eq!(body.split('\x1e').count(), 40);
    app.shutdown();
}
