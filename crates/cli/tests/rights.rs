//! Device rights (the `Roles` of the connection the administrator signs): chosen when a device
//! joins (`device accept --rights`, `account pin --rights`), shown by `device list`, and
//! enforced by the service (a device without the message right cannot read the inbound spool
//! or send, one without the threshold right gets no contribution) and by the devices (a web
//! device reads offline; a device with neither web nor threshold is given no key).

mod common;
use common::service::{alice_with_a_password, Service};
use common::*;

use std::path::Path;

use mesh_client::context::ThresholdOperator;
use mesh_client::online::Session;
use mesh_client::MeshHome;
use mesh_crypto::{Algorithm, PrivateKey};
use mesh_schema::catalog::CatalogedDevice;
use mesh_schema::MeshItem;

/// Connect the device at `dir`, accepted on `admin` with the rights named.
fn connect_with(service: &Service, admin: &Path, dir: &Path, rights: &str) {
    common::service::connect_with_rights(service, admin, dir, &["--rights", rights]);
}

fn rights_listed(admin: &Path, dir: &Path) -> serde_json::Value {
    let udf = json_in(dir, &["account", "info"])["DeviceUdf"].clone();
    json_in(admin, &["device", "list"])
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["Udf"] == udf)
        .unwrap()["Rights"]
        .clone()
}

/// The HTTP status the service gives a Status about `spools` asked by the device at `dir`.
fn status_of_spools(service: &Service, dir: &Path, spools: &[&str]) -> u16 {
    let (request, keys) = common::service::signed_status_of(dir, &service.url, &[], spools);
    common::service::status_at(&service.url, &request, &keys)
}

