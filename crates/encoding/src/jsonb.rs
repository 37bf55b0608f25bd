//! JSON-B (jsonbcd-21 §4): JSON's structure with binary strings, data, integers and floats.
//!
//! Written as `{` (tag value)* `}` and `[` value* `]`, every tag and scalar in its binary form,
//! each length and integer in the smallest width that holds it. Binary values need no separator;
//! a nested object or array is a plain `value` in the grammar and is followed by `,` when more
//! follows. The reader accepts any mix of
//! JSON text and JSON-B productions.

use crate::decoder::Decoder;
use crate::{EncodingError, Value};

/// Decode a JSON-B (or JSON) document.
pub fn from_slice(data: &[u8]) -> Result<Value, EncodingError> {
    Decoder::new(data, true).document()
}

/// Encode a value as JSON-B.
pub fn to_vec(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write(&mut out, value);
    out
}

/// A tag with a length in the smallest of 1, 2, 4 or 8 octets: `base + 0..3`.
fn write_length(out: &mut Vec<u8>, base: u8, len: usize) {
    let len = len as u64;
    let (code, width) = match len {
        0..=0xff => (0, 1),
        0x100..=0xffff => (1, 2),
        0x1_0000..=0xffff_ffff => (2, 4),
        _ => (3, 8),
    };
    out.push(base + code);
    out.extend_from_slice(&len.to_be_bytes()[8 - width..]);
}

fn write_bytes(out: &mut Vec<u8>, base: u8, data: &[u8]) {
    write_length(out, base, data.len());
    out.extend_from_slice(data);
}

fn is_container(v: &Value) -> bool {
    matches!(v, Value::Array(_) | Value::Object(_))
}

fn write(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.push(0xb2),
        Value::Bool(true) => out.push(0xb0),
        Value::Bool(false) => out.push(0xb1),
        Value::Integer(i) => {
            let magnitude = i.unsigned_abs() as u64;
            let (code, width) = match magnitude {
                0..=0xff => (0, 1),
                0x100..=0xffff => (1, 2),
                0x1_0000..=0xffff_ffff => (2, 4),
                _ => (3, 8),
            };
            out.push(if *i < 0 { 0xa8 } else { 0xa0 } + code);
            out.extend_from_slice(&magnitude.to_be_bytes()[8 - width..]);
        }
        Value::BigInteger {
            negative,
            magnitude,
        } => {
            out.push(if *negative { 0xaf } else { 0xa7 });
            out.extend_from_slice(&(magnitude.len() as u16).to_be_bytes());
            out.extend_from_slice(magnitude);
        }
        Value::Float(f) => {
            out.push(0x92);
            out.extend_from_slice(&f.to_be_bytes());
        }
        Value::String(s) => write_bytes(out, 0x80, s.as_bytes()),
        Value::Binary(b) => write_bytes(out, 0x88, b),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                write(out, item);
                if is_container(item) && i + 1 < items.len() {
                    out.push(b',');
                }
            }
            out.push(b']');
        }
        Value::Object(members) => {
            out.push(b'{');
            for (i, (k, v)) in members.iter().enumerate() {
                write_bytes(out, 0x80, k.as_bytes());
                write(out, v);
                if is_container(v) && i + 1 < members.len() {
                    out.push(b',');
                }
            }
            out.push(b'}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // jsonbcd-21 §4.1.
    #[test]
    #[allow(clippy::approx_constant)] // the draft example encodes 3.14159265359, not π
    fn draft_examples() {
        for (hex_text, value) in [
            ("A02A", Value::Integer(42)),
            ("A1002A", Value::Integer(42)),
            ("A20000002A", Value::Integer(42)),
            ("A3000000000000002A", Value::Integer(42)),
            ("A700012A", Value::Integer(42)),
            ("800548656c6c6f", Value::String("Hello".into())),
            ("81000548656c6c6f", Value::String("Hello".into())),
            ("840548656c6c6f8000", Value::String("Hello".into())),
            ("923ff0000000000000", Value::Float(1.0)),
            ("924024000000000000", Value::Float(10.0)),
            ("92400921fb54442eea", Value::Float(3.14159265359)),
            ("92bff0000000000000", Value::Float(-1.0)),
            ("B0", Value::Bool(true)),
            ("B1", Value::Bool(false)),
            ("B2", Value::Null),
        ] {
            assert_eq!(
                from_slice(&hex::decode(hex_text).unwrap()).unwrap(),
                value,
                "{hex_text}"
            );
        }
        assert_eq!(hex::encode(to_vec(&Value::Integer(42))), "a02a");
        assert_eq!(
            hex::encode(to_vec(&Value::String("Hello".into()))),
            "800548656c6c6f"
        );
    }

    /// Member names coded as the reference's writer codes them (tag 0xB4–0xB7, a length, the
    /// name), beside the string codes; a name whose length runs past the end is refused.
    #[test]
    fn reference_member_names() {
        let doc = b"{\xb4\x01a\xa0\x01\xb5\x00\x02bc\x80\x01d,\x80\x01e\xb0}";
        let value = from_slice(doc).unwrap();
        assert_eq!(
            value,
            Value::Object(vec![
                ("a".into(), Value::Integer(1)),
                ("bc".into(), Value::String("d".into())),
                ("e".into(), Value::Bool(true)),
            ])
        );
        assert!(from_slice(b"{\xb4\x09ab\xa0\x01}").is_err());
        assert!(from_slice(b"{\xb4\x01\xff\xa0\x01}").is_err());
        // Only as a member name: as a value it is not a JSON-B token.
        assert!(from_slice(b"[\xb4\x01a]").is_err());
    }

    #[test]
    fn mixed_text_and_binary() {
        let doc = b"{\"a\": 1, \x80\x01b\xa0\x02 \x80\x01c[\xb0 \xb1, 3]}";
        let v = from_slice(doc).unwrap();
        assert_eq!(v.get("b"), Some(&Value::Integer(2)));
        assert_eq!(
            v.get("c"),
            Some(&Value::Array(vec![
                Value::Bool(true),
                Value::Bool(false),
                Value::Integer(3)
            ]))
        );
        // Containers: with the grammar's comma, and without it before a binary tag.
        let nested = Value::Object(vec![
            ("a".into(), Value::Array(vec![])),
            ("b".into(), Value::Null),
        ]);
        assert_eq!(to_vec(&nested), b"{\x80\x01a[],\x80\x01b\xb2}");
        assert_eq!(from_slice(b"{\x80\x01a[]\x80\x01b\xb2}").unwrap(), nested);
        assert!(from_slice(b"[[] []]").is_err());
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            &b"\x80\x05Hel"[..],                     // string shorter than its length
            b"\x83\xff\xff\xff\xff\xff\xff\xff\xff", // absurd length
            b"\x84\x01a",                            // chunk without terminal
            b"\x80\x01\xff",                         // invalid UTF-8
            b"\xa2\x00\x01",                         // short integer
            b"\xc0\x01",                             // JSON-C tag
            b"{\xa0\x01\xa0\x02}",                   // integer as a member name
            b"\x92\x00",
            b"[\xb0",
        ] {
            assert!(from_slice(bad).is_err(), "{bad:?}");
        }
    }
}
