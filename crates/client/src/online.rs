//! The device talking to its account's service: Hello, Bind, Unbind, Status and Sync
//! (protocol-09 §7, §10) with the keys this device was connected with.
//!
//! Each container (catalogs and the account's spools) is replicated: `service.json` records for
//! each the index up to which the local copy and the service agree. Sync downloads what the
//! service has beyond that (in pages), replays local entries made since on top (so nothing is
//! lost or silently overwritten), and uploads them with the index and apex digest they were made
//! against: if another device got there first the service answers Conflict and nothing is
//! applied. Catalog changes made while bound are uploaded at once the same way.

use std::collections::BTreeMap;
use std::path::PathBuf;

use mesh_crypto::{PrivateKey, PublicKey};
use mesh_dare::{Container, ContainerType, DareEnvelope, KeyParameters, KeyRing, Mode};
use mesh_protocol::binding;
use mesh_protocol::client::{service_url, HttpClient};
use mesh_protocol::messages::*;
use mesh_protocol::{Request, Response};
use mesh_schema::assertion::{ActivationDevice, ConnectionDevice};
use mesh_schema::catalog::{CatalogedDevice, CryptographicCapability};
use mesh_schema::key::required;
use mesh_schema::profile::{ProfileHost, ProfileService};
use mesh_schema::{expect_item, signed};
use serde::{Deserialize, Serialize};

use crate::catalogs::CatalogKind;
use crate::context::{Account, Device};
use crate::store::write_atomic;
use crate::{ClientError, Result};

/// The account's spools a device replicates.
pub const SPOOLS: [&str; 2] = [INBOUND, "MMM_Local"];
/// The spool only the service writes.
pub const INBOUND: &str = "MMM_Inbound";

/// What a device knows about the service its account is bound to.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceBinding {
    pub url: String,
    pub service_udf: String,
    pub service_signature: Option<KeyParameters>,
    pub service_encryption: Option<KeyParameters>,
    /// Per container: the last index the local copy shares with the service.
    pub synced: BTreeMap<String, u64>,
    /// The service reads JSON-B (its Hello said so): requests are sent in it.
    #[serde(default)]
    pub jsonb: bool,
}

impl ServiceBinding {
    /// A binding to the service `info` describes, nothing synced yet.
    pub fn from_info(info: &ServiceInfo) -> Self {
        ServiceBinding {
            url: info.url.clone(),
            service_udf: info.service_udf.clone(),
            service_signature: Some(KeyParameters::from_public(&info.signature)),
            service_encryption: Some(KeyParameters::from_public(&info.encryption)),
            synced: BTreeMap::new(),
            jsonb: info
                .hello
                .version
                .iter()
                .flat_map(|v| &v.encodings)
                .flat_map(|e| &e.id)
                .any(|id| id == binding::JSONB_TYPE),
        }
    }
}

impl ServiceBinding {
    /// The service's signature and encryption keys, as Hello gave them.
    pub fn keys(&self) -> Result<(PublicKey, PublicKey)> {
        let key = |k: &Option<KeyParameters>| {
            k.as_ref()
                .ok_or_else(|| ClientError::Invalid("the service binding lacks its keys".into()))
                .and_then(|k| Ok(k.public_key()?))
        };
        Ok((
            key(&self.service_signature)?,
            key(&self.service_encryption)?,
        ))
    }

    /// The encoding requests to this service are sent in.
    pub fn encoding(&self) -> binding::Encoding {
        if self.jsonb {
            binding::Encoding::JsonB
        } else {
            binding::Encoding::Json
        }
    }
}

/// The local replica of the container `name` of `account`, opened for appending (created empty
/// if need be).
pub(crate) fn open_local(account: &Account, name: &str) -> Result<Container> {
    let path = account.dir().join(format!("{name}.dare"));
    if path.exists() {
        return Ok(Container::open(&path, Mode::Write)?);
    }
    Ok(Container::create(
        &path,
        ContainerType::Merkle,
        &account.recipients(name),
    )?)
}

/// What the service says about itself.
pub struct ServiceInfo {
    pub url: String,
    pub service_udf: String,
    pub host_udf: String,
    pub signature: PublicKey,
    pub encryption: PublicKey,
    pub hello: MeshHelloResponse,
}

/// Octets of entries (as JSON) one upload transaction carries at most: half the service's
/// default request limit, which leaves room for the request, its encryption and base64.
const UPLOAD_BYTES: usize = binding::DEFAULT_MAX_REQUEST / 2;
/// Entries one upload transaction carries at most (the service takes 1,000).
const UPLOAD_ENTRIES: usize = 500;

/// `envelopes`, read one at a time, handed to `send` in runs that each fit one upload
/// transaction (an entry larger than that alone): no more than one run is in memory at once.
fn upload_chunks(
    envelopes: impl Iterator<Item = Result<DareEnvelope>>,
    send: &mut dyn FnMut(Vec<DareEnvelope>) -> Result<()>,
) -> Result<()> {
    let mut chunk: Vec<DareEnvelope> = Vec::new();
    let mut size = 0;
    for env in envelopes {
        let env = env?;
        let len = env.to_json()?.len();
        if !chunk.is_empty() && (chunk.len() >= UPLOAD_ENTRIES || size + len > UPLOAD_BYTES) {
            send(std::mem::take(&mut chunk))?;
            size = 0;
        }
        size += len;
        chunk.push(env);
    }
    if !chunk.is_empty() {
        send(chunk)?;
    }
    Ok(())
}

/// A Revocation of `device_udf` from `address`, sealed by the administrator key.
pub(crate) fn revocation(
    address: &str,
    device_udf: &str,
    admin: &PrivateKey,
) -> Result<DareEnvelope> {
    let revocation = Revocation {
        account: Some(address.to_string()),
        device_udf: Some(device_udf.to_string()),
    };
    let payload = mesh_encoding::to_json(&revocation)?;
    Ok(DareEnvelope::encode(
        payload.as_bytes(),
        &mesh_dare::EnvelopeOptions {
            signers: vec![admin],
            ..Default::default()
        },
    )?)
}

/// What the account's administrator left in its local spool under `id` for this device (a
/// rotation's or a reconnection's record), collected with an anonymous Complete: `None` if
/// nothing is there.
pub(crate) fn collect_record(account: &Account, id: String) -> Result<Option<DareEnvelope>> {
    let binding =
        load_binding(account).ok_or_else(|| ClientError::NotBound(account.address.clone()))?;
    let (signer, encryption) = binding.keys()?;
    let response = call_anonymous(
        &binding.url,
        &Request::CompleteRequest(CompleteRequest {
            account_address: Some(account.address.clone()),
            response_id: Some(id),
            ..Default::default()
        }),
        &signer,
        &encryption,
    )?;
    Ok(match response {
        Response::CompleteResponse(CompleteResponse {
            enveloped_respond_connection: Some(envelope),
            ..
        }) => Some(envelope),
        _ => None,
    })
}

/// Per container: the service's last index and apex digest.
pub type ServiceStatus = BTreeMap<String, (u64, Option<Vec<u8>>)>;

/// What [`Session::repair`] did: the containers put back (with how many entries), and those it
/// could not repair, with why.
#[derive(Debug, Default)]
pub struct RepairReport {
    pub repaired: Vec<(String, u64)>,
    pub failed: Vec<(String, String)>,
}

/// Outcome of a sync, per container: (name, downloaded, uploaded).
pub type SyncReport = Vec<(String, u64, u64)>;

