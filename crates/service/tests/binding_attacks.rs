//! The protocol binding under attack, driven in process: a real `ServiceHost` on container files
//! and a real device (mesh-client) making an account, and requests crafted and altered as an
//! attacker on the wire would (protocol-09 §5; issue: authentic messages, no replay, no
//! decryption oracle). Each of these was accepted, or answered differently, before the binding
//! covered the nonce and time, required the MAC and authenticated before remembering nonces.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mesh_client::online::device_credentials;
use mesh_client::{Account, Device, MeshHome};
use mesh_crypto::{Algorithm, PrivateKey, PublicKey};
use mesh_dare::{ContentMeta, DareEnvelope, EnvelopeOptions, KeyRing};
use mesh_protocol::binding::{self, Authenticator};
use mesh_protocol::messages::*;
use mesh_protocol::{Request, Response};
use mesh_schema::key::required;
use mesh_schema::signed;
use mesh_service::files::FileStore;
use mesh_service::store::*;
use mesh_service::{Identity, ServiceHost};
use proptest::prelude::*;

const PASS: &str = "device passphrase";

/// A store that can be made to fail as a database that went away does, and counts the
/// entries it reads.
struct Flaky {
    inner: FileStore,
    down: AtomicBool,
    entries_read: std::sync::atomic::AtomicU64,
}

macro_rules! check {
    ($self:ident) => {
        if $self.down.load(Ordering::SeqCst) {
            return Err(StoreError::Database("connection refused".into()));
        }
    };
}

impl Store for Flaky {
    fn account(&self, address: &str) -> StoreResult<Option<AccountRecord>> {
        check!(self);
        self.inner.account(address)
    }
    fn bind(&self, address: &str, profile: &DareEnvelope, revoked: &[String]) -> StoreResult<bool> {
        check!(self);
        self.inner.bind(address, profile, revoked)
    }
    fn unbind(&self, address: &str) -> StoreResult<bool> {
        check!(self);
        self.inner.unbind(address)
    }
    fn revoke(&self, address: &str, device_udf: &str) -> StoreResult<()> {
        check!(self);
        self.inner.revoke(address, device_udf)
    }
    fn state(&self, address: &str, container: &str) -> StoreResult<ContainerState> {
        check!(self);
        self.inner.state(address, container)
    }
    fn read(&self, a: &str, c: &str, from: u64, max: u64) -> StoreResult<Vec<DareEnvelope>> {
        check!(self);
        let read = self.inner.read(a, c, from, max)?;
        self.entries_read
            .fetch_add(read.len() as u64, Ordering::SeqCst);
        Ok(read)
    }
    fn repair(&self, a: &str, c: &str, given: &[(u64, DareEnvelope)]) -> StoreResult<Vec<u64>> {
        check!(self);
        self.inner.repair(a, c, given)
    }
    fn mark_fetched(&self, a: &str, c: &str, index: u64) -> StoreResult<()> {
        check!(self);
        self.inner.mark_fetched(a, c, index)
    }
    fn unfetched_octets(&self, a: &str, c: &str) -> StoreResult<u64> {
        check!(self);
        self.inner.unfetched_octets(a, c)
    }
    fn transact_with_profile(
        &self,
        address: &str,
        updates: &[Update],
        profile: Option<ProfileSwap<'_>>,
    ) -> StoreResult<TransactOutcome> {
        check!(self);
        self.inner.transact_with_profile(address, updates, profile)
    }
    fn put_ephemeral(&self, k: &str, key: &str, v: &[u8], e: u64, n: bool) -> StoreResult<bool> {
        check!(self);
        self.inner.put_ephemeral(k, key, v, e, n)
    }
    fn get_ephemeral(&self, kind: &str, key: &str) -> StoreResult<Option<(Vec<u8>, u64)>> {
        check!(self);
        self.inner.get_ephemeral(kind, key)
    }
    fn find(&self, a: &str, c: &str, id: &str) -> StoreResult<Option<DareEnvelope>> {
        check!(self);
        self.inner.find(a, c, id)
    }
}

struct Lab {
    _dir: tempfile::TempDir,
    sealed_identity: Vec<u8>,
    store: Arc<Flaky>,
    host: ServiceHost,
    device: Device,
    account: Account,
    signer: PrivateKey,
    keys: KeyRing,
    connection: DareEnvelope,
    service_encryption: PublicKey,
    service_signature: PublicKey,
}

