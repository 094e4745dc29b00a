//! Which web origins may talk to the server, and the `Access-Control-*` headers that say so.
//!
//! Browsers send an `Origin` header with cross-origin requests and with every WebSocket
//! handshake. The server checks it against a [`CorsPolicy`] before anything else happens to
//! the request: browsers apply no CORS rules to WebSockets, so this check is the only guard
//! against cross-site WebSocket hijacking.

use std::fmt;
use std::sync::Arc;

use crate::error::{Error, ErrorKind, Result};
use crate::server::Request;

/// The signature of a [`CorsPolicy::Predicate`]: given the request's `Origin` (exactly as
/// sent) and the request, say whether the origin is allowed.
type OriginPredicate = dyn Fn(&str, &Request) -> bool + Send + Sync;

/// Which origins may use the server from a browser.
///
/// Requests without an `Origin` header (non-browser clients) are always allowed. A request
/// whose origin the policy refuses is answered `400` with `{"code":3,"message":"Bad request"}`
/// and no `Access-Control-*` header, on polling requests and WebSocket handshakes alike.
/// An allowed origin is echoed in `Access-Control-Allow-Origin` (never the literal `*`, which
/// browsers refuse together with credentials) along with `Vary: Origin`.
///
/// Defaults to [`CorsPolicy::SameOrigin`].
///
/// ```
/// use engineio::server::cors::CorsPolicy;
///
/// // The default: only pages served from this server's own origin.
/// assert!(matches!(CorsPolicy::default(), CorsPolicy::SameOrigin));
///
/// // An explicit list; the default port of a scheme may be written or left out.
/// let list = CorsPolicy::list(["https://example.com", "http://localhost:3000"]);
///
/// // Any origin, decided per request.
/// let trusted = CorsPolicy::predicate(|origin, _request| origin.ends_with(".example.com"));
/// println!("{list:?} {trusted:?}");
/// ```
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum CorsPolicy {
    /// Only the server's own origin: the request's scheme and `Host`, or the first items of
    /// `X-Forwarded-Proto` / `X-Forwarded-Host` when a proxy sets either. Scheme and host
    /// compare case-insensitively, an explicit default port (`:80` for `http`, `:443` for
    /// `https`) equals no port, and the opaque origin `null` never matches.
    #[default]
    SameOrigin,
    /// Every origin, `null` included. The request's origin is echoed back.
    Any,
    /// The origins listed, each written `scheme://host` or `scheme://host:port` with no path
    /// (not even a trailing `/`), compared like [`CorsPolicy::SameOrigin`] compares them.
    /// An entry `*` allows every origin. An empty list is refused when the server is
    /// configured: use [`CorsPolicy::Disabled`] to turn the check off, as python-engineio's
    /// `cors_allowed_origins=[]` does.
    List(Vec<String>),
    /// A function deciding from the origin (as sent, `null` included) and the request.
    /// It runs on the thread handling the request, so it should be quick.
    Predicate(Arc<OriginPredicate>),
    /// No origin check and no `Access-Control-*` header on any response. Use it when a proxy
    /// in front of the server handles CORS.
    Disabled,
}

