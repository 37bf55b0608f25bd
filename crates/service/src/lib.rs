//! # mesh-service
//!
//! The Mesh Service (protocol-09): the host that opens every request and authenticates its
//! caller ([`host`], [`auth`]), the transactions ([`tx`]) and their refusals ([`refusal`]), over
//! HTTP ([`http`]); other services reached and authenticated ([`peers`], [`outbox`]); threshold key agreement for devices ([`operate`]), storing accounts in DARE container files ([`files`], the embedded default)
//! or in PostgreSQL ([`pg`], shared by several stateless service processes).

#![forbid(unsafe_code)]

pub mod auth;
pub mod ephemeral;
pub mod files;
pub mod host;
pub mod http;
pub mod limits;
pub mod operate;
pub mod outbox;
pub mod peers;
pub mod pg;
pub mod refusal;
pub mod store;
pub mod tls;
pub mod tx;

pub use host::{Identity, ServiceHost};
pub use store::Store;
