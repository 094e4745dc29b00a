//! The HTTP/1.1 connection layer: an accept loop, one thread per connection, request
//! heads parsed with `httparse`, bodies with limits, keep-alive and responses.
//!
//! Nothing here knows Engine.IO: the [`Service`](conn::Service) does.

pub(crate) mod compression;
pub(crate) mod conn;
pub(crate) mod listener;
pub(crate) mod response;
pub(crate) mod stream;

use std::time::Duration;

pub(crate) use conn::{BodyError, Exchange, Outcome, Service};
pub(crate) use response::{Body, Response};

/// What a listener accepts TLS connections with (feature `tls`).
#[cfg(feature = "tls")]
pub(crate) use crate::server::tls::TlsConfig as TlsAcceptor;

/// Without the `tls` feature there is nothing to accept TLS with.
#[cfg(not(feature = "tls"))]
#[derive(Clone)]
pub(crate) enum TlsAcceptor {}

#[cfg(not(feature = "tls"))]
impl TlsAcceptor {
    pub(crate) fn accept(
        &self,
        _: std::sync::Arc<std::net::TcpStream>,
        _: std::time::Instant,
    ) -> std::io::Result<stream::Stream> {
        match *self {}
    }
}

/// The connection layer's limits (see the server builder for their defaults).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub max_head_size: usize,
    pub head_timeout: Duration,
    pub keep_alive_timeout: Duration,
    pub body_timeout: Duration,
    pub write_timeout: Duration,
    pub max_connections: usize,
    pub thread_stack_size: usize,
}
