//! `mesh message send|list`: contact messages between accounts (schema-08 MessageContact),
//! carried by the services (delivered at once on the same service, queued and retried across
//! services); `confirm|pending|accept|reject|status`: confirmations
//! ([`mesh_client::confirmations`]); `pending|accept|reject|block` also answer contact
//! requests ([`mesh_client::contact_exchange`]).

use std::path::PathBuf;

use clap::Subcommand;
use mesh_client::confirmations;
use mesh_client::contact_exchange::{self, Answer};
use mesh_client::messages::{self, Received, Sender};
use mesh_client::online::Session;

use crate::commands::catalog::Common;
use crate::output::printable;
use crate::session;

#[derive(Subcommand)]
pub enum MessageCommand {
    /// Send a contact message to another account.
    Send { to: String, text: String },
    /// Messages received (after a sync).
    List,
    /// Ask ADDRESS to confirm TEXT (a console asking a person to approve); prints the
    /// request's MessageId and the ResponseID its answer will carry.
    Confirm { to: String, text: String },
    /// Requests to confirm something, and contact requests, not yet answered.
    Pending,
    /// Accept the request MESSAGEID (a signed answer goes back to who asked; for a contact
    /// request, the sender becomes a contact and gets this account's contact back).
    Accept { id: String },
    /// Reject the request MESSAGEID.
    Reject { id: String },
    /// Reject the contact request MESSAGEID and block its sender: the service refuses anything
    /// from that address to this account from now on (an administrator device's to do).
    Block { id: String },
    /// What became of a request sent from here (by its MessageId or ResponseID): Accept,
    /// Reject or Pending.
    Status { id: String },
}

pub fn run(cmd: MessageCommand, common: &Common, data: &Option<PathBuf>) -> anyhow::Result<()> {
    let device = session::open(data)?;
    let account = device.account(common.account.as_deref())?;
    match cmd {
        MessageCommand::Send { to, text } => {
            let (message_id, encrypted) = messages::send(&device, &account, &to, &text)?;
            if common.json {
                println!(
                    "{}",
                    serde_json::json!({"Sent": message_id, "To": to, "Encrypted": encrypted})
                );
            } else if encrypted {
                println!("Sent to {to}, encrypted to their key");
            } else {
                println!(
                    "Sent to {to}, signed but not encrypted: no key of theirs is known here \
                     (once they have written to you, `mesh contact add {to}` keeps their key)"
                );
            }
            Ok(())
        }
        MessageCommand::List => {
            contact_exchange::sync(&mut Session::open(&device, &account)?, &account)?;
            let rows: Vec<serde_json::Value> = messages::received(&account)?
                .into_iter()
                .map(|r| match r {
                    Received::Contact {
                        message,
                        sender,
                        encrypted,
                        ..
                    } => {
                        let (verified, profile, why) = match &sender {
                            Sender::Verified(v) => (true, Some(v.udf().to_string()), None),
                            Sender::Unverified(why) => (false, None, Some(why.clone())),
                        };
                        serde_json::json!({
                            "From": message.sender,
                            "Verified": verified,
                            "Unverified": why,
                            "Text": message.subject,
                            "MessageId": message.message_id,
                            "Encrypted": encrypted,
                            "SenderProfile": profile,
                        })
                    }
                    Received::Error(m) => serde_json::json!({
                        "From": "service",
                        "Text": format!("not delivered to {}: {}", m.sender.unwrap_or_default(), m.error_code.unwrap_or_default()),
                        "MessageId": m.message_id,
                        "Error": true,
                    }),
                    Received::ConfirmationRequest {
                        message, sender, ..
                    } => serde_json::json!({
                        "From": message.sender,
                        "Verified": matches!(sender, Sender::Verified(_)),
                        "Unverified": unverified(&sender),
                        "Text": format!("asks to confirm: {}", message.text.unwrap_or_default()),
                        "MessageId": message.message_id,
                        "Confirmation": "Request",
                    }),
                    Received::ConfirmationResponse { message, sender } => serde_json::json!({
                        "From": message.sender,
                        "Verified": matches!(sender, Sender::Verified(_)),
                        "Unverified": unverified(&sender),
                        "Text": match message.accept {
                            Some(true) => "accepted",
                            Some(false) => "rejected",
                            None => "answered without saying yes or no",
                        },
                        "MessageId": message.message_id,
                        "Confirmation": "Response",
                    }),
                    Received::GroupInvitation { message, sender } => serde_json::json!({
                        "From": message.sender,
                        "Verified": matches!(sender, Sender::Verified(_)),
                        "Unverified": unverified(&sender),
                        "Text": format!("made you {}", message.text.unwrap_or_default()),
                        "MessageId": message.message_id,
                        "Group": true,
                    }),
                })
                .collect();
            if common.json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if rows.is_empty() {
                println!("No messages.");
            } else {
                for r in &rows {
                    if let Some(why) = r["Unverified"].as_str() {
                        println!(
                            "UNVERIFIED, claims to be from {} ({why}): {}",
                            printable(r["From"].as_str().unwrap_or("?")),
                            printable(r["Text"].as_str().unwrap_or(""))
                        );
                        continue;
                    }
                    println!(
                        "{}{}: {}",
                        printable(r["From"].as_str().unwrap_or("?")),
                        if r["Encrypted"] == true {
                            " (encrypted)"
                        } else {
                            ""
                        },
                        printable(r["Text"].as_str().unwrap_or(""))
                    );
                }
            }
            Ok(())
        }
        MessageCommand::Confirm { to, text } => {
            let sent = confirmations::request(&device, &account, &to, &text)?;
            if common.json {
                println!(
                    "{}",
                    serde_json::json!({"MessageId": sent.message_id, "ResponseId": sent.response_id, "To": sent.recipient})
                );
            } else {
                println!("Message ID: {}", sent.message_id);
                println!("Response ID: {}", sent.response_id);
                println!(
                    "(mesh message status {} shows the answer)",
                    sent.response_id
                );
            }
            Ok(())
        }
        MessageCommand::Pending => {
            contact_exchange::sync(&mut Session::open(&device, &account)?, &account)?;
            let row = |kind: &str, id, from, sender: &Sender, text| {
                serde_json::json!({
                    "Kind": kind,
                    "MessageId": id,
                    "From": from,
                    "Verified": matches!(sender, Sender::Verified(_)),
                    "Unverified": unverified(sender),
                    "Text": text,
                })
            };
            let mut rows: Vec<serde_json::Value> = confirmations::pending(&account)?
                .into_iter()
                .map(|p| {
                    let m = p.message;
                    row("Confirmation", m.message_id, m.sender, &p.sender, m.text)
                })
                .collect();
            rows.extend(contact_exchange::pending(&account)?.into_iter().map(|p| {
                let m = p.message;
                let text = Some("asks to exchange contacts".to_string());
                let mut r = row("Contact", m.message_id, m.sender, &p.sender, text);
                // The key it would be kept with, to compare with what they show out of band.
                if let Sender::Verified(v) = &p.sender {
                    r["ProfileUdf"] = v.udf().into();
                }
                r
            }));
            if common.json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if rows.is_empty() {
                println!("Nothing waiting for an answer.");
            } else {
                for r in &rows {
                    let from = printable(r["From"].as_str().unwrap_or("?"));
                    match r["Unverified"].as_str() {
                        Some(why) => println!(
                            "{}  UNVERIFIED, claims to be from {from} ({why}): {}",
                            printable(r["MessageId"].as_str().unwrap_or("")),
                            printable(r["Text"].as_str().unwrap_or(""))
                        ),
                        None if r["Kind"] == "Contact" => println!(
                            "{}  {from} asks to exchange contacts (their profile {})",
                            printable(r["MessageId"].as_str().unwrap_or("")),
                            printable(r["ProfileUdf"].as_str().unwrap_or("?")),
                        ),
                        None => println!(
                            "{}  {from} asks to confirm: {}",
                            printable(r["MessageId"].as_str().unwrap_or("")),
                            printable(r["Text"].as_str().unwrap_or(""))
                        ),
                    }
                }
            }
            Ok(())
        }
        MessageCommand::Accept { id } => answer(&device, &account, common, &id, Answer::Accept),
        MessageCommand::Reject { id } => answer(&device, &account, common, &id, Answer::Reject),
        MessageCommand::Block { id } => answer(&device, &account, common, &id, Answer::Block),
        MessageCommand::Status { id } => {
            contact_exchange::sync(&mut Session::open(&device, &account)?, &account)?;
            let (sent, status, refused) = confirmations::status(&account, &id)?;
            let word = match status {
                confirmations::Status::Accepted => "Accept",
                confirmations::Status::Rejected => "Reject",
                confirmations::Status::Pending => "Pending",
                confirmations::Status::Conflicting => "Conflicting",
            };
            if common.json {
                println!(
                    "{}",
                    serde_json::json!({"Status": word, "MessageId": sent.message_id, "ResponseId": sent.response_id, "To": sent.recipient, "Refused": refused})
                );
            } else {
                println!("{word}");
                if refused > 0 {
                    eprintln!(
                        "warning: {refused} answer(s) to this request were refused: not signed by \
                         {} or not carrying the request sent",
                        sent.recipient
                    );
                }
            }
            Ok(())
        }
    }
}

