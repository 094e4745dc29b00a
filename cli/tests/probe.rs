//! `engineio probe` reports correct facts about our server, the official Node.js
//! server, a server with WebSocket disabled, a wrong path and a refused origin; and
//! finds the causes it names behind a proxy that strips `Upgrade` and behind a load
//! balancer without sticky sessions.

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use engineio::server::CorsPolicy;
use engineio::Transport;
use serde_json::Value;
use support::{our_server, peers_available, run, url_of};

const T: Duration = Duration::from_secs(60);

/// `engineio probe ARGS --json`: (exit code, the findings).
fn probe(args: &[&str]) -> (i32, Value) {
    let mut all = vec!["probe", "--json"];
    all.extend_from_slice(args);
    let (code, out, err) = run(&all, "", T);
    let v: Value = serde_json::from_str(out.trim())
        .unwrap_or_else(|e| panic!("probe printed no JSON ({e}): {out}\n{err}"));
    (code, v)
}

fn problems(v: &Value) -> Vec<(String, String)> {
    v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["check"].as_str().unwrap().to_owned(),
                format!("{} / {}", p["problem"], p["cause"]),
            )
        })
        .collect()
}

/// Heartbeat intervals within 250 ms of `ms` (the machine may be busy).
fn assert_cadence(v: &Value, ms: f64) {
    let hb = &v["heartbeat"];
    let intervals = hb["intervals_ms"]
        .as_array()
        .unwrap_or_else(|| panic!("{hb}"));
    assert!(!intervals.is_empty(), "{hb}");
    for i in intervals {
        let i = i.as_f64().unwrap();
        assert!(
            (i - ms).abs() < 250.0,
            "interval {i} ms, advertised {ms}: {hb}"
        );
    }
    assert_eq!(hb["verdict"], "ok", "{hb}");
}

#[test]
fn facts_about_our_server() {
    let _dog = support::watchdog(60, "probe: our server");
    let server = our_server(|b| {
        b.ping_interval(Duration::from_millis(400))
            .ping_timeout(Duration::from_millis(300))
            .max_payload(123_456)
    });
    let (code, v) = probe(&[&url_of(&server), "--pings", "2"]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["verdict"], "ok");
    let h = &v["handshake"];
    assert_eq!(h["status"], 200);
    assert_eq!(h["pingInterval"], 400);
    assert_eq!(h["pingTimeout"], 300);
    assert_eq!(h["maxPayload"], 123_456);
    assert_eq!(h["upgrades"], serde_json::json!(["websocket"]));
    for t in ["polling", "websocket", "upgrade"] {
        assert_eq!(v["transports"][t]["ok"], true, "{t}: {v:#}");
        assert!(
            v["transports"][t]["echo_ms"].as_f64().is_some(),
            "{t} echoes: {v:#}"
        );
    }
    assert_eq!(v["transports"]["upgrade"]["transport"], "websocket");
    assert_eq!(v["heartbeat"]["transport"], "websocket");
    assert_eq!(v["heartbeat"]["intervals_ms"].as_array().unwrap().len(), 2);
    assert_cadence(&v, 400.0);
    assert_eq!(v["sticky"]["reached"], 5, "{v:#}");
    assert_eq!(v["compression"]["polling"], "gzip", "{v:#}");
    assert_eq!(v["compression"]["websocket_permessage_deflate"], false);
    assert_eq!(v["v3"]["accepted"], false);
    assert_eq!(v["v3"]["status"], 400);
    // The default origin is checked for information: ours allows only its own.
    assert_eq!(v["cors"]["allowed"], false);
    assert_eq!(v["cors"]["status"], 400);
    assert!(problems(&v).is_empty(), "{:?}", problems(&v));

    // v3 allowed, compression off: said so.
    let server = our_server(|b| b.allow_eio3(true).http_compression(false));
    let (code, v) = probe(&[&url_of(&server), "--pings", "0"]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["v3"]["accepted"], true, "{v:#}");
    assert_eq!(v["compression"]["polling"], "none", "{v:#}");
    assert!(v.get("heartbeat").is_none(), "--pings 0: {v:#}");
}

#[test]
fn facts_about_the_node_server() {
    if !peers_available("probe: node server", true, &[]) {
        return;
    }
    let _dog = support::watchdog(60, "probe: node server");
    let (_node, addr) =
        support::node_server(&["--ping-interval-ms", "500", "--ping-timeout-ms", "400"]);
    let (code, v) = probe(&[&format!("http://{addr}")]);
    assert_eq!(code, 0, "{v:#}");
    let h = &v["handshake"];
    assert_eq!(h["pingInterval"], 500);
    assert_eq!(h["pingTimeout"], 400);
    assert_eq!(
        h["maxPayload"], 100_000_000,
        "the script's maxHttpBufferSize"
    );
    for t in ["polling", "websocket", "upgrade"] {
        assert_eq!(v["transports"][t]["ok"], true, "{t}: {v:#}");
    }
    assert_cadence(&v, 500.0);
    assert_eq!(v["compression"]["polling"], "gzip", "{v:#}");
    assert_eq!(v["v3"]["accepted"], false, "engine.io 6 without allowEIO3");
    // engine.io without its `cors` option: answers, but with no CORS header.
    assert_eq!(v["cors"]["status"], 200, "{v:#}");
    assert!(v["cors"]["allow_origin"].is_null(), "{v:#}");
    assert_eq!(v["cors"]["allowed"], false);
    assert_eq!(v["sticky"]["reached"], 5);
}

