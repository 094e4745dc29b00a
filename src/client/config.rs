//! The client's configuration: the builder users fill, and the checked form the
//! connection code reads.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::client::{proxy, Client, Reason};
use crate::packet::Message;
use crate::transport::Transport;
use crate::{Error, ErrorKind, ProtocolVersion, Result};

pub(crate) type ConnectHandler = dyn Fn(&Client) + Send + Sync;
pub(crate) type MessageHandler = dyn Fn(&Client, Message) + Send + Sync;
pub(crate) type DisconnectHandler = dyn Fn(&Client, Reason) + Send + Sync;

#[derive(Default)]
pub(crate) struct Handlers {
    pub(crate) connect: Option<Box<ConnectHandler>>,
    pub(crate) message: Option<Box<MessageHandler>>,
    pub(crate) disconnect: Option<Box<DisconnectHandler>>,
}

impl Handlers {
    pub(crate) fn is_empty(&self) -> bool {
        self.connect.is_none() && self.message.is_none() && self.disconnect.is_none()
    }
}

/// Configures a [`Client`]: the server's URL, the Engine.IO path, extra query
/// parameters and headers, the transports, timeouts, TLS and the event handlers.
///
/// Every setter documents its default. [`build`](ClientBuilder::build) checks the
/// configuration without touching the network; [`connect`](ClientBuilder::connect)
/// builds and connects at once.
///
/// ```no_run
/// use std::time::Duration;
/// use engineio::client::Client;
/// use engineio::Transport;
///
/// let client = Client::builder("http://localhost:5000")
///     .path("/socket.io/")
///     .query("token", "s3cret")
///     .header("X-Client", "demo")
///     .transports(&[Transport::Polling, Transport::WebSocket])
///     .request_timeout(Duration::from_secs(10))
///     .on_message(|_, msg| println!("got {msg:?}"))
///     .connect()?;
/// client.send("hello")?;
/// # Ok::<(), engineio::Error>(())
/// ```
pub struct ClientBuilder {
    pub(crate) options: Options,
    handlers: Handlers,
}

/// What the user asked for, unchecked.
pub(crate) struct Options {
    url: String,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    transports: Vec<Transport>,
    protocol: ProtocolVersion,
    force_base64: bool,
    request_timeout: Duration,
    timestamp_requests: bool,
    proxy: Option<String>,
    proxy_from_env: bool,
    max_buffered: usize,
    max_message: Option<usize>,
    event_buffer: usize,
    max_ping_interval: Duration,
    max_ping_timeout: Duration,
    #[cfg(feature = "tls")]
    tls: crate::client::tls::TlsOptions,
}

impl Options {
    pub(crate) fn new(url: &str) -> Options {
        Options {
            url: url.to_owned(),
            path: "/engine.io/".to_owned(),
            query: Vec::new(),
            headers: Vec::new(),
            transports: vec![Transport::Polling, Transport::WebSocket],
            protocol: ProtocolVersion::V4,
            force_base64: false,
            request_timeout: Duration::from_secs(5),
            timestamp_requests: true,
            proxy: None,
            proxy_from_env: false,
            max_buffered: 16 * MIB,
            max_message: None,
            event_buffer: 8 * MIB,
            max_ping_interval: Duration::from_secs(300),
            max_ping_timeout: Duration::from_secs(300),
            #[cfg(feature = "tls")]
            tls: Default::default(),
        }
    }
}

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;
const GIB: usize = 1024 * 1024 * 1024;

