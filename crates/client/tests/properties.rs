//! Property tests for what the device parses from people and other devices: pairing codes as
//! typed, and mcu:// connection URIs from QR codes. Bad input is an error, never a panic.

use mesh_client::pairing::{decode_code, encode_code, format_code};
use mesh_client::preconfig::parse_uri;
use proptest::prelude::*;

proptest! {
    #[test]
    fn codes_round_trip(channel in 0u64..(1 << 20), token in any::<u32>(), sep in prop::sample::select(vec!["-", " ", "", " - "])) {
        let code = encode_code(channel, token).expect("channels below 2^20 fit");
        let typed = format_code(code).replace('-', sep);
        prop_assert_eq!(decode_code(&typed).unwrap(), (channel, token, code));
    }

    #[test]
    fn arbitrary_codes_never_panic(text in ".{0,40}") {
        if let Ok((channel, token, code)) = decode_code(&text) {
            prop_assert_eq!(encode_code(channel, token), Some(code));
        }
    }

    #[test]
    fn arbitrary_uris_never_panic(text in ".{0,80}", key in "[A-Z2-7]{4}(-[A-Z2-7]{4}){0,8}") {
        let _ = parse_uri(&text);
        let _ = parse_uri(&format!("mcu://maker@example.com/{key}"));
    }
}

#[test]
fn uris_with_a_key_parse() {
    let key = mesh_udf::random::encryption_key(128).to_string();
    let (publisher, parsed, locator) =
        parse_uri(&format!("mcu://Maker@Example.com/{key}")).unwrap();
    assert_eq!(publisher, "maker@example.com");
    assert_eq!(parsed, key);
    assert_eq!(locator, mesh_udf::earl_locator(&key));
    assert!(parse_uri("https://example.com/x").is_err());
    assert!(parse_uri("mcu://maker@example.com").is_err());
    let nonce = mesh_udf::random::nonce(128).to_string();
    assert!(
        parse_uri(&format!("mcu://maker@example.com/{nonce}")).is_err(),
        "a nonce is not an EARL key"
    );
}
