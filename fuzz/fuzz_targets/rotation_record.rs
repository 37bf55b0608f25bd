//! A key-rotation record as a device collects it (an envelope holding a CatalogedDevice whose
//! account profile must replace the one held) and an ActivationCommon: from untrusted bytes,
//! refused or checked, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mesh_dare::{DareEnvelope, KeyRing};
use mesh_schema::profile::ProfileUser;
use mesh_schema::{signed, MeshItem};

fuzz_target!(|data: &[u8]| {
    if let Ok(envelope) = DareEnvelope::parse(data) {
        if let Ok(MeshItem::CatalogedDevice(record)) = signed::read(&envelope, &KeyRing::new()) {
            if let Some(profile) = &record.enveloped_profile_user {
                if let Ok((profile, _)) = signed::verify_profile_user(profile) {
                    let _ = profile.replaces(&ProfileUser::default());
                    let _ = profile.updated_time();
                }
            }
        }
    }
    if let Ok(MeshItem::ActivationCommon(a)) = MeshItem::from_bytes(data) {
        for entry in &a.entries {
            if let Some(key) = &entry.key {
                let _ = key.private_key("AccountEncryption");
            }
        }
    }
});
