//! Files of the device context: atomic replacement (temporary file, fsync, rename, fsync of the
//! directory) and passphrase-sealed secrets.
//! Sealed files are [`mesh_dare::passphrase`] envelopes.

use std::io::Write;
use std::path::Path;

use mesh_dare::passphrase::PassphraseKey;

use crate::{ClientError, Result};

/// Replace `path` with `data` so that a crash leaves either the old or the new file.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp)?;
        file.write_all(data)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// The list kept as JSON in `path`: none without the file; a file that cannot be read is an
/// error, never taken for none (the next write would replace what it keeps).
pub(crate) fn read_list<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| ClientError::Invalid(format!("{} cannot be read: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

/// Write the list kept at `path` (JSON).
pub(crate) fn write_list<T: serde::Serialize>(path: &Path, list: &[T]) -> Result<()> {
    write_atomic(
        path,
        &serde_json::to_vec_pretty(list).map_err(|e| ClientError::Invalid(e.to_string()))?,
    )
}

/// Add `item` to the list kept at `path`, under its lock.
pub(crate) fn append_to_list<T>(path: &Path, item: T) -> Result<()>
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    locked(path, || {
        let mut list: Vec<T> = read_list(path)?;
        list.push(item);
        write_list(path, &list)
    })
}

/// Run `f` holding an exclusive lock on the file `NAME.lock` beside `path` (two processes of
/// one device changing the same file must not interleave: one's read-change-write would undo
/// the other's).
pub(crate) fn locked<T>(path: &Path, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path.with_extension("lock"))?;
    lock.lock()?;
    let result = f();
    let _ = lock.unlock();
    result
}

/// Encrypt `plaintext` under `passphrase` ([`mesh_dare::passphrase`]).
pub fn seal(plaintext: &[u8], passphrase: &str) -> Result<Vec<u8>> {
    Ok(mesh_dare::passphrase::seal(plaintext, passphrase)?)
}

/// Decrypt a sealed file's content with `passphrase`.
pub fn open(data: &[u8], passphrase: &str, what: &str) -> Result<Vec<u8>> {
    Ok(open_keeping_key(data, passphrase, what)?.1)
}

/// Decrypt a sealed file's content with `passphrase`, keeping the key that opened it (to seal
/// the file again without the passphrase).
pub fn open_keeping_key(
    data: &[u8],
    passphrase: &str,
    what: &str,
) -> Result<(PassphraseKey, Vec<u8>)> {
    PassphraseKey::open_with(data, passphrase).map_err(|e| bad_passphrase(e, what))
}

/// A wrong passphrase (or key) as the person at the keyboard is told it.
pub(crate) fn bad_passphrase(e: mesh_dare::DareError, what: &str) -> ClientError {
    match e {
        mesh_dare::DareError::BadMac | mesh_dare::DareError::Decryption(_) => {
            ClientError::BadPassphrase(what.to_string())
        }
        other => other.into(),
    }
}
