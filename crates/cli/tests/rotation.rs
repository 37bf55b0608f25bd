//! Key rotation and recovery after a compromise (issue: a stolen administrator device keeps the
//! account), end to end against real service processes: the account's root lives in the escrow
//! shares, a lost administrator device is removed with the keys rotated in one step, the devices
//! that stay follow, and the removed one can neither reach the service nor read what is written
//! after — on container files and on PostgreSQL. Then the rotation request itself, attacked.

mod common;
use common::service::{alice_with_a_password, connect_by_witness, repoint, Postgres, Service};
use common::*;

use std::path::Path;

use mesh_client::MeshHome;
use mesh_dare::{Container, KeyRing, Mode};
use mesh_protocol::binding::{self, Authenticator};
use mesh_protocol::messages::*;
use mesh_protocol::{Request, Response};

fn udf_of(dir: &Path) -> String {
    json_in(dir, &["account", "info"])["DeviceUdf"]
        .as_str()
        .unwrap()
        .to_string()
}

fn escrow(dir: &Path) -> Vec<String> {
    escrow_shares(dir, "2", "3")
}

fn copy_dir(from: &Path, to: &Path) {
    let status = std::process::Command::new("cp")
        .args(["-a", &format!("{}/.", from.display()), to.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn password(dir: &Path, site: &str) -> serde_json::Value {
    json_in(dir, &["password", "get", site])["CatalogedCredential"]["Password"].clone()
}

/// "I lost my laptop and someone may have it": the laptop made the account and escrowed its
/// root; a copy of its data directory is in a thief's hands. A new device recovers the account
/// from two shares, removing the laptop: the keys rotate, the phone follows, the thief's copy is
/// locked out and cannot read what is written after.
fn lost_laptop(service: &Service) {
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let (laptop, phone, thief, new) = (
        dirs[0].path(),
        dirs[1].path(),
        dirs[2].path(),
        dirs[3].path(),
    );
    alice_with_a_password(service, laptop);
    connect_by_witness(service, laptop, phone);
    ok_in(phone, &["account", "sync"]);
    let shares = escrow(laptop);
    let info = json_in(laptop, &["account", "info"]);
    assert_eq!(info["RootHolder"], false, "{info}");
    assert_eq!(info["Administrator"], true, "{info}");
    copy_dir(laptop, thief);
    let laptop_udf = udf_of(laptop);

    // The owner recovers on a new device and removes the laptop, in one step.
    let recovered = json_in(
        new,
        &[
            "account",
            "recover",
            "alice@example.com",
            &shares[0],
            &shares[2],
            "--service",
            &service.url,
            "--remove",
            &laptop_udf,
        ],
    );
    assert_eq!(recovered["RootHolder"], true, "{recovered}");
    assert_eq!(
        recovered["Rotation"]["Removed"],
        serde_json::json!([laptop_udf])
    );
    assert_eq!(password(new, "bank.example"), "pw1");
    ok_in(new, &["password", "add", "after.example", "alice", "pw2"]);

    // The phone follows the rotation and reads what was written before and after.
    let synced = ok_in(phone, &["account", "sync"]);
    assert!(synced.contains("keys were rotated"), "{synced}");
    assert_eq!(password(phone, "bank.example"), "pw1");
    assert_eq!(password(phone, "after.example"), "pw2");
    ok_in(phone, &["password", "add", "phone.example", "alice", "pw3"]);
    ok_in(new, &["account", "sync"]);
    assert_eq!(password(new, "phone.example"), "pw3");

    // The thief's copy: refused by the service, no root to escrow or export, nothing written.
    for dir in [thief, laptop] {
        let error = fails_in(dir, DEVICE_PASS, &["account", "sync"]);
        assert!(error.contains("removed from the account"), "{error}");
    }
    let error = fails_in(thief, DEVICE_PASS, &["account", "escrow"]);
    assert!(error.contains("does not hold the root"), "{error}");
    let error = fails_in(
        thief,
        DEVICE_PASS,
        &["account", "export", thief.join("x").to_str().unwrap()],
    );
    assert!(error.contains("does not hold the root"), "{error}");
    let error = fails_in(
        thief,
        DEVICE_PASS,
        &["password", "add", "injected.example", "u", "p"],
    );
    assert!(!error.contains("panicked"), "{error}");
    let error = fails_in(thief, DEVICE_PASS, &["account", "rekey"]);
    assert!(error.contains("does not hold the root"), "{error}");
    // Nor can it connect a device: a PIN it registers is refused by the service.
    let error = fails_in(thief, DEVICE_PASS, &["account", "pin"]);
    assert!(error.contains("removed from the account"), "{error}");
    ok_in(new, &["account", "sync"]);
    let listed = json_in(new, &["password", "list"]).to_string();
    assert!(!listed.contains("injected.example"), "{listed}");
    let devices = json_in(new, &["device", "list"]).to_string();
    assert!(!devices.contains(&laptop_udf), "{devices}");

    // What the service stores of the entry written after: the thief's keys do not open it,
    // the new device's do.
    if service.postgres.is_none() {
        let stored = Container::open(
            service
                .data
                .join("store/accounts/alice@example.com/MMM_Credential.dare"),
            Mode::Read,
        )
        .unwrap();
        let last = stored.read(stored.frame_count() - 1).unwrap();
        let ring = |dir: &Path| {
            let device = MeshHome::at(dir).open(DEVICE_PASS).unwrap();
            let account = device.account(Some("alice@example.com")).unwrap();
            let mut ring = KeyRing::new();
            for key in account.encryption_private_keys() {
                ring.add_private(key.clone());
            }
            ring
        };
        assert!(last.plaintext(&ring(thief)).is_err());
        let plain = last.plaintext(&ring(new)).unwrap();
        assert!(String::from_utf8_lossy(&plain).contains("phone.example"));
    }
}

#[test]
fn a_lost_administrator_device_is_locked_out_on_container_files() {
    let data = tempfile::tempdir().unwrap();
    let service = Service::start(data.path(), None);
    lost_laptop(&service);
}

#[test]
fn a_lost_administrator_device_is_locked_out_on_postgresql() {
    let pg = Postgres::start();
    let data = tempfile::tempdir().unwrap();
    let service = Service::start(data.path(), Some(&pg.url));
    lost_laptop(&service);
}

/// Rotation on demand by the root holder, removing a device without administrator rights; and
/// removing an administrator device, which needs the root (here from shares).
#[test]
fn rekey_and_removing_an_administrator() {
    let data = tempfile::tempdir().unwrap();
    let service = Service::start(data.path(), None);
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let (a, b, c, d) = (
        dirs[0].path(),
        dirs[1].path(),
        dirs[2].path(),
        dirs[3].path(),
    );
    // An account made as the previous build made it (the root on the device that made it, no
    // administration keys apart): it rotates in place.
    alice_with_a_password(&service, a);
    connect_by_witness(&service, a, b);
    connect_by_witness(&service, a, c);
    let before = json_in(a, &["account", "info"]);
    let c_udf = udf_of(c);
    let rotated = json_in(a, &["account", "rekey", "--remove", &c_udf]);
    assert_eq!(rotated["Removed"], serde_json::json!([c_udf]));
    let after = json_in(a, &["account", "info"]);
    assert_eq!(before["Udf"], after["Udf"], "the account stays the same");
    let key = |o: &serde_json::Value, use_: &str| {
        o["Keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["KeyUse"] == use_)
            .unwrap()["Udf"]
            .clone()
    };
    assert_ne!(
        key(&before, "AdministratorSignature"),
        key(&after, "AdministratorSignature")
    );
    assert_ne!(
        key(&before, "AccountEncryption"),
        key(&after, "AccountEncryption")
    );
    assert_eq!(
        key(&before, "ProfileSignature"),
        key(&after, "ProfileSignature")
    );
    ok_in(a, &["password", "add", "after.example", "alice", "pw2"]);
    ok_in(b, &["account", "sync"]);
    assert_eq!(password(b, "bank.example"), "pw1");
    assert_eq!(password(b, "after.example"), "pw2");
    let error = fails_in(c, DEVICE_PASS, &["account", "sync"]);
    assert!(error.contains("removed from the account"), "{error}");
    // A second rotation: b follows two in a row.
    ok_in(a, &["account", "rekey"]);
    ok_in(a, &["account", "rekey"]);
    ok_in(a, &["password", "add", "third.example", "alice", "pw3"]);
    ok_in(b, &["account", "sync"]);
    assert_eq!(password(b, "third.example"), "pw3");
    assert_eq!(password(b, "after.example"), "pw2");

    // a escrows (the root goes into the shares); d recovers, removing no one: both are
    // administrator devices, only d holds the root.
    let shares = escrow(a);
    json_in(
        d,
        &[
            "account",
            "recover",
            "alice@example.com",
            &shares[1],
            &shares[2],
            "--service",
            &service.url,
        ],
    );
    ok_in(a, &["account", "sync"]);
    // Removing the administrator device d from a needs the root: refused without it ...
    let d_udf = udf_of(d);
    let error = fails_in(a, DEVICE_PASS, &["device", "delete", &d_udf]);
    assert!(error.contains("does not hold the root"), "{error}");
    // ... and done with a quorum of shares.
    let deleted = json_in(
        a,
        &[
            "device", "delete", &d_udf, "--share", &shares[0], "--share", &shares[1],
        ],
    );
    assert_eq!(deleted["Deleted"], d_udf);
    let error = fails_in(d, DEVICE_PASS, &["account", "sync"]);
    assert!(error.contains("removed from the account"), "{error}");
    // Shares of another account do not pass for this one's root.
    let other = tempfile::tempdir().unwrap();
    ok_in(other.path(), &["account", "create", "bob@example.com"]);
    let bob = escrow(other.path());
    let error = fails_in(
        a,
        DEVICE_PASS,
        &["account", "rekey", "--share", &bob[0], "--share", &bob[1]],
    );
    assert!(
        error.contains("do not recover this account's root"),
        "{error}"
    );
    ok_in(b, &["account", "sync"]);
    assert_eq!(password(b, "third.example"), "pw3");
}

/// A rotation request as an attacker would make it, from the device at `dir`: the profile
/// `profile`, signed by the device's connection key and `extra` keys. The answer's status.
fn send_rotation(
    dir: &Path,
    url: &str,
    profile: mesh_dare::DareEnvelope,
    extra: &[&mesh_crypto::PrivateKey],
) -> (u16, String) {
    let device = MeshHome::at(dir).open(DEVICE_PASS).unwrap();
    let account = device.account(Some("alice@example.com")).unwrap();
    let (signer, encryption, connection) =
        mesh_client::online::device_credentials(&device, &account).unwrap();
    let mut keys = KeyRing::new();
    keys.add_private(encryption);
    let info = mesh_client::online::hello(url, Some(url)).unwrap();
    let request = Request::TransactRequest(TransactRequest {
        account: Some("alice@example.com".into()),
        enveloped_connection_device: Some(connection),
        enveloped_profile_account: Some(profile),
        ..Default::default()
    });
    let mut signers = vec![&signer];
    signers.extend_from_slice(extra);
    let sealed = binding::seal_request(
        &request,
        Authenticator::Keys(&signers),
        Some(&info.encryption),
    )
    .unwrap();
    let reply = mesh_protocol::client::HttpClient::post_to(&info.url, &sealed.bytes).unwrap();
    let response =
        binding::open_response(&reply, &keys, Some(&info.signature), Some(&sealed.nonce)).unwrap();
    let (code, text) = response.status();
    assert!(matches!(response, Response::MeshResponse(_)) || code < 300);
    (code, text.unwrap_or_default().to_string())
}

/// The rotation transaction attacked: an earlier profile put back (rollback), a profile of
/// another root, a rotation the root does not sign, and rotation records left by a device
/// without administrator rights.
#[test]
fn rotation_requests_under_attack() {
    let data = tempfile::tempdir().unwrap();
    let service = Service::start(data.path(), None);
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (a.path(), b.path());
    alice_with_a_password(&service, a);
    connect_by_witness(&service, a, b);
    let profile_of = |dir: &Path| {
        mesh_dare::DareEnvelope::parse(
            &std::fs::read(dir.join("accounts/alice@example.com/profile.dare")).unwrap(),
        )
        .unwrap()
    };
    let first = profile_of(a);
    ok_in(a, &["account", "rekey"]);
    let second = profile_of(a);
    ok_in(a, &["account", "rekey"]);

    let device = MeshHome::at(a).open(DEVICE_PASS).unwrap();
    let account = device.account(Some("alice@example.com")).unwrap();
    let root = mesh_client::authority::root_key(account.root().unwrap()).unwrap();
    let admin = account.administrator_key().unwrap();
    drop(account);
    drop(device);

    // Rollback: profiles the root signed, earlier than the one held.
    for old in [&first, &second] {
        let (code, text) = send_rotation(a, &service.url, old.clone(), &[&admin, &root]);
        assert_eq!(code, 403, "{text}");
        assert!(text.contains("later than the profile held"), "{text}");
    }
    // A profile of another root, however late.
    let stranger = tempfile::tempdir().unwrap();
    ok_in(stranger.path(), &["account", "create", "alice@example.com"]);
    let (code, text) = send_rotation(a, &service.url, profile_of(stranger.path()), &[&admin]);
    assert_eq!(code, 403, "{text}");
    // The current profile, re-signed by no root: a rotation must be signed by the root.
    let (code, text) = send_rotation(a, &service.url, profile_of(a), &[&admin]);
    assert_eq!(code, 403, "{text}");
    // A device without administrator rights cannot leave rotation records for others.
    ok_in(b, &["account", "sync"]);
    let device = MeshHome::at(b).open(DEVICE_PASS).unwrap();
    let account = device.account(Some("alice@example.com")).unwrap();
    let (signer, encryption, connection) =
        mesh_client::online::device_credentials(&device, &account).unwrap();
    let record = mesh_schema::signed::seal(
        &mesh_schema::message::MessageComplete::default().into(),
        &signer,
        Some(&mesh_schema::catalog::rotation_id("MAAA", "MBBB")),
        &[],
    )
    .unwrap();
    let info = mesh_client::online::hello(&service.url, Some(&service.url)).unwrap();
    let request = Request::TransactRequest(TransactRequest {
        account: Some("alice@example.com".into()),
        enveloped_connection_device: Some(connection),
        local: vec![record],
        ..Default::default()
    });
    let sealed = binding::seal_request(
        &request,
        Authenticator::Key(&signer),
        Some(&info.encryption),
    )
    .unwrap();
    let mut keys = KeyRing::new();
    keys.add_private(encryption);
    let reply = mesh_protocol::client::HttpClient::post_to(&info.url, &sealed.bytes).unwrap();
    let response =
        binding::open_response(&reply, &keys, Some(&info.signature), Some(&sealed.nonce)).unwrap();
    assert_eq!(response.status().0, 403, "{:?}", response.status());
}

/// A contact who rotated their keys: the newer profile arrives with their next message, the
/// contact entry takes it at the next sync, and what is sent to them is encrypted to their new
/// key (not to the one a removed device of theirs may hold).
#[test]
fn contacts_take_a_rotated_profile() {
    let data = tempfile::tempdir().unwrap();
    let service = Service::start(data.path(), None);
    let (alice, carol) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (alice, carol) = (alice.path(), carol.path());
    ok_in(alice, &["account", "create", "alice@example.com"]);
    ok_in(alice, &["account", "bind", "--service", &service.url]);
    ok_in(carol, &["account", "create", "carol@example.com"]);
    ok_in(carol, &["account", "bind", "--service", &service.url]);
    ok_in(alice, &["message", "send", "carol@example.com", "hello"]);
    ok_in(carol, &["account", "sync"]);
    ok_in(carol, &["contact", "add", "alice@example.com"]);
    let key_for_alice = || {
        let device = MeshHome::at(carol).open(DEVICE_PASS).unwrap();
        let account = device.account(Some("carol@example.com")).unwrap();
        mesh_client::messages::contact_key(&account, "alice@example.com")
            .unwrap()
            .unwrap()
            .udf()
    };
    let alice_key = || {
        json_in(alice, &["account", "info"])["Keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["KeyUse"] == "AccountEncryption")
            .unwrap()["Udf"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(key_for_alice(), alice_key());
    let before = alice_key();
    // A contact of hers published before she rotates.
    let published = json_in(alice, &["contact", "static"])["Uri"]
        .as_str()
        .unwrap()
        .to_string();

    ok_in(alice, &["account", "rekey"]);
    assert_ne!(alice_key(), before);
    ok_in(alice, &["message", "send", "carol@example.com", "new keys"]);
    ok_in(carol, &["account", "sync"]);
    assert_eq!(key_for_alice(), alice_key());
    let sent = json_in(carol, &["message", "send", "alice@example.com", "got it"]);
    assert_eq!(sent["Encrypted"], true, "{sent}");
    let listed = json_in(alice, &["message", "list"]);
    let last = listed.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["Text"], "got it", "{listed}");
    assert_eq!(last["Verified"], true, "{listed}");
    // The contact published before the rotation carries her earlier profile (keys a removed
    // device of hers may hold): carol does not go back to it.
    let err = fails_in(
        carol,
        DEVICE_PASS,
        &["contact", "fetch", &published, "--service", &service.url],
    );
    assert!(err.contains("earlier"), "{err}");
    assert_eq!(key_for_alice(), alice_key());
}

/// What a service (or whoever writes its files) appends to one of the account's catalogs on
/// its own: `entry`, made as the catalog `like` makes entries (encrypted to the account, as
/// anyone can make them, for the credential catalog) and signed by no one, under a UniqueId of
/// its choosing.
fn plant(
    service: &Service,
    admin: &Path,
    (like, catalog): (&str, &str),
    id: &str,
    entry: mesh_schema::MeshItem,
) {
    let local = mesh_dare::catalog::Catalog::open(
        admin.join(format!("accounts/alice@example.com/{like}.dare")),
        Mode::Read,
    )
    .unwrap();
    let env = local
        .put_entry(
            id,
            Some(entry.type_name()),
            entry.to_json().unwrap().as_bytes(),
            &[],
        )
        .unwrap();
    let mut stored = mesh_dare::catalog::Catalog::open_or_create(
        service
            .data
            .join(format!("store/accounts/alice@example.com/{catalog}.dare")),
        &[],
    )
    .unwrap();
    stored.apply_envelope(env).unwrap();
}

#[test]
fn a_rotation_gives_nothing_to_a_device_the_service_put_in_the_catalog() {
    let data = tempfile::tempdir().unwrap();
    let mut service = Service::start(data.path(), None);
    let a = tempfile::tempdir().unwrap();
    let a = a.path();
    alice_with_a_password(&service, a);
    // Mallory's device, made anywhere.
    let m = tempfile::tempdir().unwrap();
    let m = m.path();
    ok_in(m, &["account", "create", "mallory@example.com"]);
    let m_udf = udf_of(m);
    let profile =
        mesh_dare::DareEnvelope::parse(&std::fs::read(m.join("device.dare")).unwrap()).unwrap();
    service.kill();
    let planted = mesh_schema::catalog::CatalogedDevice {
        udf: Some(m_udf.clone()),
        device_udf: Some(m_udf.clone()),
        enveloped_profile_device: Some(profile),
        ..Default::default()
    };
    plant(
        &service,
        a,
        ("MMM_Credential", "MMM_Device"),
        "NPLANTED",
        planted.into(),
    );
    // And a credential, encrypted as the credential catalog's are (a copy of one, say), in the
    // access catalog, which is not encrypted: a rotation signing it again would write it out.
    let credential = mesh_schema::catalog::CatalogedCredential {
        service: Some("bank.example".into()),
        password: Some("pw-planted".into()),
        ..Default::default()
    };
    plant(
        &service,
        a,
        ("MMM_Credential", "MMM_Access"),
        "bank.example",
        credential.into(),
    );
    service.restart();
    repoint(a, &service.url);
    ok_in(a, &["account", "sync"]);
    let rotated = json_in(a, &["account", "rekey"]);
    assert!(
        !rotated.to_string().contains(&m_udf),
        "the planted device is given the new keys: {rotated}"
    );
    // (Counted from the first change the administrator key signed: the device entry; the
    // access catalog had none before the planted entry.)
    assert_eq!(rotated["Unsigned"], 1, "{rotated}");
    let access = std::fs::read(
        service
            .data
            .join("store/accounts/alice@example.com/MMM_Access.dare"),
    )
    .unwrap();
    assert!(
        !String::from_utf8_lossy(&access).contains("pw-planted"),
        "a credential is written out in the access catalog"
    );
    // Nothing for it in what the rotation left for the devices to collect (with no other
    // device, nothing at all).
    let Ok(local) = Container::open(
        service
            .data
            .join("store/accounts/alice@example.com/MMM_Local.dare"),
        Mode::Read,
    ) else {
        return;
    };
    let mallory = MeshHome::at(m).open(DEVICE_PASS).unwrap();
    let mut ring = KeyRing::new();
    ring.add_private(mallory.base_key("Encryption").unwrap());
    for i in 1..local.frame_count() {
        let env = local.read(i).unwrap();
        assert!(
            env.plaintext(&ring).is_err(),
            "frame {i} opens for the planted device"
        );
    }
}
