//! The limit of a thread-per-connection design with no protocol at all: a TCP echo,
//! one thread per connection, 4 KiB read buffer.
//!
//! ```text
//! bench-raw-tcp [--port 0]
//! ```
//! Prints `listening on tcp://127.0.0.1:PORT` once it accepts connections.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

/// The same connection-thread stack size as the engineio server's default.
const STACK: usize = 512 * 1024;

fn main() {
    let port = eio_bench::port_flag("bench-raw-tcp");
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind");
    println!(
        "listening on tcp://{}",
        listener.local_addr().expect("addr")
    );
    for stream in listener.incoming() {
        let Ok(stream) = stream else {
            // Out of file descriptors: wait for some to be released.
            std::thread::sleep(std::time::Duration::from_millis(10));
            continue;
        };
        let spawned = std::thread::Builder::new()
            .stack_size(STACK)
            .spawn(move || echo(stream));
        if spawned.is_err() {
            // Out of threads: this connection is dropped, the server lives on.
            continue;
        }
    }
}

fn echo(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}
