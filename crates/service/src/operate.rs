//! The Operate transaction (protocol-09 §7.6, §10.16): the service's half of threshold key
//! agreement for the devices of an account.
//!
//! An administrator device that connects a device splits the account encryption key in two
//! (threshold-06 §3.2): the device keeps one share, the other goes in a
//! CapabilityDecryptServiced entry of the account's access catalog (schema-08 §4.1, §10.4.11),
//! encrypted to the service and naming the device. Asked for a key agreement with an ephemeral
//! key E under that capability, the service checks that the entry is signed by the account's
//! administrator key and names the device making the request, and returns [share]E; the device
//! adds its own contribution. The service never holds enough to decrypt, and removing the
//! entry (or the device) ends the device's ability to.

use std::collections::HashMap;

use mesh_crypto::{PrivateKey, PublicKey};
use mesh_dare::catalog::change_of;
use mesh_dare::{DareEnvelope, KeyRing};
use mesh_protocol::messages::*;
use mesh_protocol::Response;
use mesh_schema::catalog::{CapabilityDecryptServiced, CatalogedAccess, CryptographicCapability};
use mesh_schema::key::required;
use mesh_schema::{expect_item, signed};

use crate::store::{Store, StoreResult};

/// The access catalog's container name.
pub const ACCESS: &str = "MMM_Access";
/// Most operations one Operate request may ask for.
pub const MAX_OPERATIONS: usize = 250;

/// An entry of an administered catalog (access, devices) as the service takes it: signed by
/// the administrator key over its metadata and payload ([`mesh_dare::catalog::entry_digest`]),
/// so that neither a forged entry nor the administrator's entry re-sent with another UniqueId
/// or Event (a deletion) passes.
pub fn check_administered_entry(
    envelope: &DareEnvelope,
    catalog: &str,
    admin: &PublicKey,
) -> Result<(), String> {
    if !mesh_dare::catalog::entry_signed_by(envelope, catalog, admin) {
        return Err(
            "only the account's administrator changes this catalog: the entry is not signed by \
             its administrator key over its metadata"
                .into(),
        );
    }
    Ok(())
}

/// An access entry as the service takes it: an administered entry whose capability, unless it
/// is a deletion marker, is the one its UniqueId names.
pub fn check_access_entry(
    envelope: &DareEnvelope,
    catalog: &str,
    admin: &PublicKey,
) -> Result<(), String> {
    check_administered_entry(envelope, catalog, admin)?;
    let meta = envelope
        .content_meta()
        .map_err(|e| format!("an access entry without its metadata: {e}"))?;
    let id = meta.unique_id.ok_or("an access entry without a UniqueId")?;
    if meta.event.as_deref() == Some(mesh_dare::catalog::EVENT_DELETE) {
        return Ok(());
    }
    let access: CatalogedAccess = mesh_schema::MeshItem::from_bytes(&envelope.payload)
        .map_err(|e| e.to_string())
        .and_then(|i| expect_item!(i, CatalogedAccess).map_err(|e| e.to_string()))?;
    if access.key.as_deref() != Some(id.as_str()) {
        return Err(format!("the access entry {id} is signed for another entry"));
    }
    Ok(())
}

/// The devices (and connections) an account's access catalog records as removed: entries
/// `Revoked:UDF` signed by the administrator key `admin`.
pub fn revoked_devices(
    store: &dyn Store,
    address: &str,
    admin: &PublicKey,
) -> StoreResult<Vec<String>> {
    marked(store, address, admin, mesh_schema::catalog::REVOKED_PREFIX)
}

/// The senders an account's access catalog records as blocked (entries `Blocked:ADDRESS`
/// signed by the administrator key `admin`), in lower case.
pub fn blocked_senders(
    store: &dyn Store,
    address: &str,
    admin: &PublicKey,
) -> StoreResult<Vec<String>> {
    Ok(
        marked(store, address, admin, mesh_schema::catalog::BLOCKED_PREFIX)?
            .into_iter()
            .map(|a| a.to_ascii_lowercase())
            .collect(),
    )
}