/// A service, and alice@example.com bound to it from a real device.
fn lab() -> Lab {
    let dir = tempfile::tempdir().unwrap();
    let (identity, sealed_identity) = Identity::create("service passphrase").unwrap();
    let (service, _) = signed::verify_profile_service(&identity.profile_service).unwrap();
    let store = Arc::new(Flaky {
        inner: FileStore::open(dir.path().join("store")).unwrap(),
        down: AtomicBool::new(false),
        entries_read: Default::default(),
    });
    let mut host = ServiceHost::new(store.clone(), identity);
    host.domains = Some(vec!["example.com".into()]);
    let mut device = MeshHome::at(dir.path().join("device"))
        .open_or_create(PASS)
        .unwrap();
    let account = device.create_account("alice@example.com").unwrap();
    let (signer, encryption, connection) = device_credentials(&device, &account).unwrap();
    let mut keys = KeyRing::new();
    keys.add_private(encryption);
    let lab = Lab {
        sealed_identity,
        store,
        host,
        signer,
        keys,
        service_encryption: required(&service.service_encryption, "enc").unwrap(),
        service_signature: required(&service.service_signature, "sig").unwrap(),
        connection,
        account,
        device,
        _dir: dir,
    };
    let bind = Request::BindRequest(BindRequest {
        account_address: Some("alice@example.com".into()),
        enveloped_profile_account: Some(lab.account.profile_envelope().unwrap()),
        enveloped_connection_device: Some(lab.connection.clone()),
        ..Default::default()
    });
    // Binding is an administrator's request: signed by the device's key alone, refused.
    assert_eq!(lab.send(&lab.seal(&bind)).0, 403);
    assert_eq!(lab.send(&lab.seal_as_administrator(&bind)).0, 201);
    lab
}

impl Lab {
    fn seal(&self, request: &Request) -> Vec<u8> {
        binding::seal_request(
            request,
            Authenticator::Key(&self.signer),
            Some(&self.service_encryption),
        )
        .unwrap()
        .bytes
    }

    /// Sealed as an administrator device seals what only an administrator may ask: signed by
    /// the device's key and the account's administrator key.
    fn seal_as_administrator(&self, request: &Request) -> Vec<u8> {
        let admin = self.account.administrator_key().unwrap();
        binding::seal_request(
            request,
            Authenticator::Keys(&[&self.signer, &admin]),
            Some(&self.service_encryption),
        )
        .unwrap()
        .bytes
    }

    fn status_request(&self) -> Request {
        Request::StatusRequest(StatusRequest {
            account: Some("alice@example.com".into()),
            enveloped_connection_device: Some(self.connection.clone()),
            catalogs: vec!["MMM_Credential".into()],
            spools: vec![],
            ..Default::default()
        })
    }

    /// A Transact appending one entry to the account's local spool.
    fn local_entry(&self) -> Request {
        let entry = signed::seal(
            &mesh_schema::message::MessageComplete::default().into(),
            &self.signer,
            None,
            &[],
        )
        .unwrap();
        Request::TransactRequest(TransactRequest {
            account: Some("alice@example.com".into()),
            enveloped_connection_device: Some(self.connection.clone()),
            local: vec![entry],
            ..Default::default()
        })
    }

    /// Status and text of the answer, whose signature by the service is checked.
    fn send(&self, body: &[u8]) -> (u16, String) {
        self.send_by(body, Instant::now() + Duration::from_secs(30))
    }

    fn send_by(&self, body: &[u8], deadline: Instant) -> (u16, String) {
        let reply = self.host.handle_by(body, deadline);
        let response =
            binding::open_response(&reply.body, &self.keys, Some(&self.service_signature), None)
                .expect("every answer is sealed and signed by the service");
        let (status, text) = response.status();
        assert_eq!(status, reply.status, "HTTP status mirrors the payload's");
        (status, text.unwrap_or_default().to_string())
    }

    /// The last index of one of alice's containers at the service.
    fn index(&self, container: &str) -> u64 {
        self.store
            .state("alice@example.com", container)
            .unwrap()
            .index
    }

    fn nonce_kept(&self, nonce: &str) -> bool {
        [mesh_service::host::NONCE, mesh_service::host::READ_NONCE]
            .iter()
            .any(|kind| {
                self.store
                    .get_ephemeral(kind, nonce)
                    .unwrap()
                    .is_some_and(|(_, expires)| expires > unix_now())
            })
    }
}

fn reencode(envelope: &DareEnvelope) -> Vec<u8> {
    envelope.to_json().unwrap().into_bytes()
}

