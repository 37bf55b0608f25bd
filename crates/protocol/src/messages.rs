//! Request and response messages of the Mesh Service protocol (protocol-09 §7, §10), with the
//! names of the draft. Every request and response is carried as a tagged object
//! (`{"StatusRequest": {…}}`) in a DARE envelope ([`crate::binding`]).

use mesh_dare::DareEnvelope;
use mesh_encoding::base64url;
use serde::{Deserialize, Serialize};

/// A message: a [`mesh_schema::mesh_struct`] whose fields are all public.
macro_rules! message {
    ($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        mesh_schema::mesh_struct! {
            $(#[$doc])*
            pub struct $name {
                $($(#[$fdoc])* pub $field: $ty,)*
            }
        }
    };
}

message!(KeyValue { key: Option<String>, value: Option<String> });

message!(
    /// Which entries of a container to return (§10.4.2).
    ConstraintsSelect {
        container: Option<String>,
        index_min: Option<u64>,
        index_max: Option<u64>,
        page_key: Option<String>,
        not_before: Option<String>,
        before: Option<String>,
    }
);

message!(
    /// Limits on the data exchanged (§10.4.3).
    ConstraintsData {
        max_entries: Option<u64>,
        bytes_offset: Option<u64>,
        bytes_max: Option<u64>,
        header: Option<bool>,
        payload: Option<bool>,
        trailer: Option<bool>,
    }
);

message!(PolicyAccount { minimum: Option<u64>, maximum: Option<u64>, invalid_characters: Option<String> });

message!(
    /// A container's state: its last index and apex (tree) digest (§10.4.5).
    ContainerStatus {
        container: Option<String>,
        index: Option<u64>,
        #[serde(with = "base64url::option")]
        digest: Option<Vec<u8>>,
    }
);

message!(
    /// Entries for a container; in a request, `Index` and `Digest` are the state the client
    /// expects the container to be in before they are appended (§10.4.6).
    ContainerUpdate {
        container: Option<String>,
        index: Option<u64>,
        #[serde(with = "base64url::option")]
        digest: Option<Vec<u8>>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        envelopes: Vec<DareEnvelope>,
    }
);

message!(EncodingInfo {
    /// `ID` as the reference writes it (`Id` as earlier builds did, read too).
    #[serde(rename = "ID", alias = "Id")]
    id: Vec<String>,
});
message!(Version { major: Option<u64>, minor: Option<u64>, encodings: Vec<EncodingInfo> });

message!(HelloRequest {
    service: Option<String>,
#[serde(rename = "ID", with = "mesh_encoding::base64url::option")]
    id: Option<Vec<u8>>,
});

message!(MeshHelloResponse {
status: Option<u16>,
status_description: Option<String>,
version: Option<Version>,
constraints_update: Option<ConstraintsData>,
constraints_post: Option<ConstraintsData>,
policy_account: Option<PolicyAccount>,
enveloped_profile_service: Option<DareEnvelope>,
enveloped_profile_host: Option<DareEnvelope>,
    callsign_binding: Option<mesh_schema::assertion::CallsignBinding>,
});

message!(
    /// Fields of every request made for an account by one of its devices (§10.1.2). The
    /// connection assertion is how the device proves it belongs to the account (profile
    /// authentication, §5.3.3).
    MeshRequestUser {
        account: Option<String>,
        enveloped_profile_device: Option<DareEnvelope>,
        enveloped_connection_device: Option<DareEnvelope>,
    }
);

message!(
    /// `Revocations` (this implementation's, like TransactRequest's): the devices removed from
    /// the account, each a Revocation sealed by the administrator key, taken with the bind in
    /// one step, so that no removed device is served in between.
    BindRequest {
        account: Option<String>,
        enveloped_connection_device: Option<DareEnvelope>,
        account_address: Option<String>,
        enveloped_profile_account: Option<DareEnvelope>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        revocations: Vec<DareEnvelope>,
        /// The reference's: callsigns bound with the account (CallsignBinding envelopes).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        enveloped_callsign_binding: Vec<DareEnvelope>,
    }
);

message!(
    /// The answer to Bind; the reference adds the host the account is assigned to.
    BindResponse {
        status: Option<u16>,
        status_description: Option<String>,
        enveloped_account_host_assignment: Option<DareEnvelope>,
        reason: Option<String>,
    #[serde(rename = "URL")]
        url: Option<String>,
    }
);

message!(UnbindRequest { account: Option<String>, enveloped_connection_device: Option<DareEnvelope>,
    capability: Option<String>,
    enveloped_profile_device: Option<DareEnvelope>,
});

message!(StatusRequest {
account: Option<String>,
enveloped_connection_device: Option<DareEnvelope>,
/// The reference's: the digest of the device's CatalogedDevice as it holds it.
cataloged_device_digest: Option<String>,
#[serde(skip_serializing_if = "Vec::is_empty")]
catalogs: Vec<String>,
#[serde(skip_serializing_if = "Vec::is_empty")]
spools: Vec<String>,
    capability: Option<String>,
    enveloped_profile_device: Option<DareEnvelope>,
#[serde(rename = "DeviceUDF")]
    device_udf: Option<String>,
});

message!(StatusResponse {
status: Option<u16>,
status_description: Option<String>,
enveloped_profile_account: Option<DareEnvelope>,
#[serde(skip_serializing_if = "Vec::is_empty")]
container_status: Vec<ContainerStatus>,
    enveloped_cataloged_device: Option<DareEnvelope>,
    cataloged_device_digest: Option<String>,
    enveloped_account_host_assignment: Option<DareEnvelope>,
});

message!(DownloadRequest {
account: Option<String>,
enveloped_connection_device: Option<DareEnvelope>,
#[serde(skip_serializing_if = "Vec::is_empty")]
select: Vec<ConstraintsSelect>,
constraints_post: Option<ConstraintsData>,
    capability: Option<String>,
    enveloped_profile_device: Option<DareEnvelope>,
});

message!(DownloadResponse {
    status: Option<u16>,
    status_description: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    updates: Vec<ContainerUpdate>,
});

message!(
    /// A device removed from an account. Sealed by the account's administrator key and sent in
    /// a TransactRequest's `Revocations`; from then on the service refuses that device (the
    /// draft names no message for this; it is this implementation's).
    Revocation { account: Option<String>, device_udf: Option<String> }
);

message!(
    /// `EnvelopedProfileAccount` (this implementation's): a key rotation's new account profile,
    /// signed by the account's ProfileSignature key and later than the one the service holds.
    /// The service replaces its profile with it in the same step as the transaction's updates,
    /// and authenticates the request against it (the request is signed by the ProfileSignature
    /// key too).
    TransactRequest {
        account: Option<String>,
        enveloped_connection_device: Option<DareEnvelope>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        updates: Vec<ContainerUpdate>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        revocations: Vec<DareEnvelope>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        accounts: Vec<String>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        outbound: Vec<DareEnvelope>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        inbound: Vec<DareEnvelope>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        local: Vec<DareEnvelope>,
        enveloped_profile_account: Option<DareEnvelope>,
        capability: Option<String>,
        enveloped_profile_device: Option<DareEnvelope>,
    }
);

message!(EntryResponse {
index_request: Option<u64>,
index_container: Option<u64>,
result: Option<String>,
    constraints_data: Option<ConstraintsData>,
});

message!(TransactResponse {
status: Option<u16>,
status_description: Option<String>,
#[serde(skip_serializing_if = "Vec::is_empty")]
entries: Vec<EntryResponse>,
#[serde(skip_serializing_if = "Vec::is_empty")]
container_status: Vec<ContainerStatus>,
    constraints_data: Option<ConstraintsData>,
});

message!(PostRequest { accounts: Vec<String>, messages: Vec<DareEnvelope> });

message!(ConnectRequest {
    enveloped_request_connection: Option<DareEnvelope>,
    /// The rights asked for; kept absent or present (even empty) as it came, since the
    /// reference writes an empty list here.
    rights: Option<Vec<String>>,
});

message!(ConnectResponse {
    status: Option<u16>,
    status_description: Option<String>,
    enveloped_acknowledge_connection: Option<DareEnvelope>,
    enveloped_profile_account: Option<DareEnvelope>,
});

message!(CompleteRequest {
account_address: Option<String>,
#[serde(rename = "ResponseID")]
response_id: Option<String>,
    account: Option<String>,
    capability: Option<String>,
    enveloped_profile_device: Option<DareEnvelope>,
#[serde(rename = "DeviceUDF")]
    device_udf: Option<String>,
    cataloged_device_digest: Option<String>,
#[serde(skip_serializing_if = "Vec::is_empty")]
    catalogs: Vec<String>,
#[serde(skip_serializing_if = "Vec::is_empty")]
    spools: Vec<String>,
});

message!(CompleteResponse {
status: Option<u16>,
status_description: Option<String>,
enveloped_respond_connection: Option<DareEnvelope>,
    enveloped_account_host_assignment: Option<DareEnvelope>,
});

message!(
    /// Status and description of responses that carry nothing else (Bind, Unbind, errors).
    MeshResponse { status: Option<u16>, status_description: Option<String>, reason: Option<String> }
);

message!(
    /// Open a short-lived rendezvous channel (for pairing codes); only a device of an account may.
    /// `ChannelKey` (this implementation's): what posts and polls on the channel must present,
    /// derived from the secret part of the pairing code ([`channel_key`]), so that a channel
    /// cannot be found, read or written by trying ids.
    MulticastAllocateRequest {
        account: Option<String>,
        enveloped_connection_device: Option<DareEnvelope>,
        #[serde(with = "base64url::option")]
        channel_key: Option<Vec<u8>>,
    }
);
message!(MulticastAllocateResponse { status: Option<u16>, status_description: Option<String>, channel_id: Option<u64>, expires_seconds: Option<u64> });
message!(
    /// Put a blob on a channel, replacing what was there; anyone may (the blobs protect themselves).
    MulticastPostRequest {
        channel_id: Option<u64>,
        #[serde(with = "base64url::option")]
        blob: Option<Vec<u8>>,
        #[serde(with = "base64url::option")]
        channel_key: Option<Vec<u8>>,
    }
);
message!(MulticastPollRequest {
    channel_id: Option<u64>,
    #[serde(with = "base64url::option")]
    channel_key: Option<Vec<u8>>,
});

/// The key of a rendezvous channel whose pairing code carries the secret `token`, for pairing
/// a device of `address`: Argon2id (64 MiB, 3 passes, 1 lane, 32 octets) of the token (4
/// octets big-endian), salted with SHA-256("MeshPairingChannel" ‖ the address in lower case).
///
/// The service holds this key, and the token is also the SPAKE2 password's secret part: a
/// plain hash of 32 bits would give the service the password in seconds (and with it the
/// pairing, as a man in the middle). Memory-hard and salted by the account, finding the token
/// from the key takes 2^32 of these (about 0.1 s each on a laptop core) for each account,
/// while the code it pairs with lives 15 s. The channel's id is not in the salt: the key is
/// registered when the channel is allocated, before its id is known.
pub fn channel_key(token: u32, address: &str) -> Vec<u8> {
    use sha2::Digest;
    let salt = sha2::Sha256::new()
        .chain_update(b"MeshPairingChannel")
        .chain_update(address.to_ascii_lowercase().as_bytes())
        .finalize();
    let mut key = vec![0u8; 32];
    // Fixed, valid parameters: neither can fail.
    let params = argon2::Params::new(64 * 1024, 3, 1, Some(32)).expect("Argon2 parameters");
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password_into(&token.to_be_bytes(), &salt, &mut key)
        .expect("Argon2 with a 32-octet salt");
    key
}
message!(MulticastPollResponse {
    status: Option<u16>,
    status_description: Option<String>,
    #[serde(with = "base64url::option")]
    blob: Option<Vec<u8>>,
});

message!(
    /// Ask for a ticket (§5.3.4): after this profile-authenticated exchange, requests carry the
    /// ticket and a MAC under its key instead of a signature.
    TicketRequest { account: Option<String>, enveloped_connection_device: Option<DareEnvelope> }
);
message!(TicketResponse {
    status: Option<u16>,
    status_description: Option<String>,
    ticket: Option<String>,
    #[serde(with = "base64url::option")]
    ticket_key: Option<Vec<u8>>,
    expires_seconds: Option<u64>,
});

message!(
    /// Claim a publication (protocol-09 §10.14): the claim names the publisher (`Recipient`),
    /// the publication and the claimant, signed by the claimant's administrator key.
    ClaimRequest { enveloped_message_claim: Option<DareEnvelope> }
);
message!(ClaimResponse {
    status: Option<u16>,
    status_description: Option<String>,
    cataloged_publication: Option<mesh_schema::catalog::CatalogedPublication>,
});
message!(PollClaimRequest { publication_id: Option<String>, target_account_address: Option<String> });
message!(PollClaimResponse { status: Option<u16>, status_description: Option<String>, enveloped_message: Option<DareEnvelope> });

message!(
    /// A threshold key agreement (§10.15.5): the contribution of the service's share of the key
    /// named by the capability `KeyId` to an agreement with `PublicKey` (an ephemeral key), a
    /// tagged key as the reference writes it (`{"PublicKeyECDH": {…}}`).
    CryptographicOperationKeyAgreement {
        key_id: Option<String>,
        #[serde(with = "base64url::option")]
        key_coefficient: Option<Vec<u8>>,
        public_key: Option<OperateKey>,
    }
);

/// A key in an Operate message: the tagged key parameters the reference writes (and this
/// build writes), or the KeyData (`{"Udf", "PublicParameters"}`) earlier builds wrote, read
/// too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OperateKey {
    Parameters(mesh_dare::KeyParameters),
    KeyData(Box<mesh_schema::KeyData>),
}

impl OperateKey {
    pub fn from_public(key: &mesh_crypto::PublicKey) -> Self {
        OperateKey::Parameters(mesh_dare::KeyParameters::from_public(key))
    }

    /// The public key; a private key or an RSA key here is refused.
    pub fn public_key(&self) -> Result<mesh_crypto::PublicKey, mesh_schema::SchemaError> {
        match self {
            OperateKey::Parameters(p @ mesh_dare::KeyParameters::Public { .. }) => {
                Ok(p.public_key()?)
            }
            OperateKey::Parameters(_) => Err(mesh_schema::SchemaError::Invalid(
                "an Operate key must be a public key agreement key".into(),
            )),
            OperateKey::KeyData(k) => k.public_key("PublicKey"),
        }
    }
}

/// The result of a key agreement as the reference writes it:
/// `{"KeyAgreementECDH": {"Curve": "X448", "Result": "…"}}`, the result being the point in the
/// curve's public-key encoding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum KeyAgreement {
    #[serde(rename = "KeyAgreementECDH")]
    Ecdh(KeyAgreementEcdh),
    /// A finite-field Diffie-Hellman result (the reference's; no Mesh key makes one).
    #[serde(rename = "KeyAgreementDH")]
    Dh(KeyAgreementDh),
}

message!(KeyAgreementDh {
    #[serde(with = "base64url::option")]
    result: Option<Vec<u8>>,
});

message!(KeyAgreementEcdh {
    curve: Option<String>,
    #[serde(with = "base64url::option")]
    result: Option<Vec<u8>>,
});

/// A key-agreement result in either form: the reference's (written) or the KeyData of earlier
/// builds (read).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AgreementResult {
    Tagged(KeyAgreement),
    KeyData(Box<mesh_schema::KeyData>),
}

