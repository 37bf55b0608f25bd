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
//! Each account has its own lock: what one account does (its size, its traffic, an anonymous
//! lookup in its spools) waits for nothing of another's. Containers stay open between requests
//! (their frame index is built once, not on every request), and the containers looked up by
//! UniqueId by anonymous transactions (Complete, Claim, PollClaim) also keep an index of their
//! live UniqueIds, so a lookup is one read whatever the spool's size.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use mesh_dare::catalog::change_of;
use mesh_dare::schema::DareHeader;
use mesh_dare::{Container, ContainerType, DareEnvelope, Mode};
use serde::{Deserialize, Serialize};

use crate::store::*;

/// Accounts whose containers are kept open at most (each open container holds a file
/// descriptor); beyond it, accounts not in use are closed.
const MAX_OPEN_ACCOUNTS: usize = 48;

/// A container kept open, and for a container that is looked up by UniqueId, the index of its
/// live UniqueIds (a deletion marker removes one).
struct Indexed {
    container: Container,
    ids: Option<HashMap<String, u64>>,
}

fn note(ids: &mut Option<HashMap<String, u64>>, index: u64, header: &DareHeader) {
    if let (Some(ids), Some((id, deleted))) = (ids.as_mut(), change_of(header)) {
        if deleted {
            ids.remove(&id);
        } else {
            ids.insert(id, index);
        }
    }
}

/// A container file with no complete header frame (left by a creation that failed — a full
/// disk — before creation was atomic) holds nothing: it is moved aside, and the container is
/// then as if it did not exist. True if it was.
fn set_aside_if_empty(path: &Path) -> StoreResult<bool> {
    let len = std::fs::metadata(path)?.len();
    let shell = len == 0
        || matches!(
            Container::open(path, Mode::Read),
            Err(mesh_dare::DareError::Container { ref reason, .. })
                if reason.starts_with("no container header frame")
        );
    if shell {
        let mut aside = path.as_os_str().to_owned();
        aside.push(format!(".empty-{}", unix_now()));
        std::fs::rename(path, PathBuf::from(aside))?;
        tracing::warn!("{}: no header frame; set aside", path.display());
    }
    Ok(shell)
}

/// A container that cannot be opened, or that does not match its own digests.
fn damaged(container: &str, e: StoreError) -> StoreError {
    match e {
        StoreError::Io(e) => StoreError::Io(e),
        other => StoreError::Damaged(format!("{container}: {other}")),
    }
}

/// An entry read back, checked against the PayloadDigest its trailer (or header) records.
fn sound(container: &str, index: u64, env: DareEnvelope) -> StoreResult<DareEnvelope> {
    let claims = env
        .trailer
        .as_ref()
        .and_then(|t| t.payload_digest.as_ref())
        .into_iter()
        .chain(env.header.payload_digest.as_ref());
    for claimed in claims {
        if mesh_dare::envelope::sha512(&env.payload).as_slice() != claimed.as_slice() {
            return Err(StoreError::Damaged(format!(
                "{container}: entry {index} does not match its digest"
            )));
        }
    }
    Ok(env)
}

/// The entries of a container that do not agree with what was recorded of them: one that cannot
/// be read, a payload that does not match its PayloadDigest, a TreeDigest that is not the tree
/// of the payload digests up to it. Where a payload and its digest disagree, the entry's own
/// TreeDigest says which of the two the tree was made with, so that one damaged octet marks
/// one entry, not every entry after it.
fn damaged_entries(container: &Container) -> Vec<u64> {
    use mesh_dare::merkle::{leaf, MerkleFrontier};
    let mut tree = MerkleFrontier::new();
    let mut damaged = Vec::new();
    for index in 1..container.frame_count() {
        let read = container.read(index).ok().and_then(|env| {
            let trailer = env.trailer?;
            let recorded = trailer.payload_digest?;
            let actual = mesh_dare::envelope::sha512(&env.payload).to_vec();
            let header_agrees = env
                .header
                .payload_digest
                .as_ref()
                .is_none_or(|h| *h == recorded);
            Some((recorded, actual, header_agrees, trailer.tree_digest))
        });
        let Some((recorded, actual, header_agrees, tree_digest)) = read else {
            damaged.push(index);
            tree.push([0; 64]);
            continue;
        };
        let root_with = |digest: &[u8]| {
            let mut t = tree.clone();
            t.push(leaf(digest));
            t
        };
        let with_recorded = root_with(&recorded);
        let agrees =
            |t: &MerkleFrontier| tree_digest.as_deref() == t.root().as_ref().map(|r| &r[..]);
        if recorded == actual && header_agrees && agrees(&with_recorded) {
            tree = with_recorded;
            continue;
        }
        damaged.push(index);
        let with_actual = root_with(&actual);
        tree = if recorded != actual && agrees(&with_actual) {
            with_actual
        } else {
            with_recorded
        };
    }
    damaged
}

