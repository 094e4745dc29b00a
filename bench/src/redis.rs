//! A `redis-server` of the harness's own for the cluster scenario: on a free
//! 127.0.0.1 port, no persistence, stopped on drop.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `redis-server`.
pub struct RedisServer {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl RedisServer {
    /// Starts `program` on a free port (its output in `log_dir/redis.log`) and waits
    /// (10 s at most) until it answers `PING`. Retries on another port when the one
    /// chosen was taken meanwhile.
    pub fn start(program: &Path, log_dir: &Path) -> Result<RedisServer, String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let log = log_dir.join("redis.log");
        loop {
            let port = free_port()?;
            let out = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
            let mut child = Command::new(program)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                // The cluster's broadcasts to 10k sessions are small, but many: no
                // client output-buffer limit for subscribers during the measurement.
                .args(["--client-output-buffer-limit", "pubsub 0 0 0"])
                .args(["--loglevel", "warning"])
                .current_dir(log_dir)
                .stdin(Stdio::null())
                .stdout(out.try_clone().map_err(|e| e.to_string())?)
                .stderr(out)
                .spawn()
                .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
            loop {
                if ping(port) {
                    return Ok(RedisServer { child, port });
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break; // The port was taken: another one.
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "redis-server did not answer PING within 10 s (see {})",
                        log.display()
                    ));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "redis-server would not start (see {})",
                    log.display()
                ));
            }
        }
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `redis-server`: `EIO_BENCH_REDIS_SERVER`, else the first on `PATH`, else Debian's.
pub fn default_program() -> PathBuf {
    if let Some(p) = std::env::var_os("EIO_BENCH_REDIS_SERVER") {
        return PathBuf::from(p);
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("redis-server"))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| PathBuf::from("/usr/bin/redis-server"))
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = [0u8; 16];
    s.write_all(b"PING\r\n").is_ok()
        && s.read(&mut buf)
            .is_ok_and(|n| buf[..n].starts_with(b"+PONG"))
}
