//! UDF strings, URIs, shares and seeds from untrusted text: never a panic, and whatever parses
//! presents back to a string that parses to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mesh_udf::{ShareUdf, Udf, UdfUri};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(udf) = Udf::parse(text) {
        let again = Udf::parse(&udf.to_string()).expect("a presented UDF parses");
        assert_eq!(again, udf);
    }
    if let Ok(uri) = UdfUri::parse(text) {
        let _ = uri.locator();
        let again = UdfUri::parse(&uri.to_string()).expect("a written URI parses");
        assert_eq!(again.udf, uri.udf);
    }
    if let Ok(share) = ShareUdf::parse(text) {
        assert_eq!(ShareUdf::parse(&share.to_string()).unwrap(), share);
    }
    if let Ok(seed) = mesh_crypto::SecretSeed::parse(text) {
        // Derivation of a seed of any key type either succeeds or says it is unsupported.
        let _ = mesh_crypto::profile_keys(&seed);
    }
});
