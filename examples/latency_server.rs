//! The latency example (as in python-engineio's examples): a page that measures
//! message round trips with the official JavaScript client, and a server that echoes.
//!
//! ```text
//! npm ci            # the official client's browser bundle comes from node_modules
//! cargo run --example latency_server -- --addr 127.0.0.1:5000
//! ```
//!
//! Then open <http://127.0.0.1:5000/>. The page is `examples/latency/latency.html`;
//! `/engine.io.js` is served from `node_modules/engine.io-client/dist/engine.io.js`
//! (not committed to this repository). It prints `listening on http://ADDR` when ready.

use std::path::Path;

use engineio::server::{App, Server, StaticFiles};

fn main() {
    let mut args = std::env::args().skip(1);
    let mut addr = "127.0.0.1:5000".to_string();
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            println!(
                "usage: latency_server [--addr HOST:PORT]   (default 127.0.0.1:5000)\n\n\
                 Serves the latency page (examples/latency/latency.html, with the official\n\
                 client from node_modules: run `npm ci` first) and echoes messages."
            );
            return;
        }
        match (flag.as_str(), args.next()) {
            ("--addr", Some(a)) => addr = a,
            _ => {
                eprintln!("usage: latency_server [--addr HOST:PORT]");
                std::process::exit(2)
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let page = root.join("examples/latency/latency.html");
    let bundle = root.join("node_modules/engine.io-client/dist/engine.io.js");
    if !bundle.exists() {
        eprintln!(
            "warning: {} is missing; run `npm ci` in {}",
            bundle.display(),
            root.display()
        );
    }
    let server = Server::builder()
        .on_message(|server, sid, msg| {
            let _ = server.send(sid, msg);
        })
        .build()
        .expect("valid configuration");
    let files = StaticFiles::new()
        .file("/", page.to_string_lossy())
        .file_with_type(
            "/engine.io.js",
            bundle.to_string_lossy(),
            "application/javascript",
        );
    let running = App::new(server)
        .static_files(files)
        .listen(&addr)
        .unwrap_or_else(|e| {
            eprintln!("cannot listen on {addr}: {e}");
            std::process::exit(1)
        });
    println!("listening on http://{}", running.local_addr());
    running.wait();
}
