//! Synchronisation: Download (§10.6), Transact (§10.7) and Operate (§10.16, the service's half
//! of threshold key agreement).

use mesh_dare::KeyRing;
use mesh_protocol::binding::DEFAULT_MAX_REQUEST;
use mesh_protocol::messages::*;
use mesh_protocol::Response;

use super::{post, Ctx, Outcome};
use crate::auth::DeviceCaller;
use crate::host::{
    ServiceHost, CLAIMS, INBOUND, LOCAL, MAX_DOWNLOAD_ENTRIES, MAX_UPDATE_ENTRIES, OUTBOUND,
};
use crate::refusal::Refusal;
use crate::store::{check_container_name, ProfileSwap, StoreError, TransactOutcome, Update};

/// A storage failure after something was applied: the service's fault, never "nothing was
/// applied".
pub(crate) fn after_commit(e: StoreError) -> Refusal {
    tracing::error!("storage failed after a transaction was applied: {e}");
    Refusal::Internal
}

/// As [`after_commit`], for a refusal (a 503 there would say nothing was applied).
fn after_commit_refusal(refusal: Refusal, address: &str) -> Refusal {
    match refusal {
        Refusal::Unavailable(_) => {
            tracing::error!("{address}: a delivery failed after the transaction was applied");
            Refusal::Internal
        }
        other => other,
    }
}

pub fn download(ctx: &Ctx, caller: &DeviceCaller, r: &DownloadRequest) -> Outcome {
    let host = ctx.host;
    let max = r
        .constraints_post
        .as_ref()
        .and_then(|c| c.max_entries)
        .unwrap_or(MAX_DOWNLOAD_ENTRIES)
        .clamp(1, MAX_DOWNLOAD_ENTRIES);
    let mut budget = host.max_request.max(DEFAULT_MAX_REQUEST) as u64 * 16;
    let mut updates = Vec::new();
    for select in &r.select {
        let Some(name) = &select.container else {
            continue;
        };
        if is_spool_of_messages(name) {
            caller.require_right(mesh_schema::rights::MESSAGE, &format!("read {name}"))?;
        }
        let state = host.store.state(&caller.account.address, name)?;
        let from = select.index_min.unwrap_or(1).max(1);
        // No more read than asked for: a request for one entry reads one, not a page of them.
        let wanted = select
            .index_max
            .map_or(max, |to| to.saturating_sub(from).saturating_add(1).min(max));
        let envelopes = host
            .store
            .read(&caller.account.address, name, from, wanted)?;
        // Keep responses proportionate: stop adding entries past the byte budget.
        let mut kept = Vec::new();
        for env in envelopes {
            let size = env.payload.len() as u64 + 512;
            if !kept.is_empty() && size > budget {
                break;
            }
            budget = budget.saturating_sub(size);
            kept.push(env);
        }
        if name.eq_ignore_ascii_case(INBOUND) && !kept.is_empty() {
            // What the account has fetched (for the cap on what it holds unfetched). A mark that
            // cannot be written costs the account room for a while, not its download.
            let last = from + kept.len() as u64 - 1;
            if let Err(e) = host
                .store
                .mark_fetched(&caller.account.address, INBOUND, last)
            {
                tracing::warn!("{}: fetched mark: {e}", caller.account.address);
            }
        }
        updates.push(ContainerUpdate {
            container: Some(name.clone()),
            index: Some(state.index),
            digest: state.digest,
            envelopes: kept,
        });
    }
    Ok(Response::DownloadResponse(DownloadResponse {
        status: Some(200),
        updates,
        ..Default::default()
    }))
}

/// The refusal (429) of `n` more entries for `address` if that is over its update limit.
pub(crate) fn over_limit(host: &ServiceHost, address: &str, n: u64) -> Result<(), Refusal> {
    take(&host.limiter, address, n, "updates for", "entries")
}

/// The refusal (429) of `n` more messages from other services for `address`: as many a minute
/// as its updates, counted apart from them.
pub(crate) fn over_post_limit(host: &ServiceHost, address: &str, n: u64) -> Result<(), Refusal> {
    take_from(
        &host.limiter,
        &format!("messages from other services:{address}"),
        address,
        (n, "messages from other services for", "messages"),
    )
}

/// Octets a message takes in a spool, near enough (its payload and headers).
pub(crate) fn message_bytes(messages: &[mesh_dare::DareEnvelope]) -> u64 {
    messages.iter().map(|m| m.payload.len() as u64 + 1024).sum()
}

