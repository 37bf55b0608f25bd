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
//!   rotation takes the next generation from a seed the *root* derives, `root.successor(UDF of
//!   the administrator key it replaces)` ([`next_generation`]), never from the generation seed
//!   an administrator device is given. Only the root leads from one generation to the next, so
//!   a device holding a generation's seed or keys, once rotated out, cannot follow; the root
//!   holder (or a quorum of shares) derives every generation, and so reads everything the
//!   account ever encrypted.

use mesh_crypto::{profile_keys, PrivateKey, SecretSeed};
use mesh_encoding::base64url;
use mesh_schema::assertion::{ActivationCommon, ActivationEntry};
use mesh_schema::key::{required, KeyData};
use mesh_schema::profile::ProfileUser;
use serde::{Deserialize, Serialize};

use crate::{ClientError, Result};

/// Rotations followed at most when deriving an account's current keys from its root.
const MAX_GENERATIONS: usize = 1_000;

/// The administration keys role names, in the profile's order.
const ROLES: [&str; 4] = [
    "AdministratorSignature",
    "AccountEncryption",
    "AccountAuthentication",
    "AccountSignature",
];

/// The administration keys a profile publishes, in [`ROLES`] order.
fn published(profile: &ProfileUser) -> [&Option<KeyData>; 4] {
    [
        &profile.administrator_signature,
        &profile.account_encryption,
        &profile.account_authentication,
        &profile.account_signature,
    ]
}

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

