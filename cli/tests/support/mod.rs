//! What the `engineio` command-line tests share: the built binary, run as a user runs
//! it (a child process, its stdin, stdout and exit status); our server in-process; the
//! official Node.js server, Chromium and tmux found as the root crate's tests find
//! them (`ENGINEIO_NODE`, `ENGINEIO_CHROMIUM`, `ENGINEIO_REPO`; under
//! `ENGINEIO_REQUIRE_INTEROP=1` a missing peer fails the test instead of skipping it);
//! and a watchdog per test, so that a hang aborts instead of stalling CI (the pattern
//! of `tests/support/mod.rs` at the repository root).

#![allow(dead_code)]

/// Certificates made at test time: the root crate's helper, shared.
#[path = "../../../tests/support/pki.rs"]
pub mod pki;

/// The watchdog and its child registry: the root crate's, shared.
#[path = "../../../tests/support/watchdog.rs"]
pub mod watchdog;

#[allow(unused_imports)]
// not every test file has a watchdog (`help` runs nothing that can hang)
pub use watchdog::watchdog;
use watchdog::{register_child as register, unregister_child as unregister};

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use engineio::server::{App, Listening, Server, ServerBuilder};

/// The binary under test.
pub fn engineio() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_engineio"));
    cmd.env_remove("RUST_LOG");
    cmd
}

// ------------------------------------------------------------------ environment

/// True when interop peers must be present: a missing one fails the test.
pub fn require_interop() -> bool {
    let truthy = |name: &str| {
        std::env::var(name)
            .map(|v| ["1", "true", "yes"].contains(&v.trim().to_ascii_lowercase().as_str()))
            .unwrap_or(false)
    };
    truthy("ENGINEIO_REQUIRE_INTEROP") || truthy("CI")
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The repository root: `ENGINEIO_REPO`, else the parent of this crate.
pub fn repo_root() -> PathBuf {
    env_path("ENGINEIO_REPO").unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("cli/ has a parent")
            .to_path_buf()
    })
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Node.js: `ENGINEIO_NODE`, else `node` on `PATH`.
pub fn node() -> Option<PathBuf> {
    match env_path("ENGINEIO_NODE") {
        Some(p) if p.is_file() => Some(p),
        Some(_) => None,
        None => which("node"),
    }
}

/// Chromium: `ENGINEIO_CHROMIUM`, else `/usr/bin/chromium`.
pub fn chromium() -> Option<PathBuf> {
    match env_path("ENGINEIO_CHROMIUM") {
        Some(p) if p.is_file() => Some(p),
        Some(_) => None,
        None => Some(PathBuf::from("/usr/bin/chromium")).filter(|p| p.is_file()),
    }
}

/// tmux, for the pseudo-terminal tests.
pub fn tmux() -> Option<PathBuf> {
    which("tmux")
}

/// Whether `what` can run: node and the npm packages (`npm ci` at the repository
/// root), and the `extra` programs. When not: panics if interop is required, else
/// prints SKIP and returns false.
pub fn peers_available(what: &str, need_node: bool, extra: &[(&str, Option<PathBuf>)]) -> bool {
    let mut missing = Vec::new();
    if need_node {
        if node().is_none() {
            missing.push("node (set ENGINEIO_NODE or put node on PATH)".to_owned());
        }
        if !repo_root().join("node_modules/engine.io").is_dir() {
            missing.push(format!(
                "{}/node_modules (run npm ci, or scripts/setup-test-deps.sh)",
                repo_root().display()
            ));
        }
    }
    for (name, found) in extra {
        if found.is_none() {
            missing.push((*name).to_owned());
        }
    }
    if missing.is_empty() {
        return true;
    }
    if require_interop() {
        panic!(
            "{what}: missing {} (scripts/test.sh installs them)",
            missing.join(", ")
        );
    }
    let _ = writeln!(
        std::io::stderr(),
        "SKIP {what}: missing {}",
        missing.join(", ")
    );
    false
}

// ------------------------------------------------------------------ our server

/// Our echo server, in this process, on an ephemeral port, configured by `configure`.
pub fn our_server(configure: impl FnOnce(ServerBuilder) -> ServerBuilder) -> Listening {
    let server: Server = configure(Server::builder())
        .on_message(|server, sid, msg| {
            let _ = server.send(sid, msg);
        })
        .build()
        .expect("server configuration");
    App::new(server).listen("127.0.0.1:0").expect("listen")
}

pub fn url_of(l: &Listening) -> String {
    format!("http://{}", l.local_addr())
}

// ------------------------------------------------------------------ processes

/// A running child process with piped stdio: stdout lines arrive on a channel,
/// stderr is collected. Killed on drop.
pub struct Proc {
    child: Child,
    pub stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    seen: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<String>>,
    what: String,
}

