//! Contact messages between accounts (protocol-09 §8, schema-08 MessageContact): "signed by the
//! sender and encrypted under the encryption key of the recipient if this is known to the
//! sender".
//!
//! A MessageContact is signed by the sending device's connection key and carries the device's
//! connection (signed by the account's administrator key, [`mesh_schema::sender`]) and its
//! sender's self-signed account profile; the recipient checks the whole chain
//! ([`VerifiedSender`]) and shows a message whose chain fails as unverified, never as from the
//! sender it names. The recipient who adds the sender to their contacts (`mesh contact add ADDRESS`) keeps that profile in the contact entry
//! (`EnvelopedProfileUser`); from then on messages to that address are encrypted to the
//! profile's AccountEncryption key. Messages received are decrypted with the account key, or on
//! a device holding a share of it, with the service's help (Operate).

use mesh_crypto::PublicKey;
use mesh_dare::{Container, DareEnvelope, Mode};
use mesh_schema::catalog::CatalogedContact;
use mesh_schema::key::required;
use mesh_schema::message::{
    MessageContact, MessageError, RequestConfirmation, ResponseConfirmation,
};
use mesh_schema::profile::ProfileUser;
use mesh_schema::{sender, signed, MeshItem};
use std::collections::HashMap;

use crate::catalogs::CatalogKind;
use crate::context::{Account, Device};
use crate::online::{device_credentials, Session};
use crate::{ClientError, Result};

/// The sender of a message, checked end to end: the message is signed by a device key that a
/// connection, signed by the administrator key of the sender's self-signed profile, binds to the
/// sender's address; the profile is for that address and, when the sender is a contact whose
/// profile is kept, is that very profile. Only [`check_sender`] makes one.
#[derive(Debug, Clone)]
pub struct VerifiedSender {
    address: String,
    profile: ProfileUser,
    envelope: DareEnvelope,
    udf: String,
}

impl VerifiedSender {
    pub fn address(&self) -> &str {
        &self.address
    }
    pub fn profile(&self) -> &ProfileUser {
        &self.profile
    }
    /// The sender's self-signed profile, as it came.
    pub fn profile_envelope(&self) -> &DareEnvelope {
        &self.envelope
    }
    /// The UDF of the sender's profile.
    pub fn udf(&self) -> &str {
        &self.udf
    }
}

/// Who a message is from, as far as could be checked.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub enum Sender {
    Verified(VerifiedSender),
    /// The message says who sent it but that could not be checked: never show it as from them.
    Unverified(String),
}

/// A message in the account's inbound spool.
#[allow(clippy::large_enum_variant)]
pub enum Received {
    Contact {
        message: MessageContact,
        sender: Sender,
        encrypted: bool,
        /// The account of the connection that sent it (what the services authenticated), when
        /// the message carries one: who it is from even when the rest does not check out.
        connection_address: Option<String>,
    },
    /// A message of ours that could not be delivered, as our service reported it (signed by it).
    Error(MessageError),
    /// A request to confirm something ([`crate::confirmations`]), with the envelope it came in
    /// (which the answer carries back).
    ConfirmationRequest {
        message: RequestConfirmation,
        sender: Sender,
        envelope: DareEnvelope,
    },
    /// An answer to a request of ours to confirm something.
    ConfirmationResponse {
        message: ResponseConfirmation,
        sender: Sender,
    },
    /// An invitation to a recryption group ([`crate::groups`]).
    GroupInvitation {
        message: mesh_schema::message::GroupInvitation,
        sender: Sender,
    },
}

/// The ContentMetaData member carrying the sender's self-signed account profile (the envelope's
/// JSON text) on messages whose own members have no place for it (a MessageContact carries it
/// as its AuthenticatedData). This implementation's, like [`sender::SENDER_CONNECTION`].
pub const SENDER_PROFILE: &str = "SenderProfile";

/// The sender profile a message carries in its ContentMetaData, if any.
fn profile_in_meta(envelope: &DareEnvelope) -> Option<DareEnvelope> {
    let meta = envelope.content_meta().ok()?;
    let text = meta
        .key_values
        .iter()
        .find(|kv| kv.key == SENDER_PROFILE)?
        .value
        .clone();
    DareEnvelope::parse(text.as_bytes()).ok()
}

