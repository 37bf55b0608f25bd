//! The PostgreSQL store: several stateless service processes can share one database (the
//! partitioning of protocol-09 §4.2 is by account). The schema is created and migrated on start.
//! A transaction locks the rows of the containers it touches (`SELECT … FOR UPDATE`), checks the
//! client's expectations, appends, and commits: all or nothing, and acknowledged only after
//! COMMIT. Each process keeps a small pool of connections (r2d2), so requests do not queue
//! behind one another's queries.

use mesh_dare::catalog::EVENT_DELETE;
use mesh_dare::envelope::sha512;
use mesh_dare::merkle::{self, MerkleFrontier};
use mesh_dare::DareEnvelope;
use postgres::NoTls;
use r2d2_postgres::PostgresConnectionManager;

use crate::store::*;

/// A stored envelope, if it reads and its payload is the one whose leaf was recorded.
fn entry_as_recorded(envelope: &[u8], leaf: &[u8]) -> Option<DareEnvelope> {
    let envelope = DareEnvelope::parse(envelope).ok()?;
    (merkle::leaf(&sha512(&envelope.payload)).as_slice() == leaf).then_some(envelope)
}

/// Migrations, applied in order; the number applied is kept in `mesh_schema_version`.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE mesh_accounts (
        address TEXT PRIMARY KEY,
        profile BYTEA NOT NULL,
        revoked TEXT[] NOT NULL DEFAULT '{}');
     CREATE TABLE mesh_containers (
        address TEXT NOT NULL REFERENCES mesh_accounts(address) ON DELETE CASCADE,
        name TEXT NOT NULL,
        last_index BIGINT NOT NULL,
        digest BYTEA,
        PRIMARY KEY (address, name));
     CREATE TABLE mesh_entries (
        address TEXT NOT NULL,
        name TEXT NOT NULL,
        idx BIGINT NOT NULL,
        unique_id TEXT,
        event TEXT,
        leaf BYTEA NOT NULL,
        envelope BYTEA NOT NULL,
        PRIMARY KEY (address, name, idx),
        FOREIGN KEY (address, name) REFERENCES mesh_containers(address, name) ON DELETE CASCADE);
     CREATE INDEX mesh_entries_unique_id ON mesh_entries (address, name, unique_id);",
    "CREATE TABLE mesh_service (id INT PRIMARY KEY, secrets BYTEA NOT NULL);",
    "CREATE TABLE mesh_ephemeral (kind TEXT NOT NULL, key TEXT NOT NULL, value BYTEA NOT NULL, expires BIGINT NOT NULL, PRIMARY KEY (kind, key));",
    // The peaks of each container's Merkle tree, so that a Transact extends the tree without
    // reading every leaf (NULL for rows written before: rebuilt from the leaves once).
    "ALTER TABLE mesh_containers ADD COLUMN peaks BYTEA;",
    // The outbox, shared by every process: an item is claimed by the process delivering it
    // until `claimed_until` (seconds since the epoch).
    "CREATE TABLE mesh_outbox (name TEXT PRIMARY KEY, item BYTEA NOT NULL, claimed_by TEXT, claimed_until BIGINT NOT NULL DEFAULT 0);",
    // When an item may be tried again (seconds since the epoch, by the database's clock).
    "ALTER TABLE mesh_outbox ADD COLUMN next_try BIGINT NOT NULL DEFAULT 0;",
    // What a container holds in octets (as container frames), each entry's running total, and
    // the last entry the account's devices fetched: what a spool holds unfetched is one lookup.
    // Entries written before count from here on.
    "ALTER TABLE mesh_containers ADD COLUMN octets BIGINT NOT NULL DEFAULT 0,
        ADD COLUMN fetched BIGINT NOT NULL DEFAULT 0;
     ALTER TABLE mesh_entries ADD COLUMN end_octets BIGINT;",
];

