//! Who made a request (protocol-09 §5.3): what each transaction needs, checked before any of it
//! runs. Every signature and MAC here is over the request's binding digest
//! ([`mesh_protocol::binding::binding_digest`]), which covers its nonce and time.
//!
//! * a device of a bound account: the request carries the device's ConnectionDevice signed by the
//!   account's administrator key and is signed by the connection's Signature key (profile
//!   authentication), or carries a ticket this service issued and its MAC;
//! * Bind: the same, against the account profile the request presents;
//! * Connect: a device not yet in any account, signed by the profile key of the device profile
//!   it presents;
//! * Post: another service, signed by the signature key of the service of the domain its
//!   messages come from ([`crate::peers`]);
//! * anyone: Hello, Complete, Claim, PollClaim and the rendezvous channels' Post and Poll.

use mesh_crypto::PublicKey;
use mesh_dare::{DareEnvelope, KeyParameters, KeyRing};
use mesh_protocol::binding::OpenedRequest;
use mesh_protocol::Request;
use mesh_schema::assertion::ConnectionDevice;
use mesh_schema::key::required;
use mesh_schema::message::RequestConnection;
use mesh_schema::profile::{ProfileDevice, ProfileUser};
use mesh_schema::rights::Rights;
use mesh_schema::{expect_item, sender, signed};
use serde::{Deserialize, Serialize};

use crate::host::ServiceHost;
use crate::peers::{domain_of, same_address};
use crate::refusal::Refusal;
use crate::store::{unix_now, AccountRecord};

/// A device of a bound account, authenticated.
pub struct DeviceCaller {
    pub account: AccountRecord,
    pub device_udf: String,
    /// The device's connection keys: responses are encrypted to the first; messages it sends
    /// to other accounts must be signed by the second.
    pub encryption: PublicKey,
    pub signature: PublicKey,
    /// The request is also signed by the account's administrator key (or its root key): the
    /// caller holds it.
    pub administrator: bool,
    /// The rights the administrator granted the device (its connection's `Roles`).
    pub rights: Rights,
    /// A key rotation: `account.profile` is the new profile the request presents (already
    /// checked against the stored one), which the transaction stores in place of this one, the
    /// profile held when the request was checked.
    pub replaces_profile: Option<DareEnvelope>,
}

impl DeviceCaller {
    /// Refused unless the device was granted `right` (an administrator holds every right).
    pub fn require_right(&self, right: &str, what: &str) -> Result<(), Refusal> {
        let held = match right {
            mesh_schema::rights::MESSAGE => self.rights.message,
            mesh_schema::rights::THRESHOLD => self.rights.threshold,
            mesh_schema::rights::WEB => self.rights.web,
            _ => false,
        };
        if held || self.administrator {
            Ok(())
        } else {
            Err(Refusal::Forbidden(format!(
                "this device was connected without the {right} right: it may not {what}"
            )))
        }
    }

    /// Refused unless the caller proved it holds the administrator key.
    pub fn require_administrator(&self, what: &str) -> Result<(), Refusal> {
        if self.administrator {
            Ok(())
        } else {
            Err(Refusal::Forbidden(format!(
                "only an administrator device may {what}: the request must be signed by the \
                 account's administrator key"
            )))
        }
    }
}

#[allow(clippy::large_enum_variant)]
pub enum Caller {
    /// Anyone: nothing was checked.
    Anonymous,
    Device(DeviceCaller),
    /// An administrator device binding an account: authenticated against the profile it
    /// presents, with the devices removed from the account.
    Binder {
        encryption: PublicKey,
        revoked: Vec<String>,
    },
    /// A device asking to join an account, signed by its own profile key.
    NewDevice {
        request: RequestConnection,
        profile: ProfileDevice,
    },
    /// The service of `domain`, posting messages from its accounts.
    Service {
        domain: String,
    },
    /// A device of another account, a member of the recryption group `group` (an account
    /// here), asking for the group's contribution.
    Member(MemberCaller),
}

