//! Binary data in Mesh JSON: base64url without padding (protocol-09 §5.4).
//!
//! The published data wraps long base64url values with line breaks and spaces, even inside
//! signed payloads (INTEROP-NOTES, "Presentation"), so the decoder skips white space. Padding
//! characters are tolerated at the end. Use as `#[serde(with = "mesh_encoding::base64url")]`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Deserializer, Serializer};

use crate::EncodingError;

pub fn encode(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// Decode base64url, ignoring white space and trailing `=`.
pub fn decode(text: &str) -> Result<Vec<u8>, EncodingError> {
    let trimmed = text.trim_end_matches('=');
    // What this build and most others write has no white space: decoded as it is, without
    // a copy (the bulk of reading a large download was this copy).
    let compact: std::borrow::Cow<'_, str> =
        // (char::is_whitespace, which the copy uses, also takes the vertical tab.)
        if trimmed.bytes().any(|b| b.is_ascii_whitespace() || b == 0x0b) || !text.is_ascii() {
            let kept: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            kept.trim_end_matches('=').to_string().into()
        } else {
            trimmed.into()
        };
    URL_SAFE_NO_PAD
        .decode(compact.as_bytes())
        .map_err(|e| EncodingError::Base64(e.to_string()))
}

pub fn serialize<S: Serializer>(data: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&encode(data))
}

pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    let text = String::deserialize(deserializer)?;
    decode(&text).map_err(serde::de::Error::custom)
}

/// The same for `Option<Vec<u8>>` fields: `#[serde(default, with = "mesh_encoding::base64url::option")]`.
pub mod option {
    use super::*;

    pub fn serialize<S: Serializer>(
        data: &Option<Vec<u8>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match data {
            Some(d) => serializer.serialize_some(&encode(d)),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|t| decode(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_text_decodes() {
        let wrapped = "PRkvfQ8djpN_Z3tY_p8qPRR4rTy_ZFEFW_WAqBcQ\n  2WpffnNZf_dPVKtW1XW9IpGjxYg2h0zB-hSVnCWViSUiEQ";
        assert_eq!(decode(wrapped).unwrap().len(), 64);
        assert_eq!(decode("AQID==").unwrap(), vec![1, 2, 3]);
        assert!(decode("AQ+D").is_err());
        // White space before padding, and Unicode white space, as the slow path reads them.
        assert_eq!(decode("AQ ID\n==").unwrap(), vec![1, 2, 3]);
        assert_eq!(decode("AQ\u{2003}ID").unwrap(), vec![1, 2, 3]);
        assert_eq!(decode("AQ\u{0b}ID").unwrap(), vec![1, 2, 3]);
        assert!(decode("AQ=ID").is_err());
        assert_eq!(encode(&[0xfb, 0xff]), "-_8");
    }
}

/// A list of binary values, each base64url (`#[serde(with = "base64url::list")]`).
pub mod list {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(data: &[Vec<u8>], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(data.iter().map(|d| super::encode(d)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<Vec<u8>>, D::Error> {
        Vec::<String>::deserialize(deserializer)?
            .iter()
            .map(|t| super::decode(t).map_err(serde::de::Error::custom))
            .collect()
    }
}
