//! Property tests: activation combination, signatures, agreement and Shamir sharing.

use mesh_crypto::{shamir, Algorithm, PrivateKey, PublicKey};
use proptest::prelude::*;

fn secret(len: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), len)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn combined_ed448_signature_verifies_under_combined_public(base in secret(56), activation in secret(56), msg in secret(40)) {
        let base = PrivateKey::from_secret(Algorithm::Ed448, &base).unwrap();
        let activation = PrivateKey::from_secret(Algorithm::Ed448, &activation).unwrap();
        let combined = base.combine(&activation).unwrap();
        let public = base.public_key().combine(&activation.public_key()).unwrap();
        prop_assert_eq!(combined.public_key(), public.clone());
        let sig = combined.sign(&msg).unwrap();
        prop_assert!(public.verify(&msg, &sig).is_ok());
        // Neither part alone verifies it.
        prop_assert!(base.public_key().verify(&msg, &sig).is_err());
    }

    #[test]
    fn combined_ed25519_signature_verifies(base in secret(32), activation in secret(32), msg in secret(40)) {
        let base = PrivateKey::from_secret(Algorithm::Ed25519, &base).unwrap();
        let activation = PrivateKey::from_secret(Algorithm::Ed25519, &activation).unwrap();
        let combined = base.combine(&activation).unwrap();
        let public = base.public_key().combine(&activation.public_key()).unwrap();
        prop_assert!(public.verify(&msg, &combined.sign(&msg).unwrap()).is_ok());
    }

    #[test]
    fn combined_x448_agreement(base in secret(56), activation in secret(56), peer in secret(56)) {
        let base = PrivateKey::from_secret(Algorithm::X448, &base).unwrap();
        let activation = PrivateKey::from_secret(Algorithm::X448, &activation).unwrap();
        let peer = PrivateKey::from_secret(Algorithm::X448, &peer).unwrap();
        let combined = base.combine(&activation).unwrap();
        let public = base.public_key().combine(&activation.public_key()).unwrap();
        prop_assert_eq!(combined.public_key(), public.clone());
        prop_assert_eq!(combined.agree(&peer.public_key()).unwrap(), peer.agree(&public).unwrap());
    }

    #[test]
    fn threshold_shares_agree_as_the_key(key in secret(56), peer in secret(56)) {
        let key = PrivateKey::from_secret(Algorithm::X448, &key).unwrap();
        let peer = PrivateKey::from_secret(Algorithm::X448, &peer).unwrap();
        let (a, b) = key.split().unwrap();
        let epk = peer.public_key();
        let parts = [a.agree_partial(&epk).unwrap(), b.agree_partial(&epk).unwrap()];
        prop_assert_eq!(
            mesh_crypto::combine_contributions(Algorithm::X448, &[&parts[0], &parts[1]]).unwrap(),
            peer.agree(&key.public_key()).unwrap()
        );
        // The shares recombine to the key, and each share survives storage.
        prop_assert_eq!(a.combine(&b).unwrap().public_key(), key.public_key());
        let stored = PrivateKey::from_bytes(Algorithm::X448, &a.to_bytes()).unwrap();
        prop_assert_eq!(stored.agree_partial(&epk).unwrap(), parts[0].clone());
    }

    #[test]
    fn arbitrary_contributions_never_panic(a in prop::collection::vec(any::<u8>(), 0..70), b in prop::collection::vec(any::<u8>(), 0..70)) {
        let _ = mesh_crypto::combine_contributions(Algorithm::X448, &[&a, &b]);
        let key = PrivateKey::generate(Algorithm::X448);
        if let Ok(peer) = mesh_crypto::PublicKey::new(Algorithm::X448, a.clone()) {
            let _ = key.agree_partial(&peer);
        }
    }

    #[test]
    fn stored_private_keys_round_trip(s in secret(56)) {
        for alg in [Algorithm::Ed448, Algorithm::X448] {
            let k = PrivateKey::from_secret(alg, &s).unwrap();
            let back = PrivateKey::from_bytes(alg, &k.to_bytes()).unwrap();
            prop_assert_eq!(back.public_key(), k.public_key());
        }
    }

    #[test]
    fn arbitrary_public_keys_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..70), msg in secret(8), sig in prop::collection::vec(any::<u8>(), 0..120)) {
        for alg in [Algorithm::Ed448, Algorithm::X448, Algorithm::Ed25519, Algorithm::X25519] {
            if let Ok(key) = PublicKey::new(alg, bytes.clone()) {
                let _ = key.verify(&msg, &sig);
                let _ = key.udf();
            }
        }
    }

    #[test]
    fn shamir_round_trips(s in prop::collection::vec(any::<u8>(), 1..=64), threshold in 1usize..=5, extra in 0usize..=3) {
        let n = threshold + extra;
        let shares = shamir::split(&s, threshold, n).unwrap();
        prop_assert_eq!(shares.len(), n);
        // Any `threshold` consecutive shares (in text form) recover the secret.
        for start in 0..=extra {
            let chosen: Vec<_> = shares[start..start + threshold]
                .iter()
                .map(|sh| mesh_udf::ShareUdf::parse(&sh.to_string()).unwrap())
                .collect();
            prop_assert_eq!(shamir::recover(&chosen).unwrap(), s.clone());
        }
        if threshold > 1 {
            // Fewer than the quorum is refused.
            prop_assert!(shamir::recover(&shares[..threshold - 1]).is_err());
        }
    }
}
