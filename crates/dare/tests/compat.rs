//! Data written by earlier builds stays readable after the move to the reference's forms:
//! the key wrap under HKDF info "master" (dare-12's text; earlier builds) beside the empty info
//! (the reference's running code, what this build writes), and plain Ed25519 signatures beside
//! Ed25519ctx.

use mesh_crypto::{Algorithm, PrivateKey};
use mesh_dare::crypt::{self, BaseSeed};
use mesh_dare::schema::DareRecipient;
use mesh_dare::{DareEnvelope, EnvelopeOptions, KeyParameters, KeyRing};

fn recipient_wrapped_with(
    seed: &BaseSeed,
    recipient: &mesh_crypto::PublicKey,
    master: fn(&[u8]) -> [u8; 32],
) -> DareRecipient {
    let ephemeral = PrivateKey::generate(recipient.algorithm());
    let agreement = ephemeral.agree(recipient).unwrap();
    DareRecipient {
        key_identifier: Some(recipient.udf()),
        ephemeral: Some(KeyParameters::from_public(&ephemeral.public_key())),
        wrapped_base_seed: Some(crypt::wrap(&master(&agreement), seed)),
        ..Default::default()
    }
}

#[test]
fn both_key_wrap_derivations_are_read_and_the_reference_one_is_written() {
    for algorithm in [Algorithm::X448, Algorithm::X25519] {
        let key = PrivateKey::generate(algorithm);
        let public = key.public_key();
        let mut ring = KeyRing::new();
        ring.add_private(key.clone());
        let envelope = DareEnvelope::encode(
            b"written by this build",
            &EnvelopeOptions {
                recipients: vec![&public],
                ..Default::default()
            },
        )
        .unwrap();
        // What this build writes unwraps under the empty info, not under "master".
        let entry = &envelope.header.recipients[0];
        let agreement = key
            .agree(&crypt::recipient_ephemeral(entry).unwrap())
            .unwrap();
        let wrapped = entry.wrapped_base_seed.as_ref().unwrap();
        assert!(crypt::unwrap(&crypt::reference_master_key(&agreement), wrapped).is_ok());
        assert!(crypt::unwrap(&crypt::master_key(&agreement), wrapped).is_err());
        assert_eq!(envelope.plaintext(&ring).unwrap(), b"written by this build");

        // An envelope as earlier builds wrote it: the same seed wrapped under "master".
        let seed = envelope.base_seed(&ring).unwrap();
        let mut earlier = envelope.clone();
        earlier.header.recipients = vec![recipient_wrapped_with(&seed, &public, crypt::master_key)];
        assert_eq!(earlier.plaintext(&ring).unwrap(), b"written by this build");

        // A wrap under some other derivation is refused, not half-read.
        let mut wrong = envelope.clone();
        wrong.header.recipients = vec![recipient_wrapped_with(&seed, &public, |a| {
            let mut k = crypt::master_key(a);
            k[0] ^= 1;
            k
        })];
        assert!(wrong.plaintext(&ring).is_err());
    }
}

#[test]
fn ed25519_envelopes_sign_ed25519ctx_and_read_plain_ed25519() {
    let key = PrivateKey::generate(Algorithm::Ed25519);
    let mut ring = KeyRing::new();
    ring.add_public(key.public_key());
    let envelope = DareEnvelope::encode(
        b"signed",
        &EnvelopeOptions {
            signers: vec![&key],
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(envelope.verify(&ring).unwrap().valid.len(), 1);
    // The signature is Ed25519ctx: plain Ed25519 does not take it.
    let digest = mesh_dare::envelope::sha512(&envelope.payload);
    let signature = envelope.trailer.as_ref().unwrap().signatures[0]
        .signature_value
        .clone()
        .unwrap();
    let PrivateKey::Ed25519(inner) = &key else {
        unreachable!()
    };
    assert!(
        mesh_crypto::ed25519::verify(key.public_key().as_bytes(), &digest, &signature).is_err()
    );
    // An envelope signed as earlier builds signed (plain Ed25519) still verifies.
    let mut earlier = envelope.clone();
    earlier.trailer.as_mut().unwrap().signatures[0].signature_value =
        Some(inner.sign(&digest).to_vec());
    assert_eq!(earlier.verify(&ring).unwrap().valid.len(), 1);
    // Either form over another payload does not.
    let mut moved = earlier.clone();
    moved.payload = b"other".to_vec();
    moved.trailer.as_mut().unwrap().payload_digest =
        Some(mesh_dare::envelope::sha512(b"other").to_vec());
    assert!(moved.verify(&ring).is_err());
}

/// A signature or digest in the header (as the reference puts them on some envelopes) counts as
/// one in the trailer: checked, and a wrong one is refused.
#[test]
fn header_signatures_and_digests_are_checked() {
    let key = PrivateKey::generate(Algorithm::Ed448);
    let mut ring = KeyRing::new();
    ring.add_public(key.public_key());
    let signed = DareEnvelope::encode(
        b"payload",
        &EnvelopeOptions {
            signers: vec![&key],
            ..Default::default()
        },
    )
    .unwrap();
    let mut moved = signed.clone();
    let trailer = moved.trailer.take().unwrap();
    moved.header.signatures = trailer.signatures.clone();
    moved.header.payload_digest = trailer.payload_digest.clone();
    assert_eq!(moved.verify(&ring).unwrap().valid.len(), 1);
    // A header digest that is not the payload's is refused, even with a good trailer.
    let mut damaged = signed.clone();
    damaged.header.payload_digest = Some(vec![0; 64]);
    assert!(damaged.verify(&ring).is_err());
    // A forged header signature beside a good trailer one is refused.
    let mut forged = signed.clone();
    let mut bad = trailer.signatures[0].clone();
    bad.signature_value = Some(vec![0; 114]);
    forged.header.signatures = vec![bad];
    assert!(forged.verify(&ring).is_err());
    // An envelope with no signature anywhere is not signed.
    let mut none = signed;
    none.trailer = None;
    assert!(none.verify(&ring).is_err());
}
