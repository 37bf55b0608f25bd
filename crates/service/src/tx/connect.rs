//! Connecting devices: Connect and Complete (§9.2, §10.10–10.11), and the static-QR
//! publications' Claim and PollClaim (§10.14–10.15).

use mesh_dare::KeyRing;
use mesh_protocol::messages::*;
use mesh_protocol::Response;
use mesh_schema::key::required;
use mesh_schema::message::AcknowledgeConnection;
use mesh_schema::{expect_item, ids, signed, MeshItem};

use super::{Ctx, Outcome};
use crate::auth::Caller;
use crate::host::{CLAIMS, INBOUND, LOCAL, PUBLISHED};
use crate::refusal::Refusal;
use crate::store::Update;

/// Connect (§9.2): a device asks to join an account. The service acknowledges with its nonce
/// and the witness value, and queues the acknowledgement in the account's inbound spool for an
/// administrator device.
pub fn connect(ctx: &Ctx, caller: &Caller, r: &ConnectRequest) -> Outcome {
    let Caller::NewDevice { request, profile } = caller else {
        return Err(Refusal::Internal);
    };
    let host = ctx.host;
    let Some(request_env) = &r.enveloped_request_connection else {
        return Err(Refusal::Internal);
    };
    let device_key =
        required(&profile.profile_signature, "ProfileSignature").map_err(|_| Refusal::Internal)?;
    let address = request
        .account_address
        .as_deref()
        .map(str::to_ascii_lowercase)
        .ok_or_else(|| Refusal::Malformed("the connection request names no account".into()))?;
    let record = host
        .store
        .account(&address)?
        .ok_or_else(|| Refusal::NotFound(format!("no account {address} on this service")))?;
    let account_key = record
        .profile_user()
        .and_then(|p| required(&p.profile_signature, "ProfileSignature"))
        .map_err(|e| {
            tracing::error!("account {address}: {e}");
            Refusal::Internal
        })?;
    let mut server_nonce = vec![0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut server_nonce);
    let client_nonce = request.client_nonce.clone().unwrap_or_default();
    let witness = ids::witness(&account_key, &server_nonce, &device_key, &client_nonce);
    let ack = AcknowledgeConnection {
        message_id: Some(witness.clone()),
        enveloped_request_connection: Some(request_env.clone()),
        server_nonce: Some(server_nonce),
        witness: Some(witness.clone()),
        ..Default::default()
    };
    let ack_env = signed::seal_acknowledgement(&ack.into(), &host.identity.sign, &witness)
        .map_err(|e| {
            tracing::error!("acknowledgement: {e}");
            Refusal::Internal
        })?;
    // Connection requests count against what the account's spool holds unfetched, up to a
    // quarter of the cap (anyone may make them: they must not take the messages' room).
    let bytes = super::sync::message_bytes(std::slice::from_ref(&ack_env));
    super::sync::over_queued_requests(host, &address, bytes)?;
    // Anyone can ask: connection requests are metered apart from the account's own updates,
    // and from its own tickets and channels, which they cannot then use up (a stranger's flood
    // of requests would stop the account's devices from syncing); and only once the request is
    // one the spool takes.
    super::sync::over_connection_limit(host, &address)?;
    let update = Update::append(INBOUND, vec![ack_env.clone()]);
    ctx.commit()?;
    host.store.transact(&address, &[update])?;
    Ok(Response::ConnectResponse(ConnectResponse {
        status: Some(200),
        enveloped_acknowledge_connection: Some(ack_env),
        enveloped_profile_account: Some(record.profile),
        ..Default::default()
    }))
}

/// Complete (§9.2): the device collects the administrator's answer, which the administrator
/// left in the account's local spool under the response id.
pub fn complete(ctx: &Ctx, r: &CompleteRequest) -> Outcome {
    let (Some(address), Some(id)) = (
        r.account_address.as_deref().map(str::to_ascii_lowercase),
        r.response_id.as_deref(),
    ) else {
        return Err(Refusal::Malformed(
            "CompleteRequest needs AccountAddress and ResponseID".into(),
        ));
    };
    // What the account's devices keep there for themselves (`MessageComplete` markers: a PIN
    // used, a contact request answered) is theirs: to anyone else, as if nothing were there (a
    // requester asking for such a marker would learn that the account acted on the request).
    let found = ctx.host.store.find(&address, LOCAL, id)?.filter(|env| {
        env.content_meta()
            .ok()
            .and_then(|m| m.message_type)
            .as_deref()
            != Some("MessageComplete")
    });
    Ok(match found {
        Some(env) => Response::CompleteResponse(CompleteResponse {
            status: Some(200),
            enveloped_respond_connection: Some(env),
            ..Default::default()
        }),
        None => Response::CompleteResponse(CompleteResponse {
            status: Some(202),
            status_description: Some("Pending: not yet answered".into()),
            ..Default::default()
        }),
    })
}

