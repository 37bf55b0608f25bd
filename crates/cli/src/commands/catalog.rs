//! Catalog commands (schema-08 §4), after meshman: `mesh password|contact|bookmark|calendar|
//! network|ssh|device …`. Each lists, shows and deletes entries the same way; `add` differs by
//! what the entry holds.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use mesh_client::{Account, CatalogKind};
use mesh_crypto::{Algorithm, PrivateKey};
use mesh_dare::{DareEnvelope, EnvelopeOptions, KeyParameters};
use mesh_schema::catalog::*;
use mesh_schema::MeshItem;

use crate::session;

#[derive(Args, Clone)]
pub struct Common {
    /// The account (default: the default account).
    #[arg(long, global = true)]
    pub account: Option<String>,
    #[arg(long, global = true)]
    pub json: bool,
}

/// What every catalog command does alike.
#[derive(Subcommand)]
pub enum EntryCommand {
    /// Show one entry by its key (service, email address, URI or task key).
    Get { key: String },
    /// List the entries.
    List,
    /// Delete an entry by its key.
    Delete { key: String },
}

fn entry(acc: &Opened, kind: CatalogKind, op: EntryCommand, json: bool) -> anyhow::Result<()> {
    match op {
        EntryCommand::Get { key } => get(acc, kind, &key, json),
        EntryCommand::List => list(acc, kind, json),
        EntryCommand::Delete { key } => delete(acc, kind, &key, json),
    }
}

#[derive(Subcommand)]
pub enum PasswordCommand {
    /// Store a password; without PASSWORD it is read from the terminal or standard input.
    Add {
        service: String,
        username: String,
        password: Option<String>,
    },
    #[command(flatten)]
    Entry(EntryCommand),
}

#[derive(Subcommand)]
pub enum ContactCommand {
    /// Add a contact by email address.
    Add {
        email: String,
        #[arg(long)]
        name: Option<String>,
    },
    /// Ask ADDRESS (another Mesh account) to exchange contacts: when they accept (`message
    /// accept`), each has the other's contact, keys from the signed exchange.
    Request { address: String },
    /// Publish this account's contact under a URI (printed, and as a QR code) that anyone
    /// holding it may fetch, for good: for a business card.
    Static,
    /// As `static`, for a while only (`--expire 10m`): to show on a screen.
    Dynamic {
        #[arg(long, default_value = "10m")]
        expire: String,
    },
    /// Withdraw a contact this device published (its URI then gives nothing).
    Unpublish { uri: String },
    /// Take the contact published at URI (mcu://ADDRESS/KEY), checked to be signed by a device
    /// of that account.
    Fetch {
        uri: String,
        /// The publisher's service URL (default: found from the address's domain).
        #[arg(long)]
        service: Option<String>,
    },
    /// As `fetch`, and send this account's contact back: the publisher takes it at its next
    /// sync.
    Exchange {
        uri: String,
        #[arg(long)]
        service: Option<String>,
    },
    /// On an administrator device: the service refuses messages from ADDRESS to this account.
    Block { address: String },
    /// On an administrator device: take messages from ADDRESS again.
    Unblock { address: String },
    #[command(flatten)]
    Entry(EntryCommand),
}

#[derive(Subcommand)]
pub enum BookmarkCommand {
    Add {
        uri: String,
        #[arg(long)]
        title: Option<String>,
        #[arg(long)]
        path: Option<String>,
    },
    #[command(flatten)]
    Entry(EntryCommand),
}

#[derive(Subcommand)]
pub enum CalendarCommand {
    /// Add a task or appointment; its key is printed.
    Add {
        title: String,
        #[arg(long)]
        start: Option<String>,
        #[arg(long)]
        finish: Option<String>,
        #[arg(long)]
        location: Option<String>,
        #[arg(long)]
        description: Option<String>,
    },
    #[command(flatten)]
    Entry(EntryCommand),
}

#[derive(Subcommand)]
pub enum NetworkCommand {
    /// Store a network credential (Wi-Fi, VPN…); without PASSWORD it is read as for passwords.
    Add {
        service: String,
        username: String,
        password: Option<String>,
        #[arg(long, default_value = "wifi")]
        protocol: String,
    },
    #[command(flatten)]
    Entry(EntryCommand),
}

#[derive(Subcommand)]
pub enum SshCommand {
    /// Make an SSH key pair (Ed25519) kept in the encrypted application catalog.
    Create {
        name: String,
    },
    /// Print the OpenSSH public key line.
    Get {
        name: String,
    },
    List,
    Delete {
        name: String,
    },
}

