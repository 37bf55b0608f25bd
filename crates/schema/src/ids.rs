//! Identifiers derived as the Mesh defines them (REFERENCE-NOTES §7–9, checked on seed 002):
//! envelope and response ids from message ids, PIN values, and the connection witness.

use hmac::{Hmac, Mac};
use mesh_crypto::fingerprint::key_digest;
use mesh_crypto::PublicKey;
use mesh_udf::{ContentDigest, DigestAlgorithm, Udf, UdfType};
use sha2::{Digest, Sha512};

use crate::Result;

const ID_BITS: usize = 140;

fn body_of(udf_text: &str) -> Result<Vec<u8>> {
    Ok(Udf::parse(udf_text)?.body().to_vec())
}

/// The digest of an identifier's body: the octets after its first (type) octet. A connection's
/// MessageId is its witness, which has no UDF type of its own (its first octet is whatever the
/// hash gave); the reference derives ResponseID and EnvelopeId from it all the same, with
/// SHA-2-512 (its examples, `ProtocolConnectPIN.md`; reference README fact 4).
fn digest_of_id(message_id: &str, content_type: &str) -> Result<String> {
    let udf = Udf::parse(message_id)?;
    let alg = match udf.kind() {
        UdfType::DigestSha3(_) | UdfType::AuthenticatorHmacSha3 => DigestAlgorithm::Sha3_512,
        _ => DigestAlgorithm::Sha2_512,
    };
    Ok(ContentDigest::of_data(alg, content_type, udf.body()).present(ID_BITS)?)
}

/// The identifier derived from a connection witness (an AcknowledgeConnection's MessageId):
/// SHA-2-512 over the octets after its first, whatever that first octet is — the witness is a
/// hash, not a typed UDF, even when its first octet happens to name a UDF type.
fn digest_of_witness(witness: &str, content_type: &str) -> Result<String> {
    let octets = mesh_udf::base32::decode(witness)?;
    if octets.len() < 2 {
        return Err(crate::SchemaError::Invalid(format!(
            "{witness} is too short to be a witness"
        )));
    }
    Ok(
        ContentDigest::of_data(DigestAlgorithm::Sha2_512, content_type, &octets[1..])
            .present(ID_BITS)?,
    )
}

/// The ResponseID of a connection: from the witness (reference README fact 4).
pub fn response_id_of_witness(witness: &str) -> Result<String> {
    digest_of_witness(witness, "application/mmm/responseid")
}

/// The EnvelopeId of a connection's acknowledgement, whose MessageId is the witness.
pub fn envelope_id_of_witness(witness: &str) -> Result<String> {
    digest_of_witness(witness, "application/mmm/envelopeid")
}

/// The EnvelopeId of the envelope carrying the message `message_id`.
pub fn envelope_id(message_id: &str) -> Result<String> {
    digest_of_id(message_id, "application/mmm/envelopeid")
}

/// The id of a response to the message `message_id`.
pub fn response_id(message_id: &str) -> Result<String> {
    digest_of_id(message_id, "application/mmm/responseid")
}

fn hmac512(key: &[u8], parts: &[&[u8]]) -> [u8; 64] {
    let mut m = <Hmac<Sha512> as Mac>::new_from_slice(key).expect("HMAC takes any key");
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

fn authenticator(value: &[u8; 64]) -> Result<String> {
    Ok(Udf::new(UdfType::AuthenticatorHmacSha2, value.to_vec()).present(ID_BITS))
}

/// SaltedPin: the PIN bound to the action it authorizes (`Device` for a device connection).
pub fn salted_pin(pin: &str, action: &str) -> Result<String> {
    authenticator(&hmac512(&body_of(pin)?, &[action.as_bytes()]))
}

/// PinId: the SaltedPin bound to the account; the MessageId of the MessagePin.
pub fn pin_id(salted_pin: &str, account: &str) -> Result<String> {
    authenticator(&hmac512(
        &body_of(salted_pin)?,
        &[account.to_lowercase().as_bytes()],
    ))
}

/// PinWitness: proof that a request was made by someone holding the PIN, bound to the account,
/// the client nonce and the PayloadDigest of the enveloped device profile.
pub fn pin_witness(
    salted_pin: &str,
    account: &str,
    client_nonce: &[u8],
    payload_digest: &[u8],
) -> Result<Vec<u8>> {
    Ok(hmac512(
        &body_of(salted_pin)?,
        &[account.as_bytes(), client_nonce, payload_digest],
    )
    .to_vec())
}

/// PinProof (this implementation's): proof that an answer to a PIN request comes from whoever
/// made the PIN (an administrator of the account), bound to the account and the answer's
/// response id: HMAC-SHA-512 under the SaltedPin of "MeshPinAnswer", the account and the id. A
/// service that gave the new device an account of its own under the same address cannot make
/// it without the PIN.
pub fn pin_proof(salted_pin: &str, account: &str, response_id: &str) -> Result<Vec<u8>> {
    Ok(hmac512(
        &body_of(salted_pin)?,
        &[
            b"MeshPinAnswer",
            account.to_lowercase().as_bytes(),
            response_id.as_bytes(),
        ],
    )
    .to_vec())
}

/// The witness both sides of a connection show the user: 140 bits of
/// SHA-512( SHA-512(A ‖ serverNonce) ‖ SHA-512(D ‖ clientNonce) ), A and D the 64-octet binary
/// fingerprints of the account's and the device's profile signature keys.
pub fn witness(
    account: &PublicKey,
    server_nonce: &[u8],
    device: &PublicKey,
    client_nonce: &[u8],
) -> String {
    let fingerprint = |k: &PublicKey| key_digest(k.algorithm(), k.as_bytes()).udf().binary();
    let (a, d) = (fingerprint(account), fingerprint(device));
    let left = Sha512::new()
        .chain_update(a)
        .chain_update(server_nonce)
        .finalize();
    let right = Sha512::new()
        .chain_update(d)
        .chain_update(client_nonce)
        .finalize();
    let value = Sha512::new()
        .chain_update(left)
        .chain_update(right)
        .finalize();
    mesh_udf::base32::encode(&value, ID_BITS)
}
