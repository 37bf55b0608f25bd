//! Preconfigured devices connected by a static QR code (protocol-09 §7.5, §9.3; seed 000).
//!
//! A maker's administrator device makes a device secret and its ProfileDevice, publishes the
//! profile encrypted under a fresh EARL key to the maker account's publications (the service can
//! hand it to whoever holds the locator but cannot read it), and writes the
//! DevicePreconfigurationPrivate record (seed 000's format) for the device's firmware; the
//! `mcu://MAKER/KEY` URI goes on the device as a QR code. The owner's administrator device scans
//! it: it claims the publication (Claim), decrypts the profile with the key, and makes and
//! catalogs the device's records, leaving the answer for the device under the response id of the
//! publication. The device polls the maker's service for the claim (PollClaim), collects the
//! answer from the claimant's service (Complete), checks it as in every connection mode, and joins.

use std::path::{Path, PathBuf};

use mesh_dare::crypt::earl_seed;
use mesh_dare::{ContentMeta, DareEnvelope, EnvelopeOptions, KeyRing};
use mesh_protocol::messages::{ClaimRequest, CompleteRequest, PollClaimRequest};
use mesh_protocol::{Request, Response};
use mesh_schema::catalog::CatalogedPublication;
use mesh_schema::key::required;
use mesh_schema::message::{MessageClaim, RespondConnection};
use mesh_schema::preconfig::{
    unwrap_text, DevicePreconfigurationPrivate, PrivateKeyForm, PrivateKeyUdf,
};
use mesh_schema::{expect_item, ids, signed, MeshItem};
use mesh_udf::{random, Udf, UdfType};
use serde::{Deserialize, Serialize};

use crate::catalogs::CatalogKind;
use crate::connect::{account_profile_for, check_records, grant_device};
use crate::context::{Account, Device, MeshHome};
use crate::online::{self, call_anonymous, load_binding, ServiceBinding, Session};
use crate::store::write_atomic;
use crate::{ClientError, Result};
use mesh_schema::rights::Rights;

/// The container of a maker's publications on its service.
pub const PUBLISHED: &str = "MMM_Published";

/// Publisher address, EARL key text and locator of an `mcu://` connection URI.
pub fn parse_uri(uri: &str) -> Result<(String, String, String)> {
    let uri = unwrap_text(uri);
    let rest = uri
        .strip_prefix("mcu://")
        .ok_or_else(|| ClientError::Invalid(format!("'{uri}' is not an mcu:// URI")))?;
    let (publisher, key) = rest
        .split_once('/')
        .ok_or_else(|| ClientError::Invalid("expected mcu://ACCOUNT/KEY".into()))?;
    let key = key.to_ascii_uppercase();
    let udf = Udf::parse(&key)?;
    if !matches!(udf.kind(), UdfType::EncryptionKey(_)) {
        return Err(ClientError::Invalid(
            "the URI does not carry an EARL key (E…)".into(),
        ));
    }
    Ok((
        publisher.to_ascii_lowercase(),
        key.clone(),
        mesh_udf::earl_locator(&key),
    ))
}

fn key_seed(key: &str) -> Result<mesh_dare::crypt::BaseSeed> {
    Ok(earl_seed(Udf::parse(key)?.body()))
}

/// The key a claim on a publication is signed with, derived from the EARL key (HKDF-SHA-256 of
/// the key UDF's body, info "MeshClaim", as an Ed25519 secret): only who holds the QR code can
/// make it. The publication carries its public key (`Authenticator`, base64url), so the service
/// checks a claim without learning the EARL key, and the device checks who claimed it.
/// protocol-09 §9.3 says "the claim is authenticated using the key specified in the EARL" and
/// gives no format; this one is this implementation's.
pub fn claim_key(key: &str) -> Result<mesh_crypto::PrivateKey> {
    let mut secret = [0u8; 32];
    hkdf::Hkdf::<sha2::Sha256>::new(None, Udf::parse(key)?.body())
        .expand(b"MeshClaim", &mut secret)
        .map_err(|e| ClientError::Invalid(e.to_string()))?;
    Ok(mesh_crypto::PrivateKey::from_secret(
        mesh_crypto::Algorithm::Ed25519,
        &secret,
    )?)
}

