//! Recryption groups (threshold-06 §3–5, protocol-09 §8.4; the reference's
//! `ArchitectureRecrypt`, `ProtocolCreateGroup`, `ProtocolCryptoKeyAgree`).
//!
//! A group is an account of its own (`group create GROUP@DOMAIN`), administered from the device
//! that made it and bound to a service. Anyone who knows its profile encrypts to its account
//! encryption key. Each member is given a share of that key (`group add GROUP MEMBER`): the
//! group's key is split in two (threshold-06 §3.2), the member's half sent to the member in a
//! GroupInvitation (encrypted to the member's account key, inside the group's contact), the
//! other half, encrypted to the group's service, kept in a CapabilityDecryptServiced entry of
//! the group's access catalog naming the member (its address and profile UDF). A member
//! decrypts by asking the group's service for its contribution (Operate on the group's
//! account, authenticated as a device of the member's account: its connection and profile ride
//! with the request) and adding its own. Removing a member (`group delete`) deletes the entry:
//! the service refuses the member from then on, so nothing — what was encrypted before
//! included — is decrypted by them again, without a byte re-encrypted; a member added later
//! reads what was encrypted before. Neither share decrypts alone; the service never holds
//! enough to decrypt.

use mesh_crypto::PublicKey;
use mesh_dare::{DareEnvelope, EnvelopeOptions};
use mesh_schema::catalog::{
    CapabilityDecryptServiced, CatalogedAccess, ContactGroup, CryptographicCapability,
    NetworkAddress,
};
use mesh_schema::key::required;
use mesh_schema::message::GroupInvitation;
use mesh_schema::{signed, MeshItem};

use crate::catalogs::CatalogKind;
use crate::context::{Account, AccountGrant, Device};
use crate::messages::{self, Received, Sender};
use crate::online::{self, Session};
use crate::{ClientError, Result};

/// The NetworkAddress member that says where the group's service is (this implementation's:
/// a member asks it for its contributions).
const SERVICE_URL: &str = "ServiceUrl";

/// A member of a group, as its access catalog grants it.
#[derive(Debug, Clone)]
pub struct Member {
    pub address: String,
    pub profile_udf: String,
    pub capability: String,
}

/// Make the group `group` (an account of this device, its administrator) and bind it to its
/// service (`service`, or the one its domain names).
pub fn create(device: &mut Device, group: &str, service: Option<&str>) -> Result<Account> {
    let info = online::hello(group, service)?;
    let account = device.create_account(group)?;
    Session::bind(device, &account, &info)?;
    Ok(account)
}

/// The account profile of `address` this device may rely on: its own account's, or one kept
/// with the contact in `known` (from a signed exchange).
fn profile_of(device: &Device, known: &Account, address: &str) -> Result<DareEnvelope> {
    if address == known.address {
        return known.profile_envelope();
    }
    if let Ok(own) = device.account(Some(address)) {
        return own.profile_envelope();
    }
    messages::kept_profile_envelope(known, address)?.ok_or_else(|| {
        ClientError::Invalid(format!(
            "no key of {address} is known to {}: exchange contacts first (mesh contact \
             request {address})",
            known.address
        ))
    })
}

