//! Static files served beside the Engine.IO endpoint, with python-engineio's rules.
//!
//! Like python-engineio's `static_files`, this is a development convenience: it lets one
//! process serve a test page and its scripts. In production, put the files behind a web
//! server or CDN.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use crate::server::request::percent_decode_path;

/// Rules mapping URL paths to files and directories on disk.
///
/// Each rule maps a URL key to a file name, optionally with an explicit content type. Whether
/// the name is a file or a directory is decided when a request arrives, as in
/// python-engineio:
///
/// 1. A URL path equal to a key is served from the key's file name.
/// 2. Otherwise trailing path segments are dropped one at a time, and the first prefix that
///    is a key, written with or without a trailing `/`, wins; the dropped segments are looked
///    up under the rule's file name, which is then a directory. `/static/css/a.css` under the
///    rule `/static` → `./public` is `./public/css/a.css`. A rule `/` → `./public` thus serves
///    a whole directory.
/// 3. A target ending in `/` is a directory and gets its default file: the name set with
///    [`StaticFiles::default_file`] (python's `''` rule), else `index.html`.
///
/// A request whose path holds a `..` segment (also percent-encoded), a backslash or a NUL is
/// never served, and a file reached through a directory rule must lie inside that directory
/// once symbolic links are resolved. A rule that matches a missing file, a directory or
/// anything else that is not a regular file serves nothing: the request goes on to the
/// fallback handler, if any, else `404 Not Found`.
///
/// Content types follow the extension (see [`StaticFiles::file`]) unless the rule gives one.
///
/// ```
/// use engineio::server::static_files::StaticFiles;
///
/// let files = StaticFiles::new()
///     // `/` serves ./public/index.html.
///     .file("/", "public/index.html")
///     // `/static/app.js` serves ./public/static/app.js, nested directories included.
///     .dir("/static", "public/static/")
///     // `/feed` serves a file without extension with an explicit type.
///     .file_with_type("/feed", "data/feed", "application/atom+xml");
/// # let _ = files;
/// ```
#[derive(Clone, Debug, Default)]
pub struct StaticFiles {
    rules: BTreeMap<String, Rule>,
    default_file: Option<Rule>,
}

#[derive(Clone, Debug)]
struct Rule {
    target: String,
    content_type: Option<String>,
}

/// A file that a static rule serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Resolved {
    /// The file's path, with symbolic links resolved.
    pub path: PathBuf,
    /// The value of `Content-Type`.
    pub content_type: String,
}

impl StaticFiles {
    /// No rules: every path falls through to the fallback handler.
    pub fn new() -> StaticFiles {
        StaticFiles::default()
    }

    /// Adds a rule serving URL `url_key` from `path`, with the content type of the served
    /// file's extension:
    ///
    /// | extension | type |
    /// |---|---|
    /// | `css` | `text/css` |
    /// | `gif` | `image/gif` |
    /// | `html`, `htm` | `text/html` |
    /// | `ico` | `image/x-icon` |
    /// | `jpg`, `jpeg` | `image/jpeg` |
    /// | `js`, `mjs` | `application/javascript` |
    /// | `json`, `map` | `application/json` |
    /// | `png` | `image/png` |
    /// | `svg` | `image/svg+xml` |
    /// | `txt` | `text/plain` |
    /// | `wasm` | `application/wasm` |
    /// | anything else | `application/octet-stream` |
    ///
    /// Extensions compare case-insensitively. `path` is relative to the process's working
    /// directory unless absolute. A `url_key` without a leading `/` gets one; adding a rule
    /// for a key again replaces it. If `path` names a directory, this is the same as
    /// [`StaticFiles::dir`].
    ///
    /// ```
    /// use engineio::server::static_files::StaticFiles;
    ///
    /// let files = StaticFiles::new().file("/", "index.html");
    /// # let _ = files;
    /// ```
    #[must_use]
    pub fn file(self, url_key: impl Into<String>, path: impl Into<String>) -> StaticFiles {
        self.rule(url_key.into(), path.into(), None)
    }

    /// Adds a rule like [`StaticFiles::file`] whose files are all served with `content_type`.
    ///
    /// ```
    /// use engineio::server::static_files::StaticFiles;
    ///
    /// let files = StaticFiles::new().file_with_type("/", "page.tmpl", "text/html; charset=utf-8");
    /// # let _ = files;
    /// ```
    #[must_use]
    pub fn file_with_type(
        self,
        url_key: impl Into<String>,
        path: impl Into<String>,
        content_type: impl Into<String>,
    ) -> StaticFiles {
        self.rule(url_key.into(), path.into(), Some(content_type.into()))
    }

