//! Escrow and recovery of an account, end to end: the administrator splits the account's
//! secret; a new device recovers the account from a quorum of the shares and joins the service
//! the account is bound to; shares that do not give the account leave nothing behind.

mod common;
use common::service::{alice_with_a_password, connect_by_witness, Service};
use common::*;

#[test]
fn recover_an_account_from_escrow_shares() {
    let data = tempfile::tempdir().unwrap();
    let service = Service::start(data.path(), None);
    let (a, d, e) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let (a, d, e) = (a.path(), d.path(), e.path());
    alice_with_a_password(&service, a);
    let escrowed = json_in(a, &["account", "escrow", "--quorum", "2", "--shares", "3"]);
    let alice: Vec<String> = escrowed["Shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    // It says what recovery needs beside the shares: the service, with its pin.
    let pin = service.url.split_once("#pin=").unwrap().1;
    assert!(
        escrowed["Service"]
            .as_str()
            .is_some_and(|u| u.ends_with(pin)),
        "{escrowed}"
    );
    assert_eq!(alice.len(), 3);

    // Two of the three recover it; the device is an administrator and reads everything.
    let recovered = json_in(
        d,
        &[
            "account",
            "recover",
            "alice@example.com",
            &alice[0],
            &alice[2],
            "--service",
            &service.url,
        ],
    );
    assert_eq!(recovered["Administrator"], true);
    assert_eq!(recovered["Udf"], json_in(a, &["account", "info"])["Udf"]);
    assert_eq!(
        json_in(d, &["password", "get", "bank.example"])["CatalogedCredential"]["Password"],
        "pw1"
    );
    // It writes, and the first device (still an administrator: the recovery removed no one)
    // takes the new keys at its next sync and sees it.
    ok_in(d, &["password", "add", "shop.example", "alice", "pw2"]);
    ok_in(a, &["account", "sync"]);
    assert_eq!(
        json_in(a, &["password", "get", "shop.example"])["CatalogedCredential"]["Password"],
        "pw2"
    );

    // Shares of two escrows do not mix; one share is not enough; and another account's
    // secret is refused by the service. Nothing of a failed attempt is kept.
    let other = tempfile::tempdir().unwrap();
    ok_in(other.path(), &["account", "create", "bob@example.com"]);
    let bob = escrow_shares(other.path(), "2", "2");
    let recover = |shares: &[&String]| {
        let mut args = vec!["account", "recover", "alice@example.com"];
        args.extend(shares.iter().map(|s| s.as_str()));
        args.extend(["--service", service.url.as_str()]);
        fails_in(e, DEVICE_PASS, &args)
    };
    let mixed = recover(&[&alice[1], &bob[0]]);
    assert!(
        mixed.contains("do not recover this account's root"),
        "{mixed}"
    );
    let short = recover(&[&alice[1]]);
    assert!(!short.contains("panicked"), "{short}");
    let foreign = recover(&[&bob[0], &bob[1]]);
    assert!(
        foreign.contains("nothing of the attempt was kept"),
        "{foreign}"
    );
    // The device was made for the attempt: it goes with it.
    assert!(!e.join("device.secrets").exists());
    assert!(!e.join("accounts/alice@example.com").exists());

    // Only the device holding the root makes shares: not a device without administrator
    // rights, and not the first device, whose root went into the shares.
    let b = tempfile::tempdir().unwrap();
    connect_by_witness(&service, a, b.path());
    let refused = fails_in(b.path(), DEVICE_PASS, &["account", "escrow"]);
    assert!(refused.contains("does not hold the root"), "{refused}");
    let refused = fails_in(a, DEVICE_PASS, &["account", "escrow"]);
    assert!(refused.contains("does not hold the root"), "{refused}");
}
