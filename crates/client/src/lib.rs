//! # mesh-client
//!
//! The device side of the Mesh: the device context on disk with its secrets sealed by a
//! passphrase, accounts created and held by this device, and their catalogs ([`context`]).

pub mod catalogs;
pub mod connect;
pub mod context;
mod error;
pub mod messages;
pub mod online;
pub mod pairing;
pub mod preconfig;
pub mod store;

pub use catalogs::CatalogKind;
pub use context::{Account, Device, MeshHome};
pub use error::{ClientError, Result};
