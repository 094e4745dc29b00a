//! Where the application's code runs, on real loopback sockets: handlers that block,
//! call back into the server, panic, or take application locks never hurt the server
//! or other sessions. One test per case of issue #9's list, each with a watchdog.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use engineio::client::{self, Client, Event};
use engineio::server::{self, App, CookieConfig, CorsPolicy, Reason, Rejection, Server, Sid};
use engineio::{ErrorKind, Transport};

mod support;
use support::rawhttp::{get, handshake, request, wait_for};

fn url(app: &server::Listening) -> String {
    format!("http://{}", app.local_addr())
}

/// Waits for the next client event other than `Connect`.
fn next_event(events: &client::Events, within: Duration) -> Event {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(Event::Connect) => continue,
            Ok(e) => return e,
            Err(e) => panic!("no client event within {within:?}: {e:?}"),
        }
    }
}

fn expect_text(events: &client::Events, text: &str, within: Duration) {
    match next_event(events, within) {
        Event::Message(m) => assert_eq!(m.as_text(), Some(text)),
        other => panic!("expected {text:?}, got {other:?}"),
    }
}

#[test]
fn shutdown_from_a_disconnect_handler_then_from_main_returns() {
    let _dog = support::watchdog(60, "shutdown from on_disconnect, then main");
    let handler_shutdown = Arc::new(Mutex::new(None));
    let h = handler_shutdown.clone();
    let server = Server::builder()
        .on_disconnect(move |server, _, _| {
            // "Stop when the last client leaves."
            let t = Instant::now();
            server.shutdown();
            *h.lock().unwrap() = Some(t.elapsed());
        })
        .build()
        .unwrap();
    let app = App::new(server.clone()).listen("127.0.0.1:0").unwrap();
    let client = Client::builder(&url(&app))
        .transports(&[Transport::WebSocket])
        .connect()
        .unwrap();
    // The last client leaves.
    client.disconnect();
    wait_for("the handler's shutdown", || {
        handler_shutdown.lock().unwrap().is_some()
    });
    let in_handler = handler_shutdown.lock().unwrap().unwrap();
    assert!(in_handler < Duration::from_secs(1), "{in_handler:?}");
    let t = Instant::now();
    server.shutdown();
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert!(server.is_shut_down());
    drop(app);
}

#[test]
fn shutdown_from_main_runs_a_disconnect_handler_that_shuts_down_too() {
    let _dog = support::watchdog(60, "shutdown from main, then on_disconnect");
    let inner_call = Arc::new(Mutex::new(None));
    let h = inner_call.clone();
    let server = Server::builder()
        .on_disconnect(move |server, _, reason| {
            let t = Instant::now();
            server.shutdown();
            *h.lock().unwrap() = Some((reason, t.elapsed()));
        })
        .build()
        .unwrap();
    let app = App::new(server.clone()).listen("127.0.0.1:0").unwrap();
    handshake(app.local_addr());
    let t = Instant::now();
    server.shutdown();
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    // Shutdown waited for the disconnect handler, whose own shutdown returned at once.
    let (reason, took) = inner_call.lock().unwrap().expect("the handler ran");
    assert_eq!(reason, Reason::ServerDisconnect);
    assert!(took < Duration::from_secs(1), "{took:?}");
    drop(app);
}

#[test]
fn shutdown_from_a_message_handler_returns_promptly() {
    let _dog = support::watchdog(60, "shutdown from on_message");
    let took = Arc::new(Mutex::new(None));
    let t2 = took.clone();
    let server = Server::builder()
        .on_message(move |server, _, _| {
            let t = Instant::now();
            server.shutdown();
            *t2.lock().unwrap() = Some(t.elapsed());
        })
        .build()
        .unwrap();
    let app = App::new(server.clone()).listen("127.0.0.1:0").unwrap();
    let client = Client::builder(&url(&app))
        .transports(&[Transport::WebSocket])
        .connect()
        .unwrap();
    client.send("stop").unwrap();
    wait_for("the handler's shutdown", || took.lock().unwrap().is_some());
    let took = took.lock().unwrap().unwrap();
    // Before, it waited 3 s for its own connection to finish.
    assert!(took < Duration::from_secs(1), "{took:?}");
    server.wait();
    assert!(client.wait_timeout(Duration::from_secs(10)));
    drop(app);
}

