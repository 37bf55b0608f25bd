//! Authenticator UDFs (udf-13 §5.2) and the symmetric-key MAC the PIN functions use.
//!
//! A keyed UDF turns its text key into a MAC key with HKDF (salt `KeyedUDFMaster`, info
//! `KeyedUDFExpand`, 64 octets), then MACs `UTF8(content type) ‖ ":" ‖ H(data)`. Compression is
//! never used. The second path, [`symmetric_key_mac`], keys HMAC with the raw body octets of a UDF
//! and picks the hash from its type: that is what the reference code does for PINs
//! (REFERENCE-NOTES §3).

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha512;
use sha3::Sha3_512;

use crate::digest::DigestAlgorithm;
use crate::udf::{check_precision, DEFAULT_BITS};
use crate::{Udf, UdfError, UdfType};

const MASTER: &[u8] = b"KeyedUDFMaster";
const EXPAND: &[u8] = b"KeyedUDFExpand";

/// Derive the 64-octet MAC key of a keyed UDF from its text key.
pub fn derive_mac_key(alg: DigestAlgorithm, key: &str) -> [u8; 64] {
    let mut okm = [0u8; 64];
    match alg {
        DigestAlgorithm::Sha2_512 => Hkdf::<Sha512>::new(Some(MASTER), key.as_bytes())
            .expand(EXPAND, &mut okm)
            .expect("64 octets is a valid HKDF-SHA-512 length"),
        DigestAlgorithm::Sha3_512 => Hkdf::<Sha3_512>::new(Some(MASTER), key.as_bytes())
            .expand(EXPAND, &mut okm)
            .expect("64 octets is a valid HKDF-SHA3-512 length"),
    }
    okm
}

/// HMAC-SHA-2-512 or HMAC-SHA-3-512 of `message` under `key`.
pub fn hmac(alg: DigestAlgorithm, key: &[u8], message: &[u8]) -> [u8; 64] {
    match alg {
        DigestAlgorithm::Sha2_512 => {
            let mut m = Hmac::<Sha512>::new_from_slice(key).expect("HMAC takes any key length");
            m.update(message);
            m.finalize().into_bytes().into()
        }
        DigestAlgorithm::Sha3_512 => {
            let mut m = Hmac::<Sha3_512>::new_from_slice(key).expect("HMAC takes any key length");
            m.update(message);
            m.finalize().into_bytes().into()
        }
    }
}

fn authenticator_type(alg: DigestAlgorithm) -> UdfType {
    match alg {
        DigestAlgorithm::Sha2_512 => UdfType::AuthenticatorHmacSha2,
        DigestAlgorithm::Sha3_512 => UdfType::AuthenticatorHmacSha3,
    }
}

/// The binary authenticator UDF of `data` (content type `content_type`) under the text `key`.
pub fn authenticator_udf(alg: DigestAlgorithm, key: &str, content_type: &str, data: &[u8]) -> Udf {
    authenticator_of_digest(alg, key, content_type, &alg.digest(data))
}

/// The binary authenticator UDF of content whose digest `cdv` (= H(data)) is already known.
pub fn authenticator_of_digest(
    alg: DigestAlgorithm,
    key: &str,
    content_type: &str,
    cdv: &[u8],
) -> Udf {
    let mut message = Vec::with_capacity(content_type.len() + 1 + cdv.len());
    message.extend_from_slice(content_type.as_bytes());
    message.push(b':');
    message.extend_from_slice(cdv);
    let mac = hmac(alg, &derive_mac_key(alg, key), &message);
    Udf::new(authenticator_type(alg), mac[..63].to_vec())
}

/// The authenticator UDF presented at `bits` (a multiple of 20; 140 by default).
pub fn authenticator(
    alg: DigestAlgorithm,
    key: &str,
    content_type: &str,
    data: &[u8],
    bits: Option<usize>,
) -> Result<String, UdfError> {
    let bits = check_precision(bits.unwrap_or(DEFAULT_BITS))?;
    Ok(authenticator_udf(alg, key, content_type, data).present(bits))
}

/// HMAC keyed with the raw body octets of `key`; the UDF type picks the hash: 0, 32 and 33 use
/// SHA-2-512, 1 uses SHA-3-512. The 64-octet MAC is returned whole.
pub fn symmetric_key_mac(key: &Udf, message: &[u8]) -> Result<[u8; 64], UdfError> {
    let alg = match key.kind() {
        UdfType::AuthenticatorHmacSha2 | UdfType::EncryptionKey(_) => DigestAlgorithm::Sha2_512,
        UdfType::AuthenticatorHmacSha3 => DigestAlgorithm::Sha3_512,
        other => {
            return Err(UdfError::WrongType {
                expected: "authenticator or encryption key",
                found: other.name(),
            })
        }
    };
    Ok(hmac(alg, key.body(), message))
}

#[cfg(test)]
mod tests {
    use super::*;

    // udf-13 §5.2.2.
    #[test]
    fn authenticator_example() {
        let key = "NDD7-6CMX-H2FW-ISAL-K4VB-DQ3E-PEDM";
        let okm = derive_mac_key(DigestAlgorithm::Sha2_512, key);
        assert_eq!(hex::encode_upper(&okm[..8]), "BFA9B4589C1D68D7");
        let udf = authenticator(
            DigestAlgorithm::Sha2_512,
            key,
            "text/plain",
            b"Konrad is the traitor",
            None,
        )
        .unwrap();
        assert_eq!(udf, "ABGM-G76T-7GPF-FTYH-SB2F-HBDF-SW6B");
    }

    #[test]
    fn symmetric_key_mac_rejects_digests() {
        let digest = Udf::parse("MDDK-7N6A-727A-JZNO-STRX-XKS7-DJAF").unwrap();
        assert!(symmetric_key_mac(&digest, b"x").is_err());
    }
}