/// A member of a recryption group, authenticated by its own account's chain: the request
/// signed by a device connection that the member profile's administrator key signed, the
/// profile self-signed and for the member's address.
pub struct MemberCaller {
    pub group: AccountRecord,
    pub address: String,
    /// The UDF of the member's account profile (what the group's capabilities name).
    pub profile_udf: String,
    /// The UDF of the administrator key of the member's profile as presented (a capability
    /// names the one it was granted under).
    pub admin_udf: String,
    pub encryption: PublicKey,
}

impl Caller {
    /// The key a response is encrypted to, if the caller has one.
    pub fn encryption(&self) -> Option<PublicKey> {
        match self {
            Caller::Device(d) => Some(d.encryption.clone()),
            Caller::Member(m) => Some(m.encryption.clone()),
            Caller::Binder { encryption, .. } => Some(encryption.clone()),
            Caller::NewDevice { profile, .. } => required(&profile.encryption, "Encryption").ok(),
            Caller::Anonymous | Caller::Service { .. } => None,
        }
    }

    /// The device, for transactions only a device of the account may make.
    pub fn device(&self) -> Result<&DeviceCaller, Refusal> {
        match self {
            Caller::Device(d) => Ok(d),
            _ => Err(Refusal::Internal),
        }
    }
}

/// A ticket issued to a device (§5.3.4), as the store keeps it (so that every service process
/// on a shared database honours it).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ticket {
    pub account: String,
    pub device_udf: String,
    pub encryption: KeyParameters,
    pub signature: KeyParameters,
    #[serde(with = "mesh_encoding::base64url")]
    pub key: Vec<u8>,
    /// Issued on a request signed by the administrator key too: the ticket stands for both.
    #[serde(default)]
    pub administrator: bool,
    /// The account's administrator key when the ticket was issued: a rotation ends it.
    #[serde(default)]
    pub admin_udf: String,
    /// The device's rights when the ticket was issued (absent from tickets issued before
    /// rights were kept, which are refused).
    #[serde(default)]
    pub rights: Option<Vec<String>>,
}

pub fn authenticate(host: &ServiceHost, opened: &OpenedRequest) -> Result<Caller, Refusal> {
    match &opened.request {
        Request::HelloRequest(_)
        | Request::CompleteRequest(_)
        | Request::ClaimRequest(_)
        | Request::PollClaimRequest(_)
        | Request::MulticastPostRequest(_)
        | Request::MulticastPollRequest(_) => Ok(Caller::Anonymous),
        Request::BindRequest(r) => binder(host, opened, r),
        Request::ConnectRequest(r) => new_device(opened, r),
        Request::PostRequest(r) => service(host, opened, r),
        Request::TransactRequest(r) if r.enveloped_profile_account.is_some() => {
            rotation(host, opened, r).map(Caller::Device)
        }
        Request::OperateRequest(r) if r.enveloped_profile_member.is_some() => {
            member(host, opened, r).map(Caller::Member)
        }
        request => {
            let Some((Some(account), connection)) = request.user() else {
                return Err(Refusal::Malformed("the request names no account".into()));
            };
            device(host, opened, account, connection).map(Caller::Device)
        }
    }
}

