//! `eio-load`: a load generator for Engine.IO v4 servers, on one thread with
//! non-blocking sockets (mio/epoll), holding any number of connections (15k and more,
//! within the process's file limit).
//!
//! It speaks the protocol by itself, over plain TCP or TLS (`https`/`wss`, rustls:
//! [`tls`]): WebSocket handshake and framing ([`ws`]), packets and payloads ([`eio`]),
//! the HTTP/1.1 of long-polling ([`http`]), the polling cycle, the upgrade and answering
//! every ping ([`gen`]). Round trips go into HDR histograms ([`stats`]). [`run`] drives
//! a whole echo load test (open or closed loop) and reports it.
//!
//! Two programs use it: the benchmark harness `eio-bench` (`bench/`) and the `engineio`
//! command-line tool's `bench` subcommand (`cli/`).
//!
//! ```no_run
//! use std::time::Duration;
//! use eio_load::gen::{Gen, Kind, Target};
//! use eio_load::run::{run, Plan};
//!
//! let target = Target::new("127.0.0.1:5000".parse().unwrap());
//! let plan = Plan {
//!     connections: 10,
//!     kind: Kind::EioWs,
//!     duration: Duration::from_secs(5),
//!     ..Plan::default()
//! };
//! let report = run(Gen::to(target)?, &plan, &mut |_progress| {})?;
//! println!("{} echoes, p99 {} µs", report.received, report.rtt.percentiles().p99_us);
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Over TLS, the same target with whom to trust (a CA's PEM file here):
//!
//! ```no_run
//! use eio_load::gen::{Gen, Target};
//! use eio_load::tls::Tls;
//!
//! let tls = Tls::trusting_ca_file("ca.pem".as_ref(), "127.0.0.1")?;
//! let gen = Gen::to(Target::new("127.0.0.1:5443".parse().unwrap()).with_tls(tls))?;
//! # Ok::<(), std::io::Error>(())
//! ```

pub mod eio;
pub mod gen;
pub mod http;
pub mod run;
pub mod stats;
pub mod tls;
pub mod ws;
