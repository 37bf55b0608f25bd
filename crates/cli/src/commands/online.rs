//! `mesh account hello|bind|unbind|status|sync`: the account and its service.

use std::path::PathBuf;

use clap::Args;
use mesh_client::online::{self, Session};

use crate::output::emit;
use crate::session;

#[derive(Args)]
pub struct ServiceArgs {
    /// The service URL (default: the account's domain, https://DOMAIN/.well-known/mmm/).
    #[arg(long)]
    service: Option<String>,
    #[arg(long)]
    account: Option<String>,
    #[arg(long)]
    json: bool,
}

pub fn hello(a: ServiceArgs, data: &Option<PathBuf>) -> anyhow::Result<()> {
    let device = session::open(data)?;
    let account = device.account(a.account.as_deref())?;
    let info = online::hello(&account.address, a.service.as_deref())?;
    let out = serde_json::json!({"Url": info.url, "ServiceUdf": info.service_udf, "HostUdf": info.host_udf});
    emit(a.json, &out, |o| {
        println!(
            "{} is served by {} ({})",
            account.address,
            o["Url"].as_str().unwrap_or_default(),
            o["ServiceUdf"].as_str().unwrap_or_default()
        )
    })
}

fn print_report(report: &online::SyncReport) {
    for (name, down, up) in report.iter().filter(|(_, d, u)| *d > 0 || *u > 0) {
        println!("  {name}: {down} down, {up} up");
    }
}

fn report_json(report: &online::SyncReport) -> serde_json::Value {
    report
        .iter()
        .map(|(n, d, u)| serde_json::json!({"Container": n, "Downloaded": d, "Uploaded": u}))
        .collect()
}

pub fn bind(a: ServiceArgs, data: &Option<PathBuf>) -> anyhow::Result<()> {
    // Which service holds the account (and answers for it): the passphrase, not a session.
    let device = session::open_with_passphrase(data)?;
    let account = device.account(a.account.as_deref())?;
    let info = online::hello(&account.address, a.service.as_deref())?;
    let (_, report) = Session::bind(&device, &account, &info)?;
    let out = serde_json::json!({"Account": account.address, "Url": info.url, "ServiceUdf": info.service_udf, "Sync": report_json(&report)});
    emit(a.json, &out, |_| {
        println!("Bound {} to {}", account.address, info.url);
        print_report(&report);
    })
}

/// A `--service` that names another service than the one the account is bound to is refused,
/// never ignored.
fn same_service(a: &ServiceArgs, account: &mesh_client::Account) -> anyhow::Result<()> {
    if let (Some(asked), Some(binding)) = (&a.service, online::load_binding(account)) {
        let asked = mesh_protocol::client::service_url(&account.address, Some(asked));
        if asked != binding.url {
            anyhow::bail!(
                "{} is bound to {}, not {asked}: to move it there, run `mesh account move \
                 --service {}`",
                account.address,
                binding.url,
                a.service.as_deref().unwrap_or_default()
            );
        }
    }
    Ok(())
}

/// `mesh account move --service URL`: switch to a service that holds this very account.
pub fn move_account(a: ServiceArgs, data: &Option<PathBuf>) -> anyhow::Result<()> {
    let device = session::open_with_passphrase(data)?;
    let account = device.account(a.account.as_deref())?;
    let url = a
        .service
        .as_deref()
        .ok_or_else(|| anyhow::anyhow!("account move needs --service URL"))?;
    let info = online::hello(&account.address, Some(url))?;
    let checked = Session::move_to(&device, &account, &info)?;
    let out = serde_json::json!({"Account": account.address, "Url": info.url, "ServiceUdf": info.service_udf, "Containers": checked});
    emit(a.json, &out, |_| {
        println!(
            "Moved {} to {} ({checked} containers checked: the same account, the same entries)",
            account.address, info.url
        )
    })
}

pub fn unbind(a: ServiceArgs, data: &Option<PathBuf>) -> anyhow::Result<()> {
    let device = session::open_with_passphrase(data)?;
    let account = device.account(a.account.as_deref())?;
    same_service(&a, &account)?;
    Session::open(&device, &account)?.unbind()?;
    let out = serde_json::json!({"Unbound": account.address});
    emit(a.json, &out, |_| {
        println!(
            "Unbound {}: the service no longer holds it",
            account.address
        )
    })
}

pub fn repair(a: ServiceArgs, data: &Option<PathBuf>) -> anyhow::Result<()> {
    let device = session::open(data)?;
    let account = device.account(a.account.as_deref())?;
    same_service(&a, &account)?;
    let report = Session::open(&device, &account)?.repair()?;
    let rows: Vec<serde_json::Value> = report
        .repaired
        .iter()
        .map(|(name, n)| serde_json::json!({"Container": name, "Repaired": n}))
        .collect();
    let failed: Vec<serde_json::Value> = report
        .failed
        .iter()
        .map(|(name, why)| serde_json::json!({"Container": name, "Error": why}))
        .collect();
    let out = serde_json::json!({"Account": account.address, "Containers": rows, "Failed": failed});
    emit(a.json, &out, |_| {
        if report.repaired.is_empty() && report.failed.is_empty() {
            println!("Nothing of {} is damaged at the service", account.address);
        }
        for (name, n) in &report.repaired {
            println!("{name}: {n} entries put back from this device's copy");
        }
    })?;
    if let Some((name, why)) = report.failed.first() {
        anyhow::bail!(
            "{} container(s) not repaired; {name}: {why}",
            report.failed.len()
        );
    }
    Ok(())
}

