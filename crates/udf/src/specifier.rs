//! The key specifier that opens a key-derivation seed (udf-13 §4.4): two octets in network order,
//! bits 6–7 of the first the key use, the remaining 14 bits the key type.

use std::fmt;

use crate::UdfError;

/// The key type codes of udf-13 §4.4.
pub const KEY_TYPES: &[(u16, &str)] = &[
    (0, "Any"),
    (1, "X25519"),
    (2, "X448"),
    (3, "Ed25519"),
    (4, "Ed448"),
    (5, "P256"),
    (6, "P384"),
    (7, "P521"),
    (8, "RSA2048"),
    (9, "RSA3072"),
    (10, "RSA4096"),
    (256, "MeshProfileDevice"),
    (257, "MeshActivationDevice"),
    (258, "MeshProfileAccount"),
    (259, "MeshActivationAccount"),
    (260, "MeshProfileService"),
    (261, "MeshActivationService"),
];

/// Key uses (bits 6–7 of the first octet).
pub const KEY_USES: &[(u8, &str)] = &[
    (0, "Any"),
    (1, "Encryption"),
    (2, "Signature"),
    (3, "Authentication"),
];

/// A key specifier: key use and key type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeySpecifier {
    pub key_use: u8,
    pub key_type: u16,
}

impl KeySpecifier {
    /// Build a specifier, checking the fields fit their bits.
    pub fn new(key_use: u8, key_type: u16) -> Result<Self, UdfError> {
        if key_use > 3 {
            return Err(UdfError::BadKeySpecifier(format!(
                "key use {key_use} is over 3"
            )));
        }
        if key_type > 0x3fff {
            return Err(UdfError::BadKeySpecifier(format!(
                "key type {key_type} is over 14 bits"
            )));
        }
        Ok(KeySpecifier { key_use, key_type })
    }

    /// Read the first two octets of a seed body.
    pub fn from_bytes(bytes: [u8; 2]) -> Self {
        KeySpecifier {
            key_use: bytes[0] >> 6,
            key_type: u16::from_be_bytes(bytes) & 0x3fff,
        }
    }

    pub fn to_bytes(self) -> [u8; 2] {
        (((self.key_use as u16) << 14) | self.key_type).to_be_bytes()
    }

    /// Look a key type up by its name (`MeshProfileDevice`, `Ed448`, …), case-insensitively.
    pub fn key_type_by_name(name: &str) -> Result<u16, UdfError> {
        KEY_TYPES
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(name))
            .map(|(c, _)| *c)
            .ok_or_else(|| {
                let names: Vec<&str> = KEY_TYPES.iter().map(|(_, n)| *n).collect();
                UdfError::BadKeySpecifier(format!(
                    "unknown key type '{name}' (known: {})",
                    names.join(", ")
                ))
            })
    }

    /// The registered name of the key type, if it has one.
    pub fn key_type_name(self) -> Option<&'static str> {
        KEY_TYPES
            .iter()
            .find(|(c, _)| *c == self.key_type)
            .map(|(_, n)| *n)
    }
}

impl fmt::Display for KeySpecifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let use_name = KEY_USES
            .iter()
            .find(|(c, _)| *c == self.key_use)
            .map_or("?", |(_, n)| n);
        match self.key_type_name() {
            Some(n) => write!(f, "{n} (use {use_name})"),
            None => write!(f, "key type {} (use {use_name})", self.key_type),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_specifier_is_0100() {
        let s = KeySpecifier::new(
            0,
            KeySpecifier::key_type_by_name("meshprofiledevice").unwrap(),
        )
        .unwrap();
        assert_eq!(s.to_bytes(), [0x01, 0x00]);
        assert_eq!(KeySpecifier::from_bytes([0x01, 0x00]), s);
        assert_eq!(KeySpecifier::from_bytes([0x80, 0x04]).key_use, 2);
        assert!(KeySpecifier::key_type_by_name("Nope").is_err());
        assert!(KeySpecifier::new(4, 0).is_err());
    }
}
