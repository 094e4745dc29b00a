//! `https` and `wss` (feature `tls`) against the official Node.js server behind
//! `node:https`, with a CA and a certificate generated at test time (rcgen): trusted
//! with the given root (PEM or DER), refused without it, accepted with the explicit
//! opt-out of verification. Polling, WebSocket and upgrade.

use std::time::Duration;

use engineio::client::{Client, Event, Events};
use engineio::{ErrorKind, Message, Transport};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

mod support;

struct Pki {
    ca_pem: String,
    ca_der: Vec<u8>,
    server: support::ChildServer,
    _dir: tempfile::TempDir,
}

/// A CA, a certificate for 127.0.0.1 and localhost signed by it, and the Node.js echo
/// server serving TLS with it. None (SKIP) when node is missing and not required.
fn start() -> Option<Pki> {
    if !support::interop_available("client TLS") {
        return None;
    }
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "engineio test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, leaf.pem()).unwrap();
    std::fs::write(&key_path, leaf_key.serialize_pem()).unwrap();
    let server = support::spawn_node_script(
        "tests/interop/node_echo_server.mjs",
        &[
            "--tls-cert",
            cert_path.to_str().unwrap(),
            "--tls-key",
            key_path.to_str().unwrap(),
        ],
    );
    assert!(
        server.base_url.starts_with("https://"),
        "{}",
        server.base_url
    );
    Some(Pki {
        ca_pem: ca_cert.pem(),
        ca_der: ca_cert.der().to_vec(),
        server,
        _dir: dir,
    })
}

fn next_message(events: &Events) -> Message {
    loop {
        match events.recv_timeout(Duration::from_secs(10)) {
            Ok(Event::Message(m)) => return m,
            Ok(Event::Connect) => continue,
            other => panic!("expected a message, got {other:?}"),
        }
    }
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
        let other_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let other = params.self_signed(&other_key).unwrap();
        let err = Client::builder(&pki.server.base_url)
            .transports(transports)
            .root_certificate_pem(other.pem())
            .connect()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Tls, "{transports:?}: {err}");
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
