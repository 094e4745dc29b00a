//! Every server option, with its default, set through [`ServerBuilder`].

use std::sync::Arc;
use std::time::Duration;

use super::cookie::CookieConfig;
use super::cors::CorsPolicy;
use super::handlers::Handlers;
use super::http::Limits;
use super::inner::Inner;
use super::{Message, Reason, Rejection, Request, Server, Sid, Transport};
use crate::{Error, ErrorKind, Result};

/// The server's configuration, fixed when the server is built.
#[derive(Clone)]
pub(crate) struct Config {
    pub ping_interval: Duration,
    pub ping_grace: Duration,
    pub ping_timeout: Duration,
    pub max_payload: usize,
    pub allow_upgrades: bool,
    pub http_compression: bool,
    pub compression_threshold: usize,
    pub cookie: Option<CookieConfig>,
    pub cors: CorsPolicy,
    pub cors_credentials: bool,
    pub polling: bool,
    pub websocket: bool,
    pub path: String,
    pub upgrade_timeout: Duration,
    pub close_timeout: Duration,
    pub max_buffered: usize,
    pub max_total_buffered: usize,
    pub max_poll_packets: usize,
    pub allow_eio3: bool,
    pub sid_generator: Option<Arc<dyn Fn() -> String + Send + Sync>>,
    pub limits: Limits,
}

impl Config {
    /// `pingInterval` as advertised: the interval plus the grace, in whole milliseconds.
    pub(crate) fn advertised_ping_interval(&self) -> u64 {
        (self.ping_interval + self.ping_grace).as_millis() as u64
    }

    /// How long a long-poll may wait with nothing to send (G2).
    pub(crate) fn poll_timeout(&self) -> Duration {
        self.ping_interval + self.ping_grace + self.ping_timeout
    }

    /// Whether a polling handshake advertises the websocket upgrade (H5).
    pub(crate) fn offers_upgrade(&self) -> bool {
        self.allow_upgrades && self.websocket && self.polling
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            ping_interval: Duration::from_secs(25),
            ping_grace: Duration::ZERO,
            ping_timeout: Duration::from_secs(20),
            max_payload: 1_000_000,
            allow_upgrades: true,
            http_compression: true,
            compression_threshold: 1024,
            cookie: None,
            cors: CorsPolicy::SameOrigin,
            cors_credentials: true,
            polling: true,
            websocket: true,
            path: "/engine.io/".to_string(),
            upgrade_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(30),
            max_buffered: 16 * 1024 * 1024,
            max_total_buffered: 256 * 1024 * 1024,
            max_poll_packets: 16,
            allow_eio3: false,
            sid_generator: None,
            limits: Limits {
                max_head_size: 16 * 1024,
                head_timeout: Duration::from_secs(10),
                keep_alive_timeout: Duration::from_secs(60),
                body_timeout: Duration::from_secs(30),
                write_timeout: Duration::from_secs(10),
                max_connections: 10_000,
                thread_stack_size: 512 * 1024,
            },
        }
    }
}

/// Builds a [`Server`]: every option has a documented default, so
/// `Server::builder().build()` is a working server.
///
/// ```
/// use std::time::Duration;
/// use engineio::server::{CorsPolicy, Server};
///
/// let server = Server::builder()
///     .ping_interval(Duration::from_secs(10))
///     .ping_timeout(Duration::from_secs(5))
///     .max_payload(100_000)
///     .cors(CorsPolicy::list(["https://example.com"]))
///     .on_message(|server, sid, msg| {
///         let _ = server.send(sid, msg);
///     })
///     .build()
///     .unwrap();
/// # drop(server);
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct ServerBuilder {
    config: Config,
    handlers: Handlers,
    transports: Option<Vec<Transport>>,
    #[cfg(feature = "redis")]
    cluster: Option<super::ClusterConfig>,
}

impl ServerBuilder {
    pub(crate) fn new() -> ServerBuilder {
        ServerBuilder {
            config: Config::default(),
            handlers: Handlers::default(),
            transports: None,
            #[cfg(feature = "redis")]
            cluster: None,
        }
    }