/// Claim (§10.14): return the publication and record who claimed it, once (a published contact:
/// to whoever proves the EARL key, until it expires).
pub fn claim(ctx: &Ctx, r: &ClaimRequest) -> Outcome {
    let host = ctx.host;
    let envelope = r
        .enveloped_message_claim
        .as_ref()
        .ok_or_else(|| Refusal::Malformed("ClaimRequest without a claim".into()))?;
    let claim = signed::read(envelope, &KeyRing::new())
        .and_then(|i| expect_item!(i, MessageClaim))
        .map_err(|e| Refusal::Malformed(e.to_string()))?;
    let (Some(publisher), Some(id)) = (
        claim.recipient.as_deref().map(str::to_ascii_lowercase),
        claim.publication_id.clone(),
    ) else {
        return Err(Refusal::Malformed(
            "the claim names no publisher or publication".into(),
        ));
    };
    // Claims are recorded under the publication id, so that there is only ever one; and as a
    // new entry, never one whose (unsigned) Event would take the claim away again, leaving the
    // publication to be claimed once more.
    let meta = envelope.content_meta().ok();
    if meta.as_ref().and_then(|m| m.unique_id.as_deref()) != Some(id.as_str()) {
        return Err(Refusal::Malformed(
            "the claim envelope's UniqueId must be the publication id".into(),
        ));
    }
    if meta
        .and_then(|m| m.event)
        .is_some_and(|e| e != mesh_dare::catalog::EVENT_NEW)
    {
        return Err(Refusal::Malformed(
            "a claim is a new entry: its Event, if any, must be New".into(),
        ));
    }
    let publication = host
        .store
        .find(&publisher, PUBLISHED, &id)?
        .ok_or_else(|| Refusal::NotFound("no such publication".into()))?;
    let cataloged = mesh_encoding::from_json::<MeshItem>(&publication.payload)
        .map_err(|e| e.to_string())
        .and_then(|i| expect_item!(i, CatalogedPublication).map_err(|e| e.to_string()))
        .map_err(|e| {
            tracing::error!("publication {id} of {publisher}: {e}");
            Refusal::Internal
        })?;
    // Only who holds the QR code may claim: the claim must be signed by the key derived from
    // the EARL key, whose public half the publication carries. Knowing the locator is not
    // enough (it would let anyone burn a device's QR code).
    let claim_key = cataloged
        .authenticator
        .as_deref()
        .and_then(|a| mesh_encoding::base64url::decode(a).ok())
        .and_then(|b| mesh_crypto::PublicKey::new(mesh_crypto::Algorithm::Ed25519, b).ok())
        .ok_or_else(|| {
            Refusal::Forbidden(
                "this publication names no key to check claims with (made by an earlier \
                 build): publish it again"
                    .into(),
            )
        })?;
    let mut ring = KeyRing::new();
    ring.add_public(claim_key.clone());
    let proven = envelope.verify(&ring).is_ok_and(|v| {
        v.valid
            .iter()
            .any(|k| mesh_dare::keys::kid_matches(k, &claim_key.udf()))
    });
    if !proven {
        return Err(Refusal::Forbidden(
            "the claim is not signed with the key the publication's EARL gives".into(),
        ));
    }
    // A publication that says when it ends is not handed out after.
    if let Some(end) = &cataloged.not_on_or_after {
        let end = time::OffsetDateTime::parse(end, &time::format_description::well_known::Rfc3339)
            .map_err(|_| Refusal::NotFound("the publication has expired".into()))?;
        if time::OffsetDateTime::now_utc() > end {
            return Err(Refusal::NotFound("the publication has expired".into()));
        }
    }
    // A published contact is for whoever holds its URI, any number of times; anything else (a
    // device's profile) is claimed once, and the claim recorded for the publisher to poll.
    let contact = cataloged
        .enveloped_data
        .as_ref()
        .and_then(|d| d.content_meta().ok())
        .and_then(|m| m.message_type)
        .as_deref()
        == Some(mesh_schema::catalog::PUBLISHED_CONTACT);
    // A claim that says it is for a contact takes nothing else: fetching a device's QR code as
    // a contact must not use up the device's one claim.
    let wants_contact = envelope.content_meta().ok().is_some_and(|m| {
        m.key_values.iter().any(|kv| {
            kv.key == mesh_schema::catalog::CLAIM_FOR
                && kv.value == mesh_schema::catalog::PUBLISHED_CONTACT
        })
    });
    if wants_contact && !contact {
        return Err(Refusal::Conflict(
            "this publication is not a contact".into(),
        ));
    }
    if !contact {
        // Once: the claim is appended only to the spool as it was when it was found unclaimed
        // (two claims at once: the second finds it changed, and is refused).
        let before = host.store.state(&publisher, CLAIMS)?;
        if host.store.find(&publisher, CLAIMS, &id)?.is_some() {
            return Err(Refusal::Conflict(
                "the publication has been claimed already".into(),
            ));
        }
        let update = Update {
            container: CLAIMS.into(),
            expect_index: Some(before.index),
            expect_digest: before.digest,
            envelopes: vec![envelope.clone()],
        };
        ctx.commit()?;
        if let crate::store::TransactOutcome::Conflict { .. } =
            host.store.transact(&publisher, &[update])?
        {
            return Err(Refusal::Conflict(
                "the publication has been claimed already".into(),
            ));
        }
    }
    Ok(Response::ClaimResponse(ClaimResponse {
        status: Some(200),
        cataloged_publication: Some(cataloged),
        ..Default::default()
    }))
}

/// PollClaim (§10.15): the claim made on a publication, if any.
pub fn poll_claim(ctx: &Ctx, r: &PollClaimRequest) -> Outcome {
    let (Some(publisher), Some(id)) = (
        r.target_account_address
            .as_deref()
            .map(str::to_ascii_lowercase),
        r.publication_id.as_deref(),
    ) else {
        return Err(Refusal::Malformed(
            "PollClaimRequest needs PublicationId and TargetAccountAddress".into(),
        ));
    };
    let found = ctx.host.store.find(&publisher, CLAIMS, id)?;
    Ok(Response::PollClaimResponse(PollClaimResponse {
        status: Some(if found.is_some() { 200 } else { 202 }),
        enveloped_message: found,
        ..Default::default()
    }))
}