/// A captured signed request with a fresh nonce and time written into its header: the
/// signature covers them, so it is refused; the original is taken once, then is a replay.
#[test]
fn a_header_rewritten_on_a_captured_request_is_refused() {
    let lab = lab();
    let captured = lab.seal(&lab.status_request());
    let mut envelope = DareEnvelope::parse(&captured).unwrap();
    let mut meta = envelope.content_meta().unwrap();
    let fresh = mesh_udf::random::nonce(128).to_string();
    meta.unique_id = Some(fresh.clone());
    meta.created = Some(mesh_encoding::datetime::format(
        time::OffsetDateTime::now_utc(),
    ));
    envelope.header.set_content_meta(&meta).unwrap();
    let (status, text) = lab.send(&reencode(&envelope));
    assert_eq!(status, 401, "{text}");
    assert!(
        text.contains("not signed by the connected device"),
        "{text}"
    );
    assert!(
        !lab.nonce_kept(&fresh),
        "an unauthenticated nonce is never remembered"
    );
    // Only the time changed: refused too.
    let mut envelope = DareEnvelope::parse(&captured).unwrap();
    let mut meta = envelope.content_meta().unwrap();
    meta.created = Some(mesh_encoding::datetime::format(
        time::OffsetDateTime::now_utc() + time::Duration::seconds(1),
    ));
    envelope.header.set_content_meta(&meta).unwrap();
    assert_eq!(lab.send(&reencode(&envelope)).0, 401);
    // The signer's key identifier written in lower case (UDFs are read in any case): refused,
    // so that no octet of a request is free to change.
    let mut envelope = DareEnvelope::parse(&captured).unwrap();
    let signature = &mut envelope.trailer.as_mut().unwrap().signatures[0];
    signature.key_identifier = signature.key_identifier.as_ref().map(|k| k.to_lowercase());
    assert_eq!(lab.send(&reencode(&envelope)).0, 401);
    // The signatures moved from the trailer to the header (where the reference's envelopes
    // may carry them, and where a DARE reader now checks them): still the same signatures over
    // the same payload, but not a form this binding writes, so refused; and so are the other
    // members the reference allows and the binding never uses.
    let original = DareEnvelope::parse(&captured).unwrap();
    let mut moved = original.clone();
    let trailer = moved.trailer.take().unwrap();
    moved.header.signatures = trailer.signatures;
    moved.header.payload_digest = trailer.payload_digest;
    let (status, text) = lab.send(&reencode(&moved));
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("does not use"), "{text}");
    let mut malted = original.clone();
    malted.header.malt = Some(vec![1; 32]);
    assert_eq!(lab.send(&reencode(&malted)).0, 400);
    let mut manifest = original.clone();
    manifest.trailer.as_mut().unwrap().signatures[0].manifest = Some(vec![1]);
    assert_eq!(lab.send(&reencode(&manifest)).0, 400);
    let mut header_extra = original.clone();
    header_extra.header.signatures = vec![mesh_dare::schema::DareSignature::default()];
    header_extra.header.signatures[0]
        .extra
        .insert("Unknown".into(), serde_json::json!(1));
    assert_eq!(lab.send(&reencode(&header_extra)).0, 400);
    // The request as it was: once; sent again, refused and not run again (a read's answer is
    // not kept, so there is nothing to give back either).
    assert_eq!(lab.send(&captured).0, 200);
    let (status, text) = lab.send(&captured);
    assert_eq!(status, 409, "{text}");
    assert!(text.contains("received already"), "{text}");
}

/// A client that lost the answer to a Transact sends the very same request again: it is applied
/// once, and both sends get the same answer.
#[test]
fn the_same_request_sent_again_is_applied_once() {
    let lab = lab();
    let transact = lab.seal(&lab.local_entry());
    let first = lab.host.handle(&transact);
    let again = lab.host.handle(&transact);
    assert_eq!(first.status, 200);
    assert_eq!(again.body, first.body);
    assert_eq!(lab.index("MMM_Local"), 1);
}

/// The same for a ticket-authenticated request: the MAC covers the header.
#[test]
fn a_ticket_request_with_a_rewritten_header_is_refused() {
    let lab = lab();
    let reply = lab
        .host
        .handle(&lab.seal(&Request::TicketRequest(TicketRequest {
            account: Some("alice@example.com".into()),
            enveloped_connection_device: Some(lab.connection.clone()),
        })));
    let Response::TicketResponse(TicketResponse {
        ticket: Some(id),
        ticket_key: Some(key),
        ..
    }) = binding::open_response(&reply.body, &lab.keys, None, None).unwrap()
    else {
        panic!("no ticket");
    };
    let sealed = binding::seal_request(
        &lab.status_request(),
        Authenticator::Ticket { id: &id, key: &key },
        Some(&lab.service_encryption),
    )
    .unwrap()
    .bytes;
    let mut envelope = DareEnvelope::parse(&sealed).unwrap();
    let mut meta = envelope.content_meta().unwrap();
    meta.unique_id = Some(mesh_udf::random::nonce(128).to_string());
    envelope.header.set_content_meta(&meta).unwrap();
    let (status, text) = lab.send(&reencode(&envelope));
    assert_eq!(status, 401);
    assert!(text.contains("MAC"), "{text}");
    assert_eq!(lab.send(&sealed).0, 200);
}

/// An encrypted request without its MAC, with its padding or ciphertext altered, or with its
/// wrapped key altered: all get one and the same answer, and none is decrypted.
#[test]
fn no_decryption_oracle() {
    let lab = lab();
    let sealed = lab.seal(&lab.status_request());
    let original = DareEnvelope::parse(&sealed).unwrap();
    let mut answers = Vec::new();
    // MAC stripped.
    let mut stripped = original.clone();
    stripped.trailer.as_mut().unwrap().mac = None;
    answers.push(lab.send(&reencode(&stripped)));
    // The last block (the padding) altered, MAC kept.
    let mut padding = original.clone();
    let n = padding.payload.len();
    padding.payload[n - 1] ^= 0x01;
    answers.push(lab.send(&reencode(&padding)));
    // MAC stripped and the padding altered: what the padding-oracle attack sends.
    let mut both = padding.clone();
    both.trailer.as_mut().unwrap().mac = None;
    answers.push(lab.send(&reencode(&both)));
    // The first block altered.
    let mut first = original.clone();
    first.payload[0] ^= 0x80;
    answers.push(lab.send(&reencode(&first)));
    // The wrapped key altered.
    let mut wrapped = original.clone();
    wrapped.header.recipients[0]
        .wrapped_base_seed
        .as_mut()
        .unwrap()[5] ^= 1;
    answers.push(lab.send(&reencode(&wrapped)));
    // Encrypted to a key the service does not hold.
    let elsewhere = binding::seal_request(
        &lab.status_request(),
        Authenticator::Key(&lab.signer),
        Some(&PrivateKey::generate(Algorithm::X448).public_key()),
    )
    .unwrap();
    answers.push(lab.send(&elsewhere.bytes));
    for answer in &answers {
        assert_eq!(answer, &(400, binding::UNREADABLE.to_string()));
    }
    // And the genuine request still works (its nonce was not taken by the failures).
    assert_eq!(lab.send(&sealed).0, 200);
}

