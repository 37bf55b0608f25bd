//! Errors returned when UDF strings, URIs and shares are parsed or built.

use thiserror::Error;

/// Everything that can be wrong with a UDF presented to this crate.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UdfError {
    #[error(
        "invalid character '{character}' at position {position} (Base32 allows A-Z, 2-7 and '-')"
    )]
    BadCharacter { character: char, position: usize },
    #[error("UDF is empty")]
    Empty,
    #[error("UDF is too short: {0} octet(s) after decoding, at least {1} needed")]
    TooShort(usize, usize),
    #[error("unknown UDF type identifier {0}")]
    UnknownType(u8),
    #[error("expected a {expected} UDF, found {found}")]
    WrongType {
        expected: &'static str,
        found: &'static str,
    },
    #[error("precision of {0} bits is out of range ({1} to {2})")]
    BadPrecision(usize, usize, usize),
    #[error("invalid UDF URI: {0}")]
    BadUri(String),
    #[error("invalid share: {0}")]
    BadShare(String),
    #[error("invalid key specifier: {0}")]
    BadKeySpecifier(String),
}
