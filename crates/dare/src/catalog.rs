//! Catalogs (schema-08 §4, dare-12 §7.1): a container of entries keyed by UniqueId in which a
//! later entry updates an earlier one with the same id and a `Delete` event removes it.
//!
//! Each frame's ContentMetaData carries `UniqueId` and `Event` (`New`, `Update`, `Delete`), so
//! the current state is computed from the headers alone when the catalog is opened — payloads,
//! which may be encrypted, are read only when asked for — and is kept up to date on every append.

use crate::catalog_state::Current;
use std::path::Path;

use mesh_crypto::{PrivateKey, PublicKey};

use crate::catalog_index::CatalogIndex;
use crate::container::{Container, ContainerType, Mode};
use crate::envelope::DareEnvelope;
use crate::keys::KeyRing;
use crate::schema::{ContentMeta, DareHeader};
use crate::{DareError, Result};

pub const EVENT_NEW: &str = "New";
pub const EVENT_UPDATE: &str = "Update";
pub const EVENT_DELETE: &str = "Delete";

/// Catalogs of this many frames or more are read through an index.
pub const INDEXED_FRAMES: u64 = 256;

/// A catalog and its current state.
pub struct Catalog {
    container: Container,
    /// UniqueId → index of the frame holding the current value.
    current: Current,
    /// Opened from its index, and (once a frame read through it was not what the index said)
    /// whether the index was found wrong and removed.
    indexed: bool,
    index_rejected: std::sync::atomic::AtomicBool,
}

/// What a frame does to a catalog: the UniqueId it sets, and whether it deletes it. `None`
/// for frames that are no catalog entries.
pub fn change_of(header: &DareHeader) -> Option<(String, bool)> {
    let meta = header.content_meta().ok()?;
    let deleted = meta.event.as_deref() == Some(EVENT_DELETE);
    Some((meta.unique_id?, deleted))
}

/// The metadata KeyValue that makes each entry an authority signs unique.
pub const ENTRY_NONCE: &str = "EntryNonce";

/// The metadata of a marker deleting `unique_id`.
fn delete_meta(unique_id: &str) -> ContentMeta {
    ContentMeta {
        unique_id: Some(unique_id.to_string()),
        event: Some(EVENT_DELETE.into()),
        ..Default::default()
    }
}

/// What an authority's signature on an entry of the catalog `catalog` covers: its payload, its
/// ContentMetaData (the UniqueId and Event that say what the entry changes) and the catalog's
/// name (so that an entry of one catalog cannot be put into another) —
/// [`DareEnvelope::covered_digest`] under the label `MeshEntry:CATALOG`.
pub fn entry_digest(env: &DareEnvelope, catalog: &str) -> [u8; 64] {
    env.covered_digest(&format!("MeshEntry:{catalog}"), false)
}

/// Is `env` signed by `authority` over its [`entry_digest`] for `catalog` (and by no key but
/// that one)?
pub fn entry_signed_by(
    env: &DareEnvelope,
    catalog: &str,
    authority: &mesh_crypto::PublicKey,
) -> bool {
    let mut ring = crate::KeyRing::new();
    ring.add_public(authority.clone());
    env.verify_over(&ring, &entry_digest(env, catalog))
        .is_ok_and(|v| v.unknown.is_empty() && !v.valid.is_empty())
}

/// Apply one frame's metadata to a catalog state.
fn apply(current: &mut Current, index: u64, header: &DareHeader) {
    match change_of(header) {
        Some((id, true)) => {
            current.map_mut().remove(&id);
        }
        Some((id, false)) => {
            current.map_mut().insert(id, index);
        }
        None => {}
    }
}

impl Catalog {
    /// Create a catalog file (a Merkle container), encrypted to `encrypt_to` if any are given.
    pub fn create(path: impl AsRef<Path>, encrypt_to: &[PublicKey]) -> Result<Self> {
        let container = Container::create(path, ContainerType::Merkle, encrypt_to)?;
        Ok(Self::with_state(container, Current::default(), false))
    }

    fn with_state(container: Container, current: Current, indexed: bool) -> Self {
        Catalog {
            container,
            current,
            indexed,
            index_rejected: Default::default(),
        }
    }

    /// Open a catalog. Opened for reading, a catalog of [`INDEXED_FRAMES`] frames or more is
    /// opened from its index ([`crate::catalog_index`]), walking only the frames appended
    /// since the index was written (and writing it again when there were any).
    pub fn open(path: impl AsRef<Path>, mode: Mode) -> Result<Self> {
        let path = path.as_ref();
        if mode == Mode::Read {
            let file = std::fs::File::open(path);
            if let Some((file, index)) = file
                .ok()
                .and_then(|f| CatalogIndex::load(path, &f).map(|i| (f, i)))
            {
                let (resume, mut current) = index.resume();
                let known = resume.frames.len() as u64;
                let opened =
                    Container::open_resuming(path, file, resume, |i, h| apply(&mut current, i, h));
                // An index that does not lead to a container is passed over: the catalog is
                // walked as it would be without one.
                if let Ok(container) = opened {
                    if container.frame_count() > known {
                        CatalogIndex::store(&container, &current);
                    }
                    return Ok(Self::with_state(container, current, true));
                }
            }
        }
        let catalog = Self::open_walking(path, mode)?;
        if mode == Mode::Read && catalog.container.frame_count() >= INDEXED_FRAMES {
            CatalogIndex::store(&catalog.container, &catalog.current);
        }
        Ok(catalog)
    }

