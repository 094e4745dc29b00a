//! The official `engine.io-client` 3.5 (npm alias `engine.io-client-v3`, Engine.IO v3)
//! in node against our `echo_server --allow-eio3`, in all three modes (polling only,
//! WebSocket only, polling upgraded to WebSocket): non-ASCII text, binary, a burst of
//! 50 in order, the client-driven heartbeat, and a clean close from either side with
//! the reason each end reports.
//!
//! In node the 3.x client polls without XHR2, so its polling runs in base64 mode
//! (`b64=1`: binary as `b4…` inside text payloads); `--force-base64` also sends the
//! WebSocket's binary as `b4…` text frames.

mod support;

/// The v3 client's heartbeat: it pings every 200 ms and gives up without a pong
/// within 200 + 3000 ms, so that a short session sees a few pings.
const ECHO_ARGS: [&str; 5] = [
    "--allow-eio3",
    "--ping-interval-ms",
    "200",
    "--ping-timeout-ms",
    "3000",
];

/// Runs the v3 node client in `transports` mode, closing from `close` ("client" or
/// "server"), and checks what both ends saw. `extra` goes to the client.
fn run(transports: &str, close: &str, expected_transport: &str, extra: &[&str]) {
    if !support::node_v3_interop_available("node v3 interop") {
        return;
    }
    let _dog = support::watchdog(90, "node v3 client interop");
    let server = support::spawn_example("echo_server", &ECHO_ARGS);
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
    // Client closes: hold the session open a while first, so the heartbeat runs.
    if close == "client" {
        args.extend(["--hold-ms", "600"]);
    }
    args.extend_from_slice(extra);
    let (ok, out) = support::run_node_client(&args);
    assert!(
        ok,
        "node v3 client failed: {out}\nserver stderr: {}",
        server.stderr()
    );
    let line = out
        .lines()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no result line: {out}"));
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["ok"], true, "{line}");
    assert_eq!(v["eio"], 3, "the client must speak Engine.IO v3: {line}");
    assert_eq!(v["transport"], expected_transport, "{line}");
    assert_eq!(v["echoed"], 52, "{line}");
    if close == "client" {
        assert!(
            v["pongs"].as_u64().unwrap() >= 1,
            "no pong answered the client's pings: {line}"
        );
    }
    // As in v4: the server's close is "transport close" to the client, its own close
    // "forced close".
    let client_reason = if close == "server" {
        "transport close"
    } else {
        "forced close"
    };
    assert_eq!(v["closeReason"], client_reason, "{line}");
    // engine.io-client 3.x sends a close packet over polling; over WebSocket it only
    // closes the socket.
    let server_reason = match (close, expected_transport) {
        ("server", _) => "server disconnect",
        (_, "polling") => "client disconnect",
        _ => "transport close",
    };
    assert_eq!(server.single_disconnect_reason(), server_reason);
}

#[test]
fn polling_only_client_close() {
    run("polling", "client", "polling", &[]);
}

#[test]
fn polling_only_server_close() {
    run("polling", "server", "polling", &[]);
}

#[test]
fn websocket_only_client_close() {
    run("websocket", "client", "websocket", &[]);
}

#[test]
fn websocket_only_server_close() {
    run("websocket", "server", "websocket", &[]);
}

#[test]
fn upgrade_client_close() {
    run("polling,websocket", "client", "websocket", &[]);
}

#[test]
fn upgrade_server_close() {
    run("polling,websocket", "server", "websocket", &[]);
}

#[test]
fn websocket_with_base64_binary() {
    run("websocket", "server", "websocket", &["--force-base64"]);
}

/// Without `--allow-eio3` the server refuses the v3 client's handshake, and the
/// client reports an error instead of hanging.
#[test]
fn refused_without_allow_eio3() {
    if !support::node_v3_interop_available("node v3 interop") {
        return;
    }
    let _dog = support::watchdog(60, "node v3 client refused");
    let server = support::spawn_example("echo_server", &[]);
    let (ok, out) = support::run_node_client(&[
        &server.base_url,
        "--eio3",
        "--transports",
        "polling",
        "--timeout-ms",
        "5000",
    ]);
    assert!(!ok, "a v4-only server accepted a v3 client: {out}");
    assert!(out.contains(r#""ok":false"#), "{out}");
    assert!(
        out.contains("socket error"),
        "expected a client error: {out}"
    );
    assert!(
        !server.stdout().iter().any(|l| l.starts_with("connect ")),
        "{:?}",
        server.stdout()
    );
}