/// A member of a recryption group: the group an account here; the member's profile
/// self-signed and for the address it names; the connection the request carries signed by that
/// profile's administrator key and for that address; the request signed by the connection's
/// key; the device given the message right. A member whose account is on this service too is
/// checked as that account's own devices are (removals, replaced connections, rights). (The
/// account of a member at another service is not asked: a device it removed keeps reaching the
/// group's service until the member's keys are rotated.)
fn member(
    host: &ServiceHost,
    opened: &OpenedRequest,
    r: &mesh_protocol::messages::OperateRequest,
) -> Result<MemberCaller, Refusal> {
    let group = r
        .account
        .as_deref()
        .ok_or_else(|| Refusal::Malformed("the request names no group".into()))?;
    let (record, _) = bound_account(host, group)?;
    let unauthenticated = |why: String| Refusal::Unauthenticated(format!("as a member: {why}"));
    let profile_env = r.enveloped_profile_member.as_ref().expect("matched");
    let (profile, profile_udf) = signed::verify_profile_user(profile_env)
        .map_err(|e| unauthenticated(format!("the member profile does not verify: {e}")))?;
    let address = profile
        .account_address
        .clone()
        .ok_or_else(|| unauthenticated("the member profile names no address".into()))?
        .to_ascii_lowercase();
    // The group's own devices take the device path, with its removals and rights.
    if address == record.address {
        return Err(unauthenticated(
            "a device of the group's own account is not a member".into(),
        ));
    }
    let admin = required(&profile.administrator_signature, "AdministratorSignature")
        .map_err(|e| unauthenticated(e.to_string()))?;
    let connection = r
        .enveloped_connection_device
        .as_ref()
        .ok_or_else(|| unauthenticated("the request carries no device connection".into()))?;
    let item = signed::verify_signed_by(connection, &admin, "device connection", &KeyRing::new())
        .map_err(|e| unauthenticated(e.to_string()))?;
    let device = expect_item!(item.into_inner(), ConnectionDevice)
        .map_err(|e| unauthenticated(e.to_string()))?;
    if !same_address(device.account_address.as_deref(), &address) {
        return Err(unauthenticated(
            "the connection is for another account than the profile".into(),
        ));
    }
    let signer: PublicKey =
        required(&device.signature, "Signature").map_err(|e| unauthenticated(e.to_string()))?;
    let signers = opened
        .signers_among(std::slice::from_ref(&signer))
        .map_err(unauthenticated)?;
    if !signers
        .iter()
        .any(|kid| mesh_dare::keys::kid_matches(kid, &signer.udf()))
    {
        return Err(unauthenticated(
            "the request is not signed by the connected device".into(),
        ));
    }
    // A member reads as a device of its account that reads messages does (a device without the
    // message right is a member of nothing).
    if !Rights::of_roles(&device.roles).message {
        return Err(unauthenticated(
            "the member's device was not given the message right".into(),
        ));
    }
    // A member whose account is on this service too is checked as that account's own requests
    // are: a device it removed, a connection it replaced, rights it took away are refused here
    // as well.
    if host.store.account(&address)?.is_some() {
        let own = self::device(host, opened, &address, Some(connection))
            .map_err(|e| unauthenticated(format!("as a device of {address}: {}", e.text())))?;
        // The device that account authenticated (by signature, or by a ticket) is the one
        // whose connection the request presents.
        if own.signature.udf() != signer.udf() {
            return Err(unauthenticated(
                "the request is authenticated as another device than its connection".into(),
            ));
        }
        if !own.rights.message {
            return Err(unauthenticated(
                "the member's device was not given the message right".into(),
            ));
        }
    }
    Ok(MemberCaller {
        group: record,
        address,
        profile_udf,
        admin_udf: admin.udf(),
        encryption: required(&device.encryption, "Encryption")
            .map_err(|e| unauthenticated(e.to_string()))?,
    })
}

/// The refusal of a connection the administrator replaced with another (the device's rights
/// changed): its UDF is among the account's removals, and the device collects its new one.
fn replaced_connection() -> Refusal {
    Refusal::Unauthenticated(
        "this device's connection was replaced by the account's administrator (its rights \
         changed): this device collects its new connection first"
            .into(),
    )
}

