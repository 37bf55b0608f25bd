//! Remote contact exchange (protocol-09 §8.3.1; the reference's `ArchitectureContactRemote`):
//! `contact request ADDRESS` sends a MessageContact asking for a reply (`Reply: true`) with a
//! fresh PIN; the recipient sees it among `message pending`, and accepts it (the requester
//! becomes a contact, with the profile that signed the request, and a MessageContact goes back
//! carrying the PIN), rejects it, or blocks the sender (the service then refuses anything from
//! that address to this account). The requester takes the reply as a contact only if it carries
//! the PIN of a request this device sent to that very address, and its signatures check out to
//! the profile it carries: a contact's keys come from a signed exchange, never from whoever
//! wrote first.
//!
//! Requests sent are kept in `contact-requests.json` beside the catalogs; requests answered are
//! marked in the local spool (`Contacted:SENDER:MESSAGEID`) so that every device of the account
//! sees them answered; blocks are administered entries of the access catalog
//! (`Blocked:ADDRESS`, signed by the administrator key), which the service reads.

use mesh_schema::catalog::{
    Anchor, CatalogedAccess, CatalogedContact, ContactPerson, NetworkAddress,
};
use mesh_schema::message::MessageContact;
use mesh_schema::MeshItem;
use serde::{Deserialize, Serialize};

use crate::catalogs::CatalogKind;
use crate::context::{Account, Device};
use crate::messages::{self, Received, Sender};
use crate::online::Session;
use crate::{store, ClientError, Result};

const FILE: &str = "contact-requests.json";

/// The access-catalog UniqueId prefix of a blocked sender (this implementation's).
pub const BLOCKED_PREFIX: &str = mesh_schema::catalog::BLOCKED_PREFIX;

/// A contact request this device sent.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Sent {
    pub message_id: String,
    pub recipient: String,
    /// The PIN the answer must carry.
    pin: String,
}

fn load(account: &Account) -> Result<Vec<Sent>> {
    store::read_list(&account.dir().join(FILE))
}

fn save(account: &Account, list: &[Sent]) -> Result<()> {
    store::write_list(&account.dir().join(FILE), list)
}

/// The contact entry for `address` whose key is the profile `profile` (checked).
pub fn contact_entry(
    address: &str,
    profile: Option<mesh_dare::DareEnvelope>,
    validation: &str,
    name: Option<String>,
) -> Result<CatalogedContact> {
    let anchor = profile
        .as_ref()
        .map(mesh_schema::signed::verify_profile_user)
        .transpose()?
        .map(|(_, udf)| udf);
    let person = ContactPerson {
        network_addresses: vec![NetworkAddress {
            address: Some(address.to_string()),
            ..Default::default()
        }],
        common_names: name
            .map(|n| {
                vec![mesh_schema::catalog::PersonName {
                    full_name: Some(n),
                    ..Default::default()
                }]
            })
            .unwrap_or_default(),
        anchors: anchor
            .iter()
            .map(|udf| Anchor {
                udf: Some(udf.clone()),
                validation: Some(validation.into()),
            })
            .collect(),
        ..Default::default()
    };
    Ok(CatalogedContact {
        key: Some(address.to_ascii_lowercase()),
        contact: Some(person.into()),
        enveloped_profile_user: profile,
        ..Default::default()
    })
}

/// Ask `to` for a contact exchange. Returns the request's MessageId.
pub fn request(device: &Device, account: &Account, to: &str) -> Result<String> {
    account.require_message_right()?;
    let to = to.to_ascii_lowercase();
    if !to.contains('@') || to == account.address {
        return Err(ClientError::Invalid(format!(
            "'{to}' is not another account's address"
        )));
    }
    let message_id = mesh_udf::random::nonce(128).to_string();
    let pin = mesh_udf::random::nonce(128).to_string();
    let message = MessageContact {
        message_id: Some(message_id.clone()),
        sender: Some(account.address.clone()),
        recipient: Some(to.clone()),
        authenticated_data: Some(account.profile_envelope()?),
        reply: Some(true),
        pin: Some(pin.clone()),
        ..Default::default()
    };
    let (envelope, _) = messages::seal_message(device, account, message.into(), &message_id, &to)?;
    // Kept before it leaves: an answer never comes to a request this device forgot.
    store::append_to_list(
        &account.dir().join(FILE),
        Sent {
            message_id: message_id.clone(),
            recipient: to.clone(),
            pin,
        },
    )?;
    Session::open(device, account)?.send(&[to], envelope)?;
    Ok(message_id)
}

/// A contact request to this account, not yet answered.
pub type Pending = messages::Pending<MessageContact>;

fn answered_marker(sender: &str, message_id: &str) -> String {
    format!("Contacted:{}:{message_id}", sender.to_ascii_lowercase())
}

/// A request as it may be shown and answered: a UDF for its id, an address for its sender, a
/// request for a reply. Anything else is no request.
fn is_request(message: &MessageContact) -> bool {
    message.reply == Some(true)
        && message
            .message_id
            .as_deref()
            .is_some_and(|id| mesh_udf::Udf::parse(id).is_ok())
        && message
            .sender
            .as_deref()
            .is_some_and(|s| s.contains('@') && s.len() <= 320 && !s.chars().any(char::is_control))
}