/// Check who sent the message in `envelope` to `account`: it names `sender` and `recipient`
/// (which must be `account`), and carries `profile` (the sender's self-signed profile); `kept` is
/// the profile UDF kept for the sender in the contact catalog, if any.
fn check_chain(
    envelope: &DareEnvelope,
    sender: Option<&str>,
    recipient: Option<&str>,
    profile: Option<DareEnvelope>,
    account: &str,
    kept: Option<&(String, ProfileUser)>,
) -> std::result::Result<VerifiedSender, String> {
    if !recipient.is_some_and(|r| r.eq_ignore_ascii_case(account)) {
        return Err("the message is addressed to another account".into());
    }
    let verified = check_signer(envelope, sender, profile)?;
    if let Some((kept, held)) = kept {
        if *kept != verified.udf {
            return Err(format!(
                "its profile {} is not the one kept for this contact ({kept})",
                verified.udf
            ));
        }
        // Signed under keys the contact has since rotated away (a removed device of theirs
        // may hold them).
        if held.replaces(&verified.profile) {
            return Err(
                "it is signed under an earlier profile of the sender: their keys were rotated \
                 since"
                    .into(),
            );
        }
    }
    Ok(verified)
}

/// Who signed `envelope` (a message naming `sender` and carrying `profile`, the sender's
/// self-signed profile): a device connected to that profile's account by its administrator key,
/// the profile being for the address named.
pub(crate) fn check_signer(
    envelope: &DareEnvelope,
    sender: Option<&str>,
    profile: Option<DareEnvelope>,
) -> std::result::Result<VerifiedSender, String> {
    let address = sender
        .ok_or("the message names no sender")?
        .to_ascii_lowercase();
    let profile_env = profile.ok_or("the message carries no profile of its sender")?;
    let (profile, udf) = signed::verify_profile_user(&profile_env)
        .map_err(|e| format!("the sender's profile does not verify: {e}"))?;
    if !profile
        .account_address
        .as_deref()
        .is_some_and(|a| a.eq_ignore_ascii_case(&address))
    {
        return Err("the profile it carries is for another address".into());
    }
    let admin = required(&profile.administrator_signature, "AdministratorSignature")
        .map_err(|e| e.to_string())?;
    let connection = sender::verify_sender(envelope, &admin).map_err(|e| e.to_string())?;
    if !connection
        .account_address
        .as_deref()
        .is_some_and(|a| a.eq_ignore_ascii_case(&address))
    {
        return Err("signed by a device of another account".into());
    }
    Ok(VerifiedSender {
        address,
        profile,
        envelope: profile_env,
        udf,
    })
}

fn verified_or_not(checked: std::result::Result<VerifiedSender, String>) -> Sender {
    match checked {
        Ok(v) => Sender::Verified(v),
        Err(why) => Sender::Unverified(why),
    }
}

/// A request to this account not yet answered, and who sent it as far as that could be checked.
pub struct Pending<T> {
    pub message: T,
    pub sender: Sender,
}

/// A request to this account (a confirmation or a contact request) as the requests of its kind
/// are picked from what was received: the request, who sent it, and the MessageId and sender
/// it names (which make its answered marker).
pub(crate) struct Request<T> {
    pub request: T,
    pub sender: Sender,
    pub id: String,
    pub named_sender: String,
}

/// The requests `pick` finds among the messages received whose marker (`marker(sender, id)`,
/// left in the local spool when one of the account's devices answers) is not there, oldest
/// first.
pub(crate) fn unanswered<T>(
    account: &Account,
    mut pick: impl FnMut(Received) -> Option<Request<T>>,
    marker: impl Fn(&str, &str) -> String,
) -> Result<Vec<Request<T>>> {
    let answered: std::collections::HashSet<String> =
        crate::connect::local_ids(account)?.into_iter().collect();
    Ok(received(account)?
        .into_iter()
        .filter_map(&mut pick)
        .filter(|r| !answered.contains(&marker(&r.named_sender, &r.id)))
        .collect())
}

/// The requests `pick` finds not yet answered, as they are shown (the request itself, who sent
/// it), whatever else `pick` keeps beside each.
pub(crate) fn pending<T, U>(
    account: &Account,
    pick: impl FnMut(Received) -> Option<Request<(T, U)>>,
    marker: impl Fn(&str, &str) -> String,
) -> Result<Vec<Pending<T>>> {
    Ok(unanswered(account, pick, marker)?
        .into_iter()
        .map(|r| Pending {
            message: r.request.0,
            sender: r.sender,
        })
        .collect())
}