/// Connections one service process keeps open to the database (requests are handled on
/// several threads; each takes a connection for the time it runs).
pub const POOL_SIZE: u32 = 8;

type Pool = r2d2::Pool<PostgresConnectionManager<NoTls>>;

pub struct PgStore {
    pool: Pool,
}

fn db(e: postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(d) => StoreError::Database(format!("{}: {}", d.code().code(), d.message())),
        None => StoreError::Database(e.to_string()),
    }
}

impl PgStore {
    /// Connect and bring the schema up to date.
    pub fn connect(url: &str) -> StoreResult<Self> {
        let config: postgres::Config = url
            .parse()
            .map_err(|e: postgres::Error| StoreError::Database(format!("{url}: {e}")))?;
        // A broken connection (the server restarted, say) is replaced when next taken.
        let pool = r2d2::Pool::builder()
            .max_size(POOL_SIZE)
            .min_idle(Some(1))
            .test_on_check_out(true)
            .connection_timeout(std::time::Duration::from_secs(3))
            .build(PostgresConnectionManager::new(config, NoTls))
            .map_err(|e| StoreError::Database(e.to_string()))?;
        let mut client = pool
            .get()
            .map_err(|e| StoreError::Database(e.to_string()))?;
        let mut tx = client.transaction().map_err(db)?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS mesh_schema_version (version INT NOT NULL); LOCK TABLE mesh_schema_version;").map_err(db)?;
        let version: i32 = tx
            .query_opt("SELECT version FROM mesh_schema_version", &[])
            .map_err(db)?
            .map(|r| r.get(0))
            .unwrap_or(0);
        for (n, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            tx.batch_execute(migration).map_err(db)?;
            tx.execute("DELETE FROM mesh_schema_version", &[])
                .map_err(db)?;
            tx.execute(
                "INSERT INTO mesh_schema_version VALUES ($1)",
                &[&(n as i32 + 1)],
            )
            .map_err(db)?;
        }
        tx.commit().map_err(db)?;
        drop(client);
        Ok(PgStore { pool })
    }

    /// The service's sealed secrets, shared by every process on this database: the stored ones,
    /// or `create()`'s if there are none yet (the first process to commit wins).
    pub fn service_secrets(&self, create: impl FnOnce() -> Vec<u8>) -> StoreResult<Vec<u8>> {
        let mut c = self.client()?;
        if let Some(row) = c
            .query_opt("SELECT secrets FROM mesh_service WHERE id = 1", &[])
            .map_err(db)?
        {
            return Ok(row.get(0));
        }
        c.execute(
            "INSERT INTO mesh_service (id, secrets) VALUES (1, $1) ON CONFLICT DO NOTHING",
            &[&create()],
        )
        .map_err(db)?;
        let row = c
            .query_one("SELECT secrets FROM mesh_service WHERE id = 1", &[])
            .map_err(db)?;
        Ok(row.get(0))
    }

    /// Replace the service's sealed secrets `old` by `new`, unless another process changed
    /// them first (then false: read them again).
    pub fn replace_service_secrets(&self, old: &[u8], new: &[u8]) -> StoreResult<bool> {
        let changed = self
            .client()?
            .execute(
                "UPDATE mesh_service SET secrets = $2 WHERE id = 1 AND secrets = $1",
                &[&old, &new],
            )
            .map_err(db)?;
        Ok(changed == 1)
    }

    /// The outbox queue kept in this database, for this process.
    pub fn outbox_queue(&self) -> PgQueue {
        PgQueue {
            pool: self.pool.clone(),
            owner: mesh_udf::random::nonce(128).to_string(),
        }
    }

    fn client(&self) -> StoreResult<r2d2::PooledConnection<PostgresConnectionManager<NoTls>>> {
        self.pool
            .get()
            .map_err(|e| StoreError::Database(format!("no database connection: {e}")))
    }
}

