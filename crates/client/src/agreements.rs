//! What a device holding a share of the account key has already worked out with its service.
//!
//! Such a device opens an entry of the account's catalogs with the agreement value of the
//! entry's ephemeral key, made from its own share's contribution and the service's (Operate,
//! threshold-06 §3.2). That value opens that entry and nothing else, and it does not change:
//! kept, it spares the service the same work on every later read. It is kept here, in
//! `agreements.dare` beside the catalogs.
//!
//! The values are sealed under a key the device cannot make alone, so that keeping them takes
//! nothing from the threshold scheme: an *anchor* frame holds an ephemeral public key E₀ (its
//! private half was used once, to make the first key, and thrown away), and the sealing key is
//! derived from the account key's agreement with E₀, `[a]E₀` — which, after that, takes the
//! service's contribution like any entry — and from the device's own part of it, `[share]E₀`,
//! so that whoever plants an anchor of their own in the file (knowing its private half, and so
//! `[a]E₀`) cannot make the key, and nothing is kept under a key they know. A device reads what it kept only while the service
//! still contributes for it: one Operate per session (per share) opens every kept value; a
//! device removed from the account, whose capability is gone, reads nothing kept, and a device
//! without its service reads nothing at all, as before. Each frame's MAC is checked; the anchor
//! carries a check value of the key, so a wrong contribution is seen (and nothing is kept under
//! it). A share replaced by a key rotation has its own anchor.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use mesh_crypto::{Algorithm, PrivateKey, PublicKey};
use mesh_dare::crypt::BaseSeed;
use mesh_dare::{Container, ContainerType, DareEnvelope, EnvelopeOptions, Mode};
use serde::{Deserialize, Serialize};
use sha2::{Sha256, Sha512};

use crate::Result;

const FILE: &str = "agreements.dare";
const ANCHOR: &str = "AgreementAnchor";

/// One kept agreement: the ephemeral key of an envelope (public-key octets) and its value.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Kept {
    #[serde(with = "mesh_encoding::base64url")]
    ephemeral: Vec<u8>,
    #[serde(with = "mesh_encoding::base64url")]
    value: Vec<u8>,
}

/// The anchor of a share's values (not secret).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Anchor {
    /// The UDF of the account key the share is of.
    of: String,
    curve: String,
    #[serde(with = "mesh_encoding::base64url")]
    ephemeral: Vec<u8>,
    /// HMAC-SHA-512 of "check" under the sealing key.
    #[serde(with = "mesh_encoding::base64url")]
    check: Vec<u8>,
    /// 1: the sealing key takes the device's own part too ([`sealing`]); anchors made before
    /// (none) are passed over, and a new one made.
    #[serde(default)]
    version: u32,
}

/// The anchors' version this build makes and reads.
const ANCHOR_VERSION: u32 = 1;

/// The sealing key of one share's values.
#[derive(Clone)]
struct Sealing {
    seed: BaseSeed,
    kid: String,
}

/// The sealing key of the values kept for the account key `of`: from the agreement with the
/// anchor's ephemeral key and this device's own part of it (its share's contribution), so that
/// whoever chose an anchor's ephemeral key (and so knows the agreement) cannot know the key
/// without the share: an anchor planted in the file does not check, and nothing is kept under
/// a key someone else can make.
fn sealing(of: &str, agreement: &[u8], own: &[u8]) -> (Sealing, Vec<u8>) {
    let mut seed = [0u8; 32];
    let mut ikm = agreement.to_vec();
    ikm.extend_from_slice(own);
    Hkdf::<Sha256>::new(None, &ikm)
        .expand(b"MeshAgreementCache", &mut seed)
        .expect("32 octets is a valid HKDF-SHA-256 length");
    let mut mac = <Hmac<Sha512> as Mac>::new_from_slice(&seed).expect("HMAC takes any key");
    mac.update(b"check");
    (
        Sealing {
            seed: BaseSeed(seed),
            kid: format!("AgreementCache:{of}"),
        },
        mac.finalize().into_bytes().to_vec(),
    )
}