#[test]
fn a_slow_disconnect_handler_does_not_delay_other_sessions_pings() {
    let _dog = support::watchdog(60, "slow on_disconnect vs other sessions' pings");
    let slow_sid: Arc<OnceLock<String>> = Arc::default();
    let reasons = Arc::new(Mutex::new(Vec::new()));
    let (s2, r2) = (slow_sid.clone(), reasons.clone());
    let server = Server::builder()
        .ping_interval(Duration::from_millis(200))
        .ping_timeout(Duration::from_millis(200))
        .on_disconnect(move |_, sid, reason| {
            if s2.get().map(String::as_str) == Some(sid.as_str()) {
                // A database write, say.
                thread::sleep(Duration::from_secs(3));
            }
            r2.lock().unwrap().push((sid.to_string(), reason));
        })
        .build()
        .unwrap();
    let app = App::new(server).listen("127.0.0.1:0").unwrap();
    // A healthy client that answers every ping.
    let healthy = Client::builder(&url(&app))
        .transports(&[Transport::WebSocket])
        .connect()
        .unwrap();
    let healthy_sid = healthy.sid().unwrap();
    // A session that never answers: it times out after ~400 ms, and its disconnect
    // handler blocks for 3 s.
    slow_sid.set(handshake(app.local_addr())).unwrap();
    wait_for("the silent session's ping timeout", || {
        app.server().session_count() == 1
    });
    thread::sleep(Duration::from_millis(2500));
    assert!(healthy.is_connected(), "the healthy client was dropped");
    assert!(app.server().is_connected(&healthy_sid));
    let reasons = reasons.lock().unwrap().clone();
    assert!(
        reasons.iter().all(|(sid, _)| sid != &healthy_sid),
        "{reasons:?}"
    );
    healthy.disconnect();
}

fn slow_message_handler_keeps_its_session(transport: Transport) {
    let disconnects = Arc::new(Mutex::new(Vec::new()));
    let d2 = disconnects.clone();
    let server = Server::builder()
        .ping_interval(Duration::from_millis(300))
        .ping_timeout(Duration::from_millis(300))
        .on_message(|server, sid, msg| {
            if msg.as_text() == Some("slow") {
                thread::sleep(Duration::from_millis(2500));
                let _ = server.send(sid, "done");
            } else {
                let _ = server.send(sid, msg);
            }
        })
        .on_disconnect(move |_, _, reason| d2.lock().unwrap().push(reason))
        .build()
        .unwrap();
    let app = App::new(server).listen("127.0.0.1:0").unwrap();
    let client = Client::builder(&url(&app))
        .transports(&[transport])
        .request_timeout(Duration::from_secs(1))
        .connect()
        .unwrap();
    let events = client.events();
    client.send("slow").unwrap();
    // Sent while the handler sleeps: it waits for it, in order.
    client.send("after").unwrap();
    expect_text(&events, "done", Duration::from_secs(10));
    expect_text(&events, "after", Duration::from_secs(5));
    assert!(client.is_connected(), "the client gave up on its session");
    assert!(
        disconnects.lock().unwrap().is_empty(),
        "{:?}",
        disconnects.lock().unwrap()
    );
    // Still alive through more ping cycles.
    thread::sleep(Duration::from_millis(800));
    client.send("still").unwrap();
    expect_text(&events, "still", Duration::from_secs(5));
    client.disconnect();
}

#[test]
fn a_slow_message_handler_keeps_its_websocket_session_alive() {
    let _dog = support::watchdog(60, "slow on_message over websocket");
    slow_message_handler_keeps_its_session(Transport::WebSocket);
}

#[test]
fn a_slow_message_handler_keeps_its_polling_session_alive() {
    let _dog = support::watchdog(60, "slow on_message over polling");
    slow_message_handler_keeps_its_session(Transport::Polling);
}

