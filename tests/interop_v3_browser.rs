//! A real browser speaking Engine.IO v3: headless Chromium runs
//! `tests/interop/v3_browser.html` with the official engine.io-client 3.5 browser bundle
//! (`node_modules/engine.io-client-v3/engine.io.js`) against our server with
//! `allow_eio3`, which also serves the page and the bundle (`App` + `StaticFiles`).
//!
//! Modes: XHR polling (XHR2: binary payloads, no `b64`), polling upgraded to WebSocket,
//! and JSONP polling (`forceJSONP`: `<script>` GETs with `j=`, form POSTs `d=…` through a
//! hidden iframe, binary as base64). Each echoes non-ASCII text (with quotes,
//! backslashes, a newline and U+2028/U+2029), binary and a burst of 50 in order (the
//! polling ones also a 35,000-unit text and a 40,000-byte binary), and closes from one
//! side; the test checks what the page and the server report.

mod support;

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use engineio::server::{App, Listening, ProtocolVersion, Server, StaticFiles};

/// What the server saw: each handshake's query, the protocol of every message's
/// session, and each session's end.
#[derive(Default)]
struct Seen {
    /// (transport, `j`, `b64`) of each handshake.
    handshakes: Vec<(String, Option<String>, Option<String>)>,
    protocols: Vec<ProtocolVersion>,
    reasons: Vec<String>,
}

fn start_server(root: &Path) -> (Listening, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (on_connect, on_message, on_disconnect) = (seen.clone(), seen.clone(), seen.clone());
    let server = Server::builder()
        .allow_eio3(true)
        // The v3 client pings every 200 ms.
        .ping_interval(Duration::from_millis(200))
        .ping_timeout(Duration::from_secs(3))
        .on_connect(move |_, _, req| {
            on_connect.lock().unwrap().handshakes.push((
                req.query("transport").unwrap_or("").to_string(),
                req.query("j").map(str::to_string),
                req.query("b64").map(str::to_string),
            ));
            Ok(())
        })
        .on_message(move |server, sid, msg| {
            if let Ok(p) = server.protocol(sid) {
                on_message.lock().unwrap().protocols.push(p);
            }
            if msg.as_text() == Some("close-me") {
                let _ = server.disconnect(sid);
            } else {
                let _ = server.send(sid, msg);
            }
        })
        .on_disconnect(move |_, _, reason| {
            on_disconnect
                .lock()
                .unwrap()
                .reasons
                .push(reason.to_string());
        })
        .build()
        .expect("valid configuration");
    let page = root.join("tests/interop/v3_browser.html");
    let bundle = root.join("node_modules/engine.io-client-v3/engine.io.js");
    assert!(
        bundle.is_file(),
        "{} is missing (run scripts/test.sh)",
        bundle.display()
    );
    let files = StaticFiles::new()
        .file("/", page.to_string_lossy())
        .file_with_type(
            "/engine.io.js",
            bundle.to_string_lossy(),
            "application/javascript",
        );
    let running = App::new(server)
        .static_files(files)
        .listen("127.0.0.1:0")
        .expect("listen");
    (running, seen)
}