    /// How often the server pings each client. Defaults to 25 seconds; 1 ms to 24 h.
    pub fn ping_interval(mut self, interval: Duration) -> Self {
        self.config.ping_interval = interval;
        self
    }

    /// Extra time added to the *advertised* ping interval (python-engineio's
    /// `(interval, grace)` tuple): clients are told `interval + grace`, the server pings
    /// every `interval`. Defaults to zero; at most 24 h.
    pub fn ping_interval_grace(mut self, grace: Duration) -> Self {
        self.config.ping_grace = grace;
        self
    }

    /// How long the server waits for a pong before closing the session with
    /// [`Reason::PingTimeout`]. Defaults to 20 seconds; 1 ms to 24 h.
    ///
    /// Clients arm a timer of `ping_interval + ping_interval_grace + ping_timeout`,
    /// which must stay below 2^31 - 1 ms (about 24.8 days, the longest a JavaScript
    /// timer can wait): the three ranges guarantee it.
    pub fn ping_timeout(mut self, timeout: Duration) -> Self {
        self.config.ping_timeout = timeout;
        self
    }

    /// The largest inbound POST body and WebSocket message, in bytes, advertised to
    /// clients as `maxPayload`; larger ones are refused while reading (413 on polling)
    /// and close the session. Defaults to 1,000,000 (python's `max_http_buffer_size`);
    /// 1 byte to 1 GiB.
    ///
    /// It also bounds what waits for a busy message handler: while more than
    /// `max_payload` bytes (at least 64 KiB) of a session's messages wait, its
    /// connection is not read.
    pub fn max_payload(mut self, bytes: usize) -> Self {
        self.config.max_payload = bytes;
        self
    }

    /// Whether clients may upgrade from polling to WebSocket. When off, handshakes
    /// advertise no upgrade and upgrade requests are refused. Defaults to `true`.
    pub fn allow_upgrades(mut self, allow: bool) -> Self {
        self.config.allow_upgrades = allow;
        self
    }

    /// Whether long-poll responses are compressed (gzip or deflate, as the client
    /// accepts). Defaults to `true`.
    pub fn http_compression(mut self, on: bool) -> Self {
        self.config.http_compression = on;
        self
    }

    /// The smallest response body, in bytes, worth compressing. Defaults to 1024; at
    /// most 1 GiB.
    pub fn compression_threshold(mut self, bytes: usize) -> Self {
        self.config.compression_threshold = bytes;
        self
    }

    /// Sets a cookie holding the sid on every handshake response, for sticky sessions
    /// at a load balancer. Defaults to no cookie. `CookieConfig::default()` is
    /// `io=<sid>; Path=/; HttpOnly; SameSite=Lax`.
    pub fn cookie(mut self, cookie: CookieConfig) -> Self {
        self.config.cookie = Some(cookie);
        self
    }

    /// Which origins may talk to the server (browsers send `Origin`). Defaults to
    /// [`CorsPolicy::SameOrigin`].
    pub fn cors(mut self, policy: CorsPolicy) -> Self {
        self.config.cors = policy;
        self
    }

    /// Whether responses to allowed origins carry `Access-Control-Allow-Credentials:
    /// true`. Defaults to `true`.
    pub fn cors_credentials(mut self, on: bool) -> Self {
        self.config.cors_credentials = on;
        self
    }

    /// The transports clients may use: a non-empty subset of polling and WebSocket.
    /// Defaults to both.
    pub fn transports(mut self, transports: &[Transport]) -> Self {
        self.transports = Some(transports.to_vec());
        self
    }

    /// The URL path of the Engine.IO endpoint; `engine.io`, `/engine.io` and
    /// `/engine.io/` are the same. Defaults to `/engine.io/` (Socket.IO uses
    /// `/socket.io/`).
    pub fn path(mut self, path: &str) -> Self {
        self.config.path = normalize_path(path);
        self
    }

    /// How long an upgrade may take from the WebSocket's opening to the client's
    /// upgrade packet. Defaults to 10 seconds; 1 ms to 24 h.
    pub fn upgrade_timeout(mut self, timeout: Duration) -> Self {
        self.config.upgrade_timeout = timeout;
        self
    }

