//! Closing delivers what was accepted: every message `send` accepted before
//! `disconnect(sid)` reaches the client before the close packet, over polling (over as
//! many long-polls as it takes), over WebSocket and during an upgrade; the client then
//! reports a server disconnect. Each case is repeated to catch races.

use std::thread;
use std::time::{Duration, Instant};

use engineio::client::{self, Client, Event, Reason as ClientReason};
use engineio::server::{App, Listening, Server};
use engineio::Transport;

mod support;
use support::rawhttp::{get, handshake};

fn server() -> Listening {
    let server = Server::builder().build().unwrap();
    App::new(server).listen("127.0.0.1:0").unwrap()
}

/// The messages until the end, and how it ended.
fn collect(events: &client::Events) -> (Vec<String>, ClientReason) {
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(Event::Connect) => {}
            Ok(Event::Message(m)) => got.push(m.as_text().unwrap().to_string()),
            Ok(Event::Disconnect(r)) => return (got, r),
            Ok(other) => panic!("unexpected event {other:?}"),
            Err(e) => panic!("no end within 20 s after {} messages: {e:?}", got.len()),
        }
    }
}

fn numbers(n: usize) -> Vec<String> {
    (0..n).map(|i| i.to_string()).collect()
}

#[test]
fn forty_sends_then_disconnect_with_a_pending_long_poll_all_arrive_then_close() {
    let _dog = support::watchdog(120, "40 sends then disconnect, raw polling");
    let app = server();
    let a = app.local_addr();
    // Bursts of 17 to 40: a short burst can beat the long-poll's wake-up, so that the
    // close finds it still waiting with more than one response's worth queued.
    for n in (17..=40).chain(17..=40) {
        let sid = handshake(a);
        let q = format!("EIO=4&transport=polling&sid={sid}");
        let q2 = q.clone();
        let pending = thread::spawn(move || get(a, &q2).text());
        // Let the long-poll arrive and wait (if it is late, the test still holds: it
        // then collects everything over later long-polls).
        thread::sleep(Duration::from_millis(20));
        for i in 0..n {
            app.server().send(&sid, i.to_string()).unwrap();
        }
        app.server().disconnect(&sid).unwrap();
        assert!(
            app.server().send(&sid, "late").is_err(),
            "send after disconnect"
        );
        let mut packets: Vec<String> = pending
            .join()
            .unwrap()
            .split('\u{1e}')
            .map(str::to_string)
            .collect();
        while packets.last().map(String::as_str) != Some("1") {
            let body = get(a, &q);
            assert_eq!(body.status, 200, "{}", body.text());
            packets.extend(body.text().split('\u{1e}').map(str::to_string));
            assert!(packets.len() <= n + 1, "{packets:?}");
        }
        let expected: Vec<String> = (0..n)
            .map(|i| format!("4{i}"))
            .chain(["1".to_string()])
            .collect();
        assert_eq!(packets, expected);
        assert_eq!(get(a, &q).status, 400, "E1 once the close is delivered");
    }
}