fn state_row(
    tx: &mut postgres::Transaction<'_>,
    address: &str,
    name: &str,
    lock: bool,
) -> StoreResult<ContainerState> {
    let sql = if lock {
        "SELECT last_index, digest FROM mesh_containers WHERE address = $1 AND name = $2 FOR UPDATE"
    } else {
        "SELECT last_index, digest FROM mesh_containers WHERE address = $1 AND name = $2"
    };
    Ok(match tx.query_opt(sql, &[&address, &name]).map_err(db)? {
        Some(row) => ContainerState {
            index: row.get::<_, i64>(0) as u64,
            digest: row.get(1),
        },
        None => ContainerState {
            index: 0,
            digest: None,
        },
    })
}

/// The Merkle frontier of a container of `len` entries: from its row, or (rows written before
/// the peaks were kept) rebuilt from its leaves.
fn frontier(
    tx: &mut postgres::Transaction<'_>,
    address: &str,
    name: &str,
    len: u64,
) -> StoreResult<MerkleFrontier> {
    let peaks: Option<Vec<u8>> = tx
        .query_one(
            "SELECT peaks FROM mesh_containers WHERE address = $1 AND name = $2",
            &[&address, &name],
        )
        .map_err(db)?
        .get(0);
    if let Some(peaks) = peaks {
        return MerkleFrontier::from_bytes(len, &peaks)
            .ok_or_else(|| StoreError::Invalid(format!("damaged Merkle peaks for {name}")));
    }
    let mut tree = MerkleFrontier::new();
    for row in tx
        .query(
            "SELECT leaf FROM mesh_entries WHERE address = $1 AND name = $2 ORDER BY idx",
            &[&address, &name],
        )
        .map_err(db)?
    {
        let leaf: Vec<u8> = row.get(0);
        tree.push(
            leaf.try_into()
                .map_err(|_| StoreError::Invalid("stored leaf of the wrong size".into()))?,
        );
    }
    Ok(tree)
}

impl Store for PgStore {
    fn account(&self, address: &str) -> StoreResult<Option<AccountRecord>> {
        let mut c = self.client()?;
        let row = c
            .query_opt(
                "SELECT profile, revoked FROM mesh_accounts WHERE address = $1",
                &[&address],
            )
            .map_err(db)?;
        match row {
            None => Ok(None),
            Some(row) => Ok(Some(AccountRecord {
                address: address.to_string(),
                profile: DareEnvelope::parse(row.get::<_, &[u8]>(0))?,
                revoked: row.get(1),
            })),
        }
    }

    fn bind(&self, address: &str, profile: &DareEnvelope, revoked: &[String]) -> StoreResult<bool> {
        let mut c = self.client()?;
        let revoked: Vec<&str> = revoked.iter().map(String::as_str).collect();
        let n = c
            .execute("INSERT INTO mesh_accounts (address, profile, revoked) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", &[&address, &profile.to_json()?.into_bytes(), &revoked])
            .map_err(db)?;
        Ok(n == 1)
    }

    fn unbind(&self, address: &str) -> StoreResult<bool> {
        let mut c = self.client()?;
        let mut tx = c.transaction().map_err(db)?;
        tx.execute("DELETE FROM mesh_entries WHERE address = $1", &[&address])
            .map_err(db)?;
        tx.execute(
            "DELETE FROM mesh_containers WHERE address = $1",
            &[&address],
        )
        .map_err(db)?;
        let n = tx
            .execute("DELETE FROM mesh_accounts WHERE address = $1", &[&address])
            .map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(n == 1)
    }

    fn revoke(&self, address: &str, device_udf: &str) -> StoreResult<()> {
        let mut c = self.client()?;
        c.execute(
            "UPDATE mesh_accounts SET revoked = array_append(revoked, $2) WHERE address = $1 AND NOT ($2 = ANY(revoked))",
            &[&address, &device_udf],
        )
        .map_err(db)?;
        Ok(())
    }

