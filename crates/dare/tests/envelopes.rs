//! Envelopes against the published data: the seeds' signed profiles and connections, the
//! dare-12 Appendix A examples, and round trips of every signing and encryption mode.

use mesh_crypto::{Algorithm, PrivateKey};
use mesh_dare::schema::ContentMeta;
use mesh_dare::{keys_in_payload, DareEnvelope, DareError, EnvelopeOptions, KeyRing};

fn data(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// The keys a self-signed envelope carries in its own payload.
fn self_keys(env: &DareEnvelope) -> KeyRing {
    let mut ring = KeyRing::new();
    for key in keys_in_payload(&env.payload) {
        ring.add_public(key);
    }
    ring
}

const SELF_SIGNED: [(&str, &str); 4] = [
    (
        "seed000_EnvelopedProfileDevice.json",
        "MDDT-KTDT-AZ62-55HV-FFVY-JYNU-Y3YE",
    ),
    (
        "seed002_EnvelopedProfileService.json",
        "MBBY-E4VA-CMWF-52T7-ESLA-PGNT-CNNX",
    ),
    (
        "seed002_EnvelopedProfileHost.json",
        "MBFC-J3BC-EQTD-UQPM-URBP-FRCA-VHB3",
    ),
    ("seed002_EnvelopedProfileAccount.json", ""),
];

#[test]
fn seed_profiles_verify_self_signed() {
    for (file, signer) in SELF_SIGNED {
        let env = DareEnvelope::parse(&data(file)).unwrap();
        let outcome = env.verify(&self_keys(&env)).unwrap();
        assert!(outcome.unknown.is_empty(), "{file}: {outcome:?}");
        assert_eq!(outcome.valid.len(), 1, "{file}");
        if !signer.is_empty() {
            assert_eq!(outcome.valid[0], signer);
            assert_eq!(env.header.envelope_id.as_deref(), Some(signer));
        }
    }
}

#[test]
fn seed_connections_name_the_unknown_signer() {
    for file in [
        "seed000_EnvelopedConnectionDevice.json",
        "seed000_EnvelopedConnectionService.json",
    ] {
        let env = DareEnvelope::parse(&data(file)).unwrap();
        let outcome = env.verify(&self_keys(&env)).unwrap();
        assert!(outcome.valid.is_empty());
        assert_eq!(
            outcome.unknown,
            vec!["MDQJ-G5K2-BJ66-MPLM-FWSA-665O-MILP".to_string()]
        );
        match env.verify_strict(&self_keys(&env)) {
            Err(DareError::UnknownSigner { kid }) => {
                assert_eq!(kid, "MDQJ-G5K2-BJ66-MPLM-FWSA-665O-MILP")
            }
            other => panic!("{file}: {other:?}"),
        }
    }
}

/// Flip one bit of the payload, the digest or the signature: verification fails.
#[test]
fn tampered_seed_envelopes_fail() {
    for (file, _) in SELF_SIGNED {
        let env = DareEnvelope::parse(&data(file)).unwrap();
        let keys = self_keys(&env);

        let mut payload = env.clone();
        payload.payload[40] ^= 1;
        assert!(
            matches!(payload.verify(&keys), Err(DareError::DigestMismatch)),
            "{file}"
        );

        let mut digest = env.clone();
        digest
            .trailer
            .as_mut()
            .unwrap()
            .payload_digest
            .as_mut()
            .unwrap()[5] ^= 1;
        assert!(
            matches!(digest.verify(&keys), Err(DareError::DigestMismatch)),
            "{file}"
        );

        let mut signature = env.clone();
        signature.trailer.as_mut().unwrap().signatures[0]
            .signature_value
            .as_mut()
            .unwrap()[7] ^= 1;
        assert!(
            matches!(signature.verify(&keys), Err(DareError::BadSignature { .. })),
            "{file}"
        );
    }
}

/// The seed's envelope is re-encoded and read back unchanged, in JSON and JSON-B.
#[test]
fn seed_envelopes_round_trip() {
    let env = DareEnvelope::parse(&data("seed000_EnvelopedProfileDevice.json")).unwrap();
    let json = env.to_json().unwrap();
    assert_eq!(DareEnvelope::parse(json.as_bytes()).unwrap(), env);
    let jsonb = env.to_jsonb().unwrap();
    assert_eq!(DareEnvelope::parse(&jsonb).unwrap(), env);
    let meta = env.content_meta().unwrap();
    assert_eq!(meta.message_type.as_deref(), Some("ProfileDevice"));
    assert_eq!(meta.content_type.as_deref(), Some("application/mmm/object"));
}

const BODY: &[u8] = b"This is a test long enough to require multiple blocks";

/// dare-12 §13.1 and §13.2: plaintext messages decode to the test body.
#[test]
fn draft_plaintext_messages() {
    let plain =
        br#"{"DareEnvelope":[{}, "VGhpcyBpcyBhIHRlc3QgbG9uZyBlbm91Z2ggdG8gcmVxdWlyZSBtdWx0aXBs
     ZSBibG9ja3M"]}"#;
    let env = DareEnvelope::parse(plain).unwrap();
    assert_eq!(env.plaintext(&KeyRing::new()).unwrap(), BODY);
    assert!(matches!(
        env.verify(&KeyRing::new()),
        Err(DareError::NotSigned)
    ));
    let eds = br#"{"DareEnvelope":[{"annotations":["iAEAiC1TdWJqZWN0OiBNZXNzYWdlIG1ldGFkYXRhIHNo
     b3VsZCBiZSBlbmNyeXB0ZWQ", "iAEBiAoyMDE4LTAyLTAx"]},
       "VGhpcyBpcyBhIHRlc3QgbG9uZyBlbm91Z2ggdG8gcmVxdWlyZSBtdWx0aXBsZSBibG9ja3M"]}"#;
    let env = DareEnvelope::parse(eds).unwrap();
    assert_eq!(env.header.annotations.as_ref().unwrap().len(), 2);
    assert_eq!(env.plaintext(&KeyRing::new()).unwrap(), BODY);
}

