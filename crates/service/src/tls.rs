//! TLS 1.3 for the service (protocol-09 §5.2.1) with rustls: a self-signed certificate made
//! with the service's secrets and sealed with them (services made by an earlier build keep the
//! one they made in the data directory), and its SHA-256 fingerprint, which clients pin
//! (`https://HOST:PORT#pin=HEX`).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};

use crate::host::ServiceHost;

/// The service's certificate and key.
pub struct TlsIdentity {
    pub cert: Vec<u8>,
    key: Vec<u8>,
}

impl TlsIdentity {
    /// Load `dir/tls-cert.der` and `dir/tls-key.der`, or make a self-signed pair for
    /// `localhost` and the loopback addresses (the key file readable by its owner only).
    pub fn load_or_create(dir: &Path) -> std::io::Result<Self> {
        let (cert_path, key_path) = (dir.join("tls-cert.der"), dir.join("tls-key.der"));
        if cert_path.exists() && key_path.exists() {
            return Ok(TlsIdentity {
                cert: std::fs::read(cert_path)?,
                key: std::fs::read(key_path)?,
            });
        }
        let identity = Self::generate()?;
        std::fs::create_dir_all(dir)?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        use std::io::Write;
        let mut key_file = options.open(&key_path)?;
        key_file.write_all(&identity.key)?;
        key_file.sync_all()?;
        std::fs::write(&cert_path, &identity.cert)?;
        Ok(identity)
    }

    /// A new self-signed certificate for `localhost` and the loopback addresses, and its key.
    pub fn generate() -> std::io::Result<Self> {
        let names = vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ];
        let made = rcgen::generate_simple_self_signed(names).map_err(std::io::Error::other)?;
        Ok(TlsIdentity {
            cert: made.cert.der().to_vec(),
            key: made.key_pair.serialize_der(),
        })
    }

    /// From a certificate and its PKCS#8 key, both DER (as kept in the service's secrets).
    pub fn from_parts(cert: Vec<u8>, key: Vec<u8>) -> Self {
        TlsIdentity { cert, key }
    }

    /// The PKCS#8 key, DER.
    pub(crate) fn key(&self) -> &[u8] {
        &self.key
    }

    /// The SHA-256 fingerprint clients pin, in hex.
    pub fn fingerprint(&self) -> String {
        hex::encode(Sha256::digest(&self.cert))
    }

    fn server_config(&self) -> std::io::Result<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(std::io::Error::other)?
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(self.cert.clone())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.clone())),
            )
            .map_err(std::io::Error::other)
    }
}

/// Serve over TLS 1.3 until the process is stopped.
pub async fn serve(
    host: Arc<ServiceHost>,
    listen: SocketAddr,
    tls: &TlsIdentity,
    limits: crate::http::ConnectionLimits,
    ready: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls.server_config()?));
    let listener = tokio::net::TcpListener::bind(listen).await?;
    ready(listener.local_addr()?);
    let app = crate::http::router_with(host, limits.body_timeout);
    crate::http::accept_loop(listener, app, Some(acceptor), limits).await
}
