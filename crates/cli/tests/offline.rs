//! Offline-first devices (issue: everyday use): with the service unreachable, a catalog change is
//! kept, reported as saved and not an error, and uploaded by the next command that reaches the
//! service; every catalog command (SSH keys included) uploads at once when online.

mod common;
use common::service::{container_status, repoint, Service};
use common::*;

#[test]
fn changes_made_offline_are_saved_and_uploaded_later() {
    let data = tempfile::tempdir().unwrap();
    let mut service = Service::start(data.path(), None);
    let a = tempfile::tempdir().unwrap();
    let a = a.path();
    ok_in(a, &["account", "create", "alice@example.com"]);
    ok_in(a, &["account", "bind", "--service", &service.url]);
    // Online: an SSH key goes up at once, like every catalog change.
    ok_in(a, &["ssh", "create", "laptop"]);
    assert_eq!(container_status(a, "MMM_Application")["Service"], 1);

    service.kill();
    // What needs the service and cannot wait says so, and keeps nothing half made: a contact
    // published while the service is away is not kept as published.
    let refused = fails_in(a, DEVICE_PASS, &["contact", "static"]);
    assert!(refused.contains("cannot reach"), "{refused}");
    let kept = std::fs::read_to_string(a.join("accounts/alice@example.com/contact-requests.json"))
        .unwrap_or_default();
    assert!(!kept.contains("Locator"), "{kept}");
    let out = ok_in(a, &["password", "add", "bank.example", "alice", "pw1"]);
    assert!(
        out.contains("Added bank.example") && out.contains("saved; will upload"),
        "{out}"
    );
    let added = json_in(a, &["bookmark", "add", "https://example.org/"]);
    assert_eq!(added["Uploaded"], false, "{added}");
    ok_in(a, &["ssh", "create", "desktop"]);
    ok_in(a, &["password", "delete", "bank.example"]);
    ok_in(a, &["password", "add", "shop.example", "alice", "pw2"]);
    // Kept on the device meanwhile.
    assert_eq!(
        json_in(a, &["password", "get", "shop.example"])["CatalogedCredential"]["Password"],
        "pw2"
    );

    // The service is back: the next change uploads everything waiting, in every catalog.
    service.restart();
    repoint(a, &service.url);
    let out = json_in(a, &["password", "add", "mail.example", "alice", "pw3"]);
    assert!(out.get("Uploaded").is_none(), "{out}");
    // bank.example added and deleted, shop.example, mail.example: four entries.
    assert_eq!(container_status(a, "MMM_Credential")["Service"], 4);
    assert_eq!(container_status(a, "MMM_Bookmark")["Service"], 1);
    assert_eq!(container_status(a, "MMM_Application")["Service"], 2);
    // And another device sees all of it.
    let b = tempfile::tempdir().unwrap();
    common::service::connect_by_witness(&service, a, b.path());
    ok_in(b.path(), &["account", "sync"]);
    let listed = json_in(b.path(), &["password", "list"]).to_string();
    assert!(
        listed.contains("shop.example") && listed.contains("mail.example"),
        "{listed}"
    );
    assert!(!listed.contains("bank.example"), "{listed}");
    // `device list` says which device is which, what it may do, and when it was added.
    let devices = json_in(a, &["device", "list"]);
    let rows = devices.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{devices}");
    let me = rows.iter().find(|r| r["ThisDevice"] == true).unwrap();
    let other = rows.iter().find(|r| r["ThisDevice"] == false).unwrap();
    assert_eq!(
        me["Rights"],
        serde_json::json!(["administrator"]),
        "{devices}"
    );
    assert_eq!(
        other["Rights"],
        serde_json::json!(["message", "threshold"]),
        "{devices}"
    );
    assert_eq!(
        other["Udf"],
        json_in(b.path(), &["account", "info"])["DeviceUdf"]
    );
    assert!(
        other["Added"].as_str().is_some_and(|t| t.starts_with("20")),
        "{devices}"
    );
    let text = ok_in(a, &["device", "list"]);
    assert!(
        text.contains("(this device)") && text.contains("threshold"),
        "{text}"
    );
}

/// A first command that fails leaves no device behind: the next attempt, with another
/// passphrase, is a fresh start (not "wrong passphrase").
#[test]
fn failed_first_commands_leave_nothing_behind() {
    let data = tempfile::tempdir().unwrap();
    let service = Service::start(data.path(), None);
    let garbage = data.path().join("garbage.export");
    std::fs::write(&garbage, b"not an export").unwrap();
    let attempts: Vec<Vec<&str>> = vec![
        vec!["account", "create", "alice"],
        vec!["account", "import", garbage.to_str().unwrap()],
        vec![
            "device",
            "request",
            "nobody@example.com",
            "--service",
            &service.url,
        ],
    ];
    for args in attempts {
        let fresh = tempfile::tempdir().unwrap();
        let dir = fresh.path().join("mesh");
        let out = mesh_in(&dir, "first passphrase", &args);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(
            !dir.join("device.secrets").exists() && !dir.join("device.dare").exists(),
            "{args:?} left a device behind"
        );
        let out = mesh_in(
            &dir,
            "another passphrase",
            &["account", "create", "alice@example.com"],
        );
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
