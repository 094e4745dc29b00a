//! The few raw HTTP/1.1 and WebSocket exchanges `probe` needs to see what the
//! library's client hides on purpose: status codes, headers, error bodies, a refused
//! `101`. One request per TCP connection (`Connection: close`), as a load balancer
//! sees a browser's separate connections. TLS through rustls; a proxy is always
//! tunnelled through with `CONNECT`, as the library's client does.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eio_load::ws::{self as wsframe, opcode};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};

use crate::common::{to_base64, Target};

/// Why a raw exchange failed before any HTTP answer.
#[derive(Debug)]
pub enum RawError {
    /// The name did not resolve.
    Dns(String),
    /// The TCP connection failed (refused, unreachable).
    Connect(io::Error),
    /// Nothing came within the timeout.
    Timeout,
    /// TLS failed: the certificate (`trust`), or the server does not speak TLS.
    Tls { message: String, not_tls: bool },
    /// The connection broke, or the server answered something that is not HTTP.
    Io(io::Error),
    /// The proxy refused the `CONNECT`.
    Proxy(String),
}

impl fmt::Display for RawError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RawError::Dns(e) => write!(f, "name resolution failed: {e}"),
            RawError::Connect(e) => write!(f, "TCP connect failed: {e}"),
            RawError::Timeout => write!(f, "no answer within the timeout"),
            RawError::Tls { message, .. } => write!(f, "TLS failed: {message}"),
            RawError::Io(e) => write!(f, "{e}"),
            RawError::Proxy(e) => write!(f, "the proxy refused: {e}"),
        }
    }
}

impl RawError {
    /// The likely cause, in words.
    pub fn cause(&self, target: &Target) -> String {
        match self {
            RawError::Dns(_) => format!("the name {} does not resolve (a typo, or DNS)", target.host),
            RawError::Connect(e) if e.kind() == io::ErrorKind::ConnectionRefused => format!(
                "nothing listens on {}:{}: is the server running, on this port?",
                target.host, target.port
            ),
            RawError::Connect(_) => format!(
                "{}:{} cannot be reached (network, firewall)",
                target.host, target.port
            ),
            RawError::Timeout => {
                "no answer in time: a firewall dropping packets, a stuck server, or a proxy holding the request".into()
            }
            RawError::Tls { not_tls: true, .. } => {
                "the server does not speak TLS on this port: try http://".into()
            }
            RawError::Tls { .. } => {
                "the server's certificate is not trusted (unknown issuer, wrong name or expired): give its CA with --ca FILE, or --insecure for a test server".into()
            }
            RawError::Io(_) if !target.secure => {
                "the connection broke before an HTTP answer: a TLS port spoken to in plain http (try https://), or a proxy cutting the connection".into()
            }
            RawError::Io(_) => "the connection broke before an HTTP answer".into(),
            RawError::Proxy(_) => "the proxy (--proxy) refused to connect to the server".into(),
        }
    }
}

/// An HTTP answer.
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked, not decompressed.
    pub body: Vec<u8>,
    pub elapsed: Duration,
}

impl Response {
    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy), at most `max` characters.
    pub fn body_text(&self, max: usize) -> String {
        let text = String::from_utf8_lossy(&self.body);
        if text.chars().count() > max {
            format!("{}…", text.chars().take(max).collect::<String>())
        } else {
            text.into_owned()
        }
    }
}

/// A raw client for one server.
pub struct Raw {
    pub target: Target,
    /// The user's query (URL and `--query`), encoded, without `?`.
    query: String,
    headers: Vec<(String, String)>,
    proxy: Option<Proxy>,
    tls: Option<Arc<ClientConfig>>,
    pub timeout: Duration,
}

struct Proxy {
    host: String,
    port: u16,
    authorization: Option<String>,
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<ClientConnection, TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

impl Raw {
    /// A raw client for `target` with the user's query pairs, headers, proxy and TLS
    /// settings.
    pub fn new(
        target: Target,
        query: &[(String, String)],
        headers: Vec<(String, String)>,
        proxy: Option<&str>,
        ca: Option<&Path>,
        insecure: bool,
        timeout: Duration,
    ) -> Result<Raw, String> {
        let mut q = target.query.clone();
        for (name, value) in query {
            if !q.is_empty() {
                q.push('&');
            }
            q.push_str(&encode(name));
            q.push('=');
            q.push_str(&encode(value));
        }
        let proxy = match proxy {
            None => None,
            Some(p) => Some(parse_proxy(p)?),
        };
        let tls = if target.secure {
            Some(tls_config(ca, insecure)?)
        } else {
            None
        };
        Ok(Raw {
            target,
            query: q,
            headers,
            proxy,
            tls,
            timeout,
        })
    }

