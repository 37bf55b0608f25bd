//! Connecting a device to an account by witness (protocol-09 §9.2).
//!
//! 1. The new device sends a RequestConnection (its self-signed profile and a client nonce) in a
//!    ConnectRequest. The service adds its nonce, computes the witness from both nonces and both
//!    profile keys, queues the AcknowledgeConnection in the account's inbound spool and returns
//!    it with the account profile. The device checks the witness itself and shows it.
//! 2. An administrator device lists pending requests with their witness values; the user
//!    compares the witness shown on both devices and accepts (or rejects) it. Accepting makes
//!    the ActivationDevice, ConnectionDevice and CatalogedDevice (schema-08 §3.2.1), adds the
//!    device to the device catalog, and leaves a RespondConnection, encrypted to the new device
//!    and signed by the administrator key, in the account's local spool under the response id.
//! 3. The new device collects it with Complete, checks the administrator's signature against
//!    the account profile, checks that the records were made for its own secret, and joins.

use std::path::PathBuf;

use mesh_crypto::PublicKey;
use mesh_dare::{Container, DareEnvelope, KeyParameters, KeyRing, Mode};
use mesh_encoding::base64url;
use mesh_protocol::messages::{CompleteRequest, ConnectRequest};
use mesh_protocol::{Request, Response};
use mesh_schema::assertion::{ActivationAccount, ActivationDevice};
use mesh_schema::catalog::{
    CapabilityDecryptServiced, CatalogedAccess, CatalogedDevice, CryptographicCapability,
};
use mesh_schema::key::{required, KeyData};
use mesh_schema::message::{
    AcknowledgeConnection, MessagePin, RequestConnection, RespondConnection,
};
use mesh_schema::profile::ProfileDevice;
use mesh_schema::rights::Rights;
use mesh_schema::{expect_item, ids, signed, MeshItem};
use serde::{Deserialize, Serialize};

use crate::catalogs::CatalogKind;
use crate::context::{Account, AccountGrant, Device};
use crate::online::{self, device_credentials_from, ServiceBinding, Session};
use crate::store::write_atomic;
use crate::{ClientError, Result};

/// A request this device made and is waiting on.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PendingConnection {
    pub address: String,
    pub url: String,
    pub service_udf: String,
    pub service_signature: KeyParameters,
    pub service_encryption: KeyParameters,
    pub message_id: String,
    pub witness: String,
    pub enveloped_profile_account: DareEnvelope,
    /// A request made with a PIN: the PinProof its acceptance must carry (made here from the
    /// PIN, which is not kept).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "mesh_encoding::base64url::option"
    )]
    pub pin_proof: Option<Vec<u8>>,
}

fn pending_path(device: &Device) -> PathBuf {
    device.data_dir().join("pending.json")
}

fn load_pending(device: &Device) -> Vec<PendingConnection> {
    std::fs::read(pending_path(device))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn save_pending(device: &Device, list: &[PendingConnection]) -> Result<()> {
    write_atomic(
        &pending_path(device),
        &serde_json::to_vec_pretty(list).map_err(|e| ClientError::Invalid(e.to_string()))?,
    )
}

fn random(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut v);
    v
}

