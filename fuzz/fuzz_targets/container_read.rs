//! Container files from untrusted bytes: opening (with repair of a cut-short tail), reading
//! every frame and checking the digests never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mesh_dare::{Container, KeyRing, Mode};

fuzz_target!(|data: &[u8]| {
    let _ = mesh_dare::frame::decode(data);
    let path = std::env::temp_dir().join(format!("mesh-fuzz-container-{}", std::process::id()));
    std::fs::write(&path, data).expect("temp file");
    if let Ok(c) = Container::open(&path, Mode::Write) {
        for i in 0..c.frame_count() {
            if let Ok(env) = c.read(i) {
                let _ = env.plaintext(&KeyRing::new());
            }
        }
        let _ = c.verify();
        let _ = c.proof(1);
    }
});
