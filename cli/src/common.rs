//! What the subcommands share: URLs, durations, hex, the client options, printing
//! JSON lines, and the words for a failed connection.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use clap::{Args, ValueEnum};
use engineio::client::{Client, ClientBuilder};
use engineio::{Error, ErrorKind, ProtocolVersion, Transport};

/// Exit status: everything went as asked.
pub const EXIT_OK: u8 = 0;
/// Exit status: the connection (or the run) failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit status: the command line is wrong (clap uses it too).
pub const EXIT_USAGE: u8 = 2;
/// Exit status: interrupted by Ctrl-C (128 + SIGINT, as shells report a process it
/// killed), after ending cleanly.
pub const EXIT_INTERRUPTED: u8 = 130;

/// Takes Ctrl-C (SIGINT; also SIGTERM and SIGHUP) from now on: the first one arrives
/// on the returned channel, for the caller to end cleanly (close its session, shut its
/// server down); a second one ends the process at once with [`EXIT_INTERRUPTED`].
/// Before this is called, Ctrl-C ends the process as usual. If the handler cannot be
/// installed (one already is), the channel never delivers and Ctrl-C keeps its usual
/// effect.
pub fn on_interrupt() -> engineio::channel::Receiver<()> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let (tx, rx) = engineio::channel::bounded(1);
    let pressed = AtomicBool::new(false);
    let installed = ctrlc::set_handler(move || {
        if pressed.swap(true, Ordering::SeqCst) {
            std::process::exit(EXIT_INTERRUPTED.into());
        }
        let _ = tx.try_send(());
    });
    match installed {
        Ok(()) => rx,
        Err(e) => {
            log::debug!("Ctrl-C handler not installed: {e}");
            engineio::channel::never()
        }
    }
}

/// A transport named on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TransportArg {
    /// HTTP long-polling.
    Polling,
    /// WebSocket.
    Websocket,
}

impl From<TransportArg> for Transport {
    fn from(t: TransportArg) -> Transport {
        match t {
            TransportArg::Polling => Transport::Polling,
            TransportArg::Websocket => Transport::WebSocket,
        }
    }
}

/// The client options `connect` and `probe` share.
#[derive(Args, Clone, Debug, Default)]
pub struct ClientOpts {
    /// The Engine.IO path [default: the URL's path, else /engine.io/; Socket.IO
    /// servers use /socket.io/]
    #[arg(long, value_name = "PATH")]
    pub path: Option<String>,
    /// An HTTP header for every request and the WebSocket handshake, "Name: value"
    /// (repeatable)
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// A query parameter for every request, name=value (repeatable; the URL's own
    /// query is kept too)
    #[arg(long = "query", value_name = "NAME=VALUE")]
    pub query: Vec<String>,
    /// Trust this CA certificate (PEM) for https/wss instead of the built-in roots
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Accept any server certificate (test servers only)
    #[arg(short = 'k', long)]
    pub insecure: bool,
    /// An http:// proxy for every request (WebSocket through CONNECT)
    #[arg(long, value_name = "URL")]
    pub proxy: Option<String>,
    /// How long connecting, each request and a graceful close may take: 500ms, 5s, 1m
    /// (a bare number is seconds)
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub timeout: Duration,
}

impl ClientOpts {
    /// A client builder for `url` with these options, `transports` and `protocol`.
    pub fn builder(
        &self,
        target: &Target,
        transports: &[Transport],
        protocol: ProtocolVersion,
    ) -> Result<ClientBuilder, String> {
        let mut b = Client::builder(&target.base_url())
            .path(&target.path)
            .transports(transports)
            .protocol(protocol)
            .request_timeout(self.timeout);
        for (name, value) in self.header_pairs()? {
            b = b.header(name, value);
        }
        for (name, value) in self.query_pairs()? {
            b = b.query(name, value);
        }
        if let Some(proxy) = &self.proxy {
            b = b.proxy(proxy.clone());
        }
        if let Some(ca) = &self.ca {
            let pem =
                std::fs::read(ca).map_err(|e| format!("cannot read {}: {e}", ca.display()))?;
            b = b.root_certificate_pem(pem);
        }
        if self.insecure {
            b = b.danger_accept_invalid_certs(true);
        }
        Ok(b)
    }

    /// `--header` values split into name and value.
    pub fn header_pairs(&self) -> Result<Vec<(String, String)>, String> {
        self.headers
            .iter()
            .map(|h| {
                let (name, value) = h
                    .split_once(':')
                    .ok_or_else(|| format!("--header {h:?}: expected \"Name: value\""))?;
                Ok((name.trim().to_owned(), value.trim().to_owned()))
            })
            .collect()
    }

