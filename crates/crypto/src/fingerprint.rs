//! UDF fingerprints of public keys.
//!
//! The data hashed is the reference implementation's SubjectPublicKeyInfo,
//! `SEQUENCE { SEQUENCE { OID, NULL }, BIT STRING { OCTET STRING { key } } }`, which differs from
//! RFC 8410 (NULL parameters, the key wrapped in an OCTET STRING), and the content type is the
//! literal `PKIXKey`, not `application/pkix-keyinfo` as udf-13 §5.3.1 says. Both are what the
//! published keys in seeds 000 and 002 were fingerprinted with (INTEROP-NOTES).

use mesh_udf::{ContentDigest, DigestAlgorithm, Udf, UdfType};

use crate::Algorithm;

/// The content type under which public keys are fingerprinted.
pub const PKIX_KEY_CONTENT_TYPE: &str = "PKIXKey";

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else if n < 0x100 {
        out.extend([0x81, n as u8]);
    } else {
        out.extend([0x82, (n >> 8) as u8, n as u8]);
    }
    out.extend_from_slice(content);
    out
}

/// The SubjectPublicKeyInfo octets that are fingerprinted.
pub fn subject_public_key_info(algorithm: Algorithm, public: &[u8]) -> Vec<u8> {
    let mut alg_id = algorithm.oid_der().to_vec();
    alg_id.extend([0x05, 0x00]);
    let mut bits = vec![0u8];
    bits.extend(der(0x04, public));
    let mut body = der(0x30, &alg_id);
    body.extend(der(0x03, &bits));
    der(0x30, &body)
}

/// The UDF fingerprint of a public key, as a content digest (present it with `to_udf_string`).
pub fn key_digest(algorithm: Algorithm, public: &[u8]) -> ContentDigest {
    ContentDigest::of_data(
        DigestAlgorithm::Sha2_512,
        PKIX_KEY_CONTENT_TYPE,
        &subject_public_key_info(algorithm, public),
    )
}

/// The default (140-bit) UDF of a public key, e.g. `MDDT-KTDT-AZ62-55HV-FFVY-JYNU-Y3YE`.
pub fn key_udf(algorithm: Algorithm, public: &[u8]) -> String {
    key_digest(algorithm, public).to_udf_string()
}

/// The OID-identified sequence UDF (`O…`, type 112) that carries a public key whole.
pub fn key_oid_udf(algorithm: Algorithm, public: &[u8]) -> Udf {
    Udf::new(UdfType::Oid, subject_public_key_info(algorithm, public))
}

#[cfg(test)]
mod tests {
    use super::*;

    // udf-13 §4.2: the Ed25519 OID example.
    #[test]
    fn udf13_oid_example() {
        let key = hex::decode("AEA9B9D3BFC839D60D09DCDA8D25AB85E1431A6FD288739C68E8ECF0D793DFDD")
            .unwrap();
        let spki = subject_public_key_info(Algorithm::Ed25519, &key);
        assert_eq!(
            hex::encode_upper(&spki[..16]),
            "302E300706032B657005000323000420"
        );
        assert_eq!(
            key_oid_udf(Algorithm::Ed25519, &key).to_string(),
            "OAYC-4MAH-AYBS-WZLQ-AUAA-GIYA-AQQK-5KNZ-2O74-QOOW-BUE5-ZWUN-EWVY-LYKD-DJX5-FCDT-TRUO-R3HQ-26J5-7XI"
        );
        assert_eq!(
            key_udf(Algorithm::Ed25519, &key),
            "MD2N-37QO-NPB6-HEOJ-UYOK-6BWT-RZ2Z"
        );
    }
}
