//! Typed values in JSON and JSON-B through serde.
//!
//! Mesh types derive `Serialize` / `Deserialize` with the Mesh JSON conventions: a field of
//! variable type is a single-member object naming its type (serde's externally tagged enums, e.g.
//! `{"PublicKeyECDH": {…}}`), binary is base64url ([`crate::base64url`]), dates are RFC 3339
//! ([`crate::datetime`]). Reading goes through the lenient decoder above, so wrapped base64url and
//! raw newlines in the published data are accepted, and JSON-B data items are handed to binary
//! fields as base64url text. Writing JSON-B encodes every field in its binary form except binary
//! fields, which stay base64url strings; a JSON-B reader accepts both.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{base64url, json, jsonb, EncodingError, Value};

fn from_serde(v: serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Integer(i as i128)
            } else if let Some(u) = n.as_u64() {
                Value::Integer(u as i128)
            } else {
                Value::Float(n.as_f64().unwrap_or(0.0))
            }
        }
        serde_json::Value::String(s) => Value::String(s),
        serde_json::Value::Array(a) => Value::Array(a.into_iter().map(from_serde).collect()),
        serde_json::Value::Object(o) => {
            Value::Object(o.into_iter().map(|(k, v)| (k, from_serde(v))).collect())
        }
    }
}

fn to_serde(v: Value) -> serde_json::Value {
    match v {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(b),
        Value::Integer(i) => {
            if let Ok(x) = i64::try_from(i) {
                x.into()
            } else if let Ok(x) = u64::try_from(i) {
                x.into()
            } else {
                serde_json::Value::String(i.to_string())
            }
        }
        big @ Value::BigInteger { .. } => {
            serde_json::Value::String(json::to_string(&big).unwrap_or_default())
        }
        Value::Float(f) => {
            serde_json::Number::from_f64(f).map_or(serde_json::Value::Null, Into::into)
        }
        Value::String(s) => serde_json::Value::String(s),
        Value::Binary(b) => serde_json::Value::String(base64url::encode(&b)),
        Value::Array(a) => serde_json::Value::Array(a.into_iter().map(to_serde).collect()),
        Value::Object(o) => {
            serde_json::Value::Object(o.into_iter().map(|(k, v)| (k, to_serde(v))).collect())
        }
    }
}

fn ser_err(e: serde_json::Error) -> EncodingError {
    EncodingError::Serde(e.to_string())
}

/// A typed value as a [`Value`] tree.
pub fn to_value<T: Serialize>(value: &T) -> Result<Value, EncodingError> {
    Ok(from_serde(serde_json::to_value(value).map_err(ser_err)?))
}

/// A typed value from a [`Value`] tree.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, EncodingError> {
    serde_json::from_value(to_serde(value)).map_err(ser_err)
}

/// Serialize as compact JSON text.
pub fn to_json<T: Serialize>(value: &T) -> Result<String, EncodingError> {
    json::to_string(&to_value(value)?)
}

/// Deserialize from JSON text (leniently: see [`crate::json`]).
pub fn from_json<T: DeserializeOwned>(data: &[u8]) -> Result<T, EncodingError> {
    from_value(json::from_slice(data)?)
}

/// Serialize as JSON-B.
pub fn to_jsonb<T: Serialize>(value: &T) -> Result<Vec<u8>, EncodingError> {
    Ok(jsonb::to_vec(&to_value(value)?))
}

/// Deserialize from JSON-B (or JSON).
pub fn from_jsonb<T: DeserializeOwned>(data: &[u8]) -> Result<T, EncodingError> {
    from_value(jsonb::from_slice(data)?)
}
