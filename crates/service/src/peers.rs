//! Other Mesh services, as this one reaches and authenticates them (protocol-09 §8: messages
//! between accounts of different services go from the sender's service to the recipient's).
//!
//! A domain's service is found as a client finds it (§5.1): `--peer DOMAIN=URL` when the
//! operator gave one, else DNS SRV `_mmm._tcp.DOMAIN`, else `https://DOMAIN/.well-known/mmm/`.
//! Its keys come from its Hello (the self-signed ProfileService) over that path, and are kept
//! for [`KEYS_SECONDS`]; a failure to learn them is kept for [`FAILURE_SECONDS`], so that a
//! stream of requests naming an unreachable domain costs one attempt, not one each. Only DNS
//! names are looked up, at most [`LOOKUPS_PER_MINUTE`] new ones a minute, and at most
//! [`MAX_CACHED`] are remembered.
//!
//! The four-corner model: a PostRequest is accepted only when signed (over its binding digest)
//! by the signature key of the service that serves the domain its messages come from; the
//! sending service in turn vouches that each message was signed by a device of the account it
//! names ([`crate::tx::post`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mesh_crypto::{PrivateKey, PublicKey};
use mesh_dare::KeyRing;
use mesh_protocol::binding::{self, Authenticator};
use mesh_protocol::client::{service_url, HttpClient};
use mesh_protocol::messages::HelloRequest;
use mesh_protocol::{Request, Response};
use mesh_schema::key::required;
use mesh_schema::signed;

/// How long another service's keys are used before its Hello is asked again.
pub const KEYS_SECONDS: u64 = 3600;
/// How long a failure to reach a domain's service is remembered.
pub const FAILURE_SECONDS: u64 = 60;

/// What this service knows of another.
#[derive(Clone)]
pub struct PeerService {
    pub url: String,
    pub signature: PublicKey,
    pub encryption: PublicKey,
}

type Cached = (Instant, Result<PeerService, String>);

pub struct Peers {
    explicit: HashMap<String, String>,
    /// Reach services found by discovery at private, loopback or link-local addresses too
    /// (an operator's choice; by default only configured peers may be there).
    pub allow_private: bool,
    cache: Mutex<HashMap<String, Cached>>,
    /// When the lookups of the last minute were made.
    lookups: Mutex<Vec<Instant>>,
}

/// Most services looked up (asked for their Hello) in a minute.
pub const LOOKUPS_PER_MINUTE: usize = 60;

/// Most domains whose services are remembered at once.
pub const MAX_CACHED: usize = 10_000;

