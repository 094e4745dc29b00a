//! `echo_client --ca FILE` (feature `tls`) against the official Node.js server over
//! `https` with a CA made at test time: polling, WebSocket and the upgrade succeed
//! with the CA on top of the default roots; without it the run fails with a clear
//! TLS error and a non-zero exit. `--roots os` reads the operating system's store
//! (here `SSL_CERT_FILE`, which rustls-native-certs honours on Unix).

use std::time::Instant;

mod support;
mod tls_support;

use tls_support::{Ca, Files};

#[test]
fn echo_client_trusts_the_root_given_with_ca() {
    // Building the example may take a while on a cold cache.
    let _dog = support::watchdog(600, "echo_client --ca");
    let ca = Ca::new("engineio test CA");
    let files = Files::new();
    let Some(server) = tls_support::node_tls_server("echo_client --ca", &ca, None, &files) else {
        return;
    };
    tls_support::echo_client_tls();
    let ca_file = files.write("ca.pem", &ca.pem);
    let url = server.base_url.as_str();
    let wss = url.replace("https://", "wss://");
    for (args, want) in [
        (vec![url, "--transports", "polling"], "via polling"),
        (vec![url, "--transports", "websocket"], "via websocket"),
        (
            vec![wss.as_str(), "--transports", "websocket"],
            "via websocket",
        ),
        (vec![url], "via websocket"),
        // Both built-in sets with the CA on top.
        (vec![url, "--roots", "both"], "via websocket"),
    ] {
        let started = Instant::now();
        let mut args = args.clone();
        args.extend(["--ca", &ca_file]);
        let (ok, out) = tls_support::run_echo_client(&args, &[]);
        println!(
            "echo_client {args:?}: {:?}: {}",
            started.elapsed(),
            out.trim()
        );
        assert!(ok, "{args:?}: {out}\n{}", server.stderr());
        assert!(
            out.contains("OK 10 echoed") && out.contains(want),
            "{args:?}: {out}"
        );
    }
}

#[test]
fn echo_client_without_ca_reports_a_tls_error() {
    let _dog = support::watchdog(600, "echo_client without --ca");
    let ca = Ca::new("engineio test CA");
    let files = Files::new();
    let Some(server) = tls_support::node_tls_server("echo_client without --ca", &ca, None, &files)
    else {
        return;
    };
    let url = server.base_url.as_str();
    let other = files.write("other.pem", &Ca::new("another CA").pem);
    for args in [
        vec![url, "--transports", "polling"],
        vec![url, "--transports", "websocket"],
        vec![url, "--roots", "os"],
        vec![url, "--ca", &other],
    ] {
        let (ok, out) = tls_support::run_echo_client(&args, &[]);
        println!("echo_client {args:?}: {}", out.trim());
        assert!(!ok, "{args:?}: {out}");
        assert!(
            out.contains("echo_client: FAILED: connect failed: TLS error")
                && out.contains("UnknownIssuer"),
            "{args:?}: {out}"
        );
    }
    // A file that is not a certificate is refused before connecting.
    let junk = files.write("junk.pem", "not a certificate");
    let (ok, out) = tls_support::run_echo_client(&[url, "--ca", &junk], &[]);
    assert!(!ok && out.contains("bad configuration: TLS error"), "{out}");
    let (ok, out) = tls_support::run_echo_client(&[url, "--ca", "/nonexistent/ca.pem"], &[]);
    assert!(
        !ok && out.contains("cannot read /nonexistent/ca.pem"),
        "{out}"
    );
}

#[test]
fn echo_client_roots_os_reads_the_systems_store() {
    let _dog = support::watchdog(600, "echo_client --roots os");
    let ca = Ca::new("engineio test CA");
    let files = Files::new();
    let Some(server) = tls_support::node_tls_server("echo_client --roots os", &ca, None, &files)
    else {
        return;
    };
    let url = server.base_url.as_str();
    let ca_file = files.write("ca.pem", &ca.pem);
    if cfg!(unix) {
        // An empty SSL_CERT_DIR counts as unset: SSL_CERT_FILE alone is the store.
        // A store holding the test CA: trusted on both transports.
        for transports in ["polling", "websocket"] {
            let (ok, out) = tls_support::run_echo_client(
                &[url, "--roots", "os", "--transports", transports],
                &[("SSL_CERT_FILE", &ca_file), ("SSL_CERT_DIR", "")],
            );
            assert!(ok, "{transports}: {out}");
        }
        // Mozilla's roots do not read it.
        let (ok, out) = tls_support::run_echo_client(
            &[url],
            &[("SSL_CERT_FILE", &ca_file), ("SSL_CERT_DIR", "")],
        );
        assert!(!ok && out.contains("TLS error"), "{out}");
        // A store without a usable certificate is refused before connecting.
        let (ok, out) = tls_support::run_echo_client(
            &[url, "--roots", "os"],
            &[
                ("SSL_CERT_FILE", "/nonexistent/certs.pem"),
                ("SSL_CERT_DIR", ""),
            ],
        );
        println!("{}", out.trim());
        assert!(
            !ok && out.contains("bad configuration: TLS error")
                && out.contains("operating system's trust store"),
            "{out}"
        );
    }
}