    fn state(&self, address: &str, container: &str) -> StoreResult<ContainerState> {
        check_container_name(container)?;
        let mut c = self.client()?;
        let mut tx = c.transaction().map_err(db)?;
        let state = state_row(&mut tx, address, container, false)?;
        tx.commit().map_err(db)?;
        Ok(state)
    }

    fn read(
        &self,
        address: &str,
        container: &str,
        from: u64,
        max: u64,
    ) -> StoreResult<Vec<DareEnvelope>> {
        check_container_name(container)?;
        let mut c = self.client()?;
        let rows = c
            .query(
                "SELECT idx, leaf, envelope FROM mesh_entries WHERE address = $1 AND name = $2 AND idx >= $3 ORDER BY idx LIMIT $4",
                &[&address, &container, &(from.clamp(1, i64::MAX as u64) as i64), &(max.min(i64::MAX as u64) as i64)],
            )
            .map_err(db)?;
        rows.iter()
            .map(|r| {
                // Checked against the leaf recorded when it was written: never served damaged.
                entry_as_recorded(r.get::<_, &[u8]>(2), r.get::<_, &[u8]>(1)).ok_or_else(|| {
                    StoreError::Damaged(format!(
                        "{container}: entry {} does not match its digest",
                        r.get::<_, i64>(0)
                    ))
                })
            })
            .collect()
    }

    fn repair(
        &self,
        address: &str,
        container: &str,
        replacements: &[(u64, DareEnvelope)],
    ) -> StoreResult<Vec<u64>> {
        check_container_name(container)?;
        let mut c = self.client()?;
        // The leaf each entry was written with is the record: an entry whose envelope no
        // longer reads as it is damaged. Read a thousand rows at a time, without a lock.
        let mut damaged = Vec::new();
        let mut from: i64 = 0;
        loop {
            let rows = c
                .query(
                    "SELECT idx, leaf, envelope FROM mesh_entries WHERE address = $1 AND name = $2 AND idx > $3 ORDER BY idx LIMIT 1000",
                    &[&address, &container, &from],
                )
                .map_err(db)?;
            let Some(last) = rows.last() else { break };
            from = last.get(0);
            for r in &rows {
                if entry_as_recorded(r.get::<_, &[u8]>(2), r.get::<_, &[u8]>(1)).is_none() {
                    damaged.push(r.get::<_, i64>(0) as u64);
                }
            }
        }
        if replacements.is_empty() || damaged.is_empty() {
            return Ok(damaged);
        }
        let mut tx = c.transaction().map_err(db)?;
        let last = state_row(&mut tx, address, container, true)?.index;
        let given = replacements_for(container, last, &damaged, replacements)?;
        for (index, envelope) in given {
            let row = tx
                .query_one(
                    "SELECT leaf, unique_id, event FROM mesh_entries WHERE address = $1 AND name = $2 AND idx = $3",
                    &[&address, &container, &(index as i64)],
                )
                .map_err(db)?;
            let bytes = envelope.to_json()?.into_bytes();
            // Its payload the one whose leaf was recorded, and its UniqueId and event those
            // recorded beside it (the rest of a damaged row is not to be trusted): restored,
            // not changed.
            let meta = envelope.content_meta().unwrap_or_default();
            let restores = entry_as_recorded(&bytes, row.get::<_, &[u8]>(0)).is_some()
                && meta.unique_id == row.get::<_, Option<String>>(1)
                && meta.event == row.get::<_, Option<String>>(2);
            if !restores {
                tx.rollback().map_err(db)?;
                return Err(StoreError::Invalid(format!(
                    "the entry given for {container} at {index} is not the one the service \
                     recorded: not taken"
                )));
            }
            tx.execute(
                "UPDATE mesh_entries SET envelope = $4 WHERE address = $1 AND name = $2 AND idx = $3",
                &[&address, &container, &(index as i64), &bytes],
            )
            .map_err(db)?;
        }
        tx.commit()
            .map_err(|e| StoreError::Applied(format!("the commit's outcome is unknown: {e}")))?;
        tracing::warn!(
            "{address}: {container} repaired ({} entries put back)",
            damaged.len()
        );
        Ok(vec![])
    }

