//! The polling → WebSocket upgrade (protocol §8) on real loopback sockets, driven by
//! a raw HTTP client and a raw WebSocket client so that every step is visible.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use engineio::server::{App, Server};
use engineio::Transport;

mod support;
use support::rawhttp::{self, handshake, start, wait_for};
use support::rawws::{self, Frame};

fn poll(addr: std::net::SocketAddr, sid: &str) -> rawhttp::Resp {
    rawhttp::get(addr, &format!("EIO=4&transport=polling&sid={sid}"))
}

fn post(addr: std::net::SocketAddr, sid: &str, body: &str) -> rawhttp::Resp {
    rawhttp::post(addr, &format!("EIO=4&transport=polling&sid={sid}"), body)
}

fn probe(addr: std::net::SocketAddr, sid: &str) -> rawws::Ws {
    rawws::connect(addr, &format!("EIO=4&transport=websocket&sid={sid}"))
}

const E3: &str = r#"{"code":3,"message":"Bad request"}"#;

#[test]
fn full_upgrade_moves_queued_packets_to_the_websocket_in_order() {
    let _dog = support::watchdog(
        120,
        "full_upgrade_moves_queued_packets_to_the_websocket_in_order",
    );
    let (app, events) = start(Server::builder().ping_interval(Duration::from_secs(30)));
    let addr = app.local_addr();
    let sid = handshake(addr);
    let server = app.server().clone();
    server.send(&sid, "before").unwrap();
    assert_eq!(poll(addr, &sid).text(), "4before");
    // A long-poll waiting when the probe arrives.
    let pending = {
        let sid = sid.clone();
        thread::spawn(move || poll(addr, &sid))
    };
    thread::sleep(Duration::from_millis(100));
    let mut ws = probe(addr, &sid);
    // Opening the WebSocket alone changes nothing.
    assert_eq!(server.transport(&sid).unwrap(), Transport::Polling);
    rawws::send_text(&mut ws, "2probe");
    assert_eq!(rawws::recv_text(&mut ws), "3probe");
    // The waiting GET is released with a noop; new GETs get a noop at once.
    assert_eq!(pending.join().unwrap().text(), "6");
    let started = Instant::now();
    assert_eq!(poll(addr, &sid).text(), "6");
    assert!(started.elapsed() < Duration::from_secs(2));
    // Packets sent during the upgrade wait for the WebSocket; POSTs still work.
    server.send(&sid, "during 1").unwrap();
    let r = post(addr, &sid, "4echo me\x1ebAQI=");
    assert_eq!((r.status, r.text().as_str()), (200, "ok"));
    server.send(&sid, "during 2").unwrap();
    assert_eq!(poll(addr, &sid).text(), "6");
    rawws::send_text(&mut ws, "5");
    assert_eq!(rawws::recv_text(&mut ws), "4during 1");
    assert_eq!(rawws::recv_text(&mut ws), "4echo me");
    assert!(matches!(rawws::recv(&mut ws), Frame::Binary(b) if b[..] == [1, 2]));
    assert_eq!(rawws::recv_text(&mut ws), "4during 2");
    wait_for("transport switch", || {
        server.transport(&sid).ok() == Some(Transport::WebSocket)
    });
    // Full duplex on the new transport.
    rawws::send_text(&mut ws, "4over ws");
    assert_eq!(rawws::recv_text(&mut ws), "4over ws");
    server.send(&sid, "push").unwrap();
    assert_eq!(rawws::recv_text(&mut ws), "4push");
    // Polling is over for this session, and a second WebSocket is refused (W5).
    let r = poll(addr, &sid);
    assert_eq!((r.status, r.text().as_str()), (400, E3));
    let r = post(addr, &sid, "4late");
    assert_eq!((r.status, r.text().as_str()), (400, E3));
    rawws::assert_refused_with_close(addr, &format!("EIO=4&transport=websocket&sid={sid}"));
    assert!(server.is_connected(&sid));
    rawws::send_text(&mut ws, "4still fine");
    assert_eq!(rawws::recv_text(&mut ws), "4still fine");
    // No message was delivered twice.
    let messages = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.starts_with("message"))
        .count();
    assert_eq!(messages, 4);
    app.shutdown();
}

