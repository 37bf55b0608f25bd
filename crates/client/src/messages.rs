//! Contact messages between accounts (protocol-09 §8, schema-08 MessageContact): "signed by the
//! sender and encrypted under the encryption key of the recipient if this is known to the
//! sender".
//!
//! A MessageContact carries its sender's self-signed account profile. The recipient who adds the
//! sender to their contacts (`mesh contact add ADDRESS`) keeps that profile in the contact entry
//! (`EnvelopedProfileUser`); from then on messages to that address are encrypted to the
//! profile's AccountEncryption key. Messages received are decrypted with the account key, or on
//! a device holding a share of it, with the service's help (Operate).

use mesh_crypto::PublicKey;
use mesh_dare::{Container, DareEnvelope, Mode};
use mesh_schema::catalog::CatalogedContact;
use mesh_schema::key::required;
use mesh_schema::message::{MessageContact, MessageError};
use mesh_schema::profile::ProfileUser;
use mesh_schema::{signed, MeshItem};

use crate::catalogs::CatalogKind;
use crate::context::{Account, Device};
use crate::online::{device_credentials, Session};
use crate::Result;

/// A message in the account's inbound spool.
#[allow(clippy::large_enum_variant)]
pub enum Received {
    Contact {
        message: MessageContact,
        /// The sender's account profile, self-signed and for the sender's address.
        profile: Option<(ProfileUser, DareEnvelope)>,
        encrypted: bool,
    },
    /// A message of ours that could not be delivered, as our service reported it.
    Error(MessageError),
}

/// The sender's profile a MessageContact carries, if it is self-signed and for its sender.
fn sender_profile(message: &MessageContact) -> Option<(ProfileUser, DareEnvelope)> {
    let envelope = message.authenticated_data.clone()?;
    let (profile, _) = signed::verify_profile_user(&envelope).ok()?;
    let same = match (&profile.account_address, &message.sender) {
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        _ => false,
    };
    same.then_some((profile, envelope))
}

/// The messages of the local copy of the inbound spool (sync first to see new ones), oldest
/// first. Messages that cannot be read (not signed as they must be, or encrypted to a key
/// this account cannot use) are left out.
pub fn received(account: &Account) -> Result<Vec<Received>> {
    let path = account.dir().join("MMM_Inbound.dare");
    if !path.exists() {
        return Ok(vec![]);
    }
    let inbound = Container::open(path, Mode::Read)?;
    let envelopes = (1..inbound.frame_count())
        .map(|i| Ok(inbound.read(i)?))
        .collect::<Result<Vec<_>>>()?;
    let encrypted: Vec<DareEnvelope> = envelopes
        .iter()
        .filter(|e| e.is_encrypted())
        .cloned()
        .collect();
    let keys = if encrypted.is_empty() {
        mesh_dare::KeyRing::new()
    } else {
        account.ring_for_envelopes(&encrypted)?
    };
    let mut out = Vec::new();
    for envelope in &envelopes {
        match signed::read(envelope, &keys) {
            Ok(MeshItem::MessageContact(m)) => out.push(Received::Contact {
                profile: sender_profile(&m),
                message: *m,
                encrypted: envelope.is_encrypted(),
            }),
            Ok(MeshItem::MessageError(m)) => out.push(Received::Error(*m)),
            _ => {}
        }
    }
    Ok(out)
}

/// The newest self-signed profile of `address` among the contact messages received from it.
pub fn profile_from_messages(account: &Account, address: &str) -> Result<Option<DareEnvelope>> {
    Ok(received(account)?.into_iter().rev().find_map(|r| match r {
        Received::Contact {
            message,
            profile: Some((_, envelope)),
            ..
        } if message
            .sender
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case(address)) =>
        {
            Some(envelope)
        }
        _ => None,
    }))
}

/// The encryption key of `address`, if a contact entry holds its profile.
pub fn contact_key(account: &Account, address: &str) -> Result<Option<PublicKey>> {
    let Some(MeshItem::CatalogedContact(contact)) =
        account.get(CatalogKind::Contact, &address.to_ascii_lowercase())?
    else {
        return Ok(None);
    };
    let CatalogedContact {
        enveloped_profile_user: Some(envelope),
        ..
    } = *contact
    else {
        return Ok(None);
    };
    let (profile, _) = signed::verify_profile_user(&envelope)?;
    Ok(Some(required(
        &profile.account_encryption,
        "AccountEncryption",
    )?))
}

/// Send `text` to `to` as a MessageContact signed by this device (and carrying this account's
/// profile); encrypted to `to` when its key is known. Returns the message id and whether it
/// was encrypted.
pub fn send(device: &Device, account: &Account, to: &str, text: &str) -> Result<(String, bool)> {
    let to = to.to_ascii_lowercase();
    let message_id = mesh_udf::random::nonce(128).to_string();
    let message = MessageContact {
        message_id: Some(message_id.clone()),
        sender: Some(account.address.clone()),
        recipient: Some(to.clone()),
        subject: Some(text.to_string()),
        authenticated_data: Some(account.profile_envelope()?),
        ..Default::default()
    };
    let key = contact_key(account, &to)?;
    let (signer, _, _) = device_credentials(device, account)?;
    let envelope = signed::seal(
        &message.into(),
        &signer,
        Some(&mesh_schema::ids::envelope_id(&message_id)?),
        &key.iter().collect::<Vec<_>>(),
    )?;
    Session::open(device, account)?.send(&[to], envelope)?;
    Ok((message_id, key.is_some()))
}
