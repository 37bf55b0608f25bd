//! DARE containers (dare-12 §4, Appendix B): append-only files of frames, each frame an envelope
//! whose header carries `SequenceInfo`. Frame 0 describes the container (type, encoding,
//! policy); frames 1… are its entries.
//!
//! * **List** — frames only. **Chain** — each trailer has `ChainDigest = H(previous ‖
//!   PayloadDigest)`, starting from 64 zero octets (the §14.2 example's frame 1 is that value;
//!   its frames 2 and 3 print the same value again and so do not chain — data that cannot be
//!   right, the text is followed). **Merkle** — each trailer has the `TreeDigest` of the tree
//!   over frames 1…n ([`crate::merkle`]) and each header the `TreePosition` of Appendix C.
//! * Encrypted containers keep the recipients' keys in frame 0's policy (`EncryptKeys`,
//!   `Sealed`); every entry is encrypted to them under its own key agreement (the second
//!   §14.5 form), so anyone may append without being able to read.
//! * Opening walks the frame markers once, reading headers and trailers but not payloads, and
//!   keeps each frame's position: reading entry n is one seek. A last frame cut short by a crash
//!   is dropped (the file is truncated to the last complete frame when opened for writing);
//!   every append is fsynced before it returns, so nothing acknowledged is lost.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use mesh_crypto::{PrivateKey, PublicKey};

use crate::envelope::{sha512, DareEnvelope, EnvelopeOptions};
use crate::frame;
use crate::keys::KeyRing;
use crate::merkle::{self, MerkleProof, MerkleTree};
use crate::schema::{
    ContentMeta, DareHeader, DarePolicy, DareTrailer, IndexPosition, KeyParameters, SequenceIndex,
    SequenceInfo, DIGEST_S512, ENC_A256CBC,
};
use crate::{DareError, Result};

/// The integrity structure of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerType {
    List,
    Chain,
    Tree,
    Merkle,
}

impl ContainerType {
    pub fn name(self) -> &'static str {
        match self {
            ContainerType::List => "List",
            ContainerType::Chain => "Chain",
            ContainerType::Tree => "Tree",
            ContainerType::Merkle => "Merkle",
        }
    }

    pub fn parse(name: &str) -> Result<Self> {
        [Self::List, Self::Chain, Self::Tree, Self::Merkle]
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                DareError::Unsupported(format!(
                    "container type '{name}' (List, Chain, Tree, Merkle)"
                ))
            })
    }

    fn digests(self) -> bool {
        matches!(self, ContainerType::Chain | ContainerType::Merkle)
    }
}

/// Where a frame is and what open learned about it.
#[derive(Debug, Clone, Copy)]
pub struct FrameEntry {
    pub position: u64,
    pub size: u64,
    pub is_meta: bool,
}

/// How a container is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Read,
    Write,
}

/// Options for one appended entry.
#[derive(Default)]
pub struct AppendOptions<'a> {
    pub meta: Option<ContentMeta>,
    pub signers: Vec<&'a PrivateKey>,
}

/// An open container.
pub struct Container {
    path: PathBuf,
    file: File,
    mode: Mode,
    container_type: ContainerType,
    policy: DarePolicy,
    encrypt_to: Vec<PublicKey>,
    frames: Vec<FrameEntry>,
    /// The Merkle tree over the entries' payload digests and the last chain digest: made as the
    /// frames are walked, or — for a container opened from a catalog's index, whose frames are
    /// not walked — the first time they are asked for.
    digests: OnceLock<Digests>,
    end: u64,
    dropped: u64,
}

/// What the integrity structure holds after the last frame.
struct Digests {
    tree: MerkleTree,
    chain: [u8; 64],
}

/// Where an open starts when what a catalog's index knows is taken as it is: the frames
/// before `end` (the index checked that they are the file's).
pub(crate) struct Resume {
    pub frames: Vec<FrameEntry>,
    pub end: u64,
}