#[test]
fn disconnect_and_overflow_from_under_an_application_lock_do_not_deadlock() {
    let _dog = support::watchdog(60, "disconnect under the room lock");
    let room: Arc<Mutex<Vec<Sid>>> = Arc::default();
    let (r1, r2) = (room.clone(), room.clone());
    let server = Server::builder()
        .max_buffered_bytes(1024)
        .on_connect(move |_, sid, _| {
            r1.lock().unwrap().push(sid.clone());
            Ok(())
        })
        .on_disconnect(move |_, sid, _| r2.lock().unwrap().retain(|s| s != sid))
        .build()
        .unwrap();
    let app = App::new(server.clone()).listen("127.0.0.1:0").unwrap();
    for _ in 0..5 {
        handshake(app.local_addr());
    }
    {
        // "Kick everyone in the room", holding the room's lock.
        let members = room.lock().unwrap();
        assert_eq!(members.len(), 5);
        for sid in members.iter().take(3) {
            server.disconnect(sid).unwrap();
        }
        // A send that overflows a session closes it, under the lock too.
        let err = server.send(&members[3], "x".repeat(2000)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::SessionClosed);
    }
    wait_for("the disconnect handlers", || {
        room.lock().unwrap().len() == 1
    });
    drop(app);
}

#[test]
fn broadcast_overflow_runs_disconnect_handlers_with_a_full_stack() {
    let _dog = support::watchdog(120, "broadcast overflow with big handler frames");
    let done = Arc::new(AtomicUsize::new(0));
    let d2 = done.clone();
    let server = Server::builder()
        .max_buffered_bytes(1024)
        .on_disconnect(move |_, _, reason| {
            assert_eq!(reason, Reason::TransportError);
            // A 60 KiB frame: more than a small helper stack could hold.
            let frame = [7u8; 60 * 1024];
            std::hint::black_box(&frame);
            d2.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap();
    let app = App::new(server.clone()).listen("127.0.0.1:0").unwrap();
    let a = app.local_addr();
    // 1100 polling sessions over one keep-alive connection.
    let mut conn = support::rawhttp::KeepAlive::connect(a);
    for _ in 0..1100 {
        let r = conn.get("EIO=4&transport=polling");
        assert_eq!(r.status, 200);
    }
    assert_eq!(server.session_count(), 1100);
    // Split across helper threads (1024+ recipients); every one overflows.
    assert_eq!(server.broadcast("y".repeat(2000)), 0);
    wait_for("1100 disconnect handlers", || {
        done.load(Ordering::SeqCst) == 1100
    });
    wait_for("an empty table", || server.table_size() == 0);
    drop(app);
}

#[test]
fn a_sid_generator_may_call_the_server() {
    let _dog = support::watchdog(60, "sid generator calling session_count");
    let cell: Arc<OnceLock<Server>> = Arc::default();
    let c2 = cell.clone();
    let counter = Arc::new(AtomicUsize::new(0));
    let n2 = counter.clone();
    let server = Server::builder()
        .sid_generator(move || {
            let open = c2.get().map_or(0, |s| s.session_count());
            format!("s{open}x{}", n2.fetch_add(1, Ordering::SeqCst))
        })
        .build()
        .unwrap();
    cell.set(server.clone()).unwrap();
    let app = App::new(server.clone()).listen("127.0.0.1:0").unwrap();
    assert_eq!(handshake(app.local_addr()), "s0x0");
    assert_eq!(handshake(app.local_addr()), "s1x1");
    drop(app);
}

#[test]
fn session_data_is_readable_in_the_disconnect_handler_then_dropped() {
    let _dog = support::watchdog(60, "session data in on_disconnect");
    let said = Arc::new(Mutex::new(Vec::new()));
    let s2 = said.clone();
    let after = Arc::new(Mutex::new(None));
    let a2 = after.clone();
    let server = Server::builder()
        .on_connect(|server, sid, req| {
            let name = req.query("name").unwrap_or("anonymous").to_string();
            server.set_session(sid, name).unwrap();
            Ok(())
        })
        .on_disconnect(move |server, sid, _| {
            let name: String = server.get_session(sid).unwrap().unwrap();
            let len = server.with_session(sid, |n: &mut String| n.len()).unwrap();
            s2.lock().unwrap().push(format!("{name} left ({len})"));
            let server = server.clone();
            let sid = sid.clone();
            let a2 = a2.clone();
            thread::spawn(move || {
                // Once the handler has returned, the data is gone.
                let deadline = Instant::now() + Duration::from_secs(10);
                loop {
                    let r = server.get_session::<String>(&sid);
                    if r.is_err() || Instant::now() > deadline {
                        *a2.lock().unwrap() = Some(r.map_err(|e| e.kind()));
                        return;
                    }
                    thread::sleep(Duration::from_millis(5));
                }
            });
        })
        .build()
        .unwrap();
    let app = App::new(server).listen("127.0.0.1:0").unwrap();
    let client = Client::builder(&url(&app))
        .query("name", "ada")
        .connect()
        .unwrap();
    client.disconnect();
    wait_for("the handler", || !said.lock().unwrap().is_empty());
    assert_eq!(said.lock().unwrap().as_slice(), ["ada left (3)"]);
    wait_for("the data to be dropped", || after.lock().unwrap().is_some());
    assert_eq!(
        after.lock().unwrap().clone().unwrap(),
        Err(ErrorKind::UnknownSession)
    );
}

#[test]
fn nested_with_session_is_an_error_not_a_deadlock() {
    let _dog = support::watchdog(60, "nested with_session");
    let (tx, rx) = mpsc::channel();
    let server = Server::builder()
        .on_message(move |server, sid, _| {
            let outer = server.with_session(sid, |n: &mut u32| {
                *n += 1;
                let inner = server.with_session(sid, |m: &mut u32| *m);
                let get = server.get_session::<u32>(sid);
                (inner.map_err(|e| e.kind()), get.map_err(|e| e.kind()))
            });
            tx.send(outer.map_err(|e| e.kind())).unwrap();
            let _ = server.send(sid, "done");
        })
        .build()
        .unwrap();
    let app = App::new(server.clone()).listen("127.0.0.1:0").unwrap();
    let client = Client::builder(&url(&app)).connect().unwrap();
    client.send("go").unwrap();
    let (inner, get) = rx.recv_timeout(Duration::from_secs(10)).unwrap().unwrap();
    assert_eq!(inner, Err(ErrorKind::Reentrant));
    assert_eq!(get, Err(ErrorKind::Reentrant));
    // The outer call's write stuck.
    let sid = client.sid().unwrap();
    assert_eq!(server.get_session::<u32>(&sid).unwrap(), Some(1));
    client.disconnect();
}

#[test]
fn panics_in_every_callback_are_caught() {
    let _dog = support::watchdog(60, "panicking callbacks");
    let generator_panics = Arc::new(AtomicBool::new(false));
    let g2 = generator_panics.clone();
    let server = Server::builder()
        .cors(CorsPolicy::predicate(|origin, _| {
            assert_ne!(origin, "http://panic.example", "predicate panics");
            true
        }))
        .cookie(CookieConfig::default().dynamic(|req, _| {
            assert!(req.query("cookie-panic").is_none(), "cookie hook panics");
        }))
        .sid_generator(move || {
            assert!(!g2.load(Ordering::SeqCst), "generator panics");
            format!("sid{}", COUNTER.fetch_add(1, Ordering::SeqCst))
        })
        .on_connect(|_, _, req| {
            assert!(
                req.query("connect-panic").is_none(),
                "connect handler panics"
            );
            Ok(())
        })
        .on_message(|server, sid, msg| {
            assert_ne!(msg.as_text(), Some("panic"), "message handler panics");
            let _ = server.send(sid, msg);
        })
        .on_disconnect(|_, _, _| panic!("disconnect handler panics"))
        .build()
        .unwrap();
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let app = App::new(server.clone()).listen("127.0.0.1:0").unwrap();
    let a = app.local_addr();
    // The CORS predicate: the request is refused, the server lives on.
    let r = request(
        a,
        "GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nOrigin: http://panic.example\r\n\r\n",
    );
    assert_eq!(r.status, 400);
    // The cookie hook: the handshake goes through with the cookie as configured.
    let r = get(a, "EIO=4&transport=polling&cookie-panic=1");
    assert_eq!(r.status, 200);
    assert!(r.header("Set-Cookie").unwrap().starts_with("io=sid"));
    // The connect handler: refused with 401.
    assert_eq!(
        get(a, "EIO=4&transport=polling&connect-panic=1").status,
        401
    );
    // The sid generator: no session, 500.
    generator_panics.store(true, Ordering::SeqCst);
    assert_eq!(get(a, "EIO=4&transport=polling").status, 500);
    generator_panics.store(false, Ordering::SeqCst);
    // The message handler: the session carries on.
    let client = Client::builder(&url(&app)).connect().unwrap();
    let events = client.events();
    client.send("panic").unwrap();
    client.send("after").unwrap();
    expect_text(&events, "after", Duration::from_secs(10));
    // The disconnect handler: the session is still forgotten.
    let sid = client.sid().unwrap();
    client.disconnect();
    wait_for("the session to be forgotten", || {
        server
            .get_session::<u8>(&sid)
            .is_err_and(|e| e.kind() == ErrorKind::UnknownSession)
    });
}

#[test]
fn handlers_of_a_session_never_overlap_and_see_wire_order_across_the_upgrade() {
    let _dog = support::watchdog(120, "handler order and exclusion");
    #[derive(Default)]
    struct Log {
        active: AtomicUsize,
        overlaps: AtomicUsize,
        seen: Mutex<Vec<String>>,
    }
    let log = Arc::new(Log::default());
    let (l1, l2) = (log.clone(), log.clone());
    let server = Server::builder()
        .on_message(move |server, sid, msg| {
            if l1.active.fetch_add(1, Ordering::SeqCst) != 0 {
                l1.overlaps.fetch_add(1, Ordering::SeqCst);
            }
            let text = msg.as_text().unwrap().to_string();
            let n: u64 = text.parse().unwrap();
            // Some handlers are slow enough for their connection to move threads.
            if n % 10 == 3 {
                thread::sleep(Duration::from_millis(150));
            }
            l1.seen.lock().unwrap().push(text.clone());
            l1.active.fetch_sub(1, Ordering::SeqCst);
            let _ = server.send(sid, text);
        })
        .on_disconnect(move |_, _, reason| {
            if l2.active.fetch_add(1, Ordering::SeqCst) != 0 {
                l2.overlaps.fetch_add(1, Ordering::SeqCst);
            }
            l2.seen.lock().unwrap().push(format!("disconnect {reason}"));
            l2.active.fetch_sub(1, Ordering::SeqCst);
        })
        .build()
        .unwrap();
    let app = App::new(server).listen("127.0.0.1:0").unwrap();
    // Polling first, then the upgrade: messages flow all along.
    let client = Client::builder(&url(&app)).connect().unwrap();
    let events = client.events();
    for i in 0..60 {
        client.send(i.to_string()).unwrap();
        if i == 20 {
            assert_eq!(
                client.wait_for_upgrade(Duration::from_secs(10)),
                Some(Transport::WebSocket)
            );
        }
    }
    for i in 0..60 {
        expect_text(&events, &i.to_string(), Duration::from_secs(20));
    }
    client.disconnect();
    wait_for("the disconnect handler", || {
        log.seen.lock().unwrap().len() == 61
    });
    let seen = log.seen.lock().unwrap().clone();
    let expected: Vec<String> = (0..60)
        .map(|i| i.to_string())
        .chain(["disconnect client disconnect".to_string()])
        .collect();
    assert_eq!(seen, expected);
    assert_eq!(log.overlaps.load(Ordering::SeqCst), 0);
}

#[test]
fn out_of_range_configuration_is_refused_by_build() {
    let e = Server::builder()
        .ping_interval(Duration::MAX)
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.to_string().contains("ping_interval"), "{e}");
    let e = Server::builder()
        .ping_timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("ping_timeout"), "{e}");
    let e = App::new(Server::builder().build().unwrap())
        .max_fallback_body(usize::MAX)
        .listen("127.0.0.1:0")
        .err()
        .unwrap();
    assert!(e.to_string().contains("max_fallback_body"), "{e}");
}

#[test]
fn a_rejecting_connect_handler_leaves_nothing_behind() {
    let _dog = support::watchdog(60, "rejection");
    let server = Server::builder()
        .on_connect(|server, sid, _| {
            // Sending to, then refusing, the session it is accepting.
            server.send(sid, "never delivered").unwrap();
            Err(Rejection::new())
        })
        .build()
        .unwrap();
    let app = App::new(server.clone()).listen("127.0.0.1:0").unwrap();
    assert_eq!(get(app.local_addr(), "EIO=4&transport=polling").status, 401);
    assert_eq!(server.table_size(), 0);
}
