//! The limit of this crate's design: a raw `tungstenite` WebSocket echo, one thread per
//! connection, 4 KiB read buffer, no Engine.IO at all. Text frames come back as text,
//! binary as binary.
//!
//! ```text
//! bench-raw-ws [--port 0]
//! ```
//! Prints `listening on ws://127.0.0.1:PORT` once it accepts connections.

use std::net::{TcpListener, TcpStream};

use tungstenite::protocol::WebSocketConfig;
use tungstenite::Message;

/// The same connection-thread stack size as the engineio server's default.
const STACK: usize = 512 * 1024;

fn main() {
    let port = eio_bench::port_flag("bench-raw-ws");
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind");
    println!("listening on ws://{}", listener.local_addr().expect("addr"));
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
            continue;
        }
    }
}

fn echo(stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_message_size(Some(1_000_000));
    let Ok(mut ws) = tungstenite::accept_with_config(stream, Some(config)) else {
        return;
    };
    loop {
        match ws.read() {
            Ok(msg @ (Message::Text(_) | Message::Binary(_))) => {
                if ws.send(msg).is_err() {
                    return;
                }
            }
            // Pings are answered by tungstenite itself; a close is echoed by it too.
            Ok(_) => {}
            Err(_) => return,
        }
    }
}
