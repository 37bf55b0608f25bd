//! Why the service refuses a request: one typed error for every transaction, whose HTTP status
//! and wire text are written here once (protocol-09 §5.5: the payload's status is authoritative,
//! the HTTP status mirrors it). Internal causes are logged, never sent: a client learns what it
//! can act on, not how the service is built.

use mesh_protocol::Response;

use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The body is over the service's request limit.
    TooLarge { size: usize, limit: usize },
    /// More than the service takes in one request (entries, operations).
    Oversized(String),
    /// The request is not well formed; the text says what is missing or wrong in it.
    Malformed(String),
    /// The request cannot be decrypted or read. One answer whatever the cause, so that nothing
    /// can be learnt about a ciphertext from the refusal.
    Unreadable,
    /// Outside the freshness window (seconds old; negative: from the future).
    Expired(i64),
    /// A nonce already seen.
    Replayed,
    /// No valid authentication for what the request asks.
    Unauthenticated(String),
    /// Authenticated, but not allowed to do this.
    Forbidden(String),
    /// A device removed from its account.
    Revoked(String),
    /// The thing named does not exist here.
    NotFound(String),
    /// The thing exists already, or is not in the state the request assumed.
    Conflict(String),
    /// Over a limit on how much, or how often.
    TooMany(String),
    /// The service could not do it now, and did nothing: try again later.
    Unavailable(String),
    /// A fault of the service's own (logged where it happens).
    Internal,
    /// What the service stored is damaged (it does not match its own digests): said, and never
    /// served as if it were sound.
    Damaged(String),
}

impl Refusal {
    /// The HTTP status, which the payload carries too.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::TooLarge { .. } | Refusal::Oversized(_) => 413,
            Refusal::Malformed(_) | Refusal::Unreadable => 400,
            Refusal::Expired(_) | Refusal::Replayed | Refusal::Unauthenticated(_) => 401,
            Refusal::Forbidden(_) | Refusal::Revoked(_) => 403,
            Refusal::NotFound(_) => 404,
            Refusal::Conflict(_) => 409,
            Refusal::TooMany(_) => 429,
            Refusal::Unavailable(_) => 503,
            Refusal::Internal | Refusal::Damaged(_) => 500,
        }
    }

    /// The text the client is sent.
    pub fn text(&self) -> String {
        match self {
            Refusal::TooLarge { size, limit } => {
                format!("the request is {size} octets; the limit is {limit}")
            }
            Refusal::Malformed(t)
            | Refusal::Oversized(t)
            | Refusal::Unauthenticated(t)
            | Refusal::Forbidden(t)
            | Refusal::NotFound(t)
            | Refusal::Conflict(t)
            | Refusal::TooMany(t) => t.clone(),
            Refusal::Unreadable => mesh_protocol::binding::UNREADABLE.to_string(),
            Refusal::Expired(age) => format!("the request is {age} s old: expired"),
            Refusal::Replayed => "replayed request".into(),
            Refusal::Revoked(udf) => format!("device {udf} has been removed from the account"),
            Refusal::Unavailable(t) => format!("service unavailable: {t}; nothing was applied"),
            Refusal::Internal => "the service failed to handle the request".into(),
            Refusal::Damaged(t) => format!("the service's stored copy is damaged: {t}"),
        }
    }

    /// The response payload.
    pub fn response(&self) -> Response {
        Response::error(self.status(), self.text())
    }
}

/// Storage failures: a database or disk that is not there answers 503 (nothing was applied, the
/// client may retry); an invalid name 400; anything else is the service's own fault.
impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Invalid(t) => Refusal::Malformed(t),
            StoreError::Damaged(t) => {
                tracing::error!("damaged storage: {t}");
                Refusal::Damaged(t)
            }
            StoreError::Database(t) => {
                tracing::error!("storage unavailable: {t}");
                Refusal::Unavailable("the service's storage cannot be reached".into())
            }
            StoreError::Applied(t) => {
                tracing::error!("storage failed after the request was applied: {t}");
                Refusal::Internal
            }
            StoreError::Io(io) | StoreError::Dare(mesh_dare::DareError::Io(io)) => {
                tracing::error!("storage: {io}");
                Refusal::Unavailable("the service could not store the request".into())
            }
            other => {
                tracing::error!("storage: {other}");
                Refusal::Internal
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_texts() {
        assert_eq!(Refusal::Unreadable.status(), 400);
        assert_eq!(Refusal::Replayed.status(), 401);
        assert_eq!(
            Refusal::from(StoreError::Database("connection refused".into())).status(),
            503
        );
        // Internal detail stays in the log.
        let text = Refusal::from(StoreError::Database("password=secret".into())).text();
        assert!(!text.contains("secret"), "{text}");
        assert_eq!(Refusal::Internal.response().status().0, 500);
        // A disk that is full, met directly or inside a container's append: try again later.
        for e in [
            StoreError::Io(std::io::Error::from(std::io::ErrorKind::StorageFull)),
            StoreError::Dare(mesh_dare::DareError::Io(std::io::Error::from(
                std::io::ErrorKind::StorageFull,
            ))),
        ] {
            assert_eq!(Refusal::from(e).status(), 503);
        }
        // Once applied (or maybe applied), never the 503 that says nothing was.
        assert_eq!(
            Refusal::from(StoreError::Applied("journal left".into())).status(),
            500
        );
    }
}
