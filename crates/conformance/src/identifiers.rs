//! Identifiers the Mesh derives, recomputed from the examples' own data (protocol-09 §7–8,
//! the reference README's facts 4 and 8; REFERENCE-NOTES in mesh-schema's `ids`):
//!
//! - `EnvelopeId` of an envelope carrying a message = the envelope id of its MessageId;
//! - `ResponseID` = the response id of the MessageId it answers (for a connection, the
//!   AcknowledgeConnection's MessageId, which is the witness);
//! - the connection witness (an AcknowledgeConnection's MessageId, any `Witness` member)
//!   from the account's and the device's profile signature keys and the two nonces;
//! - `PinId` and `PinWitness` of a RequestConnection from the PIN the same file shows (a
//!   `PIN=` or `mcu://` line), and the prose derivations (`pin = …`, `saltedPIN = …`,
//!   `MessageID = …`) the schema examples print.
//!
//! Nothing is hard-coded: every input is read from the files.

use mesh_crypto::PublicKey;
use mesh_dare::KeyParameters;
use mesh_encoding::base64url;
use mesh_schema::ids;
use serde_json::Value;

use crate::{Outcome, Place, Report};

/// One recomputed identifier.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IdentifierRow {
    pub place: Place,
    /// Which identifier (`EnvelopeId`, `ResponseID`, `Witness`, `PinId`, …).
    pub name: String,
    pub outcome: Outcome,
}

/// What the whole directory shows.
#[derive(Default)]
pub struct Directory {
    /// The profile signature keys of the account profiles, for the connection witness.
    pub accounts: Vec<PublicKey>,
    /// Every MessageId, in any file; the witnesses (acknowledgements' MessageIds) apart.
    pub message_ids: Vec<String>,
    pub witnesses: Vec<String>,
    /// Every PIN a file shows (`PIN=…`, `pin = …`, `mcu://…/PIN`).
    pub pins: Vec<String>,
    /// Every string value of the printed and decoded objects.
    pub strings: std::collections::HashSet<String>,
}

/// What the walk saw in one file.
#[derive(Default)]
pub struct Seen {
    /// Every object read (printed, payload or ContentMetaData), tagged as printed.
    pub objects: Vec<(Place, Value)>,
    pub envelopes: Vec<SeenEnvelope>,
}

pub struct SeenEnvelope {
    pub place: Place,
    pub envelope_id: Option<String>,
    pub payload_digest: [u8; 64],
    /// The type and MessageId of the message inside, when it was read.
    pub message_id: Option<(String, String)>,
}

impl Default for SeenEnvelope {
    fn default() -> Self {
        SeenEnvelope {
            place: Place::default(),
            envelope_id: None,
            payload_digest: [0; 64],
            message_id: None,
        }
    }
}

fn row(place: &Place, name: &str, outcome: Outcome) -> IdentifierRow {
    IdentifierRow {
        place: place.clone(),
        name: name.to_string(),
        outcome,
    }
}

fn same(computed: Result<String, mesh_schema::SchemaError>, printed: &str) -> Outcome {
    match computed {
        Ok(c) if c == printed => Outcome::Pass,
        Ok(c) => Outcome::Fail(format!("printed {printed}, computed {c}")),
        Err(e) => Outcome::Fail(e.to_string()),
    }
}