/// The seed of the generation after the one whose administrator key has the UDF
/// `administrator`: derived from the root, so that no generation's seed leads to the next.
pub fn next_generation(root: &SecretSeed, administrator: &str) -> SecretSeed {
    root.successor(administrator)
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
        let published = published(profile);
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
        if required(&profile.profile_signature, "ProfileSignature")? != root_key(root)?.public_key()
        {
            return Err(ClientError::Invalid(
                "this root is not the account's: its ProfileSignature key is another".into(),
            ));
        }
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
            let next = next_generation(root, &keys.administrator.public_key().udf());
            earlier.push(keys.encryption);
            seeds.push(next);
        }
    }

    /// The keys kept in sealed secrets, checked against `profile`.
    pub fn from_administration(held: &Administration, profile: &ProfileUser) -> Result<Self> {
        let published = published(profile);
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
                    ..Default::default()
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

#[cfg(test)]
mod tests {
    use super::*;
    use mesh_udf::KeySpecifier;
    use proptest::prelude::*;

    fn root() -> SecretSeed {
        SecretSeed::generate(KeySpecifier::new(0, 258).unwrap())
    }

    /// The profile after `n` rotations, and each generation's keys.
    fn rotated(root: &SecretSeed, n: usize) -> (ProfileUser, Vec<AdminKeys>) {
        let mut profile = ProfileUser::from_seed(root, "alice@example.com", None).unwrap();
        let mut seed = root.clone();
        let mut generations = vec![AdminKeys::from_seed(&seed).unwrap()];
        for _ in 0..n {
            let admin = generations.last().unwrap().administrator.public_key().udf();
            seed = next_generation(root, &admin);
            profile = profile.rotated(&seed).unwrap();
            generations.push(AdminKeys::from_seed(&seed).unwrap());
        }
        (profile, generations)
    }

    #[test]
    fn the_root_leads_to_every_generation() {
        let root = root();
        let (profile, generations) = rotated(&root, 3);
        let (seeds, keys) = AdminKeys::from_root(&root, &profile).unwrap();
        assert_eq!(seeds.len(), 4);
        assert!(keys.match_profile(&profile).unwrap());
        let earlier: Vec<_> = keys.earlier.iter().map(|k| k.public_key()).collect();
        let expected: Vec<_> = generations[..3]
            .iter()
            .rev()
            .map(|g| g.encryption.public_key())
            .collect();
        assert_eq!(earlier, expected, "newest first");
        // The same account throughout; another root leads nowhere.
        let (first, _) = rotated(&root, 0);
        assert_eq!(profile.check().unwrap(), first.check().unwrap());
        assert!(AdminKeys::from_root(&self::root(), &profile).is_err());
    }

    /// What an administrator device is handed (a generation's seed and keys) does not lead to
    /// the next generation: only the root does.
    #[test]
    fn a_generation_seed_does_not_lead_to_the_next() {
        let root = root();
        let (profile, generations) = rotated(&root, 2);
        let (seeds, _) = AdminKeys::from_root(&root, &profile).unwrap();
        let given = &seeds[1];
        let admin = generations[1].administrator.public_key().udf();
        let guessed = AdminKeys::from_seed(&given.successor(&admin)).unwrap();
        assert!(!guessed.match_profile(&profile).unwrap());
        assert!(AdminKeys::from_seed(&next_generation(&root, &admin))
            .unwrap()
            .match_profile(&profile)
            .unwrap());
    }

    #[test]
    fn administration_keys_kept_and_handed_over() {
        let root = root();
        let (profile, _) = rotated(&root, 2);
        let (seeds, keys) = AdminKeys::from_root(&root, &profile).unwrap();
        let id_key = [7u8; 32];
        let held = keys.to_administration(&id_key);
        let again = AdminKeys::from_administration(&held, &profile).unwrap();
        assert!(again.match_profile(&profile).unwrap());
        assert_eq!(again.earlier.len(), 2);
        // Kept keys do not pass for another generation's profile.
        let (older, _) = rotated(&root, 1);
        assert!(AdminKeys::from_administration(&held, &older).is_err());

        let earlier: Vec<&PrivateKey> = keys.earlier.iter().collect();
        let common = activation_common(seeds.last().unwrap(), &earlier, &id_key).unwrap();
        let item = mesh_schema::MeshItem::from(common.clone());
        let parsed = mesh_schema::expect_item!(
            mesh_schema::MeshItem::from_bytes(item.to_json().unwrap().as_bytes()).unwrap(),
            ActivationCommon
        )
        .unwrap();
        let (given, given_id) = from_activation_common(&parsed, &profile).unwrap();
        assert_eq!(given_id, id_key);
        assert!(given.match_profile(&profile).unwrap());
        assert_eq!(given.earlier.len(), 2);
        // An activation of another generation, or an earlier key whose private part does not
        // match its public key, is refused.
        assert!(from_activation_common(&parsed, &older).is_err());
        let mut forged = parsed.clone();
        if let Some(key) = forged.entries[0].key.as_mut() {
            key.public_parameters = KeyData::from_private(&keys.encryption)
                .unwrap()
                .public_parameters;
        }
        assert!(from_activation_common(&forged, &profile).is_err());
    }

    #[test]
    fn a_rotated_profile_replaces_only_earlier_ones_of_its_account() {
        let root = root();
        let (first, _) = rotated(&root, 0);
        let (second, _) = rotated(&root, 1);
        let (third, _) = rotated(&root, 2);
        assert!(second.replaces(&first));
        assert!(third.replaces(&second));
        assert!(!first.replaces(&second));
        assert!(!second.replaces(&third));
        assert!(!second.replaces(&second));
        let (stranger, _) = rotated(&self::root(), 3);
        assert!(!stranger.replaces(&first));
    }

    /// A first profile, and the ProfileSignature of another account (made once: key
    /// derivation is the slow part).
    fn fixtures() -> &'static (ProfileUser, Option<KeyData>) {
        static FIXTURES: std::sync::OnceLock<(ProfileUser, Option<KeyData>)> =
            std::sync::OnceLock::new();
        FIXTURES.get_or_init(|| {
            let (base, _) = rotated(&root(), 0);
            let other = ProfileUser::from_seed(&root(), "alice@example.com", None)
                .unwrap()
                .profile_signature;
            (base, other)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// `replaces` orders profiles of one account by `Updated`, strictly, and whatever the
        /// times, never across accounts.
        #[test]
        fn replaces_is_a_strict_order(a in 0i64..4_000_000_000, b in 0i64..4_000_000_000) {
            let (base, stranger) = fixtures();
            let at = |t: i64| {
                let mut p = base.clone();
                p.updated = Some(
                    time::OffsetDateTime::from_unix_timestamp(t)
                        .unwrap()
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap(),
                );
                p
            };
            let (pa, pb) = (at(a), at(b));
            prop_assert_eq!(pa.replaces(&pb), a > b);
            prop_assert!(!(pa.replaces(&pb) && pb.replaces(&pa)));
            let mut other = pa.clone();
            other.profile_signature = stranger.clone();
            prop_assert!(!other.replaces(&pb));
        }

        /// Any octets as an ActivationCommon: refused or checked, never a panic.
        #[test]
        fn activation_common_from_any_octets(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            let (profile, _) = fixtures();
            if let Ok(mesh_schema::MeshItem::ActivationCommon(a)) = mesh_schema::MeshItem::from_bytes(&data) {
                let _ = from_activation_common(&a, profile);
            }
        }
    }
}
