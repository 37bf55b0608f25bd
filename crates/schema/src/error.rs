//! Errors of the schema layer: what is wrong with a profile or assertion, in words a user can act on.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum SchemaError {
    #[error(transparent)]
    Dare(#[from] mesh_dare::DareError),
    #[error(transparent)]
    Crypto(#[from] mesh_crypto::CryptoError),
    #[error(transparent)]
    Udf(#[from] mesh_udf::UdfError),
    #[error(transparent)]
    Encoding(#[from] mesh_encoding::EncodingError),
    #[error("{0}")]
    Invalid(String),
    #[error("expected a {expected}, found a {found}")]
    WrongType {
        expected: &'static str,
        found: String,
    },
    #[error("the {field} key does not match its UDF (claimed {claimed}, key is {actual})")]
    KeyMismatch {
        field: String,
        claimed: String,
        actual: String,
    },
    #[error(
        "{what} is signed by {signer}, which is not entitled to sign it (expected {expected})"
    )]
    WrongSigner {
        what: String,
        signer: String,
        expected: String,
    },
    #[error("{what} is not signed")]
    Unsigned { what: String },
}

pub type Result<T> = std::result::Result<T, SchemaError>;
