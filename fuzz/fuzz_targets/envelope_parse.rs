//! DARE envelopes from untrusted bytes: parsing, verifying and decrypting never panic, and a
//! parsed envelope written again reads back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mesh_dare::{DareEnvelope, KeyRing};

fuzz_target!(|data: &[u8]| {
    if let Ok(env) = DareEnvelope::parse(data) {
        let keys = KeyRing::new();
        let _ = env.verify(&keys);
        let _ = env.plaintext(&keys);
        let _ = env.content_meta();
        let _ = mesh_dare::keys_in_payload(&env.payload);
        if let Ok(json) = env.to_json() {
            let again = DareEnvelope::parse(json.as_bytes()).expect("written envelope reads back");
            assert_eq!(again.payload, env.payload);
        }
    }
});
