//! The `mesh` binary run as a user would: real processes, real files, text and `--json` output.

mod common;
use common::*;

const DEVICE_SECRET: &str = "ZAAQ-APQL-QS4L-SY3L-RER2-TYEA-V4EF-Q3OB-6N2F-DKDP-UJQ6-KXUN-LI2H-7RXH";

#[test]
fn key_derive_prints_seed_000_profile_device() {
    let out = json(&[
        "key",
        "derive",
        DEVICE_SECRET,
        "--type",
        "MeshProfileDevice",
    ]);
    assert_eq!(out["KeyType"], "MeshProfileDevice");
    let keys = out["Keys"].as_array().unwrap();
    let udfs: Vec<&str> = keys.iter().map(|k| k["Udf"].as_str().unwrap()).collect();
    assert_eq!(
        udfs,
        [
            "MDDT-KTDT-AZ62-55HV-FFVY-JYNU-Y3YE",
            "MABC-LGY5-BU2O-SAZN-DJ2E-S3CB-BG65",
            "MDZT-DAE4-6NBP-BRCO-S5TL-5CQ6-SCY3",
            "MBMC-Q7HW-5INK-QSZO-PKDQ-KMZ5-AOMF"
        ]
    );
    assert_eq!(keys[0]["KeyUse"], "ProfileSignature");
    assert_eq!(keys[0]["Curve"], "Ed448");
    assert_eq!(keys[1]["Curve"], "X448");
    assert!(keys[0]["Public"]
        .as_str()
        .unwrap()
        .starts_with("qtL8BaSwQJm6MvlMAQv4"));
    let text = ok(&["key", "derive", DEVICE_SECRET]);
    assert!(text.contains("UDF:    MDDT-KTDT-AZ62-55HV-FFVY-JYNU-Y3YE"));
}

#[test]
fn key_derive_errors() {
    let err = fails(&[
        "key",
        "derive",
        DEVICE_SECRET,
        "--type",
        "MeshProfileAccount",
    ]);
    assert!(err.contains("not MeshProfileAccount"), "{err}");
    assert!(fails(&["key", "derive", "ZAAQ-APQL-Q1"]).contains("invalid character '1'"));
    assert!(
        fails(&["key", "derive", "MDDT-KTDT-AZ62-55HV-FFVY-JYNU-Y3YE"]).contains("secret seed")
    );
    assert!(
        fails(&["key", "derive", DEVICE_SECRET, "--type", "Nonsense"]).contains("unknown key type")
    );
}

#[test]
fn hash_commands_reproduce_udf13_examples() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.txt");
    std::fs::write(&data, "UDF Data Value").unwrap();
    let file = data.to_str().unwrap();
    assert_eq!(
        ok(&["hash", "udf", file, "--cty", "text/plain"]).trim(),
        "MDDK-7N6A-727A-JZNO-STRX-XKS7-DJAF"
    );
    assert_eq!(
        ok(&["hash", "udf", file, "--cty", "text/plain", "--alg", "sha3"]).trim(),
        "KCFI-NCQG-DRKG-47R7-OVPT-TCHZ-7UXY"
    );
    let wide = json(&["hash", "udf", file, "--cty", "text/plain", "--bits", "200"]);
    assert!(wide["Udf"]
        .as_str()
        .unwrap()
        .starts_with("MDDK-7N6A-727A-JZNO-STRX-XKS7-DJAF"));
    assert_eq!(wide["Bits"], 200);
    let digest = ok(&["hash", "digest", file]);
    assert!(digest.starts_with("48da47ccabfea45c"), "{digest}");

    let konrad = dir.path().join("konrad.txt");
    std::fs::write(&konrad, "Konrad is the traitor").unwrap();
    let mac = json(&[
        "hash",
        "mac",
        konrad.to_str().unwrap(),
        "--key",
        "NDD7-6CMX-H2FW-ISAL-K4VB-DQ3E-PEDM",
        "--cty",
        "text/plain",
    ]);
    assert_eq!(mac["Udf"], "ABGM-G76T-7GPF-FTYH-SB2F-HBDF-SW6B");
    // Without a key, a fresh one is made and shown.
    let fresh = json(&["hash", "mac", konrad.to_str().unwrap()]);
    assert!(fresh["Key"].as_str().unwrap().starts_with('N'));
}