/// The state of one share's kept values.
enum State {
    /// Sealed under this key; the values read, and the frames not read yet by the ephemeral keys
    /// they hold (a frame names its keys in its metadata, so that one value is read without
    /// opening every frame).
    Open(Sealing, HashMap<Vec<u8>, Vec<u8>>, HashMap<Vec<u8>, usize>),
    /// No anchor yet: the first values kept make one (the account key, and the share).
    New(PublicKey, PrivateKey),
    /// The key could not be made this session (the service would not contribute, or gave a
    /// contribution that does not check): nothing is read or kept.
    Closed,
}

/// The agreements kept for the shares a device holds.
pub struct AgreementCache {
    path: PathBuf,
    /// By the UDF of the account key a share is of.
    shares: HashMap<String, State>,
    /// The frames whose values are read only when asked for.
    frames: Vec<DareEnvelope>,
}

/// The metadata key under which a frame lists its ephemeral keys.
const EPHEMERAL: &str = "Ephemeral";

/// The ephemeral keys a frame names in its metadata, if it does.
fn named_ephemerals(frame: &DareEnvelope) -> Option<Vec<Vec<u8>>> {
    let meta = frame.content_meta().ok()?;
    let keys: Vec<Vec<u8>> = meta
        .key_values
        .iter()
        .filter(|kv| kv.key == EPHEMERAL)
        .filter_map(|kv| mesh_encoding::base64url::decode(&kv.value).ok())
        .collect();
    (!keys.is_empty()).then_some(keys)
}

/// Open a frame of kept values and add them to `values`.
fn read_frame(frame: &DareEnvelope, sealing: &Sealing, values: &mut HashMap<Vec<u8>, Vec<u8>>) {
    let Ok(plain) = frame.decrypt_with_seed(&sealing.seed) else {
        return;
    };
    let Ok(kept) = mesh_encoding::from_json::<Vec<Kept>>(&plain) else {
        return;
    };
    for k in kept {
        values.insert(k.ephemeral, k.value);
    }
}

/// Asks for the service's contribution for one ephemeral key with the share of `of`.
pub type Contribute<'a> = dyn FnMut(&str, &PublicKey) -> Result<Vec<u8>> + 'a;

impl AgreementCache {
    /// Read what is kept in `dir` for `shares` (the account key each share is of, and the
    /// share). For a share with an anchor, `contribute` is asked once for the service's part of
    /// the sealing key. Frames that do not check are passed over.
    pub fn load(
        dir: &Path,
        shares: &[(&PublicKey, &PrivateKey)],
        contribute: &mut Contribute<'_>,
    ) -> Self {
        let path = dir.join(FILE);
        let container = Container::open(&path, Mode::Read).ok();
        let frames: Vec<DareEnvelope> = container
            .as_ref()
            .map(|c| {
                (1..c.frame_count())
                    .filter_map(|i| c.read(i).ok())
                    .collect()
            })
            .unwrap_or_default();
        let anchors: Vec<Anchor> = frames
            .iter()
            .filter(|f| f.header.key_identifier.as_deref() == Some(ANCHOR))
            .filter_map(|f| mesh_encoding::from_json(&f.payload).ok())
            .collect();
        let mut states = HashMap::new();
        for (of, share) in shares {
            let udf = of.udf();
            // The latest anchor of this share (one planted after it does not check: nothing is
            // then read or kept, which only costs work).
            let anchor = anchors
                .iter()
                .rev()
                .find(|a| a.of == udf && a.version == ANCHOR_VERSION);
            let state = match anchor {
                None => State::New((*of).clone(), (*share).clone()),
                Some(anchor) => open_anchor(anchor, share, &udf, contribute),
            };
            states.insert(udf, state);
        }
        for (index, frame) in frames.iter().enumerate() {
            let Some(kid) = frame.header.key_identifier.as_deref() else {
                continue;
            };
            for state in states.values_mut() {
                let State::Open(sealing, values, pending) = state else {
                    continue;
                };
                if sealing.kid != kid {
                    continue;
                }
                // A frame that names its keys is read when one of them is asked for; one that
                // does not is read now.
                match named_ephemerals(frame) {
                    Some(keys) => {
                        for key in keys {
                            pending.insert(key, index);
                        }
                    }
                    None => read_frame(frame, sealing, values),
                }
            }
        }
        AgreementCache {
            path,
            shares: states,
            frames,
        }
    }

