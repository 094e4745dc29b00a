//! The client's configuration: the builder users fill, and the checked form the
//! connection code reads.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::client::{Client, Reason};
use crate::packet::Message;
use crate::transport::Transport;
use crate::{Error, ErrorKind, Result};

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
    url: String,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    transports: Vec<Transport>,
    request_timeout: Duration,
    timestamp_requests: bool,
    proxy: Option<String>,
    max_buffered: usize,
    #[cfg(feature = "tls")]
    tls: crate::client::tls::TlsOptions,
    handlers: Handlers,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("url", &self.url)
            .field("path", &self.path)
            .field("transports", &self.transports)
            .field("request_timeout", &self.request_timeout)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    pub(crate) fn new(url: &str) -> ClientBuilder {
        ClientBuilder {
            url: url.to_owned(),
            path: "/engine.io/".to_owned(),
            query: Vec::new(),
            headers: Vec::new(),
            transports: vec![Transport::Polling, Transport::WebSocket],
            request_timeout: Duration::from_secs(5),
            timestamp_requests: true,
            proxy: None,
            max_buffered: 16 * 1024 * 1024,
            #[cfg(feature = "tls")]
            tls: Default::default(),
            handlers: Handlers::default(),
        }
    }

    /// The Engine.IO path on the server. Defaults to `/engine.io/`; Socket.IO servers
    /// use `/socket.io/`. Leading and trailing slashes are added when missing. The
    /// path of the URL given to [`Client::builder`] is not used.
    pub fn path(mut self, path: &str) -> Self {
        self.path = path.to_owned();
        self
    }

    /// Adds a query parameter to every request (the handshake, each poll and the
    /// WebSocket). The server's connect handler sees it. Parameters already in the URL
    /// are kept. Defaults to none.
    pub fn query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((name.into(), value.into()));
        self
    }

    /// Adds a header to every HTTP request and to the WebSocket handshake (for
    /// example `Authorization`). Defaults to none.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The transports to use, in order. Defaults to `[Polling, WebSocket]`: connect
    /// with long-polling, then upgrade to WebSocket when the server offers it.
    /// `[WebSocket]` connects straight over WebSocket; `[Polling]` never upgrades.
    /// Duplicates are ignored; an empty list is refused by [`build`](Self::build).
    pub fn transports(mut self, transports: &[Transport]) -> Self {
        self.transports = transports.to_vec();
        self
    }

    /// Bounds the handshake, each POST, the WebSocket connection and handshake, the
    /// upgrade probe, each WebSocket write and a graceful disconnect. Long-poll GETs
    /// wait up to ping interval + ping timeout + this. Defaults to 5 seconds.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The most bytes of messages waiting to be POSTed (polling). A
    /// [`send`](Client::send) that would go over it fails with
    /// [`ErrorKind::QueueFull`](crate::ErrorKind::QueueFull) and queues nothing: the
    /// program produces faster than the network carries. Defaults to 16 MiB.
    pub fn max_buffered_bytes(mut self, bytes: usize) -> Self {
        self.max_buffered = bytes;
        self
    }

    /// Whether to add a cache-busting `t=<stamp>` parameter to GETs and to the
    /// WebSocket URL. Defaults to `true`.
    pub fn timestamp_requests(mut self, on: bool) -> Self {
        self.timestamp_requests = on;
        self
    }

    /// Sends every request through an HTTP proxy, `http://[user:password@]host:port`.
    /// Polling requests go through ureq's proxy support; the WebSocket is tunnelled
    /// with HTTP `CONNECT` through the same proxy. Only `http://` proxies are
    /// supported. Defaults to none (the `HTTP_PROXY` environment variables are not
    /// read).
    pub fn proxy(mut self, proxy: impl Into<String>) -> Self {
        self.proxy = Some(proxy.into());
        self
    }

    /// Trusts this root certificate (PEM, one or more `CERTIFICATE` blocks) for
    /// `https` and `wss`, for both transports. Once any root is given, only the given
    /// roots are trusted; by default the client trusts Mozilla's root certificates
    /// (the `webpki-roots` crate). A certificate that cannot be read makes
    /// [`build`](Self::build) fail with [`ErrorKind::Tls`].
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn root_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls.roots_pem.push(pem.into());
        self
    }

    /// Trusts this root certificate (DER) for `https` and `wss`, for both transports.
    /// As [`root_certificate_pem`](Self::root_certificate_pem).
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn root_certificate_der(mut self, der: impl Into<Vec<u8>>) -> Self {
        self.tls.roots_der.push(der.into());
        self
    }

    /// Turns off every check of the server's certificate (issuer, name, expiry) on
    /// both transports: anyone on the path can then read and change the traffic.
    /// Meant for test servers with throw-away certificates. Defaults to `false`.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn danger_accept_invalid_certs(mut self, accept: bool) -> Self {
        self.tls.accept_invalid = accept;
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
    /// invalid header or proxy, a zero request timeout; [`ErrorKind::Tls`] for a root
    /// certificate that cannot be read.
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
        let handlers = self.handlers;
        let config = Config::new(
            &self.url,
            &self.path,
            &self.query,
            self.headers,
            &self.transports,
            self.request_timeout,
            self.timestamp_requests,
            self.proxy.as_deref(),
            self.max_buffered,
            #[cfg(feature = "tls")]
            self.tls,
        )?;
        Ok(Client::from_parts(config, handlers))
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
    pub(crate) request_timeout: Duration,
    pub(crate) timestamp_requests: bool,
    pub(crate) proxy: Option<ureq::Proxy>,
    pub(crate) max_buffered: usize,
    #[cfg(feature = "tls")]
    pub(crate) tls: crate::client::tls::Tls,
}

