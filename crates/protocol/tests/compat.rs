//! Operate in the reference's shapes (a tagged `PublicKey`, a `KeyAgreementECDH` result) and in
//! the KeyData shapes earlier builds sent: both read, the same key and point either way.

use mesh_crypto::{Algorithm, PrivateKey};
use mesh_protocol::messages::{AgreementResult, OperateKey};

#[test]
fn operate_keys_and_results_read_in_both_shapes() {
    for algorithm in [Algorithm::X448, Algorithm::X25519] {
        let key = PrivateKey::generate(algorithm).public_key();
        let written = serde_json::to_value(OperateKey::from_public(&key)).unwrap();
        assert!(written.get("PublicKeyECDH").is_some(), "{written}");
        let earlier = serde_json::to_value(mesh_schema::KeyData::from_public(&key)).unwrap();
        for form in [written, earlier] {
            let read: OperateKey = serde_json::from_value(form).unwrap();
            assert_eq!(read.public_key().unwrap(), key);
        }

        let written = serde_json::to_value(AgreementResult::from_point(&key)).unwrap();
        assert_eq!(
            written["KeyAgreementECDH"]["Curve"],
            algorithm.curve(),
            "{written}"
        );
        let earlier = serde_json::to_value(mesh_schema::KeyData::from_public(&key)).unwrap();
        for form in [written, earlier] {
            let read: AgreementResult = serde_json::from_value(form).unwrap();
            assert_eq!(read.point().unwrap(), key);
        }
    }
    // A result that is not a point on the named curve is refused.
    let bad: AgreementResult = serde_json::from_value(serde_json::json!(
        {"KeyAgreementECDH": {"Curve": "X448", "Result": "AAAA"}}
    ))
    .unwrap();
    assert!(bad.point().is_err());
    let nameless: AgreementResult =
        serde_json::from_value(serde_json::json!({"KeyAgreementECDH": {"Result": "AAAA"}}))
            .unwrap();
    assert!(nameless.point().is_err());
}

/// A key in an Operate request must be a public key-agreement key: a private key given there
/// (whose public half could be derived) or an RSA key is refused.
#[test]
fn an_operate_key_must_be_public() {
    let key = PrivateKey::generate(Algorithm::X448);
    let private = mesh_dare::KeyParameters::from_private_secret(Algorithm::X448, &key.to_bytes());
    let read: OperateKey = serde_json::from_value(serde_json::to_value(&private).unwrap()).unwrap();
    assert!(read.public_key().is_err());
    let rsa: OperateKey = serde_json::from_value(serde_json::json!(
        {"PublicKeyRSA": {"n": "AQAB", "e": "AQAB"}}
    ))
    .unwrap();
    assert!(rsa.public_key().is_err());
}
