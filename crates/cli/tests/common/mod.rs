//! Running the `mesh` binary as a user would, shared by the CLI test files.
#![allow(dead_code)]

pub mod service;

use std::process::{Command, Output};

pub fn mesh(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mesh"))
        .args(args)
        .output()
        .expect("mesh runs")
}

pub fn ok(args: &[&str]) -> String {
    let out = mesh(args);
    assert!(
        out.status.success(),
        "mesh {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn json(args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.push("--json");
    serde_json::from_str(&ok(&all)).expect("valid JSON output")
}

pub fn fails(args: &[&str]) -> String {
    let out = mesh(args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "mesh {args:?} should fail cleanly"
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with("error: ") && !err.contains("panicked"),
        "{err}"
    );
    err
}

/// `mesh key generate --alg ALG --out PATH` (the public key goes to PATH.pub).
pub fn generate_key(alg: &str, path: &std::path::Path) {
    ok(&[
        "key",
        "generate",
        "--alg",
        alg,
        "--out",
        path.to_str().unwrap(),
    ]);
}

/// `mesh` with a data directory and passphrase, as a user with `MESH_DATA` / `MESH_PASSPHRASE` set.
pub fn mesh_in(dir: &std::path::Path, passphrase: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mesh"))
        .args(args)
        .env("MESH_DATA", dir)
        .env("MESH_PASSPHRASE", passphrase)
        .env_remove("MESH_EXPORT_PASSPHRASE")
        .env_remove("MESH_SESSION")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("mesh runs")
}

/// The device passphrase the end-to-end tests use.
pub const DEVICE_PASS: &str = "device passphrase";

/// `mesh` on a device directory; must succeed; its standard output.
pub fn ok_in(dir: &std::path::Path, args: &[&str]) -> String {
    let out = mesh_in(dir, DEVICE_PASS, args);
    assert!(
        out.status.success(),
        "mesh {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// As [`ok_in`], with `--json`, parsed.
pub fn json_in(dir: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.push("--json");
    serde_json::from_str(&ok_in(dir, &all)).expect("JSON output")
}

/// `mesh` on a device directory; must fail cleanly (exit 1, an error line, no panic); its stderr.
pub fn fails_in(dir: &std::path::Path, pass: &str, args: &[&str]) -> String {
    let out = mesh_in(dir, pass, args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "mesh {args:?} should fail: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with("error: ") && !err.contains("panicked"),
        "{err}"
    );
    err
}

/// `mesh account escrow` on the device at `dir`: the shares, any `quorum` of `n` of which
/// recover the account.
#[allow(dead_code)]
pub fn escrow_shares(dir: &std::path::Path, quorum: &str, n: &str) -> Vec<String> {
    json_in(
        dir,
        &["account", "escrow", "--quorum", quorum, "--shares", n],
    )["Shares"]
        .as_array()
        .expect("shares")
        .iter()
        .map(|s| s.as_str().expect("a share").to_string())
        .collect()
}

/// A MessageContact from alice@example.com to `to`, as the device at `dir` makes one: signed by
/// its connection key, naming its connection, carrying the account's profile.
#[allow(dead_code)]
pub fn message_from(dir: &std::path::Path, to: &str, text: &str) -> mesh_dare::DareEnvelope {
    let device = mesh_client::MeshHome::at(dir).open(DEVICE_PASS).unwrap();
    let account = device.account(None).unwrap();
    let (signer, _, connection) =
        mesh_client::online::device_credentials(&device, &account).unwrap();
    let message = mesh_schema::message::MessageContact {
        message_id: Some(mesh_udf::random::nonce(128).to_string()),
        sender: Some(account.address.clone()),
        recipient: Some(to.into()),
        subject: Some(text.into()),
        authenticated_data: Some(account.profile_envelope().unwrap()),
        ..Default::default()
    };
    mesh_schema::signed::seal_with(
        &message.into(),
        &signer,
        None,
        &[],
        vec![mesh_schema::sender::key_value(&connection).unwrap()],
    )
    .unwrap()
}

/// A loopback port free now (for a service whose URL must be known before it starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Wait up to `seconds` for `check`; fail with `what` if it never holds.
pub fn eventually(seconds: u64, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while !check() {
        assert!(std::time::Instant::now() < deadline, "{what}");
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}

/// The password the device at `dir` holds for `site`.
pub fn password(dir: &std::path::Path, site: &str) -> String {
    json_in(dir, &["password", "get", site])["CatalogedCredential"]["Password"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}
