//! The DARE schema (dare-12 §5, §6): header, trailer, signature, recipient, policy, content
//! metadata and the container's sequence records, with the field names the published data uses.
//!
//! Where the draft's structure names and the data differ, the data wins: the wire names are the
//! short JOSE-style tags (`enc`, `dig`, `kid`, `wmk`, `epk`, `signatures`, `recipients`) and
//! ContentMeta's content type is `cty`. Fields this code does not know are kept (`extra`) so an
//! envelope read and written again loses nothing.

use mesh_encoding::base64url;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Digest algorithm tag for SHA-2-512, the only one the Mesh data uses.
pub const DIGEST_S512: &str = "S512";
/// Payload encryption tag: AES-256 in CBC mode with PKCS#7 padding.
pub const ENC_A256CBC: &str = "A256CBC";

/// The envelope trailer (dare-12 §5.2.1).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DareTrailer {
    #[serde(rename = "signatures", default, skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<DareSignature>,
    #[serde(
        rename = "SignedData",
        default,
        skip_serializing_if = "Option::is_none",
        with = "base64url::option"
    )]
    pub signed_data: Option<Vec<u8>>,
    #[serde(
        rename = "PayloadDigest",
        default,
        skip_serializing_if = "Option::is_none",
        with = "base64url::option"
    )]
    pub payload_digest: Option<Vec<u8>>,
    #[serde(
        rename = "ChainDigest",
        default,
        skip_serializing_if = "Option::is_none",
        with = "base64url::option"
    )]
    pub chain_digest: Option<Vec<u8>>,
    #[serde(
        rename = "TreeDigest",
        default,
        skip_serializing_if = "Option::is_none",
        with = "base64url::option"
    )]
    pub tree_digest: Option<Vec<u8>>,
    /// HMAC-SHA-256 of the ciphertext under the key derived with info "mac" (a project
    /// extension: dare-12 names a MAC key but gives no field for it; absent in other producers'
    /// data, checked when present).
    #[serde(
        rename = "mac",
        default,
        skip_serializing_if = "Option::is_none",
        with = "base64url::option"
    )]
    pub mac: Option<Vec<u8>>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}

impl DareTrailer {
    pub fn is_empty(&self) -> bool {
        *self == DareTrailer::default()
    }
}

/// The envelope header (dare-12 §5.2.2).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DareHeader {
    #[serde(
        rename = "EnvelopeId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub envelope_id: Option<String>,
    #[serde(rename = "enc", default, skip_serializing_if = "Option::is_none")]
    pub encryption_algorithm: Option<String>,
    #[serde(rename = "dig", default, skip_serializing_if = "Option::is_none")]
    pub digest_algorithm: Option<String>,
    #[serde(rename = "kid", default, skip_serializing_if = "Option::is_none")]
    pub key_identifier: Option<String>,
    #[serde(
        rename = "Salt",
        default,
        skip_serializing_if = "Option::is_none",
        with = "base64url::option"
    )]
    pub salt: Option<Vec<u8>>,
    #[serde(
        rename = "annotations",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub annotations: Option<Vec<Value>>,
    #[serde(rename = "recipients", default, skip_serializing_if = "Vec::is_empty")]
    pub recipients: Vec<DareRecipient>,
    #[serde(rename = "policy", default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<DarePolicy>,
    #[serde(
        rename = "ContentMetaData",
        default,
        skip_serializing_if = "Option::is_none",
        with = "base64url::option"
    )]
    pub content_meta_data: Option<Vec<u8>>,
    #[serde(
        rename = "SequenceInfo",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub sequence_info: Option<SequenceInfo>,
    #[serde(
        rename = "SequenceIndex",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub sequence_index: Option<SequenceIndex>,
    #[serde(rename = "Received", default, skip_serializing_if = "Option::is_none")]
    pub received: Option<String>,
    /// Hash of an erased Salt (the reference's `Malt`).
    #[serde(
        rename = "Malt",
        default,
        skip_serializing_if = "Option::is_none",
        with = "base64url::option"
    )]
    pub malt: Option<Vec<u8>>,
    #[serde(
        rename = "cloaked",
        default,
        skip_serializing_if = "Option::is_none",
        with = "base64url::option"
    )]
    pub cloaked: Option<Vec<u8>>,
    // The reference's header inherits the trailer: any trailer field may sit in the header
    // instead (its PollClaimResponse carries signatures and PayloadDigest there, and container
    // entries in Download and Transact their PayloadDigest / TreeDigest).
    #[serde(rename = "signatures", default, skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<DareSignature>,
    #[serde(
        rename = "SignedData",
        default,
        skip_serializing_if = "Option::is_none",
        with = "base64url::option"
    )]
    pub signed_data: Option<Vec<u8>>,
    #[serde(
        rename = "PayloadDigest",
        default,
        skip_serializing_if = "Option::is_none",
        with = "base64url::option"
    )]
    pub payload_digest: Option<Vec<u8>>,
    #[serde(
        rename = "ChainDigest",
        default,
        skip_serializing_if = "Option::is_none",
        with = "base64url::option"
    )]
    pub chain_digest: Option<Vec<u8>>,
    #[serde(
        rename = "TreeDigest",
        default,
        skip_serializing_if = "Option::is_none",
        with = "base64url::option"
    )]
    pub tree_digest: Option<Vec<u8>>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}

