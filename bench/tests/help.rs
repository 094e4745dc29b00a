//! Every binary of the benchmark answers `--help` with its flags and exits 0.

use std::process::Command;

fn help(exe: &str, flags: &[&str]) {
    let out = Command::new(exe).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{exe}: {:?}", out.status);
    assert!(text.starts_with("usage"), "{exe}: {text}");
    for flag in flags {
        assert!(text.contains(flag), "{exe} does not mention {flag}: {text}");
    }
}

#[test]
fn every_binary_answers_help() {
    help(
        env!("CARGO_BIN_EXE_eio-bench"),
        &["all", "--quick", "--contenders", "report", "serve", "tls"],
    );
    help(
        env!("CARGO_BIN_EXE_bench-ours"),
        &["--port", "--transports", "--tls-cert", "--tls-key"],
    );
    help(env!("CARGO_BIN_EXE_bench-engineioxide"), &["--port"]);
    help(env!("CARGO_BIN_EXE_bench-raw-ws"), &["--port"]);
    help(env!("CARGO_BIN_EXE_bench-raw-tcp"), &["--port"]);
}
