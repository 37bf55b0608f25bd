//! Edits of one entry on two devices (issue: no silent lost update). A device that changed an
//! entry while another device changed the same entry (both since they last synced) finds, when
//! it syncs, the other device's version already on the service. Its own version is then not put
//! on top of the other (which would silently undo it): the catalog keeps the version the service
//! took first, and this device's is kept aside, in `conflicts.json` beside the catalogs, until
//! the user chooses ([`resolve`]).
//!
//! What is kept aside is the entry's envelope as the device wrote it (encrypted to the account,
//! like the catalog), so keeping it discloses nothing the catalog file does not.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use mesh_dare::DareEnvelope;
use mesh_schema::MeshItem;
use serde::{Deserialize, Serialize};

use crate::catalogs::CatalogKind;
use crate::context::Account;
use crate::{store, ClientError, Result};

/// The file, beside the catalogs.
const FILE: &str = "conflicts.json";

/// One entry changed here and on another device: this device's version, kept aside.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Conflict {
    /// The catalog's container name (`MMM_Credential`, …).
    pub catalog: String,
    pub unique_id: String,
    /// When it was found (RFC 3339).
    pub detected: String,
    /// This device's version: the envelope it wrote (a `Delete` marker for a deletion).
    pub envelope: String,
    /// The digest (SHA-512 of the payload, base64url) of the other device's version, the one
    /// the catalog then had: keeping this device's over a later one takes `--force`.
    #[serde(default)]
    pub theirs: Option<String>,
}

impl Conflict {
    fn envelope(&self) -> Result<DareEnvelope> {
        Ok(DareEnvelope::parse(self.envelope.as_bytes())?)
    }

    /// Was this device's version a deletion?
    pub fn deleted(&self) -> bool {
        self.envelope().is_ok_and(|e| Change::of(&e).deleted)
    }
}

/// What one catalog entry changes, read once from its metadata
/// ([`mesh_dare::catalog::change_of`]): the UniqueId, whether it deletes it, and a digest that
/// tells this change from any other — over the UniqueId, the deletion and the payload (every
/// deletion has the same empty payload; the UniqueId tells them apart).
struct Change {
    id: Option<String>,
    deleted: bool,
    digest: [u8; 64],
}

impl Change {
    fn of(envelope: &DareEnvelope) -> Change {
        use sha2::{Digest, Sha512};
        let (id, deleted) = match mesh_dare::catalog::change_of(&envelope.header) {
            Some((id, deleted)) => (Some(id), deleted),
            None => (None, false),
        };
        let name = id.as_deref().unwrap_or_default();
        let digest = Sha512::new()
            .chain_update((name.len() as u64).to_le_bytes())
            .chain_update(name.as_bytes())
            .chain_update([u8::from(deleted)])
            .chain_update(mesh_dare::envelope::sha512(&envelope.payload))
            .finalize()
            .into();
        Change {
            id,
            deleted,
            digest,
        }
    }
}

fn digest_text(envelope: &DareEnvelope) -> String {
    mesh_encoding::base64url::encode(&Change::of(envelope).digest)
}

/// What [`Conflict::theirs`] holds when the other device's change was a deletion.
const DELETED: &str = "Deleted";

/// What the other devices' entries of one sync say: the UniqueIds they changed and the
/// envelopes they are (by payload digest; an entry of this device's that the service already
/// holds, an upload cut short before it was recorded, comes back among them).
#[derive(Default)]
pub(crate) struct Downloaded {
    /// By UniqueId: each envelope's digest, and whether the last was a deletion.
    ids: HashMap<String, (Vec<[u8; 64]>, bool)>,
    digests: HashSet<[u8; 64]>,
}

impl Downloaded {
    pub(crate) fn note(&mut self, page: &[DareEnvelope]) {
        for envelope in page {
            let change = Change::of(envelope);
            self.digests.insert(change.digest);
            if let Some(id) = change.id {
                let entry = self.ids.entry(id).or_default();
                entry.0.push(change.digest);
                entry.1 = change.deleted;
            }
        }
    }
}

