//! Two devices changing the same entry (issue: no silent lost update): the device that syncs
//! second is not allowed to overwrite the other's change unseen. Its version is kept aside and
//! the user told; `mesh account conflicts` shows both, `mesh account resolve` keeps one, and
//! whichever is kept reaches every device.

mod common;
use common::service::{alice_with_a_password, connect_by_witness, repoint, Service};
use common::*;

#[test]
fn an_entry_changed_on_two_devices_keeps_both_until_the_user_chooses() {
    let data = tempfile::tempdir().unwrap();
    let mut service = Service::start(data.path(), None);
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (a.path(), b.path());
    alice_with_a_password(&service, a);
    connect_by_witness(&service, a, b);
    ok_in(a, &["password", "add", "shop.example", "alice", "shop1"]);
    ok_in(b, &["account", "sync"]);

    // A changes bank.example and deletes shop.example while the service is away; B changes
    // both meanwhile, online.
    service.kill();
    ok_in(a, &["password", "add", "bank.example", "alice", "from-a"]);
    ok_in(a, &["password", "delete", "shop.example"]);
    service.restart();
    repoint(a, &service.url);
    repoint(b, &service.url);
    ok_in(b, &["password", "add", "bank.example", "alice", "from-b"]);
    ok_in(b, &["password", "add", "shop.example", "alice", "shop-b"]);

    // A's next change finds the catalog moved on: A is told, and nothing of either is lost.
    let out = mesh_in(
        a,
        DEVICE_PASS,
        &["password", "add", "mail.example", "alice", "m"],
    );
    assert!(out.status.success());
    let warned = String::from_utf8_lossy(&out.stderr);
    assert!(
        warned.contains("2 entries were changed here and on another device"),
        "{warned}"
    );
    // Until the user chooses, the catalog has the version the service took first.
    assert_eq!(password(a, "bank.example"), "from-b");
    assert_eq!(password(a, "shop.example"), "shop-b");
    let conflicts = json_in(a, &["account", "conflicts"]);
    let rows = conflicts.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{conflicts}");
    let bank = rows
        .iter()
        .find(|r| r["Theirs"]["CatalogedCredential"]["Service"] == "bank.example")
        .unwrap();
    assert_eq!(bank["Mine"]["CatalogedCredential"]["Password"], "from-a");
    assert_eq!(bank["Theirs"]["CatalogedCredential"]["Password"], "from-b");
    let shop = rows
        .iter()
        .find(|r| r["Theirs"]["CatalogedCredential"]["Service"] == "shop.example")
        .unwrap();
    assert!(
        shop["Mine"].is_null(),
        "A's version is the deletion: {shop}"
    );
    let human = ok_in(a, &["account", "conflicts"]);
    assert!(
        human.contains("(deleted)") && human.contains("mine:   bank.example"),
        "{human}"
    );
    // The mail entry, which nobody else changed, went up as usual.
    ok_in(b, &["account", "sync"]);
    assert_eq!(password(b, "mail.example"), "m");

    // Keep A's password for the bank, and B's shop entry (A's deletion dropped). B changes
    // the bank entry again first: keeping A's over a version nobody looked at takes --force.
    let id = |row: &serde_json::Value| row["UniqueId"].as_str().unwrap().to_string();
    assert_eq!(bank["ChangedSince"], false);
    ok_in(b, &["password", "add", "bank.example", "alice", "from-b2"]);
    ok_in(a, &["account", "sync"]);
    let again = json_in(a, &["account", "conflicts"]);
    let bank_again = again
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["UniqueId"] == bank["UniqueId"])
        .unwrap();
    assert_eq!(bank_again["ChangedSince"], true, "{again}");
    assert_eq!(
        bank_again["Theirs"]["CatalogedCredential"]["Password"],
        "from-b2"
    );
    let refused = fails_in(
        a,
        DEVICE_PASS,
        &["account", "resolve", &id(bank), "--keep", "mine"],
    );
    assert!(refused.contains("changed since"), "{refused}");
    let resolved = json_in(
        a,
        &["account", "resolve", &id(bank), "--keep", "mine", "--force"],
    );
    assert_eq!(resolved["Kept"], "mine", "{resolved}");
    json_in(a, &["account", "resolve", &id(shop), "--keep", "theirs"]);
    assert_eq!(json_in(a, &["account", "conflicts"]), serde_json::json!([]));
    let refused = fails_in(
        a,
        DEVICE_PASS,
        &["account", "resolve", &id(shop), "--keep", "mine"],
    );
    assert!(refused.contains("no conflict"), "{refused}");
    assert_eq!(password(a, "bank.example"), "from-a");
    ok_in(b, &["account", "sync"]);
    assert_eq!(password(b, "bank.example"), "from-a");
    assert_eq!(password(b, "shop.example"), "shop-b");
    assert_eq!(password(a, "shop.example"), "shop-b");
}
