//! Private and public keys of every Mesh algorithm behind one interface.

use crate::counters::{count, Operation};
use std::fmt;

use crate::{ed25519, ed448, fingerprint, x25519, x448, Algorithm, CryptoError};

/// A private key of any supported algorithm.
#[derive(Clone)]
pub enum PrivateKey {
    Ed25519(ed25519::Ed25519Private),
    Ed448(ed448::Ed448Private),
    X25519(x25519::X25519Private),
    X448(x448::X448Private),
}

impl PrivateKey {
    /// Make a key from secret key material (the OKM of a derivation, or random octets):
    /// Ed* secrets are expanded as RFC 8032 does, X* secrets clamped as RFC 7748 does.
    pub fn from_secret(algorithm: Algorithm, secret: &[u8]) -> Result<Self, CryptoError> {
        Ok(match algorithm {
            Algorithm::Ed25519 => PrivateKey::Ed25519(ed25519::Ed25519Private::from_secret(secret)),
            Algorithm::Ed448 => PrivateKey::Ed448(ed448::Ed448Private::from_secret(secret)),
            Algorithm::X25519 => PrivateKey::X25519(x25519::X25519Private::from_secret(secret)?),
            Algorithm::X448 => PrivateKey::X448(x448::X448Private::from_secret(secret)?),
        })
    }

    /// A fresh random key.
    pub fn generate(algorithm: Algorithm) -> Self {
        use rand::RngCore;
        let mut secret = vec![0u8; algorithm.seed_len()];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        Self::from_secret(algorithm, &secret).expect("random secret of the right length")
    }

    /// Restore a key from the octets of [`Self::to_bytes`].
    pub fn from_bytes(algorithm: Algorithm, bytes: &[u8]) -> Result<Self, CryptoError> {
        Ok(match algorithm {
            Algorithm::Ed25519 => PrivateKey::Ed25519(ed25519::Ed25519Private::from_bytes(bytes)?),
            Algorithm::Ed448 => PrivateKey::Ed448(ed448::Ed448Private::from_bytes(bytes)?),
            Algorithm::X25519 => PrivateKey::X25519(x25519::X25519Private::from_secret(bytes)?),
            Algorithm::X448 => {
                let scalar = bytes.try_into().map_err(|_| CryptoError::BadPrivateKey {
                    algorithm: "X448",
                    reason: format!("expected 56 octets, got {}", bytes.len()),
                })?;
                PrivateKey::X448(x448::X448Private::from_scalar(scalar)?)
            }
        })
    }

