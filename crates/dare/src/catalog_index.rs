//! A catalog's index: what opening a catalog learns by walking every frame — where each frame
//! is and which frame holds the current value of each UniqueId — kept beside it
//! (`NAME.dare.index`) so that a read opens a catalog of any size by reading the index and
//! walking only the frames appended since.
//!
//! The index is a cache, never the record: it names the length of the catalog it describes and
//! a digest of the catalog's last frame, and carries a digest of itself; an index that does not
//! match the catalog in every one of these is not used (the catalog is walked, as without one).
//! It is written whole under a temporary name and renamed into place.
//!
//! Layout (integers little-endian): `MESHCIX1`; the length covered (u64); SHA-256 of the last
//! frame's octets; the frame count (u64) and each frame's size (u64) and is-meta flag (u8),
//! positions following from the sizes; the entry count (u64) and each entry's UniqueId
//! (u16 length, octets) and frame (u64); SHA-256 of all that.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::catalog_state::Current;
use crate::container::{Container, FrameEntry, Resume};

/// An index larger than this is not read (one of 100,000 entries takes about 8 MB).
const MAX_INDEX_OCTETS: u64 = 1 << 30;

const MAGIC: &[u8; 8] = b"MESHCIX1";

/// What an index holds.
pub struct CatalogIndex {
    frames: Vec<FrameEntry>,
    end: u64,
    current: Current,
}

/// The index file of the catalog at `path`.
pub fn index_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".index");
    PathBuf::from(name)
}

/// SHA-256 of the octets of `file` from `from` to `to` (the catalog's last frame), read in
/// pieces; `None` if the file does not reach `to`.
fn digest_of(mut file: &File, from: u64, to: u64) -> Option<[u8; 32]> {
    if to < from || file.metadata().ok()?.len() < to {
        return None;
    }
    file.seek(SeekFrom::Start(from)).ok()?;
    let mut hash = Sha256::new();
    let copied = std::io::copy(&mut file.take(to - from), &mut hash).ok()?;
    (copied == to - from).then(|| hash.finalize().into())
}

/// Reads the index's octets in order; `None` at the first that is missing.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.bytes.len() < n {
            return None;
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Some(head)
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }
}

impl CatalogIndex {
    /// The index of the catalog at `path`, if there is one that matches the catalog `file` (that
    /// file, opened once: what is checked is what is read) up to the length it covers; frames
    /// appended since are the caller's to walk.
    pub fn load(path: &Path, file: &File) -> Option<CatalogIndex> {
        let mut index = File::open(index_path(path)).ok()?;
        if index.metadata().ok()?.len() > MAX_INDEX_OCTETS {
            return None;
        }
        let mut bytes = Vec::new();
        index.read_to_end(&mut bytes).ok()?;
        let (body, sum) = bytes.split_at(bytes.len().checked_sub(32)?);
        if Sha256::digest(body).as_slice() != sum {
            return None;
        }
        let mut r = Reader { bytes: body };
        if r.take(8)? != MAGIC {
            return None;
        }
        let end = r.u64()?;
        let last_digest: [u8; 32] = r.take(32)?.try_into().ok()?;
        let count = r.u64()?;
        // Each frame takes 9 octets: a count the file cannot hold is refused before anything
        // is reserved for it.
        if count.checked_mul(9)? > r.bytes.len() as u64 {
            return None;
        }
        let mut frames = Vec::with_capacity(count as usize);
        let mut position = 0u64;
        for _ in 0..count {
            let size = r.u64()?;
            let is_meta = r.take(1)?[0] == 1;
            frames.push(FrameEntry {
                position,
                size,
                is_meta,
            });
            position = position.checked_add(size)?;
        }
        if position != end {
            return None;
        }
        let entries = r.u64()?;
        if entries.checked_mul(10)? > r.bytes.len() as u64 {
            return None;
        }
        // Written in order, and kept so: the UniqueIds in one buffer, checked to be strictly
        // increasing (so no UniqueId twice), looked up by binary search; nothing is made per
        // entry unless the catalog is changed.
        let mut ids = String::with_capacity(r.bytes.len());
        let mut list = Vec::with_capacity(entries as usize);
        for _ in 0..entries {
            let len = r.u16()? as usize;
            let id = std::str::from_utf8(r.take(len)?).ok()?;
            let frame = r.u64()?;
            if frame == 0 || frame >= count {
                return None;
            }
            let start = u32::try_from(ids.len()).ok()?;
            ids.push_str(id);
            list.push((start, u32::try_from(ids.len()).ok()?, frame));
        }
        let current = Current::sorted(ids, list)?;
        if !r.bytes.is_empty() {
            return None;
        }
        let last = frames.last()?;
        if digest_of(file, last.position, end)? != last_digest {
            return None;
        }
        Some(CatalogIndex {
            frames,
            end,
            current,
        })
    }

    /// Where an open starts from this index.
    pub(crate) fn resume(self) -> (Resume, Current) {
        (
            Resume {
                frames: self.frames,
                end: self.end,
            },
            self.current,
        )
    }

    /// Write the index of `container` (a catalog) whose state is `current`. What is hashed is
    /// read through the container's own file, the one its frames were learned from, never the
    /// path again (which a rename may have pointed at another file since). A cache: no fsync
    /// (a torn index does not match its digest and is not used), and a failure to write it is
    /// no failure of the read that made it.
    pub fn store(container: &Container, current: &Current) {
        let frames = container.frames();
        let Some(last) = frames.last() else {
            return;
        };
        let end = last.position + last.size;
        let Some(last_digest) = digest_of(container.file(), last.position, end) else {
            return;
        };
        let mut out = Vec::with_capacity(64 + frames.len() * 9 + current.len() * 60);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&end.to_le_bytes());
        out.extend_from_slice(&last_digest);
        out.extend_from_slice(&(frames.len() as u64).to_le_bytes());
        for f in frames {
            out.extend_from_slice(&f.size.to_le_bytes());
            out.push(u8::from(f.is_meta));
        }
        out.extend_from_slice(&(current.len() as u64).to_le_bytes());
        for (id, frame) in current.iter() {
            let Ok(len) = u16::try_from(id.len()) else {
                return; // a UniqueId no index holds: the catalog is walked
            };
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(id.as_bytes());
            out.extend_from_slice(&frame.to_le_bytes());
        }
        let sum = Sha256::digest(&out);
        out.extend_from_slice(&sum);
        let target = index_path(container.path());
        let mut tmp = target.clone().into_os_string();
        // Readers in other processes may write it at the same time: each its own file.
        tmp.push(format!(
            ".{}.{}.tmp",
            std::process::id(),
            rand::random::<u64>()
        ));
        let tmp = PathBuf::from(tmp);
        let written = std::fs::File::create(&tmp)
            .and_then(|mut f| f.write_all(&out))
            .and_then(|_| std::fs::rename(&tmp, &target));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}
