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

/// A contact request this device sent, or a contact it published ([`publish`]: its recipient
/// [`ANYONE`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Sent {
    pub message_id: String,
    pub recipient: String,
    /// The PIN the answer must carry.
    pin: String,
    /// When a published contact stops being answered (seconds since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires: Option<u64>,
    /// The answers to a published contact taken already (their MessageIds).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    taken: Vec<String>,
    /// A published contact's locator (its UniqueId among the account's publications).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    locator: Option<String>,
}

impl Sent {
    fn published(&self) -> bool {
        self.recipient == ANYONE
    }

    /// Still answered at `now`: a published contact's answers are taken until a week past its
    /// end (whoever answers took the PIN from it while it lasted; the week lets the publisher
    /// sync late), a request's until it is answered.
    fn open_at(&self, now: u64) -> bool {
        self.expires
            .is_none_or(|e| now <= e.saturating_add(GRACE_SECONDS))
    }
}

/// How long after a published contact's end its answers are still taken.
const GRACE_SECONDS: u64 = 7 * 24 * 3600;

/// The recipient of a published contact: whoever holds its URI.
const ANYONE: &str = "*";

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
            expires: None,
            taken: vec![],
            locator: None,
        });
        // The oldest requests forgotten past a bound (their answers then make no contact);
        // publications are not counted.
        let requests = list.iter().filter(|s| !s.published()).count();
        let mut excess = requests.saturating_sub(MOST_KEPT);
        list.retain(|s| {
            let drop = excess > 0 && !s.published();
            excess -= usize::from(drop);
            !drop
        });
        save(account, &list)
    })?;
    Session::open(device, account)?.send(&[to], envelope)?;
    Ok(message_id)
}

/// Publish this account's contact under a fresh EARL (protocol-09 §8.3.3; the reference's
/// `contact static` / `contact dynamic`): a MessageContact signed by this device, carrying the
/// account's profile and a PIN, encrypted under the EARL key in the account's publications,
/// claimable any number of times by whoever holds the URI until `lifetime` ends (never, for a
/// static contact). Whoever answers it with `contact exchange` (the PIN back, from a checked
/// account) becomes a contact here at the next sync. Returns the `mcu://ADDRESS/KEY` URI.
pub fn publish(
    device: &Device,
    account: &Account,
    lifetime: Option<std::time::Duration>,
) -> Result<String> {
    account.require_message_right()?;
    let key = mesh_udf::random::encryption_key(128).to_string();
    let message_id = mesh_udf::random::nonce(128).to_string();
    let pin = mesh_udf::random::nonce(128).to_string();
    let message = MessageContact {
        message_id: Some(message_id.clone()),
        sender: Some(account.address.clone()),
        authenticated_data: Some(account.profile_envelope()?),
        reply: Some(true),
        pin: Some(pin.clone()),
        ..Default::default()
    };
    let (sealed, _) = messages::seal_message(device, account, message.into(), &message_id, "")?;
    let expires = lifetime.map(|l| unix_now() + l.as_secs().max(1));
    let not_on_or_after = expires.map(rfc3339).transpose()?;
    // Kept first: an answer never comes to a publication this device forgot.
    let locator = mesh_udf::earl_locator(&key);
    let path = account.dir().join(FILE);
    store::append_to_list(
        &path,
        Sent {
            message_id,
            recipient: ANYONE.into(),
            pin,
            expires,
            taken: vec![],
            locator: Some(locator.clone()),
        },
    )?;
    let published = crate::preconfig::publish(
        device,
        account,
        &key,
        sealed.to_json()?.as_bytes(),
        Some(PUBLISHED_CONTACT),
        not_on_or_after,
    );
    if let Err(e) = published {
        // Never published (the service out of reach, say): nothing of it is kept.
        forget_publication(account, &locator)?;
        return Err(e);
    }
    Ok(format!("mcu://{}/{key}", account.address))
}

use mesh_schema::catalog::PUBLISHED_CONTACT;

fn rfc3339(unix: u64) -> Result<String> {
    let at = time::OffsetDateTime::from_unix_timestamp(unix as i64)
        .map_err(|e| ClientError::Invalid(e.to_string()))?;
    at.format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| ClientError::Invalid(e.to_string()))
}