/// Add `member` to `group`: a share of the group's key for them, the service's half in the
/// group's access catalog, and a GroupInvitation from `inviter` (an account of this device that
/// knows the member's key) carrying theirs. Returns the capability's id.
pub fn add(device: &Device, group: &Account, inviter: &Account, member: &str) -> Result<String> {
    let member = member.to_ascii_lowercase();
    if list(group)?.iter().any(|m| m.address == member) {
        return Err(ClientError::Invalid(format!(
            "{member} is a member of {} already",
            group.address
        )));
    }
    let profile_env = profile_of(device, inviter, &member)?;
    let (profile, member_udf) = signed::verify_profile_user(&profile_env)?;
    // The member's administrator key as it is now: the service takes the member's requests only
    // under that key (a removed device of theirs, signed under an earlier one, is refused; after
    // a rotation of theirs the member is added again).
    let member_admin: PublicKey =
        required(&profile.administrator_signature, "AdministratorSignature")?;
    let member_key: PublicKey = required(profile.encryption(), "AccountEncryption")?;
    let group_key = group
        .encryption_private_key()
        .ok_or_else(|| ClientError::NotAdministrator(group.address.clone()))?;
    let (member_share, service_share) = group_key.split()?;
    let mut session = Session::open(device, group)?;
    let (url, _, service_encryption) = session.service_keys();
    let id = mesh_udf::random::nonce(128).to_string();
    let sealed_to = |secret: &[u8], key: &PublicKey| {
        DareEnvelope::encode(
            secret,
            &EnvelopeOptions {
                recipients: vec![key],
                ..Default::default()
            },
        )
    };
    let capability = |share: DareEnvelope| CapabilityDecryptServiced {
        id: Some(id.clone()),
        key_data: group.profile.account_encryption.clone(),
        enveloped_key_shares: vec![share],
        subject_id: Some(member_udf.clone()),
        subject_address: Some(member.clone()),
        authentication_id: Some(member_admin.udf()),
        ..Default::default()
    };
    // The service's half first: the member can use theirs as soon as it arrives.
    let entry = CatalogedAccess {
        key: Some(id.clone()),
        capability: Some(CryptographicCapability::CapabilityDecryptServiced(
            capability(sealed_to(&service_share.to_bytes(), &service_encryption)?),
        )),
        ..Default::default()
    };
    group.put(CatalogKind::Access, &MeshItem::from(entry))?;
    session.push(CatalogKind::Access.name())?;

    let theirs = CryptographicCapability::CapabilityDecryptServiced(capability(sealed_to(
        &member_share.to_bytes(),
        &member_key,
    )?));
    let mut address = NetworkAddress {
        address: Some(group.address.clone()),
        enveloped_profile_account: Some(group.profile_envelope()?),
        capabilities: vec![
            serde_json::to_value(&theirs).map_err(|e| ClientError::Invalid(e.to_string()))?
        ],
        ..Default::default()
    };
    address
        .extra
        .0
        .insert(SERVICE_URL.into(), serde_json::Value::String(url));
    let contact = ContactGroup {
        id: Some(group.udf.clone()),
        network_addresses: vec![address],
        ..Default::default()
    };
    let message_id = mesh_udf::random::nonce(128).to_string();
    let invitation = GroupInvitation {
        message_id: Some(message_id.clone()),
        sender: Some(inviter.address.clone()),
        recipient: Some(member.clone()),
        text: Some(format!("a member of {}", group.address)),
        contact: Some(serde_json::json!({ "ContactGroup": contact })),
        ..Default::default()
    };
    let (sealed, _) =
        messages::seal_message(device, inviter, invitation.into(), &message_id, &member)?;
    Session::open(device, inviter)?.send(std::slice::from_ref(&member), sealed)?;
    Ok(id)
}

/// The members of `group` (its access catalog's grants to accounts).
pub fn list(group: &Account) -> Result<Vec<Member>> {
    let mut members = Vec::new();
    for (key, item) in group.list(CatalogKind::Access)? {
        if let MeshItem::CatalogedAccess(access) = item {
            if let Some(CryptographicCapability::CapabilityDecryptServiced(c)) = &access.capability
            {
                if let (Some(address), Some(udf)) = (&c.subject_address, &c.subject_id) {
                    // Devices of the group's own account are granted by UDF alone: not members.
                    if address != &group.address {
                        members.push(Member {
                            address: address.clone(),
                            profile_udf: udf.clone(),
                            capability: key,
                        });
                    }
                }
            }
        }
    }
    Ok(members)
}

