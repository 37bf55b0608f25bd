//! Spools (schema-08 §5, dare-12 §7.2): a container of messages whose state is changed by
//! MessageComplete entries appended after them.
//!
//! A message frame's ContentMetaData carries `UniqueId` = the message id and its
//! `MessageType`. A completion frame is a plaintext MessageComplete whose References name the
//! messages and the new state; its metadata repeats them (`Event` = the state, `KeyValues`
//! `MessageId` = each message), so the state of every message is known from the headers alone,
//! even in an encrypted spool, and is kept current on every append.

use std::collections::BTreeMap;
use std::path::Path;

use mesh_crypto::{PrivateKey, PublicKey};
use serde::{Deserialize, Serialize};

use crate::container::{Container, ContainerType, Mode};
use crate::envelope::{DareEnvelope, EnvelopeOptions};
use crate::keys::KeyRing;
use crate::schema::{ContentMeta, DareHeader, KeyValue};
use crate::{DareError, Result};

pub const MESSAGE_COMPLETE: &str = "MessageComplete";

/// The state of a message in a spool (schema-08 §5.1, §5.2; `Deleted` removes it from view).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageState {
    Initial,
    Sent,
    Received,
    Refused,
    Read,
    Deleted,
}

impl MessageState {
    pub fn name(self) -> &'static str {
        match self {
            MessageState::Initial => "Initial",
            MessageState::Sent => "Sent",
            MessageState::Received => "Received",
            MessageState::Refused => "Refused",
            MessageState::Read => "Read",
            MessageState::Deleted => "Deleted",
        }
    }

    /// Parse a state or relationship name; `Unread` is the Initial state of an inbound message.
    pub fn parse(name: &str) -> Result<Self> {
        let all = [
            Self::Initial,
            Self::Sent,
            Self::Received,
            Self::Refused,
            Self::Read,
            Self::Deleted,
        ];
        if name.eq_ignore_ascii_case("Unread") {
            return Ok(Self::Initial);
        }
        if name.eq_ignore_ascii_case("Delete") {
            return Ok(Self::Deleted);
        }
        all.into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| DareError::Malformed(format!("unknown message state '{name}'")))
    }
}

/// A message as the spool knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolEntry {
    pub message_id: String,
    pub message_type: Option<String>,
    pub index: u64,
    pub state: MessageState,
}

/// schema-08 §10.3.14.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    #[serde(rename = "MessageId")]
    pub message_id: String,
    #[serde(rename = "Relationship")]
    pub relationship: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageComplete {
    #[serde(rename = "MessageId")]
    pub message_id: String,
    #[serde(rename = "References")]
    pub references: Vec<Reference>,
}

#[derive(Serialize, Deserialize)]
enum Tagged {
    MessageComplete(MessageComplete),
}

pub struct Spool {
    container: Container,
    messages: BTreeMap<String, SpoolEntry>,
}

fn apply(messages: &mut BTreeMap<String, SpoolEntry>, index: u64, header: &DareHeader) {
    let Ok(meta) = header.content_meta() else {
        return;
    };
    if meta.message_type.as_deref() == Some(MESSAGE_COMPLETE) {
        let Some(Ok(state)) = meta.event.as_deref().map(MessageState::parse) else {
            return;
        };
        for kv in meta.key_values.iter().filter(|kv| kv.key == "MessageId") {
            if let Some(entry) = messages.get_mut(&kv.value) {
                entry.state = state;
            }
        }
        return;
    }
    let Some(id) = meta.unique_id else { return };
    messages.insert(
        id.clone(),
        SpoolEntry {
            message_id: id,
            message_type: meta.message_type,
            index,
            state: MessageState::Initial,
        },
    );
}

impl Spool {
    /// Create a spool file (a Merkle container), encrypted to `encrypt_to` if any are given.
    pub fn create(path: impl AsRef<Path>, encrypt_to: &[PublicKey]) -> Result<Self> {
        Ok(Spool {
            container: Container::create(path, ContainerType::Merkle, encrypt_to)?,
            messages: BTreeMap::new(),
        })
    }