fn hello_with_nonce(nonce: &str) -> Vec<u8> {
    let meta = ContentMeta {
        unique_id: Some(nonce.to_string()),
        created: Some(mesh_encoding::datetime::format(
            time::OffsetDateTime::now_utc(),
        )),
        ..Default::default()
    };
    let payload = mesh_encoding::to_json(&Request::HelloRequest(HelloRequest {
        ..Default::default()
    }))
    .unwrap();
    DareEnvelope::encode(
        payload.as_bytes(),
        &EnvelopeOptions {
            meta: Some(meta),
            ..Default::default()
        },
    )
    .unwrap()
    .to_json()
    .unwrap()
    .into_bytes()
}

/// Nonces are 128- or 256-bit UDF nonces in canonical form, nothing else; a request that fails
/// authentication leaves no nonce behind.
#[test]
fn nonces_are_fixed_size_and_kept_only_after_authentication() {
    let lab = lab();
    let huge = format!("N{}", "A".repeat(40_000));
    let (status, text) = lab.send(&hello_with_nonce(&huge));
    assert_eq!(status, 400);
    assert!(text.contains("128- or 256-bit"), "{text}");
    assert!(!lab.nonce_kept(&huge));
    let short = mesh_udf::random::nonce(64).to_string();
    assert_eq!(lab.send(&hello_with_nonce(&short)).0, 400);
    let not_a_nonce = mesh_udf::random::encryption_key(128).to_string();
    assert_eq!(lab.send(&hello_with_nonce(&not_a_nonce)).0, 400);
    let canonical = mesh_udf::random::nonce(128).to_string();
    assert_eq!(
        lab.send(&hello_with_nonce(&canonical.to_lowercase())).0,
        400
    );
    assert_eq!(lab.send(&hello_with_nonce(&canonical)).0, 200);
    let long = mesh_udf::random::nonce(256).to_string();
    assert_eq!(lab.send(&hello_with_nonce(&long)).0, 200);
    // Anonymous requests never fill the cache.
    assert!(!lab.nonce_kept(&canonical));
    // A request signed by a stranger: refused, its nonce not kept.
    let forger = PrivateKey::generate(Algorithm::Ed448);
    let forged = binding::seal_request(
        &lab.status_request(),
        Authenticator::Key(&forger),
        Some(&lab.service_encryption),
    )
    .unwrap();
    assert_eq!(lab.send(&forged.bytes).0, 401);
    assert!(!lab.nonce_kept(&forged.nonce));
    // An authenticated one: kept.
    let good = binding::seal_request(
        &lab.status_request(),
        Authenticator::Key(&lab.signer),
        Some(&lab.service_encryption),
    )
    .unwrap();
    assert_eq!(lab.send(&good.bytes).0, 200);
    assert!(lab.nonce_kept(&good.nonce));
}

/// A request that reaches the service after its deadline is refused with nothing applied, so a
/// client may send it again (sealed anew) without applying it twice.
#[test]
fn a_request_past_its_deadline_applies_nothing() {
    let lab = lab();
    let transact = lab.local_entry();
    let late = Instant::now() - Duration::from_millis(1);
    let (status, text) = lab.send_by(&lab.seal(&transact), late);
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("nothing was applied"), "{text}");
    assert_eq!(lab.index("MMM_Local"), 0);
    // Sent again in time: applied once.
    assert_eq!(lab.send(&lab.seal(&transact)).0, 200);
    assert_eq!(lab.index("MMM_Local"), 1);
}

/// A store that cannot be reached is a 503 with a clear text, for signed and ticket requests
/// alike, never "replayed" (which makes clients drop their tickets); the service comes back
/// with it.
#[test]
fn a_store_failure_is_503_not_an_attack() {
    let lab = lab();
    lab.store.down.store(true, Ordering::SeqCst);
    let (status, text) = lab.send(&lab.seal(&lab.status_request()));
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("unavailable"), "{text}");
    assert!(
        !text.contains("connection refused"),
        "internal detail stays in the log: {text}"
    );
    // Hello needs no store.
    assert_eq!(
        lab.send(&hello_with_nonce(&mesh_udf::random::nonce(128).to_string()))
            .0,
        200
    );
    lab.store.down.store(false, Ordering::SeqCst);
    assert_eq!(lab.send(&lab.seal(&lab.status_request())).0, 200);
}

