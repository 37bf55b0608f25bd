//! The service host: its identity (ProfileService and ProfileHost, their secrets sealed at rest)
//! and the path of every request (protocol-09 §5, §7), independent of HTTP: open it
//! ([`binding::open_request`]: size, decryption with integrity first, nonce, freshness),
//! authenticate the caller ([`crate::auth`]), check the nonce is new, then run the transaction
//! ([`crate::tx`]); every refusal is a [`Refusal`].

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use mesh_crypto::{profile_keys, PrivateKey, PublicKey, SecretSeed};
use mesh_dare::{DareEnvelope, KeyRing};
use mesh_protocol::binding::{self, OpenedRequest, DEFAULT_MAX_REQUEST};
use mesh_protocol::{ProtocolError, Request, Response};
use mesh_schema::key::{required, KeyData};
use mesh_schema::profile::{ProfileHost, ProfileService};
use mesh_schema::{signed, MeshItem};
use mesh_udf::{random, KeySpecifier};
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::refusal::Refusal;
use crate::store::*;
use crate::tx::{self, Ctx};

/// Spools the protocol names.
pub const INBOUND: &str = "MMM_Inbound";
pub const OUTBOUND: &str = "MMM_Outbound";
pub const LOCAL: &str = "MMM_Local";
/// Publications anyone holding their EARL may claim (plain container: entries are encrypted
/// under their EARL keys), and the claims made on them.
pub const PUBLISHED: &str = "MMM_Published";
pub const CLAIMS: &str = "MMM_Claims";
/// Most entries one Transact may carry (advertised in Hello as ConstraintsUpdate.MaxEntries).
pub const MAX_UPDATE_ENTRIES: u64 = 1000;
/// Recipients one transaction (or Post) may name: a message to more goes in several.
pub const MAX_RECIPIENTS: usize = 100;
/// Most entries one Download returns.
pub const MAX_DOWNLOAD_ENTRIES: u64 = 500;

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ServiceSecrets {
    service_secret: String,
    host_secret: String,
    /// The TLS certificate and key (DER, base64url): sealed with the rest, and so, with
    /// PostgreSQL, the same for every process of the service (a device pinned to one is
    /// served by any). Absent from secrets made before; such a service keeps the files it
    /// made in its data directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tls_cert: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tls_key: Option<String>,
}

/// The service's keys and signed profiles.
pub struct Identity {
    pub profile_service: DareEnvelope,
    pub profile_host: DareEnvelope,
    pub service_udf: String,
    pub(crate) sign: PrivateKey,
    encrypt: PrivateKey,
    /// The TLS certificate and key kept with the secrets (none in secrets made before).
    pub tls: Option<crate::tls::TlsIdentity>,
}

impl Identity {
    /// The key the service signs with.
    pub fn signer(&self) -> &PrivateKey {
        &self.sign
    }
}

fn role(seed: &SecretSeed, role: &str) -> PrivateKey {
    profile_keys(seed)
        .expect("service seed")
        .into_iter()
        .find(|k| k.role == role)
        .expect("role")
        .key
}

impl Identity {
    /// Load the identity from `dir`, or make one; the secrets are sealed by `passphrase`.
    pub fn load_or_create(dir: &Path, passphrase: &str) -> Result<Self, String> {
        let path = dir.join("service.secrets");
        if path.exists() {
            let bytes = std::fs::read(&path).map_err(|e| e.to_string())?;
            return Self::from_sealed(&bytes, passphrase);
        }
        let (identity, sealed) = Self::create(passphrase)?;
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let tmp = dir.join("service.secrets.tmp");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        options
            .open(&tmp)
            .and_then(|mut f| {
                std::io::Write::write_all(&mut f, &sealed)?;
                f.sync_all()
            })
            .and_then(|_| std::fs::rename(&tmp, &path))
            .map_err(|e| e.to_string())?;
        Ok(identity)
    }

