//! Device preconfiguration (schema-08 §10.5.1, seed 000): what a manufacturer loads into a
//! device so that it can later be connected by a static QR code.

use mesh_crypto::SecretSeed;
use mesh_dare::DareEnvelope;
use serde::{Deserialize, Serialize};

use crate::profile::ProfileDevice;
use crate::{Result, SchemaError};

mesh_struct! {
pub struct PrivateKeyUdf {
    pub private_value: Option<String>,
    pub key_type: Option<String>,
}}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PrivateKeyForm {
    #[serde(rename = "PrivateKeyUDF")]
    Udf(PrivateKeyUdf),
}

mesh_struct! {
pub struct DevicePreconfigurationPrivate {
    pub enveloped_profile_device: Option<DareEnvelope>,
    pub enveloped_connection_device: Option<DareEnvelope>,
    pub enveloped_connection_service: Option<DareEnvelope>,
    pub private_key: Option<PrivateKeyForm>,
    pub connect_uri: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hailing: Vec<String>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

/// Text from the published data with its line wrapping removed.
pub fn unwrap_text(text: &str) -> String {
    text.split_whitespace().collect()
}

impl DevicePreconfigurationPrivate {
    /// The device secret, checked to be a MeshProfileDevice seed.
    pub fn device_secret(&self) -> Result<SecretSeed> {
        let Some(PrivateKeyForm::Udf(key)) = &self.private_key else {
            return Err(SchemaError::Invalid(
                "the preconfiguration holds no device secret".into(),
            ));
        };
        let text = key
            .private_value
            .as_deref()
            .ok_or_else(|| SchemaError::Invalid("empty PrivateValue".into()))?;
        let seed = SecretSeed::parse(&unwrap_text(text))?;
        if seed.specifier().key_type != 256 {
            return Err(SchemaError::Invalid(
                "the preconfigured secret is not a MeshProfileDevice secret".into(),
            ));
        }
        Ok(seed)
    }

    /// Re-derive the device profile from the secret and check that the enveloped profile is
    /// that profile, self-signed. Returns the profile.
    pub fn check_profile(&self) -> Result<ProfileDevice> {
        let envelope = self
            .enveloped_profile_device
            .as_ref()
            .ok_or_else(|| SchemaError::Invalid("no EnvelopedProfileDevice".into()))?;
        let (profile, _) = crate::signed::verify_profile_device(envelope)?;
        let derived = ProfileDevice::from_seed(&self.device_secret()?, None)?;
        for (field, a, b) in [
            (
                "ProfileSignature",
                &profile.profile_signature,
                &derived.profile_signature,
            ),
            ("Encryption", &profile.encryption, &derived.encryption),
            ("Signature", &profile.signature, &derived.signature),
            (
                "Authentication",
                &profile.authentication,
                &derived.authentication,
            ),
        ] {
            let published = crate::key::required(a, field)?;
            if published != crate::key::required(b, field)? {
                return Err(SchemaError::Invalid(format!(
                    "the published {field} key is not the one the device secret derives"
                )));
            }
        }
        Ok(profile)
    }
}
