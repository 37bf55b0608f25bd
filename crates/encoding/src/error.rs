//! Decoding and encoding errors. Every malformed input is an error with its offset, never a panic.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EncodingError {
    #[error("unexpected end of input at offset {0}")]
    Truncated(usize),
    #[error("unexpected byte 0x{byte:02x} at offset {offset}: {expected}")]
    Unexpected {
        byte: u8,
        offset: usize,
        expected: &'static str,
    },
    #[error("invalid {what} at offset {offset}")]
    Invalid { what: &'static str, offset: usize },
    #[error("the member '{name}' appears twice in one object (at offset {offset})")]
    DuplicateMember { name: String, offset: usize },
    #[error("nesting deeper than {0} levels")]
    TooDeep(usize),
    #[error("trailing data at offset {0}")]
    Trailing(usize),
    #[error("JSON-C tag compression (0x{0:02x}) is not supported")]
    Compressed(u8),
    #[error("{0} cannot be written as JSON text")]
    NotJson(&'static str),
    #[error("invalid base64url: {0}")]
    Base64(String),
    #[error("invalid date-time '{0}': expected RFC 3339, e.g. 2021-10-25T15:49:07Z")]
    DateTime(String),
    #[error("{0}")]
    Serde(String),
}