/// Why a sender could not be checked, if it could not.
fn unverified(sender: &Sender) -> Option<String> {
    match sender {
        Sender::Verified(_) => None,
        Sender::Unverified(why) => Some(why.clone()),
    }
}

/// `message accept|reject ID`: answer a request to confirm (after a sync).
fn answer(
    device: &mesh_client::Device,
    account: &mesh_client::Account,
    common: &Common,
    id: &str,
    what: Answer,
) -> anyhow::Result<()> {
    contact_exchange::sync(&mut Session::open(device, account)?, account)?;
    let verb = match what {
        Answer::Accept => "Accepted",
        Answer::Reject => "Rejected",
        Answer::Block => "Blocked",
    };
    let contact = contact_exchange::is_contact_request(account, id)?;
    if contact && confirmations::is_request(account, id)? {
        anyhow::bail!(
            "{id} names both a contact request and a request to confirm: neither is answered"
        );
    }
    if contact {
        let from = contact_exchange::answer(device, account, id, what)?;
        if common.json {
            println!("{}", serde_json::json!({ verb: id, "From": from }));
        } else {
            match what {
                Answer::Accept => println!("Accepted {id}: {from} is a contact, and has yours"),
                Answer::Reject => println!("Rejected {id} from {from}"),
                Answer::Block => println!(
                    "Blocked {from}: the service refuses their messages to {} from now on",
                    account.address
                ),
            }
        }
        return Ok(());
    }
    let accept = match what {
        Answer::Accept => true,
        Answer::Reject => false,
        Answer::Block => anyhow::bail!(
            "no contact request {id} (a sender is blocked by the contact request they sent)"
        ),
    };
    confirmations::answer(device, account, id, accept)?;
    if common.json {
        println!("{}", serde_json::json!({ verb: id }));
    } else {
        println!("{verb} {id}");
    }
    Ok(())
}