/// What follows `prefix` in the UniqueIds of an account's access-catalog entries signed by
/// the administrator key `admin`.
fn marked(
    store: &dyn Store,
    address: &str,
    admin: &PublicKey,
    prefix: &str,
) -> StoreResult<Vec<String>> {
    Ok(access_entries(store, address)?
        .into_iter()
        .filter(|(_, env)| mesh_dare::catalog::entry_signed_by(env, ACCESS, admin))
        .filter_map(|(id, _)| id.strip_prefix(prefix).map(str::to_string))
        .collect())
}

/// The current entries of an account's access catalog, by UniqueId (the capability Id).
fn access_entries(store: &dyn Store, address: &str) -> StoreResult<HashMap<String, DareEnvelope>> {
    let mut current = HashMap::new();
    let mut from = 1;
    loop {
        let page = store.read(address, ACCESS, from, 500)?;
        if page.is_empty() {
            break;
        }
        from += page.len() as u64;
        for envelope in page {
            match change_of(&envelope.header) {
                Some((id, true)) => {
                    current.remove(&id);
                }
                Some((id, false)) => {
                    current.insert(id, envelope);
                }
                None => {}
            }
        }
    }
    Ok(current)
}

/// The access entry found for `id` in `entries`, the catalog's current entries.
fn entry<'e>(
    entries: &'e HashMap<String, DareEnvelope>,
    id: &str,
) -> Result<&'e DareEnvelope, String> {
    entries
        .get(id)
        .ok_or_else(|| format!("no capability {id} in the access catalog"))
}

/// The capability `id` in the access entry `envelope`, if it is signed by the administrator
/// key `admin`, says it is `id` and was granted to the device `device_udf`.
fn capability(
    envelope: &DareEnvelope,
    id: &str,
    admin: &PublicKey,
    grantee: &Grantee<'_>,
) -> Result<CapabilityDecryptServiced, String> {
    // Entries made since entry signatures cover the metadata, or before (signed over the
    // payload, which names the capability: checked below either way).
    let item = if mesh_dare::catalog::entry_signed_by(envelope, ACCESS, admin) {
        mesh_schema::MeshItem::from_bytes(&envelope.payload).map_err(|e| e.to_string())?
    } else {
        signed::verify_signed_by(envelope, admin, "access entry", &KeyRing::new())
            .map_err(|e| e.to_string())?
            .into_inner()
    };
    let access: CatalogedAccess = expect_item!(item, CatalogedAccess).map_err(|e| e.to_string())?;
    let Some(CryptographicCapability::CapabilityDecryptServiced(capability)) = access.capability
    else {
        return Err(format!(
            "the access entry {id} grants no serviced decryption"
        ));
    };
    if capability.id.as_deref() != Some(id) {
        return Err(format!("the access entry {id} is for another capability"));
    }
    if capability.subject_id.as_deref() != Some(grantee.udf) {
        return Err(format!("the capability {id} was granted to another device"));
    }
    if let Some(address) = grantee.address {
        if !capability
            .subject_address
            .as_deref()
            .is_some_and(|a| a.eq_ignore_ascii_case(address))
        {
            return Err(format!(
                "the capability {id} was granted to another account"
            ));
        }
        if capability.authentication_id.as_deref() != grantee.authentication {
            return Err(format!(
                "the capability {id} was granted under another administrator key of {address}"
            ));
        }
    } else if capability.authentication_id.is_some() {
        return Err(format!(
            "the capability {id} was granted to a member of the group, not to a device"
        ));
    }
    Ok(capability)
}

/// The service's share of a capability, decrypted with the service's keys and checked to be a
/// share of the key the capability names (the algorithm, at least: a share has no public key
/// to compare).
fn share_of(capability: &CapabilityDecryptServiced, keys: &KeyRing) -> Result<PrivateKey, String> {
    let key = required(&capability.key_data, "KeyData").map_err(|e| e.to_string())?;
    let envelope = capability
        .enveloped_key_shares
        .first()
        .ok_or("the capability holds no key share")?;
    let bytes = envelope
        .plaintext(keys)
        .map_err(|e| format!("the key share is not for this service: {e}"))?;
    PrivateKey::from_bytes(key.algorithm(), &bytes).map_err(|e| e.to_string())
}