impl AgreementResult {
    pub fn from_point(point: &mesh_crypto::PublicKey) -> Self {
        AgreementResult::Tagged(KeyAgreement::Ecdh(KeyAgreementEcdh {
            curve: Some(point.algorithm().curve().to_string()),
            result: Some(point.as_bytes().to_vec()),
        }))
    }

    /// The point, checked to be one on the named curve.
    pub fn point(&self) -> Result<mesh_crypto::PublicKey, mesh_schema::SchemaError> {
        match self {
            AgreementResult::Tagged(KeyAgreement::Ecdh(k)) => {
                let curve = k.curve.as_deref().ok_or_else(|| {
                    mesh_schema::SchemaError::Invalid("a key agreement without its Curve".into())
                })?;
                let algorithm = mesh_crypto::Algorithm::from_curve(curve)
                    .map_err(|e| mesh_schema::SchemaError::Invalid(e.to_string()))?;
                mesh_crypto::PublicKey::new(algorithm, k.result.clone().unwrap_or_default())
                    .map_err(|e| mesh_schema::SchemaError::Invalid(e.to_string()))
            }
            AgreementResult::KeyData(k) => k.public_key("KeyAgreement"),
            AgreementResult::Tagged(KeyAgreement::Dh(_)) => Err(mesh_schema::SchemaError::Invalid(
                "a finite-field key agreement where an elliptic curve point is expected".into(),
            )),
        }
    }
}

