//! # mesh-client
//!
//! The device side of the Mesh: the device context on disk with its secrets sealed by a
//! passphrase, accounts created and held by this device, and their catalogs ([`context`]);
//! talking to the account's service ([`online`]); the four ways to connect a device
//! ([`connect`], [`pairing`], [`preconfig`]), which give a device without administrator rights
//! a share of the account key that decrypts only with the service's contribution (Operate);
//! contact messages ([`messages`]).

#![forbid(unsafe_code)]

pub mod agreements;
pub mod authority;
pub mod catalogs;
pub mod confirmations;
pub mod conflicts;
pub mod connect;
pub mod contact_exchange;
pub mod context;
mod error;
pub mod groups;
pub mod messages;
pub mod online;
pub mod pairing;
pub mod preconfig;
pub mod reconnect;
pub mod rotation;
pub mod store;
pub mod unlock;

pub use catalogs::CatalogKind;
pub use context::{Account, Device, MeshHome};
pub use error::{ClientError, Result};
