//! Key rotation, recovery after a compromise, and devices following a rotation
//! ([`crate::authority`] says who holds what).
//!
//! A rotation, made with the account's root (held, or rebuilt from a quorum of escrow shares):
//!
//! 1. the next generation of administration keys, from the seed the root derives for it
//!    ([`authority::next_generation`]); the account profile re-issued with them, signed by the
//!    root, `Updated` later;
//! 2. every device that stays gets new records under the new administrator key: a new
//!    connection and activation, and either a share of the new account encryption key (its old
//!    capabilities stay, so it still reads what was written before) or, for an administrator
//!    device, an ActivationCommon with the new generation's seed and the earlier encryption
//!    keys; every remaining access entry is signed again by the new administrator key;
//! 3. the devices named are removed in the same step: their catalog entries and capabilities
//!    deleted, their removal recorded (access-catalog entry and Revocation);
//! 4. one Transact carries it all with the new profile, signed by the root, the new
//!    administrator key and this device's new connection; the service swaps profile and
//!    catalogs together, and from then on takes only connections the new key signed;
//! 5. for each other device that stays, a record in the local spool under
//!    [`rotation_id`]`(device, old administrator key)`, which the device collects with Complete
//!    ([`follow`]) and checks: a profile signed by the root and later than its own, records
//!    signed by that profile's administrator key.
//!
//! Entries written before stay encrypted to the earlier keys; those who stay hold those keys
//! (or shares of them), and a removed device can no longer reach the service to use its own.

use mesh_crypto::{PrivateKey, PublicKey, SecretSeed};
use mesh_dare::catalog::{Catalog, EVENT_NEW, EVENT_UPDATE};
use mesh_dare::{ContentMeta, DareEnvelope, KeyRing};
use mesh_protocol::messages::*;
use mesh_protocol::{Request, Response};
use mesh_schema::assertion::ActivationDevice;
use mesh_schema::catalog::{
    rotation_id, CatalogedAccess, CatalogedDevice, CryptographicCapability, REVOKED_LABEL,
    REVOKED_PREFIX,
};
use mesh_schema::key::required;
use mesh_schema::profile::{ProfileDevice, ProfileUser};
use mesh_schema::rights::Rights;
use mesh_schema::{expect_item, signed, MeshItem};

use crate::authority::{self, AdminKeys};
use crate::catalogs::CatalogKind;
use crate::context::{Account, Device};
use crate::online::{self, ServiceBinding, Session};
use crate::{ClientError, Result};

/// Which devices a rotation removes.
#[derive(Debug, Clone, Default)]
pub struct Removal {
    /// By UDF.
    pub devices: Vec<String>,
    /// Every device but the one making the rotation.
    pub all_others: bool,
}

/// What a rotation did.
#[derive(Debug, Clone)]
pub struct RotationReport {
    /// The new administrator key's UDF.
    pub administrator: String,
    /// The devices given new records.
    pub kept: Vec<String>,
    /// Those of them kept as administrator devices (given the new administration keys): after
    /// a compromise, each must be one the user knows.
    pub administrators: Vec<String>,
    /// The devices removed.
    pub removed: Vec<String>,
    /// The rotation was made, but what follows it (the other devices' new records) could not
    /// all be uploaded: why. The next `mesh account sync` uploads the rest.
    pub unfinished: Option<String>,
    /// Changes of the device and access catalogs the administrator key did not sign (a service
    /// adding, deleting or replaying entries on its own), left out of the rotation.
    pub unsigned: usize,
}

