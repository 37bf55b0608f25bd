//! A catalog's index on real files: a read through the index gives what walking every frame
//! gives, after appends, deletions and crashes; an index that does not match its catalog —
//! damaged, cut short, left from another catalog, or from before a crash — is never used.

use std::collections::BTreeMap;
use std::path::Path;

use mesh_dare::catalog::{Catalog, INDEXED_FRAMES};
use mesh_dare::catalog_index::{index_path, CatalogIndex};
use mesh_dare::{Container, KeyRing, Mode};
use proptest::prelude::*;

/// The state by walking every frame, without any index.
fn walked(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut current = BTreeMap::new();
    Container::open_with(path, Mode::Read, |i, h| {
        if let Some((id, deleted)) = mesh_dare::catalog::change_of(h) {
            if deleted {
                current.remove(&id);
            } else {
                current.insert(id, i);
            }
        }
    })
    .unwrap();
    let c = Container::open(path, Mode::Read).unwrap();
    current
        .into_iter()
        .map(|(id, i)| (id, c.read_plaintext(i, &KeyRing::new()).unwrap()))
        .collect()
}

/// The state as a read through [`Catalog::open`] gives it.
fn read(path: &Path) -> BTreeMap<String, Vec<u8>> {
    Catalog::open(path, Mode::Read)
        .unwrap()
        .entries(&KeyRing::new())
        .unwrap()
        .into_iter()
        .collect()
}

fn fill(path: &Path, from: u64, to: u64) {
    let mut c = Catalog::open_or_create(path, &[]).unwrap();
    let envs = (from..to)
        .map(|i| {
            c.put_entry(
                &format!("id{i}"),
                None,
                format!("value {i}").as_bytes(),
                &[],
            )
            .unwrap()
        })
        .collect();
    c.apply_envelopes(envs).unwrap();
}

#[test]
fn reads_through_the_index_follow_appends_and_deletions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.dare");
    fill(&path, 0, INDEXED_FRAMES + 10);
    assert!(!index_path(&path).exists(), "written by reads only");
    assert_eq!(read(&path), walked(&path));
    assert!(index_path(&path).exists());
    // Changes made after the index: walked from where it stops, and the index made again.
    let before = std::fs::read(index_path(&path)).unwrap();
    {
        let mut c = Catalog::open(&path, Mode::Write).unwrap();
        c.delete("id3").unwrap();
        c.put("id7", None, b"changed", &[]).unwrap();
        c.put("new", None, b"added", &[]).unwrap();
    }
    let state = read(&path);
    assert_eq!(state, walked(&path));
    assert!(!state.contains_key("id3"));
    assert_eq!(state["id7"], b"changed");
    assert_ne!(std::fs::read(index_path(&path)).unwrap(), before);
    // A catalog opened from its index still has its tree, made when it is asked for.
    let indexed = Catalog::open(&path, Mode::Read).unwrap();
    let full = Container::open(&path, Mode::Read).unwrap();
    assert_eq!(indexed.container().tree_digest(), full.tree_digest());
    assert_eq!(
        indexed.container().tree_digest_at(100),
        full.tree_digest_at(100)
    );
    // The index is what is read: with a frame's header spoiled in place, a walk fails, the
    // read through the index does not walk that frame.
    let frame = indexed.container().frame_entry(20).unwrap();
    drop(indexed);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = frame.position as usize
        + bytes[frame.position as usize..]
            .windows(9)
            .position(|w| w == b"\"Sequence")
            .unwrap();
    bytes[at + 1] = b'X';
    std::fs::write(&path, &bytes).unwrap();
    assert!(Container::open(&path, Mode::Read).is_err());
    let opened = Catalog::open(&path, Mode::Read).unwrap();
    assert_eq!(opened.len(), state.len());
    // Reading that frame finds it is not what the index says it is.
    assert!(opened.entries(&KeyRing::new()).is_err());
    assert!(opened.index_rejected());

    // Small catalogs are walked and get no index.
    let small = dir.path().join("small.dare");
    fill(&small, 0, 5);
    read(&small);
    assert!(!index_path(&small).exists());
}

#[test]
fn an_index_that_does_not_match_is_not_used() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cat.dare");
    fill(&path, 0, INDEXED_FRAMES + 1);
    let truth = read(&path);
    let good = std::fs::read(index_path(&path)).unwrap();

    // Every octet of the index changed in turn (a sample of positions): never used as it is.
    for at in (0..good.len()).step_by(good.len() / 97 + 1) {
        let mut bad = good.clone();
        bad[at] ^= 0x01;
        std::fs::write(index_path(&path), &bad).unwrap();
        assert_eq!(read(&path), truth, "index damaged at {at}");
    }
    // Cut short, empty, or a stranger's file.
    for bad in [
        &good[..good.len() / 2],
        &b""[..],
        &b"MESHCIX1 not an index"[..],
    ] {
        std::fs::write(index_path(&path), bad).unwrap();
        assert_eq!(read(&path), truth);
    }

    // An index left from another catalog with the same entries count: its digest of the last
    // frame does not match.
    let other = dir.path().join("other.dare");
    fill(&other, 1000, 1000 + INDEXED_FRAMES + 1);
    read(&other);
    std::fs::copy(index_path(&other), index_path(&path)).unwrap();
    assert_eq!(read(&path), truth);

    // An index of a longer catalog than the file now is (the file was cut back after a crash
    // and written again differently): not used.
    std::fs::write(index_path(&path), &good).unwrap();
    fill(&path, 5000, 5001);
    let longer = std::fs::read(index_path(&path)).unwrap();
    read(&path);
    let len = std::fs::metadata(&path).unwrap().len();
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(len - 10).unwrap(); // the last frame cut short, as by a crash
    drop(file);
    std::fs::write(index_path(&path), &longer).unwrap();
    Catalog::open(&path, Mode::Write).unwrap(); // truncates to the last complete frame
    fill(&path, 6000, 6001);
    assert_eq!(read(&path), walked(&path));
    assert!(read(&path).contains_key("id6000"));
    assert!(!read(&path).contains_key("id5000"));
}

