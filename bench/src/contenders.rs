//! The servers under test: how to start each on a free loopback port, what protocol
//! it speaks, how to stop it for good, and which versions ran.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::gen::Kind;

/// What a contender speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speaks {
    /// Engine.IO v4 over polling and WebSocket.
    EngineIo,
    /// Plain WebSocket echo (no Engine.IO).
    RawWs,
    /// Plain TCP echo.
    RawTcp,
}

impl Speaks {
    /// The connection kind for WebSocket-style scenarios (idle, echo, broadcast).
    pub fn message_kind(self) -> Kind {
        match self {
            Speaks::EngineIo => Kind::EioWs,
            Speaks::RawWs => Kind::RawWs,
            Speaks::RawTcp => Kind::RawTcp,
        }
    }
}

/// One server under test.
#[derive(Debug, Clone)]
pub struct Contender {
    /// Short name used on the command line and in results (`ours`, `node`, ...).
    pub name: &'static str,
    /// What the report calls it.
    pub label: &'static str,
    /// Its protocol.
    pub speaks: Speaks,
    /// Whether it serves https/wss given `--tls-cert FILE --tls-key FILE` (the tls
    /// scenario).
    pub tls: bool,
    program: PathBuf,
    args: Vec<String>,
    cwd: PathBuf,
}

/// Where the harness finds its programs.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The repository root (node_modules, the bench servers' scripts).
    pub repo: PathBuf,
    /// Where the bench binaries were built (next to `eio-bench`).
    pub bin_dir: PathBuf,
    /// The "ours" server binary (`--ours-bin`, default `bin_dir/bench-ours`).
    pub ours_bin: PathBuf,
    /// The Python interpreter with python-engineio (default `bench/.venv/bin/python`).
    pub python: PathBuf,
    /// The Node.js binary.
    pub node: PathBuf,
    /// `redis-server`, for the cluster scenario (see [`crate::redis::default_program`]).
    pub redis: PathBuf,
}

/// Every contender, in report order.
pub fn all(p: &Paths) -> Vec<Contender> {
    let bin = |name: &str| p.bin_dir.join(name);
    let servers = p.repo.join("bench").join("servers");
    let port0 = vec!["--port".to_string(), "0".to_string()];
    vec![
        Contender {
            name: "ours",
            label: "engineio (ours)",
            speaks: Speaks::EngineIo,
            tls: true,
            program: p.ours_bin.clone(),
            args: port0.clone(),
            cwd: p.repo.clone(),
        },
        Contender {
            name: "node",
            label: "Node engine.io + ws",
            speaks: Speaks::EngineIo,
            tls: true,
            program: p.node.clone(),
            args: [
                vec![servers.join("node_server.mjs").display().to_string()],
                port0.clone(),
            ]
            .concat(),
            cwd: p.repo.clone(),
        },
        Contender {
            name: "python",
            label: "python-engineio threading",
            speaks: Speaks::EngineIo,
            tls: false,
            program: p.python.clone(),
            args: [
                vec![servers.join("python_server.py").display().to_string()],
                port0.clone(),
            ]
            .concat(),
            cwd: p.repo.clone(),
        },
        Contender {
            name: "engineioxide",
            label: "engineioxide (tokio)",
            speaks: Speaks::EngineIo,
            tls: false,
            program: bin("bench-engineioxide"),
            args: port0.clone(),
            cwd: p.repo.clone(),
        },
        Contender {
            name: "raw-ws",
            label: "raw tungstenite echo",
            speaks: Speaks::RawWs,
            tls: false,
            program: bin("bench-raw-ws"),
            args: port0.clone(),
            cwd: p.repo.clone(),
        },
        Contender {
            name: "raw-tcp",
            label: "raw TCP echo",
            speaks: Speaks::RawTcp,
            tls: false,
            program: bin("bench-raw-tcp"),
            args: port0,
            cwd: p.repo.clone(),
        },
    ]
}

/// A started contender. Dropping it stops the server.
pub struct Running {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its process id (for `/proc` samples).
    pub pid: u32,
    log: PathBuf,
}

impl Contender {
    /// Starts the server and waits (up to 30 s) for it to print its address.
    pub fn start(&self, log_dir: &Path) -> Result<Running, String> {
        self.start_with(log_dir, &[], self.name)
    }

    /// Starts the server with `extra` arguments after its own, its stderr in
    /// `<log_name>.stderr.log`, and waits (up to 30 s) for it to print its address.
    pub fn start_with(
        &self,
        log_dir: &Path,
        extra: &[String],
        log_name: &str,
    ) -> Result<Running, String> {
        let log = log_dir.join(format!("{log_name}.stderr.log"));
        let stderr = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let mut child = Command::new(&self.program)
            .args(&self.args)
            .args(extra)
            .current_dir(&self.cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .env_remove("RUST_LOG")
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.program.display()))?;
        let pid = child.id();
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            while let Some(Ok(line)) = lines.next() {
                if let Some(addr) = listening_addr(&line) {
                    let _ = tx.send(addr);
                }
            }
        });
        let mut running = Running {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            pid,
            log,
        };
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => {
                running.addr = addr;
                Ok(running)
            }
            Err(_) => {
                let tail = running.stderr_tail();
                Err(format!(
                    "{} did not print its address within 30 s: {tail}",
                    self.name
                ))
            }
        }
    }
}

