//! # mesh-protocol
//!
//! The Mesh Service protocol (draft-hallambaker-mesh-protocol-09, seed 002): the request and
//! response messages ([`messages`]), their DARE encapsulation and authentication
//! ([`binding`]), and an HTTP client ([`client`]).

#![forbid(unsafe_code)]

pub mod binding;
pub mod client;
pub mod messages;

use thiserror::Error;

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ProtocolError {
    #[error("bad request: {0}")]
    BadRequest(String),
    /// A request that cannot be decrypted or read: one answer for every cause.
    #[error("{0}")]
    Unreadable(String),
    #[error("bad response from the service: {0}")]
    BadResponse(String),
    #[error("the request is {0} seconds old (or early): check the clock")]
    Expired(i64),
    #[error("the service refused the request ({0}): {1}")]
    Refused(u16, String),
    #[error("{0}")]
    Transport(String),
    #[error(transparent)]
    Dare(#[from] mesh_dare::DareError),
    #[error(transparent)]
    Encoding(#[from] mesh_encoding::EncodingError),
}

pub type Result<T> = std::result::Result<T, ProtocolError>;

pub use messages::{Request, Response};
