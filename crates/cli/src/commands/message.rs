//! `mesh message send|list`: contact messages between accounts (schema-08 MessageContact),
//! carried by the services (delivered at once on the same service, queued and retried across
//! services).

use std::path::PathBuf;

use clap::Subcommand;
use mesh_client::online::Session;
use mesh_dare::{Container, KeyRing, Mode};
use mesh_schema::message::MessageContact;
use mesh_schema::{signed, MeshItem};

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
            let message_id = mesh_udf::random::nonce(128).to_string();
            let message = MessageContact {
                message_id: Some(message_id.clone()),
                sender: Some(account.address.clone()),
                recipient: Some(to.to_ascii_lowercase()),
                subject: Some(text),
                authenticated_data: Some(account.profile_envelope()?),
                ..Default::default()
            };
            let (signer, _, _) = mesh_client::online::device_credentials(&device, &account)?;
            let envelope = signed::seal(
                &message.into(),
                &signer,
                Some(&mesh_schema::ids::envelope_id(&message_id)?),
                &[],
            )?;
            Session::open(&device, &account)?.send(&[to.to_ascii_lowercase()], envelope)?;
            if common.json {
                println!("{}", serde_json::json!({"Sent": message_id, "To": to}));
            } else {
                println!("Sent to {to}");
            }
            Ok(())
        }
        MessageCommand::List => {
            Session::open(&device, &account)?.sync(&mut |_, _, _| {})?;
            let path = account.dir().join("MMM_Inbound.dare");
            let mut rows = Vec::new();
            if path.exists() {
                let inbound = Container::open(path, Mode::Read)?;
                for i in 1..inbound.frame_count() {
                    let env = inbound.read(i)?;
                    match signed::read(&env, &KeyRing::new()) {
                        Ok(MeshItem::MessageContact(m)) => rows.push(serde_json::json!({"From": m.sender, "Text": m.subject, "MessageId": m.message_id})),
                        Ok(MeshItem::MessageError(m)) => rows.push(serde_json::json!({"From": "service", "Text": format!("not delivered to {}: {}", m.sender.unwrap_or_default(), m.error_code.unwrap_or_default()), "MessageId": m.message_id, "Error": true})),
                        _ => {}
                    }
                }
            }
            if common.json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if rows.is_empty() {
                println!("No messages.");
            } else {
                for r in &rows {
                    println!(
                        "{}: {}",
                        r["From"].as_str().unwrap_or("?"),
                        r["Text"].as_str().unwrap_or("")
                    );
                }
            }
            Ok(())
        }
    }
}
