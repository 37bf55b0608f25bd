//! Binary UDFs and their presentation at a chosen precision (udf-13 §3, §4).
//!
//! A binary UDF is a type identifier octet followed by a Binary Data Sequence. Fingerprints
//! (digests, authenticators) are truncated for presentation to a multiple of 20 bits; fixed-length
//! values (keys, nonces, seeds, shares, OIDs) are always presented whole.

use std::fmt;
use std::str::FromStr;

use crate::{base32, UdfError, UdfType};

/// The default presentation precision of a fingerprint: 140 bits, 28 characters in 7 groups.
pub const DEFAULT_BITS: usize = 140;
/// The highest precision a fingerprint can be presented at (type octet + 63 digest octets would be
/// 512 bits; the largest multiple of 20 not above that).
pub const MAX_FINGERPRINT_BITS: usize = 500;

/// Check a fingerprint precision: a multiple of 20 from 20 to [`MAX_FINGERPRINT_BITS`].
pub fn check_precision(bits: usize) -> Result<usize, UdfError> {
    if !(20..=MAX_FINGERPRINT_BITS).contains(&bits) || !bits.is_multiple_of(20) {
        return Err(UdfError::BadPrecision(bits, 20, MAX_FINGERPRINT_BITS));
    }
    Ok(bits)
}

/// A parsed or constructed UDF: its type and the octets that follow the type octet.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Udf {
    kind: UdfType,
    body: Vec<u8>,
}

impl Udf {
    /// Build a UDF from its type and body octets.
    pub fn new(kind: UdfType, body: Vec<u8>) -> Self {
        Udf { kind, body }
    }

    /// Parse any presented UDF. Dashes and case are ignored, trailing partial octets discarded.
    pub fn parse(text: &str) -> Result<Self, UdfError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(UdfError::Empty);
        }
        let bytes = base32::decode(text)?;
        if bytes.len() < 2 {
            return Err(UdfError::TooShort(bytes.len(), 2));
        }
        let kind = UdfType::from_code(bytes[0])?;
        Ok(Udf {
            kind,
            body: bytes[1..].to_vec(),
        })
    }

    /// Parse a UDF that must be of the type `check` accepts.
    pub fn parse_expecting(
        text: &str,
        expected: &'static str,
        check: impl Fn(UdfType) -> bool,
    ) -> Result<Self, UdfError> {
        let udf = Self::parse(text)?;
        if !check(udf.kind) {
            return Err(UdfError::WrongType {
                expected,
                found: udf.kind.name(),
            });
        }
        Ok(udf)
    }

    /// The UDF type.
    pub fn kind(&self) -> UdfType {
        self.kind
    }

    /// The Binary Data Sequence: every octet after the type identifier.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The binary UDF: type octet followed by the body.
    pub fn binary(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + 1);
        out.push(self.kind.code());
        out.extend_from_slice(&self.body);
        out
    }

    /// Present at `bits` bits of precision (type octet included), capped at the octets held.
    pub fn present(&self, bits: usize) -> String {
        base32::encode(&self.binary(), bits)
    }

    /// Present every octet held.
    pub fn present_whole(&self) -> String {
        self.present((self.body.len() + 1) * 8)
    }
}

impl fmt::Display for Udf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.present_whole())
    }
}

impl fmt::Debug for Udf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Udf({})", self.present_whole())
    }
}

impl FromStr for Udf {
    type Err = UdfError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Udf::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_example_parses() {
        let udf = Udf::parse("ND5L-Y3E6-GDDZ-KICR-NPDL-5WWM-4QSA").unwrap();
        assert_eq!(udf.kind(), UdfType::Nonce);
        assert_eq!(udf.body().len(), 16);
    }

    #[test]
    fn lower_case_and_missing_dashes_are_accepted() {
        let a = Udf::parse("mddt-ktdt-az62-55hv-ffvy-jynu-y3ye").unwrap();
        let b = Udf::parse("MDDTKTDTAZ6255HVFFVYJYNUY3YE").unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn errors_are_specific() {
        assert_eq!(Udf::parse("  "), Err(UdfError::Empty));
        assert_eq!(Udf::parse("MA"), Err(UdfError::TooShort(1, 2)));
        // 0x08 is not an assigned type: 'B' = 00001 then 'A' = 00000 gives 0x08.
        assert_eq!(Udf::parse("BAAA-AAAA"), Err(UdfError::UnknownType(8)));
        assert!(matches!(
            Udf::parse("M!AA"),
            Err(UdfError::BadCharacter { .. })
        ));
    }

    #[test]
    fn precision_rules() {
        assert!(check_precision(140).is_ok());
        assert!(check_precision(500).is_ok());
        assert!(check_precision(130).is_err());
        assert!(check_precision(0).is_err());
        assert!(check_precision(520).is_err());
    }
}
