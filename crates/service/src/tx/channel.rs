//! Rendezvous channels for pairing codes (seed 003): a device of an account allocates one with
//! the channel's key (derived from the secret part of the pairing code); whoever presents that
//! key may post (a post replaces the last) and poll until it expires. A wrong key is answered
//! as no channel at all, so ids cannot be tried to find, read or disturb a pairing.

use mesh_protocol::messages::*;
use mesh_protocol::Response;

use super::{Ctx, Outcome};
use crate::auth::DeviceCaller;
use crate::host::{CHANNEL_BLOB_MAX, CHANNEL_SECONDS};
use crate::refusal::Refusal;
use crate::store::unix_now;

/// Octets a channel key has: a SHA-256 digest.
const KEY_LEN: usize = 32;

pub fn allocate(ctx: &Ctx, caller: &DeviceCaller, r: &MulticastAllocateRequest) -> Outcome {
    let key = r
        .channel_key
        .as_ref()
        .filter(|k| k.len() == KEY_LEN)
        .ok_or_else(|| {
            Refusal::Malformed(format!("a channel needs a ChannelKey of {KEY_LEN} octets"))
        })?;
    super::sync::over_state_limit(ctx.host, &caller.account.address)?;
    // Small ids keep pairing codes short (Elias-delta of id + 1 in the code).
    let expires = unix_now() + CHANNEL_SECONDS;
    ctx.commit()?;
    for _ in 0..64 {
        let id = rand::random::<u64>() % 65_536;
        if ctx
            .host
            .store
            .put_ephemeral("channel", &id.to_string(), &[], expires, true)?
        {
            ctx.host
                .store
                .put_ephemeral("channel-key", &id.to_string(), key, expires, false)?;
            return Ok(Response::MulticastAllocateResponse(
                MulticastAllocateResponse {
                    status: Some(200),
                    channel_id: Some(id),
                    expires_seconds: Some(CHANNEL_SECONDS),
                    ..Default::default()
                },
            ));
        }
    }
    Err(Refusal::Unavailable(
        "no free channel; try again shortly".into(),
    ))
}

/// A live channel's expiry and blob (an empty value is a channel nothing was posted to), for
/// a caller presenting its key.
fn channel(ctx: &Ctx, id: u64, key: Option<&Vec<u8>>) -> Result<(u64, Option<Vec<u8>>), Refusal> {
    let none = || Refusal::NotFound(format!("no open channel {id}"));
    let held = ctx
        .host
        .store
        .get_ephemeral("channel-key", &id.to_string())?
        .ok_or_else(none)?
        .0;
    let presented = key.ok_or_else(none)?;
    if held.len() != presented.len()
        || !bool::from(subtle::ConstantTimeEq::ct_eq(
            held.as_slice(),
            presented.as_slice(),
        ))
    {
        return Err(none());
    }
    match ctx.host.store.get_ephemeral("channel", &id.to_string())? {
        Some((value, expires)) if expires > unix_now() => {
            Ok((expires, (!value.is_empty()).then_some(value)))
        }
        _ => Err(none()),
    }
}

pub fn post(ctx: &Ctx, r: &MulticastPostRequest) -> Outcome {
    let (Some(id), Some(blob)) = (r.channel_id, &r.blob) else {
        return Err(Refusal::Malformed(
            "MulticastPostRequest needs ChannelId and Blob".into(),
        ));
    };
    if blob.is_empty() || blob.len() > CHANNEL_BLOB_MAX {
        return Err(Refusal::Oversized(format!(
            "a channel blob holds 1 to {CHANNEL_BLOB_MAX} octets"
        )));
    }
    let (expires, _) = channel(ctx, id, r.channel_key.as_ref())?;
    ctx.commit()?;
    ctx.host
        .store
        .put_ephemeral("channel", &id.to_string(), blob, expires, false)?;
    Ok(Response::MeshResponse(MeshResponse {
        status: Some(200),
        ..Default::default()
    }))
}

pub fn poll(ctx: &Ctx, r: &MulticastPollRequest) -> Outcome {
    let id = r
        .channel_id
        .ok_or_else(|| Refusal::Malformed("MulticastPollRequest needs ChannelId".into()))?;
    let (_, blob) = channel(ctx, id, r.channel_key.as_ref())?;
    Ok(Response::MulticastPollResponse(MulticastPollResponse {
        status: Some(200),
        blob,
        ..Default::default()
    }))
}
