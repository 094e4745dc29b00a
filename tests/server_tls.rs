//! The server over TLS (feature `tls`): our client over `https` polling, `wss` and the
//! upgrade; keep-alive, static files and the fallback; `is_secure`; a stalled or
//! garbage handshake dropped within the head timeout while others are served; a slow
//! `wss` reader that never blocks senders, and frames that never interleave; a
//! certificate replaced at runtime; client certificates through a rustls config. With
//! a CA and certificates made at test time.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use engineio::client::Client;
use engineio::server::{
    App, CookieConfig, Listening, Server, ServerBuilder, StaticFiles, TlsConfig,
};
use engineio::{ErrorKind, Message, Transport};

mod support;
use support::next_message;
use support::pki::Pki;

fn tls_server(b: ServerBuilder, pki: &Pki) -> Listening {
    let server = b
        .on_message(|server, sid, msg| {
            let _ = server.send(sid, msg);
        })
        .build()
        .unwrap();
    App::new(server)
        .tls(TlsConfig::from_pem(pki.cert_pem.as_bytes(), pki.key_pem.as_bytes()).unwrap())
        .listen("127.0.0.1:0")
        .unwrap()
}

fn https(app: &Listening) -> String {
    format!("https://{}", app.local_addr())
}

/// A rustls client configuration trusting `ca_pem`, with an optional client
/// certificate.
fn client_config(ca_pem: &str, client: Option<&(String, String)>) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    Arc::new(match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_slice_iter(cert.as_bytes())
                    .map(|c| c.unwrap())
                    .collect(),
                PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
            )
            .unwrap(),
    })
}

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

fn tls_connect(addr: SocketAddr, config: Arc<rustls::ClientConfig>) -> Tls {
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(config, name).unwrap();
    rustls::StreamOwned::new(conn, tcp)
}

/// One HTTP/1.1 request on `tls`; the status and body.
fn request(tls: &mut Tls, head: &str) -> (u16, Vec<u8>) {
    let (status, _, body) = request_full(tls, head);
    (status, body)
}

/// One HTTP/1.1 request on `tls`; the status, the response head and the body.
fn request_full(tls: &mut Tls, head: &str) -> (u16, String, Vec<u8>) {
    tls.write_all(head.as_bytes()).unwrap();
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        assert_eq!(
            tls.read(&mut byte).unwrap(),
            1,
            "{:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.push(byte[0]);
    }
    let head = String::from_utf8(buf).unwrap();
    let status = head[9..12].parse().unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .map_or(0, |v| v.trim().parse().unwrap());
    let mut body = vec![0; len];
    tls.read_exact(&mut body).unwrap();
    (status, head, body)
}

#[test]
fn our_client_over_https_polling_wss_and_the_upgrade() {
    let _dog = support::watchdog(60, "client over TLS");
    let pki = Pki::new("engineio test CA");
    let app = tls_server(Server::builder(), &pki);
    for (transports, want) in [
        (&[Transport::Polling][..], Transport::Polling),
        (&[Transport::WebSocket][..], Transport::WebSocket),
        (
            &[Transport::Polling, Transport::WebSocket][..],
            Transport::WebSocket,
        ),
    ] {
        let client = Client::builder(&https(&app))
            .transports(transports)
            .root_certificate_pem(pki.ca_pem.as_bytes())
            .connect()
            .unwrap();
        let events = client.events();
        let sent: Vec<Message> = (0..50)
            .map(|i| {
                if i % 3 == 0 {
                    Message::from(vec![i as u8; 1000 + i])
                } else {
                    Message::from(format!("tls ñ {i}"))
                }
            })
            .collect();
        for m in &sent {
            client.send(m.clone()).unwrap();
        }
        for want in &sent {
            assert_eq!(&next_message(&events), want);
        }
        assert_eq!(client.wait_for_upgrade(Duration::from_secs(10)), Some(want));
        client.disconnect();
    }
    // A client that does not trust the CA is refused, as a TLS error.
    let err = Client::builder(&https(&app)).connect().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
}