/// Profile authentication: the connection is signed by the account's administrator key, is for
/// this account, names a device that is not revoked, and its Signature key signed the request.
/// Also says whether the administrator key signed the request too, and whether the root did.
///
/// A connection signed by the account's root (its ProfileSignature key) stands too, if the
/// request is signed by that key as well: that is a device holding the root (one recovering
/// the account from escrow shares), with the administrator's authority.
fn check_device(
    opened: &OpenedRequest,
    profile: &ProfileUser,
    address: &str,
    connection: Option<&DareEnvelope>,
    revoked: &[String],
) -> Result<(ConnectionDevice, bool, bool), Refusal> {
    let connection = connection.ok_or_else(|| {
        Refusal::Unauthenticated("the request carries no device connection".into())
    })?;
    let admin = required(&profile.administrator_signature, "AdministratorSignature")
        .map_err(|e| Refusal::Malformed(e.to_string()))?;
    let root = required(&profile.profile_signature, "ProfileSignature")
        .map_err(|e| Refusal::Malformed(e.to_string()))?;
    let (item, by_root) =
        match signed::verify_signed_by(connection, &admin, "device connection", &KeyRing::new()) {
            Ok(item) => (item, false),
            Err(e) => match signed::verify_signed_by(connection, &root, "", &KeyRing::new()) {
                Ok(item) => (item, true),
                Err(_) => {
                    // A device removed from the account is told so, whatever its connection.
                    if let Some(udf) = signed::read(connection, &KeyRing::new())
                        .ok()
                        .and_then(|i| expect_item!(i, ConnectionDevice).ok())
                        .and_then(|c| c.subject_udf)
                        .filter(|udf| revoked.contains(udf))
                    {
                        return Err(Refusal::Revoked(udf));
                    }
                    return Err(Refusal::Unauthenticated(format!(
                        "{e} (if the account's keys were rotated, this device collects its \
                         new connection first)"
                    )));
                }
            },
        };
    let device = expect_item!(item.into_inner(), ConnectionDevice)
        .map_err(|e| Refusal::Unauthenticated(e.to_string()))?;
    if !same_address(device.account_address.as_deref(), address) {
        return Err(Refusal::Forbidden(
            "the device connection is for another account".into(),
        ));
    }
    if let Some(udf) = &device.subject_udf {
        if revoked.iter().any(|r| r == udf) {
            return Err(Refusal::Revoked(udf.clone()));
        }
    }
    let signer = required(&device.signature, "Signature")
        .map_err(|e| Refusal::Unauthenticated(e.to_string()))?;
    if revoked.contains(&signer.udf()) {
        return Err(replaced_connection());
    }
    let not_signed = |e: String| {
        Refusal::Unauthenticated(format!(
            "the request is not signed by the connected device: {e}"
        ))
    };
    let signers = opened
        .signers_among(&[signer.clone(), admin.clone(), root.clone()])
        .map_err(not_signed)?;
    let by = |key: &PublicKey| {
        let udf = key.udf();
        signers
            .iter()
            .any(|kid| mesh_dare::keys::kid_matches(kid, &udf))
    };
    if !by(&signer) {
        return Err(not_signed("no signature by its connection key".into()));
    }
    if by_root && !by(&root) {
        return Err(Refusal::Unauthenticated(
            "a connection signed by the account's root key stands only for a request that key \
             signs too"
                .into(),
        ));
    }
    Ok((device, by_root || by(&admin), by(&root)))
}