    /// Adds a rule serving the URLs under `url_key` from the directory `dir_path`: with the
    /// rule `/static` → `public`, `/static/css/a.css` is `public/css/a.css` and `/static/`
    /// is `public/index.html` (or the [default file](StaticFiles::default_file)). Trailing
    /// slashes on either side make no difference to the URLs below the key. Content types
    /// are those of [`StaticFiles::file`].
    ///
    /// ```
    /// use engineio::server::static_files::StaticFiles;
    ///
    /// let files = StaticFiles::new().dir("/static/", "./public");
    /// # let _ = files;
    /// ```
    #[must_use]
    pub fn dir(self, url_key: impl Into<String>, dir_path: impl Into<String>) -> StaticFiles {
        self.rule(url_key.into(), dir_path.into(), None)
    }

    /// Sets the file served for a URL naming a directory (ending in `/`), as python's `''`
    /// rule does: `name` is looked up in that directory and must be a relative path inside
    /// it. Defaults to `index.html`.
    ///
    /// ```
    /// use engineio::server::static_files::StaticFiles;
    ///
    /// // `/docs/` serves ./manual/start.html.
    /// let files = StaticFiles::new().dir("/docs", "manual").default_file("start.html");
    /// # let _ = files;
    /// ```
    #[must_use]
    pub fn default_file(mut self, name: impl Into<String>) -> StaticFiles {
        self.default_file = Some(Rule {
            target: name.into(),
            content_type: None,
        });
        self
    }

    /// Like [`StaticFiles::default_file`], with an explicit content type for it.
    ///
    /// ```
    /// use engineio::server::static_files::StaticFiles;
    ///
    /// let files = StaticFiles::new()
    ///     .dir("/", "site")
    ///     .default_file_with_type("home.tmpl", "text/html");
    /// # let _ = files;
    /// ```
    #[must_use]
    pub fn default_file_with_type(
        mut self,
        name: impl Into<String>,
        content_type: impl Into<String>,
    ) -> StaticFiles {
        self.default_file = Some(Rule {
            target: name.into(),
            content_type: Some(content_type.into()),
        });
        self
    }

    fn rule(mut self, key: String, target: String, content_type: Option<String>) -> StaticFiles {
        let key = if key.starts_with('/') {
            key
        } else {
            format!("/{key}")
        };
        self.rules.insert(
            key,
            Rule {
                target,
                content_type,
            },
        );
        self
    }

    /// The file serving `url_path` (the request's path, still percent-encoded, without the
    /// query), if a rule matches and the file exists; `None` lets the request fall through.
    pub(crate) fn resolve(&self, url_path: &str) -> Option<Resolved> {
        let path = percent_decode_path(url_path)?;
        if path.contains(['\\', '\0']) || path.split('/').any(|s| s == "..") {
            return None;
        }
        let (rule, remainder) = self.lookup(&path)?;

        // Python concatenates strings; a target ends in `/` when the remainder does, or when
        // there is no remainder and the rule's own name does.
        // Beyond python: a URL ending in `/` that names a directory rule exactly (`/` under
        // the rule `/` → `public`) also gets the default file.
        let ends_in_slash = if remainder.is_empty() {
            rule.target.ends_with('/') || (path.ends_with('/') && Path::new(&rule.target).is_dir())
        } else {
            remainder.ends_with('/')
        };
        let mut content_type = rule.content_type.as_deref();
        let (file, dir) = if remainder.is_empty() && !ends_in_slash {
            // The exact file the user configured.
            (PathBuf::from(&rule.target), None)
        } else {
            let dir = PathBuf::from(&rule.target);
            let mut file = dir.clone();
            push_relative(&mut file, remainder)?;
            if ends_in_slash {
                let default = match &self.default_file {
                    Some(d) => {
                        content_type = d.content_type.as_deref().or(content_type);
                        d.target.as_str()
                    }
                    None => "index.html",
                };
                push_relative(&mut file, default)?;
            }
            (file, Some(dir))
        };

        let file = file.canonicalize().ok()?;
        if let Some(dir) = dir {
            // Symbolic links inside the directory may not lead out of it.
            if !file.starts_with(dir.canonicalize().ok()?) {
                return None;
            }
        }
        if !file.metadata().ok()?.is_file() {
            return None;
        }
        let content_type = match content_type {
            Some(ct) => ct.to_owned(),
            None => content_type_of(&file).to_owned(),
        };
        Some(Resolved {
            path: file,
            content_type,
        })
    }