#[test]
fn a_broadcast_then_disconnect_all_delivers_everything_to_every_waiting_long_poll() {
    let _dog = support::watchdog(120, "broadcast then disconnect_all, raw polling");
    let app = server();
    let a = app.local_addr();
    // 100 sessions, each with a long-poll waiting: on two cores most of them are still
    // waiting (not yet woken) when the close comes, with the whole burst queued.
    let sids: Vec<String> = (0..100).map(|_| handshake(a)).collect();
    let pollers: Vec<_> = sids
        .iter()
        .map(|sid| {
            let q = format!("EIO=4&transport=polling&sid={sid}");
            thread::spawn(move || {
                let mut packets: Vec<String> = Vec::new();
                while packets.last().map(String::as_str) != Some("1") {
                    let r = get(a, &q);
                    assert_eq!(r.status, 200, "{}", r.text());
                    packets.extend(r.text().split('\u{1e}').map(str::to_string));
                    assert!(packets.len() <= 41, "{packets:?}");
                }
                packets
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(200));
    for i in 0..40 {
        assert_eq!(app.server().broadcast(i.to_string()), 100);
    }
    app.server().disconnect_all();
    let expected: Vec<String> = (0..40)
        .map(|i| format!("4{i}"))
        .chain(["1".to_string()])
        .collect();
    for p in pollers {
        assert_eq!(p.join().unwrap(), expected);
    }
}

fn client_gets_everything_then_a_server_disconnect(transports: &[Transport]) {
    let app = server();
    let url = format!("http://{}", app.local_addr());
    for _ in 0..10 {
        let client = Client::builder(&url)
            .transports(transports)
            .connect()
            .unwrap();
        let events = client.events();
        let sid = client.sid().unwrap();
        for i in 0..40 {
            app.server().send(&sid, i.to_string()).unwrap();
        }
        app.server().disconnect(&sid).unwrap();
        let (got, reason) = collect(&events);
        assert_eq!(got, numbers(40));
        assert_eq!(reason, ClientReason::ServerDisconnect);
    }
}

#[test]
fn over_polling_the_client_gets_every_message_then_a_server_disconnect() {
    let _dog = support::watchdog(120, "40 sends then disconnect, polling client");
    client_gets_everything_then_a_server_disconnect(&[Transport::Polling]);
}

#[test]
fn over_websocket_the_client_gets_every_message_then_a_server_disconnect() {
    let _dog = support::watchdog(120, "40 sends then disconnect, websocket client");
    client_gets_everything_then_a_server_disconnect(&[Transport::WebSocket]);
}

#[test]
fn a_disconnect_during_the_upgrade_is_a_server_disconnect_every_time() {
    let _dog = support::watchdog(240, "disconnect during the upgrade");
    let app = server();
    let url = format!("http://{}", app.local_addr());
    let mut transports_at_close = Vec::new();
    for i in 0..40u64 {
        // Polling first; the client probes the WebSocket at once: closing 0 to 39 ms
        // after the handshake lands before, during and after the upgrade.
        let client = Client::builder(&url).connect().unwrap();
        let events = client.events();
        let sid = client.sid().unwrap();
        thread::sleep(Duration::from_millis(i));
        for m in 0..5 {
            app.server().send(&sid, m.to_string()).unwrap();
        }
        transports_at_close.push(app.server().transport(&sid).unwrap());
        app.server().disconnect(&sid).unwrap();
        let (got, reason) = collect(&events);
        assert_eq!(got, numbers(5), "run {i}");
        assert_eq!(reason, ClientReason::ServerDisconnect, "run {i}");
    }
    // Both sides of the upgrade were exercised.
    assert!(transports_at_close.contains(&Transport::Polling));
    assert!(transports_at_close.contains(&Transport::WebSocket));
}

/// A raw polling session and its probing WebSocket that has sent `2probe` and read
/// `3probe`: the client is committed to the upgrade.
fn upgrading(a: std::net::SocketAddr) -> (String, support::rawws::Ws) {
    let sid = handshake(a);
    let mut ws = support::rawws::connect(a, &format!("EIO=4&transport=websocket&sid={sid}"));
    support::rawws::send_text(&mut ws, "2probe");
    assert_eq!(support::rawws::recv_text(&mut ws), "3probe");
    (sid, ws)
}

#[test]
fn a_disconnect_after_the_probe_goes_over_the_new_websocket() {
    let _dog = support::watchdog(60, "disconnect between 3probe and 5");
    let app = server();
    let a = app.local_addr();
    let (sid, mut ws) = upgrading(a);
    app.server().send(&sid, "queued").unwrap();
    app.server().disconnect(&sid).unwrap();
    // The client's paused long-poll gets a noop, not the close.
    let q = format!("EIO=4&transport=polling&sid={sid}");
    assert_eq!(get(a, &q).text(), "6");
    // It completes the upgrade and finds everything, then the close, there.
    support::rawws::send_text(&mut ws, "5");
    let (frames, code) = support::rawws::recv_until_close(&mut ws);
    let texts: Vec<String> = frames
        .into_iter()
        .map(|f| match f {
            support::rawws::Frame::Text(t) => t.as_str().to_string(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(texts, ["4queued", "1"]);
    assert_eq!(code, Some(1000));
}

#[test]
fn a_disconnect_before_the_probe_refuses_the_upgrade_cleanly_and_closes_over_polling() {
    let _dog = support::watchdog(60, "disconnect before 2probe");
    let app = server();
    let a = app.local_addr();
    let sid = handshake(a);
    let mut ws = support::rawws::connect(a, &format!("EIO=4&transport=websocket&sid={sid}"));
    app.server().send(&sid, "queued").unwrap();
    app.server().disconnect(&sid).unwrap();
    // The probe is closed with a close frame (not reset): the client stays on polling.
    let (frames, code) = support::rawws::recv_until_close(&mut ws);
    assert!(frames.is_empty(), "{frames:?}");
    assert_eq!(code, Some(1000));
    let q = format!("EIO=4&transport=polling&sid={sid}");
    assert_eq!(get(a, &q).text(), "4queued\u{1e}1");
}

#[test]
fn a_refused_probe_whose_client_never_answers_the_close_is_still_dropped() {
    let _dog = support::watchdog(60, "refused probe, silent peer");
    let app = server();
    let a = app.local_addr();
    let sid = handshake(a);
    let ws = support::rawws::connect(a, &format!("EIO=4&transport=websocket&sid={sid}"));
    let mut tcp = ws.into_inner();
    app.server().disconnect(&sid).unwrap();
    // The close goes over polling at once...
    let q = format!("EIO=4&transport=polling&sid={sid}");
    assert_eq!(get(a, &q).text(), "1");
    // ...and the probe, which never answers its close frame, is dropped soon after.
    let start = Instant::now();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut got = Vec::new();
    let _ = std::io::Read::read_to_end(&mut tcp, &mut got);
    assert!(got.ends_with(&[0x88, 0x02, 0x03, 0xe8]), "{got:?}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}
