//! Running out of file descriptors is survived: `accept` errors are logged and backed
//! off, and the server serves again once descriptors are free.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

fn handshake_ok(addr: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 512];
    matches!(s.read(&mut buf), Ok(n) if n > 12 && buf.starts_with(b"HTTP/1.1 200"))
}

#[test]
fn accept_survives_running_out_of_file_descriptors() {
    let _dog = support::watchdog(120, "accept_survives_running_out_of_file_descriptors");
    let prlimit = support::which("prlimit").expect("prlimit (util-linux) is needed");
    let _dog = support::watchdog(120, "accept_survives_running_out_of_file_descriptors");
    let bin = support::example_binary("echo_server");
    let mut cmd = Command::new(prlimit);
    cmd.arg("--nofile=40:40")
        .arg(bin)
        .args(["--addr", "127.0.0.1:0"]);
    let server = support::spawn_server(cmd, "echo_server with 40 descriptors");
    let addr = server.addr.to_string();
    assert!(handshake_ok(&addr));
    // Hold far more connections than the server has descriptors for.
    let hogs: Vec<TcpStream> = (0..60)
        .filter_map(|_| TcpStream::connect(&addr).ok())
        .collect();
    assert!(hogs.len() >= 40);
    std::thread::sleep(Duration::from_millis(300));
    drop(hogs);
    // Once they are gone the server accepts and serves again.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !handshake_ok(&addr) {
        assert!(
            Instant::now() < deadline,
            "server did not recover: {}",
            server.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
