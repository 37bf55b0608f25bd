//! `mesh group create|add|delete|list|get|memberships`: recryption groups
//! ([`mesh_client::groups`]; threshold-06 §3–5, protocol-09 §8.4).

use std::path::PathBuf;

use clap::Subcommand;

use crate::commands::catalog::Common;
use crate::session;

#[derive(Subcommand)]
pub enum GroupCommand {
    /// Make a recryption group: an account of its own, administered from this device, bound
    /// to its service. Anyone who has its contact encrypts to it; its members decrypt.
    Create {
        group: String,
        /// The service URL (default: the group's domain).
        #[arg(long)]
        service: Option<String>,
    },
    /// Make MEMBER (an account whose key this account knows: itself, one of this device's, or
    /// a contact) a member: a share of the group's key for them, the service's half kept by
    /// the group's service, and an invitation sent to them.
    Add { group: String, member: String },
    /// Remove MEMBER: the group's service refuses them from now on, so they decrypt nothing
    /// more, what was encrypted before included.
    Delete { group: String, member: String },
    /// The members of GROUP.
    List { group: String },
    /// One member of GROUP.
    Get { group: String, member: String },
    /// The groups this account is a member of (from the invitations received; sync first).
    Memberships,
}

pub fn run(cmd: GroupCommand, common: &Common, data: &Option<PathBuf>) -> anyhow::Result<()> {
    use mesh_client::groups;
    let json = common.json;
    match cmd {
        GroupCommand::Create { group, service } => session::with_device(data, |device| {
            let account = groups::create(device, &group, service.as_deref())?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"Group": account.address, "Udf": account.udf})
                );
            } else {
                println!("Group {} ({})", account.address, account.udf);
            }
            Ok(())
        }),
        GroupCommand::Add { group, member } => {
            // A member reads what the group holds, past and future: the passphrase, not a
            // session.
            let device = session::open_with_passphrase(data)?;
            let inviter = device.account(common.account.as_deref())?;
            let group_account = device.account(Some(&group))?;
            let id = groups::add(&device, &group_account, &inviter, &member)?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"Group": group, "Member": member, "Capability": id})
                );
            } else {
                println!("{member} is a member of {group} (capability {id}); invitation sent");
            }
            Ok(())
        }
        GroupCommand::Delete { group, member } => {
            let device = session::open(data)?;
            let group_account = device.account(Some(&group))?;
            groups::delete(&device, &group_account, &member)?;
            if json {
                println!("{}", serde_json::json!({"Group": group, "Removed": member}));
            } else {
                println!("{member} is no longer a member of {group}");
            }
            Ok(())
        }
        GroupCommand::List { group } => members(data, &group, None, json),
        GroupCommand::Get { group, member } => members(data, &group, Some(&member), json),
        GroupCommand::Memberships => {
            let device = session::open(data)?;
            let account = device.account(common.account.as_deref())?;
            mesh_client::online::Session::open(&device, &account)?.sync(&mut |_, _, _| {})?;
            let rows: Vec<serde_json::Value> = groups::memberships(&account)?
                .iter()
                .map(|m| serde_json::json!({"Group": m.group, "InvitedBy": m.invited_by, "Key": m.key.udf()}))
                .collect();
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if rows.is_empty() {
                println!("A member of no group.");
            } else {
                for r in &rows {
                    println!(
                        "{} (invited by {})",
                        r["Group"].as_str().unwrap_or_default(),
                        r["InvitedBy"].as_str().unwrap_or_default()
                    );
                }
            }
            Ok(())
        }
    }
}

/// `group list` and `group get`: the members of `group` (the one named only).
fn members(
    data: &Option<PathBuf>,
    group: &str,
    only: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    let device = session::open(data)?;
    let group_account = device.account(Some(group))?;
    let members: Vec<_> = mesh_client::groups::list(&group_account)?
        .into_iter()
        .filter(|m| only.is_none_or(|o| m.address.eq_ignore_ascii_case(o)))
        .collect();
    if let (Some(member), true) = (only, members.is_empty()) {
        anyhow::bail!("{member} is not a member of {group}");
    }
    let rows: Vec<serde_json::Value> = members
        .iter()
        .map(|m| serde_json::json!({"Member": m.address, "ProfileUdf": m.profile_udf, "Capability": m.capability}))
        .collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        for m in &members {
            println!("{} [{}]", m.address, m.profile_udf);
        }
    }
    Ok(())
}