    fn mark_fetched(&self, address: &str, container: &str, index: u64) -> StoreResult<()> {
        check_container_name(container)?;
        // Forward only, in one statement: two fetches racing leave the later mark.
        self.client()?
            .execute(
                "UPDATE mesh_containers SET fetched = $3 WHERE address = $1 AND name = $2 AND fetched < $3",
                &[&address, &container, &(index.min(i64::MAX as u64) as i64)],
            )
            .map_err(db)?;
        Ok(())
    }

    fn unfetched_octets(&self, address: &str, container: &str) -> StoreResult<u64> {
        check_container_name(container)?;
        // The container's octets less the running total at the fetched entry (an entry
        // written before running totals were kept counts as none fetched).
        let row = self
            .client()?
            .query_opt(
                "SELECT c.octets - COALESCE((SELECT e.end_octets FROM mesh_entries e WHERE e.address = c.address AND e.name = c.name AND e.idx = c.fetched), 0) FROM mesh_containers c WHERE c.address = $1 AND c.name = $2",
                &[&address, &container],
            )
            .map_err(db)?;
        Ok(row.map_or(0, |r| r.get::<_, i64>(0).max(0) as u64))
    }

    fn transact_with_profile(
        &self,
        address: &str,
        updates: &[Update],
        profile: Option<ProfileSwap<'_>>,
    ) -> StoreResult<TransactOutcome> {
        let mut c = self.client()?;
        let mut tx = c.transaction().map_err(db)?;
        if let Some(swap) = profile {
            // The row locked until the transaction ends: a rotation racing this one waits, then
            // finds the profile replaced.
            let row = tx
                .query_opt(
                    "SELECT profile FROM mesh_accounts WHERE address = $1 FOR UPDATE",
                    &[&address],
                )
                .map_err(db)?;
            let stored = match row {
                Some(row) => DareEnvelope::parse(row.get::<_, &[u8]>(0))?,
                None => return Ok(ProfileSwap::conflict()),
            };
            if !swap.holds(&stored) {
                tx.rollback().map_err(db)?;
                return Ok(ProfileSwap::conflict());
            }
            tx.execute(
                "UPDATE mesh_accounts SET profile = $2 WHERE address = $1",
                &[&address, &swap.new.to_json()?.into_bytes()],
            )
            .map_err(db)?;
        }
        let mut assigned = Vec::new();
        for update in updates {
            check_container_name(&update.container)?;
            tx.execute(
                "INSERT INTO mesh_containers (address, name, last_index) VALUES ($1, $2, 0) ON CONFLICT DO NOTHING",
                &[&address, &update.container],
            )
            .map_err(db)?;
            let state = state_row(&mut tx, address, &update.container, true)?;
            if !update.expects(&state) {
                tx.rollback().map_err(db)?;
                return Ok(TransactOutcome::Conflict {
                    container: update.container.clone(),
                    state,
                });
            }
            // The Merkle tree over the container's entries, as the container files keep it:
            // its peaks, O(log n), from the row (locked by state_row).
            let mut tree = frontier(&mut tx, address, &update.container, state.index)?;
            let mut octets: i64 = tx
                .query_one(
                    "SELECT octets FROM mesh_containers WHERE address = $1 AND name = $2",
                    &[&address, &update.container],
                )
                .map_err(db)?
                .get(0);
            let mut index = state.index;
            let mut indexes = Vec::new();
            for env in &update.envelopes {
                index += 1;
                let leaf = merkle::leaf(&sha512(&env.payload));
                tree.push(leaf);
                octets = octets.saturating_add(mesh_dare::container::frame_len(env)? as i64);
                let meta = env.content_meta().unwrap_or_default();
                tx.execute(
                    "INSERT INTO mesh_entries (address, name, idx, unique_id, event, leaf, envelope, end_octets) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    &[&address, &update.container, &(index as i64), &meta.unique_id, &meta.event, &leaf.to_vec(), &env.to_json()?.into_bytes(), &octets],
                )
                .map_err(db)?;
                indexes.push(index);
            }
            let digest = tree.root().map(|d| d.to_vec());
            tx.execute(
                "UPDATE mesh_containers SET last_index = $3, digest = $4, peaks = $5, octets = $6 WHERE address = $1 AND name = $2",
                &[&address, &update.container, &(index as i64), &digest, &tree.to_bytes(), &octets],
            )
            .map_err(db)?;
            assigned.push(indexes);
        }
        // A commit that fails may have committed (the connection lost on the way): its outcome
        // is unknown, never "nothing was applied".
        tx.commit()
            .map_err(|e| StoreError::Applied(format!("the commit's outcome is unknown: {e}")))?;
        Ok(TransactOutcome::Applied(assigned))
    }

