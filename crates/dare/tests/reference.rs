//! The reference implementation's own encrypted data (`../shared/reference/examples`), decrypted
//! with the keys its examples publish: the envelope of `ProtocolDownload.md`, whose recipient's
//! private key is in `SchemaAliceActivationDevice3.md`. Every value is read from the files.

use std::path::PathBuf;

use mesh_dare::{DareEnvelope, KeyParameters, KeyRing};

fn examples() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/examples");
    assert!(
        dir.is_dir(),
        "the reference examples are expected at {}",
        dir.display()
    );
    dir
}

/// The JSON blocks of an example file (between `~~~~` fences), unfolded: a string broken at
/// column 63 continues on the next line after two spaces, and a few long strings are broken by a
/// bare newline.
fn blocks(name: &str) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(examples().join(name)).unwrap();
    let mut out = Vec::new();
    for (i, block) in text.split("~~~~").enumerate() {
        if i % 2 == 0 || !block.trim_start().starts_with('{') {
            continue;
        }
        let mut json = String::new();
        let mut in_string = false;
        for line in block.lines() {
            let line = if in_string {
                line.strip_prefix("  ").unwrap_or(line)
            } else {
                line
            };
            let mut escaped = false;
            for c in line.chars() {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    in_string = !in_string;
                }
            }
            json.push_str(line);
            if !in_string {
                json.push('\n');
            }
        }
        out.push(serde_json::from_str(&json).unwrap_or_else(|e| panic!("{name}: {e}")));
    }
    out
}

/// Every object under `value` (depth first) that has the member `key`.
fn find<'v>(value: &'v serde_json::Value, key: &str, out: &mut Vec<&'v serde_json::Value>) {
    match value {
        serde_json::Value::Object(map) => {
            if map.contains_key(key) {
                out.push(value);
            }
            map.values().for_each(|v| find(v, key, out));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| find(v, key, out)),
        _ => {}
    }
}

#[test]
fn the_reference_download_decrypts_with_its_published_key() {
    let response = blocks("ProtocolDownload.md")
        .into_iter()
        .find(|b| b.get("DownloadResponse").is_some())
        .expect("a DownloadResponse");
    let envelope_json = &response["DownloadResponse"]["Updates"][0]["Envelopes"][0];
    let envelope = DareEnvelope::parse(envelope_json.to_string().as_bytes()).unwrap();
    let kid = envelope.header.recipients[0]
        .key_identifier
        .clone()
        .expect("a recipient key identifier");
    // The recipient's private key, as the activation example publishes it.
    let activations = blocks("SchemaAliceActivationDevice3.md");
    let mut keys = Vec::new();
    for block in &activations {
        find(block, "PrivateParameters", &mut keys);
    }
    let key = keys
        .iter()
        .find(|k| k["Udf"] == kid.as_str())
        .unwrap_or_else(|| panic!("no private key {kid} in the activation example"));
    let private: KeyParameters = serde_json::from_value(key["PrivateParameters"].clone()).unwrap();
    let mut ring = KeyRing::new();
    ring.add_private(private.private_key().unwrap());
    // The reference writes no payload MAC: published data, read without integrity.
    let seed = envelope.base_seed(&ring).unwrap();
    let plaintext = envelope.decrypt_unauthenticated(&seed).unwrap();
    let item: serde_json::Value = serde_json::from_slice(&plaintext).unwrap();
    assert!(
        item.get("CatalogedCredential").is_some(),
        "{}",
        String::from_utf8_lossy(&plaintext)
    );
    // The unwrap works only with the reference's key derivation (empty info), not with the
    // seeds' "master": both are read.
    let agreement = private
        .private_key()
        .unwrap()
        .agree(&mesh_dare::crypt::recipient_ephemeral(&envelope.header.recipients[0]).unwrap())
        .unwrap();
    let wrapped = envelope.header.recipients[0]
        .wrapped_base_seed
        .clone()
        .unwrap();
    assert!(mesh_dare::crypt::unwrap(&mesh_dare::crypt::master_key(&agreement), &wrapped).is_err());
    assert!(mesh_dare::crypt::unwrap(
        &mesh_dare::crypt::reference_master_key(&agreement),
        &wrapped
    )
    .is_ok());
}