fn container_err(path: &Path, reason: impl Into<String>) -> DareError {
    DareError::Container {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

fn sync_dir(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Octets an envelope takes as a container frame (the measure of what a container holds, for
/// a store that keeps envelopes otherwise).
pub fn frame_len(env: &DareEnvelope) -> Result<u64> {
    Ok(frame_bytes(env)?.len() as u64)
}

/// A frame's header and trailer as JSON items, with its payload.
fn frame_bytes(env: &DareEnvelope) -> Result<Vec<u8>> {
    let header = mesh_encoding::to_json(&env.header)?;
    match &env.trailer {
        Some(t) => {
            let trailer = mesh_encoding::to_json(t)?;
            Ok(frame::encode(&[
                header.as_bytes(),
                &env.payload,
                trailer.as_bytes(),
            ]))
        }
        None => Ok(frame::encode(&[header.as_bytes(), &env.payload])),
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T> {
    if bytes.is_empty() {
        return mesh_encoding::from_json(b"{}").map_err(Into::into);
    }
    // Frames this code wrote are strict JSON: take the fast reader, and the lenient one only
    // when that fails (frames from other producers).
    serde_json::from_slice(bytes).or_else(|_| {
        mesh_encoding::from_json(bytes).map_err(|e| DareError::Malformed(format!("{what}: {e}")))
    })
}

impl Container {
    /// Create a new container file (it must not exist). `encrypt_to` makes an encrypted
    /// container whose entries only the holders of those keys can read.
    pub fn create(
        path: impl AsRef<Path>,
        container_type: ContainerType,
        encrypt_to: &[PublicKey],
    ) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        for key in encrypt_to {
            if key.algorithm().is_signature() {
                return Err(DareError::Unsupported(format!(
                    "encryption to a {} key: give an X448 or X25519 key",
                    key.algorithm().curve()
                )));
            }
        }
        let mut policy = DarePolicy::default();
        if !encrypt_to.is_empty() {
            policy.encryption_algorithm = Some(ENC_A256CBC.into());
            policy.encrypt_keys = encrypt_to.iter().map(KeyParameters::from_public).collect();
            policy.sealed = Some(true);
        }
        let mut header = DareHeader {
            policy: Some(policy.clone()),
            sequence_info: Some(SequenceInfo {
                data_encoding: Some("JSON".into()),
                container_type: Some(container_type.name().into()),
                index: Some(0),
                ..Default::default()
            }),
            ..Default::default()
        };
        if container_type.digests() {
            header.digest_algorithm = Some(DIGEST_S512.into());
        }
        header.set_content_meta(&ContentMeta::default())?;
        let header = mesh_encoding::to_json(&header)?;
        let bytes = frame::encode(&[header.as_bytes(), b"", b""]);
        // Made whole under a temporary name, then linked into place (which fails if the path
        // exists): a container is never seen without its header frame, even when the disk
        // fills up or the process dies half way.
        if path.exists() {
            return Err(container_err(&path, "cannot create: it exists"));
        }
        let mut tmp_name = path.clone().into_os_string();
        tmp_name.push(".creating");
        let tmp = PathBuf::from(tmp_name);
        let written = (|| -> std::io::Result<File> {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            std::fs::hard_link(&tmp, &path)?;
            Ok(file)
        })();
        let _ = std::fs::remove_file(&tmp);
        let file = written.map_err(|e| container_err(&path, format!("cannot create: {e}")))?;
        sync_dir(&path)?;
        Ok(Container {
            path,
            file,
            mode: Mode::Write,
            container_type,
            policy,
            encrypt_to: encrypt_to.to_vec(),
            frames: vec![FrameEntry {
                position: 0,
                size: bytes.len() as u64,
                is_meta: true,
            }],
            digests: OnceLock::from(Digests {
                tree: MerkleTree::new(),
                chain: [0; 64],
            }),
            end: bytes.len() as u64,
            dropped: 0,
        })
    }

    /// Open an existing container.
    pub fn open(path: impl AsRef<Path>, mode: Mode) -> Result<Self> {
        Self::open_with(path, mode, |_, _| {})
    }

    /// Open, calling `visit(index, header)` for every entry frame (1…) in order.
    pub fn open_with(
        path: impl AsRef<Path>,
        mode: Mode,
        visit: impl FnMut(u64, &DareHeader),
    ) -> Result<Self> {
        Self::open_inner(path.as_ref().to_path_buf(), mode, None, visit)
    }

    /// Open for reading, taking the frames before `resume.end` as they are and walking only
    /// those after it (`visit` sees only those). The digests are made when first asked for.
    /// `file` is the container at `path`, opened for reading (the file the index was checked
    /// against).
    pub(crate) fn open_resuming(
        path: &Path,
        file: File,
        resume: Resume,
        visit: impl FnMut(u64, &DareHeader),
    ) -> Result<Self> {
        Self::open_inner(path.to_path_buf(), Mode::Read, Some((file, resume)), visit)
    }

    fn open_inner(
        path: PathBuf,
        mode: Mode,
        resume: Option<(File, Resume)>,
        mut visit: impl FnMut(u64, &DareHeader),
    ) -> Result<Self> {
        let (file, resume) = match resume {
            Some((file, resume)) => (file, Some(resume)),
            None => (
                OpenOptions::new()
                    .read(true)
                    .write(mode == Mode::Write)
                    .open(&path)
                    .map_err(|e| container_err(&path, format!("cannot open: {e}")))?,
                None,
            ),
        };
        let file_len = file.metadata()?.len();
        let mut reader = BufReader::with_capacity(1 << 16, &file);
        let mut frames = Vec::new();
        let mut at = 0u64;
        let mut container_type = ContainerType::List;
        let mut policy = DarePolicy::default();
        let mut chain = [0u8; 64];
        let mut tree = MerkleTree::new();
        let mut complete_end = 0u64;
        let resumed = resume.is_some();
        if let Some(resume) = resume {
            let first = resume
                .frames
                .first()
                .filter(|f| f.position == 0 && resume.end <= file_len)
                .ok_or_else(|| container_err(&path, "an index that does not fit the file"))?;
            let mut bytes = vec![0u8; usize::try_from(first.size.min(file_len)).unwrap_or(0)];
            reader.seek(SeekFrom::Start(0))?;
            reader.read_exact(&mut bytes)?;
            let (items, size) = frame::decode(&bytes)?;
            if size != first.size {
                return Err(container_err(&path, "an index that does not fit the file"));
            }
            let header: DareHeader = parse_json(items[0], "frame header")?;
            let info = header.sequence_info.clone().unwrap_or_default();
            container_type =
                ContainerType::parse(info.container_type.as_deref().unwrap_or("List"))?;
            policy = header.policy.clone().unwrap_or_default();
            frames = resume.frames;
            at = resume.end;
            complete_end = at;
            reader.seek(SeekFrom::Start(at))?;
        }
        let mut marker = [0u8; 9];
        while at < file_len {
            // The forward marker.
            let avail = (file_len - at).min(9) as usize;
            reader.read_exact(&mut marker[..avail])?;
            let parsed = match frame::read_marker(&marker[..avail]) {
                Ok(Some(m)) => Some(m),
                Ok(None) => None,
                Err(_) if marker[0] == 0 => None, // zero-filled blocks after a crash
                Err(e) => {
                    return Err(container_err(
                        &path,
                        format!("corrupt frame at offset {at}: {e}"),
                    ))
                }
            };
            let Some((body_len, mlen)) = parsed else {
                break;
            };
            let size = frame::frame_size(body_len, mlen).unwrap_or(u64::MAX);
            if at.checked_add(size).is_none_or(|e| e > file_len) {
                break; // the last frame is cut short
            }
            reader.seek_relative(mlen as i64 - avail as i64)?;
            // The items: header, payload (skipped), trailer.
            let mut body = BodyReader {
                reader: &mut reader,
                left: body_len,
            };
            let header_bytes = body.item(true)?;
            let payload_len = body.skip_item()?;
            let trailer_bytes = if body.left > 0 {
                body.item(true)?
            } else {
                Some(Vec::new())
            };
            let (Some(header_bytes), Some(trailer_bytes)) = (header_bytes, trailer_bytes) else {
                return Err(container_err(
                    &path,
                    format!("corrupt frame at offset {at}"),
                ));
            };
            if body.left != 0 {
                return Err(container_err(
                    &path,
                    format!("corrupt frame at offset {at}: extra items"),
                ));
            }
            let mut tail = [0u8; 9];
            reader.read_exact(&mut tail[..mlen])?;
            frame::check_tail(&tail[..mlen], body_len, mlen)
                .map_err(|e| container_err(&path, format!("frame at offset {at}: {e}")))?;
            let index = frames.len() as u64;
            let header: DareHeader = parse_json(&header_bytes, "frame header")
                .map_err(|e| container_err(&path, format!("frame {index}: {e}")))?;
            let info = header.sequence_info.clone().unwrap_or_default();
            if index == 0 {
                let name = info.container_type.as_deref().unwrap_or("List");
                container_type = ContainerType::parse(name)?;
                policy = header.policy.clone().unwrap_or_default();
            } else {
                if info.index != Some(index) {
                    return Err(container_err(
                        &path,
                        format!(
                            "frame at offset {at} says it is frame {:?}, expected {index}",
                            info.index
                        ),
                    ));
                }
                if container_type.digests() && !resumed {
                    let trailer: DareTrailer = parse_json(&trailer_bytes, "frame trailer")?;
                    let digest = trailer.payload_digest.ok_or_else(|| {
                        container_err(&path, format!("frame {index} has no PayloadDigest"))
                    })?;
                    match container_type {
                        ContainerType::Chain => chain = sha512(&[&chain[..], &digest].concat()),
                        _ => {
                            tree.push(merkle::leaf(&digest));
                        }
                    }
                }
                visit(index, &header);
            }
            let _ = payload_len;
            frames.push(FrameEntry {
                position: at,
                size,
                is_meta: index == 0 || info.is_meta == Some(true),
            });
            at += size;
            complete_end = at;
        }
        drop(reader);
        if frames.is_empty() {
            return Err(container_err(
                &path,
                "no container header frame (empty or not a DARE container)",
            ));
        }
        let dropped = file_len - complete_end;
        if dropped > 0 && mode == Mode::Write {
            // What does not read as frames is cut off so that appends go on from the last
            // complete one: an append a crash cut short, most often, but it may be damage in the
            // middle of the file with sound frames after it. It is kept beside the container
            // (`PATH.dropped-OFFSET`), never just thrown away.
            let mut aside = path.as_os_str().to_owned();
            aside.push(format!(".dropped-{complete_end}"));
            {
                let mut tail = Vec::new();
                (&file).seek(SeekFrom::Start(complete_end))?;
                (&file).read_to_end(&mut tail)?;
                let mut kept = File::create(PathBuf::from(aside))?;
                kept.write_all(&tail)?;
                kept.sync_all()?;
            }
            file.set_len(complete_end)?;
            file.sync_all()?;
        }
        let mut encrypt_to = Vec::new();
        for key in &policy.encrypt_keys {
            encrypt_to.push(key.public_key()?);
        }
        let digests = OnceLock::new();
        if !resumed {
            let _ = digests.set(Digests { tree, chain });
        }
        Ok(Container {
            path,
            file,
            mode,
            container_type,
            policy,
            encrypt_to,
            frames,
            digests,
            end: complete_end,
            dropped,
        })
    }

    /// The tree and chain over every entry: made when the container was walked, or now from
    /// every entry's trailer (a container opened from an index).
    fn digests(&self) -> Result<&Digests> {
        if let Some(d) = self.digests.get() {
            return Ok(d);
        }
        let mut tree = MerkleTree::new();
        let mut chain = [0u8; 64];
        if self.container_type.digests() {
            for index in 1..self.frame_count() {
                let digest = self
                    .read(index)?
                    .trailer
                    .and_then(|t| t.payload_digest)
                    .ok_or_else(|| {
                        container_err(&self.path, format!("frame {index} has no PayloadDigest"))
                    })?;
                match self.container_type {
                    ContainerType::Chain => chain = sha512(&[&chain[..], &digest].concat()),
                    _ => {
                        tree.push(merkle::leaf(&digest));
                    }
                }
            }
        }
        let _ = self.digests.set(Digests { tree, chain });
        Ok(self.digests.get().expect("set just now"))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn container_type(&self) -> ContainerType {
        self.container_type
    }

    pub fn policy(&self) -> &DarePolicy {
        &self.policy
    }

    /// Encrypt the entries appended from now on to `keys` instead of the keys named in the
    /// header frame (an encrypted container only; a plain one stays plain).
    pub fn write_to(&mut self, keys: &[PublicKey]) {
        if self.is_encrypted() && !keys.is_empty() {
            self.encrypt_to = keys.to_vec();
        }
    }

    pub fn is_encrypted(&self) -> bool {
        !self.encrypt_to.is_empty()
    }

    /// Octets of an incomplete last frame found on open (dropped when opened for writing).
    pub fn dropped_octets(&self) -> u64 {
        self.dropped
    }

    /// Octets of the container's complete frames: where the next append is written.
    pub fn byte_len(&self) -> u64 {
        self.end
    }

    /// Number of frames, the header frame 0 included.
    pub fn frame_count(&self) -> u64 {
        self.frames.len() as u64
    }

    /// The open file.
    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    /// Where every frame is.
    pub fn frames(&self) -> &[FrameEntry] {
        &self.frames
    }

    pub fn frame_entry(&self, index: u64) -> Option<FrameEntry> {
        self.frames.get(index as usize).copied()
    }

    /// Indexes of the entry frames (not frame 0 nor index frames).
    pub fn entry_indexes(&self) -> impl Iterator<Item = u64> + '_ {
        self.frames
            .iter()
            .enumerate()
            .filter(|(_, f)| !f.is_meta)
            .map(|(i, _)| i as u64)
    }

    /// The Merkle root over frames 1…n (Merkle containers).
    pub fn tree_digest(&self) -> Option<[u8; 64]> {
        self.digests().ok()?.tree.root()
    }

    /// The Merkle root over frames 1…n (n ≥ 1), as it was when frame n was the last.
    pub fn tree_digest_at(&self, n: u64) -> Option<[u8; 64]> {
        self.digests().ok()?.tree.root_at(n)
    }

    /// The last chain digest (Chain containers).
    pub fn chain_digest(&self) -> Result<[u8; 64]> {
        Ok(self.digests()?.chain)
    }

    /// Number, digest and write `frames` (envelope, is-meta) with one write and one fsync.
    fn write_frames(&mut self, frames: Vec<(DareEnvelope, bool)>) -> Result<Vec<u64>> {
        if self.mode != Mode::Write {
            return Err(container_err(&self.path, "opened read-only"));
        }
        self.digests()?;
        let Some(Digests { tree, chain }) = self.digests.get_mut() else {
            return Err(container_err(&self.path, "no digests"));
        };
        let mut buf = Vec::new();
        let mut new_entries: Vec<FrameEntry> = Vec::new();
        let mut indexes = Vec::new();
        let mut position = self.end;
        let start_tree = tree.len();
        let start_chain = *chain;
        // Every frame is made before anything is written; if one cannot be, the tree and chain
        // go back to where they were (nothing of this call was written).
        let made = (|| -> Result<()> {
            for (mut env, is_meta) in frames {
                if env.detached {
                    return Err(DareError::Malformed(
                        "a container entry cannot have a detached payload".into(),
                    ));
                }
                let index = self.frames.len() + new_entries.len();
                let mut info = SequenceInfo {
                    index: Some(index as u64),
                    ..Default::default()
                };
                if is_meta {
                    info.is_meta = Some(true);
                }
                if matches!(
                    self.container_type,
                    ContainerType::Tree | ContainerType::Merkle
                ) {
                    let previous = frame::previous_frame(index as u64) as usize;
                    let entry = self
                        .frames
                        .get(previous)
                        .or_else(|| new_entries.get(previous - self.frames.len()));
                    info.tree_position = entry.map(|e| e.position);
                }
                env.header.sequence_info = Some(info);
                // A PayloadDigest the writer put in the header (as the reference may) must be the
                // payload's; chain and tree digests are the container's to compute, in the trailer,
                // so any a writer put in the header are not kept.
                if env
                    .header
                    .payload_digest
                    .as_ref()
                    .is_some_and(|claimed| claimed.as_slice() != sha512(&env.payload))
                {
                    return Err(DareError::DigestMismatch);
                }
                env.header.chain_digest = None;
                env.header.tree_digest = None;
                if self.container_type.digests() {
                    let digest = sha512(&env.payload);
                    env.header.digest_algorithm = Some(DIGEST_S512.into());
                    let trailer = env.trailer.get_or_insert_with(DareTrailer::default);
                    trailer.payload_digest = Some(digest.to_vec());
                    if self.container_type == ContainerType::Merkle {
                        trailer.tree_digest = Some(tree.push_root(merkle::leaf(&digest)).to_vec());
                    } else {
                        *chain = sha512(&[&chain[..], &digest].concat());
                        trailer.chain_digest = Some(chain.to_vec());
                    }
                }
                let bytes = frame_bytes(&env)?;
                indexes.push(index as u64);
                new_entries.push(FrameEntry {
                    position,
                    size: bytes.len() as u64,
                    is_meta,
                });
                position += bytes.len() as u64;
                buf.extend_from_slice(&bytes);
            }
            Ok(())
        })();
        if let Err(e) = made {
            tree.truncate(start_tree);
            *chain = start_chain;
            return Err(e);
        }
        let written = (|| -> std::io::Result<()> {
            self.file.seek(SeekFrom::Start(self.end))?;
            self.file.write_all(&buf)?;
            self.file.sync_data()
        })();
        if let Err(e) = written {
            // Leave the file as it was: nothing from this call is acknowledged.
            let _ = self.file.set_len(self.end);
            tree.truncate(start_tree);
            *chain = start_chain;
            return Err(e.into());
        }
        self.frames.extend(new_entries);
        self.end = position;
        Ok(indexes)
    }

    /// Make the envelope for an entry: encrypted to the container's keys, signed by the signers.
    pub fn make_entry(
        &self,
        plaintext: &[u8],
        options: &AppendOptions<'_>,
    ) -> Result<DareEnvelope> {
        let recipients: Vec<&PublicKey> = self.encrypt_to.iter().collect();
        DareEnvelope::encode(
            plaintext,
            &EnvelopeOptions {
                meta: Some(options.meta.clone().unwrap_or_default()),
                signers: options.signers.clone(),
                recipients,
                ..Default::default()
            },
        )
    }

    /// [`Self::make_entry`] with the metadata and signers given directly.
    pub fn make_entry_with(
        &self,
        plaintext: &[u8],
        meta: ContentMeta,
        signers: &[&PrivateKey],
    ) -> Result<DareEnvelope> {
        self.make_entry(
            plaintext,
            &AppendOptions {
                meta: Some(meta),
                signers: signers.to_vec(),
            },
        )
    }

    /// Append one entry; returns its frame index once it is on disk.
    pub fn append(&mut self, plaintext: &[u8], options: &AppendOptions<'_>) -> Result<u64> {
        let env = self.make_entry(plaintext, options)?;
        self.append_envelope(env)
    }

    /// Append an envelope made elsewhere (kept as it is, signatures included, with the
    /// container's sequence information and digests added).
    pub fn append_envelope(&mut self, env: DareEnvelope) -> Result<u64> {
        Ok(self.append_envelopes(vec![env])?[0])
    }

    /// Append several envelopes with one write and one fsync.
    pub fn append_envelopes(&mut self, envs: Vec<DareEnvelope>) -> Result<Vec<u64>> {
        self.write_frames(envs.into_iter().map(|e| (e, false)).collect())
    }

    /// Append an index frame listing every frame's position (dare-12 §4.1.2, §6.2).
    pub fn write_index(&mut self) -> Result<u64> {
        let mut positions = Vec::with_capacity(self.frames.len());
        for (i, f) in self.frames.iter().enumerate() {
            positions.push(IndexPosition {
                index: i as u64,
                position: f.position,
                unique_id: None,
            });
        }
        let mut env = DareEnvelope::default();
        env.header.sequence_index = Some(SequenceIndex {
            full: Some(true),
            positions,
        });
        Ok(self.write_frames(vec![(env, true)])?[0])
    }

    /// The raw octets of frame `index`.
    pub fn read_frame_bytes(&self, index: u64) -> Result<Vec<u8>> {
        let entry = self.frame_entry(index).ok_or(DareError::NoSuchFrame {
            index,
            count: self.frame_count(),
        })?;
        let mut buf = vec![0u8; entry.size as usize];
        let mut file = &self.file;
        file.seek(SeekFrom::Start(entry.position))?;
        file.read_exact(&mut buf)?;
        Ok(buf)
    }

    /// Frame `index` as an envelope (payload as stored: ciphertext if encrypted).
    pub fn read(&self, index: u64) -> Result<DareEnvelope> {
        let bytes = self.read_frame_bytes(index)?;
        let (items, _) = frame::decode(&bytes)?;
        let header: DareHeader = parse_json(items[0], "frame header")?;
        let trailer = match items.get(2) {
            Some(t) if !t.is_empty() => Some(parse_json::<DareTrailer>(t, "frame trailer")?),
            _ => None,
        };
        Ok(DareEnvelope {
            header,
            payload: items[1].to_vec(),
            detached: false,
            trailer,
        })
    }

    /// The plaintext of frame `index`, decrypted with `keys` if the frame is encrypted.
    pub fn read_plaintext(&self, index: u64, keys: &KeyRing) -> Result<Vec<u8>> {
        self.read(index)?.plaintext(keys)
    }

    /// Proof that frame `index` (1…) is in the tree whose root is the current TreeDigest.
    pub fn proof(&self, index: u64) -> Result<MerkleProof> {
        if self.container_type != ContainerType::Merkle {
            return Err(DareError::Unsupported(format!(
                "proofs on a {} container (only Merkle containers have a tree)",
                self.container_type.name()
            )));
        }
        if index == 0 {
            return Err(DareError::NoSuchFrame {
                index,
                count: self.frame_count(),
            });
        }
        let tree = &self.digests()?.tree;
        tree.proof(index - 1, tree.len())
            .ok_or(DareError::NoSuchFrame {
                index,
                count: self.frame_count(),
            })
    }

    /// Check that frame `index`'s payload is in the tree with root `root`.
    pub fn check_proof(&self, index: u64, proof: &MerkleProof, root: &[u8; 64]) -> Result<()> {
        let env = self.read(index)?;
        let leaf = merkle::leaf(&sha512(&env.payload));
        if proof.index + 1 != index || !proof.verify(&leaf, root) {
            return Err(DareError::BadProof);
        }
        Ok(())
    }

    /// Read every frame and check every payload digest, chain digest and tree digest.
    /// Returns the number of frames checked.
    pub fn verify(&self) -> Result<u64> {
        let mut chain = [0u8; 64];
        let mut tree = MerkleTree::new();
        for index in 1..self.frame_count() {
            let env = self.read(index)?;
            let digest = sha512(&env.payload);
            let trailer = env.trailer.clone().unwrap_or_default();
            let bad = |what: &str| {
                container_err(&self.path, format!("frame {index}: {what} does not match"))
            };
            for claimed in trailer
                .payload_digest
                .iter()
                .chain(env.header.payload_digest.iter())
            {
                if claimed.as_slice() != digest {
                    return Err(bad("PayloadDigest"));
                }
            }
            match self.container_type {
                ContainerType::Chain => {
                    chain = sha512(&[&chain[..], &digest].concat());
                    if trailer.chain_digest.as_deref() != Some(&chain[..]) {
                        return Err(bad("ChainDigest"));
                    }
                }
                ContainerType::Merkle => {
                    let root = tree.push_root(merkle::leaf(&digest));
                    if trailer.tree_digest.as_deref() != Some(&root[..]) {
                        return Err(bad("TreeDigest"));
                    }
                }
                _ => {}
            }
        }
        Ok(self.frame_count())
    }
}

struct BodyReader<'a, R: Read + Seek> {
    reader: &'a mut BufReader<R>,
    left: u64,
}

impl<R: Read + Seek> BodyReader<'_, R> {
    fn item_len(&mut self) -> Result<Option<u64>> {
        if self.left == 0 {
            return Ok(None);
        }
        let mut tag = [0u8; 1];
        self.reader.read_exact(&mut tag)?;
        if tag[0] & 0xFC != 0xF0 {
            return Ok(None);
        }
        let width = 1u64 << (tag[0] & 3);
        if self.left < 1 + width {
            return Ok(None);
        }
        let mut len_bytes = [0u8; 8];
        self.reader.read_exact(&mut len_bytes[..width as usize])?;
        let mut len = 0u64;
        for b in &len_bytes[..width as usize] {
            len = (len << 8) | u64::from(*b);
        }
        self.left -= 1 + width;
        if len > self.left {
            return Ok(None);
        }
        self.left -= len;
        Ok(Some(len))
    }

    fn item(&mut self, keep: bool) -> Result<Option<Vec<u8>>> {
        let Some(len) = self.item_len()? else {
            return Ok(None);
        };
        if len > 1 << 24 {
            return Ok(None);
        }
        let mut buf = vec![0u8; len as usize];
        self.reader.read_exact(&mut buf)?;
        Ok(if keep { Some(buf) } else { Some(Vec::new()) })
    }

    fn skip_item(&mut self) -> Result<u64> {
        let len = self
            .item_len()?
            .ok_or_else(|| DareError::Malformed("frame without a payload item".into()))?;
        self.reader.seek_relative(len as i64)?;
        Ok(len)
    }
}