/// New device: ask to join `address`; returns the pending request with its witness.
pub fn request(
    device: &Device,
    address: &str,
    url: Option<&str>,
    pin: Option<&str>,
    rights: Option<Rights>,
) -> Result<PendingConnection> {
    let address = address.to_ascii_lowercase();
    let info = online::hello(&address, url)?;
    let profile_key = device.base_key("ProfileSignature")?;
    let client_nonce = random(16);
    let message_id = mesh_udf::random::nonce(128).to_string();
    let device_envelope = device.profile_envelope()?;
    let mut request = RequestConnection {
        message_id: Some(message_id.clone()),
        authenticated_data: Some(device_envelope.clone()),
        client_nonce: Some(client_nonce.clone()),
        account_address: Some(address.clone()),
        roles: rights.map(|r| r.roles()).unwrap_or_default(),
        ..Default::default()
    };
    let mut salted_pin = None;
    if let Some(pin) = pin {
        // protocol-09 §8.1: the PIN proves the request comes from someone the administrator
        // gave it to, bound to this account, nonce and device profile.
        let salted = ids::salted_pin(pin, PIN_ACTION)?;
        salted_pin = Some(salted.clone());
        // The digest of the profile as carried, wherever (if anywhere) the envelope states it.
        let digest = mesh_dare::envelope::sha512(&device_envelope.payload).to_vec();
        request.pin_id = Some(ids::pin_id(&salted, &address)?);
        request.pin_witness = Some(ids::pin_witness(&salted, &address, &client_nonce, &digest)?);
    }
    let request_env = signed::seal_message(&request.into(), &profile_key, &message_id, &[])?;
    let mut keys = KeyRing::new();
    keys.add_private(device.base_key("Encryption")?);
    let response = online::call(
        &info.url,
        &Request::ConnectRequest(ConnectRequest {
            enveloped_request_connection: Some(request_env),
            ..Default::default()
        }),
        Some(&profile_key),
        Some(&info.encryption),
        &keys,
        Some(&info.signature),
    )?;
    let Response::ConnectResponse(connect) = response else {
        return Err(ClientError::Invalid("unexpected answer to Connect".into()));
    };
    let profile_env = connect
        .enveloped_profile_account
        .ok_or_else(|| ClientError::Invalid("Connect answer without the account profile".into()))?;
    let profile = account_profile_for(&profile_env, &address)?;
    let ack_env = connect
        .enveloped_acknowledge_connection
        .ok_or_else(|| ClientError::Invalid("Connect answer without an acknowledgement".into()))?;
    let ack: AcknowledgeConnection = expect_item!(
        signed::verify_signed_by(
            &ack_env,
            &info.signature,
            "acknowledgement",
            &KeyRing::new()
        )?
        .into_inner(),
        AcknowledgeConnection
    )?;
    // The witness binds both nonces and both profiles: compute it here rather than trust it.
    let account_key = required(&profile.profile_signature, "ProfileSignature")?;
    let witness = ids::witness(
        &account_key,
        ack.server_nonce.as_deref().unwrap_or_default(),
        &profile_key.public_key(),
        &client_nonce,
    );
    if ack.witness.as_deref() != Some(witness.as_str()) {
        return Err(ClientError::Invalid(
            "the service's witness does not match the request: not connecting".into(),
        ));
    }
    let pending = PendingConnection {
        address: address.clone(),
        url: info.url.clone(),
        service_udf: info.service_udf.clone(),
        service_signature: KeyParameters::from_public(&info.signature),
        service_encryption: KeyParameters::from_public(&info.encryption),
        message_id,
        pin_proof: salted_pin
            .map(|salted| {
                ids::pin_proof(&salted, &address, &ids::response_id_of_witness(&witness)?)
            })
            .transpose()?,
        witness,
        enveloped_profile_account: profile_env,
    };
    // An earlier request to the same account stays beside this one (the administrator may
    // accept either: `complete` asks about each), up to a few.
    let mut list = load_pending(device);
    list.push(pending.clone());
    let same: Vec<usize> = (0..list.len())
        .filter(|&i| list[i].address == address)
        .collect();
    if same.len() > MAX_PENDING_PER_ACCOUNT {
        let drop: std::collections::HashSet<usize> = same[..same.len() - MAX_PENDING_PER_ACCOUNT]
            .iter()
            .copied()
            .collect();
        list = list
            .into_iter()
            .enumerate()
            .filter(|(i, _)| !drop.contains(i))
            .map(|(_, p)| p)
            .collect();
    }
    save_pending(device, &list)?;
    Ok(pending)
}

/// Requests to one account a device keeps waiting at once (a request made again keeps the
/// earlier ones, so that whichever the administrator accepts completes).
const MAX_PENDING_PER_ACCOUNT: usize = 4;

/// The requests this device has waiting for `address` (all of them), newest first.
pub fn pending_requests(device: &Device, address: &str) -> Vec<PendingConnection> {
    let mut list: Vec<_> = load_pending(device)
        .into_iter()
        .filter(|p| p.address.eq_ignore_ascii_case(address))
        .collect();
    list.reverse();
    list
}

/// A connection request waiting for the administrator.
pub struct PendingRequest {
    pub witness: String,
    pub device_udf: String,
    pub description: Option<String>,
    pub response_id: String,
    request: RequestConnection,
    device: ProfileDevice,
}

impl PendingRequest {
    /// The rights the device asks for, if it names any (and they are rights this build knows:
    /// names it does not are not taken for a request of fewer rights).
    pub fn requested(&self) -> Option<std::result::Result<Rights, String>> {
        (!self.request.roles.is_empty())
            .then(|| Rights::parse(&self.request.roles).map_err(|e| e.to_string()))
    }
}

pub(crate) fn local_ids(account: &Account) -> Result<Vec<String>> {
    let path = account.dir().join("MMM_Local.dare");
    if !path.exists() {
        return Ok(vec![]);
    }
    let c = Container::open(path, Mode::Read)?;
    Ok((1..c.frame_count())
        .filter_map(|i| c.read(i).ok()?.content_meta().ok()?.unique_id)
        .collect())
}

