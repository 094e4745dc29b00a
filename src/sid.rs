//! Session ids, as the server hands them out and the client receives them.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// A session id. Our server makes them of 22 URL-safe characters (`[A-Za-z0-9_-]`)
/// carrying 128 bits from the operating system's CSPRNG, unless a custom generator
/// was configured; the client holds whatever its server sent.
///
/// It is cheap to clone and dereferences to `&str`, so it can be passed wherever a sid
/// string is expected (the server's methods take `&str`).
///
/// ```no_run
/// # let server = engineio::server::Server::builder().build().unwrap();
/// for sid in server.sids() {
///     println!("{sid} has {} characters", sid.len());
/// }
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sid(Arc<str>);

impl Sid {
    /// A sid as received (the client's, from its server's handshake).
    #[cfg_attr(not(feature = "client"), allow(dead_code))]
    pub(crate) fn received(s: &str) -> Sid {
        Sid(s.into())
    }

    /// A fresh random sid, or `None` if the OS random source failed.
    #[cfg(feature = "server")]
    pub(crate) fn generate() -> Option<Sid> {
        use base64::Engine as _;
        let mut bytes = [0u8; 16];
        if let Err(e) = getrandom::getrandom(&mut bytes) {
            log::error!("the OS random source failed: {e}");
            return None;
        }
        Some(Sid(base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(bytes)
            .into()))
    }

    /// A sid from a custom generator, if it is non-empty and URL-safe.
    #[cfg(feature = "server")]
    pub(crate) fn from_custom(s: String) -> Option<Sid> {
        let ok = !s.is_empty()
            && s.len() <= 128
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| Sid(s.into()))
    }

    /// `<prefix>_<sid>`: a cluster node's sid, naming its node.
    #[cfg(feature = "redis")]
    pub(crate) fn prefixed(prefix: &str, sid: &Sid) -> Sid {
        Sid(format!("{prefix}_{sid}").into())
    }

    /// The sid as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for Sid {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Sid {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Sid {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl PartialEq<str> for Sid {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Sid {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<String> for Sid {
    fn eq(&self, other: &String) -> bool {
        &*self.0 == other.as_str()
    }
}

impl PartialEq<Sid> for str {
    fn eq(&self, other: &Sid) -> bool {
        self == &*other.0
    }
}

impl PartialEq<Sid> for &str {
    fn eq(&self, other: &Sid) -> bool {
        *self == &*other.0
    }
}

impl PartialEq<Sid> for String {
    fn eq(&self, other: &Sid) -> bool {
        self.as_str() == &*other.0
    }
}

impl From<Sid> for String {
    fn from(sid: Sid) -> String {
        sid.0.to_string()
    }
}

#[cfg(all(test, feature = "server"))]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn generated_sids_are_long_url_safe_and_distinct() {
        let mut seen = HashSet::new();
        for _ in 0..10_000 {
            let s = Sid::generate().unwrap();
            assert_eq!(s.len(), 22);
            assert!(s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            assert!(seen.insert(s));
        }
    }

    #[test]
    fn custom_sids_are_checked() {
        assert!(Sid::from_custom("abc-DEF_1".into()).is_some());
        assert!(Sid::from_custom("".into()).is_none());
        assert!(Sid::from_custom("a b".into()).is_none());
        assert!(Sid::from_custom("a/b".into()).is_none());
    }
}
