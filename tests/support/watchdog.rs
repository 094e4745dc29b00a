//! The watchdog that turns a hanging test into an abort instead of a hung CI job, and
//! the registry of child processes it kills first. Shared by every test crate of the
//! workspace (`#[path = ".../tests/support/watchdog.rs"] mod watchdog;`).
#![allow(dead_code)]

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::Duration;

// ------------------------------------------------------------------ child registry

/// Ids of live children, killed by the watchdog before it aborts the process.
fn live_children() -> &'static Mutex<Vec<u32>> {
    static CHILDREN: OnceLock<Mutex<Vec<u32>>> = OnceLock::new();
    CHILDREN.get_or_init(|| Mutex::new(Vec::new()))
}

pub fn register_child(id: u32) {
    live_children()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(id);
}

pub fn unregister_child(id: u32) {
    live_children()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|&c| c != id);
}

pub fn kill_registered_children() {
    let ids: Vec<u32> = live_children()
        .lock()
        .map(|v| v.clone())
        .unwrap_or_default();
    for id in ids {
        #[cfg(unix)]
        let _ = Command::new("kill")
            .args(["-KILL", &id.to_string()])
            .stderr(Stdio::null())
            .status();
        #[cfg(windows)]
        let _ = Command::new("taskkill")
            .args(["/F", "/PID", &id.to_string()])
            .status();
    }
}

// ------------------------------------------------------------------ watchdog

/// Aborts the whole test process if not dropped within its time limit, so a
/// hanging test fails loudly instead of hanging CI. Create one at the top of
/// a test: `let _wd = support::watchdog(60, "my test");`.
#[must_use = "the watchdog is disarmed as soon as it is dropped"]
pub struct Watchdog {
    disarm: Option<mpsc::Sender<()>>,
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        // Dropping the sender wakes the watchdog thread, which then exits.
        self.disarm.take();
    }
}

/// Starts a [`Watchdog`]: if it is still alive after `secs` seconds, prints
/// `what` to stderr, kills the registered child processes and
/// aborts the process.
pub fn watchdog(secs: u64, what: &'static str) -> Watchdog {
    let (tx, rx) = mpsc::channel::<()>();
    thread::Builder::new()
        .name(format!("watchdog:{what}"))
        .spawn(move || {
            if let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(Duration::from_secs(secs)) {
                // Write to the real stderr: the test harness's output capture
                // would be lost when the process aborts.
                let _ = writeln!(
                    std::io::stderr(),
                    "\nWATCHDOG: `{what}` did not finish within {secs} s; killing child processes and aborting"
                );
                kill_registered_children();
                std::process::abort();
            }
        })
        .expect("spawn watchdog thread");
    Watchdog { disarm: Some(tx) }
}