/// Administrator: the requests waiting for an answer (after syncing the account's spools).
pub fn pending(device: &Device, account: &Account) -> Result<Vec<PendingRequest>> {
    let mut session = Session::open(device, account)?;
    session.sync(&mut |_, _, _| {})?;
    let service_key = online::load_binding(account)
        .and_then(|b| b.service_signature)
        .ok_or_else(|| ClientError::NotBound(account.address.clone()))?
        .public_key()?;
    let answered = local_ids(account)?;
    let path = account.dir().join("MMM_Inbound.dare");
    if !path.exists() {
        return Ok(vec![]);
    }
    let inbound = Container::open(path, Mode::Read)?;
    let mut out = Vec::new();
    for i in 1..inbound.frame_count() {
        let env = inbound.read(i)?;
        if env
            .content_meta()
            .ok()
            .and_then(|m| m.message_type)
            .as_deref()
            != Some("AcknowledgeConnection")
        {
            continue;
        }
        // Only acknowledgements the service signed count.
        let Ok(item) =
            signed::verify_signed_by(&env, &service_key, "acknowledgement", &KeyRing::new())
        else {
            continue;
        };
        let Ok(ack) = expect_item!(item.into_inner(), AcknowledgeConnection) else {
            continue;
        };
        let Some(request_env) = &ack.enveloped_request_connection else {
            continue;
        };
        let Ok(request) = signed::read(request_env, &KeyRing::new())
            .and_then(|i| expect_item!(i, RequestConnection))
        else {
            continue;
        };
        let Some(device_env) = &request.authenticated_data else {
            continue;
        };
        let Ok((profile, device_udf)) = signed::verify_profile_device(device_env) else {
            continue;
        };
        // The witness shown is the one computed here, from the account's key, the device's
        // key and both nonces, never the one the service wrote: a service that put its own
        // device's request under the witness another device shows would otherwise have it
        // accepted. An acknowledgement whose witness is not that value is no request.
        let (Ok(account_key), Ok(device_key)) = (
            required(&account.profile.profile_signature, "ProfileSignature"),
            required(&profile.profile_signature, "ProfileSignature"),
        ) else {
            continue;
        };
        let witness = ids::witness(
            &account_key,
            ack.server_nonce.as_deref().unwrap_or_default(),
            &device_key,
            request.client_nonce.as_deref().unwrap_or_default(),
        );
        // The answer goes under the response id of the acknowledgement's MessageId, which is
        // the witness (as the reference derives it: its ProtocolConnectPIN example).
        if ack.message_id.as_deref() != Some(witness.as_str())
            || ack.witness.as_deref().is_some_and(|w| w != witness)
        {
            continue;
        }
        let Ok(response_id) = ids::response_id_of_witness(&witness) else {
            continue;
        };
        if answered.contains(&response_id) {
            continue;
        }
        out.push(PendingRequest {
            witness,
            device_udf,
            description: profile.description.clone(),
            response_id,
            request,
            device: profile,
        });
    }
    Ok(out)
}

/// The request showing `witness` among `pending` (dashes and case aside), if any.
pub fn find_request<'a>(
    pending: &'a [PendingRequest],
    witness: &str,
) -> Option<&'a PendingRequest> {
    let wanted = normalize(witness);
    pending.iter().find(|p| normalize(&p.witness) == wanted)
}

fn normalize(witness: &str) -> String {
    witness
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_uppercase()
}

/// [`respond`] as an administrator's own software may answer whatever it likes: accepting a
/// PIN request by hand, without the PIN. For tests of what a device then refuses (an impostor
/// service's administrator accepting a device sent to it).
#[doc(hidden)]
pub fn respond_ignoring_pin(
    device: &Device,
    account: &Account,
    witness: &str,
    rights: Rights,
) -> Result<String> {
    respond_to(device, account, witness, Some(rights), true)
}

/// Administrator: accept (granting `rights`) or reject the request showing `witness`. Returns
/// the device's UDF.
pub fn respond(
    device: &Device,
    account: &Account,
    witness: &str,
    accept: bool,
    rights: Rights,
) -> Result<String> {
    respond_to(device, account, witness, accept.then_some(rights), false)
}

/// [`respond`], accepting with `rights` if given; `pin_by_hand` accepts a PIN request too.
fn respond_to(
    device: &Device,
    account: &Account,
    witness: &str,
    rights: Option<Rights>,
    pin_by_hand: bool,
) -> Result<String> {
    let accept = rights.is_some();
    let wanted = normalize(witness);
    let request = pending(device, account)?
        .into_iter()
        .find(|p| normalize(&p.witness) == wanted)
        .ok_or_else(|| {
            ClientError::Invalid(format!("no pending request with witness {witness}"))
        })?;
    // A PIN request is answered by its PIN (its acceptance must show it): by hand, the device
    // would refuse the acceptance, and its record and grant would be left behind.
    if accept && request.request.pin_id.is_some() && !pin_by_hand {
        return Err(ClientError::Invalid(format!(
            "the request {witness} was made with a PIN: it is answered by the PIN, automatically \
             (mesh device pending or mesh account sync)"
        )));
    }
    answer(device, account, &request, rights, None, None)?;
    Ok(request.device_udf)
}

