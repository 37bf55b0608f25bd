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

/// A [`mesh_struct`] that is an Assertion of the reference's schema (profiles, connections,
/// activations, contacts, callsign bindings): its members first — the names it goes by, when it
/// was last changed (a profile re-issued by a key rotation must be later than the one it
/// replaces, so that an older one, still validly signed, cannot be put back), a notary token and
/// conditions — then the type's own.
#[macro_export]
macro_rules! assertion_struct {
    ($(#[$m:meta])* pub struct $name:ident { $($body:tt)* }) => {
        $crate::mesh_struct! {
            $(#[$m])*
            pub struct $name {
                #[serde(skip_serializing_if = "Vec::is_empty")]
                pub names: Vec<String>,
                pub updated: Option<String>,
                pub notary_token: Option<String>,
                pub conditions: Option<serde_json::Value>,
                $($body)*
            }
        }
    };
}

/// A [`mesh_struct`] that is a catalog entry (the reference's CatalogedEntry): its labels, local
/// name and Uid first, then the type's own.
#[macro_export]
macro_rules! cataloged_struct {
    ($(#[$m:meta])* pub struct $name:ident { $($body:tt)* }) => {
        $crate::mesh_struct! {
            $(#[$m])*
            pub struct $name {
                #[serde(skip_serializing_if = "Vec::is_empty")]
                pub labels: Vec<String>,
                pub local_name: Option<String>,
                pub uid: Option<String>,
                $($body)*
            }
        }
    };
}

/// A [`cataloged_struct`] that is an application entry (the reference's CatalogedApplication):
/// its key, default, grants and denials, capabilities and escrow, then the type's own.
#[macro_export]
macro_rules! application_struct {
    ($(#[$m:meta])* pub struct $name:ident { $($body:tt)* }) => {
        $crate::cataloged_struct! {
            $(#[$m])*
            pub struct $name {
                pub key: Option<String>,
                #[serde(rename = "Default")]
                pub default_: Option<i64>,
                #[serde(skip_serializing_if = "Vec::is_empty")]
                pub grant: Vec<String>,
                #[serde(skip_serializing_if = "Vec::is_empty")]
                pub deny: Vec<String>,
                #[serde(skip_serializing_if = "Vec::is_empty")]
                pub enveloped_capabilities: Vec<mesh_dare::DareEnvelope>,
                #[serde(skip_serializing_if = "Vec::is_empty")]
                pub enveloped_escrow: Vec<mesh_dare::DareEnvelope>,
                $($body)*
            }
        }
    };
}

/// An [`assertion_struct`] that is an Activation (the reference's): the activation key and the
/// per-resource entries, then the type's own.
#[macro_export]
macro_rules! activation_struct {
    ($(#[$m:meta])* pub struct $name:ident { $($body:tt)* }) => {
        $crate::assertion_struct! {
            $(#[$m])*
            pub struct $name {
                pub activation_key: Option<String>,
                #[serde(skip_serializing_if = "Vec::is_empty")]
                pub entries: Vec<$crate::assertion::ActivationEntry>,
                $($body)*
            }
        }
    };
}

/// An [`assertion_struct`] that is a Contact (the reference's: a person, group or
/// organization): its identifiers, anchors, addresses, locations, roles, pages and sources,
/// then the type's own.
#[macro_export]
macro_rules! contact_struct {
    ($(#[$m:meta])* pub struct $name:ident { $($body:tt)* }) => {
        $crate::assertion_struct! {
            $(#[$m])*
            pub struct $name {
                pub id: Option<String>,
                pub local: Option<String>,
                #[serde(skip_serializing_if = "Vec::is_empty")]
                pub anchors: Vec<$crate::catalog::Anchor>,
                #[serde(skip_serializing_if = "Vec::is_empty")]
                pub network_addresses: Vec<$crate::catalog::NetworkAddress>,
                #[serde(skip_serializing_if = "Vec::is_empty")]
                pub locations: Vec<$crate::catalog::Location>,
                #[serde(skip_serializing_if = "Vec::is_empty")]
                pub roles: Vec<$crate::catalog::Role>,
                #[serde(skip_serializing_if = "Vec::is_empty")]
                pub bookmark: Vec<$crate::catalog::Bookmark>,
                #[serde(skip_serializing_if = "Vec::is_empty")]
                pub sources: Vec<$crate::catalog::TaggedSource>,
                $($body)*
            }
        }
    };
}

/// An [`assertion_struct`] that is one of the reference's Connections without keys of a
/// device's own: subject, authority and authentication key, then the type's own.
#[macro_export]
macro_rules! connection_struct {
    ($(#[$m:meta])* pub struct $name:ident { $($body:tt)* }) => {
        $crate::assertion_struct! {
            $(#[$m])*
            pub struct $name {
                pub subject: Option<String>,
                pub authority: Option<String>,
                pub authentication: Option<$crate::KeyData>,
                $($body)*
            }
        }
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
pub mod rights;
pub mod sender;
pub mod signed;

pub use error::{Result, SchemaError};
pub use item::MeshItem;
pub use key::KeyData;
