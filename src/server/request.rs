//! The snapshot of an HTTP request that handlers and policies see.

use std::net::SocketAddr;

/// An HTTP request as the server received it: method, path, query, headers and the peer's
/// address. The connect handler receives the handshake request; a CORS predicate receives
/// the request it decides on.
///
/// The body is not part of it: Engine.IO bodies are consumed by the protocol.
#[derive(Clone, Debug)]
pub struct Request {
    pub(crate) method: http::Method,
    pub(crate) path: String,
    pub(crate) raw_query: String,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) headers: http::HeaderMap,
    pub(crate) remote_addr: SocketAddr,
    pub(crate) secure: bool,
}

impl Request {
    /// The request method (`GET`, `POST`, …).
    pub fn method(&self) -> &http::Method {
        &self.method
    }

    /// The path of the request target, still percent-encoded, without the query string.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The raw query string (the part after `?`), still percent-encoded; empty if none.
    pub fn raw_query(&self) -> &str {
        &self.raw_query
    }

    /// Every query parameter, percent-decoded, in order, repeats included.
    pub fn query_pairs(&self) -> &[(String, String)] {
        &self.query
    }

    /// The first value of the query parameter `name`, percent-decoded.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The request headers.
    pub fn headers(&self) -> &http::HeaderMap {
        &self.headers
    }

    /// The first value of header `name`, if present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The address of the peer that sent the request (the TCP peer: behind a proxy,
    /// the proxy's address).
    pub fn remote_addr(&self) -> SocketAddr {
        self.remote_addr
    }

    /// Whether the request arrived over TLS (always `false` for now: the server speaks
    /// plain HTTP; put a TLS-terminating proxy in front of it).
    pub fn is_secure(&self) -> bool {
        self.secure
    }
}

#[cfg(test)]
impl Request {
    /// A request for unit tests: `target` is a path with an optional query.
    pub(crate) fn for_tests(
        method: http::Method,
        target: &str,
        headers: &[(&str, &str)],
    ) -> Request {
        let (path, raw_query) = target.split_once('?').unwrap_or((target, ""));
        let mut map = http::HeaderMap::new();
        for (k, v) in headers {
            map.append(
                http::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                http::HeaderValue::from_str(v).unwrap(),
            );
        }
        Request {
            method,
            path: path.into(),
            raw_query: raw_query.into(),
            query: parse_query(raw_query),
            headers: map,
            remote_addr: "127.0.0.1:1".parse().unwrap(),
            secure: false,
        }
    }
}

/// Splits a query string into percent-decoded pairs (`application/x-www-form-urlencoded`:
/// `+` is a space). Invalid percent escapes are kept literally.
pub(crate) fn parse_query(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|s| !s.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (form_decode(k), form_decode(v))
        })
        .collect()
}

fn form_decode(s: &str) -> String {
    String::from_utf8_lossy(&percent_decode(s.as_bytes(), true)).into_owned()
}

/// Percent-decodes a URL path (no `+` rule). Returns `None` if the result is not UTF-8.
pub(crate) fn percent_decode_path(s: &str) -> Option<String> {
    String::from_utf8(percent_decode(s.as_bytes(), false)).ok()
}

/// Decodes `%XX` escapes (invalid ones are kept literally), and `+` as a space when
/// `plus_is_space`.
fn percent_decode(bytes: &[u8], plus_is_space: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(if b == b'+' && plus_is_space { b' ' } else { b });
        i += 1;
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding() {
        let q = parse_query("EIO=4&transport=polling&name=a%20b+c&x&bad=%zz&end=%4");
        assert_eq!(q[0], ("EIO".into(), "4".into()));
        assert_eq!(q[2], ("name".into(), "a b c".into()));
        assert_eq!(q[3], ("x".into(), "".into()));
        assert_eq!(q[4], ("bad".into(), "%zz".into()));
        assert_eq!(q[5], ("end".into(), "%4".into()));
    }

    #[test]
    fn path_decoding() {
        assert_eq!(percent_decode_path("/a%2e%2E/b+c%41").unwrap(), "/a../b+cA");
        assert_eq!(percent_decode_path("/%ff"), None);
        assert_eq!(percent_decode_path("/x%"), Some("/x%".into()));
    }
}