/// The accepted range of each duration and size option.
const REQUEST_TIMEOUT: (Duration, Duration) = (Duration::from_millis(1), Duration::from_secs(3600));
const MAX_BUFFERED: (usize, usize) = (1, GIB);
const MAX_MESSAGE: (usize, usize) = (KIB, GIB);
const EVENT_BUFFER: (usize, usize) = (KIB, GIB);
const MAX_HEARTBEAT: (Duration, Duration) =
    (Duration::from_millis(1), Duration::from_secs(24 * 3600));

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("url", &self.options.url)
            .field("path", &self.options.path)
            .field("transports", &self.options.transports)
            .field("protocol", &self.options.protocol)
            .field("request_timeout", &self.options.request_timeout)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    pub(crate) fn new(url: &str) -> ClientBuilder {
        ClientBuilder {
            options: Options::new(url),
            handlers: Handlers::default(),
        }
    }

    /// The Engine.IO path on the server. Defaults to `/engine.io/`; Socket.IO servers
    /// use `/socket.io/`. Leading and trailing slashes are added when missing. The
    /// path of the URL given to [`Client::builder`] is not used.
    pub fn path(mut self, path: &str) -> Self {
        self.options.path = path.to_owned();
        self
    }

    /// Adds a query parameter to every request (the handshake, each poll and the
    /// WebSocket). The server's connect handler sees it. Parameters already in the URL
    /// are kept. Defaults to none.
    pub fn query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.options.query.push((name.into(), value.into()));
        self
    }

    /// Adds a header to every HTTP request and to the WebSocket handshake (for
    /// example `Authorization`). Defaults to none.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.options.headers.push((name.into(), value.into()));
        self
    }

    /// The transports to use, in order. Defaults to `[Polling, WebSocket]`: connect
    /// with long-polling, then upgrade to WebSocket when the server offers it.
    /// `[WebSocket]` connects straight over WebSocket; `[Polling]` never upgrades.
    /// Duplicates are ignored; an empty list is refused by [`build`](Self::build).
    pub fn transports(mut self, transports: &[Transport]) -> Self {
        self.options.transports = transports.to_vec();
        self
    }

    /// The Engine.IO protocol revision to speak: the `EIO` query parameter of every
    /// request. Defaults to [`ProtocolVersion::V4`], the current protocol.
    /// [`ProtocolVersion::V3`] talks to servers of the Socket.IO 2.x era (`engine.io`
    /// 3.x, python-engineio 3.x, or ours with `allow_eio3`): length-prefixed polling
    /// payloads (binary messages in the binary form, see
    /// [`force_base64`](Self::force_base64)), a type byte before binary WebSocket
    /// messages, and a heartbeat the other way round: the client sends a ping every
    /// ping interval and ends the connection with [`Reason::PingTimeout`] when the
    /// server's pong does not come within the ping timeout. Handlers, events and every
    /// other option work the same; [`Client::protocol`] tells which version a client
    /// speaks. A server that does not accept the version refuses the handshake
    /// ([`ErrorKind::Handshake`](crate::ErrorKind::Handshake), status 400).
    ///
    /// ```
    /// use engineio::client::Client;
    /// use engineio::server::{App, Server};
    /// use engineio::ProtocolVersion;
    ///
    /// let server = Server::builder()
    ///     .allow_eio3(true)
    ///     .on_message(|s, sid, m| { let _ = s.send(sid, m); })
    ///     .build()?;
    /// let app = App::new(server).listen("127.0.0.1:0")?;
    /// let client = Client::builder(&format!("http://{}", app.local_addr()))
    ///     .protocol(ProtocolVersion::V3)
    ///     .connect()?;
    /// assert_eq!(client.protocol(), ProtocolVersion::V3);
    /// let sid = client.handshake().unwrap().sid;
    /// assert_eq!(app.server().protocol(&sid)?, ProtocolVersion::V3);
    /// client.send("hello")?;
    /// let echo = client.events().find_map(|e| match e {
    ///     engineio::client::Event::Message(m) => Some(m),
    ///     _ => None,
    /// });
    /// assert_eq!(echo.unwrap().as_text(), Some("hello"));
    /// client.disconnect();
    /// # Ok::<(), engineio::Error>(())
    /// ```
    pub fn protocol(mut self, version: ProtocolVersion) -> Self {
        self.options.protocol = version;
        self
    }

    /// Asks the server for binary messages as base64 text (the `b64=1` query
    /// parameter on every request, the reference client's `forceBase64`), and sends
    /// them that way. Defaults to `false`: binary messages travel as binary.
    ///
    /// With protocol v3 this decides the polling payloads: by default a POST that
    /// carries a binary message is sent in the binary form (`application/octet-stream`)
    /// and others in the text form, and the server answers likewise; with
    /// `force_base64(true)` every payload is in the text form, binary messages as
    /// `b4` + base64 (for servers or proxies that mangle binary bodies). On WebSocket
    /// (both versions) binary messages then travel as `b…` text frames. v4 polling
    /// always carries binary as base64, so there it changes nothing.
    ///
    /// python-engineio 3.x servers write the text form's lengths in UTF-8 bytes, not
    /// in UTF-16 units as the protocol has it: with them, non-ASCII text over polling
    /// needs the default (binary-form) payloads.
    ///
    /// ```
    /// # use engineio::client::Client;
    /// use engineio::ProtocolVersion;
    ///
    /// let client = Client::builder("http://127.0.0.1:5000")
    ///     .protocol(ProtocolVersion::V3)
    ///     .force_base64(true)
    ///     .build()?;
    /// # Ok::<(), engineio::Error>(())
    /// ```
    pub fn force_base64(mut self, on: bool) -> Self {
        self.options.force_base64 = on;
        self
    }

    /// Bounds, each as a whole, whatever a server may drip-feed or stall:
    /// [`Client::connect`] (the polling handshake; or the TCP connection, proxy
    /// `CONNECT`, TLS handshake, `101` answer and OPEN packet of a WebSocket), each
    /// POST, the upgrade probe, each WebSocket [`send`](Client::send) (a write that
    /// cannot finish in time fails with [`ErrorKind::Timeout`](crate::ErrorKind::Timeout)
    /// and ends the connection with `transport error`) and a graceful disconnect.
    /// Long-poll GETs wait up to ping interval + ping timeout + this. Name resolution
    /// (DNS) for a WebSocket is left to the operating system's own timeouts.
    ///
    /// Defaults to 5 seconds; [`build`](Self::build) accepts 1 ms to 1 hour.
    ///
    /// ```
    /// use std::time::Duration;
    /// use engineio::client::Client;
    /// use engineio::ErrorKind;
    ///
    /// // A server that accepts the connection but never answers.
    /// let silent = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let err = Client::builder(&format!("http://{}", silent.local_addr()?))
    ///     .request_timeout(Duration::from_millis(200))
    ///     .connect()
    ///     .unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Timeout);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.options.request_timeout = timeout;
        self
    }

    /// The most bytes of messages waiting to be POSTed (polling). A
    /// [`send`](Client::send) that would go over it fails with
    /// [`ErrorKind::QueueFull`](crate::ErrorKind::QueueFull) and queues nothing: the
    /// program produces faster than the network carries. Defaults to 16 MiB;
    /// [`build`](Self::build) accepts 1 byte to 1 GiB.
    pub fn max_buffered_bytes(mut self, bytes: usize) -> Self {
        self.options.max_buffered = bytes;
        self
    }

    /// The largest message the client accepts from the server, in bytes of text or
    /// binary data. A larger one ends the connection with
    /// [`Reason::TransportError`]. The same limit, with base64's third added, bounds
    /// each packet of a long-poll response and each WebSocket message as they travel;
    /// a long-poll response holds at most 16 packets of this size when it is set
    /// (else of the server's `maxPayload`), or one of the largest message.
    ///
    /// Defaults to the larger of 16 MiB and the `maxPayload` the server advertises in
    /// its handshake (1,000,000 when it does not say; at most 64 MiB): Engine.IO does
    /// not limit what a server sends, only what it accepts, so messages larger than
    /// the server's `maxPayload` are normal. [`build`](Self::build) accepts 1 KiB to
    /// 1 GiB.
    ///
    /// ```
    /// # use engineio::client::Client;
    /// let client = Client::builder("http://127.0.0.1:5000")
    ///     .max_message_bytes(32 * 1024 * 1024)
    ///     .build()?;
    /// # Ok::<(), engineio::Error>(())
    /// ```
    pub fn max_message_bytes(mut self, bytes: usize) -> Self {
        self.options.max_message = Some(bytes);
        self
    }

    /// How many bytes of received messages may wait for the message handler, and as
    /// many for the [`Client::events`] iterator (each event counts its size plus 64
    /// bytes, so floods of empty messages are bounded too). When either is full, the
    /// client stops reading from the server until the handler or the iterator catches
    /// up: the server sees back-pressure, and nothing is dropped. A single message
    /// larger than this still passes an empty buffer. A consumer that stays behind
    /// longer than ping interval + ping timeout loses the connection
    /// ([`Reason::PingTimeout`]): pings cannot be read meanwhile.
    ///
    /// Defaults to 8 MiB; [`build`](Self::build) accepts 1 KiB to 1 GiB.
    ///
    /// ```
    /// # use engineio::client::Client;
    /// let client = Client::builder("http://127.0.0.1:5000")
    ///     .event_buffer_bytes(1024 * 1024)
    ///     .build()?;
    /// # Ok::<(), engineio::Error>(())
    /// ```
    pub fn event_buffer_bytes(mut self, bytes: usize) -> Self {
        self.options.event_buffer = bytes;
        self
    }

    /// The longest `pingInterval` the client accepts in a server's handshake; a
    /// server advertising more is refused ([`ErrorKind::Handshake`](crate::ErrorKind::Handshake)):
    /// with such values a dead server would never be noticed.
    ///
    /// Defaults to 5 minutes (servers use 25 seconds by default); [`build`](Self::build)
    /// accepts 1 ms to 24 hours.
    ///
    /// ```
    /// use std::time::Duration;
    /// # use engineio::client::Client;
    ///
    /// // Notice a dead server within two minutes at most.
    /// let client = Client::builder("http://127.0.0.1:5000")
    ///     .max_ping_interval(Duration::from_secs(60))
    ///     .max_ping_timeout(Duration::from_secs(60))
    ///     .build()?;
    /// # Ok::<(), engineio::Error>(())
    /// ```
    pub fn max_ping_interval(mut self, interval: Duration) -> Self {
        self.options.max_ping_interval = interval;
        self
    }

    /// The longest `pingTimeout` the client accepts in a server's handshake; a server
    /// advertising more is refused ([`ErrorKind::Handshake`](crate::ErrorKind::Handshake)).
    ///
    /// Defaults to 5 minutes (servers use 20 seconds by default); [`build`](Self::build)
    /// accepts 1 ms to 24 hours. See [`max_ping_interval`](Self::max_ping_interval)
    /// for an example.
    pub fn max_ping_timeout(mut self, timeout: Duration) -> Self {
        self.options.max_ping_timeout = timeout;
        self
    }

    /// Whether to add a cache-busting `t=<stamp>` parameter to GETs and to the
    /// WebSocket URL. Defaults to `true`.
    pub fn timestamp_requests(mut self, on: bool) -> Self {
        self.options.timestamp_requests = on;
        self
    }

    /// Sends every request through an HTTP proxy, `http://[user:password@]host:port`
    /// (`host:port` alone means `http://`). Polling requests go through ureq's proxy
    /// support; the WebSocket is tunnelled with HTTP `CONNECT` through the same
    /// proxy. Only `http://` proxies are supported; [`build`](Self::build) refuses
    /// others. Defaults to none; it wins over [`proxy_from_env`](Self::proxy_from_env).
    pub fn proxy(mut self, proxy: impl Into<String>) -> Self {
        self.options.proxy = Some(proxy.into());
        self
    }

    /// Takes the proxy from the environment, as curl does, when no
    /// [`proxy`](Self::proxy) is given. Defaults to `false`: the environment is not
    /// read, so a proxy variable set for other programs changes nothing.
    ///
    /// [`build`](Self::build) reads the variables once, for the URL's server; both
    /// transports then use the proxy (the WebSocket through `CONNECT`):
    ///
    /// - for `https` and `wss` URLs `https_proxy`, else `HTTPS_PROXY`; for `http` and
    ///   `ws` `http_proxy`, else `HTTP_PROXY` (not read when `REQUEST_METHOD` is set:
    ///   in a CGI program it may come from a request's `Proxy` header); for both, when
    ///   those are unset, `all_proxy`, else `ALL_PROXY`. Empty variables count as
    ///   unset. The value is a proxy as for [`proxy`](Self::proxy); another kind
    ///   (`socks5://`, `https://`) makes `build` fail with
    ///   [`ErrorKind::Config`](crate::ErrorKind::Config) naming the variable.
    /// - `no_proxy`, else `NO_PROXY`, lists servers reached directly, separated by
    ///   commas or spaces: `*` for all; a name for itself and its subdomains
    ///   (`example.com` and `.example.com` both cover `example.com` and
    ///   `www.example.com`, not `myexample.com`; a leading `*.` is ignored too); an IP
    ///   address, or a network as `10.0.0.0/8` or `fd00::/8` (IPv6 with or without
    ///   brackets), for the addresses it covers; `name:port` or `[v6]:port` for that
    ///   port only. Case and a trailing dot do not matter. Names are compared as
    ///   written in the URL, never resolved.
    ///
    /// ```
    /// # use engineio::client::Client;
    /// // With HTTP_PROXY=http://proxy.example:3128 and NO_PROXY=localhost,.internal,
    /// // this client goes through the proxy; one for http://api.internal would not.
    /// let client = Client::builder("http://example.com")
    ///     .proxy_from_env(true)
    ///     .build();
    /// # let _ = client;
    /// ```
    pub fn proxy_from_env(mut self, on: bool) -> Self {
        self.options.proxy_from_env = on;
        self
    }

    /// Which built-in roots the client trusts for `https` and `wss`, on both
    /// transports: Mozilla's ([`TlsRoots::Mozilla`](crate::client::TlsRoots::Mozilla)), the operating system's
    /// ([`TlsRoots::Os`](crate::client::TlsRoots::Os), read by [`build`](Self::build)), or both. Roots given with
    /// [`root_certificate_pem`](Self::root_certificate_pem) or
    /// [`root_certificate_der`](Self::root_certificate_der) are trusted in addition.
    ///
    /// Defaults to [`TlsRoots::Mozilla`](crate::client::TlsRoots::Mozilla) when no root is given, and to no built-in
    /// root at all once one is (the given roots replace the default ones). `build`
    /// fails with [`ErrorKind::Tls`] when the operating system's store is asked for and
    /// holds no usable certificate; unreadable certificates in it are skipped with a
    /// warning in the log. Without verification
    /// ([`danger_accept_invalid_certs`](Self::danger_accept_invalid_certs)) no root
    /// is read.
    ///
    /// ```
    /// use engineio::client::{Client, TlsRoots};
    ///
    /// // A company CA on top of Mozilla's roots.
    /// let company_ca = "-----BEGIN CERTIFICATE-----\n...";
    /// let builder = Client::builder("https://eio.example.com")
    ///     .tls_roots(TlsRoots::Mozilla)
    ///     .root_certificate_pem(company_ca);
    /// # let _ = builder;
    /// // The operating system's store, as browsers and curl use it.
    /// let client = Client::builder("https://eio.example.com")
    ///     .tls_roots(TlsRoots::Os)
    ///     .build()?;
    /// # Ok::<(), engineio::Error>(())
    /// ```
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn tls_roots(mut self, roots: crate::client::TlsRoots) -> Self {
        self.options.tls.roots = Some(roots);
        self
    }

    /// Trusts this root certificate (PEM, one or more `CERTIFICATE` blocks) for
    /// `https` and `wss`, for both transports; may be called again for more roots.
    /// Unless [`tls_roots`](Self::tls_roots) is set, the given roots *replace* the
    /// default ones (Mozilla's): only they are trusted. With `tls_roots` they are
    /// trusted in addition to the set chosen there. Defaults to none. A certificate
    /// that cannot be read makes [`build`](Self::build) fail with [`ErrorKind::Tls`].
    ///
    /// ```
    /// # use engineio::client::Client;
    /// let err = Client::builder("https://127.0.0.1:5000")
    ///     .root_certificate_pem("not a certificate")
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err.kind(), engineio::ErrorKind::Tls);
    /// ```
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn root_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.options.tls.roots_pem.push(pem.into());
        self
    }

    /// Trusts this root certificate (DER) for `https` and `wss`, for both transports.
    /// As [`root_certificate_pem`](Self::root_certificate_pem).
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn root_certificate_der(mut self, der: impl Into<Vec<u8>>) -> Self {
        self.options.tls.roots_der.push(der.into());
        self
    }

    /// Presents this client certificate to servers that ask for one (mutual TLS), on
    /// both transports: `chain` is PEM, the client's certificate first, then any
    /// intermediates (`CERTIFICATE` blocks); `key` is its private key in PEM
    /// (`PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY`; encrypted keys are not
    /// supported). Replaces an earlier client certificate. Defaults to none: a server
    /// that requires one then refuses the connection ([`ErrorKind::Tls`]).
    ///
    /// A server that refuses the certificate makes [`Client::connect`] fail with
    /// [`ErrorKind::Tls`]. With TLS 1.3 the refusal comes after the handshake, and
    /// some servers (Node.js with `rejectUnauthorized`) send no alert but drop the
    /// connection: while connecting with a client certificate, a connection reset
    /// or cut short before the server's first answer is reported as a TLS error too,
    /// with a note saying so.
    ///
    /// [`build`](Self::build) fails with [`ErrorKind::Tls`] when either cannot be
    /// read, or when the key does not belong to the certificate.
    ///
    /// ```no_run
    /// # use engineio::client::Client;
    /// let chain = std::fs::read("client.pem")?;
    /// let key = std::fs::read("client.key")?;
    /// let client = Client::builder("https://eio.example.com")
    ///     .client_certificate_pem(chain, key)
    ///     .connect()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn client_certificate_pem(
        mut self,
        chain: impl Into<Vec<u8>>,
        key: impl Into<Vec<u8>>,
    ) -> Self {
        self.options.tls.client_cert = Some(crate::client::tls::ClientCert::Pem {
            chain: chain.into(),
            key: key.into(),
        });
        self
    }

    /// Presents this client certificate (mutual TLS), in DER: `chain` holds the
    /// client's certificate first, then any intermediates; `key` is a PKCS#8, PKCS#1
    /// (RSA) or SEC1 (EC) private key. As
    /// [`client_certificate_pem`](Self::client_certificate_pem).
    ///
    /// ```
    /// # use engineio::client::Client;
    /// let err = Client::builder("https://127.0.0.1:5000")
    ///     .client_certificate_der(vec![], vec![1, 2, 3])
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err.kind(), engineio::ErrorKind::Tls);
    /// ```
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn client_certificate_der(mut self, chain: Vec<Vec<u8>>, key: Vec<u8>) -> Self {
        self.options.tls.client_cert = Some(crate::client::tls::ClientCert::Der { chain, key });
        self
    }

    /// Turns off every check of the server's certificate (issuer, name, expiry) on
    /// both transports: anyone on the path can then read and change the traffic.
    /// Meant for test servers with throw-away certificates. Defaults to `false`.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn danger_accept_invalid_certs(mut self, accept: bool) -> Self {
        self.options.tls.accept_invalid = accept;
        self
    }

    /// Called once per connection, after the handshake and before any upgrade
    /// attempt, on the client's event thread. [`Client::connect`] returns after it
    /// has returned. Replaces an earlier connect handler.
    pub fn on_connect(mut self, handler: impl Fn(&Client) + Send + Sync + 'static) -> Self {
        self.handlers.connect = Some(Box::new(handler));
        self
    }

    /// Called for every message from the server, text or binary, in the order the
    /// server sent them, one call at a time, on the client's event thread. Replaces an
    /// earlier message handler.
    pub fn on_message(
        mut self,
        handler: impl Fn(&Client, Message) + Send + Sync + 'static,
    ) -> Self {
        self.handlers.message = Some(Box::new(handler));
        self
    }

    /// Called once when a connection ends, with the [`Reason`], after the last message
    /// call, on the client's event thread. Replaces an earlier disconnect handler.
    pub fn on_disconnect(
        mut self,
        handler: impl Fn(&Client, Reason) + Send + Sync + 'static,
    ) -> Self {
        self.handlers.disconnect = Some(Box::new(handler));
        self
    }

    /// Checks the configuration and creates a disconnected client; nothing touches
    /// the network. Connect it with [`Client::connect`].
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] for a URL that is not `http`, `https`, `ws` or `wss` with
    /// a host, `https`/`wss` without the `tls` feature, an empty transport list, an
    /// invalid header or proxy (given, or from the environment with
    /// [`proxy_from_env`](Self::proxy_from_env)), or a duration or size outside its
    /// documented range (the message names the option and the range);
    /// [`ErrorKind::Tls`] for a root or client certificate or key that cannot be read
    /// or used, or an operating system trust store without a usable certificate.
    ///
    /// ```
    /// use engineio::client::Client;
    /// use engineio::ErrorKind;
    ///
    /// let client = Client::builder("http://127.0.0.1:5000").build()?;
    /// assert!(!client.is_connected());
    /// let err = Client::builder("ftp://example.com").build().unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Config);
    /// # Ok::<(), engineio::Error>(())
    /// ```
    pub fn build(self) -> Result<Client> {
        let config = Config::new(self.options)?;
        Ok(Client::from_parts(config, self.handlers))
    }

    /// Builds the client and connects it: [`build`](Self::build) then
    /// [`Client::connect`].
    ///
    /// # Errors
    ///
    /// Those of [`build`](Self::build) and [`Client::connect`].
    pub fn connect(self) -> Result<Client> {
        let client = self.build()?;
        client.connect()?;
        Ok(client)
    }
}