#[derive(Subcommand)]
pub enum DeviceCommand {
    /// The devices connected to the account.
    List,
    /// On a new device: ask to join an account; shows the witness value to compare.
    Request {
        /// The account address, or the `mcu://ADDRESS/PIN` URI from the administrator's QR code.
        address: String,
        /// The service URL (default: the account's domain).
        #[arg(long)]
        service: Option<String>,
        /// The PIN the administrator device showed (`mesh account pin`).
        #[arg(long)]
        pin: Option<String>,
        /// The rights to ask for (the administrator decides; `device accept` without
        /// `--rights` grants what was asked).
        #[command(flatten)]
        rights: super::RightsArg,
    },
    /// On an administrator device: connection requests waiting for an answer.
    Pending,
    /// On an administrator device: accept the request showing WITNESS.
    Accept {
        witness: String,
        #[command(flatten)]
        rights: super::RightsArg,
    },
    /// On an administrator device: reject the request showing WITNESS.
    Reject { witness: String },
    /// On an administrator device: change the rights of a connected device (it is given a new
    /// connection, which it collects at its next `account sync`; the service refuses the old
    /// one from now on).
    Auth {
        udf: String,
        #[command(flatten)]
        rights: super::RightsArg,
    },
    /// On the new device: collect the answer and join the account.
    Complete,
    /// Change the passphrase that seals this device's secrets (the current one is asked for,
    /// the new one from $MESH_NEW_PASSPHRASE or typed twice); every unlocked session ends.
    Passphrase,
    /// On an administrator device: show a pairing code for a new device (it rotates every 15 s).
    Add {
        /// Pair with a code (the only mode of `add`; the flag names it for the reader).
        #[arg(long)]
        code: bool,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
        #[command(flatten)]
        rights: super::RightsArg,
    },
    /// On a new device: pair with the code an administrator device shows.
    Join {
        address: String,
        code: String,
        /// The service URL (default: the account's domain).
        #[arg(long)]
        service: Option<String>,
    },
    /// On a maker's administrator device: make a preconfigured device record (for its firmware)
    /// and publish its profile under an EARL; prints the mcu:// URI and its QR code.
    Preconfig {
        /// Where to write the DevicePreconfigurationPrivate record (it holds the device secret).
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// On a preconfigured device: take its identity from the record the maker wrote.
    Install {
        file: std::path::PathBuf,
        /// The maker's service URL (default: the maker's domain).
        #[arg(long)]
        service: Option<String>,
    },
    /// On an administrator device: remove a device; the service refuses it from then on.
    /// Removing an administrator device rotates the account's keys, which needs the account's
    /// root: held on this device, or a quorum of escrow shares given with --share.
    Delete {
        udf: String,
        /// An escrow share (a quorum of them), if this device does not hold the root.
        #[arg(long = "share", value_name = "SHARE")]
        shares: Vec<String>,
    },
}

/// What `device list` says of a device: its UDF, description, rights, when its connection was
/// made, and whether it is this device.
fn device_row(d: &mesh_schema::catalog::CatalogedDevice, this: &str) -> serde_json::Value {
    let description = d
        .enveloped_profile_device
        .as_ref()
        .and_then(|e| mesh_schema::signed::verify_profile_device(e).ok())
        .and_then(|(p, _)| p.description);
    let added = d
        .enveloped_connection_device
        .as_ref()
        .and_then(|e| e.content_meta().ok())
        .and_then(|m| m.created);
    // A device given an account activation has the rights its connection names; one without
    // holds the administration keys.
    let rights: Vec<&str> = if d.enveloped_activation_account.is_some() {
        mesh_client::context::record_rights(d).names()
    } else {
        vec!["administrator"]
    };
    let udf = d
        .device_udf
        .clone()
        .or_else(|| d.udf.clone())
        .unwrap_or_default();
    serde_json::json!({
        "Udf": udf,
        "Description": description,
        "Rights": rights,
        "Added": added,
        "ThisDevice": udf == this,
    })
}

/// An account with the device that holds it, so that a change can be uploaded without opening
/// the device (and deriving its passphrase key) a second time.
struct Opened {
    device: mesh_client::Device,
    account: Account,
}

impl std::ops::Deref for Opened {
    type Target = Account;
    fn deref(&self) -> &Account {
        &self.account
    }
}

fn account(data: &Option<PathBuf>, common: &Common) -> anyhow::Result<Opened> {
    let device = session::open(data)?;
    let account = device.account(common.account.as_deref())?;
    if account.holds_share() {
        // Reading many entries takes an Operate per hundred: show how far it has got.
        let bar = crate::output::progress(0, common.json);
        account.set_progress(Box::new(move |done, total| {
            bar.set_length(total);
            bar.set_position(done);
            if done == total {
                bar.finish_and_clear();
            }
        }));
    }
    Ok(Opened { device, account })
}

/// One line describing an entry, for human output.
fn describe(item: &MeshItem) -> String {
    match item {
        MeshItem::CatalogedCredential(c) => format!(
            "{} {}",
            c.service.as_deref().unwrap_or(""),
            c.username.as_deref().unwrap_or("")
        ),
        MeshItem::CatalogedNetwork(c) => format!(
            "{} ({}) {}",
            c.service.as_deref().unwrap_or(""),
            c.protocol.as_deref().unwrap_or(""),
            c.username.as_deref().unwrap_or("")
        ),
        MeshItem::CatalogedContact(c) => {
            let name = c
                .contact
                .as_ref()
                .and_then(|c| c.person())
                .and_then(|p| p.common_names.first())
                .and_then(|n| n.full_name.clone());
            match name {
                Some(n) => format!("{} <{}>", n, c.key.as_deref().unwrap_or("")),
                None => c.key.clone().unwrap_or_default(),
            }
        }
        MeshItem::CatalogedBookmark(b) => format!(
            "{} {}",
            b.uri.as_deref().unwrap_or(""),
            b.title.as_deref().unwrap_or("")
        ),
        MeshItem::CatalogedTask(t) => format!(
            "{} {}",
            t.key.as_deref().unwrap_or(""),
            t.title.as_deref().unwrap_or("")
        ),
        MeshItem::CatalogedApplicationSsh(s) => format!(
            "{} {}",
            s.key.as_deref().unwrap_or(""),
            s.public_key.as_deref().unwrap_or("")
        ),
        MeshItem::CatalogedDevice(d) => d.udf.clone().unwrap_or_default(),
        other => other.type_name().to_string(),
    }
}

/// Entries as JSON: the entry objects themselves, with their key.
fn entries_json(entries: &[(String, MeshItem)]) -> anyhow::Result<serde_json::Value> {
    let mut out = Vec::new();
    for (key, item) in entries {
        let mut value: serde_json::Value = serde_json::from_str(&item.to_json()?)?;
        if let Some(obj) = value.as_object_mut() {
            obj.insert("Key".into(), key.clone().into());
        }
        out.push(value);
    }
    Ok(serde_json::Value::Array(out))
}

fn show(entries: Vec<(String, MeshItem)>, json: bool, full: bool) -> anyhow::Result<()> {
    if json {
        let value = entries_json(&entries)?;
        println!(
            "{}",
            serde_json::to_string_pretty(if full { &value[0] } else { &value })?
        );
        return Ok(());
    }
    if entries.is_empty() {
        println!("(none)");
    }
    for (_, item) in &entries {
        if full {
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(
                    &item.to_json()?
                )?)?
            );
        } else {
            println!("{}", describe(item));
        }
    }
    Ok(())
}

