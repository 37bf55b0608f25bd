//! Containers on real files: every type, the dare-12 Appendix B digests, encryption, proofs,
//! reopening, index frames, catalogs and spools.

use mesh_crypto::{Algorithm, PrivateKey};
use mesh_dare::catalog::Catalog;
use mesh_dare::merkle;
use mesh_dare::spool::{MessageState, Spool};
use mesh_dare::{AppendOptions, Container, ContainerType, DareError, KeyRing, Mode};

fn appendix_payload() -> Vec<u8> {
    (0..300u32).map(|i| i as u8).collect()
}

fn b64(s: &str) -> Vec<u8> {
    mesh_encoding::base64url::decode(s).unwrap()
}

/// dare-12 §14.2 and §14.3: frame 1's PayloadDigest, ChainDigest and TreeDigest.
#[test]
fn appendix_b_first_frame_digests() {
    let dir = tempfile::tempdir().unwrap();
    let payload_digest = b64(
        "8dyi62d7MDJlsLm6_w4GEgKBjzXBRwppu6qbtmAl6UjZDlZeaWQlBsYhOu88-ekpNXpZ2iY96zTRI229zaJ5sw",
    );
    let first = b64(
        "T7S1FcrgY3AaWD4L-t5W1K-3XYkPTcOdGEGyjglTD6yMYVRVz9tn_KQc6GdA-P4VSRigBygV65OEd2Vv3YDhww",
    );
    for (ty, name) in [
        (ContainerType::Chain, "chain.dare"),
        (ContainerType::Merkle, "merkle.dare"),
    ] {
        let path = dir.path().join(name);
        let mut c = Container::create(&path, ty, &[]).unwrap();
        let i = c
            .append(&appendix_payload(), &AppendOptions::default())
            .unwrap();
        assert_eq!(i, 1);
        let trailer = c.read(1).unwrap().trailer.unwrap();
        assert_eq!(trailer.payload_digest.unwrap(), payload_digest);
        let digest = if ty == ContainerType::Chain {
            trailer.chain_digest
        } else {
            trailer.tree_digest
        };
        assert_eq!(digest.unwrap(), first);
        let header = c.read(1).unwrap().header;
        if ty == ContainerType::Merkle {
            // Appendix C: frame 1's TreePosition is frame 0's, i.e. 0 (as in §14.3).
            assert_eq!(header.sequence_info.unwrap().tree_position, Some(0));
        }
    }
}

#[test]
fn every_type_appends_reads_reopens_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    for ty in [
        ContainerType::List,
        ContainerType::Chain,
        ContainerType::Tree,
        ContainerType::Merkle,
    ] {
        let path = dir.path().join(format!("{}.dare", ty.name()));
        let mut c = Container::create(&path, ty, &[]).unwrap();
        for i in 0..40u32 {
            let body = format!("entry {i}").into_bytes();
            assert_eq!(
                c.append(&body, &AppendOptions::default()).unwrap(),
                u64::from(i) + 1
            );
        }
        let batch: Vec<_> = (40..50u32)
            .map(|i| {
                c.make_entry(format!("entry {i}").as_bytes(), &AppendOptions::default())
                    .unwrap()
            })
            .collect();
        assert_eq!(
            c.append_envelopes(batch).unwrap(),
            (41..=50).collect::<Vec<u64>>()
        );
        let root = c.tree_digest();
        drop(c);
        let c = Container::open(&path, Mode::Read).unwrap();
        assert_eq!(c.container_type(), ty);
        assert_eq!(c.frame_count(), 51);
        assert_eq!(c.tree_digest(), root);
        assert_eq!(c.verify().unwrap(), 51);
        for i in [1u64, 17, 50] {
            assert_eq!(
                c.read_plaintext(i, &KeyRing::new()).unwrap(),
                format!("entry {}", i - 1).into_bytes()
            );
        }
        assert!(matches!(c.read(51), Err(DareError::NoSuchFrame { .. })));
        if ty == ContainerType::Tree || ty == ContainerType::Merkle {
            // §4.1.1: the TreePosition of frame 6 is the position of frame 5.
            let info = c.read(6).unwrap().header.sequence_info.unwrap();
            assert_eq!(info.tree_position, Some(c.frame_entry(5).unwrap().position));
        }
    }
}

