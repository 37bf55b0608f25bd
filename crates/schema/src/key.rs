//! KeyData (schema-08 §10.1.2): a public key with its UDF, as every profile and connection
//! carries it: `{"Udf": "MDDT-…", "PublicParameters": {"PublicKeyECDH": {…}}}`.

use mesh_crypto::PublicKey;
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
    pub not_before: Option<String>,
    pub not_on_or_after: Option<String>,
}

impl KeyData {
    pub fn from_public(key: &PublicKey) -> KeyData {
        KeyData {
            udf: Some(key.udf()),
            public_parameters: Some(KeyParameters::from_public(key)),
            ..Default::default()
        }
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
