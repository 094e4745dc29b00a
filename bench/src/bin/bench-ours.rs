//! "ours": the engineio library as a benchmark contender.
//!
//! Configured like every other contender: ping 25 s / 20 s, max payload 1,000,000,
//! no HTTP compression, no CORS, no cookie, no logging. Every message is echoed as it
//! came (text stays text, binary stays binary), except a text message starting with
//! `broadcast:`, whose rest goes to every connected session.
//!
//! ```text
//! bench-ours [--port 0] [--transports polling,websocket] [--tls-cert FILE --tls-key FILE]
//! ```
//! Prints `listening on http://127.0.0.1:PORT` once it accepts connections (`https://`
//! with `--tls-cert` and `--tls-key`: https and wss with that PEM certificate chain and
//! key, the library's `tls` feature).

use std::time::Duration;

use engineio::server::{App, CorsPolicy, Server, ServerBuilder, TlsConfig, Transport};

const USAGE: &str =
    "usage: bench-ours [--port N] [--transports polling,websocket] [--tls-cert FILE --tls-key FILE]";

fn main() {
    let mut port = 0u16;
    let mut transports = vec![Transport::Polling, Transport::WebSocket];
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
            _ => usage(&flag),
        }
    }
    let server = builder(&transports).build().unwrap_or_else(|e| die(&e));
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

fn builder(transports: &[Transport]) -> ServerBuilder {
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
        .on_message(|server, sid, msg| match msg.as_text() {
            Some(text) if text.starts_with("broadcast:") => {
                server.broadcast(&text["broadcast:".len()..]);
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
