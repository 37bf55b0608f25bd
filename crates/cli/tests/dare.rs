//! `mesh dare …` on real files: the seeds' envelopes, tampering, encode/decode, EARLs and the
//! container commands.

mod common;
use common::*;

use std::path::{Path, PathBuf};

fn seed_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../dare/tests/data")
        .join(name)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn verify_seed_envelopes() {
    for name in [
        "seed000_EnvelopedProfileDevice.json",
        "seed002_EnvelopedProfileService.json",
        "seed002_EnvelopedProfileHost.json",
        "seed002_EnvelopedProfileAccount.json",
    ] {
        let out = json(&["dare", "verify", s(&seed_file(name))]);
        assert_eq!(out["Valid"], true, "{name}");
        assert_eq!(out["Signatures"][0]["Status"], "valid");
    }
    let out = ok(&[
        "dare",
        "verify",
        s(&seed_file("seed000_EnvelopedProfileDevice.json")),
    ]);
    assert!(out.contains("MDDT-KTDT-AZ62-55HV-FFVY-JYNU-Y3YE: valid"));
    for name in [
        "seed000_EnvelopedConnectionDevice.json",
        "seed000_EnvelopedConnectionService.json",
    ] {
        let err = fails(&["dare", "verify", s(&seed_file(name))]);
        assert!(
            err.contains("unknown key MDQJ-G5K2-BJ66-MPLM-FWSA-665O-MILP"),
            "{err}"
        );
    }
}

/// Change one character of the payload, the digest or the signature in the file: verify fails.
#[test]
fn verify_detects_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(seed_file("seed000_EnvelopedProfileDevice.json")).unwrap();
    let targets = [
        ("ewogICJQcm9maWxl", 40, "digest mismatch"),
        ("\"PayloadDigest\":\"", 30, "digest mismatch"),
        ("\"signature\":\"", 30, "is not valid"),
    ];
    for (marker, offset, expect) in targets {
        let at = text.find(marker).unwrap() + offset;
        let mut bytes = text.clone().into_bytes();
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        let path = dir.path().join("tampered.json");
        std::fs::write(&path, &bytes).unwrap();
        let err = fails(&["dare", "verify", s(&path)]);
        assert!(err.contains(expect), "{marker}: {err}");
    }
}