fn get(account: &Account, kind: CatalogKind, key: &str, json: bool) -> anyhow::Result<()> {
    match account.get(kind, key)? {
        Some(item) => show(vec![(key.to_string(), item)], json, true),
        None => bail!("no entry '{key}' in {}", kind.name()),
    }
}

fn delete(account: &Opened, kind: CatalogKind, key: &str, json: bool) -> anyhow::Result<()> {
    if !account.delete(kind, key)? {
        bail!("no entry '{key}' in {}", kind.name());
    }
    let pushed = push(account, kind)?;
    report("Deleted", key, &pushed, json, serde_json::json!({}));
    Ok(())
}

/// `mesh account conflicts`: each entry changed here and on another device, both versions.
pub fn conflicts(common: &Common, data: &Option<PathBuf>) -> anyhow::Result<()> {
    let acc = account(data, common)?;
    let shown = mesh_client::conflicts::list(&acc)?;
    let value = |item: &Option<MeshItem>| match item {
        Some(item) => serde_json::from_str(&item.to_json().unwrap_or_default())
            .unwrap_or(serde_json::Value::Null),
        None => serde_json::Value::Null,
    };
    let rows: Vec<serde_json::Value> = shown
        .iter()
        .map(|s| {
            serde_json::json!({
                "Catalog": s.conflict.catalog,
                "UniqueId": s.conflict.unique_id,
                "Detected": s.conflict.detected,
                "Mine": value(&s.mine),
                "Theirs": value(&s.theirs),
                "ChangedSince": mesh_client::conflicts::changed_since(&acc, &s.conflict)
                    .unwrap_or(false),
            })
        })
        .collect();
    if common.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    if shown.is_empty() {
        println!("No conflicts.");
        return Ok(());
    }
    let line = |item: &Option<MeshItem>| match item {
        Some(item) => describe(item),
        None => "(deleted)".to_string(),
    };
    for (s, row) in shown.iter().zip(&rows) {
        let since = if row["ChangedSince"] == true {
            "  (changed again since)"
        } else {
            ""
        };
        println!("{}  {}{since}", s.conflict.unique_id, s.conflict.catalog);
        println!("  mine:   {}", line(&s.mine));
        println!("  theirs: {}", line(&s.theirs));
    }
    println!(
        "Keep one with: mesh account resolve UNIQUEID --keep mine|theirs (the catalog has theirs \
         until then)"
    );
    Ok(())
}

/// `mesh account resolve UNIQUEID --keep mine|theirs`.
pub fn resolve(
    common: &Common,
    data: &Option<PathBuf>,
    unique_id: &str,
    keep_mine: bool,
    force: bool,
) -> anyhow::Result<()> {
    let acc = account(data, common)?;
    let kind = mesh_client::conflicts::resolve(&acc, unique_id, keep_mine, force)?;
    let pushed = if keep_mine {
        push(&acc, kind)?
    } else {
        Pushed::Uploaded
    };
    let kept = if keep_mine { "mine" } else { "theirs" };
    report(
        "Resolved",
        unique_id,
        &pushed,
        common.json,
        serde_json::json!({"Kept": kept, "Catalog": kind.name()}),
    );
    Ok(())
}

/// Tell the user (on standard error) of conflicts a sync just found.
pub(crate) fn warn_conflicts(found: &[String]) {
    if !found.is_empty() {
        eprintln!(
            "warning: {} entr{} changed here and on another device since the last sync; the \
             other device's version is in the catalog and this device's was kept aside: see \
             `mesh account conflicts`",
            found.len(),
            if found.len() == 1 {
                "y was"
            } else {
                "ies were"
            }
        );
    }
}

/// What became of a change on the service.
enum Pushed {
    /// The account is bound to no service: the change is this device's.
    NotBound,
    Uploaded,
    /// The service could not be reached: kept, and uploaded by the next command that reaches it.
    Saved(String),
}

