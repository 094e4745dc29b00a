//! Helpers shared by the integration and interop tests (`mod support;`).
//!
//! Standard library only. Interop tests talk to real peers in child
//! processes: the crate's own examples (`target/<profile>/examples/...`),
//! Node.js scripts under `tests/interop/` (official `engine.io` /
//! `engine.io-client` from `node_modules`, 6.x and, for Engine.IO v3, 3.x under the
//! aliases `engine.io-v3` / `engine.io-client-v3`), Python (python-engineio 4.x in
//! `.venv`, 3.14 in `.venv-v3`) and Chromium. `scripts/test.sh` installs them and sets:
//!
//! - `ENGINEIO_REQUIRE_INTEROP=1`: a missing peer is a failure, not a skip
//!   (`CI=true` has the same effect);
//! - `ENGINEIO_NODE`, `ENGINEIO_PYTHON`, `ENGINEIO_PYTHON_V3`, `ENGINEIO_CHROMIUM`:
//!   the programs;
//! - `ENGINEIO_REPO`: the repository root.
//!
//! Every child process is killed when its guard is dropped (also on panic),
//! and [`watchdog`] turns a hanging test into an abort instead of a hung CI job.

#![allow(dead_code)]

pub mod connect_proxy;
pub mod fakehttp;
#[cfg(feature = "tls")]
pub mod pki;
pub mod rawhttp;
pub mod rawws;
pub mod watchdog;

pub use watchdog::watchdog;
use watchdog::{register_child, unregister_child};

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// How long a spawned server may take to print its `listening on` line.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `node_client.mjs` may run before it is killed.
const NODE_CLIENT_TIMEOUT: Duration = Duration::from_secs(60);
/// The line a server prints once it accepts connections.
const LISTENING_MARKER: &str = "listening on http://";
/// The same line from a server speaking TLS.
const LISTENING_MARKER_TLS: &str = "listening on https://";

// ------------------------------------------------------------------ environment

/// True when interop peers must be present (`ENGINEIO_REQUIRE_INTEROP=1` or
/// `CI=true`): a missing peer then fails the test instead of skipping it.
#[allow(dead_code)]
pub fn require_interop() -> bool {
    env_is("ENGINEIO_REQUIRE_INTEROP", &["1", "true", "yes"]) || env_is("CI", &["true", "1"])
}

fn env_is(name: &str, truthy: &[&str]) -> bool {
    std::env::var(name)
        .map(|v| truthy.iter().any(|t| v.trim().eq_ignore_ascii_case(t)))
        .unwrap_or(false)
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The repository root: `ENGINEIO_REPO`, else the crate's manifest directory.
#[allow(dead_code)]
pub fn repo_root() -> PathBuf {
    env_path("ENGINEIO_REPO").unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// Searches `PATH` for an executable called `name`.
#[allow(dead_code)]
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX)))
        .find(|candidate| candidate.is_file())
}

/// The Node.js binary: `ENGINEIO_NODE`, else `node` on `PATH`.
#[allow(dead_code)]
pub fn node() -> Option<PathBuf> {
    match env_path("ENGINEIO_NODE") {
        Some(p) if p.is_file() => Some(p),
        Some(_) => None,
        None => which("node"),
    }
}

/// The Python interpreter with python-engineio: `ENGINEIO_PYTHON`, else
/// `<repo>/.venv/bin/python` when it exists.
#[allow(dead_code)]
pub fn python() -> Option<PathBuf> {
    match env_path("ENGINEIO_PYTHON") {
        Some(p) if p.is_file() => Some(p),
        Some(_) => None,
        None => Some(repo_root().join(".venv/bin/python")).filter(|p| p.is_file()),
    }
}

/// The Python interpreter with python-engineio 3.14 (Engine.IO v3):
/// `ENGINEIO_PYTHON_V3`, else `<repo>/.venv-v3/bin/python` when it exists.
#[allow(dead_code)]
pub fn python_v3() -> Option<PathBuf> {
    match env_path("ENGINEIO_PYTHON_V3") {
        Some(p) if p.is_file() => Some(p),
        Some(_) => None,
        None => Some(repo_root().join(".venv-v3/bin/python")).filter(|p| p.is_file()),
    }
}