    fn put_ephemeral(
        &self,
        kind: &str,
        key: &str,
        value: &[u8],
        expires: u64,
        only_new: bool,
    ) -> StoreResult<bool> {
        let mut c = self.client()?;
        let now = unix_now() as i64;
        // Sweep expired rows now and then, not on every request.
        if rand::random::<u8>() == 0 {
            c.execute(
                "DELETE FROM mesh_ephemeral WHERE expires + 60 < $1",
                &[&now],
            )
            .map_err(db)?;
        }
        let n = if only_new {
            c.execute(
                "INSERT INTO mesh_ephemeral (kind, key, value, expires) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (kind, key) DO UPDATE SET value = EXCLUDED.value, expires = EXCLUDED.expires
                 WHERE mesh_ephemeral.expires <= $5",
                &[&kind, &key, &value, &(expires as i64), &now],
            )
        } else {
            c.execute(
                "INSERT INTO mesh_ephemeral (kind, key, value, expires) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (kind, key) DO UPDATE SET value = EXCLUDED.value, expires = EXCLUDED.expires",
                &[&kind, &key, &value, &(expires as i64)],
            )
        }
        .map_err(db)?;
        Ok(n == 1)
    }

    fn get_ephemeral(&self, kind: &str, key: &str) -> StoreResult<Option<(Vec<u8>, u64)>> {
        let mut c = self.client()?;
        let row = c
            .query_opt(
                "SELECT value, expires FROM mesh_ephemeral WHERE kind = $1 AND key = $2",
                &[&kind, &key],
            )
            .map_err(db)?;
        Ok(row.map(|r| (r.get::<_, Vec<u8>>(0), r.get::<_, i64>(1) as u64)))
    }

    fn find(
        &self,
        address: &str,
        container: &str,
        unique_id: &str,
    ) -> StoreResult<Option<DareEnvelope>> {
        let mut c = self.client()?;
        let row = c
            .query_opt(
                "SELECT envelope, event FROM mesh_entries WHERE address = $1 AND name = $2 AND unique_id = $3 ORDER BY idx DESC LIMIT 1",
                &[&address, &container, &unique_id],
            )
            .map_err(db)?;
        match row {
            Some(row) if row.get::<_, Option<String>>(1).as_deref() != Some(EVENT_DELETE) => {
                Ok(Some(DareEnvelope::parse(row.get::<_, &[u8]>(0))?))
            }
            _ => Ok(None),
        }
    }
}

/// The outbox in the database ([`crate::outbox::Queue`]): every process of the service sees
/// every item; `owner` names this process in its claims.
pub struct PgQueue {
    pool: Pool,
    owner: String,
}

impl PgQueue {
    fn client(&self) -> std::io::Result<r2d2::PooledConnection<PostgresConnectionManager<NoTls>>> {
        self.pool.get().map_err(std::io::Error::other)
    }
}

