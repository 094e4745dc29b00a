//! TLS for the client (feature `tls`): one set of trusted roots and an optional client
//! certificate, applied to ureq for polling and to a rustls client configuration for
//! the WebSocket.
//!
//! The WebSocket's TLS stream is split into a read half and a write half sharing one
//! rustls connection under a lock ([`TlsRead`], [`TlsWrite`]). The lock is held only
//! to encrypt or decrypt: the reader blocks in the socket's `read` without it, and a
//! writer encrypts under it, then writes the records after letting it go. Records
//! reach the socket in the order rustls made them: they queue in one buffer, which
//! whoever holds the socket's sending side writes out.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::client::deadline::{self, DeadlineStream, Timer};
use crate::{Error, ErrorKind, Result};

/// The built-in sets of root certificates the client can trust for `https` and
/// `wss` (feature `tls`), chosen with
/// [`ClientBuilder::tls_roots`](crate::client::ClientBuilder::tls_roots).
///
/// Roots given with
/// [`root_certificate_pem`](crate::client::ClientBuilder::root_certificate_pem) or
/// [`root_certificate_der`](crate::client::ClientBuilder::root_certificate_der) are
/// trusted in addition to the set chosen here. Without `tls_roots`, the client
/// trusts [`Mozilla`](TlsRoots::Mozilla), or, once a root is given, the given roots
/// alone.
///
/// ```
/// use engineio::client::{Client, TlsRoots};
///
/// let client = Client::builder("https://example.com")
///     .tls_roots(TlsRoots::MozillaAndOs)
///     .build()?;
/// # Ok::<(), engineio::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsRoots {
    /// Mozilla's root certificates, compiled into the program (the `webpki-roots`
    /// crate): the same on every machine, updated with the crate, not with the
    /// operating system.
    Mozilla,
    /// The operating system's trust store, read by
    /// [`build`](crate::client::ClientBuilder::build) (the `rustls-native-certs`
    /// crate): on Linux the distribution's bundle (`/etc/ssl/certs` and the like, or
    /// the files named by `SSL_CERT_FILE` and `SSL_CERT_DIR` when set), on macOS the
    /// keychains' trust settings, on Windows the system's `ROOT` store. This includes
    /// roots an administrator added (a company CA). Certificates of the store that
    /// cannot be read or parsed are skipped with a warning in the log;
    /// [`build`](crate::client::ClientBuilder::build) fails with
    /// [`ErrorKind::Tls`] when none is usable.
    Os,
    /// Both of the above.
    MozillaAndOs,
}

/// A client certificate as the user gave it.
#[derive(Clone)]
pub(crate) enum ClientCert {
    Pem { chain: Vec<u8>, key: Vec<u8> },
    Der { chain: Vec<Vec<u8>>, key: Vec<u8> },
}

/// What the user asked for.
#[derive(Clone, Default)]
pub(crate) struct TlsOptions {
    pub(crate) roots: Option<TlsRoots>,
    pub(crate) roots_pem: Vec<Vec<u8>>,
    pub(crate) roots_der: Vec<Vec<u8>>,
    pub(crate) client_cert: Option<ClientCert>,
    pub(crate) accept_invalid: bool,
}

/// The checked TLS settings, ready for both transports.
pub(crate) struct Tls {
    pub(crate) ureq: ureq::tls::TlsConfig,
    pub(crate) rustls: Arc<ClientConfig>,
    /// A client certificate is configured.
    pub(crate) client_cert: bool,
}

fn tls_error(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Tls, message)
}

/// Whether an I/O error is a TLS failure, and what to add to its message: `None`
/// when it is not one; `Some("")` for a rustls error (a refused certificate, an alert
/// from the server, a malformed record), which says it all; a note for a connection
/// ended without TLS's `close_notify`, and, with `connecting_with_cert` (the client
/// presented a certificate and awaits the server's first answer), for a connection
/// reset: that is how some servers (Node.js) refuse a client certificate after a
/// TLS 1.3 handshake, without an alert. The caller reports it as [`ErrorKind::Tls`].
pub(crate) fn tls_io_failure(e: &io::Error, connecting_with_cert: bool) -> Option<&'static str> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = e
        .get_ref()
        .map(|inner| inner as &(dyn std::error::Error + 'static));
    while let Some(inner) = source {
        if inner.downcast_ref::<rustls::Error>().is_some() {
            return Some("");
        }
        source = inner.source();
    }
    // rustls's wording for a TLS stream cut short; it has no error type of its own.
    if e.kind() == io::ErrorKind::UnexpectedEof && e.to_string().contains("close_notify") {
        return Some(
            " (the server ended the TLS connection without closing it: servers that require \
             a client certificate do so when they refuse one)",
        );
    }
    let dropped = matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    );
    (connecting_with_cert && dropped).then_some(
        " (the server dropped the connection after the TLS handshake: servers that require \
         a client certificate do so when they refuse the one presented)",
    )
}