impl DareHeader {
    /// The content metadata, decoded. Absent metadata is the empty ContentMeta; metadata that
    /// does not parse is an error.
    pub fn content_meta(&self) -> crate::Result<ContentMeta> {
        match &self.content_meta_data {
            None => Ok(ContentMeta::default()),
            Some(bytes) => mesh_encoding::from_json(bytes).map_err(|e| {
                crate::DareError::Malformed(format!("ContentMetaData does not parse: {e}"))
            }),
        }
    }

    pub fn set_content_meta(&mut self, meta: &ContentMeta) -> crate::Result<()> {
        self.content_meta_data = Some(mesh_encoding::to_json(meta)?.into_bytes());
        Ok(())
    }
}

/// One signature (dare-12 §5.3.1).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DareSignature {
    #[serde(rename = "dig", default, skip_serializing_if = "Option::is_none")]
    pub digest_algorithm: Option<String>,
    #[serde(rename = "alg", default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<String>,
    #[serde(rename = "kid", default, skip_serializing_if = "Option::is_none")]
    pub key_identifier: Option<String>,
    #[serde(
        rename = "signature",
        default,
        skip_serializing_if = "Option::is_none",
        with = "base64url::option"
    )]
    pub signature_value: Option<Vec<u8>>,
    #[serde(rename = "cert", default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<X509Certificate>,
    #[serde(rename = "path", default, skip_serializing_if = "Option::is_none")]
    pub path: Option<X509Certificate>,
    #[serde(
        rename = "Manifest",
        default,
        skip_serializing_if = "Option::is_none",
        with = "base64url::option"
    )]
    pub manifest: Option<Vec<u8>>,
    #[serde(
        rename = "witness",
        default,
        skip_serializing_if = "Option::is_none",
        with = "base64url::option"
    )]
    pub witness_value: Option<Vec<u8>>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}

/// One recipient of an encrypted envelope (dare-12 §5.3.3, with the data's `epk`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DareRecipient {
    #[serde(rename = "kid", default, skip_serializing_if = "Option::is_none")]
    pub key_identifier: Option<String>,
    #[serde(rename = "kwd", default, skip_serializing_if = "Option::is_none")]
    pub key_wrap_derivation: Option<String>,
    #[serde(rename = "epk", default, skip_serializing_if = "Option::is_none")]
    pub ephemeral: Option<KeyParameters>,
    #[serde(
        rename = "wmk",
        default,
        skip_serializing_if = "Option::is_none",
        with = "base64url::option"
    )]
    pub wrapped_base_seed: Option<Vec<u8>>,
    #[serde(rename = "rkd", default, skip_serializing_if = "Option::is_none")]
    pub recipient_key_data: Option<String>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}

