//! The schema against the seeds: seed 000's preconfiguration, seed 002's profiles, and the
//! identifiers of seed 002's PIN connection and witness flow.

use mesh_dare::{DareEnvelope, KeyRing};
use mesh_schema::{expect_item, ids, signed, MeshItem, SchemaError};

fn data(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn envelope(name: &str) -> DareEnvelope {
    DareEnvelope::parse(&data(name)).unwrap()
}

#[test]
fn seed000_preconfiguration() {
    let item = MeshItem::from_bytes(&data("seed000_DevicePreconfigurationPrivate.json")).unwrap();
    let pre = expect_item!(item, DevicePreconfigurationPrivate).unwrap();
    // The ProfileDevice re-derives from the secret it holds and is self-signed.
    let profile = pre.check_profile().unwrap();
    let udf = profile.check().unwrap();
    assert_eq!(udf, "MDDT-KTDT-AZ62-55HV-FFVY-JYNU-Y3YE");
    assert_eq!(
        pre.connect_uri
            .as_deref()
            .map(mesh_schema::preconfig::unwrap_text)
            .unwrap(),
        "mcu://maker@example.com/EC6P-KOIX-T3B4-YIKE-OLX3-BUUD-64"
    );
    // The connections carry that device's keys and name their signer, whom the seed omits.
    let device_keys: Vec<String> = [
        &profile.encryption,
        &profile.signature,
        &profile.authentication,
    ]
    .iter()
    .map(|k| k.as_ref().unwrap().udf.clone().unwrap())
    .collect();
    let env = pre.enveloped_connection_device.as_ref().unwrap();
    let connection = expect_item!(
        signed::read(env, &KeyRing::new()).unwrap(),
        ConnectionDevice
    )
    .unwrap();
    for key in [
        &connection.signature,
        &connection.encryption,
        &connection.authentication,
    ] {
        let key = key.as_ref().unwrap();
        key.public_key("connection key").unwrap();
        assert!(device_keys.contains(key.udf.as_ref().unwrap()));
    }
    for env in [
        pre.enveloped_connection_device.as_ref().unwrap(),
        pre.enveloped_connection_service.as_ref().unwrap(),
    ] {
        let outcome = env.verify(&KeyRing::new()).unwrap();
        assert_eq!(
            outcome.unknown,
            vec!["MDQJ-G5K2-BJ66-MPLM-FWSA-665O-MILP".to_string()]
        );
        // Checked against the device's own key, it is refused as the wrong signer.
        let device_key = profile
            .profile_signature
            .as_ref()
            .unwrap()
            .public_key("ProfileSignature")
            .unwrap();
        match signed::verify_signed_by(env, &device_key, "connection", &KeyRing::new()) {
            Err(SchemaError::WrongSigner { signer, .. }) => {
                assert_eq!(signer, "MDQJ-G5K2-BJ66-MPLM-FWSA-665O-MILP")
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn seed002_profiles() {
    let (service, udf) =
        signed::verify_profile_service(&envelope("seed002_EnvelopedProfileService.json")).unwrap();
    assert_eq!(udf, "MBBY-E4VA-CMWF-52T7-ESLA-PGNT-CNNX");
    assert!(service.service_encryption.is_some());
    let (_, udf) =
        signed::verify_profile_host(&envelope("seed002_EnvelopedProfileHost.json")).unwrap();
    assert_eq!(udf, "MBFC-J3BC-EQTD-UQPM-URBP-FRCA-VHB3");
    let env = envelope("seed002_EnvelopedProfileAccount.json");
    let (user, udf) = signed::verify_profile_user(&env).unwrap();
    assert_eq!(udf, "MC44-IZC3-IWZT-VCVZ-L2AG-HI4E-LOV2");
    assert_eq!(env.header.envelope_id.as_deref(), Some(udf.as_str()));
    assert_eq!(user.account_address.as_deref(), Some("alice@example.com"));
    assert_eq!(
        user.service_udf.as_deref(),
        Some("MBBY-E4VA-CMWF-52T7-ESLA-PGNT-CNNX")
    );
    // A profile presented as the wrong type is refused.
    assert!(matches!(
        signed::verify_profile_device(&env),
        Err(SchemaError::WrongType { .. })
    ));
}

#[test]
fn seed002_pin_identifiers() {
    let pin = expect_item!(
        MeshItem::from_bytes(&data("seed002_MessagePin.json")).unwrap(),
        MessagePin
    )
    .unwrap();
    let salted = pin.salted_pin.clone().unwrap();
    // The PIN from the QR code (mcu://alice@example.com/AAJP-KPYV-NSB4-GIYL-AM).
    assert_eq!(
        ids::salted_pin("AAJP-KPYV-NSB4-GIYL-AM", "Device").unwrap(),
        salted
    );
    assert_eq!(
        ids::pin_id(&salted, "alice@example.com").unwrap(),
        pin.message_id.clone().unwrap()
    );
    let request = expect_item!(
        MeshItem::from_bytes(&data("seed002_RequestConnection_pin.json")).unwrap(),
        RequestConnection
    )
    .unwrap();
    assert_eq!(request.pin_id, pin.message_id);
    let device = request.authenticated_data.as_ref().unwrap();
    let digest = device
        .trailer
        .as_ref()
        .unwrap()
        .payload_digest
        .clone()
        .unwrap();
    let witness = ids::pin_witness(
        &salted,
        "alice@example.com",
        request.client_nonce.as_ref().unwrap(),
        &digest,
    )
    .unwrap();
    assert_eq!(Some(witness), request.pin_witness);
    // The request's envelope id comes from its message id.
    assert_eq!(
        ids::envelope_id(request.message_id.as_deref().unwrap()).unwrap(),
        "MD22-62AQ-PVVT-NPUS-ATUC-MQH4-PWV2"
    );
}

#[test]
fn seed002_witness() {
    let ack = expect_item!(
        MeshItem::from_bytes(&data("seed002_AcknowledgeConnection.json")).unwrap(),
        AcknowledgeConnection
    )
    .unwrap();
    let request_env = ack.enveloped_request_connection.as_ref().unwrap();
    let request = expect_item!(
        signed::read(request_env, &KeyRing::new()).unwrap(),
        RequestConnection
    )
    .unwrap();
    let (device, _) =
        signed::verify_profile_device(request.authenticated_data.as_ref().unwrap()).unwrap();
    let (account, _) =
        signed::verify_profile_user(&envelope("seed002_EnvelopedProfileAccount.json")).unwrap();
    let a = account
        .profile_signature
        .unwrap()
        .public_key("account")
        .unwrap();
    let d = device
        .profile_signature
        .unwrap()
        .public_key("device")
        .unwrap();
    let witness = ids::witness(
        &a,
        ack.server_nonce.as_ref().unwrap(),
        &d,
        request.client_nonce.as_ref().unwrap(),
    );
    assert_eq!(witness, "KB3G-NC35-X6IU-BEKJ-YIQR-J4GX-IKKN");
    assert_eq!(ack.witness.as_deref(), Some(witness.as_str()));
}
