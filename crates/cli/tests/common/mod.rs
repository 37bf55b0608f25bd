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
