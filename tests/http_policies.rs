//! HTTP-level policies of the server, on real loopback sockets: CORS, compression, the
//! session cookie, static files and routing, and odd requests to the polling endpoint.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use engineio::server::{
    App, CookieConfig, CorsPolicy, Listening, SameSite, Server, ServerBuilder, StaticFiles,
};
use engineio::ErrorKind;

// ---- shared raw-HTTP helpers (identical in tests/polling.rs, http_policies.rs, limits.rs) ----

mod support;
use support::rawhttp::*;

// ---- helpers specific to this file ----

const E1: &str = r#"{"code":1,"message":"Session ID unknown"}"#;
const E3: &str = r#"{"code":3,"message":"Bad request"}"#;

/// A GET on the Engine.IO path with extra header lines (each ending in `\r\n`).
fn get_h(addr: SocketAddr, query: &str, headers: &str) -> Resp {
    request(
        addr,
        &format!("GET /engine.io/?{query} HTTP/1.1\r\nHost: {addr}\r\n{headers}\r\n"),
    )
}

/// A request on an arbitrary target, with extra header lines and a body.
fn raw(addr: SocketAddr, method: &str, target: &str, headers: &str, body: &str) -> Resp {
    request(
        addr,
        &format!(
            "{method} {target} HTTP/1.1\r\nHost: {addr}\r\n{headers}Content-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
}

fn cors_headers(r: &Resp) -> Vec<String> {
    r.head
        .lines()
        .filter(|l| l.to_ascii_lowercase().starts_with("access-control-"))
        .map(str::to_string)
        .collect()
}

fn has_event(events: &Events, e: &str) -> bool {
    events.lock().unwrap().iter().any(|x| x == e)
}

/// A fresh session on the server echoes `4x`.
fn assert_healthy(addr: SocketAddr) {
    let sid = handshake(addr);
    let q = format!("EIO=4&transport=polling&sid={sid}");
    assert_eq!(post(addr, &q, "4x").text(), "ok");
    assert_eq!(get(addr, &q).text(), "4x");
}

// ---- CORS ----

#[test]
fn cors_no_origin_is_allowed_without_allow_origin_but_with_credentials() {
    let _dog = support::watchdog(
        120,
        "cors_no_origin_is_allowed_without_allow_origin_but_with_credentials",
    );
    let (app, _) = start(Server::builder());
    let r = get(app.local_addr(), "EIO=4&transport=polling");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Access-Control-Allow-Origin"), None);
    assert_eq!(
        r.header("Access-Control-Allow-Credentials").as_deref(),
        Some("true")
    );
    app.shutdown();
}

#[test]
fn cors_same_origin_default_accepts_and_echoes_the_host_origin() {
    let _dog = support::watchdog(
        120,
        "cors_same_origin_default_accepts_and_echoes_the_host_origin",
    );
    let (app, _) = start(Server::builder());
    let a = app.local_addr();
    let origin = format!("http://{a}");
    let r = get_h(
        a,
        "EIO=4&transport=polling",
        &format!("Origin: {origin}\r\n"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("Access-Control-Allow-Origin"), Some(origin));
    assert!(
        r.header("Vary").is_some_and(|v| v.contains("Origin")),
        "{}",
        r.head
    );
    assert_eq!(
        r.header("Access-Control-Allow-Credentials").as_deref(),
        Some("true")
    );
    app.shutdown();
}

#[test]
fn cors_same_origin_follows_forwarded_headers() {
    let _dog = support::watchdog(120, "cors_same_origin_follows_forwarded_headers");
    let (app, _) = start(Server::builder());
    let a = app.local_addr();
    let r = get_h(
        a,
        "EIO=4&transport=polling",
        "X-Forwarded-Proto: https\r\nX-Forwarded-Host: example.com\r\nOrigin: https://example.com\r\n",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("Access-Control-Allow-Origin").as_deref(),
        Some("https://example.com")
    );
    app.shutdown();
}

#[test]
fn cors_other_origin_is_400_e3_without_cors_headers() {
    let _dog = support::watchdog(120, "cors_other_origin_is_400_e3_without_cors_headers");
    let (app, _) = start(Server::builder());
    let a = app.local_addr();
    let r = get_h(
        a,
        "EIO=4&transport=polling",
        "Origin: https://evil.example\r\n",
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.text(), E3);
    assert!(cors_headers(&r).is_empty(), "{}", r.head);
    wait_for("an empty session table", || app.server().table_size() == 0);
    assert_healthy(a);
    app.shutdown();
}

#[test]
fn cors_list_echoes_listed_origin_and_refuses_others() {
    let _dog = support::watchdog(120, "cors_list_echoes_listed_origin_and_refuses_others");
    let (app, _) = start(Server::builder().cors(CorsPolicy::list([
        "https://a.example",
        "http://localhost:3000",
    ])));
    let a = app.local_addr();
    for o in ["https://a.example", "http://localhost:3000"] {
        let r = get_h(a, "EIO=4&transport=polling", &format!("Origin: {o}\r\n"));
        assert_eq!(r.status, 200, "{o}");
        assert_eq!(r.header("Access-Control-Allow-Origin").as_deref(), Some(o));
    }
    for o in [
        "https://b.example",
        "http://a.example",
        &format!("http://{a}"),
    ] {
        let r = get_h(a, "EIO=4&transport=polling", &format!("Origin: {o}\r\n"));
        assert_eq!(r.status, 400, "{o}");
        assert_eq!(r.text(), E3);
        assert!(cors_headers(&r).is_empty(), "{}", r.head);
    }
    app.server().disconnect_all();
    app.shutdown();
}

#[test]
fn cors_any_echoes_the_origin_never_a_star() {
    let _dog = support::watchdog(120, "cors_any_echoes_the_origin_never_a_star");
    let (app, _) = start(Server::builder().cors(CorsPolicy::Any));
    let a = app.local_addr();
    for o in ["https://whatever.test", "null"] {
        let r = get_h(a, "EIO=4&transport=polling", &format!("Origin: {o}\r\n"));
        assert_eq!(r.status, 200, "{o}");
        assert_eq!(r.header("Access-Control-Allow-Origin").as_deref(), Some(o));
    }
    app.server().disconnect_all();
    app.shutdown();
}

#[test]
fn cors_predicate_receives_origin_and_request() {
    let _dog = support::watchdog(120, "cors_predicate_receives_origin_and_request");
    type Seen = Arc<Mutex<Vec<(String, Option<String>, Option<String>)>>>;
    let seen: Seen = Arc::default();
    let s2 = seen.clone();
    let (app, _) = start(
        Server::builder().cors(CorsPolicy::predicate(move |origin, req| {
            s2.lock().unwrap().push((
                origin.to_string(),
                req.header("x-api-key").map(str::to_string),
                req.query("transport").map(str::to_string),
            ));
            origin == "https://ok.test" || req.header("x-api-key") == Some("k")
        })),
    );
    let a = app.local_addr();
    let r = get_h(a, "EIO=4&transport=polling", "Origin: https://ok.test\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("Access-Control-Allow-Origin").as_deref(),
        Some("https://ok.test")
    );
    let r = get_h(
        a,
        "EIO=4&transport=polling",
        "Origin: https://other.test\r\nX-Api-Key: k\r\n",
    );
    assert_eq!(r.status, 200);
    let r = get_h(
        a,
        "EIO=4&transport=polling",
        "Origin: https://other.test\r\n",
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.text(), E3);
    let seen = seen.lock().unwrap().clone();
    let p = Some("polling".to_string());
    assert_eq!(
        seen,
        vec![
            ("https://ok.test".to_string(), None, p.clone()),
            (
                "https://other.test".to_string(),
                Some("k".to_string()),
                p.clone()
            ),
            ("https://other.test".to_string(), None, p),
        ]
    );
    app.server().disconnect_all();
    app.shutdown();
}

#[test]
fn cors_credentials_off_omits_the_header() {
    let _dog = support::watchdog(120, "cors_credentials_off_omits_the_header");
    let (app, _) = start(Server::builder().cors_credentials(false));
    let a = app.local_addr();
    let origin = format!("http://{a}");
    let r = get_h(
        a,
        "EIO=4&transport=polling",
        &format!("Origin: {origin}\r\n"),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Access-Control-Allow-Origin"), Some(origin));
    assert_eq!(r.header("Access-Control-Allow-Credentials"), None);
    let r = get(a, "EIO=4&transport=polling");
    assert_eq!(r.header("Access-Control-Allow-Credentials"), None);
    app.server().disconnect_all();
    app.shutdown();
}

#[test]
fn cors_disabled_checks_nothing_and_sends_no_cors_headers() {
    let _dog = support::watchdog(
        120,
        "cors_disabled_checks_nothing_and_sends_no_cors_headers",
    );
    let (app, _) = start(Server::builder().cors(CorsPolicy::Disabled));
    let a = app.local_addr();
    let r = get_h(
        a,
        "EIO=4&transport=polling",
        "Origin: https://evil.test\r\n",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(cors_headers(&r).is_empty(), "{}", r.head);
    let r = raw(
        a,
        "OPTIONS",
        "/engine.io/",
        "Origin: https://evil.test\r\nAccess-Control-Request-Method: POST\r\n",
        "",
    );
    assert_eq!(r.status, 204);
    assert!(cors_headers(&r).is_empty(), "{}", r.head);
    app.server().disconnect_all();
    assert_healthy(a);
    app.shutdown();
}

#[test]
fn cors_preflight_is_204_with_methods_and_echoed_headers() {
    let _dog = support::watchdog(120, "cors_preflight_is_204_with_methods_and_echoed_headers");
    let (app, _) = start(Server::builder());
    let a = app.local_addr();
    let origin = format!("http://{a}");
    let r = raw(
        a,
        "OPTIONS",
        "/engine.io/",
        &format!(
            "Origin: {origin}\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type, x-foo\r\n"
        ),
        "",
    );
    assert_eq!(r.status, 204, "{}", r.head);
    assert!(r.body.is_empty());
    assert_eq!(
        r.header("Access-Control-Allow-Methods").as_deref(),
        Some("GET, POST, OPTIONS")
    );
    assert_eq!(
        r.header("Access-Control-Allow-Headers").as_deref(),
        Some("content-type, x-foo")
    );
    assert_eq!(r.header("Access-Control-Allow-Origin"), Some(origin));
    assert_eq!(
        r.header("Access-Control-Allow-Credentials").as_deref(),
        Some("true")
    );
    wait_for("an empty session table", || app.server().table_size() == 0);
    // A refused origin is refused on preflight too.
    let r = raw(
        a,
        "OPTIONS",
        "/engine.io/",
        "Origin: https://evil.test\r\nAccess-Control-Request-Method: POST\r\n",
        "",
    );
    assert_eq!(r.status, 400);
    assert!(cors_headers(&r).is_empty(), "{}", r.head);
    app.shutdown();
}

#[test]
fn cors_error_responses_to_allowed_origins_carry_cors_headers() {
    let _dog = support::watchdog(
        120,
        "cors_error_responses_to_allowed_origins_carry_cors_headers",
    );
    let (app, _) = start(Server::builder());
    let a = app.local_addr();
    let origin = format!("http://{a}");
    let r = get_h(
        a,
        "EIO=4&transport=polling&sid=nope",
        &format!("Origin: {origin}\r\n"),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.text(), E1);
    assert_eq!(
        r.header("Access-Control-Allow-Origin"),
        Some(origin.clone())
    );
    assert_eq!(
        r.header("Access-Control-Allow-Credentials").as_deref(),
        Some("true")
    );
    let r = get_h(
        a,
        "EIO=3&transport=polling",
        &format!("Origin: {origin}\r\n"),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.header("Access-Control-Allow-Origin"), Some(origin));
    app.shutdown();
}

// ---- compression ----

fn big_text() -> String {
    (0..5000).map(|i| (b'a' + (i % 26) as u8) as char).collect()
}

/// A session with a 5000-byte text queued, then a GET with `Accept-Encoding`.
fn compressed_get(b: ServerBuilder, text: &str, accept: &str) -> (Resp, Listening) {
    let (app, _) = start(b);
    let a = app.local_addr();
    let sid = handshake(a);
    app.server().send(&sid, text).unwrap();
    let r = get_h(
        a,
        &format!("EIO=4&transport=polling&sid={sid}"),
        &format!("Accept-Encoding: {accept}\r\n"),
    );
    assert_eq!(r.status, 200);
    (r, app)
}

#[test]
fn compression_gzip_when_listed_first() {
    let _dog = support::watchdog(120, "compression_gzip_when_listed_first");
    let text = big_text();
    let (r, app) = compressed_get(Server::builder(), &text, "gzip, deflate");
    assert_eq!(r.header("Content-Encoding").as_deref(), Some("gzip"));
    assert!(
        r.header("Vary")
            .is_some_and(|v| v.contains("Accept-Encoding")),
        "{}",
        r.head
    );
    assert!(r.body.len() < text.len());
    let mut out = String::new();
    flate2::read::GzDecoder::new(&r.body[..])
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(out, format!("4{text}"));
    assert_healthy(app.local_addr());
    app.shutdown();
}

#[test]
fn compression_deflate_on_tie_listed_first_is_a_zlib_stream() {
    let _dog = support::watchdog(
        120,
        "compression_deflate_on_tie_listed_first_is_a_zlib_stream",
    );
    let text = big_text();
    let (r, app) = compressed_get(Server::builder(), &text, "deflate;q=1, gzip");
    assert_eq!(r.header("Content-Encoding").as_deref(), Some("deflate"));
    assert_eq!(&r.body[..2], &[0x78, 0x9c]);
    let mut out = String::new();
    flate2::read::ZlibDecoder::new(&r.body[..])
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(out, format!("4{text}"));
    app.shutdown();
}

#[test]
fn compression_q_zero_excludes_gzip() {
    let _dog = support::watchdog(120, "compression_q_zero_excludes_gzip");
    let text = big_text();
    let (r, app) = compressed_get(Server::builder(), &text, "gzip;q=0, deflate");
    assert_eq!(r.header("Content-Encoding").as_deref(), Some("deflate"));
    let mut out = String::new();
    flate2::read::ZlibDecoder::new(&r.body[..])
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(out, format!("4{text}"));
    app.shutdown();
}

#[test]
fn compression_skipped_below_threshold() {
    let _dog = support::watchdog(120, "compression_skipped_below_threshold");
    let (r, app) = compressed_get(Server::builder(), "small", "gzip, deflate");
    assert_eq!(r.header("Content-Encoding"), None);
    assert_eq!(r.text(), "4small");
    app.shutdown();
}

#[test]
fn compression_off_when_disabled() {
    let _dog = support::watchdog(120, "compression_off_when_disabled");
    let text = big_text();
    let (r, app) = compressed_get(
        Server::builder().http_compression(false),
        &text,
        "gzip, deflate",
    );
    assert_eq!(r.header("Content-Encoding"), None);
    assert_eq!(r.text(), format!("4{text}"));
    app.shutdown();
}

#[test]
fn compression_none_for_unknown_encoding() {
    let _dog = support::watchdog(120, "compression_none_for_unknown_encoding");
    let text = big_text();
    let (r, app) = compressed_get(Server::builder(), &text, "br");
    assert_eq!(r.header("Content-Encoding"), None);
    assert_eq!(r.text(), format!("4{text}"));
    app.shutdown();
}

#[test]
fn compression_never_applies_to_post_ok() {
    let _dog = support::watchdog(120, "compression_never_applies_to_post_ok");
    let (app, _) = start(Server::builder().compression_threshold(1));
    let a = app.local_addr();
    let sid = handshake(a);
    let body = format!("4{}", big_text());
    let r = raw(
        a,
        "POST",
        &format!("/engine.io/?EIO=4&transport=polling&sid={sid}"),
        "Content-Type: text/plain;charset=UTF-8\r\nAccept-Encoding: gzip, deflate\r\n",
        &body,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Encoding"), None);
    assert_eq!(r.text(), "ok");
    app.shutdown();
}

// ---- cookie ----

#[test]
fn cookie_is_off_by_default() {
    let _dog = support::watchdog(120, "cookie_is_off_by_default");
    let (app, _) = start(Server::builder());
    let r = get(app.local_addr(), "EIO=4&transport=polling");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Set-Cookie"), None);
    app.shutdown();
}

#[test]
fn cookie_default_is_on_the_handshake_only() {
    let _dog = support::watchdog(120, "cookie_default_is_on_the_handshake_only");
    let (app, _) = start(Server::builder().cookie(CookieConfig::default()));
    let a = app.local_addr();
    let r = get(a, "EIO=4&transport=polling");
    assert_eq!(r.status, 200);
    let v: serde_json::Value = serde_json::from_str(&r.text()[1..]).unwrap();
    let sid = v["sid"].as_str().unwrap();
    let cookies: Vec<&str> = r
        .head
        .lines()
        .filter(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .collect();
    assert_eq!(cookies.len(), 1, "{}", r.head);
    assert_eq!(
        r.header("Set-Cookie").unwrap(),
        format!("io={sid}; Path=/; HttpOnly; SameSite=Lax")
    );
    let q = format!("EIO=4&transport=polling&sid={sid}");
    let p = post(a, &q, "4x");
    assert_eq!(p.text(), "ok");
    assert_eq!(p.header("Set-Cookie"), None);
    let g = get(a, &q);
    assert_eq!(g.text(), "4x");
    assert_eq!(g.header("Set-Cookie"), None);
    app.shutdown();
}

#[test]
fn cookie_custom_attributes_render() {
    let _dog = support::watchdog(120, "cookie_custom_attributes_render");
    let cookie = CookieConfig::new("lb")
        .path("/app")
        .domain("example.com")
        .max_age(Duration::from_secs(3600))
        .secure(true)
        .same_site(SameSite::None);
    let (app, _) = start(Server::builder().cookie(cookie));
    let r = get(app.local_addr(), "EIO=4&transport=polling");
    let v: serde_json::Value = serde_json::from_str(&r.text()[1..]).unwrap();
    let sid = v["sid"].as_str().unwrap();
    assert_eq!(
        r.header("Set-Cookie").unwrap(),
        format!("lb={sid}; Path=/app; Domain=example.com; Max-Age=3600; Secure; HttpOnly; SameSite=None")
    );
    app.server().disconnect_all();
    app.shutdown();
}

#[test]
fn cookie_invalid_config_fails_build() {
    let _dog = support::watchdog(120, "cookie_invalid_config_fails_build");
    let bad = [
        CookieConfig::new("bad name"),
        CookieConfig::new(""),
        CookieConfig::default().same_site(SameSite::None),
        CookieConfig::default().path("/a; Domain=evil.com"),
    ];
    for (i, c) in bad.into_iter().enumerate() {
        match Server::builder().cookie(c).build() {
            Ok(s) => {
                s.shutdown();
                panic!("invalid cookie #{i} accepted");
            }
            Err(e) => assert_eq!(e.kind(), ErrorKind::Config, "#{i}: {e}"),
        }
    }
}

// ---- static files and routing ----

/// root/public/{index.html, page.html, start.html, data.xyz, tmpl.tmpl, css/a.css}
/// and root/secret.txt.
fn site() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let public = root.join("public");
    std::fs::create_dir_all(public.join("css")).unwrap();
    std::fs::write(public.join("index.html"), "<h1>home</h1>").unwrap();
    std::fs::write(public.join("page.html"), "<p>page</p>").unwrap();
    std::fs::write(public.join("start.html"), "<p>start</p>").unwrap();
    std::fs::write(public.join("data.xyz"), [0u8, 1, 2, 3]).unwrap();
    std::fs::write(public.join("tmpl.tmpl"), "<feed/>").unwrap();
    std::fs::write(public.join("css").join("a.css"), "body{color:red}").unwrap();
    std::fs::write(root.join("secret.txt"), "TOP SECRET").unwrap();
    let public = public.to_str().unwrap().to_string();
    (dir, public)
}

fn serve(files: StaticFiles) -> (Listening, Events) {
    let events: Events = Arc::default();
    let e2 = events.clone();
    let server = Server::builder()
        .on_message(|server, sid, msg| {
            let _ = server.send(sid, msg);
        })
        .on_disconnect(move |_, _, reason| e2.lock().unwrap().push(format!("disconnect {reason}")))
        .build()
        .unwrap();
    (
        App::new(server)
            .static_files(files)
            .listen("127.0.0.1:0")
            .unwrap(),
        events,
    )
}

fn get_path(addr: SocketAddr, path: &str) -> Resp {
    request(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n"),
    )
}

fn assert_not_found(r: &Resp, what: &str) {
    assert_eq!(r.status, 404, "{what}");
    assert_eq!(r.text(), "Not Found", "{what}");
    assert!(
        r.header("Content-Type")
            .is_some_and(|t| t.starts_with("text/plain")),
        "{what}: {}",
        r.head
    );
}

#[test]
fn routing_precedence_engine_then_static_then_fallback_then_404() {
    let _dog = support::watchdog(
        120,
        "routing_precedence_engine_then_static_then_fallback_then_404",
    );
    let (_dir, public) = site();
    let files = || {
        StaticFiles::new()
            .dir("/static", public.as_str())
            .file("/engine.io", format!("{public}/page.html"))
    };
    // Without a fallback.
    let (app, _) = serve(files());
    let a = app.local_addr();
    let r = get(a, "EIO=4&transport=polling");
    assert_eq!(r.status, 200);
    assert!(r.text().starts_with("0{"), "{}", r.text());
    assert_eq!(get_path(a, "/static/page.html").text(), "<p>page</p>");
    assert_not_found(&get_path(a, "/static/missing.html"), "missing");
    assert_not_found(&get_path(a, "/elsewhere"), "elsewhere");
    app.server().disconnect_all();
    app.shutdown();
    // With a fallback.
    let server = Server::builder().build().unwrap();
    let app = App::new(server)
        .static_files(files())
        .fallback(|req| http_response(200, "text/plain", format!("fb {}", req.uri().path())))
        .listen("127.0.0.1:0")
        .unwrap();
    let a = app.local_addr();
    assert_eq!(get(a, "EIO=4&transport=polling").status, 200);
    assert_eq!(get_path(a, "/static/page.html").text(), "<p>page</p>");
    assert_eq!(
        get_path(a, "/static/missing.html").text(),
        "fb /static/missing.html"
    );
    assert_eq!(get_path(a, "/elsewhere").text(), "fb /elsewhere");
    app.server().disconnect_all();
    app.shutdown();
}

fn http_response(status: u16, content_type: &str, body: String) -> http::Response<Vec<u8>> {
    http::Response::builder()
        .status(status)
        .header("Content-Type", content_type)
        .body(body.into_bytes())
        .unwrap()
}

#[test]
fn static_exact_rules_use_extension_or_explicit_types() {
    let _dog = support::watchdog(120, "static_exact_rules_use_extension_or_explicit_types");
    let (_dir, public) = site();
    let (app, _) = serve(
        StaticFiles::new()
            .file("/page", format!("{public}/page.html"))
            .file("style", format!("{public}/css/a.css"))
            .file("/data", format!("{public}/data.xyz"))
            .file_with_type(
                "/feed",
                format!("{public}/tmpl.tmpl"),
                "application/atom+xml",
            ),
    );
    let a = app.local_addr();
    let cases = [
        ("/page", "text/html", "<p>page</p>".as_bytes()),
        ("/style", "text/css", "body{color:red}".as_bytes()),
        ("/data", "application/octet-stream", &[0u8, 1, 2, 3][..]),
        ("/feed", "application/atom+xml", "<feed/>".as_bytes()),
    ];
    for (path, ct, body) in cases {
        let r = get_path(a, path);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("Content-Type").as_deref(), Some(ct), "{path}");
        assert_eq!(r.body, body, "{path}");
        assert_eq!(
            r.header("Content-Length"),
            Some(body.len().to_string()),
            "{path}"
        );
    }
    assert_healthy(a);
    app.shutdown();
}

#[test]
fn static_dir_rule_serves_nested_files_with_any_trailing_slashes() {
    let _dog = support::watchdog(
        120,
        "static_dir_rule_serves_nested_files_with_any_trailing_slashes",
    );
    let (_dir, public) = site();
    for (key, target) in [
        ("/static", public.clone()),
        ("/static/", public.clone()),
        ("static", format!("{public}/")),
        ("/static/", format!("{public}/")),
    ] {
        let (app, _) = serve(StaticFiles::new().dir(key, target.as_str()));
        let a = app.local_addr();
        let r = get_path(a, "/static/css/a.css");
        assert_eq!(r.status, 200, "{key} -> {target}");
        assert_eq!(r.text(), "body{color:red}");
        assert_eq!(r.header("Content-Type").as_deref(), Some("text/css"));
        let r = get_path(a, "/static/data.xyz");
        assert_eq!(
            r.header("Content-Type").as_deref(),
            Some("application/octet-stream")
        );
        let r = get_path(a, "/static/");
        assert_eq!(r.text(), "<h1>home</h1>", "{key} -> {target}");
        app.shutdown();
    }
}

#[test]
fn static_root_serves_index_html() {
    let _dog = support::watchdog(120, "static_root_serves_index_html");
    let (_dir, public) = site();
    let (app, _) = serve(StaticFiles::new().dir("/", public.as_str()));
    let a = app.local_addr();
    let r = get_path(a, "/");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "<h1>home</h1>");
    assert_eq!(r.header("Content-Type").as_deref(), Some("text/html"));
    assert_eq!(get_path(a, "/css/a.css").text(), "body{color:red}");
    // The engine still wins over a `/` rule.
    assert_healthy(a);
    app.shutdown();
}

#[test]
fn static_default_file_override_and_missing_default() {
    let _dog = support::watchdog(120, "static_default_file_override_and_missing_default");
    let (_dir, public) = site();
    let (app, _) = serve(
        StaticFiles::new()
            .dir("/docs", public.as_str())
            .dir("/css", format!("{public}/css"))
            .default_file("start.html"),
    );
    let a = app.local_addr();
    let r = get_path(a, "/docs/");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "<p>start</p>");
    assert_eq!(r.header("Content-Type").as_deref(), Some("text/html"));
    // No start.html in css/: a 404, not a directory listing.
    assert_not_found(&get_path(a, "/css/"), "missing default");
    app.shutdown();

    // Without a default file override and without index.html, the fallback answers.
    let server = Server::builder().build().unwrap();
    let app = App::new(server)
        .static_files(StaticFiles::new().dir("/css", format!("{public}/css")))
        .fallback(|req| http_response(200, "text/plain", format!("fb {}", req.uri().path())))
        .listen("127.0.0.1:0")
        .unwrap();
    assert_eq!(get_path(app.local_addr(), "/css/").text(), "fb /css/");
    app.shutdown();
}

#[test]
fn static_traversal_is_refused() {
    let _dog = support::watchdog(120, "static_traversal_is_refused");
    let (_dir, public) = site();
    let (app, _) = serve(StaticFiles::new().dir("/static", public.as_str()));
    let a = app.local_addr();
    for p in [
        "/static/../secret.txt",
        "/static/%2e%2e/secret.txt",
        "/static/%2E%2e/secret.txt",
        "/static/css/../../secret.txt",
        "/static/css/%2e%2e/%2e%2e/secret.txt",
        "/static/..%2fsecret.txt",
        "/static/%2e%2e%2fsecret.txt",
    ] {
        let r = get_path(a, p);
        assert!(!r.text().contains("SECRET"), "{p} leaked the file");
        assert_eq!(r.status, 404, "{p}");
    }
    assert_healthy(a);
    app.shutdown();
}

#[test]
fn static_head_has_content_length_and_no_body() {
    let _dog = support::watchdog(120, "static_head_has_content_length_and_no_body");
    let (_dir, public) = site();
    let (app, _) = serve(StaticFiles::new().dir("/static", public.as_str()));
    let a = app.local_addr();
    let mut s = TcpStream::connect(a).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    write!(s, "HEAD /static/page.html HTTP/1.1\r\nHost: {a}\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let text = String::from_utf8(buf).unwrap();
    let (head, rest) = text.split_once("\r\n\r\n").expect("a complete head");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("Content-Length: 11"), "{head}");
    assert!(head.contains("Content-Type: text/html"), "{head}");
    assert_eq!(rest, "", "HEAD must have no body");
    // The same connection still serves a GET.
    write!(s, "GET /static/page.html HTTP/1.1\r\nHost: {a}\r\n\r\n").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    assert_eq!(read_response(&mut s).text(), "<p>page</p>");
    app.shutdown();
}

#[test]
fn fallback_sees_method_path_query_and_body() {
    let _dog = support::watchdog(120, "fallback_sees_method_path_query_and_body");
    type Seen = Arc<Mutex<Vec<(String, String, Option<String>, Vec<u8>)>>>;
    let (_dir, public) = site();
    let seen: Seen = Arc::default();
    let s2 = seen.clone();
    let server = Server::builder().build().unwrap();
    let app = App::new(server)
        .static_files(StaticFiles::new().dir("/static", public.as_str()))
        .fallback(move |req: http::Request<Vec<u8>>| {
            s2.lock().unwrap().push((
                req.method().to_string(),
                req.uri().path().to_string(),
                req.uri().query().map(str::to_string),
                req.body().clone(),
            ));
            http_response(201, "text/x-fallback", "fb".to_string())
        })
        .listen("127.0.0.1:0")
        .unwrap();
    let a = app.local_addr();
    let r = raw(a, "POST", "/api/thing?x=1&y=two", "", "hello body");
    assert_eq!(r.status, 201);
    assert_eq!(r.text(), "fb");
    assert_eq!(r.header("Content-Type").as_deref(), Some("text/x-fallback"));
    let r = get_path(a, "/static/nope.css");
    assert_eq!(r.status, 201);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![
            (
                "POST".to_string(),
                "/api/thing".to_string(),
                Some("x=1&y=two".to_string()),
                b"hello body".to_vec()
            ),
            (
                "GET".to_string(),
                "/static/nope.css".to_string(),
                None,
                vec![]
            ),
        ]
    );
    app.shutdown();
}

#[test]
fn custom_engine_path_moves_the_endpoint() {
    let _dog = support::watchdog(120, "custom_engine_path_moves_the_endpoint");
    let (app, _) = start(Server::builder().path("/custom"));
    let a = app.local_addr();
    let r = request(
        a,
        &format!("GET /custom/?EIO=4&transport=polling HTTP/1.1\r\nHost: {a}\r\n\r\n"),
    );
    assert_eq!(r.status, 200);
    assert!(r.text().starts_with("0{"));
    assert_not_found(&get(a, "EIO=4&transport=polling"), "/engine.io/");
    app.server().disconnect_all();
    app.shutdown();
}

// ---- odd requests to the endpoint ----

#[test]
fn unknown_query_params_reach_the_connect_handler() {
    let _dog = support::watchdog(120, "unknown_query_params_reach_the_connect_handler");
    type Seen = Arc<Mutex<Option<(Option<String>, Option<String>)>>>;
    let seen: Seen = Arc::default();
    let s2 = seen.clone();
    let (app, _) = start(Server::builder().on_connect(move |_, _, req| {
        *s2.lock().unwrap() = Some((
            req.query("foo").map(str::to_string),
            req.query("name").map(str::to_string),
        ));
        Ok(())
    }));
    let a = app.local_addr();
    let r = get(a, "EIO=4&transport=polling&foo=bar&name=a%20b");
    assert_eq!(r.status, 200);
    assert_eq!(
        seen.lock().unwrap().clone(),
        Some((Some("bar".to_string()), Some("a b".to_string())))
    );
    app.server().disconnect_all();
    app.shutdown();
}

#[test]
fn put_and_delete_with_a_sid_are_e3_and_the_session_survives() {
    let _dog = support::watchdog(
        120,
        "put_and_delete_with_a_sid_are_e3_and_the_session_survives",
    );
    let (app, events) = start(Server::builder());
    let a = app.local_addr();
    let sid = handshake(a);
    let q = format!("EIO=4&transport=polling&sid={sid}");
    for m in ["PUT", "DELETE"] {
        let r = raw(a, m, &format!("/engine.io/?{q}"), "", "4x");
        assert_eq!(r.status, 400, "{m}");
        assert_eq!(r.text(), E3, "{m}");
    }
    assert!(app.server().is_connected(&sid));
    assert_eq!(post(a, &q, "4still").text(), "ok");
    assert_eq!(get(a, &q).text(), "4still");
    assert!(!events
        .lock()
        .unwrap()
        .iter()
        .any(|e| e.starts_with("disconnect")));
    app.shutdown();
}

#[test]
fn octet_stream_post_is_e3_and_closes_with_transport_error() {
    let _dog = support::watchdog(
        120,
        "octet_stream_post_is_e3_and_closes_with_transport_error",
    );
    let (app, events) = start(Server::builder());
    let a = app.local_addr();
    let sid = handshake(a);
    let q = format!("EIO=4&transport=polling&sid={sid}");
    let r = raw(
        a,
        "POST",
        &format!("/engine.io/?{q}"),
        "Content-Type: application/octet-stream\r\n",
        "4x",
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.text(), E3);
    wait_for("transport error", || {
        has_event(&events, "disconnect transport error")
    });
    assert!(!app.server().is_connected(&sid));
    assert_healthy(a);
    app.shutdown();
}

#[test]
fn get_trailing_a_client_close_gets_noop_once_then_e1() {
    let _dog = support::watchdog(120, "get_trailing_a_client_close_gets_noop_once_then_e1");
    let (app, events) = start(Server::builder());
    let a = app.local_addr();
    let sid = handshake(a);
    let q = format!("EIO=4&transport=polling&sid={sid}");
    assert_eq!(post(a, &q, "1").text(), "ok");
    assert!(has_event(&events, "disconnect client disconnect"));
    let r = get(a, &q);
    assert_eq!((r.status, r.text().as_str()), (200, "6"));
    let r = get(a, &q);
    assert_eq!(r.status, 400);
    assert_eq!(r.text(), E1);
    assert!(!app.server().is_connected(&sid));
    app.shutdown();
}

#[test]
fn dropped_pending_get_closes_the_session_with_transport_error() {
    let _dog = support::watchdog(
        120,
        "dropped_pending_get_closes_the_session_with_transport_error",
    );
    let (app, events) = start(Server::builder());
    let a = app.local_addr();
    let sid = handshake(a);
    let mut s = TcpStream::connect(a).unwrap();
    write!(
        s,
        "GET /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: {a}\r\n\r\n"
    )
    .unwrap();
    thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    drop(s);
    wait_for("transport error", || {
        has_event(&events, "disconnect transport error")
    });
    assert!(
        t.elapsed() < Duration::from_millis(2500),
        "took {:?}",
        t.elapsed()
    );
    assert!(!app.server().is_connected(&sid));
    assert_healthy(a);
    app.shutdown();
}

#[test]
fn fifty_sessions_closed_by_their_clients_leave_an_empty_table() {
    let _dog = support::watchdog(
        120,
        "fifty_sessions_closed_by_their_clients_leave_an_empty_table",
    );
    let (app, events) = start(Server::builder());
    let a = app.local_addr();
    let sids: Vec<String> = (0..50).map(|_| handshake(a)).collect();
    assert_eq!(app.server().session_count(), 50);
    for sid in &sids {
        assert_eq!(
            post(a, &format!("EIO=4&transport=polling&sid={sid}"), "1").text(),
            "ok"
        );
    }
    wait_for("empty table", || app.server().table_size() == 0);
    assert_eq!(
        events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| *e == "disconnect client disconnect")
            .count(),
        50
    );
    app.shutdown();
}

#[test]
fn fallback_response_headers_and_status_reach_the_client() {
    let _dog = support::watchdog(120, "fallback_response_headers_and_status_reach_the_client");
    let server = Server::builder().build().unwrap();
    let app = App::new(server)
        .fallback(|req| {
            http::Response::builder()
                .status(418)
                .header("X-Seen-Path", req.uri().path())
                .header("Content-Length", "999")
                .body(b"teapot".to_vec())
                .unwrap()
        })
        .listen("127.0.0.1:0")
        .unwrap();
    let a = app.local_addr();
    let r = request(a, "GET /brew?x=1 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 418);
    assert_eq!(r.header("x-seen-path").as_deref(), Some("/brew"));
    // The server's own Content-Length wins over the application's.
    assert_eq!(r.header("Content-Length").as_deref(), Some("6"));
    assert_eq!(r.text(), "teapot");
    app.shutdown();
}
