//! The session cookie: a `Set-Cookie` carrying the sid on the handshake response, so that a
//! load balancer can send a client's later requests to the same server (sticky sessions).
//!
//! The cookie is off by default. When on, only the handshake response (the polling `200` or
//! the WebSocket `101` that opens a session) carries it.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{Error, ErrorKind, Result};
use crate::server::Request;

/// The signature of a [`CookieConfig::dynamic`] callback.
type AdjustFn = dyn Fn(&Request, &mut CookieConfig) + Send + Sync;

/// The cookie's `SameSite` attribute: whether browsers send it on cross-site requests.
///
/// ```
/// use engineio::server::cookie::{CookieConfig, SameSite};
///
/// // A page on another site connecting with credentials needs `None`, which browsers
/// // accept only together with `Secure`.
/// let cookie = CookieConfig::new("io").same_site(SameSite::None).secure(true);
/// # let _ = cookie;
/// assert_eq!(SameSite::Strict.as_str(), "Strict");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SameSite {
    /// Sent only on same-site requests.
    Strict,
    /// Sent on same-site requests and top-level cross-site navigations (the browsers' default).
    Lax,
    /// Sent on every request; requires `Secure`.
    None,
}

impl SameSite {
    /// The attribute's value as written in `Set-Cookie`: `Strict`, `Lax` or `None`.
    pub fn as_str(self) -> &'static str {
        match self {
            SameSite::Strict => "Strict",
            SameSite::Lax => "Lax",
            SameSite::None => "None",
        }
    }
}

/// How to write the session cookie.
///
/// The defaults are the reference server's: `io=<sid>; Path=/; HttpOnly; SameSite=Lax`.
/// Every setter says its default. Values are checked when the server is configured, and a
/// bad one (a name that is not a token, a `;` in a path, `SameSite=None` without `Secure`)
/// makes the configuration fail rather than a request.
///
/// ```
/// use std::time::Duration;
/// use engineio::server::cookie::{CookieConfig, SameSite};
///
/// // The default cookie, named `io`.
/// let default = CookieConfig::default();
///
/// // Just a name, as python-engineio's `cookie="name"` does.
/// let named = CookieConfig::new("sticky");
///
/// // Every attribute.
/// let custom = CookieConfig::new("lb")
///     .path("/app")
///     .domain("example.com")
///     .max_age(Duration::from_secs(3600))
///     .secure(true)
///     .same_site(SameSite::Strict);
/// # let _ = (default, named, custom);
/// ```
#[derive(Clone)]
pub struct CookieConfig {
    name: String,
    path: Option<String>,
    domain: Option<String>,
    max_age: Option<Duration>,
    expires: Option<SystemTime>,
    secure: bool,
    http_only: bool,
    same_site: Option<SameSite>,
    dynamic: Option<Arc<AdjustFn>>,
}

impl CookieConfig {
    /// A cookie named `name` with the default attributes: `Path=/; HttpOnly; SameSite=Lax`.
    ///
    /// The name must be an RFC 6265 token (letters, digits and ``!#$%&'*+-.^_`|~``).
    pub fn new(name: impl Into<String>) -> CookieConfig {
        CookieConfig {
            name: name.into(),
            path: Some("/".to_owned()),
            domain: None,
            max_age: None,
            expires: None,
            secure: false,
            http_only: true,
            same_site: Some(SameSite::Lax),
            dynamic: None,
        }
    }

    /// Sets the `Path` attribute, which must start with `/`. Defaults to `/`.
    #[must_use]
    pub fn path(mut self, path: impl Into<String>) -> CookieConfig {
        self.path = Some(path.into());
        self
    }

    /// Leaves out the `Path` attribute: browsers then use the request's directory.
    /// By default `Path=/` is sent.
    #[must_use]
    pub fn no_path(mut self) -> CookieConfig {
        self.path = None;
        self
    }

    /// Sets the `Domain` attribute. Defaults to none (the cookie goes to this host only).
    #[must_use]
    pub fn domain(mut self, domain: impl Into<String>) -> CookieConfig {
        self.domain = Some(domain.into());
        self
    }

    /// Sets the `Max-Age` attribute, in whole seconds (fractions are dropped).
    /// Defaults to none (a session cookie).
    #[must_use]
    pub fn max_age(mut self, max_age: Duration) -> CookieConfig {
        self.max_age = Some(max_age);
        self
    }

    /// Sets the `Expires` attribute, written as an IMF-fixdate
    /// (`Sun, 06 Nov 1994 08:49:37 GMT`); sub-second precision is dropped. It must lie
    /// between 1970 and the end of year 9999. Defaults to none.
    #[must_use]
    pub fn expires(mut self, at: SystemTime) -> CookieConfig {
        self.expires = Some(at);
        self
    }

