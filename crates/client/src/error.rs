//! Errors of the device side, worded for the person at the keyboard.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("wrong passphrase (or the file {0} is damaged)")]
    BadPassphrase(String),
    #[error("the session in $MESH_SESSION cannot be used ({0}): run `mesh unlock` again, or unset MESH_SESSION to give the passphrase")]
    SessionEnded(String),
    #[error("no device here yet: create an account first (mesh account create ADDRESS)")]
    NoDevice,
    #[error("no account {0} on this device (mesh account list shows them)")]
    NoAccount(String),
    #[error("no account on this device: create one with `mesh account create ADDRESS`")]
    NoAccounts,
    #[error("several accounts on this device: say which with --account ({0})")]
    WhichAccount(String),
    #[error("the account {0} is already on this device")]
    AccountExists(String),
    #[error("'{0}' is not an account address: expected user@domain")]
    BadAddress(String),
    #[error("this device holds no administrator key for {0}")]
    NotAdministrator(String),
    #[error("this device was connected to {account} without the {right} right, so it may not {what}: an administrator device grants it (mesh device accept … --rights {right}, when connecting the device)")]
    NoRight {
        account: String,
        right: &'static str,
        what: &'static str,
    },
    #[error("this device does not hold the root of {0}: give a quorum of its escrow shares (--share), or run this on the device that keeps the root")]
    NotRootHolder(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0} is not bound to a service: run `mesh account bind --service URL`")]
    NotBound(String),
    #[error("conflict: {0} changed on the service since this device last synced; run `mesh account sync` and try again")]
    Conflict(String),
    #[error("the service refused the request ({0}): {1}")]
    Service(u16, String),
    /// The service could not be reached (no answer at all): nothing was sent or received.
    #[error("{0}")]
    Unreachable(String),
    #[error(transparent)]
    Dare(#[from] mesh_dare::DareError),
    #[error(transparent)]
    Schema(#[from] mesh_schema::SchemaError),
    #[error(transparent)]
    Crypto(#[from] mesh_crypto::CryptoError),
    #[error(transparent)]
    Udf(#[from] mesh_udf::UdfError),
    #[error(transparent)]
    Encoding(#[from] mesh_encoding::EncodingError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T> = std::result::Result<T, ClientError>;