/// Publish `plaintext` in the account's publications under the EARL `key` (a fresh encryption
/// key UDF): encrypted under the key (the service holds it but cannot read it), with the public
/// half of the [`claim_key`] so that only who holds the key may claim it; `data_type` names
/// what it is in the data's metadata (the service reads it: a `MessageContact` may be claimed
/// any number of times, anything else once) and `not_on_or_after` (RFC 3339) when it expires.
pub(crate) fn publish(
    device: &Device,
    account: &Account,
    key: &str,
    plaintext: &[u8],
    data_type: Option<&str>,
    not_on_or_after: Option<String>,
) -> Result<()> {
    let locator = mesh_udf::earl_locator(key);
    let data = DareEnvelope::encode(
        plaintext,
        &EnvelopeOptions {
            symmetric: Some((key_seed(key)?, locator.clone())),
            digest: true,
            meta: data_type.map(|t| ContentMeta {
                message_type: Some(t.into()),
                ..Default::default()
            }),
            ..Default::default()
        },
    )?;
    let publication = CatalogedPublication {
        id: Some(locator.clone()),
        authenticator: Some(mesh_encoding::base64url::encode(
            claim_key(key)?.public_key().as_bytes(),
        )),
        enveloped_data: Some(data),
        not_on_or_after,
        ..Default::default()
    };
    let meta = ContentMeta {
        unique_id: Some(locator),
        message_type: Some("CatalogedPublication".into()),
        ..Default::default()
    };
    let entry = DareEnvelope::encode(
        MeshItem::from(publication).to_json()?.as_bytes(),
        &EnvelopeOptions {
            meta: Some(meta),
            ..Default::default()
        },
    )?;
    Session::open(device, account)?.append_remote(PUBLISHED, vec![entry])
}

/// Claim the publication `uri` names from its publisher's service (found from the publisher's
/// address, or at `publisher_service`), as `account`, the claim signed by `signer` and by the
/// key the URI gives: the publisher and what was published, opened with the URI's key.
pub(crate) fn claim_publication(
    account: &Account,
    signer: &mesh_crypto::PrivateKey,
    uri: &str,
    publisher_service: Option<&str>,
    contact: bool,
) -> Result<(String, Vec<u8>)> {
    let (publisher, key, locator) = parse_uri(uri)?;
    let info = online::hello(&publisher, publisher_service)?;
    let own =
        load_binding(account).ok_or_else(|| ClientError::NotBound(account.address.clone()))?;
    // A device's claimant says who it is and where its answer waits; a contact's fetcher need
    // not tell the publisher's service anything, and says the claim is for a contact only (so
    // that it never uses up a device's one claim).
    let message = MessageClaim {
        message_id: Some(random::nonce(128).to_string()),
        sender: (!contact).then(|| account.address.clone()),
        recipient: Some(publisher.clone()),
        publication_id: Some(locator.clone()),
        service_authenticate: (!contact).then(|| own.url.clone()),
        ..Default::default()
    };
    let claim_for = contact.then(|| mesh_dare::schema::KeyValue {
        key: mesh_schema::catalog::CLAIM_FOR.into(),
        value: mesh_schema::catalog::PUBLISHED_CONTACT.into(),
    });
    // Signed by the claimant, and by the key only the QR code gives.
    let mut claim = signed::seal_with(
        &message.into(),
        signer,
        Some(&locator),
        &[],
        claim_for.into_iter().collect(),
    )?;
    let digest = mesh_dare::envelope::sha512(&claim.payload);
    claim.sign_over(&claim_key(&key)?, &digest)?;
    let response = call_anonymous(
        &info.url,
        &Request::ClaimRequest(ClaimRequest {
            enveloped_message_claim: Some(claim),
        }),
        &info.signature,
        &info.encryption,
    )?;
    let Response::ClaimResponse(r) = response else {
        return Err(ClientError::Invalid("unexpected answer to Claim".into()));
    };
    let data = r
        .cataloged_publication
        .and_then(|p| p.enveloped_data)
        .ok_or_else(|| ClientError::Invalid("the publication is empty".into()))?;
    let plain = data
        .decrypt_with_seed(&key_seed(&key)?)
        .map_err(|_| ClientError::Invalid("the EARL key does not open the publication".into()))?;
    Ok((publisher, plain))
}