/// A container's policy (dare-12 §5.3.4; `EncryptKeys` as in the §14.5 example).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DarePolicy {
    #[serde(rename = "enc", default, skip_serializing_if = "Option::is_none")]
    pub encryption_algorithm: Option<String>,
    #[serde(rename = "dig", default, skip_serializing_if = "Option::is_none")]
    pub digest_algorithm: Option<String>,
    #[serde(rename = "EncryptKeys", default, skip_serializing_if = "Vec::is_empty")]
    pub encrypt_keys: Vec<KeyParameters>,
    #[serde(rename = "Sealed", default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<bool>,
    #[serde(
        rename = "Encryption",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub encryption: Option<String>,
    #[serde(rename = "Signature", default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    #[serde(rename = "SignKeys", default, skip_serializing_if = "Vec::is_empty")]
    pub sign_keys: Vec<KeyParameters>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}

/// A PKIX certificate reference in a signature (the reference's X509Certificate; kept, not
/// used: the Mesh trusts keys by their UDFs).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct X509Certificate {
    #[serde(rename = "x5u", default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(
        rename = "x5c",
        default,
        skip_serializing_if = "Option::is_none",
        with = "base64url::option"
    )]
    pub certificate: Option<Vec<u8>>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}

/// Public or private key parameters in the Mesh JSON form (`{"PublicKeyECDH": {…}}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum KeyParameters {
    #[serde(rename = "PublicKeyECDH")]
    Public {
        crv: String,
        #[serde(rename = "Public", with = "base64url")]
        public: Vec<u8>,
    },
    #[serde(rename = "PrivateKeyECDH")]
    Private {
        crv: String,
        #[serde(rename = "Private", with = "base64url")]
        private: Vec<u8>,
    },
    /// An RSA public key as the reference writes it (SSH and mail keys in its examples): read
    /// and kept; the Mesh does no RSA operation.
    #[serde(rename = "PublicKeyRSA")]
    Rsa {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        kid: Option<String>,
        #[serde(with = "base64url")]
        n: Vec<u8>,
        #[serde(with = "base64url")]
        e: Vec<u8>,
    },
}

/// Content metadata (dare-12 §5.2.3), carried base64url-encoded in the header.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContentMeta {
    #[serde(rename = "UniqueId", default, skip_serializing_if = "Option::is_none")]
    pub unique_id: Option<String>,
    #[serde(rename = "Labels", default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    #[serde(rename = "KeyValues", default, skip_serializing_if = "Vec::is_empty")]
    pub key_values: Vec<KeyValue>,
    #[serde(
        rename = "MessageType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub message_type: Option<String>,
    #[serde(rename = "cty", default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(rename = "Paths", default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    #[serde(rename = "Filename", default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    #[serde(rename = "Event", default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    #[serde(rename = "Created", default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(rename = "Modified", default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<String>,
    #[serde(rename = "Expire", default, skip_serializing_if = "Option::is_none")]
    pub expire: Option<String>,
    #[serde(rename = "First", default, skip_serializing_if = "Option::is_none")]
    pub first: Option<i64>,
    #[serde(rename = "Previous", default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<i64>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}

/// Sequence information in every container frame header (dare-12 §6.1.1).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SequenceInfo {
    #[serde(
        rename = "DataEncoding",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub data_encoding: Option<String>,
    #[serde(
        rename = "ContainerType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub container_type: Option<String>,
    #[serde(rename = "Index", default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
    #[serde(rename = "IsMeta", default, skip_serializing_if = "Option::is_none")]
    pub is_meta: Option<bool>,
    #[serde(
        rename = "TreePosition",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub tree_position: Option<u64>,
    #[serde(
        rename = "IndexPosition",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub index_position: Option<u64>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}

/// A container index (dare-12 §6.2.1).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SequenceIndex {
    #[serde(rename = "Full", default, skip_serializing_if = "Option::is_none")]
    pub full: Option<bool>,
    #[serde(rename = "Positions", default, skip_serializing_if = "Vec::is_empty")]
    pub positions: Vec<IndexPosition>,
}

/// One entry of an index (dare-12 §6.2.2).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IndexPosition {
    #[serde(rename = "Index")]
    pub index: u64,
    #[serde(rename = "Position")]
    pub position: u64,
    #[serde(rename = "UniqueId", default, skip_serializing_if = "Option::is_none")]
    pub unique_id: Option<String>,
}

/// A key/value pair of content metadata (dare-12 §6.2.3).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyValue {
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(rename = "Value")]
    pub value: String,
}