/// The certificates of PEM `text`, at least one, or a TLS error naming `what`.
fn pem_certificates(text: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let mut certs = Vec::new();
    for cert in CertificateDer::pem_slice_iter(text) {
        certs.push(cert.map_err(|e| {
            tls_error(format!("cannot read the {what}")).with_source(e.to_string())
        })?);
    }
    if certs.is_empty() {
        return Err(tls_error(format!("no CERTIFICATE block in the {what}")));
    }
    Ok(certs)
}

/// The client certificate's chain and key, parsed (not yet checked against each
/// other: rustls does that).
fn client_cert(
    cert: &ClientCert,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    match cert {
        ClientCert::Pem { chain, key } => {
            let chain = pem_certificates(chain, "PEM client certificate")?;
            let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| {
                match e {
                rustls::pki_types::pem::Error::NoItemsFound => tls_error(
                    "no PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block in the PEM client key \
                     (encrypted keys are not supported)",
                ),
                e => tls_error("cannot read the PEM client key").with_source(e.to_string()),
            }
            })?;
            Ok((chain, key))
        }
        ClientCert::Der { chain, key } => {
            if chain.is_empty() {
                return Err(tls_error("the client certificate chain is empty"));
            }
            let chain = chain
                .iter()
                .map(|der| CertificateDer::from(der.clone()))
                .collect();
            let key = PrivateKeyDer::try_from(key.clone()).map_err(|e| {
                tls_error("cannot read the DER client key (PKCS#8, PKCS#1 or SEC1 expected)")
                    .with_source(e)
            })?;
            Ok((chain, key))
        }
    }
}

/// The operating system's root certificates; unreadable ones are logged and
/// skipped, none at all is an error.
fn os_roots() -> Result<Vec<CertificateDer<'static>>> {
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        log::warn!("engineio client: skipping part of the operating system's trust store: {e}");
    }
    if found.certs.is_empty() {
        let error = tls_error("no certificate found in the operating system's trust store");
        return Err(match found.errors.first() {
            Some(e) => error.with_source(e.to_string()),
            None => error,
        });
    }
    Ok(found.certs)
}

