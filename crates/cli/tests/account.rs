//! The offline account, end to end through the `mesh` binary: every command a new process over
//! the same data directory, as a user would run them.

mod common;
use common::*;

use std::path::Path;

const PASS: &str = DEVICE_PASS;

/// Every file under `dir`, read whole.
fn all_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(all_files(&path));
        } else {
            out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    out
}

#[test]
fn create_use_restart_and_find_again() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path();
    let created = json_in(dir, &["account", "create", "alice@example.com"]);
    assert_eq!(created["Address"], "alice@example.com");
    assert_eq!(created["Administrator"], true);
    let account_udf = created["Udf"].as_str().unwrap().to_string();

    ok_in(
        dir,
        &[
            "password",
            "add",
            "bank.example",
            "alice",
            "pa55-w0rd-example",
        ],
    );
    ok_in(
        dir,
        &["contact", "add", "bob@example.net", "--name", "Bob Example"],
    );
    ok_in(
        dir,
        &[
            "bookmark",
            "add",
            "https://example.org/docs",
            "--title",
            "Docs",
        ],
    );
    let added = ok_in(
        dir,
        &[
            "calendar",
            "add",
            "Dentist",
            "--start",
            "2026-12-01T10:00:00Z",
        ],
    );
    assert!(added.starts_with("Added 'Dentist' (id "), "{added}");
    ok_in(dir, &["network", "add", "home-wifi", "alice", "wifi-pa55"]);
    let ssh = json_in(dir, &["ssh", "create", "laptop"]);
    assert!(ssh["PublicKey"]
        .as_str()
        .unwrap()
        .starts_with("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5"));

    // New processes find everything again.
    let list = json_in(dir, &["password", "list"]);
    assert_eq!(list[0]["CatalogedCredential"]["Service"], "bank.example");
    let got = json_in(dir, &["password", "get", "bank.example"]);
    assert_eq!(got["CatalogedCredential"]["Password"], "pa55-w0rd-example");
    assert_eq!(
        json_in(dir, &["contact", "list"])[0]["Key"],
        "bob@example.net"
    );
    assert!(ok_in(dir, &["contact", "list"]).contains("Bob Example <bob@example.net>"));
    assert_eq!(
        json_in(dir, &["bookmark", "get", "https://example.org/docs"])["CatalogedBookmark"]
            ["Title"],
        "Docs"
    );
    assert_eq!(
        json_in(dir, &["calendar", "list"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        json_in(dir, &["network", "get", "home-wifi"])["CatalogedNetwork"]["Password"],
        "wifi-pa55"
    );
    assert_eq!(
        ok_in(dir, &["ssh", "get", "laptop"]).trim(),
        ssh["PublicKey"].as_str().unwrap()
    );
    let devices = json_in(dir, &["device", "list"]);
    assert_eq!(devices.as_array().unwrap().len(), 1);
    assert_eq!(devices[0]["ThisDevice"], true, "{devices}");
    assert_eq!(devices[0]["Rights"], serde_json::json!(["administrator"]));
    let info = json_in(dir, &["account", "info"]);
    assert_eq!(info["Udf"], account_udf.as_str());
    assert_eq!(info["Devices"], 1);

    // Update and delete.
    ok_in(
        dir,
        &["password", "add", "bank.example", "alice", "changed-pa55"],
    );
    assert_eq!(
        json_in(dir, &["password", "get", "bank.example"])["CatalogedCredential"]["Password"],
        "changed-pa55"
    );
    ok_in(dir, &["bookmark", "delete", "https://example.org/docs"]);
    assert_eq!(json_in(dir, &["bookmark", "list"]), serde_json::json!([]));
    fails_in(dir, PASS, &["bookmark", "get", "https://example.org/docs"]);

    // Nothing secret on disk in the clear: no password, no key-derivation secret, no private key.
    for (path, bytes) in all_files(dir) {
        let text = String::from_utf8_lossy(&bytes);
        for needle in [
            "pa55-w0rd-example",
            "changed-pa55",
            "wifi-pa55",
            "PrivateKeyECDH",
            "bank.example",
            "home-wifi",
        ] {
            assert!(
                !text.contains(needle),
                "{path} holds '{needle}' in the clear"
            );
        }
        // A key-derivation secret as a UDF: `ZAA?-` (not any "ZAA" a base64 string may hold).
        let seed = text
            .as_bytes()
            .windows(5)
            .any(|w| w.starts_with(b"ZAA") && w[4] == b'-');
        assert!(!seed, "{path} holds a secret seed UDF in the clear");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("device.secrets"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "device.secrets is readable by others");
    }
}

#[test]
fn errors_are_clear() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path();
    let err = fails_in(dir, PASS, &["password", "list"]);
    assert!(err.contains("no device here yet"), "{err}");
    let err = fails_in(dir, PASS, &["account", "create", "not-an-address"]);
    assert!(err.contains("not an account address"), "{err}");
    ok_in(dir, &["account", "create", "alice@example.com"]);
    let err = fails_in(dir, "wrong passphrase", &["password", "list"]);
    assert!(err.contains("wrong passphrase"), "{err}");
    let err = fails_in(dir, PASS, &["account", "create", "alice@example.com"]);
    assert!(err.contains("already on this device"), "{err}");
    let err = fails_in(
        dir,
        PASS,
        &["password", "list", "--account", "carol@example.com"],
    );
    assert!(err.contains("no account carol@example.com"), "{err}");
    let err = fails_in(
        dir,
        PASS,
        &["calendar", "add", "Meeting", "--start", "tomorrow"],
    );
    assert!(err.contains("RFC 3339"), "{err}");
    // Without a passphrase and without a terminal, the command says what to set.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mesh"))
        .args(["password", "list"])
        .env("MESH_DATA", dir)
        .env_remove("MESH_PASSPHRASE")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("MESH_PASSPHRASE"));
}

