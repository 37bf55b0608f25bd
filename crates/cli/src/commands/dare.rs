//! `mesh dare …`: DARE envelopes and containers (dare-12), after meshman's `dare` commands.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use mesh_dare::crypt::earl_seed;
use mesh_dare::schema::ContentMeta;
use mesh_dare::{
    keys_in_payload, AppendOptions, Container, ContainerType, DareEnvelope, DareError,
    EnvelopeOptions, KeyRing, Mode,
};
use mesh_encoding::base64url;
use mesh_udf::{UdfScheme, UdfType, UdfUri};
use serde::Serialize;

use crate::keyfile;
use crate::output::emit;

#[derive(Subcommand)]
pub enum DareCommand {
    /// Put a file in an envelope: signed, encrypted, or both.
    Encode(EncodeArgs),
    /// Check an envelope and write its (decrypted) payload.
    Decode(DecodeArgs),
    /// Check an envelope's digest and signatures, or every digest of a container.
    Verify(VerifyArgs),
    /// Encrypt a file under a fresh EARL: prints the udf:// key URI, writes LOCATOR.dare.
    Earl(EarlArgs),
    /// Create a container.
    Create(CreateArgs),
    /// Append files to a container.
    Append(AppendArgs),
    /// Append a line of text to a container.
    Log(LogArgs),
    /// List a container's entries.
    List(ContainerArgs),
    /// Show a container's frames: positions, sizes and digests.
    Dir(ContainerArgs),
    /// Extract entries from a container.
    Extract(ExtractArgs),
    /// Append an index frame, or with --proof print and check a Merkle inclusion proof.
    Index(IndexArgs),
}