#[test]
fn requests_over_tls_are_secure_and_same_origin_is_https() {
    let _dog = support::watchdog(60, "is_secure");
    let pki = Pki::new("engineio test CA");
    let secure = Arc::new(Mutex::new(Vec::new()));
    let s2 = secure.clone();
    let app = tls_server(
        Server::builder()
            .on_connect(move |_, _, req| {
                s2.lock().unwrap().push(req.is_secure());
                Ok(())
            })
            // The cookie is `Secure` on TLS connections.
            .cookie(CookieConfig::new("io").dynamic(|req, cookie| {
                if req.is_secure() {
                    *cookie = cookie.clone().secure(true);
                }
            })),
        &pki,
    );
    let config = client_config(&pki.ca_pem, None);
    let a = app.local_addr();
    let handshake = |origin: &str| {
        let mut tls = tls_connect(a, config.clone());
        let (status, head, _) = request_full(
            &mut tls,
            &format!(
                "GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: {a}\r\nOrigin: {origin}\r\n\r\n"
            ),
        );
        (status, head)
    };
    // O-3: the same origin is the https one.
    let (status, head) = handshake(&format!("https://{a}"));
    assert_eq!(status, 200);
    let cookie = head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie: io="))
        .unwrap_or_else(|| panic!("no io cookie: {head}"));
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert_eq!(handshake(&format!("http://{a}")).0, 400);
    assert_eq!(secure.lock().unwrap().as_slice(), [true]);
}

#[test]
fn keep_alive_static_files_and_the_fallback_work_over_tls() {
    let _dog = support::watchdog(60, "static files over TLS");
    let pki = Pki::new("engineio test CA");
    let dir = tempfile::tempdir().unwrap();
    let page = "<html>ñ</html>".repeat(5000);
    std::fs::write(dir.path().join("index.html"), &page).unwrap();
    let app = App::new(Server::builder().build().unwrap())
        .static_files(StaticFiles::new().file("/", dir.path().join("index.html").to_str().unwrap()))
        .fallback(|req| {
            engineio::http::Response::builder()
                .status(418)
                .body(req.into_body())
                .unwrap()
        })
        .tls(TlsConfig::from_pem_files(&pki.cert_path, &pki.key_path).unwrap())
        .listen("127.0.0.1:0")
        .unwrap();
    let a = app.local_addr();
    let mut tls = tls_connect(a, client_config(&pki.ca_pem, None));
    // Three requests on one connection.
    let (status, body) = request(&mut tls, &format!("GET / HTTP/1.1\r\nHost: {a}\r\n\r\n"));
    assert_eq!((status, body.len()), (200, page.len()));
    let (status, body) = request(
        &mut tls,
        &format!("POST /other HTTP/1.1\r\nHost: {a}\r\nContent-Length: 5\r\n\r\nhello"),
    );
    assert_eq!((status, body.as_slice()), (418, &b"hello"[..]));
    let (status, body) = request(
        &mut tls,
        &format!("GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: {a}\r\n\r\n"),
    );
    assert_eq!(status, 200);
    assert!(body.starts_with(b"0{"));
}

