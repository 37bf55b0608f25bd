//! Connections and activations (schema-08 §3.2, §10.2.4–10.2.24) and the activation scheme that
//! binds a device to an account: the administrator makes a fresh activation seed; the device's
//! working keys are its base keys plus the activation keys (private scalars add, public points
//! add), so neither the device's base secret nor the activation alone is enough to act for the
//! account. The ConnectionDevice publishes the combined public keys, signed by the administrator.

use mesh_crypto::{profile_keys, PrivateKey, PublicKey, SecretSeed};
use mesh_udf::{random, KeySpecifier};

use crate::catalog::CatalogedCallsign;
use crate::key::{required, KeyData};
use crate::profile::ProfileDevice;
use crate::{Result, SchemaError};
use mesh_dare::DareEnvelope;

assertion_struct! {
pub struct ConnectionDevice {
    pub subject_udf: Option<String>,
    pub authority_udf: Option<String>,
    pub account_address: Option<String>,
    /// The 2022 reference's names (`Subject`, `Authority`, `ProfileUdf`) and the device's
    /// rights (`Roles`); the seeds' `SubjectUdf` / `AuthorityUdf` are what this build writes.
    pub subject: Option<String>,
    pub authority: Option<String>,
    pub profile_udf: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    pub signature: Option<KeyData>,
    pub encryption: Option<KeyData>,
    pub authentication: Option<KeyData>,
    pub callsign: Option<CatalogedCallsign>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

assertion_struct! {
pub struct ConnectionService {
    pub subject_udf: Option<String>,
    pub authority_udf: Option<String>,
    pub subject: Option<String>,
    pub authority: Option<String>,
    pub profile_udf: Option<String>,
    pub authentication: Option<KeyData>,
    pub callsign: Option<CatalogedCallsign>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

assertion_struct! {
pub struct ConnectionHost {
    pub subject_udf: Option<String>,
    pub authority_udf: Option<String>,
    pub authentication: Option<KeyData>,
    pub subject: Option<String>,
    pub authority: Option<String>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

assertion_struct! {
/// A callsign bound to an account profile (the reference's CallsignBinding, carried by its
/// BindRequest): the canonical and display forms and the services it names.
pub struct CallsignBinding {
    pub canonical: Option<String>,
    pub display: Option<String>,
    pub profile_udf: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<NamedService>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

mesh_struct! {
pub struct NamedService {
    pub prefix: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<String>,
    pub mapping: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub endpoint: Vec<String>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

assertion_struct! {
/// The service's assignment of an account to a host (the reference's AccountHostAssignment,
/// in its BindResponse). The reference spells the address member `AccountAddess`; that is
/// what is read and written, `AccountAddress` is read too.
pub struct AccountHostAssignment {
    #[serde(rename = "AccountAddess", alias = "AccountAddress")]
    pub account_address: Option<String>,
    pub access_encrypt: Option<KeyData>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub host_addresses: Vec<String>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

mesh_struct! {
pub struct ActivationEntry {
    pub resource: Option<String>,
    pub key: Option<KeyData>,
    pub service_id: Option<String>,
    pub service_address: Option<String>,
}}

activation_struct! {
/// What an administrator device is given of the account (the reference's ActivationCommon):
/// `ActivationKey`, the seed of the account's current administration keys
/// (AdministratorSignature, AccountEncryption, AccountAuthentication, AccountSignature, derived
/// from it as from a MeshProfileAccount seed; its ProfileSignature key is not the account's),
/// and in `Entries` the encryption keys of earlier generations (`Resource` "AccountEncryption"),
/// so that what was written before a rotation stays readable. Sent encrypted to the device.
pub struct ActivationCommon {
    /// The key catalog UniqueIds are made with (base64url): unchanged by rotations, so that an
    /// entry keeps its identifier. This implementation's, as in ActivationAccount.
    pub catalog_id_key: Option<String>,
    /// The account's keys with their private parameters, as the 2022 reference carries them.
    pub encryption: Option<KeyData>,
    pub authentication: Option<KeyData>,
    pub signature: Option<KeyData>,
    pub profile_signature: Option<KeyData>,
    pub administrator_signature: Option<KeyData>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

mesh_struct! {
pub struct ActivationDevice {
    /// The activation seed (`Z…`, MeshActivationDevice). Secret: the envelope carrying an
    /// ActivationDevice is encrypted to the device.
    pub activation_key: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub entries: Vec<ActivationEntry>,
    pub account_udf: Option<String>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

activation_struct! {
pub struct ActivationAccount {
    pub profile_signature: Option<KeyData>,
    pub administrator_signature: Option<KeyData>,
    pub account_encryption: Option<KeyData>,
    pub account_authentication: Option<KeyData>,
    pub account_signature: Option<KeyData>,
    /// The device's share of the account encryption key (base64url of the scalar): with the
    /// service's contribution from the other share (Operate, capability
    /// `AccountEncryptionCapability`) it decrypts what is encrypted to the account; alone it
    /// decrypts nothing (schema-08 §6.6, threshold-06 §3.2). Not a field of the draft, which
    /// does not say how a device holds its share.
    pub account_encryption_share: Option<String>,
    /// The Id of the CapabilityDecryptServiced entry of the access catalog for that share.
    pub account_encryption_capability: Option<String>,
    /// The reference's: the account's UDF and the activation's per-resource keys.
    pub account_udf: Option<String>,
    /// The key the device makes catalog UniqueIds with (base64url), so that its entries have
    /// the same identifiers as the administrator's.
    pub catalog_id_key: Option<String>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

/// The working keys of a connected device.
pub struct DeviceKeys {
    pub signature: PrivateKey,
    pub encryption: PrivateKey,
    pub authentication: PrivateKey,
}

const ROLES: [&str; 3] = ["Signature", "Encryption", "Authentication"];

fn role_key(keys: &[mesh_crypto::ProfileKey], role: &str) -> Result<PrivateKey> {
    keys.iter()
        .find(|k| k.role == role)
        .map(|k| k.key.clone())
        .ok_or_else(|| SchemaError::Invalid(format!("no {role} key in the seed's profile")))
}

fn base_public(profile: &ProfileDevice, role: &str) -> Result<PublicKey> {
    let field = match role {
        "Signature" => &profile.signature,
        "Encryption" => &profile.encryption,
        _ => &profile.authentication,
    };
    required(field, role)
}

impl ActivationDevice {
    /// Administrator side: a new activation of `device` for the account `account_udf` /
    /// `address`, and the connection it yields, granting `rights` (its `Roles`).
    pub fn create(
        device: &ProfileDevice,
        account_udf: &str,
        address: &str,
        rights: crate::rights::Rights,
    ) -> Result<(ActivationDevice, ConnectionDevice)> {
        let device_udf = device.check()?;
        let seed = SecretSeed::from_udf(random::secret_seed(KeySpecifier::new(0, 257)?, 256))?;
        let activation = ActivationDevice {
            activation_key: Some(seed.udf().to_string()),
            account_udf: Some(account_udf.to_string()),
            ..Default::default()
        };
        let activation_keys = profile_keys(&seed)?;
        let mut combined = Vec::new();
        for role in ROLES {
            let public = base_public(device, role)?
                .combine(&role_key(&activation_keys, role)?.public_key())?;
            combined.push(KeyData::from_public(&public));
        }
        let connection = ConnectionDevice {
            subject_udf: Some(device_udf),
            authority_udf: Some(account_udf.to_string()),
            account_address: Some(address.to_string()),
            signature: Some(combined[0].clone()),
            encryption: Some(combined[1].clone()),
            authentication: Some(combined[2].clone()),
            roles: rights.roles(),
            ..Default::default()
        };
        Ok((activation, connection))
    }

    /// Device side: the working keys from the device's own seed and this activation, checked
    /// against the connection the administrator signed.
    pub fn device_keys(
        &self,
        device_seed: &SecretSeed,
        connection: &ConnectionDevice,
    ) -> Result<DeviceKeys> {
        let text = self.activation_key.as_deref().ok_or_else(|| {
            SchemaError::Invalid("the activation carries no ActivationKey".into())
        })?;
        let seed = SecretSeed::parse(&text.split_whitespace().collect::<String>())?;
        let base = profile_keys(device_seed)?;
        let activation = profile_keys(&seed)?;
        let mut keys = Vec::new();
        for (role, published) in ROLES.iter().zip([
            &connection.signature,
            &connection.encryption,
            &connection.authentication,
        ]) {
            let key = role_key(&base, role)?.combine(&role_key(&activation, role)?)?;
            let expected = required(published, role)?;
            if key.public_key() != expected {
                return Err(SchemaError::Invalid(format!(
                    "the activation does not produce the connection's {role} key: it was made for another device"
                )));
            }
            keys.push(key);
        }
        let mut keys = keys.into_iter();
        Ok(DeviceKeys {
            signature: keys.next().expect("three roles"),
            encryption: keys.next().expect("three roles"),
            authentication: keys.next().expect("three roles"),
        })
    }
}

activation_struct! {
/// The activation of a device for a callsign application entry (the reference's).
pub struct ActivationApplicationCallsign {
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

activation_struct! {
/// The activation of a device for a group it administers (the reference's).
pub struct ActivationApplicationGroup {
    pub account_encryption: Option<KeyData>,
    pub administrator_signature: Option<KeyData>,
    pub account_authentication: Option<KeyData>,
    pub enveloped_connection_service: Option<DareEnvelope>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

activation_struct! {
/// The activation of a device for a mail application entry (the reference's).
pub struct ActivationApplicationMail {
    pub smime_sign: Option<KeyData>,
    pub smime_encrypt: Option<KeyData>,
    pub openpgp_sign: Option<KeyData>,
    pub openpgp_encrypt: Option<KeyData>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

activation_struct! {
/// The activation of a device for an SSH application entry (the reference's).
pub struct ActivationApplicationSsh {
    pub client_key: Option<KeyData>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

activation_struct! {
/// The activation of a host (the reference's).
pub struct ActivationHost {
    pub account_udf: Option<String>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

connection_struct! {
/// A connection to an application (the reference's).
pub struct ConnectionApplication {
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

connection_struct! {
/// A connection of a member to a group (the reference's).
pub struct ConnectionGroup {
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

connection_struct! {
/// A connection without its keys, naming the account (the reference's).
pub struct ConnectionStripped {
    pub account: Option<String>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}