/// Post needs the signature of the service of the domain its messages come from: an anonymous
/// one, one signed by some key, and one whose messages say nothing of their sender are refused,
/// and the inbound spool stays empty.
#[test]
fn forged_posts_are_refused() {
    let lab = lab();
    // A message as the attack made it: claims alice, carries her real profile, signed by no one.
    let message = mesh_schema::message::MessageContact {
        message_id: Some(mesh_udf::random::nonce(128).to_string()),
        sender: Some("alice@example.com".into()),
        recipient: Some("alice@example.com".into()),
        subject: Some("send me your password".into()),
        authenticated_data: Some(lab.account.profile_envelope().unwrap()),
        ..Default::default()
    };
    let payload = mesh_schema::MeshItem::from(message.clone())
        .to_json()
        .unwrap();
    let unsigned = DareEnvelope::encode(payload.as_bytes(), &EnvelopeOptions::default()).unwrap();
    let forger = PrivateKey::generate(Algorithm::Ed448);
    let signed_by_forger = signed::seal(&message.clone().into(), &forger, None, &[]).unwrap();
    // Signed by alice's own device and naming its connection: still not accepted from anyone
    // but the service of example.com.
    let genuine = signed::seal_with(
        &message.into(),
        &lab.signer,
        None,
        &[],
        vec![mesh_schema::sender::key_value(&lab.connection).unwrap()],
    )
    .unwrap();
    for envelope in [unsigned, signed_by_forger, genuine] {
        let post = Request::PostRequest(PostRequest {
            accounts: vec!["alice@example.com".into()],
            messages: vec![envelope],
        });
        for authenticator in [Authenticator::None, Authenticator::Key(&forger)] {
            let body =
                binding::seal_request(&post, authenticator, Some(&lab.service_encryption)).unwrap();
            let (status, text) = lab.send(&body.bytes);
            assert_eq!(status, 401, "{text}");
        }
    }
    assert_eq!(lab.index("MMM_Inbound"), 0);
}

/// A device may give its service messages for other accounts only as itself: signed by its own
/// connection key and naming its own connection.
#[test]
fn outbound_messages_must_be_the_senders_own() {
    let lab = lab();
    let message = |sender: &str| mesh_schema::message::MessageContact {
        message_id: Some(mesh_udf::random::nonce(128).to_string()),
        sender: Some(sender.into()),
        recipient: Some("bob@example.net".into()),
        subject: Some("hello".into()),
        ..Default::default()
    };
    let forger = PrivateKey::generate(Algorithm::Ed448);
    let unsigned_connection =
        signed::seal(&message("alice@example.com").into(), &lab.signer, None, &[]).unwrap();
    let other_signer = signed::seal_with(
        &message("alice@example.com").into(),
        &forger,
        None,
        &[],
        vec![mesh_schema::sender::key_value(&lab.connection).unwrap()],
    )
    .unwrap();
    for envelope in [unsigned_connection, other_signer] {
        let transact = Request::TransactRequest(TransactRequest {
            account: Some("alice@example.com".into()),
            enveloped_connection_device: Some(lab.connection.clone()),
            accounts: vec!["bob@example.net".into()],
            outbound: vec![envelope],
            ..Default::default()
        });
        let (status, text) = lab.send(&lab.seal(&transact));
        assert_eq!(status, 403, "{text}");
    }
    assert_eq!(lab.index("MMM_Outbound"), 0);
    let _ = &lab.device;
}

/// Any change to any octet of a sealed request makes it refused (a property test over the
/// octet and the change).
#[test]
fn any_changed_octet_is_refused() {
    let lab = lab();
    let sealed = lab.seal(&lab.status_request());
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 2048,
        ..ProptestConfig::default()
    });
    runner
        .run(&(0..sealed.len(), 1u8..=255), |(i, flip)| {
            let mut altered = sealed.clone();
            altered[i] ^= flip;
            let reply = lab.host.handle(&altered);
            prop_assert_ne!(
                reply.status,
                200,
                "octet {} changed ({:?} -> {:?}) was accepted",
                i,
                sealed[i] as char,
                altered[i] as char
            );
            Ok(())
        })
        .unwrap();
    // The request itself is still good: no failure above consumed its nonce.
    assert_eq!(lab.send(&sealed).0, 200);
}

/// A service holds accounts of its own domains only: nobody binds someone else's address
/// (`ceo@bigbank.com`) to then write to this service's users as them or take their mail.
#[test]
fn addresses_of_other_domains_cannot_be_bound() {
    let lab = lab();
    let dir = tempfile::tempdir().unwrap();
    let mut device = MeshHome::at(dir.path()).open_or_create(PASS).unwrap();
    for (address, expected) in [("ceo@bigbank.com", 403), ("bob@example.com", 201)] {
        let account = device.create_account(address).unwrap();
        let (signer, _, connection) = device_credentials(&device, &account).unwrap();
        let admin = account.administrator_key().unwrap();
        let bind = Request::BindRequest(BindRequest {
            account_address: Some(address.into()),
            enveloped_profile_account: Some(account.profile_envelope().unwrap()),
            enveloped_connection_device: Some(connection),
            ..Default::default()
        });
        let body = binding::seal_request(
            &bind,
            Authenticator::Keys(&[&signer, &admin]),
            Some(&lab.service_encryption),
        )
        .unwrap();
        let reply = lab.host.handle(&body.bytes);
        assert_eq!(reply.status, expected, "{address}");
    }
    assert!(lab.store.account("ceo@bigbank.com").unwrap().is_none());
}

