//! Key pairs derived from a key-derivation seed (udf-13 §4.4, schema-08 §6.1).
//!
//! As the published data does it (seed 000, all four device keys reproduced; REFERENCE-NOTES §5):
//! `OKM = HKDF-SHA-512(IKM = the seed body after the type octet, key specifier included,
//! salt = none, info = specifier ‖ UTF8(key name), L = 56 octets for the 448 curves, 32 for 25519)`.
//! The key name is key type + actor + operation, e.g. `BaseDeviceProfile`.
//!
//! udf-13's own worked examples were made another way (salt = specifier, empty info); that form
//! is kept as [`draft_example_okm`] only so the examples can be checked.

use hkdf::Hkdf;
use mesh_udf::{KeySpecifier, Udf, UdfType};
use sha2::Sha512;

use crate::{Algorithm, CryptoError, PrivateKey};

/// The key type part of a key name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeshKeyType {
    Complete,
    Base,
    Activation,
}

/// The actor part of a key name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeshActor {
    Account,
    Member,
    Device,
    Service,
    Host,
}

/// The operation part of a key name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeshKeyOperation {
    Encrypt,
    Sign,
    Authenticate,
    Profile,
    AdminEncrypt,
    AdminSign,
    Escrow,
}

impl MeshKeyOperation {
    /// The default algorithm for the operation: signatures Ed448, agreement X448.
    pub fn default_algorithm(self) -> Algorithm {
        match self {
            MeshKeyOperation::Sign | MeshKeyOperation::Profile | MeshKeyOperation::AdminSign => {
                Algorithm::Ed448
            }
            _ => Algorithm::X448,
        }
    }
}

/// `KeyType + Actor + Operation`, e.g. `BaseDeviceProfile`.
pub fn key_name(key_type: MeshKeyType, actor: MeshActor, operation: MeshKeyOperation) -> String {
    format!("{key_type:?}{actor:?}{operation:?}")
}

/// A parsed key-derivation seed (`Z…`).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretSeed {
    udf: Udf,
}

impl SecretSeed {
    /// Parse a seed UDF; it must be of type 200 with a specifier and at least 128 random bits.
    pub fn parse(text: &str) -> Result<Self, CryptoError> {
        Self::from_udf(Udf::parse(text)?)
    }

    pub fn from_udf(udf: Udf) -> Result<Self, CryptoError> {
        if udf.kind() != UdfType::SecretSeed {
            return Err(CryptoError::BadSeed(format!(
                "expected a secret seed (Z…), found {}",
                udf.kind().name()
            )));
        }
        if udf.body().len() < 2 + 16 {
            return Err(CryptoError::BadSeed(format!(
                "{} octets after the type; a seed needs a 2-octet specifier and at least 16 random octets",
                udf.body().len()
            )));
        }
        Ok(SecretSeed { udf })
    }

    /// A fresh random seed for `specifier`, 256 random bits.
    pub fn generate(specifier: KeySpecifier) -> Self {
        SecretSeed {
            udf: mesh_udf::random::secret_seed(specifier, 256),
        }
    }

    pub fn specifier(&self) -> KeySpecifier {
        KeySpecifier::from_bytes([self.udf.body()[0], self.udf.body()[1]])
    }

    pub fn udf(&self) -> &Udf {
        &self.udf
    }

    /// The HKDF output for `key_name`, `len` octets.
    pub fn okm(&self, key_name: &str, len: usize) -> Vec<u8> {
        let mut info = self.specifier().to_bytes().to_vec();
        info.extend_from_slice(key_name.as_bytes());
        let mut out = vec![0u8; len];
        Hkdf::<Sha512>::new(None, self.udf.body())
            .expand(&info, &mut out)
            .expect("key lengths are far below the HKDF-SHA-512 limit");
        out
    }

    /// A seed of the same specifier derived from this one under `label` (one-way: the
    /// successor tells nothing of this seed). An account's administration keys after a key
    /// rotation come from such a seed of the account's root, `label` naming the keys they
    /// replace.
    pub fn successor(&self, label: &str) -> SecretSeed {
        let mut body = self.specifier().to_bytes().to_vec();
        body.extend(self.okm(&format!("MeshSuccessor:{label}"), 32));
        SecretSeed {
            udf: Udf::new(UdfType::SecretSeed, body),
        }
    }