#[test]
fn websocket_disabled_is_named() {
    let _dog = support::watchdog(60, "probe: websocket disabled");
    let server = our_server(|b| {
        b.transports(&[Transport::Polling])
            .ping_interval(Duration::from_millis(300))
    });
    let (code, v) = probe(&[&url_of(&server), "--pings", "1"]);
    assert_eq!(code, 3, "{v:#}");
    assert_eq!(v["handshake"]["upgrades"], serde_json::json!([]));
    assert_eq!(v["transports"]["polling"]["ok"], true);
    assert_eq!(v["transports"]["websocket"]["ok"], false);
    assert!(
        v["transports"].get("upgrade").is_none(),
        "not offered: {v:#}"
    );
    assert_eq!(v["heartbeat"]["transport"], "polling", "{v:#}");
    let p = problems(&v);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].0, "websocket");
    assert!(p[0].1.contains("WebSocket is disabled"), "{p:?}");
}

#[test]
fn a_wrong_path_is_found_out() {
    let _dog = support::watchdog(60, "probe: wrong path");
    let server = our_server(|b| b);
    let (code, v) = probe(&[&format!("{}/wrong/", url_of(&server))]);
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(v["verdict"], "unusable");
    assert_eq!(v["handshake"]["status"], 404);
    assert_eq!(v["found_at"], "/engine.io/");
    let p = problems(&v);
    assert_eq!(p[0].0, "path");
    assert!(p[0].1.contains("--path /engine.io/"), "{p:?}");

    // A Socket.IO-style path, probed at the default one.
    let socketio = our_server(|b| b.path("/socket.io/"));
    let (code, v) = probe(&[&url_of(&socketio)]);
    assert_eq!(code, 1);
    assert_eq!(v["found_at"], "/socket.io/", "{v:#}");

    // Nothing there at all, and nothing listening.
    let hidden = our_server(|b| b.path("/hidden/"));
    let (code, v) = probe(&[&url_of(&hidden).replace("127.0.0.1", "localhost")]);
    assert_eq!(code, 1, "{v:#}");
    assert!(problems(&v)[0].1.contains("nothing answers"), "{v:#}");
    let free = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", free.local_addr().unwrap());
    drop(free);
    let (code, v) = probe(&[&dead]);
    assert_eq!(code, 1);
    assert!(problems(&v)[0].1.contains("nothing listens"), "{v:#}");
}

#[test]
fn a_refused_origin_is_reported() {
    let _dog = support::watchdog(60, "probe: refused origin");
    let server = our_server(|b| b.cors(CorsPolicy::list(["http://good.example"])));
    let url = url_of(&server);
    let (code, v) = probe(&[&url, "--origin", "http://evil.example", "--pings", "0"]);
    assert_eq!(code, 3, "{v:#}");
    assert_eq!(v["cors"]["origin"], "http://evil.example");
    assert_eq!(v["cors"]["allowed"], false);
    assert_eq!(v["cors"]["status"], 400);
    let p = problems(&v);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].0, "cors");
    assert!(p[0].1.contains("CORS refused"), "{p:?}");

    let (code, v) = probe(&[&url, "--origin", "http://good.example", "--pings", "0"]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["cors"]["allowed"], true);
    assert_eq!(v["cors"]["allow_origin"], "http://good.example");
    assert_eq!(v["cors"]["allow_credentials"], "true");
    assert_eq!(v["cors"]["preflight_status"], 204);
}

/// A TCP proxy in front of `backends`, round-robin per connection; `strip` removes the
/// `Upgrade` and `Connection` headers of each connection's first request, as a badly
/// configured reverse proxy does.
fn proxy(backends: Vec<SocketAddr>, strip: bool) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { return };
            let backend = backends[next.fetch_add(1, Ordering::Relaxed) % backends.len()];
            thread::spawn(move || {
                let Ok(mut server) = TcpStream::connect(backend) else {
                    return;
                };
                // The first request's head, rewritten.
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match client.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let text = String::from_utf8_lossy(&head).into_owned();
                let text: String = text
                    .split_inclusive("\r\n")
                    .filter(|l| {
                        let l = l.to_ascii_lowercase();
                        !(strip && (l.starts_with("upgrade:") || l.starts_with("connection:")))
                    })
                    .collect();
                if server.write_all(text.as_bytes()).is_err() {
                    return;
                }
                let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let up = thread::spawn(move || {
                    let _ = std::io::copy(&mut c2, &mut s2);
                    let _ = s2.shutdown(Shutdown::Write);
                });
                let _ = std::io::copy(&mut server, &mut client);
                let _ = client.shutdown(Shutdown::Write);
                let _ = up.join();
            });
        }
    });
    addr
}