/// Take the contact published at `uri` (`contact fetch`): claimed from the publisher's service
/// with the URI's key, and kept only if it is signed by a device of the publisher's account,
/// the profile it carries being for that address. With `exchange`, this account's contact goes
/// back carrying the publication's PIN, so that the publisher takes it too. Returns the
/// publisher's address and profile UDF.
pub fn fetch(
    device: &Device,
    account: &Account,
    uri: &str,
    service: Option<&str>,
    exchange: bool,
) -> Result<(String, String)> {
    if exchange {
        account.require_message_right()?;
    }
    let (signer, _, _) = crate::online::device_credentials(device, account)?;
    let (publisher, plain) =
        crate::preconfig::claim_publication(account, &signer, uri, service, true)?;
    let envelope = mesh_dare::DareEnvelope::parse(&plain)?;
    let message = match mesh_schema::signed::read(&envelope, &mesh_dare::KeyRing::new())? {
        MeshItem::MessageContact(m) => *m,
        _ => {
            return Err(ClientError::Invalid(
                "the publication is not a contact".into(),
            ))
        }
    };
    if !message
        .sender
        .as_deref()
        .is_some_and(|s| s.eq_ignore_ascii_case(&publisher))
    {
        return Err(ClientError::Invalid(format!(
            "the contact published by {publisher} names another sender"
        )));
    }
    let verified = messages::check_signer(
        &envelope,
        message.sender.as_deref(),
        message.authenticated_data.clone(),
    )
    .map_err(|why| {
        ClientError::Invalid(format!(
            "the contact of {publisher} does not check out: {why}"
        ))
    })?;
    // A URI proves nothing of who made it: a key kept for that address already is replaced only
    // by its own successor (a rotation), never by whatever a URI gives.
    if let Some(kept) = messages::kept_profile_envelope(account, &publisher)? {
        let (kept, kept_udf) = mesh_schema::signed::verify_profile_user(&kept)?;
        if kept_udf != verified.udf() && !verified.profile().replaces(&kept) {
            return Err(ClientError::Invalid(format!(
                "the contact of {publisher} at this URI has the profile {}, not the {kept_udf} \
                 kept for them: not taken (delete the contact first if they made a new account)",
                verified.udf()
            )));
        }
    }
    keep_contact(account, verified.address(), verified.profile_envelope())?;
    let mut session = Session::open(device, account)?;
    session.push(CatalogKind::Contact.name())?;
    if exchange {
        send_contact(&session, device, account, &publisher, message.pin.clone())?;
    }
    Ok((publisher, verified.udf().to_string()))
}

/// Send this account's contact to `to`, answering a request or publication with its `pin`.
fn send_contact(
    session: &Session,
    device: &Device,
    account: &Account,
    to: &str,
    pin: Option<String>,
) -> Result<()> {
    let reply_id = mesh_udf::random::nonce(128).to_string();
    let reply = MessageContact {
        message_id: Some(reply_id.clone()),
        sender: Some(account.address.clone()),
        recipient: Some(to.to_string()),
        authenticated_data: Some(account.profile_envelope()?),
        reply: Some(false),
        pin,
        ..Default::default()
    };
    let (sealed, _) = messages::seal_message(device, account, reply.into(), &reply_id, to)?;
    session.send(&[to.to_string()], sealed)
}

/// Forget the publication at `locator` among those whose answers are taken; false if there was
/// none.
fn forget_publication(account: &Account, locator: &str) -> Result<bool> {
    store::locked(&account.dir().join(FILE), || {
        let mut list = load(account)?;
        let before = list.len();
        list.retain(|s| s.locator.as_deref() != Some(locator));
        save(account, &list)?;
        Ok(list.len() != before)
    })
}

/// Withdraw the contact published at `uri` (this account's): its publication deleted at the
/// service (a fetch then finds nothing) and its answers no longer taken.
pub fn unpublish(device: &Device, account: &Account, uri: &str) -> Result<()> {
    let (publisher, _, locator) = crate::preconfig::parse_uri(uri)?;
    if publisher != account.address {
        return Err(ClientError::Invalid(format!(
            "{uri} is not a publication of {}",
            account.address
        )));
    }
    if !forget_publication(account, &locator)? {
        return Err(ClientError::Invalid(format!(
            "no contact of this device's is published at {uri}"
        )));
    }
    let deletion = mesh_dare::DareEnvelope::encode(
        b"",
        &mesh_dare::EnvelopeOptions {
            meta: Some(mesh_dare::ContentMeta {
                unique_id: Some(locator),
                event: Some(mesh_dare::catalog::EVENT_DELETE.into()),
                ..Default::default()
            }),
            ..Default::default()
        },
    )?;
    Session::open(device, account)?.append_remote(crate::preconfig::PUBLISHED, vec![deletion])
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
    messages::pending(account, pick, answered_marker)
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
            send_contact(&session, device, account, &named, request.pin.clone())?;
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
            // Never back to an earlier profile of theirs (a URI published before they rotated
            // their keys, a request or reply carrying one): its keys may be held by the devices
            // the rotation removed.
            let held = kept
                .enveloped_profile_user
                .as_ref()
                .and_then(|e| mesh_schema::signed::verify_profile_user(e).ok());
            let offered = mesh_schema::signed::verify_profile_user(profile)?;
            if held.is_some_and(|(held, _)| held.replaces(&offered.0)) {
                return Err(ClientError::Invalid(format!(
                    "the profile offered for {address} is earlier than the one kept for them \
                     (their keys were rotated since): not taken"
                )));
            }
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
/// Answers to one published contact remembered as taken.
const MOST_TAKEN: usize = 10_000;

fn unix_now() -> u64 {
    time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64
}

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
        let now = unix_now();
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
                (s.recipient.eq_ignore_ascii_case(v.address()) || s.published())
                    && message.pin.as_deref() == Some(s.pin.as_str())
                    && s.open_at(now)
            }) else {
                continue;
            };
            // A published contact is answered by many, each answer taken once (and past a bound,
            // no more: it is then withdrawn in effect).
            if sent[at].published() {
                let id = message.message_id.clone().unwrap_or_default();
                if sent[at].taken.contains(&id) || sent[at].taken.len() >= MOST_TAKEN {
                    continue;
                }
                sent[at].taken.push(id);
            } else {
                sent.remove(at);
            }
            keep_contact(account, v.address(), v.profile_envelope())?;
            made += 1;
        }
        // Publications past their end and its grace are forgotten.
        let before = sent.len();
        sent.retain(|s| s.open_at(now));
        if made > 0 || sent.len() != before {
            save(account, &sent)?;
        }
        Ok(made)
    })
}
