//! `connect` and `probe` over https/wss, against the official Node.js server behind
//! `node:https` with a CA generated at test time: trusted with `--ca`, refused (with
//! the cause) without it, accepted with `--insecure`; and the wrong scheme named.

mod support;

use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use support::pki::Pki as Certs;
use support::{our_server, peers_available, repo_root, run, url_of, Proc};

const T: Duration = Duration::from_secs(30);

struct Pki {
    ca: std::path::PathBuf,
    url: String,
    _server: Proc,
    _certs: Certs,
}

fn start() -> Option<Pki> {
    if !peers_available("tls: node https server", true, &[]) {
        return None;
    }
    let certs = Certs::new("engineio-cli test CA");
    let mut cmd = Command::new(support::node().unwrap());
    cmd.current_dir(repo_root())
        .arg("tests/interop/node_echo_server.mjs")
        .args([
            "--port",
            "0",
            "--tls-cert",
            certs.cert_path.to_str().unwrap(),
        ])
        .args(["--tls-key", certs.key_path.to_str().unwrap()]);
    let server = Proc::spawn(cmd, "node https server");
    let line = server.until(T, |l| l.contains("listening on https://"));
    let url = line[line.find("https://").unwrap()..].trim().to_owned();
    Some(Pki {
        ca: certs.ca_path.clone(),
        url,
        _server: server,
        _certs: certs,
    })
}

#[test]
fn connect_trusts_the_given_ca_and_names_the_missing_one() {
    let Some(pki) = start() else { return };
    let _dog = support::watchdog(60, "tls: connect");
    let ca = pki.ca.to_str().unwrap();
    let input = "{\"text\":\"over tls\"}\n{\"binary\":\"AQID\"}\n";
    for transports in ["polling", "websocket", "polling,websocket"] {
        let (code, out, err) = run(
            &[
                "connect",
                &pki.url,
                "--ca",
                ca,
                "--json",
                "--count",
                "2",
                "--transports",
                transports,
            ],
            input,
            T,
        );
        assert_eq!(code, 0, "{transports}: {out}{err}");
        assert!(
            out.contains(r#"{"event":"message","text":"over tls"}"#),
            "{out}"
        );
        assert!(
            out.contains(r#"{"event":"message","binary":"AQID"}"#),
            "{out}"
        );
    }
    // Without the CA: refused, and why.
    let (code, out, _) = run(&["connect", &pki.url, "--json"], "", T);
    assert_eq!(code, 1, "{out}");
    let err: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(err["kind"], "tls", "{err}");
    assert!(err["hint"].as_str().unwrap().contains("--ca"), "{err}");
    // --insecure: accepted.
    let (code, out, _) = run(&["connect", &pki.url, "-k", "--count", "1"], "hi\n", T);
    assert_eq!(code, 0);
    assert_eq!(out, "< hi\n");
}

#[test]
fn probe_checks_tls_trust() {
    let Some(pki) = start() else { return };
    let _dog = support::watchdog(60, "tls: probe");
    let ca = pki.ca.to_str().unwrap();
    let (code, out, _) = run(
        &["probe", &pki.url, "--ca", ca, "--json", "--pings", "0"],
        "",
        T,
    );
    assert_eq!(code, 0, "{out}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    for t in ["polling", "websocket", "upgrade"] {
        assert_eq!(v["transports"][t]["ok"], true, "{t}: {v:#}");
    }
    let (code, out, _) = run(&["probe", &pki.url, "--json"], "", T);
    assert_eq!(code, 1, "{out}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    let cause = v["problems"][0]["cause"].as_str().unwrap();
    assert!(
        cause.contains("not trusted") && cause.contains("--ca"),
        "{v:#}"
    );
    let (code, _, _) = run(
        &["probe", &pki.url, "--insecure", "--json", "--pings", "0"],
        "",
        T,
    );
    assert_eq!(code, 0);
}

#[test]
fn the_wrong_scheme_is_named() {
    let _dog = support::watchdog(60, "tls: wrong scheme");
    // https:// to a plain server.
    let server = our_server(|b| b);
    let https = url_of(&server).replace("http://", "https://");
    let (code, out, _) = run(&["probe", &https, "--json"], "", T);
    assert_eq!(code, 1, "{out}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    let cause = v["problems"][0]["cause"].as_str().unwrap();
    assert!(cause.contains("does not speak TLS"), "{v:#}");
    let (code, out, err) = run(&["connect", &https], "", T);
    assert_eq!(code, 1, "{out}");
    assert!(err.contains("likely cause"), "{err}");
}

#[test]
fn serve_speaks_https_and_wss() {
    let _dog = support::watchdog(60, "tls: serve");
    let certs = Certs::new("engineio-cli test CA");
    let (cert, key, ca) = (
        certs.cert_path.to_str().unwrap(),
        certs.key_path.to_str().unwrap(),
        certs.ca_path.to_str().unwrap(),
    );
    let (server, addr) = support::serve(&["--tls-cert", cert, "--tls-key", key]);
    let first = server.stdout_so_far().join("\n");
    assert!(
        first.contains(&format!("listening on https://{addr}")),
        "{first}"
    );
    let url = format!("https://{addr}");
    for transports in ["polling", "websocket", "polling,websocket"] {
        let (code, out, err) = run(
            &[
                "connect",
                &url,
                "--ca",
                ca,
                "--transports",
                transports,
                "--count",
                "1",
            ],
            "over tls\n",
            T,
        );
        assert_eq!(code, 0, "{transports}: {out}{err}");
        assert_eq!(out, "< over tls\n", "{transports}: {err}");
    }
    // Plain http to the TLS port: no session.
    let (code, _, err) = run(&["connect", &format!("http://{addr}")], "", T);
    assert_eq!(code, 1, "{err}");
    drop(server);

    // Files that are not a certificate and a key: exit 2, naming the problem.
    let (code, _, err) = run(
        &[
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--tls-cert",
            ca,
            "--tls-key",
            ca,
        ],
        "",
        T,
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--tls-cert/--tls-key"), "{err}");
    // One without the other: a usage error.
    let (code, _, err) = run(&["serve", "--tls-cert", cert], "", T);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--tls-key"), "{err}");
}