/// One cryptographic operation of an Operate request (§10.15.3–10.15.7); only key agreement
/// is performed (threshold signature is "not currently supported" by the draft either).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CryptographicOperation {
    CryptographicOperationKeyAgreement(CryptographicOperationKeyAgreement),
    /// The reference's other operations: read, and answered with an error (this service
    /// performs only key agreement).
    CryptographicOperationSign(CryptographicOperationSign),
    CryptographicOperationGenerate(CryptographicOperationGenerate),
    CryptographicOperationShare(CryptographicOperationShare),
}

message!(
    /// A threshold signature contribution (the reference's; not performed here).
    CryptographicOperationSign {
        key_id: Option<String>,
        #[serde(with = "base64url::option")]
        key_coefficient: Option<Vec<u8>>,
        #[serde(with = "base64url::option")]
        data: Option<Vec<u8>>,
        #[serde(rename = "PartialR", with = "base64url::option")]
        partial_r: Option<Vec<u8>>,
    }
);

message!(
    /// Key generation (the reference's; not performed here).
    CryptographicOperationGenerate {
        key_id: Option<String>,
        #[serde(with = "base64url::option")]
        key_coefficient: Option<Vec<u8>>,
    }
);

message!(
    /// Key sharing (the reference's; not performed here).
    CryptographicOperationShare {
        key_id: Option<String>,
        #[serde(with = "base64url::option")]
        key_coefficient: Option<Vec<u8>>,
        threshold: Option<i64>,
        shares: Option<i64>,
    }
);

