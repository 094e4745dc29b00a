//! Which HTTP proxy a client uses: the one given to
//! [`ClientBuilder::proxy`](crate::client::ClientBuilder::proxy), or, when the user
//! opted in with
//! [`proxy_from_env`](crate::client::ClientBuilder::proxy_from_env), the one the
//! environment names for the server's scheme unless `NO_PROXY` exempts the server.
//!
//! The choice is made once, by `build`, for the server of the URL; both transports
//! then use it (ureq for polling, `CONNECT` for the WebSocket).

use std::net::IpAddr;

use crate::{Error, ErrorKind, Result};

/// A proxy URL and where it came from (the option or an environment variable), for
/// error messages.
pub(crate) struct Chosen {
    pub(crate) url: String,
    pub(crate) source: &'static str,
}

/// The proxy the environment names for a server at `host:port` (`secure`: `https`
/// or `wss`), read through `var` (the process environment outside tests).
///
/// - `https`/`wss`: `https_proxy`, then `HTTPS_PROXY`; `http`/`ws`: `http_proxy`,
///   then `HTTP_PROXY` (ignored when `REQUEST_METHOD` is set: in a CGI program it can
///   come from a request's `Proxy` header); then `all_proxy`, `ALL_PROXY`. An empty
///   variable counts as unset.
/// - `no_proxy`, then `NO_PROXY`, exempts the server (see [`no_proxy_matches`]).
pub(crate) fn from_env(
    host: &str,
    port: u16,
    secure: bool,
    var: impl Fn(&str) -> Option<String>,
) -> Option<Chosen> {
    let set = |name: &'static str| {
        var(name)
            .filter(|v| !v.trim().is_empty())
            .map(|v| (name, v))
    };
    let cgi = var("REQUEST_METHOD").is_some();
    let names: &[&'static str] = if secure {
        &["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"]
    } else {
        &["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"]
    };
    let (source, url) = names
        .iter()
        .filter(|&&name| !(cgi && name == "HTTP_PROXY"))
        .find_map(|&name| set(name))?;
    if let Some((name, list)) = set("no_proxy").or_else(|| set("NO_PROXY")) {
        if no_proxy_matches(&list, host, port) {
            log::debug!("engineio client: {name} exempts {host}:{port} from the proxy in {source}");
            return None;
        }
    }
    Some(Chosen {
        url: url.trim().to_owned(),
        source,
    })
}

/// Whether a `NO_PROXY` list exempts `host:port` (`host` without IPv6 brackets), by
/// curl's rules:
///
/// - entries are separated by commas or white space; `*` alone matches every host;
/// - a name matches itself and its subdomains (`example.com` matches `example.com`
///   and `www.example.com`, not `myexample.com`); a leading `.` or `*.` changes
///   nothing (`.example.com` matches `example.com` too); case and a trailing `.` are
///   ignored;
/// - an IP address matches that address only, and `address/bits` a network (CIDR),
///   IPv6 with or without brackets; names never match IP addresses by suffix;
/// - `entry:port` (`[v6]:port`) matches on that port only; without a port, on any.
pub(crate) fn no_proxy_matches(list: &str, host: &str, port: u16) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let host_ip: Option<IpAddr> = host.parse().ok();
    list.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|entry| !entry.is_empty())
        .any(|entry| entry_matches(entry, &host, host_ip, port))
}

fn entry_matches(entry: &str, host: &str, host_ip: Option<IpAddr>, port: u16) -> bool {
    if entry == "*" {
        return true;
    }
    let (name, entry_port) = split_port(entry);
    if entry_port.is_some_and(|p| p != port) {
        return false;
    }
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if let Some(ip) = host_ip {
        return ip_matches(&name, ip);
    }
    let name = name
        .strip_prefix("*.")
        .or_else(|| name.strip_prefix('.'))
        .unwrap_or(&name);
    if name.is_empty() || name.parse::<IpAddr>().is_ok() {
        return false;
    }
    host == name
        || host
            .strip_suffix(name)
            .is_some_and(|rest| rest.ends_with('.'))
}

/// `entry` without its port, and the port: `host:port`, `[v6]:port`, `[v6]`; an
/// entry with several colons and no brackets is an IPv6 address (or network)
/// without a port.
fn split_port(entry: &str) -> (&str, Option<u16>) {
    if let Some(rest) = entry.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((addr, after)) => (addr, after.strip_prefix(':').and_then(|p| p.parse().ok())),
            None => (entry, None),
        };
    }
    match entry.split_once(':') {
        Some((name, port)) if !port.contains(':') => match port.parse() {
            Ok(port) => (name, Some(port)),
            Err(_) => (entry, None),
        },
        _ => (entry, None),
    }
}

