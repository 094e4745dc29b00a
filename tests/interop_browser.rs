//! A real browser: headless Chromium runs `latency.html` (the official client's browser
//! bundle) against `latency_server` and must complete at least 20 round trips.

mod support;

use std::process::Command;
use std::time::Duration;

#[test]
fn chromium_runs_the_latency_page_over_polling() {
    if !support::interop_available("browser interop") {
        return;
    }
    let chromium = match support::chromium() {
        Some(c) => c,
        None if support::require_interop() => {
            panic!("chromium is missing; run scripts/test.sh")
        }
        None => {
            eprintln!("SKIP: chromium is missing");
            return;
        }
    };
    let _dog = support::watchdog(150, "chromium_runs_the_latency_page_over_polling");
    let server = support::spawn_example("latency_server", &[]);
    let mut cmd = Command::new(support::node().expect("node"));
    cmd.current_dir(support::repo_root())
        .arg("tests/interop/browser_latency.mjs")
        .arg(&server.base_url)
        .args(["--transports", "polling", "--round-trips", "20"])
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
    assert_eq!(v["transport"], "polling", "{line}");
    assert!(v["roundTrips"].as_u64().unwrap() >= 20, "{line}");
    eprintln!("browser result: {line}");
}
