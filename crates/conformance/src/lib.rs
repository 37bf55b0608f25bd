//! # mesh-conformance
//!
//! Measures mesh-rs against the data the reference implementation published: a directory of
//! its example files (`../shared/reference/examples/*.md`) as they are printed. For every
//! printed object, every envelope payload and every ContentMetaData it finds, it
//!
//! - decodes the object with mesh-rs's own type and says whether it was read whole
//!   ([`probe`]): nothing dropped, changed, added or kept untyped when encoded again;
//! - verifies every signature (trailer or header) with the keys the examples publish, and
//!   checks the PayloadDigest it signs;
//! - decrypts every envelope whose recipient's private key the examples publish, and reads
//!   what is inside the same way;
//! - recomputes the identifiers the flows derive ([`identifiers`]).
//!
//! Keys found in decrypted payloads (activations carry private keys) are used too: the
//! directory is read again until no new key turns up. Nothing is skipped silently: what cannot
//! be checked is listed with the reason (most often, a key the data does not publish).

#![forbid(unsafe_code)]

pub mod identifiers;
pub mod probe;
mod report;
pub mod schema;
pub mod unfold;

use std::collections::BTreeSet;
use std::path::Path;

use mesh_dare::{DareEnvelope, KeyParameters, KeyRing};
use serde_json::Value;

pub use identifiers::IdentifierRow;
pub use probe::Reading;
pub use report::Summary;

/// Everything checked in one directory.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Report {
    pub files: usize,
    pub objects: Vec<ObjectRow>,
    pub signatures: Vec<SignatureRow>,
    pub decryptions: Vec<DecryptionRow>,
    pub identifiers: Vec<IdentifierRow>,
    /// Printed text that looked like JSON and did not parse.
    pub unreadable: Vec<Place>,
}

/// Where something is: the file, and a path from the printed object.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Place {
    pub file: String,
    pub at: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ObjectRow {
    pub place: Place,
    pub reading: Reading,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Outcome {
    /// Checked, and it holds.
    Pass,
    /// Checked, and it does not hold.
    Fail(String),
    /// Not checked, and why (a key the data does not publish, say).
    Cannot(String),
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct SignatureRow {
    pub place: Place,
    pub kid: String,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct DecryptionRow {
    pub place: Place,
    pub outcome: Outcome,
}

/// Check every example file in `dir`.
pub fn check_dir(dir: &Path) -> std::io::Result<Report> {
    Ok(check_files(&read_files(dir, "md")?))
}

/// The files of `dir` whose extension is `extension` (in any case), as (name, text), by name.
fn read_files(dir: &Path, extension: &str) -> std::io::Result<Vec<(String, String)>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case(extension))
        {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            files.push((name, std::fs::read_to_string(&path)?));
        }
    }
    files.sort();
    Ok(files)
}

/// Check example files given as (name, text).
pub fn check_files(files: &[(String, String)]) -> Report {
    let printed: Vec<(String, Vec<_>)> = files
        .iter()
        .map(|(name, text)| (name.clone(), unfold::printed_objects(text)))
        .collect();
    let texts: std::collections::HashMap<&str, &str> = files
        .iter()
        .map(|(name, text)| (name.as_str(), text.as_str()))
        .collect();
    let mut keys = Keys::default();
    for (_, text) in files {
        keys.directory.pins.extend(identifiers::pins_in(text));
    }
    keys.directory.pins.sort();
    keys.directory.pins.dedup();
    // Each pass may find private keys inside what it decrypted; read again until none is new.
    for _ in 0..6 {
        let before = keys.seen.len();
        let report = pass(&printed, &texts, &mut keys);
        if keys.seen.len() == before {
            return report;
        }
    }
    pass(&printed, &texts, &mut keys)
}

type Printed = Vec<Result<unfold::Printed, (usize, String)>>;

fn pass(
    printed: &[(String, Printed)],
    texts: &std::collections::HashMap<&str, &str>,
    keys: &mut Keys,
) -> Report {
    let mut report = Report {
        files: printed.len(),
        ..Default::default()
    };
    let ring = keys.ring.clone();
    for (file, objects) in printed {
        let mut walker = Walker {
            file,
            ring: &ring,
            keys,
            report: &mut report,
            seen: identifiers::Seen::default(),
        };
        for object in objects {
            match object {
                Ok(p) => walker.root(format!("block {}", p.block), &p.value),
                Err((block, e)) => walker.report.unreadable.push(Place {
                    file: file.clone(),
                    at: format!("block {block}: {e}"),
                }),
            }
        }
        let seen = std::mem::take(&mut walker.seen);
        let text = &texts[file.as_str()];
        identifiers::check_file(file, text, &seen, &keys.directory, &mut report);
    }
    report
}