impl Config {
    #[allow(clippy::too_many_arguments)]
    fn new(
        url: &str,
        path: &str,
        extra_query: &[(String, String)],
        headers: Vec<(String, String)>,
        transports: &[Transport],
        request_timeout: Duration,
        timestamp_requests: bool,
        proxy: Option<&str>,
        max_buffered: usize,
        #[cfg(feature = "tls")] tls: crate::client::tls::TlsOptions,
    ) -> Result<Arc<Config>> {
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
        for (name, value) in extra_query {
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
        for &t in transports {
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
        if request_timeout.is_zero() {
            return Err(Error::new(
                ErrorKind::Config,
                "the request timeout must be above zero",
            ));
        }
        let proxy = match proxy {
            None => None,
            Some(text) => {
                let proxy = ureq::Proxy::new(text).map_err(|e| {
                    Error::new(ErrorKind::Config, format!("invalid proxy {text:?}")).with_source(e)
                })?;
                if proxy.protocol() != ureq::ProxyProtocol::Http {
                    return Err(Error::new(
                        ErrorKind::Config,
                        format!("unsupported proxy {text:?}: only http:// proxies are supported"),
                    ));
                }
                Some(proxy)
            }
        };
        Ok(Arc::new(Config {
            target,
            path: normalize_path(path),
            query,
            headers,
            transports: list,
            request_timeout,
            timestamp_requests,
            proxy,
            max_buffered,
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
        url.push_str("&EIO=4");
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
mod tests {
    use super::*;

    fn config(url: &str) -> Arc<Config> {
        Config::new(
            url,
            "engine.io",
            &[("tok en".into(), "a&b".into())],
            vec![],
            &[Transport::Polling],
            Duration::from_secs(1),
            false,
            None,
            1 << 20,
            #[cfg(feature = "tls")]
            Default::default(),
        )
        .unwrap()
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
    fn bad_urls_are_config_errors() {
        for url in ["ftp://x", "x", "http://", "http://h:port", "http://u@h"] {
            let err = Config::new(
                url,
                "/",
                &[],
                vec![],
                &[Transport::Polling],
                Duration::from_secs(1),
                true,
                None,
                1 << 20,
                #[cfg(feature = "tls")]
                Default::default(),
            )
            .err()
            .unwrap_or_else(|| panic!("{url} accepted"));
            assert_eq!(err.kind(), ErrorKind::Config, "{url}");
        }
    }

    #[test]
    fn paths_are_normalised() {
        assert_eq!(normalize_path("engine.io"), "/engine.io/");
        assert_eq!(normalize_path("/socket.io/"), "/socket.io/");
        assert_eq!(normalize_path(""), "/");
    }
}