/// The key for ureq, which takes it in PEM (its key kinds are not public).
fn ureq_key(key: &PrivateKeyDer<'_>) -> Result<ureq::tls::PrivateKey<'static>> {
    use base64::Engine;
    let label = match key {
        PrivateKeyDer::Pkcs1(_) => "RSA PRIVATE KEY",
        PrivateKeyDer::Sec1(_) => "EC PRIVATE KEY",
        _ => "PRIVATE KEY",
    };
    let body = base64::engine::general_purpose::STANDARD.encode(key.secret_der());
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    ureq::tls::PrivateKey::from_pem(pem.as_bytes())
        .map_err(|e| tls_error("cannot use the client key").with_source(e))
}

impl Tls {
    pub(crate) fn new(options: TlsOptions) -> Result<Tls> {
        let mut given: Vec<CertificateDer<'static>> = Vec::new();
        for pem in &options.roots_pem {
            given.extend(pem_certificates(pem, "PEM root certificate")?);
        }
        for der in &options.roots_der {
            given.push(CertificateDer::from(der.clone()));
        }
        let roots = match options.roots {
            Some(roots) => Some(roots),
            None if given.is_empty() => Some(TlsRoots::Mozilla),
            None => None,
        };
        let mozilla = matches!(roots, Some(TlsRoots::Mozilla | TlsRoots::MozillaAndOs));
        let os = if matches!(roots, Some(TlsRoots::Os | TlsRoots::MozillaAndOs))
            && !options.accept_invalid
        {
            os_roots()?
        } else {
            Vec::new()
        };
        let client_cert = options.client_cert.as_ref().map(client_cert).transpose()?;

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_error("no TLS protocol version available").with_source(e))?;
        let builder = if options.accept_invalid {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
        } else {
            let mut store = RootCertStore::empty();
            if mozilla {
                store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            }
            let (_, ignored) = store.add_parsable_certificates(os.iter().cloned());
            if ignored > 0 {
                log::warn!(
                    "engineio client: skipping {ignored} certificates of the operating system's trust store that cannot be parsed"
                );
            }
            for cert in &given {
                store
                    .add(cert.clone())
                    .map_err(|e| tls_error("cannot use a root certificate").with_source(e))?;
            }
            if store.is_empty() {
                return Err(tls_error(
                    "no usable root certificate in the operating system's trust store",
                ));
            }
            builder.with_root_certificates(store)
        };
        let rustls_config = match &client_cert {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain.clone(), key.clone_key())
                .map_err(|e| {
                    tls_error("the client certificate and key cannot be used together")
                        .with_source(e)
                })?,
            None => builder.with_no_client_auth(),
        };

        // ureq takes either Mozilla's roots alone or a list of certificates: Mozilla's
        // roots then come as certificates from webpki-root-certs (the same list).
        let ureq_roots = if mozilla && os.is_empty() && given.is_empty() {
            ureq::tls::RootCerts::WebPki
        } else {
            let mozilla_certs: &[CertificateDer<'static>] = if mozilla {
                webpki_root_certs::TLS_SERVER_ROOT_CERTS
            } else {
                &[]
            };
            ureq::tls::RootCerts::new_with_certs(
                &mozilla_certs
                    .iter()
                    .chain(&os)
                    .chain(&given)
                    .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
                    .collect::<Vec<_>>(),
            )
        };
        let ureq_client_cert = match &client_cert {
            Some((chain, key)) => Some(ureq::tls::ClientCert::new_with_certs(
                &chain
                    .iter()
                    .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
                    .collect::<Vec<_>>(),
                ureq_key(key)?,
            )),
            None => None,
        };
        let ureq_config = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .root_certs(ureq_roots)
            .client_cert(ureq_client_cert)
            .disable_verification(options.accept_invalid)
            .build();
        Ok(Tls {
            ureq: ureq_config,
            rustls: Arc::new(rustls_config),
            client_cert: client_cert.is_some(),
        })
    }

    /// Runs the TLS handshake on `tcp`, by `deadline`, and splits the result into a
    /// read half and a write half. The read half's own TLS output (alerts, key
    /// updates) is written within `timeout`.
    pub(crate) fn connect(
        &self,
        host: &str,
        tcp: TcpStream,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<(TlsRead, TlsWrite)> {
        let name = ServerName::try_from(host.to_owned())
            .map_err(|_| tls_error(format!("{host:?} is not a valid TLS server name")))?;
        let mut conn = ClientConnection::new(Arc::clone(&self.rustls), name)
            .map_err(|e| tls_error("cannot start TLS").with_source(e))?;
        let mut stream = DeadlineStream::new(&tcp, deadline);
        while conn.is_handshaking() {
            conn.complete_io(&mut stream).map_err(classify_tls_io)?;
        }
        let halves = Arc::new(Halves {
            shared: Mutex::new(TlsShared {
                conn,
                pending: Vec::new(),
            }),
            out: Mutex::new(TlsOut {
                socket: tcp.try_clone()?,
                buf: Vec::new(),
                timer: Timer::default(),
            }),
            timeout,
        });
        Ok((
            TlsRead {
                socket: tcp,
                halves: Arc::clone(&halves),
                raw: vec![0; 16 * 1024],
                start: 0,
                end: 0,
                eof: false,
                deadline: None,
                timer: Timer::default(),
                produced: false,
            },
            TlsWrite { halves },
        ))
    }
}

/// A TLS handshake I/O error: certificate problems are [`ErrorKind::Tls`], timeouts
/// [`ErrorKind::Timeout`], the rest [`ErrorKind::Connect`].
fn classify_tls_io(e: io::Error) -> Error {
    match e.kind() {
        _ if tls_io_failure(&e, false).is_some() => {
            tls_error("TLS handshake failed").with_source(e)
        }
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            Error::new(ErrorKind::Timeout, "TLS handshake timed out").with_source(e)
        }
        io::ErrorKind::InvalidData => tls_error("TLS handshake failed").with_source(e),
        _ => Error::new(ErrorKind::Connect, "TLS handshake failed").with_source(e),
    }
}

/// The rustls connection, shared by both halves. Its lock is held for CPU work only
/// (encrypting, decrypting), never across a socket call.
struct TlsShared {
    conn: ClientConnection,
    /// TLS records produced and not yet handed to the socket, in order.
    pending: Vec<u8>,
}

impl TlsShared {
    /// Moves what rustls wants to send into `pending` (no I/O).
    fn take_output(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            self.conn.write_tls(&mut self.pending)?;
        }
        Ok(())
    }
}

/// The socket's sending side. Whoever holds it writes `pending` out, so records
/// reach the socket in the order rustls produced them.
struct TlsOut {
    socket: TcpStream,
    /// Swapped with `pending` to write it without the rustls lock.
    buf: Vec<u8>,
    timer: Timer,
}

struct Halves {
    shared: Mutex<TlsShared>,
    out: Mutex<TlsOut>,
    /// Bounds the reader's own writes.
    timeout: Duration,
}

impl Halves {
    /// Writes every pending record, by `deadline`, with the sending side held.
    fn flush_locked(&self, out: &mut TlsOut, deadline: Instant) -> io::Result<()> {
        loop {
            std::mem::swap(&mut self.shared.lock().pending, &mut out.buf);
            if out.buf.is_empty() {
                return Ok(());
            }
            let written = deadline::write_all(&out.socket, &out.buf, deadline, &mut out.timer);
            out.buf.clear();
            written?;
        }
    }