    /// The agreement value kept for the ephemeral key `epk` of an envelope encrypted to `of`
    /// (its frame is opened the first time one of its values is asked for).
    pub fn get(&mut self, of: &str, epk: &[u8]) -> Option<&[u8]> {
        let Some(State::Open(sealing, values, pending)) = self.shares.get_mut(of) else {
            return None;
        };
        if !values.contains_key(epk) {
            let index = pending.get(epk).copied()?;
            let frame = self.frames.get(index)?;
            read_frame(frame, sealing, values);
            // Every key of that frame is read now (or, if it did not open, will not be).
            pending.retain(|_, i| *i != index);
        }
        values.get(epk).map(Vec::as_slice)
    }

    /// How many agreements are kept and readable.
    pub fn len(&self) -> usize {
        self.shares
            .values()
            .map(|s| match s {
                State::Open(_, values, pending) => {
                    values.len() + pending.keys().filter(|k| !values.contains_key(*k)).count()
                }
                _ => 0,
            })
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keep new agreements (for envelopes encrypted to `of`): one frame (after the anchor, the
    /// first time), written and synced before this returns, under a lock on the file.
    pub fn add(&mut self, of: &str, new: Vec<(PublicKey, Vec<u8>)>) -> Result<()> {
        let mut frames = Vec::new();
        if let Some(State::New(account_key, share)) = self.shares.get(of) {
            // The first key: the agreement of a fresh ephemeral with the account key, made
            // here once; later sessions make it with the service.
            let ephemeral = PrivateKey::generate(account_key.algorithm());
            let agreement = ephemeral.agree(account_key)?;
            let own = share.agree_partial(&ephemeral.public_key())?;
            let (sealing, check) = sealing(of, &agreement, &own);
            let anchor = Anchor {
                of: of.to_string(),
                curve: account_key.algorithm().curve().to_string(),
                ephemeral: ephemeral.public_key().as_bytes().to_vec(),
                check,
                version: ANCHOR_VERSION,
            };
            let mut envelope = DareEnvelope::encode(
                mesh_encoding::to_json(&anchor)?.as_bytes(),
                &Default::default(),
            )?;
            envelope.header.key_identifier = Some(ANCHOR.into());
            frames.push(envelope);
            self.shares.insert(
                of.to_string(),
                State::Open(sealing, HashMap::new(), HashMap::new()),
            );
        }
        let Some(State::Open(sealing, values, pending)) = self.shares.get_mut(of) else {
            return Ok(());
        };
        let fresh: Vec<Kept> = new
            .into_iter()
            .filter(|(epk, _)| {
                !values.contains_key(epk.as_bytes()) && !pending.contains_key(epk.as_bytes())
            })
            .map(|(epk, value)| Kept {
                ephemeral: epk.as_bytes().to_vec(),
                value,
            })
            .collect();
        if fresh.is_empty() && frames.is_empty() {
            return Ok(());
        }
        if !fresh.is_empty() {
            // The frame names its ephemeral keys (public: every entry's header carries its own)
            // so that a later read opens only the frame it needs.
            let meta = mesh_dare::ContentMeta {
                key_values: fresh
                    .iter()
                    .map(|k| mesh_dare::schema::KeyValue {
                        key: EPHEMERAL.into(),
                        value: mesh_encoding::base64url::encode(&k.ephemeral),
                    })
                    .collect(),
                ..Default::default()
            };
            frames.push(DareEnvelope::encode(
                mesh_encoding::to_json(&fresh)?.as_bytes(),
                &EnvelopeOptions {
                    meta: Some(meta),
                    symmetric: Some((sealing.seed.clone(), sealing.kid.clone())),
                    ..Default::default()
                },
            )?);
        }
        append(&self.path, frames)?;
        for k in fresh {
            values.insert(k.ephemeral, k.value);
        }
        Ok(())
    }
}

/// The sealing key of a share with an anchor: its own contribution and the service's.
fn open_anchor(
    anchor: &Anchor,
    share: &PrivateKey,
    of: &str,
    contribute: &mut Contribute<'_>,
) -> State {
    let opened = (|| -> Result<Option<Sealing>> {
        let algorithm = Algorithm::from_curve(&anchor.curve)?;
        let ephemeral = PublicKey::new(algorithm, anchor.ephemeral.clone())?;
        let theirs = contribute(of, &ephemeral)?;
        let mine = share.agree_partial(&ephemeral)?;
        let agreement =
            mesh_crypto::combine_contributions(algorithm, &[mine.as_slice(), theirs.as_slice()])?;
        let (sealing, check) = sealing(of, &agreement, &mine);
        Ok((check == anchor.check).then_some(sealing))
    })();
    match opened {
        Ok(Some(sealing)) => State::Open(sealing, HashMap::new(), HashMap::new()),
        _ => State::Closed,
    }
}

/// Append `frames` to the file, under an exclusive lock on a file beside it (two processes of
/// one device must not write at the same offset). A file that does not open as a container is
/// set aside (`agreements.dare.damaged`) and started again: it only ever saves work.
fn append(path: &Path, frames: Vec<DareEnvelope>) -> Result<()> {
    crate::store::locked(path, || {
        let mut container = match path.exists() {
            true => match Container::open(path, Mode::Write) {
                Ok(c) => c,
                Err(mesh_dare::DareError::Io(e)) => return Err(e.into()),
                Err(_) => {
                    std::fs::rename(path, path.with_extension("dare.damaged"))?;
                    Container::create(path, ContainerType::List, &[])?
                }
            },
            false => Container::create(path, ContainerType::List, &[])?,
        };
        container.append_envelopes(frames)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Someone who can write the device's directory, but holds neither its share nor its
    /// passphrase, plants an anchor whose ephemeral key they chose (so they know `[a]E₀`, and
    /// the check the key would have without the device's own part): it does not open, and
    /// nothing is kept under a key they can make. The device's own anchor works as before.
    #[test]
    fn a_planted_anchor_keeps_nothing_for_whoever_planted_it() {
        let account_key = PrivateKey::generate(Algorithm::X448);
        let public = account_key.public_key();
        let (share, service) = account_key.split().unwrap();
        let of = public.udf();
        let mut contribute = |_: &str, e: &PublicKey| Ok(service.agree_partial(e)?);

        let dir = tempfile::tempdir().unwrap();
        let chosen = PrivateKey::generate(Algorithm::X448);
        let known = chosen.agree(&public).unwrap();
        let planted = Anchor {
            of: of.clone(),
            curve: public.algorithm().curve().to_string(),
            ephemeral: chosen.public_key().as_bytes().to_vec(),
            check: sealing(&of, &known, &[]).1,
            version: ANCHOR_VERSION,
        };
        let mut frame = DareEnvelope::encode(
            mesh_encoding::to_json(&planted).unwrap().as_bytes(),
            &Default::default(),
        )
        .unwrap();
        frame.header.key_identifier = Some(ANCHOR.into());
        append(&dir.path().join(FILE), vec![frame]).unwrap();

        let mut cache = AgreementCache::load(dir.path(), &[(&public, &share)], &mut contribute);
        assert!(matches!(cache.shares.get(&of), Some(State::Closed)));
        let value = PrivateKey::generate(Algorithm::X448).public_key();
        cache.add(&of, vec![(value.clone(), vec![9; 56])]).unwrap();
        let container = Container::open(dir.path().join(FILE), Mode::Read).unwrap();
        assert_eq!(container.frame_count(), 2, "only the planted anchor");

        // A device's own anchor (in a fresh directory) opens in a later session.
        let dir = tempfile::tempdir().unwrap();
        let mut cache = AgreementCache::load(dir.path(), &[(&public, &share)], &mut contribute);
        cache.add(&of, vec![(value.clone(), vec![9; 56])]).unwrap();
        let mut cache = AgreementCache::load(dir.path(), &[(&public, &share)], &mut contribute);
        assert_eq!(cache.get(&of, value.as_bytes()), Some(&[9u8; 56][..]));
    }
}