#[test]
fn rights_chosen_at_connection_are_enforced() {
    let data = tempfile::tempdir().unwrap();
    let mut service = Service::start(data.path(), None);
    let dirs: Vec<_> = (0..5).map(|_| tempfile::tempdir().unwrap()).collect();
    let [a, web, threshold, message, pinned] = [0, 1, 2, 3, 4].map(|i| dirs[i].path());
    alice_with_a_password(&service, a);

    // Names the administrator may give, and nothing else; messages need a key to read them.
    let refused = fails_in(
        a,
        DEVICE_PASS,
        &["device", "accept", "AAAA", "--rights", "admin"],
    );
    assert!(refused.contains("unknown right"), "{refused}");
    let refused = fails_in(a, DEVICE_PASS, &["account", "pin", "--rights", "message"]);
    assert!(refused.contains("needs web or threshold"), "{refused}");

    connect_with(&service, a, web, "web");
    connect_with(&service, a, threshold, "threshold");
    connect_with(&service, a, message, "message,threshold");
    assert_eq!(rights_listed(a, web), serde_json::json!(["web"]));
    assert_eq!(
        rights_listed(a, threshold),
        serde_json::json!(["threshold"])
    );
    assert_eq!(
        rights_listed(a, message),
        serde_json::json!(["message", "threshold"])
    );
    assert_eq!(
        json_in(web, &["account", "info"])["Rights"],
        serde_json::json!(["web"])
    );

    // Every one of them reads the catalogs.
    assert_eq!(password(web, "bank.example"), "pw1");
    assert_eq!(password(threshold, "bank.example"), "pw1");
    assert_eq!(password(message, "bank.example"), "pw1");
    // The message device reads and sends messages; the others are told they may not.
    ok_in(message, &["message", "list"]);
    for dir in [web, threshold] {
        let refused = fails_in(dir, DEVICE_PASS, &["message", "list"]);
        assert!(refused.contains("without the message right"), "{refused}");
        let refused = fails_in(
            dir,
            DEVICE_PASS,
            &["message", "send", "bob@example.com", "hi"],
        );
        assert!(refused.contains("without the message right"), "{refused}");
    }

    // As an attacker on the threshold device, past its own client's checks: the service
    // refuses it the inbound spool, how full it is, and sending.
    let device = MeshHome::at(threshold).open(DEVICE_PASS).unwrap();
    let account = device.account(None).unwrap();
    let session = Session::open(&device, &account).unwrap();
    let refused = session
        .download("MMM_Inbound", 1, 1, &mut |_, _, _| {})
        .unwrap_err()
        .to_string();
    assert!(refused.contains("without the message right"), "{refused}");
    let refused = session
        .download("mmm_outbound", 1, 1, &mut |_, _, _| {})
        .unwrap_err()
        .to_string();
    assert!(refused.contains("without the message right"), "{refused}");
    let note = mesh_dare::DareEnvelope::encode(b"{}", &Default::default()).unwrap();
    let refused = session
        .send(&["bob@example.com".to_string()], note)
        .unwrap_err()
        .to_string();
    assert!(refused.contains("without the message right"), "{refused}");
    assert_eq!(status_of_spools(&service, threshold, &["MMM_Inbound"]), 403);
    assert_eq!(status_of_spools(&service, message, &["MMM_Inbound"]), 200);
    drop(session);
    // The web device gets no contribution from the service's share, whatever it names.
    let device_w = MeshHome::at(web).open(DEVICE_PASS).unwrap();
    let account_w = device_w.account(None).unwrap();
    let session_w = Session::open(&device_w, &account_w).unwrap();
    let epk = PrivateKey::generate(Algorithm::X448).public_key();
    let refused = session_w
        .operator()
        .contributions("NAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA", &[epk])
        .unwrap_err()
        .to_string();
    assert!(refused.contains("without the threshold right"), "{refused}");
    drop(session_w);

    // A PIN carries the rights it grants, and only administrators can read it: a device that
    // reads the catalogs cannot take the PIN's salted value from the Local spool to connect a
    // device of its own with more rights than it has.
    let pin = json_in(a, &["account", "pin", "--rights", "web,message"]);
    assert_eq!(pin["Rights"], serde_json::json!(["message", "web"]));
    let pin_id = mesh_schema::ids::pin_id(
        &mesh_schema::ids::salted_pin(pin["Pin"].as_str().unwrap(), "Device").unwrap(),
        "alice@example.com",
    )
    .unwrap();
    for dir in [web, message] {
        ok_in(dir, &["account", "sync"]);
        let device = MeshHome::at(dir).open(DEVICE_PASS).unwrap();
        let account = device.account(None).unwrap();
        let _session = Session::open(&device, &account).unwrap();
        let local = mesh_dare::Container::open(
            dir.join("accounts/alice@example.com/MMM_Local.dare"),
            mesh_dare::container::Mode::Read,
        )
        .unwrap();
        let record = (1..local.frame_count())
            .map(|i| local.read(i).unwrap())
            .find(|e| e.content_meta().unwrap().unique_id.as_deref() == Some(pin_id.as_str()))
            .expect("the PIN's record is in the Local spool");
        let opened = account
            .ring_for_envelopes(std::slice::from_ref(&record))
            .map_err(|e| e.to_string())
            .and_then(|ring| record.plaintext(&ring).map_err(|e| e.to_string()));
        assert!(
            opened.is_err(),
            "a device without administration read the PIN"
        );
    }
    ok_in(
        pinned,
        &[
            "device",
            "request",
            pin["Uri"].as_str().unwrap(),
            "--service",
            &service.url,
        ],
    );
    ok_in(a, &["account", "sync"]);
    ok_in(pinned, &["device", "complete"]);
    assert_eq!(
        rights_listed(a, pinned),
        serde_json::json!(["message", "web"])
    );
    assert_eq!(password(pinned, "bank.example"), "pw1");
    ok_in(pinned, &["message", "list"]);

    // Roles are the administrator's to sign: the threshold device writes `message` into its
    // own connection, makes its digest match (the signature kept) and is refused as
    // unauthenticated by the service.
    let record_path = threshold
        .join("accounts")
        .join("alice@example.com")
        .join("device.json");
    let mut record: CatalogedDevice =
        match MeshItem::from_bytes(&std::fs::read(&record_path).unwrap()).unwrap() {
            MeshItem::CatalogedDevice(d) => *d,
            other => panic!("{other:?}"),
        };
    let connection = record.enveloped_connection_device.as_mut().unwrap();
    let text = String::from_utf8(connection.payload.clone()).unwrap();
    assert!(text.contains("\"threshold\""), "{text}");
    connection.payload = text
        .replace("\"threshold\"", "\"threshold\",\"message\"")
        .into_bytes();
    let digest = mesh_dare::envelope::sha512(&connection.payload).to_vec();
    if connection.header.payload_digest.is_some() {
        connection.header.payload_digest = Some(digest.clone());
    }
    if let Some(trailer) = connection.trailer.as_mut() {
        trailer.payload_digest = Some(digest);
    }
    std::fs::write(
        &record_path,
        MeshItem::from(record).to_json().unwrap().as_bytes(),
    )
    .unwrap();
    let refused = fails_in(threshold, DEVICE_PASS, &["message", "list"]);
    assert!(
        refused.contains("(401)") && refused.contains("not valid"),
        "{refused}"
    );

    // The web device holds the account key: it reads with the service down.
    service.kill();
    assert_eq!(password(web, "bank.example"), "pw1");
    service.restart();
    for dir in [a, web, pinned] {
        common::service::repoint(dir, &service.url);
    }

    // A key rotation gives each device new records with the rights it had: the web device
    // gets the new key (and keeps reading what was written before), offline too.
    ok_in(a, &["account", "rekey"]);
    ok_in(a, &["password", "add", "after.example", "alice", "pw9"]);
    ok_in(pinned, &["account", "sync"]);
    assert_eq!(
        rights_listed(a, pinned),
        serde_json::json!(["message", "web"])
    );
    service.kill();
    assert_eq!(
        json_in(pinned, &["password", "get", "after.example"])["CatalogedCredential"]["Password"],
        "pw9"
    );
    assert_eq!(password(pinned, "bank.example"), "pw1");
    service.restart();
    common::service::repoint(a, &service.url);

    // A device is connected once: of two requests it made, accepting the second after the
    // first (with other rights) is refused, or its first connection would stand beside it.
    let twice = tempfile::tempdir().unwrap();
    let ask = || common::service::request_witness(&service, twice.path());
    let (first, second) = (ask(), ask());
    ok_in(a, &["device", "accept", &first, "--rights", "threshold"]);
    let refused = fails_in(
        a,
        DEVICE_PASS,
        &["device", "accept", &second, "--rights", "web,message"],
    );
    assert!(refused.contains("already connected"), "{refused}");
    ok_in(twice.path(), &["device", "complete"]);
    assert_eq!(
        rights_listed(a, twice.path()),
        serde_json::json!(["threshold"])
    );

    // Removing a web device says what it keeps.
    let udf = json_in(web, &["account", "info"])["DeviceUdf"]
        .as_str()
        .unwrap()
        .to_string();
    let out = ok_in(a, &["device", "delete", &udf]);
    assert!(out.contains("keeps the account's decryption key"), "{out}");
}