/// Where the server is, from the user's URL.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub(crate) secure: bool,
    /// The host as written in the URL (IPv6 in brackets).
    pub(crate) host: String,
    pub(crate) port: u16,
    /// `host[:port]` as written in the URL.
    pub(crate) authority: String,
}

impl Target {
    /// The host without IPv6 brackets, for DNS, sockets and TLS server names.
    pub(crate) fn bare_host(&self) -> &str {
        self.host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(&self.host)
    }
}

/// The checked configuration of a client.
pub(crate) struct Config {
    pub(crate) target: Target,
    pub(crate) path: String,
    /// The URL's query and the extra parameters, encoded, without `?`; may be empty.
    pub(crate) query: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) transports: Vec<Transport>,
    /// The protocol revision spoken (`EIO`).
    pub(crate) protocol: ProtocolVersion,
    /// `b64=1` on every request; binary messages sent as base64 text.
    pub(crate) b64: bool,
    pub(crate) request_timeout: Duration,
    pub(crate) timestamp_requests: bool,
    pub(crate) proxy: Option<ureq::Proxy>,
    pub(crate) max_buffered: usize,
    /// The user's message limit; `None`: derived from the handshake.
    pub(crate) max_message: Option<usize>,
    pub(crate) event_buffer: usize,
    pub(crate) max_ping_interval: Duration,
    pub(crate) max_ping_timeout: Duration,
    #[cfg(feature = "tls")]
    pub(crate) tls: crate::client::tls::Tls,
}

