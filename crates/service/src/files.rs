//! The embedded store: each account a directory of DARE containers under the data directory.
//!
//! ```text
//! DATA/accounts/ADDRESS/profile.dare      the EnvelopedProfileAccount
//! DATA/accounts/ADDRESS/revoked.json      revoked device UDFs
//! DATA/accounts/ADDRESS/CONTAINER.dare    catalogs and spools (Merkle containers)
//! DATA/accounts/ADDRESS/journal.json      a transaction being applied
//! ```
//!
//! A transaction over several containers is made atomic by a journal: the updates are written
//! and fsynced to `journal.json` before any container is touched, and removed after all are
//! applied; an account whose journal survived a crash has it replayed (each container completed
//! to the length the journal says) before anything else reads it. A transaction on a single
//! container needs no journal: an append is atomic by itself (a cut-short frame is dropped on
//! open).
//!
//! Containers stay open between requests (their index is built once, not on every request).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use mesh_dare::catalog::EVENT_DELETE;
use mesh_dare::{Container, ContainerType, DareEnvelope, Mode};
use serde::{Deserialize, Serialize};

use crate::store::*;

/// Containers kept open, by path.
type Open = HashMap<PathBuf, Container>;

/// Most containers kept open at once (each holds a file descriptor).
const MAX_OPEN: usize = 512;

pub struct FileStore {
    root: PathBuf,
    /// Serializes every operation, and holds the open containers.
    open: Mutex<Open>,
    /// Tickets, channels, nonces: one process serves a data directory, so memory is enough,
    /// but for the nonces, which are logged (a restart must not forget them).
    ephemeral: Mutex<crate::ephemeral::Ephemeral>,
}

#[derive(Serialize, Deserialize)]
struct Journal {
    /// (container, index of its last entry before the transaction, entries to append)
    updates: Vec<(String, u64, Vec<DareEnvelope>)>,
    /// The account's new profile (a key rotation), written once the updates are.
    #[serde(default)]
    profile: Option<DareEnvelope>,
}

fn write_atomic(path: &std::path::Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

impl FileStore {
    pub fn open(root: impl Into<PathBuf>) -> StoreResult<Self> {
        let root = root.into();
        std::fs::create_dir_all(root.join("accounts"))?;
        let ephemeral = crate::ephemeral::Ephemeral::logged(&root)?;
        Ok(FileStore {
            root,
            open: Mutex::new(HashMap::new()),
            ephemeral: Mutex::new(ephemeral),
        })
    }

    fn dir(&self, address: &str) -> StoreResult<PathBuf> {
        if address.is_empty() || address.contains(['/', '\\']) || address.starts_with('.') {
            return Err(StoreError::Invalid(format!(
                "'{address}' is not an account address"
            )));
        }
        Ok(self
            .root
            .join("accounts")
            .join(address.to_ascii_lowercase()))
    }

    fn container_path(&self, address: &str, container: &str) -> StoreResult<PathBuf> {
        check_container_name(container)?;
        Ok(self.dir(address)?.join(format!("{container}.dare")))
    }

    /// The container, from the open ones or opened now; created if `create`, else `None` when
    /// it does not exist.
    fn container<'m>(
        &self,
        open: &'m mut Open,
        address: &str,
        container: &str,
        create: bool,
    ) -> StoreResult<Option<&'m mut Container>> {
        let path = self.container_path(address, container)?;
        if !open.contains_key(&path) {
            let c = if path.exists() {
                Container::open(&path, Mode::Write)?
            } else if create {
                Container::create(&path, ContainerType::Merkle, &[])?
            } else {
                return Ok(None);
            };
            if open.len() >= MAX_OPEN {
                open.clear();
            }
            open.insert(path.clone(), c);
        }
        Ok(open.get_mut(&path))
    }

    fn state_of(c: Option<&mut Container>) -> ContainerState {
        match c {
            None => ContainerState {
                index: 0,
                digest: None,
            },
            Some(c) => ContainerState {
                index: c.frame_count() - 1,
                digest: c.tree_digest().map(|d| d.to_vec()),
            },
        }
    }

    /// Forget the open containers of an account whose directory goes away.
    fn close_account(open: &mut Open, dir: &Path) {
        open.retain(|path, _| !path.starts_with(dir));
    }

    /// Finish a transaction a crash interrupted.
    fn recover(&self, open: &mut Open, address: &str) -> StoreResult<()> {
        let path = self.dir(address)?.join("journal.json");
        let Ok(bytes) = std::fs::read(&path) else {
            return Ok(());
        };
        if let Ok(journal) = serde_json::from_slice::<Journal>(&bytes) {
            for (container, before, envelopes) in journal.updates {
                let c = self
                    .container(open, address, &container, true)?
                    .expect("created");
                let have = (c.frame_count() - 1).saturating_sub(before) as usize;
                if have < envelopes.len() {
                    c.append_envelopes(envelopes[have..].to_vec())?;
                }
            }
            if let Some(profile) = journal.profile {
                write_atomic(
                    &self.dir(address)?.join("profile.dare"),
                    profile.to_json()?.as_bytes(),
                )?;
            }
        }
        // A journal that does not parse was cut short before it was complete: nothing was
        // applied from it.
        std::fs::remove_file(&path)?;
        Ok(())
    }
}

