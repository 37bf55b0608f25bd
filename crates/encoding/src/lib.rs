//! The Mesh's encodings: JSON with the Mesh conventions (protocol-09 §5.4) and JSON-B
//! (draft-hallambaker-jsonbcd-21 §4).
//!
//! - [`Value`]: the shared data model (JSON plus binary data and big integers);
//! - [`json`] and [`jsonb`]: readers and writers; the one decoder behind both rejects malformed
//!   input with an [`EncodingError`] giving the offset, never a panic;
//! - [`base64url`] and [`datetime`]: serde helpers for binary fields and RFC 3339 dates;
//! - [`to_json`] / [`from_json`] / [`to_jsonb`] / [`from_jsonb`]: typed values through serde.

#![forbid(unsafe_code)]

pub mod base64url;
pub mod datetime;
mod decoder;
mod error;
pub mod json;
pub mod jsonb;
mod serde_bridge;
pub mod unknown;
mod value;

pub use decoder::MAX_DEPTH;
pub use error::EncodingError;
pub use serde_bridge::{from_json, from_jsonb, from_value, to_json, to_jsonb, to_value};
pub use unknown::Unknown;
pub use value::{Value, MAX_MAGNITUDE};