    /// The path and query of an Engine.IO request on this server's path.
    pub fn url(&self, eio: &str, transport: &str, sid: Option<&str>) -> String {
        self.url_at(&self.target.path, eio, transport, sid)
    }

    /// As [`url`](Self::url), on another path.
    pub fn url_at(&self, path: &str, eio: &str, transport: &str, sid: Option<&str>) -> String {
        let mut url = format!("{path}?");
        if !self.query.is_empty() {
            url.push_str(&self.query);
            url.push('&');
        }
        url.push_str(&format!("EIO={eio}&transport={transport}"));
        if let Some(sid) = sid {
            url.push_str("&sid=");
            url.push_str(&encode(sid));
        }
        url
    }

    fn open(&self) -> Result<Stream, RawError> {
        let (host, port) = match &self.proxy {
            Some(p) => (p.host.as_str(), p.port),
            None => (self.target.host.as_str(), self.target.port),
        };
        let addrs: Vec<_> = (host, port)
            .to_socket_addrs()
            .map_err(|e| RawError::Dns(e.to_string()))?
            .collect();
        let mut last = None;
        let mut tcp = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, self.timeout) {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::TimedOut => last = Some(RawError::Timeout),
                Err(e) => last = Some(RawError::Connect(e)),
            }
        }
        let mut tcp = tcp.ok_or_else(|| last.unwrap_or(RawError::Dns("no address".into())))?;
        let _ = tcp.set_nodelay(true);
        tcp.set_read_timeout(Some(self.timeout))
            .map_err(RawError::Io)?;
        tcp.set_write_timeout(Some(self.timeout))
            .map_err(RawError::Io)?;
        if let Some(proxy) = &self.proxy {
            connect_tunnel(&mut tcp, proxy, &self.target)?;
        }
        let Some(config) = &self.tls else {
            return Ok(Stream::Plain(tcp));
        };
        let name = ServerName::try_from(self.target.host.clone()).map_err(|e| RawError::Tls {
            message: format!("invalid server name: {e}"),
            not_tls: false,
        })?;
        let mut conn =
            ClientConnection::new(Arc::clone(config), name).map_err(|e| RawError::Tls {
                message: e.to_string(),
                not_tls: false,
            })?;
        while conn.is_handshaking() {
            if let Err(e) = conn.complete_io(&mut tcp) {
                return Err(tls_error(e));
            }
        }
        Ok(Stream::Tls(Box::new(rustls::StreamOwned::new(conn, tcp))))
    }

    fn head(&self, method: &str, path_and_query: &str, extra: &[(&str, &str)]) -> String {
        let mut head = format!(
            "{method} {path_and_query} HTTP/1.1\r\nHost: {}\r\nUser-Agent: engineio-probe/{}\r\n",
            self.target.authority,
            env!("CARGO_PKG_VERSION")
        );
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        for (name, value) in extra {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head
    }

    /// One request on a fresh connection; waits at most `wait` for the answer.
    pub fn request(
        &self,
        method: &str,
        path_and_query: &str,
        extra: &[(&str, &str)],
        body: &[u8],
        wait: Duration,
    ) -> Result<Response, RawError> {
        let start = Instant::now();
        let mut stream = self.open()?;
        let mut head = self.head(method, path_and_query, extra);
        if method == "POST" || !body.is_empty() {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("Connection: close\r\n\r\n");
        let mut out = head.into_bytes();
        out.extend_from_slice(body);
        stream.write_all(&out).map_err(io_error)?;
        stream.flush().map_err(io_error)?;
        stream
            .tcp()
            .set_read_timeout(Some(wait.max(Duration::from_millis(1))))
            .map_err(RawError::Io)?;
        read_response(&mut stream, start)
    }

    /// A WebSocket handshake at `path_and_query` with `extra` headers: the open
    /// WebSocket, or the refusing answer.
    pub fn websocket(
        &self,
        path_and_query: &str,
        extra: &[(&str, &str)],
    ) -> Result<WsOutcome, RawError> {
        let start = Instant::now();
        let mut stream = self.open()?;
        let mut head = self.head("GET", path_and_query, extra);
        head.push_str(&format!(
            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n\r\n",
            wsframe::HANDSHAKE_KEY
        ));
        stream.write_all(head.as_bytes()).map_err(io_error)?;
        stream.flush().map_err(io_error)?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            if let Some(h) = eio_load::http::parse_head(&buf)
                .map_err(|e| RawError::Io(io::Error::new(io::ErrorKind::InvalidData, e.0)))?
            {
                if h.status != 101 {
                    // Read the refusing answer whole.
                    return read_response_from(&mut stream, buf, start).map(WsOutcome::Refused);
                }
                let headers = parse_headers(&buf[..h.len]);
                buf.drain(..h.len);
                return Ok(WsOutcome::Open(Ws {
                    stream,
                    buf,
                    headers,
                    rng: 0x2545_F491,
                }));
            }
            let n = stream.read(&mut chunk).map_err(io_error)?;
            if n == 0 {
                return Err(RawError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the connection closed before an answer to the WebSocket handshake",
                )));
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.len() > 64 * 1024 {
                return Err(RawError::Io(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the answer's head is over 64 KiB",
                )));
            }
        }
    }
}