/// Chromium for the browser tests: `ENGINEIO_CHROMIUM`, else `/usr/bin/chromium`.
#[allow(dead_code)]
pub fn chromium() -> Option<PathBuf> {
    match env_path("ENGINEIO_CHROMIUM") {
        Some(p) if p.is_file() => Some(p),
        Some(_) => None,
        None => Some(PathBuf::from("/usr/bin/chromium")).filter(|p| p.is_file()),
    }
}

/// Chromium, or `None` after [`peer_missing`] (which panics when interop is required).
#[allow(dead_code)]
pub fn chromium_available(what: &str) -> Option<PathBuf> {
    chromium().or_else(|| {
        peer_missing(
            what,
            "chromium missing (set ENGINEIO_CHROMIUM, or run scripts/test.sh, which installs it)",
        );
        None
    })
}

/// A peer the test `what` needs is missing, as `missing` says: panics when interop is
/// required (see [`require_interop`]); otherwise prints a SKIP line and returns false,
/// so that the caller returns early. The line goes straight to stderr, past the test
/// harness's capture, so that the skip is visible although the test passes.
pub fn peer_missing(what: &str, missing: &str) -> bool {
    if require_interop() {
        panic!("{what}: {missing}");
    }
    let _ = writeln!(std::io::stderr(), "SKIP {what}: {missing}");
    false
}

/// True when `npm ci` has installed the Node.js peers.
#[allow(dead_code)]
pub fn node_modules_ready() -> bool {
    repo_root().join("node_modules/engine.io-client").is_dir()
}

/// Whether the Node.js interop peers can run. When they cannot: panics if
/// interop is required (see [`require_interop`]), otherwise prints a SKIP line
/// and returns false, so the caller returns early.
#[allow(dead_code)]
pub fn interop_available(what: &str) -> bool {
    let node = node();
    let modules = node_modules_ready();
    if node.is_some() && modules {
        return true;
    }
    let mut missing = Vec::new();
    if node.is_none() {
        missing.push("node (set ENGINEIO_NODE or put node on PATH)".to_string());
    }
    if !modules {
        missing.push(format!(
            "{}/node_modules/engine.io-client (run npm ci)",
            repo_root().display()
        ));
    }
    peer_missing(
        what,
        &format!(
            "node/npm packages missing ({}); run scripts/test.sh to install them",
            missing.join(", ")
        ),
    )
}

/// Whether the Node.js Engine.IO v3 peers (`engine.io-client` 3.x and `engine.io`
/// 3.x, installed under the aliases `engine.io-client-v3` and `engine.io-v3`) can
/// run; as [`interop_available`]: panics when interop is required, else prints SKIP.
#[allow(dead_code)]
pub fn node_v3_interop_available(what: &str) -> bool {
    if !interop_available(what) {
        return false;
    }
    let missing: Vec<String> = ["engine.io-client-v3", "engine.io-v3"]
        .iter()
        .map(|m| repo_root().join("node_modules").join(m))
        .filter(|p| !p.is_dir())
        .map(|p| p.display().to_string())
        .collect();
    missing.is_empty()
        || peer_missing(
            what,
            &format!(
                "Engine.IO v3 npm packages missing: {} (run scripts/test.sh)",
                missing.join(", ")
            ),
        )
}

