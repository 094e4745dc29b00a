//! Connection threads are reused, and no more than 64 of them wait idle. Alone in its
//! own test binary, because it counts this process's `eio-conn` threads.
//!
//! Nothing here depends on how fast threads are scheduled: each step waits for the
//! server to have finished the previous connection before the next one comes, and
//! the counts allow for a thread preempted between ending a connection and waiting
//! for the next.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use engineio::server::{App, Server};

mod support;

/// This process's threads named `eio-conn`.
fn connection_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim() == "eio-conn")
        .count()
}

fn request(s: &mut TcpStream) {
    s.write_all(b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 404"));
}

fn wait_until(what: &str, limit: Duration, f: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn connection_threads_are_reused_and_idle_ones_are_capped() {
    let _dog = support::watchdog(
        120,
        "connection_threads_are_reused_and_idle_ones_are_capped",
    );
    let app = App::new(Server::builder().build().unwrap())
        .listen("127.0.0.1:0")
        .unwrap();
    let addr = app.local_addr();

    // Sequential connections: a served connection's thread stays, idle, for the next.
    // (Each waits until the server has finished the previous one, so that its thread
    // is free; without reuse there would be 50 threads.)
    for _ in 0..50 {
        let mut s = TcpStream::connect(addr).unwrap();
        request(&mut s);
        drop(s);
        wait_until("the connection to close", Duration::from_secs(10), || {
            app.connection_count() == 0
        });
        thread::sleep(Duration::from_millis(2));
    }
    let idle = connection_threads();
    assert!(
        (1..=5).contains(&idle),
        "{idle} idle threads after 50 sequential connections"
    );

    // 150 at once: when they close, at most 64 threads stay idle.
    let mut open: Vec<TcpStream> = (0..150)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    for s in &mut open {
        request(s);
    }
    assert!(connection_threads() >= 150);
    drop(open);
    wait_until("connections closed", Duration::from_secs(10), || {
        app.connection_count() == 0
    });
    wait_until("surplus threads gone", Duration::from_secs(10), || {
        connection_threads() <= 64
    });
    // And the idle ones end after their 5 s wait.
    wait_until("idle threads gone", Duration::from_secs(10), || {
        connection_threads() == 0
    });
    app.shutdown();
}
