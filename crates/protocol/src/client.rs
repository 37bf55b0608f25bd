//! The HTTP side of the client: POST a sealed request to a service and return the sealed
//! response, whatever the HTTP status (the payload's status is authoritative, §5.5).

use std::time::Duration;

use crate::binding::WELL_KNOWN;
use crate::{ProtocolError, Result};

/// Where a service is: `--service URL` when given, else `https://DOMAIN/.well-known/mmm/`.
/// (DNS SRV lookup of `_mmm._tcp.DOMAIN` is not done yet: the domain itself is the fallback
/// §5.1 allows.)
pub fn service_url(address_or_domain: &str, explicit: Option<&str>) -> String {
    match explicit {
        Some(url) => {
            let url = url.trim_end_matches('/');
            if url.ends_with(WELL_KNOWN.trim_end_matches('/')) {
                format!("{url}/")
            } else {
                format!("{url}{WELL_KNOWN}")
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
