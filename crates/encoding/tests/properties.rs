//! Property tests: every value round-trips through JSON-B (and JSON where JSON can carry it), and
//! arbitrary or truncated input is rejected with an error, never a panic.

use mesh_encoding::{json, jsonb, Value};
use proptest::prelude::*;

fn scalar(binary: bool) -> BoxedStrategy<Value> {
    let mut options = vec![
        Just(Value::Null).boxed(),
        any::<bool>().prop_map(Value::Bool).boxed(),
        (-(u64::MAX as i128)..=(u64::MAX as i128))
            .prop_map(Value::Integer)
            .boxed(),
        (
            any::<bool>(),
            prop::collection::vec(1u8..=255, 1..3),
            prop::collection::vec(any::<u8>(), 8..20),
        )
            .prop_map(|(negative, head, tail)| {
                let mut magnitude = head;
                magnitude.extend(tail);
                Value::BigInteger {
                    negative,
                    magnitude,
                }
            })
            .boxed(),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::Float)
            .boxed(),
        ".{0,40}".prop_map(Value::String).boxed(),
    ];
    if binary {
        options.push(
            prop::collection::vec(any::<u8>(), 0..300)
                .prop_map(Value::Binary)
                .boxed(),
        );
    }
    prop::strategy::Union::new(options).boxed()
}

fn value(binary: bool) -> impl Strategy<Value = Value> {
    scalar(binary).prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            // Member names are distinct: a name given twice is refused by the reader.
            prop::collection::btree_map(".{0,12}", inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn jsonb_round_trips(v in value(true)) {
        let encoded = jsonb::to_vec(&v);
        prop_assert_eq!(jsonb::from_slice(&encoded).unwrap(), v);
    }

    #[test]
    fn json_round_trips(v in value(false)) {
        let text = json::to_string(&v).unwrap();
        prop_assert_eq!(json::from_slice(text.as_bytes()).unwrap(), v.clone());
        let pretty = json::to_string_pretty(&v).unwrap();
        prop_assert_eq!(jsonb::from_slice(pretty.as_bytes()).unwrap(), v);
    }

    #[test]
    fn truncated_jsonb_is_an_error(v in value(true), cut in any::<prop::sample::Index>()) {
        let encoded = jsonb::to_vec(&v);
        let at = cut.index(encoded.len());
        // Every strict prefix of a document is incomplete, except where a complete number is cut
        // to a shorter complete one (JSON text digits are not in this encoding).
        if at < encoded.len() {
            prop_assert!(jsonb::from_slice(&encoded[..at]).is_err());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = jsonb::from_slice(&data);
        let _ = json::from_slice(&data);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "[\\[\\]{}\",:0-9a-z\\\\ .eE+-]{0,200}") {
        if let Ok(v) = json::from_slice(text.as_bytes()) {
            // Anything accepted can be written back and means the same.
            let again = json::to_string(&v).unwrap();
            prop_assert_eq!(json::from_slice(again.as_bytes()).unwrap(), v);
        }
    }
}
