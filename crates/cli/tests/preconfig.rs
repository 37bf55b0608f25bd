//! Static QR / preconfigured devices (protocol-09 §7.5, §9.3; seed 000) end to end: a maker
//! preconfigures a device, the owner claims it by its mcu:// URI, the device polls and joins.

mod common;
use common::service::Service;
use common::*;

#[test]
fn preconfigured_device_is_claimed_and_joins() {
    let data = tempfile::tempdir().unwrap();
    let service = Service::start(data.path(), None);
    let (maker, owner, gadget) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let (maker, owner, gadget) = (maker.path(), owner.path(), gadget.path());
    ok_in(maker, &["account", "create", "maker@example.com"]);
    ok_in(maker, &["account", "bind", "--service", &service.url]);
    ok_in(owner, &["account", "create", "alice@example.com"]);
    ok_in(owner, &["account", "bind", "--service", &service.url]);
    ok_in(owner, &["password", "add", "home.example", "alice", "pw"]);

    let record = maker.join("device.medk");
    let made = json_in(
        maker,
        &["device", "preconfig", "--out", record.to_str().unwrap()],
    );
    let uri = made["Uri"].as_str().unwrap().to_string();
    assert!(uri.starts_with("mcu://maker@example.com/E"));
    // The record has seed 000's shape and checks as seed 000's does.
    let text = std::fs::read_to_string(&record).unwrap();
    assert!(
        text.contains("DevicePreconfigurationPrivate")
            && text.contains("PrivateKeyUDF")
            && text.contains("ConnectUri")
    );

    let installed = json_in(
        gadget,
        &[
            "device",
            "install",
            record.to_str().unwrap(),
            "--service",
            &service.url,
        ],
    );
    assert_eq!(installed["DeviceUdf"], made["DeviceUdf"]);
    // Not claimed yet.
    assert!(fails_in(gadget, DEVICE_PASS, &["device", "complete"]).contains("still waiting"));

    // A claim with the wrong EARL key finds nothing, and adds nothing.
    // (A character in the middle: the last one also carries padding bits.)
    let mut chars: Vec<char> = uri.chars().collect();
    let at = chars.len() - 8;
    chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
    let wrong: String = chars.into_iter().collect();
    let err = fails_in(
        owner,
        DEVICE_PASS,
        &["account", "connect", &wrong, "--service", &service.url],
    );
    assert!(
        err.contains("no such publication") || err.contains("EARL"),
        "{err}"
    );
    assert_eq!(
        json_in(owner, &["device", "list"])
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Someone who knows the locator (say, from the maker's service) but not the key in the QR
    // code claims it: refused, and the QR code is not burnt.
    let key = uri.rsplit('/').next().unwrap();
    let locator = mesh_udf::earl_locator(key);
    let info = mesh_client::online::hello(&service.url, Some(&service.url)).unwrap();
    let mallory = mesh_crypto::PrivateKey::generate(mesh_crypto::Algorithm::Ed448);
    let claim = mesh_schema::message::MessageClaim {
        message_id: Some(mesh_udf::random::nonce(128).to_string()),
        sender: Some("mallory@example.com".into()),
        recipient: Some("maker@example.com".into()),
        publication_id: Some(locator.clone()),
        ..Default::default()
    };
    let claim = mesh_schema::signed::seal(&claim.into(), &mallory, Some(&locator), &[]).unwrap();
    let refused = mesh_client::online::call_anonymous(
        &info.url,
        &mesh_protocol::Request::ClaimRequest(mesh_protocol::messages::ClaimRequest {
            enveloped_message_claim: Some(claim),
        }),
        &info.signature,
        &info.encryption,
    )
    .map(|_| ())
    .expect_err("a claim without the QR code's key is refused")
    .to_string();
    assert!(refused.contains("403"), "{refused}");
    assert!(fails_in(gadget, DEVICE_PASS, &["device", "complete"]).contains("still waiting"));

    // Someone with the QR code (a photograph of it) claims it in a claim that takes itself away
    // again (its Event, which no signature covers, a deletion): refused, so the publication is
    // not claimed behind the owner's back and left for the owner's claim to look first.
    let thief = mesh_crypto::PrivateKey::generate(mesh_crypto::Algorithm::Ed448);
    let message = mesh_schema::message::MessageClaim {
        message_id: Some(mesh_udf::random::nonce(128).to_string()),
        sender: Some("mallory@example.com".into()),
        recipient: Some("maker@example.com".into()),
        publication_id: Some(locator.clone()),
        ..Default::default()
    };
    let item = mesh_schema::MeshItem::from(message);
    let mut erasing = mesh_dare::DareEnvelope::encode(
        item.to_json().unwrap().as_bytes(),
        &mesh_dare::EnvelopeOptions {
            meta: Some(mesh_dare::ContentMeta {
                unique_id: Some(locator.clone()),
                event: Some(mesh_dare::catalog::EVENT_DELETE.into()),
                message_type: Some(item.type_name().into()),
                ..Default::default()
            }),
            signers: vec![&thief],
            ..Default::default()
        },
    )
    .unwrap();
    let digest = mesh_dare::envelope::sha512(&erasing.payload);
    erasing
        .sign_over(&mesh_client::preconfig::claim_key(key).unwrap(), &digest)
        .unwrap();
    let refused = mesh_client::online::call_anonymous(
        &info.url,
        &mesh_protocol::Request::ClaimRequest(mesh_protocol::messages::ClaimRequest {
            enveloped_message_claim: Some(erasing),
        }),
        &info.signature,
        &info.encryption,
    )
    .map(|_| ())
    .expect_err("a claim that deletes itself is refused")
    .to_string();
    assert!(refused.contains("Event"), "{refused}");

    let claimed = json_in(
        owner,
        &["account", "connect", &uri, "--service", &service.url],
    );
    assert_eq!(claimed["Claimed"], made["DeviceUdf"]);
    // A second claim on the same publication is refused.
    assert!(fails_in(
        owner,
        DEVICE_PASS,
        &["account", "connect", &uri, "--service", &service.url]
    )
    .contains("claimed already"));

    let joined = json_in(gadget, &["device", "complete"]);
    assert_eq!(joined["Account"], "alice@example.com");
    assert_eq!(
        json_in(gadget, &["password", "get", "home.example"])["CatalogedCredential"]["Password"],
        "pw"
    );
    ok_in(
        gadget,
        &["password", "add", "from-gadget.example", "alice", "pg"],
    );
    ok_in(owner, &["account", "sync"]);
    assert_eq!(
        json_in(owner, &["password", "get", "from-gadget.example"])["CatalogedCredential"]
            ["Password"],
        "pg"
    );
}