/// A key rotation (a Transact carrying a new account profile): the new profile is signed by
/// the account's root key (the ProfileSignature key of the profile held here), is later than
/// the one held, and is for this address; the request is signed by that root key, and by a
/// device connected under the new profile and its administrator key. The caller's account is
/// then the account as it will be: its administrator key is the new one.
fn rotation(
    host: &ServiceHost,
    opened: &OpenedRequest,
    r: &mesh_protocol::messages::TransactRequest,
) -> Result<DeviceCaller, Refusal> {
    let (record, held) = bound_account(
        host,
        r.account
            .as_deref()
            .ok_or_else(|| Refusal::Malformed("the request names no account".into()))?,
    )?;
    let envelope = r
        .enveloped_profile_account
        .as_ref()
        .ok_or(Refusal::Internal)?;
    let (profile, _) = signed::verify_profile_user(envelope)
        .map_err(|e| Refusal::Malformed(format!("the account profile does not verify: {e}")))?;
    if !profile.replaces(&held) {
        return Err(Refusal::Forbidden(
            "the profile presented does not replace this account's: it must be signed by the \
             account's root key and be later than the profile held"
                .into(),
        ));
    }
    if !same_address(profile.account_address.as_deref(), &record.address) {
        return Err(Refusal::Forbidden(
            "the account profile is for another address".into(),
        ));
    }
    let (device, administrator, rooted) = check_device(
        opened,
        &profile,
        &record.address,
        r.enveloped_connection_device.as_ref(),
        &record.revoked,
    )?;
    if !rooted {
        return Err(Refusal::Forbidden(
            "a key rotation must be signed by the account's root key".into(),
        ));
    }
    if !administrator {
        return Err(Refusal::Forbidden(
            "a key rotation must be signed by the new administrator key".into(),
        ));
    }
    let admin_before = required(&held.administrator_signature, "AdministratorSignature")
        .map_err(|e| Refusal::Malformed(e.to_string()))?;
    let mut caller = connected_caller(host, record, &admin_before, device, true)?;
    caller.replaces_profile = Some(std::mem::replace(
        &mut caller.account.profile,
        envelope.clone(),
    ));
    Ok(caller)
}

/// The account `address` held by this service, and its profile.
fn bound_account(
    host: &ServiceHost,
    address: &str,
) -> Result<(AccountRecord, ProfileUser), Refusal> {
    let address = address.to_ascii_lowercase();
    host.serves(&address)?;
    let record = host
        .store
        .account(&address)?
        .ok_or_else(|| Refusal::NotFound(format!("no account {address} on this service")))?;
    let profile = record.profile_user().map_err(|e| {
        tracing::error!("account {address}: {e}");
        Refusal::Internal
    })?;
    Ok((record, profile))
}

/// The caller a checked connection makes, unless the account's removals (signed by `admin`)
/// name its device: they cost a read of the access catalog, and so come once the request has
/// authenticated.
fn connected_caller(
    host: &ServiceHost,
    record: AccountRecord,
    admin: &PublicKey,
    device: ConnectionDevice,
    administrator: bool,
) -> Result<DeviceCaller, Refusal> {
    let removals = host.account_removals(&record, admin)?;
    if let Some(udf) = &device.subject_udf {
        if removals.contains(udf) {
            return Err(Refusal::Revoked(udf.clone()));
        }
    }
    let key = |k: &Option<_>, name| {
        required(k, name).map_err(|e| Refusal::Unauthenticated(e.to_string()))
    };
    let signature: PublicKey = key(&device.signature, "Signature")?;
    // A connection replaced (the device's rights changed), as the access catalog records it.
    if removals.contains(&signature.udf()) {
        return Err(replaced_connection());
    }
    Ok(DeviceCaller {
        encryption: key(&device.encryption, "Encryption")?,
        signature,
        rights: Rights::of_roles(&device.roles),
        device_udf: device.subject_udf.unwrap_or_default(),
        account: record,
        administrator,
        replaces_profile: None,
    })
}

fn device(
    host: &ServiceHost,
    opened: &OpenedRequest,
    account: &str,
    connection: Option<&DareEnvelope>,
) -> Result<DeviceCaller, Refusal> {
    let (record, profile) = bound_account(host, account)?;
    let admin = required(&profile.administrator_signature, "AdministratorSignature")
        .map_err(|e| Refusal::Malformed(e.to_string()))?;
    if let Some((id, mac)) = opened.ticket() {
        return check_ticket(host, opened, record, &admin, &id, &mac);
    }
    // The service's own list first, then the account's removals.
    let (device, administrator, _) = check_device(
        opened,
        &profile,
        &record.address,
        connection,
        &record.revoked,
    )?;
    connected_caller(host, record, &admin, device, administrator)
}

