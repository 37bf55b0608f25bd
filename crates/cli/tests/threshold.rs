//! Threshold decryption through the Operate transaction, end to end: devices connected without
//! administrator rights hold a share of the account encryption key, the service the other, and
//! they read the account's catalogs only with the service's contribution, which it gives only
//! to the device the administrator granted it to.

mod common;
use common::service::{alice_with_a_password, connect_by_witness, repoint, Service};
use common::*;

use std::path::Path;

use mesh_client::context::ThresholdOperator;
use mesh_client::online::Session;
use mesh_client::{CatalogKind, MeshHome};
use mesh_crypto::{Algorithm, PrivateKey};
use mesh_dare::{ContentMeta, DareEnvelope, EnvelopeOptions};
use mesh_schema::catalog::CryptographicCapability;
use mesh_schema::MeshItem;

fn udf_of(dir: &Path) -> String {
    json_in(dir, &["account", "info"])["DeviceUdf"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The capability ids of the access catalog, by the device they were granted to.
fn grants(admin: &Path) -> Vec<(String, String)> {
    let device = MeshHome::at(admin).open(DEVICE_PASS).unwrap();
    let account = device.account(None).unwrap();
    account
        .list(CatalogKind::Access)
        .unwrap()
        .into_iter()
        .filter_map(|(id, item)| match item {
            MeshItem::CatalogedAccess(a) => match a.capability {
                Some(CryptographicCapability::CapabilityDecryptServiced(c)) => {
                    Some((c.subject_id.unwrap(), id))
                }
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// Ask the service, as the device at `dir`, for a contribution under `capability`.
fn ask(dir: &Path, capability: &str) -> Result<Vec<Vec<u8>>, String> {
    let device = MeshHome::at(dir).open(DEVICE_PASS).unwrap();
    let account = device.account(None).unwrap();
    let session = Session::open(&device, &account).unwrap();
    let epk = PrivateKey::generate(Algorithm::X448).public_key();
    session
        .operator()
        .contributions(capability, &[epk])
        .map_err(|e| e.to_string())
}

#[test]
fn devices_decrypt_only_with_the_service() {
    let data = tempfile::tempdir().unwrap();
    let mut service = Service::start(data.path(), None);
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let (a, b, c) = (a.path(), b.path(), c.path());
    alice_with_a_password(&service, a);
    connect_by_witness(&service, a, b);
    connect_by_witness(&service, a, c);

    // B reads what A wrote: its share and the service's contribution.
    let read = |dir: &Path| {
        json_in(dir, &["password", "get", "bank.example"])["CatalogedCredential"]["Password"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(read(b), "pw1");
    // B holds no account key, only its share (and is no administrator).
    let device_b = MeshHome::at(b).open(DEVICE_PASS).unwrap();
    let account_b = device_b.account(None).unwrap();
    assert!(account_b.encryption_private_key().is_none());
    assert_eq!(json_in(b, &["account", "info"])["Decryption"], "Threshold");
    assert_eq!(json_in(a, &["account", "info"])["Decryption"], "AccountKey");
    assert!(!account_b.is_administrator());
    // Entries B writes are read by A and C.
    ok_in(b, &["password", "add", "shop.example", "bob", "pw2"]);
    ok_in(c, &["account", "sync"]);
    assert_eq!(
        json_in(c, &["password", "get", "shop.example"])["CatalogedCredential"]["Password"],
        "pw2"
    );
    ok_in(a, &["account", "sync"]);
    assert_eq!(
        json_in(a, &["password", "get", "shop.example"])["CatalogedCredential"]["Password"],
        "pw2"
    );

    // One capability per connected device, each for its own device.
    let (udf_b, udf_c) = (udf_of(b), udf_of(c));
    let granted = grants(a);
    assert_eq!(granted.len(), 2, "{granted:?}");
    let cap_b = granted.iter().find(|(d, _)| *d == udf_b).unwrap().1.clone();
    let cap_c = granted.iter().find(|(d, _)| *d == udf_c).unwrap().1.clone();
    assert_eq!(ask(c, &cap_c).unwrap().len(), 1);
    // C may not use B's capability, nor one that does not exist.
    let refused = ask(c, &cap_b).unwrap_err();
    assert!(refused.contains("granted to another device"), "{refused}");
    let refused = ask(c, "NAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA").unwrap_err();
    assert!(refused.contains("no capability"), "{refused}");
    // Nor may C change the access catalog: delete B's capability, or put one of its own.
    let device_c = MeshHome::at(c).open(DEVICE_PASS).unwrap();
    let account_c = device_c.account(None).unwrap();
    let session_c = Session::open(&device_c, &account_c).unwrap();
    let marker = DareEnvelope::encode(
        b"{}",
        &EnvelopeOptions {
            meta: Some(ContentMeta {
                unique_id: Some(cap_b.clone()),
                event: Some("Delete".into()),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .unwrap();
    let refused = session_c
        .append_remote("MMM_Access", vec![marker])
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("403") && refused.contains("administrator"),
        "{refused}"
    );
    assert_eq!(ask(b, &cap_b).unwrap().len(), 1);
    // The administrator's own entries, taken from C's copy of the catalogs and re-sent: B's
    // capability re-labelled a deletion, and as it is (to bring back what was removed); every
    // device entry re-labelled a deletion (a device hiding itself, or cutting another off).
    for (catalog, only) in [("MMM_Access", Some(cap_b.as_str())), ("MMM_Device", None)] {
        let copy = mesh_dare::Container::open(
            c.join(format!("accounts/alice@example.com/{catalog}.dare")),
            mesh_dare::Mode::Read,
        )
        .unwrap();
        let mut tried = 0;
        for i in 1..copy.frame_count() {
            let entry = copy.read(i).unwrap();
            let meta = entry.content_meta().unwrap();
            if only.is_some_and(|id| meta.unique_id.as_deref() != Some(id)) {
                continue;
            }
            let mut relabelled = entry.clone();
            relabelled
                .header
                .set_content_meta(&ContentMeta {
                    event: Some("Delete".into()),
                    ..meta
                })
                .unwrap();
            for forged in [relabelled, entry] {
                let refused = session_c
                    .append_remote(catalog, vec![forged])
                    .unwrap_err()
                    .to_string();
                assert!(refused.contains("403"), "{catalog}: {refused}");
                tried += 1;
            }
        }
        assert!(tried >= 2, "{catalog}: nothing to try");
    }
    assert_eq!(ask(b, &cap_b).unwrap().len(), 1);
    assert_eq!(json_in(a, &["device", "list"]).as_array().unwrap().len(), 3);
    // A device without administrator rights cannot unbind the account: the command says so,
    // and the request made by hand, signed by its own key, is refused by the service.
    let refused = fails_in(b, DEVICE_PASS, &["account", "unbind"]);
    assert!(refused.contains("administrator"), "{refused}");
    let device_b = MeshHome::at(b).open(DEVICE_PASS).unwrap();
    let account_b = device_b.account(None).unwrap();
    let (signer, encryption, connection) =
        mesh_client::online::device_credentials(&device_b, &account_b).unwrap();
    let info = mesh_client::online::hello(&service.url, Some(&service.url)).unwrap();
    let unbind = mesh_protocol::binding::seal_request(
        &mesh_protocol::Request::UnbindRequest(mesh_protocol::messages::UnbindRequest {
            account: Some("alice@example.com".into()),
            enveloped_connection_device: Some(connection),
            ..Default::default()
        }),
        mesh_protocol::binding::Authenticator::Key(&signer),
        Some(&info.encryption),
    )
    .unwrap();
    let reply = mesh_protocol::client::HttpClient::post_to(
        &mesh_protocol::client::service_url("", Some(&service.url)),
        &unbind.bytes,
    )
    .unwrap();
    let mut keys = mesh_dare::KeyRing::new();
    keys.add_private(encryption);
    let response =
        mesh_protocol::binding::open_response(&reply, &keys, Some(&info.signature), None).unwrap();
    assert_eq!(response.status().0, 403, "{:?}", response.status());
    ok_in(b, &["account", "sync"]);

    // Contact messages: signed only while the sender knows no key of the recipient; encrypted
    // to the recipient's account key once the sender has kept it (from a message they sent).
    let carol = tempfile::tempdir().unwrap();
    let carol = carol.path();
    ok_in(carol, &["account", "create", "carol@example.com"]);
    ok_in(carol, &["account", "bind", "--service", &service.url]);
    let sent = json_in(a, &["message", "send", "carol@example.com", "hello carol"]);
    assert_eq!(sent["Encrypted"], false);
    let got = json_in(carol, &["message", "list"]);
    assert_eq!(got[0]["Text"], "hello carol");
    assert_eq!(got[0]["Encrypted"], false);
    let alice_udf = json_in(a, &["account", "info"])["Udf"].clone();
    assert_eq!(got[0]["SenderProfile"], alice_udf);
    let added = json_in(carol, &["contact", "add", "alice@example.com"]);
    assert_eq!(added["ProfileUdf"], alice_udf);
    let sent = json_in(
        carol,
        &["message", "send", "alice@example.com", "for alice only"],
    );
    assert_eq!(sent["Encrypted"], true);
    // B, holding a share, reads it with the service's help; the service's copy is ciphertext.
    let got = json_in(b, &["message", "list"]);
    let reply = got
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["From"] == "carol@example.com")
        .unwrap_or_else(|| panic!("{got}"));
    assert_eq!(reply["Text"], "for alice only");
    assert_eq!(reply["Encrypted"], true);
    let holds = |account: &str, text: &str| {
        let path = data
            .path()
            .join(format!("store/accounts/{account}/MMM_Inbound.dare"));
        let stored = std::fs::read(path).unwrap();
        stored.windows(text.len()).any(|w| w == text.as_bytes())
    };
    assert!(!holds("alice@example.com", "for alice only"));
    // (The signed-only message is there in the clear: the search would find it.)
    assert!(holds("carol@example.com", "hello carol"));

    // Without the service the share decrypts nothing; the administrator still reads.
    service.kill();
    let offline = fails_in(b, DEVICE_PASS, &["password", "get", "bank.example"]);
    assert!(
        offline.contains("cannot reach")
            && offline.contains("with its service's help")
            && !offline.contains("pw1"),
        "{offline}"
    );
    assert_eq!(read(a), "pw1");
    service.restart();
    for dir in [a, b, c] {
        repoint(dir, &service.url);
    }
    assert_eq!(read(b), "pw1");

    // Removing B removes its capability; C carries on.
    ok_in(a, &["device", "delete", &udf_b]);
    let granted = grants(a);
    assert_eq!(granted, vec![(udf_c, cap_c)]);
    assert!(
        fails_in(b, DEVICE_PASS, &["password", "get", "bank.example"])
            .contains("removed from the account")
    );
    ok_in(c, &["account", "sync"]);
    assert_eq!(read(c), "pw1");
}