impl CorsPolicy {
    /// A [`CorsPolicy::List`] of the given origins.
    ///
    /// ```
    /// use engineio::server::cors::CorsPolicy;
    ///
    /// let policy = CorsPolicy::list(["https://example.com", "https://app.example.com:8443"]);
    /// assert!(matches!(policy, CorsPolicy::List(ref l) if l.len() == 2));
    /// ```
    pub fn list<I, S>(origins: I) -> CorsPolicy
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        CorsPolicy::List(origins.into_iter().map(Into::into).collect())
    }

    /// A [`CorsPolicy::Predicate`] calling `f` with the request's origin and the request.
    ///
    /// ```
    /// use engineio::server::cors::CorsPolicy;
    ///
    /// let policy = CorsPolicy::predicate(|origin, request| {
    ///     origin == "https://example.com" || request.header("x-api-key").is_some()
    /// });
    /// assert!(matches!(policy, CorsPolicy::Predicate(_)));
    /// ```
    pub fn predicate<F>(f: F) -> CorsPolicy
    where
        F: Fn(&str, &Request) -> bool + Send + Sync + 'static,
    {
        CorsPolicy::Predicate(Arc::new(f))
    }

    /// Checks the list entries; run when the server is configured, so that a typo is found
    /// before the first request rather than silently refusing every browser.
    pub(crate) fn validate(&self) -> Result<()> {
        let CorsPolicy::List(entries) = self else {
            return Ok(());
        };
        if entries.is_empty() {
            return Err(Error::new(
                ErrorKind::Config,
                "the CORS origin list is empty; list at least one origin, \
                 or use CorsPolicy::Disabled to turn the origin check off",
            ));
        }
        for entry in entries {
            if entry == "*" {
                continue;
            }
            if let Err(why) = Origin::parse(entry) {
                return Err(Error::new(
                    ErrorKind::Config,
                    format!(
                        "invalid CORS origin {entry:?}: {why}; \
                         write `scheme://host` or `scheme://host:port` (no path), or `*`"
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl fmt::Debug for CorsPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CorsPolicy::SameOrigin => f.write_str("SameOrigin"),
            CorsPolicy::Any => f.write_str("Any"),
            CorsPolicy::List(l) => f.debug_tuple("List").field(l).finish(),
            CorsPolicy::Predicate(_) => f.write_str("Predicate(<fn>)"),
            CorsPolicy::Disabled => f.write_str("Disabled"),
        }
    }
}

/// The outcome of checking a request's `Origin` against the policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CorsDecision {
    /// No `Origin` header, or an empty one: a non-browser client; allowed.
    NoOrigin,
    /// The origin is allowed; the value is the origin to echo.
    Allowed(String),
    /// The policy refuses the origin ⇒ 400 E3 without CORS headers.
    Refused,
    /// The `Origin` header holds bytes that are not valid header text, or is repeated ⇒ E3.
    InvalidOrigin,
    /// The policy is [`CorsPolicy::Disabled`]: nothing was checked.
    Disabled,
}

impl CorsDecision {}

/// Checks the request's `Origin` header against `policy` (O-1 to O-4, O-8).
pub(crate) fn check(policy: &CorsPolicy, req: &Request) -> CorsDecision {
    if matches!(policy, CorsPolicy::Disabled) {
        return CorsDecision::Disabled;
    }
    let mut values = req.headers.get_all(http::header::ORIGIN).iter();
    let Some(value) = values.next() else {
        return CorsDecision::NoOrigin;
    };
    // Browsers send one Origin; two are a forgery or a broken proxy, and choosing one of
    // them would let the other through unchecked.
    if values.next().is_some() {
        return CorsDecision::InvalidOrigin;
    }
    let Ok(origin) = value.to_str() else {
        return CorsDecision::InvalidOrigin;
    };
    let origin = origin.trim_matches(|c| c == ' ' || c == '\t');
    if origin.is_empty() {
        return CorsDecision::NoOrigin;
    }
    let allowed = match policy {
        CorsPolicy::Disabled => unreachable!("handled above"),
        CorsPolicy::Any => true,
        CorsPolicy::SameOrigin => is_same_origin(origin, req),
        CorsPolicy::List(entries) => match Origin::parse(origin) {
            Ok(parsed) => entries
                .iter()
                .any(|e| e == "*" || Origin::parse(e).is_ok_and(|e| e == parsed)),
            // `null` and other unparsable origins match only a `*` entry.
            Err(_) => entries.iter().any(|e| e == "*"),
        },
        CorsPolicy::Predicate(f) => f(origin, req),
    };
    if allowed {
        CorsDecision::Allowed(origin.to_owned())
    } else {
        CorsDecision::Refused
    }
}

/// Adds the CORS headers of an ordinary (non-preflight) response (O-5, O-6).
pub(crate) fn response_headers(
    decision: &CorsDecision,
    credentials: bool,
    out: &mut Vec<(&'static str, String)>,
) {
    match decision {
        CorsDecision::Allowed(origin) => {
            out.push(("Access-Control-Allow-Origin", origin.clone()));
            out.push(("Vary", "Origin".to_owned()));
        }
        CorsDecision::NoOrigin => {}
        CorsDecision::Refused | CorsDecision::InvalidOrigin | CorsDecision::Disabled => return,
    }
    if credentials {
        out.push(("Access-Control-Allow-Credentials", "true".to_owned()));
    }
}

/// Adds the CORS headers of a preflight (`OPTIONS`) response (O-7, O-8).
pub(crate) fn preflight_headers(
    decision: &CorsDecision,
    credentials: bool,
    req: &Request,
    out: &mut Vec<(&'static str, String)>,
) {
    if !matches!(decision, CorsDecision::Allowed(_) | CorsDecision::NoOrigin) {
        return;
    }
    response_headers(decision, credentials, out);
    out.push((
        "Access-Control-Allow-Methods",
        "GET, POST, OPTIONS".to_owned(),
    ));
    let requested: Vec<&str> = req
        .headers
        .get_all(http::header::ACCESS_CONTROL_REQUEST_HEADERS)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect();
    if !requested.is_empty() {
        out.push(("Access-Control-Allow-Headers", requested.join(", ")));
    }
}

/// O-3: the origin equals the server's own, seen directly or through a proxy's
/// `X-Forwarded-*` headers.
fn is_same_origin(origin: &str, req: &Request) -> bool {
    let Ok(origin) = Origin::parse(origin) else {
        // `null` (sandboxed frames, file: pages) and garbage are never our own origin.
        return false;
    };
    let scheme = if req.secure { "https" } else { "http" };
    let host = req.header("host").map(str::trim).filter(|h| !h.is_empty());
    let matches = |scheme: &str, host: &str| {
        Origin::parse(&format!("{scheme}://{host}")).is_ok_and(|own| own == origin)
    };
    if host.is_some_and(|h| matches(scheme, h)) {
        return true;
    }
    let fwd_proto = first_item(req, "x-forwarded-proto");
    let fwd_host = first_item(req, "x-forwarded-host");
    if fwd_proto.is_none() && fwd_host.is_none() {
        return false;
    }
    match fwd_host.or(host) {
        Some(h) => matches(fwd_proto.unwrap_or(scheme), h),
        None => false,
    }
}

/// The first comma-separated item of header `name` (the one the outermost proxy set).
fn first_item<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    let value = req.header(name)?;
    let first = value.split(',').next()?.trim();
    (!first.is_empty()).then_some(first)
}

/// A serialised origin, normalised for comparison: lower-case scheme and host, and no port
/// when the port is the scheme's default.
#[derive(Debug, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl Origin {
    /// Parses `scheme://host[:port]`; the error says what is wrong, for configuration errors.
    fn parse(s: &str) -> std::result::Result<Origin, &'static str> {
        let (scheme, authority) = s.split_once("://").ok_or("missing `://`")?;
        let mut chars = scheme.chars();
        if !chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        {
            return Err("invalid scheme");
        }
        if authority.contains(['/', '?', '#']) {
            return Err("an origin has no path, query or fragment");
        }
        if authority.contains('@') {
            return Err("an origin has no user information");
        }
        let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
            let (ip, after) = rest.split_once(']').ok_or("unclosed `[` in host")?;
            if ip.is_empty()
                || !ip
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
            {
                return Err("invalid IPv6 address");
            }
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or("junk after `]`")?),
            };
            (&authority[..ip.len() + 2], port)
        } else {
            match authority.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err("empty host");
        }
        if !host.starts_with('[')
            && !host.chars().all(|c| {
                c.is_ascii_alphanumeric()
                    || matches!(
                        c,
                        '-' | '.'
                            | '_'
                            | '~'
                            | '%'
                            | '!'
                            | '$'
                            | '&'
                            | '\''
                            | '('
                            | ')'
                            | '*'
                            | '+'
                            | ';'
                            | '='
                    )
            })
        {
            return Err("invalid character in host");
        }
        let port = match port {
            None => None,
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                Some(p.parse::<u16>().map_err(|_| "port out of range")?)
            }
            Some(_) => return Err("invalid port"),
        };
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" | "ws" => Some(80),
            "https" | "wss" => Some(443),
            _ => None,
        };
        Ok(Origin {
            port: port.filter(|p| Some(*p) != default_port),
            host: host.to_ascii_lowercase(),
            scheme,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue, Method};

    fn request(headers: &[(&str, &str)]) -> Request {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        Request {
            method: Method::GET,
            path: "/engine.io/".into(),
            raw_query: String::new(),
            query: Vec::new(),
            headers: map,
            remote_addr: "127.0.0.1:5000".parse().unwrap(),
            secure: false,
        }
    }

    fn allowed(o: &str) -> CorsDecision {
        CorsDecision::Allowed(o.into())
    }

    #[test]
    fn no_origin_is_allowed_without_allow_origin() {
        let req = request(&[("host", "example.com")]);
        for policy in [
            CorsPolicy::SameOrigin,
            CorsPolicy::Any,
            CorsPolicy::list(["https://a.com"]),
            CorsPolicy::predicate(|_, _| false),
        ] {
            assert_eq!(check(&policy, &req), CorsDecision::NoOrigin);
        }
        let req = request(&[("host", "example.com"), ("origin", "")]);
        assert_eq!(check(&CorsPolicy::SameOrigin, &req), CorsDecision::NoOrigin);

        let mut out = Vec::new();
        response_headers(&CorsDecision::NoOrigin, true, &mut out);
        assert_eq!(out, [("Access-Control-Allow-Credentials", "true".into())]);
        out.clear();
        response_headers(&CorsDecision::NoOrigin, false, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn same_origin_from_host_and_scheme() {
        let p = CorsPolicy::SameOrigin;
        let req = request(&[
            ("host", "Example.com:8080"),
            ("origin", "http://example.COM:8080"),
        ]);
        assert_eq!(check(&p, &req), allowed("http://example.COM:8080"));

        let req = request(&[
            ("host", "example.com:8080"),
            ("origin", "http://example.com"),
        ]);
        assert_eq!(check(&p, &req), CorsDecision::Refused);

        let req = request(&[("host", "example.com"), ("origin", "https://example.com")]);
        assert_eq!(check(&p, &req), CorsDecision::Refused, "scheme differs");

        let req = request(&[("host", "example.com"), ("origin", "HTTP://example.com:80")]);
        assert_eq!(check(&p, &req), allowed("HTTP://example.com:80"));

        let req = request(&[("host", "example.com:80"), ("origin", "http://example.com")]);
        assert_eq!(check(&p, &req), allowed("http://example.com"));

        let mut req = request(&[
            ("host", "example.com"),
            ("origin", "https://example.com:443"),
        ]);
        req.secure = true;
        assert_eq!(check(&p, &req), allowed("https://example.com:443"));

        let req = request(&[("host", "[::1]:3000"), ("origin", "http://[::1]:3000")]);
        assert_eq!(check(&p, &req), allowed("http://[::1]:3000"));

        let req = request(&[("host", "evil.com"), ("origin", "http://example.com")]);
        assert_eq!(check(&p, &req), CorsDecision::Refused);

        let req = request(&[("origin", "http://example.com")]);
        assert_eq!(check(&p, &req), CorsDecision::Refused, "no Host");
    }

    #[test]
    fn same_origin_never_matches_null() {
        let req = request(&[("host", "null"), ("origin", "null")]);
        assert_eq!(check(&CorsPolicy::SameOrigin, &req), CorsDecision::Refused);
        assert_eq!(check(&CorsPolicy::Any, &req), allowed("null"));
    }

    #[test]
    fn same_origin_through_forwarded_headers() {
        let p = CorsPolicy::SameOrigin;
        let req = request(&[
            ("host", "127.0.0.1:8000"),
            ("x-forwarded-proto", "HTTPS, http"),
            ("x-forwarded-host", "app.example.com, internal"),
            ("origin", "https://app.example.com"),
        ]);
        assert_eq!(check(&p, &req), allowed("https://app.example.com"));

        // Only the first item counts.
        let req = request(&[
            ("host", "127.0.0.1:8000"),
            ("x-forwarded-host", "app.example.com, internal"),
            ("origin", "http://internal"),
        ]);
        assert_eq!(check(&p, &req), CorsDecision::Refused);

        // Proto alone: combined with Host.
        let req = request(&[
            ("host", "app.example.com"),
            ("x-forwarded-proto", "https"),
            ("origin", "https://app.example.com"),
        ]);
        assert_eq!(check(&p, &req), allowed("https://app.example.com"));

        // Host alone: combined with the connection's scheme.
        let req = request(&[
            ("host", "127.0.0.1:8000"),
            ("x-forwarded-host", "app.example.com:80"),
            ("origin", "http://app.example.com"),
        ]);
        assert_eq!(check(&p, &req), allowed("http://app.example.com"));

        // The direct origin stays accepted when forwarded headers are present.
        let req = request(&[
            ("host", "127.0.0.1:8000"),
            ("x-forwarded-host", "app.example.com"),
            ("origin", "http://127.0.0.1:8000"),
        ]);
        assert_eq!(check(&p, &req), allowed("http://127.0.0.1:8000"));
    }

    #[test]
    fn list_policy() {
        let p = CorsPolicy::list(["https://a.com", "HTTP://B.com:80", "http://c.com:8080"]);
        p.validate().unwrap();
        let cases = [
            ("https://a.com", true),
            ("https://A.COM:443", true),
            ("http://a.com", false),
            ("http://b.com", true),
            ("http://c.com:8080", true),
            ("http://c.com", false),
            ("https://a.com.evil.com", false),
            ("null", false),
        ];
        for (origin, ok) in cases {
            let req = request(&[("host", "server"), ("origin", origin)]);
            let expected = if ok {
                allowed(origin)
            } else {
                CorsDecision::Refused
            };
            assert_eq!(check(&p, &req), expected, "{origin}");
        }
    }

    #[test]
    fn star_in_list_and_any_echo_the_origin() {
        let req = request(&[("host", "server"), ("origin", "https://x.org")]);
        for p in [CorsPolicy::Any, CorsPolicy::list(["https://a.com", "*"])] {
            p.validate().unwrap();
            let d = check(&p, &req);
            assert_eq!(d, allowed("https://x.org"));
            let mut out = Vec::new();
            response_headers(&d, true, &mut out);
            assert_eq!(
                out,
                [
                    ("Access-Control-Allow-Origin", "https://x.org".into()),
                    ("Vary", "Origin".into()),
                    ("Access-Control-Allow-Credentials", "true".into()),
                ]
            );
        }
    }

    #[test]
    fn predicate_sees_origin_and_request() {
        let p = CorsPolicy::predicate(|origin, req| {
            origin == "https://ok.com" && req.header("x-token") == Some("t")
        });
        let req = request(&[("origin", "https://ok.com"), ("x-token", "t")]);
        assert_eq!(check(&p, &req), allowed("https://ok.com"));
        let req = request(&[("origin", "https://ok.com")]);
        assert_eq!(check(&p, &req), CorsDecision::Refused);
        assert_eq!(format!("{p:?}"), "Predicate(<fn>)");
    }

    #[test]
    fn disabled_checks_nothing_and_sends_nothing() {
        let p = CorsPolicy::Disabled;
        let req = request(&[("origin", "https://evil.com")]);
        let d = check(&p, &req);
        assert_eq!(d, CorsDecision::Disabled);
        assert!(!matches!(
            d,
            CorsDecision::Refused | CorsDecision::InvalidOrigin
        ));
        let mut out = Vec::new();
        response_headers(&d, true, &mut out);
        preflight_headers(&d, true, &req, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn refused_and_invalid_send_nothing() {
        for d in [CorsDecision::Refused, CorsDecision::InvalidOrigin] {
            assert!(matches!(
                d,
                CorsDecision::Refused | CorsDecision::InvalidOrigin
            ));
            let mut out = Vec::new();
            response_headers(&d, true, &mut out);
            preflight_headers(&d, true, &request(&[]), &mut out);
            assert!(out.is_empty());
        }
    }

    #[test]
    fn invalid_origin_bytes() {
        let mut req = request(&[("host", "example.com")]);
        req.headers.insert(
            http::header::ORIGIN,
            HeaderValue::from_bytes(b"http://exa\xffmple.com").unwrap(),
        );
        assert_eq!(check(&CorsPolicy::Any, &req), CorsDecision::InvalidOrigin);

        let req = request(&[("origin", "http://a.com"), ("origin", "http://b.com")]);
        assert_eq!(check(&CorsPolicy::Any, &req), CorsDecision::InvalidOrigin);
    }

    #[test]
    fn credentials_off() {
        let mut out = Vec::new();
        response_headers(&allowed("http://a.com"), false, &mut out);
        assert_eq!(
            out,
            [
                ("Access-Control-Allow-Origin", "http://a.com".into()),
                ("Vary", "Origin".into()),
            ]
        );
    }

    #[test]
    fn preflight() {
        let req = request(&[
            ("origin", "http://a.com"),
            ("access-control-request-headers", "content-type, x-custom"),
        ]);
        let d = check(&CorsPolicy::Any, &req);
        let mut out = Vec::new();
        preflight_headers(&d, true, &req, &mut out);
        assert_eq!(
            out,
            [
                ("Access-Control-Allow-Origin", "http://a.com".into()),
                ("Vary", "Origin".into()),
                ("Access-Control-Allow-Credentials", "true".into()),
                ("Access-Control-Allow-Methods", "GET, POST, OPTIONS".into()),
                (
                    "Access-Control-Allow-Headers",
                    "content-type, x-custom".into()
                ),
            ]
        );

        let req = request(&[]);
        let mut out = Vec::new();
        preflight_headers(&CorsDecision::NoOrigin, false, &req, &mut out);
        assert_eq!(
            out,
            [("Access-Control-Allow-Methods", "GET, POST, OPTIONS".into())]
        );
    }

    #[test]
    fn validation() {
        for good in [
            "*",
            "http://a.com",
            "https://a.com:8443",
            "http://[::1]:3000",
            "capacitor://localhost",
            "http://127.0.0.1",
        ] {
            CorsPolicy::list([good]).validate().unwrap();
        }
        for bad in [
            "a.com",
            "https://a.com/",
            "https://a.com/path",
            "https://",
            "https://a.com:",
            "https://a.com:99999",
            "https://a.com:8x",
            "https://u@a.com",
            "https://a b.com",
            "1http://a.com",
            "null",
            "",
            "http://[::1",
        ] {
            let err = CorsPolicy::list([bad]).validate().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{bad}");
            assert!(err.to_string().contains("CORS origin"), "{err}");
        }
        let err = CorsPolicy::list(Vec::<String>::new())
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("Disabled"), "{err}");
        CorsPolicy::SameOrigin.validate().unwrap();
        CorsPolicy::Any.validate().unwrap();
        CorsPolicy::Disabled.validate().unwrap();
    }

    #[test]
    fn debug_and_send_sync() {
        fn assert_send_sync<T: Send + Sync + Clone>() {}
        assert_send_sync::<CorsPolicy>();
        assert_eq!(format!("{:?}", CorsPolicy::default()), "SameOrigin");
        assert_eq!(
            format!("{:?}", CorsPolicy::list(["http://a.com"])),
            r#"List(["http://a.com"])"#
        );
    }
}
