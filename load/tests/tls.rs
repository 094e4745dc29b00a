//! The generator over TLS: a line echo on an in-process rustls server (the handshake,
//! messages larger than rustls's buffers both ways, the closing alert), our Engine.IO
//! server over wss and https (WebSocket, polling, the full connect with its second
//! connection), and trust (a CA file, another CA refused as a `tls` error, any
//! certificate with the insecure verifier). Every test has a watchdog; nothing is
//! timed.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use eio_load::gen::{error_kind, ConnId, Event, Gen, Kind, Target};
use eio_load::tls::Tls;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The watchdog: the root crate's, shared.
#[path = "../../tests/support/watchdog.rs"]
mod watchdog;
use watchdog::watchdog;

/// Certificates made at test time: the root crate's helper, shared.
#[path = "../../tests/support/pki.rs"]
mod pki_support;

/// A CA and a server certificate for 127.0.0.1 signed by it, made now.
struct Pki {
    ca_pem: String,
    server: pki_support::Leaf,
}

fn pki(name: &str) -> Pki {
    let ca = pki_support::Ca::new(name);
    Pki {
        server: ca.server(),
        ca_pem: ca.pem,
    }
}

/// How the in-process server saw a connection end.
#[derive(Debug, PartialEq, Eq)]
enum Ending {
    /// The client's closing alert came.
    CloseNotify,
    /// The socket ended without one.
    Unclean(String),
}

/// A blocking rustls server on 127.0.0.1 echoing `\n`-terminated lines, one
/// connection; how it ended goes to the returned channel.
fn line_echo_server(pki: &Pki) -> (SocketAddr, mpsc::Receiver<Ending>) {
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![CertificateDer::from(pki.server.cert_der.clone())],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.server.key_der.clone())),
    )
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let conn = rustls::ServerConnection::new(Arc::new(config)).unwrap();
        let mut tls = BufReader::new(rustls::StreamOwned::new(conn, tcp));
        let mut line = Vec::new();
        let ending = loop {
            line.clear();
            match tls.read_until(b'\n', &mut line) {
                Ok(0) => break Ending::CloseNotify,
                Ok(_) if line.ends_with(b"\n") => {
                    let stream = tls.get_mut();
                    if let Err(e) = stream.write_all(&line).and_then(|()| stream.flush()) {
                        break Ending::Unclean(e.to_string());
                    }
                }
                Ok(_) => break Ending::Unclean("a partial line".into()),
                Err(e) => break Ending::Unclean(e.to_string()),
            }
        };
        let _ = tx.send(ending);
    });
    (addr, rx)
}

/// The generator with the events a test has not looked at yet.
struct Driver {
    gen: Gen,
    pending: VecDeque<Event>,
}

impl Driver {
    fn new(target: Target) -> Driver {
        Driver {
            gen: Gen::to(target).unwrap(),
            pending: VecDeque::new(),
        }
    }

