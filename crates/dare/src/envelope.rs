//! DARE envelopes (dare-12 §3, §5.1): `[header, payload, trailer]` in JSON or JSON-B; encoding
//! with signatures and encryption; verification and decryption with typed errors.
//!
//! What a signature covers follows the published data (INTEROP-NOTES, "DARE envelope
//! signatures"): each signature is over the 64-octet SHA-2-512 PayloadDigest of the payload as
//! carried (the ciphertext when encrypted). The header, ContentMetaData included, is not covered.

use mesh_crypto::{PrivateKey, PublicKey};
use mesh_encoding::Value;
use sha2::{Digest, Sha512};

use crate::crypt::{self, BaseSeed};
use crate::keys::KeyRing;
use crate::schema::{
    ContentMeta, DareHeader, DareSignature, DareTrailer, DIGEST_S512, ENC_A256CBC,
};
use crate::{DareError, Result};

/// A DARE envelope.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DareEnvelope {
    pub header: DareHeader,
    /// The payload as carried: ciphertext when the envelope is encrypted. Empty when detached.
    pub payload: Vec<u8>,
    /// The payload is carried elsewhere; the trailer's digest and signatures still cover it.
    pub detached: bool,
    pub trailer: Option<DareTrailer>,
}

/// What to do when making an envelope.
#[derive(Default)]
pub struct EnvelopeOptions<'a> {
    pub meta: Option<ContentMeta>,
    pub envelope_id: Option<String>,
    pub signers: Vec<&'a PrivateKey>,
    pub recipients: Vec<&'a PublicKey>,
    /// Write the PayloadDigest even when nothing is signed.
    pub digest: bool,
    /// Leave the payload out of the envelope (it travels separately).
    pub detached: bool,
    /// Encrypt under a base seed the reader already holds (an EARL key, say) instead of to
    /// recipients; the string becomes the header's key identifier.
    pub symmetric: Option<(BaseSeed, String)>,
}

/// The outcome of checking an envelope's signatures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verification {
    /// Key identifiers whose signatures verified.
    pub valid: Vec<String>,
    /// Key identifiers for which no key was available; their signatures are unchecked.
    pub unknown: Vec<String>,
}

/// Nanoseconds spent checking signatures in this process (for the service load benchmark).
pub static VERIFY_NANOS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

pub fn sha512(data: &[u8]) -> [u8; 64] {
    Sha512::digest(data).into()
}

fn map_decode(e: mesh_encoding::EncodingError) -> DareError {
    match e {
        mesh_encoding::EncodingError::Truncated(at) => {
            DareError::Truncated(format!("envelope ends at offset {at}"))
        }
        other => DareError::Encoding(other),
    }
}

impl DareEnvelope {
    /// Make an envelope for `plaintext`: encrypt to the recipients (if any), then digest and
    /// sign with the signers (if any).
    pub fn encode(plaintext: &[u8], options: &EnvelopeOptions<'_>) -> Result<Self> {
        let mut header = DareHeader {
            envelope_id: options.envelope_id.clone(),
            ..Default::default()
        };
        if let Some(meta) = &options.meta {
            header.set_content_meta(meta)?;
        }
        let mut trailer = DareTrailer::default();
        let payload = if options.recipients.is_empty() && options.symmetric.is_none() {
            plaintext.to_vec()
        } else {
            let seed = match &options.symmetric {
                Some((seed, kid)) => {
                    header.key_identifier = Some(kid.clone());
                    seed.clone()
                }
                None => BaseSeed::generate(),
            };
            let salt = crypt::new_salt();
            for recipient in &options.recipients {
                header
                    .recipients
                    .push(crypt::recipient_for(&seed, recipient)?);
            }
            let keys = crypt::payload_keys(&seed, &salt);
            let ciphertext = crypt::encrypt(&keys, plaintext);
            trailer.mac = Some(crypt::mac(&keys, &ciphertext));
            header.encryption_algorithm = Some(ENC_A256CBC.into());
            header.salt = Some(salt);
            ciphertext
        };
        if options.digest || !options.signers.is_empty() {
            header.digest_algorithm = Some(DIGEST_S512.into());
            let digest = sha512(&payload);
            for signer in &options.signers {
                trailer.signatures.push(DareSignature {
                    algorithm: Some(DIGEST_S512.into()),
                    key_identifier: Some(signer.public_key().udf()),
                    signature_value: Some(signer.sign(&digest)?),
                    ..Default::default()
                });
            }
            trailer.payload_digest = Some(digest.to_vec());
        }
        Ok(DareEnvelope {
            header,
            detached: options.detached,
            payload: if options.detached {
                Vec::new()
            } else {
                payload
            },
            trailer: (!trailer.is_empty()).then_some(trailer),
        })
    }

