//! The data model shared by JSON and JSON-B (jsonbcd-21 §3): JSON's values plus binary data and
//! integers of any size. Objects keep their members in order.

/// A JSON / JSON-B value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// An integer whose magnitude fits in 64 bits (p-int / n-int of JSON-B).
    Integer(i128),
    /// An integer beyond 64 bits: sign and big-endian magnitude without leading zeros (bignum16).
    BigInteger {
        negative: bool,
        magnitude: Vec<u8>,
    },
    Float(f64),
    String(String),
    /// Binary data: a JSON-B data item, base64url text in JSON.
    Binary(Vec<u8>),
    Array(Vec<Value>),
    Object(Vec<(String, Value)>),
}

/// Largest magnitude of [`Value::Integer`].
pub const MAX_MAGNITUDE: i128 = u64::MAX as i128;

impl Value {
    /// Make an integer value, choosing the big form when the magnitude exceeds 64 bits.
    pub fn integer(v: i128) -> Value {
        if (-MAX_MAGNITUDE..=MAX_MAGNITUDE).contains(&v) {
            Value::Integer(v)
        } else {
            let magnitude = v.unsigned_abs().to_be_bytes();
            let start = magnitude.iter().position(|b| *b != 0).unwrap_or(15);
            Value::BigInteger {
                negative: v < 0,
                magnitude: magnitude[start..].to_vec(),
            }
        }
    }

    /// Look up an object member by name.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// An integer from sign and big-endian magnitude, in canonical form: leading zeros dropped,
    /// and [`Value::Integer`] whenever the magnitude fits 64 bits.
    pub fn from_magnitude(negative: bool, magnitude: &[u8]) -> Value {
        let start = magnitude
            .iter()
            .position(|b| *b != 0)
            .unwrap_or(magnitude.len());
        let magnitude = &magnitude[start..];
        if magnitude.len() <= 8 {
            let m = magnitude
                .iter()
                .fold(0i128, |acc, b| (acc << 8) | *b as i128);
            Value::Integer(if negative { -m } else { m })
        } else {
            Value::BigInteger {
                negative,
                magnitude: magnitude.to_vec(),
            }
        }
    }
}