/// Remove `member` from `group`: their grants deleted, so that the service refuses them from
/// now on. Returns how many grants went.
pub fn delete(device: &Device, group: &Account, member: &str) -> Result<usize> {
    let member = member.to_ascii_lowercase();
    let grants: Vec<Member> = list(group)?
        .into_iter()
        .filter(|m| m.address == member)
        .collect();
    if grants.is_empty() {
        return Err(ClientError::Invalid(format!(
            "{member} is not a member of {}",
            group.address
        )));
    }
    let mut session = Session::open(device, group)?;
    let removed = (|| -> Result<()> {
        for grant in &grants {
            group.delete(CatalogKind::Access, &grant.capability)?;
        }
        session.push(CatalogKind::Access.name())?;
        Ok(())
    })();
    if let Err(e) = removed {
        // Not taken by the service: the grants stand there, so they stand here too (a retry
        // finds the member and removes them again).
        // (Back to what the service holds now: a push cut short may have taken some of it.)
        let synced = session.synced_index(CatalogKind::Access.name());
        session.truncate_local(CatalogKind::Access.name(), synced)?;
        return Err(e);
    }
    Ok(grants.len())
}

/// A group this account was made a member of, as its invitation said.
#[derive(Debug, Clone)]
pub struct Membership {
    pub group: String,
    /// The group's account profile (what is encrypted to it uses its key).
    pub profile: DareEnvelope,
    pub key: PublicKey,
    pub capability: String,
    /// This account's share, encrypted to its account key.
    share: DareEnvelope,
    service: String,
    pub invited_by: String,
}

/// A membership from an invitation received from a sender who checked out.
fn membership(message: &GroupInvitation, sender: &Sender) -> Option<Membership> {
    let Sender::Verified(from) = sender else {
        return None;
    };
    membership_of(message.contact.as_ref()?, from.address())
}

/// A membership from the contact an invitation carries (untrusted: anything that does not read
/// as a group's contact, with a profile for its address and a serviced capability, is none).
fn membership_of(contact: &serde_json::Value, invited_by: &str) -> Option<Membership> {
    let contact: ContactGroup =
        serde_json::from_value(contact.get("ContactGroup")?.clone()).ok()?;
    let address = contact.network_addresses.first()?;
    let group = address.address.clone()?.to_ascii_lowercase();
    let profile = address.enveloped_profile_account.clone()?;
    let (checked, _) = signed::verify_profile_user(&profile).ok()?;
    if !checked
        .account_address
        .as_deref()
        .is_some_and(|a| a.eq_ignore_ascii_case(&group))
    {
        return None;
    }
    let key: PublicKey = required(checked.encryption(), "AccountEncryption").ok()?;
    let capability: CryptographicCapability =
        serde_json::from_value(address.capabilities.first()?.clone()).ok()?;
    let CryptographicCapability::CapabilityDecryptServiced(capability) = capability else {
        return None;
    };
    let service = address.extra.0.get(SERVICE_URL)?.as_str()?.to_string();
    Some(Membership {
        group,
        profile,
        key,
        capability: capability.id?,
        share: capability.enveloped_key_shares.first()?.clone(),
        service,
        invited_by: invited_by.to_string(),
    })
}

/// The domain of an address, in lower case.
fn domain_of(address: &str) -> String {
    address
        .rsplit_once('@')
        .map(|(_, d)| d.to_ascii_lowercase())
        .unwrap_or_default()
}

/// The groups this account was made a member of, from its inbound spool (sync first).
///
/// A group's profile is self-signed, and anyone can make one for any address: an invitation is
/// taken only from this account itself or a contact whose key it keeps (from a signed
/// exchange) for a group in that contact's own domain; a later invitation for an address is taken only with the same profile or its
/// successor (a key rotation of the group), and two different profiles for one address make it
/// ambiguous, so that neither is used — never one that would send what is encrypted to the
/// group to another key.
pub fn memberships(account: &Account) -> Result<Vec<Membership>> {
    // A device without the message right reads no messages: it is a member of nothing.
    if !account.rights().message {
        return Ok(vec![]);
    }
    let mut found: Vec<Membership> = Vec::new();
    let mut ambiguous: Vec<String> = Vec::new();
    for r in messages::received(account)? {
        let Received::GroupInvitation { message, sender } = r else {
            continue;
        };
        let Some(m) = membership(&message, &sender) else {
            continue;
        };
        // From this account; or from a kept contact, for a group of the contact's own domain
        // (a contact cannot name a group after someone else's address elsewhere: what this
        // account encrypts to that address would go to the contact's key).
        let trusted = m.invited_by == account.address
            || (domain_of(&m.group) == domain_of(&m.invited_by)
                && messages::kept_profile_envelope(account, &m.invited_by)?.is_some());
        if !trusted {
            continue;
        }
        match found.iter().position(|f| f.group == m.group) {
            None => found.push(m),
            Some(at) => {
                let (new, kept) = (
                    signed::verify_profile_user(&m.profile),
                    signed::verify_profile_user(&found[at].profile),
                );
                let (same, later) = match (&new, &kept) {
                    (Ok((new, new_udf)), Ok((kept, kept_udf))) => {
                        (new_udf == kept_udf, new.replaces(kept))
                    }
                    _ => (false, false),
                };
                if same || later {
                    found[at] = m;
                } else {
                    // Two profiles for one group address, neither the other's successor: which
                    // is the group cannot be told here, so neither is used.
                    ambiguous.push(m.group);
                }
            }
        }
    }
    found.retain(|m| !ambiguous.contains(&m.group));
    Ok(found)
}