/// The keys the examples publish, public and private.
#[derive(Default)]
struct Keys {
    ring: KeyRing,
    seen: BTreeSet<String>,
    /// What the identifier checks may draw on across the whole directory (the examples come
    /// from one run, and one file's identifier may derive from another file's message).
    directory: identifiers::Directory,
}

impl Keys {
    fn collect(&mut self, value: &Value) {
        let Value::Object(map) = value else { return };
        for (name, member) in map {
            if let Some(text) = member.as_str() {
                if name == "MessageId" && self.seen.insert(format!("message {text}")) {
                    self.directory.message_ids.push(text.to_string());
                }
                self.directory.strings.insert(text.to_string());
            }
        }
        if let Some(witness) = map
            .get("AcknowledgeConnection")
            .and_then(|a| a.get("MessageId"))
            .and_then(Value::as_str)
        {
            if self.seen.insert(format!("witness {witness}")) {
                self.directory.witnesses.push(witness.to_string());
            }
        }
        for profile in ["ProfileUser", "ProfileAccount"] {
            let key = map
                .get(profile)
                .and_then(|p| p.get("ProfileSignature"))
                .and_then(|k| k.get("PublicParameters"))
                .and_then(|p| serde_json::from_value::<KeyParameters>(p.clone()).ok())
                .and_then(|p| p.public_key().ok());
            if let Some(key) = key {
                if self.seen.insert(format!("account {}", key.udf())) {
                    self.directory.accounts.push(key);
                }
            }
        }
        if let Some(params) = map.get("PublicParameters") {
            if let Ok(key) = serde_json::from_value::<KeyParameters>(params.clone())
                .map_err(|e| e.to_string())
                .and_then(|p| p.public_key().map_err(|e| e.to_string()))
            {
                if self.seen.insert(format!("public {}", key.udf())) {
                    self.ring.add_public(key);
                }
            }
        }
        for params in [
            map.get("PrivateParameters"),
            map.get("PrivateKeyECDH").map(|_| value),
        ]
        .into_iter()
        .flatten()
        {
            if let Ok(key) = serde_json::from_value::<KeyParameters>(params.clone())
                .map_err(|e| e.to_string())
                .and_then(|p| p.private_key().map_err(|e| e.to_string()))
            {
                if self
                    .seen
                    .insert(format!("private {}", key.public_key().udf()))
                {
                    self.ring.add_private(key);
                }
            }
        }
    }
}

struct Walker<'a> {
    file: &'a str,
    ring: &'a KeyRing,
    keys: &'a mut Keys,
    report: &'a mut Report,
    seen: identifiers::Seen,
}