/// Whether the Python interop peer (python-engineio in the venv) can run; as
/// [`interop_available`]: panics when interop is required, else prints SKIP.
#[allow(dead_code)]
pub fn python_interop_available(what: &str) -> bool {
    let python = python();
    let ok = python.as_ref().is_some_and(|p| {
        Command::new(p)
            .args(["-c", "import engineio, simple_websocket"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if ok {
        return true;
    }
    let missing = match python {
        None => format!(
            "{}/.venv/bin/python (set ENGINEIO_PYTHON or run scripts/setup-test-deps.sh)",
            repo_root().display()
        ),
        Some(p) => format!(
            "python-engineio/simple-websocket in {} (run scripts/setup-test-deps.sh)",
            p.display()
        ),
    };
    peer_missing(what, &format!("Python peer missing: {missing}"))
}

/// Whether the Python Engine.IO v3 peer (python-engineio 3.14 with requests,
/// websocket-client and simple-websocket, in `.venv-v3`) can run; as
/// [`interop_available`]: panics when interop is required, else prints SKIP.
#[allow(dead_code)]
pub fn python_v3_interop_available(what: &str) -> bool {
    let python = python_v3();
    let ok = python.as_ref().is_some_and(|p| {
        Command::new(p)
            .args([
                "-c",
                "import engineio, requests, websocket, simple_websocket; \
                 assert engineio.__version__.startswith('3.14.'), engineio.__version__",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if ok {
        return true;
    }
    let missing = match python {
        None => format!(
            "{}/.venv-v3/bin/python (set ENGINEIO_PYTHON_V3 or run scripts/setup-test-deps.sh)",
            repo_root().display()
        ),
        Some(p) => format!(
            "python-engineio 3.14 and its client/server dependencies in {} \
             (run scripts/setup-test-deps.sh)",
            p.display()
        ),
    };
    peer_missing(what, &format!("Python v3 peer missing: {missing}"))
}

// ------------------------------------------------------------------ examples

fn cargo() -> PathBuf {
    env_path("CARGO").unwrap_or_else(|| PathBuf::from("cargo"))
}

/// `cargo build` for the crate under test (which is not necessarily
/// ENGINEIO_REPO), in the profile whose output directory is `profile_dir`, and
/// without the variables cargo sets for a test process: a build script that
/// watches one of them (ring's watches CARGO_MANIFEST_DIR) would otherwise
/// rebuild on every call.
fn cargo_build(profile_dir: &Path) -> Command {
    let mut cmd = Command::new(cargo());
    cmd.current_dir(env!("CARGO_MANIFEST_DIR")).arg("build");
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("CARGO_PKG_")
            || [
                "CARGO_MANIFEST_DIR",
                "CARGO_MANIFEST_PATH",
                "CARGO_CRATE_NAME",
                "CARGO_BIN_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
                "CARGO_RUSTC_CURRENT_DIR",
            ]
            .contains(&name.as_ref())
        {
            cmd.env_remove(name.as_ref());
        }
    }
    match profile_dir.file_name().and_then(OsStr::to_str) {
        Some("debug") | None => {}
        Some("release") => {
            cmd.arg("--release");
        }
        Some(other) => {
            cmd.args(["--profile", other]);
        }
    }
    cmd
}

/// Path of example `name` built with the `tls` feature (a copy named `<name>-tls`
/// next to the examples, so that a later plain build cannot replace it under us).
#[allow(dead_code)]
pub fn example_binary_tls(name: &str) -> PathBuf {
    example_binary_with_feature(name, "tls")
}

/// Path of example `name` built with `feature`, copied aside as `<name>-<feature>`;
/// built once per process.
fn example_binary_with_feature(name: &str, feature: &str) -> PathBuf {
    static BUILT: Mutex<Vec<(String, PathBuf)>> = Mutex::new(Vec::new());
    let key = format!("{name}-{feature}");
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, path)) = built.iter().find(|(n, _)| *n == key) {
        return path.clone();
    }
    let plain = example_binary(name);
    let _serial = BUILDS.lock().unwrap_or_else(|e| e.into_inner());
    let profile_dir = plain
        .parent()
        .and_then(Path::parent)
        .expect("examples live in target/<profile>/examples");
    let mut cmd = cargo_build(profile_dir);
    cmd.args(["--example", name, "--features", feature]);
    let status = cmd
        .stdin(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(status.success(), "{cmd:?} failed: {status}");
    let copy = plain.with_file_name(format!("{key}{}", std::env::consts::EXE_SUFFIX));
    // Copied aside, then renamed over: another test process may be running the old one.
    let tmp = plain.with_file_name(format!("{key}.{}.tmp", std::process::id()));
    std::fs::copy(&plain, &tmp).unwrap_or_else(|e| panic!("copying {}: {e}", plain.display()));
    std::fs::rename(&tmp, &copy).unwrap_or_else(|e| panic!("renaming {}: {e}", tmp.display()));
    built.push((key, copy.clone()));
    copy
}

/// Serialises the feature builds of examples with the plain ones in this process.
static BUILDS: Mutex<()> = Mutex::new(());

/// Path of the built example `name`, next to the running test binary
/// (`target/<profile>/deps/<test>` → `target/<profile>/examples/<name>`).
/// Runs `cargo build --example <name>` (same profile, in this crate's manifest
/// directory) once per process when the
/// binary is missing or older than the test binary, and panics if that fails.
#[allow(dead_code)]
pub fn example_binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<Vec<String>>> = OnceLock::new();

    let exe = std::env::current_exe().expect("current_exe");
    let deps_dir = exe.parent().expect("test binary has a parent directory");
    let profile_dir = if deps_dir.file_name() == Some(OsStr::new("deps")) {
        deps_dir.parent().expect("deps directory has a parent")
    } else {
        deps_dir
    };
    let path = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));

    // Serialise builds within this process; cargo's own lock handles the rest.
    let _serial = BUILDS.lock().unwrap_or_else(|e| e.into_inner());
    let mut built = BUILT
        .get_or_init(|| Mutex::new(Vec::new()))
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if built.iter().any(|b| b == name) {
        return path;
    }
    let stale = match (mtime(&path), mtime(&exe)) {
        (Some(example), Some(test)) => example < test,
        (None, _) => true,
        (Some(_), None) => false,
    };
    if stale {
        let mut cmd = cargo_build(profile_dir);
        cmd.args(["--example", name]);
        let status = cmd
            .stdin(Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
        assert!(status.success(), "{cmd:?} failed: {status}");
        assert!(
            path.is_file(),
            "{cmd:?} succeeded but {} does not exist",
            path.display()
        );
    }
    built.push(name.to_string());
    path
}

fn mtime(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

// ------------------------------------------------------------------ client events

/// How a client test talks to a server: polling only, WebSocket only, or polling then
/// the upgrade.
#[allow(dead_code)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Polling,
    WebSocket,
    Upgrade,
}

#[allow(dead_code)]
impl Mode {
    /// The transports the client is given.
    pub fn transports(self) -> &'static [engineio::Transport] {
        use engineio::Transport;
        match self {
            Mode::Polling => &[Transport::Polling],
            Mode::WebSocket => &[Transport::WebSocket],
            Mode::Upgrade => &[Transport::Polling, Transport::WebSocket],
        }
    }

    /// The transport the session ends up on.
    pub fn final_transport(self) -> engineio::Transport {
        match self {
            Mode::Polling => engineio::Transport::Polling,
            Mode::WebSocket | Mode::Upgrade => engineio::Transport::WebSocket,
        }
    }
}

/// The next message event, skipping `Connect`; panics on any other event, or after
/// 15 s without one.
#[allow(dead_code)]
pub fn next_message(events: &engineio::client::Events) -> engineio::Message {
    use engineio::client::Event;
    loop {
        match events.recv_timeout(Duration::from_secs(15)) {
            Ok(Event::Message(m)) => return m,
            Ok(Event::Connect) => continue,
            other => panic!("expected a message, got {other:?}"),
        }
    }
}

/// Polls `ok` every 5 ms until it holds; panics naming `what` after `timeout`.
#[allow(dead_code)]
pub fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

// ------------------------------------------------------------------ servers

/// A server running in a child process; killed (and reaped) on drop.
pub struct ChildServer {
    child: Child,
    /// Kept open so that servers which exit when stdin closes (the Node.js
    /// scripts) also go away if this process dies.
    stdin: Option<ChildStdin>,
    /// The address from the server's `listening on http://<addr>` line.
    pub addr: SocketAddr,
    /// `http://<addr>` (`https://` for a TLS server), without a trailing slash.
    pub base_url: String,
    what: String,
    stdout_lines: Arc<Mutex<VecDeque<String>>>,
    stderr_text: Arc<Mutex<String>>,
}

#[allow(dead_code)]
impl ChildServer {
    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the child wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr_text
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// Waits (at most 10 s) for `echo_server` to report a session's end and returns
    /// its reason (from the line `disconnect SID REASON`); fails if none comes, or if
    /// more than one session ended.
    pub fn single_disconnect_reason(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let lines = self.stdout();
            let ends: Vec<&String> = lines
                .iter()
                .filter(|l| l.starts_with("disconnect "))
                .collect();
            if let Some(first) = ends.first() {
                assert_eq!(ends.len(), 1, "{lines:?}");
                return first.splitn(3, ' ').nth(2).unwrap_or("").to_string();
            }
            assert!(Instant::now() < deadline, "no disconnect seen: {lines:?}");
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// The most recent lines the child wrote on stdout (up to 1000).
    pub fn stdout(&self) -> Vec<String> {
        self.stdout_lines
            .lock()
            .map(|l| l.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Whether the child is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Kills the child and waits for it (also done on drop).
    pub fn kill(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
        unregister_child(self.child.id());
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        self.kill();
    }
}

impl std::fmt::Debug for ChildServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildServer")
            .field("what", &self.what)
            .field("pid", &self.child.id())
            .field("addr", &self.addr)
            .finish()
    }
}

/// Starts the crate's example `name` with `--addr 127.0.0.1:0` plus `args`
/// and waits (30 s at most) for its `listening on http://<addr>` line.
#[allow(dead_code)]
pub fn spawn_example(name: &str, args: &[&str]) -> ChildServer {
    let mut cmd = Command::new(example_binary(name));
    cmd.current_dir(repo_root())
        .args(["--addr", "127.0.0.1:0"])
        .args(args);
    spawn_server(cmd, &format!("example {name}"))
}

/// Starts `node <script> <args>` (script relative to the repository root) and
/// waits for its `listening on http://<addr>` line. The script chooses its own
/// port (the Node.js servers take `--port 0`).
#[allow(dead_code)]
pub fn spawn_node_script(script: &str, args: &[&str]) -> ChildServer {
    let node = node().expect("node not found (set ENGINEIO_NODE or put node on PATH)");
    let mut cmd = Command::new(node);
    cmd.current_dir(repo_root()).arg(script).args(args);
    spawn_server(cmd, &format!("node {script}"))
}

/// Starts `<venv python> <script> <args>` (script relative to the repository root)
/// and waits for its `listening on http://<addr>` line. The Python servers take
/// `--port 0`.
#[allow(dead_code)]
pub fn spawn_python_script(script: &str, args: &[&str]) -> ChildServer {
    let python = python().expect("python not found (set ENGINEIO_PYTHON or create .venv)");
    let mut cmd = Command::new(python);
    cmd.current_dir(repo_root()).arg(script).args(args);
    spawn_server(cmd, &format!("python {script}"))
}

/// As [`spawn_python_script`], with the Engine.IO v3 venv's interpreter
/// ([`python_v3`]).
#[allow(dead_code)]
pub fn spawn_python_v3_script(script: &str, args: &[&str]) -> ChildServer {
    let python =
        python_v3().expect("python v3 not found (set ENGINEIO_PYTHON_V3 or create .venv-v3)");
    let mut cmd = Command::new(python);
    cmd.current_dir(repo_root()).arg(script).args(args);
    spawn_server(cmd, &format!("python v3 {script}"))
}

/// Spawns `cmd` (stdin, stdout and stderr piped) and waits for its
/// `listening on http://<addr>` line; panics with everything it printed if
/// the line does not come within 30 s or the process exits first.
#[allow(dead_code)]
pub fn spawn_server(mut cmd: Command, what: &str) -> ChildServer {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot spawn {cmd:?}: {e}"));
    register_child(child.id());
    let stdin = child.stdin.take();
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");

    let stderr_text = Arc::new(Mutex::new(String::new()));
    spawn_stderr_drain(stderr, Arc::clone(&stderr_text), what.to_string());

    // The reader thread sends every line until the address is found, then
    // keeps draining so the child never blocks on a full pipe.
    let stdout_lines = Arc::new(Mutex::new(VecDeque::new()));
    let (tx, rx) = mpsc::channel::<Result<String, String>>();
    {
        let lines_store = Arc::clone(&stdout_lines);
        let label = what.to_string();
        thread::Builder::new()
            .name(format!("stdout:{label}"))
            .spawn(move || {
                let mut reader = BufReader::new(stdout);
                let mut found = false;
                let mut line = String::new();
                loop {
                    line.clear();
                    match reader.read_line(&mut line) {
                        Ok(0) => {
                            if !found {
                                let _ = tx.send(Err("stdout closed (process exited?)".into()));
                            }
                            return;
                        }
                        Ok(_) => {
                            let text = line.trim_end().to_string();
                            if let Ok(mut store) = lines_store.lock() {
                                if store.len() >= 1000 {
                                    store.pop_front();
                                }
                                store.push_back(text.clone());
                            }
                            if !found {
                                found = text.contains(LISTENING_MARKER)
                                    || text.contains(LISTENING_MARKER_TLS);
                                let _ = tx.send(Ok(text));
                            }
                        }
                        Err(e) => {
                            if !found {
                                let _ = tx.send(Err(format!("reading stdout: {e}")));
                            }
                            return;
                        }
                    }
                }
            })
            .expect("spawn stdout reader thread");
    }

    let deadline = Instant::now() + STARTUP_TIMEOUT;
    let mut seen = Vec::new();
    let failure = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Ok(line)) => {
                if let Some(addr) = parse_listening_line(&line) {
                    let scheme = if line.contains(LISTENING_MARKER_TLS) {
                        "https"
                    } else {
                        "http"
                    };
                    let base_url = format!("{scheme}://{addr}");
                    return ChildServer {
                        child,
                        stdin,
                        addr,
                        base_url,
                        what: what.to_string(),
                        stdout_lines,
                        stderr_text,
                    };
                }
                if line.contains(LISTENING_MARKER) || line.contains(LISTENING_MARKER_TLS) {
                    break format!("cannot parse an address from {line:?}");
                }
                seen.push(line);
            }
            Ok(Err(e)) => break e,
            Err(RecvTimeoutError::Timeout) => {
                break format!("no `{LISTENING_MARKER}<addr>` line within {STARTUP_TIMEOUT:?}")
            }
            Err(RecvTimeoutError::Disconnected) => break "stdout reader stopped".to_string(),
        }
    };

    drop(stdin);
    let _ = child.kill();
    let status = child.wait();
    unregister_child(child.id());
    // Give the stderr drain a moment to collect the last words.
    thread::sleep(Duration::from_millis(100));
    let stderr = stderr_text.lock().map(|s| s.clone()).unwrap_or_default();
    panic!(
        "{what}: {failure}\ncommand: {cmd:?}\nexit: {status:?}\n--- stdout ---\n{}\n--- stderr ---\n{stderr}",
        seen.join("\n")
    );
}

/// Extracts the address from a line containing `listening on http://<addr>` (or
/// `https://`).
fn parse_listening_line(line: &str) -> Option<SocketAddr> {
    let start = match line.find(LISTENING_MARKER) {
        Some(i) => i + LISTENING_MARKER.len(),
        None => line.find(LISTENING_MARKER_TLS)? + LISTENING_MARKER_TLS.len(),
    };
    let rest = &line[start..];
    let end = rest
        .find(|c: char| c == '/' || c.is_whitespace())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

fn spawn_stderr_drain<R: Read + Send + 'static>(
    stderr: R,
    store: Arc<Mutex<String>>,
    label: String,
) {
    thread::Builder::new()
        .name(format!("stderr:{label}"))
        .spawn(move || {
            let mut reader = BufReader::new(stderr);
            let mut line = String::new();
            loop {
                line.clear();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        // Shown by the test harness only when the test fails.
                        eprint!("[{label}] {line}");
                        if let Ok(mut s) = store.lock() {
                            // Bounded: keep the last ~256 KiB.
                            if s.len() > 256 * 1024 {
                                let cut = s.len() - 128 * 1024;
                                let cut = (cut..s.len())
                                    .find(|&i| s.is_char_boundary(i))
                                    .unwrap_or(s.len());
                                s.drain(..cut);
                            }
                            s.push_str(&line);
                        }
                    }
                }
            }
        })
        .expect("spawn stderr reader thread");
}

