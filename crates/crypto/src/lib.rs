//! The cryptographic core of the Mesh (draft-hallambaker-mesh-cryptography-08, udf-13 §4.4–4.5).
//!
//! - [`PrivateKey`] / [`PublicKey`]: Ed448, X448, Ed25519, X25519, held as scalars so that the
//!   activation scheme can add private scalars and public points ([`PrivateKey::combine`]);
//! - [`derive`]: key pairs from a `Z…` seed for a key type and key use, as the published data does;
//! - [`fingerprint`]: the UDF of a public key (`kid` of signatures, `Udf` of profile keys);
//! - [`shamir`]: n-of-m secret sharing in the UDF share form.
//!
//! Where the drafts and the published seed data disagree the data is followed; each such place
//! says so (shared/specs/INTEROP-NOTES.md).

#![forbid(unsafe_code)]

mod algorithm;
pub mod counters;
pub mod curve448;
pub mod derive;
pub mod ed25519;
pub mod ed448;
pub(crate) mod edwards448;
mod error;
pub mod fingerprint;
mod keys;
pub mod p448;
pub mod shamir;
pub mod x25519;
pub mod x448;

pub use algorithm::Algorithm;
pub use derive::{key_name, profile_keys, ProfileKey, SecretSeed};
pub use error::CryptoError;
pub use keys::{combine_contributions, PrivateKey, PublicKey};
