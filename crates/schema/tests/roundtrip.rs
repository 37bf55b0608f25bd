//! Every schema type round-trips through JSON and JSON-B; tampered profiles are refused with a
//! clear error; the activation scheme yields keys that act for the connection.

use mesh_crypto::{Algorithm, PrivateKey, SecretSeed};
use mesh_dare::{DareEnvelope, DareError, KeyRing};
use mesh_schema::assertion::*;
use mesh_schema::catalog::*;
use mesh_schema::message::*;
use mesh_schema::profile::*;
use mesh_schema::{signed, MeshItem, SchemaError};
use mesh_udf::{random, KeySpecifier};

fn seed(key_type: u16) -> SecretSeed {
    SecretSeed::from_udf(random::secret_seed(
        KeySpecifier::new(0, key_type).unwrap(),
        256,
    ))
    .unwrap()
}

fn device() -> (SecretSeed, ProfileDevice) {
    let s = seed(256);
    let p = ProfileDevice::from_seed(&s, Some("laptop".into())).unwrap();
    (s, p)
}

fn account() -> (SecretSeed, ProfileUser) {
    let s = seed(258);
    let p = ProfileUser::from_seed(
        &s,
        "alice@example.com",
        Some("MBBY-E4VA-CMWF-52T7-ESLA-PGNT-CNNX".into()),
    )
    .unwrap();
    (s, p)
}

fn signer_of(s: &SecretSeed, role: &str) -> PrivateKey {
    mesh_crypto::profile_keys(s)
        .unwrap()
        .into_iter()
        .find(|k| k.role == role)
        .unwrap()
        .key
}

fn samples() -> Vec<MeshItem> {
    let (_, dev) = device();
    let (_, user) = account();
    let key = PrivateKey::generate(Algorithm::Ed448);
    let env = signed::seal(&MeshItem::from(dev.clone()), &key, Some("MID"), &[]).unwrap();
    let (activation, connection) = ActivationDevice::create(
        &dev,
        "MC44-IZC3-IWZT-VCVZ-L2AG-HI4E-LOV2",
        "alice@example.com",
        mesh_schema::rights::Rights::DEFAULT,
    )
    .unwrap();
    vec![
        dev.into(),
        user.into(),
        connection.into(),
        activation.into(),
        ConnectionService {
            subject_udf: Some("S".into()),
            ..Default::default()
        }
        .into(),
        CatalogedDevice {
            udf: Some("MDDT".into()),
            enveloped_profile_device: Some(env.clone()),
            ..Default::default()
        }
        .into(),
        CatalogedCredential {
            service: Some("example.com".into()),
            username: Some("alice".into()),
            password: Some("pw".into()),
            ..Default::default()
        }
        .into(),
        CatalogedNetwork {
            protocol: Some("wifi".into()),
            service: Some("home".into()),
            ..Default::default()
        }
        .into(),
        CatalogedBookmark {
            uri: Some("https://example.com/".into()),
            title: Some("Example".into()),
            ..Default::default()
        }
        .into(),
        CatalogedTask {
            title: Some("Dentist".into()),
            key: Some("T1".into()),
            enveloped_task: Some(env.clone()),
            ..Default::default()
        }
        .into(),
        CatalogedContact {
            key: Some("bob@example.com".into()),
            contact: Some(
                ContactPerson {
                    common_names: vec![PersonName {
                        full_name: Some("Bob".into()),
                        ..Default::default()
                    }],
                    ..Default::default()
                }
                .into(),
            ),
            ..Default::default()
        }
        .into(),
        CatalogedApplicationSsh {
            key: Some("laptop".into()),
            public_key: Some("ssh-ed25519 AAAA".into()),
            ..Default::default()
        }
        .into(),
        CatalogedPublication {
            id: Some("P".into()),
            enveloped_data: Some(env.clone()),
            ..Default::default()
        }
        .into(),
        MessagePin {
            message_id: Some("ACCL".into()),
            automatic: Some(true),
            ..Default::default()
        }
        .into(),
        RequestConnection {
            message_id: Some("N".into()),
            authenticated_data: Some(env.clone()),
            client_nonce: Some(vec![1, 2, 3]),
            ..Default::default()
        }
        .into(),
        AcknowledgeConnection {
            server_nonce: Some(vec![9; 16]),
            witness: Some("KB3G".into()),
            ..Default::default()
        }
        .into(),
        RespondConnection {
            result: Some("Accept".into()),
            ..Default::default()
        }
        .into(),
        MessageComplete {
            references: vec![Reference {
                message_id: Some("M".into()),
                relationship: Some("Read".into()),
                ..Default::default()
            }],
            ..Default::default()
        }
        .into(),
        MessageContact {
            subject: Some("hello".into()),
            ..Default::default()
        }
        .into(),
        GroupInvitation {
            text: Some("join".into()),
            ..Default::default()
        }
        .into(),
        RequestConfirmation {
            text: Some("ok?".into()),
            ..Default::default()
        }
        .into(),
        ResponseConfirmation {
            accept: Some(true),
            request: Some(env),
            ..Default::default()
        }
        .into(),
        MessageClaim {
            publication_id: Some("P".into()),
            ..Default::default()
        }
        .into(),
    ]
}