    /// Writes pending records unless another thread holds the sending side (it
    /// writes them before it is done: every holder checks again after letting go).
    fn flush_if_free(&self) -> io::Result<()> {
        loop {
            if self.shared.lock().pending.is_empty() {
                return Ok(());
            }
            let Some(mut out) = self.out.try_lock() else {
                return Ok(());
            };
            self.flush_locked(&mut out, Instant::now() + self.timeout)?;
        }
    }
}

/// What one turn of [`TlsRead::read`] leads to.
enum Step {
    Done(io::Result<usize>),
    /// rustls took new records: look for plaintext again.
    Again,
    /// rustls needs more bytes from the socket.
    ReadSocket,
}

/// The read half: reads TLS records from the socket without the lock, then takes it
/// to decrypt them.
pub(crate) struct TlsRead {
    socket: TcpStream,
    halves: Arc<Halves>,
    raw: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    deadline: Option<Instant>,
    timer: Timer,
    /// The last step left records for the socket.
    produced: bool,
}

impl TlsRead {
    /// Socket reads end by `deadline` (`None`: they wait as long as it takes).
    pub(crate) fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    fn step(&mut self, buf: &mut [u8]) -> Step {
        let mut shared = self.halves.shared.lock();
        match shared.conn.reader().read(buf) {
            Ok(n) => return Step::Done(Ok(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Step::Done(Err(e)),
        }
        if self.start == self.end && !self.eof {
            return Step::ReadSocket;
        }
        let mut pending = &self.raw[self.start..self.end];
        match shared.conn.read_tls(&mut pending) {
            Ok(n) => self.start += n,
            Err(e) => return Step::Done(Err(e)),
        }
        let state = shared.conn.process_new_packets();
        // Alerts and key updates go out even when processing failed.
        let taken = shared.take_output();
        self.produced = !shared.pending.is_empty();
        if let Err(e) = state {
            return Step::Done(Err(io::Error::new(io::ErrorKind::InvalidData, e)));
        }
        if let Err(e) = taken {
            return Step::Done(Err(e));
        }
        if self.eof && self.start == self.end {
            // rustls has seen the end of the stream: the next read of the plaintext
            // says Ok(0) or UnexpectedEof, never WouldBlock.
            return Step::Done(match shared.conn.reader().read(buf) {
                Ok(n) => Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
                Err(e) => Err(e),
            });
        }
        Step::Again
    }
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
            let step = self.step(buf);
            // Records this read produced (alerts, key updates) go out now, unless a
            // writer is busy: it sends them when done.
            let flushed = if std::mem::take(&mut self.produced) {
                self.halves.flush_if_free()
            } else {
                Ok(())
            };
            match step {
                Step::Done(result) => {
                    let n = result?;
                    flushed?;
                    return Ok(n);
                }
                Step::Again => flushed?,
                Step::ReadSocket => {
                    flushed?;
                    let n = deadline::read(
                        &self.socket,
                        &mut self.raw,
                        self.deadline,
                        &mut self.timer,
                    )?;
                    self.start = 0;
                    self.end = n;
                    self.eof = n == 0;
                }
            }
        }
    }
}

/// The write half: encrypts under the rustls lock, then writes the records without
/// it, so the reader keeps decrypting while a write waits for the network.
pub(crate) struct TlsWrite {
    halves: Arc<Halves>,
}

impl fmt::Debug for TlsWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsWrite").finish_non_exhaustive()
    }
}

impl TlsWrite {
    /// Encrypts `buf` and writes it, with any records still pending, by `deadline`.
    /// rustls takes a bounded amount of plaintext at a time (64 KiB of records), so a
    /// large `buf` is encrypted and written a piece at a time, with the sending side
    /// held throughout.
    pub(crate) fn write_all(&self, buf: &[u8], deadline: Instant) -> io::Result<()> {
        let mut out = self
            .halves
            .out
            .try_lock_until(deadline)
            .ok_or_else(deadline::timed_out)?;
        let mut rest = buf;
        let written = loop {
            let taken = {
                let mut shared = self.halves.shared.lock();
                shared
                    .conn
                    .writer()
                    .write(rest)
                    .and_then(|n| shared.take_output().map(|()| n))
            };
            let n = match taken {
                Ok(n) => n,
                Err(e) => break Err(e),
            };
            rest = &rest[n..];
            if let Err(e) = self.halves.flush_locked(&mut out, deadline) {
                break Err(e);
            }
            if rest.is_empty() {
                break Ok(());
            }
            if n == 0 {
                break Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "the TLS connection takes no more data",
                ));
            }
        };
        drop(out);
        written?;
        self.halves.flush_if_free()
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