/// Answer one request: accept with the rights given (make and catalog the device's records),
/// or reject (`None`).
fn answer(
    device: &Device,
    account: &Account,
    request: &PendingRequest,
    rights: Option<Rights>,
    error_code: Option<&str>,
    salted_pin: Option<&str>,
) -> Result<()> {
    let accept = rights.is_some();
    // A device is connected once: accepting it again would leave its first connection (and
    // the rights it names) standing beside the new one.
    if accept
        && account
            .get(CatalogKind::Device, &request.device_udf)?
            .is_some()
    {
        return Err(ClientError::Invalid(format!(
            "device {} is already connected to {}: to connect it with other rights, remove it \
             (mesh device delete) and connect it as a new device",
            request.device_udf, account.address
        )));
    }
    let admin = account.administrator_key()?;
    let device_key: PublicKey = required(&request.device.encryption, "Encryption")?;
    let mut result = RespondConnection {
        message_id: Some(request.response_id.clone()),
        result: Some(if accept { "Accept" } else { "Reject" }.into()),
        error_code: error_code.map(str::to_string),
        pin_proof: salted_pin
            .filter(|_| accept)
            .map(|salted| ids::pin_proof(salted, &account.address, &request.response_id))
            .transpose()?,
        ..Default::default()
    };
    let mut session = Session::open(device, account)?;
    if let Some(rights) = rights {
        let cataloged = grant_device(
            &mut session,
            account,
            &request.device,
            request.request.authenticated_data.clone(),
            rights,
        )?;
        account.put(CatalogKind::Device, &MeshItem::from(cataloged.clone()))?;
        session.push(CatalogKind::Device.name())?;
        result.cataloged_device = Some(cataloged);
    }
    let envelope = signed::seal(
        &result.into(),
        &admin,
        Some(&request.response_id),
        &[&device_key],
    )?;
    let mut local = vec![envelope];
    if let Some(pin_id) = request.request.pin_id.as_ref().filter(|_| accept) {
        local.push(pin_used_marker(pin_id)?);
    }
    session.post_own(local, vec![])?;
    session.sync(&mut |_, _, _| {})?;
    Ok(())
}

/// New device: collect the answer to a pending request. `Ok(None)` while it is still pending.
pub fn complete(device: &mut Device, address: Option<&str>) -> Result<Option<Account>> {
    let list = load_pending(device);
    let address = match address {
        Some(a) => list.iter().find(|p| p.address.eq_ignore_ascii_case(a)),
        None => list.last(),
    }
    .map(|p| p.address.clone())
    .ok_or_else(|| {
        ClientError::Invalid(
            "no connection request is pending on this device (mesh device request ADDRESS)".into(),
        )
    })?;
    // Every request waiting for that account, newest first: the first one answered is the
    // one the administrator chose.
    for pending in pending_requests(device, &address) {
        if let Some(done) = complete_one(device, &list, &pending)? {
            return Ok(Some(done));
        }
    }
    Ok(None)
}

/// Ask the service for the answer to one request; `None` if there is none yet.
fn complete_one(
    device: &mut Device,
    list: &[PendingConnection],
    pending: &PendingConnection,
) -> Result<Option<Account>> {
    let response_id = ids::response_id_of_witness(&pending.witness)?;
    let service_signer = pending.service_signature.public_key()?;
    let mut keys = KeyRing::new();
    keys.add_private(device.base_key("Encryption")?);
    let response = online::call(
        &pending.url,
        &Request::CompleteRequest(CompleteRequest {
            account_address: Some(pending.address.clone()),
            response_id: Some(response_id.clone()),
            ..Default::default()
        }),
        Some(&device.base_key("ProfileSignature")?),
        Some(&pending.service_encryption.public_key()?),
        &keys,
        Some(&service_signer),
    )?;
    let Response::CompleteResponse(complete) = response else {
        return Err(ClientError::Invalid("unexpected answer to Complete".into()));
    };
    let Some(envelope) = complete.enveloped_respond_connection else {
        return Ok(None);
    };
    // The answer must come from the account's administrator, for this request, for this device.
    let (profile, _) = signed::verify_profile_user(&pending.enveloped_profile_account)?;
    let admin = required(&profile.administrator_signature, "AdministratorSignature")?;
    let answer = read_answer(&envelope, &admin, &keys)?;
    if answer.message_id.as_deref() != Some(response_id.as_str()) {
        return Err(ClientError::Invalid(
            "the answer is for another request".into(),
        ));
    }
    let remaining: Vec<PendingConnection> = list
        .iter()
        .filter(|p| p.address != pending.address)
        .cloned()
        .collect();
    if answer.result.as_deref() != Some("Accept") {
        save_pending(device, &remaining)?;
        let why = answer
            .error_code
            .map(|c| format!(": {c}"))
            .unwrap_or_default();
        return Err(ClientError::Invalid(format!(
            "the administrator of {} rejected this device{why}",
            pending.address
        )));
    }
    // A PIN request is accepted only by whoever made the PIN: a service that gave this device
    // an account of its own under the address cannot show it.
    if let Some(expected) = &pending.pin_proof {
        if answer.pin_proof.as_ref() != Some(expected) {
            return Err(ClientError::Invalid(format!(
                "the acceptance does not show the PIN this device gave: it is not from the \
                 administrator of {} who made the PIN; not connecting",
                pending.address
            )));
        }
    }
    let cataloged = answer.cataloged_device.ok_or_else(|| {
        ClientError::Invalid("an accepted answer without the device record".into())
    })?;
    // The records must be for this device's secret (the activation produces its keys).
    let (credentials, grant) = check_records(device, &cataloged, &admin)?;
    let account =
        device.add_connected_account(&pending.enveloped_profile_account, &grant, &cataloged)?;
    let binding = ServiceBinding {
        url: pending.url.clone(),
        service_udf: pending.service_udf.clone(),
        service_signature: Some(pending.service_signature.clone()),
        service_encryption: Some(pending.service_encryption.clone()),
        synced: Default::default(),
        jsonb: false,
    };
    Session::start(&account, binding, credentials)?;
    save_pending(device, &remaining)?;
    Ok(Some(account))
}