message!(
    /// A result with nothing but an error (the reference's base CryptographicResult, which it
    /// also sends as itself).
    CryptographicResultError { error: Option<String> }
);

message!(
    /// The result of a key agreement (§10.15.9): the service share's contribution, a curve
    /// point in the public-key encoding (`KeyAgreement`, a field the draft does not list), or
    /// `Error`.
    CryptographicResultKeyAgreement {
        error: Option<String>,
        key_agreement: Option<AgreementResult>,
    }
);

/// One result of an Operate response, in the order of the operations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CryptographicResult {
    CryptographicResultKeyAgreement(CryptographicResultKeyAgreement),
    /// An operation that was not performed, and why.
    #[serde(rename = "CryptographicResult")]
    CryptographicResultError(CryptographicResultError),
    CryptographicResultShare(CryptographicResultError),
}

impl CryptographicOperation {
    /// The name of the operation, as the wire tags it.
    pub fn name(&self) -> &'static str {
        match self {
            CryptographicOperation::CryptographicOperationKeyAgreement(_) => {
                "CryptographicOperationKeyAgreement"
            }
            CryptographicOperation::CryptographicOperationSign(_) => "CryptographicOperationSign",
            CryptographicOperation::CryptographicOperationGenerate(_) => {
                "CryptographicOperationGenerate"
            }
            CryptographicOperation::CryptographicOperationShare(_) => "CryptographicOperationShare",
        }
    }
}

