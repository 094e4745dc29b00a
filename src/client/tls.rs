//! TLS for the client (feature `tls`): one set of trusted roots, applied to ureq for
//! polling and to a rustls client configuration for the WebSocket.
//!
//! The WebSocket's TLS stream is split into a read half and a write half sharing one
//! rustls connection under a lock ([`TlsRead`], [`TlsWrite`]): the reader blocks in
//! the socket's `read` without holding the lock, so writers never wait for a read
//! timeout, and no polling is needed.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use parking_lot::Mutex;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::{Error, ErrorKind, Result};

/// What the user asked for.
#[derive(Clone, Default)]
pub(crate) struct TlsOptions {
    pub(crate) roots_pem: Vec<Vec<u8>>,
    pub(crate) roots_der: Vec<Vec<u8>>,
    pub(crate) accept_invalid: bool,
}

/// The checked TLS settings, ready for both transports.
pub(crate) struct Tls {
    pub(crate) ureq: ureq::tls::TlsConfig,
    pub(crate) rustls: Arc<ClientConfig>,
}

fn tls_error(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Tls, message)
}

impl Tls {
    pub(crate) fn new(options: TlsOptions) -> Result<Tls> {
        let mut roots: Vec<CertificateDer<'static>> = Vec::new();
        for pem in &options.roots_pem {
            let before = roots.len();
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| {
                    tls_error("cannot read a PEM root certificate").with_source(e.to_string())
                })?;
                roots.push(cert);
            }
            if roots.len() == before {
                return Err(tls_error(
                    "no CERTIFICATE block in the PEM root certificate",
                ));
            }
        }
        for der in &options.roots_der {
            roots.push(CertificateDer::from(der.clone()));
        }

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_error("no TLS protocol version available").with_source(e))?;
        let rustls_config = if options.accept_invalid {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
                .with_no_client_auth()
        } else {
            let mut store = RootCertStore::empty();
            if roots.is_empty() {
                store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            } else {
                for cert in &roots {
                    store
                        .add(cert.clone())
                        .map_err(|e| tls_error("cannot use a root certificate").with_source(e))?;
                }
            }
            builder.with_root_certificates(store).with_no_client_auth()
        };

        let ureq_roots = if roots.is_empty() {
            ureq::tls::RootCerts::WebPki
        } else {
            ureq::tls::RootCerts::new_with_certs(
                &roots
                    .iter()
                    .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
                    .collect::<Vec<_>>(),
            )
        };
        let ureq_config = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .root_certs(ureq_roots)
            .disable_verification(options.accept_invalid)
            .build();
        Ok(Tls {
            ureq: ureq_config,
            rustls: Arc::new(rustls_config),
        })
    }

    /// Runs the TLS handshake on `tcp` (whose timeouts bound it) and splits the
    /// result into a read half and a write half.
    pub(crate) fn connect(&self, host: &str, tcp: TcpStream) -> Result<(TlsRead, TlsWrite)> {
        let name = ServerName::try_from(host.to_owned())
            .map_err(|_| tls_error(format!("{host:?} is not a valid TLS server name")))?;
        let mut conn = ClientConnection::new(Arc::clone(&self.rustls), name)
            .map_err(|e| tls_error("cannot start TLS").with_source(e))?;
        let mut stream = &tcp;
        while conn.is_handshaking() {
            conn.complete_io(&mut stream).map_err(classify_tls_io)?;
        }
        let write_socket = tcp.try_clone()?;
        let shared = Arc::new(Mutex::new(TlsShared {
            conn,
            socket: write_socket,
        }));
        Ok((
            TlsRead {
                socket: tcp,
                shared: Arc::clone(&shared),
                raw: vec![0; 16 * 1024],
                start: 0,
                end: 0,
                eof: false,
            },
            TlsWrite { shared },
        ))
    }
}

/// A TLS handshake I/O error: certificate problems are [`ErrorKind::Tls`], timeouts
/// [`ErrorKind::Timeout`], the rest [`ErrorKind::Connect`].
fn classify_tls_io(e: io::Error) -> Error {
    let is_tls = e
        .get_ref()
        .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some());
    match e.kind() {
        _ if is_tls => tls_error("TLS handshake failed").with_source(e),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            Error::new(ErrorKind::Timeout, "TLS handshake timed out").with_source(e)
        }
        io::ErrorKind::InvalidData => tls_error("TLS handshake failed").with_source(e),
        _ => Error::new(ErrorKind::Connect, "TLS handshake failed").with_source(e),
    }
}

struct TlsShared {
    conn: ClientConnection,
    socket: TcpStream,
}

impl TlsShared {
    fn write_pending(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            self.conn.write_tls(&mut self.socket)?;
        }
        Ok(())
    }
}

/// The read half: reads TLS records from the socket without the lock, then takes it
/// to decrypt them.
pub(crate) struct TlsRead {
    socket: TcpStream,
    shared: Arc<Mutex<TlsShared>>,
    raw: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
}

impl fmt::Debug for TlsRead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsRead").finish_non_exhaustive()
    }
}

impl Read for TlsRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            {
                let mut shared = self.shared.lock();
                match shared.conn.reader().read(buf) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
                if self.start < self.end || self.eof {
                    let mut pending = &self.raw[self.start..self.end];
                    let n = shared.conn.read_tls(&mut pending)?;
                    self.start += n;
                    let state = shared.conn.process_new_packets();
                    // Alerts and key updates go out even when processing failed.
                    let written = shared.write_pending();
                    state.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                    written?;
                    if self.eof && self.start == self.end {
                        // rustls has seen the end of the stream: the next read of the
                        // plaintext says Ok(0) or UnexpectedEof, never WouldBlock.
                        match shared.conn.reader().read(buf) {
                            Ok(n) => return Ok(n),
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(0),
                            Err(e) => return Err(e),
                        }
                    }
                    continue;
                }
            }
            let n = self.socket.read(&mut self.raw)?;
            self.start = 0;
            self.end = n;
            self.eof = n == 0;
        }
    }
}

/// The write half: encrypts under the lock and writes the records at once.
pub(crate) struct TlsWrite {
    shared: Arc<Mutex<TlsShared>>,
}

impl fmt::Debug for TlsWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsWrite").finish_non_exhaustive()
    }
}

impl Write for TlsWrite {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut shared = self.shared.lock();
        let mut rest = buf;
        while !rest.is_empty() {
            let n = shared.conn.writer().write(rest)?;
            rest = &rest[n..];
            shared.write_pending()?;
            if n == 0 && !rest.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "TLS connection accepts no more data",
                ));
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let mut shared = self.shared.lock();
        shared.write_pending()?;
        shared.socket.flush()
    }
}

/// The verifier behind [`danger_accept_invalid_certs`]: any certificate is accepted,
/// but handshake signatures are still checked (against the certificate presented).
///
/// [`danger_accept_invalid_certs`]: crate::client::ClientBuilder::danger_accept_invalid_certs
#[derive(Debug)]
struct AcceptAnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
