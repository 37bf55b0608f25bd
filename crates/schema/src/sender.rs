//! Who sent a message to another account (protocol-09 §8: messages are "signed by the sender").
//!
//! A device signs its messages with its connection Signature key. So that the services on the
//! way and the recipient can tell whose key that is, the envelope's ContentMetaData carries the
//! sender device's EnvelopedConnectionDevice (member [`SENDER_CONNECTION`], the envelope's JSON
//! text): an assertion signed by the sending account's administrator key, binding the key to
//! the account address. It sits outside the encryption because the services check it too (the
//! sender's service: that it is the connection of the device that sent the Transact; the
//! recipient's service: that the account is in the domain of the service that posted it). It
//! needs no signature of its own: it is signed by the administrator. The draft names no place
//! for it; this member is this implementation's.

use mesh_crypto::PublicKey;
use mesh_dare::schema::KeyValue;
use mesh_dare::{DareEnvelope, KeyRing};

use crate::assertion::ConnectionDevice;
use crate::key::required;
use crate::{expect_item, signed, Result, SchemaError};

/// The ContentMetaData member that carries the sender's connection.
pub const SENDER_CONNECTION: &str = "SenderConnection";

/// The ContentMetaData member for `connection`.
pub fn key_value(connection: &DareEnvelope) -> Result<KeyValue> {
    Ok(KeyValue {
        key: SENDER_CONNECTION.into(),
        value: connection.to_json()?,
    })
}

/// The sender connection a message carries, unverified.
pub fn connection_of(message: &DareEnvelope) -> Result<DareEnvelope> {
    let meta = message.content_meta()?;
    let text = meta
        .key_values
        .iter()
        .find(|kv| kv.key == SENDER_CONNECTION)
        .map(|kv| kv.value.as_str())
        .ok_or_else(|| SchemaError::Invalid("the message names no sender connection".into()))?;
    Ok(DareEnvelope::parse(text.as_bytes())?)
}

/// The sender's connection read without checking who signed it (the recipient's service
/// knows no key of the sender's account), and the message checked to be signed by the key it
/// names, by no other.
pub fn claimed_sender(message: &DareEnvelope) -> Result<ConnectionDevice> {
    let connection = connection_of(message)?;
    let device = expect_item!(
        signed::read(&connection, &KeyRing::new())?,
        ConnectionDevice
    )?;
    signed_by_connection(message, &device)?;
    Ok(device)
}

/// The sender's connection checked against the sending account's administrator key `admin`,
/// and the message checked to be signed by the key it names, by no other.
pub fn verify_sender(
    message: &DareEnvelope,
    admin: &PublicKey,
) -> Result<signed::Verified<ConnectionDevice>> {
    let connection = connection_of(message)?;
    let item = signed::verify_signed_by(&connection, admin, "sender connection", &KeyRing::new())?;
    let device = item.map(|i| expect_item!(i, ConnectionDevice))?;
    signed_by_connection(message, &device)?;
    Ok(device)
}

fn signed_by_connection(message: &DareEnvelope, device: &ConnectionDevice) -> Result<()> {
    let key = required(&device.signature, "Signature")?;
    let mut ring = KeyRing::new();
    ring.add_public(key);
    message.verify_strict(&ring).map_err(|e| {
        SchemaError::Invalid(format!(
            "the message is not signed by the sender's device: {e}"
        ))
    })?;
    Ok(())
}
