//! Mutual TLS (feature `tls`) against the official Node.js server behind `node:https`
//! with `requestCert` and `rejectUnauthorized`: a client certificate signed by the
//! test CA is accepted on polling, WebSocket and the upgrade (PEM and DER), none or
//! one from another CA is refused with a TLS error, and a certificate or key that
//! cannot be used is refused by `build`. `echo_client --client-cert/--client-key` too.

use std::time::{Duration, Instant};

use engineio::client::Client;
use engineio::{ErrorKind, Message, Transport};

mod support;
use support::next_message;
mod tls_support;

use tls_support::{Ca, Files};

const MODES: [(&[Transport], Transport); 3] = [
    (&[Transport::Polling], Transport::Polling),
    (&[Transport::WebSocket], Transport::WebSocket),
    (
        &[Transport::Polling, Transport::WebSocket],
        Transport::WebSocket,
    ),
];

fn echo(client: &Client, want: Transport) {
    let events = client.events();
    for i in 0..10 {
        client.send(format!("mtls {i}")).unwrap();
        client.send(vec![i as u8; 50]).unwrap();
    }
    for i in 0..10 {
        assert_eq!(next_message(&events), Message::from(format!("mtls {i}")));
        assert_eq!(next_message(&events), Message::from(vec![i as u8; 50]));
    }
    assert_eq!(client.wait_for_upgrade(Duration::from_secs(10)), Some(want));
    client.disconnect();
}

#[test]
fn a_client_certificate_from_the_trusted_ca_is_accepted() {
    let _dog = support::watchdog(120, "mtls_accepted");
    let ca = Ca::new("engineio test CA");
    let files = Files::new();
    let Some(server) = tls_support::node_tls_server("mutual TLS", &ca, Some(&ca), &files) else {
        return;
    };
    let client_leaf = ca.client("engineio test client");
    for (transports, want) in MODES {
        let started = Instant::now();
        let client = Client::builder(&server.base_url)
            .transports(transports)
            .root_certificate_pem(ca.pem.clone())
            .client_certificate_pem(client_leaf.cert_pem.clone(), client_leaf.key_pem.clone())
            .connect()
            .unwrap_or_else(|e| panic!("{transports:?}: {e}\n{}", server.stderr()));
        echo(&client, want);
        println!("mTLS PEM {transports:?}: {:?}", started.elapsed());
    }
    // DER, with the CA in the chain (servers accept the intermediates a client sends).
    let client = Client::builder(&server.base_url)
        .root_certificate_der(ca.der.clone())
        .client_certificate_der(
            vec![client_leaf.cert_der.clone(), ca.der.clone()],
            client_leaf.key_der.clone(),
        )
        .connect()
        .unwrap_or_else(|e| panic!("DER: {e}\n{}", server.stderr()));
    echo(&client, Transport::WebSocket);
}

/// Connects to the mTLS server on `transports` with `client_cert` (or none) and
/// returns the error.
fn refused(
    server: &support::ChildServer,
    ca: &Ca,
    transports: &[Transport],
    client_cert: Option<&tls_support::Leaf>,
) -> engineio::Error {
    let mut builder = Client::builder(&server.base_url)
        .transports(transports)
        .root_certificate_pem(ca.pem.clone());
    if let Some(leaf) = client_cert {
        builder = builder.client_certificate_pem(leaf.cert_pem.clone(), leaf.key_pem.clone());
    }
    let started = Instant::now();
    let err = builder.connect().unwrap_err();
    println!(
        "{transports:?} with {}: {err} ({:?})",
        if client_cert.is_some() {
            "another CA's certificate"
        } else {
            "no certificate"
        },
        started.elapsed()
    );
    err
}

