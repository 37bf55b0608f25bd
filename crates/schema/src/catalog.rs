//! Catalog entries (schema-08 §4, §10.3–10.4). Where the draft leaves an entry's content open
//! (SSH keys), the fields are this project's and say so.

use mesh_dare::DareEnvelope;

use crate::KeyData;

cataloged_struct! {
pub struct CatalogedDevice {
    /// The device's UDF within the account (its ProfileDevice UDF).
    pub udf: Option<String>,
    pub device_udf: Option<String>,
    pub signature_udf: Option<String>,
    pub enveloped_profile_user: Option<DareEnvelope>,
    pub enveloped_profile_device: Option<DareEnvelope>,
    pub enveloped_connection_device: Option<DareEnvelope>,
    pub enveloped_activation_device: Option<DareEnvelope>,
    pub enveloped_activation_account: Option<DareEnvelope>,
    /// Administrator devices: their ActivationCommon, encrypted to the device.
    pub enveloped_activation_common: Option<DareEnvelope>,
    /// The reference's: the device's service connection, and the application entries
    /// (`{"ApplicationEntrySsh": {…}}`) the device holds activations for.
    pub enveloped_connection_service: Option<DareEnvelope>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub application_entries: Vec<ApplicationEntry>,
    pub updated: Option<String>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

cataloged_struct! {
pub struct CatalogedCredential {
    pub protocol: Option<String>,
    pub service: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub client_authentication: Vec<KeyData>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub host_authentication: Vec<KeyData>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

cataloged_struct! {
pub struct CatalogedNetwork {
    pub protocol: Option<String>,
    pub service: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

cataloged_struct! {
pub struct CatalogedBookmark {
    pub uri: Option<String>,
    pub title: Option<String>,
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub comments: Vec<String>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

mesh_struct! {
pub struct Task {
    pub key: Option<String>,
    pub start: Option<String>,
    pub finish: Option<String>,
    pub time_zone: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub location: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trigger: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conference: Vec<String>,
    pub repeat: Option<String>,
    pub busy: Option<bool>,
}}

cataloged_struct! {
pub struct CatalogedTask {
    /// An envelope holding `{"Task": …}`.
    pub enveloped_task: Option<DareEnvelope>,
    pub title: Option<String>,
    pub key: Option<String>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

/// One application entry of a CatalogedDevice, tagged by its kind as the reference writes it
/// (`{"ApplicationEntrySsh": {…}}`). A kind this build does not know is kept as it came.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ApplicationEntry {
    #[serde(rename = "ApplicationEntrySsh")]
    pub ssh: Option<ApplicationEntryBody>,
    #[serde(rename = "ApplicationEntryMail")]
    pub mail: Option<ApplicationEntryBody>,
    #[serde(rename = "ApplicationEntryGroup")]
    pub group: Option<ApplicationEntryBody>,
    #[serde(rename = "ApplicationEntryCallsign")]
    pub callsign: Option<ApplicationEntryBody>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}

mesh_struct! {
/// What an application entry says: which application entry, and the device's activation for
/// it (encrypted to the device).
pub struct ApplicationEntryBody {
    pub identifier: Option<String>,
    pub enveloped_activation: Option<DareEnvelope>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

mesh_struct! {
pub struct NetworkAddress {
    pub inactive: Option<bool>,
    pub address: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub network_capability: Vec<String>,
    /// The address's account profile, signed (the reference's).
    pub enveloped_profile_account: Option<DareEnvelope>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub protocols: Vec<NetworkProtocol>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<serde_json::Value>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

mesh_struct! {
/// A protocol an address is reached by (the reference's NetworkProtocol).
pub struct NetworkProtocol {
    pub protocol: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<serde_json::Value>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

mesh_struct! {
/// Where a contact's data came from: a signed source (the reference's TaggedSource), whose
/// envelope carries a ContactPerson.
pub struct TaggedSource {
    pub local_name: Option<String>,
    pub validation: Option<String>,
    pub enveloped_source: Option<DareEnvelope>,
    #[serde(with = "mesh_encoding::base64url::option")]
    pub binary_source: Option<Vec<u8>>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

mesh_struct! {
pub struct PersonName {
    pub full_name: Option<String>,
    pub first: Option<String>,
    pub last: Option<String>,
    pub inactive: Option<bool>,
    pub prefix: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub middle: Vec<String>,
    pub suffix: Option<String>,
    pub post_nominal: Option<String>,
}}

mesh_struct! {
pub struct Anchor {
    pub udf: Option<String>,
    pub validation: Option<String>,
}}

contact_struct! {
/// schema-08 §10.3.5: a person.
pub struct ContactPerson {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub common_names: Vec<PersonName>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

cataloged_struct! {
pub struct CatalogedContact {
    pub key: Option<String>,
    #[serde(rename = "Self")]
    pub is_self: Option<bool>,
    /// The contact itself (the draft's CatalogedContact carries only its key; the reference
    /// code wraps the Contact beside it), tagged as the reference writes it
    /// (`{"ContactPerson": {…}}`); the untagged form of earlier builds is read too.
    #[serde(with = "tagged_contact")]
    pub contact: Option<Contact>,
    /// The contact's self-signed account profile, as a MessageContact from them carried it:
    /// what messages to them are encrypted to (not a field of the draft).
    pub enveloped_profile_user: Option<DareEnvelope>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

cataloged_struct! {
/// An entry of the access catalog (schema-08 §4.1): a privilege granted to a party, here a
/// cryptographic capability the service exercises for a device. `Capability` is not among the
/// draft's (empty) field list; the entry has no other place for what it grants.
pub struct CatalogedAccess {
    pub key: Option<String>,
    pub capability: Option<CryptographicCapability>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

/// The UniqueId prefix of an access-catalog entry that records a device's removal: a
/// CatalogedAccess whose key is the prefix and the device UDF, labelled [`REVOKED_LABEL`], with
/// no capability, made (like every access entry) by the administrator. Being entries of the
/// account's own catalog, removals are account state: whichever service the account is bound
/// to, and however often, gets them with the catalog and refuses the device. The drafts record
/// no removal; this entry is this implementation's.
pub const REVOKED_PREFIX: &str = "Revoked:";
pub const REVOKED_LABEL: &str = "Revoked";

/// The UniqueId prefix of an access-catalog entry recording a sender the account blocked
/// (`Blocked:ADDRESS`): an administered entry, signed by the administrator key, which the
/// account's service reads to refuse messages from that address. This implementation's.
pub const BLOCKED_PREFIX: &str = "Blocked:";
pub const BLOCKED_LABEL: &str = "Blocked";

/// The data type of a published contact, as the metadata of its publication's data says (a
/// service hands such a publication to whoever proves its EARL key, any number of times).
pub const PUBLISHED_CONTACT: &str = "MessageContact";
/// The ContentMetaData member by which a claim says what it is for (this implementation's):
/// [`PUBLISHED_CONTACT`] for a contact fetched by URI, which takes nothing else.
pub const CLAIM_FOR: &str = "ClaimFor";

/// The UniqueId prefix of what a key rotation leaves in the account's local spool for each of
/// its other devices: `Rotation:DEVICE-UDF:ADMIN-UDF`, the device's new CatalogedDevice, found
/// by the device with Complete under the administrator key it knew (so that a device that
/// slept through several rotations follows them one by one). This implementation's.
pub const ROTATION_PREFIX: &str = "Rotation:";

/// The UniqueId of the rotation record for `device_udf` left when the administrator key
/// `admin_udf` was replaced.
pub fn rotation_id(device_udf: &str, admin_udf: &str) -> String {
    format!("{ROTATION_PREFIX}{device_udf}:{admin_udf}")
}

/// The UniqueId of the record left for `device_udf` when the administrator replaced its
/// connection (whose Signature key is `connection_udf`) with one granting other rights:
/// `Rotation:DEVICE-UDF:Connection:CONNECTION-UDF`, the device's new CatalogedDevice, found by
/// the device with Complete under the connection it knew. Under the rotation prefix, so that
/// only the administrator writes it.
pub fn reconnection_id(device_udf: &str, connection_udf: &str) -> String {
    format!("{ROTATION_PREFIX}{device_udf}:Connection:{connection_udf}")
}

/// A capability of the access catalog, tagged by its type (schema-08 §10.4.8–10.4.14).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[allow(clippy::large_enum_variant)]
pub enum CryptographicCapability {
    CapabilityDecryptServiced(CapabilityDecryptServiced),
    // The reference's other capabilities: read and kept; this build grants none of them, and
    // its service exercises only serviced decryption.
    NullCapability(Capability),
    AccessCapability(Capability),
    PublicationCapability(Capability),
    CapabilityDecrypt(Capability),
    CapabilityDecryptPartial(Capability),
    CapabilitySign(Capability),
    CapabilityKeyGenerate(Capability),
    CapabilityFairExchange(Capability),
}

mesh_struct! {
/// The members of the reference's capabilities other than serviced decryption (its
/// Capability, CryptographicCapability, AccessCapability and PublicationCapability together).
pub struct Capability {
    pub id: Option<String>,
    pub active: Option<bool>,
    pub issued: Option<i64>,
    pub mode: Option<String>,
    pub udf: Option<String>,
    pub witness: Option<String>,
    pub key_data: Option<KeyData>,
    pub grantee_account: Option<String>,
    pub grantee_udf: Option<String>,
    pub enveloped_key_share: Option<DareEnvelope>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rights: Vec<String>,
    pub enveloped_cataloged_device: Option<DareEnvelope>,
    pub cataloged_device_digest: Option<String>,
    pub identifier: Option<String>,
    pub digest: Option<String>,
    #[serde(with = "mesh_encoding::base64url::option")]
    pub data: Option<Vec<u8>>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

/// `Contact` as the reference tags it, read in either form.
/// A contact, tagged by its kind as the reference writes it (`{"ContactPerson": {…}}`).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Contact {
    ContactPerson(ContactPerson),
    ContactGroup(ContactGroup),
    ContactOrganization(ContactOrganization),
}

impl Contact {
    /// The person, when the contact is one.
    pub fn person(&self) -> Option<&ContactPerson> {
        match self {
            Contact::ContactPerson(p) => Some(p),
            _ => None,
        }
    }
}

impl From<ContactPerson> for Contact {
    fn from(p: ContactPerson) -> Self {
        Contact::ContactPerson(p)
    }
}

/// `Contact` read tagged (the reference, this build) or untagged (a person, as earlier builds
/// wrote it); written tagged.
mod tagged_contact {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{Contact, ContactPerson};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Tagged(Contact),
        Plain(ContactPerson),
    }

    pub fn serialize<S: Serializer>(v: &Option<Contact>, s: S) -> Result<S::Ok, S::Error> {
        v.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Contact>, D::Error> {
        Ok(Option::<Either>::deserialize(d)?.map(|e| match e {
            Either::Tagged(contact) => contact,
            Either::Plain(person) => Contact::ContactPerson(person),
        }))
    }
}

mesh_struct! {
/// Decryption serviced by the Mesh Service (schema-08 §10.4.11): the service holds one share
/// of the key `KeyData` (in `EnvelopedKeyShares`, encrypted to the service), and contributes
/// it to key agreements asked for by the device `SubjectId` authenticating with the key
/// `AuthenticationId`; the device holds the other share. Removing the entry (or the device)
/// ends the device's ability to decrypt.
pub struct CapabilityDecryptServiced {
    pub id: Option<String>,
    pub key_data: Option<KeyData>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub enveloped_key_shares: Vec<DareEnvelope>,
    pub subject_id: Option<String>,
    pub subject_address: Option<String>,
    pub authentication_id: Option<String>,
    /// The reference's members: one key share (`EnvelopedKeyShare`), the grantee, and the
    /// capability's state. Read and kept; this build writes `EnvelopedKeyShares`.
    pub active: Option<bool>,
    pub issued: Option<i64>,
    pub mode: Option<String>,
    pub udf: Option<String>,
    pub witness: Option<String>,
    pub grantee_account: Option<String>,
    pub grantee_udf: Option<String>,
    pub enveloped_key_share: Option<DareEnvelope>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

cataloged_struct! {
pub struct CatalogedPublication {
    pub id: Option<String>,
    pub authenticator: Option<String>,
    pub enveloped_data: Option<DareEnvelope>,
    pub not_on_or_after: Option<String>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

application_struct! {
/// An application entry (schema-08 §10.4.17); the Mesh account application and mail use it
/// as the draft defines.
pub struct CatalogedApplication {
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

application_struct! {
/// An SSH key (schema-08 §10.4.20 leaves the content open; these fields are the project's):
/// the OpenSSH public key line and the private key in an envelope, inside the encrypted
/// application catalog.
pub struct CatalogedApplicationSsh {
    pub public_key: Option<String>,
    pub enveloped_private_key: Option<DareEnvelope>,
    pub client_key: Option<KeyData>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

application_struct! {
pub struct CatalogedApplicationMail {
    pub account_address: Option<String>,
    pub inbound_connect: Option<String>,
    pub outbound_connect: Option<String>,
    pub smime_sign: Option<KeyData>,
    pub smime_encrypt: Option<KeyData>,
    pub openpgp_sign: Option<KeyData>,
    pub openpgp_encrypt: Option<KeyData>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

mesh_struct! {
/// A postal or geographic location (the reference's).
pub struct Location {
    pub appartment: Option<String>,
    pub street: Option<String>,
    pub district: Option<String>,
    pub locality: Option<String>,
    pub county: Option<String>,
    pub postcode: Option<String>,
    pub country: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

mesh_struct! {
/// A role a contact holds in an organization (the reference's).
pub struct Role {
    pub organization_name: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub titles: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub locations: Vec<Location>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

mesh_struct! {
/// A contact's web page (the reference's).
pub struct Bookmark {
    pub uri: Option<String>,
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub role: Vec<String>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

application_struct! {
/// A callsign entry of the application catalog (the reference's).
pub struct CatalogedCallsign {
    pub canonical: Option<String>,
    pub profile_udf: Option<String>,
    pub enveloped_callsign_binding: Option<DareEnvelope>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

application_struct! {
/// A recryption group the account administers (the reference's).
pub struct CatalogedGroup {
    pub enveloped_connection_address: Option<DareEnvelope>,
    pub enveloped_profile_group: Option<DareEnvelope>,
    pub enveloped_activation_common: Option<DareEnvelope>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

cataloged_struct! {
/// A member of a recryption group (the reference's).
pub struct CatalogedMember {
    pub contact_address: Option<String>,
    pub member_capability_id: Option<String>,
    pub service_capability_id: Option<String>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

cataloged_struct! {
/// A receipt entry (the reference's; it declares no members of its own).
pub struct CatalogedReceipt {
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

cataloged_struct! {
/// A ticket entry (the reference's; it declares no members of its own).
pub struct CatalogedTicket {
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

application_struct! {
/// A network application entry (the reference's).
pub struct CatalogedApplicationNetwork {
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

contact_struct! {
/// A contact that is a group (the reference's).
pub struct ContactGroup {
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}

contact_struct! {
/// A contact that is an organization (the reference's).
pub struct ContactOrganization {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub common_names: Vec<serde_json::Value>,
    #[serde(flatten)]
    pub extra: mesh_encoding::Unknown,
}}
