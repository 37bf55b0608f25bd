//! Property tests: presentation round trips and rejection of arbitrary input without panics.

use mesh_udf::{base32, ShareUdf, Udf, UdfType, UdfUri};
use proptest::prelude::*;

const CODES: &[u8] = &[
    0, 1, 32, 33, 80, 81, 82, 83, 84, 96, 97, 98, 99, 100, 104, 112, 144, 200,
];

proptest! {
    #[test]
    fn whole_presentation_round_trips(code in prop::sample::select(CODES), body in prop::collection::vec(any::<u8>(), 1..80)) {
        let udf = Udf::new(UdfType::from_code(code).unwrap(), body);
        let text = udf.to_string();
        prop_assert_eq!(Udf::parse(&text).unwrap(), udf.clone());
        prop_assert_eq!(Udf::parse(&text.to_lowercase()).unwrap(), udf.clone());
        prop_assert_eq!(Udf::parse(&text.replace('-', "")).unwrap(), udf);
    }

    #[test]
    fn truncation_is_a_prefix(body in prop::collection::vec(any::<u8>(), 63), bits in 1usize..=25) {
        let udf = Udf::new(UdfType::DigestSha2(0), body);
        let short = udf.present(bits * 20);
        let long = udf.present(500);
        prop_assert!(long.starts_with(&short));
        // Parsing a truncated presentation gives the whole octets it holds.
        let parsed = Udf::parse(&short).unwrap();
        prop_assert_eq!(parsed.body(), &udf.body()[..parsed.body().len()]);
    }

    #[test]
    fn base32_round_trips(data in prop::collection::vec(any::<u8>(), 0..100)) {
        prop_assert_eq!(base32::decode(&base32::encode(&data, data.len() * 8)).unwrap(), data);
    }

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,80}") {
        let _ = Udf::parse(&text);
        let _ = UdfUri::parse(&text);
        let _ = ShareUdf::parse(&text);
    }

    #[test]
    fn base32_alphabet_text_never_panics(text in "[A-Z2-7a-z-]{0,120}") {
        if let Ok(udf) = Udf::parse(&text) {
            prop_assert!(UdfType::from_code(udf.kind().code()).is_ok());
        }
    }

    #[test]
    fn share_round_trips(threshold in 1u8..=15, x in 1u8..=16, value in prop::collection::vec(any::<u8>(), 1..65)) {
        let share = ShareUdf::new(threshold, x, value).unwrap();
        prop_assert_eq!(ShareUdf::parse(&share.to_string()).unwrap(), share);
    }
}
