//! UDF URIs (udf-13 §6) and Encrypted Authenticated Resource Locators.
//!
//! Three forms are read and written:
//! - name form `udf:UDF`;
//! - locator form `udf://domain/UDF`;
//! - the Mesh connection form `mcu://account@domain/UDF` (seed 000's `ConnectUri`).
//!
//! For an EARL, the resource is found under the locator: the SHA-2-512 content digest of the key's
//! text (the UDF exactly as presented) with content type `UDFEncryption`, at 280 bits. The draft
//! names the content type `application/udf-encryption`; the reference code and the udf-13 worked
//! example use the literal `UDFEncryption` (REFERENCE-NOTES §9), so that is used here.

use std::fmt;

use crate::digest::{ContentDigest, DigestAlgorithm};
use crate::{Udf, UdfError, UdfType};

/// The content type of an EARL locator digest.
pub const EARL_CONTENT_TYPE: &str = "UDFEncryption";
/// Precision of an EARL locator: twice the default fingerprint precision.
pub const EARL_LOCATOR_BITS: usize = 280;

/// URI schemes a UDF may be carried in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UdfScheme {
    Udf,
    Mcu,
}

impl UdfScheme {
    fn as_str(self) -> &'static str {
        match self {
            UdfScheme::Udf => "udf",
            UdfScheme::Mcu => "mcu",
        }
    }
}

/// A parsed UDF URI. `authority` is a domain (`udf://`) or an account address (`mcu://`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdfUri {
    pub scheme: UdfScheme,
    pub authority: Option<String>,
    /// The UDF as it appeared (upper-cased); EARL locators are computed over this text.
    pub udf_text: String,
    pub udf: Udf,
}

impl UdfUri {
    /// Parse `udf:UDF`, `udf://authority/UDF` or `mcu://authority/UDF`.
    pub fn parse(text: &str) -> Result<Self, UdfError> {
        let text = text.trim();
        let (scheme_text, rest) = text
            .split_once(':')
            .ok_or_else(|| UdfError::BadUri(format!("no scheme in '{text}'")))?;
        let scheme = match scheme_text.to_ascii_lowercase().as_str() {
            "udf" => UdfScheme::Udf,
            "mcu" => UdfScheme::Mcu,
            other => return Err(UdfError::BadUri(format!("unknown scheme '{other}'"))),
        };
        let (authority, udf_part) = match rest.strip_prefix("//") {
            Some(located) => {
                let (authority, path) = located.split_once('/').ok_or_else(|| {
                    UdfError::BadUri("locator form needs '/UDF' after the authority".into())
                })?;
                check_authority(scheme, authority)?;
                (Some(authority.to_string()), path)
            }
            None if scheme == UdfScheme::Mcu => {
                return Err(UdfError::BadUri(
                    "mcu: URIs need an account: mcu://account/UDF".into(),
                ))
            }
            None => (None, rest),
        };
        let udf_part = udf_part.split(['?', '#']).next().unwrap_or_default();
        let udf = Udf::parse(udf_part)?;
        Ok(UdfUri {
            scheme,
            authority,
            udf_text: udf_part.to_ascii_uppercase(),
            udf,
        })
    }

    /// The EARL locator of this URI's key, if it carries an encryption key.
    pub fn locator(&self) -> Result<String, UdfError> {
        match self.udf.kind() {
            UdfType::EncryptionKey(_) => Ok(earl_locator(&self.udf_text)),
            other => Err(UdfError::WrongType {
                expected: "encryption key",
                found: other.name(),
            }),
        }
    }
}

fn check_authority(scheme: UdfScheme, authority: &str) -> Result<(), UdfError> {
    let host = match scheme {
        UdfScheme::Mcu => match authority.rsplit_once('@') {
            Some((local, host)) if !local.is_empty() => host,
            _ => authority,
        },
        UdfScheme::Udf => authority,
    };
    let ok = !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if !ok {
        return Err(UdfError::BadUri(format!(
            "'{authority}' is not a valid domain or account"
        )));
    }
    Ok(())
}

impl fmt::Display for UdfUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.authority {
            Some(a) => write!(f, "{}://{}/{}", self.scheme.as_str(), a, self.udf_text),
            None => write!(f, "{}:{}", self.scheme.as_str(), self.udf_text),
        }
    }
}

/// The locator under which content encrypted under the EARL key `key_text` is published.
pub fn earl_locator(key_text: &str) -> String {
    ContentDigest::of_data(
        DigestAlgorithm::Sha2_512,
        EARL_CONTENT_TYPE,
        key_text.as_bytes(),
    )
    .present(EARL_LOCATOR_BITS)
    .expect("280 is a valid precision")
}

/// A fresh EARL for `authority`: a new 128-bit encryption key and the locator derived from it.
pub fn new_earl(scheme: UdfScheme, authority: &str) -> Result<(UdfUri, String), UdfError> {
    check_authority(scheme, authority)?;
    let key = crate::random::encryption_key(crate::random::DEFAULT_RANDOM_BITS);
    let udf_text = key.to_string();
    let locator = earl_locator(&udf_text);
    Ok((
        UdfUri {
            scheme,
            authority: Some(authority.to_string()),
            udf_text,
            udf: key,
        },
        locator,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    // udf-13 §1.2.2: the invoice example.
    #[test]
    fn earl_example() {
        let uri = UdfUri::parse("udf://example.com/EADA-YKC5-WSUK-AACN-WRRO-MJOQ-PVSK-SM").unwrap();
        assert_eq!(uri.authority.as_deref(), Some("example.com"));
        assert_eq!(
            uri.locator().unwrap(),
            "MDQK-2L7C-OD5I-QJNG-ZJ3Y-OHAH-GMTW-USRH-ENGL-SG23-APAP-YH7I-ZIFA-J3UQ"
        );
    }

    #[test]
    fn forms() {
        let name = UdfUri::parse("udf:MB5S-R4AJ-3FBT-7NHO-T26Z-2E6Y-WFH4").unwrap();
        assert_eq!(name.authority, None);
        assert_eq!(name.to_string(), "udf:MB5S-R4AJ-3FBT-7NHO-T26Z-2E6Y-WFH4");
        let connect =
            UdfUri::parse("mcu://maker@example.com/EC6P-KOIX-T3B4-YIKE-OLX3-BUUD-64").unwrap();
        assert_eq!(connect.authority.as_deref(), Some("maker@example.com"));
        assert_eq!(connect.udf.kind(), UdfType::EncryptionKey(32));
        assert!(connect.locator().is_ok());
        assert!(name.locator().is_err());
    }

    #[test]
    fn bad_uris() {
        for bad in [
            "http://example.com/MB5S",
            "udf//example.com/MB5S",
            "mcu:EADA-YKC5",
            "udf://exa mple.com/MB5S-R4AJ",
            "udf://example.com",
            "udf://example.com/M!",
        ] {
            assert!(UdfUri::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn new_earl_round_trips() {
        let (uri, locator) = new_earl(UdfScheme::Mcu, "alice@example.com").unwrap();
        let parsed = UdfUri::parse(&uri.to_string()).unwrap();
        assert_eq!(parsed, uri);
        assert_eq!(parsed.locator().unwrap(), locator);
    }
}