/// An administrator changes a connected device's rights (`device auth`): the device takes its
/// new connection at its next sync; the old connection is refused from then on, whoever
/// presents it; a right taken away is enforced by the service, one given is usable.
#[test]
fn rights_are_changed_in_place() {
    let data = tempfile::tempdir().unwrap();
    let mut service = Service::start(data.path(), None);
    let (a, phone) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, phone) = (a.path(), phone.path());
    alice_with_a_password(&service, a);
    connect_with(&service, a, phone, "message,threshold");
    let udf = json_in(phone, &["account", "info"])["DeviceUdf"]
        .as_str()
        .unwrap()
        .to_string();
    let admin_udf = json_in(a, &["account", "info"])["DeviceUdf"]
        .as_str()
        .unwrap()
        .to_string();
    for (args, said) in [
        (vec!["device", "auth", &udf], "name the device's rights"),
        (
            vec!["device", "auth", &admin_udf, "--rights", "threshold"],
            "administrator device",
        ),
        (
            vec!["device", "auth", &udf, "--rights", "message,threshold"],
            "already",
        ),
        (
            vec!["device", "auth", "MAAA-BBBB", "--rights", "web"],
            "no device",
        ),
    ] {
        let refused = fails_in(a, DEVICE_PASS, &args);
        assert!(refused.contains(said), "{args:?}: {refused}");
    }
    // Only an administrator device changes rights.
    fails_in(
        phone,
        DEVICE_PASS,
        &["device", "auth", &udf, "--rights", "web"],
    );

    // A session the phone holds open, with a ticket issued to its connection as it is now.
    let device = MeshHome::at(phone).open(DEVICE_PASS).unwrap();
    let account = device.account(Some("alice@example.com")).unwrap();
    let session = Session::open(&device, &account).unwrap();
    session.use_ticket().unwrap();
    assert!(session.ticket().is_some());
    session.status().unwrap();

    // The message right taken away.
    ok_in(a, &["device", "auth", &udf, "--rights", "threshold"]);
    // The ticket stands no more than the connection it was issued to.
    let refused = session.status().unwrap_err().to_string();
    assert!(refused.contains("connection was replaced"), "{refused}");
    let listed = json_in(a, &["device", "list"]);
    let row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["Udf"] == udf.as_str())
        .unwrap();
    assert_eq!(row["Rights"], serde_json::json!(["threshold"]));
    // The connection the phone still holds is refused, whoever presents it.
    assert_eq!(status_of_spools(&service, phone, &[]), 401);
    // The phone takes its new connection at its next sync, and reads with its new share.
    let said = ok_in(phone, &["account", "sync"]);
    assert!(said.contains("changed this device's rights"), "{said}");
    assert_eq!(password(phone, "bank.example"), "pw1");
    assert_eq!(status_of_spools(&service, phone, &[]), 200);
    // What was taken away, the service refuses.
    assert_eq!(status_of_spools(&service, phone, &["MMM_Inbound"]), 403);

    // Given back, with web instead of threshold: messages again, and reading offline.
    ok_in(a, &["device", "auth", &udf, "--rights", "message,web"]);
    ok_in(phone, &["account", "sync"]);
    assert_eq!(status_of_spools(&service, phone, &["MMM_Inbound"]), 200);
    service.kill();
    assert_eq!(password(phone, "bank.example"), "pw1");
    service.restart();
    common::service::repoint(a, &service.url);
    common::service::repoint(phone, &service.url);
    // web taken away: said to be kept by the device until the keys are rotated.
    let changed = json_in(
        a,
        &["device", "auth", &udf, "--rights", "message,threshold"],
    );
    assert_eq!(changed["HoldsAccountKey"], true);
    ok_in(phone, &["account", "sync"]);
    assert_eq!(password(phone, "bank.example"), "pw1");

    // After a key rotation, a change of rights leaves the device its shares of the earlier
    // key: it still reads what was written before the rotation.
    ok_in(a, &["account", "rekey"]);
    ok_in(phone, &["account", "sync"]);
    ok_in(a, &["password", "add", "after.example", "alice", "pw2"]);
    ok_in(a, &["device", "auth", &udf, "--rights", "threshold"]);
    ok_in(phone, &["account", "sync"]);
    assert_eq!(password(phone, "bank.example"), "pw1");
    assert_eq!(password(phone, "after.example"), "pw2");
}

