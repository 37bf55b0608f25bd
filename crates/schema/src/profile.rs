//! Profiles (schema-08 §10.2.8–10.2.14) with the field names of the published data: a device
//! profile's keys are `Encryption`, `Signature`, `Authentication` (the draft's `Base…` names do
//! not occur in seeds 000 and 002).

use mesh_crypto::{profile_keys, PublicKey, SecretSeed};

use crate::key::{required, KeyData};
use crate::{Result, SchemaError};

assertion_struct! {
pub struct ProfileDevice {
    pub profile_signature: Option<KeyData>,
    pub description: Option<String>,
    pub encryption: Option<KeyData>,
    pub signature: Option<KeyData>,
    pub authentication: Option<KeyData>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

assertion_struct! {
pub struct ProfileUser {
    pub profile_signature: Option<KeyData>,
    pub account_address: Option<String>,
    pub service_udf: Option<String>,
    pub escrow_encryption: Option<KeyData>,
    pub account_encryption: Option<KeyData>,
    pub administrator_signature: Option<KeyData>,
    pub account_authentication: Option<KeyData>,
    pub account_signature: Option<KeyData>,
    /// The 2022 reference's names for the account keys (`Common…`; the seeds' are
    /// `Account…`, which this build writes). Read, and kept as read.
    pub common_encryption: Option<KeyData>,
    pub common_authentication: Option<KeyData>,
    pub common_signature: Option<KeyData>,
    pub description: Option<String>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

assertion_struct! {
pub struct ProfileGroup {
    pub profile_signature: Option<KeyData>,
    pub account_address: Option<String>,
    pub service_udf: Option<String>,
    pub account_encryption: Option<KeyData>,
    pub administrator_signature: Option<KeyData>,
    pub escrow_encryption: Option<KeyData>,
    pub account_authentication: Option<KeyData>,
    pub common_encryption: Option<KeyData>,
    pub common_authentication: Option<KeyData>,
    pub description: Option<String>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

assertion_struct! {
pub struct ProfileService {
    pub profile_signature: Option<KeyData>,
    pub service_authentication: Option<KeyData>,
    pub service_encryption: Option<KeyData>,
    pub service_signature: Option<KeyData>,
    pub description: Option<String>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

assertion_struct! {
pub struct ProfileHost {
    pub profile_signature: Option<KeyData>,
    pub encryption: Option<KeyData>,
    pub signature: Option<KeyData>,
    pub authentication: Option<KeyData>,
    pub description: Option<String>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

/// Check every key a profile holds against its UDF; the profile's UDF (its signature key's).
fn check_keys(
    profile_signature: &Option<KeyData>,
    keys: &[(&str, &Option<KeyData>)],
) -> Result<String> {
    for (field, key) in keys {
        required(key, field)?;
    }
    Ok(required(profile_signature, "ProfileSignature")?.udf())
}

/// The public keys a seed yields for its profile type, by role.
fn keys_by_role(seed: &SecretSeed) -> Result<Vec<(&'static str, PublicKey)>> {
    Ok(profile_keys(seed)?
        .into_iter()
        .map(|k| (k.role, k.key.public_key()))
        .collect())
}

fn pick(keys: &[(&'static str, PublicKey)], role: &str) -> Option<KeyData> {
    keys.iter()
        .find(|(r, _)| *r == role)
        .map(|(_, k)| KeyData::from_public(k))
}

impl ProfileDevice {
    /// The device profile a MeshProfileDevice seed defines (schema-08 §6.1; seed 000).
    pub fn from_seed(seed: &SecretSeed, description: Option<String>) -> Result<Self> {
        if seed.specifier().key_type != 256 {
            return Err(SchemaError::Invalid(
                "a device profile needs a MeshProfileDevice secret".into(),
            ));
        }
        let keys = keys_by_role(seed)?;
        Ok(ProfileDevice {
            profile_signature: pick(&keys, "ProfileSignature"),
            description,
            encryption: pick(&keys, "Encryption"),
            signature: pick(&keys, "Signature"),
            authentication: pick(&keys, "Authentication"),
            ..Default::default()
        })
    }

    /// Check every key against its UDF; the profile's UDF.
    pub fn check(&self) -> Result<String> {
        check_keys(
            &self.profile_signature,
            &[
                ("Encryption", &self.encryption),
                ("Signature", &self.signature),
                ("Authentication", &self.authentication),
            ],
        )
    }
}

impl ProfileUser {
    /// The account profile a MeshProfileAccount seed defines, for `address` at the service
    /// whose profile UDF is `service_udf`.
    pub fn from_seed(
        seed: &SecretSeed,
        address: &str,
        service_udf: Option<String>,
    ) -> Result<Self> {
        if seed.specifier().key_type != 258 {
            return Err(SchemaError::Invalid(
                "an account profile needs a MeshProfileAccount secret".into(),
            ));
        }
        let keys = keys_by_role(seed)?;
        Ok(ProfileUser {
            updated: None,
            profile_signature: pick(&keys, "ProfileSignature"),
            account_address: Some(address.to_string()),
            service_udf,
            escrow_encryption: None,
            account_encryption: pick(&keys, "AccountEncryption"),
            administrator_signature: pick(&keys, "AdministratorSignature"),
            account_authentication: pick(&keys, "AccountAuthentication"),
            account_signature: pick(&keys, "AccountSignature"),
            ..Default::default()
        })
    }

    /// The profile a key rotation issues: the same account (ProfileSignature, address,
    /// service), every other key taken from `next`, the seed of the new administration keys,
    /// and `updated` later than this profile's.
    pub fn rotated(&self, next: &SecretSeed) -> Result<Self> {
        let fresh = Self::from_seed(next, self.account_address.as_deref().unwrap_or(""), None)?;
        let mut updated = crate::signed::now_time();
        if let Some(before) = self.updated_time() {
            if updated <= before {
                updated = before + time::Duration::seconds(1);
            }
        }
        Ok(ProfileUser {
            updated: Some(crate::signed::format_time(updated)),
            profile_signature: self.profile_signature.clone(),
            service_udf: self.service_udf.clone(),
            extra: self.extra.clone(),
            ..fresh
        })
    }

    /// `updated` as a time, if the profile has one that parses.
    pub fn updated_time(&self) -> Option<time::OffsetDateTime> {
        self.updated.as_deref().and_then(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
        })
    }

    /// Does this profile replace `earlier`: the same account (ProfileSignature) and changed
    /// later? A profile that never was re-issued has no `updated` and replaces nothing.
    pub fn replaces(&self, earlier: &ProfileUser) -> bool {
        let same = match (&self.profile_signature, &earlier.profile_signature) {
            (Some(a), Some(b)) => a.udf.is_some() && a.udf == b.udf,
            _ => false,
        };
        let later = match (self.updated_time(), earlier.updated_time()) {
            (Some(now), Some(before)) => now > before,
            (Some(_), None) => true,
            _ => false,
        };
        same && later
    }

    /// The account's encryption key, under the seeds' name or the 2022 reference's.
    pub fn encryption(&self) -> &Option<KeyData> {
        either(&self.account_encryption, &self.common_encryption)
    }

    pub fn check(&self) -> Result<String> {
        let udf = check_keys(
            &self.profile_signature,
            &[
                ("AccountEncryption", self.encryption()),
                ("AdministratorSignature", &self.administrator_signature),
                (
                    "AccountAuthentication",
                    either(&self.account_authentication, &self.common_authentication),
                ),
                (
                    "AccountSignature",
                    either(&self.account_signature, &self.common_signature),
                ),
            ],
        )?;
        if self.account_address.as_deref().is_none_or(str::is_empty) {
            return Err(SchemaError::Invalid(
                "the account profile has no AccountAddress".into(),
            ));
        }
        Ok(udf)
    }
}

impl ProfileService {
    pub fn check(&self) -> Result<String> {
        check_keys(
            &self.profile_signature,
            &[
                ("ServiceAuthentication", &self.service_authentication),
                ("ServiceEncryption", &self.service_encryption),
                ("ServiceSignature", &self.service_signature),
            ],
        )
    }
}

impl ProfileHost {
    pub fn check(&self) -> Result<String> {
        check_keys(
            &self.profile_signature,
            &[
                ("Encryption", &self.encryption),
                ("Signature", &self.signature),
                ("Authentication", &self.authentication),
            ],
        )
    }
}

/// The key under the seeds' name if there is one, else under the reference's.
fn either<'a>(seeds: &'a Option<KeyData>, reference: &'a Option<KeyData>) -> &'a Option<KeyData> {
    if seeds.is_some() {
        seeds
    } else {
        reference
    }
}

impl ProfileGroup {
    pub fn check(&self) -> Result<String> {
        check_keys(
            &self.profile_signature,
            &[
                (
                    "AccountEncryption",
                    either(&self.account_encryption, &self.common_encryption),
                ),
                ("AdministratorSignature", &self.administrator_signature),
            ],
        )
    }
}
