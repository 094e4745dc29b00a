//! Every example answers `--help` (and `-h`) with its flags, on standard output, and
//! exits 0.

use std::process::Command;

mod support;

fn help(name: &str, flags: &[&str]) {
    for arg in ["--help", "-h"] {
        let out = Command::new(support::example_binary(name))
            .arg(arg)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{name} {arg}: {:?}", out.status);
        assert!(
            text.starts_with(&format!("usage: {name}")),
            "{name}: {text}"
        );
        for flag in flags {
            assert!(
                text.contains(flag),
                "{name} {arg} does not mention {flag}: {text}"
            );
        }
    }
}

#[test]
fn echo_server_help() {
    let _dog = support::watchdog(300, "echo_server --help");
    help(
        "echo_server",
        &[
            "--addr",
            "--ping-interval-ms",
            "--ping-timeout-ms",
            "--max-payload",
            "--cors-origin",
            "--transports",
            "--allow-eio3",
        ],
    );
}

#[test]
fn echo_client_help() {
    let _dog = support::watchdog(300, "echo_client --help");
    help(
        "echo_client",
        &[
            "URL",
            "--transports",
            "--count",
            "--timeout-secs",
            "--eio",
            "--force-base64",
            "--proxy-from-env",
            "--ca",
            "--roots",
            "--client-cert",
            "--client-key",
        ],
    );
}

#[test]
fn simple_client_help() {
    let _dog = support::watchdog(300, "simple_client --help");
    help("simple_client", &["URL"]);
}

#[test]
fn latency_server_help() {
    let _dog = support::watchdog(300, "latency_server --help");
    help("latency_server", &["--addr"]);
}
