//! Unlocked sessions (`mesh unlock`, `mesh lock`, `$MESH_SESSION`): the passphrase is asked
//! for once, and the key it derives for `device.secrets` ([`PassphraseKey`]) is kept for a
//! while, so that each command opens the device with one symmetric decryption instead of an
//! Argon2id pass.
//!
//! The key is kept in `DIR/sessions/ID`, a DARE envelope encrypted under a random key that
//! only the session's token carries (`ID.KEY`, handed to the user and given back in
//! `$MESH_SESSION`): the file alone opens nothing, nor does the token without the file. The
//! envelope holds the device's UDF, the kept key and the session's end (NotOnOrAfter, seconds
//! since the epoch); the end is also in the clear header, only so that ended sessions can be
//! swept without their tokens. A session ends at its end (its file is removed by the next use),
//! at `mesh lock` (every session file removed), and when the device's secrets are sealed under
//! another passphrase (the kept key no longer opens them).

use std::path::PathBuf;
use std::time::Duration;

use mesh_dare::crypt::BaseSeed;
use mesh_dare::passphrase::PassphraseKey;
use mesh_dare::{DareEnvelope, EnvelopeOptions};
use mesh_encoding::base64url;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::context::{Device, MeshHome};
use crate::{store, ClientError, Result};

/// The environment variable carrying a session's token.
pub const SESSION_ENV: &str = "MESH_SESSION";

/// The longest a session may last.
pub const MAX_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// The clear header member recording a session's end.
const END_MEMBER: &str = "NotOnOrAfter";

/// What a session file's envelope holds.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct SessionContent {
    device: String,
    not_on_or_after: u64,
    #[serde(with = "base64url")]
    key: Vec<u8>,
}

/// A new session: its token and when it ends (seconds since the epoch).
pub struct Unlocked {
    pub token: String,
    pub not_on_or_after: u64,
}

impl Unlocked {
    /// When the session ends, as a date and time (UTC).
    pub fn ends(&self) -> String {
        time::OffsetDateTime::from_unix_timestamp(self.not_on_or_after as i64)
            .map(mesh_encoding::datetime::format)
            .unwrap_or_default()
    }
}

fn now() -> u64 {
    time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64
}

/// A token's parts: the session's id (32 lowercase hex digits: a file name and nothing else)
/// and its key.
fn parse_token(token: &str) -> Option<(String, BaseSeed)> {
    let (id, key) = token.trim().split_once('.')?;
    if !is_session_id(id) {
        return None;
    }
    let key: [u8; 32] = base64url::decode(key).ok()?.try_into().ok()?;
    Some((id.to_string(), BaseSeed(key)))
}

fn is_session_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn ended(why: &str) -> ClientError {
    ClientError::SessionEnded(why.to_string())
}

impl MeshHome {
    fn sessions_dir(&self) -> PathBuf {
        self.dir().join("sessions")
    }