fn io(e: postgres::Error) -> std::io::Error {
    std::io::Error::other(e)
}

/// Now, by the database's clock (every process's claims are judged by the same one).
const NOW: &str = "EXTRACT(EPOCH FROM clock_timestamp())::BIGINT";

impl crate::outbox::Queue for PgQueue {
    fn put(&self, name: &str, item: &[u8]) -> std::io::Result<()> {
        self.client()?
            .execute(
                "INSERT INTO mesh_outbox (name, item) VALUES ($1, $2)
                 ON CONFLICT (name) DO UPDATE SET item = EXCLUDED.item",
                &[&name, &item],
            )
            .map_err(io)?;
        Ok(())
    }

    /// Those no other process holds and not waiting to be tried again, the longest waiting
    /// first (an unreachable service's items, put off, do not hide the others).
    fn names(&self) -> Vec<String> {
        self.client()
            .ok()
            .and_then(|mut c| {
                c.query(
                    &format!(
                        "SELECT name FROM mesh_outbox
                         WHERE (claimed_until < {NOW} OR claimed_by = $1) AND next_try <= {NOW}
                         ORDER BY next_try, name LIMIT 1000"
                    ),
                    &[&self.owner],
                )
                .inspect_err(|e| tracing::warn!("the outbox cannot be read: {e}"))
                .ok()
            })
            .map(|rows| rows.iter().map(|r| r.get(0)).collect())
            .unwrap_or_default()
    }

    fn claim(&self, name: &str, seconds: u64) -> Option<Vec<u8>> {
        self.client()
            .ok()?
            .query_opt(
                &format!(
                    "UPDATE mesh_outbox SET claimed_by = $2, claimed_until = {NOW} + $3
                     WHERE name = $1 AND (claimed_until < {NOW} OR claimed_by = $2)
                     RETURNING item"
                ),
                &[&name, &self.owner, &(seconds as i64)],
            )
            .inspect_err(|e| tracing::warn!("an outbox item cannot be claimed: {e}"))
            .ok()
            .flatten()
            .map(|row| row.get(0))
    }

    fn release(&self, name: &str, retry: std::time::Duration) {
        if let Ok(mut c) = self.client() {
            let _ = c.execute(
                &format!(
                    "UPDATE mesh_outbox SET claimed_until = 0, next_try = {NOW} + $3
                     WHERE name = $1 AND claimed_by = $2"
                ),
                &[&name, &self.owner, &(retry.as_secs() as i64)],
            );
        }
    }

    fn renew(&self, names: &[String], seconds: u64) {
        if let Ok(mut c) = self.client() {
            let renewed = c.execute(
                &format!(
                    "UPDATE mesh_outbox SET claimed_until = {NOW} + $3
                     WHERE name = ANY($1) AND claimed_by = $2"
                ),
                &[&names, &self.owner, &(seconds as i64)],
            );
            if let Err(e) = renewed {
                tracing::warn!("the outbox's claims cannot be renewed: {e}");
            }
        }
    }

    fn remove(&self, name: &str) -> std::io::Result<()> {
        self.client()?
            .execute("DELETE FROM mesh_outbox WHERE name = $1", &[&name])
            .map_err(io)?;
        Ok(())
    }

    fn split(&self, parent: &str, children: &[(String, Vec<u8>)]) -> std::io::Result<bool> {
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(io)?;
        let removed = tx
            .execute(
                "DELETE FROM mesh_outbox WHERE name = $1 AND claimed_by = $2",
                &[&parent, &self.owner],
            )
            .map_err(io)?;
        if removed == 0 {
            return Ok(false);
        }
        for (name, item) in children {
            tx.execute(
                "INSERT INTO mesh_outbox (name, item) VALUES ($1, $2)
                 ON CONFLICT (name) DO UPDATE SET item = EXCLUDED.item",
                &[name, item],
            )
            .map_err(io)?;
        }
        tx.commit().map_err(io)?;
        Ok(true)
    }
}