#[test]
fn probe_and_upgrade_back_to_back_are_processed_in_order() {
    let _dog = support::watchdog(120, "probe_and_upgrade_back_to_back_are_processed_in_order");
    // X1: `5` right after `2probe`, before reading `3probe`.
    let (app, _) = start(Server::builder());
    let addr = app.local_addr();
    let sid = handshake(addr);
    app.server().send(&sid, "queued").unwrap();
    let mut ws = probe(addr, &sid);
    rawws::send_text(&mut ws, "2probe");
    rawws::send_text(&mut ws, "5");
    assert_eq!(rawws::recv_text(&mut ws), "3probe");
    assert_eq!(rawws::recv_text(&mut ws), "4queued");
    app.shutdown();
}

#[test]
fn upgrade_without_probe_still_completes() {
    let _dog = support::watchdog(120, "upgrade_without_probe_still_completes");
    // X2.
    let (app, _) = start(Server::builder());
    let addr = app.local_addr();
    let sid = handshake(addr);
    let mut ws = probe(addr, &sid);
    rawws::send_text(&mut ws, "5");
    rawws::send_text(&mut ws, "4hi");
    assert_eq!(rawws::recv_text(&mut ws), "4hi");
    assert_eq!(app.server().transport(&sid).unwrap(), Transport::WebSocket);
    app.shutdown();
}

#[test]
fn a_failed_probe_leaves_the_session_on_polling() {
    let _dog = support::watchdog(120, "a_failed_probe_leaves_the_session_on_polling");
    // X3: another packet on the probing WebSocket closes only the probe.
    let (app, events) = start(
        Server::builder()
            .ping_interval(Duration::from_millis(300))
            .ping_timeout(Duration::from_millis(2000)),
    );
    let addr = app.local_addr();
    let sid = handshake(addr);
    let mut ws = probe(addr, &sid);
    rawws::send_text(&mut ws, "2probe");
    assert_eq!(rawws::recv_text(&mut ws), "3probe");
    rawws::send_text(&mut ws, "4not an upgrade");
    let (frames, _) = rawws::recv_until_close(&mut ws);
    assert!(frames.is_empty());
    assert!(app.server().is_connected(&sid));
    assert_eq!(app.server().transport(&sid).unwrap(), Transport::Polling);
    // Polling carries on, with a fresh heartbeat cycle.
    app.server().send(&sid, "hello again").unwrap();
    assert_eq!(poll(addr, &sid).text(), "4hello again");
    assert_eq!(poll(addr, &sid).text(), "2");
    assert_eq!(post(addr, &sid, "3").status, 200);
    assert!(events
        .lock()
        .unwrap()
        .iter()
        .all(|e| !e.starts_with("disconnect")));
    // A later probe may succeed.
    let mut ws = probe(addr, &sid);
    rawws::send_text(&mut ws, "2probe");
    assert_eq!(rawws::recv_text(&mut ws), "3probe");
    rawws::send_text(&mut ws, "5");
    rawws::send_text(&mut ws, "4up");
    assert_eq!(rawws::recv_text(&mut ws), "4up");
    app.shutdown();
}

#[test]
fn a_probe_closed_by_the_client_leaves_the_session_on_polling() {
    let _dog = support::watchdog(
        120,
        "a_probe_closed_by_the_client_leaves_the_session_on_polling",
    );
    let (app, _) = start(Server::builder());
    let addr = app.local_addr();
    let sid = handshake(addr);
    let mut ws = probe(addr, &sid);
    rawws::send_text(&mut ws, "2probe");
    assert_eq!(rawws::recv_text(&mut ws), "3probe");
    drop(ws);
    wait_for("probe dropped", || {
        app.server().send(&sid, "x").unwrap();
        poll(addr, &sid).text().starts_with("4x")
    });
    assert_eq!(app.server().transport(&sid).unwrap(), Transport::Polling);
    app.shutdown();
}

#[test]
fn an_unfinished_upgrade_times_out() {
    let _dog = support::watchdog(120, "an_unfinished_upgrade_times_out");
    // X4: a WebSocket that never probes is closed at the upgrade timeout.
    let (app, _) = start(Server::builder().upgrade_timeout(Duration::from_millis(300)));
    let addr = app.local_addr();
    let sid = handshake(addr);
    let mut ws = probe(addr, &sid);
    let started = Instant::now();
    let _ = rawws::recv_until_close(&mut ws);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    assert!(app.server().is_connected(&sid));
    app.server().send(&sid, "still polling").unwrap();
    assert_eq!(poll(addr, &sid).text(), "4still polling");

    // A probe that pinged but never sent `5` also times out, and polling resumes.
    let mut ws = probe(addr, &sid);
    rawws::send_text(&mut ws, "2probe");
    assert_eq!(rawws::recv_text(&mut ws), "3probe");
    assert_eq!(poll(addr, &sid).text(), "6");
    let _ = rawws::recv_until_close(&mut ws);
    app.server().send(&sid, "back").unwrap();
    assert_eq!(poll(addr, &sid).text(), "4back");
    app.shutdown();
}

