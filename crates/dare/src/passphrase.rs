//! Envelopes sealed by a passphrase: the base seed is derived from the passphrase with Argon2id
//! (19 MiB, 2 passes, 1 lane by default; salt and parameters in the header's `PassphraseKdf`),
//! and the envelope's MAC detects a wrong passphrase or a changed file. Used for the secrets a
//! device or a service keeps at rest.
//!
//! A [`PassphraseKey`] is what the passphrase derives for one sealed file, with the parameters
//! it was derived under: it opens that file and seals it again (same salt and parameters, a
//! fresh envelope) without the passphrase or another Argon2id pass, which is what lets a device
//! keep its key for an unlocked session.

use argon2::{Algorithm, Argon2, Params, Version};
use mesh_encoding::base64url;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::crypt::BaseSeed;
use crate::{DareEnvelope, DareError, EnvelopeOptions, Result};

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct KdfParams {
    algorithm: String,
    memory_kib: u32,
    passes: u32,
    lanes: u32,
    #[serde(with = "base64url")]
    salt: Vec<u8>,
}

impl KdfParams {
    /// The parameters of a new seal: a fresh salt.
    fn fresh() -> KdfParams {
        let mut salt = vec![0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        KdfParams {
            algorithm: "argon2id".into(),
            memory_kib: 19 * 1024,
            passes: 2,
            lanes: 1,
            salt,
        }
    }

    /// Those recorded in a sealed envelope's header.
    fn of(env: &DareEnvelope) -> Result<KdfParams> {
        env.header
            .extra
            .get("PassphraseKdf")
            .cloned()
            .and_then(|v| serde_json::from_value(v).ok())
            .ok_or_else(|| DareError::Malformed("not a passphrase-sealed envelope".into()))
    }
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

/// The key a passphrase derives for one sealed file, with the salt and parameters it was
/// derived under.
#[derive(Clone)]
pub struct PassphraseKey {
    seed: BaseSeed,
    kdf: KdfParams,
}

/// How a [`PassphraseKey`] is kept (inside something encrypted: it opens the file).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct KeptKey {
    #[serde(with = "base64url")]
    seed: Vec<u8>,
    kdf: KdfParams,
}

impl std::fmt::Debug for PassphraseKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PassphraseKey(…)")
    }
}

impl PassphraseKey {
    /// A key for a new file sealed under `passphrase` (a fresh salt).
    pub fn new(passphrase: &str) -> Result<PassphraseKey> {
        let kdf = KdfParams::fresh();
        Ok(PassphraseKey {
            seed: derive(passphrase, &kdf)?,
            kdf,
        })
    }

    /// Open `data`, sealed under `passphrase`: its content and the key that opened it. A
    /// wrong passphrase is [`DareError::BadMac`].
    pub fn open_with(data: &[u8], passphrase: &str) -> Result<(PassphraseKey, Vec<u8>)> {
        let env = DareEnvelope::parse(data)?;
        let kdf = KdfParams::of(&env)?;
        let key = PassphraseKey {
            seed: derive(passphrase, &kdf)?,
            kdf,
        };
        let plain = env.decrypt_with_seed(&key.seed)?;
        Ok((key, plain))
    }

    /// Open `data` with this key. A file sealed under other parameters (another passphrase
    /// or salt) is [`DareError::BadMac`], as is one whose MAC fails.
    pub fn open(&self, data: &[u8]) -> Result<Vec<u8>> {
        let env = DareEnvelope::parse(data)?;
        if KdfParams::of(&env)? != self.kdf {
            return Err(DareError::BadMac);
        }
        env.decrypt_with_seed(&self.seed)
    }

    /// Seal `plaintext` under this key (the envelope's own salt is fresh).
    pub fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>> {
        let mut env = DareEnvelope::encode(
            plaintext,
            &EnvelopeOptions {
                symmetric: Some((self.seed.clone(), "passphrase".into())),
                ..Default::default()
            },
        )?;
        let params =
            serde_json::to_value(&self.kdf).map_err(|e| DareError::Malformed(e.to_string()))?;
        env.header.extra.insert("PassphraseKdf".into(), params);
        Ok(env.to_json()?.into_bytes())
    }

    /// The key as octets to keep (encrypted: whoever reads them opens the file).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(&KeptKey {
            seed: self.seed.0.to_vec(),
            kdf: self.kdf.clone(),
        })
        .map_err(|e| DareError::Malformed(e.to_string()))
    }

    /// A key kept by [`Self::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<PassphraseKey> {
        let kept: KeptKey = serde_json::from_slice(bytes)
            .map_err(|e| DareError::Malformed(format!("a kept passphrase key: {e}")))?;
        let seed: [u8; 32] = kept.seed.as_slice().try_into().map_err(|_| {
            DareError::Malformed("a kept passphrase key: the seed is not 32 octets".into())
        })?;
        Ok(PassphraseKey {
            seed: BaseSeed(seed),
            kdf: kept.kdf,
        })
    }
}

/// Encrypt `plaintext` under `passphrase`: the JSON envelope to store.
pub fn seal(plaintext: &[u8], passphrase: &str) -> Result<Vec<u8>> {
    PassphraseKey::new(passphrase)?.seal(plaintext)
}

/// Decrypt what [`seal`] made. A wrong passphrase is [`DareError::BadMac`].
pub fn open(data: &[u8], passphrase: &str) -> Result<Vec<u8>> {
    Ok(PassphraseKey::open_with(data, passphrase)?.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_reseals_and_opens_only_its_own_file() {
        let sealed = seal(b"secrets", "right").unwrap();
        assert!(matches!(open(&sealed, "wrong"), Err(DareError::BadMac)));
        let (key, plain) = PassphraseKey::open_with(&sealed, "right").unwrap();
        assert_eq!(plain, b"secrets");
        // Kept and read back, it opens the file and seals it again without the passphrase;
        // the passphrase still opens what it sealed.
        let key = PassphraseKey::from_bytes(&key.to_bytes().unwrap()).unwrap();
        let resealed = key.seal(b"more secrets").unwrap();
        assert_ne!(resealed, sealed);
        assert_eq!(key.open(&resealed).unwrap(), b"more secrets");
        assert_eq!(open(&resealed, "right").unwrap(), b"more secrets");
        // The same passphrase under another salt is another key.
        let other = seal(b"secrets", "right").unwrap();
        assert!(matches!(key.open(&other), Err(DareError::BadMac)));
        // A file whose parameters were changed to the key's does not open either.
        let mut env = DareEnvelope::parse(&other).unwrap();
        env.header.extra.insert(
            "PassphraseKdf".into(),
            serde_json::to_value(&key.kdf).unwrap(),
        );
        assert!(key.open(env.to_json().unwrap().as_bytes()).is_err());
        assert!(PassphraseKey::from_bytes(b"{\"Seed\":\"AA\"}").is_err());
    }
}