/// A DNS name of two labels or more, the last with a letter in it (so no address literal, such
/// as `127.0.0.1` or `2130706433`, and no single-label name, such as `localhost`): labels of
/// letters, digits and `-`, joined by dots, 253 characters at most.
pub fn is_domain(name: &str) -> bool {
    let labels: Vec<&str> = name.split('.').collect();
    labels.len() >= 2
        && labels
            .last()
            .is_some_and(|tld| tld.chars().any(|c| c.is_ascii_alphabetic()))
        && name.len() <= 253
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// Does the address an object names (`claimed`) name the account `address` (lower case)?
pub fn same_address(claimed: Option<&str>, address: &str) -> bool {
    claimed.is_some_and(|c| c.eq_ignore_ascii_case(address))
}

/// The domain of an account address (`alice@example.com` → `example.com`), lower case.
pub fn domain_of(address: &str) -> String {
    address
        .rsplit('@')
        .next()
        .unwrap_or(address)
        .to_ascii_lowercase()
}

impl Peers {
    pub fn new(explicit: HashMap<String, String>) -> Self {
        Peers {
            explicit: explicit
                .into_iter()
                .map(|(d, u)| (d.to_ascii_lowercase(), u))
                .collect(),
            cache: Mutex::new(HashMap::new()),
            lookups: Mutex::new(Vec::new()),
            allow_private: false,
        }
    }

    /// The URL of `domain`'s service.
    pub fn url_for(&self, domain: &str) -> String {
        service_url(domain, self.explicit.get(domain).map(String::as_str))
    }

    /// The service of `domain` and its keys, from the cache or its Hello, for this service's
    /// own needs (delivering its accounts' messages, which their update allowance meters).
    pub fn service(&self, domain: &str) -> Result<PeerService, String> {
        self.lookup(domain, false)
    }

    /// As [`Peers::service`], for a domain an unauthenticated caller names: at most
    /// [`LOOKUPS_PER_MINUTE`] new lookups a minute for all such callers together; past that, the
    /// keys last known for the domain (even if due for a refresh) or nothing.
    pub fn service_metered(&self, domain: &str) -> Result<PeerService, String> {
        self.lookup(domain, true)
    }

    fn lookup(&self, domain: &str, metered: bool) -> Result<PeerService, String> {
        let domain = domain.to_ascii_lowercase();
        if !is_domain(&domain) {
            return Err(format!("'{domain}' is not a domain name"));
        }
        let stale = {
            let cache = self.cache.lock().expect("peers");
            match cache.get(&domain) {
                Some((at, found)) => {
                    let ttl = if found.is_ok() {
                        KEYS_SECONDS
                    } else {
                        FAILURE_SECONDS
                    };
                    if at.elapsed() < Duration::from_secs(ttl) {
                        return found.clone();
                    }
                    found.clone().ok()
                }
                None => None,
            }
        };
        if metered {
            let mut budget = self.lookups.lock().expect("peers");
            let now = Instant::now();
            budget.retain(|at| now.duration_since(*at) < Duration::from_secs(60));
            if budget.len() >= LOOKUPS_PER_MINUTE {
                return stale
                    .ok_or_else(|| "too many services looked up in the last minute".into());
            }
            budget.push(now);
        }
        let found = match (self.hello(&domain), stale) {
            // A refresh that fails keeps the keys known (a service briefly down stays known).
            (Err(_), Some(known)) => Ok(known),
            (found, _) => found,
        };
        let mut cache = self.cache.lock().expect("peers");
        if cache.len() >= MAX_CACHED {
            // Expired entries first, then failures; known services are kept.
            cache.retain(|_, (at, f)| {
                let ttl = if f.is_ok() {
                    KEYS_SECONDS
                } else {
                    FAILURE_SECONDS
                };
                at.elapsed() < Duration::from_secs(ttl)
            });
            if cache.len() >= MAX_CACHED {
                cache.retain(|_, (_, f)| f.is_ok());
            }
        }
        if cache.len() < MAX_CACHED {
            cache.insert(domain, (Instant::now(), found.clone()));
        }
        found
    }

    /// Forget what is known of `domain` (after its service refused our signature, say).
    pub fn forget(&self, domain: &str) {
        self.cache
            .lock()
            .expect("peers")
            .remove(&domain.to_ascii_lowercase());
    }

    fn hello(&self, domain: &str) -> Result<PeerService, String> {
        let url = self.url_for(domain);
        // A service found by discovery must be on the public network: a domain anyone may name
        // (a recipient's) must not make this service reach its own network.
        if !self.explicit.contains_key(domain) && !self.allow_private {
            public_only(&url)?;
        }
        let sealed = binding::seal_request(
            &Request::HelloRequest(HelloRequest {
                ..Default::default()
            }),
            Authenticator::None,
            None,
        )
        .map_err(|e| e.to_string())?;
        let reply = HttpClient::post_to(&url, &sealed.bytes).map_err(|e| e.to_string())?;
        let Response::MeshHelloResponse(h) =
            binding::open_response(&reply, &KeyRing::new(), None, None)
                .map_err(|e| e.to_string())?
        else {
            return Err(format!("no Hello from the service of {domain}"));
        };
        let profile_env = h
            .enveloped_profile_service
            .ok_or_else(|| format!("the service of {domain} sent no profile"))?;
        let (profile, _) =
            signed::verify_profile_service(&profile_env).map_err(|e| e.to_string())?;
        Ok(PeerService {
            url,
            signature: required(&profile.service_signature, "ServiceSignature")
                .map_err(|e| e.to_string())?,
            encryption: required(&profile.service_encryption, "ServiceEncryption")
                .map_err(|e| e.to_string())?,
        })
    }

    /// Send `request` to `domain`'s service, signed by this service's `signer`; its response,
    /// checked to be signed by that service and to answer this very request.
    pub fn call(
        &self,
        domain: &str,
        request: &Request,
        signer: &PrivateKey,
    ) -> Result<Response, String> {
        let peer = self.service(domain)?;
        let sealed =
            binding::seal_request(request, Authenticator::Key(signer), Some(&peer.encryption))
                .map_err(|e| e.to_string())?;
        let reply = HttpClient::post_to(&peer.url, &sealed.bytes).map_err(|e| e.to_string())?;
        binding::open_response(
            &reply,
            &KeyRing::new(),
            Some(&peer.signature),
            Some(&sealed.nonce),
        )
        .map_err(|e| {
            // Keys may have changed: ask again next time.
            self.forget(domain);
            e.to_string()
        })
    }
}

/// Is `ip` an address of a private, loopback, link-local or otherwise non-public network?
pub fn is_private(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // shared address space (RFC 6598)
                || (a == 198 && (b == 18 || b == 19)) // benchmarking (RFC 2544)
                || a >= 240
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
        }
    }
}

/// Refuse a URL whose host resolves to a non-public address (or does not resolve).
fn public_only(url: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("'{url}' is not a URL: {e}"))?;
    let addresses = parsed
        .socket_addrs(|| None)
        .map_err(|e| format!("{url} does not resolve: {e}"))?;
    if addresses.is_empty() {
        return Err(format!("{url} does not resolve"));
    }
    if let Some(a) = addresses.iter().find(|a| is_private(a.ip())) {
        return Err(format!(
            "{} is at {}, not a public address: reached only as a configured peer",
            parsed.host_str().unwrap_or(url),
            a.ip()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses_are_not_reached_by_discovery() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.20.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_private(private.parse().unwrap()), "{private}");
        }
        for public in [
            "93.184.216.34",
            "2606:2800:220:1:248:1893:25c8:1946",
            "8.8.8.8",
        ] {
            assert!(!is_private(public.parse().unwrap()), "{public}");
        }
        // A domain that resolves to loopback (as a hostile DNS record could) is refused.
        let error = public_only("https://localhost:8443/.well-known/mmm/").unwrap_err();
        assert!(error.contains("not a public address"), "{error}");
        assert!(public_only("http://127.0.0.1/.well-known/mmm/").is_err());
    }

    #[test]
    fn only_domain_names_are_looked_up() {
        for good in ["example.com", "a-b.example.net", "work.example"] {
            assert!(is_domain(good), "{good}");
        }
        for bad in [
            "10.0.0.5:8443/x?",
            "example.com/",
            "",
            "a..b",
            "-a.com",
            "exa mple.com",
            "user@example.com",
            "localhost",
            "127.0.0.1",
            "169.254.169.254",
            "2130706433",
        ] {
            assert!(!is_domain(bad), "{bad}");
            assert!(Peers::new(Default::default()).service(bad).is_err());
        }
    }
}