/// Only the service writes an account's inbound spool: a device cannot put a message there
/// (which the account's other devices would then read as received).
#[test]
fn a_device_cannot_write_its_own_inbound_spool() {
    let lab = lab();
    let message = signed::seal(
        &mesh_schema::message::MessageContact::default().into(),
        &lab.signer,
        None,
        &[],
    )
    .unwrap();
    let by_list = Request::TransactRequest(TransactRequest {
        account: Some("alice@example.com".into()),
        enveloped_connection_device: Some(lab.connection.clone()),
        inbound: vec![message.clone()],
        ..Default::default()
    });
    let by_update = Request::TransactRequest(TransactRequest {
        account: Some("alice@example.com".into()),
        enveloped_connection_device: Some(lab.connection.clone()),
        updates: vec![ContainerUpdate {
            container: Some("MMM_Inbound".into()),
            envelopes: vec![message],
            ..Default::default()
        }],
        ..Default::default()
    });
    for request in [by_list, by_update] {
        let (status, text) = lab.send(&lab.seal(&request));
        assert_eq!(status, 403, "{text}");
    }
    assert_eq!(lab.index("MMM_Inbound"), 0);
}

/// The embedded store logs its nonces: after a restart, a request captured before it is still a
/// replay, and fresh requests are taken.
#[test]
fn a_restart_does_not_forget_nonces() {
    let lab = lab();
    let captured = lab.seal(&lab.local_entry());
    assert_eq!(lab.send(&captured).0, 200);
    let identity = Identity::from_sealed(&lab.sealed_identity, "service passphrase").unwrap();
    let restarted = ServiceHost::new(
        Arc::new(FileStore::open(lab._dir.path().join("store")).unwrap()),
        identity,
    );
    // The very same request: not run again (its answer was not kept across the restart).
    let again = restarted.handle(&captured);
    assert_eq!(again.status, 409);
    assert_eq!(lab.index("MMM_Local"), 1);
    let fresh = lab.seal(&lab.status_request());
    assert_eq!(restarted.handle(&fresh).status, 200);
}

/// Addresses that only end in a served domain are not addresses of it.
#[test]
fn look_alike_addresses_cannot_be_bound() {
    let lab = lab();
    for address in ["ceo@bank.com@example.com", "@example.com", "example.com"] {
        let bind = Request::BindRequest(BindRequest {
            account_address: Some(address.into()),
            enveloped_profile_account: Some(lab.account.profile_envelope().unwrap()),
            enveloped_connection_device: Some(lab.connection.clone()),
            ..Default::default()
        });
        let (status, text) = lab.send(&lab.seal(&bind));
        assert_eq!(status, 403, "{address}: {text}");
    }
}

/// An authenticated request must be encrypted to the service (its binding digest then covers
/// the recipient, which binds it to this service).
#[test]
fn authenticated_requests_must_be_encrypted() {
    let lab = lab();
    let plain = binding::seal_request(&lab.status_request(), Authenticator::Key(&lab.signer), None)
        .unwrap();
    let (status, text) = lab.send(&plain.bytes);
    assert_eq!(status, 400, "{text}");
    assert!(!lab.nonce_kept(&plain.nonce));
}

/// A request received before and not yet answered (or whose answer was not kept) is never run
/// twice, and the refusal does not say "nothing was applied".
#[test]
fn a_request_in_flight_is_not_run_twice() {
    let lab = lab();
    let sealed = binding::seal_request(
        &lab.local_entry(),
        Authenticator::Key(&lab.signer),
        Some(&lab.service_encryption),
    )
    .unwrap();
    // As the service records a request it starts on: its nonce, with its binding digest.
    let digest = binding::binding_digest(&DareEnvelope::parse(&sealed.bytes).unwrap());
    lab.store
        .put_ephemeral("nonce", &sealed.nonce, &digest, unix_now() + 600, true)
        .unwrap();
    let (status, text) = lab.send(&sealed.bytes);
    assert_eq!(status, 409, "{text}");
    assert_eq!(lab.index("MMM_Local"), 0);
}

/// Tickets and channels are metered per account, apart from its updates (connection requests
/// apart from both: `an_unsigned_connection_request_is_taken_only_from_its_device`).
#[test]
fn short_lived_state_is_metered() {
    let mut lab = lab();
    lab.host.state_limiter = mesh_service::limits::UpdateLimiter::new(3);
    let ticket = || {
        Request::TicketRequest(TicketRequest {
            account: Some("alice@example.com".into()),
            enveloped_connection_device: Some(lab.connection.clone()),
        })
    };
    let statuses: Vec<u16> = (0..4).map(|_| lab.send(&lab.seal(&ticket())).0).collect();
    assert_eq!(statuses, vec![200, 200, 200, 429]);
    // The account's own updates are not affected.
    assert_eq!(lab.send(&lab.seal(&lab.local_entry())).0, 200);
}