#[test]
fn a_proxy_stripping_upgrade_is_named() {
    let _dog = support::watchdog(60, "probe: proxy strips Upgrade");
    let server = our_server(|b| b);
    let front = proxy(vec![server.local_addr()], true);
    let (code, v) = probe(&[&format!("http://{front}"), "--pings", "0"]);
    assert_eq!(code, 3, "{v:#}");
    assert_eq!(v["transports"]["polling"]["ok"], true);
    assert_eq!(v["transports"]["websocket"]["ok"], false);
    let p = problems(&v);
    let ws = p
        .iter()
        .find(|(c, _)| c == "websocket")
        .expect("a websocket problem");
    assert!(ws.1.contains("strips `Upgrade`"), "{p:?}");
}

#[test]
fn missing_sticky_sessions_are_named() {
    let _dog = support::watchdog(60, "probe: no sticky sessions");
    let a = our_server(|b| b);
    let b = our_server(|b| b);
    let front = proxy(vec![a.local_addr(), b.local_addr()], false);
    let (code, v) = probe(&[&format!("http://{front}"), "--pings", "0"]);
    assert_eq!(code, 3, "{v:#}");
    assert!(v["sticky"]["unknown_sid"].as_u64().unwrap() > 0, "{v:#}");
    let p = problems(&v);
    let sticky = p
        .iter()
        .find(|(c, _)| c == "sticky")
        .expect("a sticky problem");
    assert!(sticky.1.contains("sticky sessions are missing"), "{p:?}");
}

#[test]
fn people_get_sections_and_a_verdict() {
    let _dog = support::watchdog(60, "probe: human output");
    let server = our_server(|b| b.ping_interval(Duration::from_millis(300)));
    let (code, out, _) = run(&["probe", &url_of(&server)], "", T);
    assert_eq!(code, 0, "{out}");
    for needle in [
        "Handshake (GET, polling, EIO=4)",
        "pingInterval  300 ms",
        "Transports (the library's client)",
        "upgrade    ok: polling → websocket",
        "Heartbeat",
        "ping 1:",
        "CORS",
        "Compression",
        "gzip",
        "Protocol v3 (EIO=3)",
        "Verdict: this endpoint works",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
}

/// A `CONNECT`-only proxy on loopback; the targets it tunnelled to.
fn connect_proxy() -> (SocketAddr, Arc<std::sync::Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen2 = Arc::clone(&seen);
    thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { return };
            let seen = Arc::clone(&seen2);
            thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match client.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let mut words = head.split_whitespace();
                let (Some("CONNECT"), Some(target)) = (words.next(), words.next()) else {
                    let _ = client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n");
                    return;
                };
                seen.lock().unwrap().push(target.to_owned());
                let Ok(mut server) = TcpStream::connect(target) else {
                    let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n");
                    return;
                };
                let _ = client.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n");
                let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let up = thread::spawn(move || {
                    let _ = std::io::copy(&mut c2, &mut s2);
                    let _ = s2.shutdown(Shutdown::Write);
                });
                let _ = std::io::copy(&mut server, &mut client);
                let _ = client.shutdown(Shutdown::Write);
                let _ = up.join();
            });
        }
    });
    (addr, seen)
}

#[test]
fn probe_and_connect_go_through_a_proxy() {
    let _dog = support::watchdog(60, "probe: --proxy");
    let server = our_server(|b| b);
    let (proxy, seen) = connect_proxy();
    let proxy_url = format!("http://{proxy}");
    let (code, v) = probe(&[&url_of(&server), "--proxy", &proxy_url, "--pings", "0"]);
    assert_eq!(code, 0, "{v:#}");
    for t in ["polling", "websocket", "upgrade"] {
        assert_eq!(v["transports"][t]["ok"], true, "{t}: {v:#}");
    }
    let target = server.local_addr().to_string();
    let tunnels = seen.lock().unwrap().len();
    assert!(tunnels > 10, "{tunnels} tunnels");
    assert!(seen.lock().unwrap().iter().all(|t| *t == target));
    let (code, out, _) = run(
        &[
            "connect",
            &url_of(&server),
            "--proxy",
            &proxy_url,
            "--count",
            "1",
        ],
        "via the proxy\n",
        T,
    );
    assert_eq!(code, 0);
    assert_eq!(out, "< via the proxy\n");
}