/// The administrator's answer to a connection request. This build's administrators sign it;
/// the reference's leave it unsigned (encrypted to the device, its examples'
/// `ProtocolConnectRequest.md`). An unsigned answer is taken only as an acceptance, whose
/// records the caller then checks to be signed by the administrator key and made for this
/// device's secret ([`check_records`]): its contents carry the authentication. An unsigned
/// rejection is not taken as the administrator's (anyone who can write where the answer is
/// left could make one).
fn read_answer(
    envelope: &DareEnvelope,
    admin: &PublicKey,
    keys: &KeyRing,
) -> Result<RespondConnection> {
    if envelope.signatures().next().is_some() {
        return Ok(expect_item!(
            signed::verify_signed_by(envelope, admin, "connection answer", keys)?.into_inner(),
            RespondConnection
        )?);
    }
    let answer = expect_item!(signed::read(envelope, keys)?, RespondConnection)?;
    if answer.result.as_deref() != Some("Accept") || answer.cataloged_device.is_none() {
        return Err(ClientError::Invalid(
            "an unsigned answer that is not an acceptance with the device's records: not taken \
             as the administrator's"
                .into(),
        ));
    }
    Ok(answer)
}

/// The account profile in `envelope`, self-signed and for `address`.
pub(crate) fn account_profile_for(
    envelope: &DareEnvelope,
    address: &str,
) -> Result<mesh_schema::profile::ProfileUser> {
    let (profile, _) = signed::verify_profile_user(envelope)?;
    if !profile
        .account_address
        .as_deref()
        .is_some_and(|a| a.eq_ignore_ascii_case(address))
    {
        return Err(ClientError::Invalid(format!(
            "the account profile offered is not {address}'s"
        )));
    }
    Ok(profile)
}

/// A new device made on another device's behalf (pairing, preconfiguration): its secret, its
/// profile, the profile's UDF and the self-signed profile envelope.
pub(crate) fn new_device(
    description: &str,
) -> Result<(mesh_crypto::SecretSeed, ProfileDevice, String, DareEnvelope)> {
    let seed = mesh_crypto::SecretSeed::from_udf(mesh_udf::random::secret_seed(
        mesh_udf::KeySpecifier::new(0, 256)?,
        256,
    ))?;
    let profile = ProfileDevice::from_seed(&seed, Some(description.to_string()))?;
    let udf = profile.check()?;
    let key = mesh_crypto::profile_keys(&seed)?
        .into_iter()
        .find(|k| k.role == "ProfileSignature")
        .map(|k| k.key)
        .ok_or_else(|| ClientError::Invalid("no profile key".into()))?;
    let envelope = signed::seal(&profile.clone().into(), &key, Some(&udf), &[])?;
    Ok((seed, profile, udf, envelope))
}

/// The records that connect `profile` to the account with `rights` (schema-08 §3.2.1): the
/// activation, the connection signed by the administrator key (its `Roles` the rights), and the
/// account activation encrypted to the device, gathered in the CatalogedDevice; and, for the
/// `threshold` right, the access-catalog entry that lets the device decrypt. The account
/// encryption key is then split (threshold-06 §3.2): the device's share goes in its account
/// activation, the other share, encrypted to the service (`service_encryption`), in a
/// CapabilityDecryptServiced bound to the device. Neither share decrypts by itself. The `web`
/// right puts the account encryption key itself in the activation instead (read offline, and
/// kept after a removal); with neither, the device is given no key to the catalogs.
pub(crate) fn device_records(
    account: &Account,
    profile: &ProfileDevice,
    profile_envelope: Option<DareEnvelope>,
    service_encryption: &PublicKey,
    rights: Rights,
) -> Result<(CatalogedDevice, Option<CatalogedAccess>)> {
    let (mut cataloged, device_key) = connected_record(account, profile, profile_envelope, rights)?;
    let device_udf = profile.check()?;
    let admin = account.administrator_key()?;
    let not_admin = || ClientError::NotAdministrator(account.address.clone());
    let account_key = account.encryption_private_key().ok_or_else(not_admin)?;
    let id_key = account.id_key().ok_or_else(not_admin)?;
    let mut activation_account = ActivationAccount {
        account_encryption: account.profile.account_encryption.clone(),
        catalog_id_key: Some(base64url::encode(&id_key)),
        ..Default::default()
    };
    let mut access = None;
    if rights.web {
        activation_account.account_encryption = Some(KeyData::from_private(account_key)?);
    } else if rights.threshold {
        let (device_share, service_share) = account_key.split()?;
        let capability_id = mesh_udf::random::nonce(128).to_string();
        let enveloped_share = DareEnvelope::encode(
            &service_share.to_bytes(),
            &mesh_dare::EnvelopeOptions {
                recipients: vec![service_encryption],
                ..Default::default()
            },
        )?;
        access = Some(CatalogedAccess {
            key: Some(capability_id.clone()),
            capability: Some(CryptographicCapability::CapabilityDecryptServiced(
                CapabilityDecryptServiced {
                    id: Some(capability_id.clone()),
                    key_data: account.profile.account_encryption.clone(),
                    enveloped_key_shares: vec![enveloped_share],
                    subject_id: Some(device_udf),
                    subject_address: Some(account.address.clone()),
                    ..Default::default()
                },
            )),
            ..Default::default()
        });
        activation_account.account_encryption_share =
            Some(base64url::encode(&device_share.to_bytes()));
        activation_account.account_encryption_capability = Some(capability_id);
    }
    cataloged.enveloped_activation_account = Some(signed::seal(
        &activation_account.into(),
        &admin,
        None,
        &[&device_key],
    )?);
    Ok((cataloged, access))
}