impl Indexed {
    fn open(path: &Path, looked_up: bool) -> StoreResult<Self> {
        let mut ids = looked_up.then(HashMap::new);
        let container = Container::open_with(path, Mode::Write, |i, h| note(&mut ids, i, h))?;
        // The apex the last trailer records must be the one its entries' digests make: a
        // damaged trailer is found here, not by the devices that sync.
        let last = container.frame_count() - 1;
        if last > 0 {
            let recorded = container.read(last)?.trailer.and_then(|t| t.tree_digest);
            if recorded != container.tree_digest().map(|d| d.to_vec()) {
                return Err(StoreError::Damaged(format!(
                    "the tree digest of entry {last} is not the one its entries make"
                )));
            }
        }
        Ok(Indexed { container, ids })
    }

    /// Entry `index`, checked.
    fn read(&self, name: &str, index: u64) -> StoreResult<DareEnvelope> {
        sound(name, index, self.container.read(index)?)
    }

    fn append(&mut self, envelopes: Vec<DareEnvelope>) -> StoreResult<Vec<u64>> {
        let headers: Vec<DareHeader> = envelopes.iter().map(|e| e.header.clone()).collect();
        let indexes = self.container.append_envelopes(envelopes)?;
        for (index, header) in indexes.iter().zip(&headers) {
            note(&mut self.ids, *index, header);
        }
        Ok(indexes)
    }

    fn state(&self) -> ContainerState {
        ContainerState {
            index: self.container.frame_count() - 1,
            digest: self.container.tree_digest().map(|d| d.to_vec()),
        }
    }
}

/// One account's open containers, by name, and the fetched marks read.
#[derive(Default)]
struct AccountFiles {
    open: HashMap<String, Indexed>,
    fetched: HashMap<String, u64>,
}

impl AccountFiles {
    /// Forget what is held of an account whose files go (unbound, or bound afresh).
    fn forget(&mut self) {
        self.open.clear();
        self.fetched.clear();
    }
}