    /// Open the device with `passphrase` and keep its key for `lifetime` (at most
    /// [`MAX_LIFETIME`]): the token that opens it until then. Sessions that have ended are
    /// swept on the way.
    pub fn unlock(&self, passphrase: &str, lifetime: Duration) -> Result<Unlocked> {
        if lifetime.is_zero() || lifetime > MAX_LIFETIME {
            return Err(ClientError::Invalid(format!(
                "a session lasts for some time, and at most {} days",
                MAX_LIFETIME.as_secs() / 86400
            )));
        }
        let device = self.open(passphrase)?;
        self.sweep_sessions();
        let mut id = [0u8; 16];
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut id);
        rand::rngs::OsRng.fill_bytes(&mut key);
        let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let not_on_or_after = now() + lifetime.as_secs();
        let content = SessionContent {
            device: device.udf().to_string(),
            not_on_or_after,
            key: device.passphrase_key().to_bytes()?,
        };
        let plain =
            serde_json::to_vec(&content).map_err(|e| ClientError::Invalid(e.to_string()))?;
        let mut envelope = DareEnvelope::encode(
            &plain,
            &EnvelopeOptions {
                symmetric: Some((BaseSeed(key), "session".into())),
                ..Default::default()
            },
        )?;
        envelope
            .header
            .extra
            .insert(END_MEMBER.into(), not_on_or_after.into());
        let dir = self.sessions_dir();
        if std::fs::symlink_metadata(&dir).is_ok_and(|m| !m.is_dir()) {
            return Err(ClientError::Invalid(format!(
                "{} is not a directory of this device's (a link, or a file): sessions are kept \
                 only in the device's own directory",
                dir.display()
            )));
        }
        crate::context::create_private_dir(&dir)?;
        store::write_atomic(
            &self.sessions_dir().join(&id),
            envelope.to_json()?.as_bytes(),
        )?;
        Ok(Unlocked {
            token: format!("{id}.{}", base64url::encode(&key)),
            not_on_or_after,
        })
    }

    /// Open the device with a session's token.
    pub fn open_session(&self, token: &str) -> Result<Device> {
        if !self.has_device() {
            return Err(ClientError::NoDevice);
        }
        let (id, key) = parse_token(token).ok_or_else(|| ended("the token is not one"))?;
        self.sweep_sessions();
        let path = self.sessions_dir().join(&id);
        if !self.session_files().contains(&path) {
            return Err(ended("it was locked, or has ended"));
        }
        let data = match std::fs::read(&path) {
            Ok(data) => data,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ended("it was locked, or has ended"))
            }
            Err(e) => return Err(e.into()),
        };
        let content: SessionContent = DareEnvelope::parse(&data)
            .and_then(|env| env.decrypt_with_seed(&key))
            .ok()
            .and_then(|plain| serde_json::from_slice(&plain).ok())
            .ok_or_else(|| ended("the token does not open it"))?;
        if now() >= content.not_on_or_after {
            let _ = std::fs::remove_file(&path);
            return Err(ended("its time is up"));
        }
        let kept = PassphraseKey::from_bytes(&content.key)?;
        let sealed = std::fs::read(self.secrets_path())?;
        let plain = kept
            .open(&sealed)
            .map_err(|_| ended("the device's secrets are sealed under another passphrase"))?;
        let device = self.device_from(kept, &plain)?;
        if device.udf() != content.device {
            return Err(ended("it was made for another device"));
        }
        Ok(device)
    }

    /// Seal the device's secrets under `new` instead of `old` (which must open them), and end
    /// every session (their kept keys would no longer open the secrets; their files go too):
    /// how many there were.
    pub fn change_passphrase(&self, old: &str, new: &str) -> Result<usize> {
        let mut device = self.open(old)?;
        device.set_passphrase_key(PassphraseKey::new(new)?)?;
        // The sessions' keys no longer open the secrets: their files go too, as far as they
        // can (the passphrase is changed whatever is left).
        Ok(self.remove_sessions(|_| true))
    }

    /// End every session of this device (their files removed): how many there were.
    pub fn lock(&self) -> Result<usize> {
        if !self.has_device() {
            return Err(ClientError::NoDevice);
        }
        let ended = self.remove_sessions(|_| true);
        // What could not be removed is still a session.
        match self.session_files().len() {
            0 => Ok(ended),
            left => Err(ClientError::Invalid(format!(
                "{left} session file(s) in {} could not be removed",
                self.sessions_dir().display()
            ))),
        }
    }

    /// The session files: regular files named as sessions are, in a sessions directory that
    /// is a directory (never through a symbolic link; anything else there is left alone).
    fn session_files(&self) -> Vec<PathBuf> {
        let dir = self.sessions_dir();
        if !std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
            return Vec::new();
        }
        std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| {
                is_session_id(&e.file_name().to_string_lossy())
                    && e.file_type().is_ok_and(|t| t.is_file())
            })
            .map(|e| e.path())
            .collect()
    }

    /// Remove the session files `ended` picks (a file already gone counts as removed by
    /// whoever removed it): how many this removed.
    fn remove_sessions(&self, ended: impl Fn(&std::path::Path) -> bool) -> usize {
        self.session_files()
            .into_iter()
            .filter(|path| ended(path) && std::fs::remove_file(path).is_ok())
            .count()
    }

    /// Remove the session files whose clear header says they have ended, or that do not read
    /// as a session's.
    fn sweep_sessions(&self) {
        let now = now();
        self.remove_sessions(|path| {
            let end = std::fs::read(path)
                .ok()
                .and_then(|d| DareEnvelope::parse(&d).ok())
                .and_then(|env| env.header.extra.get(END_MEMBER)?.as_u64());
            end.is_none_or(|end| now >= end)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_token_names_a_file_and_nothing_else() {
        let key = base64url::encode(&[7u8; 32]);
        assert!(parse_token(&format!("{}.{key}", "a".repeat(32))).is_some());
        for id in ["../../device.secrets", &"A".repeat(32), &"a".repeat(31), ""] {
            assert!(parse_token(&format!("{id}.{key}")).is_none(), "{id}");
        }
        assert!(parse_token(&format!(
            "{}.{}",
            "a".repeat(32),
            base64url::encode(&[7u8; 31])
        ))
        .is_none());
        assert!(parse_token(&"a".repeat(32)).is_none());
    }

    proptest! {
        #[test]
        fn any_token_parses_to_a_plain_file_name_or_nothing(token in ".{0,120}") {
            if let Some((id, _)) = parse_token(&token) {
                prop_assert_eq!(id.len(), 32);
                prop_assert!(!id.contains('/') && !id.contains('.'));
            }
        }
    }
}
