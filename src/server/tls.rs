//! HTTPS and WSS (feature `tls`): the certificate an [`App`](super::App) serves,
//! replaceable while it runs.

use std::io;
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::RwLock;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::http::stream::Stream;
use crate::{Error, ErrorKind, Result};

/// The TLS configuration of an [`App`](super::App): a certificate chain and its
/// private key (or any rustls [`ServerConfig`](rustls::ServerConfig), for client
/// certificates and other settings). rustls with the ring provider; HTTP/1.1 only
/// (ALPN `http/1.1`).
///
/// It is a handle: clones share the certificate, and [`replace`](Self::replace) or
/// [`reload_pem_files`](Self::reload_pem_files) swap it for new connections (a renewed
/// certificate) while connections already open keep theirs.
///
/// ```no_run
/// use engineio::server::{App, Server, TlsConfig};
///
/// let tls = TlsConfig::from_pem_files("cert.pem", "key.pem")?;
/// let running = App::new(Server::builder().build()?)
///     .tls(tls.clone())
///     .listen("0.0.0.0:443")?;
/// // Later, after the certificate was renewed on disk:
/// tls.reload_pem_files("cert.pem", "key.pem")?;
/// running.wait();
/// # Ok::<(), engineio::Error>(())
/// ```
#[derive(Clone)]
pub struct TlsConfig {
    current: Arc<RwLock<Arc<rustls::ServerConfig>>>,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig").finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// A certificate chain (leaf first) and its private key, from PEM files.
    ///
    /// # Errors
    /// [`ErrorKind::Io`] if a file cannot be read; [`ErrorKind::Tls`] if they hold no
    /// certificate or no key, or the key does not suit rustls.
    pub fn from_pem_files(
        cert_chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<TlsConfig> {
        Ok(TlsConfig::new(config_from_pem_files(
            cert_chain.as_ref(),
            key.as_ref(),
        )?))
    }

    /// A certificate chain (leaf first) and its private key, as PEM text.
    ///
    /// ```
    /// # fn pem() -> (Vec<u8>, Vec<u8>) { (Vec::new(), Vec::new()) }
    /// let (cert, key) = pem();
    /// let tls = engineio::server::TlsConfig::from_pem(&cert, &key);
    /// assert!(tls.is_err()); // (empty PEM here)
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::Tls`] if they hold no certificate or no key, or the key does not
    /// suit rustls.
    pub fn from_pem(cert_chain: &[u8], key: &[u8]) -> Result<TlsConfig> {
        Ok(TlsConfig::new(config_from_pem(cert_chain, key)?))
    }

    /// Any rustls server configuration (for example one that verifies client
    /// certificates). Built with the ring provider, it should offer ALPN `http/1.1`
    /// if it offers ALPN at all.
    pub fn from_rustls(config: Arc<rustls::ServerConfig>) -> TlsConfig {
        TlsConfig::new(config)
    }

    fn new(config: Arc<rustls::ServerConfig>) -> TlsConfig {
        TlsConfig {
            current: Arc::new(RwLock::new(config)),
        }
    }

    /// Swaps in another configuration: new connections use it, open ones keep theirs.
    pub fn replace(&self, other: &TlsConfig) {
        let next = other.current.read().clone();
        *self.current.write() = next;
    }

    /// Reads a renewed certificate and key from PEM files and swaps them in, as
    /// [`replace`](Self::replace) does. Nothing changes if they cannot be used.
    ///
    /// # Errors
    /// As [`from_pem_files`](Self::from_pem_files).
    pub fn reload_pem_files(
        &self,
        cert_chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<()> {
        let next = config_from_pem_files(cert_chain.as_ref(), key.as_ref())?;
        *self.current.write() = next;
        Ok(())
    }

    /// The TLS side of a new connection: the handshake, on the caller's thread, by
    /// `deadline`.
    pub(crate) fn accept(&self, tcp: Arc<TcpStream>, deadline: Instant) -> io::Result<Stream> {
        let config = self.current.read().clone();
        Stream::tls(tcp, config, deadline)
    }
}

fn tls_error(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Tls, message)
}

fn config_from_pem_files(cert_chain: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>> {
    let cert_pem = std::fs::read(cert_chain).map_err(|e| {
        Error::from(e).with_source(tls_error(format!("reading {}", cert_chain.display())))
    })?;
    let key_pem = std::fs::read(key)
        .map_err(|e| Error::from(e).with_source(tls_error(format!("reading {}", key.display()))))?;
    config_from_pem(&cert_pem, &key_pem)
}

fn config_from_pem(cert_chain: &[u8], key: &[u8]) -> Result<Arc<rustls::ServerConfig>> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_chain)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| tls_error(format!("the certificate chain is not valid PEM: {e}")))?;
    if chain.is_empty() {
        return Err(tls_error("no certificate in the certificate chain's PEM"));
    }
    let key = PrivateKeyDer::from_pem_slice(key)
        .map_err(|e| tls_error(format!("no usable private key in the key's PEM: {e}")))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| tls_error(e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .map_err(|e| tls_error(format!("the certificate and key cannot be used: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