/// dare-12 §13.4: the PayloadDigest is the SHA-512 of the body; the signer (MCM2…) is not
/// published, so verification names it.
#[test]
fn draft_signed_message() {
    let text = br#"{"DareEnvelope":[{"dig":"S512"},
       "VGhpcyBpcyBhIHRlc3QgbG9uZyBlbm91Z2ggdG8gcmVxdWlyZSBtdWx0aXBsZSBibG9ja3M",
       {"signatures":[{"alg":"S512","kid":"MCM2-KJVW-53WM-34MC-KA5N-WOUA-OTPO",
             "signature":"3bncPZjGBT3ZamGcqxTr2xy_gcPqSU4MJNh0N1ByjyeTBc56ZCSdPaMEcneM-I3gC1tYENjuZeaeHvFQqYZRDA"}],
         "PayloadDigest":"raim8SV5adPbWWn8FMM4mrRAQCO9A2jZ0NZAnFXWlG0xF6sWGJbnKSdtIJMmMU_hjarlIPEoY3vy9UdVlH5KAg"}]}"#;
    let env = DareEnvelope::parse(text).unwrap();
    let outcome = env.verify(&KeyRing::new()).unwrap();
    assert_eq!(
        outcome.unknown,
        vec!["MCM2-KJVW-53WM-34MC-KA5N-WOUA-OTPO".to_string()]
    );
    assert_eq!(env.plaintext(&KeyRing::new()).unwrap(), BODY);
}