    /// How long a session closed by the server waits for the client's next long-poll,
    /// to deliver what was queued and the close packet, before it is forgotten.
    /// Defaults to 30 seconds; 1 ms to 24 h.
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.config.close_timeout = timeout;
        self
    }

    /// The most outbound bytes a session may have waiting (a polling client that does
    /// not collect its messages, a WebSocket peer that does not read). A send that
    /// would exceed it fails and closes the session with [`Reason::TransportError`].
    /// [`Server::buffered_bytes`] tells how much waits now. Defaults to 16 MiB; 1 KiB
    /// to 1 GiB.
    pub fn max_buffered_bytes(mut self, bytes: usize) -> Self {
        self.config.max_buffered = bytes;
        self
    }

    /// The most outbound bytes waiting across all sessions, so that many clients that
    /// do not read cannot take the machine's memory (a broadcast counts once per
    /// session it waits for). When a send would exceed it, the session holding the
    /// most is closed with [`Reason::TransportError`] (up to 8 per send) until it fits;
    /// if that is the session being sent to, the send fails. Defaults to 256 MiB;
    /// 1 MiB to 1 TiB (and at least `max_buffered_bytes`).
    pub fn max_total_buffered_bytes(mut self, bytes: usize) -> Self {
        self.config.max_total_buffered = bytes;
        self
    }

    /// The most packets one long-poll response carries; more wait for the next
    /// long-poll. Defaults to 16, because python-engineio's client refuses payloads of
    /// more than 16 packets (the official JavaScript client has no limit, so raise it
    /// if only that client connects); 2 to 100,000.
    pub fn max_poll_packets(mut self, packets: usize) -> Self {
        self.config.max_poll_packets = packets;
        self
    }

    /// Whether clients speaking Engine.IO protocol v3 (`EIO=3`: Socket.IO 2.x-era
    /// clients) are accepted, besides v4. A session keeps the version of its handshake;
    /// handlers and the API are the same for both ([`Server::protocol`] tells them
    /// apart). `EIO` values other than exactly `3` and `4` are always refused. Defaults
    /// to `false`, as the reference server's `allowEIO3`.
    pub fn allow_eio3(mut self, allow: bool) -> Self {
        self.config.allow_eio3 = allow;
        self
    }

    /// Replaces the session-id generator (by default 128 bits from the operating
    /// system's CSPRNG, 22 URL-safe characters). The server still guarantees
    /// uniqueness among live sessions; the generator must return non-empty ids made of
    /// `[A-Za-z0-9_-]`.
    pub fn sid_generator(mut self, f: impl Fn() -> String + Send + Sync + 'static) -> Self {
        self.config.sid_generator = Some(Arc::new(f));
        self
    }

    /// Makes this server a node of a cluster whose servers reach each other's sessions
    /// through Redis (feature `redis`): see the `cluster_*` methods of [`Server`], such
    /// as [`Server::cluster_broadcast`]. The node's sids then start with its node id
    /// (`<node id>_`, a custom [`sid_generator`](Self::sid_generator)'s ids included).
    /// `build` checks the options and starts the node's two threads, which connect to
    /// Redis in the background (and reconnect whenever it goes away). Defaults to no
    /// cluster.
    #[cfg(feature = "redis")]
    pub fn cluster(mut self, cluster: super::ClusterConfig) -> Self {
        self.cluster = Some(cluster);
        self
    }

    /// The most TCP connections served at once; beyond it new connections are answered
    /// `503` and closed. Defaults to 10,000; 1 to 1,000,000.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.config.limits.max_connections = n;
        self
    }

    /// The largest request head (request line and headers), in bytes; larger ones are
    /// answered `431`. Defaults to 16 KiB; 256 bytes to 1 MiB.
    pub fn max_head_size(mut self, bytes: usize) -> Self {
        self.config.limits.max_head_size = bytes;
        self
    }

    /// How long a client may take to send a request head once it has started one;
    /// slower clients are answered `408` and dropped. Defaults to 10 seconds; 1 ms to
    /// 24 h.
    pub fn head_timeout(mut self, timeout: Duration) -> Self {
        self.config.limits.head_timeout = timeout;
        self
    }

    /// How long an idle keep-alive connection is kept open between requests.
    /// Defaults to 60 seconds; 1 ms to 24 h.
    pub fn keep_alive_timeout(mut self, timeout: Duration) -> Self {
        self.config.limits.keep_alive_timeout = timeout;
        self
    }

    /// How long a client may take to send a request body, from the end of its head to
    /// its last byte (draining an unread body included). Defaults to 30 seconds; 1 ms
    /// to 24 h.
    pub fn body_timeout(mut self, timeout: Duration) -> Self {
        self.config.limits.body_timeout = timeout;
        self
    }

    /// How long writing to a client may make no progress before its connection is
    /// dropped: one HTTP response, or the frames waiting for a WebSocket peer that
    /// stopped reading (that session then ends with `transport error`; senders never
    /// wait for it). Defaults to 10 seconds; 1 ms to 24 h.
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.config.limits.write_timeout = timeout;
        self
    }

    /// The stack size of the threads where handlers run (connection and dispatch
    /// threads). Defaults to 512 KiB; 64 KiB to 256 MiB.
    pub fn thread_stack_size(mut self, bytes: usize) -> Self {
        self.config.limits.thread_stack_size = bytes;
        self
    }

    /// Called for each handshake, before any response is written, with the new
    /// session's id and the request; return `Err(Rejection)` to refuse the client
    /// with `401`. The handler may [`Server::send`] to the new session. It runs on the
    /// handshake's connection thread. Replaces any earlier connect handler.
    pub fn on_connect(
        mut self,
        f: impl Fn(&Server, &Sid, &Request) -> Result<(), Rejection> + Send + Sync + 'static,
    ) -> Self {
        self.handlers.connect = Some(Box::new(f));
        self
    }

    /// Called for each message a client sends, in order, one call at a time per
    /// session, on the thread that read it (a slow handler gets its connection moved
    /// to another thread, so it may block: see [the module docs](super#where-handlers-run)).
    /// Replaces any earlier message handler.
    pub fn on_message(
        mut self,
        f: impl Fn(&Server, &Sid, Message) + Send + Sync + 'static,
    ) -> Self {
        self.handlers.message = Some(Box::new(f));
        self
    }

    /// Called exactly once when an accepted session ends, with the reason, after its
    /// last message call has returned; the session's data is still readable there
    /// ([`Server::get_session`]) and dropped after it. Never called inside the call
    /// that closed the session. Replaces any earlier disconnect handler.
    pub fn on_disconnect(
        mut self,
        f: impl Fn(&Server, &Sid, Reason) + Send + Sync + 'static,
    ) -> Self {
        self.handlers.disconnect = Some(Box::new(f));
        self
    }

    /// Called when a session's transport changes: today, when an upgrade from
    /// polling to WebSocket completes (never for a session that opened over
    /// WebSocket). It runs in order with the session's messages, as the message
    /// handler does: messages that arrived over polling before the upgrade have been
    /// handled, those over the WebSocket come after; never after the disconnect
    /// handler. Replaces any earlier upgrade handler.
    ///
    /// ```
    /// use engineio::server::Server;
    ///
    /// let server = Server::builder()
    ///     .on_upgrade(|_server, sid, transport| println!("{sid} now uses {transport}"))
    ///     .build()?;
    /// # drop(server);
    /// # Ok::<(), engineio::Error>(())
    /// ```
    pub fn on_upgrade(
        mut self,
        f: impl Fn(&Server, &Sid, Transport) + Send + Sync + 'static,
    ) -> Self {
        self.handlers.upgrade = Some(Box::new(f));
        self
    }

    /// Checks the configuration and starts the server's heartbeat and watchdog
    /// threads. The server serves nothing until it is given to an
    /// [`App`](super::App) that listens.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] naming the option and its range for any option out of
    /// range (each setter says its range), an empty transport list, an invalid
    /// cookie or CORS origin list; [`ErrorKind::Io`] if a thread cannot be started.
    pub fn build(mut self) -> Result<Server> {
        let c = &mut self.config;
        if let Some(t) = &self.transports {
            if t.is_empty() {
                return Err(Error::new(ErrorKind::Config, "the transport list is empty"));
            }
            c.polling = t.contains(&Transport::Polling);
            c.websocket = t.contains(&Transport::WebSocket);
        }
        c.validate()?;
        #[cfg(feature = "redis")]
        let cluster = self.cluster.map(super::cluster::Cluster::new).transpose()?;
        let inner = Arc::new(Inner::new(self.config, self.handlers));
        inner.start_threads()?;
        #[cfg(feature = "redis")]
        if let Some(cluster) = cluster {
            let cluster = inner.cluster.get_or_init(|| cluster);
            if let Err(e) = cluster.start(Arc::downgrade(&inner)) {
                inner.shutdown();
                return Err(e.into());
            }
        }
        Ok(Server::from_inner(inner))
    }
}

