//! # engineio
//!
//! A blocking, thread-per-connection [Engine.IO] v4 server (and, later, client), with
//! no async runtime: the Rust counterpart of python-engineio.
//!
//! [Engine.IO]: https://socket.io/docs/v4/engine-io-protocol/
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
pub mod packet;
pub mod payload;

#[cfg(feature = "server")]
pub mod server;

pub use error::{Error, ErrorKind, Result};
pub use packet::{Message, Packet, PacketType};