    /// `--query` values split into name and value.
    pub fn query_pairs(&self) -> Result<Vec<(String, String)>, String> {
        self.query
            .iter()
            .map(|q| {
                let (name, value) = q.split_once('=').unwrap_or((q.as_str(), ""));
                if name.is_empty() {
                    return Err(format!("--query {q:?}: expected name=value"));
                }
                Ok((name.to_owned(), value.to_owned()))
            })
            .collect()
    }
}

/// A server URL taken apart: `scheme://authority/path?query`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// `https`/`wss`.
    pub secure: bool,
    /// `host[:port]` as written.
    pub authority: String,
    /// The host without brackets (IPv6) or port.
    pub host: String,
    /// The port (the scheme's default when the URL has none).
    pub port: u16,
    /// The Engine.IO path, normalised: `--path`, else the URL's path when it has one,
    /// else `/engine.io/`.
    pub path: String,
    /// The URL's query, without `?` (may be empty).
    pub query: String,
}

impl Target {
    /// Parses `url` (`http`, `https`, `ws` or `wss`); `path` is `--path`.
    pub fn parse(url: &str, path: Option<&str>) -> Result<Target, String> {
        let bad = |why: &str| format!("invalid URL {url:?}: {why}");
        let (scheme, rest) = url
            .trim()
            .split_once("://")
            .ok_or_else(|| bad("expected http://host[:port][/path]"))?;
        let secure = match scheme.to_ascii_lowercase().as_str() {
            "http" | "ws" => false,
            "https" | "wss" => true,
            _ => return Err(bad("the scheme must be http, https, ws or wss")),
        };
        let rest = rest.split('#').next().unwrap_or("");
        let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, url_path) = match before_query.find('/') {
            Some(i) => (&before_query[..i], &before_query[i..]),
            None => (before_query, ""),
        };
        let default_port = if secure { 443 } else { 80 };
        let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
            let end = inner.find(']').ok_or_else(|| bad("unclosed ["))?;
            let port = match inner[end + 1..].strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| bad("invalid port"))?,
                None => default_port,
            };
            (inner[..end].to_owned(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), p.parse().map_err(|_| bad("invalid port"))?),
                None => (authority.to_owned(), default_port),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let path = match path {
            Some(p) => normalize_path(p),
            None if url_path.trim_matches('/').is_empty() => "/engine.io/".to_owned(),
            None => normalize_path(url_path),
        };
        Ok(Target {
            secure,
            authority: authority.to_owned(),
            host,
            port,
            path,
            query: query.to_owned(),
        })
    }

    /// `http[s]://authority[?query]`: what the library's client builder takes (the
    /// path goes to [`ClientBuilder::path`]).
    pub fn base_url(&self) -> String {
        let scheme = if self.secure { "https" } else { "http" };
        if self.query.is_empty() {
            format!("{scheme}://{}", self.authority)
        } else {
            format!("{scheme}://{}/?{}", self.authority, self.query)
        }
    }

    /// `http[s]://authority/path/`: the endpoint, for people.
    pub fn display(&self) -> String {
        let scheme = if self.secure { "https" } else { "http" };
        format!("{scheme}://{}{}", self.authority, self.path)
    }
}

/// `/x/` from `x`, `/x`, `x/`; `/` from nothing.
pub fn normalize_path(path: &str) -> String {
    let trimmed = path.trim_matches('/');
    if trimmed.is_empty() {
        "/".to_owned()
    } else {
        format!("/{trimmed}/")
    }
}

