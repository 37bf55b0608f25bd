//! Interoperability with the published data: the keys of seeds 000 and 002, and the device
//! profile that the reference implementation derived from seed 000's secret.

use base64::Engine;
use mesh_crypto::{fingerprint, profile_keys, Algorithm, PublicKey, SecretSeed};

fn b64url(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim())
        .unwrap()
}

fn seed_keys() -> Vec<(String, String, Algorithm, Vec<u8>)> {
    include_str!("data/seed_public_keys.tsv")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (
                f[0].into(),
                f[1].into(),
                Algorithm::from_curve(f[2]).unwrap(),
                b64url(f[3]),
            )
        })
        .collect()
}

#[test]
fn every_published_key_fingerprint_matches() {
    let keys = seed_keys();
    assert_eq!(keys.len(), 24);
    assert_eq!(keys.iter().filter(|k| k.0 == "000").count(), 4);
    for (seed, udf, alg, public) in &keys {
        assert_eq!(public.len(), 57, "{seed} {udf}");
        // Each key is a valid point in the Mesh encoding (X448: u and the parity of v).
        let key = PublicKey::new(*alg, public.clone()).unwrap_or_else(|e| panic!("{udf}: {e}"));
        assert_eq!(&key.udf(), udf, "seed {seed} {} key", alg.curve());
    }
}

#[test]
fn fingerprint_content_type_is_pkixkey_not_the_draft_name() {
    let (_, udf, alg, public) = &seed_keys()[0];
    let spki = fingerprint::subject_public_key_info(*alg, public);
    assert_eq!(hex::encode(&spki[..16]), "3047300706032b65710500033c000439");
    let draft = mesh_udf::ContentDigest::of_data(
        mesh_udf::DigestAlgorithm::Sha2_512,
        "application/pkix-keyinfo",
        &spki,
    );
    assert_ne!(&draft.to_udf_string(), udf);
}

const DEVICE_SECRET: &str = "ZAAQ-APQL-QS4L-SY3L-RER2-TYEA-V4EF-Q3OB-6N2F-DKDP-UJQ6-KXUN-LI2H-7RXH";

#[test]
fn seed_000_device_profile_derives_exactly() {
    let seed = SecretSeed::parse(DEVICE_SECRET).unwrap();
    assert_eq!(seed.specifier().key_type, 256);
    let keys = profile_keys(&seed).unwrap();
    let published = seed_keys();
    let expect = [
        (
            "ProfileSignature",
            "BaseDeviceProfile",
            "MDDT-KTDT-AZ62-55HV-FFVY-JYNU-Y3YE",
        ),
        (
            "Encryption",
            "BaseDeviceEncrypt",
            "MABC-LGY5-BU2O-SAZN-DJ2E-S3CB-BG65",
        ),
        (
            "Signature",
            "BaseDeviceSign",
            "MDZT-DAE4-6NBP-BRCO-S5TL-5CQ6-SCY3",
        ),
        (
            "Authentication",
            "BaseDeviceAuthenticate",
            "MBMC-Q7HW-5INK-QSZO-PKDQ-KMZ5-AOMF",
        ),
    ];
    assert_eq!(keys.len(), expect.len());
    for (key, (role, name, udf)) in keys.iter().zip(expect) {
        assert_eq!(key.role, role);
        assert_eq!(key.key_name, name);
        let public = key.key.public_key();
        assert_eq!(public.udf(), udf, "{role}");
        let (_, _, _, bytes) = published.iter().find(|k| k.1 == udf).unwrap();
        assert_eq!(public.as_bytes(), &bytes[..], "{role} public key octets");
    }
}

#[test]
fn seed_000_profile_signature_is_reproduced_byte_for_byte() {
    // PayloadDigest and signature of seed 000's EnvelopedProfileDevice.
    let digest = hex::decode("3d192f7d0f1d8e937f677b58fe9f2a3d1478ad3cbf6451055bf580a81710d96a5f7e73597ff74f54ab56d575bd2291a3c58836874cc1fa14959c259589252211").unwrap();
    let published = hex::decode("5450fef5ff005c7766dfc1d1ef2ec92ac3d2b46351bbbc16e525ec26073595b472cd0d175720f236da91e5e97d4c212e24a0b4bd4e25ab840041fcc995469afaf88cef185372f261559fd81a26045b0ab735bd7eb28aed0cd51d8bb146986f42e4d87e12b5b1cb6a0a907f0d86dd7d2c3400").unwrap();
    let seed = SecretSeed::parse(DEVICE_SECRET).unwrap();
    let profile = &profile_keys(&seed).unwrap()[0].key;
    assert_eq!(profile.sign(&digest).unwrap(), published);
    profile.public_key().verify(&digest, &published).unwrap();
    let mut flipped = published.clone();
    flipped[10] ^= 1;
    assert!(profile.public_key().verify(&digest, &flipped).is_err());
}

// udf-13 §4.4.1 – §4.4.3: the draft's examples used salt = specifier and an empty info.
#[test]
fn udf13_key_derivation_examples() {
    let cases = [
        ("ZAAA-CDJ5-DHPA-DUUW-WIPQ-UXNC-DSAR-U7A", 32, "E72239E1AB77AC9CB46AA01227689E2814602FA87608385ED5E65DE70CC842E8"),
        ("ZAAA-FFQA-3LE5-SAHG-E6K6-HOTN-TVLB-K4A", 56, "AE6A6D0BCC48C331E7550F52F99683C5157C8A748036B7E91724D7DDA156763C150068B723F5DB32481B72C02EB02245A3B88067B388069F"),
        ("ZAAA-GZ5N-PSNF-7LMS-QJZN-3O2X-GJXV-X6I", 32, "3A3600562EEC2F24A78C22F3A9A2EF1B6EAF07D4992853A55B0ACCEE4C3B7D30"),
        ("ZAAA-ILZB-KTQV-YWUK-FO7E-MQVV-EWPR-UPA", 56, "DF5A89B81D56924132D1B2C94F7469E3C9E55F2333A1CE225408EE53460F9B139D54952BF9D9772AFA073C9D89CCC50E7E867E847C585D89"),
        ("ZAAA-LLBO-4A4E-LFMH-EJ73-XVFG-7PZ5-V7Y", 40, "E200EC226317D5E552F9CDB64523A98BEF3226E024A0E72B7FCBC20BCBFA0F5C59D17C4AD8122E4C"),
    ];
    for (seed, len, okm) in cases {
        let udf = mesh_udf::Udf::parse(seed).unwrap();
        assert_eq!(
            hex::encode_upper(mesh_crypto::derive::draft_example_okm(&udf, b"", len)),
            okm,
            "{seed}"
        );
    }
    // The extraction step of the X25519 example: IKM and PRK as printed.
    let udf = mesh_udf::Udf::parse("ZAAA-CDJ5-DHPA-DUUW-WIPQ-UXNC-DSAR-U7A").unwrap();
    assert_eq!(
        hex::encode_upper(udf.body()),
        "00010D3D19DE01D296B21F0A5DA21C811A7C"
    );
    // RSA-2048: info "p" and "q".
    let rsa = mesh_udf::Udf::parse("ZAAA-RJ5I-OSMI-X2KH-MBHX-KUPB-OC54-NQI").unwrap();
    assert!(
        hex::encode_upper(mesh_crypto::derive::draft_example_okm(&rsa, b"p", 128))
            .starts_with("92D4DAFAC422DB17")
    );
    assert!(
        hex::encode_upper(mesh_crypto::derive::draft_example_okm(&rsa, b"q", 128))
            .starts_with("0150079FB353705A")
    );
}