/// Upload a catalog change at once when the account is bound to a service, with whatever else
/// this device changed while the service could not be reached; if another device changed the
/// catalog meanwhile, sync (theirs first, this device's on top). Unreachable, the change stays
/// here, saved.
fn push(acc: &Opened, kind: CatalogKind) -> anyhow::Result<Pushed> {
    if mesh_client::online::load_binding(acc).is_none() {
        return Ok(Pushed::NotBound);
    }
    let mut session = mesh_client::online::Session::open(&acc.device, &acc.account)?;
    let pushed = match session.push(kind.name()) {
        Err(mesh_client::ClientError::Conflict(_)) => session.sync(&mut |_, _, _| {}).map(|_| ()),
        other => other.map(|_| ()),
    }
    .and_then(|_| session.push_pending().map(|_| ()));
    warn_conflicts(session.new_conflicts());
    match pushed {
        Ok(()) => Ok(Pushed::Uploaded),
        Err(mesh_client::ClientError::Unreachable(why)) => Ok(Pushed::Saved(why)),
        Err(e) => Err(e.into()),
    }
}

/// Say what a change did: `verb` ("Added", "Deleted") `key`, and where it is.
fn report(verb: &str, key: &str, pushed: &Pushed, json: bool, extra: serde_json::Value) {
    if json {
        let mut out = serde_json::json!({ verb: key });
        if let serde_json::Value::Object(more) = extra {
            out.as_object_mut().expect("an object").extend(more);
        }
        if let Pushed::Saved(_) = pushed {
            out["Uploaded"] = false.into();
        }
        println!("{out}");
    } else {
        match pushed {
            Pushed::Saved(why) => {
                println!("{verb} {key} (saved; will upload when the service is reachable: {why})")
            }
            _ => println!("{verb} {key}"),
        }
    }
}

/// Put an entry in its catalog (and on the service) and say so.
fn add(acc: &Opened, kind: CatalogKind, item: MeshItem, json: bool) -> anyhow::Result<()> {
    let key = acc.put(kind, &item)?;
    let pushed = push(acc, kind)?;
    report("Added", &key, &pushed, json, serde_json::json!({}));
    Ok(())
}

fn list(account: &Account, kind: CatalogKind, json: bool) -> anyhow::Result<()> {
    show(account.list(kind)?, json, false)
}

pub fn password(
    cmd: PasswordCommand,
    common: &Common,
    data: &Option<PathBuf>,
) -> anyhow::Result<()> {
    let kind = CatalogKind::Credential;
    let acc = account(data, common)?;
    match cmd {
        PasswordCommand::Add {
            service,
            username,
            password,
        } => {
            let password = session::secret_value(password, "password")?;
            let entry = CatalogedCredential {
                protocol: None,
                service: Some(service.clone()),
                username: Some(username),
                password: Some(password),
                ..Default::default()
            };
            add(&acc, kind, entry.into(), common.json)
        }
        PasswordCommand::Entry(op) => entry(&acc, kind, op, common.json),
    }
}

/// `contact static|dynamic`.
fn publish_contact(
    data: &Option<PathBuf>,
    acc: &Account,
    common: &Common,
    lifetime: Option<std::time::Duration>,
) -> anyhow::Result<()> {
    let device = session::open(data)?;
    let uri = mesh_client::contact_exchange::publish(&device, acc, lifetime)?;
    if common.json {
        println!(
            "{}",
            serde_json::json!({"Uri": uri, "Expires": lifetime.map(|l| l.as_secs())})
        );
    } else {
        crate::output::print_qr(&uri);
        println!("{uri}");
        match lifetime {
            Some(l) => println!(
                "Your contact, for {} s: who fetches it (mesh contact exchange URI) sends theirs back",
                l.as_secs()
            ),
            None => println!(
                "Your contact: who fetches it (mesh contact exchange URI) sends theirs back"
            ),
        }
    }
    Ok(())
}

/// `contact fetch|exchange URI`.
fn fetch_contact(
    data: &Option<PathBuf>,
    acc: &Account,
    common: &Common,
    uri: &str,
    service: Option<&str>,
    exchange: bool,
) -> anyhow::Result<()> {
    let device = session::open(data)?;
    let (address, udf) =
        mesh_client::contact_exchange::fetch(&device, acc, uri, service, exchange)?;
    if common.json {
        println!(
            "{}",
            serde_json::json!({"Added": address, "ProfileUdf": udf, "Sent": exchange})
        );
    } else {
        println!("Added {address} with the key of the profile {udf}");
        if exchange {
            println!("Sent yours back: {address} has it at their next sync");
        }
    }
    Ok(())
}

/// `contact block|unblock ADDRESS`.
fn block(
    data: &Option<PathBuf>,
    acc: &Account,
    common: &Common,
    address: &str,
    blocked: bool,
) -> anyhow::Result<()> {
    let device = session::open(data)?;
    let mut session = mesh_client::online::Session::open(&device, acc)?;
    mesh_client::contact_exchange::block(&mut session, acc, address, blocked)?;
    if common.json {
        println!(
            "{}",
            serde_json::json!({"Address": address, "Blocked": blocked})
        );
    } else if blocked {
        println!(
            "Blocked {address}: the service refuses their messages to {}",
            acc.address
        );
    } else {
        println!("Unblocked {address}");
    }
    Ok(())
}

