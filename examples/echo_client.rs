//! Checks an Engine.IO echo server: sends N text and N binary messages, and checks
//! that every echo arrives once and in order.
//!
//! ```text
//! cargo run --example echo_client -- http://127.0.0.1:5000 [--transports polling,websocket] [--count N] [--eio 3]
//! cargo run --example echo_client --features tls -- https://127.0.0.1:5443 --ca ca.pem [--client-cert c.pem --client-key k.pem]
//! ```
//!
//! Prints `OK <2N> echoed via <transport>` and exits 0, or says what went wrong and
//! exits 1 (2 for bad arguments).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use engineio::client::{Client, ClientBuilder, Event, Message};
use engineio::{ErrorKind, ProtocolVersion, Transport};

struct Args {
    url: String,
    transports: Vec<Transport>,
    count: usize,
    timeout: Duration,
    protocol: ProtocolVersion,
    force_base64: bool,
    proxy_from_env: bool,
    tls: TlsArgs,
}

/// The TLS flags (they need the crate feature `tls`).
#[derive(Default)]
struct TlsArgs {
    roots: Option<String>,
    ca: Vec<String>,
    client_cert: Option<String>,
    client_key: Option<String>,
}

const USAGE: &str = "usage: echo_client URL [--transports polling,websocket] [--count N] [--timeout-secs S] [--eio 3|4] [--force-base64]
                   [--proxy-from-env] [--ca FILE]... [--roots mozilla|os|both] [--client-cert FILE --client-key FILE]

Checks an Engine.IO echo server: sends N text and N binary messages and checks that
every echo arrives once and in order. Prints `OK <2N> echoed via <transport>` and
exits 0, or says what went wrong and exits 1 (2 for bad arguments).

  --transports    polling, websocket or both (default both, upgrading)
  --count         messages of each kind (default 10)
  --timeout-secs  the whole run's deadline (default 30)
  --eio           the Engine.IO protocol version, 3 or 4 (default 4)
  --force-base64  binary messages as base64 text (b64=1; v3 polling: text payloads only)
  --proxy-from-env  use HTTP_PROXY / HTTPS_PROXY / ALL_PROXY, except for NO_PROXY hosts
                  (default: no proxy)

https and wss (built with the feature `tls`):
  --ca            also trust this root certificate (PEM), on top of the --roots set;
                  may be repeated
  --roots         the built-in roots: mozilla (default), os (the system's store) or both
  --client-cert   a client certificate chain (PEM) for servers that require one
  --client-key    its private key (PEM)";

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
    let mut proxy_from_env = false;
    let mut tls = TlsArgs::default();
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
            "--proxy-from-env" => proxy_from_env = true,
            "--ca" => tls.ca.push(args.next().ok_or("--ca needs a file")?),
            "--roots" => {
                let roots = args.next().ok_or("--roots needs mozilla, os or both")?;
                if !matches!(roots.as_str(), "mozilla" | "os" | "both") {
                    return Err(format!(
                        "--roots: expected mozilla, os or both, got {roots:?}"
                    ));
                }
                tls.roots = Some(roots);
            }
            "--client-cert" => {
                tls.client_cert = Some(args.next().ok_or("--client-cert needs a file")?)
            }
            "--client-key" => {
                tls.client_key = Some(args.next().ok_or("--client-key needs a file")?)
            }
            other if other.starts_with("--") => return Err(format!("unknown option {other}")),
            other => url = Some(other.to_owned()),
        }
    }
    if tls.client_cert.is_some() != tls.client_key.is_some() {
        return Err("--client-cert and --client-key go together".into());
    }
    Ok(Args {
        url: url.ok_or("missing URL")?,
        transports,
        count,
        timeout,
        protocol,
        force_base64,
        proxy_from_env,
        tls,
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

fn read(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))
}

/// Applies the TLS flags: `--ca` roots come on top of the `--roots` set (Mozilla's
/// by default), never instead of it.
#[cfg(feature = "tls")]
fn with_tls(mut builder: ClientBuilder, tls: &TlsArgs) -> Result<ClientBuilder, String> {
    use engineio::client::TlsRoots;
    builder = builder.tls_roots(match tls.roots.as_deref() {
        Some("os") => TlsRoots::Os,
        Some("both") => TlsRoots::MozillaAndOs,
        _ => TlsRoots::Mozilla,
    });
    for path in &tls.ca {
        builder = builder.root_certificate_pem(read(path)?);
    }
    if let (Some(cert), Some(key)) = (&tls.client_cert, &tls.client_key) {
        builder = builder.client_certificate_pem(read(cert)?, read(key)?);
    }
    Ok(builder)
}

#[cfg(not(feature = "tls"))]
fn with_tls(builder: ClientBuilder, tls: &TlsArgs) -> Result<ClientBuilder, String> {
    let _ = read;
    if tls.roots.is_some() || !tls.ca.is_empty() || tls.client_cert.is_some() {
        return Err(
            "--ca, --roots and --client-cert need the crate feature `tls` (cargo run --features tls --example echo_client)"
                .into(),
        );
    }
    Ok(builder)
}

fn run(args: &Args) -> Result<(usize, Transport), String> {
    let builder = Client::builder(&args.url)
        .transports(&args.transports)
        .protocol(args.protocol)
        .force_base64(args.force_base64)
        .proxy_from_env(args.proxy_from_env);
    let client = with_tls(builder, &args.tls)?
        .build()
        .map_err(|e| format!("bad configuration: {e}"))?;
    let events = client.events();
    client.connect().map_err(|e| {
        let hint = if e.kind() == ErrorKind::Tls && args.tls.ca.is_empty() {
            " (a server with a private CA needs --ca FILE)"
        } else {
            ""
        };
        format!("connect failed: {e}{hint}")
    })?;
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
