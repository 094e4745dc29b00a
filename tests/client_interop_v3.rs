//! The client speaking Engine.IO v3 against the reference v3 servers: the official
//! `engine.io` 3.6 (node, `node_echo_server.mjs --eio3`) and python-engineio 3.14
//! (`python_v3_echo_server.py`), each in three modes (polling only, WebSocket only,
//! polling upgraded to WebSocket): non-ASCII text, binary, a burst of 50 in order, the
//! client's pings keeping the session alive, and a close from each side. Then
//! `echo_client --eio 3` against both, every mode. Missing peers fail under CI
//! (`ENGINEIO_REQUIRE_INTEROP=1`).

use std::time::{Duration, Instant};

use engineio::client::{Client, Event, Events, Reason};
use engineio::{Message, ProtocolVersion};

mod support;
use support::ChildServer;
use support::Mode;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Peer {
    Node,
    Python,
}

/// Short heartbeats: the v3 client pings every 250 ms.
const PING_ARGS: [&str; 4] = ["--ping-interval-ms", "250", "--ping-timeout-ms", "2000"];

fn start(peer: Peer, what: &str) -> Option<ChildServer> {
    match peer {
        Peer::Node => support::node_v3_interop_available(what).then(|| {
            let mut args = vec!["--port", "0", "--eio3"];
            args.extend(PING_ARGS);
            support::spawn_node_script("tests/interop/node_echo_server.mjs", &args)
        }),
        Peer::Python => support::python_v3_interop_available(what).then(|| {
            support::spawn_python_v3_script("tests/interop/python_v3_echo_server.py", &PING_ARGS)
        }),
    }
}

fn next_event(events: &Events, what: &str) -> Event {
    loop {
        match events.recv_timeout(Duration::from_secs(15)) {
            Ok(Event::Connect) => continue,
            Ok(e) => return e,
            Err(e) => panic!("{what}: no event: {e:?}"),
        }
    }
}

/// Waits for the server's `close SID …` line.
fn server_closed(server: &ChildServer, sid: &str) {
    let prefix = format!("close {sid}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.stdout().iter().any(|l| l.starts_with(&prefix)) {
        assert!(
            Instant::now() < deadline,
            "the server never closed {sid}: {:?}\n{}",
            server.stdout(),
            server.stderr()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn exchange_and_close(peer: Peer, mode: Mode, server_closes: bool) {
    let what = format!("{peer:?} v3 {mode:?} (server closes: {server_closes})");
    let Some(server) = start(peer, &what) else {
        return;
    };
    let client = Client::builder(&server.base_url)
        .protocol(ProtocolVersion::V3)
        .transports(mode.transports())
        .build()
        .unwrap();
    let events = client.events();
    client
        .connect()
        .unwrap_or_else(|e| panic!("{what}: connect failed: {e}\n{}", server.stderr()));
    assert_eq!(client.protocol(), ProtocolVersion::V3);
    let sid = client.sid().unwrap();
    let mut sent = vec![
        Message::from("héllo wörld € ✓ 😀"),
        Message::from(vec![0u8, 1, 2, 254, 255]),
    ];
    for i in 0..50 {
        sent.push(if i % 5 == 4 {
            Message::from(vec![i as u8; 1 + i % 7])
        } else {
            Message::from(format!("burst ñ {i}"))
        });
    }
    for m in &sent {
        client.send(m.clone()).unwrap();
    }
    for (i, want) in sent.iter().enumerate() {
        match next_event(&events, &what) {
            Event::Message(got) => assert_eq!(&got, want, "{what}: echo #{i}"),
            other => panic!("{what}: echo #{i}: {other:?}\n{}", server.stderr()),
        }
    }
    assert_eq!(
        client.wait_for_upgrade(Duration::from_secs(10)),
        Some(mode.final_transport()),
        "{what}"
    );
    // Several of the client's ping cycles: the server's pongs keep both ends alive.
    std::thread::sleep(Duration::from_millis(1200));
    assert!(client.is_connected(), "{what}: dropped while idle");
    client.send("after the pings").unwrap();
    match next_event(&events, &what) {
        Event::Message(m) => assert_eq!(m, Message::from("after the pings"), "{what}"),
        other => panic!("{what}: {other:?}"),
    }
    if server_closes {
        client.send("close-me").unwrap();
        match next_event(&events, &what) {
            Event::Disconnect(r) => assert!(
                // python-engineio's own close can race its long-poll (see client_interop.rs).
                r == Reason::ServerDisconnect
                    || (peer == Peer::Python && r == Reason::TransportError),
                "{what}: {r}"
            ),
            other => panic!("{what}: {other:?}"),
        }
    } else {
        client.disconnect();
        match next_event(&events, &what) {
            Event::Disconnect(r) => assert_eq!(r, Reason::ClientDisconnect, "{what}"),
            other => panic!("{what}: {other:?}"),
        }
    }
    server_closed(&server, &sid);
}

macro_rules! v3_tests {
    ($($name:ident: $peer:expr, $mode:expr, $server_closes:expr;)*) => {
        $(
            #[test]
            fn $name() {
                let _dog = support::watchdog(120, stringify!($name));
                exchange_and_close($peer, $mode, $server_closes);
            }
        )*
    };
}

v3_tests! {
    node_polling_client_close: Peer::Node, Mode::Polling, false;
    node_websocket_client_close: Peer::Node, Mode::WebSocket, false;
    node_upgrade_client_close: Peer::Node, Mode::Upgrade, false;
    node_polling_server_close: Peer::Node, Mode::Polling, true;
    node_websocket_server_close: Peer::Node, Mode::WebSocket, true;
    node_upgrade_server_close: Peer::Node, Mode::Upgrade, true;
    python_polling_client_close: Peer::Python, Mode::Polling, false;
    python_websocket_client_close: Peer::Python, Mode::WebSocket, false;
    python_upgrade_client_close: Peer::Python, Mode::Upgrade, false;
    python_polling_server_close: Peer::Python, Mode::Polling, true;
    python_websocket_server_close: Peer::Python, Mode::WebSocket, true;
    python_upgrade_server_close: Peer::Python, Mode::Upgrade, true;
}

/// `examples/echo_client.rs --eio 3` against both v3 servers, every mode.
#[test]
fn echo_client_example_speaks_v3_to_the_reference_servers() {
    let _dog = support::watchdog(300, "echo_client --eio 3");
    for peer in [Peer::Node, Peer::Python] {
        let Some(server) = start(peer, "echo_client --eio 3") else {
            continue;
        };
        for (transports, via) in [
            ("polling", "polling"),
            ("websocket", "websocket"),
            ("polling,websocket", "websocket"),
        ] {
            let mut cmd = std::process::Command::new(support::example_binary("echo_client"));
            cmd.args([
                server.base_url.as_str(),
                "--eio",
                "3",
                "--transports",
                transports,
                "--count",
                "50",
            ]);
            let (ok, out) = support::run_with_timeout(cmd, Duration::from_secs(60));
            assert!(ok, "{peer:?} {transports}: {out}\n{}", server.stderr());
            assert!(
                out.contains(&format!("OK 100 echoed via {via}")),
                "{peer:?} {transports}: {out}"
            );
        }
    }
}
