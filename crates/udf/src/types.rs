//! The UDF type identifier octet (udf-13 §3.2, §9.5.5).
//!
//! The draft gives the OID type as 108 in §4.2 but 112 in its own table; the published data
//! (`OAYC…` = 0x70) uses 112, so 112 it is (REFERENCE-NOTES §1).

use crate::UdfError;

/// The first octet of every binary UDF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UdfType {
    /// HMAC-SHA-2-512 authenticator (`A…`).
    AuthenticatorHmacSha2,
    /// HMAC-SHA-3-512 authenticator (`A…`).
    AuthenticatorHmacSha3,
    /// Symmetric encryption / authentication key (`E…`), codes 32 and 33.
    EncryptionKey(u8),
    /// SHA-3-512 content digest (`K…`) with compression level 0–4.
    DigestSha3(u8),
    /// SHA-2-512 content digest (`M…`) with compression level 0–4.
    DigestSha2(u8),
    /// Nonce (`N…`).
    Nonce,
    /// OID-identified DER sequence (`O…`).
    Oid,
    /// Shamir secret share (`S…`).
    ShamirShare,
    /// Key-derivation seed (`Z…`).
    SecretSeed,
}

impl UdfType {
    /// Interpret a type identifier octet.
    pub fn from_code(code: u8) -> Result<Self, UdfError> {
        Ok(match code {
            0 => Self::AuthenticatorHmacSha2,
            1 => Self::AuthenticatorHmacSha3,
            32 | 33 => Self::EncryptionKey(code),
            80..=84 => Self::DigestSha3(code - 80),
            96..=100 => Self::DigestSha2(code - 96),
            104 => Self::Nonce,
            112 => Self::Oid,
            144 => Self::ShamirShare,
            200 => Self::SecretSeed,
            other => return Err(UdfError::UnknownType(other)),
        })
    }

    /// The type identifier octet.
    pub fn code(self) -> u8 {
        match self {
            Self::AuthenticatorHmacSha2 => 0,
            Self::AuthenticatorHmacSha3 => 1,
            Self::EncryptionKey(c) => c,
            Self::DigestSha3(level) => 80 + level,
            Self::DigestSha2(level) => 96 + level,
            Self::Nonce => 104,
            Self::Oid => 112,
            Self::ShamirShare => 144,
            Self::SecretSeed => 200,
        }
    }

    /// A short human name, used in messages and `--json` output.
    pub fn name(self) -> &'static str {
        match self {
            Self::AuthenticatorHmacSha2 => "authenticator (HMAC-SHA-2-512)",
            Self::AuthenticatorHmacSha3 => "authenticator (HMAC-SHA-3-512)",
            Self::EncryptionKey(_) => "encryption key",
            Self::DigestSha3(_) => "content digest (SHA-3-512)",
            Self::DigestSha2(_) => "content digest (SHA-2-512)",
            Self::Nonce => "nonce",
            Self::Oid => "OID sequence",
            Self::ShamirShare => "Shamir share",
            Self::SecretSeed => "secret seed",
        }
    }

    /// Whether the value is a fingerprint that may be truncated (digests and authenticators).
    pub fn is_fingerprint(self) -> bool {
        matches!(
            self,
            Self::AuthenticatorHmacSha2
                | Self::AuthenticatorHmacSha3
                | Self::DigestSha2(_)
                | Self::DigestSha3(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips() {
        for code in 0..=255u8 {
            if let Ok(t) = UdfType::from_code(code) {
                assert_eq!(t.code(), code);
            }
        }
        assert_eq!(UdfType::from_code(108), Err(UdfError::UnknownType(108)));
    }
}