/// A device may ask for rights when it requests to join (`device request --rights`): the
/// administrator sees them in `device pending`, and `device accept` without `--rights` grants
/// what was asked — but the account's key itself (`web`) only when the administrator names it.
#[test]
fn rights_asked_for_at_request_are_the_administrators_to_grant() {
    let data = tempfile::tempdir().unwrap();
    let service = Service::start(data.path(), None);
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let [a, laptop, phone] = [0, 1, 2].map(|i| dirs[i].path());
    alice_with_a_password(&service, a);
    let ask = |dir: &Path, rights: &str| {
        common::service::request_witness_with(&service, dir, &["--rights", rights])
    };
    let laptop_witness = ask(laptop, "message,web");
    let phone_witness = ask(phone, "threshold");
    let pending = json_in(a, &["device", "pending"]);
    let asked = |witness: &str| {
        pending
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["Witness"] == witness)
            .unwrap()["Requested"]
            .clone()
    };
    assert_eq!(asked(&laptop_witness), "message,web");
    assert_eq!(asked(&phone_witness), "threshold");
    // The account's key itself only when the administrator names it; the rest as asked.
    let refused = fails_in(a, DEVICE_PASS, &["device", "accept", &laptop_witness]);
    assert!(refused.contains("--rights"), "{refused}");
    ok_in(
        a,
        &[
            "device",
            "accept",
            &laptop_witness,
            "--rights",
            "message,web",
        ],
    );
    ok_in(laptop, &["device", "complete"]);
    assert_eq!(
        rights_listed(a, laptop),
        serde_json::json!(["message", "web"])
    );
    ok_in(a, &["device", "accept", &phone_witness]);
    ok_in(phone, &["device", "complete"]);
    assert_eq!(rights_listed(a, phone), serde_json::json!(["threshold"]));
}
