//! The HTTP side of the client: POST a sealed request to a service and return the sealed
//! response, whatever the HTTP status (the payload's status is authoritative, §5.5).

use std::time::Duration;

use crate::binding::WELL_KNOWN;
use crate::{ProtocolError, Result};

/// Where a service is: `--service URL` when given, else `https://DOMAIN/.well-known/mmm/`.
/// (DNS SRV lookup of `_mmm._tcp.DOMAIN` is not done yet: the domain itself is the fallback
/// §5.1 allows.) A `#pin=HEX` fragment (the SHA-256 of the service's certificate) is kept: calls
/// to such a URL accept that certificate and no other.
pub fn service_url(address_or_domain: &str, explicit: Option<&str>) -> String {
    match explicit {
        Some(url) => {
            let (base, pin) = match url.split_once('#') {
                Some((b, p)) => (b, format!("#{p}")),
                None => (url, String::new()),
            };
            let base = base.trim_end_matches('/');
            if base.ends_with(WELL_KNOWN.trim_end_matches('/')) {
                format!("{base}/{pin}")
            } else {
                format!("{base}{WELL_KNOWN}{pin}")
            }
        }
        None => {
            let domain = address_or_domain
                .rsplit('@')
                .next()
                .unwrap_or(address_or_domain);
            format!("https://{domain}{WELL_KNOWN}")
        }
    }
}

pub struct HttpClient {
    agent: ureq::Agent,
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpClient {
    pub fn new() -> Self {
        HttpClient {
            agent: ureq::AgentBuilder::new()
                .timeout_connect(Duration::from_secs(10))
                .timeout(Duration::from_secs(60))
                .build(),
        }
    }

    /// A client that accepts only the certificate whose SHA-256 is `pin` (hex).
    pub fn pinned(pin: &str) -> Result<Self> {
        let fingerprint: [u8; 32] = hex::decode(pin)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| {
                ProtocolError::Transport(format!(
                    "'{pin}' is not a SHA-256 certificate fingerprint"
                ))
            })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| ProtocolError::Transport(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Pinned {
                fingerprint,
                provider,
            }))
            .with_no_client_auth();
        Ok(HttpClient {
            agent: ureq::AgentBuilder::new()
                .tls_config(Arc::new(config))
                .timeout_connect(Duration::from_secs(10))
                .timeout(Duration::from_secs(60))
                .build(),
        })
    }

    /// POST `body` to `url` (pinning the certificate when the URL carries `#pin=`); the response
    /// body, for any HTTP status that carries one.
    pub fn post_to(url: &str, body: &[u8]) -> Result<Vec<u8>> {
        match url.split_once("#pin=") {
            Some((base, pin)) => Self::pinned(pin)?.post(base, body),
            None => Self::new().post(url.split('#').next().unwrap_or(url), body),
        }
    }

    /// POST `body` to `url`; the response body, for any HTTP status that carries one.
    pub fn post(&self, url: &str, body: &[u8]) -> Result<Vec<u8>> {
        let response = match self
            .agent
            .post(url)
            .set("Content-Type", crate::binding::CONTENT_TYPE)
            .send_bytes(body)
        {
            Ok(r) => r,
            Err(ureq::Error::Status(code, r)) => {
                let mut buf = Vec::new();
                std::io::Read::read_to_end(&mut r.into_reader(), &mut buf)
                    .map_err(|e| ProtocolError::Transport(e.to_string()))?;
                if buf.is_empty() {
                    return Err(ProtocolError::Refused(code, "no response body".into()));
                }
                return Ok(buf);
            }
            Err(e) => return Err(ProtocolError::Transport(format!("cannot reach {url}: {e}"))),
        };
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut response.into_reader().take(64 << 20), &mut buf)
            .map_err(|e| ProtocolError::Transport(e.to_string()))?;
        Ok(buf)
    }
}

use std::io::Read as _;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

/// Accepts exactly one certificate, by its SHA-256, and checks the handshake signatures with it.
#[derive(Debug)]
struct Pinned {
    fingerprint: [u8; 32],
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        if Sha256::digest(end_entity.as_ref()).as_slice() == self.fingerprint {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "the service's certificate is not the pinned one".into(),
            ))
        }
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
            &self.provider.signature_verification_algorithms,
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
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
