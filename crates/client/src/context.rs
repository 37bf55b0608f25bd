//! The device context on disk (schema-08 §3; protocol-09 §3): one directory holding the device's
//! secret and profile, and for each account on the device its profile and its replicas of the
//! account's catalogs.
//!
//! ```text
//! DIR/device.secrets   the device secret and each account's secrets, sealed by the passphrase
//! DIR/device.dare      the device's self-signed ProfileDevice (public)
//! DIR/config.json      the default account
//! DIR/accounts/ADDRESS/profile.dare        the self-signed ProfileUser (public)
//! DIR/accounts/ADDRESS/MMM_Credential.dare the catalogs, DARE Merkle containers encrypted to
//!                                          the account's encryption key
//! ```
//!
//! No private key is written in the clear: secrets are in the sealed file, catalog entries are
//! encrypted.

use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use mesh_crypto::{PrivateKey, PublicKey, SecretSeed};
use mesh_dare::catalog::Catalog;
use mesh_dare::passphrase::PassphraseKey;
use mesh_dare::{DareEnvelope, KeyParameters, KeyRing, Mode};
use mesh_schema::assertion::ActivationDevice;
use mesh_schema::catalog::CatalogedDevice;
use mesh_schema::profile::{ProfileDevice, ProfileUser};
use mesh_schema::rights::Rights;
use mesh_schema::{expect_item, signed, MeshItem};
use mesh_udf::{random, KeySpecifier};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha512};

use std::collections::HashMap;

use crate::agreements::AgreementCache;
use crate::authority::{AdminKeys, Administration};
use crate::catalogs::CatalogKind;
use crate::store;
use crate::{ClientError, Result};

/// Ephemeral keys per Operate request (each operation is a few hundred octets).
const OPERATE_BATCH: usize = 100;

/// The environment variable naming the data directory.
pub const DATA_ENV: &str = "MESH_DATA";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AccountSecrets {
    address: String,
    /// The account's root ([`crate::authority`]), held by the device the user keeps it on.
    account_secret: Option<String>,
    /// The administration keys, on an administrator device that does not hold the root (one
    /// holding it derives them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    administration: Option<Administration>,
    /// What a device connected without administrator rights holds instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    grant: Option<AccountGrant>,
    /// Its grants of earlier key generations, to read what was written before a rotation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    earlier_grants: Vec<AccountGrant>,
    /// The account encryption key itself, as devices connected before threshold decryption
    /// were given it: still read (so that they keep working), never written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    account_encryption_key: Option<String>,
}

/// What a device connected to an account without administrator rights is given to read the
/// account's catalogs (its rights, [`Rights`]): with the `threshold` right its share of the
/// account encryption key (the service holds the other, under the access-catalog capability
/// `Capability`); with the `web` right the account encryption key itself; and the key of
/// catalog UniqueIds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccountGrant {
    /// The device's share (base64url of the scalar).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capability: Option<String>,
    /// The account encryption key itself (base64url of the scalar): the `web` right.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_key: Option<String>,
    /// base64url of the 32-octet UniqueId key.
    pub id_key: String,
    /// The account encryption key the share (or key) is of (the profile's current one if
    /// absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<KeyParameters>,
}

impl AccountGrant {
    /// The account key this grant is of.
    fn of(&self, current: &PublicKey) -> Result<PublicKey> {
        Ok(match &self.key {
            Some(k) => k.public_key()?,
            None => current.clone(),
        })
    }

    /// Add what this grant holds to `keys` (the account key) or `shares` (a share), checked to
    /// be of the account key it names.
    fn apply(
        &self,
        current: &PublicKey,
        keys: &mut KeyRing,
        shares: &mut Vec<AccountShare>,
    ) -> Result<()> {
        if let Some(secret) = &self.account_key {
            let of = self.of(current)?;
            let key =
                PrivateKey::from_bytes(of.algorithm(), &mesh_encoding::base64url::decode(secret)?)?;
            if key.public_key() != of {
                return Err(ClientError::Invalid(
                    "the account key this device was given is not the account's".into(),
                ));
            }
            keys.add_private(key);
        }
        if self.share.is_some() {
            shares.push(AccountShare::from_grant(self, current)?);
        }
        Ok(())
    }
}

/// Asks the service holding the other share of the account encryption key for its
/// contributions to key agreements ([`crate::online::Operator`]).
pub trait ThresholdOperator: Send + Sync {
    /// The service share's contribution for each ephemeral key, in order.
    fn contributions(&self, capability: &str, ephemerals: &[PublicKey]) -> Result<Vec<Vec<u8>>>;
}

/// The device's share of an account encryption key.
struct AccountShare {
    /// The account key it is a share of.
    of: PublicKey,
    key: PrivateKey,
    capability: String,
}

impl AccountShare {
    fn from_grant(grant: &AccountGrant, account_key: &PublicKey) -> Result<Self> {
        let of = grant.of(account_key)?;
        let missing = |what: &str| ClientError::Invalid(format!("the account grant has no {what}"));
        let bytes = mesh_encoding::base64url::decode(
            grant.share.as_deref().ok_or_else(|| missing("share"))?,
        )?;
        Ok(AccountShare {
            key: PrivateKey::from_bytes(of.algorithm(), &bytes)?,
            of,
            capability: grant
                .capability
                .clone()
                .ok_or_else(|| missing("capability"))?,
        })
    }
}

/// How many entries [`Account::put_all`] writes with one fsync.
const PUT_BATCH: usize = 500;