impl Walker<'_> {
    fn place(&self, at: &str) -> Place {
        Place {
            file: self.file.to_string(),
            at: at.to_string(),
        }
    }

    /// A printed object, a payload or a ContentMetaData: read it, then look inside.
    fn root(&mut self, at: String, value: &Value) {
        let reading = probe::read(value);
        self.report.objects.push(ObjectRow {
            place: self.place(&at),
            reading,
        });
        self.seen.objects.push((self.place(&at), value.clone()));
        match value {
            Value::Object(map) if map.len() == 1 && map.contains_key("DareEnvelope") => {
                self.envelope(&format!("{at}.DareEnvelope"), &map["DareEnvelope"])
            }
            Value::Array(_) => self.envelope(&at, value),
            _ => self.walk(&at, value),
        }
    }

    fn walk(&mut self, at: &str, value: &Value) {
        match value {
            Value::Array(items) if looks_like_envelope(items) => self.envelope(at, value),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.walk(&format!("{at}[{i}]"), item);
                }
            }
            Value::Object(map) => {
                self.keys.collect(value);
                for (name, item) in map {
                    self.walk(&format!("{at}.{name}"), item);
                }
            }
            _ => {}
        }
    }

    fn envelope(&mut self, at: &str, value: &Value) {
        let envelope = match DareEnvelope::parse(&serde_json::to_vec(value).unwrap_or_default()) {
            Ok(envelope) => envelope,
            Err(e) => {
                // The object row of whatever holds it says it did not decode; say it here too.
                self.report.decryptions.push(DecryptionRow {
                    place: self.place(at),
                    outcome: Outcome::Fail(format!("not an envelope: {e}")),
                });
                return;
            }
        };
        if let Some(meta) = envelope.header.content_meta_data.as_deref() {
            match serde_json::from_str::<Value>(&unfold::unfold(&String::from_utf8_lossy(meta))) {
                Ok(meta) => {
                    let reading = probe::read_content_meta(&meta);
                    self.report.objects.push(ObjectRow {
                        place: self.place(&format!("{at} ContentMetaData")),
                        reading,
                    });
                }
                Err(e) => self
                    .report
                    .unreadable
                    .push(self.place(&format!("{at} ContentMetaData: {e}"))),
            }
        }
        self.signatures(at, &envelope);
        self.seen.envelopes.push(identifiers::SeenEnvelope {
            place: self.place(at),
            envelope_id: envelope.header.envelope_id.clone(),
            payload_digest: mesh_dare::envelope::sha512(&envelope.payload),
            message_id: None,
        });
        let plaintext = if envelope.is_encrypted() {
            let outcome = match edwards_seed(&envelope, self.ring)
                .unwrap_or_else(|| envelope.base_seed(self.ring))
            {
                Ok(seed) => match envelope.decrypt_unauthenticated(&seed) {
                    Ok(plaintext) => Ok(plaintext),
                    Err(e) => Err(Outcome::Fail(e.to_string())),
                },
                Err(mesh_dare::DareError::NoDecryptionKey(kids)) => Err(Outcome::Cannot(format!(
                    "the data does not publish the private key of {kids}"
                ))),
                Err(e) => Err(Outcome::Fail(e.to_string())),
            };
            match outcome {
                Ok(plaintext) => {
                    self.report.decryptions.push(DecryptionRow {
                        place: self.place(at),
                        outcome: Outcome::Pass,
                    });
                    plaintext
                }
                Err(outcome) => {
                    self.report.decryptions.push(DecryptionRow {
                        place: self.place(at),
                        outcome,
                    });
                    return;
                }
            }
        } else {
            envelope.payload.clone()
        };
        if let Some(inner) = payload_object(&plaintext) {
            if let Some(last) = self
                .seen
                .envelopes
                .iter_mut()
                .rev()
                .find(|e| e.place.at == at)
            {
                last.message_id = message_id(&inner);
            }
            self.root(format!("{at} payload"), &inner);
        }
    }

    /// Every signature, in the trailer or the header, over the PayloadDigest (which must be
    /// the digest of the payload as carried).
    fn signatures(&mut self, at: &str, envelope: &DareEnvelope) {
        let trailer = envelope.trailer.clone().unwrap_or_default();
        let header = &envelope.header;
        let signatures: Vec<_> = trailer
            .signatures
            .iter()
            .chain(header.signatures.iter())
            .collect();
        if signatures.is_empty() {
            return;
        }
        let digest = mesh_dare::envelope::sha512(&envelope.payload);
        let claimed = trailer
            .payload_digest
            .as_deref()
            .or(header.payload_digest.as_deref());
        let digest_ok = claimed.is_none_or(|c| c == digest);
        for signature in signatures {
            let kid = signature.key_identifier.clone().unwrap_or_default();
            let outcome = if envelope.detached {
                Outcome::Cannot("the payload is detached".into())
            } else if !digest_ok {
                Outcome::Fail("the PayloadDigest is not the payload's digest".into())
            } else {
                match (self.ring.public_key(&kid), &signature.signature_value) {
                    (None, _) => Outcome::Cannot(format!("the data does not publish key {kid}")),
                    (_, None) => Outcome::Fail("no signature value".into()),
                    (Some(key), Some(value)) => match key.verify(&digest, value) {
                        Ok(()) => Outcome::Pass,
                        Err(e) => Outcome::Fail(e.to_string()),
                    },
                }
            };
            self.report.signatures.push(SignatureRow {
                place: self.place(at),
                kid,
                outcome,
            });
        }
    }
}

/// The base seed of an envelope encrypted to a key labelled Ed25519, as the reference's
/// `ExamplesDAREMessage.md` is: the agreement is done on the Edwards curve
/// ([`mesh_crypto::ed25519::Ed25519Private::agree_edwards`]). `None` when no recipient is such
/// a key of the ring. Only this tool reads such envelopes; mesh-rs's own never are.
fn edwards_seed(
    envelope: &DareEnvelope,
    ring: &KeyRing,
) -> Option<mesh_dare::Result<mesh_dare::crypt::BaseSeed>> {
    envelope.header.recipients.iter().find_map(|entry| {
        let kid = entry.key_identifier.as_deref()?;
        let mesh_crypto::PrivateKey::Ed25519(key) = ring.private_key(kid)? else {
            return None;
        };
        Some((|| {
            let epk = mesh_dare::crypt::recipient_ephemeral(entry)?;
            let agreement = key
                .agree_edwards(epk.as_bytes())
                .map_err(|e| mesh_dare::DareError::Decryption(e.to_string()))?;
            mesh_dare::crypt::seed_from_agreement(entry, &agreement)
        })())
    })
}