    /// A new identity and its secrets sealed by `passphrase`, to be stored.
    pub fn create(passphrase: &str) -> Result<(Self, Vec<u8>), String> {
        let new = || {
            random::secret_seed(KeySpecifier::new(0, 260).expect("service type"), 256).to_string()
        };
        let tls = crate::tls::TlsIdentity::generate().map_err(|e| e.to_string())?;
        let secrets = ServiceSecrets {
            service_secret: new(),
            host_secret: new(),
            tls_cert: Some(mesh_encoding::base64url::encode(&tls.cert)),
            tls_key: Some(mesh_encoding::base64url::encode(tls.key())),
        };
        let plain = serde_json::to_vec(&secrets).map_err(|e| e.to_string())?;
        let sealed = mesh_dare::passphrase::seal(&plain, passphrase).map_err(|e| e.to_string())?;
        Ok((Self::from_secrets(&secrets)?, sealed))
    }

    /// `sealed` (secrets made before they kept a TLS identity) sealed again with one: `own` (a
    /// certificate served before, whose pins then still hold), else a new one; `None` if they
    /// have one already.
    pub fn with_tls(
        sealed: &[u8],
        passphrase: &str,
        own: Option<&crate::tls::TlsIdentity>,
    ) -> Result<Option<Vec<u8>>, String> {
        let plain = mesh_dare::passphrase::open(sealed, passphrase)
            .map_err(|_| "wrong service passphrase (or damaged service secrets)".to_string())?;
        let mut secrets =
            serde_json::from_slice::<ServiceSecrets>(&plain).map_err(|e| e.to_string())?;
        if secrets.tls_cert.is_some() && secrets.tls_key.is_some() {
            return Ok(None);
        }
        let made;
        let tls = match own {
            Some(own) => own,
            None => {
                made = crate::tls::TlsIdentity::generate().map_err(|e| e.to_string())?;
                &made
            }
        };
        secrets.tls_cert = Some(mesh_encoding::base64url::encode(&tls.cert));
        secrets.tls_key = Some(mesh_encoding::base64url::encode(tls.key()));
        let plain = serde_json::to_vec(&secrets).map_err(|e| e.to_string())?;
        Ok(Some(
            mesh_dare::passphrase::seal(&plain, passphrase).map_err(|e| e.to_string())?,
        ))
    }

    /// The identity from its sealed secrets.
    pub fn from_sealed(sealed: &[u8], passphrase: &str) -> Result<Self, String> {
        let plain = mesh_dare::passphrase::open(sealed, passphrase)
            .map_err(|_| "wrong service passphrase (or damaged service secrets)".to_string())?;
        let secrets =
            serde_json::from_slice::<ServiceSecrets>(&plain).map_err(|e| e.to_string())?;
        Self::from_secrets(&secrets)
    }

    fn from_secrets(secrets: &ServiceSecrets) -> Result<Self, String> {
        let service = SecretSeed::parse(&secrets.service_secret).map_err(|e| e.to_string())?;
        let host = SecretSeed::parse(&secrets.host_secret).map_err(|e| e.to_string())?;
        let kd = |s: &SecretSeed, r: &str| Some(KeyData::from_public(&role(s, r).public_key()));
        let profile = ProfileService {
            profile_signature: kd(&service, "ProfileSignature"),
            service_authentication: kd(&service, "Authentication"),
            service_encryption: kd(&service, "Encryption"),
            service_signature: kd(&service, "Signature"),
            ..Default::default()
        };
        let host_profile = ProfileHost {
            profile_signature: kd(&host, "ProfileSignature"),
            encryption: kd(&host, "Encryption"),
            signature: kd(&host, "Signature"),
            authentication: kd(&host, "Authentication"),
            ..Default::default()
        };
        let tls = match (&secrets.tls_cert, &secrets.tls_key) {
            (Some(cert), Some(key)) => Some(crate::tls::TlsIdentity::from_parts(
                mesh_encoding::base64url::decode(cert).map_err(|e| e.to_string())?,
                mesh_encoding::base64url::decode(key).map_err(|e| e.to_string())?,
            )),
            _ => None,
        };
        let service_udf = profile.check().map_err(|e| e.to_string())?;
        let host_udf = host_profile.check().map_err(|e| e.to_string())?;
        let seal = |item: MeshItem, seed: &SecretSeed, udf: &str| {
            signed::seal(&item, &role(seed, "ProfileSignature"), Some(udf), &[])
                .map_err(|e| e.to_string())
        };
        Ok(Identity {
            profile_service: seal(profile.into(), &service, &service_udf)?,
            profile_host: seal(host_profile.into(), &host, &host_udf)?,
            service_udf,
            sign: role(&service, "Signature"),
            encrypt: role(&service, "Encryption"),
            tls,
        })
    }
}