pub fn status(a: ServiceArgs, data: &Option<PathBuf>) -> anyhow::Result<()> {
    let device = session::open(data)?;
    let account = device.account(a.account.as_deref())?;
    same_service(&a, &account)?;
    let session = Session::open(&device, &account)?;
    let status = session.status()?;
    let binding = online::load_binding(&account).unwrap_or_default();
    let rows: Vec<serde_json::Value> = status
        .iter()
        .map(|(name, (index, _))| serde_json::json!({"Container": name, "Service": index, "Synced": binding.synced.get(name).copied().unwrap_or(0)}))
        .collect();
    let conflicts = mesh_client::conflicts::load(account.dir())?.len();
    let out = serde_json::json!({"Account": account.address, "Url": session.url(), "Containers": rows, "Conflicts": conflicts});
    emit(a.json, &out, |o| {
        println!(
            "{} at {}",
            account.address,
            o["Url"].as_str().unwrap_or_default()
        );
        for r in o["Containers"].as_array().into_iter().flatten() {
            println!(
                "  {:<18} service {:>6}  synced {:>6}",
                r["Container"].as_str().unwrap_or_default(),
                r["Service"],
                r["Synced"]
            );
        }
        if conflicts > 0 {
            println!(
                "{conflicts} entr{} changed here and on another device: see `mesh account conflicts`",
                if conflicts == 1 { "y" } else { "ies" }
            );
        }
    })
}

/// One sync of `address`: every container both ways, then contacts that rotated their keys
/// (their newer profile came with a message) moved forward and uploaded at once.
fn sync_once(
    device: &mesh_client::Device,
    address: &str,
    json: bool,
) -> Result<online::SyncReport, mesh_client::ClientError> {
    let account = device.account(Some(address))?;
    let mut session = Session::open(device, &account)?;
    let bar = crate::output::progress(0, json);
    let report = session.sync(&mut |name, done, total| {
        bar.set_length(total);
        bar.set_position(done);
        bar.set_message(name.to_string());
    });
    bar.finish_and_clear();
    // Conflicts a sync set aside are told even if it then failed.
    crate::commands::catalog::warn_conflicts(session.new_conflicts());
    let report = report?;
    // Only new messages can bring newer profiles: reading the inbound spool (through the
    // service, on a device holding a share) is not done on every sync.
    let new_messages = report
        .iter()
        .any(|(name, down, _)| name == online::INBOUND && *down > 0);
    // Newer profiles of contacts (only new messages bring them), and the answers to this
    // device's contact requests (whichever command downloaded them).
    let refreshed = match new_messages {
        true => mesh_client::messages::refresh_contacts(&account)?,
        false => 0,
    };
    if refreshed + mesh_client::contact_exchange::take_replies(&account)? > 0 {
        session.push(mesh_client::CatalogKind::Contact.name())?;
    }
    Ok(report)
}

pub fn sync(a: ServiceArgs, data: &Option<PathBuf>) -> anyhow::Result<()> {
    let mut device = session::open(data)?;
    let address = {
        let account = device.account(a.account.as_deref())?;
        same_service(&a, &account)?;
        account.address
    };
    let report = match sync_once(&device, &address, a.json) {
        // Keys rotated, or this device's connection replaced (its rights changed), since it
        // last synced: its new records first, then again.
        Err(mesh_client::ClientError::Service(401, text))
            if text.contains("collects its new connection") =>
        {
            let rotations = mesh_client::rotation::follow(&mut device, &address)?;
            let reconnections = mesh_client::reconnect::follow(&mut device, &address)?;
            if rotations + reconnections == 0 {
                return Err(mesh_client::ClientError::Service(401, text).into());
            }
            if !a.json && rotations > 0 {
                println!("The account's keys were rotated; this device has its new keys.");
            }
            if !a.json && reconnections > 0 {
                let account = device.account(Some(&address))?;
                println!(
                    "The administrator changed this device's rights: now {}.",
                    account.rights().names().join(", ")
                );
            }
            sync_once(&device, &address, a.json)?
        }
        other => other?,
    };
    let account = device.account(Some(&address))?;
    // An administrator device answers PIN-authenticated connection requests as it syncs.
    let pins = mesh_client::connect::process_pins(&device, &account)?;
    crate::commands::catalog::report_pins(&pins, a.json);
    let out = serde_json::json!({"Account": account.address, "Sync": report_json(&report)});
    emit(a.json, &out, |_| {
        println!("Synced {}", account.address);
        print_report(&report);
    })
}

/// Rotate the keys of `address` with its root (held, or from `shares`), synced with the
/// service first.
pub fn rekey(
    device: &mut mesh_client::Device,
    address: &str,
    shares: &[String],
    removal: &mesh_client::rotation::Removal,
) -> anyhow::Result<mesh_client::rotation::RotationReport> {
    let account = device.account(Some(address))?;
    let root = match (account.root(), shares.is_empty()) {
        (Some(root), _) => root.clone(),
        (None, false) => {
            mesh_client::rotation::root_from_shares(shares, address, Some(&account.udf))?
        }
        (None, true) => return Err(mesh_client::ClientError::NotRootHolder(address.into()).into()),
    };
    let binding = {
        let mut session = Session::open(device, &account)?;
        session.sync(&mut |_, _, _| {})?;
        session.binding().clone()
    };
    Ok(mesh_client::rotation::rotate(
        device, &account, binding, &root, removal,
    )?)
}
