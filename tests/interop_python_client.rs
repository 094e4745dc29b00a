//! python-engineio's `Client` (PyPI, pinned in `requirements-test.txt`, installed in
//! `.venv` by the test command) against our `echo_server` in all three modes: non-ASCII
//! text, binary, a burst of 100 in order, and a close from either side, with the
//! reasons both ends report.

mod support;

use std::process::Command;
use std::time::Duration;

fn run(transports: &str, close: &str, expected_transport: &str) {
    if !support::interop_available("python interop") {
        return;
    }
    let _dog = support::watchdog(120, "python client interop");
    let server = support::spawn_example("echo_server", &[]);
    let mut cmd = Command::new(support::python().expect("python"));
    cmd.current_dir(support::repo_root())
        .arg("tests/interop/python_client.py")
        .arg(&server.base_url)
        .args([
            "--transports",
            transports,
            "--count",
            "100",
            "--close",
            close,
        ]);
    let (ok, out) = support::run_with_timeout(cmd, Duration::from_secs(60));
    assert!(
        ok,
        "python client failed: {out}\nserver stderr: {}",
        server.stderr()
    );
    let line = out
        .lines()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no result line: {out}"));
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["ok"], true, "{line}");
    assert_eq!(v["transport"], expected_transport, "{line}");
    assert_eq!(v["echoed"], 102, "{line}");
    let client_reason = if close == "server" {
        "server disconnect"
    } else {
        "client disconnect"
    };
    assert_eq!(v["reason"], client_reason, "{line}");
    // python-engineio closes its WebSocket right after queuing its close packet, so
    // the packet may or may not arrive first.
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