/// An index made from one file and written where another now is — a rename between the walk
/// and the write (a sync rebuilding the catalog, say) — is not taken for the other file's.
#[test]
fn an_index_of_a_file_renamed_away_is_not_used() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cat.dare");
    // The old file: K entries and one of mine; the new one: the same K, the service's, mine.
    fill(&path, 0, INDEXED_FRAMES);
    let rebuilt = dir.path().join("rebuilt.dare");
    std::fs::copy(&path, &rebuilt).unwrap();
    Catalog::open(&path, Mode::Write)
        .unwrap()
        .put("mine", None, b"0123", &[])
        .unwrap();
    {
        let mut c = Catalog::open(&rebuilt, Mode::Write).unwrap();
        c.put("theirs", None, b"4567", &[]).unwrap();
        c.put("mine", None, b"0123", &[]).unwrap();
    }
    let old = Catalog::open_walking(&path, Mode::Read).unwrap();
    let old_current: BTreeMap<String, u64> = old
        .ids()
        .map(|id| (id.to_string(), old.frame_of(id).unwrap()))
        .collect();
    std::fs::rename(&rebuilt, &path).unwrap();
    CatalogIndex::store(
        old.container(),
        &mesh_dare::catalog_state::Current::Map(old_current),
    );
    drop(old);
    let state = read(&path);
    assert_eq!(state, walked(&path));
    assert_eq!(state["theirs"], b"4567");
}

/// An index that names the wrong frame for an entry (its own digest made right, as anyone
/// who can write the directory could): the read refuses rather than answer with another
/// entry, removes the index, and the next read walks the catalog.
#[test]
fn an_index_naming_the_wrong_frame_is_refused_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cat.dare");
    fill(&path, 0, INDEXED_FRAMES + 1);
    {
        let mut c = Catalog::open(&path, Mode::Write).unwrap();
        c.delete("id5").unwrap();
    }
    let truth = read(&path);
    let catalog = Catalog::open_walking(&path, Mode::Read).unwrap();
    let mut lying: BTreeMap<String, u64> = catalog
        .ids()
        .map(|id| (id.to_string(), catalog.frame_of(id).unwrap()))
        .collect();
    // id1 pointed at id2's frame; the deleted id5 brought back from its old frame.
    lying.insert("id1".into(), catalog.frame_of("id2").unwrap());
    lying.insert("id5".into(), 6);
    CatalogIndex::store(
        catalog.container(),
        &mesh_dare::catalog_state::Current::Map(lying),
    );
    drop(catalog);
    let opened = Catalog::open(&path, Mode::Read).unwrap();
    assert!(opened.get("id1", &KeyRing::new()).is_err());
    assert!(opened.index_rejected());
    assert!(!index_path(&path).exists());
    assert_eq!(read(&path), truth);
    assert!(!truth.contains_key("id5"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]
    // Any run of puts and deletions, read through the index at any points, reads what a walk
    // of every frame reads.
    #[test]
    fn reads_through_the_index_match_a_walk(
        steps in proptest::collection::vec((0u8..3, 0u16..400, any::<bool>()), 1..12)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.dare");
        fill(&path, 0, INDEXED_FRAMES);
        for (op, key, read_now) in steps {
            {
                let mut c = Catalog::open(&path, Mode::Write).unwrap();
                match op {
                    0 => { c.delete(&format!("id{key}")).unwrap(); }
                    1 => { c.put(&format!("id{key}"), None, &key.to_le_bytes(), &[]).unwrap(); }
                    _ => {
                        let envs = (0..key % 40)
                            .map(|i| c.put_entry(&format!("b{key}-{i}"), None, b"x", &[]).unwrap())
                            .collect();
                        c.apply_envelopes(envs).unwrap();
                    }
                }
            }
            if read_now {
                prop_assert_eq!(read(&path), walked(&path));
            }
        }
        prop_assert_eq!(read(&path), walked(&path));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    // Whatever the index file holds — here a real index with octets overwritten, cut or
    // extended at random — opening never panics and a read gives what a walk gives.
    #[test]
    fn any_index_file_reads_as_the_catalog(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        cut in any::<prop::sample::Index>(),
        extra in proptest::collection::vec(any::<u8>(), 0..16),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.dare");
        fill(&path, 0, INDEXED_FRAMES);
        let truth = read(&path);
        let mut index = std::fs::read(index_path(&path)).unwrap();
        for (at, value) in edits {
            let i = at.index(index.len());
            index[i] = value;
        }
        index.truncate(cut.index(index.len() + 1).max(index.len() / 2));
        index.extend(extra);
        std::fs::write(index_path(&path), &index).unwrap();
        let read_again = Catalog::open(&path, Mode::Read)
            .and_then(|c| c.entries(&KeyRing::new()))
            .map(|e| e.into_iter().collect::<BTreeMap<_, _>>());
        // A read through a damaged index may be refused once (the index removed); the next
        // one walks.
        let state = match read_again {
            Ok(state) => state,
            Err(_) => read(&path),
        };
        prop_assert_eq!(state, truth);
    }
}