/// The refusal (429) of `n` more octets of messages for the recipient `address`.
pub(crate) fn over_inbound_bytes(host: &ServiceHost, address: &str, n: u64) -> Result<(), Refusal> {
    take(
        &host.inbound_bytes,
        address,
        n,
        "octets of messages for",
        "octets",
    )
}

/// The refusal (429) of `n` more octets for `address` if its inbound spool would then hold more
/// than `limit` octets that none of its devices has fetched.
fn over_unfetched(host: &ServiceHost, address: &str, n: u64, limit: u64) -> Result<(), Refusal> {
    let queued = host.store.unfetched_octets(address, INBOUND)?;
    if queued.saturating_add(n) > limit {
        return Err(Refusal::TooMany(format!(
            "the inbound spool of {address} holds {queued} octets not yet fetched; this \
             service takes more for it ({limit} at most) once the account fetches them"
        )));
    }
    Ok(())
}

/// The refusal (429) of `n` more octets of messages for `address` if its inbound spool would
/// then hold more than the service keeps for an account that has not fetched them.
pub(crate) fn over_queued_bytes(host: &ServiceHost, address: &str, n: u64) -> Result<(), Refusal> {
    over_unfetched(host, address, n, host.max_queued_bytes)
}

/// As [`over_queued_bytes`] for a connection request, which anyone may make: these stop at a
/// quarter of the cap, so that they never take the room of the account's messages.
pub(crate) fn over_queued_requests(
    host: &ServiceHost,
    address: &str,
    n: u64,
) -> Result<(), Refusal> {
    over_unfetched(host, address, n, host.max_queued_bytes / 4)
}

/// The refusal (429) of `n` more octets of messages from the sender `sender`.
pub(crate) fn over_sender_bytes(host: &ServiceHost, sender: &str, n: u64) -> Result<(), Refusal> {
    take(
        &host.sender_bytes,
        sender,
        n,
        "octets of messages sent by",
        "octets",
    )
}

/// The refusal (429) of one more short-lived thing the account's devices ask for (ticket,
/// channel) for `address` if that is over its limit.
pub(crate) fn over_state_limit(host: &ServiceHost, address: &str) -> Result<(), Refusal> {
    take(
        &host.state_limiter,
        address,
        1,
        "tickets and channels for",
        "of them",
    )
}

/// Connection requests for `address`, which anyone may make: a bucket of their own (as many a
/// minute as the account's tickets and channels, counted apart from them).
pub(crate) fn over_connection_limit(host: &ServiceHost, address: &str) -> Result<(), Refusal> {
    take_from(
        &host.state_limiter,
        &format!("connection requests:{address}"),
        address,
        (1, "connection requests for", "of them"),
    )
}

fn take(
    limiter: &crate::limits::UpdateLimiter,
    address: &str,
    n: u64,
    what: &str,
    unit: &str,
) -> Result<(), Refusal> {
    take_from(limiter, address, address, (n, what, unit))
}

/// Take `n` from the bucket `key` of `limiter` (the refusal names `address`).
fn take_from(
    limiter: &crate::limits::UpdateLimiter,
    key: &str,
    address: &str,
    (n, what, unit): (u64, &str, &str),
) -> Result<(), Refusal> {
    let limit = limiter.per_minute();
    match limiter.take(key, n) {
        Ok(()) => Ok(()),
        Err(Some(wait)) => Err(Refusal::TooMany(format!(
            "too many {what} {address}: this service takes {limit} {unit} a minute; try again \
             in {wait} s"
        ))),
        Err(None) => Err(Refusal::TooMany(format!(
            "{n} {unit} at once is more than this service takes in a minute ({limit}) of {what} \
             {address}"
        ))),
    }
}

/// The devices `envelopes` (Revocations) remove from `address`: each sealed by the account's
/// administrator key `admin` and for this account.
pub(crate) fn revoked_by(
    admin: &mesh_crypto::PublicKey,
    address: &str,
    envelopes: &[mesh_dare::DareEnvelope],
) -> Result<Vec<String>, Refusal> {
    let mut revoke = Vec::new();
    for env in envelopes {
        let mut ring = KeyRing::new();
        ring.add_public(admin.clone());
        if env.verify_strict(&ring).is_err() {
            return Err(Refusal::Forbidden(
                "a revocation not signed by the account's administrator key".into(),
            ));
        }
        let revocation: Revocation = mesh_encoding::from_json(&env.payload)
            .map_err(|e| Refusal::Malformed(format!("revocation: {e}")))?;
        if !crate::peers::same_address(revocation.account.as_deref(), address) {
            return Err(Refusal::Forbidden(
                "a revocation for another account".into(),
            ));
        }
        revoke.extend(revocation.device_udf);
    }
    Ok(revoke)
}

