//! The service host: its identity (ProfileService and ProfileHost, their secrets sealed at rest)
//! and the handling of every transaction (protocol-09 §7, §10), independent of HTTP.

use std::path::Path;
use std::sync::Arc;

use mesh_crypto::{profile_keys, PrivateKey, PublicKey, SecretSeed};
use mesh_dare::{DareEnvelope, KeyRing};
use mesh_protocol::binding::{self, OpenedRequest, DEFAULT_MAX_REQUEST};
use mesh_protocol::messages::*;
use mesh_protocol::{ProtocolError, Request, Response};
use mesh_schema::assertion::ConnectionDevice;
use mesh_schema::key::{required, KeyData};
use mesh_schema::message::AcknowledgeConnection;
use mesh_schema::profile::{ProfileHost, ProfileService, ProfileUser};
use mesh_schema::{expect_item, ids, signed, MeshItem};
use mesh_udf::{random, KeySpecifier};
use serde::{Deserialize, Serialize};

use crate::store::*;

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
/// Most entries one Download returns.
pub const MAX_DOWNLOAD_ENTRIES: u64 = 500;

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ServiceSecrets {
    service_secret: String,
    host_secret: String,
}

/// The service's keys and signed profiles.
pub struct Identity {
    pub profile_service: DareEnvelope,
    pub profile_host: DareEnvelope,
    pub service_udf: String,
    sign: PrivateKey,
    encrypt: PrivateKey,
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
        std::fs::write(&tmp, sealed)
            .and_then(|_| std::fs::File::open(&tmp)?.sync_all())
            .and_then(|_| std::fs::rename(&tmp, &path))
            .map_err(|e| e.to_string())?;
        Ok(identity)
    }

    /// A new identity and its secrets sealed by `passphrase`, to be stored.
    pub fn create(passphrase: &str) -> Result<(Self, Vec<u8>), String> {
        let new = || {
            random::secret_seed(KeySpecifier::new(0, 260).expect("service type"), 256).to_string()
        };
        let secrets = ServiceSecrets {
            service_secret: new(),
            host_secret: new(),
        };
        let plain = serde_json::to_vec(&secrets).map_err(|e| e.to_string())?;
        let sealed = mesh_dare::passphrase::seal(&plain, passphrase).map_err(|e| e.to_string())?;
        Ok((Self::from_secrets(&secrets)?, sealed))
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
        })
    }
}

/// A request's outcome: the HTTP status and the sealed response.
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Who made a request for an account.
struct Caller {
    account: AccountRecord,
    encryption: PublicKey,
    device_udf: String,
}

/// A ticket issued to a device (§5.3.4), as the store keeps it (so that every service process
/// on a shared database honours it).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Ticket {
    account: String,
    device_udf: String,
    encryption: mesh_dare::KeyParameters,
    #[serde(with = "mesh_encoding::base64url")]
    key: Vec<u8>,
}

/// Rendezvous channels live this long after allocation.
pub const CHANNEL_SECONDS: u64 = 60;
/// Largest blob a channel holds.
pub const CHANNEL_BLOB_MAX: usize = 32 * 1024;

pub struct ServiceHost {
    /// How long a ticket is good for.
    pub ticket_seconds: u64,
    /// Messages for other services' accounts, queued and retried.
    pub outbox: Option<Arc<crate::outbox::Outbox>>,
    store: Arc<dyn Store>,
    identity: Identity,
    keys: KeyRing,
    shares: crate::operate::ShareCache,
    pub max_request: usize,
    /// Entries each account may append per minute.
    pub limiter: crate::limits::UpdateLimiter,
}

fn refuse(status: u16, text: impl Into<String>) -> (Response, Option<PublicKey>) {
    (Response::error(status, text), None)
}

fn store_err(e: StoreError) -> (Response, Option<PublicKey>) {
    match e {
        StoreError::Invalid(t) => refuse(400, t),
        other => {
            tracing::error!("storage: {other}");
            refuse(500, "the service could not store the request")
        }
    }
}

