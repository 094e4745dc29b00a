//! The official `engine.io-client` (npm, node) against our `echo_server`, polling only:
//! non-ASCII text, binary, a burst of 100 in order, close from either side.

mod support;

#[test]
fn official_client_polling_echo_and_client_close() {
    if !support::interop_available("node interop") {
        return;
    }
    let _dog = support::watchdog(120, "official_client_polling_echo_and_client_close");
    let server = support::spawn_example("echo_server", &[]);
    let (ok, out) = support::run_node_client(&[
        &server.base_url,
        "--transports",
        "polling",
        "--count",
        "100",
    ]);
    assert!(
        ok,
        "node client failed: {out}\nserver stderr: {}",
        server.stderr()
    );
    assert!(out.contains(r#""transport":"polling""#), "{out}");
    assert!(out.contains(r#""echoed":102"#), "{out}");
}

#[test]
fn official_client_polling_server_close() {
    if !support::interop_available("node interop") {
        return;
    }
    let _dog = support::watchdog(120, "official_client_polling_server_close");
    let server = support::spawn_example("echo_server", &[]);
    let (ok, out) = support::run_node_client(&[
        &server.base_url,
        "--transports",
        "polling",
        "--close",
        "server",
    ]);
    assert!(
        ok,
        "node client failed: {out}\nserver stderr: {}",
        server.stderr()
    );
    assert!(out.contains(r#""closeReason":"transport close""#), "{out}");
}
