//! Envelopes sealed by a passphrase: the base seed is derived from the passphrase with Argon2id
//! (19 MiB, 2 passes, 1 lane by default; salt and parameters in the header's `PassphraseKdf`),
//! and the envelope's MAC detects a wrong passphrase or a changed file. Used for the secrets a
//! device or a service keeps at rest.

use argon2::{Algorithm, Argon2, Params, Version};
use mesh_encoding::base64url;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::crypt::BaseSeed;
use crate::{DareEnvelope, DareError, EnvelopeOptions, Result};

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
        return Err(DareError::Unsupported(format!(
            "passphrase KDF '{}'",
            kdf.algorithm
        )));
    }
    let params = Params::new(kdf.memory_kib, kdf.passes, kdf.lanes, Some(32))
        .map_err(|e| DareError::Malformed(format!("passphrase KDF parameters: {e}")))?;
    let mut seed = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase.as_bytes(), &kdf.salt, &mut seed)
        .map_err(|e| DareError::Malformed(format!("passphrase KDF: {e}")))?;
    Ok(BaseSeed(seed))
}

/// Encrypt `plaintext` under `passphrase`: the JSON envelope to store.
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
    let params = serde_json::to_value(&kdf).map_err(|e| DareError::Malformed(e.to_string()))?;
    env.header.extra.insert("PassphraseKdf".into(), params);
    Ok(env.to_json()?.into_bytes())
}

/// Decrypt what [`seal`] made. A wrong passphrase is [`DareError::BadMac`].
pub fn open(data: &[u8], passphrase: &str) -> Result<Vec<u8>> {
    let env = DareEnvelope::parse(data)?;
    let kdf: KdfParams = env
        .header
        .extra
        .get("PassphraseKdf")
        .cloned()
        .and_then(|v| serde_json::from_value(v).ok())
        .ok_or_else(|| DareError::Malformed("not a passphrase-sealed envelope".into()))?;
    env.decrypt_with_seed(&derive(passphrase, &kdf)?)
}
