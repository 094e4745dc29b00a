//! Checks an Engine.IO echo server: sends N text and N binary messages, and checks
//! that every echo arrives once and in order.
//!
//! ```text
//! cargo run --example echo_client -- http://127.0.0.1:5000 [--transports polling,websocket] [--count N] [--eio 3]
//! ```
//!
//! Prints `OK <2N> echoed via <transport>` and exits 0, or says what went wrong and
//! exits 1 (2 for bad arguments).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use engineio::client::{Client, Event, Message};
use engineio::{ProtocolVersion, Transport};

struct Args {
    url: String,
    transports: Vec<Transport>,
    count: usize,
    timeout: Duration,
    protocol: ProtocolVersion,
    force_base64: bool,
}

const USAGE: &str = "usage: echo_client URL [--transports polling,websocket] [--count N] [--timeout-secs S] [--eio 3|4] [--force-base64]

Checks an Engine.IO echo server: sends N text and N binary messages and checks that
every echo arrives once and in order. Prints `OK <2N> echoed via <transport>` and
exits 0, or says what went wrong and exits 1 (2 for bad arguments).

  --transports    polling, websocket or both (default both, upgrading)
  --count         messages of each kind (default 10)
  --timeout-secs  the whole run's deadline (default 30)
  --eio           the Engine.IO protocol version, 3 or 4 (default 4)
  --force-base64  binary messages as base64 text (b64=1; v3 polling: text payloads only)";

fn usage(error: &str) -> ExitCode {
    eprintln!("echo_client: {error}\n\n{USAGE}");
    ExitCode::from(2)
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let mut url = None;
    let mut transports = vec![Transport::Polling, Transport::WebSocket];
    let mut count = 10;
    let mut timeout = Duration::from_secs(30);
    let mut protocol = ProtocolVersion::V4;
    let mut force_base64 = false;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--transports" => {
                let list = args.next().ok_or("--transports needs a value")?;
                transports = list
                    .split(',')
                    .map(|t| match t.trim() {
                        "polling" => Ok(Transport::Polling),
                        "websocket" => Ok(Transport::WebSocket),
                        other => Err(format!("unknown transport {other:?}")),
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--count" => {
                count = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .ok_or("--count needs a number")?;
            }
            "--timeout-secs" => {
                timeout = Duration::from_secs(
                    args.next()
                        .and_then(|n| n.parse().ok())
                        .ok_or("--timeout-secs needs a number")?,
                );
            }
            "--eio" => {
                protocol = args
                    .next()
                    .as_deref()
                    .and_then(ProtocolVersion::from_eio)
                    .ok_or("--eio needs 3 or 4")?;
            }
            "--force-base64" => force_base64 = true,
            other if other.starts_with("--") => return Err(format!("unknown option {other}")),
            other => url = Some(other.to_owned()),
        }
    }
    Ok(Args {
        url: url.ok_or("missing URL")?,
        transports,
        count,
        timeout,
        protocol,
        force_base64,
    })
}

/// The i-th message sent: even numbers are text (non-ASCII), odd ones binary.
fn message(i: usize) -> Message {
    if i % 2 == 0 {
        Message::from(format!("héllo € {i}"))
    } else {
        Message::from((0..=(i % 251) as u8).chain([0, 255]).collect::<Vec<u8>>())
    }
}

fn run(args: &Args) -> Result<(usize, Transport), String> {
    let client = Client::builder(&args.url)
        .transports(&args.transports)
        .protocol(args.protocol)
        .force_base64(args.force_base64)
        .build()
        .map_err(|e| format!("bad configuration: {e}"))?;
    let events = client.events();
    client
        .connect()
        .map_err(|e| format!("connect failed: {e}"))?;
    let total = args.count * 2;
    for i in 0..total {
        client
            .send(message(i))
            .map_err(|e| format!("send #{i} failed: {e}"))?;
    }
    let deadline = Instant::now() + args.timeout;
    let mut received = 0;
    while received < total {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(Event::Connect) => {}
            Ok(Event::Message(got)) => {
                let want = message(received);
                if got != want {
                    return Err(format!("echo #{received}: expected {want:?}, got {got:?}"));
                }
                received += 1;
            }
            Ok(Event::Disconnect(reason)) => {
                return Err(format!(
                    "disconnected ({reason}) after {received} of {total} echoes"
                ))
            }
            Ok(other) => return Err(format!("unexpected event {other:?}")),
            Err(_) => return Err(format!("timed out after {received} of {total} echoes")),
        }
    }
    let transport = client
        .wait_for_upgrade(Duration::from_secs(10))
        .ok_or("disconnected after the echoes")?;
    // Nothing more may arrive: every echo exactly once.
    if let Ok(Event::Message(extra)) = events.recv_timeout(Duration::from_millis(200)) {
        return Err(format!("unexpected extra message {extra:?}"));
    }
    client.disconnect();
    Ok((total, transport))
}

fn main() -> ExitCode {
    if std::env::args().skip(1).any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => return usage(&e),
    };
    match run(&args) {
        Ok((n, transport)) => {
            println!("OK {n} echoed via {transport}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("echo_client: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}
