//! `disconnect`, `abort` and `wait` join every thread the client started. Alone in
//! its test binary, because it counts the process's threads by name.

use std::time::Duration;

use engineio::client::Client;
use engineio::server::{App, Server};
use engineio::Transport;

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
