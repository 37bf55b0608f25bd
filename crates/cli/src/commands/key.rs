//! `mesh key …`: nonces, secrets, EARLs, secret sharing and key derivation (udf-13 §4, §6).

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use mesh_crypto::{profile_keys, shamir, SecretSeed};
use mesh_encoding::base64url;
use mesh_udf::{random, KeySpecifier, ShareUdf, Udf, UdfScheme, UdfType};
use serde::Serialize;

use crate::output::emit;

#[derive(Subcommand)]
pub enum KeyCommand {
    /// A fresh random nonce UDF.
    Nonce(SizeArgs),
    /// A fresh symmetric key UDF, or with --type a key-derivation seed for that key type.
    Secret(SecretArgs),
    /// A fresh EARL: an encryption key and the locator its content is published under.
    Earl(EarlArgs),
    /// Split a secret into shares, any QUORUM of which recover it.
    Share(ShareArgs),
    /// Recover a secret from shares.
    Recover(RecoverArgs),
    /// Show the public keys a key-derivation seed yields.
    Derive(DeriveArgs),
    /// A fresh key pair, written as a PrivateKeyECDH file (owner-only) and a PublicKeyECDH file.
    Generate(GenerateArgs),
}

#[derive(Args)]
pub struct GenerateArgs {
    /// Ed448, X448, Ed25519 or X25519.
    #[arg(long, default_value = "X448")]
    alg: String,
    /// The private key file to create.
    #[arg(long)]
    out: std::path::PathBuf,
    /// The public key file to create (default OUT.pub).
    #[arg(long)]
    public_out: Option<std::path::PathBuf>,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct SizeArgs {
    /// Random bits (rounded up to whole octets).
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u16).range(64..=512))]
    bits: u16,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct SecretArgs {
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u16).range(64..=512))]
    bits: u16,
    /// Make a key-derivation seed (Z…) for this key type, e.g. MeshProfileDevice.
    #[arg(long = "type")]
    key_type: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct EarlArgs {
    /// Domain (udf://DOMAIN/KEY) or account (mcu://ACCOUNT/KEY) the content is published at.
    authority: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ShareArgs {
    /// The secret to share (a UDF); a fresh 128-bit key if omitted.
    secret: Option<String>,
    /// Shares needed to recover.
    #[arg(long, default_value_t = 2)]
    quorum: usize,
    /// Shares to make.
    #[arg(long, default_value_t = 3)]
    shares: usize,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct RecoverArgs {
    /// At least QUORUM shares (S…).
    #[arg(required = true)]
    shares: Vec<String>,
    /// The shared secret was a key-derivation seed (Z…), not a symmetric key (E…).
    #[arg(long)]
    seed: bool,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct DeriveArgs {
    /// The key-derivation seed (Z…).
    secret: String,
    /// The key type the seed is for; checked against the seed's own key specifier.
    #[arg(long = "type")]
    key_type: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ValueOut {
    value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_type: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct EarlOut {
    key: String,
    locator: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    uri: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ShareOut {
    secret: String,
    quorum: usize,
    shares: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DerivedKey {
    key_use: String,
    key_name: String,
    curve: String,
    public: String,
    udf: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DeriveOut {
    key_type: String,
    keys: Vec<DerivedKey>,
}

pub fn run(cmd: KeyCommand) -> anyhow::Result<()> {
    match cmd {
        KeyCommand::Nonce(a) => {
            let out = ValueOut {
                value: random::nonce(a.bits as usize).to_string(),
                key_type: None,
            };
            emit(a.json, &out, |o| println!("{}", o.value))
        }
        KeyCommand::Secret(a) => {
            let out = match a.key_type {
                Some(name) => {
                    let spec = KeySpecifier::new(0, KeySpecifier::key_type_by_name(&name)?)?;
                    let seed = random::secret_seed(spec, a.bits as usize);
                    ValueOut {
                        value: seed.to_string(),
                        key_type: spec.key_type_name().map(String::from),
                    }
                }
                None => ValueOut {
                    value: random::encryption_key(a.bits as usize).to_string(),
                    key_type: None,
                },
            };
            emit(a.json, &out, |o| println!("{}", o.value))
        }
        KeyCommand::Earl(a) => {
            let out = match a.authority {
                Some(authority) => {
                    let scheme = if authority.contains('@') {
                        UdfScheme::Mcu
                    } else {
                        UdfScheme::Udf
                    };
                    let (uri, locator) = mesh_udf::uri::new_earl(scheme, &authority)?;
                    EarlOut {
                        key: uri.udf_text.clone(),
                        locator,
                        uri: Some(uri.to_string()),
                    }
                }
                None => {
                    let key = random::encryption_key(128).to_string();
                    EarlOut {
                        locator: mesh_udf::earl_locator(&key),
                        key,
                        uri: None,
                    }
                }
            };
            emit(a.json, &out, |o| {
                if let Some(uri) = &o.uri {
                    println!("{uri}");
                }
                println!("Key: {}", o.key);
                println!("Locator: {}", o.locator);
            })
        }
        KeyCommand::Share(a) => {
            let secret = match &a.secret {
                Some(text) => Udf::parse(text).context("the secret to share")?,
                None => random::encryption_key(128),
            };
            let shares = shamir::split(secret.body(), a.quorum, a.shares)?;
            let out = ShareOut {
                secret: secret.to_string(),
                quorum: a.quorum,
                shares: shares.iter().map(ToString::to_string).collect(),
            };
            emit(a.json, &out, |o| {
                println!("Secret: {}", o.secret);
                println!(
                    "Any {} of these {} shares recover it:",
                    o.quorum,
                    o.shares.len()
                );
                for s in &o.shares {
                    println!("  {s}");
                }
            })
        }
        KeyCommand::Recover(a) => {
            let shares = a
                .shares
                .iter()
                .map(|s| ShareUdf::parse(s).with_context(|| format!("share '{s}'")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let body = shamir::recover(&shares)?;
            let udf = if a.seed {
                SecretSeed::from_udf(Udf::new(UdfType::SecretSeed, body))?
                    .udf()
                    .clone()
            } else {
                Udf::new(UdfType::EncryptionKey(32), body)
            };
            let out = ValueOut {
                value: udf.to_string(),
                key_type: None,
            };
            emit(a.json, &out, |o| println!("{}", o.value))
        }
        KeyCommand::Generate(a) => {
            use rand::RngCore;
            let alg = mesh_crypto::Algorithm::from_curve(&a.alg)?;
            let mut secret = vec![0u8; alg.seed_len()];
            rand::rngs::OsRng.fill_bytes(&mut secret);
            let private = mesh_dare::KeyParameters::from_private_secret(alg, &secret);
            let public = mesh_dare::KeyParameters::from_public(&private.public_key()?);
            let public_out = a.public_out.clone().unwrap_or_else(|| {
                let mut p = a.out.clone().into_os_string();
                p.push(".pub");
                p.into()
            });
            crate::keyfile::write_private(&a.out, mesh_encoding::to_json(&private)?.as_bytes())?;
            std::fs::write(&public_out, mesh_encoding::to_json(&public)?)?;
            let udf = private.public_key()?.udf();
            let out = serde_json::json!({"Algorithm": alg.curve(), "Udf": udf,
                "PrivateKeyFile": a.out.display().to_string(), "PublicKeyFile": public_out.display().to_string()});
            emit(a.json, &out, |o| {
                println!(
                    "{} key {}",
                    alg.curve(),
                    o["Udf"].as_str().unwrap_or_default()
                );
                println!("Private key: {} (owner-only)", a.out.display());
                println!("Public key:  {}", public_out.display());
            })
        }
        KeyCommand::Derive(a) => {
            let seed = SecretSeed::parse(&a.secret).context("the secret seed")?;
            let spec = seed.specifier();
            if let Some(name) = &a.key_type {
                let wanted = KeySpecifier::key_type_by_name(name)?;
                if wanted != spec.key_type {
                    bail!("the secret is for {spec}, not {name}");
                }
            }
            let keys = profile_keys(&seed)?
                .into_iter()
                .map(|k| {
                    let public = k.key.public_key();
                    DerivedKey {
                        key_use: k.role.to_string(),
                        key_name: k.key_name,
                        curve: public.algorithm().curve().to_string(),
                        public: base64url::encode(public.as_bytes()),
                        udf: public.udf(),
                    }
                })
                .collect();
            let out = DeriveOut {
                key_type: spec.key_type_name().unwrap_or("unnamed").to_string(),
                keys,
            };
            emit(a.json, &out, |o| {
                println!("Key type: {}", o.key_type);
                for k in &o.keys {
                    println!("{} ({}, {})", k.key_use, k.key_name, k.curve);
                    println!("  UDF:    {}", k.udf);
                    println!("  Public: {}", k.public);
                }
            })
        }
    }
}