    /// Open a catalog by walking every frame, whatever index it has (for what must not take an
    /// index's word: deciding what an administrator signs again, say).
    pub fn open_walking(path: impl AsRef<Path>, mode: Mode) -> Result<Self> {
        let mut current = Current::default();
        let container = Container::open_with(path, mode, |i, h| apply(&mut current, i, h))?;
        Ok(Self::with_state(container, current, false))
    }

    /// Open the catalog, creating it if it does not exist. An encrypted catalog's new entries
    /// are encrypted to `encrypt_to` (the keys in its header frame are those it was created
    /// with; after a key rotation they are no longer the keys to write to).
    pub fn open_or_create(path: impl AsRef<Path>, encrypt_to: &[PublicKey]) -> Result<Self> {
        if path.as_ref().exists() {
            let mut catalog = Self::open(path, Mode::Write)?;
            catalog.container.write_to(encrypt_to);
            Ok(catalog)
        } else {
            Self::create(path, encrypt_to)
        }
    }

    pub fn container(&self) -> &Container {
        &self.container
    }

    pub fn len(&self) -> usize {
        self.current.len()
    }

    pub fn is_empty(&self) -> bool {
        self.current.is_empty()
    }

    pub fn contains(&self, unique_id: &str) -> bool {
        self.current.get(unique_id).is_some()
    }

