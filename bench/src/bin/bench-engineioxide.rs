//! The engineioxide contender (hyper + tokio), configured like every other contender:
//! ping 25 s / 20 s, max payload 1,000,000, polling and WebSocket, no logging
//! (engineioxide has no HTTP compression, CORS or cookie of its own). Echo and
//! `broadcast:` handlers as in `bench-ours`.
//!
//! ```text
//! bench-engineioxide [--port 0]
//! ```
//! Prints `listening on http://127.0.0.1:PORT` once it accepts connections.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use engineioxide::config::EngineIoConfig;
use engineioxide::handler::EngineIoHandler;
use engineioxide::service::EngineIoService;
use engineioxide::sid::Sid;
use engineioxide::{DisconnectReason, Socket, Str, TransportType};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;

/// Keeps every connected socket, for `broadcast:`.
#[derive(Debug, Default)]
struct Echo {
    sockets: RwLock<HashMap<Sid, Arc<Socket<()>>>>,
}

impl EngineIoHandler for Echo {
    type Data = ();

    fn on_connect(self: Arc<Self>, socket: Arc<Socket<()>>) {
        self.sockets.write().unwrap().insert(socket.id, socket);
    }

    fn on_disconnect(&self, socket: Arc<Socket<()>>, _reason: DisconnectReason) {
        self.sockets.write().unwrap().remove(&socket.id);
    }

    fn on_message(self: &Arc<Self>, msg: Str, socket: Arc<Socket<()>>) {
        if let Some(rest) = msg.as_str().strip_prefix("broadcast:") {
            let rest = Str::from(rest.to_string());
            for s in self.sockets.read().unwrap().values() {
                let _ = s.emit(rest.clone());
            }
        } else {
            let _ = socket.emit(msg);
        }
    }

    fn on_binary(self: &Arc<Self>, data: Bytes, socket: Arc<Socket<()>>) {
        let _ = socket.emit_binary(data);
    }
}

fn main() {
    let port = eio_bench::port_flag("bench-engineioxide");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(serve(port));
}

async fn serve(port: u16) {
    let config = EngineIoConfig::builder()
        .ping_interval(Duration::from_secs(25))
        .ping_timeout(Duration::from_secs(20))
        .max_payload(1_000_000)
        .transports([TransportType::Polling, TransportType::Websocket])
        .build();
    let service = EngineIoService::with_config(Arc::new(Echo::default()), config);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    println!(
        "listening on http://{}",
        listener.local_addr().expect("addr")
    );
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of file descriptors: wait for some to be released.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = service.clone();
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
        });
    }
}