/// What every device of the account has in its CatalogedDevice (schema-08 §3.2.1): its
/// connection signed by the administrator key, and its activation, also signed, encrypted to
/// the device, granting `rights`. Also the device's encryption key, for what the caller adds.
pub(crate) fn connected_record(
    account: &Account,
    profile: &ProfileDevice,
    profile_envelope: Option<DareEnvelope>,
    rights: Rights,
) -> Result<(CatalogedDevice, PublicKey)> {
    let admin = account.administrator_key()?;
    let device_udf = profile.check()?;
    let device_key: PublicKey = required(&profile.encryption, "Encryption")?;
    let (activation, connection) =
        ActivationDevice::create(profile, &account.udf, &account.address, rights)?;
    let cataloged = CatalogedDevice {
        udf: Some(device_udf.clone()),
        device_udf: Some(device_udf),
        signature_udf: connection.signature.as_ref().and_then(|k| k.udf.clone()),
        enveloped_profile_user: Some(account.profile_envelope()?),
        enveloped_profile_device: profile_envelope,
        enveloped_connection_device: Some(signed::seal(&connection.into(), &admin, None, &[])?),
        enveloped_activation_device: Some(signed::seal(
            &activation.into(),
            &admin,
            None,
            &[&device_key],
        )?),
        ..Default::default()
    };
    Ok((cataloged, device_key))
}

/// Administrator: make the records for a device joining the account, and put and push its
/// access-catalog entry (the service must hold its share before the device asks for it). The
/// caller adds the CatalogedDevice (or has the device add it).
pub(crate) fn grant_device(
    session: &mut Session,
    account: &Account,
    profile: &ProfileDevice,
    profile_envelope: Option<DareEnvelope>,
    rights: Rights,
) -> Result<CatalogedDevice> {
    let (_, _, service_encryption) = session.service_keys();
    let (cataloged, access) = device_records(
        account,
        profile,
        profile_envelope,
        &service_encryption,
        rights,
    )?;
    if let Some(access) = access {
        account.put(CatalogKind::Access, &MeshItem::from(access))?;
        session.push(CatalogKind::Access.name())?;
    }
    Ok(cataloged)
}

/// Check an accepted device record as the device it was made for: it is for this device's
/// secret and this account; returns the device's working credentials and what it was granted.
pub(crate) fn check_records(
    device: &Device,
    cataloged: &CatalogedDevice,
    admin: &PublicKey,
) -> Result<(
    (
        mesh_crypto::PrivateKey,
        mesh_crypto::PrivateKey,
        DareEnvelope,
    ),
    AccountGrant,
)> {
    if cataloged.device_udf.as_deref() != Some(device.udf()) {
        return Err(ClientError::Invalid(
            "the device record was made for another device".into(),
        ));
    }
    // Every record is the administrator's: the connection and the device activation as much
    // as the account activation (an unsigned answer has nothing else to vouch for them).
    let mut base = KeyRing::new();
    base.add_private(device.base_key("Encryption")?);
    for (envelope, what) in [
        (&cataloged.enveloped_connection_device, "device connection"),
        (&cataloged.enveloped_activation_device, "device activation"),
    ] {
        let envelope = envelope
            .as_ref()
            .ok_or_else(|| ClientError::Invalid(format!("the device entry has no {what}")))?;
        signed::verify_signed_by(envelope, admin, what, &base)?;
    }
    let credentials = device_credentials_from(device, cataloged)?;
    let mut keys = KeyRing::new();
    keys.add_private(device.base_key("Encryption")?);
    let activation_env = cataloged
        .enveloped_activation_account
        .as_ref()
        .ok_or_else(|| ClientError::Invalid("no account activation for this device".into()))?;
    let activation: ActivationAccount = expect_item!(
        signed::verify_signed_by(activation_env, admin, "account activation", &keys)?.into_inner(),
        ActivationAccount
    )?;
    let field = |v: Option<String>, name: &str| {
        v.ok_or_else(|| ClientError::Invalid(format!("the account activation has no {name}")))
    };
    // The `threshold` right: a share and the capability the service holds the other under;
    // the `web` right: the account key itself (PrivateParameters of AccountEncryption).
    let (share, capability) = match (
        activation.account_encryption_share,
        activation.account_encryption_capability,
    ) {
        (Some(share), Some(capability)) => (Some(share), Some(capability)),
        (None, None) => (None, None),
        _ => {
            return Err(ClientError::Invalid(
                "the account activation has a share without its capability, or the reverse".into(),
            ))
        }
    };
    let account_key = match activation
        .account_encryption
        .as_ref()
        .filter(|k| k.private_parameters.is_some())
    {
        Some(k) => Some(base64url::encode(
            &k.private_key("AccountEncryption")?.to_bytes(),
        )),
        None => None,
    };
    Ok((
        credentials,
        AccountGrant {
            id_key: field(activation.catalog_id_key, "CatalogIdKey")?,
            account_key,
            share,
            capability,
            key: None,
        },
    ))
}

