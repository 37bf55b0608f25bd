//! The web-service binding (protocol-09 §5): a request or response is a DARE envelope whose
//! payload is the tagged message, POSTed to `/.well-known/mmm/`.
//!
//! Authentication and confidentiality as this implementation does them (§5.3 leaves the
//! mechanism to draft-hallambaker-mesh-security, which gives no wire format):
//! * every request envelope carries ContentMetaData with a fresh `UniqueId` (a nonce) and
//!   `Created`; the service refuses a request older than [`FRESHNESS_SECONDS`] or one whose
//!   nonce it has seen (replay);
//! * requests for an account are signed by the device's connection Signature key and carry the
//!   ConnectionDevice the account's administrator key signed (profile authentication); Hello is
//!   unauthenticated (null authentication), Connect and Complete are signed by the device's
//!   profile key;
//! * requests are encrypted to the service's encryption key (from Hello), responses to the
//!   requesting device's key, and responses are signed by the service.

use mesh_crypto::{PrivateKey, PublicKey};
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

fn seal(
    payload: &[u8],
    name: &str,
    signer: Option<&PrivateKey>,
    recipient: Option<&PublicKey>,
    encoding: Encoding,
) -> Result<Vec<u8>> {
    let meta = ContentMeta {
        unique_id: Some(mesh_udf::random::nonce(128).to_string()),
        message_type: Some(name.to_string()),
        content_type: Some(encoding.content_type().to_string()),
        created: Some(now_text()),
        ..Default::default()
    };
    let env = DareEnvelope::encode(
        payload,
        &EnvelopeOptions {
            meta: Some(meta),
            signers: signer.into_iter().collect(),
            recipients: recipient.into_iter().collect(),
            digest: true,
            ..Default::default()
        },
    )?;
    match encoding {
        Encoding::Json => Ok(env.to_json()?.into_bytes()),
        Encoding::JsonB => Ok(env.to_jsonb()?),
    }
}

/// A request as the service received it.
pub struct OpenedRequest {
    pub request: Request,
    /// The request's encoding, which the response uses too.
    pub encoding: Encoding,
    pub envelope: DareEnvelope,
    pub nonce: String,
    pub created: OffsetDateTime,
}

/// Seal a request in JSON: signed by `signer`, encrypted to the service's `service_key`.
pub fn seal_request(
    request: &Request,
    signer: Option<&PrivateKey>,
    service_key: Option<&PublicKey>,
) -> Result<Vec<u8>> {
    seal_request_in(request, signer, service_key, Encoding::Json)
}

/// As [`seal_request`], in `encoding` (JSON-B once the service's Hello advertised it).
pub fn seal_request_in(
    request: &Request,
    signer: Option<&PrivateKey>,
    service_key: Option<&PublicKey>,
    encoding: Encoding,
) -> Result<Vec<u8>> {
    seal(
        &encoding.encode(request)?,
        request.name(),
        signer,
        service_key,
        encoding,
    )
}

/// Open a request with the service's keys; check its freshness.
pub fn open_request(data: &[u8], service_keys: &KeyRing) -> Result<OpenedRequest> {
    let envelope = DareEnvelope::parse(data)
        .map_err(|e| ProtocolError::BadRequest(format!("not a DARE envelope: {e}")))?;
    let plaintext = envelope
        .plaintext(service_keys)
        .map_err(|e| ProtocolError::BadRequest(format!("cannot open the request: {e}")))?;
    let meta = envelope
        .content_meta()
        .map_err(|e| ProtocolError::BadRequest(e.to_string()))?;
    let encoding = Encoding::of(&meta);
    let request: Request = mesh_encoding::from_jsonb(&plaintext)
        .map_err(|e| ProtocolError::BadRequest(format!("not a Mesh request: {e}")))?;
    let nonce = meta
        .unique_id
        .ok_or_else(|| ProtocolError::BadRequest("the request has no nonce (UniqueId)".into()))?;
    let created = meta
        .created
        .as_deref()
        .and_then(|c| mesh_encoding::datetime::parse(c).ok())
        .ok_or_else(|| ProtocolError::BadRequest("the request has no valid Created time".into()))?;
    let age = (OffsetDateTime::now_utc() - created).whole_seconds();
    if age.abs() > FRESHNESS_SECONDS {
        return Err(ProtocolError::Expired(age));
    }
    Ok(OpenedRequest {
        request,
        encoding,
        envelope,
        nonce,
        created,
    })
}