/// The type and MessageId of a tagged message.
fn message_id(value: &Value) -> Option<(String, String)> {
    let Value::Object(map) = value else {
        return None;
    };
    let (tag, body) = map.iter().next()?;
    Some((tag.clone(), body.get("MessageId")?.as_str()?.to_string()))
}

/// `[header, payload]` or `[header, payload, trailer]`.
fn looks_like_envelope(items: &[Value]) -> bool {
    (2..=3).contains(&items.len())
        && items[0].is_object()
        && (items[1].is_string() || items[1].is_null())
        && items.get(2).is_none_or(Value::is_object)
}

/// A payload that holds an object: JSON text (with the printed folds undone) or JSON-B.
fn payload_object(plaintext: &[u8]) -> Option<Value> {
    let first = plaintext.iter().find(|b| !b.is_ascii_whitespace())?;
    if *first == b'{' || *first == b'[' {
        let text = std::str::from_utf8(plaintext).ok()?;
        return serde_json::from_str(&unfold::unfold(text)).ok();
    }
    let value = mesh_encoding::jsonb::from_slice(plaintext).ok()?;
    let json = mesh_encoding::json::to_string(&value).ok()?;
    serde_json::from_str(&json).ok()
}

/// How one type of the reference's schema fares: an object with every member the type has is
/// read with mesh-rs's type for it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SchemaRow {
    pub type_name: String,
    pub file: String,
    pub reading: Reading,
}

/// Read the reference's schema files (`*.protocol`) in `dir` and, for every concrete type that
/// stands on its own (an object that travels tagged: a profile, assertion, catalog entry,
/// message, request or response), read an object with every member through mesh-rs.
pub fn check_schema_dir(dir: &Path) -> std::io::Result<Vec<SchemaRow>> {
    Ok(check_schema(&read_files(dir, "protocol")?))
}

/// As [`check_schema_dir`], for schema files given as (name, text).
pub fn check_schema(files: &[(String, String)]) -> Vec<SchemaRow> {
    let types = schema::parse(files);
    types
        .values()
        .filter(|t| !t.is_abstract && standalone(&types, &t.name) && !is_base(&types, &t.name))
        .flat_map(|t| {
            schema::samples(&types, &t.name, 3)
                .into_iter()
                .map(|(label, sample)| {
                    let object = serde_json::json!({ t.name.clone(): sample });
                    SchemaRow {
                        type_name: label,
                        file: t.file.clone(),
                        reading: probe::read(&object),
                    }
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The schema rows that are not read whole, then a summary line.
pub fn schema_table(rows: &[SchemaRow]) -> String {
    let mut out = String::new();
    for row in rows.iter().filter(|r| !r.reading.whole()) {
        let r = &row.reading;
        let detail = match &r.error {
            Some(e) => format!("not decoded: {e}"),
            None => format!(
                "dropped {:?} changed {:?} added {:?} untyped {:?}",
                r.dropped, r.changed, r.added, r.untyped
            ),
        };
        out.push_str(&format!(
            "{:<24} schema       {}: {detail}\n",
            row.file, row.type_name
        ));
    }
    out.push_str(&format!(
        "{} objects made from the reference's schema (every member of every type): {} read whole\n",
        rows.len(),
        rows.iter().filter(|r| r.reading.whole()).count()
    ));
    out
}

/// The roots of the types that travel tagged on their own.
const STANDALONE_ROOTS: &[&str] = &[
    "Assertion",
    "CatalogedEntry",
    "Message",
    "MeshRequest",
    "MeshResponse",
    "DareHeader",
    "DareTrailer",
];

/// A type others inherit from: a base class, which travels as one of its descendants.
fn is_base(types: &std::collections::BTreeMap<String, schema::TypeDef>, name: &str) -> bool {
    types.values().any(|t| t.inherits.as_deref() == Some(name))
}

fn standalone(types: &std::collections::BTreeMap<String, schema::TypeDef>, name: &str) -> bool {
    STANDALONE_ROOTS
        .iter()
        .any(|root| schema::descends(types, name, root))
}