pub fn contact(cmd: ContactCommand, common: &Common, data: &Option<PathBuf>) -> anyhow::Result<()> {
    let kind = CatalogKind::Contact;
    let acc = account(data, common)?;
    match cmd {
        ContactCommand::Add { email, name } => {
            if !email.contains('@') {
                bail!("'{email}' is not an email address");
            }
            // Their key, if they have written to this account: kept with the contact, messages
            // to them are encrypted to it from now on.
            let profile = mesh_client::messages::profile_from_messages(&acc, &email)?;
            let entry = mesh_client::contact_exchange::contact_entry(
                &email,
                profile,
                "MessageContact",
                name,
            )?;
            let anchor = entry
                .contact
                .as_ref()
                .and_then(|c| c.person())
                .and_then(|p| p.anchors.first())
                .and_then(|a| a.udf.clone());
            let key = acc.put(kind, &entry.into())?;
            let pushed = push(&acc, kind)?;
            if let Pushed::Saved(why) = &pushed {
                eprintln!("saved; will upload when the service is reachable: {why}");
            }
            if common.json {
                let mut out = serde_json::json!({"Added": key, "ProfileUdf": anchor});
                if let Pushed::Saved(_) = pushed {
                    out["Uploaded"] = false.into();
                }
                println!("{out}");
            } else {
                match &anchor {
                    Some(udf) => println!(
                        "Added {key} with the key of the profile {udf} from their message \
                         (compare it with what `mesh account info` shows them)"
                    ),
                    None => println!(
                        "Added {key} (no key of theirs yet: messages to them are not encrypted)"
                    ),
                }
            }
            Ok(())
        }
        ContactCommand::Request { address } => {
            let device = session::open(data)?;
            let id = mesh_client::contact_exchange::request(&device, &acc, &address)?;
            if common.json {
                println!("{}", serde_json::json!({"MessageId": id, "To": address}));
            } else {
                println!(
                    "Asked {address} to exchange contacts (message {id}); their contact is added \
                     here when they accept"
                );
            }
            Ok(())
        }
        ContactCommand::Static => publish_contact(data, &acc, common, None),
        ContactCommand::Dynamic { expire } => {
            let lifetime = crate::commands::account::parse_duration(&expire)?;
            publish_contact(data, &acc, common, Some(lifetime))
        }
        ContactCommand::Unpublish { uri } => {
            let device = session::open(data)?;
            mesh_client::contact_exchange::unpublish(&device, &acc, &uri)?;
            if common.json {
                println!("{}", serde_json::json!({"Withdrawn": uri}));
            } else {
                println!("Withdrawn: {uri} gives nothing from now on");
            }
            Ok(())
        }
        ContactCommand::Fetch { uri, service } => {
            fetch_contact(data, &acc, common, &uri, service.as_deref(), false)
        }
        ContactCommand::Exchange { uri, service } => {
            fetch_contact(data, &acc, common, &uri, service.as_deref(), true)
        }
        ContactCommand::Block { address } => block(data, &acc, common, &address, true),
        ContactCommand::Unblock { address } => block(data, &acc, common, &address, false),
        ContactCommand::Entry(op) => entry(&acc, kind, op, common.json),
    }
}

pub fn bookmark(
    cmd: BookmarkCommand,
    common: &Common,
    data: &Option<PathBuf>,
) -> anyhow::Result<()> {
    let kind = CatalogKind::Bookmark;
    let acc = account(data, common)?;
    match cmd {
        BookmarkCommand::Add { uri, title, path } => {
            let entry = CatalogedBookmark {
                uri: Some(uri.clone()),
                title,
                path,
                ..Default::default()
            };
            add(&acc, kind, entry.into(), common.json)
        }
        BookmarkCommand::Entry(op) => entry(&acc, kind, op, common.json),
    }
}

pub fn calendar(
    cmd: CalendarCommand,
    common: &Common,
    data: &Option<PathBuf>,
) -> anyhow::Result<()> {
    let kind = CatalogKind::Task;
    let acc = account(data, common)?;
    match cmd {
        CalendarCommand::Add {
            title,
            start,
            finish,
            location,
            description,
        } => {
            for t in [&start, &finish].into_iter().flatten() {
                mesh_encoding::datetime::parse(t)?;
            }
            let key = mesh_udf::random::nonce(80).to_string();
            let task = Task {
                key: Some(key.clone()),
                title: Some(title.clone()),
                start,
                finish,
                location,
                description,
                ..Default::default()
            };
            let payload = MeshItem::from(task).to_json()?;
            let enveloped = DareEnvelope::encode(payload.as_bytes(), &EnvelopeOptions::default())?;
            let entry = CatalogedTask {
                key: Some(key.clone()),
                title: Some(title.clone()),
                enveloped_task: Some(enveloped),
                ..Default::default()
            };
            acc.put(kind, &entry.into())?;
            let pushed = push(&acc, kind)?;
            // Said by its title; the id (what `calendar get` / `delete` take) beside it.
            report(
                "Added",
                &if common.json {
                    key.clone()
                } else {
                    format!("'{title}' (id {key})")
                },
                &pushed,
                common.json,
                serde_json::json!({ "Title": title }),
            );
            Ok(())
        }
        CalendarCommand::Entry(op) => entry(&acc, kind, op, common.json),
    }
}

pub fn network(cmd: NetworkCommand, common: &Common, data: &Option<PathBuf>) -> anyhow::Result<()> {
    let kind = CatalogKind::Network;
    let acc = account(data, common)?;
    match cmd {
        NetworkCommand::Add {
            service,
            username,
            password,
            protocol,
        } => {
            let password = session::secret_value(password, "password")?;
            let entry = CatalogedNetwork {
                protocol: Some(protocol),
                service: Some(service.clone()),
                username: Some(username),
                password: Some(password),
                ..Default::default()
            };
            add(&acc, kind, entry.into(), common.json)
        }
        NetworkCommand::Entry(op) => entry(&acc, kind, op, common.json),
    }
}

