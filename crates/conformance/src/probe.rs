//! Read one printed object with mesh-rs's own types and say whether it was read whole.
//!
//! An object is `{"Type": {…}}`: the type names a Mesh item (profiles, activations, catalog
//! entries, messages), a protocol request or response, a DARE envelope or header, or key
//! parameters. It is decoded with the type mesh-rs uses for it, encoded again and compared
//! member by member with what was printed. A member is *dropped* when the encoding lacks it,
//! *changed* when its value differs, *added* when only the encoding has it, and *untyped* when
//! the type kept it without understanding it ([`mesh_encoding::unknown`]).

use mesh_dare::{ContentMeta, DareEnvelope, DareHeader, DareTrailer, KeyParameters};
use mesh_protocol::messages::{Request, Response};
use mesh_schema::MeshItem;
use serde_json::Value;

/// What reading one object found.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Reading {
    pub type_name: String,
    /// Why it could not be decoded, when it could not.
    pub error: Option<String>,
    pub dropped: Vec<String>,
    pub changed: Vec<String>,
    pub added: Vec<String>,
    pub untyped: Vec<String>,
}

impl Reading {
    pub fn decoded(&self) -> bool {
        self.error.is_none()
    }

    /// Decoded, and encoding it again gives the same members and values, every one typed.
    pub fn whole(&self) -> bool {
        self.decoded()
            && self.dropped.is_empty()
            && self.changed.is_empty()
            && self.added.is_empty()
            && self.untyped.is_empty()
    }
}

/// Decode `printed` (a tagged object, or a bare envelope array) and compare its re-encoding.
pub fn read(printed: &Value) -> Reading {
    let type_name = match printed {
        Value::Object(map) if map.len() == 1 => map.keys().next().cloned().unwrap_or_default(),
        Value::Array(_) => "DareEnvelope".to_string(),
        _ => {
            return Reading {
                type_name: "(untagged)".into(),
                error: Some("not a tagged object {\"Type\": {…}}".into()),
                ..Default::default()
            }
        }
    };
    let (encoded, mut untyped) = mesh_encoding::unknown::noting(|| reencode(&type_name, printed));
    untyped.sort();
    untyped.dedup();
    let mut reading = Reading {
        type_name,
        untyped,
        ..Default::default()
    };
    match encoded {
        Err(e) => reading.error = Some(e),
        Ok(encoded) => compare("", printed, &encoded, &mut reading),
    }
    reading
}

fn bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("a JSON value encodes")
}

fn parse(json: &str) -> Result<Value, String> {
    serde_json::from_str(json).map_err(|e| format!("the encoding is not JSON: {e}"))
}

/// Decode `printed` with its type and encode it again (JSON, checked against JSON-B), without
/// comparing: what the property tests use to check that decoding an encoding gives it back.
pub fn reencoded(printed: &Value) -> Result<Value, String> {
    let type_name = match printed {
        Value::Object(map) if map.len() == 1 => map.keys().next().cloned().unwrap_or_default(),
        Value::Array(_) => "DareEnvelope".to_string(),
        _ => return Err("not a tagged object".into()),
    };
    reencode(&type_name, printed)
}

/// Read a ContentMetaData (the one untagged object of an envelope) as [`ContentMeta`].
pub fn read_content_meta(printed: &Value) -> Reading {
    let (decoded, untyped) = mesh_encoding::unknown::noting(|| {
        serde_json::from_value::<ContentMeta>(printed.clone())
            .map_err(|e| e.to_string())
            .and_then(|meta| serde_json::to_value(&meta).map_err(|e| e.to_string()))
    });
    let mut reading = Reading {
        type_name: "ContentMeta".into(),
        untyped,
        ..Default::default()
    };
    match decoded {
        Err(e) => reading.error = Some(e),
        Ok(encoded) => compare("", printed, &encoded, &mut reading),
    }
    reading
}