    /// Hands events, in order, to `done` until it says so (the events after that one
    /// stay for the next call); panics after 20 s.
    fn until(&mut self, what: &str, mut done: impl FnMut(&Event) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut events = Vec::new();
        loop {
            while let Some(ev) = self.pending.pop_front() {
                if done(&ev) {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no {what} within 20 s (live {})",
                self.gen.live()
            );
            events.clear();
            self.gen
                .turn(Some(Duration::from_millis(50)), &mut events)
                .unwrap();
            self.pending.extend(events.drain(..));
        }
    }

    fn ready(&mut self, id: ConnId) {
        self.until("ready", |ev| match ev {
            Event::Ready(r) => *r == id,
            Event::Closed(c, why) if *c == id => panic!("closed before ready: {why}"),
            _ => false,
        });
    }

    /// The next message on `id` (other connections' messages are dropped).
    fn message(&mut self, id: ConnId) -> Vec<u8> {
        let mut got = None;
        self.until("message", |ev| match ev {
            Event::Message(m, data, _) if *m == id => {
                got = Some(data.clone());
                true
            }
            Event::Closed(c, why) if *c == id => panic!("closed: {why}"),
            _ => false,
        });
        got.unwrap()
    }

    /// Why `id` closed.
    fn closed(&mut self, id: ConnId) -> String {
        let mut reason = String::new();
        self.until("close", |ev| match ev {
            Event::Closed(c, why) if *c == id => {
                reason = why.clone();
                true
            }
            Event::Ready(r) if *r == id => panic!("ready, not refused"),
            _ => false,
        });
        reason
    }
}

fn target(addr: SocketAddr, tls: Tls) -> Target {
    Target::new(addr).with_tls(tls)
}

#[test]
fn lines_echo_over_tls_both_ways_and_close_with_the_closing_alert() {
    let _dog = watchdog(60, "tls: line echo");
    let pki = pki("eio-load test CA");
    let (addr, ending) = line_echo_server(&pki);
    let tls = Tls::trusting_ca_pem(pki.ca_pem.as_bytes(), "127.0.0.1").unwrap();
    let mut d = Driver::new(target(addr, tls));
    let id = d.gen.connect(Kind::RawTcp).unwrap();
    // Ready only once the handshake is over.
    d.ready(id);
    let session = d.gen.tls_session(id).expect("a finished handshake");
    assert!(session.starts_with("TLSv1_3 TLS13_"), "{session}");

    d.gen.send_text(id, "hello over tls");
    assert_eq!(d.message(id), b"hello over tls");
    // Larger than rustls's 64 KiB buffers and the socket's: written in pieces as the
    // socket drains, read back record by record.
    let big: String = (0..300_000)
        .map(|i| (b'a' + (i % 26) as u8) as char)
        .collect();
    d.gen.send_text(id, &big);
    d.gen.send_text(id, "after the big one");
    assert_eq!(d.message(id), big.as_bytes());
    assert_eq!(d.message(id), b"after the big one");

    d.gen.close(id);
    assert_eq!(d.gen.live(), 0);
    let how = ending.recv_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!(how, Ending::CloseNotify);
}

/// Our Engine.IO server over https/wss, echoing every message.
fn our_tls_server(pki: &Pki) -> engineio::server::Listening {
    use engineio::server::{App, Server, TlsConfig};
    let server = Server::builder()
        .on_message(|server, sid, msg| {
            let _ = server.send(sid, msg);
        })
        .build()
        .unwrap();
    let tls = TlsConfig::from_pem(
        pki.server.cert_pem.as_bytes(),
        pki.server.key_pem.as_bytes(),
    )
    .unwrap();
    App::new(server).tls(tls).listen("127.0.0.1:0").unwrap()
}

#[test]
fn engineio_over_wss_and_https_against_our_server() {
    let _dog = watchdog(90, "tls: our server");
    let pki = pki("eio-load test CA");
    let server = our_tls_server(&pki);
    let tls = Tls::trusting_ca_pem(pki.ca_pem.as_bytes(), "localhost").unwrap();
    let mut d = Driver::new(target(server.local_addr(), tls));

    // WebSocket sessions, several messages in flight, a large one among them.
    let ids: Vec<ConnId> = (0..3)
        .map(|_| d.gen.connect(Kind::EioWs).unwrap())
        .collect();
    let mut opened = Vec::new();
    d.until("every session open", |ev| match ev {
        Event::Ready(id) => {
            opened.push(*id);
            opened.len() == ids.len()
        }
        Event::Closed(_, why) => panic!("closed: {why}"),
        _ => false,
    });
    let large = "L".repeat(200_000);
    for &id in &ids {
        d.gen.send_text(id, "one");
        d.gen.send_text(id, &large);
        d.gen.send_text(id, "three");
    }
    let mut echoes: Vec<Vec<Vec<u8>>> = vec![Vec::new(); ids.len()];
    d.until("every echo", |ev| match ev {
        Event::Message(m, data, _) => {
            let i = ids.iter().position(|id| id == m).unwrap();
            echoes[i].push(data.clone());
            echoes.iter().all(|e| e.len() == 3)
        }
        Event::Closed(_, why) => panic!("closed: {why}"),
        _ => false,
    });
    for e in echoes {
        assert_eq!(
            e,
            [
                b"one".to_vec(),
                large.clone().into_bytes(),
                b"three".to_vec()
            ]
        );
    }

    // Long-polling: each message POSTed, its echo fetched by a GET.
    let p = d.gen.connect(Kind::PollingEcho).unwrap();
    d.ready(p);
    d.gen.send_text(p, "polled over https");
    assert_eq!(d.message(p), b"polled over https");

    // The full connect: polling handshake, the upgrade on a second TLS connection, one
    // echo, close; twice (the second cycle on fresh connections again).
    let f = d.gen.connect(Kind::FullConnect).unwrap();
    let mut cycles = 0;
    d.until("two full connects", |ev| match ev {
        Event::Cycle(c, _) if *c == f => {
            cycles += 1;
            cycles == 2
        }
        Event::Closed(c, why) if *c == f => panic!("full connect closed: {why}"),
        _ => false,
    });

    d.gen.close_all();
    assert_eq!(d.gen.live(), 0);
}

#[test]
fn another_ca_is_refused_as_a_tls_error_and_insecure_accepts_anything() {
    let _dog = watchdog(60, "tls: trust");
    let pki = pki("the server's CA");
    let server = our_tls_server(&pki);
    let other = self::pki("some other CA");

    let tls = Tls::trusting_ca_pem(other.ca_pem.as_bytes(), "127.0.0.1").unwrap();
    let mut d = Driver::new(target(server.local_addr(), tls));
    let id = d.gen.connect(Kind::EioWs).unwrap();
    let reason = d.closed(id);
    assert_eq!(error_kind(&reason), "tls", "{reason}");
    assert!(reason.contains("certificate"), "{reason}");

    // Any certificate, any name: accepted.
    let tls = Tls::insecure("not-the-name.example").unwrap();
    let mut d = Driver::new(target(server.local_addr(), tls));
    let id = d.gen.connect(Kind::EioWs).unwrap();
    d.ready(id);
    d.gen.send_text(id, "insecure but encrypted");
    assert_eq!(d.message(id), b"insecure but encrypted");
}

#[test]
fn tls_to_a_plain_server_ends_the_connection() {
    let _dog = watchdog(60, "tls: plain server");
    // A plain TCP server that answers the ClientHello with text and closes.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        let (mut tcp, _) = listener.accept().unwrap();
        let mut hello = [0u8; 512];
        let _ = tcp.read(&mut hello);
        let _ = tcp.write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
    });
    let mut d = Driver::new(target(addr, Tls::insecure("127.0.0.1").unwrap()));
    let id = d.gen.connect(Kind::EioWs).unwrap();
    let reason = d.closed(id);
    assert_eq!(error_kind(&reason), "tls", "{reason}");
}

#[test]
fn trust_is_checked_when_it_is_made() {
    let pki = pki("eio-load test CA");
    let e = Tls::trusting_ca_pem(b"", "127.0.0.1").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("no certificate"), "{e}");
    let e = Tls::trusting_ca_pem(pki.ca_pem.as_bytes(), "not a name!").unwrap_err();
    assert!(e.to_string().contains("not a DNS name"), "{e}");
    let e = Tls::trusting_ca_file("/nonexistent/ca.pem".as_ref(), "x").unwrap_err();
    assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
    let a = Tls::insecure("localhost").unwrap();
    assert_eq!(a, a.clone());
    assert_ne!(a, Tls::insecure("localhost").unwrap());
    assert!(format!("{a:?}").contains("localhost"), "{a:?}");
}