/// Split this device's entries made since the last sync of `catalog` (`mine`, oldest first)
/// into those to put on top of what was downloaded, and those that conflict: a change to an
/// entry another device changed too. Of several changes of one entry, the last is kept aside.
/// Entries the service already holds are dropped. Only the catalogs people edit are checked
/// (not the spools, nor the devices' and access catalogs the administrator alone writes).
pub(crate) fn split(
    catalog: &str,
    mine: Vec<DareEnvelope>,
    downloaded: &Downloaded,
) -> (Vec<DareEnvelope>, Vec<Conflict>) {
    let changes: Vec<Change> = mine.iter().map(Change::of).collect();
    let mine_digests: HashSet<[u8; 64]> = changes.iter().map(|c| c.digest).collect();
    let checked = CatalogKind::parse(catalog).is_ok_and(|k| !k.administered());
    // Changed by another device: an entry downloaded that is not one of this device's own.
    let theirs = |id: &str| {
        downloaded
            .ids
            .get(id)
            .is_some_and(|(digests, _)| digests.iter().any(|d| !mine_digests.contains(d)))
    };
    // Deleted there as here: nothing to choose between.
    let deleted_there = |id: &str| downloaded.ids.get(id).is_some_and(|(_, deleted)| *deleted);
    let detected = mesh_encoding::datetime::format(time::OffsetDateTime::now_utc());
    let mut keep = Vec::new();
    let mut aside: Vec<Conflict> = Vec::new();
    for (envelope, change) in mine.into_iter().zip(changes) {
        if downloaded.digests.contains(&change.digest) {
            continue;
        }
        match change.id.filter(|id| checked && theirs(id)) {
            Some(id) if change.deleted && deleted_there(&id) => {
                aside.retain(|c| c.unique_id != id);
            }
            Some(id) => {
                let Ok(json) = envelope.to_json() else {
                    keep.push(envelope);
                    continue;
                };
                aside.retain(|c| c.unique_id != id);
                let theirs = match downloaded.ids.get(&id) {
                    Some((_, true)) => Some(DELETED.to_string()),
                    Some((digests, false)) => {
                        digests.last().map(|d| mesh_encoding::base64url::encode(d))
                    }
                    None => None,
                };
                aside.push(Conflict {
                    catalog: catalog.to_string(),
                    unique_id: id,
                    detected: detected.clone(),
                    envelope: json,
                    theirs,
                });
            }
            None => keep.push(envelope),
        }
    }
    (keep, aside)
}

/// The conflicts kept for the account whose catalogs are in `dir` (none without the file; a
/// file that cannot be read is an error, never taken for none, or the next conflict recorded
/// would write over what it keeps).
pub fn load(dir: &Path) -> Result<Vec<Conflict>> {
    store::read_list(&dir.join(FILE))
}

fn save(dir: &Path, list: &[Conflict]) -> Result<()> {
    if list.is_empty() {
        match std::fs::remove_file(dir.join(FILE)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => return Ok(()),
        }
    }
    store::write_atomic(
        &dir.join(FILE),
        &serde_json::to_vec_pretty(list).map_err(|e| ClientError::Invalid(e.to_string()))?,
    )
}

/// Keep `new` conflicts (each replacing one kept earlier for the same entry).
pub(crate) fn record(dir: &Path, new: Vec<Conflict>) -> Result<()> {
    if new.is_empty() {
        return Ok(());
    }
    store::locked(&dir.join(FILE), || {
        let mut list = load(dir)?;
        list.retain(|c| {
            !new.iter()
                .any(|n| n.catalog == c.catalog && n.unique_id == c.unique_id)
        });
        list.extend(new);
        save(dir, &list)
    })
}

/// A conflict as the user sees it: this device's version and the one in the catalog (`None`
/// for a deletion, or an entry since deleted).
pub struct Shown {
    pub conflict: Conflict,
    pub mine: Option<MeshItem>,
    pub theirs: Option<MeshItem>,
}

/// Every conflict kept for `account`, with both versions read.
pub fn list(account: &Account) -> Result<Vec<Shown>> {
    load(account.dir())?
        .into_iter()
        .map(|conflict| {
            let kind = CatalogKind::parse(&conflict.catalog)?;
            let mine = if conflict.deleted() {
                None
            } else {
                account.read_envelopes(&[conflict.envelope()?])?.pop()
            };
            let theirs = account.get_by_id(kind, &conflict.unique_id)?;
            Ok(Shown {
                conflict,
                mine,
                theirs,
            })
        })
        .collect()
}

/// Has the entry changed since the conflict was found (the catalog's version is no longer the
/// other device's that was then found)?
pub fn changed_since(account: &Account, conflict: &Conflict) -> Result<bool> {
    let kind = CatalogKind::parse(&conflict.catalog)?;
    let current = account
        .current_envelope(kind, &conflict.unique_id)?
        .map(|e| digest_text(&e));
    Ok(match (&conflict.theirs, current) {
        (None, _) => false,
        // Deleted there, and still absent here.
        (Some(theirs), None) => theirs != DELETED,
        (Some(theirs), Some(current)) => *theirs != current,
    })
}

/// Settle the conflict over the entry `unique_id`: keep this device's version (written again,
/// on top of the other's, to be uploaded like any change) or the other's (this device's is
/// dropped). Keeping this device's over an entry changed since the conflict was found takes
/// `force`. Returns the catalog it was in.
pub fn resolve(
    account: &Account,
    unique_id: &str,
    keep_mine: bool,
    force: bool,
) -> Result<CatalogKind> {
    store::locked(&account.dir().join(FILE), || {
        resolve_locked(account, unique_id, keep_mine, force)
    })
}

