//! The public-key algorithms of the Mesh (cryptography-08 §2) with their names and OIDs.

use crate::CryptoError;

/// A public-key algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Ed25519,
    Ed448,
    X25519,
    X448,
}

impl Algorithm {
    /// The curve name used in `PublicKeyECDH.crv` (`Ed448`, `X448`, …).
    pub fn curve(self) -> &'static str {
        match self {
            Algorithm::Ed25519 => "Ed25519",
            Algorithm::Ed448 => "Ed448",
            Algorithm::X25519 => "X25519",
            Algorithm::X448 => "X448",
        }
    }

    /// Parse a curve name, case-insensitively.
    pub fn from_curve(name: &str) -> Result<Self, CryptoError> {
        [
            Algorithm::Ed25519,
            Algorithm::Ed448,
            Algorithm::X25519,
            Algorithm::X448,
        ]
        .into_iter()
        .find(|a| a.curve().eq_ignore_ascii_case(name))
        .ok_or_else(|| CryptoError::Unsupported(format!("curve '{name}'")))
    }

    /// The DER encoding of the algorithm OID (RFC 8410: 1.3.101.110 – 113).
    pub fn oid_der(self) -> [u8; 5] {
        let last = match self {
            Algorithm::X25519 => 110,
            Algorithm::X448 => 111,
            Algorithm::Ed25519 => 112,
            Algorithm::Ed448 => 113,
        };
        [0x06, 0x03, 0x2b, 0x65, last]
    }

    /// Length of the public key octets as the Mesh carries them. X448 public keys are 57 octets:
    /// u followed by the parity of v (INTEROP-NOTES, "Public key fingerprints").
    pub fn public_key_len(self) -> usize {
        match self {
            Algorithm::Ed25519 | Algorithm::X25519 => 32,
            Algorithm::Ed448 | Algorithm::X448 => 57,
        }
    }

    /// Length of the derived private key material, L in udf-13 §4.4.2.
    pub fn seed_len(self) -> usize {
        match self {
            Algorithm::Ed25519 | Algorithm::X25519 => 32,
            Algorithm::Ed448 | Algorithm::X448 => 56,
        }
    }

    pub fn is_signature(self) -> bool {
        matches!(self, Algorithm::Ed25519 | Algorithm::Ed448)
    }
}