#[test]
fn every_type_round_trips_in_json_and_jsonb() {
    for item in samples() {
        let json = item.to_json().unwrap();
        assert!(
            json.starts_with(&format!("{{\"{}\":", item.type_name())),
            "{json}"
        );
        assert_eq!(
            MeshItem::from_bytes(json.as_bytes()).unwrap(),
            item,
            "{}",
            item.type_name()
        );
        assert_eq!(
            MeshItem::from_bytes(&item.to_jsonb().unwrap()).unwrap(),
            item,
            "{}",
            item.type_name()
        );
    }
    assert!(MeshItem::from_bytes(b"{\"NoSuchThing\":{}}").is_err());
    assert!(MeshItem::from_bytes(b"{\"ProfileDevice\":").is_err());
}

#[test]
fn sealed_profiles_verify_and_tampering_is_refused() {
    let (s, dev) = device();
    let udf = dev.check().unwrap();
    let key = signer_of(&s, "ProfileSignature");
    let env = signed::seal(&dev.clone().into(), &key, Some(&udf), &[]).unwrap();
    assert_eq!(signed::verify_profile_device(&env).unwrap().1, udf);
    let reread = DareEnvelope::parse(env.to_json().unwrap().as_bytes()).unwrap();
    assert_eq!(signed::verify_profile_device(&reread).unwrap().0, dev);

    // A changed field: the digest no longer matches.
    let mut changed = env.clone();
    let text = String::from_utf8(changed.payload.clone())
        .unwrap()
        .replace("laptop", "desktop");
    changed.payload = text.into_bytes();
    assert!(matches!(
        signed::verify_profile_device(&changed),
        Err(SchemaError::Dare(DareError::DigestMismatch))
    ));

    // A changed key (re-signed by the attacker's key, digest recomputed): the key no longer
    // matches its UDF, or the signer is not the profile's key.
    let mut forged = dev.clone();
    let other = ProfileDevice::from_seed(&seed(256), None).unwrap();
    forged.encryption = other.encryption.clone().map(|mut k| {
        k.udf = dev.encryption.as_ref().unwrap().udf.clone();
        k
    });
    let env2 = signed::seal(&forged.into(), &key, Some(&udf), &[]).unwrap();
    assert!(matches!(
        signed::verify_profile_device(&env2),
        Err(SchemaError::KeyMismatch { .. })
    ));

    // The right profile signed by the wrong key.
    let wrong = PrivateKey::generate(Algorithm::Ed448);
    let env3 = signed::seal(&dev.into(), &wrong, Some(&udf), &[]).unwrap();
    match signed::verify_profile_device(&env3) {
        Err(SchemaError::WrongSigner {
            signer, expected, ..
        }) => {
            assert_eq!(signer, wrong.public_key().udf());
            assert_eq!(expected, udf);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn activation_keys_act_for_the_connection() {
    let (s, dev) = device();
    let (account_seed, user) = account();
    let account_udf = user.check().unwrap();
    let (activation, connection) = ActivationDevice::create(
        &dev,
        &account_udf,
        "alice@example.com",
        mesh_schema::rights::Rights::DEFAULT,
    )
    .unwrap();
    let keys = activation.device_keys(&s, &connection).unwrap();
    // A signature by the combined private key verifies under the published connection key.
    let published = connection
        .signature
        .as_ref()
        .unwrap()
        .public_key("Signature")
        .unwrap();
    let sig = keys.signature.sign(b"message").unwrap();
    published.verify(b"message", &sig).unwrap();
    // Encryption to the connection's key decrypts with the combined key.
    let env = DareEnvelope::encode(
        b"for the device",
        &mesh_dare::EnvelopeOptions {
            recipients: vec![&connection
                .encryption
                .as_ref()
                .unwrap()
                .public_key("Encryption")
                .unwrap()],
            ..Default::default()
        },
    )
    .unwrap();
    let mut ring = KeyRing::new();
    ring.add_private(keys.encryption.clone());
    assert_eq!(env.plaintext(&ring).unwrap(), b"for the device");
    // Another device's seed does not fit this activation.
    let (other, _) = device();
    assert!(activation.device_keys(&other, &connection).is_err());
    // The connection is signed by the administrator key; a device key is not entitled.
    let admin = signer_of(&account_seed, "AdministratorSignature");
    let sealed = signed::seal(&connection.clone().into(), &admin, None, &[]).unwrap();
    signed::verify_signed_by(&sealed, &admin.public_key(), "connection", &KeyRing::new()).unwrap();
    let by_device = signed::seal(&connection.into(), &keys.signature, None, &[]).unwrap();
    assert!(matches!(
        signed::verify_signed_by(
            &by_device,
            &admin.public_key(),
            "connection",
            &KeyRing::new()
        ),
        Err(SchemaError::WrongSigner { .. })
    ));
}