pub struct FileStore {
    root: PathBuf,
    /// Each account's lock and open containers.
    accounts: Mutex<HashMap<String, Arc<Mutex<AccountFiles>>>>,
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

/// Replace `path` with `data` whole: written and fsynced under a temporary name, then renamed.
/// A failure (a full disk) leaves the file as it was and no temporary file behind.
fn write_atomic(path: &std::path::Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
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
            accounts: Mutex::new(HashMap::new()),
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

    /// The lock of an account (and its open containers); the map is held only to find it.
    fn account_files(&self, address: &str) -> StoreResult<Arc<Mutex<AccountFiles>>> {
        self.dir(address)?;
        let mut accounts = self.accounts.lock().expect("accounts");
        if accounts.len() >= MAX_OPEN_ACCOUNTS {
            // Close the accounts no request is using.
            accounts.retain(|_, files| Arc::strong_count(files) > 1);
        }
        Ok(accounts
            .entry(address.to_ascii_lowercase())
            .or_default()
            .clone())
    }

    /// The container, from the open ones or opened now; created if `create`, else `None` when
    /// it does not exist.
    fn container<'m>(
        &self,
        files: &'m mut AccountFiles,
        address: &str,
        container: &str,
        create: bool,
    ) -> StoreResult<Option<&'m mut Indexed>> {
        check_container_name(container)?;
        let path = self.dir(address)?.join(format!("{container}.dare"));
        if !files.open.contains_key(container) {
            let looked_up = [
                crate::host::LOCAL,
                crate::host::PUBLISHED,
                crate::host::CLAIMS,
            ]
            .iter()
            .any(|n| n.eq_ignore_ascii_case(container));
            let indexed = if path.exists() && !set_aside_if_empty(&path)? {
                Indexed::open(&path, looked_up).map_err(|e| damaged(container, e))?
            } else if create {
                Indexed {
                    container: Container::create(&path, ContainerType::Merkle, &[])?,
                    ids: looked_up.then(HashMap::new),
                }
            } else {
                return Ok(None);
            };
            files.open.insert(container.to_string(), indexed);
        }
        Ok(files.open.get_mut(container))
    }

    fn state_of(c: Option<&mut Indexed>) -> ContainerState {
        match c {
            None => ContainerState {
                index: 0,
                digest: None,
            },
            Some(c) => c.state(),
        }
    }

    /// Put containers back to the lengths they had (`before`), closing them: what was appended
    /// after is cut off, and they are opened again from disk on their next use.
    fn roll_back(
        &self,
        files: &mut AccountFiles,
        address: &str,
        before: &[(String, u64)],
    ) -> StoreResult<()> {
        for (container, len) in before {
            files.open.remove(container);
            let path = self.dir(address)?.join(format!("{container}.dare"));
            let file = std::fs::OpenOptions::new().write(true).open(&path)?;
            file.set_len(*len)?;
            file.sync_all()?;
        }
        Ok(())
    }

    /// Where the fetched mark of a container is kept: `CONTAINER.fetched`, the last index.
    fn fetched_path(&self, address: &str, container: &str) -> StoreResult<PathBuf> {
        check_container_name(container)?;
        Ok(self.dir(address)?.join(format!("{container}.fetched")))
    }

    /// The fetched mark of a container (0: none).
    fn fetched(
        &self,
        files: &mut AccountFiles,
        address: &str,
        container: &str,
    ) -> StoreResult<u64> {
        if let Some(mark) = files.fetched.get(container) {
            return Ok(*mark);
        }
        let mark = match std::fs::read_to_string(self.fetched_path(address, container)?) {
            Ok(text) => text.trim().parse().unwrap_or(0),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e.into()),
        };
        files.fetched.insert(container.to_string(), mark);
        Ok(mark)
    }

    /// Finish a transaction a crash interrupted.
    fn recover(&self, files: &mut AccountFiles, address: &str) -> StoreResult<()> {
        let path = self.dir(address)?.join("journal.json");
        let Ok(bytes) = std::fs::read(&path) else {
            return Ok(());
        };
        if let Ok(journal) = serde_json::from_slice::<Journal>(&bytes) {
            for (container, before, envelopes) in journal.updates {
                let c = self
                    .container(files, address, &container, true)?
                    .expect("created");
                let have = (c.container.frame_count() - 1).saturating_sub(before) as usize;
                if have < envelopes.len() {
                    c.append(envelopes[have..].to_vec())?;
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

/// Lock an account's files for the rest of the scope: `locked!(self, address, files);`.
macro_rules! locked {
    ($store:expr, $address:expr, $files:ident) => {
        let lock = $store.account_files($address)?;
        // A request that panicked holding the lock leaves the open containers in doubt: they
        // are opened again from disk, and the account carries on.
        let mut guard = lock.lock().unwrap_or_else(|poisoned| {
            let mut guard = poisoned.into_inner();
            guard.forget();
            lock.clear_poison();
            guard
        });
        let $files: &mut AccountFiles = &mut guard;
    };
}

impl Store for FileStore {
    fn account(&self, address: &str) -> StoreResult<Option<AccountRecord>> {
        locked!(self, address, files);
        let dir = self.dir(address)?;
        if !dir.join("profile.dare").exists() {
            return Ok(None);
        }
        // An interrupted transaction first: it may change the profile too.
        self.recover(files, address)?;
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
        locked!(self, address, files);
        let dir = self.dir(address)?;
        if dir.join("profile.dare").exists() {
            return Ok(false);
        }
        if dir.exists() {
            files.forget();
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
        locked!(self, address, files);
        let dir = self.dir(address)?;
        if !dir.join("profile.dare").exists() {
            return Ok(false);
        }
        // Remove the profile first (durably): from then on the account is gone.
        std::fs::remove_file(dir.join("profile.dare"))?;
        std::fs::File::open(&dir)?.sync_all()?;
        files.forget();
        std::fs::remove_dir_all(&dir)?;
        Ok(true)
    }

    fn revoke(&self, address: &str, device_udf: &str) -> StoreResult<()> {
        locked!(self, address, _files);
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
        locked!(self, address, files);
        Ok(Self::state_of(
            self.container(files, address, container, false)?,
        ))
    }

    fn read(
        &self,
        address: &str,
        container: &str,
        from: u64,
        max: u64,
    ) -> StoreResult<Vec<DareEnvelope>> {
        locked!(self, address, files);
        let Some(c) = self.container(files, address, container, false)? else {
            return Ok(vec![]);
        };
        let last = c.container.frame_count() - 1;
        let from = from.max(1);
        let to = last.min(from.saturating_add(max).saturating_sub(1));
        (from..=to)
            .filter(|_| from <= last)
            .map(|i| c.read(container, i))
            .collect()
    }

    fn mark_fetched(&self, address: &str, container: &str, index: u64) -> StoreResult<()> {
        locked!(self, address, files);
        if self.fetched(files, address, container)? >= index {
            return Ok(());
        }
        write_atomic(
            &self.fetched_path(address, container)?,
            index.to_string().as_bytes(),
        )?;
        files.fetched.insert(container.to_string(), index);
        Ok(())
    }

    fn unfetched_octets(&self, address: &str, container: &str) -> StoreResult<u64> {
        locked!(self, address, files);
        let mark = self.fetched(files, address, container)?;
        let Some(c) = self.container(files, address, container, false)? else {
            return Ok(0);
        };
        let first = usize::try_from(mark.saturating_add(1)).unwrap_or(usize::MAX);
        Ok(match c.container.frames().get(first) {
            Some(frame) => c.container.byte_len() - frame.position,
            None => 0,
        })
    }

    fn repair(
        &self,
        address: &str,
        container: &str,
        replacements: &[(u64, DareEnvelope)],
    ) -> StoreResult<Vec<u64>> {
        locked!(self, address, files);
        check_container_name(container)?;
        let path = self.dir(address)?.join(format!("{container}.dare"));
        if !path.exists() {
            return Ok(vec![]);
        }
        let unreadable = |e: mesh_dare::DareError| {
            StoreError::Damaged(format!(
                "{container}: {e}; it cannot be read to be repaired"
            ))
        };
        let held = Container::open(&path, Mode::Read).map_err(unreadable)?;
        let damaged = damaged_entries(&held);
        if replacements.is_empty() || damaged.is_empty() {
            return Ok(damaged);
        }
        let last = held.frame_count() - 1;
        let given = replacements_for(container, last, &damaged, replacements)?;
        // The container made again under another name, the entries given in place of the
        // damaged ones, a thousand at a time.
        let mut aside = path.as_os_str().to_owned();
        aside.push(".repair");
        let aside = PathBuf::from(aside);
        let _ = std::fs::remove_file(&aside);
        let made = (|| -> StoreResult<()> {
            let mut made = Container::create(&aside, ContainerType::Merkle, &[])?;
            let mut index = 1;
            while index <= last {
                let to = last.min(index + 999);
                let page = (index..=to)
                    .map(|i| match given.get(&i) {
                        Some(env) => Ok((*env).clone()),
                        None => Ok(held.read(i)?),
                    })
                    .collect::<StoreResult<Vec<_>>>()?;
                made.append_envelopes(page)?;
                index = to + 1;
            }
            // Every entry not replaced keeps the tree digest it recorded, so the entries given
            // are those the tree was made of. An entry given is the one held but for what was
            // damaged (its metadata and signatures the recorded ones), and where the trailer
            // held agrees with the entries before it, its payload is the one that trailer
            // records: so even a damaged run at the end is restored, not changed. (Only an
            // entry whose own trailer is damaged too, with nothing after it that records it,
            // rests on the administrator's word.)
            let mut before = mesh_dare::merkle::MerkleFrontier::new();
            for i in 1..=last {
                let now = made.read(i)?;
                let now_digest = now.trailer.as_ref().and_then(|t| t.tree_digest.clone());
                let held_entry = held.read(i).ok();
                let recorded = held_entry
                    .as_ref()
                    .and_then(|e| e.trailer.as_ref())
                    .map(|t| (t.payload_digest.clone(), t.tree_digest.clone()));
                let refused = |why: String| {
                    StoreError::Invalid(format!(
                        "the entries given for {container} are not the ones the service \
                         recorded ({why}): not taken"
                    ))
                };
                match given.get(&i) {
                    None => {
                        if recorded.and_then(|(_, t)| t) != now_digest {
                            return Err(refused(format!("at entry {i}")));
                        }
                    }
                    Some(entry) => {
                        let held_entry = held_entry.ok_or_else(|| {
                            refused(format!("entry {i} held cannot be read to compare"))
                        })?;
                        if !same_entry_but_payload(&held_entry, entry) {
                            return Err(refused(format!(
                                "entry {i} differs in more than its payload"
                            )));
                        }
                        if let Some((Some(digest), Some(tree))) = recorded {
                            let mut with = before.clone();
                            with.push(mesh_dare::merkle::leaf(&digest));
                            let consistent = with.root().is_some_and(|r| r[..] == tree[..]);
                            if consistent
                                && mesh_dare::envelope::sha512(&entry.payload)[..] != digest[..]
                            {
                                return Err(refused(format!("the payload of entry {i}")));
                            }
                        }
                    }
                }
                let leaf = now
                    .trailer
                    .as_ref()
                    .and_then(|t| t.payload_digest.clone())
                    .unwrap_or_default();
                before.push(mesh_dare::merkle::leaf(&leaf));
            }
            Ok(())
        })();
        if let Err(e) = made {
            let _ = std::fs::remove_file(&aside);
            return Err(e);
        }
        files.open.remove(container);
        std::fs::rename(&aside, &path)?;
        tracing::warn!(
            "{address}: {container} repaired ({} entries put back)",
            given.len()
        );
        // In place: what fails now does not undo it.
        let applied = |e: String| StoreError::Applied(format!("after a repair: {e}"));
        std::fs::File::open(self.dir(address)?)
            .and_then(|d| d.sync_all())
            .map_err(|e| applied(e.to_string()))?;
        let reopened = Container::open(&path, Mode::Read).map_err(|e| applied(e.to_string()))?;
        Ok(damaged_entries(&reopened))
    }

    fn transact_with_profile(
        &self,
        address: &str,
        updates: &[Update],
        profile: Option<ProfileSwap<'_>>,
    ) -> StoreResult<TransactOutcome> {
        locked!(self, address, files);
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
            let state = Self::state_of(self.container(files, address, &update.container, false)?);
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
        // Each container's length before this transaction, to put it back if a later step fails.
        let mut before: Vec<(String, u64)> = Vec::new();
        let profile_path = dir.join("profile.dare");
        let held_profile = match profile {
            Some(_) => Some(std::fs::read(&profile_path)?),
            None => None,
        };
        let applied = (|| -> StoreResult<()> {
            for update in updates {
                let c = self.container(files, address, &update.container, true)?;
                let c = c.expect("created");
                before.push((update.container.clone(), c.container.byte_len()));
                assigned.push(c.append(update.envelopes.clone())?);
            }
            if let Some(profile) = profile {
                write_atomic(&profile_path, profile.to_json()?.as_bytes())?;
            }
            Ok(())
        })();
        if let Err(e) = applied {
            // A step failed (a full disk): nothing of the transaction is kept — the containers
            // cut back, the profile held put back (its replacement may have been renamed into
            // place before the failure), the journal removed — so that the refusal's "nothing
            // was applied" is true and the journal does not complete it later. If that cannot be
            // done, the journal stays to complete the transaction on the account's next use, and
            // the request was applied after all: said so.
            if journaled {
                let undone = (|| -> StoreResult<()> {
                    self.roll_back(files, address, &before)?;
                    if let Some(held) = &held_profile {
                        if std::fs::read(&profile_path)? != *held {
                            write_atomic(&profile_path, held)?;
                        }
                    }
                    std::fs::remove_file(&journal_path)?;
                    Ok(())
                })();
                if let Err(undo) = undone {
                    return Err(StoreError::Applied(format!(
                        "{e}; it could not be undone ({undo}), and will be completed"
                    )));
                }
            }
            return Err(e);
        }
        if journaled {
            // Applied whole: a journal that cannot be removed is no reason to say otherwise (on
            // the account's next use it completes what is complete already, and goes).
            if let Err(e) = std::fs::remove_file(&journal_path) {
                tracing::warn!("{address}: the journal of an applied transaction stays: {e}");
            }
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
        locked!(self, address, files);
        let Some(c) = self.container(files, address, container, false)? else {
            return Ok(None);
        };
        if let Some(ids) = &c.ids {
            return match ids.get(unique_id) {
                Some(index) => Ok(Some(c.read(container, *index)?)),
                None => Ok(None),
            };
        }
        // A container not indexed by UniqueId (a catalog): read from the end.
        for i in (1..c.container.frame_count()).rev() {
            let env = c.read(container, i)?;
            if let Some((id, deleted)) = change_of(&env.header) {
                if id == unique_id {
                    return Ok((!deleted).then_some(env));
                }
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesh_dare::{ContentMeta, EnvelopeOptions};

    fn entry(id: &str, event: Option<&str>, text: &str) -> DareEnvelope {
        DareEnvelope::encode(
            text.as_bytes(),
            &EnvelopeOptions {
                meta: Some(ContentMeta {
                    unique_id: Some(id.into()),
                    event: event.map(str::to_string),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .unwrap()
    }

    fn profile() -> DareEnvelope {
        DareEnvelope::encode(b"{}", &EnvelopeOptions::default()).unwrap()
    }

    /// The UniqueId index of a looked-up spool says what a scan would: the last entry of an id,
    /// none after a deletion marker; and again after the store is opened afresh.
    #[test]
    fn lookups_by_unique_id_are_indexed_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let check = |store: &FileStore| {
            let found = |id: &str| {
                store
                    .find("a@example.com", "MMM_Local", id)
                    .unwrap()
                    .map(|e| String::from_utf8(e.payload).unwrap())
            };
            assert_eq!(found("one").as_deref(), Some("one, again"));
            assert_eq!(found("two"), None, "deleted");
            assert_eq!(found("three").as_deref(), Some("three"));
            assert_eq!(found("nobody"), None);
            // Another account's spool is another index.
            assert_eq!(
                store.find("b@example.com", "MMM_Local", "one").unwrap(),
                None
            );
            // A catalog (not indexed) is scanned with the same result.
            assert_eq!(
                store
                    .find("a@example.com", "MMM_Credential", "c")
                    .unwrap()
                    .map(|e| e.payload),
                Some(b"c2".to_vec())
            );
        };
        {
            let store = FileStore::open(dir.path()).unwrap();
            for address in ["a@example.com", "b@example.com"] {
                assert!(store.bind(address, &profile(), &[]).unwrap());
            }
            let local = vec![
                entry("one", None, "one"),
                entry("two", None, "two"),
                entry("one", None, "one, again"),
                entry("two", Some(mesh_dare::catalog::EVENT_DELETE), ""),
            ];
            store
                .transact("a@example.com", &[Update::append("MMM_Local", local)])
                .unwrap();
            store
                .transact(
                    "a@example.com",
                    &[
                        Update::append("MMM_Local", vec![entry("three", None, "three")]),
                        Update::append(
                            "MMM_Credential",
                            vec![
                                entry("c", Some("New"), "c1"),
                                entry("c", Some("Update"), "c2"),
                            ],
                        ),
                    ],
                )
                .unwrap();
            check(&store);
        }
        check(&FileStore::open(dir.path()).unwrap());
    }

    fn flip(path: &Path, needle: &[u8], offset: usize) {
        let mut bytes = std::fs::read(path).unwrap();
        let at = bytes
            .windows(needle.len())
            .rposition(|w| w == needle)
            .expect("the needle is in the file")
            + offset;
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        std::fs::write(path, bytes).unwrap();
    }

    /// A container left with no header frame (a creation on a full disk, by an earlier build)
    /// is set aside, and the account carries on; a changed payload octet or trailer digest is
    /// reported as damage, never served, and the account's other containers are unaffected.
    #[test]
    fn broken_and_damaged_containers() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path()).unwrap();
        let a = "a@example.com";
        assert!(store.bind(a, &profile(), &[]).unwrap());
        let account = dir.path().join("accounts").join(a);
        std::fs::write(account.join("MMM_Bookmark.dare"), b"").unwrap();
        assert_eq!(store.state(a, "MMM_Bookmark").unwrap().index, 0);
        store
            .transact(
                a,
                &[Update::append("MMM_Bookmark", vec![entry("b", None, "b")])],
            )
            .unwrap();
        assert_eq!(store.state(a, "MMM_Bookmark").unwrap().index, 1);
        assert!(std::fs::read_dir(&account).unwrap().any(|f| f
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains(".empty-")));

        store
            .transact(
                a,
                &[Update::append(
                    "MMM_Credential",
                    vec![
                        entry("c1", None, "first payload"),
                        entry("c2", None, "sound payload"),
                    ],
                )],
            )
            .unwrap();
        store
            .transact(
                a,
                &[Update::append(
                    "MMM_Contact",
                    vec![entry("k1", None, "k"), entry("k2", None, "k")],
                )],
            )
            .unwrap();
        drop(store);
        flip(&account.join("MMM_Credential.dare"), b"sound payload", 0);
        flip(&account.join("MMM_Contact.dare"), b"TreeDigest", 14);
        let store = FileStore::open(dir.path()).unwrap();
        // The intact entry is served; the damaged one is not.
        assert_eq!(
            store.read(a, "MMM_Credential", 1, 1).unwrap()[0].payload,
            b"first payload"
        );
        let error = store.read(a, "MMM_Credential", 1, 2).unwrap_err();
        assert!(matches!(error, StoreError::Damaged(_)), "{error}");
        assert!(error.to_string().contains("entry 2"), "{error}");
        // A damaged trailer digest: the container is refused as it opens.
        let error = store.state(a, "MMM_Contact").unwrap_err();
        assert!(matches!(error, StoreError::Damaged(_)), "{error}");
        // The rest of the account carries on.
        assert_eq!(store.state(a, "MMM_Bookmark").unwrap().index, 1);
        assert!(store.account(a).unwrap().is_some());
    }

    /// A transaction over several things whose last step fails (here the profile cannot be
    /// written; on a full disk, any append) keeps nothing: the containers appended before are cut
    /// back and the journal removed, so nothing is completed later behind the refusal's back, and
    /// the next transaction applies as if the failed one never was.
    #[test]
    fn a_transaction_that_fails_part_way_keeps_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path()).unwrap();
        let a = "a@example.com";
        assert!(store.bind(a, &profile(), &[]).unwrap());
        store
            .transact(
                a,
                &[Update::append("MMM_Local", vec![entry("one", None, "1")])],
            )
            .unwrap();
        let before = store.state(a, "MMM_Local").unwrap();
        // The profile's temporary file cannot be made: a directory is in its way.
        let account = dir.path().join("accounts").join(a);
        std::fs::create_dir(account.join("profile.tmp")).unwrap();
        let new = DareEnvelope::encode(b"{\"new\":1}", &EnvelopeOptions::default()).unwrap();
        let held = profile();
        let swap = ProfileSwap {
            new: &new,
            held: &held,
        };
        let updates = [
            Update::append("MMM_Local", vec![entry("two", None, "2")]),
            Update::append("MMM_Credential", vec![entry("c", Some("New"), "c")]),
        ];
        assert!(store
            .transact_with_profile(a, &updates, Some(swap))
            .is_err());
        assert_eq!(store.state(a, "MMM_Local").unwrap(), before, "cut back");
        assert_eq!(store.state(a, "MMM_Credential").unwrap().index, 0);
        assert!(!account.join("journal.json").exists(), "no journal left");
        assert_eq!(store.find(a, "MMM_Local", "two").unwrap(), None);
        // Opened afresh, the account is as before the failure, and takes the next transaction.
        std::fs::remove_dir(account.join("profile.tmp")).unwrap();
        drop(store);
        let store = FileStore::open(dir.path()).unwrap();
        assert!(store.account(a).unwrap().is_some());
        assert_eq!(store.state(a, "MMM_Local").unwrap(), before);
        store
            .transact(
                a,
                &[Update::append("MMM_Local", vec![entry("three", None, "3")])],
            )
            .unwrap();
        assert_eq!(store.state(a, "MMM_Local").unwrap().index, 2);
        assert_eq!(store.find(a, "MMM_Local", "two").unwrap(), None);
    }

    /// What an account's spool holds unfetched: everything until a mark, what follows the mark
    /// after; the mark only moves forward, outlives a restart, and goes with the account.
    #[test]
    fn unfetched_octets_follow_a_lasting_forward_only_mark() {
        let dir = tempfile::tempdir().unwrap();
        let a = "a@example.com";
        let spool = "MMM_Inbound";
        let message = |n: usize| entry(&format!("m{n}"), None, &"x".repeat(1000));
        let store = FileStore::open(dir.path()).unwrap();
        assert!(store.bind(a, &profile(), &[]).unwrap());
        assert_eq!(store.unfetched_octets(a, spool).unwrap(), 0);
        let batch: Vec<_> = (0..4).map(message).collect();
        let frame = mesh_dare::container::frame_len(&batch[0]).unwrap();
        store.transact(a, &[Update::append(spool, batch)]).unwrap();
        let all = store.unfetched_octets(a, spool).unwrap();
        assert!(all >= 4 * frame, "{all} < 4 × {frame}");
        store.mark_fetched(a, spool, 3).unwrap();
        let one = store.unfetched_octets(a, spool).unwrap();
        assert!(one > 0 && one < all / 3, "{one} of {all}");
        // Backwards is no move.
        store.mark_fetched(a, spool, 1).unwrap();
        assert_eq!(store.unfetched_octets(a, spool).unwrap(), one);
        drop(store);
        let store = FileStore::open(dir.path()).unwrap();
        assert_eq!(
            store.unfetched_octets(a, spool).unwrap(),
            one,
            "after a restart"
        );
        store.mark_fetched(a, spool, 4).unwrap();
        assert_eq!(store.unfetched_octets(a, spool).unwrap(), 0);
        // Unbound and bound again: a new account, whose spool counts from its start.
        assert!(store.unbind(a).unwrap());
        assert!(store.bind(a, &profile(), &[]).unwrap());
        let batch: Vec<_> = (0..4).map(message).collect();
        store.transact(a, &[Update::append(spool, batch)]).unwrap();
        assert_eq!(store.unfetched_octets(a, spool).unwrap(), all);
    }

    /// Damage is found where it is (one entry for one changed octet, whichever field), and a
    /// repair takes back only what was recorded: a different entry in a damaged one's place,
    /// a sound entry replaced, a damaged one left out or one past the end are all refused and
    /// change nothing.
    #[test]
    fn a_repair_restores_what_was_recorded_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let a = "a@example.com";
        let name = "MMM_Credential";
        let entries: Vec<_> = (1..=5)
            .map(|i| entry(&format!("e{i}"), None, &format!("payload number {i}")))
            .collect();
        let file = dir
            .path()
            .join("accounts")
            .join(a)
            .join(format!("{name}.dare"));
        let damaged_now = |store: &FileStore| store.repair(a, name, &[]).unwrap();
        {
            let store = FileStore::open(dir.path()).unwrap();
            assert!(store.bind(a, &profile(), &[]).unwrap());
            store
                .transact(a, &[Update::append(name, entries.clone())])
                .unwrap();
            assert_eq!(damaged_now(&store), Vec::<u64>::new());
        }
        let sound = std::fs::read(&file).unwrap();
        // One field at a time: the payload, its recorded digest, the tree digest.
        for (needle, offset) in [
            (&b"payload number 2"[..], 3),
            (&b"\"PayloadDigest\":\""[..], 20),
            (&b"\"TreeDigest\":\""[..], 20),
        ] {
            std::fs::write(&file, &sound).unwrap();
            flip(&file, needle, offset);
            let store = FileStore::open(dir.path()).unwrap();
            let damaged = damaged_now(&store);
            assert_eq!(damaged.len(), 1, "{needle:?}: {damaged:?}");
        }
        // Entry 2's payload and entry 5's tree digest.
        std::fs::write(&file, &sound).unwrap();
        flip(&file, b"payload number 2", 3);
        flip(&file, b"\"TreeDigest\":\"", 20);
        let store = FileStore::open(dir.path()).unwrap();
        assert_eq!(damaged_now(&store), vec![2, 5]);
        // Entry 2 with another payload, or with other metadata; entry 5 (the last, its trailer
        // damaged) with another payload.
        let mut forged = entries[1].clone();
        forged.payload = b"payload number X".to_vec();
        let mut relabelled = entries[1].clone();
        relabelled.header.envelope_id = Some("somebody else's".into());
        for (attempt, why) in [
            (
                vec![(2, forged.clone()), (5, entries[4].clone())],
                "payload of entry 2",
            ),
            (
                vec![(2, relabelled), (5, entries[4].clone())],
                "more than its payload",
            ),
            (vec![(2, entries[1].clone())], "damaged too"),
            (
                vec![
                    (2, entries[1].clone()),
                    (5, entries[4].clone()),
                    (3, entries[2].clone()),
                ],
                "not damaged",
            ),
            (
                vec![
                    (2, entries[1].clone()),
                    (5, entries[4].clone()),
                    (6, forged.clone()),
                ],
                "no entry 6",
            ),
            (
                vec![
                    (2, entries[1].clone()),
                    (2, entries[1].clone()),
                    (5, entries[4].clone()),
                ],
                "twice",
            ),
        ] {
            let error = store.repair(a, name, &attempt).unwrap_err();
            assert!(error.to_string().contains(why), "{why}: {error}");
            assert_eq!(damaged_now(&store), vec![2, 5], "nothing changed");
        }
        // A damaged run at the end: the last entry's payload is what its own (sound) trailer
        // records, so another is refused there too.
        let sound_again = std::fs::read(&file).unwrap();
        std::fs::write(&file, &sound).unwrap();
        flip(&file, b"payload number 2", 3);
        flip(&file, b"payload number 5", 3);
        drop(store);
        let store = FileStore::open(dir.path()).unwrap();
        let mut forged_last = entries[4].clone();
        forged_last.payload = b"payload number Y".to_vec();
        assert_eq!(damaged_now(&store), vec![2, 5]);
        let error = store
            .repair(a, name, &[(2, entries[1].clone()), (5, forged_last)])
            .unwrap_err();
        assert!(error.to_string().contains("payload of entry 5"), "{error}");
        drop(store);
        std::fs::write(&file, sound_again).unwrap();
        let store = FileStore::open(dir.path()).unwrap();
        // The copies as written: whole again, and the same container the devices know.
        let repaired = store
            .repair(a, name, &[(2, entries[1].clone()), (5, entries[4].clone())])
            .unwrap();
        assert_eq!(repaired, Vec::<u64>::new());
        assert_eq!(
            store.read(a, name, 2, 1).unwrap()[0].payload,
            b"payload number 2"
        );
        drop(store);
        let store = FileStore::open(dir.path()).unwrap();
        let state = store.state(a, name).unwrap();
        let fresh = tempfile::tempdir().unwrap();
        let other = FileStore::open(fresh.path()).unwrap();
        assert!(other.bind(a, &profile(), &[]).unwrap());
        other.transact(a, &[Update::append(name, entries)]).unwrap();
        assert_eq!(state, other.state(a, name).unwrap());
    }
}