/// The OpenSSH public key line of an Ed25519 key (RFC 8709 §4).
fn openssh_public(key: &mesh_crypto::PublicKey, comment: &str) -> String {
    use base64::Engine;
    let mut blob = Vec::new();
    for part in [b"ssh-ed25519".as_slice(), key.as_bytes()] {
        blob.extend_from_slice(&(part.len() as u32).to_be_bytes());
        blob.extend_from_slice(part);
    }
    format!(
        "ssh-ed25519 {} {comment}",
        base64::engine::general_purpose::STANDARD.encode(blob)
    )
}

pub fn ssh(cmd: SshCommand, common: &Common, data: &Option<PathBuf>) -> anyhow::Result<()> {
    let kind = CatalogKind::Application;
    let acc = account(data, common)?;
    match cmd {
        SshCommand::Create { name } => {
            if acc.get(kind, &name)?.is_some() {
                bail!("an SSH key named '{name}' exists already");
            }
            let mut secret = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
            let key = PrivateKey::from_secret(Algorithm::Ed25519, &secret)?;
            let line = openssh_public(&key.public_key(), &format!("{name}@{}", acc.address));
            let private = mesh_encoding::to_json(&KeyParameters::from_private_secret(
                Algorithm::Ed25519,
                &secret,
            ))?;
            let enveloped = DareEnvelope::encode(private.as_bytes(), &EnvelopeOptions::default())?;
            let entry = CatalogedApplicationSsh {
                key: Some(name.clone()),
                public_key: Some(line.clone()),
                enveloped_private_key: Some(enveloped),
                ..Default::default()
            };
            acc.put(kind, &entry.into())?;
            let pushed = push(&acc, kind)?;
            if common.json {
                let mut out = serde_json::json!({"Added": name, "PublicKey": line});
                if let Pushed::Saved(_) = pushed {
                    out["Uploaded"] = false.into();
                }
                println!("{out}");
            } else {
                println!("{line}");
                if let Pushed::Saved(why) = pushed {
                    eprintln!("saved; will upload when the service is reachable: {why}");
                }
            }
            Ok(())
        }
        SshCommand::Get { name } => match acc.get(kind, &name)? {
            Some(MeshItem::CatalogedApplicationSsh(s)) => {
                let line = s.public_key.clone().unwrap_or_default();
                if common.json {
                    println!("{}", serde_json::json!({"Key": name, "PublicKey": line}));
                } else {
                    println!("{line}");
                }
                Ok(())
            }
            _ => bail!("no SSH key named '{name}'"),
        },
        SshCommand::List => {
            let entries = acc
                .list(kind)?
                .into_iter()
                .filter(|(_, i)| matches!(i, MeshItem::CatalogedApplicationSsh(_)))
                .collect();
            show(entries, common.json, false)
        }
        SshCommand::Delete { name } => delete(&acc, kind, &name, common.json),
    }
}