#[test]
fn merkle_proofs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("proofs.dare");
    let mut c = Container::create(&path, ContainerType::Merkle, &[]).unwrap();
    for i in 0..100u32 {
        c.append(&i.to_be_bytes(), &AppendOptions::default())
            .unwrap();
    }
    let root = c.tree_digest().unwrap();
    // The last frame's TreeDigest is the root.
    assert_eq!(
        c.read(100).unwrap().trailer.unwrap().tree_digest.unwrap(),
        root.to_vec()
    );
    for i in [1u64, 2, 37, 64, 99, 100] {
        let proof = c.proof(i).unwrap();
        assert!(proof.path.len() <= 7);
        c.check_proof(i, &proof, &root).unwrap();
        let wrong = c.proof(if i == 1 { 2 } else { 1 }).unwrap();
        assert!(matches!(
            c.check_proof(i, &wrong, &root),
            Err(DareError::BadProof)
        ));
    }
    let leaf = merkle::leaf(&mesh_dare::envelope::sha512(&5u32.to_be_bytes()));
    assert!(c.proof(6).unwrap().verify(&leaf, &root));
    let list = Container::create(dir.path().join("list.dare"), ContainerType::List, &[]).unwrap();
    assert!(matches!(list.proof(1), Err(DareError::Unsupported(_))));
}

#[test]
fn encrypted_container_needs_the_key_to_read_not_to_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sealed.dare");
    let owner = PrivateKey::generate(Algorithm::X448);
    let signer = PrivateKey::generate(Algorithm::Ed448);
    Container::create(&path, ContainerType::Merkle, &[owner.public_key()]).unwrap();
    let mut c = Container::open(&path, Mode::Write).unwrap();
    assert!(c.is_encrypted());
    c.append(
        b"secret one",
        &AppendOptions {
            signers: vec![&signer],
            ..Default::default()
        },
    )
    .unwrap();
    c.append(b"secret two", &AppendOptions::default()).unwrap();
    let raw = std::fs::read(&path).unwrap();
    assert!(!raw.windows(6).any(|w| w == b"secret"));
    let mut keys = KeyRing::new();
    keys.add_private(owner);
    keys.add_public(signer.public_key());
    assert_eq!(c.read_plaintext(2, &keys).unwrap(), b"secret two");
    assert_eq!(
        c.read(1).unwrap().verify_strict(&keys).unwrap(),
        vec![signer.public_key().udf()]
    );
    assert!(matches!(
        c.read_plaintext(1, &KeyRing::new()),
        Err(DareError::NoDecryptionKey(_))
    ));
    c.verify().unwrap();
}

#[test]
fn index_frames_are_not_entries() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("indexed.dare");
    let mut c = Container::create(&path, ContainerType::Merkle, &[]).unwrap();
    for i in 0..5u32 {
        c.append(&i.to_be_bytes(), &AppendOptions::default())
            .unwrap();
    }
    let index_frame = c.write_index().unwrap();
    assert_eq!(index_frame, 6);
    c.append(b"after", &AppendOptions::default()).unwrap();
    drop(c);
    let c = Container::open(&path, Mode::Read).unwrap();
    assert_eq!(
        c.entry_indexes().collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5, 7]
    );
    let index = c.read(6).unwrap().header.sequence_index.unwrap();
    assert_eq!(index.positions.len(), 6);
    assert_eq!(
        index.positions[3].position,
        c.frame_entry(3).unwrap().position
    );
    c.verify().unwrap();
}

#[test]
fn opening_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::write(&empty, b"").unwrap();
    assert!(matches!(
        Container::open(&empty, Mode::Read),
        Err(DareError::Container { .. })
    ));
    let text = dir.path().join("text");
    std::fs::write(&text, b"hello world").unwrap();
    assert!(matches!(
        Container::open(&text, Mode::Read),
        Err(DareError::Container { .. })
    ));
    assert!(Container::open(dir.path().join("missing"), Mode::Read).is_err());
    let path = dir.path().join("exists.dare");
    Container::create(&path, ContainerType::List, &[]).unwrap();
    assert!(Container::create(&path, ContainerType::List, &[]).is_err());
    let mut ro = Container::open(&path, Mode::Read).unwrap();
    assert!(ro.append(b"x", &AppendOptions::default()).is_err());
}

