//! An Engine.IO echo server: every message comes back as it was sent (text stays
//! text, binary stays binary). Sending the text `close-me` makes the server close the
//! session. Useful as a peer for any client or test harness.
//!
//! ```text
//! cargo run --example echo_server -- --addr 127.0.0.1:5000 --cors-origin '*'
//! ```
//!
//! Flags: `--addr` (default 127.0.0.1:5000), `--ping-interval-ms`, `--ping-timeout-ms`,
//! `--max-payload`, `--cors-origin` (repeatable; `*` for any; absent: same origin
//! only), `--transports` (polling, websocket or both, comma-separated), `--cookie`
//! (the `io` cookie, for sticky load balancing), `--redis URL` (join a cluster, built
//! with the `redis` feature; then the text `broadcast:<text>` sends `<text>` to every
//! session of the cluster) and `--node-id ID`.
//! It prints `listening on http://ADDR` once it accepts connections, then one line per
//! session event: `connect SID TRANSPORT` and `disconnect SID REASON`.

use std::time::Duration;

use engineio::server::{App, CookieConfig, CorsPolicy, Server, ServerBuilder, Transport};

const USAGE: &str =
    "usage: echo_server [--addr HOST:PORT] [--ping-interval-ms MS] [--ping-timeout-ms MS]
                   [--max-payload BYTES] [--cors-origin ORIGIN]... [--transports polling,websocket]
                   [--allow-eio3] [--tls-cert FILE --tls-key FILE] [--cookie]
                   [--redis URL [--node-id ID]]

An Engine.IO echo server: every message comes back as it was sent; the text
`close-me` makes the server close the session. Prints `listening on http://ADDR`,
then `connect SID TRANSPORT` and `disconnect SID REASON` lines.

  --addr               where to listen (default 127.0.0.1:5000)
  --ping-interval-ms   the ping interval (default 25000)
  --ping-timeout-ms    the ping timeout (default 20000)
  --max-payload        the largest message or POST body accepted (default 1000000)
  --cors-origin        an allowed origin, repeatable; `*` for any (default: same origin)
  --transports         polling, websocket or both (default both)
  --allow-eio3         also accept Engine.IO v3 clients (Socket.IO 2.x era)
  --tls-cert, --tls-key  serve https/wss with this PEM certificate chain and key
                       (built with the `tls` feature: cargo run --features tls ...)
  --cookie             set the `io` cookie (the sid) on handshakes, for load balancers
  --redis              join the cluster of servers using this Redis server
                       (redis://host:port/; built with the `redis` feature); then the
                       text `broadcast:<text>` sends <text> to every session of the
                       cluster, and `count` answers `count:<sessions in the cluster>`
  --node-id            this server's node id in the cluster (letters and digits;
                       default random), the prefix of its sids

Set RUST_LOG (for example RUST_LOG=engineio=debug) to see the library's log.";

fn main() {
    if std::env::args().skip(1).any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return;
    }
    if std::env::var_os("RUST_LOG").is_some() {
        init_logger();
    }
    let mut args = std::env::args().skip(1);
    let mut addr = "127.0.0.1:5000".to_string();
    let mut builder = Server::builder();
    let mut origins: Vec<String> = Vec::new();
    let (mut tls_cert, mut tls_key): (Option<String>, Option<String>) = (None, None);
    let (mut redis, mut node_id): (Option<String>, Option<String>) = (None, None);
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next().unwrap_or_else(|| {
                eprintln!("{flag} needs a value");
                std::process::exit(2)
            })
        };
        match flag.as_str() {
            "--addr" => addr = value(),
            "--ping-interval-ms" => {
                builder = builder.ping_interval(Duration::from_millis(number(&value())))
            }
            "--ping-timeout-ms" => {
                builder = builder.ping_timeout(Duration::from_millis(number(&value())))
            }
            "--max-payload" => builder = builder.max_payload(number(&value()) as usize),
            "--allow-eio3" => builder = builder.allow_eio3(true),
            "--cors-origin" => origins.push(value()),
            "--tls-cert" => tls_cert = Some(value()),
            "--tls-key" => tls_key = Some(value()),
            "--cookie" => builder = builder.cookie(CookieConfig::default()),
            "--redis" => redis = Some(value()),
            "--node-id" => node_id = Some(value()),
            "--transports" => {
                let list: Vec<Transport> = value()
                    .split(',')
                    .map(|t| match t.trim() {
                        "polling" => Transport::Polling,
                        "websocket" => Transport::WebSocket,
                        other => {
                            eprintln!("unknown transport {other:?}");
                            std::process::exit(2)
                        }
                    })
                    .collect();
                builder = builder.transports(&list);
            }
            other => {
                eprintln!("echo_server: unknown flag {other:?}\n\n{USAGE}");
                std::process::exit(2)
            }
        }
    }
    if !origins.is_empty() {
        builder = builder.cors(CorsPolicy::list(origins));
    }
    let clustered = redis.is_some();
    if let Some(url) = redis {
        builder = join_cluster(builder, url, node_id);
    } else if node_id.is_some() {
        eprintln!("echo_server: --node-id needs --redis\n\n{USAGE}");
        std::process::exit(2)
    }
    let server = builder
        .on_connect(|_, sid, req| {
            println!("connect {sid} {}", req.query("transport").unwrap_or(""));
            Ok(())
        })
        .on_disconnect(|_, sid, reason| println!("disconnect {sid} {reason}"))
        .on_message(move |server, sid, msg| {
            if msg.as_text() == Some("close-me") {
                let _ = server.disconnect(sid);
            } else if clustered {
                cluster_message(server, sid, msg);
            } else {
                let _ = server.send(sid, msg);
            }
        })
        .build()
        .unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(2)
        });
    let app = App::new(server);
    let (app, scheme) = match (tls_cert, tls_key) {
        (None, None) => (app, "http"),
        (Some(cert), Some(key)) => (with_tls(app, &cert, &key), "https"),
        _ => {
            eprintln!("echo_server: --tls-cert and --tls-key go together\n\n{USAGE}");
            std::process::exit(2)
        }
    };
    let running = app.listen(&addr).unwrap_or_else(|e| {
        eprintln!("cannot listen on {addr}: {e}");
        std::process::exit(1)
    });
    println!("listening on {scheme}://{}", running.local_addr());
    running.wait();
}

