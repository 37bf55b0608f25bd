//! The web-service binding (protocol-09 §5): a request or response is a DARE envelope whose
//! payload is the tagged message, POSTed to `/.well-known/mmm/`.
//!
//! Authentication and confidentiality as this implementation does them (§5.3 leaves the
//! mechanism to draft-hallambaker-mesh-security, which gives no wire format):
//! * every request envelope carries ContentMetaData with a fresh `UniqueId` (a 128- or 256-bit
//!   UDF nonce, nothing else) and `Created`; the service refuses a request older than
//!   [`FRESHNESS_SECONDS`] or one whose nonce it has seen (replay);
//! * what authenticates a request — a signature, or a ticket's MAC — is computed over the
//!   [`binding_digest`]: the payload digest *and* the ContentMetaData octets. Plain DARE
//!   signatures cover the payload digest alone (the published data shows it), which would leave
//!   the nonce and time in an unsigned header for anyone to rewrite on a captured request;
//!   here no octet that decides freshness can change without breaking authentication;
//! * responses name the nonce of the request they answer (ContentMetaData `Request`), under the
//!   service's signature over their own binding digest, so a response cannot be replayed to, or
//!   swapped into, another request;
//! * encrypted requests and responses must carry the payload MAC, which is checked before any
//!   padding is looked at; every failure to open one gets the same answer;
//! * requests for an account are signed by the device's connection Signature key and carry the
//!   ConnectionDevice the account's administrator key signed (profile authentication); Hello is
//!   unauthenticated (null authentication), Connect and Complete are signed by the device's
//!   profile key;
//! * requests are encrypted to the service's encryption key (from Hello), responses to the
//!   requesting device's key, and responses are signed by the service.

use mesh_crypto::{PrivateKey, PublicKey};
use mesh_dare::schema::{DareSignature, KeyValue};
use mesh_dare::{ContentMeta, DareEnvelope, EnvelopeOptions, KeyRing};
use time::OffsetDateTime;

use crate::messages::{Request, Response};
use crate::{ProtocolError, Result};

/// The path every request is POSTed to.
pub const WELL_KNOWN: &str = "/.well-known/mmm/";
/// The DNS SRV prefix of the service (§5.1).
pub const SRV_PREFIX: &str = "_mmm._tcp";
/// Default largest request the service accepts (the Hello constraints can say otherwise).
pub const DEFAULT_MAX_REQUEST: usize = 64 * 1024;
/// How old (or how far in the future) a request may be.
pub const FRESHNESS_SECONDS: i64 = 300;

pub const CONTENT_TYPE: &str = "application/mmm";

fn now_text() -> String {
    OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| OffsetDateTime::now_utc())
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The encodings of §5.4 this implementation speaks. The content type of the payload is in the
/// envelope's ContentMetaData; a response uses the encoding of its request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    #[default]
    Json,
    JsonB,
}

pub const JSON_TYPE: &str = "application/json";
pub const JSONB_TYPE: &str = "application/x-json-b";

impl Encoding {
    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Json => JSON_TYPE,
            Encoding::JsonB => JSONB_TYPE,
        }
    }

    fn of(meta: &ContentMeta) -> Encoding {
        if meta.content_type.as_deref() == Some(JSONB_TYPE) {
            Encoding::JsonB
        } else {
            Encoding::Json
        }
    }

    fn encode<T: serde::Serialize>(self, value: &T) -> Result<Vec<u8>> {
        Ok(match self {
            Encoding::Json => mesh_encoding::to_json(value)?.into_bytes(),
            Encoding::JsonB => mesh_encoding::to_jsonb(value)?,
        })
    }
}

/// What authenticates a request.
#[derive(Clone, Copy)]
pub enum Authenticator<'a> {
    /// Nothing: Hello, and the transactions that anyone may make.
    None,
    /// A signature by this key (a device's connection or profile key, a service's key).
    Key(&'a PrivateKey),
    /// Signatures by each of these keys: a device's connection key and its account's
    /// administrator key, for what only an administrator may ask.
    Keys(&'a [&'a PrivateKey]),
    /// A ticket (§5.3.4): its id, and the MAC key the service gave with it.
    Ticket { id: &'a str, key: &'a [u8] },
}

/// The ContentMetaData member naming a request's ticket.
pub const TICKET: &str = "Ticket";
/// The ContentMetaData member of a response naming the nonce of its request.
pub const IN_RESPONSE_TO: &str = "Request";
/// The `alg` of a ticket MAC in the trailer's signature list.
pub const TICKET_MAC_ALG: &str = "HS256";
/// The sizes, in bits, of the nonces a request may carry.
pub const NONCE_BITS: [usize; 2] = [128, 256];