    /// Derive the private key `key_name` for `algorithm`.
    pub fn derive(&self, algorithm: Algorithm, key_name: &str) -> Result<PrivateKey, CryptoError> {
        PrivateKey::from_secret(algorithm, &self.okm(key_name, algorithm.seed_len()))
    }
}

impl std::fmt::Debug for SecretSeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretSeed({})", self.specifier())
    }
}

/// The OKM as udf-13's worked examples computed it: salt = the key specifier, empty info.
pub fn draft_example_okm(seed: &Udf, info: &[u8], len: usize) -> Vec<u8> {
    let body = seed.body();
    let mut out = vec![0u8; len];
    Hkdf::<Sha512>::new(Some(&body[..2.min(body.len())]), body)
        .expand(info, &mut out)
        .expect("short output");
    out
}

/// One key of a profile: its field name in the profile, its key name and the key.
#[derive(Debug, Clone)]
pub struct ProfileKey {
    pub role: &'static str,
    pub key_name: String,
    pub key: PrivateKey,
}

/// The keys a profile of the seed's key type holds, each derived from the seed.
///
/// Device keys are checked against seed 000. Account keys follow the reference code's account
/// activation (Complete + Account), service, host and activation sets follow the same pattern;
/// no published data checks those names (REFERENCE-NOTES §11).
pub fn profile_keys(seed: &SecretSeed) -> Result<Vec<ProfileKey>, CryptoError> {
    use MeshActor::*;
    use MeshKeyOperation::*;
    use MeshKeyType::*;
    let spec = seed.specifier();
    let (key_type, actor, roles): (MeshKeyType, MeshActor, &[(&'static str, MeshKeyOperation)]) =
        match spec.key_type {
            256 => (
                Base,
                Device,
                &[
                    ("ProfileSignature", Profile),
                    ("Encryption", Encrypt),
                    ("Signature", Sign),
                    ("Authentication", Authenticate),
                ],
            ),
            257 => (
                Activation,
                Device,
                &[
                    ("Encryption", Encrypt),
                    ("Signature", Sign),
                    ("Authentication", Authenticate),
                ],
            ),
            258 => (
                Complete,
                Account,
                &[
                    ("ProfileSignature", Profile),
                    ("AdministratorSignature", AdminSign),
                    ("AdministratorEncryption", AdminEncrypt),
                    ("AccountEncryption", Encrypt),
                    ("AccountAuthentication", Authenticate),
                    ("AccountSignature", Sign),
                ],
            ),
            259 => (
                Activation,
                Account,
                &[
                    ("Encryption", Encrypt),
                    ("Signature", Sign),
                    ("Authentication", Authenticate),
                ],
            ),
            260 => (
                Base,
                Service,
                &[
                    ("ProfileSignature", Profile),
                    ("Encryption", Encrypt),
                    ("Signature", Sign),
                    ("Authentication", Authenticate),
                ],
            ),
            261 => (
                Activation,
                Host,
                &[
                    ("Encryption", Encrypt),
                    ("Signature", Sign),
                    ("Authentication", Authenticate),
                ],
            ),
            code @ 1..=4 => {
                let algorithm = match code {
                    1 => Algorithm::X25519,
                    2 => Algorithm::X448,
                    3 => Algorithm::Ed25519,
                    _ => Algorithm::Ed448,
                };
                return Ok(vec![ProfileKey {
                    role: "Key",
                    key_name: String::new(),
                    key: seed.derive(algorithm, "")?,
                }]);
            }
            _ => {
                return Err(CryptoError::Unsupported(format!(
                    "deriving keys for {spec}"
                )))
            }
        };
    roles
        .iter()
        .map(|&(role, op)| {
            let name = key_name(key_type, actor, op);
            Ok(ProfileKey {
                role,
                key: seed.derive(op.default_algorithm(), &name)?,
                key_name: name,
            })
        })
        .collect()
}