pub(crate) fn call(
    url: &str,
    request: &Request,
    signer: Option<&PrivateKey>,
    service_key: Option<&PublicKey>,
    keys: &KeyRing,
    service_signer: Option<&PublicKey>,
) -> Result<Response> {
    call_in(
        url,
        request,
        signer,
        service_key,
        keys,
        service_signer,
        binding::Encoding::Json,
    )
}

/// As [`call`], in `encoding`.
#[allow(clippy::too_many_arguments)]
fn call_in(
    url: &str,
    request: &Request,
    signer: Option<&PrivateKey>,
    service_key: Option<&PublicKey>,
    keys: &KeyRing,
    service_signer: Option<&PublicKey>,
    encoding: binding::Encoding,
) -> Result<Response> {
    let authenticator = match signer {
        Some(key) => binding::Authenticator::Key(key),
        None => binding::Authenticator::None,
    };
    exchange(
        url,
        &|| binding::seal_request_in(request, authenticator, service_key, encoding),
        keys,
        service_signer,
    )
}

/// How often a request the service could not take (503: nothing was applied) is sent again,
/// and the first wait; each wait doubles.
const RETRIES: u32 = 4;
const FIRST_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// How often a request over the service's rate allowance (429 with "try again in N s") is sent
/// again, while a [`Patience`] is held.
const RATE_RETRIES: u32 = 12;