/// The value a request's or response's signature or MAC covers:
/// `SHA-512("MeshBinding" ‖ 0 ‖ SHA-512(payload) ‖ SHA-512(ContentMetaData) ‖
/// SHA-512(kid₁ ‖ 0 ‖ kid₂ ‖ 0 …))`, the kids being those of the envelope's recipients. The
/// ContentMetaData octets are kept as sent in both JSON and JSON-B, so re-encoding an envelope
/// does not change it, while any change to the nonce, the time, the message type, the content
/// type or the ticket named does; and a request is bound to the service it was encrypted to (a
/// service cannot re-wrap a request it received for another service holding the same account).
pub fn binding_digest(envelope: &DareEnvelope) -> [u8; 64] {
    envelope.covered_digest("MeshBinding", true)
}

/// The MAC a ticket puts on a request: HMAC-SHA-256 under the ticket key over the request's
/// binding digest.
pub fn ticket_mac(key: &[u8], binding_digest: &[u8]) -> Vec<u8> {
    use hmac::Mac;
    let mut m = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key");
    m.update(binding_digest);
    m.finalize().into_bytes().to_vec()
}

/// A sealed request and the nonce it carries (which its response must name).
pub struct SealedRequest {
    pub bytes: Vec<u8>,
    pub nonce: String,
}

fn seal(
    payload: &[u8],
    name: &str,
    authenticator: Authenticator<'_>,
    recipient: Option<&PublicKey>,
    encoding: Encoding,
    key_values: Vec<KeyValue>,
) -> Result<SealedRequest> {
    let nonce = mesh_udf::random::nonce(128).to_string();
    let mut key_values = key_values;
    if let Authenticator::Ticket { id, .. } = authenticator {
        key_values.push(KeyValue {
            key: TICKET.into(),
            value: id.to_string(),
        });
    }
    let meta = ContentMeta {
        unique_id: Some(nonce.clone()),
        message_type: Some(name.to_string()),
        content_type: Some(encoding.content_type().to_string()),
        created: Some(now_text()),
        key_values,
        ..Default::default()
    };
    let mut env = DareEnvelope::encode(
        payload,
        &EnvelopeOptions {
            meta: Some(meta),
            recipients: recipient.into_iter().collect(),
            digest: true,
            ..Default::default()
        },
    )?;
    let signed = binding_digest(&env);
    match authenticator {
        Authenticator::None => {}
        Authenticator::Key(key) => env.sign_over(key, &signed)?,
        Authenticator::Keys(keys) => {
            for key in keys {
                env.sign_over(key, &signed)?;
            }
        }
        Authenticator::Ticket { id, key } => env
            .trailer
            .get_or_insert_with(Default::default)
            .signatures
            .push(DareSignature {
                algorithm: Some(TICKET_MAC_ALG.into()),
                key_identifier: Some(id.to_string()),
                signature_value: Some(ticket_mac(key, &signed)),
                ..Default::default()
            }),
    }
    let bytes = match encoding {
        Encoding::Json => env.to_json()?.into_bytes(),
        Encoding::JsonB => env.to_jsonb()?,
    };
    Ok(SealedRequest { bytes, nonce })
}

/// A request as the service received it: opened, fresh, its nonce well formed. Who sent it is
/// not known yet: that is what [`OpenedRequest::signed_by`] and [`OpenedRequest::ticket`] are
/// for.
pub struct OpenedRequest {
    pub request: Request,
    /// The request's encoding, which the response uses too.
    pub encoding: Encoding,
    pub envelope: DareEnvelope,
    /// The nonce, in its canonical presentation.
    pub nonce: String,
    /// What the request's signature or MAC must cover.
    pub binding_digest: [u8; 64],
}

impl OpenedRequest {
    /// Is the request signed, over its binding digest, by `key` (and by no key but known ones)?
    pub fn signed_by(&self, key: &PublicKey) -> std::result::Result<(), String> {
        self.signers_among(std::slice::from_ref(key)).map(|_| ())
    }

