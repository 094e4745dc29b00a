//! TLS for the generator's connections (`https`/`wss`): rustls 0.23 with the ring
//! provider, as everywhere else in the workspace.
//!
//! [`Tls`] says whom a connection trusts (a CA's PEM certificate, any certificate for
//! benchmarks, or any rustls [`ClientConfig`] the caller builds) and which name it
//! asks for. [`TlsStream`] is one connection's TLS session on a non-blocking socket:
//!
//! - **Reading**: the generator reads ciphertext from the socket into its scratch
//!   buffer exactly as it reads a plain connection's bytes; [`TlsStream::read`] hands it
//!   to rustls a piece at a time (`read_tls`, `process_new_packets`) and appends the
//!   plaintext to the connection's input after each piece, so that rustls's plaintext
//!   buffer never fills.
//! - **Writing**: what the connection queued is handed to rustls (`writer`) only once the
//!   handshake is over, so no WebSocket or HTTP byte is written before it; then records
//!   are written (`write_tls`) while rustls has some, until the socket would block.
//! - **Readiness**: the socket is registered for both readable and writable edges for
//!   its whole life (as a plain one is), so a write stopped by `WouldBlock`, a
//!   handshake flight included, resumes at the next writable edge, and the records
//!   rustls produces while reading (the client's handshake flight, alerts) are written
//!   by the flush that follows every read.
//! - **Closing**: [`TlsStream::close_notify`] sends the closing alert, best effort,
//!   before the socket is dropped.
//!
//! A plain connection never touches this module: the generator keeps its socket in an
//! enum (plain or TLS) and its plain arm is the same code as before TLS existed.

use std::fmt;
use std::io::{self, ErrorKind, Read, Write};
use std::path::Path;
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore};

/// Whom a TLS connection trusts, and the server name it asks for (SNI, and the name
/// the certificate must carry: a DNS name or an IP address).
#[derive(Clone)]
pub struct Tls {
    config: Arc<ClientConfig>,
    server_name: ServerName<'static>,
}

impl Tls {
    /// Any rustls client configuration (for example one trusting Mozilla's roots),
    /// for the server called `server_name`.
    ///
    /// # Errors
    ///
    /// `server_name` is neither a DNS name nor an IP address.
    pub fn new(config: Arc<ClientConfig>, server_name: &str) -> io::Result<Tls> {
        let server_name = ServerName::try_from(server_name.to_owned()).map_err(|_| {
            io::Error::new(
                ErrorKind::InvalidInput,
                format!("{server_name:?} is not a DNS name or an IP address"),
            )
        })?;
        Ok(Tls {
            config,
            server_name,
        })
    }

