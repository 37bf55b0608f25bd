//! Messages (schema-08 §5, §10.6; protocol-09 §8–9): what spools carry.

use mesh_dare::DareEnvelope;
use mesh_encoding::base64url;
use serde::{Deserialize, Serialize};

use crate::catalog::CatalogedDevice;

macro_rules! message {
    ($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$doc])*
        #[serde_with::skip_serializing_none]
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        #[serde(rename_all = "PascalCase", default)]
        pub struct $name {
            pub message_id: Option<String>,
            pub sender: Option<String>,
            pub recipient: Option<String>,
            $($(#[$fdoc])* pub $field: $ty,)*
            #[serde(flatten)]
            pub extra: mesh_encoding::Unknown,
        }
    };
}

message!(MessageError { error_code: Option<String> });

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Reference {
    pub message_id: Option<String>,
    pub response_id: Option<String>,
    pub relationship: Option<String>,
}

message!(MessageComplete { references: Vec<Reference> });

message!(
    /// A PIN registered by an administrator device (protocol-09 §8.1).
    MessagePin {
        account: Option<String>,
        expires: Option<String>,
        automatic: Option<bool>,
        salted_pin: Option<String>,
        action: Option<String>,
        /// The rights a device connected with this PIN gets (the reference's `Roles`).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        roles: Vec<String>,
    }
);

message!(
    /// A device's request to join an account (protocol-09 §9).
    RequestConnection {
        authenticated_data: Option<DareEnvelope>,
        #[serde(with = "base64url::option")]
        client_nonce: Option<Vec<u8>>,
        pin_id: Option<String>,
        #[serde(with = "base64url::option")]
        pin_witness: Option<Vec<u8>>,
        account_address: Option<String>,
        /// The rights the device asks for, as role names (this implementation's: the
        /// administrator decides, and sees them in `device pending`).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        roles: Vec<String>,
    }
);

message!(
    /// The service's acknowledgement with its nonce and the witness value.
    AcknowledgeConnection {
        enveloped_request_connection: Option<DareEnvelope>,
        #[serde(with = "base64url::option")]
        server_nonce: Option<Vec<u8>>,
        witness: Option<String>,
    }
);

message!(
    /// The administrator's answer: `Accept`, `Reject` or `Pending`, with the device record.
    RespondConnection {
        result: Option<String>,
        cataloged_device: Option<CatalogedDevice>,
        /// Why a request was rejected: `PinInvalid`, `PinUsed`, `PinExpired` (protocol-09
        /// §8.1.3 names the errors; the field is this implementation's).
        error_code: Option<String>,
        /// An acceptance of a PIN request: [`crate::ids::pin_proof`] (this implementation's).
        #[serde(with = "base64url::option")]
        pin_proof: Option<Vec<u8>>,
    }
);

message!(MessageContact {
    authenticated_data: Option<DareEnvelope>,
    #[serde(with = "base64url::option")]
    client_nonce: Option<Vec<u8>>,
    pin_id: Option<String>,
    #[serde(with = "base64url::option")]
    pin_witness: Option<Vec<u8>>,
    reply: Option<bool>,
    subject: Option<String>,
    #[serde(rename = "PIN")]
    pin: Option<String>,
});

message!(GroupInvitation {
    text: Option<String>,
    /// The group's contact, tagged by its kind (`{"ContactGroup": {…}}`), kept as it came.
    contact: Option<serde_json::Value>,
});

message!(
    /// An invoice (the reference's; it declares no members of its own).
    MessageInvoice {}
);

message!(
    /// A task request (the reference's; it declares no members of its own).
    RequestTask {}
);

message!(
    /// The outcome of processing a message (the reference's).
    ProcessResult {
        success: Option<bool>,
        error_report: Option<String>,
    }
);
message!(RequestConfirmation { text: Option<String> });
message!(ResponseConfirmation {
    request: Option<DareEnvelope>,
    accept: Option<bool>,
});

message!(
    /// A claim on a publication (protocol-09 §7.5, static QR connection).
    MessageClaim {
        publication_id: Option<String>,
        service_authenticate: Option<String>,
        device_authenticate: Option<String>,
        expires: Option<String>,
    }
);