/// Whether `entry` (an address, or `address/bits`) covers `ip`.
fn ip_matches(entry: &str, ip: IpAddr) -> bool {
    let (addr, bits) = match entry.split_once('/') {
        Some((addr, bits)) => match bits.parse::<u32>() {
            Ok(bits) => (addr, Some(bits)),
            Err(_) => return false,
        },
        None => (entry, None),
    };
    let Ok(net) = addr.parse::<IpAddr>() else {
        return false;
    };
    match (net, ip) {
        (IpAddr::V4(net), IpAddr::V4(ip)) => {
            prefix_eq(u32::from(net).into(), u32::from(ip).into(), 32, bits)
        }
        (IpAddr::V6(net), IpAddr::V6(ip)) => prefix_eq(u128::from(net), u128::from(ip), 128, bits),
        _ => false,
    }
}

/// Whether `a` and `b` (numbers of `width` bits) agree on their first `bits` bits
/// (all of them when `None`).
fn prefix_eq(a: u128, b: u128, width: u32, bits: Option<u32>) -> bool {
    let bits = bits.unwrap_or(width);
    if bits > width {
        return false;
    }
    let shift = width - bits;
    if shift >= 128 {
        return true;
    }
    (a >> shift) == (b >> shift)
}

/// Checks a proxy URL: only `http://` proxies (with or without the scheme) are
/// supported.
pub(crate) fn parse(chosen: &Chosen) -> Result<ureq::Proxy> {
    let Chosen { url, source } = chosen;
    let proxy = ureq::Proxy::new(url).map_err(|e| {
        Error::new(
            ErrorKind::Config,
            format!("invalid proxy {url:?} in {source}"),
        )
        .with_source(e)
    })?;
    if proxy.protocol() != ureq::ProxyProtocol::Http {
        return Err(Error::new(
            ErrorKind::Config,
            format!("unsupported proxy {url:?} in {source}: only http:// proxies are supported"),
        ));
    }
    Ok(proxy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_proxy_names_match_themselves_and_subdomains() {
        let list = "localhost, .internal.example ,*.corp.example,Example.COM.";
        for host in [
            "localhost",
            "LOCALHOST",
            "internal.example",
            "a.internal.example",
            "corp.example",
            "x.y.corp.example",
            "example.com",
            "www.example.com",
            "www.example.com.",
        ] {
            assert!(no_proxy_matches(list, host, 80), "{host}");
        }
        for host in [
            "mylocalhost",
            "localhost.evil",
            "xinternal.example",
            "example.org",
            "127.0.0.1",
        ] {
            assert!(!no_proxy_matches(list, host, 80), "{host}");
        }
        assert!(no_proxy_matches("*", "anything", 1));
        assert!(no_proxy_matches("a b,*", "anything", 1));
        assert!(!no_proxy_matches("", "anything", 1));
        assert!(!no_proxy_matches(" , ", "anything", 1));
        assert!(!no_proxy_matches("*.", "anything", 1));
    }

    #[test]
    fn no_proxy_ports_and_addresses() {
        assert!(no_proxy_matches("example.com:8080", "example.com", 8080));
        assert!(!no_proxy_matches("example.com:8080", "example.com", 80));
        assert!(no_proxy_matches("127.0.0.1", "127.0.0.1", 5000));
        assert!(no_proxy_matches("127.0.0.1:5000", "127.0.0.1", 5000));
        assert!(!no_proxy_matches("127.0.0.1:5000", "127.0.0.1", 5001));
        assert!(!no_proxy_matches("0.0.1", "127.0.0.1", 5000));
        assert!(!no_proxy_matches("127.0.0.2", "127.0.0.1", 5000));
        assert!(no_proxy_matches("10.0.0.0/8", "10.1.2.3", 1));
        assert!(!no_proxy_matches("10.0.0.0/8", "11.1.2.3", 1));
        assert!(no_proxy_matches("0.0.0.0/0", "11.1.2.3", 1));
        assert!(!no_proxy_matches("10.0.0.0/33", "10.0.0.0", 1));
        assert!(no_proxy_matches("::1", "::1", 1));
        assert!(no_proxy_matches("[::1]", "::1", 1));
        assert!(no_proxy_matches("0:0::1", "::1", 1));
        assert!(no_proxy_matches("[::1]:443", "::1", 443));
        assert!(!no_proxy_matches("[::1]:443", "::1", 80));
        assert!(no_proxy_matches("fd00::/8", "fd12::5", 1));
        assert!(!no_proxy_matches("fd00::/8", "fe12::5", 1));
        assert!(no_proxy_matches("::/0", "fe12::5", 1));
        // Addresses never match names, nor names addresses.
        assert!(!no_proxy_matches("127.0.0.1", "localhost", 1));
        assert!(!no_proxy_matches("localhost", "::1", 1));
    }

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    fn chosen(vars: &[(&str, &str)], host: &str, secure: bool) -> Option<(String, &'static str)> {
        from_env(host, 443, secure, env(vars)).map(|c| (c.url, c.source))
    }

    #[test]
    fn the_scheme_picks_the_variable() {
        let vars = [
            ("HTTP_PROXY", "http://h:1"),
            ("HTTPS_PROXY", "http://s:2"),
            ("ALL_PROXY", "http://a:3"),
        ];
        assert_eq!(
            chosen(&vars, "x", false),
            Some(("http://h:1".into(), "HTTP_PROXY"))
        );
        assert_eq!(
            chosen(&vars, "x", true),
            Some(("http://s:2".into(), "HTTPS_PROXY"))
        );
        // ALL_PROXY when the scheme's own is unset or empty.
        let vars = [
            ("HTTP_PROXY", "http://h:1"),
            ("HTTPS_PROXY", " "),
            ("ALL_PROXY", "a:3"),
        ];
        assert_eq!(chosen(&vars, "x", true), Some(("a:3".into(), "ALL_PROXY")));
        assert_eq!(chosen(&[("HTTPS_PROXY", "s:2")], "x", false), None);
        assert_eq!(chosen(&[], "x", false), None);
        // Lower case first, as curl.
        let vars = [
            ("http_proxy", "low:1"),
            ("HTTP_PROXY", "up:1"),
            ("all_proxy", "al:1"),
        ];
        assert_eq!(
            chosen(&vars, "x", false),
            Some(("low:1".into(), "http_proxy"))
        );
        // HTTP_PROXY is not trusted in a CGI program; http_proxy is.
        let vars = [("HTTP_PROXY", "up:1"), ("REQUEST_METHOD", "GET")];
        assert_eq!(chosen(&vars, "x", false), None);
        let vars = [("http_proxy", "low:1"), ("REQUEST_METHOD", "GET")];
        assert_eq!(
            chosen(&vars, "x", false),
            Some(("low:1".into(), "http_proxy"))
        );
    }

    #[test]
    fn no_proxy_exempts_the_server() {
        let vars = [
            ("HTTPS_PROXY", "s:2"),
            ("NO_PROXY", "example.com,10.0.0.0/8"),
        ];
        assert_eq!(chosen(&vars, "api.example.com", true), None);
        assert_eq!(chosen(&vars, "10.9.9.9", true), None);
        assert!(chosen(&vars, "example.org", true).is_some());
        // no_proxy wins over NO_PROXY; an empty one counts as unset.
        let vars = [
            ("HTTPS_PROXY", "s:2"),
            ("no_proxy", "a.test"),
            ("NO_PROXY", "b.test"),
        ];
        assert_eq!(chosen(&vars, "a.test", true), None);
        assert!(chosen(&vars, "b.test", true).is_some());
        let vars = [
            ("HTTPS_PROXY", "s:2"),
            ("no_proxy", ""),
            ("NO_PROXY", "b.test"),
        ];
        assert_eq!(chosen(&vars, "b.test", true), None);
        let vars = [("HTTPS_PROXY", "s:2"), ("NO_PROXY", "*")];
        assert_eq!(chosen(&vars, "anything", true), None);
    }

    #[test]
    fn only_http_proxies_are_accepted() {
        let ok = |url: &str| {
            parse(&Chosen {
                url: url.to_owned(),
                source: "HTTPS_PROXY",
            })
        };
        assert!(ok("http://u:p@proxy:3128").is_ok());
        assert!(ok("proxy:3128").is_ok());
        for bad in ["socks5://proxy:1080", "https://proxy:443", "http://"] {
            let err = ok(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{bad}");
            assert!(err.to_string().contains("HTTPS_PROXY"), "{err}");
        }
    }
}
