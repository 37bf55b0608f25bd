//! Confirmations (protocol-09 §8.5; the reference's `ProtocolConfirmation`,
//! `ArchitectureConfirm`): one account asks another to confirm something — a console asking a
//! person's phone to approve a login — and learns the answer, signed by the account it asked.
//!
//! The requester sends a RequestConfirmation `{MessageId, Sender, Recipient, Text}` and keeps it
//! (`confirmations.json` beside the catalogs). The recipient answers with a
//! ResponseConfirmation `{MessageId, Sender, Recipient, Request, Accept}` whose MessageId is the
//! request's ResponseID ([`mesh_schema::ids::response_id`]) and whose `Request` is the request's
//! envelope as it arrived. Both are messages like any other between accounts: signed by the
//! sending device, carrying its connection and the account's profile
//! ([`crate::messages::seal_message`]), encrypted to the other account's key when known. The
//! requester takes an answer only if its sender checks out as the very account the request was
//! sent to and it carries the request this device sent; anything else is counted as refused,
//! never taken for an answer.

use mesh_dare::DareEnvelope;
use mesh_schema::message::{RequestConfirmation, ResponseConfirmation};
use serde::{Deserialize, Serialize};

use crate::context::{Account, Device};
use crate::messages::{self, Received, Sender};
use crate::online::Session;
use crate::{store, ClientError, Result};

const FILE: &str = "confirmations.json";

/// The longest text a request may carry (what is asked is a line, not a document).
pub const MAX_TEXT: usize = 1000;

/// A request this device sent.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Sent {
    pub message_id: String,
    pub response_id: String,
    pub recipient: String,
    pub text: String,
    /// The request's envelope as sent (JSON).
    envelope: String,
}

fn load(account: &Account) -> Result<Vec<Sent>> {
    store::read_list(&account.dir().join(FILE))
}

/// Ask `to` to confirm `text`. Returns the request as kept (its MessageId and the ResponseID
/// its answer will carry).
pub fn request(device: &Device, account: &Account, to: &str, text: &str) -> Result<Sent> {
    account.require_message_right()?;
    if text.chars().count() > MAX_TEXT || text.chars().any(char::is_control) {
        return Err(ClientError::Invalid(format!(
            "what is asked is one line of at most {MAX_TEXT} characters"
        )));
    }
    let to = to.to_ascii_lowercase();
    let message_id = mesh_udf::random::nonce(128).to_string();
    let message = RequestConfirmation {
        message_id: Some(message_id.clone()),
        sender: Some(account.address.clone()),
        recipient: Some(to.clone()),
        text: Some(text.to_string()),
        ..Default::default()
    };
    let (envelope, _) = messages::seal_message(device, account, message.into(), &message_id, &to)?;
    let sent = Sent {
        response_id: mesh_schema::ids::response_id(&message_id)?,
        message_id,
        recipient: to.clone(),
        text: text.to_string(),
        envelope: envelope.to_json()?,
    };
    // Kept before it leaves: an answer never comes to a request this device forgot.
    store::append_to_list(&account.dir().join(FILE), sent.clone())?;
    Session::open(device, account)?.send(&[to], envelope)?;
    Ok(sent)
}

/// A request to confirm to this account, not yet answered.
pub type Pending = messages::Pending<RequestConfirmation>;

/// The marker of an answered request: by who asked and the request's id (two senders may
/// choose the same id).
fn answered_marker(sender: &str, message_id: &str) -> String {
    format!("Confirmed:{}:{message_id}", sender.to_ascii_lowercase())
}

/// Is `text` fit to show as one line: no control characters (which could rewrite what the
/// terminal shows), not overlong?
fn showable(text: &str) -> bool {
    text.chars().count() <= MAX_TEXT && !text.chars().any(char::is_control)
}

/// A request as it may be shown and answered: its id a UDF, its sender an address, its text
/// one line. Anything else is no request (it is never shown, nor answerable).
fn well_formed(message: &RequestConfirmation) -> bool {
    message
        .message_id
        .as_deref()
        .is_some_and(|id| mesh_udf::Udf::parse(id).is_ok())
        && message
            .sender
            .as_deref()
            .is_some_and(|s| s.contains('@') && showable(s))
        && message.text.as_deref().is_none_or(showable)
}