/// Runs the page with `query` in Chromium and returns its result, checked to be ok
/// with `echoes` messages echoed, and the server's record of the session (whose end
/// it waited for).
fn run_page(query: &str, echoes: u64) -> Option<(serde_json::Value, Seen)> {
    if !support::node_v3_interop_available("browser v3 interop") {
        return None;
    }
    let chromium = support::chromium_available("browser v3 interop")?;
    let _dog = support::watchdog(120, "chromium v3 page");
    let root = support::repo_root();
    let (running, seen) = start_server(&root);
    let url = format!("http://{}/?{query}", running.local_addr());
    let mut cmd = Command::new(support::node().expect("node"));
    cmd.current_dir(&root)
        .arg("tests/interop/browser_result.mjs")
        .arg(&url)
        .args(["--timeout-ms", "30000"])
        .env("ENGINEIO_CHROMIUM", chromium);
    let (ok, out) = support::run_with_timeout(cmd, Duration::from_secs(90));
    let line = out
        .lines()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no result line: {out}"));
    assert!(ok, "browser run failed: {out}");
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["ok"], true, "{line}");
    assert_eq!(v["echoed"], echoes, "{line}");
    eprintln!("browser result: {line}");

    // The session's end may still be on its way (the close packet's POST).
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.lock().unwrap().reasons.is_empty() {
        assert!(Instant::now() < deadline, "the server saw no session end");
        std::thread::sleep(Duration::from_millis(20));
    }
    running.shutdown();
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert_eq!(seen.handshakes.len(), 1, "{:?}", seen.handshakes);
    assert_eq!(seen.reasons.len(), 1, "{:?}", seen.reasons);
    assert!(!seen.protocols.is_empty());
    assert!(
        seen.protocols.iter().all(|p| *p == ProtocolVersion::V3),
        "{:?}",
        seen.protocols
    );
    Some((v, seen))
}

#[test]
fn xhr_polling_client_close() {
    let Some((v, seen)) = run_page("transports=polling&close=client&hold=600&big=5000", 54) else {
        return;
    };
    assert_eq!(v["transport"], "polling");
    assert_eq!(v["jsonp"], false);
    assert!(v["pongs"].as_u64().unwrap() >= 1, "{v}");
    assert_eq!(v["closeReason"], "forced close");
    // XHR2 polling asks for binary payloads (no b64).
    assert_eq!(seen.handshakes[0], ("polling".into(), None, None));
    assert_eq!(seen.reasons, ["client disconnect"]);
}

#[test]
fn upgrade_to_websocket_server_close() {
    let Some((v, seen)) = run_page("transports=polling,websocket&upgrade=1&close=server", 52)
    else {
        return;
    };
    assert_eq!(v["transport"], "websocket");
    assert_eq!(v["closeReason"], "transport close");
    assert_eq!(seen.handshakes[0].0, "polling");
    assert_eq!(seen.reasons, ["server disconnect"]);
}

#[test]
fn upgrade_to_websocket_client_close() {
    let Some((v, seen)) = run_page(
        "transports=polling,websocket&upgrade=1&close=client&hold=600",
        52,
    ) else {
        return;
    };
    assert_eq!(v["transport"], "websocket");
    assert!(v["pongs"].as_u64().unwrap() >= 1, "{v}");
    assert_eq!(v["closeReason"], "forced close");
    // Over WebSocket the 3.x client closes the socket without a close packet.
    assert_eq!(seen.reasons, ["transport close"]);
}

#[test]
fn jsonp_polling_client_close() {
    let Some((v, seen)) = run_page(
        "transports=polling&jsonp=1&close=client&hold=600&big=5000",
        54,
    ) else {
        return;
    };
    assert_eq!(v["transport"], "polling");
    assert_eq!(v["jsonp"], true, "the page did not use JSONP: {v}");
    assert!(v["pongs"].as_u64().unwrap() >= 1, "{v}");
    assert_eq!(v["closeReason"], "forced close");
    // JSONP cannot carry binary: the client asks for base64 (b64=1) and names its
    // callback slot (j=0).
    let (transport, j, b64) = &seen.handshakes[0];
    assert_eq!(transport, "polling");
    assert_eq!(j.as_deref(), Some("0"));
    assert_eq!(b64.as_deref(), Some("1"));
    assert_eq!(seen.reasons, ["client disconnect"]);
}

#[test]
fn jsonp_polling_server_close() {
    let Some((v, seen)) = run_page("transports=polling&jsonp=1&close=server", 52) else {
        return;
    };
    assert_eq!(v["transport"], "polling");
    assert_eq!(v["jsonp"], true, "the page did not use JSONP: {v}");
    assert_eq!(v["closeReason"], "transport close");
    assert_eq!(seen.handshakes[0].1.as_deref(), Some("0"));
    assert_eq!(seen.reasons, ["server disconnect"]);
}
