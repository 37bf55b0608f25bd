//! How many public-key operations this process has done, by kind: what `mesh bench service`
//! prices at OpenSSL's speed to tell how much of a request's CPU is the public-key work it must
//! do and how much is everything else. A relaxed atomic add per operation (tens of
//! nanoseconds, against operations of tens to hundreds of microseconds).

use std::sync::atomic::{AtomicU64, Ordering};

/// The kinds counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Ed448Sign,
    Ed448Verify,
    Ed25519Sign,
    Ed25519Verify,
    X448Agree,
    X25519Agree,
    /// A share's contribution to a threshold key agreement: a ladder and a point recovery,
    /// priced as one X448 agreement.
    X448Contribution,
    /// An X448 public key made from its private key (an ephemeral key for each envelope
    /// encrypted): a multiplication of the base point, priced as one X448 agreement.
    X448KeyGen,
}

impl Operation {
    pub const ALL: [Operation; 8] = [
        Operation::Ed448Sign,
        Operation::Ed448Verify,
        Operation::Ed25519Sign,
        Operation::Ed25519Verify,
        Operation::X448Agree,
        Operation::X25519Agree,
        Operation::X448Contribution,
        Operation::X448KeyGen,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Operation::Ed448Sign => "Ed448Sign",
            Operation::Ed448Verify => "Ed448Verify",
            Operation::Ed25519Sign => "Ed25519Sign",
            Operation::Ed25519Verify => "Ed25519Verify",
            Operation::X448Agree => "X448Agree",
            Operation::X25519Agree => "X25519Agree",
            Operation::X448Contribution => "X448Contribution",
            Operation::X448KeyGen => "X448KeyGen",
        }
    }
}

static COUNTS: [AtomicU64; Operation::ALL.len()] =
    [const { AtomicU64::new(0) }; Operation::ALL.len()];

pub(crate) fn count(op: Operation) {
    COUNTS[op as usize].fetch_add(1, Ordering::Relaxed);
}

/// The counts so far, by kind.
pub fn snapshot() -> Vec<(Operation, u64)> {
    Operation::ALL
        .iter()
        .map(|op| (*op, COUNTS[*op as usize].load(Ordering::Relaxed)))
        .collect()
}