/// Told (done, total) as the service's contributions arrive for a read of many entries.
pub type Progress = dyn Fn(u64, u64) + Send + Sync;
/// A [`Progress`] borrowed for one read (which may wrap the account's own).
type ProgressRef<'a> = &'a (dyn Fn(u64, u64) + Send + Sync + 'a);

/// Does `value` open the recipient entry of the ephemeral key `epk` (AES key wrap's check)?
fn opens(
    entries: &HashMap<&[u8], &mesh_dare::schema::DareRecipient>,
    epk: &[u8],
    value: &[u8],
) -> bool {
    entries
        .get(epk)
        .is_some_and(|entry| mesh_dare::crypt::seed_from_agreement(entry, value).is_ok())
}

/// Reads of up to this many entries ask the service rather than open the kept agreements.
const FEW_ENVELOPES: usize = 16;

/// Agreement values for every envelope encrypted to `account_key`, from the device's share and
/// the service's contributions (one Operate per [`OPERATE_BATCH`] ephemeral keys). Values kept
/// in `cache` are taken from there; new ones that open their envelope are kept there.
fn share_ring(
    shares: &[AccountShare],
    operator: &dyn ThresholdOperator,
    envelopes: &[DareEnvelope],
    progress: Option<ProgressRef<'_>>,
    mut cache: Option<&mut AgreementCache>,
) -> Result<KeyRing> {
    let mut ring = KeyRing::new();
    // First what is kept (checked to open its entry), then, per share, what to ask for.
    let mut wanted = Vec::new();
    for share in shares {
        let udf = share.of.udf();
        // The recipient entry of each ephemeral key, to check a value opens it before using a
        // kept one or keeping a new one (a wrong value would spoil every later read). A kept
        // value is looked up by the key as written: only a key to ask the service about is read
        // as a point (a square root each, the bulk of a second read's work before).
        let entries: HashMap<&[u8], &mesh_dare::schema::DareRecipient> = envelopes
            .iter()
            .filter_map(|e| e.recipient_for(&udf))
            .filter_map(|r| Some((mesh_dare::crypt::recipient_ephemeral_bytes(r)?, r)))
            .collect();
        let mut ephemerals = Vec::new();
        for (&epk, entry) in &entries {
            match cache.as_deref_mut().and_then(|c| c.get(&udf, epk)) {
                Some(value) if opens(&entries, epk, value) => {
                    ring.add_agreement(&udf, epk, value.to_vec())
                }
                _ => {
                    if let Ok(key) = mesh_dare::crypt::recipient_ephemeral(entry) {
                        ephemerals.push(key);
                    }
                }
            }
        }
        wanted.push((share, udf, entries, ephemerals));
    }
    let total = wanted.iter().map(|w| w.3.len() as u64).sum::<u64>();
    let mut done = 0;
    for (share, udf, entries, ephemerals) in &wanted {
        let mut keep = |made: Vec<(PublicKey, Vec<u8>)>| {
            let Some(cache) = cache.as_deref_mut() else {
                return;
            };
            let sound: Vec<_> = made
                .into_iter()
                .filter(|(epk, value)| opens(entries, epk.as_bytes(), value))
                .collect();
            // Keeping is a saving, not a duty: a read does not fail because the cache could not
            // be written (a full disk, say); the next read asks the service again.
            let _ = cache.add(udf, sound);
        };
        share_agreements(
            share,
            udf,
            ephemerals,
            operator,
            &mut ring,
            &mut keep,
            &mut |n| {
                done += n;
                if let Some(progress) = progress.filter(|_| total > OPERATE_BATCH as u64) {
                    progress(done, total);
                }
            },
        )?;
    }
    Ok(ring)
}

/// The agreement values of one share for `ephemerals`, added to `ring`.
fn share_agreements(
    share: &AccountShare,
    udf: &str,
    ephemerals: &[PublicKey],
    operator: &dyn ThresholdOperator,
    ring: &mut KeyRing,
    keep: &mut dyn FnMut(Vec<(PublicKey, Vec<u8>)>),
    advance: &mut dyn FnMut(u64),
) -> Result<()> {
    for chunk in ephemerals.chunks(OPERATE_BATCH) {
        let theirs = operator
            .contributions(&share.capability, chunk)
            .map_err(|e| match e {
                ClientError::Unreachable(why) => ClientError::Unreachable(format!(
                    "{why}; this device reads the account's entries with its service's help (it \
                     holds a share of the account key, the service the other), so it reads only \
                     when the service can be reached (a device connected with the web right reads \
                     offline)"
                )),
                other => other,
            })?;
        if theirs.len() != chunk.len() {
            return Err(ClientError::Invalid(
                "the service answered for a different number of keys".into(),
            ));
        }
        let mut made = Vec::with_capacity(chunk.len());
        for (epk, their) in chunk.iter().zip(theirs) {
            let mine = share.key.agree_partial(epk)?;
            let value = mesh_crypto::combine_contributions(
                epk.algorithm(),
                &[mine.as_slice(), their.as_slice()],
            )?;
            ring.add_agreement(udf, epk.as_bytes(), value.clone());
            made.push((epk.clone(), value));
        }
        keep(made);
        advance(chunk.len() as u64);
    }
    Ok(())
}

/// Open an envelope encrypted to the account key `account_key` with a share granted to this
/// device and the service's help (before the account is added to the device).
pub fn open_with_grant(
    grant: &AccountGrant,
    account_key: &PublicKey,
    operator: &dyn ThresholdOperator,
    envelope: &DareEnvelope,
) -> Result<Vec<u8>> {
    let share = AccountShare::from_grant(grant, account_key)?;
    let ring = share_ring(
        &[share],
        operator,
        std::slice::from_ref(envelope),
        None,
        None,
    )?;
    Ok(envelope.plaintext(&ring)?)
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Secrets {
    device_secret: String,
    accounts: Vec<AccountSecrets>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Config {
    default_account: Option<String>,
}

/// What `mesh account export` writes (sealed by a passphrase).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AccountExport {
    address: String,
    account_secret: String,
    entries: Vec<(String, String, String)>,
}

/// A data directory.
pub struct MeshHome {
    dir: PathBuf,
}

fn is_address(address: &str) -> bool {
    let mut parts = address.split('@');
    matches!((parts.next(), parts.next(), parts.next()), (Some(u), Some(d), None)
        if !u.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.')
        && address.chars().all(|c| c.is_ascii_alphanumeric() || "@.-_+".contains(c)))
}

fn role(seed: &SecretSeed, role: &str) -> Result<PrivateKey> {
    crate::authority::role_key(seed, role)
}

impl MeshHome {
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        MeshHome { dir: dir.into() }
    }

    /// `$MESH_DATA`, or `mesh` in the user's data directory.
    pub fn default_dir() -> PathBuf {
        std::env::var_os(DATA_ENV)
            .map(PathBuf::from)
            .or_else(|| dirs::data_dir().map(|d| d.join("mesh")))
            .unwrap_or_else(|| PathBuf::from(".mesh"))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn secrets_path(&self) -> PathBuf {
        self.dir.join("device.secrets")
    }

    pub fn has_device(&self) -> bool {
        self.secrets_path().exists()
    }

    /// Open the device context with its passphrase.
    pub fn open(&self, passphrase: &str) -> Result<Device> {
        if !self.has_device() {
            return Err(ClientError::NoDevice);
        }
        let sealed = std::fs::read(self.secrets_path())?;
        let (key, plain) = store::open_keeping_key(
            &sealed,
            passphrase,
            &self.secrets_path().display().to_string(),
        )?;
        self.device_from(key, &plain)
    }

    /// The device whose secrets `plain` are, opened by `key`.
    pub(crate) fn device_from(&self, key: PassphraseKey, plain: &[u8]) -> Result<Device> {
        let secrets: Secrets = serde_json::from_slice(plain)
            .map_err(|e| ClientError::Invalid(format!("device secrets: {e}")))?;
        let seed = SecretSeed::parse(&secrets.device_secret)?;
        let envelope = DareEnvelope::parse(&std::fs::read(self.dir.join("device.dare"))?)?;
        let (profile, udf) = signed::verify_profile_device(&envelope)?;
        if ProfileDevice::from_seed(&seed, None)?.check()? != udf {
            return Err(ClientError::Invalid(
                "the device profile on disk is not this device's".into(),
            ));
        }
        Ok(Device {
            home: MeshHome::at(&self.dir),
            key,
            saved: std::sync::Mutex::new(secrets.clone()),
            secrets,
            seed,
            profile,
            udf,
        })
    }

    /// Open the device context, making a new device (secret and profile) if there is none.
    pub fn open_or_create(&self, passphrase: &str) -> Result<Device> {
        if self.has_device() {
            return self.open(passphrase);
        }
        let seed = SecretSeed::from_udf(random::secret_seed(KeySpecifier::new(0, 256)?, 256))?;
        self.create_with_secret(passphrase, seed)
    }

    /// Make the device context for a device secret given to it (pairing: the administrator
    /// device made the secret). There must be no device here yet.
    pub fn create_with_secret(&self, passphrase: &str, seed: SecretSeed) -> Result<Device> {
        if self.has_device() {
            return Err(ClientError::Invalid(format!(
                "{} already holds a device",
                self.dir.display()
            )));
        }
        create_private_dir(&self.dir)?;
        let profile = ProfileDevice::from_seed(&seed, Some(hostname()))?;
        let udf = profile.check()?;
        let envelope = seal_profile(profile.clone().into(), &seed, &udf)?;
        store::write_atomic(
            &self.dir.join("device.dare"),
            envelope.to_json()?.as_bytes(),
        )?;
        let secrets = Secrets {
            device_secret: seed.udf().to_string(),
            accounts: vec![],
        };
        let device = Device {
            home: MeshHome::at(&self.dir),
            key: PassphraseKey::new(passphrase)?,
            saved: std::sync::Mutex::new(Secrets::default()),
            secrets,
            seed,
            profile,
            udf,
        };
        device.save_secrets()?;
        Ok(device)
    }
}

/// An administered catalog as the administrator key made it ([`Account::signed_entries`]).
#[derive(Default)]
struct SignedView {
    /// The current entries, by key.
    entries: Vec<(String, MeshItem)>,
    /// The UniqueIds whose last signed change deleted them.
    deleted: std::collections::HashSet<String>,
    /// The first frame the key signed.
    first: Option<u64>,
    /// Frames after it the key did not sign (or signed twice).
    unsigned: usize,
}

/// The accounts to write: `disk` (as another command may have left them), with each account
/// `ours` added, changed or removed since `base` (what this command read or last wrote) taken
/// from `ours`. An account both changed (added, changed or removed by each) is a conflict:
/// `Err` with its address, and nothing is to be written (neither undoes the other's).
fn merge_accounts(
    base: &[AccountSecrets],
    ours: &[AccountSecrets],
    mut disk: Vec<AccountSecrets>,
) -> std::result::Result<Vec<AccountSecrets>, String> {
    let find = |list: &[AccountSecrets], address: &str| -> Option<serde_json::Value> {
        list.iter()
            .find(|a| a.address == address)
            .map(|a| serde_json::to_value(a).unwrap_or_default())
    };
    let mut addresses: Vec<&str> = base
        .iter()
        .chain(ours)
        .map(|a| a.address.as_str())
        .collect();
    addresses.sort_unstable();
    addresses.dedup();
    for address in addresses {
        let (was, now) = (find(base, address), find(ours, address));
        if was == now {
            continue; // not changed by this command: as the file has it
        }
        let theirs = find(&disk, address);
        if theirs == now {
            continue; // the other command made the same change
        }
        if theirs != was {
            return Err(address.to_string());
        }
        match ours.iter().find(|a| a.address == address) {
            Some(mine) => match disk.iter_mut().find(|a| a.address == address) {
                Some(theirs) => *theirs = mine.clone(),
                None => disk.push(mine.clone()),
            },
            None => disk.retain(|a| a.address != address),
        }
    }
    Ok(disk)
}

/// A profile, self-signed by the ProfileSignature key of `seed`, with its UDF as envelope id.
fn seal_profile(item: MeshItem, seed: &SecretSeed, udf: &str) -> Result<DareEnvelope> {
    Ok(signed::seal(
        &item,
        &role(seed, "ProfileSignature")?,
        Some(udf),
        &[],
    )?)
}

/// A directory only its owner can enter.
pub(crate) fn create_private_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "device".into())
}

/// An unlocked device context.
pub struct Device {
    home: MeshHome,
    /// What the passphrase derived for `device.secrets`: seals it again without the
    /// passphrase (and what an unlocked session keeps).
    key: PassphraseKey,
    secrets: Secrets,
    /// The secrets as this handle last read or wrote them: what another command changed since
    /// is told from what this one did.
    saved: std::sync::Mutex<Secrets>,
    seed: SecretSeed,
    profile: ProfileDevice,
    udf: String,
}

impl Device {
    pub fn udf(&self) -> &str {
        &self.udf
    }

    pub fn profile(&self) -> &ProfileDevice {
        &self.profile
    }

    /// The device's self-signed profile as stored.
    pub fn profile_envelope(&self) -> Result<DareEnvelope> {
        Ok(DareEnvelope::parse(&std::fs::read(
            self.home.dir.join("device.dare"),
        )?)?)
    }

    /// What the passphrase derived for the device's secrets (kept by an unlocked session).
    pub(crate) fn passphrase_key(&self) -> &PassphraseKey {
        &self.key
    }

    /// Seal the device's secrets under `key` from now on.
    pub(crate) fn set_passphrase_key(&mut self, key: PassphraseKey) -> Result<()> {
        self.save_secrets_under(&key)?;
        self.key = key;
        Ok(())
    }

    /// A base key of this device (before any activation), by role.
    pub fn base_key(&self, role_name: &str) -> Result<PrivateKey> {
        role(&self.seed, role_name)
    }

    /// The device's own key-derivation secret (for the connection flows).
    pub fn device_secret(&self) -> &SecretSeed {
        &self.seed
    }

    fn save_secrets(&self) -> Result<()> {
        self.save_secrets_under(&self.key)
    }

    /// Whether another command of this device has added `address` since this one opened it
    /// (its directory is then that command's, not a leftover to clear).
    fn saved_elsewhere(&self, address: &str) -> Result<bool> {
        let Ok(sealed) = std::fs::read(self.home.secrets_path()) else {
            return Ok(false);
        };
        let Ok(plain) = self.key.open(&sealed) else {
            return Ok(false); // refused when this command writes
        };
        let disk: Secrets = serde_json::from_slice(&plain)
            .map_err(|e| ClientError::Invalid(format!("device secrets: {e}")))?;
        Ok(disk.accounts.iter().any(|a| a.address == address))
    }