#[test]
fn no_client_certificate_or_another_cas_is_refused_with_a_tls_error() {
    let _dog = support::watchdog(120, "mtls_refused");
    let ca = Ca::new("engineio test CA");
    let files = Files::new();
    let Some(server) = tls_support::node_tls_server("mutual TLS", &ca, Some(&ca), &files) else {
        return;
    };
    let other = Ca::new("another CA").client("intruder");
    for transports in [&[Transport::Polling][..], &[Transport::WebSocket][..]] {
        for cert in [None, Some(&other)] {
            let err = refused(&server, &ca, transports, cert);
            assert_eq!(err.kind(), ErrorKind::Tls, "{transports:?}: {err}");
            assert!(err.to_string().contains("TLS"), "{err}");
        }
    }
    // The same server still serves a good certificate afterwards.
    let good = ca.client("engineio test client");
    let client = Client::builder(&server.base_url)
        .root_certificate_pem(ca.pem.clone())
        .client_certificate_pem(good.cert_pem, good.key_pem)
        .connect()
        .unwrap();
    echo(&client, Transport::WebSocket);
}

#[test]
fn an_unusable_client_certificate_is_refused_by_build() {
    let _dog = support::watchdog(60, "mtls_build");
    let ca = Ca::new("engineio test CA");
    let a = ca.client("a");
    let b = ca.client("b");
    let url = "https://127.0.0.1:1";
    let cases = [
        (
            "no certificate",
            Client::builder(url).client_certificate_pem("nothing here", a.key_pem.clone()),
            "CERTIFICATE",
        ),
        (
            "no key",
            Client::builder(url).client_certificate_pem(a.cert_pem.clone(), a.cert_pem.clone()),
            "PRIVATE KEY",
        ),
        (
            "a broken key",
            Client::builder(url).client_certificate_pem(
                a.cert_pem.clone(),
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            ),
            "key",
        ),
        (
            "another certificate's key",
            Client::builder(url).client_certificate_pem(a.cert_pem.clone(), b.key_pem.clone()),
            "client certificate and key",
        ),
        (
            "an empty DER chain",
            Client::builder(url).client_certificate_der(vec![], a.key_der.clone()),
            "empty",
        ),
        (
            "a DER key that is not one",
            Client::builder(url).client_certificate_der(vec![a.cert_der.clone()], vec![1, 2, 3]),
            "DER client key",
        ),
        (
            "another certificate's DER key",
            Client::builder(url).client_certificate_der(vec![a.cert_der.clone()], b.key_der),
            "client certificate and key",
        ),
    ];
    for (what, builder, said) in cases {
        let err = builder.build().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Tls, "{what}: {err}");
        assert!(err.to_string().contains(said), "{what}: {err}");
    }
    // A good pair builds, with or without verification.
    for accept_invalid in [false, true] {
        Client::builder(url)
            .client_certificate_pem(a.cert_pem.clone(), a.key_pem.clone())
            .danger_accept_invalid_certs(accept_invalid)
            .build()
            .unwrap();
    }
}

#[test]
fn echo_client_presents_a_client_certificate() {
    let _dog = support::watchdog(600, "echo_client_mtls");
    let ca = Ca::new("engineio test CA");
    let files = Files::new();
    let Some(server) = tls_support::node_tls_server("echo_client mTLS", &ca, Some(&ca), &files)
    else {
        return;
    };
    let leaf = ca.client("echo_client");
    let ca_file = files.write("ca.pem", &ca.pem);
    let cert = files.write("client.pem", &leaf.cert_pem);
    let key = files.write("client.key", &leaf.key_pem);
    let url = server.base_url.as_str();
    let (ok, out) = tls_support::run_echo_client(
        &[
            url,
            "--ca",
            &ca_file,
            "--client-cert",
            &cert,
            "--client-key",
            &key,
        ],
        &[],
    );
    assert!(ok, "{out}");
    assert!(out.contains("OK 10 echoed via websocket"), "{out}");
    let (ok, out) = tls_support::run_echo_client(&[url, "--ca", &ca_file], &[]);
    assert!(!ok, "{out}");
    assert!(out.contains("connect failed: TLS error"), "{out}");
}