#[test]
fn catalog_updates_and_deletes_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.dare");
    let key = PrivateKey::generate(Algorithm::X448);
    let mut keys = KeyRing::new();
    keys.add_private(key.clone());
    {
        let mut cat = Catalog::create(&path, &[key.public_key()]).unwrap();
        cat.put("a", Some("CatalogedCredential"), b"alpha 1", &[])
            .unwrap();
        cat.put("b", None, b"beta", &[]).unwrap();
        cat.put("a", None, b"alpha 2", &[]).unwrap();
        cat.put("c", None, b"gamma", &[]).unwrap();
        assert!(cat.delete("b").unwrap());
        assert!(!cat.delete("zzz").unwrap());
        assert_eq!(cat.len(), 2);
    }
    let cat = Catalog::open(&path, Mode::Read).unwrap();
    assert_eq!(cat.ids().collect::<Vec<_>>(), vec!["a", "c"]);
    assert_eq!(cat.get("a", &keys).unwrap().unwrap(), b"alpha 2");
    assert_eq!(cat.get("b", &keys).unwrap(), None);
    assert_eq!(
        cat.entries(&keys).unwrap(),
        vec![
            ("a".to_string(), b"alpha 2".to_vec()),
            ("c".to_string(), b"gamma".to_vec())
        ]
    );
    cat.container().verify().unwrap();
}

#[test]
fn spool_states_from_completions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inbound.dare");
    let key = PrivateKey::generate(Algorithm::X25519);
    let mut keys = KeyRing::new();
    keys.add_private(key.clone());
    {
        let mut spool = Spool::create(&path, &[key.public_key()]).unwrap();
        for id in ["m1", "m2", "m3"] {
            spool
                .post(id, "MessageContact", id.as_bytes(), &[])
                .unwrap();
        }
        assert!(spool.post("m1", "MessageContact", b"dup", &[]).is_err());
        spool.complete(&["m1", "m3"], MessageState::Read).unwrap();
        spool.complete(&["m3"], MessageState::Initial).unwrap();
        spool.complete(&["m2"], MessageState::Deleted).unwrap();
        assert!(spool.complete(&["nope"], MessageState::Read).is_err());
    }
    let spool = Spool::open(&path, Mode::Read).unwrap();
    assert_eq!(spool.message("m1").unwrap().state, MessageState::Read);
    assert_eq!(spool.message("m3").unwrap().state, MessageState::Initial);
    let visible: Vec<_> = spool
        .messages(None)
        .iter()
        .map(|e| e.message_id.clone())
        .collect();
    assert_eq!(visible, vec!["m1", "m3"]);
    assert_eq!(spool.messages(Some(MessageState::Deleted)).len(), 1);
    assert_eq!(spool.read("m3", &keys).unwrap(), b"m3");
    assert_eq!(
        MessageState::parse("unread").unwrap(),
        MessageState::Initial
    );
}

/// A batch with one entry that cannot be written (a detached payload) writes nothing and leaves
/// the tree as it was: the next append's TreeDigest is still the tree over what is written.
#[test]
fn a_refused_batch_leaves_the_tree_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.dare");
    let mut c = Container::create(&path, ContainerType::Merkle, &[]).unwrap();
    c.append(b"first", &AppendOptions::default()).unwrap();
    let good = c.make_entry(b"second", &AppendOptions::default()).unwrap();
    let mut bad = c.make_entry(b"third", &AppendOptions::default()).unwrap();
    bad.detached = true;
    assert!(c.append_envelopes(vec![good, bad]).is_err());
    assert_eq!(c.frame_count(), 2);
    c.append(b"fourth", &AppendOptions::default()).unwrap();
    drop(c);
    let c = Container::open(&path, Mode::Read).unwrap();
    assert_eq!(c.verify().unwrap(), 3);
}