/// The catalog of the account's devices.
pub const DEVICE: &str = "MMM_Device";

type EntryCheck = fn(&mesh_dare::DareEnvelope, &str, &mesh_crypto::PublicKey) -> Result<(), String>;

/// How the entries of `name` are checked, if only the administrator may change it (compared
/// without case, as the file store's names may be).
fn administered(name: &str) -> Option<EntryCheck> {
    if name.eq_ignore_ascii_case(crate::operate::ACCESS) {
        Some(crate::operate::check_access_entry)
    } else if name.eq_ignore_ascii_case(DEVICE) {
        Some(crate::operate::check_administered_entry)
    } else {
        None
    }
}

/// Entries of an administered catalog: each signed by the administrator key over its metadata
/// and payload, and none already there (an old entry of the administrator's, re-sent by a
/// device, would bring back a device or a capability since removed).
fn check_administered(
    ctx: &Ctx,
    caller: &DeviceCaller,
    name: &str,
    envelopes: &[mesh_dare::DareEnvelope],
    check: EntryCheck,
) -> Result<(), Refusal> {
    let admin = ServiceHost::admin_key(&caller.account)?;
    let mut seen = std::collections::HashSet::new();
    let address = &caller.account.address;
    let total = ctx.host.store.state(address, name)?.index;
    let mut from = 1;
    while from <= total {
        let page = ctx.host.store.read(address, name, from, 500)?;
        if page.is_empty() {
            break;
        }
        from += page.len() as u64;
        seen.extend(
            page.iter()
                .map(|e| mesh_dare::catalog::entry_digest(e, name)),
        );
    }
    for env in envelopes {
        check(env, name, &admin).map_err(Refusal::Forbidden)?;
        if !seen.insert(mesh_dare::catalog::entry_digest(env, name)) {
            return Err(Refusal::Forbidden(format!(
                "this entry of {name} is there already: an administrator's change is made once"
            )));
        }
    }
    Ok(())
}

/// The spools that hold the account's messages, which only a device with the `message` right
/// reads or writes (compared without case, as the file store's names may be).
pub(crate) fn is_spool_of_messages(name: &str) -> bool {
    name.eq_ignore_ascii_case(INBOUND) || name.eq_ignore_ascii_case(OUTBOUND)
}

