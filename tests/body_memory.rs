//! Request bodies take memory as their bytes arrive, never ahead of them: 300 stalled
//! chunked POSTs that each announce a 1 MB chunk and send 100 bytes cost the server
//! kilobytes each, not a megabyte. (Alone in its binary: it measures the process's
//! resident memory.)

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use engineio::server::{App, Server};

mod support;
use support::rawhttp::{handshake, KeepAlive};

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[test]
fn stalled_chunked_posts_hold_what_arrived_not_what_they_announce() {
    let _dog = support::watchdog(120, "stalled chunked bodies");
    let server = Server::builder().max_connections(1000).build().unwrap();
    let app = App::new(server.clone()).listen("127.0.0.1:0").unwrap();
    let a = app.local_addr();
    let mut keep = KeepAlive::connect(a);
    let sids: Vec<String> = (0..300)
        .map(|_| {
            let r = keep.get("EIO=4&transport=polling");
            let v: serde_json::Value = serde_json::from_str(&r.text()[1..]).unwrap();
            v["sid"].as_str().unwrap().to_string()
        })
        .collect();
    let before = rss_kib();
    let conns: Vec<TcpStream> = sids
        .iter()
        .map(|sid| {
            let mut s = TcpStream::connect(a).unwrap();
            // A chunk of 1,000,000 bytes (within max_payload), of which 100 arrive.
            let head = format!(
                "POST /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n\
                 Transfer-Encoding: chunked\r\n\r\nf4240\r\n4{}",
                "a".repeat(99)
            );
            s.write_all(head.as_bytes()).unwrap();
            s
        })
        .collect();
    // Let every connection thread read what arrived.
    std::thread::sleep(Duration::from_millis(1500));
    let grown = rss_kib().saturating_sub(before);
    // Announced: 300 MB. Held: the connections' threads and read buffers.
    assert!(grown < 100 * 1024, "resident memory grew by {grown} KiB");
    eprintln!("300 stalled chunked POSTs: resident memory grew by {grown} KiB");
    drop(conns);
    // The server is fine.
    handshake(a);
}
