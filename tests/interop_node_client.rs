//! The official `engine.io-client` (npm, node) against our `echo_server` in all three
//! modes (polling only, WebSocket only, polling upgraded to WebSocket): non-ASCII text,
//! binary, a burst of 100 in order, and a clean close from either side, with the
//! reason our server reports.

mod support;

/// Runs the node client in `transports` mode, closing from `close` ("client" or
/// "server"), and checks what both ends saw.
fn run(transports: &str, close: &str, expected_transport: &str) {
    if !support::interop_available("node interop") {
        return;
    }
    let _dog = support::watchdog(120, "node client interop");
    let server = support::spawn_example("echo_server", &[]);
    let mut args = vec![
        server.base_url.as_str(),
        "--transports",
        transports,
        "--count",
        "100",
        "--close",
        close,
    ];
    if transports == "polling,websocket" {
        args.push("--expect-upgrade");
    }
    let (ok, out) = support::run_node_client(&args);
    assert!(
        ok,
        "node client failed: {out}\nserver stderr: {}",
        server.stderr()
    );
    assert!(
        out.contains(&format!(r#""transport":"{expected_transport}""#)),
        "{out}"
    );
    assert!(out.contains(r#""echoed":102"#), "{out}");
    // The client names the server's close "transport close" and its own "forced close".
    let client_reason = if close == "server" {
        "transport close"
    } else {
        "forced close"
    };
    assert!(
        out.contains(&format!(r#""closeReason":"{client_reason}""#)),
        "{out}"
    );
    // engine.io-client sends a close packet over polling, but over WebSocket it only
    // closes the socket (as the reference server, we then report "transport close").
    let server_reason = match (close, expected_transport) {
        ("server", _) => "server disconnect",
        (_, "polling") => "client disconnect",
        _ => "transport close",
    };
    assert_eq!(server.single_disconnect_reason(), server_reason);
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
