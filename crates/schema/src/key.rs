//! KeyData (schema-08 §10.1.2): a public key with its UDF, as every profile and connection
//! carries it: `{"Udf": "MDDT-…", "PublicParameters": {"PublicKeyECDH": {…}}}`.

use mesh_crypto::{PrivateKey, PublicKey};
use mesh_dare::keys::kid_matches;
use mesh_dare::KeyParameters;
use serde::{Deserialize, Serialize};

use crate::{Result, SchemaError};

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct KeyData {
    pub udf: Option<String>,
    pub public_parameters: Option<KeyParameters>,
    /// The private key, where an object hands one over (the reference's ActivationCommon;
    /// such objects travel encrypted to their recipient).
    pub private_parameters: Option<KeyParameters>,
    pub not_before: Option<String>,
    pub not_on_or_after: Option<String>,
    #[serde(with = "mesh_encoding::base64url::option")]
    pub x509_certificate: Option<Vec<u8>>,
    #[serde(
        with = "mesh_encoding::base64url::list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub x509_chain: Vec<Vec<u8>>,
    #[serde(rename = "X509CSR", with = "mesh_encoding::base64url::option")]
    pub x509_csr: Option<Vec<u8>>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}

impl KeyData {
    pub fn from_public(key: &PublicKey) -> KeyData {
        KeyData {
            udf: Some(key.udf()),
            public_parameters: Some(KeyParameters::from_public(key)),
            ..Default::default()
        }
    }

    /// The key-agreement key pair `key`, private half included (`PrivateKeyECDH`, whose
    /// `Private` is the key's secret octets; an X25519 / X448 scalar is its own secret, which
    /// clamping leaves as it is). Signature keys are not handed over this way.
    pub fn from_private(key: &PrivateKey) -> Result<KeyData> {
        if !matches!(
            key.algorithm(),
            mesh_crypto::Algorithm::X25519 | mesh_crypto::Algorithm::X448
        ) {
            return Err(SchemaError::Invalid(
                "only key-agreement private keys are handed over as key data".into(),
            ));
        }
        Ok(KeyData {
            private_parameters: Some(KeyParameters::from_private_secret(
                key.algorithm(),
                &key.to_bytes(),
            )),
            ..KeyData::from_public(&key.public_key())
        })
    }

    /// The private key, checked against the public key and UDF given with it.
    pub fn private_key(&self, field: &str) -> Result<PrivateKey> {
        let private = self
            .private_parameters
            .as_ref()
            .ok_or_else(|| SchemaError::Invalid(format!("the {field} key has no private part")))?
            .private_key()?;
        if private.public_key() != self.public_key(field)? {
            return Err(SchemaError::Invalid(format!(
                "the {field} private key does not match its public key"
            )));
        }
        Ok(private)
    }

    /// The public key, checked against the UDF it is published under: a key whose parameters
    /// were changed no longer matches.
    pub fn public_key(&self, field: &str) -> Result<PublicKey> {
        let params = self
            .public_parameters
            .as_ref()
            .ok_or_else(|| SchemaError::Invalid(format!("the {field} key has no parameters")))?;
        let key = params.public_key()?;
        let actual = key.udf();
        if let Some(claimed) = &self.udf {
            if !kid_matches(claimed, &actual) {
                return Err(SchemaError::KeyMismatch {
                    field: field.to_string(),
                    claimed: claimed.clone(),
                    actual,
                });
            }
        }
        Ok(key)
    }
}

/// A required key field: present and consistent.
pub fn required(key: &Option<KeyData>, field: &str) -> Result<PublicKey> {
    key.as_ref()
        .ok_or_else(|| SchemaError::Invalid(format!("the {field} key is missing")))?
        .public_key(field)
}