/// What a WebSocket handshake gave.
pub enum WsOutcome {
    /// `101`: the WebSocket is open.
    Open(Ws),
    /// Any other answer.
    Refused(Response),
}

/// A message read from a raw WebSocket.
#[derive(Debug, PartialEq, Eq)]
pub enum WsMessage {
    Text(String),
    Binary(Vec<u8>),
    /// A close frame, with its code.
    Close(Option<u16>),
}

/// An open raw WebSocket.
pub struct Ws {
    stream: Stream,
    buf: Vec<u8>,
    /// The `101` answer's headers.
    pub headers: Vec<(String, String)>,
    rng: u32,
}

impl Ws {
    /// The first value of header `name` in the `101` answer.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn mask(&mut self) -> [u8; 4] {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 17;
        self.rng ^= self.rng << 5;
        self.rng.to_le_bytes()
    }

    /// Sends a text frame.
    pub fn send_text(&mut self, text: &str) -> Result<(), RawError> {
        let mut out = Vec::new();
        let mask = self.mask();
        wsframe::encode_frame(&mut out, opcode::TEXT, text.as_bytes(), mask);
        self.stream.write_all(&out).map_err(io_error)?;
        self.stream.flush().map_err(io_error)
    }

    /// Waits at most `wait` for the next message (control frames are handled here:
    /// pings answered, pongs skipped).
    pub fn read(&mut self, wait: Duration) -> Result<WsMessage, RawError> {
        let deadline = Instant::now() + wait;
        let mut fragments: Option<(u8, Vec<u8>)> = None;
        let mut chunk = [0u8; 16384];
        loop {
            while let Some((frame, used)) = wsframe::decode_frame(&self.buf, 64 << 20)
                .map_err(|e| RawError::Io(io::Error::new(io::ErrorKind::InvalidData, e.0)))?
            {
                self.buf.drain(..used);
                match frame.opcode {
                    opcode::PING => {
                        let mut out = Vec::new();
                        let mask = self.mask();
                        wsframe::encode_frame(&mut out, opcode::PONG, &frame.payload, mask);
                        self.stream.write_all(&out).map_err(io_error)?;
                    }
                    opcode::PONG => {}
                    opcode::CLOSE => {
                        let code = (frame.payload.len() >= 2)
                            .then(|| u16::from_be_bytes([frame.payload[0], frame.payload[1]]));
                        return Ok(WsMessage::Close(code));
                    }
                    op => {
                        let (op, data) = match (op, fragments.take()) {
                            (opcode::CONTINUATION, Some((op, mut data))) => {
                                data.extend_from_slice(&frame.payload);
                                (op, data)
                            }
                            (op, _) => (op, frame.payload),
                        };
                        if !frame.fin {
                            fragments = Some((op, data));
                            continue;
                        }
                        return Ok(if op == opcode::BINARY {
                            WsMessage::Binary(data)
                        } else {
                            WsMessage::Text(String::from_utf8_lossy(&data).into_owned())
                        });
                    }
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(RawError::Timeout);
            }
            self.stream
                .tcp()
                .set_read_timeout(Some(left))
                .map_err(RawError::Io)?;
            let n = self.stream.read(&mut chunk).map_err(io_error)?;
            if n == 0 {
                return Ok(WsMessage::Close(None));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Sends a close frame (1000) and drops the connection.
    pub fn close(mut self) {
        let mut out = Vec::new();
        let mask = self.mask();
        wsframe::encode_frame(&mut out, opcode::CLOSE, &1000u16.to_be_bytes(), mask);
        let _ = self.stream.write_all(&out);
        let _ = self.stream.flush();
    }
}

fn io_error(e: io::Error) -> RawError {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => RawError::Timeout,
        _ => match e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            Some(tls) => RawError::Tls {
                message: tls.to_string(),
                not_tls: matches!(tls, rustls::Error::InvalidMessage(_)),
            },
            None => RawError::Io(e),
        },
    }
}

fn tls_error(e: io::Error) -> RawError {
    match io_error(e) {
        RawError::Io(e) if e.kind() == io::ErrorKind::InvalidData => RawError::Tls {
            message: e.to_string(),
            not_tls: true,
        },
        RawError::Io(e) => RawError::Tls {
            message: e.to_string(),
            not_tls: false,
        },
        other => other,
    }
}

fn read_response(stream: &mut Stream, start: Instant) -> Result<Response, RawError> {
    read_response_from(stream, Vec::new(), start)
}

fn read_response_from(
    stream: &mut Stream,
    mut buf: Vec<u8>,
    start: Instant,
) -> Result<Response, RawError> {
    let mut chunk = [0u8; 16384];
    let mut eof = false;
    loop {
        let parsed = eio_load::http::parse_response(&buf, eof);
        match parsed {
            Ok(Some((resp, _))) => {
                let head_len = eio_load::http::parse_head(&buf)
                    .ok()
                    .flatten()
                    .map(|h| h.len)
                    .unwrap_or(0);
                return Ok(Response {
                    status: resp.status,
                    headers: parse_headers(&buf[..head_len]),
                    body: resp.body,
                    elapsed: start.elapsed(),
                });
            }
            Ok(None) if !eof => {}
            Ok(None) => {
                return Err(RawError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the connection closed before a whole answer",
                )))
            }
            Err(e) => {
                return Err(RawError::Io(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("not an HTTP answer: {}", e.0),
                )))
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) => eof = true,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            // rustls reports a peer that closed without close_notify this way.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => eof = true,
            Err(e) => return Err(io_error(e)),
        }
    }
}

