//! Objects written by earlier builds, or in the 2022 reference's forms, are read; what this
//! build writes is the reference's form where the reference tags or names differently.

use mesh_crypto::SecretSeed;
use mesh_schema::catalog::{CatalogedApplicationSsh, CatalogedContact, ContactPerson};
use mesh_schema::profile::ProfileUser;
use mesh_schema::MeshItem;
use mesh_udf::{random, KeySpecifier};

#[test]
fn a_contact_is_written_tagged_and_read_in_both_forms() {
    let contact = CatalogedContact {
        key: Some("k".into()),
        contact: Some(
            ContactPerson {
                id: Some("person".into()),
                ..Default::default()
            }
            .into(),
        ),
        ..Default::default()
    };
    let json = MeshItem::from(contact.clone()).to_json().unwrap();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        value["CatalogedContact"]["Contact"]["ContactPerson"]["Id"],
        "person"
    );
    // As earlier builds wrote it: untagged.
    let earlier = r#"{"CatalogedContact":{"Key":"k","Contact":{"Id":"person"}}}"#;
    let read = mesh_schema::expect_item!(
        MeshItem::from_bytes(earlier.as_bytes()).unwrap(),
        CatalogedContact
    )
    .unwrap();
    assert_eq!(read, contact);
    // And through JSON-B.
    let jsonb = MeshItem::from(contact.clone()).to_jsonb().unwrap();
    assert_eq!(
        mesh_schema::expect_item!(MeshItem::from_bytes(&jsonb).unwrap(), CatalogedContact).unwrap(),
        contact
    );
}

#[test]
fn the_ssh_entry_takes_the_reference_tag_and_reads_the_old_one() {
    let entry = CatalogedApplicationSsh {
        key: Some("k".into()),
        public_key: Some("ssh-ed25519 AAAA".into()),
        ..Default::default()
    };
    let json = MeshItem::from(entry.clone()).to_json().unwrap();
    assert!(json.contains("\"CatalogedApplicationSsh\""), "{json}");
    let old = json.replace("CatalogedApplicationSsh", "CatalogedApplicationSSH");
    let read = MeshItem::from_bytes(old.as_bytes()).unwrap();
    assert_eq!(read.type_name(), "CatalogedApplicationSsh");
    assert_eq!(
        mesh_schema::expect_item!(read, CatalogedApplicationSsh).unwrap(),
        entry
    );
}

#[test]
fn an_account_profile_with_the_reference_key_names_checks() {
    let seed =
        SecretSeed::from_udf(random::secret_seed(KeySpecifier::new(0, 258).unwrap(), 256)).unwrap();
    let ours = ProfileUser::from_seed(&seed, "alice@example.com", None).unwrap();
    let udf = ours.check().unwrap();
    // The same keys under the 2022 reference's names (`Common…`).
    let reference = ProfileUser {
        common_encryption: ours.account_encryption.clone(),
        common_authentication: ours.account_authentication.clone(),
        common_signature: ours.account_signature.clone(),
        account_encryption: None,
        account_authentication: None,
        account_signature: None,
        ..ours.clone()
    };
    assert_eq!(reference.check().unwrap(), udf);
    assert_eq!(reference.encryption(), &ours.account_encryption);
    // Written as read: the reference's names stay the reference's.
    let json = MeshItem::from(reference.clone()).to_json().unwrap();
    assert!(json.contains("CommonEncryption") && !json.contains("AccountEncryption"));
    // A profile with neither is refused.
    let neither = ProfileUser {
        common_encryption: None,
        ..reference
    };
    assert!(neither.check().is_err());
}
