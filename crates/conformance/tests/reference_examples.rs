//! `mesh conformance` over the reference implementation's published examples
//! (`../shared/reference/examples`): what mesh-rs reads, verifies, decrypts and recomputes
//! there. Every figure is measured on the files; nothing of theirs is written here.

use std::path::PathBuf;

use mesh_conformance::{check_dir, Outcome};

fn examples() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/examples");
    assert!(
        dir.is_dir(),
        "the reference examples are expected at {}",
        dir.display()
    );
    dir
}

#[test]
fn the_reference_examples_read_verify_decrypt_and_derive() {
    let report = check_dir(&examples()).unwrap();
    let summary = report.summary();
    println!("{}", report.table());
    assert!(summary.files > 0 && summary.objects > 0);
    // Nothing printed as JSON fails to parse once unfolded.
    assert_eq!(summary.unreadable, 0, "{:?}", report.unreadable);
    // Every signature whose key the examples publish verifies (Ed448, and Ed25519ctx), over a
    // PayloadDigest that is the payload's.
    assert_eq!(summary.signatures_failed, 0);
    assert!(summary.signatures_verified > 0);
    for row in &report.signatures {
        if let Outcome::Cannot(why) = &row.outcome {
            assert!(why.contains("does not publish"), "{}: {why}", row.place.at);
        }
    }
    // Every identifier matches, or the reason it cannot be checked is given.
    assert_eq!(summary.identifiers_failed, 0);
    assert!(summary.identifiers_matching > 0);
    for name in [
        "ResponseID",
        "EnvelopeId",
        "Witness",
        "PinId",
        "PinWitness",
        "SaltedPin",
    ] {
        assert!(
            report
                .identifiers
                .iter()
                .any(|r| r.name == name && r.outcome == Outcome::Pass),
            "no {name} was recomputed"
        );
    }
    // The envelope whose recipient's private key is published decrypts (the reference's
    // key-wrap derivation), and what is inside is read.
    assert!(summary.decrypted > 0);
    assert_eq!(summary.decryptions_failed, 0);
    for row in &report.decryptions {
        if let Outcome::Cannot(why) = &row.outcome {
            assert!(why.contains("does not publish"), "{}: {why}", row.place.at);
        }
    }
    // Every object decoded and read whole: nothing dropped, changed, added or left untyped,
    // in JSON and through JSON-B.
    assert_eq!(summary.decoded, summary.objects, "{summary}");
    assert_eq!(summary.whole, summary.objects, "{summary}");
}

/// Checks that must fail when the data is wrong: a damaged signature, a changed identifier, a
/// member no type knows.
#[test]
fn damaged_examples_are_caught() {
    let dir = examples();
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    let pin = read("ProtocolConnectPIN.md");
    let clean = mesh_conformance::check_files(&[("ProtocolConnectPIN.md".into(), pin.clone())]);
    assert_eq!(clean.summary().identifiers_failed, 0);
    // The acknowledgement's MessageId (the witness) changed by one character: the witness
    // and every identifier derived from it stop matching.
    let witness = clean
        .identifiers
        .iter()
        .find(|r| r.name == "Witness")
        .expect("the PIN connection's witness is checked");
    assert_eq!(witness.outcome, Outcome::Pass);
    let ack = pin
        .find("\"AcknowledgeConnection\":{\n    \"MessageId\":\"")
        .unwrap();
    let at = ack + "\"AcknowledgeConnection\":{\n    \"MessageId\":\"".len();
    let mut damaged = pin.clone();
    let first = damaged.as_bytes()[at];
    damaged.replace_range(at..at + 1, if first == b'A' { "B" } else { "A" });
    let report = mesh_conformance::check_files(&[("ProtocolConnectPIN.md".into(), damaged)]);
    assert!(
        report.summary().identifiers_failed > 0,
        "{}",
        report.table()
    );

    // A signature value changed: it fails, it is not skipped.
    let message = read("ExamplesDAREMessage.md");
    let clean =
        mesh_conformance::check_files(&[("ExamplesDAREMessage.md".into(), message.clone())]);
    assert!(clean.summary().signatures_verified > 0);
    let sig = message.find("\"signature\":\"").unwrap() + "\"signature\":\"".len();
    let mut damaged = message.clone();
    let c = damaged.as_bytes()[sig + 5];
    damaged.replace_range(sig + 5..sig + 6, if c == b'A' { "B" } else { "A" });
    let report = mesh_conformance::check_files(&[("ExamplesDAREMessage.md".into(), damaged)]);
    assert!(report.summary().signatures_failed > 0, "{}", report.table());

    // A member that no type has is reported as untyped or dropped, never passed over.
    let bookmark =
        read("SchemaEntryBookmark.md").replacen("\"Uri\":", "\"NoSuchMember\":1,\n    \"Uri\":", 1);
    let report = mesh_conformance::check_files(&[("SchemaEntryBookmark.md".into(), bookmark)]);
    let row = &report.objects[0].reading;
    assert!(!row.whole(), "{row:?}");
    assert!(row
        .untyped
        .iter()
        .chain(&row.dropped)
        .any(|m| m.contains("NoSuchMember")));
}

/// An object of every type of the reference's schema that travels on its own (profiles,
/// assertions, catalog entries, messages, requests, responses, DARE headers and trailers), with
/// every member its definition and its ancestors' give — and one per kind of each tagged member —
/// is read whole: no member the reference defines is dropped or kept untyped.
#[test]
fn every_type_of_the_reference_schema_is_read_whole() {
    let dir = examples().join("../schema");
    let rows = mesh_conformance::check_schema_dir(&dir).unwrap();
    assert!(rows.len() > 60, "only {} types", rows.len());
    let table = mesh_conformance::schema_table(&rows);
    println!("{table}");
    assert!(rows.iter().all(|r| r.reading.whole()), "{table}");
    // And the check can fail: a member no Rust type has is caught.
    let text = "Protocol X\n\tStructure Assertion\n\tStructure ProfileDevice\n\t\tInherits Assertion\n\t\tString NoSuchMember\n";
    let rows = mesh_conformance::check_schema(&[("x.protocol".into(), text.into())]);
    assert_eq!(rows.len(), 1);
    assert!(rows[0]
        .reading
        .untyped
        .contains(&"NoSuchMember".to_string()));
}
