//! `mesh conformance` reads example files nobody vetted: any text gives a report, never a
//! panic; an object it decodes re-encodes to a fixed point.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let report = mesh_conformance::check_files(&[("fuzz.md".to_string(), text.to_string())]);
    let _ = report.table();
    for printed in mesh_conformance::unfold::printed_objects(text).into_iter().flatten() {
        if let Ok(once) = mesh_conformance::probe::reencoded(&printed.value) {
            assert_eq!(mesh_conformance::probe::reencoded(&once), Ok(once));
        }
    }
});
