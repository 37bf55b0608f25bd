//! The storage a service keeps (protocol-09 §4.2): the accounts bound to it, each with its
//! profile and its catalogs and spools as append-only containers. Two implementations: DARE
//! container files in a data directory ([`crate::files`]) and PostgreSQL ([`crate::pg`]).
//! Nothing is acknowledged before it is durable: every method returns after fsync or commit.

use mesh_dare::DareEnvelope;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Dare(#[from] mesh_dare::DareError),
    #[error("database: {0}")]
    Database(String),
    #[error("{0}")]
    Invalid(String),
    /// What the store holds does not match its own digests: reported, never served.
    #[error("{0}")]
    Damaged(String),
    /// A failure once the request was applied, or once it may have been (a commit whose outcome
    /// is unknown, a journal left to complete it): never "nothing was applied".
    #[error("after the request was applied: {0}")]
    Applied(String),
}

pub type StoreResult<T> = std::result::Result<T, StoreError>;

/// An account as the service keeps it.
#[derive(Debug, Clone)]
pub struct AccountRecord {
    pub address: String,
    /// The EnvelopedProfileAccount it was bound with.
    pub profile: DareEnvelope,
    /// Device UDFs whose requests are refused.
    pub revoked: Vec<String>,
}

impl AccountRecord {
    /// The account profile. Its signature was checked when the account was bound (and the
    /// store is the service's own), so on each request it is only read, its keys still checked
    /// against their UDFs.
    pub fn profile_user(&self) -> mesh_schema::Result<mesh_schema::profile::ProfileUser> {
        let item = mesh_schema::signed::read(&self.profile, &mesh_dare::KeyRing::new())?;
        let profile = mesh_schema::expect_item!(item, ProfileUser)?;
        profile.check()?;
        Ok(profile)
    }
}

/// A key rotation's profile change: `new` in place of `held`.
#[derive(Debug, Clone, Copy)]
pub struct ProfileSwap<'a> {
    pub new: &'a DareEnvelope,
    pub held: &'a DareEnvelope,
}

/// The name a Conflict gives the account profile (a rotation that lost a race).
pub const PROFILE: &str = "EnvelopedProfileAccount";

impl ProfileSwap<'_> {
    /// Is `stored` (the profile the store holds) the one this replaces?
    pub fn holds(&self, stored: &DareEnvelope) -> bool {
        stored.payload == self.held.payload
    }

    /// The Conflict of a swap whose profile was replaced meanwhile.
    pub fn conflict() -> TransactOutcome {
        TransactOutcome::Conflict {
            container: PROFILE.into(),
            state: ContainerState {
                index: 0,
                digest: None,
            },
        }
    }
}

/// What a client wants appended to one container, and the state it expects it in.
#[derive(Debug, Clone)]
pub struct Update {
    pub container: String,
    /// The container's last index the client saw (0: empty); `None` appends unconditionally
    /// (spools).
    pub expect_index: Option<u64>,
    pub expect_digest: Option<Vec<u8>>,
    pub envelopes: Vec<DareEnvelope>,
}

/// A container's last index and apex digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerState {
    pub index: u64,
    pub digest: Option<Vec<u8>>,
}

#[derive(Debug)]
pub enum TransactOutcome {
    /// Every update applied: the indexes assigned, per update.
    Applied(Vec<Vec<u64>>),
    /// Nothing applied: this container is not in the state the client expected.
    Conflict {
        container: String,
        state: ContainerState,
    },
}

impl Update {
    /// Entries appended to a container whatever its state (a spool).
    pub fn append(container: &str, envelopes: Vec<DareEnvelope>) -> Self {
        Update {
            container: container.to_string(),
            expect_index: None,
            expect_digest: None,
            envelopes,
        }
    }

    /// Is `state` what the client expected the container to be in?
    pub fn expects(&self, state: &ContainerState) -> bool {
        match self.expect_index {
            None => true,
            Some(index) => {
                index == state.index
                    && (self.expect_digest.is_none() || self.expect_digest == state.digest)
            }
        }
    }
}

/// Container names are letters, digits and `_`, like the Mesh's `MMM_Credential`.
pub fn check_container_name(name: &str) -> StoreResult<()> {
    if name.is_empty()
        || name.len() > 64
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(StoreError::Invalid(format!(
            "'{name}' is not a container name"
        )));
    }
    Ok(())
}