message!(
    /// Operate (§10.16): cryptographic operations with key shares the service holds for the
    /// account. `Operations` is not in the draft's field list; the transaction has no other
    /// way to say what to do.
    OperateRequest {
        account: Option<String>,
        enveloped_connection_device: Option<DareEnvelope>,
        account_address: Option<String>,
        /// A member of a recryption group asking for the group's contribution: the member's
        /// self-signed account profile, whose administrator key signed the connection the
        /// request carries (an extension of this implementation's; protocol-09 does not say
        /// how a member authenticates to the group's service).
        enveloped_profile_member: Option<DareEnvelope>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        operations: Vec<CryptographicOperation>,
    }
);
message!(OperateResponse {
    status: Option<u16>,
    status_description: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    results: Vec<CryptographicResult>,
});

message!(
    /// One entry of a container, at its index (a Repair's replacement).
    ContainerEntry {
        index: Option<u64>,
        envelope: Option<DareEnvelope>,
    }
);

message!(
    /// Repair (an extension of this implementation's, not in protocol-09): an administrator
    /// device asks which entries of a container the service holds damaged (no `Entries`), and
    /// sends its own copies of them. The service takes them only if the container is then whole
    /// and agrees with every digest it recorded: a damaged entry can be put back, not changed.
    RepairRequest {
        account: Option<String>,
        enveloped_connection_device: Option<DareEnvelope>,
        container: Option<String>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        entries: Vec<ContainerEntry>,
    }
);
message!(
    /// The entries of the container still damaged (none: it is whole).
    RepairResponse {
        status: Option<u16>,
        status_description: Option<String>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        damaged: Vec<u64>,
    }
);