    /// Whether to send the `Secure` attribute (HTTPS only). Defaults to `false`; required
    /// by `SameSite=None`.
    #[must_use]
    pub fn secure(mut self, secure: bool) -> CookieConfig {
        self.secure = secure;
        self
    }

    /// Whether to send the `HttpOnly` attribute (hidden from page scripts). Defaults to `true`.
    #[must_use]
    pub fn http_only(mut self, http_only: bool) -> CookieConfig {
        self.http_only = http_only;
        self
    }

    /// Sets the `SameSite` attribute. Defaults to [`SameSite::Lax`].
    #[must_use]
    pub fn same_site(mut self, same_site: SameSite) -> CookieConfig {
        self.same_site = Some(same_site);
        self
    }

    /// Leaves out the `SameSite` attribute, so that each browser applies its own default.
    /// By default `SameSite=Lax` is sent.
    #[must_use]
    pub fn no_same_site(mut self) -> CookieConfig {
        self.same_site = None;
        self
    }

    /// Computes attributes per handshake: `adjust` receives the handshake request and a copy
    /// of this configuration (without the callback) to change before the cookie is written.
    /// Defaults to none.
    ///
    /// `adjust` runs on the thread handling the handshake. If it produces an invalid
    /// configuration, or panics, the error is logged and the cookie is written from this
    /// configuration as it was built.
    ///
    /// ```
    /// use engineio::server::cookie::CookieConfig;
    ///
    /// // Mark the cookie `Secure` on https: served by this server (`App::tls`), or by a
    /// // TLS-terminating proxy that says so.
    /// let cookie = CookieConfig::default().dynamic(|request, cookie| {
    ///     if request.is_secure() || request.header("x-forwarded-proto") == Some("https") {
    ///         *cookie = cookie.clone().secure(true);
    ///     }
    /// });
    /// # let _ = cookie;
    /// ```
    #[must_use]
    pub fn dynamic<F>(mut self, adjust: F) -> CookieConfig
    where
        F: Fn(&Request, &mut CookieConfig) + Send + Sync + 'static,
    {
        self.dynamic = Some(Arc::new(adjust));
        self
    }

    /// Checks every value; run when the server is configured (K-2).
    pub(crate) fn validate(&self) -> Result<()> {
        let config = |msg: String| Err(Error::new(ErrorKind::Config, msg));
        if self.name.is_empty() {
            return config("the cookie name is empty".to_owned());
        }
        if !self.name.bytes().all(is_token_byte) {
            return config(format!(
                "the cookie name {:?} is not a token: use letters, digits and !#$%&'*+-.^_`|~",
                self.name
            ));
        }
        if let Some(path) = &self.path {
            check_attribute("path", path)?;
            if !path.starts_with('/') {
                return config(format!(
                    "the cookie path {path:?} must start with `/` (browsers ignore it otherwise)"
                ));
            }
        }
        if let Some(domain) = &self.domain {
            check_attribute("domain", domain)?;
        }
        if let Some(at) = self.expires {
            let ok = at
                .duration_since(UNIX_EPOCH)
                .is_ok_and(|d| d.as_secs() <= MAX_EXPIRES_SECS);
            if !ok {
                return config(
                    "the cookie expiry must lie between 1970 and the end of year 9999".to_owned(),
                );
            }
        }
        if self.same_site == Some(SameSite::None) && !self.secure {
            return config(
                "a cookie with SameSite=None must also be Secure (browsers reject it otherwise); \
                 call .secure(true) or choose another SameSite"
                    .to_owned(),
            );
        }
        Ok(())
    }

    /// The `Set-Cookie` value for session `sid` on the handshake `req` (K-1, K-2).
    pub(crate) fn render(&self, sid: &str, req: &Request) -> String {
        let Some(adjust) = &self.dynamic else {
            return self.render_static(sid);
        };
        let mut adjusted = self.clone();
        adjusted.dynamic = None;
        match catch_unwind(AssertUnwindSafe(|| adjust(req, &mut adjusted))) {
            Ok(()) => match adjusted.validate() {
                Ok(()) => return adjusted.render_static(sid),
                Err(e) => log::error!("per-handshake cookie settings refused: {e}"),
            },
            Err(_) => log::error!("per-handshake cookie callback panicked"),
        }
        self.render_static(sid)
    }

