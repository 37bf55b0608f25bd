//! # mesh-schema
//!
//! The Mesh schema (draft-hallambaker-mesh-schema-08, with the seeds): profiles, connections and
//! activations, catalog entries and messages, each a typed structure with the names of the
//! draft; the activation scheme; identifiers; and signed envelopes whose signer is checked.
//! Where the published data and the draft text differ, the data wins (see each module).

#![forbid(unsafe_code)]

/// A schema structure: optional fields left out when absent, PascalCase names, unknown fields
/// kept by the `extra` member where the structure has one. Exported for the protocol's messages,
/// which follow the same conventions (the using crate needs `serde` and `serde_with`).
#[macro_export]
macro_rules! mesh_struct {
    ($(#[$m:meta])* pub struct $name:ident { $($body:tt)* }) => {
        $(#[$m])*
        #[serde_with::skip_serializing_none]
        #[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "PascalCase", default)]
        pub struct $name { $($body)* }
    };
}

pub mod assertion;
pub mod catalog;
mod error;
pub mod ids;
pub mod item;
pub mod key;
pub mod message;
pub mod preconfig;
pub mod profile;
pub mod sender;
pub mod signed;

pub use error::{Result, SchemaError};
pub use item::MeshItem;
pub use key::KeyData;
