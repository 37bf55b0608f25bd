//! Changing a device's rights after it joined (`mesh device auth UDF --rights …`; the
//! reference's `device auth`): the administrator gives the device a new connection granting
//! the new rights, and the service refuses the old one from then on.
//!
//! A device's rights are the `Roles` of its ConnectionDevice, which the administrator signs
//! ([`mesh_schema::rights`]); a signed connection cannot be taken back, only refused. So a
//! change is a reconnection, made after a sync:
//!
//! 1. new records for the same device profile (a new activation, so a new connection key),
//!    with the key material the new rights need — a new share of the account key (its other
//!    share pushed to the service first) or the key itself;
//! 2. one Transact, signed by the administrator key, all applied or none: a Revocation naming
//!    the old connection's Signature key; the new CatalogedDevice sealed for the device, left in
//!    the local spool under [`reconnection_id`] (old connection); the device's entry in the
//!    device catalog replaced; the old connection's shares of the current account key deleted
//!    from the access catalog (so the service no longer answers for them; shares of earlier
//!    keys stay, for what was written before a rotation) and the old connection's removal
//!    recorded there.
//!
//! The device, refused with its old connection, collects the record with Complete
//! ([`follow`], run by `account sync` as after a key rotation), checks it is the
//! administrator's and for itself, and takes the new connection and grant. Taking a right away
//! stops what the service does for the device; a device that held the `web` right has held the
//! account's key, which only a key rotation takes back.

use mesh_dare::{DareEnvelope, KeyRing};
use mesh_schema::catalog::{reconnection_id, CatalogedDevice};
use mesh_schema::key::required;
use mesh_schema::rights::Rights;
use mesh_schema::{expect_item, signed, MeshItem};

use crate::catalogs::CatalogKind;
use crate::context::{record_rights, Account, Device};
use crate::online::{self, Session};
use crate::{ClientError, Result};

/// What a change of rights did.
#[derive(Debug, Clone)]
pub struct RightsChanged {
    pub before: Rights,
    pub after: Rights,
    /// The device held the account's key (the `web` right) and no longer has the right: it
    /// still holds what it was given, until the account's keys are rotated.
    pub kept_key: bool,
}

/// The UDF of the Signature key of a device record's connection (as the record names it, or
/// read from the connection itself).
fn connection_udf(record: &CatalogedDevice) -> Result<String> {
    if let Some(udf) = &record.signature_udf {
        return Ok(udf.clone());
    }
    let connection = record
        .enveloped_connection_device
        .as_ref()
        .ok_or_else(|| ClientError::Invalid("the device record has no connection".into()))?;
    let connection = expect_item!(signed::read(connection, &KeyRing::new())?, ConnectionDevice)?;
    let key: mesh_crypto::PublicKey = required(&connection.signature, "Signature")?;
    Ok(key.udf())
}

/// Records followed at most in one go (a service that kept serving records would otherwise
/// hold the device for ever).
const MOST_FOLLOWED: usize = 16;

/// Administrator: give the device `device_udf` of `account` a new connection granting
/// `rights`, and have the service refuse its old one.
pub fn change_rights(
    device: &Device,
    account: &Account,
    device_udf: &str,
    rights: Rights,
) -> Result<RightsChanged> {
    let admin = account.administrator_key()?;
    let mut session = Session::open(device, account)?;
    // Made against the service's catalogs as they are (another administrator device may have
    // changed them): what follows goes in one Transact that states their state.
    session.sync(&mut |_, _, _| {})?;
    let Some(MeshItem::CatalogedDevice(old)) = account.get(CatalogKind::Device, device_udf)? else {
        return Err(ClientError::Invalid(format!(
            "no device {device_udf} in {}",
            account.address
        )));
    };
    if old.enveloped_activation_account.is_none() {
        return Err(ClientError::Invalid(format!(
            "{device_udf} is an administrator device: it holds the account's keys, whatever its \
             rights say"
        )));
    }
    let before = record_rights(&old);
    if before == rights {
        return Err(ClientError::Invalid(format!(
            "{device_udf} has these rights already"
        )));
    }
    let profile_envelope = old
        .enveloped_profile_device
        .clone()
        .ok_or_else(|| ClientError::Invalid("the device record has no device profile".into()))?;
    let (profile, _) = signed::verify_profile_device(&profile_envelope)?;
    let old_connection = connection_udf(&old)?;
    // The shares of the current key the old connection was given, found before the new one is
    // granted its own (shares of earlier keys stay: the device reads what was written before).
    let withdrawn = session.current_grants_of(device_udf)?;
    let new = crate::connect::grant_device(
        &mut session,
        account,
        &profile,
        Some(profile_envelope),
        rights,
    )?;
    let device_key = required(&profile.encryption, "Encryption")?;
    let record = signed::seal(
        &MeshItem::from(new.clone()),
        &admin,
        Some(&reconnection_id(device_udf, &old_connection)),
        &[&device_key],
    )?;
    session.replace_connection(&old_connection, &new, record, &withdrawn, &admin)?;
    Ok(RightsChanged {
        before,
        after: rights,
        kept_key: before.web && !rights.web,
    })
}

/// Device: collect and take the new connection the administrator left for this device's
/// current one, if any (and then for that one, and so on); how many were taken.
pub fn follow(device: &mut Device, address: &str) -> Result<usize> {
    let mut taken = 0;
    while taken < MOST_FOLLOWED {
        let account = device.account(Some(address))?;
        let Some(own) = account.own_device_record()? else {
            return Ok(taken);
        };
        let id = reconnection_id(device.udf(), &connection_udf(&own)?);
        let Some(envelope) = online::collect_record(&account, id.clone())? else {
            return Ok(taken);
        };
        take(device, &account, &envelope, &id)?;
        taken += 1;
    }
    Ok(taken)
}

/// Check a reconnection record left for this device — sealed to it, signed by the account's
/// administrator key, for this device — and take its connection and grant.
fn take(device: &mut Device, account: &Account, envelope: &DareEnvelope, id: &str) -> Result<()> {
    // The record asked for, not another of this device's the service chose to serve (an older
    // one would give back rights since taken away).
    if envelope.content_meta()?.unique_id.as_deref() != Some(id) {
        return Err(ClientError::Invalid(
            "the service answered with another record than the one asked for".into(),
        ));
    }
    let mut ring = KeyRing::new();
    ring.add_private(device.base_key("Encryption")?);
    let admin = required(
        &account.profile.administrator_signature,
        "AdministratorSignature",
    )?;
    let record = expect_item!(
        signed::verify_signed_by(envelope, &admin, "new device connection", &ring)?.into_inner(),
        CatalogedDevice
    )?;
    let (_, grant) = crate::connect::check_records(device, &record, &admin)?;
    device.record_reconnection(&account.address, Some(grant), &record)
}
