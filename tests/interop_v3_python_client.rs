//! python-engineio 3.14's `Client` (Engine.IO v3; PyPI, pinned in
//! `requirements-test-v3.txt`, installed in `.venv-v3` by the test command) against
//! our `echo_server --allow-eio3` in all three modes: non-ASCII text, binary, a burst
//! of 50 in order, and a close from either side.
//!
//! This client polls in binary mode (no `b64`): it POSTs `application/octet-stream`
//! payloads and reads binary ones. Its pings run every 200 ms here. It refuses a
//! polling payload of more than 16 packets, which our server's default
//! `max_poll_packets` respects. Its disconnect event carries no reason, so only the
//! server's reason is checked.

mod support;

use std::process::Command;
use std::time::Duration;

fn run(transports: &str, close: &str, expected_transport: &str) {
    if !support::python_v3_interop_available("python v3 interop") {
        return;
    }
    let _dog = support::watchdog(90, "python v3 client interop");
    let server = support::spawn_example(
        "echo_server",
        &[
            "--allow-eio3",
            "--ping-interval-ms",
            "200",
            "--ping-timeout-ms",
            "3000",
        ],
    );
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
        ]);
    let (ok, out) = support::run_with_timeout(cmd, Duration::from_secs(60));
    assert!(
        ok,
        "python v3 client failed: {out}\nserver stderr: {}",
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
        "expected python-engineio 3.14: {line}"
    );
    assert_eq!(v["transport"], expected_transport, "{line}");
    assert_eq!(v["echoed"], 52, "{line}");
    // The script fails unless its disconnect event fired; 3.x passes no reason.
    assert_eq!(v["reason"], serde_json::Value::Null, "{line}");
    // Like 4.x, python-engineio 3.14 closes its WebSocket right after queuing its
    // close packet, so the packet may or may not arrive first.
    let server_reasons: &[&str] = match (close, expected_transport) {
        ("server", _) => &["server disconnect"],
        (_, "polling") => &["client disconnect"],
        _ => &["client disconnect", "transport close"],
    };
    let reason = server.single_disconnect_reason();
    assert!(
        server_reasons.contains(&reason.as_str()),
        "server reported {reason:?}, expected one of {server_reasons:?}"
    );
}

#[test]
fn polling_only_client_close() {
    run("polling", "client", "polling");
}

#[test]
fn polling_only_server_close() {
    run("polling", "server", "polling");
}

#[test]
fn websocket_only_client_close() {
    run("websocket", "client", "websocket");
}

#[test]
fn websocket_only_server_close() {
    run("websocket", "server", "websocket");
}

#[test]
fn upgrade_client_close() {
    run("polling,websocket", "client", "websocket");
}

#[test]
fn upgrade_server_close() {
    run("polling,websocket", "server", "websocket");
}
