//! `mesh account …`: accounts held by this device (offline commands; schema-08 §3).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use mesh_client::online;
use mesh_client::CatalogKind;
use serde::Serialize;

use crate::output::emit;
use crate::session;

#[derive(Subcommand)]
pub enum AccountCommand {
    /// Create an account; this device becomes its administrator device.
    Create(CreateArgs),
    /// The accounts on this device.
    List(JsonArgs),
    /// An account's profile and keys.
    Info(AccountArgs),
    /// Write the account's secret and catalogs to a passphrase-sealed file.
    Export(ExportArgs),
    /// Add an exported account to this device.
    Import(ImportArgs),
    /// Split the account's root into shares, any QUORUM of which recover the account; the
    /// root then lives in the shares only (unless --keep-root).
    Escrow(EscrowArgs),
    /// Recover an account from escrow shares after a loss or compromise: this device becomes
    /// an administrator device, the account's keys are rotated, and the devices named are
    /// removed, all in one step.
    Recover(RecoverArgs),
    /// Rotate the account's keys (with its root: held here, or a quorum of shares), removing
    /// the devices named; every other device gets new keys.
    Rekey(RekeyArgs),
    /// Make a PIN for connecting a device; shows the mcu:// URI and its QR code.
    Pin(PinArgs),
    /// Claim a preconfigured device by the mcu:// URI of its QR code.
    Connect(ConnectArgs),
    /// Ask the account's service for its profiles.
    Hello(crate::commands::online::ServiceArgs),
    /// Bind the account to a service and upload what this device holds.
    Bind(crate::commands::online::ServiceArgs),
    /// Remove the account from its service.
    Unbind(crate::commands::online::ServiceArgs),
    /// The service's state of each catalog and spool.
    Status(crate::commands::online::ServiceArgs),
    /// Download what other devices added and upload what this one did.
    Sync(crate::commands::online::ServiceArgs),
    /// Put back what the service holds damaged of the account's containers, from this
    /// administrator device's copies (when a sync says the service's stored copy is damaged).
    Repair(crate::commands::online::ServiceArgs),
    /// Switch to another service that holds this very account (its profile and a copy of
    /// every container as far as this device synced it); nothing changes if it does not.
    Move(crate::commands::online::ServiceArgs),
    /// Entries changed on this device and on another since they last synced: the catalog has
    /// the version the service took first; this device's was kept aside.
    Conflicts(crate::commands::catalog::Common),
    /// Settle a conflict: keep this device's version (written again, on top) or the other's.
    Resolve(ResolveArgs),
}

#[derive(Args)]
pub struct ResolveArgs {
    /// The entry's UniqueId, as `mesh account conflicts` shows it.
    unique_id: String,
    /// Whose version stays: `mine` (this device's) or `theirs` (the one in the catalog).
    #[arg(long, value_parser = ["mine", "theirs"])]
    keep: String,
    /// Keep this device's version even though the entry changed since the conflict was found.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    common: crate::commands::catalog::Common,
}

