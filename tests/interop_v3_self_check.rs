//! Validates the Engine.IO v3 reference peers against each other, so that the
//! client-side v3 tests can trust them: the official `engine.io-client` 3.5
//! (`node_client.mjs --eio3`) against the official `engine.io` 3.6
//! (`node_echo_server.mjs --eio3`), and python-engineio 3.14's client
//! (`python_client.py` in `.venv-v3`) against its server
//! (`python_v3_echo_server.py`), each in three modes (polling only, WebSocket only,
//! polling upgraded to WebSocket) with a close from either side. If this fails, the
//! harness is broken, not the crate.

mod support;

use std::process::Command;
use std::time::Duration;

use support::ChildServer;

/// Short heartbeats (the v3 client pings), so that a session sees a few.
const PING_ARGS: [&str; 4] = ["--ping-interval-ms", "200", "--ping-timeout-ms", "3000"];

/// Waits (at most 10 s) for the peer server's `close SID [REASON]` lines to number
/// `n`, and returns their reasons ("" when the server gives none).
fn close_reasons(server: &ChildServer, n: usize) -> Vec<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let reasons: Vec<String> = server
            .stdout()
            .iter()
            .filter(|l| l.starts_with("close "))
            .map(|l| l.splitn(3, ' ').nth(2).unwrap_or("").to_string())
            .collect();
        if reasons.len() >= n {
            assert_eq!(reasons.len(), n, "{:?}", server.stdout());
            return reasons;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "expected {n} closed sessions: {:?}",
            server.stdout()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn node_check(transports: &str, expected_transport: &str) {
    if !support::node_v3_interop_available("node v3 self-check") {
        return;
    }
    let _dog = support::watchdog(90, "node v3 self-check");
    let mut args = vec!["--port", "0", "--eio3"];
    args.extend(PING_ARGS);
    let server = support::spawn_node_script("tests/interop/node_echo_server.mjs", &args);
    for close in ["client", "server"] {
        let mut args = vec![
            server.base_url.as_str(),
            "--eio3",
            "--transports",
            transports,
            "--count",
            "50",
            "--close",
            close,
        ];
        if transports == "polling,websocket" {
            args.push("--expect-upgrade");
        }
        if close == "client" {
            args.extend(["--hold-ms", "600"]);
        }
        let (ok, out) = support::run_node_client(&args);
        assert!(
            ok,
            "node_client.mjs --eio3 {args:?} failed:\n{out}\n--- server stderr ---\n{}",
            server.stderr()
        );
        let line = out
            .lines()
            .find(|l| l.starts_with('{'))
            .unwrap_or_else(|| panic!("no JSON line in output:\n{out}"));
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["ok"], true, "{line}");
        assert_eq!(v["eio"], 3, "{line}");
        assert_eq!(v["transport"], expected_transport, "{line}");
        assert_eq!(v["echoed"], 52, "{line}");
        let client_reason = if close == "client" {
            assert!(v["pongs"].as_u64().unwrap() >= 1, "{line}");
            "forced close"
        } else {
            "transport close"
        };
        assert_eq!(v["closeReason"], client_reason, "{line}");
    }
    // engine.io 3.6 names the client's close "transport close" (the close packet over
    // polling and a closed WebSocket alike) and its own "forced close".
    assert_eq!(
        close_reasons(&server, 2),
        ["transport close", "forced close"]
    );
}

fn python_check(transports: &str, expected_transport: &str) {
    if !support::python_v3_interop_available("python v3 self-check") {
        return;
    }
    let _dog = support::watchdog(90, "python v3 self-check");
    let mut args = vec!["--port", "0"];
    args.extend(PING_ARGS);
    let server = support::spawn_python_v3_script("tests/interop/python_v3_echo_server.py", &args);
    for close in ["client", "server"] {
        let mut cmd = Command::new(support::python_v3().expect("python v3"));
        cmd.current_dir(support::repo_root())
            .arg("tests/interop/python_client.py")
            .arg(&server.base_url)
            .args([
                "--transports",
                transports,
                "--count",
                "50",
                "--close",
                close,
            ])
            // python-engineio's server, unlike ours, answers a long-poll with every
            // queued packet, and its client refuses more than 16 by default.
            .args(["--max-decode-packets", "1000"]);
        let (ok, out) = support::run_with_timeout(cmd, Duration::from_secs(60));
        assert!(
            ok,
            "python_client.py (v3) failed: {out}\n--- server stderr ---\n{}",
            server.stderr()
        );
        let line = out
            .lines()
            .find(|l| l.starts_with('{'))
            .unwrap_or_else(|| panic!("no result line: {out}"));
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["ok"], true, "{line}");
        assert!(
            v["library"].as_str().unwrap_or("").starts_with("3.14."),
            "{line}"
        );
        assert_eq!(v["transport"], expected_transport, "{line}");
        assert_eq!(v["echoed"], 52, "{line}");
    }
    // python-engineio 3.x reports no reason, only that each session closed.
    assert_eq!(close_reasons(&server, 2), ["", ""]);
}

#[test]
fn node_client_v3_against_node_server_v3_polling_only() {
    node_check("polling", "polling");
}

#[test]
fn node_client_v3_against_node_server_v3_websocket_only() {
    node_check("websocket", "websocket");
}

#[test]
fn node_client_v3_against_node_server_v3_upgrade() {
    node_check("polling,websocket", "websocket");
}

#[test]
fn python_client_v3_against_python_server_v3_polling_only() {
    python_check("polling", "polling");
}

#[test]
fn python_client_v3_against_python_server_v3_websocket_only() {
    python_check("websocket", "websocket");
}

#[test]
fn python_client_v3_against_python_server_v3_upgrade() {
    python_check("polling,websocket", "websocket");
}
