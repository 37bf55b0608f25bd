//! Mesh objects in signed DARE envelopes: sealing with the Mesh content metadata, reading, and
//! verification that the signer is entitled to sign (a profile by its own ProfileSignature key,
//! an assertion by the account's administrator key).

use mesh_crypto::{PrivateKey, PublicKey};
use mesh_dare::{ContentMeta, DareEnvelope, EnvelopeOptions, KeyRing};

use crate::item::MeshItem;
use crate::profile::{ProfileDevice, ProfileHost, ProfileService, ProfileUser};
use crate::{expect_item, Result, SchemaError};

pub const CONTENT_TYPE: &str = "application/mmm/object";

/// Now, to the second.
pub(crate) fn now_time() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc())
}

pub(crate) fn format_time(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn now() -> String {
    format_time(now_time())
}

/// Put `item` in an envelope signed by `signer` (and encrypted to `recipients`, if any).
pub fn seal(
    item: &MeshItem,
    signer: &PrivateKey,
    unique_id: Option<&str>,
    recipients: &[&PublicKey],
) -> Result<DareEnvelope> {
    seal_with(item, signer, unique_id, recipients, Vec::new())
}

/// Seal a message as the reference does: ContentMeta's UniqueId is the MessageId and the
/// EnvelopeId is the envelope id derived from it ([`crate::ids::envelope_id`]).
pub fn seal_message(
    item: &MeshItem,
    signer: &PrivateKey,
    message_id: &str,
    recipients: &[&PublicKey],
) -> Result<DareEnvelope> {
    let mut envelope = seal(item, signer, Some(message_id), recipients)?;
    envelope.header.envelope_id = Some(crate::ids::envelope_id(message_id)?);
    Ok(envelope)
}

/// Seal a connection acknowledgement, whose MessageId is the witness: the EnvelopeId is
/// derived as [`crate::ids::envelope_id_of_witness`] says.
pub fn seal_acknowledgement(
    item: &MeshItem,
    signer: &PrivateKey,
    witness: &str,
) -> Result<DareEnvelope> {
    let mut envelope = seal(item, signer, Some(witness), &[])?;
    envelope.header.envelope_id = Some(crate::ids::envelope_id_of_witness(witness)?);
    Ok(envelope)
}

/// As [`seal`], with more ContentMetaData members (`KeyValues`).
pub fn seal_with(
    item: &MeshItem,
    signer: &PrivateKey,
    unique_id: Option<&str>,
    recipients: &[&PublicKey],
    key_values: Vec<mesh_dare::schema::KeyValue>,
) -> Result<DareEnvelope> {
    let meta = ContentMeta {
        unique_id: unique_id.map(str::to_string),
        message_type: Some(item.type_name().to_string()),
        content_type: Some(CONTENT_TYPE.to_string()),
        created: Some(now()),
        key_values,
        ..Default::default()
    };
    let payload = item.to_json()?;
    Ok(DareEnvelope::encode(
        payload.as_bytes(),
        &EnvelopeOptions {
            meta: Some(meta),
            envelope_id: unique_id.map(str::to_string),
            signers: vec![signer],
            recipients: recipients.to_vec(),
            ..Default::default()
        },
    )?)
}

/// The object in an envelope, decrypted with `keys` if need be; signatures are not checked.
pub fn read(envelope: &DareEnvelope, keys: &KeyRing) -> Result<MeshItem> {
    MeshItem::from_bytes(&envelope.plaintext(keys)?)
}

/// An object whose envelope was checked to be signed by the key expected of it. Only this
/// module's verifying functions make one, so a value read without its signature checked
/// ([`read`]) cannot be passed where a checked one is needed.
#[derive(Debug, Clone)]
pub struct Verified<T> {
    value: T,
}

impl<T> Verified<T> {
    pub fn into_inner(self) -> T {
        self.value
    }

    /// The checked value turned into another (one of its parts, its typed form), still checked.
    pub fn map<U, E>(
        self,
        f: impl FnOnce(T) -> std::result::Result<U, E>,
    ) -> std::result::Result<Verified<U>, E> {
        Ok(Verified {
            value: f(self.value)?,
        })
    }
}

impl<T> std::ops::Deref for Verified<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

/// Check that `envelope` is signed by `expected` (and only keys whose signatures verify), and
/// return its object.
pub fn verify_signed_by(
    envelope: &DareEnvelope,
    expected: &PublicKey,
    what: &str,
    keys: &KeyRing,
) -> Result<Verified<MeshItem>> {
    let mut ring = keys.clone();
    ring.add_public(expected.clone());
    let outcome = envelope.verify(&ring).map_err(|e| match e {
        mesh_dare::DareError::NotSigned => SchemaError::Unsigned {
            what: what.to_string(),
        },
        other => other.into(),
    })?;
    let expected_udf = expected.udf();
    if !outcome
        .valid
        .iter()
        .any(|k| mesh_dare::keys::kid_matches(k, &expected_udf))
    {
        let signer = outcome
            .unknown
            .first()
            .or(outcome.valid.first())
            .cloned()
            .unwrap_or_default();
        return Err(SchemaError::WrongSigner {
            what: what.to_string(),
            signer,
            expected: expected_udf,
        });
    }
    Ok(Verified {
        value: read(envelope, keys)?,
    })
}

/// A self-signed profile: the signature must be by the profile's own ProfileSignature key and
/// the EnvelopeId, when present, must be the profile's UDF.
fn verify_self_signed(
    envelope: &DareEnvelope,
    profile_key: PublicKey,
    what: &str,
) -> Result<String> {
    let udf = profile_key.udf();
    verify_signed_by(envelope, &profile_key, what, &KeyRing::new())?;
    if let Some(id) = &envelope.header.envelope_id {
        if !mesh_dare::keys::kid_matches(id, &udf) {
            return Err(SchemaError::Invalid(format!(
                "the envelope id {id} is not the {what}'s UDF {udf}"
            )));
        }
    }
    Ok(udf)
}

/// Verify a self-signed profile of one type: its keys match their UDFs and its own
/// ProfileSignature key signed it. Returns the profile and its UDF.
macro_rules! verify_profile {
    ($(#[$doc:meta])* $fn:ident, $ty:ident, $what:literal) => {
        $(#[$doc])*
        pub fn $fn(envelope: &DareEnvelope) -> Result<($ty, String)> {
            let item = read(envelope, &KeyRing::new())?;
            let profile = expect_item!(item, $ty)?;
            profile.check()?;
            let key = crate::key::required(&profile.profile_signature, "ProfileSignature")?;
            let udf = verify_self_signed(envelope, key, $what)?;
            Ok((profile, udf))
        }
    };
}

verify_profile!(verify_profile_device, ProfileDevice, "device profile");
verify_profile!(verify_profile_user, ProfileUser, "account profile");
verify_profile!(verify_profile_service, ProfileService, "service profile");
verify_profile!(verify_profile_host, ProfileHost, "host profile");
