//! A service that moved (issue: everyday use): `--service` naming another service is refused,
//! never ignored; `mesh account move` switches only to a service that holds this very account
//! with the entries this device synced, and then the device works with it.

mod common;
use common::service::{container_status, Service};
use common::*;

fn copy(from: &std::path::Path, to: &std::path::Path) {
    let status = std::process::Command::new("cp")
        .args(["-a", from.to_str().unwrap(), to.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn moving_to_a_service_holding_the_same_account() {
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let a_service = Service::start(dirs[0].path(), None);
    let b_service = Service::start(dirs[1].path(), None);
    let c_service = Service::start(dirs[2].path(), None);
    let alice = dirs[3].path();
    ok_in(alice, &["account", "create", "alice@example.com"]);
    ok_in(alice, &["password", "add", "bank.example", "alice", "pw1"]);
    ok_in(alice, &["account", "bind", "--service", &a_service.url]);
    ok_in(alice, &["password", "add", "shop.example", "alice", "pw2"]);

    // A --service that is not the account's service is refused, whatever the command.
    for command in ["status", "sync", "unbind"] {
        let error = fails_in(
            alice,
            DEVICE_PASS,
            &["account", command, "--service", &b_service.url],
        );
        assert!(
            error.contains("mesh account move --service"),
            "{command}: {error}"
        );
    }

    // The operator copies the account to B whole, and to C without its entries.
    let account = |service: &Service| service.data.join("store/accounts/alice@example.com");
    copy(&account(&a_service), &service_accounts(&b_service));
    std::fs::create_dir_all(account(&c_service)).unwrap();
    for file in ["profile.dare", "revoked.json"] {
        std::fs::copy(
            account(&a_service).join(file),
            account(&c_service).join(file),
        )
        .unwrap();
    }

    // C does not hold the entries this device synced: refused, nothing changes.
    let error = fails_in(
        alice,
        DEVICE_PASS,
        &["account", "move", "--service", &c_service.url],
    );
    assert!(error.contains("different copy"), "{error}");
    let status = json_in(alice, &["account", "status"]);
    assert!(
        status["Url"]
            .as_str()
            .unwrap()
            .contains(a_service.url.split('#').next().unwrap()),
        "{status}"
    );

    // B holds the very account: moved, and the device works with B from then on.
    let moved = json_in(alice, &["account", "move", "--service", &b_service.url]);
    assert!(moved["Containers"].as_u64().unwrap() > 0, "{moved}");
    ok_in(alice, &["password", "add", "mail.example", "alice", "pw3"]);
    assert_eq!(container_status(alice, "MMM_Credential")["Service"], 3);
    ok_in(alice, &["account", "sync", "--service", &b_service.url]);
    // A no longer hears from it.
    let on_a = mesh_dare::Container::open(
        account(&a_service).join("MMM_Credential.dare"),
        mesh_dare::Mode::Read,
    )
    .unwrap();
    assert_eq!(on_a.frame_count() - 1, 2);
}

fn service_accounts(service: &Service) -> std::path::PathBuf {
    let dir = service.data.join("store/accounts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A removed device does not come back with a new service: the old service deletes the removal
/// from the access catalog on its own (an entry no administrator signed); the account, bound
/// anew elsewhere, still sends the removal, and the new service refuses the device.
#[test]
fn a_removal_the_old_service_deleted_still_goes_to_the_new_one() {
    let (dirs, mut a_service, b_service, phone_udf) = a_phone_removed();
    let alice = dirs[2].path();
    {
        let mut access = mesh_dare::catalog::Catalog::open_or_create(
            a_service
                .data
                .join("store/accounts/alice@example.com/MMM_Access.dare"),
            &[],
        )
        .unwrap();
        assert!(access.delete(&format!("Revoked:{phone_udf}")).unwrap());
    }
    a_service.restart();
    common::service::repoint(alice, &a_service.url);
    ok_in(alice, &["account", "sync"]);
    ok_in(alice, &["account", "unbind"]);
    ok_in(alice, &["account", "bind", "--service", &b_service.url]);
    // The new service holds the removal: in what it refuses, and in the access catalog.
    let account = b_service.data.join("store/accounts/alice@example.com");
    let revoked = std::fs::read_to_string(account.join("revoked.json")).unwrap_or_default();
    assert!(revoked.contains(&phone_udf), "{revoked}");
    let access = std::fs::read(account.join("MMM_Access.dare")).unwrap();
    assert!(
        String::from_utf8_lossy(&access).contains(&format!("Revoked:{phone_udf}")),
        "the removal is not in the new service's access catalog"
    );
}

/// A removed device does not come back by a replay: the old service appends again the device's
/// entry (as the administrator signed it, before its removal) and an entry of its own; the
/// account, bound anew elsewhere and rotated, neither lists the device nor gives it new keys.
#[test]
fn a_removed_device_replayed_by_the_old_service_stays_removed() {
    let (dirs, mut a_service, b_service, phone_udf) = a_phone_removed();
    let alice = dirs[2].path();
    {
        let path = a_service
            .data
            .join("store/accounts/alice@example.com/MMM_Device.dare");
        let mut devices = mesh_dare::catalog::Catalog::open_or_create(&path, &[]).unwrap();
        let frames: Vec<_> = (1..devices.container().frame_count())
            .map(|i| devices.container().read(i).unwrap())
            .collect();
        let meta = |e: &mesh_dare::DareEnvelope| e.content_meta().unwrap();
        let removal = frames
            .iter()
            .rev()
            .find(|e| meta(e).event.as_deref() == Some("Delete"))
            .unwrap();
        let id = meta(removal).unique_id.unwrap();
        let entry = frames
            .iter()
            .find(|e| meta(e).unique_id.as_deref() == Some(id.as_str()))
            .unwrap()
            .clone();
        devices.apply_envelope(entry).unwrap();
        let junk = mesh_dare::DareEnvelope::encode(
            b"",
            &mesh_dare::EnvelopeOptions {
                meta: Some(mesh_dare::ContentMeta {
                    unique_id: Some("NJUNK".into()),
                    event: Some("Delete".into()),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .unwrap();
        devices.apply_envelope(junk).unwrap();
    }
    a_service.restart();
    common::service::repoint(alice, &a_service.url);
    ok_in(alice, &["account", "sync"]);
    ok_in(alice, &["account", "unbind"]);
    ok_in(alice, &["account", "bind", "--service", &b_service.url]);
    let listed = json_in(alice, &["device", "list"]).to_string();
    assert!(!listed.contains(&phone_udf), "{listed}");
    let rotated = json_in(alice, &["account", "rekey"]);
    assert!(!rotated.to_string().contains(&phone_udf), "{rotated}");
}

/// alice on service A with a phone connected and then removed; A stopped (for a test to change
/// its files as the service could): the directories (A's, B's, alice's, the phone's), A, a
/// second service B, and the phone's UDF.
fn a_phone_removed() -> (Vec<tempfile::TempDir>, Service, Service, String) {
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut a_service = Service::start(dirs[0].path(), None);
    let b_service = Service::start(dirs[1].path(), None);
    let (alice, phone) = (dirs[2].path(), dirs[3].path());
    common::service::alice_with_a_password(&a_service, alice);
    common::service::connect_by_witness(&a_service, alice, phone);
    let phone_udf = json_in(phone, &["account", "info"])["DeviceUdf"]
        .as_str()
        .unwrap()
        .to_string();
    ok_in(alice, &["device", "delete", &phone_udf]);
    a_service.kill();
    (dirs, a_service, b_service, phone_udf)
}
