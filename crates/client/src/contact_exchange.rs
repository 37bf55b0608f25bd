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
    let path = account.dir().join(FILE);
    store::locked(&path, || {
        let mut list = load(account)?;
        list.push(Sent {
            message_id: message_id.clone(),
            recipient: to.clone(),
            pin,
        });
        // The oldest forgotten past a bound (their answers then make no contact).
        let excess = list.len().saturating_sub(MOST_KEPT);
        list.drain(..excess);
        save(account, &list)
    })?;
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

/// A contact request, from what was received, with the account of the connection that sent it.
fn pick(r: Received) -> Option<messages::Request<(MessageContact, Option<String>)>> {
    match r {
        Received::Contact {
            message,
            sender,
            connection_address,
            ..
        } if is_request(&message) => Some(messages::Request {
            id: message.message_id.clone().unwrap_or_default(),
            named_sender: message
                .sender
                .clone()
                .unwrap_or_default()
                .to_ascii_lowercase(),
            request: (message, connection_address),
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
            message: r.request.0,
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
        request: (request, connection_address),
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
            keep_contact(account, verified.address(), verified.profile_envelope())?;
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
        // Whoever sent it, as the services authenticated it (the connection's account), not
        // whoever it names: a request naming someone else must not block them.
        Answer::Block => {
            let from = connection_address.ok_or_else(|| {
                ClientError::Invalid(format!(
                    "the request {message_id} carries no connection to say who sent it"
                ))
            })?;
            block(&mut session, account, &from, true)?;
            session.post_own(vec![crate::connect::local_marker(&marker)?], vec![])?;
            return Ok(from);
        }
    }
    session.post_own(vec![crate::connect::local_marker(&marker)?], vec![])?;
    Ok(named)
}

/// Administrator: the service refuses messages from `address` to this account from now on
/// (`blocked`), or takes them again.
pub fn block(session: &mut Session, account: &Account, address: &str, blocked: bool) -> Result<()> {
    if !account.is_administrator() {
        return Err(ClientError::NotAdministrator(format!(
            "{} (blocking a sender changes what the service takes for the account)",
            account.address
        )));
    }
    let address = address.trim().to_ascii_lowercase();
    if !address.contains('@') || address.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ClientError::Invalid(format!(
            "'{address}' is not an account address"
        )));
    }
    let key = format!("{BLOCKED_PREFIX}{address}");
    if blocked {
        // A fresh nonce among the labels: blocking again after an unblock is a new entry, not
        // the earlier one replayed (which the service refuses for administered entries).
        let entry = CatalogedAccess {
            key: Some(key),
            labels: vec![
                mesh_schema::catalog::BLOCKED_LABEL.into(),
                format!("Nonce:{}", mesh_udf::random::nonce(128)),
            ],
            ..Default::default()
        };
        account.put(CatalogKind::Access, &MeshItem::from(entry))?;
    } else if !account.delete(CatalogKind::Access, &key)? {
        return Err(ClientError::Invalid(format!("{address} is not blocked")));
    }
    session.push(CatalogKind::Access.name())?;
    Ok(())
}

/// Keep `profile` as the key of the contact `address`: the contact entry there is kept (its
/// names and other addresses) with the profile and an anchor of its UDF; a new one is made
/// otherwise.
fn keep_contact(account: &Account, address: &str, profile: &mesh_dare::DareEnvelope) -> Result<()> {
    let fresh = contact_entry(address, Some(profile.clone()), "MessageContact", None)?;
    let entry = match account.get(CatalogKind::Contact, &address.to_ascii_lowercase())? {
        Some(MeshItem::CatalogedContact(mut kept)) => {
            kept.enveloped_profile_user = fresh.enveloped_profile_user;
            let anchors = fresh
                .contact
                .as_ref()
                .and_then(|c| c.person())
                .map(|p| p.anchors.clone())
                .unwrap_or_default();
            match kept.contact.as_mut() {
                Some(mesh_schema::catalog::Contact::ContactPerson(person)) => {
                    person.anchors = anchors;
                }
                _ => kept.contact = fresh.contact,
            }
            *kept
        }
        _ => fresh,
    };
    account.put(CatalogKind::Contact, &MeshItem::from(entry))?;
    Ok(())
}

/// Requests kept waiting for an answer at most; past it the oldest are forgotten.
const MOST_KEPT: usize = 1000;

/// Sync the account, then take the replies to this device's contact requests that came (and
/// push the contacts they made): what every command that reads messages does first.
pub fn sync(session: &mut Session, account: &Account) -> Result<()> {
    session.sync(&mut |_, _, _| {})?;
    if take_replies(account)? > 0 {
        session.push(CatalogKind::Contact.name())?;
    }
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
            keep_contact(account, v.address(), v.profile_envelope())?;
            sent.remove(at);
            made += 1;
        }
        if made > 0 {
            save(account, &sent)?;
        }
        Ok(made)
    })
}
