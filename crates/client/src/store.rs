//! Files of the device context: atomic replacement (temporary file, fsync, rename, fsync of the
//! directory) and passphrase-sealed secrets.
//!
//! A sealed file is a DARE envelope encrypted under a base seed derived from the passphrase with
//! Argon2id (19 MiB, 2 passes, 1 lane; the salt and parameters are in the header's
//! `PassphraseKdf`), with the envelope's MAC detecting a wrong passphrase or a changed file.

use std::io::Write;
use std::path::Path;

use argon2::{Algorithm, Argon2, Params, Version};
use mesh_dare::crypt::BaseSeed;
use mesh_dare::{DareEnvelope, EnvelopeOptions};
use mesh_encoding::base64url;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::{ClientError, Result};

/// Replace `path` with `data` so that a crash leaves either the old or the new file.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp)?;
        file.write_all(data)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KdfParams {
    algorithm: String,
    memory_kib: u32,
    passes: u32,
    lanes: u32,
    #[serde(with = "base64url")]
    salt: Vec<u8>,
}

fn derive(passphrase: &str, kdf: &KdfParams) -> Result<BaseSeed> {
    if kdf.algorithm != "argon2id" {
        return Err(ClientError::Invalid(format!(
            "unknown passphrase KDF '{}'",
            kdf.algorithm
        )));
    }
    let params = Params::new(kdf.memory_kib, kdf.passes, kdf.lanes, Some(32))
        .map_err(|e| ClientError::Invalid(format!("bad passphrase KDF parameters: {e}")))?;
    let mut seed = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase.as_bytes(), &kdf.salt, &mut seed)
        .map_err(|e| ClientError::Invalid(format!("passphrase KDF failed: {e}")))?;
    Ok(BaseSeed(seed))
}

/// Encrypt `plaintext` under `passphrase`.
pub fn seal(plaintext: &[u8], passphrase: &str) -> Result<Vec<u8>> {
    let mut salt = vec![0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let kdf = KdfParams {
        algorithm: "argon2id".into(),
        memory_kib: 19 * 1024,
        passes: 2,
        lanes: 1,
        salt,
    };
    let seed = derive(passphrase, &kdf)?;
    let mut env = DareEnvelope::encode(
        plaintext,
        &EnvelopeOptions {
            symmetric: Some((seed, "passphrase".into())),
            ..Default::default()
        },
    )?;
    env.header.extra.insert(
        "PassphraseKdf".into(),
        serde_json::to_value(&kdf).map_err(|e| ClientError::Invalid(e.to_string()))?,
    );
    Ok(env.to_json()?.into_bytes())
}

/// Decrypt a sealed file's content with `passphrase`.
pub fn open(data: &[u8], passphrase: &str, what: &str) -> Result<Vec<u8>> {
    let env = DareEnvelope::parse(data)?;
    let kdf: KdfParams = env
        .header
        .extra
        .get("PassphraseKdf")
        .cloned()
        .and_then(|v| serde_json::from_value(v).ok())
        .ok_or_else(|| ClientError::Invalid(format!("{what} is not a passphrase-sealed file")))?;
    let seed = derive(passphrase, &kdf)?;
    env.decrypt_with_seed(&seed).map_err(|e| match e {
        mesh_dare::DareError::BadMac | mesh_dare::DareError::Decryption(_) => {
            ClientError::BadPassphrase(what.to_string())
        }
        other => other.into(),
    })
}