/// Shares already checked and decrypted, so that a device reading many entries does not cost
/// the service a signature check and a decryption each time: by (account, capability id,
/// administrator key), with the digest of the entry they came from (a changed entry is checked
/// again) and the device they were granted to. Kept in memory only.
#[derive(Default)]
pub struct ShareCache {
    shares: std::sync::Mutex<HashMap<CacheKey, CachedShare>>,
}

/// (account, capability id, administrator key UDF).
type CacheKey = (String, String, String);
/// (digest of the entry's payload, the device it was granted to, the share).
type CachedShare = ([u8; 64], String, PrivateKey);

/// Entries the cache holds before it starts afresh.
const CACHE_MAX: usize = 10_000;

impl ShareCache {
    fn share(
        &self,
        entries: &HashMap<String, DareEnvelope>,
        keys: &KeyRing,
        address: &str,
        id: &str,
        admin: &PublicKey,
        grantee: &Grantee<'_>,
    ) -> Result<PrivateKey, String> {
        let device_udf = grantee.udf;
        // A member's grant is checked every time (a group's catalog is small): the cache keeps
        // devices' only.
        if grantee.address.is_some() {
            let envelope = entry(entries, id)?;
            return share_of(&capability(envelope, id, admin, grantee)?, keys);
        }
        let envelope = entry(entries, id)?;
        let digest = mesh_dare::envelope::sha512(&envelope.payload);
        let key = (address.to_string(), id.to_string(), admin.udf());
        if let Some((d, subject, share)) = self.shares.lock().expect("cache").get(&key) {
            if *d == digest {
                if subject != device_udf {
                    return Err(format!("the capability {id} was granted to another device"));
                }
                return Ok(share.clone());
            }
        }
        let capability = capability(envelope, id, admin, grantee)?;
        let share = share_of(&capability, keys)?;
        let mut shares = self.shares.lock().expect("cache");
        if shares.len() >= CACHE_MAX {
            shares.clear();
        }
        shares.insert(key, (digest, device_udf.to_string(), share.clone()));
        Ok(share)
    }
}

/// Who a capability must have been granted to: a device of the account (its UDF), or a member
/// of a group (the UDF of its account profile, and its address).
pub struct Grantee<'a> {
    pub udf: &'a str,
    pub address: Option<&'a str>,
    /// A member's administrator key (the capability must name it: one granted under an
    /// earlier key of the member's does not stand).
    pub authentication: Option<&'a str>,
}

/// Answer an Operate request from the device `device_udf` of the account `address`, whose
/// administrator key is `admin`. Each operation has its own result; an operation the device is
/// not entitled to gets an `Error`, never a contribution.
pub fn operate(
    store: &dyn Store,
    cache: &ShareCache,
    keys: &KeyRing,
    address: &str,
    admin: &PublicKey,
    device_udf: &str,
    request: &OperateRequest,
) -> StoreResult<Response> {
    let grantee = Grantee {
        udf: device_udf,
        address: None,
        authentication: None,
    };
    operate_for(store, cache, keys, address, admin, grantee, request)
}