/// The action a device-connection PIN authorizes.
pub const PIN_ACTION: &str = "Device";

/// A Local-spool marker recording that a PIN has been used.
fn pin_used_marker(pin_id: &str) -> Result<DareEnvelope> {
    local_marker(&format!("PinUsed:{pin_id}"))
}

/// A Local-spool marker under `unique_id`: that something was done (a PIN used, a request
/// answered), for every device of the account to see.
pub(crate) fn local_marker(unique_id: &str) -> Result<DareEnvelope> {
    let meta = mesh_dare::ContentMeta {
        unique_id: Some(unique_id.to_string()),
        message_type: Some("MessageComplete".into()),
        ..Default::default()
    };
    Ok(DareEnvelope::encode(
        b"{}",
        &mesh_dare::EnvelopeOptions {
            meta: Some(meta),
            ..Default::default()
        },
    )?)
}

/// The key a PIN's record is sealed to: an X448 key derived from the administrator signature
/// key (HKDF-SHA-512, salt "MeshPinKey"), which every administrator device holds and no other
/// device does. A device that reads the catalogs (with the account key or a share of it) must
/// not read a PIN: with its salted value it could answer for the PIN and connect a device of
/// its own with the rights the PIN grants, more than its own. Not a key of the drafts, which do
/// not say how an administrator keeps a PIN.
fn pin_key(account: &Account) -> Result<mesh_crypto::PrivateKey> {
    let admin = account.administrator_key()?;
    let mut okm = [0u8; 56];
    hkdf::Hkdf::<sha2::Sha512>::new(Some(b"MeshPinKey"), &admin.to_bytes())
        .expand(b"X448", &mut okm)
        .map_err(|e| ClientError::Invalid(e.to_string()))?;
    Ok(mesh_crypto::PrivateKey::from_bytes(
        mesh_crypto::Algorithm::X448,
        &okm,
    )?)
}

/// Administrator: register a new PIN for connecting a device (protocol-09 §8.1) that expires
/// after `valid`, for a device to be given `rights` (the PIN's `Roles`); returns the PIN and its
/// `mcu://ADDRESS/PIN` URI.
pub fn register_pin(
    device: &Device,
    account: &Account,
    valid: std::time::Duration,
    rights: Rights,
) -> Result<(String, String)> {
    let pin = mesh_udf::Udf::new(mesh_udf::UdfType::AuthenticatorHmacSha2, random(16)).present(110);
    let salted = ids::salted_pin(&pin, PIN_ACTION)?;
    let pin_id = ids::pin_id(&salted, &account.address)?;
    let expires = time::OffsetDateTime::now_utc()
        + time::Duration::try_from(valid).map_err(|e| ClientError::Invalid(e.to_string()))?;
    let message = MessagePin {
        message_id: Some(pin_id.clone()),
        account: Some(account.address.clone()),
        expires: Some(
            expires
                .replace_nanosecond(0)
                .unwrap_or(expires)
                .format(&time::format_description::well_known::Rfc3339)
                .map_err(|e| ClientError::Invalid(e.to_string()))?,
        ),
        automatic: Some(true),
        salted_pin: Some(salted),
        action: Some(PIN_ACTION.into()),
        roles: rights.roles(),
        ..Default::default()
    };
    let admin = account.administrator_key()?;
    let envelope = signed::seal(
        &message.into(),
        &admin,
        Some(&pin_id),
        &[&pin_key(account)?.public_key()],
    )?;
    let mut session = Session::open(device, account)?;
    session.post_own(vec![envelope], vec![])?;
    session.sync(&mut |_, _, _| {})?;
    Ok((pin.clone(), format!("mcu://{}/{pin}", account.address)))
}

/// What became of a PIN-authenticated request.
pub struct PinOutcome {
    pub device_udf: String,
    /// `Accept`, or the error: `PinInvalid`, `PinUsed`, `PinExpired`, `AlreadyConnected`.
    pub result: String,
}

/// The entry of the local copy of the Local spool under `unique_id`, if any.
pub(crate) fn local_entry(account: &Account, unique_id: &str) -> Result<Option<DareEnvelope>> {
    let path = account.dir().join("MMM_Local.dare");
    if !path.exists() {
        return Ok(None);
    }
    let c = Container::open(path, Mode::Read)?;
    for i in 1..c.frame_count() {
        let env = c.read(i)?;
        if env.content_meta().ok().and_then(|m| m.unique_id).as_deref() == Some(unique_id) {
            return Ok(Some(env));
        }
    }
    Ok(None)
}