// ------------------------------------------------------------------ node client

/// Runs `node tests/interop/node_client.mjs <args>` in the repository root,
/// killing it after 60 s. Returns (exited successfully, stdout + stderr).
#[allow(dead_code)]
pub fn run_node_client(args: &[&str]) -> (bool, String) {
    let node = node().expect("node not found (set ENGINEIO_NODE or put node on PATH)");
    let mut cmd = Command::new(node);
    cmd.current_dir(repo_root())
        .arg("tests/interop/node_client.mjs")
        .args(args);
    run_with_timeout(cmd, NODE_CLIENT_TIMEOUT)
}

/// Runs `cmd` to completion (stdin closed), killing it after `timeout`.
/// Returns (exited successfully, stdout followed by stderr).
#[allow(dead_code)]
pub fn run_with_timeout(mut cmd: Command, timeout: Duration) -> (bool, String) {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return (false, format!("cannot spawn {cmd:?}: {e}")),
    };
    register_child(child.id());
    let out = read_all_in_thread(child.stdout.take().expect("piped stdout"));
    let err = read_all_in_thread(child.stderr.take().expect("piped stderr"));

    let deadline = Instant::now() + timeout;
    let (success, note) = loop {
        match child.try_wait() {
            Ok(Some(status)) => break (status.success(), String::new()),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break (
                    false,
                    format!("\n[killed: {cmd:?} did not finish within {timeout:?}]"),
                );
            }
            Ok(None) => thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                break (false, format!("\n[waiting for {cmd:?} failed: {e}]"));
            }
        }
    };
    unregister_child(child.id());
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    let mut text = stdout;
    if !stderr.is_empty() {
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&stderr);
    }
    text.push_str(&note);
    (success, text)
}