pub fn transact(ctx: &Ctx, caller: &DeviceCaller, r: &TransactRequest) -> Outcome {
    let host = ctx.host;
    let address = &caller.account.address;
    let total: usize = r.updates.iter().map(|u| u.envelopes.len()).sum::<usize>()
        + r.inbound.len()
        + r.local.len()
        + r.outbound.len();
    if total as u64 > MAX_UPDATE_ENTRIES {
        return Err(Refusal::Oversized(format!(
            "{total} entries in one transaction; the limit is {MAX_UPDATE_ENTRIES}"
        )));
    }
    // Only the service writes an account's inbound spool: messages come in by Post, from its
    // other accounts, or as its own acknowledgements. A device that could write there could put
    // a message "from" anyone before the account's other devices.
    if !r.inbound.is_empty() {
        return Err(Refusal::Forbidden(
            "only the service writes an account's inbound spool".into(),
        ));
    }
    let writes_messages = !r.outbound.is_empty()
        || r.updates
            .iter()
            .any(|u| u.container.as_deref().is_some_and(is_spool_of_messages));
    if writes_messages {
        caller.require_right(mesh_schema::rights::MESSAGE, "send messages")?;
    }
    // An entry may state its PayloadDigest in the header (as the reference's do); stated there,
    // it must be its payload's, or the entry would read as sound to one reader and damaged to
    // another.
    let entries = r
        .updates
        .iter()
        .flat_map(|u| &u.envelopes)
        .chain(&r.local)
        .chain(&r.outbound);
    for env in entries {
        if env
            .header
            .payload_digest
            .as_ref()
            .is_some_and(|d| d.as_slice() != mesh_dare::envelope::sha512(&env.payload))
        {
            return Err(Refusal::Malformed(
                "an entry's header states a PayloadDigest that is not its payload's".into(),
            ));
        }
    }
    let mut updates = Vec::new();
    for u in &r.updates {
        let name = u
            .container
            .as_ref()
            .ok_or_else(|| Refusal::Malformed("an update names no container".into()))?;
        check_container_name(name)?;
        if r.updates
            .iter()
            .filter(|o| {
                o.container
                    .as_deref()
                    .is_some_and(|c| c.eq_ignore_ascii_case(name))
            })
            .count()
            > 1
        {
            return Err(Refusal::Malformed(format!(
                "{name} is named by more than one update of the transaction"
            )));
        }
        // Compared without case: on a file system that ignores it, `mmm_inbound` is the same
        // file.
        if name.eq_ignore_ascii_case(INBOUND) || name.eq_ignore_ascii_case(CLAIMS) {
            return Err(Refusal::Forbidden(format!(
                "only the service writes {name}"
            )));
        }
        if let Some(check) = administered(name) {
            caller.require_administrator(&format!("change {name}"))?;
            check_administered(ctx, caller, name, &u.envelopes, check)?;
        }
        updates.push(Update {
            container: name.clone(),
            expect_index: Some(u.index.unwrap_or(0)),
            expect_digest: u.digest.clone(),
            envelopes: u.envelopes.clone(),
        });
    }
    // Messages for other accounts: this service vouches for who sent them.
    // (Its own account among them: a message to itself, say an invitation to a group it made,
    // lands in its own inbound spool like any other.)
    let recipients = post::recipients(&r.accounts);
    if recipients.len() > crate::host::MAX_RECIPIENTS {
        return Err(Refusal::Oversized(format!(
            "{} recipients in one transaction; the limit is {}",
            recipients.len(),
            crate::host::MAX_RECIPIENTS
        )));
    }
    if !recipients.is_empty() && !r.outbound.is_empty() {
        let admin = ServiceHost::admin_key(&caller.account)?;
        for env in &r.outbound {
            post::check_outbound(caller, &admin, env)?;
        }
        // What the account sends, in octets, whoever it goes to (each recipient counted).
        let bytes = message_bytes(&r.outbound);
        over_sender_bytes(host, address, bytes.saturating_mul(recipients.len() as u64))?;
        // Recipients of this service: their allowance too, before anything is applied.
        for recipient in &recipients {
            if host.serves(recipient).is_err() {
                continue;
            }
            if let Some(record) = host.store.account(recipient)? {
                host.not_blocked(&record, std::slice::from_ref(address))?;
                over_inbound_bytes(host, recipient, bytes)?;
                over_queued_bytes(host, recipient, bytes)?;
            }
        }
    }
    // The records a key rotation leaves for the account's other devices (collected with
    // Complete) are the administrator's to write.
    let to_local = r
        .updates
        .iter()
        .filter(|u| {
            u.container
                .as_deref()
                .is_some_and(|c| c.eq_ignore_ascii_case(LOCAL))
        })
        .flat_map(|u| &u.envelopes);
    if r.local.iter().chain(to_local).any(|env| {
        env.content_meta()
            .ok()
            .and_then(|m| m.unique_id)
            .is_some_and(|id| id.starts_with(mesh_schema::catalog::ROTATION_PREFIX))
    }) {
        caller.require_administrator("leave key-rotation records")?;
    }
    for (name, list) in [(LOCAL, &r.local), (OUTBOUND, &r.outbound)] {
        if list.is_empty() {
            continue;
        }
        // One change per container in a transaction: the store journals each container's
        // change from the index it found, and two from the same index would not both apply.
        if updates
            .iter()
            .any(|u| u.container.eq_ignore_ascii_case(name))
        {
            return Err(Refusal::Malformed(format!(
                "{name} is named by an update and by the transaction's own list of it: name it \
                 once"
            )));
        }
        updates.push(Update::append(name, list.clone()));
    }
    let revoke = if r.revocations.is_empty() {
        Vec::new()
    } else {
        let admin = ServiceHost::admin_key(&caller.account)?;
        revoked_by(&admin, address, &r.revocations)?
    };
    over_limit(host, address, total as u64)?;
    ctx.commit()?;
    // The store applies the updates all or none: a failure here applied nothing (503). After
    // it, a failure is the service's own (500): something was applied.
    let outcome = host.store.transact_with_profile(
        address,
        &updates,
        caller.replaces_profile.as_ref().map(|held| ProfileSwap {
            new: &caller.account.profile,
            held,
        }),
    )?;
    if let TransactOutcome::Applied(_) = &outcome {
        for udf in &revoke {
            host.store.revoke(address, udf).map_err(after_commit)?;
        }
    }
    match outcome {
        TransactOutcome::Conflict { container, state } => {
            Ok(Response::TransactResponse(TransactResponse {
                status: Some(409),
                status_description: Some(format!(
                    "Conflict: {container} is at index {} on the service",
                    state.index
                )),
                container_status: vec![ContainerStatus {
                    container: Some(container),
                    index: Some(state.index),
                    digest: state.digest,
                }],
                ..Default::default()
            }))
        }
        TransactOutcome::Applied(assigned) => {
            if !r.outbound.is_empty() && !recipients.is_empty() {
                post::deliver(host, &recipients, &r.outbound, address)
                    .map_err(|e| after_commit_refusal(e, address))?;
            }
            let mut entries = Vec::new();
            let mut n = 0;
            for list in assigned {
                for index in list {
                    entries.push(EntryResponse {
                        index_request: Some(n),
                        index_container: Some(index),
                        result: Some("Accept".into()),
                        ..Default::default()
                    });
                    n += 1;
                }
            }
            let mut container_status = Vec::new();
            for u in &updates {
                let state = host
                    .store
                    .state(address, &u.container)
                    .map_err(after_commit)?;
                container_status.push(ContainerStatus {
                    container: Some(u.container.clone()),
                    index: Some(state.index),
                    digest: state.digest,
                });
            }
            Ok(Response::TransactResponse(TransactResponse {
                status: Some(200),
                entries,
                container_status,
                ..Default::default()
            }))
        }
    }
}

