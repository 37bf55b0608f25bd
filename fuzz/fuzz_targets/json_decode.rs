//! JSON text from untrusted bytes: never a panic; what is accepted writes back and reads the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mesh_encoding::json;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = json::from_slice(data) {
        let text = json::to_string(&v).expect("a parsed value is writable as JSON");
        assert_eq!(json::from_slice(text.as_bytes()).unwrap(), v);
    }
});