/// The encryption key of the group `address` this account knows: its own account (an
/// administrator of the group on this device) or a membership.
pub fn group_key(device: &Device, account: &Account, address: &str) -> Result<Option<PublicKey>> {
    let address = address.to_ascii_lowercase();
    if let Ok(group) = device.account(Some(&address)) {
        return Ok(Some(required(
            group.profile.encryption(),
            "AccountEncryption",
        )?));
    }
    Ok(memberships(account)?
        .into_iter()
        .find(|m| m.group == address)
        .map(|m| m.key))
}

/// Decrypt `envelope`, encrypted to a group this account is a member of: this account's share
/// (opened with the account's key) and the group's service's contribution. `Ok(None)` if it is
/// encrypted to no group this account is a member of.
pub fn decrypt(
    device: &Device,
    account: &Account,
    envelope: &DareEnvelope,
) -> Result<Option<Vec<u8>>> {
    let mut failed = None;
    for m in memberships(account)? {
        if envelope.recipient_for(&m.key.udf()).is_none() {
            continue;
        }
        match decrypt_as(device, account, envelope, &m) {
            Ok(plaintext) => return Ok(Some(plaintext)),
            Err(e) => failed = Some(e),
        }
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(None),
    }
}

/// Decrypt `envelope` as the membership `m` allows.
fn decrypt_as(
    device: &Device,
    account: &Account,
    envelope: &DareEnvelope,
    m: &Membership,
) -> Result<Vec<u8>> {
    let ring = account.ring_for_envelopes(std::slice::from_ref(&m.share))?;
    let share = m.share.plaintext(&ring)?;
    let grant = AccountGrant {
        share: Some(mesh_encoding::base64url::encode(&share)),
        capability: Some(m.capability.clone()),
        ..Default::default()
    };
    let operator = online::member_operator(device, account, &m.group, &m.service)?;
    crate::context::open_with_grant(&grant, &m.key, &operator, envelope).map_err(|e| match e {
        ClientError::Invalid(why) if why.contains("would not decrypt") => {
            ClientError::Invalid(format!(
                "the service of {} would not decrypt for {}: not (or no longer) a member ({why})",
                m.group, account.address
            ))
        }
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        /// Whatever an invitation's contact holds, reading it never panics, and nothing that is
        /// not a group's contact with a profile and a capability is taken for a membership.
        #[test]
        fn any_contact_reads_without_panic(text in ".{0,400}", nested in ".{0,200}") {
            let values = [
                serde_json::from_str::<serde_json::Value>(&text).unwrap_or_default(),
                serde_json::json!({ "ContactGroup": text }),
                serde_json::json!({ "ContactGroup": { "NetworkAddresses": [{
                    "Address": nested,
                    "EnvelopedProfileAccount": text,
                    "Capabilities": [{ "CapabilityDecryptServiced": nested }],
                    "ServiceUrl": text,
                }]}}),
            ];
            for value in values {
                prop_assert!(super::membership_of(&value, "a@example.com").is_none());
            }
        }
    }
}
