//! Uniform Data Fingerprints, as specified by draft-hallambaker-mesh-udf-13.
//!
//! - [`Udf`]: parse any presented UDF to its type and octets, and present it again ([`base32`]);
//! - [`digest`]: content digests (SHA-2-512 and SHA-3-512) with work-factor compression;
//! - [`authenticator`]: keyed (HMAC) UDFs;
//! - [`random`]: nonces, symmetric keys and key-derivation seeds with their [`KeySpecifier`];
//! - [`uri`]: `udf:` / `udf://` / `mcu://` URIs and EARL locators;
//! - [`share`]: the encoding of a Shamir share (the arithmetic is in `mesh-crypto`).
//!
//! Where the draft text and the published data disagree, this crate follows the data; each such
//! place says so (see shared/specs/INTEROP-NOTES.md).

#![forbid(unsafe_code)]

pub mod authenticator;
pub mod base32;
pub mod digest;
mod error;
pub mod random;
pub mod share;
mod specifier;
mod types;
mod udf;
pub mod uri;

pub use digest::{content_digest, ContentDigest, DigestAlgorithm};
pub use error::UdfError;
pub use share::ShareUdf;
pub use specifier::{KeySpecifier, KEY_TYPES, KEY_USES};
pub use types::UdfType;
pub use udf::{check_precision, Udf, DEFAULT_BITS, MAX_FINGERPRINT_BITS};
pub use uri::{earl_locator, UdfScheme, UdfUri};