    /// The private key in a form [`Self::from_bytes`] restores: the scalar (and, for the Edwards
    /// curves, the nonce prefix). Handle as a secret.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            PrivateKey::Ed25519(k) => k.to_bytes(),
            PrivateKey::Ed448(k) => k.to_bytes(),
            PrivateKey::X25519(k) => k.to_bytes(),
            PrivateKey::X448(k) => k.to_bytes(),
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        match self {
            PrivateKey::Ed25519(_) => Algorithm::Ed25519,
            PrivateKey::Ed448(_) => Algorithm::Ed448,
            PrivateKey::X25519(_) => Algorithm::X25519,
            PrivateKey::X448(_) => Algorithm::X448,
        }
    }

    pub fn public_key(&self) -> PublicKey {
        let bytes = match self {
            PrivateKey::Ed25519(k) => k.public().to_vec(),
            PrivateKey::Ed448(k) => k.public().to_vec(),
            PrivateKey::X25519(k) => k.public().to_vec(),
            PrivateKey::X448(k) => k.public().to_vec(),
        };
        PublicKey {
            algorithm: self.algorithm(),
            bytes,
        }
    }

    /// Sign `message` (signature algorithms only).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, CryptoError> {
        match self {
            // Ed25519ctx with an empty context, as the reference signs (RFC 8032 §5.1).
            PrivateKey::Ed25519(k) => {
                count(Operation::Ed25519Sign);
                Ok(k.sign_ctx(&[], message)?.to_vec())
            }
            PrivateKey::Ed448(k) => {
                count(Operation::Ed448Sign);
                Ok(k.sign(message).to_vec())
            }
            _ => Err(CryptoError::Unsupported(format!(
                "signing with {}",
                self.algorithm().curve()
            ))),
        }
    }

    /// Key agreement with a peer's public key (agreement algorithms only).
    pub fn agree(&self, peer: &PublicKey) -> Result<Vec<u8>, CryptoError> {
        if peer.algorithm != self.algorithm() {
            return Err(CryptoError::AlgorithmMismatch(
                self.algorithm().curve(),
                peer.algorithm.curve(),
            ));
        }
        match self {
            PrivateKey::X25519(k) => {
                count(Operation::X25519Agree);
                Ok(k.agree(&peer.bytes)?.to_vec())
            }
            PrivateKey::X448(k) => {
                count(Operation::X448Agree);
                Ok(k.agree(&peer.bytes)?.to_vec())
            }
            _ => Err(CryptoError::Unsupported(format!(
                "key agreement with {}",
                self.algorithm().curve()
            ))),
        }
    }

    /// Threshold decryption (threshold-06 §3.2): two shares whose contributions to a key
    /// agreement add up to this key's agreement. X448 only (an X25519 contribution, a u
    /// coordinate, cannot be added).
    pub fn split(&self) -> Result<(PrivateKey, PrivateKey), CryptoError> {
        match self {
            PrivateKey::X448(k) => {
                let (a, b) = k.split()?;
                Ok((PrivateKey::X448(a), PrivateKey::X448(b)))
            }
            _ => Err(CryptoError::Unsupported(format!(
                "threshold shares of a {} key",
                self.algorithm().curve()
            ))),
        }
    }

    /// This key share's contribution to a threshold key agreement with `peer` (a full point,
    /// in the public-key encoding), for [`combine_contributions`].
    pub fn agree_partial(&self, peer: &PublicKey) -> Result<Vec<u8>, CryptoError> {
        match (self, peer.algorithm) {
            (PrivateKey::X448(k), Algorithm::X448) => {
                count(Operation::X448Contribution);
                Ok(k.agree_partial(&peer.bytes)?.to_vec())
            }
            _ => Err(CryptoError::Unsupported(format!(
                "threshold key agreement with {} and {}",
                self.algorithm().curve(),
                peer.algorithm.curve()
            ))),
        }
    }

    /// The activation combination (schema-08 §3.2.1): a device's base private key plus the
    /// activation key gives the private key whose public key is the sum of the two public keys.
    pub fn combine(&self, other: &PrivateKey) -> Result<PrivateKey, CryptoError> {
        match (self, other) {
            (PrivateKey::Ed25519(a), PrivateKey::Ed25519(b)) => {
                Ok(PrivateKey::Ed25519(a.combine(b)))
            }
            (PrivateKey::Ed448(a), PrivateKey::Ed448(b)) => Ok(PrivateKey::Ed448(a.combine(b))),
            (PrivateKey::X448(a), PrivateKey::X448(b)) => Ok(PrivateKey::X448(a.combine(b)?)),
            (PrivateKey::X25519(_), PrivateKey::X25519(_)) => Err(CryptoError::Unsupported(
                "combining X25519 keys (a u coordinate does not fix the point)".into(),
            )),
            _ => Err(CryptoError::AlgorithmMismatch(
                self.algorithm().curve(),
                other.algorithm().curve(),
            )),
        }
    }
}

/// The key agreement value from every share's contribution ([`PrivateKey::agree_partial`]),
/// the same octets [`PrivateKey::agree`] gives for the whole key.
pub fn combine_contributions(
    algorithm: Algorithm,
    parts: &[&[u8]],
) -> Result<Vec<u8>, CryptoError> {
    match algorithm {
        Algorithm::X448 => Ok(x448::combine_contributions(parts)?.to_vec()),
        other => Err(CryptoError::Unsupported(format!(
            "threshold key agreement with {}",
            other.curve()
        ))),
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print private material.
        write!(
            f,
            "PrivateKey({}, {})",
            self.algorithm().curve(),
            self.public_key().udf()
        )
    }
}

/// A public key: algorithm and the octets the Mesh carries (`PublicKeyECDH.Public`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PublicKey {
    algorithm: Algorithm,
    bytes: Vec<u8>,
}

