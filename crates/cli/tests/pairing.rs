//! Pairing code (seed 003) end to end: an administrator process shows codes, a new device joins
//! with one; a wrong code, a tampered finish message and a man in the middle on the channel each
//! fail with a clear error and add no device.

mod common;
use common::service::Service;
use common::*;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// `mesh device add --code` in the background; the first code it shows.
fn show_codes(dir: &Path, timeout: &str) -> (Child, String, BufReader<std::process::ChildStdout>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mesh"))
        .args(["device", "add", "--code", "--timeout", timeout, "--json"])
        .env("MESH_DATA", dir)
        .env("MESH_PASSPHRASE", DEVICE_PASS)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let code = serde_json::from_str::<serde_json::Value>(&line)
        .unwrap_or_else(|_| panic!("add said: {line}"))["Code"]
        .as_str()
        .unwrap()
        .to_string();
    (child, code, out)
}

fn admin(service: &Service) -> tempfile::TempDir {
    let a = tempfile::tempdir().unwrap();
    ok_in(a.path(), &["account", "create", "alice@example.com"]);
    ok_in(a.path(), &["account", "bind", "--service", &service.url]);
    ok_in(
        a.path(),
        &["password", "add", "shared.example", "alice", "pw"],
    );
    a
}

fn device_count(a: &Path) -> usize {
    ok_in(a, &["account", "sync"]);
    json_in(a, &["device", "list"]).as_array().unwrap().len()
}

#[test]
fn pairing_code_joins_a_device() {
    let data = tempfile::tempdir().unwrap();
    let service = Service::start(data.path(), None);
    let a = admin(&service);
    let b = tempfile::tempdir().unwrap();
    let (mut child, code, _out) = show_codes(a.path(), "60");
    assert!(code.chars().all(|c| c.is_ascii_digit() || c == '-'));
    // Typed with spaces instead of dashes.
    let joined = json_in(
        b.path(),
        &[
            "device",
            "join",
            "alice@example.com",
            &code.replace('-', " "),
            "--service",
            &service.url,
        ],
    );
    assert_eq!(joined["Account"], "alice@example.com");
    assert!(child.wait().unwrap().success());
    assert_eq!(device_count(a.path()), 2);
    assert_eq!(
        json_in(b.path(), &["password", "get", "shared.example"])["CatalogedCredential"]
            ["Password"],
        "pw"
    );
    ok_in(
        a.path(),
        &["password", "add", "later.example", "alice", "pw2"],
    );
    ok_in(b.path(), &["account", "sync"]);
    assert_eq!(
        json_in(b.path(), &["password", "get", "later.example"])["CatalogedCredential"]["Password"],
        "pw2"
    );
}

#[test]
fn wrong_code_fails_and_adds_nothing() {
    let data = tempfile::tempdir().unwrap();
    let service = Service::start(data.path(), None);
    let a = admin(&service);
    let b = tempfile::tempdir().unwrap();
    let (mut child, code, _out) = show_codes(a.path(), "20");
    let (channel, token, _) = mesh_client::pairing::decode_code(&code).unwrap();
    let wrong = mesh_client::pairing::encode_code(channel, token ^ 1).unwrap();
    let err = fails_in(
        b.path(),
        DEVICE_PASS,
        &[
            "device",
            "join",
            "alice@example.com",
            &wrong.to_string(),
            "--service",
            &service.url,
        ],
    );
    assert!(err.contains("wrong code"), "{err}");
    let _ = child.kill();
    assert_eq!(device_count(a.path()), 1);
    // Nonsense codes are refused before anything is sent.
    let err = fails_in(
        b.path(),
        DEVICE_PASS,
        &[
            "device",
            "join",
            "alice@example.com",
            "12-34",
            "--service",
            &service.url,
        ],
    );
    assert!(err.contains("not a pairing code"), "{err}");
}