fn resolve_locked(
    account: &Account,
    unique_id: &str,
    keep_mine: bool,
    force: bool,
) -> Result<CatalogKind> {
    let mut list = load(account.dir())?;
    let at = list
        .iter()
        .position(|c| c.unique_id.eq_ignore_ascii_case(unique_id))
        .ok_or_else(|| ClientError::Invalid(format!("no conflict over {unique_id}")))?;
    let conflict = list[at].clone();
    let kind = CatalogKind::parse(&conflict.catalog)?;
    if keep_mine && !force && changed_since(account, &conflict)? {
        return Err(ClientError::Invalid(format!(
            "{unique_id} has changed since the conflict was found: look at it again (mesh \
             account conflicts), and give --force to keep this device's version anyway"
        )));
    }
    if keep_mine {
        if conflict.deleted() {
            account.delete_by_id(kind, &conflict.unique_id)?;
        } else {
            let item = account
                .read_envelopes(&[conflict.envelope()?])?
                .pop()
                .ok_or_else(|| ClientError::Invalid("the kept version is empty".into()))?;
            account.put(kind, &item)?;
        }
    }
    list.remove(at);
    save(account.dir(), &list)?;
    Ok(kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesh_dare::{ContentMeta, EnvelopeOptions};

    /// A catalog change of `id` (`event`: Update, Delete) with `payload`.
    fn change(id: &str, event: &str, payload: &[u8]) -> DareEnvelope {
        DareEnvelope::encode(
            payload,
            &EnvelopeOptions {
                meta: Some(ContentMeta {
                    unique_id: Some(id.into()),
                    event: Some(event.into()),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .unwrap()
    }

    fn entry(id: &str, text: &[u8]) -> DareEnvelope {
        change(id, "Update", text)
    }

    #[test]
    fn only_entries_another_device_changed_conflict() {
        let mine = vec![
            entry("A", b"mine 1"),
            entry("B", b"mine"),
            entry("A", b"mine 2"),
            entry("C", b"uploaded already"),
        ];
        let mut downloaded = Downloaded::default();
        // Another device changed A; C comes back as this device's own (an upload whose
        // record was lost).
        downloaded.note(&[entry("A", b"theirs"), mine[3].clone()]);
        let (keep, aside) = split("MMM_Credential", mine, &downloaded);
        assert_eq!(keep.len(), 1);
        assert_eq!(Change::of(&keep[0]).id.as_deref(), Some("B"));
        assert_eq!(aside.len(), 1);
        assert_eq!(aside[0].unique_id, "A");
        assert!(aside[0]
            .envelope
            .contains(&mesh_encoding::base64url::encode(b"mine 2")));
        assert_eq!(aside[0].theirs, Some(digest_text(&entry("A", b"theirs"))));
        // The administrator's catalogs and the spools are not checked.
        let (keep, aside) = split("MMM_Device", vec![entry("A", b"x")], &downloaded);
        assert_eq!((keep.len(), aside.len()), (1, 0));
        let (keep, aside) = split("MMM_Local", vec![entry("A", b"x")], &downloaded);
        assert_eq!((keep.len(), aside.len()), (1, 0));
    }

    #[test]
    fn conflicts_recorded_at_once_are_all_kept() {
        let dir = tempfile::tempdir().unwrap();
        let threads: Vec<_> = (0..8)
            .map(|n| {
                let dir = dir.path().to_path_buf();
                std::thread::spawn(move || {
                    let mut downloaded = Downloaded::default();
                    let id = format!("ID{n}");
                    downloaded.note(&[entry(&id, b"theirs")]);
                    let (_, aside) =
                        split("MMM_Credential", vec![entry(&id, b"mine")], &downloaded);
                    record(&dir, aside).unwrap();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(load(dir.path()).unwrap().len(), 8);
    }

    fn deletion(id: &str) -> DareEnvelope {
        change(id, "Delete", b"")
    }

    /// Every deletion has the same empty payload: another device's deletion of one entry is
    /// not this device's deletion of another, nor makes this device's edit its own.
    #[test]
    fn deletions_of_different_entries_are_told_apart() {
        let mut downloaded = Downloaded::default();
        downloaded.note(&[deletion("X")]);
        let (keep, aside) = split("MMM_Credential", vec![deletion("Y")], &downloaded);
        assert_eq!(
            (keep.len(), aside.len()),
            (1, 0),
            "this device's deletion of Y kept"
        );
        let (keep, aside) = split(
            "MMM_Credential",
            vec![deletion("Y"), entry("X", b"mine")],
            &downloaded,
        );
        assert_eq!(keep.len(), 1);
        assert_eq!(
            aside.len(),
            1,
            "an edit of what the other deleted is a conflict"
        );
        assert_eq!(aside[0].theirs.as_deref(), Some(DELETED));
    }

    #[test]
    fn deleted_on_both_is_no_conflict() {
        let mut downloaded = Downloaded::default();
        downloaded.note(&[entry("A", b"theirs"), deletion("A")]);
        let (keep, aside) = split("MMM_Credential", vec![deletion("A")], &downloaded);
        assert_eq!((keep.len(), aside.len()), (0, 0));
    }

    #[test]
    fn an_entry_changed_here_after_its_upload_is_not_a_conflict_with_itself() {
        let first = entry("A", b"mine 1");
        let mut downloaded = Downloaded::default();
        downloaded.note(std::slice::from_ref(&first));
        let (keep, aside) = split(
            "MMM_Credential",
            vec![first, entry("A", b"mine 2")],
            &downloaded,
        );
        assert_eq!((keep.len(), aside.len()), (1, 0));
    }
}