/// Every request the service answers.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Request {
    HelloRequest(HelloRequest),
    BindRequest(BindRequest),
    UnbindRequest(UnbindRequest),
    StatusRequest(StatusRequest),
    DownloadRequest(DownloadRequest),
    TransactRequest(TransactRequest),
    PostRequest(PostRequest),
    ConnectRequest(ConnectRequest),
    CompleteRequest(CompleteRequest),
    MulticastAllocateRequest(MulticastAllocateRequest),
    MulticastPostRequest(MulticastPostRequest),
    MulticastPollRequest(MulticastPollRequest),
    ClaimRequest(ClaimRequest),
    PollClaimRequest(PollClaimRequest),
    TicketRequest(TicketRequest),
    OperateRequest(OperateRequest),
    RepairRequest(RepairRequest),
}

/// Every response the service gives.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Response {
    MeshHelloResponse(MeshHelloResponse),
    BindResponse(BindResponse),
    UnbindResponse(MeshResponse),
    StatusResponse(StatusResponse),
    DownloadResponse(DownloadResponse),
    TransactResponse(TransactResponse),
    PostResponse(TransactResponse),
    ConnectResponse(ConnectResponse),
    CompleteResponse(CompleteResponse),
    MulticastAllocateResponse(MulticastAllocateResponse),
    MulticastPollResponse(MulticastPollResponse),
    ClaimResponse(ClaimResponse),
    PollClaimResponse(PollClaimResponse),
    TicketResponse(TicketResponse),
    OperateResponse(OperateResponse),
    RepairResponse(RepairResponse),
    /// A refusal: the status says why.
    MeshResponse(MeshResponse),
}

