//! `https` and `wss` (feature `tls`) against the official Node.js server behind
//! `node:https`, with a CA and a certificate generated at test time (rcgen): trusted
//! with the given root (PEM or DER), refused without it, accepted with the explicit
//! opt-out of verification. Polling, WebSocket and upgrade. The operating system's
//! trust store loads, does not hold the test CA, and takes given roots on top.

use std::time::Duration;

use engineio::client::{Client, TlsRoots};
use engineio::{ErrorKind, Message, Transport};

mod support;
mod tls_support;
use support::next_message;
use tls_support::{Ca, Files};

struct Pki {
    ca_pem: String,
    ca_der: Vec<u8>,
    server: support::ChildServer,
    _files: Files,
}

/// A CA, a certificate for 127.0.0.1 and localhost signed by it, and the Node.js echo
/// server serving TLS with it. None (SKIP) when node is missing and not required.
fn start() -> Option<Pki> {
    let ca = Ca::new("engineio test CA");
    let files = Files::new();
    let server = tls_support::node_tls_server("client TLS", &ca, None, &files)?;
    Some(Pki {
        ca_pem: ca.pem,
        ca_der: ca.der,
        server,
        _files: files,
    })
}

fn echo(client: &Client, want: Transport) {
    let events = client.events();
    let sent: Vec<Message> = (0..50)
        .flat_map(|i| {
            [
                Message::from(format!("tls ✓ {i}")),
                Message::from(vec![i as u8; 100]),
            ]
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

#[test]
fn verified_with_the_given_root_on_every_transport() {
    let _dog = support::watchdog(120, "tls_verified");
    let Some(pki) = start() else { return };
    for (transports, want) in [
        (&[Transport::Polling][..], Transport::Polling),
        (&[Transport::WebSocket][..], Transport::WebSocket),
        (
            &[Transport::Polling, Transport::WebSocket][..],
            Transport::WebSocket,
        ),
    ] {
        let client = Client::builder(&pki.server.base_url)
            .transports(transports)
            .root_certificate_pem(pki.ca_pem.clone())
            .connect()
            .unwrap_or_else(|e| panic!("{transports:?}: {e}\n{}", pki.server.stderr()));
        echo(&client, want);
    }
    // DER works as well; wss:// URLs too.
    let url = pki.server.base_url.replace("https://", "wss://");
    let client = Client::builder(&url)
        .root_certificate_der(pki.ca_der.clone())
        .connect()
        .unwrap();
    echo(&client, Transport::WebSocket);
}

#[test]
fn refused_without_the_root() {
    let _dog = support::watchdog(120, "tls_refused");
    let Some(pki) = start() else { return };
    for transports in [&[Transport::Polling][..], &[Transport::WebSocket][..]] {
        // Default roots (Mozilla's) do not include the test CA.
        let err = Client::builder(&pki.server.base_url)
            .transports(transports)
            .connect()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Tls, "{transports:?}: {err}");
        // Another CA is no better.
        let other = Ca::new("another CA");
        let err = Client::builder(&pki.server.base_url)
            .transports(transports)
            .root_certificate_pem(other.pem)
            .connect()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Tls, "{transports:?}: {err}");
    }
}

#[test]
fn the_os_trust_store_loads_and_takes_given_roots_on_top() {
    let _dog = support::watchdog(120, "tls_os_roots");
    for roots in [TlsRoots::Os, TlsRoots::MozillaAndOs, TlsRoots::Mozilla] {
        Client::builder("https://example.com")
            .tls_roots(roots)
            .build()
            .unwrap_or_else(|e| panic!("{roots:?}: {e}"));
    }
    let Some(pki) = start() else { return };
    // The test CA is in no built-in set.
    for roots in [TlsRoots::Os, TlsRoots::MozillaAndOs] {
        for transports in [&[Transport::Polling][..], &[Transport::WebSocket][..]] {
            let err = Client::builder(&pki.server.base_url)
                .transports(transports)
                .tls_roots(roots)
                .connect()
                .unwrap_err();
            assert_eq!(
                err.kind(),
                ErrorKind::Tls,
                "{roots:?} {transports:?}: {err}"
            );
            assert!(err.to_string().contains("UnknownIssuer"), "{err}");
        }
    }
    // Given roots come on top of the chosen set, on every transport.
    for roots in [TlsRoots::Os, TlsRoots::Mozilla, TlsRoots::MozillaAndOs] {
        for (transports, want) in [
            (&[Transport::Polling][..], Transport::Polling),
            (&[Transport::WebSocket][..], Transport::WebSocket),
            (
                &[Transport::Polling, Transport::WebSocket][..],
                Transport::WebSocket,
            ),
        ] {
            let client = Client::builder(&pki.server.base_url)
                .transports(transports)
                .tls_roots(roots)
                .root_certificate_pem(pki.ca_pem.clone())
                .connect()
                .unwrap_or_else(|e| panic!("{roots:?} {transports:?}: {e}"));
            echo(&client, want);
        }
    }
}

#[test]
fn verification_can_be_turned_off_explicitly() {
    let _dog = support::watchdog(120, "tls_no_verify");
    let Some(pki) = start() else { return };
    let client = Client::builder(&pki.server.base_url)
        .danger_accept_invalid_certs(true)
        .connect()
        .unwrap();
    echo(&client, Transport::WebSocket);
}

#[test]
fn an_unreadable_root_is_refused_at_build() {
    let err = Client::builder("https://127.0.0.1:1")
        .root_certificate_pem("not a certificate")
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
}

/// A `wss` server written here with rustls: it accepts the WebSocket, sends OPEN,
/// then stops reading; after `quiet` it sends a ping and a message (still without
/// reading), and holds the connection.
fn stalling_wss_server(quiet: Duration) -> (std::net::SocketAddr, String) {
    use std::io::{Read, Write};
    use std::sync::Arc;

    let ca = Ca::new("engineio test CA");
    let leaf = ca.server();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.cert_der.into()],
            rustls::pki_types::PrivateKeyDer::try_from(leaf.key_der).unwrap(),
        )
        .unwrap();
    let config = Arc::new(config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let conn = rustls::ServerConnection::new(config).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if tls.read(&mut byte).unwrap_or(0) == 0 {
                return;
            }
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        let key = head
            .lines()
            .find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.eq_ignore_ascii_case("sec-websocket-key")
                    .then(|| v.trim().to_owned())
            })
            .unwrap_or_default();
        let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
        let frame = |text: &str| {
            let mut f = vec![0x81, text.len() as u8];
            f.extend_from_slice(text.as_bytes());
            f
        };
        let open = r#"0{"sid":"t","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":100000000}"#;
        let mut out = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
        )
        .into_bytes();
        out.extend(frame(open));
        tls.write_all(&out).unwrap();
        std::thread::sleep(quiet);
        let mut late = frame("2");
        late.extend(frame("4while stuck"));
        let _ = tls.write_all(&late);
        std::thread::sleep(Duration::from_secs(20));
    });
    (addr, ca.pem)
}