#[test]
fn heartbeat_is_suspended_during_the_upgrade() {
    let _dog = support::watchdog(120, "heartbeat_is_suspended_during_the_upgrade");
    // B7: no ping timeout while the upgrade is in progress; a fresh cycle after.
    let (app, events) = start(
        Server::builder()
            .ping_interval(Duration::from_millis(150))
            .ping_timeout(Duration::from_millis(150)),
    );
    let addr = app.local_addr();
    let sid = handshake(addr);
    let mut ws = probe(addr, &sid);
    rawws::send_text(&mut ws, "2probe");
    assert_eq!(rawws::recv_text(&mut ws), "3probe");
    thread::sleep(Duration::from_millis(700));
    assert!(
        app.server().is_connected(&sid),
        "{:?}",
        events.lock().unwrap()
    );
    rawws::send_text(&mut ws, "5");
    // Pings now come over the WebSocket.
    for _ in 0..3 {
        assert_eq!(rawws::recv_text(&mut ws), "2");
        rawws::send_text(&mut ws, "3");
    }
    assert!(app.server().is_connected(&sid));
    app.shutdown();
}

#[test]
fn upgrades_can_be_disallowed() {
    let _dog = support::watchdog(120, "upgrades_can_be_disallowed");
    let (app, _) = start(Server::builder().allow_upgrades(false));
    let addr = app.local_addr();
    let r = rawhttp::get(addr, "EIO=4&transport=polling");
    assert!(r.text().contains(r#""upgrades":[]"#), "{}", r.text());
    let v: serde_json::Value = serde_json::from_str(&r.text()[1..]).unwrap();
    let sid = v["sid"].as_str().unwrap();
    let e = rawws::try_connect(addr, &format!("EIO=4&transport=websocket&sid={sid}")).unwrap_err();
    assert_eq!((e.status, e.body.as_str()), (400, E3));
    // WebSocket-only sessions are still fine.
    let (mut ws, _) = rawws::open(addr);
    rawws::send_text(&mut ws, "4ok");
    assert_eq!(rawws::recv_text(&mut ws), "4ok");
    app.shutdown();
}

#[test]
fn a_second_probe_while_probing_is_refused() {
    let _dog = support::watchdog(120, "a_second_probe_while_probing_is_refused");
    let (app, _) = start(Server::builder());
    let addr = app.local_addr();
    let sid = handshake(addr);
    let mut ws = probe(addr, &sid);
    rawws::assert_refused_with_close(addr, &format!("EIO=4&transport=websocket&sid={sid}"));
    rawws::send_text(&mut ws, "2probe");
    assert_eq!(rawws::recv_text(&mut ws), "3probe");
    app.shutdown();
}

#[test]
fn closing_the_session_during_the_upgrade_closes_the_probe() {
    let _dog = support::watchdog(
        120,
        "closing_the_session_during_the_upgrade_closes_the_probe",
    );
    let (app, events) = start(Server::builder());
    let addr = app.local_addr();
    let sid = handshake(addr);
    let mut ws = probe(addr, &sid);
    rawws::send_text(&mut ws, "2probe");
    assert_eq!(rawws::recv_text(&mut ws), "3probe");
    // The client closes over polling.
    assert_eq!(post(addr, &sid, "1").status, 200);
    let mut got = Vec::new();
    let mut tcp = ws.into_inner();
    let _ = std::io::Read::read_to_end(&mut tcp, &mut got);
    wait_for("disconnect", || {
        events
            .lock()
            .unwrap()
            .contains(&"disconnect client disconnect".to_string())
    });
    wait_for("table empty", || app.server().table_size() == 0);
    app.shutdown();
}

#[test]
fn ten_thousand_pushes_during_an_upgrade_arrive_once_and_in_order() {
    let _dog = support::watchdog(
        120,
        "ten_thousand_pushes_during_an_upgrade_arrive_once_and_in_order",
    );
    const N: usize = 10_000;
    let (app, _) = start(Server::builder().ping_interval(Duration::from_secs(30)));
    let addr = app.local_addr();
    let sid = handshake(addr);
    let server = app.server().clone();
    let pusher = {
        let sid = sid.clone();
        thread::spawn(move || {
            for i in 0..N {
                server.send(&sid, format!("{i}")).unwrap();
                if i % 100 == 0 {
                    thread::sleep(Duration::from_millis(1));
                }
            }
        })
    };
    let mut received: Vec<usize> = Vec::with_capacity(N);
    let take = |packets: &str, received: &mut Vec<usize>| {
        for p in packets.split('\x1e') {
            if let Some(n) = p.strip_prefix('4') {
                received.push(n.parse().unwrap());
            }
        }
    };
    // Some on polling.
    while received.len() < N / 4 {
        take(&poll(addr, &sid).text(), &mut received);
    }
    // Upgrade while the server keeps pushing: a GET is in flight during the probe.
    let mut ws = probe(addr, &sid);
    let in_flight = {
        let sid = sid.clone();
        thread::spawn(move || poll(addr, &sid).text())
    };
    rawws::send_text(&mut ws, "2probe");
    assert_eq!(rawws::recv_text(&mut ws), "3probe");
    take(&in_flight.join().unwrap(), &mut received);
    rawws::send_text(&mut ws, "5");
    let mut pending: VecDeque<String> = VecDeque::new();
    while received.len() < N {
        if pending.is_empty() {
            match rawws::recv(&mut ws) {
                Frame::Text(t) => pending.push_back(t.as_str().to_string()),
                other => panic!("{other:?}"),
            }
        }
        let f = pending.pop_front().unwrap();
        take(&f, &mut received);
    }
    pusher.join().unwrap();
    let expected: Vec<usize> = (0..N).collect();
    assert_eq!(received.len(), N);
    assert!(
        received == expected,
        "lost, duplicated or reordered messages"
    );
    app.shutdown();
}

/// The upgrade handler: once, in order with the session's messages, with the
/// transport already switched; it may call the server (its send goes over the new
/// WebSocket). A WebSocket-only session has no upgrade; the connect handler already
/// sees the session's transport and protocol.
#[test]
fn the_upgrade_handler_runs_once_in_order_with_messages() {
    let _dog = support::watchdog(120, "the_upgrade_handler_runs_once_in_order_with_messages");
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let (s1, s2, s3) = (seen.clone(), seen.clone(), seen.clone());
    let server = Server::builder()
        .on_connect(move |server, sid, _| {
            s1.lock().unwrap().push(format!(
                "connect {:?} {:?}",
                server.transport(sid).ok(),
                server.protocol(sid).ok()
            ));
            Ok(())
        })
        .on_message(move |_, _, msg| {
            s2.lock()
                .unwrap()
                .push(format!("message {}", msg.as_text().unwrap()))
        })
        .on_upgrade(move |server, sid, transport| {
            s3.lock().unwrap().push(format!(
                "upgrade {transport} {:?}",
                server.transport(sid).unwrap()
            ));
            server.send(sid, "welcome to websocket").unwrap();
        })
        .build()
        .unwrap();
    let app = App::new(server.clone()).listen("127.0.0.1:0").unwrap();
    let addr = app.local_addr();

    let sid = handshake(addr);
    assert_eq!(post(addr, &sid, "4over polling").status, 200);
    let mut ws = probe(addr, &sid);
    rawws::send_text(&mut ws, "2probe");
    assert_eq!(rawws::recv_text(&mut ws), "3probe");
    // The polling side gets its noop (X1) once the probe answered.
    assert_eq!(poll(addr, &sid).text(), "6");
    rawws::send_text(&mut ws, "5");
    rawws::send_text(&mut ws, "4over websocket");
    assert_eq!(rawws::recv_text(&mut ws), "4welcome to websocket");
    wait_for("both messages", || seen.lock().unwrap().len() == 4);
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "connect Some(Polling) Some(V4)",
            "message over polling",
            "upgrade websocket WebSocket",
            "message over websocket",
        ]
    );

    // WebSocket from the start: no upgrade.
    seen.lock().unwrap().clear();
    let (mut ws2, _) = rawws::open(addr);
    rawws::send_text(&mut ws2, "4direct");
    wait_for("the direct message", || seen.lock().unwrap().len() == 2);
    thread::sleep(Duration::from_millis(100));
    assert_eq!(
        *seen.lock().unwrap(),
        ["connect Some(WebSocket) Some(V4)", "message direct"]
    );
    drop((ws, ws2));
    app.shutdown();
}