impl Request {
    pub fn name(&self) -> &'static str {
        match self {
            Request::HelloRequest(_) => "HelloRequest",
            Request::BindRequest(_) => "BindRequest",
            Request::UnbindRequest(_) => "UnbindRequest",
            Request::StatusRequest(_) => "StatusRequest",
            Request::DownloadRequest(_) => "DownloadRequest",
            Request::TransactRequest(_) => "TransactRequest",
            Request::PostRequest(_) => "PostRequest",
            Request::ConnectRequest(_) => "ConnectRequest",
            Request::CompleteRequest(_) => "CompleteRequest",
            Request::MulticastAllocateRequest(_) => "MulticastAllocateRequest",
            Request::MulticastPostRequest(_) => "MulticastPostRequest",
            Request::MulticastPollRequest(_) => "MulticastPollRequest",
            Request::ClaimRequest(_) => "ClaimRequest",
            Request::PollClaimRequest(_) => "PollClaimRequest",
            Request::TicketRequest(_) => "TicketRequest",
            Request::OperateRequest(_) => "OperateRequest",
            Request::RepairRequest(_) => "RepairRequest",
        }
    }

    /// The account and connection assertion of a request made for an account.
    pub fn user(&self) -> Option<(Option<&str>, Option<&DareEnvelope>)> {
        match self {
            Request::BindRequest(r) => Some((
                r.account_address.as_deref(),
                r.enveloped_connection_device.as_ref(),
            )),
            Request::UnbindRequest(r) => {
                Some((r.account.as_deref(), r.enveloped_connection_device.as_ref()))
            }
            Request::StatusRequest(r) => {
                Some((r.account.as_deref(), r.enveloped_connection_device.as_ref()))
            }
            Request::DownloadRequest(r) => {
                Some((r.account.as_deref(), r.enveloped_connection_device.as_ref()))
            }
            Request::TransactRequest(r) => {
                Some((r.account.as_deref(), r.enveloped_connection_device.as_ref()))
            }
            Request::MulticastAllocateRequest(r) => {
                Some((r.account.as_deref(), r.enveloped_connection_device.as_ref()))
            }
            Request::TicketRequest(r) => {
                Some((r.account.as_deref(), r.enveloped_connection_device.as_ref()))
            }
            Request::OperateRequest(r) => {
                Some((r.account.as_deref(), r.enveloped_connection_device.as_ref()))
            }
            Request::RepairRequest(r) => {
                Some((r.account.as_deref(), r.enveloped_connection_device.as_ref()))
            }
            _ => None,
        }
    }
}

impl Response {
    /// The status code the payload carries (authoritative over the HTTP code, §5.5).
    pub fn status(&self) -> (u16, Option<&str>) {
        let (s, d) = match self {
            Response::MeshHelloResponse(r) => (r.status, r.status_description.as_deref()),
            Response::BindResponse(r) => (r.status, r.status_description.as_deref()),
            Response::UnbindResponse(r) | Response::MeshResponse(r) => {
                (r.status, r.status_description.as_deref())
            }
            Response::StatusResponse(r) => (r.status, r.status_description.as_deref()),
            Response::DownloadResponse(r) => (r.status, r.status_description.as_deref()),
            Response::TransactResponse(r) | Response::PostResponse(r) => {
                (r.status, r.status_description.as_deref())
            }
            Response::ConnectResponse(r) => (r.status, r.status_description.as_deref()),
            Response::CompleteResponse(r) => (r.status, r.status_description.as_deref()),
            Response::MulticastAllocateResponse(r) => (r.status, r.status_description.as_deref()),
            Response::MulticastPollResponse(r) => (r.status, r.status_description.as_deref()),
            Response::ClaimResponse(r) => (r.status, r.status_description.as_deref()),
            Response::PollClaimResponse(r) => (r.status, r.status_description.as_deref()),
            Response::TicketResponse(r) => (r.status, r.status_description.as_deref()),
            Response::OperateResponse(r) => (r.status, r.status_description.as_deref()),
            Response::RepairResponse(r) => (r.status, r.status_description.as_deref()),
        };
        (s.unwrap_or(200), d)
    }

    /// A refusal with a status code and a description.
    pub fn error(status: u16, description: impl Into<String>) -> Response {
        Response::MeshResponse(MeshResponse {
            status: Some(status),
            status_description: Some(description.into()),
            reason: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::channel_key;

    #[test]
    fn a_channel_key_is_the_accounts_own_and_no_plain_hash_of_the_token() {
        use sha2::Digest;
        let key = channel_key(0x0102_0304, "alice@example.com");
        assert_eq!(key.len(), 32);
        // Salted by the account (so one table of all 2^32 tokens serves one account only),
        // whatever its case.
        assert_eq!(key, channel_key(0x0102_0304, "Alice@Example.com"));
        assert_ne!(key, channel_key(0x0102_0304, "bob@example.com"));
        assert_ne!(key, channel_key(0x0102_0305, "alice@example.com"));
        // Not the hash the service could invert in seconds.
        let plain = sha2::Sha256::new()
            .chain_update(b"MeshPairingChannel")
            .chain_update(0x0102_0304u32.to_be_bytes())
            .finalize()
            .to_vec();
        assert_ne!(key, plain);
    }
}