/// Repair (this implementation's extension): an administrator device learns which entries of
/// a container the service holds damaged, and puts its own copies of them back. Only what the
/// service recorded can be restored (the store checks the copies against it); the
/// administrator's authority covers the last entry, which nothing after it records.
pub fn repair(ctx: &Ctx, caller: &DeviceCaller, r: &RepairRequest) -> Outcome {
    let host = ctx.host;
    caller.require_administrator("repair the account's containers")?;
    let name = r
        .container
        .as_deref()
        .ok_or_else(|| Refusal::Malformed("a RepairRequest names its Container".into()))?;
    check_container_name(name)?;
    if r.entries.len() as u64 > MAX_UPDATE_ENTRIES {
        return Err(Refusal::Oversized(format!(
            "{} entries in one repair; the limit is {MAX_UPDATE_ENTRIES}",
            r.entries.len()
        )));
    }
    let mut replacements = Vec::new();
    for entry in &r.entries {
        match (entry.index, &entry.envelope) {
            (Some(index), Some(envelope)) => replacements.push((index, envelope.clone())),
            _ => {
                return Err(Refusal::Malformed(
                    "each entry of a repair has its Index and Envelope".into(),
                ))
            }
        }
    }
    // A listing reads the whole container: charged as a hundredth of its entries (a
    // 100,000-entry container, 1,000 of the account's allowance a minute); a repair, as the
    // entries it writes.
    let charge = match replacements.len() {
        0 => {
            1 + host
                .store
                .state(&caller.account.address, name)
                .map_or(0, |s| s.index)
                / 100
        }
        n => n as u64,
    };
    over_limit(host, &caller.account.address, charge)?;
    if !replacements.is_empty() {
        ctx.commit()?;
    }
    let damaged = host
        .store
        .repair(&caller.account.address, name, &replacements)?;
    Ok(Response::RepairResponse(RepairResponse {
        status: Some(200),
        damaged,
        ..Default::default()
    }))
}

/// Operate for a member of a recryption group: the group's contributions under the
/// capabilities its access catalog grants to the member's profile (and address), signed by the
/// group's administrator key; none once the member is removed.
pub fn operate_member(
    ctx: &Ctx,
    member: &crate::auth::MemberCaller,
    r: &OperateRequest,
) -> Outcome {
    let host = ctx.host;
    let admin = ServiceHost::admin_key(&member.group)?;
    // Metered as the member, not the group: anyone may present a profile, and the group's own
    // allowance is not theirs to spend.
    over_limit(host, &format!("member {}", member.profile_udf), 1)?;
    Ok(crate::operate::operate_for(
        host.store.as_ref(),
        &host.shares,
        &host.keys,
        &member.group.address,
        &admin,
        crate::operate::Grantee {
            udf: &member.profile_udf,
            address: Some(&member.address),
            authentication: Some(&member.admin_udf),
        },
        r,
    )?)
}

pub fn operate(ctx: &Ctx, caller: &DeviceCaller, r: &OperateRequest) -> Outcome {
    caller.require_right(
        mesh_schema::rights::THRESHOLD,
        "decrypt with the service's share of the account key",
    )?;
    let host = ctx.host;
    let admin = ServiceHost::admin_key(&caller.account)?;
    Ok(crate::operate::operate(
        host.store.as_ref(),
        &host.shares,
        &host.keys,
        &caller.account.address,
        &admin,
        &caller.device_udf,
        r,
    )?)
}
