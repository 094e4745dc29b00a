//! A real browser: headless Chromium runs `latency.html` (the official client's browser
//! bundle) against `latency_server` and must complete at least 20 round trips, over
//! polling and after upgrading to WebSocket.

mod support;

use std::process::Command;
use std::time::Duration;

/// Runs `latency.html` in headless Chromium with `transports` and returns the page's
/// result line, checked to be connected with at least 20 round trips on `expected`.
fn run_page(transports: &str, expected: &str) -> serde_json::Value {
    if !support::interop_available("browser interop") {
        return serde_json::Value::Null;
    }
    let Some(chromium) = support::chromium_available("browser interop") else {
        return serde_json::Value::Null;
    };
    let _dog = support::watchdog(150, "chromium latency page");
    let server = support::spawn_example("latency_server", &[]);
    let mut cmd = Command::new(support::node().expect("node"));
    cmd.current_dir(support::repo_root())
        .arg("tests/interop/browser_latency.mjs")
        .arg(&server.base_url)
        .args(["--transports", transports, "--round-trips", "20"])
        .args(["--expect-transport", expected])
        .env("ENGINEIO_CHROMIUM", chromium);
    let (ok, out) = support::run_with_timeout(cmd, Duration::from_secs(120));
    assert!(
        ok,
        "browser run failed: {out}\nserver stderr: {}",
        server.stderr()
    );
    let line = out
        .lines()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no result line: {out}"));
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["ok"], true, "{line}");
    assert_eq!(v["connected"], true, "{line}");
    assert_eq!(v["transport"], expected, "{line}");
    assert!(v["roundTrips"].as_u64().unwrap() >= 20, "{line}");
    eprintln!("browser result: {line}");
    v
}

#[test]
fn chromium_runs_the_latency_page_over_polling() {
    run_page("polling", "polling");
}

#[test]
fn chromium_upgrades_to_websocket_and_measures_round_trips() {
    // The official client's defaults: polling first, then the upgrade.
    run_page("polling,websocket", "websocket");
}