    /// Write the secrets, sealed under `key`, under the file's lock. Another command of this
    /// device may have written them since this one read them: what it changed is kept (each
    /// account this command added, changed or removed is taken from this one, every other as
    /// the file has it); if both changed one account, or the other sealed them under a new
    /// passphrase, which this command's key no longer opens, nothing is written (neither undoes
    /// the other).
    fn save_secrets_under(&self, key: &PassphraseKey) -> Result<()> {
        let path = self.home.secrets_path();
        store::locked(&path, || {
            let mut saved = self.saved.lock().unwrap_or_else(|e| e.into_inner());
            let accounts = match std::fs::read(&path) {
                Ok(sealed) => {
                    let plain = self.key.open(&sealed).map_err(|_| {
                        ClientError::Invalid(format!(
                            "{} no longer opens with the key this command opened it with (a new \
                             passphrase since, or a damaged file): nothing was written; run the \
                             command again",
                            path.display()
                        ))
                    })?;
                    let disk: Secrets = serde_json::from_slice(&plain)
                        .map_err(|e| ClientError::Invalid(format!("device secrets: {e}")))?;
                    merge_accounts(&saved.accounts, &self.secrets.accounts, disk.accounts).map_err(
                        |address| {
                            ClientError::Invalid(format!(
                                "another command changed the secrets of {address} on this \
                                 device since this one opened it: nothing was written; run the \
                                 command again"
                            ))
                        },
                    )?
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => self.secrets.accounts.clone(),
                Err(e) => return Err(e.into()),
            };
            let merged = Secrets {
                device_secret: self.secrets.device_secret.clone(),
                accounts,
            };
            let plain =
                serde_json::to_vec(&merged).map_err(|e| ClientError::Invalid(e.to_string()))?;
            store::write_atomic(&path, &key.seal(&plain)?)?;
            *saved = self.secrets.clone();
            Ok(())
        })
    }

    fn config(&self) -> Config {
        std::fs::read(self.home.dir.join("config.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn set_default(&self, address: &str) -> Result<()> {
        let config = Config {
            default_account: Some(address.to_string()),
        };
        store::write_atomic(
            &self.home.dir.join("config.json"),
            &serde_json::to_vec_pretty(&config).map_err(|e| ClientError::Invalid(e.to_string()))?,
        )
    }

    /// The accounts on this device and which is the default.
    pub fn accounts(&self) -> (Vec<String>, Option<String>) {
        let list: Vec<String> = self
            .secrets
            .accounts
            .iter()
            .map(|a| a.address.clone())
            .collect();
        let default = self.config().default_account.filter(|d| list.contains(d));
        (list, default)
    }

    /// Add an account whose root was recovered, as its first profile shows it and with no
    /// device entry yet (a recovery, which then reads the account from its service).
    pub(crate) fn add_root_account(&mut self, address: &str, root: &SecretSeed) -> Result<()> {
        if !is_address(address) {
            return Err(ClientError::BadAddress(address.to_string()));
        }
        if self.secrets.accounts.iter().any(|a| a.address == address) {
            return Err(ClientError::AccountExists(address.to_string()));
        }
        let profile = ProfileUser::from_seed(root, address, None)?;
        let account_udf = profile.check()?;
        let dir = self.home.dir.join("accounts").join(address);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        create_private_dir(&dir)?;
        let envelope = seal_profile(profile.into(), root, &account_udf)?;
        store::write_atomic(&dir.join("profile.dare"), envelope.to_json()?.as_bytes())?;
        self.secrets.accounts.push(AccountSecrets {
            address: address.to_string(),
            account_secret: Some(root.udf().to_string()),
            ..Default::default()
        });
        self.save_secrets()?;
        if self.config().default_account.is_none() {
            self.set_default(address)?;
        }
        Ok(())
    }

    /// Create an account with this device as its administrator device.
    pub fn create_account(&mut self, address: &str) -> Result<Account> {
        let address = address.to_ascii_lowercase();
        let seed = SecretSeed::from_udf(random::secret_seed(KeySpecifier::new(0, 258)?, 256))?;
        self.add_account(&address, seed, Vec::new())
    }

    fn add_account(
        &mut self,
        address: &str,
        seed: SecretSeed,
        entries: Vec<(String, String, String)>,
    ) -> Result<Account> {
        if !is_address(address) {
            return Err(ClientError::BadAddress(address.to_string()));
        }
        if self.secrets.accounts.iter().any(|a| a.address == address)
            || self.saved_elsewhere(address)?
        {
            return Err(ClientError::AccountExists(address.to_string()));
        }
        let profile = ProfileUser::from_seed(&seed, address, None)?;
        let account_udf = profile.check()?;
        let dir = self.home.dir.join("accounts").join(address);
        if dir.exists() {
            // Left by an earlier attempt that did not finish: start again.
            std::fs::remove_dir_all(&dir)?;
        }
        create_private_dir(&dir)?;
        let envelope = seal_profile(profile.clone().into(), &seed, &account_udf)?;
        store::write_atomic(&dir.join("profile.dare"), envelope.to_json()?.as_bytes())?;
        let secrets = AccountSecrets {
            address: address.to_string(),
            account_secret: Some(seed.udf().to_string()),
            ..Default::default()
        };
        let account = Account::load(&dir, &secrets)?;

        // This device's activation, connection and catalog entry (schema-08 §3.2.1).
        let admin = role(&seed, "AdministratorSignature")?;
        let device_key = self
            .profile
            .encryption
            .as_ref()
            .map(|k| k.public_key("Encryption"))
            .transpose()?;
        let (activation, connection) =
            ActivationDevice::create(&self.profile, &account_udf, address, Rights::ALL)?;
        let enveloped_activation = signed::seal(
            &activation.into(),
            &admin,
            None,
            &device_key.iter().collect::<Vec<_>>(),
        )?;
        let enveloped_connection = signed::seal(&connection.clone().into(), &admin, None, &[])?;
        let device_envelope =
            DareEnvelope::parse(&std::fs::read(self.home.dir.join("device.dare"))?)?;
        let cataloged = CatalogedDevice {
            udf: Some(self.udf.clone()),
            device_udf: Some(self.udf.clone()),
            signature_udf: connection.signature.as_ref().and_then(|k| k.udf.clone()),
            enveloped_profile_user: Some(envelope),
            enveloped_profile_device: Some(device_envelope),
            enveloped_connection_device: Some(enveloped_connection),
            enveloped_activation_device: Some(enveloped_activation),
            ..Default::default()
        };
        account.put(CatalogKind::Device, &cataloged.into())?;
        for (kind, _key, json) in entries {
            let kind = CatalogKind::parse(&kind)?;
            account.put(kind, &MeshItem::from_bytes(json.as_bytes())?)?;
        }
        self.secrets.accounts.push(secrets);
        self.save_secrets()?;
        if self.config().default_account.is_none() {
            self.set_default(address)?;
        }
        Ok(account)
    }

    /// The account `address`, or the default one.
    pub fn account(&self, address: Option<&str>) -> Result<Account> {
        let (list, default) = self.accounts();
        let address = match address {
            Some(a) => a.to_ascii_lowercase(),
            None => match (default, list.len()) {
                (Some(d), _) => d,
                (None, 0) => return Err(ClientError::NoAccounts),
                (None, 1) => list[0].clone(),
                (None, _) => return Err(ClientError::WhichAccount(list.join(", "))),
            },
        };
        let secrets = self.account_secrets(&address)?;
        let account = Account::load(&self.home.dir.join("accounts").join(&address), secrets)?;
        // A device holding a share reads the catalogs with its service's help.
        if account.needs_operator() {
            if let Some(binding) = crate::online::load_binding(&account) {
                let credentials = crate::online::device_credentials(self, &account)?;
                account.attach_operator(Box::new(crate::online::Session::operator_for(
                    &binding,
                    &account.address,
                    &credentials,
                )?));
            }
        }
        Ok(account)
    }

    /// Add an account this device was connected to by an administrator device: its profile
    /// (already verified by the caller), the share it was given and its own device record
    /// (kept beside the catalogs, so that the device can authenticate to the service before it
    /// can read them).
    pub fn add_connected_account(
        &mut self,
        profile: &DareEnvelope,
        grant: &AccountGrant,
        record: &CatalogedDevice,
    ) -> Result<Account> {
        let (user, _) = signed::verify_profile_user(profile)?;
        let address = user
            .account_address
            .clone()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if !is_address(&address) {
            return Err(ClientError::BadAddress(address));
        }
        if self.secrets.accounts.iter().any(|a| a.address == address) {
            return Err(ClientError::AccountExists(address));
        }
        let dir = self.home.dir.join("accounts").join(&address);
        create_private_dir(&dir)?;
        store::write_atomic(&dir.join("profile.dare"), profile.to_json()?.as_bytes())?;
        let secrets = AccountSecrets {
            address: address.clone(),
            grant: Some(grant.clone()),
            ..Default::default()
        };
        let account = Account::load(&dir, &secrets)?;
        store::write_atomic(
            &dir.join(DEVICE_RECORD),
            MeshItem::from(record.clone()).to_json()?.as_bytes(),
        )?;
        self.secrets.accounts.push(secrets);
        self.save_secrets()?;
        if self.config().default_account.is_none() {
            self.set_default(&address)?;
        }
        Ok(account)
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.home.dir
    }

    /// Escrow (architecture-17 §4.5, §5.8; schema-08 §6.1: every account key derives from one
    /// seed): split the account's secret into `shares` shares, any `quorum` of which recover it
    /// (Shamir, udf-13 §4.5). Administrator devices only.
    ///
    /// The root then lives in the shares only: this device keeps the administration keys and
    /// forgets the root, unless `keep_root` (it stays the root holder).
    pub fn escrow_account(
        &mut self,
        address: Option<&str>,
        quorum: usize,
        shares: usize,
        keep_root: bool,
    ) -> Result<Vec<String>> {
        let account = self.account(address)?;
        let root = account
            .root
            .as_ref()
            .ok_or_else(|| ClientError::NotRootHolder(account.address.clone()))?;
        let split: Vec<String> = mesh_crypto::shamir::split(root.udf().body(), quorum, shares)?
            .iter()
            .map(ToString::to_string)
            .collect();
        if !keep_root {
            let (admin, id_key) = match (&account.admin, account.id_key) {
                (Some(admin), Some(id_key)) => (admin.clone(), id_key),
                _ => return Err(ClientError::NotAdministrator(account.address.clone())),
            };
            let held = self.account_secrets_mut(&account.address)?;
            held.administration = Some(admin.to_administration(&id_key));
            held.account_secret = None;
            self.save_secrets()?;
        }
        Ok(split)
    }

    fn account_secrets(&self, address: &str) -> Result<&AccountSecrets> {
        self.secrets
            .accounts
            .iter()
            .find(|a| a.address == address)
            .ok_or_else(|| ClientError::NoAccount(address.to_string()))
    }

    fn account_secrets_mut(&mut self, address: &str) -> Result<&mut AccountSecrets> {
        self.secrets
            .accounts
            .iter_mut()
            .find(|a| a.address == address)
            .ok_or_else(|| ClientError::NoAccount(address.to_string()))
    }

    /// Record what a key rotation gave this device for `address`: the new profile, and the
    /// administration keys (an administrator device; `root` kept if held) or the grant (its
    /// previous grant kept for what was written before).
    pub(crate) fn record_rotation(
        &mut self,
        address: &str,
        profile: &DareEnvelope,
        admin: Option<(&AdminKeys, &[u8; 32])>,
        grant: Option<AccountGrant>,
        record: Option<&CatalogedDevice>,
    ) -> Result<()> {
        let dir = self.home.dir.join("accounts").join(address);
        let held = self.account_secrets_mut(address)?;
        if let Some((keys, id_key)) = admin {
            if held.account_secret.is_none() {
                held.administration = Some(keys.to_administration(id_key));
            }
        }
        if let Some(mut grant) = grant {
            if let Some(mut before) = held.grant.take() {
                if before.key.is_none() {
                    before.key = account_key_of(&DareEnvelope::parse(&std::fs::read(
                        dir.join("profile.dare"),
                    )?)?)?;
                }
                held.earlier_grants.insert(0, before);
            }
            // The key the grant is of, stated: the secrets are saved before the new profile is
            // written, and a grant of the account key itself is checked against the key it
            // names when the account loads.
            grant.key = account_key_of(profile)?;
            held.grant = Some(grant);
        }
        // The secrets first: with the new keys and the old profile the device still reads
        // what it read; with the new profile and the old keys it would not load.
        self.save_secrets()?;
        store::write_atomic(&dir.join("profile.dare"), profile.to_json()?.as_bytes())?;
        if let Some(record) = record {
            store::write_atomic(
                &dir.join(DEVICE_RECORD),
                MeshItem::from(record.clone()).to_json()?.as_bytes(),
            )?;
        }
        Ok(())
    }

    /// Record the new connection the administrator gave this device for `address` (its rights
    /// changed): its record, and the grant it comes with in place of the one before, which is
    /// not kept (a right taken away is not kept by this device's own hand).
    pub(crate) fn record_reconnection(
        &mut self,
        address: &str,
        grant: Option<AccountGrant>,
        record: &CatalogedDevice,
    ) -> Result<()> {
        let dir = self.home.dir.join("accounts").join(address);
        let profile = DareEnvelope::parse(&std::fs::read(dir.join("profile.dare"))?)?;
        let held = self.account_secrets_mut(address)?;
        held.grant = match grant {
            Some(mut grant) => {
                grant.key = account_key_of(&profile)?;
                Some(grant)
            }
            None => None,
        };
        // The secrets first, then the record that names the new connection: until the record
        // is written the device presents the old one, which the service refuses, and follows
        // again.
        self.save_secrets()?;
        store::write_atomic(
            &dir.join(DEVICE_RECORD),
            MeshItem::from(record.clone()).to_json()?.as_bytes(),
        )
    }

    /// Remove an account from this device (its secrets and its files); the account itself, at
    /// its service and on other devices, is untouched.
    pub fn forget_account(&mut self, address: &str) -> Result<()> {
        let address = address.to_ascii_lowercase();
        let before = self.secrets.accounts.len();
        self.secrets.accounts.retain(|a| a.address != address);
        if self.secrets.accounts.len() == before {
            return Err(ClientError::NoAccount(address));
        }
        self.save_secrets()?;
        let dir = self.home.dir.join("accounts").join(&address);
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
        Ok(())
    }

    /// Seal the account's secret and every catalog entry under `passphrase`.
    pub fn export_account(&self, address: Option<&str>, passphrase: &str) -> Result<Vec<u8>> {
        let account = self.account(address)?;
        let seed = account
            .root
            .as_ref()
            .ok_or_else(|| ClientError::NotRootHolder(account.address.clone()))?;
        let mut entries = Vec::new();
        for kind in CatalogKind::ALL
            .iter()
            .filter(|k| **k != CatalogKind::Device)
        {
            for (key, item) in account.list(*kind)? {
                entries.push((kind.name().to_string(), key, item.to_json()?));
            }
        }
        let export = AccountExport {
            address: account.address.clone(),
            account_secret: seed.udf().to_string(),
            entries,
        };
        store::seal(
            &serde_json::to_vec(&export).map_err(|e| ClientError::Invalid(e.to_string()))?,
            passphrase,
        )
    }

    /// Add an exported account to this device, which becomes one of its administrator devices.
    pub fn import_account(&mut self, data: &[u8], passphrase: &str) -> Result<Account> {
        let plain = store::open(data, passphrase, "the export file")?;
        let export: AccountExport = serde_json::from_slice(&plain)
            .map_err(|e| ClientError::Invalid(format!("export file: {e}")))?;
        let seed = SecretSeed::parse(&export.account_secret)?;
        self.add_account(&export.address, seed, export.entries)
    }
}

/// The device's own CatalogedDevice on a device without administrator rights. Its secret parts
/// (the activations) are encrypted to the device.
const DEVICE_RECORD: &str = "device.json";

/// An account as this device holds it.
pub struct Account {
    dir: PathBuf,
    pub address: String,
    pub udf: String,
    pub profile: ProfileUser,
    profile_env: DareEnvelope,
    /// The account's root, on the device that holds it.
    root: Option<SecretSeed>,
    /// The administration keys (administrator devices).
    admin: Option<AdminKeys>,
    encrypt_to: PublicKey,
    keys: KeyRing,
    /// Keys the UniqueIds of catalog entries, so that headers (which are not encrypted) do not
    /// show what an entry is about. Held by devices that can read the catalogs.
    id_key: Option<[u8; 32]>,
    /// Shares of the account encryption keys, the current one first (devices without
    /// administrator rights).
    shares: Vec<AccountShare>,
    operator: std::sync::OnceLock<Box<dyn ThresholdOperator>>,
    progress: std::sync::OnceLock<Box<Progress>>,
    /// Agreements already made with the service (devices holding a share), read on first use.
    agreements: std::sync::Mutex<Option<AgreementCache>>,
    /// Use and add to `agreements` (on unless a benchmark turns it off).
    keep: std::sync::atomic::AtomicBool,
}

fn decode_id_key(text: &str) -> Result<[u8; 32]> {
    mesh_encoding::base64url::decode(text)?
        .try_into()
        .map_err(|_| ClientError::Invalid("a UniqueId key of the wrong size".into()))
}

/// The account encryption key of the account profile `profile` (verified).
fn account_key_of(profile: &DareEnvelope) -> Result<Option<KeyParameters>> {
    let (profile, _) = signed::verify_profile_user(profile)?;
    Ok(profile
        .account_encryption
        .as_ref()
        .map(|k| k.public_key("AccountEncryption"))
        .transpose()?
        .map(|k| KeyParameters::from_public(&k)))
}

/// The rights a device record's connection grants (its `Roles`; see [`Rights::of_roles`]). The
/// record comes from the account's device catalog, whose entries the administrator signed.
pub fn record_rights(record: &CatalogedDevice) -> Rights {
    let roles = record
        .enveloped_connection_device
        .as_ref()
        .and_then(|e| signed::read(e, &KeyRing::new()).ok())
        .and_then(|i| expect_item!(i, ConnectionDevice).ok())
        .map(|c| c.roles)
        .unwrap_or_default();
    Rights::of_roles(&roles)
}

/// The UniqueId key of an account, from its encryption private key.
pub(crate) fn id_key_of(key: &PrivateKey) -> [u8; 32] {
    let digest = Sha512::new()
        .chain_update(b"MeshCatalogUniqueId")
        .chain_update(key.to_bytes())
        .finalize();
    digest[..32].try_into().expect("32 of 64 octets")
}

impl Account {
    fn load(dir: &Path, secrets: &AccountSecrets) -> Result<Self> {
        let address = secrets.address.as_str();
        let profile_env = DareEnvelope::parse(&std::fs::read(dir.join("profile.dare"))?)?;
        let (profile, udf) = signed::verify_profile_user(&profile_env)?;
        let encrypt_to =
            mesh_schema::key::required(&profile.account_encryption, "AccountEncryption")?;
        let root = secrets
            .account_secret
            .as_deref()
            .map(SecretSeed::parse)
            .transpose()?;
        let mut keys = KeyRing::new();
        let mut id_key = None;
        let mut shares = Vec::new();
        let mut admin = None;
        if let Some(root) = &root {
            let (seeds, held) = AdminKeys::from_root(root, &profile)?;
            // The UniqueId key is the first generation's, whatever was rotated since.
            let first = AdminKeys::from_seed(&seeds[0])?;
            id_key = Some(id_key_of(&first.encryption));
            admin = Some(held);
        } else if let Some(held) = &secrets.administration {
            admin = Some(AdminKeys::from_administration(held, &profile)?);
            id_key = Some(decode_id_key(&held.id_key)?);
        } else if let Some(legacy) = &secrets.account_encryption_key {
            let key = PrivateKey::from_bytes(
                encrypt_to.algorithm(),
                &mesh_encoding::base64url::decode(legacy)?,
            )?;
            if key.public_key() != encrypt_to {
                return Err(ClientError::Invalid(format!(
                    "the secret held for {address} is not the account's"
                )));
            }
            id_key = Some(id_key_of(&key));
            keys.add_private(key);
        } else if let Some(grant) = &secrets.grant {
            for g in std::iter::once(grant).chain(&secrets.earlier_grants) {
                g.apply(&encrypt_to, &mut keys, &mut shares)?;
            }
            id_key = Some(decode_id_key(&grant.id_key)?);
        }
        if let Some(admin) = &admin {
            for key in admin.encryption_keys() {
                keys.add_private(key.clone());
            }
        }
        Ok(Account {
            dir: dir.to_path_buf(),
            address: address.to_string(),
            udf,
            profile,
            profile_env,
            root,
            admin,
            encrypt_to,
            keys,
            id_key,
            shares,
            operator: std::sync::OnceLock::new(),
            progress: std::sync::OnceLock::new(),
            agreements: Default::default(),
            keep: std::sync::atomic::AtomicBool::new(true),
        })
    }

    /// The account as a key rotation leaves it, in memory: `profile` (signed as `profile_env`)
    /// and the administration keys `admin`, everything else as here.
    pub(crate) fn rotated_view(
        &self,
        profile: ProfileUser,
        profile_env: DareEnvelope,
        admin: AdminKeys,
    ) -> Result<Account> {
        let encrypt_to =
            mesh_schema::key::required(&profile.account_encryption, "AccountEncryption")?;
        let mut keys = KeyRing::new();
        for key in admin.encryption_keys() {
            keys.add_private(key.clone());
        }
        Ok(Account {
            dir: self.dir.clone(),
            address: self.address.clone(),
            udf: self.udf.clone(),
            profile,
            profile_env,
            root: self.root.clone(),
            admin: Some(admin),
            encrypt_to,
            keys,
            id_key: self.id_key,
            shares: Vec::new(),
            operator: std::sync::OnceLock::new(),
            progress: std::sync::OnceLock::new(),
            agreements: Default::default(),
            keep: std::sync::atomic::AtomicBool::new(true),
        })
    }

    /// The account's root, if this device holds it.
    pub fn root(&self) -> Option<&SecretSeed> {
        self.root.as_ref()
    }

    /// Let this account's catalogs be read through the service holding the other share of the
    /// account encryption key (devices without administrator rights; a no-op on others).
    pub fn attach_operator(&self, operator: Box<dyn ThresholdOperator>) {
        if self.holds_share() {
            let _ = self.operator.set(operator);
        }
    }

    /// Keep the agreements made with the service, and use those kept (the default), or ask the
    /// service every time (what `mesh bench service` measures).
    pub fn keep_agreements(&self, keep: bool) {
        self.keep.store(keep, std::sync::atomic::Ordering::Relaxed);
    }

    /// Does this device decrypt with a share of the account key (and the service's)?
    pub fn holds_share(&self) -> bool {
        !self.shares.is_empty()
    }

    /// Be told how far a long read through the service has got (reads of more entries than one
    /// Operate request carries).
    pub fn set_progress(&self, progress: Box<Progress>) {
        let _ = self.progress.set(progress);
    }

    /// Does reading the catalogs need the service (a device holding a share)?
    pub fn needs_operator(&self) -> bool {
        self.holds_share() && self.operator.get().is_none()
    }

    /// What this device may do in the account: every right on an administrator device, else
    /// the `Roles` of its connection (the administrator signed them; a connection made before
    /// rights were written has the default ones).
    pub fn rights(&self) -> Rights {
        if self.is_administrator() {
            return Rights::ALL;
        }
        match self.own_device_record().ok().flatten() {
            Some(record) => record_rights(&record),
            None => Rights::DEFAULT,
        }
    }

    /// Refused unless this device holds the `message` right.
    pub fn require_message_right(&self) -> Result<()> {
        if self.rights().message {
            Ok(())
        } else {
            Err(ClientError::NoRight {
                account: self.address.clone(),
                right: mesh_schema::rights::MESSAGE,
                what: "read or send the account's messages",
            })
        }
    }

    /// This device's own CatalogedDevice as kept beside the catalogs, if it is.
    pub fn own_device_record(&self) -> Result<Option<CatalogedDevice>> {
        let path = self.dir.join(DEVICE_RECORD);
        if !path.exists() {
            return Ok(None);
        }
        Ok(Some(expect_item!(
            MeshItem::from_bytes(&std::fs::read(path)?)?,
            CatalogedDevice
        )?))
    }

    /// The entries of frames `indexes` of `catalog`, each read once and decrypted.
    fn read_entries(&self, catalog: &Catalog, indexes: &[u64]) -> Result<Vec<MeshItem>> {
        let envelopes = indexes
            .iter()
            .map(|i| Ok(catalog.container().read(*i)?))
            .collect::<Result<Vec<_>>>()?;
        self.items_of(&envelopes)
    }

    /// The current entries `ids` (all of them if `None`) of the catalog at `path`, each checked
    /// to be the frame it should be ([`Catalog::read_current`]). A catalog whose index turns
    /// out wrong is read again by walking it.
    fn read_current(&self, path: &Path, ids: Option<&[String]>) -> Result<Vec<MeshItem>> {
        // A few thousand at a time: what is in memory at once is the entries read, not every
        // envelope of the catalog (their headers take several times the entries' size).
        const CHUNK: usize = 4096;
        let progress = self.progress.get().map(|p| p.as_ref());
        let read = |catalog: &Catalog| -> Result<Vec<MeshItem>> {
            let all: Vec<String>;
            let ids = match ids {
                Some(ids) => ids,
                None => {
                    all = catalog.ids().map(str::to_string).collect();
                    &all
                }
            };
            let total = ids.len() as u64;
            let mut items = Vec::with_capacity(ids.len());
            for chunk in ids.chunks(CHUNK) {
                let mut envelopes = Vec::with_capacity(chunk.len());
                for id in chunk {
                    envelopes.extend(catalog.read_current(id)?);
                }
                // Progress over the whole read: within a chunk, as far as its Operates got; a
                // read that needs no Operate (all kept) shows none.
                let base = items.len() as u64;
                let operated = std::sync::atomic::AtomicBool::new(false);
                let within = |done: u64, _: u64| {
                    operated.store(true, std::sync::atomic::Ordering::Relaxed);
                    if let Some(p) = progress {
                        p(base + done, total)
                    }
                };
                let chunked = ids.len() > CHUNK;
                items.extend(
                    self.items_of_with(&envelopes, if chunked { Some(&within) } else { progress })?,
                );
                if let Some(p) = progress
                    .filter(|_| chunked && operated.load(std::sync::atomic::Ordering::Relaxed))
                {
                    p(items.len() as u64, total);
                }
            }
            Ok(items)
        };
        let catalog = Catalog::open(path, Mode::Read)?;
        match read(&catalog) {
            Err(_) if catalog.index_rejected() => read(&Catalog::open(path, Mode::Read)?),
            other => other,
        }
    }

    /// The envelope holding the current value of the entry of `kind` whose UniqueId is `id`
    /// (not decrypted).
    pub fn current_envelope(&self, kind: CatalogKind, id: &str) -> Result<Option<DareEnvelope>> {
        let path = self.dir.join(format!("{}.dare", kind.name()));
        if !path.exists() {
            return Ok(None);
        }
        Ok(Catalog::open(&path, Mode::Read)?.read_current(id)?)
    }

    /// The entries `envelopes` hold (encrypted to the account), decrypted.
    pub fn read_envelopes(&self, envelopes: &[DareEnvelope]) -> Result<Vec<MeshItem>> {
        self.items_of(envelopes)
    }

    /// The entries `envelopes` hold, decrypted.
    fn items_of(&self, envelopes: &[DareEnvelope]) -> Result<Vec<MeshItem>> {
        self.items_of_with(envelopes, self.progress.get().map(|p| p.as_ref()))
    }

    fn items_of_with(
        &self,
        envelopes: &[DareEnvelope],
        progress: Option<ProgressRef<'_>>,
    ) -> Result<Vec<MeshItem>> {
        let ring = self.ring_with(envelopes, progress)?;
        envelopes
            .iter()
            .map(|e| Ok(MeshItem::from_bytes(&e.plaintext(&ring)?)?))
            .collect()
    }

    /// Keys to read `envelopes` (those encrypted to the account): the account key itself, or
    /// agreement values made from this device's share and the service's contributions.
    pub fn ring_for_envelopes(&self, envelopes: &[DareEnvelope]) -> Result<KeyRing> {
        self.ring_with(envelopes, self.progress.get().map(|p| p.as_ref()))
    }

    fn ring_with(
        &self,
        envelopes: &[DareEnvelope],
        progress: Option<ProgressRef<'_>>,
    ) -> Result<KeyRing> {
        if self.shares.is_empty() {
            if !self.keys.has_private() && !envelopes.is_empty() && self.admin.is_none() {
                // Connected with neither the web nor the threshold right: given no key.
                return Err(ClientError::NoRight {
                    account: self.address.clone(),
                    right: "web or threshold",
                    what: "read the account's catalogs",
                });
            }
            return Ok(self.keys.clone());
        }
        let operator = self.operator.get().ok_or_else(|| {
            ClientError::Invalid(format!(
                "this device reads what is encrypted to {} with its service (it holds a share \
                 of the account key, the service the other): bind it or check the connection",
                self.address
            ))
        })?;
        if !self.keep.load(std::sync::atomic::Ordering::Relaxed) {
            return share_ring(&self.shares, operator.as_ref(), envelopes, progress, None);
        }
        let mut cache = self.agreements.lock().unwrap_or_else(|e| e.into_inner());
        if cache.is_none() && envelopes.len() <= FEW_ENVELOPES {
            // A read of a few entries asks the service for them: opening what is kept takes an
            // Operate as well, and reading the kept file grows with the account.
            return share_ring(&self.shares, operator.as_ref(), envelopes, progress, None);
        }
        let cache = cache.get_or_insert_with(|| {
            let shares: Vec<_> = self.shares.iter().map(|s| (&s.of, &s.key)).collect();
            // The key the kept values are sealed under takes the service's contribution, as an
            // entry does: one Operate per share, once per session.
            let mut contribute = |of: &str, epk: &PublicKey| -> Result<Vec<u8>> {
                let share = self
                    .shares
                    .iter()
                    .find(|s| s.of.udf() == of)
                    .ok_or_else(|| ClientError::Invalid("no share of that key".into()))?;
                operator
                    .contributions(&share.capability, std::slice::from_ref(epk))?
                    .pop()
                    .ok_or_else(|| ClientError::Invalid("the service gave no contribution".into()))
            };
            AgreementCache::load(&self.dir, &shares, &mut contribute)
        });
        share_ring(
            &self.shares,
            operator.as_ref(),
            envelopes,
            progress,
            Some(cache),
        )
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The account's encryption key (what its catalogs are encrypted to).
    pub fn encryption_key(&self) -> &PublicKey {
        &self.encrypt_to
    }

    /// The account's self-signed profile.
    pub fn profile_envelope(&self) -> Result<DareEnvelope> {
        Ok(self.profile_env.clone())
    }

    /// The account encryption private key (administrator devices), to split for a device
    /// being connected.
    pub fn encryption_private_key(&self) -> Option<&PrivateKey> {
        self.keys.private_key(&self.encrypt_to.udf())
    }

    /// Every account encryption private key this device holds (administrator devices), the
    /// current one first.
    pub fn encryption_private_keys(&self) -> Vec<&PrivateKey> {
        self.admin
            .iter()
            .flat_map(|a| a.encryption_keys())
            .collect()
    }

    /// The key of catalog UniqueIds, to hand to a device being connected.
    pub fn id_key(&self) -> Option<[u8; 32]> {
        self.id_key
    }

    /// The administrator signature key (administrator devices only).
    pub fn administrator_key(&self) -> Result<PrivateKey> {
        self.admin
            .as_ref()
            .map(|a| a.administrator.clone())
            .ok_or_else(|| ClientError::NotAdministrator(self.address.clone()))
    }

    pub fn is_administrator(&self) -> bool {
        self.admin.is_some()
    }

    /// The envelope that adding `item` to its catalog appends, without appending it (for a
    /// device that will submit it itself).
    pub fn prepare_entry(&self, kind: CatalogKind, item: &MeshItem) -> Result<DareEnvelope> {
        kind.check(item)?;
        let key = CatalogKind::key_of(item).ok_or_else(|| {
            ClientError::Invalid(format!("a {} without its key", item.type_name()))
        })?;
        let meta = mesh_dare::ContentMeta {
            unique_id: Some(self.unique_id(kind, &key)?),
            event: Some(mesh_dare::catalog::EVENT_NEW.into()),
            message_type: Some(item.type_name().to_string()),
            ..Default::default()
        };
        let catalog = self.catalog(kind)?;
        if kind.administered() {
            return Ok(catalog.authorized_entry(
                kind.name(),
                item.to_json()?.as_bytes(),
                meta,
                &self.administrator_key()?,
            )?);
        }
        Ok(catalog.container().make_entry(
            item.to_json()?.as_bytes(),
            &mesh_dare::AppendOptions {
                meta: Some(meta),
                signers: vec![],
            },
        )?)
    }

    /// Append an entry made elsewhere (a prepared one) to the local catalog.
    pub fn append_prepared(&self, kind: CatalogKind, envelope: DareEnvelope) -> Result<()> {
        self.catalog(kind)?.apply_envelope(envelope)?;
        Ok(())
    }

    /// The local replica of a catalog. The access catalog is not encrypted to the account: the
    /// service reads its capabilities (their key shares are encrypted to the service), and its
    /// entries are signed by the administrator key instead ([`Self::put`]).
    pub(crate) fn open_catalog(&self, kind: CatalogKind) -> Result<Catalog> {
        self.catalog(kind)
    }

    fn catalog(&self, kind: CatalogKind) -> Result<Catalog> {
        let path = self.dir.join(format!("{}.dare", kind.name()));
        Ok(Catalog::open_or_create(
            path,
            &self.recipients(kind.name()),
        )?)
    }

    /// Whom the entries of the container `name` are encrypted to: the account key for its
    /// catalogs (those the service reads excepted), no one for spools (their messages protect
    /// themselves).
    pub fn recipients(&self, name: &str) -> Vec<PublicKey> {
        match CatalogKind::parse(name) {
            Ok(kind) if !kind.read_by_service() => vec![self.encrypt_to.clone()],
            _ => vec![],
        }
    }

    /// The UniqueId of the entry `key` of a catalog: a keyed digest, not the key itself.
    pub(crate) fn entry_id(&self, kind: CatalogKind, key: &str) -> Result<String> {
        self.unique_id(kind, key)
    }

    fn unique_id(&self, kind: CatalogKind, key: &str) -> Result<String> {
        if kind.read_by_service() {
            return Ok(key.to_string());
        }
        let id_key = self
            .id_key
            .ok_or_else(|| ClientError::NotAdministrator(self.address.clone()))?;
        let mut m = <Hmac<Sha512> as Mac>::new_from_slice(&id_key).expect("HMAC takes any key");
        m.update(kind.name().as_bytes());
        m.update(&[0]);
        m.update(key.as_bytes());
        let tag = m.finalize().into_bytes().to_vec();
        Ok(mesh_udf::Udf::new(mesh_udf::UdfType::AuthenticatorHmacSha2, tag).present(140))
    }

    /// Add an entry to its catalog, replacing the entry with the same key.
    pub fn put(&self, kind: CatalogKind, item: &MeshItem) -> Result<String> {
        // What is refused is refused before the catalog is opened (or made).
        kind.check(item)?;
        if kind.administered() {
            self.administrator_key()?;
        }
        let mut catalog = self.catalog(kind)?;
        self.put_in(&mut catalog, kind, item)
    }

    /// Put many entries with the catalog opened once (an import, a benchmark's fill): each is
    /// written and synced as [`Self::put`] writes it, without reading the catalog again.
    pub fn put_all<'i>(
        &self,
        kind: CatalogKind,
        items: impl IntoIterator<Item = &'i MeshItem>,
        progress: &mut dyn FnMut(),
    ) -> Result<Vec<String>> {
        let mut catalog = self.catalog(kind)?;
        let mut keys = Vec::new();
        let mut batch = Vec::with_capacity(PUT_BATCH);
        let mut flush = |catalog: &mut Catalog, batch: &mut Vec<DareEnvelope>| -> Result<()> {
            let n = batch.len();
            catalog.apply_envelopes(std::mem::take(batch))?;
            (0..n).for_each(|_| progress());
            Ok(())
        };
        for item in items {
            let (key, entry) = self.put_entry(&catalog, kind, item)?;
            keys.push(key);
            batch.push(entry);
            if batch.len() == PUT_BATCH {
                flush(&mut catalog, &mut batch)?;
            }
        }
        if !batch.is_empty() {
            flush(&mut catalog, &mut batch)?;
        }
        Ok(keys)
    }

    /// The key of `item` and the catalog entry that puts it.
    fn put_entry(
        &self,
        catalog: &Catalog,
        kind: CatalogKind,
        item: &MeshItem,
    ) -> Result<(String, DareEnvelope)> {
        kind.check(item)?;
        let key = CatalogKind::key_of(item).ok_or_else(|| {
            ClientError::Invalid(format!("a {} without its key", item.type_name()))
        })?;
        let id = self.unique_id(kind, &key)?;
        let payload = item.to_json()?;
        let entry = if kind.administered() {
            let admin = self.administrator_key()?;
            catalog.put_authorized_entry(
                kind.name(),
                &id,
                Some(item.type_name()),
                payload.as_bytes(),
                &admin,
            )?
        } else {
            catalog.put_entry(&id, Some(item.type_name()), payload.as_bytes(), &[])?
        };
        Ok((key, entry))
    }

    fn put_in(&self, catalog: &mut Catalog, kind: CatalogKind, item: &MeshItem) -> Result<String> {
        let (key, entry) = self.put_entry(catalog, kind, item)?;
        catalog.apply_envelope(entry)?;
        Ok(key)
    }

    pub fn get(&self, kind: CatalogKind, key: &str) -> Result<Option<MeshItem>> {
        let id = self.unique_id(kind, key)?;
        self.get_by_id(kind, &id)
    }

    /// The current entry of `kind` whose UniqueId is `id`.
    pub fn get_by_id(&self, kind: CatalogKind, id: &str) -> Result<Option<MeshItem>> {
        let path = self.dir.join(format!("{}.dare", kind.name()));
        if !path.exists() {
            return Ok(None);
        }
        Ok(self.read_current(&path, Some(&[id.to_string()]))?.pop())
    }

    pub fn delete(&self, kind: CatalogKind, key: &str) -> Result<bool> {
        let id = self.unique_id(kind, key)?;
        self.delete_by_id(kind, &id)
    }

    /// Delete the entry of `kind` whose UniqueId is `id`.
    pub fn delete_by_id(&self, kind: CatalogKind, id: &str) -> Result<bool> {
        if kind.administered() {
            // The service takes only changes it can check came from the administrator: the
            // administrator's signature covers the marker's UniqueId and Event.
            let admin = self.administrator_key()?;
            return Ok(self
                .catalog(kind)?
                .delete_authorized(kind.name(), id, b"", &admin)?);
        }
        Ok(self.catalog(kind)?.delete(id)?)
    }

    /// Re-make the catalogs only the administrator changes (devices, access) when an earlier
    /// build wrote entries of theirs without the administrator's signature over their metadata,
    /// which a service no longer takes: each current entry is written again, signed. For an
    /// administrator device about to upload them (a bind); returns how many catalogs were
    /// re-made. The old file is kept beside the new one until the new one is complete, and put
    /// back if a crash left both.
    pub fn upgrade_administered(&self) -> Result<usize> {
        if !self.is_administrator() {
            return Ok(0);
        }
        let admin = self.administrator_key()?;
        let authority = admin.public_key();
        let mut upgraded = 0;
        let mut removed = Vec::new();
        // Devices first: the removals their history shows go into the access catalog.
        for kind in [CatalogKind::Device, CatalogKind::Access] {
            let path = self.dir.join(format!("{}.dare", kind.name()));
            let old = path.with_extension("dare.old");
            if old.exists() {
                std::fs::rename(&old, &path)?;
            }
            if !path.exists() {
                continue;
            }
            let (signed, keep, gone) = {
                // Walked, not read through an index: what is kept here is signed again.
                let catalog = Catalog::open_walking(&path, Mode::Read)?;
                let container = catalog.container();
                // Every frame signed by the administrator key, none twice: nothing to do. Some
                // signed by it: the earlier build's state before the first it signed, with what
                // it signed on top (`earlier_then_signed`), whatever else is there (a service's
                // own entries, deletions or replays after it; an earlier key generation's
                // frames, which show no hand of this key and which a rotation signed again).
                // None: a catalog an earlier build wrote, taken as its entries show the
                // administrator's hand.
                let (mut all, mut any) = (true, false);
                let mut seen = std::collections::HashSet::new();
                for i in 1..container.frame_count() {
                    let by_administrator = container.read(i).is_ok_and(|e| {
                        mesh_dare::catalog::entry_signed_by(&e, kind.name(), &authority)
                            && seen.insert(mesh_dare::catalog::entry_digest(&e, kind.name()))
                    });
                    all &= by_administrator;
                    any |= by_administrator;
                }
                if all {
                    (true, Vec::new(), Vec::new())
                } else if any {
                    let view = self.signed_view(kind)?;
                    let end = view
                        .first
                        .and_then(|first| container.frames().get(first as usize))
                        .map_or(0, |f| f.position);
                    let (keep, gone) =
                        self.earlier_then_signed(kind, (&path, end), view, &authority)?;
                    (false, keep, gone)
                } else {
                    let (keep, gone) = self.administrators_entries(kind, &catalog, &authority)?;
                    (false, keep, gone)
                }
            };
            removed.extend(gone);
            if !signed {
                std::fs::rename(&path, &old)?;
                let mut fresh = self.catalog(kind)?;
                for item in &keep {
                    let key = CatalogKind::key_of(item).unwrap_or_default();
                    fresh.put_authorized(
                        kind.name(),
                        &self.unique_id(kind, &key)?,
                        Some(item.type_name()),
                        item.to_json()?.as_bytes(),
                        &admin,
                    )?;
                }
                std::fs::remove_file(&old)?;
                upgraded += 1;
            }
        }
        for udf in removed {
            let key = format!("{}{udf}", mesh_schema::catalog::REVOKED_PREFIX);
            if self.get(CatalogKind::Access, &key)?.is_none() {
                let entry = mesh_schema::catalog::CatalogedAccess {
                    key: Some(key),
                    labels: vec![mesh_schema::catalog::REVOKED_LABEL.into()],
                    ..Default::default()
                };
                self.put(CatalogKind::Access, &entry.into())?;
            }
        }
        Ok(upgraded)
    }

    /// The entries of an administered catalog (devices, access) as the account's administrator
    /// key made them, for what gives keys, shares or rights (a rotation, the removals a bind
    /// sends): its frames walked in order, each change taken only if the key of the account's
    /// current profile signed it ([`mesh_dare::catalog::entry_signed_by`]) and it was not
    /// made before (an old change of the administrator's, appended again, would undo what it
    /// changed since); an entry of another type than the catalog's is not taken. A service
    /// that adds, deletes or replays entries on its own changes nothing here. A rotation signs
    /// every entry that stays again, so what earlier keys signed is left out; the count
    /// returned is of the frames after the first the current key signed that it did not sign
    /// (none, but for what someone else put there).
    pub(crate) fn signed_entries(
        &self,
        kind: CatalogKind,
    ) -> Result<(Vec<(String, MeshItem)>, usize)> {
        let view = self.signed_view(kind)?;
        Ok((view.entries, view.unsigned))
    }

    /// [`Self::signed_entries`], with the UniqueIds whose last signed change deleted them and
    /// the first frame the key signed.
    fn signed_view(&self, kind: CatalogKind) -> Result<SignedView> {
        let path = self.dir.join(format!("{}.dare", kind.name()));
        if !path.exists() {
            return Ok(SignedView::default());
        }
        let authority: PublicKey = mesh_schema::key::required(
            &self.profile.administrator_signature,
            "AdministratorSignature",
        )?;
        let catalog = Catalog::open_walking(&path, Mode::Read)?;
        let container = catalog.container();
        let mut seen = std::collections::HashSet::new();
        let mut latest: HashMap<String, Option<u64>> = HashMap::new();
        let (mut first, mut unsigned) = (None, 0);
        for i in 1..container.frame_count() {
            let envelope = container.read(i)?;
            let Some(meta) = envelope
                .content_meta()
                .ok()
                .filter(|m| m.unique_id.is_some())
            else {
                continue; // not a change of an entry (an index frame)
            };
            if !mesh_dare::catalog::entry_signed_by(&envelope, kind.name(), &authority)
                || !seen.insert(mesh_dare::catalog::entry_digest(&envelope, kind.name()))
            {
                unsigned += usize::from(first.is_some());
                continue;
            }
            first.get_or_insert(i);
            let deleted = meta.event.as_deref() == Some(mesh_dare::catalog::EVENT_DELETE);
            latest.insert(meta.unique_id.unwrap_or_default(), (!deleted).then_some(i));
        }
        let deleted = latest
            .iter()
            .filter(|(_, at)| at.is_none())
            .map(|(id, _)| id.clone())
            .collect();
        let mut indexes: Vec<u64> = latest.into_values().flatten().collect();
        indexes.sort_unstable();
        let entries = self
            .read_entries(&catalog, &indexes)?
            .into_iter()
            .filter(|item| {
                matches!(
                    (kind, item),
                    (CatalogKind::Device, MeshItem::CatalogedDevice(_))
                        | (CatalogKind::Access, MeshItem::CatalogedAccess(_))
                )
            })
            .map(|item| (CatalogKind::key_of(&item).unwrap_or_default(), item))
            .collect();
        Ok(SignedView {
            entries,
            deleted,
            first,
            unsigned,
        })
    }

    /// The entries of an administered catalog an earlier build wrote and this build has
    /// changed since: the earlier build's state as it stood before the first frame the
    /// administrator key signed (at octet `end` of the file at `path`: nothing a service
    /// appended later is in it), with the changes the key signed on top; and the devices the
    /// earlier history removed.
    fn earlier_then_signed(
        &self,
        kind: CatalogKind,
        (path, end): (&Path, u64),
        view: SignedView,
        authority: &PublicKey,
    ) -> Result<(Vec<MeshItem>, Vec<String>)> {
        // The frames before it, as a catalog of their own (a copy of the file cut there).
        let prefix = path.with_extension("dare.earlier");
        let earlier = (|| -> Result<(Vec<MeshItem>, Vec<String>)> {
            let mut bytes = std::fs::read(path)?;
            bytes.truncate(end as usize);
            std::fs::write(&prefix, &bytes)?;
            let earlier = Catalog::open_walking(&prefix, Mode::Read)?;
            self.administrators_entries(kind, &earlier, authority)
        })();
        let _ = std::fs::remove_file(&prefix);
        let (earlier, gone) = earlier?;
        let signed: std::collections::HashSet<&str> =
            view.entries.iter().map(|(key, _)| key.as_str()).collect();
        let mut keep = Vec::new();
        for item in earlier {
            let key = CatalogKind::key_of(&item).unwrap_or_default();
            let id = self.unique_id(kind, &key)?;
            if !signed.contains(key.as_str()) && !view.deleted.contains(&id) {
                keep.push(item);
            }
        }
        keep.extend(view.entries.into_iter().map(|(_, item)| item));
        Ok((keep, gone))
    }

    /// Of an administered catalog written by an earlier build (when any device could write
    /// it): the current entries the administrator made — device entries whose connection the
    /// administrator key signed, access entries it signed — and, for the device catalog, the
    /// devices whose entries were deleted (removed devices, which become removal entries).
    fn administrators_entries(
        &self,
        kind: CatalogKind,
        catalog: &Catalog,
        authority: &PublicKey,
    ) -> Result<(Vec<MeshItem>, Vec<String>)> {
        let container = catalog.container();
        let mut keep = Vec::new();
        for id in catalog.ids().map(str::to_string).collect::<Vec<_>>() {
            let Some(index) = catalog.frame_of(&id) else {
                continue;
            };
            let envelope = container.read(index)?;
            let item = self.read_entries(catalog, &[index])?.remove(0);
            let by_administrator = match (&kind, &item) {
                (CatalogKind::Device, MeshItem::CatalogedDevice(d)) => {
                    d.enveloped_connection_device.as_ref().is_some_and(|c| {
                        signed::verify_signed_by(c, authority, "connection", &KeyRing::new())
                            .is_ok()
                    })
                }
                (CatalogKind::Access, _) => {
                    mesh_dare::catalog::entry_signed_by(&envelope, kind.name(), authority)
                        || signed::verify_signed_by(&envelope, authority, "access", &KeyRing::new())
                            .is_ok()
                }
                _ => false,
            };
            if by_administrator {
                keep.push(item);
            }
        }
        let mut gone = Vec::new();
        if kind == CatalogKind::Device {
            let current: std::collections::HashSet<&str> = catalog.ids().collect();
            for i in 1..container.frame_count() {
                let envelope = container.read(i)?;
                let meta = envelope.content_meta()?;
                let deleted = meta
                    .unique_id
                    .as_deref()
                    .is_some_and(|id| !current.contains(id));
                if !deleted || meta.event.as_deref() == Some(mesh_dare::catalog::EVENT_DELETE) {
                    continue;
                }
                if let Ok(MeshItem::CatalogedDevice(d)) =
                    self.read_entries(catalog, &[i]).map(|mut v| v.remove(0))
                {
                    gone.extend(d.udf.or(d.device_udf));
                }
            }
        }
        Ok((keep, gone))
    }

    pub fn list(&self, kind: CatalogKind) -> Result<Vec<(String, MeshItem)>> {
        let path = self.dir.join(format!("{}.dare", kind.name()));
        if !path.exists() {
            return Ok(Vec::new());
        }
        Ok(self
            .read_current(&path, None)?
            .into_iter()
            .map(|item| (CatalogKind::key_of(&item).unwrap_or_default(), item))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesh_schema::catalog::CatalogedCredential;

    fn secrets_of(address: &str, version: &str) -> AccountSecrets {
        AccountSecrets {
            address: address.into(),
            account_secret: Some(version.into()),
            ..Default::default()
        }
    }

    #[test]
    fn merging_keeps_both_commands_changes_and_refuses_to_choose_between_them() {
        let (x1, x2, y, z) = (
            secrets_of("x@example.com", "1"),
            secrets_of("x@example.com", "2"),
            secrets_of("y@example.com", "1"),
            secrets_of("z@example.com", "1"),
        );
        let names = |list: &[AccountSecrets]| {
            let mut v: Vec<String> = list
                .iter()
                .map(|a| format!("{}={}", a.address, a.account_secret.clone().unwrap()))
                .collect();
            v.sort();
            v.join(",")
        };
        // Each added one: both kept.
        let merged = merge_accounts(&[], std::slice::from_ref(&y), vec![z.clone()]).unwrap();
        assert_eq!(names(&merged), "y@example.com=1,z@example.com=1");
        // This one changed x, the other added z: x as changed, z kept.
        let merged = merge_accounts(
            std::slice::from_ref(&x1),
            std::slice::from_ref(&x2),
            vec![x1.clone(), z.clone()],
        )
        .unwrap();
        assert_eq!(names(&merged), "x@example.com=2,z@example.com=1");
        // This one removed x, the other did not touch it: removed; the other's z kept.
        let merged =
            merge_accounts(std::slice::from_ref(&x1), &[], vec![x1.clone(), z.clone()]).unwrap();
        assert_eq!(names(&merged), "z@example.com=1");
        // Not touched here: whatever the other did to x stands (changed, or removed).
        let merged = merge_accounts(
            &[x1.clone(), y.clone()],
            &[x1.clone(), y.clone()],
            vec![x2.clone(), y.clone()],
        )
        .unwrap();
        assert_eq!(names(&merged), "x@example.com=2,y@example.com=1");
        let merged =
            merge_accounts(std::slice::from_ref(&x1), std::slice::from_ref(&x1), vec![]).unwrap();
        assert_eq!(names(&merged), "");
        // Both made the same change: that change.
        let merged = merge_accounts(std::slice::from_ref(&x1), &[], vec![z.clone()]).unwrap();
        assert_eq!(names(&merged), "z@example.com=1");
        // Both changed x (both added it, both changed it, one changed and one removed it):
        // neither is chosen.
        for (base, ours, disk) in [
            (vec![], vec![x1.clone()], vec![x2.clone()]),
            (vec![x1.clone()], vec![x2.clone()], vec![]),
            (vec![x1.clone()], vec![], vec![x2.clone()]),
            (
                vec![x1.clone()],
                vec![x2.clone()],
                vec![secrets_of("x@example.com", "3")],
            ),
        ] {
            assert_eq!(
                merge_accounts(&base, &ours, disk).err().as_deref(),
                Some("x@example.com")
            );
        }
    }

    /// `count` entries ("entry 0", …) encrypted to `key`.
    fn entries_for(key: &PublicKey, count: usize) -> Vec<DareEnvelope> {
        (0..count)
            .map(|i| {
                DareEnvelope::encode(
                    format!("entry {i}").as_bytes(),
                    &mesh_dare::EnvelopeOptions {
                        recipients: vec![key],
                        ..Default::default()
                    },
                )
                .unwrap()
            })
            .collect()
    }

    /// Contributions computed here with the "service" share, counting the requests.
    struct LocalOperator {
        share: PrivateKey,
        requests: std::sync::Mutex<usize>,
    }

    impl ThresholdOperator for LocalOperator {
        fn contributions(&self, capability: &str, epks: &[PublicKey]) -> Result<Vec<Vec<u8>>> {
            assert_eq!(capability, "NCAP");
            assert!(epks.len() <= OPERATE_BATCH);
            *self.requests.lock().unwrap() += 1;
            epks.iter()
                .map(|e| Ok(self.share.agree_partial(e)?))
                .collect()
        }
    }

    #[test]
    fn share_reads_are_batched_and_report_progress() {
        let account_key = PrivateKey::generate(mesh_crypto::Algorithm::X448);
        let (mine, theirs) = account_key.split().unwrap();
        let public = account_key.public_key();
        let envelopes = entries_for(&public, 150);
        let operator = LocalOperator {
            share: theirs,
            requests: Default::default(),
        };
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = seen.clone();
        let progress = move |done, total| record.lock().unwrap().push((done, total));
        let share = AccountShare {
            of: public.clone(),
            key: mine,
            capability: "NCAP".into(),
        };
        let shares = [share];
        let ring = share_ring(&shares, &operator, &envelopes, Some(&progress), None).unwrap();
        let share = &shares[0];
        for (i, envelope) in envelopes.iter().enumerate() {
            assert_eq!(
                envelope.plaintext(&ring).unwrap(),
                format!("entry {i}").as_bytes()
            );
        }
        assert_eq!(*operator.requests.lock().unwrap(), 2);
        assert_eq!(*seen.lock().unwrap(), vec![(100, 150), (150, 150)]);
        // The device's share alone opens nothing.
        let mut alone = KeyRing::new();
        alone.add_private(share.key.clone());
        assert!(envelopes[0].plaintext(&alone).is_err());
    }

    /// Agreements made once are kept, sealed under the share: read again (in this process or
    /// after a restart) the entries need no Operate. A contribution that does not open its
    /// entry (a service answering wrongly) is not kept. Another share reads nothing kept.
    #[test]
    fn agreements_are_made_once_per_entry() {
        let dir = tempfile::tempdir().unwrap();
        let account_key = PrivateKey::generate(mesh_crypto::Algorithm::X448);
        let (mine, theirs) = account_key.split().unwrap();
        let public = account_key.public_key();
        let count = OPERATE_BATCH + 20;
        let envelopes = entries_for(&public, count);
        let operator = LocalOperator {
            share: theirs.clone(),
            requests: Default::default(),
        };
        let requests = || *operator.requests.lock().unwrap();
        let shares = [AccountShare {
            of: public.clone(),
            key: mine.clone(),
            capability: "NCAP".into(),
        }];
        // Load as the device does: the service's contribution for the anchor.
        let load = |dir: &Path, with: &dyn ThresholdOperator| {
            let refs = [(&public, &mine)];
            let mut contribute = |_: &str, epk: &PublicKey| -> Result<Vec<u8>> {
                Ok(with
                    .contributions("NCAP", std::slice::from_ref(epk))?
                    .remove(0))
            };
            AgreementCache::load(dir, &refs, &mut contribute)
        };
        let read_all = |ring: &KeyRing| {
            for (i, e) in envelopes.iter().enumerate() {
                assert_eq!(e.plaintext(ring).unwrap(), format!("entry {i}").as_bytes());
            }
        };
        // A new cache asks nothing to load; the first read asks for every entry, in batches.
        let mut cache = load(dir.path(), &operator);
        assert_eq!(requests(), 0);
        let ring = share_ring(&shares, &operator, &envelopes, None, Some(&mut cache)).unwrap();
        read_all(&ring);
        assert_eq!(requests(), 2);
        assert_eq!(cache.len(), count);
        // Again: nothing asked of the service.
        let ring = share_ring(&shares, &operator, &envelopes, None, Some(&mut cache)).unwrap();
        read_all(&ring);
        assert_eq!(requests(), 2);
        // After a restart: one contribution opens every kept value.
        let mut reloaded = load(dir.path(), &operator);
        assert_eq!(requests(), 3);
        assert_eq!(reloaded.len(), count);
        let ring = share_ring(&shares, &operator, &envelopes, None, Some(&mut reloaded)).unwrap();
        read_all(&ring);
        assert_eq!(requests(), 3);

        // The service no longer contributes (the device was removed, or the service is out of
        // reach): nothing kept can be read, and nothing is kept.
        struct Refusing;
        impl ThresholdOperator for Refusing {
            fn contributions(&self, _: &str, _: &[PublicKey]) -> Result<Vec<Vec<u8>>> {
                Err(ClientError::Invalid("no capability".into()))
            }
        }
        let mut refused = load(dir.path(), &Refusing);
        assert_eq!(refused.len(), 0);
        assert!(share_ring(&shares, &Refusing, &envelopes, None, Some(&mut refused)).is_err());
        // A contribution that is wrong (a service answering falsely): the key does not check,
        // nothing is read, and nothing it answered is kept.
        let liar = LocalOperator {
            share: PrivateKey::generate(mesh_crypto::Algorithm::X448),
            requests: Default::default(),
        };
        let mut lied = load(dir.path(), &liar);
        assert_eq!(lied.len(), 0);
        let ring = share_ring(&shares, &liar, &envelopes, None, Some(&mut lied)).unwrap();
        assert!(envelopes[0].plaintext(&ring).is_err());
        assert_eq!(load(dir.path(), &operator).len(), count);
        // A fresh directory with a lying service keeps nothing either.
        let dir2 = tempfile::tempdir().unwrap();
        let mut fresh = load(dir2.path(), &liar);
        let ring = share_ring(&shares, &liar, &envelopes, None, Some(&mut fresh)).unwrap();
        assert!(envelopes[0].plaintext(&ring).is_err());
        assert_eq!(fresh.len(), 0);

        // A damaged file: what does not check is passed over, reads go to the service, and what
        // they make is kept again.
        let path = dir.path().join("agreements.dare");
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes.len() - 40;
        bytes[at] ^= 0x55;
        std::fs::write(&path, &bytes).unwrap();
        // (How much of it still counts as kept depends on where the damage fell: a frame names
        // its keys in its metadata, and is found unreadable only when one is asked for.)
        let mut damaged = load(dir.path(), &operator);
        let ring = share_ring(&shares, &operator, &envelopes, None, Some(&mut damaged)).unwrap();
        read_all(&ring);
        assert_eq!(load(dir.path(), &operator).len(), count);
    }

    /// Many entries put at once (batches of PUT_BATCH, one fsync each) read back as put one by
    /// one would: every key, the later of two puts of one key, and all of it after reopening.
    #[test]
    fn put_all_writes_in_batches_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut device = MeshHome::at(dir.path()).open_or_create("pass").unwrap();
        let account = device.create_account("alice@example.com").unwrap();
        let n = PUT_BATCH * 2 + 7;
        let mut items: Vec<MeshItem> = (0..n)
            .map(|i| {
                CatalogedCredential {
                    service: Some(format!("site{i}.example")),
                    password: Some(format!("first {i}")),
                    ..Default::default()
                }
                .into()
            })
            .collect();
        // The same key again, later in the run: its second value wins.
        items.push(
            CatalogedCredential {
                service: Some("site3.example".into()),
                password: Some("second".into()),
                ..Default::default()
            }
            .into(),
        );
        let mut told = 0;
        let keys = account
            .put_all(CatalogKind::Credential, &items, &mut || told += 1)
            .unwrap();
        assert_eq!(keys.len(), n + 1);
        assert_eq!(told, n + 1);
        drop(account);
        let account = MeshHome::at(dir.path())
            .open("pass")
            .unwrap()
            .account(None)
            .unwrap();
        let listed = account.list(CatalogKind::Credential).unwrap();
        assert_eq!(listed.len(), n);
        let MeshItem::CatalogedCredential(c) = account
            .get(CatalogKind::Credential, "site3.example")
            .unwrap()
            .unwrap()
        else {
            panic!("not a credential")
        };
        assert_eq!(c.password.as_deref(), Some("second"));
    }

    /// A device connected before threshold decryption holds the account key itself in its
    /// secrets; it still reads the catalogs (and needs no service for it).
    /// An account made by an earlier build: its administered catalogs hold entries without the
    /// administrator's signature over their metadata. Upgrading re-makes them, signed, and
    /// keeps every entry.
    #[test]
    fn administered_catalogs_upgrade_in_place() {
        let a = tempfile::tempdir().unwrap();
        let mut admin = MeshHome::at(a.path()).open_or_create("pass a").unwrap();
        let account = admin.create_account("alice@example.com").unwrap();
        let before = account.list(CatalogKind::Device).unwrap();
        assert_eq!(before.len(), 1);
        // As the earlier build wrote them: the same entries, unsigned.
        let path = account.dir().join("MMM_Device.dare");
        std::fs::remove_file(&path).unwrap();
        let mut legacy = account.catalog(CatalogKind::Device).unwrap();
        let put_unsigned = |legacy: &mut Catalog, key: &str, item: &MeshItem| {
            let id = account.unique_id(CatalogKind::Device, key).unwrap();
            let json = item.to_json().unwrap();
            legacy
                .put(&id, Some(item.type_name()), json.as_bytes(), &[])
                .unwrap();
            id
        };
        for (key, item) in &before {
            put_unsigned(&mut legacy, key, item);
        }
        // What any device could do then: add an entry no administrator made, and delete one.
        for (udf, delete) in [("MFORGED", false), ("MREMOVED", true)] {
            let item = MeshItem::from(mesh_schema::catalog::CatalogedDevice {
                udf: Some(udf.into()),
                device_udf: Some(udf.into()),
                ..Default::default()
            });
            let id = put_unsigned(&mut legacy, udf, &item);
            if delete {
                legacy.delete(&id).unwrap();
            }
        }
        drop(legacy);
        // And a change made by this build since (signed): the catalog is mixed.
        assert!(account.delete(CatalogKind::Device, "MFORGED").unwrap());
        let authority = account.administrator_key().unwrap().public_key();
        let signed = || {
            let catalog = Catalog::open(&path, Mode::Read).unwrap();
            let container = catalog.container();
            (1..container.frame_count())
                .map(|i| {
                    mesh_dare::catalog::entry_signed_by(
                        &container.read(i).unwrap(),
                        "MMM_Device",
                        &authority,
                    )
                })
                .collect::<Vec<bool>>()
        };
        assert_eq!(signed(), vec![false, false, false, false, true]);
        assert_eq!(account.upgrade_administered().unwrap(), 1);
        assert_eq!(signed(), vec![true]);
        // The administrator's entry kept, the forged one dropped, the removal recorded.
        assert_eq!(account.list(CatalogKind::Device).unwrap(), before);
        assert!(account
            .get(CatalogKind::Access, "Revoked:MREMOVED")
            .unwrap()
            .is_some());
        assert!(account
            .get(CatalogKind::Access, "Revoked:MFORGED")
            .unwrap()
            .is_none());
        assert!(!path.with_extension("dare.old").exists());
        // Nothing left to do the second time.
        assert_eq!(account.upgrade_administered().unwrap(), 0);
    }

    #[test]
    fn devices_holding_the_account_key_keep_reading() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut admin = MeshHome::at(a.path()).open_or_create("pass a").unwrap();
        let account = admin.create_account("alice@example.com").unwrap();
        let entry = CatalogedCredential {
            service: Some("bank.example".into()),
            password: Some("pw".into()),
            ..Default::default()
        };
        account.put(CatalogKind::Credential, &entry.into()).unwrap();
        let key = account.encryption_private_key().unwrap().to_bytes();

        // The old device: the account's files, and the key in its sealed secrets.
        let mut old = MeshHome::at(b.path()).open_or_create("pass b").unwrap();
        let dir = b.path().join("accounts/alice@example.com");
        create_private_dir(&dir).unwrap();
        for file in ["profile.dare", "MMM_Credential.dare"] {
            std::fs::copy(account.dir().join(file), dir.join(file)).unwrap();
        }
        old.secrets.accounts.push(AccountSecrets {
            address: "alice@example.com".into(),
            account_encryption_key: Some(mesh_encoding::base64url::encode(&key)),
            ..Default::default()
        });
        old.save_secrets().unwrap();

        let reopened = MeshHome::at(b.path()).open("pass b").unwrap();
        let held = reopened.account(Some("alice@example.com")).unwrap();
        assert!(!held.is_administrator());
        assert!(!held.needs_operator());
        let Some(MeshItem::CatalogedCredential(got)) =
            held.get(CatalogKind::Credential, "bank.example").unwrap()
        else {
            panic!("the credential is not readable");
        };
        assert_eq!(got.password.as_deref(), Some("pw"));
        // Its secrets keep the key as they were written: nothing new is added.
        let secrets = &reopened.secrets.accounts[0];
        assert!(secrets.grant.is_none() && secrets.account_encryption_key.is_some());
    }
}
