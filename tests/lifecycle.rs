//! A server's lifetime as a test harness sees it: dropping the `Listening` shuts the
//! server down (port released, threads gone), `detach` keeps it serving, and
//! `shutdown` waits for what it documents and no longer. The tests of this file count
//! the process's server threads, so they run one at a time.

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use engineio::client::Client;
use engineio::server::{App, Reason, Server};
use engineio::Transport;

mod support;
use support::rawhttp::{get, handshake, wait_for};

/// One test at a time: they count threads.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The server's threads alive in this process (by their names).
fn server_threads() -> Vec<String> {
    let mut names = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        if let Ok(comm) = std::fs::read_to_string(task.path().join("comm")) {
            let comm = comm.trim();
            let ours = [
                "eio-accept",
                "eio-conn",
                "eio-heartbeat",
                "eio-watchdog",
                "eio-dispatch",
                "eio-ws-flush",
                "eio-broadcast",
            ];
            if ours.iter().any(|p| comm.starts_with(p)) {
                names.push(comm.to_string());
            }
        }
    }
    names
}

fn port_is_free(addr: SocketAddr) -> bool {
    TcpListener::bind(addr).is_ok()
}

#[test]
fn dropping_listening_shuts_down_releases_the_port_and_ends_every_thread() {
    let _serial = serial();
    let _dog = support::watchdog(60, "drop Listening");
    wait_for("no server threads from earlier tests", || {
        server_threads().is_empty()
    });
    let server = Server::builder()
        .on_message(|server, sid, msg| {
            if msg.as_text() == Some("slow") {
                // Long enough for the connection to move to another thread.
                thread::sleep(Duration::from_millis(300));
            }
            let _ = server.send(sid, msg);
        })
        .build()
        .unwrap();
    let app = App::new(server.clone()).listen("127.0.0.1:0").unwrap();
    let addr = app.local_addr();
    let url = format!("http://{addr}");
    // Every kind of thread the server starts: connections (polling, WebSocket), a
    // handler slow enough to be handed off, a dispatch thread (a server-side close).
    let ws = Client::builder(&url)
        .transports(&[Transport::WebSocket])
        .connect()
        .unwrap();
    let polling = Client::builder(&url)
        .transports(&[Transport::Polling])
        .connect()
        .unwrap();
    let events = ws.events();
    ws.send("slow").unwrap();
    loop {
        match events.recv_timeout(Duration::from_secs(10)).unwrap() {
            engineio::client::Event::Message(m) => {
                assert_eq!(m.as_text(), Some("slow"));
                break;
            }
            _ => continue,
        }
    }
    let raw = handshake(addr);
    server.disconnect(&raw).unwrap();
    assert!(!server_threads().is_empty());

    // What a panicking test would do: drop every handle.
    drop(app);
    drop(server);
    assert!(port_is_free(addr), "the port is still bound");
    wait_for("every server thread to end", || server_threads().is_empty());
    // The clients saw the server go.
    assert!(ws.wait_timeout(Duration::from_secs(10)));
    assert!(polling.wait_timeout(Duration::from_secs(10)));
}

#[test]
fn a_panicking_test_does_not_leak_its_server() {
    let _serial = serial();
    let _dog = support::watchdog(60, "panic with a Listening");
    let addr = Arc::new(Mutex::new(None));
    let a2 = addr.clone();
    let r = thread::spawn(move || {
        let app = App::new(Server::builder().build().unwrap())
            .listen("127.0.0.1:0")
            .unwrap();
        *a2.lock().unwrap() = Some(app.local_addr());
        handshake(app.local_addr());
        panic!("a failing assertion");
    })
    .join();
    assert!(r.is_err());
    let addr = addr.lock().unwrap().unwrap();
    assert!(port_is_free(addr));
    wait_for("every server thread to end", || server_threads().is_empty());
}

#[test]
fn detach_keeps_serving_until_shutdown() {
    let _serial = serial();
    let _dog = support::watchdog(60, "detach");
    let server = Server::builder().build().unwrap();
    let app = App::new(server.clone()).listen("127.0.0.1:0").unwrap();
    let addr = app.local_addr();
    app.detach();
    assert_eq!(get(addr, "EIO=4&transport=polling").status, 200);
    assert!(!port_is_free(addr));
    server.shutdown();
    assert!(port_is_free(addr));
    wait_for("every server thread to end", || server_threads().is_empty());
}

#[test]
fn shutdown_waits_for_a_busy_handler_then_the_disconnect_handler() {
    let _serial = serial();
    let _dog = support::watchdog(60, "shutdown with a busy handler");
    let log = Arc::new(Mutex::new(Vec::new()));
    let (l1, l2) = (log.clone(), log.clone());
    let server = Server::builder()
        .on_message(move |_, _, _| {
            thread::sleep(Duration::from_millis(1500));
            l1.lock().unwrap().push("message done".to_string());
        })
        .on_disconnect(move |_, _, reason| l2.lock().unwrap().push(format!("disconnect {reason}")))
        .build()
        .unwrap();
    let app = App::new(server.clone()).listen("127.0.0.1:0").unwrap();
    let client = Client::builder(&format!("http://{}", app.local_addr()))
        .transports(&[Transport::WebSocket])
        .connect()
        .unwrap();
    client.send("work").unwrap();
    thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    server.shutdown();
    let took = t.elapsed();
    // It waited for the handler (about 1.2 s left), not for its 5 s bound.
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(
        log.lock().unwrap().as_slice(),
        [
            "message done",
            &format!("disconnect {}", Reason::ServerDisconnect)
        ]
    );
    drop(app);
    assert!(client.wait_timeout(Duration::from_secs(10)));
    wait_for("every server thread to end", || server_threads().is_empty());
}
