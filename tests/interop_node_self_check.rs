//! Validates the Node.js interop harness against the official reference
//! server: `tests/interop/node_client.mjs` (engine.io-client) must pass
//! against `tests/interop/node_echo_server.mjs` (engine.io) in every mode the
//! Rust server's interop tests use. If this fails, the harness is broken, not
//! the crate.

mod support;

fn echo_server() -> support::ChildServer {
    support::spawn_node_script(
        "tests/interop/node_echo_server.mjs",
        &["--port", "0", "--transports", "polling,websocket"],
    )
}

fn check(server: &support::ChildServer, args: &[&str], transport: &str, close_reason: &str) {
    let mut full = vec![server.base_url.as_str()];
    full.extend_from_slice(args);
    let (ok, output) = support::run_node_client(&full);
    assert!(
        ok,
        "node_client.mjs {args:?} failed:\n{output}\n--- server stderr ---\n{}",
        server.stderr()
    );
    let line = output
        .lines()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON line in output:\n{output}"));
    assert!(line.contains("\"ok\":true"), "{line}");
    assert!(
        line.contains(&format!("\"transport\":\"{transport}\"")),
        "expected transport {transport}: {line}"
    );
    assert!(
        line.contains(&format!("\"closeReason\":\"{close_reason}\"")),
        "expected close reason {close_reason}: {line}"
    );
}

#[test]
fn node_client_polling_only() {
    if !support::interop_available("node interop") {
        return;
    }
    let _wd = support::watchdog(120, "node_client_polling_only");
    let server = echo_server();
    check(
        &server,
        &["--transports", "polling"],
        "polling",
        "forced close",
    );
    check(
        &server,
        &["--transports", "polling", "--close", "server"],
        "polling",
        "transport close",
    );
}

#[test]
fn node_client_websocket_only() {
    if !support::interop_available("node interop") {
        return;
    }
    let _wd = support::watchdog(120, "node_client_websocket_only");
    let server = echo_server();
    check(
        &server,
        &["--transports", "websocket"],
        "websocket",
        "forced close",
    );
    check(
        &server,
        &["--transports", "websocket", "--close", "server"],
        "websocket",
        "transport close",
    );
}

#[test]
fn node_client_upgrade() {
    if !support::interop_available("node interop") {
        return;
    }
    let _wd = support::watchdog(120, "node_client_upgrade");
    let server = echo_server();
    check(
        &server,
        &["--expect-upgrade", "--count", "500"],
        "websocket",
        "forced close",
    );
    check(
        &server,
        &["--expect-upgrade", "--close", "server"],
        "websocket",
        "transport close",
    );
}

#[test]
fn node_client_fails_without_server() {
    if !support::interop_available("node interop") {
        return;
    }
    let _wd = support::watchdog(120, "node_client_fails_without_server");
    // A port nothing listens on: the client must report failure, not hang.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let (ok, output) = support::run_node_client(&[&url, "--timeout-ms", "5000"]);
    assert!(!ok, "client unexpectedly succeeded: {output}");
    assert!(output.contains("\"ok\":false"), "{output}");
}