impl ServiceHost {
    pub fn new(store: Arc<dyn Store>, identity: Identity) -> Self {
        let mut keys = KeyRing::new();
        keys.add_private(identity.encrypt.clone());
        ServiceHost {
            ticket_seconds: 3600,
            outbox: None,
            store,
            identity,
            keys,
            shares: Default::default(),
            max_request: DEFAULT_MAX_REQUEST,
            limiter: crate::limits::UpdateLimiter::new(crate::limits::DEFAULT_UPDATES_PER_MINUTE),
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

    /// Handle one request body; never panics on bad input.
    pub fn handle(&self, body: &[u8]) -> Reply {
        let mut encoding = binding::Encoding::Json;
        let (response, recipient) = if body.len() > self.max_request {
            refuse(
                413,
                format!(
                    "the request is {} octets; the limit is {}",
                    body.len(),
                    self.max_request
                ),
            )
        } else {
            match binding::open_request(body, &self.keys) {
                Err(ProtocolError::Expired(age)) => {
                    refuse(401, format!("the request is {age} s old: expired"))
                }
                Err(e) => refuse(400, e.to_string()),
                Ok(opened) => {
                    encoding = opened.encoding;
                    if self.replayed(&opened.nonce) {
                        refuse(401, "replayed request")
                    } else {
                        self.dispatch(&opened)
                    }
                }
            }
        };
        let (status, _) = response.status();
        let body =
            binding::seal_response(&response, &self.identity.sign, recipient.as_ref(), encoding)
                .unwrap_or_default();
        Reply { status, body }
    }

    /// Remember nonces for twice the freshness window, in the store (so that a request replayed
    /// to another process on the same database is caught too); a nonce seen again is a replay.
    /// If the store cannot say, the request is treated as a replay: refused, not run twice.
    fn replayed(&self, nonce: &str) -> bool {
        let expires = unix_now() + 2 * binding::FRESHNESS_SECONDS as u64;
        !matches!(
            self.store.put_ephemeral("nonce", nonce, &[], expires, true),
            Ok(true)
        )
    }

    fn dispatch(&self, opened: &OpenedRequest) -> (Response, Option<PublicKey>) {
        match &opened.request {
            Request::HelloRequest(_) => (Response::MeshHelloResponse(self.hello()), None),
            Request::BindRequest(r) => self.bind(opened, r),
            Request::ConnectRequest(r) => self.connect(opened, r),
            Request::CompleteRequest(r) => self.complete(r),
            Request::PostRequest(r) => self.post(r),
            Request::MulticastPostRequest(r) => self.channel_post(r),
            Request::ClaimRequest(r) => self.claim(r),
            Request::PollClaimRequest(r) => self.poll_claim(r),
            Request::MulticastPollRequest(r) => self.channel_poll(r),
            request => {
                let Some((Some(account), connection)) = request.user() else {
                    return refuse(400, "the request names no account");
                };
                let caller = match self.authenticate(opened, account, connection) {
                    Ok(c) => c,
                    Err(e) => return e,
                };
                let key = Some(caller.encryption.clone());
                let response = match request {
                    Request::UnbindRequest(_) => self.unbind(&caller),
                    Request::StatusRequest(r) => self.status(&caller, r),
                    Request::DownloadRequest(r) => self.download(&caller, r),
                    Request::TransactRequest(r) => self.transact(&caller, r),
                    Request::MulticastAllocateRequest(_) => Ok(self.channel_allocate()),
                    Request::TicketRequest(_) => Ok(self.issue_ticket(&caller)),
                    Request::OperateRequest(r) => self.operate(&caller, r),
                    _ => return refuse(400, "unexpected request"),
                };
                match response {
                    Ok(r) => (r, key),
                    Err(e) => store_err(e),
                }
            }
        }
    }

    fn hello(&self) -> MeshHelloResponse {
        MeshHelloResponse {
            status: Some(200),
            version: Some(Version {
                major: Some(3),
                minor: Some(0),
                encodings: vec![EncodingInfo {
                    id: vec!["application/json".into(), "application/x-json-b".into()],
                }],
            }),
            constraints_update: Some(ConstraintsData {
                max_entries: Some(MAX_UPDATE_ENTRIES),
                bytes_max: Some(self.max_request as u64),
                ..Default::default()
            }),
            constraints_post: Some(ConstraintsData {
                bytes_max: Some(self.max_request as u64),
                ..Default::default()
            }),
            policy_account: Some(PolicyAccount {
                minimum: Some(1),
                maximum: Some(64),
                invalid_characters: Some("/\\ ".into()),
            }),
            enveloped_profile_service: Some(self.identity.profile_service.clone()),
            enveloped_profile_host: Some(self.identity.profile_host.clone()),
            ..Default::default()
        }
    }

    #[allow(clippy::result_large_err)]
    /// Profile authentication: the connection is signed by the account's administrator key,
    /// names a device that is not revoked, and its Signature key signed the request.
    fn check_device(
        opened: &OpenedRequest,
        profile: &ProfileUser,
        address: &str,
        connection: Option<&DareEnvelope>,
        revoked: &[String],
    ) -> Result<ConnectionDevice, (Response, Option<PublicKey>)> {
        let connection =
            connection.ok_or_else(|| refuse(401, "the request carries no device connection"))?;
        let admin = required(&profile.administrator_signature, "AdministratorSignature")
            .map_err(|e| refuse(500, e.to_string()))?;
        let item =
            signed::verify_signed_by(connection, &admin, "device connection", &KeyRing::new())
                .map_err(|e| refuse(401, e.to_string()))?;
        let device =
            expect_item!(item, ConnectionDevice).map_err(|e| refuse(401, e.to_string()))?;
        if device
            .account_address
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
            != Some(address)
        {
            return Err(refuse(403, "the device connection is for another account"));
        }
        if let Some(udf) = &device.subject_udf {
            if revoked.iter().any(|r| r == udf) {
                return Err(refuse(
                    403,
                    format!("device {udf} has been removed from the account"),
                ));
            }
        }
        let signer =
            required(&device.signature, "Signature").map_err(|e| refuse(401, e.to_string()))?;
        let mut ring = KeyRing::new();
        ring.add_public(signer);
        opened.envelope.verify_strict(&ring).map_err(|e| {
            refuse(
                401,
                format!("the request is not signed by the connected device: {e}"),
            )
        })?;
        Ok(device)
    }

    #[allow(clippy::result_large_err)]
    fn authenticate(
        &self,
        opened: &OpenedRequest,
        account: &str,
        connection: Option<&DareEnvelope>,
    ) -> Result<Caller, (Response, Option<PublicKey>)> {
        let address = account.to_ascii_lowercase();
        let record = match self.store.account(&address) {
            Ok(Some(r)) => r,
            Ok(None) => return Err(refuse(404, format!("no account {address} on this service"))),
            Err(e) => return Err(store_err(e)),
        };
        if let Some((id, mac)) = binding::ticket_of(&opened.envelope) {
            return self.check_ticket(opened, record, &id, &mac);
        }
        let profile = record
            .profile_user()
            .map_err(|e| refuse(500, e.to_string()))?;
        let device = Self::check_device(opened, &profile, &address, connection, &record.revoked)?;
        let encryption =
            required(&device.encryption, "Encryption").map_err(|e| refuse(401, e.to_string()))?;
        Ok(Caller {
            account: record,
            encryption,
            device_udf: device.subject_udf.unwrap_or_default(),
        })
    }

    /// Ticket authentication: a ticket this service issued, unexpired, for this account and a
    /// device not since revoked, and a MAC under its key over the nonce, time and payload.
    #[allow(clippy::result_large_err)]
    fn check_ticket(
        &self,
        opened: &OpenedRequest,
        record: AccountRecord,
        id: &str,
        mac: &[u8],
    ) -> Result<Caller, (Response, Option<PublicKey>)> {
        let (bytes, expires) = match self.store.get_ephemeral("ticket", id) {
            Ok(Some(found)) => found,
            Ok(None) => return Err(refuse(401, "unknown ticket")),
            Err(e) => return Err(store_err(e)),
        };
        if expires <= unix_now() {
            return Err(refuse(401, "expired ticket"));
        }
        let ticket: Ticket =
            serde_json::from_slice(&bytes).map_err(|_| refuse(401, "unknown ticket"))?;
        if ticket.account != record.address {
            return Err(refuse(401, "the ticket is for another account"));
        }
        if record.revoked.contains(&ticket.device_udf) {
            return Err(refuse(
                403,
                format!(
                    "device {} has been removed from the account",
                    ticket.device_udf
                ),
            ));
        }
        let meta = opened.envelope.content_meta().unwrap_or_default();
        let digest = opened
            .envelope
            .trailer
            .as_ref()
            .and_then(|t| t.payload_digest.clone())
            .unwrap_or_default();
        let expected = binding::ticket_mac(
            &ticket.key,
            &opened.nonce,
            meta.created.as_deref().unwrap_or_default(),
            &digest,
        );
        let digest_ok = digest == mesh_dare::envelope::sha512(&opened.envelope.payload).to_vec();
        if !digest_ok
            || expected.len() != mac.len()
            || expected
                .iter()
                .zip(mac)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                != 0
        {
            return Err(refuse(401, "the ticket MAC does not verify"));
        }
        let encryption = ticket
            .encryption
            .public_key()
            .map_err(|_| refuse(401, "unknown ticket"))?;
        Ok(Caller {
            account: record,
            encryption,
            device_udf: ticket.device_udf,
        })
    }

    fn issue_ticket(&self, caller: &Caller) -> Response {
        let id = mesh_udf::random::nonce(128).to_string();
        let key: [u8; 32] = rand::random();
        let ticket = Ticket {
            account: caller.account.address.clone(),
            device_udf: caller.device_udf.clone(),
            encryption: mesh_dare::KeyParameters::from_public(&caller.encryption),
            key: key.to_vec(),
        };
        let stored = serde_json::to_vec(&ticket)
            .map_err(|e| StoreError::Invalid(e.to_string()))
            .and_then(|bytes| {
                self.store.put_ephemeral(
                    "ticket",
                    &id,
                    &bytes,
                    unix_now() + self.ticket_seconds,
                    true,
                )
            });
        if let Err(e) = stored {
            return store_err(e).0;
        }
        Response::TicketResponse(TicketResponse {
            status: Some(200),
            ticket: Some(id),
            ticket_key: Some(key.to_vec()),
            expires_seconds: Some(self.ticket_seconds),
            ..Default::default()
        })
    }

    fn bind(&self, opened: &OpenedRequest, r: &BindRequest) -> (Response, Option<PublicKey>) {
        let Some(address) = r.account_address.as_deref().map(str::to_ascii_lowercase) else {
            return refuse(400, "BindRequest without an AccountAddress");
        };
        let Some(profile_env) = &r.enveloped_profile_account else {
            return refuse(400, "BindRequest without an EnvelopedProfileAccount");
        };
        let profile = match signed::verify_profile_user(profile_env) {
            Ok((p, _)) => p,
            Err(e) => return refuse(400, format!("the account profile does not verify: {e}")),
        };
        if profile
            .account_address
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
            != Some(address.as_str())
        {
            return refuse(400, "the account profile is for another address");
        }
        let device = match Self::check_device(
            opened,
            &profile,
            &address,
            r.enveloped_connection_device.as_ref(),
            &[],
        ) {
            Ok(d) => d,
            Err(e) => return e,
        };
        let key = required(&device.encryption, "Encryption").ok();
        match self.store.bind(&address, profile_env) {
            Ok(true) => (
                Response::BindResponse(MeshResponse {
                    status: Some(201),
                    status_description: Some("Created".into()),
                    reason: None,
                }),
                key,
            ),
            Ok(false) => refuse(
                409,
                format!("the account {address} is already bound to this service"),
            ),
            Err(e) => store_err(e),
        }
    }

    /// The administrator key of the caller's account.
    fn admin_key(caller: &Caller) -> StoreResult<PublicKey> {
        caller
            .account
            .profile_user()
            .and_then(|p| required(&p.administrator_signature, "AdministratorSignature"))
            .map_err(|e| StoreError::Invalid(e.to_string()))
    }

    fn operate(&self, caller: &Caller, r: &OperateRequest) -> StoreResult<Response> {
        let admin = Self::admin_key(caller)?;
        crate::operate::operate(
            self.store.as_ref(),
            &self.shares,
            &self.keys,
            &caller.account.address,
            &admin,
            &caller.device_udf,
            r,
        )
    }

    fn unbind(&self, caller: &Caller) -> StoreResult<Response> {
        self.store.unbind(&caller.account.address)?;
        Ok(Response::UnbindResponse(MeshResponse {
            status: Some(200),
            ..Default::default()
        }))
    }

    fn status(&self, caller: &Caller, r: &StatusRequest) -> StoreResult<Response> {
        let mut container_status = Vec::new();
        for name in r.catalogs.iter().chain(&r.spools) {
            let state = self.store.state(&caller.account.address, name)?;
            container_status.push(ContainerStatus {
                container: Some(name.clone()),
                index: Some(state.index),
                digest: state.digest,
            });
        }
        Ok(Response::StatusResponse(StatusResponse {
            status: Some(200),
            enveloped_profile_account: Some(caller.account.profile.clone()),
            container_status,
            ..Default::default()
        }))
    }

    fn download(&self, caller: &Caller, r: &DownloadRequest) -> StoreResult<Response> {
        let max = r
            .constraints_post
            .as_ref()
            .and_then(|c| c.max_entries)
            .unwrap_or(MAX_DOWNLOAD_ENTRIES)
            .clamp(1, MAX_DOWNLOAD_ENTRIES);
        let mut budget = self.max_request.max(DEFAULT_MAX_REQUEST) as u64 * 16;
        let mut updates = Vec::new();
        for select in &r.select {
            let Some(name) = &select.container else {
                continue;
            };
            let state = self.store.state(&caller.account.address, name)?;
            let from = select.index_min.unwrap_or(1).max(1);
            let mut envelopes = self.store.read(&caller.account.address, name, from, max)?;
            if let Some(to) = select.index_max {
                envelopes.truncate(to.saturating_sub(from).saturating_add(1) as usize);
            }
            // Keep responses proportionate: stop adding entries past the byte budget.
            let mut kept = Vec::new();
            for env in envelopes {
                let size = env.payload.len() as u64 + 512;
                if !kept.is_empty() && size > budget {
                    break;
                }
                budget = budget.saturating_sub(size);
                kept.push(env);
            }
            updates.push(ContainerUpdate {
                container: Some(name.clone()),
                index: Some(state.index),
                digest: state.digest,
                envelopes: kept,
            });
        }
        Ok(Response::DownloadResponse(DownloadResponse {
            status: Some(200),
            updates,
            ..Default::default()
        }))
    }

    /// The refusal (429) of `n` more entries for `address` if that is over its update limit.
    fn over_limit(&self, address: &str, n: u64) -> Option<Response> {
        let limit = self.limiter.per_minute();
        match self.limiter.take(address, n) {
            Ok(()) => None,
            Err(Some(wait)) => Some(Response::error(
                429,
                format!(
                    "too many updates for {address}: this service takes {limit} entries a minute \
                     per account; try again in {wait} s"
                ),
            )),
            Err(None) => Some(Response::error(
                429,
                format!(
                    "{n} entries at once is more than this service takes for an account in a \
                     minute ({limit})"
                ),
            )),
        }
    }

    fn transact(&self, caller: &Caller, r: &TransactRequest) -> StoreResult<Response> {
        let total: usize = r.updates.iter().map(|u| u.envelopes.len()).sum::<usize>()
            + r.inbound.len()
            + r.local.len()
            + r.outbound.len();
        if total as u64 > MAX_UPDATE_ENTRIES {
            return Ok(Response::error(
                413,
                format!("{total} entries in one transaction; the limit is {MAX_UPDATE_ENTRIES}"),
            ));
        }
        if let Some(refusal) = self.over_limit(&caller.account.address, total as u64) {
            return Ok(refusal);
        }
        let mut updates = Vec::new();
        for u in &r.updates {
            let Some(name) = &u.container else {
                return Ok(Response::error(400, "an update names no container"));
            };
            check_container_name(name)?;
            if name == crate::operate::ACCESS {
                let admin = Self::admin_key(caller)?;
                for env in &u.envelopes {
                    if let Err(why) = crate::operate::check_access_entry(env, &admin) {
                        return Ok(Response::error(403, why));
                    }
                }
            }
            updates.push(Update {
                container: name.clone(),
                expect_index: Some(u.index.unwrap_or(0)),
                expect_digest: u.digest.clone(),
                envelopes: u.envelopes.clone(),
            });
        }
        for (name, list) in [
            (INBOUND, &r.inbound),
            (LOCAL, &r.local),
            (OUTBOUND, &r.outbound),
        ] {
            if !list.is_empty() {
                updates.push(Update {
                    container: name.into(),
                    expect_index: None,
                    expect_digest: None,
                    envelopes: list.clone(),
                });
            }
        }
        // Revocations must be signed by the account's administrator key.
        let mut revoke = Vec::new();
        if !r.revocations.is_empty() {
            let admin = Self::admin_key(caller)?;
            for env in &r.revocations {
                let mut ring = KeyRing::new();
                ring.add_public(admin.clone());
                if env.verify_strict(&ring).is_err() {
                    return Ok(Response::error(
                        403,
                        "a revocation not signed by the account's administrator key",
                    ));
                }
                let revocation: Revocation = mesh_encoding::from_json(&env.payload)
                    .map_err(|e| StoreError::Invalid(format!("revocation: {e}")))?;
                if revocation
                    .account
                    .as_deref()
                    .map(str::to_ascii_lowercase)
                    .as_deref()
                    != Some(caller.account.address.as_str())
                {
                    return Ok(Response::error(403, "a revocation for another account"));
                }
                revoke.extend(revocation.device_udf);
            }
        }
        for udf in &revoke {
            self.store.revoke(&caller.account.address, udf)?;
        }
        match self.store.transact(&caller.account.address, &updates)? {
            TransactOutcome::Conflict { container, state } => {
                Ok(Response::TransactResponse(TransactResponse {
                    status: Some(409),
                    status_description: Some(format!(
                        "Conflict: {container} is at index {} on the service",
                        state.index
                    )),
                    container_status: vec![ContainerStatus {
                        container: Some(container),
                        index: Some(state.index),
                        digest: state.digest,
                    }],
                    ..Default::default()
                }))
            }
            TransactOutcome::Applied(assigned) => {
                // Messages for other accounts of this service go to their inbound spools.
                for account in &r.accounts {
                    if account.eq_ignore_ascii_case(&caller.account.address)
                        || r.outbound.is_empty()
                    {
                        continue;
                    }
                    if self.store.account(&account.to_ascii_lowercase())?.is_some() {
                        let deliver = Update {
                            container: INBOUND.into(),
                            expect_index: None,
                            expect_digest: None,
                            envelopes: r.outbound.clone(),
                        };
                        self.store
                            .transact(&account.to_ascii_lowercase(), &[deliver])?;
                    } else if let Some(outbox) = &self.outbox {
                        // Durable before the Transact is acknowledged.
                        outbox.enqueue(
                            &account.to_ascii_lowercase(),
                            &r.outbound,
                            &caller.account.address,
                        )?;
                    } else {
                        return Ok(Response::error(
                            404,
                            format!("no account {account} here, and this service does not forward"),
                        ));
                    }
                }
                let mut entries = Vec::new();
                let mut n = 0;
                for list in assigned {
                    for index in list {
                        entries.push(EntryResponse {
                            index_request: Some(n),
                            index_container: Some(index),
                            result: Some("Accept".into()),
                        });
                        n += 1;
                    }
                }
                let mut container_status = Vec::new();
                for u in &updates {
                    let state = self.store.state(&caller.account.address, &u.container)?;
                    container_status.push(ContainerStatus {
                        container: Some(u.container.clone()),
                        index: Some(state.index),
                        digest: state.digest,
                    });
                }
                Ok(Response::TransactResponse(TransactResponse {
                    status: Some(200),
                    entries,
                    container_status,
                    ..Default::default()
                }))
            }
        }
    }

    /// Post (§10.13): messages from anyone to accounts of this service, into their inbound spools.
    fn post(&self, r: &PostRequest) -> (Response, Option<PublicKey>) {
        if r.messages.is_empty() || r.accounts.is_empty() {
            return refuse(400, "a PostRequest needs accounts and messages");
        }
        for account in &r.accounts {
            let address = account.to_ascii_lowercase();
            match self.store.account(&address) {
                Ok(Some(_)) => {}
                Ok(None) => return refuse(404, format!("no account {address} on this service")),
                Err(e) => return store_err(e),
            }
            // Over the limit, the sending service keeps the messages and tries again later.
            if let Some(refusal) = self.over_limit(&address, r.messages.len() as u64) {
                return (refusal, None);
            }
            let update = Update {
                container: INBOUND.into(),
                expect_index: None,
                expect_digest: None,
                envelopes: r.messages.clone(),
            };
            if let Err(e) = self.store.transact(&address, &[update]) {
                return store_err(e);
            }
        }
        (
            Response::PostResponse(TransactResponse {
                status: Some(200),
                ..Default::default()
            }),
            None,
        )
    }

    /// Connect (§9.2): a device asks to join an account. The service acknowledges with its nonce
    /// and the witness value, and queues the acknowledgement in the account's inbound spool for
    /// an administrator device.
    fn connect(&self, opened: &OpenedRequest, r: &ConnectRequest) -> (Response, Option<PublicKey>) {
        let Some(request_env) = &r.enveloped_request_connection else {
            return refuse(400, "ConnectRequest without an EnvelopedRequestConnection");
        };
        let request = match signed::read(request_env, &KeyRing::new())
            .and_then(|i| expect_item!(i, RequestConnection))
        {
            Ok(r) => r,
            Err(e) => return refuse(400, e.to_string()),
        };
        let Some(device_env) = &request.authenticated_data else {
            return refuse(400, "the connection request carries no device profile");
        };
        let (device, _) = match signed::verify_profile_device(device_env) {
            Ok(d) => d,
            Err(e) => return refuse(400, format!("the device profile does not verify: {e}")),
        };
        let device_key = match required(&device.profile_signature, "ProfileSignature") {
            Ok(k) => k,
            Err(e) => return refuse(400, e.to_string()),
        };
        // The request and its carrier are signed by the device's own profile key.
        let mut ring = KeyRing::new();
        ring.add_public(device_key.clone());
        if request_env.verify_strict(&ring).is_err()
            || opened.envelope.verify_strict(&ring).is_err()
        {
            return refuse(
                401,
                "the connection request is not signed by the device it presents",
            );
        }
        let Some(address) = request
            .account_address
            .as_deref()
            .map(str::to_ascii_lowercase)
        else {
            return refuse(400, "the connection request names no account");
        };
        let record = match self.store.account(&address) {
            Ok(Some(r)) => r,
            Ok(None) => return refuse(404, format!("no account {address} on this service")),
            Err(e) => return store_err(e),
        };
        let account_key = match record
            .profile_user()
            .and_then(|p| required(&p.profile_signature, "ProfileSignature"))
        {
            Ok(k) => k,
            Err(e) => return refuse(500, e.to_string()),
        };
        let mut server_nonce = vec![0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut server_nonce);
        let client_nonce = request.client_nonce.clone().unwrap_or_default();
        let witness = ids::witness(&account_key, &server_nonce, &device_key, &client_nonce);
        let ack = AcknowledgeConnection {
            message_id: Some(witness.clone()),
            enveloped_request_connection: Some(request_env.clone()),
            server_nonce: Some(server_nonce),
            witness: Some(witness.clone()),
            ..Default::default()
        };
        let ack_env = match signed::seal(&ack.into(), &self.identity.sign, Some(&witness), &[]) {
            Ok(e) => e,
            Err(e) => return refuse(500, e.to_string()),
        };
        let update = Update {
            container: INBOUND.into(),
            expect_index: None,
            expect_digest: None,
            envelopes: vec![ack_env.clone()],
        };
        if let Err(e) = self.store.transact(&address, &[update]) {
            return store_err(e);
        }
        let encryption = required(&device.encryption, "Encryption").ok();
        (
            Response::ConnectResponse(ConnectResponse {
                status: Some(200),
                enveloped_acknowledge_connection: Some(ack_env),
                enveloped_profile_account: Some(record.profile),
                ..Default::default()
            }),
            encryption,
        )
    }

    /// Complete (§9.2): the device collects the administrator's answer, which the administrator
    /// left in the account's local spool under the response id.
    fn complete(&self, r: &CompleteRequest) -> (Response, Option<PublicKey>) {
        let (Some(address), Some(id)) = (
            r.account_address.as_deref().map(str::to_ascii_lowercase),
            r.response_id.as_deref(),
        ) else {
            return refuse(400, "CompleteRequest needs AccountAddress and ResponseID");
        };
        match self.store.find(&address, LOCAL, id) {
            Ok(Some(env)) => (
                Response::CompleteResponse(CompleteResponse {
                    status: Some(200),
                    enveloped_respond_connection: Some(env),
                    ..Default::default()
                }),
                None,
            ),
            Ok(None) => (
                Response::CompleteResponse(CompleteResponse {
                    status: Some(202),
                    status_description: Some("Pending: not yet answered".into()),
                    ..Default::default()
                }),
                None,
            ),
            Err(e) => store_err(e),
        }
    }

    /// Claim (§10.14): return the publication and record who claimed it, once.
    fn claim(&self, r: &ClaimRequest) -> (Response, Option<PublicKey>) {
        let Some(envelope) = &r.enveloped_message_claim else {
            return refuse(400, "ClaimRequest without a claim");
        };
        let claim = match signed::read(envelope, &KeyRing::new())
            .and_then(|i| expect_item!(i, MessageClaim))
        {
            Ok(c) => c,
            Err(e) => return refuse(400, e.to_string()),
        };
        let (Some(publisher), Some(id)) = (
            claim.recipient.as_deref().map(str::to_ascii_lowercase),
            claim.publication_id.clone(),
        ) else {
            return refuse(400, "the claim names no publisher or publication");
        };
        // Claims are recorded under the publication id, so that there is only ever one.
        if envelope
            .content_meta()
            .ok()
            .and_then(|m| m.unique_id)
            .as_deref()
            != Some(id.as_str())
        {
            return refuse(
                400,
                "the claim envelope's UniqueId must be the publication id",
            );
        }
        match self.store.find(&publisher, CLAIMS, &id) {
            Ok(Some(_)) => return refuse(409, "the publication has been claimed already"),
            Ok(None) => {}
            Err(e) => return store_err(e),
        }
        let publication = match self.store.find(&publisher, PUBLISHED, &id) {
            Ok(Some(env)) => env,
            Ok(None) => return refuse(404, "no such publication"),
            Err(e) => return store_err(e),
        };
        let cataloged = match mesh_encoding::from_json::<MeshItem>(&publication.payload)
            .map_err(|e| e.to_string())
            .and_then(|i| expect_item!(i, CatalogedPublication).map_err(|e| e.to_string()))
        {
            Ok(p) => p,
            Err(e) => return refuse(500, e),
        };
        let update = Update {
            container: CLAIMS.into(),
            expect_index: None,
            expect_digest: None,
            envelopes: vec![envelope.clone()],
        };
        if let Err(e) = self.store.transact(&publisher, &[update]) {
            return store_err(e);
        }
        (
            Response::ClaimResponse(ClaimResponse {
                status: Some(200),
                cataloged_publication: Some(cataloged),
                ..Default::default()
            }),
            None,
        )
    }

    /// PollClaim (§10.15): the claim made on a publication, if any.
    fn poll_claim(&self, r: &PollClaimRequest) -> (Response, Option<PublicKey>) {
        let (Some(publisher), Some(id)) = (
            r.target_account_address
                .as_deref()
                .map(str::to_ascii_lowercase),
            r.publication_id.as_deref(),
        ) else {
            return refuse(
                400,
                "PollClaimRequest needs PublicationId and TargetAccountAddress",
            );
        };
        match self.store.find(&publisher, CLAIMS, id) {
            Ok(found) => (
                Response::PollClaimResponse(PollClaimResponse {
                    status: Some(if found.is_some() { 200 } else { 202 }),
                    enveloped_message: found,
                    ..Default::default()
                }),
                None,
            ),
            Err(e) => store_err(e),
        }
    }

    fn channel_allocate(&self) -> Response {
        // Small ids keep pairing codes short (Elias-delta of id + 1 in the code).
        let expires = unix_now() + CHANNEL_SECONDS;
        for _ in 0..64 {
            let id = rand::random::<u64>() % 65_536;
            match self
                .store
                .put_ephemeral("channel", &id.to_string(), &[], expires, true)
            {
                Ok(true) => {
                    return Response::MulticastAllocateResponse(MulticastAllocateResponse {
                        status: Some(200),
                        channel_id: Some(id),
                        expires_seconds: Some(CHANNEL_SECONDS),
                        ..Default::default()
                    })
                }
                Ok(false) => continue,
                Err(e) => return store_err(e).0,
            }
        }
        Response::error(503, "no free channel; try again shortly")
    }

    /// A live channel's expiry and blob (an empty value is a channel nothing was posted to).
    #[allow(clippy::result_large_err, clippy::type_complexity)]
    fn channel(&self, id: u64) -> Result<(u64, Option<Vec<u8>>), (Response, Option<PublicKey>)> {
        match self.store.get_ephemeral("channel", &id.to_string()) {
            Ok(Some((value, expires))) if expires > unix_now() => {
                Ok((expires, (!value.is_empty()).then_some(value)))
            }
            Ok(_) => Err(refuse(404, format!("no open channel {id}"))),
            Err(e) => Err(store_err(e)),
        }
    }

    fn channel_post(&self, r: &MulticastPostRequest) -> (Response, Option<PublicKey>) {
        let (Some(id), Some(blob)) = (r.channel_id, &r.blob) else {
            return refuse(400, "MulticastPostRequest needs ChannelId and Blob");
        };
        if blob.is_empty() || blob.len() > CHANNEL_BLOB_MAX {
            return refuse(
                413,
                format!("a channel blob holds 1 to {CHANNEL_BLOB_MAX} octets"),
            );
        }
        let expires = match self.channel(id) {
            Ok((expires, _)) => expires,
            Err(e) => return e,
        };
        match self
            .store
            .put_ephemeral("channel", &id.to_string(), blob, expires, false)
        {
            Ok(_) => (
                Response::MeshResponse(MeshResponse {
                    status: Some(200),
                    ..Default::default()
                }),
                None,
            ),
            Err(e) => store_err(e),
        }
    }

    fn channel_poll(&self, r: &MulticastPollRequest) -> (Response, Option<PublicKey>) {
        let Some(id) = r.channel_id else {
            return refuse(400, "MulticastPollRequest needs ChannelId");
        };
        match self.channel(id) {
            Ok((_, blob)) => (
                Response::MulticastPollResponse(MulticastPollResponse {
                    status: Some(200),
                    blob,
                    ..Default::default()
                }),
                None,
            ),
            Err(e) => e,
        }
    }
}
