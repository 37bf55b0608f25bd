//! Messages between accounts (protocol-09 §8, §10.13), in the four-corner model: the sender's
//! device gives its message to its own service in a Transact; that service checks the message
//! is signed by the very device that sent the Transact and names that device's connection
//! ([`check_outbound`]), then delivers it — into the recipient's inbound spool when the recipient
//! is one of its own accounts, else through the outbox to the recipient's service in a
//! PostRequest it signs. The recipient's service takes a Post only from the service of the
//! domain the messages come from ([`crate::auth`]), and each message only if the connection it
//! carries is for an account of that domain and signed it ([`post`]). The recipient's device
//! checks the rest end to end (the connection against the sender's profile).

use mesh_dare::DareEnvelope;
use mesh_protocol::messages::*;
use mesh_protocol::Response;
use mesh_schema::key::required;
use mesh_schema::sender;

use super::sync::{message_bytes, over_inbound_bytes, over_queued_bytes, over_sender_bytes};
use super::{Ctx, Outcome};
use crate::auth::{Caller, DeviceCaller};
use crate::host::{ServiceHost, INBOUND};
use crate::peers::domain_of;
use crate::refusal::Refusal;
use crate::store::Update;

/// A message a device of this service gives for another account: signed by that device's
/// connection key, and carrying that device's connection, signed by its account's
/// administrator key.
/// `admin` is the caller's account's administrator key.
pub fn check_outbound(
    caller: &DeviceCaller,
    admin: &mesh_crypto::PublicKey,
    message: &DareEnvelope,
) -> Result<(), Refusal> {
    let connection = sender::verify_sender(message, admin).map_err(|e| {
        Refusal::Forbidden(format!(
            "a message for another account must be signed by the sending device and carry its \
             connection: {e}"
        ))
    })?;
    let same_key = required(&connection.signature, "Signature")
        .map(|k| k.udf() == caller.signature.udf())
        .unwrap_or(false);
    let same_account = crate::peers::same_address(
        connection.account_address.as_deref(),
        &caller.account.address,
    );
    if !same_key || !same_account {
        return Err(Refusal::Forbidden(
            "a message may only be sent as the device that sends it".into(),
        ));
    }
    Ok(())
}

/// The accounts named, each once and in lower case (a name given twice is neither delivered nor
/// counted twice).
pub(crate) fn recipients(named: &[String]) -> Vec<String> {
    let mut accounts: Vec<String> = Vec::new();
    for account in named {
        let account = account.to_ascii_lowercase();
        if !accounts.contains(&account) {
            accounts.push(account);
        }
    }
    accounts
}

/// Deliver checked messages from `sender` to `recipients`: into the inbound spool of each that
/// is an account here, and to the outbox for the others, one item per recipient service.
pub fn deliver(
    host: &ServiceHost,
    recipients: &[String],
    messages: &[DareEnvelope],
    sender: &str,
) -> Result<(), Refusal> {
    let mut elsewhere: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for account in recipients {
        if host.serves(account).is_ok() && host.store.account(account)?.is_some() {
            let deliver = Update::append(INBOUND, messages.to_vec());
            host.store.transact(account, &[deliver])?;
        } else {
            elsewhere
                .entry(domain_of(account))
                .or_default()
                .push(account.clone());
        }
    }
    for accounts in elsewhere.values() {
        let Some(outbox) = &host.outbox else {
            return Err(Refusal::NotFound(format!(
                "no account {} here, and this service does not forward",
                accounts.join(", ")
            )));
        };
        // Durable before the Transact is acknowledged.
        outbox
            .enqueue(accounts, messages, sender)
            .map_err(crate::store::StoreError::from)?;
    }
    Ok(())
}

/// Post (§10.13): messages from another service's accounts, into the inbound spools of ours.
pub fn post(ctx: &Ctx, caller: &Caller, r: &PostRequest) -> Outcome {
    let Caller::Service { domain } = caller else {
        return Err(Refusal::Internal);
    };
    if r.messages.is_empty() || r.accounts.is_empty() {
        return Err(Refusal::Malformed(
            "a PostRequest needs accounts and messages".into(),
        ));
    }
    if r.accounts.len() > crate::host::MAX_RECIPIENTS {
        return Err(Refusal::Oversized(format!(
            "{} recipients in one Post; the limit is {}",
            r.accounts.len(),
            crate::host::MAX_RECIPIENTS
        )));
    }
    let mut senders: Vec<String> = Vec::new();
    for message in &r.messages {
        let connection = sender::claimed_sender(message).map_err(|e| {
            Refusal::Forbidden(format!("a posted message is not signed by its sender: {e}"))
        })?;
        if let Some(address) = &connection.account_address {
            let address = address.to_ascii_lowercase();
            if !senders.contains(&address) {
                senders.push(address);
            }
        }
        let from = connection
            .account_address
            .as_deref()
            .map(domain_of)
            .unwrap_or_default();
        if from != *domain {
            return Err(Refusal::Forbidden(format!(
                "the service of {domain} may post messages from its own accounts only, not {from}"
            )));
        }
    }
    let host = ctx.host;
    // Bounded in octets as well as entries: per sending domain, and per recipient account.
    let bytes = message_bytes(&r.messages);
    let accounts = recipients(&r.accounts);
    over_sender_bytes(host, domain, bytes.saturating_mul(accounts.len() as u64))?;
    for address in &accounts {
        let record = host
            .store
            .account(address)?
            .ok_or_else(|| Refusal::NotFound(format!("no account {address} on this service")))?;
        host.not_blocked(&record, &senders)?;
        // Over a limit, the sending service keeps the messages and tries again later. What the
        // spool cannot take is refused before anything is counted; messages from other
        // services are counted apart from the account's own updates, which they cannot then
        // use up.
        over_queued_bytes(host, address, bytes)?;
        over_inbound_bytes(host, address, bytes)?;
        super::sync::over_post_limit(host, address, r.messages.len() as u64)?;
    }
    ctx.commit()?;
    for (n, account) in accounts.iter().enumerate() {
        let update = Update::append(INBOUND, r.messages.clone());
        match host.store.transact(account, &[update]) {
            Ok(_) => {}
            // Nothing delivered yet: the sender may try again.
            Err(e) if n == 0 => return Err(e.into()),
            // Some accounts have it already: not "nothing applied".
            Err(e) => return Err(super::sync::after_commit(e)),
        }
    }
    Ok(Response::PostResponse(TransactResponse {
        status: Some(200),
        ..Default::default()
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_recipient_once() {
        let named: Vec<String> = [
            "Bob@example.com",
            "bob@example.com",
            "alice@example.com",
            "carol@example.com",
            "BOB@EXAMPLE.COM",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            super::recipients(&named),
            ["bob@example.com", "alice@example.com", "carol@example.com"]
        );
    }
}
