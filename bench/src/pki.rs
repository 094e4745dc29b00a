//! The tls scenario's certificate, made when the run starts (never checked in): a CA
//! and a server certificate for 127.0.0.1 and localhost signed by it (ECDSA P-256,
//! rcgen's default), written to a private temporary directory that is removed when
//! the run ends. The servers get the certificate and key files; the load generator
//! trusts the CA, so that each handshake verifies the chain as a real client would.

use std::io::Write;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};

use eio_load::tls::Tls;

/// What the report says about the certificate.
pub const DESCRIPTION: &str =
    "ECDSA P-256 server certificate for 127.0.0.1, signed by a CA made for the run; the generator trusts that CA";

/// A certificate and its CA, on disk for the run.
pub struct Certificate {
    dir: PathBuf,
    /// The server's certificate (PEM).
    pub cert: PathBuf,
    /// The server's private key (PEM, PKCS#8).
    pub key: PathBuf,
    ca_pem: String,
}

impl Certificate {
    /// Makes a CA and a server certificate, and writes them to a new directory under
    /// the system's temporary directory.
    pub fn generate() -> Result<Certificate, String> {
        let err = |e: rcgen::Error| format!("certificate: {e}");
        let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "eio-bench throwaway CA");
        let ca_key = KeyPair::generate().map_err(err)?;
        let ca_cert = ca.self_signed(&ca_key).map_err(err)?;
        let issuer = Issuer::new(ca, ca_key);
        let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .map_err(err)?;
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().map_err(err)?;
        let cert = leaf.signed_by(&key, &issuer).map_err(err)?;

        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("eio-bench-tls-{}-{nanos:09}", std::process::id()));
        create_private_dir(&dir)?;
        let c = Certificate {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            ca_pem: ca_cert.pem(),
            dir,
        };
        write_private(&c.cert, cert.pem().as_bytes())?;
        write_private(&c.key, key.serialize_pem().as_bytes())?;
        Ok(c)
    }

    /// The arguments that make a contender serve https/wss with it.
    pub fn server_args(&self) -> Vec<String> {
        vec![
            "--tls-cert".into(),
            self.cert.display().to_string(),
            "--tls-key".into(),
            self.key.display().to_string(),
        ]
    }

    /// The generator's TLS: trusting the CA, asking for 127.0.0.1.
    pub fn client(&self) -> Result<Tls, String> {
        Tls::trusting_ca_pem(self.ca_pem.as_bytes(), "127.0.0.1").map_err(|e| format!("tls: {e}"))
    }
}

impl Drop for Certificate {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn create_private_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_is_made_written_privately_and_removed() {
        let c = Certificate::generate().unwrap();
        let dir = c.dir.clone();
        let cert = std::fs::read_to_string(&c.cert).unwrap();
        assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"), "{cert}");
        let key = std::fs::read_to_string(&c.key).unwrap();
        assert!(key.contains("PRIVATE KEY"));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&c.key).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
        assert_eq!(c.server_args()[0], "--tls-cert");
        c.client().unwrap();
        drop(c);
        assert!(!dir.exists());
    }
}