const MS: Duration = Duration::from_millis(1);
const DAY: Duration = Duration::from_secs(24 * 3600);
const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;
const GIB: usize = 1024 * MIB;

/// `Err(Config)` unless `min <= value <= max`.
pub(crate) fn check_duration(
    name: &str,
    value: Duration,
    min: Duration,
    max: Duration,
) -> Result<()> {
    if value < min || value > max {
        return Err(Error::new(
            ErrorKind::Config,
            format!("{name} must be between {min:?} and {max:?} (got {value:?})"),
        ));
    }
    Ok(())
}

/// `Err(Config)` unless `min <= value <= max`.
pub(crate) fn check_size(name: &str, value: usize, min: usize, max: usize) -> Result<()> {
    if value < min || value > max {
        return Err(Error::new(
            ErrorKind::Config,
            format!("{name} must be between {min} and {max} (got {value})"),
        ));
    }
    Ok(())
}

impl Config {
    fn validate(&self) -> Result<()> {
        check_duration("ping_interval", self.ping_interval, MS, DAY)?;
        check_duration("ping_interval_grace", self.ping_grace, Duration::ZERO, DAY)?;
        check_duration("ping_timeout", self.ping_timeout, MS, DAY)?;
        check_duration("upgrade_timeout", self.upgrade_timeout, MS, DAY)?;
        check_duration("close_timeout", self.close_timeout, MS, DAY)?;
        let l = &self.limits;
        check_duration("head_timeout", l.head_timeout, MS, DAY)?;
        check_duration("keep_alive_timeout", l.keep_alive_timeout, MS, DAY)?;
        check_duration("body_timeout", l.body_timeout, MS, DAY)?;
        check_duration("write_timeout", l.write_timeout, MS, DAY)?;
        check_size("max_payload", self.max_payload, 1, GIB)?;
        check_size("compression_threshold", self.compression_threshold, 0, GIB)?;
        check_size("max_buffered_bytes", self.max_buffered, KIB, GIB)?;
        let tib = usize::try_from(1u64 << 40).unwrap_or(usize::MAX);
        check_size(
            "max_total_buffered_bytes",
            self.max_total_buffered,
            MIB.max(self.max_buffered),
            tib,
        )?;
        check_size("max_poll_packets", self.max_poll_packets, 2, 100_000)?;
        check_size("max_connections", l.max_connections, 1, 1_000_000)?;
        check_size("max_head_size", l.max_head_size, 256, MIB)?;
        check_size(
            "thread_stack_size",
            l.thread_stack_size,
            64 * KIB,
            256 * MIB,
        )?;
        if let Some(cookie) = &self.cookie {
            cookie.validate()?;
        }
        self.cors.validate()
    }
}