/// Every member called `name` under `value`, with its path.
fn members<'v>(value: &'v Value, name: &str, path: &str, out: &mut Vec<(String, &'v Value)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let here = format!("{path}.{k}");
                if k == name {
                    out.push((here.clone(), v));
                }
                members(v, name, &here, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                members(v, name, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

fn find<'v>(seen: &'v Seen, name: &str) -> Vec<(Place, String, &'v Value)> {
    let mut out = Vec::new();
    for (place, value) in &seen.objects {
        let mut found = Vec::new();
        members(value, name, "", &mut found);
        out.extend(found.into_iter().map(|(p, v)| (place.clone(), p, v)));
    }
    out
}

fn at(place: &Place, path: &str) -> Place {
    Place {
        file: place.file.clone(),
        at: format!("{}{}", place.at, path),
    }
}

fn profile_key(profile: &Value) -> Option<PublicKey> {
    let params = profile.get("ProfileSignature")?.get("PublicParameters")?;
    serde_json::from_value::<KeyParameters>(params.clone())
        .ok()?
        .public_key()
        .ok()
}

/// Check the identifiers of one file.
pub fn check_file(file: &str, text: &str, seen: &Seen, directory: &Directory, report: &mut Report) {
    envelope_ids(seen, report);
    response_ids(seen, directory, report);
    witnesses(seen, &directory.accounts, report);
    pins(seen, &directory.pins, report);
    prose(file, text, directory, report);
}

/// An envelope that carries a message has the envelope id of the message's MessageId.
fn envelope_ids(seen: &Seen, report: &mut Report) {
    for envelope in &seen.envelopes {
        if let (Some(printed), Some((kind, message_id))) =
            (&envelope.envelope_id, &envelope.message_id)
        {
            // An acknowledgement's MessageId is the witness, which has its own derivation.
            let computed = if kind == "AcknowledgeConnection" {
                ids::envelope_id_of_witness(message_id)
            } else {
                ids::envelope_id(message_id)
            };
            report
                .identifiers
                .push(row(&envelope.place, "EnvelopeId", same(computed, printed)));
        }
    }
}

/// A ResponseID is the response id of a MessageId the examples show (in any file: they come
/// from one run).
fn response_ids(seen: &Seen, directory: &Directory, report: &mut Report) {
    let message_ids = &directory.message_ids;
    for name in ["ResponseID", "ResponseId"] {
        for (place, path, value) in find(seen, name) {
            let Some(printed) = value.as_str() else {
                continue;
            };
            let outcome = if message_ids
                .iter()
                .any(|m| ids::response_id(m).is_ok_and(|r| r == printed))
                || directory
                    .witnesses
                    .iter()
                    .any(|w| ids::response_id_of_witness(w).is_ok_and(|r| r == printed))
            {
                Outcome::Pass
            } else if message_ids.is_empty() {
                Outcome::Cannot("the examples show no MessageId to derive it from".into())
            } else {
                Outcome::Fail(format!(
                    "{printed} is the response id of none of the examples' {} MessageIds",
                    message_ids.len()
                ))
            };
            report
                .identifiers
                .push(row(&at(&place, &path), name, outcome));
        }
    }
}

/// The most key and nonce combinations tried for one witness.
const MAX_WITNESS_TRIALS: usize = 4096;

/// The connection witness, from any account profile of the examples, the device profiles and
/// the nonces of the same file.
fn witnesses(seen: &Seen, accounts: &[PublicKey], report: &mut Report) {
    let mut printed: Vec<(Place, String)> = Vec::new();
    for (place, path, value) in find(seen, "AcknowledgeConnection") {
        if let Some(id) = value.get("MessageId").and_then(Value::as_str) {
            printed.push((at(&place, &format!("{path}.MessageId")), id.to_string()));
        }
    }
    for (place, path, value) in find(seen, "Witness") {
        if let Some(w) = value.as_str() {
            printed.push((at(&place, &path), w.to_string()));
        }
    }
    if printed.is_empty() {
        return;
    }
    let nonces = |name: &str| -> Vec<Vec<u8>> {
        find(seen, name)
            .into_iter()
            .filter_map(|(_, _, v)| v.as_str().and_then(|s| base64url::decode(s).ok()))
            .collect()
    };
    let (client, server) = (nonces("ClientNonce"), nonces("ServerNonce"));
    let devices: Vec<PublicKey> = find(seen, "ProfileDevice")
        .into_iter()
        .filter_map(|(_, _, v)| profile_key(v))
        .collect();
    for (place, witness) in printed {
        // Every combination is tried; a file that shows too many of them to try (one crafted
        // to make this run for hours, say) is not checked, and says so.
        let combinations = accounts.len() * devices.len() * client.len() * server.len();
        if combinations > MAX_WITNESS_TRIALS {
            report.identifiers.push(row(
                &place,
                "Witness",
                Outcome::Cannot(format!(
                    "{combinations} combinations of profiles and nonces to try; at most {MAX_WITNESS_TRIALS} are"
                )),
            ));
            continue;
        }
        let outcome = if accounts.is_empty()
            || devices.is_empty()
            || client.is_empty()
            || server.is_empty()
        {
            Outcome::Cannot(format!(
                "needs an account profile ({} in the examples), a device profile ({}), a client nonce ({}) and a server nonce ({}) in the file",
                accounts.len(),
                devices.len(),
                client.len(),
                server.len()
            ))
        } else if accounts.iter().any(|a| {
            devices.iter().any(|d| {
                client
                    .iter()
                    .any(|c| server.iter().any(|s| ids::witness(a, s, d, c) == witness))
            })
        }) {
            Outcome::Pass
        } else {
            Outcome::Fail(format!(
                "{witness} is not the witness of any of the {} account and {} device profiles with the file's nonces",
                accounts.len(),
                devices.len()
            ))
        };
        report.identifiers.push(row(&place, "Witness", outcome));
    }
}

/// PIN values a file shows: `PIN=…`, `pin = …` and the last path segment of `mcu://…/…`.
pub fn pins_in(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let token = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect()
    };
    for marker in ["PIN=", "pin = "] {
        for (i, _) in text.match_indices(marker) {
            out.push(token(&text[i + marker.len()..]));
        }
    }
    for (i, _) in text.match_indices("mcu://") {
        let rest = &text[i + 6..];
        if let Some(slash) = rest.find('/') {
            if !rest[..slash].contains(char::is_whitespace) {
                out.push(token(&rest[slash + 1..]));
            }
        }
    }
    out.retain(|p| mesh_udf::Udf::parse(p).is_ok());
    out.sort();
    out.dedup();
    out
}

/// PinId and PinWitness of every RequestConnection that carries them.
fn pins(seen: &Seen, pins: &[String], report: &mut Report) {
    for (place, path, request) in find(seen, "RequestConnection") {
        let Some(pin_id) = request.get("PinId").and_then(Value::as_str) else {
            continue;
        };
        let place = at(&place, &path);
        let account = request
            .get("AccountAddress")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let salted = pins.iter().find_map(|pin| {
            let salted = ids::salted_pin(pin, "Device").ok()?;
            (ids::pin_id(&salted, account).ok()? == pin_id).then_some(salted)
        });
        let Some(salted) = salted else {
            let outcome = if pins.is_empty() {
                Outcome::Cannot("the examples show no PIN".into())
            } else {
                Outcome::Fail(format!(
                    "no PIN the examples show ({}) gives {pin_id}",
                    pins.join(", ")
                ))
            };
            report.identifiers.push(row(&place, "PinId", outcome));
            continue;
        };
        report.identifiers.push(row(&place, "PinId", Outcome::Pass));
        let Some(witness) = request.get("PinWitness").and_then(Value::as_str) else {
            continue;
        };
        let nonce = request
            .get("ClientNonce")
            .and_then(Value::as_str)
            .and_then(|n| base64url::decode(n).ok())
            .unwrap_or_default();
        // The device profile the PIN authenticates: the envelope in AuthenticatedData.
        let profile = seen.envelopes.iter().find(|e| {
            e.place.file == place.file
                && e.place
                    .at
                    .starts_with(&format!("{}.AuthenticatedData", place.at))
        });
        let outcome = match (profile, base64url::decode(witness)) {
            (None, _) => Outcome::Cannot("no AuthenticatedData envelope".into()),
            (_, Err(e)) => Outcome::Fail(format!("PinWitness is not base64url: {e}")),
            (Some(profile), Ok(printed)) => {
                match ids::pin_witness(&salted, account, &nonce, &profile.payload_digest) {
                    Ok(computed) if computed == printed => Outcome::Pass,
                    Ok(_) => Outcome::Fail("the computed PinWitness differs".into()),
                    Err(e) => Outcome::Fail(e.to_string()),
                }
            }
        };
        report.identifiers.push(row(&place, "PinWitness", outcome));
    }
}

/// The derivations the schema examples print as prose: `name = value` lines, where a value may
/// follow on a line of its own (`    = value`).
fn prose(file: &str, text: &str, directory: &Directory, report: &mut Report) {
    // A printed value that differs from the computed one, where the protocol examples carry
    // the computed one: the prose is out of step with the data, which wins.
    let judge = |computed: Result<String, mesh_schema::SchemaError>, printed: &str| {
        match computed {
        Ok(c) if c != printed && directory.strings.contains(&c) => Outcome::Cannot(format!(
            "the prose prints {printed}; the protocol examples carry the computed {c} for the same inputs, so the prose is out of step with the data"
        )),
        other => same(other, printed),
    }
    };
    for (i, block) in text.split("~~~~").enumerate() {
        if i % 2 == 0 || block.trim_start().starts_with('{') {
            continue;
        }
        let mut values: Vec<(String, String)> = Vec::new();
        for line in block.lines() {
            let trimmed = line.trim();
            if let Some(value) = trimmed.strip_prefix("= ") {
                if let Some(last) = values.last_mut() {
                    last.1 = value.trim().to_string();
                }
            } else if let Some((name, value)) = trimmed.split_once(" = ") {
                if !name.contains(' ') {
                    values.push((name.trim().to_string(), value.trim().to_string()));
                }
            } else if !trimmed.is_empty() && !trimmed.contains(' ') && !trimmed.contains('=') {
                values.push((trimmed.to_string(), String::new()));
            }
        }
        let get = |name: &str| -> Option<String> {
            values
                .iter()
                .rev()
                .find(|(n, v)| n.eq_ignore_ascii_case(name) && !v.is_empty())
                .map(|(_, v)| v.trim_end_matches('.').to_string())
        };
        let place = Place {
            file: file.to_string(),
            at: format!("block {}", i / 2 + 1),
        };
        if let Some(message_id) = get("MessageID") {
            if let Some(e) = get("EnvelopeID") {
                report.identifiers.push(row(
                    &place,
                    "EnvelopeId",
                    same(ids::envelope_id(&message_id), &e),
                ));
            }
            if let Some(r) = get("ResponseID") {
                report.identifiers.push(row(
                    &place,
                    "ResponseID",
                    same(ids::response_id(&message_id), &r),
                ));
            }
        }
        if let (Some(pin), Some(salted)) = (get("pin"), get("saltedPIN")) {
            // The action is printed beside the PIN; the prose around it names it too.
            let mut actions = vec!["Device".to_string(), "Message".to_string()];
            if let Some(a) = get("action") {
                actions.insert(0, a);
            }
            let hit = actions
                .iter()
                .find(|a| ids::salted_pin(&pin, a).is_ok_and(|s| s == salted));
            let outcome = match hit {
                Some(_) => Outcome::Pass,
                None => Outcome::Fail(format!(
                    "no action of {} gives {salted}",
                    actions.join(", ")
                )),
            };
            report.identifiers.push(row(&place, "SaltedPin", outcome));
        }
    }
    // The PinId paragraph follows the saltedPIN block: `Account = …` and `PinId … = …`.
    let mut last_salted: Option<String> = None;
    for (i, block) in text.split("~~~~").enumerate() {
        if i % 2 == 0 {
            continue;
        }
        let mut account = None;
        let mut pin_id = None;
        let mut pending = None::<String>;
        for line in block.lines() {
            let t = line.trim();
            if let Some(v) = t.strip_prefix("= ") {
                match pending.as_deref() {
                    Some("saltedPIN") => last_salted = Some(v.trim().to_string()),
                    Some("PinId") => pin_id = Some(v.trim().to_string()),
                    _ => {}
                }
            } else if let Some((name, value)) = t.split_once('=') {
                let name = name
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string();
                if name == "Account" {
                    account = Some(value.trim().to_string());
                }
                pending = Some(name);
            }
        }
        if let (Some(account), Some(pin_id), Some(salted)) = (account, pin_id, &last_salted) {
            report.identifiers.push(row(
                &Place {
                    file: file.to_string(),
                    at: format!("block {}", i / 2 + 1),
                },
                "PinId",
                judge(ids::pin_id(salted, &account), &pin_id),
            ));
        }
    }
}