/// The headers of a response head (status line skipped).
fn parse_headers(head: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(head)
        .split("\r\n")
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

fn connect_tunnel(tcp: &mut TcpStream, proxy: &Proxy, target: &Target) -> Result<(), RawError> {
    let authority = format!("{}:{}", bracket(&target.host), target.port);
    let mut head = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(auth) = &proxy.authorization {
        head.push_str(&format!("Proxy-Authorization: {auth}\r\n"));
    }
    head.push_str("\r\n");
    tcp.write_all(head.as_bytes()).map_err(io_error)?;
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    // Byte by byte: nothing past the head may be consumed (it is the server's).
    while !buf.ends_with(b"\r\n\r\n") {
        let n = tcp.read(&mut byte).map_err(io_error)?;
        if n == 0 || buf.len() > 16 * 1024 {
            return Err(RawError::Proxy("no answer to CONNECT".into()));
        }
        buf.push(byte[0]);
    }
    let status_line = String::from_utf8_lossy(&buf);
    let status_line = status_line.lines().next().unwrap_or("");
    if status_line.split_whitespace().nth(1) != Some("200") {
        return Err(RawError::Proxy(status_line.to_owned()));
    }
    Ok(())
}

fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

fn parse_proxy(text: &str) -> Result<Proxy, String> {
    let rest = text
        .strip_prefix("http://")
        .ok_or_else(|| format!("--proxy {text:?}: only http:// proxies are supported"))?;
    let rest = rest.split('/').next().unwrap_or("");
    let (auth, hostport) = match rest.rsplit_once('@') {
        Some((a, h)) => (Some(a), h),
        None => (None, rest),
    };
    let t = crate::common::Target::parse(&format!("http://{hostport}"), None)
        .map_err(|e| format!("--proxy: {e}"))?;
    Ok(Proxy {
        host: t.host,
        port: t.port,
        authorization: auth.map(|a| format!("Basic {}", to_base64(a.as_bytes()))),
    })
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The TLS configuration: `ca` alone, or Mozilla's roots; or no checks at all.
pub fn tls_config(ca: Option<&Path>, insecure: bool) -> Result<Arc<ClientConfig>, String> {
    if insecure {
        // `--insecure`: every certificate is accepted; signatures are still checked.
        return eio_load::tls::insecure_config().map_err(|e| format!("TLS: {e}"));
    }
    let mut roots = RootCertStore::empty();
    match ca {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("--ca {}: {e}", path.display()))?;
            for cert in certs {
                let cert = cert.map_err(|e| format!("--ca {}: {e}", path.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("--ca {}: {e}", path.display()))?;
            }
            if roots.is_empty() {
                return Err(format!("--ca {}: no certificate in it", path.display()));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(Arc::new(config))
}
