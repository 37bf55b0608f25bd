//! Errors of the cryptographic layer.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CryptoError {
    #[error(transparent)]
    Udf(#[from] mesh_udf::UdfError),
    #[error("invalid {algorithm} public key: {reason}")]
    BadPublicKey {
        algorithm: &'static str,
        reason: String,
    },
    #[error("invalid {algorithm} private key: {reason}")]
    BadPrivateKey {
        algorithm: &'static str,
        reason: String,
    },
    #[error("signature is not valid")]
    BadSignature,
    #[error("malformed signature: expected {expected} octets, got {got}")]
    SignatureLength { expected: usize, got: usize },
    #[error("keys of different algorithms cannot be combined ({0} and {1})")]
    AlgorithmMismatch(&'static str, &'static str),
    #[error("{0} is not supported for this operation")]
    Unsupported(String),
    #[error("key agreement produced the identity (low-order public key)")]
    LowOrderPoint,
    #[error("invalid secret seed: {0}")]
    BadSeed(String),
    #[error("secret sharing: {0}")]
    Sharing(String),
}