    /// The keys among `keys` that signed the request over its binding digest: at least one,
    /// and no signature by any other key.
    pub fn signers_among(&self, keys: &[PublicKey]) -> std::result::Result<Vec<String>, String> {
        let mut ring = KeyRing::new();
        for key in keys {
            ring.add_public(key.clone());
        }
        let outcome = self
            .envelope
            .verify_over(&ring, &self.binding_digest)
            .map_err(|e| e.to_string())?;
        if let Some(kid) = outcome.unknown.first() {
            return Err(format!("signed by an unknown key {kid}"));
        }
        if outcome.valid.is_empty() {
            return Err("not signed".into());
        }
        // Key identifiers are UDFs, which readers take in any case; here each must be written
        // as its key's own, so that no octet of a request can change and still verify.
        let udfs: Vec<String> = keys.iter().map(PublicKey::udf).collect();
        if let Some(kid) = outcome.valid.iter().find(|kid| !udfs.contains(kid)) {
            return Err(format!(
                "the key identifier {kid} is not written as its key's UDF"
            ));
        }
        Ok(outcome.valid)
    }

    /// The ticket id the request names, and the MAC it carries, if it is ticket-authenticated.
    pub fn ticket(&self) -> Option<(String, Vec<u8>)> {
        let meta = self.envelope.content_meta().ok()?;
        let id = meta
            .key_values
            .iter()
            .find(|kv| kv.key == TICKET)
            .map(|kv| kv.value.clone())?;
        let mac = self
            .envelope
            .trailer
            .as_ref()?
            .signatures
            .iter()
            .find(|s| {
                s.algorithm.as_deref() == Some(TICKET_MAC_ALG)
                    && s.key_identifier.as_deref() == Some(id.as_str())
            })
            .and_then(|s| s.signature_value.clone())
            .unwrap_or_default();
        Some((id, mac))
    }

    /// Does `mac` authenticate the request under the ticket key `key`? (Constant time.)
    pub fn ticket_mac_matches(&self, key: &[u8], mac: &[u8]) -> bool {
        use hmac::Mac;
        let mut m =
            <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key");
        m.update(&self.binding_digest);
        m.verify_slice(mac).is_ok()
    }
}

/// Seal a request in JSON, authenticated by `authenticator`, encrypted to the service's
/// `service_key`.
pub fn seal_request(
    request: &Request,
    authenticator: Authenticator<'_>,
    service_key: Option<&PublicKey>,
) -> Result<SealedRequest> {
    seal_request_in(request, authenticator, service_key, Encoding::Json)
}

/// As [`seal_request`], in `encoding` (JSON-B once the service's Hello advertised it).
pub fn seal_request_in(
    request: &Request,
    authenticator: Authenticator<'_>,
    service_key: Option<&PublicKey>,
    encoding: Encoding,
) -> Result<SealedRequest> {
    seal(
        &encoding.encode(request)?,
        request.name(),
        authenticator,
        service_key,
        encoding,
        Vec::new(),
    )
}

/// The one answer to a request that cannot be opened, whatever the reason (no key for it, a
/// wrapped key that does not unwrap, a missing or wrong MAC, bad padding, a payload that is
/// not a request): nothing in it tells one failure from another.
pub const UNREADABLE: &str = "the request cannot be opened";

/// Check a nonce: a UDF nonce of 128 or 256 bits, in its canonical presentation (so that one
/// nonce cannot be spelled two ways).
pub fn check_nonce(text: &str) -> Result<()> {
    let bad = || {
        ProtocolError::BadRequest(
            "the request's nonce (UniqueId) must be a 128- or 256-bit UDF nonce".into(),
        )
    };
    if text.len() > 96 {
        return Err(bad());
    }
    let udf = mesh_udf::Udf::parse(text).map_err(|_| bad())?;
    if udf.kind() != mesh_udf::UdfType::Nonce
        || !NONCE_BITS.contains(&(udf.body().len() * 8))
        || udf.to_string() != text
    {
        return Err(bad());
    }
    Ok(())
}

