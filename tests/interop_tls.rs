//! Real peers over TLS against our server (feature `tls`): the official node
//! `engine.io-client` over `wss` and `https` polling against `echo_server --tls-cert …`,
//! python-engineio's client over `https`, and headless Chromium loading `latency.html`
//! over `https` and upgrading to `wss`. The CA is made at test time; node trusts it
//! through `NODE_EXTRA_CA_CERTS`, python through `REQUESTS_CA_BUNDLE`, Chromium through
//! its certificate-error switch.

mod support;

use std::process::Command;
use std::time::Duration;

use support::pki::Pki;

fn echo_server(pki: &Pki) -> support::ChildServer {
    let mut cmd = Command::new(support::example_binary_tls("echo_server"));
    cmd.current_dir(support::repo_root()).args([
        "--addr",
        "127.0.0.1:0",
        "--tls-cert",
        pki.cert_path.to_str().unwrap(),
        "--tls-key",
        pki.key_path.to_str().unwrap(),
    ]);
    let server = support::spawn_server(cmd, "echo_server over TLS");
    assert!(
        server.base_url.starts_with("https://"),
        "{}",
        server.base_url
    );
    server
}

fn node_client(transports: &str) {
    if !support::interop_available("node client over TLS") {
        return;
    }
    let _dog = support::watchdog(120, "node client over TLS");
    let pki = Pki::new("engineio test CA");
    let server = echo_server(&pki);
    let mut cmd = Command::new(support::node().expect("node"));
    cmd.current_dir(support::repo_root())
        .env("NODE_EXTRA_CA_CERTS", &pki.ca_path)
        .arg("tests/interop/node_client.mjs")
        .args([
            server.base_url.as_str(),
            "--transports",
            transports,
            "--count",
            "50",
        ]);
    if transports.contains(',') {
        cmd.arg("--expect-upgrade");
    }
    let (ok, out) = support::run_with_timeout(cmd, Duration::from_secs(60));
    assert!(
        ok,
        "node client over TLS: {out}\nserver stderr: {}",
        server.stderr()
    );
    assert!(out.contains(r#""ok":true"#), "{out}");
    let want = if transports == "polling" {
        "polling"
    } else {
        "websocket"
    };
    assert!(out.contains(&format!(r#""transport":"{want}""#)), "{out}");
}

#[test]
fn node_client_over_https_polling() {
    node_client("polling");
}

#[test]
fn node_client_over_wss() {
    node_client("websocket");
}

#[test]
fn node_client_upgrading_from_https_to_wss() {
    node_client("polling,websocket");
}

#[test]
fn python_client_over_https() {
    if !support::interop_available("python client over TLS") {
        return;
    }
    let _dog = support::watchdog(120, "python client over TLS");
    let pki = Pki::new("engineio test CA");
    let server = echo_server(&pki);
    let mut cmd = Command::new(support::python().expect("python"));
    cmd.current_dir(support::repo_root())
        .env("REQUESTS_CA_BUNDLE", &pki.ca_path)
        .arg("tests/interop/python_client.py")
        .arg(&server.base_url)
        .args(["--transports", "polling", "--count", "50"]);
    let (ok, out) = support::run_with_timeout(cmd, Duration::from_secs(60));
    assert!(
        ok,
        "python client over TLS: {out}\nserver stderr: {}",
        server.stderr()
    );
    let line = out
        .lines()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no result line: {out}"));
    assert!(
        line.contains(r#""ok": true"#) || line.contains(r#""ok":true"#),
        "{line}"
    );
}

#[test]
fn chromium_loads_the_page_over_https_and_upgrades_to_wss() {
    if !support::interop_available("browser over TLS") {
        return;
    }
    let Some(chromium) = support::chromium_available("browser over TLS") else {
        return;
    };
    let _dog = support::watchdog(150, "chromium over TLS");
    let pki = Pki::new("engineio test CA");
    let root = support::repo_root();
    let page = root.join("examples/latency/latency.html");
    let bundle = root.join("node_modules/engine.io-client/dist/engine.io.js");
    let server = engineio::server::Server::builder()
        .on_message(|server, sid, msg| {
            let _ = server.send(sid, msg);
        })
        .build()
        .unwrap();
    let app = engineio::server::App::new(server.clone())
        .static_files(
            engineio::server::StaticFiles::new()
                .file("/", page.to_str().unwrap())
                .file("/engine.io.js", bundle.to_str().unwrap()),
        )
        .tls(engineio::server::TlsConfig::from_pem_files(&pki.cert_path, &pki.key_path).unwrap())
        .listen("127.0.0.1:0")
        .unwrap();
    let url = format!("https://{}", app.local_addr());
    let mut cmd = Command::new(support::node().expect("node"));
    cmd.current_dir(&root)
        .arg("tests/interop/browser_latency.mjs")
        .arg(&url)
        .args(["--transports", "polling,websocket", "--round-trips", "20"])
        .args(["--expect-transport", "websocket", "--ignore-https-errors"])
        .env("ENGINEIO_CHROMIUM", chromium);
    let (ok, out) = support::run_with_timeout(cmd, Duration::from_secs(120));
    assert!(ok, "browser over TLS: {out}");
    let line = out
        .lines()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no result line: {out}"));
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["ok"], true, "{line}");
    assert_eq!(v["transport"], "websocket", "{line}");
    assert!(v["roundTrips"].as_u64().unwrap() >= 20, "{line}");
}
