//! Every Mesh object as one tagged type: `{"ProfileDevice": {…}}`, `{"CatalogedCredential": {…}}`
//! (the Mesh JSON convention for objects of variable type, protocol-09 §5.4).

use serde::{Deserialize, Serialize};

use crate::assertion::*;
use crate::catalog::*;
use crate::message::*;
use crate::preconfig::DevicePreconfigurationPrivate;
use crate::profile::*;
use crate::{Result, SchemaError};

macro_rules! items {
    ($($name:ident $(= $wire:literal)? $(| $alias:literal)?),* $(,)?) => {
        /// A Mesh object of any type the schema defines.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        pub enum MeshItem {
            $($(#[serde(rename = $wire)])? $(#[serde(alias = $alias)])? $name(Box<$name>),)*
        }

        impl MeshItem {
            /// The type name as it appears on the wire and in ContentMeta.MessageType.
            pub fn type_name(&self) -> &'static str {
                match self {
                    $(MeshItem::$name(_) => items!(@wire $name $($wire)?),)*
                }
            }
        }

        $(impl From<$name> for MeshItem {
            fn from(v: $name) -> Self {
                MeshItem::$name(Box::new(v))
            }
        })*
    };
    (@wire $name:ident $wire:literal) => { $wire };
    (@wire $name:ident) => { stringify!($name) };
}

items! {
    ProfileDevice, ProfileUser, ProfileGroup, ProfileService, ProfileHost,
    ConnectionDevice, ConnectionService, ConnectionHost, ActivationDevice, ActivationAccount,
    ActivationCommon,
    CatalogedDevice, CatalogedCredential, CatalogedNetwork, CatalogedBookmark, CatalogedTask,
    CatalogedContact, CatalogedAccess, CatalogedPublication, CatalogedApplication,
    // The reference's tag; earlier builds wrote "CatalogedApplicationSSH", read too.
    CatalogedApplicationSsh | "CatalogedApplicationSSH", CatalogedApplicationMail, Task,
    MessageError, MessageComplete, MessagePin, RequestConnection, AcknowledgeConnection,
    RespondConnection, MessageContact, GroupInvitation, RequestConfirmation,
    ResponseConfirmation, MessageClaim, DevicePreconfigurationPrivate,
    ContactPerson, ContactGroup, ContactOrganization, CallsignBinding, AccountHostAssignment,
    CatalogedCallsign, CatalogedGroup, CatalogedMember, CatalogedReceipt, CatalogedTicket,
    CatalogedApplicationNetwork, ActivationApplicationCallsign, ActivationApplicationGroup,
    ActivationApplicationMail, ActivationApplicationSsh, ActivationHost, ConnectionApplication,
    ConnectionGroup, ConnectionStripped, MessageInvoice, RequestTask, ProcessResult,
}

impl MeshItem {
    /// Read an object from JSON or JSON-B (lenient about the published data's line breaks).
    pub fn from_bytes(data: &[u8]) -> Result<Self> {
        let value = mesh_encoding::jsonb::from_slice(data)?;
        mesh_encoding::from_value(value)
            .map_err(|e| SchemaError::Invalid(format!("not a Mesh object: {e}")))
    }

    pub fn to_json(&self) -> Result<String> {
        Ok(mesh_encoding::to_json(self)?)
    }

    pub fn to_jsonb(&self) -> Result<Vec<u8>> {
        Ok(mesh_encoding::to_jsonb(self)?)
    }
}

/// Take the object of one type out of an item, or say what it was instead.
#[macro_export]
macro_rules! expect_item {
    ($item:expr, $name:ident) => {
        match $item {
            $crate::MeshItem::$name(v) => Ok(*v),
            other => Err($crate::SchemaError::WrongType {
                expected: stringify!($name),
                found: other.type_name().to_string(),
            }),
        }
    };
}