/// A request's outcome: the HTTP status and the sealed response (or, for a request refused
/// before it was read, plain text: `plain`).
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    pub plain: bool,
}

/// Answers up to this size are kept with their request's nonce (see [`ServiceHost::handle_by`]).
pub const MAX_KEPT_REPLY: usize = 16 * 1024;

/// How long a nonce is remembered: twice the freshness window, and a margin for the rounding
/// of times to the second.
pub const NONCE_SECONDS: u64 = 2 * binding::FRESHNESS_SECONDS as u64 + 5;

/// The kinds of short-lived state nonces are kept as: those of requests that change something
/// (which the embedded store syncs to disk before the request runs), and those of reads (kept in
/// memory: a read replayed after a restart reads again, and its answer is for the device only).
pub const NONCE: &str = "nonce";
pub const READ_NONCE: &str = "read-nonce";

/// What the replay cache says of a nonce.
enum Seen {
    New,
    /// The very same request (nonce and binding digest) came before; its answer if kept.
    Same(Option<Reply>),
    /// Another request used this nonce: a replay.
    Other,
}

/// What running a request gave.
#[allow(clippy::large_enum_variant)]
enum Ran {
    Done {
        response: Response,
        recipient: Option<PublicKey>,
        /// Keep the answer with the nonce (an authenticated request).
        keep: bool,
    },
    /// The very same request was answered before: that answer.
    Again(Reply),
}

/// Rendezvous channels live this long after allocation.
pub const CHANNEL_SECONDS: u64 = 60;
/// Largest blob a channel holds.
pub const CHANNEL_BLOB_MAX: usize = 32 * 1024;

/// What an account's access catalog records (removed devices, blocked senders), per account,
/// with the catalog state and administrator key it was read with.
type AccessMarks =
    std::sync::Mutex<std::collections::HashMap<String, (ContainerState, String, Vec<String>)>>;

pub struct ServiceHost {
    /// How long a ticket is good for.
    pub ticket_seconds: u64,
    /// Messages for other services' accounts, queued and retried.
    pub outbox: Option<Arc<crate::outbox::Outbox>>,
    /// The domains whose accounts this service holds; `None`: any (a test service).
    pub domains: Option<Vec<String>>,
    /// Other services: where they are and their keys (to authenticate their Posts).
    pub peers: Arc<crate::peers::Peers>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) identity: Identity,
    pub(crate) keys: KeyRing,
    pub(crate) shares: crate::operate::ShareCache,
    /// Each account's removed devices, with the access catalog state and administrator key they
    /// were read with.
    removals: AccessMarks,
    /// Each account's blocked senders, likewise.
    blocks: AccessMarks,
    pub max_request: usize,
    /// Entries each account may append per minute.
    pub limiter: crate::limits::UpdateLimiter,
    /// Short-lived things made for each account per minute (tickets, rendezvous channels, and
    /// the connection requests anyone may make to it), so that none can fill the store.
    pub state_limiter: crate::limits::UpdateLimiter,
    /// Octets of messages each account may be delivered per minute.
    pub inbound_bytes: crate::limits::UpdateLimiter,
    /// Octets of messages each sender (an account of this service, or the domain of a service
    /// that posts here) may send per minute.
    pub sender_bytes: crate::limits::UpdateLimiter,
    /// Octets of messages an account's inbound spool may hold that no device of the account
    /// has fetched yet.
    pub max_queued_bytes: u64,
    /// Proxies whose `X-Forwarded-For` says which client a request is from (for metering by
    /// address); none by default.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Requests no account's allowance meters, per network address (None: not limited).
    pub anonymous: Option<crate::limits::UpdateLimiter>,
}