/// The account's root from escrow shares, checked to be `account_udf`'s.
pub fn root_from_shares(
    shares: &[String],
    address: &str,
    account_udf: Option<&str>,
) -> Result<SecretSeed> {
    let shares = shares
        .iter()
        .map(|s| {
            mesh_udf::ShareUdf::parse(s)
                .map_err(|e| ClientError::Invalid(format!("share '{s}': {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let body = mesh_crypto::shamir::recover(&shares)?;
    let wrong = || {
        ClientError::Invalid(
            "these shares do not recover this account's root (are they all from one escrow of \
             this account?)"
                .into(),
        )
    };
    let root = SecretSeed::from_udf(mesh_udf::Udf::new(mesh_udf::UdfType::SecretSeed, body))
        .map_err(|_| wrong())?;
    let udf = ProfileUser::from_seed(&root, address, None)
        .and_then(|p| p.check())
        .map_err(|_| wrong())?;
    if account_udf.is_some_and(|a| a != udf) {
        return Err(wrong());
    }
    Ok(root)
}

/// The records that make `profile` an administrator device of the account as `view` has it
/// (after a rotation): connection and activation signed by the administrator key, and the
/// ActivationCommon that hands over the generation `seed`, all secrets encrypted to the device.
fn administrator_record(
    view: &Account,
    profile: &ProfileDevice,
    profile_envelope: Option<DareEnvelope>,
    seed: &SecretSeed,
) -> Result<CatalogedDevice> {
    let (mut record, device_key) =
        crate::connect::connected_record(view, profile, profile_envelope, Rights::ALL)?;
    let id_key = view
        .id_key()
        .ok_or_else(|| ClientError::NotAdministrator(view.address.clone()))?;
    let keys = view.encryption_private_keys();
    let common = authority::activation_common(seed, &keys[1..], &id_key)?;
    record.enveloped_activation_common = Some(signed::seal(
        &common.into(),
        &view.administrator_key()?,
        None,
        &[&device_key],
    )?);
    Ok(record)
}

/// An entry of an administered catalog signed by `admin`, appended to the local `catalog`:
/// `item` under `unique_id` (or its removal when `item` is None). `created` makes an entry
/// signed again with the same content a new entry (the service takes each change once).
fn put_signed(
    catalog: &mut Catalog,
    name: &str,
    unique_id: &str,
    item: Option<&MeshItem>,
    admin: &PrivateKey,
    created: Option<&str>,
) -> Result<()> {
    let (event, payload, message_type) = match item {
        Some(item) => (
            if catalog.contains(unique_id) {
                EVENT_UPDATE
            } else {
                EVENT_NEW
            },
            item.to_json()?.into_bytes(),
            Some(item.type_name().to_string()),
        ),
        None => (mesh_dare::catalog::EVENT_DELETE, Vec::new(), None),
    };
    let meta = ContentMeta {
        unique_id: Some(unique_id.to_string()),
        event: Some(event.into()),
        message_type,
        created: created.map(str::to_string),
        ..Default::default()
    };
    let env = catalog.authorized_entry(name, &payload, meta, admin)?;
    catalog.apply_envelope(env)?;
    Ok(())
}

/// Rotate the keys of `account` (its local replica synced with the service just before) with
/// its `root`, removing the devices `removal` names. `device` is this device, which stays (as an
/// administrator device) whatever `removal` says.
pub fn rotate(
    device: &mut Device,
    account: &Account,
    binding: ServiceBinding,
    root: &SecretSeed,
    removal: &Removal,
) -> Result<RotationReport> {
    let root_key = authority::root_key(root)?;
    if root_key.public_key().udf() != account.udf {
        return Err(ClientError::Invalid(
            "this root is not the account's (its ProfileSignature key is another)".into(),
        ));
    }
    let (_, current) = AdminKeys::from_root(root, &account.profile)?;
    let old_admin = current.administrator.public_key().udf();
    let next = authority::next_generation(root, &old_admin);
    let mut keys = AdminKeys::from_seed(&next)?;
    keys.earlier = current.encryption_keys().cloned().collect();
    let profile = account.profile.rotated(&next)?;
    let profile_env = signed::seal(&profile.clone().into(), &root_key, Some(&account.udf), &[])?;
    let view = account.rotated_view(profile.clone(), profile_env.clone(), keys.clone())?;
    let admin = keys.administrator.clone();
    let created = profile.updated.clone();

    // Which devices stay: of those the administrator key put in the device catalog, never an
    // entry the service added, deleted or replayed on its own (it would be given the new keys).
    // A device the access catalog records as removed stays removed, whatever the device
    // catalog shows.
    let (current, unsigned_access) = account.signed_entries(CatalogKind::Access)?;
    let revoked: std::collections::HashSet<&str> = current
        .iter()
        .filter_map(|(key, _)| key.strip_prefix(REVOKED_PREFIX))
        .collect();
    let (signed_devices, unsigned_devices) = account.signed_entries(CatalogKind::Device)?;
    let devices: Vec<(String, CatalogedDevice)> = signed_devices
        .into_iter()
        .filter(|(key, _)| !revoked.contains(key.as_str()))
        .map(|(key, item)| Ok((key, expect_item!(item, CatalogedDevice)?)))
        .collect::<Result<_>>()?;
    for udf in &removal.devices {
        if udf == device.udf() {
            return Err(ClientError::Invalid(
                "this device cannot remove itself: run the rotation on another device".into(),
            ));
        }
        if !devices.iter().any(|(k, _)| k == udf) {
            return Err(ClientError::Invalid(format!(
                "no device {udf} in {}'s device catalog",
                account.address
            )));
        }
    }
    let removed: Vec<String> = devices
        .iter()
        .map(|(k, _)| k.clone())
        .filter(|k| {
            k != device.udf() && (removal.all_others || removal.devices.iter().any(|r| r == k))
        })
        .collect();
    let (_, service_encryption) = binding.keys()?;

    // New records for every device that stays, this one included.
    let mut records = Vec::new();
    let mut administrators = Vec::new();
    let mut grants = Vec::new();
    for (udf, record) in &devices {
        if removed.contains(udf) || udf == device.udf() {
            continue;
        }
        let envelope = record.enveloped_profile_device.clone().ok_or_else(|| {
            ClientError::Invalid(format!("the device record of {udf} has no device profile"))
        })?;
        let (profile, profile_udf) = signed::verify_profile_device(&envelope)?;
        // The entry must be the device it is filed under: an entry that names one device and
        // holds another's profile would hand that other device the first one's place.
        if profile_udf != *udf || record.device_udf.as_deref() != Some(udf.as_str()) {
            return Err(ClientError::Invalid(format!(
                "the device entry {udf} holds the profile of another device ({profile_udf}); \
                 remove it (--remove {udf}) to rotate"
            )));
        }
        if record.enveloped_activation_account.is_some() {
            // The same rights as before: a web device gets the new key, a threshold device a
            // share of it.
            let (cataloged, access) = crate::connect::device_records(
                &view,
                &profile,
                Some(envelope),
                &service_encryption,
                crate::context::record_rights(record),
            )?;
            records.push(cataloged);
            grants.extend(access);
        } else {
            administrators.push(udf.clone());
            records.push(administrator_record(
                &view,
                &profile,
                Some(envelope),
                &next,
            )?);
        }
    }
    let own = administrator_record(
        &view,
        device.profile(),
        Some(device.profile_envelope()?),
        &next,
    )?;

    // Everything is written to the local replicas first, in the order it is uploaded: the
    // rotation itself (this device's record, the removals) as one transaction with the new
    // profile; the rest (the other devices' records, the access entries signed again, the
    // records the other devices collect) by the sync that follows, in transactions of the size
    // the service takes. A sync resumes it if it is cut short.
    let device_name = CatalogKind::Device.name();
    let access_name = CatalogKind::Access.name();
    let local_name = online::SPOOLS[1];
    let mut session = Session::with_credentials(
        &view,
        binding,
        online::device_credentials_from(device, &own)?,
    )?;
    let base = |name: &str| session.binding().synced.get(name).copied().unwrap_or(0);
    let bases = [
        (device_name, base(device_name)),
        (access_name, base(access_name)),
        (local_name, base(local_name)),
    ];
    let undo = |session: &Session| {
        for (name, at) in bases {
            let _ = session.truncate_local(name, at);
        }
    };
    let mut firsts = Vec::new();
    let mut unsigned = unsigned_devices;
    let written = (|| -> Result<()> {
        let mut catalog = view.open_catalog(CatalogKind::Device)?;
        let id = |udf: &str| view.entry_id(CatalogKind::Device, udf);
        for udf in &removed {
            put_signed(&mut catalog, device_name, &id(udf)?, None, &admin, None)?;
        }
        let put_record = |catalog: &mut Catalog, record: &CatalogedDevice| {
            put_signed(
                catalog,
                device_name,
                &id(record.udf.as_deref().unwrap_or_default())?,
                Some(&MeshItem::from(record.clone())),
                &admin,
                None,
            )
        };
        put_record(&mut catalog, &own)?;
        firsts.push(catalog.container().frame_count() - 1);
        for record in &records {
            put_record(&mut catalog, record)?;
        }
        let mut catalog = view.open_catalog(CatalogKind::Access)?;
        // Signed again below: only what the administrator key signed, and only access entries
        // (never an entry of another catalog put here, which would be written out in clear).
        unsigned += unsigned_access;
        let mut deleted_now = std::collections::HashSet::new();
        for (key, item) in &current {
            let of_removed = match item {
                MeshItem::CatalogedAccess(a) => matches!(
                    &a.capability,
                    Some(CryptographicCapability::CapabilityDecryptServiced(c))
                        if c.subject_id.as_ref().is_some_and(|s| removed.contains(s))
                ),
                _ => false,
            };
            if of_removed {
                put_signed(&mut catalog, access_name, key, None, &admin, None)?;
                deleted_now.insert(key.clone());
            }
        }
        for udf in &removed {
            let key = format!("{REVOKED_PREFIX}{udf}");
            let marker = CatalogedAccess {
                key: Some(key.clone()),
                labels: vec![REVOKED_LABEL.into()],
                ..Default::default()
            };
            put_signed(
                &mut catalog,
                access_name,
                &key,
                Some(&MeshItem::from(marker)),
                &admin,
                created.as_deref(),
            )?;
        }
        firsts.push(catalog.container().frame_count() - 1);
        // Every entry that stays, signed again by the new administrator key: the service checks
        // capabilities and removals against it from now on.
        // (Whatever the plain catalog shows: a deletion the service made on its own does not
        // take an entry out of the rotation.)
        for (key, item) in &current {
            if !deleted_now.contains(key) {
                put_signed(
                    &mut catalog,
                    access_name,
                    key,
                    Some(item),
                    &admin,
                    created.as_deref(),
                )?;
            }
        }
        for access in &grants {
            let key = access.key.clone().unwrap_or_default();
            put_signed(
                &mut catalog,
                access_name,
                &key,
                Some(&MeshItem::from(access.clone())),
                &admin,
                None,
            )?;
        }
        // What each other device collects (with Complete) to follow.
        let mut spool = online::open_local(&view, local_name)?;
        let mut notes = Vec::new();
        for record in &records {
            let udf = record.udf.clone().unwrap_or_default();
            // Encrypted to the device: the spool is read by anyone who knows the id (Complete),
            // and the record tells who is in the account.
            let device_profile = record
                .enveloped_profile_device
                .as_ref()
                .map(signed::verify_profile_device)
                .transpose()?
                .ok_or_else(|| ClientError::Invalid(format!("no device profile for {udf}")))?
                .0;
            let device_key: PublicKey = required(&device_profile.encryption, "Encryption")?;
            notes.push(signed::seal(
                &MeshItem::from(record.clone()),
                &admin,
                Some(&rotation_id(&udf, &old_admin)),
                &[&device_key],
            )?);
        }
        if !notes.is_empty() {
            spool.append_envelopes(notes)?;
        }
        Ok(())
    })();
    if let Err(e) = written {
        undo(&session);
        return Err(e);
    }

    // The rotation: profile, this device's record and the removals, in one step.
    let result = (|| -> Result<()> {
        let mut updates = Vec::new();
        for ((name, at), last) in bases.iter().zip(&firsts) {
            let local = view.open_catalog(CatalogKind::parse(name)?)?;
            let container = local.container();
            let envelopes = (*at + 1..=*last)
                .map(|i| container.read(i))
                .collect::<mesh_dare::Result<Vec<_>>>()?;
            updates.push(ContainerUpdate {
                container: Some(name.to_string()),
                index: Some(*at),
                digest: container.tree_digest_at(*at).map(|d| d.to_vec()),
                envelopes,
            });
        }
        let revocations = removed
            .iter()
            .map(|udf| online::revocation(&account.address, udf, &admin))
            .collect::<Result<Vec<_>>>()?;
        let request = Request::TransactRequest(TransactRequest {
            account: Some(account.address.clone()),
            enveloped_connection_device: Some(session.connection().clone()),
            updates,
            revocations,
            enveloped_profile_account: Some(profile_env.clone()),
            ..Default::default()
        });
        match session.call_signed_by(request, &[&admin, &root_key])? {
            Response::TransactResponse(t) if t.status == Some(409) => Err(ClientError::Conflict(
                format!("{device_name} or {access_name}"),
            )),
            _ => Ok(()),
        }
    })();
    if let Err(e) = result {
        // An answer lost, or a failure after the service applied it: the service says which
        // profile it holds (asked with the new connection, which it takes only if it does).
        let applied = session
            .held_profile()
            .is_ok_and(|held| held.payload == profile_env.payload);
        if !applied {
            undo(&session);
            return Err(e);
        }
    }
    session.set_synced(device_name, firsts[0])?;
    session.set_synced(access_name, firsts[1])?;
    let id_key = view
        .id_key()
        .ok_or_else(|| ClientError::NotAdministrator(account.address.clone()))?;
    device.record_rotation(
        &account.address,
        &profile_env,
        Some((&keys, &id_key)),
        None,
        Some(&own),
    )?;
    // The rest, as any sync uploads what was written here.
    drop(session);
    let finished = (|| -> Result<()> {
        let account = device.account(Some(&view.address))?;
        Session::open(device, &account)?.sync(&mut |_, _, _| {})?;
        Ok(())
    })();
    Ok(RotationReport {
        administrator: admin.public_key().udf(),
        kept: records.iter().filter_map(|r| r.udf.clone()).collect(),
        administrators,
        removed,
        unfinished: finished.err().map(|e| e.to_string()),
        unsigned,
    })
}

/// Collect and apply the records that rotations made since this device last knew the account's
/// keys (a device that did not make them): returns how many were followed.
pub fn follow(device: &mut Device, address: &str) -> Result<usize> {
    let mut followed = 0;
    loop {
        let account = device.account(Some(address))?;
        let id = rotation_id(device.udf(), &authority::admin_udf(&account.profile)?);
        let Some(envelope) = online::collect_record(&account, id)? else {
            return Ok(followed);
        };
        apply_rotation(device, &account, &envelope)?;
        followed += 1;
    }
}

/// Check a rotation record left for this device and take what it gives.
fn apply_rotation(device: &mut Device, account: &Account, envelope: &DareEnvelope) -> Result<()> {
    let forged = |why: &str| {
        ClientError::Invalid(format!(
            "the key-rotation record for this device does not hold: {why}"
        ))
    };
    let mut ring = KeyRing::new();
    ring.add_private(device.base_key("Encryption")?);
    let record = expect_item!(signed::read(envelope, &ring)?, CatalogedDevice)?;
    let profile_env = record
        .enveloped_profile_user
        .as_ref()
        .ok_or_else(|| forged("no account profile"))?;
    let (profile, udf) = signed::verify_profile_user(profile_env)?;
    if udf != account.udf || !profile.replaces(&account.profile) {
        return Err(forged(
            "its profile is not a later one signed by the account's root",
        ));
    }
    let admin = required(&profile.administrator_signature, "AdministratorSignature")?;
    signed::verify_signed_by(envelope, &admin, "rotation record", &ring)?;
    if record.device_udf.as_deref() != Some(device.udf()) {
        return Err(forged("it is for another device"));
    }
    if let Some(common) = &record.enveloped_activation_common {
        let mut ring = KeyRing::new();
        ring.add_private(device.base_key("Encryption")?);
        let activation = expect_item!(
            signed::verify_signed_by(common, &admin, "administrator activation", &ring)?
                .into_inner(),
            ActivationCommon
        )?;
        let (keys, id_key) = authority::from_activation_common(&activation, &profile)?;
        // The device's credentials must come out of the record too.
        online::device_credentials_from(device, &record)?;
        device.record_rotation(
            &account.address,
            profile_env,
            Some((&keys, &id_key)),
            None,
            Some(&record),
        )
    } else {
        let (_, grant) = crate::connect::check_records(device, &record, &admin)?;
        device.record_rotation(
            &account.address,
            profile_env,
            None,
            Some(grant),
            Some(&record),
        )
    }
}

/// Recover `address` from escrow shares after a compromise: this device authenticates to the
/// account's service with the root the shares give, reads the account, and rotates its keys,
/// removing the devices `removal` names; it is then an administrator device holding the root.
/// Nothing of the attempt is kept if it fails.
pub fn recover(
    device: &mut Device,
    address: &str,
    shares: &[String],
    service: Option<&str>,
    removal: &Removal,
) -> Result<RotationReport> {
    let address = address.to_ascii_lowercase();
    let root = root_from_shares(shares, &address, None)?;
    let info = online::hello(&address, service)?;
    device.add_root_account(&address, &root)?;
    let result = (|| {
        let account = device.account(Some(&address))?;
        let binding = ServiceBinding::from_info(&info);
        // A connection the root signs, for as long as the recovery takes.
        let root_key = authority::root_key(&root)?;
        let (activation, connection) =
            ActivationDevice::create(device.profile(), &account.udf, &address, Rights::ALL)?;
        let device_key: PublicKey = required(&device.profile().encryption, "Encryption")?;
        let record = CatalogedDevice {
            enveloped_connection_device: Some(signed::seal(
                &connection.into(),
                &root_key,
                None,
                &[],
            )?),
            enveloped_activation_device: Some(signed::seal(
                &activation.into(),
                &root_key,
                None,
                &[&device_key],
            )?),
            ..Default::default()
        };
        let credentials = online::device_credentials_from(device, &record)?;
        let held = {
            let session =
                Session::with_credentials(&account, binding.clone(), credentials.clone())?
                    .cosigned_by(root_key.clone());
            session.held_profile()?
        };
        let (profile, udf) = signed::verify_profile_user(&held)?;
        if udf != account.udf {
            return Err(ClientError::Invalid(format!(
                "the service holds another account under {address}"
            )));
        }
        if profile != account.profile {
            device.record_rotation(&address, &held, None, None, None)?;
        }
        let account = device.account(Some(&address))?;
        let mut session =
            Session::with_credentials(&account, binding, credentials)?.cosigned_by(root_key);
        session.save()?;
        session.sync(&mut |_, _, _| {})?;
        let binding = session.binding().clone();
        drop(session);
        rotate(device, &account, binding, &root, removal)
    })();
    if result.is_err() {
        let _ = device.forget_account(&address);
    }
    result
}