    fn render_static(&self, sid: &str) -> String {
        let mut out = format!("{}={}", self.name, sid);
        if let Some(path) = &self.path {
            out.push_str("; Path=");
            out.push_str(path);
        }
        if let Some(domain) = &self.domain {
            out.push_str("; Domain=");
            out.push_str(domain);
        }
        if let Some(max_age) = self.max_age {
            out.push_str(&format!("; Max-Age={}", max_age.as_secs()));
        }
        if let Some(at) = self.expires {
            let secs = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
            out.push_str("; Expires=");
            out.push_str(&imf_fixdate(secs));
        }
        if self.secure {
            out.push_str("; Secure");
        }
        if self.http_only {
            out.push_str("; HttpOnly");
        }
        if let Some(same_site) = self.same_site {
            out.push_str("; SameSite=");
            out.push_str(same_site.as_str());
        }
        out
    }
}

impl Default for CookieConfig {
    /// The reference server's cookie: `io=<sid>; Path=/; HttpOnly; SameSite=Lax`.
    fn default() -> CookieConfig {
        CookieConfig::new("io")
    }
}

impl From<&str> for CookieConfig {
    /// A cookie with this name and the default attributes.
    fn from(name: &str) -> CookieConfig {
        CookieConfig::new(name)
    }
}

impl From<String> for CookieConfig {
    /// A cookie with this name and the default attributes.
    fn from(name: String) -> CookieConfig {
        CookieConfig::new(name)
    }
}

impl fmt::Debug for CookieConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CookieConfig")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("domain", &self.domain)
            .field("max_age", &self.max_age)
            .field("expires", &self.expires)
            .field("secure", &self.secure)
            .field("http_only", &self.http_only)
            .field("same_site", &self.same_site)
            .field("dynamic", &self.dynamic.as_ref().map(|_| "<fn>"))
            .finish()
    }
}

/// 9999-12-31T23:59:59Z: the last instant an IMF-fixdate's four-digit year can write.
const MAX_EXPIRES_SECS: u64 = 253_402_300_799;

/// RFC 6265's cookie-name: an RFC 2616 token.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// An attribute value may hold no control character, whitespace, `;` or `,` (which would end
/// the attribute, or the header in a folded list).
fn check_attribute(what: &str, value: &str) -> Result<()> {
    if value.is_empty() {
        return Err(Error::new(
            ErrorKind::Config,
            format!("the cookie {what} is empty"),
        ));
    }
    if let Some(c) = value
        .chars()
        .find(|c| c.is_control() || c.is_whitespace() || matches!(c, ';' | ',') || !c.is_ascii())
    {
        return Err(Error::new(
            ErrorKind::Config,
            format!("the cookie {what} {value:?} contains the forbidden character {c:?}"),
        ));
    }
    Ok(())
}