impl ServiceHost {
    pub fn new(store: Arc<dyn Store>, identity: Identity) -> Self {
        let mut keys = KeyRing::new();
        keys.add_private(identity.encrypt.clone());
        ServiceHost {
            ticket_seconds: 3600,
            outbox: None,
            domains: None,
            peers: Arc::new(crate::peers::Peers::new(Default::default())),
            store,
            identity,
            keys,
            shares: Default::default(),
            removals: Default::default(),
            blocks: Default::default(),
            max_request: DEFAULT_MAX_REQUEST,
            limiter: crate::limits::UpdateLimiter::new(crate::limits::DEFAULT_UPDATES_PER_MINUTE),
            state_limiter: crate::limits::UpdateLimiter::new(
                crate::limits::DEFAULT_STATE_PER_MINUTE,
            ),
            inbound_bytes: crate::limits::UpdateLimiter::new(
                crate::limits::DEFAULT_MESSAGE_BYTES_PER_MINUTE,
            ),
            sender_bytes: crate::limits::UpdateLimiter::new(
                crate::limits::DEFAULT_MESSAGE_BYTES_PER_MINUTE,
            ),
            max_queued_bytes: crate::limits::DEFAULT_QUEUED_BYTES,
            trusted_proxies: Vec::new(),
            anonymous: Some(crate::limits::UpdateLimiter::new(
                crate::limits::DEFAULT_ANONYMOUS_PER_MINUTE,
            )),
        }
    }

