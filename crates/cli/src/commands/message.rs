//! `mesh message send|list`: contact messages between accounts (schema-08 MessageContact),
//! carried by the services (delivered at once on the same service, queued and retried across
//! services).

use std::path::PathBuf;

use clap::Subcommand;
use mesh_client::messages::{self, Received, Sender};
use mesh_client::online::Session;

use crate::commands::catalog::Common;
use crate::session;

#[derive(Subcommand)]
pub enum MessageCommand {
    /// Send a contact message to another account.
    Send { to: String, text: String },
    /// Messages received (after a sync).
    List,
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
            Session::open(&device, &account)?.sync(&mut |_, _, _| {})?;
            let rows: Vec<serde_json::Value> = messages::received(&account)?
                .into_iter()
                .map(|r| match r {
                    Received::Contact {
                        message,
                        sender,
                        encrypted,
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
                            r["From"].as_str().unwrap_or("?"),
                            r["Text"].as_str().unwrap_or("")
                        );
                        continue;
                    }
                    println!(
                        "{}{}: {}",
                        r["From"].as_str().unwrap_or("?"),
                        if r["Encrypted"] == true {
                            " (encrypted)"
                        } else {
                            ""
                        },
                        r["Text"].as_str().unwrap_or("")
                    );
                }
            }
            Ok(())
        }
    }
}