impl PublicKey {
    /// Build a public key, checking its length and that it is a point of the curve.
    pub fn new(algorithm: Algorithm, bytes: Vec<u8>) -> Result<Self, CryptoError> {
        if !checked::contains(algorithm, &bytes) {
            match algorithm {
                Algorithm::Ed25519 => ed25519::check_public(&bytes)?,
                Algorithm::Ed448 => ed448::check_public(&bytes)?,
                Algorithm::X25519 => x25519::check_public(&bytes)?,
                Algorithm::X448 => x448::check_public(&bytes)?,
            }
            checked::insert(algorithm, &bytes);
        }
        Ok(PublicKey { algorithm, bytes })
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The key's UDF fingerprint at the default precision.
    pub fn udf(&self) -> String {
        fingerprint::key_udf(self.algorithm, &self.bytes)
    }

    /// Verify a signature over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), CryptoError> {
        match self.algorithm {
            // Ed25519ctx (empty context) as the reference and this build sign; plain Ed25519
            // as builds before it signed, so that their data stays readable.
            Algorithm::Ed25519 => {
                count(Operation::Ed25519Verify);
                ed25519::verify_ctx(&[], &self.bytes, message, signature)
                    .or_else(|_| ed25519::verify(&self.bytes, message, signature))
            }
            Algorithm::Ed448 => {
                count(Operation::Ed448Verify);
                ed448::verify(&self.bytes, message, signature)
            }
            other => Err(CryptoError::Unsupported(format!(
                "verifying with {}",
                other.curve()
            ))),
        }
    }

    /// The public side of [`PrivateKey::combine`].
    pub fn combine(&self, other: &PublicKey) -> Result<PublicKey, CryptoError> {
        if self.algorithm != other.algorithm {
            return Err(CryptoError::AlgorithmMismatch(
                self.algorithm.curve(),
                other.algorithm.curve(),
            ));
        }
        let bytes = match self.algorithm {
            Algorithm::Ed25519 => ed25519::combine_public(&self.bytes, &other.bytes)?.to_vec(),
            Algorithm::Ed448 => ed448::combine_public(&self.bytes, &other.bytes)?.to_vec(),
            Algorithm::X448 => x448::combine_public(&self.bytes, &other.bytes)?.to_vec(),
            Algorithm::X25519 => {
                return Err(CryptoError::Unsupported(
                    "combining X25519 keys (a u coordinate does not fix the point)".into(),
                ))
            }
        };
        Ok(PublicKey {
            algorithm: self.algorithm,
            bytes,
        })
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({}, {})", self.algorithm.curve(), self.udf())
    }
}

/// Public-key encodings this process has already found to be points: the same keys (an
/// account's profile, a device's) are read on every request a service answers, and checking a
/// 448-bit one is a square root. Bounded, in two generations: when the newer fills, the older
/// is dropped and the newer becomes it, and a key found in the older is moved to the newer, so
/// keys read on every request stay however many one-off keys (ephemeral keys) pass through.
/// X25519 keys are not kept: checking one is only its length.
mod checked {
    use std::collections::HashSet;
    use std::sync::Mutex;

    use crate::Algorithm;

    const GENERATION: usize = 2048;

    #[derive(Default)]
    struct Seen {
        newer: HashSet<(Algorithm, Vec<u8>)>,
        older: HashSet<(Algorithm, Vec<u8>)>,
    }

    impl Seen {
        fn insert(&mut self, key: (Algorithm, Vec<u8>)) {
            if self.newer.len() >= GENERATION {
                self.older = std::mem::take(&mut self.newer);
            }
            self.newer.insert(key);
        }
    }

    static SEEN: Mutex<Option<Seen>> = Mutex::new(None);

    fn kept(algorithm: Algorithm) -> bool {
        algorithm != Algorithm::X25519
    }

    pub(super) fn contains(algorithm: Algorithm, bytes: &[u8]) -> bool {
        if !kept(algorithm) {
            return false;
        }
        let key = (algorithm, bytes.to_vec());
        let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
        let seen = seen.get_or_insert_with(Seen::default);
        if seen.newer.contains(&key) {
            return true;
        }
        if seen.older.remove(&key) {
            seen.insert(key);
            return true;
        }
        false
    }

    pub(super) fn insert(algorithm: Algorithm, bytes: &[u8]) {
        if kept(algorithm) {
            let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
            seen.get_or_insert_with(Seen::default)
                .insert((algorithm, bytes.to_vec()));
        }
    }
}
