//! `engineio serve` answers the official JavaScript client (node) in three modes and
//! a browser page (headless Chromium) it serves itself with `--static`; prints its
//! session events; broadcasts; takes commands on stdin; shuts down on Ctrl-C. (TLS:
//! `tls.rs`.)

mod support;

use std::process::Command;
use std::time::Duration;

use engineio::client::{Client, Event};
use engineio::Transport;
use support::{peers_available, repo_root, serve};

const T: Duration = Duration::from_secs(15);

#[test]
fn answers_the_official_node_client_in_three_modes() {
    if !peers_available("serve: node client", true, &[]) {
        return;
    }
    let _dog = support::watchdog(120, "serve: node client");
    let (server, addr) = serve(&["--quiet"]);
    for (transports, expected) in [
        ("polling", "polling"),
        ("websocket", "websocket"),
        ("polling,websocket", "websocket"),
    ] {
        let mut cmd = Command::new(support::node().unwrap());
        cmd.current_dir(repo_root())
            .arg("tests/interop/node_client.mjs")
            .arg(format!("http://{addr}"))
            .args(["--transports", transports, "--count", "20"]);
        if expected == "websocket" && transports.contains(',') {
            cmd.arg("--expect-upgrade");
        }
        let (ok, out) = support::run_cmd(cmd, Duration::from_secs(60));
        assert!(
            ok,
            "node client ({transports}) failed: {out}\nserver stderr: {}",
            server.stderr()
        );
        assert!(
            out.contains(&format!(r#""transport":"{expected}""#)),
            "{out}"
        );
        assert!(out.contains(r#""echoed":22"#), "{out}");
    }
    // One line per session event: three connects, one upgrade, three disconnects
    // (the last one printed once the server has noticed the client's close).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let lines = loop {
        let lines = server.stdout_so_far();
        if lines
            .iter()
            .filter(|l| l.starts_with("disconnect "))
            .count()
            >= 3
            || std::time::Instant::now() > deadline
        {
            break lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let count = |p: &str| lines.iter().filter(|l| l.starts_with(p)).count();
    assert_eq!(count("connect "), 3, "{lines:?}");
    assert_eq!(count("upgrade "), 1, "{lines:?}");
    assert_eq!(count("disconnect "), 3, "{lines:?}");
    assert_eq!(count("message "), 0, "--quiet: {lines:?}");
}

#[test]
fn serves_a_browser_page_with_the_official_client() {
    if !peers_available(
        "serve: browser page",
        true,
        &[("chromium (ENGINEIO_CHROMIUM)", support::chromium())],
    ) {
        return;
    }
    let _dog = support::watchdog(150, "serve: browser page");
    // The latency page of the examples and the official client's browser bundle,
    // served from a directory by --static.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        repo_root().join("examples/latency/latency.html"),
        dir.path().join("index.html"),
    )
    .unwrap();
    std::fs::copy(
        repo_root().join("node_modules/engine.io-client/dist/engine.io.js"),
        dir.path().join("engine.io.js"),
    )
    .unwrap();
    let (server, addr) = serve(&[
        "--static",
        dir.path().to_str().unwrap(),
        "--json",
        "--quiet",
    ]);
    for (transports, expected) in [("polling", "polling"), ("polling,websocket", "websocket")] {
        let mut cmd = Command::new(support::node().unwrap());
        cmd.current_dir(repo_root())
            .arg("tests/interop/browser_latency.mjs")
            .arg(format!("http://{addr}"))
            .args(["--transports", transports, "--round-trips", "10"])
            .args(["--expect-transport", expected])
            .env("ENGINEIO_CHROMIUM", support::chromium().unwrap());
        let (ok, out) = support::run_cmd(cmd, Duration::from_secs(120));
        assert!(
            ok,
            "browser ({transports}): {out}\nserver: {}",
            server.stderr()
        );
        let line = out.lines().find(|l| l.starts_with('{')).unwrap();
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["ok"], true, "{line}");
        assert_eq!(v["transport"], expected, "{line}");
    }
    // --json: every event a JSON line.
    let lines = server.stdout_so_far();
    for l in &lines {
        serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| panic!("{l}: {e}"));
    }
    assert!(
        lines.iter().any(|l| l.contains(r#""event":"connect""#)),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(r#""event":"upgrade""#) && l.contains("websocket")),
        "{lines:?}"
    );
}

#[test]
fn broadcast_sends_every_message_to_every_session() {
    let _dog = support::watchdog(30, "serve --broadcast");
    let (server, addr) = serve(&["--broadcast", "--json", "--transports", "websocket"]);
    let url = format!("http://{addr}");
    let a = Client::builder(&url)
        .transports(&[Transport::WebSocket])
        .build()
        .unwrap();
    let b = Client::builder(&url)
        .transports(&[Transport::WebSocket])
        .build()
        .unwrap();
    let (ea, eb) = (a.events(), b.events());
    a.connect().unwrap();
    b.connect().unwrap();
    a.send("to all").unwrap();
    for events in [&ea, &eb] {
        let got = loop {
            match events.recv_timeout(T).unwrap() {
                Event::Message(m) => break m,
                _ => continue,
            }
        };
        assert_eq!(got.as_text(), Some("to all"));
    }
    let msg = server.until(T, |l| l.contains(r#""event":"message""#));
    let v: serde_json::Value = serde_json::from_str(&msg).unwrap();
    assert_eq!(v["text"], "to all");
    assert_eq!(v["sid"], a.sid().unwrap().as_str());
    a.disconnect();
    b.disconnect();
}

#[test]
fn stdin_commands_reach_sessions() {
    let _dog = support::watchdog(30, "serve stdin");
    let (mut server, addr) = serve(&["--json"]);
    let client = Client::builder(&format!("http://{addr}")).build().unwrap();
    let events = client.events();
    client.connect().unwrap();
    let sid = client.sid().unwrap();
    let next = || loop {
        match events.recv_timeout(T).unwrap() {
            Event::Message(m) => break m,
            Event::Disconnect(r) => panic!("disconnected: {r}"),
            _ => continue,
        }
    };
    server.write_line(r#"{"text":"to all"}"#);
    assert_eq!(next().as_text(), Some("to all"));
    server.write_line(&format!(r#"{{"sid":"{sid}","binary":"AQID"}}"#));
    assert_eq!(next().as_binary(), Some(&[1u8, 2, 3][..]));
    server.write_line("{oops");
    let err = server.until(T, |l| l.contains(r#""event":"error""#));
    assert!(err.contains("not JSON"), "{err}");
    server.write_line(&format!(r#"{{"event":"disconnect","sid":"{sid}"}}"#));
    loop {
        if let Event::Disconnect(r) = events.recv_timeout(T).unwrap() {
            assert_eq!(r, engineio::Reason::ServerDisconnect);
            break;
        }
    }
    let line = server.until(T, |l| l.contains(r#""event":"disconnect""#));
    assert!(line.contains("server disconnect"), "{line}");
}

#[test]
fn ctrl_c_closes_every_session_then_exits_0() {
    let _dog = support::watchdog(60, "serve: Ctrl-C");
    let (mut server, addr) = serve(&[]);
    let url = format!("http://{addr}");
    let clients: Vec<_> = [Transport::Polling, Transport::WebSocket]
        .into_iter()
        .map(|t| {
            let c = Client::builder(&url).transports(&[t]).build().unwrap();
            let events = c.events();
            c.connect().unwrap();
            let sid = c.sid().unwrap().to_string();
            (t, sid, c, events)
        })
        .collect();
    server.interrupt();
    for (transport, _, _, events) in &clients {
        let reason = loop {
            if let Event::Disconnect(r) = events.recv_timeout(T).unwrap() {
                break r;
            }
        };
        if *transport == Transport::WebSocket {
            // Told by the server, not dropped.
            assert_eq!(reason, engineio::Reason::ServerDisconnect);
        } else {
            // Over polling the close reaches the client only if its next GET was
            // already waiting: shutdown stops accepting at once, so a client between
            // two polls finds the port closed.
            assert!(
                matches!(
                    reason,
                    engineio::Reason::ServerDisconnect | engineio::Reason::TransportError
                ),
                "{reason:?}"
            );
        }
    }
    assert_eq!(server.wait(T).code(), Some(0));
    assert!(
        server
            .stderr()
            .contains("interrupted: closing 2 session(s)"),
        "{}",
        server.stderr()
    );
    // The server closed every session itself, with the reason it gives a client.
    let out = server.stdout_so_far().join("\n");
    for (_, sid, _, _) in &clients {
        assert!(
            out.contains(&format!("disconnect {sid} server disconnect")),
            "{out}"
        );
    }
}

#[test]
fn an_address_in_use_exits_1() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (code, _, err) = support::run(
        &["serve", "--addr", &busy.local_addr().unwrap().to_string()],
        "",
        T,
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot listen"), "{err}");
}
