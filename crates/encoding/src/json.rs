//! JSON text: reading (lenient about raw control characters in strings, as the published data
//! needs) and writing, compact or indented. Binary values are written as base64url text.

use crate::decoder::Decoder;
use crate::{base64url, EncodingError, Value};

/// Parse a JSON document.
pub fn from_slice(data: &[u8]) -> Result<Value, EncodingError> {
    Decoder::new(data, false).document()
}

/// Write compact JSON.
pub fn to_string(value: &Value) -> Result<String, EncodingError> {
    let mut out = String::new();
    write(&mut out, value, None, 0)?;
    Ok(out)
}

/// Write JSON indented by two spaces a level.
pub fn to_string_pretty(value: &Value) -> Result<String, EncodingError> {
    let mut out = String::new();
    write(&mut out, value, Some(2), 0)?;
    Ok(out)
}

pub(crate) fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn newline(out: &mut String, indent: Option<usize>, level: usize) {
    if let Some(step) = indent {
        out.push('\n');
        out.extend(std::iter::repeat_n(' ', step * level));
    }
}

fn write(
    out: &mut String,
    value: &Value,
    indent: Option<usize>,
    level: usize,
) -> Result<(), EncodingError> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Integer(i) => out.push_str(&i.to_string()),
        Value::BigInteger {
            negative,
            magnitude,
        } => {
            if *negative {
                out.push('-');
            }
            out.push_str(&num_bigint::BigUint::from_bytes_be(magnitude).to_string());
        }
        Value::Float(f) => {
            let n = serde_json::Number::from_f64(*f)
                .ok_or(EncodingError::NotJson("a NaN or infinite number"))?;
            out.push_str(&n.to_string());
        }
        Value::String(s) => write_string(out, s),
        Value::Binary(b) => write_string(out, &base64url::encode(b)),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent, level + 1);
                write(out, item, indent, level + 1)?;
            }
            if !items.is_empty() {
                newline(out, indent, level);
            }
            out.push(']');
        }
        Value::Object(members) => {
            out.push('{');
            for (i, (k, v)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent, level + 1);
                write_string(out, k);
                out.push(':');
                if indent.is_some() {
                    out.push(' ');
                }
                write(out, v, indent, level + 1)?;
            }
            if !members.is_empty() {
                newline(out, indent, level);
            }
            out.push('}');
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_raw_newlines_in_strings() {
        let v = from_slice(b"{\"Public\": \"abc\n  def\"}").unwrap();
        assert_eq!(v.get("Public").unwrap().as_str(), Some("abc\n  def"));
    }

    #[test]
    fn numbers() {
        assert_eq!(from_slice(b"42").unwrap(), Value::Integer(42));
        assert_eq!(from_slice(b"-7").unwrap(), Value::Integer(-7));
        assert_eq!(from_slice(b"1.5").unwrap(), Value::Float(1.5));
        assert_eq!(
            from_slice(b"18446744073709551615").unwrap(),
            Value::Integer(u64::MAX as i128)
        );
        assert!(matches!(
            from_slice(b"18446744073709551616").unwrap(),
            Value::BigInteger { .. }
        ));
        for bad in ["01", "-", "1.", "1e", "1e999", ".5", "+1"] {
            assert!(from_slice(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn writes_and_reads_back() {
        let v = from_slice(br#"{"a":[1,2.5,"x\u00e9\ud83d\ude00",true,null],"b":{}}"#).unwrap();
        let text = to_string(&v).unwrap();
        assert_eq!(text, "{\"a\":[1,2.5,\"xé😀\",true,null],\"b\":{}}");
        assert_eq!(
            from_slice(to_string_pretty(&v).unwrap().as_bytes()).unwrap(),
            v
        );
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "{",
            "[1,]",
            "{\"a\" 1}",
            "{\"a\":1,}",
            "\"\\x\"",
            "[1 2]",
            "tru",
            "{} x",
            "\u{80}",
        ] {
            assert!(from_slice(bad.as_bytes()).is_err(), "{bad:?}");
        }
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert_eq!(
            from_slice(deep.as_bytes()),
            Err(EncodingError::TooDeep(128))
        );
    }
}
