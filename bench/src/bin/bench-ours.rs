//! "ours": the engineio library as a benchmark contender.
//!
//! Configured like every other contender: ping 25 s / 20 s, max payload 1,000,000,
//! no HTTP compression, no CORS, no cookie, no logging. Every message is echoed as it
//! came (text stays text, binary stays binary), except a text message starting with
//! `broadcast:`, whose rest goes to every connected session.
//!
//! ```text
//! bench-ours [--port 0] [--transports polling,websocket] [--redis URL --node-id ID]
//!            [--tls-cert FILE --tls-key FILE]
//! ```
//! With `--redis`, the server joins a cluster over Redis (the cluster scenario) and
//! `broadcast:` goes to every session of the cluster (`Server::cluster_broadcast`).
//! With `--tls-cert` and `--tls-key` it serves https and wss with that PEM certificate
//! chain and key (the library's `tls` feature; the tls scenario).
//! Prints `listening on http://127.0.0.1:PORT` (`https://` with TLS) once it accepts
//! connections.

use std::time::Duration;

use engineio::server::{
    App, ClusterConfig, CorsPolicy, Server, ServerBuilder, TlsConfig, Transport,
};

const USAGE: &str = "usage: bench-ours [--port N] [--transports polling,websocket] \
                     [--redis URL --node-id ID] [--tls-cert FILE --tls-key FILE]";

fn main() {
    let mut port = 0u16;
    let mut transports = vec![Transport::Polling, Transport::WebSocket];
    let mut redis = None;
    let mut node_id = None;
    let (mut tls_cert, mut tls_key) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            println!("{USAGE}");
            return;
        }
        let value = args.next().unwrap_or_else(|| usage(&flag));
        match flag.as_str() {
            "--port" => port = value.parse().unwrap_or_else(|_| usage(&flag)),
            "--tls-cert" => tls_cert = Some(value),
            "--tls-key" => tls_key = Some(value),
            "--transports" => {
                transports = value
                    .split(',')
                    .map(|t| match t {
                        "polling" => Transport::Polling,
                        "websocket" => Transport::WebSocket,
                        _ => usage(&flag),
                    })
                    .collect()
            }
            "--redis" => redis = Some(value),
            "--node-id" => node_id = Some(value),
            _ => usage(&flag),
        }
    }
    let mut builder = builder(&transports, redis.is_some());
    if let Some(url) = redis {
        let mut config = ClusterConfig::new(url);
        if let Some(id) = node_id {
            config = config.node_id(id);
        }
        builder = builder.cluster(config);
    }
    let server = builder.build().unwrap_or_else(|e| die(&e));
    let (app, scheme) = match (tls_cert, tls_key) {
        (None, None) => (App::new(server), "http"),
        (Some(cert), Some(key)) => {
            let tls = TlsConfig::from_pem_files(&cert, &key).unwrap_or_else(|e| die(&e));
            (App::new(server).tls(tls), "https")
        }
        _ => usage("--tls-cert"),
    };
    let running = app.listen(("127.0.0.1", port)).unwrap_or_else(|e| die(&e));
    println!("listening on {scheme}://{}", running.local_addr());
    running.wait();
}

fn builder(transports: &[Transport], cluster: bool) -> ServerBuilder {
    Server::builder()
        .transports(transports)
        .ping_interval(Duration::from_secs(25))
        .ping_timeout(Duration::from_secs(20))
        .max_payload(1_000_000)
        .http_compression(false)
        .cors(CorsPolicy::Disabled)
        .cors_credentials(false)
        // The default (10,000) is below the idle scenario's 15k sessions.
        .max_connections(19_000)
        .on_message(move |server, sid, msg| match msg.as_text() {
            Some(text) if text.starts_with("broadcast:") => {
                let rest = &text["broadcast:".len()..];
                if cluster {
                    if let Err(e) = server.cluster_broadcast(rest) {
                        eprintln!("bench-ours: cluster broadcast: {e}");
                    }
                } else {
                    server.broadcast(rest);
                }
            }
            _ => {
                let _ = server.send(sid, msg);
            }
        })
}

fn usage(flag: &str) -> ! {
    eprintln!("bench-ours: bad or missing value for {flag} (--tls-cert and --tls-key go together)");
    eprintln!("{USAGE}");
    std::process::exit(2)
}

fn die(e: &dyn std::fmt::Display) -> ! {
    eprintln!("bench-ours: {e}");
    std::process::exit(1)
}
