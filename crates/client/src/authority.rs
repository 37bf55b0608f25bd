//! Who holds what of an account's authority (architecture §5.8, schema-08 §6.1; the reference's
//! ActivationCommon).
//!
//! * The **root** is the account's MeshProfileAccount seed. Its ProfileSignature key signs the
//!   account profile and names the account (the profile's UDF); nothing else needs it. It lives
//!   in the escrow shares and on the device the user keeps it on (the device that made the
//!   account, until `mesh account escrow` moves it into shares).
//! * The **administration keys** (AdministratorSignature, AccountEncryption,
//!   AccountAuthentication, AccountSignature) are what an administrator device works with. The
//!   first generation derives from the root itself (the seeds' form, schema-08 §6.1); each key
//!   rotation takes the next generation from a successor seed, `root-generation.successor(UDF
//!   of the administrator key it replaces)`. Only the root leads from one generation to the
//!   next, so a device holding the administration keys alone, once rotated out, cannot follow;
//!   the root holder (or a quorum of shares) derives every generation, and so reads everything
//!   the account ever encrypted.

use mesh_crypto::{profile_keys, PrivateKey, SecretSeed};
use mesh_encoding::base64url;
use mesh_schema::assertion::{ActivationCommon, ActivationEntry};
use mesh_schema::key::{required, KeyData};
use mesh_schema::profile::ProfileUser;
use serde::{Deserialize, Serialize};

use crate::{ClientError, Result};

/// Rotations followed at most when deriving an account's current keys from its root.
const MAX_GENERATIONS: usize = 10_000;

/// The administration keys role names, in the profile's order.
const ROLES: [&str; 4] = [
    "AdministratorSignature",
    "AccountEncryption",
    "AccountAuthentication",
    "AccountSignature",
];

/// An administrator device's keys for one account, in memory.
#[derive(Clone)]
pub struct AdminKeys {
    pub administrator: PrivateKey,
    pub encryption: PrivateKey,
    pub authentication: PrivateKey,
    pub signature: PrivateKey,
    /// The account encryption keys of earlier generations, newest first.
    pub earlier: Vec<PrivateKey>,
}

/// What an administrator device that does not hold the root keeps in its sealed secrets.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Administration {
    /// base64url of each key's octets ([`PrivateKey::to_bytes`]), by role.
    pub keys: Vec<(String, String)>,
    /// base64url of the earlier account encryption keys, newest first.
    #[serde(default)]
    pub earlier: Vec<String>,
    /// base64url of the catalog UniqueId key.
    pub id_key: String,
}

/// The key of `role` a seed gives (schema-08 §6.1).
pub(crate) fn role_key(seed: &SecretSeed, role: &str) -> Result<PrivateKey> {
    profile_keys(seed)?
        .into_iter()
        .find(|k| k.role == role)
        .map(|k| k.key)
        .ok_or_else(|| ClientError::Invalid(format!("the secret has no {role} key")))
}

/// The account's root key (ProfileSignature), from the root.
pub fn root_key(root: &SecretSeed) -> Result<PrivateKey> {
    role_key(root, "ProfileSignature")
}

impl AdminKeys {
    /// The administration keys a generation seed gives (no earlier keys).
    pub fn from_seed(seed: &SecretSeed) -> Result<Self> {
        Ok(AdminKeys {
            administrator: role_key(seed, ROLES[0])?,
            encryption: role_key(seed, ROLES[1])?,
            authentication: role_key(seed, ROLES[2])?,
            signature: role_key(seed, ROLES[3])?,
            earlier: Vec::new(),
        })
    }