/// A contact request, from what was received.
fn pick(r: Received) -> Option<messages::Request<MessageContact>> {
    match r {
        Received::Contact {
            message, sender, ..
        } if is_request(&message) => Some(messages::Request {
            id: message.message_id.clone().unwrap_or_default(),
            named_sender: message
                .sender
                .clone()
                .unwrap_or_default()
                .to_ascii_lowercase(),
            request: message,
            sender,
        }),
        _ => None,
    }
}

/// The contact requests to this account not yet answered by any of its devices, oldest first
/// (sync first to see new ones).
pub fn pending(account: &Account) -> Result<Vec<Pending>> {
    Ok(messages::unanswered(account, pick, answered_marker)?
        .into_iter()
        .map(|r| Pending {
            message: r.request,
            sender: r.sender,
        })
        .collect())
}

/// What to do with a contact request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// The sender becomes a contact, and gets this account's contact back.
    Accept,
    /// Nothing is sent; the request is marked answered.
    Reject,
    /// As Reject, and the service refuses anything from the sender to this account from now
    /// on (an administrator device's to decide: it changes what the service takes).
    Block,
}

/// Is `message_id` a contact request to this account (answered or not)?
pub fn is_contact_request(account: &Account, message_id: &str) -> Result<bool> {
    Ok(messages::received(account)?
        .into_iter()
        .filter_map(pick)
        .any(|r| r.id == message_id))
}

/// Answer the contact request `message_id`. Accepting needs a request whose sender checked
/// out (the contact is made with its profile); rejecting and blocking take whoever it names.
/// Returns the sender's address.
pub fn answer(
    device: &Device,
    account: &Account,
    message_id: &str,
    answer: Answer,
) -> Result<String> {
    account.require_message_right()?;
    let messages::Request {
        request,
        sender,
        named_sender: named,
        ..
    } = messages::the_request(account, message_id, pick, "contact request")?;
    let marker = answered_marker(&named, message_id);
    if crate::connect::local_entry(account, &marker)?.is_some() {
        return Err(ClientError::Invalid(format!(
            "the contact request {message_id} was answered already"
        )));
    }
    let mut session = Session::open(device, account)?;
    match answer {
        Answer::Accept => {
            let verified = match sender {
                Sender::Verified(v) => v,
                Sender::Unverified(why) => {
                    return Err(ClientError::Invalid(format!(
                        "the request {message_id} could not be checked to come from {named} \
                         ({why}): it is not accepted"
                    )))
                }
            };
            let entry = contact_entry(
                verified.address(),
                Some(verified.profile_envelope().clone()),
                "MessageContact",
                None,
            )?;
            account.put(CatalogKind::Contact, &MeshItem::from(entry))?;
            session.push(CatalogKind::Contact.name())?;
            let reply_id = mesh_udf::random::nonce(128).to_string();
            let reply = MessageContact {
                message_id: Some(reply_id.clone()),
                sender: Some(account.address.clone()),
                recipient: Some(named.clone()),
                authenticated_data: Some(account.profile_envelope()?),
                reply: Some(false),
                pin: request.pin.clone(),
                ..Default::default()
            };
            let (sealed, _) =
                messages::seal_message(device, account, reply.into(), &reply_id, &named)?;
            session.send(std::slice::from_ref(&named), sealed)?;
        }
        Answer::Reject => {}
        Answer::Block => block(&mut session, account, &named)?,
    }
    session.post_own(vec![crate::connect::local_marker(&marker)?], vec![])?;
    Ok(named)
}

/// Administrator: the service refuses messages from `address` to this account from now on.
pub fn block(session: &mut Session, account: &Account, address: &str) -> Result<()> {
    if !account.is_administrator() {
        return Err(ClientError::NotAdministrator(format!(
            "{} (blocking a sender changes what the service takes for the account)",
            account.address
        )));
    }
    let entry = CatalogedAccess {
        key: Some(format!("{BLOCKED_PREFIX}{}", address.to_ascii_lowercase())),
        labels: vec![mesh_schema::catalog::BLOCKED_LABEL.into()],
        ..Default::default()
    };
    account.put(CatalogKind::Access, &MeshItem::from(entry))?;
    session.push(CatalogKind::Access.name())?;
    Ok(())
}

/// Take the replies to this device's contact requests that have come (sync first): each
/// becomes a contact with the profile it carries, if it carries the PIN of a request sent to
/// that very address and its sender checks out. Returns how many contacts were made; the
/// caller pushes the contact catalog.
pub fn take_replies(account: &Account) -> Result<usize> {
    let path = account.dir().join(FILE);
    store::locked(&path, || {
        let mut sent = load(account)?;
        if sent.is_empty() {
            return Ok(0);
        }
        let mut made = 0;
        for r in messages::received(account)? {
            let Received::Contact {
                message,
                sender: Sender::Verified(v),
                ..
            } = r
            else {
                continue;
            };
            if message.reply == Some(true) {
                continue;
            }
            let Some(at) = sent.iter().position(|s| {
                s.recipient.eq_ignore_ascii_case(v.address())
                    && message.pin.as_deref() == Some(s.pin.as_str())
            }) else {
                continue;
            };
            let entry = contact_entry(
                v.address(),
                Some(v.profile_envelope().clone()),
                "MessageContact",
                None,
            )?;
            account.put(CatalogKind::Contact, &MeshItem::from(entry))?;
            sent.remove(at);
            made += 1;
        }
        if made > 0 {
            save(account, &sent)?;
        }
        Ok(made)
    })
}