impl Store for FileStore {
    fn account(&self, address: &str) -> StoreResult<Option<AccountRecord>> {
        let mut open = self.open.lock().expect("store lock");
        let dir = self.dir(address)?;
        if !dir.join("profile.dare").exists() {
            return Ok(None);
        }
        // An interrupted transaction first: it may change the profile too.
        self.recover(&mut open, address)?;
        let Ok(bytes) = std::fs::read(dir.join("profile.dare")) else {
            return Ok(None);
        };
        let revoked = std::fs::read(dir.join("revoked.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Ok(Some(AccountRecord {
            address: address.to_ascii_lowercase(),
            profile: DareEnvelope::parse(&bytes)?,
            revoked,
        }))
    }

    fn bind(&self, address: &str, profile: &DareEnvelope, revoked: &[String]) -> StoreResult<bool> {
        let mut open = self.open.lock().expect("store lock");
        let dir = self.dir(address)?;
        if dir.join("profile.dare").exists() {
            return Ok(false);
        }
        if dir.exists() {
            Self::close_account(&mut open, &dir);
            std::fs::remove_dir_all(&dir)?; // a bind that never finished
        }
        std::fs::create_dir_all(&dir)?;
        // The removals before the profile: the profile's presence is the account's.
        write_atomic(
            &dir.join("revoked.json"),
            &serde_json::to_vec(revoked).map_err(|e| StoreError::Invalid(e.to_string()))?,
        )?;
        write_atomic(&dir.join("profile.dare"), profile.to_json()?.as_bytes())?;
        Ok(true)
    }

    fn unbind(&self, address: &str) -> StoreResult<bool> {
        let mut open = self.open.lock().expect("store lock");
        let dir = self.dir(address)?;
        if !dir.join("profile.dare").exists() {
            return Ok(false);
        }
        // Remove the profile first (durably): from then on the account is gone.
        std::fs::remove_file(dir.join("profile.dare"))?;
        std::fs::File::open(&dir)?.sync_all()?;
        Self::close_account(&mut open, &dir);
        std::fs::remove_dir_all(&dir)?;
        Ok(true)
    }

    fn revoke(&self, address: &str, device_udf: &str) -> StoreResult<()> {
        let _serialized = self.open.lock().expect("store lock");
        let path = self.dir(address)?.join("revoked.json");
        let mut revoked: Vec<String> = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        if !revoked.iter().any(|r| r == device_udf) {
            revoked.push(device_udf.to_string());
        }
        write_atomic(
            &path,
            &serde_json::to_vec(&revoked).map_err(|e| StoreError::Invalid(e.to_string()))?,
        )?;
        Ok(())
    }

    fn state(&self, address: &str, container: &str) -> StoreResult<ContainerState> {
        let mut open = self.open.lock().expect("store lock");
        Ok(Self::state_of(
            self.container(&mut open, address, container, false)?,
        ))
    }

    fn read(
        &self,
        address: &str,
        container: &str,
        from: u64,
        max: u64,
    ) -> StoreResult<Vec<DareEnvelope>> {
        let mut open = self.open.lock().expect("store lock");
        let Some(c) = self.container(&mut open, address, container, false)? else {
            return Ok(vec![]);
        };
        let last = c.frame_count() - 1;
        let from = from.max(1);
        let to = last.min(from.saturating_add(max).saturating_sub(1));
        (from..=to)
            .filter(|_| from <= last)
            .map(|i| Ok(c.read(i)?))
            .collect()
    }

    fn transact_with_profile(
        &self,
        address: &str,
        updates: &[Update],
        profile: Option<ProfileSwap<'_>>,
    ) -> StoreResult<TransactOutcome> {
        let mut open = self.open.lock().expect("store lock");
        let dir = self.dir(address)?;
        // Check every expectation before touching anything.
        if let Some(swap) = profile {
            let stored = DareEnvelope::parse(&std::fs::read(dir.join("profile.dare"))?)?;
            if !swap.holds(&stored) {
                return Ok(ProfileSwap::conflict());
            }
        }
        let profile = profile.map(|swap| swap.new);
        let mut journal = Journal {
            updates: vec![],
            profile: profile.cloned(),
        };
        for update in updates {
            let state =
                Self::state_of(self.container(&mut open, address, &update.container, false)?);
            if !update.expects(&state) {
                return Ok(TransactOutcome::Conflict {
                    container: update.container.clone(),
                    state,
                });
            }
            journal.updates.push((
                update.container.clone(),
                state.index,
                update.envelopes.clone(),
            ));
        }
        // Several containers (or a container and the profile): journal first, so that a crash
        // applies all or (on recovery) all.
        let journal_path = dir.join("journal.json");
        let journaled = updates.len() > 1 || profile.is_some();
        if journaled {
            write_atomic(
                &journal_path,
                &serde_json::to_vec(&journal).map_err(|e| StoreError::Invalid(e.to_string()))?,
            )?;
        }
        let mut assigned = Vec::new();
        for update in updates {
            let c = self
                .container(&mut open, address, &update.container, true)?
                .expect("created");
            assigned.push(c.append_envelopes(update.envelopes.clone())?);
        }
        if let Some(profile) = profile {
            write_atomic(&dir.join("profile.dare"), profile.to_json()?.as_bytes())?;
        }
        if journaled {
            std::fs::remove_file(&journal_path)?;
        }
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
        self.ephemeral
            .lock()
            .expect("ephemeral")
            .put(kind, key, value, expires, only_new)
    }

    fn get_ephemeral(&self, kind: &str, key: &str) -> StoreResult<Option<(Vec<u8>, u64)>> {
        Ok(self.ephemeral.lock().expect("ephemeral").get(kind, key))
    }

    fn find(
        &self,
        address: &str,
        container: &str,
        unique_id: &str,
    ) -> StoreResult<Option<DareEnvelope>> {
        let mut open = self.open.lock().expect("store lock");
        let Some(c) = self.container(&mut open, address, container, false)? else {
            return Ok(None);
        };
        let mut found = None;
        for i in 1..c.frame_count() {
            let env = c.read(i)?;
            let meta = env.content_meta().unwrap_or_default();
            if meta.unique_id.as_deref() == Some(unique_id) {
                found = (meta.event.as_deref() != Some(EVENT_DELETE)).then_some(env);
            }
        }
        Ok(found)
    }
}
