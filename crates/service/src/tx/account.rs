//! Account transactions: Hello (§10.1), BindAccount (§10.2), UnbindAccount, Status (§10.5) and
//! tickets (§5.3.4).

use mesh_protocol::binding::Encoding;
use mesh_protocol::messages::*;
use mesh_protocol::Response;

use super::{Ctx, Outcome};
use crate::auth::{Caller, DeviceCaller, Ticket};
use crate::host::MAX_UPDATE_ENTRIES;
use crate::refusal::Refusal;
use crate::store::unix_now;

pub fn hello(ctx: &Ctx) -> Outcome {
    let host = ctx.host;
    Ok(Response::MeshHelloResponse(MeshHelloResponse {
        status: Some(200),
        version: Some(Version {
            major: Some(3),
            minor: Some(0),
            encodings: vec![EncodingInfo {
                id: vec![
                    Encoding::Json.content_type().into(),
                    Encoding::JsonB.content_type().into(),
                ],
            }],
        }),
        constraints_update: Some(ConstraintsData {
            // No more than the account's allowance a minute either, or a page could never pass.
            max_entries: Some(MAX_UPDATE_ENTRIES.min(host.limiter.per_minute())),
            bytes_max: Some(host.max_request as u64),
            ..Default::default()
        }),
        constraints_post: Some(ConstraintsData {
            bytes_max: Some(host.max_request as u64),
            ..Default::default()
        }),
        policy_account: Some(PolicyAccount {
            minimum: Some(1),
            maximum: Some(64),
            invalid_characters: Some("/\\ ".into()),
        }),
        enveloped_profile_service: Some(host.identity.profile_service.clone()),
        enveloped_profile_host: Some(host.identity.profile_host.clone()),
        ..Default::default()
    }))
}

pub fn bind(ctx: &Ctx, caller: &Caller, r: &BindRequest) -> Outcome {
    let Caller::Binder { revoked, .. } = caller else {
        return Err(Refusal::Internal);
    };
    // The binder's checks ([`crate::auth`]) verified this profile and address.
    let (Some(address), Some(profile_env)) = (
        r.account_address.as_deref().map(str::to_ascii_lowercase),
        &r.enveloped_profile_account,
    ) else {
        return Err(Refusal::Internal);
    };
    ctx.commit()?;
    if ctx.host.store.bind(&address, profile_env, revoked)? {
        Ok(Response::BindResponse(BindResponse {
            status: Some(201),
            status_description: Some("Created".into()),
            ..Default::default()
        }))
    } else {
        Err(Refusal::Conflict(format!(
            "the account {address} is already bound to this service"
        )))
    }
}

pub fn unbind(ctx: &Ctx, caller: &DeviceCaller) -> Outcome {
    caller.require_administrator("unbind the account")?;
    ctx.commit()?;
    ctx.host.store.unbind(&caller.account.address)?;
    Ok(Response::UnbindResponse(MeshResponse {
        status: Some(200),
        ..Default::default()
    }))
}

pub fn status(ctx: &Ctx, caller: &DeviceCaller, r: &StatusRequest) -> Outcome {
    let mut container_status = Vec::new();
    for name in r.catalogs.iter().chain(&r.spools) {
        // How many messages arrive, and when, is the message right's to see.
        if super::sync::is_spool_of_messages(name) {
            caller.require_right(mesh_schema::rights::MESSAGE, &format!("read {name}"))?;
        }
        let state = ctx.host.store.state(&caller.account.address, name)?;
        container_status.push(ContainerStatus {
            container: Some(name.clone()),
            index: Some(state.index),
            digest: state.digest,
        });
    }
    Ok(Response::StatusResponse(StatusResponse {
        status: Some(200),
        enveloped_profile_account: Some(caller.account.profile.clone()),
        container_status,
        ..Default::default()
    }))
}

pub fn ticket(ctx: &Ctx, caller: &DeviceCaller) -> Outcome {
    let host = ctx.host;
    let id = mesh_udf::random::nonce(128).to_string();
    let key: [u8; 32] = rand::random();
    let ticket = Ticket {
        account: caller.account.address.clone(),
        device_udf: caller.device_udf.clone(),
        encryption: mesh_dare::KeyParameters::from_public(&caller.encryption),
        signature: mesh_dare::KeyParameters::from_public(&caller.signature),
        key: key.to_vec(),
        administrator: caller.administrator,
        rights: Some(
            caller
                .rights
                .names()
                .iter()
                .map(|n| n.to_string())
                .collect(),
        ),
        admin_udf: crate::host::ServiceHost::admin_key(&caller.account)?.udf(),
    };
    let bytes = serde_json::to_vec(&ticket).map_err(|e| {
        tracing::error!("ticket: {e}");
        Refusal::Internal
    })?;
    super::sync::over_state_limit(host, &caller.account.address)?;
    ctx.commit()?;
    host.store.put_ephemeral(
        "ticket",
        &id,
        &bytes,
        unix_now() + host.ticket_seconds,
        true,
    )?;
    Ok(Response::TicketResponse(TicketResponse {
        status: Some(200),
        ticket: Some(id),
        ticket_key: Some(key.to_vec()),
        expires_seconds: Some(host.ticket_seconds),
        ..Default::default()
    }))
}
