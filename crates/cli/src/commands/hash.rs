//! `mesh hash …`: content digests and authenticators of files (udf-13 §5).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use mesh_udf::{authenticator, digest::Hasher, ContentDigest, DigestAlgorithm};
use serde::Serialize;

use crate::output::emit;

#[derive(Subcommand)]
pub enum HashCommand {
    /// The UDF content digest of a file.
    Udf(UdfArgs),
    /// The plain digest of a file, in hexadecimal.
    Digest(DigestArgs),
    /// The authenticator (keyed) UDF of a file.
    Mac(MacArgs),
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Alg {
    Sha2,
    Sha3,
}

impl From<Alg> for DigestAlgorithm {
    fn from(a: Alg) -> Self {
        match a {
            Alg::Sha2 => DigestAlgorithm::Sha2_512,
            Alg::Sha3 => DigestAlgorithm::Sha3_512,
        }
    }
}

#[derive(Args)]
pub struct UdfArgs {
    /// The file to fingerprint.
    file: PathBuf,
    /// Digest algorithm.
    #[arg(long, value_enum, default_value = "sha2")]
    alg: Alg,
    /// Content type bound into the fingerprint.
    #[arg(long, default_value = "application/octet-stream")]
    cty: String,
    /// Precision in bits: a multiple of 20 from 20 to 500.
    #[arg(long, default_value_t = mesh_udf::DEFAULT_BITS)]
    bits: usize,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct DigestArgs {
    file: PathBuf,
    #[arg(long, value_enum, default_value = "sha2")]
    alg: Alg,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct MacArgs {
    file: PathBuf,
    /// The authentication key (any text; a fresh nonce UDF is made and shown if omitted).
    #[arg(long)]
    key: Option<String>,
    #[arg(long, value_enum, default_value = "sha2")]
    alg: Alg,
    #[arg(long, default_value = "application/octet-stream")]
    cty: String,
    #[arg(long, default_value_t = mesh_udf::DEFAULT_BITS)]
    bits: usize,
    #[arg(long)]
    json: bool,
}

/// Files larger than this show a progress bar on an interactive terminal.
const PROGRESS_THRESHOLD: u64 = 256 * 1024 * 1024;

/// Stream a file through the digest, with a progress bar for large files.
fn digest_file(path: &Path, alg: DigestAlgorithm) -> anyhow::Result<[u8; 64]> {
    let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = (size > PROGRESS_THRESHOLD && std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .then(|| {
            indicatif::ProgressBar::new(size).with_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} {eta}",
                )
                .expect("valid template"),
            )
        });
    let mut hasher = Hasher::new(alg);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        if let Some(b) = &bar {
            b.inc(n as u64);
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(hasher.finish())
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct UdfOut {
    file: String,
    content_type: String,
    algorithm: String,
    bits: usize,
    udf: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DigestOut {
    file: String,
    algorithm: String,
    digest: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct MacOut {
    file: String,
    content_type: String,
    key: String,
    udf: String,
}

fn alg_name(a: Alg) -> String {
    match a {
        Alg::Sha2 => "SHA-2-512".into(),
        Alg::Sha3 => "SHA-3-512".into(),
    }
}

pub fn run(cmd: HashCommand) -> anyhow::Result<()> {
    match cmd {
        HashCommand::Udf(a) => {
            mesh_udf::check_precision(a.bits)?;
            let cdv = digest_file(&a.file, a.alg.into())?;
            let udf = ContentDigest::of_digest(a.alg.into(), &a.cty, &cdv).present(a.bits)?;
            let out = UdfOut {
                file: a.file.display().to_string(),
                content_type: a.cty,
                algorithm: alg_name(a.alg),
                bits: a.bits,
                udf,
            };
            emit(a.json, &out, |o| println!("{}", o.udf))
        }
        HashCommand::Digest(a) => {
            let d = digest_file(&a.file, a.alg.into())?;
            let out = DigestOut {
                file: a.file.display().to_string(),
                algorithm: alg_name(a.alg),
                digest: hex::encode(d),
            };
            emit(a.json, &out, |o| println!("{}", o.digest))
        }
        HashCommand::Mac(a) => {
            let alg: DigestAlgorithm = a.alg.into();
            mesh_udf::check_precision(a.bits)?;
            let generated = a.key.is_none();
            let key = a
                .key
                .unwrap_or_else(|| mesh_udf::random::nonce(128).to_string());
            let cdv = digest_file(&a.file, alg)?;
            let udf =
                authenticator::authenticator_of_digest(alg, &key, &a.cty, &cdv).present(a.bits);
            let out = MacOut {
                file: a.file.display().to_string(),
                content_type: a.cty,
                key,
                udf,
            };
            emit(a.json, &out, |o| {
                if generated {
                    println!("Key: {}", o.key);
                }
                println!("{}", o.udf);
            })
        }
    }
}