#[derive(Args)]
pub struct CreateArgs {
    /// The account address, user@domain.
    address: String,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ConnectArgs {
    /// The mcu://MAKER/KEY URI from the device's QR code.
    uri: String,
    /// The maker's service URL (default: the maker's domain).
    #[arg(long)]
    service: Option<String>,
    #[command(flatten)]
    rights: super::RightsArg,
    #[arg(long)]
    account: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct PinArgs {
    /// How long the PIN is valid: 90s, 30m, 2h, 1d.
    #[arg(long, default_value = "1h")]
    expire: String,
    #[command(flatten)]
    rights: super::RightsArg,
    #[arg(long)]
    account: Option<String>,
    #[arg(long)]
    json: bool,
}

/// Parse a duration such as `90s`, `30m`, `2h`, `1d`.
pub(crate) fn parse_duration(text: &str) -> anyhow::Result<std::time::Duration> {
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = number
        .parse()
        .map_err(|_| anyhow::anyhow!("'{text}' is not a duration (e.g. 90s, 30m, 2h, 1d)"))?;
    let seconds = match unit {
        "s" => n,
        "" | "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86400,
        _ => anyhow::bail!("'{text}' is not a duration (e.g. 90s, 30m, 2h, 1d)"),
    };
    Ok(std::time::Duration::from_secs(seconds))
}

#[derive(Args)]
pub struct JsonArgs {
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct AccountArgs {
    /// The account (default: the default account).
    #[arg(long)]
    account: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ExportArgs {
    file: PathBuf,
    #[arg(long)]
    account: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct EscrowArgs {
    /// Shares needed to recover.
    #[arg(long, default_value_t = 2)]
    quorum: usize,
    /// Shares made.
    #[arg(long, default_value_t = 3)]
    shares: usize,
    /// Keep the root on this device too (it stays the root holder; a thief of this device
    /// could then make a new administrator).
    #[arg(long)]
    keep_root: bool,
    #[arg(long)]
    account: Option<String>,
    #[arg(long)]
    json: bool,
}

/// Which devices a rotation removes.
#[derive(Args)]
pub struct RemovalArgs {
    /// Remove this device (its UDF, as `device list` shows it); repeatable.
    #[arg(long = "remove", value_name = "UDF")]
    remove: Vec<String>,
    /// Remove every device but this one.
    #[arg(long)]
    remove_others: bool,
}

impl RemovalArgs {
    fn removal(&self) -> mesh_client::rotation::Removal {
        mesh_client::rotation::Removal {
            devices: self.remove.clone(),
            all_others: self.remove_others,
        }
    }
}

#[derive(Args)]
pub struct RekeyArgs {
    /// An escrow share (a quorum of them), if this device does not hold the root.
    #[arg(long = "share", value_name = "SHARE")]
    shares: Vec<String>,
    #[command(flatten)]
    removal: RemovalArgs,
    #[arg(long)]
    account: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct RecoverArgs {
    /// The account address, user@domain.
    address: String,
    /// At least the quorum of the escrow's shares.
    #[arg(required = true)]
    shares: Vec<String>,
    /// The account's service URL (default: found from the address's domain).
    #[arg(long)]
    service: Option<String>,
    #[command(flatten)]
    removal: RemovalArgs,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ImportArgs {
    file: PathBuf,
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AccountOut {
    address: String,
    udf: String,
    device_udf: String,
    administrator: bool,
    /// This device holds the account's root.
    root_holder: bool,
    /// "AccountKey", "Threshold" for a device holding a share, or "None" for a device given
    /// no key to the catalogs.
    decryption: &'static str,
    /// What this device may do ([`mesh_schema::rights::Rights`]).
    rights: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    keys: Vec<KeyOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    devices: Option<usize>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct KeyOut {
    key_use: &'static str,
    udf: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListOut {
    accounts: Vec<String>,
    default: Option<String>,
}

fn summary(
    device: &mesh_client::Device,
    account: &mesh_client::Account,
    detail: bool,
) -> anyhow::Result<AccountOut> {
    let p = &account.profile;
    let keys = if detail {
        [
            ("ProfileSignature", &p.profile_signature),
            ("AdministratorSignature", &p.administrator_signature),
            ("AccountEncryption", &p.account_encryption),
            ("AccountAuthentication", &p.account_authentication),
            ("AccountSignature", &p.account_signature),
        ]
        .into_iter()
        .filter_map(|(key_use, k)| {
            k.as_ref()
                .and_then(|k| k.udf.clone())
                .map(|udf| KeyOut { key_use, udf })
        })
        .collect()
    } else {
        vec![]
    };
    let rights = account.rights();
    Ok(AccountOut {
        address: account.address.clone(),
        udf: account.udf.clone(),
        device_udf: device.udf().to_string(),
        administrator: account.is_administrator(),
        root_holder: account.root().is_some(),
        decryption: if account.holds_share() {
            "Threshold"
        } else if rights.reads_catalogs() {
            "AccountKey"
        } else {
            "None"
        },
        rights: if account.is_administrator() {
            vec!["administrator"]
        } else {
            rights.names()
        },
        keys,
        devices: if detail && rights.reads_catalogs() {
            Some(account.list(CatalogKind::Device)?.len())
        } else {
            None
        },
    })
}

fn print_account(o: &AccountOut) {
    println!("Account:  {}", o.address);
    println!("UDF:      {}", o.udf);
    println!(
        "Device:   {}{}",
        o.device_udf,
        if o.root_holder {
            " (administrator, holds the account's root)"
        } else if o.administrator {
            " (administrator)"
        } else if o.decryption == "Threshold" {
            " (decrypts with a share of the account key and the service's)"
        } else {
            ""
        }
    );
    if o.rights.is_empty() {
        println!("Rights:   none");
    } else {
        println!("Rights:   {}", o.rights.join(", "));
    }
    for k in &o.keys {
        println!("  {:<24}{}", k.key_use, k.udf);
    }
    if let Some(n) = o.devices {
        println!("Devices:  {n}");
    }
}

pub fn run(cmd: AccountCommand, data: &Option<PathBuf>) -> anyhow::Result<()> {
    match cmd {
        AccountCommand::Create(a) => session::with_device(data, |device| {
            let account = device.create_account(&a.address)?;
            let out = summary(device, &account, false)?;
            emit(a.json, &out, print_account)
        }),
        AccountCommand::List(a) => {
            let device = session::open(data)?;
            let (accounts, default) = device.accounts();
            let out = ListOut { accounts, default };
            emit(a.json, &out, |o| {
                if o.accounts.is_empty() {
                    println!("No accounts on this device.");
                }
                for acc in &o.accounts {
                    let mark = if Some(acc) == o.default.as_ref() {
                        " (default)"
                    } else {
                        ""
                    };
                    println!("{acc}{mark}");
                }
            })
        }
        AccountCommand::Info(a) => {
            let device = session::open(data)?;
            let account = device.account(a.account.as_deref())?;
            let out = summary(&device, &account, true)?;
            emit(a.json, &out, print_account)
        }
        AccountCommand::Export(a) => {
            let device = session::open_with_passphrase(data)?;
            // Refused before the passphrase is asked for.
            let account = device.account(a.account.as_deref())?;
            if account.root().is_none() {
                return Err(mesh_client::ClientError::NotRootHolder(account.address).into());
            }
            let pass =
                session::passphrase(session::EXPORT_PASSPHRASE_ENV, "Export passphrase", true)?;
            let sealed = device.export_account(a.account.as_deref(), &pass)?;
            mesh_client::store::write_atomic(&a.file, &sealed)
                .with_context(|| format!("writing {}", a.file.display()))?;
            let out = serde_json::json!({"File": a.file.display().to_string()});
            emit(a.json, &out, |_| {
                println!(
                    "Exported to {} (sealed with the export passphrase)",
                    a.file.display()
                )
            })
        }
        AccountCommand::Connect(a) => {
            let rights = a.rights.rights()?;
            let device = session::open_with_passphrase(data)?;
            let account = device.account(a.account.as_deref())?;
            let udf = mesh_client::preconfig::claim(
                &device,
                &account,
                rights,
                &a.uri,
                a.service.as_deref(),
            )?;
            let out = serde_json::json!({"Claimed": udf, "Account": account.address, "Rights": rights.names()});
            emit(a.json, &out, |_| {
                println!(
                    "Claimed device {udf} for {}; it joins when it runs `mesh device complete`.",
                    account.address
                )
            })
        }
        AccountCommand::Pin(a) => {
            let valid = parse_duration(&a.expire)?;
            let rights = a.rights.rights()?;
            let device = session::open_with_passphrase(data)?;
            let account = device.account(a.account.as_deref())?;
            let (pin, uri) = mesh_client::connect::register_pin(&device, &account, valid, rights)?;
            // The URI names the account, and so its domain: a new device finds the service
            // there. When this account's service is elsewhere, the device must be told where.
            let service = online::load_binding(&account).map(|b| b.url);
            let domain = account.address.rsplit('@').next().unwrap_or_default();
            let elsewhere = service.as_deref().filter(|url| {
                *url != mesh_protocol::client::service_url(
                    domain,
                    Some(&format!("https://{domain}")),
                )
            });
            let out = serde_json::json!({"Pin": pin, "Uri": uri, "Expire": a.expire, "Service": service, "Rights": rights.names()});
            emit(a.json, &out, |_| {
                crate::output::print_qr(&uri);
                println!("{uri}");
                let command = match elsewhere {
                    Some(url) => format!("mesh device request {uri} --service '{url}'"),
                    None => format!("mesh device request {uri}"),
                };
                println!(
                    "PIN {pin}, valid for {}: on the new device run `{command}`",
                    a.expire
                );
                if elsewhere.is_some() {
                    println!(
                        "(this account's service is not at {domain}: the new device needs --service as shown)"
                    );
                }
            })
        }
        AccountCommand::Hello(a) => crate::commands::online::hello(a, data),
        AccountCommand::Bind(a) => crate::commands::online::bind(a, data),
        AccountCommand::Unbind(a) => crate::commands::online::unbind(a, data),
        AccountCommand::Status(a) => crate::commands::online::status(a, data),
        AccountCommand::Sync(a) => crate::commands::online::sync(a, data),
        AccountCommand::Repair(a) => crate::commands::online::repair(a, data),
        AccountCommand::Move(a) => crate::commands::online::move_account(a, data),
        AccountCommand::Conflicts(common) => crate::commands::catalog::conflicts(&common, data),
        AccountCommand::Resolve(a) => crate::commands::catalog::resolve(
            &a.common,
            data,
            &a.unique_id,
            a.keep == "mine",
            a.force,
        ),
        AccountCommand::Escrow(a) => {
            let mut device = session::open_with_passphrase(data)?;
            let account = device.account(a.account.as_deref())?;
            let shares =
                device.escrow_account(Some(&account.address), a.quorum, a.shares, a.keep_root)?;
            // What recovery needs beside the shares: the address, and the service with its pin.
            let service = online::load_binding(&account).map(|b| b.url);
            let out = serde_json::json!({"Account": account.address, "AccountUdf": account.udf, "Quorum": a.quorum, "Shares": shares, "RootKept": a.keep_root, "Service": service});
            emit(a.json, &out, |o| {
                println!(
                    "Any {} of these {} shares recover {} (keep them apart: together they are the account):",
                    a.quorum,
                    a.shares,
                    account.address
                );
                for share in o["Shares"].as_array().into_iter().flatten() {
                    println!("  {}", share.as_str().unwrap_or_default());
                }
                match o["Service"].as_str() {
                    Some(url) => println!(
                        "Keep with them what recovery needs: `mesh account recover {} SHARE SHARE \
                         --service {url}`",
                        account.address
                    ),
                    None => println!(
                        "Keep with them the account address ({}) and, once it is bound, its \
                         service URL.",
                        account.address
                    ),
                }
                if a.keep_root {
                    println!("This device still holds the account's root.");
                } else {
                    println!(
                        "The account's root now lives in these shares only: removing an \
                         administrator device or rotating keys will ask for a quorum of them."
                    );
                }
            })
        }
        AccountCommand::Rekey(a) => {
            let mut device = session::open_with_passphrase(data)?;
            let address = device.account(a.account.as_deref())?.address;
            let report = crate::commands::online::rekey(
                &mut device,
                &address,
                &a.shares,
                &a.removal.removal(),
            )?;
            let out = rotation_out(&address, &report);
            emit(a.json, &out, print_rotation)
        }
        AccountCommand::Recover(a) => session::with_device(data, |device| {
            // The shares are right only if the service holds this very account: otherwise
            // nothing of the attempt is kept.
            let report = mesh_client::rotation::recover(
                device,
                &a.address,
                &a.shares,
                a.service.as_deref(),
                &a.removal.removal(),
            )
            .with_context(|| {
                format!(
                    "could not recover {}; nothing of the attempt was kept",
                    a.address
                )
            })?;
            let account = device.account(Some(&a.address))?;
            let mut out = serde_json::to_value(summary(device, &account, false)?)?;
            out["Rotation"] = rotation_out(&account.address, &report);
            emit(a.json, &out, |_| {
                print_account(&summary(device, &account, false).expect("made above"));
                println!("Recovered; the account's keys were rotated.");
                print_rotation(&rotation_out(&account.address, &report));
            })
        }),
        AccountCommand::Import(a) => {
            let sealed =
                std::fs::read(&a.file).with_context(|| format!("reading {}", a.file.display()))?;
            session::with_device(data, |device| {
                let pass = session::passphrase(
                    session::EXPORT_PASSPHRASE_ENV,
                    "Export passphrase",
                    false,
                )?;
                let account = device.import_account(&sealed, &pass)?;
                let out = summary(device, &account, false)?;
                emit(a.json, &out, print_account)
            })
        }
    }
}

fn rotation_out(
    address: &str,
    report: &mesh_client::rotation::RotationReport,
) -> serde_json::Value {
    serde_json::json!({
        "Account": address,
        "AdministratorSignature": report.administrator,
        "Kept": report.kept,
        "Administrators": report.administrators,
        "Removed": report.removed,
        "Unfinished": report.unfinished,
        "Unsigned": report.unsigned,
    })
}

fn print_rotation(o: &serde_json::Value) {
    println!(
        "Rotated the keys of {}: new administrator key {}",
        o["Account"].as_str().unwrap_or_default(),
        o["AdministratorSignature"].as_str().unwrap_or_default()
    );
    for udf in o["Removed"].as_array().into_iter().flatten() {
        println!("  removed {}", udf.as_str().unwrap_or_default());
    }
    let kept = o["Kept"].as_array().map(Vec::len).unwrap_or(0);
    if kept > 0 {
        println!("  {kept} other device(s) get their new keys at their next `mesh account sync`");
    }
    for udf in o["Administrators"].as_array().into_iter().flatten() {
        println!(
            "  kept as an administrator device: {} (if it is not yours, remove it with \
             `mesh account rekey --remove {0}`)",
            udf.as_str().unwrap_or_default()
        );
    }
    if let Some(n) = o["Unsigned"].as_u64().filter(|n| *n > 0) {
        println!(
            "  warning: {n} change(s) of the device and access catalogs were not signed by the \
             administrator key and were left out (the service holds entries no administrator \
             device made)"
        );
    }
    if let Some(why) = o["Unfinished"].as_str() {
        println!(
            "  the other devices' new records are not all uploaded yet ({why}): run `mesh \
             account sync`"
        );
    }
}