    /// python-engineio's lookup: the exact key, else the longest prefix that is a key with or
    /// without a trailing `/`. Returns the rule and the remainder of the path (starting with
    /// `/` unless empty).
    fn lookup<'a>(&self, path: &'a str) -> Option<(&Rule, &'a str)> {
        if let Some(rule) = self.rules.get(path) {
            return Some((rule, ""));
        }
        let mut prefix = path;
        while let Some(cut) = prefix.rfind('/') {
            prefix = &prefix[..cut];
            let remainder = &path[cut..];
            if let Some(rule) = self.rules.get(prefix) {
                return Some((rule, remainder));
            }
            if let Some(rule) = self.rules.get(&format!("{prefix}/")) {
                return Some((rule, remainder));
            }
        }
        None
    }
}

/// Appends the `/`-separated `relative` path to `base`, refusing anything that could leave
/// `base`: `..`, a root, a Windows drive or prefix. Empty and `.` segments are skipped.
fn push_relative(base: &mut PathBuf, relative: &str) -> Option<()> {
    for segment in relative.split('/') {
        if segment.is_empty() || segment == "." {
            continue;
        }
        let mut components = Path::new(segment).components();
        match (components.next(), components.next()) {
            (Some(Component::Normal(name)), None) => base.push(name),
            _ => return None,
        }
    }
    Some(())
}