#[cfg(feature = "tls")]
fn with_tls(app: App, cert: &str, key: &str) -> App {
    match engineio::server::TlsConfig::from_pem_files(cert, key) {
        Ok(tls) => app.tls(tls),
        Err(e) => {
            eprintln!("echo_server: {e}");
            std::process::exit(2)
        }
    }
}

#[cfg(not(feature = "tls"))]
fn with_tls(_: App, _: &str, _: &str) -> App {
    eprintln!(
        "echo_server: built without TLS; run it with `cargo run --features tls --example echo_server`"
    );
    std::process::exit(2)
}

#[cfg(feature = "redis")]
fn join_cluster(builder: ServerBuilder, url: String, node_id: Option<String>) -> ServerBuilder {
    let mut cluster = engineio::server::ClusterConfig::new(url);
    if let Some(id) = node_id {
        cluster = cluster.node_id(id);
    }
    builder.cluster(cluster)
}

#[cfg(not(feature = "redis"))]
fn join_cluster(_: ServerBuilder, _: String, _: Option<String>) -> ServerBuilder {
    eprintln!(
        "echo_server: built without the cluster; run it with `cargo run --features redis --example echo_server`"
    );
    std::process::exit(2)
}

/// In a cluster: `broadcast:<text>` sends `<text>` to every session of the cluster,
/// `count` answers `count:<sessions in the cluster>`, anything else is echoed.
#[cfg(feature = "redis")]
fn cluster_message(server: &Server, sid: &engineio::Sid, msg: engineio::Message) {
    match msg.as_text() {
        Some(text) if text.starts_with("broadcast:") => {
            if let Err(e) = server.cluster_broadcast(&text["broadcast:".len()..]) {
                let _ = server.send(sid, format!("error:{e}"));
            }
        }
        Some("count") => {
            let reply = match server.cluster_session_count() {
                Ok(n) => format!("count:{n}"),
                Err(e) => format!("error:{e}"),
            };
            let _ = server.send(sid, reply);
        }
        _ => {
            let _ = server.send(sid, msg);
        }
    }
}

#[cfg(not(feature = "redis"))]
fn cluster_message(server: &Server, sid: &engineio::Sid, msg: engineio::Message) {
    let _ = server.send(sid, msg);
}

fn number(s: &str) -> u64 {
    s.parse().unwrap_or_else(|_| {
        eprintln!("not a number: {s:?}");
        std::process::exit(2)
    })
}

/// A minimal stderr logger so that `RUST_LOG=debug` shows the server's log.
fn init_logger() {
    struct Stderr;
    impl log::Log for Stderr {
        fn enabled(&self, _: &log::Metadata<'_>) -> bool {
            true
        }
        fn log(&self, r: &log::Record<'_>) {
            eprintln!("[{}] {}: {}", r.level(), r.target(), r.args());
        }
        fn flush(&self) {}
    }
    static LOGGER: Stderr = Stderr;
    let level = match std::env::var("RUST_LOG").as_deref() {
        Ok("trace") => log::LevelFilter::Trace,
        Ok("debug") => log::LevelFilter::Debug,
        Ok("warn") => log::LevelFilter::Warn,
        Ok("error") => log::LevelFilter::Error,
        _ => log::LevelFilter::Info,
    };
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}
