//! Keys as DARE sees them: the Mesh JSON key forms (`PublicKeyECDH` / `PrivateKeyECDH`), a key
//! ring of signer public keys and decryption private keys looked up by UDF, and the public keys a
//! payload carries (for checking self-signed profiles).

use mesh_crypto::{Algorithm, PrivateKey, PublicKey};
use mesh_encoding::Value;

use crate::schema::KeyParameters;
use crate::{DareError, Result};

impl KeyParameters {
    pub fn from_public(key: &PublicKey) -> KeyParameters {
        KeyParameters::Public {
            crv: key.algorithm().curve().to_string(),
            public: key.as_bytes().to_vec(),
        }
    }

    /// The private form of a key: the secret octets [`PrivateKey::from_secret`] takes. Only keys
    /// that were made from such a secret round-trip; callers keep the secret they generated.
    pub fn from_private_secret(algorithm: Algorithm, secret: &[u8]) -> KeyParameters {
        KeyParameters::Private {
            crv: algorithm.curve().to_string(),
            private: secret.to_vec(),
        }
    }

    pub fn public_key(&self) -> Result<PublicKey> {
        match self {
            KeyParameters::Public { crv, public } => {
                Ok(PublicKey::new(Algorithm::from_curve(crv)?, public.clone())?)
            }
            KeyParameters::Private { .. } => Ok(self.private_key()?.public_key()),
            KeyParameters::Rsa { .. } => Err(DareError::Unsupported("RSA keys".into())),
        }
    }

    pub fn private_key(&self) -> Result<PrivateKey> {
        match self {
            KeyParameters::Private { crv, private } => Ok(PrivateKey::from_secret(
                Algorithm::from_curve(crv)?,
                private,
            )?),
            KeyParameters::Public { .. } | KeyParameters::Rsa { .. } => {
                Err(DareError::Unsupported(
                    "operation: a public key was given where a private key is needed".into(),
                ))
            }
        }
    }
}

/// Does key identifier `kid` name the key whose UDF is `udf`? Identifiers may be presented at
/// different precisions, so one must be a prefix of the other (at least 100 bits in common).
pub fn kid_matches(kid: &str, udf: &str) -> bool {
    let a: String = kid
        .chars()
        .filter(|c| *c != '-')
        .collect::<String>()
        .to_ascii_uppercase();
    let b: String = udf
        .chars()
        .filter(|c| *c != '-')
        .collect::<String>()
        .to_ascii_uppercase();
    let (short, long) = if a.len() <= b.len() {
        (&a, &b)
    } else {
        (&b, &a)
    };
    short.len() >= 20 && long.starts_with(short.as_str())
}

/// Keys available to verify and decrypt.
#[derive(Default, Clone)]
pub struct KeyRing {
    public: Vec<(String, PublicKey)>,
    private: Vec<(String, PrivateKey)>,
    /// Key agreement values computed elsewhere (a threshold agreement whose contributions came
    /// from a key share and the service holding the other share): by the ephemeral key's
    /// octets, (kid, value) — looked up by ephemeral key, so that opening n entries is not
    /// n² comparisons.
    agreements: std::collections::HashMap<Vec<u8>, Vec<(String, Vec<u8>)>>,
}

impl KeyRing {
    pub fn new() -> Self {
        Self::default()
    }

    /// Does the ring hold any private key?
    pub fn has_private(&self) -> bool {
        !self.private.is_empty()
    }

    pub fn add_public(&mut self, key: PublicKey) {
        let udf = key.udf();
        if !self.public.iter().any(|(u, _)| *u == udf) {
            self.public.push((udf, key));
        }
    }

    /// Add a private key; its public key becomes available for verification too.
    pub fn add_private(&mut self, key: PrivateKey) {
        let public = key.public_key();
        let udf = public.udf();
        self.add_public(public);
        if !self.private.iter().any(|(u, _)| *u == udf) {
            self.private.push((udf, key));
        }
    }

    pub fn public_key(&self, kid: &str) -> Option<&PublicKey> {
        self.public
            .iter()
            .find(|(u, _)| kid_matches(kid, u))
            .map(|(_, k)| k)
    }

    pub fn private_key(&self, kid: &str) -> Option<&PrivateKey> {
        self.private
            .iter()
            .find(|(u, _)| kid_matches(kid, u))
            .map(|(_, k)| k)
    }

    /// Add the agreement value of the key `udf` with the ephemeral key `epk`, so that an
    /// envelope encrypted to `udf` with that ephemeral can be opened without the private key.
    pub fn add_agreement(&mut self, udf: &str, epk: &[u8], value: Vec<u8>) {
        self.agreements
            .entry(epk.to_vec())
            .or_default()
            .push((udf.to_string(), value));
    }

    pub fn agreement(&self, kid: &str, epk: &[u8]) -> Option<&[u8]> {
        self.agreements
            .get(epk)?
            .iter()
            .find(|(u, _)| kid_matches(kid, u))
            .map(|(_, v)| v.as_slice())
    }
}

/// Every public key a JSON payload carries as `{"PublicKeyECDH": {"crv": …, "Public": …}}`,
/// at any depth. Keys that do not parse are skipped; a payload that is not JSON has none.
pub fn keys_in_payload(payload: &[u8]) -> Vec<PublicKey> {
    fn walk(v: &Value, out: &mut Vec<PublicKey>) {
        match v {
            Value::Object(members) => {
                for (name, inner) in members {
                    if name == "PublicKeyECDH" {
                        let crv = inner.get("crv").and_then(Value::as_str);
                        let public = inner.get("Public").and_then(|p| match p {
                            Value::String(s) => mesh_encoding::base64url::decode(s).ok(),
                            Value::Binary(b) => Some(b.clone()),
                            _ => None,
                        });
                        if let (Some(crv), Some(public)) = (crv, public) {
                            if let Ok(alg) = Algorithm::from_curve(crv) {
                                if let Ok(key) = PublicKey::new(alg, public) {
                                    out.push(key);
                                }
                            }
                        }
                    }
                    walk(inner, out);
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Ok(value) = mesh_encoding::json::from_slice(payload) {
        walk(&value, &mut out);
    }
    out
}