/// `500ms`, `2s`, `1.5s`, `1m`, `1h`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (examples: 500ms, 2s, 1.5m)"))?;
    let secs = match unit.trim() {
        "" | "s" | "sec" | "secs" => n,
        "ms" => n / 1000.0,
        "us" | "µs" => n / 1e6,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        other => return Err(format!("{text:?}: unknown unit {other:?} (ms, s, m, h)")),
    };
    if !secs.is_finite() || !(0.0..=1e9).contains(&secs) {
        return Err(format!("{text:?} is out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Lower-case hex, no separators.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes from hex; spaces, `:` and a `0x` prefix are allowed.
pub fn from_hex(text: &str) -> Result<Vec<u8>, String> {
    let t = text.trim();
    let t = t.strip_prefix("0x").unwrap_or(t);
    let digits: Vec<u8> = t
        .bytes()
        .filter(|b| !b" :\t".contains(b))
        .map(|b| match b {
            b'0'..=b'9' => Ok(b - b'0'),
            b'a'..=b'f' => Ok(b - b'a' + 10),
            b'A'..=b'F' => Ok(b - b'A' + 10),
            _ => Err(format!("{text:?} is not hex")),
        })
        .collect::<Result<_, _>>()?;
    if !digits.len().is_multiple_of(2) {
        return Err(format!("{text:?}: an odd number of hex digits"));
    }
    Ok(digits.chunks(2).map(|p| p[0] << 4 | p[1]).collect())
}

/// Standard padded base64.
pub fn to_base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Standard base64, padded or not.
pub fn from_base64(text: &str) -> Result<Vec<u8>, String> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    use base64::{alphabet, Engine as _};
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    LENIENT
        .decode(text.trim())
        .map_err(|e| format!("invalid base64: {e}"))
}

/// Writes whole lines to stdout, one writer at a time, flushed (so that a reader on
/// a pipe sees each event at once).
pub fn out_line(line: &str) {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let mut out = std::io::stdout().lock();
    // A closed stdout (the reader went away) is not worth a panic.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// One JSON object per line on stdout.
pub fn out_json(value: &serde_json::Value) {
    out_line(&value.to_string());
}

/// One event as a JSON line on stdout: `{"event":…}` first, then `fields` in their
/// order (a JSON map would sort them).
pub fn out_event(event: &str, fields: &[(&str, serde_json::Value)]) {
    out_line(&event_json(event, fields));
}

/// The JSON text of [`out_event`].
pub fn event_json(event: &str, fields: &[(&str, serde_json::Value)]) -> String {
    let mut line = format!("{{\"event\":{}", serde_json::Value::from(event));
    for (name, value) in fields {
        if value.is_null() {
            continue;
        }
        line.push(',');
        line.push_str(&serde_json::Value::from(*name).to_string());
        line.push(':');
        line.push_str(&value.to_string());
    }
    line.push('}');
    line
}

/// The kind of a library error, as JSON names it.
pub fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Connect => "connect",
        ErrorKind::Handshake => "handshake",
        ErrorKind::Tls => "tls",
        ErrorKind::Timeout => "timeout",
        ErrorKind::Config => "config",
        ErrorKind::Io => "io",
        ErrorKind::NotConnected => "not connected",
        ErrorKind::InvalidMessage => "invalid message",
        ErrorKind::QueueFull => "queue full",
        ErrorKind::Aborted => "aborted",
        _ => "other",
    }
}

/// The error's whole chain of causes, `: `-joined.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// A likely cause, in words, of a failed connect, from what the library reports.
pub fn connect_hint(err: &Error, target: &Target) -> Option<String> {
    let text = error_chain(err).to_ascii_lowercase();
    match err.kind() {
        ErrorKind::Handshake => match (err.status(), err.body()) {
            (Some(404), _) => Some(format!(
                "nothing answers at the path {}: check --path (the default is /engine.io/; Socket.IO servers use /socket.io/)",
                target.path
            )),
            (Some(status), Some(body)) => explain_status(status, body),
            (Some(200), None) => Some(
                "the server answered, but not with an Engine.IO OPEN packet: is this path an Engine.IO endpoint?"
                    .into(),
            ),
            _ => None,
        },
        ErrorKind::Connect if text.contains("refused") => Some(format!(
            "nothing listens on {}:{} (connection refused): is the server running, on this port?",
            target.host, target.port
        )),
        ErrorKind::Connect
            if text.contains("resolve") || text.contains("lookup") || text.contains("dns") =>
        {
            Some(format!("the name {} does not resolve", target.host))
        }
        ErrorKind::Connect | ErrorKind::Tls
            if target.secure
                && (text.contains("corrupt") || text.contains("invalidcontenttype")) =>
        {
            Some("the server does not speak TLS on this port: try http://".into())
        }
        ErrorKind::Tls => Some(
            "the server's certificate is not trusted: give its CA with --ca FILE, or --insecure for a test server"
                .into(),
        ),
        ErrorKind::Timeout => Some(
            "no answer within --timeout: a firewall dropping packets, a stuck server, or a proxy that holds the request"
                .into(),
        ),
        _ => None,
    }
}

/// What an error status and its body (`{"code":…,"message":…}`, protocol §10) mean.
pub fn explain_status(status: u16, body: &str) -> Option<String> {
    let code = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("code").and_then(serde_json::Value::as_u64));
    Some(match (status, code) {
        (400, Some(0)) => {
            "the server does not offer this transport (`Transport unknown`): it is disabled in its configuration".into()
        }
        (400, Some(1)) => {
            "the server does not know the session (`Session ID unknown`): behind a load balancer, sticky sessions are missing".into()
        }
        (400, Some(2)) => "the server refused the handshake's method (`Bad handshake method`)".into(),
        (400, Some(3)) => {
            "the server refused the request (`Bad request`): a refused CORS origin, or a WebSocket handshake whose Upgrade headers a proxy removed".into()
        }
        (403, _) | (400, Some(4)) => "the server forbids the request (`Forbidden`)".into(),
        (400, Some(5)) => {
            "the server does not speak this protocol version (`Unsupported protocol version`): try --eio 3 for Socket.IO 2.x-era servers".into()
        }
        (401, _) => format!(
            "the server's connect handler refused the client ({}): it probably wants credentials (--header, --query)",
            body.trim()
        ),
        (404, _) => "nothing answers at this path: check --path (the default is /engine.io/; Socket.IO servers use /socket.io/)".into(),
        (301 | 302 | 303 | 307 | 308, _) => {
            "the server redirects: use the URL it points to (http → https?)".into()
        }
        (413, _) => "the request was larger than the server's maxPayload".into(),
        (502..=504, _) => {
            "a proxy or load balancer in front of the server could not reach it (bad gateway / timeout)".into()
        }
        (500..=599, _) => "the server failed (5xx): see its log".into(),
        _ => return None,
    })
}

