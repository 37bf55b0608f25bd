//! A catalog's index file (`NAME.dare.index`) from untrusted bytes, beside a real catalog of
//! more than `INDEXED_FRAMES` entries: opening the catalog through it never panics, and what is
//! read is the catalog's own entries (an index that does not match is passed over). The input is
//! the index's body: its digest is appended here, so that what lies behind the digest check (the
//! counts, sizes, positions and UniqueIds) is what is fuzzed.
#![no_main]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mesh_dare::catalog::{Catalog, INDEXED_FRAMES};
use mesh_dare::catalog_index::index_path;
use mesh_dare::Mode;

/// The catalog, made once, and its entries as a walk reads them.
fn catalog() -> &'static (PathBuf, BTreeMap<String, Vec<u8>>) {
    static MADE: OnceLock<(PathBuf, BTreeMap<String, Vec<u8>>)> = OnceLock::new();
    MADE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("mesh-fuzz-index-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("cat.dare");
        let mut c = Catalog::create(&path, &[]).expect("catalog");
        for i in 0..INDEXED_FRAMES + 8 {
            c.put(&format!("id{i}"), None, format!("value {i}").as_bytes(), &[])
                .expect("put");
        }
        c.delete("id3").expect("delete");
        drop(c);
        let walked = Catalog::open_walking(&path, Mode::Read).expect("walk");
        let truth = walked
            .entries(&mesh_dare::KeyRing::new())
            .expect("entries")
            .into_iter()
            .collect();
        (path, truth)
    })
}

fuzz_target!(|data: &[u8]| {
    let (path, truth) = catalog();
    use sha2::Digest;
    let mut index = data.to_vec();
    index.extend_from_slice(&sha2::Sha256::digest(data));
    std::fs::write(index_path(path), &index).expect("index file");
    let Ok(opened) = Catalog::open(path, Mode::Read) else {
        return;
    };
    for (id, value) in truth {
        match opened.get(id, &mesh_dare::KeyRing::new()) {
            Ok(Some(read)) => assert_eq!(&read, value, "{id}: another entry's value"),
            Ok(None) => panic!("{id} missing through the index"),
            // An index naming the wrong frame is caught when read, and removed.
            Err(_) => return,
        }
    }
    assert_eq!(opened.len(), truth.len(), "entries the catalog does not hold");
});