fn read_all_in_thread<R: Read + Send + 'static>(mut r: R) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

// ------------------------------------------------------------------ redis (cluster tests)

/// Path of example `name` built with the `redis` feature (a copy named
/// `<name>-redis`, as [`example_binary_tls`] does for `tls`).
#[allow(dead_code)]
pub fn example_binary_redis(name: &str) -> PathBuf {
    example_binary_with_feature(name, "redis")
}

/// `redis-server`: `ENGINEIO_REDIS_SERVER`, else `redis-server` on `PATH`.
#[allow(dead_code)]
pub fn redis_server_binary() -> Option<PathBuf> {
    match env_path("ENGINEIO_REDIS_SERVER") {
        Some(p) if p.is_file() => Some(p),
        Some(_) => None,
        None => which("redis-server")
            .or_else(|| Some(PathBuf::from("/usr/bin/redis-server")).filter(|p| p.is_file())),
    }
}

/// Whether `redis-server` can be run; as [`interop_available`]: panics when interop
/// is required (`scripts/test.sh` installs Debian's `redis-server`), else prints SKIP.
#[allow(dead_code)]
pub fn redis_available(what: &str) -> bool {
    redis_server_binary().is_some()
        || peer_missing(
            what,
            "redis-server not found on PATH (set ENGINEIO_REDIS_SERVER, or run \
             scripts/test.sh, which installs Debian's redis-server)",
        )
}