#[derive(Args)]
pub struct EncodeArgs {
    file: PathBuf,
    /// Output file (default FILE.dare).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Sign with this key (key file or Z… secret); may be repeated.
    #[arg(long)]
    sign: Vec<String>,
    /// Encrypt to this key (key file or Z… secret), or to an account by its address (a group
    /// this account administers or is a member of, one of this device's accounts, or a contact
    /// whose key is kept); may be repeated.
    #[arg(long)]
    encrypt: Vec<String>,
    /// The account whose contacts and groups resolve addresses (default: the default account).
    #[arg(long)]
    account: Option<String>,
    /// Content type to record in the metadata.
    #[arg(long)]
    cty: Option<String>,
    /// Write JSON-B instead of JSON.
    #[arg(long)]
    jsonb: bool,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct DecodeArgs {
    file: PathBuf,
    /// Where to write the payload (default standard output).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Decryption or signer keys (key files, Z… secrets, or an EARL key / udf:// URI). Without
    /// any, the device's account decrypts (with its key, or its share and its service's help,
    /// or as a member of the group the envelope is encrypted to).
    #[arg(long)]
    key: Vec<String>,
    /// The account that decrypts, or resolves addresses to encrypt to (default: the default
    /// account).
    #[arg(long)]
    account: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct VerifyArgs {
    file: PathBuf,
    /// Extra signer keys (key files or Z… secrets).
    #[arg(long)]
    key: Vec<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct EarlArgs {
    file: PathBuf,
    /// Domain the content is published at (udf://DOMAIN/KEY).
    #[arg(long)]
    authority: Option<String>,
    /// Directory for LOCATOR.dare (default the current directory).
    #[arg(long, default_value = ".")]
    out: PathBuf,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct CreateArgs {
    container: PathBuf,
    /// list, chain, tree or merkle.
    #[arg(long = "type", default_value = "merkle")]
    container_type: String,
    /// Encrypt every entry to this key; may be repeated.
    #[arg(long)]
    encrypt: Vec<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct AppendArgs {
    container: PathBuf,
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[arg(long)]
    sign: Vec<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct LogArgs {
    container: PathBuf,
    text: String,
    #[arg(long)]
    sign: Vec<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ContainerArgs {
    container: PathBuf,
    /// Keys for encrypted entries.
    #[arg(long)]
    key: Vec<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ExtractArgs {
    container: PathBuf,
    /// Frame to extract (default: every entry).
    #[arg(long)]
    index: Option<u64>,
    /// Entry to extract, by the file name it was appended with.
    #[arg(long)]
    file: Option<String>,
    /// Directory to write to.
    #[arg(long, default_value = ".")]
    out: PathBuf,
    #[arg(long)]
    key: Vec<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct IndexArgs {
    container: PathBuf,
    /// Print the inclusion proof of this frame against the current tree digest and check it.
    #[arg(long)]
    proof: Option<u64>,
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct EncodeOut {
    file: String,
    signed_by: Vec<String>,
    encrypted_to: Vec<String>,
    payload_digest: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SignatureOut {
    key: String,
    status: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct VerifyOut {
    valid: bool,
    digest: &'static str,
    signatures: Vec<SignatureOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frames: Option<u64>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct EntryOut {
    index: u64,
    position: u64,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    unique_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    filename: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_type: Option<String>,
    encrypted: bool,
    signed: bool,
    meta: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload_digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tree_digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    chain_digest: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ContainerOut {
    container: String,
    container_type: String,
    encrypted: bool,
    frames: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    tree_digest: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    entries: Vec<EntryOut>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AppendOut {
    container: String,
    appended: Vec<u64>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ProofOut {
    index: u64,
    tree_size: u64,
    tree_digest: String,
    path: Vec<String>,
    valid: bool,
}

fn read_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// Write a new file atomically: a temporary file beside it, fsynced, then renamed.
fn write_atomic(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile_in(dir)?;
    tmp.1.write_all(data)?;
    tmp.1.sync_all()?;
    std::fs::rename(&tmp.0, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn tempfile_in(dir: &Path) -> anyhow::Result<(PathBuf, std::fs::File)> {
    for attempt in 0..100u32 {
        let name = dir.join(format!(".mesh-tmp-{}-{attempt}", std::process::id()));
        if let Ok(f) = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&name)
        {
            return Ok((name, f));
        }
    }
    bail!("cannot create a temporary file in {}", dir.display())
}

fn is_container(data: &[u8]) -> bool {
    data.first().is_some_and(|b| b & 0xFC == 0xF4)
}

/// An EARL key argument (`E…` UDF or `udf://…/E…`), as the base seed it encrypts under.
fn earl_key(arg: &str) -> Option<mesh_dare::crypt::BaseSeed> {
    let lower = arg.to_ascii_lowercase();
    let udf = if lower.starts_with("udf:") || lower.starts_with("mcu:") {
        UdfUri::parse(arg).ok()?.udf
    } else {
        mesh_udf::Udf::parse(arg).ok()?
    };
    matches!(udf.kind(), UdfType::EncryptionKey(_)).then(|| earl_seed(udf.body()))
}

fn digest_text(d: &Option<Vec<u8>>) -> Option<String> {
    d.as_ref().map(|d| base64url::encode(d))
}

/// The keys `args` name: key files and secrets as they are, addresses through the device's
/// account (`account`, or the default one): a group it administers or is a member of, one of
/// the device's accounts, or a contact whose key is kept.
fn recipients_of(
    args: &[String],
    data: &Option<PathBuf>,
    account: Option<&str>,
) -> anyhow::Result<Vec<mesh_crypto::PublicKey>> {
    let mut device = None;
    let mut keys = Vec::new();
    for arg in args {
        // (An address never holds a '/': `./name@x` is a file.)
        if !arg.contains('@') || arg.contains('/') {
            keys.push(keyfile::recipient(arg)?);
            continue;
        }
        // A file of that name is not silently taken for the address, nor the other way round.
        if std::path::Path::new(arg).exists() {
            anyhow::bail!(
                "'{arg}' is both a file here and an address: write ./{arg} for the key file"
            );
        }
        if device.is_none() {
            device = Some(crate::session::open(data)?);
        }
        let device = device.as_ref().expect("opened");
        let acc = device.account(account)?;
        // One of this device's accounts, then a contact (keys from a signed exchange), and only
        // then a group this account was made a member of.
        let key = match mesh_client::messages::contact_key(&acc, arg)? {
            Some(key) if device.account(Some(arg)).is_err() => Some(key),
            _ => mesh_client::groups::group_key(device, &acc, arg)?,
        };
        keys.push(key.ok_or_else(|| {
            anyhow::anyhow!(
                "no key of {arg} is known to {}: exchange contacts first, or be made a member \
                 of the group",
                acc.address
            )
        })?);
    }
    Ok(keys)
}

pub fn run(cmd: DareCommand, data: &Option<PathBuf>) -> anyhow::Result<()> {
    match cmd {
        DareCommand::Encode(a) => {
            let plaintext = read_file(&a.file)?;
            let signers = keyfile::signers(&a.sign)?;
            let recipients = recipients_of(&a.encrypt, data, a.account.as_deref())?;
            let meta = ContentMeta {
                content_type: a.cty.clone(),
                filename: a.file.file_name().map(|f| f.to_string_lossy().into_owned()),
                ..Default::default()
            };
            let env = DareEnvelope::encode(
                &plaintext,
                &EnvelopeOptions {
                    meta: Some(meta),
                    signers: signers.iter().collect(),
                    recipients: recipients.iter().collect(),
                    digest: true,
                    ..Default::default()
                },
            )?;
            let out = a.out.unwrap_or_else(|| {
                let mut p = a.file.clone().into_os_string();
                p.push(".dare");
                p.into()
            });
            let bytes = if a.jsonb {
                env.to_jsonb()?
            } else {
                env.to_json()?.into_bytes()
            };
            write_atomic(&out, &bytes)?;
            let report = EncodeOut {
                file: out.display().to_string(),
                signed_by: signers.iter().map(|k| k.public_key().udf()).collect(),
                encrypted_to: recipients.iter().map(|k| k.udf()).collect(),
                payload_digest: digest_text(
                    &env.trailer.as_ref().and_then(|t| t.payload_digest.clone()),
                ),
            };
            emit(a.json, &report, |o| {
                println!("Wrote {}", o.file);
                for s in &o.signed_by {
                    println!("  signed by {s}");
                }
                for r in &o.encrypted_to {
                    println!("  encrypted to {r}");
                }
            })
        }
        DareCommand::Decode(a) => {
            let env = DareEnvelope::parse(&read_file(&a.file)?)
                .with_context(|| format!("{} is not a DARE envelope", a.file.display()))?;
            let earl = a.key.iter().find_map(|k| earl_key(k));
            let plaintext = match earl {
                Some(seed) if env.is_encrypted() && env.header.recipients.is_empty() => env
                    .plaintext(&KeyRing::new())
                    .or_else(|_| env.decrypt_with_seed(&seed))?,
                // No key named: the device's account decrypts, as itself or as a member of the
                // group the envelope is encrypted to.
                _ if a.key.is_empty()
                    && !env.header.recipients.is_empty()
                    && crate::session::home(data).has_device() =>
                {
                    let device = crate::session::open(data)?;
                    let acc = device.account(a.account.as_deref())?;
                    // As a member of a group first; else (or if the group's service refuses)
                    // with the account's own key, the group's refusal said if that fails too.
                    let as_member = mesh_client::groups::decrypt(&device, &acc, &env);
                    match as_member {
                        Ok(Some(plaintext)) => plaintext,
                        other => {
                            let ring = acc.ring_for_envelopes(std::slice::from_ref(&env))?;
                            env.plaintext(&ring).map_err(|_| match other {
                                Err(group) => anyhow::anyhow!(group),
                                _ => anyhow::anyhow!(
                                    "no decryption key is available: {} holds no key (nor a \
                                     group's share) this envelope is encrypted to",
                                    acc.address
                                ),
                            })?
                        }
                    }
                }
                _ => {
                    let keys = keyfile::ring(
                        &a.key
                            .iter()
                            .filter(|k| earl_key(k).is_none())
                            .cloned()
                            .collect::<Vec<_>>(),
                    )?;
                    env.plaintext(&keys)?
                }
            };
            match &a.out {
                Some(path) => {
                    write_atomic(path, &plaintext)?;
                    if a.json {
                        println!(
                            "{}",
                            serde_json::json!({"File": path.display().to_string(), "Length": plaintext.len()})
                        );
                    } else {
                        println!("Wrote {} ({} octets)", path.display(), plaintext.len());
                    }
                }
                None => {
                    use std::io::Write;
                    std::io::stdout().write_all(&plaintext)?;
                }
            }
            Ok(())
        }
        DareCommand::Verify(a) => {
            let data = read_file(&a.file)?;
            if is_container(&data) {
                let c = Container::open(&a.file, Mode::Read)?;
                let frames = c.verify()?;
                let out = VerifyOut {
                    valid: true,
                    digest: "valid",
                    signatures: vec![],
                    frames: Some(frames),
                };
                return emit(a.json, &out, |o| {
                    println!(
                        "Container valid: {} frames, every digest checks",
                        o.frames.unwrap_or(0)
                    )
                });
            }
            let env = DareEnvelope::parse(&data)
                .with_context(|| format!("{} is not a DARE envelope", a.file.display()))?;
            let mut keys = keyfile::ring(&a.key)?;
            for k in keys_in_payload(&env.payload) {
                keys.add_public(k);
            }
            let outcome = env.verify(&keys)?;
            let mut signatures: Vec<SignatureOut> = outcome
                .valid
                .iter()
                .map(|k| SignatureOut {
                    key: k.clone(),
                    status: "valid",
                })
                .collect();
            signatures.extend(outcome.unknown.iter().map(|k| SignatureOut {
                key: k.clone(),
                status: "unknown signer",
            }));
            let out = VerifyOut {
                valid: outcome.unknown.is_empty(),
                digest: "valid",
                signatures,
                frames: None,
            };
            emit(a.json, &out, |o| {
                println!("Payload digest: {}", o.digest);
                for s in &o.signatures {
                    println!("Signature by {}: {}", s.key, s.status);
                }
            })?;
            if let Some(kid) = outcome.unknown.into_iter().next() {
                return Err(DareError::UnknownSigner { kid }.into());
            }
            Ok(())
        }
        DareCommand::Earl(a) => {
            let plaintext = read_file(&a.file)?;
            let (uri, locator) = match &a.authority {
                Some(auth) => mesh_udf::uri::new_earl(UdfScheme::Udf, auth)?,
                None => {
                    let key = mesh_udf::random::encryption_key(128).to_string();
                    let uri = UdfUri::parse(&format!("udf:{key}"))?;
                    let locator = mesh_udf::earl_locator(&key);
                    (uri, locator)
                }
            };
            let env = DareEnvelope::encode(
                &plaintext,
                &EnvelopeOptions {
                    symmetric: Some((earl_seed(uri.udf.body()), locator.clone())),
                    digest: true,
                    ..Default::default()
                },
            )?;
            std::fs::create_dir_all(&a.out)?;
            let path = a.out.join(format!("{locator}.dare"));
            write_atomic(&path, env.to_json()?.as_bytes())?;
            let out = serde_json::json!({
                "Uri": uri.to_string(), "Key": uri.udf_text, "Locator": locator,
                "File": path.display().to_string()});
            emit(a.json, &out, |o| {
                println!("{}", o["Uri"].as_str().unwrap_or_default());
                println!("Locator: {}", o["Locator"].as_str().unwrap_or_default());
                println!("Wrote {}", o["File"].as_str().unwrap_or_default());
            })
        }
        DareCommand::Create(a) => {
            let ty = ContainerType::parse(&a.container_type)?;
            let recipients = keyfile::recipients(&a.encrypt)?;
            let c = Container::create(&a.container, ty, &recipients)?;
            let out = summary(&c, vec![]);
            emit(a.json, &out, |o| {
                println!(
                    "Created {} ({} container{})",
                    o.container,
                    o.container_type,
                    if o.encrypted { ", encrypted" } else { "" }
                )
            })
        }
        DareCommand::Append(a) => {
            let signers = keyfile::signers(&a.sign)?;
            let mut c = Container::open(&a.container, Mode::Write)?;
            let mut envs = Vec::new();
            let progress = crate::output::progress(a.files.len() as u64, a.json);
            for file in &a.files {
                let meta = ContentMeta {
                    filename: file.file_name().map(|f| f.to_string_lossy().into_owned()),
                    unique_id: Some(mesh_udf::random::nonce(128).to_string()),
                    ..Default::default()
                };
                envs.push(c.make_entry(
                    &read_file(file)?,
                    &AppendOptions {
                        meta: Some(meta),
                        signers: signers.iter().collect(),
                    },
                )?);
                progress.inc(1);
            }
            progress.finish_and_clear();
            let appended = c.append_envelopes(envs)?;
            let out = AppendOut {
                container: a.container.display().to_string(),
                appended,
            };
            emit(a.json, &out, |o| {
                println!("Appended frames {:?} to {}", o.appended, o.container)
            })
        }
        DareCommand::Log(a) => {
            let signers = keyfile::signers(&a.sign)?;
            let mut c = Container::open(&a.container, Mode::Write)?;
            let meta = ContentMeta {
                content_type: Some("text/plain".into()),
                unique_id: Some(mesh_udf::random::nonce(128).to_string()),
                ..Default::default()
            };
            let index = c.append(
                a.text.as_bytes(),
                &AppendOptions {
                    meta: Some(meta),
                    signers: signers.iter().collect(),
                },
            )?;
            let out = AppendOut {
                container: a.container.display().to_string(),
                appended: vec![index],
            };
            emit(a.json, &out, |o| {
                println!("Logged frame {} in {}", o.appended[0], o.container)
            })
        }
        DareCommand::List(a) | DareCommand::Dir(a) => {
            let c = Container::open(&a.container, Mode::Read)?;
            let entries = (0..c.frame_count())
                .map(|i| entry(&c, i))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let out = summary(&c, entries);
            emit(a.json, &out, |o| {
                println!(
                    "{}: {} container, {} frames{}",
                    o.container,
                    o.container_type,
                    o.frames,
                    if o.encrypted { ", encrypted" } else { "" }
                );
                for e in o.entries.iter().filter(|e| e.index > 0) {
                    let name = e
                        .filename
                        .clone()
                        .or(e.unique_id.clone())
                        .unwrap_or_default();
                    let flags = format!(
                        "{}{}{}",
                        if e.encrypted { " encrypted" } else { "" },
                        if e.signed { " signed" } else { "" },
                        if e.meta { " index" } else { "" }
                    );
                    println!(
                        "  [{}] @{} {} octets {}{}",
                        e.index, e.position, e.size, name, flags
                    );
                }
                if let Some(t) = &o.tree_digest {
                    println!("Tree digest: {t}");
                }
            })
        }
        DareCommand::Extract(a) => {
            let c = Container::open(&a.container, Mode::Read)?;
            let keys = keyfile::ring(&a.key)?;
            let indexes: Vec<u64> = match (a.index, &a.file) {
                (Some(i), _) => vec![i],
                (None, Some(name)) => {
                    let found: Vec<u64> = c
                        .entry_indexes()
                        .filter(|i| {
                            c.read(*i)
                                .ok()
                                .and_then(|e| e.content_meta().ok())
                                .and_then(|m| m.filename)
                                .as_deref()
                                == Some(name.as_str())
                        })
                        .collect();
                    match found.last() {
                        Some(i) => vec![*i],
                        None => bail!("no entry named '{name}' in {}", a.container.display()),
                    }
                }
                (None, None) => c.entry_indexes().collect(),
            };
            std::fs::create_dir_all(&a.out)?;
            let mut written = Vec::new();
            for index in indexes {
                let env = c.read(index)?;
                let meta = env.content_meta()?;
                let name = meta
                    .filename
                    .as_deref()
                    .and_then(|f| Path::new(f).file_name())
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_else(|| format!("frame-{index}"));
                let path = a.out.join(name);
                write_atomic(&path, &env.plaintext(&keys)?)?;
                written.push(path.display().to_string());
            }
            emit(a.json, &written, |w| {
                w.iter().for_each(|p| println!("Wrote {p}"))
            })
        }
        DareCommand::Index(a) => match a.proof {
            Some(index) => {
                let c = Container::open(&a.container, Mode::Read)?;
                let proof = c.proof(index)?;
                let root = c.tree_digest().context("the container has no entries")?;
                let valid = c.check_proof(index, &proof, &root).is_ok();
                let out = ProofOut {
                    index,
                    tree_size: proof.size,
                    tree_digest: base64url::encode(&root),
                    path: proof.path.iter().map(|h| base64url::encode(h)).collect(),
                    valid,
                };
                emit(a.json, &out, |o| {
                    println!(
                        "Frame {} of {} under tree digest {}",
                        o.index, o.tree_size, o.tree_digest
                    );
                    for (i, p) in o.path.iter().enumerate() {
                        println!("  {i}: {p}");
                    }
                    println!("Proof {}", if o.valid { "valid" } else { "INVALID" });
                })?;
                if !valid {
                    bail!("the proof does not verify");
                }
                Ok(())
            }
            None => {
                let mut c = Container::open(&a.container, Mode::Write)?;
                let index = c.write_index()?;
                let out = AppendOut {
                    container: a.container.display().to_string(),
                    appended: vec![index],
                };
                emit(a.json, &out, |o| {
                    println!("Wrote index frame {} to {}", o.appended[0], o.container)
                })
            }
        },
    }
}

fn summary(c: &Container, entries: Vec<EntryOut>) -> ContainerOut {
    ContainerOut {
        container: c.path().display().to_string(),
        container_type: c.container_type().name().into(),
        encrypted: c.is_encrypted(),
        frames: c.frame_count(),
        tree_digest: c.tree_digest().map(|d| base64url::encode(&d)),
        entries,
    }
}

fn entry(c: &Container, index: u64) -> anyhow::Result<EntryOut> {
    let env = c.read(index)?;
    let f = c.frame_entry(index).context("frame")?;
    let meta = env.content_meta().unwrap_or_default();
    let trailer = env.trailer.clone().unwrap_or_default();
    Ok(EntryOut {
        index,
        position: f.position,
        size: f.size,
        unique_id: meta.unique_id,
        filename: meta.filename,
        content_type: meta.content_type,
        encrypted: env.is_encrypted(),
        signed: !trailer.signatures.is_empty(),
        meta: f.is_meta,
        payload_digest: digest_text(&trailer.payload_digest),
        tree_digest: digest_text(&trailer.tree_digest),
        chain_digest: digest_text(&trailer.chain_digest),
    })
}
