//! The Rust version of python-engineio's simple client example: connect, handle the
//! connect, message and disconnect events, send a message, and wait.
//!
//! ```text
//! cargo run --example echo_server &          # or any Engine.IO server
//! cargo run --example simple_client -- http://127.0.0.1:5000
//! ```
//!
//! The client sends `hello` once connected and then a `ping <n>` message every
//! second; press Ctrl+C to stop it.

use std::thread;
use std::time::{Duration, Instant};

use engineio::client::Client;

fn main() -> Result<(), engineio::Error> {
    if std::env::args().skip(1).any(|a| a == "--help" || a == "-h") {
        println!(
            "usage: simple_client [URL]   (default http://127.0.0.1:5000)\n\n\
             Connects, prints the connect, message and disconnect events, sends `hello`\n\
             and then `ping <n>` every second. Ctrl+C stops it. RUST_LOG shows the log."
        );
        return Ok(());
    }
    env_logger::init();
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:5000".to_owned());

    let client = Client::builder(&url)
        .on_connect(|client| {
            println!(
                "connected, sid {}",
                client.sid().map(String::from).unwrap_or_default()
            );
            if let Err(e) = client.send("hello") {
                eprintln!("send failed: {e}");
            }
        })
        .on_message(|_, message| match message.as_text() {
            Some(text) => println!("received text: {text}"),
            None => println!("received {} bytes", message.len()),
        })
        .on_disconnect(|_, reason| println!("disconnected: {reason}"))
        .connect()?;

    // Send something every second from another thread, as long as we are connected.
    let sender = client.clone();
    thread::spawn(move || {
        let start = Instant::now();
        let mut n = 0;
        while sender.is_connected() {
            thread::sleep(Duration::from_secs(1));
            n += 1;
            let _ = sender.send(format!("ping {n} at {:.1?}", start.elapsed()));
        }
    });

    client.wait();
    Ok(())
}
