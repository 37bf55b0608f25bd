//! The Shamir share UDF (udf-13 §4.5): type 144, then one octet holding the threshold (bits 4–7)
//! and x − 1 (bits 0–3), then f(x) big-endian, padded to the length of the shared secret.
//! The arithmetic that makes and recombines shares lives in `mesh-crypto`.

use crate::{Udf, UdfError, UdfType};

/// One share: the point (x, f(x)) of a polynomial, with the quorum needed to recover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareUdf {
    pub threshold: u8,
    pub x: u8,
    pub value: Vec<u8>,
}

impl ShareUdf {
    /// Build a share, checking that threshold and x fit their four bits.
    pub fn new(threshold: u8, x: u8, value: Vec<u8>) -> Result<Self, UdfError> {
        if !(1..=15).contains(&threshold) {
            return Err(UdfError::BadShare(format!(
                "threshold {threshold} is not in 1..=15"
            )));
        }
        if !(1..=16).contains(&x) {
            return Err(UdfError::BadShare(format!("x value {x} is not in 1..=16")));
        }
        if value.is_empty() {
            return Err(UdfError::BadShare("share value is empty".into()));
        }
        Ok(ShareUdf {
            threshold,
            x,
            value,
        })
    }

    /// Parse a presented share UDF (`S…`).
    pub fn parse(text: &str) -> Result<Self, UdfError> {
        let udf = Udf::parse_expecting(text, "Shamir share", |t| t == UdfType::ShamirShare)?;
        let body = udf.body();
        if body.len() < 2 {
            return Err(UdfError::TooShort(body.len() + 1, 3));
        }
        Self::new(body[0] >> 4, (body[0] & 0x0f) + 1, body[1..].to_vec())
    }

    /// The share as a UDF.
    pub fn udf(&self) -> Udf {
        let mut body = Vec::with_capacity(self.value.len() + 1);
        body.push((self.threshold << 4) | (self.x - 1));
        body.extend_from_slice(&self.value);
        Udf::new(UdfType::ShamirShare, body)
    }
}

impl std::fmt::Display for ShareUdf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.udf().present_whole())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // udf-13 §4.5.2: f(1) for a 3-of-5 split.
    #[test]
    fn example_share_encodes() {
        let value = hex::decode("2A5B8DEFA88ACE79F6A8D4F8AF24C7B7").unwrap();
        let share = ShareUdf::new(3, 1, value).unwrap();
        assert_eq!(share.to_string(), "SAYC-UW4N-56UI-VTTZ-62UN-J6FP-ETD3-O");
        assert_eq!(
            ShareUdf::parse("SAYC-UW4N-56UI-VTTZ-62UN-J6FP-ETD3-O").unwrap(),
            share
        );
    }

    #[test]
    fn bad_shares() {
        assert!(ShareUdf::parse("MDDK-7N6A-727A-JZNO-STRX-XKS7-DJAF").is_err());
        assert!(ShareUdf::new(0, 1, vec![1]).is_err());
        assert!(ShareUdf::new(3, 17, vec![1]).is_err());
        // Type octet and the threshold octet only.
        assert!(ShareUdf::parse("SAYA").is_err());
    }
}