/// The one request with MessageId `id` that `pick` finds (answered or not); refused if none, or
/// more than one, carries that id.
pub(crate) fn the_request<T>(
    account: &Account,
    id: &str,
    pick: impl FnMut(Received) -> Option<Request<T>>,
    what: &str,
) -> Result<Request<T>> {
    let mut found: Vec<Request<T>> = received(account)?
        .into_iter()
        .filter_map(pick)
        .filter(|r| r.id == id)
        .collect();
    if found.len() > 1 {
        return Err(ClientError::Invalid(format!(
            "more than one {what} carries the id {id}: none is answered"
        )));
    }
    found
        .pop()
        .ok_or_else(|| ClientError::Invalid(format!("no {what} {id}")))
}

/// The profile kept for `address` in the contact catalog, if any (as it was kept).
pub(crate) fn kept_profile_envelope(
    account: &Account,
    address: &str,
) -> Result<Option<DareEnvelope>> {
    match account.get(CatalogKind::Contact, &address.to_ascii_lowercase())? {
        Some(MeshItem::CatalogedContact(contact)) => Ok(contact.enveloped_profile_user),
        _ => Ok(None),
    }
}

/// The profile kept for `address` in the contact catalog, if any, with its UDF.
fn kept_profile(account: &Account, address: &str) -> Result<Option<(String, ProfileUser)>> {
    match kept_profile_envelope(account, address)? {
        Some(envelope) => {
            let (profile, udf) = signed::verify_profile_user(&envelope)?;
            Ok(Some((udf, profile)))
        }
        None => Ok(None),
    }
}

