//! Typed errors of the DARE layer: each names what failed so a caller can tell a forged envelope
//! from an unknown signer, a truncated file from an unsupported algorithm.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum DareError {
    #[error("malformed envelope: {0}")]
    Malformed(String),
    #[error("truncated data: {0}")]
    Truncated(String),
    #[error(transparent)]
    Encoding(#[from] mesh_encoding::EncodingError),
    #[error(transparent)]
    Crypto(#[from] mesh_crypto::CryptoError),
    #[error("unsupported {0}")]
    Unsupported(String),
    #[error(
        "payload digest mismatch: the payload does not match the PayloadDigest in the envelope"
    )]
    DigestMismatch,
    #[error("the envelope carries no signature")]
    NotSigned,
    #[error("signature by {kid} is not valid")]
    BadSignature { kid: String },
    #[error("signed by unknown key {kid} (digest checks; supply the signer's public key to verify the signature)")]
    UnknownSigner { kid: String },
    #[error("the envelope is not encrypted")]
    NotEncrypted,
    #[error("no decryption key for any recipient of the envelope (recipients: {0})")]
    NoDecryptionKey(String),
    #[error("decryption failed: {0}")]
    Decryption(String),
    #[error("payload MAC does not verify: wrong key, or the ciphertext was altered")]
    BadMac,
    #[error("container {path}: {reason}")]
    Container { path: String, reason: String },
    #[error("frame {index} is not in the container (it holds {count} frames)")]
    NoSuchFrame { index: u64, count: u64 },
    #[error("Merkle proof does not verify")]
    BadProof,
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T> = std::result::Result<T, DareError>;
