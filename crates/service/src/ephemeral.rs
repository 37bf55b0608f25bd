//! Short-lived state of the embedded store: tickets, rendezvous channels, the nonces of
//! authenticated requests (against replay) and the answers kept with them.
//!
//! Bounded in entries ([`MAX_ENTRIES`]) and in octets ([`MAX_BYTES`]; small values — nonces —
//! are still taken when large ones no longer are, so kept answers cannot crowd out replay
//! protection). The nonces of requests that change something are also appended to a log file and
//! synced before the request runs, so a restarted service still knows them: such a request
//! captured before a restart is a replay after it.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use crate::store::{unix_now, StoreError, StoreResult};

/// Most entries kept at once.
pub const MAX_ENTRIES: usize = 1_000_000;
/// Most octets of values kept at once.
pub const MAX_BYTES: usize = 256 << 20;
/// Values up to this size (a nonce's binding digest) are taken while the octet budget is spent.
const SMALL: usize = 128;

/// The kind whose entries are logged to disk: the nonces of requests that change something.
const LOGGED: &str = crate::host::NONCE;

pub struct Ephemeral {
    map: HashMap<(String, String), (Vec<u8>, u64)>,
    bytes: usize,
    log: Option<Log>,
}

struct Log {
    path: PathBuf,
    file: File,
    /// Lines written since the log was last compacted.
    lines: usize,
}

fn full(what: &str) -> StoreError {
    StoreError::Io(std::io::Error::other(format!(
        "the store of short-lived state is full ({what})"
    )))
}

impl Ephemeral {
    /// In memory only.
    pub fn in_memory() -> Self {
        Ephemeral {
            map: HashMap::new(),
            bytes: 0,
            log: None,
        }
    }

    /// With nonces logged in `dir` (and those still live read back from it).
    pub fn logged(dir: &Path) -> StoreResult<Self> {
        let path = dir.join("nonces.log");
        let mut state = Self::in_memory();
        let now = unix_now();
        if let Ok(file) = File::open(&path) {
            for line in BufReader::new(file).lines() {
                let line = line?;
                let mut parts = line.split(' ');
                let (Some(expires), Some(key), Some(value)) =
                    (parts.next(), parts.next(), parts.next())
                else {
                    continue; // a line cut short by a crash
                };
                let (Ok(expires), Ok(value)) = (expires.parse::<u64>(), hex::decode(value)) else {
                    continue;
                };
                if expires > now {
                    state.insert(LOGGED, key, value, expires);
                }
            }
        }
        state.log = Some(Log {
            file: File::create(path.with_extension("tmp"))?,
            path,
            lines: 0,
        });
        state.compact()?;
        Ok(state)
    }

    fn insert(&mut self, kind: &str, key: &str, value: Vec<u8>, expires: u64) {
        self.bytes += value.len();
        if let Some((old, _)) = self
            .map
            .insert((kind.to_string(), key.to_string()), (value, expires))
        {
            self.bytes -= old.len();
        }
    }

    fn prune(&mut self, now: u64) {
        let mut freed = 0;
        self.map.retain(|_, (v, e)| {
            let keep = *e + 60 > now;
            if !keep {
                freed += v.len();
            }
            keep
        });
        self.bytes -= freed;
    }

    /// Rewrite the log with the live nonces only.
    fn compact(&mut self) -> StoreResult<()> {
        let Some(log) = &self.log else {
            return Ok(());
        };
        let tmp = log.path.with_extension("tmp");
        let mut out = std::io::BufWriter::new(File::create(&tmp)?);
        let mut lines = 0;
        for ((kind, key), (value, expires)) in &self.map {
            if kind == LOGGED {
                let digest = &value[..value.len().min(64)];
                writeln!(out, "{expires} {key} {}", hex::encode(digest))?;
                lines += 1;
            }
        }
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&tmp, &log.path)?;
        if let Some(dir) = log.path.parent() {
            File::open(dir)?.sync_all()?;
        }
        let file = OpenOptions::new().append(true).open(&log.path)?;
        let path = log.path.clone();
        self.log = Some(Log { path, file, lines });
        Ok(())
    }

    /// As [`crate::store::Store::put_ephemeral`].
    pub fn put(
        &mut self,
        kind: &str,
        key: &str,
        value: &[u8],
        expires: u64,
        only_new: bool,
    ) -> StoreResult<bool> {
        let now = unix_now();
        if self.map.len() % 4096 == 4095 || self.map.len() >= MAX_ENTRIES {
            self.prune(now);
        }
        if self.map.len() >= MAX_ENTRIES {
            return Err(full("entries"));
        }
        if value.len() > SMALL && self.bytes + value.len() > MAX_BYTES {
            self.prune(now);
            if self.bytes + value.len() > MAX_BYTES {
                return Err(full("octets"));
            }
        }
        let slot = (kind.to_string(), key.to_string());
        if only_new && self.map.get(&slot).is_some_and(|(_, e)| *e > now) {
            return Ok(false);
        }
        // A new nonce is on disk before the request it came with runs.
        if kind == LOGGED && only_new {
            if let Some(log) = &mut self.log {
                let digest = &value[..value.len().min(64)];
                let line = format!("{expires} {key} {}\n", hex::encode(digest));
                // A line cut short (a full disk) is cut off again, so that the next line does
                // not run on from it and go unread after a restart.
                let at = log.file.metadata()?.len();
                if let Err(e) = log
                    .file
                    .write_all(line.as_bytes())
                    .and_then(|()| log.file.sync_data())
                {
                    let _ = log.file.set_len(at);
                    return Err(e.into());
                }
                log.lines += 1;
            }
        }
        self.insert(kind, key, value.to_vec(), expires);
        let compact = self
            .log
            .as_ref()
            .is_some_and(|l| l.lines > 100_000 && l.lines > 4 * self.map.len());
        if compact {
            self.prune(now);
            self.compact()?;
        }
        Ok(true)
    }

    pub fn get(&self, kind: &str, key: &str) -> Option<(Vec<u8>, u64)> {
        self.map.get(&(kind.to_string(), key.to_string())).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_outlive_a_restart_and_a_cut_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let later = unix_now() + 600;
        {
            let mut e = Ephemeral::logged(dir.path()).unwrap();
            assert!(e.put("nonce", "N1", &[7; 64], later, true).unwrap());
            assert!(e.put("ticket", "T1", b"ticket", later, true).unwrap());
            assert!(!e.put("nonce", "N1", &[7; 64], later, true).unwrap());
        }
        // A crash in the middle of a line.
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join("nonces.log"))
            .unwrap();
        f.write_all(b"99999999999 N2").unwrap();
        let mut e = Ephemeral::logged(dir.path()).unwrap();
        assert!(!e.put("nonce", "N1", &[7; 64], later, true).unwrap());
        assert_eq!(e.get("nonce", "N1").unwrap().0, vec![7; 64]);
        assert!(e.get("ticket", "T1").is_none(), "tickets are not logged");
        assert!(e.put("nonce", "N2", &[1; 64], later, true).unwrap());
    }

    #[test]
    fn large_values_cannot_crowd_out_nonces() {
        let mut e = Ephemeral::in_memory();
        let later = unix_now() + 600;
        let big = vec![0u8; 16 << 10];
        let mut n = 0;
        while e.put("nonce", &format!("R{n}"), &big, later, false).is_ok() {
            n += 1;
        }
        assert_eq!(n, MAX_BYTES / big.len());
        assert!(e.put("nonce", "small", &[0; 64], later, true).unwrap());
    }
}
