//! # engineio
//!
//! A blocking, thread-per-connection [Engine.IO] v4 server, with no async runtime: the
//! Rust counterpart of python-engineio, for synchronous programs, command-line tools
//! and thread-based test harnesses. It interoperates with the official JavaScript
//! client (`engine.io-client`) and browsers running it.
//!
//! ```no_run
//! use engineio::server::{App, Server};
//!
//! let server = Server::builder()
//!     .on_message(|server, sid, msg| {
//!         let _ = server.send(sid, msg); // echo, text stays text, binary stays binary
//!     })
//!     .on_disconnect(|_, sid, reason| println!("{sid} left: {reason}"))
//!     .build()?;
//! let running = App::new(server).listen("127.0.0.1:5000")?;
//! println!("listening on {}", running.local_addr());
//! running.wait();
//! # Ok::<(), engineio::Error>(())
//! ```
//!
//! ## What is here
//! - [`server`]: the server ([`server::Server`], its builder and handlers) and the
//!   router that puts it on a port ([`server::App`]) with static files and a fallback
//!   handler.
//! - [`packet`] and [`payload`]: the pure protocol codec (no I/O), usable on its own.
//! - One error type, [`Error`], whose [`ErrorKind`] says what to do about it.
//!
//! ## Transports
//! HTTP long-polling (and JSONP polling) and WebSocket, with the polling → WebSocket
//! upgrade, as the official JavaScript client expects. The server speaks protocol v4,
//! and v3 on request ([`server::ServerBuilder::allow_eio3`]); the codec of both is
//! public ([`payload`], [`payload::v3`], [`payload::jsonp`]).
//!
//! ## Client
//! [`client::Client`] (feature `client`, on by default) connects to any Engine.IO v4
//! server (or v3, with [`client::ClientBuilder::protocol`]) over polling (ureq) and
//! WebSocket (tungstenite), upgrading as the protocol describes; `https`/`wss` need the `tls` feature (rustls). Events come to handlers
//! or to a blocking iterator:
//!
//! ```no_run
//! use engineio::client::{Client, Event};
//!
//! let client = Client::builder("http://localhost:5000").connect()?;
//! client.send("hello")?;
//! for event in client.events() {
//!     if let Event::Message(msg) = event {
//!         println!("{msg:?}");
//!         client.disconnect();
//!     }
//! }
//! # Ok::<(), engineio::Error>(())
//! ```
//!
//! ## Threads and timeouts
//! One thread accepts connections; each TCP connection has its own thread, which runs
//! the message handlers of what it reads, one call at a time per session, in wire
//! order; one heartbeat thread keeps every session's ping and timeout deadlines. A
//! handler may block: after about 100 ms its connection moves to another thread, so
//! the client is still heard (see [the server docs](server#where-handlers-run)).
//! Handlers never run on the server's own threads or inside its methods, so any
//! [`server::Server`] method (it is `Clone + Send + Sync`) may be called from them.
//!
//! | limit | default |
//! |---|---|
//! | ping interval / timeout | 25 s / 20 s |
//! | max payload (POST body, WebSocket message) | 1,000,000 bytes |
//! | request head size / time | 16 KiB / 10 s |
//! | idle keep-alive | 60 s |
//! | concurrent connections | 10,000 |
//! | queued outbound bytes per session / in all | 16 MiB / 256 MiB |
//!
//! ## Logging
//! The crate logs through the [`log`](https://docs.rs/log) facade and prints nothing
//! by itself: install a logger to see it. Targets are the module paths, so
//! `engineio::server` and `engineio::client` (and below) select one side:
//!
//! ```text
//! // In main, with the env_logger crate:
//! env_logger::init();
//! // Then run with, for example:
//! //     RUST_LOG=engineio::server=info,engineio::client=warn cargo run
//! ```
//!
//! | level | what |
//! |---|---|
//! | `error` | faults of the server itself or of your code: a handler or callback that panicked, no thread or randomness from the OS, failing `accept`, an invalid id from your sid generator |
//! | `warn` | a peer over a limit (a client not reading, the server-wide outbound limit, a server sending too much to the client), the first refused request of each kind (a bad query, a refused origin: later ones at `debug`) |
//! | `info` | listening, sessions opening, upgrading and closing (with the reason), shutdown |
//! | `debug` | why a session ended in detail, every refused request, probes, timeouts, handoffs of slow handlers |
//! | `trace` | each accepted connection |
//!
//! [Engine.IO]: https://socket.io/docs/v4/engine-io-protocol/
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
pub mod packet;
pub mod payload;
mod reason;
mod sid;
mod transport;

#[cfg(feature = "server")]
pub mod server;

#[cfg(feature = "client")]
pub mod client;

/// The channel crate behind [`client::Events::receiver`] (`crossbeam-channel`),
/// re-exported so that its types can be named and its `select!` used without a
/// dependency of your own.
#[cfg(feature = "client")]
pub use crossbeam_channel as channel;

/// The `http` crate, whose types appear in the server's API ([`server::App::fallback`],
/// [`server::Request`]), re-exported so that you need no dependency of your own.
#[cfg(feature = "server")]
pub use http;

/// The `bytes` crate, whose [`Bytes`](bytes::Bytes) holds binary messages
/// ([`Message::Binary`]), re-exported.
pub use bytes;

/// The `serde` crate, whose `Serialize` bounds `send_json` and
/// [`server::Rejection::with_data`], re-exported (derive `Serialize` with your own
/// `serde` dependency and its `derive` feature, or pass maps, strings and numbers).
pub use serde;

pub use error::{Error, ErrorKind, Result};
pub use packet::{Handshake, Message, Packet, PacketType};
pub use reason::Reason;
pub use sid::Sid;
pub use transport::{ProtocolVersion, Transport};