/// `foo`, `/foo`, `foo/` and `/foo/` all become `/foo/` (U1).
pub(crate) fn normalize_path(path: &str) -> String {
    let trimmed = path.trim_matches('/');
    if trimmed.is_empty() {
        "/".to_string()
    } else {
        format!("/{trimmed}/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalized() {
        for p in ["engine.io", "/engine.io", "engine.io/", "/engine.io/"] {
            assert_eq!(normalize_path(p), "/engine.io/");
        }
        assert_eq!(normalize_path("/a/b"), "/a/b/");
        assert_eq!(normalize_path(""), "/");
    }

    #[test]
    fn every_option_is_range_checked_and_named() {
        type Set = fn(ServerBuilder) -> ServerBuilder;
        let cases: &[(&str, Set)] = &[
            ("ping_interval", |b| b.ping_interval(Duration::MAX)),
            ("ping_interval", |b| {
                b.ping_interval(Duration::from_micros(10))
            }),
            ("ping_interval_grace", |b| {
                b.ping_interval_grace(Duration::MAX)
            }),
            ("ping_timeout", |b| b.ping_timeout(Duration::ZERO)),
            ("ping_timeout", |b| {
                b.ping_timeout(Duration::from_secs(u64::MAX))
            }),
            ("upgrade_timeout", |b| b.upgrade_timeout(Duration::MAX)),
            ("close_timeout", |b| b.close_timeout(Duration::ZERO)),
            ("head_timeout", |b| b.head_timeout(Duration::MAX)),
            ("keep_alive_timeout", |b| {
                b.keep_alive_timeout(Duration::ZERO)
            }),
            ("body_timeout", |b| b.body_timeout(Duration::MAX)),
            ("write_timeout", |b| b.write_timeout(Duration::ZERO)),
            ("max_payload", |b| b.max_payload(0)),
            ("max_payload", |b| b.max_payload(usize::MAX)),
            ("compression_threshold", |b| {
                b.compression_threshold(usize::MAX)
            }),
            ("max_buffered_bytes", |b| b.max_buffered_bytes(10)),
            ("max_total_buffered_bytes", |b| {
                b.max_total_buffered_bytes(1000)
            }),
            ("max_total_buffered_bytes", |b| {
                b.max_buffered_bytes(64 << 20)
                    .max_total_buffered_bytes(32 << 20)
            }),
            ("max_poll_packets", |b| b.max_poll_packets(1)),
            ("max_connections", |b| b.max_connections(0)),
            ("max_head_size", |b| b.max_head_size(10)),
            ("max_head_size", |b| b.max_head_size(usize::MAX)),
            ("thread_stack_size", |b| b.thread_stack_size(1024)),
        ];
        for (name, set) in cases {
            let e = set(Server::builder()).build().expect_err(name);
            assert_eq!(e.kind(), ErrorKind::Config, "{name}");
            let text = e.to_string();
            assert!(text.contains(name) && text.contains("between"), "{text}");
        }
        // The edges of the ranges are accepted.
        let s = Server::builder()
            .ping_interval(DAY)
            .ping_interval_grace(DAY)
            .ping_timeout(DAY)
            .max_payload(1)
            .max_buffered_bytes(KIB)
            .max_total_buffered_bytes(MIB)
            .max_poll_packets(2)
            .thread_stack_size(64 * KIB)
            .build()
            .unwrap();
        // pingInterval + pingTimeout stays below what a JavaScript timer can wait.
        let c = s.inner().config();
        assert!(c.advertised_ping_interval() + (c.ping_timeout.as_millis() as u64) < (1 << 31));
        s.shutdown();
    }

    #[test]
    fn bad_configuration_is_refused() {
        let e = Server::builder().transports(&[]).build().err().unwrap();
        assert_eq!(e.kind(), ErrorKind::Config);
        let e = Server::builder()
            .ping_interval(Duration::ZERO)
            .build()
            .err()
            .unwrap();
        assert_eq!(e.kind(), ErrorKind::Config);
        let e = Server::builder().max_payload(0).build().err().unwrap();
        assert_eq!(e.kind(), ErrorKind::Config);
    }

    #[test]
    fn advertised_interval_includes_grace_in_exact_ms() {
        let mut c = Config {
            ping_interval: Duration::from_millis(2500),
            ..Config::default()
        };
        assert_eq!(c.advertised_ping_interval(), 2500);
        c.ping_interval = Duration::from_secs(2);
        c.ping_grace = Duration::from_millis(1500);
        assert_eq!(c.advertised_ping_interval(), 3500);
    }
}
