//! Randomly generated fixed-length UDFs: nonces (udf-13 §4.1), symmetric keys (§4.3) and
//! key-derivation seeds (§4.4).

use rand::RngCore;

use crate::{KeySpecifier, Udf, UdfType};

/// Default size of the random part of nonces, keys and seeds: 128 bits.
pub const DEFAULT_RANDOM_BITS: usize = 128;

fn random_body(bits: usize) -> Vec<u8> {
    let mut body = vec![0u8; bits.div_ceil(8).max(1)];
    rand::rngs::OsRng.fill_bytes(&mut body);
    body
}

/// A fresh nonce UDF (`N…`) with `bits` random bits (rounded up to whole octets).
pub fn nonce(bits: usize) -> Udf {
    Udf::new(UdfType::Nonce, random_body(bits))
}

/// A fresh symmetric encryption / authentication key UDF (`E…`).
pub fn encryption_key(bits: usize) -> Udf {
    Udf::new(UdfType::EncryptionKey(32), random_body(bits))
}

/// A fresh key-derivation seed (`Z…`): the two-octet key specifier followed by random octets.
pub fn secret_seed(specifier: KeySpecifier, bits: usize) -> Udf {
    let mut body = specifier.to_bytes().to_vec();
    body.extend(random_body(bits));
    Udf::new(UdfType::SecretSeed, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_types() {
        let n = nonce(128);
        assert_eq!(n.body().len(), 16);
        assert!(n.to_string().starts_with('N'));
        assert_eq!(n.to_string().len(), 28 + 6);
        assert!(encryption_key(128).to_string().starts_with('E'));
        let z = secret_seed(KeySpecifier::new(0, 256).unwrap(), 256);
        assert!(z.to_string().starts_with("ZAAQ"));
        assert_eq!(z.body().len(), 34);
        assert_ne!(nonce(128), nonce(128));
    }
}
