//! Content digest UDFs (udf-13 §5.1).
//!
//! `UDF = type ‖ H( UTF8(content-type) ‖ ":" ‖ H(data) )`, the type octet carrying the algorithm
//! and the compression level. The draft text (§5.1.3–5.1.4) says compression counts zero bits in
//! "the first 8 bytes" and that the body starts at the 9th octet; the worked examples and the
//! published data instead count trailing zero bits at the end of the 64-octet digest, and the body
//! starts at octet 0 with only the type changing (REFERENCE-NOTES §2). The data wins.

use sha2::{Digest as _, Sha512};
use sha3::Sha3_512;

use crate::udf::{check_precision, DEFAULT_BITS};
use crate::{Udf, UdfError, UdfType};

/// The digest algorithms of content digest UDFs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DigestAlgorithm {
    /// SHA-2-512, type 96 (`M…`).
    #[default]
    Sha2_512,
    /// SHA-3-512, type 80 (`K…`).
    Sha3_512,
}

impl DigestAlgorithm {
    /// Digest `data` in one call.
    pub fn digest(self, data: &[u8]) -> [u8; 64] {
        let mut h = Hasher::new(self);
        h.update(data);
        h.finish()
    }

    fn udf_type(self, level: u8) -> UdfType {
        match self {
            Self::Sha2_512 => UdfType::DigestSha2(level),
            Self::Sha3_512 => UdfType::DigestSha3(level),
        }
    }
}

/// An incremental digest, so that large files are fingerprinted without being held in memory.
#[derive(Clone)]
pub enum Hasher {
    Sha2(Sha512),
    Sha3(Sha3_512),
}

impl Hasher {
    pub fn new(alg: DigestAlgorithm) -> Self {
        match alg {
            DigestAlgorithm::Sha2_512 => Hasher::Sha2(Sha512::new()),
            DigestAlgorithm::Sha3_512 => Hasher::Sha3(Sha3_512::new()),
        }
    }
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha2(h) => h.update(data),
            Hasher::Sha3(h) => h.update(data),
        }
    }
    pub fn finish(self) -> [u8; 64] {
        match self {
            Hasher::Sha2(h) => h.finalize().into(),
            Hasher::Sha3(h) => h.finalize().into(),
        }
    }
}

/// The Typed Content Digest Value: H( UTF8(content type) ‖ ":" ‖ CDV ).
pub fn typed_content_digest(alg: DigestAlgorithm, content_type: &str, cdv: &[u8]) -> [u8; 64] {
    let mut h = Hasher::new(alg);
    h.update(content_type.as_bytes());
    h.update(b":");
    h.update(cdv);
    h.finish()
}

/// Compression level from the trailing zero bits of the typed digest: 20, 30, 40, 50 bits give
/// levels 1–4. Only level 1 is checked against published data (REFERENCE-NOTES §2).
pub fn compression_level(tcdv: &[u8; 64]) -> u8 {
    let mut zeros = 0u32;
    for &b in tcdv.iter().rev() {
        if b == 0 {
            zeros += 8;
        } else {
            zeros += b.trailing_zeros();
            break;
        }
    }
    match zeros {
        50.. => 4,
        40.. => 3,
        30.. => 2,
        20.. => 1,
        _ => 0,
    }
}

/// A computed content digest: the full 64-octet typed digest and its compression level.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentDigest {
    pub algorithm: DigestAlgorithm,
    pub level: u8,
    pub value: [u8; 64],
}

impl ContentDigest {
    /// Fingerprint `data` of the given content type.
    pub fn of_data(alg: DigestAlgorithm, content_type: &str, data: &[u8]) -> Self {
        Self::of_digest(alg, content_type, &alg.digest(data))
    }

    /// Fingerprint content whose digest `cdv` (= H(data)) is already known.
    pub fn of_digest(alg: DigestAlgorithm, content_type: &str, cdv: &[u8]) -> Self {
        let value = typed_content_digest(alg, content_type, cdv);
        ContentDigest {
            algorithm: alg,
            level: compression_level(&value),
            value,
        }
    }

    /// The binary UDF: type octet and the first 63 octets of the typed digest.
    pub fn udf(&self) -> Udf {
        Udf::new(
            self.algorithm.udf_type(self.level),
            self.value[..63].to_vec(),
        )
    }

    /// Present at `bits` bits (a multiple of 20 from 20 to 500).
    pub fn present(&self, bits: usize) -> Result<String, UdfError> {
        Ok(self.udf().present(check_precision(bits)?))
    }

    /// Present at the default 140 bits.
    pub fn to_udf_string(&self) -> String {
        self.udf().present(DEFAULT_BITS)
    }
}

/// The SHA-2-512 content digest UDF of `data` at the default precision.
pub fn content_digest(data: &[u8], content_type: &str) -> String {
    ContentDigest::of_data(DigestAlgorithm::Sha2_512, content_type, data).to_udf_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    // udf-13 §5.1.6 – §5.1.9.
    #[test]
    fn sha2_example() {
        let d = ContentDigest::of_data(DigestAlgorithm::Sha2_512, "text/plain", b"UDF Data Value");
        assert_eq!(hex::encode_upper(&d.value[..4]), "C6AFB7C0");
        assert_eq!(d.to_udf_string(), "MDDK-7N6A-727A-JZNO-STRX-XKS7-DJAF");
    }

    #[test]
    fn sha3_example() {
        let d = ContentDigest::of_data(DigestAlgorithm::Sha3_512, "text/plain", b"UDF Data Value");
        assert_eq!(d.to_udf_string(), "KCFI-NCQG-DRKG-47R7-OVPT-TCHZ-7UXY");
    }

    #[test]
    fn sha2_compressed_example() {
        let d = ContentDigest::of_data(
            DigestAlgorithm::Sha2_512,
            "text/plain",
            b"UDF Compressed Document 4187123",
        );
        assert_eq!(d.level, 1);
        assert_eq!(d.to_udf_string(), "MGHB-JWIZ-J3LA-EEWD-GCT3-WX6H-C5W2");
    }

    #[test]
    fn sha3_compressed_example() {
        let d = ContentDigest::of_data(
            DigestAlgorithm::Sha3_512,
            "text/plain",
            b"UDF Compressed Document 774665",
        );
        assert_eq!(d.level, 1);
        assert_eq!(d.to_udf_string(), "KEJI-Y225-BDUG-XX22-MXKE-5ITF-YVYM");
    }

    #[test]
    fn lower_precision_is_a_prefix() {
        let d = ContentDigest::of_data(DigestAlgorithm::Sha2_512, "text/plain", b"UDF Data Value");
        let long = d.present(260).unwrap();
        for bits in [100, 120, 200] {
            assert!(long.starts_with(&d.present(bits).unwrap()));
        }
        assert_eq!(long.len(), 52 + 12);
        assert!(d.present(125).is_err());
    }
}
