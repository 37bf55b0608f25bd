//! Property tests: envelopes and frames round-trip whatever they carry, and arbitrary or mangled
//! bytes are rejected with an error, never a panic.

use mesh_crypto::{Algorithm, PrivateKey};
use mesh_dare::{frame, DareEnvelope, EnvelopeOptions, KeyRing};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn envelopes_round_trip(payload in proptest::collection::vec(any::<u8>(), 0..2000), sign in any::<bool>(), encrypt in any::<bool>(), jsonb in any::<bool>()) {
        let signer = PrivateKey::generate(Algorithm::Ed25519);
        let reader = PrivateKey::generate(Algorithm::X25519);
        let rp = reader.public_key();
        let options = EnvelopeOptions {
            signers: if sign { vec![&signer] } else { vec![] },
            recipients: if encrypt { vec![&rp] } else { vec![] },
            ..Default::default()
        };
        let env = DareEnvelope::encode(&payload, &options).unwrap();
        let bytes = if jsonb { env.to_jsonb().unwrap() } else { env.to_json().unwrap().into_bytes() };
        let back = DareEnvelope::parse(&bytes).unwrap();
        prop_assert_eq!(&back, &env);
        let mut keys = KeyRing::new();
        keys.add_private(reader);
        keys.add_public(signer.public_key());
        prop_assert_eq!(back.plaintext(&keys).unwrap(), payload);
        if sign {
            prop_assert_eq!(back.verify(&keys).unwrap().valid.len(), 1);
        }
    }

    #[test]
    fn mangled_envelopes_never_panic(cut in 0usize..400, flip in 0usize..400, bit in 0u8..8) {
        let signer = PrivateKey::generate(Algorithm::Ed448);
        let env = DareEnvelope::encode(b"some payload to mangle", &EnvelopeOptions { signers: vec![&signer], ..Default::default() }).unwrap();
        for mut bytes in [env.to_json().unwrap().into_bytes(), env.to_jsonb().unwrap()] {
            if flip < bytes.len() {
                bytes[flip] ^= 1 << bit;
            }
            bytes.truncate(cut.min(bytes.len()));
            if let Ok(e) = DareEnvelope::parse(&bytes) {
                let _ = e.verify(&KeyRing::new());
                let _ = e.plaintext(&KeyRing::new());
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = DareEnvelope::parse(&bytes);
        let _ = frame::decode(&bytes);
    }

    #[test]
    fn frames_round_trip(items in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..70_000), 2..=3)) {
        let refs: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
        let bytes = frame::encode(&refs);
        let (decoded, size) = frame::decode(&bytes).unwrap();
        prop_assert_eq!(size as usize, bytes.len());
        prop_assert_eq!(decoded, refs);
    }
}
