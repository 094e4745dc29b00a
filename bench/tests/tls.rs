//! The tls scenario's two sides, small and short, against the contenders that serve
//! https/wss: bench-ours (built with this package) and the Node server (when node and
//! the npm packages are there; required under `ENGINEIO_REQUIRE_INTEROP=1`). Each
//! started with a certificate made now, as a run does. A watchdog per test; the
//! assertions count messages and name the TLS, never time anything.

use std::path::PathBuf;

use eio_bench::contenders::{self, Contender, Paths};
use eio_bench::pki::Certificate;
use eio_bench::scenarios::{tls, Settings};

/// The watchdog: the root crate's, shared.
#[path = "../../tests/support/watchdog.rs"]
mod watchdog;
use watchdog::watchdog;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn contender(name: &str) -> Contender {
    let ours = PathBuf::from(env!("CARGO_BIN_EXE_bench-ours"));
    let paths = Paths {
        repo: repo(),
        bin_dir: ours.parent().unwrap().to_path_buf(),
        ours_bin: ours,
        python: PathBuf::from("python3"),
        node: node(),
        redis: PathBuf::from("redis-server"),
    };
    contenders::all(&paths)
        .into_iter()
        .find(|c| c.name == name)
        .unwrap()
}

/// Node.js: `ENGINEIO_NODE`, else `node` on `PATH`.
fn node() -> PathBuf {
    std::env::var_os("ENGINEIO_NODE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("node"))
}

fn tiny() -> Settings {
    Settings {
        echo_connections: 4,
        latency_secs: 0.3,
        throughput_secs: 0.3,
        warmup_secs: 0.1,
        tls_rates: vec![200],
        ..Settings::quick()
    }
}

/// Both sides against `name`: over TLS with the certificate, then plain.
fn both_sides(name: &str) {
    let c = contender(name);
    assert!(c.tls, "{name} serves TLS");
    let cert = Certificate::generate().unwrap();
    let logs = tempfile_dir();
    let s = tiny();

    let server = c.start_with(&logs, &cert.server_args(), name).unwrap();
    let side = tls::run(&server, Some(&cert), &s).unwrap_or_else(|e| panic!("{name}: {e}"));
    server.stop();
    let session = side.session.as_deref().unwrap();
    assert!(session.starts_with("TLSv1_3 TLS13_"), "{session}");
    let p = &side.latency[0];
    assert_eq!(p.rate, 200);
    assert!(p.sent > 0 && p.received == p.sent, "{p:?}");
    assert!(side.throughput.msgs_per_sec > 0.0);
    assert_eq!(side.throughput.disconnects, 0);

    let server = c.start(&logs).unwrap();
    let plain = tls::run(&server, None, &s).unwrap_or_else(|e| panic!("{name}: {e}"));
    server.stop();
    assert!(plain.session.is_none());
    assert_eq!(plain.latency[0].received, plain.latency[0].sent);
    let _ = std::fs::remove_dir_all(&logs);
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "eio-bench-test-logs-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn ours_over_tls_and_plain() {
    let _dog = watchdog(120, "tls scenario: ours");
    both_sides("ours");
}

#[test]
fn node_over_tls_and_plain() {
    let have_node = std::process::Command::new(node())
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let have_packages = repo().join("node_modules/engine.io").is_dir();
    if !(have_node && have_packages) {
        let required = std::env::var("ENGINEIO_REQUIRE_INTEROP").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "node or node_modules missing (run scripts/setup-test-deps.sh)"
        );
        eprintln!("SKIP node over TLS: node or node_modules missing");
        return;
    }
    let _dog = watchdog(120, "tls scenario: node");
    both_sides("node");
}