pub fn device(cmd: DeviceCommand, common: &Common, data: &Option<PathBuf>) -> anyhow::Result<()> {
    use mesh_client::connect;
    let json = common.json;
    match cmd {
        DeviceCommand::List => {
            let acc = account(data, common)?;
            let rows = acc
                .list(CatalogKind::Device)?
                .into_iter()
                .filter_map(|(_, item)| match item {
                    MeshItem::CatalogedDevice(d) => Some(device_row(&d, acc.device.udf())),
                    _ => None,
                })
                .collect::<Vec<_>>();
            if json {
                println!("{}", serde_json::Value::Array(rows));
            } else {
                for r in &rows {
                    println!(
                        "{}  {:<20} {:<24} added {}{}",
                        r["Udf"].as_str().unwrap_or_default(),
                        r["Description"].as_str().unwrap_or("-"),
                        r["Rights"]
                            .as_array()
                            .map(|a| a
                                .iter()
                                .filter_map(|v| v.as_str())
                                .collect::<Vec<_>>()
                                .join(","))
                            .filter(|s| !s.is_empty())
                            .unwrap_or_else(|| "none".into()),
                        r["Added"].as_str().unwrap_or("?"),
                        if r["ThisDevice"] == true {
                            "  (this device)"
                        } else {
                            ""
                        }
                    );
                }
            }
            Ok(())
        }
        DeviceCommand::Request {
            address,
            service,
            pin,
            rights,
        } => {
            let rights = rights.given()?;
            let (address, pin) = match address.strip_prefix("mcu://") {
                Some(rest) => {
                    let (addr, from_uri) = rest
                        .split_once('/')
                        .ok_or_else(|| anyhow::anyhow!("expected mcu://ADDRESS/PIN"))?;
                    (addr.to_string(), Some(from_uri.to_string()))
                }
                None => (address, pin),
            };
            session::with_device(data, |device| {
                let pending =
                    connect::request(device, &address, service.as_deref(), pin.as_deref(), rights)?;
                if json {
                    println!(
                        "{}",
                        serde_json::json!({"Account": pending.address, "Witness": pending.witness, "DeviceUdf": device.udf()})
                    );
                } else {
                    println!(
                        "Requested to join {} as device {}",
                        pending.address,
                        device.udf()
                    );
                    let earlier = connect::pending_requests(device, &pending.address).len() - 1;
                    if earlier > 0 {
                        println!(
                            "{earlier} earlier request(s) to {} are still waiting: whichever the administrator accepts completes.",
                            pending.address
                        );
                    }
                    if pin.is_some() {
                        // The PIN authenticates the request: the administrator device accepts
                        // it when it next syncs, with nothing for anyone to compare.
                        println!("The PIN vouches for this request: once the administrator device has synced, run `mesh device complete`.");
                    } else {
                        println!("Witness: {}", pending.witness);
                        println!("Check that the administrator device shows the same witness, then run `mesh device complete`.");
                    }
                }
                Ok(())
            })
        }
        DeviceCommand::Pending => {
            let device = session::open(data)?;
            let acc = device.account(common.account.as_deref())?;
            let processed = connect::process_pins(&device, &acc)?;
            report_pins(&processed, json);
            let list = connect::pending(&device, &acc)?;
            let asked = |p: &connect::PendingRequest| match p.requested() {
                Some(Ok(rights)) => rights.names().join(","),
                Some(Err(why)) => format!("unknown ({why})"),
                None => String::new(),
            };
            if json {
                let rows: Vec<_> = list.iter().map(|p| serde_json::json!({"Witness": p.witness, "DeviceUdf": p.device_udf, "Description": p.description, "Requested": asked(p)})).collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if list.is_empty() {
                println!("No connection requests are waiting.");
            } else {
                for p in &list {
                    let requested = asked(p);
                    println!(
                        "{}  device {} {}{}",
                        p.witness,
                        p.device_udf,
                        p.description.as_deref().unwrap_or(""),
                        match requested.is_empty() {
                            true => String::new(),
                            false => format!("  (asks for: {requested})"),
                        }
                    );
                }
            }
            Ok(())
        }
        DeviceCommand::Accept { witness, rights } => {
            let given = rights.given()?;
            let device = session::open_with_passphrase(data)?;
            // The rights named, or else those the device asked for, or else the default.
            let rights = match given {
                Some(rights) => rights,
                None => {
                    let acc = device.account(common.account.as_deref())?;
                    let pending = connect::pending(&device, &acc)?;
                    let asked =
                        connect::find_request(&pending, &witness).and_then(|p| p.requested());
                    match asked {
                        // The account's key itself is given only when the administrator names it.
                        Some(Ok(rights)) if rights.web => bail!(
                            "the device asks for the web right (the account's decryption key \
                             itself, kept after a removal): grant it, or others, by naming them \
                             with --rights"
                        ),
                        Some(Ok(rights)) => rights,
                        Some(Err(why)) => bail!(
                            "the device asks for rights this build does not know ({why}): name \
                             the rights to grant with --rights"
                        ),
                        None => mesh_schema::rights::Rights::DEFAULT,
                    }
                }
            };
            respond(&device, common, &witness, Some(rights))
        }
        DeviceCommand::Reject { witness } => respond(&session::open(data)?, common, &witness, None),
        DeviceCommand::Auth { udf, rights } => {
            let rights = rights.named()?;
            let device = session::open_with_passphrase(data)?;
            let acc = device.account(common.account.as_deref())?;
            let changed = mesh_client::reconnect::change_rights(&device, &acc, &udf, rights)?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"Device": udf, "Rights": changed.after.names(),
                        "Before": changed.before.names(), "HoldsAccountKey": changed.kept_key})
                );
            } else {
                println!(
                    "Device {udf} now has the rights {} (before: {}); it takes its new connection \
                     at its next sync, and the service refuses the old one from now on",
                    changed.after.names().join(", "),
                    changed.before.names().join(", ")
                );
                if changed.kept_key {
                    println!(
                        "It had the web right and keeps the account's decryption key it was \
                         given: to stop it reading with it, rotate the keys (mesh account rekey)."
                    );
                }
            }
            Ok(())
        }
        DeviceCommand::Add {
            code: _,
            timeout,
            rights,
        } => {
            let rights = rights.rights()?;
            let device = session::open_with_passphrase(data)?;
            let acc = device.account(common.account.as_deref())?;
            let udf = mesh_client::pairing::add_device(
                &device,
                &acc,
                rights,
                std::time::Duration::from_secs(timeout),
                &mut |code| {
                    use std::io::Write;
                    if json {
                        println!("{}", serde_json::json!({"Code": code}));
                    } else {
                        println!("Pairing code: {code}   (on the new device: mesh device join {} {code})", acc.address);
                    }
                    let _ = std::io::stdout().flush();
                },
            )?;
            if json {
                println!("{}", serde_json::json!({"Paired": udf}));
            } else {
                println!(
                    "Sent the new device its records ({udf}); it joins when it has submitted them."
                );
            }
            Ok(())
        }
        DeviceCommand::Join {
            address,
            code,
            service,
        } => {
            let home = session::home(data);
            let pass = session::passphrase(session::PASSPHRASE_ENV, "New device passphrase", true)?;
            let (device, acc) =
                mesh_client::pairing::join(&home, &pass, &address, &code, service.as_deref())?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"Account": acc.address, "AccountUdf": acc.udf, "DeviceUdf": device.udf()})
                );
            } else {
                println!("Joined {} as device {}", acc.address, device.udf());
            }
            Ok(())
        }
        DeviceCommand::Delete { udf, shares } => {
            let mut device = session::open_with_passphrase(data)?;
            let acc = device.account(common.account.as_deref())?;
            if udf.eq_ignore_ascii_case(device.udf()) {
                bail!("{udf} is this device: remove it from another administrator device");
            }
            let Some(entry) = acc.get(CatalogKind::Device, &udf)? else {
                bail!("no device {udf} in {}", acc.address);
            };
            let admin = acc.administrator_key()?;
            // An administrator device holds the account's keys: removing it rotates them, or
            // it would keep them.
            let administrator = matches!(&entry, mesh_schema::MeshItem::CatalogedDevice(d)
                if d.enveloped_activation_account.is_none());
            if administrator {
                let address = acc.address.clone();
                drop(acc);
                let removal = mesh_client::rotation::Removal {
                    devices: vec![udf.clone()],
                    all_others: false,
                };
                let report =
                    crate::commands::online::rekey(&mut device, &address, &shares, &removal)
                        .context("removing an administrator device rotates the account's keys")?;
                if json {
                    println!(
                        "{}",
                        serde_json::json!({"Deleted": udf, "AdministratorSignature": report.administrator})
                    );
                } else {
                    println!(
                        "Removed administrator device {udf} from {address}; the account's keys \
                         were rotated (new administrator key {})",
                        report.administrator
                    );
                }
                return Ok(());
            }
            mesh_client::online::Session::open(&device, &acc)?.revoke(&udf, &admin)?;
            // A device given the web right holds the account's decryption key: the service
            // refuses it from now on, but only new keys stop it decrypting what it holds.
            let web = matches!(&entry, mesh_schema::MeshItem::CatalogedDevice(d)
                if mesh_client::context::record_rights(d).web);
            if json {
                println!(
                    "{}",
                    serde_json::json!({"Deleted": udf, "HoldsAccountKey": web})
                );
            } else {
                println!("Removed device {udf} from {address}", address = acc.address);
                if web {
                    println!(
                        "It was connected with the web right and keeps the account's decryption \
                         key: to stop it reading what it holds and what is written from now on, \
                         rotate the keys (mesh account rekey)."
                    );
                }
            }
            Ok(())
        }
        DeviceCommand::Preconfig { out } => {
            let device = session::open_with_passphrase(data)?;
            let acc = device.account(common.account.as_deref())?;
            let (uri, udf) = mesh_client::preconfig::preconfigure(&device, &acc, &out)?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"Uri": uri, "DeviceUdf": udf, "File": out.display().to_string()})
                );
            } else {
                crate::output::print_qr(&uri);
                println!("{uri}");
                println!("Device {udf}; its record (with its secret) is in {}: load it into the device only.", out.display());
            }
            Ok(())
        }
        DeviceCommand::Install { file, service } => {
            let record = std::fs::read(&file)
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", file.display()))?;
            let home = session::home(data);
            let pass = session::passphrase(session::PASSPHRASE_ENV, "New device passphrase", true)?;
            let device =
                mesh_client::preconfig::install(&home, &pass, &record, service.as_deref())?;
            if json {
                println!("{}", serde_json::json!({"DeviceUdf": device.udf()}));
            } else {
                println!("Installed device {}; when its QR code has been scanned, run `mesh device complete`.", device.udf());
            }
            Ok(())
        }
        DeviceCommand::Passphrase => super::unlock::change_passphrase(data, json),
        DeviceCommand::Complete => {
            let mut device = session::open(data)?;
            let joined = if mesh_client::preconfig::is_waiting(&device) {
                mesh_client::preconfig::complete(&mut device)?
            } else {
                connect::complete(&mut device, common.account.as_deref())?
            };
            match joined {
                None => bail!("the request is still waiting for the administrator (run `mesh device complete` again later)"),
                Some(acc) => {
                    if json {
                        println!("{}", serde_json::json!({"Account": acc.address, "AccountUdf": acc.udf, "DeviceUdf": device.udf()}));
                    } else {
                        println!("Joined {} ({})", acc.address, acc.udf);
                    }
                    Ok(())
                }
            }
        }
    }
}