/// The messages of the local copy of the inbound spool (sync first to see new ones), oldest
/// first, each with who it is from as far as that could be checked. Messages that cannot be
/// read (encrypted to a key this account cannot use), and service reports not signed by this
/// account's service, are left out.
pub fn received(account: &Account) -> Result<Vec<Received>> {
    account.require_message_right()?;
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
    let service = crate::online::load_binding(account).and_then(|b| b.keys().ok());
    let mut kept: HashMap<String, Option<(String, ProfileUser)>> = HashMap::new();
    let mut out = Vec::new();
    // Who sent a message, checked against the profile kept for them (read once per sender).
    let mut sender_of = |envelope: &DareEnvelope,
                         sender: &Option<String>,
                         recipient: &Option<String>,
                         profile: Option<DareEnvelope>|
     -> Result<Sender> {
        let (sender, recipient) = (sender.as_deref(), recipient.as_deref());
        let from = sender.unwrap_or_default().to_ascii_lowercase();
        if !kept.contains_key(&from) {
            kept.insert(from.clone(), kept_profile(account, &from)?);
        }
        let pinned = kept.get(&from).and_then(|k| k.as_ref());
        Ok(verified_or_not(check_chain(
            envelope,
            sender,
            recipient,
            profile,
            &account.address,
            pinned,
        )))
    };
    for envelope in &envelopes {
        match signed::read(envelope, &keys) {
            Ok(MeshItem::MessageContact(m)) => {
                let sender = sender_of(
                    envelope,
                    &m.sender,
                    &m.recipient,
                    m.authenticated_data.clone(),
                )?;
                out.push(Received::Contact {
                    sender,
                    message: *m,
                    encrypted: envelope.is_encrypted(),
                    connection_address: mesh_schema::sender::claimed_sender(envelope)
                        .ok()
                        .and_then(|c| c.account_address)
                        .map(|a| a.to_ascii_lowercase()),
                })
            }
            Ok(MeshItem::RequestConfirmation(m)) => {
                let sender =
                    sender_of(envelope, &m.sender, &m.recipient, profile_in_meta(envelope))?;
                out.push(Received::ConfirmationRequest {
                    message: *m,
                    sender,
                    envelope: envelope.clone(),
                })
            }
            Ok(MeshItem::ResponseConfirmation(m)) => {
                let sender =
                    sender_of(envelope, &m.sender, &m.recipient, profile_in_meta(envelope))?;
                out.push(Received::ConfirmationResponse {
                    message: *m,
                    sender,
                })
            }
            Ok(MeshItem::GroupInvitation(m)) => {
                let sender =
                    sender_of(envelope, &m.sender, &m.recipient, profile_in_meta(envelope))?;
                out.push(Received::GroupInvitation {
                    message: *m,
                    sender,
                })
            }
            Ok(MeshItem::MessageError(m)) => {
                // A report of our own service, about a message of this account's.
                let ours = m
                    .recipient
                    .as_deref()
                    .is_some_and(|r| r.eq_ignore_ascii_case(&account.address));
                let by_service = ours
                    && service.as_ref().is_some_and(|(signature, _)| {
                        signed::verify_signed_by(
                            envelope,
                            signature,
                            "service report",
                            &mesh_dare::KeyRing::new(),
                        )
                        .is_ok()
                    });
                if by_service {
                    out.push(Received::Error(*m))
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The newest profile of `address` among the contact messages received from it whose sender
/// was verified.
pub fn profile_from_messages(account: &Account, address: &str) -> Result<Option<DareEnvelope>> {
    if !account.rights().message {
        return Ok(None);
    }
    Ok(received(account)?.into_iter().rev().find_map(|r| match r {
        Received::Contact {
            sender: Sender::Verified(v),
            ..
        } if v.address().eq_ignore_ascii_case(address) => Some(v.profile_envelope().clone()),
        _ => None,
    }))
}

/// Move contacts' kept profiles forward: where a verified message carries a profile of the
/// contact's account (the same root) later than the one kept — the contact rotated its keys —
/// the contact entry takes it, so that what is sent to them is encrypted to their new key and
/// not to one a removed device of theirs may hold. Returns how many contacts changed.
pub fn refresh_contacts(account: &Account) -> Result<usize> {
    let mut newest: HashMap<String, VerifiedSender> = HashMap::new();
    for r in received(account)? {
        if let Received::Contact {
            sender: Sender::Verified(v),
            ..
        } = r
        {
            let later = newest
                .get(v.address())
                .is_none_or(|known| v.profile.replaces(&known.profile));
            if later {
                newest.insert(v.address().to_string(), v);
            }
        }
    }
    let mut changed = 0;
    for (address, sender) in newest {
        let Some(MeshItem::CatalogedContact(mut contact)) =
            account.get(CatalogKind::Contact, &address)?
        else {
            continue;
        };
        let Some(kept) = &contact.enveloped_profile_user else {
            continue;
        };
        let (kept, _) = signed::verify_profile_user(kept)?;
        if sender.profile.replaces(&kept) {
            contact.enveloped_profile_user = Some(sender.envelope.clone());
            account.put(CatalogKind::Contact, &MeshItem::CatalogedContact(contact))?;
            changed += 1;
        }
    }
    Ok(changed)
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
    Ok(Some(required(profile.encryption(), "AccountEncryption")?))
}

/// Send `text` to `to` as a MessageContact signed by this device (and carrying this account's
/// profile); encrypted to `to` when its key is known. Returns the message id and whether it
/// was encrypted.
pub fn send(device: &Device, account: &Account, to: &str, text: &str) -> Result<(String, bool)> {
    account.require_message_right()?;
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
    let (envelope, encrypted) = seal_message(device, account, message.into(), &message_id, &to)?;
    Session::open(device, account)?.send(&[to], envelope)?;
    Ok((message_id, encrypted))
}

/// `item` (a message to `to`, with id `message_id`) sealed as this device sends messages:
/// signed by its connection key, carrying its connection and the account's profile in the
/// ContentMetaData, encrypted to `to` when its key is known. Also whether it was encrypted.
pub(crate) fn seal_message(
    device: &Device,
    account: &Account,
    item: MeshItem,
    message_id: &str,
    to: &str,
) -> Result<(DareEnvelope, bool)> {
    let key = contact_key(account, to)?;
    let (signer, _, connection) = device_credentials(device, account)?;
    let mut key_values = vec![sender::key_value(&connection)?];
    // A MessageContact carries the profile as its AuthenticatedData.
    if !matches!(item, MeshItem::MessageContact(_)) {
        key_values.push(mesh_dare::schema::KeyValue {
            key: SENDER_PROFILE.into(),
            value: account.profile_envelope()?.to_json()?,
        });
    }
    let envelope = signed::seal_with(
        &item,
        &signer,
        Some(&mesh_schema::ids::envelope_id(message_id)?),
        &key.iter().collect::<Vec<_>>(),
        key_values,
    )?;
    Ok((envelope, key.is_some()))
}