/// Refuses `value` outside `range`, naming the option.
fn in_range<T: PartialOrd + fmt::Debug>(
    option: &str,
    value: T,
    (min, max): (T, T),
    show: impl Fn(&T) -> String,
) -> Result<T> {
    if value < min || value > max {
        return Err(Error::new(
            ErrorKind::Config,
            format!(
                "{option} must be between {} and {} (got {})",
                show(&min),
                show(&max),
                show(&value)
            ),
        ));
    }
    Ok(value)
}

fn show_duration(d: &Duration) -> String {
    format!("{d:?}")
}

fn show_bytes(n: &usize) -> String {
    match *n {
        n if n >= GIB && n % GIB == 0 => format!("{} GiB", n / GIB),
        n if n >= MIB && n % MIB == 0 => format!("{} MiB", n / MIB),
        n if n >= KIB && n % KIB == 0 => format!("{} KiB", n / KIB),
        n => format!("{n} bytes"),
    }
}

impl Config {
    pub(crate) fn new(options: Options) -> Result<Arc<Config>> {
        let Options {
            url,
            path,
            query: extra_query,
            headers,
            transports,
            protocol,
            force_base64,
            request_timeout,
            timestamp_requests,
            proxy,
            proxy_from_env,
            max_buffered,
            max_message,
            event_buffer,
            max_ping_interval,
            max_ping_timeout,
            #[cfg(feature = "tls")]
            tls,
        } = options;
        let url = url.as_str();
        let request_timeout = in_range(
            "request_timeout",
            request_timeout,
            REQUEST_TIMEOUT,
            show_duration,
        )?;
        let max_buffered = in_range("max_buffered_bytes", max_buffered, MAX_BUFFERED, show_bytes)?;
        let max_message = match max_message {
            Some(n) => Some(in_range("max_message_bytes", n, MAX_MESSAGE, show_bytes)?),
            None => None,
        };
        let event_buffer = in_range("event_buffer_bytes", event_buffer, EVENT_BUFFER, show_bytes)?;
        let max_ping_interval = in_range(
            "max_ping_interval",
            max_ping_interval,
            MAX_HEARTBEAT,
            show_duration,
        )?;
        let max_ping_timeout = in_range(
            "max_ping_timeout",
            max_ping_timeout,
            MAX_HEARTBEAT,
            show_duration,
        )?;
        let (target, url_path, url_query) = parse_url(url)?;
        if !matches!(url_path, "" | "/") {
            log::warn!(
                "engineio client: the path of {url:?} is ignored; the Engine.IO path is {path:?} (set it with ClientBuilder::path)"
            );
        }
        #[cfg(not(feature = "tls"))]
        if target.secure {
            return Err(Error::new(
                ErrorKind::Config,
                "https and wss URLs need the crate feature `tls`",
            ));
        }
        let mut query = url_query.to_owned();
        for (name, value) in &extra_query {
            if !query.is_empty() {
                query.push('&');
            }
            query.push_str(&encode_query_component(name));
            query.push('=');
            query.push_str(&encode_query_component(value));
        }
        for (name, value) in &headers {
            let name_ok = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if !name_ok {
                return Err(Error::new(
                    ErrorKind::Config,
                    format!("invalid header name {name:?}"),
                ));
            }
            if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
                return Err(Error::new(
                    ErrorKind::Config,
                    format!("invalid value for header {name:?}"),
                ));
            }
        }
        let mut list = Vec::new();
        for &t in &transports {
            if !list.contains(&t) {
                list.push(t);
            }
        }
        if list.is_empty() {
            return Err(Error::new(
                ErrorKind::Config,
                "no transport to connect with",
            ));
        }
        let proxy = match proxy {
            Some(url) => Some(proxy::Chosen {
                url,
                source: "ClientBuilder::proxy",
            }),
            None if proxy_from_env => {
                proxy::from_env(target.bare_host(), target.port, target.secure, |name| {
                    std::env::var(name).ok()
                })
            }
            None => None,
        };
        let proxy = proxy.as_ref().map(proxy::parse).transpose()?;
        Ok(Arc::new(Config {
            target,
            path: normalize_path(&path),
            query,
            headers,
            transports: list,
            protocol,
            b64: force_base64,
            request_timeout,
            timestamp_requests,
            proxy,
            max_buffered,
            max_message,
            event_buffer,
            max_ping_interval,
            max_ping_timeout,
            #[cfg(feature = "tls")]
            tls: crate::client::tls::Tls::new(tls)?,
        }))
    }

    /// The URL of an Engine.IO request over `transport`, with the session's `sid`.
    pub(crate) fn url(&self, transport: Transport, sid: Option<&str>) -> String {
        let scheme = match (transport, self.target.secure) {
            (Transport::Polling, false) => "http",
            (Transport::Polling, true) => "https",
            (Transport::WebSocket, false) => "ws",
            (Transport::WebSocket, true) => "wss",
        };
        let mut url = format!(
            "{scheme}://{}{}?{}",
            self.target.authority, self.path, self.query
        );
        if !self.query.is_empty() {
            url.push('&');
        }
        url.push_str("transport=");
        url.push_str(transport.as_str());
        url.push_str("&EIO=");
        url.push_str(self.protocol.as_str());
        if self.b64 {
            url.push_str("&b64=1");
        }
        if self.timestamp_requests {
            url.push_str("&t=");
            url.push_str(&timestamp());
        }
        if let Some(sid) = sid {
            url.push_str("&sid=");
            url.push_str(&encode_query_component(sid));
        }
        url
    }
}