/// Installs a minimal stderr logger: `-v` info, `-vv` debug, `-vvv` trace, or
/// `RUST_LOG` (error, warn, info, debug, trace).
pub fn init_logger(verbose: u8) {
    struct Stderr;
    impl log::Log for Stderr {
        fn enabled(&self, _: &log::Metadata<'_>) -> bool {
            true
        }
        fn log(&self, r: &log::Record<'_>) {
            eprintln!("[{}] {}: {}", r.level(), r.target(), r.args());
        }
        fn flush(&self) {}
    }
    static LOGGER: Stderr = Stderr;
    let level = match (verbose, std::env::var("RUST_LOG").ok().as_deref()) {
        (0, None) => return,
        (1, _) => log::LevelFilter::Info,
        (2, _) => log::LevelFilter::Debug,
        (3.., _) => log::LevelFilter::Trace,
        (0, Some(v)) => match v.to_ascii_lowercase().as_str() {
            "trace" => log::LevelFilter::Trace,
            "debug" => log::LevelFilter::Debug,
            "info" => log::LevelFilter::Info,
            "error" => log::LevelFilter::Error,
            "off" => return,
            _ => log::LevelFilter::Warn,
        },
    };
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_give_the_path_unless_path_is_set() {
        let t = Target::parse("http://127.0.0.1:5000", None).unwrap();
        assert_eq!((t.path.as_str(), t.port), ("/engine.io/", 5000));
        assert_eq!(t.base_url(), "http://127.0.0.1:5000");
        let t = Target::parse("wss://example.com/socket.io?EIO=4&x=1", None).unwrap();
        assert!(t.secure);
        assert_eq!((t.path.as_str(), t.port), ("/socket.io/", 443));
        assert_eq!(t.base_url(), "https://example.com/?EIO=4&x=1");
        let t = Target::parse("http://[::1]:9/a/", Some("b")).unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("::1", 9, "/b/")
        );
        assert!(Target::parse("ftp://x", None).is_err());
        assert!(Target::parse("http://:80", None).is_err());
        assert!(Target::parse("http://h:x", None).is_err());
    }

    #[test]
    fn durations_hex_and_base64() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert_eq!(from_hex("0x01 02:ff").unwrap(), vec![1, 2, 255]);
        assert!(from_hex("123").is_err());
        assert!(from_hex("zz").is_err());
        assert_eq!(to_hex(&[1, 2, 255]), "0102ff");
        assert_eq!(to_base64(&[1, 2, 3, 4]), "AQIDBA==");
        assert_eq!(from_base64("AQIDBA").unwrap(), vec![1, 2, 3, 4]);
    }

    #[test]
    fn events_keep_their_field_order() {
        let line = event_json(
            "message",
            &[
                ("sid", "a\"b".into()),
                ("text", "hi".into()),
                ("skip", serde_json::Value::Null),
            ],
        );
        assert_eq!(line, r#"{"event":"message","sid":"a\"b","text":"hi"}"#);
    }

    #[test]
    fn error_statuses_are_explained() {
        let e = explain_status(400, r#"{"code":0,"message":"Transport unknown"}"#).unwrap();
        assert!(e.contains("disabled"), "{e}");
        let e = explain_status(
            400,
            r#"{"code":5,"message":"Unsupported protocol version"}"#,
        );
        assert!(e.unwrap().contains("--eio 3"));
        assert!(explain_status(401, "\"Unauthorized\"")
            .unwrap()
            .contains("credentials"));
        assert!(explain_status(418, "").is_none());
    }
}