/// dare-12 §13.3: with the printed base seed, the envelope's ciphertext decrypts to the body.
/// §13.5: the signed-and-encrypted example's digest covers the ciphertext.
#[test]
fn draft_encrypted_messages() {
    let text = br#"{"DareEnvelope":[{"enc":"A256CBC","kid":"EBQO-I7V7-SMIU-R5H6-T3E5-3QXK-T42M",
         "Salt":"0VLqWgR3EM9BZ1MkHNuEVQ",
         "recipients":[{"kid":"MC26-ABWY-V347-CYLP-BL4I-OJK2-USAM",
             "epk":{"PublicKeyECDH":{"crv":"Ed25519","Public":"xy9IcR8Bw-_dhFAo40Yq6Gs50aHb3n1rWn_WqdsL5
     e0"}},
             "wmk":"cJ0sCeJuErbVczFrYR6DFJ7MhzkZ3kLObz_-Nod4WhtNfwis
     VwsLlw"}]},
       "ALOi_L3u0jl4Ke5yeUmXDJHBCFTZXffKs0WZNMwRMfR1PX25vSXcXPyxeEBJ
     ptXvmYd-OQLqZuzVfJxZw_nJjw"]}"#;
    let env = DareEnvelope::parse(text).unwrap();
    assert!(env.is_encrypted());
    let seed = mesh_dare::crypt::BaseSeed(
        hex::decode("8A938BC44FF6DF7B0B508D318D5CD63427D720406D645C9C43A70D6F5EF809FE")
            .unwrap()
            .try_into()
            .unwrap(),
    );
    // The published example carries no payload MAC: it decrypts only when asked to without
    // integrity, never by the ordinary path.
    assert!(matches!(
        env.decrypt_with_seed(&seed),
        Err(DareError::BadMac)
    ));
    assert_eq!(env.decrypt_unauthenticated(&seed).unwrap(), BODY);
    assert!(
        matches!(env.plaintext(&KeyRing::new()), Err(DareError::NoDecryptionKey(k)) if k.contains("MC26"))
    );

    let signed = br#"{"DareEnvelope":[{"enc":"A256CBC","dig":"S512","Salt":"edg0MqvIVpbY_daVzcr2BA"},
       "-7ltHUIS5CKK53ng5TXuI5f5iQ9jMSQ7ik6cW_1cn6xZGawxLCc7rH_fNSv4
     uvXEoaNsSs29YA2JRwDa1ikk0w",
       {"signatures":[{"alg":"S512","kid":"MCM2-KJVW-53WM-34MC-KA5N-WOUA-OTPO",
             "signature":"6EC_nMKMvbjTivoX8mpXKF0jXliQ0JgRNi-OlMeAICOnnJIOLdwE3xEk3W2xbsPc35n-_Up1u64jLH0by2-mAw",
             "witness":"FEc2sqXKFgfSVUL1dQuuJ2Is1WsxcJtNJSFL-T1njTI"}],
         "PayloadDigest":"b5VAe6YrqODvnyd3dwF-T2rqqVTYap2FzN-umyteo5
     NwNFf2_1h2ObZoLm3jj15NY9SHzHvcyXEeGPyey9aUVA"}]}"#;
    let env = DareEnvelope::parse(signed).unwrap();
    assert_eq!(env.verify(&KeyRing::new()).unwrap().unknown.len(), 1);
}

#[test]
fn sign_and_encrypt_round_trips() {
    for (sig, enc) in [
        (Algorithm::Ed448, Algorithm::X448),
        (Algorithm::Ed25519, Algorithm::X25519),
    ] {
        let signer = PrivateKey::generate(sig);
        let reader = PrivateKey::generate(enc);
        let second = PrivateKey::generate(enc);
        let (rp, sp) = (reader.public_key(), second.public_key());
        let options = EnvelopeOptions {
            meta: Some(ContentMeta {
                unique_id: Some("id-1".into()),
                content_type: Some("text/plain".into()),
                ..Default::default()
            }),
            signers: vec![&signer],
            recipients: vec![&rp, &sp],
            ..Default::default()
        };
        let env = DareEnvelope::encode(BODY, &options).unwrap();
        assert_ne!(env.payload, BODY);
        for bytes in [env.to_json().unwrap().into_bytes(), env.to_jsonb().unwrap()] {
            let back = DareEnvelope::parse(&bytes).unwrap();
            let mut keys = KeyRing::new();
            keys.add_public(signer.public_key());
            assert_eq!(
                back.verify_strict(&keys).unwrap(),
                vec![signer.public_key().udf()]
            );
            for k in [&reader, &second] {
                let mut ring = KeyRing::new();
                ring.add_private(k.clone());
                assert_eq!(back.plaintext(&ring).unwrap(), BODY);
            }
            let mut stranger = KeyRing::new();
            stranger.add_private(PrivateKey::generate(enc));
            assert!(matches!(
                back.plaintext(&stranger),
                Err(DareError::NoDecryptionKey(_))
            ));
        }
        // Altered ciphertext with a recomputed digest: the MAC catches it.
        let mut forged = env.clone();
        forged.payload[0] ^= 1;
        forged.trailer.as_mut().unwrap().payload_digest =
            Some(mesh_dare::envelope::sha512(&forged.payload).to_vec());
        let mut ring = KeyRing::new();
        ring.add_private(reader.clone());
        assert!(matches!(forged.plaintext(&ring), Err(DareError::BadMac)));
    }
}

#[test]
fn detached_and_empty_payloads() {
    let signer = PrivateKey::generate(Algorithm::Ed448);
    let env = DareEnvelope::encode(
        b"carried elsewhere",
        &EnvelopeOptions {
            signers: vec![&signer],
            detached: true,
            ..Default::default()
        },
    )
    .unwrap();
    let back = DareEnvelope::parse(env.to_json().unwrap().as_bytes()).unwrap();
    assert!(back.detached && back.payload.is_empty());
    let mut keys = KeyRing::new();
    keys.add_public(signer.public_key());
    assert_eq!(
        back.verify_detached(&keys, b"carried elsewhere")
            .unwrap()
            .valid
            .len(),
        1
    );
    assert!(matches!(
        back.verify_detached(&keys, b"something else"),
        Err(DareError::DigestMismatch)
    ));

    let empty = DareEnvelope::encode(
        b"",
        &EnvelopeOptions {
            signers: vec![&signer],
            ..Default::default()
        },
    )
    .unwrap();
    let back = DareEnvelope::parse(&empty.to_jsonb().unwrap()).unwrap();
    assert_eq!(back.verify(&keys).unwrap().valid.len(), 1);
    assert!(back.plaintext(&keys).unwrap().is_empty());
}

#[test]
fn malformed_input_is_a_typed_error() {
    let good = DareEnvelope::parse(&data("seed000_EnvelopedProfileDevice.json"))
        .unwrap()
        .to_json()
        .unwrap();
    for cut in [1, 10, good.len() / 2, good.len() - 1] {
        assert!(DareEnvelope::parse(&good.as_bytes()[..cut]).is_err());
    }
    assert!(matches!(
        DareEnvelope::parse(b""),
        Err(DareError::Truncated(_))
    ));
    assert!(matches!(
        DareEnvelope::parse(b"[{}]"),
        Err(DareError::Malformed(_))
    ));
    assert!(matches!(
        DareEnvelope::parse(b"[1, \"AA\"]"),
        Err(DareError::Malformed(_))
    ));
    assert!(matches!(
        DareEnvelope::parse(b"[{}, \"A!\"]"),
        Err(DareError::Malformed(_))
    ));
    let unsupported = br#"[{"enc":"A128GCM","Salt":"AAAAAAAAAAAAAAAAAAAAAA"}, "AAAA"]"#;
    let env = DareEnvelope::parse(unsupported).unwrap();
    let seed = mesh_dare::crypt::BaseSeed([0; 32]);
    assert!(matches!(
        env.decrypt_with_seed(&seed),
        Err(DareError::Unsupported(_))
    ));
}
