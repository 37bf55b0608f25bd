//! The Mesh JSON conventions on published data: seed 000's ProfileDevice, read into typed
//! structures (variable types as single-member tagged objects, wrapped base64url, RFC 3339 dates),
//! and written back in JSON and JSON-B.

use mesh_encoding::{base64url, datetime, from_json, from_jsonb, to_json, to_jsonb};
use serde::{Deserialize, Serialize};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum PublicParameters {
    #[serde(rename = "PublicKeyECDH")]
    PublicKeyEcdh {
        crv: String,
        #[serde(rename = "Public", with = "base64url")]
        public: Vec<u8>,
    },
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeyParameters {
    udf: String,
    public_parameters: PublicParameters,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ProfileDevice {
    profile_signature: KeyParameters,
    encryption: KeyParameters,
    signature: KeyParameters,
    authentication: KeyParameters,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum Message {
    ProfileDevice(ProfileDevice),
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ContentMetaData {
    unique_id: String,
    message_type: String,
    #[serde(rename = "cty")]
    content_type: String,
    #[serde(with = "datetime")]
    created: time::OffsetDateTime,
}

// The payload and ContentMetaData of seed 000's EnvelopedProfileDevice, as published (wrapped).
const PAYLOAD: &str = include_str!("data/seed000_profile_device.b64");
const METADATA: &str = "ewogICJVbmlxdWVJZCI6ICJNRERULUtURFQtQV
  o2Mi01NUhWLUZGVlktSllOVS1ZM1lFIiwKICAiTWVzc2FnZVR5cGUiOiAiUHJvZml
  sZURldmljZSIsCiAgImN0eSI6ICJhcHBsaWNhdGlvbi9tbW0vb2JqZWN0IiwKICAi
  Q3JlYXRlZCI6ICIyMDIxLTEwLTI1VDE1OjQ5OjA3WiJ9";

#[test]
fn seed_000_profile_device_reads_and_round_trips() {
    let payload = base64url::decode(PAYLOAD).unwrap();
    // The published payload has raw newlines inside the base64url strings of the keys.
    assert!(payload.windows(2).any(|w| w == b"\n "));
    let Message::ProfileDevice(profile) = from_json::<Message>(&payload).unwrap();
    assert_eq!(
        profile.profile_signature.udf,
        "MDDT-KTDT-AZ62-55HV-FFVY-JYNU-Y3YE"
    );
    let PublicParameters::PublicKeyEcdh { crv, public } = &profile.encryption.public_parameters;
    assert_eq!((crv.as_str(), public.len(), public[56]), ("X448", 57, 0x80));

    let message = Message::ProfileDevice(profile);
    let text = to_json(&message).unwrap();
    assert!(text.starts_with("{\"ProfileDevice\":{\"ProfileSignature\":{\"Udf\":\"MDDT-KTDT-AZ62-55HV-FFVY-JYNU-Y3YE\",\"PublicParameters\":{\"PublicKeyECDH\":{\"crv\":\"Ed448\""));
    assert_eq!(from_json::<Message>(text.as_bytes()).unwrap(), message);
    let binary = to_jsonb(&message).unwrap();
    assert!(binary.len() < text.len());
    assert_eq!(from_jsonb::<Message>(&binary).unwrap(), message);
}

#[test]
fn seed_000_content_metadata_reads() {
    let meta: ContentMetaData = from_json(&base64url::decode(METADATA).unwrap()).unwrap();
    assert_eq!(meta.unique_id, "MDDT-KTDT-AZ62-55HV-FFVY-JYNU-Y3YE");
    assert_eq!(meta.message_type, "ProfileDevice");
    assert_eq!(meta.content_type, "application/mmm/object");
    assert_eq!(datetime::format(meta.created), "2021-10-25T15:49:07Z");
    let again: ContentMetaData = from_jsonb(&to_jsonb(&meta).unwrap()).unwrap();
    assert_eq!(again, meta);
}

#[test]
fn wrong_shapes_are_errors() {
    assert!(from_json::<Message>(b"{\"ProfileHost\":{}}").is_err());
    assert!(from_json::<ContentMetaData>(
        b"{\"UniqueId\":\"x\",\"MessageType\":\"y\",\"cty\":\"z\",\"Created\":\"yesterday\"}"
    )
    .is_err());
}

/// A member named twice is refused in JSON and JSON-B, in small and large objects, at any depth:
/// otherwise a checker and an actor could read different values of one request.
#[test]
fn duplicate_members_are_refused() {
    use mesh_encoding::{json, jsonb, EncodingError, Value};
    let small = br#"{"Account":"alice@example.com","Account":"mallet@example.com"}"#;
    assert!(matches!(
        json::from_slice(small),
        Err(EncodingError::DuplicateMember { ref name, .. }) if name == "Account"
    ));
    let mut large = String::from("{");
    for i in 0..40 {
        large.push_str(&format!("\"M{i}\":{i},"));
    }
    large.push_str("\"M7\":0}");
    assert!(matches!(
        json::from_slice(large.as_bytes()),
        Err(EncodingError::DuplicateMember { ref name, .. }) if name == "M7"
    ));
    let nested = br#"{"Outer":[{"A":1,"B":2,"A":3}]}"#;
    assert!(json::from_slice(nested).is_err());
    // The same in JSON-B.
    let value = Value::Object(vec![
        ("A".into(), Value::Integer(1)),
        ("A".into(), Value::Integer(2)),
    ]);
    assert!(matches!(
        jsonb::from_slice(&jsonb::to_vec(&value)),
        Err(EncodingError::DuplicateMember { .. })
    ));
    // Distinct names still read.
    assert!(json::from_slice(br#"{"A":1,"a":2,"B":{"A":1}}"#).is_ok());
}