/// Does the request's PIN verify? "Accept" with the rights the PIN grants, or the reason not.
fn check_pin(
    account: &Account,
    request: &PendingRequest,
) -> Result<(&'static str, Rights, Option<String>)> {
    let refused = |why| Ok((why, Rights::DEFAULT, None));
    let Some(pin_id) = &request.request.pin_id else {
        return refused("PinInvalid");
    };
    let Some(envelope) = local_entry(account, pin_id)? else {
        return refused("PinInvalid");
    };
    let admin = required(
        &account.profile.administrator_signature,
        "AdministratorSignature",
    )?;
    let mut keys = KeyRing::new();
    keys.add_private(pin_key(account)?);
    // PINs made before they were sealed to the administrators' key.
    if let Some(k) = account.encryption_private_key() {
        keys.add_private(k.clone());
    }
    let Ok(item) = signed::verify_signed_by(&envelope, &admin, "PIN", &keys) else {
        return refused("PinInvalid");
    };
    let Ok(pin) = expect_item!(item.into_inner(), MessagePin) else {
        return refused("PinInvalid");
    };
    if local_entry(account, &format!("PinUsed:{pin_id}"))?.is_some() {
        return refused("PinUsed");
    }
    let expired = pin
        .expires
        .as_deref()
        .and_then(|e| mesh_encoding::datetime::parse(e).ok())
        .is_none_or(|e| e < time::OffsetDateTime::now_utc());
    if expired {
        return refused("PinExpired");
    }
    let salted = pin.salted_pin.unwrap_or_default();
    let digest = request
        .request
        .authenticated_data
        .as_ref()
        .map(|e| mesh_dare::envelope::sha512(&e.payload).to_vec())
        .unwrap_or_default();
    let nonce = request.request.client_nonce.clone().unwrap_or_default();
    let expected = ids::pin_witness(&salted, &account.address, &nonce, &digest)?;
    if request.request.pin_witness.as_deref() != Some(expected.as_slice()) {
        return refused("PinInvalid");
    }
    Ok(("Accept", Rights::of_roles(&pin.roles), Some(salted)))
}

/// Administrator: answer every PIN-authenticated request: accept those whose PIN verifies,
/// reject the others with the reason. Requests without a PIN wait for `respond`.
pub fn process_pins(device: &Device, account: &Account) -> Result<Vec<PinOutcome>> {
    if !account.is_administrator() {
        return Ok(vec![]);
    }
    let mut outcomes = Vec::new();
    for request in pending(device, account)?
        .into_iter()
        .filter(|r| r.request.pin_id.is_some())
    {
        let (mut result, rights, salted) = check_pin(account, &request)?;
        if result == "Accept"
            && account
                .get(CatalogKind::Device, &request.device_udf)?
                .is_some()
        {
            result = "AlreadyConnected";
        }
        let accept = result == "Accept";
        answer(
            device,
            account,
            &request,
            accept.then_some(rights),
            (!accept).then_some(result),
            salted.as_deref(),
        )?;
        outcomes.push(PinOutcome {
            device_udf: request.device_udf.clone(),
            result: result.to_string(),
        });
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesh_crypto::{Algorithm, PrivateKey};
    use mesh_dare::EnvelopeOptions;

    fn sealed(
        answer: &RespondConnection,
        signer: Option<&PrivateKey>,
        to: &PublicKey,
    ) -> DareEnvelope {
        let json = MeshItem::from(answer.clone()).to_json().unwrap();
        DareEnvelope::encode(
            json.as_bytes(),
            &EnvelopeOptions {
                signers: signer.into_iter().collect(),
                recipients: vec![to],
                ..Default::default()
            },
        )
        .unwrap()
    }

    /// The reference leaves the answer unsigned: only an acceptance carrying the device's
    /// records is read from such an envelope (the records' administrator signatures are checked
    /// next); a rejection, or an acceptance without records, is not; a signature by anyone but
    /// the administrator is refused.
    #[test]
    fn unsigned_answers_are_taken_only_as_acceptances_with_records() {
        let admin = PrivateKey::generate(Algorithm::Ed448);
        let other = PrivateKey::generate(Algorithm::Ed448);
        let device = PrivateKey::generate(Algorithm::X448);
        let to = device.public_key();
        let mut keys = KeyRing::new();
        keys.add_private(device);
        let accept = RespondConnection {
            result: Some("Accept".into()),
            cataloged_device: Some(CatalogedDevice::default()),
            ..Default::default()
        };
        let reject = RespondConnection {
            result: Some("Reject".into()),
            ..Default::default()
        };
        let bare = RespondConnection {
            result: Some("Accept".into()),
            ..Default::default()
        };
        let admin_key = admin.public_key();
        let read = |a: &RespondConnection, signer: Option<&PrivateKey>| {
            read_answer(&sealed(a, signer, &to), &admin_key, &keys)
        };
        assert!(read(&accept, Some(&admin)).is_ok());
        assert!(read(&reject, Some(&admin)).is_ok());
        assert!(read(&accept, Some(&other)).is_err());
        assert!(read(&reject, Some(&other)).is_err());
        assert!(read(&accept, None).is_ok());
        assert!(read(&reject, None).is_err());
        assert!(read(&bare, None).is_err());
    }
}
