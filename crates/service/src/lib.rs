//! # mesh-service
//!
//! The Mesh Service (protocol-09): the host that answers every transaction ([`host`]) over
//! HTTP ([`http`]), threshold key agreement for devices ([`operate`]), storing accounts in DARE container files ([`files`], the embedded default)
//! or in PostgreSQL ([`pg`], shared by several stateless service processes).

pub mod files;
pub mod host;
pub mod http;
pub mod limits;
pub mod operate;
pub mod outbox;
pub mod pg;
pub mod store;
pub mod tls;

pub use host::{Identity, ServiceHost};
pub use store::Store;