    /// Are these the keys `profile` publishes?
    pub fn match_profile(&self, profile: &ProfileUser) -> Result<bool> {
        let published = [
            &profile.administrator_signature,
            &profile.account_encryption,
            &profile.account_authentication,
            &profile.account_signature,
        ];
        for ((role, key), mine) in ROLES.iter().zip(published).zip(self.all()) {
            if required(key, role)? != mine.public_key() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn all(&self) -> [&PrivateKey; 4] {
        [
            &self.administrator,
            &self.encryption,
            &self.authentication,
            &self.signature,
        ]
    }

    /// Every account encryption key, the current one first.
    pub fn encryption_keys(&self) -> impl Iterator<Item = &PrivateKey> {
        std::iter::once(&self.encryption).chain(&self.earlier)
    }

    /// The keys of the account as `profile` publishes them, walking from the root through
    /// every rotation; the generation seeds (the root first) and the keys of the last.
    pub fn from_root(root: &SecretSeed, profile: &ProfileUser) -> Result<(Vec<SecretSeed>, Self)> {
        let mut seeds = vec![root.clone()];
        let mut earlier = Vec::new();
        loop {
            let seed = seeds.last().expect("at least the root");
            let keys = AdminKeys::from_seed(seed)?;
            if keys.match_profile(profile)? {
                earlier.reverse();
                return Ok((seeds, AdminKeys { earlier, ..keys }));
            }
            if seeds.len() >= MAX_GENERATIONS {
                return Err(ClientError::Invalid(
                    "the account's root does not lead to the keys its profile publishes (these \
                     shares or this secret are not this account's)"
                        .into(),
                ));
            }
            let next = seed.successor(&keys.administrator.public_key().udf());
            earlier.push(keys.encryption);
            seeds.push(next);
        }
    }

    /// The keys kept in sealed secrets, checked against `profile`.
    pub fn from_administration(held: &Administration, profile: &ProfileUser) -> Result<Self> {
        let published = [
            &profile.administrator_signature,
            &profile.account_encryption,
            &profile.account_authentication,
            &profile.account_signature,
        ];
        let mut keys = Vec::new();
        for (role, public) in ROLES.iter().zip(published) {
            let public = required(public, role)?;
            let bytes = held
                .keys
                .iter()
                .find(|(r, _)| r == role)
                .map(|(_, k)| base64url::decode(k))
                .transpose()?
                .ok_or_else(|| ClientError::Invalid(format!("no {role} key held")))?;
            let key = PrivateKey::from_bytes(public.algorithm(), &bytes)?;
            if key.public_key() != public {
                return Err(ClientError::Invalid(format!(
                    "the administration keys held for {} are not the ones its profile \
                     publishes",
                    profile.account_address.as_deref().unwrap_or("the account")
                )));
            }
            keys.push(key);
        }
        let earlier = held
            .earlier
            .iter()
            .map(|k| {
                let bytes = base64url::decode(k)?;
                Ok(PrivateKey::from_bytes(keys[1].algorithm(), &bytes)?)
            })
            .collect::<Result<Vec<_>>>()?;
        let mut keys = keys.into_iter();
        let mut next = || keys.next().expect("four roles");
        Ok(AdminKeys {
            administrator: next(),
            encryption: next(),
            authentication: next(),
            signature: next(),
            earlier,
        })
    }

    /// What to keep in sealed secrets.
    pub fn to_administration(&self, id_key: &[u8; 32]) -> Administration {
        Administration {
            keys: ROLES
                .iter()
                .zip(self.all())
                .map(|(role, key)| (role.to_string(), base64url::encode(&key.to_bytes())))
                .collect(),
            earlier: self
                .earlier
                .iter()
                .map(|k| base64url::encode(&k.to_bytes()))
                .collect(),
            id_key: base64url::encode(id_key),
        }
    }
}

/// The resource name under which an ActivationCommon hands over earlier encryption keys.
const EARLIER: &str = "AccountEncryption";

/// The ActivationCommon that makes a device an administrator of the generation `seed` gives:
/// that seed, the earlier encryption keys and the catalog UniqueId key.
pub fn activation_common(
    seed: &SecretSeed,
    earlier: &[&PrivateKey],
    id_key: &[u8; 32],
) -> Result<ActivationCommon> {
    Ok(ActivationCommon {
        activation_key: Some(seed.udf().to_string()),
        entries: earlier
            .iter()
            .map(|k| {
                Ok(ActivationEntry {
                    resource: Some(EARLIER.into()),
                    key: Some(KeyData::from_private(k)?),
                })
            })
            .collect::<Result<Vec<_>>>()?,
        catalog_id_key: Some(base64url::encode(id_key)),
        ..Default::default()
    })
}

/// The keys an ActivationCommon gives, checked against the profile they are for.
pub fn from_activation_common(
    activation: &ActivationCommon,
    profile: &ProfileUser,
) -> Result<(AdminKeys, [u8; 32])> {
    let seed = SecretSeed::parse(activation.activation_key.as_deref().ok_or_else(|| {
        ClientError::Invalid("the administrator activation has no ActivationKey".into())
    })?)?;
    let mut keys = AdminKeys::from_seed(&seed)?;
    if !keys.match_profile(profile)? {
        return Err(ClientError::Invalid(
            "the administrator activation is not for the account's current keys".into(),
        ));
    }
    for entry in &activation.entries {
        if entry.resource.as_deref() == Some(EARLIER) {
            let key = entry.key.as_ref().ok_or_else(|| {
                ClientError::Invalid("an earlier key entry without its key".into())
            })?;
            keys.earlier.push(key.private_key(EARLIER)?);
        }
    }
    let id_key = base64url::decode(activation.catalog_id_key.as_deref().unwrap_or(""))?
        .try_into()
        .map_err(|_| ClientError::Invalid("a UniqueId key of the wrong size".into()))?;
    Ok((keys, id_key))
}

/// The public key of a profile's role, for messages naming it.
pub fn admin_udf(profile: &ProfileUser) -> Result<String> {
    Ok(required(&profile.administrator_signature, ROLES[0])?.udf())
}
