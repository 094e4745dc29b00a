//! Helpers for the client's TLS tests (`mod tls_support;` next to `mod support;`): a
//! CA and certificates made at test time with rcgen, the official Node.js echo
//! server serving them (optionally requiring client certificates), and the
//! `echo_client` example built with the feature `tls`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};

use crate::support;

/// A certificate authority made for one test.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    /// The CA's certificate, PEM.
    pub pem: String,
    /// The CA's certificate, DER.
    pub der: Vec<u8>,
}

/// A certificate signed by a [`Ca`], with its key.
pub struct Leaf {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PEM (PKCS#8).
    pub key_pem: String,
    /// The certificate, DER.
    pub cert_der: Vec<u8>,
    /// The private key, DER (PKCS#8).
    pub key_der: Vec<u8>,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca {
            issuer: Issuer::new(params, key),
            pem: cert.pem(),
            der: cert.der().to_vec(),
        }
    }

    /// A server certificate for 127.0.0.1 and localhost.
    pub fn server(&self) -> Leaf {
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params)
    }

    /// A client certificate named `name`.
    pub fn client(&self, name: &str) -> Leaf {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params)
    }

    fn sign(&self, params: CertificateParams) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().to_vec(),
            key_der: key.serialize_der(),
        }
    }
}

/// Files in a temporary directory, removed on drop.
pub struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    pub fn new() -> Files {
        Files {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Writes `text` to `name` and returns its path.
    pub fn write(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    }
}

/// The Node.js echo server over TLS with a certificate from `ca`, and, with
/// `client_ca`, requiring client certificates signed by it. Its files live in
/// `files`. None (SKIP) when node is missing and not required.
pub fn node_tls_server(
    what: &str,
    ca: &Ca,
    client_ca: Option<&Ca>,
    files: &Files,
) -> Option<support::ChildServer> {
    if !support::interop_available(what) {
        return None;
    }
    let leaf = ca.server();
    let cert = files.write("server.pem", &leaf.cert_pem);
    let key = files.write("server.key", &leaf.key_pem);
    let mut args = vec!["--tls-cert".to_owned(), cert, "--tls-key".to_owned(), key];
    if let Some(client_ca) = client_ca {
        args.push("--tls-ca".to_owned());
        args.push(files.write("client-ca.pem", &client_ca.pem));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = support::spawn_node_script("tests/interop/node_echo_server.mjs", &args);
    assert!(
        server.base_url.starts_with("https://"),
        "{}",
        server.base_url
    );
    Some(server)
}

/// The `echo_client` example built with the feature `tls` (built once per test
/// process, in the profile of the running test).
pub fn echo_client_tls() -> PathBuf {
    static BUILT: OnceLock<Mutex<Option<PathBuf>>> = OnceLock::new();
    let mut built = BUILT
        .get_or_init(|| Mutex::new(None))
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(path) = built.as_ref() {
        return path.clone();
    }
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let profile_dir = if deps.file_name().is_some_and(|n| n == "deps") {
        deps.parent().unwrap()
    } else {
        deps
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(env!("CARGO_MANIFEST_DIR")).args([
        "build",
        "--example",
        "echo_client",
        "--features",
        "tls",
    ]);
    // What cargo sets for a test process: a build script that watches one of these
    // (ring's watches CARGO_MANIFEST_DIR) would otherwise rebuild each time.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("CARGO_PKG_")
            || [
                "CARGO_MANIFEST_DIR",
                "CARGO_MANIFEST_PATH",
                "CARGO_CRATE_NAME",
                "CARGO_BIN_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
                "CARGO_RUSTC_CURRENT_DIR",
            ]
            .contains(&name.as_ref())
        {
            cmd.env_remove(name.as_ref());
        }
    }
    match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => {}
        Some("release") => {
            cmd.arg("--release");
        }
        Some(other) => {
            cmd.args(["--profile", other]);
        }
    }
    let status = cmd.stdin(Stdio::null()).status().unwrap();
    assert!(status.success(), "{cmd:?}: {status}");
    let path = profile_dir
        .join("examples")
        .join(format!("echo_client{}", std::env::consts::EXE_SUFFIX));
    assert!(path.is_file(), "{}", path.display());
    *built = Some(path.clone());
    path
}

/// The proxy variables the client may read, removed from children's environment
/// so that the machine's own settings change nothing.
pub const PROXY_VARS: &[&str] = &[
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
    "REQUEST_METHOD",
];

/// Runs `echo_client` (TLS build) with `args` and `env` (the proxy variables of
/// the machine removed), for at most 60 s: (success, stdout + stderr).
pub fn run_echo_client(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = Command::new(echo_client_tls());
    cmd.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
        .args(args)
        .args(["--count", "5", "--timeout-secs", "30"]);
    for var in PROXY_VARS {
        cmd.env_remove(var);
    }
    for (name, value) in env {
        cmd.env(name, value);
    }
    support::run_with_timeout(cmd, std::time::Duration::from_secs(60))
}