/// A request the service cannot open is refused without naming it (it has no nonce to name);
/// the client takes such an answer as the refusal it is, and never as a success.
#[test]
fn a_refusal_that_names_no_request_is_still_a_refusal() {
    let lab = lab();
    let mut sealed = binding::seal_request(
        &lab.status_request(),
        Authenticator::Key(&lab.signer),
        Some(&lab.service_encryption),
    )
    .unwrap();
    sealed.bytes.extend(vec![b' '; 70 * 1024]);
    let reply = lab.host.handle(&sealed.bytes);
    assert_eq!(reply.status, 413);
    let response = binding::open_response(
        &reply.body,
        &lab.keys,
        Some(&lab.service_signature),
        Some(&sealed.nonce),
    )
    .unwrap();
    assert_eq!(response.status().0, 413);
    // A success that names no request is refused by the client.
    let answer = binding::seal_response(
        &Response::MeshResponse(MeshResponse {
            status: Some(200),
            ..Default::default()
        }),
        &lab.host.signer(),
        None,
        binding::Encoding::Json,
        None,
    )
    .unwrap();
    assert!(binding::open_response(
        &answer,
        &lab.keys,
        Some(&lab.service_signature),
        Some(&sealed.nonce)
    )
    .is_err());
}

/// Connect as the reference makes it, with the enveloped RequestConnection unsigned: taken when
/// the request around it is signed by the profile key of the device it presents (that signature
/// covers it); refused when that request is signed by another key, or when the enveloped
/// request is signed, but not by the device.
#[test]
fn an_unsigned_connection_request_is_taken_only_from_its_device() {
    let mut lab = lab();
    lab.host.state_limiter = mesh_service::limits::UpdateLimiter::new(3);
    let seed = mesh_crypto::SecretSeed::from_udf(mesh_udf::random::secret_seed(
        mesh_udf::KeySpecifier::new(0, 256).unwrap(),
        256,
    ))
    .unwrap();
    let profile = mesh_schema::profile::ProfileDevice::from_seed(&seed, None).unwrap();
    let udf = profile.check().unwrap();
    let role = |name: &str| {
        mesh_crypto::profile_keys(&seed)
            .unwrap()
            .into_iter()
            .find(|k| k.role == name)
            .unwrap()
            .key
    };
    let device_key = role("ProfileSignature");
    let mut device_keys = KeyRing::new();
    device_keys.add_private(role("Encryption"));
    let profile_env = signed::seal(&profile.into(), &device_key, Some(&udf), &[]).unwrap();
    let stranger = PrivateKey::generate(Algorithm::Ed448);

    let request = mesh_schema::message::RequestConnection {
        message_id: Some(mesh_udf::random::nonce(128).to_string()),
        authenticated_data: Some(profile_env),
        client_nonce: Some(vec![7; 16]),
        account_address: Some("alice@example.com".into()),
        ..Default::default()
    };
    let json = mesh_schema::MeshItem::from(request).to_json().unwrap();
    let inner = |signer: Option<&PrivateKey>| {
        DareEnvelope::encode(
            json.as_bytes(),
            &EnvelopeOptions {
                signers: signer.into_iter().collect(),
                ..Default::default()
            },
        )
        .unwrap()
    };
    let connect = |envelope: DareEnvelope, outer: &PrivateKey| {
        let request = Request::ConnectRequest(ConnectRequest {
            enveloped_request_connection: Some(envelope),
            ..Default::default()
        });
        let body = binding::seal_request(
            &request,
            Authenticator::Key(outer),
            Some(&lab.service_encryption),
        )
        .unwrap()
        .bytes;
        let reply = lab
            .host
            .handle_by(&body, Instant::now() + Duration::from_secs(30));
        let response = binding::open_response(
            &reply.body,
            &device_keys,
            Some(&lab.service_signature),
            None,
        )
        .expect("every answer is sealed and signed by the service");
        response.status().0
    };
    let before = lab.index("MMM_Inbound");
    // Unsigned inside, signed by a stranger outside: refused, nothing queued.
    assert!(connect(inner(None), &stranger) >= 400);
    // Signed inside by a stranger, by the device outside: refused.
    assert!(connect(inner(Some(&stranger)), &device_key) >= 400);
    assert_eq!(lab.index("MMM_Inbound"), before);
    // Unsigned inside, signed by the device outside: taken (the reference's form).
    assert!(connect(inner(None), &device_key) < 300);
    // Signed by the device both inside and outside: taken (this build's form).
    assert!(connect(inner(Some(&device_key)), &device_key) < 300);
    assert_eq!(lab.index("MMM_Inbound"), before + 2);

    // A stranger's flood of requests is metered on its own: it does not stop the account's
    // devices from taking tickets (and so from syncing).
    assert!(connect(inner(Some(&device_key)), &device_key) < 300);
    assert_eq!(connect(inner(Some(&device_key)), &device_key), 429);
    let ticket = Request::TicketRequest(TicketRequest {
        account: Some("alice@example.com".into()),
        enveloped_connection_device: Some(lab.connection.clone()),
    });
    let (status, text) = lab.send(&lab.seal(&ticket));
    assert_eq!(status, 200, "{text}");
}

