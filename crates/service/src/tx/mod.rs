//! The transactions (protocol-09 §7, §10), one module per group, each a function
//! `fn(&Ctx, &Caller…, &Request) -> Result<Response, Refusal>` run after the caller was
//! authenticated and the request's nonce found new ([`crate::host`]).

pub mod account;
pub mod channel;
pub mod connect;
pub mod post;
pub mod sync;

use std::time::Instant;

use mesh_protocol::Response;

use crate::host::ServiceHost;
use crate::refusal::Refusal;

/// What a transaction gives back.
pub type Outcome = Result<Response, Refusal>;

/// What a transaction runs with.
pub struct Ctx<'a> {
    pub host: &'a ServiceHost,
    /// Past this, the request is refused before it writes anything.
    pub deadline: Instant,
}

impl Ctx<'_> {
    /// Call just before the first durable write: after the deadline the request is refused
    /// (503) with nothing applied; from here on it runs to its end and is answered with what
    /// happened, however long that takes.
    pub fn commit(&self) -> Result<(), Refusal> {
        if Instant::now() > self.deadline {
            return Err(Refusal::Unavailable(
                "the service is too busy to take the request in time".into(),
            ));
        }
        Ok(())
    }
}
