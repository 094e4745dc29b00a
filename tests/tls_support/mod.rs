//! Helpers for the client's TLS tests (`mod tls_support;` next to `mod support;`): a
//! CA and certificates made at test time with rcgen, the official Node.js echo
//! server serving them (optionally requiring client certificates), and the
//! `echo_client` example built with the feature `tls`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support;
#[allow(unused_imports)]
pub use crate::support::pki::{Ca, Files, Leaf};

/// The Node.js echo server over TLS with a certificate from `ca`, and, with
/// `client_ca`, requiring client certificates signed by it. Its files live in
/// `files`. None (SKIP) when node is missing and not required.
pub fn node_tls_server(
    what: &str,
    ca: &Ca,
    client_ca: Option<&Ca>,
    files: &Files,
) -> Option<support::ChildServer> {
    if !support::interop_available(what) {
        return None;
    }
    let leaf = ca.server();
    let cert = files.write("server.pem", &leaf.cert_pem);
    let key = files.write("server.key", &leaf.key_pem);
    let mut args = vec!["--tls-cert".to_owned(), cert, "--tls-key".to_owned(), key];
    if let Some(client_ca) = client_ca {
        args.push("--tls-ca".to_owned());
        args.push(files.write("client-ca.pem", &client_ca.pem));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = support::spawn_node_script("tests/interop/node_echo_server.mjs", &args);
    assert!(
        server.base_url.starts_with("https://"),
        "{}",
        server.base_url
    );
    Some(server)
}

/// The `echo_client` example built with the feature `tls`.
pub fn echo_client_tls() -> PathBuf {
    support::example_binary_tls("echo_client")
}

/// The proxy variables the client may read, removed from children's environment
/// so that the machine's own settings change nothing.
pub const PROXY_VARS: &[&str] = &[
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
    "REQUEST_METHOD",
];

/// Runs `echo_client` (TLS build) with `args` and `env` (the proxy variables of
/// the machine removed), for at most 60 s: (success, stdout + stderr).
pub fn run_echo_client(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = Command::new(echo_client_tls());
    cmd.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
        .args(args)
        .args(["--count", "5", "--timeout-secs", "30"]);
    for var in PROXY_VARS {
        cmd.env_remove(var);
    }
    for (name, value) in env {
        cmd.env(name, value);
    }
    support::run_with_timeout(cmd, std::time::Duration::from_secs(60))
}