/// Decode with the type mesh-rs has for `type_name` and encode again.
fn reencode(type_name: &str, printed: &Value) -> Result<Value, String> {
    let data = bytes(printed);
    match type_name {
        "DareEnvelope" => {
            let envelope = DareEnvelope::parse(&data).map_err(|e| e.to_string())?;
            let again = parse(&envelope.to_json().map_err(|e| e.to_string())?)?;
            // A wrapped envelope is compared wrapped.
            Ok(match printed {
                Value::Object(_) => serde_json::json!({ "DareEnvelope": again }),
                _ => again,
            })
        }
        "DareHeader" => {
            let header: DareHeader =
                serde_json::from_value(printed["DareHeader"].clone()).map_err(|e| e.to_string())?;
            let again = serde_json::to_value(&header).map_err(|e| e.to_string())?;
            Ok(serde_json::json!({ "DareHeader": again }))
        }
        "DareTrailer" => {
            let trailer: DareTrailer = serde_json::from_value(printed["DareTrailer"].clone())
                .map_err(|e| e.to_string())?;
            let again = serde_json::to_value(&trailer).map_err(|e| e.to_string())?;
            Ok(serde_json::json!({ "DareTrailer": again }))
        }
        "PublicKeyECDH" | "PrivateKeyECDH" => {
            let key: KeyParameters =
                serde_json::from_value(printed.clone()).map_err(|e| e.to_string())?;
            serde_json::to_value(&key).map_err(|e| e.to_string())
        }
        _ => {
            if let Ok(item) = MeshItem::from_bytes(&data) {
                return both_encodings(&item);
            }
            if let Ok(request) = mesh_encoding::from_json::<Request>(&data) {
                return both_encodings(&request);
            }
            if let Ok(response) = mesh_encoding::from_json::<Response>(&data) {
                return both_encodings(&response);
            }
            // Say why the type that has the name refused it, or that no type has the name: a
            // type is known when an empty object of it decodes.
            let empty = format!("{{\"{type_name}\":{{}}}}");
            let why = |e: Option<String>| Err(e.unwrap_or_default());
            if MeshItem::from_bytes(empty.as_bytes()).is_ok() {
                return why(MeshItem::from_bytes(&data).err().map(|e| e.to_string()));
            }
            if mesh_encoding::from_json::<Request>(empty.as_bytes()).is_ok() {
                return why(mesh_encoding::from_json::<Request>(&data)
                    .err()
                    .map(|e| e.to_string()));
            }
            if mesh_encoding::from_json::<Response>(empty.as_bytes()).is_ok() {
                return why(mesh_encoding::from_json::<Response>(&data)
                    .err()
                    .map(|e| e.to_string()));
            }
            Err(format!("mesh-rs has no type {type_name}"))
        }
    }
}

/// Encode `value` as JSON; encode it as JSON-B too, decode that and check it encodes to the
/// same JSON (a member JSON-B loses or changes is as much a loss as one JSON drops).
fn both_encodings<T: serde::Serialize + serde::de::DeserializeOwned>(
    value: &T,
) -> Result<Value, String> {
    let json = mesh_encoding::to_json(value).map_err(|e| e.to_string())?;
    let jsonb = mesh_encoding::to_jsonb(value).map_err(|e| format!("JSON-B: {e}"))?;
    let back: T = mesh_encoding::from_jsonb(&jsonb).map_err(|e| format!("JSON-B: {e}"))?;
    let again = mesh_encoding::to_json(&back).map_err(|e| e.to_string())?;
    if again != json {
        return Err("decoding its JSON-B encoding gives another object".into());
    }
    parse(&json)
}

/// Record where `encoded` departs from `printed`, member by member.
fn compare(path: &str, printed: &Value, encoded: &Value, reading: &mut Reading) {
    match (printed, encoded) {
        (Value::Object(a), Value::Object(b)) => {
            for (name, value) in a {
                let here = format!("{path}.{name}");
                match b.get(name) {
                    None => reading.dropped.push(here),
                    Some(other) => compare(&here, value, other, reading),
                }
            }
            for name in b.keys().filter(|n| !a.contains_key(*n)) {
                reading.added.push(format!("{path}.{name}"));
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                compare(&format!("{path}[{i}]"), x, y, reading);
            }
        }
        (a, b) if same_number(a, b) || a == b => {}
        _ => reading.changed.push(if path.is_empty() {
            "(the whole object)".into()
        } else {
            path.to_string()
        }),
    }
}

/// 1 and 1.0 are one number.
fn same_number(a: &Value, b: &Value) -> bool {
    matches!((a.as_f64(), b.as_f64()), (Some(x), Some(y)) if x == y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_member_and_an_unknown_type_are_reported() {
        let reading = read(
            &serde_json::json!({"PublicKeyECDH": {"crv": "Ed448", "Public": "AAAA", "Extra": 1}}),
        );
        assert!(reading.decoded(), "{reading:?}");
        assert_eq!(reading.dropped, vec![".PublicKeyECDH.Extra".to_string()]);
        assert!(!reading.whole());
        let reading = read(&serde_json::json!({"NoSuchType": {}}));
        assert_eq!(
            reading.error.as_deref(),
            Some("mesh-rs has no type NoSuchType")
        );
    }
}