/// The address in a `listening on <scheme>://HOST:PORT` line.
fn listening_addr(line: &str) -> Option<SocketAddr> {
    let rest = line.trim().strip_prefix("listening on ")?;
    let hostport = rest.split("://").nth(1)?.trim_end_matches('/');
    hostport.parse().ok()
}

impl Running {
    /// Whether the server is still alive.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The last lines the server wrote to stderr.
    pub fn stderr_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().rev().take(3).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
    }

    /// Stops the server: SIGTERM, then SIGKILL after 5 s, and waits until the process
    /// (every thread of it) has gone, so that the next contender starts on an idle
    /// machine.
    pub fn stop(mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        if !self.alive() {
            return;
        }
        // SAFETY: kill has no memory-safety preconditions; the pid is our child's,
        // not yet reaped, so it cannot name another process.
        unsafe { libc::kill(self.pid as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if !self.alive() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// `path` as the report shows it: relative to the repository when it is inside it,
/// so that no machine's directory layout ends up in a committed report.
pub fn shown_path(path: &Path, repo: &Path) -> String {
    let canon = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    match canon(path).strip_prefix(canon(repo)) {
        Ok(rel) => rel.display().to_string(),
        Err(_) => path.file_name().map_or_else(
            || path.display().to_string(),
            |n| format!("…/{}", n.to_string_lossy()),
        ),
    }
}

/// The versions that ran, and the machine they ran on.
pub fn versions(p: &Paths) -> Vec<(String, String)> {
    let mut v = Vec::new();
    let mut add = |k: &str, val: String| v.push((k.to_string(), val));
    add("engineio (ours)", crate_version(&p.repo.join("Cargo.toml")));
    add("ours binary", shown_path(&p.ours_bin, &p.repo));
    add("engineioxide", lock_version(&p.repo, "engineioxide"));
    add("tokio", lock_version(&p.repo, "tokio"));
    add("hyper", lock_version(&p.repo, "hyper"));
    add("tungstenite", lock_version(&p.repo, "tungstenite"));
    add("node", command_output(&p.node, &["--version"]));
    for pkg in ["engine.io", "ws", "bufferutil"] {
        add(pkg, node_package_version(&p.repo, pkg));
    }
    let py = command_output(
        &p.python,
        &[
            "-c",
            "import sys, importlib.metadata as m; print(sys.version.split()[0], *[n + '=' + m.version(n) for n in ('python-engineio', 'simple-websocket', 'werkzeug')])",
        ],
    );
    add("python", py);
    add("redis-server", command_output(&p.redis, &["--version"]));
    add("rustc", command_output(Path::new("rustc"), &["--version"]));
    add(
        "kernel",
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_string(),
    );
    add("cpu", cpu_model());
    add(
        "cores",
        std::thread::available_parallelism()
            .map(|n| n.to_string())
            .unwrap_or_default(),
    );
    add(
        "memory",
        format!("{} MiB", crate::procstat::mem_total_kib() / 1024),
    );
    v
}

fn command_output(program: &Path, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

fn crate_version(manifest: &Path) -> String {
    std::fs::read_to_string(manifest)
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("version = "))
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// The version of `name` in the workspace's Cargo.lock (the highest, if several).
fn lock_version(repo: &Path, name: &str) -> String {
    let lock = std::fs::read_to_string(repo.join("Cargo.lock")).unwrap_or_default();
    let needle = format!("name = \"{name}\"");
    let mut found: Vec<String> = Vec::new();
    let mut lines = lock.lines();
    while let Some(l) = lines.next() {
        if l == needle {
            if let Some(v) = lines.next().and_then(|l| l.strip_prefix("version = ")) {
                found.push(v.trim_matches('"').to_string());
            }
        }
    }
    if found.is_empty() {
        "unknown".into()
    } else {
        found.join(", ")
    }
}

fn node_package_version(repo: &Path, pkg: &str) -> String {
    let path = repo.join("node_modules").join(pkg).join("package.json");
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|j| j.get("version")?.as_str().map(str::to_string))
        .unwrap_or_else(|| "missing".into())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_listening_line() {
        assert_eq!(
            listening_addr("listening on http://127.0.0.1:5000"),
            Some("127.0.0.1:5000".parse().unwrap())
        );
        assert_eq!(
            listening_addr("listening on ws://127.0.0.1:41/"),
            Some("127.0.0.1:41".parse().unwrap())
        );
        assert_eq!(
            listening_addr("listening on https://127.0.0.1:443"),
            Some("127.0.0.1:443".parse().unwrap())
        );
        assert_eq!(listening_addr("hello"), None);
    }
}

#[cfg(test)]
mod shown_path_tests {
    use super::shown_path;
    use std::path::Path;

    #[test]
    fn paths_are_shown_relative_to_the_repository() {
        let repo = Path::new("/nonexistent/repo");
        assert_eq!(
            shown_path(
                Path::new("/nonexistent/repo/target/release/bench-ours"),
                repo
            ),
            "target/release/bench-ours"
        );
        assert_eq!(
            shown_path(Path::new("/elsewhere/bin/bench-ours"), repo),
            "…/bench-ours"
        );
    }
}
