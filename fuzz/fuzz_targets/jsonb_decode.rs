//! JSON-B from untrusted bytes: never a panic, and a decoded value re-encodes to a document that
//! decodes to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mesh_encoding::{jsonb, Value};

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|((k1, v1), (k2, v2))| k1 == k2 && same(v1, v2))
        }
        _ => a == b,
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = jsonb::from_slice(data) {
        let again = jsonb::from_slice(&jsonb::to_vec(&v)).expect("re-encoded JSON-B decodes");
        assert!(same(&again, &v));
    }
});