/// Seal a response: signed by the service, encrypted to the device when its key is known.
pub fn seal_response(
    response: &Response,
    signer: &PrivateKey,
    recipient: Option<&PublicKey>,
    encoding: Encoding,
) -> Result<Vec<u8>> {
    let name = match response {
        Response::MeshHelloResponse(_) => "MeshHelloResponse",
        _ => "MeshResponse",
    };
    seal(
        &encoding.encode(response)?,
        name,
        Some(signer),
        recipient,
        encoding,
    )
}

/// Open a response: decrypt with `keys`, and when the service's signature key is known, check
/// that the service signed it.
pub fn open_response(
    data: &[u8],
    keys: &KeyRing,
    service_signer: Option<&PublicKey>,
) -> Result<Response> {
    let envelope = DareEnvelope::parse(data)
        .map_err(|e| ProtocolError::BadResponse(format!("not a DARE envelope: {e}")))?;
    if let Some(key) = service_signer {
        let mut ring = KeyRing::new();
        ring.add_public(key.clone());
        envelope.verify_strict(&ring).map_err(|e| {
            ProtocolError::BadResponse(format!("the response is not signed by the service: {e}"))
        })?;
    }
    let plaintext = envelope
        .plaintext(keys)
        .map_err(|e| ProtocolError::BadResponse(format!("cannot open the response: {e}")))?;
    mesh_encoding::from_jsonb(&plaintext)
        .map_err(|e| ProtocolError::BadResponse(format!("not a Mesh response: {e}")))
}

/// The MAC that authenticates a ticket request: HMAC-SHA-256 under the ticket key over the
/// request's nonce, its time and its PayloadDigest (so neither can be swapped).
pub fn ticket_mac(key: &[u8], nonce: &str, created: &str, payload_digest: &[u8]) -> Vec<u8> {
    use hmac::Mac;
    let mut m = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key");
    m.update(nonce.as_bytes());
    m.update(&[0]);
    m.update(created.as_bytes());
    m.update(&[0]);
    m.update(payload_digest);
    m.finalize().into_bytes().to_vec()
}

/// Seal a request authenticated by a ticket instead of a signature (§5.3.4).
pub fn seal_request_ticket(
    request: &Request,
    ticket: &str,
    key: &[u8],
    service_key: Option<&PublicKey>,
    encoding: Encoding,
) -> Result<Vec<u8>> {
    let sealed = seal(
        &encoding.encode(request)?,
        request.name(),
        None,
        service_key,
        encoding,
    )?;
    let mut env = DareEnvelope::parse(&sealed)?;
    let mut meta = env.content_meta()?;
    let digest = env
        .trailer
        .as_ref()
        .and_then(|t| t.payload_digest.clone())
        .unwrap_or_default();
    let mac = ticket_mac(
        key,
        meta.unique_id.as_deref().unwrap_or_default(),
        meta.created.as_deref().unwrap_or_default(),
        &digest,
    );
    meta.key_values.push(mesh_dare::schema::KeyValue {
        key: "Ticket".into(),
        value: ticket.to_string(),
    });
    meta.key_values.push(mesh_dare::schema::KeyValue {
        key: "TicketMac".into(),
        value: mesh_encoding::base64url::encode(&mac),
    });
    env.header.set_content_meta(&meta)?;
    Ok(match encoding {
        Encoding::Json => env.to_json()?.into_bytes(),
        Encoding::JsonB => env.to_jsonb()?,
    })
}

/// The ticket and MAC a request carries, if it is ticket-authenticated.
pub fn ticket_of(envelope: &DareEnvelope) -> Option<(String, Vec<u8>)> {
    let meta = envelope.content_meta().ok()?;
    let get = |k: &str| {
        meta.key_values
            .iter()
            .find(|kv| kv.key == k)
            .map(|kv| kv.value.clone())
    };
    Some((
        get("Ticket")?,
        mesh_encoding::base64url::decode(&get("TicketMac")?).ok()?,
    ))
}