    /// Trusts the CA certificates in `pem` (and nothing else).
    ///
    /// # Errors
    ///
    /// `pem` holds no certificate, or one rustls refuses; or `server_name` is invalid.
    pub fn trusting_ca_pem(pem: &[u8], server_name: &str) -> io::Result<Tls> {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| invalid(format!("bad CA certificate: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| invalid(format!("bad CA certificate: {e}")))?;
        }
        if roots.is_empty() {
            return Err(invalid("no certificate in the CA PEM".into()));
        }
        let config = builder()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Tls::new(Arc::new(config), server_name)
    }

    /// Trusts the CA certificates in the PEM file at `path` (and nothing else).
    ///
    /// # Errors
    ///
    /// As [`trusting_ca_pem`](Self::trusting_ca_pem), or the file cannot be read.
    pub fn trusting_ca_file(path: &Path, server_name: &str) -> io::Result<Tls> {
        let pem = std::fs::read(path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        Tls::trusting_ca_pem(&pem, server_name)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
    }

    /// Accepts any certificate, for any name (a benchmark's throwaway certificate);
    /// handshake signatures are still checked. Never for anything but tests.
    ///
    /// # Errors
    ///
    /// `server_name` is invalid.
    pub fn insecure(server_name: &str) -> io::Result<Tls> {
        Tls::new(insecure_config()?, server_name)
    }

    /// The rustls configuration.
    pub fn config(&self) -> &Arc<ClientConfig> {
        &self.config
    }

    /// The server name asked for.
    pub fn server_name(&self) -> &ServerName<'static> {
        &self.server_name
    }

    /// A TLS session on a socket that is connecting (or connected).
    pub(crate) fn stream(&self, tcp: TcpStream) -> io::Result<TlsStream> {
        let conn = ClientConnection::new(Arc::clone(&self.config), self.server_name.clone())
            .map_err(|e| io::Error::other(format!("tls: {e}")))?;
        Ok(TlsStream { tcp, conn })
    }
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

/// Two are equal when they name the same server with the same configuration (the
/// same `Arc`).
impl PartialEq for Tls {
    fn eq(&self, other: &Tls) -> bool {
        Arc::ptr_eq(&self.config, &other.config) && self.server_name == other.server_name
    }
}

impl Eq for Tls {}

/// A rustls client configuration that accepts any certificate, for any name (the one
/// of [`Tls::insecure`], for other TLS clients of a test server); handshake signatures
/// are still checked. Never for anything but tests.
///
/// # Errors
///
/// The ring provider offers no safe protocol version (it always does).
pub fn insecure_config() -> io::Result<Arc<ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn builder() -> io::Result<rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier>> {
    ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(e.to_string()))
}

fn invalid(message: String) -> io::Error {
    io::Error::new(ErrorKind::InvalidInput, message)
}

/// The verifier of [`Tls::insecure`]: every certificate is accepted; the handshake's
/// signatures are still verified (with the certificate's key).
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
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
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// One connection's TLS session over its non-blocking socket.
pub(crate) struct TlsStream {
    pub(crate) tcp: TcpStream,
    conn: ClientConnection,
}

impl TlsStream {
    /// Whether the handshake is still under way (queued plaintext waits for its end).
    pub(crate) fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// Reads what the socket has (until a short read or `WouldBlock`, as a plain
    /// connection does), decrypts it and appends the plaintext to `input`. `true` when
    /// the server has ended the connection (its close alert, or the socket's end).
    ///
    /// Errors are close reasons: `read: …` for the socket, `tls: …` for TLS (an alert
    /// for the server is written first, best effort).
    pub(crate) fn read(&mut self, scratch: &mut [u8], input: &mut Vec<u8>) -> Result<bool, String> {
        loop {
            match self.tcp.read(scratch) {
                Ok(0) => return Ok(true),
                Ok(n) => {
                    if self.absorb(&scratch[..n], input)? {
                        return Ok(true);
                    }
                    if n < scratch.len() {
                        // Drained: the next arrival is a new edge (see gen.rs).
                        return Ok(false);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("read: {e}")),
            }
        }
    }

    /// Hands `ciphertext` to rustls a piece at a time, moving the plaintext of each
    /// piece to `input`; `true` once the server's close alert has come.
    fn absorb(&mut self, mut ciphertext: &[u8], input: &mut Vec<u8>) -> Result<bool, String> {
        // Never with an empty slice: rustls takes a read of 0 bytes for the socket's end.
        while !ciphertext.is_empty() {
            match self.conn.read_tls(&mut ciphertext) {
                // rustls takes nothing after the server's close alert.
                Ok(0) => return Ok(true),
                Ok(_) => {}
                Err(e) => return Err(format!("tls: {e}")),
            }
            let state = match self.conn.process_new_packets() {
                Ok(state) => state,
                Err(e) => {
                    // rustls queued an alert saying why: let the server know.
                    let _ = self.conn.write_tls(&mut self.tcp);
                    return Err(format!("tls: {e}"));
                }
            };
            let n = state.plaintext_bytes_to_read();
            if n > 0 {
                let start = input.len();
                input.resize(start + n, 0);
                self.conn
                    .reader()
                    .read_exact(&mut input[start..])
                    .map_err(|e| format!("tls: {e}"))?;
            }
            if state.peer_has_closed() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Encrypts what is queued in `out[*pos..]` (advancing `pos`) once the handshake
    /// is over, and writes records until rustls has none left or the socket would
    /// block.
    pub(crate) fn write(&mut self, out: &[u8], pos: &mut usize) -> io::Result<()> {
        loop {
            if *pos < out.len() && !self.conn.is_handshaking() {
                // rustls takes what fits in its buffer (64 KiB); the rest stays queued.
                *pos += self.conn.writer().write(&out[*pos..])?;
            }
            if !self.conn.wants_write() {
                return Ok(());
            }
            match self.conn.write_tls(&mut self.tcp) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends the closing alert, as far as the socket takes it without blocking.
    pub(crate) fn close_notify(&mut self) {
        self.conn.send_close_notify();
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut self.tcp) {
                Ok(n) if n > 0 => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                _ => break,
            }
        }
    }

    /// `TLSv1_3 TLS13_AES_256_GCM_SHA384`, once the handshake has agreed on them.
    pub(crate) fn describe(&self) -> Option<String> {
        let version = self.conn.protocol_version()?;
        let suite = self.conn.negotiated_cipher_suite()?;
        Some(format!("{version:?} {:?}", suite.suite()))
    }
}