/// A `redis-server` of our own on an ephemeral 127.0.0.1 port, with no persistence;
/// killed on drop. [`stop`](Self::stop) and [`start`](Self::start) restart it on the
/// same port.
pub struct RedisServer {
    child: Option<Child>,
    /// The port it listens on (kept across restarts).
    pub port: u16,
    dir: PathBuf,
}

#[allow(dead_code)]
impl RedisServer {
    /// Starts one and waits (10 s at most) until it answers `PING`.
    pub fn start_new() -> RedisServer {
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("engineio-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create redis dir");
        let mut r = RedisServer {
            child: None,
            port,
            dir,
        };
        r.start();
        r
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Starts it (again) on its port and waits until it answers `PING`.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "redis-server already running");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut cmd = Command::new(redis_server_binary().expect("redis-server"));
            cmd.current_dir(&self.dir)
                .args(["--port", &self.port.to_string()])
                .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .args(["--daemonize", "no", "--protected-mode", "no"])
                .args(["--loglevel", "warning"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let mut child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("cannot spawn {cmd:?}: {e}"));
            register_child(child.id());
            loop {
                if redis_ping(self.port) {
                    self.child = Some(child);
                    return;
                }
                if let Ok(Some(status)) = child.try_wait() {
                    // The port may be held a moment longer by the previous instance.
                    unregister_child(child.id());
                    assert!(
                        Instant::now() < deadline,
                        "redis-server on port {} exited: {status}",
                        self.port
                    );
                    thread::sleep(Duration::from_millis(100));
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "redis-server on port {} does not answer PING",
                    self.port
                );
                thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// Kills it (its clients see their connections reset).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            unregister_child(child.id());
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// Whether a Redis server on `port` answers `PING` with `+PONG`.
pub fn redis_ping(port: u16) -> bool {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}