    /// Read an envelope from JSON or JSON-B. A single-member object wrapping the envelope array
    /// (`{"DareEnvelope": […]}`, `{"EnvelopedProfileDevice": […]}`) is unwrapped.
    pub fn parse(data: &[u8]) -> Result<Self> {
        if data.iter().all(|b| b.is_ascii_whitespace()) {
            return Err(DareError::Truncated("no data".into()));
        }
        // JSON-B shares JSON's structural characters; its reader takes JSON text as well.
        let value = mesh_encoding::jsonb::from_slice(data).map_err(map_decode)?;
        Self::from_value(value)
    }

    /// The envelope from a decoded value (see [`Self::parse`]).
    pub fn from_value(value: Value) -> Result<Self> {
        let items = match value {
            Value::Array(items) => items,
            Value::Object(mut members) if members.len() == 1 => match members.pop() {
                Some((_, Value::Array(items))) => items,
                _ => return Err(DareError::Malformed("expected an envelope array".into())),
            },
            _ => return Err(DareError::Malformed("expected an envelope array".into())),
        };
        if items.len() < 2 || items.len() > 3 {
            return Err(DareError::Malformed(format!(
                "an envelope has a header, a payload and an optional trailer, found {} items",
                items.len()
            )));
        }
        let mut items = items.into_iter();
        let header_value = items.next().expect("length checked");
        if !matches!(header_value, Value::Object(_)) {
            return Err(DareError::Malformed("the header is not an object".into()));
        }
        let header: DareHeader = mesh_encoding::from_value(header_value)
            .map_err(|e| DareError::Malformed(format!("header: {e}")))?;
        let (payload, detached) = match items.next().expect("length checked") {
            Value::String(s) => (
                mesh_encoding::base64url::decode(&s)
                    .map_err(|e| DareError::Malformed(format!("payload: {e}")))?,
                false,
            ),
            Value::Binary(b) => (b, false),
            Value::Null => (Vec::new(), true),
            _ => {
                return Err(DareError::Malformed(
                    "the payload is not binary data".into(),
                ))
            }
        };
        let trailer = match items.next() {
            None | Some(Value::Null) => None,
            Some(v @ Value::Object(_)) => Some(
                mesh_encoding::from_value(v)
                    .map_err(|e| DareError::Malformed(format!("trailer: {e}")))?,
            ),
            Some(_) => return Err(DareError::Malformed("the trailer is not an object".into())),
        };
        Ok(DareEnvelope {
            header,
            payload,
            detached,
            trailer,
        })
    }

    pub fn to_value(&self) -> Result<Value> {
        let mut items = vec![
            mesh_encoding::to_value(&self.header)?,
            if self.detached {
                Value::Null
            } else {
                Value::Binary(self.payload.clone())
            },
        ];
        if let Some(trailer) = &self.trailer {
            items.push(mesh_encoding::to_value(trailer)?);
        }
        Ok(Value::Array(items))
    }

    /// Compact JSON: `[{header}, "payload", {trailer}]`.
    pub fn to_json(&self) -> Result<String> {
        Ok(mesh_encoding::json::to_string(&self.to_value()?)?)
    }

    /// JSON-B, with the payload as a binary data item.
    pub fn to_jsonb(&self) -> Result<Vec<u8>> {
        Ok(mesh_encoding::jsonb::to_vec(&self.to_value()?))
    }

    /// The members of the header, trailer, recipient entries, signatures and ContentMetaData
    /// that this implementation does not know (they are kept, and written back as they came).
    /// A protocol that wants every octet to count refuses an envelope that has any.
    pub fn unknown_members(&self) -> Vec<String> {
        let mut names: Vec<String> = self.header.extra.keys().cloned().collect();
        if let Some(trailer) = &self.trailer {
            names.extend(trailer.extra.keys().cloned());
            for s in &trailer.signatures {
                names.extend(s.extra.keys().cloned());
            }
        }
        for s in &self.header.signatures {
            names.extend(s.extra.keys().cloned());
        }
        for r in &self.header.recipients {
            names.extend(r.extra.keys().cloned());
        }
        if let Ok(meta) = self.content_meta() {
            names.extend(meta.extra.keys().cloned());
        }
        names
    }