    pub fn open(path: impl AsRef<Path>, mode: Mode) -> Result<Self> {
        let mut messages = BTreeMap::new();
        let container = Container::open_with(path, mode, |i, h| apply(&mut messages, i, h))?;
        Ok(Spool {
            container,
            messages,
        })
    }

    pub fn open_or_create(path: impl AsRef<Path>, encrypt_to: &[PublicKey]) -> Result<Self> {
        if path.as_ref().exists() {
            Self::open(path, Mode::Write)
        } else {
            Self::create(path, encrypt_to)
        }
    }

    pub fn container(&self) -> &Container {
        &self.container
    }

    /// Post a message (encrypted to the spool's keys if it has any).
    pub fn post(
        &mut self,
        message_id: &str,
        message_type: &str,
        plaintext: &[u8],
        signers: &[&PrivateKey],
    ) -> Result<u64> {
        if self.messages.contains_key(message_id) {
            return Err(DareError::Malformed(format!(
                "message {message_id} is already in the spool"
            )));
        }
        let meta = ContentMeta {
            unique_id: Some(message_id.to_string()),
            message_type: Some(message_type.to_string()),
            ..Default::default()
        };
        let env = self.container.make_entry_with(plaintext, meta, signers)?;
        self.append_envelope(env)
    }

    /// Append a message or completion made elsewhere and update the state from its metadata.
    pub fn append_envelope(&mut self, env: DareEnvelope) -> Result<u64> {
        let header = env.header.clone();
        let index = self.container.append_envelope(env)?;
        apply(&mut self.messages, index, &header);
        Ok(index)
    }

    /// Change the state of messages by appending a MessageComplete.
    pub fn complete(&mut self, message_ids: &[&str], state: MessageState) -> Result<u64> {
        for id in message_ids {
            if !self.messages.contains_key(*id) {
                return Err(DareError::Malformed(format!(
                    "no message {id} in the spool"
                )));
            }
        }
        let completion_id = mesh_udf::random::nonce(128).present_whole();
        let message = MessageComplete {
            message_id: completion_id.clone(),
            references: message_ids
                .iter()
                .map(|id| Reference {
                    message_id: id.to_string(),
                    relationship: state.name().into(),
                })
                .collect(),
        };
        let meta = ContentMeta {
            unique_id: Some(completion_id),
            message_type: Some(MESSAGE_COMPLETE.into()),
            event: Some(state.name().into()),
            key_values: message_ids
                .iter()
                .map(|id| KeyValue {
                    key: "MessageId".into(),
                    value: id.to_string(),
                })
                .collect(),
            ..Default::default()
        };
        let payload = mesh_encoding::to_json(&Tagged::MessageComplete(message))?;
        let env = DareEnvelope::encode(
            payload.as_bytes(),
            &EnvelopeOptions {
                meta: Some(meta),
                ..Default::default()
            },
        )?;
        self.append_envelope(env)
    }

    pub fn message(&self, message_id: &str) -> Option<&SpoolEntry> {
        self.messages.get(message_id)
    }

    /// Messages in frame order, optionally only those in `state`; deleted ones are left out
    /// unless asked for.
    pub fn messages(&self, state: Option<MessageState>) -> Vec<&SpoolEntry> {
        let mut out: Vec<&SpoolEntry> = self
            .messages
            .values()
            .filter(|e| match state {
                Some(s) => e.state == s,
                None => e.state != MessageState::Deleted,
            })
            .collect();
        out.sort_by_key(|e| e.index);
        out
    }

    /// The plaintext of a message.
    pub fn read(&self, message_id: &str, keys: &KeyRing) -> Result<Vec<u8>> {
        let entry = self
            .messages
            .get(message_id)
            .ok_or_else(|| DareError::Malformed(format!("no message {message_id} in the spool")))?;
        self.container.read_plaintext(entry.index, keys)
    }
}