    /// The store (for the outbox worker).
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// The key the service signs with (for its outbox worker).
    pub fn signer(&self) -> PrivateKey {
        self.identity.sign.clone()
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Handle one request body, with [`crate::http::REQUEST_TIMEOUT`] to reach its first write;
    /// never panics on bad input.
    pub fn handle(&self, body: &[u8]) -> Reply {
        self.handle_by(body, Instant::now() + crate::http::REQUEST_TIMEOUT)
    }

    /// Handle one request body. A request that has not reached its first durable write by
    /// `deadline` is refused (503) with nothing applied; one that has is carried through and
    /// answered with its real outcome, so a client is never told "timed out" about a request
    /// that was applied. The answer to an authenticated request that changes something is kept with
    /// its nonce (for the
    /// freshness window, up to [`MAX_KEPT_REPLY`]): the very same request sent again — a client
    /// that lost the answer — gets that answer, and is not run twice; anything else with a used
    /// nonce is a replay.
    pub fn handle_by(&self, body: &[u8], deadline: Instant) -> Reply {
        self.handle_from(body, deadline, None)
    }

    /// As [`Self::handle_by`], for a request from the network address `source`: requests no
    /// account's allowance meters (anonymous ones, connection requests, and those that fail to
    /// open or authenticate) are metered per address, and past the allowance refused (429);
    /// a device's authenticated requests from the same address are its account's to meter.
    pub fn handle_from(
        &self,
        body: &[u8],
        deadline: Instant,
        source: Option<std::net::IpAddr>,
    ) -> Reply {
        // An IPv6 address is metered by its /64: one host commonly has the whole prefix. An
        // IPv4 client of a dual-stack listener arrives as an IPv4-mapped IPv6 address: metered
        // as the IPv4 address it is (all of them share one /64).
        let source = source.map(|ip| match ip.to_canonical() {
            std::net::IpAddr::V6(v6) => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
            v4 => v4.to_string(),
        });
        let source = source.as_deref();
        // An address whose failed requests have spent its allowance is answered at once, with
        // no public-key work at all (not even the signature of a sealed answer): past the
        // allowance, what it sends costs the service nothing more than reading it. A request
        // naming a ticket this service issued and still holds is read as ever: a device that
        // shares the address (a NAT) goes on working on its tickets.
        if let Some(refused) = self.failures_spent(source, body) {
            return refused;
        }
        let mut encoding = binding::Encoding::Json;
        let mut answered = None;
        let opened = self.open(body).inspect_err(|_| {
            let _ = self.charge_source(source);
            self.charge_failure(source);
        });
        let (response, recipient) = match opened {
            Err(refusal) => (refusal.response(), None),
            Ok(opened) => {
                encoding = opened.encoding;
                match self.run(&opened, deadline, source) {
                    Ok(Ran::Again(reply)) => return reply,
                    Ok(Ran::Done {
                        response,
                        recipient,
                        keep,
                    }) => {
                        answered = Some((opened.nonce.clone(), opened.binding_digest, keep));
                        (response, recipient)
                    }
                    Err(refusal) => {
                        answered = Some((opened.nonce.clone(), opened.binding_digest, false));
                        (refusal.response(), None)
                    }
                }
            }
        };
        let (status, _) = response.status();
        let body = binding::seal_response(
            &response,
            &self.identity.sign,
            recipient.as_ref(),
            encoding,
            answered.as_ref().map(|(nonce, _, _)| nonce.as_str()),
        )
        .unwrap_or_default();
        let reply = Reply {
            status,
            body,
            plain: false,
        };
        if let Some((nonce, digest, true)) = &answered {
            self.keep_reply(nonce, digest, &reply);
        }
        reply
    }

    /// Keep the answer to an authenticated request with its nonce, so that the very same request
    /// sent again (a client that lost the answer) gets this answer instead of a second run.
    fn keep_reply(&self, nonce: &str, digest: &[u8; 64], reply: &Reply) {
        if reply.body.len() > MAX_KEPT_REPLY {
            return;
        }
        let mut value = digest.to_vec();
        value.extend(reply.status.to_be_bytes());
        value.extend(&reply.body);
        let expires = unix_now() + NONCE_SECONDS;
        if let Err(e) = self
            .store
            .put_ephemeral(NONCE, nonce, &value, expires, false)
        {
            tracing::warn!("could not keep the answer to a request: {e}");
        }
    }

    fn open(&self, body: &[u8]) -> Result<OpenedRequest, Refusal> {
        if body.len() > self.max_request {
            return Err(Refusal::TooLarge {
                size: body.len(),
                limit: self.max_request,
            });
        }
        binding::open_request(body, &self.keys).map_err(|e| match e {
            ProtocolError::Expired(age) => Refusal::Expired(age),
            ProtocolError::Unreadable(_) => Refusal::Unreadable,
            other => Refusal::Malformed(other.to_string()),
        })
    }

    /// Authenticate, check the nonce is new (only now: an unauthenticated request never fills
    /// the replay cache), run the transaction.
    /// Charge one request to `source`'s allowance of unmetered requests.
    fn charge_source(&self, source: Option<&str>) -> Result<(), Refusal> {
        match (&self.anonymous, source) {
            (Some(limiter), Some(ip)) if limiter.take(ip, 1).is_err() => {
                Err(self.over_anonymous(Some(ip)))
            }
            _ => Ok(()),
        }
    }

    /// Charge a request that failed to open or authenticate to `source`'s allowance of failed
    /// requests (kept beside its allowance of unmetered ones, in the same limiter).
    fn charge_failure(&self, source: Option<&str>) {
        if let (Some(limiter), Some(ip)) = (&self.anonymous, source) {
            let _ = limiter.take(&format!("failed {ip}"), 1);
        }
    }

    /// A plain 429 (not a sealed answer) for an address whose failed requests have spent its
    /// allowance, unless `body` names a live ticket.
    fn failures_spent(&self, source: Option<&str>, body: &[u8]) -> Option<Reply> {
        let (Some(limiter), Some(ip)) = (&self.anonymous, source) else {
            return None;
        };
        if !limiter.exhausted(&format!("failed {ip}")) || self.names_live_ticket(body) {
            return None;
        }
        Some(Reply {
            status: 429,
            body: format!(
                "too many requests that failed to open or authenticate from {ip}: this service \
                 takes {} a minute from one address; try again in a minute",
                limiter.per_minute()
            )
            .into_bytes(),
            plain: true,
        })
    }

    /// Does the request (not yet opened) name a ticket this service holds, unexpired? Its
    /// MAC is checked as ever once it is opened; naming one takes knowing its 128-bit id.
    fn names_live_ticket(&self, body: &[u8]) -> bool {
        let Ok(envelope) = mesh_dare::DareEnvelope::parse(body) else {
            return false;
        };
        let Some(id) = envelope.content_meta().ok().and_then(|meta| {
            meta.key_values
                .into_iter()
                .find(|kv| kv.key == binding::TICKET)
                .map(|kv| kv.value)
        }) else {
            return false;
        };
        matches!(
            self.store.get_ephemeral("ticket", &id),
            Ok(Some((_, expires))) if expires > unix_now()
        )
    }

    fn over_anonymous(&self, source: Option<&str>) -> Refusal {
        let limit = self.anonymous.as_ref().map_or(0, |l| l.per_minute());
        Refusal::TooMany(format!(
            "too many unauthenticated requests from {}: this service takes {limit} a minute \
             from one address",
            source.unwrap_or("this address")
        ))
    }

    fn run(
        &self,
        opened: &OpenedRequest,
        deadline: Instant,
        source: Option<&str>,
    ) -> Result<Ran, Refusal> {
        let caller = crate::auth::authenticate(self, opened).inspect_err(|_| {
            let _ = self.charge_source(source);
            self.charge_failure(source);
        })?;
        // Callers no account's allowance meters: anyone may be one (a Bind presents its own
        // profile).
        if matches!(
            caller,
            Caller::Anonymous
                | Caller::NewDevice { .. }
                | Caller::Binder { .. }
                | Caller::Member(_)
        ) {
            self.charge_source(source)?;
        }
        // Answers kept with their nonce: those of authenticated requests that change something
        // (reads are sealed anew and sent again; keeping their answers would let a device fill
        // the store with them, and Transact and Post are metered per account).
        let keep = !matches!(caller, Caller::Anonymous)
            && !matches!(
                opened.request,
                Request::StatusRequest(_)
                    | Request::DownloadRequest(_)
                    | Request::OperateRequest(_)
            )
            && !matches!(&opened.request, Request::RepairRequest(r) if r.entries.is_empty());
        if !matches!(caller, Caller::Anonymous) {
            // An authenticated request is bound to this service by the recipient it is
            // encrypted to (its binding digest covers it): an unencrypted one is bound to none.
            if !opened.envelope.is_encrypted() {
                return Err(Refusal::Malformed(
                    "requests other than the anonymous ones must be encrypted to the service"
                        .into(),
                ));
            }
            let kind = if keep { NONCE } else { READ_NONCE };
            match self.remember_nonce(kind, &opened.nonce, &opened.binding_digest)? {
                Seen::New => {}
                Seen::Same(Some(reply)) => return Ok(Ran::Again(reply)),
                // Received before and not answered yet, or its answer was not kept: never run
                // it twice, and never say "nothing was applied".
                Seen::Same(None) => {
                    return Err(Refusal::Conflict(
                        "this very request was received already; its answer is not kept here"
                            .into(),
                    ))
                }
                Seen::Other => return Err(Refusal::Replayed),
            }
        }
        let ctx = Ctx {
            host: self,
            deadline,
        };
        let reply_key = caller.encryption();
        let response = match &opened.request {
            Request::HelloRequest(_) => tx::account::hello(&ctx),
            Request::BindRequest(r) => tx::account::bind(&ctx, &caller, r),
            Request::UnbindRequest(_) => tx::account::unbind(&ctx, caller.device()?),
            Request::StatusRequest(r) => tx::account::status(&ctx, caller.device()?, r),
            Request::TicketRequest(_) => tx::account::ticket(&ctx, caller.device()?),
            Request::DownloadRequest(r) => tx::sync::download(&ctx, caller.device()?, r),
            Request::TransactRequest(r) => tx::sync::transact(&ctx, caller.device()?, r),
            Request::OperateRequest(r) => match &caller {
                crate::auth::Caller::Member(member) => tx::sync::operate_member(&ctx, member, r),
                _ => tx::sync::operate(&ctx, caller.device()?, r),
            },
            Request::RepairRequest(r) => tx::sync::repair(&ctx, caller.device()?, r),
            Request::PostRequest(r) => tx::post::post(&ctx, &caller, r),
            Request::ConnectRequest(r) => tx::connect::connect(&ctx, &caller, r),
            Request::CompleteRequest(r) => tx::connect::complete(&ctx, r),
            Request::ClaimRequest(r) => tx::connect::claim(&ctx, r),
            Request::PollClaimRequest(r) => tx::connect::poll_claim(&ctx, r),
            Request::MulticastAllocateRequest(r) => {
                tx::channel::allocate(&ctx, caller.device()?, r)
            }
            Request::MulticastPostRequest(r) => tx::channel::post(&ctx, r),
            Request::MulticastPollRequest(r) => tx::channel::poll(&ctx, r),
        }?;
        Ok(Ran::Done {
            response,
            recipient: reply_key,
            keep,
        })
    }

    /// Remember a nonce for twice the freshness window, in the store (so that a request
    /// replayed to another process on the same database is caught too). A nonce seen again is
    /// a replay (401); a store that cannot say is unavailable (503), not an attack.
    fn remember_nonce(&self, kind: &str, nonce: &str, digest: &[u8; 64]) -> Result<Seen, Refusal> {
        let expires = unix_now() + NONCE_SECONDS;
        if self
            .store
            .put_ephemeral(kind, nonce, digest, expires, true)?
        {
            return Ok(Seen::New);
        }
        // Seen: the request was applied, or may have been. Whatever happens now must not say
        // "nothing was applied" (503): a store failure from here is the service's own (500).
        let Some((value, _)) = self
            .store
            .get_ephemeral(kind, nonce)
            .map_err(crate::tx::sync::after_commit)?
        else {
            return Ok(Seen::Other);
        };
        if value.len() < 64 || value[..64] != digest[..] {
            return Ok(Seen::Other);
        }
        if value.len() < 66 {
            return Ok(Seen::Same(None));
        }
        Ok(Seen::Same(Some(Reply {
            status: u16::from_be_bytes([value[64], value[65]]),
            body: value[66..].to_vec(),
            plain: false,
        })))
    }

    /// The devices an account's access catalog records as removed, read again only when the
    /// catalog has changed (cached by its index and apex digest).
    /// `admin` is the account's administrator key, which signs the removal entries.
    pub(crate) fn account_removals(
        &self,
        record: &AccountRecord,
        admin: &PublicKey,
    ) -> Result<Vec<String>, Refusal> {
        self.access_marks(
            &self.removals,
            record,
            admin,
            crate::operate::revoked_devices,
        )
    }

    /// The senders an account blocked, read again only when its access catalog has changed.
    pub(crate) fn blocked_senders(&self, record: &AccountRecord) -> Result<Vec<String>, Refusal> {
        let admin = Self::admin_key(record)?;
        self.access_marks(
            &self.blocks,
            record,
            &admin,
            crate::operate::blocked_senders,
        )
    }

    /// What `read` finds in an account's access catalog (entries signed by `admin`), kept in
    /// `cache` until the catalog or the administrator key changes.
    fn access_marks(
        &self,
        cache: &AccessMarks,
        record: &AccountRecord,
        admin: &PublicKey,
        read: fn(&dyn Store, &str, &PublicKey) -> crate::store::StoreResult<Vec<String>>,
    ) -> Result<Vec<String>, Refusal> {
        let state = self.store.state(&record.address, crate::operate::ACCESS)?;
        let admin_udf = admin.udf();
        if let Some((at, by, marks)) = cache.lock().expect("access marks").get(&record.address) {
            if *at == state && *by == admin_udf {
                return Ok(marks.clone());
            }
        }
        let marks = read(self.store.as_ref(), &record.address, admin)?;
        let mut held = cache.lock().expect("access marks");
        if held.len() >= 100_000 {
            held.clear();
        }
        held.insert(record.address.clone(), (state, admin_udf, marks.clone()));
        Ok(marks)
    }

    /// The refusal (403) of messages from `senders` to the account `recipient` (as the caller
    /// read it) of this service, if the account blocked one of them.
    pub(crate) fn not_blocked(
        &self,
        recipient: &AccountRecord,
        senders: &[String],
    ) -> Result<(), Refusal> {
        let blocked = self.blocked_senders(recipient)?;
        if let Some(sender) = senders
            .iter()
            .find(|s| blocked.iter().any(|b| b.eq_ignore_ascii_case(s)))
        {
            return Err(Refusal::Forbidden(format!(
                "{} does not take messages from {sender}",
                recipient.address
            )));
        }
        Ok(())
    }

    /// May an account of `address` be held here?
    pub(crate) fn serves(&self, address: &str) -> Result<(), Refusal> {
        let Some(domains) = &self.domains else {
            return Ok(());
        };
        // One '@', something before it, and a domain of this service's after it.
        let served = match address.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty() && !domain.contains('@') && domains.iter().any(|d| d == domain)
            }
            None => false,
        };
        if served {
            Ok(())
        } else {
            Err(Refusal::Forbidden(format!(
                "this service holds accounts of {} only",
                domains.join(", ")
            )))
        }
    }

    /// The administrator key of an account.
    pub(crate) fn admin_key(account: &AccountRecord) -> Result<PublicKey, Refusal> {
        account
            .profile_user()
            .and_then(|p| required(&p.administrator_signature, "AdministratorSignature"))
            .map_err(|e| {
                tracing::error!("account {}: {e}", account.address);
                Refusal::Internal
            })
    }
}