    /// The members present that the reference allows but the protocol binding never writes:
    /// trailer fields carried in the header (signatures, digests, SignedData), Malt, cloaked
    /// data, PKIX certificates and manifests in signatures, per-recipient key data, a policy.
    /// A binding that wants every octet to count refuses an envelope that has any.
    pub fn members_outside_binding(&self) -> Vec<&'static str> {
        let h = &self.header;
        let mut out = Vec::new();
        for (present, name) in [
            (!h.signatures.is_empty(), "signatures (in the header)"),
            (h.signed_data.is_some(), "SignedData (in the header)"),
            (h.payload_digest.is_some(), "PayloadDigest (in the header)"),
            (h.chain_digest.is_some(), "ChainDigest (in the header)"),
            (h.tree_digest.is_some(), "TreeDigest (in the header)"),
            (h.malt.is_some(), "Malt"),
            (h.cloaked.is_some(), "cloaked"),
            (h.policy.is_some(), "policy"),
        ] {
            if present {
                out.push(name);
            }
        }
        let signatures = self
            .trailer
            .iter()
            .flat_map(|t| t.signatures.iter())
            .chain(h.signatures.iter());
        for s in signatures {
            if s.certificate.is_some() || s.path.is_some() || s.manifest.is_some() {
                out.push("cert, path or Manifest (in a signature)");
            }
        }
        if h.recipients.iter().any(|r| r.recipient_key_data.is_some()) {
            out.push("rkd (in a recipient)");
        }
        if self
            .trailer
            .as_ref()
            .is_some_and(|t| t.signed_data.is_some())
        {
            out.push("SignedData");
        }
        out
    }

    pub fn is_encrypted(&self) -> bool {
        self.header
            .encryption_algorithm
            .as_deref()
            .is_some_and(|e| e != "none")
    }

    pub fn content_meta(&self) -> Result<ContentMeta> {
        self.header.content_meta()
    }

    /// Check the PayloadDigest (when the envelope has one) against `payload`, and return the
    /// digest to check signatures against.
    /// The reference's header inherits the trailer's fields, so a PayloadDigest may be in
    /// either or both; every one present must be the payload's.
    fn checked_digest(&self, payload: &[u8]) -> Result<Option<[u8; 64]>> {
        let claims: Vec<&Vec<u8>> = self
            .trailer
            .as_ref()
            .and_then(|t| t.payload_digest.as_ref())
            .into_iter()
            .chain(self.header.payload_digest.as_ref())
            .collect();
        if claims.is_empty() {
            return Ok(None);
        }
        match self.header.digest_algorithm.as_deref() {
            None | Some(DIGEST_S512) => {}
            Some(other) => {
                return Err(DareError::Unsupported(format!(
                    "digest algorithm '{other}'"
                )))
            }
        }
        let actual = sha512(payload);
        if claims.iter().any(|claimed| claimed.as_slice() != actual) {
            return Err(DareError::DigestMismatch);
        }
        Ok(Some(actual))
    }

    /// Check the digest and every signature with the keys in `keys`.
    pub fn verify(&self, keys: &KeyRing) -> Result<Verification> {
        if self.detached {
            return Err(DareError::Malformed(
                "the payload is detached: use verify_detached with the payload".into(),
            ));
        }
        self.verify_detached(keys, &self.payload)
    }

    /// As [`Self::verify`], with the payload supplied separately.
    pub fn verify_detached(&self, keys: &KeyRing, payload: &[u8]) -> Result<Verification> {
        if self.signatures().next().is_none() {
            return Err(DareError::NotSigned);
        }
        let digest = self
            .checked_digest(payload)?
            .unwrap_or_else(|| sha512(payload));
        self.verify_signatures_over(keys, &digest)
    }

    /// A digest that covers more than the payload, for a protocol that must bind its metadata:
    /// `SHA-512(label ‖ 0 ‖ SHA-512(payload) ‖ SHA-512(ContentMetaData octets) [‖
    /// SHA-512(kid₁ ‖ 0 ‖ kid₂ ‖ 0 …)])`, the last part, the recipients' key identifiers, when
    /// `recipients` is set. The ContentMetaData octets are kept as they are in JSON and JSON-B
    /// alike, so re-encoding an envelope does not change the digest; the container's
    /// SequenceInfo is not covered (a container adds it on append).
    pub fn covered_digest(&self, label: &str, recipients: bool) -> [u8; 64] {
        let meta = self.header.content_meta_data.as_deref().unwrap_or(&[]);
        let mut h = Sha512::new();
        h.update(label.as_bytes());
        h.update([0]);
        h.update(Sha512::digest(&self.payload));
        h.update(Sha512::digest(meta));
        if recipients {
            let mut kids = Sha512::new();
            for r in &self.header.recipients {
                kids.update(r.key_identifier.as_deref().unwrap_or_default().as_bytes());
                kids.update([0]);
            }
            h.update(kids.finalize());
        }
        h.finalize().into()
    }

    /// Add a signature by `key` over `signed` (a [`Self::covered_digest`], say) rather than
    /// over the PayloadDigest; check it with [`Self::verify_over`].
    pub fn sign_over(&mut self, key: &PrivateKey, signed: &[u8]) -> Result<()> {
        let signature = DareSignature {
            algorithm: Some(DIGEST_S512.into()),
            key_identifier: Some(key.public_key().udf()),
            signature_value: Some(key.sign(signed)?),
            ..Default::default()
        };
        self.trailer
            .get_or_insert_with(Default::default)
            .signatures
            .push(signature);
        Ok(())
    }

    /// Check every signature as made over `signed` (a value that covers the payload digest
    /// and whatever else a protocol binds to it) rather than over the PayloadDigest alone. The
    /// PayloadDigest itself is checked against the payload first.
    pub fn verify_over(&self, keys: &KeyRing, signed: &[u8]) -> Result<Verification> {
        if self.signatures().next().is_none() {
            return Err(DareError::NotSigned);
        }
        if self.detached {
            return Err(DareError::Malformed("the payload is detached".into()));
        }
        self.checked_digest(&self.payload)?;
        self.verify_signatures_over(keys, signed)
    }

    /// Every signature the envelope carries: the trailer's, then the header's (the reference
    /// puts them in the header of some envelopes, its PollClaimResponse's for one).
    pub fn signatures(&self) -> impl Iterator<Item = &DareSignature> {
        self.trailer
            .iter()
            .flat_map(|t| t.signatures.iter())
            .chain(self.header.signatures.iter())
    }

    fn verify_signatures_over(&self, keys: &KeyRing, digest: &[u8]) -> Result<Verification> {
        let mut outcome = Verification::default();
        for signature in self.signatures() {
            match signature.algorithm.as_deref() {
                None | Some(DIGEST_S512) => {}
                Some(other) => {
                    return Err(DareError::Unsupported(format!(
                        "signature digest '{other}'"
                    )))
                }
            }
            let kid = signature
                .key_identifier
                .clone()
                .ok_or_else(|| DareError::Malformed("signature without a key identifier".into()))?;
            let value = signature
                .signature_value
                .as_ref()
                .ok_or_else(|| DareError::Malformed(format!("signature by {kid} has no value")))?;
            match keys.public_key(&kid) {
                None => outcome.unknown.push(kid),
                Some(key) => {
                    let started = std::time::Instant::now();
                    let checked = key.verify(digest, value);
                    VERIFY_NANOS.fetch_add(
                        started.elapsed().as_nanos() as u64,
                        std::sync::atomic::Ordering::Relaxed,
                    );
                    checked.map_err(|_| DareError::BadSignature { kid: kid.clone() })?;
                    outcome.valid.push(kid);
                }
            }
        }
        Ok(outcome)
    }

    /// Verify and require every signer to be known: an unknown signer is an error naming it.
    pub fn verify_strict(&self, keys: &KeyRing) -> Result<Vec<String>> {
        let outcome = self.verify(keys)?;
        if let Some(kid) = outcome.unknown.into_iter().next() {
            return Err(DareError::UnknownSigner { kid });
        }
        Ok(outcome.valid)
    }

    /// Check the digest (if any) and return the plaintext, decrypting with a key from `keys`
    /// when the envelope is encrypted.
    pub fn plaintext(&self, keys: &KeyRing) -> Result<Vec<u8>> {
        self.checked_digest(&self.payload)?;
        if !self.is_encrypted() {
            return Ok(self.payload.clone());
        }
        let seed = self.base_seed(keys)?;
        self.decrypt_with_seed(&seed)
    }

    /// Recover the base seed with whichever recipient entry `keys` holds a private key for.
    pub fn base_seed(&self, keys: &KeyRing) -> Result<BaseSeed> {
        if !self.is_encrypted() {
            return Err(DareError::NotEncrypted);
        }
        for entry in &self.header.recipients {
            if let Some(kid) = &entry.key_identifier {
                if let Some(key) = keys.private_key(kid) {
                    return crypt::seed_from_recipient(entry, key);
                }
                if let Some(epk) = crypt::recipient_ephemeral_bytes(entry) {
                    if let Some(value) = keys.agreement(kid, epk) {
                        return crypt::seed_from_agreement(entry, value);
                    }
                }
            }
        }
        let kids: Vec<&str> = self
            .header
            .recipients
            .iter()
            .filter_map(|r| r.key_identifier.as_deref())
            .collect();
        if kids.is_empty() {
            return Err(DareError::NoDecryptionKey(format!(
                "none; encrypted under the symmetric key {} (an EARL key, say)",
                self.header.key_identifier.as_deref().unwrap_or("not named")
            )));
        }
        Err(DareError::NoDecryptionKey(kids.join(", ")))
    }

    /// The recipient entry for the key `udf`, if the envelope has one.
    pub fn recipient_for(&self, udf: &str) -> Option<&crate::schema::DareRecipient> {
        self.header.recipients.iter().find(|r| {
            r.key_identifier
                .as_deref()
                .is_some_and(|kid| crate::keys::kid_matches(kid, udf))
        })
    }

    /// Decrypt the payload with a known base seed; the payload MAC must be there and verify.
    pub fn decrypt_with_seed(&self, seed: &BaseSeed) -> Result<Vec<u8>> {
        self.decrypt(seed, true)
    }

    /// Decrypt published data that carries no payload MAC (dare-12's Appendix A example; the
    /// reference implementation writes none), without integrity. A MAC that is there is still
    /// checked. Never for anything an attacker can send and then see the answer to: that is a
    /// padding oracle. Nothing in the protocol or the service uses it.
    pub fn decrypt_unauthenticated(&self, seed: &BaseSeed) -> Result<Vec<u8>> {
        self.decrypt(seed, false)
    }

    fn decrypt(&self, seed: &BaseSeed, mac_required: bool) -> Result<Vec<u8>> {
        match self.header.encryption_algorithm.as_deref() {
            Some(ENC_A256CBC) => {}
            Some(other) => {
                return Err(DareError::Unsupported(format!(
                    "encryption algorithm '{other}'"
                )))
            }
            None => return Err(DareError::NotEncrypted),
        }
        let salt = self
            .header
            .salt
            .as_ref()
            .ok_or_else(|| DareError::Malformed("encrypted envelope without a Salt".into()))?;
        let keys = crypt::payload_keys(seed, salt);
        // Integrity before padding: ciphertext whose MAC is missing or wrong is never decrypted,
        // so no answer can depend on its padding (a padding oracle). Everything this
        // implementation encrypts carries the MAC.
        match self.trailer.as_ref().and_then(|t| t.mac.as_ref()) {
            Some(tag) => crypt::check_mac(&keys, &self.payload, tag)?,
            None if mac_required => return Err(DareError::BadMac),
            None => {}
        }
        crypt::decrypt(&keys, &self.payload)
    }
}

/// Envelopes nested in other Mesh objects (`EnvelopedProfileDevice` and the like) are written
/// as their JSON array.
impl serde::Serialize for DareEnvelope {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        let text = self.to_json().map_err(serde::ser::Error::custom)?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(serde::ser::Error::custom)?;
        value.serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for DareEnvelope {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        let text = serde_json::to_vec(&value).map_err(serde::de::Error::custom)?;
        DareEnvelope::parse(&text).map_err(serde::de::Error::custom)
    }
}