/// Open a request with the service's keys; check its nonce and freshness. Nothing here says
/// who sent it.
pub fn open_request(data: &[u8], service_keys: &KeyRing) -> Result<OpenedRequest> {
    let envelope = DareEnvelope::parse(data)
        .map_err(|e| ProtocolError::BadRequest(format!("not a DARE envelope: {e}")))?;
    // Every member of the envelope is one this binding knows: an unknown one would be carried
    // along unchecked (and a changed member name would go unnoticed).
    if let Some(name) = envelope.unknown_members().first() {
        return Err(ProtocolError::BadRequest(format!(
            "the request envelope has a member this service does not know: '{name}'"
        )));
    }
    if let Some(name) = envelope.members_outside_binding().first() {
        return Err(ProtocolError::BadRequest(format!(
            "the request envelope has a member this binding does not use: {name}"
        )));
    }
    // What the header says is checked before anything is decrypted, so that no answer about
    // it depends on whether the payload decrypts.
    let meta = envelope
        .content_meta()
        .map_err(|e| ProtocolError::BadRequest(e.to_string()))?;
    let encoding = Encoding::of(&meta);
    let nonce = meta
        .unique_id
        .ok_or_else(|| ProtocolError::BadRequest("the request has no nonce (UniqueId)".into()))?;
    check_nonce(&nonce)?;
    let created = meta
        .created
        .as_deref()
        .and_then(|c| mesh_encoding::datetime::parse(c).ok())
        .ok_or_else(|| ProtocolError::BadRequest("the request has no valid Created time".into()))?;
    let age = (OffsetDateTime::now_utc() - created).whole_seconds();
    if age.abs() > FRESHNESS_SECONDS {
        return Err(ProtocolError::Expired(age));
    }
    let unreadable = || ProtocolError::Unreadable(UNREADABLE.into());
    let plaintext = envelope.plaintext(service_keys).map_err(|_| unreadable())?;
    let request: Request = mesh_encoding::from_jsonb(&plaintext).map_err(|_| unreadable())?;
    let binding_digest = binding_digest(&envelope);
    Ok(OpenedRequest {
        request,
        encoding,
        envelope,
        nonce,
        binding_digest,
    })
}

/// Seal a response: signed by the service over its binding digest, naming the nonce of the
/// request it answers, encrypted to the device when its key is known.
pub fn seal_response(
    response: &Response,
    signer: &PrivateKey,
    recipient: Option<&PublicKey>,
    encoding: Encoding,
    request_nonce: Option<&str>,
) -> Result<Vec<u8>> {
    let name = match response {
        Response::MeshHelloResponse(_) => "MeshHelloResponse",
        _ => "MeshResponse",
    };
    let key_values = request_nonce
        .map(|n| KeyValue {
            key: IN_RESPONSE_TO.into(),
            value: n.to_string(),
        })
        .into_iter()
        .collect();
    Ok(seal(
        &encoding.encode(response)?,
        name,
        Authenticator::Key(signer),
        recipient,
        encoding,
        key_values,
    )?
    .bytes)
}

/// Open a response: when the service's signature key is known, check that the service signed
/// it (over its binding digest) and, when `request_nonce` is given, that it answers that
/// request; then decrypt with `keys`.
pub fn open_response(
    data: &[u8],
    keys: &KeyRing,
    service_signer: Option<&PublicKey>,
    request_nonce: Option<&str>,
) -> Result<Response> {
    let envelope = DareEnvelope::parse(data)
        .map_err(|e| ProtocolError::BadResponse(format!("not a DARE envelope: {e}")))?;
    if let Some(key) = service_signer {
        let mut ring = KeyRing::new();
        ring.add_public(key.clone());
        let outcome = envelope
            .verify_over(&ring, &binding_digest(&envelope))
            .map_err(|e| {
                ProtocolError::BadResponse(format!(
                    "the response is not signed by the service: {e}"
                ))
            })?;
        if !outcome.unknown.is_empty() || outcome.valid.is_empty() {
            return Err(ProtocolError::BadResponse(
                "the response is not signed by the service".into(),
            ));
        }
        if let Some(nonce) = request_nonce {
            let meta = envelope.content_meta()?;
            let answered = meta
                .key_values
                .iter()
                .find(|kv| kv.key == IN_RESPONSE_TO)
                .map(|kv| kv.value.as_str());
            match answered {
                Some(n) if n == nonce => {}
                // A request the service could not open (too large, malformed) is refused
                // without its nonce: such an answer is taken as the refusal it is, never as a
                // success.
                None => {
                    let response = open_payload(&envelope, keys)?;
                    if response.status().0 < 400 {
                        return Err(ProtocolError::BadResponse(
                            "a response that names no request is no answer to this one".into(),
                        ));
                    }
                    return Ok(response);
                }
                Some(_) => {
                    return Err(ProtocolError::BadResponse(
                        "the response answers another request (replayed or swapped)".into(),
                    ))
                }
            }
        }
    }
    open_payload(&envelope, keys)
}

fn open_payload(envelope: &DareEnvelope, keys: &KeyRing) -> Result<Response> {
    let plaintext = envelope
        .plaintext(keys)
        .map_err(|e| ProtocolError::BadResponse(format!("cannot open the response: {e}")))?;
    mesh_encoding::from_jsonb(&plaintext)
        .map_err(|e| ProtocolError::BadResponse(format!("not a Mesh response: {e}")))
}