/// python-engineio's content types by extension, plus a few common web ones.
fn content_type_of(file: &Path) -> &'static str {
    let ext = file
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("css") => "text/css",
        Some("gif") => "image/gif",
        Some("html" | "htm") => "text/html",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("js" | "mjs") => "application/javascript",
        Some("json" | "map") => "application/json",
        Some("png") => "image/png",
        Some("txt") => "text/plain",
        Some("svg") => "image/svg+xml",
        Some("ico") => "image/x-icon",
        Some("wasm") => "application/wasm",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// A temporary site:
    /// ```text
    /// root/
    ///   index.html  page.txt  data.bin  logo.PNG  feed
    ///   public/ index.html  app.js  style.css  home.htm
    ///     css/ a.css  deep/ b.json
    ///     empty/
    ///   secret.txt
    /// ```
    struct Site {
        dir: tempfile::TempDir,
    }

    impl Site {
        fn new() -> Site {
            let dir = tempfile::tempdir().unwrap();
            let r = dir.path();
            for (name, body) in [
                ("index.html", "root index"),
                ("page.txt", "page"),
                ("data.bin", "bin"),
                ("logo.PNG", "png"),
                ("feed", "feed"),
                ("secret.txt", "secret"),
                ("public/index.html", "public index"),
                ("public/app.js", "js"),
                ("public/style.css", "css"),
                ("public/home.htm", "home"),
                ("public/css/a.css", "a"),
                ("public/css/deep/b.json", "{}"),
            ] {
                let p = r.join(name);
                fs::create_dir_all(p.parent().unwrap()).unwrap();
                fs::write(p, body).unwrap();
            }
            fs::create_dir_all(r.join("public/empty")).unwrap();
            Site { dir }
        }

        fn p(&self, rel: &str) -> String {
            self.dir.path().join(rel).to_str().unwrap().to_owned()
        }

        fn canon(&self, rel: &str) -> PathBuf {
            self.dir.path().join(rel).canonicalize().unwrap()
        }
    }

    fn served(files: &StaticFiles, url: &str) -> Option<(PathBuf, String)> {
        files.resolve(url).map(|r| (r.path, r.content_type))
    }

    #[test]
    fn exact_rule_with_extension_type() {
        let s = Site::new();
        let files = StaticFiles::new()
            .file("/", s.p("index.html"))
            .file("/page", s.p("page.txt"))
            .file("logo", s.p("logo.PNG"));
        assert_eq!(
            served(&files, "/"),
            Some((s.canon("index.html"), "text/html".into()))
        );
        assert_eq!(
            served(&files, "/page"),
            Some((s.canon("page.txt"), "text/plain".into()))
        );
        assert_eq!(
            served(&files, "/logo"),
            Some((s.canon("logo.PNG"), "image/png".into()))
        );
        assert_eq!(served(&files, "/page.txt"), None);
        assert_eq!(served(&files, "/other"), None);
        assert_eq!(served(&StaticFiles::new(), "/"), None);
    }

    #[test]
    fn explicit_content_type_wins() {
        let s = Site::new();
        let files = StaticFiles::new()
            .file_with_type("/feed", s.p("feed"), "application/atom+xml")
            .file_with_type("/page", s.p("page.txt"), "text/markdown");
        assert_eq!(
            served(&files, "/feed"),
            Some((s.canon("feed"), "application/atom+xml".into()))
        );
        assert_eq!(served(&files, "/page").unwrap().1, "text/markdown");
    }

    #[test]
    fn directory_rules_with_and_without_slashes() {
        let s = Site::new();
        for key in ["/static", "/static/", "static"] {
            for dir in [s.p("public"), format!("{}/", s.p("public"))] {
                let files = StaticFiles::new().dir(key, dir.clone());
                let ctx = format!("{key} -> {dir}");
                assert_eq!(
                    served(&files, "/static/app.js"),
                    Some((s.canon("public/app.js"), "application/javascript".into())),
                    "{ctx}"
                );
                assert_eq!(
                    served(&files, "/static/css/a.css"),
                    Some((s.canon("public/css/a.css"), "text/css".into())),
                    "{ctx}"
                );
                assert_eq!(
                    served(&files, "/static/css/deep/b.json"),
                    Some((s.canon("public/css/deep/b.json"), "application/json".into())),
                    "{ctx}"
                );
                assert_eq!(
                    served(&files, "/static/"),
                    Some((s.canon("public/index.html"), "text/html".into())),
                    "{ctx}"
                );
                assert_eq!(served(&files, "/static/missing.js"), None, "{ctx}");
                assert_eq!(served(&files, "/static/css"), None, "{ctx}: a directory");
                assert_eq!(served(&files, "/staticx/app.js"), None, "{ctx}");
            }
        }
    }

    #[test]
    fn root_directory_rule_serves_everything_below() {
        let s = Site::new();
        let files = StaticFiles::new().dir("/", s.p("public"));
        assert_eq!(
            served(&files, "/"),
            Some((s.canon("public/index.html"), "text/html".into()))
        );
        assert_eq!(
            served(&files, "/css/a.css").unwrap().0,
            s.canon("public/css/a.css")
        );
        assert_eq!(served(&files, "/css/deep/").map(|r| r.0), None);
    }

    #[test]
    fn percent_encoded_names_are_decoded() {
        let s = Site::new();
        fs::write(s.dir.path().join("public/a b.txt"), "space").unwrap();
        let files = StaticFiles::new().dir("/static", s.p("public"));
        assert_eq!(
            served(&files, "/static/a%20b.txt").unwrap().0,
            s.canon("public/a b.txt")
        );
        assert_eq!(
            served(&files, "/static%2Fapp.js").unwrap().0,
            s.canon("public/app.js")
        );
        assert_eq!(served(&files, "/static/%ff.txt"), None, "not UTF-8");
    }

    #[test]
    fn slash_targets_get_index_html() {
        let s = Site::new();
        let files = StaticFiles::new()
            .dir("/static", s.p("public"))
            .file("/site", format!("{}/", s.p("public")));
        assert_eq!(
            served(&files, "/static/").unwrap().0,
            s.canon("public/index.html")
        );
        // A rule whose own name ends in `/` matched exactly.
        assert_eq!(
            served(&files, "/site").unwrap().0,
            s.canon("public/index.html")
        );
        // A directory without index.html serves nothing.
        assert_eq!(served(&files, "/static/empty/"), None);
        assert_eq!(served(&files, "/static/css/"), None);
    }

    #[test]
    fn default_file_overrides_index_html() {
        let s = Site::new();
        let files = StaticFiles::new()
            .dir("/static", s.p("public"))
            .default_file("home.htm");
        assert_eq!(
            served(&files, "/static/"),
            Some((s.canon("public/home.htm"), "text/html".into()))
        );
        let typed = files
            .clone()
            .default_file_with_type("app.js", "text/x-custom");
        assert_eq!(
            served(&typed, "/static/"),
            Some((s.canon("public/app.js"), "text/x-custom".into()))
        );
        // Files other than the default keep their own type.
        assert_eq!(served(&typed, "/static/style.css").unwrap().1, "text/css");
        // A missing default serves nothing, even where index.html exists.
        let missing = files.default_file("nope.html");
        assert_eq!(served(&missing, "/static/"), None);
    }

    #[test]
    fn default_file_cannot_leave_the_directory() {
        let s = Site::new();
        let files = StaticFiles::new()
            .dir("/static", s.p("public"))
            .default_file("../secret.txt");
        assert_eq!(served(&files, "/static/"), None);
        let files = StaticFiles::new()
            .dir("/static", s.p("public"))
            .default_file(s.p("secret.txt"));
        assert_eq!(served(&files, "/static/"), None);
    }

    #[test]
    fn rule_content_type_covers_its_directory() {
        let s = Site::new();
        let files = StaticFiles::new().file_with_type("/raw", s.p("public"), "text/plain");
        assert_eq!(served(&files, "/raw/app.js").unwrap().1, "text/plain");
        assert_eq!(served(&files, "/raw/").unwrap().1, "text/plain");
    }

    #[test]
    fn traversal_is_refused() {
        let s = Site::new();
        let files = StaticFiles::new().dir("/static", s.p("public"));
        for url in [
            "/static/../secret.txt",
            "/static/%2e%2e/secret.txt",
            "/static/%2E%2e/secret.txt",
            "/static/%2e%2E%2fsecret.txt",
            "/static/css/../../secret.txt",
            "/static/..",
            "/static/..%5csecret.txt",
            "/static/%5c..%5csecret.txt",
            "/static/app.js%00.txt",
            "/x/../static/app.js",
        ] {
            assert_eq!(served(&files, url), None, "{url}");
        }
        // An absolute-looking remainder stays inside the directory.
        assert_eq!(
            served(&files, "/static//css/a.css").unwrap().0,
            s.canon("public/css/a.css")
        );
        // `.` segments are harmless.
        assert_eq!(
            served(&files, "/static/./app.js").unwrap().0,
            s.canon("public/app.js")
        );
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_may_not_lead_out() {
        let s = Site::new();
        let r = s.dir.path();
        std::os::unix::fs::symlink(r.join("secret.txt"), r.join("public/leak.txt")).unwrap();
        std::os::unix::fs::symlink(r, r.join("public/up")).unwrap();
        std::os::unix::fs::symlink(r.join("public/app.js"), r.join("public/alias.js")).unwrap();
        let files = StaticFiles::new().dir("/static", s.p("public"));
        assert_eq!(served(&files, "/static/leak.txt"), None);
        assert_eq!(served(&files, "/static/up/secret.txt"), None);
        // A link that stays inside is fine.
        assert_eq!(
            served(&files, "/static/alias.js").unwrap().0,
            s.canon("public/app.js")
        );
        // The rule's directory itself may be a link.
        std::os::unix::fs::symlink(r.join("public"), r.join("linked")).unwrap();
        let files = StaticFiles::new().dir("/l", s.p("linked"));
        assert_eq!(
            served(&files, "/l/app.js").unwrap().0,
            s.canon("public/app.js")
        );
    }

    #[test]
    fn unknown_extensions_are_octet_stream() {
        let s = Site::new();
        let files = StaticFiles::new()
            .file("/bin", s.p("data.bin"))
            .file("/feed", s.p("feed"));
        assert_eq!(
            served(&files, "/bin").unwrap().1,
            "application/octet-stream"
        );
        assert_eq!(
            served(&files, "/feed").unwrap().1,
            "application/octet-stream"
        );
    }

    #[test]
    fn content_types() {
        for (name, ct) in [
            ("a.css", "text/css"),
            ("a.gif", "image/gif"),
            ("a.html", "text/html"),
            ("a.htm", "text/html"),
            ("a.jpg", "image/jpeg"),
            ("a.JPEG", "image/jpeg"),
            ("a.js", "application/javascript"),
            ("a.mjs", "application/javascript"),
            ("a.json", "application/json"),
            ("a.js.map", "application/json"),
            ("a.png", "image/png"),
            ("a.txt", "text/plain"),
            ("a.svg", "image/svg+xml"),
            ("a.ico", "image/x-icon"),
            ("a.wasm", "application/wasm"),
            ("a.tar.gz", "application/octet-stream"),
            ("Makefile", "application/octet-stream"),
            (".txt", "application/octet-stream"),
        ] {
            assert_eq!(content_type_of(Path::new(name)), ct, "{name}");
        }
    }

    #[test]
    fn missing_files_fall_through() {
        let s = Site::new();
        let files = StaticFiles::new()
            .file("/gone", s.p("gone.html"))
            .dir("/static", s.p("nowhere"));
        assert_eq!(served(&files, "/gone"), None);
        assert_eq!(served(&files, "/static/app.js"), None);
        assert_eq!(served(&files, "/static/"), None);
    }

    #[test]
    fn later_rule_replaces_earlier() {
        let s = Site::new();
        let files = StaticFiles::new()
            .file("/x", s.p("page.txt"))
            .file("x", s.p("index.html"));
        assert_eq!(served(&files, "/x").unwrap().0, s.canon("index.html"));
    }
}
