//! The HTTP side of the client: POST a sealed request to a service and return the sealed
//! response, whatever the HTTP status (the payload's status is authoritative, §5.5).

use std::time::Duration;

use crate::binding::WELL_KNOWN;
use crate::{ProtocolError, Result};

/// The environment variable naming a DNS server (`IP:PORT`) to ask instead of the system's.
pub const DNS_SERVER_ENV: &str = "MESH_DNS_SERVER";

/// DNS web service discovery (protocol-09 §5.1): the SRV record `_mmm._tcp.DOMAIN` (lowest
/// priority, then highest weight) as `https://TARGET:PORT/.well-known/mmm/`, if there is one.
pub fn discover(domain: &str) -> Option<String> {
    use hickory_resolver::config::{NameServerConfig, Protocol, ResolverConfig, ResolverOpts};
    let mut opts = ResolverOpts::default();
    opts.timeout = Duration::from_secs(3);
    opts.attempts = 1;
    let resolver = match std::env::var(DNS_SERVER_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
    {
        Some(addr) => {
            let mut config = ResolverConfig::new();
            config.add_name_server(NameServerConfig::new(addr, Protocol::Udp));
            hickory_resolver::Resolver::new(config, opts).ok()?
        }
        None => hickory_resolver::Resolver::from_system_conf().ok()?,
    };
    let name = format!(
        "{}.{}.",
        crate::binding::SRV_PREFIX,
        domain.trim_end_matches('.')
    );
    let lookup = resolver.srv_lookup(name).ok()?;
    let best = lookup
        .iter()
        .min_by_key(|r| (r.priority(), std::cmp::Reverse(r.weight())))?;
    let target = best.target().to_utf8();
    let target = target.trim_end_matches('.');
    if target.is_empty() {
        return None;
    }
    Some(format!("https://{target}:{}{WELL_KNOWN}", best.port()))
}

/// Where a service is: `--service URL` when given, else the DNS SRV record of the domain
/// ([`discover`]), else `https://DOMAIN/.well-known/mmm/` (the fallback §5.1 allows). A
/// `#pin=HEX` fragment (the SHA-256 of the service's certificate) is kept: calls
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
            discover(domain).unwrap_or_else(|| format!("https://{domain}{WELL_KNOWN}"))
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
                .redirects(0)
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
                .redirects(0)
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
                // Refused before the request was read (a service shedding an address's load, a
                // proxy): plain text, not a sealed answer.
                // (Asked of the header itself: ureq takes a missing one for text/plain.)
                let plain = r
                    .header("content-type")
                    .is_some_and(|t| t.to_ascii_lowercase().starts_with("text/plain"));
                let mut buf = Vec::new();
                std::io::Read::read_to_end(&mut r.into_reader(), &mut buf)
                    .map_err(|e| ProtocolError::Transport(e.to_string()))?;
                if buf.is_empty() {
                    return Err(ProtocolError::Refused(code, "no response body".into()));
                }
                if plain {
                    let text = String::from_utf8_lossy(&buf[..buf.len().min(512)]).into_owned();
                    return Err(ProtocolError::Refused(code, text));
                }
                return Ok(buf);
            }
            Err(e) => return Err(ProtocolError::Transport(unreachable(url, &e.to_string()))),
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

/// What to say when `url` gave no answer (`error` is the HTTP client's own text): the URL once,
/// the cause, and what to do about the usual mistakes.
fn unreachable(url: &str, error: &str) -> String {
    let cause = error
        .strip_prefix(url)
        .map(|rest| rest.trim_start_matches(':').trim())
        .unwrap_or(error);
    let hint = if cause.contains("UnknownIssuer") || cause.contains("invalid peer certificate") {
        "; the service's certificate is not one this device trusts: give the URL with the \
         #pin=… that `mesh service start` printed"
    } else if url.starts_with("http://") && cause.contains("Header field") {
        "; the service speaks TLS: use https:// (with its #pin=…)"
    } else {
        ""
    };
    format!("cannot reach {url}: {cause}{hint}")
}

#[cfg(test)]
mod unreachable_tests {
    #[test]
    fn the_url_once_and_a_hint() {
        let url = "https://127.0.0.1:1/.well-known/mmm/";
        let text = super::unreachable(
            url,
            "https://127.0.0.1:1/.well-known/mmm/: Connection Failed: tls connection init \
             failed: invalid peer certificate: UnknownIssuer",
        );
        assert_eq!(text.matches(url).count(), 1, "{text}");
        assert!(text.contains("#pin="), "{text}");
        let text = super::unreachable(
            "http://127.0.0.1:1/.well-known/mmm/",
            "http://127.0.0.1:1/.well-known/mmm/: Network Error: Header field didn't end",
        );
        assert!(text.contains("use https://"), "{text}");
    }
}