/// Maker: make a preconfigured device; write its record to `out`; returns (URI, device UDF).
pub fn preconfigure(device: &Device, account: &Account, out: &Path) -> Result<(String, String)> {
    let (seed, _profile, udf, profile_env) = crate::connect::new_device("preconfigured device")?;
    let key = random::encryption_key(128).to_string();
    publish(
        device,
        account,
        &key,
        profile_env.to_json()?.as_bytes(),
        None,
        None,
    )?;
    let uri = format!("mcu://{}/{key}", account.address);
    let record = DevicePreconfigurationPrivate {
        enveloped_profile_device: Some(profile_env),
        private_key: Some(PrivateKeyForm::Udf(PrivateKeyUdf {
            private_value: Some(seed.udf().to_string()),
            key_type: Some("MeshProfileDevice".into()),
        })),
        connect_uri: Some(uri.clone()),
        ..Default::default()
    };
    write_atomic(
        out,
        mesh_encoding::to_json(&MeshItem::from(record))?.as_bytes(),
    )?;
    Ok((uri, udf))
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WaitingClaim {
    connect_uri: String,
    service: Option<String>,
}

fn waiting_path(device: &Device) -> PathBuf {
    device.data_dir().join("preconfig.json")
}

/// Is this device a preconfigured one waiting to be claimed?
pub fn is_waiting(device: &Device) -> bool {
    waiting_path(device).exists()
}

/// Device: install a preconfiguration record (checking it) as this device.
pub fn install(
    home: &MeshHome,
    passphrase: &str,
    record: &[u8],
    service: Option<&str>,
) -> Result<Device> {
    let pre = expect_item!(MeshItem::from_bytes(record)?, DevicePreconfigurationPrivate)?;
    pre.check_profile()?;
    let uri = pre
        .connect_uri
        .clone()
        .ok_or_else(|| ClientError::Invalid("the record has no ConnectUri".into()))?;
    parse_uri(&uri)?;
    let device = home.create_with_secret(passphrase, pre.device_secret()?)?;
    let waiting = WaitingClaim {
        connect_uri: unwrap_text(&uri),
        service: service.map(str::to_string),
    };
    write_atomic(
        &waiting_path(&device),
        &serde_json::to_vec_pretty(&waiting).map_err(|e| ClientError::Invalid(e.to_string()))?,
    )?;
    Ok(device)
}

/// Owner's administrator device: claim the device behind `uri`. Returns its UDF.
pub fn claim(
    device: &Device,
    account: &Account,
    rights: Rights,
    uri: &str,
    publisher_service: Option<&str>,
) -> Result<String> {
    let (_, _, locator) = parse_uri(uri)?;
    let admin = account.administrator_key()?;
    let (_, plain) = claim_publication(account, &admin, uri, publisher_service, false)?;
    let profile_env = DareEnvelope::parse(&plain)?;
    let (profile, udf) = signed::verify_profile_device(&profile_env)?;
    let mut session = Session::open(device, account)?;
    let cataloged = grant_device(&mut session, account, &profile, Some(profile_env), rights)?;
    account.put(CatalogKind::Device, &MeshItem::from(cataloged.clone()))?;
    session.push(CatalogKind::Device.name())?;
    let response_id = ids::response_id(&locator)?;
    let answer = RespondConnection {
        message_id: Some(response_id.clone()),
        result: Some("Accept".into()),
        cataloged_device: Some(cataloged),
        ..Default::default()
    };
    let device_key = required(&profile.encryption, "Encryption")?;
    let envelope = signed::seal(&answer.into(), &admin, Some(&response_id), &[&device_key])?;
    session.post_own(vec![envelope], vec![])?;
    session.sync(&mut |_, _, _| {})?;
    Ok(udf)
}

/// Device: find out who claimed this device and join their account. `Ok(None)` while
/// unclaimed.
pub fn complete(device: &mut Device) -> Result<Option<Account>> {
    let waiting: WaitingClaim = serde_json::from_slice(&std::fs::read(waiting_path(device))?)
        .map_err(|e| ClientError::Invalid(e.to_string()))?;
    let (publisher, _, locator) = parse_uri(&waiting.connect_uri)?;
    let maker = online::hello(&publisher, waiting.service.as_deref())?;
    let response = call_anonymous(
        &maker.url,
        &Request::PollClaimRequest(PollClaimRequest {
            publication_id: Some(locator.clone()),
            target_account_address: Some(publisher.clone()),
        }),
        &maker.signature,
        &maker.encryption,
    )?;
    let Response::PollClaimResponse(poll) = response else {
        return Err(ClientError::Invalid(
            "unexpected answer to PollClaim".into(),
        ));
    };
    let Some(claim_env) = poll.enveloped_message else {
        return Ok(None);
    };
    // Made by whoever holds this device's QR code, or it is no claim on this device.
    let (_, key, _) = parse_uri(&waiting.connect_uri)?;
    let claim = expect_item!(
        signed::verify_signed_by(
            &claim_env,
            &claim_key(&key)?.public_key(),
            "claim",
            &KeyRing::new()
        )?
        .into_inner(),
        MessageClaim
    )?;
    let claimant = claim
        .sender
        .clone()
        .ok_or_else(|| ClientError::Invalid("a claim without its claimant".into()))?;
    let service = online::hello(&claimant, claim.service_authenticate.as_deref())?;
    let response_id = ids::response_id(&locator)?;
    let mut keys = KeyRing::new();
    keys.add_private(device.base_key("Encryption")?);
    let response = online::call(
        &service.url,
        &Request::CompleteRequest(CompleteRequest {
            account_address: Some(claimant.clone()),
            response_id: Some(response_id.clone()),
            ..Default::default()
        }),
        Some(&device.base_key("ProfileSignature")?),
        Some(&service.encryption),
        &keys,
        Some(&service.signature),
    )?;
    let Response::CompleteResponse(complete) = response else {
        return Err(ClientError::Invalid("unexpected answer to Complete".into()));
    };
    let Some(envelope) = complete.enveloped_respond_connection else {
        return Ok(None);
    };
    // The answer and the claim must both be signed by the claimant account's administrator.
    let answer_item = signed::read(&envelope, &keys)?;
    let answer = expect_item!(answer_item, RespondConnection)?;
    let cataloged = answer
        .cataloged_device
        .ok_or_else(|| ClientError::Invalid("the answer has no device record".into()))?;
    let profile_env = cataloged
        .enveloped_profile_user
        .clone()
        .ok_or_else(|| ClientError::Invalid("the device record has no account profile".into()))?;
    let profile = account_profile_for(&profile_env, &claimant)?;
    let admin = required(&profile.administrator_signature, "AdministratorSignature")?;
    signed::verify_signed_by(&envelope, &admin, "connection answer", &keys)?;
    signed::verify_signed_by(&claim_env, &admin, "claim", &KeyRing::new())?;
    let (credentials, grant) = check_records(device, &cataloged, &admin)?;
    let account = device.add_connected_account(&profile_env, &grant, &cataloged)?;
    let binding = ServiceBinding::from_info(&service);
    Session::start(&account, binding, credentials)?;
    std::fs::remove_file(waiting_path(device))?;
    Ok(Some(account))
}