    /// The UniqueIds of the current entries, in order.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.current.iter().map(|(id, _)| id)
    }

    /// The frame index holding the current value of an entry.
    pub fn frame_of(&self, unique_id: &str) -> Option<u64> {
        self.current.get(unique_id)
    }

    /// The metadata of an entry that adds or replaces `unique_id`.
    fn put_meta(&self, unique_id: &str, message_type: Option<&str>) -> ContentMeta {
        let event = if self.contains(unique_id) {
            EVENT_UPDATE
        } else {
            EVENT_NEW
        };
        ContentMeta {
            unique_id: Some(unique_id.to_string()),
            event: Some(event.into()),
            message_type: message_type.map(str::to_string),
            ..Default::default()
        }
    }

    /// Add or replace the entry `unique_id`.
    pub fn put(
        &mut self,
        unique_id: &str,
        message_type: Option<&str>,
        plaintext: &[u8],
        signers: &[&PrivateKey],
    ) -> Result<u64> {
        let env = self.put_entry(unique_id, message_type, plaintext, signers)?;
        self.apply_envelope(env)
    }

    /// The entry [`Self::put`] would append, made but not appended (to append many with
    /// [`Self::apply_envelopes`]).
    pub fn put_entry(
        &self,
        unique_id: &str,
        message_type: Option<&str>,
        plaintext: &[u8],
        signers: &[&PrivateKey],
    ) -> Result<DareEnvelope> {
        let meta = self.put_meta(unique_id, message_type);
        self.container.make_entry_with(plaintext, meta, signers)
    }

    /// The entry [`Self::put_authorized`] would append, made but not appended.
    pub fn put_authorized_entry(
        &self,
        catalog: &str,
        unique_id: &str,
        message_type: Option<&str>,
        plaintext: &[u8],
        authority: &PrivateKey,
    ) -> Result<DareEnvelope> {
        let meta = self.put_meta(unique_id, message_type);
        self.authorized_entry(catalog, plaintext, meta, authority)
    }

    /// Append entries made elsewhere, with one write and one fsync, and update the state from
    /// their metadata (in order: a later one replaces an earlier one of the same UniqueId).
    pub fn apply_envelopes(&mut self, envs: Vec<DareEnvelope>) -> Result<Vec<u64>> {
        for env in &envs {
            if env.content_meta()?.unique_id.is_none() {
                return Err(DareError::Malformed(
                    "a catalog entry needs a UniqueId in its ContentMetaData".into(),
                ));
            }
        }
        let headers: Vec<_> = envs.iter().map(|e| e.header.clone()).collect();
        let indexes = self.container.append_envelopes(envs)?;
        for (index, header) in indexes.iter().zip(&headers) {
            apply(&mut self.current, *index, header);
        }
        Ok(indexes)
    }

    /// Remove the entry `unique_id`; false if there was none.
    pub fn delete(&mut self, unique_id: &str) -> Result<bool> {
        if !self.contains(unique_id) {
            return Ok(false);
        }
        let mut env = DareEnvelope::default();
        env.header.set_content_meta(&delete_meta(unique_id))?;
        self.apply_envelope(env)?;
        Ok(true)
    }

    /// Add or replace the entry `unique_id` with the authority of `authority`: its signature
    /// covers the entry's metadata (UniqueId, Event) as well as its payload
    /// ([`entry_digest`]), so that whoever checks it — a service that cannot read the payload —
    /// knows the authority made this very change and not another (the same payload re-sent as a
    /// deletion, say).
    pub fn put_authorized(
        &mut self,
        catalog: &str,
        unique_id: &str,
        message_type: Option<&str>,
        plaintext: &[u8],
        authority: &PrivateKey,
    ) -> Result<u64> {
        let meta = self.put_meta(unique_id, message_type);
        let env = self.authorized_entry(catalog, plaintext, meta, authority)?;
        self.apply_envelope(env)
    }

    /// Remove the entry `unique_id` with the authority of `authority` (see
    /// [`Self::put_authorized`]); false if there was no such entry.
    pub fn delete_authorized(
        &mut self,
        catalog: &str,
        unique_id: &str,
        plaintext: &[u8],
        authority: &PrivateKey,
    ) -> Result<bool> {
        if !self.contains(unique_id) {
            return Ok(false);
        }
        let env = self.authorized_entry(catalog, plaintext, delete_meta(unique_id), authority)?;
        self.apply_envelope(env)?;
        Ok(true)
    }

    /// An entry, not appended, signed by `authority` over its [`entry_digest`] for the catalog
    /// named `catalog`.
    ///
    /// Each such entry carries a random `EntryNonce` among its metadata's KeyValues, under the
    /// signature: a change made again later (an entry blocked, unblocked and blocked again) is
    /// then a new entry, never the replay of an earlier one that a reader or a service refuses.
    pub fn authorized_entry(
        &self,
        catalog: &str,
        plaintext: &[u8],
        mut meta: ContentMeta,
        authority: &PrivateKey,
    ) -> Result<DareEnvelope> {
        let mut nonce = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
        meta.key_values.push(crate::schema::KeyValue {
            key: ENTRY_NONCE.into(),
            value: mesh_encoding::base64url::encode(&nonce),
        });
        let mut env = self.container.make_entry_with(plaintext, meta, &[])?;
        let digest = entry_digest(&env, catalog);
        env.sign_over(authority, &digest)?;
        Ok(env)
    }

    /// Append an entry made elsewhere (by another device, or received in a sync) and update
    /// the state from its metadata.
    pub fn apply_envelope(&mut self, env: DareEnvelope) -> Result<u64> {
        let meta = env.content_meta()?;
        if meta.unique_id.is_none() {
            return Err(DareError::Malformed(
                "a catalog entry needs a UniqueId in its ContentMetaData".into(),
            ));
        }
        let header = env.header.clone();
        let index = self.container.append_envelope(env)?;
        apply(&mut self.current, index, &header);
        Ok(index)
    }

    /// The frame holding the current value of `unique_id`, checked to be that frame (its
    /// SequenceInfo index) and to set that UniqueId. A catalog opened from its index takes the
    /// index's word for which frame that is; this check catches an index that names a frame of
    /// another entry, another file's frame, or a marker: the index is removed and
    /// [`Self::index_rejected`] says so; reopened, the catalog is walked. It cannot tell an
    /// earlier value of the same entry from its current one: that rests on the index's checks
    /// (the catalog's length and last frame) and on the directory being the device's own.
    pub fn read_current(&self, unique_id: &str) -> Result<Option<DareEnvelope>> {
        let Some(index) = self.current.get(unique_id) else {
            return Ok(None);
        };
        let env = self.container.read(index)?;
        let numbered = env.header.sequence_info.as_ref().and_then(|i| i.index) == Some(index);
        if numbered && change_of(&env.header) == Some((unique_id.to_string(), false)) {
            return Ok(Some(env));
        }
        let path = self.container.path().display().to_string();
        if self.indexed {
            let _ = std::fs::remove_file(crate::catalog_index::index_path(self.container.path()));
            self.index_rejected
                .store(true, std::sync::atomic::Ordering::Relaxed);
            return Err(DareError::Container {
                path,
                reason: "its index did not match it and was removed; read it again".into(),
            });
        }
        Err(DareError::Container {
            path,
            reason: format!("frame {index} is not the current value of {unique_id}"),
        })
    }

    /// Whether a read found the index this catalog was opened from wrong (and removed it).
    pub fn index_rejected(&self) -> bool {
        self.index_rejected
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The current value of `unique_id`, decrypted with `keys` if the catalog is encrypted.
    pub fn get(&self, unique_id: &str, keys: &KeyRing) -> Result<Option<Vec<u8>>> {
        self.read_current(unique_id)?
            .map(|env| env.plaintext(keys))
            .transpose()
    }

    /// Every current entry as (UniqueId, plaintext).
    pub fn entries(&self, keys: &KeyRing) -> Result<Vec<(String, Vec<u8>)>> {
        self.ids()
            .map(|id| {
                let env = self.read_current(id)?.ok_or(DareError::NoSuchFrame {
                    index: 0,
                    count: self.container.frame_count(),
                })?;
                Ok((id.to_string(), env.plaintext(keys)?))
            })
            .collect()
    }
}