#[test]
fn stalled_and_garbage_handshakes_are_dropped_within_the_head_timeout() {
    let _dog = support::watchdog(60, "bad TLS handshakes");
    let pki = Pki::new("engineio test CA");
    let app = tls_server(Server::builder().head_timeout(Duration::from_secs(1)), &pki);
    let a = app.local_addr();
    let start = Instant::now();
    // Connects and says nothing.
    let mut stalled = TcpStream::connect(a).unwrap();
    // Speaks plain HTTP to the TLS port.
    let mut plain = TcpStream::connect(a).unwrap();
    plain
        .write_all(b"GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    // Sends a ClientHello's first bytes, then stops.
    let mut partial = TcpStream::connect(a).unwrap();
    partial
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .unwrap();
    // Meanwhile a real client is served.
    let client = Client::builder(&https(&app))
        .root_certificate_pem(pki.ca_pem.as_bytes())
        .transports(&[Transport::WebSocket])
        .connect()
        .unwrap();
    client.send("fine").unwrap();
    assert_eq!(next_message(&client.events()), Message::from("fine"));
    for (what, s) in [
        ("stalled", &mut stalled),
        ("plain", &mut plain),
        ("partial", &mut partial),
    ] {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut sink = Vec::new();
        // EOF (or a reset) once the server drops it; an alert may come first.
        let _ = s.read_to_end(&mut sink);
        assert!(
            start.elapsed() < Duration::from_millis(3500),
            "{what}: dropped after {:?}",
            start.elapsed()
        );
        assert!(
            !String::from_utf8_lossy(&sink).contains("HTTP/1.1"),
            "{what}"
        );
    }
    assert!(client.is_connected());
    client.disconnect();
}

/// A wss connection through the raw rustls client.
fn wss(addr: SocketAddr, config: Arc<rustls::ClientConfig>) -> tungstenite::WebSocket<Tls> {
    let stream = tls_connect(addr, config);
    let url = format!(
        "wss://127.0.0.1:{}/engine.io/?EIO=4&transport=websocket",
        addr.port()
    );
    let (mut ws, _) = tungstenite::client(url.as_str(), stream).unwrap();
    match ws.read().unwrap() {
        tungstenite::Message::Text(t) => assert!(t.starts_with("0{"), "{t}"),
        other => panic!("{other:?}"),
    }
    ws
}

#[test]
fn a_slow_wss_reader_never_blocks_senders_and_frames_never_interleave() {
    let _dog = support::watchdog(120, "wss writer");
    let pki = Pki::new("engineio test CA");
    let server = Server::builder().build().unwrap();
    let app = App::new(server.clone())
        .tls(TlsConfig::from_pem(pki.cert_pem.as_bytes(), pki.key_pem.as_bytes()).unwrap())
        .listen("127.0.0.1:0")
        .unwrap();
    let mut ws = wss(app.local_addr(), client_config(&pki.ca_pem, None));
    let sid = server.sids().pop().unwrap();
    // Four threads send 200 messages each while the client reads nothing.
    let start = Instant::now();
    let senders: Vec<_> = (0..4)
        .map(|t| {
            let (server, sid) = (server.clone(), sid.clone());
            thread::spawn(move || {
                for i in 0..200 {
                    server
                        .send(&sid, format!("{t}:{i}:{}", "x".repeat(10_000)))
                        .unwrap();
                }
            })
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert!(
        server.buffered_bytes(&sid).unwrap() > 0,
        "8 MB went out unread?"
    );
    // Every frame arrives whole and each thread's in its order.
    let mut next = [0usize; 4];
    for _ in 0..800 {
        match ws.read().unwrap() {
            tungstenite::Message::Text(t) => {
                let mut parts = t.as_str()[1..].splitn(3, ':');
                let thread: usize = parts.next().unwrap().parse().unwrap();
                let i: usize = parts.next().unwrap().parse().unwrap();
                assert_eq!(parts.next().unwrap().len(), 10_000);
                assert_eq!(i, next[thread], "thread {thread}");
                next[thread] += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    // A WebSocket ping is answered through the same writer.
    ws.send(tungstenite::Message::Ping(b"hi".to_vec().into()))
        .unwrap();
    loop {
        match ws.read().unwrap() {
            tungstenite::Message::Pong(p) => {
                assert_eq!(&p[..], b"hi");
                break;
            }
            tungstenite::Message::Text(_) => continue,
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn a_replaced_certificate_serves_new_connections_and_spares_open_ones() {
    let _dog = support::watchdog(60, "certificate replaced");
    let (old, new) = (Pki::new("old CA"), Pki::new("new CA"));
    let tls = TlsConfig::from_pem(old.cert_pem.as_bytes(), old.key_pem.as_bytes()).unwrap();
    let server = Server::builder()
        .on_message(|server, sid, msg| {
            let _ = server.send(sid, msg);
        })
        .build()
        .unwrap();
    let app = App::new(server)
        .tls(tls.clone())
        .listen("127.0.0.1:0")
        .unwrap();
    let url = https(&app);
    let open = Client::builder(&url)
        .transports(&[Transport::WebSocket])
        .root_certificate_pem(old.ca_pem.as_bytes())
        .connect()
        .unwrap();
    tls.reload_pem_files(&new.cert_path, &new.key_path).unwrap();
    // New connections get the new certificate.
    let err = Client::builder(&url)
        .root_certificate_pem(old.ca_pem.as_bytes())
        .connect()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    let fresh = Client::builder(&url)
        .root_certificate_pem(new.ca_pem.as_bytes())
        .connect()
        .unwrap();
    fresh.send("new").unwrap();
    assert_eq!(next_message(&fresh.events()), Message::from("new"));
    // The connection opened before is untouched.
    open.send("old").unwrap();
    assert_eq!(next_message(&open.events()), Message::from("old"));
    // A configuration that cannot be used changes nothing.
    assert!(tls.reload_pem_files(&new.ca_path, &new.ca_path).is_err());
    assert!(Client::builder(&url)
        .root_certificate_pem(new.ca_pem.as_bytes())
        .connect()
        .is_ok());
}

#[test]
fn client_certificates_through_a_rustls_configuration() {
    let _dog = support::watchdog(60, "mutual TLS");
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let pki = Pki::new("engineio test CA");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).unwrap())
        .unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![CertificateDer::from_pem_slice(pki.cert_pem.as_bytes()).unwrap()],
            PrivateKeyDer::from_pem_slice(pki.key_pem.as_bytes()).unwrap(),
        )
        .unwrap();
    let app = App::new(Server::builder().build().unwrap())
        .tls(TlsConfig::from_rustls(Arc::new(config)))
        .listen("127.0.0.1:0")
        .unwrap();
    let a = app.local_addr();
    let head = format!("GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: {a}\r\n\r\n");
    let good = pki.client_cert("a client");
    let mut tls = tls_connect(a, client_config(&pki.ca_pem, Some(&good)));
    assert_eq!(request(&mut tls, &head).0, 200);
    // Without a certificate, or with one from another CA: no response.
    let other = Pki::new("another CA").client_cert("an intruder");
    for client in [None, Some(&other)] {
        let mut tls = tls_connect(a, client_config(&pki.ca_pem, client));
        let r = tls
            .write_all(head.as_bytes())
            .and_then(|_| tls.read(&mut [0u8; 64]));
        assert!(
            !matches!(r, Ok(n) if n > 0),
            "served without a valid certificate"
        );
    }
}

#[test]
fn large_bodies_and_messages_cross_tls_both_ways() {
    let _dog = support::watchdog(60, "large messages over TLS");
    let pki = Pki::new("engineio test CA");
    let app = tls_server(Server::builder(), &pki);
    for transports in [&[Transport::Polling][..], &[Transport::WebSocket][..]] {
        let client = Client::builder(&https(&app))
            .transports(transports)
            .root_certificate_pem(pki.ca_pem.as_bytes())
            .connect()
            .unwrap();
        let events = client.events();
        // Near maxPayload: a POST body of 900 KB arrives in many TLS records.
        let text = "é".repeat(300_000);
        let binary: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
        client.send(text.as_str()).unwrap();
        client.send(binary.clone()).unwrap();
        assert_eq!(
            next_message(&events),
            Message::from(text.as_str()),
            "{transports:?}"
        );
        assert_eq!(
            next_message(&events),
            Message::from(binary),
            "{transports:?}"
        );
        client.disconnect();
    }
}