/// Someone on the channel: posts their own SPAKE2 message before the real device, or changes
/// the finish message. The real device's join fails; no device is added.
#[test]
fn man_in_the_middle_and_tampering_fail() {
    use mesh_client::online::{channel_poll, channel_post, hello};
    let data = tempfile::tempdir().unwrap();
    let service = Service::start(data.path(), None);
    let info = hello(&service.url, Some(&service.url)).unwrap();
    // The attacker here holds the code's token (they saw the code): the channel's key.
    // (The key made once per channel: it is meant to be slow to make.)
    let post = |(id, key): (u64, &Vec<u8>), body: serde_json::Value| {
        channel_post(
            &info.url,
            &info.signature,
            &info.encryption,
            (id, key),
            serde_json::to_vec(&body).unwrap(),
        )
        .unwrap()
    };
    let poll = |(id, key): (u64, &Vec<u8>)| {
        channel_poll(&info.url, &info.signature, &info.encryption, (id, key))
            .unwrap()
            .map(|b| serde_json::from_slice::<serde_json::Value>(&b).unwrap())
    };
    let a = admin(&service);

    // 1. An attacker who saw the channel id but guesses the code answers first.
    let (mut child, code, _out) = show_codes(a.path(), "20");
    let (id, token, _) = mesh_client::pairing::decode_code(&code).unwrap();
    let key = mesh_protocol::messages::channel_key(token, "alice@example.com");
    let channel = (id, &key);
    while poll(channel)
        .map(|b| b["type"] != "v1.provision_helo")
        .unwrap_or(true)
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (_, msg) = spake2::Spake2::<spake2::Ed25519Group>::start_symmetric(
        &spake2::Password::new(b"123456789"),
        &spake2::Identity::new(b"alice@example.com"),
    );
    post(
        channel,
        serde_json::json!({"type": "v1.provision_ehlo", "spake_msg": mesh_encoding::base64url::encode(&msg)}),
    );
    // The administrator finishes with the attacker; the finish is useless to them.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while poll(channel)
        .map(|b| b["type"] != "v1.provision_finish")
        .unwrap_or(true)
    {
        assert!(std::time::Instant::now() < deadline, "no finish message");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let b = tempfile::tempdir().unwrap();
    let err = fails_in(
        b.path(),
        DEVICE_PASS,
        &[
            "device",
            "join",
            "alice@example.com",
            &code,
            "--service",
            &service.url,
        ],
    );
    assert!(
        err.contains("someone else") || err.contains("not showing this code"),
        "{err}"
    );
    let _ = child.wait();
    // The administrator reports the failure, and the share it granted for it is withdrawn.
    ok_in(a.path(), &["account", "sync"]);
    let admin_device = mesh_client::MeshHome::at(a.path())
        .open(DEVICE_PASS)
        .unwrap();
    let grants = admin_device
        .account(None)
        .unwrap()
        .list(mesh_client::CatalogKind::Access)
        .unwrap()
        .len();
    assert_eq!(grants, 0, "a capability of the failed pairing is left");

    // 2. The finish message changed in transit.
    let (child, code, _out) = show_codes(a.path(), "20");
    let (id, token, _) = mesh_client::pairing::decode_code(&code).unwrap();
    let key = mesh_protocol::messages::channel_key(token, "alice@example.com");
    let channel = (id, &key);
    let code_for_b = code.clone();
    let url = service.url.clone();
    let c = tempfile::tempdir().unwrap();
    let c_path = c.path().to_path_buf();
    let joiner = std::thread::spawn(move || {
        mesh_in(
            &c_path,
            DEVICE_PASS,
            &[
                "device",
                "join",
                "alice@example.com",
                &code_for_b,
                "--service",
                &url,
            ],
        )
    });
    // Wait for the finish, then replace it with a tampered copy before the device reads it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        if let Some(blob) = poll(channel) {
            if blob["type"] == "v1.provision_finish" {
                let mut ct =
                    mesh_encoding::base64url::decode(blob["ciphertext"].as_str().unwrap()).unwrap();
                ct[10] ^= 0x01;
                post(
                    channel,
                    serde_json::json!({"type": "v1.provision_finish", "nonce": blob["nonce"], "ciphertext": mesh_encoding::base64url::encode(&ct)}),
                );
                break;
            }
        }
        assert!(std::time::Instant::now() < deadline, "no finish message");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = joiner.join().unwrap();
    let _ = child;
    if out.status.success() {
        // The device read the finish before it was replaced: that race is legitimate; the
        // tampered copy went unread. The pairing then succeeded honestly.
        assert_eq!(device_count(a.path()), 2);
    } else {
        // The device saw the tampered finish; or it read the real one first, and the
        // administrator, seeing the tampered one, withdrew what it had granted.
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("tampered") || err.contains("not in the account's device catalog"),
            "{err}"
        );
        assert_eq!(device_count(a.path()), 1);
    }
}

/// A channel cannot be found by trying ids: without the key the code's token gives, every
/// post and poll is answered as if there were no channel — the real channel's id included —
/// and the pairing it is used for goes through undisturbed.
#[test]
fn channels_cannot_be_found_by_trying_ids() {
    use mesh_client::online::{channel_poll, channel_post, hello};
    let data = tempfile::tempdir().unwrap();
    let service = Service::start(data.path(), None);
    let info = hello(&service.url, Some(&service.url)).unwrap();
    let a = admin(&service);
    let (mut child, code, _out) = show_codes(a.path(), "30");
    let (real, token, _) = mesh_client::pairing::decode_code(&code).unwrap();
    let wrong = mesh_protocol::messages::channel_key(token ^ 1, "alice@example.com");
    for id in (0..200).chain([real]) {
        let polled = channel_poll(&info.url, &info.signature, &info.encryption, (id, &wrong));
        let error = polled.unwrap_err().to_string();
        assert!(
            error.contains("404") && error.contains("no open channel"),
            "{error}"
        );
        let posted = channel_post(
            &info.url,
            &info.signature,
            &info.encryption,
            (id, &wrong),
            br#"{"type":"v1.provision_ehlo"}"#.to_vec(),
        );
        assert!(posted.unwrap_err().to_string().contains("no open channel"));
    }
    let b = tempfile::tempdir().unwrap();
    ok_in(
        b.path(),
        &[
            "device",
            "join",
            "alice@example.com",
            &code,
            "--service",
            &service.url,
        ],
    );
    assert!(child.wait().unwrap().success());
    assert_eq!(device_count(a.path()), 2);
}

/// An unused code gives way to a new channel and token after 15 seconds; the new one works.
#[test]
fn codes_rotate_until_used() {
    let data = tempfile::tempdir().unwrap();
    let service = Service::start(data.path(), None);
    let a = admin(&service);
    let b = tempfile::tempdir().unwrap();
    let (mut child, first, mut out) = show_codes(a.path(), "60");
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let second = serde_json::from_str::<serde_json::Value>(&line).unwrap()["Code"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(first, second);
    let joined = json_in(
        b.path(),
        &[
            "device",
            "join",
            "alice@example.com",
            &second,
            "--service",
            &service.url,
        ],
    );
    assert_eq!(joined["Account"], "alice@example.com");
    assert!(child.wait().unwrap().success());
    assert_eq!(device_count(a.path()), 2);
}