/// Answer a connection request on an administrator device.
fn respond(
    device: &mesh_client::Device,
    common: &Common,
    witness: &str,
    accept: Option<mesh_schema::rights::Rights>,
) -> anyhow::Result<()> {
    let acc = device.account(common.account.as_deref())?;
    let udf = mesh_client::connect::respond(
        device,
        &acc,
        witness,
        accept.is_some(),
        accept.unwrap_or_default(),
    )?;
    match accept {
        Some(rights) if common.json => println!(
            "{}",
            serde_json::json!({"Result": "Accepted", "DeviceUdf": udf, "Rights": rights.names()})
        ),
        Some(rights) => println!("Accepted device {udf} (rights: {rights})"),
        None if common.json => {
            println!(
                "{}",
                serde_json::json!({"Result": "Rejected", "DeviceUdf": udf})
            )
        }
        None => println!("Rejected device {udf}"),
    }
    Ok(())
}

/// Say what became of PIN-authenticated requests; a reused PIN is an alert.
pub fn report_pins(outcomes: &[mesh_client::connect::PinOutcome], json: bool) {
    for o in outcomes {
        match o.result.as_str() {
            "Accept" if !json => println!("Connected device {} (its PIN verified)", o.device_udf),
            "PinUsed" => eprintln!("ALERT: device {} presented a PIN that was already used; refused. Someone else may hold that PIN.", o.device_udf),
            other if !json => println!("Refused device {}: {other}", o.device_udf),
            _ => {}
        }
    }
}