thread_local! {
    static PATIENT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// While held, a request over the service's allowance for the account is sent again when the
/// service says (a sync or a bind: the upload of what an account holds, which may be more than a
/// minute's allowance). Otherwise a 429 is an error at once, so that a single change made past
/// the allowance is told so rather than kept waiting.
struct Patience(bool);

impl Patience {
    fn begin() -> Self {
        Patience(PATIENT.with(|p| p.replace(true)))
    }
}

impl Drop for Patience {
    fn drop(&mut self) {
        PATIENT.with(|p| p.set(self.0));
    }
}

/// The wait a refusal over an allowance names ("… try again in 12 s").
fn retry_after(text: &str) -> Option<u64> {
    let rest = &text[text.find("try again in ")? + "try again in ".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// POST a sealed request and open the answer, which must answer this very request; refusals
/// are errors (but a stale Transact's 409, which the caller handles). A 503 says the service
/// applied nothing: the request is sealed again (a new nonce) and sent again after a growing
/// wait, a few times.
fn exchange(
    url: &str,
    seal: &dyn Fn() -> mesh_protocol::Result<binding::SealedRequest>,
    keys: &KeyRing,
    service_signer: Option<&PublicKey>,
) -> Result<Response> {
    let mut wait = FIRST_WAIT;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let sealed = seal().map_err(proto)?;
        // An answer lost on the way (the connection dropped): the very same request again, which
        // the service answers as before without running it twice.
        let mut reply = HttpClient::post_to(url, &sealed.bytes);
        for _ in 0..2 {
            match &reply {
                Err(mesh_protocol::ProtocolError::Transport(_)) => {
                    std::thread::sleep(FIRST_WAIT);
                    reply = HttpClient::post_to(url, &sealed.bytes);
                }
                _ => break,
            }
        }
        let reply = reply.map_err(proto)?;
        let response = binding::open_response(&reply, keys, service_signer, Some(&sealed.nonce))
            .map_err(proto)?;
        match response.status() {
            // A stale Transact is answered 409 with the service's state: the caller handles it.
            (code, _)
                if code < 300
                    || (code == 409 && matches!(response, Response::TransactResponse(_))) =>
            {
                return Ok(response)
            }
            (503, _) if attempt <= RETRIES => {
                std::thread::sleep(wait);
                wait *= 2;
            }
            // Over the service's allowance for the account (a large upload, say): nothing was
            // applied, and the service says when it will take more. Wait that long (a minute
            // at most each time) and send again, a bounded number of times.
            (429, Some(text)) if attempt <= RATE_RETRIES && PATIENT.with(|p| p.get()) => {
                match retry_after(text) {
                    Some(seconds) if seconds <= 60 => {
                        std::thread::sleep(std::time::Duration::from_secs(seconds.max(1)));
                    }
                    _ => return Err(ClientError::Service(429, text.to_string())),
                }
            }
            // Still unavailable after the retries (its storage cannot be reached, its disk is
            // full): the service applied nothing, so a change is kept and uploaded later.
            (503, text) => {
                return Err(ClientError::Unreachable(format!(
                    "the service cannot take the request now (503): {}",
                    text.unwrap_or("unavailable")
                )))
            }
            // This device's connection was replaced (keys rotated, rights changed): syncing
            // collects the new one.
            (401, Some(text)) if text.contains("collects its new connection") => {
                return Err(ClientError::Service(
                    401,
                    format!("{text} (mesh account sync does)"),
                ))
            }
            // What the service stored is damaged: an administrator device can put it back.
            (500, Some(text))
                if text.contains("stored copy is damaged")
                    && !text.contains("cannot be read to be repaired") =>
            {
                return Err(ClientError::Service(
                    500,
                    format!("{text} (an administrator device puts it back: mesh account repair)"),
                ))
            }
            (code, text) => {
                return Err(ClientError::Service(
                    code,
                    text.unwrap_or("refused").to_string(),
                ))
            }
        }
    }
}

fn proto(e: mesh_protocol::ProtocolError) -> ClientError {
    match e {
        mesh_protocol::ProtocolError::Transport(why) => ClientError::Unreachable(why),
        // Turned away before the request was read, for now: as good as unreachable (a change
        // is kept, and uploaded later).
        mesh_protocol::ProtocolError::Refused(code @ (429 | 503), why) => ClientError::Unreachable(
            format!("the service turned the request away ({code}): {why}"),
        ),
        other => ClientError::Invalid(other.to_string()),
    }
}

/// Hello: the service's profiles, checked to be self-signed.
pub fn hello(address_or_domain: &str, explicit_url: Option<&str>) -> Result<ServiceInfo> {
    let url = service_url(address_or_domain, explicit_url);
    let response = call(
        &url,
        &Request::HelloRequest(HelloRequest {
            ..Default::default()
        }),
        None,
        None,
        &KeyRing::new(),
        None,
    )?;
    let Response::MeshHelloResponse(hello) = response else {
        return Err(ClientError::Invalid(
            "the service did not answer Hello".into(),
        ));
    };
    let service_env = hello
        .enveloped_profile_service
        .as_ref()
        .ok_or_else(|| ClientError::Invalid("Hello without a service profile".into()))?;
    let (service, service_udf): (ProfileService, String) =
        signed::verify_profile_service(service_env)?;
    let host_udf = match &hello.enveloped_profile_host {
        Some(env) => {
            let (_host, udf): (ProfileHost, String) = signed::verify_profile_host(env)?;
            udf
        }
        None => String::new(),
    };
    Ok(ServiceInfo {
        url,
        service_udf,
        host_udf,
        signature: required(&service.service_signature, "ServiceSignature")?,
        encryption: required(&service.service_encryption, "ServiceEncryption")?,
        hello,
    })
}

/// A device's authenticated link to its account's service.
pub struct Session<'a> {
    account: &'a Account,
    binding: ServiceBinding,
    binding_path: PathBuf,
    signer: PrivateKey,
    keys: KeyRing,
    connection: DareEnvelope,
    service_signer: PublicKey,
    service_encryption: PublicKey,
    /// A ticket (id, key) once asked for: requests then carry a MAC instead of a signature.
    ticket: std::sync::Mutex<Option<(String, Vec<u8>)>>,
    /// A key that signs every request too (the account's root, for a device whose connection
    /// the root signed: one recovering the account).
    cosigner: Option<PrivateKey>,
    /// Entries whose change here conflicted with another device's in this session's syncs
    /// (kept aside: [`crate::conflicts`]).
    new_conflicts: Vec<String>,
}

/// The device's working keys and connection for an account, from its CatalogedDevice entry.
pub fn device_credentials(
    device: &Device,
    account: &Account,
) -> Result<(PrivateKey, PrivateKey, DareEnvelope)> {
    if let Some(own) = account.own_device_record()? {
        return device_credentials_from(device, &own);
    }
    let entry = account
        .get(CatalogKind::Device, device.udf())?
        .ok_or_else(|| {
            ClientError::Invalid(format!(
                "this device is not in {}'s device catalog",
                account.address
            ))
        })?;
    let cataloged: CatalogedDevice = expect_item!(entry, CatalogedDevice)?;
    device_credentials_from(device, &cataloged)
}

/// As [`device_credentials`], from a CatalogedDevice in hand.
pub fn device_credentials_from(
    device: &Device,
    cataloged: &CatalogedDevice,
) -> Result<(PrivateKey, PrivateKey, DareEnvelope)> {
    let connection_env = cataloged
        .enveloped_connection_device
        .clone()
        .ok_or_else(|| ClientError::Invalid("the device entry has no connection".into()))?;
    let activation_env = cataloged
        .enveloped_activation_device
        .as_ref()
        .ok_or_else(|| ClientError::Invalid("the device entry has no activation".into()))?;
    let mut base = KeyRing::new();
    base.add_private(device.base_key("Encryption")?);
    let activation: ActivationDevice =
        expect_item!(signed::read(activation_env, &base)?, ActivationDevice)?;
    let connection: ConnectionDevice = expect_item!(
        signed::read(&connection_env, &KeyRing::new())?,
        ConnectionDevice
    )?;
    let keys = activation.device_keys(device.device_secret(), &connection)?;
    Ok((keys.signature, keys.encryption, connection_env))
}

fn binding_path(account: &Account) -> PathBuf {
    account.dir().join("service.json")
}

pub fn load_binding(account: &Account) -> Option<ServiceBinding> {
    std::fs::read(binding_path(account))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
}

impl<'a> Session<'a> {
    /// Open a session for an account bound to a service.
    pub fn open(device: &Device, account: &'a Account) -> Result<Self> {
        let binding =
            load_binding(account).ok_or_else(|| ClientError::NotBound(account.address.clone()))?;
        Self::with_binding(device, account, binding)
    }

    fn with_binding(
        device: &Device,
        account: &'a Account,
        binding: ServiceBinding,
    ) -> Result<Self> {
        let credentials = device_credentials(device, account)?;
        Self::with_credentials(account, binding, credentials)
    }

    /// A session from credentials in hand (a device just connected, before its first sync).
    pub fn with_credentials(
        account: &'a Account,
        binding: ServiceBinding,
        credentials: (PrivateKey, PrivateKey, DareEnvelope),
    ) -> Result<Self> {
        let (signer, encryption, connection) = credentials;
        let mut keys = KeyRing::new();
        keys.add_private(encryption);
        let (service_signer, service_encryption) = binding.keys()?;
        let session = Session {
            ticket: std::sync::Mutex::new(None),
            cosigner: None,
            new_conflicts: Vec::new(),
            account,
            service_signer,
            service_encryption,
            binding_path: binding_path(account),
            binding,
            signer,
            keys,
            connection,
        };
        // A device holding a share of the account key reads the catalogs through this service.
        if account.needs_operator() {
            account.attach_operator(Box::new(session.operator()));
        }
        Ok(session)
    }

    /// Have every request signed by `key` too (and no ticket used).
    pub(crate) fn cosigned_by(mut self, key: PrivateKey) -> Self {
        self.cosigner = Some(key);
        self
    }

    /// The binding this session works with.
    pub fn binding(&self) -> &ServiceBinding {
        &self.binding
    }

    /// The device's connection this session presents.
    pub(crate) fn connection(&self) -> &DareEnvelope {
        &self.connection
    }

    /// A request signed by the device's connection key and by each of `keys` (never with a
    /// ticket).
    pub(crate) fn call_signed_by(
        &self,
        request: Request,
        keys: &[&PrivateKey],
    ) -> Result<Response> {
        let mut all = vec![&self.signer];
        all.extend_from_slice(keys);
        exchange(
            &self.binding.url,
            &|| {
                binding::seal_request_in(
                    &request,
                    binding::Authenticator::Keys(&all),
                    Some(&self.service_encryption),
                    self.binding.encoding(),
                )
            },
            &self.keys,
            Some(&self.service_signer),
        )
    }

    /// Record that the service's copy of `name` now ends at `index` (a transaction made
    /// outside [`Self::sync`]).
    pub(crate) fn set_synced(&mut self, name: &str, index: u64) -> Result<()> {
        self.binding.synced.insert(name.to_string(), index);
        self.save()
    }

    /// Cut the local copy of `name` back to its first `keep` entries (undoing entries made for
    /// a transaction the service did not take).
    /// The index of `name` this device last synced.
    pub(crate) fn synced_index(&self, name: &str) -> u64 {
        self.binding.synced.get(name).copied().unwrap_or(0)
    }

    pub(crate) fn truncate_local(&self, name: &str, keep: u64) -> Result<()> {
        self.rebuild(name, keep, Vec::new())
    }

    fn call(&self, request: Request) -> Result<Response> {
        if let Some(cosigner) = &self.cosigner {
            return self.call_signed_by(request, &[cosigner]);
        }
        // What only an administrator may ask, an administrator device signs with the
        // administrator key too: its tickets (which then stand for both keys), and changes to
        // the catalogs only the administrator changes.
        let administered = match &request {
            Request::TicketRequest(_) => true,
            // The local spool too: the records a key rotation leaves there are the
            // administrator's to write.
            Request::TransactRequest(t) => t.updates.iter().any(|u| {
                u.container.as_deref() == Some(SPOOLS[1])
                    || u.container
                        .as_deref()
                        .and_then(|c| CatalogKind::parse(c).ok())
                        .is_some_and(|k| k.administered())
            }),
            _ => false,
        };
        if administered && self.account.is_administrator() {
            let ticket = self.ticket.lock().expect("ticket").clone();
            let is_ticket_request = matches!(request, Request::TicketRequest(_));
            if is_ticket_request || ticket.is_none() {
                let admin = self.account.administrator_key()?;
                return self.call_as_administrator(request, &admin);
            }
        }
        let encoding = self.binding.encoding();
        let ticket = self.ticket.lock().expect("ticket").clone();
        if let (Some((id, key)), Some(_)) = (ticket, request.user()) {
            let seal = || {
                binding::seal_request_in(
                    &request,
                    binding::Authenticator::Ticket { id: &id, key: &key },
                    Some(&self.service_encryption),
                    encoding,
                )
            };
            match exchange(
                &self.binding.url,
                &seal,
                &self.keys,
                Some(&self.service_signer),
            ) {
                // An expired or unknown ticket (another service process, a restart): sign instead.
                Err(ClientError::Service(401, _)) => *self.ticket.lock().expect("ticket") = None,
                other => return other,
            }
        }
        call_in(
            &self.binding.url,
            &request,
            Some(&self.signer),
            Some(&self.service_encryption),
            &self.keys,
            Some(&self.service_signer),
            encoding,
        )
    }

    /// A request only an administrator may make: signed by the device's connection key and the
    /// account's administrator key (never with a ticket).
    fn call_as_administrator(&self, request: Request, admin: &PrivateKey) -> Result<Response> {
        self.call_signed_by(request, &[admin])
    }

    /// Ask the service for a ticket (§5.3.4); later requests in this session use it instead of
    /// a signature, which saves the service and the device most of their public-key work.
    pub fn use_ticket(&self) -> Result<()> {
        let response = self.call(Request::TicketRequest(TicketRequest {
            account: Some(self.account.address.clone()),
            enveloped_connection_device: Some(self.connection.clone()),
        }))?;
        if let Response::TicketResponse(TicketResponse {
            ticket: Some(id),
            ticket_key: Some(key),
            ..
        }) = response
        {
            *self.ticket.lock().expect("ticket") = Some((id, key));
        }
        Ok(())
    }

    /// The ticket in use, if any (id, key).
    pub fn ticket(&self) -> Option<(String, Vec<u8>)> {
        self.ticket.lock().expect("ticket").clone()
    }

    /// The first session of a device that has just joined: record the binding and sync.
    pub fn start(
        account: &'a Account,
        binding: ServiceBinding,
        credentials: (PrivateKey, PrivateKey, DareEnvelope),
    ) -> Result<Self> {
        let mut session = Self::with_credentials(account, binding, credentials)?;
        session.save()?;
        session.sync(&mut |_, _, _| {})?;
        Ok(session)
    }

    pub fn save(&self) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(&self.binding)
            .map_err(|e| ClientError::Invalid(e.to_string()))?;
        write_atomic(&self.binding_path, &bytes)
    }

    /// Bind the account to the service at `info`, then upload everything held locally.
    pub fn bind(
        device: &Device,
        account: &'a Account,
        info: &ServiceInfo,
    ) -> Result<(Self, SyncReport)> {
        if load_binding(account).is_some() {
            return Err(ClientError::Invalid(format!(
                "{} is already bound; unbind it first",
                account.address
            )));
        }
        // Entries an earlier build made without the administrator's signature over their
        // metadata would be refused when uploaded: made again first.
        account.upgrade_administered()?;
        let binding = ServiceBinding::from_info(info);
        let session = Self::with_binding(device, account, binding)?;
        // The devices removed from the account go with the bind, so that the service refuses
        // them from its first request on.
        let admin = account.administrator_key()?;
        // As the administrator key recorded them: a removal the service deleted on its own
        // still goes.
        let revocations = account
            .signed_entries(CatalogKind::Access)?
            .0
            .into_iter()
            .filter_map(|(key, _)| {
                key.strip_prefix(mesh_schema::catalog::REVOKED_PREFIX)
                    .map(str::to_string)
            })
            .map(|udf| revocation(&account.address, &udf, &admin))
            .collect::<Result<Vec<_>>>()?;
        let request = Request::BindRequest(BindRequest {
            account: Some(account.address.clone()),
            enveloped_connection_device: Some(session.connection.clone()),
            account_address: Some(account.address.clone()),
            enveloped_profile_account: Some(account.profile_envelope()?),
            revocations,
            ..Default::default()
        });
        session.call_as_administrator(request, &admin)?;
        session.save()?;
        let mut session = session;
        let report = session.sync(&mut |_, _, _| {})?;
        Ok((session, report))
    }

    /// Move the account's binding to the service at `info`, which must hold this very account
    /// (the same profile) with a copy of every container exactly as far as this device synced
    /// it (same length, same apex digest). Nothing changes here if it does not. Returns the
    /// containers checked.
    pub fn move_to(device: &Device, account: &'a Account, info: &ServiceInfo) -> Result<usize> {
        let current =
            load_binding(account).ok_or_else(|| ClientError::NotBound(account.address.clone()))?;
        let mut binding = ServiceBinding::from_info(info);
        binding.synced = current.synced.clone();
        let session = Self::with_binding(device, account, binding)?;
        let held = session.held_profile()?;
        let (_, udf) = signed::verify_profile_user(&held)?;
        if udf != account.udf || held.payload != account.profile_envelope()?.payload {
            return Err(ClientError::Invalid(format!(
                "the service at {} holds another account profile for {} ({udf}): it is not this \
                 account as this device knows it",
                info.url, account.address
            )));
        }
        let status = session.status()?;
        let mut checked = 0;
        for (name, synced) in &current.synced {
            let (index, digest) = status.get(name).cloned().unwrap_or((0, None));
            let path = account.dir().join(format!("{name}.dare"));
            let mine = if path.exists() {
                Container::open(&path, Mode::Read)?
                    .tree_digest_at(*synced)
                    .map(|d| d.to_vec())
            } else {
                None
            };
            if index != *synced || (*synced > 0 && digest != mine) {
                return Err(ClientError::Invalid(format!(
                    "the service at {} holds a different copy of {name} ({index} entries; this \
                     device synced {synced}): move once the copy is complete",
                    info.url
                )));
            }
            checked += 1;
        }
        session.save()?;
        Ok(checked)
    }

    /// Unbind the account from the service (deleting what it holds there): an administrator's
    /// request, signed by the administrator key as well as the device's.
    pub fn unbind(self) -> Result<()> {
        let admin = self.account.administrator_key()?;
        self.call_as_administrator(
            Request::UnbindRequest(UnbindRequest {
                account: Some(self.account.address.clone()),
                enveloped_connection_device: Some(self.connection.clone()),
                ..Default::default()
            }),
            &admin,
        )?;
        std::fs::remove_file(&self.binding_path)?;
        Ok(())
    }

    /// The containers this device syncs: every catalog and spool, but the inbound spool only
    /// with the `message` right (the service refuses it to a device without).
    fn containers(&self) -> Vec<String> {
        let messages = self.account.rights().message;
        CatalogKind::ALL
            .iter()
            .map(|k| k.name().to_string())
            .chain(
                SPOOLS
                    .iter()
                    .filter(|s| messages || **s != INBOUND)
                    .map(|s| s.to_string()),
            )
            .collect()
    }

    /// The account profile the service holds.
    pub fn held_profile(&self) -> Result<DareEnvelope> {
        let response = self.call(Request::StatusRequest(StatusRequest {
            account: Some(self.account.address.clone()),
            enveloped_connection_device: Some(self.connection.clone()),
            ..Default::default()
        }))?;
        match response {
            Response::StatusResponse(StatusResponse {
                enveloped_profile_account: Some(profile),
                ..
            }) => Ok(profile),
            _ => Err(ClientError::Invalid(
                "the service's Status named no account profile".into(),
            )),
        }
    }

    /// The service's state of every container.
    pub fn status(&self) -> Result<ServiceStatus> {
        self.status_of(self.containers())
    }

    /// The service's state of the named containers only.
    fn status_of(&self, names: Vec<String>) -> Result<ServiceStatus> {
        let response = self.call(Request::StatusRequest(StatusRequest {
            account: Some(self.account.address.clone()),
            enveloped_connection_device: Some(self.connection.clone()),
            catalogs: names,
            spools: vec![],
            ..Default::default()
        }))?;
        let Response::StatusResponse(status) = response else {
            return Err(ClientError::Invalid("unexpected answer to Status".into()));
        };
        Ok(status
            .container_status
            .into_iter()
            .filter_map(|s| Some((s.container?, (s.index.unwrap_or(0), s.digest))))
            .collect())
    }

    /// The local copy of a container (created empty if need be).
    fn local(&self, name: &str) -> Result<Container> {
        open_local(self.account, name)
    }

    fn encrypt_to(&self, name: &str) -> Vec<PublicKey> {
        self.account.recipients(name)
    }

    /// Download entries `from..=to` of a container (in pages) without storing them.
    pub fn download(
        &self,
        name: &str,
        from: u64,
        to: u64,
        progress: &mut dyn FnMut(&str, u64, u64),
    ) -> Result<(Vec<DareEnvelope>, Option<Vec<u8>>)> {
        let mut got = Vec::new();
        let digest = self.download_pages(name, from, to, progress, &mut |page| {
            got.extend(page);
            Ok(())
        })?;
        Ok((got, digest))
    }

    /// Download entries `from..=to` of a container page by page, each page handed to `store` as
    /// it comes (so that a long backlog is never all in memory); the service's apex digest at
    /// `to`, if it said it.
    fn download_pages(
        &self,
        name: &str,
        from: u64,
        to: u64,
        progress: &mut dyn FnMut(&str, u64, u64),
        store: &mut dyn FnMut(Vec<DareEnvelope>) -> Result<()>,
    ) -> Result<Option<Vec<u8>>> {
        let mut digest = None;
        let mut next = from;
        while next <= to {
            let response = self.call(Request::DownloadRequest(DownloadRequest {
                account: Some(self.account.address.clone()),
                enveloped_connection_device: Some(self.connection.clone()),
                select: vec![ConstraintsSelect {
                    container: Some(name.to_string()),
                    index_min: Some(next),
                    index_max: Some(to),
                    ..Default::default()
                }],
                ..Default::default()
            }))?;
            let Response::DownloadResponse(download) = response else {
                return Err(ClientError::Invalid("unexpected answer to Download".into()));
            };
            let update = download.updates.into_iter().next().unwrap_or_default();
            if update.envelopes.is_empty() {
                return Err(ClientError::Invalid(format!(
                    "the service returned nothing for {name} from {next}"
                )));
            }
            // The apex digest is the container's at the time of this answer: it is the digest
            // at `to` only if nothing was appended since (another device may be writing).
            digest = (update.index == Some(to))
                .then_some(update.digest)
                .flatten();
            next += update.envelopes.len() as u64;
            store(update.envelopes)?;
            progress(name, next - from, to + 1 - from);
        }
        Ok(digest)
    }

    /// Replace the local copy by its first `keep` entries followed by `envelopes`.
    fn rebuild(&self, name: &str, keep: u64, envelopes: Vec<DareEnvelope>) -> Result<()> {
        let mut fresh = self.start_rebuild(name, keep)?;
        for chunk in envelopes.chunks(500) {
            fresh.append_envelopes(chunk.to_vec())?;
        }
        self.finish_rebuild(name, fresh)
    }

    /// A new copy of the container `name` holding its first `keep` entries, under a temporary
    /// name, to append to and then put in place with [`Self::finish_rebuild`].
    fn start_rebuild(&self, name: &str, keep: u64) -> Result<Container> {
        let path = self.account.dir().join(format!("{name}.dare"));
        let old = Container::open(&path, Mode::Read)?;
        let tmp = path.with_extension("rebuild");
        let _ = std::fs::remove_file(&tmp);
        let mut fresh = Container::create(&tmp, ContainerType::Merkle, &self.encrypt_to(name))?;
        let mut at = 1;
        while at <= keep {
            let to = keep.min(at + 499);
            fresh.append_envelopes(
                (at..=to)
                    .map(|i| old.read(i))
                    .collect::<mesh_dare::Result<_>>()?,
            )?;
            at = to + 1;
        }
        Ok(fresh)
    }

    fn finish_rebuild(&self, name: &str, fresh: Container) -> Result<()> {
        let path = self.account.dir().join(format!("{name}.dare"));
        let tmp = fresh.path().to_path_buf();
        drop(fresh);
        std::fs::rename(&tmp, &path)?;
        std::fs::File::open(self.account.dir())?.sync_all()?;
        Ok(())
    }

    fn upload(
        &mut self,
        name: &str,
        local: &Container,
        synced: u64,
        digest: Option<Vec<u8>>,
    ) -> Result<u64> {
        let last = local.frame_count() - 1;
        // Only the service writes the inbound spool: what a device holds of it beyond the
        // service's copy (messages kept from before a re-bind) stays on the device.
        if last <= synced || name == INBOUND {
            return Ok(0);
        }
        // In transactions the service takes: a share of its request size limit each (the
        // request around them is encrypted and, in JSON, base64), and each made against the
        // state the one before left.
        let (mut at, mut digest) = (synced, digest);
        let envelopes = (synced + 1..=last).map(|i| Ok(local.read(i)?));
        upload_chunks(envelopes, &mut |chunk| {
            let n = chunk.len() as u64;
            self.transact_one(name, at, digest.take(), chunk)?;
            at += n;
            digest = local.tree_digest_at(at).map(|d| d.to_vec());
            self.binding.synced.insert(name.to_string(), at);
            self.save()
        })?;
        Ok(last - synced)
    }

    /// Put back what the service holds damaged of this account's containers from this
    /// device's copies (an administrator device's: the service takes a repair from no other):
    /// for each container, the entries the service finds damaged, and the entries it lost (it
    /// holds fewer than it acknowledged: a copy cut short), all from what this device synced.
    pub fn repair(&mut self) -> Result<RepairReport> {
        // (The service refuses any other device: asked all the same, it says so.)
        let admin = match self.account.is_administrator() {
            true => Some(self.account.administrator_key()?),
            false => None,
        };
        let ask = |session: &Self, name: &str, entries: Vec<ContainerEntry>| -> Result<Vec<u64>> {
            let request = Request::RepairRequest(RepairRequest {
                account: Some(session.account.address.clone()),
                enveloped_connection_device: Some(session.connection.clone()),
                container: Some(name.to_string()),
                entries,
            });
            let response = match &admin {
                Some(admin) => session.call_as_administrator(request, admin)?,
                None => session.call(request)?,
            };
            match response {
                Response::RepairResponse(r) => Ok(r.damaged),
                _ => Err(ClientError::Invalid("unexpected answer to Repair".into())),
            }
        };
        let mut report = RepairReport::default();
        for name in self.containers() {
            let synced = self.binding.synced.get(&name).copied().unwrap_or(0);
            let done = (|| -> Result<u64> {
                let damaged = ask(self, &name, vec![])?;
                let path = self.account.dir().join(format!("{name}.dare"));
                let local = match path.exists() {
                    true => Some(Container::open(&path, Mode::Read)?),
                    false => None,
                };
                let mut put_back = 0;
                if !damaged.is_empty() {
                    // Only what the service acknowledged: an entry of this device's that was
                    // never uploaded is no copy of the service's.
                    let Some(local) = local
                        .as_ref()
                        .filter(|_| damaged.iter().all(|i| *i <= synced))
                    else {
                        return Err(ClientError::Invalid(format!(
                            "this device's copy was synced to entry {synced}: repair from a \
                             device that holds every damaged entry ({damaged:?})"
                        )));
                    };
                    // Every damaged entry in one request: the service takes a repair whole.
                    let mut entries = Vec::new();
                    for index in &damaged {
                        entries.push(ContainerEntry {
                            index: Some(*index),
                            envelope: Some(local.read(*index)?),
                        });
                    }
                    let left = ask(self, &name, entries)?;
                    if !left.is_empty() {
                        return Err(ClientError::Invalid(format!(
                            "entries {left:?} are still damaged at the service"
                        )));
                    }
                    put_back += damaged.len() as u64;
                }
                // A copy cut short: the entries it lost, uploaded again on top of what it kept
                // (which must be this device's own first entries).
                let (held, digest) = self
                    .status_of(vec![name.clone()])?
                    .remove(&name)
                    .unwrap_or((0, None));
                if held < synced {
                    let local = local
                        .ok_or_else(|| ClientError::Invalid("this device holds no copy".into()))?;
                    let ours = local.tree_digest_at(held).map(|d| d.to_vec());
                    if ours != digest {
                        return Err(ClientError::Invalid(format!(
                            "the service's first {held} entries are not this device's"
                        )));
                    }
                    put_back += self.upload(&name, &local, held, digest)?.min(synced - held);
                }
                Ok(put_back)
            })();
            match done {
                Ok(0) => {}
                Ok(n) => report.repaired.push((name, n)),
                Err(e) => report.failed.push((name, e.to_string())),
            }
        }
        Ok(report)
    }

    /// Bring every container up to date in both directions.
    pub fn sync(&mut self, progress: &mut dyn FnMut(&str, u64, u64)) -> Result<SyncReport> {
        let _patience = Patience::begin();
        if self.ticket().is_none() && self.cosigner.is_none() {
            self.use_ticket()?;
        }
        let status = self.status()?;
        let mut report = Vec::new();
        for name in self.containers() {
            let (server_index, server_digest) = status.get(&name).cloned().unwrap_or((0, None));
            let synced = self.binding.synced.get(&name).copied().unwrap_or(0);
            if server_index < synced {
                return Err(ClientError::Invalid(format!("the service holds fewer entries of {name} than this device synced ({server_index} < {synced})")));
            }
            let mut downloaded = 0;
            let mut digest = server_digest.clone();
            if server_index > synced {
                // Stored page by page as it comes: a long backlog is never all in memory.
                let local = self.local(&name)?;
                let local_last = local.frame_count() - 1;
                let d = if local_last > synced {
                    // Entries made here since the last sync go on top of the service's: the
                    // copy is rebuilt aside and put in place once complete.
                    let mine = (synced + 1..=local_last)
                        .map(|i| local.read(i))
                        .collect::<mesh_dare::Result<Vec<_>>>()?;
                    drop(local);
                    let mut fresh = self.start_rebuild(&name, synced)?;
                    let mut theirs = crate::conflicts::Downloaded::default();
                    let d = self.download_pages(
                        &name,
                        synced + 1,
                        server_index,
                        progress,
                        &mut |page| {
                            downloaded += page.len() as u64;
                            theirs.note(&page);
                            fresh.append_envelopes(page)?;
                            Ok(())
                        },
                    )?;
                    // An entry another device changed too is not overwritten: this device's
                    // version is kept aside for the user to choose (recorded before the copy
                    // is put in place, so a crash between the two loses nothing).
                    let (mine, conflicts) = crate::conflicts::split(&name, mine, &theirs);
                    for chunk in mine.chunks(500) {
                        fresh.append_envelopes(chunk.to_vec())?;
                    }
                    self.new_conflicts
                        .extend(conflicts.iter().map(|c| c.unique_id.clone()));
                    crate::conflicts::record(self.account.dir(), conflicts)?;
                    self.finish_rebuild(&name, fresh)?;
                    d
                } else {
                    // Each page recorded as synced once stored: after a crash, what was stored
                    // is never taken for this device's own entries.
                    let mut local = local;
                    let mut binding = self.binding.clone();
                    let d = self.download_pages(
                        &name,
                        synced + 1,
                        server_index,
                        progress,
                        &mut |page| {
                            downloaded += page.len() as u64;
                            local.append_envelopes(page)?;
                            binding.synced.insert(name.clone(), synced + downloaded);
                            write_atomic(
                                &self.binding_path,
                                &serde_json::to_vec_pretty(&binding)
                                    .map_err(|e| ClientError::Invalid(e.to_string()))?,
                            )
                        },
                    )?;
                    self.binding = binding;
                    d
                };
                digest = d.or(digest);
                self.binding.synced.insert(name.clone(), server_index);
                self.save()?;
            }
            let local = self.local(&name)?;
            let synced = self.binding.synced.get(&name).copied().unwrap_or(0);
            if synced > 0 && local.tree_digest_at(synced).map(|d| d.to_vec()) != digest {
                return Err(ClientError::Invalid(format!(
                    "{name}: the local copy and the service disagree at entry {synced}"
                )));
            }
            let uploaded = self.upload(&name, &local, synced, digest)?;
            report.push((name, downloaded, uploaded));
        }
        Ok(report)
    }

    /// The entries (UniqueIds) that this session's syncs found changed both here and on another
    /// device: this device's versions were kept aside ([`crate::conflicts`]).
    pub fn new_conflicts(&self) -> &[String] {
        &self.new_conflicts
    }

    /// Upload local changes of one container, refusing (Conflict) if the service moved on.
    pub fn push(&mut self, name: &str) -> Result<u64> {
        let status = self.status_of(vec![name.to_string()])?;
        let (server_index, digest) = status.get(name).cloned().unwrap_or((0, None));
        let synced = self.binding.synced.get(name).copied().unwrap_or(0);
        if server_index != synced {
            return Err(ClientError::Conflict(name.to_string()));
        }
        let local = self.local(name)?;
        self.upload(name, &local, synced, digest)
    }

    /// Upload what this device changed in any catalog since it last synced (changes made while
    /// the service could not be reached); a catalog another device changed meanwhile is synced
    /// (theirs first, this device's on top). Returns the catalogs uploaded.
    pub fn push_pending(&mut self) -> Result<Vec<String>> {
        let mut pushed = Vec::new();
        for kind in CatalogKind::ALL {
            let name = kind.name();
            let path = self.account.dir().join(format!("{name}.dare"));
            if !path.exists() {
                continue;
            }
            let last = Container::open(&path, Mode::Read)?.frame_count() - 1;
            if last <= self.binding.synced.get(name).copied().unwrap_or(0) {
                continue;
            }
            match self.push(name) {
                Ok(_) => pushed.push(name.to_string()),
                Err(ClientError::Conflict(_)) => {
                    self.sync(&mut |_, _, _| {})?;
                    pushed.push(name.to_string());
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(pushed)
    }

    /// Send a message to other accounts (delivered by the service, now or later).
    pub fn send(&self, to: &[String], message: DareEnvelope) -> Result<()> {
        self.call(Request::TransactRequest(TransactRequest {
            account: Some(self.account.address.clone()),
            enveloped_connection_device: Some(self.connection.clone()),
            accounts: to.to_vec(),
            outbound: vec![message],
            ..Default::default()
        }))?;
        Ok(())
    }

    /// Post messages to the account's own spools (Inbound, Local) in one transaction.
    pub fn post_own(&self, local: Vec<DareEnvelope>, inbound: Vec<DareEnvelope>) -> Result<()> {
        self.call(Request::TransactRequest(TransactRequest {
            account: Some(self.account.address.clone()),
            enveloped_connection_device: Some(self.connection.clone()),
            local,
            inbound,
            ..Default::default()
        }))?;
        Ok(())
    }

    /// Remove a device from the account: its catalog entry goes, and the service refuses it
    /// from now on (administrator devices only).
    pub fn revoke(&mut self, device_udf: &str, admin: &PrivateKey) -> Result<()> {
        let envelope = revocation(&self.account.address, device_udf, admin)?;
        self.call(Request::TransactRequest(TransactRequest {
            account: Some(self.account.address.clone()),
            enveloped_connection_device: Some(self.connection.clone()),
            revocations: vec![envelope],
            ..Default::default()
        }))?;
        if self.account.delete(CatalogKind::Device, device_udf)? {
            self.push(CatalogKind::Device.name())?;
        }
        // Its shares of the account key at the service go too.
        self.delete_grants(device_udf)?;
        self.record_removal(device_udf)?;
        self.push(CatalogKind::Access.name())?;
        Ok(())
    }

    /// A removal (of a device, or of a connection) as account state: an administered entry of
    /// the access catalog, which any service the account is bound to (again, or elsewhere) gets
    /// and honours. Put locally; the caller pushes the access catalog.
    fn record_removal(&self, udf: &str) -> Result<()> {
        let removed = mesh_schema::catalog::CatalogedAccess {
            key: Some(format!("{}{udf}", mesh_schema::catalog::REVOKED_PREFIX)),
            labels: vec![mesh_schema::catalog::REVOKED_LABEL.into()],
            ..Default::default()
        };
        self.account
            .put(CatalogKind::Access, &mesh_schema::MeshItem::from(removed))?;
        Ok(())
    }

    /// Replace a device's connection (its rights changed), in one Transact signed by the
    /// administrator key, so that all of it applies or none does: a Revocation naming the old
    /// connection's Signature key (as a removed device is named); `record`, the device's new
    /// CatalogedDevice sealed for it under [`mesh_schema::catalog::reconnection_id`], in the
    /// local spool for the device to collect; and the catalogs brought along — the device's
    /// entry replaced by `new`, the access entries `withdrawn` (the shares the old connection
    /// used) deleted and the old connection's removal recorded. The catalogs must be synced;
    /// if the service does not take it, the local changes are undone.
    pub(crate) fn replace_connection(
        &mut self,
        old_connection_udf: &str,
        new: &CatalogedDevice,
        record: DareEnvelope,
        withdrawn: &[String],
        admin: &PrivateKey,
    ) -> Result<()> {
        let names = [CatalogKind::Device.name(), CatalogKind::Access.name()];
        let bases: Vec<(&str, u64)> = names
            .iter()
            .map(|n| (*n, self.binding.synced.get(*n).copied().unwrap_or(0)))
            .collect();
        let made = (|| -> Result<Vec<u64>> {
            self.account.put(
                CatalogKind::Device,
                &mesh_schema::MeshItem::from(new.clone()),
            )?;
            for key in withdrawn {
                self.account.delete(CatalogKind::Access, key)?;
            }
            self.record_removal(old_connection_udf)?;
            let mut updates = Vec::new();
            let mut lasts = Vec::new();
            for (name, at) in &bases {
                let local = self.local(name)?;
                let last = local.frame_count() - 1;
                updates.push(ContainerUpdate {
                    container: Some(name.to_string()),
                    index: Some(*at),
                    digest: local.tree_digest_at(*at).map(|d| d.to_vec()),
                    envelopes: (*at + 1..=last)
                        .map(|i| local.read(i))
                        .collect::<mesh_dare::Result<Vec<_>>>()?,
                });
                lasts.push(last);
            }
            let response = self.call_as_administrator(
                Request::TransactRequest(TransactRequest {
                    account: Some(self.account.address.clone()),
                    enveloped_connection_device: Some(self.connection.clone()),
                    revocations: vec![revocation(
                        &self.account.address,
                        old_connection_udf,
                        admin,
                    )?],
                    local: vec![record],
                    updates,
                    ..Default::default()
                }),
                admin,
            )?;
            match response {
                Response::TransactResponse(t) if t.status == Some(409) => Err(
                    ClientError::Conflict(format!("{} or {}", names[0], names[1])),
                ),
                _ => Ok(lasts),
            }
        })();
        match made {
            Ok(lasts) => {
                for ((name, _), last) in bases.iter().zip(lasts) {
                    self.binding.synced.insert(name.to_string(), last);
                }
                self.save()
            }
            Err(e) => {
                for (name, at) in &bases {
                    self.truncate_local(name, *at)?;
                }
                Err(e)
            }
        }
    }

    /// The keys of the access entries that grant `device_udf` a share of the account's
    /// current encryption key (those of earlier keys, kept after a rotation for what was
    /// written before, are not counted).
    pub(crate) fn current_grants_of(&self, device_udf: &str) -> Result<Vec<String>> {
        let current = self
            .account
            .profile
            .account_encryption
            .as_ref()
            .and_then(|k| k.udf.clone());
        let mut keys = Vec::new();
        for (key, item) in self.account.list(CatalogKind::Access)? {
            if let mesh_schema::MeshItem::CatalogedAccess(a) = item {
                if let Some(CryptographicCapability::CapabilityDecryptServiced(c)) = &a.capability {
                    if c.subject_id.as_deref() == Some(device_udf)
                        && c.key_data.as_ref().and_then(|k| k.udf.clone()) == current
                    {
                        keys.push(key);
                    }
                }
            }
        }
        Ok(keys)
    }

    /// The keys of the access entries that grant `device_udf` a share of the account key.
    pub(crate) fn grants_of(&self, device_udf: &str) -> Result<Vec<String>> {
        Ok(self
            .account
            .list(CatalogKind::Access)?
            .into_iter()
            .filter(|(_, item)| match item {
                mesh_schema::MeshItem::CatalogedAccess(a) => matches!(
                    &a.capability,
                    Some(CryptographicCapability::CapabilityDecryptServiced(c))
                        if c.subject_id.as_deref() == Some(device_udf)
                ),
                _ => false,
            })
            .map(|(key, _)| key)
            .collect())
    }

    /// Delete (locally) the access entries granting `device_udf` a share of the account key.
    fn delete_grants(&self, device_udf: &str) -> Result<usize> {
        let grants = self.grants_of(device_udf)?;
        for key in &grants {
            self.account.delete(CatalogKind::Access, key)?;
        }
        Ok(grants.len())
    }

    /// Withdraw the shares granted to `device_udf` (a connection that did not complete): their
    /// access entries deleted, at the service too.
    pub fn withdraw_grants(&mut self, device_udf: &str) -> Result<()> {
        if self.delete_grants(device_udf)? > 0 {
            self.push(CatalogKind::Access.name())?;
        }
        Ok(())
    }

    /// Append envelopes to a container this device does not replicate (publications).
    pub fn append_remote(&self, name: &str, envelopes: Vec<DareEnvelope>) -> Result<()> {
        let (index, digest) = self
            .status_of(vec![name.to_string()])?
            .remove(name)
            .unwrap_or((0, None));
        self.transact_one(name, index, digest, envelopes)
    }

    /// Append `envelopes` to the container `name` at the service, expecting it at `index` with
    /// apex `digest`; a stale expectation is a Conflict.
    fn transact_one(
        &self,
        name: &str,
        index: u64,
        digest: Option<Vec<u8>>,
        envelopes: Vec<DareEnvelope>,
    ) -> Result<()> {
        let response = self.call(Request::TransactRequest(TransactRequest {
            account: Some(self.account.address.clone()),
            enveloped_connection_device: Some(self.connection.clone()),
            updates: vec![ContainerUpdate {
                container: Some(name.to_string()),
                index: Some(index),
                digest,
                envelopes,
            }],
            ..Default::default()
        }))?;
        match response {
            Response::TransactResponse(t) if t.status == Some(409) => {
                Err(ClientError::Conflict(name.to_string()))
            }
            _ => Ok(()),
        }
    }

    /// Open a rendezvous channel on the service (pairing codes), which only who presents `key`
    /// may use.
    pub fn allocate_channel(&self, key: &[u8]) -> Result<u64> {
        let response = self.call(Request::MulticastAllocateRequest(
            MulticastAllocateRequest {
                account: Some(self.account.address.clone()),
                enveloped_connection_device: Some(self.connection.clone()),
                channel_key: Some(key.to_vec()),
            },
        ))?;
        match response {
            Response::MulticastAllocateResponse(r) => r
                .channel_id
                .ok_or_else(|| ClientError::Invalid("no channel id".into())),
            _ => Err(ClientError::Invalid(
                "unexpected answer to MulticastAllocate".into(),
            )),
        }
    }

    /// What reading the account's catalogs through the service needs (devices holding a
    /// share of the account key): `account.attach_operator(Box::new(session.operator()))`.
    pub fn operator(&self) -> Operator {
        Operator {
            url: self.binding.url.clone(),
            address: self.account.address.clone(),
            signer: self.signer.clone(),
            keys: self.keys.clone(),
            connection: self.connection.clone(),
            service_signer: self.service_signer.clone(),
            service_encryption: self.service_encryption.clone(),
            encoding: self.binding.encoding(),
            member_profile: None,
        }
    }

    /// An operator from a binding and credentials in hand (a device joining, before its
    /// account is added).
    pub fn operator_for(
        binding: &ServiceBinding,
        address: &str,
        credentials: &(PrivateKey, PrivateKey, DareEnvelope),
    ) -> Result<Operator> {
        let (service_signer, service_encryption) = binding.keys()?;
        let mut keys = KeyRing::new();
        keys.add_private(credentials.1.clone());
        Ok(Operator {
            url: binding.url.clone(),
            address: address.to_string(),
            signer: credentials.0.clone(),
            keys,
            connection: credentials.2.clone(),
            service_signer,
            service_encryption,
            encoding: binding.encoding(),
            member_profile: None,
        })
    }

    /// The service's keys (to use the unauthenticated channel calls).
    pub fn service_keys(&self) -> (String, PublicKey, PublicKey) {
        (
            self.binding.url.clone(),
            self.service_signer.clone(),
            self.service_encryption.clone(),
        )
    }

    pub fn url(&self) -> &str {
        &self.binding.url
    }
}

/// Asks the service for its share's contributions to key agreements (Operate, protocol-09
/// §10.16), authenticated as the device; owns what it needs, so an account can keep it.
pub struct Operator {
    url: String,
    address: String,
    signer: PrivateKey,
    keys: KeyRing,
    connection: DareEnvelope,
    service_signer: PublicKey,
    service_encryption: PublicKey,
    encoding: binding::Encoding,
    /// For a member of a recryption group asking the group's service: the member's profile.
    member_profile: Option<DareEnvelope>,
}

/// An operator for a member of the group `group` (whose service is at `service`): Operate on
/// the group's account, authenticated as this device of `member` (its connection and the
/// member's profile ride with the request).
pub fn member_operator(
    device: &Device,
    member: &Account,
    group: &str,
    service: &str,
) -> Result<Operator> {
    let info = hello(group, Some(service))?;
    let (signer, encryption, connection) = device_credentials(device, member)?;
    let mut keys = KeyRing::new();
    keys.add_private(encryption);
    Ok(Operator {
        url: info.url,
        address: group.to_string(),
        signer,
        keys,
        connection,
        service_signer: info.signature,
        service_encryption: info.encryption,
        encoding: binding::Encoding::Json,
        member_profile: Some(member.profile_envelope()?),
    })
}

impl crate::context::ThresholdOperator for Operator {
    fn contributions(&self, capability: &str, ephemerals: &[PublicKey]) -> Result<Vec<Vec<u8>>> {
        let operations = ephemerals
            .iter()
            .map(|epk| {
                CryptographicOperation::CryptographicOperationKeyAgreement(
                    CryptographicOperationKeyAgreement {
                        key_id: Some(capability.to_string()),
                        public_key: Some(OperateKey::from_public(epk)),
                        ..Default::default()
                    },
                )
            })
            .collect();
        let response = call_in(
            &self.url,
            &Request::OperateRequest(OperateRequest {
                account: Some(self.address.clone()),
                enveloped_connection_device: Some(self.connection.clone()),
                account_address: Some(self.address.clone()),
                enveloped_profile_member: self.member_profile.clone(),
                operations,
            }),
            Some(&self.signer),
            Some(&self.service_encryption),
            &self.keys,
            Some(&self.service_signer),
            self.encoding,
        )?;
        let Response::OperateResponse(r) = response else {
            return Err(ClientError::Invalid("unexpected answer to Operate".into()));
        };
        if r.results.len() != ephemerals.len() {
            return Err(ClientError::Invalid(format!(
                "the service answered {} operations of {}",
                r.results.len(),
                ephemerals.len()
            )));
        }
        r.results
            .into_iter()
            .zip(ephemerals)
            .map(|(result, epk)| match result {
                CryptographicResult::CryptographicResultKeyAgreement(k) => match k.key_agreement {
                    // A point on the curve of the key it answers for, or nothing.
                    Some(point) => {
                        let point = point.point()?;
                        if point.algorithm() != epk.algorithm() {
                            return Err(ClientError::Invalid(format!(
                                "the service answered with a {} point for a {} key",
                                point.algorithm().curve(),
                                epk.algorithm().curve()
                            )));
                        }
                        Ok(point.as_bytes().to_vec())
                    }
                    None => Err(ClientError::Invalid(format!(
                        "the service would not decrypt for this device: {}",
                        k.error.unwrap_or_else(|| "no reason given".into())
                    ))),
                },
                CryptographicResult::CryptographicResultError(e)
                | CryptographicResult::CryptographicResultShare(e) => {
                    Err(ClientError::Invalid(format!(
                        "the service did not perform the key agreement: {}",
                        e.error.unwrap_or_else(|| "no reason given".into())
                    )))
                }
            })
            .collect()
    }
}

/// An unauthenticated call whose answer must be signed by the service.
pub fn call_anonymous(
    url: &str,
    request: &Request,
    service_signer: &PublicKey,
    service_encryption: &PublicKey,
) -> Result<Response> {
    call(
        url,
        request,
        None,
        Some(service_encryption),
        &KeyRing::new(),
        Some(service_signer),
    )
}

/// Put a blob on a rendezvous channel (unauthenticated; the blob protects itself).
pub fn channel_post(
    url: &str,
    service_signer: &PublicKey,
    service_encryption: &PublicKey,
    channel: (u64, &[u8]),
    blob: Vec<u8>,
) -> Result<()> {
    let request = Request::MulticastPostRequest(MulticastPostRequest {
        channel_id: Some(channel.0),
        blob: Some(blob),
        channel_key: Some(channel.1.to_vec()),
    });
    call_anonymous(url, &request, service_signer, service_encryption)?;
    Ok(())
}

/// The blob on a rendezvous channel now, if any.
pub fn channel_poll(
    url: &str,
    service_signer: &PublicKey,
    service_encryption: &PublicKey,
    channel: (u64, &[u8]),
) -> Result<Option<Vec<u8>>> {
    let request = Request::MulticastPollRequest(MulticastPollRequest {
        channel_id: Some(channel.0),
        channel_key: Some(channel.1.to_vec()),
    });
    match call_anonymous(url, &request, service_signer, service_encryption)? {
        Response::MulticastPollResponse(r) => Ok(r.blob),
        _ => Err(ClientError::Invalid(
            "unexpected answer to MulticastPoll".into(),
        )),
    }
}