#[test]
fn several_accounts_export_and_import() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    ok_in(a.path(), &["account", "create", "alice@example.com"]);
    ok_in(a.path(), &["account", "create", "alice@work.example"]);
    let listed = json_in(a.path(), &["account", "list"]);
    assert_eq!(listed["Accounts"].as_array().unwrap().len(), 2);
    assert_eq!(listed["Default"], "alice@example.com");
    ok_in(
        a.path(),
        &[
            "password",
            "add",
            "--account",
            "alice@work.example",
            "intranet",
            "alice",
            "work-pa55",
        ],
    );
    assert_eq!(
        json_in(a.path(), &["password", "list"]),
        serde_json::json!([])
    );

    let file = a.path().join("work.export");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mesh"))
        .args([
            "account",
            "export",
            file.to_str().unwrap(),
            "--account",
            "alice@work.example",
        ])
        .env("MESH_DATA", a.path())
        .env("MESH_PASSPHRASE", PASS)
        .env("MESH_EXPORT_PASSPHRASE", "export secret")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&std::fs::read(&file).unwrap()).contains("work-pa55"));

    let import = |pass: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_mesh"))
            .args(["account", "import", file.to_str().unwrap(), "--json"])
            .env("MESH_DATA", b.path())
            .env("MESH_PASSPHRASE", "device b passphrase")
            .env("MESH_EXPORT_PASSPHRASE", pass)
            .output()
            .unwrap()
    };
    let bad = import("not the export secret");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("wrong passphrase"));
    let good = import("export secret");
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    let imported: serde_json::Value = serde_json::from_slice(&good.stdout).unwrap();
    assert_eq!(imported["Address"], "alice@work.example");
    let got = mesh_in(
        b.path(),
        "device b passphrase",
        &["password", "get", "intranet", "--json"],
    );
    let got: serde_json::Value = serde_json::from_slice(&got.stdout).unwrap();
    assert_eq!(got["CatalogedCredential"]["Password"], "work-pa55");
}