/// An entry whose header states a PayloadDigest that is not its payload's (the reference puts
/// digests in headers, and a DARE reader now checks them there): refused before anything is
/// stored, so that no reader sees a frame one check calls sound and another damaged.
#[test]
fn an_entry_with_a_false_header_digest_is_refused() {
    let lab = lab();
    let Request::TransactRequest(mut transact) = lab.local_entry() else {
        unreachable!()
    };
    let before = lab.index("MMM_Local");
    transact.local[0].header.payload_digest = Some(vec![0; 64]);
    let (status, text) = lab.send(&lab.seal(&Request::TransactRequest(transact.clone())));
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("PayloadDigest"), "{text}");
    assert_eq!(lab.index("MMM_Local"), before);
    // The true digest in the header is taken, and the stored frame reads as sound.
    let payload = transact.local[0].payload.clone();
    transact.local[0].header.payload_digest = Some(mesh_dare::envelope::sha512(&payload).to_vec());
    let (status, text) = lab.send(&lab.seal(&Request::TransactRequest(transact)));
    assert!(status < 300, "{status} {text}");
    assert_eq!(lab.index("MMM_Local"), before + 1);
    let stored = lab
        .store
        .read("alice@example.com", "MMM_Local", before + 1, 1)
        .unwrap();
    assert_eq!(stored.len(), 1);
}

/// A Download asking for one entry of a long container reads that entry, not a page of them
/// (each of which the service would read and then throw away): what a request costs the service
/// is what it asks for.
#[test]
fn a_download_of_one_entry_reads_one_entry() {
    let lab = lab();
    // In transactions of the size the service takes.
    for _ in 0..15 {
        let entries: Vec<DareEnvelope> = (0..40)
            .map(|_| {
                signed::seal(
                    &mesh_schema::message::MessageComplete::default().into(),
                    &lab.signer,
                    None,
                    &[],
                )
                .unwrap()
            })
            .collect();
        let request = Request::TransactRequest(TransactRequest {
            account: Some("alice@example.com".into()),
            enveloped_connection_device: Some(lab.connection.clone()),
            local: entries,
            ..Default::default()
        });
        assert_eq!(lab.send(&lab.seal(&request)).0, 200);
    }
    assert!(lab.index("MMM_Local") >= 600);
    let download = |min: u64, max: Option<u64>| {
        Request::DownloadRequest(DownloadRequest {
            account: Some("alice@example.com".into()),
            enveloped_connection_device: Some(lab.connection.clone()),
            select: vec![ConstraintsSelect {
                container: Some("MMM_Local".into()),
                index_min: Some(min),
                index_max: max,
                ..Default::default()
            }],
            ..Default::default()
        })
    };
    let reads = || lab.store.entries_read.load(Ordering::SeqCst);
    let before = reads();
    let reply = lab.host.handle(&lab.seal(&download(5, Some(5))));
    assert_eq!(reply.status, 200);
    let Response::DownloadResponse(answer) =
        binding::open_response(&reply.body, &lab.keys, None, None).unwrap()
    else {
        panic!("not a DownloadResponse");
    };
    assert_eq!(answer.updates[0].envelopes.len(), 1);
    assert_eq!(reads() - before, 1, "entries read for a one-entry Download");
    // An open-ended one reads at most a page.
    let before = reads();
    assert_eq!(lab.send(&lab.seal(&download(1, None))).0, 200);
    assert!(
        reads() - before <= mesh_service::host::MAX_DOWNLOAD_ENTRIES,
        "{} entries read",
        reads() - before
    );
}

/// Complete serves the answers the account leaves for a device, not the markers its devices keep
/// for themselves: a contact requester asking anonymously for the marker of its own request
/// learns nothing of whether it was answered.
#[test]
fn complete_does_not_serve_the_accounts_own_markers() {
    let lab = lab();
    let marker_id = "Contacted:bob@example.net:NREQUEST";
    let marker = DareEnvelope::encode(
        b"{}",
        &EnvelopeOptions {
            meta: Some(mesh_dare::ContentMeta {
                unique_id: Some(marker_id.into()),
                message_type: Some("MessageComplete".into()),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .unwrap();
    let transact = Request::TransactRequest(TransactRequest {
        account: Some("alice@example.com".into()),
        enveloped_connection_device: Some(lab.connection.clone()),
        local: vec![marker],
        ..Default::default()
    });
    assert_eq!(lab.send(&lab.seal(&transact)).0, 200);
    let complete = Request::CompleteRequest(CompleteRequest {
        account_address: Some("alice@example.com".into()),
        response_id: Some(marker_id.into()),
        ..Default::default()
    });
    let body = binding::seal_request(
        &complete,
        Authenticator::None,
        Some(&lab.service_encryption),
    )
    .unwrap()
    .bytes;
    assert_eq!(lab.send(&body).0, 202);
}

/// A transaction that changes one container twice (an update naming the local spool beside the
/// transaction's own list of local messages) is refused whole: the store journals one change
/// per container, and a crash between the two would apply only part of it.
#[test]
fn a_container_changed_twice_in_one_transaction_is_refused() {
    let lab = lab();
    let Request::TransactRequest(mut transact) = lab.local_entry() else {
        unreachable!()
    };
    let before = lab.index("MMM_Local");
    transact.updates.push(ContainerUpdate {
        container: Some("MMM_Local".into()),
        index: Some(before),
        digest: None,
        envelopes: transact.local.clone(),
    });
    let (status, text) = lab.send(&lab.seal(&Request::TransactRequest(transact)));
    assert_eq!(status, 400, "{text}");
    assert_eq!(lab.index("MMM_Local"), before);
}