/// A request to confirm, from what was received (with the envelope it came in).
fn pick(r: Received) -> Option<messages::Request<(RequestConfirmation, DareEnvelope)>> {
    match r {
        Received::ConfirmationRequest {
            message,
            sender,
            envelope,
        } if well_formed(&message) => Some(messages::Request {
            id: message.message_id.clone().unwrap_or_default(),
            named_sender: message.sender.clone().unwrap_or_default(),
            request: (message, envelope),
            sender,
        }),
        _ => None,
    }
}

/// Is `message_id` a request to confirm sent to this account (answered or not)?
pub fn is_request(account: &Account, message_id: &str) -> Result<bool> {
    Ok(messages::received(account)?
        .into_iter()
        .filter_map(pick)
        .any(|r| r.id == message_id))
}

/// The requests to this account not yet answered (by any of its devices), oldest first (sync
/// first to see new ones).
pub fn pending(account: &Account) -> Result<Vec<Pending>> {
    messages::pending(account, pick, answered_marker)
}

/// Answer the request `message_id`: accept or reject it. Only a request whose sender checked
/// out is answered: accepting what an unknown party asked in someone else's name would vouch
/// for it.
pub fn answer(device: &Device, account: &Account, message_id: &str, accept: bool) -> Result<()> {
    account.require_message_right()?;
    let messages::Request {
        request: (request, envelope),
        sender,
        ..
    } = messages::the_request(account, message_id, pick, "request to confirm")?;
    let from = match sender {
        Sender::Verified(v) => v.address().to_string(),
        Sender::Unverified(why) => {
            return Err(ClientError::Invalid(format!(
                "the request {message_id} could not be checked to come from who it names \
                 ({why}): it is not answered"
            )))
        }
    };
    let id = request.message_id.clone().unwrap_or_default();
    let marker = answered_marker(&from, &id);
    if crate::connect::local_entry(account, &marker)?.is_some() {
        return Err(ClientError::Invalid(format!(
            "the request {id} was answered already"
        )));
    }
    let response_id = mesh_schema::ids::response_id(&id)?;
    let response = ResponseConfirmation {
        message_id: Some(response_id.clone()),
        sender: Some(account.address.clone()),
        recipient: Some(from.clone()),
        request: Some(envelope),
        accept: Some(accept),
        ..Default::default()
    };
    let (sealed, _) =
        messages::seal_message(device, account, response.into(), &response_id, &from)?;
    let session = Session::open(device, account)?;
    session.send(&[from], sealed)?;
    session.post_own(vec![crate::connect::local_marker(&marker)?], vec![])?;
    Ok(())
}

/// What became of a request this device sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Pending,
    Accepted,
    Rejected,
    /// The account asked answered both ways (two of its devices at once, say): neither is
    /// taken.
    Conflicting,
}

/// The state of the request `id` (its MessageId or ResponseID) from the answers received (sync
/// first), and how many answers to it were refused (not signed by the account asked, or not
/// carrying the request sent).
pub fn status(account: &Account, id: &str) -> Result<(Sent, Status, usize)> {
    let sent = load(account)?
        .into_iter()
        .find(|s| s.message_id.eq_ignore_ascii_case(id) || s.response_id.eq_ignore_ascii_case(id))
        .ok_or_else(|| ClientError::Invalid(format!("no request {id} was sent from here")))?;
    let request = DareEnvelope::parse(sent.envelope.as_bytes())?;
    let mut refused = 0;
    let mut answers = Vec::new();
    for r in messages::received(account)? {
        let Received::ConfirmationResponse { message, sender } = r else {
            continue;
        };
        if message.message_id.as_deref() != Some(sent.response_id.as_str()) {
            continue;
        }
        let from_asked = matches!(&sender, Sender::Verified(v)
            if v.address().eq_ignore_ascii_case(&sent.recipient));
        // The very envelope sent: its payload (under a fresh MessageId, encrypted or not) is
        // this request's alone.
        let carries_ours = message
            .request
            .as_ref()
            .is_some_and(|e| e.payload == request.payload);
        match (from_asked && carries_ours, message.accept) {
            (true, Some(accept)) => answers.push(accept),
            _ => refused += 1,
        }
    }
    let status = match (answers.contains(&true), answers.contains(&false)) {
        (true, true) => Status::Conflicting,
        (true, false) => Status::Accepted,
        (false, true) => Status::Rejected,
        (false, false) => Status::Pending,
    };
    Ok((sent, status, refused))
}