/// Ticket authentication: a ticket this service issued, unexpired, for this account and a
/// device not since revoked, and a MAC under its key over the request's binding digest.
fn check_ticket(
    host: &ServiceHost,
    opened: &OpenedRequest,
    record: AccountRecord,
    admin: &PublicKey,
    id: &str,
    mac: &[u8],
) -> Result<DeviceCaller, Refusal> {
    let unknown = || Refusal::Unauthenticated("unknown ticket".into());
    let (bytes, expires) = host
        .store
        .get_ephemeral("ticket", id)?
        .ok_or_else(unknown)?;
    if expires <= unix_now() {
        return Err(Refusal::Unauthenticated("expired ticket".into()));
    }
    let ticket: Ticket = serde_json::from_slice(&bytes).map_err(|_| unknown())?;
    if ticket.account != record.address {
        return Err(Refusal::Unauthenticated(
            "the ticket is for another account".into(),
        ));
    }
    if record.revoked.contains(&ticket.device_udf) {
        return Err(Refusal::Revoked(ticket.device_udf));
    }
    // A ticket of a connection since replaced stands no more than the connection.
    let signature = ticket.signature.public_key().map_err(|_| unknown())?.udf();
    if record.revoked.contains(&signature) {
        return Err(replaced_connection());
    }
    if !opened.ticket_mac_matches(&ticket.key, mac) {
        return Err(Refusal::Unauthenticated(
            "the ticket MAC does not verify".into(),
        ));
    }
    // A ticket from before rights were kept could stand for more than its device was granted:
    // the device signs instead (and is given a new one).
    let Some(rights) = ticket.rights else {
        return Err(Refusal::Unauthenticated(
            "the ticket was issued before device rights were kept".into(),
        ));
    };
    if ticket.admin_udf != admin.udf() {
        return Err(Refusal::Unauthenticated(
            "the ticket was issued under keys since rotated".into(),
        ));
    }
    let removals = host.account_removals(&record, admin)?;
    if removals.contains(&ticket.device_udf) {
        return Err(Refusal::Revoked(ticket.device_udf));
    }
    if removals.contains(&signature) {
        return Err(replaced_connection());
    }
    Ok(DeviceCaller {
        encryption: ticket.encryption.public_key().map_err(|_| unknown())?,
        signature: ticket.signature.public_key().map_err(|_| unknown())?,
        rights: Rights::of_names(&rights),
        device_udf: ticket.device_udf,
        account: record,
        administrator: ticket.administrator,
        replaces_profile: None,
    })
}

fn binder(
    host: &ServiceHost,
    opened: &OpenedRequest,
    r: &mesh_protocol::messages::BindRequest,
) -> Result<Caller, Refusal> {
    let address = r
        .account_address
        .as_deref()
        .map(str::to_ascii_lowercase)
        .ok_or_else(|| Refusal::Malformed("BindRequest without an AccountAddress".into()))?;
    host.serves(&address)?;
    let profile_env = r.enveloped_profile_account.as_ref().ok_or_else(|| {
        Refusal::Malformed("BindRequest without an EnvelopedProfileAccount".into())
    })?;
    let (profile, _) = signed::verify_profile_user(profile_env)
        .map_err(|e| Refusal::Malformed(format!("the account profile does not verify: {e}")))?;
    if !same_address(profile.account_address.as_deref(), &address) {
        return Err(Refusal::Malformed(
            "the account profile is for another address".into(),
        ));
    }
    let admin = required(&profile.administrator_signature, "AdministratorSignature")
        .map_err(|e| Refusal::Malformed(e.to_string()))?;
    let revoked = crate::tx::sync::revoked_by(&admin, &address, &r.revocations)?;
    let (device, administrator, _) = check_device(
        opened,
        &profile,
        &address,
        r.enveloped_connection_device.as_ref(),
        &revoked,
    )?;
    // Binding is the administrator's: a device that is not one (a removed one, say) could
    // otherwise take the address after an unbind.
    if !administrator {
        return Err(Refusal::Forbidden(
            "only an administrator device may bind the account: the request must be signed by \
             the account's administrator key"
                .into(),
        ));
    }
    let encryption = required(&device.encryption, "Encryption")
        .map_err(|e| Refusal::Unauthenticated(e.to_string()))?;
    Ok(Caller::Binder {
        encryption,
        revoked,
    })
}