/// A cache-buster unique within the process: milliseconds since the epoch and a
/// counter, in hex.
fn timestamp() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{millis:x}.{n:x}")
}

/// `/engine.io/` from `engine.io`, `/engine.io`, `engine.io/` or `/engine.io/`.
fn normalize_path(path: &str) -> String {
    let trimmed = path.trim_matches('/');
    if trimmed.is_empty() {
        "/".to_owned()
    } else {
        format!("/{trimmed}/")
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn encode_query_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Splits `scheme://authority/path?query#fragment`; returns the target, the path and
/// the query (fragment dropped).
fn parse_url(url: &str) -> Result<(Target, &str, &str)> {
    let bad = |why: &str| Error::new(ErrorKind::Config, format!("invalid URL {url:?}: {why}"));
    let url = url.trim();
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad("expected scheme://host"))?;
    let secure = match scheme.to_ascii_lowercase().as_str() {
        "http" | "ws" => false,
        "https" | "wss" => true,
        _ => return Err(bad("the scheme must be http, https, ws or wss")),
    };
    let rest = rest.split('#').next().unwrap_or("");
    let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = match before_query.find('/') {
        Some(i) => (&before_query[..i], &before_query[i..]),
        None => (before_query, ""),
    };
    if authority.contains('@') {
        return Err(bad(
            "user information in the URL is not supported; use a header",
        ));
    }
    let default_port = if secure { 443 } else { 80 };
    let (host, port) = if let Some(end) = authority.strip_prefix('[').and_then(|a| a.find(']')) {
        // [v6]:port
        let host = &authority[..end + 2];
        let after = &authority[end + 2..];
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad("invalid port"))?,
            None if after.is_empty() => default_port,
            None => return Err(bad("invalid host")),
        };
        (host, port)
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, port.parse().map_err(|_| bad("invalid port"))?),
            None => (authority, default_port),
        }
    };
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(bad("no host"));
    }
    Ok((
        Target {
            secure,
            host: host.to_owned(),
            port,
            authority: authority.to_owned(),
        },
        path,
        query,
    ))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn config(url: &str) -> Arc<Config> {
        let builder = ClientBuilder::new(url)
            .path("engine.io")
            .query("tok en", "a&b")
            .transports(&[Transport::Polling])
            .request_timeout(Duration::from_secs(1))
            .timestamp_requests(false);
        Config::new(builder.options).unwrap()
    }

    #[test]
    fn urls_keep_the_user_query_and_drop_the_fragment() {
        let c = config("http://example.com:8080/ignored?x=1#frag");
        assert_eq!(
            c.url(Transport::Polling, None),
            "http://example.com:8080/engine.io/?x=1&tok%20en=a%26b&transport=polling&EIO=4"
        );
        assert_eq!(
            c.url(Transport::WebSocket, Some("abc")),
            "ws://example.com:8080/engine.io/?x=1&tok%20en=a%26b&transport=websocket&EIO=4&sid=abc"
        );
        let c = config("ws://[::1]:9/");
        assert_eq!(c.target.bare_host(), "::1");
        assert_eq!(c.target.port, 9);
        assert!(c
            .url(Transport::Polling, None)
            .starts_with("http://[::1]:9/engine.io/?"));
        let c = config("http://h");
        assert_eq!(c.target.port, 80);
    }

    #[test]
    fn urls_name_the_protocol_version_and_base64() {
        let options = ClientBuilder::new("http://h:1")
            .protocol(ProtocolVersion::V3)
            .force_base64(true)
            .timestamp_requests(false)
            .options;
        let c = Config::new(options).unwrap();
        assert_eq!(
            c.url(Transport::Polling, Some("s")),
            "http://h:1/engine.io/?transport=polling&EIO=3&b64=1&sid=s"
        );
        assert_eq!(
            c.url(Transport::WebSocket, None),
            "ws://h:1/engine.io/?transport=websocket&EIO=3&b64=1"
        );
        let c = Config::new(ClientBuilder::new("http://h:1").options).unwrap();
        assert_eq!(c.protocol, ProtocolVersion::V4);
        assert!(!c.b64);
    }

    #[test]
    fn bad_urls_are_config_errors() {
        for url in ["ftp://x", "x", "http://", "http://h:port", "http://u@h"] {
            let err = Config::new(Options::new(url))
                .err()
                .unwrap_or_else(|| panic!("{url} accepted"));
            assert_eq!(err.kind(), ErrorKind::Config, "{url}");
        }
    }

    #[test]
    fn every_duration_and_size_is_range_checked_by_name() {
        let url = "http://127.0.0.1:5000";
        let cases: Vec<(&str, ClientBuilder)> = vec![
            (
                "request_timeout",
                ClientBuilder::new(url).request_timeout(Duration::ZERO),
            ),
            (
                "request_timeout",
                ClientBuilder::new(url).request_timeout(Duration::MAX),
            ),
            (
                "max_buffered_bytes",
                ClientBuilder::new(url).max_buffered_bytes(0),
            ),
            (
                "max_buffered_bytes",
                ClientBuilder::new(url).max_buffered_bytes(usize::MAX),
            ),
            (
                "max_message_bytes",
                ClientBuilder::new(url).max_message_bytes(10),
            ),
            (
                "max_message_bytes",
                ClientBuilder::new(url).max_message_bytes(usize::MAX),
            ),
            (
                "event_buffer_bytes",
                ClientBuilder::new(url).event_buffer_bytes(0),
            ),
            (
                "event_buffer_bytes",
                ClientBuilder::new(url).event_buffer_bytes(usize::MAX),
            ),
            (
                "max_ping_interval",
                ClientBuilder::new(url).max_ping_interval(Duration::ZERO),
            ),
            (
                "max_ping_interval",
                ClientBuilder::new(url).max_ping_interval(Duration::MAX),
            ),
            (
                "max_ping_timeout",
                ClientBuilder::new(url).max_ping_timeout(Duration::ZERO),
            ),
            (
                "max_ping_timeout",
                ClientBuilder::new(url).max_ping_timeout(Duration::MAX),
            ),
        ];
        for (option, builder) in cases {
            let err = builder.build().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{option}");
            let text = err.to_string();
            assert!(text.contains(option) && text.contains("between"), "{text}");
        }
        let edges = ClientBuilder::new(url)
            .request_timeout(Duration::from_secs(3600))
            .max_buffered_bytes(1)
            .max_message_bytes(1 << 30)
            .event_buffer_bytes(1024)
            .max_ping_interval(Duration::from_secs(24 * 3600))
            .max_ping_timeout(Duration::from_millis(1));
        assert!(edges.build().is_ok());
    }

    #[test]
    fn an_explicit_proxy_wins_over_the_environment() {
        // Whatever the environment says, the given proxy is used; its errors name
        // the option.
        let options = ClientBuilder::new("http://h:1")
            .proxy("http://127.0.0.1:3128")
            .proxy_from_env(true)
            .options;
        let proxy = Config::new(options).unwrap().proxy.clone().unwrap();
        assert_eq!((proxy.host(), proxy.port()), ("127.0.0.1", 3128));
        let options = ClientBuilder::new("http://h:1")
            .proxy("socks5://127.0.0.1:1080")
            .options;
        let err = Config::new(options).err().unwrap();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.to_string().contains("ClientBuilder::proxy"), "{err}");
    }

    #[test]
    fn paths_are_normalised() {
        assert_eq!(normalize_path("engine.io"), "/engine.io/");
        assert_eq!(normalize_path("/socket.io/"), "/socket.io/");
        assert_eq!(normalize_path(""), "/");
    }
}