/// Formats seconds since the Unix epoch as an IMF-fixdate (RFC 9110 §5.6.7).
fn imf_fixdate(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        day,
        MONTHS[(month - 1) as usize],
        year,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The proleptic Gregorian (year, month 1–12, day 1–31) of a day count since 1970-01-01.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Count from 0000-03-01, so that the leap day ends each 400-year era's years.
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153; // March = 0
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&'static str, &'static str)]) -> Request {
        let mut map = http::HeaderMap::new();
        for (k, v) in headers {
            map.append(*k, http::HeaderValue::from_static(v));
        }
        Request {
            method: http::Method::GET,
            path: "/engine.io/".into(),
            raw_query: "EIO=4&transport=polling".into(),
            query: vec![("EIO".into(), "4".into())],
            headers: map,
            remote_addr: "127.0.0.1:5000".parse().unwrap(),
            secure: false,
        }
    }

    #[test]
    fn default_cookie() {
        let c = CookieConfig::default();
        c.validate().unwrap();
        assert_eq!(
            c.render("abc123", &request(&[])),
            "io=abc123; Path=/; HttpOnly; SameSite=Lax"
        );
        assert_eq!(
            CookieConfig::from("sticky").render("s", &request(&[])),
            "sticky=s; Path=/; HttpOnly; SameSite=Lax"
        );
    }

    #[test]
    fn every_attribute_in_order() {
        let c = CookieConfig::new("lb")
            .path("/app")
            .domain("example.com")
            .max_age(Duration::from_millis(3_600_900))
            .expires(UNIX_EPOCH + Duration::from_secs(784_111_777))
            .secure(true)
            .same_site(SameSite::None);
        c.validate().unwrap();
        assert_eq!(
            c.render("x", &request(&[])),
            "lb=x; Path=/app; Domain=example.com; Max-Age=3600; \
             Expires=Sun, 06 Nov 1994 08:49:37 GMT; Secure; HttpOnly; SameSite=None"
        );
    }

    #[test]
    fn attributes_can_be_left_out() {
        let c = CookieConfig::new("io")
            .no_path()
            .http_only(false)
            .no_same_site();
        c.validate().unwrap();
        assert_eq!(c.render("x", &request(&[])), "io=x");
        let c = CookieConfig::new("io").same_site(SameSite::Strict);
        assert_eq!(
            c.render("x", &request(&[])),
            "io=x; Path=/; HttpOnly; SameSite=Strict"
        );
    }

    #[test]
    fn imf_fixdates() {
        assert_eq!(imf_fixdate(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(imf_fixdate(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(imf_fixdate(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(imf_fixdate(4_107_542_399), "Sun, 28 Feb 2100 23:59:59 GMT");
        assert_eq!(imf_fixdate(4_107_542_400), "Mon, 01 Mar 2100 00:00:00 GMT");
        assert_eq!(imf_fixdate(1_709_210_096), "Thu, 29 Feb 2024 12:34:56 GMT");
        assert_eq!(
            imf_fixdate(MAX_EXPIRES_SECS),
            "Fri, 31 Dec 9999 23:59:59 GMT"
        );
    }

    #[test]
    fn invalid_values_are_refused() {
        let bad = [
            CookieConfig::new(""),
            CookieConfig::new("a b"),
            CookieConfig::new("a;b"),
            CookieConfig::new("a=b"),
            CookieConfig::new("é"),
            CookieConfig::new("io").path("/a;b"),
            CookieConfig::new("io").path("/a,b"),
            CookieConfig::new("io").path("/a\nb"),
            CookieConfig::new("io").path("/a b"),
            CookieConfig::new("io").path("app"),
            CookieConfig::new("io").path(""),
            CookieConfig::new("io").domain("a.com; Secure"),
            CookieConfig::new("io").domain("a\u{7f}.com"),
            CookieConfig::new("io").domain(""),
            CookieConfig::new("io").same_site(SameSite::None),
            CookieConfig::new("io").expires(UNIX_EPOCH - Duration::from_secs(1)),
            CookieConfig::new("io").expires(UNIX_EPOCH + Duration::from_secs(MAX_EXPIRES_SECS + 1)),
        ];
        for c in bad {
            let err = c.validate().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{c:?}");
            assert!(err.to_string().contains("cookie"), "{err}");
        }
        let err = CookieConfig::new("io")
            .same_site(SameSite::None)
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("Secure"), "{err}");
        CookieConfig::new("a!#$%&'*+-.^_`|~Z9").validate().unwrap();
    }

    #[test]
    fn dynamic_adjusts_per_handshake() {
        let c = CookieConfig::default().dynamic(|req, cookie| {
            if req.header("x-forwarded-proto") == Some("https") {
                *cookie = cookie.clone().secure(true).same_site(SameSite::None);
            }
            if let Some(p) = req.query("path") {
                *cookie = cookie.clone().path(format!("/{p}"));
            }
        });
        c.validate().unwrap();
        assert_eq!(
            c.render("s", &request(&[])),
            "io=s; Path=/; HttpOnly; SameSite=Lax"
        );
        assert_eq!(
            c.render("s", &request(&[("x-forwarded-proto", "https")])),
            "io=s; Path=/; Secure; HttpOnly; SameSite=None"
        );
        let mut req = request(&[]);
        req.query.push(("path".into(), "chat".into()));
        assert_eq!(
            c.render("s", &req),
            "io=s; Path=/chat; HttpOnly; SameSite=Lax"
        );
    }

    #[test]
    fn dynamic_falls_back_when_invalid_or_panicking() {
        let invalid = CookieConfig::default().dynamic(|_, cookie| {
            *cookie = cookie.clone().path("/a; Domain=evil.com");
        });
        assert_eq!(
            invalid.render("s", &request(&[])),
            "io=s; Path=/; HttpOnly; SameSite=Lax"
        );
        let panicking = CookieConfig::new("p").dynamic(|_, _| panic!("callback bug"));
        assert_eq!(
            panicking.render("s", &request(&[])),
            "p=s; Path=/; HttpOnly; SameSite=Lax"
        );
    }

    #[test]
    fn debug_and_send_sync() {
        fn assert_send_sync<T: Send + Sync + Clone>() {}
        assert_send_sync::<CookieConfig>();
        let dbg = format!("{:?}", CookieConfig::default().dynamic(|_, _| {}));
        assert!(
            dbg.contains("name: \"io\"") && dbg.contains("<fn>"),
            "{dbg}"
        );
    }
}
