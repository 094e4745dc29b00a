//! `engineio bench` runs short loads against our server (over plain TCP and over TLS)
//! and prints what it measured.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use engineio::server::{App, Listening, Server, TlsConfig};
use serde_json::Value;
use support::pki::Pki;
use support::{our_server, run, url_of};

const T: Duration = Duration::from_secs(60);

#[test]
fn a_closed_loop_against_our_server_prints_percentiles() {
    let _dog = support::watchdog(60, "bench: closed loop");
    let server = our_server(|b| b);
    let (code, out, _) = run(&["bench", &url_of(&server), "-c", "8", "-d", "1s"], "", T);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("8 websocket connections, closed loop"),
        "{out}"
    );
    assert!(out.contains("connect     8 of 8 sessions open"), "{out}");
    let latency = out.lines().find(|l| l.starts_with("latency")).expect(&out);
    for p in ["min", "p50", "p90", "p99", "p99.9", "max", "from each send"] {
        assert!(latency.contains(p), "{latency}");
    }
    assert!(out.contains("errors      none"), "{out}");
    // No progress bar when stderr is not a terminal.
}

#[test]
fn an_open_loop_over_polling_in_json() {
    let _dog = support::watchdog(60, "bench: open loop");
    let server = our_server(|b| b);
    let (code, out, _) = run(
        &[
            "bench",
            &url_of(&server),
            "--json",
            "-t",
            "polling",
            "-c",
            "4",
            "-r",
            "400",
            "-d",
            "1s",
            "--warmup",
            "200ms",
            "-s",
            "64",
        ],
        "",
        T,
    );
    assert_eq!(code, 0, "{out}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["mode"], "open");
    assert_eq!(v["transport"], "polling");
    assert_eq!(v["opened"], 4);
    assert_eq!(v["message_bytes"], 64);
    // 400 msg/s for 1 s: every message scheduled in the window echoed.
    let sent = v["sent"].as_u64().unwrap();
    assert!((380..=420).contains(&sent), "{v}");
    assert_eq!(v["received"], sent, "{v}");
    assert_eq!(v["lost"], 0);
    let l = &v["latency_ms"];
    assert_eq!(l["count"], sent);
    assert!(
        l["p50"].as_f64().unwrap() > 0.0 && l["p99"].as_f64() >= l["p50"].as_f64(),
        "{l}"
    );
    assert!(v["errors"].as_object().unwrap().is_empty(), "{v}");
}

#[test]
fn failures_are_counted_by_kind() {
    let _dog = support::watchdog(60, "bench: failures");
    // Nothing listens: no session opens, exit 1, the errors by kind.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", free.local_addr().unwrap());
    drop(free);
    let (code, out, _) = run(&["bench", &dead, "--json", "-c", "3", "-d", "1s"], "", T);
    assert_eq!(code, 1, "{out}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["opened"], 0);
    assert_eq!(v["errors"]["connect"]["count"], 3, "{v}");

    // A wrong path: every handshake refused with 404.
    let server = our_server(|b| b);
    let (code, out, _) = run(
        &[
            "bench",
            &format!("{}/nope/", url_of(&server)),
            "-c",
            "2",
            "-d",
            "1s",
        ],
        "",
        T,
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("2 × websocket refused") && out.contains("404"),
        "{out}"
    );

    // --ca and --insecure belong to https/wss.
    let (code, _, err) = run(&["bench", &url_of(&server), "-k"], "", T);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("https://"), "{err}");
}

/// Our echo server over https/wss with a certificate from a CA made now; the CA's PEM
/// file.
fn our_tls_server() -> (Listening, Pki, PathBuf) {
    let pki = Pki::new("engineio-cli bench test CA");
    let ca_file = pki.ca_path.clone();
    let server = Server::builder()
        .on_message(|server, sid, msg| {
            let _ = server.send(sid, msg);
        })
        .build()
        .unwrap();
    let tls = TlsConfig::from_pem(pki.cert_pem.as_bytes(), pki.key_pem.as_bytes()).unwrap();
    let listening = App::new(server).tls(tls).listen("127.0.0.1:0").unwrap();
    (listening, pki, ca_file)
}

#[test]
fn over_tls_trusting_the_given_ca_or_anything() {
    let _dog = support::watchdog(90, "bench: tls");
    let (server, _dir, ca) = our_tls_server();
    let https = format!("https://{}", server.local_addr());
    let ca = ca.to_str().unwrap();

    // wss, trusting the CA: every echo over TLS 1.3.
    let wss = https.replace("https://", "wss://");
    let (code, out, err) = run(
        &["bench", &wss, "--ca", ca, "--json", "-c", "4", "-d", "1s"],
        "",
        T,
    );
    assert_eq!(code, 0, "{out}{err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["opened"], 4, "{v}");
    assert!(v["received"].as_u64().unwrap() > 0, "{v}");
    assert!(v["errors"].as_object().unwrap().is_empty(), "{v}");
    assert!(
        v["tls"].as_str().unwrap().starts_with("TLSv1_3 TLS13_"),
        "{v}"
    );

    // https over polling, any certificate accepted; the human report names the TLS.
    let (code, out, _) = run(
        &[
            "bench", &https, "-k", "-t", "polling", "-c", "2", "-r", "100", "-d", "1s",
        ],
        "",
        T,
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("tls         TLSv1_3"), "{out}");
    assert!(out.contains("errors      none"), "{out}");

    // Neither: Mozilla's roots do not know this CA; counted as tls errors, with a hint.
    let (code, out, _) = run(&["bench", &https, "-c", "2", "-d", "1s"], "", T);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("2 × tls") && out.contains("certificate"),
        "{out}"
    );
    assert!(out.contains("--ca FILE"), "{out}");
}