pub trait Store: Send + Sync {
    fn account(&self, address: &str) -> StoreResult<Option<AccountRecord>>;
    /// Bind an account, with the devices removed from it (refused from the first request on);
    /// false if the address is taken.
    fn bind(&self, address: &str, profile: &DareEnvelope, revoked: &[String]) -> StoreResult<bool>;
    /// Remove an account and everything it holds; false if there was none.
    fn unbind(&self, address: &str) -> StoreResult<bool>;
    fn revoke(&self, address: &str, device_udf: &str) -> StoreResult<()>;
    fn state(&self, address: &str, container: &str) -> StoreResult<ContainerState>;
    /// Entries `from..=to` (1-based) of a container.
    fn read(
        &self,
        address: &str,
        container: &str,
        from: u64,
        max: u64,
    ) -> StoreResult<Vec<DareEnvelope>>;
    /// Note that the account's devices have fetched `container` up to entry `index`. The mark
    /// only moves forward, and goes with the account (an address bound again starts afresh).
    fn mark_fetched(&self, address: &str, container: &str, index: u64) -> StoreResult<()>;
    /// Octets the entries of `container` after its mark take, as container frames (all of them
    /// if it has none): what an account has been sent and not yet fetched, for its inbound
    /// spool. Costs the same whatever the container's size.
    fn unfetched_octets(&self, address: &str, container: &str) -> StoreResult<u64>;
    /// Repair a container whose stored entries are damaged: with no `replacements`, the
    /// entries that do not agree with what was recorded of them (empty: the container is
    /// whole); with them (copies of every damaged entry, by index), the container with those
    /// put back, taken only if every entry not replaced still agrees with what it recorded —
    /// a damaged entry can be restored, not changed — and then the entries still damaged.
    fn repair(
        &self,
        address: &str,
        container: &str,
        replacements: &[(u64, DareEnvelope)],
    ) -> StoreResult<Vec<u64>>;
    /// Apply every update or none.
    fn transact(&self, address: &str, updates: &[Update]) -> StoreResult<TransactOutcome> {
        self.transact_with_profile(address, updates, None)
    }
    /// As [`Self::transact`], and replace the account's profile in the same step (a key
    /// rotation) if `profile` is given and the profile held is still the one it replaces
    /// (otherwise a Conflict on [`PROFILE`], nothing applied).
    fn transact_with_profile(
        &self,
        address: &str,
        updates: &[Update],
        profile: Option<ProfileSwap<'_>>,
    ) -> StoreResult<TransactOutcome>;
    /// Short-lived state shared by every process on the store (tickets, rendezvous channels):
    /// `value` under (`kind`, `key`) until `expires` (seconds since the epoch). With `only_new`
    /// nothing is written, and `false` returned, if a value that has not expired is there.
    fn put_ephemeral(
        &self,
        kind: &str,
        key: &str,
        value: &[u8],
        expires: u64,
        only_new: bool,
    ) -> StoreResult<bool>;
    /// The value under (`kind`, `key`) and its expiry (possibly past: callers decide).
    fn get_ephemeral(&self, kind: &str, key: &str) -> StoreResult<Option<(Vec<u8>, u64)>>;
    /// The entry of a container whose ContentMeta.UniqueId is `unique_id`, if any.
    fn find(
        &self,
        address: &str,
        container: &str,
        unique_id: &str,
    ) -> StoreResult<Option<DareEnvelope>>;
}

/// An entry as its writer made it: what a container adds when it frames it (sequence, digests)
/// taken out, so that the same entry framed by two containers compares equal.
fn as_written(env: &DareEnvelope) -> (mesh_dare::DareHeader, Option<mesh_dare::DareTrailer>) {
    let mut header = env.header.clone();
    header.sequence_info = None;
    header.payload_digest = None;
    header.chain_digest = None;
    header.tree_digest = None;
    header.digest_algorithm = None;
    let trailer = env.trailer.clone().map(|mut t| {
        t.payload_digest = None;
        t.chain_digest = None;
        t.tree_digest = None;
        t
    });
    let trailer = trailer.filter(|t| *t != mesh_dare::DareTrailer::default());
    (header, trailer)
}

/// Is `given` the entry `held` was written as, but for its payload? (A repair restores a
/// damaged payload or digest; the rest of the entry — its metadata, recipients, signatures —
/// must be the one recorded.)
pub fn same_entry_but_payload(held: &DareEnvelope, given: &DareEnvelope) -> bool {
    as_written(held) == as_written(given)
}

/// The replacements of a repair checked against the entries found damaged: each index once,
/// within the container, every damaged entry given; as a map from index.
pub fn replacements_for<'a>(
    container: &str,
    last: u64,
    damaged: &[u64],
    replacements: &'a [(u64, DareEnvelope)],
) -> StoreResult<std::collections::HashMap<u64, &'a DareEnvelope>> {
    let mut given = std::collections::HashMap::new();
    for (index, envelope) in replacements {
        if *index == 0 || *index > last {
            return Err(StoreError::Invalid(format!(
                "{container} has no entry {index} to repair (it has {last})"
            )));
        }
        if !damaged.contains(index) {
            return Err(StoreError::Invalid(format!(
                "entry {index} of {container} is not damaged: it is not replaced"
            )));
        }
        if given.insert(*index, envelope).is_some() {
            return Err(StoreError::Invalid(format!(
                "entry {index} of {container} is given twice"
            )));
        }
    }
    let missing: Vec<String> = damaged
        .iter()
        .filter(|i| !given.contains_key(i))
        .map(u64::to_string)
        .collect();
    if !missing.is_empty() {
        return Err(StoreError::Invalid(format!(
            "entries {} of {container} are damaged too: a repair gives them all",
            missing.join(", ")
        )));
    }
    Ok(given)
}

/// Seconds since the epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