impl Proc {
    pub fn spawn(mut cmd: Command, what: &str) -> Proc {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("{what}: cannot spawn {cmd:?}: {e}"));
        register(child.id());
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = Arc::clone(&seen);
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                seen2.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        let err = Arc::new(Mutex::new(String::new()));
        let err2 = Arc::clone(&err);
        let label = what.to_owned();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                eprintln!("[{label}] {line}");
                let mut e = err2.lock().unwrap();
                e.push_str(&line);
                e.push('\n');
            }
        });
        Proc {
            child,
            stdin,
            lines: rx,
            seen,
            stderr: err,
            what: what.to_owned(),
        }
    }

    /// The next stdout line, within `timeout`.
    pub fn line(&self, timeout: Duration) -> String {
        self.lines.recv_timeout(timeout).unwrap_or_else(|e| {
            panic!(
                "{}: no stdout line within {timeout:?} ({e}); stdout so far: {:?}; stderr: {}",
                self.what,
                self.seen.lock().unwrap(),
                self.stderr()
            )
        })
    }

    /// The next stdout line as JSON.
    pub fn json(&self, timeout: Duration) -> serde_json::Value {
        let line = self.line(timeout);
        serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("{}: not a JSON line: {line:?}: {e}", self.what))
    }

    /// Reads stdout lines until one satisfies `f`.
    pub fn until(&self, timeout: Duration, f: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.line(left);
            if f(&line) {
                return line;
            }
        }
    }

    pub fn write_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write to the child's stdin");
        stdin.flush().expect("flush");
    }

    pub fn close_stdin(&mut self) {
        self.stdin.take();
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn stdout_so_far(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits for the exit (at most `timeout`), then drains stdout.
    /// Its exit status if it ends within `timeout`; `None` if it is still running.
    pub fn try_wait_for(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends it SIGINT, as Ctrl-C in its terminal would.
    pub fn interrupt(&self) {
        let ok = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "{}: kill -INT failed", self.what);
    }

    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let Some(status) = self.try_wait_for(timeout) else {
            panic!(
                "{}: still running after {timeout:?}; stdout: {:?}; stderr: {}",
                self.what,
                self.stdout_so_far(),
                self.stderr()
            );
        };
        unregister(self.child.id());
        // Give the reader threads a moment to see the end of the pipes.
        thread::sleep(Duration::from_millis(50));
        status
    }

    /// The stdout lines still unread.
    pub fn rest(&self) -> Vec<String> {
        self.lines.try_iter().collect()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stdin.take();
        let _ = self.child.kill();
        let _ = self.child.wait();
        unregister(self.child.id());
    }
}

/// Runs `engineio ARGS` with `input` on stdin to its end (at most `timeout`):
/// (exit code, stdout, stderr).
pub fn run(args: &[&str], input: &str, timeout: Duration) -> (i32, String, String) {
    let mut cmd = engineio();
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn engineio");
    register(child.id());
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_owned();
    let writer = thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_t = thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_t = thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            unregister(child.id());
            panic!(
                "engineio {args:?} still running after {timeout:?}; stdout: {:?}",
                out_t.join().unwrap_or_default()
            );
        }
        thread::sleep(Duration::from_millis(10));
    };
    unregister(child.id());
    let _ = writer.join();
    let stdout = out_t.join().unwrap_or_default();
    let stderr = err_t.join().unwrap_or_default();
    eprintln!("engineio {args:?} → {status:?}\n--- stdout ---\n{stdout}--- stderr ---\n{stderr}");
    (status.code().unwrap_or(-1), stdout, stderr)
}

/// The official Node.js echo server (`tests/interop/node_echo_server.mjs`) with
/// `args`; its address from its `listening on` line.
pub fn node_server(args: &[&str]) -> (Proc, SocketAddr) {
    let mut cmd = Command::new(node().expect("node"));
    cmd.current_dir(repo_root())
        .arg("tests/interop/node_echo_server.mjs")
        .args(["--port", "0"])
        .args(args);
    let p = Proc::spawn(cmd, "node_echo_server");
    let addr = listening_addr(&p);
    (p, addr)
}

/// `engineio serve --addr 127.0.0.1:0 ARGS`; its address from its first line.
pub fn serve(args: &[&str]) -> (Proc, SocketAddr) {
    let mut cmd = engineio();
    cmd.args(["serve", "--addr", "127.0.0.1:0"]).args(args);
    let p = Proc::spawn(cmd, "engineio serve");
    let addr = listening_addr(&p);
    (p, addr)
}

fn listening_addr(p: &Proc) -> SocketAddr {
    let line = p.until(Duration::from_secs(30), |l| {
        l.contains("listening on http://")
            || l.contains("listening on https://")
            || l.contains("\"event\":\"listening\"")
    });
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
        return v["addr"].as_str().unwrap().parse().unwrap();
    }
    let rest = &line[line.find("://").unwrap() + 3..];
    let end = rest
        .find(|c: char| c == '/' || c.is_whitespace())
        .unwrap_or(rest.len());
    rest[..end].parse().unwrap()
}

/// Runs `cmd` to its end (stdin closed), killed after `timeout`: (success, output).
pub fn run_cmd(mut cmd: Command, timeout: Duration) -> (bool, String) {
    cmd.stdin(Stdio::null());
    let mut p = Proc::spawn(cmd, "child");
    p.close_stdin();
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = p.child.try_wait().expect("try_wait") {
            thread::sleep(Duration::from_millis(50));
            let mut out = p.stdout_so_far().join("\n");
            out.push('\n');
            out.push_str(&p.stderr());
            return (status.success(), out);
        }
        if Instant::now() >= deadline {
            return (
                false,
                format!("killed after {timeout:?}: {:?}", p.stdout_so_far()),
            );
        }
        thread::sleep(Duration::from_millis(20));
    }
}