/// Over `wss`, a send the server does not take fails with `Timeout` within the
/// request timeout, and meanwhile the reader keeps decrypting: the rustls lock is
/// not held across the stalled socket write.
#[test]
fn a_stalled_wss_send_times_out_while_the_reader_keeps_going() {
    use std::sync::{mpsc, Mutex};
    use std::time::Instant;

    let _dog = support::watchdog(60, "tls_stalled_send");
    let (addr, ca) = stalling_wss_server(Duration::from_millis(500));
    let (tx, rx) = mpsc::channel::<(Message, Instant)>();
    let tx = Mutex::new(tx);
    let client = Client::builder(&format!("wss://{addr}"))
        .transports(&[Transport::WebSocket])
        .root_certificate_pem(ca)
        .request_timeout(Duration::from_secs(1))
        .on_message(move |_, m| {
            let _ = tx.lock().unwrap().send((m, Instant::now()));
        })
        .connect()
        .unwrap();
    let connected = Instant::now();
    let started = Instant::now();
    let err = client.send(vec![1u8; 16 << 20]).unwrap_err();
    let took = started.elapsed();
    let (message, at) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let arrived = at.saturating_duration_since(connected);
    println!("wss stalled send: {err} after {took:?}; the server's message arrived {arrived:?} after connect (sent after 500 ms)");
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(took < Duration::from_millis(2500), "{took:?}");
    assert_eq!(message, Message::from("while stuck"));
    assert!(
        arrived < Duration::from_millis(950),
        "the reader waited for the stalled write: {arrived:?}"
    );
    client.wait();
}