#[test]
fn encode_decode_sign_encrypt() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    generate_key("Ed448", &p("sign.key"));
    generate_key("X448", &p("enc.key"));
    generate_key("X25519", &p("other.key"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(p("sign.key"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
    }
    std::fs::write(p("msg.txt"), b"meet at noon").unwrap();
    for jsonb in [false, true] {
        let (msg, key, to, out) = (p("msg.txt"), p("sign.key"), p("enc.key.pub"), p("msg.dare"));
        let mut args = vec![
            "dare",
            "encode",
            s(&msg),
            "--sign",
            s(&key),
            "--encrypt",
            s(&to),
            "--out",
            s(&out),
        ];
        if jsonb {
            args.push("--jsonb");
        }
        let _ = std::fs::remove_file(p("msg.dare"));
        let out = json(&args);
        assert_eq!(out["SignedBy"].as_array().unwrap().len(), 1);
        let raw = std::fs::read(p("msg.dare")).unwrap();
        // The plaintext is not in the file (the whole phrase: a short word may turn up in the
        // base64 or binary of the ciphertext by chance).
        assert!(!raw.windows(12).any(|w| w == b"meet at noon"));
        assert_eq!(
            ok(&[
                "dare",
                "decode",
                s(&p("msg.dare")),
                "--key",
                s(&p("enc.key"))
            ]),
            "meet at noon"
        );
        let err = fails(&[
            "dare",
            "decode",
            s(&p("msg.dare")),
            "--key",
            s(&p("other.key")),
        ]);
        assert!(err.contains("no decryption key"), "{err}");
        let err = fails(&["dare", "verify", s(&p("msg.dare"))]);
        assert!(err.contains("unknown key"), "{err}");
        ok(&[
            "dare",
            "verify",
            s(&p("msg.dare")),
            "--key",
            s(&p("sign.key.pub")),
        ]);
    }
    // A key-derivation secret works as a key: its profile keys sign and decrypt.
    let secret = json(&["key", "secret", "--type", "MeshProfileDevice"])["Value"]
        .as_str()
        .unwrap()
        .to_string();
    ok(&[
        "dare",
        "encode",
        s(&p("msg.txt")),
        "--sign",
        &secret,
        "--encrypt",
        &secret,
        "--out",
        s(&p("z.dare")),
    ]);
    assert_eq!(
        ok(&["dare", "decode", s(&p("z.dare")), "--key", &secret]),
        "meet at noon"
    );
    ok(&["dare", "verify", s(&p("z.dare")), "--key", &secret]);
    // Bad input is an error, not a panic.
    std::fs::write(p("junk"), b"[{\"dig\":").unwrap();
    fails(&["dare", "decode", s(&p("junk"))]);
    fails(&["dare", "encode", s(&p("missing.txt"))]);
    fails(&[
        "dare",
        "encode",
        s(&p("msg.txt")),
        "--encrypt",
        s(&p("sign.key.pub")),
        "--out",
        s(&p("x.dare")),
    ]);
}

#[test]
fn earl_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("doc.txt");
    std::fs::write(&file, b"published under an EARL").unwrap();
    let out = json(&[
        "dare",
        "earl",
        s(&file),
        "--authority",
        "example.com",
        "--out",
        s(dir.path()),
    ]);
    let uri = out["Uri"].as_str().unwrap();
    assert!(uri.starts_with("udf://example.com/E"));
    let published = out["File"].as_str().unwrap();
    assert!(published.ends_with(&format!("{}.dare", out["Locator"].as_str().unwrap())));
    assert_eq!(
        ok(&["dare", "decode", published, "--key", uri]),
        "published under an EARL"
    );
    let other = json(&["key", "earl"])["Key"].as_str().unwrap().to_string();
    fails(&["dare", "decode", published, "--key", &other]);
    let err = fails(&["dare", "decode", published]);
    assert!(err.contains("symmetric key"), "{err}");
}

#[test]
fn container_commands() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    let c = p("c.dare");
    generate_key("X448", &p("enc.key"));
    std::fs::write(p("a.txt"), "first file ".repeat(300)).unwrap();
    std::fs::write(p("b.txt"), b"second file").unwrap();
    let created = json(&[
        "dare",
        "create",
        s(&c),
        "--type",
        "merkle",
        "--encrypt",
        s(&p("enc.key.pub")),
    ]);
    assert_eq!(created["ContainerType"], "Merkle");
    assert_eq!(created["Encrypted"], true);
    fails(&["dare", "create", s(&c)]);
    assert_eq!(
        json(&["dare", "append", s(&c), s(&p("a.txt")), s(&p("b.txt"))])["Appended"],
        serde_json::json!([1, 2])
    );
    assert_eq!(
        json(&["dare", "log", s(&c), "a line of log"])["Appended"],
        serde_json::json!([3])
    );
    assert_eq!(
        json(&["dare", "index", s(&c)])["Appended"],
        serde_json::json!([4])
    );
    let list = json(&["dare", "list", s(&c)]);
    assert_eq!(list["Frames"], 5);
    let entries = list["Entries"].as_array().unwrap();
    assert_eq!(entries[1]["Filename"], "a.txt");
    assert_eq!(entries[2]["Encrypted"], true);
    assert_eq!(entries[4]["Meta"], true);
    let dir_out = ok(&["dare", "dir", s(&c)]);
    assert!(dir_out.contains("b.txt") && dir_out.contains("Tree digest"));
    let proof = json(&["dare", "index", s(&c), "--proof", "2"]);
    assert_eq!(proof["Valid"], true);
    assert_eq!(proof["TreeDigest"], list["TreeDigest"]);
    let out = p("out");
    ok(&[
        "dare",
        "extract",
        s(&c),
        "--file",
        "b.txt",
        "--out",
        s(&out),
        "--key",
        s(&p("enc.key")),
    ]);
    assert_eq!(std::fs::read(out.join("b.txt")).unwrap(), b"second file");
    ok(&[
        "dare",
        "extract",
        s(&c),
        "--index",
        "3",
        "--out",
        s(&out),
        "--key",
        s(&p("enc.key")),
    ]);
    assert_eq!(
        std::fs::read(out.join("frame-3")).unwrap(),
        b"a line of log"
    );
    fails(&[
        "dare",
        "extract",
        s(&c),
        "--file",
        "b.txt",
        "--out",
        s(&p("out2")),
    ]);
    fails(&[
        "dare",
        "extract",
        s(&c),
        "--file",
        "nope.txt",
        "--out",
        s(&out),
    ]);
    assert_eq!(json(&["dare", "verify", s(&c)])["Frames"], 5);
    // One changed octet inside a payload: verify names the frame.
    let mut bytes = std::fs::read(&c).unwrap();
    // Frame 1 holds a 3300-octet ciphertext between a short header and trailer.
    let pos = (entries[1]["Position"].as_u64().unwrap() + entries[1]["Size"].as_u64().unwrap() / 2)
        as usize;
    bytes[pos] ^= 0x55;
    std::fs::write(&c, &bytes).unwrap();
    let err = fails(&["dare", "verify", s(&c)]);
    assert!(
        err.contains("frame 1: PayloadDigest does not match"),
        "{err}"
    );
}

/// Output cut short by a reader that goes away (`mesh … | head`) ends the command quietly
/// (status 141, as SIGPIPE would), not with a panic.
#[test]
fn a_closed_pipe_is_not_a_panic() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.dare");
    let mut container =
        mesh_dare::Container::create(&path, mesh_dare::ContainerType::Merkle, &[]).unwrap();
    let entries = (0..3000)
        .map(|i| {
            mesh_dare::DareEnvelope::encode(
                format!("entry {i}").as_bytes(),
                &mesh_dare::EnvelopeOptions::default(),
            )
            .unwrap()
        })
        .collect();
    container.append_envelopes(entries).unwrap();
    drop(container);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mesh"))
        .args(["dare", "list", s(&path)])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 64];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    // The reader goes away after 64 octets.
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(status.code(), Some(141), "{stderr}");
}