/// As [`operate`], for whoever `grantee` is.
pub fn operate_for(
    store: &dyn Store,
    cache: &ShareCache,
    keys: &KeyRing,
    address: &str,
    admin: &PublicKey,
    grantee: Grantee<'_>,
    request: &OperateRequest,
) -> StoreResult<Response> {
    if request.operations.len() > MAX_OPERATIONS {
        return Ok(Response::error(
            413,
            format!(
                "{} operations in one request; the limit is {MAX_OPERATIONS}",
                request.operations.len()
            ),
        ));
    }
    let entries = access_entries(store, address)?;
    let mut shares: HashMap<String, Result<PrivateKey, String>> = HashMap::new();
    let results = request
        .operations
        .iter()
        .map(|operation| {
            let CryptographicOperation::CryptographicOperationKeyAgreement(op) = operation else {
                return CryptographicResult::CryptographicResultError(CryptographicResultError {
                    error: Some(format!(
                        "{} is not performed by this service (key agreement only)",
                        operation.name()
                    )),
                });
            };
            let outcome = (|| {
                let id = op.key_id.as_deref().ok_or("the operation names no KeyId")?;
                let share = shares
                    .entry(id.to_string())
                    .or_insert_with(|| cache.share(&entries, keys, address, id, admin, &grantee))
                    .clone()?;
                let peer = op
                    .public_key
                    .as_ref()
                    .ok_or("the operation has no PublicKey")?
                    .public_key()
                    .map_err(|e| e.to_string())?;
                let point = share.agree_partial(&peer).map_err(|e| e.to_string())?;
                PublicKey::new(peer.algorithm(), point).map_err(|e| e.to_string())
            })();
            let result = match outcome {
                Ok(point) => CryptographicResultKeyAgreement {
                    key_agreement: Some(AgreementResult::from_point(&point)),
                    ..Default::default()
                },
                Err(error) => {
                    tracing::info!("Operate for {address}: refused: {error}");
                    CryptographicResultKeyAgreement {
                        error: Some(error),
                        ..Default::default()
                    }
                }
            };
            CryptographicResult::CryptographicResultKeyAgreement(result)
        })
        .collect();
    Ok(Response::OperateResponse(OperateResponse {
        status: Some(200),
        results,
        ..Default::default()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesh_crypto::Algorithm;
    use mesh_dare::EnvelopeOptions;
    use mesh_schema::MeshItem;

    struct Setup {
        admin: PrivateKey,
        service: KeyRing,
        account_key: PrivateKey,
        device_share: PrivateKey,
        entry: CatalogedAccess,
    }

    fn setup() -> Setup {
        let admin = PrivateKey::generate(Algorithm::Ed448);
        let service_key = PrivateKey::generate(Algorithm::X448);
        let account_key = PrivateKey::generate(Algorithm::X448);
        let (device_share, service_share) = account_key.split().unwrap();
        let enveloped = DareEnvelope::encode(
            &service_share.to_bytes(),
            &EnvelopeOptions {
                recipients: vec![&service_key.public_key()],
                ..Default::default()
            },
        )
        .unwrap();
        let entry = CatalogedAccess {
            key: Some("NCAP".into()),
            capability: Some(CryptographicCapability::CapabilityDecryptServiced(
                CapabilityDecryptServiced {
                    id: Some("NCAP".into()),
                    key_data: Some(mesh_schema::KeyData::from_public(&account_key.public_key())),
                    enveloped_key_shares: vec![enveloped],
                    subject_id: Some("MDEV".into()),
                    ..Default::default()
                },
            )),
            ..Default::default()
        };
        let mut service = KeyRing::new();
        service.add_private(service_key);
        Setup {
            admin,
            service,
            account_key,
            device_share,
            entry,
        }
    }

    /// The capability `id` as Operate finds it: looked up, then checked.
    fn found(
        entries: &HashMap<String, DareEnvelope>,
        id: &str,
        admin: &PublicKey,
        device_udf: &str,
    ) -> Result<CapabilityDecryptServiced, String> {
        entry(entries, id).and_then(|e| capability(e, id, admin, &device(device_udf)))
    }

    /// A device of the account, as Operate's caller.
    fn device(udf: &str) -> Grantee<'_> {
        Grantee {
            udf,
            address: None,
            authentication: None,
        }
    }

    fn entries(entry: &CatalogedAccess, signer: &PrivateKey) -> HashMap<String, DareEnvelope> {
        let envelope =
            signed::seal(&MeshItem::from(entry.clone()), signer, Some("NCAP"), &[]).unwrap();
        HashMap::from([("NCAP".to_string(), envelope)])
    }

    #[test]
    fn the_two_contributions_make_the_agreement() {
        let s = setup();
        let admin = s.admin.public_key();
        let capability = found(&entries(&s.entry, &s.admin), "NCAP", &admin, "MDEV").unwrap();
        let share = share_of(&capability, &s.service).unwrap();
        let ephemeral = PrivateKey::generate(Algorithm::X448);
        let epk = ephemeral.public_key();
        let theirs = share.agree_partial(&epk).unwrap();
        let mine = s.device_share.agree_partial(&epk).unwrap();
        assert_eq!(
            mesh_crypto::combine_contributions(Algorithm::X448, &[&mine, &theirs]).unwrap(),
            ephemeral.agree(&s.account_key.public_key()).unwrap()
        );
        // Neither contribution alone is the agreement.
        assert_ne!(
            theirs[..56],
            ephemeral.agree(&s.account_key.public_key()).unwrap()[..]
        );
    }

    #[test]
    fn cached_shares_follow_their_entries() {
        let s = setup();
        let admin = s.admin.public_key();
        let cache = ShareCache::default();
        let entries_b = entries(&s.entry, &s.admin);
        let first = cache
            .share(
                &entries_b,
                &s.service,
                "a@x.example",
                "NCAP",
                &admin,
                &device("MDEV"),
            )
            .unwrap();
        // From the cache now (a ring without the service key could not decrypt it again).
        let again = cache
            .share(
                &entries_b,
                &KeyRing::new(),
                "a@x.example",
                "NCAP",
                &admin,
                &device("MDEV"),
            )
            .unwrap();
        assert_eq!(again.to_bytes(), first.to_bytes());
        // The cache keeps the entitlement: another device is refused.
        let e = cache
            .share(
                &entries_b,
                &KeyRing::new(),
                "a@x.example",
                "NCAP",
                &admin,
                &device("MOTHER"),
            )
            .unwrap_err();
        assert!(e.contains("another device"), "{e}");
        // A changed entry (granted to another device now) is checked afresh.
        let mut moved = s.entry.clone();
        if let Some(CryptographicCapability::CapabilityDecryptServiced(c)) = &mut moved.capability {
            c.subject_id = Some("MOTHER".into());
        }
        let entries_moved = entries(&moved, &s.admin);
        assert!(cache
            .share(
                &entries_moved,
                &s.service,
                "a@x.example",
                "NCAP",
                &admin,
                &device("MDEV")
            )
            .is_err());
        assert!(cache
            .share(
                &entries_moved,
                &s.service,
                "a@x.example",
                "NCAP",
                &admin,
                &device("MOTHER")
            )
            .is_ok());
        // And a removed entry is no capability, cached or not.
        assert!(cache
            .share(
                &HashMap::new(),
                &s.service,
                "a@x.example",
                "NCAP",
                &admin,
                &device("MOTHER")
            )
            .is_err());
    }

    #[test]
    fn only_the_administrator_changes_the_access_catalog() {
        let s = setup();
        let admin = s.admin.public_key();
        let payload = MeshItem::from(s.entry.clone()).to_json().unwrap();
        let entry = |id: &str, event: &str, payload: &[u8], signer: &PrivateKey| {
            let mut env = DareEnvelope::encode(
                payload,
                &mesh_dare::EnvelopeOptions {
                    meta: Some(mesh_dare::ContentMeta {
                        unique_id: Some(id.into()),
                        event: Some(event.into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            )
            .unwrap();
            let digest = mesh_dare::catalog::entry_digest(&env, ACCESS);
            env.sign_over(signer, &digest).unwrap();
            env
        };
        let (new, delete) = (
            mesh_dare::catalog::EVENT_NEW,
            mesh_dare::catalog::EVENT_DELETE,
        );
        let good = entry("NCAP", new, payload.as_bytes(), &s.admin);
        check_access_entry(&good, ACCESS, &admin).unwrap();
        check_access_entry(&entry("NCAP", delete, b"", &s.admin), ACCESS, &admin).unwrap();
        // Signed by someone else.
        let forger = PrivateKey::generate(Algorithm::Ed448);
        let forged = entry("NCAP", new, payload.as_bytes(), &forger);
        assert!(check_access_entry(&forged, ACCESS, &admin).is_err());
        // The administrator's entry re-labelled: another UniqueId, or a deletion. The signature
        // covers the metadata, so both fail.
        for (id, event) in [("NOTHER", new), ("NCAP", delete)] {
            let mut moved = good.clone();
            moved
                .header
                .set_content_meta(&mesh_dare::ContentMeta {
                    unique_id: Some(id.into()),
                    event: Some(event.into()),
                    ..Default::default()
                })
                .unwrap();
            assert!(
                check_access_entry(&moved, ACCESS, &admin).is_err(),
                "{id} {event}"
            );
        }
        // Signed over its payload only (as before entries bound their metadata).
        let legacy = signed::seal(
            &MeshItem::from(s.entry.clone()),
            &s.admin,
            Some("NCAP"),
            &[],
        );
        assert!(check_access_entry(&legacy.unwrap(), ACCESS, &admin).is_err());
        // The administrator's capability under another UniqueId, signed as such.
        let elsewhere = entry("NOTHER", new, payload.as_bytes(), &s.admin);
        let e = check_access_entry(&elsewhere, ACCESS, &admin).unwrap_err();
        assert!(e.contains("another entry"), "{e}");
        // Not signed at all (a bare deletion marker).
        let mut bare = DareEnvelope::default();
        bare.header
            .set_content_meta(&mesh_dare::ContentMeta {
                unique_id: Some("NCAP".into()),
                event: Some(delete.into()),
                ..Default::default()
            })
            .unwrap();
        assert!(check_access_entry(&bare, ACCESS, &admin).is_err());
    }

    #[test]
    fn entitlement_is_checked() {
        let s = setup();
        let admin = s.admin.public_key();
        // Another device may not use the capability.
        let e = found(&entries(&s.entry, &s.admin), "NCAP", &admin, "MOTHER").unwrap_err();
        assert!(e.contains("another device"), "{e}");
        // An entry not signed by the administrator key is no capability.
        let forger = PrivateKey::generate(Algorithm::Ed448);
        assert!(found(&entries(&s.entry, &forger), "NCAP", &admin, "MDEV").is_err());
        // Unknown ids, and entries whose payload names another capability.
        let e = found(&entries(&s.entry, &s.admin), "NOPE", &admin, "MDEV").unwrap_err();
        assert!(e.contains("no capability"), "{e}");
        let mut other = s.entry.clone();
        if let Some(CryptographicCapability::CapabilityDecryptServiced(c)) = &mut other.capability {
            c.id = Some("NELSE".into());
        }
        let e = found(&entries(&other, &s.admin), "NCAP", &admin, "MDEV").unwrap_err();
        assert!(e.contains("another capability"), "{e}");
        // A share encrypted to another service is of no use here.
        let capability = found(&entries(&s.entry, &s.admin), "NCAP", &admin, "MDEV").unwrap();
        let mut elsewhere = KeyRing::new();
        elsewhere.add_private(PrivateKey::generate(Algorithm::X448));
        assert!(share_of(&capability, &elsewhere).is_err());
    }

    /// A member's grant stands only for the member it names — its profile, its address, and the
    /// administrator key it was granted under — and never from the cache of devices' grants.
    #[test]
    fn a_members_grant_stands_for_that_member_only() {
        let mut s = setup();
        if let Some(CryptographicCapability::CapabilityDecryptServiced(c)) =
            s.entry.capability.as_mut()
        {
            c.subject_id = Some("MBOB".into());
            c.subject_address = Some("bob@example.net".into());
            c.authentication_id = Some("MADMIN1".into());
        }
        let admin = s.admin.public_key();
        let entries = entries(&s.entry, &s.admin);
        let cache = ShareCache::default();
        let as_member = |udf, address, authentication| Grantee {
            udf,
            address: Some(address),
            authentication: Some(authentication),
        };
        let share = |grantee: &Grantee<'_>| {
            cache.share(
                &entries,
                &s.service,
                "g@example.com",
                "NCAP",
                &admin,
                grantee,
            )
        };
        assert!(share(&as_member("MBOB", "bob@example.net", "MADMIN1")).is_ok());
        for (grantee, why) in [
            (
                as_member("MBOB", "bob@example.net", "MADMIN0"),
                "administrator key",
            ),
            (
                as_member("MBOB", "mallory@example.net", "MADMIN1"),
                "another account",
            ),
            (
                as_member("MMAL", "bob@example.net", "MADMIN1"),
                "another device",
            ),
            (device("MBOB"), "not to a device"),
        ] {
            let refused = share(&grantee).unwrap_err();
            assert!(refused.contains(why), "{why}: {refused}");
        }
    }
}