/// Connect: the request and its carrier are signed by the device's own profile key.
fn new_device(
    opened: &OpenedRequest,
    r: &mesh_protocol::messages::ConnectRequest,
) -> Result<Caller, Refusal> {
    let request_env = r.enveloped_request_connection.as_ref().ok_or_else(|| {
        Refusal::Malformed("ConnectRequest without an EnvelopedRequestConnection".into())
    })?;
    let request = signed::read(request_env, &KeyRing::new())
        .and_then(|i| expect_item!(i, RequestConnection))
        .map_err(|e| Refusal::Malformed(e.to_string()))?;
    let device_env = request.authenticated_data.as_ref().ok_or_else(|| {
        Refusal::Malformed("the connection request carries no device profile".into())
    })?;
    let (profile, _) = signed::verify_profile_device(device_env)
        .map_err(|e| Refusal::Malformed(format!("the device profile does not verify: {e}")))?;
    let device_key = required(&profile.profile_signature, "ProfileSignature")
        .map_err(|e| Refusal::Malformed(e.to_string()))?;
    let mut ring = KeyRing::new();
    ring.add_public(device_key.clone());
    // The request that carries it must be signed by the device's profile key, and so must the
    // enveloped request if it is signed at all: the reference leaves it unsigned (its
    // `ProtocolConnectRequest.md`), and then the device-signed request around it, whose
    // signature covers it, and the self-signed profile inside it are what authenticate it.
    let inner_ok = match request_env.verify_strict(&ring) {
        Ok(_) => true,
        Err(mesh_dare::DareError::NotSigned) => true,
        Err(_) => false,
    };
    if !inner_ok || opened.signed_by(&device_key).is_err() {
        return Err(Refusal::Unauthenticated(
            "the connection request is not signed by the device it presents".into(),
        ));
    }
    Ok(Caller::NewDevice { request, profile })
}

/// Post: every message comes from one domain, and the request is signed by that domain's
/// service.
fn service(
    host: &ServiceHost,
    opened: &OpenedRequest,
    r: &mesh_protocol::messages::PostRequest,
) -> Result<Caller, Refusal> {
    let first = r
        .messages
        .first()
        .ok_or_else(|| Refusal::Malformed("a PostRequest needs accounts and messages".into()))?;
    let claimed = sender::claimed_sender(first).map_err(|e| {
        Refusal::Unauthenticated(format!("a posted message does not say who sent it: {e}"))
    })?;
    let domain = claimed
        .account_address
        .as_deref()
        .map(domain_of)
        .ok_or_else(|| Refusal::Unauthenticated("a posted message names no sender".into()))?;
    // What went wrong in the lookup stays in the log: the caller is not authenticated yet.
    let peer = host.peers.service_metered(&domain).map_err(|e| {
        tracing::info!("a Post for {domain}: {e}");
        Refusal::Unauthenticated(format!("the service of {domain} cannot be authenticated"))
    })?;
    opened.signed_by(&peer.signature).map_err(|e| {
        Refusal::Unauthenticated(format!(
            "a PostRequest must be signed by the service of the senders' domain ({domain}): {e}"
        ))
    })?;
    Ok(Caller::Service { domain })
}