#[test]
fn hash_errors() {
    assert!(fails(&["hash", "udf", "/nonexistent/file"]).contains("cannot open"));
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    std::fs::write(&f, "x").unwrap();
    assert!(fails(&["hash", "udf", f.to_str().unwrap(), "--bits", "130"]).contains("precision"));
}

#[test]
fn nonce_secret_and_seed() {
    let n = json(&["key", "nonce"]);
    assert!(n["Value"].as_str().unwrap().starts_with('N'));
    assert_ne!(json(&["key", "nonce"])["Value"], n["Value"]);
    assert!(ok(&["key", "secret"]).starts_with('E'));
    let seed = json(&[
        "key",
        "secret",
        "--type",
        "MeshProfileDevice",
        "--bits",
        "256",
    ]);
    let seed_text = seed["Value"].as_str().unwrap();
    assert!(seed_text.starts_with("ZAAQ"));
    // A fresh seed derives a full device profile.
    assert_eq!(
        json(&["key", "derive", seed_text])["Keys"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
}

#[test]
fn earl_locator_is_consistent() {
    let e = json(&["key", "earl", "alice@example.com"]);
    let uri = e["Uri"].as_str().unwrap();
    assert!(uri.starts_with("mcu://alice@example.com/E"));
    assert!(e["Locator"].as_str().unwrap().starts_with('M'));
    assert_eq!(e["Locator"].as_str().unwrap().len(), 56 + 13);
    assert!(ok(&["key", "earl", "example.com"]).starts_with("udf://example.com/E"));
    fails(&["key", "earl", "not a domain"]);
}

#[test]
fn share_and_recover_round_trip() {
    let secret = "EADA-YKC5-WSUK-AACN-WRRO-MJOQ-PVSK-SM";
    let out = json(&["key", "share", secret, "--quorum", "3", "--shares", "5"]);
    let shares: Vec<String> = out["Shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    assert_eq!(shares.len(), 5);
    let original = mesh_udf_body(secret);
    for pick in [[0, 1, 2], [4, 2, 0], [1, 3, 4]] {
        let args: Vec<&str> = ["key", "recover"]
            .into_iter()
            .chain(pick.iter().map(|&i| shares[i].as_str()))
            .collect();
        let recovered = ok(&args);
        assert_eq!(mesh_udf_body(recovered.trim()), original);
    }
    let err = fails(&["key", "recover", &shares[0], &shares[1]]);
    assert!(err.contains("quorum is 3"), "{err}");
    fails(&["key", "share", secret, "--quorum", "4", "--shares", "3"]);
    fails(&[
        "key",
        "recover",
        "SAYC-UW4N-56UI-VTTZ-62UN-J6FP-ETD3-O",
        "MDDK-7N6A-727A-JZNO-STRX-XKS7-DJAF",
    ]);

    // A device seed shared and recovered as a seed derives the same keys.
    let seed_shares = json(&[
        "key",
        "share",
        DEVICE_SECRET,
        "--quorum",
        "2",
        "--shares",
        "3",
    ]);
    let s = seed_shares["Shares"].as_array().unwrap();
    let back = ok(&[
        "key",
        "recover",
        "--seed",
        s[2].as_str().unwrap(),
        s[0].as_str().unwrap(),
    ]);
    assert_eq!(back.trim(), DEVICE_SECRET);
}

/// The octets after the type of a UDF, through the public parser.
fn mesh_udf_body(text: &str) -> Vec<u8> {
    mesh_udf::Udf::parse(text).unwrap().body().to_vec()
}
